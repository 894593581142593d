//! How the client proxy reads an information system's SOAP request.
//!
//! [`SoapRequestDecoder`] runs the checks the Java client proxy makes, in its order: the HTTP
//! method, the `Content-Type` (and its charset), the `SOAPAction` header, then the body as a
//! single SOAP document (`text/xml`, `application/xop+xml`) or as a SOAP-with-attachments or
//! MTOM package (`multipart/related`: the first leaf part is the SOAP message, whatever its
//! `start` parameter says; nested multiparts are flattened). It is fed the body as it streams,
//! hashes the SOAP bytes exactly as received (a UTF-8 BOM included) and every attachment's raw
//! bytes, and keeps nothing of the body itself.
//!
//! Errors carry the fault code the information system would receive, origin included:
//! `client.*` for what the request got wrong, `server.clientproxy.*` where the Java server
//! reports its own failure.

mod multipart;
mod soap_action;

use openssl::sha::Sha512 as Sha512Hasher;
use serde::Serialize;
use xroad_fault::{ErrorCode, Origin, XRoadError};
use xroad_mime::{ContentType, PartHeaders};

use crate::soap::{Soap, SoapMessage, SoapParser};

use self::multipart::{Flattener, Leaf};
pub use self::soap_action::validate_soap_action;

/// Content types of a single-part SOAP request.
const SOAP_TYPES: [&str; 2] = ["text/xml", "application/xop+xml"];

/// One attachment of a SOAP request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// The part's `Content-Type` value as sent.
    pub content_type: String,
    /// The part's other headers, in order.
    pub headers: Vec<(String, String)>,
    /// Length of the raw body in bytes (no transfer decoding).
    pub size: u64,
    /// SHA-512 of the raw body.
    #[serde(serialize_with = "base64_digest")]
    pub digest: Sha512,
}

/// A SOAP request as the client proxy accepts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SoapRequest {
    /// The parsed message.
    pub message: SoapMessage,
    /// The content type the SOAP part was received with (the HTTP `Content-Type` for a
    /// single-part request, the first part's for a multipart one).
    pub soap_content_type: String,
    /// The SOAP part's other MIME headers (multipart only), in order.
    pub soap_part_headers: Vec<(String, String)>,
    /// SHA-512 of the SOAP bytes as received (the request hash and signed digest).
    #[serde(serialize_with = "base64_digest")]
    pub soap_digest: Sha512,
    /// Length of the SOAP bytes.
    pub soap_size: u64,
    /// The attachments, in order.
    pub attachments: Vec<Attachment>,
    /// The `SOAPAction` header as received (forwarded to the provider verbatim).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soap_action: Option<String>,
    /// Whether the request was a `multipart/related` package.
    pub multipart: bool,
}

/// A SHA-512 digest.
pub type Sha512 = [u8; 64];

/// Most attachments one request may carry: each is remembered (type, headers, digest), so the
/// count bounds memory. Java has no limit.
pub const MAX_ATTACHMENTS: usize = 10_000;

fn base64_digest<S: serde::Serializer>(d: &Sha512, s: S) -> Result<S::Ok, S::Error> {
    use base64::Engine;
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(d))
}

fn client_error(code: ErrorCode, msg: impl Into<String>) -> XRoadError {
    XRoadError::new(code, msg).with_origin(Origin::Client)
}

/// A SOAP part read to its end.
struct ReadSoap {
    message: SoapMessage,
    digest: Sha512,
    size: u64,
}

/// The SOAP part being read: parser and digest run side by side over the raw bytes.
struct SoapPart {
    parser: SoapParser,
    hash: Sha512Hasher,
    size: u64,
}

