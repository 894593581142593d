//! Parsing of HTTP/MIME `Content-Type` values (RFC 2045 §5.1, RFC 9110 §8.3).

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use crate::MimeError;

/// A parsed `Content-Type` value.
///
/// The media type is compared case-insensitively ([`essence`](Self::essence) is lower-cased),
/// parameter names are matched case-insensitively and parameter values are unquoted. The original
/// string is kept verbatim ([`as_str`](Self::as_str), `Display`), because X-Road forwards content
/// types byte for byte (e.g. the SOAP part type and `x-original-content-type`).
///
/// The parser is lenient where Java's parsers are: optional whitespace everywhere, empty
/// parameters (`;;`, a trailing `;`) and parameters without `=` (value `""`) are accepted.
///
/// A repeated parameter is looked up as mime4j 0.8.7 (`FallbackBodyDescriptorBuilder`, a
/// `HashMap`) does: the **last** one wins.
#[derive(Clone, PartialEq, Eq)]
pub struct ContentType {
    /// The raw value, then the lower-cased essence, then any unescaped quoted values: one
    /// allocation where a `String` per piece made about ten per transport message.
    buf: String,
    raw_end: usize,
    essence_end: usize,
    slash: usize,
    params: Vec<Param>,
}

/// A parameter as ranges of `buf`: the name (as written) and the unquoted value.
#[derive(Clone, PartialEq, Eq)]
struct Param {
    name: Range<usize>,
    value: Range<usize>,
    /// Whether the value was given with `=` (mime4j: `null` without it).
    has_value: bool,
}

impl ContentType {
    /// Parses a `Content-Type` header value.
    pub fn parse(value: &str) -> Result<Self, MimeError> {
        let (base, rest_at) = match value.find(';') {
            Some(i) => (&value[..i], i + 1),
            None => (value, value.len()),
        };
        let base = trim_ows(base);
        if base.is_empty() {
            return Err(MimeError::MalformedContentType("empty media type"));
        }
        let (ty, subtype) = base
            .split_once('/')
            .ok_or(MimeError::MalformedContentType("media type has no '/'"))?;
        let (ty, subtype) = (trim_ows(ty), trim_ows(subtype));
        // X-Road's own `signature/bdoc-1.0/ts` has a '/' in its subtype; Java accepts it.
        let subtype_ok = !subtype.is_empty() && subtype.split('/').all(is_token);
        if !is_token(ty) || !subtype_ok {
            return Err(MimeError::MalformedContentType(
                "media type or subtype is not a valid token",
            ));
        }
        let mut buf = String::with_capacity(value.len() + ty.len() + subtype.len() + 1);
        buf.push_str(value);
        let raw_end = buf.len();
        for piece in [ty, "/", subtype] {
            buf.extend(piece.chars().map(|c| c.to_ascii_lowercase()));
        }
        let essence_end = buf.len();
        let params = parse_params(&mut buf, raw_end, rest_at)?;
        Ok(Self {
            buf,
            raw_end,
            essence_end,
            slash: ty.len(),
            params,
        })
    }

    /// The original, unmodified header value.
    pub fn as_str(&self) -> &str {
        &self.buf[..self.raw_end]
    }

    /// The lower-cased `type/subtype`, without parameters (e.g. `multipart/mixed`).
    pub fn essence(&self) -> &str {
        &self.buf[self.raw_end..self.essence_end]
    }

    /// The lower-cased top-level type (e.g. `multipart`).
    pub fn main_type(&self) -> &str {
        &self.essence()[..self.slash]
    }

    /// The lower-cased subtype (e.g. `mixed`).
    pub fn subtype(&self) -> &str {
        &self.essence()[self.slash + 1..]
    }

    /// Whether the top-level type is `multipart`.
    pub fn is_multipart(&self) -> bool {
        self.main_type() == "multipart"
    }

    /// The parameters in their original order (duplicates included), names as written, values
    /// unquoted (`""` for a parameter without `=`).
    pub fn params(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.params
            .iter()
            .map(|p| (&self.buf[p.name.clone()], &self.buf[p.value.clone()]))
    }

