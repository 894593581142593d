//! `xroad-sidecar globalconf show|verify DIR` on the vector directories.

use std::path::PathBuf;
use std::process::{Command, Output};

fn dir(name: &str) -> String {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/vectors/xroad-7.8/globalconf")
        .join(name);
    assert!(
        d.is_dir(),
        "the X-Road 7.8 vectors are missing: expected {}",
        d.display()
    );
    d.to_string_lossy().into_owned()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xroad-sidecar"))
        .arg("globalconf")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn show_summarises_a_directory() {
    let o = run(&["show", &dir("globalconf_good2_v3")]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.starts_with("instance: DEV\n"), "{out}");
    assert!(
        out.contains("DEV (own): shared parameters version 3"),
        "{out}"
    );
    assert!(
        out.contains("approved CA Test CA: profile FiVRKCertificateProfileInfoProvider"),
        "{out}"
    );
    assert!(
        out.contains("SS1 owned by MEMBER:DEV/COM/4321 at ss1"),
        "{out}"
    );
}

#[test]
fn verify_reports_problems() {
    let ok = run(&["verify", &dir("globalconf_good_v5")]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let bad = run(&["verify", &dir("globalconf_malformed")]);
    let out = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{out}");
    assert!(
        out.contains("foo/shared-params.xml: shared parameters are not well-formed XML"),
        "{out}"
    );
    let missing = run(&["verify", &dir("globalconf_missing_identifier")]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("instance-identifier"));
}

/// Serves the Java test download `test-conf-simple.txt` and its files on loopback.
async fn serve_simple(root: &std::path::Path) -> xroad_devnet::ConfServer {
    let vectors =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors/xroad-7.8/confclient");
    std::fs::create_dir_all(root).unwrap();
    std::fs::copy(
        vectors.join("test-conf-simple.txt"),
        root.join("test-conf-simple.txt"),
    )
    .unwrap();
    for f in ["private-params.xml", "shared-params.xml", "foo.xml"] {
        std::fs::copy(vectors.join("test-conf-simple/EE").join(f), root.join(f)).unwrap();
    }
    xroad_devnet::ConfServer::start(root).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_stores_a_verified_configuration() {
    let tmp = std::env::temp_dir().join(format!("xroad-gc-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let server = serve_simple(&tmp.join("www")).await;
    let consumer = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/vectors/xroad-7.8/certs/consumer.pem"),
    )
    .unwrap();
    let cert = xroad_crypto::Certificate::from_pem_or_der(&consumer).unwrap();
    let anchor = tmp.join("anchor.xml");
    std::fs::write(
        &anchor,
        xroad_devnet::anchor_xml(
            "EE",
            &[server.url("/test-conf-simple.txt?version=2")],
            cert.der(),
        ),
    )
    .unwrap();
    let conf = tmp.join("globalconf");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["download", "--anchor"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.push(anchor.display().to_string());
        a.push("--dir".into());
        a.push(conf.display().to_string());
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run_owned = |a: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = a.iter().map(String::as_str).collect();
            run(&refs)
        })
    };

    // The vector expired on 2026-05-20: now it is refused as outdated, nothing stored.
    let o = run_owned(args(&[])).await.unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("global_conf_outdated"), "{err}");
    assert!(!conf.join("EE").exists());

    // With the clock pinned before expiry it downloads and verifies.
    let o = run_owned(args(&["--at", "2026-05-01T00:00:00Z"]))
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.starts_with("EE: version 2 from http://127.0.0.1:"),
        "{out}"
    );
    assert!(out.contains("downloaded: EE/foo.xml"), "{out}");
    assert!(conf.join("EE/shared-params.xml.metadata").is_file());
    assert_eq!(
        std::fs::read_to_string(conf.join("instance-identifier")).unwrap(),
        "EE"
    );

    // A missing anchor is named.
    let o = run(&[
        "download",
        "--anchor",
        "/nonexistent/anchor.xml",
        "--dir",
        "/tmp/x",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("anchor_file_not_found"), "{err}");
    let _ = std::fs::remove_dir_all(&tmp);
}
