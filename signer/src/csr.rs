//! Certificate signing requests (PKCS#10) for authentication and signing keys, with the
//! subject fields that the CA's certificate profile requires (the profiles Java ships under
//! `ee.ria.xroad.common.certificateprofile.impl`).
//!
//! The request is built here and signed through the token, so keys on PKCS#11 devices get
//! requests too. As in Java: the subject's attributes appear in the profile's order; a
//! `subjectAltName` field becomes a dNSName SAN; key usage is nonRepudiation + keyCertSign
//! for signing keys, digitalSignature + keyEncipherment + dataEncipherment for authentication
//! keys (non-critical); the request is signed with SHA-256.

use openssl::x509::X509NameBuilder;
use xroad_crypto::profile::CertificateProfile;
use xroad_crypto::{DigestAlgorithm, SignMechanism, SignatureAlgorithm};
use xroad_identifiers::{ClientId, SecurityServerId};

use crate::der;
use crate::error::{Result, SignerError};
use crate::keyconf::KeyUsage;
use crate::signer::KeySigner;

/// The encoding of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrFormat {
    /// `-----BEGIN CERTIFICATE REQUEST-----`.
    Pem,
    /// DER.
    Der,
}

impl CsrFormat {
    /// Parses `pem` / `der`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "pem" => Ok(CsrFormat::Pem),
            "der" => Ok(CsrFormat::Der),
            _ => Err(SignerError::InvalidInput(format!(
                "unknown CSR format {s:?} (pem, der)"
            ))),
        }
    }
}

/// One subject field of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectField {
    /// The attribute name as Java spells it (`C`, `O`, `OU`, `CN`, `serialNumber`,
    /// `businessCategory`, `SN` (= serialNumber), or `subjectAltName`).
    pub id: &'static str,
    /// The value the profile gives (empty when the user must supply it).
    pub default: String,
    /// Whether the user may change it.
    pub editable: bool,
}

/// What a profile needs to propose the subject.
#[derive(Debug, Clone)]
pub struct SubjectParams {
    /// This security server.
    pub server: SecurityServerId,
    /// The member a signing key is for (signing keys only).
    pub member: Option<ClientId>,
    /// The member's name in the global configuration.
    pub member_name: String,
}

fn f(id: &'static str, default: impl Into<String>, editable: bool) -> SubjectField {
    SubjectField {
        id,
        default: default.into(),
        editable,
    }
}

fn short(id: &SecurityServerId) -> String {
    let o = id.owner();
    format!(
        "{}/{}/{}/{}",
        o.instance(),
        o.member_class(),
        o.member_code(),
        id.server_code()
    )
}

/// The subject fields of `profile` for a key of `usage`, in the profile's order.
pub fn subject_fields(
    profile: CertificateProfile,
    usage: KeyUsage,
    p: &SubjectParams,
) -> Result<Vec<SubjectField>> {
    use CertificateProfile::*;
    let s = &p.server;
    let name = p.member_name.as_str();
    let member = || {
        p.member.clone().ok_or_else(|| {
            SignerError::InvalidInput("a signing key's request needs the member it is for".into())
        })
    };
    Ok(match (profile, usage) {
        (Ejbca, KeyUsage::Authentication) => vec![
            f("C", s.owner().instance(), false),
            f("CN", s.server_code(), false),
        ],
        (Ejbca, KeyUsage::Signing) => {
            let m = member()?;
            vec![
                f("C", m.instance(), false),
                f("O", m.member_class(), false),
                f("CN", m.member_code(), false),
            ]
        }
        (Basic, KeyUsage::Authentication) => vec![
            f("CN", "", true),
            f("serialNumber", s.owner().member_code(), false),
            f("C", "", true),
            f("O", name, false),
        ],
        (Basic, KeyUsage::Signing) => {
            let m = member()?;
            vec![
                f("CN", name, false),
                f("O", name, false),
                f("businessCategory", m.member_class(), false),
                f("C", "", true),
                f("serialNumber", m.member_code(), false),
            ]
        }
        (BasicAcme, KeyUsage::Authentication) => vec![
            f("C", "", true),
            f("O", name, false),
            f("serialNumber", s.owner().member_code(), false),
            f("CN", "", true),
            f("subjectAltName", "", true),
        ],
        (BasicAcme, KeyUsage::Signing) => {
            let m = member()?;
            vec![
                f("C", "", true),
                f("O", name, false),
                f("businessCategory", m.member_class(), false),
                f("serialNumber", m.member_code(), false),
                f("CN", name, false),
                f("subjectAltName", "", true),
            ]
        }
        (FiVrk, KeyUsage::Authentication) => vec![
            f("C", "FI", false),
            f("O", "", true),
            f(
                "serialNumber",
                format!(
                    "{}/{}/{}",
                    s.owner().instance(),
                    s.server_code(),
                    s.owner().member_class()
                ),
                false,
            ),
            f("CN", "", true),
            f("subjectAltName", "", true),
        ],
        (FiVrk, KeyUsage::Signing) => {
            let m = member()?;
            vec![
                f("C", "FI", false),
                f("O", "", true),
                f(
                    "serialNumber",
                    format!("{}/{}/{}", m.instance(), s.server_code(), m.member_class()),
                    false,
                ),
                f("CN", m.member_code(), false),
                f("subjectAltName", "", true),
            ]
        }
        (Fo, KeyUsage::Authentication) => vec![
            f("C", "FO", false),
            f("O", s.owner().instance(), false),
            f("CN", short(s), false),
        ],
        (Fo, KeyUsage::Signing) => {
            let m = member()?;
            vec![
                f("C", "FO", false),
                f("O", m.instance(), false),
                f("OU", m.member_class(), false),
                f("CN", m.member_code(), false),
                f("serialNumber", short(s), true),
            ]
        }
        (Is, KeyUsage::Authentication) => vec![
            f("C", "IS", false),
            f("CN", "", true),
            f("serialNumber", short(s), false),
        ],
        (Is, KeyUsage::Signing) => {
            let m = member()?;
            vec![
                f("C", "IS", false),
                f("O", m.instance(), false),
                f("OU", m.member_class(), false),
                f("CN", m.member_code(), false),
                f("serialNumber", short(s), false),
            ]
        }
        (SkKlass3, KeyUsage::Authentication) => vec![
            f("SN", s.owner().member_code(), false),
            f("CN", name, false),
        ],
        (SkKlass3, KeyUsage::Signing) => vec![
            f("SN", member()?.member_code(), false),
            f("CN", name, false),
        ],
        (SkEsteId, _) | (Test, _) => {
            return Err(SignerError::Unsupported(format!(
                "certificate requests for the profile {}",
                profile.class_name()
            )))
        }
    })
}

