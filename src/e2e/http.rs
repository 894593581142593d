//! Plain HTTP/1.1 on loopback for the end-to-end tests: a client for the client proxy that
//! sends exactly what a test gives it (any method, any or no headers), and the mock
//! information systems (echo, fault, garbage, slow, aborting) the provider calls.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One HTTP message as read: the start line, the headers in order, the (de-chunked) body.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpMessage {
    pub start: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpMessage {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The status of a response.
    pub fn status(&self) -> u16 {
        self.start
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// The method and request target of a request.
    pub fn request_line(&self) -> (&str, &str) {
        let mut it = self.start.split(' ');
        (it.next().unwrap_or(""), it.next().unwrap_or(""))
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads HTTP messages from a stream, keeping what was read beyond the current one.
pub(crate) struct Reader<'a> {
    stream: &'a mut (dyn tokio::io::AsyncRead + Unpin + Send),
    buf: Vec<u8>,
}

impl<'a> Reader<'a> {
    async fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    async fn until(&mut self, delimiter: &[u8]) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf, delimiter) {
                let out = self.buf[..i].to_vec();
                self.buf.drain(..i + delimiter.len());
                return Ok(out);
            }
            if self.fill().await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    async fn exactly(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill().await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn rest_of_stream(&mut self) -> std::io::Result<Vec<u8>> {
        while self.fill().await? > 0 {}
        Ok(std::mem::take(&mut self.buf))
    }

    /// One message; `response`: a body without length runs to the end of the stream.
    pub(crate) fn new(stream: &'a mut (dyn tokio::io::AsyncRead + Unpin + Send)) -> Self {
        Reader {
            stream,
            buf: Vec::new(),
        }
    }

    pub(crate) async fn message(&mut self, response: bool) -> std::io::Result<HttpMessage> {
        let head = self.until(b"\r\n\r\n").await?;
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap_or("").to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let mut m = HttpMessage {
            start,
            headers,
            body: Vec::new(),
        };
        let chunked = m
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        if chunked {
            loop {
                let line = self.until(b"\r\n").await?;
                let size = String::from_utf8_lossy(&line);
                let size = size.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size, 16)
                    .map_err(|_| std::io::Error::other("bad chunk size"))?;
                if size == 0 {
                    // Trailers, then the empty line.
                    while !self.until(b"\r\n").await?.is_empty() {}
                    break;
                }
                let data = self.exactly(size).await?;
                m.body.extend_from_slice(&data);
                self.exactly(2).await?;
            }
        } else if let Some(n) = m.header("content-length").and_then(|v| v.parse().ok()) {
            m.body = self.exactly(n).await?;
        } else if response && m.status() != 204 && m.status() != 304 {
            m.body = self.rest_of_stream().await?;
        }
        Ok(m)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Sends one request on a new connection (`Connection: close`) and reads the response.
/// `Host` is added; `Content-Length` is added when `body` is not empty or the method
/// usually has one; everything else is exactly `headers`.
pub(crate) async fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpMessage {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    send_on(&mut s, addr, method, target, headers, body).await
}

/// [`send`] over HTTPS: any server certificate is taken (the client proxy's internal one
/// is self-signed); `client` is the certificate and PKCS#8 key (PEM) to present, if any.
pub(crate) async fn send_tls(
    addr: SocketAddr,
    client: Option<(&[u8], &[u8])>,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpMessage {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)));
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let cert = openssl::x509::X509::from_pem(cert)
                .and_then(|c| c.to_der())
                .expect("client certificate");
            let key = openssl::pkey::PKey::private_key_from_pem(key)
                .and_then(|k| k.private_key_to_pkcs8())
                .expect("client key");
            builder
                .with_client_auth_cert(
                    vec![CertificateDer::from(cert)],
                    PrivateKeyDer::Pkcs8(key.into()),
                )
                .expect("client certificate and key")
        }
    };
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let mut s = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    send_on(&mut s, addr, method, target, headers, body).await
}

/// Takes any server certificate; the handshake signature is still checked.
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// [`send`] on a connected stream.
async fn send_on<S>(
    s: &mut S,
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpMessage
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.expect("write head");
    s.write_all(body).await.expect("write body");
    s.flush().await.expect("flush");
    let mut r = Reader {
        stream: s,
        buf: Vec::new(),
    };
    r.message(true).await.expect("read response")
}