impl SoapPart {
    fn new() -> Self {
        SoapPart {
            parser: SoapParser::new(),
            hash: Sha512Hasher::new(),
            size: 0,
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> Result<(), XRoadError> {
        self.hash.update(bytes);
        self.size += bytes.len() as u64;
        self.parser.feed(bytes)
    }

    fn finish(self) -> Result<ReadSoap, XRoadError> {
        let digest = self.hash.finish();
        match self.parser.finish()? {
            Soap::Message(message) => Ok(ReadSoap {
                message,
                digest,
                size: self.size,
            }),
            Soap::Fault(f) => Err(fault_as_request(f)),
        }
    }
}

/// A SOAP fault sent as a request: Java answers `client.` + the fault code lower-cased, with
/// the information system's fault string.
fn fault_as_request(f: crate::soap::SoapFault) -> XRoadError {
    match f.code {
        Some(code) => XRoadError::client_fault(code, f.string),
        None => XRoadError::new(
            ErrorCode::InternalError,
            f.string.unwrap_or_else(|| "null".into()),
        ),
    }
}

/// An attachment being read.
struct AttachmentPart {
    content_type: String,
    headers: Vec<(String, String)>,
    hash: Sha512Hasher,
    size: u64,
}

enum Body {
    Single(Box<SoapPart>),
    Multipart(Box<MultipartBody>),
}

/// The state of a `multipart/related` request: the splitter, and what its leaves become.
struct MultipartBody {
    parts: Flattener,
    leaves: Leaves,
}

/// What the leaf parts have given so far: the SOAP part first, then attachments.
#[derive(Default)]
struct Leaves {
    soap: Option<SoapPart>,
    soap_done: Option<ReadSoap>,
    /// The SOAP part's content type and other headers.
    soap_content_type: String,
    soap_headers: Vec<(String, String)>,
    current: Option<AttachmentPart>,
    attachments: Vec<Attachment>,
}

/// Receives the bytes of a request's leaf parts as they stream: `(leaf, bytes)`, leaf 0 being
/// the SOAP part and leaf `n` attachment `n`. An error stops the reading.
pub type PartSink<'a> = dyn FnMut(usize, &[u8]) -> Result<(), XRoadError> + 'a;

/// Reads one SOAP request of an information system; see the module documentation.
pub struct SoapRequestDecoder {
    content_type: String,
    soap_action: Option<String>,
    body: Body,
    failed: Option<XRoadError>,
}

/// A part's headers other than `Content-Type`, one per name with its last value, as Java's
/// map of part headers keeps them (in first-seen order here).
fn headers_except_content_type(h: &PartHeaders) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (n, v) in h
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("content-type"))
    {
        match out.iter_mut().find(|(seen, _)| seen == n) {
            Some(slot) => slot.1 = v.to_owned(),
            None => out.push((n.to_owned(), v.to_owned())),
        }
    }
    out
}

/// Checks the `charset` parameter the way Java's strict content type parser does: a charset
/// it does not know is a failure of the server (`internal_error`, the fault string being the
/// charset name as Java reports it), not of the client.
fn check_charset(ct: &ContentType) -> Result<(), XRoadError> {
    match ct.charset() {
        Some(cs) if !cs.is_empty() && !known_charset(cs) => {
            Err(XRoadError::new(ErrorCode::InternalError, cs))
        }
        _ => Ok(()),
    }
}

/// Whether Java knows the charset `label`: the WHATWG labels `encoding_rs` decodes (minus the
/// two that are not charsets), plus the Unicode and IBM code pages Java has and browsers
/// dropped. Names with whitespace are illegal in Java.
fn known_charset(label: &str) -> bool {
    const JAVA_ONLY: [&str; 12] = [
        "utf-32", "utf-32be", "utf-32le", "cesu-8", "ibm037", "ibm437", "ibm850", "ibm852",
        "ibm855", "ibm857", "ibm862", "ibm864",
    ];
    if label.bytes().any(|b| b.is_ascii_whitespace()) {
        return false;
    }
    let whatwg = encoding_rs::Encoding::for_label(label.as_bytes())
        .is_some_and(|e| e != encoding_rs::REPLACEMENT && e != encoding_rs::X_USER_DEFINED);
    whatwg || JAVA_ONLY.iter().any(|l| label.eq_ignore_ascii_case(l))
}

