//! Caches that make repeated verification cheap: parsed certificates and OCSP responses by
//! the SHA-256 of their DER, and time-independent facts already proven (a certificate's
//! signature by its issuer, an OCSP response's signature by an authorised responder).
//!
//! Look-ups take read locks, so verifications on many threads do not wait for each other;
//! only a miss writes. Only facts that do not depend on the verification instant are cached; validity periods,
//! freshness and status are checked every time. A cache lives in a [`TrustContext`]
//! (crate::TrustContext), so a new global configuration starts with an empty one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use crate::algorithm::DigestAlgorithm;
use crate::cert::{Certificate, CertificateError};
use crate::ocsp::OcspResponse;

/// Entries kept per map before it is cleared (memory stays bounded whatever peers send).
const MAX_ENTRIES: usize = 4096;

type Key = [u8; 32];

/// A time-independent fact about two objects named by their fingerprints (a certificate
/// issued by a CA, an OCSP response signed by an authorised responder): the kind and both
/// fingerprints as they are, so that a lookup costs no hashing beyond the map's.
pub(crate) type Fact = (FactKind, Key, Key);

/// What a [`Fact`] states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum FactKind {
    /// The first certificate is signed by the second.
    IssuedBy,
    /// The OCSP response is signed by the certificate, which may sign it.
    OcspSigned,
}

/// The SHA-256 of `parts`, each length-prefixed so that different splits differ.
pub(crate) fn key(parts: &[&[u8]]) -> Key {
    let mut h = DigestAlgorithm::Sha256.hasher();
    for p in parts {
        h.update(&(p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let mut out = [0; 32];
    out.copy_from_slice(h.finish().as_bytes());
    out
}

#[derive(Debug, Default)]
pub(crate) struct VerificationCache {
    certs: RwLock<HashMap<Key, Arc<Certificate>>>,
    ocsp: RwLock<HashMap<Key, Arc<OcspResponse>>>,
    /// Objects by the base64 text signatures carry them in: a hit needs neither decoding
    /// nor a cryptographic hash.
    certs_b64: RwLock<HashMap<String, Arc<Certificate>>>,
    ocsp_b64: RwLock<HashMap<String, Arc<OcspResponse>>>,
    facts: RwLock<HashSet<Fact>>,
}

/// Why an embedded object could not be read.
#[derive(Debug)]
pub(crate) enum EmbeddedError<E> {
    Base64,
    Parse(E),
}

fn bounded_insert<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, k: K, v: V) {
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(k, v);
}

impl VerificationCache {
    /// The certificate with this DER, parsed once.
    pub fn certificate(&self, der: &[u8]) -> Result<Arc<Certificate>, CertificateError> {
        let k = key(&[der]);
        if let Some(c) = self.certs.read().ok().and_then(|m| m.get(&k).cloned()) {
            return Ok(c);
        }
        let cert = Arc::new(Certificate::from_der(der)?);
        if let Ok(mut m) = self.certs.write() {
            bounded_insert(&mut m, k, Arc::clone(&cert));
        }
        Ok(cert)
    }

    /// The OCSP response with this DER, parsed once.
    pub fn ocsp_response(&self, der: &[u8]) -> Result<Arc<OcspResponse>, xroad_fault::XRoadError> {
        let k = key(&[der]);
        if let Some(r) = self.ocsp.read().ok().and_then(|m| m.get(&k).cloned()) {
            return Ok(r);
        }
        let resp = Arc::new(OcspResponse::from_der(der)?);
        if let Ok(mut m) = self.ocsp.write() {
            bounded_insert(&mut m, k, Arc::clone(&resp));
        }
        Ok(resp)
    }

    /// The certificate whose DER is base64 `text` (as a signature carries it).
    pub fn certificate_b64(
        &self,
        text: &str,
    ) -> Result<Arc<Certificate>, EmbeddedError<CertificateError>> {
        if let Some(c) = self
            .certs_b64
            .read()
            .ok()
            .and_then(|m| m.get(text).cloned())
        {
            return Ok(c);
        }
        let der = crate::util::decode_base64(text).ok_or(EmbeddedError::Base64)?;
        let cert = self.certificate(&der).map_err(EmbeddedError::Parse)?;
        if let Ok(mut m) = self.certs_b64.write() {
            bounded_insert(&mut m, text.to_owned(), Arc::clone(&cert));
        }
        Ok(cert)
    }

    /// The OCSP response whose DER is base64 `text`.
    pub fn ocsp_response_b64(
        &self,
        text: &str,
    ) -> Result<Arc<OcspResponse>, EmbeddedError<xroad_fault::XRoadError>> {
        if let Some(r) = self.ocsp_b64.read().ok().and_then(|m| m.get(text).cloned()) {
            return Ok(r);
        }
        let der = crate::util::decode_base64(text).ok_or(EmbeddedError::Base64)?;
        let resp = self.ocsp_response(&der).map_err(EmbeddedError::Parse)?;
        if let Ok(mut m) = self.ocsp_b64.write() {
            bounded_insert(&mut m, text.to_owned(), Arc::clone(&resp));
        }
        Ok(resp)
    }

    /// Whether the fact named by `key` was proven before.
    pub fn knows(&self, key: &Fact) -> bool {
        self.facts.read().is_ok_and(|s| s.contains(key))
    }

    /// Records a proven fact.
    pub fn remember(&self, key: Fact) {
        if let Ok(mut s) = self.facts.write() {
            if s.len() >= MAX_ENTRIES {
                s.clear();
            }
            s.insert(key);
        }
    }
}
