//! `xroad-sidecar run`: one security server node until Ctrl-C or SIGTERM.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::config::NodeConfig;
use crate::logging::{self, LevelHandle};
use crate::node;

/// Arguments of `run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The node configuration file (YAML; every field optional, `XROAD_*` variables override).
    #[arg(long, short = 'c', env = "XROAD_CONFIG")]
    config: Option<PathBuf>,
    /// Print the effective configuration and exit.
    #[arg(long)]
    print_config: bool,
}

pub(crate) fn run(args: &RunArgs) -> ExitCode {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let config = match NodeConfig::load(args.config.as_deref(), &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.print_config {
        print!("{}", config.to_yaml());
        return ExitCode::SUCCESS;
    }
    let level = match logging::parse_level(&config.log_level) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let log_level = logging::init(level, config.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(async {
        let node = match node::start(&config, node::Listeners::default()).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        for (name, addr) in &node.addresses {
            tracing::info!("{name} listening on {addr}");
        }
        while let Signal::Reload = next_signal().await {
            reload(args.config.as_deref(), &config, log_level.as_ref());
        }
        tracing::info!("stopping");
        node.stop(Duration::from_secs(10)).await;
        tracing::info!("stopped");
        ExitCode::SUCCESS
    });
    // A blocking task still running (a PKCS#11 call, a file being written) gets a moment;
    // the process does not wait for it beyond that.
    rt.shutdown_timeout(Duration::from_millis(500));
    code
}

/// What the operator asked for.
enum Signal {
    /// Ctrl-C or SIGTERM: stop accepting, finish the messages in flight, exit.
    Stop,
    /// SIGHUP: read the configuration again and apply what can change while running.
    Reload,
}

async fn next_signal() -> Signal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => Signal::Stop,
                _ = term.recv() => Signal::Stop,
                _ = hup.recv() => Signal::Reload,
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    Signal::Stop
}

/// Ctrl-C or SIGTERM.
pub(crate) async fn wait_for_stop() {
    while let Signal::Reload = next_signal().await {}
}

/// Re-reads the node configuration (file and variables). The log level changes at once;
/// what the server serves (server configuration, global configuration, keys) follows its
/// own stores without any reload; every other field is only named, since listeners, folders
/// and TLS settings take effect at the next start.
fn reload(path: Option<&Path>, running: &NodeConfig, log_level: Option<&LevelHandle>) {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let new = match NodeConfig::load(path, &env) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("reload refused, the running configuration stays: {e}");
            return;
        }
    };
    if let (Some(handle), Ok(level)) = (log_level, logging::parse_level(&new.log_level)) {
        match handle.modify(|l| *l = level) {
            Ok(()) => tracing::info!("reload: log level {level}"),
            Err(e) => tracing::error!("reload: cannot change the log level: {e}"),
        }
    }
    let pending = changed_fields(running, &new);
    if pending.is_empty() {
        tracing::info!("reload: nothing else changed");
    } else {
        tracing::warn!(
            "reload: changed, takes effect at the next start: {}",
            pending.join(", ")
        );
    }
}

/// The top-level fields that differ, other than the log level.
fn changed_fields(old: &NodeConfig, new: &NodeConfig) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return Vec::new();
    };
    a.iter()
        .filter(|(k, v)| k.as_str() != "log-level" && b.get(k.as_str()) != Some(v))
        .map(|(k, _)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_names_what_needs_a_restart() {
        let old = NodeConfig::default();
        let mut new = old.clone();
        new.log_level = "debug".into();
        assert!(changed_fields(&old, &new).is_empty());
        new.listen.server = None;
        new.limits.client_timeout = Duration::from_secs(5);
        assert_eq!(changed_fields(&old, &new), ["limits", "listen"]);
    }
}
