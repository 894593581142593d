//! Certificate requests and certificates of the signer's keys: generate a CSR, import the
//! certificate the CA returns, match it to its key, classify it, check its chain, and list,
//! activate and deactivate certificates.

use std::sync::Arc;
use std::time::SystemTime;

use xroad_crypto::profile::CertificateProfile;
use xroad_crypto::{Certificate, TrustContext};
use xroad_identifiers::ClientId;

use crate::csr::{self, CsrFormat, SubjectParams};
use crate::error::{Result, SignerError};
use crate::keyconf::{status, CertEntry, CertRequest, KeyUsage};
use crate::signer::Signer;
use crate::softtoken::SOFT_TOKEN_ID;

/// A generated certificate request.
#[derive(Debug, Clone)]
pub struct GeneratedCsr {
    /// The subject as recorded in `keyconf.xml`.
    pub subject: String,
    /// The SAN dNSName, if any.
    pub subject_alt_name: Option<String>,
    /// The request, PEM or DER.
    pub bytes: Vec<u8>,
}

/// A certificate as listed.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// Upper-case hex SHA-1 of the DER (the `cert/@id` Java writes).
    pub id: String,
    /// The key.
    pub key_id: String,
    /// The token.
    pub token_id: String,
    /// Signing or authentication.
    pub usage: Option<KeyUsage>,
    /// The member (signing certificates).
    pub member: Option<ClientId>,
    /// Used by the proxy (with status `registered`).
    pub active: bool,
    /// Status.
    pub status: Option<String>,
    /// The parsed certificate.
    pub cert: Arc<Certificate>,
}

/// The global configuration a certificate is checked against.
#[derive(Debug, Clone, Copy)]
pub struct ChainCheck<'a> {
    /// Approved CAs.
    pub trust: &'a TrustContext,
    /// The instance of the members whose certificates these are.
    pub instance: &'a str,
}

fn cert_id(cert: &Certificate) -> String {
    cert.sha1_hex().to_ascii_uppercase()
}

fn is_self_signed(cert: &Certificate) -> bool {
    cert.subject().matches(cert.issuer()) && cert.is_signed_by(cert).is_ok()
}

/// Checks that `cert` is issued by an approved CA of `check.instance`; returns that CA's
/// profile.
pub fn check_chain(cert: &Certificate, check: ChainCheck<'_>) -> Result<CertificateProfile> {
    let (ca, anchor) = check
        .trust
        .issuer_in(check.instance, cert)
        .ok_or_else(|| SignerError::CertChain(xroad_crypto::path::NOT_APPROVED.into()))?;
    cert.is_signed_by(&anchor.cert).map_err(|e| {
        SignerError::CertChain(format!(
            "the signature of the approved CA {} does not verify: {e}",
            ca.name
        ))
    })?;
    if !cert.is_valid_at(SystemTime::now()) {
        return Err(SignerError::CertChain(format!(
            "certificate {} is not valid now",
            cert.subject()
        )));
    }
    CertificateProfile::from_class_name(&ca.profile_class)
        .map_err(|e| SignerError::CertChain(e.message().to_owned()))
}

