//! Reading a transport message as it streams in, with the part order and checks of Java's
//! `ProxyMessageDecoder`: OCSP responses, the SOAP or REST part, attachments (a nested
//! `multipart/mixed`) or the REST body, the optional hash chain parts, and the signature or a
//! SOAP fault last. Parts are hashed while they arrive and spooled; nothing is kept twice.

use xroad_crypto::{DigestAlgorithm, Hasher};
use xroad_fault::{ErrorCode, XRoadError};
use xroad_message::soap::{Soap, SoapParser};
use xroad_mime::{ContentType, Event, MultipartReader, PartHeaders};

use super::{Attachment, MainPart, RestPart, SoapPart, TransportMessage};
use crate::spool::{Spool, SpoolSettings};

/// Largest part that is kept in memory whatever the spool threshold (OCSP responses, hash
/// chains, signature, REST header part, SOAP faults).
const MAX_SMALL_PART: usize = 8 << 20;

/// Most attachments one message may carry.
const MAX_ATTACHMENTS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Next {
    Ocsp,
    Attachments,
    RestBody,
    HashChainResult,
    HashChain,
    Signature,
    None,
}

/// Where the bytes of the current part go.
enum Sink {
    Small(Small, Vec<u8>),
    Soap {
        content_type: String,
        headers: Vec<(String, String)>,
        spool: Spool,
        hasher: Hasher,
        parser: Box<SoapParser>,
    },
    RestHeader {
        response: bool,
        bytes: Vec<u8>,
        hasher: Hasher,
    },
    Body {
        content_type: String,
        headers: Vec<(String, String)>,
        spool: Spool,
        hasher: Hasher,
    },
    Nested(Box<Splitter>),
}

#[derive(Clone, Copy)]
enum Small {
    Ocsp,
    HashChainResult,
    HashChain,
    Signature,
    Fault,
}

/// A multipart reader with the bytes it has not consumed yet.
struct Splitter {
    reader: MultipartReader,
    pending: Vec<u8>,
    /// The attachment being read inside a nested multipart.
    current: Option<Box<Sink>>,
    /// Attachments read completely (nested multipart only).
    finished: Vec<Attachment>,
}

fn mime_error(e: xroad_mime::MimeError) -> XRoadError {
    XRoadError::new(ErrorCode::MimeParsingFailed, e.to_string())
}

fn invalid_content_type(msg: String) -> XRoadError {
    XRoadError::new(ErrorCode::InvalidContentType, msg)
}

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

