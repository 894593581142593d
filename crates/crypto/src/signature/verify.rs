//! Verification of an X-Road message signature, step by step in the order of Java's
//! `SignatureVerifier`, so that the same broken signature fails with the same code.

use std::sync::Arc;
use std::time::SystemTime;

use xroad_fault::{ErrorCode, XRoadError};
use xroad_identifiers::ClientId;

use super::parse::{malformed, SignatureDoc, DS_NS, XADES_NS};
use super::{Part, Verified};
use crate::algorithm::{DigestAlgorithm, EcdsaEncoding, SignatureAlgorithm};
use crate::c14n;
use crate::cert::Certificate;
use crate::hashchain::{
    self, ChainInput, ChainResolver, SIG_HASH_CHAIN_RESULT_URI, SIG_HASH_CHAIN_URI,
};
use crate::ocsp::OcspResponse;
use crate::profile::CertificateProfile;
use crate::trust::TrustContext;
use crate::util::decode_base64;

/// How to verify.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions {
    /// Apply the schema checks (Java: on, except in the ASiC verifier).
    pub check_schema: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions { check_schema: true }
    }
}

/// The hash-chain parts received with a batch signature.
#[derive(Debug, Clone, Copy)]
pub struct HashChainParts<'a> {
    /// The `HashChainResult` bytes (`/sig-hashchainresult.xml`).
    pub result: &'a [u8],
    /// The `HashChain` bytes (`/sig-hashchain.xml`).
    pub chain: &'a [u8],
}

struct ReceivedChain<'a>(&'a [u8]);

impl ChainResolver for ReceivedChain<'_> {
    fn resolve(&self, uri: &str) -> Option<Vec<u8>> {
        (uri == SIG_HASH_CHAIN_URI).then(|| self.0.to_vec())
    }
}

fn not_valid() -> XRoadError {
    XRoadError::new(ErrorCode::InvalidSignatureValue, "Signature is not valid")
}

/// Verifies a signature over `parts` claimed by `signer` at the instant `at`.
pub(crate) fn verify(
    xml: &[u8],
    signer: &ClientId,
    parts: &[Part<'_>],
    hash_chain: Option<HashChainParts<'_>>,
    trust: &TrustContext,
    at: SystemTime,
    options: VerifyOptions,
) -> Result<Verified, XRoadError> {
    let sig = SignatureDoc::parse(xml)?;
    if options.check_schema {
        sig.check_schema()?;
    }
    check_target(&sig)?;
    let references = references(&sig)?;

    // Parts reached through the hash chain, when the signature covers its result.
    let chained = match hash_chain {
        Some(hc)
            if references
                .iter()
                .any(|r| r.uri == SIG_HASH_CHAIN_RESULT_URI) =>
        {
            let inputs: Vec<ChainInput<'_>> = parts
                .iter()
                .map(|p| ChainInput {
                    uri: p.uri,
                    digest: Some(&p.digest),
                })
                .collect();
            hashchain::verify(hc.result, &ReceivedChain(hc.chain), &inputs)
                .map_err(|e| e.with_prefix(ErrorCode::MalformedSignature))?;
            true
        }
        _ => false,
    };
    // Every received part must be covered: Java would leave an unreferenced attachment
    // unprotected; we refuse it.
    if !chained {
        if let Some(p) = parts
            .iter()
            .find(|p| !references.iter().any(|r| r.uri == p.uri))
        {
            return Err(malformed(format!(
                "the signature does not cover the part {}",
                p.uri
            )));
        }
    }

    let cert = signing_certificate(&sig, trust)?;
    if !cert.is_signing_cert()? {
        return Err(malformed(format!(
            "Certificate {} is not a signing certificate",
            cert.subject()
        )));
    }
    let member = signer_member(&cert, signer, trust)?;

    verify_signature_value(&sig, &cert)?;
    for r in &references {
        check_reference(&sig, r, parts, hash_chain)?;
    }

    check_extra_certificates(&sig)?;
    let ocsp = ocsp_responses(&sig, trust)?;
    crate::path::verify(&cert, signer.instance(), &ocsp, trust, at)?;

    Ok(Verified {
        signing_cert: cert,
        signer: member,
        signing_time: signing_time(&sig),
        ocsp_responses: ocsp,
    })
}

/// The XAdES properties must belong to this signature: `QualifyingProperties/@Target` names
/// the `ds:Signature` by its `Id` (Java does not check; all X-Road signers write it so).
fn check_target(sig: &SignatureDoc) -> Result<(), XRoadError> {
    let doc = &sig.doc;
    let Some(id) = doc.attr(sig.signature, "", "Id") else {
        return Ok(());
    };
    for qp in doc.children_named(sig.object, XADES_NS, "QualifyingProperties") {
        let target = doc.attr(qp, "", "Target").unwrap_or("");
        if target.strip_prefix('#') != Some(id) {
            return Err(malformed(format!(
                "xades:QualifyingProperties targets {target}, not this signature (#{id})"
            )));
        }
    }
    Ok(())
}

/// A `ds:Reference` of `SignedInfo`.
#[derive(Debug)]
struct Reference<'a> {
    uri: &'a str,
    transforms: Vec<&'a str>,
    digest_method: &'a str,
    digest: Vec<u8>,
}

