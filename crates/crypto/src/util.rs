//! Small text helpers shared by the XML writers and readers.

use base64::Engine;

/// Decodes `xsd:base64Binary` as X-Road documents carry it (signatures, hash chains, global
/// configuration): whitespace, including line breaks, is ignored; anything else must be
/// standard padded base64.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let engine = &base64::engine::general_purpose::STANDARD;
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    if !text.as_bytes().iter().any(is_ws) {
        return engine.decode(text).ok();
    }
    // Line by line, into a buffer sized once.
    let mut compact = Vec::with_capacity(text.len());
    for piece in text.as_bytes().split(is_ws) {
        compact.extend_from_slice(piece);
    }
    engine.decode(compact).ok()
}

/// Whether `text` is `xsd:base64Binary` (whitespace allowed), without decoding it.
pub(crate) fn is_base64(text: &str) -> bool {
    // 0: not allowed, 1: alphabet, 2: padding, 3: whitespace.
    const CLASS: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut c = 0;
        while c < 256 {
            let b = c as u8;
            t[c] = if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' {
                1
            } else if b == b'=' {
                2
            } else if b == b' ' || b == b'\t' || b == b'\r' || b == b'\n' {
                3
            } else {
                0
            };
            c += 1;
        }
        t
    };
    let (mut len, mut padding) = (0usize, 0usize);
    for &b in text.as_bytes() {
        match CLASS[usize::from(b)] {
            1 if padding == 0 => len += 1,
            2 => {
                padding += 1;
                len += 1;
            }
            3 => {}
            _ => return false,
        }
    }
    len % 4 == 0 && padding <= 2
}

/// Base64 in one line.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bits where a byte of `x` equals `b` (exact as "any"; borrows only spread upwards from
/// a match).
fn bytes_eq(x: u64, b: u8) -> u64 {
    let v = x ^ (LO * u64::from(b));
    v.wrapping_sub(LO) & !v & HI
}

/// Appends `s`, replacing the bytes `escape` maps; runs of other bytes are copied whole.
/// Eight-byte words for which `may_escape` is false are skipped without a byte-wise look.
fn escape_with(
    s: &str,
    out: &mut Vec<u8>,
    escape: fn(u8) -> Option<&'static [u8]>,
    may_escape: fn(u64) -> bool,
) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(w) = bytes.get(i..i + 8) {
            let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            if !may_escape(x) {
                i += 8;
                continue;
            }
        }
        let end = (i + 8).min(bytes.len());
        for (j, &b) in bytes[i..end].iter().enumerate() {
            if let Some(rep) = escape(b) {
                out.extend_from_slice(&bytes[start..i + j]);
                out.extend_from_slice(rep);
                start = i + j + 1;
            }
        }
        i = end;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends text content escaped as C14N writes it.
pub(crate) fn escape_text_into(s: &str, out: &mut Vec<u8>) {
    escape_with(
        s,
        out,
        |b| match b {
            b'&' => Some(b"&amp;"),
            b'<' => Some(b"&lt;"),
            b'>' => Some(b"&gt;"),
            b'\r' => Some(b"&#xD;"),
            _ => None,
        },
        |x| (bytes_eq(x, b'&') | bytes_eq(x, b'<') | bytes_eq(x, b'>') | bytes_eq(x, b'\r')) != 0,
    );
}

/// Appends an attribute value escaped as C14N writes it.
pub(crate) fn escape_attr_into(s: &str, out: &mut Vec<u8>) {
    escape_with(
        s,
        out,
        |b| match b {
            b'&' => Some(b"&amp;"),
            b'<' => Some(b"&lt;"),
            b'"' => Some(b"&quot;"),
            b'\t' => Some(b"&#x9;"),
            b'\n' => Some(b"&#xA;"),
            b'\r' => Some(b"&#xD;"),
            _ => None,
        },
        |x| {
            // TAB, LF and CR are the bytes below 0x20 an XML value can hold.
            let below_space = x.wrapping_sub(LO * 0x20) & !x & HI;
            (bytes_eq(x, b'&') | bytes_eq(x, b'<') | bytes_eq(x, b'"') | below_space) != 0
        },
    );
}

/// An attribute value escaped as C14N writes it.
pub(crate) fn escape_attr(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    escape_attr_into(s, &mut out);
    // Only ASCII was inserted into valid UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Text content escaped as C14N writes it.
pub(crate) fn escape_text(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    escape_text_into(s, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_strict_but_ignores_whitespace() {
        assert_eq!(
            decode_base64(" Zm9v\r\nYmFy \n").as_deref(),
            Some(&b"foobar"[..])
        );
        assert_eq!(decode_base64("Zm8=x"), None);
        assert_eq!(decode_base64("Zm8"), None);
        assert!(is_base64(" Zm9v\r\nYmE="));
        assert!(!is_base64("Zm9vY"));
        assert!(!is_base64("Zm=9"));
        assert!(!is_base64("Zm9v!"));
    }

    #[test]
    fn escaping_finds_every_special_byte() {
        let text = "plain text of some length & <tag> \r\n\t\"q\" ok";
        for cut in 0..text.len() {
            let s = &text[cut..];
            let slow = |specials: &[(char, &str)]| {
                s.chars()
                    .map(|c| {
                        specials
                            .iter()
                            .find(|(k, _)| *k == c)
                            .map_or(c.to_string(), |(_, r)| (*r).to_owned())
                    })
                    .collect::<String>()
            };
            assert_eq!(
                escape_text(s),
                slow(&[
                    ('&', "&amp;"),
                    ('<', "&lt;"),
                    ('>', "&gt;"),
                    ('\r', "&#xD;")
                ])
            );
            assert_eq!(
                escape_attr(s),
                slow(&[
                    ('&', "&amp;"),
                    ('<', "&lt;"),
                    ('"', "&quot;"),
                    ('\t', "&#x9;"),
                    ('\n', "&#xA;"),
                    ('\r', "&#xD;")
                ])
            );
        }
    }
}
