//! An OCSP responder for the test CA: answers every `CertID` of a request (SHA-1, as X-Road
//! sends them, or SHA-256) with a `BasicOCSPResponse` signed by the responder certificate,
//! `thisUpdate` now (or older, to test staleness), `good` unless the serial was revoked, and
//! `unknown` for certificates of other CAs. Served over HTTP on loopback: POST
//! `application/ocsp-request`, and GET with the base64 request in the path (RFC 6960 A.1).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Private};
use ring::digest;

use crate::der::{self, context, Tlv};
use crate::pki::{hex_upper, Pki, PkiError};

const OID_OCSP_BASIC: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
const OID_OCSP_NONCE: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];
const OID_SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_RSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];

/// The largest request accepted.
const MAX_REQUEST: usize = 64 * 1024;

/// What the responder currently says; changed at runtime by tests.
#[derive(Debug, Clone, Default)]
pub struct ResponderState {
    /// Revoked serials (upper-case hex, as [`crate::pki::serial_hex`] gives them) and when.
    pub revoked: HashMap<String, SystemTime>,
    /// How far in the past `thisUpdate` is (zero: now; more than the freshness: stale).
    pub age: Duration,
    /// `nextUpdate` this long after `thisUpdate`, if set.
    pub next_update: Option<Duration>,
    /// Answer `tryLater` instead of a response.
    pub unavailable: bool,
}

/// Builds signed responses: the responder's key and certificate and the CA it answers for.
pub struct ResponseSigner {
    key: PKey<Private>,
    cert_der: Vec<u8>,
    responder_name: Vec<u8>,
    ca_name: Vec<u8>,
    ca_key_bits: Vec<u8>,
}

impl std::fmt::Debug for ResponseSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseSigner { .. }")
    }
}

/// The `subjectPublicKey` BIT STRING content (without the unused-bits byte) of a DER
/// `SubjectPublicKeyInfo`: what `issuerKeyHash` hashes.
fn key_bits(spki: &[u8]) -> Result<Vec<u8>, &'static str> {
    let (seq, _) = der::expect(spki, der::SEQUENCE, "SubjectPublicKeyInfo")?;
    let (_, rest) = der::expect(seq.content, der::SEQUENCE, "algorithm")?;
    let (bits, _) = der::expect(rest, der::BIT_STRING, "subjectPublicKey")?;
    bits.content
        .split_first()
        .map(|(_, b)| b.to_vec())
        .ok_or("empty subjectPublicKey")
}

/// DER GeneralizedTime `YYYYMMDDHHMMSSZ`.
fn generalized_time(t: SystemTime, out: &mut Vec<u8>) {
    let s = xroad_crypto::time::format_xsd_millis(t);
    let digits: String = s.chars().take(19).filter(char::is_ascii_digit).collect();
    der::write(der::GENERALIZED_TIME, format!("{digits}Z").as_bytes(), out);
}

/// An `OCSPResponse` with only a status (malformedRequest 1, internalError 2, tryLater 3).
fn status_only(status: u8) -> Vec<u8> {
    let mut out = Vec::new();
    der::nested(der::SEQUENCE, &mut out, |r| {
        der::write(der::ENUMERATED, &[status], r)
    });
    out
}

/// One `CertID` of a request: its DER, hash algorithm OID, hashes and serial magnitude.
struct RequestedCert<'a> {
    raw: &'a [u8],
    hash_oid: &'a [u8],
    name_hash: &'a [u8],
    key_hash: &'a [u8],
    serial: &'a [u8],
}

