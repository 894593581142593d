//! `xroad-sidecar demo --once`: the README's first command, once. It builds the default
//! network in the given state folder, sends the demo requests (the SOAP services' and the
//! REST service's), prints what happened with ready-to-paste `curl` commands, and exits 0.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{ChildGuard, BIN};

/// The whole run, build included, is bounded by this.
const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn demo_once_sends_both_requests_and_prints_curl_commands() {
    let dir = tempfile::Builder::new()
        .prefix("xroad-blackbox-")
        .tempdir()
        .unwrap();
    let state = dir.path().join("state");
    let mut cmd = Command::new(BIN);
    cmd.args(["demo", "--once", "--state-dir"])
        .arg(&state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut demo = ChildGuard::spawn("xroad-sidecar demo --once", &mut cmd);
    let read_all = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let stdout = read_all(Box::new(demo.child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(demo.child.stderr.take().unwrap()));
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(s) = demo.exited() {
            break s;
        }
        if Instant::now() > deadline {
            demo.stop(Duration::from_secs(2));
            panic!(
                "demo --once did not finish within {LIMIT:?}: {}",
                stdout.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = stdout.join().unwrap();
    let err = stderr.join().unwrap();
    assert!(status.success(), "exit {status}\n{out}\n{err}");

    assert!(out.contains("X-Road instance DEV ready in "), "{out}");
    assert!(state.join("network.json").is_file());
    // One block per request: `== title`, `HTTP status in N ms`, the answer, the command.
    let blocks: Vec<&str> = out.split("\n== ").skip(1).collect();
    let soap: Vec<&&str> = blocks.iter().filter(|b| b.starts_with("SOAP ")).collect();
    let rest: Vec<&&str> = blocks.iter().filter(|b| b.starts_with("REST ")).collect();
    assert!(!soap.is_empty() && !rest.is_empty(), "{out}");
    for block in &blocks {
        let status = block.lines().nth(1).unwrap_or("");
        assert!(status.starts_with("   HTTP 200 in "), "{block}");
        assert!(status.ends_with(" ms"), "not a fault: {block}");
        assert!(
            block.contains("   try it yourself:\n     curl -s "),
            "{block}"
        );
    }
    let soap = soap[0];
    assert!(
        soap.contains("SOAP-ENV:Envelope") || soap.contains("Envelope"),
        "{soap}"
    );
    assert!(
        soap.contains(
            "curl -s -H 'Content-Type: text/xml; charset=utf-8' --data-binary @- http://127.0.0.1:"
        ),
        "{soap}"
    );
    assert!(soap.contains("<'EOF'\n"), "{soap}");
    assert!(soap.trim_end().ends_with("EOF"), "{soap}");
    let rest = rest[0];
    assert!(rest.contains("Rex"), "{rest}");
    assert!(
        rest.contains("curl -s -H 'X-Road-Client: DEV/") && rest.contains("/r1/DEV/"),
        "{rest}"
    );
    // `--once` does not stay running.
    assert!(!out.contains("Running until Ctrl-C"), "{out}");
}