impl Signer {
    /// Generates a request for `key_id` with the subject `profile` requires (`values` for the
    /// fields the user supplies), fixes the key's usage, and records the request.
    pub fn generate_csr(
        &self,
        key_id: &str,
        usage: KeyUsage,
        profile: CertificateProfile,
        params: &SubjectParams,
        values: &[(String, String)],
        format: CsrFormat,
    ) -> Result<GeneratedCsr> {
        let fields = csr::subject_fields(profile, usage, params)?;
        let (subject, san) = csr::resolve_subject(&fields, values)?;
        {
            let st = self.read()?;
            let (d, k) = st
                .keyconf
                .key(key_id)
                .ok_or_else(|| SignerError::KeyNotFound(key_id.to_owned()))?;
            if let Some(u) = k.usage {
                if u != usage {
                    return Err(SignerError::WrongCertUsage(format!(
                        "key {key_id} is a {u} key, not {usage}"
                    )));
                }
            }
            if usage == KeyUsage::Authentication && d.id != SOFT_TOKEN_ID {
                return Err(SignerError::WrongCertUsage(
                    "authentication keys must be on the software token".into(),
                ));
            }
        }
        let key = self.key_signer(key_id)?;
        let spki = self.public_key(key_id)?;
        let mechanism = self.sign_mechanism(key_id)?;
        let bytes = csr::create(
            &key,
            &spki,
            mechanism,
            usage,
            &subject,
            san.as_deref(),
            format,
        )?;
        let subject_string = csr::subject_string(&subject);
        let mut st = self.write()?;
        let k = st
            .keyconf
            .key_mut(key_id)
            .ok_or_else(|| SignerError::KeyNotFound(key_id.to_owned()))?;
        k.usage = Some(usage);
        let n = k.cert_requests.len();
        k.cert_requests.push(CertRequest {
            id: Some(format!("r{}-{}", n, &crate::keys::random_key_id()?[..8])),
            member_id: if usage == KeyUsage::Signing {
                params.member.clone()
            } else {
                None
            },
            subject_name: subject_string.clone(),
            subject_alt_name: san.clone(),
            certificate_profile: Some(profile.class_name()),
        });
        self.save(&st)?;
        tracing::info!(key = key_id, usage = %usage, "certificate request generated");
        Ok(GeneratedCsr {
            subject: subject_string,
            subject_alt_name: san,
            bytes,
        })
    }

    /// Imports a certificate (PEM or DER): matched to its key by public key, classified as
    /// signing (nonRepudiation) or authentication, checked against the approved CAs of
    /// `check` (unless self-signed or `check` is `None`), recorded with `status` (default:
    /// `registered` for signing, `saved` for authentication certificates) and active. The
    /// member of a signing certificate is `member`, or what the CA's profile reads from it.
    pub fn import_cert(
        &self,
        bytes: &[u8],
        member: Option<ClientId>,
        check: Option<ChainCheck<'_>>,
        status: Option<&str>,
    ) -> Result<CertInfo> {
        let cert = Certificate::from_pem_or_der(bytes)
            .map_err(|e| SignerError::InvalidCert(e.to_string()))?;
        let id = cert_id(&cert);
        let sign = cert
            .is_signing_cert()
            .map_err(|e| SignerError::WrongCertUsage(e.message().to_owned()))?;
        let auth = cert
            .is_auth_cert()
            .map_err(|e| SignerError::WrongCertUsage(e.message().to_owned()))?;
        let usage = match (sign, auth) {
            (true, false) => KeyUsage::Signing,
            (false, true) => KeyUsage::Authentication,
            (true, true) => {
                return Err(SignerError::WrongCertUsage(format!(
                    "certificate {id} is both a signing (nonRepudiation) and an authentication certificate"
                )))
            }
            (false, false) => {
                return Err(SignerError::WrongCertUsage(format!(
                    "certificate {id} is neither a signing nor an authentication certificate"
                )))
            }
        };
        let profile = match check {
            Some(c) if !is_self_signed(&cert) => Some(check_chain(&cert, c)?),
            _ => None,
        };
        let member = match (usage, member, profile, check) {
            (KeyUsage::Authentication, _, _, _) => None,
            (KeyUsage::Signing, Some(m), _, _) => Some(m),
            (KeyUsage::Signing, None, Some(p), Some(c)) => Some(
                p.subject_member(&cert, c.instance)
                    .map_err(|e| SignerError::InvalidCert(e.message().to_owned()))?,
            ),
            (KeyUsage::Signing, None, _, _) => {
                return Err(SignerError::InvalidInput(
                    "a signing certificate needs its member (or a global configuration to read it from the certificate)".into(),
                ))
            }
        };
        let cert_spki = cert_public_key_der(&cert)?;
        let mut st = self.write()?;
        let found = st.keyconf.devices.iter().find_map(|d| {
            d.keys
                .iter()
                .find(|k| {
                    k.public_key
                        .as_deref()
                        .is_some_and(|p| same_key(p, &cert_spki))
                })
                .map(|k| (d.id.clone(), k.key_id.clone(), k.usage))
        });
        let (token_id, key_id, key_usage) =
            found.ok_or_else(|| SignerError::CertKeyNotFound(id.clone()))?;
        if st
            .keyconf
            .devices
            .iter()
            .flat_map(|d| &d.keys)
            .flat_map(|k| &k.certs)
            .any(|c| c.contents == cert.der())
        {
            return Err(SignerError::CertExists(id));
        }
        if let Some(u) = key_usage {
            if u != usage {
                return Err(SignerError::WrongCertUsage(format!(
                    "certificate {id} is a {usage} certificate but key {key_id} is a {u} key"
                )));
            }
        }
        if usage == KeyUsage::Authentication && token_id != SOFT_TOKEN_ID {
            return Err(SignerError::WrongCertUsage(
                "authentication certificates must belong to keys on the software token".into(),
            ));
        }
        let status = status.map(str::to_owned).unwrap_or_else(|| match usage {
            KeyUsage::Signing => status::REGISTERED.into(),
            KeyUsage::Authentication => status::SAVED.into(),
        });
        let key = st
            .keyconf
            .key_mut(&key_id)
            .ok_or_else(|| SignerError::KeyNotFound(key_id.clone()))?;
        key.usage = Some(usage);
        // The request this certificate answers is done.
        key.cert_requests
            .retain(|r| usage == KeyUsage::Signing && r.member_id.as_ref() != member.as_ref());
        key.certs.push(CertEntry {
            active: true,
            id: Some(id.clone()),
            member_id: member.clone(),
            contents: cert.der().to_vec(),
            status: Some(status.clone()),
            other: Vec::new(),
        });
        self.save(&st)?;
        tracing::info!(cert = %id, key = %key_id, usage = %usage, "certificate imported");
        Ok(CertInfo {
            id,
            key_id,
            token_id,
            usage: Some(usage),
            member,
            active: true,
            status: Some(status),
            cert: Arc::new(cert),
        })
    }