/// The MIME type of a part, lower case, without parameters ("" when absent).
fn mime_type(ct: Option<&str>) -> String {
    let ct = ct.unwrap_or("");
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Reads one transport message; see the module documentation.
pub struct TransportDecoder {
    top: Splitter,
    next: Next,
    sink: Option<Sink>,
    message: TransportMessage,
    hash: DigestAlgorithm,
    spool: SpoolSettings,
    total: u64,
    failed: Option<XRoadError>,
}

impl TransportDecoder {
    /// Starts reading a message whose HTTP `Content-Type` is `content_type`, with parts hashed
    /// with `hash` (the message's `x-hash-algorithm`).
    pub fn new(
        content_type: &str,
        hash: DigestAlgorithm,
        spool: SpoolSettings,
    ) -> Result<TransportDecoder, XRoadError> {
        let ct = ContentType::parse(content_type).map_err(|_| {
            invalid_content_type(format!(
                "Invalid content type: {}",
                mime_type(Some(content_type))
            ))
        })?;
        if !ct.essence().eq_ignore_ascii_case("multipart/mixed") {
            return Err(invalid_content_type(format!(
                "Invalid content type: {}",
                ct.essence()
            )));
        }
        let boundary = ct.multipart_boundary().map_err(|_| {
            invalid_content_type("Multipart content type is missing required boundary".into())
        })?;
        Ok(TransportDecoder {
            top: Splitter {
                reader: MultipartReader::new(boundary).map_err(mime_error)?,
                pending: Vec::new(),
                current: None,
                finished: Vec::new(),
            },
            next: Next::Ocsp,
            sink: None,
            message: TransportMessage::default(),
            hash,
            spool,
            total: 0,
            failed: None,
        })
    }

    /// Reads the next chunk of the body.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), XRoadError> {
        self.step(chunk, false)
    }

    /// Ends the body and returns the message; missing parts are for the caller to judge
    /// (requests and responses differ).
    pub fn finish(mut self) -> Result<TransportMessage, XRoadError> {
        self.step(&[], true)?;
        if let Some(sink) = self.sink.take() {
            // A part cut by the end of the body is kept, as mime4j delivers it.
            self.end_part(sink)?;
        }
        Ok(self.message)
    }

    fn step(&mut self, chunk: &[u8], eof: bool) -> Result<(), XRoadError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.total += chunk.len() as u64;
        let result = self.spool.check_total(self.total).and_then(|()| {
            let mut pending = std::mem::take(&mut self.top.pending);
            pending.extend_from_slice(chunk);
            let used = self.run(&pending, eof)?;
            pending.drain(..used);
            self.top.pending = pending;
            Ok(())
        });
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn run(&mut self, data: &[u8], eof: bool) -> Result<usize, XRoadError> {
        let mut pos = 0;
        loop {
            let (used, event) = match self.top.reader.next_event(&data[pos..], eof) {
                Ok(x) => x,
                // The end of the body before the close delimiter is not an error for mime4j.
                Err(
                    xroad_mime::MimeError::Truncated
                    | xroad_mime::MimeError::TruncatedHeaders
                    | xroad_mime::MimeError::MissingFirstBoundary,
                ) if eof => return Ok(data.len()),
                Err(e) => return Err(mime_error(e)),
            };
            pos += used;
            match event {
                Event::NeedMore | Event::End => return Ok(pos),
                Event::Headers(h) => {
                    if let Some(sink) = self.sink.take() {
                        self.end_part(sink)?;
                    }
                    self.sink = Some(self.start_part(&h)?);
                }
                Event::Data(d) => {
                    if let Some(sink) = &mut self.sink {
                        write_sink(sink, d, &self.spool, self.hash)?;
                    }
                }
                Event::PartEnd => {
                    if let Some(sink) = self.sink.take() {
                        self.end_part(sink)?;
                    }
                }
            }
        }
    }

    /// Decides what a top-level part is, by the expected order (Java's fall-through states).
    fn start_part(&mut self, h: &PartHeaders) -> Result<Sink, XRoadError> {
        let mt = mime_type(h.content_type());
        let new_sink = |small| Ok(Sink::Small(small, Vec::new()));
        let mut next = self.next;
        loop {
            match next {
                Next::Ocsp if mt == "application/ocsp-response" => return new_sink(Small::Ocsp),
                Next::Ocsp => {
                    if mt == "application/x-road-rest-request"
                        || mt == "application/x-road-rest-response"
                    {
                        self.next = Next::RestBody;
                        return Ok(Sink::RestHeader {
                            response: mt.ends_with("response"),
                            bytes: Vec::new(),
                            hasher: self.hash.hasher(),
                        });
                    }
                    if mt != "text/xml" && mt != "application/xop+xml" {
                        return Err(invalid_content_type(format!(
                            "Invalid content type for SOAP message: {}",
                            h.content_type()
                                .map(|c| mime_type(Some(c)))
                                .unwrap_or_default()
                        )));
                    }
                    self.next = Next::Attachments;
                    return Ok(Sink::Soap {
                        content_type: h.content_type().unwrap_or("text/xml").to_owned(),
                        headers: headers_except_content_type(h),
                        spool: Spool::new(&self.spool),
                        hasher: self.hash.hasher(),
                        parser: Box::new(SoapParser::new()),
                    });
                }
                Next::RestBody if mt == "application/x-road-rest-body" => {
                    self.next = Next::HashChainResult;
                    return Ok(Sink::Body {
                        content_type: mt,
                        headers: Vec::new(),
                        spool: Spool::new(&self.spool),
                        hasher: self.hash.hasher(),
                    });
                }
                Next::Attachments
                    if self.message.main.as_ref().is_some_and(|m| !m.is_rest())
                        && mt == "multipart/mixed" =>
                {
                    let boundary = h.multipart_boundary().ok_or_else(|| {
                        invalid_content_type(
                            "Multipart content type is missing required boundary".into(),
                        )
                    })?;
                    self.next = Next::HashChainResult;
                    return Ok(Sink::Nested(Box::new(Splitter {
                        reader: MultipartReader::new(boundary).map_err(mime_error)?,
                        pending: Vec::new(),
                        current: None,
                        finished: Vec::new(),
                    })));
                }
                Next::HashChainResult if mt == "application/hash-chain-result" => {
                    self.next = Next::HashChain;
                    return new_sink(Small::HashChainResult);
                }
                Next::HashChain if mt == "application/hash-chain" => {
                    self.next = Next::Signature;
                    return new_sink(Small::HashChain);
                }
                Next::Signature => {
                    self.next = Next::None;
                    return match mt.as_str() {
                        "signature/bdoc-1.0/ts" => new_sink(Small::Signature),
                        "text/xml" => new_sink(Small::Fault),
                        _ => Err(invalid_content_type(format!(
                            "Received invalid content type instead of signature: {mt}"
                        ))),
                    };
                }
                Next::None => {
                    return Err(XRoadError::new(
                        ErrorCode::InvalidMessage,
                        format!("Extra content ({mt}) after signature"),
                    ))
                }
                Next::RestBody => next = Next::HashChainResult,
                Next::Attachments => next = Next::HashChainResult,
                Next::HashChainResult => next = Next::HashChain,
                Next::HashChain => next = Next::Signature,
            }
            self.next = next;
        }
    }

    fn end_part(&mut self, sink: Sink) -> Result<(), XRoadError> {
        let m = &mut self.message;
        match sink {
            Sink::Small(kind, bytes) => match kind {
                Small::Ocsp => m.ocsp.push(bytes),
                Small::HashChainResult => m.hash_chain_result = Some(bytes),
                Small::HashChain => m.hash_chain = Some(bytes),
                Small::Signature => m.signature = Some(bytes),
                Small::Fault => {
                    let fault = super::fault_of(&bytes)?.ok_or_else(|| {
                        invalid_content_type(
                            "Received invalid content type instead of signature: text/xml".into(),
                        )
                    })?;
                    m.fault = Some(fault);
                }
            },
            Sink::Soap {
                content_type,
                headers,
                spool,
                hasher,
                parser,
            } => {
                let data = spool.finish()?;
                let soap = parser.finish()?;
                if let Soap::Fault(_) = &soap {
                    let bytes = data.as_memory().cloned().ok_or_else(|| {
                        XRoadError::new(ErrorCode::InvalidMessage, "SOAP fault is too large")
                    })?;
                    m.fault = super::fault_of(&bytes)?;
                    self.next = Next::None;
                    return Ok(());
                }
                m.main = Some(MainPart::Soap(Box::new(SoapPart {
                    content_type,
                    headers,
                    data,
                    digest: hasher.finish(),
                    soap,
                })));
            }
            Sink::RestHeader {
                response,
                bytes,
                hasher,
            } => {
                m.main = Some(MainPart::Rest(Box::new(RestPart {
                    response,
                    digest: hasher.finish(),
                    bytes,
                })));
            }
            Sink::Body {
                content_type,
                headers,
                spool,
                hasher,
            } => m.attachments.push(Attachment {
                content_type,
                headers,
                data: spool.finish()?,
                digest: hasher.finish(),
            }),
            Sink::Nested(mut splitter) => {
                let pending = std::mem::take(&mut splitter.pending);
                nested_run(&mut splitter, &pending, true, &self.spool, self.hash)?;
                if let Some(current) = splitter.current.take() {
                    end_attachment(*current, &mut splitter.finished)?;
                }
                m.attachments.append(&mut splitter.finished);
            }
        }
        Ok(())
    }
}

