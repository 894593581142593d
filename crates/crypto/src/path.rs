//! Certificate paths to the approved CAs of global configuration, validated the way Java's
//! `CertChainVerifier` does: the trust anchor is the approved CA certificate (top or
//! intermediate) of the member's instance that issued the certificate; the certificate must
//! be valid at the instant and carry a good, fresh OCSP response from an authorised responder.

use std::time::SystemTime;

use xroad_fault::{ErrorCode, XRoadError};

use crate::cert::Certificate;
use crate::ocsp::OcspResponse;
use crate::trust::{CaCert, TrustContext};

/// The message Java gives for a certificate whose issuer is not an approved CA.
pub const NOT_APPROVED: &str =
    "Certificate is not issued by approved certification service provider.";

/// The approved CA certificate of `instance` that issued `cert`.
pub fn approved_issuer<'t>(
    trust: &'t TrustContext,
    instance: &str,
    cert: &Certificate,
) -> Result<&'t CaCert, XRoadError> {
    trust
        .issuer_in(instance, cert)
        .map(|(_, ca)| ca)
        .ok_or_else(|| XRoadError::new(ErrorCode::InternalError, NOT_APPROVED))
}

/// Validates the path of `cert` to an approved CA of `instance` at `at`, with `ocsp`
/// holding a response for each certificate below the anchor.
///
/// Errors are prefixed as Java's: `cannot_create_cert_path.*` when no path can be built
/// (unapproved issuer, bad signature, certificate not valid at `at`), `invalid_cert_path.*`
/// when a path exists but its revocation information fails.
pub fn verify(
    cert: &Certificate,
    instance: &str,
    ocsp: &[std::sync::Arc<OcspResponse>],
    trust: &TrustContext,
    at: SystemTime,
) -> Result<(), XRoadError> {
    let cannot = |e: XRoadError| e.with_prefix(ErrorCode::CannotCreateCertPath);
    let anchor = approved_issuer(trust, instance, cert).map_err(cannot)?;
    let fact = (
        crate::cache::FactKind::IssuedBy,
        *cert.fingerprint(),
        *anchor.cert.fingerprint(),
    );
    if !trust.cache.knows(&fact) {
        if let Err(e) = cert.is_signed_by(&anchor.cert) {
            return Err(cannot(XRoadError::new(
                ErrorCode::InternalError,
                format!("unable to find valid certification path to requested target: {e}"),
            )));
        }
        trust.cache.remember(fact);
    }
    if !cert.is_valid_at(at) {
        let (from, until) = cert.validity();
        return Err(cannot(XRoadError::new(
            ErrorCode::InternalError,
            format!(
                "certificate {} is not valid at {} (valid {} .. {})",
                cert.subject(),
                crate::time::format_xsd_millis(at),
                crate::time::format_xsd_millis(crate::time::from_unix(from)),
                crate::time::format_xsd_millis(crate::time::from_unix(until)),
            ),
        )));
    }
    let invalid = |e: XRoadError| e.with_prefix(ErrorCode::InvalidCertPath);
    let response = ocsp
        .iter()
        .find(|r| r.is_for(cert, &anchor.cert))
        .ok_or_else(|| {
            invalid(XRoadError::new(
                ErrorCode::CertValidation,
                format!(
                    "Unable to find OCSP response for certificate {}",
                    cert.subject()
                ),
            ))
        })?;
    response
        .verify(cert, &anchor.cert, trust, at)
        .map_err(invalid)
}
