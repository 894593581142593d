//! The X-Road message signature: XAdES inside `asic:XAdESSignatures`, over the message
//! parts by URI (`/message.xml`, `/attachmentN`) or over a hash-chain result.

use std::sync::Arc;
use std::time::SystemTime;

use xroad_fault::XRoadError;
use xroad_identifiers::ClientId;

use crate::algorithm::Digest;
use crate::cert::Certificate;
use crate::ocsp::OcspResponse;
use crate::trust::TrustContext;

mod build;
mod parse;
mod verify;

pub use build::{PreparedSignature, SignatureBuilder, SignedData};
pub use verify::{HashChainParts, VerifyOptions};

/// One received message part as the verifier sees it.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    /// Its URI: `/message.xml`, `/attachment1`, …
    pub uri: &'a str,
    /// Its digest, as computed while it streamed in (`x-hash-algorithm`, SHA-512).
    pub digest: Digest,
    /// Its bytes, if kept: needed only when a signature digests it with another algorithm.
    pub bytes: Option<&'a [u8]>,
}

impl<'a> Part<'a> {
    /// A part known by its digest.
    pub fn new(uri: &'a str, digest: Digest) -> Self {
        Part {
            uri,
            digest,
            bytes: None,
        }
    }
}

/// What a successful verification established.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The signing certificate.
    pub signing_cert: Arc<Certificate>,
    /// The member its certificate profile names.
    pub signer: ClientId,
    /// The XAdES `SigningTime`, as written.
    pub signing_time: Option<String>,
    /// The OCSP responses the signature carries.
    pub ocsp_responses: Vec<Arc<OcspResponse>>,
}

/// Verifies the signature document `xml` over `parts`, signed by `signer`, at `at`.
///
/// Checks, in Java's order: the XML and its schema; the hash chain when the signature
/// covers one; the signing certificate's key usage; that the certificate names `signer`
/// through its CA's certificate profile; the signature value and every reference; the
/// included certificates; the certificate path to an approved CA and its OCSP responses.
///
/// Errors carry Java's codes (`invalid_xml`, `malformed_signature[.<hash chain code>]`,
/// `incorrect_certificate`, `invalid_signature_value`, `cannot_create_cert_path.*`,
/// `invalid_cert_path.*`, `internal_error`); the caller adds `signature_verification` and
/// its origin.
pub fn verify(
    xml: &[u8],
    signer: &ClientId,
    parts: &[Part<'_>],
    hash_chain: Option<HashChainParts<'_>>,
    trust: &TrustContext,
    at: SystemTime,
) -> Result<Verified, XRoadError> {
    verify::verify(
        xml,
        signer,
        parts,
        hash_chain,
        trust,
        at,
        VerifyOptions::default(),
    )
}

/// The decoded `ds:SignatureValue` (what a message log time-stamps) and the time-stamp
/// token embedded in the signature (`xades:EncapsulatedTimeStamp`), if any.
pub fn signature_value_and_timestamp(xml: &[u8]) -> Result<(Vec<u8>, Option<Vec<u8>>), XRoadError> {
    let sig = parse::SignatureDoc::parse(xml)?;
    let doc = &sig.doc;
    let value = crate::util::decode_base64(&doc.text(sig.signature_value))
        .ok_or_else(|| parse::malformed("ds:SignatureValue is not base64"))?;
    let token = doc
        .descendants(sig.object)
        .find(|&n| doc.is(n, parse::XADES_NS, "EncapsulatedTimeStamp"))
        .map(|n| {
            crate::util::decode_base64(&doc.text(n))
                .ok_or_else(|| parse::malformed("xades:EncapsulatedTimeStamp is not base64"))
        })
        .transpose()?;
    Ok((value, token))
}

/// Whether the signature's `SignedInfo` references any of `uris`.
pub fn references_any(xml: &[u8], uris: &[&str]) -> Result<bool, XRoadError> {
    let sig = parse::SignatureDoc::parse(xml)?;
    let doc = &sig.doc;
    let found = doc
        .children_named(sig.signed_info, parse::DS_NS, "Reference")
        .any(|r| doc.attr(r, "", "URI").is_some_and(|u| uris.contains(&u)));
    Ok(found)
}

/// [`verify`] with options.
pub fn verify_with(
    xml: &[u8],
    signer: &ClientId,
    parts: &[Part<'_>],
    hash_chain: Option<HashChainParts<'_>>,
    trust: &TrustContext,
    at: SystemTime,
    options: VerifyOptions,
) -> Result<Verified, XRoadError> {
    verify::verify(xml, signer, parts, hash_chain, trust, at, options)
}
