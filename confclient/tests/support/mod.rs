//! Helpers of the download tests: a temporary folder, a central server signing key made
//! with the openssl command line, and a small instance model.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use xroad_confclient::{code_of, ClientError};
use xroad_devnet::{
    CaModel, GroupModel, InstanceModel, MemberModel, OcspModel, ServerModel, SigningKey,
    SourceModel,
};
use xroad_identifiers::ClientId;

/// A folder under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        // Tests of one process run in parallel and may ask for the same tag within one tick of
        // a coarse clock: the counter keeps their folders apart.
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "xroad-confclient-{tag}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl is not installed (.ci/run installs it): {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A central server signing key (RSA 2048, PKCS#8) and its self-signed certificate.
pub fn signing_key(dir: &Path, name: &str) -> SigningKey {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key.pem"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
    openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &format!("{name}.key.pem"),
            "-outform",
            "DER",
            "-out",
            &format!("{name}.key.der"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-in",
            &format!("{name}.pem"),
            "-outform",
            "DER",
            "-out",
            &format!("{name}.der"),
        ],
    );
    let key = std::fs::read(dir.join(format!("{name}.key.der"))).unwrap();
    let cert = std::fs::read(dir.join(format!("{name}.der"))).unwrap();
    SigningKey::from_pkcs8(&key, cert).unwrap()
}

/// A small instance `DEV`: one CA (the signing certificate stands in for it), two members,
/// a subsystem, two security servers, a global group.
pub fn model(cert: &[u8]) -> InstanceModel {
    let sub = ClientId::subsystem("DEV", "COM", "1234", "client").unwrap();
    let provider = ClientId::member("DEV", "GOV", "9876").unwrap();
    InstanceModel {
        instance: "DEV".into(),
        sources: vec![SourceModel {
            address: "cs.invalid".into(),
            internal_certs: vec![cert.to_vec()],
            external_certs: vec![cert.to_vec()],
        }],
        cas: vec![CaModel {
            name: "Test CA".into(),
            cert: cert.to_vec(),
            ocsp: vec![OcspModel {
                url: "http://127.0.0.1:1/ocsp".into(),
                cert: None,
            }],
            profile_class:
                "ee.ria.xroad.common.certificateprofile.impl.BasicCertificateProfileInfoProvider"
                    .into(),
            ..CaModel::default()
        }],
        member_classes: vec![
            ("COM".into(), "Companies".into()),
            ("GOV".into(), "Government".into()),
        ],
        members: vec![
            MemberModel {
                class: "COM".into(),
                code: "1234".into(),
                name: "Client & Co".into(),
                subsystems: vec!["client".into()],
            },
            MemberModel {
                class: "GOV".into(),
                code: "9876".into(),
                name: "Provider".into(),
                subsystems: vec![],
            },
        ],
        servers: vec![
            ServerModel {
                owner: ("COM".into(), "1234".into()),
                code: "ss1".into(),
                address: Some("127.0.0.1".into()),
                auth_certs: vec![cert.to_vec()],
                clients: vec![sub.clone()],
                maintenance: None,
            },
            ServerModel {
                owner: ("GOV".into(), "9876".into()),
                code: "ss2".into(),
                address: Some("127.0.0.2".into()),
                auth_certs: vec![],
                clients: vec![provider.clone()],
                maintenance: None,
            },
        ],
        groups: vec![GroupModel {
            code: "security-server-owners".into(),
            description: "Owners".into(),
            members: vec![provider],
        }],
        ocsp_freshness_seconds: 600,
        management: Some((
            ClientId::subsystem("DEV", "GOV", "9876", "management").unwrap(),
            "https://cs.invalid:4002/managementservice/".into(),
        )),
        time_stamping_interval_seconds: 60,
        tsas: vec![],
    }
}

/// An instant `secs` from now.
pub fn in_secs(secs: u64) -> SystemTime {
    SystemTime::now() + Duration::from_secs(secs)
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The code of the failure at the location served on loopback over plain HTTP (the other
/// locations tried, an HTTPS variant or the stored shared parameters' `cs.invalid`, fail to
/// connect and would hide it).
pub fn served_code(e: &ClientError) -> &'static str {
    match e {
        ClientError::Download(f) => f
            .failures
            .iter()
            .find(|(url, _)| url.starts_with("http://127.0.0.1"))
            .map_or("no failure at the served location", |(_, e)| code_of(e)),
        other => code_of(&other.error()),
    }
}
