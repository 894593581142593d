//! A push-fed lexer that reports what a SAX parser with a lexical handler reports (as Apache
//! Xerces does in the Java security server): element starts and ends with namespaces resolved
//! and attribute values normalized, character data in the pieces Xerces delivers it in, entity
//! and character references by name, CDATA sections and comments. Processing instructions and
//! the XML declaration are skipped.
//!
//! The input is UTF-8 that [`xroad_xml::Scanner`] has already accepted: well-formedness is
//! checked there, this lexer only needs to stay safe on anything else.
//!
//! Character data is cut where Xerces cuts it, because the Java response writer treats each
//! piece separately: a newline that follows other characters starts a new piece (line ends
//! are normalized to `\n`), a run of `]` is a piece of its own in text (in CDATA only a run of
//! two or more), so is every character outside the Basic Multilingual Plane, and a reference
//! `&name;` is reported as the three pieces `&`, `name`, `;`. Xerces also cuts where its 8 KiB
//! input buffer happens to end; that depends on how the bytes arrived and is not reproduced.
//! When the sink says cutting does not matter ([`Sink::split_events`]), text streams through
//! in pieces as large as the input allows.

use std::ops::Range;

use memchr::{memchr, memchr2, memchr3};
use xroad_fault::{ErrorCode, XRoadError};

/// Longest reference looked at (`&#x0000010FFFF;` with some leading zeros), as the scanner.
const MAX_REFERENCE: usize = 32;

/// Capacity of the carry buffer kept between chunks when less is needed.
const MAX_IDLE_CARRY: usize = 8 * 1024;

const XMLNS: &str = "http://www.w3.org/2000/xmlns/";
const XML: &str = "http://www.w3.org/XML/1998/namespace";

/// One attribute of a start tag, its value normalized and its references resolved.
pub(crate) struct Attribute<'a> {
    /// The qualified name as written.
    pub(crate) qname: &'a str,
    /// The value.
    pub(crate) value: &'a str,
}

/// An element start.
pub(crate) struct StartTag<'a> {
    /// The qualified name as written.
    pub(crate) qname: &'a str,
    /// The namespace URI (`""` for none).
    pub(crate) namespace: &'a str,
    /// The local name.
    pub(crate) local: &'a str,
    /// 1 for the root element.
    pub(crate) depth: usize,
    attrs: &'a [(Range<usize>, Range<usize>)],
    tag: &'a str,
    values: &'a str,
}

impl<'a> StartTag<'a> {
    /// The attributes in document order, namespace declarations included.
    pub(crate) fn attributes(&self) -> impl Iterator<Item = Attribute<'a>> + '_ {
        self.attrs.iter().map(|(q, v)| Attribute {
            qname: self.tag.get(q.clone()).unwrap_or(""),
            value: self.values.get(v.clone()).unwrap_or(""),
        })
    }
}

/// An element end.
pub(crate) struct EndTag<'a> {
    /// The qualified name as written.
    pub(crate) qname: &'a str,
    /// The namespace URI (`""` for none).
    pub(crate) namespace: &'a str,
    /// The local name.
    pub(crate) local: &'a str,
    /// 1 for the root element.
    pub(crate) depth: usize,
}

