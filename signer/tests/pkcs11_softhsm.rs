//! PKCS#11 against SoftHSM2 (Debian package softhsm2): a token initialised by the test in a
//! temporary token directory; keys generated and used on the device, verified with
//! xroad-crypto's verifier; CSRs and batch signatures through the signing service.
//!
//! One test function: a PKCS#11 library is initialised once per process and reads
//! `SOFTHSM2_CONF` then.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::SystemTime;

use support::{openssl_verify_csr, Pki, EJBCA};
use xroad_crypto::algorithm::{EcdsaEncoding, PublicKey};
use xroad_crypto::profile::CertificateProfile;
use xroad_crypto::signature::{self, HashChainParts, Part, SignatureBuilder};
use xroad_crypto::{DigestAlgorithm, SignMechanism, SignatureAlgorithm};
use xroad_identifiers::{ClientId, SecurityServerId};
use xroad_signer::csr::{CsrFormat, SubjectParams};
use xroad_signer::{
    ChainCheck, KeyAlgorithm, KeyUsage, Pin, ServiceConfig, Signer, SignerConfig, SignerError,
    SignerHandle, TokenKind,
};

fn library() -> Option<PathBuf> {
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

fn init_token(dir: &Path) -> PathBuf {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokens.display()
        ),
    )
    .unwrap();
    let out = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "xroad-test",
            "--pin",
            "1234",
            "--so-pin",
            "5678",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    conf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn softhsm_keys_sign_on_the_device() {
    let Some(lib) = library() else {
        eprintln!("SKIPPED: libsofthsm2.so not found (the softhsm2 package; .ci/run installs it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let conf = init_token(dir.path());
    // Safe in edition 2021; this test binary has this one test, so nothing reads the
    // environment concurrently.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let ini = dir.path().join("devices.ini");
    std::fs::write(&ini, format!("[softhsm]\nlibrary = {}\n", lib.display())).unwrap();
    let signer_dir = dir.path().join("signer");
    let signer = Arc::new(
        Signer::open(SignerConfig {
            devices_ini: Some(ini),
            ..SignerConfig::new(&signer_dir)
        })
        .unwrap(),
    );
    let tokens = signer.tokens().unwrap();
    let token = tokens
        .iter()
        .find(|t| t.kind == TokenKind::Pkcs11)
        .expect("the SoftHSM token");
    assert_eq!(token.label, "xroad-test");
    assert!(
        token.id.starts_with("softhsm0") && token.id.ends_with("xroad-test"),
        "{}",
        token.id
    );
    assert_eq!(
        tokens
            .iter()
            .filter(|t| t.kind == TokenKind::Pkcs11)
            .count(),
        1,
        "the free (uninitialised) slot is not listed"
    );
    let id = token.id.clone();

    // Status, login with a wrong PIN (reported without the PIN), login.
    assert!(!token.active);
    let err = signer.login(&id, &Pin::new("9999")).unwrap_err();
    assert!(matches!(err, SignerError::PinIncorrect(_)), "{err}");
    assert!(!format!("{err:?}").contains("9999"));
    assert!(matches!(
        signer.generate_key(&id, KeyAlgorithm::Rsa(2048), "x"),
        Err(SignerError::TokenNotActive(_))
    ));
    signer.login(&id, &Pin::new("1234")).unwrap();
    assert!(signer
        .tokens()
        .unwrap()
        .iter()
        .any(|t| t.id == id && t.active));

    let rsa = signer
        .generate_key(&id, KeyAlgorithm::Rsa(2048), "hsm-rsa")
        .unwrap();
    let ec = signer
        .generate_key(&id, KeyAlgorithm::EcP256, "hsm-ec")
        .unwrap();
    assert_eq!(rsa.sign_mechanism.as_deref(), Some("CKM_RSA_PKCS"));
    assert_eq!(ec.sign_mechanism.as_deref(), Some("CKM_ECDSA"));

    // Raw digest signatures, verified with our verifier.
    let message = b"signed on the device";
    for (key, mechanism, digest) in [
        (
            &rsa.key_id,
            SignMechanism::RsaPkcs1,
            DigestAlgorithm::Sha256,
        ),
        (
            &rsa.key_id,
            SignMechanism::RsaPkcs1,
            DigestAlgorithm::Sha512,
        ),
        (&rsa.key_id, SignMechanism::RsaPss, DigestAlgorithm::Sha256),
        (&ec.key_id, SignMechanism::Ecdsa, DigestAlgorithm::Sha256),
        (&ec.key_id, SignMechanism::Ecdsa, DigestAlgorithm::Sha384),
    ] {
        let alg = SignatureAlgorithm::new(digest, mechanism);
        let value = signer
            .sign(key, alg, digest.digest(message).as_bytes())
            .unwrap();
        let pk = PublicKey::from_spki_der(&signer.public_key(key).unwrap()).unwrap();
        pk.verify(alg, message, &value, EcdsaEncoding::Der)
            .unwrap_or_else(|e| panic!("{mechanism:?} {digest:?}: {e}"));
    }

    // CSRs signed on the device.
    let owner = ClientId::member("DEV", "COM", "1234").unwrap();
    let params = SubjectParams {
        server: SecurityServerId::new(owner.clone(), "SS0").unwrap(),
        member: Some(owner.clone()),
        member_name: "Member".into(),
    };
    let csr = signer
        .generate_csr(
            &rsa.key_id,
            KeyUsage::Signing,
            CertificateProfile::Ejbca,
            &params,
            &[],
            CsrFormat::Der,
        )
        .unwrap();
    assert_eq!(
        openssl_verify_csr(dir.path(), &csr.bytes).0,
        "CN=1234,O=COM,C=DEV"
    );
    let ec_csr = signer
        .generate_csr(
            &ec.key_id,
            KeyUsage::Signing,
            CertificateProfile::Ejbca,
            &params,
            &[],
            CsrFormat::Pem,
        )
        .unwrap();
    openssl_verify_csr(dir.path(), &ec_csr.bytes);
    // Authentication keys must be on the software token (the proxy loads them from there).
    let err = signer
        .generate_csr(
            &ec.key_id,
            KeyUsage::Authentication,
            CertificateProfile::Ejbca,
            &params,
            &[],
            CsrFormat::Pem,
        )
        .unwrap_err();
    assert!(matches!(err, SignerError::WrongCertUsage(_)), "{err}");

    // The certificate, and batch signatures from the service.
    let pki = Pki::new();
    let cert = pki.issue(
        "hsm",
        &csr.bytes,
        "keyUsage=critical,nonRepudiation\n",
        "0x20",
    );
    let trust = pki.trust("DEV", EJBCA);
    let info = signer
        .import_cert(
            &cert,
            None,
            Some(ChainCheck {
                trust: &trust,
                instance: "DEV",
            }),
            None,
        )
        .unwrap();
    assert_eq!(info.member.as_ref(), Some(&owner));
    pki.index(&[("20", "/C=DEV/O=COM/CN=1234", false)]);
    let ocsp = pki.ocsp_response("hsm.pem");
    let service = SignerHandle::spawn(signer.clone(), ServiceConfig::default());
    let alg = SignatureAlgorithm::new(DigestAlgorithm::Sha512, SignMechanism::RsaPkcs1);
    let builder =
        Arc::new(SignatureBuilder::new(alg, info.cert.clone()).with_ocsp_responses(vec![ocsp]));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (service, builder, key) = (service.clone(), builder.clone(), rsa.key_id.clone());
        tasks.push(tokio::spawn(async move {
            let d = DigestAlgorithm::Sha512.digest(format!("<m>{i}</m>").as_bytes());
            (
                d,
                service
                    .sign_message(&key, builder, vec![("/message.xml".into(), d)])
                    .await,
            )
        }));
    }
    for t in tasks {
        let (d, signed) = t.await.unwrap();
        let signed = signed.unwrap();
        let hc = signed.hash_chain.as_ref().map(|h| HashChainParts {
            result: &h.result,
            chain: &h.chain,
        });
        signature::verify(
            &signed.signature,
            &owner,
            &[Part::new("/message.xml", d)],
            hc,
            &trust,
            SystemTime::now(),
        )
        .unwrap();
    }

    // Delete, logout.
    signer.delete_key(&ec.key_id).unwrap();
    assert!(signer.keys().unwrap().iter().all(|k| k.key_id != ec.key_id));
    signer.logout(&id).unwrap();
    let alg = SignatureAlgorithm::new(DigestAlgorithm::Sha256, SignMechanism::RsaPkcs1);
    assert!(matches!(
        signer.sign(&rsa.key_id, alg, &[0; 32]),
        Err(SignerError::TokenNotActive(_))
    ));
    // After a new login the key is still on the device.
    signer.login(&id, &Pin::new("1234")).unwrap();
    signer.sign(&rsa.key_id, alg, &[0; 32]).unwrap();
}
