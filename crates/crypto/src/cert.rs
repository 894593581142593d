//! X.509 certificates as X-Road uses them: parsed once into what verification needs,
//! classified as signing or authentication certificates like Java's `CertUtils`, and named
//! in RFC 2253 form like Java's `X500Principal#getName()`.

use std::fmt;
use std::time::SystemTime;

use xroad_fault::{ErrorCode, XRoadError};

use crate::algorithm::{
    oid, DigestAlgorithm, EcdsaEncoding, PublicKey, SignatureAlgorithm, VerifyError,
};
use crate::der::{tag, Reader, Tlv};
use crate::time::to_unix;

/// Why bytes are not a usable certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid X.509 certificate: {0}")]
pub struct CertificateError(pub String);

/// A parsed certificate; cheap to share behind an `Arc`.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    /// SHA-256 of the DER: identity for caches.
    fingerprint: [u8; 32],
    /// SHA-1 of the subject name and of the key bits: what OCSP `CertID`s of the
    /// certificates this one issues hold.
    issuer_hashes: ([u8; 20], [u8; 20]),
    tbs: std::ops::Range<usize>,
    subject: Name,
    issuer: Name,
    serial: Vec<u8>,
    not_before: i64,
    not_after: i64,
    public_key: Option<PublicKey>,
    /// The bits of the subject public key (what OCSP's key hash covers).
    key_bits: Vec<u8>,
    signature_algorithm: Option<SignatureAlgorithm>,
    signature: Vec<u8>,
    key_usage: Option<u16>,
    extended_key_usage: Vec<Vec<u8>>,
    is_ca: bool,
    ocsp_urls: Vec<String>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Certificate({}, serial {})",
            self.subject,
            self.serial_decimal()
        )
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

/// Key usage bits, numbered as in RFC 5280 (bit 0 = digitalSignature).
mod ku {
    pub const DIGITAL_SIGNATURE: u16 = 1 << 0;
    pub const NON_REPUDIATION: u16 = 1 << 1;
    pub const KEY_ENCIPHERMENT: u16 = 1 << 2;
    pub const DATA_ENCIPHERMENT: u16 = 1 << 3;
}

/// id-kp-clientAuth (1.3.6.1.5.5.7.3.2).
const KP_CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
/// id-ad-ocsp (1.3.6.1.5.5.7.48.1).
const AD_OCSP: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];

impl Certificate {
    /// Parses DER.
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        use x509_parser::prelude::*;
        let bad = |e: &dyn fmt::Display| CertificateError(e.to_string());
        let (rest, cert) = X509Certificate::from_der(der).map_err(|e| bad(&e))?;
        if !rest.is_empty() {
            return Err(CertificateError(
                "trailing bytes after the certificate".into(),
            ));
        }
        let tbs_raw: &[u8] = cert.tbs_certificate.as_ref();
        let start = tbs_raw.as_ptr() as usize - der.as_ptr() as usize;
        let tbs = start..start + tbs_raw.len();
        let key_usage = cert
            .key_usage()
            .map_err(|e| bad(&e))?
            .map(|k| k.value.flags);
        let extended_key_usage = match cert.extended_key_usage().map_err(|e| bad(&e))? {
            Some(eku) => extended_key_usage_oids(eku.value),
            None => Vec::new(),
        };
        let is_ca = cert
            .basic_constraints()
            .map_err(|e| bad(&e))?
            .is_some_and(|b| b.value.ca);
        let mut ocsp_urls = Vec::new();
        for ext in cert.extensions() {
            if let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() {
                for d in &aia.accessdescs {
                    if d.access_method.as_bytes() == AD_OCSP {
                        if let GeneralName::URI(u) = d.access_location {
                            ocsp_urls.push(u.to_owned());
                        }
                    }
                }
            }
        }
        let alg = &cert.signature_algorithm;
        // The algorithm outside the signed part must be the one inside it, byte for byte (the
        // JDK checks this too): the outer one is not covered by the signature.
        if !algorithms_agree(der) {
            return Err(CertificateError("Signature algorithm mismatch".into()));
        }
        let signature_algorithm = SignatureAlgorithm::from_oid(
            alg.algorithm.as_bytes(),
            alg.parameters.as_ref().map(|p| p.data),
        );
        let spki = cert.public_key();
        Ok(Certificate {
            der: der.to_vec(),
            fingerprint: crate::cache::key(&[der]),
            issuer_hashes: {
                let sha1 = |b: &[u8]| {
                    let mut out = [0u8; 20];
                    out.copy_from_slice(DigestAlgorithm::Sha1.digest(b).as_bytes());
                    out
                };
                (
                    sha1(cert.subject().as_raw()),
                    sha1(&spki.subject_public_key.data),
                )
            },
            tbs,
            subject: Name::from_der(cert.subject().as_raw()).map_err(|e| bad(&e))?,
            issuer: Name::from_der(cert.issuer().as_raw()).map_err(|e| bad(&e))?,
            serial: cert.raw_serial().to_vec(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            public_key: PublicKey::from_x509(spki).ok(),
            key_bits: spki.subject_public_key.data.to_vec(),
            signature_algorithm,
            signature: cert.signature_value.data.to_vec(),
            key_usage,
            extended_key_usage,
            is_ca,
            ocsp_urls,
        })
    }

