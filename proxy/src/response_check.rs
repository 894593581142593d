//! Consumer-side checks of a SOAP response (interim, until the message crate's lands).

use base64::Engine as _;
use xroad_fault::{ErrorCode, XRoadError};
use xroad_message::soap::SoapMessage;

/// The response must answer the request (same client, service, id…) and carry its hash.
pub(crate) fn check_soap_response(
    request: &SoapMessage,
    response: &SoapMessage,
    request_digest: &[u8; 64],
) -> Result<(), XRoadError> {
    let (a, b) = (&request.header, &response.header);
    if a.client != b.client || a.service != b.service || a.id != b.id {
        return Err(XRoadError::new(
            ErrorCode::InconsistentResponse,
            "Response from server proxy is not consistent with request",
        ));
    }
    let hash = b.request_hash.as_ref().ok_or_else(|| {
        XRoadError::new(ErrorCode::InconsistentResponse, "Response from server proxy is missing request message hash")
    })?;
    let clean: String = hash.value.chars().filter(|c| !c.is_whitespace()).collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(clean)
        .unwrap_or_default();
    if decoded != request_digest {
        return Err(XRoadError::new(
            ErrorCode::InconsistentResponse,
            "Request message hash does not match request message",
        ));
    }
    Ok(())
}
