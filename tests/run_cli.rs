//! `xroad-sidecar run` as an operator meets it: the effective configuration, and clear errors
//! for bad configuration or a node that is not set up.

mod support;

use std::process::Command;

fn sidecar() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xroad-sidecar"));
    for (k, _) in std::env::vars() {
        if k.starts_with("XROAD_") {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn print_config_merges_the_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sidecar.yaml");
    std::fs::write(
        &file,
        "state-dir: /srv/ss1\nlisten:\n  client-https: null\nlimits:\n  client-timeout: 5\n",
    )
    .unwrap();
    let out = sidecar()
        .args(["run", "--print-config", "-c"])
        .arg(&file)
        .env("XROAD_SERVER_LISTEN", "127.0.0.1:15500")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("state-dir: /srv/ss1"), "{text}");
    assert!(text.contains("client-https: null"), "{text}");
    assert!(text.contains("server: 127.0.0.1:15500"), "{text}");
    assert!(text.contains("client-timeout: 5"), "{text}");
}

#[test]
fn a_bad_configuration_is_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sidecar.yaml");
    std::fs::write(&file, "listen:\n  sever: 127.0.0.1:1\n").unwrap();
    let out = sidecar().args(["run", "-c"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sever"), "{err}");

    let out = sidecar()
        .args(["run", "--print-config"])
        .env("XROAD_CLIENT_HTTP", "everywhere")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("XROAD_CLIENT_HTTP") && err.contains("everywhere"),
        "{err}"
    );

    let out = sidecar()
        .args(["run", "-c", "/nonexistent/sidecar.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/sidecar.yaml"));
}

#[test]
fn a_node_without_an_identity_says_what_is_missing() {
    // An empty state folder: no anchor, no signer keys, an empty server configuration. The
    // node must stop with an error naming what is missing rather than run half set up.
    let dir = tempfile::tempdir().unwrap();
    let out = sidecar()
        .args(["run"])
        .env("XROAD_STATE_DIR", dir.path())
        .env("XROAD_CLIENT_HTTP", "127.0.0.1:0")
        .env("XROAD_CLIENT_HTTPS", "off")
        .env("XROAD_SERVER_LISTEN", "127.0.0.1:0")
        .env("XROAD_OCSP_RESPONDER_LISTEN", "127.0.0.1:0")
        .env("XROAD_HEALTH_CHECK_LISTEN", "off")
        .env("XROAD_ADMIN_LISTEN", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error:") && err.contains("configuration anchor"),
        "{err}"
    );
}

/// SIGHUP re-reads the node configuration: a new log level applies at once (JSON lines from
/// then on are at debug), other changed fields are named as waiting for a restart, a broken
/// file is refused with the running configuration kept, and SIGTERM still stops the node
/// with exit code 0.
#[test]
fn sighup_reloads_the_log_level_and_names_what_needs_a_restart() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    use support::{ChildGuard, Demo};

    let demo = Demo::start_with(&["--external-nodes"], None, &[]);
    let provider = demo.node("provider").clone();
    let original = std::fs::read_to_string(&provider.config).unwrap();
    let log = demo.scratch().join("provider.log");
    let mut node = ChildGuard::spawn(
        "provider",
        sidecar()
            .args(["run", "-c"])
            .arg(&provider.config)
            .env("XROAD_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap()),
    );
    let wait_for = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains(what) {
                return text;
            }
            assert!(Instant::now() < deadline, "no {what:?} in the log:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for("health-check listening");
    let hup = |pid: u32| {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };

    let changed = original
        .replace("log-level: info", "log-level: DEBUG")
        .replace("client-timeout: 0", "client-timeout: 5");
    assert_ne!(
        changed, original,
        "the demo's node file has the fields to change"
    );
    std::fs::write(&provider.config, changed).unwrap();
    hup(node.pid());
    let text = wait_for("reload: changed, takes effect at the next start: limits");
    assert!(
        text.contains("\"message\":\"reload: log level debug\""),
        "{text}"
    );
    assert!(text.lines().all(|l| l.starts_with('{')), "{text}");

    std::fs::write(&provider.config, "listen: [broken\n").unwrap();
    hup(node.pid());
    wait_for("reload refused, the running configuration stays");
    assert!(
        node.exited().is_none(),
        "a bad reload must not stop the node"
    );

    std::fs::write(&provider.config, &original).unwrap();
    let status = node
        .stop(Duration::from_secs(15))
        .expect("the node stopped");
    assert!(status.success(), "exit after SIGTERM: {status}");
    wait_for("\"message\":\"stopped\"");
}
