//! Connections from the client proxy to providers' security servers: every candidate address
//! is tried at once and the fastest verified connection wins (Java's
//! `FastestConnectionSelectingSSLSocketFactory`); connections are kept for reuse per address
//! while the peer keeps them open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use xroad_crypto::Certificate;
use xroad_fault::{ErrorCode, XRoadError};
use xroad_identifiers::{ClientId, SecurityServerId};

use crate::context::ProxyContext;
use crate::transport::Body;
use crate::TlsConnector;

/// Idle connections kept per address.
const MAX_IDLE_PER_ADDRESS: usize = 32;

/// A connection to a verified peer.
pub(crate) struct PeerConn {
    /// The address it was opened to (`host:port`).
    pub address: String,
    /// The security server at the other end.
    pub server: SecurityServerId,
    /// The HTTP sender.
    pub sender: SendRequest<Body>,
}

/// An idle connection and the server it was verified to be.
type Idle = (SecurityServerId, SendRequest<Body>);

/// Idle verified connections by address.
#[derive(Default)]
pub(crate) struct PeerPool {
    idle: Mutex<HashMap<String, Vec<Idle>>>,
}

impl std::fmt::Debug for PeerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerPool")
    }
}

impl PeerPool {
    fn take(&self, address: &str) -> Option<Idle> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(address)?;
        while let Some((server, sender)) = list.pop() {
            if sender.is_ready() {
                return Some((server, sender));
            }
        }
        None
    }

    /// Returns a connection whose exchange is complete.
    pub(crate) fn put_back(&self, conn: PeerConn) {
        if conn.sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(conn.address).or_default();
            if list.len() < MAX_IDLE_PER_ADDRESS {
                list.push((conn.server, conn.sender));
            }
        }
    }
}

/// The `host:port` of a peer's server proxy and its OCSP responses port, from its registered
/// address (`host` or `host:port`).
pub(crate) fn peer_ports(ctx: &ProxyContext, address: &str) -> (String, String, u16) {
    let s = ctx.settings();
    let ocsp = s
        .peer_ocsp_ports
        .get(address)
        .copied()
        .unwrap_or(s.peer_ocsp_port);
    match split_port(address) {
        Some((host, port)) => (format!("{host}:{port}"), host.to_owned(), ocsp),
        None => (
            format!("{address}:{}", s.peer_server_port),
            address.to_owned(),
            ocsp,
        ),
    }
}

fn split_port(address: &str) -> Option<(&str, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    if host.contains(':') && !host.starts_with('[') {
        return None; // a bare IPv6 address
    }
    port.parse().ok().map(|p| (host, p))
}

/// A verified connection to one of `addresses` hosting `provider`: a pooled one if there is,
/// else the first of parallel attempts to succeed.
pub(crate) async fn connect(
    ctx: &Arc<ProxyContext>,
    connector: &TlsConnector,
    addresses: &[String],
    provider: &ClientId,
) -> Result<PeerConn, XRoadError> {
    let now = SystemTime::now();
    let gc = ctx.globalconf(now)?;
    let params = gc.directory().all_shared();
    for address in addresses {
        let (target, _, _) = peer_ports(ctx, address);
        if let Some((server, sender)) = ctx.peer_pool().take(&target) {
            if params
                .iter()
                .any(|p| p.is_security_server_client(provider, &server))
            {
                return Ok(PeerConn {
                    address: target,
                    server,
                    sender,
                });
            }
        }
    }
    let mut attempts = tokio::task::JoinSet::new();
    for address in addresses {
        let ctx = ctx.clone();
        let connector = connector.clone();
        let address = address.clone();
        let provider = provider.clone();
        attempts.spawn(async move { open(&ctx, &connector, &address, &provider).await });
    }
    let mut errors = Vec::new();
    while let Some(done) = attempts.join_next().await {
        match done {
            Ok(Ok(conn)) => {
                attempts.abort_all();
                return Ok(conn);
            }
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(XRoadError::new(ErrorCode::InternalError, e.to_string())),
        }
    }
    // Java reports the failure of the (last) attempt.
    Err(errors.pop().unwrap_or_else(|| {
        XRoadError::new(
            ErrorCode::NetworkError,
            format!("Could not connect to any target host ({addresses:?})"),
        )
    }))
}

async fn open(
    ctx: &Arc<ProxyContext>,
    connector: &TlsConnector,
    address: &str,
    provider: &ClientId,
) -> Result<PeerConn, XRoadError> {
    let (target, host, ocsp_port) = peer_ports(ctx, address);
    let timeout = ctx.settings().connect_timeout;
    let conn = tokio::time::timeout(timeout, connector.connect(&target))
        .await
        .map_err(|_| {
            XRoadError::new(
                ErrorCode::NetworkError,
                format!("Connect timed out: {target}"),
            )
        })?;
    // A refused TCP connection is no handshake.
    if !matches!(conn, Err(crate::TlsError::Connect { .. })) {
        ctx.metrics()
            .tls_handshake(crate::metrics::TlsSide::Client, conn.is_ok());
    }
    let conn = conn.map_err(XRoadError::from)?;
    let chain: Vec<Arc<Certificate>> = conn
        .peer_chain()
        .iter()
        .filter_map(|der| Certificate::from_der(der).ok().map(Arc::new))
        .collect();
    let now = SystemTime::now();
    let gc = ctx.globalconf(now)?;
    let ocsp = ctx
        .peer_ocsp()
        .responses_for_chain(&host, ocsp_port, &chain, gc.trust(), now, timeout)
        .await?;
    let params = gc.directory().all_shared();
    let server =
        crate::authtrust::verify_auth_cert(&chain, &ocsp, provider, &params, gc.trust(), now)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(conn))
        .await
        .map_err(|e| {
            XRoadError::new(
                ErrorCode::NetworkError,
                format!("HTTP with {target} failed: {e}"),
            )
        })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(PeerConn {
        address: target,
        server,
        sender,
    })
}

/// How long an OCSP fetch from a peer may take.
#[allow(dead_code)]
pub(crate) const OCSP_FETCH_TIMEOUT: Duration = Duration::from_secs(20);

#[cfg(test)]
mod tests {
    use super::split_port;

    #[test]
    fn addresses_with_and_without_ports() {
        assert_eq!(split_port("127.0.0.1:4100"), Some(("127.0.0.1", 4100)));
        assert_eq!(split_port("ss1.example.org"), None);
        assert_eq!(split_port("::1"), None);
        assert_eq!(split_port("[::1]:5500"), Some(("[::1]", 5500)));
    }
}
