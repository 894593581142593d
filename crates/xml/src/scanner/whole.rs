//! The fast path for a document held whole in memory: [`Scanner::scan_complete`].
//!
//! Most X-Road messages are a kilobyte or two and arrive in one piece. Scanned whole, a
//! document needs none of the streaming machinery: no carry between chunks, no state to
//! resume, element names and offsets kept as ranges of the document instead of copies. The
//! fast path takes the plain documents most messages are (an XML declaration, elements,
//! attributes, text and references, CRLF line ends) and *declines* anything else — comments,
//! CDATA, processing instructions, attribute values to decode or normalize, and every error —
//! so that [`Scanner::feed`] scans the document again and reports exactly what it always has.
//! Whatever the fast path accepts, it reports to the handler as the streaming scan does: the
//! same events, in the same pieces.

use std::ops::Range;

use super::{
    check_xml_chars, check_xml_chars_slow, decode_reference, find_any, is_ws, local_name, name_ok,
    normalize_into, pi_end, scan_name, short_eq_bytes, unique_pairwise, value_end, Binding, EndTag,
    NsOf, RawAttr, Scanner, Scope, StartTag, State,
};
use crate::Handler;

/// An open element of a document scanned whole.
#[derive(Debug)]
pub(super) struct Opened {
    /// Its qualified name, as a range of the document.
    name: Range<usize>,
    /// Where its local name starts within the qualified name.
    local_at: usize,
    ns: NsOf,
    /// The length of `bindings` before it opened (its declarations follow).
    scope: usize,
}

/// What the first pass found in a document, which decides how its text is read.
#[derive(Debug, Clone, Copy)]
struct Kind {
    /// It has a `&`: text runs also stop at references.
    references: bool,
    /// It has a CR: line ends in text are normalized.
    cr: bool,
}

/// Why the fast path stopped.
enum Stop<E> {
    /// Something it leaves to the streaming scan.
    Declined,
    /// The handler's error, which the streaming scan would have met at the same event.
    Handler(E),
}

type Step<T, E> = Result<T, Stop<E>>;

fn declined<T, E>() -> Step<T, E> {
    Err(Stop::Declined)
}

impl Scanner {
    /// Scans a whole document held in memory, when it is of the plain kind most messages are;
    /// `None` when it leaves the document to [`Scanner::feed`] and [`Scanner::finish`].
    ///
    /// `Some(Ok(()))`: the document is well-formed and `h` has had all its events, exactly as
    /// feeding it would have given them; the scanner is complete. `Some(Err(e))`: the handler
    /// failed with `e` at the event where a streaming scan fails too. `None`: the document
    /// holds something only the streaming scan handles (a comment, CDATA section, processing
    /// instruction other than the XML declaration, DOCTYPE, an attribute value to decode or
    /// normalize) or is not well-formed, or the scanner has been fed already. The scanner is
    /// then as it was, but `h` may have seen some events: scan again with a new handler.
    pub fn scan_complete<H: Handler>(
        &mut self,
        doc: &[u8],
        h: &mut H,
    ) -> Option<Result<(), H::Error>> {
        // Open names and declarations are distinct bytes of the document, so a document no
        // longer than their limit cannot exceed it.
        if self.offset != 0
            || !self.at_start
            || !self.carry.is_empty()
            || doc.len() > self.limits.max_open_bytes
        {
            return None;
        }
        let text = simdutf8::basic::from_utf8(doc).ok()?;
        // The usual document has no CR; one that has (CRLF line ends) takes the streaming
        // scan's own check, which finds them, and has its text normalized.
        let cr = !plain_characters(text) && check_xml_chars(text, 0).ok()?;
        let kind = Kind {
            references: memchr::memchr(b'&', doc).is_some(),
            cr,
        };
        match self.document(text, kind, h) {
            Ok(()) => {
                self.offset = doc.len() as u64;
                Some(Ok(()))
            }
            Err(Stop::Handler(e)) => Some(Err(e)),
            Err(Stop::Declined) => {
                self.restart();
                None
            }
        }
    }

    /// Back to a scanner that has seen nothing.
    fn restart(&mut self) {
        self.state = State::Text;
        self.offset = 0;
        self.root_seen = false;
        self.at_start = true;
        self.has_cr = true;
        self.open.clear();
        self.names.clear();
        self.bindings.clear();
        self.ns_text.clear();
        self.raw_attrs.clear();
        self.values.clear();
        self.opened.clear();
    }

