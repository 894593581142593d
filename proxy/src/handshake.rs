//! TLS handshake signature checks shared by the rustls certificate verifiers of the client
//! proxy (information systems' certificates) and of the provider IS client: the certificate
//! is judged by X-Road's rules elsewhere, but the handshake signature is always verified.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::CertificateDer;
use rustls::{DigitallySignedStruct, SignatureScheme};

fn algorithms() -> rustls::crypto::WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

/// A TLS 1.2 handshake signature.
pub(crate) fn verify_tls12(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms())
}

/// A TLS 1.3 handshake signature.
pub(crate) fn verify_tls13(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms())
}

/// The signature schemes verified.
pub(crate) fn schemes() -> Vec<SignatureScheme> {
    algorithms().supported_schemes()
}
