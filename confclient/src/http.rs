//! The HTTP(S) client of the configuration download: GET only, bounded in time and size.
//!
//! TLS follows Java's `HttpUrlConnectionConfigurer`: the system's trust store and hostname
//! verification by default, each of which an operator may switch off for sources with
//! self-signed certificates.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// How the client connects.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Time allowed to establish the TCP connection (Java: 10 s).
    pub connect_timeout: Duration,
    /// Time allowed for the whole response once connected (Java reads with a 30 s timeout).
    pub read_timeout: Duration,
    /// Verify the source's TLS certificate against the trust store.
    pub tls_cert_verification: bool,
    /// Check that the certificate names the host.
    pub hostname_verification: bool,
    /// Extra trusted roots (PEM or DER certificates), besides the system's.
    pub extra_roots: Vec<Vec<u8>>,
    /// The largest response body accepted.
    pub max_body: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            tls_cert_verification: true,
            hostname_verification: true,
            extra_roots: Vec::new(),
            max_body: 256 * 1024 * 1024,
        }
    }
}

/// A response read whole.
#[derive(Debug)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL is not an absolute `http(s)` URL.
    #[error("invalid URL {0}")]
    InvalidUrl(String),
    /// The TLS client could not be set up (trust store, protocol versions).
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// Connecting or sending failed.
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// No complete response in time.
    #[error("no response from {0} in time")]
    Timeout(String),
    /// Reading the body failed or it exceeded the size limit.
    #[error("cannot read the response from {url}: {reason}")]
    Body {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A reusable client (connections are pooled per host).
#[derive(Clone)]
pub struct HttpClient {
    client: Client<Connector, Empty<Bytes>>,
    settings: HttpSettings,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client with `settings`.
    pub fn new(settings: HttpSettings) -> Result<HttpClient, HttpError> {
        let tls = tls_config(&settings)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(settings.connect_timeout));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(HttpClient { client, settings })
    }

    /// `GET url`, the body read whole (up to the size limit).
    pub async fn get(&self, url: &str) -> Result<Response, HttpError> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|_| HttpError::InvalidUrl(url.to_owned()))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(HttpError::InvalidUrl(url.to_owned()));
        }
        let request = hyper::Request::get(uri)
            .header(hyper::header::USER_AGENT, "xroad-sidecar-confclient")
            .body(Empty::new())
            .map_err(|_| HttpError::InvalidUrl(url.to_owned()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| HttpError::Connect {
                    url: url.to_owned(),
                    reason: error_chain(&e),
                })?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), self.settings.max_body)
                .collect()
                .await
                .map_err(|e| HttpError::Body {
                    url: url.to_owned(),
                    reason: e.to_string(),
                })?
                .to_bytes();
            Ok(Response { status, body })
        };
        let deadline = self.settings.connect_timeout + self.settings.read_timeout;
        tokio::time::timeout(deadline, exchange)
            .await
            .map_err(|_| HttpError::Timeout(url.to_owned()))?
    }
}

/// The error and its sources on one line (hyper's top-level message alone says little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn tls_config(settings: &HttpSettings) -> Result<rustls::ClientConfig, HttpError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Tls(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = if settings.tls_cert_verification {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        for der in &settings.extra_roots {
            roots.add_parsable_certificates([CertificateDer::from(der.clone())]);
        }
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| HttpError::Tls(format!("trust store: {e}")))?;
        Arc::new(Verifier {
            inner: Some(webpki),
            hostname: settings.hostname_verification,
            provider,
        })
    } else {
        Arc::new(Verifier {
            inner: None,
            hostname: false,
            provider,
        })
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The trust store's verdict, with the hostname check optional, or (no `inner`) trust in
/// any certificate, as Java's switches allow. Handshake signatures are always checked.
#[derive(Debug)]
struct Verifier {
    inner: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    hostname: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(ServerCertVerified::assertion());
        };
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
                if !self.hostname =>
            {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
