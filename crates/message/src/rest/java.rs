//! The Java library behaviour that the REST header parts depend on: how `BufferedReader`
//! splits lines, how `String.split` drops empty strings, how `java.net.URI` accepts a request
//! line, how JAXB decodes base64. Each function documents the Java call it stands for.

use xroad_fault::XRoadError;
use xroad_identifiers::rest;

use super::internal;

/// Lines as `BufferedReader.lines()` yields them: each ends at CR, LF or CRLF; a last line
/// without terminator counts, a terminator at the very end does not start an empty line.
pub(super) fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, tail) = match memchr::memchr2(b'\r', b'\n', rest.as_bytes()) {
            None => (rest, ""),
            Some(i) => {
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                (&rest[..i], &rest[i + skip..])
            }
        };
        rest = tail;
        Some(line)
    })
}

/// `value.split("/")` (limit 0): trailing empty strings are removed, but an input without any
/// `/` is returned whole, so `""` gives `[""]` while `"/"` gives `[]`.
pub(super) fn split_dropping_trailing_empty(value: &str) -> Vec<&str> {
    if !value.contains('/') {
        return vec![value];
    }
    let mut parts: Vec<&str> = value.split('/').collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts
}

/// `UriUtils.uriSegmentPercentDecode`, with Java's messages as `internal_error`s.
pub(super) fn decode_segment(segment: &str) -> Result<String, XRoadError> {
    rest::decode_segment(segment).map_err(|e| internal(e.to_string()))
}

/// The message of a `URISyntaxException`.
fn uri_error(reason: &str, input: &str, byte_index: usize) -> XRoadError {
    // Java reports the index in UTF-16 code units.
    let index = input
        .get(..byte_index)
        .map_or(0, |s| s.encode_utf16().count());
    internal(format!("{reason} at index {index}: {input}"))
}

/// RFC 2396 `unreserved` as `java.net.URI` has it.
fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c)
}

fn is_path_char(c: char) -> bool {
    is_unreserved(c) || ":@&=+$,;/".contains(c)
}

/// `uric` (`java.net.URI` adds `[` and `]` to `reserved`).
fn is_uric(c: char) -> bool {
    is_unreserved(c) || ";/?:@&=+$,[]".contains(c)
}

