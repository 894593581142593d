//! The OCSP responses endpoint (5577) on a real listener, our client against it and against
//! bad answers, and `curl` / `openssl ocsp` reading what it serves.

mod pki;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pki::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use xroad_crypto::{Certificate, DigestAlgorithm};
use xroad_fault::{Spelling, XRoadError};
use xroad_proxy::{
    fetch_ocsp_responses, ocsp_parts, serve_ocsp_responses, IndexedOcspSource, OcspSource,
    PeerOcspCache,
};

const TIMEOUT: Duration = Duration::from_secs(5);

/// A running responder: its port, and a trigger that stops it.
struct Responder {
    port: u16,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Responder {
    async fn start(source: Arc<dyn OcspSource>) -> Responder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_ocsp_responses(listener, source, async {
            let _ = rx.await;
        }));
        Responder {
            port,
            stop: Some(tx),
            task,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        bounded("responder shutdown", &mut self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// A source holding DER responses by SHA-1 hex.
fn map_source(entries: Vec<(String, Vec<u8>)>) -> impl OcspSource {
    let map: HashMap<String, Vec<u8>> = entries.into_iter().collect();
    move |hashes: &[&str]| hashes.iter().map(|h| map.get(*h).cloned()).collect()
}

/// One request over a fresh connection; the status line, headers and body as text.
async fn raw(port: u16, request: &str) -> (String, Vec<u8>) {
    let mut s = bounded("connect", TcpStream::connect(("127.0.0.1", port)))
        .await
        .unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    bounded("response", s.read_to_end(&mut out)).await.unwrap();
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8(out[..split].to_vec()).unwrap();
    (head, out[split + 4..].to_vec())
}

fn get(query: &str) -> String {
    format!("GET /?{query} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn fault(e: XRoadError) -> (String, String) {
    (e.fault_code(Spelling::Current), e.message().to_owned())
}

fn sha256_hex(c: &Certificate) -> String {
    c.hash(DigestAlgorithm::Sha256)
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Fixture {
    pki: Pki,
    ss1: Arc<Certificate>,
    ica: Arc<Certificate>,
    ders: Vec<Vec<u8>>,
}

fn fixture() -> Fixture {
    let pki = Pki::new();
    let ders = vec![
        pki.ocsp("ss1", "ca", &[]).der().to_vec(),
        pki.ocsp("ica", "ca", &[]).der().to_vec(),
    ];
    Fixture {
        ss1: pki.cert("ss1"),
        ica: pki.cert("ica"),
        pki,
        ders,
    }
}

impl Fixture {
    fn source(&self) -> Arc<dyn OcspSource> {
        let inner = map_source(vec![
            (self.ss1.sha1_hex(), self.ders[0].clone()),
            (self.ica.sha1_hex(), self.ders[1].clone()),
        ]);
        Arc::new(IndexedOcspSource::new(
            inner,
            [self.ss1.as_ref(), self.ica.as_ref()],
        ))
    }
}

#[tokio::test]
async fn responder_serves_parts_in_request_order_and_java_errors() {
    let f = fixture();
    let r = Responder::start(f.source()).await;
    let (a, b) = (f.ss1.sha1_hex(), f.ica.sha1_hex());

    // One hash, then two in reverse order.
    for (query, expected) in [
        (format!("cert={a}"), vec![f.ders[0].clone()]),
        (
            format!("cert={b}&cert={a}&cert_hash=ignored"),
            vec![f.ders[1].clone(), f.ders[0].clone()],
        ),
    ] {
        let (head, body) = raw(r.port, &get(&query)).await;
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        let ct = header(&head, "content-type").unwrap();
        assert!(
            ct.starts_with(
                "multipart/related; type=\"application/ocsp-response\"; charset=UTF-8; boundary="
            ),
            "{ct}"
        );
        assert_eq!(ocsp_parts(Some(ct), &body).unwrap(), expected);
    }

    // cert_hash alone (SHA-256), answered through the certificate index.
    let (head, body) = raw(r.port, &get(&format!("cert_hash={}", sha256_hex(&f.ica)))).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let ct = header(&head, "content-type").unwrap().to_owned();
    assert_eq!(
        ocsp_parts(Some(&ct), &body).unwrap(),
        vec![f.ders[1].clone()]
    );

    // Heartbeat.
    let (head, body) = raw(
        r.port,
        "HEAD /?cert=x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.is_empty());

    // Other methods, a missing response, no hash: 500 with Java's message.
    let (head, body) = raw(
        r.port,
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 500"), "{head}");
    assert_eq!(body, b"Invalid request method: POST");
    let (head, body) = raw(r.port, &get(&format!("cert={a}&cert=00ff"))).await;
    assert!(head.starts_with("HTTP/1.1 500"), "{head}");
    assert_eq!(body, b"Could not find OCSP response for certificate 00ff");
    let (head, body) = raw(r.port, &get("x=1")).await;
    assert!(head.starts_with("HTTP/1.1 500"), "{head}");
    assert_eq!(body, b"Could not get cert hashes");

    // Stopped: no more connections.
    let port = r.port;
    r.stop().await;
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
}

#[tokio::test]
async fn client_round_trip_and_peer_cache() {
    let f = fixture();
    let r = Responder::start(f.source()).await;
    let chain = vec![f.ss1.clone(), f.ica.clone()];
    let got = bounded(
        "fetch",
        fetch_ocsp_responses("127.0.0.1", r.port, &chain, TIMEOUT),
    )
    .await
    .unwrap();
    assert_eq!(got, f.ders);

    // A certificate the responder has nothing for: Java's 500 reason, prefixed.
    let (code, msg) = fault(
        fetch_ocsp_responses("127.0.0.1", r.port, &[f.pki.cert("sign")], TIMEOUT)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ssl_authentication_failed.internal_error");
    assert_eq!(msg, "Internal Server Error");

    // The cache fetches what it lacks, then answers without the responder.
    let cache = PeerOcspCache::new();
    let trust = f.pki.trust();
    let now = SystemTime::now();
    let first = cache
        .responses_for_chain("127.0.0.1", r.port, &chain, &trust, now, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[1].der(), f.ders[1].as_slice());
    assert_eq!(cache.len(), 2);
    let port = r.port;
    r.stop().await;
    let again = cache
        .responses_for_chain("127.0.0.1", port, &chain, &trust, now, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(again[0].der(), f.ders[0].as_slice());
    // Stale entries are fetched again: the responder is gone, so the fetch fails.
    let (code, msg) = fault(
        cache
            .responses_for_chain(
                "127.0.0.1",
                port,
                &chain,
                &trust,
                now + Duration::from_secs(7200),
                TIMEOUT,
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ssl_authentication_failed.internal_error");
    assert_eq!(msg, "Connection refused");
}

/// A one-shot HTTP server answering every connection with `response`.
async fn canned(response: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(&response).await;
                let _ = s.shutdown().await;
            });
        }
    });
    port
}

fn http(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

#[tokio::test]
async fn client_refuses_bad_answers_with_java_messages() {
    let f = fixture();
    let chain = vec![f.ss1.clone(), f.ica.clone()];
    let one_part = format!(
        "--b\r\nContent-Type: application/ocsp-response\r\n\r\n{}\r\n--b--\r\n",
        "X"
    );
    let cases = [
        (
            http(
                "200 OK",
                "multipart/related; boundary=b",
                one_part.as_bytes(),
            ),
            "Could not get all OCSP responses from server (expected 2, but got 1)",
        ),
        (http("404 Not Found", "text/plain", b"no"), "Not Found"),
        (http("302 Moved", "text/plain", b""), "Moved"),
        (
            http(
                "200 OK",
                "multipart/related; boundary=b",
                b"\x00\x01garbage",
            ),
            "Could not get all OCSP responses from server (expected 2, but got 0)",
        ),
        (
            http("200 OK", "text/plain", b"hello"),
            "Could not get all OCSP responses from server (expected 2, but got 0)",
        ),
    ];
    for (response, expected) in cases {
        let port = canned(response).await;
        let err = bounded(
            "fetch",
            fetch_ocsp_responses("127.0.0.1", port, &chain, TIMEOUT),
        )
        .await
        .unwrap_err();
        let (code, msg) = fault(err);
        assert_eq!(code, "ssl_authentication_failed.internal_error");
        assert_eq!(msg, expected);
    }
    // Not an HTTP answer at all.
    let port = canned(b"garbage\r\n\r\n".to_vec()).await;
    let (code, _) = fault(
        fetch_ocsp_responses("127.0.0.1", port, &chain, TIMEOUT)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ssl_authentication_failed.internal_error");

    // A server that never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let (code, msg) = fault(
        bounded(
            "fetch",
            fetch_ocsp_responses("127.0.0.1", port, &chain, Duration::from_millis(300)),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, "ssl_authentication_failed.internal_error");
    assert_eq!(msg, "Read timed out");
    drop(silent);

    // A name that does not resolve (`.invalid` never does).
    let (code, msg) = fault(
        bounded(
            "fetch",
            fetch_ocsp_responses("no-such-host.invalid", 5577, &chain, TIMEOUT),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, "ssl_authentication_failed.internal_error");
    assert_eq!(msg, "no-such-host.invalid");
}

fn tool(name: &str) -> bool {
    let found = Command::new(name).arg("--version").output().is_ok()
        || Command::new(name).arg("version").output().is_ok();
    if !found {
        eprintln!("{name} is not installed; interop check skipped");
    }
    found
}

/// `curl` fetches, and `openssl ocsp -respin` parses the part it got.
#[tokio::test]
async fn curl_and_openssl_read_what_is_served() {
    if !tool("curl") || !tool("openssl") {
        return;
    }
    let f = fixture();
    let r = Responder::start(f.source()).await;
    let url = format!(
        "http://127.0.0.1:{}/?cert={}&cert_hash={}",
        r.port,
        f.ss1.sha1_hex(),
        sha256_hex(&f.ss1)
    );
    let out = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "-m",
            "5",
            "-H",
            "Accept: multipart/related",
            "-D",
            "-",
            &url,
        ])
        .output();
    let out = bounded("curl", out).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = out.stdout;
    let split = text.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(text[..split].to_vec()).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let ct = header(&head, "content-type").unwrap().to_owned();
    let parts = ocsp_parts(Some(&ct), &text[split + 4..]).unwrap();
    assert_eq!(parts, vec![f.ders[0].clone()]);

    let part = f.pki.path("served.der");
    std::fs::write(&part, &parts[0]).unwrap();
    let printed = f.pki.openssl(&[
        "ocsp",
        "-respin",
        part.to_str().unwrap(),
        "-resp_text",
        "-noverify",
    ]);
    assert!(printed.contains("Response Status: successful"), "{printed}");
    assert!(printed.contains("Cert Status: good"), "{printed}");
    r.stop().await;

    // HEAD as a monitoring probe would send it.
    let r = Responder::start(f.source()).await;
    let out = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "-m",
            "5",
            "-I",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(format!("http://127.0.0.1:{}/", r.port))
        .output();
    let out = bounded("curl -I", out).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    r.stop().await;
}
