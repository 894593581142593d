//! Calling the provider's information system from the server proxy: HTTP or HTTPS, no
//! redirects, the service's timeout, and for HTTPS with `ssl_authentication` the provider's
//! certificate pinned to the IS certificates of its client (Java's `ClientCertVerifier`).

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use xroad_fault::{ErrorCode, XRoadError};

use crate::transport::Body;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A pooled client for provider information systems.
#[derive(Clone)]
pub struct ServiceClient {
    any_cert: Client<Connector, Body>,
}

impl std::fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceClient")
    }
}

fn client(verifier: Arc<dyn ServerCertVerifier>) -> Client<Connector, Body> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth()
        });
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let connector = match tls {
        Ok(tls) => builder.with_tls_config(tls),
        // The ring provider always supports the default versions; fall back to webpki roots
        // would change semantics, so keep the same verifier on a default config.
        Err(_) => builder.with_tls_config(
            rustls::ClientConfig::builder()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned(None)))
                .with_no_client_auth(),
        ),
    }
    .https_or_http()
    .enable_http1()
    .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

impl Default for ServiceClient {
    fn default() -> Self {
        ServiceClient {
            any_cert: client(Arc::new(Pinned(None))),
        }
    }
}

/// A provider's answer: status, headers and the streaming body.
pub type ServiceResponse = hyper::Response<Incoming>;

impl ServiceClient {
    /// `POST url` with `headers` and `body`; only 200 and 500 are accepted (Java's
    /// `checkResponseStatus`). `pinned` = the IS certificates an HTTPS provider must present.
    pub async fn post(
        &self,
        url: &str,
        headers: Vec<(String, String)>,
        body: Body,
        timeout: Duration,
        pinned: Option<Vec<Vec<u8>>>,
    ) -> Result<ServiceResponse, XRoadError> {
        let response = self
            .send("POST", url, headers, body, timeout, pinned)
            .await?;
        check_response_status(&response)?;
        Ok(response)
    }

    /// Any request (REST services), any status.
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        headers: Vec<(String, String)>,
        body: Body,
        timeout: Duration,
        pinned: Option<Vec<Vec<u8>>>,
    ) -> Result<ServiceResponse, XRoadError> {
        let uri: hyper::Uri = url.parse().map_err(|e| {
            XRoadError::new(
                ErrorCode::ServiceMalformedUrl,
                format!("Malformed service address '{url}': {e}"),
            )
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(XRoadError::new(
                ErrorCode::ServiceMalformedUrl,
                format!("Malformed service address '{url}': not an http or https URL"),
            ));
        }
        let mut request = hyper::Request::builder().method(method).uri(uri);
        for (n, v) in &headers {
            request = request.header(n.as_str(), v.as_str());
        }
        let request = request.body(body).map_err(|e| {
            XRoadError::new(
                ErrorCode::InternalError,
                format!("Invalid request to {url}: {e}"),
            )
        })?;
        let client = match pinned {
            Some(certs) if url.starts_with("https") => client(Arc::new(Pinned(Some(certs)))),
            _ => self.any_cert.clone(),
        };
        // Java's codes: a failed connect is a `SocketException` (`network_error`); a read
        // time-out (`SocketTimeoutException`) or a connection closed without a (whole)
        // response (`NoHttpResponseException`) are other `IOException`s (`io_error`).
        match tokio::time::timeout(timeout, client.request(request)).await {
            Err(_) => Err(XRoadError::new(
                ErrorCode::IoError,
                format!(
                    "Read timed out: no response from {url} in {} s",
                    timeout.as_secs()
                ),
            )),
            // Java's `CustomSSLSocketFactory#connectSocket`: a certificate that is not pinned
            // is `ssl_authentication_failed` with the verifier's message.
            Ok(Err(e)) if untrusted_service_cert(&e).is_some() => Err(XRoadError::new(
                ErrorCode::SslAuthenticationFailed,
                untrusted_service_cert(&e).unwrap_or_default(),
            )),
            Ok(Err(e)) => Err(XRoadError::new(
                if e.is_connect() {
                    ErrorCode::NetworkError
                } else {
                    ErrorCode::IoError
                },
                format!("Cannot call {url}: {}", error_chain(&e)),
            )),
            Ok(Ok(r)) => Ok(r),
        }
    }
}

/// Java's `AbstractHttpSender#checkResponseStatus`: only `200` and `500` are answers; other
/// statuses are `http_error` with the status and the reason phrase sent.
pub(crate) fn check_response_status<B>(response: &hyper::Response<B>) -> Result<(), XRoadError> {
    let status = response.status();
    if status == hyper::StatusCode::OK || status == hyper::StatusCode::INTERNAL_SERVER_ERROR {
        return Ok(());
    }
    let reason = response
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or_else(|| status.canonical_reason().map(str::to_owned))
        .unwrap_or_default();
    Err(XRoadError::new(
        ErrorCode::HttpError,
        format!("Server responded with error {}: {reason}", status.as_u16()),
    ))
}

/// The error and its sources on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The service's certificate is not one of the pinned ones (the message is Java's).
#[derive(Debug)]
struct UntrustedServiceCert(&'static str);

impl std::fmt::Display for UntrustedServiceCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for UntrustedServiceCert {}

/// The message of an [`UntrustedServiceCert`] somewhere in `e`'s sources. I/O errors
/// (possibly nested: the TLS stream's inside the connector's) hold the TLS error without
/// naming it as their source.
fn untrusted_service_cert(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(rustls::Error::Other(rustls::OtherError(inner))) = e.downcast_ref::<rustls::Error>()
    {
        if let Some(u) = inner.downcast_ref::<UntrustedServiceCert>() {
            return Some(u.to_string());
        }
    }
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        if let Some(m) = untrusted_service_cert(inner) {
            return Some(m);
        }
    }
    e.source().and_then(untrusted_service_cert)
}

/// Accepts any certificate (`None`), or only one of the pinned ones. The handshake
/// signature is always checked.
#[derive(Debug)]
struct Pinned(Option<Vec<Vec<u8>>>);

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let untrusted = |message| {
            Err(rustls::Error::Other(rustls::OtherError(Arc::new(
                UntrustedServiceCert(message),
            ))))
        };
        match &self.0 {
            Some(pins) if pins.is_empty() => untrusted("Client has no IS certificates"),
            Some(pins) if !pins.iter().any(|p| p.as_slice() == end_entity.as_ref()) => {
                untrusted("IS certificate is not trusted")
            }
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crate::handshake::verify_tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crate::handshake::verify_tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        crate::handshake::schemes()
    }
}
