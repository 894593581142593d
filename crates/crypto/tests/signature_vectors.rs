//! The signature vectors of the Java implementation (`SignatureVerifierTest`), each verifying
//! or failing with the code the Java test expects.

mod support;
use support::vectors;

use std::sync::Arc;
use std::time::SystemTime;

use xroad_crypto::signature::{self, HashChainParts, Part};
use xroad_crypto::time::parse_instant;
use xroad_crypto::{ApprovedCa, CaCert, Certificate, DigestAlgorithm, TrustContext};
use xroad_fault::{Spelling, XRoadError};
use xroad_identifiers::ClientId;

const TEST_PROFILE: &str =
    "ee.ria.xroad.common.certificateprofile.impl.TestCertificateProfileInfoProvider";
const FIVRK_PROFILE: &str =
    "ee.ria.xroad.common.certificateprofile.impl.FiVRKCertificateProfileInfoProvider";

fn cert(rel: &str) -> Arc<Certificate> {
    Arc::new(
        Certificate::from_pem_or_der(&vectors::read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}")),
    )
}

/// The fixture of `SignatureVerifierTest`: instance EE, CA "Cyber" (root-ca) with the test
/// profile, its OCSP responder as `globalconf_good_v4` lists it (the `ocspsigner` certificate,
/// named like `consumer` but with another key), freshness 42 s.
fn cyber_trust() -> TrustContext {
    let responder = by_cn(
        &certs_in_shared_params("globalconf/globalconf_good_v4/EE/shared-params.xml"),
        "consumer",
    );
    let ca = CaCert::new(cert("certs/root-ca.pem")).with_ocsp_responder(responder);
    TrustContext::new(vec![approved("EE", ca, TEST_PROFILE)]).with_ocsp_freshness(42)
}

fn approved(instance: &str, top: CaCert, profile: &str) -> ApprovedCa {
    ApprovedCa {
        instance: instance.into(),
        name: "test".into(),
        top,
        intermediates: Vec::new(),
        profile_class: profile.into(),
        authentication_only: false,
    }
}

fn at(s: &str) -> SystemTime {
    parse_instant(s).unwrap()
}

fn member(instance: &str, class: &str, code: &str) -> ClientId {
    ClientId::member(instance, class, code).unwrap()
}

fn consumer() -> ClientId {
    member("EE", "BUSINESS", "consumer")
}

fn sha512(bytes: &[u8]) -> xroad_crypto::Digest {
    DigestAlgorithm::Sha512.digest(bytes)
}

fn code(e: &XRoadError) -> String {
    e.fault_code(Spelling::Current)
}

fn sig(rel: &str) -> Vec<u8> {
    vectors::read(&format!("signatures/{rel}"))
}

#[test]
fn verify_valid_signature() {
    let message = sig("common-test/message-0.xml");
    let parts = [Part::new("/message.xml", sha512(&message))];
    for file in [
        "common-test/sign-0.xml",
        "common-test/sign-0-old-format.xml",
    ] {
        let v = signature::verify(
            &sig(file),
            &consumer(),
            &parts,
            None,
            &cyber_trust(),
            at("2014-10-30T00:00:00Z"),
        )
        .unwrap_or_else(|e| panic!("{file}: {} {}", code(&e), e.message()));
        assert_eq!(v.signer, consumer());
    }
}

#[test]
fn verification_window_of_sign_0() {
    let message = sig("common-test/message-0.xml");
    let parts = [Part::new("/message.xml", sha512(&message))];
    let check = |t: &str| {
        signature::verify(
            &sig("common-test/sign-0.xml"),
            &consumer(),
            &parts,
            None,
            &cyber_trust(),
            at(t),
        )
        .map_err(|e| code(&e))
    };
    assert!(check("2014-10-02T13:25:34Z").is_ok());
    assert!(
        check("2017-09-09T09:15:53Z").is_ok(),
        "thisUpdate may be later than the instant"
    );
    assert_eq!(
        check("2014-10-02T13:25:33Z").unwrap_err(),
        "cannot_create_cert_path.internal_error"
    );
    assert_eq!(
        check("2017-09-09T09:15:54Z").unwrap_err(),
        "invalid_cert_path.incorrect_validation_info"
    );
}

