//! Where a configuration source can be downloaded from, in the order Java tries the
//! locations, and which configuration version a location serves.

use std::sync::Arc;

use rand::seq::SliceRandom;
use xroad_crypto::Certificate;
use xroad_fault::{ErrorCode, XRoadError};

use crate::http::HttpClient;

/// The newest global configuration version this client reads.
pub const CURRENT_VERSION: u32 = 6;
/// The oldest version; used without probing when no newer one is offered.
pub const MINIMUM_VERSION: u32 = 2;

/// One download URL of an instance's configuration with the certificates that may sign it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationLocation {
    /// The instance whose configuration this is.
    pub instance: String,
    /// The directory URL (`…/internalconf`, `…/externalconf`, possibly with `?version=N`).
    pub url: String,
    /// The verification certificates.
    pub certs: Vec<Arc<Certificate>>,
}

impl ConfigurationLocation {
    fn with_url(&self, url: String) -> ConfigurationLocation {
        ConfigurationLocation {
            url,
            ..self.clone()
        }
    }
}

/// Parses verification certificates, skipping (and naming) any that do not parse: such a
/// certificate can match no `Verification-certificate-hash`, so it is useless, not fatal.
pub fn parse_certs(ders: &[Vec<u8>]) -> Vec<Arc<Certificate>> {
    ders.iter()
        .filter_map(|der| match Certificate::from_der(der) {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                tracing::warn!("ignoring a verification certificate that does not parse: {e}");
                None
            }
        })
        .collect()
}

/// HTTPS variants of the plain-HTTP locations first, then the HTTP locations, each group
/// shuffled (Java's `shuffleLocationsPreferHttps`: the HTTPS variant keeps host and port).
/// Locations that already use HTTPS join the HTTPS group (Java drops them, which leaves an
/// HTTPS-only anchor with nowhere to download from).
pub fn shuffle_prefer_https(locations: &[ConfigurationLocation]) -> Vec<ConfigurationLocation> {
    let mut rng = rand::thread_rng();
    let mut https: Vec<ConfigurationLocation> = Vec::new();
    let mut plain: Vec<ConfigurationLocation> = Vec::new();
    for l in locations {
        if let Some(rest) = l.url.strip_prefix("http://") {
            https.push(l.with_url(format!("https://{rest}")));
            plain.push(l.clone());
        } else {
            https.push(l.clone());
        }
    }
    https.shuffle(&mut rng);
    plain.shuffle(&mut rng);
    https.extend(plain);
    https
}

/// Appends `location` to `list` unless an equal one is there (Java keeps them in a
/// `LinkedHashSet`).
pub fn push_unique(list: &mut Vec<ConfigurationLocation>, location: ConfigurationLocation) {
    if !list.contains(&location) {
        list.push(location);
    }
}

/// Whether `url` already names a `version` query parameter.
fn has_version(url: &url::Url) -> bool {
    url.query_pairs().any(|(k, _)| k == "version")
}

fn with_version(url: &url::Url, version: u32) -> String {
    let mut u = url.clone();
    let others: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != "version")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = u.query_pairs_mut();
        q.clear();
        q.extend_pairs(others);
        q.append_pair("version", &version.to_string());
    }
    u.to_string()
}

/// Which version to download from `location`: a `version` already in the URL is kept; a
/// `fixed` version is set; otherwise `GET ?version=N` is probed from `max` down to 3 and the
/// first answer that is not 404 wins, and version 2 is used, unprobed, when all are 404
/// (Java's `LocationVersionResolver`). A connection failure ends the probing with
/// `global_conf_get_version_failed`.
pub async fn versioned_location(
    http: &HttpClient,
    location: &ConfigurationLocation,
    fixed: Option<u32>,
    max: u32,
) -> Result<ConfigurationLocation, XRoadError> {
    let failed = |why: String| {
        XRoadError::new(
            ErrorCode::GlobalConfGetVersionFailed,
            format!(
                "Failed to determine configuration version from {}: {why}",
                location.url
            ),
        )
    };
    let url = url::Url::parse(&location.url).map_err(|e| failed(e.to_string()))?;
    if let Some(v) = fixed {
        return Ok(location.with_url(with_version(&url, v)));
    }
    if has_version(&url) {
        return Ok(location.clone());
    }
    for version in (MINIMUM_VERSION + 1..=max).rev() {
        let candidate = with_version(&url, version);
        tracing::debug!("probing global configuration version {version} at {candidate}");
        let response = http
            .get(&candidate)
            .await
            .map_err(|e| failed(e.to_string()))?;
        if response.status != 404 {
            tracing::debug!("using global configuration version {version}");
            return Ok(location.with_url(candidate));
        }
    }
    Ok(location.with_url(with_version(&url, MINIMUM_VERSION)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(url: &str) -> ConfigurationLocation {
        ConfigurationLocation {
            instance: "EE".into(),
            url: url.into(),
            certs: Vec::new(),
        }
    }

    #[test]
    fn https_variants_come_first_and_keep_the_port() {
        let out = shuffle_prefer_https(&[loc("http://a:8080/internalconf"), loc("http://b/x")]);
        let urls: Vec<&str> = out.iter().map(|l| l.url.as_str()).collect();
        assert_eq!(urls.len(), 4);
        assert!(urls[..2].iter().all(|u| u.starts_with("https://")));
        assert!(urls[2..].iter().all(|u| u.starts_with("http://")));
        assert!(urls.contains(&"https://a:8080/internalconf"));
        let https_only = shuffle_prefer_https(&[loc("https://c/internalconf")]);
        assert_eq!(https_only, vec![loc("https://c/internalconf")]);
    }

    #[test]
    fn version_parameter_replaces_an_existing_one() {
        let u = url::Url::parse("http://cs/internalconf?version=1&x=y").unwrap();
        assert!(has_version(&u));
        assert_eq!(with_version(&u, 8), "http://cs/internalconf?x=y&version=8");
        let plain = url::Url::parse("http://cs/internalconf").unwrap();
        assert_eq!(with_version(&plain, 5), "http://cs/internalconf?version=5");
    }
}
