//! The push-fed scanner behind [`crate::Handler`].

use std::ops::Range;

use memchr::{memchr, memchr2, memchr3, memmem};

use crate::{Handler, SyntaxError, SyntaxErrorKind as K, XML_NAMESPACE};

mod whole;

/// Bounds on what one document may make the scanner hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest single tag, declaration or processing instruction, in bytes.
    pub max_markup: usize,
    /// Deepest element nesting.
    pub max_depth: usize,
    /// Most bytes of open element names and in-scope namespace declarations together.
    pub max_open_bytes: usize,
    /// Most namespace declarations in scope at once (lookups walk them).
    pub max_bindings: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_markup: 1 << 20,
            max_depth: 4096,
            max_open_bytes: 1 << 20,
            max_bindings: 1024,
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
    /// Ranges into the scanner's `ns_text` (into the document when it is scanned whole).
    prefix: Range<usize>,
    uri: Range<usize>,
}

/// The namespace bindings in scope, as a view for lookups.
#[derive(Debug, Clone, Copy)]
struct Scope<'a> {
    bindings: &'a [Binding],
    text: &'a str,
}

impl<'a> Scope<'a> {
    /// Where the namespace bound to `prefix` is. Inlined: called for every start tag, with a
    /// result too large for registers.
    #[inline(always)]
    fn lookup(&self, prefix: &str) -> Option<NsOf> {
        let wanted = prefix.as_bytes();
        if wanted.len() == 3 && short_eq_bytes(wanted, b"xml") {
            return Some(NsOf::Xml);
        }
        let text = self.text.as_bytes();
        // Innermost first; the length settles most candidates without looking at bytes.
        for b in self.bindings.iter().rev() {
            if b.prefix.end - b.prefix.start == wanted.len()
                && text
                    .get(b.prefix.clone())
                    .is_some_and(|p| short_eq_bytes(p, wanted))
            {
                return Some(NsOf::Text(b.uri.clone()));
            }
        }
        None
    }

    #[inline(always)]
    fn namespace(&self, ns: &NsOf) -> &'a str {
        match ns {
            NsOf::None => "",
            NsOf::Xml => XML_NAMESPACE,
            NsOf::Xmlns => XMLNS_NAMESPACE,
            NsOf::Unresolved => "",
            NsOf::Text(r) => self.text.get(r.clone()).unwrap_or(""),
        }
    }
}

const XMLNS_NAMESPACE: &str = "http://www.w3.org/2000/xmlns/";

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
    region: &'a str,
    raw: &'a [RawAttr],
    values: &'a str,
    scope: Scope<'a>,
}

impl<'a> StartTag<'a> {
    /// The value of the attribute `local` in namespace `namespace` (`""` for unprefixed).
    pub fn attribute(&self, namespace: &str, local: &str) -> Option<&'a str> {
        let region = self.region.as_bytes();
        self.raw.iter().find_map(|a| {
            // Compare the local name first: it usually settles the question. Namespaces were
            // resolved when the tag was scanned.
            let matches = region
                .get(a.local())
                .is_some_and(|name| short_eq_bytes(name, local.as_bytes()))
                && short_eq_bytes(self.scope.namespace(&a.ns).as_bytes(), namespace.as_bytes());
            matches.then(|| a.value(self.region, self.values))
        })
    }

    /// All attributes in document order, namespace declarations included.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'a>> + '_ {
        self.raw.iter().map(|a| {
            let qname = self.region.get(a.qname.clone()).unwrap_or("");
            let (_, local) = split_at_colon(qname, a.colon);
            Attribute {
                qname,
                namespace: self.scope.namespace(&a.ns),
                local,
                value: a.value(self.region, self.values),
            }
        })
    }
}

/// An element end as reported to [`Handler::end_element`].
#[derive(Debug)]
pub struct EndTag<'a> {
    /// The qualified name as written.
    pub qname: &'a str,
    /// The local part of the name.
    pub local: &'a str,
    /// Nesting depth: 1 for the root element.
    pub depth: usize,
    ns: NsOf,
    scope: Scope<'a>,
}

impl<'a> EndTag<'a> {
    /// The resolved namespace URI (`""` when none applies); computed on request, as end tags
    /// are mostly identified by depth.
    pub fn namespace(&self) -> &'a str {
        self.scope.namespace(&self.ns)
    }
}

/// Where the namespace of an open element (or of an attribute) is, so it needs no second
/// lookup.
#[derive(Debug, Clone)]
enum NsOf {
    None,
    Xml,
    /// The namespace of `xmlns` and `xmlns:…` attributes.
    Xmlns,
    /// A prefixed attribute's namespace before its tag's declarations are in scope.
    Unresolved,
    /// A range of `ns_text`, valid while the element is open.
    Text(Range<usize>),
}

/// An open element.
#[derive(Debug)]
struct Open {
    /// Where its qualified name starts in `names`, and its local name within that.
    name: usize,
    local_at: usize,
    ns: NsOf,
    /// The lengths of `bindings` and `ns_text` before it opened (its declarations follow).
    scope: (usize, usize),
}

/// A streaming XML scanner: feed it bytes with [`Scanner::feed`], then call
/// [`Scanner::finish`].
#[derive(Debug)]
pub struct Scanner {
    limits: Limits,
    state: State,
    /// Bytes of an unfinished construct carried over to the next chunk.
    carry: Vec<u8>,
    /// Length of `carry` when it was last scanned.
    carry_tried: usize,
    /// Offset of the first byte of `carry` (or of the next chunk) in the whole input.
    offset: u64,
    /// Qualified names of the open elements, concatenated.
    names: String,
    open: Vec<Open>,
    /// Namespace bindings in scope, their text in `ns_text`.
    bindings: Vec<Binding>,
    ns_text: String,
    /// The attributes of the current tag (reused).
    raw_attrs: Vec<RawAttr>,
    root_seen: bool,
    at_start: bool,
    /// Whether the bytes being scanned hold a CR (only then do line ends need normalizing).
    has_cr: bool,
    /// Decoded attribute values of the current tag (reused).
    values: String,
    /// The open elements of a document scanned whole ([`Scanner::scan_complete`]).
    opened: Vec<whole::Opened>,
    /// A run of text of a document scanned whole, its line ends normalized (reused).
    normalized: String,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new(Limits::default())
    }
}

/// The growable buffers of a scanner, kept per thread between documents: a scanner is made
/// for every message, and its seven allocations (and their frees) cost more than a small
/// document's tags do. Only modest buffers are kept.
#[derive(Default)]
struct Buffers {
    carry: Vec<u8>,
    names: String,
    open: Vec<Open>,
    bindings: Vec<Binding>,
    ns_text: String,
    raw_attrs: Vec<RawAttr>,
    values: String,
    opened: Vec<whole::Opened>,
    normalized: String,
}

/// The most bytes of buffers kept for the next scanner of a thread.
const KEPT_BUFFER_BYTES: usize = 64 << 10;