/// The `CertID`s and the nonce extension (raw `Extension` DER) of a DER `OCSPRequest`.
fn parse_request(bytes: &[u8]) -> Result<(Vec<RequestedCert<'_>>, Option<&[u8]>), &'static str> {
    let (req, _) = der::expect(bytes, der::SEQUENCE, "OCSPRequest")?;
    let (tbs, _) = der::expect(req.content, der::SEQUENCE, "TBSRequest")?;
    let mut rest = tbs.content;
    let mut certs = Vec::new();
    let mut nonce = None;
    while !rest.is_empty() {
        let (t, next) = der::read(rest)?;
        rest = next;
        match t.tag {
            der::SEQUENCE => {
                let mut list = t.content;
                while !list.is_empty() {
                    let (one, next) = der::expect(list, der::SEQUENCE, "Request")?;
                    list = next;
                    certs.push(parse_cert_id(one)?);
                }
            }
            t2 if t2 == context(2) => {
                let (exts, _) = der::expect(t.content, der::SEQUENCE, "requestExtensions")?;
                let mut e = exts.content;
                while !e.is_empty() {
                    let (ext, next) = der::expect(e, der::SEQUENCE, "Extension")?;
                    e = next;
                    let (oid, _) = der::expect(ext.content, der::OID, "extnID")?;
                    if oid.content == OID_OCSP_NONCE {
                        nonce = Some(ext.raw);
                    }
                }
            }
            _ => {} // version, requestorName
        }
    }
    if certs.is_empty() {
        return Err("no Request in requestList");
    }
    Ok((certs, nonce))
}

fn parse_cert_id(request: Tlv<'_>) -> Result<RequestedCert<'_>, &'static str> {
    let (id, _) = der::expect(request.content, der::SEQUENCE, "CertID")?;
    let (alg, rest) = der::expect(id.content, der::SEQUENCE, "hashAlgorithm")?;
    let (oid, _) = der::expect(alg.content, der::OID, "hashAlgorithm OID")?;
    let (name_hash, rest) = der::expect(rest, der::OCTET_STRING, "issuerNameHash")?;
    let (key_hash, rest) = der::expect(rest, der::OCTET_STRING, "issuerKeyHash")?;
    let (serial, _) = der::expect(rest, der::INTEGER, "serialNumber")?;
    let magnitude = match serial.content {
        [0, tail @ ..] if !tail.is_empty() => tail,
        s => s,
    };
    Ok(RequestedCert {
        raw: id.raw,
        hash_oid: oid.content,
        name_hash: name_hash.content,
        key_hash: key_hash.content,
        serial: magnitude,
    })
}

impl ResponseSigner {
    /// The responder of `pki`'s CA.
    pub fn new(pki: &Pki) -> Result<ResponseSigner, PkiError> {
        let spki = pki.ca_cert().public_key()?.public_key_to_der()?;
        Ok(ResponseSigner {
            key: pki.ocsp_key().clone(),
            cert_der: pki.ocsp_cert_der()?,
            responder_name: pki.ocsp_cert().subject_name().to_der()?,
            ca_name: pki.ca_cert().subject_name().to_der()?,
            ca_key_bits: key_bits(&spki).map_err(|e| PkiError::Invalid(e.into()))?,
        })
    }

    fn issued_by_ca(&self, c: &RequestedCert<'_>) -> bool {
        let alg = match c.hash_oid {
            OID_SHA1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            OID_SHA256 => &digest::SHA256,
            _ => return false,
        };
        digest::digest(alg, &self.ca_name).as_ref() == c.name_hash
            && digest::digest(alg, &self.ca_key_bits).as_ref() == c.key_hash
    }

    /// The DER `OCSPResponse` to the DER `OCSPRequest` `request` at `now` in `state`
    /// (`malformedRequest` when it cannot be read).
    pub fn respond(&self, request: &[u8], state: &ResponderState, now: SystemTime) -> Vec<u8> {
        if state.unavailable {
            return status_only(3);
        }
        let Ok((certs, nonce)) = parse_request(request) else {
            return status_only(1);
        };
        self.sign_response(&certs, nonce, state, now)
            .unwrap_or_else(|_| status_only(2))
    }

    fn sign_response(
        &self,
        certs: &[RequestedCert<'_>],
        nonce: Option<&[u8]>,
        state: &ResponderState,
        now: SystemTime,
    ) -> Result<Vec<u8>, PkiError> {
        let this_update = now.checked_sub(state.age).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut tbs = Vec::new();
        der::nested(der::SEQUENCE, &mut tbs, |d| {
            der::write(context(1), &self.responder_name, d);
            generalized_time(now, d);
            der::nested(der::SEQUENCE, d, |list| {
                for c in certs {
                    der::nested(der::SEQUENCE, list, |one| {
                        one.extend_from_slice(c.raw);
                        let revoked = state.revoked.get(&hex_upper(c.serial));
                        match (self.issued_by_ca(c), revoked) {
                            (false, _) => der::write(0x82, &[], one),
                            (true, None) => der::write(0x80, &[], one),
                            (true, Some(&at)) => {
                                der::nested(context(1), one, |r| generalized_time(at, r))
                            }
                        }
                        generalized_time(this_update, one);
                        if let Some(next) = state.next_update {
                            der::nested(context(0), one, |n| {
                                generalized_time(this_update + next, n)
                            });
                        }
                    });
                }
            });
            if let Some(ext) = nonce {
                der::nested(context(1), d, |e| der::write(der::SEQUENCE, ext, e));
            }
        });
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &self.key)?;
        signer.update(&tbs)?;
        let signature = signer.sign_to_vec()?;
        let rsa = self.key.id() == Id::RSA;

        let mut basic = Vec::new();
        der::nested(der::SEQUENCE, &mut basic, |b| {
            b.extend_from_slice(&tbs);
            der::nested(der::SEQUENCE, b, |a| {
                der::write(
                    der::OID,
                    if rsa {
                        OID_RSA_SHA256
                    } else {
                        OID_ECDSA_SHA256
                    },
                    a,
                );
                if rsa {
                    der::write(der::NULL, &[], a);
                }
            });
            let mut bits = vec![0];
            bits.extend_from_slice(&signature);
            der::write(der::BIT_STRING, &bits, b);
            der::nested(context(0), b, |c| {
                der::write(der::SEQUENCE, &self.cert_der, c)
            });
        });
        let mut out = Vec::new();
        der::nested(der::SEQUENCE, &mut out, |r| {
            der::write(der::ENUMERATED, &[0], r);
            der::nested(context(0), r, |rb| {
                der::nested(der::SEQUENCE, rb, |s| {
                    der::write(der::OID, OID_OCSP_BASIC, s);
                    der::write(der::OCTET_STRING, &basic, s);
                });
            });
        });
        Ok(out)
    }
}

/// A running responder on `127.0.0.1`; dropping it stops it.
#[derive(Debug)]
pub struct OcspResponder {
    addr: SocketAddr,
    state: Arc<RwLock<ResponderState>>,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OcspResponder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OcspResponder {
    /// Starts a responder for `pki`'s CA at an ephemeral loopback port.
    pub async fn start(pki: &Pki) -> std::io::Result<OcspResponder> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        Self::start_on(listener, pki)
    }

    /// Starts a responder for `pki`'s CA on an already bound listener (inside a tokio
    /// runtime).
    pub fn start_on(listener: std::net::TcpListener, pki: &Pki) -> std::io::Result<OcspResponder> {
        let signer = Arc::new(ResponseSigner::new(pki).map_err(std::io::Error::other)?);
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(RwLock::new(ResponderState::default()));
        let requests = Arc::new(AtomicUsize::new(0));
        let (st, count) = (state.clone(), requests.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (signer, st, count) = (signer.clone(), st.clone(), count.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (signer, st, count) = (signer.clone(), st.clone(), count.clone());
                        async move {
                            count.fetch_add(1, Ordering::Relaxed);
                            Ok::<_, Infallible>(handle(req, &signer, &st).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(OcspResponder {
            addr,
            state,
            requests,
            task,
        })
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`: the responder URL for global configuration.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// How many HTTP requests it has answered.
    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Changes what the responder says.
    pub fn update(&self, f: impl FnOnce(&mut ResponderState)) {
        if let Ok(mut s) = self.state.write() {
            f(&mut s);
        }
    }

    /// Revokes (now) or un-revokes the certificate with serial `serial_hex`
    /// ([`crate::pki::serial_hex`]).
    pub fn set_revoked(&self, serial_hex: &str, revoked: bool) {
        let serial = serial_hex.trim_start_matches("0x").to_ascii_uppercase();
        self.update(|s| {
            if revoked {
                s.revoked.insert(serial, SystemTime::now());
            } else {
                s.revoked.remove(&serial);
            }
        });
    }

    /// Makes `thisUpdate` `age` old (older than the freshness: stale responses).
    pub fn set_age(&self, age: Duration) {
        self.update(|s| s.age = age);
    }

    /// Sets `nextUpdate` to `thisUpdate` plus `after` (none when `None`).
    pub fn set_next_update(&self, after: Option<Duration>) {
        self.update(|s| s.next_update = after);
    }

    /// Answers `tryLater` (unavailable) or normally.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.update(|s| s.unavailable = unavailable);
    }
}

fn ocsp_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if status == StatusCode::OK {
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/ocsp-response"),
        );
    }
    r
}

/// Percent-decodes a path segment.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    signer: &ResponseSigner,
    state: &RwLock<ResponderState>,
) -> Response<Full<Bytes>> {
    let request = match *req.method() {
        Method::POST => match Limited::new(req.into_body(), MAX_REQUEST).collect().await {
            Ok(b) => b.to_bytes().to_vec(),
            Err(_) => return ocsp_response(StatusCode::PAYLOAD_TOO_LARGE, Vec::new()),
        },
        Method::GET => {
            let encoded = req.uri().path().trim_start_matches('/');
            let decoded = percent_decode(encoded).and_then(|b64| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim_ascii())
                    .ok()
            });
            match decoded {
                Some(d) => d,
                None => return ocsp_response(StatusCode::BAD_REQUEST, Vec::new()),
            }
        }
        _ => return ocsp_response(StatusCode::METHOD_NOT_ALLOWED, Vec::new()),
    };
    let snapshot = state.read().map(|s| s.clone()).unwrap_or_default();
    ocsp_response(
        StatusCode::OK,
        signer.respond(&request, &snapshot, SystemTime::now()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{generate_key, serial_hex, KeyKind, PROFILE};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use xroad_crypto::ocsp::{self, CertStatus, OcspResponse};
    use xroad_crypto::{ApprovedCa, CaCert, Certificate, TrustContext};
    use xroad_identifiers::ClientId;

    struct Setup {
        pki: Pki,
        ca: Certificate,
        cert: Certificate,
        trust: TrustContext,
    }

    fn setup(kind: KeyKind) -> Setup {
        let pki = Pki::new("Test CA", kind).unwrap();
        let key = generate_key(KeyKind::EcP256).unwrap();
        let member = ClientId::member("DEV", "COM", "1234").unwrap();
        let cert = pki
            .issue_sign_cert(&key.public_key_to_der().unwrap(), &member)
            .unwrap();
        let ca = Certificate::from_der(&pki.ca_cert_der().unwrap()).unwrap();
        let responder = Certificate::from_der(&pki.ocsp_cert_der().unwrap()).unwrap();
        let trust = TrustContext::new(vec![ApprovedCa {
            name: "Test CA".into(),
            instance: "DEV".into(),
            profile_class: PROFILE.into(),
            authentication_only: false,
            top: CaCert::new(Arc::new(ca.clone())).with_ocsp_responder(Arc::new(responder)),
            intermediates: vec![],
        }]);
        Setup {
            pki,
            ca,
            cert: Certificate::from_der(&cert).unwrap(),
            trust,
        }
    }

    #[test]
    fn good_revoked_unknown_and_stale_verify_as_x_road_does() {
        for kind in [KeyKind::EcP256, KeyKind::Rsa2048] {
            let s = setup(kind);
            let signer = ResponseSigner::new(&s.pki).unwrap();
            let request = ocsp::request(&s.cert, &s.ca);
            let now = SystemTime::now();
            let mut state = ResponderState::default();

            let good = OcspResponse::from_der(&signer.respond(&request, &state, now)).unwrap();
            assert_eq!(good.status(), CertStatus::Good);
            good.verify(&s.cert, &s.ca, &s.trust, now).unwrap();
            assert!(good.next_update().is_none());

            state.revoked.insert(serial_hex(s.cert.der()).unwrap(), now);
            state.next_update = Some(Duration::from_secs(600));
            let revoked = OcspResponse::from_der(&signer.respond(&request, &state, now)).unwrap();
            assert!(matches!(revoked.status(), CertStatus::Revoked(_)));
            revoked
                .verify_validity(&s.cert, &s.ca, &s.trust, now)
                .unwrap();
            assert!(revoked.verify(&s.cert, &s.ca, &s.trust, now).is_err());
            assert!(revoked.next_update().is_some());

            let stale = ResponderState {
                age: Duration::from_secs(7200),
                ..ResponderState::default()
            };
            let old = OcspResponse::from_der(&signer.respond(&request, &stale, now)).unwrap();
            let e = old.verify(&s.cert, &s.ca, &s.trust, now).unwrap_err();
            assert!(e.message().contains("too old"), "{e:?}");

            // A certificate of another CA: unknown.
            let other = setup(KeyKind::EcP256);
            let foreign = ocsp::request(&other.cert, &other.ca);
            let unknown = OcspResponse::from_der(&signer.respond(&foreign, &state, now)).unwrap();
            assert_eq!(unknown.status(), CertStatus::Unknown);

            assert_eq!(signer.respond(b"junk", &state, now), status_only(1));
            let down = ResponderState {
                unavailable: true,
                ..ResponderState::default()
            };
            assert!(OcspResponse::from_der(&signer.respond(&request, &down, now)).is_err());
        }
    }

    async fn http(addr: SocketAddr, request: Vec<u8>) -> Vec<u8> {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(&request).await.unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.unwrap();
        let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        assert!(
            out.starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
        out[split + 4..].to_vec()
    }

    #[tokio::test]
    async fn served_over_post_and_get_and_revocable_at_runtime() {
        let s = setup(KeyKind::EcP256);
        let responder = OcspResponder::start(&s.pki).await.unwrap();
        let request = ocsp::request(&s.cert, &s.ca);
        let mut post = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            request.len()
        )
        .into_bytes();
        post.extend_from_slice(&request);
        let r = OcspResponse::from_der(&http(responder.addr(), post.clone()).await).unwrap();
        r.verify(&s.cert, &s.ca, &s.trust, SystemTime::now())
            .unwrap();

        responder.set_revoked(&serial_hex(s.cert.der()).unwrap(), true);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&request);
        let path = b64
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        let get = format!("GET /{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let r = OcspResponse::from_der(&http(responder.addr(), get.into_bytes()).await).unwrap();
        assert!(matches!(r.status(), CertStatus::Revoked(_)));
        assert_eq!(responder.request_count(), 2);
    }

    /// `openssl ocsp` (the command line tool) accepts the responses, nonce included.
    #[tokio::test]
    async fn openssl_ocsp_accepts_the_responses() {
        if std::process::Command::new("openssl")
            .arg("version")
            .output()
            .is_err()
        {
            eprintln!("openssl is not installed: skipped");
            return;
        }
        let s = setup(KeyKind::EcP256);
        let responder = OcspResponder::start(&s.pki).await.unwrap();
        let dir = std::env::temp_dir().join(format!("devnet-ocsp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), s.pki.ca_cert().to_pem().unwrap()).unwrap();
        let cert = openssl::x509::X509::from_der(s.cert.der()).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.to_pem().unwrap()).unwrap();
        let url = responder.url();
        let run = move |extra: &[&str]| {
            let mut args = vec![
                "ocsp", "-issuer", "ca.pem", "-cert", "cert.pem", "-CAfile", "ca.pem", "-url", &url,
            ];
            args.extend_from_slice(extra);
            std::process::Command::new("openssl")
                .args(&args)
                .current_dir(&dir)
                .output()
                .unwrap()
        };
        let out = tokio::task::spawn_blocking({
            let run = run.clone();
            move || run(&[])
        })
        .await
        .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(text.contains("Response verify OK"), "{text}");
        assert!(text.contains("cert.pem: good"), "{text}");
        assert!(!text.contains("WARNING"), "{text}");

        responder.set_revoked(&serial_hex(s.cert.der()).unwrap(), true);
        let out = tokio::task::spawn_blocking(move || run(&["-no_nonce"]))
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains("cert.pem: revoked"), "{text}");
        let _ = std::fs::remove_dir_all(
            std::env::temp_dir().join(format!("devnet-ocsp-{}", std::process::id())),
        );
    }
}
