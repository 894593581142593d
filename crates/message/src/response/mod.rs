//! SOAP responses between the provider's information system and the consumer's: what the
//! provider security server makes of its information system's response, and what the consumer
//! security server checks before it delivers the response.
//!
//! [`ResponseRewriter`] is the provider side. The Java provider does not forward its
//! information system's response bytes: it parses them with SAX and writes the events back out
//! (`SaxSoapParserImpl` with processed XML, `ServerMessageProcessor.ResponseSoapParserImpl`),
//! inserting the `requestHash` header, and those new bytes are what is signed and delivered.
//! The rewriter produces the same bytes, streaming:
//!
//! - an XML declaration `<?xml version="1.0" encoding="UTF-8"?>` and `\n` first (it says UTF-8
//!   even when the output charset, taken from the provider's content type, is another one, as
//!   in Java), `\n` last; the document's own declaration, processing instructions anywhere and
//!   whitespace outside the root element are dropped; comments are kept, also outside the root;
//! - start tags as `<qname` and ` qname="value"` for every attribute and namespace declaration
//!   in document order, values normalized by the parser and escaped as commons-text's
//!   `escapeXml11` does (`&quot; &amp; &lt; &gt; &apos;`, C0 and C1 controls as `&#n;`); end
//!   tags as `</qname>`; an empty element `<a/>` becomes `<a></a>`;
//! - character data as parsed (line ends normalized to `\n`), every entity and character
//!   reference written back as it was written (`&lt;`, `&#13;`, `&#xD;`), CDATA sections
//!   kept;
//! - any `requestHash` (X-Road namespace) inside the SOAP header dropped, and after the end tag
//!   of every X-Road `id` inside the header a new `{ws}<{p}requestHash {attrs}
//!   algorithmId="http://www.w3.org/2001/04/xmlenc#sha512">{base64}</{p}requestHash>`, where
//!   `{p}` is the prefix of the `id` element, `{attrs}` the attributes of the last element
//!   started before that end tag (the `id` element itself, unless it had children) and `{ws}`
//!   the first whitespace-only piece of character data in the header (e.g. `\n    `);
//! - text around a dropped `requestHash` treated as Java's writer does: the piece of
//!   whitespace before it is kept, so is the one after it, and of its content the first piece
//!   is kept when nothing was pending before it (a Java quirk: `<xrd:requestHash>abc</…>`
//!   right after an element leaves `abc` behind).
//!
//! Where this knowingly differs from Java:
//!
//! - Xerces also cuts character data where its 8 KiB input buffer ends, which depends on how
//!   the bytes arrived from the network; this affects the indent and what is left of a
//!   provider's `requestHash` only when such a cut falls into the header's whitespace. Cuts
//!   are made only where Xerces makes them whatever the buffer, and the indent is at most
//!   8 KiB.
//! - Output charsets: UTF-8, ISO-8859-1, US-ASCII, the UTF-16 forms and every encoding
//!   `encoding_rs` can write; a charset Java knows beyond those (UTF-32, CESU-8, IBM code
//!   pages) fails with `service_failed.internal_error` instead of being written.
//!
//! The response is checked as a request is ([`crate::soap::SoapParser`]: envelope, all
//! mandatory headers, body); a SOAP `Fault` body makes it a fault, which the caller relays with
//! its original bytes (the rewritten bytes of a fault are of no use).
//!
//! [`check_response`] is the consumer side: the response headers must match the request and
//! carry the request's hash.

mod charset;
mod check;
mod lexer;
#[cfg(test)]
mod tests;

use base64::Engine;
use xroad_fault::{ErrorCode, XRoadError};

use crate::soap::{RequestHash, Soap, SoapParser, NS_SOAP_ENV, NS_XROAD};

use self::charset::OutputEncoder;
use self::lexer::{EndTag, Lexer, Sink, StartTag};

pub use self::check::check_response;

/// The `algorithmId` of the inserted `requestHash`: SHA-512 as an XML digest URI.
pub const REQUEST_HASH_ALGORITHM_ID: &str = "http://www.w3.org/2001/04/xmlenc#sha512";

