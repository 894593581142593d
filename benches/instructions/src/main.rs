//! Instruction counts for the two hot paths, measured the way `benches/RESULTS.md` quotes
//! them: `count.sh MODE` runs this binary under callgrind with two iteration counts and
//! divides the difference, so set-up and process start cancel out.
//!
//! Modes: `soap` (`parse_soap` of the `soap_header` bench's 1,223-byte request), `verify`
//! (the `signature/verify_rsa2048_full` bench), `rsa` (`rsa2048_verify_alone`), `ossl` (the
//! raw OpenSSL RSA operation with a kept key, for scale).

use base64::Engine;
use std::path::PathBuf;
use std::sync::Arc;
use xroad_crypto::signature::{self, Part, SignatureBuilder, SignedData};
use xroad_crypto::time::parse_instant;
use xroad_crypto::{
    ApprovedCa, CaCert, Certificate, DigestAlgorithm, SignatureAlgorithm, TrustContext,
};
use xroad_identifiers::ClientId;
use xroad_message::soap::{parse_soap, Soap};

fn request() -> Vec<u8> {
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

fn vector(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join("../shared/vectors/xroad-7.8")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the shared vectors must be beside the repository)",
            path.display()
        )
    })
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

fn text_of<'a>(xml: &'a str, tag: &str) -> &'a str {
    let s = xml.find(&format!("<{tag}")).unwrap();
    let body = &xml[s..];
    &body[body.find('>').unwrap() + 1..body.find(&format!("</{tag}>")).unwrap()]
}

struct Fixture {
    builder: SignatureBuilder,
    key: ring::signature::RsaKeyPair,
    trust: TrustContext,
}

fn fixture() -> Fixture {
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args[1].as_str();
    let n: usize = args[2].parse().unwrap();
    match mode {
        "soap" => {
            let msg = request();
            for _ in 0..n {
                match parse_soap(std::hint::black_box(&msg)) {
                    Ok(Soap::Message(m)) => {
                        std::hint::black_box(m);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        _ => {
            let f = fixture();
            let digest = DigestAlgorithm::Sha512
                .digest(b"<message>a typical SOAP message of a kilobyte or so</message>");
            let prepared = f.builder.prepare(SignedData::Message(digest));
            let mut value = vec![0; f.key.public().modulus_len()];
            f.key
                .sign(
                    &ring::signature::RSA_PKCS1_SHA512,
                    &ring::rand::SystemRandom::new(),
                    prepared.signed_info(),
                    &mut value,
                )
                .unwrap();
            let xml = prepared.finish(&value);
            let signer = ClientId::member("EE", "BUSINESS", "consumer").unwrap();
            let parts = [Part::new("/message.xml", digest)];
            let at = parse_instant("2014-10-30T00:00:00Z").unwrap();
            signature::verify(&xml, &signer, &parts, None, &f.trust, at).unwrap();
            let cert = Certificate::from_pem_or_der(&vector("certs/consumer.pem")).unwrap();
            let key = cert.public_key().unwrap().clone();
            let rsa =
                SignatureAlgorithm::from_uri("http://www.w3.org/2001/04/xmldsig-more#rsa-sha512")
                    .unwrap();
            let x = openssl::x509::X509::from_pem(&vector("certs/consumer.pem")).unwrap();
            let rsa_pub = x.public_key().unwrap().rsa().unwrap();
            let si = prepared.signed_info().to_vec();
            for _ in 0..n {
                if mode == "ossl" {
                    let d = ring::digest::digest(&ring::digest::SHA512, std::hint::black_box(&si));
                    let mut em = vec![0u8; 256];
                    let prefix: [u8; 19] = [
                        0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
                        0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40,
                    ];
                    let k = 256;
                    let t = 19 + 64;
                    em[0] = 0;
                    em[1] = 1;
                    for b in &mut em[2..k - t - 1] {
                        *b = 0xff;
                    }
                    em[k - t - 1] = 0;
                    em[k - t..k - 64].copy_from_slice(&prefix);
                    em[k - 64..].copy_from_slice(d.as_ref());
                    let mut out = vec![0u8; 256];
                    let len = rsa_pub
                        .public_decrypt(
                            std::hint::black_box(&value),
                            &mut out,
                            openssl::rsa::Padding::NONE,
                        )
                        .unwrap();
                    assert!(len == 256 && out == em);
                } else if mode == "verify" {
                    std::hint::black_box(
                        signature::verify(
                            std::hint::black_box(&xml),
                            &signer,
                            &parts,
                            None,
                            &f.trust,
                            at,
                        )
                        .unwrap(),
                    );
                } else {
                    key.verify(
                        rsa,
                        prepared.signed_info(),
                        std::hint::black_box(&value),
                        xroad_crypto::algorithm::EcdsaEncoding::Raw,
                    )
                    .unwrap();
                }
            }
        }
    }
}