    /// Parses PEM (`-----BEGIN CERTIFICATE-----`) or DER, whichever `bytes` is.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self, CertificateError> {
        match pem_body(bytes) {
            Some(der) => Self::from_der(&der),
            None => Self::from_der(bytes),
        }
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// SHA-1 of the subject name and of the subject key bits (`issuerNameHash` and
    /// `issuerKeyHash` of the `CertID`s of certificates this one issued).
    pub(crate) fn issuer_hashes(&self) -> (&[u8; 20], &[u8; 20]) {
        (&self.issuer_hashes.0, &self.issuer_hashes.1)
    }

    /// SHA-256 of the DER, computed once.
    pub(crate) fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// The digest of the DER encoding (certificate hashes in global configuration, XAdES).
    pub fn hash(&self, algorithm: DigestAlgorithm) -> crate::Digest {
        algorithm.digest(&self.der)
    }

    /// Lower-case hex SHA-1 of the DER: the key of OCSP caches and the 5577 `cert` parameter.
    pub fn sha1_hex(&self) -> String {
        hex(self.hash(DigestAlgorithm::Sha1).as_bytes())
    }

    /// The subject name.
    pub fn subject(&self) -> &Name {
        &self.subject
    }

    /// The issuer name.
    pub fn issuer(&self) -> &Name {
        &self.issuer
    }

    /// The serial number's magnitude, big-endian.
    pub fn serial(&self) -> &[u8] {
        crate::der::unsigned_integer(&self.serial)
    }

    /// The serial number's DER INTEGER content (as OCSP `CertID`s carry it).
    pub(crate) fn serial_der_content(&self) -> &[u8] {
        &self.serial
    }

    /// The serial number in decimal, as XAdES `X509SerialNumber` and Java messages write it.
    pub fn serial_decimal(&self) -> String {
        decimal(self.serial())
    }

    /// The bits of the subject public key.
    pub(crate) fn key_bits(&self) -> &[u8] {
        &self.key_bits
    }

    /// The public key, if of a supported kind.
    pub fn public_key(&self) -> Option<&PublicKey> {
        self.public_key.as_ref()
    }

    /// Whether the certificate is valid (`notBefore ≤ at ≤ notAfter`) at `at`.
    pub fn is_valid_at(&self, at: SystemTime) -> bool {
        let t = to_unix(at);
        self.not_before <= t && t <= self.not_after
    }

    /// `notBefore` and `notAfter` as seconds since the epoch.
    pub fn validity(&self) -> (i64, i64) {
        (self.not_before, self.not_after)
    }

