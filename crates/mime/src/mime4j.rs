//! Ports of the Apache mime4j 0.8.7 parsing routines whose exact results the Java Security Server
//! depends on (`RawFieldParser`, `CharsetUtil`, `FallbackBodyDescriptorBuilder`). Bytes stand for
//! the ISO-8859-1 chars mime4j works on.
use std::borrow::Cow;

/// `CharsetUtil.isWhitespace`: SP, HT, CR, LF.
pub(crate) fn is_wsp(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Java's `String.trim()`: strips every char up to U+0020 from both ends.
pub(crate) fn trim_java(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if *first > b' ' {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if *last > b' ' {
            break;
        }
        s = rest;
    }
    s
}

fn skip_wsp(buf: &[u8], pos: &mut usize) {
    while buf.get(*pos).is_some_and(|&b| is_wsp(b)) {
        *pos += 1;
    }
}

/// `RawFieldParser.skipComment` from the `(` at `pos`: nested, with backslash escapes, to the end
/// if unterminated. Leaves `pos` after the comment.
fn skip_comment(buf: &[u8], pos: &mut usize) {
    let mut level = 1;
    let mut escaped = false;
    for (i, &b) in buf.iter().enumerate().skip(*pos + 1) {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'(' {
            level += 1;
        } else if b == b')' {
            level -= 1;
            if level == 0 {
                *pos = i + 1;
                return;
            }
        }
    }
    *pos = buf.len();
}

/// `RawFieldParser.parseToken`: up to one of `delimiters` (not consumed), whitespace runs between
/// words turned into one space, comments dropped, no quoting.
pub(crate) fn parse_token<'a>(buf: &'a [u8], pos: &mut usize, delimiters: &[u8]) -> Cow<'a, [u8]> {
    // Most tokens have whitespace at their ends at most and no comment: they are a slice.
    let rest = buf.get(*pos..).unwrap_or_default();
    let end = rest
        .iter()
        .position(|b| delimiters.contains(b))
        .unwrap_or(rest.len());
    let span = &rest[..end];
    let start = span.iter().position(|&b| !is_wsp(b)).unwrap_or(end);
    let stop = span
        .iter()
        .rposition(|&b| !is_wsp(b))
        .map_or(start, |i| i + 1);
    let word = &span[start..stop];
    if word.iter().any(|&b| is_wsp(b) || b == b'(') {
        return Cow::Owned(parse_words(buf, pos, delimiters, false));
    }
    *pos += end;
    Cow::Borrowed(word)
}

/// `RawFieldParser.parseValue`: [`parse_token`] with quoted strings (a backslash escapes only `"`
/// and `\`, and is kept before anything else; CR and LF are dropped inside quotes).
fn parse_value(buf: &[u8], pos: &mut usize, delimiters: &[u8]) -> Vec<u8> {
    parse_words(buf, pos, delimiters, true)
}

/// The loop of `parseToken` and `parseValue`; `quotes` says whether `"` opens a quoted string.
fn parse_words(buf: &[u8], pos: &mut usize, delimiters: &[u8], quotes: bool) -> Vec<u8> {
    let mut dst = Vec::new();
    let mut whitespace = false;
    while let Some(&b) = buf.get(*pos) {
        if delimiters.contains(&b) {
            break;
        } else if is_wsp(b) {
            skip_wsp(buf, pos);
            whitespace = true;
        } else if b == b'(' {
            skip_comment(buf, pos);
        } else {
            if !dst.is_empty() && whitespace {
                dst.push(b' ');
            }
            if quotes && b == b'"' {
                copy_quoted(buf, pos, &mut dst);
            } else {
                while let Some(&b) = buf.get(*pos) {
                    let quote = quotes && b == b'"';
                    if delimiters.contains(&b) || is_wsp(b) || b == b'(' || quote {
                        break;
                    }
                    dst.push(b);
                    *pos += 1;
                }
            }
            whitespace = false;
        }
    }
    dst
}

/// `RawFieldParser.copyQuotedContent` from the `"` at `pos`.
fn copy_quoted(buf: &[u8], pos: &mut usize, dst: &mut Vec<u8>) {
    *pos += 1;
    let mut escaped = false;
    while let Some(&b) = buf.get(*pos) {
        *pos += 1;
        if escaped {
            if b != b'"' && b != b'\\' {
                dst.push(b'\\');
            }
            dst.push(b);
            escaped = false;
        } else if b == b'"' {
            return;
        } else if b == b'\\' {
            escaped = true;
        } else if b != b'\r' && b != b'\n' {
            dst.push(b);
        }
    }
}

