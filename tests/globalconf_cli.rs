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
