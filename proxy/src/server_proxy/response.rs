//! The provider's SOAP response as it is signed: re-serialized with `requestHash` (digest
//! §3.7). Interim whole-document version, until the streaming rewriter lands.

use xroad_fault::{ErrorCode, XRoadError};
use xroad_message::soap::Soap;

/// Most bytes of a response SOAP document kept.
const LIMIT: usize = 64 << 20;

pub(crate) struct Rewriter {
    request_hash: String,
    bytes: Vec<u8>,
}

impl Rewriter {
    pub(crate) fn new(request_hash: &str) -> Self {
        Rewriter {
            request_hash: request_hash.to_owned(),
            bytes: Vec::new(),
        }
    }

    pub(crate) fn feed(&mut self, d: &[u8], _out: &mut Vec<u8>) -> Result<(), XRoadError> {
        if self.bytes.len() + d.len() > LIMIT {
            return Err(XRoadError::new(
                ErrorCode::InvalidMessage,
                "The response SOAP message is too large",
            ));
        }
        self.bytes.extend_from_slice(d);
        Ok(())
    }

    pub(crate) fn finish(self, out: &mut Vec<u8>) -> Result<(Soap, Option<XRoadError>), XRoadError> {
        let soap = xroad_message::soap::parse_soap(&self.bytes)?;
        if let Soap::Fault(f) = &soap {
            let fault = XRoadError::relayed(
                f.code.clone().unwrap_or_default(),
                f.string.clone().unwrap_or_default(),
                f.actor.clone().unwrap_or_default(),
                f.detail.clone().unwrap_or_default(),
                self.bytes.clone(),
            );
            return Ok((soap, Some(fault)));
        }
        let text = String::from_utf8_lossy(&self.bytes);
        let Some(end) = text.find(":id>").and_then(|i| {
            let open = text[..i].rfind("</")?;
            Some((open, i + 4))
        }) else {
            out.extend_from_slice(&self.bytes);
            return Ok((soap, None));
        };
        let prefix = &text[end.0 + 2..end.1 - 4];
        out.extend_from_slice(&self.bytes[..end.1]);
        out.extend_from_slice(
            format!(
                "<{prefix}:requestHash algorithmId=\"http://www.w3.org/2001/04/xmlenc#sha512\">{}</{prefix}:requestHash>",
                self.request_hash
            )
            .as_bytes(),
        );
        out.extend_from_slice(&self.bytes[end.1..]);
        let soap = xroad_message::soap::parse_soap(out)?;
        Ok((soap, None))
    }
}
