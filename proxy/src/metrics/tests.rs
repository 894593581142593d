use super::*;
use xroad_identifiers::ClientId;

fn service(code: &str) -> ServiceId {
    let provider = ClientId::subsystem("DEV", "GOV", "2222", "services").unwrap();
    ServiceId::new(provider, code, Some("v1".into())).unwrap()
}

fn response(fault: bool) -> hyper::Response<()> {
    let mut r = hyper::Response::new(());
    if fault {
        mark_fault(&Metrics::default(), &mut r, "x");
    }
    r
}

fn rendered(m: &Metrics) -> String {
    let mut out = String::new();
    m.render(&mut out);
    out
}

fn assert_lines(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(
            text.lines().any(|l| l == *line),
            "{line} missing in\n{text}"
        );
    }
}

#[test]
fn messages_are_counted_by_service_and_outcome() {
    let m = Metrics::default();
    let mut ex = m.exchange(Direction::Client, Protocol::Soap);
    ex.service(&service("getPerson"));
    ex.finish(&response(false));
    let mut ex = m.exchange(Direction::Client, Protocol::Soap);
    ex.service(&service("getPerson"));
    ex.finish(&response(true));
    m.exchange(Direction::Server, Protocol::Rest)
        .finish(&response(true));
    let text = rendered(&m);
    assert_lines(
        &text,
        &[
            "# TYPE xroad_messages_total counter",
            "xroad_messages_total{direction=\"client\",protocol=\"soap\",service=\"DEV/GOV/2222/services/getPerson/v1\",outcome=\"ok\"} 1",
            "xroad_messages_total{direction=\"client\",protocol=\"soap\",service=\"DEV/GOV/2222/services/getPerson/v1\",outcome=\"fault\"} 1",
            "xroad_messages_total{direction=\"server\",protocol=\"rest\",service=\"unknown\",outcome=\"fault\"} 1",
            "xroad_messages_total{direction=\"server\",protocol=\"soap\",service=\"other\",outcome=\"ok\"} 0",
            "xroad_message_duration_seconds_count{direction=\"client\",protocol=\"soap\"} 2",
            "xroad_message_duration_seconds_bucket{direction=\"client\",protocol=\"soap\",le=\"+Inf\"} 2",
            "xroad_message_duration_seconds_count{direction=\"server\",protocol=\"soap\"} 0",
        ],
    );
}

#[test]
fn services_beyond_the_cap_are_other() {
    let m = Metrics::with_cap(2);
    for code in ["a", "b", "c", "d", "a"] {
        let mut ex = m.exchange(Direction::Server, Protocol::Soap);
        ex.service(&service(code));
        ex.finish(&response(false));
    }
    let text = rendered(&m);
    let services = |s: &str| {
        format!("xroad_messages_total{{direction=\"server\",protocol=\"soap\",service=\"{s}\",outcome=\"ok\"}}")
    };
    assert_lines(
        &text,
        &[
            &format!("{} 2", services("DEV/GOV/2222/services/a/v1")),
            &format!("{} 1", services("DEV/GOV/2222/services/b/v1")),
            &format!("{} 2", services("other")),
        ],
    );
    assert!(!text.contains("services/c/"), "{text}");
}

#[test]
fn fault_codes_are_counted_and_capped() {
    let m = Metrics::with_cap(1);
    m.error("server.clientproxy.service_failed.io_error");
    m.error("server.clientproxy.service_failed.io_error");
    m.error("made \"up\"\ncode");
    assert_lines(
        &rendered(&m),
        &[
            "# TYPE xroad_errors_total counter",
            "xroad_errors_total{code=\"server.clientproxy.service_failed.io_error\"} 2",
            "xroad_errors_total{code=\"other\"} 1",
        ],
    );
    let m = Metrics::default();
    m.error("made \"up\"\ncode\\");
    assert_lines(
        &rendered(&m),
        &["xroad_errors_total{code=\"made \\\"up\\\"\\ncode\\\\\"} 1"],
    );
}

#[test]
fn histograms_are_cumulative() {
    let h = Histogram::new(&DURATION_BUCKETS);
    h.observe(Duration::from_micros(100));
    h.observe(Duration::from_micros(700));
    h.observe(Duration::from_millis(700));
    h.observe(Duration::from_secs(60));
    let (counts, sum) = h.snapshot();
    let mut out = String::new();
    write_histogram(&mut out, "t", "a=\"b\"", &DURATION_BUCKETS, &counts, sum);
    assert_lines(
        &out,
        &[
            "t_bucket{a=\"b\",le=\"0.0005\"} 1",
            "t_bucket{a=\"b\",le=\"0.001\"} 2",
            "t_bucket{a=\"b\",le=\"0.5\"} 2",
            "t_bucket{a=\"b\",le=\"1\"} 3",
            "t_bucket{a=\"b\",le=\"30\"} 3",
            "t_bucket{a=\"b\",le=\"+Inf\"} 4",
            "t_sum{a=\"b\"} 60.7008",
            "t_count{a=\"b\"} 4",
        ],
    );
    let mut bare = String::new();
    write_histogram(&mut bare, "u", "", &[1.0], &[1, 1], Duration::from_secs(3));
    assert_eq!(
        bare,
        "u_bucket{le=\"1\"} 1\nu_bucket{le=\"+Inf\"} 2\nu_sum 3\nu_count 2\n"
    );
}

#[test]
fn bytes_and_handshakes_have_fixed_series() {
    let m = Metrics::default();
    m.add_bytes(Direction::Client, Way::Request, 10);
    m.add_bytes(Direction::Client, Way::Request, 5);
    m.add_bytes(Direction::Server, Way::Response, 7);
    m.tls_handshake(TlsSide::Server, true);
    m.tls_handshake(TlsSide::Client, false);
    assert_lines(
        &rendered(&m),
        &[
            "xroad_message_bytes_total{direction=\"client\",way=\"request\"} 15",
            "xroad_message_bytes_total{direction=\"client\",way=\"response\"} 0",
            "xroad_message_bytes_total{direction=\"server\",way=\"response\"} 7",
            "xroad_tls_handshakes_total{side=\"server\",outcome=\"ok\"} 1",
            "xroad_tls_handshakes_total{side=\"client\",outcome=\"failed\"} 1",
            "xroad_tls_handshakes_total{side=\"is\",outcome=\"ok\"} 0",
        ],
    );
}
