//! The push-fed scanner behind [`crate::Handler`].

use std::ops::Range;

use memchr::{memchr, memchr2, memchr3, memmem};

use crate::{Handler, SyntaxError, SyntaxErrorKind as K, XML_NAMESPACE};

/// Bounds on what one document may make the scanner hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest single tag, declaration or processing instruction, in bytes.
    pub max_markup: usize,
    /// Deepest element nesting.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_markup: 1 << 20,
            max_depth: 4096,
        }
    }
}

/// What the scanner is in the middle of between two chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Character data or the start of the next markup.
    Text,
    /// Inside `<!-- … -->`.
    Comment,
    /// Inside `<![CDATA[ … ]]>`.
    CData,
}

#[derive(Debug)]
struct Binding {
    prefix: String,
    uri: String,
}

/// One attribute of a [`StartTag`]; its value has references decoded and whitespace
/// normalized as XML requires.
#[derive(Debug, Clone, Copy)]
pub struct Attribute<'a> {
    /// The qualified name as written, e.g. `id:objectType`.
    pub qname: &'a str,
    /// The namespace URI of a prefixed name; `""` for unprefixed names (attributes do not
    /// take the default namespace).
    pub namespace: &'a str,
    /// The local part of the name.
    pub local: &'a str,
    /// The value.
    pub value: &'a str,
}

/// An element start as reported to [`Handler::start_element`].
#[derive(Debug)]
pub struct StartTag<'a> {
    /// The qualified name as written, e.g. `SOAP-ENV:Envelope`.
    pub qname: &'a str,
    /// The resolved namespace URI (`""` when none applies).
    pub namespace: &'a str,
    /// The local part of the name.
    pub local: &'a str,
    /// Nesting depth: 1 for the root element.
    pub depth: usize,
    attrs: Vec<Attribute<'a>>,
}

impl<'a> StartTag<'a> {
    /// The value of the attribute `local` in namespace `namespace` (`""` for unprefixed).
    pub fn attribute(&self, namespace: &str, local: &str) -> Option<&'a str> {
        self.attrs
            .iter()
            .find(|a| a.local == local && a.namespace == namespace)
            .map(|a| a.value)
    }

    /// All attributes in document order, namespace declarations included.
    pub fn attributes(&self) -> &[Attribute<'a>] {
        &self.attrs
    }
}

/// An element end as reported to [`Handler::end_element`].
#[derive(Debug)]
pub struct EndTag<'a> {
    /// The qualified name as written.
    pub qname: &'a str,
    /// The resolved namespace URI.
    pub namespace: &'a str,
    /// The local part of the name.
    pub local: &'a str,
    /// Nesting depth: 1 for the root element.
    pub depth: usize,
}

/// A streaming XML scanner: feed it bytes with [`Scanner::feed`], then call
/// [`Scanner::finish`].
#[derive(Debug)]
pub struct Scanner {
    limits: Limits,
    state: State,
    /// Bytes of an unfinished construct carried over to the next chunk.
    carry: Vec<u8>,
    /// Up to three bytes of a UTF-8 sequence split across chunks (validation only).
    utf8_tail: Vec<u8>,
    /// Offset of the first byte of `carry` (or of the next chunk) in the whole input.
    offset: u64,
    /// Qualified names of the open elements, concatenated; `open` holds their start offsets.
    names: String,
    open: Vec<usize>,
    /// Namespace bindings in scope; `marks[i]` is the binding count before element `i` opened.
    bindings: Vec<Binding>,
    marks: Vec<usize>,
    root_seen: bool,
    at_start: bool,
    /// Decoded attribute values of the current tag (reused).
    values: String,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new(Limits::default())
    }
}

