//! The refresh task: a download round on a schedule, the stored configuration published as
//! `Arc<GlobalConf>` on a watch channel, failures retried sooner with back-off, expiry
//! reported.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{watch, Notify};
use xroad_crypto::TrustContext;
use xroad_fault::{ErrorCode, XRoadError};
use xroad_globalconf::{ConfigurationAnchor, ConfigurationDirectory, SharedParameters};

use crate::{code_of, ClientSettings, ConfigurationClient};

/// A verified global configuration as stored: what the proxy and signer read per request.
#[derive(Debug)]
pub struct GlobalConf {
    directory: ConfigurationDirectory,
    trust: Arc<TrustContext>,
    expires: Option<SystemTime>,
}

impl GlobalConf {
    /// Reads the stored configuration in `dir`.
    pub fn load(dir: &Path) -> Result<GlobalConf, XRoadError> {
        let directory = ConfigurationDirectory::load(dir)?;
        let trust = Arc::new(directory.trust_context()?);
        let expires = directory
            .own()
            .and_then(|p| p.expires.as_deref())
            .and_then(xroad_crypto::time::parse_instant);
        Ok(GlobalConf {
            directory,
            trust,
            expires,
        })
    }

    /// The directory with every instance's shared parameters.
    pub fn directory(&self) -> &ConfigurationDirectory {
        &self.directory
    }

    /// The own instance (`instance-identifier`).
    pub fn instance(&self) -> &str {
        self.directory.instance()
    }

    /// The own instance's shared parameters.
    pub fn own(&self) -> Option<&SharedParameters> {
        self.directory.own()
    }

    /// What signature and certificate verification trusts.
    pub fn trust(&self) -> &Arc<TrustContext> {
        &self.trust
    }

    /// When the own instance's configuration expires (`None`: unknown, treated as expired).
    pub fn expires(&self) -> Option<SystemTime> {
        self.expires
    }

    /// `global_conf_outdated` once the own instance's configuration has expired at `now`
    /// (Java's `GlobalConfProvider#verifyValidity`, checked per request).
    pub fn verify_validity(&self, now: SystemTime) -> Result<(), XRoadError> {
        match self.expires {
            Some(t) if t >= now => Ok(()),
            Some(t) => Err(XRoadError::new(
                ErrorCode::OutdatedGlobalConf,
                format!(
                    "Global configuration is expired (since {})",
                    crate::store::format_seconds(t)
                ),
            )),
            None => Err(XRoadError::new(
                ErrorCode::OutdatedGlobalConf,
                "Global configuration has no known expiry date",
            )),
        }
    }
}

/// How the refresh task runs.
#[derive(Debug, Clone)]
pub struct RefreshSettings {
    /// The download client's settings.
    pub client: ClientSettings,
    /// The configuration anchor file (re-read every round, so a replaced anchor is used).
    pub anchor: PathBuf,
    /// Time between successful rounds (`configuration-client.update-interval`, 60 s).
    pub interval: Duration,
    /// First retry delay after a failed round; doubled per failure up to `interval`.
    pub retry: Duration,
}

impl RefreshSettings {
    /// Java's defaults for the given directory and anchor.
    pub fn new(dir: impl Into<PathBuf>, anchor: impl Into<PathBuf>) -> RefreshSettings {
        RefreshSettings {
            client: ClientSettings::new(dir),
            anchor: anchor.into(),
            interval: Duration::from_secs(60),
            retry: Duration::from_secs(5),
        }
    }
}

/// The state of the refresh task, for health checks and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshStatus {
    /// Rounds run so far.
    pub rounds: u64,
    /// When the last round succeeded.
    pub last_success: Option<SystemTime>,
    /// Why the last round failed (`None` after a success).
    pub last_error: Option<String>,
    /// Whether the published configuration is expired (or there is none).
    pub outdated: bool,
}

