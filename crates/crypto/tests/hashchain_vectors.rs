//! The hash-chain verifier vectors of the Java implementation (`HashChainVerifierTest`) and
//! round trips of the chains we build.

mod support;
use support::vectors;

use xroad_crypto::hashchain::{self, ChainInput, MapResolver};
use xroad_crypto::{Digest, DigestAlgorithm};
use xroad_fault::{ErrorCode, XRoadError};

const SHA256: DigestAlgorithm = DigestAlgorithm::Sha256;

fn hc(name: &str) -> Vec<u8> {
    vectors::read(&format!("hashchain/{name}"))
}

/// The resolver of `HashChainVerifierTest`: `/hashchain.xml`, `/hashchain2.xml` and
/// `/message.xml` map to the vector files of one test case.
fn resolver(case: &str, chain: &str, message: Option<&str>) -> MapResolver {
    let mut r =
        MapResolver::new().with("/hashchain.xml", hc(&format!("hc-verifier{case}-{chain}")));
    if let Some(m) = message {
        r = r.with("/message.xml", hc(m));
    }
    r
}

fn code(e: &XRoadError) -> Option<ErrorCode> {
    e.error_code()
}

fn input<'a>(uri: &'a str, digest: Option<&'a Digest>) -> ChainInput<'a> {
    ChainInput { uri, digest }
}

#[test]
fn simple_correct_and_attached_input() {
    let result = hc("hc-verifier1-hashchainresult.xml");
    let r = resolver("1", "hashchain.xml", Some("hc-verifier1-message.xml"));
    hashchain::verify(&result, &r, &[input("/message.xml", None)]).unwrap();
    let d = SHA256.digest(&hc("hc-verifier1-message.xml"));
    hashchain::verify(&result, &r, &[input("/message.xml", Some(&d))]).unwrap();
}

#[test]
fn simple_unused_inputs() {
    let result = hc("hc-verifier1-hashchainresult.xml");
    let r = resolver("1", "hashchain.xml", Some("hc-verifier1-message.xml"));
    let e = hashchain::verify(
        &result,
        &r,
        &[
            input("/message.xml", None),
            input("/unused1", None),
            input("/unused2", None),
        ],
    )
    .unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::HashChainUnusedInputs), "{e}");
    assert!(
        e.message().contains("/unused1, /unused2"),
        "{}",
        e.message()
    );
}

#[test]
fn simple_digest_mismatch() {
    let result = hc("hc-verifier1-hashchainresult.xml");
    let r = resolver("1", "hashchain.xml", Some("hc-verifier1-message.xml"));
    let wrong = SHA256.digest(&hc("hc-verifier1-hashchain.xml"));
    let e = hashchain::verify(&result, &r, &[input("/message.xml", Some(&wrong))]).unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::InvalidHashChain), "{e}");
}

#[test]
fn simple_two_hash_chains() {
    let r = resolver("4", "hashchain1.xml", Some("hc-verifier4-message.xml"))
        .with("/hashchain2.xml", hc("hc-verifier4-hashchain2.xml"));
    hashchain::verify(
        &hc("hc-verifier4-hashchainresult.xml"),
        &r,
        &[input("/message.xml", None)],
    )
    .unwrap();
}

#[test]
fn attachments_and_declined_resolution() {
    let result = hc("hc-verifier2-hashchainresult.xml");
    let chain = hc("hc-verifier2-hashchain.xml");
    // The Java test's inputs are one byte long: not real SHA-256 digests, so they do not fit
    // a `Digest`; the chain's literal values are the same bytes, used when the resolver
    // declines. Check that form (`attachmentsCannotResolve`) for all four parts, and the
    // caller-digest form with real digests substituted into the chain.
    let declining = MapResolver::new()
        .with("/hashchain.xml", chain.clone())
        .declining("/message.xml")
        .declining("/attachment1")
        .declining("/attachment2")
        .declining("/attachment3");
    hashchain::verify(&result, &declining, &[input("/message.xml", None)]).unwrap();

    // The same tree with full-length digests, given by the caller and not resolvable.
    let parts: Vec<Digest> = (0..4u8).map(|i| SHA256.digest(&[i])).collect();
    let names = [
        "/message.xml",
        "/attachment1",
        "/attachment2",
        "/attachment3",
    ];
    let mut doc = String::from_utf8(chain).unwrap();
    for (b64, d) in ["Cw==", "DA==", "DQ==", "Dg=="].iter().zip(&parts) {
        doc = doc.replace(&format!(">{b64}<"), &format!(">{}<", d.to_base64()));
    }
    let r = MapResolver::new().with("/hashchain.xml", doc.clone());
    let inputs: Vec<ChainInput<'_>> = names
        .iter()
        .zip(&parts)
        .map(|(n, d)| input(n, Some(d)))
        .collect();
    // The result no longer matches (the leaves changed): invalid_hash_chain, not a ref error,
    // because caller digests are trusted and not compared with the chain.
    let e = hashchain::verify(&result, &r, &inputs).unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::InvalidHashChain), "{e}");
}

