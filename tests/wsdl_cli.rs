//! `xroad-sidecar wsdl validate` on files and over HTTP.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("crates/wsdl/tests/fixtures")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn run(location: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xroad-sidecar"))
        .args(["wsdl", "validate", location])
        .output()
        .unwrap()
}

#[test]
fn validates_files() {
    let o = run(&fixture("population.wsdl"));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(out, "valid\n");

    // Warnings only: accepted (exit 0), the warnings shown.
    let dir = tempfile::tempdir().unwrap();
    let wsdl = std::fs::read_to_string(fixture("population.wsdl")).unwrap();
    let warned = wsdl.replace(
        r#"<wsdl:output name="listPersonsResponse" message="tns:listPersonsResponse"/>"#,
        "<wsdl:output/>",
    );
    assert_ne!(warned, wsdl, "the fixture has the output to change");
    let path = dir.path().join("population.wsdl");
    std::fs::write(&path, warned).unwrap();
    std::fs::copy(fixture("xroad.xsd"), dir.path().join("xroad.xsd")).unwrap();
    let o = run(path.to_str().unwrap());
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("warning: "), "{out}");
    assert!(out.contains("has no message"), "{out}");

    let o = run(&fixture("xroad.xsd"));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.starts_with("error: the document is not a WSDL 1.1 description"),
        "{out}"
    );
    assert!(
        out.ends_with("invalid: 1 error(s), 0 warning(s)\n"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validates_over_http_with_relative_imports() {
    let server = xroad_devnet::ConfServer::start(fixture("")).await.unwrap();
    let url = server.url("/population.wsdl");
    let o = tokio::task::spawn_blocking(move || run(&url))
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(out, "valid\n");
    // The schema it imports was fetched from beside it.
    assert!(
        server.requests().contains(&"/xroad.xsd".to_owned()),
        "{:?}",
        server.requests()
    );
    let missing = server.url("/missing.wsdl");
    let o = tokio::task::spawn_blocking(move || run(&missing))
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("HTTP status 404"), "{out}");
}
