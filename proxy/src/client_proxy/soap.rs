//! A SOAP request at the client proxy.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response};
use xroad_crypto::{Digest, DigestAlgorithm};
use xroad_fault::{ErrorCode, XRoadError};
use xroad_message::request::{SoapRequest, SoapRequestDecoder};
use xroad_message::soap::Soap;

use super::{provider_addresses, verify_client_authentication, verify_client_status, IsConnection};
use crate::context::{ProxyContext, PROXY_VERSION};
use crate::metrics::{Direction, Exchange, Way};
use crate::peer;
use crate::server_proxy::{
    header, HEADER_HASH_ALGO, HEADER_ORIGINAL_CONTENT_TYPE, HEADER_ORIGINAL_SOAP_ACTION,
    HEADER_PROXY_VERSION, HEADER_REQUEST_ID, SHA_512,
};
use crate::spool::{Spool, Spooled};
use crate::transport::{self, Attachment, Body, MainPart, TransportWriter};

/// The request as read: the parsed headers and its parts, spooled.
struct ReadRequest {
    request: SoapRequest,
    parts: Vec<Spooled>,
    /// The IS request's `Content-Type` as sent (`x-original-content-type`).
    content_type: String,
}

async fn read_request(
    ctx: &ProxyContext,
    req: Request<Incoming>,
) -> Result<ReadRequest, XRoadError> {
    let (head, body) = req.into_parts();
    let content_type = header(&head.headers, "content-type")
        .unwrap_or("")
        .to_owned();
    let mut decoder = SoapRequestDecoder::new(
        head.method.as_str(),
        header(&head.headers, "content-type"),
        header(&head.headers, "soapaction"),
    )?;
    let settings = ctx.settings().spool.clone();
    let mut spools: Vec<Spool> = Vec::new();
    let mut total = 0u64;
    let mut sink = |leaf: usize, bytes: &[u8]| -> Result<(), XRoadError> {
        while spools.len() <= leaf {
            spools.push(Spool::new(&settings));
        }
        total += bytes.len() as u64;
        settings.check_total(total)?;
        spools[leaf].write(bytes)
    };
    let n = transport::read_body(body, |c| decoder.feed_with(c, &mut sink)).await?;
    ctx.metrics().add_bytes(Direction::Client, Way::Request, n);
    let request = decoder.finish_with(&mut sink)?;
    let parts = spools
        .into_iter()
        .map(Spool::finish)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ReadRequest {
        request,
        parts,
        content_type,
    })
}

