//! The mutually authenticated TLS channel between security servers (server proxy port 5500).
//!
//! Both sides present their authentication certificate chain and accept any peer chain during
//! the handshake, like Java's trust managers; right after the handshake the peer's chain goes
//! to an [`AuthVerifier`], which identifies the peer security server through the global
//! configuration or rejects it (the connection is then closed). OpenSSL does the TLS because
//! the Java defaults are CBC suites that rustls does not implement.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use openssl::dh::Dh;
use openssl::error::ErrorStack;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslMethod, SslOptions, SslRef, SslSessionCacheMode,
    SslVerifyMode,
};
use openssl::x509::X509;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;
use xroad_fault::{ErrorCode, XRoadError};

use crate::{AuthVerifier, PeerIdentity, TlsSettings};

/// RFC 7919 `ffdhe2048`, the group Java uses for DHE by default; needed for
/// `DHE-RSA-AES256-SHA256`, one of the default suites.
const FFDHE2048_PEM: &[u8] = b"-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
";

/// Session id context of the acceptor: required by OpenSSL for session resumption when client
/// certificates are requested.
const SESSION_ID_CONTEXT: &[u8] = b"xroad-proxy-5500";

/// Why the channel could not be set up or a peer was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A protocol name other than `TLSv1.2` / `TLSv1.3` in the settings.
    #[error("unknown or unsupported TLS protocol '{0}' (expected TLSv1.2 or TLSv1.3)")]
    UnknownProtocol(String),
    /// A cipher suite name OpenSSL does not know.
    #[error("unknown TLS cipher suite '{0}'")]
    UnknownCipher(String),
    /// No cipher suite usable with the enabled protocols.
    #[error("no TLS cipher suite configured for the enabled protocols")]
    NoCiphers,
    /// The authentication key or certificate chain could not be used.
    #[error("authentication key or certificate unusable for TLS: {0}")]
    Credentials(String),
    /// OpenSSL refused the configuration.
    #[error("TLS setup failed: {0}")]
    Setup(#[source] ErrorStack),
    /// The TCP connection could not be opened.
    #[error("connecting to {peer} failed: {source}")]
    Connect {
        /// The address.
        peer: String,
        /// The cause.
        source: io::Error,
    },
    /// The TLS handshake failed (no common cipher, missing client certificate, peer alert, …).
    #[error("TLS handshake with {peer} failed: {detail}")]
    Handshake {
        /// The peer address.
        peer: String,
        /// OpenSSL's explanation.
        detail: String,
    },
    /// The connect and handshake did not finish in time.
    #[error("TLS handshake with {peer} did not finish within {timeout:?}")]
    HandshakeTimeout {
        /// The peer address.
        peer: String,
        /// The bound.
        timeout: Duration,
    },
    /// The handshake completed without a peer certificate.
    #[error("{peer} presented no TLS certificate")]
    NoPeerCertificate {
        /// The peer address.
        peer: String,
    },
    /// The verifier did not accept the peer's certificate (e.g. not registered in the global
    /// configuration).
    #[error("{peer} refused: {source}")]
    PeerRejected {
        /// The peer address.
        peer: String,
        /// The verifier's fault.
        source: XRoadError,
    },
}

impl From<TlsError> for XRoadError {
    /// Codes as Java reports them: a refused peer keeps the verifier's code
    /// (`ssl_authentication_failed`), a missing certificate is `ssl_authentication_failed`, a
    /// failed TCP connect is `network_error`, handshake failures and time-outs (Java
    /// `SSLException` / `SocketTimeoutException`, both `IOException`s) are `io_error`, and
    /// configuration problems `internal_error`.
    fn from(e: TlsError) -> Self {
        let code = match &e {
            TlsError::PeerRejected { source, .. } => return source.clone(),
            TlsError::NoPeerCertificate { .. } => ErrorCode::SslAuthenticationFailed,
            TlsError::Connect { .. } => ErrorCode::NetworkError,
            TlsError::Handshake { .. } | TlsError::HandshakeTimeout { .. } => ErrorCode::IoError,
            TlsError::UnknownProtocol(_)
            | TlsError::UnknownCipher(_)
            | TlsError::NoCiphers
            | TlsError::Credentials(_)
            | TlsError::Setup(_) => ErrorCode::InternalError,
        };
        XRoadError::new(code, e.to_string())
    }
}