/// The XML declaration the rewritten response starts with.
const DECLARATION: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Longest whitespace kept for indenting the inserted `requestHash`. Xerces never reports more
/// characters in one piece than its input buffer holds (8 KiB); where exactly it cuts a longer
/// run depends on how the bytes arrived.
const MAX_INDENT: usize = 8192;

/// Re-serializes a provider information system's SOAP response and inserts the `requestHash`
/// header, as the Java provider security server does (see the [module](self) documentation).
///
/// Feed the response (the SOAP part's bytes as received) in chunks of any size with
/// [`ResponseRewriter::feed`]; each call appends the rewritten bytes it can already produce to
/// `out`, which the caller hashes and forwards as it likes. [`ResponseRewriter::finish`] writes
/// the rest and says what the response was. Memory is bounded by the longest tag and header
/// value, never by the body. After an error everything written is void, and further calls
/// return the same error.
///
/// Errors carry the fault code the Java provider answers with, `service_failed` included
/// (e.g. `service_failed.missing_header_field`); the caller adds the origin
/// (`server.serverproxy`).
pub struct ResponseRewriter {
    parser: SoapParser,
    lexer: Lexer,
    writer: Writer,
}

impl ResponseRewriter {
    /// A rewriter inserting `request_soap_digest` (SHA-512 of the request SOAP bytes as the
    /// provider security server received them) as the `requestHash`. `charset` is the
    /// `charset` parameter of the response's (SOAP part's) content type, which decides the
    /// output encoding (`None` or blank: UTF-8); one Java cannot write fails with
    /// `service_failed.internal_error`.
    pub fn new(request_soap_digest: &[u8; 64], charset: Option<&str>) -> Result<Self, XRoadError> {
        let encoder = OutputEncoder::new(charset).map_err(service_failed)?;
        Ok(ResponseRewriter {
            parser: SoapParser::new(),
            lexer: Lexer::new(),
            writer: Writer::new(
                encoder,
                base64::engine::general_purpose::STANDARD.encode(request_soap_digest),
            ),
        })
    }

    /// Reads the next chunk of the response and appends what can be written of the rewritten
    /// response to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), XRoadError> {
        let Self {
            parser,
            lexer,
            writer,
        } = self;
        writer.start(out).map_err(service_failed)?;
        parser
            .feed_observed(chunk, &mut |utf8| {
                lexer.feed(utf8, &mut Output { writer, out })
            })
            .map_err(service_failed)
    }

    /// Whether the SOAP header has been read completely (every header check that can fail
    /// before the body has been made).
    pub fn header_complete(&self) -> bool {
        self.parser.header_complete()
    }

    /// Ends the response: appends the rest of the rewritten response to `out` and returns the
    /// parsed response. For a message, its header's `request_hash` is the inserted one; a
    /// [`Soap::Fault`] is to be relayed with its original bytes.
    pub fn finish(self, out: &mut Vec<u8>) -> Result<Soap, XRoadError> {
        let Self {
            parser,
            mut lexer,
            mut writer,
        } = self;
        let result = (|| {
            writer.start(out)?;
            let soap = parser.finish_observed(&mut |utf8| {
                lexer.feed(
                    utf8,
                    &mut Output {
                        writer: &mut writer,
                        out,
                    },
                )
            })?;
            lexer.finish(&mut Output {
                writer: &mut writer,
                out,
            })?;
            writer.end(out)?;
            Ok(match soap {
                Soap::Message(mut m) => {
                    m.header.request_hash = writer.inserted.then(|| RequestHash {
                        algorithm_id: Some(REQUEST_HASH_ALGORITHM_ID.to_owned()),
                        value: writer.hash.clone(),
                    });
                    Soap::Message(m)
                }
                fault => fault,
            })
        })();
        result.map_err(service_failed)
    }

    /// Bytes held between chunks (for checks of bounded memory).
    #[cfg(test)]
    fn retained(&self) -> usize {
        self.lexer.retained()
            + self.writer.last_attributes.capacity()
            + self.writer.attributes.capacity()
            + self.writer.tabs.as_ref().map_or(0, Vec::capacity)
            + self.writer.candidate.as_ref().map_or(0, Vec::capacity)
    }
}