fn references(sig: &SignatureDoc) -> Result<Vec<Reference<'_>>, XRoadError> {
    let doc = &sig.doc;
    let mut out = Vec::new();
    for r in doc.children_named(sig.signed_info, DS_NS, "Reference") {
        let uri = doc.attr(r, "", "URI").unwrap_or("");
        let transforms = doc
            .child(r, DS_NS, "Transforms")
            .map(|t| {
                doc.children_named(t, DS_NS, "Transform")
                    .filter_map(|x| doc.attr(x, "", "Algorithm"))
                    .collect()
            })
            .unwrap_or_default();
        let digest_method = doc
            .child(r, DS_NS, "DigestMethod")
            .and_then(|m| doc.attr(m, "", "Algorithm"))
            .ok_or_else(|| malformed("a Reference has no DigestMethod"))?;
        let digest = doc
            .child(r, DS_NS, "DigestValue")
            .and_then(|v| decode_base64(&doc.text(v)))
            .ok_or_else(|| malformed("a Reference has no valid DigestValue"))?;
        out.push(Reference {
            uri,
            transforms,
            digest_method,
            digest,
        });
    }
    Ok(out)
}

fn signing_certificate(
    sig: &SignatureDoc,
    trust: &TrustContext,
) -> Result<Arc<Certificate>, XRoadError> {
    use crate::cache::EmbeddedError;
    let doc = &sig.doc;
    let missing = || malformed("Signature does not contain signing certificate");
    let key_info = doc
        .child(sig.signature, DS_NS, "KeyInfo")
        .ok_or_else(missing)?;
    let text = doc
        .children_named(key_info, DS_NS, "X509Data")
        .find_map(|x| doc.child(x, DS_NS, "X509Certificate"))
        .map(|c| doc.text(c))
        .ok_or_else(missing)?;
    trust.cache.certificate_b64(&text).map_err(|e| match e {
        EmbeddedError::Base64 => missing(),
        EmbeddedError::Parse(e) => XRoadError::new(ErrorCode::IncorrectCertificate, e.to_string()),
    })
}

