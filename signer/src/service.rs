//! The signing service: an actor behind a cloneable [`SignerHandle`], used in-process by the
//! proxy over a channel.
//!
//! Requests queue on an mpsc channel. The actor takes the first one, waits for a free
//! signing slot (one per core), then drains everything that queued meanwhile: requests for the
//! same key and signature builder are signed together with one private-key operation over
//! the root of a hash chain (X-Road's batch signature, `xroad_crypto::hashchain::build`), and
//! each requester gets the shared signature document plus its own hash chain. When the
//! service is idle a request is alone in its batch and is signed at once, without a chain.
//! The key operation runs on the blocking pool, so requests keep queueing meanwhile.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, Semaphore};
use xroad_crypto::hashchain;
use xroad_crypto::signature::{SignatureBuilder, SignedData};
use xroad_crypto::{Digest, SignatureAlgorithm};

use crate::error::{Result, SignerError};
use crate::signer::{KeySigner, Signer};

/// A signed message: the signature document and, when it was signed in a batch or has
/// several parts, its hash chain.
#[derive(Debug, Clone)]
pub struct SignedMessage {
    /// The `asic:XAdESSignatures` document (shared by every message of the batch).
    pub signature: Arc<Vec<u8>>,
    /// The hash chain parts, for a signature over a hash-chain result.
    pub hash_chain: Option<HashChain>,
}

/// The hash chain of one message of a batch.
#[derive(Debug, Clone)]
pub struct HashChain {
    /// `/sig-hashchainresult.xml` (shared by the batch).
    pub result: Arc<Vec<u8>>,
    /// `/sig-hashchain.xml` of this message.
    pub chain: Vec<u8>,
}

/// Service settings.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Key operations at once (default: the number of cores).
    pub parallelism: usize,
    /// At most this many requests in one batch.
    pub max_batch: usize,
    /// Queued requests older than this fail (Java's `signer.client-timeout`, 50 s shipped).
    pub client_timeout: Duration,
    /// Depth of the request queue.
    pub queue: usize,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            parallelism: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_batch: 4096,
            client_timeout: Duration::from_secs(50),
            queue: 65_536,
        }
    }
}

struct MessageJob {
    key_id: String,
    builder: Arc<SignatureBuilder>,
    parts: Vec<(String, Digest)>,
    queued: Instant,
    reply: oneshot::Sender<Result<SignedMessage>>,
}

/// Upper bounds of the batch size buckets in [`SigningStats::batch_sizes`].
pub const BATCH_SIZE_BUCKETS: [u64; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/// Upper bounds (seconds) of the buckets of [`SigningStats::sign_durations`]: from a software
/// EC key (tens of microseconds) to a slow HSM.
pub const SIGN_DURATION_BUCKETS: [f64; 13] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// What the service has signed since it started: how well batching amortises the
/// private-key operation under load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigningStats {
    /// Private-key operations for messages (one per batch).
    pub signatures: u64,
    /// Messages signed (the sum of the batch sizes).
    pub messages: u64,
    /// The largest batch.
    pub max_batch: u64,
    /// Batches per size bucket: `batch_sizes[i]` counts batches of at most
    /// `BATCH_SIZE_BUCKETS[i]` messages and more than the bucket before; the last entry counts
    /// the larger ones.
    pub batch_sizes: [u64; BATCH_SIZE_BUCKETS.len() + 1],
    /// Batches by how long signing them took (the hash chain and the private-key
    /// operation), per bucket of [`SIGN_DURATION_BUCKETS`] like `batch_sizes`.
    pub sign_durations: [u64; SIGN_DURATION_BUCKETS.len() + 1],
    /// The total time spent signing batches.
    pub sign_time: Duration,
}

#[derive(Debug, Default)]
struct StatCounters {
    signatures: AtomicU64,
    messages: AtomicU64,
    max_batch: AtomicU64,
    batch_sizes: [AtomicU64; BATCH_SIZE_BUCKETS.len() + 1],
    sign_durations: [AtomicU64; SIGN_DURATION_BUCKETS.len() + 1],
    sign_nanos: AtomicU64,
}