thread_local! {
    static SPARE: std::cell::Cell<Option<Buffers>> = const { std::cell::Cell::new(None) };
}

impl Buffers {
    fn fresh() -> Self {
        Buffers {
            carry: Vec::new(),
            names: String::with_capacity(256),
            open: Vec::with_capacity(16),
            bindings: Vec::with_capacity(8),
            ns_text: String::with_capacity(256),
            raw_attrs: Vec::with_capacity(8),
            values: String::with_capacity(64),
            opened: Vec::with_capacity(16),
            normalized: String::new(),
        }
    }

    /// The buffers a previous scanner of this thread left, or new ones.
    fn take() -> Self {
        SPARE
            .try_with(std::cell::Cell::take)
            .ok()
            .flatten()
            .unwrap_or_else(Buffers::fresh)
    }

    /// Empties the buffers and keeps them for the next scanner, unless they grew large.
    fn give_back(mut self) {
        let bytes = self.carry.capacity()
            + self.names.capacity()
            + self.ns_text.capacity()
            + self.values.capacity()
            + self.normalized.capacity()
            + self.open.capacity() * std::mem::size_of::<Open>()
            + self.bindings.capacity() * std::mem::size_of::<Binding>()
            + self.raw_attrs.capacity() * std::mem::size_of::<RawAttr>()
            + self.opened.capacity() * std::mem::size_of::<whole::Opened>();
        if bytes > KEPT_BUFFER_BYTES {
            return;
        }
        self.carry.clear();
        self.names.clear();
        self.open.clear();
        self.bindings.clear();
        self.ns_text.clear();
        self.raw_attrs.clear();
        self.values.clear();
        self.opened.clear();
        self.normalized.clear();
        let _ = SPARE.try_with(|s| s.set(Some(self)));
    }
}

impl Drop for Scanner {
    fn drop(&mut self) {
        Buffers {
            carry: std::mem::take(&mut self.carry),
            names: std::mem::take(&mut self.names),
            open: std::mem::take(&mut self.open),
            bindings: std::mem::take(&mut self.bindings),
            ns_text: std::mem::take(&mut self.ns_text),
            raw_attrs: std::mem::take(&mut self.raw_attrs),
            values: std::mem::take(&mut self.values),
            opened: std::mem::take(&mut self.opened),
            normalized: std::mem::take(&mut self.normalized),
        }
        .give_back();
    }
}

fn err(kind: K, offset: u64) -> SyntaxError {
    SyntaxError { kind, offset }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Bytes that may appear in a name: everything but whitespace and markup punctuation
/// (non-ASCII bytes are parts of characters the UTF-8 check already accepted).
const NAME_BYTES: [bool; 256] = {
    let mut t = [true; 256];
    let excluded = b" \t\r\n<>/=\"'&?!;#(),";
    let mut i = 0;
    while i < excluded.len() {
        t[excluded[i] as usize] = false;
        i += 1;
    }
    t
};

fn is_name_byte(b: u8) -> bool {
    NAME_BYTES[usize::from(b)]
}

fn valid_name(name: &[u8]) -> bool {
    match name.first() {
        None => false,
        Some(&b) if b.is_ascii_digit() || b == b'-' || b == b'.' || b == b':' => false,
        _ => name.iter().all(|&b| is_name_byte(b)) && name.last() != Some(&b':'),
    }
}

/// Scans a name at the start of `b`: returns its length and the position of its first `:`.
///
/// Every byte a name excludes, and the `:`, is below 0x40, so only the bytes of a word below
/// 0x40 (digits, `-`, `.`, `:`, the end of the name) are looked at, eight bytes at a time:
/// each flagged byte in turn, without loading the word again.
#[inline(always)]
fn scan_name(b: &[u8]) -> (usize, Option<usize>) {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut colon = None;
    let mut i = 0;
    while let Some(w) = b.get(i..i + 8) {
        let x = word8(w, 0);
        // High bit of every byte below 0x40. A borrow may also flag a byte above one, never
        // miss one: each flagged byte is looked at itself.
        let mut low = x.wrapping_sub(LO * 0x40) & !x & HI;
        while low != 0 {
            let at = (low.trailing_zeros() / 8) as usize;
            let c = w.get(at).copied().unwrap_or(b'>');
            if !is_name_byte(c) {
                return (i + at, colon);
            }
            if c == b':' && colon.is_none() {
                colon = Some(i + at);
            }
            low &= low - 1;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if !is_name_byte(c) {
            break;
        }
        if c == b':' && colon.is_none() {
            colon = Some(i);
        }
        i += 1;
    }
    (i, colon)
}

/// Whether a scanned name is acceptable: non-empty, a valid first byte, not ending in `:`.
fn name_ok(name: &[u8]) -> bool {
    match (name.first(), name.last()) {
        (Some(&f), Some(&l)) => {
            !(f.is_ascii_digit() || matches!(f, b'-' | b'.' | b':')) && l != b':'
        }
        _ => false,
    }
}

/// The local part of a qualified name whose first `:` is at `colon` (from [`scan_name`]).
fn local_name(qname: &str, colon: Option<usize>) -> &str {
    // One boundary check; the `:` is one byte.
    colon.and_then(|c| qname.get(c + 1..)).unwrap_or(qname)
}

/// Splits a qualified name at `colon` (from [`scan_name`]).
fn split_at_colon(qname: &str, colon: Option<usize>) -> (&str, &str) {
    // One boundary check for the split; the `:` after it is one byte.
    match colon.map(|i| (i, qname.split_at_checked(i))) {
        Some((_, Some((prefix, rest)))) => (prefix, rest.get(1..).unwrap_or("")),
        Some((i, None)) => ("", qname.get(i + 1..).unwrap_or("")),
        None => ("", qname),
    }
}

/// Equality for short byte strings without a `memcmp` call: two overlapping loads a side
/// cover up to 16 bytes (names, prefixes), longer strings go eight bytes at a time.
fn short_eq_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        // The first, middle and last bytes are all of them.
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        _ => {
            let mut i = 0;
            while i + 8 < n {
                if word8(a, i) != word8(b, i) {
                    return false;
                }
                i += 8;
            }
            word8(a, n - 8) == word8(b, n - 8)
        }
    }
}