/// The member named by the signing certificate, which must be the claimed signer.
fn signer_member(
    cert: &Certificate,
    signer: &ClientId,
    trust: &TrustContext,
) -> Result<ClientId, XRoadError> {
    let (ca, _) = trust
        .issuer_in(signer.instance(), cert)
        .ok_or_else(|| XRoadError::new(ErrorCode::InternalError, crate::path::NOT_APPROVED))?;
    if ca.profile_class.trim().is_empty() {
        return Err(XRoadError::new(
            ErrorCode::InternalError,
            format!(
                "Could not find certificate profile info for certificate {}",
                cert.subject()
            ),
        ));
    }
    let profile = CertificateProfile::from_class_name(&ca.profile_class)?;
    let member = profile.subject_member(cert, signer.instance())?;
    let same = member.instance() == signer.instance()
        && member.member_class() == signer.member_class()
        && member.member_code() == signer.member_code();
    if !same {
        return Err(XRoadError::new(
            ErrorCode::IncorrectCertificate,
            format!("Name in certificate ({member}) does not match name in message ({signer})"),
        ));
    }
    Ok(member)
}

fn canonicalization(
    doc: &crate::tree::Document,
    signed_info: usize,
) -> Result<c14n::Method, XRoadError> {
    let uri = doc
        .child(signed_info, DS_NS, "CanonicalizationMethod")
        .and_then(|c| doc.attr(c, "", "Algorithm"))
        .unwrap_or("");
    c14n::Method::from_uri(uri).ok_or_else(|| {
        XRoadError::new(
            ErrorCode::InternalError,
            format!("unsupported canonicalization method {uri}"),
        )
    })
}

fn verify_signature_value(sig: &SignatureDoc, cert: &Certificate) -> Result<(), XRoadError> {
    let doc = &sig.doc;
    let method = canonicalization(doc, sig.signed_info)?;
    let uri = doc
        .child(sig.signed_info, DS_NS, "SignatureMethod")
        .and_then(|m| doc.attr(m, "", "Algorithm"))
        .unwrap_or("");
    let algorithm = SignatureAlgorithm::from_uri(uri).ok_or_else(|| {
        XRoadError::new(
            ErrorCode::InternalError,
            format!("unsupported signature method {uri}"),
        )
    })?;
    let value = decode_base64(&doc.text(sig.signature_value)).ok_or_else(not_valid)?;
    let key = cert
        .public_key()
        .ok_or_else(|| XRoadError::new(ErrorCode::InternalError, "unsupported signing key type"))?;
    let canonical = c14n::subtree(doc, sig.signed_info, method);
    key.verify(algorithm, &canonical, &value, EcdsaEncoding::Raw)
        .map_err(|e| match e {
            crate::algorithm::VerifyError::Invalid => not_valid(),
            other => XRoadError::new(ErrorCode::InternalError, other.to_string()),
        })
}

