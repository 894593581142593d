//! Creating X-Road message signatures.
//!
//! The document follows the layout the Java servers write (Santuario's line breaks and
//! 76-column base64 in `SignedInfo` and `KeyInfo`), with start/end tag pairs instead of
//! empty-element tags, so that the canonical form of `SignedInfo` and
//! `SignedProperties` is exactly the serialized text with the root's namespace declarations
//! inserted: no canonicalizer runs on the signing path. Building is split in two, like
//! Java's proxy and signer: [`SignatureBuilder::prepare`] yields the digest to sign, and
//! [`PreparedSignature::finish`] takes the signature value.

use std::fmt::{self, Write};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use crate::algorithm::{Digest, DigestAlgorithm, SignatureAlgorithm};
use crate::c14n::C14N_10;
use crate::cert::Certificate;
use crate::hashchain::SIG_HASH_CHAIN_RESULT_URI;
use crate::time::format_xsd_millis;
use crate::util::{encode_base64, escape_attr, escape_text};

const ASIC_NS: &str = "http://uri.etsi.org/02918/v1.2.1#";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const XADES_NS: &str = "http://uri.etsi.org/01903/v1.3.2#";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The namespace declarations of the root, as C14N renders them on an apex element.
fn root_namespaces() -> &'static str {
    static NAMESPACES: OnceLock<String> = OnceLock::new();
    NAMESPACES.get_or_init(|| {
        format!(" xmlns:asic=\"{ASIC_NS}\" xmlns:ds=\"{DS_NS}\" xmlns:xades=\"{XADES_NS}\" xmlns:xsi=\"{XSI_NS}\"")
    })
}

const SIGNED_PROPERTIES_START: &str = "<xades:SignedProperties";

/// Room for a `ds:SignedInfo` with SHA-512 digests and the root's namespaces (~1 KB).
const SIGNED_INFO_CAPACITY: usize = 1280;

/// A CR as Java's serializer writes it in text, and as C14N writes it.
const SERIALIZED_CR: &str = "&#13;";
const CANONICAL_CR: &str = "&#xD;";

/// Base64 as Santuario writes digest values and certificates: lines of 76 characters ending
/// in CRLF, the CR escaped (`cr`).
fn mime_base64(bytes: &[u8], cr: &str) -> String {
    MimeBase64(bytes, cr).to_string()
}

/// [`mime_base64`] written where it is formatted: 57 bytes make one line of 76 characters,
/// each encoded on the stack.
struct MimeBase64<'a>(&'a [u8], &'a str);