    fn document<H: Handler>(&mut self, doc: &str, kind: Kind, h: &mut H) -> Step<(), H::Error> {
        let d = doc.as_bytes();
        let mut i = 0;
        if let Some(len) = crate::usual_declaration(d) {
            i = len;
        } else if d.starts_with(b"<?") {
            // Only the XML declaration: other processing instructions go to the handler by
            // the streaming scan.
            let Some(end) = pi_end(&d[2..]).map(|e| e + 2) else {
                return declined();
            };
            match doc
                .get(2..end)
                .map(|body| self.processing_instruction(body))
            {
                Some(Ok(None)) => i = end + 2,
                _ => return declined(),
            }
        }
        self.at_start = false;
        i += skip_ws(&d[i..]);
        // Before the root element, only whitespace.
        if d.get(i) != Some(&b'<') {
            return declined();
        }
        loop {
            // `d[i]` is the `<` of a tag.
            i = match d.get(i + 1) {
                Some(b'/') => self.end_tag_whole(doc, i, h)?,
                Some(b'!' | b'?') | None => return declined(),
                Some(_) => self.start_tag_whole(doc, i, h)?,
            };
            // The root element has ended: no second one is scanned.
            if self.opened.is_empty() {
                break;
            }
            i = self.text_whole(doc, i, kind, h)?;
        }
        // After the root element, only whitespace.
        if d.get(i..)
            .is_none_or(|rest| !rest.iter().all(|&b| is_ws(b)))
        {
            return declined();
        }
        Ok(())
    }

    /// The start tag at `doc[i] == '<'`; returns where the next token starts.
    fn start_tag_whole<H: Handler>(
        &mut self,
        doc: &str,
        i: usize,
        h: &mut H,
    ) -> Step<usize, H::Error> {
        let d = doc.as_bytes();
        let (len, colon) = scan_name(&d[i + 1..]);
        let name = i + 1..i + 1 + len;
        let after = name.end;
        if !name_ok(&d[name.clone()]) {
            return declined();
        }
        let outer = self.bindings.len();
        let (region, empty, next) = match d.get(after) {
            Some(b'>') => {
                self.raw_attrs.clear();
                (after..after, false, after + 1)
            }
            Some(b'/') if d.get(after + 1) == Some(&b'>') => {
                self.raw_attrs.clear();
                (after..after, true, after + 2)
            }
            Some(&b) if is_ws(b) => {
                let Some(len) = self.attributes_whole(doc, after) else {
                    return declined();
                };
                let empty = d.get(after + len) == Some(&b'/');
                (
                    after..after + len,
                    empty,
                    after + len + 1 + usize::from(empty),
                )
            }
            _ => return declined(),
        };
        let (Some(qname), Some(region)) = (doc.get(name.clone()), doc.get(region)) else {
            return declined();
        };
        if self.opened.len() >= self.limits.max_depth
            || self.bindings.len() > self.limits.max_bindings
        {
            return declined();
        }
        let scope = Scope {
            bindings: &self.bindings,
            text: doc,
        };
        let local = local_name(qname, colon);
        let prefix = colon.and_then(|c| qname.get(..c)).unwrap_or("");
        let ns = match scope.lookup(prefix) {
            Some(ns) => ns,
            None if prefix.is_empty() => NsOf::None,
            None => return declined(),
        };
        self.root_seen = true;
        let depth = self.opened.len() + 1;
        h.start_element(&StartTag {
            qname,
            namespace: scope.namespace(&ns),
            local,
            depth,
            region,
            raw: &self.raw_attrs,
            values: &self.values,
            scope,
        })
        .map_err(Stop::Handler)?;
        if empty {
            h.end_element(&EndTag {
                qname,
                local,
                depth,
                ns,
                scope,
            })
            .map_err(Stop::Handler)?;
            self.bindings.truncate(outer);
        } else {
            self.opened.push(Opened {
                name,
                local_at: colon.map_or(0, |c| c + 1),
                ns,
                scope: outer,
            });
        }
        Ok(next)
    }

