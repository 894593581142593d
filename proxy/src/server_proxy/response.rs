//! The provider's SOAP response as it is signed: re-serialized with `requestHash` by
//! [`ResponseRewriter`] (digest §3.7), with the first bytes kept so that a SOAP fault can be
//! relayed as the provider wrote it.

use xroad_fault::XRoadError;
use xroad_message::response::ResponseRewriter;
use xroad_message::soap::Soap;

/// Faults up to this size are relayed byte for byte; a larger one is rebuilt from its fields.
const RAW_FAULT_LIMIT: usize = 1 << 20;

pub(crate) struct Rewriter {
    inner: ResponseRewriter,
    raw: Vec<u8>,
    overflow: bool,
}

impl Rewriter {
    /// `request_digest`: SHA-512 of the request SOAP bytes; `charset`: of the SOAP part.
    pub(crate) fn new(
        request_digest: &[u8; 64],
        charset: Option<&str>,
    ) -> Result<Self, XRoadError> {
        Ok(Rewriter {
            inner: ResponseRewriter::new(request_digest, charset)?,
            raw: Vec::new(),
            overflow: false,
        })
    }

    pub(crate) fn feed(&mut self, d: &[u8], out: &mut Vec<u8>) -> Result<(), XRoadError> {
        if !self.overflow {
            if self.raw.len() + d.len() <= RAW_FAULT_LIMIT {
                self.raw.extend_from_slice(d);
            } else {
                self.overflow = true;
                self.raw = Vec::new();
            }
        }
        self.inner.feed(d, out)
    }

    /// The parsed response, and for a fault the fault to relay.
    pub(crate) fn finish(
        self,
        out: &mut Vec<u8>,
    ) -> Result<(Soap, Option<XRoadError>), XRoadError> {
        let soap = self.inner.finish(out)?;
        let fault = match &soap {
            Soap::Fault(f) => {
                let raw = if self.overflow {
                    XRoadError::new(
                        xroad_fault::ErrorCode::InternalError,
                        f.string.clone().unwrap_or_default(),
                    )
                    .soap_fault_xml(xroad_fault::Spelling::Current)
                } else {
                    self.raw
                };
                Some(XRoadError::relayed(
                    f.code.clone().unwrap_or_default(),
                    f.string.clone().unwrap_or_default(),
                    f.actor.clone().unwrap_or_default(),
                    f.detail.clone().unwrap_or_default(),
                    raw,
                ))
            }
            Soap::Message(_) => None,
        };
        Ok((soap, fault))
    }
}
