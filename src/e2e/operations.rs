//! The operations endpoints of running nodes: readiness, liveness and the Prometheus
//! counters of real exchanges on the admin port.

use std::net::SocketAddr;

use super::http;
use super::*;
use crate::demo::network::soap_envelope;

/// The admin address of node `name`.
fn admin(env: &Env, name: &str) -> SocketAddr {
    env.net
        .node(name)
        .and_then(|n| n.config.listen.admin)
        .unwrap_or_else(|| panic!("the admin address of {name}"))
}

async fn scrape(addr: SocketAddr) -> String {
    let r = http::send(addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(r.status(), 200, "{}", r.text());
    r.text()
}

/// The value of the series `series` (name and labels as rendered).
#[track_caller]
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{series} missing in\n{text}"))
}

fn messages(direction: &str, protocol: &str, service: &str, outcome: &str) -> String {
    format!(
        "xroad_messages_total{{direction=\"{direction}\",protocol=\"{protocol}\",service=\"{service}\",outcome=\"{outcome}\"}}"
    )
}

/// One SOAP and one REST exchange, and one request for a service the provider does not
/// know, are counted by both nodes, each in its direction, with the fault by code. The
/// services are called by no other test, so that the counts are exact while other tests run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_port_counts_messages_by_service_outcome_and_fault_code() {
    with_env(|env| async move {
        let (consumer, provider) = (admin(env, "consumer"), admin(env, "provider"));
        for path in ["/health/ready", "/ready"] {
            let r = http::send(consumer, "GET", path, &[], b"").await;
            assert_eq!((r.status(), r.text()), (200, "ready\n".to_owned()));
        }
        let r = http::send(consumer, "GET", "/health/live", &[], b"").await;
        assert_eq!((r.status(), r.text()), (200, "live\n".to_owned()));

        let soap = |code: &str| {
            soap_envelope(
                &id(CLIENT),
                &service(PROVIDER, code),
                &format!("<ns1:{code}><data>m</data></ns1:{code}>"),
            )
        };
        let r = post_soap(env, &soap("metricsEcho")).await;
        assert_eq!(r.status(), 200, "{}", r.text());
        assert!(faultcode(&r.text()).is_none(), "{}", r.text());
        let r = http::send(
            env.proxy,
            "GET",
            "/r1/DEV/GOV/2222/services/metricsRest/items",
            &[("X-Road-Client", CLIENT)],
            b"",
        )
        .await;
        assert_eq!(r.status(), 200, "{}", r.text());
        let unknown = "server.serverproxy.unknown_service";
        assert_soap_fault(&post_soap(env, &soap("metricsUnknown")).await, unknown);

        let echo = "DEV/GOV/2222/services/metricsEcho/v1";
        let rest = "DEV/GOV/2222/services/metricsRest";
        let missing = "DEV/GOV/2222/services/metricsUnknown/v1";
        for (node, direction) in [(consumer, "client"), (provider, "server")] {
            let text = scrape(node).await;
            assert_eq!(value(&text, &messages(direction, "soap", echo, "ok")), 1.0);
            assert_eq!(
                value(&text, &messages(direction, "soap", echo, "fault")),
                0.0
            );
            assert_eq!(value(&text, &messages(direction, "rest", rest, "ok")), 1.0);
            assert_eq!(
                value(&text, &messages(direction, "soap", missing, "fault")),
                1.0
            );
            let code = format!("xroad_errors_total{{code=\"{unknown}\"}}");
            assert!(value(&text, &code) >= 1.0, "{text}");
            let labels = format!("direction=\"{direction}\",protocol=\"soap\"");
            let count = format!("xroad_message_duration_seconds_count{{{labels}}}");
            assert!(value(&text, &count) >= 2.0, "{text}");
            for way in ["request", "response"] {
                let bytes =
                    format!("xroad_message_bytes_total{{direction=\"{direction}\",way=\"{way}\"}}");
                assert!(value(&text, &bytes) > 0.0, "{text}");
            }
            let side = if direction == "client" {
                "client"
            } else {
                "server"
            };
            let tls = format!("xroad_tls_handshakes_total{{side=\"{side}\",outcome=\"ok\"}}");
            assert!(value(&text, &tls) >= 1.0, "{text}");
            assert_eq!(value(&text, "xroad_up"), 1.0);
            assert!(value(&text, "xroad_signer_sign_duration_seconds_count") >= 1.0);
            assert!(value(&text, "xroad_globalconf_age_seconds") >= 0.0);
            assert!(value(&text, "xroad_globalconf_expires_in_seconds") > 0.0);
            assert!(value(&text, "xroad_ocsp_response_age_seconds{cert=\"auth\"}") >= 0.0);
            assert!(value(&text, "xroad_ocsp_response_age_seconds{cert=\"sign\"}") >= 0.0);
        }
    })
    .await;
}
