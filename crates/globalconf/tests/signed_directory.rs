//! The signed configuration downloads of the Java implementation's tests
//! (`ConfigurationParserTest`), verified with the clock pinned where they are time-bombed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use xroad_crypto::time::parse_instant;
use xroad_crypto::{Certificate, DigestAlgorithm};
use xroad_fault::Spelling;
use xroad_globalconf::parse_signed_directory;

fn vector(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/xroad-7.8")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the shared vectors must be beside the repository)",
            path.display()
        )
    })
}

fn cert(name: &str) -> Arc<Certificate> {
    Arc::new(Certificate::from_pem_or_der(&vector(&format!("certs/{name}"))).unwrap())
}

/// Before the simple configuration's expiry (2026-05-20T17:42:55Z).
fn before_expiry() -> SystemTime {
    parse_instant("2026-05-01T00:00:00Z").unwrap()
}

fn code_of(file: &str, certs: &[Arc<Certificate>], at: SystemTime) -> String {
    match parse_signed_directory(&vector(&format!("confclient/{file}")), certs, at) {
        Ok(_) => "ok".into(),
        Err(e) => e.fault_code(Spelling::Current),
    }
}

#[test]
fn parse_conf() {
    let d = parse_signed_directory(
        &vector("confclient/test-conf-simple.txt"),
        &[cert("consumer.pem")],
        before_expiry(),
    )
    .unwrap();
    let locations: Vec<&str> = d.parts.iter().map(|p| p.location.as_str()).collect();
    assert_eq!(
        locations,
        ["/private-params.xml", "/shared-params.xml", "/foo.xml"]
    );
    assert_eq!(d.version, 2);
    let ids: Vec<_> = d
        .parts
        .iter()
        .map(|p| (p.content_identifier.as_deref(), p.instance.as_deref()))
        .collect();
    assert_eq!(
        ids,
        [
            (Some("PRIVATE-PARAMETERS"), Some("EE")),
            (Some("SHARED-PARAMETERS"), Some("EE")),
            (Some("FOO"), Some("EE"))
        ]
    );
    // Each digest is the SHA-512 of the file in test-conf-simple/EE.
    for (part, file) in d
        .parts
        .iter()
        .zip(["private-params.xml", "shared-params.xml", "foo.xml"])
    {
        assert_eq!(part.hash_algorithm, DigestAlgorithm::Sha512);
        let bytes = vector(&format!("confclient/test-conf-simple/EE/{file}"));
        assert_eq!(
            part.digest_base64,
            DigestAlgorithm::Sha512.digest(&bytes).to_base64(),
            "{file}"
        );
    }
}

#[test]
fn expected_failures() {
    let consumer = [cert("consumer.pem")];
    let t = before_expiry();
    assert_eq!(
        code_of(
            "test-conf-simple.txt",
            &consumer,
            SystemTime::now().max(parse_instant("2026-05-20T17:42:56Z").unwrap())
        ),
        "global_conf_outdated"
    );
    assert_eq!(
        code_of("test-conf-simple.txt", &[cert("producer.pem")], t),
        "global_conf_missing_verification_cert"
    );
    assert_eq!(
        code_of("test-conf-malformed.txt", &consumer, t),
        "global_conf_missing_signed_data_expiration_date"
    );
    assert_eq!(
        code_of("test-conf-missing-date.txt", &consumer, t),
        "global_conf_header_field_missing"
    );
    assert_eq!(
        code_of("test-conf-missing-signature.txt", &consumer, t),
        "global_conf_signature_verification_failure"
    );
    assert_eq!(
        code_of("test-conf-invalid-signature.txt", &consumer, t),
        "global_conf_signature_verification_failure"
    );
    assert_eq!(code_of("test-conf-detached.txt", &consumer, t), "ok");
}

#[test]
fn every_signed_byte_matters() {
    let bytes = vector("confclient/test-conf-simple.txt");
    let text = String::from_utf8(bytes.clone()).unwrap();
    let start = text.find("--innerboundary").unwrap();
    let end = text
        .find("--envelopeboundary\nContent-type: application/octet-stream")
        .unwrap();
    for i in (start..end - 1).step_by(3) {
        let mut b = bytes.clone();
        b[i] = if b[i] == b'x' { b'y' } else { b'x' };
        assert!(
            parse_signed_directory(&b, &[cert("consumer.pem")], before_expiry()).is_err(),
            "byte {i} changed unnoticed"
        );
    }
}
