//! The REST request: read by the client proxy from the information system, carried to the
//! provider as a header part, read back there.

use xroad_fault::{ErrorCode, Origin, XRoadError};
use xroad_identifiers::{ClientId, SecurityServerId, ServiceId};

use super::ids::{decode_client, decode_path, decode_represented_party, decode_security_server};
use super::{
    find_header, internal, is_skipped, java, name_is, serialize, split_header, RepresentedParty,
    Verb, HEADER_CLIENT, HEADER_ISSUE, HEADER_MESSAGE_ID, HEADER_REPRESENTED_PARTY,
    HEADER_REQUEST_HASH, HEADER_REQUEST_ID, HEADER_SECURITY_SERVER, HEADER_USER_ID,
};

/// A REST request as the security servers see it: the request line, the forwarded headers and
/// the X-Road identifiers decoded from them.
///
/// The header list is what goes into the header part and, on the provider side, to the
/// provider information system; the typed fields are derived from it and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestRequest {
    verb: Verb,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    service: ServiceId,
    service_path: String,
    client: ClientId,
    message_id: String,
    request_id: Option<String>,
    security_server: Option<SecurityServerId>,
    represented_party: Option<RepresentedParty>,
}

/// The X-Road headers, read in header order as `RestRequest.decodeHeaders` does: for each
/// name the last occurrence wins, but every occurrence is decoded (and may fail).
#[derive(Default)]
struct XRoadHeaders {
    client: Option<ClientId>,
    message_id: Option<String>,
    request_id: Option<String>,
    security_server: Option<SecurityServerId>,
    represented_party: Option<RepresentedParty>,
}

impl XRoadHeaders {
    fn decode(headers: &[(String, String)]) -> Result<Self, XRoadError> {
        let mut x = XRoadHeaders::default();
        for (name, value) in headers {
            if name_is(name, HEADER_CLIENT) {
                x.client = Some(decode_client(value)?);
            } else if name_is(name, HEADER_MESSAGE_ID) {
                x.message_id = Some(value.clone());
            } else if name == HEADER_REQUEST_ID {
                // Case-sensitive in Java: only the lower-case header the proxy adds counts.
                x.request_id = Some(value.clone());
            } else if name_is(name, HEADER_SECURITY_SERVER) {
                x.security_server = Some(decode_security_server(value)?);
            } else if name_is(name, HEADER_REPRESENTED_PARTY) {
                x.represented_party = decode_represented_party(value)?;
            }
        }
        Ok(x)
    }
}

fn client_proxy(e: XRoadError) -> XRoadError {
    e.with_origin(Origin::ClientProxy)
}

fn missing_client() -> XRoadError {
    XRoadError::new(
        ErrorCode::InvalidClientIdentifier,
        "The client identifier is missing",
    )
}

impl RestRequest {
    /// Reads an information system's request on the client proxy (Java: the `RestRequest`
    /// constructor, then `verifyClientStatus` and `setQueryId`).
    ///
    /// `path` and `query` are raw (percent-encoded, as received; `query` is `Some("")` for a
    /// bare `?`); `headers` are the request's header fields in received order; `request_id`
    /// is the UUID of this exchange; `instance` is the own X-Road instance.
    ///
    /// Headers are kept in order with their values as given, minus the hop-by-hop set and any
    /// `X-Road-Request-Id` / `X-Road-Request-Hash`; then `x-road-request-id:{request_id}` is
    /// appended and, if no `X-Road-Id` came, `x-road-id:{instance}-{fresh UUID}`.
    ///
    /// Errors carry origin `server.clientproxy` (HTTP 500): `internal_error` for a bad method,
    /// path or X-Road header, `invalid_client_identifier` if `X-Road-Client` is missing. They
    /// are reported in Java's order: method, path, headers in order, missing client, and
    /// last a blank subsystem code in the path (which Java detects even later, after the
    /// client's registration checks).
    pub fn from_client<H, N, V>(
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: H,
        request_id: &str,
        instance: &str,
    ) -> Result<RestRequest, XRoadError>
    where
        H: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<String>,
    {
        Self::from_client_with(method, path, query, headers, request_id, || {
            format!("{instance}-{}", uuid::Uuid::new_v4())
        })
    }