#[test]
fn transforms() {
    let r = resolver("3", "hashchain.xml", Some("hc-verifier3-message.xml"));
    hashchain::verify(
        &hc("hc-verifier3-hashchainresult.xml"),
        &r,
        &[input("/message.xml", None)],
    )
    .unwrap();
}

#[test]
fn transforms_error() {
    let r = resolver(
        "3",
        "hashchain-invalid.xml",
        Some("hc-verifier3-message.xml"),
    );
    let e = hashchain::verify(
        &hc("hc-verifier3-hashchainresult.xml"),
        &r,
        &[input("/message.xml", None)],
    )
    .unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::InvalidHashChainRef), "{e}");
}

#[test]
fn invalid_schema() {
    let r = resolver(
        "5",
        "hashchain-invalid-schema.xml",
        Some("hc-verifier3-message.xml"),
    );
    let e = hashchain::verify(
        &hc("hc-verifier3-hashchainresult.xml"),
        &r,
        &[input("/message.xml", None)],
    )
    .unwrap_err();
    assert_eq!(
        e.fault_code(xroad_fault::Spelling::Current),
        "malformed_hash_chain",
        "{e}"
    );
}

#[test]
fn unresolvable_chain_and_cycles() {
    let result = hc("hc-verifier1-hashchainresult.xml");
    let e = hashchain::verify(&result, &MapResolver::new(), &[]).unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::InvalidReference), "{e}");
    let cyclic = r##"<ns2:HashChain xmlns:ns2="http://cyber.ee/hashchain" xmlns="http://www.w3.org/2000/09/xmldsig#"><ns2:DefaultDigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ns2:HashStep id="STEP0"><ns2:StepRef URI="#STEP0"/></ns2:HashStep></ns2:HashChain>"##;
    let r = MapResolver::new().with("/hashchain.xml", cyclic);
    let e = hashchain::verify(&result, &r, &[]).unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::MalformedHashChain), "{e}");
}

/// The batch signature vector: a one-message, two-part chain made by Java.
#[test]
fn batch_sig_chain_of_java_verifies_with_received_parts() {
    let sha512 = DigestAlgorithm::Sha512;
    let message = vectors::read("signatures/globalconf-impl/message-1.xml");
    let m = sha512.digest(&message);
    let a = sha512.digest(b"blaah");
    let r = MapResolver::new().with(
        "/sig-hashchain.xml",
        vectors::read("signatures/globalconf-impl/hash-chain-1.xml"),
    );
    let result = vectors::read("signatures/globalconf-impl/hash-chain-result.xml");
    hashchain::verify(
        &result,
        &r,
        &[
            input("/message.xml", Some(&m)),
            input("/attachment1", Some(&a)),
        ],
    )
    .unwrap();
    // Our builder makes the same documents, byte for byte, from the same digests.
    let built = hashchain::build(sha512, &[&[("/message.xml", m), ("/attachment1", a)]]).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&built.result),
        String::from_utf8_lossy(&result)
    );
    assert_eq!(
        String::from_utf8_lossy(&built.chains[0]),
        String::from_utf8_lossy(&vectors::read(
            "signatures/globalconf-impl/hash-chain-1.xml"
        ))
    );
}

/// Batches of every size up to 20, with one- and three-part messages: every message's own
/// chain verifies against the shared result with its own parts, and not with another's.
#[test]
fn built_batches_verify_per_message() {
    let alg = DigestAlgorithm::Sha512;
    for n in 1..=20usize {
        let owned: Vec<Vec<(String, Digest)>> = (0..n)
            .map(|i| {
                let count = if i % 3 == 1 { 3 } else { 1 };
                (0..count)
                    .map(|p| {
                        let uri = if p == 0 {
                            "/message.xml".to_owned()
                        } else {
                            format!("/attachment{p}")
                        };
                        (uri, alg.digest(format!("message {i} part {p}").as_bytes()))
                    })
                    .collect()
            })
            .collect();
        let borrowed: Vec<Vec<(&str, Digest)>> = owned
            .iter()
            .map(|m| m.iter().map(|(u, d)| (u.as_str(), *d)).collect())
            .collect();
        let messages: Vec<&[(&str, Digest)]> = borrowed.iter().map(Vec::as_slice).collect();
        let Some(docs) = hashchain::build(alg, &messages) else {
            assert!(n == 1 && messages[0].len() == 1);
            continue;
        };
        assert_eq!(docs.chains.len(), n);
        for (i, chain) in docs.chains.iter().enumerate() {
            let r = MapResolver::new().with("/sig-hashchain.xml", chain.clone());
            let inputs: Vec<ChainInput<'_>> =
                messages[i].iter().map(|(u, d)| input(u, Some(d))).collect();
            hashchain::verify(&docs.result, &r, &inputs)
                .unwrap_or_else(|e| panic!("batch of {n}, message {i}: {e}"));
            if n > 1 {
                let j = (i + 1) % n;
                let wrong: Vec<ChainInput<'_>> =
                    messages[j].iter().map(|(u, d)| input(u, Some(d))).collect();
                assert!(
                    hashchain::verify(&docs.result, &r, &wrong).is_err(),
                    "batch {n}: {i} with {j}"
                );
            }
        }
    }
}

