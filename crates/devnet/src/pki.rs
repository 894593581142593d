//! A test PKI built in-process: a CA, its OCSP responder certificate, and authentication and
//! signing certificates for public keys that signers generated.
//!
//! Subjects follow X-Road's EJBCA certificate profile ([`PROFILE`]), the one X-Road's own
//! test CA uses: signing certificates `C=<instance>, O=<member class>, CN=<member code>`
//! (which is how the profile maps them to the member), authentication certificates
//! `C=<instance>, CN=<server code>`. Keys are ECDSA P-256 by default, fast enough to build a
//! whole network in well under a second; RSA 2048 is available.

use std::time::{Duration, SystemTime};

use openssl::asn1::{Asn1Integer, Asn1Time, Asn1Type};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509Name, X509NameBuilder, X509};
use xroad_identifiers::{ClientId, SecurityServerId};

/// The certificate profile the test CA issues for (Java class name, as global configuration
/// writes it).
pub const PROFILE: &str =
    "ee.ria.xroad.common.certificateprofile.impl.EjbcaCertificateProfileInfoProvider";

/// Why building or issuing failed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// OpenSSL refused something.
    #[error("OpenSSL: {0}")]
    Openssl(#[from] openssl::error::ErrorStack),
    /// A value cannot go into a certificate.
    #[error("{0}")]
    Invalid(String),
}

/// The kind of keys the PKI makes for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyKind {
    /// ECDSA on P-256 (fast to generate).
    #[default]
    EcP256,
    /// RSA with a 2048-bit modulus.
    Rsa2048,
}

/// A new private key.
pub fn generate_key(kind: KeyKind) -> Result<PKey<Private>, PkiError> {
    Ok(match kind {
        KeyKind::EcP256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
            PKey::from_ec_key(EcKey::generate(&group)?)?
        }
        KeyKind::Rsa2048 => PKey::from_rsa(Rsa::generate(2048)?)?,
    })
}

/// The subject attributes used here.
#[derive(Debug, Clone, Copy)]
enum Attr {
    C,
    O,
    Cn,
}

fn name(entries: &[(Attr, &str)]) -> Result<X509Name, PkiError> {
    let mut b = X509NameBuilder::new()?;
    for (attr, value) in entries {
        let (nid, field) = match attr {
            Attr::C => (Nid::COUNTRYNAME, "C"),
            Attr::O => (Nid::ORGANIZATIONNAME, "O"),
            Attr::Cn => (Nid::COMMONNAME, "CN"),
        };
        // UTF8String with the type given explicitly: OpenSSL then skips its size table,
        // which would refuse `C=DEV` (an instance identifier, not a two-letter country).
        b.append_entry_by_nid_with_type(nid, value, Asn1Type::UTF8STRING)
            .map_err(|_| PkiError::Invalid(format!("{field}={value:?} cannot be encoded")))?;
    }
    Ok(b.build())
}

/// A random positive 64-bit serial number (unique enough across rebuilds of a network).
fn serial() -> Result<Asn1Integer, PkiError> {
    let mut bn = BigNum::new()?;
    bn.rand(63, MsbOption::MAYBE_ZERO, false)?;
    bn.add_word(1)?;
    Ok(bn.to_asn1_integer()?)
}

fn time(t: SystemTime) -> Result<Asn1Time, PkiError> {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    Ok(Asn1Time::from_unix(
        i64::try_from(secs).unwrap_or(i64::MAX),
    )?)
}

fn digest() -> MessageDigest {
    MessageDigest::sha256()
}

/// A certificate builder for `subject` with `key`, valid from an hour ago (clock skew) for
/// `days`.
fn builder(
    subject: &X509Name,
    key: &PKey<impl openssl::pkey::HasPublic>,
    days: u32,
) -> Result<X509Builder, PkiError> {
    let now = SystemTime::now();
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let serial = serial()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(subject)?;
    b.set_pubkey(key)?;
    let not_before = time(now - Duration::from_secs(3600))?;
    let not_after = time(now + Duration::from_secs(u64::from(days) * 86_400))?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    Ok(b)
}

/// A self-signed certificate for `key` with `CN=<common_name>` (e.g. the central server's
/// configuration signing key).
pub fn self_signed(key: &PKey<Private>, common_name: &str, days: u32) -> Result<X509, PkiError> {
    let subject = name(&[(Attr::Cn, common_name)])?;
    let mut b = builder(&subject, key, days)?;
    b.set_issuer_name(&subject)?;
    b.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
    b.sign(key, digest())?;
    Ok(b.build())
}

/// The test CA and its OCSP responder.
pub struct Pki {
    ca_key: PKey<Private>,
    ca_cert: X509,
    ocsp_key: PKey<Private>,
    ocsp_cert: X509,
    days: u32,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("ca", &self.ca_cert.subject_name())
            .finish_non_exhaustive()
    }
}

