//! The REST response header part: built by the provider security server around the provider
//! information system's response, read and checked by the consumer security server.

use base64::Engine;
use xroad_fault::{ErrorCode, Origin, XRoadError};
use xroad_identifiers::{ClientId, ServiceId};

use super::ids::{decode_client, decode_service};
use super::{
    internal, is_skipped, java, name_is, serialize, split_header, RestRequest, HEADER_CLIENT,
    HEADER_MESSAGE_ID, HEADER_REQUEST_HASH, HEADER_REQUEST_ID, HEADER_SERVICE,
};

/// A REST response as the security servers see it: the provider's status line and headers
/// plus the X-Road headers that tie it to its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestResponse {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    message_id: String,
    request_hash: Vec<u8>,
    client: Option<ClientId>,
    service: Option<ServiceId>,
    request_id: Option<String>,
}

/// The response headers the provider security server sets itself: any the provider
/// information system sent are dropped (`x-road-service` is not among them, so the
/// provider's own copy stays and the header appears twice).
const REPLACED_HEADERS: [&str; 4] = [
    HEADER_MESSAGE_ID,
    HEADER_REQUEST_HASH,
    HEADER_CLIENT,
    HEADER_REQUEST_ID,
];

fn inconsistent(message: &str) -> XRoadError {
    XRoadError::new(ErrorCode::InconsistentResponse, message).with_origin(Origin::ClientProxy)
}

impl RestResponse {
    /// Wraps the provider information system's response on the provider security server
    /// (Java: the `RestResponse` constructor).
    ///
    /// `headers` are the provider's response headers in order; hop-by-hop ones and
    /// `x-road-id`, `x-road-request-hash`, `x-road-client`, `x-road-request-id` are dropped,
    /// then `x-road-id`, `x-road-client`, `x-road-service`, `x-road-request-id` and
    /// `x-road-request-hash` are appended in this order. `request_id` is the
    /// `x-road-request-id` HTTP header of the client proxy's request (not the one in the
    /// header part); `request_hash` is [`super::request_digest`] of the request.
    pub fn from_provider<H, N, V>(
        request: &RestRequest,
        status: u16,
        reason: &str,
        headers: H,
        request_id: &str,
        request_hash: &[u8],
    ) -> RestResponse
    where
        H: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<String>,
    {
        let mut list: Vec<(String, String)> = headers
            .into_iter()
            .map(|(n, v)| (n.into(), v.into()))
            .filter(|(n, _)| !is_skipped(n) && !REPLACED_HEADERS.iter().any(|r| name_is(n, r)))
            .collect();
        let hash = base64::engine::general_purpose::STANDARD.encode(request_hash);
        for (name, value) in [
            (HEADER_MESSAGE_ID, request.message_id().to_owned()),
            (HEADER_CLIENT, request.client().to_rest()),
            (HEADER_SERVICE, request.service().to_rest()),
            (HEADER_REQUEST_ID, request_id.to_owned()),
            (HEADER_REQUEST_HASH, hash),
        ] {
            list.push((name.to_owned(), value));
        }
        RestResponse {
            status,
            reason: reason.to_owned(),
            headers: list,
            message_id: request.message_id().to_owned(),
            request_hash: request_hash.to_vec(),
            client: Some(request.client().clone()),
            service: Some(request.service().clone()),
            request_id: Some(request_id.to_owned()),
        }
    }