impl fmt::Display for MimeBase64<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use base64::Engine;
        for (i, chunk) in self.0.chunks(57).enumerate() {
            if i > 0 {
                f.write_str(self.1)?;
                f.write_str("\n")?;
            }
            let mut line = [0u8; 76];
            let n = base64::engine::general_purpose::STANDARD
                .encode_slice(chunk, &mut line)
                .map_err(|_| fmt::Error)?;
            f.write_str(std::str::from_utf8(&line[..n]).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

/// The signature policy X-Road signatures name (constants of Java's `SignatureXmlBuilder`).
const POLICY_ID: &str = "urn:oid:1.3.6.1.4.1.3516.16.2";
const POLICY_DESCRIPTION: &str = "Profile for High Performance Digital Signatures (version 1.2)";
const POLICY_HASH: &str =
    "BuO0EDNfkxSVlUbxCzmQPzX1AUF1/xx9ytWHk3/6SAOePxQiniEfDYk+90QeYb3lWpV3Izhuz9fKaYyE+lTcXw==";
const POLICY_URI: &str = "https://repo.cyber.ee/dsig-profile-1.2.pdf";

/// What a signature covers.
#[derive(Debug, Clone, Copy)]
pub enum SignedData {
    /// A message of one part: the digest of `/message.xml`.
    Message(Digest),
    /// Several parts or messages: the digest of the hash-chain-result bytes that are sent.
    HashChainResult(Digest),
}

/// Creates signatures for one signing key and certificate. Build it once per certificate
/// and OCSP refresh: what depends only on them is serialized once, on first use.
#[derive(Debug, Clone)]
pub struct SignatureBuilder {
    algorithm: SignatureAlgorithm,
    cert: Arc<Certificate>,
    extra_certs: Vec<Arc<Certificate>>,
    ocsp_responses: Vec<Vec<u8>>,
    signing_time: Option<SystemTime>,
    fixed: std::sync::OnceLock<Fixed>,
}

/// The parts of the document that do not change from message to message.
#[derive(Debug, Clone)]
struct Fixed {
    /// `CertDigest` and `IssuerSerial` of the signing certificate.
    signing_cert_id: String,
    /// The signing certificate in Santuario's base64 layout.
    certificate: String,
    /// `xades:UnsignedProperties`.
    unsigned: String,
}

impl SignatureBuilder {
    /// A builder signing with `algorithm` (its digest is also used for the references and
    /// the certificate digest, as Java does) and the signing certificate `cert`.
    pub fn new(algorithm: SignatureAlgorithm, cert: Arc<Certificate>) -> Self {
        SignatureBuilder {
            algorithm,
            cert,
            extra_certs: Vec::new(),
            ocsp_responses: Vec::new(),
            signing_time: None,
            fixed: std::sync::OnceLock::new(),
        }
    }

    /// Intermediate CA certificates between the signing certificate and the approved CA.
    pub fn with_extra_certs(mut self, certs: Vec<Arc<Certificate>>) -> Self {
        self.extra_certs = certs;
        self.fixed = std::sync::OnceLock::new();
        self
    }

    /// DER OCSP responses: the signing certificate's first, then each intermediate's.
    pub fn with_ocsp_responses(mut self, responses: Vec<Vec<u8>>) -> Self {
        self.ocsp_responses = responses;
        self.fixed = std::sync::OnceLock::new();
        self
    }

    /// The `SigningTime` to write; the caller's clock (default: the time of `prepare`).
    pub fn with_signing_time(mut self, at: SystemTime) -> Self {
        self.signing_time = Some(at);
        self
    }

    /// The algorithm.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn digest_algorithm(&self) -> DigestAlgorithm {
        self.algorithm.digest
    }

    /// Builds everything but the signature value.
    pub fn prepare(&self, data: SignedData) -> PreparedSignature {
        let (uri, digest, mime) = match data {
            SignedData::Message(d) => ("/message.xml", d, "text/xml"),
            SignedData::HashChainResult(d) => (
                SIG_HASH_CHAIN_RESULT_URI,
                d,
                "application/hash-chain-result",
            ),
        };
        let time = self.signing_time.unwrap_or_else(SystemTime::now);
        let fixed = self.fixed.get_or_init(|| Fixed {
            signing_cert_id: self.cert_id(&self.cert),
            certificate: mime_base64(self.cert.der(), SERIALIZED_CR),
            unsigned: self.unsigned_properties(),
        });
        let dalg = self.digest_algorithm();
        // The canonical SignedProperties is the serialized one with the root's namespaces
        // declared on it: hash it in pieces rather than building it.
        let sp_rest = self.signed_properties_rest(time, mime, &fixed.signing_cert_id);
        let mut h = dalg.hasher();
        for piece in [SIGNED_PROPERTIES_START, root_namespaces(), &sp_rest] {
            h.update(piece.as_bytes());
        }
        let sp_digest = h.finish();
        let signed_info = |out: &mut String, ns: &str, cr: &str| {
            self.signed_info(out, ns, cr, uri, &digest, &sp_digest)
        };
        let mut canonical = String::with_capacity(SIGNED_INFO_CAPACITY);
        signed_info(&mut canonical, root_namespaces(), CANONICAL_CR);
        let canonical = canonical.into_bytes();
        let mut head = String::with_capacity(SIGNED_INFO_CAPACITY + 512);
        head.push_str(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?><asic:XAdESSignatures",
        );
        head.push_str(root_namespaces());
        head.push_str("><ds:Signature Id=\"signature\">\n");
        signed_info(&mut head, "", SERIALIZED_CR);
        head.push_str("\n<ds:SignatureValue Id=\"signature-value\">");
        let mut tail = String::with_capacity(
            fixed.certificate.len() + sp_rest.len() + fixed.unsigned.len() + 400,
        );
        let _ = write!(
            tail,
            "</ds:SignatureValue>\n<ds:KeyInfo>\n<ds:X509Data>\n<ds:X509Certificate>\n{}\n</ds:X509Certificate>\n\
             </ds:X509Data>\n</ds:KeyInfo>\n<ds:Object><xades:QualifyingProperties Target=\"#signature\">{SIGNED_PROPERTIES_START}{sp_rest}{}\
             </xades:QualifyingProperties></ds:Object>\n</ds:Signature></asic:XAdESSignatures>",
            fixed.certificate, fixed.unsigned
        );
        PreparedSignature {
            to_sign: dalg.digest(&canonical),
            canonical_signed_info: canonical,
            head,
            tail,
        }
    }

    fn signed_info(
        &self,
        out: &mut String,
        ns: &str,
        cr: &str,
        uri: &str,
        digest: &Digest,
        sp_digest: &Digest,
    ) {
        let d = self.digest_algorithm().uri();
        let _ = write!(
            out,
            "<ds:SignedInfo{ns}>\n\
             <ds:CanonicalizationMethod Algorithm=\"{C14N_10}\"></ds:CanonicalizationMethod>\n\
             <ds:SignatureMethod Algorithm=\"{}\"></ds:SignatureMethod>\n\
             <ds:Reference Id=\"signature-reference-0\" URI=\"{}\">\n\
             <ds:DigestMethod Algorithm=\"{}\"></ds:DigestMethod>\n\
             <ds:DigestValue>{}</ds:DigestValue>\n\
             </ds:Reference>\n\
             <ds:Reference Id=\"signature-reference-1\" Type=\"http://uri.etsi.org/01903#SignedProperties\" URI=\"#signed-properties\">\n\
             <ds:DigestMethod Algorithm=\"{d}\"></ds:DigestMethod>\n\
             <ds:DigestValue>{}</ds:DigestValue>\n\
             </ds:Reference>\n\
             </ds:SignedInfo>",
            self.algorithm.uri(),
            escape_attr(uri),
            digest.algorithm().uri(),
            MimeBase64(digest.as_bytes(), cr),
            MimeBase64(sp_digest.as_bytes(), cr)
        );
    }

    /// `CertDigest` and `IssuerSerial` of a certificate.
    fn cert_id(&self, cert: &Certificate) -> String {
        let d = self.digest_algorithm();
        format!(
            "<xades:CertDigest><ds:DigestMethod Algorithm=\"{}\"></ds:DigestMethod><ds:DigestValue>{}</ds:DigestValue>\
             </xades:CertDigest><xades:IssuerSerial><ds:X509IssuerName>{}</ds:X509IssuerName>\
             <ds:X509SerialNumber>{}</ds:X509SerialNumber></xades:IssuerSerial>",
            d.uri(),
            cert.hash(d).to_base64(),
            escape_text(&cert.issuer().rfc2253()),
            cert.serial_decimal()
        )
    }

    /// `xades:SignedProperties` after its element name.
    fn signed_properties_rest(&self, time: SystemTime, mime: &str, cert_id: &str) -> String {
        let sha512 = DigestAlgorithm::Sha512.uri();
        format!(
            " Id=\"signed-properties\"><xades:SignedSignatureProperties>\
             <xades:SigningTime>{}</xades:SigningTime><xades:SigningCertificate><xades:Cert>{cert_id}</xades:Cert>\
             </xades:SigningCertificate><xades:SignaturePolicyIdentifier><xades:SignaturePolicyId><xades:SigPolicyId>\
             <xades:Identifier Qualifier=\"OIDAsURN\">{POLICY_ID}</xades:Identifier>\
             <xades:Description>{POLICY_DESCRIPTION}</xades:Description></xades:SigPolicyId><xades:SigPolicyHash>\
             <ds:DigestMethod Algorithm=\"{sha512}\"></ds:DigestMethod><ds:DigestValue>{POLICY_HASH}</ds:DigestValue>\
             </xades:SigPolicyHash><xades:SigPolicyQualifiers><xades:SigPolicyQualifier><xades:SPURI>{POLICY_URI}\
             </xades:SPURI></xades:SigPolicyQualifier></xades:SigPolicyQualifiers></xades:SignaturePolicyId>\
             </xades:SignaturePolicyIdentifier></xades:SignedSignatureProperties><xades:SignedDataObjectProperties>\
             <xades:DataObjectFormat ObjectReference=\"#signature-reference-0\"><xades:MimeType>{mime}</xades:MimeType>\
             </xades:DataObjectFormat></xades:SignedDataObjectProperties></xades:SignedProperties>",
            format_xsd_millis(time),
        )
    }

    fn unsigned_properties(&self) -> String {
        let mut s = String::from("<xades:UnsignedProperties><xades:UnsignedSignatureProperties>");
        if !self.extra_certs.is_empty() {
            s.push_str(
                "<xades:CompleteCertificateRefs Id=\"complete-certificate-refs\"><xades:CertRefs>",
            );
            for (i, c) in self.extra_certs.iter().enumerate() {
                let _ = write!(
                    s,
                    "<xades:Cert URI=\"#encapsulated-cert-{}\">{}</xades:Cert>",
                    i + 1,
                    self.cert_id(c)
                );
            }
            s.push_str(
                "</xades:CertRefs></xades:CompleteCertificateRefs><xades:CertificateValues>",
            );
            for (i, c) in self.extra_certs.iter().enumerate() {
                let _ = write!(
                    s,
                    "<xades:EncapsulatedX509Certificate Id=\"encapsulated-cert-{}\">{}</xades:EncapsulatedX509Certificate>",
                    i + 1,
                    encode_base64(c.der())
                );
            }
            s.push_str("</xades:CertificateValues>");
        }
        s.push_str("<xades:RevocationValues><xades:OCSPValues>");
        for (i, r) in self.ocsp_responses.iter().enumerate() {
            let _ = write!(
                s,
                "<xades:EncapsulatedOCSPValue Id=\"ocsp-response-{}\">{}</xades:EncapsulatedOCSPValue>",
                i + 1,
                encode_base64(r)
            );
        }
        s.push_str("</xades:OCSPValues></xades:RevocationValues></xades:UnsignedSignatureProperties></xades:UnsignedProperties>");
        s
    }
}

/// A signature document waiting for its signature value.
#[derive(Debug, Clone)]
pub struct PreparedSignature {
    canonical_signed_info: Vec<u8>,
    to_sign: Digest,
    head: String,
    tail: String,
}

impl PreparedSignature {
    /// The canonical `SignedInfo`: the bytes the signature value covers.
    pub fn signed_info(&self) -> &[u8] {
        &self.canonical_signed_info
    }

    /// The digest of the canonical `SignedInfo`: what the signer's key operation signs.
    pub fn digest(&self) -> Digest {
        self.to_sign
    }

    /// The signature document with `signature_value` (RSA: the PKCS#1 or PSS value; ECDSA:
    /// raw `r‖s`, see [`crate::algorithm::ecdsa_der_to_raw`]).
    pub fn finish(&self, signature_value: &[u8]) -> Vec<u8> {
        let b64 = encode_base64(signature_value);
        let mut out = String::with_capacity(self.head.len() + self.tail.len() + b64.len() + 2);
        out.push_str(&self.head);
        // Java wraps a value longer than a base64 line in newlines.
        if b64.len() > 76 {
            out.push('\n');
            out.push_str(&b64);
            out.push('\n');
        } else {
            out.push_str(&b64);
        }
        out.push_str(&self.tail);
        out.into_bytes()
    }
}