/// What a mock information system does with a request.
pub(crate) enum Action {
    /// Answers with these bytes (a whole HTTP response).
    Respond(Vec<u8>),
    /// Waits, then answers.
    Sleep(Duration, Vec<u8>),
    /// Writes these bytes (the start of a response), then closes the connection.
    Abort(Vec<u8>),
}

/// An HTTP response with a body (`Connection: close`).
pub(crate) fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

type Handler = dyn Fn(&HttpMessage) -> Action + Send + Sync;

/// A mock information system on 127.0.0.1: one request per connection, every request
/// recorded.
pub(crate) struct MockIs {
    received: Arc<Mutex<Vec<HttpMessage>>>,
}

impl MockIs {
    /// Serves `listener` on the current runtime with `handler`.
    pub fn start(
        listener: std::net::TcpListener,
        handler: impl Fn(&HttpMessage) -> Action + Send + Sync + 'static,
    ) -> MockIs {
        Self::serve(listener, None, handler)
    }

    /// As [`MockIs::start`], over TLS with `tls`.
    pub fn start_tls(
        listener: std::net::TcpListener,
        tls: Arc<rustls::ServerConfig>,
        handler: impl Fn(&HttpMessage) -> Action + Send + Sync + 'static,
    ) -> MockIs {
        Self::serve(
            listener,
            Some(tokio_rustls::TlsAcceptor::from(tls)),
            handler,
        )
    }

    fn serve(
        listener: std::net::TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
        handler: impl Fn(&HttpMessage) -> Action + Send + Sync + 'static,
    ) -> MockIs {
        listener.set_nonblocking(true).expect("nonblocking");
        let listener = TcpListener::from_std(listener).expect("listener");
        let received = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    continue;
                };
                let handler = handler.clone();
                let log = log.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => answer(s, &*handler, &log).await,
                        Some(tls) => {
                            if let Ok(s) = tls.accept(s).await {
                                answer(s, &*handler, &log).await;
                            }
                        }
                    }
                });
            }
        });
        MockIs { received }
    }

    /// The recorded request whose body contains `marker`.
    pub fn received_with(&self, marker: &str) -> Option<HttpMessage> {
        let marker = marker.as_bytes();
        self.received
            .lock()
            .expect("log")
            .iter()
            .find(|m| {
                find(&m.body, marker).is_some()
                    || m.start.contains(std::str::from_utf8(marker).unwrap_or(""))
            })
            .cloned()
    }
}

/// Reads one request from `s`, records it and does what `handler` says.
async fn answer<S>(mut s: S, handler: &Handler, log: &Mutex<Vec<HttpMessage>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let mut r = Reader {
        stream: &mut s,
        buf: Vec::new(),
    };
    let Ok(request) = r.message(false).await else {
        return;
    };
    let action = handler(&request);
    log.lock().expect("log").push(request);
    let bytes = match action {
        Action::Respond(b) => b,
        Action::Sleep(d, b) => {
            tokio::time::sleep(d).await;
            b
        }
        Action::Abort(b) => {
            let _ = s.write_all(&b).await;
            let _ = s.flush().await;
            return;
        }
    };
    let _ = s.write_all(&bytes).await;
    let _ = s.shutdown().await;
}

/// The parts of a multipart body: each part's raw header block and content.
pub(crate) fn multipart_parts(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    let Some(mut pos) = find(body, delimiter.as_bytes()) else {
        return out;
    };
    loop {
        pos += delimiter.len();
        if body[pos..].starts_with(b"--") {
            break;
        }
        // Skip the line end after the delimiter.
        let Some(eol) = find(&body[pos..], b"\r\n") else {
            break;
        };
        let start = pos + eol + 2;
        let next = format!("\r\n--{boundary}");
        let Some(end) = find(&body[start..], next.as_bytes()) else {
            break;
        };
        let part = &body[start..start + end];
        let (head, content) = match find(part, b"\r\n\r\n") {
            Some(i) => (&part[..i], &part[i + 4..]),
            None if part.starts_with(b"\r\n") => (&part[..0], &part[2..]),
            None => (part, &part[part.len()..]),
        };
        out.push((String::from_utf8_lossy(head).into_owned(), content.to_vec()));
        pos = start + end + 2;
    }
    out
}

/// The `boundary` parameter of a content type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|p| {
        let (n, v) = p.split_once('=')?;
        n.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}
