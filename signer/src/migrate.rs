//! Migration from a Java security server: its signer directory (`keyconf.xml` plus the
//! software token's `softtoken/*.p12` files), opened with the token PIN, becomes ours, so the
//! server keeps its identity and certificates.

use std::path::Path;

use crate::error::{Result, SignerError};
use crate::keyconf::KeyConf;
use crate::pin::Pin;
use crate::signer::Signer;
use crate::softtoken::{open_p12, SOFT_TOKEN_ID, SOFT_TOKEN_TYPE};

/// What a migration brought over.
#[derive(Debug, Default, Clone)]
pub struct MigrationReport {
    /// Software-token keys imported (re-encrypted under the same PIN with our KDF).
    pub keys: Vec<String>,
    /// Certificates that came with them.
    pub certs: usize,
    /// PKCS#11 devices whose records were copied (their keys stay on the device).
    pub devices: Vec<String>,
    /// Keys already present here, left as they were.
    pub skipped: Vec<String>,
}

impl Signer {
    /// Imports the Java signer directory `java_dir` (e.g. a copy of `/etc/xroad/signer`) with
    /// the software token PIN. Every key file must open with the PIN and hold the public key
    /// that `keyconf.xml` records; nothing is written unless all do. Our software token is
    /// created with the same PIN if it does not exist, and must accept it if it does.
    pub fn import_java(&self, java_dir: &Path, pin: &Pin) -> Result<MigrationReport> {
        let conf_path = java_dir.join("keyconf.xml");
        if !conf_path.is_file() {
            return Err(SignerError::Config(format!(
                "{} does not exist",
                conf_path.display()
            )));
        }
        let java = KeyConf::load(&conf_path)?;
        let soft_dir = java_dir.join("softtoken");
        let verifier = soft_dir.join(".softtoken.p12");
        let bytes = std::fs::read(&verifier).map_err(|e| SignerError::io(&verifier, e))?;
        if open_p12(&bytes, pin, "the PIN verifier .softtoken.p12")?.is_none() {
            return Err(SignerError::PinIncorrect(SOFT_TOKEN_ID.into()));
        }
        // Open and check every key before writing anything.
        let mut keys = Vec::new();
        let mut report = MigrationReport::default();
        for device in &java.devices {
            if device.device_type != SOFT_TOKEN_TYPE {
                report.devices.push(device.id.clone());
                continue;
            }
            for key in &device.keys {
                let file = soft_dir.join(format!("{}.p12", key.key_id));
                let bytes = std::fs::read(&file).map_err(|e| SignerError::io(&file, e))?;
                let what = format!("key file {}.p12", key.key_id);
                let pkey = open_p12(&bytes, pin, &what)?.ok_or_else(|| {
                    SignerError::Config(format!("the token PIN does not open {what}"))
                })?;
                if let Some(recorded) = &key.public_key {
                    let ours = pkey.public_key_to_der()?;
                    let theirs = openssl::pkey::PKey::public_key_from_der(recorded)
                        .and_then(|k| k.public_key_to_der())
                        .map_err(|_| {
                            SignerError::Config(format!(
                                "keyconf.xml: the publicKey of key {} is malformed",
                                key.key_id
                            ))
                        })?;
                    if ours != theirs {
                        return Err(SignerError::Config(format!(
                            "{what} does not hold the public key keyconf.xml records for it"
                        )));
                    }
                }
                keys.push((key.clone(), pkey));
            }
        }
        let soft_initialized = self.read()?.soft.is_initialized();
        if soft_initialized {
            self.login(SOFT_TOKEN_ID, pin)?;
        } else {
            self.init_software_token(pin)?;
        }
        let mut st = self.write()?;
        for (mut key, pkey) in keys {
            if st.keyconf.key(&key.key_id).is_some() {
                report.skipped.push(key.key_id.clone());
                continue;
            }
            st.soft.store_key(&key.key_id, pkey)?;
            if key.public_key.is_none() {
                key.public_key = Some(st.soft.key(&key.key_id)?.public_key_to_der()?);
            }
            report.certs += key.certs.len();
            report.keys.push(key.key_id.clone());
            if let Some(d) = st.keyconf.device_mut(SOFT_TOKEN_ID) {
                d.keys.push(key);
            }
        }
        for device in java
            .devices
            .iter()
            .filter(|d| d.device_type != SOFT_TOKEN_TYPE)
        {
            if st.keyconf.device(&device.id).is_none() {
                st.keyconf.devices.push(device.clone());
            }
        }
        self.save(&st)?;
        tracing::info!(
            keys = report.keys.len(),
            certs = report.certs,
            "Java signer directory imported"
        );
        Ok(report)
    }
}
