//! Publishing snapshots: rebuilt when the store changes (from this node or another one that
//! shares the database) or when a new global configuration arrives.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use xroad_globalconf::SharedParameters;

use crate::snapshot::{ServerConf, ServerConfSnapshot};
use crate::store::{Store, StoreError};

/// The global configuration as the snapshot needs it; `None` until one is available.
pub type GlobalConfReceiver = watch::Receiver<Option<Arc<SharedParameters>>>;

/// How often the store's version counter is polled by default (changes from other nodes are
/// therefore seen within this interval).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Builds a snapshot of the store's current content.
pub async fn load_snapshot(
    store: &Store,
    globalconf: Option<&SharedParameters>,
) -> Result<ServerConfSnapshot, StoreError> {
    let (config, version) = store.load().await?;
    Ok(ServerConfSnapshot::build(&config, version, globalconf))
}

/// Loads the first snapshot, then keeps the returned receiver current: the store's version
/// counter is polled every `poll_interval`, and a change of `globalconf` rebuilds at once.
/// The task ends when every receiver is dropped. A failed poll keeps the last snapshot and
/// is retried at the next tick.
pub async fn watch_snapshots(
    store: Store,
    globalconf: GlobalConfReceiver,
    poll_interval: Duration,
) -> Result<(watch::Receiver<ServerConf>, JoinHandle<()>), StoreError> {
    watch_snapshots_with(store, globalconf, |g| g.as_deref(), poll_interval).await
}

/// [`watch_snapshots`] on any published global configuration `G` (such as the
/// configuration client's `Option<Arc<GlobalConf>>`): `shared` picks this instance's shared
/// parameters out of it.
pub async fn watch_snapshots_with<G, F>(
    store: Store,
    mut globalconf: watch::Receiver<G>,
    shared: F,
    poll_interval: Duration,
) -> Result<(watch::Receiver<ServerConf>, JoinHandle<()>), StoreError>
where
    G: Clone + Send + Sync + 'static,
    F: Fn(&G) -> Option<&SharedParameters> + Send + Sync + 'static,
{
    let shared = Arc::new(shared);
    let gc = globalconf.borrow_and_update().clone();
    let (config, version) = store.load().await?;
    let first = ServerConfSnapshot::build(&config, version, shared(&gc));
    let mut config = Arc::new(config);
    let (tx, rx) = watch::channel(Arc::new(first));
    let task = tokio::spawn(async move {
        let mut gc_open = true;
        let mut version = version;
        loop {
            let mut gc_changed = false;
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(poll_interval) => {}
                changed = globalconf.changed(), if gc_open => match changed {
                    Ok(()) => gc_changed = true,
                    Err(_) => gc_open = false,
                },
            }
            // The store is read again only when its version moved; a new global
            // configuration alone is resolved against the configuration already read.
            let store_changed = match store.version().await {
                Ok(v) => v != version,
                Err(_) => false,
            };
            if store_changed {
                match store.load().await {
                    Ok((c, v)) => {
                        config = Arc::new(c);
                        version = v;
                    }
                    Err(_) => continue,
                }
            }
            if store_changed || gc_changed {
                let gc = globalconf.borrow_and_update().clone();
                // A large configuration takes a while to resolve: keep it off the workers
                // that serve messages.
                let config = Arc::clone(&config);
                let shared = Arc::clone(&shared);
                let built = tokio::task::spawn_blocking(move || {
                    ServerConfSnapshot::build(&config, version, shared(&gc))
                })
                .await;
                if let Ok(snapshot) = built {
                    tx.send_replace(Arc::new(snapshot));
                }
            }
        }
    });
    Ok((rx, task))
}
