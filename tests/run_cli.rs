//! `xroad-sidecar run` as an operator meets it: the effective configuration, and clear errors
//! for bad configuration or a node that is not set up.

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
