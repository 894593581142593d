//! Character encoding of an XML document, found the way an XML parser finds it.
//!
//! The declared charset of the HTTP content type does not decide how the XML is read: the
//! byte order mark or the XML declaration does (as with Xerces in the Java servers). UTF-8
//! documents go to the scanner untouched (a BOM is skipped for parsing only; it stays in the
//! signed bytes). Any other encoding is transcoded to UTF-8 on the way to the scanner.

use std::borrow::Cow;

use encoding_rs::{DecoderResult, Encoding, UTF_16BE, UTF_16LE, UTF_8};

/// The longest prefix looked at to find the XML declaration's encoding.
const SNIFF_LIMIT: usize = 512;

/// Why the document's encoding could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EncodingError {
    /// The declaration names an encoding this server does not know.
    Unsupported(String),
    /// A byte sequence that is invalid in the document's encoding.
    Malformed(&'static str),
}

enum Mode {
    /// Still collecting the first bytes.
    Sniffing(Vec<u8>),
    /// UTF-8: pass bytes through.
    Utf8,
    /// US-ASCII, strictly: a byte above 0x7F is an error (browsers would read windows-1252).
    Ascii,
    /// ISO-8859-1 as Java reads it: every byte is the code point of the same value (browsers
    /// would read windows-1252, where 0x80..0x9F differ).
    Latin1,
    /// Another encoding: transcode.
    Transcode(Box<encoding_rs::Decoder>),
}

/// Java's aliases of US-ASCII and ISO-8859-1, which WHATWG folds into windows-1252.
pub(crate) const ASCII_LABELS: [&str; 5] = ["us-ascii", "ascii", "iso646-us", "ascii7", "646"];
pub(crate) const LATIN1_LABELS: [&str; 10] = [
    "iso-8859-1",
    "iso8859-1",
    "iso_8859-1",
    "iso8859_1",
    "latin1",
    "l1",
    "cp819",
    "ibm819",
    "ibm-819",
    "csisolatin1",
];

/// Turns the raw document bytes into UTF-8 for the scanner.
pub(crate) struct Decoder {
    mode: Mode,
    out: Vec<u8>,
}

impl Decoder {
    pub(crate) fn new() -> Self {
        Decoder {
            mode: Mode::Sniffing(Vec::new()),
            out: Vec::new(),
        }
    }

