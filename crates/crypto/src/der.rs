//! The little DER that X-Road needs by hand: walking OCSP responses and time-stamps, writing
//! OCSP requests and hash-chain digest lists. Strict: definite, minimal lengths only.

use std::fmt;

/// Universal tags used in this crate.
pub(crate) mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const ENUMERATED: u8 = 0x0a;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;

    /// `[n]` constructed, context-specific (EXPLICIT tagging or constructed IMPLICIT).
    pub const fn context(n: u8) -> u8 {
        0xa0 | n
    }
}

/// What was wrong with a DER structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerError(pub &'static str);

impl fmt::Display for DerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for DerError {}

/// One tag-length-value element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tlv<'a> {
    /// The identifier octet (only single-octet tags are supported).
    pub tag: u8,
    /// The value octets.
    pub content: &'a [u8],
    /// The whole element: identifier, length and value.
    pub raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Reads the element at the start of `input`; returns it and what follows.
    pub fn parse(input: &'a [u8]) -> Result<(Tlv<'a>, &'a [u8]), DerError> {
        let (&tag, rest) = input.split_first().ok_or(DerError("truncated element"))?;
        if tag & 0x1f == 0x1f {
            return Err(DerError("multi-octet tags are not supported"));
        }
        let (&first, rest) = rest.split_first().ok_or(DerError("truncated length"))?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 {
                return Err(DerError("indefinite length is not DER"));
            }
            if n > 4 || rest.len() < n {
                return Err(DerError("unsupported or truncated length"));
            }
            let (bytes, rest) = rest.split_at(n);
            if bytes[0] == 0 {
                return Err(DerError("length with a leading zero octet is not DER"));
            }
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| acc << 8 | usize::from(b));
            if len < 0x80 {
                return Err(DerError("long-form length of a short value is not DER"));
            }
            (len, rest)
        };
        if rest.len() < len {
            return Err(DerError("element longer than its container"));
        }
        let header = input.len() - rest.len();
        let (content, rest) = rest.split_at(len);
        Ok((
            Tlv {
                tag,
                content,
                raw: &input[..header + len],
            },
            rest,
        ))
    }

    /// Reads `input` as exactly one element.
    pub fn parse_exact(input: &'a [u8]) -> Result<Tlv<'a>, DerError> {
        let (tlv, rest) = Tlv::parse(input)?;
        if !rest.is_empty() {
            return Err(DerError("trailing bytes after the element"));
        }
        Ok(tlv)
    }

    /// Checks the tag.
    pub fn expect_tag(self, tag: u8, what: &'static str) -> Result<Tlv<'a>, DerError> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(DerError(what))
        }
    }

    /// A reader over the content of a constructed element.
    pub fn reader(self) -> Reader<'a> {
        Reader { rest: self.content }
    }
}

/// Reads consecutive elements.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Reader { rest: input }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element, whatever its tag.
    pub fn any(&mut self, what: &'static str) -> Result<Tlv<'a>, DerError> {
        if self.rest.is_empty() {
            return Err(DerError(what));
        }
        let (tlv, rest) = Tlv::parse(self.rest)?;
        self.rest = rest;
        Ok(tlv)
    }

    /// The next element, which must have `tag`.
    pub fn next(&mut self, tag: u8, what: &'static str) -> Result<Tlv<'a>, DerError> {
        self.any(what)?.expect_tag(tag, what)
    }

    /// The next element if it has `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.rest.first() != Some(&tag) {
            return Ok(None);
        }
        let (tlv, rest) = Tlv::parse(self.rest)?;
        self.rest = rest;
        Ok(Some(tlv))
    }

    /// Fails unless everything was read.
    pub fn end(&self, what: &'static str) -> Result<(), DerError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DerError(what))
        }
    }
}

/// Appends a DER length.
fn write_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Appends one element.
pub(crate) fn write(tag: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    write_len(content.len(), out);
    out.extend_from_slice(content);
}

/// Appends a constructed element whose content `fill` writes.
pub(crate) fn write_nested(tag: u8, out: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>)) {
    // Written in place with a one-byte length, moved up for the rare long form: no buffer
    // per nesting level.
    out.push(tag);
    let len_at = out.len();
    out.push(0);
    fill(out);
    let len = out.len() - len_at - 1;
    if len < 0x80 {
        out[len_at] = len as u8;
    } else {
        let mut header = Vec::with_capacity(9);
        write_len(len, &mut header);
        out.splice(len_at..len_at + 1, header);
    }
}