/// The four bytes at `at` as a number (0 past the end, which callers never reach).
fn word4(s: &[u8], at: usize) -> u32 {
    s.get(at..at + 4)
        .and_then(|w| w.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// The eight bytes at `at` as a little-endian number (0 past the end, which callers never
/// reach).
fn word8(s: &[u8], at: usize) -> u64 {
    s.get(at..at + 8)
        .and_then(|w| w.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

fn is_xml_char(c: u32) -> bool {
    matches!(c, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Decodes the reference starting at `data[0] == b'&'`. Returns the encoded character(s) and
/// the reference length, `Ok(None)` when `data` ends before the reference does.
fn decode_reference(data: &[u8]) -> Result<Option<(char, usize)>, K> {
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
    Ok(Some((ch, semi + 1)))
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
        let b = Buffers::take();
        Scanner {
            limits,
            state: State::Text,
            carry: b.carry,
            carry_tried: 0,
            offset: 0,
            names: b.names,
            open: b.open,
            bindings: b.bindings,
            ns_text: b.ns_text,
            raw_attrs: b.raw_attrs,
            root_seen: false,
            at_start: true,
            has_cr: true,
            values: b.values,
            opened: b.opened,
            normalized: b.normalized,
        }
    }

    /// Whether the root element has been closed (the document is complete apart from
    /// trailing whitespace, comments and processing instructions).
    pub fn is_complete(&self) -> bool {
        self.root_seen && self.open.is_empty()
    }

    /// Scans the next chunk of the document.
    pub fn feed<H: Handler>(&mut self, input: &[u8], h: &mut H) -> Result<(), H::Error> {
        if self.carry.is_empty() {
            let used = self.scan_bytes(input, false, h)?;
            self.carry.extend_from_slice(&input[used..]);
        } else {
            self.carry.extend_from_slice(input);
            // An unfinished construct is retried once the new bytes may end it or the carry
            // has doubled: rescanning it for every small chunk would be quadratic.
            let may_end = memchr3(b'>', b';', b']', input).is_some();
            if !may_end && self.carry.len() < 2 * self.carry_tried {
                if self.carry.len() > self.limits.max_markup {
                    return Err(err(K::MarkupTooLarge(self.limits.max_markup), self.offset).into());
                }
                return Ok(());
            }
            let mut buf = std::mem::take(&mut self.carry);
            let used = self.scan_bytes(&buf, false, h)?;
            buf.drain(..used);
            self.carry = buf;
        }
        self.carry_tried = self.carry.len();
        if self.carry.len() > self.limits.max_markup {
            return Err(err(K::MarkupTooLarge(self.limits.max_markup), self.offset).into());
        }
        Ok(())
    }

    /// Ends the document: fails if anything is left unfinished.
    pub fn finish<H: Handler>(&mut self, h: &mut H) -> Result<(), H::Error> {
        let buf = std::mem::take(&mut self.carry);
        let used = self.scan_bytes(&buf, true, h)?;
        if used < buf.len() || self.state != State::Text || !self.is_complete() {
            return Err(err(K::PrematureEnd, self.offset).into());
        }
        Ok(())
    }

    /// Validates `data` as UTF-8 made of XML characters (a sequence cut off at the end is
    /// left for the next chunk) and scans it; returns how many bytes were consumed.
    fn scan_bytes<H: Handler>(
        &mut self,
        data: &[u8],
        eof: bool,
        h: &mut H,
    ) -> Result<usize, H::Error> {
        // SIMD validation: the same answers as `std::str::from_utf8`, several times faster.
        let text = match simdutf8::compat::from_utf8(data) {
            Ok(text) => text,
            Err(e) if e.error_len().is_none() && !eof => {
                // Valid up to a sequence the next chunk completes; the prefix is valid.
                std::str::from_utf8(&data[..e.valid_up_to()])
                    .map_err(|_| err(K::InvalidUtf8, self.offset))?
            }
            Err(e) => return Err(err(K::InvalidUtf8, self.offset + e.valid_up_to() as u64).into()),
        };
        self.has_cr = check_xml_chars(text, self.offset)?;
        self.process(text, eof, h)
    }

    /// Scans `data` as far as it can; returns how many bytes it consumed. Unconsumed bytes
    /// are an unfinished construct that needs more input (or, at `eof`, an error).
    fn process<H: Handler>(&mut self, data: &str, eof: bool, h: &mut H) -> Result<usize, H::Error> {
        let mut pos = 0;
        while pos < data.len() {
            let Some(rest) = data.get(pos..) else { break };
            let step = match self.state {
                State::Text => self.text_or_markup(rest, eof, h)?,
                State::Comment => self.comment(rest.as_bytes())?,
                State::CData => self.cdata(rest, h)?,
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
        text: &str,
        eof: bool,
        h: &mut H,
    ) -> Result<Option<usize>, H::Error> {
        let d = text.as_bytes();
        let at = match d[0] {
            b'<' => 0,
            b'&' => {
                return match decode_reference(d) {
                    Ok(Some((ch, consumed))) => {
                        self.emit_text(ch.encode_utf8(&mut [0; 4]), h)?;
                        Ok(Some(consumed))
                    }
                    Ok(None) if !eof => Ok(None),
                    Ok(None) => Err(err(K::MalformedReference, self.offset).into()),
                    Err(k) => Err(err(k, self.offset).into()),
                }
            }
            _ => {
                let end = self.text_run(text, eof, h)?;
                if end == 0 || d.get(end) != Some(&b'<') {
                    return Ok((end > 0).then_some(end));
                }
                end
            }
        };
        // The markup, also the one that ends a run of text: straight on, without a round
        // through the dispatch of [`Scanner::process`]. Its errors are reported at its own
        // offset, as when it is scanned on its own.
        let Some(rest) = text.get(at..) else {
            return Ok(Some(at));
        };
        self.offset += at as u64;
        let step = self.markup(rest, eof, h);
        self.offset -= at as u64;
        match step? {
            Some(n) => Ok(Some(at + n)),
            None => Ok((at > 0).then_some(at)),
        }
    }

    /// Hands the run of character data at the start of `text` to the handler; returns its
    /// length (0 when a lone CR at the end of the input must wait for the next chunk).
    fn text_run<H: Handler>(
        &mut self,
        text: &str,
        eof: bool,
        h: &mut H,
    ) -> Result<usize, H::Error> {
        let d = text.as_bytes();
        let mut end = text_end(d);
        // A CR at the end of the input may be the first half of a CRLF.
        if !eof && end == d.len() && d[end - 1] == b'\r' {
            if end == 1 {
                return Ok(0);
            }
            end -= 1;
        }
        // `end` is at an ASCII delimiter or the end, so on a character boundary.
        let piece = text.get(..end).unwrap_or(text);
        if self.has_cr {
            // Into the kept buffer: no allocation per run.
            let mut buf = std::mem::take(&mut self.normalized);
            let emitted = self.emit_text(normalize_into(piece, &mut buf), h);
            self.normalized = buf;
            emitted?;
        } else {
            // The usual case, without a `Cow` to build and drop for every run.
            self.emit_text(piece, h)?;
        }
        Ok(end)
    }

    /// [`normalize_line_ends`], skipped when the scanned bytes hold no CR.
    fn line_ends<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        if self.has_cr {
            normalize_line_ends(text)
        } else {
            std::borrow::Cow::Borrowed(text)
        }
    }

    fn emit_text<H: Handler>(&mut self, text: &str, h: &mut H) -> Result<(), H::Error> {
        self.at_start = false;
        if self.open.is_empty() {
            if text.bytes().all(is_ws) {
                return Ok(());
            }
            return Err(err(K::ContentOutsideRoot, self.offset).into());
        }
        h.text(text)
    }

    /// `text` starts with `<`.
    fn markup<H: Handler>(
        &mut self,
        text: &str,
        eof: bool,
        h: &mut H,
    ) -> Result<Option<usize>, H::Error> {
        let d = text.as_bytes();
        // Markup delimiters are ASCII, so these slices fall on character boundaries.
        let slice = |from: usize, to: usize| {
            text.get(from..to)
                .ok_or_else(|| err(K::Malformed("markup split inside a character"), self.offset))
        };
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
                // The usual end tag is the open element's name and `>`: compared in place,
                // without searching for the `>` first.
                if let Some(open) = self.open.last() {
                    let open_name = self.names.as_bytes().get(open.name..).unwrap_or_default();
                    let end = 2 + open_name.len();
                    if d.get(end) == Some(&b'>') && short_eq_bytes(&d[2..end], open_name) {
                        self.close_element(h)?;
                        return Ok(Some(end + 1));
                    }
                }
                let Some(end) = find_any(d, [b'>']) else {
                    return need_more();
                };
                self.end_tag(slice(2, end)?, h)?;
                Ok(Some(end + 1))
            }
            b'?' => {
                // Search after the `<?`, so that `<?>` is not its own terminator.
                let Some(end) = pi_end(&d[2..]).map(|i| i + 2) else {
                    return need_more();
                };
                if let Some((target, data)) = self.processing_instruction(slice(2, end)?)? {
                    h.processing_instruction(target, &normalize_line_ends(data))?;
                }
                Ok(Some(end + 2))
            }
            b'!' => {
                // Too short to tell which declaration this is.
                let proper_prefix = |marker: &[u8]| d.len() < marker.len() && marker.starts_with(d);
                let undecided = proper_prefix(b"<!--")
                    || proper_prefix(b"<![CDATA[")
                    || proper_prefix(b"<!DOCTYPE");
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
                // The name scan finds the end of the usual tag, a name followed by `>`; only
                // tags with more in them are searched for their end (past quoted values).
                let name = scan_name(&d[1..]);
                let after_name = 1 + name.0;
                let (end, parsed) = match d.get(after_name) {
                    Some(b'>') => (after_name, false),
                    Some(_) => {
                        // Attributes are parsed straight from the bytes after the name, which
                        // finds the tag's end on the way. When that fails (a malformed or
                        // unfinished tag), the end is searched for and the tag scanned as a
                        // whole, so errors come in the usual order.
                        let rest = &d[after_name..];
                        match parse_attributes(rest, true, &mut self.values, &mut self.raw_attrs) {
                            Ok(len) if rest.get(len) == Some(&b'/') => (after_name + len + 1, true),
                            Ok(len) => (after_name + len, true),
                            Err(_) => match tag_end(d) {
                                Some(end) => (end, false),
                                None => return need_more(),
                            },
                        }
                    }
                    None => return need_more(),
                };
                self.start_tag(slice(1, end)?, name, parsed, h)?;
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

    fn cdata<H: Handler>(&mut self, text: &str, h: &mut H) -> Result<Option<usize>, H::Error> {
        let d = text.as_bytes();
        // Cuts fall before `]` or at the end: character boundaries.
        let piece = |n: usize| text.get(..n).unwrap_or("");
        if let Some(i) = memmem::find(d, b"]]>") {
            if i > 0 {
                h.text(&self.line_ends(piece(i)))?;
            }
            self.state = State::Text;
            return Ok(Some(i + 3));
        }
        // Hold back up to two bytes that may begin the terminator.
        // (and a CR that may begin a CRLF).
        let keep = if d.ends_with(b"]]") {
            2
        } else if d.ends_with(b"]") || d.ends_with(b"\r") {
            1
        } else {
            0
        };
        let emit = d.len() - keep;
        if emit == 0 {
            return Ok(None);
        }
        h.text(&self.line_ends(piece(emit)))?;
        Ok(Some(emit))
    }

    /// Checks a processing instruction (`body` is between `<?` and `?>`); returns its target
    /// and data unless it is the XML declaration.
    fn processing_instruction<'b>(
        &mut self,
        body: &'b str,
    ) -> Result<Option<(&'b str, &'b str)>, SyntaxError> {
        let target_end = body.bytes().position(is_ws).unwrap_or(body.len());
        let (target_str, rest) = body.split_at(target_end);
        let target = target_str.as_bytes();
        let declaration = target.eq_ignore_ascii_case(b"xml");
        if declaration {
            if target != b"xml" || !self.at_start || !valid_xml_declaration(rest) {
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
        let data = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        Ok((!declaration).then_some((target_str, data)))
    }

    /// `inner` is between `<` and `>`; `name` is [`scan_name`] of it; `parsed` says whether
    /// `raw_attrs` already holds the attributes after the name.
    fn start_tag<H: Handler>(
        &mut self,
        inner: &str,
        name: (usize, Option<usize>),
        parsed: bool,
        h: &mut H,
    ) -> Result<(), H::Error> {
        let off = self.offset;
        self.at_start = false;
        let (inner, empty) = match inner.strip_suffix('/') {
            Some(rest) => (rest, true),
            None => (inner, false),
        };
        // A name never takes in the `/` of an empty-element tag, so it is the same scanned
        // before or after removing it.
        let (name_end, colon) = name;
        let (qname, region) = inner.split_at_checked(name_end).unwrap_or((inner, ""));
        let followed_ok = region.as_bytes().first().is_none_or(|&b| is_ws(b));
        if !name_ok(qname.as_bytes()) || !followed_ok {
            return Err(err(K::Malformed("invalid element name"), off).into());
        }
        if self.open.is_empty() && self.root_seen {
            return Err(err(K::ContentOutsideRoot, off).into());
        }
        if self.open.len() >= self.limits.max_depth {
            return Err(err(K::TooDeep(self.limits.max_depth), off).into());
        }
        // Namespace declarations of this element come into scope before its names resolve.
        let outer_scope = (self.bindings.len(), self.ns_text.len());
        if parsed {
            self.attributes(region, true, off)?;
        } else if region.bytes().all(is_ws) {
            // The usual element: no attributes, nothing to declare or check.
            self.raw_attrs.clear();
        } else {
            self.attributes(region, false, off)?;
        }
        if self.bindings.len() > self.limits.max_bindings {
            return Err(err(K::TooManyBindings(self.limits.max_bindings), off).into());
        }
        if self.names.len() + qname.len() + self.ns_text.len() > self.limits.max_open_bytes {
            return Err(err(K::OpenElementsTooLarge(self.limits.max_open_bytes), off).into());
        }
        let scope = Scope {
            bindings: &self.bindings,
            text: &self.ns_text,
        };
        let local = local_name(qname, colon);
        // The `:` is one byte, so the prefix ends on a character boundary.
        let prefix = colon.and_then(|c| qname.get(..c)).unwrap_or("");
        let ns = match scope.lookup(prefix) {
            Some(ns) => ns,
            None if prefix.is_empty() => NsOf::None,
            None => return Err(err(K::UnboundPrefix(prefix.into()), off).into()),
        };
        let namespace = scope.namespace(&ns);
        self.root_seen = true;
        let depth = self.open.len() + 1;
        h.start_element(&StartTag {
            qname,
            namespace,
            local,
            depth,
            region,
            raw: &self.raw_attrs,
            values: &self.values,
            scope,
        })?;
        if empty {
            h.end_element(&EndTag {
                qname,
                local,
                depth,
                ns,
                scope,
            })?;
            self.truncate_scope(outer_scope);
        } else {
            self.open.push(Open {
                name: self.names.len(),
                local_at: colon.map_or(0, |c| c + 1),
                ns,
                scope: outer_scope,
            });
            self.names.push_str(qname);
        }
        Ok(())
    }

    /// Parses the attributes of a start tag, brings its namespace declarations into scope and
    /// checks prefixes and uniqueness.
    /// `parsed`: `raw_attrs` already holds the attributes of `region` (see [`Scanner::markup`]).
    fn attributes(&mut self, region: &str, parsed: bool, off: u64) -> Result<(), SyntaxError> {
        if !parsed {
            parse_attributes(
                region.as_bytes(),
                false,
                &mut self.values,
                &mut self.raw_attrs,
            )
            .map_err(|k| err(k, off))?;
        }

        for a in &self.raw_attrs {
            if !matches!(a.ns, NsOf::Xmlns) {
                continue;
            }
            // `xmlns` declares the default namespace, `xmlns:p` the prefix `p`.
            let prefix = match a.colon {
                Some(c) => region.get(a.qname.start + c + 1..a.qname.end).unwrap_or(""),
                None => "",
            };
            let value = a.value(region, &self.values);
            if !prefix.is_empty() && value.is_empty() {
                return Err(err(K::Malformed("empty namespace URI for a prefix"), off));
            }
            let start = self.ns_text.len();
            self.ns_text.push_str(prefix);
            self.ns_text.push_str(value);
            let mid = start + prefix.len();
            self.bindings.push(Binding {
                prefix: start..mid,
                uri: mid..self.ns_text.len(),
            });
        }
        let scope = Scope {
            bindings: &self.bindings,
            text: &self.ns_text,
        };
        let attrs = &mut self.raw_attrs;
        // Unique by qualified name and by expanded name (namespace, local name); pairwise for
        // the usual few attributes, hashed for many so that a huge tag stays linear.
        let qname = |a: &RawAttr| region.get(a.qname.clone()).unwrap_or("");
        let unbound = |a: &RawAttr| {
            let prefix = a.colon.map_or("", |c| {
                region.get(a.qname.start..a.qname.start + c).unwrap_or("")
            });
            err(K::UnboundPrefix(prefix.into()), off)
        };
        let duplicate = |a: &RawAttr| err(K::DuplicateAttribute(qname(a).into()), off);
        if attrs.len() <= 16 {
            let fault = unique_pairwise(attrs, region, &scope).err();
            return match fault.and_then(|f| match f {
                AttrFault::Unbound(i) => attrs.get(i).map(unbound),
                AttrFault::Duplicate(i) => attrs.get(i).map(duplicate),
            }) {
                Some(e) => Err(e),
                None => Ok(()),
            };
        }
        let mut qnames = std::collections::HashSet::with_capacity(attrs.len());
        let mut expanded = std::collections::HashSet::with_capacity(attrs.len());
        for a in attrs.iter_mut() {
            if !resolve_attribute(a, region, &scope) {
                return Err(unbound(a));
            }
            let aq = qname(a);
            let local = region.get(a.local()).unwrap_or("");
            if !qnames.insert(aq) || !expanded.insert((scope.namespace(&a.ns), local)) {
                return Err(duplicate(a));
            }
        }
        Ok(())
    }

    fn end_tag<H: Handler>(&mut self, inner: &str, h: &mut H) -> Result<(), H::Error> {
        let inner = inner.as_bytes();
        let off = self.offset;
        let Some(&Open { name: start, .. }) = self.open.last() else {
            let name_end = inner.iter().position(|&b| is_ws(b)).unwrap_or(inner.len());
            let found = String::from_utf8_lossy(&inner[..name_end]).into_owned();
            return Err(err(K::UnexpectedEndTag(found), off).into());
        };
        // Compare with the open element's name directly; only whitespace may follow it.
        let open_name = &self.names.as_bytes()[start..];
        let matches = inner.len() >= open_name.len()
            && short_eq_bytes(&inner[..open_name.len()], open_name)
            && inner[open_name.len()..].iter().all(|&b| is_ws(b));
        if !matches {
            let name_end = inner.iter().position(|&b| is_ws(b)).unwrap_or(inner.len());
            if !inner[name_end..].iter().all(|&b| is_ws(b)) {
                return Err(err(K::Malformed("end tag with content after its name"), off).into());
            }
            let expected = self.names[start..].to_owned();
            let found = String::from_utf8_lossy(&inner[..name_end]).into_owned();
            return Err(err(K::MismatchedEndTag { expected, found }, off).into());
        }
        self.close_element(h)
    }

    /// Ends the open element (its end tag has been checked).
    fn close_element<H: Handler>(&mut self, h: &mut H) -> Result<(), H::Error> {
        let Some(&Open {
            name: start,
            local_at,
            ref ns,
            scope: outer_scope,
        }) = self.open.last()
        else {
            return Ok(());
        };
        let ns = ns.clone();
        let depth = self.open.len();
        {
            let qname = self.names.get(start..).unwrap_or("");
            let local = qname.get(local_at..).unwrap_or(qname);
            let scope = Scope {
                bindings: &self.bindings,
                text: &self.ns_text,
            };
            h.end_element(&EndTag {
                qname,
                local,
                depth,
                ns,
                scope,
            })?;
        }
        self.open.pop();
        self.names.truncate(start);
        self.truncate_scope(outer_scope);
        Ok(())
    }

    /// Drops the namespace bindings of an element that ended: back to `(bindings, ns_text)`
    /// lengths from before it opened.
    fn truncate_scope(&mut self, (bindings, text): (usize, usize)) {
        self.bindings.truncate(bindings);
        self.ns_text.truncate(text);
    }
}

/// Which attribute of a tag is not acceptable, by index.
enum AttrFault {
    /// Its prefix has no declaration in scope.
    Unbound(usize),
    /// It repeats an earlier attribute's qualified or expanded name.
    Duplicate(usize),
}

/// Looks up the namespace of a prefixed attribute once its tag's own declarations are in scope,
/// and keeps it for the handler's lookups; `false` for a prefix without a declaration.
fn resolve_attribute(a: &mut RawAttr, region: &str, scope: &Scope<'_>) -> bool {
    if let (NsOf::Unresolved, Some(c)) = (&a.ns, a.colon) {
        let prefix = region.get(a.qname.start..a.qname.start + c).unwrap_or("");
        match scope.lookup(prefix) {
            Some(ns) => a.ns = ns,
            None => return false,
        }
    }
    true
}

/// Resolves a tag's attributes (ranges of `region`) in order and checks each against the
/// earlier ones: no two may share a qualified name, or a local name and namespace (compared
/// only when the local names match). The first offending attribute is reported. Pairwise: for
/// the usual few attributes, used by both the streaming scan and the fast path.
fn unique_pairwise(
    attrs: &mut [RawAttr],
    region: &str,
    scope: &Scope<'_>,
) -> Result<(), AttrFault> {
    let bytes = region.as_bytes();
    let qname = |a: &RawAttr| bytes.get(a.qname.clone()).unwrap_or_default();
    let local = |a: &RawAttr| bytes.get(a.local()).unwrap_or_default();
    for i in 0..attrs.len() {
        let (earlier, rest) = attrs.split_at_mut(i);
        let Some(a) = rest.first_mut() else { break };
        if !resolve_attribute(a, region, scope) {
            return Err(AttrFault::Unbound(i));
        }
        let a = &*a;
        let (aq, al) = (qname(a), local(a));
        let same = |b: &RawAttr| {
            short_eq_bytes(qname(b), aq)
                || (short_eq_bytes(local(b), al)
                    && scope.namespace(&b.ns) == scope.namespace(&a.ns))
        };
        if earlier.iter().any(same) {
            return Err(AttrFault::Duplicate(i));
        }
    }
    Ok(())
}

/// Checks that `s` holds only XML characters; returns whether it holds a CR.
fn check_xml_chars(s: &str, base: u64) -> Result<bool, SyntaxError> {
    let c = classify(s.as_bytes());
    // Only control characters other than TAB, LF and CR, and the non-characters
    // U+FFFE/U+FFFF (lead byte 0xEF, so never in all-ASCII text), need a closer look.
    if c.bad_control || (c.non_ascii && memchr(0xEF, s.as_bytes()).is_some()) {
        check_xml_chars_slow(s, base)?;
    }
    Ok(c.cr)
}

/// What one pass over a document's bytes found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Classes {
    /// A control character other than TAB, LF and CR.
    bad_control: bool,
    /// A byte at or above 0x80.
    non_ascii: bool,
    /// A CR.
    cr: bool,
}

/// [`Classes`] of `bytes` in one pass, sixteen bytes at a time into lane-wise accumulators
/// and without early exit, the form the compiler vectorizes; a short tail is padded with
/// spaces into one more block.
fn classify(bytes: &[u8]) -> Classes {
    let mut acc = Lanes {
        min: [0xFF; 16],
        or: [0; 16],
        cr: [0; 16],
    };
    let (blocks, rest) = bytes.as_chunks::<16>();
    for block in blocks {
        acc.add(block);
    }
    if !rest.is_empty() {
        let mut tail = [b' '; 16];
        tail[..rest.len()].copy_from_slice(rest);
        acc.add(&tail);
    }
    Classes {
        bad_control: acc.min.iter().fold(0xFF, |a, &b| a.min(b)) < 0x20,
        non_ascii: acc.or.iter().fold(0, |a, &b| a | b) & 0x80 != 0,
        cr: acc.cr.iter().fold(0, |a, &b| a | b) != 0,
    }
}

/// [`classify`]'s accumulators, one lane per byte position of a block.
struct Lanes {
    /// The least byte, with TAB, LF and CR counted as 0xFF: below 0x20 only for a control
    /// character XML forbids.
    min: [u8; 16],
    /// All bytes ORed: the high bit says non-ASCII.
    or: [u8; 16],
    /// Nonzero where a CR was seen.
    cr: [u8; 16],
}

impl Lanes {
    fn add(&mut self, block: &[u8; 16]) {
        // Masks as `0 - bool` (all ones or zero), which vector compares give directly.
        let mask = |c: bool| 0u8.wrapping_sub(u8::from(c));
        for (k, &b) in block.iter().enumerate() {
            // TAB (9) and CR (13) are the bytes with `b | 4 == 13`.
            let allowed = mask((b | 4) == 13) | mask(b == b'\n');
            self.min[k] = self.min[k].min(b | allowed);
            self.or[k] |= b;
            self.cr[k] |= mask(b == b'\r');
        }
    }
}

fn check_xml_chars_slow(s: &str, base: u64) -> Result<(), SyntaxError> {
    for (i, c) in s.char_indices() {
        if !is_xml_char(u32::from(c)) {
            return Err(err(K::InvalidChar(u32::from(c)), base + i as u64));
        }
    }
    Ok(())
}

/// Finds the `>` that closes a start tag beginning at `d[0] == b'<'`, skipping quoted values.
/// How many bytes the scalar loop looks at before handing a search over to `memchr`, whose
/// set-up costs more than it saves on the short runs between tags.
const SHORT: usize = 32;

/// The first position in `d` of any of `needles`: eight bytes at a time over the first
/// [`SHORT`] bytes, bytewise for a short remainder, `memchr` for a long one.
fn find_any<const N: usize>(d: &[u8], needles: [u8; N]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // High bit of each zero byte; the lowest one is exact, which is all a first match needs.
    let zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let mut i = 0;
    while i < SHORT {
        let Some(w) = d.get(i..i + 8) else { break };
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let mut m = 0;
        for n in needles {
            m |= zero(x ^ (LO * u64::from(n)));
        }
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let rest = d.get(i..).unwrap_or_default();
    let found = match needles.as_slice() {
        _ if i < SHORT => rest.iter().position(|b| needles.contains(b)),
        [a] => memchr(*a, rest),
        [a, b] => memchr2(*a, *b, rest),
        [a, b, c] => memchr3(*a, *b, *c, rest),
        _ => rest.iter().position(|b| needles.contains(b)),
    };
    found.map(|p| i + p)
}

/// The length of an attribute value (up to its closing `quote`) and whether it is plain: free
/// of references, `<` and whitespace characters to normalize (TAB, LF, CR: the only bytes
/// below 0x20 left after the character check). One pass, eight bytes at a time.
fn value_end(d: &[u8], quote: u8) -> Option<(usize, bool)> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // High bit of each matching byte; the lowest one is exact, which is all this needs.
    let zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let mut i = 0;
    while let Some(w) = d.get(i..i + 8) {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let q = zero(x ^ (LO * u64::from(quote)));
        let special = zero(x ^ (LO * u64::from(b'&')))
            | zero(x ^ (LO * u64::from(b'<')))
            | (x.wrapping_sub(LO * 0x20) & !x & HI);
        if q != 0 && (special == 0 || q.trailing_zeros() < special.trailing_zeros()) {
            return Some((i + (q.trailing_zeros() / 8) as usize, true));
        }
        if special != 0 {
            let len = find_any(d.get(i..)?, [quote])?;
            return Some((i + len, false));
        }
        i += 8;
    }
    let rest = d.get(i..)?;
    let len = rest.iter().position(|&b| b == quote)?;
    Some((i + len, !needs_decoding(&rest[..len])))
}

/// Whether an attribute value has a reference, a `<` or a whitespace character to normalize
/// (TAB, LF, CR: the only bytes below 0x20 left after the character check).
fn needs_decoding(raw: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let mut words = raw.chunks_exact(8);
    for w in &mut words {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        // A borrow only spreads from a byte that matched, so "any" is exact.
        let below_space = x.wrapping_sub(LO * 0x20) & !x & HI;
        if (zero(x ^ (LO * u64::from(b'&'))) | zero(x ^ (LO * u64::from(b'<'))) | below_space) != 0
        {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| b == b'&' || b == b'<' || b < 0x20)
}

/// The end of a run of character data: the next `<` or `&`, or the end of `d`.
/// The pseudo-attributes of an XML declaration (after `<?xml`): `version`, then optionally
/// `encoding` and `standalone`, in this order, as production [23] of XML 1.0 allows.
fn valid_xml_declaration(rest: &str) -> bool {
    fn trim(s: &[u8]) -> &[u8] {
        let n = s.iter().take_while(|&&b| is_ws(b)).count();
        &s[n..]
    }
    // ` name = "value"`: the value and how many bytes it took, if `s` starts with that
    // pseudo-attribute.
    fn pseudo<'s>(s: &'s [u8], name: &[u8]) -> Option<(&'s [u8], usize)> {
        let t = trim(s);
        if t.len() == s.len() {
            return None;
        }
        let t = t
            .get(name.len()..)
            .filter(|_| short_eq_bytes(&t[..name.len()], name))?;
        let t = trim(trim(t).strip_prefix(b"=")?);
        let (&quote, t) = t.split_first()?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let end = t.iter().position(|&b| b == quote)?;
        Some((&t[..end], s.len() - (t.len() - end - 1)))
    }
    let rest = rest.as_bytes();
    let Some((version, used)) = pseudo(rest, b"version") else {
        return false;
    };
    let digits = version.strip_prefix(b"1.").unwrap_or_default();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut s = &rest[used..];
    if let Some((enc, used)) = pseudo(s, b"encoding") {
        let ok = enc.first().is_some_and(u8::is_ascii_alphabetic)
            && enc
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !ok {
            return false;
        }
        s = &s[used..];
    }
    if let Some((sa, used)) = pseudo(s, b"standalone") {
        if sa != b"yes" && sa != b"no" {
            return false;
        }
        s = &s[used..];
    }
    s.iter().all(|&b| is_ws(b))
}

/// XML's end-of-line handling: CRLF and a lone CR become LF. Only literal characters go
/// through this; a CR written as `&#13;` stays a CR.
/// `text` with each CRLF and each lone CR made one LF, as XML's end-of-line handling does, in
/// `out` (kept for the next run: no allocation per run).
fn normalize_into<'o>(text: &str, out: &'o mut String) -> &'o str {
    out.clear();
    let mut rest = text;
    while let Some(at) = memchr::memchr(b'\r', rest.as_bytes()) {
        // A CR is one byte: both cuts fall on character boundaries.
        out.push_str(rest.get(..at).unwrap_or_default());
        out.push('\n');
        rest = rest.get(at + 1..).unwrap_or_default();
        rest = rest.strip_prefix('\n').unwrap_or(rest);
    }
    out.push_str(rest);
    out
}

fn normalize_line_ends(text: &str) -> std::borrow::Cow<'_, str> {
    if memchr(b'\r', text.as_bytes()).is_none() {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

fn text_end(d: &[u8]) -> usize {
    find_any(d, [b'<', b'&']).unwrap_or(d.len())
}

/// The position of the `?>` that ends a processing instruction. Declarations are short: a
/// search for `?` costs less than setting up a substring search.
fn pi_end(d: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let j = i + find_any(d.get(i..)?, [b'?'])?;
        if *d.get(j + 1)? == b'>' {
            return Some(j);
        }
        i = j + 1;
    }
}

fn tag_end(d: &[u8]) -> Option<usize> {
    let mut i = 1;
    loop {
        let j = i + find_any(d.get(i..)?, [b'>', b'"', b'\''])?;
        if d[j] == b'>' {
            return Some(j);
        }
        let close = find_any(&d[j + 1..], [d[j]])?;
        i = j + 1 + close + 1;
    }
}

#[derive(Debug)]
struct RawAttr {
    /// Range of the qualified name within the attribute region.
    qname: Range<usize>,
    /// Position of the `:` in the name.
    colon: Option<usize>,
    /// The namespace: known from the name alone for unprefixed names and declarations,
    /// resolved by [`Scanner::attributes`] for the others.
    ns: NsOf,
    /// Range of the value: within the attribute region when it needed no decoding (the usual
    /// case), else within the buffer of decoded values.
    value: Range<usize>,
    decoded: bool,
}

impl RawAttr {
    /// Range of the local name within the attribute region.
    fn local(&self) -> Range<usize> {
        self.colon
            .map_or(self.qname.start, |c| self.qname.start + c + 1)..self.qname.end
    }

    fn value<'v>(&self, region: &'v str, values: &'v str) -> &'v str {
        let src = if self.decoded { values } else { region };
        src.get(self.value.clone()).unwrap_or("")
    }
}

/// Parses ` name="value"` pairs; decoded, normalized values are appended to `values`.
///
/// With `open_ended`, `region` runs on past the tag: the attributes end where a `>` or `/>`
/// stands in place of a name, and their length is returned. Anything else, running out of
/// bytes included, is an error, which the caller settles by finding the tag's end first.
fn parse_attributes(
    region: &[u8],
    open_ended: bool,
    values: &mut String,
    out: &mut Vec<RawAttr>,
) -> Result<usize, K> {
    values.clear();
    out.clear();
    let mut i = 0;
    loop {
        let ws_start = i;
        while i < region.len() && is_ws(region[i]) {
            i += 1;
        }
        if open_ended {
            match region.get(i..i + 2) {
                Some([b'>', _] | b"/>") => return Ok(i),
                // A `>` as the very last byte.
                None if region.get(i) == Some(&b'>') => return Ok(i),
                None if i == region.len() => return Err(K::PrematureEnd),
                _ => {}
            }
        }
        if i == region.len() {
            return Ok(i);
        }
        if i == ws_start {
            return Err(K::Malformed("attributes must be separated by whitespace"));
        }
        let name_start = i;
        let (len, colon) = scan_name(&region[i..]);
        i += len;
        let name = name_start..i;
        let qname = &region[name.clone()];
        if !name_ok(qname) {
            return Err(K::Malformed("invalid attribute name"));
        }
        let ns = match colon {
            None if qname == b"xmlns" => NsOf::Xmlns,
            Some(5) if qname.starts_with(b"xmlns:") => NsOf::Xmlns,
            // Unprefixed attributes do not take the default namespace.
            None => NsOf::None,
            Some(_) => NsOf::Unresolved,
        };
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
        let (value_len, plain) = value_end(&region[value_start..], quote)
            .ok_or(K::Malformed("unterminated attribute value"))?;
        let raw = &region[value_start..value_start + value_len];
        if plain {
            out.push(RawAttr {
                qname: name,
                colon,
                ns,
                value: value_start..value_start + value_len,
                decoded: false,
            });
        } else {
            let start = values.len();
            decode_attribute_value(raw, values)?;
            out.push(RawAttr {
                qname: name,
                colon,
                ns,
                value: start..values.len(),
                decoded: true,
            });
        }
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
        // Attribute-value normalization: literal whitespace characters become spaces, after
        // end-of-line handling made each CRLF one LF.
        let plain = normalize_line_ends(plain);
        for (k, piece) in plain.split(['\t', '\n']).enumerate() {
            if k > 0 {
                out.push(' ');
            }
            out.push_str(piece);
        }
        if j == raw.len() {
            break;
        }
        let (ch, consumed) = decode_reference(&raw[j..])?.ok_or(K::MalformedReference)?;
        out.push(ch);
        i = j + consumed;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The byte-by-byte definitions the word-at-a-time helpers must agree with.
    fn scan_name_bytewise(b: &[u8]) -> (usize, Option<usize>) {
        let len = b.iter().position(|&c| !is_name_byte(c)).unwrap_or(b.len());
        (len, b[..len].iter().position(|&c| c == b':'))
    }

    /// The byte-by-byte definition [`classify`] must agree with.
    fn classify_bytewise(b: &[u8]) -> Classes {
        Classes {
            bad_control: b
                .iter()
                .any(|&c| c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r')),
            non_ascii: b.iter().any(|&c| c >= 0x80),
            cr: b.contains(&b'\r'),
        }
    }

    #[test]
    fn classify_every_byte_at_every_position() {
        // Each byte value alone at every position of the blocks and of a padded tail, in
        // documents of every length around a block.
        for len in 1..=48 {
            for at in 0..len {
                for v in 0..=255u8 {
                    let mut doc = vec![b'a'; len];
                    doc[at] = v;
                    assert_eq!(
                        classify(&doc),
                        classify_bytewise(&doc),
                        "byte {v:#x} at {at} of {len}"
                    );
                }
            }
        }
        assert_eq!(classify(b""), classify_bytewise(b""));
    }

    #[test]
    fn scan_name_edges() {
        let cases: &[&[u8]] = &[
            b"",
            b">",
            b"a",
            b"abcdefg",
            b"abcdefgh",
            b"abcdefghi>",
            b"abcdefgh>",
            b"abcdefg:h>",
            b"abcdefgh:i j",
            b"SOAP-ENV:Envelope xmlns",
            b"id:xRoadInstance>",
            b"a:b:c/>",
            b"x1.2-3_4:y>",
            b"abcdefghijklmnop",
            b"abcdefghijklmnop/",
            "nämi:välja>".as_bytes(),
            "ünïcödé-nàmè:ölçü=".as_bytes(),
            "日本語:名前 ".as_bytes(),
            b"a\tb",
            b"abcdefg\nh",
            b"abcdefgh=\"v\"",
            b"abc(d",
            b"abcdefgh,ijk",
            b"a\x7fb\x80c>",
        ];
        for &c in cases {
            assert_eq!(
                scan_name(c),
                scan_name_bytewise(c),
                "{:?}",
                String::from_utf8_lossy(c)
            );
            // Every start offset, so that each byte falls at every position of a word.
            for i in 0..c.len() {
                assert_eq!(scan_name(&c[i..]), scan_name_bytewise(&c[i..]));
            }
        }
    }

    #[test]
    fn short_eq_bytes_every_length() {
        let a: Vec<u8> = (0u8..40).map(|i| b'a' + i % 26).collect();
        for n in 0..a.len() {
            let x = &a[..n];
            assert!(short_eq_bytes(x, x));
            assert!(!short_eq_bytes(x, &a[..n + 1]));
            // A difference at every position is seen.
            for k in 0..n {
                let mut y = x.to_vec();
                y[k] ^= 0x20;
                assert!(!short_eq_bytes(x, &y), "length {n}, difference at {k}");
            }
        }
    }

    #[test]
    fn pi_end_positions() {
        assert_eq!(pi_end(b"xml version='1.0'?>"), Some(17));
        assert_eq!(pi_end(b"a ? b ?> c"), Some(6));
        assert_eq!(pi_end(b"?>"), Some(0));
        assert_eq!(pi_end(b"a?"), None);
        assert_eq!(pi_end(b"a? >"), None);
        assert_eq!(pi_end(b""), None);
        let long = [b"p ".as_slice(), &[b'?'; 40], b">"].concat();
        assert_eq!(pi_end(&long), Some(41));
    }

    proptest! {
        #[test]
        fn classify_matches_bytewise(
            b in proptest::collection::vec(
                prop_oneof![any::<u8>(), Just(b'\t'), Just(b'\n'), Just(b'\r'), Just(b' '), Just(b'a')],
                0..100,
            ),
            skip in 0usize..16,
        ) {
            // Every alignment of the 16-byte blocks.
            let b = b.get(skip..).unwrap_or_default();
            prop_assert_eq!(classify(b), classify_bytewise(b));
        }

        #[test]
        fn scan_name_matches_bytewise(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(scan_name(&b), scan_name_bytewise(&b));
        }

        #[test]
        fn scan_name_matches_bytewise_on_name_like_bytes(
            b in proptest::collection::vec(
                prop_oneof![Just(b':'), Just(b'-'), Just(b'.'), Just(b'7'), Just(b'a'),
                    Just(b'Z'), Just(b'>'), Just(b' '), Just(0xC3), Just(0xA4)],
                0..40,
            )
        ) {
            prop_assert_eq!(scan_name(&b), scan_name_bytewise(&b));
        }

        #[test]
        fn local_name_and_prefix_match_split_at_colon(name in "[a-zé:.-]{0,12}") {
            let (len, colon) = scan_name(name.as_bytes());
            let qname = &name[..len];
            let (prefix, local) = split_at_colon(qname, colon);
            prop_assert_eq!(local_name(qname, colon), local);
            prop_assert_eq!(colon.and_then(|c| qname.get(..c)).unwrap_or(""), prefix);
        }

        #[test]
        fn short_eq_bytes_is_equality(
            a in proptest::collection::vec(0u8..4, 0..24),
            b in proptest::collection::vec(0u8..4, 0..24),
        ) {
            prop_assert_eq!(short_eq_bytes(&a, &b), a == b);
        }
    }
}