    /// Whether the certificate says it is a CA (basicConstraints cA).
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }

    /// OCSP responder URLs from the Authority Information Access extension.
    pub fn ocsp_urls(&self) -> &[String] {
        &self.ocsp_urls
    }

    /// Whether the certificate lists `purpose` (an OID's content octets) as extended key usage.
    pub(crate) fn has_extended_key_usage(&self, purpose: &[u8]) -> bool {
        self.extended_key_usage.iter().any(|p| p == purpose)
    }

    /// Java's `CertUtils.isSigningCert`: keyUsage nonRepudiation. A certificate without the
    /// keyUsage extension is an internal error there, and here.
    pub fn is_signing_cert(&self) -> Result<bool, XRoadError> {
        let ku = self.key_usage.ok_or_else(|| {
            XRoadError::new(
                ErrorCode::InternalError,
                "Certificate does not contain keyUsage extension",
            )
        })?;
        Ok(ku & ku::NON_REPUDIATION != 0)
    }

    /// Java's `CertUtils.isAuthCert`: extended key usage clientAuth, or keyUsage
    /// digitalSignature, keyEncipherment or dataEncipherment.
    pub fn is_auth_cert(&self) -> Result<bool, XRoadError> {
        if self.has_extended_key_usage(KP_CLIENT_AUTH) {
            return Ok(true);
        }
        let ku = self.key_usage.ok_or_else(|| {
            XRoadError::new(
                ErrorCode::IncorrectCertificate,
                "Certificate does not contain keyUsage extension",
            )
        })?;
        Ok(ku & (ku::DIGITAL_SIGNATURE | ku::KEY_ENCIPHERMENT | ku::DATA_ENCIPHERMENT) != 0)
    }

    /// Whether `issuer`'s key made this certificate's signature (and the names chain).
    pub fn is_signed_by(&self, issuer: &Certificate) -> Result<(), VerifyError> {
        if !self.issuer.matches(&issuer.subject) {
            return Err(VerifyError::Invalid);
        }
        let alg = self
            .signature_algorithm
            .ok_or_else(|| VerifyError::Unsupported("certificate signature algorithm".into()))?;
        let key = issuer
            .public_key
            .as_ref()
            .ok_or_else(|| VerifyError::Unsupported("issuer key type".into()))?;
        key.verify(
            alg,
            &self.der[self.tbs.clone()],
            &self.signature,
            EcdsaEncoding::Der,
        )
    }
}

/// Whether `signatureAlgorithm` equals `tbsCertificate.signature` as DER.
fn algorithms_agree(der: &[u8]) -> bool {
    let parse = || -> Result<bool, crate::der::DerError> {
        let mut cert = Tlv::parse_exact(der)?
            .expect_tag(tag::SEQUENCE, "Certificate")?
            .reader();
        let mut tbs = cert.next(tag::SEQUENCE, "tbsCertificate")?.reader();
        tbs.optional(tag::context(0))?;
        tbs.next(tag::INTEGER, "serialNumber")?;
        let inner = tbs.next(tag::SEQUENCE, "signature")?;
        let outer = cert.next(tag::SEQUENCE, "signatureAlgorithm")?;
        Ok(inner.raw == outer.raw)
    };
    parse().unwrap_or(false)
}

fn extended_key_usage_oids(eku: &x509_parser::extensions::ExtendedKeyUsage<'_>) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = eku.other.iter().map(|o| o.as_bytes().to_vec()).collect();
    let known: [(bool, &[u8]); 3] = [
        (eku.client_auth, KP_CLIENT_AUTH),
        (eku.ocsp_signing, oid::KP_OCSP_SIGNING),
        (
            eku.server_auth,
            &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01],
        ),
    ];
    out.extend(
        known
            .iter()
            .filter(|(set, _)| *set)
            .map(|(_, o)| o.to_vec()),
    );
    out
}

