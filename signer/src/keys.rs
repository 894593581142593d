//! Key algorithms, key ids, and signing a digest with a private key held in memory.

use openssl::ec::{EcGroup, EcKey};
use openssl::md::Md;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, PKeyRef, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::{Padding, Rsa};
use openssl::sign::RsaPssSaltlen;
use xroad_crypto::{DigestAlgorithm, SignMechanism, SignatureAlgorithm};

use crate::error::{Result, SignerError};

/// The kind and size of a key to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSA with a modulus of 2048, 3072 or 4096 bits.
    Rsa(u32),
    /// ECDSA on NIST P-256 (secp256r1).
    EcP256,
    /// ECDSA on NIST P-384 (secp384r1).
    EcP384,
}

impl KeyAlgorithm {
    /// Parses `rsa2048`, `rsa3072`, `rsa4096` (also `rsa:2048`, `RSA-2048`), `ec-p256`,
    /// `ec-p384` (also `p256`, `secp256r1`, `p384`, `secp384r1`).
    pub fn parse(s: &str) -> Result<Self> {
        let t: String = s
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        Ok(match t.as_str() {
            "rsa" | "rsa2048" => KeyAlgorithm::Rsa(2048),
            "rsa3072" => KeyAlgorithm::Rsa(3072),
            "rsa4096" => KeyAlgorithm::Rsa(4096),
            "ec" | "ecp256" | "p256" | "secp256r1" | "prime256v1" => KeyAlgorithm::EcP256,
            "ecp384" | "p384" | "secp384r1" => KeyAlgorithm::EcP384,
            _ => {
                return Err(SignerError::InvalidInput(format!(
                    "unknown key algorithm {s:?} (rsa2048, rsa3072, rsa4096, ec-p256, ec-p384)"
                )))
            }
        })
    }

    /// The signing mechanism keys of this kind use by default.
    pub fn default_mechanism(self) -> SignMechanism {
        match self {
            KeyAlgorithm::Rsa(_) => SignMechanism::RsaPkcs1,
            _ => SignMechanism::Ecdsa,
        }
    }

    pub(crate) fn curve(self) -> Option<Nid> {
        match self {
            KeyAlgorithm::Rsa(_) => None,
            KeyAlgorithm::EcP256 => Some(Nid::X9_62_PRIME256V1),
            KeyAlgorithm::EcP384 => Some(Nid::SECP384R1),
        }
    }
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyAlgorithm::Rsa(bits) => write!(f, "rsa{bits}"),
            KeyAlgorithm::EcP256 => f.write_str("ec-p256"),
            KeyAlgorithm::EcP384 => f.write_str("ec-p384"),
        }
    }
}

/// Java's mechanism names, as `keyconf.xml` records them.
pub fn mechanism_name(m: SignMechanism) -> &'static str {
    match m {
        SignMechanism::RsaPkcs1 => "CKM_RSA_PKCS",
        SignMechanism::RsaPss => "CKM_RSA_PKCS_PSS",
        SignMechanism::Ecdsa => "CKM_ECDSA",
    }
}

/// Parses a mechanism name of `keyconf.xml` / `devices.ini`.
pub fn parse_mechanism(name: &str) -> Option<SignMechanism> {
    match name.trim() {
        "CKM_RSA_PKCS" => Some(SignMechanism::RsaPkcs1),
        "CKM_RSA_PKCS_PSS" => Some(SignMechanism::RsaPss),
        "CKM_ECDSA" => Some(SignMechanism::Ecdsa),
        _ => None,
    }
}

/// A fresh key id: 20 random bytes as upper-case hex (Java's `SignerUtil.randomId`).
pub(crate) fn random_key_id() -> Result<String> {
    let mut bytes = [0u8; 20];
    openssl::rand::rand_bytes(&mut bytes)?;
    Ok(hex_upper(&bytes))
}

pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Generates a key pair in memory.
pub(crate) fn generate(algorithm: KeyAlgorithm) -> Result<PKey<Private>> {
    match algorithm {
        KeyAlgorithm::Rsa(bits) => {
            if ![2048, 3072, 4096].contains(&bits) {
                return Err(SignerError::InvalidInput(format!(
                    "RSA keys of {bits} bits are not supported (2048, 3072, 4096)"
                )));
            }
            Ok(PKey::from_rsa(Rsa::generate(bits)?)?)
        }
        ec => {
            let group = EcGroup::from_curve_name(ec.curve().unwrap_or(Nid::X9_62_PRIME256V1))?;
            Ok(PKey::from_ec_key(EcKey::generate(&group)?)?)
        }
    }
}

