//! OCSP against a real responder: `openssl ocsp` answering requests our builder made, for a
//! test PKI made with `openssl` in the test. Good, revoked, unknown, stale, expired,
//! wrongly signed and unauthorised responses each get Java's verdict and code.

mod support;
use support::pki;

use std::path::Path;
use std::time::{Duration, SystemTime};

use pki::Pki;
use xroad_crypto::ocsp::{CertStatus, OcspResponse};

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn good_responses_verify_by_name_and_by_key() {
    let pki = Pki::new();
    let now = SystemTime::now();
    let resp = pki.respond("member", "ocsp", &["-ndays", "1"]);
    assert_eq!(resp.status(), CertStatus::Good);
    assert!(resp.next_update().is_some());
    // Delegated by the CA (EKU OCSPSigning), and configured in global configuration.
    pki.verify(&resp, "member", &pki.trust(&[]), now).unwrap();
    pki.verify(&resp, "member", &pki.trust(&["ocsp"]), now)
        .unwrap();
    // Responder identified by key hash.
    let by_key = pki.respond("member", "ocsp", &["-resp_key_id"]);
    pki.verify(&by_key, "member", &pki.trust(&[]), now).unwrap();
    // The CA answering for itself.
    let by_ca = pki.respond("member", "ca", &[]);
    pki.verify(&by_ca, "member", &pki.trust(&[]), now).unwrap();
    // X-Road accepts a thisUpdate later than the instant (no upper bound).
    pki.verify(
        &resp,
        "member",
        &pki.trust(&[]),
        now - Duration::from_secs(86_400),
    )
    .unwrap();
}

#[test]
fn ecdsa_responders_verify() {
    let pki = Pki::new();
    let responder = "keyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\n";
    for (name, curve) in [("ocsp-p256", "P-256"), ("ocsp-p384", "P-384")] {
        let opt = format!("ec_paramgen_curve:{curve}");
        pki.issue_with(
            name,
            "ca",
            &format!("/CN={name}"),
            "9",
            responder,
            &["-newkey", "ec", "-pkeyopt", &opt],
        );
        let resp = pki.respond("member", name, &[]);
        pki.verify(&resp, "member", &pki.trust(&[]), SystemTime::now())
            .unwrap_or_else(|e| panic!("{curve}: {e}"));
    }
}

#[test]
fn revoked_and_unknown_are_cert_validation_errors() {
    let pki = Pki::new();
    let now = SystemTime::now();
    let revoked = pki.respond("revoked", "ocsp", &[]);
    assert!(matches!(revoked.status(), CertStatus::Revoked(_)));
    let e = pki
        .verify(&revoked, "revoked", &pki.trust(&[]), now)
        .unwrap_err();
    assert!(e.starts_with("cert_validation: OCSP response indicates certificate status is REVOKED (date: 2024-01-01 00:00:00)"), "{e}");
    let unknown = pki.respond("unlisted", "ocsp", &[]);
    let e = pki
        .verify(&unknown, "unlisted", &pki.trust(&[]), now)
        .unwrap_err();
    assert_eq!(
        e,
        "cert_validation: OCSP response indicates certificate status is UNKNOWN"
    );
}

#[test]
fn stale_and_expired_responses_are_incorrect_validation_info() {
    let pki = Pki::new();
    let now = SystemTime::now();
    let resp = pki.respond("member", "ocsp", &["-nmin", "1"]);
    // thisUpdate more than ocspFreshnessSeconds (3600) before the instant.
    let e = pki
        .verify(
            &resp,
            "member",
            &pki.trust(&[]).with_verify_next_update(false),
            now + Duration::from_secs(7200),
        )
        .unwrap_err();
    assert!(
        e.starts_with("incorrect_validation_info: OCSP response is too old"),
        "{e}"
    );
    // nextUpdate passed: refused only while verifyNextUpdate is on.
    let later = now + Duration::from_secs(600);
    let e = pki
        .verify(&resp, "member", &pki.trust(&[]), later)
        .unwrap_err();
    assert!(
        e.starts_with("incorrect_validation_info: OCSP nextUpdate is too old"),
        "{e}"
    );
    pki.verify(
        &resp,
        "member",
        &pki.trust(&[]).with_verify_next_update(false),
        later,
    )
    .unwrap();
}

