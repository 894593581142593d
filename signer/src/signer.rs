//! The signer: its directory, tokens and keys, behind one lock. The signing service
//! ([`crate::service`]) takes a [`KeySigner`] out of it and signs without holding the lock.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use openssl::pkey::{PKey, Private};
use xroad_crypto::{SignMechanism, SignatureAlgorithm};

use crate::error::{Result, SignerError};
use crate::keyconf::{Device, Key, KeyConf, KeyUsage};
use crate::keys::{self, KeyAlgorithm};
use crate::pin::{Pin, PinPolicy};
use crate::pkcs11::{parse_devices_ini, Pkcs11Token};
use crate::softtoken::{SoftToken, SOFT_TOKEN_ID, SOFT_TOKEN_TYPE};

/// How the signer is set up.
#[derive(Debug, Clone)]
pub struct SignerConfig {
    /// The signer directory: `keyconf.xml` and `softtoken/` (Java: `/etc/xroad/signer`).
    pub dir: PathBuf,
    /// `devices.ini` for PKCS#11 modules (none: software token only).
    pub devices_ini: Option<PathBuf>,
    /// The policy for new PINs.
    pub pin_policy: PinPolicy,
    /// Where OCSP responses of own certificates are cached (default `<dir>/ocsp-cache`).
    pub ocsp_cache_dir: Option<PathBuf>,
}

impl SignerConfig {
    /// Defaults for the signer directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SignerConfig {
            dir: dir.into(),
            devices_ini: None,
            pin_policy: PinPolicy::None,
            ocsp_cache_dir: None,
        }
    }

    /// `keyconf.xml` in the signer directory.
    pub fn keyconf_path(&self) -> PathBuf {
        self.dir.join("keyconf.xml")
    }

    /// The OCSP cache directory.
    pub fn ocsp_cache(&self) -> PathBuf {
        self.ocsp_cache_dir
            .clone()
            .unwrap_or_else(|| self.dir.join("ocsp-cache"))
    }
}

/// The kind of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// The software token.
    Software,
    /// A PKCS#11 token.
    Pkcs11,
}

/// A token as listed.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// Token id.
    pub id: String,
    /// Kind.
    pub kind: TokenKind,
    /// Module type (`softToken` or the `devices.ini` section).
    pub device_type: String,
    /// Label (PKCS#11) or friendly name.
    pub label: String,
    /// Whether the token exists (software token: PIN verifier written).
    pub initialized: bool,
    /// Whether logged in.
    pub active: bool,
    /// Number of keys recorded.
    pub keys: usize,
}

/// A key as listed.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// Token id.
    pub token_id: String,
    /// Key id.
    pub key_id: String,
    /// Label.
    pub label: String,
    /// Usage, once fixed.
    pub usage: Option<KeyUsage>,
    /// Mechanism name.
    pub sign_mechanism: Option<String>,
    /// Whether the key can sign now (token logged in, key present).
    pub available: bool,
    /// Number of certificates.
    pub certs: usize,
    /// Number of outstanding certificate requests.
    pub cert_requests: usize,
}

/// What signs for one key, usable without the signer's lock.
#[derive(Clone)]
pub enum KeySigner {
    /// A software key held in memory.
    Soft(Arc<PKey<Private>>),
    /// A key on a PKCS#11 token.
    Pkcs11(Arc<Pkcs11Token>, String),
}

impl std::fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySigner::Soft(_) => f.write_str("KeySigner::Soft(..)"),
            KeySigner::Pkcs11(t, k) => write!(f, "KeySigner::Pkcs11({}, {k})", t.id()),
        }
    }
}

impl KeySigner {
    /// Signs a digest: RSA values, or DER ECDSA (the JCA form).
    pub fn sign(&self, algorithm: SignatureAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        match self {
            KeySigner::Soft(k) => keys::sign_digest(k, algorithm, digest),
            KeySigner::Pkcs11(t, id) => t.sign(id, algorithm, digest),
        }
    }

