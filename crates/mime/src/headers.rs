//! The header block of one multipart body part, read as mime4j 0.8.7 reads it.

use std::ops::Range;

use memchr::memchr;

use crate::mime4j::{self, BodyType};
use crate::MimeError;

/// mime4j `MimeConfig` default `maxLineLen`: a header line of this many bytes or more,
/// its line break included, is an error.
pub(crate) const MAX_LINE_LEN: usize = 1000;
/// mime4j `MimeConfig` default `maxHeaderCount`: more fields than this (invalid lines included)
/// is an error.
pub(crate) const MAX_HEADER_COUNT: usize = 1000;
/// mime4j `MimeConfig` default `maxHeaderLen`: a field of this many bytes or more, its folded
/// lines and line breaks included, is an error.
pub(crate) const MAX_HEADER_LEN: usize = 10_000;

/// The MIME headers of one body part.
///
/// Two views of the same bytes:
/// * [`raw`](Self::raw): the header lines exactly as received, each with its own line break
///   (CRLF or LF), *without* the empty line that ends the block. When the block is ended by a
///   delimiter or by the end of the body instead (see [`MultipartReader`]), the last line has no
///   line break: the one before the delimiter belongs to the delimiter.
/// * the parsed fields ([`iter`](Self::iter), [`get`](Self::get)), as mime4j 0.8.7
///   (`DefaultFieldBuilder`, `RawFieldParser`, `RawField.getBody`) gives them to X-Road:
///   * a field is a line plus the lines after it that start with a space or a tab (the first
///     line of the block always starts a field, even if it starts with whitespace);
///   * the name is the text before the first `:` outside `(comments)`, with whitespace runs
///     between words turned into one space, comments removed and bytes up to 0x20 trimmed from
///     both ends; a field without `:` or whose name then has a byte outside 0x21–0x7E is
///     **skipped silently**, as is the whole field with its continuation lines;
///   * the value is everything after the colon, minus **one** leading whitespace character
///     (space, tab, CR or LF, and only if at least two bytes follow the colon), with every CR
///     and LF removed (unfolding); trailing whitespace is kept.
///
/// Bytes are decoded as ISO-8859-1, one byte to one `char`, so every byte survives and the
/// [`MultipartWriter`](crate::MultipartWriter) writes the same bytes back (mime4j and Java decode
/// and encode part headers as ISO-8859-1 too).
///
/// Limits, as mime4j: a line of 1000 bytes or more (line break included), more than 1000 fields
/// (skipped lines included) or a field of 10000 bytes or more (folded lines included) is an error.
///
/// [`MultipartReader`]: crate::MultipartReader
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartHeaders {
    raw: Vec<u8>,
    /// The fields' names and values decoded, one after the other (one allocation per part).
    text: String,
    fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    /// The name and the value in `text`.
    name: Range<usize>,
    value: Range<usize>,
    /// The bytes after the colon in `raw`, folding included (what mime4j parses types from).
    raw_value: Range<usize>,
}

impl PartHeaders {
    /// The header lines exactly as received (see the type docs).
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// All valid fields in original order, repeated names included.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.fields.iter().map(|f| (self.name(f), self.value(f)))
    }

    fn name(&self, f: &Field) -> &str {
        self.text.get(f.name.clone()).unwrap_or_default()
    }

    fn value(&self, f: &Field) -> &str {
        self.text.get(f.value.clone()).unwrap_or_default()
    }

    /// The value of the **last** field called `name` (case-insensitive): a repeated field
    /// overrides the earlier ones, as in the `HashMap` the Java handlers fill.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|f| self.name(f).eq_ignore_ascii_case(name))
            .map(|f| self.value(f))
    }

    /// The values of all fields called `name` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |f| self.name(f).eq_ignore_ascii_case(name))
            .map(|f| self.value(f))
    }

    /// The `Content-Type` value, if any: the last one if repeated (what Java uses).
    pub fn content_type(&self) -> Option<&str> {
        self.get("content-type")
    }

    /// The boundary of this part's body if mime4j 0.8.7 reads the part as a nested multipart,
    /// which X-Road then flattens into its leaf parts.
    ///
    /// mime4j types a part from the **first** `Content-Type` field that gives it a type
    /// (`FallbackBodyDescriptorBuilder`): one with a well-formed `type/subtype` that is either
    /// not `multipart/*` or has a `boundary` parameter (the last one, which may be empty). Its
    /// parser is lenient: `(comments)` are dropped, quoted strings unquoted, whitespace runs kept
    /// as one space. This can differ from [`content_type`](Self::content_type), the last field,
    /// which is what X-Road's handlers take as the part's content type.
    pub fn multipart_boundary(&self) -> Option<String> {
        for f in &self.fields {
            if !self.name(f).eq_ignore_ascii_case("content-type") {
                continue;
            }
            let raw_value = self.raw.get(f.raw_value.clone()).unwrap_or_default();
            match mime4j::body_type(raw_value) {
                BodyType::NotSet => continue,
                BodyType::Leaf => return None,
                BodyType::Multipart(b) => return Some(mime4j::latin1_string(&b)),
            }
        }
        None
    }

    /// Number of valid fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the part has no valid header field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Parses a complete header block: the header lines without the empty line that ends them.
    /// Fails only on mime4j's limits.
    pub(crate) fn parse(raw: &[u8]) -> Result<Self, MimeError> {
        let mut fields = Vec::new();
        // ASCII names and values fit in the raw length (a byte above 0x7F takes two).
        let mut text = String::with_capacity(raw.len());
        walk(raw, false, |range| {
            fields.extend(build_field(raw, range, &mut text));
        })?;
        Ok(Self {
            raw: raw.to_vec(),
            text,
            fields,
        })
    }

    /// Checks the start of a header block that is not complete for mime4j's limits. The last line
    /// may be cut, or lose its line break to a delimiter, so only what is certain is reported.
    pub(crate) fn check_prefix(prefix: &[u8]) -> Result<(), MimeError> {
        walk(prefix, true, |_| {})
    }
}

