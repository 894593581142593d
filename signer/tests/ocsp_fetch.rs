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
