//! Test PKI, the `openssl` command-line peers and time bounds.

#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509Name, X509};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use xroad_identifiers::{ClientId, SecurityServerId};
use xroad_proxy::{AuthCredentials, AuthVerifier, PeerIdentity, TlsSettings};

/// Every network step of a test is bounded by this.
pub const STEP: Duration = Duration::from_secs(10);

/// Awaits `f` or fails the test after [`STEP`].
pub async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {STEP:?}"),
    }
}

/// Key type of a test certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    EcP256,
}

/// A self-signed certificate and its key, in memory and as PEM files.
pub struct TestCert {
    pub key: PKey<Private>,
    pub cert: X509,
    pub der: Vec<u8>,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

impl TestCert {
    pub fn new(dir: &Path, name: &str, kind: KeyKind) -> TestCert {
        let key = match kind {
            KeyKind::Rsa => PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(),
            KeyKind::EcP256 => {
                let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
                PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
            }
        };
        let mut subject = X509Name::builder().unwrap();
        subject.append_entry_by_text("C", "EE").unwrap();
        subject.append_entry_by_text("O", "Test").unwrap();
        subject.append_entry_by_text("CN", name).unwrap();
        let subject = subject.build();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        let serial = BigNum::from_u32(rand_serial())
            .unwrap()
            .to_asn1_integer()
            .unwrap();
        b.set_serial_number(&serial).unwrap();
        b.set_subject_name(&subject).unwrap();
        b.set_issuer_name(&subject).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let cert = b.build();
        let cert_path = dir.join(format!("{name}.crt.pem"));
        let key_path = dir.join(format!("{name}.key.pem"));
        std::fs::write(&cert_path, cert.to_pem().unwrap()).unwrap();
        std::fs::write(&key_path, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        let der = cert.to_der().unwrap();
        TestCert {
            key,
            cert,
            der,
            cert_path,
            key_path,
        }
    }

    pub fn credentials(&self) -> AuthCredentials {
        AuthCredentials::new(self.key.clone(), vec![self.cert.clone()]).unwrap()
    }
}

fn rand_serial() -> u32 {
    let mut b = [0u8; 4];
    openssl::rand::rand_bytes(&mut b).unwrap();
    u32::from_be_bytes(b) >> 1
}

pub fn server_id(code: &str) -> SecurityServerId {
    let owner = ClientId::member("EE", "GOV", "1234").unwrap();
    SecurityServerId::new(owner, code).unwrap()
}

/// A verifier that accepts any chain whose end-entity is `expected` and names it `code`.
pub fn accept_cert(expected: Vec<u8>, code: &'static str) -> Arc<dyn AuthVerifier> {
    Arc::new(move |chain: &[Vec<u8>]| {
        assert_eq!(chain.first(), Some(&expected), "peer chain[0]");
        Ok(PeerIdentity::new(server_id(code)))
    })
}

/// Short handshake bound so that failures show quickly.
pub fn settings(ciphers: Option<&str>) -> TlsSettings {
    let mut s = TlsSettings::default();
    if let Some(c) = ciphers {
        s = s.with_ciphers(c).unwrap();
    }
    s.handshake_timeout = Duration::from_secs(5);
    s
}

/// A child process killed (by its PID) when the guard goes out of scope.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

impl ChildGuard {
    pub fn stdout(&mut self) -> ChildStdout {
        self.0.stdout.take().unwrap()
    }

    pub fn stderr(&mut self) -> ChildStderr {
        self.0.stderr.take().unwrap()
    }
}

/// `openssl s_client` to 127.0.0.1:`port`, TLS 1.2, one cipher, optionally with a certificate.
pub fn s_client(port: u16, cipher: &str, cert: Option<&TestCert>) -> ChildGuard {
    s_client_with(port, cipher, cert, &[])
}

/// [`s_client`] with more arguments.
pub fn s_client_with(
    port: u16,
    cipher: &str,
    cert: Option<&TestCert>,
    extra: &[&std::ffi::OsStr],
) -> ChildGuard {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-tls1_2", "-cipher", cipher, "-brief"])
        .args(extra);
    if let Some(c) = cert {
        cmd.arg("-cert")
            .arg(&c.cert_path)
            .arg("-key")
            .arg(&c.key_path);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    ChildGuard(cmd.spawn().expect("openssl s_client"))
}

/// `openssl s_server -Verify 1 -rev` (echoes each line reversed) on an ephemeral port, TLS 1.2,
/// one cipher; returns the guard and the port.
pub async fn s_server(cipher: &str, cert: &TestCert) -> (ChildGuard, u16) {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_server",
        "-accept",
        "127.0.0.1:0",
        "-naccept",
        "1",
        "-rev",
    ])
    .args(["-tls1_2", "-cipher", cipher, "-Verify", "1"])
    .arg("-cert")
    .arg(&cert.cert_path)
    .arg("-key")
    .arg(&cert.key_path)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .kill_on_drop(true);
    let mut guard = ChildGuard(cmd.spawn().expect("openssl s_server"));
    let mut lines = BufReader::new(guard.stdout()).lines();
    let port = bounded("s_server start", async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(addr) = line.strip_prefix("ACCEPT ") {
                return addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
            }
        }
        panic!("s_server exited before accepting");
    })
    .await;
    // s_server keeps logging to stdout; a closed pipe would kill it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (guard, port)
}

pub async fn read_all<R: tokio::io::AsyncRead + Unpin>(mut r: R) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s).await;
    s
}