    /// The value of the **last** parameter called `name` (case-insensitive), unquoted; `""` for
    /// a parameter without `=`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.last_param(name).map(|p| &self.buf[p.value.clone()])
    }

    fn last_param(&self, name: &str) -> Option<&Param> {
        self.params
            .iter()
            .rev()
            .find(|p| self.buf[p.name.clone()].eq_ignore_ascii_case(name))
    }

    /// The `charset` parameter, if present.
    pub fn charset(&self) -> Option<&str> {
        self.param("charset")
    }

    /// The `boundary` parameter (the last one if repeated), as mime4j 0.8.7 takes it: `None`
    /// when absent or written without `=` (`; boundary`), `Some("")` for `boundary=""` or
    /// `boundary=`.
    pub fn boundary(&self) -> Option<&str> {
        self.last_param("boundary")
            .filter(|p| p.has_value)
            .map(|p| &self.buf[p.value.clone()])
    }

    /// The boundary of a multipart type, or [`MimeError::MissingBoundary`] when there is none
    /// ([`boundary`](Self::boundary) is `None`; Java: `invalid_content_type` "Multipart content
    /// type is missing required boundary").
    ///
    /// An **empty** boundary (`boundary=""`) is returned as `Ok("")`, not refused: mime4j, which
    /// both Java receivers use, keeps it, and then every line that starts with `--` followed by
    /// whitespace, `-` or the end of the body is a delimiter. [`MultipartReader`] reads such a
    /// body the same way. A caller that wants to refuse it checks `is_empty()`.
    ///
    /// [`MultipartReader`]: crate::MultipartReader
    pub fn multipart_boundary(&self) -> Result<&str, MimeError> {
        self.boundary().ok_or(MimeError::MissingBoundary)
    }
}

impl fmt::Debug for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentType")
            .field("raw", &self.as_str())
            .field("essence", &self.essence())
            .field("params", &self.params().collect::<Vec<_>>())
            .finish()
    }
}

impl FromStr for ContentType {
    type Err = MimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses the parameters of the raw value at the start of `buf` from `at` on. Names and
/// unescaped values are ranges of the raw value; a quoted value with a backslash is unescaped
/// onto the end of `buf`.
fn parse_params(buf: &mut String, raw_end: usize, mut at: usize) -> Result<Vec<Param>, MimeError> {
    let mut params = Vec::new();
    loop {
        at = skip(&buf[..raw_end], at, |c| c == ';' || is_ows(c));
        let rest = &buf[at..raw_end];
        if rest.is_empty() {
            return Ok(params);
        }
        let name_end = at + rest.find(['=', ';']).unwrap_or(rest.len());
        let name = trim_range(buf, at..name_end);
        if !is_token(&buf[name.clone()]) {
            return Err(MimeError::MalformedContentType(
                "parameter name is not a valid token",
            ));
        }
        at = name_end;
        let has_value = buf[at..raw_end].starts_with('=');
        let value = if !has_value {
            at..at
        } else {
            let start = skip(&buf[..raw_end], at + 1, is_ows);
            if buf[start..raw_end].starts_with('"') {
                let (value, after) = unquote(buf, start + 1, raw_end)?;
                at = skip(&buf[..raw_end], after, is_ows);
                if at < raw_end && !buf[at..raw_end].starts_with(';') {
                    return Err(MimeError::MalformedContentType(
                        "unexpected characters after quoted parameter value",
                    ));
                }
                value
            } else {
                at = start + buf[start..raw_end].find(';').unwrap_or(raw_end - start);
                trim_range(buf, start..at)
            }
        };
        params.push(Param {
            name,
            value,
            has_value,
        });
    }
}

/// The first position at or after `at` whose character is not `skip` (or the end of `raw`).
fn skip(raw: &str, at: usize, skip: impl Fn(char) -> bool) -> usize {
    let rest = &raw[at..];
    at + rest.find(|c| !skip(c)).unwrap_or(rest.len())
}

/// `range` of `buf` without optional whitespace at either end.
fn trim_range(buf: &str, range: Range<usize>) -> Range<usize> {
    let s = &buf[range.clone()];
    let start = range.start + (s.len() - s.trim_start_matches(is_ows).len());
    let end = range.end - (s.len() - s.trim_end_matches(is_ows).len());
    start..end.max(start)
}

/// Reads a quoted-string body (after the opening quote); returns the value and the rest after the
/// closing quote.
fn unquote(
    buf: &mut String,
    start: usize,
    raw_end: usize,
) -> Result<(Range<usize>, usize), MimeError> {
    let unterminated = || MimeError::MalformedContentType("unterminated quoted parameter value");
    let quoted = &buf[start..raw_end];
    let end = quoted.find(['"', '\\']).ok_or_else(unterminated)?;
    if quoted.as_bytes()[end] == b'"' {
        return Ok((start..start + end, start + end + 1));
    }
    // A quoted-pair: unescape the value onto the end of `buf`.
    let mut value = String::with_capacity(quoted.len());
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let at = buf.len();
                buf.push_str(&value);
                return Ok((at..buf.len(), start + i + 1));
            }
            '\\' => match chars.next() {
                Some((_, escaped)) => value.push(escaped),
                None => break,
            },
            c => value.push(c),
        }
    }
    Err(unterminated())
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn trim_ows(s: &str) -> &str {
    s.trim_matches(is_ows)
}

