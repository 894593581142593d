//! OCSP responses for the server's own certificates: fetched from the responders that the
//! global configuration lists for the issuing CA (in cost-type order, then the certificate's
//! own AIA responder, failing over to the next on any error), verified with
//! `xroad_crypto::ocsp`, kept in memory and on disk as `<sha1 hex>.ocsp`, refreshed every
//! `ocspFetchInterval` seconds (sooner after a failure), and served to the proxy for
//! signatures and the 5577 endpoint.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use xroad_crypto::ocsp::{self, CertStatus, OcspResponse};
use xroad_crypto::{Certificate, TrustContext};
use xroad_globalconf::{ConfigurationDirectory, PrioritizationStrategy};

use crate::error::{Result, SignerError};
use crate::fsutil::write_atomic;
use crate::keyconf::status;
use crate::signer::Signer;

/// The default `ocspFetchInterval` (seconds).
pub const DEFAULT_FETCH_INTERVAL: Duration = Duration::from_secs(1200);
/// The smallest fetch interval Java accepts.
pub const MIN_FETCH_INTERVAL: Duration = Duration::from_secs(60);
/// Java's `signer.ocsp-retry-delay`.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(60);

/// Where and how often responses are fetched: what the global configuration says.
#[derive(Debug, Clone)]
pub struct OcspSettings {
    /// Approved CAs, responder certificates and freshness.
    pub trust: Arc<TrustContext>,
    /// The own instance (own certificates chain to its approved CAs).
    pub instance: String,
    /// Responder URLs by CA certificate (DER), in the order to try.
    pub responders: Vec<(Vec<u8>, Vec<String>)>,
    /// How often to refresh.
    pub fetch_interval: Duration,
    /// How soon to retry after a failure.
    pub retry_delay: Duration,
    /// Connection timeout (Java: 20 s).
    pub connect_timeout: Duration,
    /// Whole-response timeout (Java: 60 s read).
    pub read_timeout: Duration,
}

impl OcspSettings {
    /// Settings with defaults for `trust` and `responders`.
    pub fn new(
        trust: Arc<TrustContext>,
        instance: &str,
        responders: Vec<(Vec<u8>, Vec<String>)>,
    ) -> Self {
        OcspSettings {
            trust,
            instance: instance.to_owned(),
            responders,
            fetch_interval: DEFAULT_FETCH_INTERVAL,
            retry_delay: DEFAULT_RETRY_DELAY,
            connect_timeout: Duration::from_secs(20),
            read_timeout: Duration::from_secs(60),
        }
    }

    /// Reads a global configuration directory: the own instance's approved CAs and their
    /// responders ordered by `strategy`, and `ocspFetchInterval` from
    /// `<instance>/fetchinterval-params.xml` (default 1200 s, at least 60 s).
    pub fn from_directory(path: &Path, strategy: PrioritizationStrategy) -> Result<Self> {
        let conf = ConfigurationDirectory::load(path)
            .map_err(|e| SignerError::Config(e.message().to_owned()))?;
        let trust = Arc::new(
            conf.trust_context()
                .map_err(|e| SignerError::Config(e.message().to_owned()))?,
        );
        let instance = conf.instance().to_owned();
        let mut responders = Vec::new();
        if let Some(own) = conf.own() {
            for ca in &own.approved_cas {
                for c in std::iter::once(&ca.top).chain(&ca.intermediates) {
                    let urls = own
                        .ocsp_responder_urls(&c.cert, strategy)
                        .into_iter()
                        .map(str::to_owned)
                        .collect();
                    responders.push((c.cert.clone(), urls));
                }
            }
        }
        let mut s = OcspSettings::new(trust, &instance, responders);
        if let Ok(text) =
            std::fs::read_to_string(path.join(&instance).join("fetchinterval-params.xml"))
        {
            s.fetch_interval = parse_fetch_interval(&text)?;
        }
        Ok(s)
    }

