//! Connections from the client proxy to providers' security servers: every candidate address
//! is tried at once and the fastest verified connection wins (Java's
//! `FastestConnectionSelectingSSLSocketFactory`), and the winner is remembered per address
//! set for `client-fastest-connecting-ssl-uri-cache-period`; connections are kept for reuse
//! per address while the peer keeps them open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use xroad_crypto::Certificate;
use xroad_fault::{ErrorCode, XRoadError};
use xroad_identifiers::{ClientId, SecurityServerId};

use crate::context::ProxyContext;
use crate::transport::Body;
use crate::TlsConnector;

/// Java's `CACHED_TIMEOUT`: the connect (and handshake) timeout of a cached fastest address.
const CACHED_TIMEOUT: Duration = Duration::from_secs(5);

/// Java's `CACHE_MAXIMUM_SIZE` of the fastest-address cache.
const FASTEST_CACHE_MAX: usize = 10_000;

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

/// Idle verified connections by address, and the fastest address of each candidate set.
#[derive(Default)]
pub(crate) struct PeerPool {
    idle: Mutex<HashMap<String, Vec<Idle>>>,
    fastest: FastestCache,
}

/// The address that won the selection, per sorted set of candidate addresses, for a period
/// after it was stored (Java's Guava cache `expireAfterWrite`, at most
/// [`FASTEST_CACHE_MAX`] entries).
#[derive(Default)]
pub(crate) struct FastestCache {
    entries: Mutex<HashMap<Vec<String>, (String, Instant)>>,
}

impl FastestCache {
    /// The key of a candidate set: its addresses sorted (Java's `CacheKey`).
    fn key(addresses: &[String]) -> Vec<String> {
        let mut key = addresses.to_vec();
        key.sort();
        key
    }

    /// The cached winner of `key`, if stored less than `period` ago.
    fn get(&self, key: &[String], period: Duration, now: Instant) -> Option<String> {
        let entries = self.entries.lock().ok()?;
        let (address, stored) = entries.get(key)?;
        (now.saturating_duration_since(*stored) < period).then(|| address.clone())
    }

