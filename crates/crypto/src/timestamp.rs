//! RFC 3161 time-stamp tokens, as X-Road's message log stores them: verified against the
//! approved TSAs of global configuration, like Java's `TimestampVerifier` (CMS signature of
//! a TSA certificate from global configuration, and the message imprint).

use std::sync::Arc;
use std::time::SystemTime;

use xroad_fault::{ErrorCode, XRoadError};

use crate::algorithm::{oid, DigestAlgorithm, EcdsaEncoding, SignatureAlgorithm};
use crate::cert::{algorithm_identifier, certificates_in, Certificate, Name};
use crate::der::{generalized_time, tag, DerError, Reader, Tlv};
use crate::time::from_unix;

/// id-signedData (1.2.840.113549.1.7.2).
const SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// id-ct-TSTInfo (1.2.840.113549.1.9.16.1.4).
const TST_INFO: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04,
];
/// id-messageDigest (1.2.840.113549.1.9.4).
const MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];

/// How the signer of a token is named.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SignerId {
    IssuerSerial(Vec<u8>, Vec<u8>),
    KeyId(Vec<u8>),
}

/// A parsed time-stamp token.
#[derive(Debug, Clone)]
pub struct TimeStampToken {
    gen_time: i64,
    imprint_algorithm: Option<DigestAlgorithm>,
    imprint: Vec<u8>,
    e_content: Vec<u8>,
    signer: SignerId,
    digest_algorithm: Option<DigestAlgorithm>,
    /// The signed attributes re-tagged as a SET (what the signature covers), and the
    /// messageDigest among them.
    signed_attributes: Option<(Vec<u8>, Vec<u8>)>,
    signature_algorithm: (Vec<u8>, Option<Vec<u8>>),
    signature: Vec<u8>,
    certs: Vec<Arc<Certificate>>,
}

fn malformed(msg: impl Into<String>) -> XRoadError {
    XRoadError::new(ErrorCode::MalformedSignature, msg)
}

fn mlog(code: ErrorCode, msg: &str) -> XRoadError {
    XRoadError::new(code, msg).with_prefix(ErrorCode::Mlog)
}

impl TimeStampToken {
    /// Parses a DER `TimeStampToken` (a CMS `ContentInfo` with `SignedData`).
    pub fn from_der(der: &[u8]) -> Result<TimeStampToken, XRoadError> {
        parse(der).map_err(|e| malformed(format!("Malformed time-stamp token: {e}")))
    }

    /// The time the TSA vouches for (`genTime`).
    pub fn gen_time(&self) -> SystemTime {
        from_unix(self.gen_time)
    }

    /// Verifies that the token time-stamps `data` and is signed by one of `tsa_certs`;
    /// returns that certificate.
    pub fn verify(
        &self,
        data: &[u8],
        tsa_certs: &[Arc<Certificate>],
    ) -> Result<Arc<Certificate>, XRoadError> {
        let alg = self
            .imprint_algorithm
            .ok_or_else(|| malformed("unsupported message imprint algorithm"))?;
        if alg.digest(data).as_bytes() != self.imprint.as_slice() {
            return Err(malformed("Timestamp hashes do not match"));
        }
        if tsa_certs.is_empty() {
            return Err(mlog(
                ErrorCode::NoTimestampingProviderFound,
                "No TSP service providers are configured.",
            ));
        }
        let cert = tsa_certs
            .iter()
            .find(|c| self.names(c))
            .cloned()
            .ok_or_else(|| {
                mlog(
                    ErrorCode::TspCertificateNotFound,
                    "Could not find TSP certificate for timestamp",
                )
            })?;
        self.verify_signature(&cert).map_err(|_| {
            mlog(
                ErrorCode::TimestampSignerVerificationFailed,
                "Failed to verify timestamp signer information",
            )
        })?;
        Ok(cert)
    }

    /// The certificates the token carries.
    pub fn certificates(&self) -> &[Arc<Certificate>] {
        &self.certs
    }

    fn names(&self, cert: &Certificate) -> bool {
        match &self.signer {
            SignerId::IssuerSerial(issuer, serial) => {
                Name::from_der(issuer).is_ok_and(|n| n.matches(cert.issuer()))
                    && crate::der::unsigned_integer(serial) == cert.serial()
            }
            SignerId::KeyId(id) => {
                DigestAlgorithm::Sha1.digest(cert.key_bits()).as_bytes() == id.as_slice()
            }
        }
    }

