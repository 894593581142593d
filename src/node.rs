//! One security server node in one process (`xroad-sidecar run`): the signer (with autologin
//! and the OCSP cache of own certificates), the global configuration client, the server
//! configuration snapshots, and the proxy's listeners, wired over channels.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::watch;
use xroad_confclient::{GlobalConf, RefreshSettings};
use xroad_crypto::{Certificate, TrustContext};
use xroad_fault::Spelling;
use xroad_globalconf::PrioritizationStrategy;
use xroad_proxy::health_checks as hc;
use xroad_proxy::{AuthCredentials, HealthChecks, OwnAuth, ProxyContext, ProxySettings};
use xroad_serverconf::Store;
use xroad_signer::ocsp::{OcspManager, OcspSettings};
use xroad_signer::{KeySigner, KeyUsage, ServiceConfig, Signer, SignerConfig, SignerHandle};

use crate::config::NodeConfig;

/// Listeners bound before the node starts (the demo binds them to learn the ports); those
/// left `None` are bound from the node configuration.
#[derive(Debug, Default)]
pub(crate) struct Listeners {
    /// Client proxy, HTTP.
    pub client_http: Option<std::net::TcpListener>,
    /// Client proxy, HTTPS.
    pub client_https: Option<std::net::TcpListener>,
    /// Server proxy (mutual TLS from other security servers).
    pub server: Option<std::net::TcpListener>,
    /// OCSP responses of own certificates.
    pub ocsp_responder: Option<std::net::TcpListener>,
    /// Health check.
    pub health_check: Option<std::net::TcpListener>,
    /// Readiness, liveness, metrics.
    pub admin: Option<std::net::TcpListener>,
}

/// A running node.
pub(crate) struct Node {
    /// Where each listener ended up.
    pub addresses: Vec<(&'static str, SocketAddr)>,
    shutdown: watch::Sender<bool>,
    /// The listeners: they end on shutdown once their connections are done.
    listeners: Vec<tokio::task::JoinHandle<()>>,
    /// Refresh loops and watchers: they run until aborted.
    background: Vec<tokio::task::JoinHandle<()>>,
    /// The node's signer (tests log its token out).
    #[cfg(test)]
    signer: Arc<Signer>,
}

impl Node {
    /// The node's signer.
    #[cfg(test)]
    pub fn signer(&self) -> &Arc<Signer> {
        &self.signer
    }

