//! Full verification of a peer security server's authentication certificate (Java
//! `CertHelper#verifyAuthCert` with `CertChainVerifier`): run by the client proxy right after
//! connecting to a provider (PROTOCOL-DIGEST §5.1 "Client") and by the server proxy once the
//! request names its client (§5.8.2 step 2).

use std::sync::Arc;
use std::time::SystemTime;

use xroad_crypto::ocsp::OcspResponse;
use xroad_crypto::{path, Certificate, TrustContext};
use xroad_fault::{ErrorCode, XRoadError};
use xroad_globalconf::SharedParameters;
use xroad_identifiers::{ClientId, SecurityServerId};

/// Java's message when a request carries no OCSP responses for the TLS certificate.
pub const OCSP_MISSING: &str =
    "Cannot verify TLS certificate, corresponding OCSP response is missing";

fn auth_failed(message: impl Into<String>) -> XRoadError {
    XRoadError::new(ErrorCode::SslAuthenticationFailed, message)
}

/// Verifies that the peer whose TLS certificate chain is `chain` (end-entity first, then any
/// intermediates, as the peer presented it) may authenticate as a security server hosting
/// `member`, at `at`; returns that security server.
///
/// In Java's order (after refusing an empty `ocsp` with [`OCSP_MISSING`], as the server proxy
/// does first):
/// 1. the end-entity is an authentication certificate (`CertUtils#isAuthCert`);
/// 2. it has a path to an approved CA of `member`'s instance, and it and every presented
///    intermediate on that path (up to, not including, a self-issued root) is valid at `at`
///    and has a good, fresh response among `ocsp` from an authorised responder
///    ([`xroad_crypto::path::verify`] per certificate; Java's server proxy checks the
///    intermediates' responses too);
/// 3. its hash is the `authCertHash` of a security server that hosts `member` as owner or
///    client, in any of `params` (the shared parameters of every instance known).
///
/// Every error is an `ssl_authentication_failed[.…]` fault: the path errors keep their nested
/// codes (`ssl_authentication_failed.invalid_cert_path.cert_validation`, …) as on Java's client
/// proxy. Java's server proxy reports all of them as plain `ssl_authentication_failed` with the
/// same message (`XRoadError::new(ErrorCode::SslAuthenticationFailed, e.message())`).
pub fn verify_auth_cert(
    chain: &[Arc<Certificate>],
    ocsp: &[Arc<OcspResponse>],
    member: &ClientId,
    params: &[Arc<SharedParameters>],
    trust: &TrustContext,
    at: SystemTime,
) -> Result<SecurityServerId, XRoadError> {
    let Some(cert) = chain.first() else {
        return Err(auth_failed("Could not get peer certificates from context"));
    };
    // The server proxy's first check; the client proxy always has responses by now.
    if ocsp.is_empty() {
        return Err(auth_failed(OCSP_MISSING));
    }
    let is_auth = cert
        .is_auth_cert()
        .map_err(|e| e.with_prefix(ErrorCode::SslAuthenticationFailed))?;
    if !is_auth {
        return Err(auth_failed(
            "Peer certificate is not an authentication certificate",
        ));
    }
    for c in path_below_anchor(chain) {
        path::verify(c, member.instance(), ocsp, trust, at)
            .map_err(|e| e.with_prefix(ErrorCode::SslAuthenticationFailed))?;
    }
    hosting_server(cert, member, params)
}

/// The end-entity, then each presented certificate that issued the one before it, stopping
/// at a self-issued one (a root is a trust anchor and has no OCSP response). Certificates
/// that do not continue the path are ignored, as a PKIX path builder ignores them.
fn path_below_anchor(chain: &[Arc<Certificate>]) -> Vec<&Certificate> {
    let mut path: Vec<&Certificate> = Vec::new();
    let mut rest = chain.iter();
    let Some(first) = rest.next() else {
        return path;
    };
    path.push(first);
    let mut current: &Certificate = first;
    for next in rest {
        let self_issued = next.subject().matches(next.issuer());
        if self_issued || !current.issuer().matches(next.subject()) {
            continue;
        }
        if current.is_signed_by(next).is_err() {
            continue;
        }
        path.push(next);
        current = next;
    }
    path
}

/// The security server whose authentication certificate `cert` is, if it hosts `member`
/// (Java `GlobalConfProvider#authCertMatchesMember`, then `getServerId` for the message).
fn hosting_server(
    cert: &Certificate,
    member: &ClientId,
    params: &[Arc<SharedParameters>],
) -> Result<SecurityServerId, XRoadError> {
    let mut registered_at: Option<SecurityServerId> = None;
    for p in params {
        let Some(server) = p.server_by_auth_cert(cert.der()) else {
            continue;
        };
        let Some(id) = server.id() else {
            continue;
        };
        if server.owner == *member || server.clients.contains(member) {
            return Ok(id);
        }
        registered_at.get_or_insert(id);
    }
    Err(match registered_at {
        Some(server) => auth_failed(format!(
            "Client '{member}' is not registered at security server {server}"
        )),
        None => auth_failed(format!(
            "Authentication certificate {} is not associated with any security server",
            crate::verify::subject(cert.der())
        )),
    })
}
