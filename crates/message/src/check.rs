//! The operator's message checker: runs the client proxy's request checks on a message held
//! in a file, to find out why the security server refuses it.
//!
//! It routes like the client proxy (a raw path starting with `/r1/` is REST, anything else is
//! SOAP) and calls the same readers the proxy uses, so its verdict is the proxy's.

use std::io::Read;

use serde::Serialize;
use xroad_fault::XRoadError;

use crate::request::{SoapRequest, SoapRequestDecoder};
use crate::rest::{is_rest_path, RestRequest};

/// Size of the chunks the body is read in (the proxy sees network-sized chunks too).
const CHUNK: usize = 64 * 1024;

/// The HTTP request line and headers of a message to check.
#[derive(Debug, Clone)]
pub struct HttpRequestHead<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The raw (percent-encoded) request path.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    /// The HTTP headers in order.
    pub headers: &'a [(String, String)],
    /// The own X-Road instance (used for generated REST message ids).
    pub instance: &'a str,
}

impl HttpRequestHead<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request the client proxy would accept.
#[derive(Debug, Serialize)]
#[serde(tag = "protocol")]
pub enum Accepted {
    /// An X-Road SOAP 4.0 request.
    #[serde(rename = "SOAP")]
    Soap(Box<SoapRequest>),
    /// An X-Road REST r1 request.
    #[serde(rename = "REST", serialize_with = "rest_view")]
    Rest(Box<RestRequest>),
}

/// What an operator wants to see of a REST request, including the exact header part the
/// client proxy would sign and send.
fn rest_view<S: serde::Serializer>(r: &RestRequest, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct View<'a> {
        verb: &'a str,
        path: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        query: Option<&'a str>,
        client: &'a xroad_identifiers::ClientId,
        service: &'a xroad_identifiers::ServiceId,
        service_path: &'a str,
        message_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        issue: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        security_server: Option<&'a xroad_identifiers::SecurityServerId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        represented_party: Option<&'a crate::soap::RepresentedParty>,
        header_part: String,
    }
    View {
        verb: r.verb().as_str(),
        path: r.path(),
        query: r.query(),
        client: r.client(),
        service: r.service(),
        service_path: r.service_path(),
        message_id: r.message_id(),
        user_id: r.user_id(),
        issue: r.issue(),
        security_server: r.security_server(),
        represented_party: r.represented_party(),
        header_part: String::from_utf8_lossy(&r.header_part_bytes()).into_owned(),
    }
    .serialize(s)
}

/// Runs the client proxy's checks on `head` and `body`. The outer error is a failure to read
/// the body; the inner one is the fault the client proxy would answer.
pub fn check_request(
    head: &HttpRequestHead<'_>,
    mut body: impl Read,
) -> std::io::Result<Result<Accepted, XRoadError>> {
    if is_rest_path(head.path) {
        let request_id = uuid::Uuid::new_v4().to_string();
        let rest = RestRequest::from_client(
            head.method,
            head.path,
            head.query,
            head.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            &request_id,
            head.instance,
        );
        return Ok(rest.map(|r| Accepted::Rest(Box::new(r))));
    }
    let mut decoder = match SoapRequestDecoder::new(
        head.method,
        head.header("content-type"),
        head.header("soapaction"),
    ) {
        Ok(d) => d,
        Err(fault) => return Ok(Err(fault)),
    };
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Err(fault) = decoder.feed(&buf[..n]) {
            return Ok(Err(fault));
        }
    }
    Ok(decoder.finish().map(|r| Accepted::Soap(Box::new(r))))
}
