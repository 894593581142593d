//! What verification trusts, taken from global configuration: the approved certification
//! authorities of each instance (with their certificate profiles and OCSP responders), the
//! approved time-stamping authorities, and the OCSP freshness rules.
//!
//! The global configuration client builds a [`TrustContext`] from the shared parameters;
//! tests build one directly.

use std::sync::Arc;

use crate::cache::VerificationCache;
use crate::cert::Certificate;

/// A CA certificate (top or intermediate) with the OCSP responders configured for it.
#[derive(Debug, Clone)]
pub struct CaCert {
    /// The CA certificate.
    pub cert: Arc<Certificate>,
    /// OCSP responder certificates global configuration authorises for this CA.
    pub ocsp_responders: Vec<Arc<Certificate>>,
}

impl CaCert {
    /// A CA certificate without configured OCSP responder certificates.
    pub fn new(cert: Arc<Certificate>) -> Self {
        CaCert {
            cert,
            ocsp_responders: Vec::new(),
        }
    }

    /// Adds an authorised OCSP responder certificate.
    pub fn with_ocsp_responder(mut self, responder: Arc<Certificate>) -> Self {
        self.ocsp_responders.push(responder);
        self
    }
}

/// An approved certification service provider of one instance (`approvedCA`).
#[derive(Debug, Clone)]
pub struct ApprovedCa {
    /// The X-Road instance whose shared parameters list it.
    pub instance: String,
    /// Its name in global configuration.
    pub name: String,
    /// The top CA.
    pub top: CaCert,
    /// Intermediate CAs.
    pub intermediates: Vec<CaCert>,
    /// The Java class name of its certificate profile (`certificateProfileInfo`).
    pub profile_class: String,
    /// Whether it only issues authentication certificates.
    pub authentication_only: bool,
}

impl ApprovedCa {
    /// Every CA certificate of this provider: top first.
    pub fn ca_certs(&self) -> impl Iterator<Item = &CaCert> {
        std::iter::once(&self.top).chain(self.intermediates.iter())
    }
}

/// Everything a signature, certificate or OCSP verification trusts. Cheap to share.
#[derive(Debug, Clone)]
pub struct TrustContext {
    cas: Vec<ApprovedCa>,
    tsas: Vec<Arc<Certificate>>,
    /// `ocspFreshnessSeconds` of the verifier's own instance.
    pub ocsp_freshness_seconds: i64,
    /// Whether an OCSP `nextUpdate` in the past fails (the `verifyNextUpdate` parameter;
    /// true when global configuration has no such part).
    pub verify_next_update: bool,
    /// Parsed objects and proven facts, shared by the clones of this context.
    pub(crate) cache: Arc<VerificationCache>,
}

impl TrustContext {
    /// A context with X-Road's defaults: freshness 3600 s and `nextUpdate` checked.
    pub fn new(cas: Vec<ApprovedCa>) -> Self {
        TrustContext {
            cas,
            tsas: Vec::new(),
            ocsp_freshness_seconds: 3600,
            verify_next_update: true,
            cache: Arc::default(),
        }
    }

    /// Sets the OCSP freshness in seconds.
    pub fn with_ocsp_freshness(mut self, seconds: i64) -> Self {
        self.ocsp_freshness_seconds = seconds;
        self
    }

    /// Sets whether `nextUpdate` is checked.
    pub fn with_verify_next_update(mut self, on: bool) -> Self {
        self.verify_next_update = on;
        self
    }

    /// Sets the approved time-stamping authorities' certificates.
    pub fn with_tsas(mut self, tsas: Vec<Arc<Certificate>>) -> Self {
        self.tsas = tsas;
        self
    }

    /// The approved CAs of all instances.
    pub fn approved_cas(&self) -> &[ApprovedCa] {
        &self.cas
    }

    /// The approved time-stamping authorities' certificates.
    pub fn tsa_certs(&self) -> &[Arc<Certificate>] {
        &self.tsas
    }

    /// The CA certificate of `instance` that issued `cert` (Java's `getCaCert`): any top or
    /// intermediate CA certificate whose subject is the certificate's issuer.
    pub fn issuer_in(&self, instance: &str, cert: &Certificate) -> Option<(&ApprovedCa, &CaCert)> {
        self.cas
            .iter()
            .filter(|ca| ca.instance == instance)
            .flat_map(|ca| ca.ca_certs().map(move |c| (ca, c)))
            .find(|(_, c)| c.cert.subject().matches(cert.issuer()))
    }

    /// Whether global configuration names `responder` as an OCSP responder of the CA whose
    /// certificate is `ca` (under any instance).
    pub(crate) fn is_configured_responder(
        &self,
        ca: &Certificate,
        responder: &Certificate,
    ) -> bool {
        self.cas
            .iter()
            .flat_map(ApprovedCa::ca_certs)
            .filter(|c| *c.cert == *ca)
            .any(|c| c.ocsp_responders.iter().any(|r| **r == *responder))
    }

    /// Candidate certificates of an OCSP responder, in Java's order: configured responders,
    /// then all CA certificates.
    pub(crate) fn responder_candidates(&self) -> impl Iterator<Item = &Arc<Certificate>> {
        let all = || self.cas.iter().flat_map(ApprovedCa::ca_certs);
        all()
            .flat_map(|c| c.ocsp_responders.iter())
            .chain(all().map(|c| &c.cert))
    }
}