/// Receives the lexer's events. Character data comes as pieces: `chars_begin`, any number of
/// `chars_data` (whole pieces of UTF-8, possibly cut inside a character), `chars_end`.
pub(crate) trait Sink {
    /// An element starts (an empty element is reported as a start and an end).
    fn start_element(&mut self, tag: &StartTag<'_>) -> Result<(), XRoadError>;
    /// An element ends.
    fn end_element(&mut self, tag: &EndTag<'_>) -> Result<(), XRoadError>;
    /// A piece of character data begins.
    fn chars_begin(&mut self);
    /// Bytes of the current piece.
    fn chars_data(&mut self, data: &[u8]) -> Result<(), XRoadError>;
    /// The current piece ends.
    fn chars_end(&mut self);
    /// Whether character data must be cut where Xerces cuts it now; when not, text may come
    /// in larger pieces.
    fn split_events(&self) -> bool;

    /// A whole piece at once.
    fn chars(&mut self, data: &[u8]) -> Result<(), XRoadError> {
        self.chars_begin();
        self.chars_data(data)?;
        self.chars_end();
        Ok(())
    }
}

/// What the lexer is in the middle of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Character data (or whitespace outside the root element).
    Content,
    /// At a `<`, not yet known what follows.
    Markup,
    /// Inside a comment; `dashes` trailing `-` not yet written.
    Comment { dashes: u8 },
    /// Inside a CDATA section; `brackets` trailing `]` not yet written.
    CData { brackets: usize },
    /// Inside a processing instruction (or the XML declaration); `question` if the last byte
    /// was `?`.
    Pi { question: bool },
}

/// Where lexing goes on after one construct.
enum Step {
    /// At this position.
    At(usize),
    /// The construct at this position is unfinished: wait for more input.
    NeedMore(usize),
}

/// The character-data piece being reported, for cutting it where Xerces does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    None,
    /// Only newlines so far.
    Newlines,
    /// Other characters.
    Content,
    /// A run of `]`.
    Brackets,
    /// A character outside the BMP; the number of its bytes still to come.
    Supplementary(u8),
}

/// The lexer; see the module documentation.
#[derive(Debug)]
pub(crate) struct Lexer {
    state: State,
    piece: Piece,
    /// The last byte was a `\r` (a following `\n` belongs to the same line end).
    after_cr: bool,
    /// An unfinished construct carried over to the next chunk.
    carry: Vec<u8>,
    /// How far the start tag at the beginning of `carry` has been searched for its end, and
    /// the quote open there.
    tag_scan: usize,
    tag_quote: Option<u8>,
    depth: usize,
    /// Namespace declarations in scope: prefix and URI ranges of `ns_text`.
    bindings: Vec<(Range<usize>, Range<usize>)>,
    ns_text: String,
    /// Per open element: lengths of `bindings` and `ns_text` before it.
    marks: Vec<(usize, usize)>,
    /// Reused buffers for the current tag.
    attrs: Vec<(Range<usize>, Range<usize>)>,
    values: String,
}

fn malformed(what: &str) -> XRoadError {
    XRoadError::new(ErrorCode::InvalidSoap, format!("Malformed XML: {what}"))
}

impl Lexer {
    pub(crate) fn new() -> Self {
        Lexer {
            state: State::Content,
            piece: Piece::None,
            after_cr: false,
            carry: Vec::new(),
            tag_scan: 0,
            tag_quote: None,
            depth: 0,
            // Sized for a typical SOAP response, so that it needs no growing: a few
            // declarations, some nesting, a tag's attributes.
            bindings: Vec::with_capacity(8),
            ns_text: String::with_capacity(256),
            marks: Vec::with_capacity(16),
            attrs: Vec::with_capacity(8),
            values: String::with_capacity(256),
        }
    }

    /// Bytes held between chunks (for checks of bounded memory).
    #[cfg(test)]
    pub(crate) fn retained(&self) -> usize {
        self.carry.capacity()
            + self.ns_text.capacity()
            + self.values.capacity()
            + self.bindings.capacity() * std::mem::size_of::<(Range<usize>, Range<usize>)>()
            + self.attrs.capacity() * std::mem::size_of::<(Range<usize>, Range<usize>)>()
            + self.marks.capacity() * std::mem::size_of::<(usize, usize)>()
    }