    fn urls_for(&self, issuer: &Certificate, cert: &Certificate) -> Vec<String> {
        let mut urls: Vec<String> = self
            .responders
            .iter()
            .filter(|(der, _)| der.as_slice() == issuer.der())
            .flat_map(|(_, u)| u.iter().cloned())
            .collect();
        for u in cert.ocsp_urls() {
            if !urls.contains(u) {
                urls.push(u.clone());
            }
        }
        urls
    }
}

/// `conf/ocspFetchInterval` of `fetchinterval-params.xml`, at least 60 s.
pub fn parse_fetch_interval(xml: &str) -> Result<Duration> {
    let root = crate::xml::Element::parse(xml.as_bytes(), "fetchinterval-params.xml")?;
    let text = root.child_text("ocspFetchInterval").ok_or_else(|| {
        SignerError::Config("fetchinterval-params.xml has no ocspFetchInterval".into())
    })?;
    let secs: u64 = text.parse().map_err(|_| {
        SignerError::Config(format!(
            "ocspFetchInterval {text:?} is not a number of seconds"
        ))
    })?;
    Ok(Duration::from_secs(secs).max(MIN_FETCH_INTERVAL))
}

/// The OCSP state of one certificate.
#[derive(Debug, Clone)]
pub struct OcspState {
    /// Lower-case hex SHA-1 of the certificate.
    pub cert_hash: String,
    /// The cached response, if any.
    pub response: Option<Arc<OcspResponse>>,
    /// Whether that response is fresh now.
    pub fresh: bool,
    /// The last fetch error, if the last fetch failed.
    pub error: Option<String>,
}

/// The outcome of one refresh round.
#[derive(Debug, Default, Clone)]
pub struct RefreshReport {
    /// Certificates whose response was fetched: (hash, status).
    pub fetched: Vec<(String, CertStatus)>,
    /// Certificates whose fetch failed: (hash, reason).
    pub failed: Vec<(String, String)>,
}

/// Cache, client and refresh of own certificates' OCSP responses.
pub struct OcspManager {
    dir: PathBuf,
    settings: RwLock<Arc<OcspSettings>>,
    cache: RwLock<HashMap<String, Arc<OcspResponse>>>,
    errors: RwLock<HashMap<String, String>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for OcspManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcspManager")
            .field("dir", &self.dir)
            .finish()
    }
}

fn lock_err() -> SignerError {
    SignerError::Ocsp("a lock is poisoned".into())
}