    /// Stops accepting, waits (up to `grace`) for the listeners to finish the messages in
    /// flight, then ends the background tasks.
    pub async fn stop(self, grace: Duration) {
        let _ = self.shutdown.send(true);
        let all = futures_join(self.listeners);
        let _ = tokio::time::timeout(grace, all).await;
        for t in self.background {
            t.abort();
        }
    }
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

fn shutdown_signal(
    rx: &watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut rx = rx.clone();
    async move {
        while !*rx.borrow() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

async fn listener(
    pre: Option<std::net::TcpListener>,
    addr: Option<SocketAddr>,
    what: &str,
) -> Result<Option<TcpListener>, String> {
    if let Some(l) = pre {
        l.set_nonblocking(true)
            .map_err(|e| format!("{what}: {e}"))?;
        return TcpListener::from_std(l)
            .map(Some)
            .map_err(|e| format!("{what}: {e}"));
    }
    match addr {
        None => Ok(None),
        Some(a) => TcpListener::bind(a)
            .await
            .map(Some)
            .map_err(|e| format!("cannot listen on {a} ({what}): {e}")),
    }
}

/// Starts a node on the current runtime.
pub(crate) async fn start(config: &NodeConfig, pre: Listeners) -> Result<Node, String> {
    let anchor = config.anchor();
    if !anchor.is_file() {
        return Err(format!(
            "no configuration anchor at {} (the anchor file of the X-Road instance to join; set `anchor` or XROAD_ANCHOR)",
            anchor.display()
        ));
    }
    // Signer and autologin.
    let mut signer_config = SignerConfig::new(config.signer_dir());
    signer_config.ocsp_cache_dir = Some(config.signer_dir().join("ocsp-cache"));
    signer_config.devices_ini = config.devices_ini();
    let signer =
        Arc::new(Signer::open(signer_config).map_err(|e| format!("cannot open the signer: {e}"))?);
    let pin_file = config
        .pin_file
        .clone()
        .unwrap_or_else(|| config.state_dir.join("autologin"));
    let pins = xroad_signer::autologin::collect_pins_from_env(&pin_file)
        .map_err(|e| format!("autologin: {e}"))?;
    for outcome in
        xroad_signer::autologin::autologin(signer.clone(), pins, Duration::from_secs(1), 3).await
    {
        if let Err(e) = outcome.result {
            tracing::error!(token = %outcome.token, "autologin failed: {e}");
        }
    }

    // Global configuration.
    let mut refresh = RefreshSettings::new(config.globalconf_dir(), config.anchor());
    refresh.interval = config.globalconf_interval;
    let confclient = xroad_confclient::spawn_refresh(refresh)
        .map_err(|e| format!("cannot start the configuration client: {e}"))?;
    let mut gc_rx = confclient.subscribe();
    let wait_gc = async {
        while gc_rx.borrow_and_update().is_none() {
            if gc_rx.changed().await.is_err() {
                return;
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(20), wait_gc)
        .await
        .is_err()
    {
        tracing::warn!("no global configuration yet; messages fail until one is downloaded");
    }
    let gc_rx = confclient.subscribe();

    // OCSP responses of own certificates.
    let ocsp_settings = |dir: &std::path::Path| {
        OcspSettings::from_directory(dir, PrioritizationStrategy::default()).unwrap_or_else(|_| {
            OcspSettings::new(Arc::new(TrustContext::new(Vec::new())), "", Vec::new())
        })
    };
    let ocsp = Arc::new(OcspManager::new(
        config.signer_dir().join("ocsp-cache"),
        ocsp_settings(&config.globalconf_dir()),
    ));
    if let Err(e) = tokio::time::timeout(Duration::from_secs(20), ocsp.refresh(&signer)).await {
        tracing::warn!("first OCSP refresh did not finish: {e}");
    }
    let mut background = vec![ocsp.clone().spawn_refresh(signer.clone())];
    {
        let ocsp = ocsp.clone();
        let dir = config.globalconf_dir();
        let mut rx = confclient.subscribe();
        background.push(tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let _ = ocsp.set_settings(ocsp_settings(&dir));
            }
        }));
    }
    let signer_handle =
        SignerHandle::spawn(signer.clone(), ServiceConfig::default()).with_ocsp(ocsp.clone());

    // Server configuration.
    let store = Store::open(&config.database_url())
        .await
        .map_err(|e| format!("server configuration store: {e}"))?;
    let (sc_rx, sc_task) = xroad_serverconf::watch_snapshots_with(
        store,
        gc_rx.clone(),
        |g: &Option<Arc<GlobalConf>>| g.as_deref().and_then(GlobalConf::own),
        xroad_serverconf::DEFAULT_POLL_INTERVAL,
    )
    .await
    .map_err(|e| format!("server configuration: {e}"))?;
    background.push(sc_task);
    let server_id = sc_rx
        .borrow()
        .server_id()
        .cloned()
        .ok_or("the server configuration has no server identity (run `xroad-sidecar server init` or apply one)")?;

    let auth = own_auth(&signer, server_id)?;
    let settings = proxy_settings(config)?;
    let ctx = ProxyContext::new(settings, gc_rx.clone(), sc_rx, signer_handle.clone(), auth)
        .map_err(|e| format!("TLS: {e}"))?;

    // Peers' OCSP responses are dropped once stale, so that the next connection fetches new
    // ones from the peer's responder.
    {
        let ctx = ctx.clone();
        background.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                if let Some(gc) = ctx.globalconf_unchecked() {
                    ctx.peer_ocsp().evict_stale(gc.trust(), SystemTime::now());
                }
            }
        }));
    }
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut listeners = Vec::new();
    let mut addresses = Vec::new();
    let mut bound = |name: &'static str, l: &TcpListener| {
        if let Ok(a) = l.local_addr() {
            addresses.push((name, a));
        }
    };
    if let Some(l) = listener(pre.client_http, config.listen.client_http, "client proxy").await? {
        bound("client-http", &l);
        listeners.push(tokio::spawn(xroad_proxy::serve_client_proxy(
            l,
            ctx.clone(),
            shutdown_signal(&shutdown_rx),
        )));
    }
    if let Some(l) = listener(
        pre.client_https,
        config.listen.client_https,
        "client proxy (HTTPS)",
    )
    .await?
    {
        bound("client-https", &l);
        let tls = internal_tls(&config.state_dir.join("internal-tls"))?;
        listeners.push(tokio::spawn(xroad_proxy::serve_client_proxy_https(
            l,
            ctx.clone(),
            tls,
            shutdown_signal(&shutdown_rx),
        )));
    }
    if let Some(l) = listener(pre.server, config.listen.server, "server proxy").await? {
        bound("server", &l);
        let acceptor = ctx.acceptor().map_err(|e| format!("TLS: {e}"))?;
        listeners.push(tokio::spawn(xroad_proxy::serve_server_proxy(
            l,
            acceptor,
            ctx.clone(),
            shutdown_signal(&shutdown_rx),
        )));
    }
    if let Some(l) = listener(
        pre.ocsp_responder,
        config.listen.ocsp_responder,
        "OCSP responder",
    )
    .await?
    {
        bound("ocsp-responder", &l);
        let h = signer_handle.clone();
        let source: Arc<dyn xroad_proxy::OcspSource> =
            Arc::new(move |hashes: &[&str]| h.ocsp_responses(hashes));
        let stop = shutdown_signal(&shutdown_rx);
        listeners.push(tokio::spawn(async move {
            if let Err(e) = xroad_proxy::serve_ocsp_responses(l, source, stop).await {
                tracing::error!("OCSP responder: {e}");
            }
        }));
    }
    // One set of checks behind both ports, so that they share the cached results.
    let node_metrics = crate::metrics::NodeMetrics {
        ctx: ctx.clone(),
        globalconf_status: confclient.status(),
        ocsp,
    };
    let checks = Arc::new(health_checks(ctx.clone()).with_metrics(move || node_metrics.render()));
    if let Some(l) = listener(pre.health_check, config.listen.health_check, "health check").await? {
        bound("health-check", &l);
        let checks = checks.clone();
        let stop = shutdown_signal(&shutdown_rx);
        listeners.push(tokio::spawn(async move {
            if let Err(e) = xroad_proxy::serve_health(l, checks, stop).await {
                tracing::error!("health check: {e}");
            }
        }));
    }
    if let Some(l) = listener(pre.admin, config.listen.admin, "admin").await? {
        bound("admin", &l);
        let stop = shutdown_signal(&shutdown_rx);
        listeners.push(tokio::spawn(async move {
            if let Err(e) = xroad_proxy::serve_admin(l, checks, stop).await {
                tracing::error!("admin: {e}");
            }
        }));
    }
    // Keep the configuration client alive as long as the node.
    background.push(tokio::spawn(async move {
        let _keep = confclient;
        std::future::pending::<()>().await;
    }));
    Ok(Node {
        addresses,
        shutdown,
        listeners,
        background,
        #[cfg(test)]
        signer,
    })
}

