//! Small text helpers shared by the XML writers and readers.

use base64::Engine;

/// Decodes `xsd:base64Binary`: whitespace (including the `&#13;` line breaks Java's XML
/// signature library writes) is ignored.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let engine = &base64::engine::general_purpose::STANDARD;
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    if !text.as_bytes().iter().any(is_ws) {
        return engine.decode(text).ok();
    }
    let compact: Vec<u8> = text.bytes().filter(|b| !is_ws(b)).collect();
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

/// Escapes an attribute value as C14N writes it.
pub(crate) fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes text content as C14N writes it.
pub(crate) fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
    out
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
}