/// This security server's authentication key and certificate chain (end-entity first, then
/// intermediates, without the trusted root: what Java's `AuthKeyManager` presents).
#[derive(Clone)]
pub struct AuthCredentials {
    key: PKey<Private>,
    chain: Vec<X509>,
}

impl fmt::Debug for AuthCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("AuthCredentials")
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl AuthCredentials {
    /// A key and its certificate chain; the key must belong to the first certificate.
    pub fn new(key: PKey<Private>, chain: Vec<X509>) -> Result<Self, TlsError> {
        let Some(leaf) = chain.first() else {
            return Err(TlsError::Credentials("empty certificate chain".into()));
        };
        let public = leaf
            .public_key()
            .map_err(|e| TlsError::Credentials(format!("certificate public key: {e}")))?;
        if !public.public_eq(&key) {
            return Err(TlsError::Credentials(
                "the key does not belong to the first certificate".into(),
            ));
        }
        Ok(AuthCredentials { key, chain })
    }

    /// From PEM: the chain (one or more `CERTIFICATE` blocks, end-entity first) and the key
    /// (PKCS#8 or traditional, unencrypted).
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let chain = X509::stack_from_pem(chain_pem)
            .map_err(|e| TlsError::Credentials(format!("certificate PEM: {e}")))?;
        let key = PKey::private_key_from_pem(key_pem)
            .map_err(|e| TlsError::Credentials(format!("key PEM: {e}")))?;
        Self::new(key, chain)
    }

    /// From DER: the certificates (end-entity first) and the key (PKCS#8 or traditional).
    pub fn from_der(chain_der: &[impl AsRef<[u8]>], key_der: &[u8]) -> Result<Self, TlsError> {
        let chain = chain_der
            .iter()
            .map(|c| X509::from_der(c.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Credentials(format!("certificate DER: {e}")))?;
        let key = PKey::private_key_from_der(key_der)
            .map_err(|e| TlsError::Credentials(format!("key DER: {e}")))?;
        Self::new(key, chain)
    }

    fn apply(&self, b: &mut SslContextBuilder) -> Result<(), TlsError> {
        let mut certs = self.chain.iter();
        if let Some(leaf) = certs.next() {
            b.set_certificate(leaf).map_err(TlsError::Setup)?;
        }
        for extra in certs {
            b.add_extra_chain_cert(extra.clone())
                .map_err(TlsError::Setup)?;
        }
        b.set_private_key(&self.key).map_err(TlsError::Setup)?;
        b.check_private_key().map_err(TlsError::Setup)
    }
}

/// The server side of the channel (port 5500): requires a client certificate and identifies
/// the peer with the verifier. Cheap to clone; rebuild it when the key or settings change.
#[derive(Clone)]
pub struct TlsAcceptor {
    ctx: SslContext,
    handshake_timeout: Duration,
    verifier: Arc<dyn AuthVerifier>,
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor").finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// An acceptor presenting `credentials`.
    pub fn new(
        settings: &TlsSettings,
        credentials: &AuthCredentials,
        verifier: Arc<dyn AuthVerifier>,
    ) -> Result<Self, TlsError> {
        let mut b = SslContextBuilder::new(SslMethod::tls_server()).map_err(TlsError::Setup)?;
        settings.apply(&mut b)?;
        credentials.apply(&mut b)?;
        let dh = Dh::params_from_pem(FFDHE2048_PEM).map_err(TlsError::Setup)?;
        b.set_tmp_dh(&dh).map_err(TlsError::Setup)?;
        // Any chain passes the handshake (Java's trust manager defers to the application);
        // the verifier decides right after. A missing certificate fails the handshake.
        b.set_verify_callback(
            SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
            |_, _| true,
        );
        // Our list order decides, as with Jetty's default `useCipherSuitesOrder`.
        b.set_options(SslOptions::CIPHER_SERVER_PREFERENCE);
        b.set_session_id_context(SESSION_ID_CONTEXT)
            .map_err(TlsError::Setup)?;
        if settings.session_cache {
            b.set_session_cache_mode(SslSessionCacheMode::SERVER);
            b.set_session_cache_size(settings.session_cache_size);
        } else {
            b.set_session_cache_mode(SslSessionCacheMode::OFF);
            b.set_options(SslOptions::NO_TICKET);
        }
        Ok(TlsAcceptor {
            ctx: b.build(),
            handshake_timeout: settings.handshake_timeout,
            verifier,
        })
    }

