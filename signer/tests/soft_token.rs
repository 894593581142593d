//! The software token end to end: keys, CSRs accepted by `openssl req -verify`, certificates
//! issued by an openssl CA imported and checked, and batch signatures from the signing
//! service verified by xroad-crypto's verifier.

mod support;

use std::sync::Arc;
use std::time::SystemTime;

use support::{openssl_verify_csr, Pki, FIVRK};
use xroad_crypto::profile::CertificateProfile;
use xroad_crypto::signature::{self, HashChainParts, Part, SignatureBuilder};
use xroad_crypto::{DigestAlgorithm, SignMechanism, SignatureAlgorithm};
use xroad_identifiers::{ClientId, SecurityServerId};
use xroad_signer::csr::{CsrFormat, SubjectParams};
use xroad_signer::{
    ChainCheck, KeyAlgorithm, KeyUsage, Pin, ServiceConfig, Signer, SignerConfig, SignerError,
    SignerHandle, SOFT_TOKEN_ID,
};

const PIN: &str = "Secret-PIN-4711";
const SIGN_EXT: &str = "keyUsage=critical,nonRepudiation\n";
const AUTH_EXT: &str =
    "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth,serverAuth\n";

fn params() -> SubjectParams {
    let owner = ClientId::member("DEV", "COM", "1234").unwrap();
    SubjectParams {
        server: SecurityServerId::new(owner.clone(), "SS0").unwrap(),
        member: Some(owner),
        member_name: "Test member".into(),
    }
}