/// The running task: the published configuration, its status, and a way to ask for a round
/// now. Dropping the handle stops the task.
#[derive(Debug)]
pub struct RefreshHandle {
    conf: watch::Receiver<Option<Arc<GlobalConf>>>,
    status: watch::Receiver<RefreshStatus>,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl RefreshHandle {
    /// The configuration published now (`None` before the first valid one).
    pub fn current(&self) -> Option<Arc<GlobalConf>> {
        self.conf.borrow().clone()
    }

    /// A receiver that sees every newly published configuration.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<GlobalConf>>> {
        self.conf.clone()
    }

    /// A receiver of the task's status.
    pub fn status(&self) -> watch::Receiver<RefreshStatus> {
        self.status.clone()
    }

    /// Runs a round now instead of at the next scheduled time.
    pub fn refresh_now(&self) {
        self.wake.notify_one();
    }
}

impl Drop for RefreshHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the refresh task on the current tokio runtime. What is already stored is
/// published at once (a restart serves without waiting for the network); then a round
/// runs immediately and every `interval`.
pub fn spawn_refresh(settings: RefreshSettings) -> Result<RefreshHandle, crate::HttpError> {
    let client = ConfigurationClient::new(settings.client.clone())?;
    let stored = GlobalConf::load(&settings.client.dir).ok().map(Arc::new);
    let (conf_tx, conf) = watch::channel(stored);
    let (status_tx, status) = watch::channel(RefreshStatus::default());
    let wake = Arc::new(Notify::new());
    let task = tokio::spawn(run(settings, client, conf_tx, status_tx, wake.clone()));
    Ok(RefreshHandle {
        conf,
        status,
        wake,
        task,
    })
}

async fn run(
    settings: RefreshSettings,
    mut client: ConfigurationClient,
    conf_tx: watch::Sender<Option<Arc<GlobalConf>>>,
    status_tx: watch::Sender<RefreshStatus>,
    wake: Arc<Notify>,
) {
    let mut failures: u32 = 0;
    let mut status = RefreshStatus::default();
    loop {
        let now = SystemTime::now();
        status.rounds += 1;
        match round(&settings, &mut client, now).await {
            Ok((changed, expires)) => {
                failures = 0;
                status.last_success = Some(now);
                status.last_error = None;
                // A re-signed directory with the same files still moves the expiry.
                let stale = conf_tx
                    .borrow()
                    .as_ref()
                    .is_none_or(|c| c.expires() != Some(expires));
                if changed || stale {
                    match GlobalConf::load(&settings.client.dir) {
                        Ok(c) => {
                            conf_tx.send_replace(Some(Arc::new(c)));
                        }
                        Err(e) => tracing::error!(
                            "the downloaded global configuration cannot be read: {}",
                            e.message()
                        ),
                    }
                }
            }
            Err(message) => {
                failures = failures.saturating_add(1);
                tracing::error!("{message}");
                status.last_error = Some(message);
            }
        }
        let outdated = conf_tx
            .borrow()
            .as_ref()
            .is_none_or(|c| c.verify_validity(SystemTime::now()).is_err());
        if outdated && !status.outdated {
            tracing::error!(
                "the global configuration is outdated: the proxy answers global_conf_outdated until a valid one is downloaded"
            );
        }
        status.outdated = outdated;
        status_tx.send_replace(status.clone());
        let delay = if failures == 0 {
            settings.interval
        } else {
            let factor = 1u32 << (failures - 1).min(16);
            settings.retry.saturating_mul(factor).min(settings.interval)
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = wake.notified() => {}
        }
    }
}

/// One round: whether any file changed, and the own configuration's new expiry.
async fn round(
    settings: &RefreshSettings,
    client: &mut ConfigurationClient,
    now: SystemTime,
) -> Result<(bool, SystemTime), String> {
    let anchor = ConfigurationAnchor::load(&settings.anchor).map_err(|e| {
        format!(
            "cannot download the global configuration: {}: {}",
            code_of(&e),
            e.message()
        )
    })?;
    let report = client
        .execute(&anchor, now)
        .await
        .map_err(|e| e.to_string())?;
    let changed = std::iter::once(&report.own)
        .chain(report.federated.iter().flatten())
        .any(|d| d.files.iter().any(|(_, fetched)| *fetched));
    Ok((changed, report.own.expires))
}