#[test]
fn invalid_signer_name() {
    let message = sig("common-test/message-0.xml");
    let parts = [Part::new("/message.xml", sha512(&message))];
    let e = signature::verify(
        &sig("common-test/sign-0.xml"),
        &member("EE", "BUSINESS", "FOORBAR"),
        &parts,
        None,
        &cyber_trust(),
        at("2014-10-30T00:00:00Z"),
    )
    .unwrap_err();
    assert_eq!(code(&e), "incorrect_certificate");
    assert!(
        e.message().contains("MEMBER:EE/BUSINESS/consumer"),
        "{}",
        e.message()
    );
}

#[test]
fn invalid_attachment_hash() {
    let parts = [Part::new("/message.xml", sha512(b"foo"))];
    let e = signature::verify(
        &sig("common-test/sign-0.xml"),
        &consumer(),
        &parts,
        None,
        &cyber_trust(),
        at("2014-10-30T00:00:00Z"),
    )
    .unwrap_err();
    assert_eq!(code(&e), "invalid_signature_value");
}

#[test]
fn verify_valid_signature_hash_chain() {
    let message = sig("globalconf-impl/message-1.xml");
    let parts = [
        Part::new("/message.xml", sha512(&message)),
        Part::new("/attachment1", sha512(b"blaah")),
    ];
    let result = sig("globalconf-impl/hash-chain-result.xml");
    let chain = sig("globalconf-impl/hash-chain-1.xml");
    let hc = HashChainParts {
        result: &result,
        chain: &chain,
    };
    let trust = cyber_trust();
    signature::verify(
        &sig("globalconf-impl/batch-sig.xml"),
        &consumer(),
        &parts,
        Some(hc),
        &trust,
        at("2014-10-30T00:00:00Z"),
    )
    .unwrap_or_else(|e| panic!("{} {}", code(&e), e.message()));
    // An attachment the chain does not know, and a changed attachment.
    let extra = [parts[0], parts[1], Part::new("/attachment2", sha512(b"x"))];
    let e = signature::verify(
        &sig("globalconf-impl/batch-sig.xml"),
        &consumer(),
        &extra,
        Some(hc),
        &trust,
        at("2014-10-30T00:00:00Z"),
    )
    .unwrap_err();
    assert_eq!(code(&e), "malformed_signature.hashchain_unused_inputs");
    let changed = [parts[0], Part::new("/attachment1", sha512(b"blaah!"))];
    let e = signature::verify(
        &sig("globalconf-impl/batch-sig.xml"),
        &consumer(),
        &changed,
        Some(hc),
        &trust,
        at("2014-10-30T00:00:00Z"),
    )
    .unwrap_err();
    assert_eq!(code(&e), "malformed_signature.invalid_hash_chain");
    // Without the hash chain, the attachment is not covered.
    let e = signature::verify(
        &sig("globalconf-impl/batch-sig.xml"),
        &consumer(),
        &parts,
        None,
        &trust,
        at("2014-10-30T00:00:00Z"),
    )
    .unwrap_err();
    assert_eq!(code(&e), "malformed_signature");
}

/// The broken documents: each fails where and how Java's parser and schema check fail.
#[test]
fn broken_documents() {
    let cases = [
        ("globalconf-impl/empty.xml", "invalid_xml"),
        ("globalconf-impl/sign-0-malformed-xml.xml", "invalid_xml"),
        (
            "globalconf-impl/sign-0-no-signature.xml",
            "malformed_signature",
        ),
        (
            "globalconf-impl/sign-0-no-objectcontainer.xml",
            "malformed_signature",
        ),
        (
            "globalconf-impl/sign-0-schema-fail.xml",
            "malformed_signature",
        ),
        (
            "globalconf-impl/sign-0-no-signing-cert.xml",
            "malformed_signature",
        ),
        (
            "globalconf-impl/sign-0-invalid-signature-value.xml",
            "invalid_signature_value",
        ),
        (
            "globalconf-impl/sign-0-ocsp-no-responses.xml",
            "malformed_signature",
        ),
    ];
    for (file, expected) in cases {
        let e = signature::verify(
            &sig(file),
            &consumer(),
            &[],
            None,
            &cyber_trust(),
            at("2014-10-30T00:00:00Z"),
        )
        .expect_err(file);
        assert_eq!(code(&e), expected, "{file}: {}", e.message());
    }
}

