//! A test PKI for security servers' authentication certificates, made with the `openssl`
//! command line: an approved CA with an approved intermediate, an unapproved CA, an OCSP
//! responder, and OCSP responses from `openssl ocsp`.

#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use xroad_crypto::ocsp::{self, OcspResponse};
use xroad_crypto::{ApprovedCa, CaCert, Certificate, TrustContext};
use xroad_globalconf::{SecurityServer, SharedParameters};
use xroad_identifiers::{ClientId, SecurityServerId};

/// Every network step of a test is bounded by this.
pub const STEP: Duration = Duration::from_secs(10);

/// Awaits `f` or fails the test after [`STEP`].
pub async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {STEP:?}"),
    }
}

/// Key usage of a security server's authentication certificate.
pub const AUTH_EXT: &str = "keyUsage=critical,digitalSignature,keyEncipherment\n\
                            extendedKeyUsage=clientAuth,serverAuth\n";
/// Key usage of a signing certificate (not usable for authentication).
pub const SIGN_EXT: &str = "keyUsage=critical,nonRepudiation\n";
const CA_EXT: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
const OCSP_EXT: &str = "keyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\n";

/// A directory with the PKI, removed when dropped.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// `ca` (approved, instance EE) with intermediate `ica` (approved too) and responder
    /// `ocsp`; `other-ca` (not approved); auth certificates `ss1` (by `ca`), `ss-ica` (by
    /// `ica`), `ss-other` (by `other-ca`), `revoked` (by `ca`, revoked), and a signing
    /// certificate `sign` (by `ca`).
    pub fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
        };
        pki.self_signed("ca", "/C=EE/O=Test/CN=Test CA");
        pki.self_signed("other-ca", "/C=EE/O=Test/CN=Other CA");
        pki.issue(
            "ica",
            "ca",
            "/C=EE/O=Test/CN=Test Intermediate",
            "16",
            CA_EXT,
        );
        pki.issue("ocsp", "ca", "/C=EE/O=Test/CN=Test OCSP", "3", OCSP_EXT);
        pki.issue("ss1", "ca", "/C=EE/O=GOV/CN=ss1", "10", AUTH_EXT);
        pki.issue("revoked", "ca", "/C=EE/O=GOV/CN=revoked", "11", AUTH_EXT);
        pki.issue("sign", "ca", "/C=EE/O=GOV/CN=1234", "12", SIGN_EXT);
        pki.issue("ss-ica", "ica", "/C=EE/O=GOV/CN=ss-ica", "13", AUTH_EXT);
        pki.issue(
            "ss-other",
            "other-ca",
            "/C=EE/O=GOV/CN=ss-other",
            "14",
            AUTH_EXT,
        );
        pki.write(
            "index.txt",
            "V\t351231235959Z\t\t0A\tunknown\t/C=EE/O=GOV/CN=ss1\n\
             R\t351231235959Z\t240101000000Z\t0B\tunknown\t/C=EE/O=GOV/CN=revoked\n\
             V\t351231235959Z\t\t0C\tunknown\t/C=EE/O=GOV/CN=1234\n\
             V\t351231235959Z\t\t10\tunknown\t/C=EE/O=Test/CN=Test Intermediate\n",
        );
        pki.write(
            "ica-index.txt",
            "V\t351231235959Z\t\t0D\tunknown\t/C=EE/O=GOV/CN=ss-ica\n",
        );
        pki
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    pub fn openssl(&self, args: &[&str]) -> String {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir())
            .output()
            .unwrap_or_else(|e| panic!("openssl is not installed: {e}"));
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn self_signed(&self, name: &str, subject: &str) {
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            "-days",
            "3650",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-subj",
            subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
    }

    fn issue(&self, name: &str, ca: &str, subject: &str, serial: &str, ext: &str) {
        let (key, csr, extfile) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.ext"),
        );
        self.openssl(&[
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", subject,
        ]);
        self.write(&extfile, ext);
        self.openssl(&[
            "x509",
            "-req",
            "-sha256",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-set_serial",
            serial,
            "-days",
            "365",
            "-out",
            &format!("{name}.pem"),
            "-extfile",
            &extfile,
        ]);
    }

    pub fn cert(&self, name: &str) -> Arc<Certificate> {
        let bytes = std::fs::read(self.path(&format!("{name}.pem"))).unwrap();
        Arc::new(Certificate::from_pem_or_der(&bytes).unwrap())
    }

    /// An OCSP response for `subject` issued by `issuer`, from `openssl ocsp` signed by the
    /// responder `ocsp` (for `ca`) or by `ica` itself; `extra` e.g. `-ndays 1`.
    pub fn ocsp(&self, subject: &str, issuer: &str, extra: &[&str]) -> Arc<OcspResponse> {
        let req = ocsp::request(&self.cert(subject), &self.cert(issuer));
        let (reqf, respf) = (format!("{subject}.req"), format!("{subject}.resp.der"));
        std::fs::write(self.path(&reqf), req).unwrap();
        let (index, signer) = if issuer == "ica" {
            ("ica-index.txt", "ica")
        } else {
            ("index.txt", "ocsp")
        };
        let (cert, key) = (format!("{signer}.pem"), format!("{signer}.key"));
        let mut args = vec![
            "ocsp",
            "-index",
            index,
            "-CA",
            &format!("{issuer}.pem"),
            "-reqin",
            &reqf,
            "-respout",
            &respf,
            "-rsigner",
            &cert,
            "-rkey",
            &key,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.openssl(&args);
        let der = std::fs::read(self.path(&respf)).unwrap();
        Arc::new(OcspResponse::from_der(&der).unwrap())
    }

    /// Trust: `ca` approved for EE with intermediate `ica` and responder `ocsp`.
    pub fn trust(&self) -> TrustContext {
        TrustContext::new(vec![ApprovedCa {
            instance: "EE".into(),
            name: "Test CA".into(),
            top: CaCert::new(self.cert("ca")).with_ocsp_responder(self.cert("ocsp")),
            intermediates: vec![CaCert::new(self.cert("ica"))],
            profile_class:
                "ee.ria.xroad.common.certificateprofile.impl.EjbcaCertificateProfileInfoProvider"
                    .into(),
            authentication_only: false,
        }])
        .with_ocsp_freshness(3600)
    }
}

pub fn owner() -> ClientId {
    ClientId::member("EE", "GOV", "1234").unwrap()
}

pub fn server_id(code: &str) -> SecurityServerId {
    SecurityServerId::new(owner(), code).unwrap()
}

/// Version 3 shared parameters of EE: security server `code` of [`owner`] with auth
/// certificates `certs`, hosting `clients` besides its owner.
pub fn params(servers: &[(&str, &[Arc<Certificate>])], clients: &[ClientId]) -> SharedParameters {
    SharedParameters {
        instance: "EE".into(),
        version: 3,
        security_servers: servers
            .iter()
            .map(|(code, certs)| SecurityServer {
                owner: owner(),
                server_code: (*code).to_owned(),
                address: Some("127.0.0.1".into()),
                auth_cert_hashes: certs
                    .iter()
                    .map(|c| {
                        c.hash(xroad_crypto::DigestAlgorithm::Sha256)
                            .as_bytes()
                            .to_vec()
                    })
                    .collect(),
                clients: clients.to_vec(),
                in_maintenance: None,
            })
            .collect(),
        ..Default::default()
    }
}