fn service_failed(e: XRoadError) -> XRoadError {
    e.with_prefix(ErrorCode::ServiceFailed)
}

/// The Java writer's state (`ResponseSoapParserImpl`).
struct Writer {
    encoder: OutputEncoder,
    /// The base64 request hash.
    hash: String,
    started: bool,
    in_header: bool,
    /// Set at the first SOAP `Body` start tag, at any depth, and never cleared (as in Java).
    in_body: bool,
    /// Inside a `requestHash` of the header, which is dropped.
    in_existing_hash: bool,
    /// Java holds back the first piece of character data after a tag outside the body (to
    /// drop it, it meant, but never does). What it changes is which pieces inside a dropped
    /// `requestHash` are written: only the first, and only when nothing is pending.
    pending: bool,
    /// Whether the current piece of character data is written.
    write_piece: bool,
    /// The indent of the inserted `requestHash`: the first whitespace-only piece in the header.
    tabs: Option<Vec<u8>>,
    /// The current piece while it may become `tabs`.
    candidate: Option<Vec<u8>>,
    /// The escaped attributes of the last start tag in the header (` name="value"`…).
    last_attributes: String,
    /// Reused buffer for the current start tag's attributes.
    attributes: String,
    inserted: bool,
}

impl Writer {
    fn new(encoder: OutputEncoder, hash: String) -> Self {
        Writer {
            encoder,
            hash,
            started: false,
            in_header: false,
            in_body: false,
            in_existing_hash: false,
            pending: false,
            write_piece: false,
            tabs: None,
            candidate: None,
            last_attributes: String::new(),
            attributes: String::new(),
            inserted: false,
        }
    }

    fn start(&mut self, out: &mut Vec<u8>) -> Result<(), XRoadError> {
        if !self.started {
            self.started = true;
            self.encoder.write(DECLARATION, out)?;
        }
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>) -> Result<(), XRoadError> {
        self.encoder.write(b"\n", out)?;
        if !self.encoder.is_clean() {
            return Err(XRoadError::new(
                ErrorCode::InvalidSoap,
                "Malformed XML: invalid UTF-8 byte sequence",
            ));
        }
        Ok(())
    }
}

/// The writer with the output of the current call.
struct Output<'a> {
    writer: &'a mut Writer,
    out: &'a mut Vec<u8>,
}

impl Output<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), XRoadError> {
        self.writer.encoder.write(bytes, self.out)
    }

    /// Inserts the `requestHash` after the end tag of `id` (prefixed `prefix`).
    fn insert_hash(&mut self, prefix: &str) -> Result<(), XRoadError> {
        let w = &mut *self.writer;
        let mut element = String::with_capacity(160 + w.last_attributes.len());
        let name = if prefix.is_empty() {
            "requestHash".to_owned()
        } else {
            format!("{prefix}:requestHash")
        };
        element.push('<');
        element.push_str(&name);
        element.push_str(&w.last_attributes);
        element.push_str(" algorithmId=\"");
        escape_attribute(REQUEST_HASH_ALGORITHM_ID, &mut element);
        element.push_str("\">");
        element.push_str(&w.hash);
        element.push_str("</");
        element.push_str(&name);
        element.push('>');
        w.inserted = true;
        if let Some(tabs) = &w.tabs {
            w.encoder.write(tabs, self.out)?;
        }
        self.write(element.as_bytes())
    }
}

fn is(namespace: &str, local: &str, ns: &str, name: &str) -> bool {
    local == name && namespace == ns
}

