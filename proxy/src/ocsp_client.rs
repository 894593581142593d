//! Fetching a provider's OCSP responses from its port 5577 (Java
//! `CertHashBasedOcspResponderClient`), and the client proxy's cache of peers' responses
//! (Java keeps them through `KeyConfProvider#setOcspResponses`; PROTOCOL-DIGEST §5.1 step 2).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use xroad_crypto::ocsp::OcspResponse;
use xroad_crypto::{Certificate, DigestAlgorithm, TrustContext};
use xroad_fault::{ErrorCode, XRoadError};
use xroad_mime::{ContentType, Event, MimeError, MultipartReader};

use crate::ocsp_responder::{hex, OCSP_RESPONSE_TYPE};

/// Java's default port of the OCSP responses endpoint (`proxy.ocsp-responder-port`).
pub const OCSP_RESPONDER_PORT: u16 = 5577;

/// The largest answer read: OCSP responses are a few KiB each.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The statuses Java's client accepts.
fn accepted(status: StatusCode) -> bool {
    matches!(status.as_u16(), 200..=208 | 226)
}

/// Java's wrapping: anything that goes wrong while fetching is `internal_error` with the
/// cause's message, and the client proxy's `AuthTrustVerifier` prefixes it with
/// `ssl_authentication_failed`.
fn fetch_error(message: impl Into<String>) -> XRoadError {
    XRoadError::new(ErrorCode::InternalError, message)
        .with_prefix(ErrorCode::SslAuthenticationFailed)
}

/// Asks the OCSP responses endpoint at `host`:`port` for the responses of `certs` (end-entity
/// first, then intermediates) and returns their DER, in the order of `certs`.
///
/// Sends `GET /?cert={sha1hex}…&cert_hash={sha256hex}…` with `Accept: multipart/related`;
/// accepts status 200–208 and 226, keeps the `application/ocsp-response` parts and requires
/// one per certificate. `timeout` bounds the connection and, separately, the exchange.
///
/// Errors are `ssl_authentication_failed.internal_error` with Java's messages (the reason
/// phrase of a refused status, "Error parsing response", "Could not get all OCSP responses
/// from server (expected N, but got M)", "connect timed out", "Read timed out", "Connection
/// refused", the host name when it does not resolve).
pub async fn fetch_ocsp_responses(
    host: &str,
    port: u16,
    certs: &[Arc<Certificate>],
    timeout: Duration,
) -> Result<Vec<Vec<u8>>, XRoadError> {
    let query = query(certs);
    let authority = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let connect = async {
        // Java's `UnknownHostException` carries just the host name.
        let addrs: Vec<_> = tokio::net::lookup_host(authority.as_str())
            .await
            .map_err(|_| fetch_error(host))?
            .collect();
        TcpStream::connect(addrs.as_slice())
            .await
            .map_err(|e| fetch_error(io_message(&e)))
    };
    let stream = tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| fetch_error("connect timed out"))??;
    let responses = tokio::time::timeout(timeout, exchange(stream, &authority, &query))
        .await
        .map_err(|_| fetch_error("Read timed out"))??;
    if responses.len() != certs.len() {
        return Err(fetch_error(format!(
            "Could not get all OCSP responses from server (expected {}, but got {})",
            certs.len(),
            responses.len()
        )));
    }
    Ok(responses)
}

/// `/?cert=…&cert_hash=…`: all SHA-1 hashes first, then all SHA-256 hashes, as Java builds it.
fn query(certs: &[Arc<Certificate>]) -> String {
    let sha1 = certs.iter().map(|c| format!("cert={}", c.sha1_hex()));
    let sha256 = certs.iter().map(|c| {
        format!(
            "cert_hash={}",
            hex(c.hash(DigestAlgorithm::Sha256).as_bytes())
        )
    });
    let params: Vec<String> = sha1.chain(sha256).collect();
    format!("/?{}", params.join("&"))
}

