//! A configuration directory on disk, in the layout the Java security servers use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use xroad_crypto::{ApprovedCa, CaCert, Certificate, TrustContext};
use xroad_fault::{ErrorCode, XRoadError};

use crate::shared_params::{CaInfo, SharedParameters};

/// The shared parameters of every instance in a configuration directory.
#[derive(Debug, Clone)]
pub struct ConfigurationDirectory {
    path: PathBuf,
    instance: String,
    shared: BTreeMap<String, std::sync::Arc<SharedParameters>>,
    /// Files that could not be read, with the reason (Java skips them silently).
    pub skipped: Vec<(PathBuf, String)>,
}

fn malformed(msg: impl Into<String>) -> XRoadError {
    XRoadError::new(ErrorCode::MalformedGlobalConf, msg)
}

impl ConfigurationDirectory {
    /// Reads the directory at `path`.
    pub fn load(path: &Path) -> Result<ConfigurationDirectory, XRoadError> {
        let id_file = path.join("instance-identifier");
        let instance = std::fs::read_to_string(&id_file)
            .map_err(|e| malformed(format!("cannot read {}: {e}", id_file.display())))?
            .trim()
            .to_owned();
        if instance.is_empty() {
            return Err(malformed(format!("{} is empty", id_file.display())));
        }
        let entries = std::fs::read_dir(path)
            .map_err(|e| malformed(format!("cannot read the directory {}: {e}", path.display())))?;
        let mut shared = BTreeMap::new();
        let mut skipped = Vec::new();
        for entry in entries.flatten() {
            let file = entry.path().join("shared-params.xml");
            if !file.is_file() {
                continue;
            }
            let parsed = std::fs::read(&file)
                .map_err(|e| malformed(e.to_string()))
                .and_then(|bytes| SharedParameters::parse(&bytes));
            match parsed {
                Ok(mut p) => {
                    let (version, expires) =
                        metadata(&entry.path().join("shared-params.xml.metadata"));
                    p.version = version;
                    p.expires = expires;
                    let dir_name = entry.file_name().to_string_lossy().into_owned();
                    shared.insert(dir_name, std::sync::Arc::new(p));
                }
                Err(e) => skipped.push((file, e.message().to_owned())),
            }
        }
        Ok(ConfigurationDirectory {
            path: path.to_owned(),
            instance,
            shared,
            skipped,
        })
    }

    /// The security server's own instance (`instance-identifier`).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The shared parameters by instance folder name.
    pub fn shared_parameters(&self) -> impl Iterator<Item = (&str, &SharedParameters)> {
        self.shared.iter().map(|(k, v)| (k.as_str(), &**v))
    }

    /// The shared parameters of `instance`.
    pub fn shared(&self, instance: &str) -> Option<&SharedParameters> {
        self.shared
            .values()
            .map(|p| &**p)
            .find(|p| p.instance == instance)
    }

    /// The own instance's private parameters (read on request; `None` when absent).
    pub fn own_private(&self) -> Result<Option<crate::PrivateParameters>, XRoadError> {
        let file = self.path.join(&self.instance).join("private-params.xml");
        match std::fs::read(&file) {
            Ok(bytes) => crate::PrivateParameters::parse(&bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(malformed(format!("cannot read {}: {e}", file.display()))),
        }
    }

    /// The own instance's shared parameters.
    pub fn own(&self) -> Option<&SharedParameters> {
        self.shared.get(&self.instance).map(|p| &**p)
    }

    /// Every instance's shared parameters, shareable (what peer verification looks in).
    pub fn all_shared(&self) -> Vec<std::sync::Arc<SharedParameters>> {
        self.shared.values().cloned().collect()
    }

    /// What verification trusts: the approved CAs and TSAs of every instance, the own
    /// instance's OCSP freshness, and whether `nextUpdate` is checked (the optional
    /// `nextupdate-params.xml`; on when absent).
    pub fn trust_context(&self) -> Result<TrustContext, XRoadError> {
        let mut cas = Vec::new();
        let mut tsas = Vec::new();
        for params in self.shared.values() {
            for ca in &params.approved_cas {
                cas.push(ApprovedCa {
                    instance: params.instance.clone(),
                    name: ca.name.clone(),
                    top: ca_cert(&ca.top, &ca.name)?,
                    intermediates: ca
                        .intermediates
                        .iter()
                        .map(|i| ca_cert(i, &ca.name))
                        .collect::<Result<_, _>>()?,
                    profile_class: ca.certificate_profile_info.clone(),
                    authentication_only: ca.authentication_only,
                });
            }
            for tsa in &params.approved_tsas {
                let cert = Certificate::from_der(&tsa.cert)
                    .map_err(|e| malformed(format!("the certificate of TSA {}: {e}", tsa.name)))?;
                tsas.push(Arc::new(cert));
            }
        }
        let freshness = self
            .own()
            .and_then(|p| p.ocsp_freshness_seconds)
            .unwrap_or(3600);
        Ok(TrustContext::new(cas)
            .with_tsas(tsas)
            .with_ocsp_freshness(freshness)
            .with_verify_next_update(self.verify_next_update()))
    }

    /// The bytes of the own instance's optional part `name`, if present.
    fn own_part(&self, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path.join(&self.instance).join(name)).ok()
    }

