//! An ECDSA-signed message signature end to end: an EC signing certificate from an openssl
//! test CA (EJBCA profile: C/O/CN), an OCSP response from `openssl ocsp`, raw `r‖s` values
//! in both the full-width and Java's stripped form.

mod support;
use support::pki;

use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use pki::Pki;
use xroad_crypto::algorithm::ecdsa_der_to_raw;
use xroad_crypto::signature::{self, Part, SignatureBuilder, SignedData};
use xroad_crypto::{DigestAlgorithm, SignatureAlgorithm};
use xroad_fault::Spelling;
use xroad_identifiers::ClientId;

fn pkcs8(pki: &Pki, name: &str) -> Vec<u8> {
    let pem = std::fs::read_to_string(pki.path(&format!("{name}.key"))).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

#[test]
fn ecdsa_signature_round_trip() {
    let pki = Pki::new();
    let opt = "ec_paramgen_curve:P-256";
    pki.issue_with(
        "ec-member",
        "ca",
        "/C=EE/O=BUSINESS/CN=ecmember",
        "10",
        "keyUsage=critical,nonRepudiation\n",
        &["-newkey", "ec", "-pkeyopt", opt],
    );
    std::fs::write(
        pki.path("index.txt"),
        "V\t351231235959Z\t\t0A\tunknown\t/C=EE/O=BUSINESS/CN=ecmember\n",
    )
    .unwrap();
    let ocsp = pki.respond("ec-member", "ocsp", &[]);
    let cert = pki.cert("ec-member.pem");
    let alg = SignatureAlgorithm::from_uri("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256")
        .unwrap();
    let message = b"<message/>";
    let digest = DigestAlgorithm::Sha512.digest(message);
    let prepared = SignatureBuilder::new(alg, Arc::clone(&cert))
        .with_ocsp_responses(vec![ocsp.der().to_vec()])
        .prepare(SignedData::Message(digest));
    let rng = ring::rand::SystemRandom::new();
    let der_key = pkcs8(&pki, "ec-member");
    let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &der_key,
        &rng,
    )
    .unwrap();
    let member = ClientId::member("EE", "BUSINESS", "ecmember").unwrap();
    let parts = [Part::new("/message.xml", digest)];
    let trust = pki.trust(&[]);
    // Several signatures, so that some have r or s with leading zero bytes: Java's raw form
    // strips them (the value is then shorter than 64 bytes) and must still verify.
    for _ in 0..16 {
        let der = signer.sign(&rng, prepared.signed_info()).unwrap();
        let raw = ecdsa_der_to_raw(der.as_ref()).unwrap();
        let xml = prepared.finish(&raw);
        signature::verify(&xml, &member, &parts, None, &trust, SystemTime::now())
            .unwrap_or_else(|e| panic!("{}: {}", e.fault_code(Spelling::Current), e.message()));
    }
    // A value for other bytes fails.
    let der = signer.sign(&rng, b"something else").unwrap();
    let xml = prepared.finish(&ecdsa_der_to_raw(der.as_ref()).unwrap());
    let e = signature::verify(&xml, &member, &parts, None, &trust, SystemTime::now()).unwrap_err();
    assert_eq!(e.fault_code(Spelling::Current), "invalid_signature_value");
    // The EJBCA profile names the member by C/O/CN: another member is refused.
    let other = ClientId::member("EE", "BUSINESS", "someone").unwrap();
    let der = signer.sign(&rng, prepared.signed_info()).unwrap();
    let xml = prepared.finish(&ecdsa_der_to_raw(der.as_ref()).unwrap());
    let e = signature::verify(&xml, &other, &parts, None, &trust, SystemTime::now()).unwrap_err();
    assert_eq!(e.fault_code(Spelling::Current), "incorrect_certificate");
}