/// Splits a header block into raw fields as `MimeEntity.readRawField` does, applying mime4j's
/// limits in its order (line length when a line is read, field count when a field starts, field
/// length when a line is appended). `on_field` gets each field's range, line breaks included.
fn walk(
    block: &[u8],
    last_uncertain: bool,
    mut on_field: impl FnMut(Range<usize>),
) -> Result<(), MimeError> {
    let mut count = 0;
    // Start and length so far of the field being collected.
    let mut field: Option<(usize, usize)> = None;
    let mut pos = 0;
    while pos < block.len() {
        let end = memchr(b'\n', &block[pos..]).map_or(block.len(), |i| pos + i + 1);
        let line = &block[pos..end];
        let len = if last_uncertain && end == block.len() {
            strip_line_break(line).len()
        } else {
            line.len()
        };
        if len >= MAX_LINE_LEN {
            return Err(MimeError::HeaderLineTooLong {
                limit: MAX_LINE_LEN,
            });
        }
        match field {
            Some((start, field_len)) if matches!(line.first(), Some(b' ' | b'\t')) => {
                if field_len + len >= MAX_HEADER_LEN {
                    return Err(MimeError::HeaderFieldTooLong {
                        limit: MAX_HEADER_LEN,
                    });
                }
                field = Some((start, field_len + line.len()));
            }
            previous => {
                if let Some((start, _)) = previous {
                    on_field(start..pos);
                }
                if count >= MAX_HEADER_COUNT {
                    return Err(MimeError::TooManyHeaderFields {
                        limit: MAX_HEADER_COUNT,
                    });
                }
                count += 1;
                field = Some((pos, line.len()));
            }
        }
        pos = end;
    }
    if let Some((start, _)) = field {
        on_field(start..block.len());
    }
    Ok(())
}

