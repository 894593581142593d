//! PKCS#11 tokens through `cryptoki`: modules configured like Java's `devices.ini`, keys
//! generated on the device (sensitive, not extractable) and used there.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use xroad_crypto::{DigestAlgorithm, SignMechanism, SignatureAlgorithm};

use crate::error::{Result, SignerError};
use crate::keys::{hex_upper, KeyAlgorithm};
use crate::pin::Pin;

/// One module section of `devices.ini`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleConf {
    /// The section name: the module type, the token's `deviceType` in `keyconf.xml`.
    pub id: String,
    /// Whether the module is used.
    pub enabled: bool,
    /// The PKCS#11 library.
    pub library: PathBuf,
    /// Only these slot ids, if given.
    pub slot_ids: Vec<u64>,
    /// The RSA signing mechanism (`CKM_RSA_PKCS` default, or `CKM_RSA_PKCS_PSS`).
    pub sign_mechanism: SignMechanism,
    /// Whether requests may be batched into one signature (default true).
    pub batch_signing_enabled: bool,
    /// Whether the module is write protected.
    pub read_only: bool,
    /// How token ids are made: `{moduleType}{slotIndex}{serialNumber}{label}` by default.
    pub token_id_format: String,
}

const DEFAULT_TOKEN_ID_FORMAT: &str = "{moduleType}{slotIndex}{serialNumber}{label}";

/// Parses `devices.ini`: `[module]` sections with `library`, `enabled`, `slot_ids`,
/// `sign_mechanism`, `batch_signing_enabled`, `read_only`, `token_id_format`; other keys
/// (pin, attribute flags) are accepted and ignored.
pub fn parse_devices_ini(text: &str) -> Result<Vec<ModuleConf>> {
    let mut out: Vec<ModuleConf> = Vec::new();
    let bool_of = |v: &str, line: usize| match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(SignerError::Config(format!(
            "devices.ini line {line}: {v:?} is not a boolean"
        ))),
    };
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with(';') || l.starts_with('#') {
            continue;
        }
        if let Some(name) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            out.push(ModuleConf {
                id: name.trim().to_owned(),
                enabled: true,
                library: PathBuf::new(),
                slot_ids: Vec::new(),
                sign_mechanism: SignMechanism::RsaPkcs1,
                batch_signing_enabled: true,
                read_only: false,
                token_id_format: DEFAULT_TOKEN_ID_FORMAT.into(),
            });
            continue;
        }
        let (k, v) = l.split_once('=').ok_or_else(|| {
            SignerError::Config(format!("devices.ini line {line}: expected key = value"))
        })?;
        let (k, v) = (k.trim(), v.trim());
        let m = out.last_mut().ok_or_else(|| {
            SignerError::Config(format!(
                "devices.ini line {line}: {k} outside a [module] section"
            ))
        })?;
        match k {
            "library" => m.library = PathBuf::from(v),
            "enabled" => m.enabled = bool_of(v, line)?,
            "batch_signing_enabled" => m.batch_signing_enabled = bool_of(v, line)?,
            "read_only" => m.read_only = bool_of(v, line)?,
            "token_id_format" => m.token_id_format = v.to_owned(),
            "sign_mechanism" => {
                m.sign_mechanism = crate::keys::parse_mechanism(v).ok_or_else(|| {
                    SignerError::Config(format!(
                        "devices.ini line {line}: unknown sign_mechanism {v:?}"
                    ))
                })?
            }
            "slot_ids" => {
                m.slot_ids = v
                    .split(',')
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse().map_err(|_| {
                            SignerError::Config(format!(
                                "devices.ini line {line}: slot id {s:?} is not a number"
                            ))
                        })
                    })
                    .collect::<Result<_>>()?
            }
            _ => {}
        }
    }
    for m in &out {
        if m.enabled && m.library.as_os_str().is_empty() {
            return Err(SignerError::Config(format!(
                "devices.ini: module {} has no library",
                m.id
            )));
        }
    }
    Ok(out)
}

fn p11(e: impl std::fmt::Display) -> SignerError {
    SignerError::Pkcs11(e.to_string())
}

/// Libraries are initialised once per process (`C_Initialize` may not run twice).
fn context(library: &Path) -> Result<Arc<Pkcs11>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Pkcs11>>>> = OnceLock::new();
    let modules = MODULES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = modules
        .lock()
        .map_err(|_| p11("module registry poisoned"))?;
    if let Some(ctx) = map.get(library) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(library)
        .map_err(|e| SignerError::Pkcs11(format!("loading {}: {e}", library.display())))?;
    ctx.initialize(CInitializeArgs::OsThreads).map_err(p11)?;
    let ctx = Arc::new(ctx);
    map.insert(library.to_owned(), ctx.clone());
    Ok(ctx)
}

