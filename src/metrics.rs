//! The node's counters in the Prometheus text format, served at `GET /metrics` on the health
//! check and admin ports: the proxy's message counters, the signer's batches, and the ages of
//! what the node depends on (global configuration, OCSP responses of its own certificates).

use std::fmt::Write;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;
use xroad_confclient::RefreshStatus;
use xroad_proxy::metrics::{write_header, write_histogram};
use xroad_proxy::ProxyContext;
use xroad_signer::ocsp::OcspManager;
use xroad_signer::{KeyUsage, SigningStats, BATCH_SIZE_BUCKETS, SIGN_DURATION_BUCKETS};

/// What the node's `/metrics` reads, all of it already kept by the node.
pub(crate) struct NodeMetrics {
    /// The proxy (its counters, the signer, the global configuration, the auth certificate).
    pub ctx: Arc<ProxyContext>,
    /// The configuration client's status.
    pub globalconf_status: watch::Receiver<RefreshStatus>,
    /// The OCSP responses of own certificates.
    pub ocsp: Arc<OcspManager>,
}

impl NodeMetrics {
    /// Every series, rendered now.
    pub fn render(&self) -> String {
        let now = SystemTime::now();
        let mut out = String::new();
        render_process(&mut out);
        self.ctx.metrics().render(&mut out);
        out.push_str(&render_signer(&self.ctx.signer().stats()));
        let last_success = self.globalconf_status.borrow().last_success;
        let expires = self.ctx.globalconf_unchecked().and_then(|gc| gc.expires());
        render_globalconf(&mut out, last_success, expires, now);
        let auth = self.ocsp_produced(self.ctx.auth().chain.first().map(|c| c.sha1_hex()));
        render_ocsp(&mut out, auth, self.oldest_sign_ocsp(), now);
        out
    }

    /// `thisUpdate` of the cached OCSP response of a certificate (SHA-1 hex).
    fn ocsp_produced(&self, hash: Option<String>) -> Option<SystemTime> {
        let state = self.ocsp.state_at(&hash?, SystemTime::now());
        state.response.map(|r| r.this_update())
    }

    /// The oldest `thisUpdate` among the active signing certificates' responses: the one an
    /// alert should look at (any of them going stale stops its member's messages).
    fn oldest_sign_ocsp(&self) -> Option<SystemTime> {
        let certs = self.ctx.signer().signer().certs().ok()?;
        certs
            .into_iter()
            .filter(|c| c.usage == Some(KeyUsage::Signing) && c.active)
            .filter_map(|c| self.ocsp_produced(Some(c.id)))
            .min()
    }
}

/// `xroad_up` and `xroad_build_info`.
fn render_process(out: &mut String) {
    write_header(out, "xroad_up", "1 while the node runs.", "gauge");
    let _ = writeln!(out, "xroad_up 1");
    write_header(
        out,
        "xroad_build_info",
        "The running version (in the labels).",
        "gauge",
    );
    let _ = writeln!(
        out,
        "xroad_build_info{{version=\"{}\",proxy_version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        xroad_proxy::PROXY_VERSION
    );
}