impl Pki {
    /// A new CA `CN=<name>` (self-signed, valid 10 years) with an OCSP responder certificate
    /// `CN=<name> OCSP` (extended key usage OCSPSigning), keys of `kind`.
    pub fn new(name_: &str, kind: KeyKind) -> Result<Pki, PkiError> {
        let days = 3650;
        let ca_key = generate_key(kind)?;
        let subject = name(&[(Attr::Cn, name_)])?;
        let mut b = builder(&subject, &ca_key, days)?;
        b.set_issuer_name(&subject)?;
        b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .digital_signature()
                .build()?,
        )?;
        let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
        b.append_extension(ski)?;
        b.sign(&ca_key, digest())?;
        let ca_cert = b.build();

        let ocsp_key = generate_key(kind)?;
        let mut pki = Pki {
            ca_key,
            ca_cert,
            ocsp_cert: X509::builder()?.build(),
            ocsp_key,
            days,
        };
        let ocsp_subject = self::name(&[(Attr::Cn, &format!("{name_} OCSP"))])?;
        let mut b = pki.issued(&ocsp_subject, &pki.ocsp_key)?;
        b.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
        b.append_extension(ExtendedKeyUsage::new().other("OCSPSigning").build()?)?;
        pki.ocsp_cert = pki.sign(b)?;
        Ok(pki)
    }

    /// Restores a PKI saved with [`Pki::to_pem`].
    pub fn from_pem(pem: &[u8]) -> Result<Pki, PkiError> {
        let certs = X509::stack_from_pem(pem)?;
        let [ca_cert, ocsp_cert] = <[X509; 2]>::try_from(certs)
            .map_err(|_| PkiError::Invalid("expected the CA and OCSP certificates".into()))?;
        let mut keys = Vec::new();
        let text = String::from_utf8_lossy(pem);
        let mut rest = text.as_ref();
        while let Some(start) = rest.find("-----BEGIN PRIVATE KEY-----") {
            let end_marker = "-----END PRIVATE KEY-----";
            let end = rest[start..]
                .find(end_marker)
                .ok_or_else(|| PkiError::Invalid("unterminated private key".into()))?
                + start
                + end_marker.len();
            keys.push(PKey::private_key_from_pem(&rest.as_bytes()[start..end])?);
            rest = &rest[end..];
        }
        let [ca_key, ocsp_key] = <[PKey<Private>; 2]>::try_from(keys)
            .map_err(|_| PkiError::Invalid("expected the CA and OCSP keys".into()))?;
        Ok(Pki {
            ca_key,
            ca_cert,
            ocsp_key,
            ocsp_cert,
            days: 3650,
        })
    }

    /// The CA and responder certificates and keys as PEM (keys unencrypted: a test PKI).
    pub fn to_pem(&self) -> Result<Vec<u8>, PkiError> {
        let mut out = self.ca_cert.to_pem()?;
        out.extend(self.ocsp_cert.to_pem()?);
        out.extend(self.ca_key.private_key_to_pem_pkcs8()?);
        out.extend(self.ocsp_key.private_key_to_pem_pkcs8()?);
        Ok(out)
    }

    fn issued(
        &self,
        subject: &X509Name,
        key: &PKey<impl openssl::pkey::HasPublic>,
    ) -> Result<X509Builder, PkiError> {
        let mut b = builder(subject, key, self.days)?;
        b.set_issuer_name(self.ca_cert.subject_name())?;
        let aki = AuthorityKeyIdentifier::new()
            .keyid(false)
            .build(&b.x509v3_context(Some(&self.ca_cert), None))?;
        b.append_extension(aki)?;
        Ok(b)
    }

    fn sign(&self, mut b: X509Builder) -> Result<X509, PkiError> {
        b.sign(&self.ca_key, digest())?;
        Ok(b.build())
    }

    /// The CA certificate.
    pub fn ca_cert(&self) -> &X509 {
        &self.ca_cert
    }

    /// The CA certificate, DER.
    pub fn ca_cert_der(&self) -> Result<Vec<u8>, PkiError> {
        Ok(self.ca_cert.to_der()?)
    }

    /// The OCSP responder certificate.
    pub fn ocsp_cert(&self) -> &X509 {
        &self.ocsp_cert
    }

    /// The OCSP responder certificate, DER.
    pub fn ocsp_cert_der(&self) -> Result<Vec<u8>, PkiError> {
        Ok(self.ocsp_cert.to_der()?)
    }

    /// The OCSP responder's key.
    pub fn ocsp_key(&self) -> &PKey<Private> {
        &self.ocsp_key
    }

    /// An authentication certificate of security server `server` for the public key
    /// `spki_der` (DER `SubjectPublicKeyInfo`): `C=<instance>, CN=<server code>`, key usage
    /// digitalSignature and keyEncipherment, extended key usage clientAuth and serverAuth.
    pub fn issue_auth_cert(
        &self,
        spki_der: &[u8],
        server: &SecurityServerId,
    ) -> Result<Vec<u8>, PkiError> {
        let key = PKey::public_key_from_der(spki_der)?;
        let subject = name(&[
            (Attr::C, server.owner().instance()),
            (Attr::Cn, server.server_code()),
        ])?;
        let mut b = self.issued(&subject, &key)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .key_encipherment()
                .build()?,
        )?;
        b.append_extension(
            ExtendedKeyUsage::new()
                .client_auth()
                .server_auth()
                .build()?,
        )?;
        Ok(self.sign(b)?.to_der()?)
    }

    /// A signing certificate of `member` (its member, for a subsystem) for the public key
    /// `spki_der`: `C=<instance>, O=<member class>, CN=<member code>`, key usage
    /// nonRepudiation.
    pub fn issue_sign_cert(&self, spki_der: &[u8], member: &ClientId) -> Result<Vec<u8>, PkiError> {
        let key = PKey::public_key_from_der(spki_der)?;
        let subject = name(&[
            (Attr::C, member.instance()),
            (Attr::O, member.member_class()),
            (Attr::Cn, member.member_code()),
        ])?;
        let mut b = self.issued(&subject, &key)?;
        b.append_extension(KeyUsage::new().critical().non_repudiation().build()?)?;
        Ok(self.sign(b)?.to_der()?)
    }
}

