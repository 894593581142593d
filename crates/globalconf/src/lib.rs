//! The X-Road global configuration as a security server keeps it on disk: a directory with
//! an `instance-identifier` file and one folder per instance holding its
//! `shared-params.xml` (and `private-params.xml`), each with a `.metadata` file.
//!
//! This crate reads the parts of the shared parameters that verification trusts (approved
//! CAs with their OCSP responders and certificate profiles, approved TSAs, the OCSP
//! freshness) and builds the [`TrustContext`](xroad_crypto::TrustContext) of a directory.

mod anchor;
mod directory;
mod extensions;
mod private_params;
mod shared_params;
mod signed;

pub use anchor::{ConfigurationAnchor, ConfigurationSource};
pub use directory::ConfigurationDirectory;
pub use extensions::{
    parse_monitoring_client, parse_ocsp_fetch_interval, parse_verify_next_update,
};
pub use private_params::{FederationAnchor, PrivateParameters};
pub use shared_params::{
    ApprovedCaParams, CaInfo, GlobalGroup, LookupIndex, OcspInfo, PrioritizationStrategy,
    SecurityServer, SharedParameters, Source, TsaInfo,
};
pub use signed::{parse_signed_directory, ContentPart, SignedDirectory};
