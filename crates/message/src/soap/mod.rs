//! X-Road Message Protocol 4.0: SOAP messages between an information system and its security
//! server.
//!
//! [`SoapParser`] is fed the SOAP document as it streams and extracts the X-Road headers
//! (`client`, `service`, `id`, `userId`, `issue`, `protocolVersion`, `representedParty`,
//! `securityServer`, `requestHash`) with the same checks and fault codes as the Java servers.
//! It never builds a tree of the body and never changes a byte: the caller forwards and hashes
//! the very bytes it feeds.

pub(crate) mod encoding;
mod handler;

use serde::Serialize;
use xroad_fault::{ErrorCode, XRoadError};
use xroad_identifiers::{ClientId, Code, SecurityServerId, ServiceId};
use xroad_xml::{Scanner, SyntaxError};

use self::encoding::{Decoder, EncodingError};
use self::handler::SoapHandler;

/// The SOAP 1.1 envelope namespace (SOAP 1.2 envelopes are not X-Road messages).
pub const NS_SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The SOAP encoding namespace; as `encodingStyle` it marks an RPC-style message.
pub const NS_SOAP_ENCODING: &str = "http://schemas.xmlsoap.org/soap/encoding/";
/// The X-Road header namespace.
pub const NS_XROAD: &str = "http://x-road.eu/xsd/xroad.xsd";
/// The X-Road identifiers namespace.
pub const NS_IDENTIFIERS: &str = "http://x-road.eu/xsd/identifiers";
/// The third-party representation extension namespace.
pub const NS_REPRESENTATION: &str = "http://x-road.eu/xsd/representation.xsd";

/// The party a client acts on behalf of (representation extension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepresentedParty {
    /// The party's member class, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party_class: Option<Code>,
    /// The party's code.
    pub party_code: Option<Code>,
}

/// The `requestHash` header a provider security server adds to responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestHash {
    /// The `algorithmId` attribute (an XML digest URI), if present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithm_id: Option<String>,
    /// The base64 digest as written (may contain whitespace).
    pub value: String,
}

/// The X-Road headers of a SOAP message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SoapHeader {
    /// The consumer (member or subsystem).
    pub client: ClientId,
    /// The service called.
    pub service: ServiceId,
    /// The message id.
    pub id: Code,
    /// The user id, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Code>,
    /// The issue, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue: Option<Code>,
    /// The protocol version (starts with `4.`).
    pub protocol_version: Code,
    /// The represented party, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub represented_party: Option<RepresentedParty>,
    /// The targeted security server, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_server: Option<SecurityServerId>,
    /// The request hash (responses only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_hash: Option<RequestHash>,
}

/// A parsed SOAP message (not a fault).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SoapMessage {
    /// The X-Road headers.
    pub header: SoapHeader,
    /// The local name of the body's wrapper element (starts with the service code).
    pub service_name: Code,
    /// Whether the envelope declares SOAP-encoded (RPC) style.
    pub rpc: bool,
    /// Whether the wrapper name ends with `Response`.
    pub response: bool,
    /// The document's character encoding (as found in its BOM or XML declaration).
    pub encoding: &'static str,
}

/// A SOAP `Fault` message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SoapFault {
    /// `faultcode`
    pub code: Option<String>,
    /// `faultstring`
    pub string: Option<String>,
    /// `faultactor`
    pub actor: Option<String>,
    /// `detail/faultDetail` (or the text of `detail`)
    pub detail: Option<String>,
}

/// A SOAP document: an X-Road message or a fault.
// Returned once per message and matched on at once; boxing the message buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Soap {
    /// An X-Road message with valid headers and body.
    Message(SoapMessage),
    /// A SOAP fault (headers are not validated).
    Fault(SoapFault),
}

/// Errors of the scanner and the encoding stage become `invalid_soap`, as a SAX parse
/// failure does in the Java parser.
pub(crate) struct ParseError(pub(crate) XRoadError);

impl From<SyntaxError> for ParseError {
    fn from(e: SyntaxError) -> Self {
        ParseError(XRoadError::new(
            ErrorCode::InvalidSoap,
            format!("Malformed XML: {e}"),
        ))
    }
}

impl From<EncodingError> for ParseError {
    fn from(e: EncodingError) -> Self {
        let msg = match e {
            EncodingError::Unsupported(label) => format!("Unsupported XML encoding '{label}'"),
            EncodingError::Malformed(enc) => format!("Invalid byte sequence for encoding {enc}"),
        };
        ParseError(XRoadError::new(ErrorCode::InvalidSoap, msg))
    }
}

impl From<XRoadError> for ParseError {
    fn from(e: XRoadError) -> Self {
        ParseError(e)
    }
}

/// The largest first chunk [`SoapParser::feed`] holds back in case it is the whole document.
const MAX_HELD: usize = 64 << 10;

/// A push parser for one SOAP document.
///
/// Feed the document in chunks of any size with [`SoapParser::feed`], then call
/// [`SoapParser::finish`]. Memory is bounded by the longest tag and header value, not by the
/// document size (plus a first chunk of up to 64 KiB held back: a document that arrives in
/// one piece, as most do, is parsed whole by the scanner's fast path). After the first
/// error, further calls return that error again.
pub struct SoapParser {
    decoder: Decoder,
    scanner: Scanner,
    handler: SoapHandler,
    failed: Option<XRoadError>,
    /// The first chunk, held back while it may be the whole document.
    held: Vec<u8>,
    /// Whether the document is being scanned as it streams (nothing is held back then).
    streaming: bool,
}