    /// Whether OCSP `nextUpdate` is verified (`nextupdate-params.xml`; on when absent or
    /// invalid, the safe side).
    pub fn verify_next_update(&self) -> bool {
        self.own_part("nextupdate-params.xml")
            .is_none_or(|xml| crate::extensions::parse_verify_next_update(&xml).unwrap_or(true))
    }

    /// The signer's OCSP fetch interval in seconds (`fetchinterval-params.xml`; 1200 when
    /// absent or invalid, as Java's default).
    pub fn ocsp_fetch_interval(&self) -> u32 {
        self.own_part("fetchinterval-params.xml")
            .and_then(|xml| crate::extensions::parse_ocsp_fetch_interval(&xml).ok())
            .unwrap_or(1200)
    }

    /// The monitoring client (`monitoring-params.xml`), if one is named.
    pub fn monitoring_client(&self) -> Option<xroad_identifiers::ClientId> {
        self.own_part("monitoring-params.xml")
            .and_then(|xml| crate::extensions::parse_monitoring_client(&xml).ok())
            .flatten()
    }
}

/// `configurationVersion` (2 when absent, as Java reads it) and `expirationDate` of a part's
/// `.metadata` file.
fn metadata(path: &Path) -> (u32, Option<String>) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return (2, None);
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return (2, None);
    };
    let version = match json.get("configurationVersion") {
        Some(serde_json::Value::String(v)) => v.trim().parse().unwrap_or(2),
        Some(serde_json::Value::Number(n)) => {
            n.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(2)
        }
        _ => 2,
    };
    let expires = json
        .get("expirationDate")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    (version, expires)
}

fn ca_cert(info: &CaInfo, name: &str) -> Result<CaCert, XRoadError> {
    let cert = Certificate::from_der(&info.cert)
        .map_err(|e| malformed(format!("the certificate of CA {name}: {e}")))?;
    let mut ca = CaCert::new(Arc::new(cert));
    for o in &info.ocsp {
        if let Some(der) = &o.cert {
            let c = Certificate::from_der(der).map_err(|e| {
                malformed(format!("the OCSP responder certificate of CA {name}: {e}"))
            })?;
            ca = ca.with_ocsp_responder(Arc::new(c));
        }
    }
    Ok(ca)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/vectors/xroad-7.8/globalconf")
            .join(rel)
    }

    #[test]
    fn reads_the_vector_directories() {
        let v2 = ConfigurationDirectory::load(&vectors("globalconf_good_v2")).unwrap();
        assert_eq!(v2.instance(), "EE");
        let ee = v2.own().unwrap();
        assert_eq!(ee.approved_cas.len(), 5);
        assert_eq!(ee.ocsp_freshness_seconds, Some(42));
        assert_eq!(ee.approved_tsas.len(), 1);
        let trust = v2.trust_context().unwrap();
        assert_eq!(trust.ocsp_freshness_seconds, 42);
        assert!(trust.verify_next_update);
        let dev = ConfigurationDirectory::load(&vectors("globalconf_good2_v3")).unwrap();
        assert_eq!(dev.instance(), "DEV");
        let ca = &dev.own().unwrap().approved_cas[0];
        assert_eq!(ca.name, "Test CA");
        assert!(ca
            .certificate_profile_info
            .ends_with("FiVRKCertificateProfileInfoProvider"));
        assert_eq!(ca.top.ocsp[0].url, "http://testca:8888");
        // Mixed versions and instance folders with trailing spaces in instance-identifier.
        let v6 = ConfigurationDirectory::load(&vectors("globalconf_good_v6")).unwrap();
        assert_eq!(v6.instance(), "EE");
        assert!(v6.trust_context().is_ok());
        // A malformed part is skipped, not fatal.
        let bad = ConfigurationDirectory::load(&vectors("globalconf_malformed")).unwrap();
        assert_eq!(bad.skipped.len(), 1);
        assert!(ConfigurationDirectory::load(&vectors("globalconf_missing_identifier")).is_err());
    }
}