/// The certificate DER inside the first PEM `CERTIFICATE` (or OpenSSL `TRUSTED
/// CERTIFICATE`, whose trust settings follow the certificate) block, if `bytes` holds one.
pub(crate) fn pem_body(bytes: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(bytes).ok()?;
    for label in ["CERTIFICATE", "TRUSTED CERTIFICATE"] {
        let begin = format!("-----BEGIN {label}-----");
        let Some(start) = text.find(&begin).map(|i| i + begin.len()) else {
            continue;
        };
        let end = start + text[start..].find(&format!("-----END {label}-----"))?;
        let der = crate::util::decode_base64(&text[start..end])?;
        // The certificate is the first element; trust settings may follow it.
        let (cert, _) = Tlv::parse(&der).ok()?;
        return Some(cert.raw.to_vec());
    }
    None
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A big-endian unsigned magnitude in decimal.
fn decimal(magnitude: &[u8]) -> String {
    let mut digits: Vec<u8> = vec![0];
    for &byte in magnitude {
        let mut carry = u32::from(byte);
        for d in digits.iter_mut() {
            let v = u32::from(*d) * 256 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
}

// ---------------------------------------------------------------------------------------
// Distinguished names

/// One attribute of a name: type OID (content octets), the value's whole DER, and its text
/// when it is a string type.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ava {
    oid: Vec<u8>,
    value_der: Vec<u8>,
    text: Option<String>,
}

/// An X.500 distinguished name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    der: Vec<u8>,
    /// RDNs in DER order; each holds one or more attributes.
    rdns: Vec<Vec<Ava>>,
}

/// Attribute type OIDs (content octets).
pub(crate) mod attr {
    pub const CN: &[u8] = &[0x55, 0x04, 0x03];
    pub const SERIAL_NUMBER: &[u8] = &[0x55, 0x04, 0x05];
    pub const C: &[u8] = &[0x55, 0x04, 0x06];
    pub const L: &[u8] = &[0x55, 0x04, 0x07];
    pub const ST: &[u8] = &[0x55, 0x04, 0x08];
    pub const STREET: &[u8] = &[0x55, 0x04, 0x09];
    pub const O: &[u8] = &[0x55, 0x04, 0x0a];
    pub const OU: &[u8] = &[0x55, 0x04, 0x0b];
    pub const BUSINESS_CATEGORY: &[u8] = &[0x55, 0x04, 0x0f];
    pub const ORGANIZATION_IDENTIFIER: &[u8] = &[0x55, 0x04, 0x61];
    pub const DC: &[u8] = &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19];
    pub const UID: &[u8] = &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01];
}

/// The keywords Java's RFC 2253 output uses; other types are written as `OID=#hex`.
const RFC2253_KEYWORDS: &[(&[u8], &str)] = &[
    (attr::CN, "CN"),
    (attr::C, "C"),
    (attr::L, "L"),
    (attr::ST, "ST"),
    (attr::O, "O"),
    (attr::OU, "OU"),
    (attr::STREET, "STREET"),
    (attr::DC, "DC"),
    (attr::UID, "UID"),
];

impl Name {
    /// Parses a DER `Name`.
    pub fn from_der(der: &[u8]) -> Result<Name, crate::der::DerError> {
        let seq = Tlv::parse_exact(der)?.expect_tag(tag::SEQUENCE, "a Name is a SEQUENCE")?;
        let mut rdns = Vec::new();
        let mut r = seq.reader();
        while !r.is_empty() {
            let set = r.next(tag::SET, "an RDN is a SET")?;
            let mut avas = Vec::new();
            let mut s = set.reader();
            while !s.is_empty() {
                let mut a = s
                    .next(tag::SEQUENCE, "an attribute is a SEQUENCE")?
                    .reader();
                let oid_tlv = a.next(tag::OID, "attribute type")?;
                let value = a.any("attribute value")?;
                avas.push(Ava {
                    oid: oid_tlv.content.to_vec(),
                    value_der: value.raw.to_vec(),
                    text: string_value(value),
                });
            }
            rdns.push(avas);
        }
        Ok(Name {
            der: der.to_vec(),
            rdns,
        })
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Whether two names denote the same entity, as BouncyCastle's `X500Name` equality
    /// decides: equal DER, or the same RDNs in the same or reversed order with values
    /// compared case-insensitively, whitespace collapsed, whatever their string type
    /// (responders often encode their name differently from their certificate).
    pub fn matches(&self, other: &Name) -> bool {
        if self.der == other.der {
            return true;
        }
        if self.rdns.len() != other.rdns.len() {
            return false;
        }
        let a = self.canonical();
        let b = other.canonical();
        a == b || a.iter().eq(b.iter().rev())
    }

    fn canonical(&self) -> Vec<Vec<(&[u8], String)>> {
        self.rdns
            .iter()
            .map(|rdn| {
                let mut avas: Vec<(&[u8], String)> = rdn
                    .iter()
                    .map(|a| {
                        let value = match &a.text {
                            Some(t) => t
                                .split_whitespace()
                                .collect::<Vec<_>>()
                                .join(" ")
                                .to_lowercase(),
                            None => format!("#{}", hex(&a.value_der)),
                        };
                        (a.oid.as_slice(), value)
                    })
                    .collect();
                avas.sort();
                avas
            })
            .collect()
    }

    /// The text of the attribute `oid` as Java's profiles read it: the first such attribute in
    /// RFC 2253 order (the last in DER order), with RFC 2253 special characters escaped.
    pub(crate) fn value(&self, oid: &[u8]) -> Option<String> {
        self.rdns
            .iter()
            .rev()
            .flat_map(|rdn| rdn.iter())
            .find(|a| a.oid == oid)
            .map(|a| match &a.text {
                Some(t) => escape_rdn_value(t),
                None => format!("#{}", hex(&a.value_der)),
            })
    }

    /// RFC 2253 form as Java's `X500Principal#getName()` writes it:
    /// `CN=Test CA,O=Test`; types without a keyword as `2.5.4.5=#130b…`.
    pub fn rfc2253(&self) -> String {
        let mut out = String::new();
        for (i, rdn) in self.rdns.iter().rev().enumerate() {
            if i > 0 {
                out.push(',');
            }
            for (j, a) in rdn.iter().enumerate() {
                if j > 0 {
                    out.push('+');
                }
                match (RFC2253_KEYWORDS.iter().find(|(o, _)| *o == a.oid), &a.text) {
                    (Some((_, kw)), Some(text)) => {
                        out.push_str(kw);
                        out.push('=');
                        out.push_str(&escape_rdn_value(text));
                    }
                    _ => {
                        out.push_str(&oid_dotted(&a.oid));
                        out.push_str("=#");
                        out.push_str(&hex(&a.value_der));
                    }
                }
            }
        }
        out
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc2253())
    }
}