    fn verify_signature(&self, cert: &Certificate) -> Result<(), ()> {
        let digest = self.digest_algorithm.ok_or(())?;
        let (signed, message_digest) = match &self.signed_attributes {
            Some((attrs, md)) => (attrs.as_slice(), Some(md)),
            None => (self.e_content.as_slice(), None),
        };
        if let Some(md) = message_digest {
            if digest.digest(&self.e_content).as_bytes() != md.as_slice() {
                return Err(());
            }
        }
        let (alg_oid, params) = &self.signature_algorithm;
        let alg = if alg_oid.as_slice() == oid::RSA_ENCRYPTION {
            SignatureAlgorithm::new(digest, crate::algorithm::SignMechanism::RsaPkcs1)
        } else {
            SignatureAlgorithm::from_oid(alg_oid, params.as_deref()).ok_or(())?
        };
        let key = cert.public_key().ok_or(())?;
        key.verify(alg, signed, &self.signature, EcdsaEncoding::Der)
            .map_err(|_| ())
    }
}

fn parse(der: &[u8]) -> Result<TimeStampToken, DerError> {
    let mut ci = Tlv::parse_exact(der)?
        .expect_tag(tag::SEQUENCE, "ContentInfo")?
        .reader();
    if ci.next(tag::OID, "contentType")?.content != SIGNED_DATA {
        return Err(DerError("not CMS SignedData"));
    }
    let explicit = ci.next(tag::context(0), "content")?;
    let mut sd = Reader::new(explicit.content)
        .next(tag::SEQUENCE, "SignedData")?
        .reader();
    sd.next(tag::INTEGER, "version")?;
    sd.next(tag::SET, "digestAlgorithms")?;
    let mut encap = sd.next(tag::SEQUENCE, "encapContentInfo")?.reader();
    if encap.next(tag::OID, "eContentType")?.content != TST_INFO {
        return Err(DerError("the signed content is not a TSTInfo"));
    }
    let e_content = Reader::new(encap.next(tag::context(0), "eContent")?.content)
        .next(tag::OCTET_STRING, "eContent")?
        .content
        .to_vec();
    let certs = match sd.optional(tag::context(0))? {
        Some(c) => certificates_in(c.content)
            .map_err(|_| DerError("an embedded certificate is malformed"))?,
        None => Vec::new(),
    };
    sd.optional(tag::context(1))?;
    let mut infos = sd.next(tag::SET, "signerInfos")?.reader();
    let mut si = infos.next(tag::SEQUENCE, "no SignerInfo")?.reader();
    si.next(tag::INTEGER, "version")?;
    let sid = si.any("sid")?;
    let signer = if sid.tag == tag::SEQUENCE {
        let mut r = sid.reader();
        let issuer = r.next(tag::SEQUENCE, "issuer")?.raw.to_vec();
        let serial = r.next(tag::INTEGER, "serialNumber")?.content.to_vec();
        SignerId::IssuerSerial(issuer, serial)
    } else if sid.tag == 0x80 {
        SignerId::KeyId(sid.content.to_vec())
    } else {
        return Err(DerError("sid"));
    };
    let (d_oid, _) = algorithm_identifier(si.any("digestAlgorithm")?)?;
    let signed_attributes = match si.optional(tag::context(0))? {
        Some(attrs) => {
            let mut md = None;
            let mut r = attrs.reader();
            while !r.is_empty() {
                let mut a = r.next(tag::SEQUENCE, "Attribute")?.reader();
                let t = a.next(tag::OID, "attrType")?;
                let values = a.next(tag::SET, "attrValues")?;
                if t.content == MESSAGE_DIGEST {
                    md = Some(
                        values
                            .reader()
                            .next(tag::OCTET_STRING, "messageDigest")?
                            .content
                            .to_vec(),
                    );
                }
            }
            let mut set = attrs.raw.to_vec();
            set[0] = tag::SET;
            Some((
                set,
                md.ok_or(DerError("signed attributes lack messageDigest"))?,
            ))
        }
        None => None,
    };
    let (s_oid, s_params) = algorithm_identifier(si.any("signatureAlgorithm")?)?;
    let signature = si.next(tag::OCTET_STRING, "signature")?.content.to_vec();

    let mut tst = Tlv::parse_exact(&e_content)?
        .expect_tag(tag::SEQUENCE, "TSTInfo")?
        .reader();
    tst.next(tag::INTEGER, "version")?;
    tst.next(tag::OID, "policy")?;
    let mut mi = tst.next(tag::SEQUENCE, "messageImprint")?.reader();
    let (h_oid, _) = algorithm_identifier(mi.any("hashAlgorithm")?)?;
    let imprint = mi
        .next(tag::OCTET_STRING, "hashedMessage")?
        .content
        .to_vec();
    tst.next(tag::INTEGER, "serialNumber")?;
    let gen_time = generalized_time(tst.any("genTime")?)?;
    Ok(TimeStampToken {
        gen_time,
        imprint_algorithm: DigestAlgorithm::from_oid(h_oid),
        imprint,
        signer,
        digest_algorithm: DigestAlgorithm::from_oid(d_oid),
        signed_attributes,
        signature_algorithm: (s_oid.to_vec(), s_params.map(<[u8]>::to_vec)),
        signature,
        certs: certs.into_iter().map(Arc::new).collect(),
        e_content,
    })
}
