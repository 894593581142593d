//! The X-Road global configuration client: downloads the signed configuration directory of
//! the own instance (and of allowed federated instances) from the sources of the
//! configuration anchor, verifies it, stores it in the Java security servers' on-disk
//! layout, and keeps it fresh.
//!
//! - [`ConfigurationClient::execute`] is one download round (Java's `ConfigurationClient`).
//! - [`spawn_refresh`] runs rounds on a schedule and publishes the stored configuration as
//!   `Arc<GlobalConf>` on a watch channel; expiry is reported there too.
//!
//! A failed or tampered download writes nothing: every file is downloaded and checked
//! against its signed digest before the first one is stored.

mod download;
mod http;
mod location;
mod refresh;
mod store;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use xroad_fault::XRoadError;
use xroad_globalconf::{ConfigurationAnchor, PrivateParameters};

pub use download::{code_of, DownloadFailure, SourceDownload};
pub use http::{HttpClient, HttpError, HttpSettings};
pub use location::{ConfigurationLocation, CURRENT_VERSION, MINIMUM_VERSION};
pub use refresh::{spawn_refresh, GlobalConf, RefreshHandle, RefreshSettings, RefreshStatus};
pub use store::{instance_dir_name, metadata_path};

/// Which federated instances' configuration is downloaded
/// (`configuration-client.allowed-federations`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowedFederations {
    /// None (the default).
    #[default]
    None,
    /// Every instance the private parameters name.
    All,
    /// These instances (compared case-insensitively).
    Only(HashSet<String>),
}

impl AllowedFederations {
    /// Whether `instance` may be downloaded.
    pub fn allows(&self, instance: &str) -> bool {
        match self {
            AllowedFederations::None => false,
            AllowedFederations::All => true,
            AllowedFederations::Only(set) => set.contains(&instance.to_lowercase()),
        }
    }
}

impl std::str::FromStr for AllowedFederations {
    type Err = std::convert::Infallible;

    /// `none`, `all`, or a comma-separated list of instances (as Java reads it; `none`
    /// anywhere in the list wins).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let items: Vec<String> = s
            .split(',')
            .map(|i| i.trim().to_lowercase())
            .filter(|i| !i.is_empty())
            .collect();
        Ok(if items.is_empty() || items.iter().any(|i| i == "none") {
            AllowedFederations::None
        } else if items.iter().any(|i| i == "all") {
            AllowedFederations::All
        } else {
            AllowedFederations::Only(items.into_iter().collect())
        })
    }
}

/// How the client downloads.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// The global configuration directory (Java: `/etc/xroad/globalconf`).
    pub dir: PathBuf,
    /// HTTP and TLS settings.
    pub http: HttpSettings,
    /// Federated instances to download.
    pub allowed_federations: AllowedFederations,
    /// Download exactly this version instead of probing.
    pub fixed_version: Option<u32>,
    /// The newest version probed (default [`CURRENT_VERSION`]).
    pub max_version: u32,
}

impl ClientSettings {
    /// Defaults for `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> ClientSettings {
        ClientSettings {
            dir: dir.into(),
            http: HttpSettings::default(),
            allowed_federations: AllowedFederations::None,
            fixed_version: None,
            max_version: CURRENT_VERSION,
        }
    }
}

/// What one round did.
#[derive(Debug, Clone)]
pub struct DownloadReport {
    /// The own instance's download.
    pub own: SourceDownload,
    /// Each allowed federated instance: downloaded, or why not (not fatal).
    pub federated: Vec<Result<SourceDownload, DownloadFailure>>,
}

/// Downloads the global configuration from the anchor's sources into a directory,
/// remembering which location worked.
#[derive(Debug)]
pub struct ConfigurationClient {
    settings: ClientSettings,
    http: HttpClient,
    memory: download::Memory,
}

/// Why a round failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The anchor could not be read, or the directory could not be prepared.
    #[error("{}: {}", code_of(.0), .0.message())]
    Setup(XRoadError),
    /// No location of the own instance yielded a valid configuration.
    #[error(transparent)]
    Download(#[from] DownloadFailure),
}