/// The text of a directory string value.
fn string_value(v: Tlv<'_>) -> Option<String> {
    match v.tag {
        // UTF8String, PrintableString, IA5String, NumericString, VisibleString
        0x0c | 0x13 | 0x16 | 0x12 | 0x1a => std::str::from_utf8(v.content).ok().map(str::to_owned),
        // TeletexString: read as Latin-1, as most implementations do.
        0x14 => Some(v.content.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16BE.
        0x1e if v.content.len().is_multiple_of(2) => {
            let units: Vec<u16> = v
                .content
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        // UniversalString: UTF-32BE.
        0x1c if v.content.len().is_multiple_of(4) => v
            .content
            .chunks(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => None,
    }
}

/// RFC 2253 escaping of an attribute value.
fn escape_rdn_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let last = s.chars().count().saturating_sub(1);
    for (i, c) in s.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An OID's dotted form from its content octets.
fn oid_dotted(content: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in content {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (acc / 40).min(2);
                parts.push(first);
                parts.push(acc - first * 40);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// Reads a DER `AlgorithmIdentifier`: OID content octets and parameters' content octets.
pub(crate) fn algorithm_identifier<'a>(
    tlv: Tlv<'a>,
) -> Result<(&'a [u8], Option<&'a [u8]>), crate::der::DerError> {
    let mut r = tlv
        .expect_tag(tag::SEQUENCE, "AlgorithmIdentifier")?
        .reader();
    let alg = r.next(tag::OID, "algorithm OID")?;
    let params = if r.is_empty() {
        None
    } else {
        Some(r.any("parameters")?.content)
    };
    Ok((alg.content, params))
}

/// Parses a sequence of DER certificates.
pub(crate) fn certificates_in(content: &[u8]) -> Result<Vec<Certificate>, CertificateError> {
    let mut r = Reader::new(content);
    let mut out = Vec::new();
    while !r.is_empty() {
        let t = r
            .any("certificate")
            .map_err(|e| CertificateError(e.to_string()))?;
        out.push(Certificate::from_der(t.raw)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_and_oids() {
        assert_eq!(decimal(&[]), "0");
        assert_eq!(decimal(&[0x12]), "18");
        assert_eq!(
            decimal(&[0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
            "18446744073709551616"
        );
        assert_eq!(oid_dotted(attr::SERIAL_NUMBER), "2.5.4.5");
        assert_eq!(
            oid_dotted(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]),
            "1.2.840.113549.1.9.1"
        );
        assert_eq!(escape_rdn_value("#a,b "), "\\#a\\,b\\ ");
    }
}