/// The internal TLS certificate and key of the HTTPS client proxy, generated on first start
/// (EC P-256, self-signed, 20 years, CN = the host name) and kept in `dir`.
fn internal_tls(dir: &std::path::Path) -> Result<xroad_proxy::InternalTls, String> {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if !cert_path.exists() || !key_path.exists() {
        let (cert, key) =
            generate_internal_cert().map_err(|e| format!("internal TLS certificate: {e}"))?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        write_private(&key_path, &key)?;
        std::fs::write(&cert_path, cert).map_err(|e| format!("{}: {e}", cert_path.display()))?;
        tracing::info!(
            "generated the internal TLS certificate in {}",
            dir.display()
        );
    }
    let cert = std::fs::read(&cert_path).map_err(|e| format!("{}: {e}", cert_path.display()))?;
    let key = std::fs::read(&key_path).map_err(|e| format!("{}: {e}", key_path.display()))?;
    xroad_proxy::internal_tls(&cert, &key).map_err(|e| format!("{}: {e}", dir.display()))
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| format!("{}: {e}", path.display()))
}

pub(crate) fn generate_internal_cert() -> Result<(Vec<u8>, Vec<u8>), openssl::error::ErrorStack> {
    use openssl::asn1::Asn1Time;
    use openssl::bn::{BigNum, MsbOption};
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, &host)?;
    let name = name.build();
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(63, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(&key)?;
    let (from, until) = (
        Asn1Time::days_from_now(0)?,
        Asn1Time::days_from_now(20 * 365)?,
    );
    b.set_not_before(&from)?;
    b.set_not_after(&until)?;
    b.sign(&key, MessageDigest::sha256())?;
    Ok((b.build().to_pem()?, key.private_key_to_pem_pkcs8()?))
}

