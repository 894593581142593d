//! Everything the signer logs while PINs are set, checked, changed and rejected, and while
//! keys are made and used, is captured: no PIN and no key material appears, and a wrong
//! autologin PIN is reported exactly once.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use xroad_signer::autologin::{autologin, collect_pins};
use xroad_signer::{KeyAlgorithm, Pin, Signer, SignerConfig, SOFT_TOKEN_ID};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_hold_no_pins_or_keys() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let secrets = ["First-PIN-123", "Second-PIN-456", "Wrong-PIN-789"];
    let dir = tempfile::tempdir().unwrap();
    let signer = Arc::new(Signer::open(SignerConfig::new(dir.path())).unwrap());
    signer.init_software_token(&Pin::new(secrets[0])).unwrap();
    let key = signer
        .generate_key(SOFT_TOKEN_ID, KeyAlgorithm::EcP256, "k")
        .unwrap();
    signer
        .change_pin(SOFT_TOKEN_ID, &Pin::new(secrets[0]), &Pin::new(secrets[1]))
        .unwrap();
    let _ = signer.change_pin(SOFT_TOKEN_ID, &Pin::new(secrets[2]), &Pin::new(secrets[0]));
    signer.logout(SOFT_TOKEN_ID).unwrap();
    let absent = dir.path().join("none");
    let wrong = collect_pins(&[("XROAD_TOKEN_PIN".into(), secrets[2].into())], &absent).unwrap();
    let out = autologin(signer.clone(), wrong, Duration::from_millis(10), 5).await;
    assert!(out[0].result.is_err());
    let right = collect_pins(&[("XROAD_TOKEN_PIN".into(), secrets[1].into())], &absent).unwrap();
    assert!(
        autologin(signer.clone(), right, Duration::from_millis(10), 5).await[0]
            .result
            .is_ok()
    );
    signer.delete_key(&key.key_id).unwrap();

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("key generated") && logs.contains("token PIN changed"),
        "{logs}"
    );
    for s in secrets {
        assert!(!logs.contains(s), "a PIN is in the logs:\n{logs}");
    }
    assert_eq!(logs.matches("wrong PIN").count(), 1, "{logs}");
    assert!(!logs.contains("PRIVATE KEY"));
}
