//! Fixtures shared by the criterion benches and the instruction counter
//! (`benches/instructions`), so that both measure the same inputs.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use xroad_crypto::signature::SignatureBuilder;
use xroad_crypto::time::parse_instant;
use xroad_crypto::{ApprovedCa, CaCert, Certificate, SignatureAlgorithm, TrustContext};

/// A typical X-Road 4.0 request of about 1.2 KB.
pub fn request() -> Vec<u8> {
    let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">
  <SOAP-ENV:Header>
    <xrd:client id:objectType="SUBSYSTEM">
      <id:xRoadInstance>EE</id:xRoadInstance>
      <id:memberClass>GOV</id:memberClass>
      <id:memberCode>70000001</id:memberCode>
      <id:subsystemCode>consumer</id:subsystemCode>
    </xrd:client>
    <xrd:service id:objectType="SERVICE">
      <id:xRoadInstance>EE</id:xRoadInstance>
      <id:memberClass>GOV</id:memberClass>
      <id:memberCode>70000002</id:memberCode>
      <id:subsystemCode>population</id:subsystemCode>
      <id:serviceCode>getPerson</id:serviceCode>
      <id:serviceVersion>v1</id:serviceVersion>
    </xrd:service>
    <xrd:id>4894e35d-bf0f-44a6-867a-8e51f1daa7e0</xrd:id>
    <xrd:userId>EE37702211234</xrd:userId>
    <xrd:protocolVersion>4.0</xrd:protocolVersion>
  </SOAP-ENV:Header>
  <SOAP-ENV:Body>
    <ns1:getPerson xmlns:ns1="http://pop.x-road.eu">
      <ns1:request>
        <ns1:personalCode>37702211234</ns1:personalCode>
      </ns1:request>
    </ns1:getPerson>
  </SOAP-ENV:Body>
</SOAP-ENV:Envelope>
"#;
    doc.as_bytes().to_vec()
}

pub fn vector(rel: &str) -> Vec<u8> {
    // The including crate is the workspace root or `benches/instructions`: the vectors are
    // in `../shared` beside the repository, found from either.
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let vectors = manifest
        .ancestors()
        .map(|dir| dir.join("../shared/vectors/xroad-7.8"))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| manifest.join("../shared/vectors/xroad-7.8"));
    let path = vectors.join(rel);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the shared vectors must be beside the repository)",
            path.display()
        )
    })
}

pub fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(
            s.split_whitespace()
                .collect::<String>()
                .replace("&#13;", ""),
        )
        .unwrap()
}

pub fn text_of<'a>(xml: &'a str, tag: &str) -> &'a str {
    let s = xml.find(&format!("<{tag}")).unwrap();
    let body = &xml[s..];
    &body[body.find('>').unwrap() + 1..body.find(&format!("</{tag}>")).unwrap()]
}

pub struct Fixture {
    pub builder: SignatureBuilder,
    pub key: ring::signature::RsaKeyPair,
    pub trust: TrustContext,
}

pub fn fixture() -> Fixture {
    let sign0 = String::from_utf8(vector("signatures/common-test/sign-0.xml")).unwrap();
    let ocsp = b64(text_of(&sign0, "xades:EncapsulatedOCSPValue"));
    let cert = Arc::new(Certificate::from_pem_or_der(&vector("certs/consumer.pem")).unwrap());
    let alg =
        SignatureAlgorithm::from_uri("http://www.w3.org/2001/04/xmldsig-more#rsa-sha512").unwrap();
    let builder = SignatureBuilder::new(alg, cert)
        .with_ocsp_responses(vec![ocsp])
        .with_signing_time(parse_instant("2017-09-08T09:15:11.580Z").unwrap());
    let pem = String::from_utf8(vector("certs/consumer.key")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let key = ring::signature::RsaKeyPair::from_der(&b64(&body)).unwrap();
    let shared =
        String::from_utf8(vector("globalconf/globalconf_good_v4/EE/shared-params.xml")).unwrap();
    let responder = shared
        .split("<cert>")
        .skip(1)
        .filter_map(|p| p.split("</cert>").next())
        .map(|c| Arc::new(Certificate::from_der(&b64(c)).unwrap()))
        .find(|c| c.subject().rfc2253().contains("CN=consumer"))
        .unwrap();
    let ca = CaCert::new(Arc::new(
        Certificate::from_pem_or_der(&vector("certs/root-ca.pem")).unwrap(),
    ))
    .with_ocsp_responder(responder);
    let trust = TrustContext::new(vec![ApprovedCa {
        instance: "EE".into(),
        name: "Cyber".into(),
        top: ca,
        intermediates: vec![],
        profile_class:
            "ee.ria.xroad.common.certificateprofile.impl.TestCertificateProfileInfoProvider".into(),
        authentication_only: false,
    }])
    .with_ocsp_freshness(42);
    Fixture {
        builder,
        key,
        trust,
    }
}