    /// Handshakes on an accepted TCP connection and identifies the peer.
    pub async fn accept(&self, tcp: TcpStream) -> Result<PeerConnection<TcpStream>, TlsError> {
        let peer = peer_label(&tcp);
        self.accept_stream(tcp, &peer).await
    }

    /// Handshakes on any stream; `peer` names it in errors.
    pub async fn accept_stream<S>(
        &self,
        stream: S,
        peer: &str,
    ) -> Result<PeerConnection<S>, TlsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let ssl = Ssl::new(&self.ctx).map_err(TlsError::Setup)?;
        let mut tls = SslStream::new(ssl, stream).map_err(TlsError::Setup)?;
        let handshake = Pin::new(&mut tls).accept();
        match tokio::time::timeout(self.handshake_timeout, handshake).await {
            Err(_) => {
                return Err(TlsError::HandshakeTimeout {
                    peer: peer.to_owned(),
                    timeout: self.handshake_timeout,
                })
            }
            Ok(Err(e)) => return Err(handshake_error(peer, &e)),
            Ok(Ok(())) => {}
        }
        finish(tls, peer, self.verifier.as_ref(), self.handshake_timeout).await
    }
}

/// The client side of the channel: presents our authentication certificate, verifies no host
/// name and accepts any server chain during the handshake, then identifies the server with the
/// verifier. Cheap to clone.
#[derive(Clone)]
pub struct TlsConnector {
    ctx: SslContext,
    handshake_timeout: Duration,
    verifier: Arc<dyn AuthVerifier>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector").finish_non_exhaustive()
    }
}

impl TlsConnector {
    /// A connector presenting `credentials`.
    pub fn new(
        settings: &TlsSettings,
        credentials: &AuthCredentials,
        verifier: Arc<dyn AuthVerifier>,
    ) -> Result<Self, TlsError> {
        let mut b = SslContextBuilder::new(SslMethod::tls_client()).map_err(TlsError::Setup)?;
        settings.apply(&mut b)?;
        credentials.apply(&mut b)?;
        // Peers are trusted through the global configuration, never through a CA store or
        // host name: the verifier checks the chain after the handshake.
        b.set_verify(SslVerifyMode::NONE);
        Ok(TlsConnector {
            ctx: b.build(),
            handshake_timeout: settings.handshake_timeout,
            verifier,
        })
    }

    /// Connects to `addr` (`host:port`), handshakes and identifies the server; the TCP connect
    /// and the handshake together are bounded by the handshake timeout.
    pub async fn connect(&self, addr: &str) -> Result<PeerConnection<TcpStream>, TlsError> {
        let timeout = self.handshake_timeout;
        let work = async {
            let tcp = TcpStream::connect(addr)
                .await
                .map_err(|source| TlsError::Connect {
                    peer: addr.to_owned(),
                    source,
                })?;
            // Nagle would delay the small TLS records of the handshake.
            let _ = tcp.set_nodelay(true);
            self.connect_stream(tcp, addr).await
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(TlsError::HandshakeTimeout {
                    peer: addr.to_owned(),
                    timeout,
                })
            })
    }

    /// Handshakes as a client on any stream; `peer` names it in errors.
    pub async fn connect_stream<S>(
        &self,
        stream: S,
        peer: &str,
    ) -> Result<PeerConnection<S>, TlsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let ssl = Ssl::new(&self.ctx).map_err(TlsError::Setup)?;
        let mut tls = SslStream::new(ssl, stream).map_err(TlsError::Setup)?;
        let handshake = Pin::new(&mut tls).connect();
        match tokio::time::timeout(self.handshake_timeout, handshake).await {
            Err(_) => {
                return Err(TlsError::HandshakeTimeout {
                    peer: peer.to_owned(),
                    timeout: self.handshake_timeout,
                })
            }
            Ok(Err(e)) => return Err(handshake_error(peer, &e)),
            Ok(Ok(())) => {}
        }
        finish(tls, peer, self.verifier.as_ref(), self.handshake_timeout).await
    }
}

