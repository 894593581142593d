//! The signer's errors. None carries a PIN or key material: messages name the token, key or
//! file concerned and what was wrong with it.

use std::path::PathBuf;

/// Anything the signer can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// The PIN did not open the token.
    #[error("the PIN of token {0} is incorrect")]
    PinIncorrect(String),
    /// A new PIN does not satisfy the PIN policy.
    #[error("the PIN does not satisfy the token PIN policy: {0}")]
    PinPolicy(String),
    /// No token with this id.
    #[error("token {0} not found")]
    TokenNotFound(String),
    /// The token is not logged in.
    #[error("token {0} is not active (not logged in)")]
    TokenNotActive(String),
    /// The software token has not been initialised.
    #[error("token {0} is not initialized")]
    TokenNotInitialized(String),
    /// The software token already exists.
    #[error("token {0} is already initialized")]
    TokenAlreadyInitialized(String),
    /// No key with this id.
    #[error("key {0} not found")]
    KeyNotFound(String),
    /// No certificate with this id.
    #[error("certificate {0} not found")]
    CertNotFound(String),
    /// The certificate is already imported.
    #[error("certificate {0} already exists")]
    CertExists(String),
    /// The certificate's public key matches none of the keys.
    #[error("no key matches the public key of certificate {0}")]
    CertKeyNotFound(String),
    /// The certificate is neither or both of signing and authentication, or does not match
    /// the key's usage.
    #[error("wrong certificate usage: {0}")]
    WrongCertUsage(String),
    /// The certificate does not chain to an approved CA.
    #[error("certificate chain: {0}")]
    CertChain(String),
    /// A certificate could not be parsed.
    #[error("invalid certificate: {0}")]
    InvalidCert(String),
    /// `keyconf.xml` or another configuration file is malformed.
    #[error("{0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A cryptographic operation failed (the library's message; it holds no key material).
    #[error("crypto: {0}")]
    Crypto(String),
    /// A PKCS#11 call failed.
    #[error("PKCS#11: {0}")]
    Pkcs11(String),
    /// OCSP responses could not be fetched or verified.
    #[error("OCSP: {0}")]
    Ocsp(String),
    /// An argument was not acceptable.
    #[error("{0}")]
    InvalidInput(String),
    /// The operation is not supported by this token or key.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// A signing request waited longer than the client timeout.
    #[error("Signature creation timed out")]
    Timeout,
    /// The signing service has stopped.
    #[error("the signing service has stopped")]
    ServiceStopped,
}

impl SignerError {
    /// Java's signer error code for this error (`Signer.<code>` in Java's messages).
    pub fn code(&self) -> &'static str {
        match self {
            SignerError::PinIncorrect(_) => "pin_incorrect",
            SignerError::PinPolicy(_) => "token_pin_policy_failure",
            SignerError::TokenNotFound(_) => "token_not_found",
            SignerError::TokenNotActive(_) => "token_not_active",
            SignerError::TokenNotInitialized(_) => "token_not_initialized",
            SignerError::TokenAlreadyInitialized(_) => "token_already_initialized",
            SignerError::KeyNotFound(_) => "key_not_found",
            SignerError::CertNotFound(_) => "cert_not_found",
            SignerError::CertExists(_) => "cert_exists",
            SignerError::CertKeyNotFound(_) => "key_not_found",
            SignerError::WrongCertUsage(_) => "wrong_cert_usage",
            SignerError::CertChain(_) => "cert_validation",
            SignerError::InvalidCert(_) => "incorrect_certificate",
            SignerError::Ocsp(_) => "ocsp_failed",
            SignerError::InvalidInput(_) => "invalid_request",
            SignerError::Unsupported(_) => "unsupported",
            _ => "internal_error",
        }
    }

    /// A copy for replying the same failure to several requesters (I/O errors become
    /// their message).
    pub fn duplicate(&self) -> SignerError {
        use SignerError::*;
        match self {
            PinIncorrect(s) => PinIncorrect(s.clone()),
            PinPolicy(s) => PinPolicy(s.clone()),
            TokenNotFound(s) => TokenNotFound(s.clone()),
            TokenNotActive(s) => TokenNotActive(s.clone()),
            TokenNotInitialized(s) => TokenNotInitialized(s.clone()),
            TokenAlreadyInitialized(s) => TokenAlreadyInitialized(s.clone()),
            KeyNotFound(s) => KeyNotFound(s.clone()),
            CertNotFound(s) => CertNotFound(s.clone()),
            CertExists(s) => CertExists(s.clone()),
            CertKeyNotFound(s) => CertKeyNotFound(s.clone()),
            WrongCertUsage(s) => WrongCertUsage(s.clone()),
            CertChain(s) => CertChain(s.clone()),
            InvalidCert(s) => InvalidCert(s.clone()),
            Config(s) => Config(s.clone()),
            Io { .. } => Config(self.to_string()),
            Crypto(s) => Crypto(s.clone()),
            Pkcs11(s) => Pkcs11(s.clone()),
            Ocsp(s) => Ocsp(s.clone()),
            InvalidInput(s) => InvalidInput(s.clone()),
            Unsupported(s) => Unsupported(s.clone()),
            Timeout => Timeout,
            ServiceStopped => ServiceStopped,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SignerError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<openssl::error::ErrorStack> for SignerError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        SignerError::Crypto(e.to_string())
    }
}

/// The signer's result type.
pub type Result<T> = std::result::Result<T, SignerError>;
