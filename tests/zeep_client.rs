//! A real SOAP client through the demo network: Python's `zeep` builds its client from the
//! sample service's WSDL (fetched from the sample's WSDL URL in `network.json`), points the
//! binding at the consumer's client proxy and calls `helloService` with the X-Road SOAP headers
//! (client, service, id, userId, protocolVersion). The answer travels back through both
//! security servers, signed and verified, and zeep parses it against the same WSDL.
//!
//! The Python that runs `tests/zeep/call.py`: `XROAD_PYTHON` if set (`.ci/run` sets it to a
//! venv with zeep), else the first `python3` that can `import zeep`. Without one the test fails
//! and says how to install it (never a silent skip; `.ci/run` also exports
//! `XROAD_REQUIRE_ZEEP=1`).

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{ChildGuard, Demo};

const INSTALL: &str = "zeep is needed: python3 -m venv /opt/xroad-venv && \
/opt/xroad-venv/bin/pip install zeep, then XROAD_PYTHON=/opt/xroad-venv/bin/python \
(.ci/run does this)";

fn can_import_zeep(python: &str) -> bool {
    Command::new(python)
        .args(["-c", "import zeep"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A Python interpreter with zeep.
fn python() -> String {
    if let Ok(p) = std::env::var("XROAD_PYTHON") {
        assert!(
            can_import_zeep(&p),
            "XROAD_PYTHON={p} cannot import zeep; {INSTALL}"
        );
        return p;
    }
    let candidates = ["python3", "/opt/xroad-venv/bin/python"];
    candidates
        .iter()
        .find(|p| can_import_zeep(p))
        .map(|p| (*p).to_owned())
        .unwrap_or_else(|| panic!("no python3 with zeep found; {INSTALL}"))
}

/// Runs `tests/zeep/call.py` with `args`; its stdout lines. Killed after 90 s.
fn call(python: &str, args: &[&str]) -> Vec<String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/zeep/call.py");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = ChildGuard::spawn("python zeep client", &mut cmd);
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.exited() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the zeep client did not finish in 90 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |r: Option<&mut dyn std::io::Read>| {
        let mut s = String::new();
        if let Some(r) = r {
            let _ = r.read_to_string(&mut s);
        }
        s
    };
    let out = read(
        child
            .child
            .stdout
            .as_mut()
            .map(|r| r as &mut dyn std::io::Read),
    );
    let err = read(
        child
            .child
            .stderr
            .as_mut()
            .map(|r| r as &mut dyn std::io::Read),
    );
    assert!(
        status.success(),
        "the zeep client failed ({status}):\n{out}\n{err}"
    );
    out.lines().map(str::to_owned).collect()
}

#[test]
fn zeep_calls_hello_service_through_both_security_servers() {
    let python = python();
    let demo = Demo::start(None, &[]);
    let consumer = demo.node("consumer");
    let instance = demo.instance();
    let wsdl = demo.sample("wsdl");
    let client = format!("{instance}/COM/1111/client");
    let service = format!("{instance}/GOV/2222/services/helloService/v1");
    let proxy = format!("http://{}/", consumer.client_http);

    let lines = call(&python, &[&wsdl, &proxy, &client, &service, "zeep"]);
    assert_eq!(
        lines.first().map(String::as_str),
        Some("Hello zeep! Greetings from the X-Road demo provider."),
        "zeep's answer: {lines:?}"
    );
    // The response carries the request's X-Road header block back (the id zeep sent).
    assert_eq!(
        lines.get(2).map(String::as_str),
        Some("same-id"),
        "{lines:?}"
    );
}
