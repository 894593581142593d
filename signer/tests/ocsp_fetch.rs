//! OCSP for own certificates against a real responder (`openssl ocsp -port`, with a CA the
//! test creates): good and revoked certificates, a responder that is down (failover to the
//! next), every responder down, responses that are not fresh, the disk cache, and the
//! refresh task.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use support::{free_port, Pki, FIVRK};
use xroad_crypto::ocsp::CertStatus;
use xroad_crypto::profile::CertificateProfile;
use xroad_identifiers::{ClientId, SecurityServerId};
use xroad_signer::csr::{CsrFormat, SubjectParams};
use xroad_signer::ocsp::{OcspManager, OcspSettings};
use xroad_signer::{ChainCheck, KeyAlgorithm, KeyUsage, Pin, Signer, SignerConfig, SOFT_TOKEN_ID};

struct Setup {
    _dir: tempfile::TempDir,
    cache: std::path::PathBuf,
    pki: Pki,
    signer: Arc<Signer>,
    good: String,
    revoked: String,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let signer = Arc::new(Signer::open(SignerConfig::new(dir.path().join("signer"))).unwrap());
    signer.init_software_token(&Pin::new("1234")).unwrap();
    let owner = ClientId::member("DEV", "COM", "1234").unwrap();
    let params = SubjectParams {
        server: SecurityServerId::new(owner.clone(), "SS0").unwrap(),
        member: Some(owner),
        member_name: "M".into(),
    };
    let trust = pki.trust("DEV", FIVRK);
    let mut hashes = Vec::new();
    for serial in ["30", "31"] {
        let key = signer
            .generate_key(SOFT_TOKEN_ID, KeyAlgorithm::EcP256, serial)
            .unwrap();
        let values = vec![
            ("O".to_owned(), format!("Org{serial}")),
            ("subjectAltName".to_owned(), "ss0.example.org".to_owned()),
        ];
        let csr = signer
            .generate_csr(
                &key.key_id,
                KeyUsage::Signing,
                CertificateProfile::FiVrk,
                &params,
                &values,
                CsrFormat::Pem,
            )
            .unwrap();
        let pem = pki.issue(
            serial,
            &csr.bytes,
            "keyUsage=critical,nonRepudiation\n",
            &format!("0x{serial}"),
        );
        let info = signer
            .import_cert(
                &pem,
                None,
                Some(ChainCheck {
                    trust: &trust,
                    instance: "DEV",
                }),
                None,
            )
            .unwrap();
        hashes.push(info.cert.sha1_hex());
    }
    pki.index(&[("30", "/CN=a", false), ("31", "/CN=b", true)]);
    Setup {
        cache: dir.path().join("ocsp"),
        _dir: dir,
        pki,
        signer,
        good: hashes[0].clone(),
        revoked: hashes[1].clone(),
    }
}

fn settings(pki: &Pki, urls: Vec<String>) -> OcspSettings {
    let ca = std::fs::read(pki.path("ca.pem")).unwrap();
    let ca = xroad_crypto::Certificate::from_pem_or_der(&ca).unwrap();
    let mut s = OcspSettings::new(
        Arc::new(pki.trust("DEV", FIVRK)),
        "DEV",
        vec![(ca.der().to_vec(), urls)],
    );
    s.connect_timeout = Duration::from_secs(2);
    s.read_timeout = Duration::from_secs(10);
    s
}

#[tokio::test]
async fn fetches_good_and_revoked_with_failover_and_caches_on_disk() {
    let s = setup();
    let responder = s.pki.responder(&[]);
    let down = format!("http://127.0.0.1:{}/", free_port());
    let manager = OcspManager::new(
        &s.cache,
        settings(&s.pki, vec![down.clone(), responder.url()]),
    );

    let report = manager.refresh(&s.signer).await.unwrap();
    let log = std::fs::read_to_string(s.pki.path(&format!("responder-{}.log", responder.port)))
        .unwrap_or_default();
    assert!(report.failed.is_empty(), "{:?} {log}", report.failed);
    let status = |h: &str| {
        report
            .fetched
            .iter()
            .find(|(x, _)| x == h)
            .map(|(_, st)| *st)
    };
    assert_eq!(status(&s.good), Some(CertStatus::Good));
    assert!(matches!(status(&s.revoked), Some(CertStatus::Revoked(_))));

    let got = manager.responses(&[&s.good, &s.revoked, "00"]);
    assert!(got[0].is_some() && got[1].is_some() && got[2].is_none());
    assert!(s.cache.join(format!("{}.ocsp", s.good)).is_file());
    let state = manager.state_at(&s.good, SystemTime::now());
    assert!(state.fresh && state.error.is_none());

    // Not fresh: two hours later (freshness 3600 s) the cache serves nothing, and a response
    // judged at that instant is refused.
    let later = SystemTime::now() + Duration::from_secs(7200);
    assert_eq!(manager.responses_at(&[&s.good], later), vec![None]);
    assert!(!manager.state_at(&s.good, later).fresh);
    let cert = s
        .signer
        .certs()
        .unwrap()
        .into_iter()
        .find(|c| c.cert.sha1_hex() == s.good)
        .unwrap();
    let err = manager
        .fetch_cert(&cert.cert, later)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.to_lowercase().contains("fresh") || err.contains("too old"),
        "{err}"
    );

    // A new manager reads the disk cache.
    let again = Arc::new(OcspManager::new(&s.cache, settings(&s.pki, vec![])));
    assert!(again.responses(&[&s.good])[0].is_some());
    // The proxy reads them through the signing service's handle.
    let handle =
        xroad_signer::SignerHandle::spawn(s.signer.clone(), Default::default()).with_ocsp(again);
    assert!(handle.ocsp_responses(&[&s.good, &s.revoked])[1].is_some());

    // Every responder down: the error names each, the old response stays served.
    drop(responder);
    let report = manager.refresh(&s.signer).await.unwrap();
    assert_eq!(report.failed.len(), 2);
    assert!(report.failed[0].1.contains(&down), "{:?}", report.failed);
    assert!(manager.state_at(&s.good, SystemTime::now()).error.is_some());
    assert!(manager.responses(&[&s.good])[0].is_some());
}

