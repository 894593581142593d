//! The software token (`softToken`, id `0`): one PKCS#12 file per key, `softtoken/<keyId>.p12`,
//! and the PIN verifier `softtoken/.softtoken.p12`, exactly Java's layout.
//!
//! Each file is encrypted under the token PIN (PBES2: PBKDF2-HMAC-SHA256 and AES-256-CBC,
//! with an HMAC-SHA256 integrity MAC, both with [`KDF_ITERATIONS`] iterations), so keys are
//! never on disk in clear and a file is useless without the PIN. While the token is logged in,
//! the parsed private keys and the PIN (needed to write new keys) are held in memory only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, PKeyRef, Private};
use openssl::x509::{X509NameBuilder, X509};

use crate::error::{Result, SignerError};
use crate::fsutil::write_atomic;
use crate::pin::{Pin, PinPolicy};

/// The software token's id.
pub const SOFT_TOKEN_ID: &str = "0";
/// The device type of the software token in `keyconf.xml`.
pub const SOFT_TOKEN_TYPE: &str = "softToken";
/// The PIN verifier's file name (without `.p12`).
const PIN_FILE: &str = ".softtoken";
/// PBKDF2 / PKCS#12 MAC iterations for files we write: a guess at the PIN costs this many
/// HMACs. (Java's own default is 10,000.)
pub const KDF_ITERATIONS: u32 = 100_000;

/// Threads that open key files at login.
const LOGIN_THREADS: usize = 8;

/// One key file opened with `pin` (`Ok(None)`: the PIN does not open it).
fn open_key_file(dir: &Path, id: &str, pin: &Pin) -> Result<Option<PKey<Private>>> {
    let path = p12_path(dir, id);
    let bytes = std::fs::read(&path).map_err(|e| SignerError::io(&path, e))?;
    open_p12(&bytes, pin, &format!("key file {id}.p12"))
}

/// The software token.
pub struct SoftToken {
    dir: PathBuf,
    pin: Option<Pin>,
    keys: HashMap<String, Arc<PKey<Private>>>,
    /// Key files that the PIN did not open at login (named in status, not fatal).
    unreadable: Vec<String>,
}

impl std::fmt::Debug for SoftToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftToken")
            .field("dir", &self.dir)
            .field("active", &self.pin.is_some())
            .field("keys", &self.keys.len())
            .finish()
    }
}

fn p12_path(dir: &Path, key_id: &str) -> PathBuf {
    dir.join(format!("{key_id}.p12"))
}

/// A PKCS#12 file holding `key` (alias `alias`) and a self-signed "KeyHolder" certificate,
/// encrypted under `pin` (Java's soft-token file).
pub(crate) fn build_p12(key: &PKeyRef<Private>, alias: &str, pin: &Pin) -> Result<Vec<u8>> {
    let cert = key_holder_cert(key)?;
    let p12 = Pkcs12::builder()
        .name(alias)
        .pkey(key)
        .cert(&cert)
        .key_algorithm(Nid::AES_256_CBC)
        .cert_algorithm(Nid::AES_256_CBC)
        .key_iter(KDF_ITERATIONS)
        .mac_iter(KDF_ITERATIONS)
        .mac_md(MessageDigest::sha256())
        .build2(pin.expose())?;
    Ok(p12.to_der()?)
}

/// The private key of a PKCS#12 file; `Ok(None)` when `pin` does not open it.
pub(crate) fn open_p12(bytes: &[u8], pin: &Pin, what: &str) -> Result<Option<PKey<Private>>> {
    let p12 = Pkcs12::from_der(bytes)
        .map_err(|_| SignerError::Config(format!("{what} is not a PKCS#12 file")))?;
    match p12.parse2(pin.expose()) {
        Ok(parsed) => match parsed.pkey {
            Some(k) => Ok(Some(k)),
            None => Err(SignerError::Config(format!("{what} holds no private key"))),
        },
        Err(_) => Ok(None),
    }
}

fn key_holder_cert(key: &PKeyRef<Private>) -> Result<X509> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", "KeyHolder")?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let mut serial = openssl::bn::BigNum::new()?;
    serial.rand(63, openssl::bn::MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(key)?;
    let (from, until) = (
        Asn1Time::days_from_now(0)?,
        Asn1Time::days_from_now(365 * 20)?,
    );
    b.set_not_before(&from)?;
    b.set_not_after(&until)?;
    b.sign(key, MessageDigest::sha256())?;
    Ok(b.build())
}