/// A DER INTEGER's content as an unsigned magnitude without leading zero octets.
pub(crate) fn unsigned_integer(content: &[u8]) -> &[u8] {
    let skip = content.iter().take_while(|&&b| b == 0).count();
    &content[skip.min(content.len().saturating_sub(1))..]
}

/// Parses a DER GeneralizedTime (`YYYYMMDDHHMMSS[.fff]Z`) into seconds since the Unix epoch.
pub(crate) fn generalized_time(tlv: Tlv<'_>) -> Result<i64, DerError> {
    let tlv = tlv.expect_tag(tag::GENERALIZED_TIME, "expected a GeneralizedTime")?;
    let s =
        std::str::from_utf8(tlv.content).map_err(|_| DerError("GeneralizedTime is not ASCII"))?;
    let bad = DerError("GeneralizedTime is not of the form YYYYMMDDHHMMSS[.f]Z");
    let body = s.strip_suffix('Z').ok_or(bad.clone())?;
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    let num = |r: std::ops::Range<usize>| whole[r].parse::<i64>().unwrap_or(0);
    crate::time::unix_seconds(
        num(0..4),
        num(4..6),
        num(6..8),
        num(8..10),
        num(10..12),
        num(12..14),
    )
    .ok_or(bad)
}

#[cfg(test)]
mod tests {

    #[test]
    fn nested_elements_written_in_place_equal_the_buffered_ones() {
        for sizes in [
            &[0usize][..],
            &[5, 0x7f],
            &[0x7e],
            &[0x80],
            &[0x7f, 0x100],
            &[70_000, 3],
        ] {
            let mut in_place = vec![0xAA];
            write_nested(0x30, &mut in_place, |outer| {
                for (i, &n) in sizes.iter().enumerate() {
                    write_nested(0xA0 | i as u8, outer, |inner| {
                        inner.resize(inner.len() + n, 7)
                    });
                }
            });
            let mut outer = Vec::new();
            for (i, &n) in sizes.iter().enumerate() {
                write(0xA0 | i as u8, &vec![7; n], &mut outer);
            }
            let mut buffered = vec![0xAA];
            write(0x30, &outer, &mut buffered);
            assert_eq!(in_place, buffered, "{sizes:?}");
        }
    }
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lengths_round_trip_and_non_der_is_refused() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536] {
            let mut out = Vec::new();
            let content = vec![7u8; len];
            write(tag::OCTET_STRING, &content, &mut out);
            let tlv = Tlv::parse_exact(&out).unwrap();
            assert_eq!(tlv.content.len(), len);
            assert_eq!(tlv.raw, &out[..]);
        }
        assert!(Tlv::parse(&[0x04, 0x80]).is_err(), "indefinite");
        assert!(
            Tlv::parse(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).is_err(),
            "long form, short value"
        );
        assert!(
            Tlv::parse(&[0x04, 0x82, 0x00, 0x80]).is_err(),
            "leading zero"
        );
        assert!(Tlv::parse(&[0x04, 0x02, 0x00]).is_err(), "truncated");
        assert!(Tlv::parse(&[0x1f, 0x01, 0x00]).is_err(), "multi-octet tag");
        assert!(Tlv::parse_exact(&[0x05, 0x00, 0x00]).is_err(), "trailing");
    }

    #[test]
    fn generalized_times() {
        let t = |s: &str| {
            let mut out = Vec::new();
            write(tag::GENERALIZED_TIME, s.as_bytes(), &mut out);
            generalized_time(Tlv::parse_exact(&out).unwrap())
        };
        assert_eq!(t("19700101000000Z"), Ok(0));
        assert_eq!(t("20170909091511Z"), Ok(1_504_948_511));
        assert_eq!(t("20170909091511.123Z"), Ok(1_504_948_511));
        assert!(t("20170909091511").is_err());
        assert!(t("2017090909151Z").is_err());
        assert!(t("20171309091511Z").is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&bytes);
            while let Ok(t) = r.any("x") {
                let _ = t.reader().any("y");
            }
        }
    }
}