impl Default for SoapParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SoapParser {
    /// A parser for a new document.
    pub fn new() -> Self {
        SoapParser {
            decoder: Decoder::new(),
            scanner: Scanner::default(),
            handler: SoapHandler::new(),
            failed: None,
            held: Vec::new(),
            streaming: false,
        }
    }

    /// Scans the next chunk of the document. A small first chunk is held back until the
    /// next one comes (then both are scanned) or the document ends (then it is parsed
    /// whole), so its errors may only show then.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), XRoadError> {
        if !self.streaming {
            if self.held.is_empty() && chunk.len() <= MAX_HELD {
                self.held.extend_from_slice(chunk);
                return Ok(());
            }
            self.release(&mut |_| Ok(()))?;
        }
        self.step(chunk, false, &mut |_| Ok(()))
    }

    /// Scans the chunk held back, if any, and streams from now on.
    fn release(
        &mut self,
        observer: &mut dyn FnMut(&[u8]) -> Result<(), XRoadError>,
    ) -> Result<(), XRoadError> {
        self.streaming = true;
        let held = std::mem::take(&mut self.held);
        if held.is_empty() {
            return Ok(());
        }
        self.step(&held, false, observer)
    }

    /// Scans the next chunk and hands the same document, as UTF-8, to `observer` once the
    /// scanner has accepted each piece (the response rewriter reads the document this way, so
    /// that it is decoded once and checked by this parser first).
    pub(crate) fn feed_observed(
        &mut self,
        chunk: &[u8],
        observer: &mut dyn FnMut(&[u8]) -> Result<(), XRoadError>,
    ) -> Result<(), XRoadError> {
        if !self.streaming {
            self.release(observer)?;
        }
        self.step(chunk, false, observer)
    }

    /// [`SoapParser::finish`] with an observer as in [`SoapParser::feed_observed`].
    pub(crate) fn finish_observed(
        mut self,
        observer: &mut dyn FnMut(&[u8]) -> Result<(), XRoadError>,
    ) -> Result<Soap, XRoadError> {
        if !self.streaming {
            self.release(observer)?;
        }
        self.end(observer)
    }

    /// Ends the document in place: the parser is large, and moving it costs more than a
    /// small document's tags do.
    fn end(
        &mut self,
        observer: &mut dyn FnMut(&[u8]) -> Result<(), XRoadError>,
    ) -> Result<Soap, XRoadError> {
        self.step(&[], true, observer)?;
        let encoding = self.decoder.encoding().unwrap_or("UTF-8");
        self.handler.take_soap(encoding)
    }

    /// Whether the SOAP header has been read completely: every header check that can fail
    /// before the body has been made (not while a first chunk is held back).
    pub fn header_complete(&self) -> bool {
        self.handler.header_finished()
    }

    /// Ends the document and returns what it is.
    pub fn finish(self) -> Result<Soap, XRoadError> {
        if !self.streaming && self.failed.is_none() {
            // The document came in one piece: parsed whole when the fast path takes it.
            if let Some(result) = parse_complete(&self.held) {
                return result;
            }
        }
        self.finish_observed(&mut |_| Ok(()))
    }

    fn step(
        &mut self,
        chunk: &[u8],
        last: bool,
        observer: &mut dyn FnMut(&[u8]) -> Result<(), XRoadError>,
    ) -> Result<(), XRoadError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.run(chunk, last, observer);
        if let Err(ParseError(e)) = result {
            self.failed = Some(e.clone());
            return Err(e);
        }
        Ok(())
    }

    fn run(
        &mut self,
        chunk: &[u8],
        last: bool,
        observer: &mut dyn FnMut(&[u8]) -> Result<(), XRoadError>,
    ) -> Result<(), ParseError> {
        let Self {
            decoder,
            scanner,
            handler,
            ..
        } = self;
        decoder.feed(chunk, last, &mut |utf8: &[u8]| {
            scanner.feed(utf8, handler)?;
            observer(utf8).map_err(ParseError)
        })?;
        if last {
            scanner.finish(handler)?;
        }
        Ok(())
    }
}

/// Parses a whole SOAP document held in memory.
pub fn parse_soap(document: &[u8]) -> Result<Soap, XRoadError> {
    if let Some(result) = parse_complete(document) {
        return result;
    }
    let mut p = SoapParser::new();
    p.streaming = true;
    p.feed(document)?;
    p.end(&mut |_| Ok(()))
}

/// Parses a whole UTF-8 document with the scanner's fast path
/// ([`Scanner::scan_complete`]); `None` when it should be fed to a [`SoapParser`] instead
/// (another encoding, or a document the fast path leaves to the streaming scan).
fn parse_complete(document: &[u8]) -> Option<Result<Soap, XRoadError>> {
    let utf8 = encoding::utf8_document(document)?;
    let mut handler = SoapHandler::new();
    match Scanner::default().scan_complete(utf8, &mut handler)? {
        Ok(()) => Some(handler.take_soap(encoding_rs::UTF_8.name())),
        Err(ParseError(e)) => Some(Err(e)),
    }
}

#[cfg(test)]
mod tests;