    /// Every certificate of every key.
    pub fn certs(&self) -> Result<Vec<CertInfo>> {
        let st = self.read()?;
        let mut out = Vec::new();
        for d in &st.keyconf.devices {
            for k in &d.keys {
                for c in &k.certs {
                    let cert = Certificate::from_der(&c.contents).map_err(|e| {
                        SignerError::Config(format!(
                            "keyconf.xml: a certificate of key {}: {e}",
                            k.key_id
                        ))
                    })?;
                    out.push(CertInfo {
                        id: cert_id(&cert),
                        key_id: k.key_id.clone(),
                        token_id: d.id.clone(),
                        usage: k.usage,
                        member: c.member_id.clone(),
                        active: c.active,
                        status: c.status.clone(),
                        cert: Arc::new(cert),
                    });
                }
            }
        }
        Ok(out)
    }

    fn with_cert(&self, cert_id_or_prefix: &str, f: impl FnOnce(&mut CertEntry)) -> Result<()> {
        let wanted = cert_id_or_prefix.to_ascii_uppercase();
        let mut st = self.write()?;
        let entry = st
            .keyconf
            .devices
            .iter_mut()
            .flat_map(|d| d.keys.iter_mut())
            .flat_map(|k| k.certs.iter_mut())
            .find(|c| Certificate::from_der(&c.contents).is_ok_and(|cert| cert_id(&cert) == wanted))
            .ok_or_else(|| SignerError::CertNotFound(cert_id_or_prefix.to_owned()))?;
        f(entry);
        self.save(&st)
    }

    /// Activates or deactivates a certificate (by its SHA-1 hex id).
    pub fn set_cert_active(&self, cert_id: &str, active: bool) -> Result<()> {
        self.with_cert(cert_id, |c| c.active = active)?;
        tracing::info!(cert = cert_id, active, "certificate activation changed");
        Ok(())
    }

    /// Sets a certificate's status.
    pub fn set_cert_status(&self, cert_id: &str, status: &str) -> Result<()> {
        self.with_cert(cert_id, |c| c.status = Some(status.to_owned()))
    }