    /// Lexes the next chunk of the document.
    pub(crate) fn feed(&mut self, input: &[u8], sink: &mut impl Sink) -> Result<(), XRoadError> {
        if self.carry.is_empty() {
            let used = self.run(input, sink)?;
            self.carry.extend_from_slice(&input[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.carry);
            buf.extend_from_slice(input);
            let used = self.run(&buf, sink)?;
            buf.drain(..used);
            // The whole chunk was appended: keep no more than the unfinished construct needs.
            if buf.capacity() > MAX_IDLE_CARRY {
                buf.shrink_to(buf.len().max(MAX_IDLE_CARRY / 4));
            }
            self.carry = buf;
        }
        Ok(())
    }

    /// Ends the document: the scanner has checked it is complete; anything left is a bug.
    pub(crate) fn finish(&mut self, sink: &mut impl Sink) -> Result<(), XRoadError> {
        self.end_piece(sink);
        if !self.carry.is_empty() || self.state != State::Content || self.depth != 0 {
            return Err(malformed("premature end of document"));
        }
        Ok(())
    }

    fn begin_piece(&mut self, piece: Piece, sink: &mut impl Sink) {
        if self.piece != Piece::None {
            sink.chars_end();
        }
        sink.chars_begin();
        self.piece = piece;
    }

    fn end_piece(&mut self, sink: &mut impl Sink) {
        if self.piece != Piece::None {
            sink.chars_end();
            self.piece = Piece::None;
        }
    }

    /// Lexes `data`; returns how many bytes were used (the rest is an unfinished construct).
    fn run(&mut self, data: &[u8], sink: &mut impl Sink) -> Result<usize, XRoadError> {
        let mut i = 0;
        while i < data.len() {
            let step = match self.state {
                State::Content if self.depth == 0 => {
                    // Outside the root element only whitespace, comments and PIs occur.
                    match memchr(b'<', &data[i..]) {
                        Some(p) => {
                            self.state = State::Markup;
                            Step::At(i + p)
                        }
                        None => Step::At(data.len()),
                    }
                }
                State::Content => self.text(data, i, sink)?,
                State::Markup => self.markup(data, i, sink)?,
                State::Comment { dashes } => Step::At(self.comment(data, i, dashes, sink)?),
                State::CData { brackets } => Step::At(self.cdata(data, i, brackets, sink)?),
                State::Pi { question } => Step::At(self.pi(data, i, question)),
            };
            match step {
                Step::At(n) => i = n,
                Step::NeedMore(n) => return Ok(n),
            }
        }
        Ok(i)
    }

    /// Emits `bytes` as part of a piece of kind `kind`, cutting where Xerces cuts text.
    fn text_bytes(
        &mut self,
        bytes: &[u8],
        kind: Piece,
        sink: &mut impl Sink,
    ) -> Result<(), XRoadError> {
        let continues = match (self.piece, kind) {
            (Piece::None, _) => false,
            (Piece::Newlines, Piece::Newlines | Piece::Content) => true,
            (Piece::Content, Piece::Content) => true,
            (Piece::Brackets, Piece::Brackets) => true,
            _ => false,
        };
        if continues {
            if kind == Piece::Content {
                self.piece = Piece::Content;
            }
        } else {
            self.begin_piece(kind, sink);
        }
        sink.chars_data(bytes)
    }

    /// Character data inside the root element, up to the next markup.
    fn text(
        &mut self,
        data: &[u8],
        mut i: usize,
        sink: &mut impl Sink,
    ) -> Result<Step, XRoadError> {
        while i < data.len() {
            let b = data[i];
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    i += 1;
                    continue;
                }
            }
            if let Piece::Supplementary(n @ 1..) = self.piece {
                // The rest of a character outside the BMP.
                let take = usize::from(n).min(data.len() - i);
                sink.chars_data(&data[i..i + take])?;
                self.piece = Piece::Supplementary(n - take as u8);
                i += take;
                continue;
            }
            match b {
                b'<' => {
                    self.end_piece(sink);
                    self.state = State::Markup;
                    return Ok(Step::At(i));
                }
                b'&' => {
                    let Some(len) = reference_len(&data[i..])? else {
                        return Ok(Step::NeedMore(i));
                    };
                    self.end_piece(sink);
                    sink.chars(b"&")?;
                    sink.chars(&data[i + 1..i + len - 1])?;
                    sink.chars(b";")?;
                    i += len;
                }
                b'\r' | b'\n' => {
                    self.after_cr = b == b'\r';
                    if sink.split_events() {
                        self.text_bytes(b"\n", Piece::Newlines, sink)?;
                    } else {
                        self.text_bytes(b"\n", Piece::Content, sink)?;
                    }
                    i += 1;
                }
                _ if !sink.split_events() => {
                    let end = memchr3(b'<', b'&', b'\r', &data[i..]).map_or(data.len(), |p| i + p);
                    self.text_bytes(&data[i..end], Piece::Content, sink)?;
                    i = end;
                }
                b']' => {
                    let end = data[i..]
                        .iter()
                        .position(|&c| c != b']')
                        .map_or(data.len(), |p| i + p);
                    self.text_bytes(&data[i..end], Piece::Brackets, sink)?;
                    i = end;
                }
                0xF0.. => {
                    self.begin_piece(Piece::Supplementary(3), sink);
                    sink.chars_data(&data[i..=i])?;
                    i += 1;
                }
                _ => {
                    let end = data[i..]
                        .iter()
                        .position(|&c| matches!(c, b'<' | b'&' | b'\r' | b'\n' | b']' | 0xF0..))
                        .map_or(data.len(), |p| i + p);
                    self.text_bytes(&data[i..end], Piece::Content, sink)?;
                    i = end;
                }
            }
        }
        Ok(Step::At(i))
    }

    /// At a `<`: decides what follows and handles tags whole.
    fn markup(&mut self, data: &[u8], i: usize, sink: &mut impl Sink) -> Result<Step, XRoadError> {
        let rest = &data[i..];
        match rest.get(1) {
            None => Ok(Step::NeedMore(i)),
            Some(b'?') => {
                self.state = State::Pi { question: false };
                Ok(Step::At(i + 2))
            }
            Some(b'!') => {
                if rest.starts_with(b"<!--") {
                    self.end_piece(sink);
                    sink.chars(b"<!--")?;
                    sink.chars_begin();
                    self.state = State::Comment { dashes: 0 };
                    Ok(Step::At(i + 4))
                } else if rest.starts_with(b"<![CDATA[") {
                    sink.chars(b"<![CDATA[")?;
                    self.state = State::CData { brackets: 0 };
                    Ok(Step::At(i + 9))
                } else if b"<![CDATA[".starts_with(rest) || b"<!--".starts_with(rest) {
                    Ok(Step::NeedMore(i))
                } else {
                    Err(malformed("DOCTYPE or unknown declaration"))
                }
            }
            Some(b'/') => {
                let Some(end) = self.find_tag_end(rest) else {
                    return Ok(Step::NeedMore(i));
                };
                let qname = std::str::from_utf8(&rest[2..end])
                    .map_err(|_| malformed("invalid UTF-8 in an end tag"))?
                    .trim_end_matches(|c: char| c.is_ascii_whitespace());
                self.end_element(qname, sink)?;
                self.state = State::Content;
                Ok(Step::At(i + end + 1))
            }
            Some(_) => {
                let Some(end) = self.find_tag_end(rest) else {
                    return Ok(Step::NeedMore(i));
                };
                self.start_tag(&rest[..=end], sink)?;
                self.state = State::Content;
                Ok(Step::At(i + end + 1))
            }
        }
    }

    /// Position of the `>` ending the tag at the start of `rest`, searching on from where
    /// the last call stopped (a long tag fed in small chunks is searched once).
    fn find_tag_end(&mut self, rest: &[u8]) -> Option<usize> {
        let mut j = self.tag_scan.max(1);
        while j < rest.len() {
            match self.tag_quote {
                Some(q) => match memchr(q, &rest[j..]) {
                    Some(p) => {
                        j += p + 1;
                        self.tag_quote = None;
                    }
                    None => j = rest.len(),
                },
                None => match memchr3(b'>', b'"', b'\'', &rest[j..]) {
                    Some(p) if rest[j + p] == b'>' => {
                        self.tag_scan = 0;
                        return Some(j + p);
                    }
                    Some(p) => {
                        self.tag_quote = Some(rest[j + p]);
                        j += p + 1;
                    }
                    None => j = rest.len(),
                },
            }
        }
        self.tag_scan = j;
        None
    }

    /// A complete start tag `<…>`.
    fn start_tag(&mut self, tag: &[u8], sink: &mut impl Sink) -> Result<(), XRoadError> {
        let tag = std::str::from_utf8(tag).map_err(|_| malformed("invalid UTF-8 in a tag"))?;
        let inner = &tag[1..tag.len() - 1];
        let (inner, empty) = match inner.strip_suffix('/') {
            Some(s) => (s, true),
            None => (inner, false),
        };
        let name_end = inner
            .find(|c: char| c.is_ascii_whitespace())
            .unwrap_or(inner.len());
        let qname_range = 1..1 + name_end;
        self.attrs.clear();
        self.values.clear();
        let mut rest = &inner[name_end..];
        let offset = |s: &str| tag.len() - 1 - usize::from(empty) - s.len();
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
            if rest.is_empty() {
                break;
            }
            let eq = rest
                .find('=')
                .ok_or_else(|| malformed("attribute without value"))?;
            let name = rest[..eq].trim_end_matches(|c: char| c.is_ascii_whitespace());
            let name_start = offset(rest);
            let after = rest[eq + 1..].trim_start_matches(|c: char| c.is_ascii_whitespace());
            let quote = after
                .chars()
                .next()
                .filter(|c| *c == '"' || *c == '\'')
                .ok_or_else(|| malformed("attribute value must be quoted"))?;
            let close = after[1..]
                .find(quote)
                .ok_or_else(|| malformed("unterminated attribute value"))?;
            let start = self.values.len();
            decode_attribute(&after[1..1 + close], &mut self.values)?;
            self.attrs.push((
                name_start..name_start + name.len(),
                start..self.values.len(),
            ));
            rest = &after[close + 2..];
        }

        self.marks.push((self.bindings.len(), self.ns_text.len()));
        self.depth += 1;
        for (q, v) in &self.attrs {
            let qname = &tag[q.clone()];
            let prefix = match qname.strip_prefix("xmlns") {
                Some("") => "",
                Some(p) if p.starts_with(':') => &p[1..],
                _ => continue,
            };
            let p0 = self.ns_text.len();
            self.ns_text.push_str(prefix);
            let u0 = self.ns_text.len();
            self.ns_text.push_str(&self.values[v.clone()]);
            self.bindings.push((p0..u0, u0..self.ns_text.len()));
        }
        let qname = &tag[qname_range];
        let (prefix, local) = split_qname(qname);
        let namespace = self.resolve(prefix);
        sink.start_element(&StartTag {
            qname,
            namespace,
            local,
            depth: self.depth,
            attrs: &self.attrs,
            tag,
            values: &self.values,
        })?;
        if empty {
            self.end_element(qname, sink)?;
        }
        Ok(())
    }

    fn end_element(&mut self, qname: &str, sink: &mut impl Sink) -> Result<(), XRoadError> {
        let (prefix, local) = split_qname(qname);
        sink.end_element(&EndTag {
            qname,
            namespace: self.resolve(prefix),
            local,
            depth: self.depth,
        })?;
        let (b, t) = self
            .marks
            .pop()
            .ok_or_else(|| malformed("end tag without start tag"))?;
        self.bindings.truncate(b);
        self.ns_text.truncate(t);
        self.depth -= 1;
        Ok(())
    }

    /// The namespace bound to `prefix` (`""` for the default namespace when none is bound).
    fn resolve(&self, prefix: &str) -> &str {
        if prefix == "xml" {
            return XML;
        }
        if prefix == "xmlns" {
            return XMLNS;
        }
        self.bindings
            .iter()
            .rev()
            .find(|(p, _)| self.ns_text.get(p.clone()) == Some(prefix))
            .and_then(|(_, u)| self.ns_text.get(u.clone()))
            .unwrap_or("")
    }

    /// Comment content: one piece, line ends normalized.
    fn comment(
        &mut self,
        data: &[u8],
        mut i: usize,
        mut dashes: u8,
        sink: &mut impl Sink,
    ) -> Result<usize, XRoadError> {
        while i < data.len() {
            let b = data[i];
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    i += 1;
                    continue;
                }
            }
            if dashes > 0 {
                if b == b'-' && dashes == 1 {
                    dashes = 2;
                    i += 1;
                    continue;
                }
                if b == b'>' && dashes == 2 {
                    sink.chars_end();
                    sink.chars(b"-->")?;
                    self.state = State::Content;
                    return Ok(i + 1);
                }
                // `--` inside a comment is refused by the scanner; stay safe regardless.
                sink.chars_data(&b"--"[..usize::from(dashes)])?;
                dashes = 0;
            }
            match b {
                b'-' => {
                    dashes = 1;
                    i += 1;
                }
                b'\r' | b'\n' => {
                    self.after_cr = b == b'\r';
                    sink.chars_data(b"\n")?;
                    i += 1;
                }
                _ => {
                    let end = memchr3(b'-', b'\r', b'\n', &data[i..]).map_or(data.len(), |p| i + p);
                    sink.chars_data(&data[i..end])?;
                    i = end;
                }
            }
        }
        self.state = State::Comment { dashes };
        Ok(i)
    }

    /// CDATA content, cut where Xerces cuts it: at newlines after other characters, around
    /// runs of two or more `]` (the last two of a run being a piece of their own), and around
    /// characters outside the BMP.
    fn cdata(
        &mut self,
        data: &[u8],
        mut i: usize,
        mut brackets: usize,
        sink: &mut impl Sink,
    ) -> Result<usize, XRoadError> {
        let split = sink.split_events();
        while i < data.len() {
            let b = data[i];
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    i += 1;
                    continue;
                }
            }
            if let Piece::Supplementary(n @ 1..) = self.piece {
                let take = usize::from(n).min(data.len() - i);
                sink.chars_data(&data[i..i + take])?;
                self.piece = Piece::Supplementary(n - take as u8);
                i += take;
                continue;
            }
            if b == b']' {
                let end = data[i..]
                    .iter()
                    .position(|&c| c != b']')
                    .map_or(data.len(), |p| i + p);
                brackets += end - i;
                i = end;
                continue;
            }
            if brackets > 0 {
                let closing = b == b'>' && brackets >= 2;
                if brackets == 1 {
                    // A lone `]` is content.
                    self.text_bytes(b"]", Piece::Content, sink)?;
                } else if !split {
                    let run = if closing { brackets - 2 } else { brackets };
                    self.write_brackets(run, Piece::Content, sink)?;
                } else {
                    // Xerces reports all but the last two of a run as one piece, and the last
                    // two as another unless they close the section.
                    self.end_piece(sink);
                    self.write_brackets(brackets - 2, Piece::Brackets, sink)?;
                    self.end_piece(sink);
                    if !closing {
                        self.write_brackets(2, Piece::Brackets, sink)?;
                        self.end_piece(sink);
                    }
                }
                brackets = 0;
                if closing {
                    self.end_piece(sink);
                    sink.chars(b"]]>")?;
                    self.state = State::Content;
                    return Ok(i + 1);
                }
            }
            match b {
                b'\r' | b'\n' => {
                    self.after_cr = b == b'\r';
                    let kind = if split {
                        Piece::Newlines
                    } else {
                        Piece::Content
                    };
                    self.text_bytes(b"\n", kind, sink)?;
                    i += 1;
                }
                0xF0.. if split => {
                    self.begin_piece(Piece::Supplementary(3), sink);
                    sink.chars_data(&data[i..=i])?;
                    i += 1;
                }
                _ => {
                    let end = if split {
                        data[i..]
                            .iter()
                            .position(|&c| matches!(c, b']' | b'\r' | b'\n' | 0xF0..))
                            .map_or(data.len(), |p| i + p)
                    } else {
                        memchr2(b']', b'\r', &data[i..]).map_or(data.len(), |p| i + p)
                    };
                    self.text_bytes(&data[i..end], Piece::Content, sink)?;
                    i = end;
                }
            }
        }
        self.state = State::CData { brackets };
        Ok(i)
    }

    /// Writes `n` brackets as (part of) a piece of kind `kind`; nothing when `n` is 0.
    fn write_brackets(
        &mut self,
        n: usize,
        kind: Piece,
        sink: &mut impl Sink,
    ) -> Result<(), XRoadError> {
        const BRACKETS: [u8; 64] = [b']'; 64];
        let mut left = n;
        while left > 0 {
            let take = left.min(BRACKETS.len());
            self.text_bytes(&BRACKETS[..take], kind, sink)?;
            left -= take;
        }
        Ok(())
    }

    /// Skips a processing instruction up to its `?>`.
    fn pi(&mut self, data: &[u8], mut i: usize, mut question: bool) -> usize {
        while i < data.len() {
            let b = data[i];
            if question && b == b'>' {
                self.state = State::Content;
                return i + 1;
            }
            if b == b'?' {
                question = true;
                i += 1;
                continue;
            }
            question = false;
            i = memchr(b'?', &data[i..]).map_or(data.len(), |p| i + p);
        }
        self.state = State::Pi { question };
        i
    }
}