fn err(kind: K, offset: u64) -> SyntaxError {
    SyntaxError { kind, offset }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_name_byte(b: u8) -> bool {
    !is_ws(b)
        && !matches!(
            b,
            b'<' | b'>'
                | b'/'
                | b'='
                | b'"'
                | b'\''
                | b'&'
                | b'?'
                | b'!'
                | b';'
                | b'#'
                | b'('
                | b')'
                | b','
        )
}

fn valid_name(name: &[u8]) -> bool {
    match name.first() {
        None => false,
        Some(&b) if b.is_ascii_digit() || b == b'-' || b == b'.' || b == b':' => false,
        _ => name.iter().all(|&b| is_name_byte(b)) && name.last() != Some(&b':'),
    }
}

fn split_qname(qname: &str) -> (&str, &str) {
    match qname.split_once(':') {
        Some((p, l)) => (p, l),
        None => ("", qname),
    }
}

fn is_xml_char(c: u32) -> bool {
    matches!(c, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Decodes the reference starting at `data[0] == b'&'`. Returns the encoded character(s) and
/// the reference length, `Ok(None)` when `data` ends before the reference does.
fn decode_reference(data: &[u8]) -> Result<Option<([u8; 4], usize, usize)>, K> {
    // Longest legal reference: "&#x10FFFF;" (10 bytes); allow leading zeros up to 32.
    let window = &data[..data.len().min(32)];
    let Some(semi) = memchr(b';', window) else {
        return if data.len() < 32 {
            Ok(None)
        } else {
            Err(K::MalformedReference)
        };
    };
    let body = &data[1..semi];
    let mut out = [0u8; 4];
    let ch = match body {
        b"lt" => '<',
        b"gt" => '>',
        b"amp" => '&',
        b"apos" => '\'',
        b"quot" => '"',
        [b'#', b'x', hex @ ..] => numeric_char(hex, 16)?,
        [b'#', dec @ ..] => numeric_char(dec, 10)?,
        name if valid_name(name) => {
            return Err(K::UndeclaredEntity(
                String::from_utf8_lossy(name).into_owned(),
            ))
        }
        _ => return Err(K::MalformedReference),
    };
    let len = ch.encode_utf8(&mut out).len();
    Ok(Some((out, len, semi + 1)))
}

fn numeric_char(digits: &[u8], radix: u32) -> Result<char, K> {
    let s = std::str::from_utf8(digits).map_err(|_| K::MalformedReference)?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(K::MalformedReference);
    }
    let code = u32::from_str_radix(s, radix).map_err(|_| K::MalformedReference)?;
    if !is_xml_char(code) {
        return Err(K::InvalidChar(code));
    }
    char::from_u32(code).ok_or(K::MalformedReference)
}

impl Scanner {
    /// A scanner with the given limits.
    pub fn new(limits: Limits) -> Self {
        Scanner {
            limits,
            state: State::Text,
            carry: Vec::new(),
            utf8_tail: Vec::new(),
            offset: 0,
            names: String::new(),
            open: Vec::new(),
            bindings: Vec::new(),
            marks: Vec::new(),
            root_seen: false,
            at_start: true,
            values: String::new(),
        }
    }

    /// Whether the root element has been closed (the document is complete apart from
    /// trailing whitespace, comments and processing instructions).
    pub fn is_complete(&self) -> bool {
        self.root_seen && self.open.is_empty()
    }

    /// Scans the next chunk of the document.
    pub fn feed<H: Handler>(&mut self, input: &[u8], h: &mut H) -> Result<(), H::Error> {
        self.validate_chars(input)?;
        if self.carry.is_empty() {
            let used = self.process(input, false, h)?;
            self.carry.extend_from_slice(&input[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.carry);
            buf.extend_from_slice(input);
            let used = self.process(&buf, false, h)?;
            buf.drain(..used);
            self.carry = buf;
        }
        if self.carry.len() > self.limits.max_markup {
            return Err(err(K::MarkupTooLarge(self.limits.max_markup), self.offset).into());
        }
        Ok(())
    }

    /// Ends the document: fails if anything is left unfinished.
    pub fn finish<H: Handler>(&mut self, h: &mut H) -> Result<(), H::Error> {
        if !self.utf8_tail.is_empty() {
            return Err(err(K::InvalidUtf8, self.offset).into());
        }
        let buf = std::mem::take(&mut self.carry);
        let used = self.process(&buf, true, h)?;
        if used < buf.len() || self.state != State::Text || !self.is_complete() {
            return Err(err(K::PrematureEnd, self.offset).into());
        }
        Ok(())
    }

    /// Streams UTF-8 and XML-character validation over the raw input, independent of
    /// tokenization (so text may be reported as bytes without re-checking).
    fn validate_chars(&mut self, input: &[u8]) -> Result<(), SyntaxError> {
        let mut input = input;
        let base = self.offset + self.carry.len() as u64;
        if !self.utf8_tail.is_empty() {
            let need = utf8_len(self.utf8_tail[0]).saturating_sub(self.utf8_tail.len());
            let take = need.min(input.len());
            self.utf8_tail.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.utf8_tail.len() < utf8_len(self.utf8_tail[0]) {
                return Ok(());
            }
            let s = std::str::from_utf8(&self.utf8_tail).map_err(|_| err(K::InvalidUtf8, base))?;
            check_xml_chars(s, base)?;
            self.utf8_tail.clear();
        }
        match std::str::from_utf8(input) {
            Ok(s) => check_xml_chars(s, base),
            Err(e) if e.error_len().is_none() => {
                let (valid, tail) = input.split_at(e.valid_up_to());
                // `valid` is the validated prefix; re-slicing it as str cannot fail.
                let s = std::str::from_utf8(valid).map_err(|_| err(K::InvalidUtf8, base))?;
                check_xml_chars(s, base)?;
                self.utf8_tail.extend_from_slice(tail);
                Ok(())
            }
            Err(e) => Err(err(K::InvalidUtf8, base + e.valid_up_to() as u64)),
        }
    }

    /// Scans `data` as far as it can; returns how many bytes it consumed. Unconsumed bytes
    /// are an unfinished construct that needs more input (or, at `eof`, an error).
    fn process<H: Handler>(
        &mut self,
        data: &[u8],
        eof: bool,
        h: &mut H,
    ) -> Result<usize, H::Error> {
        let mut pos = 0;
        while pos < data.len() {
            let step = match self.state {
                State::Text => self.text_or_markup(&data[pos..], eof, h)?,
                State::Comment => self.comment(&data[pos..])?,
                State::CData => self.cdata(&data[pos..], h)?,
            };
            match step {
                Some(n) => {
                    pos += n;
                    self.offset += n as u64;
                }
                None => break,
            }
        }
        Ok(pos)
    }

    fn text_or_markup<H: Handler>(
        &mut self,
        d: &[u8],
        eof: bool,
        h: &mut H,
    ) -> Result<Option<usize>, H::Error> {
        let end = memchr2(b'<', b'&', d).unwrap_or(d.len());
        if end > 0 {
            self.emit_text(&d[..end], h)?;
            return Ok(Some(end));
        }
        if d[0] == b'&' {
            return match decode_reference(d) {
                Ok(Some((buf, len, consumed))) => {
                    self.emit_text(&buf[..len], h)?;
                    Ok(Some(consumed))
                }
                Ok(None) if !eof => Ok(None),
                Ok(None) => Err(err(K::MalformedReference, self.offset).into()),
                Err(k) => Err(err(k, self.offset).into()),
            };
        }
        self.markup(d, eof, h)
    }

    fn emit_text<H: Handler>(&mut self, text: &[u8], h: &mut H) -> Result<(), H::Error> {
        self.at_start = false;
        if self.open.is_empty() {
            if text.iter().all(|&b| is_ws(b)) {
                return Ok(());
            }
            return Err(err(K::ContentOutsideRoot, self.offset).into());
        }
        h.text(text)
    }

    /// `d` starts with `<`.
    fn markup<H: Handler>(
        &mut self,
        d: &[u8],
        eof: bool,
        h: &mut H,
    ) -> Result<Option<usize>, H::Error> {
        let need_more = || -> Result<Option<usize>, H::Error> {
            if eof {
                Err(err(K::PrematureEnd, self.offset).into())
            } else {
                Ok(None)
            }
        };
        let Some(&second) = d.get(1) else {
            return need_more();
        };
        match second {
            b'/' => {
                let Some(end) = memchr(b'>', d) else {
                    return need_more();
                };
                self.end_tag(&d[2..end], h)?;
                Ok(Some(end + 1))
            }
            b'?' => {
                let Some(end) = memmem::find(d, b"?>") else {
                    return need_more();
                };
                self.processing_instruction(&d[2..end])?;
                Ok(Some(end + 2))
            }
            b'!' => {
                let undecided = !d.starts_with(b"<!--")
                    && (b"<!--".starts_with(d)
                        || b"<![CDATA[".starts_with(d)
                        || b"<!DOCTYPE".starts_with(d));
                if undecided {
                    return need_more();
                }
                self.at_start = false;
                if d.starts_with(b"<!--") {
                    self.state = State::Comment;
                    Ok(Some(4))
                } else if d.starts_with(b"<![CDATA[") {
                    if self.open.is_empty() {
                        return Err(err(K::ContentOutsideRoot, self.offset).into());
                    }
                    self.state = State::CData;
                    Ok(Some(9))
                } else if d.starts_with(b"<!DOCTYPE") {
                    Err(err(K::DoctypeForbidden, self.offset).into())
                } else {
                    Err(err(K::Malformed("unknown markup declaration"), self.offset).into())
                }
            }
            _ => {
                let Some(end) = tag_end(d) else {
                    return need_more();
                };
                self.start_tag(&d[1..end], h)?;
                Ok(Some(end + 1))
            }
        }
    }

    fn comment(&mut self, d: &[u8]) -> Result<Option<usize>, SyntaxError> {
        match memmem::find(d, b"--") {
            Some(i) if i + 2 < d.len() => {
                if d[i + 2] == b'>' {
                    self.state = State::Text;
                    Ok(Some(i + 3))
                } else {
                    Err(err(K::DoubleHyphenInComment, self.offset + i as u64))
                }
            }
            // "--" at the very end: wait for the byte that decides.
            Some(i) => Ok((i > 0).then_some(i)),
            // Keep a trailing '-' that may start the terminator.
            None if d.last() == Some(&b'-') => Ok((d.len() > 1).then(|| d.len() - 1)),
            None => Ok(Some(d.len())),
        }
    }

    fn cdata<H: Handler>(&mut self, d: &[u8], h: &mut H) -> Result<Option<usize>, H::Error> {
        if let Some(i) = memmem::find(d, b"]]>") {
            if i > 0 {
                h.text(&d[..i])?;
            }
            self.state = State::Text;
            return Ok(Some(i + 3));
        }
        // Hold back up to two bytes that may begin the terminator.
        let keep = if d.ends_with(b"]]") {
            2
        } else if d.ends_with(b"]") {
            1
        } else {
            0
        };
        let emit = d.len() - keep;
        if emit == 0 {
            return Ok(None);
        }
        h.text(&d[..emit])?;
        Ok(Some(emit))
    }

    fn processing_instruction(&mut self, body: &[u8]) -> Result<(), SyntaxError> {
        let target_end = body.iter().position(|&b| is_ws(b)).unwrap_or(body.len());
        let target = &body[..target_end];
        if target.eq_ignore_ascii_case(b"xml") {
            if target != b"xml" || !self.at_start {
                return Err(err(
                    K::Malformed("misplaced or malformed XML declaration"),
                    self.offset,
                ));
            }
        } else if !valid_name(target) {
            return Err(err(
                K::Malformed("processing instruction without a valid target"),
                self.offset,
            ));
        }
        self.at_start = false;
        Ok(())
    }

    fn start_tag<H: Handler>(&mut self, inner: &[u8], h: &mut H) -> Result<(), H::Error> {
        let off = self.offset;
        self.at_start = false;
        let (inner, empty) = match inner.strip_suffix(b"/") {
            Some(rest) => (rest, true),
            None => (inner, false),
        };
        let name_end = inner.iter().position(|&b| is_ws(b)).unwrap_or(inner.len());
        let qname_bytes = &inner[..name_end];
        if !valid_name(qname_bytes) {
            return Err(err(K::Malformed("invalid element name"), off).into());
        }
        if self.open.is_empty() && self.root_seen {
            return Err(err(K::ContentOutsideRoot, off).into());
        }
        if self.open.len() >= self.limits.max_depth {
            return Err(err(K::TooDeep(self.limits.max_depth), off).into());
        }
        let raw =
            parse_attributes(&inner[name_end..], &mut self.values).map_err(|k| err(k, off))?;
        let qname = std::str::from_utf8(qname_bytes).map_err(|_| err(K::InvalidUtf8, off))?;

        // Namespace declarations of this element come into scope before its names resolve.
        self.marks.push(self.bindings.len());
        for a in &raw {
            let aq = attr_str(inner, name_end, &a.qname).map_err(|k| err(k, off))?;
            let value = &self.values[a.value.clone()];
            if aq == "xmlns" {
                self.bindings.push(Binding {
                    prefix: String::new(),
                    uri: value.to_owned(),
                });
            } else if let Some(p) = aq.strip_prefix("xmlns:") {
                if value.is_empty() {
                    return Err(err(K::Malformed("empty namespace URI for a prefix"), off).into());
                }
                self.bindings.push(Binding {
                    prefix: p.to_owned(),
                    uri: value.to_owned(),
                });
            }
        }
        let mut attrs = Vec::with_capacity(raw.len());
        for a in &raw {
            let aq = attr_str(inner, name_end, &a.qname).map_err(|k| err(k, off))?;
            let (prefix, local) = split_qname(aq);
            let namespace = if aq == "xmlns" || prefix == "xmlns" {
                "http://www.w3.org/2000/xmlns/"
            } else if prefix.is_empty() {
                ""
            } else {
                resolve(&self.bindings, prefix)
                    .ok_or_else(|| err(K::UnboundPrefix(prefix.into()), off))?
            };
            if attrs.iter().any(|b: &Attribute<'_>| b.qname == aq) {
                return Err(err(K::DuplicateAttribute(aq.into()), off).into());
            }
            attrs.push(Attribute {
                qname: aq,
                namespace,
                local,
                value: &self.values[a.value.clone()],
            });
        }
        let (prefix, local) = split_qname(qname);
        let namespace = match resolve(&self.bindings, prefix) {
            Some(ns) => ns,
            None if prefix.is_empty() => "",
            None => return Err(err(K::UnboundPrefix(prefix.into()), off).into()),
        };
        self.root_seen = true;
        let depth = self.open.len() + 1;
        h.start_element(&StartTag {
            qname,
            namespace,
            local,
            depth,
            attrs,
        })?;
        if empty {
            h.end_element(&EndTag {
                qname,
                namespace,
                local,
                depth,
            })?;
            let mark = self.marks.pop().unwrap_or(0);
            self.bindings.truncate(mark);
        } else {
            self.open.push(self.names.len());
            self.names.push_str(qname);
        }
        Ok(())
    }

    fn end_tag<H: Handler>(&mut self, inner: &[u8], h: &mut H) -> Result<(), H::Error> {
        let off = self.offset;
        let name_end = inner.iter().position(|&b| is_ws(b)).unwrap_or(inner.len());
        if !inner[name_end..].iter().all(|&b| is_ws(b)) {
            return Err(err(K::Malformed("end tag with content after its name"), off).into());
        }
        let found = String::from_utf8_lossy(&inner[..name_end]);
        let Some(&start) = self.open.last() else {
            return Err(err(K::UnexpectedEndTag(found.into_owned()), off).into());
        };
        if self.names[start..] != *found {
            let expected = self.names[start..].to_owned();
            return Err(err(
                K::MismatchedEndTag {
                    expected,
                    found: found.into_owned(),
                },
                off,
            )
            .into());
        }
        let depth = self.open.len();
        {
            let qname = &self.names[start..];
            let (prefix, local) = split_qname(qname);
            let namespace = resolve(&self.bindings, prefix).unwrap_or("");
            h.end_element(&EndTag {
                qname,
                namespace,
                local,
                depth,
            })?;
        }
        self.open.pop();
        self.names.truncate(start);
        let mark = self.marks.pop().unwrap_or(0);
        self.bindings.truncate(mark);
        Ok(())
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

fn check_xml_chars(s: &str, base: u64) -> Result<(), SyntaxError> {
    // Fast path: only control characters and the two non-characters need a closer look.
    let bytes = s.as_bytes();
    if bytes
        .iter()
        .all(|&b| b >= 0x20 || matches!(b, b'\t' | b'\n' | b'\r'))
        && memchr(0xEF, bytes).is_none()
    {
        return Ok(());
    }
    for (i, c) in s.char_indices() {
        if !is_xml_char(u32::from(c)) {
            return Err(err(K::InvalidChar(u32::from(c)), base + i as u64));
        }
    }
    Ok(())
}

fn resolve<'b>(bindings: &'b [Binding], prefix: &str) -> Option<&'b str> {
    if prefix == "xml" {
        return Some(XML_NAMESPACE);
    }
    bindings
        .iter()
        .rev()
        .find(|b| b.prefix == prefix)
        .map(|b| b.uri.as_str())
}

/// Finds the `>` that closes a start tag beginning at `d[0] == b'<'`, skipping quoted values.
fn tag_end(d: &[u8]) -> Option<usize> {
    let mut i = 1;
    loop {
        let j = i + memchr3(b'>', b'"', b'\'', &d[i..])?;
        if d[j] == b'>' {
            return Some(j);
        }
        let close = memchr(d[j], &d[j + 1..])?;
        i = j + 1 + close + 1;
    }
}

struct RawAttr {
    /// Range of the qualified name within the attribute region.
    qname: Range<usize>,
    /// Range of the decoded value within the values buffer.
    value: Range<usize>,
}

fn attr_str<'t>(inner: &'t [u8], base: usize, r: &Range<usize>) -> Result<&'t str, K> {
    std::str::from_utf8(&inner[base + r.start..base + r.end]).map_err(|_| K::InvalidUtf8)
}

/// Parses ` name="value"` pairs; decoded, normalized values are appended to `values`.
fn parse_attributes(region: &[u8], values: &mut String) -> Result<Vec<RawAttr>, K> {
    values.clear();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let ws_start = i;
        while i < region.len() && is_ws(region[i]) {
            i += 1;
        }
        if i == region.len() {
            return Ok(out);
        }
        if i == ws_start {
            return Err(K::Malformed("attributes must be separated by whitespace"));
        }
        let name_start = i;
        while i < region.len() && is_name_byte(region[i]) {
            i += 1;
        }
        let name = name_start..i;
        if !valid_name(&region[name.clone()]) {
            return Err(K::Malformed("invalid attribute name"));
        }
        while i < region.len() && is_ws(region[i]) {
            i += 1;
        }
        if region.get(i) != Some(&b'=') {
            return Err(K::Malformed("attribute without a value"));
        }
        i += 1;
        while i < region.len() && is_ws(region[i]) {
            i += 1;
        }
        let quote = match region.get(i) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return Err(K::Malformed("attribute value must be quoted")),
        };
        let value_start = i + 1;
        let value_len = memchr(quote, &region[value_start..])
            .ok_or(K::Malformed("unterminated attribute value"))?;
        let raw = &region[value_start..value_start + value_len];
        let start = values.len();
        decode_attribute_value(raw, values)?;
        out.push(RawAttr {
            qname: name,
            value: start..values.len(),
        });
        i = value_start + value_len + 1;
    }
}

fn decode_attribute_value(raw: &[u8], out: &mut String) -> Result<(), K> {
    if raw.contains(&b'<') {
        return Err(K::Malformed("'<' in an attribute value"));
    }
    let mut i = 0;
    while i < raw.len() {
        let j = i + memchr(b'&', &raw[i..]).unwrap_or(raw.len() - i);
        let plain = std::str::from_utf8(&raw[i..j]).map_err(|_| K::InvalidUtf8)?;
        // Attribute-value normalization: literal whitespace characters become spaces.
        out.extend(plain.chars().map(|c| {
            if matches!(c, '\t' | '\n' | '\r') {
                ' '
            } else {
                c
            }
        }));
        if j == raw.len() {
            break;
        }
        let (buf, len, consumed) = decode_reference(&raw[j..])?.ok_or(K::MalformedReference)?;
        out.push_str(std::str::from_utf8(&buf[..len]).map_err(|_| K::InvalidUtf8)?);
        i = j + consumed;
    }
    Ok(())
}