impl ClientError {
    /// The X-Road error (the last location's error for a failed download).
    pub fn error(&self) -> XRoadError {
        match self {
            ClientError::Setup(e) => e.clone(),
            ClientError::Download(f) => f.last_error(),
        }
    }
}

impl ConfigurationClient {
    /// A client for `settings`.
    pub fn new(settings: ClientSettings) -> Result<ConfigurationClient, HttpError> {
        let http = HttpClient::new(settings.http.clone())?;
        Ok(ConfigurationClient {
            settings,
            http,
            memory: download::Memory::default(),
        })
    }

    /// The directory written to.
    pub fn dir(&self) -> &Path {
        &self.settings.dir
    }

    /// One round: the own instance from `anchor` (its failure is the round's failure),
    /// then every allowed federated instance the stored private parameters name, keeping
    /// only those instances' folders. Expiry is checked against `now`.
    pub async fn execute(
        &mut self,
        anchor: &ConfigurationAnchor,
        now: SystemTime,
    ) -> Result<DownloadReport, ClientError> {
        let dir = self.settings.dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| {
            ClientError::Setup(XRoadError::new(
                xroad_fault::ErrorCode::FailedToSaveInstanceIdentifier,
                format!("cannot create {}: {e}", dir.display()),
            ))
        })?;
        store::save_instance_identifier(&dir, &anchor.instance).map_err(ClientError::Setup)?;
        let own = download::download_source(
            &self.http,
            &mut self.memory,
            &download::SourceRequest {
                dir: &dir,
                instance: &anchor.instance,
                anchor_locations: download::anchor_locations(anchor),
                only: None,
                fixed_version: self.settings.fixed_version,
                max_version: self.settings.max_version,
                now,
            },
        )
        .await?;
        let federated = self.federations(anchor, now).await;
        Ok(DownloadReport { own, federated })
    }

    async fn federations(
        &mut self,
        anchor: &ConfigurationAnchor,
        now: SystemTime,
    ) -> Vec<Result<SourceDownload, DownloadFailure>> {
        let dir = self.settings.dir.clone();
        let private = dir
            .join(instance_dir_name(&anchor.instance))
            .join("private-params.xml");
        let anchors = match std::fs::read(&private) {
            Ok(bytes) => match PrivateParameters::parse(&bytes) {
                Ok(p) => p.federation,
                Err(e) => {
                    tracing::error!(
                        "cannot read federation sources from {}: {}",
                        private.display(),
                        e.message()
                    );
                    Vec::new()
                }
            },
            Err(_) => Vec::new(),
        };
        let allowed: Vec<_> = anchors
            .into_iter()
            .filter(|a| {
                // The own instance may name extra sources of its shared parameters (a
                // "detached" configuration); those are always used.
                a.instance.eq_ignore_ascii_case(&anchor.instance)
                    || self.settings.allowed_federations.allows(&a.instance)
            })
            .collect();
        let mut keep: HashSet<String> = allowed
            .iter()
            .map(|a| instance_dir_name(&a.instance))
            .collect();
        keep.insert(instance_dir_name(&anchor.instance));
        store::delete_other_instances(&dir, &keep);
        let mut results = Vec::new();
        for fed in allowed {
            let locations = fed
                .sources
                .iter()
                .map(|(url, ders)| ConfigurationLocation {
                    instance: fed.instance.clone(),
                    url: url.clone(),
                    certs: location::parse_certs(ders),
                })
                .collect();
            let result = download::download_source(
                &self.http,
                &mut self.memory,
                &download::SourceRequest {
                    dir: &dir,
                    instance: &fed.instance,
                    anchor_locations: locations,
                    only: Some("SHARED-PARAMETERS"),
                    fixed_version: self.settings.fixed_version,
                    max_version: self.settings.max_version,
                    now,
                },
            )
            .await;
            if let Err(f) = &result {
                tracing::warn!("{f}");
            }
            results.push(result);
        }
        results
    }
}
