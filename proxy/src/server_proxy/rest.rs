//! A REST request at the server proxy (Java's `ServerRestMessageProcessor`).

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use hyper::header::HeaderMap;
use hyper::Response;
use xroad_crypto::DigestAlgorithm;
use xroad_fault::{ErrorCode, XRoadError};
use xroad_message::rest::{request_digest, RestRequest, RestResponse};
use xroad_serverconf::DescriptionType;

use super::{fault_multipart, header, verify_client_auth, verify_signature, Peer};
use super::{HEADER_HASH_ALGO, HEADER_REQUEST_ID, SHA_512};
use crate::context::ProxyContext;
use crate::metrics::{Direction, Exchange, Way};
use crate::spool::Spool;
use crate::transport::{self, Body, MainPart, TransportMessage, TransportWriter};

pub(super) async fn process(
    ctx: &Arc<ProxyContext>,
    peer: &Peer,
    headers: &HeaderMap,
    message: TransportMessage,
    exchange: &mut Exchange<'_>,
) -> Result<Response<Body>, XRoadError> {
    let now = SystemTime::now();
    let Some(MainPart::Rest(part)) = &message.main else {
        return Err(missing_rest());
    };
    if part.response {
        return Err(missing_rest());
    }
    let rest = RestRequest::parse(&part.bytes)?;
    let service = rest.service();
    exchange.service(service);
    let client = rest.client();
    let sc = ctx.serverconf();
    if !sc.client(service.provider()).is_some_and(|c| c.is_usable()) {
        return Err(XRoadError::new(
            ErrorCode::UnknownMember,
            format!("Client '{}' not found", service.provider()),
        ));
    }
    let signing = ctx.signing_context(service.provider())?;
    verify_client_auth(ctx, peer, &message, client, now)?;
    if message.signature.is_none() {
        return Err(XRoadError::new(
            ErrorCode::MissingSignature,
            "Request does not have signature",
        ));
    }
    // Metaservices (issue 8): GET listMethods, allowedMethods and getOpenAPI are answered
    // here, with no access check; the signature is verified and the answer signed like any
    // response, its request hash over the header part only (digest §7.3).
    if crate::metaservices::is_rest_metaservice(&rest) {
        verify_signature(ctx, &message, client, now)?;
        let request_id = header(headers, HEADER_REQUEST_ID).unwrap_or("").to_owned();
        let digest = request_digest(&rest.header_part_bytes(), None);
        let answer =
            crate::metaservices::rest_handler(ctx, &rest)
                .await
                .map(|(content_type, body)| {
                    let mut h = rest.headers().to_vec();
                    h.push(("content-type".to_owned(), content_type));
                    let d = DigestAlgorithm::Sha512.digest(&body);
                    let body = Some((crate::spool::Spooled::from_bytes(body), d));
                    (200, "OK".to_owned(), h, body)
                });
        return respond(ctx, &signing, &rest, &request_id, &digest, answer).await;
    }
    let info = sc.service(service).ok_or_else(|| {
        XRoadError::new(
            ErrorCode::UnknownService,
            format!("Unknown service: {service}"),
        )
    })?;
    if info.description_type == DescriptionType::Wsdl {
        return Err(XRoadError::new(
            ErrorCode::InvalidServiceType,
            "Service is a SOAP service and cannot be called using REST interface",
        ));
    }
    if !sc.is_query_allowed(
        client,
        service,
        Some(rest.verb().as_str()),
        Some(rest.service_path()),
    ) {
        return Err(XRoadError::new(
            ErrorCode::AccessDenied,
            format!("Request is not allowed: {service}"),
        ));
    }
    if let Some(notice) = &info.disabled_notice {
        return Err(XRoadError::new(
            ErrorCode::ServiceDisabled,
            format!("Service {service} is disabled: {notice}"),
        ));
    }
    verify_signature(ctx, &message, client, now)?;

    // From here on Java's response encoder exists: failures become a fault part.
    let request_id = header(headers, HEADER_REQUEST_ID).unwrap_or("").to_owned();
    let body_digest = message.attachments.first().map(|a| {
        let mut d = [0u8; 64];
        d.copy_from_slice(&a.digest.as_bytes()[..64.min(a.digest.as_bytes().len())]);
        d
    });
    let digest = request_digest(&rest.header_part_bytes(), body_digest);
    let result = call_provider(ctx, &rest, &message, info.url.as_deref(), info.timeout, {
        if info.ssl_authentication {
            sc.client(service.provider())
                .map(|c| c.certificates.clone())
        } else {
            None
        }
    })
    .await;
    respond(ctx, &signing, &rest, &request_id, &digest, result).await
}

