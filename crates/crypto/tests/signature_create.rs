//! Signatures we create: byte-compatible with Java's (the canonical `SignedInfo` of a Java
//! vector rebuilt by our builder carries Java's signature value), accepted by our verifier
//! and by xmlsec1, and rejected after any tampering with the right code.

mod support;
use support::vectors;

use std::process::Command;
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use xroad_crypto::hashchain;
use xroad_crypto::signature::{
    self, HashChainParts, Part, PreparedSignature, SignatureBuilder, SignedData,
};
use xroad_crypto::time::parse_instant;
use xroad_crypto::{
    ApprovedCa, CaCert, Certificate, DigestAlgorithm, SignatureAlgorithm, TrustContext,
};
use xroad_fault::Spelling;
use xroad_identifiers::ClientId;

const SHA512: DigestAlgorithm = DigestAlgorithm::Sha512;

fn cert(rel: &str) -> Arc<Certificate> {
    Arc::new(Certificate::from_pem_or_der(&vectors::read(rel)).unwrap())
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(
            s.split_whitespace()
                .collect::<String>()
                .replace("&#13;", ""),
        )
        .unwrap()
}

/// The text of the first `<tag ...>text</tag>` in `xml`.
fn element_text<'a>(xml: &'a str, tag: &str) -> &'a str {
    let start = xml.find(&format!("<{tag}")).unwrap();
    let body = &xml[start..];
    let open_end = body.find('>').unwrap() + 1;
    let close = body.find(&format!("</{tag}>")).unwrap();
    &body[open_end..close]
}

fn sign_0() -> String {
    String::from_utf8(vectors::read("signatures/common-test/sign-0.xml")).unwrap()
}

/// The DER OCSP response sign-0.xml carries for the consumer certificate.
fn sign_0_ocsp() -> Vec<u8> {
    b64(element_text(&sign_0(), "xades:EncapsulatedOCSPValue"))
}

fn consumer_builder() -> SignatureBuilder {
    let alg =
        SignatureAlgorithm::from_uri("http://www.w3.org/2001/04/xmldsig-more#rsa-sha512").unwrap();
    SignatureBuilder::new(alg, cert("certs/consumer.pem"))
        .with_ocsp_responses(vec![sign_0_ocsp()])
        .with_signing_time(parse_instant("2017-09-08T09:15:11.580Z").unwrap())
}

#[test]
fn rebuilt_signed_info_of_java_carries_javas_signature_value() {
    let message = vectors::read("signatures/common-test/message-0.xml");
    let prepared = consumer_builder().prepare(SignedData::Message(SHA512.digest(&message)));
    let java_value = b64(element_text(&sign_0(), "ds:SignatureValue"));
    let key = cert("certs/consumer.pem");
    let alg =
        SignatureAlgorithm::from_uri("http://www.w3.org/2001/04/xmldsig-more#rsa-sha512").unwrap();
    key.public_key()
        .unwrap()
        .verify(
            alg,
            prepared.signed_info(),
            &java_value,
            xroad_crypto::algorithm::EcdsaEncoding::Raw,
        )
        .expect("our canonical SignedInfo differs from Java's");
}

/// Signs with the consumer's private key (PKCS#1 PEM) over the canonical SignedInfo.
fn sign(prepared: &PreparedSignature) -> Vec<u8> {
    let pem = String::from_utf8(vectors::read("certs/consumer.key")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let key = ring::signature::RsaKeyPair::from_der(&b64(&body)).unwrap();
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA512,
        &ring::rand::SystemRandom::new(),
        prepared.signed_info(),
        &mut sig,
    )
    .unwrap();
    sig
}

fn trust() -> TrustContext {
    let shared = String::from_utf8(vectors::read(
        "globalconf/globalconf_good_v4/EE/shared-params.xml",
    ))
    .unwrap();
    let responder = shared
        .split("<cert>")
        .skip(1)
        .filter_map(|p| p.split("</cert>").next())
        .map(|c| Arc::new(Certificate::from_der(&b64(c)).unwrap()))
        .find(|c| c.subject().rfc2253().contains("CN=consumer"))
        .unwrap();
    let ca = CaCert::new(cert("certs/root-ca.pem")).with_ocsp_responder(responder);
    TrustContext::new(vec![ApprovedCa {
        instance: "EE".into(),
        name: "Cyber".into(),
        top: ca,
        intermediates: vec![],
        profile_class:
            "ee.ria.xroad.common.certificateprofile.impl.TestCertificateProfileInfoProvider".into(),
        authentication_only: false,
    }])
    .with_ocsp_freshness(42)
}

fn at() -> SystemTime {
    parse_instant("2014-10-30T00:00:00Z").unwrap()
}

