//! The download client against a published configuration served on loopback: storage in
//! the Java layout, version negotiation, tampering, failover, the refresh task.

mod support;

use std::path::Path;
use std::time::{Duration, SystemTime};

use support::{closed_port, in_secs, model, served_code, signing_key, TempDir};
use xroad_confclient::{
    code_of, spawn_refresh, ClientError, ClientSettings, ConfigurationClient, GlobalConf,
    RefreshSettings,
};
use xroad_devnet::{anchor_xml, publish, ConfServer, SigningKey};
use xroad_globalconf::ConfigurationAnchor;

struct Net {
    tmp: TempDir,
    key: SigningKey,
    server: ConfServer,
}

impl Net {
    /// Publishes the model (versions given, expiring in an hour) and serves it.
    async fn new(tag: &str, versions: &[u32]) -> Net {
        let tmp = TempDir::new(tag);
        let key = signing_key(tmp.path(), "cs");
        let net_root = tmp.join("www");
        publish(
            &net_root,
            &key,
            &model(key.cert_der()),
            versions,
            in_secs(3600),
        )
        .unwrap();
        let server = ConfServer::start(&net_root).await.unwrap();
        Net { tmp, key, server }
    }

    fn www(&self) -> std::path::PathBuf {
        self.tmp.join("www")
    }

    fn anchor(&self, urls: &[String]) -> ConfigurationAnchor {
        ConfigurationAnchor::parse(anchor_xml("DEV", urls, self.key.cert_der()).as_bytes()).unwrap()
    }

    fn client(&self) -> ConfigurationClient {
        ConfigurationClient::new(ClientSettings::new(self.tmp.join("globalconf"))).unwrap()
    }

    fn conf_dir(&self) -> std::path::PathBuf {
        self.tmp.join("globalconf")
    }
}

/// The newest published file named `name` under `V{version}`.
fn published(www: &Path, version: u32, name: &str) -> std::path::PathBuf {
    let dir = www.join(format!("V{version}"));
    let mut stamps: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    stamps.sort();
    stamps.last().unwrap().join(name)
}