    /// Parses the attributes of a start tag from `doc[at..]` (whitespace after the name) to
    /// the `>` or `/>` that ends it, whose position (from `at`) it returns. It does what
    /// [`parse_attributes`] and [`Scanner::attributes`] do together, in one pass and without
    /// copies: declarations come into scope as ranges of the document, prefixes are resolved,
    /// names checked to be unique. `None` for anything it leaves to the streaming scan: values
    /// to decode or normalize (references, TAB, LF, `<`), a name repeated, many attributes,
    /// any error.
    fn attributes_whole(&mut self, doc: &str, at: usize) -> Option<usize> {
        let region = doc.as_bytes().get(at..)?;
        self.raw_attrs.clear();
        let mut i = 0;
        loop {
            let ws = skip_ws(region.get(i..)?);
            i += ws;
            match region.get(i)? {
                b'>' => break,
                b'/' if region.get(i + 1) == Some(&b'>') => break,
                _ if ws == 0 => return None,
                _ => {}
            }
            let (len, colon) = scan_name(&region[i..]);
            let qname = i..i + len;
            let name = &region[qname.clone()];
            if !name_ok(name) {
                return None;
            }
            i += len;
            i += skip_ws(&region[i..]);
            if region.get(i) != Some(&b'=') {
                return None;
            }
            i += 1;
            i += skip_ws(&region[i..]);
            let quote = match region.get(i) {
                Some(&q @ (b'"' | b'\'')) => q,
                _ => return None,
            };
            let start = i + 1;
            let (len, true) = value_end(&region[start..], quote)? else {
                return None;
            };
            let value = start..start + len;
            i = value.end + 1;
            let ns = match colon {
                None if name == b"xmlns" => NsOf::Xmlns,
                Some(5) if name.starts_with(b"xmlns:") => NsOf::Xmlns,
                // Unprefixed attributes do not take the default namespace.
                None => NsOf::None,
                Some(_) => NsOf::Unresolved,
            };
            if matches!(ns, NsOf::Xmlns) {
                // `xmlns` declares the default namespace, `xmlns:p` the prefix `p`.
                let prefix = colon.map_or(qname.end, |c| qname.start + c + 1)..qname.end;
                if !prefix.is_empty() && value.is_empty() {
                    return None;
                }
                self.bindings.push(Binding {
                    prefix: at + prefix.start..at + prefix.end,
                    uri: at + value.start..at + value.end,
                });
            }
            self.raw_attrs.push(RawAttr {
                qname,
                colon,
                ns,
                value,
                decoded: false,
            });
        }
        // Pairwise for the usual few; many attributes are left to the streaming scan.
        let scope = Scope {
            bindings: &self.bindings,
            text: doc,
        };
        let region = doc.get(at..)?;
        let unique = self.raw_attrs.len() <= 16
            && unique_pairwise(&mut self.raw_attrs, region, &scope).is_ok();
        unique.then_some(i)
    }

    /// The end tag at `doc[i..]` starting `</`: only the open element's name followed by `>`.
    fn end_tag_whole<H: Handler>(
        &mut self,
        doc: &str,
        i: usize,
        h: &mut H,
    ) -> Step<usize, H::Error> {
        let d = doc.as_bytes();
        let Some(open) = self.opened.last() else {
            return declined();
        };
        let end = i + 2 + open.name.len();
        let (Some(found), Some(qname)) = (d.get(i + 2..end), doc.get(open.name.clone())) else {
            return declined();
        };
        if d.get(end) != Some(&b'>') || !short_eq_bytes(found, qname.as_bytes()) {
            return declined();
        }
        let depth = self.opened.len();
        h.end_element(&EndTag {
            qname,
            local: qname.get(open.local_at..).unwrap_or(qname),
            depth,
            ns: open.ns.clone(),
            scope: Scope {
                bindings: &self.bindings,
                text: doc,
            },
        })
        .map_err(Stop::Handler)?;
        let outer = open.scope;
        self.opened.pop();
        self.bindings.truncate(outer);
        Ok(end + 1)
    }