    fn put(&self, key: Vec<String>, address: String, period: Duration, now: Instant) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= FASTEST_CACHE_MAX && !entries.contains_key(&key) {
            entries.retain(|_, (_, stored)| now.saturating_duration_since(*stored) < period);
            // Still full: the oldest entry goes.
            if entries.len() >= FASTEST_CACHE_MAX {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, (_, stored))| *stored)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(key, (address, now));
    }

    /// Forgets `address` as the winner of `key` (unless another has been stored since).
    fn remove(&self, key: &[String], address: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.get(key).is_some_and(|(a, _)| a == address) {
                entries.remove(key);
            }
        }
    }
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

    /// Returns a connection whose exchange is complete; it is kept if fewer than `max_idle`
    /// connections to its address are.
    pub(crate) fn put_back(&self, conn: PeerConn, max_idle: usize) {
        if conn.sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(conn.address).or_default();
            if list.len() < max_idle {
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
/// else the cached fastest address of this address set, else the first of parallel attempts
/// to succeed (which is then cached).
///
/// As Java's `FastestConnectionSelectingSSLSocketFactory#connectSocket`: the cache is used
/// only for more than one address and a period above 0; a cached address gets 5 s to
/// connect, and when it fails it is evicted and the other addresses are raced.
pub(crate) async fn connect(
    ctx: &Arc<ProxyContext>,
    connector: &TlsConnector,
    addresses: &[String],
    provider: &ClientId,
) -> Result<PeerConn, XRoadError> {
    let now = SystemTime::now();
    let gc = ctx.globalconf(now)?;
    let params = gc.directory().all_shared();
    let period = ctx.settings().fastest_cache_period;
    let cache = &ctx.peer_pool().fastest;
    let use_cache = !period.is_zero() && addresses.len() > 1;
    let key = use_cache.then(|| FastestCache::key(addresses));
    let cached = key
        .as_deref()
        .and_then(|k| cache.get(k, period, Instant::now()));
    // The cached address's idle connections first.
    let mut order: Vec<&String> = addresses.iter().collect();
    if let Some(c) = &cached {
        order.sort_by_key(|a| *a != c);
    }
    for address in order {
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
    let mut candidates: Vec<String> = addresses.to_vec();
    if let (Some(key), Some(address)) = (&key, cached) {
        tracing::info!("client proxy: using provider address '{address}' from cache");
        match open(ctx, connector, &address, provider, CACHED_TIMEOUT).await {
            Ok(conn) => return Ok(conn),
            Err(e) => {
                tracing::warn!(
                    "client proxy: failed to connect to {address}: {}",
                    e.message()
                );
                cache.remove(key, &address);
                candidates.retain(|a| *a != address);
                if candidates.is_empty() {
                    return Err(e);
                }
            }
        }
    }
    let (address, conn) = race(ctx, connector, &candidates, provider).await?;
    if let Some(key) = key {
        tracing::info!("client proxy: storing the fastest provider address '{address}' to cache");
        cache.put(key, address, period, Instant::now());
    }
    Ok(conn)
}

/// Tries every address at once: the first verified connection, and its address.
async fn race(
    ctx: &Arc<ProxyContext>,
    connector: &TlsConnector,
    addresses: &[String],
    provider: &ClientId,
) -> Result<(String, PeerConn), XRoadError> {
    let timeout = ctx.settings().connect_timeout;
    let mut attempts = tokio::task::JoinSet::new();
    for address in addresses {
        let ctx = ctx.clone();
        let connector = connector.clone();
        let address = address.clone();
        let provider = provider.clone();
        attempts.spawn(async move {
            open(&ctx, &connector, &address, &provider, timeout)
                .await
                .map(|conn| (address, conn))
        });
    }
    let mut errors = Vec::new();
    while let Some(done) = attempts.join_next().await {
        match done {
            Ok(Ok(won)) => {
                attempts.abort_all();
                return Ok(won);
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
    timeout: Duration,
) -> Result<PeerConn, XRoadError> {
    let (target, host, ocsp_port) = peer_ports(ctx, address);
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
    // The peer's OCSP responses are no part of the connect timeout (Java fetches them in
    // `AuthTrustVerifier` with timeouts of their own).
    let ocsp = ctx
        .peer_ocsp()
        .responses_for_chain(
            &host,
            ocsp_port,
            &chain,
            gc.trust(),
            now,
            ctx.settings().connect_timeout,
        )
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
    use std::time::{Duration, Instant};

    use super::{split_port, FastestCache};

    fn set(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_fastest_address_is_kept_per_sorted_set_for_the_period() {
        let cache = FastestCache::default();
        let hour = Duration::from_secs(3600);
        let t0 = Instant::now();
        let key = FastestCache::key(&set(&["ss2:5500", "ss1:5500"]));
        assert_eq!(key, set(&["ss1:5500", "ss2:5500"]));
        assert_eq!(cache.get(&key, hour, t0), None);
        cache.put(key.clone(), "ss2:5500".into(), hour, t0);
        // The same set in another order finds it; another set does not.
        let again = FastestCache::key(&set(&["ss1:5500", "ss2:5500"]));
        assert_eq!(cache.get(&again, hour, t0).as_deref(), Some("ss2:5500"));
        let other = FastestCache::key(&set(&["ss1:5500", "ss3:5500"]));
        assert_eq!(cache.get(&other, hour, t0), None);
        // Until the period has passed since it was stored.
        let later = t0 + hour - Duration::from_secs(1);
        assert_eq!(cache.get(&key, hour, later).as_deref(), Some("ss2:5500"));
        assert_eq!(cache.get(&key, hour, t0 + hour), None);
    }

    #[test]
    fn a_failed_cached_address_is_evicted_unless_replaced() {
        let cache = FastestCache::default();
        let hour = Duration::from_secs(3600);
        let t0 = Instant::now();
        let key = FastestCache::key(&set(&["a", "b"]));
        cache.put(key.clone(), "a".into(), hour, t0);
        // Another request stored a new winner meanwhile: it stays.
        cache.put(key.clone(), "b".into(), hour, t0);
        cache.remove(&key, "a");
        assert_eq!(cache.get(&key, hour, t0).as_deref(), Some("b"));
        cache.remove(&key, "b");
        assert_eq!(cache.get(&key, hour, t0), None);
    }

    #[test]
    fn a_full_cache_drops_expired_then_oldest_entries() {
        let cache = FastestCache::default();
        let period = Duration::from_secs(60);
        let t0 = Instant::now();
        for i in 0..super::FASTEST_CACHE_MAX {
            let at = t0 + Duration::from_millis(i as u64);
            cache.put(vec![format!("k{i}")], "a".into(), period, at);
        }
        let now = t0 + Duration::from_secs(1);
        cache.put(vec!["new".into()], "b".into(), period, now);
        let entries = cache.entries.lock().unwrap();
        assert_eq!(entries.len(), super::FASTEST_CACHE_MAX);
        assert!(!entries.contains_key(&vec!["k0".to_string()]));
        assert!(entries.contains_key(&vec!["new".to_string()]));
    }

    #[test]
    fn addresses_with_and_without_ports() {
        assert_eq!(split_port("127.0.0.1:4100"), Some(("127.0.0.1", 4100)));
        assert_eq!(split_port("ss1.example.org"), None);
        assert_eq!(split_port("::1"), None);
        assert_eq!(split_port("[::1]:5500"), Some(("[::1]", 5500)));
    }
}