    /// Reads a response header part as the Java client proxy does (`RestResponse.of`): bytes
    /// decoded as UTF-8 with replacement, lines ending at CR, LF or CRLF, the status a
    /// decimal integer, then the reason phrase, then `name:value` headers (no hop-by-hop
    /// ones). `x-road-client` and `x-road-service` are decoded if present (last one wins);
    /// `x-road-id` and `x-road-request-hash` (lenient base64) must be present and non-empty.
    ///
    /// Errors are `internal_error` without origin; the Java client proxy reports them as
    /// `server.clientproxy.service_failed.internal_error`.
    pub fn parse(part: &[u8]) -> Result<RestResponse, XRoadError> {
        const INVALID: &str = "Invalid REST Response message";
        let text = String::from_utf8_lossy(part);
        let mut lines = java::lines(&text);
        // `Integer.parseInt(line, 10)`: optional sign, decimal digits, within `int`.
        let status = match lines.next() {
            None => return Err(internal("Cannot parse null string: null")),
            Some(line) => match line.parse::<i32>() {
                Err(_) => return Err(internal(format!("For input string: \"{line}\""))),
                Ok(code) => u16::try_from(code)
                    .map_err(|_| internal(format!("Invalid HTTP status code {code}")))?,
            },
        };
        // Without a reason line there are no headers either, hence no x-road-id.
        let reason = lines.next().ok_or_else(|| internal(INVALID))?.to_owned();
        let headers = lines.map(split_header).collect::<Result<Vec<_>, _>>()?;

        let (mut message_id, mut request_hash) = (None, None);
        let (mut client, mut service, mut request_id) = (None, None, None);
        for (name, value) in &headers {
            if name_is(name, HEADER_MESSAGE_ID) {
                message_id = Some(value.clone());
            } else if name_is(name, HEADER_REQUEST_HASH) {
                request_hash =
                    Some(java::parse_base64_binary(value).ok_or_else(|| internal(INVALID))?);
            } else if name_is(name, HEADER_SERVICE) {
                service = Some(decode_service(value)?);
            } else if name_is(name, HEADER_CLIENT) {
                client = Some(decode_client(value)?);
            } else if name_is(name, HEADER_REQUEST_ID) {
                request_id = Some(value.clone());
            }
        }
        let message_id = message_id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| internal(INVALID))?;
        let request_hash = request_hash
            .filter(|hash| !hash.is_empty())
            .ok_or_else(|| internal(INVALID))?;
        Ok(RestResponse {
            status,
            reason,
            headers,
            message_id,
            request_hash,
            client,
            service,
            request_id,
        })
    }

    /// The header part: `{status}\r\n{reason}\r\n` and `{name}:{value}\r\n` per header.
    pub fn header_part_bytes(&self) -> Vec<u8> {
        serialize(&self.status.to_string(), &[&self.reason], &self.headers)
    }

    /// The consumer security server's checks that a response belongs to `request`
    /// (`ClientRestMessageProcessor#checkConsistency`), in Java's order: client, message id,
    /// service, exchange id, then the request hash against `request_digest`
    /// ([`super::request_digest`] of what was sent). Errors are
    /// `server.clientproxy.inconsistent_response`.
    pub fn check_consistency(
        &self,
        request: &RestRequest,
        request_digest: &[u8],
    ) -> Result<(), XRoadError> {
        if self.client.as_ref() != Some(request.client()) {
            return Err(inconsistent(
                "Response client id does not match request message",
            ));
        }
        if self.message_id != request.message_id() {
            return Err(inconsistent(
                "Response message id does not match request message",
            ));
        }
        if self.service.as_ref() != Some(request.service()) {
            return Err(inconsistent(
                "Response service id does not match request message",
            ));
        }
        if self.request_id.as_deref() != request.request_id() {
            return Err(inconsistent(
                "Response message request id does not match request message",
            ));
        }
        if self.request_hash != request_digest {
            return Err(inconsistent(
                "Response message hash does not match request message",
            ));
        }
        Ok(())
    }

    /// The provider's HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The provider's reason phrase (may be empty).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The headers of the header part, in order; all of them go to the information system.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The message id (`x-road-id`), never empty.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The decoded `x-road-request-hash`, never empty.
    pub fn request_hash(&self) -> &[u8] {
        &self.request_hash
    }

    /// The consumer (`x-road-client`), if present.
    pub fn client(&self) -> Option<&ClientId> {
        self.client.as_ref()
    }

    /// The service (`x-road-service`), if present.
    pub fn service(&self) -> Option<&ServiceId> {
        self.service.as_ref()
    }

    /// The exchange id (`x-road-request-id`), if present.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}