    /// The character data from `doc[i]` to the next tag, handed to the handler in the pieces the
    /// streaming scan makes (runs with line ends normalized, and each reference decoded on its
    /// own); returns where the tag starts.
    fn text_whole<H: Handler>(
        &mut self,
        doc: &str,
        mut i: usize,
        kind: Kind,
        h: &mut H,
    ) -> Step<usize, H::Error> {
        let d = doc.as_bytes();
        loop {
            let rest = d.get(i..).unwrap_or_default();
            let found = if kind.references {
                find_any(rest, [b'<', b'&'])
            } else {
                next_tag(rest)
            };
            // The document ends inside the root element.
            let Some(n) = found else {
                return declined();
            };
            if n > 0 {
                // `i` and `i + n` are at ASCII delimiters, so on character boundaries.
                let Some(run) = doc.get(i..i + n) else {
                    return declined();
                };
                if kind.cr {
                    let normalized = normalize_into(run, &mut self.normalized);
                    h.text(normalized).map_err(Stop::Handler)?;
                } else {
                    h.text(run).map_err(Stop::Handler)?;
                }
            }
            i += n;
            if d[i] == b'<' {
                return Ok(i);
            }
            let Ok(Some((ch, len))) = decode_reference(&d[i..]) else {
                return declined();
            };
            h.text(ch.encode_utf8(&mut [0; 4])).map_err(Stop::Handler)?;
            i += len;
        }
    }
}

/// The first `<` in `d`: the first word looked at in place (most runs between tags are a
/// line end and indentation), then [`find_any`].
#[inline(always)]
fn next_tag(d: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    if let Some(w) = d.get(..8) {
        let x = super::word8(w, 0) ^ (LO * u64::from(b'<'));
        let m = x.wrapping_sub(LO) & !x & HI;
        if m != 0 {
            return Some((m.trailing_zeros() / 8) as usize);
        }
    }
    find_any(d, [b'<'])
}

fn skip_ws(d: &[u8]) -> usize {
    d.iter().take_while(|&&b| is_ws(b)).count()
}

/// Whether `text` holds only XML characters and no CR (line ends would need normalizing):
/// one pass, sixteen bytes at a time into lane-wise accumulators as [`super::classify`] does,
/// with TAB and LF the only control characters let through.
fn plain_characters(text: &str) -> bool {
    fn add(min: &mut [u8; 16], or: &mut [u8; 16], block: &[u8; 16]) {
        for (k, &b) in block.iter().enumerate() {
            let allowed = 0u8.wrapping_sub(u8::from(b.wrapping_sub(b'\t') < 2));
            min[k] = min[k].min(b | allowed);
            or[k] |= b;
        }
    }
    let (mut min, mut or) = ([0xFF; 16], [0; 16]);
    let (blocks, rest) = text.as_bytes().as_chunks::<16>();
    for block in blocks {
        add(&mut min, &mut or, block);
    }
    if !rest.is_empty() {
        let mut tail = [b' '; 16];
        tail[..rest.len()].copy_from_slice(rest);
        add(&mut min, &mut or, &tail);
    }
    if min.iter().fold(0xFF, |a, &b| a.min(b)) < 0x20 {
        return false;
    }
    // U+FFFE and U+FFFF (lead byte 0xEF) are the only non-characters UTF-8 lets through.
    let non_ascii = or.iter().fold(0, |a, &b| a | b) & 0x80 != 0;
    !non_ascii
        || memchr::memchr(0xEF, text.as_bytes()).is_none()
        || check_xml_chars_slow(text, 0).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_normalized_as_the_streaming_scan_does() {
        let mut out = String::new();
        for text in [
            "",
            "a",
            "\r",
            "\n",
            "\r\n",
            "\r\r\n",
            "\n\r",
            "a\r\nb\rc\n\r\r",
            "é\r€\r\n😀",
        ] {
            assert_eq!(
                normalize_into(text, &mut out),
                super::super::normalize_line_ends(text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn plain_characters_at_every_position() {
        for len in 1..40 {
            for pos in 0..len {
                for b in 0u8..0x80 {
                    let mut doc = vec![b'a'; len];
                    doc[pos] = b;
                    let text = std::str::from_utf8(&doc).unwrap();
                    let expected = b >= 0x20 || b == b'\t' || b == b'\n';
                    assert_eq!(plain_characters(text), expected, "{b:#x} at {pos} of {len}");
                }
                for (ch, expected) in [
                    ("é", true),
                    ("\u{EFFF}", true),
                    ("\u{FFFE}", false),
                    ("\u{FFFF}", false),
                ] {
                    let mut doc = "a".repeat(len);
                    doc.insert_str(pos, ch);
                    assert_eq!(plain_characters(&doc), expected, "{ch:?} at {pos} of {len}");
                }
            }
        }
    }
}