pub(super) async fn process(
    ctx: &Arc<ProxyContext>,
    conn: &IsConnection,
    req: Request<Incoming>,
    exchange: &mut Exchange<'_>,
) -> Result<Response<Body>, XRoadError> {
    let now = SystemTime::now();
    ctx.globalconf(now)?;
    let ocsp = ctx.own_auth_ocsp_checked(now)?;
    let ReadRequest {
        request,
        parts,
        content_type: original_ct,
    } = read_request(ctx, req).await?;
    let header_info = &request.message.header;
    let client = &header_info.client;
    let service = &header_info.service;
    exchange.service(service);
    verify_client_status(ctx, client)?;
    verify_client_authentication(ctx, client, conn)?;
    let addresses = provider_addresses(ctx, service, header_info.security_server.as_ref(), now)?;

    // Sign before connecting: every digest is known once the request is read.
    let soap_digest = Digest::from_bytes(DigestAlgorithm::Sha512, &request.soap_digest)
        .ok_or_else(|| XRoadError::new(ErrorCode::InternalError, "bad digest"))?;
    let mut signed_parts = vec![("/message.xml".to_owned(), soap_digest)];
    let mut attachments = Vec::with_capacity(request.attachments.len());
    for (i, a) in request.attachments.iter().enumerate() {
        let d = Digest::from_bytes(DigestAlgorithm::Sha512, &a.digest)
            .ok_or_else(|| XRoadError::new(ErrorCode::InternalError, "bad digest"))?;
        signed_parts.push((format!("/attachment{}", i + 1), d));
        attachments.push(Attachment {
            content_type: a.content_type.clone(),
            headers: a.headers.clone(),
            data: parts.get(i + 1).cloned().unwrap_or_default(),
            digest: d,
        });
    }
    let signing = ctx.signing_context(client)?;
    let signed = ctx
        .signer()
        .sign_message(&signing.key_id, signing.builder.clone(), signed_parts)
        .await
        .map_err(|e| crate::context::signer_error(ErrorCode::CannotCreateSignature, e))?;

    let mut conn = peer::connect(ctx, ctx.connector(), &addresses, service.provider()).await?;
    let soap_part = parts.first().cloned().unwrap_or_default();
    let small = transport::in_memory(parts.iter());
    let soap_ct = request.soap_content_type.clone();
    let soap_headers = request.soap_part_headers.clone();
    let (sent, sent_rx) = tokio::sync::oneshot::channel::<()>();
    let write = |mut w: TransportWriter| async move {
        let _sent = sent;
        for o in ocsp {
            w.part(transport::OCSP_RESPONSE, &[], Bytes::from(o))
                .await?;
        }
        w.spooled_part(&soap_ct, &soap_headers, &soap_part).await?;
        w.attachments(&attachments).await?;
        w.finish_signed(&signed).await
    };
    let (content_type, body) =
        transport::message_body(small, "client proxy: the request body", write).await?;
    let request_id = uuid::Uuid::new_v4().to_string();
    let http = hyper::Request::post("/")
        .header("host", host_header(&conn.address, addresses.len()))
        .header("content-type", content_type)
        .header(HEADER_HASH_ALGO, SHA_512)
        .header(
            HEADER_PROXY_VERSION,
            HeaderValue::from_static(PROXY_VERSION),
        )
        .header(HEADER_ORIGINAL_CONTENT_TYPE, original_ct)
        .header(
            HEADER_ORIGINAL_SOAP_ACTION,
            request.soap_action.clone().unwrap_or_default(),
        )
        .header(HEADER_REQUEST_ID, &request_id)
        .body(body)
        .map_err(|e| XRoadError::new(ErrorCode::InternalError, e.to_string()))?;
    let exchange = async {
        conn.sender.ready().await.map_err(super::network)?;
        conn.sender.send_request(http).await.map_err(super::network)
    };
    let response = super::with_client_timeout(ctx, &conn.address, sent_rx, exchange).await?;
    let response = super::read_response(ctx, response).await?;
    ctx.peer_pool()
        .put_back(conn, ctx.settings().peer_pool_max_idle);
    let message = response.message;
    if let Some(fault) = message.fault {
        return Err(fault);
    }
    let Some(MainPart::Soap(part)) = &message.main else {
        return Err(XRoadError::new(
            ErrorCode::MissingSoap,
            "Response does not have SOAP message",
        ));
    };
    let Some(sig) = message.signature.as_deref() else {
        return Err(XRoadError::new(
            ErrorCode::MissingSignature,
            "Response does not have signature",
        ));
    };
    let response_soap = match &part.soap {
        Soap::Message(m) => m,
        Soap::Fault(_) => {
            return Err(XRoadError::new(
                ErrorCode::MissingSoap,
                "Response does not have SOAP message",
            ))
        }
    };
    let now = SystemTime::now();
    let gc = ctx.globalconf(now)?;
    message.verify_signature(sig, service.provider(), gc.trust(), now)?;
    xroad_message::response::check_response(&request.message, response_soap, &request.soap_digest)?;
    deliver(part, &message.attachments, response.original_content_type)
}

/// Java sends `localhost:5500` as the host when a provider has several addresses.
fn host_header(address: &str, candidates: usize) -> String {
    if candidates > 1 {
        "localhost:5500".to_owned()
    } else {
        address.to_owned()
    }
}

/// The verified response for the IS: the SOAP bytes as received (single part) or the
/// multipart rebuilt with the provider's original boundary.
fn deliver(
    part: &transport::SoapPart,
    attachments: &[Attachment],
    original_content_type: Option<String>,
) -> Result<Response<Body>, XRoadError> {
    if attachments.is_empty() {
        return Response::builder()
            .status(200)
            .header("content-type", "text/xml; charset=UTF-8")
            .body(transport::spooled_body(part.data.clone()))
            .map_err(|e| XRoadError::new(ErrorCode::InternalError, e.to_string()));
    }
    let ct = original_content_type.unwrap_or_else(|| "multipart/related; boundary=xroad".into());
    let boundary = transport::boundary_of(&ct).unwrap_or_else(|| "xroad".to_owned());
    let mut parts = vec![Attachment {
        content_type: part.content_type.clone(),
        headers: part.headers.clone(),
        data: part.data.clone(),
        digest: part.digest,
    }];
    parts.extend(attachments.iter().cloned());
    Response::builder()
        .status(200)
        .header("content-type", ct)
        .body(transport::soap_package(&boundary, parts)?)
        .map_err(|e| XRoadError::new(ErrorCode::InternalError, e.to_string()))
}
