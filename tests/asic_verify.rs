//! `xroad-sidecar verify CONTAINER.asice`: ASiC containers as an X-Road message log writes
//! them, made here from a test PKI (openssl CA, OCSP responder and TSA), a global
//! configuration directory that approves them, and signatures made by our builder.

#[allow(dead_code)]
#[path = "../crates/crypto/tests/support/pki.rs"]
mod pki;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use base64::Engine;
use pki::Pki;
use xroad_crypto::hashchain;
use xroad_crypto::signature::{SignatureBuilder, SignedData};
use xroad_crypto::{DigestAlgorithm, SignatureAlgorithm};

const SHA512: DigestAlgorithm = DigestAlgorithm::Sha512;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

const MESSAGE: &str = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers"><SOAP-ENV:Header><xrd:client id:objectType="MEMBER"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>BUSINESS</id:memberClass><id:memberCode>member1</id:memberCode></xrd:client><xrd:service id:objectType="SERVICE"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>BUSINESS</id:memberClass><id:memberCode>provider</id:memberCode><id:serviceCode>getData</id:serviceCode></xrd:service><xrd:id>1234</xrd:id><xrd:protocolVersion>4.0</xrd:protocolVersion></SOAP-ENV:Header><SOAP-ENV:Body><getData/></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;

/// The test PKI, a global configuration approving it, and a signer for member1.
struct World {
    pki: Pki,
    conf: PathBuf,
    builder: SignatureBuilder,
    key: ring::signature::RsaKeyPair,
}

fn world() -> World {
    let pki = Pki::new();
    pki.tsa();
    let ocsp = pki.respond("member", "ocsp", &[]);
    let conf = pki.dir.join("conf");
    std::fs::create_dir_all(conf.join("EE")).unwrap();
    std::fs::write(conf.join("instance-identifier"), "EE").unwrap();
    let der = |name: &str| b64(pki.cert(name).der());
    let shared = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><tns:conf xmlns:tns=\"http://x-road.eu/xsd/xroad.xsd\">\
         <instanceIdentifier>EE</instanceIdentifier><approvedCA><name>Test CA</name><authenticationOnly>false</authenticationOnly>\
         <topCA><cert>{}</cert><ocsp><url>http://127.0.0.1:1/ocsp</url><cert>{}</cert></ocsp></topCA>\
         <certificateProfileInfo>ee.ria.xroad.common.certificateprofile.impl.EjbcaCertificateProfileInfoProvider</certificateProfileInfo>\
         </approvedCA><approvedTSA><name>Test TSA</name><url>http://127.0.0.1:1/tsa</url><cert>{}</cert></approvedTSA>\
         <globalSettings><ocspFreshnessSeconds>3600</ocspFreshnessSeconds></globalSettings></tns:conf>",
        der("ca.pem"),
        der("ocsp.pem"),
        der("tsa.pem")
    );
    std::fs::write(conf.join("EE/shared-params.xml"), shared).unwrap();
    let alg =
        SignatureAlgorithm::from_uri("http://www.w3.org/2001/04/xmldsig-more#rsa-sha512").unwrap();
    let builder = SignatureBuilder::new(alg, Arc::clone(&pki.cert("member.pem")))
        .with_ocsp_responses(vec![ocsp.der().to_vec()]);
    let pem = std::fs::read_to_string(pki.path("member.key")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let key = ring::signature::RsaKeyPair::from_pkcs8(
        &base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap(),
    )
    .unwrap();
    World {
        pki,
        conf,
        builder,
        key,
    }
}

impl World {
    fn sign(&self, data: SignedData) -> (Vec<u8>, Vec<u8>) {
        let prepared = self.builder.prepare(data);
        let mut value = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA512,
                &ring::rand::SystemRandom::new(),
                prepared.signed_info(),
                &mut value,
            )
            .unwrap();
        (prepared.finish(&value), value)
    }

    fn zip(&self, name: &str, entries: &[(&str, &[u8])]) -> PathBuf {
        let path = self.pki.dir.join(name);
        let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        for (entry, bytes) in entries {
            let stored = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            z.start_file(*entry, stored).unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap();
        path
    }

    fn verify(&self, container: &Path) -> Output {
        Command::new(env!("CARGO_BIN_EXE_xroad-sidecar"))
            .arg("verify")
            .arg(container)
            .arg("--globalconf")
            .arg(&self.conf)
            .output()
            .unwrap()
    }
}

