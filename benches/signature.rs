//! X-Road signatures: creating the signature document of a one-part message (the private key
//! operation excluded: it belongs to the signer), verifying a typical signature in full
//! (C14N, digests, RSA-2048, certificate path and OCSP, with the caches warm), and the
//! per-message cost of hash chains in a batch of 64.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xroad_crypto::hashchain::{self, ChainInput, MapResolver};
use xroad_crypto::signature::{self, Part, SignedData};
use xroad_crypto::time::parse_instant;
use xroad_crypto::{Certificate, Digest, DigestAlgorithm, SignatureAlgorithm};
use xroad_identifiers::ClientId;

#[allow(dead_code)]
mod common;
use common::{fixture, vector};

fn bench(c: &mut Criterion) {
    let f = fixture();
    let digest = DigestAlgorithm::Sha512
        .digest(b"<message>a typical SOAP message of a kilobyte or so</message>");
    let fake_value = vec![0x5a; 256];

    let mut g = c.benchmark_group("signature");
    g.throughput(Throughput::Elements(1));
    g.bench_function("create_one_part_without_key_operation", |b| {
        b.iter(|| {
            let prepared = f.builder.prepare(SignedData::Message(digest));
            std::hint::black_box(prepared.finish(&fake_value))
        })
    });

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
    // The floor: the RSA-2048 verification alone (ring parses the key on every call).
    let cert = Certificate::from_pem_or_der(&vector("certs/consumer.pem")).unwrap();
    let key = cert.public_key().unwrap().clone();
    let rsa =
        SignatureAlgorithm::from_uri("http://www.w3.org/2001/04/xmldsig-more#rsa-sha512").unwrap();
    g.bench_function("rsa2048_verify_alone", |b| {
        b.iter(|| {
            key.verify(
                rsa,
                prepared.signed_info(),
                &value,
                xroad_crypto::algorithm::EcdsaEncoding::Raw,
            )
            .unwrap()
        })
    });
    g.bench_function("verify_rsa2048_full", |b| {
        b.iter(|| {
            std::hint::black_box(
                signature::verify(&xml, &signer, &parts, None, &f.trust, at).unwrap(),
            )
        })
    });
    g.finish();

    // Hash chains for a batch of 64 one-part messages: build every chain, and verify one.
    let alg = DigestAlgorithm::Sha512;
    let digests: Vec<[(&str, Digest); 1]> = (0..64u32)
        .map(|i| [("/message.xml", alg.digest(&i.to_be_bytes()))])
        .collect();
    let messages: Vec<&[(&str, Digest)]> = digests.iter().map(|d| d.as_slice()).collect();
    let mut g = c.benchmark_group("hash_chain_batch_64");
    g.throughput(Throughput::Elements(64));
    g.bench_function("build", |b| {
        b.iter(|| std::hint::black_box(hashchain::build(alg, &messages).unwrap()))
    });
    let docs = hashchain::build(alg, &messages).unwrap();
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify_one_message", |b| {
        let r = MapResolver::new().with("/sig-hashchain.xml", docs.chains[17].clone());
        let inputs = [ChainInput {
            uri: "/message.xml",
            digest: Some(&digests[17][0].1),
        }];
        b.iter(|| hashchain::verify(&docs.result, &r, &inputs).unwrap())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
