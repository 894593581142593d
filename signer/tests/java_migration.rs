//! Migration: a Java signer directory built with openssl (PKCS#12 files named by key id, the
//! `.softtoken.p12` PIN verifier, a `keyconf.xml` per the schema) is imported and signs;
//! autologin then logs the token in from `XROAD_TOKEN_PIN`, and a wrong PIN is reported once.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use support::{Pki, FIVRK};
use xroad_crypto::signature::{self, HashChainParts, Part, SignatureBuilder};
use xroad_crypto::{DigestAlgorithm, SignMechanism, SignatureAlgorithm};
use xroad_identifiers::ClientId;
use xroad_signer::autologin::{autologin, collect_pins};
use xroad_signer::{
    KeyUsage, Pin, ServiceConfig, Signer, SignerConfig, SignerError, SignerHandle, SOFT_TOKEN_ID,
};

const PIN: &str = "Java-PIN-1234";
const SIGN_ID: &str = "1342B84B4829BB79226AB268B4D8E70B01068613";
const AUTH_ID: &str = "DF9242D3CBDE6DAC8058D2878340C3B527041FD0";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A key and its Java soft-token file `softtoken/<alias>.p12`; returns the DER public key.
fn java_key(pki: &Pki, java: &Path, name: &str, alias: &str) -> Vec<u8> {
    let key = format!("{name}.key");
    pki.openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &key,
    ]);
    pki.openssl(&[
        "req",
        "-x509",
        "-key",
        &key,
        "-subj",
        "/CN=KeyHolder",
        "-days",
        "3650",
        "-out",
        &format!("{name}.holder.pem"),
    ]);
    let out = java.join("softtoken").join(format!("{alias}.p12"));
    pki.openssl(&[
        "pkcs12",
        "-export",
        "-inkey",
        &key,
        "-in",
        &format!("{name}.holder.pem"),
        "-name",
        alias,
        "-passout",
        &format!("pass:{PIN}"),
        "-out",
        out.to_str().unwrap(),
    ]);
    pki.openssl(&[
        "pkey",
        "-in",
        &key,
        "-pubout",
        "-outform",
        "DER",
        "-out",
        &format!("{name}.pub.der"),
    ]);
    std::fs::read(pki.path(&format!("{name}.pub.der"))).unwrap()
}

