//! Signer throughput: software-token signing of one digest (RSA-2048 and EC P-256), and the
//! signing service with 64 concurrent requesters on 2 cores, where batching signs many
//! messages with one RSA operation through a hash chain.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xroad_crypto::signature::SignatureBuilder;
use xroad_crypto::{Certificate, DigestAlgorithm, SignMechanism, SignatureAlgorithm};
use xroad_identifiers::ClientId;
use xroad_signer::{
    KeyAlgorithm, KeyUsage, Pin, ServiceConfig, Signer, SignerConfig, SignerHandle, SOFT_TOKEN_ID,
};

struct Fixture {
    dir: std::path::PathBuf,
    signer: Arc<Signer>,
    rsa: String,
    ec: String,
    cert: Arc<Certificate>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture() -> Fixture {
    let dir = std::env::temp_dir().join(format!("xroad-signer-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let signer = Arc::new(Signer::open(SignerConfig::new(&dir)).expect("signer dir"));
    signer
        .init_software_token(&Pin::new("bench-pin"))
        .expect("token");
    let rsa = signer
        .generate_key(SOFT_TOKEN_ID, KeyAlgorithm::Rsa(2048), "rsa")
        .expect("rsa key")
        .key_id;
    let ec = signer
        .generate_key(SOFT_TOKEN_ID, KeyAlgorithm::EcP256, "ec")
        .expect("ec key")
        .key_id;
    let der = signer
        .self_signed_cert(&rsa, "bench", KeyUsage::Signing, 30)
        .expect("certificate");
    let member = ClientId::member("DEV", "COM", "1").expect("member");
    let info = signer
        .import_cert(&der, Some(member), None, None)
        .expect("import");
    Fixture {
        dir,
        signer,
        rsa,
        ec,
        cert: info.cert,
    }
}

fn single(c: &mut Criterion) {
    let f = fixture();
    let mut g = c.benchmark_group("signer/single");
    g.throughput(Throughput::Elements(1));
    let digest = DigestAlgorithm::Sha256.digest(b"message");
    let rsa = f.signer.key_signer(&f.rsa).expect("rsa");
    let alg = SignatureAlgorithm::new(DigestAlgorithm::Sha256, SignMechanism::RsaPkcs1);
    g.bench_function("soft_rsa2048_sign", |b| {
        b.iter(|| rsa.sign(alg, digest.as_bytes()).expect("sign"))
    });
    let ec = f.signer.key_signer(&f.ec).expect("ec");
    let alg = SignatureAlgorithm::new(DigestAlgorithm::Sha256, SignMechanism::Ecdsa);
    g.bench_function("soft_ec_p256_sign", |b| {
        b.iter(|| ec.sign(alg, digest.as_bytes()).expect("sign"))
    });
    g.finish();
}

/// Messages signed per second by the service with `requesters` concurrent callers, each
/// waiting for its signature before sending the next message.
fn service(c: &mut Criterion) {
    let f = fixture();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let handle = rt.block_on(async {
        SignerHandle::spawn(
            f.signer.clone(),
            ServiceConfig {
                parallelism: 2,
                ..ServiceConfig::default()
            },
        )
    });
    let alg = SignatureAlgorithm::new(DigestAlgorithm::Sha512, SignMechanism::RsaPkcs1);
    let builder = Arc::new(SignatureBuilder::new(alg, f.cert.clone()));
    let mut g = c.benchmark_group("signer/service");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(8));
    for requesters in [1usize, 64] {
        g.bench_function(
            format!("sign_message_{requesters}_requesters_2_cores"),
            |b| {
                b.iter_custom(|iters| {
                    let per = (iters as usize).div_ceil(requesters).max(1);
                    rt.block_on(async {
                        let start = Instant::now();
                        let mut tasks = Vec::with_capacity(requesters);
                        for r in 0..requesters {
                            let (h, b, key) = (handle.clone(), builder.clone(), f.rsa.clone());
                            tasks.push(tokio::spawn(async move {
                                for i in 0..per {
                                    let d = DigestAlgorithm::Sha512
                                        .digest(format!("<m>{r}-{i}</m>").as_bytes());
                                    h.sign_message(
                                        &key,
                                        b.clone(),
                                        vec![("/message.xml".into(), d)],
                                    )
                                    .await
                                    .expect("signed");
                                }
                            }));
                        }
                        for t in tasks {
                            t.await.expect("task");
                        }
                        // Scale to the requested iteration count.
                        start
                            .elapsed()
                            .mul_f64(iters as f64 / (per * requesters) as f64)
                    })
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, single, service);
criterion_main!(benches);