fn proxy_settings(config: &NodeConfig) -> Result<ProxySettings, String> {
    let mut s = ProxySettings::default();
    s.spool.dir = config.temp_dir();
    s.spool.threshold = config.limits.spool_threshold;
    s.spool.max_message_size = config.limits.max_message_size;
    s.spelling = match config.fault_code_spelling.as_str() {
        "7.8" => Spelling::Current,
        "7.7" => Spelling::Legacy,
        other => {
            return Err(format!(
                "fault-code-spelling: expected 7.8 or 7.7, not {other}"
            ))
        }
    };
    if let Some(p) = &config.tls_protocols {
        s.tls = s.tls.with_protocols(p).map_err(|e| e.to_string())?;
    }
    if let Some(c) = &config.tls_ciphers {
        s.tls = s.tls.with_ciphers(c).map_err(|e| e.to_string())?;
    }
    s.peer_server_port = config.peers.server_port;
    s.peer_ocsp_port = config.peers.ocsp_port;
    s.peer_ocsp_ports = config.peers.ocsp_ports.clone().into_iter().collect();
    s.connect_timeout = config.peers.connect_timeout;
    s.fastest_cache_period = config.peers.client_fastest_connecting_ssl_uri_cache_period;
    s.peer_pool_max_idle = config.peers.pool_max_idle_connections;
    s.client_timeout = config.limits.client_timeout;
    Ok(s)
}

/// The authentication key and certificate the server presents to its peers: an active
/// authentication certificate on the (logged-in) software token.
fn own_auth(
    signer: &Signer,
    server_id: xroad_identifiers::SecurityServerId,
) -> Result<OwnAuth, String> {
    let now = SystemTime::now();
    let certs = signer.certs().map_err(|e| format!("signer: {e}"))?;
    let info = certs
        .iter()
        .find(|c| c.usage == Some(KeyUsage::Authentication) && c.active && c.cert.is_valid_at(now))
        .ok_or("no active authentication certificate in the signer (import one with `xroad-sidecar certs import`)")?;
    let key = match signer.key_signer(&info.key_id) {
        Ok(KeySigner::Soft(k)) => k,
        Ok(_) => return Err("the authentication key must be on the software token".into()),
        Err(e) => {
            return Err(format!(
                "authentication key {}: {e} (is the token logged in?)",
                info.key_id
            ))
        }
    };
    let x509 = openssl::x509::X509::from_der(info.cert.der()).map_err(|e| e.to_string())?;
    let credentials =
        AuthCredentials::new((*key).clone(), vec![x509]).map_err(|e| e.to_string())?;
    let chain: Vec<Arc<Certificate>> = vec![info.cert.clone()];
    Ok(OwnAuth {
        server_id,
        key_id: info.key_id.clone(),
        credentials,
        chain,
    })
}

/// Java's checks behind the health port, in Java's order.
fn health_checks(ctx: Arc<ProxyContext>) -> HealthChecks {
    let gc_ctx = ctx.clone();
    let ocsp_ctx = ctx.clone();
    HealthChecks::new()
        .check(hc::GLOBAL_CONF, move || {
            gc_ctx
                .globalconf(SystemTime::now())
                .map(|_| ())
                .map_err(|_| hc::GLOBAL_CONF_EXPIRED.to_owned())
        })
        .check(hc::AUTH_KEY_OCSP, move || {
            // Java's `CachingKeyConfImpl#getAuthKey` answers an auth key without a chain when
            // the signer has no usable one (token logged out, key unavailable, certificate
            // out of its validity, OCSP response missing, stale or not "good"): the check
            // then fails with "No certificate chain available in authentication key."
            let now = SystemTime::now();
            let auth = ocsp_ctx.auth();
            let usable = ocsp_ctx.signer().signer().key_signer(&auth.key_id).is_ok()
                && auth.chain.first().is_some_and(|c| c.is_valid_at(now))
                && ocsp_ctx.own_auth_ocsp_checked(now).is_ok();
            if usable {
                Ok(())
            } else {
                Err(hc::NO_AUTH_CHAIN.to_owned())
            }
        })
        .check(hc::SERVER_CONF, move || {
            if ctx.serverconf().server_id().is_some() {
                Ok(())
            } else {
                Err(hc::SERVER_CONF_UNAVAILABLE.to_owned())
            }
        })
}
