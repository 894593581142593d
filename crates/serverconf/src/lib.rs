//! The X-Road server configuration store: what this security server serves.
//!
//! - [`Config`] is the whole configuration as a document: the owner and server code, the
//!   local clients with their IS authentication and certificates, service descriptions
//!   (WSDL, OpenAPI 3, REST) with services and endpoints, local groups and access rights.
//!   It reads and writes YAML ([`Config::from_yaml`], [`Config::to_yaml`]).
//! - [`Store`] keeps it in SQL through sqlx: an SQLite file by default, PostgreSQL when
//!   several nodes share one configuration. [`Store::apply`] makes the store match a
//!   document and says what changed.
//! - [`ServerConfSnapshot`] is the immutable view the proxy reads, with client statuses
//!   from the global configuration and access rights resolved for fast checks;
//!   [`watch_snapshots`] republishes it on a `tokio::sync::watch` channel.
//! - [`import`] reads WSDL 1.1 and OpenAPI 3 documents into services and endpoints.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod import;
mod model;
pub mod pattern;
mod snapshot;
mod store;
mod watch;

pub use model::{
    diff, AccessRight, Certificate, Change, ClientConfig, Config, ConfigError, DescriptionType,
    Endpoint, Id, IsAuthentication, LocalGroup, ServerSettings, Service, ServiceDescription,
    Subject, DEFAULT_TIMEOUT_SECONDS,
};
pub use snapshot::{
    ClientStatus, LocalClient, ProvidedService, ServerConf, ServerConfSnapshot, ServiceInfo,
};
pub use store::{is_postgres_url, redact_url, ApplyOutcome, Store, StoreError, SCHEMA_VERSION};
pub use watch::{
    load_snapshot, watch_snapshots, watch_snapshots_with, GlobalConfReceiver, DEFAULT_POLL_INTERVAL,
};