impl Sink for Output<'_> {
    fn start_element(&mut self, tag: &StartTag<'_>) -> Result<(), XRoadError> {
        let w = &mut *self.writer;
        if tag.depth == 2 && is(tag.namespace, tag.local, NS_SOAP_ENV, "Header") {
            w.in_header = true;
        }
        w.attributes.clear();
        for a in tag.attributes() {
            w.attributes.push(' ');
            w.attributes.push_str(a.qname);
            w.attributes.push_str("=\"");
            escape_attribute(a.value, &mut w.attributes);
            w.attributes.push('"');
        }
        if w.in_header {
            // Java inserts the attributes of the last element started before `</id>` (the
            // parser's reused attribute list).
            w.last_attributes.clear();
            w.last_attributes.push_str(&w.attributes);
        }
        if w.in_header && is(tag.namespace, tag.local, NS_XROAD, "requestHash") {
            w.in_existing_hash = true;
            return Ok(());
        }
        if is(tag.namespace, tag.local, NS_SOAP_ENV, "Body") {
            w.in_body = true;
        }
        w.pending = false;
        w.encoder.write(b"<", self.out)?;
        w.encoder.write(tag.qname.as_bytes(), self.out)?;
        w.encoder.write(w.attributes.as_bytes(), self.out)?;
        w.encoder.write(b">", self.out)
    }

    fn end_element(&mut self, tag: &EndTag<'_>) -> Result<(), XRoadError> {
        let w = &mut *self.writer;
        if tag.depth == 2 && is(tag.namespace, tag.local, NS_SOAP_ENV, "Header") {
            w.in_header = false;
        }
        if w.in_header && is(tag.namespace, tag.local, NS_XROAD, "requestHash") {
            w.in_existing_hash = false;
        } else {
            w.pending = false;
            w.encoder.write(b"</", self.out)?;
            w.encoder.write(tag.qname.as_bytes(), self.out)?;
            w.encoder.write(b">", self.out)?;
        }
        if self.writer.in_header && is(tag.namespace, tag.local, NS_XROAD, "id") {
            let prefix = tag.qname.split_once(':').map_or("", |(p, _)| p);
            self.insert_hash(prefix)?;
        }
        Ok(())
    }

    fn chars_begin(&mut self) {
        let w = &mut *self.writer;
        w.candidate = (w.in_header && w.tabs.is_none()).then(Vec::new);
        if !w.in_body && !w.pending {
            w.pending = true;
            w.write_piece = true;
        } else if !w.in_existing_hash {
            w.pending = false;
            w.write_piece = true;
        } else {
            w.write_piece = false;
        }
    }

    fn chars_data(&mut self, data: &[u8]) -> Result<(), XRoadError> {
        let w = &mut *self.writer;
        if let Some(c) = &mut w.candidate {
            // Java's `trim()` strips every character up to U+0020.
            if data.iter().all(|&b| b <= b' ') {
                let room = MAX_INDENT.saturating_sub(c.len());
                c.extend_from_slice(&data[..data.len().min(room)]);
            } else {
                w.candidate = None;
            }
        }
        if w.write_piece {
            self.write(data)?;
        }
        Ok(())
    }

    fn chars_end(&mut self) {
        let w = &mut *self.writer;
        if let Some(c) = w.candidate.take() {
            w.tabs = Some(c);
        }
    }

    fn split_events(&self) -> bool {
        // Where Xerces cuts character data matters for the indent and for what is dropped of
        // a `requestHash`, both inside the header only (the pending piece is reset by every
        // tag).
        let w = &*self.writer;
        w.in_header || w.in_existing_hash
    }
}

/// Escapes an attribute value as commons-text's `StringEscapeUtils.escapeXml11` does.
fn escape_attribute(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("&quot;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '\u{0}' | '\u{FFFE}' | '\u{FFFF}' => {}
            '\u{1}'..='\u{8}'
            | '\u{B}'
            | '\u{C}'
            | '\u{E}'..='\u{1F}'
            | '\u{7F}'..='\u{84}'
            | '\u{86}'..='\u{9F}' => {
                out.push_str("&#");
                out.push_str(&u32::from(c).to_string());
                out.push(';');
            }
            c => out.push(c),
        }
    }
}