impl OcspManager {
    /// A manager caching in `dir`; responses already there are loaded (unparseable files
    /// are skipped with a warning).
    pub fn new(dir: impl Into<PathBuf>, settings: OcspSettings) -> Self {
        let dir = dir.into();
        let mut cache = HashMap::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(hash) = name.strip_suffix(".ocsp") else {
                    continue;
                };
                match std::fs::read(e.path())
                    .map_err(|e| e.to_string())
                    .and_then(|b| OcspResponse::from_der(&b).map_err(|e| e.message().to_owned()))
                {
                    Ok(r) => {
                        cache.insert(hash.to_ascii_lowercase(), Arc::new(r));
                    }
                    Err(e) => {
                        tracing::warn!(file = %name, error = %e, "unreadable cached OCSP response skipped")
                    }
                }
            }
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(settings.connect_timeout));
        OcspManager {
            dir,
            settings: RwLock::new(Arc::new(settings)),
            cache: RwLock::new(cache),
            errors: RwLock::new(HashMap::new()),
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// Replaces the settings (a new global configuration).
    pub fn set_settings(&self, settings: OcspSettings) -> Result<()> {
        *self.settings.write().map_err(|_| lock_err())? = Arc::new(settings);
        Ok(())
    }

    /// The current settings.
    pub fn settings(&self) -> Result<Arc<OcspSettings>> {
        Ok(self.settings.read().map_err(|_| lock_err())?.clone())
    }

    async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> std::result::Result<Vec<u8>, String> {
        let req = hyper::Request::post(url)
            .header("Content-Type", "application/ocsp-request")
            .header("Accept", "application/ocsp-response")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("bad responder URL: {e}"))?;
        let work = async {
            let resp = self.client.request(req).await.map_err(|e| format!("{e}"))?;
            if resp.status() != hyper::StatusCode::OK {
                return Err(format!("HTTP status {}", resp.status()));
            }
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            if body.is_empty() {
                return Err("empty response".into());
            }
            Ok(body.to_vec())
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| "timed out".to_owned())?
    }

    /// Fetches a response for `cert` (issued by `issuer`) from `urls` in order; the first that
    /// verifies at `at` (freshness, responder, signature; any status) wins.
    pub async fn fetch_from(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        urls: &[String],
        at: SystemTime,
    ) -> Result<OcspResponse> {
        let settings = self.settings()?;
        let request = ocsp::request(cert, issuer);
        let mut reasons = Vec::new();
        for url in urls {
            let result = match self.post(url, request.clone(), settings.read_timeout).await {
                Ok(bytes) => OcspResponse::from_der(&bytes)
                    .and_then(|r| {
                        r.verify_validity(cert, issuer, &settings.trust, at)
                            .map(|()| r)
                    })
                    .map_err(|e| e.message().to_owned()),
                Err(e) => Err(e),
            };
            match result {
                Ok(r) => return Ok(r),
                Err(e) => {
                    tracing::warn!(responder = %url, error = %e, "OCSP responder failed; trying the next");
                    reasons.push(format!("{url}: {e}"));
                }
            }
        }
        if reasons.is_empty() {
            return Err(SignerError::Ocsp(format!(
                "no OCSP responder is known for certificate {}",
                cert.subject()
            )));
        }
        Err(SignerError::Ocsp(reasons.join("; ")))
    }

    /// Fetches and caches the response of one certificate at `at`.
    pub async fn fetch_cert(
        &self,
        cert: &Certificate,
        at: SystemTime,
    ) -> Result<Arc<OcspResponse>> {
        let settings = self.settings()?;
        let hash = cert.sha1_hex();
        let result = async {
            let (_, ca) = settings
                .trust
                .issuer_in(&settings.instance, cert)
                .ok_or_else(|| {
                    SignerError::Ocsp(format!(
                        "certificate {} is not issued by an approved CA",
                        cert.subject()
                    ))
                })?;
            let urls = settings.urls_for(&ca.cert, cert);
            self.fetch_from(cert, &ca.cert, &urls, at).await
        }
        .await;
        match result {
            Ok(r) => {
                write_atomic(&self.dir.join(format!("{hash}.ocsp")), r.der(), false)?;
                let r = Arc::new(r);
                self.cache
                    .write()
                    .map_err(|_| lock_err())?
                    .insert(hash.clone(), r.clone());
                self.errors.write().map_err(|_| lock_err())?.remove(&hash);
                Ok(r)
            }
            Err(e) => {
                self.errors
                    .write()
                    .map_err(|_| lock_err())?
                    .insert(hash, e.to_string());
                Err(e)
            }
        }
    }

    /// One refresh round at `at`: every active, registered, non-self-signed certificate.
    pub async fn refresh_at(&self, signer: &Signer, at: SystemTime) -> Result<RefreshReport> {
        let mut report = RefreshReport::default();
        let mut seen = std::collections::HashSet::new();
        for c in signer.certs()? {
            if !c.active || c.status.as_deref() != Some(status::REGISTERED) {
                continue;
            }
            if c.cert.subject().matches(c.cert.issuer()) || !seen.insert(c.cert.sha1_hex()) {
                continue;
            }
            match self.fetch_cert(&c.cert, at).await {
                Ok(r) => report.fetched.push((c.cert.sha1_hex(), r.status())),
                Err(e) => report.failed.push((c.cert.sha1_hex(), e.to_string())),
            }
        }
        Ok(report)
    }

    /// [`refresh_at`](Self::refresh_at) now.
    pub async fn refresh(&self, signer: &Signer) -> Result<RefreshReport> {
        self.refresh_at(signer, SystemTime::now()).await
    }

    /// Refreshes now and then every fetch interval, or after the retry delay when a round
    /// had failures. Ends when the returned handle is aborted.
    pub fn spawn_refresh(self: Arc<Self>, signer: Arc<Signer>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let settings = match self.settings() {
                    Ok(s) => s,
                    Err(_) => return,
                };
                let wait = match self.refresh(&signer).await {
                    Ok(r) if r.failed.is_empty() => {
                        tracing::info!(fetched = r.fetched.len(), "OCSP responses refreshed");
                        settings.fetch_interval
                    }
                    Ok(r) => {
                        tracing::warn!(
                            failed = r.failed.len(),
                            "OCSP refresh failed for some certificates; retrying sooner"
                        );
                        settings.retry_delay.min(settings.fetch_interval)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "OCSP refresh failed; retrying sooner");
                        settings.retry_delay.min(settings.fetch_interval)
                    }
                };
                tokio::time::sleep(wait).await;
            }
        })
    }

    fn is_fresh(&self, r: &OcspResponse, at: SystemTime) -> bool {
        let Ok(settings) = self.settings() else {
            return false;
        };
        let at_s = xroad_crypto::time::to_unix(at);
        let this_update = xroad_crypto::time::to_unix(r.this_update());
        let next_ok = !settings.trust.verify_next_update
            || r.next_update()
                .is_none_or(|n| xroad_crypto::time::to_unix(n) >= at_s);
        this_update >= at_s - settings.trust.ocsp_freshness_seconds && next_ok
    }

    /// Fresh DER responses for certificates by lower-case hex SHA-1 (`None`: none or stale),
    /// at `at`.
    pub fn responses_at(&self, hashes: &[&str], at: SystemTime) -> Vec<Option<Vec<u8>>> {
        hashes
            .iter()
            .map(|h| {
                self.fresh_response(&h.to_ascii_lowercase(), at)
                    .map(|r| r.der().to_vec())
            })
            .collect()
    }

    /// The parsed response for one certificate (lower-case hex SHA-1) if it is fresh at
    /// `at`: the same `Arc` until the response is replaced.
    pub fn fresh_response(&self, hash: &str, at: SystemTime) -> Option<Arc<OcspResponse>> {
        let cache = self.cache.read().ok()?;
        cache.get(hash).filter(|r| self.is_fresh(r, at)).cloned()
    }

    /// [`responses_at`](Self::responses_at) now: what the proxy embeds and 5577 serves.
    pub fn responses(&self, hashes: &[&str]) -> Vec<Option<Vec<u8>>> {
        self.responses_at(hashes, SystemTime::now())
    }

    /// Stores a response the proxy got elsewhere (Java's `SetOcspResponses`).
    pub fn put(&self, hash: &str, der: &[u8]) -> Result<()> {
        let r =
            OcspResponse::from_der(der).map_err(|e| SignerError::Ocsp(e.message().to_owned()))?;
        let hash = hash.to_ascii_lowercase();
        if hash.len() != 40 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SignerError::InvalidInput(format!(
                "{hash:?} is not a SHA-1 hex hash"
            )));
        }
        write_atomic(&self.dir.join(format!("{hash}.ocsp")), der, false)?;
        self.cache
            .write()
            .map_err(|_| lock_err())?
            .insert(hash, Arc::new(r));
        Ok(())
    }

    /// The state of one certificate's response at `at`.
    pub fn state_at(&self, cert_hash: &str, at: SystemTime) -> OcspState {
        let hash = cert_hash.to_ascii_lowercase();
        let response = self.cache.read().ok().and_then(|c| c.get(&hash).cloned());
        let error = self.errors.read().ok().and_then(|e| e.get(&hash).cloned());
        OcspState {
            fresh: response.as_ref().is_some_and(|r| self.is_fresh(r, at)),
            cert_hash: hash,
            response,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_interval() {
        let xml = "<?xml version=\"1.0\"?><tns:conf xmlns:tns=\"http://x-road.eu/xsd/xroad.xsd\"><ocspFetchInterval>600</ocspFetchInterval></tns:conf>";
        assert_eq!(parse_fetch_interval(xml).unwrap(), Duration::from_secs(600));
        let low = xml.replace("600", "5");
        assert_eq!(parse_fetch_interval(&low).unwrap(), MIN_FETCH_INTERVAL);
        assert!(parse_fetch_interval(&xml.replace("600", "x")).is_err());
    }
}
