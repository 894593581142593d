//! The X-Road proxy:
//!
//! - the client proxy (information systems call it) and the server proxy (other security
//!   servers call it), exchanging signed [`transport`] messages;
//! - the mutually authenticated TLS channel between security servers (server proxy port 5500
//!   and the client proxy's outgoing connections), on OpenSSL so that the Java default CBC
//!   cipher suites work, with peers identified through the global configuration rather than
//!   host names or a CA store;
//! - [`verify_auth_cert`]: the full check of a peer's authentication certificate (approved CA,
//!   OCSP, hosts the member);
//! - the OCSP responses endpoint (port 5577, [`serve_ocsp_responses`]) and its client
//!   ([`fetch_ocsp_responses`], [`PeerOcspCache`]);
//! - the health check port (5588, [`serve_health`]) and the admin port ([`serve_admin`]:
//!   readiness, liveness and [`metrics`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod authtrust;
pub mod client_proxy;
pub mod context;
mod handshake;
mod health;
mod listener;
pub mod metaservices;
pub mod metrics;
mod ocsp_client;
mod ocsp_responder;
mod peer;
mod provider;
mod serve;
mod server_proxy;
mod settings;
pub mod spool;
mod tls;
pub mod transport;
mod verify;

pub use authtrust::{verify_auth_cert, OCSP_MISSING};
pub use client_proxy::{
    internal_tls, internal_tls_config, serve_client_proxy, serve_client_proxy_https, InternalTls,
    IsConnection,
};
pub use context::{OwnAuth, ProxyContext, ProxySettings, PROXY_VERSION};
pub use health::{
    java as health_checks, serve_admin, serve_health, CheckResult, HealthChecks,
    MAINTENANCE_MESSAGE,
};
pub use ocsp_client::{
    fetch_ocsp_responses, is_fresh, ocsp_parts, PeerOcspCache, OCSP_RESPONDER_PORT,
};
pub use ocsp_responder::{serve_ocsp_responses, IndexedOcspSource, OcspSource, OCSP_RESPONSE_TYPE};
pub use server_proxy::serve_server_proxy;
pub use settings::{
    TlsProtocol, TlsSettings, DEFAULT_XROAD_TLS_CIPHERS, DEFAULT_XROAD_TLS_PROTOCOLS,
    JAVA_XROAD_TLS_CIPHERS,
};
pub use tls::{AuthCredentials, PeerConnection, TlsAcceptor, TlsConnector, TlsError};
pub use verify::{AuthVerifier, PeerIdentity, SharedParamsVerifier};