#[tokio::test]
async fn the_refresh_task_fills_the_cache_and_retries() {
    let s = setup();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let mut st = settings(&s.pki, vec![url]);
    st.retry_delay = Duration::from_millis(200);
    let manager = Arc::new(OcspManager::new(&s.cache, st));
    let task = manager.clone().spawn_refresh(s.signer.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(manager.responses(&[&s.good])[0].is_none());
    // The responder comes up on the configured port: the retry picks it up.
    let _responder = s.pki.responder_on(port);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while manager.responses(&[&s.good])[0].is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the refresh task did not fetch"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    task.abort();
}

#[tokio::test]
async fn responders_come_from_the_global_configuration_in_cost_type_order() {
    use xroad_globalconf::PrioritizationStrategy;
    let s = setup();
    let responder = s.pki.responder(&[]);
    let down = format!("http://127.0.0.1:{}/", free_port());
    let ca =
        xroad_crypto::Certificate::from_pem_or_der(&std::fs::read(s.pki.path("ca.pem")).unwrap())
            .unwrap();
    let ocsp =
        xroad_crypto::Certificate::from_pem_or_der(&std::fs::read(s.pki.path("ocsp.pem")).unwrap())
            .unwrap();
    let b64 = |d: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(d)
    };
    let conf = tempfile::tempdir().unwrap();
    std::fs::write(conf.path().join("instance-identifier"), "DEV").unwrap();
    let inst = conf.path().join("DEV");
    std::fs::create_dir_all(&inst).unwrap();
    let shared = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<tns:conf xmlns:id="http://x-road.eu/xsd/identifiers" xmlns:tns="http://x-road.eu/xsd/xroad.xsd">
    <instanceIdentifier>DEV</instanceIdentifier>
    <approvedCA>
        <name>Test CA</name>
        <topCA>
            <cert>{}</cert>
            <ocsp><url>{down}</url><cert>{}</cert><costType>PAID</costType></ocsp>
            <ocsp><url>{}</url><cert>{}</cert><costType>FREE</costType></ocsp>
        </topCA>
        <certificateProfileInfo>{FIVRK}</certificateProfileInfo>
    </approvedCA>
    <globalSettings><ocspFreshnessSeconds>3600</ocspFreshnessSeconds></globalSettings>
</tns:conf>
"#,
        b64(ca.der()),
        b64(ocsp.der()),
        responder.url(),
        b64(ocsp.der())
    );
    std::fs::write(inst.join("shared-params.xml"), shared).unwrap();
    std::fs::write(
        inst.join("shared-params.xml.metadata"),
        r#"{"configurationVersion":"6"}"#,
    )
    .unwrap();
    std::fs::write(
        inst.join("fetchinterval-params.xml"),
        "<tns:conf xmlns:tns=\"http://x-road.eu/xsd/xroad.xsd\"><ocspFetchInterval>300</ocspFetchInterval></tns:conf>",
    )
    .unwrap();

    let free_first =
        OcspSettings::from_directory(conf.path(), PrioritizationStrategy::FreeFirst).unwrap();
    assert_eq!(free_first.fetch_interval, Duration::from_secs(300));
    assert_eq!(
        free_first.responders[0].1,
        vec![responder.url(), down.clone()]
    );
    let paid_first =
        OcspSettings::from_directory(conf.path(), PrioritizationStrategy::PaidFirst).unwrap();
    assert_eq!(
        paid_first.responders[0].1,
        vec![down.clone(), responder.url()]
    );

    // Only the paid (down) responder: nothing is fetched; paid first: fails over to the free one.
    let only_paid =
        OcspSettings::from_directory(conf.path(), PrioritizationStrategy::OnlyPaid).unwrap();
    let manager = OcspManager::new(&s.cache, only_paid);
    let report = manager.refresh(&s.signer).await.unwrap();
    assert_eq!(report.failed.len(), 2, "{report:?}");
    manager.set_settings(paid_first).unwrap();
    let report = manager.refresh(&s.signer).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
}
