//! The header block of one multipart body part.

use memchr::memchr;

use crate::MimeError;

/// The MIME headers of one body part.
///
/// Two views of the same bytes:
/// * [`raw`](Self::raw): the header lines exactly as received, each with its own line break
///   (CRLF or LF), *without* the empty line that ends the block;
/// * the parsed fields ([`iter`](Self::iter), [`get`](Self::get)): `(name, value)` in original
///   order, names with their original case, folded continuation lines unfolded (the line break is
///   removed, the leading whitespace kept) and values trimmed of surrounding whitespace.
///
/// Bytes are decoded as ISO-8859-1, one byte to one `char`, so every byte survives and the
/// [`MultipartWriter`](crate::MultipartWriter) writes the same bytes back (Java decodes and
/// encodes part headers as ISO-8859-1 too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartHeaders {
    raw: Vec<u8>,
    fields: Vec<(String, String)>,
}

impl PartHeaders {
    /// The header lines exactly as received (see the type docs).
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// All fields in original order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The value of the first field called `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The values of all fields called `name` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Content-Type` value, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.get("content-type")
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the part has no header fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Parses a complete header block (header lines without the terminating empty line).
    pub(crate) fn parse(raw: &[u8]) -> Result<Self, MimeError> {
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut rest = raw;
        let mut line_no = 0;
        while !rest.is_empty() {
            line_no += 1;
            let (line, next) = match memchr(b'\n', rest) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = next;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let malformed = |reason| MimeError::MalformedHeader {
                line: line_no,
                reason,
            };

            if matches!(line.first(), Some(b' ' | b'\t')) {
                // RFC 5322 §2.2.3 unfolding: drop the line break, keep the whitespace.
                let (_, value) = fields
                    .last_mut()
                    .ok_or(malformed("continuation line before the first header"))?;
                push_latin1(value, line);
                continue;
            }
            let colon = memchr(b':', line).ok_or(malformed("missing ':'"))?;
            // Obsolete syntax (RFC 5322 §4.5) allows whitespace before the colon.
            let name = trim_wsp(&line[..colon]);
            if name.is_empty() {
                return Err(malformed("empty header name"));
            }
            if !name.iter().all(|b| (b'!'..=b'~').contains(b)) {
                return Err(malformed("invalid character in header name"));
            }
            let mut field = (String::new(), String::new());
            push_latin1(&mut field.0, name);
            push_latin1(&mut field.1, &line[colon + 1..]);
            fields.push(field);
        }
        for (_, value) in &mut fields {
            let trimmed = value.trim_matches([' ', '\t']);
            if trimmed.len() != value.len() {
                *value = trimmed.to_owned();
            }
        }
        Ok(Self {
            raw: raw.to_vec(),
            fields,
        })
    }
}

fn push_latin1(out: &mut String, bytes: &[u8]) {
    out.extend(bytes.iter().map(|&b| char::from(b)));
}

fn trim_wsp(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(h.get_all("x-DUP").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(h.get("missing"), None);
        assert_eq!(h.len(), 4);
    }

    #[test]
    fn folding_is_unfolded_in_parsed_view_only() {
        let raw = b"Content-Disposition: attachment;\r\n\tfilename=\"a.bin\"\r\nName :  v  \r\n";
        let h = PartHeaders::parse(raw).unwrap();
        assert_eq!(h.raw(), raw);
        assert_eq!(
            h.get("content-disposition"),
            Some("attachment;\tfilename=\"a.bin\"")
        );
        assert_eq!(h.get("name"), Some("v"));
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

    #[test]
    fn malformed_lines() {
        let cases: [(&[u8], usize); 5] = [
            (b"content-type: a\r\nno colon here\r\n", 2),
            (b" leading continuation\r\n", 1),
            (b": empty name\r\n", 1),
            (b"bad name: x\r\n", 1),
            (b"\rx: y\r\n", 1),
        ];
        for (raw, expected_line) in cases {
            match PartHeaders::parse(raw) {
                Err(MimeError::MalformedHeader { line, .. }) => assert_eq!(line, expected_line),
                other => panic!("{raw:?}: {other:?}"),
            }
        }
    }
}