/// What one `Content-Type` field means to mime4j's body descriptor
/// (`FallbackBodyDescriptorBuilder.parseContentType`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyType {
    /// The field sets no type: `type/subtype` is malformed, or a `multipart/*` type has no
    /// `boundary` parameter (or one without `=`). mime4j then looks at the next `Content-Type`.
    NotSet,
    /// A type that is not `multipart/*`: the part is a leaf.
    Leaf,
    /// `multipart/*` with this boundary (possibly empty).
    Multipart(Vec<u8>),
}

/// Parses the raw value of a `Content-Type` field (the bytes after the colon) as mime4j does:
/// `RawFieldParser.parseRawBody`, then `FallbackBodyDescriptorBuilder.parseContentType`.
pub(crate) fn body_type(value: &[u8]) -> BodyType {
    let mut pos = 0;
    let main = parse_token(value, &mut pos, b";");
    let main = trim_java(&main);
    let Some(slash) = main.iter().position(|&b| b == b'/') else {
        return BodyType::NotSet;
    };
    let (ty, subtype) = (trim_java(&main[..slash]), trim_java(&main[slash + 1..]));
    if ty.is_empty() || subtype.is_empty() {
        return BodyType::NotSet;
    }
    if !ty.eq_ignore_ascii_case(b"multipart") {
        return BodyType::Leaf;
    }
    // The last `boundary` parameter (a `HashMap`); `None` inside when written without `=`.
    let mut boundary: Option<Option<Vec<u8>>> = None;
    if pos < value.len() {
        pos += 1;
        skip_wsp(value, &mut pos);
        while pos < value.len() {
            let name = parse_token(value, &mut pos, b"=;");
            let param = match value.get(pos) {
                Some(b'=') => {
                    pos += 1;
                    let v = parse_value(value, &mut pos, b";");
                    if pos < value.len() {
                        pos += 1;
                    }
                    Some(v)
                }
                Some(_) => {
                    pos += 1;
                    None
                }
                None => None,
            };
            if name.eq_ignore_ascii_case(b"boundary") {
                boundary = Some(param);
            }
        }
    }
    match boundary {
        Some(Some(b)) => BodyType::Multipart(b),
        _ => BodyType::NotSet,
    }
}

pub(crate) fn latin1_string(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn multipart(value: &str) -> Option<String> {
        match body_type(value.as_bytes()) {
            BodyType::Multipart(b) => Some(latin1_string(&b)),
            _ => None,
        }
    }

    #[test]
    fn content_type_as_mime4j_reads_it() {
        assert_eq!(multipart(" multipart/mixed; boundary=c"), Some("c".into()));
        assert_eq!(
            multipart("Multipart/Mixed ; BOUNDARY = \"a b\""),
            Some("a b".into())
        );
        assert_eq!(
            multipart("multipart/mixed; boundary=a; boundary=b"),
            Some("b".into())
        );
        assert_eq!(
            multipart("multipart/mixed; boundary=\"\""),
            Some(String::new())
        );
        assert_eq!(multipart("multipart/mixed; boundary="), Some(String::new()));
        // Comments, whitespace inside values, quoting and escapes.
        assert_eq!(
            multipart("multipart/mixed; boundary=c(\x01"),
            Some("c".into())
        );
        assert_eq!(
            multipart("multipart/(x)mixed; boundary=c d"),
            Some("c d".into())
        );
        assert_eq!(
            multipart("multipart/mixed; boundary=\"a\"junk"),
            Some("ajunk".into())
        );
        assert_eq!(
            multipart("multipart/mixed; boundary=\"a\\\"\\\\\\x\""),
            Some("a\"\\\\x".into())
        );
        for not_set in [
            "multipart/mixed",
            "multipart/mixed; boundary",
            "multipart/mixed; boundary=a; boundary",
            "multipart/mixed; boundary; x=y",
            "multipart",
            "/mixed; boundary=a",
            "multipart/ ; boundary=a",
            "",
        ] {
            assert_eq!(
                body_type(not_set.as_bytes()),
                BodyType::NotSet,
                "{not_set:?}"
            );
        }
        assert_eq!(body_type(b"text/xml; boundary=a"), BodyType::Leaf);
        assert_eq!(body_type(b"multipartx/y; boundary=a"), BodyType::Leaf);
    }

    proptest::proptest! {
        #[test]
        fn token_slice_equals_the_word_loop(
            buf in proptest::collection::vec(proptest::sample::select(
                b" \t\r\n(;=:\"\\ab/".to_vec()), 0..24),
            pos in 0usize..26,
        ) {
            let pos = pos.min(buf.len());
            for delimiters in [&b":"[..], b";", b"=;"] {
                let (mut a, mut b) = (pos, pos);
                let fast = parse_token(&buf, &mut a, delimiters);
                let slow = parse_words(&buf, &mut b, delimiters, false);
                proptest::prop_assert_eq!(&*fast, &slow[..]);
                proptest::prop_assert_eq!(a, b);
            }
        }
    }
}
