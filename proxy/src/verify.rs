//! Who is on the other end: the peer's authentication certificate looked up in the global
//! configuration (Java `AuthTrustManager` on the server side, the first step of
//! `AuthTrustVerifier` / `CertHelper#verifyAuthCert` on the client side).

use std::sync::Arc;

use openssl::nid::Nid;
use openssl::x509::X509;
use tokio::sync::watch;
use xroad_fault::{ErrorCode, XRoadError};
use xroad_globalconf::SharedParameters;
use xroad_identifiers::{ClientId, SecurityServerId};

/// The identity of an authenticated peer security server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerIdentity {
    /// The security server whose registered authentication certificate the peer presented.
    pub server: SecurityServerId,
}

impl PeerIdentity {
    /// The peer is `server`.
    pub fn new(server: SecurityServerId) -> Self {
        PeerIdentity { server }
    }
}

/// Decides, right after the TLS handshake, whether a peer's certificate chain (DER, end-entity
/// first, as the peer sent it) belongs to a security server; an error closes the connection.
pub trait AuthVerifier: Send + Sync {
    /// Identifies the peer or rejects it.
    fn verify_peer(&self, chain: &[Vec<u8>]) -> Result<PeerIdentity, XRoadError>;
}

impl<F> AuthVerifier for F
where
    F: Fn(&[Vec<u8>]) -> Result<PeerIdentity, XRoadError> + Send + Sync,
{
    fn verify_peer(&self, chain: &[Vec<u8>]) -> Result<PeerIdentity, XRoadError> {
        self(chain)
    }
}

type ParamsSource = dyn Fn() -> Vec<Arc<SharedParameters>> + Send + Sync;

/// An [`AuthVerifier`] on top of the shared parameters: the peer's end-entity certificate must
/// hash (SHA-1 in version 2 files, SHA-256 from version 3) to an `authCertHash` of a security
/// server of any of the instances given (Java looks in all instances).
///
/// This is the handshake-time check of Java's `AuthTrustManager`; path validation to an
/// approved CA and the OCSP status are checked later, on the message (as Java does).
pub struct SharedParamsVerifier {
    source: Box<ParamsSource>,
}

impl SharedParamsVerifier {
    /// Verifies against a fixed set of shared parameters.
    pub fn new(params: Vec<Arc<SharedParameters>>) -> Self {
        Self::from_fn(move || params.clone())
    }

    /// Verifies against whatever `source` returns at the time of each handshake.
    pub fn from_fn(
        source: impl Fn() -> Vec<Arc<SharedParameters>> + Send + Sync + 'static,
    ) -> Self {
        SharedParamsVerifier {
            source: Box::new(source),
        }
    }

    /// Verifies against the current value of a global configuration channel (as the server
    /// configuration watcher receives it); no configuration yet means every peer is refused.
    pub fn watching(rx: watch::Receiver<Option<Arc<SharedParameters>>>) -> Self {
        Self::from_fn(move || rx.borrow().iter().cloned().collect())
    }

    /// The client-side check after [`AuthVerifier::verify_peer`]: the identified server must
    /// host `provider` (as owner or client), otherwise the provider's server was not reached.
    pub fn check_hosts(&self, peer: &PeerIdentity, provider: &ClientId) -> Result<(), XRoadError> {
        let hosted = (self.source)()
            .iter()
            .any(|p| p.is_security_server_client(provider, &peer.server));
        if hosted {
            Ok(())
        } else {
            Err(XRoadError::new(
                ErrorCode::SslAuthenticationFailed,
                format!(
                    "Client '{provider}' is not registered at security server {}",
                    peer.server
                ),
            ))
        }
    }
}

impl std::fmt::Debug for SharedParamsVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedParamsVerifier")
            .finish_non_exhaustive()
    }
}

impl AuthVerifier for SharedParamsVerifier {
    fn verify_peer(&self, chain: &[Vec<u8>]) -> Result<PeerIdentity, XRoadError> {
        let Some(cert) = chain.first() else {
            return Err(XRoadError::new(
                ErrorCode::SslAuthenticationFailed,
                "Peer did not send TLS certificate",
            ));
        };
        for params in (self.source)() {
            if let Some(server) = params.server_by_auth_cert(cert) {
                return server.id().map(PeerIdentity::new).ok_or_else(|| {
                    XRoadError::new(
                        ErrorCode::InternalError,
                        format!(
                            "Security server '{}' of member {} has an invalid identifier",
                            server.server_code, server.owner
                        ),
                    )
                });
            }
        }
        Err(XRoadError::new(
            ErrorCode::SslAuthenticationFailed,
            format!(
                "Authentication certificate {} is not associated with any security server",
                subject(cert)
            ),
        ))
    }
}

/// The subject as Java prints an `X500Principal` (most specific attribute first), for messages.
pub(crate) fn subject(der: &[u8]) -> String {
    let Ok(cert) = X509::from_der(der) else {
        return "(not a valid X.509 certificate)".to_owned();
    };
    let parts: Vec<String> = cert
        .subject_name()
        .entries()
        .map(|e| {
            let key = match e.object().nid() {
                Nid::COMMONNAME => "CN",
                Nid::ORGANIZATIONNAME => "O",
                Nid::ORGANIZATIONALUNITNAME => "OU",
                Nid::COUNTRYNAME => "C",
                Nid::SERIALNUMBER => "SERIALNUMBER",
                Nid::LOCALITYNAME => "L",
                Nid::STATEORPROVINCENAME => "ST",
                other => other.short_name().unwrap_or("?"),
            };
            let value = e.data().to_string().unwrap_or_default();
            format!("{key}={value}")
        })
        .collect();
    parts.into_iter().rev().collect::<Vec<_>>().join(", ")
}