fn check_soap_type(ct: &str) -> Result<(), XRoadError> {
    let base = ct.split(';').next().unwrap_or(ct).trim();
    let invalid = || {
        client_error(
            ErrorCode::InvalidContentType,
            format!("Invalid content type: {base}"),
        )
    };
    let parsed = parse_lenient(ct).ok_or_else(invalid)?;
    // Java reads the charset (and fails on an unknown one) before it checks the type.
    check_charset(&parsed).map_err(|e| e.with_origin(Origin::Client))?;
    if !SOAP_TYPES.contains(&parsed.essence()) {
        return Err(invalid());
    }
    Ok(())
}

/// Parses a content type as leniently as Java's HTTP header parser: only the first element of
/// a comma-separated list counts, and malformed parameters leave just the media type.
fn parse_lenient(value: &str) -> Option<ContentType> {
    let first = first_element(value);
    ContentType::parse(first).ok().or_else(|| {
        let base = first.split(';').next().unwrap_or(first).trim();
        ContentType::parse(base).ok()
    })
}

/// The text before the first `,` that is not inside a quoted string.
fn first_element(value: &str) -> &str {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => return &value[..i],
            _ => {}
        }
    }
    value
}

impl SoapRequestDecoder {
    /// Starts reading a request with HTTP method `method`, `Content-Type` `content_type` and
    /// `SOAPAction` header `soap_action`. Fails with the fault the client proxy would send if
    /// the request is refused before its body is read.
    pub fn new(
        method: &str,
        content_type: Option<&str>,
        soap_action: Option<&str>,
    ) -> Result<Self, XRoadError> {
        if !method.eq_ignore_ascii_case("POST") {
            return Err(client_error(
                ErrorCode::InvalidHttpMethod,
                format!("Must use POST request method instead of {method}"),
            ));
        }
        let raw_ct = content_type
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                XRoadError::new(
                    ErrorCode::InternalError,
                    "Could not get content type from request",
                )
                .with_origin(Origin::ClientProxy)
            })?;
        let base = raw_ct.split(';').next().unwrap_or(raw_ct).trim();
        if base.is_empty() {
            return Err(XRoadError::new(
                ErrorCode::InternalError,
                "Could not get content type from request",
            )
            .with_origin(Origin::ClientProxy));
        }
        // Java's content type parser takes any token as a type; only the allowed ones pass.
        let invalid_type = || {
            client_error(
                ErrorCode::InvalidContentType,
                format!("Invalid content type: {base}"),
            )
        };
        let ct = parse_lenient(raw_ct);
        if let Some(ct) = &ct {
            check_charset(ct).map_err(|e| e.with_origin(Origin::ClientProxy))?;
        }
        let soap_action =
            validate_soap_action(soap_action).map_err(|e| e.with_origin(Origin::Client))?;
        let ct = ct.ok_or_else(invalid_type)?;
        let body = match ct.essence() {
            "text/xml" | "application/xop+xml" => Body::Single(Box::new(SoapPart::new())),
            "multipart/related" => {
                // mime4j accepts an empty boundary too; only a missing one is refused.
                let boundary = ct.multipart_boundary().map_err(|_| invalid_type())?;
                Body::Multipart(Box::new(MultipartBody {
                    parts: Flattener::new(boundary).map_err(|e| e.with_origin(Origin::Client))?,
                    leaves: Leaves::default(),
                }))
            }
            _ => return Err(invalid_type()),
        };
        Ok(SoapRequestDecoder {
            content_type: raw_ct.to_owned(),
            soap_action: soap_action.map(str::to_owned),
            body,
            failed: None,
        })
    }

    /// Reads the next chunk of the request body.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), XRoadError> {
        self.step(chunk, false, &mut |_, _| Ok(()))
    }

    /// Reads the next chunk of the request body and hands the bytes of each leaf part to
    /// `sink` as they are found: leaf 0 is the SOAP part, leaf `n` attachment `n`. This is how
    /// the client proxy keeps the parts it forwards without reading the body twice.
    pub fn feed_with(&mut self, chunk: &[u8], sink: &mut PartSink<'_>) -> Result<(), XRoadError> {
        self.step(chunk, false, sink)
    }

    /// Ends the body and returns the request, or the fault the client proxy would answer.
    pub fn finish(self) -> Result<SoapRequest, XRoadError> {
        self.finish_with(&mut |_, _| Ok(()))
    }

    /// [`Self::finish`], handing the last leaf bytes to `sink`.
    pub fn finish_with(mut self, sink: &mut PartSink<'_>) -> Result<SoapRequest, XRoadError> {
        self.step(&[], true, sink)?;
        let soap_action = self.soap_action;
        match self.body {
            Body::Single(part) => {
                let soap = part.finish().map_err(|e| e.with_origin(Origin::Client))?;
                Ok(SoapRequest {
                    message: soap.message,
                    soap_content_type: self.content_type,
                    soap_part_headers: Vec::new(),
                    soap_digest: soap.digest,
                    soap_size: soap.size,
                    attachments: Vec::new(),
                    soap_action,
                    multipart: false,
                })
            }
            Body::Multipart(mp) => {
                let mp = mp.leaves;
                let soap = mp.soap_done.ok_or_else(|| {
                    client_error(
                        ErrorCode::MissingSoap,
                        "Request does not contain SOAP message",
                    )
                })?;
                Ok(SoapRequest {
                    message: soap.message,
                    soap_content_type: mp.soap_content_type,
                    soap_part_headers: mp.soap_headers,
                    soap_digest: soap.digest,
                    soap_size: soap.size,
                    attachments: mp.attachments,
                    soap_action,
                    multipart: true,
                })
            }
        }
    }

    fn step(&mut self, chunk: &[u8], eof: bool, sink: &mut PartSink<'_>) -> Result<(), XRoadError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = match &mut self.body {
            Body::Single(part) => part.feed(chunk).and_then(|()| {
                if chunk.is_empty() {
                    Ok(())
                } else {
                    sink(0, chunk)
                }
            }),
            Body::Multipart(mp) => {
                let MultipartBody { parts, leaves } = &mut **mp;
                parts.feed(chunk, eof, &mut |leaf| leaves.on_leaf(leaf, sink))
            }
        };
        result.map_err(|e| {
            let e = e.with_origin(Origin::Client);
            self.failed = Some(e.clone());
            e
        })
    }
}