/// A key found on a PKCS#11 token.
#[derive(Debug, Clone)]
pub struct Pkcs11Key {
    /// Hex `CKA_ID`.
    pub key_id: String,
    /// `CKA_LABEL`.
    pub label: String,
    /// DER `SubjectPublicKeyInfo`, when the public key object was found.
    pub public_key: Option<Vec<u8>>,
}

/// A token in a slot of a PKCS#11 module.
pub struct Pkcs11Token {
    id: String,
    module: ModuleConf,
    slot: Slot,
    label: String,
    serial: String,
    ctx: Arc<Pkcs11>,
    session: Mutex<Option<Session>>,
}

impl std::fmt::Debug for Pkcs11Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Token")
            .field("id", &self.id)
            .field("module", &self.module.id)
            .field("label", &self.label)
            .field("serial", &self.serial)
            .finish()
    }
}

impl Pkcs11Token {
    /// The tokens present in the slots of `module`.
    pub fn discover(module: &ModuleConf) -> Result<Vec<Pkcs11Token>> {
        if !module.enabled {
            return Ok(Vec::new());
        }
        let ctx = context(&module.library)?;
        let mut out = Vec::new();
        for (index, slot) in ctx
            .get_slots_with_token()
            .map_err(p11)?
            .into_iter()
            .enumerate()
        {
            if !module.slot_ids.is_empty() && !module.slot_ids.contains(&slot.id()) {
                continue;
            }
            let info = ctx.get_token_info(slot).map_err(p11)?;
            // An uninitialised token (SoftHSM's free slot, a blank card) has no keys to offer.
            if !info.token_initialized() {
                continue;
            }
            let (label, serial) = (
                info.label().trim().to_owned(),
                info.serial_number().trim().to_owned(),
            );
            let id = module
                .token_id_format
                .replace("{moduleType}", &module.id)
                .replace("{slotIndex}", &index.to_string())
                .replace("{serialNumber}", &serial)
                .replace("{label}", &label);
            out.push(Pkcs11Token {
                id,
                module: module.clone(),
                slot,
                label,
                serial,
                ctx: ctx.clone(),
                session: Mutex::new(None),
            });
        }
        Ok(out)
    }

    /// The token id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The module configuration.
    pub fn module(&self) -> &ModuleConf {
        &self.module
    }

    /// The token label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The token serial number.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// Whether a session is logged in.
    pub fn is_active(&self) -> bool {
        self.session.lock().map(|s| s.is_some()).unwrap_or(false)
    }