fn vals(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn new_signer(dir: &std::path::Path) -> Arc<Signer> {
    let signer = Signer::open(SignerConfig::new(dir)).unwrap();
    signer.init_software_token(&Pin::new(PIN)).unwrap();
    Arc::new(signer)
}

#[test]
fn csrs_follow_the_profiles_and_openssl_verifies_them() {
    let dir = tempfile::tempdir().unwrap();
    let signer = new_signer(dir.path());
    let rsa = signer
        .generate_key(SOFT_TOKEN_ID, KeyAlgorithm::Rsa(2048), "sign")
        .unwrap();
    let ec = signer
        .generate_key(SOFT_TOKEN_ID, KeyAlgorithm::EcP256, "ec")
        .unwrap();
    let auth = signer
        .generate_key(SOFT_TOKEN_ID, KeyAlgorithm::Rsa(2048), "auth")
        .unwrap();

    let csr = signer
        .generate_csr(
            &rsa.key_id,
            KeyUsage::Signing,
            CertificateProfile::FiVrk,
            &params(),
            &vals(&[("O", "Org"), ("subjectAltName", "ss0.example.org")]),
            CsrFormat::Pem,
        )
        .unwrap();
    let (subject, text) = openssl_verify_csr(dir.path(), &csr.bytes);
    assert_eq!(subject, "CN=1234,serialNumber=DEV/SS0/COM,O=Org,C=FI");
    assert!(text.contains("DNS:ss0.example.org"), "{text}");
    assert!(text.contains("Non Repudiation, Certificate Sign"), "{text}");

    let csr = signer
        .generate_csr(
            &auth.key_id,
            KeyUsage::Authentication,
            CertificateProfile::BasicAcme,
            &params(),
            &vals(&[
                ("C", "FI"),
                ("CN", "ss0.example.org"),
                ("subjectAltName", "ss0.example.org"),
            ]),
            CsrFormat::Der,
        )
        .unwrap();
    let (subject, text) = openssl_verify_csr(dir.path(), &csr.bytes);
    assert_eq!(
        subject,
        "CN=ss0.example.org,serialNumber=1234,O=Test member,C=FI"
    );
    assert!(
        text.contains("Digital Signature, Key Encipherment, Data Encipherment"),
        "{text}"
    );
    assert!(text.contains("DNS:ss0.example.org"), "{text}");

    let csr = signer
        .generate_csr(
            &ec.key_id,
            KeyUsage::Signing,
            CertificateProfile::Ejbca,
            &params(),
            &[],
            CsrFormat::Pem,
        )
        .unwrap();
    let (subject, _) = openssl_verify_csr(dir.path(), &csr.bytes);
    assert_eq!(subject, "CN=1234,O=COM,C=DEV");

    for (profile, usage, expect) in [
        (
            CertificateProfile::Ejbca,
            KeyUsage::Authentication,
            "CN=SS0,C=DEV",
        ),
        (
            CertificateProfile::Fo,
            KeyUsage::Authentication,
            "CN=DEV/COM/1234/SS0,O=DEV,C=FO",
        ),
        (
            CertificateProfile::SkKlass3,
            KeyUsage::Authentication,
            "CN=Test member,serialNumber=1234",
        ),
    ] {
        let csr = signer
            .generate_csr(&auth.key_id, usage, profile, &params(), &[], CsrFormat::Pem)
            .unwrap();
        assert_eq!(openssl_verify_csr(dir.path(), &csr.bytes).0, expect);
    }
    // The key's usage is fixed by its first request.
    let err = signer
        .generate_csr(
            &auth.key_id,
            KeyUsage::Signing,
            CertificateProfile::Ejbca,
            &params(),
            &[],
            CsrFormat::Pem,
        )
        .unwrap_err();
    assert!(matches!(err, SignerError::WrongCertUsage(_)), "{err}");
    let conf = signer.keyconf().unwrap();
    assert_eq!(conf.key(&rsa.key_id).unwrap().1.cert_requests.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_import_and_batch_signatures_verify() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let signer = new_signer(dir.path());
    let key = signer
        .generate_key(SOFT_TOKEN_ID, KeyAlgorithm::Rsa(2048), "sign")
        .unwrap();
    let ec = signer
        .generate_key(SOFT_TOKEN_ID, KeyAlgorithm::EcP256, "ec")
        .unwrap();
    let auth = signer
        .generate_key(SOFT_TOKEN_ID, KeyAlgorithm::Rsa(2048), "auth")
        .unwrap();
    let fi = vals(&[("O", "Org"), ("subjectAltName", "ss0.example.org")]);
    let csr = signer
        .generate_csr(
            &key.key_id,
            KeyUsage::Signing,
            CertificateProfile::FiVrk,
            &params(),
            &fi,
            CsrFormat::Der,
        )
        .unwrap();
    let cert_pem = pki.issue("sign", &csr.bytes, SIGN_EXT, "0x10");
    let ec_csr = signer
        .generate_csr(
            &ec.key_id,
            KeyUsage::Signing,
            CertificateProfile::FiVrk,
            &params(),
            &fi,
            CsrFormat::Pem,
        )
        .unwrap();
    let ec_pem = pki.issue("ec", &ec_csr.bytes, SIGN_EXT, "0x11");
    let auth_csr = signer
        .generate_csr(
            &auth.key_id,
            KeyUsage::Authentication,
            CertificateProfile::FiVrk,
            &params(),
            &vals(&[
                ("O", "Org"),
                ("CN", "ss0.example.org"),
                ("subjectAltName", "ss0.example.org"),
            ]),
            CsrFormat::Pem,
        )
        .unwrap();
    let auth_pem = pki.issue("auth", &auth_csr.bytes, AUTH_EXT, "0x12");

    let trust = pki.trust("DEV", FIVRK);
    let check = ChainCheck {
        trust: &trust,
        instance: "DEV",
    };
    // A certificate whose usage does not fit its key is refused.
    let wrong = pki.issue("wrong", &csr.bytes, AUTH_EXT, "0x13");
    let err = signer
        .import_cert(&wrong, None, Some(check), None)
        .unwrap_err();
    assert!(matches!(err, SignerError::WrongCertUsage(_)), "{err}");
    // Not issued by an approved CA.
    let other = Pki::new();
    let foreign = other.issue("sign", &csr.bytes, SIGN_EXT, "0x10");
    let err = signer
        .import_cert(&foreign, None, Some(check), None)
        .unwrap_err();
    assert!(matches!(err, SignerError::CertChain(_)), "{err}");

    let info = signer
        .import_cert(&cert_pem, None, Some(check), None)
        .unwrap();
    assert_eq!(info.key_id, key.key_id);
    assert_eq!(info.usage, Some(KeyUsage::Signing));
    let member = ClientId::member("DEV", "COM", "1234").unwrap();
    assert_eq!(info.member.as_ref(), Some(&member));
    let err = signer
        .import_cert(&cert_pem, None, Some(check), None)
        .unwrap_err();
    assert!(matches!(err, SignerError::CertExists(_)), "{err}");
    let auth_info = signer
        .import_cert(&auth_pem, None, Some(check), None)
        .unwrap();
    assert_eq!(auth_info.usage, Some(KeyUsage::Authentication));
    assert_eq!(auth_info.status.as_deref(), Some("saved"));
    let ec_info = signer
        .import_cert(&ec_pem, None, Some(check), None)
        .unwrap();
    // The requests that the certificates answer are gone.
    assert!(signer
        .keyconf()
        .unwrap()
        .key(&key.key_id)
        .unwrap()
        .1
        .cert_requests
        .is_empty());

    // Deactivated certificates are not used for the member.
    let sub = ClientId::subsystem("DEV", "COM", "1234", "SUB").unwrap();
    signer.set_cert_active(&ec_info.id, false).unwrap();
    assert_eq!(signer.member_signing_info(&sub).unwrap().key_id, key.key_id);
    signer.set_cert_active(&info.id, false).unwrap();
    assert!(signer.member_signing_info(&sub).is_err());
    signer.set_cert_active(&info.id, true).unwrap();
    signer.set_cert_active(&ec_info.id, true).unwrap();
    assert_eq!(signer.certs().unwrap().len(), 3);

    pki.index(&[
        (
            "10",
            "/C=FI/O=Org/serialNumber=DEV\\/SS0\\/COM/CN=1234",
            false,
        ),
        ("11", "/CN=ec", false),
    ]);
    let ocsp = pki.ocsp_response("sign.pem");
    let ec_ocsp = pki.ocsp_response("ec.pem");

    let service = SignerHandle::spawn(
        signer.clone(),
        ServiceConfig {
            parallelism: 2,
            ..ServiceConfig::default()
        },
    );
    let rsa_alg = SignatureAlgorithm::new(DigestAlgorithm::Sha512, SignMechanism::RsaPkcs1);
    let builder =
        Arc::new(SignatureBuilder::new(rsa_alg, info.cert.clone()).with_ocsp_responses(vec![ocsp]));
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (service, builder, key_id) = (service.clone(), builder.clone(), key.key_id.clone());
        tasks.push(tokio::spawn(async move {
            let body = format!("<message>{i}</message>");
            let mut parts = vec![(
                "/message.xml".to_owned(),
                DigestAlgorithm::Sha512.digest(body.as_bytes()),
            )];
            if i % 5 == 0 {
                parts.push((
                    "/attachment1".to_owned(),
                    DigestAlgorithm::Sha512.digest(b"attachment"),
                ));
            }
            let signed = service
                .sign_message(&key_id, builder, parts.clone())
                .await
                .unwrap();
            (parts, signed)
        }));
    }
    let now = SystemTime::now();
    let mut chained = 0;
    let mut signatures = std::collections::HashSet::new();
    for t in tasks {
        let (parts, signed) = t.await.unwrap();
        let ps: Vec<Part<'_>> = parts.iter().map(|(u, d)| Part::new(u, *d)).collect();
        let hc = signed.hash_chain.as_ref().map(|h| HashChainParts {
            result: &h.result,
            chain: &h.chain,
        });
        chained += usize::from(hc.is_some());
        signatures.insert(signed.signature.clone());
        let verified = signature::verify(&signed.signature, &sub, &ps, hc, &trust, now).unwrap();
        assert_eq!(verified.signer, member);
    }
    println!(
        "64 messages: {} signatures, {chained} with hash chains",
        signatures.len()
    );
    assert!(
        chained >= 13,
        "messages with attachments are always chained"
    );

    // ECDSA signatures (raw r‖s in the document).
    let ec_alg = SignatureAlgorithm::new(DigestAlgorithm::Sha256, SignMechanism::Ecdsa);
    let ec_builder = Arc::new(
        SignatureBuilder::new(ec_alg, ec_info.cert.clone()).with_ocsp_responses(vec![ec_ocsp]),
    );
    let d = DigestAlgorithm::Sha256.digest(b"<m/>");
    let signed = service
        .sign_message(&ec.key_id, ec_builder, vec![("/message.xml".into(), d)])
        .await
        .unwrap();
    assert!(signed.hash_chain.is_none());
    signature::verify(
        &signed.signature,
        &member,
        &[Part::new("/message.xml", d)],
        None,
        &trust,
        now,
    )
    .unwrap();

    // A single digest, and refusals.
    let d = DigestAlgorithm::Sha256.digest(b"x");
    let rsa256 = SignatureAlgorithm::new(DigestAlgorithm::Sha256, SignMechanism::RsaPkcs1);
    let value = service.sign(&key.key_id, rsa256, d).await.unwrap();
    let pk =
        xroad_crypto::algorithm::PublicKey::from_spki_der(&signer.public_key(&key.key_id).unwrap())
            .unwrap();
    pk.verify(
        rsa256,
        b"x",
        &value,
        xroad_crypto::algorithm::EcdsaEncoding::Der,
    )
    .unwrap();
    assert!(matches!(
        service.sign("00", rsa256, d).await,
        Err(SignerError::KeyNotFound(_))
    ));
    signer.logout(SOFT_TOKEN_ID).unwrap();
    let err = service
        .sign_message(
            &key.key_id,
            builder.clone(),
            vec![("/message.xml".into(), d)],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SignerError::TokenNotActive(_)), "{err}");
}