/// Any changed byte of a hash step's structure or sibling values is caught: every byte of
/// the `HashValue`, `StepRef` and `HashStep` markup of a batch chain, and of the result.
#[test]
fn tampered_chain_steps_are_rejected() {
    let alg = DigestAlgorithm::Sha512;
    let m: Vec<[(&str, Digest); 2]> = (0..3u8)
        .map(|i| {
            [
                ("/message.xml", alg.digest(&[i])),
                ("/attachment1", alg.digest(&[i, i])),
            ]
        })
        .collect();
    let messages: Vec<&[(&str, Digest)]> = m.iter().map(|x| x.as_slice()).collect();
    let docs = hashchain::build(alg, &messages).unwrap();
    let chain = docs.chains[0].clone();
    let inputs: Vec<ChainInput<'_>> = m[0].iter().map(|(u, d)| input(u, Some(d))).collect();
    let verify = |result: &[u8], chain: &[u8]| {
        let r = MapResolver::new().with("/sig-hashchain.xml", chain.to_vec());
        hashchain::verify(result, &r, &inputs)
    };
    verify(&docs.result, &chain).unwrap();
    let text = String::from_utf8(chain.clone()).unwrap();
    let mut regions = Vec::new();
    for (open, close) in [
        ("<ns2:HashValue>", "</ns2:HashValue>"),
        ("<ns2:StepRef", "/>"),
        ("<ns2:HashStep", ">"),
    ] {
        let mut from = 0;
        while let Some(a) = text[from..].find(open).map(|i| i + from) {
            let b = text[a..].find(close).map(|i| i + a + close.len()).unwrap();
            regions.push(a..b);
            from = b;
        }
    }
    assert!(regions.len() >= 6, "{regions:?}");
    for i in regions.into_iter().flatten() {
        let mut bad = chain.clone();
        bad[i] = if bad[i] == b'x' { b'y' } else { b'x' };
        assert!(
            verify(&docs.result, &bad).is_err(),
            "byte {i} of the chain changed unnoticed"
        );
    }
    let text = String::from_utf8(docs.result.clone()).unwrap();
    let start = text.find("<ns2:HashChainResult").unwrap();
    for i in start..docs.result.len() - 1 {
        let mut bad = docs.result.clone();
        if bad[i].is_ascii_whitespace() {
            continue;
        }
        bad[i] = if bad[i] == b'x' { b'y' } else { b'x' };
        assert!(
            verify(&bad, &chain).is_err(),
            "byte {i} of the result changed unnoticed"
        );
    }
}

/// A chain whose steps each reference the next one twice: 40 steps, 2^40 paths. Each step is
/// computed once, so this returns at once; without that it would not finish.
#[test]
fn shared_steps_are_computed_once() {
    let mut doc = String::from(
        r#"<ns2:HashChain xmlns:ns2="http://cyber.ee/hashchain" xmlns="http://www.w3.org/2000/09/xmldsig#"><ns2:DefaultDigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>"#,
    );
    for i in 0..40 {
        doc.push_str(&format!(
            r##"<ns2:HashStep id="STEP{i}"><ns2:StepRef URI="#STEP{n}"/><ns2:StepRef URI="#STEP{n}"/></ns2:HashStep>"##,
            n = i + 1
        ));
    }
    doc.push_str(r#"<ns2:HashStep id="STEP40"><ns2:HashValue><DigestValue>AA==</DigestValue></ns2:HashValue></ns2:HashStep></ns2:HashChain>"#);
    let r = MapResolver::new().with("/hashchain.xml", doc);
    let e = hashchain::verify(&hc("hc-verifier1-hashchainresult.xml"), &r, &[]).unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::InvalidHashChain), "{e}");
}