fn md(d: DigestAlgorithm) -> &'static openssl::md::MdRef {
    match d {
        DigestAlgorithm::Sha1 => Md::sha1(),
        DigestAlgorithm::Sha224 => Md::sha224(),
        DigestAlgorithm::Sha256 => Md::sha256(),
        DigestAlgorithm::Sha384 => Md::sha384(),
        DigestAlgorithm::Sha512 => Md::sha512(),
    }
}

/// Signs `digest` (already computed with `algorithm.digest`) with `key`. The result is the
/// PKCS#1 / PSS value for RSA and a DER `ECDSA-Sig-Value` for EC keys (the JCA form).
pub(crate) fn sign_digest(
    key: &PKeyRef<Private>,
    algorithm: SignatureAlgorithm,
    digest: &[u8],
) -> Result<Vec<u8>> {
    if digest.len() != algorithm.digest.output_len() {
        return Err(SignerError::InvalidInput(format!(
            "a {} digest has {} bytes, not {}",
            algorithm.digest.name(),
            algorithm.digest.output_len(),
            digest.len()
        )));
    }
    let is_rsa = key.id() == Id::RSA;
    match (algorithm.mechanism, is_rsa) {
        (SignMechanism::RsaPkcs1 | SignMechanism::RsaPss, false) | (SignMechanism::Ecdsa, true) => {
            return Err(SignerError::Unsupported(format!(
                "the mechanism {} does not fit this key",
                mechanism_name(algorithm.mechanism)
            )))
        }
        _ => {}
    }
    let mut ctx = PkeyCtx::new(key)?;
    ctx.sign_init()?;
    match algorithm.mechanism {
        SignMechanism::RsaPkcs1 => {
            ctx.set_rsa_padding(Padding::PKCS1)?;
            ctx.set_signature_md(md(algorithm.digest))?;
        }
        SignMechanism::RsaPss => {
            ctx.set_rsa_padding(Padding::PKCS1_PSS)?;
            ctx.set_signature_md(md(algorithm.digest))?;
            ctx.set_rsa_mgf1_md(md(algorithm.digest))?;
            ctx.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
        }
        SignMechanism::Ecdsa => {}
    }
    let mut out = Vec::with_capacity(512);
    ctx.sign_to_vec(digest, &mut out)?;
    Ok(out)
}

/// An ECDSA signature of `digest` as XML-DSig carries it (raw `r‖s`, each half the field's
/// size), made straight from the EC key: no key context fetched per signature and no DER
/// written to be parsed again. `None` for a key that is not EC or a mechanism that is not ECDSA.
pub(crate) fn sign_digest_ecdsa_raw(
    key: &PKeyRef<Private>,
    algorithm: SignatureAlgorithm,
    digest: &[u8],
) -> Result<Option<Vec<u8>>> {
    if key.id() != Id::EC || algorithm.mechanism != SignMechanism::Ecdsa {
        return Ok(None);
    }
    if digest.len() != algorithm.digest.output_len() {
        return Ok(None); // sign_digest says what is wrong
    }
    let ec = key.ec_key()?;
    let field = i32::try_from(ec.group().degree().div_ceil(8))
        .map_err(|_| SignerError::Unsupported("elliptic curve of the key".into()))?;
    let sig = openssl::ecdsa::EcdsaSig::sign(digest, &ec)?;
    let mut raw = sig.r().to_vec_padded(field)?;
    raw.extend_from_slice(&sig.s().to_vec_padded(field)?);
    Ok(Some(raw))
}

/// DER `SubjectPublicKeyInfo` of a key.
pub(crate) fn spki_der<T: openssl::pkey::HasPublic>(key: &PKeyRef<T>) -> Result<Vec<u8>> {
    Ok(key.public_key_to_der()?)
}