fn consumer() -> ClientId {
    ClientId::member("EE", "BUSINESS", "consumer").unwrap()
}

fn code(e: &xroad_fault::XRoadError) -> String {
    e.fault_code(Spelling::Current)
}

const MESSAGE: &[u8] = b"<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Body>hi</SOAP-ENV:Body></SOAP-ENV:Envelope>";

fn simple_signature() -> Vec<u8> {
    let prepared = consumer_builder().prepare(SignedData::Message(SHA512.digest(MESSAGE)));
    prepared.finish(&sign(&prepared))
}

#[test]
fn created_simple_signature_verifies() {
    let xml = simple_signature();
    let text = String::from_utf8(xml.clone()).unwrap();
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?><asic:XAdESSignatures xmlns:asic=\"http://uri.etsi.org/02918/v1.2.1#\""));
    assert!(
        text.contains("><ds:Signature Id=\"signature\">\n<ds:SignedInfo>"),
        "ds:Signature must be the first child"
    );
    let parts = [Part::new("/message.xml", SHA512.digest(MESSAGE))];
    let v = signature::verify(&xml, &consumer(), &parts, None, &trust(), at()).unwrap();
    assert_eq!(v.signing_time.as_deref(), Some("2017-09-08T09:15:11.580Z"));
}

#[test]
fn created_hash_chain_signature_verifies() {
    let m = SHA512.digest(MESSAGE);
    let a = SHA512.digest(b"attachment bytes");
    let docs = hashchain::build(SHA512, &[&[("/message.xml", m), ("/attachment1", a)]]).unwrap();
    let prepared =
        consumer_builder().prepare(SignedData::HashChainResult(SHA512.digest(&docs.result)));
    let xml = prepared.finish(&sign(&prepared));
    assert!(String::from_utf8_lossy(&xml)
        .contains("<xades:MimeType>application/hash-chain-result</xades:MimeType>"));
    let parts = [Part::new("/message.xml", m), Part::new("/attachment1", a)];
    let hc = HashChainParts {
        result: &docs.result,
        chain: &docs.chains[0],
    };
    signature::verify(&xml, &consumer(), &parts, Some(hc), &trust(), at()).unwrap();
    // A changed attachment breaks the chain; a tampered chain step too.
    let changed = [parts[0], Part::new("/attachment1", SHA512.digest(b"other"))];
    let e = signature::verify(&xml, &consumer(), &changed, Some(hc), &trust(), at()).unwrap_err();
    assert_eq!(code(&e), "malformed_signature.invalid_hash_chain");
    let chain = String::from_utf8(docs.chains[0].clone()).unwrap();
    let tampered = chain.replacen(&a.to_base64(), &SHA512.digest(b"x").to_base64(), 1);
    let hc2 = HashChainParts {
        result: &docs.result,
        chain: tampered.as_bytes(),
    };
    // The chain's own DataRef value is replaced by the received digest, so a changed value
    // alone is harmless; a changed structure is not.
    signature::verify(&xml, &consumer(), &parts, Some(hc2), &trust(), at()).unwrap();
    let restructured = chain.replace("/attachment1", "/attachment2");
    let hc3 = HashChainParts {
        result: &docs.result,
        chain: restructured.as_bytes(),
    };
    let e = signature::verify(&xml, &consumer(), &parts, Some(hc3), &trust(), at()).unwrap_err();
    assert!(code(&e).starts_with("malformed_signature."), "{}", code(&e));
    let mut result = docs.result.clone();
    let i = result.iter().position(|&b| b == b'<').unwrap() + 60;
    result[i] ^= 1;
    let hc4 = HashChainParts {
        result: &result,
        chain: &docs.chains[0],
    };
    assert!(signature::verify(&xml, &consumer(), &parts, Some(hc4), &trust(), at()).is_err());
}

/// Flips one character inside the first occurrence of `tag`'s text and expects `expected`.
fn tamper(xml: &[u8], tag: &str, expected: &[&str]) {
    let text = String::from_utf8(xml.to_vec()).unwrap();
    let start = text.find(&format!("<{tag}")).unwrap();
    let body_start = start + text[start..].find('>').unwrap() + 1;
    // A base64 character well inside the value: swap it for another base64 character.
    let pos = body_start + 12;
    let mut bytes = xml.to_vec();
    bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
    let parts = [Part::new("/message.xml", SHA512.digest(MESSAGE))];
    let e = signature::verify(&bytes, &consumer(), &parts, None, &trust(), at())
        .expect_err(&format!("tampered {tag} verified"));
    assert!(
        expected.contains(&code(&e).as_str()),
        "{tag}: {} ({})",
        code(&e),
        e.message()
    );
}