/// The serial number of a DER certificate as upper-case hex of its magnitude (what
/// [`crate::ocsp::OcspResponder::set_revoked`] takes).
pub fn serial_hex(cert_der: &[u8]) -> Result<String, PkiError> {
    let cert = X509::from_der(cert_der)?;
    Ok(hex_upper(&cert.serial_number().to_bn()?.to_vec()))
}

/// A random alphanumeric secret of `len` characters (token PINs of the demo network).
pub fn random_secret(len: usize) -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), len)
}

pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use xroad_crypto::{ApprovedCa, CaCert, Certificate, CertificateProfile, TrustContext};

    fn member() -> ClientId {
        ClientId::member("DEV", "COM", "1234").unwrap()
    }

    #[test]
    fn certificates_map_through_the_ejbca_profile_and_chain_to_the_ca() {
        let pki = Pki::new("Test CA", KeyKind::EcP256).unwrap();
        let ca = Certificate::from_der(&pki.ca_cert_der().unwrap()).unwrap();
        assert!(ca.is_ca());
        let key = generate_key(KeyKind::EcP256).unwrap();
        let spki = key.public_key_to_der().unwrap();

        let sign = pki.issue_sign_cert(&spki, &member()).unwrap();
        let sign = Certificate::from_der(&sign).unwrap();
        assert!(sign.is_signing_cert().unwrap());
        assert!(!sign.is_auth_cert().unwrap());
        sign.is_signed_by(&ca).unwrap();
        assert!(sign.is_valid_at(SystemTime::now()));
        let profile = CertificateProfile::from_class_name(PROFILE).unwrap();
        assert_eq!(profile.subject_member(&sign, "DEV").unwrap(), member());

        let server = SecurityServerId::new(member(), "SS1").unwrap();
        let auth = pki.issue_auth_cert(&spki, &server).unwrap();
        let auth = Certificate::from_der(&auth).unwrap();
        assert!(auth.is_auth_cert().unwrap());
        assert!(!auth.is_signing_cert().unwrap());
        auth.is_signed_by(&ca).unwrap();

        let ocsp = Certificate::from_der(&pki.ocsp_cert_der().unwrap()).unwrap();
        ocsp.is_signed_by(&ca).unwrap();
        let trust = TrustContext::new(vec![ApprovedCa {
            name: "Test CA".into(),
            instance: "DEV".into(),
            profile_class: PROFILE.into(),
            authentication_only: false,
            top: CaCert::new(Arc::new(ca.clone())),
            intermediates: vec![],
        }]);
        assert!(trust.issuer_in("DEV", &sign).is_some());
        assert_ne!(
            serial_hex(sign.der()).unwrap(),
            serial_hex(auth.der()).unwrap()
        );
    }

    #[test]
    fn rsa_keys_and_pem_round_trip() {
        let pki = Pki::new("RSA CA", KeyKind::Rsa2048).unwrap();
        let pem = pki.to_pem().unwrap();
        let again = Pki::from_pem(&pem).unwrap();
        assert_eq!(again.ca_cert_der().unwrap(), pki.ca_cert_der().unwrap());
        let key = generate_key(KeyKind::Rsa2048).unwrap();
        let cert = again
            .issue_sign_cert(&key.public_key_to_der().unwrap(), &member())
            .unwrap();
        let ca = Certificate::from_der(&pki.ca_cert_der().unwrap()).unwrap();
        Certificate::from_der(&cert)
            .unwrap()
            .is_signed_by(&ca)
            .unwrap();
    }

    #[test]
    fn the_configuration_signing_key_loads_into_the_publisher() {
        for kind in [KeyKind::EcP256, KeyKind::Rsa2048] {
            let key = generate_key(kind).unwrap();
            let cert = self_signed(&key, "Central server", 30).unwrap();
            crate::SigningKey::from_pkcs8(
                &key.private_key_to_pkcs8().unwrap(),
                cert.to_der().unwrap(),
            )
            .unwrap();
        }
    }
}
