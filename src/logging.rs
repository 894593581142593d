//! Log output: standard error, as text or one JSON object per line, at a level that a reload
//! (SIGHUP) can change while the node runs.

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{fmt, registry, reload, Registry};

use crate::config::LogFormat;

/// Changes the level of the installed logger.
pub(crate) type LevelHandle = reload::Handle<LevelFilter, Registry>;

/// A log level as operators write it: Rust's names and Java's (`ALL`, `OFF`), any case.
pub(crate) fn parse_level(text: &str) -> Result<LevelFilter, String> {
    Ok(match text.to_ascii_lowercase().as_str() {
        "error" => LevelFilter::ERROR,
        "warn" | "warning" => LevelFilter::WARN,
        "info" => LevelFilter::INFO,
        "debug" => LevelFilter::DEBUG,
        "trace" | "all" => LevelFilter::TRACE,
        "off" => LevelFilter::OFF,
        _ => {
            return Err(format!(
                "log level: expected error, warn, info, debug, trace, all or off, found {text}"
            ))
        }
    })
}

/// Installs the process's logger; `None` when one is installed already (tests).
pub(crate) fn init(level: LevelFilter, format: LogFormat) -> Option<LevelHandle> {
    let (filter, handle) = reload::Layer::new(level);
    let layer = fmt::layer().with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => registry().with(filter).with(layer).try_init(),
        LogFormat::Json => registry()
            .with(filter)
            .with(layer.json().flatten_event(true).with_current_span(false))
            .try_init(),
    };
    installed.ok().map(|()| handle)
}

/// [`init`] from `XROAD_LOG_LEVEL` (or `XROAD_LOG`) and `XROAD_LOG_FORMAT`, for the commands
/// that have no node configuration; `default` when the level is unset or not understood.
pub(crate) fn init_from_env(default: LevelFilter) {
    let level = std::env::var("XROAD_LOG_LEVEL")
        .or_else(|_| std::env::var("XROAD_LOG"))
        .ok()
        .and_then(|v| parse_level(&v).ok())
        .unwrap_or(default);
    let format = match std::env::var("XROAD_LOG_FORMAT") {
        Ok(v) if v.eq_ignore_ascii_case("json") => LogFormat::Json,
        _ => LogFormat::Text,
    };
    init(level, format);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_in_rust_and_java_spelling() {
        assert_eq!(parse_level("INFO").unwrap(), LevelFilter::INFO);
        assert_eq!(parse_level("warning").unwrap(), LevelFilter::WARN);
        assert_eq!(parse_level("ALL").unwrap(), LevelFilter::TRACE);
        assert_eq!(parse_level("Off").unwrap(), LevelFilter::OFF);
        let e = parse_level("verbose").unwrap_err();
        assert!(e.contains("verbose"), "{e}");
    }
}
