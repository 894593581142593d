//! Instruction counts for the two hot paths, measured the way `benches/RESULTS.md` quotes
//! them: `count.sh MODE` runs this binary under callgrind with two iteration counts and
//! divides the difference, so set-up and process start cancel out.
//!
//! Modes: `soap` (`parse_soap` of the `soap_header` bench's 1,223-byte request, parsed whole),
//! `soap-streamed` (the same fed in 512-byte chunks, scanned as it streams), `verify`
//! (the `signature/verify_rsa2048_full` bench), `rsa` (`rsa2048_verify_alone`), `ossl` (the
//! raw OpenSSL RSA operation with a kept key, for scale).

use xroad_crypto::signature::{self, Part, SignedData};
use xroad_crypto::time::parse_instant;
use xroad_crypto::{Certificate, DigestAlgorithm, SignatureAlgorithm};
use xroad_identifiers::ClientId;
use xroad_message::soap::{parse_soap, Soap, SoapParser};

#[allow(dead_code)]
#[path = "../../common/mod.rs"]
mod common;
use common::{fixture, request, vector};

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
        "soap-streamed" => {
            let msg = request();
            for _ in 0..n {
                let mut p = SoapParser::new();
                for chunk in std::hint::black_box(&msg).chunks(512) {
                    p.feed(chunk).unwrap();
                }
                match p.finish() {
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