const MIME: &[u8] = b"application/vnd.etsi.asic-e+zip";

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn containers_of_a_message_log_verify() {
    let w = world();
    let (signature, value) = w.sign(SignedData::Message(SHA512.digest(MESSAGE.as_bytes())));
    let token = w.pki.timestamp(&value, "sha256");

    // Time-stamp in its own entry.
    let a = w.zip(
        "a.asice",
        &[
            ("mimetype", MIME),
            ("message.xml", MESSAGE.as_bytes()),
            ("META-INF/signatures.xml", &signature),
            ("META-INF/timestamp.tst", &token),
        ],
    );
    let o = w.verify(&a);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let text = out(&o);
    assert!(
        text.starts_with("valid\nsigner: MEMBER:EE/BUSINESS/member1\n"),
        "{text}"
    );
    assert!(
        text.contains("time-stamp: ") && text.contains("CN=Test TSA"),
        "{text}"
    );

    // Time-stamp inside the signature, as the message log embeds single time-stamps.
    let embedded = String::from_utf8(signature.clone()).unwrap().replacen(
        "<xades:UnsignedSignatureProperties>",
        &format!(
            "<xades:UnsignedSignatureProperties><xades:SignatureTimeStamp><xades:EncapsulatedTimeStamp>{}</xades:EncapsulatedTimeStamp></xades:SignatureTimeStamp>",
            b64(&token)
        ),
        1,
    );
    let b = w.zip(
        "b.asice",
        &[
            ("mimetype", MIME),
            ("message.xml", MESSAGE.as_bytes()),
            ("META-INF/signatures.xml", embedded.as_bytes()),
        ],
    );
    let o = w.verify(&b);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));

    // A batch time-stamp: the token covers a time-stamp hash chain over this signature and
    // another message's, and unknown entries are ignored.
    let ts = hashchain::build(
        SHA512,
        &[
            &[("/META-INF/signatures.xml", SHA512.digest(&signature))],
            &[("/META-INF/signatures.xml", SHA512.digest(b"other"))],
        ],
    )
    .unwrap();
    let ts_result = String::from_utf8(ts.result.clone())
        .unwrap()
        .replace("/sig-hashchain.xml#", "/ts-hashchain.xml#");
    let batch_token = w.pki.timestamp(ts_result.as_bytes(), "sha512");
    let e = w.zip(
        "e.asice",
        &[
            ("mimetype", MIME),
            ("message.xml", MESSAGE.as_bytes()),
            ("META-INF/signatures.xml", &signature),
            ("ts-hashchainresult.xml", ts_result.as_bytes()),
            ("ts-hashchain.xml", &ts.chains[0]),
            ("META-INF/timestamp.tst", &batch_token),
            ("META-INF/manifest.xml", b"<manifest/>"),
            ("unrelated.bin", b"ignored"),
        ],
    );
    let o = w.verify(&e);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    // The other message's chain does not lead to this signature.
    let f = w.zip(
        "f.asice",
        &[
            ("mimetype", MIME),
            ("message.xml", MESSAGE.as_bytes()),
            ("META-INF/signatures.xml", &signature),
            ("ts-hashchainresult.xml", ts_result.as_bytes()),
            ("ts-hashchain.xml", &ts.chains[1]),
            ("META-INF/timestamp.tst", &batch_token),
        ],
    );
    let o = w.verify(&f);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains("Failed to verify time-stamp hash chain"),
        "{}",
        out(&o)
    );

    // A message with an attachment, signed through a hash chain.
    let attachment = vec![7u8; 100_000];
    let parts = [
        ("/message.xml", SHA512.digest(MESSAGE.as_bytes())),
        ("/attachment1", SHA512.digest(&attachment)),
    ];
    let docs = hashchain::build(SHA512, &[&parts]).unwrap();
    let (signature2, value2) = w.sign(SignedData::HashChainResult(SHA512.digest(&docs.result)));
    let token2 = w.pki.timestamp(&value2, "sha512");
    let c = w.zip(
        "c.asice",
        &[
            ("mimetype", MIME),
            ("message.xml", MESSAGE.as_bytes()),
            ("META-INF/signatures.xml", &signature2),
            ("sig-hashchainresult.xml", &docs.result),
            ("sig-hashchain.xml", &docs.chains[0]),
            ("META-INF/timestamp.tst", &token2),
            ("attachment1", &attachment),
        ],
    );
    let o = w.verify(&c);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    // The same with a changed attachment.
    let mut other = attachment.clone();
    other[500] ^= 1;
    let d = w.zip(
        "d.asice",
        &[
            ("mimetype", MIME),
            ("message.xml", MESSAGE.as_bytes()),
            ("META-INF/signatures.xml", &signature2),
            ("sig-hashchainresult.xml", &docs.result),
            ("sig-hashchain.xml", &docs.chains[0]),
            ("META-INF/timestamp.tst", &token2),
            ("attachment1", &other),
        ],
    );
    let o = w.verify(&d);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains("error: malformed_signature.invalid_hash_chain"),
        "{}",
        out(&o)
    );
}