/// One trailing LF, then one trailing CR.
fn strip_line_break(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `DefaultFieldBuilder.build` + `RawFieldParser.parseField` + `RawField.getBody`: the field at
/// `range` of `block`, or `None` for a field mime4j skips.
fn build_field(block: &[u8], range: Range<usize>, text: &mut String) -> Option<Field> {
    let start = range.start;
    let raw = strip_line_break(block.get(range).unwrap_or_default());
    let mut colon = 0;
    let name = mime4j::parse_token(raw, &mut colon, b":");
    if colon >= raw.len() {
        return None; // "no name/value separator found"
    }
    // `RawField` trims the name, then `DefaultFieldBuilder.FIELD_CHARS`.
    let name = mime4j::trim_java(&name);
    if !name.iter().all(|b| matches!(b, 0x21..=0x39 | 0x3b..=0x7e)) {
        return None;
    }
    let mut value_start = colon + 1;
    if raw.len() > value_start + 1 && mime4j::is_wsp(raw[value_start]) {
        value_start += 1;
    }
    let name_start = text.len();
    text.extend(name.iter().map(|&b| char::from(b)));
    let value_start_in_text = text.len();
    text.extend(
        raw[value_start..]
            .iter()
            .filter(|&&b| b != b'\r' && b != b'\n')
            .map(|&b| char::from(b)),
    );
    Some(Field {
        name: name_start..value_start_in_text,
        value: value_start_in_text..text.len(),
        raw_value: start + colon + 1..start + raw.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(raw: &[u8]) -> Vec<(String, String)> {
        PartHeaders::parse(raw)
            .unwrap()
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn order_case_and_lookup() {
        let raw = b"content-type: text/xml; charset=UTF-8\r\nContent-ID: <rootpart>\r\n\
                    X-Dup: 1\nx-dup:2\r\n";
        let h = PartHeaders::parse(raw).unwrap();
        assert_eq!(h.raw(), raw);
        let fields: Vec<_> = h.iter().collect();
        assert_eq!(
            fields,
            [
                ("content-type", "text/xml; charset=UTF-8"),
                ("Content-ID", "<rootpart>"),
                ("X-Dup", "1"),
                ("x-dup", "2"),
            ]
        );
        assert_eq!(h.content_type(), Some("text/xml; charset=UTF-8"));
        assert_eq!(h.get("CONTENT-id"), Some("<rootpart>"));
        // The last of a repeated field wins (Java's HashMap); `get_all` keeps them all.
        assert_eq!(h.get("x-dup"), Some("2"));
        assert_eq!(h.get_all("x-DUP").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(h.get("missing"), None);
        assert_eq!(h.len(), 4);
    }

    #[test]
    fn repeated_content_type_last_wins() {
        let h =
            PartHeaders::parse(b"Content-Type: text/plain\r\ncontent-type: text/xml\r\n").unwrap();
        assert_eq!(h.content_type(), Some("text/xml"));
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("Content-Type", "text/plain"), ("content-type", "text/xml")]
        );
    }

    /// mime4j 0.8.7 `RawField.getBody`, checked against Java (cases `12_values`).
    #[test]
    fn values_skip_one_whitespace_and_keep_trailing() {
        let raw = b"A: \nB:  a  \nC:\ta\nD:a\nE: a\r\n b\r\n\tc\nF:\nG:\r\n  folded\nH: a\rb\n\
                    I: v \t\r\n";
        assert_eq!(
            fields(raw),
            pairs(&[
                ("A", " "),
                ("B", " a  "),
                ("C", "a"),
                ("D", "a"),
                ("E", "a b\tc"),
                ("F", ""),
                ("G", "  folded"),
                ("H", "ab"),
                ("I", "v \t"),
            ])
        );
        // The raw view keeps the folding.
        let h = PartHeaders::parse(b"X: a;\r\n\tb=1\r\n").unwrap();
        assert_eq!(h.raw(), b"X: a;\r\n\tb=1\r\n");
        assert_eq!(h.get("x"), Some("a;\tb=1"));
    }

    #[test]
    fn latin1_bytes_survive() {
        let h = PartHeaders::parse(b"X-Name: \xc3\xa4\xff\r\n").unwrap();
        let v = h.get("x-name").unwrap();
        assert_eq!(
            v.chars().map(|c| c as u32).collect::<Vec<_>>(),
            [0xc3, 0xa4, 0xff]
        );
    }

    /// Checked against Java (cases `11_*`): invalid fields are skipped, not errors.
    #[test]
    fn invalid_fields_are_skipped() {
        let raw = b"no colon\nbad name: x\n(c)Na(m)e: v\nX\x01: v1\n\x01Y: v2\n: empty\n\
                    Z\xe4: no\nobs-name \t: obs\n\rCR: lead\n";
        assert_eq!(
            fields(raw),
            pairs(&[
                ("Nae", "v"),
                ("X", "v1"),
                ("Y", "v2"),
                ("", "empty"),
                ("obs-name", "obs"),
                ("CR", "lead"),
            ])
        );
        // A skipped field takes its continuation lines with it.
        assert_eq!(
            fields(b"A: 1\nbad\n cont: x\nB: 2\n"),
            pairs(&[("A", "1"), ("B", "2")])
        );
        // The first line starts a field even if it starts with whitespace.
        assert_eq!(
            fields(b" leading: x\n\tmore\nA: 1\n"),
            pairs(&[("leading", "x\tmore"), ("A", "1")])
        );
        // A colon inside a comment does not end the name; an unterminated comment eats the rest.
        assert_eq!(fields(b"(a:b)X: v\n"), pairs(&[("X", "v")]));
        assert_eq!(fields(b"X(: v\nY: w\n"), pairs(&[("Y", "w")]));
        assert_eq!(fields(b"(a\\)b)X: v\n"), pairs(&[("X", "v")]));
        assert_eq!(fields(b"(a(b)c)X: v\n"), pairs(&[("X", "v")]));
    }

    #[test]
    fn limits() {
        let line = |len: usize, nl: &str| format!("X: {}{nl}", "a".repeat(len - 3 - nl.len()));
        // A line of 999 bytes with its line break is fine, 1000 is not.
        assert!(PartHeaders::parse(line(999, "\n").as_bytes()).is_ok());
        assert!(PartHeaders::parse(line(999, "\r\n").as_bytes()).is_ok());
        for raw in [line(1000, "\n"), line(1000, "\r\n"), line(1000, "")] {
            let err = PartHeaders::parse(raw.as_bytes()).unwrap_err();
            assert!(
                matches!(err, MimeError::HeaderLineTooLong { limit: 1000 }),
                "{err:?}"
            );
            assert_eq!(
                err.to_string(),
                "org.apache.james.mime4j.io.MaxLineLimitException: \
                 Maximum line length limit (1000) exceeded"
            );
        }
        assert!(PartHeaders::parse(line(999, "").as_bytes()).is_ok());

        // 1000 fields are fine, 1001 are not, skipped lines counted.
        assert_eq!(
            PartHeaders::parse(&b"X: 1\n".repeat(1000)).unwrap().len(),
            1000
        );
        let mut raw = b"X: 1\n".repeat(500);
        raw.extend_from_slice(&b"bad\n".repeat(501));
        let err = PartHeaders::parse(&raw).unwrap_err();
        assert!(matches!(
            err,
            MimeError::TooManyHeaderFields { limit: 1000 }
        ));
        assert_eq!(err.to_string(), "Maximum header limit (1000) exceeded");

        // One field of 9999 bytes (folded lines and line breaks included) is fine, 10000 not.
        let field = |total: usize| {
            let mut f = b"X: a\n".to_vec();
            while f.len() < total {
                let n = (total - f.len()).min(99);
                f.push(b' ');
                f.extend_from_slice(&vec![b'a'; n - 2]);
                f.push(b'\n');
            }
            f
        };
        assert!(PartHeaders::parse(&field(9999)).is_ok());
        let err = PartHeaders::parse(&field(10_000)).unwrap_err();
        assert!(matches!(
            err,
            MimeError::HeaderFieldTooLong { limit: 10_000 }
        ));
        assert_eq!(
            err.to_string(),
            "Maximum header length limit (10000) exceeded"
        );
    }

    /// mime4j types a part from the first `Content-Type` that sets a type, with its lenient
    /// parser (Java probes `n1`, `n2` and the fuzz runs).
    #[test]
    fn multipart_boundary_as_mime4j_decides_it() {
        let boundary = |raw: &[u8]| PartHeaders::parse(raw).unwrap().multipart_boundary();
        let cases: [(&[u8], Option<&str>); 9] = [
            (b"Content-Type: multipart/mixed; boundary=c\r\n", Some("c")),
            // The first one decides, whatever `content_type()` (the last one) says.
            (
                b"Content-Type: multipart/mixed; boundary=c\r\nContent-Type: text/xml\r\n",
                Some("c"),
            ),
            (
                b"Content-Type: text/xml\nContent-Type: multipart/mixed; boundary=c\n",
                None,
            ),
            // One that sets no type does not count.
            (
                b"Content-Type: multipart/mixed\nContent-Type: bogus\n\
                  content-type: multipart/related; boundary=d\n",
                Some("d"),
            ),
            (b"Content-Type: multipart/mixed; boundary\n", None),
            (b"Content-Type: multipart/mixed; boundary=\"\"\n", Some("")),
            (
                b"Content-Type: multipart/mixed; boundary=c(\x01\n",
                Some("c"),
            ),
            (
                b"Content-Type: multipart/mixed;\r\n boundary=\"x y\"\r\n",
                Some("x y"),
            ),
            (b"X: multipart/mixed; boundary=c\n", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                boundary(raw).as_deref(),
                expected,
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn prefix_check_reports_only_what_is_certain() {
        let long = format!("X: {}", "a".repeat(996)); // 999 bytes
                                                      // The line may still lose its CR (to a delimiter after it): not certain yet.
        assert!(PartHeaders::check_prefix(format!("{long}\r").as_bytes()).is_ok());
        assert!(PartHeaders::check_prefix(format!("{long}\r\n").as_bytes()).is_ok());
        assert!(PartHeaders::check_prefix(format!("{long}a").as_bytes()).is_err());
        assert!(PartHeaders::check_prefix(format!("{long}\n\n").as_bytes()).is_err());
    }
}