#[test]
fn tampering_is_rejected_with_javas_codes() {
    let xml = simple_signature();
    tamper(&xml, "ds:DigestValue", &["invalid_signature_value"]);
    tamper(&xml, "ds:SignatureValue", &["invalid_signature_value"]);
    tamper(&xml, "xades:SigningTime", &["invalid_signature_value"]);
    tamper(&xml, "ds:X509IssuerName", &["invalid_signature_value"]);
    // A changed certificate either no longer parses, or no longer matches the signature.
    tamper(
        &xml,
        "ds:X509Certificate",
        &[
            "incorrect_certificate",
            "invalid_signature_value",
            "internal_error",
            "cannot_create_cert_path.internal_error",
        ],
    );
    tamper(
        &xml,
        "xades:EncapsulatedOCSPValue",
        &[
            "malformed_signature",
            "invalid_cert_path.incorrect_validation_info",
        ],
    );
    // A changed message part.
    let parts = [Part::new("/message.xml", SHA512.digest(b"<other/>"))];
    let e = signature::verify(&xml, &consumer(), &parts, None, &trust(), at()).unwrap_err();
    assert_eq!(code(&e), "invalid_signature_value");
    // An extra part the signature does not cover.
    let parts = [
        Part::new("/message.xml", SHA512.digest(MESSAGE)),
        Part::new("/attachment1", SHA512.digest(b"x")),
    ];
    let e = signature::verify(&xml, &consumer(), &parts, None, &trust(), at()).unwrap_err();
    assert_eq!(code(&e), "malformed_signature");
    // Every byte of what is signed or checked (SignedInfo, SignedProperties, the certificate,
    // the OCSP response): a change is rejected. (Ids of unsigned elements are free, as in Java.)
    let parts = [Part::new("/message.xml", SHA512.digest(MESSAGE))];
    let text = String::from_utf8_lossy(&xml).into_owned();
    let region = |open: &str, close: &str| {
        let a = text.find(open).unwrap();
        a..text[a..].find(close).unwrap() + a + close.len()
    };
    let regions = [
        region("<ds:SignedInfo>", "</ds:SignedInfo>"),
        region("<xades:SignedProperties", "</xades:SignedProperties>"),
        region("<ds:X509Certificate>", "</ds:X509Certificate>"),
        {
            let r = region("\"ocsp-response-1\">", "</xades:EncapsulatedOCSPValue>");
            r.start + 18..r.end
        },
    ];
    for i in regions.into_iter().flatten() {
        let mut b = xml.clone();
        b[i] = if b[i] == b'x' { b'y' } else { b'x' };
        if let Ok(v) = signature::verify(&b, &consumer(), &parts, None, &trust(), at()) {
            let context =
                String::from_utf8_lossy(&xml[i.saturating_sub(60)..i + 10]).replace('\n', "~");
            panic!(
                "byte {i} ({:?}) changed and still verified as {}: {context}",
                xml[i] as char, v.signer
            );
        }
    }
}

#[test]
fn xmlsec1_verifies_our_signature() {
    let Ok(out) = Command::new("xmlsec1").arg("--version").output() else {
        panic!("xmlsec1 is not installed (Debian package xmlsec1; .ci/run installs it)");
    };
    assert!(out.status.success());
    let dir = std::env::temp_dir().join(format!("xroad-xmlsec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sig_path = dir.join("signature.xml");
    let msg_path = dir.join("message.xml");
    std::fs::write(&sig_path, simple_signature()).unwrap();
    std::fs::write(&msg_path, MESSAGE).unwrap();
    let run = |message: &std::path::Path| {
        Command::new("xmlsec1")
            .arg("--verify")
            .arg("--url-map:/message.xml")
            .arg(message)
            .args([
                "--id-attr:Id",
                "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
            ])
            .arg("--pubkey-cert-pem")
            .arg(vectors::path("certs/consumer.pem"))
            .args([
                "--enabled-key-data",
                "x509",
                "--verification-gmt-time",
                "2015-01-01 00:00:00",
            ])
            .arg("--trusted-pem")
            .arg(vectors::path("certs/root-ca.pem"))
            .arg(&sig_path)
            .output()
            .unwrap()
    };
    let ok = run(&msg_path);
    let stderr = String::from_utf8_lossy(&ok.stderr);
    assert!(
        ok.status.success() && stderr.contains("SignedInfo References (ok/all): 2/2"),
        "{stderr}"
    );
    // And xmlsec1 rejects it when the message changes.
    let other = dir.join("other.xml");
    std::fs::write(&other, b"<other/>").unwrap();
    assert!(!run(&other).status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