impl StatCounters {
    fn record_duration(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let bucket = SIGN_DURATION_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(SIGN_DURATION_BUCKETS.len());
        self.sign_durations[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.sign_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn record(&self, batch: usize) {
        let n = batch as u64;
        self.signatures.fetch_add(1, Ordering::Relaxed);
        self.messages.fetch_add(n, Ordering::Relaxed);
        self.max_batch.fetch_max(n, Ordering::Relaxed);
        let bucket = BATCH_SIZE_BUCKETS
            .iter()
            .position(|&le| n <= le)
            .unwrap_or(BATCH_SIZE_BUCKETS.len());
        self.batch_sizes[bucket].fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> SigningStats {
        SigningStats {
            signatures: self.signatures.load(Ordering::Relaxed),
            messages: self.messages.load(Ordering::Relaxed),
            max_batch: self.max_batch.load(Ordering::Relaxed),
            batch_sizes: std::array::from_fn(|i| self.batch_sizes[i].load(Ordering::Relaxed)),
            sign_durations: std::array::from_fn(|i| self.sign_durations[i].load(Ordering::Relaxed)),
            sign_time: Duration::from_nanos(self.sign_nanos.load(Ordering::Relaxed)),
        }
    }
}

/// A cheap handle to the signing service.
#[derive(Clone, Debug)]
pub struct SignerHandle {
    tx: mpsc::Sender<MessageJob>,
    signer: Arc<Signer>,
    slots: Arc<Semaphore>,
    ocsp: Option<Arc<crate::ocsp::OcspManager>>,
    stats: Arc<StatCounters>,
}

impl SignerHandle {
    /// Starts the service on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (a wiring error, not something input can cause).
    pub fn spawn(signer: Arc<Signer>, config: ServiceConfig) -> SignerHandle {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let slots = Arc::new(Semaphore::new(config.parallelism.max(1)));
        let stats = Arc::new(StatCounters::default());
        tokio::spawn(run(
            rx,
            signer.clone(),
            slots.clone(),
            stats.clone(),
            config,
        ));
        SignerHandle {
            tx,
            signer,
            slots,
            ocsp: None,
            stats,
        }
    }

    /// The handle with the OCSP cache of own certificates (for [`Self::ocsp_responses`]).
    pub fn with_ocsp(mut self, ocsp: Arc<crate::ocsp::OcspManager>) -> Self {
        self.ocsp = Some(ocsp);
        self
    }

    /// Fresh DER OCSP responses for certificates by lower-case hex SHA-1 (Java's
    /// `GetOcspResponses`): what signatures embed and the 5577 endpoint serves. `None` for
    /// an unknown or stale one, or when no OCSP cache is attached.
    pub fn ocsp_responses(&self, cert_hashes: &[&str]) -> Vec<Option<Vec<u8>>> {
        match &self.ocsp {
            Some(m) => m.responses(cert_hashes),
            None => vec![None; cert_hashes.len()],
        }
    }

    /// The parsed OCSP response of a certificate (lower-case hex SHA-1) if it is fresh at
    /// `at`; the same `Arc` until the response is refreshed.
    pub fn fresh_ocsp_response(
        &self,
        cert_hash: &str,
        at: std::time::SystemTime,
    ) -> Option<Arc<xroad_crypto::ocsp::OcspResponse>> {
        self.ocsp.as_ref()?.fresh_response(cert_hash, at)
    }

    /// Message signatures and batch sizes since the service started.
    pub fn stats(&self) -> SigningStats {
        self.stats.snapshot()
    }

    /// The signer behind the service.
    pub fn signer(&self) -> &Arc<Signer> {
        &self.signer
    }

    /// Signs a message whose parts (`/message.xml` first, then attachments) have the given
    /// digests, with `key_id` and the signature layout of `builder` (its certificate, OCSP
    /// responses and algorithm). Requests sharing the key and the same `Arc` builder may be
    /// batched.
    pub async fn sign_message(
        &self,
        key_id: &str,
        builder: Arc<SignatureBuilder>,
        parts: Vec<(String, Digest)>,
    ) -> Result<SignedMessage> {
        if parts.is_empty() {
            return Err(SignerError::InvalidInput(
                "a message to sign has no parts".into(),
            ));
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(MessageJob {
                key_id: key_id.to_owned(),
                builder,
                parts,
                queued: Instant::now(),
                reply,
            })
            .await
            .map_err(|_| SignerError::ServiceStopped)?;
        rx.await.map_err(|_| SignerError::ServiceStopped)?
    }

    /// Signs one digest with `key_id` at once (Java's `KeyService.Sign`): the RSA value, or a
    /// DER ECDSA signature.
    pub async fn sign(
        &self,
        key_id: &str,
        algorithm: SignatureAlgorithm,
        digest: Digest,
    ) -> Result<Vec<u8>> {
        let key = self.signer.key_signer(key_id)?;
        let _permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SignerError::ServiceStopped)?;
        tokio::task::spawn_blocking(move || key.sign(algorithm, digest.as_bytes()))
            .await
            .map_err(|_| SignerError::ServiceStopped)?
    }
}

async fn run(
    mut rx: mpsc::Receiver<MessageJob>,
    signer: Arc<Signer>,
    slots: Arc<Semaphore>,
    stats: Arc<StatCounters>,
    config: ServiceConfig,
) {
    while let Some(first) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < config.max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let timeout = config.client_timeout;
        // A software EC key signs in tens of microseconds: cheaper here than the two thread
        // hand-overs of the blocking pool, which slow keys (RSA, PKCS#11 devices) need.
        if batch.iter().all(|j| signs_quickly(&signer, &j.key_id)) {
            process(&signer, &stats, batch, timeout);
            drop(permit);
            continue;
        }
        let signer = signer.clone();
        let stats = stats.clone();
        tokio::task::spawn_blocking(move || {
            process(&signer, &stats, batch, timeout);
            drop(permit);
        });
    }
}

/// Whether `key_id` is a software EC key (signed on the service's own task).
fn signs_quickly(signer: &Signer, key_id: &str) -> bool {
    matches!(signer.key_signer(key_id), Ok(KeySigner::Soft(k)) if k.id() == openssl::pkey::Id::EC)
}

/// Signs a drained batch: grouped by key and builder, each group with one key operation.
fn process(signer: &Signer, stats: &StatCounters, batch: Vec<MessageJob>, timeout: Duration) {
    let mut groups: Vec<((String, usize), Vec<MessageJob>)> = Vec::new();
    let mut index: HashMap<(String, usize), usize> = HashMap::new();
    for job in batch {
        if job.queued.elapsed() > timeout {
            let _ = job.reply.send(Err(SignerError::Timeout));
            continue;
        }
        let k = (job.key_id.clone(), Arc::as_ptr(&job.builder) as usize);
        match index.get(&k) {
            Some(&i) => groups[i].1.push(job),
            None => {
                index.insert(k.clone(), groups.len());
                groups.push((k, vec![job]));
            }
        }
    }
    for ((key_id, _), jobs) in groups {
        let key = match signer.key_signer(&key_id) {
            Ok(k) => k,
            Err(e) => {
                for j in jobs {
                    let _ = j.reply.send(Err(e.duplicate()));
                }
                continue;
            }
        };
        let batching = signer.batch_signing_enabled(&key_id).unwrap_or(true);
        if batching {
            stats.record(jobs.len());
            timed(stats, || sign_group(&key, jobs));
        } else {
            for j in jobs {
                stats.record(1);
                timed(stats, || sign_group(&key, vec![j]));
            }
        }
    }
}

/// Runs `sign` (one batch) and records how long it took.
fn timed(stats: &StatCounters, sign: impl FnOnce()) {
    let started = Instant::now();
    sign();
    stats.record_duration(started.elapsed());
}

fn sign_group(key: &KeySigner, jobs: Vec<MessageJob>) {
    let Some(builder) = jobs.first().map(|j| j.builder.clone()) else {
        return;
    };
    let algorithm = builder.algorithm();
    // One message of one part: signed directly.
    if let [job] = jobs.as_slice() {
        if job.parts.len() == 1 {
            let prepared = builder.prepare(SignedData::Message(job.parts[0].1));
            let result = key
                .sign_xmldsig(algorithm, prepared.digest().as_bytes())
                .map(|v| SignedMessage {
                    signature: Arc::new(prepared.finish(&v)),
                    hash_chain: None,
                });
            if let Some(job) = jobs.into_iter().next() {
                let _ = job.reply.send(result);
            }
            return;
        }
    }
    // The chain uses the digest algorithm of the parts; messages that differ are refused.
    let chain_alg = jobs[0].parts[0].1.algorithm();
    let (ok, bad): (Vec<MessageJob>, Vec<MessageJob>) = jobs
        .into_iter()
        .partition(|j| j.parts.iter().all(|(_, d)| d.algorithm() == chain_alg));
    for j in bad {
        let _ = j.reply.send(Err(SignerError::InvalidInput(format!(
            "the parts of a message must all be digested with {}",
            chain_alg.name()
        ))));
    }
    if ok.is_empty() {
        return;
    }
    let messages: Vec<Vec<(&str, Digest)>> = ok
        .iter()
        .map(|j| j.parts.iter().map(|(u, d)| (u.as_str(), *d)).collect())
        .collect();
    let refs: Vec<&[(&str, Digest)]> = messages.iter().map(Vec::as_slice).collect();
    let Some(docs) = hashchain::build(chain_alg, &refs) else {
        for j in ok {
            let _ = j
                .reply
                .send(Err(SignerError::InvalidInput("nothing to sign".into())));
        }
        return;
    };
    let result_digest = algorithm.digest.digest(&docs.result);
    let prepared = builder.prepare(SignedData::HashChainResult(result_digest));
    match key.sign_xmldsig(algorithm, prepared.digest().as_bytes()) {
        Ok(value) => {
            let signature = Arc::new(prepared.finish(&value));
            let result = Arc::new(docs.result);
            for (j, chain) in ok.into_iter().zip(docs.chains) {
                let _ = j.reply.send(Ok(SignedMessage {
                    signature: signature.clone(),
                    hash_chain: Some(HashChain {
                        result: result.clone(),
                        chain,
                    }),
                }));
            }
        }
        Err(e) => {
            for j in ok {
                let _ = j.reply.send(Err(e.duplicate()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyAlgorithm, KeyUsage, Pin, SignerConfig, SOFT_TOKEN_ID};
    use xroad_crypto::hashchain::{ChainInput, MapResolver, SIG_HASH_CHAIN_URI};
    use xroad_crypto::SignMechanism;

    /// A drained batch of N requests for one key gets one signature and N hash chains, each
    /// of which leads to the signed result.
    #[test]
    fn a_batch_is_signed_once() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::open(SignerConfig::new(dir.path())).unwrap();
        signer.init_software_token(&Pin::new("1234")).unwrap();
        let key = signer
            .generate_key(SOFT_TOKEN_ID, KeyAlgorithm::EcP256, "k")
            .unwrap();
        let der = signer
            .self_signed_cert(&key.key_id, "k", KeyUsage::Signing, 1)
            .unwrap();
        let member = xroad_identifiers::ClientId::member("DEV", "COM", "1").unwrap();
        let info = signer.import_cert(&der, Some(member), None, None).unwrap();
        let alg =
            SignatureAlgorithm::new(xroad_crypto::DigestAlgorithm::Sha256, SignMechanism::Ecdsa);
        let builder = Arc::new(SignatureBuilder::new(alg, info.cert));
        let mut receivers = Vec::new();
        let mut jobs = Vec::new();
        for i in 0..7u8 {
            let (reply, rx) = oneshot::channel();
            let d = xroad_crypto::DigestAlgorithm::Sha512.digest(&[i]);
            receivers.push((d, rx));
            jobs.push(MessageJob {
                key_id: key.key_id.clone(),
                builder: builder.clone(),
                parts: vec![("/message.xml".into(), d)],
                queued: Instant::now(),
                reply,
            });
        }
        let stats = StatCounters::default();
        process(&signer, &stats, jobs, Duration::from_secs(50));
        let mut signatures = std::collections::HashSet::new();
        for (d, mut rx) in receivers {
            let signed = rx.try_recv().unwrap().unwrap();
            signatures.insert(signed.signature.clone());
            let hc = signed.hash_chain.unwrap();
            let resolver = MapResolver::new().with(SIG_HASH_CHAIN_URI, hc.chain.clone());
            let input = [ChainInput {
                uri: "/message.xml",
                digest: Some(&d),
            }];
            hashchain::verify(&hc.result, &resolver, &input).unwrap();
        }
        assert_eq!(signatures.len(), 1);
        let stats = stats.snapshot();
        assert_eq!(
            (stats.signatures, stats.messages, stats.max_batch),
            (1, 7, 7)
        );
        // 7 messages: the bucket "more than 4, at most 8".
        assert_eq!(stats.batch_sizes[3], 1);
        assert_eq!(stats.batch_sizes.iter().sum::<u64>(), 1);
        // One key operation timed.
        assert_eq!(stats.sign_durations.iter().sum::<u64>(), 1);
        assert!(stats.sign_time > Duration::ZERO);
    }

    #[test]
    fn sign_durations_fall_into_their_buckets() {
        let c = StatCounters::default();
        for micros in [10, 50, 51, 2_000, 5_000_000] {
            c.record_duration(Duration::from_micros(micros));
        }
        let s = c.snapshot();
        assert_eq!(s.sign_durations, [2, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(s.sign_time, Duration::from_micros(5_002_111));
    }

    #[test]
    fn batch_sizes_fall_into_their_buckets() {
        let c = StatCounters::default();
        for n in [1, 1, 2, 3, 512, 513, 10_000] {
            c.record(n);
        }
        let s = c.snapshot();
        assert_eq!(s.signatures, 7);
        assert_eq!(s.messages, 1 + 1 + 2 + 3 + 512 + 513 + 10_000);
        assert_eq!(s.max_batch, 10_000);
        assert_eq!(s.batch_sizes, [2, 1, 1, 0, 0, 0, 0, 0, 0, 1, 2]);
    }
}