async fn exchange(
    stream: TcpStream,
    authority: &str,
    path_and_query: &str,
) -> Result<Vec<Vec<u8>>, XRoadError> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| fetch_error(e.to_string()))?;
    // The connection task ends with the exchange (the sender is dropped below).
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let request = Request::get(path_and_query)
        .header(HOST, authority)
        .header(ACCEPT, "multipart/related")
        .body(Empty::<Bytes>::new())
        .map_err(|e| fetch_error(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| fetch_error(e.to_string()))?;
    let status = response.status();
    if !accepted(status) {
        // `HttpURLConnection#getResponseMessage`: the reason phrase the server sent.
        let reason = response
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
            .or_else(|| status.canonical_reason().map(str::to_owned))
            .unwrap_or_default();
        return Err(fetch_error(reason));
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| fetch_error(e.to_string()))?
        .to_bytes();
    ocsp_parts(content_type.as_deref(), &body).map_err(|_| fetch_error("Error parsing response"))
}

/// The bodies of the `application/ocsp-response` parts, read as mime4j reads them headless
/// with the HTTP `Content-Type`: flat (nested multiparts are not entered), a body that is not
/// multipart is one entity of that type, and a body cut before its close delimiter ends there.
pub fn ocsp_parts(content_type: Option<&str>, body: &[u8]) -> Result<Vec<Vec<u8>>, MimeError> {
    let ct = content_type.and_then(|c| ContentType::parse(c).ok());
    let boundary = match &ct {
        Some(ct) if ct.is_multipart() => ct.boundary(),
        _ => None,
    };
    let Some(boundary) = boundary else {
        // Not a multipart (or one without boundary, which mime4j reads as plain text).
        let single = ct
            .as_ref()
            .is_some_and(|c| !c.is_multipart() && is_ocsp(c.essence()));
        return Ok(if single {
            vec![body.to_vec()]
        } else {
            Vec::new()
        });
    };
    let mut reader = MultipartReader::new(boundary)?;
    let mut input = body;
    let mut parts = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    loop {
        let (consumed, event) = match reader.next_event(input, true) {
            Ok(step) => step,
            // mime4j (non-strict) takes the end of the body as the end of the multipart.
            Err(
                MimeError::Truncated
                | MimeError::TruncatedHeaders
                | MimeError::MissingFirstBoundary,
            ) => break,
            Err(e) => return Err(e),
        };
        match event {
            Event::Headers(h) => {
                // A part without Content-Type is text/plain for mime4j.
                let ocsp = h
                    .content_type()
                    .and_then(|c| ContentType::parse(c).ok())
                    .is_some_and(|c| is_ocsp(c.essence()));
                current = ocsp.then(Vec::new);
            }
            Event::Data(d) => {
                if let Some(c) = current.as_mut() {
                    c.extend_from_slice(d);
                }
            }
            Event::PartEnd => parts.extend(current.take()),
            Event::End => break,
            Event::NeedMore => break,
        }
        input = &input[consumed..];
    }
    // A part cut by the end of the body still counts, as for mime4j.
    parts.extend(current.take());
    Ok(parts)
}

fn is_ocsp(essence: &str) -> bool {
    essence.eq_ignore_ascii_case(OCSP_RESPONSE_TYPE)
}

/// The message Java's socket exceptions carry for the usual failures.
fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "Connection refused".to_owned(),
        _ => e.to_string(),
    }
}

/// OCSP responses of peers' certificates, keyed by lower-case hex SHA-1 of the certificate
/// DER (the 5577 `cert` parameter). Thread-safe and cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct PeerOcspCache {
    entries: RwLock<HashMap<String, Arc<OcspResponse>>>,
}