/// The `KeyAlgorithm` of an existing key.
pub(crate) fn algorithm_of<T: openssl::pkey::HasPublic>(key: &PKeyRef<T>) -> Result<KeyAlgorithm> {
    match key.id() {
        Id::RSA => Ok(KeyAlgorithm::Rsa(key.bits())),
        Id::EC => {
            let nid = key.ec_key()?.group().curve_name();
            match nid {
                Some(Nid::X9_62_PRIME256V1) => Ok(KeyAlgorithm::EcP256),
                Some(Nid::SECP384R1) => Ok(KeyAlgorithm::EcP384),
                _ => Err(SignerError::Unsupported("elliptic curve of the key".into())),
            }
        }
        _ => Err(SignerError::Unsupported("key type".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xroad_crypto::algorithm::{EcdsaEncoding, PublicKey};

    #[test]
    fn signs_digests_that_xroad_crypto_verifies() {
        let message = b"hello";
        for (alg, mech) in [
            (KeyAlgorithm::Rsa(2048), SignMechanism::RsaPkcs1),
            (KeyAlgorithm::Rsa(2048), SignMechanism::RsaPss),
            (KeyAlgorithm::EcP256, SignMechanism::Ecdsa),
            (KeyAlgorithm::EcP384, SignMechanism::Ecdsa),
        ] {
            let key = generate(alg).unwrap();
            let sa = SignatureAlgorithm::new(DigestAlgorithm::Sha256, mech);
            let d = DigestAlgorithm::Sha256.digest(message);
            let sig = sign_digest(&key, sa, d.as_bytes()).unwrap();
            let public = PublicKey::from_spki_der(&spki_der(&key).unwrap()).unwrap();
            public
                .verify(sa, message, &sig, EcdsaEncoding::Der)
                .unwrap();
            assert_eq!(algorithm_of(&key).unwrap(), alg);
        }
    }

    #[test]
    fn larger_rsa_keys() {
        // 4096-bit generation takes seconds: 3072 stands for the larger sizes here.
        let key = generate(KeyAlgorithm::Rsa(3072)).unwrap();
        assert_eq!(algorithm_of(&key).unwrap(), KeyAlgorithm::Rsa(3072));
        assert!(generate(KeyAlgorithm::Rsa(1024)).is_err());
    }

    #[test]
    fn refuses_mismatches() {
        let key = generate(KeyAlgorithm::EcP256).unwrap();
        let sa = SignatureAlgorithm::new(DigestAlgorithm::Sha256, SignMechanism::RsaPkcs1);
        assert!(sign_digest(&key, sa, &[0; 32]).is_err());
        let sa = SignatureAlgorithm::new(DigestAlgorithm::Sha256, SignMechanism::Ecdsa);
        let err = sign_digest(&key, sa, &[0; 20]).unwrap_err().to_string();
        assert!(err.contains("32 bytes"), "{err}");
        assert!(KeyAlgorithm::parse("dsa").is_err());
        assert_eq!(
            KeyAlgorithm::parse("RSA-3072").unwrap(),
            KeyAlgorithm::Rsa(3072)
        );
    }

    #[test]
    fn raw_ecdsa_values_verify_at_every_length_of_r_and_s() {
        for alg in [KeyAlgorithm::EcP256, KeyAlgorithm::EcP384] {
            let key = generate(alg).unwrap();
            let public = PublicKey::from_spki_der(&spki_der(&key).unwrap()).unwrap();
            let sa = SignatureAlgorithm::new(DigestAlgorithm::Sha512, SignMechanism::Ecdsa);
            let field = if alg == KeyAlgorithm::EcP256 { 32 } else { 48 };
            // Enough signatures that some r or s has a leading zero byte (1 in 128 each).
            for i in 0..600u32 {
                let message = i.to_be_bytes();
                let d = DigestAlgorithm::Sha512.digest(&message);
                let raw = sign_digest_ecdsa_raw(&key, sa, d.as_bytes())
                    .unwrap()
                    .unwrap();
                assert_eq!(raw.len(), 2 * field);
                public
                    .verify(sa, &message, &raw, EcdsaEncoding::Raw)
                    .unwrap();
            }
        }
        let rsa = generate(KeyAlgorithm::Rsa(2048)).unwrap();
        let sa = SignatureAlgorithm::new(DigestAlgorithm::Sha256, SignMechanism::RsaPkcs1);
        assert!(sign_digest_ecdsa_raw(&rsa, sa, &[0; 32]).unwrap().is_none());
        let ec = generate(KeyAlgorithm::EcP256).unwrap();
        let sa = SignatureAlgorithm::new(DigestAlgorithm::Sha256, SignMechanism::Ecdsa);
        assert!(sign_digest_ecdsa_raw(&ec, sa, &[0; 20]).unwrap().is_none());
    }
}
