//! The `SOAPAction` header check of the Java client proxy.

use xroad_fault::{ErrorCode, XRoadError};

/// Checks a `SOAPAction` header value as the Java client proxy does and returns it unchanged.
///
/// Allowed are: no header, an empty value, `""`, or a quoted URI reference that
/// `java.net.URI` accepts. Anything else fails with `invalid_soap_action`.
pub fn validate_soap_action(value: Option<&str>) -> Result<Option<&str>, XRoadError> {
    let Some(v) = value else { return Ok(None) };
    if v.is_empty() || v == "\"\"" {
        return Ok(Some(v));
    }
    let inner = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .filter(|s| !s.is_empty());
    match inner {
        Some(uri) if is_uri_reference(uri) => Ok(Some(v)),
        _ => Err(XRoadError::new(
            ErrorCode::InvalidSoapAction,
            "Malformed SOAPAction header",
        )),
    }
}

/// An approximation of what `new java.net.URI(s)` accepts: RFC 2396 characters (non-ASCII
/// allowed as Java's "other" category), valid `%XX` escapes, at most one `#`, a non-empty
/// scheme-specific part after a scheme, a non-empty authority after `//`, and brackets only
/// around an IPv6 host.
fn is_uri_reference(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return false;
                }
                i += 3;
                continue;
            }
            b if b.is_ascii_alphanumeric() => {}
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' | b';' | b'/' | b'?'
            | b':' | b'@' | b'&' | b'=' | b'+' | b'$' | b',' | b'#' | b'[' | b']' => {}
            b if b >= 0x80 => {}
            _ => return false,
        }
        i += 1;
    }
    let (before_fragment, fragment) = match s.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (s, None),
    };
    if fragment.is_some_and(|f| f.contains(['#', '[', ']'])) {
        return false;
    }
    let ssp = match scheme_end(before_fragment) {
        Some(end) => {
            let ssp = &before_fragment[end + 1..];
            if ssp.is_empty() && fragment.is_none() {
                return false;
            }
            ssp
        }
        None => before_fragment,
    };
    match ssp.strip_prefix("//") {
        Some(rest) => {
            let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(auth_end);
            !authority.is_empty() && brackets_ok(authority) && !path.contains(['[', ']'])
        }
        None => !ssp.contains(['[', ']']),
    }
}

/// Position of the `:` ending a scheme, if `s` starts with one.
fn scheme_end(s: &str) -> Option<usize> {
    let colon = s.find(':')?;
    let scheme = &s[..colon];
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_ok && rest_ok && !s[..colon].contains(['/', '?'])).then_some(colon)
}

fn brackets_ok(authority: &str) -> bool {
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match (host.find('['), host.find(']')) {
        (None, None) => true,
        (Some(0), Some(end)) => {
            let inside = &host[1..end];
            !inside.is_empty()
                && inside
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
                && (host[end + 1..].is_empty() || host[end + 1..].starts_with(':'))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_java_accepts() {
        // ValidateSoapActionTest of the Java proxy.
        for ok in [
            None,
            Some(""),
            Some("\"\""),
            Some("\"http://example.org/test\""),
            Some("\"urn:foo\""),
        ] {
            assert_eq!(validate_soap_action(ok).unwrap(), ok);
        }
        for ok in [
            "\"relative/path?q=1#frag\"",
            "\"http://[::1]:8080/x\"",
            "\"http://h/%20x\"",
            "\"ä\"",
        ] {
            assert!(validate_soap_action(Some(ok)).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_what_java_refuses() {
        for bad in [
            "http://quotes/missing",
            "\"http://extra/quote\"\"",
            "\"spaces \"",
            "\"",
            "\"x",
            "\"http:\"",
            "\"http://\"",
            "\"a%zz\"",
            "\"a#b#c\"",
            "\"{x}\"",
            "\"a\\b\"",
            "\"/p[1]\"",
        ] {
            let e = validate_soap_action(Some(bad)).unwrap_err();
            assert_eq!(e.error_code(), Some(ErrorCode::InvalidSoapAction), "{bad}");
            assert_eq!(e.message(), "Malformed SOAPAction header");
        }
    }
}