/// Non-ASCII characters `java.net.URI` accepts unescaped: above U+0080 and neither
/// `Character.isSpaceChar` (Zs, Zl, Zp) nor `Character.isISOControl`.
fn is_other(c: char) -> bool {
    let space = matches!(
        c,
        '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    );
    u32::from(c) > 0x80 && !space && !c.is_control()
}

/// `URI.Parser.checkChars` over `input[start..end]`: allowed characters, `%XX` escapes, and
/// visible non-ASCII characters.
fn check_chars(
    input: &str,
    start: usize,
    end: usize,
    allowed: fn(char) -> bool,
    what: &str,
) -> Result<(), XRoadError> {
    let part = input.get(start..end).unwrap_or_default();
    let bytes = part.as_bytes();
    for (i, c) in part.char_indices() {
        if c == '%' {
            let hex_at = |j: usize| bytes.get(j).is_some_and(|b| b.is_ascii_hexdigit());
            if !(hex_at(i + 1) && hex_at(i + 2)) {
                return Err(uri_error("Malformed escape pair", input, start + i));
            }
        } else if !allowed(c) && !is_other(c) {
            return Err(uri_error(
                &format!("Illegal character in {what}"),
                input,
                start + i,
            ));
        }
    }
    Ok(())
}

/// Position of the first of `chars` in `input[from..]`, or the end of `input`.
fn scan(input: &str, from: usize, chars: &[char]) -> usize {
    input
        .get(from..)
        .and_then(|s| s.find(chars))
        .map_or(input.len(), |i| from + i)
}

/// The second line of a request header part, read as `RestRequest(byte[])` does:
/// `new URI(line)`, which must have neither scheme nor authority; returns the raw path and
/// the raw query (the fragment is dropped).
///
/// The checks and messages follow `java.net.URI.Parser` for relative references. Absolute
/// URIs and URIs with an authority are reported as `Invalid request URI` even where Java would
/// first have found a syntax error in them.
pub(super) fn parse_request_uri(input: &str) -> Result<(&str, Option<&str>), XRoadError> {
    let n = input.len();
    let first_delimiter = scan(input, 0, &['/', '?', '#', ':']);
    if input[first_delimiter..].starts_with(':') {
        if first_delimiter == 0 {
            return Err(uri_error("Expected scheme name", input, 0));
        }
        let scheme = &input[..first_delimiter];
        let bad = scheme.char_indices().find(|&(i, c)| {
            !(c.is_ascii_alphabetic() || (i > 0 && (c.is_ascii_digit() || "+-.".contains(c))))
        });
        if let Some((i, _)) = bad {
            return Err(uri_error("Illegal character in scheme name", input, i));
        }
        return Err(internal("Invalid request URI"));
    }
    let mut p = 0;
    if input.starts_with("//") {
        let q = scan(input, 2, &['/', '?', '#']);
        if q > 2 {
            return Err(internal("Invalid request URI"));
        }
        if q == n {
            return Err(uri_error("Expected authority", input, 2));
        }
        // `java.net.URI` allows an empty authority before a path, query or fragment.
        p = 2;
    }
    let q = scan(input, p, &['?', '#']);
    check_chars(input, p, q, is_path_char, "path")?;
    let path = &input[p..q];
    p = q;
    let mut query = None;
    if input[p..].starts_with('?') {
        let q = scan(input, p + 1, &['#']);
        check_chars(input, p + 1, q, is_uric, "query")?;
        query = Some(&input[p + 1..q]);
        p = q;
    }
    if input[p..].starts_with('#') {
        check_chars(input, p + 1, n, is_uric, "fragment")?;
    }
    Ok((path, query))
}

/// JAXB `DatatypeConverter.parseBase64Binary`, which X-Road uses for `x-road-request-hash`:
/// characters outside the alphabet are skipped, `=` only suppresses output bytes, an
/// incomplete last quadruple is dropped. Java indexes a 128-entry table, so a non-ASCII
/// character fails (`None`).
pub(super) fn parse_base64_binary(text: &str) -> Option<Vec<u8>> {
    const PADDING: u8 = 127;
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut quad = [0u8; 4];
    let mut q = 0;
    for &b in text.as_bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => PADDING,
            0..=0x7f => continue,
            _ => return None,
        };
        quad[q] = v;
        q += 1;
        if q == 4 {
            out.push(quad[0] << 2 | quad[1] >> 4);
            if quad[2] != PADDING {
                out.push(quad[1] << 4 | quad[2] >> 2);
            }
            if quad[3] != PADDING {
                out.push(quad[2] << 6 | quad[3]);
            }
            q = 0;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines_split_like_buffered_reader() {
        let all = |s| lines(s).collect::<Vec<_>>();
        assert_eq!(all("a\r\nb\rc\nd"), ["a", "b", "c", "d"]);
        assert_eq!(all("a\r\n"), ["a"]);
        assert_eq!(all("a\r\n\r\n"), ["a", ""]);
        assert_eq!(all("a\n\r"), ["a", ""]);
        assert_eq!(all("\n"), [""]);
        assert!(all("").is_empty());
    }

    #[test]
    fn split_like_java() {
        assert_eq!(split_dropping_trailing_empty(""), [""]);
        assert!(split_dropping_trailing_empty("/").is_empty());
        assert!(split_dropping_trailing_empty("//").is_empty());
        assert_eq!(split_dropping_trailing_empty("a/b/"), ["a", "b"]);
        assert_eq!(split_dropping_trailing_empty("/b"), ["", "b"]);
        assert_eq!(split_dropping_trailing_empty("a//b"), ["a", "", "b"]);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(decode_segment("a%FFb").unwrap(), "a\u{fffd}b");
        assert_eq!(decode_segment("%C3%A9").unwrap(), "é");
        assert_eq!(
            decode_segment("a b").unwrap_err().message(),
            "Invalid character in path segment"
        );
    }

    #[test]
    fn request_uri_like_java_net_uri() {
        assert_eq!(
            parse_request_uri("/r1/a?b=c#frag").unwrap(),
            ("/r1/a", Some("b=c"))
        );
        assert_eq!(parse_request_uri("/r1/a?").unwrap(), ("/r1/a", Some("")));
        assert_eq!(parse_request_uri("/r1/a#x?y").unwrap(), ("/r1/a", None));
        assert_eq!(parse_request_uri("").unwrap(), ("", None));
        assert_eq!(parse_request_uri("///r1/a").unwrap(), ("/r1/a", None));
        assert_eq!(parse_request_uri("/r1/é;x=1").unwrap(), ("/r1/é;x=1", None));
        assert_eq!(parse_request_uri("/a?[x]").unwrap(), ("/a", Some("[x]")));
        let msg = |s| parse_request_uri(s).unwrap_err().message().to_owned();
        assert_eq!(
            msg("/r1/a b"),
            "Illegal character in path at index 5: /r1/a b"
        );
        assert_eq!(
            msg("/é/a b"),
            "Illegal character in path at index 4: /é/a b"
        );
        assert_eq!(
            msg("/a?b c"),
            "Illegal character in query at index 4: /a?b c"
        );
        assert_eq!(
            msg("/a#b c"),
            "Illegal character in fragment at index 4: /a#b c"
        );
        assert_eq!(msg("/a[1]"), "Illegal character in path at index 2: /a[1]");
        assert_eq!(msg("/a%4"), "Malformed escape pair at index 2: /a%4");
        assert_eq!(msg("/a%4?x"), "Malformed escape pair at index 2: /a%4?x");
        assert_eq!(
            msg("/a\u{a0}"),
            "Illegal character in path at index 2: /a\u{a0}"
        );
        assert_eq!(msg(":x"), "Expected scheme name at index 0: :x");
        assert_eq!(
            msg("1a:x"),
            "Illegal character in scheme name at index 0: 1a:x"
        );
        assert_eq!(msg("http://h/r1/a"), "Invalid request URI");
        assert_eq!(msg("//h/r1/a"), "Invalid request URI");
        assert_eq!(msg("//"), "Expected authority at index 2: //");
    }

    #[test]
    fn base64_like_jaxb() {
        assert_eq!(parse_base64_binary("TWFu").unwrap(), b"Man");
        assert_eq!(parse_base64_binary("TWE=").unwrap(), b"Ma");
        assert_eq!(parse_base64_binary("TQ==").unwrap(), b"M");
        assert_eq!(parse_base64_binary(" T W\r\nFu!").unwrap(), b"Man");
        assert_eq!(parse_base64_binary("TWF").unwrap(), b"");
        assert_eq!(parse_base64_binary("").unwrap(), b"");
        assert_eq!(parse_base64_binary("TWFué"), None);
    }

    proptest! {
        #[test]
        fn helpers_never_panic(s in "\\PC*") {
            let _ = lines(&s).count();
            let _ = split_dropping_trailing_empty(&s);
            let _ = decode_segment(&s);
            let _ = parse_request_uri(&s);
            let _ = parse_base64_binary(&s);
        }

        #[test]
        fn base64_of_standard_encoding_round_trips(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            use base64::Engine;
            let text = base64::engine::general_purpose::STANDARD.encode(&data);
            prop_assert_eq!(parse_base64_binary(&text).unwrap(), data);
        }
    }
}
