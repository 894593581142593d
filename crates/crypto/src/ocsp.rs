//! OCSP as X-Road uses it: requests with a SHA-1 `CertID` and no nonce, responses verified
//! against global configuration with X-Road's freshness rule (`thisUpdate ≥ at − freshness`,
//! no upper bound; `nextUpdate` only when enabled).

use std::sync::Arc;
use std::time::SystemTime;

use xroad_fault::{ErrorCode, XRoadError};

use crate::algorithm::{oid, DigestAlgorithm, EcdsaEncoding, SignatureAlgorithm};
use crate::cert::{algorithm_identifier, certificates_in, Certificate};
use crate::der::{self, generalized_time, tag, DerError, Reader, Tlv};
use crate::time::{format_xsd_millis, from_unix, to_unix};
use crate::trust::TrustContext;

/// The status a response gives the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    /// Not revoked.
    Good,
    /// Revoked at this time (seconds since the epoch).
    Revoked(i64),
    /// The responder does not know the certificate.
    Unknown,
}

/// Who signed a response.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ResponderId {
    ByName(Vec<u8>),
    ByKey(Vec<u8>),
}

/// A parsed, successful, basic OCSP response.
#[derive(Debug, Clone)]
pub struct OcspResponse {
    der: Vec<u8>,
    fingerprint: [u8; 32],
    tbs: std::ops::Range<usize>,
    responder: ResponderId,
    produced_at: i64,
    /// The first `SingleResponse`: its `CertID` DER, status and times.
    cert_id: Vec<u8>,
    status: CertStatus,
    this_update: i64,
    next_update: Option<i64>,
    signature_algorithm: Option<SignatureAlgorithm>,
    signature: Vec<u8>,
    certs: Vec<Arc<Certificate>>,
}

fn incorrect(msg: impl Into<String>) -> XRoadError {
    XRoadError::new(ErrorCode::IncorrectValidationInfo, msg)
}

/// The `responseStatus` names of RFC 6960.
fn status_name(status: u8) -> &'static str {
    match status {
        1 => "malformedRequest",
        2 => "internalError",
        3 => "tryLater",
        5 => "sigRequired",
        6 => "unauthorized",
        _ => "unknown",
    }
}

impl OcspResponse {
    /// Parses a DER `OCSPResponse`; only successful basic responses are usable.
    pub fn from_der(bytes: &[u8]) -> Result<OcspResponse, XRoadError> {
        Self::parse(bytes).map_err(|e| match e {
            ParseError::Der(d) => XRoadError::new(
                ErrorCode::InternalError,
                format!("Malformed OCSP response: {d}"),
            ),
            ParseError::Status(s) => XRoadError::new(
                ErrorCode::InternalError,
                format!(
                    "OCSP response status is {} ({s}), not successful",
                    status_name(s)
                ),
            ),
            ParseError::Cert(c) => XRoadError::new(
                ErrorCode::InternalError,
                format!("Malformed OCSP response: {c}"),
            ),
        })
    }