    /// Signs a digest and gives the value as XML-DSig carries it (ECDSA: raw `r‖s`). A
    /// software EC key makes the raw form directly; other keys give the JCA form, converted.
    pub fn sign_xmldsig(&self, algorithm: SignatureAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        if let KeySigner::Soft(k) = self {
            if let Some(raw) = keys::sign_digest_ecdsa_raw(k, algorithm, digest)? {
                return Ok(raw);
            }
        }
        let value = self.sign(algorithm, digest)?;
        if algorithm.mechanism == SignMechanism::Ecdsa {
            return xroad_crypto::algorithm::ecdsa_der_to_raw(&value).ok_or_else(|| {
                SignerError::Crypto("the token returned a malformed ECDSA signature".into())
            });
        }
        Ok(value)
    }
}

pub(crate) struct State {
    pub keyconf: KeyConf,
    pub soft: SoftToken,
    pub p11: Vec<Arc<Pkcs11Token>>,
}

/// The signer.
pub struct Signer {
    config: SignerConfig,
    state: RwLock<State>,
    /// Bumped whenever the state may change: callers cache what they read with it.
    generation: AtomicU64,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("dir", &self.config.dir)
            .finish()
    }
}

fn poisoned() -> SignerError {
    SignerError::Config("the signer state lock is poisoned".into())
}

impl Signer {
    /// Opens the signer directory (creating nothing until something is written) and finds
    /// the PKCS#11 tokens of `devices.ini`.
    pub fn open(config: SignerConfig) -> Result<Signer> {
        let keyconf = KeyConf::load(&config.keyconf_path())?;
        let soft = SoftToken::new(config.dir.join("softtoken"));
        let mut p11 = Vec::new();
        if let Some(ini) = &config.devices_ini {
            let text = std::fs::read_to_string(ini).map_err(|e| SignerError::io(ini, e))?;
            for module in parse_devices_ini(&text)? {
                for t in Pkcs11Token::discover(&module)? {
                    p11.push(Arc::new(t));
                }
            }
        }
        Ok(Signer {
            config,
            state: RwLock::new(State { keyconf, soft, p11 }),
            generation: AtomicU64::new(0),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SignerConfig {
        &self.config
    }

    pub(crate) fn read(&self) -> Result<RwLockReadGuard<'_, State>> {
        self.state.read().map_err(|_| poisoned())
    }

    pub(crate) fn write(&self) -> Result<RwLockWriteGuard<'_, State>> {
        let guard = self.state.write().map_err(|_| poisoned())?;
        // Bumped while the lock is held, so a reader that loads the generation first and
        // then reads the state never caches old state under the new generation.
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(guard)
    }

    /// Changes whenever keys, certificates or tokens may have changed: what was read from
    /// the signer under one generation is still true while it stays the same.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn save(&self, state: &State) -> Result<()> {
        state.keyconf.save(&self.config.keyconf_path())
    }

    /// A copy of `keyconf.xml` as it stands.
    pub fn keyconf(&self) -> Result<KeyConf> {
        Ok(self.read()?.keyconf.clone())
    }

    /// The signer directory.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }

    fn ensure_soft_device(keyconf: &mut KeyConf) {
        if keyconf.device(SOFT_TOKEN_ID).is_none() {
            keyconf.devices.insert(
                0,
                Device {
                    device_type: SOFT_TOKEN_TYPE.into(),
                    friendly_name: Some("softToken-0".into()),
                    id: SOFT_TOKEN_ID.into(),
                    pin_index: Some(0),
                    ..Device::default()
                },
            );
        }
    }

    fn ensure_p11_device(keyconf: &mut KeyConf, t: &Pkcs11Token) {
        if keyconf.device(t.id()).is_none() {
            keyconf.devices.push(Device {
                device_type: t.module().id.clone(),
                friendly_name: Some(t.label().to_owned()),
                id: t.id().to_owned(),
                token_id: Some(t.serial().to_owned()),
                slot_id: Some(t.label().to_owned()),
                pin_index: Some(1),
                ..Device::default()
            });
        }
    }