impl SoftToken {
    /// The token whose files live in `dir` (`<signer dir>/softtoken`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SoftToken {
            dir: dir.into(),
            pin: None,
            keys: HashMap::new(),
            unreadable: Vec::new(),
        }
    }

    /// The directory of the key files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the PIN verifier exists.
    pub fn is_initialized(&self) -> bool {
        p12_path(&self.dir, PIN_FILE).is_file()
    }

    /// Whether the token is logged in.
    pub fn is_active(&self) -> bool {
        self.pin.is_some()
    }

    /// Key files the PIN did not open at the last login.
    pub fn unreadable_keys(&self) -> &[String] {
        &self.unreadable
    }

    /// Creates the token with `pin`: writes the PIN verifier. Refused when it exists.
    pub fn init(&mut self, pin: &Pin, policy: PinPolicy) -> Result<()> {
        if self.is_initialized() {
            return Err(SignerError::TokenAlreadyInitialized(SOFT_TOKEN_ID.into()));
        }
        policy.check(pin)?;
        self.write_verifier(&self.dir.clone(), pin)?;
        self.pin = Some(pin.clone());
        Ok(())
    }

    fn write_verifier(&self, dir: &Path, pin: &Pin) -> Result<()> {
        let key = crate::keys::generate(crate::keys::KeyAlgorithm::EcP256)?;
        write_atomic(
            &p12_path(dir, PIN_FILE),
            &build_p12(&key, "pin", pin)?,
            true,
        )
    }

    fn check_pin(&self, pin: &Pin) -> Result<()> {
        if !self.is_initialized() {
            return Err(SignerError::TokenNotInitialized(SOFT_TOKEN_ID.into()));
        }
        let path = p12_path(&self.dir, PIN_FILE);
        let bytes = std::fs::read(&path).map_err(|e| SignerError::io(&path, e))?;
        match open_p12(&bytes, pin, "the PIN verifier .softtoken.p12")? {
            Some(_) => Ok(()),
            None => Err(SignerError::PinIncorrect(SOFT_TOKEN_ID.into())),
        }
    }

    /// Ids of the keys on disk.
    pub fn key_ids_on_disk(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(SignerError::io(&self.dir, e)),
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".p12") {
                if !id.starts_with('.') && !id.is_empty() {
                    ids.push(id.to_owned());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Logs in: checks the PIN and decrypts every key on disk into memory.
    pub fn login(&mut self, pin: &Pin) -> Result<()> {
        let ids = self.key_ids_on_disk()?;
        // Every file costs a few hundred thousand HMACs (its PBKDF2 runs): the key files are
        // opened on threads of their own while this one checks the PIN, which takes start-up
        // from the sum of the files to about the slowest.
        let workers = ids.len().min(LOGIN_THREADS);
        let (checked, opened) = std::thread::scope(|scope| {
            let dir = &self.dir;
            let ids = &ids;
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    scope.spawn(move || {
                        ids.iter()
                            .skip(w)
                            .step_by(workers)
                            .map(|id| (id.clone(), open_key_file(dir, id, pin)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let checked = self.check_pin(pin);
            let opened: Vec<_> = handles
                .into_iter()
                .enumerate()
                .flat_map(|(w, h)| {
                    // A thread that died leaves its files unread, not forgotten.
                    h.join().unwrap_or_else(|_| {
                        ids.iter()
                            .skip(w)
                            .step_by(workers)
                            .map(|id| {
                                let e = SignerError::Config(format!("opening {id}.p12 failed"));
                                (id.clone(), Err(e))
                            })
                            .collect()
                    })
                })
                .collect();
            (checked, opened)
        });
        checked?;
        let mut keys = HashMap::new();
        let mut unreadable = Vec::new();
        for (id, result) in opened {
            match result {
                Ok(Some(k)) => {
                    keys.insert(id, Arc::new(k));
                }
                Ok(None) => {
                    tracing::warn!(key = %id, "the token PIN does not open this key file; skipped");
                    unreadable.push(id);
                }
                Err(e) => {
                    tracing::warn!(key = %id, "unreadable key file; skipped: {e}");
                    unreadable.push(id);
                }
            }
        }
        unreadable.sort();
        self.keys = keys;
        self.unreadable = unreadable;
        self.pin = Some(pin.clone());
        Ok(())
    }

    /// Logs out: forgets the PIN and the keys.
    pub fn logout(&mut self) {
        self.pin = None;
        self.keys.clear();
    }

    /// Changes the PIN: every key file is re-encrypted into a new directory, which then
    /// replaces the old one. Copies under the old PIN are deleted, not kept as backups: an old
    /// PIN that leaked must not open anything. The token stays logged in with the new PIN.
    pub fn change_pin(&mut self, old: &Pin, new: &Pin, policy: PinPolicy) -> Result<()> {
        self.check_pin(old)?;
        policy.check(new)?;
        let parent = self
            .dir
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .to_owned();
        let name = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "softtoken".into());
        let tmp = parent.join(format!("{name}-new"));
        let old_dir = parent.join(format!("{name}-old"));
        let _ = std::fs::remove_dir_all(&tmp);
        let _ = std::fs::remove_dir_all(&old_dir);
        std::fs::create_dir_all(&tmp).map_err(|e| SignerError::io(&tmp, e))?;
        let result = (|| {
            let mut keys = HashMap::new();
            for id in self.key_ids_on_disk()? {
                let path = p12_path(&self.dir, &id);
                let bytes = std::fs::read(&path).map_err(|e| SignerError::io(&path, e))?;
                let key =
                    open_p12(&bytes, old, &format!("key file {id}.p12"))?.ok_or_else(|| {
                        SignerError::Config(format!("the old PIN does not open key file {id}.p12"))
                    })?;
                write_atomic(&p12_path(&tmp, &id), &build_p12(&key, &id, new)?, true)?;
                keys.insert(id, Arc::new(key));
            }
            self.write_verifier(&tmp, new)?;
            Ok(keys)
        })();
        let keys = match result {
            Ok(k) => k,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        std::fs::rename(&self.dir, &old_dir).map_err(|e| SignerError::io(&self.dir, e))?;
        if let Err(e) = std::fs::rename(&tmp, &self.dir) {
            let _ = std::fs::rename(&old_dir, &self.dir);
            return Err(SignerError::io(&self.dir, e));
        }
        let _ = std::fs::remove_dir_all(&old_dir);
        self.keys = keys;
        self.unreadable.clear();
        self.pin = Some(new.clone());
        Ok(())
    }

    fn active_pin(&self) -> Result<&Pin> {
        self.pin
            .as_ref()
            .ok_or_else(|| SignerError::TokenNotActive(SOFT_TOKEN_ID.into()))
    }

    /// Stores `key` under `key_id` (encrypted under the token PIN) and keeps it in memory.
    pub fn store_key(&mut self, key_id: &str, key: PKey<Private>) -> Result<()> {
        let pin = self.active_pin()?;
        let bytes = build_p12(&key, key_id, pin)?;
        write_atomic(&p12_path(&self.dir, key_id), &bytes, true)?;
        self.keys.insert(key_id.to_owned(), Arc::new(key));
        Ok(())
    }

    /// Generates a key; returns its id.
    pub fn generate(
        &mut self,
        algorithm: crate::keys::KeyAlgorithm,
    ) -> Result<(String, Arc<PKey<Private>>)> {
        self.active_pin()?;
        let id = crate::keys::random_key_id()?;
        let key = crate::keys::generate(algorithm)?;
        self.store_key(&id, key)?;
        let key = self
            .keys
            .get(&id)
            .cloned()
            .ok_or_else(|| SignerError::KeyNotFound(id.clone()))?;
        Ok((id, key))
    }

    /// Deletes a key's file and forgets it.
    pub fn delete(&mut self, key_id: &str) -> Result<()> {
        self.active_pin()?;
        let path = p12_path(&self.dir, key_id);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(SignerError::io(&path, e)),
        }
        self.keys.remove(key_id);
        Ok(())
    }

    /// The private key `key_id`, while logged in.
    pub fn key(&self, key_id: &str) -> Result<Arc<PKey<Private>>> {
        self.active_pin()?;
        self.keys
            .get(key_id)
            .cloned()
            .ok_or_else(|| SignerError::KeyNotFound(key_id.to_owned()))
    }

    /// Ids of the keys in memory.
    pub fn loaded_key_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.keys.keys().cloned().collect();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encrypted_and_open_only_with_the_pin() {
        let dir = tempfile::tempdir().unwrap();
        let mut token = SoftToken::new(dir.path().join("softtoken"));
        let pin = Pin::new("1234-abcd");
        token.init(&pin, PinPolicy::None).unwrap();
        let (id, key) = token.generate(crate::keys::KeyAlgorithm::EcP256).unwrap();
        let file = std::fs::read(dir.path().join(format!("softtoken/{id}.p12"))).unwrap();
        let raw = key.private_key_to_der().unwrap();
        assert!(!file.windows(32).any(|w| raw.windows(32).any(|r| r == w)));
        assert!(open_p12(&file, &Pin::new("wrong"), "f").unwrap().is_none());
        assert!(open_p12(&file, &pin, "f").unwrap().is_some());

        token.logout();
        assert!(matches!(
            token.key(&id),
            Err(SignerError::TokenNotActive(_))
        ));
        let err = token.login(&Pin::new("nope")).unwrap_err();
        assert!(matches!(err, SignerError::PinIncorrect(_)));
        assert!(!format!("{err} {err:?}").contains("nope"));
        token.login(&pin).unwrap();
        assert!(token.key(&id).is_ok());

        let new = Pin::new("Better-PIN-2024");
        assert!(token
            .change_pin(&pin, &Pin::new("short"), PinPolicy::Enforced)
            .is_err());
        token.change_pin(&pin, &new, PinPolicy::Enforced).unwrap();
        token.logout();
        assert!(token.login(&pin).is_err());
        token.login(&new).unwrap();
        assert_eq!(token.loaded_key_ids(), vec![id.clone()]);
        token.delete(&id).unwrap();
        assert!(token.key_ids_on_disk().unwrap().is_empty());
    }
}
