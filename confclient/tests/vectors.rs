//! The Java configuration client's download vectors (`ConfigurationClientTest`,
//! `ConfigurationParserTest`), served over HTTP on loopback, with the clock pinned before
//! their expiry (2026-05-20T17:42:55Z).

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use support::TempDir;
use xroad_confclient::{code_of, ClientError, ClientSettings, ConfigurationClient};
use xroad_crypto::time::parse_instant;
use xroad_crypto::Certificate;
use xroad_devnet::ConfServer;
use xroad_globalconf::{ConfigurationAnchor, ConfigurationSource};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/xroad-7.8")
}

fn consumer() -> Arc<Certificate> {
    let path = vectors().join("certs/consumer.pem");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the shared vectors must be beside the repository)",
            path.display()
        )
    });
    Arc::new(Certificate::from_pem_or_der(&bytes).unwrap())
}

fn before_expiry() -> SystemTime {
    parse_instant("2026-05-01T00:00:00Z").unwrap()
}

/// A web root with `name` (the signed directory) and the files of `content` at `/`.
fn web_root(tmp: &TempDir, name: &str, content: Option<&Path>) -> PathBuf {
    let root = tmp.join("www");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(vectors().join("confclient").join(name), root.join(name)).unwrap();
    if let Some(dir) = content {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            if entry.path().is_file() {
                std::fs::copy(entry.path(), root.join(entry.file_name())).unwrap();
            }
        }
    }
    root
}

fn anchor(url: String) -> ConfigurationAnchor {
    ConfigurationAnchor {
        instance: "EE".into(),
        generated_at: None,
        sources: vec![ConfigurationSource {
            download_url: url,
            verification_certs: vec![consumer()],
        }],
    }
}

async fn download(
    name: &str,
    content: Option<&Path>,
    at: SystemTime,
) -> (
    TempDir,
    Result<xroad_confclient::DownloadReport, ClientError>,
) {
    let tmp = TempDir::new("vectors");
    let result = download_into(&tmp, name, content, at).await;
    (tmp, result)
}

async fn download_into(
    tmp: &TempDir,
    name: &str,
    content: Option<&Path>,
    at: SystemTime,
) -> Result<xroad_confclient::DownloadReport, ClientError> {
    let server = ConfServer::start(web_root(tmp, name, content))
        .await
        .unwrap();
    // The version is fixed in the URL: these sources predate version probing.
    let anchor = anchor(server.url(&format!("/{name}?version=2")));
    let mut client = ConfigurationClient::new(ClientSettings::new(tmp.join("globalconf"))).unwrap();
    client.execute(&anchor, at).await
}

/// The error at the plain-HTTP location (its HTTPS variant cannot connect).
fn http_code(result: &Result<xroad_confclient::DownloadReport, ClientError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(ClientError::Download(f)) => f
            .failures
            .iter()
            .find(|(u, _)| u.starts_with("http://"))
            .map_or("none", |(_, e)| code_of(e)),
        Err(e) => code_of(&e.error()),
    }
}

#[tokio::test]
async fn download_simple_conf() {
    let content = vectors().join("confclient/test-conf-simple/EE");
    let tmp = TempDir::new("simple");
    let stored = tmp.join("globalconf/EE");
    // A file of the instance folder that the directory does not list is removed.
    std::fs::create_dir_all(&stored).unwrap();
    std::fs::write(stored.join("bar.xml"), "stale").unwrap();
    let result = download_into(
        &tmp,
        "test-conf-simple.txt",
        Some(&content),
        before_expiry(),
    )
    .await;
    let report = result.unwrap();
    assert_eq!(report.own.files.len(), 3);
    for file in ["private-params.xml", "shared-params.xml", "foo.xml"] {
        assert_eq!(
            std::fs::read(stored.join(file)).unwrap(),
            std::fs::read(content.join(file)).unwrap(),
            "{file}"
        );
        let meta = std::fs::read_to_string(stored.join(format!("{file}.metadata"))).unwrap();
        assert!(
            meta.contains(r#""expirationDate":"2026-05-20T17:42:55Z""#),
            "{meta}"
        );
    }
    let meta = std::fs::read_to_string(stored.join("foo.xml.metadata")).unwrap();
    assert_eq!(
        meta,
        r#"{"contentIdentifier":"FOO","instanceIdentifier":"EE","expirationDate":"2026-05-20T17:42:55Z","contentLocation":"/foo.xml","configurationVersion":"2"}"#
    );
    assert!(!stored.join("bar.xml").exists());
}

#[tokio::test]
async fn the_simple_conf_is_outdated_after_its_expiry() {
    let content = vectors().join("confclient/test-conf-simple/EE");
    let after = parse_instant("2026-05-20T17:42:56Z").unwrap();
    let (tmp, result) = download("test-conf-simple.txt", Some(&content), after).await;
    assert_eq!(http_code(&result), "global_conf_outdated");
    assert!(!tmp.join("globalconf/EE").exists());
}

#[tokio::test]
async fn broken_downloads_give_the_java_codes() {
    for (file, code) in [
        (
            "test-conf-malformed.txt",
            "global_conf_missing_signed_data_expiration_date",
        ),
        (
            "test-conf-missing-date.txt",
            "global_conf_header_field_missing",
        ),
        (
            "test-conf-missing-signature.txt",
            "global_conf_signature_verification_failure",
        ),
        (
            "test-conf-invalid-signature.txt",
            "global_conf_signature_verification_failure",
        ),
    ] {
        let (tmp, result) = download(file, None, before_expiry()).await;
        assert_eq!(http_code(&result), code, "{file}");
        assert!(!tmp.join("globalconf/EE").exists(), "{file} stored files");
    }
}

#[tokio::test]
async fn detached_conf_stores_its_private_parameters() {
    let content = vectors().join("confclient/test-conf-detached/EE");
    let (tmp, result) = download("test-conf-detached.txt", Some(&content), before_expiry()).await;
    let report = result.unwrap();
    assert_eq!(report.own.files.len(), 1);
    assert!(tmp.join("globalconf/EE/private-params.xml").is_file());
    // Its extra source of the own instance's shared parameters is a relative path with a
    // verification "certificate" that is not one (Java's test passes on a certificate
    // cached by an earlier parse): that download fails, which is not fatal.
    assert_eq!(report.federated.len(), 1);
    assert!(report.federated[0].is_err());
}