fn java_signer_dir(pki: &Pki, java: &Path) -> Vec<u8> {
    std::fs::create_dir_all(java.join("softtoken")).unwrap();
    java_key(pki, java, "pin", "pin");
    std::fs::rename(
        java.join("softtoken/pin.p12"),
        java.join("softtoken/.softtoken.p12"),
    )
    .unwrap();
    let sign_pub = java_key(pki, java, "sign", SIGN_ID);
    let auth_pub = java_key(pki, java, "auth", AUTH_ID);
    pki.openssl(&[
        "req",
        "-new",
        "-key",
        "sign.key",
        "-subj",
        "/C=FI/O=Org/serialNumber=DEV\\/SS0\\/COM/CN=1234",
        "-out",
        "sign.csr",
    ]);
    pki.write("sign.ext", "keyUsage=critical,nonRepudiation\n");
    pki.sign_csr("sign.csr", "sign.pem", "sign.ext", "0x40");
    pki.openssl(&[
        "x509", "-in", "sign.pem", "-outform", "DER", "-out", "sign.der",
    ]);
    let cert = std::fs::read(pki.path("sign.der")).unwrap();
    let keyconf = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<ns3:keyConf xmlns:ns2="http://x-road.eu/xsd/identifiers" xmlns:ns3="http://x-road.eu/xsd/xroad.xsd">
    <device>
        <deviceType>softToken</deviceType>
        <friendlyName>softToken-0</friendlyName>
        <id>0</id>
        <pinIndex>0</pinIndex>
        <key usage="AUTHENTICATION">
            <friendlyName>Auth key</friendlyName>
            <label>Auth key</label>
            <keyId>{AUTH_ID}</keyId>
            <publicKey>{}</publicKey>
            <signMechanismName>CKM_RSA_PKCS</signMechanismName>
        </key>
        <key usage="SIGNING">
            <friendlyName>Sign key</friendlyName>
            <label>Sign key</label>
            <keyId>{SIGN_ID}</keyId>
            <publicKey>{}</publicKey>
            <cert active="true" id="15A0AFEE2602D2846621118997E268F5FA843C94">
                <memberId ns2:objectType="MEMBER">
                    <ns2:xRoadInstance>DEV</ns2:xRoadInstance>
                    <ns2:memberClass>COM</ns2:memberClass>
                    <ns2:memberCode>1234</ns2:memberCode>
                </memberId>
                <contents>{}</contents>
                <status>registered</status>
                <nextRenewalTime>2045-10-17T22:11:04.000Z</nextRenewalTime>
            </cert>
            <signMechanismName>CKM_RSA_PKCS</signMechanismName>
        </key>
    </device>
</ns3:keyConf>
"#,
        b64(&auth_pub),
        b64(&sign_pub),
        b64(&cert)
    );
    std::fs::write(java.join("keyconf.xml"), keyconf).unwrap();
    cert
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_java_signer_directory_imports_and_signs() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let java = dir.path().join("java-signer");
    java_signer_dir(&pki, &java);
    let ours = dir.path().join("signer");
    let signer = Arc::new(Signer::open(SignerConfig::new(&ours)).unwrap());

    let err = signer.import_java(&java, &Pin::new("wrong")).unwrap_err();
    assert!(matches!(err, SignerError::PinIncorrect(_)), "{err}");
    assert!(
        !ours.join("keyconf.xml").exists(),
        "nothing is written on a wrong PIN"
    );

    let report = signer.import_java(&java, &Pin::new(PIN)).unwrap();
    assert_eq!(report.keys.len(), 2);
    assert_eq!(report.certs, 1);
    let keys = signer.keys().unwrap();
    let sign = keys.iter().find(|k| k.key_id == SIGN_ID).unwrap();
    assert_eq!(sign.usage, Some(KeyUsage::Signing));
    assert!(sign.available);
    // A second import changes nothing.
    assert_eq!(
        signer
            .import_java(&java, &Pin::new(PIN))
            .unwrap()
            .skipped
            .len(),
        2
    );

    // The imported identity signs, and our verifier accepts it.
    let member = ClientId::member("DEV", "COM", "1234").unwrap();
    let info = signer.member_signing_info(&member).unwrap();
    assert_eq!(info.key_id, SIGN_ID);
    pki.index(&[("40", "/CN=x", false)]);
    let ocsp = pki.ocsp_response("sign.pem");
    let trust = pki.trust("DEV", FIVRK);
    let service = SignerHandle::spawn(signer.clone(), ServiceConfig::default());
    let alg = SignatureAlgorithm::new(DigestAlgorithm::Sha512, SignMechanism::RsaPkcs1);
    let builder =
        Arc::new(SignatureBuilder::new(alg, info.cert.clone()).with_ocsp_responses(vec![ocsp]));
    let d = DigestAlgorithm::Sha512.digest(b"<m/>");
    let a = DigestAlgorithm::Sha512.digest(b"attachment");
    let parts = vec![
        ("/message.xml".to_owned(), d),
        ("/attachment1".to_owned(), a),
    ];
    let signed = service.sign_message(SIGN_ID, builder, parts).await.unwrap();
    let hc = signed.hash_chain.as_ref().map(|h| HashChainParts {
        result: &h.result,
        chain: &h.chain,
    });
    signature::verify(
        &signed.signature,
        &member,
        &[Part::new("/message.xml", d), Part::new("/attachment1", a)],
        hc,
        &trust,
        SystemTime::now(),
    )
    .unwrap();

    // Our directory keeps Java's layout: a Java signer could read it back.
    assert!(ours.join(format!("softtoken/{SIGN_ID}.p12")).is_file());
    assert!(ours.join("softtoken/.softtoken.p12").is_file());

    // Autologin after a restart: XROAD_TOKEN_PIN; a wrong PIN is reported once, at once.
    drop(service);
    let restarted = Arc::new(Signer::open(SignerConfig::new(&ours)).unwrap());
    let absent = dir.path().join("no-autologin-file");
    let wrong = collect_pins(&[("XROAD_TOKEN_PIN".into(), "Wrong-0000".into())], &absent).unwrap();
    let started = Instant::now();
    let outcome = autologin(restarted.clone(), wrong, Duration::from_secs(3), 10).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a wrong PIN is not retried"
    );
    assert!(matches!(
        outcome[0].result,
        Err(SignerError::PinIncorrect(_))
    ));
    let pins = collect_pins(&[("XROAD_TOKEN_PIN".into(), PIN.into())], &absent).unwrap();
    let outcome = autologin(restarted.clone(), pins, Duration::from_secs(3), 10).await;
    assert!(outcome[0].result.is_ok());
    assert!(restarted
        .tokens()
        .unwrap()
        .iter()
        .any(|t| t.id == SOFT_TOKEN_ID && t.active));
    restarted.sign(SIGN_ID, alg, d.as_bytes()).unwrap();
}