/// RFC 9110 `token`: one or more `tchar`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_content_type() {
        let raw = "multipart/mixed; charset=UTF-8; boundary=xtopQhVbRkZnXqWpLmTsYdFgHjKaBcDeUo";
        let ct = ContentType::parse(raw).unwrap();
        assert_eq!(ct.essence(), "multipart/mixed");
        assert_eq!(ct.main_type(), "multipart");
        assert_eq!(ct.subtype(), "mixed");
        assert!(ct.is_multipart());
        assert_eq!(ct.charset(), Some("UTF-8"));
        assert_eq!(ct.boundary(), Some("xtopQhVbRkZnXqWpLmTsYdFgHjKaBcDeUo"));
        assert_eq!(ct.as_str(), raw);
        assert_eq!(ct.to_string(), raw);
    }

    #[test]
    fn case_insensitive_type_and_names_quoted_values() {
        let ct: ContentType =
            r#"Multipart/Related; TYPE="text/xml"; Start="<rootpart>"; BOUNDARY="MIME_boundary""#
                .parse()
                .unwrap();
        assert_eq!(ct.essence(), "multipart/related");
        assert_eq!(ct.param("type"), Some("text/xml"));
        assert_eq!(ct.param("start"), Some("<rootpart>"));
        assert_eq!(ct.boundary(), Some("MIME_boundary"));
        let names: Vec<_> = ct.params().map(|(n, _)| n).collect();
        assert_eq!(names, ["TYPE", "Start", "BOUNDARY"]);
    }

    #[test]
    fn whitespace_trailing_semicolon_and_escapes() {
        let ct = ContentType::parse(" text/xml ;charset = utf-8 ; ;x=\"a\\\"b;c\\\\\" ;").unwrap();
        assert_eq!(ct.essence(), "text/xml");
        assert_eq!(ct.charset(), Some("utf-8"));
        assert_eq!(ct.param("x"), Some("a\"b;c\\"));
        assert_eq!(ct.params().len(), 2);

        let ct = ContentType::parse("text/xml;charset=UTF-8").unwrap();
        assert_eq!(ct.charset(), Some("UTF-8"));
        assert_eq!(ct.boundary(), None);

        let ct = ContentType::parse("application/json; flag; q=").unwrap();
        assert_eq!(ct.param("flag"), Some(""));
        assert_eq!(ct.param("q"), Some(""));
    }

    #[test]
    fn x_road_signature_type_has_two_slashes() {
        let ct = ContentType::parse("signature/bdoc-1.0/ts").unwrap();
        assert_eq!(ct.main_type(), "signature");
        assert_eq!(ct.subtype(), "bdoc-1.0/ts");
    }

    #[test]
    fn boundary_errors() {
        for raw in [
            "multipart/mixed; charset=UTF-8",
            "multipart/mixed; boundary",
            // The last duplicate wins, even one without a value (mime4j: null).
            "multipart/mixed; boundary=a; boundary",
        ] {
            let ct = ContentType::parse(raw).unwrap();
            assert_eq!(ct.boundary(), None, "{raw}");
            let err = ct.multipart_boundary().unwrap_err();
            assert!(matches!(err, MimeError::MissingBoundary));
            assert_eq!(
                err.to_string(),
                "Multipart content type is missing required boundary"
            );
        }
        assert_eq!(
            ContentType::parse("multipart/mixed; boundary")
                .unwrap()
                .param("boundary"),
            Some("")
        );
    }

    /// mime4j keeps an empty boundary; it is reported as such, not as a missing one.
    #[test]
    fn empty_boundary_is_kept() {
        for raw in [
            "multipart/mixed; boundary=\"\"",
            "multipart/mixed; boundary=",
        ] {
            let ct = ContentType::parse(raw).unwrap();
            assert_eq!(ct.boundary(), Some(""), "{raw}");
            assert_eq!(ct.multipart_boundary().unwrap(), "", "{raw}");
        }
    }

    /// mime4j looks parameters up in a `HashMap`: the last duplicate wins.
    #[test]
    fn duplicate_parameters_last_wins() {
        let ct =
            ContentType::parse("multipart/related; boundary=a; Boundary=b; charset=x; CHARSET=y")
                .unwrap();
        assert_eq!(ct.boundary(), Some("b"));
        assert_eq!(ct.multipart_boundary().unwrap(), "b");
        assert_eq!(ct.param("BOUNDARY"), Some("b"));
        assert_eq!(ct.charset(), Some("y"));
        assert_eq!(ct.params().len(), 4);
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "  ",
            "text",
            "text/",
            "/xml",
            "te xt/xml",
            "text/xml; =x",
            "text/xml; a b=c",
            "text/xml; a=\"unterminated",
            "text/xml; a=\"q\"junk",
            "a/b//c",
            "tëxt/xml",
        ] {
            assert!(
                matches!(
                    ContentType::parse(bad),
                    Err(MimeError::MalformedContentType(_))
                ),
                "{bad:?}"
            );
        }
    }

    /// The parameter parser of session 8, which built a `String` per piece: the new one, which
    /// keeps ranges of one buffer, must give the same parameters and errors.
    mod reference {
        use super::super::{is_ows, is_token, trim_ows};
        use crate::MimeError;

        pub(super) fn parse_params(
            mut rest: &str,
        ) -> Result<Vec<(String, String, bool)>, MimeError> {
            let mut params = Vec::new();
            loop {
                rest = rest.trim_start_matches(|c| c == ';' || is_ows(c));
                if rest.is_empty() {
                    return Ok(params);
                }
                let name_end = rest.find(['=', ';']).unwrap_or(rest.len());
                let name = trim_ows(&rest[..name_end]);
                if !is_token(name) {
                    return Err(MimeError::MalformedContentType(
                        "parameter name is not a valid token",
                    ));
                }
                rest = &rest[name_end..];
                let has_value = rest.starts_with('=');
                let value = match rest.strip_prefix('=') {
                    None => String::new(),
                    Some(after_eq) => {
                        let after_eq = after_eq.trim_start_matches(is_ows);
                        if let Some(quoted) = after_eq.strip_prefix('"') {
                            let (value, after) = unquote(quoted)?;
                            rest = after.trim_start_matches(is_ows);
                            if !rest.is_empty() && !rest.starts_with(';') {
                                return Err(MimeError::MalformedContentType(
                                    "unexpected characters after quoted parameter value",
                                ));
                            }
                            value
                        } else {
                            let end = after_eq.find(';').unwrap_or(after_eq.len());
                            rest = &after_eq[end..];
                            trim_ows(&after_eq[..end]).to_owned()
                        }
                    }
                };
                params.push((name.to_owned(), value, has_value));
            }
        }

        /// Reads a quoted-string body (after the opening quote); returns the value and the rest after the
        /// closing quote.
        fn unquote(s: &str) -> Result<(String, &str), MimeError> {
            let mut value = String::new();
            let mut chars = s.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => return Ok((value, &s[i + 1..])),
                    '\\' => match chars.next() {
                        Some((_, escaped)) => value.push(escaped),
                        None => break,
                    },
                    c => value.push(c),
                }
            }
            Err(MimeError::MalformedContentType(
                "unterminated quoted parameter value",
            ))
        }
    }

    proptest::proptest! {
        #[test]
        fn same_parameters_as_the_string_per_piece_parser(
            params in "[a-zA-Z=;\" \\\\\t/é-]{0,40}"
        ) {
            let value = format!("Multipart/Related;{params}");
            let new = ContentType::parse(&value);
            let old = reference::parse_params(&params);
            match (&new, &old) {
                (Ok(ct), Ok(p)) => {
                    let got: Vec<_> = ct.params().collect();
                    let want: Vec<_> = p.iter().map(|(n, v, _)| (n.as_str(), v.as_str())).collect();
                    proptest::prop_assert_eq!(got, want);
                    let last_boundary = p.iter().rev()
                        .find(|(n, _, _)| n.eq_ignore_ascii_case("boundary"))
                        .filter(|(_, _, has)| *has)
                        .map(|(_, v, _)| v.as_str());
                    proptest::prop_assert_eq!(ct.boundary(), last_boundary);
                    proptest::prop_assert_eq!(ct.essence(), "multipart/related");
                    proptest::prop_assert_eq!(ct.as_str(), value.as_str());
                }
                (Err(a), Err(b)) => proptest::prop_assert_eq!(a.to_string(), b.to_string()),
                _ => proptest::prop_assert!(false, "{new:?} against {old:?}"),
            }
        }
    }
}
