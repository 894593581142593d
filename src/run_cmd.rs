//! `xroad-sidecar run`: one security server node until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::config::NodeConfig;
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

/// Logs to standard error at the level of `XROAD_LOG` (`error` … `trace`, default `info`).
pub(crate) fn init_logging() {
    init_logging_default("info");
}

/// [`init_logging`] with another default level.
pub(crate) fn init_logging_default(default: &str) {
    let var = std::env::var("XROAD_LOG").unwrap_or_else(|_| default.to_owned());
    let level = match var.as_str() {
        "error" => tracing::Level::ERROR,
        "warn" => tracing::Level::WARN,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .try_init();
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
    init_logging();
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
    rt.block_on(async {
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
        wait_for_stop().await;
        tracing::info!("stopping");
        node.stop(Duration::from_secs(10)).await;
        ExitCode::SUCCESS
    })
}

/// Ctrl-C or SIGTERM.
pub(crate) async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