fn check_reference(
    sig: &SignatureDoc,
    r: &Reference<'_>,
    parts: &[Part<'_>],
    hash_chain: Option<HashChainParts<'_>>,
) -> Result<(), XRoadError> {
    let alg = DigestAlgorithm::from_uri(r.digest_method).ok_or_else(|| {
        XRoadError::new(
            ErrorCode::InternalError,
            format!("unsupported digest method {}", r.digest_method),
        )
    })?;
    let actual = if let Some(id) = r.uri.strip_prefix('#') {
        let doc = &sig.doc;
        let node = doc.find_by_attr(doc.root, "Id", id).ok_or_else(|| {
            XRoadError::new(
                ErrorCode::InternalError,
                format!("Cannot resolve element with ID {id}"),
            )
        })?;
        let method = match r.transforms.as_slice() {
            [] => c14n::Method::Inclusive,
            [t] => c14n::Method::from_uri(t).ok_or_else(|| {
                XRoadError::new(
                    ErrorCode::InternalError,
                    format!("unsupported transform {t}"),
                )
            })?,
            _ => {
                return Err(XRoadError::new(
                    ErrorCode::InternalError,
                    "several transforms are not supported",
                ))
            }
        };
        alg.digest(&c14n::subtree(doc, node, method))
    } else if r.uri == SIG_HASH_CHAIN_RESULT_URI {
        let result = hash_chain.map(|h| h.result).ok_or_else(|| {
            XRoadError::new(
                ErrorCode::InvalidSignatureValue,
                "the signature covers a hash chain result that was not received",
            )
        })?;
        alg.digest(result)
    } else {
        let part = parts.iter().find(|p| p.uri == r.uri).ok_or_else(|| {
            XRoadError::new(
                ErrorCode::InvalidSignatureValue,
                format!("the signed part {} was not received", r.uri),
            )
        })?;
        match part.bytes {
            Some(bytes) if part.digest.algorithm() != alg => alg.digest(bytes),
            _ if part.digest.algorithm() != alg => return Err(not_valid()),
            _ => part.digest,
        }
    };
    if actual.as_bytes() != r.digest.as_slice() {
        return Err(not_valid());
    }
    Ok(())
}

/// `CompleteCertificateRefs` must point at included certificates whose digests match.
fn check_extra_certificates(sig: &SignatureDoc) -> Result<(), XRoadError> {
    let doc = &sig.doc;
    for node in doc.descendants(sig.object) {
        if !doc.is(node, XADES_NS, "CompleteCertificateRefs") {
            continue;
        }
        for refs in doc.children_named(node, XADES_NS, "CertRefs") {
            for cert_ref in doc.children_named(refs, XADES_NS, "Cert") {
                let uri = doc.attr(cert_ref, "", "URI").unwrap_or("");
                if uri.is_empty() {
                    return Err(malformed("Missing certificate id attribute"));
                }
                let id = uri.strip_prefix('#').unwrap_or(uri);
                let target = doc.find_by_attr(doc.root, "Id", id).ok_or_else(|| {
                    malformed(format!("Could not find certificate with id {uri}"))
                })?;
                let der = decode_base64(&doc.text(target))
                    .ok_or_else(|| malformed("malformed certificate"))?;
                let cert = Certificate::from_der(&der).map_err(|e| malformed(e.to_string()))?;
                let digest = doc.child(cert_ref, XADES_NS, "CertDigest");
                let method = digest
                    .and_then(|d| doc.child(d, DS_NS, "DigestMethod"))
                    .and_then(|m| doc.attr(m, "", "Algorithm"))
                    .and_then(DigestAlgorithm::from_uri);
                let value = digest
                    .and_then(|d| doc.child(d, DS_NS, "DigestValue"))
                    .and_then(|v| decode_base64(&doc.text(v)));
                match (method, value) {
                    (Some(m), Some(v)) if m.digest(&der).as_bytes() == v.as_slice() => {}
                    _ => {
                        return Err(malformed(format!(
                            "Certificate ({}) digest does not match",
                            cert.serial_decimal()
                        )))
                    }
                }
            }
        }
    }
    Ok(())
}

fn ocsp_responses(
    sig: &SignatureDoc,
    trust: &TrustContext,
) -> Result<Vec<Arc<OcspResponse>>, XRoadError> {
    let doc = &sig.doc;
    let values: Vec<usize> = doc
        .descendants(sig.object)
        .filter(|&n| doc.is(n, XADES_NS, "EncapsulatedOCSPValue"))
        .collect();
    if values.is_empty() {
        return Err(malformed("Could not get any OCSP elements from signature"));
    }
    values
        .into_iter()
        .map(|v| {
            trust
                .cache
                .ocsp_response_b64(&doc.text(v))
                .map_err(|e| match e {
                    crate::cache::EmbeddedError::Base64 => {
                        malformed("an OCSP response is not base64")
                    }
                    crate::cache::EmbeddedError::Parse(e) => malformed(e.message().to_owned()),
                })
        })
        .collect()
}

fn signing_time(sig: &SignatureDoc) -> Option<String> {
    let doc = &sig.doc;
    doc.descendants(sig.object)
        .find(|&n| doc.is(n, XADES_NS, "SigningTime"))
        .map(|n| doc.text(n))
}
