//! X-Road's cryptographic message formats, byte-compatible with the Java security servers:
//!
//! - [`algorithm`]: digests and signature algorithms in JCA, XML-DSig and OID spellings;
//! - canonical XML 1.0 (inclusive, and exclusive for reading), on a small document tree;
//! - [`hashchain`]: hash chains for multi-part messages and batch signatures;
//! - [`signature`]: the XAdES message signature profile, created and verified;
//! - [`ocsp`]: OCSP requests and response verification with X-Road's freshness rule;
//! - [`cert`]: certificates, paths to approved CAs, and certificate profiles that map a
//!   signing certificate to a member.
//!
//! Nothing here reads the clock: every verification takes its instant as a parameter.

pub mod algorithm;
mod c14n;
mod der;
pub mod hashchain;
mod tree;
pub mod time;
mod util;

pub use algorithm::{Digest, DigestAlgorithm, Hasher, SignMechanism, SignatureAlgorithm};