impl PeerOcspCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The response cached for the certificate with this SHA-1 (lower-case hex).
    pub fn get(&self, sha1_hex: &str) -> Option<Arc<OcspResponse>> {
        self.read().get(sha1_hex).cloned()
    }

    /// The cached response if it is still fresh at `at` (see [`is_fresh`]).
    pub fn get_fresh(
        &self,
        sha1_hex: &str,
        trust: &TrustContext,
        at: SystemTime,
    ) -> Option<Arc<OcspResponse>> {
        self.get(sha1_hex).filter(|r| is_fresh(r, trust, at))
    }

    /// Caches `response` for the certificate with this SHA-1 (lower-case hex), replacing
    /// any earlier one.
    pub fn put(&self, sha1_hex: impl Into<String>, response: Arc<OcspResponse>) {
        let mut map = self.entries.write().unwrap_or_else(|p| p.into_inner());
        map.insert(sha1_hex.into(), response);
    }

    /// Drops every response no longer fresh at `at`; returns how many were dropped.
    pub fn evict_stale(&self, trust: &TrustContext, at: SystemTime) -> usize {
        let mut map = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let before = map.len();
        map.retain(|_, r| is_fresh(r, trust, at));
        before - map.len()
    }

    /// The number of cached responses.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<OcspResponse>>> {
        // The map is consistent after any panic elsewhere (single inserts and retains).
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The responses for `chain` (the peer's certificates without the trust anchor): each from
    /// the cache when fresh at `at`, the others fetched in one request from
    /// `host`:`port` (see [`fetch_ocsp_responses`]), parsed and cached; what Java's
    /// `AuthTrustVerifier#getOcspResponses` does. The result is in the order of `chain` and
    /// ready for [`verify_auth_cert`](crate::verify_auth_cert).
    pub async fn responses_for_chain(
        &self,
        host: &str,
        port: u16,
        chain: &[Arc<Certificate>],
        trust: &TrustContext,
        at: SystemTime,
        timeout: Duration,
    ) -> Result<Vec<Arc<OcspResponse>>, XRoadError> {
        let keys: Vec<String> = chain.iter().map(|c| c.sha1_hex()).collect();
        let mut out: Vec<Option<Arc<OcspResponse>>> =
            keys.iter().map(|k| self.get_fresh(k, trust, at)).collect();
        let missing: Vec<usize> = (0..chain.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let certs: Vec<Arc<Certificate>> = missing.iter().map(|&i| chain[i].clone()).collect();
            let ders = fetch_ocsp_responses(host, port, &certs, timeout).await?;
            for (&i, der) in missing.iter().zip(ders) {
                let parsed = Arc::new(OcspResponse::from_der(&der).map_err(|e| {
                    XRoadError::new(ErrorCode::InternalError, e.message())
                        .with_prefix(ErrorCode::SslAuthenticationFailed)
                })?);
                self.put(keys[i].clone(), parsed.clone());
                out[i] = Some(parsed);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}

/// X-Road's freshness rule for an OCSP response at `at` (Java `OcspVerifier`): `thisUpdate`
/// no older than the trust context's `ocspFreshnessSeconds`, and, when `nextUpdate` is
/// checked, `nextUpdate` (if given) not in the past.
pub fn is_fresh(response: &OcspResponse, trust: &TrustContext, at: SystemTime) -> bool {
    let max_age = Duration::from_secs(u64::try_from(trust.ocsp_freshness_seconds).unwrap_or(0));
    let oldest = at.checked_sub(max_age).unwrap_or(SystemTime::UNIX_EPOCH);
    if response.this_update() < oldest {
        return false;
    }
    !(trust.verify_next_update && response.next_update().is_some_and(|n| n < at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_parts_of_the_ocsp_type_only() {
        let body = b"--b\r\nContent-Type: application/ocsp-response\r\n\r\nONE\r\n\
                     --b\r\ncontent-type: text/plain\r\n\r\nskip\r\n\
                     --b\r\nCONTENT-TYPE: Application/OCSP-Response; x=1\r\n\r\nTWO\r\n--b--\r\n";
        let ct = "multipart/related; type=\"application/ocsp-response\"; boundary=b";
        assert_eq!(
            ocsp_parts(Some(ct), body).unwrap(),
            vec![b"ONE".to_vec(), b"TWO".to_vec()]
        );
        // Cut before the close delimiter: the last part ends with the body.
        let cut = b"--b\r\nContent-Type: application/ocsp-response\r\n\r\nONE";
        assert_eq!(ocsp_parts(Some(ct), cut).unwrap(), vec![b"ONE".to_vec()]);
        // No delimiter at all, or not a multipart: nothing.
        assert!(ocsp_parts(Some(ct), b"garbage").unwrap().is_empty());
        assert!(ocsp_parts(Some("text/plain"), b"x").unwrap().is_empty());
        assert!(ocsp_parts(None, b"x").unwrap().is_empty());
        assert!(ocsp_parts(Some("multipart/related"), b"x")
            .unwrap()
            .is_empty());
        // A single response as the whole body counts as one.
        assert_eq!(
            ocsp_parts(Some("application/ocsp-response"), b"X").unwrap(),
            vec![b"X".to_vec()]
        );
    }

    #[test]
    fn statuses_java_accepts() {
        for s in [200, 204, 208, 226] {
            assert!(accepted(StatusCode::from_u16(s).unwrap()));
        }
        for s in [209, 225, 301, 404, 500] {
            assert!(!accepted(StatusCode::from_u16(s).unwrap()));
        }
    }
}