#[test]
fn wrongly_signed_unauthorised_and_foreign_responses_are_refused() {
    let pki = Pki::new();
    let now = SystemTime::now();
    // A changed byte in the signature (the last bytes, as no certificate is embedded), or
    // in the responder's embedded certificate (no longer issued by the CA).
    pki.respond("member", "ocsp", &["-resp_no_certs"]);
    let mut der = std::fs::read(pki.path("resp.der")).unwrap();
    let last = der.len() - 10;
    der[last] ^= 0x01;
    let tampered = OcspResponse::from_der(&der).unwrap();
    let e = pki
        .verify(&tampered, "member", &pki.trust(&["ocsp"]), now)
        .unwrap_err();
    assert_eq!(
        e,
        "incorrect_validation_info: Signature on OCSP response is not valid"
    );
    pki.respond("member", "ocsp", &[]);
    let mut der = std::fs::read(pki.path("resp.der")).unwrap();
    let last = der.len() - 10;
    der[last] ^= 0x01;
    let tampered = OcspResponse::from_der(&der).unwrap();
    let e = pki
        .verify(&tampered, "member", &pki.trust(&[]), now)
        .unwrap_err();
    assert_eq!(
        e,
        "incorrect_validation_info: OCSP responder is not authorized for given CA"
    );
    // Signed by another CA's responder: found (embedded), valid, but not authorised.
    let foreign = pki.respond("member", "other-ocsp", &[]);
    let e = pki
        .verify(&foreign, "member", &pki.trust(&[]), now)
        .unwrap_err();
    assert_eq!(
        e,
        "incorrect_validation_info: OCSP responder is not authorized for given CA"
    );
    // Issued by the CA but without EKU OCSPSigning: not authorised unless configured.
    let plain = pki.respond("member", "no-eku", &[]);
    let e = pki
        .verify(&plain, "member", &pki.trust(&[]), now)
        .unwrap_err();
    assert_eq!(
        e,
        "incorrect_validation_info: OCSP responder is not authorized for given CA"
    );
    pki.verify(&plain, "member", &pki.trust(&["no-eku"]), now)
        .unwrap();
    // A responder certificate that is not embedded and not known.
    let hidden = pki.respond("member", "other-ocsp", &["-resp_no_certs"]);
    let e = pki
        .verify(&hidden, "member", &pki.trust(&[]), now)
        .unwrap_err();
    assert_eq!(
        e,
        "incorrect_validation_info: Could not find OCSP certificate for responder ID"
    );
    // A good response about another certificate.
    let good = pki.respond("member", "ocsp", &[]);
    let e = pki
        .verify(&good, "revoked", &pki.trust(&[]), now)
        .unwrap_err();
    assert_eq!(
        e,
        "incorrect_validation_info: OCSP response does not apply to certificate (sn = 4)"
    );
}

#[test]
fn sha256_cert_ids_do_not_match_like_in_java() {
    let pki = Pki::new();
    pki.openssl(&[
        "ocsp",
        "-issuer",
        path_str(&pki.path("ca.pem")),
        "-sha256",
        "-cert",
        path_str(&pki.path("member.pem")),
        "-no_nonce",
        "-reqout",
        "req256.der",
    ]);
    let resp = pki.respond_to("req256.der", "ocsp", &[]);
    let e = pki
        .verify(&resp, "member", &pki.trust(&[]), SystemTime::now())
        .unwrap_err();
    assert!(e.contains("does not apply to certificate"), "{e}");
}

#[test]
fn non_successful_and_garbage_responses_are_refused() {
    // responseStatus tryLater (3), no responseBytes.
    let e = OcspResponse::from_der(&[0x30, 0x03, 0x0a, 0x01, 0x03]).unwrap_err();
    assert!(e.message().contains("tryLater"), "{}", e.message());
    assert!(OcspResponse::from_der(b"not DER").is_err());
    assert!(OcspResponse::from_der(&[]).is_err());
}
