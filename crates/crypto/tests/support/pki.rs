//! A test PKI made with the `openssl` command line, and OCSP responses from `openssl ocsp`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::SystemTime;

use xroad_crypto::ocsp::{self, OcspResponse};
use xroad_crypto::{ApprovedCa, CaCert, Certificate, TrustContext};
use xroad_fault::Spelling;

/// A directory with a test PKI, removed when dropped.
pub struct Pki {
    pub dir: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Pki {
    pub fn openssl(&self, args: &[&str]) -> String {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("openssl is not installed (.ci/run installs it): {e}"));
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn cert(&self, name: &str) -> Arc<Certificate> {
        Arc::new(Certificate::from_pem_or_der(&std::fs::read(self.path(name)).unwrap()).unwrap())
    }

    /// A self-signed CA `name`.
    pub fn ca(&self, name: &str, cn: &str) {
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
            &format!("/C=EE/O=Test/CN={cn}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
    }

    /// A certificate `name` issued by `ca` with `extensions` (an openssl extension file body).
    pub fn issue(&self, name: &str, ca: &str, subject: &str, serial: &str, extensions: &str) {
        self.issue_with(
            name,
            ca,
            subject,
            serial,
            extensions,
            &["-newkey", "rsa:2048"],
        );
    }

    /// As [`issue`](Self::issue), with the key made by `key_args` (e.g. an EC curve).
    pub fn issue_with(
        &self,
        name: &str,
        ca: &str,
        subject: &str,
        serial: &str,
        extensions: &str,
        key_args: &[&str],
    ) {
        let mut req = vec!["req"];
        req.extend(key_args);
        let (key, csr) = (format!("{name}.key"), format!("{name}.csr"));
        req.extend(["-nodes", "-keyout", &key, "-out", &csr, "-subj", subject]);
        self.openssl(&req);
        self.write(&format!("{name}.ext"), extensions);
        self.openssl(&[
            "x509",
            "-req",
            "-sha256",
            "-in",
            &format!("{name}.csr"),
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
            &format!("{name}.ext"),
        ]);
    }

    pub fn new() -> Pki {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("xroad-ocsp-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Pki { dir };
        pki.ca("ca", "Test CA");
        pki.ca("other-ca", "Other CA");
        let signing = "keyUsage=critical,nonRepudiation\n";
        let responder = "keyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\n";
        pki.issue("member", "ca", "/C=EE/O=BUSINESS/CN=member1", "2", signing);
        pki.issue("revoked", "ca", "/C=EE/O=BUSINESS/CN=member2", "4", signing);
        pki.issue(
            "unlisted",
            "ca",
            "/C=EE/O=BUSINESS/CN=member3",
            "5",
            signing,
        );
        pki.issue("ocsp", "ca", "/CN=Test OCSP", "3", responder);
        pki.issue("other-ocsp", "other-ca", "/CN=Other OCSP", "3", responder);
        pki.issue(
            "no-eku",
            "ca",
            "/CN=Plain",
            "6",
            "keyUsage=critical,digitalSignature\n",
        );
        pki.write(
            "index.txt",
            "V\t351231235959Z\t\t02\tunknown\t/C=EE/O=BUSINESS/CN=member1\n\
             R\t351231235959Z\t240101000000Z\t04\tunknown\t/C=EE/O=BUSINESS/CN=member2\n",
        );
        pki
    }

    /// Our request for `subject`, answered by `openssl ocsp` with the responder `signer`.
    pub fn respond(&self, subject: &str, signer: &str, extra: &[&str]) -> OcspResponse {
        let req = ocsp::request(&self.cert(&format!("{subject}.pem")), &self.cert("ca.pem"));
        std::fs::write(self.path("req.der"), req).unwrap();
        let text = self.openssl(&["ocsp", "-reqin", "req.der", "-req_text"]);
        assert!(text.contains("Hash Algorithm: sha1"), "{text}");
        self.respond_to("req.der", signer, extra)
    }

    pub fn respond_to(&self, request: &str, signer: &str, extra: &[&str]) -> OcspResponse {
        let mut args = vec![
            "ocsp",
            "-index",
            "index.txt",
            "-CA",
            "ca.pem",
            "-reqin",
            request,
            "-respout",
            "resp.der",
        ];
        let (cert, key) = (format!("{signer}.pem"), format!("{signer}.key"));
        args.extend(["-rsigner", &cert, "-rkey", &key]);
        args.extend(extra);
        self.openssl(&args);
        OcspResponse::from_der(&std::fs::read(self.path("resp.der")).unwrap()).unwrap()
    }

    /// Trust: the test CA approved for EE, with `configured` responder certificates.
    pub fn trust(&self, configured: &[&str]) -> TrustContext {
        let mut ca = CaCert::new(self.cert("ca.pem"));
        for c in configured {
            ca = ca.with_ocsp_responder(self.cert(&format!("{c}.pem")));
        }
        TrustContext::new(vec![ApprovedCa {
            instance: "EE".into(),
            name: "Test CA".into(),
            top: ca,
            intermediates: vec![],
            profile_class:
                "ee.ria.xroad.common.certificateprofile.impl.EjbcaCertificateProfileInfoProvider"
                    .into(),
            authentication_only: false,
        }])
        .with_ocsp_freshness(3600)
    }

    pub fn verify(
        &self,
        resp: &OcspResponse,
        subject: &str,
        trust: &TrustContext,
        at: SystemTime,
    ) -> Result<(), String> {
        resp.verify(
            &self.cert(&format!("{subject}.pem")),
            &self.cert("ca.pem"),
            trust,
            at,
        )
        .map_err(|e| format!("{}: {}", e.fault_code(Spelling::Current), e.message()))
    }
}

impl Pki {
    /// A TSA certificate `tsa` issued by the test CA, and its openssl configuration.
    pub fn tsa(&self) {
        self.issue(
            "tsa",
            "ca",
            "/C=EE/O=Test/CN=Test TSA",
            "7",
            "keyUsage=critical,digitalSignature,nonRepudiation\nextendedKeyUsage=critical,timeStamping\n",
        );
        self.write("tsaserial", "01\n");
        self.write(
            "tsa.cnf",
            "[ tsa ]\ndefault_tsa = tsa_config\n[ tsa_config ]\nserial = ./tsaserial\nsigner_cert = ./tsa.pem\n\
             signer_key = ./tsa.key\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256, sha512\n\
             accuracy = secs:1\ness_cert_id_alg = sha256\ncrypto_device = builtin\n",
        );
    }

    /// A DER time-stamp token from `openssl ts` for `data`, imprint with `digest` (sha256, sha512).
    pub fn timestamp(&self, data: &[u8], digest: &str) -> Vec<u8> {
        std::fs::write(self.path("tsdata.bin"), data).unwrap();
        self.openssl(&[
            "ts",
            "-query",
            "-data",
            "tsdata.bin",
            &format!("-{digest}"),
            "-cert",
            "-no_nonce",
            "-out",
            "q.tsq",
        ]);
        self.openssl(&[
            "ts",
            "-reply",
            "-config",
            "tsa.cnf",
            "-queryfile",
            "q.tsq",
            "-token_out",
            "-out",
            "token.der",
        ]);
        std::fs::read(self.path("token.der")).unwrap()
    }
}