#[test]
fn broken_containers_are_reported_with_their_codes() {
    let w = world();
    let (signature, value) = w.sign(SignedData::Message(SHA512.digest(MESSAGE.as_bytes())));
    let token = w.pki.timestamp(&value, "sha256");
    let other_token = w.pki.timestamp(b"something else", "sha256");
    let changed = MESSAGE.replace("<getData/>", "<getData>x</getData>");
    type Entries<'a> = Vec<(&'a str, &'a [u8])>;
    let cases: Vec<(Entries<'_>, &str)> = vec![
        (
            vec![
                ("mimetype", MIME),
                ("message.xml", changed.as_bytes()),
                ("META-INF/signatures.xml", &signature),
                ("META-INF/timestamp.tst", &token),
            ],
            "error: invalid_signature_value",
        ),
        (
            vec![
                ("mimetype", MIME),
                ("message.xml", MESSAGE.as_bytes()),
                ("META-INF/signatures.xml", &signature),
                ("META-INF/timestamp.tst", &other_token),
            ],
            "error: malformed_signature",
        ),
        (
            vec![
                ("mimetype", b"application/zip"),
                ("message.xml", MESSAGE.as_bytes()),
                ("META-INF/signatures.xml", &signature),
            ],
            "error: asic_invalid_mime_type",
        ),
        (
            vec![
                ("message.xml", MESSAGE.as_bytes()),
                ("META-INF/signatures.xml", &signature),
            ],
            "error: asic_mime_type_not_found",
        ),
        (
            vec![("mimetype", MIME), ("message.xml", MESSAGE.as_bytes())],
            "error: asic_signature_not_found",
        ),
        (
            vec![
                ("mimetype", MIME),
                ("message.xml", MESSAGE.as_bytes()),
                ("META-INF/signatures.xml", &signature),
            ],
            "Could not find element \"EncapsulatedTimeStamp\"",
        ),
        (
            vec![
                ("mimetype", MIME),
                ("message.xml", MESSAGE.as_bytes()),
                ("META-INF/signatures.xml", &signature),
                ("sig-hashchain.xml", b"<x/>"),
                ("META-INF/timestamp.tst", &token),
            ],
            "error: asic_hash_chain_result_not_found",
        ),
    ];
    for (i, (entries, expected)) in cases.iter().enumerate() {
        let path = w.zip(&format!("bad{i}.asice"), entries);
        let o = w.verify(&path);
        assert_eq!(o.status.code(), Some(1), "case {i}: {}", out(&o));
        assert!(out(&o).contains(expected), "case {i}: {}", out(&o));
    }
    // Not a ZIP at all: the command cannot run.
    let junk = w.pki.dir.join("junk.asice");
    std::fs::write(&junk, b"not a zip").unwrap();
    let o = w.verify(&junk);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("is not an ASiC container"), "{}", out(&o));
}
