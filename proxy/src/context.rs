//! What every message handler reads: the current global and server configuration, the
//! signer, this security server's identity, and the settings. Each handler takes a snapshot
//! of the configurations per message; nothing locks on the message path except the small
//! signing-context cache.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use xroad_confclient::GlobalConf;
use xroad_crypto::signature::SignatureBuilder;
use xroad_crypto::{Certificate, DigestAlgorithm, SignatureAlgorithm};
use xroad_fault::{ErrorCode, Spelling, XRoadError};
use xroad_identifiers::{ClientId, SecurityServerId};
use xroad_serverconf::ServerConfSnapshot;
use xroad_signer::SignerHandle;

use crate::spool::SpoolSettings;
use crate::{AuthCredentials, TlsSettings};

/// The X-Road version this proxy speaks as (`x-proxy-version`: strict semver, so that Java
/// peers with `server-min-supported-client-version` accept it).
pub const PROXY_VERSION: &str = "7.8.0";

/// How long open connections may finish their messages after shutdown was asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How the proxy runs.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Spooling and the message size limit.
    pub spool: SpoolSettings,
    /// Fault code spelling towards information systems and peers.
    pub spelling: Spelling,
    /// TLS between security servers.
    pub tls: TlsSettings,
    /// The server proxy port of peers whose address has no port.
    pub peer_server_port: u16,
    /// The OCSP responses port of peers.
    pub peer_ocsp_port: u16,
    /// OCSP responses ports by peer address (`host:port` addresses).
    pub peer_ocsp_ports: HashMap<String, u16>,
    /// Connect timeout towards peers.
    pub connect_timeout: Duration,
    /// How long the client proxy waits for data from the provider's security server; zero:
    /// no limit (Java's default `client-httpclient-timeout`).
    pub client_timeout: Duration,
    /// Whether the server proxy keeps connections open (Java's
    /// `server-support-clients-pooled-connections`).
    pub pooled_connections: bool,
    /// How long the fastest of several provider addresses is remembered (Java's
    /// `proxy.client-fastest-connecting-ssl-uri-cache-period`, 3600 s); zero turns it off.
    pub fastest_cache_period: Duration,
    /// Idle connections kept per peer address. Fewer than the concurrent exchanges with a
    /// peer means a TLS handshake for each exchange above it.
    pub peer_pool_max_idle: usize,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            spool: SpoolSettings::default(),
            spelling: Spelling::Current,
            tls: TlsSettings::default(),
            peer_server_port: 5500,
            peer_ocsp_port: 5577,
            peer_ocsp_ports: HashMap::new(),
            connect_timeout: Duration::from_secs(30),
            client_timeout: Duration::ZERO,
            pooled_connections: true,
            fastest_cache_period: Duration::from_secs(3600),
            peer_pool_max_idle: 256,
        }
    }
}

/// This security server's authentication identity.
#[derive(Debug, Clone)]
pub struct OwnAuth {
    /// The security server.
    pub server_id: SecurityServerId,
    /// The authentication key in the signer.
    pub key_id: String,
    /// The TLS key and chain.
    pub credentials: AuthCredentials,
    /// The chain as certificates, end-entity first, without the root.
    pub chain: Vec<Arc<Certificate>>,
}

/// Everything a message handler needs.
pub struct ProxyContext {
    settings: ProxySettings,
    globalconf: watch::Receiver<Option<Arc<GlobalConf>>>,
    serverconf: watch::Receiver<Arc<ServerConfSnapshot>>,
    signer: SignerHandle,
    auth: OwnAuth,
    /// SHA-1 hex of each certificate of `auth.chain` (how the signer files OCSP responses).
    auth_chain_hashes: Vec<String>,
    signing: RwLock<HashMap<ClientId, Arc<SigningContext>>>,
    peer_ocsp: crate::ocsp_client::PeerOcspCache,
    service: crate::provider::ServiceClient,
    connector: crate::TlsConnector,
    pool: crate::peer::PeerPool,
    metrics: Arc<crate::metrics::Metrics>,
}

impl std::fmt::Debug for ProxyContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyContext")
            .field("server", &self.auth.server_id)
            .finish_non_exhaustive()
    }
}

/// How one member signs: its key and a signature builder (shared by concurrent messages, so
/// that the signer can batch them).
#[derive(Debug)]
pub struct SigningContext {
    /// The signing key.
    pub key_id: String,
    /// The builder with the certificate and its OCSP response.
    pub builder: Arc<SignatureBuilder>,
    /// The signer's generation this was read under.
    generation: u64,
    cert: Arc<xroad_crypto::cert::Certificate>,
    cert_hash: String,
    ocsp: Arc<xroad_crypto::ocsp::OcspResponse>,
}

