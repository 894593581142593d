//! The X-Road signer: software and PKCS#11 tokens, keys, CSRs, certificates, OCSP for own
//! certificates, batch signing, autologin.

pub mod autologin;
pub mod certs;
pub mod csr;
mod der;
pub mod error;
mod fsutil;
pub mod keyconf;
pub mod keys;
pub mod migrate;
pub mod ocsp;
pub mod pin;
pub mod pkcs11;
pub mod service;
mod signer;
pub mod softtoken;
mod xml;

pub use certs::{CertInfo, ChainCheck, GeneratedCsr};
pub use error::{Result, SignerError};
pub use keyconf::{KeyConf, KeyUsage};
pub use keys::KeyAlgorithm;
pub use pin::{Pin, PinPolicy};
pub use service::{
    HashChain, ServiceConfig, SignedMessage, SignerHandle, SigningStats, BATCH_SIZE_BUCKETS,
    SIGN_DURATION_BUCKETS,
};
pub use signer::{KeyInfo, KeySigner, Signer, SignerConfig, TokenInfo, TokenKind};
pub use softtoken::SOFT_TOKEN_ID;