impl Leaves {
    /// Routes one multipart event: the first leaf is the SOAP message, later leaves
    /// attachments.
    fn on_leaf(&mut self, leaf: Leaf<'_>, sink: &mut PartSink<'_>) -> Result<(), XRoadError> {
        match leaf {
            Leaf::Start(headers) => {
                let ct = headers.content_type().ok_or_else(|| {
                    XRoadError::new(
                        ErrorCode::InvalidContentType,
                        "Could not get content type for part",
                    )
                })?;
                if self.soap_done.is_none() && self.soap.is_none() {
                    check_soap_type(ct)?;
                    self.soap_content_type = ct.to_owned();
                    self.soap_headers = headers_except_content_type(&headers);
                    self.soap = Some(SoapPart::new());
                } else {
                    if self.attachments.len() >= MAX_ATTACHMENTS {
                        return Err(XRoadError::new(
                            ErrorCode::MimeParsingFailed,
                            format!("Request has more than {MAX_ATTACHMENTS} attachments"),
                        ));
                    }
                    self.current = Some(AttachmentPart {
                        content_type: ct.to_owned(),
                        headers: headers_except_content_type(&headers),
                        hash: Sha512Hasher::new(),
                        size: 0,
                    });
                }
                Ok(())
            }
            Leaf::Data(d) => {
                if let Some(part) = &mut self.soap {
                    part.feed(d)?;
                    sink(0, d)?;
                } else if let Some(a) = &mut self.current {
                    a.hash.update(d);
                    a.size += d.len() as u64;
                    sink(self.attachments.len() + 1, d)?;
                }
                Ok(())
            }
            Leaf::End => {
                if let Some(part) = self.soap.take() {
                    self.soap_done = Some(part.finish()?);
                } else if let Some(a) = self.current.take() {
                    self.attachments.push(Attachment {
                        content_type: a.content_type,
                        headers: a.headers,
                        size: a.size,
                        digest: a.hash.finish(),
                    });
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests;