impl ProxyContext {
    /// A context over the given channels and handles.
    pub fn new(
        settings: ProxySettings,
        globalconf: watch::Receiver<Option<Arc<GlobalConf>>>,
        serverconf: watch::Receiver<Arc<ServerConfSnapshot>>,
        signer: SignerHandle,
        auth: OwnAuth,
    ) -> Result<Arc<ProxyContext>, crate::TlsError> {
        let gc = globalconf.clone();
        let verifier = crate::SharedParamsVerifier::from_fn(move || {
            gc.borrow()
                .as_ref()
                .map(|g| g.directory().all_shared())
                .unwrap_or_default()
        });
        let connector =
            crate::TlsConnector::new(&settings.tls, &auth.credentials, Arc::new(verifier))?;
        Ok(Arc::new(ProxyContext {
            settings,
            globalconf,
            serverconf,
            signer,
            auth_chain_hashes: auth.chain.iter().map(|c| c.sha1_hex()).collect(),
            auth,
            signing: RwLock::new(HashMap::new()),
            peer_ocsp: crate::ocsp_client::PeerOcspCache::default(),
            service: crate::provider::ServiceClient::default(),
            connector,
            pool: crate::peer::PeerPool::default(),
            metrics: Arc::default(),
        }))
    }

    /// The settings.
    pub fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    /// This security server's identity.
    pub fn auth(&self) -> &OwnAuth {
        &self.auth
    }

    /// The signer.
    pub fn signer(&self) -> &SignerHandle {
        &self.signer
    }

    /// The proxy's counters (`GET /metrics`).
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// The cache of peers' OCSP responses.
    pub fn peer_ocsp(&self) -> &crate::ocsp_client::PeerOcspCache {
        &self.peer_ocsp
    }

    /// The TLS connector towards other security servers.
    pub(crate) fn connector(&self) -> &crate::TlsConnector {
        &self.connector
    }

    /// Idle connections to other security servers.
    pub(crate) fn peer_pool(&self) -> &crate::peer::PeerPool {
        &self.pool
    }

    /// A TLS acceptor for the server proxy with this server's credentials, refusing peers
    /// whose certificate is not a registered authentication certificate.
    pub fn acceptor(&self) -> Result<crate::TlsAcceptor, crate::TlsError> {
        let gc = self.globalconf.clone();
        let verifier = crate::SharedParamsVerifier::from_fn(move || {
            gc.borrow()
                .as_ref()
                .map(|g| g.directory().all_shared())
                .unwrap_or_default()
        });
        crate::TlsAcceptor::new(
            &self.settings.tls,
            &self.auth.credentials,
            Arc::new(verifier),
        )
    }

    /// The client for provider information systems.
    pub fn service_client(&self) -> &crate::provider::ServiceClient {
        &self.service
    }

    /// The current server configuration.
    pub fn serverconf(&self) -> Arc<ServerConfSnapshot> {
        self.serverconf.borrow().clone()
    }

    /// The current global configuration, checked for validity at `now`
    /// (`global_conf_outdated` otherwise).
    pub fn globalconf(&self, now: SystemTime) -> Result<Arc<GlobalConf>, XRoadError> {
        let gc = self.globalconf.borrow().clone().ok_or_else(|| {
            XRoadError::new(
                ErrorCode::OutdatedGlobalConf,
                "Global configuration is not available",
            )
        })?;
        gc.verify_validity(now)?;
        Ok(gc)
    }

    /// The current global configuration without the validity check (health check).
    pub fn globalconf_unchecked(&self) -> Option<Arc<GlobalConf>> {
        self.globalconf.borrow().clone()
    }