/// The certificates of a shared-parameters file (base64 of DER or of PEM text).
fn certs_in_shared_params(rel: &str) -> Vec<Arc<Certificate>> {
    use base64::Engine;
    let xml = String::from_utf8(vectors::read(rel)).unwrap();
    xml.split("<cert>")
        .skip(1)
        .filter_map(|p| p.split("</cert>").next())
        .filter_map(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.split_whitespace().collect::<String>())
                .ok()
        })
        .filter_map(|bytes| Certificate::from_pem_or_der(&bytes).ok())
        .map(Arc::new)
        .collect()
}

fn by_cn(certs: &[Arc<Certificate>], cn: &str) -> Arc<Certificate> {
    certs
        .iter()
        .find(|c| c.subject().rfc2253().contains(&format!("CN={cn}")))
        .cloned()
        .unwrap_or_else(|| panic!("no {cn}"))
}

/// Java's test answers every CA lookup with its fixture CA; here the issuer of the `Test Org`
/// signatures, `AdminCA1` (listed for instance `bar` in `globalconf_good_v4`), is approved
/// for EE with the test profile.
fn extra_certs_trust() -> TrustContext {
    let admin_ca = by_cn(
        &certs_in_shared_params("globalconf/globalconf_good_v4/bar/shared-params.xml"),
        "AdminCA1",
    );
    TrustContext::new(vec![approved("EE", CaCert::new(admin_ca), TEST_PROFILE)])
        .with_ocsp_freshness(42)
}

#[test]
fn extra_certificates() {
    let signer = member("EE", "BUSINESS", "Test Org");
    for file in [
        "globalconf-impl/extra-certs-missing-id.xml",
        "globalconf-impl/extra-certs-missing-cert.xml",
        "globalconf-impl/extra-certs-digest-invalid.xml",
    ] {
        let xml = sig(file);
        let e = signature::verify(
            &xml,
            &signer,
            &[],
            None,
            &extra_certs_trust(),
            at("2014-10-30T00:00:00Z"),
        )
        .expect_err(file);
        assert_eq!(code(&e), "malformed_signature", "{file}: {}", e.message());
    }
}

/// The DEV instance of `globalconf_good2_v3`: CA "Test CA", its OCSP responder, FiVRK profile.
fn dev_trust() -> TrustContext {
    let certs = certs_in_shared_params("globalconf/globalconf_good2_v3/DEV/shared-params.xml");
    let ca = CaCert::new(by_cn(&certs, "Test CA")).with_ocsp_responder(by_cn(&certs, "Test OCSP"));
    TrustContext::new(vec![approved("DEV", ca, FIVRK_PROFILE)]).with_ocsp_freshness(3600)
}

#[test]
fn non_batch_signature() {
    let dir = "globalconf-impl/non-batch-sig";
    let message = sig(&format!("{dir}/message.xml"));
    let attachment = sig(&format!("{dir}/attachment1"));
    let signer = member("DEV", "COM", "4321");
    let xml = sig(&format!("{dir}/signatures.xml"));
    let parts = [
        Part::new("/message.xml", sha512(&message)),
        Part::new("/attachment1", sha512(&attachment)),
    ];
    for t in [
        "2024-07-05T09:07:29Z",
        "2024-07-09T00:00:00Z",
        "2024-07-09T08:36:55Z",
    ] {
        signature::verify(&xml, &signer, &parts, None, &dev_trust(), at(t))
            .unwrap_or_else(|e| panic!("{t}: {} {}", code(&e), e.message()));
    }
    let e = signature::verify(
        &xml,
        &signer,
        &parts,
        None,
        &dev_trust(),
        at("2024-07-09T08:36:56Z"),
    )
    .unwrap_err();
    assert_eq!(code(&e), "invalid_cert_path.incorrect_validation_info");
    let wrong = [parts[0], Part::new("/attachment1", sha512(&[1]))];
    let e = signature::verify(
        &xml,
        &signer,
        &wrong,
        None,
        &dev_trust(),
        at("2024-07-09T00:00:00Z"),
    )
    .unwrap_err();
    assert_eq!(code(&e), "invalid_signature_value");
}
