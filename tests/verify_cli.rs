//! `xroad-sidecar verify` as an operator runs it, against the shared vectors and the real
//! global configuration directories they come with.

use std::path::PathBuf;
use std::process::{Command, Output};

fn vectors(rel: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors/xroad-7.8");
    assert!(
        dir.is_dir(),
        "the X-Road 7.8 vectors are missing: expected {}",
        dir.display()
    );
    dir.join(rel).to_string_lossy().into_owned()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xroad-sidecar"))
        .arg("verify")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_valid_signature_prints_valid_and_the_signer() {
    let o = run(&[
        "--signature",
        &vectors("signatures/common-test/sign-0.xml"),
        "--part",
        &format!(
            "/message.xml={}",
            vectors("signatures/common-test/message-0.xml")
        ),
        "--signer",
        "EE/BUSINESS/consumer",
        "--globalconf",
        &vectors("globalconf/globalconf_good_v4"),
        "--at",
        "2014-10-30",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    let out = stdout(&o);
    assert!(
        out.starts_with("valid\nsigner: MEMBER:EE/BUSINESS/consumer\n"),
        "{out}"
    );
    assert!(
        out.contains("signing time: 2017-09-08T09:15:11.580Z"),
        "{out}"
    );
}

#[test]
fn a_batch_signature_with_its_hash_chain_verifies() {
    let gi = |f: &str| vectors(&format!("signatures/globalconf-impl/{f}"));
    let dir = std::env::temp_dir().join(format!("xroad-verify-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let attachment = dir.join("attachment1");
    std::fs::write(&attachment, b"blaah").unwrap();
    let o = run(&[
        "--signature",
        &gi("batch-sig.xml"),
        "--part",
        &format!("/message.xml={}", gi("message-1.xml")),
        "--part",
        &format!("/attachment1={}", attachment.display()),
        "--hash-chain-result",
        &gi("hash-chain-result.xml"),
        "--hash-chain",
        &gi("hash-chain-1.xml"),
        "--signer",
        "MEMBER:EE/BUSINESS/consumer",
        "--globalconf",
        &vectors("globalconf/globalconf_good_v4"),
        "--at",
        "2014-10-30T00:00:00Z",
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn failures_print_the_x_road_code_and_exit_1() {
    let common = |signer: &str, message: &str, at: &str| {
        run(&[
            "--signature",
            &vectors("signatures/common-test/sign-0.xml"),
            "--part",
            &format!("/message.xml={message}"),
            "--signer",
            signer,
            "--globalconf",
            &vectors("globalconf/globalconf_good_v4"),
            "--at",
            at,
        ])
    };
    let message = vectors("signatures/common-test/message-0.xml");
    let cases = [
        (
            common("EE/BUSINESS/FOORBAR", &message, "2014-10-30"),
            "error: incorrect_certificate\n",
        ),
        // Another file as the message.
        (
            common(
                "EE/BUSINESS/consumer",
                &vectors("signatures/globalconf-impl/message-1.xml"),
                "2014-10-30",
            ),
            "error: invalid_signature_value\n",
        ),
        // After the OCSP response went stale (thisUpdate + 42 s).
        (
            common("EE/BUSINESS/consumer", &message, "2017-09-10"),
            "error: invalid_cert_path.incorrect_validation_info\n",
        ),
        // Before the certificate was valid.
        (
            common("EE/BUSINESS/consumer", &message, "2014-01-01"),
            "error: cannot_create_cert_path.internal_error\n",
        ),
    ];
    for (o, expected) in cases {
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(
            out.starts_with("invalid\n") && out.contains(expected),
            "{out}"
        );
        assert!(out.contains("reason: "), "{out}");
    }
}

#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "--signature",
                "/nonexistent.xml",
                "--signer",
                "EE/B/c",
                "--at",
                "now",
                "--globalconf",
                "/nonexistent",
            ],
            "global configuration /nonexistent",
        ),
        (
            &[
                "--signature",
                "/nonexistent.xml",
                "--signer",
                "EE/B/c",
                "--at",
                "yesterday",
                "--globalconf",
                &vectors("globalconf/globalconf_good_v4"),
            ],
            "--at 'yesterday'",
        ),
        (
            &[
                "--signature",
                "/nonexistent.xml",
                "--signer",
                "EE/B",
                "--at",
                "now",
                "--globalconf",
                &vectors("globalconf/globalconf_good_v4"),
            ],
            "--signer 'EE/B'",
        ),
        (
            &[
                "--signature",
                "/nonexistent.xml",
                "--signer",
                "EE/B/c",
                "--at",
                "now",
                "--globalconf",
                &vectors("globalconf/globalconf_good_v4"),
            ],
            "cannot read /nonexistent.xml",
        ),
    ];
    for (args, expected) in cases {
        let o = run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(expected), "{err}");
    }
}