    /// Logs in as the user with `pin`.
    pub fn login(&self, pin: &Pin) -> Result<()> {
        let session = self.ctx.open_rw_session(self.slot).map_err(p11)?;
        let auth = AuthPin::new(pin.expose().to_owned());
        match session.login(UserType::User, Some(&auth)) {
            Ok(()) => {}
            Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::PinIncorrect | cryptoki::error::RvError::PinInvalid,
                _,
            )) => return Err(SignerError::PinIncorrect(self.id.clone())),
            Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::UserAlreadyLoggedIn,
                _,
            )) => {}
            Err(e) => return Err(p11(e)),
        }
        *self
            .session
            .lock()
            .map_err(|_| p11("session lock poisoned"))? = Some(session);
        Ok(())
    }

    /// Logs out and closes the session.
    pub fn logout(&self) -> Result<()> {
        let mut guard = self
            .session
            .lock()
            .map_err(|_| p11("session lock poisoned"))?;
        if let Some(s) = guard.take() {
            let _ = s.logout();
        }
        Ok(())
    }

    fn with_session<T>(&self, f: impl FnOnce(&Session) -> Result<T>) -> Result<T> {
        let guard = self
            .session
            .lock()
            .map_err(|_| p11("session lock poisoned"))?;
        match guard.as_ref() {
            Some(s) => f(s),
            None => Err(SignerError::TokenNotActive(self.id.clone())),
        }
    }

    fn find(session: &Session, class: ObjectClass, id: &[u8]) -> Result<Option<ObjectHandle>> {
        let found = session
            .find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())])
            .map_err(p11)?;
        Ok(found.into_iter().next())
    }

    /// Generates a key pair on the device; returns its id (hex `CKA_ID`) and public key.
    pub fn generate(&self, algorithm: KeyAlgorithm, label: &str) -> Result<(String, Vec<u8>)> {
        if self.module.read_only {
            return Err(SignerError::Unsupported(format!(
                "token {} is read-only",
                self.id
            )));
        }
        let mut id = [0u8; 20];
        openssl::rand::rand_bytes(&mut id)?;
        let common = |v: &mut Vec<Attribute>| {
            v.push(Attribute::Token(true));
            v.push(Attribute::Id(id.to_vec()));
            v.push(Attribute::Label(label.as_bytes().to_vec()));
        };
        let mut public = vec![Attribute::Verify(true)];
        let mut private = vec![
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ];
        common(&mut public);
        common(&mut private);
        let mechanism = match algorithm {
            KeyAlgorithm::Rsa(bits) => {
                public.push(Attribute::ModulusBits(u64::from(bits).into()));
                public.push(Attribute::PublicExponent(vec![1, 0, 1]));
                Mechanism::RsaPkcsKeyPairGen
            }
            ec => {
                let nid = ec.curve().unwrap_or(openssl::nid::Nid::X9_62_PRIME256V1);
                let oid = openssl::asn1::Asn1Object::from_str(nid.short_name()?)?;
                let mut der = vec![0x06, oid.as_slice().len() as u8];
                der.extend_from_slice(oid.as_slice());
                public.push(Attribute::EcParams(der));
                Mechanism::EccKeyPairGen
            }
        };
        self.with_session(|s| {
            let (pub_handle, _) = s
                .generate_key_pair(&mechanism, &public, &private)
                .map_err(p11)?;
            let spki = Self::public_key(s, pub_handle)?;
            Ok((hex_upper(&id), spki))
        })
    }

    fn public_key(s: &Session, handle: ObjectHandle) -> Result<Vec<u8>> {
        let attrs = s
            .get_attributes(
                handle,
                &[
                    AttributeType::KeyType,
                    AttributeType::Modulus,
                    AttributeType::PublicExponent,
                    AttributeType::EcParams,
                    AttributeType::EcPoint,
                ],
            )
            .map_err(p11)?;
        let (mut kt, mut n, mut e, mut params, mut point) = (None, None, None, None, None);
        for a in attrs {
            match a {
                Attribute::KeyType(k) => kt = Some(k),
                Attribute::Modulus(v) => n = Some(v),
                Attribute::PublicExponent(v) => e = Some(v),
                Attribute::EcParams(v) => params = Some(v),
                Attribute::EcPoint(v) => point = Some(v),
                _ => {}
            }
        }
        if kt == Some(KeyType::RSA) {
            let (n, e) = n
                .zip(e)
                .ok_or_else(|| p11("RSA public key without modulus"))?;
            let rsa =
                Rsa::from_public_components(BigNum::from_slice(&n)?, BigNum::from_slice(&e)?)?;
            return Ok(PKey::from_rsa(rsa)?.public_key_to_der()?);
        }
        let (params, point) = params
            .zip(point)
            .ok_or_else(|| p11("EC public key without point"))?;
        let nid = if params.ends_with(&[0x03, 0x01, 0x07]) {
            openssl::nid::Nid::X9_62_PRIME256V1
        } else if params.ends_with(&[0x00, 0x22]) {
            openssl::nid::Nid::SECP384R1
        } else {
            return Err(SignerError::Unsupported(
                "elliptic curve of a PKCS#11 key".into(),
            ));
        };
        // CKA_EC_POINT is the DER OCTET STRING of the point (some modules give it bare).
        let raw = match point.as_slice() {
            [0x04, len, rest @ ..] if usize::from(*len) == rest.len() => rest.to_vec(),
            [0x04, 0x81, len, rest @ ..] if usize::from(*len) == rest.len() => rest.to_vec(),
            other => other.to_vec(),
        };
        let group = EcGroup::from_curve_name(nid)?;
        let mut ctx = openssl::bn::BigNumContext::new()?;
        let p = EcPoint::from_bytes(&group, &raw, &mut ctx)?;
        Ok(PKey::from_ec_key(EcKey::from_public_key(&group, &p)?)?.public_key_to_der()?)
    }

    /// The keys on the token (private key objects with their public keys).
    pub fn keys(&self) -> Result<Vec<Pkcs11Key>> {
        self.with_session(|s| {
            let mut out = Vec::new();
            for h in s
                .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
                .map_err(p11)?
            {
                let attrs = s
                    .get_attributes(h, &[AttributeType::Id, AttributeType::Label])
                    .map_err(p11)?;
                let (mut id, mut label) = (Vec::new(), Vec::new());
                for a in attrs {
                    match a {
                        Attribute::Id(v) => id = v,
                        Attribute::Label(v) => label = v,
                        _ => {}
                    }
                }
                let public_key = match Self::find(s, ObjectClass::PUBLIC_KEY, &id)? {
                    Some(p) => Some(Self::public_key(s, p)?),
                    None => None,
                };
                out.push(Pkcs11Key {
                    key_id: hex_upper(&id),
                    label: String::from_utf8_lossy(&label).into_owned(),
                    public_key,
                });
            }
            Ok(out)
        })
    }

    /// Deletes the key pair `key_id`.
    pub fn delete(&self, key_id: &str) -> Result<()> {
        let id = parse_hex(key_id)?;
        self.with_session(|s| {
            let mut any = false;
            for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
                for h in s
                    .find_objects(&[Attribute::Class(class), Attribute::Id(id.clone())])
                    .map_err(p11)?
                {
                    s.destroy_object(h).map_err(p11)?;
                    any = true;
                }
            }
            if any {
                Ok(())
            } else {
                Err(SignerError::KeyNotFound(key_id.to_owned()))
            }
        })
    }

    /// Signs `digest` with the key `key_id` on the device. RSA gives the PKCS#1 / PSS value,
    /// EC a DER `ECDSA-Sig-Value` (converted from the device's raw `r‖s`).
    pub fn sign(
        &self,
        key_id: &str,
        algorithm: SignatureAlgorithm,
        digest: &[u8],
    ) -> Result<Vec<u8>> {
        let id = parse_hex(key_id)?;
        let d = algorithm.digest;
        self.with_session(|s| {
            let key = Self::find(s, ObjectClass::PRIVATE_KEY, &id)?
                .ok_or_else(|| SignerError::KeyNotFound(key_id.to_owned()))?;
            match algorithm.mechanism {
                SignMechanism::RsaPkcs1 => {
                    let mut data = digest_info_prefix(d).to_vec();
                    data.extend_from_slice(digest);
                    s.sign(&Mechanism::RsaPkcs, key, &data).map_err(p11)
                }
                SignMechanism::RsaPss => {
                    let (hash_alg, mgf) = pss_params(d);
                    let params = PkcsPssParams {
                        hash_alg,
                        mgf,
                        s_len: (d.output_len() as u64).into(),
                    };
                    s.sign(&Mechanism::RsaPkcsPss(params), key, digest)
                        .map_err(p11)
                }
                SignMechanism::Ecdsa => {
                    let raw = s.sign(&Mechanism::Ecdsa, key, digest).map_err(p11)?;
                    let half = raw.len() / 2;
                    let sig = openssl::ecdsa::EcdsaSig::from_private_components(
                        BigNum::from_slice(&raw[..half])?,
                        BigNum::from_slice(&raw[half..])?,
                    )?;
                    Ok(sig.to_der()?)
                }
            }
        })
    }
}

