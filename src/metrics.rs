//! The node's counters in the Prometheus text format, served at `GET /metrics` on the health
//! check port.

use std::fmt::Write;

use xroad_signer::{SigningStats, BATCH_SIZE_BUCKETS};

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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
