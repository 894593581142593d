//! The OCSP responses endpoint (port 5577, Java `CertHashBasedOcspResponder`): a peer's client
//! proxy asks for the OCSP responses of this server's authentication certificate chain before
//! it trusts the TLS connection (PROTOCOL-DIGEST §5.2).
//!
//! * `GET /?cert={sha1hex}[&cert=…]` → `200`, `multipart/related; type="application/ocsp-response";
//!   charset=UTF-8; boundary=…`, one `application/ocsp-response` part per hash, in request order.
//!   `cert_hash={sha256hex}` (sent by newer clients next to `cert`) is used only when no `cert`
//!   is given, through [`OcspSource::sha1_of_sha256`].
//! * `HEAD` → `200`, empty (heartbeat); any other method → `500`.
//! * A hash without a response, or no hash at all → `500` with Java's message as the body.
//!
//! Any path is accepted, as Jetty's handler does.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use xroad_crypto::{Certificate, DigestAlgorithm};

use crate::serve::{self, Body};

/// The MIME type of one part, and of the `type` parameter of the multipart.
pub const OCSP_RESPONSE_TYPE: &str = "application/ocsp-response";

/// Where the endpoint takes OCSP responses from: the signer's cache of responses for this
/// server's own certificates (`xroad_signer::SignerHandle::ocsp_responses`, which the binary
/// wraps in a closure).
pub trait OcspSource: Send + Sync + 'static {
    /// DER responses for certificates by lower-case hex SHA-1 of their DER, in the order
    /// asked; `None` for a certificate without a (fresh) response.
    fn responses(&self, sha1_hex: &[&str]) -> Vec<Option<Vec<u8>>>;

    /// The lower-case hex SHA-1 of the certificate whose lower-case hex SHA-256 is given,
    /// if known; lets a request carrying only `cert_hash` be answered.
    fn sha1_of_sha256(&self, sha256_hex: &str) -> Option<String> {
        let _ = sha256_hex;
        None
    }
}

impl<F> OcspSource for F
where
    F: Fn(&[&str]) -> Vec<Option<Vec<u8>>> + Send + Sync + 'static,
{
    fn responses(&self, sha1_hex: &[&str]) -> Vec<Option<Vec<u8>>> {
        self(sha1_hex)
    }
}

/// An [`OcspSource`] that also answers `cert_hash` (SHA-256) requests for a known set of
/// certificates (this server's authentication certificate chain).
pub struct IndexedOcspSource<S> {
    source: S,
    sha256_to_sha1: HashMap<String, String>,
}

impl<S: OcspSource> IndexedOcspSource<S> {
    /// `source`, with the SHA-256 → SHA-1 mapping of `certs`.
    pub fn new<'a>(source: S, certs: impl IntoIterator<Item = &'a Certificate>) -> Self {
        let sha256_to_sha1 = certs
            .into_iter()
            .map(|c| {
                let sha256 = hex(c.hash(DigestAlgorithm::Sha256).as_bytes());
                (sha256, c.sha1_hex())
            })
            .collect();
        IndexedOcspSource {
            source,
            sha256_to_sha1,
        }
    }
}

impl<S> std::fmt::Debug for IndexedOcspSource<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexedOcspSource")
            .field("certificates", &self.sha256_to_sha1.len())
            .finish_non_exhaustive()
    }
}

impl<S: OcspSource> OcspSource for IndexedOcspSource<S> {
    fn responses(&self, sha1_hex: &[&str]) -> Vec<Option<Vec<u8>>> {
        self.source.responses(sha1_hex)
    }

    fn sha1_of_sha256(&self, sha256_hex: &str) -> Option<String> {
        self.sha256_to_sha1
            .get(sha256_hex)
            .cloned()
            .or_else(|| self.source.sha1_of_sha256(sha256_hex))
    }
}

/// Serves OCSP responses from `source` on `listener` until `shutdown` completes; then stops
/// accepting and lets requests in flight finish (for a few seconds at most).
pub async fn serve_ocsp_responses(
    listener: TcpListener,
    source: Arc<dyn OcspSource>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve::serve(
        listener,
        move |req: Request<hyper::body::Incoming>| {
            let response = respond(source.as_ref(), req.method(), req.uri().query());
            async move { response }
        },
        shutdown,
    )
    .await
}

/// The answer to one request (what Jetty's `RequestHandler` does).
pub(crate) fn respond(
    source: &dyn OcspSource,
    method: &Method,
    query: Option<&str>,
) -> Response<Body> {
    let result = match *method {
        // Heartbeat.
        Method::HEAD => return serve::text(StatusCode::OK, Bytes::new()),
        Method::GET => multipart(source, query.unwrap_or("")),
        _ => Err(format!("Invalid request method: {method}")),
    };
    result.unwrap_or_else(|message| serve::text(StatusCode::INTERNAL_SERVER_ERROR, message))
}