fn parse_hex(s: &str) -> Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SignerError::InvalidInput(format!(
            "key id {s:?} is not hex"
        )));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .map_err(|_| SignerError::InvalidInput(format!("key id {s:?} is not hex")))
        })
        .collect()
}

fn pss_params(d: DigestAlgorithm) -> (MechanismType, PkcsMgfType) {
    match d {
        DigestAlgorithm::Sha1 => (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1),
        DigestAlgorithm::Sha224 => (MechanismType::SHA224, PkcsMgfType::MGF1_SHA224),
        DigestAlgorithm::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
        DigestAlgorithm::Sha384 => (MechanismType::SHA384, PkcsMgfType::MGF1_SHA384),
        DigestAlgorithm::Sha512 => (MechanismType::SHA512, PkcsMgfType::MGF1_SHA512),
    }
}

/// The DER `DigestInfo` header that `CKM_RSA_PKCS` needs before the digest (RFC 8017 §9.2).
fn digest_info_prefix(d: DigestAlgorithm) -> &'static [u8] {
    match d {
        DigestAlgorithm::Sha1 => &[
            0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
            0x14,
        ],
        DigestAlgorithm::Sha224 => &[
            0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x04, 0x05, 0x00, 0x04, 0x1c,
        ],
        DigestAlgorithm::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        DigestAlgorithm::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        DigestAlgorithm::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_devices_ini() {
        let text = "; comment\n[softhsm]\nlibrary = /usr/lib/softhsm/libsofthsm2.so\nslot_ids = 1, 2\n\
                    sign_mechanism = CKM_RSA_PKCS_PSS\nbatch_signing_enabled = false\n\n[etoken]\nenabled = false\nlibrary = x.so\n";
        let m = parse_devices_ini(text).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].slot_ids, vec![1, 2]);
        assert_eq!(m[0].sign_mechanism, SignMechanism::RsaPss);
        assert!(!m[0].batch_signing_enabled);
        assert!(!m[1].enabled);
        let err = parse_devices_ini("[x]\nenabled = maybe\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(parse_devices_ini("[x]\n").is_err());
        assert!(parse_devices_ini("library = a\n").is_err());
    }

    #[test]
    fn digest_info_prefixes_have_the_right_lengths() {
        for d in DigestAlgorithm::ALL {
            let p = digest_info_prefix(d);
            assert_eq!(usize::from(p[1]) + 2, p.len() + d.output_len());
        }
    }
}