    /// The encoding in use, once known.
    pub(crate) fn encoding(&self) -> Option<&'static str> {
        match &self.mode {
            Mode::Sniffing(_) => None,
            Mode::Utf8 => Some(UTF_8.name()),
            Mode::Ascii => Some("US-ASCII"),
            Mode::Latin1 => Some("ISO-8859-1"),
            Mode::Transcode(d) => Some(d.encoding().name()),
        }
    }

    /// Feeds raw bytes; calls `sink` with UTF-8 for the scanner (possibly several times).
    pub(crate) fn feed<E>(
        &mut self,
        input: &[u8],
        last: bool,
        sink: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<EncodingError>,
    {
        if let Mode::Sniffing(buf) = &mut self.mode {
            // The usual case: the first chunk decides, and is used without a copy.
            let data = if buf.is_empty() {
                Cow::Borrowed(input)
            } else {
                buf.extend_from_slice(input);
                Cow::Owned(std::mem::take(buf))
            };
            if !last && !sniff_complete(&data) {
                self.mode = Mode::Sniffing(data.into_owned());
                return Ok(());
            }
            let (mode, skip) = choose(&data)?;
            self.mode = mode;
            return self.pass(&data[skip..], last, sink);
        }
        self.pass(input, last, sink)
    }

    fn pass<E>(
        &mut self,
        input: &[u8],
        last: bool,
        sink: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<EncodingError>,
    {
        match &mut self.mode {
            Mode::Sniffing(_) => Ok(()),
            Mode::Utf8 => {
                if input.is_empty() {
                    Ok(())
                } else {
                    sink(input)
                }
            }
            Mode::Ascii => match input.iter().position(|b| !b.is_ascii()) {
                None if input.is_empty() => Ok(()),
                None => sink(input),
                Some(_) => Err(EncodingError::Malformed("US-ASCII").into()),
            },
            Mode::Latin1 => {
                self.out.clear();
                for &b in input {
                    if b.is_ascii() {
                        self.out.push(b);
                    } else {
                        self.out
                            .extend_from_slice(&[0xC0 | b >> 6, 0x80 | (b & 0x3F)]);
                    }
                }
                if self.out.is_empty() {
                    Ok(())
                } else {
                    sink(&self.out)
                }
            }
            Mode::Transcode(dec) => {
                let mut input = input;
                loop {
                    self.out.clear();
                    self.out.reserve(8192);
                    let cap = self.out.capacity();
                    self.out.resize(cap, 0);
                    let (result, read, written) =
                        dec.decode_to_utf8_without_replacement(input, &mut self.out, last);
                    if written > 0 {
                        sink(&self.out[..written])?;
                    }
                    input = &input[read..];
                    match result {
                        DecoderResult::InputEmpty => return Ok(()),
                        DecoderResult::OutputFull => continue,
                        DecoderResult::Malformed(_, _) => {
                            return Err(EncodingError::Malformed(dec.encoding().name()).into())
                        }
                    }
                }
            }
        }
    }
}

/// The document as the scanner reads it (without a BOM), when the decoder would pass it
/// through untouched as UTF-8; `None` for any other encoding, or one it cannot use.
pub(crate) fn utf8_document(doc: &[u8]) -> Option<&[u8]> {
    if xroad_xml::usual_declaration(doc).is_some() {
        return Some(doc);
    }
    match choose(doc) {
        Ok((Mode::Utf8, skip)) => doc.get(skip..),
        _ => None,
    }
}

fn sniff_complete(buf: &[u8]) -> bool {
    if buf.len() >= SNIFF_LIMIT || buf.starts_with(b"\xEF\xBB\xBF") {
        return true;
    }
    if buf.len() < 4 {
        return false;
    }
    let utf16 = [&b"\xFE\xFF"[..], b"\xFF\xFE", b"\x00<\x00?", b"<\x00?\x00"];
    if utf16.iter().any(|p| buf.starts_with(p)) {
        return true;
    }
    // Not the start of a declaration: nothing more to learn. Otherwise wait for its end.
    !b"<?xml".starts_with(&buf[..buf.len().min(5)]) || find_decl_end(buf).is_some()
}

/// Decides the encoding from the first bytes; returns the mode and how many bytes (a BOM) to
/// skip for parsing.
fn choose(buf: &[u8]) -> Result<(Mode, usize), EncodingError> {
    if buf.starts_with(b"\xEF\xBB\xBF") {
        return Ok((Mode::Utf8, 3));
    }
    if buf.starts_with(b"\xFE\xFF") || buf.starts_with(b"\x00<\x00?") {
        return Ok((
            Mode::Transcode(Box::new(UTF_16BE.new_decoder_with_bom_removal())),
            0,
        ));
    }
    if buf.starts_with(b"\xFF\xFE") || buf.starts_with(b"<\x00?\x00") {
        return Ok((
            Mode::Transcode(Box::new(UTF_16LE.new_decoder_with_bom_removal())),
            0,
        ));
    }
    match declared_encoding(buf) {
        None => Ok((Mode::Utf8, 0)),
        Some(label) if label.eq_ignore_ascii_case("UTF-8") => Ok((Mode::Utf8, 0)),
        Some(label) if ASCII_LABELS.iter().any(|l| label.eq_ignore_ascii_case(l)) => {
            Ok((Mode::Ascii, 0))
        }
        Some(label) if LATIN1_LABELS.iter().any(|l| label.eq_ignore_ascii_case(l)) => {
            Ok((Mode::Latin1, 0))
        }
        Some(label) => {
            let enc = Encoding::for_label(label.as_bytes())
                .ok_or_else(|| EncodingError::Unsupported(label.to_owned()))?;
            if enc == UTF_8 {
                Ok((Mode::Utf8, 0))
            } else if enc == UTF_16LE
                || enc == UTF_16BE
                || enc.output_encoding() != enc
                || enc == encoding_rs::X_USER_DEFINED
            {
                // A UTF-16 label on a document that is not UTF-16 encoded (it has an ASCII
                // declaration), or a label encoding_rs only decodes as "replacement".
                Err(EncodingError::Unsupported(label.to_owned()))
            } else {
                Ok((
                    Mode::Transcode(Box::new(enc.new_decoder_without_bom_handling())),
                    0,
                ))
            }
        }
    }
}

/// Position of the `?>` closing the XML declaration (a short search: no searcher set-up).
fn find_decl_end(buf: &[u8]) -> Option<usize> {
    let window = &buf[..buf.len().min(SNIFF_LIMIT)];
    memchr::memchr_iter(b'?', window).find(|&i| window.get(i + 1) == Some(&b'>'))
}

/// The `encoding` pseudo-attribute of a leading `<?xml … ?>` declaration.
fn declared_encoding(buf: &[u8]) -> Option<&str> {
    let rest = buf.strip_prefix(b"<?xml")?;
    if !rest.first().is_some_and(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let end = find_decl_end(rest)?;
    let decl = std::str::from_utf8(&rest[..end]).ok()?;
    // The declaration is short: trying each `e` costs less than setting up a substring search.
    let at = memchr::memchr_iter(b'e', decl.as_bytes())
        .find(|&i| decl.as_bytes()[i..].starts_with(b"encoding"))?;
    let after = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &after[1..];
    let close = value.find(quote)?;
    Some(&value[..close])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(doc: &[u8], chunk: usize) -> Result<Vec<u8>, EncodingError> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        let chunks: Vec<&[u8]> = doc.chunks(chunk.max(1)).collect();
        for c in &chunks {
            d.feed(c, false, &mut |b: &[u8]| {
                out.extend_from_slice(b);
                Ok::<(), EncodingError>(())
            })?;
        }
        d.feed(&[], true, &mut |b: &[u8]| {
            out.extend_from_slice(b);
            Ok::<(), EncodingError>(())
        })?;
        Ok(out)
    }

    #[test]
    fn usual_declarations_are_utf8() {
        for decl in xroad_xml::USUAL_DECLARATIONS {
            assert!(matches!(choose(decl), Ok((Mode::Utf8, 0))));
            assert_eq!(utf8_document(decl), Some(decl));
        }
    }

    #[test]
    fn utf8_passes_through_and_bom_is_skipped() {
        let doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>é</a>";
        assert_eq!(decode(doc.as_bytes(), 3).unwrap(), doc.as_bytes());
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(b"<a/>");
        assert_eq!(decode(&bom, 1).unwrap(), b"<a/>");
        assert_eq!(decode(b"<a/>", 1).unwrap(), b"<a/>");
        assert_eq!(decode(b"", 1).unwrap(), b"");
    }

    #[test]
    fn declared_encoding_is_found_past_other_words() {
        let label = |d: &str| declared_encoding(d.as_bytes()).map(str::to_owned);
        assert_eq!(
            label("<?xml version='1.0' encoding='ISO-8859-1'?>").as_deref(),
            Some("ISO-8859-1")
        );
        assert_eq!(
            label("<?xml version=\"1.0\" encoding = \"utf-8\" ?><a/>").as_deref(),
            Some("utf-8")
        );
        assert_eq!(
            label("<?xml version='1.0' standalone='yes' encodinG='x'?>"),
            None
        );
        assert_eq!(label("<?xml version='1.0' encoding?>"), None);
        assert_eq!(label("<?xml version='1.0'?><a encoding='x'/>"), None);
        assert_eq!(
            label("<?xml version='1.0' eeencoding='x'?>").as_deref(),
            Some("x")
        );
    }

    #[test]
    fn declared_single_byte_encodings_are_transcoded() {
        let doc = b"<?xml version='1.0' encoding='ISO-8859-1'?><a>\xE9</a>";
        let out = decode(doc, 5).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<?xml version='1.0' encoding='ISO-8859-1'?><a>é</a>"
        );
    }

    #[test]
    fn utf16_with_and_without_bom() {
        let text = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><a>€</a>";
        let mut le: Vec<u8> = vec![0xFF, 0xFE];
        le.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
        assert_eq!(String::from_utf8(decode(&le, 7).unwrap()).unwrap(), text);
        let be: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        assert_eq!(String::from_utf8(decode(&be, 1).unwrap()).unwrap(), text);
    }

    #[test]
    fn unknown_or_lying_encodings_are_refused() {
        assert_eq!(
            decode(b"<?xml version='1.0' encoding='klingon'?><a/>", 64),
            Err(EncodingError::Unsupported("klingon".into()))
        );
        assert_eq!(
            decode(b"<?xml version='1.0' encoding='UTF-16'?><a/>", 64),
            Err(EncodingError::Unsupported("UTF-16".into()))
        );
        let bad = b"<?xml version='1.0' encoding='Shift_JIS'?><a>\x81</a>";
        assert!(matches!(decode(bad, 64), Err(EncodingError::Malformed(_))));
    }
}
