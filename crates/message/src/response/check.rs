//! The consumer security server's checks of a response against its request
//! (`ClientMessageProcessor#checkConsistency` and `#checkRequestHash`).

use xroad_fault::{ErrorCode, Origin, XRoadError};

use crate::soap::SoapMessage;

/// Checks a response (as received from the provider security server) against the request it
/// answers, as the Java client proxy does before delivering it:
///
/// 1. the headers `client`, `service` (version included), `userId`, `representedParty`,
///    `issue` and `id` must equal the request's (absent equals absent); `protocolVersion`,
///    `securityServer` and other headers are not compared. A difference fails with
///    `server.clientproxy.service_failed.inconsistent_response` "Response from server proxy is
///    not consistent with request";
/// 2. the response must carry a `requestHash` whose base64 value decodes to
///    `request_soap_digest` (SHA-512 of the request SOAP bytes as sent); its `algorithmId` is
///    not looked at. Decoding is as lenient as Java's (`DatatypeConverter`): characters outside
///    the base64 alphabet, whitespace and line breaks included, are skipped (Java fails with an
///    internal error on a non-ASCII character; here it is skipped too). A missing hash
///    fails with `server.clientproxy.inconsistent_response` "Response from server proxy is
///    missing request message hash", another hash with "Request message hash does not match
///    request message".
pub fn check_response(
    request: &SoapMessage,
    response: &SoapMessage,
    request_soap_digest: &[u8; 64],
) -> Result<(), XRoadError> {
    let (q, r) = (&request.header, &response.header);
    let consistent = q.client == r.client
        && q.service == r.service
        && q.user_id == r.user_id
        && q.represented_party == r.represented_party
        && q.issue == r.issue
        && q.id == r.id;
    if !consistent {
        return Err(XRoadError::new(
            ErrorCode::InconsistentResponse,
            "Response from server proxy is not consistent with request",
        )
        .with_prefix(ErrorCode::ServiceFailed)
        .with_origin(Origin::ClientProxy));
    }
    let inconsistent = |msg: &str| {
        XRoadError::new(ErrorCode::InconsistentResponse, msg).with_origin(Origin::ClientProxy)
    };
    let hash = r.request_hash.as_ref().ok_or_else(|| {
        inconsistent("Response from server proxy is missing request message hash")
    })?;
    if decode_base64_leniently(&hash.value) != request_soap_digest[..] {
        return Err(inconsistent(
            "Request message hash does not match request message",
        ));
    }
    Ok(())
}

/// Decodes base64 as JAXB's `DatatypeConverter.parseBase64Binary` does: characters outside
/// the alphabet are skipped, `=` counts as a padding sextet wherever it stands, every group of
/// four yields one to three bytes (two or one when its third or fourth is padding) and an
/// incomplete last group is dropped.
fn decode_base64_leniently(text: &str) -> Vec<u8> {
    const PAD: u8 = 127;
    let sextet = |c: char| -> Option<u8> {
        Some(match c {
            'A'..='Z' => c as u8 - b'A',
            'a'..='z' => c as u8 - b'a' + 26,
            '0'..='9' => c as u8 - b'0' + 52,
            '+' => 62,
            '/' => 63,
            '=' => PAD,
            _ => return None,
        })
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut quad = [0u8; 4];
    let mut n = 0;
    for v in text.chars().filter_map(sextet) {
        quad[n] = v;
        n += 1;
        if n == 4 {
            // Java computes in int and keeps the low byte.
            out.push((quad[0] << 2) | (quad[1] >> 4));
            if quad[2] != PAD {
                out.push((quad[1] << 4) | (quad[2] >> 2));
            }
            if quad[3] != PAD {
                out.push((quad[2] << 6) | quad[3]);
            }
            n = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_base64_as_jaxb() {
        let b64 = |s: &str| decode_base64_leniently(s);
        assert_eq!(b64("aGVsbG8="), b"hello");
        assert_eq!(b64(" aGVs\r\nbG8=\n"), b"hello");
        assert_eq!(b64("aGVsbG8"), b"hel", "an incomplete group is dropped");
        assert_eq!(b64("aG!Vs*bG8="), b"hello", "other characters are skipped");
        assert_eq!(b64("aA==aGVs"), b"hhel", "padding inside");
        assert_eq!(b64(""), b"");
        assert_eq!(b64("é"), b"");
    }
}