#[tokio::test]
async fn downloads_verifies_and_stores_in_the_java_layout() {
    let net = Net::new("layout", &[2, 3, 4, 5, 6]).await;
    let anchor = net.anchor(&[net.server.url("/internalconf")]);
    let mut client = net.client();
    let report = client.execute(&anchor, SystemTime::now()).await.unwrap();
    assert_eq!(report.own.version, 6);
    assert!(
        report.own.url.ends_with("/internalconf?version=6"),
        "{}",
        report.own.url
    );
    assert!(report.own.files.iter().all(|(_, fetched)| *fetched));

    let dir = net.conf_dir();
    assert_eq!(
        std::fs::read_to_string(dir.join("instance-identifier")).unwrap(),
        "DEV"
    );
    let meta = std::fs::read_to_string(dir.join("DEV/shared-params.xml.metadata")).unwrap();
    assert!(meta.starts_with(r#"{"contentIdentifier":"SHARED-PARAMETERS","instanceIdentifier":"DEV","expirationDate":""#), "{meta}");
    assert!(meta.ends_with(r#""configurationVersion":"6"}"#), "{meta}");
    assert_eq!(
        std::fs::read(dir.join("DEV/shared-params.xml")).unwrap(),
        std::fs::read(published(&net.www(), 6, "shared-params.xml")).unwrap()
    );
    assert!(dir.join("DEV/private-params.xml").is_file());

    // What the proxy reads: the stored configuration, valid until it expires.
    let conf = GlobalConf::load(&dir).unwrap();
    assert_eq!(conf.instance(), "DEV");
    assert_eq!(conf.own().unwrap().members.len(), 3);
    assert!(conf.verify_validity(SystemTime::now()).is_ok());
    let later = conf.verify_validity(in_secs(7200)).unwrap_err();
    assert_eq!(code_of(&later), "global_conf_outdated");

    // The next round fetches the directory only: the stored files are up to date.
    let again = client.execute(&anchor, SystemTime::now()).await.unwrap();
    assert!(again.own.files.iter().all(|(_, fetched)| !*fetched));
    // It tried the HTTPS variant first, then remembered the HTTP location and stopped probing.
    let requests = net.server.requests();
    let probes = requests.iter().filter(|r| r.contains("version=6")).count();
    assert_eq!(probes, 3, "{requests:?}"); // probe, directory, directory again
}

#[tokio::test]
async fn version_negotiation_probes_down_to_three_then_uses_two() {
    let net = Net::new("versions", &[2, 3]).await;
    let anchor = net.anchor(&[net.server.url("/internalconf")]);
    let report = net
        .client()
        .execute(&anchor, SystemTime::now())
        .await
        .unwrap();
    assert_eq!(report.own.version, 3);
    let requests = net.server.requests();
    assert_eq!(
        &requests[..4],
        &[
            "/internalconf?version=6",
            "/internalconf?version=5",
            "/internalconf?version=4",
            "/internalconf?version=3"
        ],
    );

    let net = Net::new("v2", &[2]).await;
    let anchor = net.anchor(&[net.server.url("/internalconf")]);
    let report = net
        .client()
        .execute(&anchor, SystemTime::now())
        .await
        .unwrap();
    assert_eq!(report.own.version, 2);
    let requests = net.server.requests();
    // 6, 5, 4, 3 probed; 2 used without probing: the next request is the download itself.
    assert_eq!(requests[4], "/internalconf?version=2");
    assert_eq!(
        requests.iter().filter(|r| r.ends_with("version=2")).count(),
        1
    );
    // A version in the anchor's URL is respected.
    let net = Net::new("fixed", &[2, 3, 4]).await;
    let anchor = net.anchor(&[net.server.url("/internalconf?version=3")]);
    let report = net
        .client()
        .execute(&anchor, SystemTime::now())
        .await
        .unwrap();
    assert_eq!(report.own.version, 3);
    assert_eq!(net.server.requests()[0], "/internalconf?version=3");
}

#[tokio::test]
async fn tampering_is_detected_and_the_last_good_configuration_stays() {
    let net = Net::new("tamper", &[6]).await;
    let anchor = net.anchor(&[net.server.url("/internalconf?version=6")]);
    let mut client = net.client();
    client.execute(&anchor, SystemTime::now()).await.unwrap();
    let stored = net.conf_dir().join("DEV/shared-params.xml");
    let good = std::fs::read(&stored).unwrap();

    // A changed file on the server: its digest no longer matches the signed one.
    let served = published(&net.www(), 6, "shared-params.xml");
    let mut changed = good.clone();
    let at = changed.len() - 20;
    changed[at] ^= 1;
    std::fs::write(&served, &changed).unwrap();
    // Our copy is up to date by digest, so make the client fetch it: drop the local copy.
    std::fs::remove_file(&stored).unwrap();
    let err = client
        .execute(&anchor, SystemTime::now())
        .await
        .unwrap_err();
    assert_eq!(
        served_code(&err),
        "global_conf_part_downloaded_file_integrity_failure"
    );
    assert!(!stored.exists(), "a tampered file was stored");
    std::fs::write(&served, &good).unwrap();
    client.execute(&anchor, SystemTime::now()).await.unwrap();
    assert_eq!(std::fs::read(&stored).unwrap(), good);

    // A changed signed directory: the signature fails, nothing is touched.
    let directory = net.www().join("V6/internalconf");
    let original = std::fs::read(&directory).unwrap();
    let text = String::from_utf8(original.clone()).unwrap();
    let tampered = text.replacen("Version: 6", "Version: 7", 1);
    std::fs::write(&directory, tampered).unwrap();
    let meta = net.conf_dir().join("DEV/shared-params.xml.metadata");
    let meta_before = std::fs::read(&meta).unwrap();
    let err = client
        .execute(&anchor, SystemTime::now())
        .await
        .unwrap_err();
    assert_eq!(
        served_code(&err),
        "global_conf_signature_verification_failure"
    );
    assert_eq!(std::fs::read(&meta).unwrap(), meta_before);

    // A signature by another key: no verification certificate matches its hash.
    let other = signing_key(net.tmp.path(), "intruder");
    publish(
        &net.www(),
        &other,
        &model(net.key.cert_der()),
        &[6],
        in_secs(3600),
    )
    .unwrap();
    let err = client
        .execute(&anchor, SystemTime::now())
        .await
        .unwrap_err();
    assert_eq!(served_code(&err), "global_conf_missing_verification_cert");

    // An expired directory, correctly signed: refused as outdated.
    publish(
        &net.www(),
        &net.key,
        &model(net.key.cert_der()),
        &[6],
        in_secs(0) - Duration::from_secs(60),
    )
    .unwrap();
    let err = client
        .execute(&anchor, SystemTime::now())
        .await
        .unwrap_err();
    assert_eq!(served_code(&err), "global_conf_outdated");
    assert_eq!(std::fs::read(&stored).unwrap(), good);
    assert_eq!(std::fs::read(&meta).unwrap(), meta_before);
    assert!(GlobalConf::load(&net.conf_dir())
        .unwrap()
        .verify_validity(SystemTime::now())
        .is_ok());
}

#[tokio::test]
async fn failover_to_the_next_source_and_memory_of_the_last_good_one() {
    let net = Net::new("failover", &[6]).await;
    let down = format!("http://127.0.0.1:{}/internalconf", closed_port());
    let up = net.server.url("/internalconf");
    let anchor = net.anchor(&[down.clone(), up.clone()]);
    let mut client = net.client();
    let report = client.execute(&anchor, SystemTime::now()).await.unwrap();
    assert_eq!(report.own.url, format!("{up}?version=6"));
    let before = net.server.requests().len();
    // The next round starts at the remembered location: one request, no probing.
    client.execute(&anchor, SystemTime::now()).await.unwrap();
    assert_eq!(
        net.server.requests()[before..],
        ["/internalconf?version=6".to_owned()]
    );

    // All sources down: every location is reported, the stored configuration stays.
    let anchor = net.anchor(std::slice::from_ref(&down));
    let err = client
        .execute(&anchor, SystemTime::now())
        .await
        .unwrap_err();
    let ClientError::Download(failure) = &err else {
        panic!("{err}")
    };
    // The stored shared parameters' source first (https, http), then the anchor's.
    let tried: Vec<&str> = failure.failures.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(
        tried,
        [
            "https://cs.invalid/internalconf".to_owned(),
            "http://cs.invalid/internalconf".to_owned(),
            down.replacen("http", "https", 1),
            down.clone()
        ],
        "{err}"
    );
    assert_eq!(served_code(&err), "global_conf_get_version_failed");
    assert!(err.to_string().contains(&down), "{err}");
    assert!(GlobalConf::load(&net.conf_dir()).is_ok());
}

#[tokio::test]
async fn the_refresh_task_publishes_and_reports_expiry() {
    let net = Net::new("refresh", &[6]).await;
    // Expires in 3 s: the task must see it outdated once the server is gone.
    publish(
        &net.www(),
        &net.key,
        &model(net.key.cert_der()),
        &[6],
        in_secs(3),
    )
    .unwrap();
    let anchor_file = net.tmp.join("anchor.xml");
    std::fs::write(
        &anchor_file,
        anchor_xml(
            "DEV",
            &[net.server.url("/internalconf")],
            net.key.cert_der(),
        ),
    )
    .unwrap();
    let mut settings = RefreshSettings::new(net.conf_dir(), &anchor_file);
    settings.interval = Duration::from_millis(300);
    settings.retry = Duration::from_millis(100);
    let handle = spawn_refresh(settings).unwrap();
    let mut conf = handle.subscribe();
    let first = tokio::time::timeout(Duration::from_secs(10), conf.wait_for(|c| c.is_some()))
        .await
        .expect("no configuration within 10 s")
        .unwrap()
        .clone()
        .unwrap();
    assert_eq!(first.instance(), "DEV");
    assert!(first.verify_validity(SystemTime::now()).is_ok());

    // The central server goes away; the configuration stays published until it expires.
    drop(net.server);
    let mut status = handle.status();
    // Expiry and the failed rounds are reported by the same task in either order (on a slow
    // machine the configuration can expire before the first round without the server).
    let outdated = tokio::time::timeout(
        Duration::from_secs(10),
        status.wait_for(|s| s.outdated && s.last_error.is_some()),
    )
    .await
    .expect("expiry and the failed download not reported within 10 s")
    .unwrap()
    .clone();
    assert!(outdated.outdated);
    let current = handle.current().unwrap();
    assert_eq!(
        code_of(&current.verify_validity(SystemTime::now()).unwrap_err()),
        "global_conf_outdated"
    );
}