    fn p11_token(state: &State, token_id: &str) -> Option<Arc<Pkcs11Token>> {
        state.p11.iter().find(|t| t.id() == token_id).cloned()
    }

    /// Creates the software token with `pin` (it is then logged in).
    pub fn init_software_token(&self, pin: &Pin) -> Result<()> {
        let mut st = self.write()?;
        st.soft.init(pin, self.config.pin_policy)?;
        Self::ensure_soft_device(&mut st.keyconf);
        self.save(&st)?;
        tracing::info!(token = SOFT_TOKEN_ID, "software token initialized");
        Ok(())
    }

    /// Logs token `token_id` in.
    pub fn login(&self, token_id: &str, pin: &Pin) -> Result<()> {
        let mut st = self.write()?;
        if token_id == SOFT_TOKEN_ID {
            st.soft.login(pin)?;
            let changed = st.keyconf.device(SOFT_TOKEN_ID).is_none();
            Self::ensure_soft_device(&mut st.keyconf);
            // Keys on disk that keyconf does not know (a hand-copied file) get an entry.
            let ids = st.soft.loaded_key_ids();
            let mut added = false;
            for id in ids {
                if st.keyconf.key(&id).is_none() {
                    let key = st.soft.key(&id)?;
                    let entry = new_key_entry(&id, "", &key)?;
                    if let Some(d) = st.keyconf.device_mut(SOFT_TOKEN_ID) {
                        d.keys.push(entry);
                        added = true;
                    }
                }
            }
            if changed || added {
                self.save(&st)?;
            }
        } else {
            let t = Self::p11_token(&st, token_id)
                .ok_or_else(|| SignerError::TokenNotFound(token_id.to_owned()))?;
            t.login(pin)?;
            Self::ensure_p11_device(&mut st.keyconf, &t);
            // Keys made on the device by other tools are recorded too.
            for k in t.keys()? {
                if st.keyconf.key(&k.key_id).is_none() {
                    if let Some(d) = st.keyconf.device_mut(token_id) {
                        d.keys.push(Key {
                            friendly_name: k.label.clone(),
                            label: Some(k.label),
                            key_id: k.key_id,
                            public_key: k.public_key,
                            ..Key::default()
                        });
                    }
                }
            }
            self.save(&st)?;
        }
        tracing::info!(token = token_id, "token logged in");
        Ok(())
    }

    /// Logs token `token_id` out.
    pub fn logout(&self, token_id: &str) -> Result<()> {
        let mut st = self.write()?;
        if token_id == SOFT_TOKEN_ID {
            st.soft.logout();
        } else {
            Self::p11_token(&st, token_id)
                .ok_or_else(|| SignerError::TokenNotFound(token_id.to_owned()))?
                .logout()?;
        }
        tracing::info!(token = token_id, "token logged out");
        Ok(())
    }

    /// Changes the software token's PIN.
    pub fn change_pin(&self, token_id: &str, old: &Pin, new: &Pin) -> Result<()> {
        if token_id != SOFT_TOKEN_ID {
            return Err(SignerError::Unsupported(
                "PIN change of PKCS#11 tokens (use the device's own tools)".into(),
            ));
        }
        let mut st = self.write()?;
        st.soft.change_pin(old, new, self.config.pin_policy)?;
        tracing::info!(token = token_id, "token PIN changed");
        Ok(())
    }