/// The provider's (or a metaservice's) answer signed and sent to the client proxy; a failure
/// becomes a fault part.
async fn respond(
    ctx: &Arc<ProxyContext>,
    signing: &crate::context::SigningContext,
    rest: &RestRequest,
    request_id: &str,
    digest: &[u8; 64],
    result: Result<ProviderAnswer, XRoadError>,
) -> Result<Response<Body>, XRoadError> {
    let result = result.map(|(status, reason, headers, body)| {
        let response =
            RestResponse::from_provider(rest, status, &reason, headers, request_id, digest);
        (response, body)
    });
    let (response, body) = match result {
        Ok(x) => x,
        // Java's REST server proxy sends no original content type.
        Err(e) => return Ok(fault_multipart(ctx, e, None)),
    };
    let header_part = Bytes::from(response.header_part_bytes());
    let mut parts = vec![(
        "/message.xml".to_owned(),
        DigestAlgorithm::Sha512.digest(&header_part),
    )];
    if let Some((_, d)) = &body {
        parts.push(("/attachment1".to_owned(), *d));
    }
    // Java (`ServerRestMessageProcessor`) has written the REST response part and its body
    // when it signs: a signing failure is a fault part after them, instead of the signature.
    let signed = super::sign_response(ctx, signing, parts).await;
    let small = transport::in_memory(body.iter().map(|(data, _)| data));
    let write = |mut w: TransportWriter| async move {
        w.part(transport::REST_RESPONSE, &[], header_part).await?;
        if let Some((data, _)) = &body {
            w.spooled_part(transport::REST_BODY, &[], data).await?;
        }
        match &signed {
            Ok(signed) => w.finish_signed(signed).await,
            Err(fault) => w.finish_with_fault(fault.clone()).await,
        }
    };
    let (ct, out) =
        transport::message_body(small, "server proxy: the REST response", write).await?;
    Response::builder()
        .status(200)
        .header("content-type", ct)
        .header(HEADER_HASH_ALGO, SHA_512)
        .body(out)
        .map_err(|e| XRoadError::new(ErrorCode::InternalError, e.to_string()))
}

fn missing_rest() -> XRoadError {
    XRoadError::new(ErrorCode::MissingRest, "Request does not have REST message")
}

/// The provider's status, reason phrase, headers and body (spooled, with its digest).
type ProviderAnswer = (
    u16,
    String,
    Vec<(String, String)>,
    Option<(crate::spool::Spooled, xroad_crypto::Digest)>,
);

/// Java's `concatPath`: the service address and the service path with one slash between.
fn concat_path(address: &str, path: &str) -> String {
    match (address.ends_with('/'), path.starts_with('/')) {
        (true, true) => format!("{address}{}", &path[1..]),
        (false, false) if !path.is_empty() => format!("{address}/{path}"),
        _ => format!("{address}{path}"),
    }
}

async fn call_provider(
    ctx: &ProxyContext,
    rest: &RestRequest,
    message: &TransportMessage,
    url: Option<&str>,
    timeout: std::time::Duration,
    pinned: Option<Vec<Vec<u8>>>,
) -> Result<ProviderAnswer, XRoadError> {
    // Unlike SOAP, Java does not prefix the provider call's failures with `service_failed`
    // (`ServerRestMessageProcessor` lets `restClient.execute` throw): an unreachable REST
    // service is `server.serverproxy.network_error` (digest §4.6).
    let address = url.filter(|u| !u.is_empty()).ok_or_else(|| {
        XRoadError::new(
            ErrorCode::ServiceMissingUrl,
            format!("Service address not specified for '{}'", rest.service()),
        )
    })?;
    let mut target = concat_path(address, rest.service_path());
    if let Some(q) = rest.query() {
        target.push('?');
        target.push_str(q);
    }
    let mut headers: Vec<(String, String)> = rest.headers().to_vec();
    let body = match message.attachments.first() {
        Some(a) => {
            headers.push(("content-length".to_owned(), a.data.len().to_string()));
            transport::spooled_body(a.data.clone())
        }
        None => transport::full_body(Bytes::new()),
    };
    let response = ctx
        .service_client()
        .send(
            rest.verb().as_str(),
            &target,
            headers,
            body,
            timeout,
            pinned,
        )
        .await?;
    let status = response.status().as_u16();
    let reason = response
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .and_then(|r| std::str::from_utf8(r.as_bytes()).ok().map(str::to_owned))
        .or_else(|| response.status().canonical_reason().map(str::to_owned))
        .unwrap_or_default();
    let resp_headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let has_entity = response.headers().contains_key("content-length")
        || response.headers().contains_key("transfer-encoding");
    let mut spool = Spool::new(&ctx.settings().spool);
    let mut hasher = DigestAlgorithm::Sha512.hasher();
    let limits = ctx.settings().spool.clone();
    let mut total = 0u64;
    transport::read_body(response.into_body(), |c| {
        total += c.len() as u64;
        limits.check_total(total)?;
        hasher.update(c);
        spool.write(c)
    })
    .await?;
    ctx.metrics()
        .add_bytes(Direction::Server, Way::Response, total);
    let body = if has_entity || !spool.is_empty() {
        Some((spool.finish()?, hasher.finish()))
    } else {
        None
    };
    Ok((status, reason, resp_headers, body))
}

#[cfg(test)]
mod tests {
    use super::concat_path;

    #[test]
    fn service_paths_join_with_one_slash() {
        assert_eq!(concat_path("http://a/api", "/pets"), "http://a/api/pets");
        assert_eq!(concat_path("http://a/api/", "/pets"), "http://a/api/pets");
        assert_eq!(concat_path("http://a/api", ""), "http://a/api");
        assert_eq!(concat_path("http://a/api", "pets"), "http://a/api/pets");
    }
}