/// Subject attributes in order: (attribute name, value).
pub type Subject = Vec<(&'static str, String)>;

/// The subject (attribute, value) pairs and the SAN from a profile's fields and the user's
/// `values` for editable fields. Every field needs a value; read-only fields keep the
/// profile's (a different user value is refused).
pub fn resolve_subject(
    fields: &[SubjectField],
    values: &[(String, String)],
) -> Result<(Subject, Option<String>)> {
    for (k, _) in values {
        if !fields.iter().any(|fd| fd.id.eq_ignore_ascii_case(k)) {
            let known: Vec<&str> = fields.iter().map(|fd| fd.id).collect();
            return Err(SignerError::InvalidInput(format!(
                "unknown subject field {k} (this profile has {})",
                known.join(", ")
            )));
        }
    }
    let mut subject = Vec::new();
    let mut san = None;
    for fd in fields {
        let given = values
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(fd.id))
            .map(|(_, v)| v.trim().to_owned());
        let value = match given {
            Some(v) if !fd.editable && v != fd.default => {
                return Err(SignerError::InvalidInput(format!(
                    "the subject field {} is fixed by the profile to {:?}",
                    fd.id, fd.default
                )))
            }
            Some(v) => v,
            None => fd.default.clone(),
        };
        if value.is_empty() {
            return Err(SignerError::InvalidInput(format!(
                "the subject field {} is missing a value",
                fd.id
            )));
        }
        if fd.id == "subjectAltName" {
            san = Some(value);
        } else {
            subject.push((fd.id, value));
        }
    }
    Ok((subject, san))
}

/// The subject as a string, `C=FI, O=Org, CN=…` (as `keyconf.xml` records it).
pub fn subject_string(subject: &[(&'static str, String)]) -> String {
    subject
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(',', "\\,")))
        .collect::<Vec<_>>()
        .join(", ")
}

const OID_RSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_EXTENSION_REQUEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e];
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];