#[test]
fn keys_at_rest_need_the_pin_and_nothing_secret_leaks() {
    let dir = tempfile::tempdir().unwrap();
    let signer = new_signer(dir.path());
    let key = signer
        .generate_key(SOFT_TOKEN_ID, KeyAlgorithm::Rsa(2048), "k")
        .unwrap();
    // Nothing in the signer directory holds the PIN or an unencrypted key.
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(PIN.len()).any(|w| w == PIN.as_bytes()),
            "{entry:?}"
        );
        assert!(
            !String::from_utf8_lossy(&bytes).contains("PRIVATE KEY"),
            "{entry:?}"
        );
        assert!(
            openssl::pkey::PKey::private_key_from_der(&bytes).is_err(),
            "{entry:?}"
        );
    }
    let p12 = std::fs::read(dir.path().join(format!("softtoken/{}.p12", key.key_id))).unwrap();
    let parsed = openssl::pkcs12::Pkcs12::from_der(&p12).unwrap();
    assert!(parsed.parse2("wrong").is_err());
    assert!(parsed.parse2(PIN).unwrap().pkey.is_some());

    // A reopened signer needs the PIN again; a wrong one is reported without itself.
    drop(signer);
    let signer = Signer::open(SignerConfig::new(dir.path())).unwrap();
    let d = DigestAlgorithm::Sha256.digest(b"x");
    let alg = SignatureAlgorithm::new(DigestAlgorithm::Sha256, SignMechanism::RsaPkcs1);
    assert!(matches!(
        signer.sign(&key.key_id, alg, d.as_bytes()),
        Err(SignerError::TokenNotActive(_))
    ));
    let err = signer
        .login(SOFT_TOKEN_ID, &Pin::new("Wrong-PIN-0815"))
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("Wrong-PIN-0815") && shown.contains("incorrect"),
        "{shown}"
    );
    assert_eq!(err.code(), "pin_incorrect");
    signer.login(SOFT_TOKEN_ID, &Pin::new(PIN)).unwrap();
    signer.sign(&key.key_id, alg, d.as_bytes()).unwrap();
    assert!(!format!("{signer:?} {:?}", signer.key_signer(&key.key_id).unwrap()).contains(PIN));

    // PIN change with the policy, then only the new PIN works.
    let strict = Signer::open(SignerConfig {
        pin_policy: xroad_signer::PinPolicy::Enforced,
        ..SignerConfig::new(dir.path())
    })
    .unwrap();
    let err = strict
        .change_pin(SOFT_TOKEN_ID, &Pin::new(PIN), &Pin::new("weak"))
        .unwrap_err();
    assert_eq!(err.code(), "token_pin_policy_failure");
    strict
        .change_pin(SOFT_TOKEN_ID, &Pin::new(PIN), &Pin::new("New-Secret-PIN-1"))
        .unwrap();
    strict.logout(SOFT_TOKEN_ID).unwrap();
    assert!(strict.login(SOFT_TOKEN_ID, &Pin::new(PIN)).is_err());
    strict
        .login(SOFT_TOKEN_ID, &Pin::new("New-Secret-PIN-1"))
        .unwrap();
    strict.sign(&key.key_id, alg, d.as_bytes()).unwrap();
    strict.delete_key(&key.key_id).unwrap();
    assert!(strict.keys().unwrap().is_empty());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
