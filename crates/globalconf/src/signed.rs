//! The signed configuration directory a central server publishes: a MIME entity with its own
//! `Content-Type` line, whose first part (the directory: expiry, version and one digest per
//! file) is signed by the second. Verified in the order of Java's `ConfigurationParser`, with
//! its error codes.

use std::sync::Arc;
use std::time::SystemTime;

use xroad_crypto::algorithm::EcdsaEncoding;
use xroad_crypto::{Certificate, DigestAlgorithm, SignatureAlgorithm};
use xroad_fault::{ErrorCode, XRoadError};
use xroad_mime::{ContentType, Event, MultipartReader, PartHeaders};

/// One file the directory lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentPart {
    /// `Content-identifier` (`SHARED-PARAMETERS`, `PRIVATE-PARAMETERS`, …), if given.
    pub content_identifier: Option<String>,
    /// Its `instance` parameter, if given.
    pub instance: Option<String>,
    /// `Content-location`, to resolve against the download URL.
    pub location: String,
    /// `Content-file-name`, if given.
    pub file_name: Option<String>,
    /// The digest algorithm (`Hash-algorithm-id`).
    pub hash_algorithm: DigestAlgorithm,
    /// The file's digest, as the base64 text of the part (compared as text with local files,
    /// as Java does).
    pub digest_base64: String,
}

/// A verified directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDirectory {
    /// `Expire-date`.
    pub expires: SystemTime,
    /// `Version` (2 when absent).
    pub version: u32,
    /// The files, in order.
    pub parts: Vec<ContentPart>,
}

fn code(c: ErrorCode, msg: impl Into<String>) -> XRoadError {
    XRoadError::new(c, msg)
}

/// A part read whole: its headers and raw body.
struct RawPart {
    headers: PartHeaders,
    body: Vec<u8>,
}

/// Splits a multipart body (mime4j framing; a missing close delimiter ends at the input's end).
fn split(body: &[u8], boundary: &str) -> Result<Vec<RawPart>, XRoadError> {
    let malformed = |e: xroad_mime::MimeError| {
        code(
            ErrorCode::MalformedGlobalConf,
            format!("malformed configuration directory: {e}"),
        )
    };
    let mut reader = MultipartReader::new(boundary).map_err(malformed)?;
    let mut parts: Vec<RawPart> = Vec::new();
    let mut input = body;
    loop {
        // mime4j (non-strict) accepts a body that ends without its close delimiter, or inside
        // a part's headers: the parts read so far are all there is (the central server's inner
        // directory has no close delimiter).
        let (consumed, event) = match reader.next_event(input, true) {
            Ok(step) => step,
            Err(xroad_mime::MimeError::Truncated | xroad_mime::MimeError::TruncatedHeaders) => {
                break
            }
            Err(e) => return Err(malformed(e)),
        };
        match event {
            Event::Headers(headers) => parts.push(RawPart {
                headers,
                body: Vec::new(),
            }),
            Event::Data(d) => {
                if let Some(p) = parts.last_mut() {
                    p.body.extend_from_slice(d);
                }
            }
            Event::PartEnd | Event::NeedMore => {}
            Event::End => break,
        }
        if consumed == 0 && input.is_empty() {
            break;
        }
        input = &input[consumed..];
    }
    Ok(parts)
}

/// The header block at the start of a non-headless entity, and the body after it.
fn entity_header(bytes: &[u8]) -> Option<(String, &[u8])> {
    let mut pos = 0;
    let mut content_type = None;
    while pos < bytes.len() {
        let end = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| pos + i);
        let line = &bytes[pos..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos = (end + 1).min(bytes.len());
        if line.is_empty() {
            return content_type.map(|ct| (ct, &bytes[pos..]));
        }
        let text = String::from_utf8_lossy(line);
        if let Some((name, value)) = text.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_owned());
            }
        }
    }
    None
}

fn header<'h>(h: &'h PartHeaders, name: &str) -> Option<&'h str> {
    h.get(name).map(str::trim)
}

/// `value; name="x"` or `name='x'`: the parameter `name`, quotes removed.
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| {
            let v = v.trim();
            v.trim_matches('"').trim_matches('\'').to_owned()
        })
    })
}

