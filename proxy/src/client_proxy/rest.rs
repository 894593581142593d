//! A REST request at the client proxy (Java's `ClientRestMessageProcessor`).

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response};
use xroad_crypto::DigestAlgorithm;
use xroad_fault::{ErrorCode, Origin, XRoadError};
use xroad_message::rest::{request_digest, RestRequest, RestResponse};

use super::{
    provider_addresses, read_response, verify_client_authentication, verify_client_status,
    IsConnection,
};
use crate::context::{ProxyContext, PROXY_VERSION};
use crate::metrics::{Direction, Exchange, Way};
use crate::peer;
use crate::server_proxy::{
    header, HEADER_HASH_ALGO, HEADER_MESSAGE_TYPE, HEADER_ORIGINAL_CONTENT_TYPE,
    HEADER_PROXY_VERSION, HEADER_REQUEST_ID, SHA_512,
};
use crate::spool::Spool;
use crate::transport::{self, Body, MainPart, TransportWriter};

pub(super) async fn handle(
    ctx: &Arc<ProxyContext>,
    conn: &IsConnection,
    req: Request<Incoming>,
    exchange: &mut Exchange<'_>,
) -> Response<Body> {
    let accept: Vec<String> = req
        .headers()
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    match process(ctx, conn, req, exchange).await {
        Ok(r) => r,
        Err(e) => rest_error(ctx, e, &accept),
    }
}

/// A REST error for the information system: 500 for `server.*` codes, else 400, with the
/// `X-Road-Error` header and a JSON or XML body.
fn rest_error(ctx: &ProxyContext, e: XRoadError, accept: &[String]) -> Response<Body> {
    let spelling = ctx.settings().spelling;
    let e = e.with_origin(Origin::ClientProxy);
    let code = e.fault_code(spelling);
    tracing::info!("client proxy: {code}: {}", e.message());
    let r = e.rest_error(spelling, accept.iter().map(String::as_str));
    let mut response = Response::builder()
        .status(r.status)
        .header("content-type", r.content_type)
        .header("X-Road-Error", r.error_header)
        .body(transport::full_body(r.body))
        .unwrap_or_else(|_| Response::new(transport::full_body(Bytes::new())));
    crate::metrics::mark_fault(ctx.metrics(), &mut response, &code);
    response
}