/// Seconds from `from` to `to`, negative when `to` is earlier.
fn seconds(from: SystemTime, to: SystemTime) -> f64 {
    match to.duration_since(from) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// The global configuration's age and remaining validity; a series is left out while there
/// is nothing to measure (no successful download yet, no configuration).
fn render_globalconf(
    out: &mut String,
    last_success: Option<SystemTime>,
    expires: Option<SystemTime>,
    now: SystemTime,
) {
    let name = "xroad_globalconf_age_seconds";
    write_header(
        out,
        name,
        "Seconds since the global configuration was last downloaded and verified.",
        "gauge",
    );
    if let Some(t) = last_success {
        let _ = writeln!(out, "{name} {}", seconds(t, now));
    }
    let name = "xroad_globalconf_expires_in_seconds";
    write_header(
        out,
        name,
        "Seconds until the global configuration expires (negative: expired).",
        "gauge",
    );
    if let Some(t) = expires {
        let _ = writeln!(out, "{name} {}", seconds(now, t));
    }
}

/// The age of the own certificates' OCSP responses (`thisUpdate` to now).
fn render_ocsp(
    out: &mut String,
    auth: Option<SystemTime>,
    sign: Option<SystemTime>,
    now: SystemTime,
) {
    let name = "xroad_ocsp_response_age_seconds";
    write_header(
        out,
        name,
        "Age of the own certificates' OCSP responses (sign: the oldest of them).",
        "gauge",
    );
    for (cert, t) in [("auth", auth), ("sign", sign)] {
        if let Some(t) = t {
            let _ = writeln!(out, "{name}{{cert=\"{cert}\"}} {}", seconds(t, now));
        }
    }
}

/// The signer's batch signing counters: how many private-key operations the messages cost.
pub fn render_signer(stats: &SigningStats) -> String {
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, kind: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    counter(
        "xroad_signer_batches_total",
        "Private-key operations for message signatures (one per batch).",
        "counter",
        stats.signatures,
    );
    counter(
        "xroad_signer_batched_messages_total",
        "Messages signed.",
        "counter",
        stats.messages,
    );
    counter(
        "xroad_signer_batch_size_max",
        "The largest batch signed with one key operation.",
        "gauge",
        stats.max_batch,
    );
    let name = "xroad_signer_batch_size";
    let _ = writeln!(
        out,
        "# HELP {name} Messages per signature.\n# TYPE {name} histogram"
    );
    let mut cumulative = 0;
    for (le, n) in BATCH_SIZE_BUCKETS.iter().zip(&stats.batch_sizes) {
        cumulative += n;
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", stats.signatures);
    let _ = writeln!(
        out,
        "{name}_sum {}\n{name}_count {}",
        stats.messages, stats.signatures
    );
    let name = "xroad_signer_sign_duration_seconds";
    write_header(
        &mut out,
        name,
        "Time to sign one batch (hash chain and private-key operation).",
        "histogram",
    );
    write_histogram(
        &mut out,
        name,
        "",
        &SIGN_DURATION_BUCKETS,
        &stats.sign_durations,
        stats.sign_time,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn assert_lines(text: &str, lines: &[&str]) {
        for line in lines {
            assert!(
                text.lines().any(|l| l == *line),
                "{line} missing in\n{text}"
            );
        }
    }

    #[test]
    fn ages_are_seconds_to_now_and_absent_when_unknown() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut out = String::new();
        render_globalconf(
            &mut out,
            Some(now - Duration::from_millis(1500)),
            Some(now + Duration::from_secs(600)),
            now,
        );
        render_ocsp(&mut out, Some(now - Duration::from_secs(90)), None, now);
        assert_lines(
            &out,
            &[
                "# TYPE xroad_globalconf_age_seconds gauge",
                "xroad_globalconf_age_seconds 1.5",
                "xroad_globalconf_expires_in_seconds 600",
                "xroad_ocsp_response_age_seconds{cert=\"auth\"} 90",
            ],
        );
        assert!(!out.contains("cert=\"sign\""), "{out}");
        let mut expired = String::new();
        render_globalconf(&mut expired, None, Some(now - Duration::from_secs(5)), now);
        assert_lines(&expired, &["xroad_globalconf_expires_in_seconds -5"]);
        assert!(
            !expired
                .lines()
                .any(|l| l.starts_with("xroad_globalconf_age_seconds")),
            "{expired}"
        );
    }

    #[test]
    fn the_node_is_up_with_its_version() {
        let mut out = String::new();
        render_process(&mut out);
        assert_lines(
            &out,
            &[
                "xroad_up 1",
                &format!(
                    "xroad_build_info{{version=\"{}\",proxy_version=\"{}\"}} 1",
                    env!("CARGO_PKG_VERSION"),
                    xroad_proxy::PROXY_VERSION
                ),
            ],
        );
    }

    #[test]
    fn the_histogram_is_cumulative_and_ends_with_the_totals() {
        let mut stats = SigningStats {
            signatures: 3,
            messages: 1 + 3 + 700,
            max_batch: 700,
            ..SigningStats::default()
        };
        stats.batch_sizes[0] = 1;
        stats.batch_sizes[2] = 1;
        stats.batch_sizes[10] = 1;
        let text = render_signer(&stats);
        for line in [
            "xroad_signer_batches_total 3",
            "xroad_signer_batched_messages_total 704",
            "xroad_signer_batch_size_max 700",
            "xroad_signer_batch_size_bucket{le=\"1\"} 1",
            "xroad_signer_batch_size_bucket{le=\"2\"} 1",
            "xroad_signer_batch_size_bucket{le=\"4\"} 2",
            "xroad_signer_batch_size_bucket{le=\"512\"} 2",
            "xroad_signer_batch_size_bucket{le=\"+Inf\"} 3",
            "xroad_signer_batch_size_sum 704",
            "xroad_signer_batch_size_count 3",
            "# TYPE xroad_signer_sign_duration_seconds histogram",
            "xroad_signer_sign_duration_seconds_bucket{le=\"0.001\"} 0",
            "xroad_signer_sign_duration_seconds_bucket{le=\"+Inf\"} 0",
            "xroad_signer_sign_duration_seconds_count 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
