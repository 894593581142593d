//! Test helpers: a PKI made with the `openssl` command line, OCSP responses and responders
//! from `openssl ocsp` (killed by PID when dropped), a signer in a temporary directory.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use xroad_crypto::{ApprovedCa, CaCert, Certificate, TrustContext};

pub const FIVRK: &str =
    "ee.ria.xroad.common.certificateprofile.impl.FiVRKCertificateProfileInfoProvider";
pub const EJBCA: &str =
    "ee.ria.xroad.common.certificateprofile.impl.EjbcaCertificateProfileInfoProvider";

/// A directory with a test CA and its OCSP responder certificate.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
        };
        pki.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            "-days",
            "3650",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/C=FI/O=Test/CN=Test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        pki.write(
            "ocsp.ext",
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\n",
        );
        pki.openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ocsp.key",
            "-out",
            "ocsp.csr",
            "-subj",
            "/CN=Test OCSP",
        ]);
        pki.sign_csr("ocsp.csr", "ocsp.pem", "ocsp.ext", "100");
        pki.write("index.txt", "");
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    pub fn openssl(&self, args: &[&str]) -> String {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("openssl is not installed (.ci/run installs it): {e}"));
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// Issues `csr` (a file in the PKI dir) as `out` with the extension file `ext`.
    pub fn sign_csr(&self, csr: &str, out: &str, ext: &str, serial: &str) {
        self.openssl(&[
            "x509",
            "-req",
            "-sha256",
            "-in",
            csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            serial,
            "-days",
            "365",
            "-out",
            out,
            "-extfile",
            ext,
        ]);
    }

    /// Issues a certificate for a CSR given as bytes; returns the PEM.
    pub fn issue(&self, name: &str, csr: &[u8], extensions: &str, serial: &str) -> Vec<u8> {
        std::fs::write(self.path(&format!("{name}.csr")), csr).unwrap();
        self.write(&format!("{name}.ext"), extensions);
        let inform = if csr.starts_with(b"-----") {
            "PEM"
        } else {
            "DER"
        };
        self.openssl(&[
            "req",
            "-inform",
            inform,
            "-in",
            &format!("{name}.csr"),
            "-out",
            &format!("{name}.req.pem"),
        ]);
        self.sign_csr(
            &format!("{name}.req.pem"),
            &format!("{name}.pem"),
            &format!("{name}.ext"),
            serial,
        );
        std::fs::read(self.path(&format!("{name}.pem"))).unwrap()
    }

    pub fn cert(&self, name: &str) -> Arc<Certificate> {
        Arc::new(Certificate::from_pem_or_der(&std::fs::read(self.path(name)).unwrap()).unwrap())
    }

    /// Marks `serial` (hex) good or revoked in the responder's index.
    pub fn index(&self, entries: &[(&str, &str, bool)]) {
        let mut text = String::new();
        for (serial_hex, subject, revoked) in entries {
            if *revoked {
                text.push_str(&format!(
                    "R\t351231235959Z\t240101000000Z\t{serial_hex}\tunknown\t{subject}\n"
                ));
            } else {
                text.push_str(&format!(
                    "V\t351231235959Z\t\t{serial_hex}\tunknown\t{subject}\n"
                ));
            }
        }
        self.write("index.txt", &text);
    }

    /// A DER OCSP response for `cert_pem_file` made offline.
    pub fn ocsp_response(&self, cert_file: &str) -> Vec<u8> {
        self.openssl(&[
            "ocsp",
            "-issuer",
            "ca.pem",
            "-cert",
            cert_file,
            "-no_nonce",
            "-reqout",
            "req.der",
        ]);
        self.openssl(&[
            "ocsp",
            "-index",
            "index.txt",
            "-CA",
            "ca.pem",
            "-rsigner",
            "ocsp.pem",
            "-rkey",
            "ocsp.key",
            "-reqin",
            "req.der",
            "-respout",
            "resp.der",
            "-nmin",
            "10",
        ]);
        std::fs::read(self.path("resp.der")).unwrap()
    }

    /// Trust: the test CA approved for `instance` with `profile`, its OCSP responder listed.
    pub fn trust(&self, instance: &str, profile: &str) -> TrustContext {
        TrustContext::new(vec![ApprovedCa {
            instance: instance.into(),
            name: "Test CA".into(),
            top: CaCert::new(self.cert("ca.pem")).with_ocsp_responder(self.cert("ocsp.pem")),
            intermediates: vec![],
            profile_class: profile.into(),
            authentication_only: false,
        }])
    }

    /// Starts `openssl ocsp` as an HTTP responder on a free loopback port.
    pub fn responder(&self, extra: &[&str]) -> Responder {
        self.responder_with(free_port(), extra)
    }

    /// A responder on `port`.
    pub fn responder_on(&self, port: u16) -> Responder {
        self.responder_with(port, &[])
    }

    fn responder_with(&self, port: u16, extra: &[&str]) -> Responder {
        let port_s = port.to_string();
        let mut args = vec![
            "ocsp",
            "-index",
            "index.txt",
            "-CA",
            "ca.pem",
            "-rsigner",
            "ocsp.pem",
            "-rkey",
            "ocsp.key",
            "-port",
            &port_s,
            "-nrequest",
            "1000",
        ];
        args.extend(extra);
        let child = Command::new("openssl")
            .args(&args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.path(&format!("responder-{port}.log")))
                    .map_or(Stdio::null(), Stdio::from),
            )
            .spawn()
            .expect("openssl ocsp starts");
        let r = Responder { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        // Wait for its log line: a probe connection would hold the single-threaded
        // responder until it times out.
        let log = self.path(&format!("responder-{port}.log"));
        while !std::fs::read_to_string(&log)
            .is_ok_and(|l| l.contains("waiting for OCSP client connections"))
        {
            assert!(
                Instant::now() < deadline,
                "openssl ocsp did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }
}

/// An `openssl ocsp` responder process, killed by PID on drop.
pub struct Responder {
    child: Child,
    pub port: u16,
}

impl Responder {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Verifies a PEM/DER CSR with `openssl req -verify`; returns the subject (RFC 2253) and
/// the text dump.
pub fn openssl_verify_csr(dir: &Path, csr: &[u8]) -> (String, String) {
    let file = dir.join("check.csr");
    std::fs::write(&file, csr).unwrap();
    let inform = if csr.starts_with(b"-----") {
        "PEM"
    } else {
        "DER"
    };
    let out = Command::new("openssl")
        .args([
            "req", "-verify", "-noout", "-text", "-inform", inform, "-nameopt", "RFC2253",
            "-subject", "-in",
        ])
        .arg(&file)
        .output()
        .unwrap();
    let all =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openssl req -verify failed: {all}");
    assert!(
        all.contains("verify OK") || all.contains("Certificate request self-signature verify OK"),
        "{all}"
    );
    let subject = all
        .lines()
        .find_map(|l| l.strip_prefix("subject="))
        .unwrap_or("")
        .trim()
        .to_owned();
    (subject, all)
}