    /// Deletes a certificate from `keyconf.xml`.
    pub fn delete_cert(&self, cert_id: &str) -> Result<()> {
        let wanted = cert_id.to_ascii_uppercase();
        let mut st = self.write()?;
        let mut found = false;
        for k in st
            .keyconf
            .devices
            .iter_mut()
            .flat_map(|d| d.keys.iter_mut())
        {
            let before = k.certs.len();
            k.certs.retain(|c| {
                !Certificate::from_der(&c.contents).is_ok_and(|cert| cert_id_of(&cert) == wanted)
            });
            found |= k.certs.len() != before;
        }
        if !found {
            return Err(SignerError::CertNotFound(cert_id.to_owned()));
        }
        self.save(&st)
    }

    /// The key and certificate that sign for `member` (Java's `GetMemberSigningInfo`): the
    /// first active, registered signing certificate of the member (a subsystem signs with its
    /// member's), valid now, whose key can sign.
    pub fn member_signing_info(&self, member: &ClientId) -> Result<CertInfo> {
        let owner = member.member_id();
        let now = SystemTime::now();
        self.certs()?
            .into_iter()
            .find(|c| {
                c.usage == Some(KeyUsage::Signing)
                    && c.active
                    && c.status.as_deref() == Some(status::REGISTERED)
                    && c.member.as_ref().is_some_and(|m| m.member_id() == owner)
                    && c.cert.is_valid_at(now)
                    && self.key_signer(&c.key_id).is_ok()
            })
            .ok_or_else(|| {
                SignerError::KeyNotFound(format!(
                    "Could not find any certificates for member {member}"
                ))
            })
    }
}

fn cert_id_of(cert: &Certificate) -> String {
    cert_id(cert)
}

fn cert_public_key_der(cert: &Certificate) -> Result<Vec<u8>> {
    let x = openssl::x509::X509::from_der(cert.der())?;
    Ok(x.public_key()?.public_key_to_der()?)
}

/// Whether two DER `SubjectPublicKeyInfo`s hold the same key (re-encoded by OpenSSL, so
/// that equivalent encodings compare equal).
fn same_key(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let norm = |d: &[u8]| {
        openssl::pkey::PKey::public_key_from_der(d)
            .ok()
            .and_then(|k| k.public_key_to_der().ok())
    };
    matches!((norm(a), norm(b)), (Some(x), Some(y)) if x == y)
}

const OID_RSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];

/// DER time: UTCTime before 2050, GeneralizedTime from then on (RFC 5280 §4.1.2.5).
fn der_time(t: SystemTime, out: &mut Vec<u8>) {
    // `2026-11-29T10:58:29.000Z` → digits.
    let s = xroad_crypto::time::format_xsd_millis(t);
    let digits: String = s.chars().take(19).filter(char::is_ascii_digit).collect();
    let year: u32 = digits.get(..4).and_then(|y| y.parse().ok()).unwrap_or(2049);
    if year < 2050 {
        crate::der::write(0x17, format!("{}Z", &digits[2..]).as_bytes(), out);
    } else {
        crate::der::write(0x18, format!("{digits}Z").as_bytes(), out);
    }
}