    /// [`RestRequest::from_client`] with the message id generator given.
    pub(super) fn from_client_with<H, N, V>(
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: H,
        request_id: &str,
        new_message_id: impl FnOnce() -> String,
    ) -> Result<RestRequest, XRoadError>
    where
        H: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<String>,
    {
        let verb: Verb = method.parse().map_err(client_proxy)?;
        let mut headers: Vec<(String, String)> = headers
            .into_iter()
            .map(|(n, v)| (n.into(), v.into()))
            .filter(|(n, _)| {
                !is_skipped(n) && !name_is(n, HEADER_REQUEST_ID) && !name_is(n, HEADER_REQUEST_HASH)
            })
            .collect();
        headers.push((HEADER_REQUEST_ID.to_owned(), request_id.to_owned()));
        let ids = decode_path(path).map_err(client_proxy)?;
        let x = XRoadHeaders::decode(&headers).map_err(client_proxy)?;
        let client = x.client.ok_or_else(|| client_proxy(missing_client()))?;
        let service = ids.service.map_err(client_proxy)?;
        let message_id = match x.message_id {
            // Even an empty X-Road-Id counts as given.
            Some(id) => id,
            None => {
                let id = new_message_id();
                headers.push((HEADER_MESSAGE_ID.to_owned(), id.clone()));
                id
            }
        };
        Ok(RestRequest {
            verb,
            path: path.to_owned(),
            query: query.map(str::to_owned),
            headers,
            service,
            service_path: ids.service_path,
            client,
            message_id,
            request_id: x.request_id,
            security_server: x.security_server,
            represented_party: x.represented_party,
        })
    }

    /// Reads a request header part as the Java server proxy does (`RestRequest(byte[])`):
    /// bytes decoded as UTF-8 with replacement, lines ending at CR, LF or CRLF, the verb exact,
    /// the second line a relative URI (its fragment dropped), every further line a
    /// `name:value` header whose name is not a hop-by-hop one.
    ///
    /// Errors are `internal_error` without origin; the Java server proxy reports them as
    /// `server.serverproxy.service_failed.internal_error` (its multipart decoder adds
    /// `service_failed`). A part without `X-Road-Client` or `x-road-id` is refused here, where
    /// Java would fail later on the null value.
    pub fn parse(part: &[u8]) -> Result<RestRequest, XRoadError> {
        let text = String::from_utf8_lossy(part);
        let mut lines = java::lines(&text);
        // Java: `Verb.valueOf(null)` for an empty part.
        let verb: Verb = lines
            .next()
            .ok_or_else(|| internal("Name is null"))?
            .parse()?;
        let uri = lines
            .next()
            .ok_or_else(|| internal("Invalid request URI"))?;
        let (path, query) = java::parse_request_uri(uri)?;
        let headers = lines.map(split_header).collect::<Result<Vec<_>, _>>()?;
        let ids = decode_path(path)?;
        let x = XRoadHeaders::decode(&headers)?;
        // Java's server proxy first uses the provider id, then the client id.
        let service = ids.service?;
        let client = x.client.ok_or_else(missing_client)?;
        let message_id = x
            .message_id
            .ok_or_else(|| internal("Missing x-road-id header"))?;
        Ok(RestRequest {
            verb,
            path: path.to_owned(),
            query: query.map(str::to_owned),
            headers,
            service,
            service_path: ids.service_path,
            client,
            message_id,
            request_id: x.request_id,
            security_server: x.security_server,
            represented_party: x.represented_party,
        })
    }

    /// The header part: `{VERB}\r\n{path}[?{query}]\r\n` and `{name}:{value}\r\n` per header.
    ///
    /// For a parsed part this is Java's re-serialization, over which the provider computes
    /// the request hash.
    pub fn header_part_bytes(&self) -> Vec<u8> {
        match &self.query {
            Some(query) => serialize(self.verb.as_str(), &[&self.path, "?", query], &self.headers),
            None => serialize(self.verb.as_str(), &[&self.path], &self.headers),
        }
    }

    /// The HTTP method.
    pub fn verb(&self) -> Verb {
        self.verb
    }

    /// The raw request path, `/r1/…`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw query, if the request line had a `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The headers of the header part, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The service called (from the path).
    pub fn service(&self) -> &ServiceId {
        &self.service
    }

    /// The raw path after the service code (`/v2/pets/1`, `/`), or empty; appended to the
    /// service's address on the provider side.
    pub fn service_path(&self) -> &str {
        &self.service_path
    }

    /// The consumer (`X-Road-Client`).
    pub fn client(&self) -> &ClientId {
        &self.client
    }

    /// The message id (`X-Road-Id`), given or generated.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The exchange id (`x-road-request-id`); always present on the client proxy side.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// `X-Road-UserId`, first occurrence.
    pub fn user_id(&self) -> Option<&str> {
        find_header(&self.headers, HEADER_USER_ID)
    }

    /// `X-Road-Issue`, first occurrence.
    pub fn issue(&self) -> Option<&str> {
        find_header(&self.headers, HEADER_ISSUE)
    }

    /// The targeted security server (`X-Road-Security-Server`).
    pub fn security_server(&self) -> Option<&SecurityServerId> {
        self.security_server.as_ref()
    }

    /// The represented party (`X-Road-Represented-Party`); its code is always set.
    pub fn represented_party(&self) -> Option<&RepresentedParty> {
        self.represented_party.as_ref()
    }
}