    /// The tokens.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let st = self.read()?;
        let count = |id: &str| st.keyconf.device(id).map_or(0, |d| d.keys.len());
        let mut out = vec![TokenInfo {
            id: SOFT_TOKEN_ID.into(),
            kind: TokenKind::Software,
            device_type: SOFT_TOKEN_TYPE.into(),
            label: "softToken-0".into(),
            initialized: st.soft.is_initialized(),
            active: st.soft.is_active(),
            keys: count(SOFT_TOKEN_ID),
        }];
        for t in &st.p11 {
            out.push(TokenInfo {
                id: t.id().to_owned(),
                kind: TokenKind::Pkcs11,
                device_type: t.module().id.clone(),
                label: t.label().to_owned(),
                initialized: true,
                active: t.is_active(),
                keys: count(t.id()),
            });
        }
        Ok(out)
    }

    /// Generates a key on token `token_id`.
    pub fn generate_key(
        &self,
        token_id: &str,
        algorithm: KeyAlgorithm,
        label: &str,
    ) -> Result<KeyInfo> {
        let mut st = self.write()?;
        let entry = if token_id == SOFT_TOKEN_ID {
            let (id, key) = st.soft.generate(algorithm)?;
            Self::ensure_soft_device(&mut st.keyconf);
            new_key_entry(&id, label, &key)?
        } else {
            let t = Self::p11_token(&st, token_id)
                .ok_or_else(|| SignerError::TokenNotFound(token_id.to_owned()))?;
            let (id, spki) = t.generate(algorithm, label)?;
            Self::ensure_p11_device(&mut st.keyconf, &t);
            let mechanism = match algorithm {
                KeyAlgorithm::Rsa(_) => t.module().sign_mechanism,
                _ => SignMechanism::Ecdsa,
            };
            Key {
                friendly_name: label.to_owned(),
                label: Some(label.to_owned()),
                key_id: id,
                public_key: Some(spki),
                sign_mechanism: Some(keys::mechanism_name(mechanism).into()),
                ..Key::default()
            }
        };
        let info = key_info(token_id, &entry, true);
        st.keyconf
            .device_mut(token_id)
            .ok_or_else(|| SignerError::TokenNotFound(token_id.to_owned()))?
            .keys
            .push(entry);
        self.save(&st)?;
        tracing::info!(token = token_id, key = %info.key_id, algorithm = %algorithm, "key generated");
        Ok(info)
    }

    /// The keys of all tokens.
    pub fn keys(&self) -> Result<Vec<KeyInfo>> {
        let st = self.read()?;
        let mut out = Vec::new();
        for d in &st.keyconf.devices {
            for k in &d.keys {
                let available = Self::key_signer_in(&st, &k.key_id).is_ok();
                out.push(key_info(&d.id, k, available));
            }
        }
        Ok(out)
    }

    /// Deletes a key from its token and from `keyconf.xml`.
    pub fn delete_key(&self, key_id: &str) -> Result<()> {
        let mut st = self.write()?;
        let (token_id, key_id) = match st.keyconf.key(key_id) {
            Some((d, k)) => (d.id.clone(), k.key_id.clone()),
            None => return Err(SignerError::KeyNotFound(key_id.to_owned())),
        };
        if token_id == SOFT_TOKEN_ID {
            st.soft.delete(&key_id)?;
        } else {
            let t = Self::p11_token(&st, &token_id)
                .ok_or_else(|| SignerError::TokenNotFound(token_id.clone()))?;
            match t.delete(&key_id) {
                Ok(()) | Err(SignerError::KeyNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(d) = st.keyconf.device_mut(&token_id) {
            d.keys.retain(|k| k.key_id != key_id);
        }
        self.save(&st)?;
        tracing::info!(token = %token_id, key = %key_id, "key deleted");
        Ok(())
    }

    fn key_signer_in(st: &State, key_id: &str) -> Result<KeySigner> {
        let (d, k) = st
            .keyconf
            .key(key_id)
            .ok_or_else(|| SignerError::KeyNotFound(key_id.to_owned()))?;
        if d.id == SOFT_TOKEN_ID {
            Ok(KeySigner::Soft(st.soft.key(&k.key_id)?))
        } else {
            let t = Self::p11_token(st, &d.id)
                .ok_or_else(|| SignerError::TokenNotFound(d.id.clone()))?;
            if !t.is_active() {
                return Err(SignerError::TokenNotActive(d.id.clone()));
            }
            Ok(KeySigner::Pkcs11(t, k.key_id.clone()))
        }
    }

    /// What signs with `key_id`, for use outside the lock.
    pub fn key_signer(&self, key_id: &str) -> Result<KeySigner> {
        Self::key_signer_in(&*self.read()?, key_id)
    }

    /// Signs `digest` with `key_id` (RSA value, or DER ECDSA).
    pub fn sign(
        &self,
        key_id: &str,
        algorithm: SignatureAlgorithm,
        digest: &[u8],
    ) -> Result<Vec<u8>> {
        self.key_signer(key_id)?.sign(algorithm, digest)
    }

    /// The key's signing mechanism (from `keyconf.xml`, else from its public key).
    pub fn sign_mechanism(&self, key_id: &str) -> Result<SignMechanism> {
        let st = self.read()?;
        let (_, k) = st
            .keyconf
            .key(key_id)
            .ok_or_else(|| SignerError::KeyNotFound(key_id.to_owned()))?;
        if let Some(m) = k.sign_mechanism.as_deref().and_then(keys::parse_mechanism) {
            return Ok(m);
        }
        let spki = k
            .public_key
            .as_deref()
            .ok_or_else(|| SignerError::Config(format!("key {key_id} has no public key")))?;
        let pk = PKey::public_key_from_der(spki)?;
        Ok(keys::algorithm_of(&pk)?.default_mechanism())
    }

    /// Whether requests for `key_id` may be batched (software tokens always; PKCS#11 per
    /// `batch_signing_enabled`).
    pub fn batch_signing_enabled(&self, key_id: &str) -> Result<bool> {
        let st = self.read()?;
        let (d, _) = st
            .keyconf
            .key(key_id)
            .ok_or_else(|| SignerError::KeyNotFound(key_id.to_owned()))?;
        if d.id == SOFT_TOKEN_ID {
            return Ok(true);
        }
        Ok(Self::p11_token(&st, &d.id).is_none_or(|t| t.module().batch_signing_enabled))
    }

    /// The DER `SubjectPublicKeyInfo` of `key_id`.
    pub fn public_key(&self, key_id: &str) -> Result<Vec<u8>> {
        let st = self.read()?;
        let (_, k) = st
            .keyconf
            .key(key_id)
            .ok_or_else(|| SignerError::KeyNotFound(key_id.to_owned()))?;
        k.public_key
            .clone()
            .ok_or_else(|| SignerError::Config(format!("key {key_id} has no public key")))
    }

    /// Sets a key's friendly name and label.
    pub fn set_key_label(&self, key_id: &str, label: &str) -> Result<()> {
        let mut st = self.write()?;
        let k = st
            .keyconf
            .key_mut(key_id)
            .ok_or_else(|| SignerError::KeyNotFound(key_id.to_owned()))?;
        k.friendly_name = label.to_owned();
        k.label = Some(label.to_owned());
        self.save(&st)
    }
}

pub(crate) fn new_key_entry(id: &str, label: &str, key: &PKey<Private>) -> Result<Key> {
    let algorithm = keys::algorithm_of(key)?;
    Ok(Key {
        friendly_name: label.to_owned(),
        label: Some(label.to_owned()),
        key_id: id.to_owned(),
        public_key: Some(keys::spki_der(key)?),
        sign_mechanism: Some(keys::mechanism_name(algorithm.default_mechanism()).into()),
        ..Key::default()
    })
}

fn key_info(token_id: &str, k: &Key, available: bool) -> KeyInfo {
    KeyInfo {
        token_id: token_id.to_owned(),
        key_id: k.key_id.clone(),
        label: k.label.clone().unwrap_or_else(|| k.friendly_name.clone()),
        usage: k.usage,
        sign_mechanism: k.sign_mechanism.clone(),
        available,
        certs: k.certs.len(),
        cert_requests: k.cert_requests.len(),
    }
}