fn push_small(bytes: &mut Vec<u8>, d: &[u8]) -> Result<(), XRoadError> {
    if bytes.len() + d.len() > MAX_SMALL_PART {
        return Err(XRoadError::new(
            ErrorCode::InvalidMessage,
            format!("A message part is larger than {MAX_SMALL_PART} bytes"),
        ));
    }
    bytes.extend_from_slice(d);
    Ok(())
}

fn write_sink(
    sink: &mut Sink,
    d: &[u8],
    spool: &SpoolSettings,
    hash: DigestAlgorithm,
) -> Result<(), XRoadError> {
    match sink {
        Sink::Small(_, bytes) => push_small(bytes, d),
        Sink::RestHeader { bytes, hasher, .. } => {
            push_small(bytes, d)?;
            hasher.update(d);
            Ok(())
        }
        Sink::Soap {
            spool: s,
            hasher,
            parser,
            ..
        } => {
            hasher.update(d);
            parser.feed(d)?;
            s.write(d)
        }
        Sink::Body {
            spool: s, hasher, ..
        } => {
            hasher.update(d);
            s.write(d)
        }
        Sink::Nested(splitter) => {
            let mut pending = std::mem::take(&mut splitter.pending);
            pending.extend_from_slice(d);
            let used = nested_run(splitter, &pending, false, spool, hash)?;
            pending.drain(..used);
            splitter.pending = pending;
            Ok(())
        }
    }
}