async fn process(
    ctx: &Arc<ProxyContext>,
    conn: &IsConnection,
    req: Request<Incoming>,
    exchange: &mut Exchange<'_>,
) -> Result<Response<Body>, XRoadError> {
    let now = SystemTime::now();
    let gc = ctx.globalconf(now)?;
    let ocsp = ctx.own_auth_ocsp_checked(now)?;
    let (head, body) = req.into_parts();
    let request_id = uuid::Uuid::new_v4().to_string();
    let headers: Vec<(String, String)> = head
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let rest = RestRequest::from_client(
        head.method.as_str(),
        head.uri.path(),
        head.uri.query(),
        headers,
        &request_id,
        gc.instance(),
    )?;
    exchange.service(rest.service());
    verify_client_status(ctx, rest.client())?;
    verify_client_authentication(ctx, rest.client(), conn)?;
    let addresses = provider_addresses(ctx, rest.service(), rest.security_server(), now)?;

    let limits = ctx.settings().spool.clone();
    let mut spool = Spool::new(&limits);
    let mut hasher = DigestAlgorithm::Sha512.hasher();
    let mut total = 0u64;
    transport::read_body(body, |c| {
        total += c.len() as u64;
        limits.check_total(total)?;
        hasher.update(c);
        spool.write(c)
    })
    .await?;
    ctx.metrics()
        .add_bytes(Direction::Client, Way::Request, total);
    let body = (!spool.is_empty())
        .then(|| spool.finish().map(|s| (s, hasher.finish())))
        .transpose()?;
    let header_part = Bytes::from(rest.header_part_bytes());
    let header_digest = DigestAlgorithm::Sha512.digest(&header_part);
    let mut parts = vec![("/message.xml".to_owned(), header_digest)];
    if let Some((_, d)) = &body {
        parts.push(("/attachment1".to_owned(), *d));
    }
    let body_digest: Option<[u8; 64]> = body
        .as_ref()
        .and_then(|(_, d)| d.as_bytes().try_into().ok());
    let digest = request_digest(&header_part, body_digest);

    let signing = ctx.signing_context(rest.client())?;
    let signed = ctx
        .signer()
        .sign_message(&signing.key_id, signing.builder.clone(), parts)
        .await
        .map_err(|e| crate::context::signer_error(ErrorCode::CannotCreateSignature, e))?;
    let mut conn =
        peer::connect(ctx, ctx.connector(), &addresses, rest.service().provider()).await?;
    let small = transport::in_memory(body.iter().map(|(data, _)| data));
    let sent_header_part = header_part.clone();
    let (sent, sent_rx) = tokio::sync::oneshot::channel::<()>();
    let write = |mut w: TransportWriter| async move {
        let _sent = sent;
        for o in ocsp {
            w.part(transport::OCSP_RESPONSE, &[], Bytes::from(o))
                .await?;
        }
        w.part(transport::REST_REQUEST, &[], sent_header_part)
            .await?;
        if let Some((data, _)) = &body {
            w.spooled_part(transport::REST_BODY, &[], data).await?;
        }
        w.finish_signed(&signed).await
    };
    let (content_type, out) =
        transport::message_body(small, "client proxy: the REST request body", write).await?;
    let original_ct = header(&head.headers, "content-type")
        .unwrap_or("")
        .to_owned();
    let http = hyper::Request::post("/")
        .header("host", conn.address.clone())
        .header("content-type", content_type)
        .header(HEADER_HASH_ALGO, SHA_512)
        .header(
            HEADER_PROXY_VERSION,
            HeaderValue::from_static(PROXY_VERSION),
        )
        .header(HEADER_ORIGINAL_CONTENT_TYPE, original_ct)
        .header(HEADER_MESSAGE_TYPE, HeaderValue::from_static("REST"))
        .header(HEADER_REQUEST_ID, &request_id)
        .body(out)
        .map_err(|e| XRoadError::new(ErrorCode::InternalError, e.to_string()))?;
    let exchange = async {
        conn.sender.ready().await.map_err(super::network)?;
        conn.sender.send_request(http).await.map_err(super::network)
    };
    let response = super::with_client_timeout(ctx, &conn.address, sent_rx, exchange).await?;
    let response = read_response(ctx, response).await?;
    ctx.peer_pool()
        .put_back(conn, ctx.settings().peer_pool_max_idle);
    let message = response.message;
    if let Some(fault) = message.fault {
        return Err(fault);
    }
    let Some(MainPart::Rest(part)) = &message.main else {
        return Err(XRoadError::new(
            ErrorCode::MissingRest,
            "Response does not have REST message",
        ));
    };
    let Some(sig) = message.signature.as_deref() else {
        return Err(XRoadError::new(
            ErrorCode::MissingSignature,
            "Response does not have signature",
        ));
    };
    let now = SystemTime::now();
    let gc = ctx.globalconf(now)?;
    message.verify_signature(sig, rest.service().provider(), gc.trust(), now)?;
    let response =
        RestResponse::parse(&part.bytes).map_err(|e| e.with_prefix(ErrorCode::ServiceFailed))?;
    response.check_consistency(&rest, &digest)?;

    let mut builder = Response::builder().status(response.status());
    for (n, v) in response.headers() {
        builder = builder.header(n.as_str(), v.as_str());
    }
    let body = match message.attachments.into_iter().next() {
        Some(a) => transport::spooled_body(a.data),
        None => transport::full_body(Bytes::new()),
    };
    builder
        .body(body)
        .map_err(|e| XRoadError::new(ErrorCode::InternalError, e.to_string()))
}