fn multipart(source: &dyn OcspSource, query: &str) -> Result<Response<Body>, String> {
    let hashes = requested_sha1_hashes(source, query)?;
    let keys: Vec<&str> = hashes.iter().map(String::as_str).collect();
    let mut found = source.responses(&keys).into_iter();
    let boundary = xroad_mime::Boundaries::generate()
        .map_err(|e| e.to_string())?
        .top()
        .to_owned();
    // Jetty's `MultiPartOutputStream`: CRLF between parts, `Content-Type: ` capitalised.
    let mut body = Vec::new();
    for (i, hash) in hashes.iter().enumerate() {
        let der = found
            .next()
            .flatten()
            .ok_or_else(|| format!("Could not find OCSP response for certificate {hash}"))?;
        if i > 0 {
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--");
        body.extend_from_slice(boundary.as_bytes());
        body.extend_from_slice(b"\r\nContent-Type: ");
        body.extend_from_slice(OCSP_RESPONSE_TYPE.as_bytes());
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(&der);
    }
    body.extend_from_slice(b"\r\n--");
    body.extend_from_slice(boundary.as_bytes());
    body.extend_from_slice(b"--\r\n");

    let content_type = format!(
        "multipart/related; type=\"{OCSP_RESPONSE_TYPE}\"; charset=UTF-8; boundary={boundary}"
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    // The boundary is ASCII letters: always a valid header value.
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(CONTENT_TYPE, v);
    }
    Ok(response)
}

/// The SHA-1 hashes asked for: every `cert`, else every `cert_hash` mapped to its SHA-1
/// (a SHA-256 without a mapping fails like a missing response).
fn requested_sha1_hashes(source: &dyn OcspSource, query: &str) -> Result<Vec<String>, String> {
    let mut sha1 = Vec::new();
    let mut sha256 = Vec::new();
    for (name, value) in form_pairs(query) {
        match name.as_str() {
            "cert" => sha1.push(value.to_ascii_lowercase()),
            "cert_hash" => sha256.push(value.to_ascii_lowercase()),
            _ => {}
        }
    }
    if !sha1.is_empty() {
        return Ok(sha1);
    }
    if sha256.is_empty() {
        return Err("Could not get cert hashes".to_owned());
    }
    sha256
        .into_iter()
        .map(|h| {
            source
                .sha1_of_sha256(&h)
                .ok_or_else(|| format!("Could not find OCSP response for certificate {h}"))
        })
        .collect()
}

/// `application/x-www-form-urlencoded` pairs of a query string, decoded as Jetty does
/// (`+` is a space, `%XX` a byte, UTF-8; a malformed escape is kept as written).
fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(name), decode(value))
    })
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match bytes.get(i + 1..i + 3).and_then(hex_byte) {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| char::from(c).to_digit(16);
    match pair {
        [h, l] => Some(u8::try_from(digit(*h)? * 16 + digit(*l)?).ok()?),
        _ => None,
    }
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn source() -> impl OcspSource {
        |hashes: &[&str]| {
            hashes
                .iter()
                .map(|h| match *h {
                    "aa" => Some(b"DER-A".to_vec()),
                    "bb" => Some(b"DER-B".to_vec()),
                    _ => None,
                })
                .collect()
        }
    }

    async fn body(r: Response<Body>) -> Vec<u8> {
        r.into_body().collect().await.unwrap().to_bytes().to_vec()
    }

    fn boundary(r: &Response<Body>) -> String {
        let ct = r.headers()[CONTENT_TYPE].to_str().unwrap();
        let prefix =
            "multipart/related; type=\"application/ocsp-response\"; charset=UTF-8; boundary=";
        assert!(ct.starts_with(prefix), "{ct}");
        ct[prefix.len()..].to_owned()
    }

    #[tokio::test]
    async fn parts_in_request_order_with_jetty_framing() {
        let r = respond(
            &source(),
            &Method::GET,
            Some("cert=bb&cert=AA&cert_hash=ff"),
        );
        assert_eq!(r.status(), StatusCode::OK);
        let b = boundary(&r);
        let expected = format!(
            "--{b}\r\nContent-Type: application/ocsp-response\r\n\r\nDER-B\r\n\
             --{b}\r\nContent-Type: application/ocsp-response\r\n\r\nDER-A\r\n--{b}--\r\n"
        );
        assert_eq!(String::from_utf8(body(r).await).unwrap(), expected);
    }

    #[tokio::test]
    async fn missing_hash_and_no_hash_are_500_with_java_messages() {
        let r = respond(&source(), &Method::GET, Some("cert=aa&cert=cc"));
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body(r).await,
            b"Could not find OCSP response for certificate cc"
        );
        for q in [None, Some(""), Some("other=1")] {
            let r = respond(&source(), &Method::GET, q);
            assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(body(r).await, b"Could not get cert hashes");
        }
        let r = respond(&source(), &Method::PUT, Some("cert=aa"));
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body(r).await, b"Invalid request method: PUT");
        let r = respond(&source(), &Method::HEAD, None);
        assert_eq!(r.status(), StatusCode::OK);
        assert!(body(r).await.is_empty());
    }

    #[tokio::test]
    async fn cert_hash_alone_is_mapped_through_the_source() {
        let plain = respond(&source(), &Method::GET, Some("cert_hash=1234"));
        assert_eq!(plain.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body(plain).await,
            b"Could not find OCSP response for certificate 1234"
        );
        struct Mapped;
        impl OcspSource for Mapped {
            fn responses(&self, h: &[&str]) -> Vec<Option<Vec<u8>>> {
                h.iter()
                    .map(|h| (*h == "aa").then(|| b"X".to_vec()))
                    .collect()
            }
            fn sha1_of_sha256(&self, h: &str) -> Option<String> {
                (h == "1234").then(|| "aa".to_owned())
            }
        }
        let r = respond(&Mapped, &Method::GET, Some("cert_hash=1234"));
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[test]
    fn query_decoding() {
        let pairs: Vec<_> = form_pairs("a=%41%2b+b&&c&d=%zz%4").collect();
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "A+ b".into()),
                ("c".into(), String::new()),
                ("d".into(), "%zz%4".into())
            ]
        );
    }
}