impl Signer {
    /// A self-signed certificate for `key_id` (Java's `GenerateSelfSignedCert`): subject
    /// `CN=<common_name>`, valid `days` from now, key usage nonRepudiation (signing) or
    /// digitalSignature + keyEncipherment (authentication), signed on the key's token.
    /// Returns the DER; import it with [`Signer::import_cert`].
    pub fn self_signed_cert(
        &self,
        key_id: &str,
        common_name: &str,
        usage: KeyUsage,
        days: u32,
    ) -> Result<Vec<u8>> {
        use crate::der::{self, nested, write};
        let key = self.key_signer(key_id)?;
        let spki = self.public_key(key_id)?;
        let mechanism = self.sign_mechanism(key_id)?;
        let mut name = openssl::x509::X509NameBuilder::new()?;
        name.append_entry_by_text("CN", common_name).map_err(|_| {
            SignerError::InvalidInput(format!("common name {common_name:?} cannot be encoded"))
        })?;
        let name = name.build().to_der()?;
        let ec = mechanism == xroad_crypto::SignMechanism::Ecdsa;
        let alg_id = |out: &mut Vec<u8>| {
            nested(der::SEQUENCE, out, |a| {
                write(
                    der::OID,
                    if ec { OID_ECDSA_SHA256 } else { OID_RSA_SHA256 },
                    a,
                );
                if !ec {
                    write(der::NULL, &[], a);
                }
            })
        };
        let mut serial = [0u8; 16];
        openssl::rand::rand_bytes(&mut serial)?;
        serial[0] &= 0x7f;
        serial[0] |= 0x01;
        let now = SystemTime::now();
        let until = now + std::time::Duration::from_secs(u64::from(days.max(1)) * 86_400);
        let mut tbs = Vec::new();
        nested(der::SEQUENCE, &mut tbs, |t| {
            nested(0xa0, t, |v| write(der::INTEGER, &[2], v));
            write(der::INTEGER, &serial, t);
            alg_id(t);
            t.extend_from_slice(&name);
            nested(der::SEQUENCE, t, |v| {
                der_time(now, v);
                der_time(until, v);
            });
            t.extend_from_slice(&name);
            t.extend_from_slice(&spki);
            nested(0xa3, t, |x| {
                nested(der::SEQUENCE, x, |exts| {
                    nested(der::SEQUENCE, exts, |e| {
                        write(der::OID, OID_KEY_USAGE, e);
                        write(0x01, &[0xff], e);
                        nested(der::OCTET_STRING, e, |v| {
                            let (unused, bits) = match usage {
                                KeyUsage::Signing => (6u8, 0b0100_0000u8),
                                KeyUsage::Authentication => (5, 0b1010_0000),
                            };
                            write(der::BIT_STRING, &[unused, bits], v);
                        });
                    });
                });
            });
        });
        let algorithm = xroad_crypto::SignatureAlgorithm::new(
            xroad_crypto::DigestAlgorithm::Sha256,
            if ec {
                xroad_crypto::SignMechanism::Ecdsa
            } else {
                xroad_crypto::SignMechanism::RsaPkcs1
            },
        );
        let signature = key.sign(
            algorithm,
            xroad_crypto::DigestAlgorithm::Sha256
                .digest(&tbs)
                .as_bytes(),
        )?;
        let mut out = Vec::new();
        nested(der::SEQUENCE, &mut out, |c| {
            c.extend_from_slice(&tbs);
            alg_id(c);
            let mut bits = vec![0u8];
            bits.extend_from_slice(&signature);
            write(der::BIT_STRING, &bits, c);
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyAlgorithm, Pin, SignerConfig};

    #[test]
    fn self_signed_certificates_import_and_classify() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::open(SignerConfig::new(dir.path())).unwrap();
        signer.init_software_token(&Pin::new("1234")).unwrap();
        let member = ClientId::member("DEV", "COM", "1").unwrap();
        for (alg, usage) in [
            (KeyAlgorithm::EcP256, KeyUsage::Signing),
            (KeyAlgorithm::Rsa(2048), KeyUsage::Authentication),
        ] {
            let key = signer.generate_key(SOFT_TOKEN_ID, alg, "k").unwrap();
            let der = signer
                .self_signed_cert(&key.key_id, "self", usage, 30)
                .unwrap();
            let x = openssl::x509::X509::from_der(&der).unwrap();
            assert!(x.verify(&x.public_key().unwrap()).unwrap());
            let info = signer
                .import_cert(&der, Some(member.clone()), None, None)
                .unwrap();
            assert_eq!(info.usage, Some(usage));
            assert_eq!(info.key_id, key.key_id);
        }
        assert_eq!(
            signer
                .member_signing_info(&member)
                .unwrap()
                .cert
                .subject()
                .rfc2253(),
            "CN=self"
        );
    }
}