/// Parses and verifies a downloaded directory. `verification_certs` are the configuration
/// source's certificates (from the anchor or the shared parameters); `now` is the instant the
/// expiry is checked against.
pub fn parse_signed_directory(
    bytes: &[u8],
    verification_certs: &[Arc<Certificate>],
    now: SystemTime,
) -> Result<SignedDirectory, XRoadError> {
    let missing_date = || {
        code(
            ErrorCode::GlobalConfMissingSignedDataExpirationDate,
            "Configuration does not contain signed data with an expiration date",
        )
    };
    let (content_type, body) = entity_header(bytes).ok_or_else(|| {
        code(
            ErrorCode::MalformedGlobalConf,
            "the configuration directory has no Content-Type header",
        )
    })?;
    let ct = ContentType::parse(&content_type)
        .map_err(|e| code(ErrorCode::MalformedGlobalConf, e.to_string()))?;
    let boundary = ct
        .multipart_boundary()
        .map_err(|e| code(ErrorCode::MalformedGlobalConf, e.to_string()))?;
    let outer = split(body, boundary)?;
    // Without a signature nothing is read (Java never reaches the signed data then).
    let (Some(signed), Some(signature)) = (outer.first(), outer.get(1)) else {
        return Err(missing_date());
    };

    verify_signature(
        &signed.body,
        &signature.headers,
        &signature.body,
        verification_certs,
    )?;

    let inner_boundary = signed.headers.multipart_boundary().ok_or_else(|| {
        code(
            ErrorCode::MalformedGlobalConf,
            "the signed data is not a multipart",
        )
    })?;
    let inner = split(&signed.body, &inner_boundary)?;
    let head = inner.first().ok_or_else(missing_date)?;
    let expire_text = header(&head.headers, "Expire-date").ok_or_else(|| {
        code(
            ErrorCode::GlobalConfHeaderFieldMissing,
            "Missing header field 'Expire-date'",
        )
    })?;
    let expires = xroad_crypto::time::parse_instant(expire_text).ok_or_else(|| {
        code(
            ErrorCode::MalformedGlobalConf,
            format!("Expire-date '{expire_text}' is not a date-time"),
        )
    })?;
    if expires < now {
        return Err(code(
            ErrorCode::OutdatedGlobalConf,
            format!("Global configuration expired at {expire_text}"),
        ));
    }
    let version = header(&head.headers, "Version").map_or(Ok(2), |v| {
        v.parse::<u32>().map_err(|_| {
            code(
                ErrorCode::MalformedGlobalConf,
                format!("Version '{v}' is not a number"),
            )
        })
    })?;
    let parts = inner[1..]
        .iter()
        .map(content_part)
        .collect::<Result<_, _>>()?;
    Ok(SignedDirectory {
        expires,
        version,
        parts,
    })
}

fn verify_signature(
    data: &[u8],
    headers: &PartHeaders,
    body: &[u8],
    certs: &[Arc<Certificate>],
) -> Result<(), XRoadError> {
    let failure = |m: &str| {
        code(
            ErrorCode::GlobalConfSignatureVerificationFailure,
            m.to_owned(),
        )
    };
    let required = |name: &str| {
        header(headers, name).ok_or_else(|| {
            code(
                ErrorCode::GlobalConfHeaderFieldMissing,
                format!("Missing header field '{name}'"),
            )
        })
    };
    let cert_hash = required("Verification-certificate-hash")?;
    let hash_uri = parameter(cert_hash, "hash-algorithm-id").ok_or_else(|| {
        code(
            ErrorCode::GlobalConfHeaderFieldMissingParameter,
            "Missing parameter 'hash-algorithm-id' of header field 'Verification-certificate-hash'",
        )
    })?;
    let hash_alg = DigestAlgorithm::from_uri(&hash_uri)
        .ok_or_else(|| failure(&format!("unsupported hash algorithm {hash_uri}")))?;
    let wanted = cert_hash.split(';').next().unwrap_or("").trim();
    let cert = certs
        .iter()
        .find(|c| c.hash(hash_alg).to_base64() == wanted)
        .ok_or_else(|| {
            code(
                ErrorCode::GlobalConfMissingVerificationCert,
                format!("Cannot find verification certificate with hash {wanted}"),
            )
        })?;
    let alg_uri = required("Signature-algorithm-id")?;
    let alg = SignatureAlgorithm::from_uri(alg_uri)
        .ok_or_else(|| failure(&format!("unsupported signature algorithm {alg_uri}")))?;
    let value = xroad_crypto::decode_base64(&String::from_utf8_lossy(body))
        .ok_or_else(|| failure("the signature is not base64"))?;
    let key = cert
        .public_key()
        .ok_or_else(|| failure("unsupported verification key"))?;
    key.verify(alg, data, &value, EcdsaEncoding::Der)
        .map_err(|_| failure("Signature of the configuration directory is not valid"))
}

fn content_part(p: &RawPart) -> Result<ContentPart, XRoadError> {
    let required = |name: &str| {
        header(&p.headers, name).ok_or_else(|| {
            code(
                ErrorCode::GlobalConfHeaderFieldMissing,
                format!("Missing header field '{name}'"),
            )
        })
    };
    for (name, expected) in [
        ("Content-type", "application/octet-stream"),
        ("Content-transfer-encoding", "base64"),
    ] {
        let value = required(name)?;
        if value != expected {
            return Err(code(
                ErrorCode::MalformedGlobalConf,
                format!("{name} is '{value}', not '{expected}'"),
            ));
        }
    }
    let location = required("Content-location")?.to_owned();
    let hash_uri = required("Hash-algorithm-id")?;
    let hash_algorithm = DigestAlgorithm::from_uri(hash_uri).ok_or_else(|| {
        code(
            ErrorCode::MalformedGlobalConf,
            format!("unsupported Hash-algorithm-id {hash_uri}"),
        )
    })?;
    let (content_identifier, instance) = match header(&p.headers, "Content-identifier") {
        Some(v) => (
            Some(v.split(';').next().unwrap_or("").trim().to_owned()),
            parameter(v, "instance"),
        ),
        None => (None, None),
    };
    let needs_instance = matches!(
        content_identifier.as_deref(),
        Some("PRIVATE-PARAMETERS" | "SHARED-PARAMETERS")
    );
    if needs_instance && instance.is_none() {
        return Err(code(
            ErrorCode::GlobalConfHeaderFieldMissingParameter,
            "Missing parameter 'instance' of header field 'Content-identifier'",
        ));
    }
    Ok(ContentPart {
        content_identifier,
        instance,
        location,
        file_name: header(&p.headers, "Content-file-name").map(str::to_owned),
        hash_algorithm,
        digest_base64: String::from_utf8_lossy(&p.body).trim().to_owned(),
    })
}
