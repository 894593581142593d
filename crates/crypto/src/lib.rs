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
mod cache;
pub mod cert;
mod der;
pub mod hashchain;
pub mod ocsp;
pub mod path;
pub mod profile;
pub mod signature;
pub mod time;
pub mod timestamp;
mod tree;
pub mod trust;
mod util;

pub use algorithm::{Digest, DigestAlgorithm, Hasher, SignMechanism, SignatureAlgorithm};
pub use cert::Certificate;
pub use profile::CertificateProfile;
pub use trust::{ApprovedCa, CaCert, TrustContext};
pub use util::decode_base64;