fn split_qname(qname: &str) -> (&str, &str) {
    match qname.split_once(':') {
        Some((p, l)) => (p, l),
        None => ("", qname),
    }
}

/// Length of the reference at the start of `data` (`&…;`), `None` if it is cut off.
fn reference_len(data: &[u8]) -> Result<Option<usize>, XRoadError> {
    let window = &data[..data.len().min(MAX_REFERENCE)];
    match memchr(b';', window) {
        Some(semi) if semi > 1 => Ok(Some(semi + 1)),
        Some(_) => Err(malformed("malformed character or entity reference")),
        None if data.len() < MAX_REFERENCE => Ok(None),
        None => Err(malformed("malformed character or entity reference")),
    }
}

/// Decodes a reference body (between `&` and `;`).
fn decode_reference(name: &str) -> Result<char, XRoadError> {
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            let code = if let Some(hex) = name.strip_prefix("#x") {
                u32::from_str_radix(hex, 16)
            } else if let Some(dec) = name.strip_prefix('#') {
                dec.parse::<u32>()
            } else {
                return Err(malformed("undeclared entity"));
            };
            code.ok()
                .and_then(char::from_u32)
                .ok_or_else(|| malformed("malformed character reference"))?
        }
    };
    Ok(c)
}

/// Appends an attribute value with references resolved and whitespace normalized: a literal
/// tab, newline or carriage return (`\r\n` counting as one) becomes a space.
fn decode_attribute(raw: &str, out: &mut String) -> Result<(), XRoadError> {
    let mut rest = raw;
    while let Some(p) = rest.find(['&', '\t', '\n', '\r']) {
        out.push_str(&rest[..p]);
        let b = rest.as_bytes()[p];
        rest = &rest[p + 1..];
        match b {
            b'&' => {
                let semi = rest
                    .find(';')
                    .ok_or_else(|| malformed("malformed reference"))?;
                out.push(decode_reference(&rest[..semi])?);
                rest = &rest[semi + 1..];
            }
            b'\r' => {
                out.push(' ');
                rest = rest.strip_prefix('\n').unwrap_or(rest);
            }
            _ => out.push(' '),
        }
    }
    out.push_str(rest);
    Ok(())
}