fn name_der(subject: &[(&'static str, String)]) -> Result<Vec<u8>> {
    let mut b = X509NameBuilder::new()?;
    for (k, v) in subject {
        let field = match *k {
            "SN" => "serialNumber",
            other => other,
        };
        // As BouncyCastle: C and serialNumber as PrintableString (with no length rule:
        // EJBCA subjects put the instance, e.g. `DEV`, in C), the rest as UTF8String.
        let printable = v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
        let ty = if matches!(field, "C" | "serialNumber") && printable {
            openssl::asn1::Asn1Type::PRINTABLESTRING
        } else {
            openssl::asn1::Asn1Type::UTF8STRING
        };
        b.append_entry_by_text_with_type(field, v, ty)
            .map_err(|_| {
                SignerError::InvalidInput(format!("the subject field {k}={v:?} cannot be encoded"))
            })?;
    }
    Ok(b.build().to_der()?)
}

/// Builds and signs a request for the key `key` with public key `spki`.
pub fn create(
    key: &KeySigner,
    spki: &[u8],
    mechanism: SignMechanism,
    usage: KeyUsage,
    subject: &[(&'static str, String)],
    san: Option<&str>,
    format: CsrFormat,
) -> Result<Vec<u8>> {
    let mut info = Vec::new();
    der::nested(der::SEQUENCE, &mut info, |cri| {
        der::write(der::INTEGER, &[0], cri);
        cri.extend_from_slice(&name_der(subject).unwrap_or_default());
        cri.extend_from_slice(spki);
        der::nested(0xa0, cri, |attrs| {
            der::nested(der::SEQUENCE, attrs, |attr| {
                der::write(der::OID, OID_EXTENSION_REQUEST, attr);
                der::nested(der::SET, attr, |set| {
                    der::nested(der::SEQUENCE, set, |exts| {
                        if let Some(dns) = san {
                            der::nested(der::SEQUENCE, exts, |ext| {
                                der::write(der::OID, OID_SAN, ext);
                                der::nested(der::OCTET_STRING, ext, |v| {
                                    der::nested(der::SEQUENCE, v, |names| {
                                        der::write(0x82, dns.as_bytes(), names);
                                    });
                                });
                            });
                        }
                        der::nested(der::SEQUENCE, exts, |ext| {
                            der::write(der::OID, OID_KEY_USAGE, ext);
                            der::nested(der::OCTET_STRING, ext, |v| {
                                // Bits from the left: 0 digitalSignature, 1 nonRepudiation,
                                // 2 keyEncipherment, 3 dataEncipherment, 5 keyCertSign.
                                let (unused, bits) = match usage {
                                    KeyUsage::Signing => (2u8, 0b0100_0100u8),
                                    KeyUsage::Authentication => (4, 0b1011_0000),
                                };
                                der::write(der::BIT_STRING, &[unused, bits], v);
                            });
                        });
                    });
                });
            });
        });
    });
    // An unencodable subject was reported as empty above: check it now with its error.
    name_der(subject)?;
    let (algorithm, oid, null) = match mechanism {
        SignMechanism::Ecdsa => (
            SignatureAlgorithm::new(DigestAlgorithm::Sha256, SignMechanism::Ecdsa),
            OID_ECDSA_SHA256,
            false,
        ),
        _ => (
            SignatureAlgorithm::new(DigestAlgorithm::Sha256, SignMechanism::RsaPkcs1),
            OID_RSA_SHA256,
            true,
        ),
    };
    let digest = DigestAlgorithm::Sha256.digest(&info);
    let signature = key.sign(algorithm, digest.as_bytes())?;
    let mut out = Vec::new();
    der::nested(der::SEQUENCE, &mut out, |req| {
        req.extend_from_slice(&info);
        der::nested(der::SEQUENCE, req, |alg| {
            der::write(der::OID, oid, alg);
            if null {
                der::write(der::NULL, &[], alg);
            }
        });
        let mut bits = vec![0u8];
        bits.extend_from_slice(&signature);
        der::write(der::BIT_STRING, &bits, req);
    });
    Ok(match format {
        CsrFormat::Der => out,
        CsrFormat::Pem => pem("CERTIFICATE REQUEST", &out).into_bytes(),
    })
}

pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(line));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> SubjectParams {
        let owner = ClientId::member("DEV", "COM", "1234").unwrap();
        SubjectParams {
            server: SecurityServerId::new(owner.clone(), "SS0").unwrap(),
            member: Some(owner),
            member_name: "Test member".into(),
        }
    }

    #[test]
    fn fivrk_signing_subject() {
        let fields =
            subject_fields(CertificateProfile::FiVrk, KeyUsage::Signing, &params()).unwrap();
        let values = vec![
            ("O".to_owned(), "Org".to_owned()),
            ("subjectAltName".to_owned(), "ss0.example.org".to_owned()),
        ];
        let (subject, san) = resolve_subject(&fields, &values).unwrap();
        assert_eq!(
            subject_string(&subject),
            "C=FI, O=Org, serialNumber=DEV/SS0/COM, CN=1234"
        );
        assert_eq!(san.as_deref(), Some("ss0.example.org"));
        let err = resolve_subject(&fields, &values[..1])
            .unwrap_err()
            .to_string();
        assert!(err.contains("subjectAltName"), "{err}");
        let err = resolve_subject(
            &fields,
            &[("O".into(), "Org".into()), ("CN".into(), "x".into())],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("fixed"), "{err}");
        let err = resolve_subject(&fields, &[("XX".into(), "x".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown subject field XX"), "{err}");
    }

    #[test]
    fn every_profile_has_fields_or_says_why_not() {
        use CertificateProfile::*;
        for p in [Ejbca, Basic, BasicAcme, FiVrk, Fo, Is, SkKlass3] {
            for u in [KeyUsage::Signing, KeyUsage::Authentication] {
                assert!(!subject_fields(p, u, &params()).unwrap().is_empty());
            }
        }
        assert!(subject_fields(SkEsteId, KeyUsage::Signing, &params()).is_err());
        let s = short(&params().server);
        assert_eq!(s, "DEV/COM/1234/SS0");
    }
}
