//! The REST form of identifiers: `/`-joined segments, each percent-encoded on its own.
//!
//! Used by the `X-Road-Client`, `X-Road-Service` and `X-Road-Security-Server` headers and by the
//! `/r1/` request path. Encoding follows Guava's `urlPathSegmentEscaper` (what the Java servers
//! emit); decoding follows the Java `UriUtils.uriSegmentPercentDecode`: only RFC 3986 *pchar*
//! characters may appear literally, everything else must be a `%XX` escape of UTF-8.

use crate::{ClientId, Code, IdError, SecurityServerId, ServiceId};

/// Characters a path segment may carry literally (RFC 3986 `pchar` minus `%`).
pub fn is_pchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
}

/// Appends `segment` percent-encoded (upper-case hex, UTF-8) to `out`.
pub fn encode_segment(segment: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in segment.as_bytes() {
        if is_pchar(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Decodes one percent-encoded path segment. A literal `/`, space, non-ASCII character or
/// any other character outside *pchar* is refused, as are malformed escapes. Escaped bytes
/// that are not UTF-8 become U+FFFD, as in Java.
pub fn decode_segment(segment: &str) -> Result<String, IdError> {
    let src = segment.as_bytes();
    if !src.contains(&b'%') {
        return if src.iter().all(|&b| is_pchar(b)) {
            Ok(segment.to_owned())
        } else {
            Err(IdError::InvalidCharacter)
        };
    }
    let mut out = Vec::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() {
        let b = src[i];
        if b == b'%' {
            let (Some(&h), Some(&l)) = (src.get(i + 1), src.get(i + 2)) else {
                return Err(IdError::IncompletePercentEncoding);
            };
            let (Some(h), Some(l)) = (hex_value(h), hex_value(l)) else {
                return Err(IdError::InvalidPercentEncoding);
            };
            out.push(h << 4 | l);
            i += 3;
        } else if is_pchar(b) {
            out.push(b);
            i += 1;
        } else {
            return Err(IdError::InvalidCharacter);
        }
    }
    // Java decodes with replacement characters rather than failing.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn split_decoded(
    value: &str,
    expected: &'static str,
    ok: impl Fn(usize) -> bool,
) -> Result<Vec<String>, IdError> {
    let parts: Vec<&str> = value.split('/').collect();
    if !ok(parts.len()) {
        return Err(IdError::SegmentCount {
            expected,
            found: parts.len(),
            value: value.to_owned(),
        });
    }
    parts.into_iter().map(decode_segment).collect()
}

fn join_encoded<'a>(segments: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, s) in segments.enumerate() {
        if i > 0 {
            out.push('/');
        }
        encode_segment(s, &mut out);
    }
    out
}

impl ClientId {
    /// Parses `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]` (the `X-Road-Client` header form).
    pub fn from_rest(value: &str) -> Result<ClientId, IdError> {
        let mut p = split_decoded(value, "3 or 4", |n| n == 3 || n == 4)?.into_iter();
        let (i, c, m) = (next(&mut p), next(&mut p), next(&mut p));
        ClientId::new(i, c, m, p.next().map(Code::from))
    }

    /// The `X-Road-Client` header form.
    pub fn to_rest(&self) -> String {
        join_encoded(self.segments())
    }
}

impl ServiceId {
    /// Parses `INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE` (the `X-Road-Service` header form and
    /// the identifier segments of an `/r1/` path). The Java servers require the subsystem
    /// segment, so exactly five segments are accepted; REST services carry no version.
    pub fn from_rest(value: &str) -> Result<ServiceId, IdError> {
        let mut p = split_decoded(value, "5", |n| n == 5)?.into_iter();
        let provider = ClientId::new(
            next(&mut p),
            next(&mut p),
            next(&mut p),
            p.next().map(Code::from),
        )?;
        ServiceId::new(provider, next(&mut p), None)
    }

    /// The `X-Road-Service` header form (the version, if any, is not part of it).
    pub fn to_rest(&self) -> String {
        join_encoded(
            self.provider()
                .segments()
                .chain(std::iter::once(self.service_code())),
        )
    }
}

impl SecurityServerId {
    /// Parses `INSTANCE/CLASS/MEMBER/SERVERCODE` (the `X-Road-Security-Server` header form).
    pub fn from_rest(value: &str) -> Result<SecurityServerId, IdError> {
        let mut p = split_decoded(value, "4", |n| n == 4)?.into_iter();
        let owner = ClientId::member(next(&mut p), next(&mut p), next(&mut p))?;
        SecurityServerId::new(owner, next(&mut p))
    }

    /// The `X-Road-Security-Server` header form.
    pub fn to_rest(&self) -> String {
        join_encoded(self.segments())
    }
}

/// The next decoded segment; the count was checked, so "" (rejected later as blank) never
/// actually appears.
fn next(p: &mut impl Iterator<Item = String>) -> String {
    p.next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_like_guava_path_segment_escaper() {
        let mut s = String::new();
        encode_segment("a b/c%d?é:@!$&'()*+,;=-._~", &mut s);
        assert_eq!(s, "a%20b%2Fc%25d%3F%C3%A9:@!$&'()*+,;=-._~");
    }

    #[test]
    fn decodes_like_uri_segment_percent_decode() {
        assert_eq!(decode_segment("a%20b%2fc").unwrap(), "a b/c");
        assert_eq!(decode_segment("%C3%A9").unwrap(), "é");
        assert_eq!(decode_segment("plain:@x").unwrap(), "plain:@x");
        assert_eq!(decode_segment(""), Ok(String::new()));
        assert_eq!(decode_segment("a b"), Err(IdError::InvalidCharacter));
        assert_eq!(decode_segment("a/b"), Err(IdError::InvalidCharacter));
        assert_eq!(decode_segment("é"), Err(IdError::InvalidCharacter));
        assert_eq!(
            decode_segment("a%2"),
            Err(IdError::IncompletePercentEncoding)
        );
        assert_eq!(
            decode_segment("a%"),
            Err(IdError::IncompletePercentEncoding)
        );
        assert_eq!(decode_segment("a%zz"), Err(IdError::InvalidPercentEncoding));
        assert_eq!(decode_segment("%FF").unwrap(), "\u{fffd}");
    }

    #[test]
    fn client_header_forms() {
        let c = ClientId::from_rest("DEV/COM/111/TEST%20CLIENT").unwrap();
        assert_eq!(c.subsystem_code(), Some("TEST CLIENT"));
        assert_eq!(c.to_rest(), "DEV/COM/111/TEST%20CLIENT");
        assert_eq!(
            ClientId::from_rest("DEV/COM/111").unwrap().subsystem_code(),
            None
        );
        assert!(matches!(
            ClientId::from_rest("DEV/COM"),
            Err(IdError::SegmentCount { found: 2, .. })
        ));
        assert!(matches!(
            ClientId::from_rest("DEV/COM/1/2/3"),
            Err(IdError::SegmentCount { found: 5, .. })
        ));
        assert_eq!(
            ClientId::from_rest("DEV//111"),
            Err(IdError::Blank("memberClass"))
        );
    }

    #[test]
    fn service_and_server_header_forms() {
        let s = ServiceId::from_rest("DEV/COM/222/TESTSERVICE/petstore").unwrap();
        assert_eq!(s.to_string(), "SERVICE:DEV/COM/222/TESTSERVICE/petstore");
        assert_eq!(s.to_rest(), "DEV/COM/222/TESTSERVICE/petstore");
        assert!(ServiceId::from_rest("DEV/COM/222/petstore").is_err());
        let ss = SecurityServerId::from_rest("DEV/COM/222/ss1").unwrap();
        assert_eq!(ss.to_string(), "SERVER:DEV/COM/222/ss1");
        assert!(SecurityServerId::from_rest("DEV/COM/222").is_err());
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(s in "\\PC*") {
            let mut enc = String::new();
            encode_segment(&s, &mut enc);
            prop_assert_eq!(decode_segment(&enc).unwrap(), s);
        }

        #[test]
        fn decode_never_panics(s in "\\PC*") {
            let _ = decode_segment(&s);
            let _ = ClientId::from_rest(&s);
            let _ = ServiceId::from_rest(&s);
            let _ = SecurityServerId::from_rest(&s);
        }
    }
}