    /// The signing context of `member`'s member (a subsystem signs with its member's key):
    /// Java's `SigningCtxProvider`. Kept while the signer's state and the certificate's OCSP
    /// response stay the same, so a message costs no certificate parsing; the certificate's
    /// validity and the response's status and freshness are checked every time.
    pub fn signing_context(&self, client: &ClientId) -> Result<Arc<SigningContext>, XRoadError> {
        let member = client.member_id();
        let now = SystemTime::now();
        // Loaded before the signer's state is read (see `Signer::generation`).
        let generation = self.signer.signer().generation();
        let cached = self
            .signing
            .read()
            .map_err(|_| XRoadError::new(ErrorCode::InternalError, "signing cache poisoned"))?
            .get(&member)
            .cloned()
            .filter(|c| c.generation == generation && c.cert.is_valid_at(now));
        // A cache hit borrows; only a miss reads the signer (and parses its certificates).
        let read;
        let (key_id, cert, cert_hash) = match &cached {
            Some(c) => (&c.key_id, &c.cert, &c.cert_hash),
            None => {
                let info = self
                    .signer
                    .signer()
                    .member_signing_info(&member)
                    .map_err(|e| signer_error(ErrorCode::CannotCreateSignature, e))?;
                let hash = info.cert.sha1_hex();
                read = (info.key_id, info.cert, hash);
                (&read.0, &read.1, &read.2)
            }
        };
        let ocsp = self
            .signer
            .fresh_ocsp_response(cert_hash, now)
            .ok_or_else(|| {
                XRoadError::new(
                    ErrorCode::CannotCreateSignature,
                    format!(
                        "Cannot sign for {member}: no valid OCSP response for its signing certificate"
                    ),
                )
            })?;
        // Java's signer offers a signing certificate only while its OCSP response is good and
        // fresh (`GetMemberSigningInfoReqHandler#checkValidity`).
        let usable = matches!(ocsp.status(), xroad_crypto::ocsp::CertStatus::Good)
            && self
                .globalconf_unchecked()
                .is_some_and(|gc| crate::ocsp_client::is_fresh(&ocsp, gc.trust(), now));
        if !usable {
            return Err(XRoadError::new(
                ErrorCode::CannotCreateSignature,
                format!("Member '{member}' has no suitable certificates"),
            ));
        }
        if let Some(c) = &cached {
            if c.key_id == *key_id && Arc::ptr_eq(&c.ocsp, &ocsp) {
                return Ok(c.clone());
            }
        }
        let mechanism = self
            .signer
            .signer()
            .sign_mechanism(key_id)
            .map_err(|e| signer_error(ErrorCode::CannotCreateSignature, e))?;
        let algorithm = SignatureAlgorithm::new(DigestAlgorithm::Sha512, mechanism);
        let builder = SignatureBuilder::new(algorithm, cert.clone())
            .with_ocsp_responses(vec![ocsp.der().to_vec()]);
        let ctx = Arc::new(SigningContext {
            key_id: key_id.clone(),
            builder: Arc::new(builder),
            generation,
            cert: cert.clone(),
            cert_hash: cert_hash.clone(),
            ocsp,
        });
        self.signing
            .write()
            .map_err(|_| XRoadError::new(ErrorCode::InternalError, "signing cache poisoned"))?
            .insert(member, ctx.clone());
        Ok(ctx)
    }

    /// Java's `ClientMessageHandler` check before a request is read: this server must have a
    /// valid authentication certificate (Java's `CachingKeyConfImpl#getAuthKey` has none
    /// unless the OCSP responses of its chain are good and fresh), else
    /// `ssl_authentication_failed`. The responses, to send with the request.
    pub fn own_auth_ocsp_checked(&self, now: SystemTime) -> Result<Vec<Vec<u8>>, XRoadError> {
        let invalid = || {
            XRoadError::new(
                ErrorCode::SslAuthenticationFailed,
                "Security server has no valid authentication certificate",
            )
        };
        let gc = self.globalconf(now)?;
        let responses = self.own_auth_ocsp_at(now).map_err(|_| invalid())?;
        let mut ders = Vec::with_capacity(responses.len());
        for r in responses {
            if !matches!(r.status(), xroad_crypto::ocsp::CertStatus::Good)
                || !crate::ocsp_client::is_fresh(&r, gc.trust(), now)
            {
                return Err(invalid());
            }
            ders.push(r.der().to_vec());
        }
        Ok(ders)
    }

    /// The OCSP responses of this server's auth certificate chain (sent with every request).
    pub fn own_auth_ocsp(&self) -> Result<Vec<Vec<u8>>, XRoadError> {
        let responses = self.own_auth_ocsp_at(SystemTime::now())?;
        Ok(responses.iter().map(|r| r.der().to_vec()).collect())
    }

    /// The signer's fresh, parsed responses for the auth chain (no parsing per message).
    fn own_auth_ocsp_at(
        &self,
        now: SystemTime,
    ) -> Result<Vec<Arc<xroad_crypto::ocsp::OcspResponse>>, XRoadError> {
        self.auth_chain_hashes
            .iter()
            .zip(&self.auth.chain)
            .map(|(hash, c)| {
                self.signer.fresh_ocsp_response(hash, now).ok_or_else(|| {
                    XRoadError::new(
                        ErrorCode::SslAuthenticationFailed,
                        format!(
                            "Security server has no valid OCSP response for its authentication certificate {}",
                            c.subject().rfc2253()
                        ),
                    )
                })
            })
            .collect()
    }
}

/// A signer failure as a fault.
pub(crate) fn signer_error(code: ErrorCode, e: xroad_signer::SignerError) -> XRoadError {
    XRoadError::new(code, e.to_string())
}