/// An established, verified connection with a peer security server.
pub struct PeerConnection<S> {
    stream: SslStream<S>,
    chain: Vec<Vec<u8>>,
    identity: PeerIdentity,
}

impl<S> fmt::Debug for PeerConnection<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerConnection")
            .field("identity", &self.identity)
            .field("cipher", &self.cipher())
            .finish_non_exhaustive()
    }
}

impl<S> PeerConnection<S> {
    /// The peer security server.
    pub fn identity(&self) -> &PeerIdentity {
        &self.identity
    }

    /// The peer's certificate chain (DER, end-entity first) for the later full verification
    /// (path to an approved CA, OCSP).
    pub fn peer_chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The negotiated cipher suite, OpenSSL name (e.g. `ECDHE-RSA-AES256-SHA384`).
    pub fn cipher(&self) -> Option<&'static str> {
        self.stream.ssl().current_cipher().map(|c| c.name())
    }

    /// The negotiated protocol (`TLSv1.2`).
    pub fn protocol(&self) -> &'static str {
        self.stream.ssl().version_str()
    }

    /// Whether the TLS session was resumed from the session cache.
    pub fn session_reused(&self) -> bool {
        self.stream.ssl().session_reused()
    }

    /// The TLS stream itself.
    pub fn into_stream(self) -> SslStream<S> {
        self.stream
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for PeerConnection<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for PeerConnection<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// After the handshake: collect the peer chain, ask the verifier, close on refusal.
async fn finish<S>(
    mut tls: SslStream<S>,
    peer: &str,
    verifier: &dyn AuthVerifier,
    timeout: Duration,
) -> Result<PeerConnection<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let chain = peer_chain(tls.ssl()).map_err(|e| TlsError::Handshake {
        peer: peer.to_owned(),
        detail: format!("unreadable peer certificate: {e}"),
    })?;
    let refusal = if chain.is_empty() {
        TlsError::NoPeerCertificate {
            peer: peer.to_owned(),
        }
    } else {
        match verifier.verify_peer(&chain) {
            Ok(identity) => {
                return Ok(PeerConnection {
                    stream: tls,
                    chain,
                    identity,
                })
            }
            Err(source) => TlsError::PeerRejected {
                peer: peer.to_owned(),
                source,
            },
        }
    };
    // Best effort close_notify; the connection is dropped either way.
    let _ = tokio::time::timeout(timeout, tls.shutdown()).await;
    Err(refusal)
}

/// The peer's chain, end-entity first. OpenSSL leaves the end-entity out of the server-side
/// `peer_cert_chain` but includes it on the client side; this gives the same on both.
fn peer_chain(ssl: &SslRef) -> Result<Vec<Vec<u8>>, ErrorStack> {
    let mut out = Vec::new();
    if let Some(leaf) = ssl.peer_certificate() {
        out.push(leaf.to_der()?);
    }
    if let Some(stack) = ssl.peer_cert_chain() {
        for cert in stack {
            let der = cert.to_der()?;
            if out.first() != Some(&der) {
                out.push(der);
            }
        }
    }
    Ok(out)
}

fn handshake_error(peer: &str, e: &openssl::ssl::Error) -> TlsError {
    // A connection reset or aborted by the peer is Java's `SocketException` (`network_error`),
    // not a handshake failure.
    if let Some(io) = e.io_error() {
        if matches!(
            io.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
        ) {
            return TlsError::Connect {
                peer: peer.to_owned(),
                source: io::Error::new(io.kind(), io.to_string()),
            };
        }
    }
    let detail = match (e.ssl_error(), e.io_error()) {
        (Some(stack), _) => stack.to_string(),
        (None, Some(io)) => io.to_string(),
        (None, None) => e.to_string(),
    };
    TlsError::Handshake {
        peer: peer.to_owned(),
        detail,
    }
}

fn peer_label(tcp: &TcpStream) -> String {
    tcp.peer_addr()
        .map_or_else(|_| "peer".to_owned(), |a| a.to_string())
}