/// Runs the nested attachment multipart over `data`; completed attachments are collected in
/// the splitter.
fn nested_run(
    splitter: &mut Splitter,
    data: &[u8],
    eof: bool,
    spool: &SpoolSettings,
    hash: DigestAlgorithm,
) -> Result<usize, XRoadError> {
    let mut pos = 0;
    loop {
        let (used, event) = match splitter.reader.next_event(&data[pos..], eof) {
            Ok(x) => x,
            Err(
                xroad_mime::MimeError::Truncated
                | xroad_mime::MimeError::TruncatedHeaders
                | xroad_mime::MimeError::MissingFirstBoundary,
            ) if eof => return Ok(data.len()),
            Err(e) => return Err(mime_error(e)),
        };
        pos += used;
        match event {
            Event::NeedMore | Event::End => return Ok(pos),
            Event::Headers(h) => {
                if let Some(current) = splitter.current.take() {
                    end_attachment(*current, &mut splitter.finished)?;
                }
                if splitter.finished.len() >= MAX_ATTACHMENTS {
                    return Err(XRoadError::new(
                        ErrorCode::InvalidMessage,
                        format!("Message has more than {MAX_ATTACHMENTS} attachments"),
                    ));
                }
                splitter.current = Some(Box::new(Sink::Body {
                    content_type: h.content_type().unwrap_or("").to_owned(),
                    headers: headers_except_content_type(&h),
                    spool: Spool::new(spool),
                    hasher: hash.hasher(),
                }));
            }
            Event::Data(d) => {
                if let Some(current) = &mut splitter.current {
                    write_sink(current, d, spool, hash)?;
                }
            }
            Event::PartEnd => {
                if let Some(current) = splitter.current.take() {
                    end_attachment(*current, &mut splitter.finished)?;
                }
            }
        }
    }
}

fn end_attachment(sink: Sink, out: &mut Vec<Attachment>) -> Result<(), XRoadError> {
    if let Sink::Body {
        content_type,
        headers,
        spool,
        hasher,
    } = sink
    {
        out.push(Attachment {
            content_type,
            headers,
            data: spool.finish()?,
            digest: hasher.finish(),
        });
    }
    Ok(())
}
