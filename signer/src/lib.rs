//! The X-Road signer: software and PKCS#11 tokens, keys, CSRs, certificates, OCSP for own
//! certificates, batch signing, autologin.

pub mod error;
mod fsutil;
pub mod keys;
pub mod softtoken;
pub mod keyconf;
pub mod pin;
mod xml;

pub use error::{Result, SignerError};
pub use keyconf::{KeyConf, KeyUsage};
pub use pin::{Pin, PinPolicy};