    fn parse(bytes: &[u8]) -> Result<OcspResponse, ParseError> {
        let outer =
            Tlv::parse_exact(bytes)?.expect_tag(tag::SEQUENCE, "OCSPResponse is a SEQUENCE")?;
        let mut r = outer.reader();
        let status = r.next(tag::ENUMERATED, "responseStatus")?;
        let status = match status.content {
            [s] => *s,
            _ => return Err(DerError("responseStatus").into()),
        };
        if status != 0 {
            return Err(ParseError::Status(status));
        }
        let rb = r.next(tag::context(0), "responseBytes")?;
        let mut rb = Reader::new(rb.content)
            .next(tag::SEQUENCE, "ResponseBytes")?
            .reader();
        let kind = rb.next(tag::OID, "responseType")?;
        if kind.content != oid::OCSP_BASIC {
            return Err(DerError("not a basic OCSP response").into());
        }
        let basic_bytes = rb.next(tag::OCTET_STRING, "response")?.content;
        let offset = basic_bytes.as_ptr() as usize - bytes.as_ptr() as usize;
        let basic =
            Tlv::parse_exact(basic_bytes)?.expect_tag(tag::SEQUENCE, "BasicOCSPResponse")?;
        let mut b = basic.reader();
        let tbs = b.next(tag::SEQUENCE, "tbsResponseData")?;
        let tbs_start = offset + (tbs.raw.as_ptr() as usize - basic_bytes.as_ptr() as usize);
        let (alg, params) = algorithm_identifier(b.any("signatureAlgorithm")?)?;
        let sig = b.next(tag::BIT_STRING, "signature")?;
        let signature = match sig.content.split_first() {
            Some((0, s)) => s.to_vec(),
            _ => return Err(DerError("signature BIT STRING").into()),
        };
        let certs = match b.optional(tag::context(0))? {
            Some(c) => {
                let seq = Reader::new(c.content).next(tag::SEQUENCE, "certs")?;
                certificates_in(seq.content).map_err(|e| ParseError::Cert(e.to_string()))?
            }
            None => Vec::new(),
        };

        let mut d = tbs.reader();
        d.optional(tag::context(0))?; // version
        let rid = d.any("responderID")?;
        let responder = match rid.tag {
            t if t == tag::context(1) => ResponderId::ByName(rid.content.to_vec()),
            t if t == tag::context(2) => ResponderId::ByKey(
                Reader::new(rid.content)
                    .next(tag::OCTET_STRING, "KeyHash")?
                    .content
                    .to_vec(),
            ),
            _ => return Err(DerError("responderID").into()),
        };
        let produced_at = generalized_time(d.any("producedAt")?)?;
        let responses = d.next(tag::SEQUENCE, "responses")?;
        let mut single = responses
            .reader()
            .next(tag::SEQUENCE, "no SingleResponse")?
            .reader();
        let cert_id = single.next(tag::SEQUENCE, "certID")?.raw.to_vec();
        let st = single.any("certStatus")?;
        let status = match st.tag {
            0x80 => CertStatus::Good,
            t if t == tag::context(1) => {
                CertStatus::Revoked(generalized_time(st.reader().any("revocationTime")?)?)
            }
            0x82 => CertStatus::Unknown,
            _ => return Err(DerError("certStatus").into()),
        };
        let this_update = generalized_time(single.any("thisUpdate")?)?;
        let next_update = match single.optional(tag::context(0))? {
            Some(n) => Some(generalized_time(Tlv::parse_exact(n.content)?)?),
            None => None,
        };
        Ok(OcspResponse {
            der: bytes.to_vec(),
            fingerprint: crate::cache::key(&[bytes]),
            tbs: tbs_start..tbs_start + tbs.raw.len(),
            responder,
            produced_at,
            cert_id,
            status,
            this_update,
            next_update,
            signature_algorithm: SignatureAlgorithm::from_oid(alg, params),
            signature,
            certs: certs.into_iter().map(Arc::new).collect(),
        })
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The status of the (first) certificate.
    pub fn status(&self) -> CertStatus {
        self.status
    }

    /// `thisUpdate`.
    pub fn this_update(&self) -> SystemTime {
        from_unix(self.this_update)
    }

    /// `nextUpdate`, if given.
    pub fn next_update(&self) -> Option<SystemTime> {
        self.next_update.map(from_unix)
    }

    /// `producedAt`.
    pub fn produced_at(&self) -> SystemTime {
        from_unix(self.produced_at)
    }

    /// Whether this response is about `subject` issued by `issuer` (SHA-1 `CertID`, compared
    /// as DER like Java's BouncyCastle does: SHA-256 `CertID`s never match).
    pub fn is_for(&self, subject: &Certificate, issuer: &Certificate) -> bool {
        self.cert_id == cert_id(subject, issuer)
    }

    /// Verifies the response for `subject` (issued by `issuer`) at `at`, as Java's
    /// `OcspVerifier` does: applies to the certificate, signed by a responder found and
    /// authorised through `trust`, fresh, and `good`.
    pub fn verify(
        &self,
        subject: &Certificate,
        issuer: &Certificate,
        trust: &TrustContext,
        at: SystemTime,
    ) -> Result<(), XRoadError> {
        self.verify_validity(subject, issuer, trust, at)?;
        match self.status {
            CertStatus::Good => Ok(()),
            CertStatus::Unknown => Err(XRoadError::new(
                ErrorCode::CertValidation,
                "OCSP response indicates certificate status is UNKNOWN",
            )),
            CertStatus::Revoked(t) => Err(XRoadError::new(
                ErrorCode::CertValidation,
                format!(
                    "OCSP response indicates certificate status is REVOKED (date: {})",
                    java_date(t)
                ),
            )),
        }
    }

    /// Everything but the status (what the signer checks before caching a response).
    pub fn verify_validity(
        &self,
        subject: &Certificate,
        issuer: &Certificate,
        trust: &TrustContext,
        at: SystemTime,
    ) -> Result<(), XRoadError> {
        if !self.is_for(subject, issuer) {
            return Err(incorrect(format!(
                "OCSP response does not apply to certificate (sn = {})",
                subject.serial_decimal()
            )));
        }
        // Who signed it, and whether they may, does not depend on the instant: proven once.
        let fact = (
            crate::cache::FactKind::OcspSigned,
            self.fingerprint,
            *issuer.fingerprint(),
        );
        if !trust.cache.knows(&fact) {
            self.verify_signer(issuer, trust)?;
            trust.cache.remember(fact);
        }
        let at = to_unix(at);
        if self.this_update < at - trust.ocsp_freshness_seconds {
            return Err(incorrect(format!(
                "OCSP response is too old (thisUpdate: {})",
                format_xsd_millis(from_unix(self.this_update))
            )));
        }
        if trust.verify_next_update {
            if let Some(next) = self.next_update.filter(|&n| n < at) {
                return Err(incorrect(format!(
                    "OCSP nextUpdate is too old, atDate: {} nextUpdate: {}",
                    format_xsd_millis(from_unix(at)),
                    format_xsd_millis(from_unix(next))
                )));
            }
        }
        Ok(())
    }

    /// The response is signed by a responder found through `trust` and authorised for the CA.
    fn verify_signer(&self, issuer: &Certificate, trust: &TrustContext) -> Result<(), XRoadError> {
        let responder = self
            .find_responder(trust)
            .ok_or_else(|| incorrect("Could not find OCSP certificate for responder ID"))?;
        let valid = match (self.signature_algorithm, responder.public_key()) {
            (Some(alg), Some(key)) => key
                .verify(
                    alg,
                    &self.der[self.tbs.clone()],
                    &self.signature,
                    EcdsaEncoding::Der,
                )
                .is_ok(),
            _ => false,
        };
        if !valid {
            return Err(incorrect("Signature on OCSP response is not valid"));
        }
        if !is_authorized(&responder, issuer, trust) {
            return Err(incorrect("OCSP responder is not authorized for given CA"));
        }
        Ok(())
    }

    fn find_responder(&self, trust: &TrustContext) -> Option<Arc<Certificate>> {
        let by_name = match &self.responder {
            ResponderId::ByName(der) => crate::cert::Name::from_der(der).ok(),
            ResponderId::ByKey(_) => None,
        };
        let matches = |c: &Certificate| match &self.responder {
            ResponderId::ByName(_) => by_name.as_ref().is_some_and(|n| c.subject().matches(n)),
            ResponderId::ByKey(hash) => {
                DigestAlgorithm::Sha1.digest(c.key_bits()).as_bytes() == hash.as_slice()
            }
        };
        trust
            .responder_candidates()
            .chain(self.certs.iter())
            .find(|c| matches(c))
            .cloned()
    }
}

/// Java's authorisation rule: a responder configured for the CA, the CA itself, or a
/// certificate the CA issued with extended key usage OCSPSigning.
fn is_authorized(responder: &Certificate, issuer: &Certificate, trust: &TrustContext) -> bool {
    trust.is_configured_responder(issuer, responder)
        || responder == issuer
        || (responder.issuer().matches(issuer.subject())
            && responder.is_signed_by(issuer).is_ok()
            && responder.has_extended_key_usage(oid::KP_OCSP_SIGNING))
}

/// `yyyy-MM-dd HH:mm:ss` in UTC, as Java formats the revocation date.
fn java_date(t: i64) -> String {
    let s = format_xsd_millis(from_unix(t));
    s.get(..19).unwrap_or(&s).replace('T', " ")
}

#[derive(Debug)]
enum ParseError {
    Der(DerError),
    Status(u8),
    Cert(String),
}

impl From<DerError> for ParseError {
    fn from(e: DerError) -> Self {
        ParseError::Der(e)
    }
}

/// The DER `CertID` of `subject` with SHA-1, as X-Road computes it.
pub fn cert_id(subject: &Certificate, issuer: &Certificate) -> Vec<u8> {
    let (name_hash, key_hash) = issuer.issuer_hashes();
    let mut out = Vec::with_capacity(80);
    der::write_nested(tag::SEQUENCE, &mut out, |c| {
        der::write_nested(tag::SEQUENCE, c, |a| {
            der::write(tag::OID, oid::SHA1, a);
            der::write(tag::NULL, &[], a);
        });
        der::write(tag::OCTET_STRING, name_hash, c);
        der::write(tag::OCTET_STRING, key_hash, c);
        der::write(tag::INTEGER, subject.serial_der_content(), c);
    });
    out
}

/// A DER `OCSPRequest` for `subject`: one request, SHA-1 `CertID`, unsigned, no nonce (as
/// X-Road's signer sends them).
pub fn request(subject: &Certificate, issuer: &Certificate) -> Vec<u8> {
    let id = cert_id(subject, issuer);
    let mut out = Vec::with_capacity(id.len() + 16);
    der::write_nested(tag::SEQUENCE, &mut out, |req| {
        der::write_nested(tag::SEQUENCE, req, |tbs| {
            der::write_nested(tag::SEQUENCE, tbs, |list| {
                der::write_nested(tag::SEQUENCE, list, |one| one.extend_from_slice(&id));
            });
        });
    });
    out
}
