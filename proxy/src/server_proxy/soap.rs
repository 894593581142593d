//! A SOAP request at the server proxy: checks, the call to the provider IS, the signed
//! response (Java's `ServerMessageProcessor`).

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use hyper::header::HeaderMap;
use hyper::Response;
use xroad_fault::{ErrorCode, XRoadError};
use xroad_message::request::validate_soap_action;
use xroad_message::soap::Soap;
use xroad_mime::{Event, MultipartReader};
use xroad_serverconf::DescriptionType;

use super::{header, soap_message, verify_client_auth, verify_signature, Peer};
use super::{HEADER_HASH_ALGO, HEADER_ORIGINAL_CONTENT_TYPE, HEADER_ORIGINAL_SOAP_ACTION, SHA_512};
use crate::context::ProxyContext;
use crate::metrics::{Direction, Exchange, Way};
use crate::spool::{Spool, Spooled};
use crate::transport::{self, Attachment, Body, MainPart, TransportMessage, TransportWriter};

pub(super) async fn process(
    ctx: &Arc<ProxyContext>,
    peer: &Peer,
    headers: &HeaderMap,
    message: TransportMessage,
    exchange: &mut Exchange<'_>,
) -> Result<Response<Body>, XRoadError> {
    let now = SystemTime::now();
    let soap_action =
        validate_soap_action(header(headers, HEADER_ORIGINAL_SOAP_ACTION))?.map(str::to_owned);
    let Some(MainPart::Soap(part)) = &message.main else {
        return Err(XRoadError::new(
            ErrorCode::MissingSoap,
            "Request does not have SOAP message",
        ));
    };
    let request = soap_message(&part.soap).ok_or_else(|| {
        XRoadError::new(ErrorCode::MissingSoap, "Request does not have SOAP message")
    })?;
    let service = &request.header.service;
    exchange.service(service);
    let sc = ctx.serverconf();
    if let Some(target) = &request.header.security_server {
        if Some(target) != sc.server_id() {
            return Err(XRoadError::new(
                ErrorCode::InvalidSecurityServer,
                format!(
                    "Invalid security server identifier '{target}' expected '{}'",
                    sc.server_id().map(ToString::to_string).unwrap_or_default()
                ),
            ));
        }
    }
    if !sc.client(service.provider()).is_some_and(|c| c.is_usable()) {
        return Err(XRoadError::new(
            ErrorCode::UnknownMember,
            format!("Client '{}' not found", service.provider()),
        ));
    }
    let signing = ctx.signing_context(service.provider())?;
    verify_client_auth(ctx, peer, &message, &request.header.client, now)?;
    if message.signature.is_none() {
        return Err(XRoadError::new(
            ErrorCode::MissingSignature,
            "Request does not have signature",
        ));
    }
    // Metaservices (issue 8): listMethods, allowedMethods and getWsdl are answered here, with
    // no access check; the signature is verified and the answer signed like any response.
    if crate::metaservices::is_soap_metaservice(service) {
        verify_signature(ctx, &message, &request.header.client, now)?;
        let answer = crate::metaservices::soap_handler(ctx, request, part).await?;
        return respond(ctx, &signing, part, answer).await;
    }
    let info = sc.service(service).ok_or_else(|| {
        XRoadError::new(
            ErrorCode::UnknownService,
            format!("Unknown service: {service}"),
        )
    })?;
    if info.description_type != DescriptionType::Wsdl {
        return Err(XRoadError::new(
            ErrorCode::InvalidServiceType,
            "Service is a REST service and cannot be called using SOAP interface",
        ));
    }
    if !sc.is_query_allowed(&request.header.client, service, None, None) {
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
    verify_signature(ctx, &message, &request.header.client, now)?;

    let url = info.url.clone().filter(|u| !u.is_empty()).ok_or_else(|| {
        XRoadError::new(
            ErrorCode::ServiceMissingUrl,
            format!("Service address not specified for '{service}'"),
        )
    })?;
    let pinned = if info.ssl_authentication {
        sc.client(service.provider())
            .map(|c| c.certificates.clone())
    } else {
        None
    };
    let original_ct = header(headers, HEADER_ORIGINAL_CONTENT_TYPE).unwrap_or("text/xml");
    let (content_type, body) = provider_request(part, &message.attachments, original_ct)?;
    let call_headers = vec![
        ("content-type".to_owned(), content_type),
        ("SOAPAction".to_owned(), soap_action.unwrap_or_default()),
        ("accept-encoding".to_owned(), String::new()),
    ];
    let response = ctx
        .service_client()
        .post(&url, call_headers, body, info.timeout, pinned)
        .await
        .map_err(|e| e.with_prefix(ErrorCode::ServiceFailed))?;
    respond(ctx, &signing, part, response).await
}

/// The provider's (or a metaservice's) response re-serialized with `requestHash`, signed and
/// sent to the client proxy.
async fn respond<B>(
    ctx: &Arc<ProxyContext>,
    signing: &crate::context::SigningContext,
    part: &transport::SoapPart,
    response: hyper::Response<B>,
) -> Result<Response<Body>, XRoadError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    // Java's `HttpSender` refuses a response without a content type while it is still
    // sending the request, before the server proxy starts its response: a plain fault.
    let Some(content_type) = header(response.headers(), "content-type").map(str::to_owned) else {
        return Err(XRoadError::new(
            ErrorCode::InvalidContentType,
            "Could not get content type from response",
        )
        .with_prefix(ErrorCode::ServiceFailed));
    };
    // From here on Java has started its response multipart, with the provider's content type
    // as `x-original-content-type`: failures become a fault part.
    let mut request_digest = [0u8; 64];
    if part.digest.as_bytes().len() == 64 {
        request_digest.copy_from_slice(part.digest.as_bytes());
    }
    // Java (`ServerMessageProcessor`) writes the SOAP part and the attachments as it parses
    // them: a failure after the SOAP part (an attachment cut short, signing) is a fault part
    // after what was written, instead of the signature.
    let read = read_provider_response(ctx, &content_type, response, &request_digest).await;
    let (mut provider, signed) = match read {
        Ok(provider) => {
            let signed = super::sign_response(ctx, signing, provider_signed_parts(&provider)).await;
            (provider, signed)
        }
        Err((e, Some(partial))) => (partial, Err(super::fault_part(ctx, e))),
        Err((e, None)) => return Ok(super::fault_multipart(ctx, e, Some(&content_type))),
    };
    let small = transport::in_memory(
        std::iter::once(&provider.soap).chain(provider.attachments.iter().map(|a| &a.data)),
    );
    let original_content_type = std::mem::take(&mut provider.original_content_type);
    let write = |mut w: TransportWriter| async move {
        w.spooled_part(
            &provider.soap_content_type,
            &provider.soap_headers,
            &provider.soap,
        )
        .await?;
        w.attachments(&provider.attachments).await?;
        match &signed {
            Ok(signed) => w.finish_signed(signed).await,
            Err(fault) => w.finish_with_fault(fault.clone()).await,
        }
    };
    let (ct, body) = transport::message_body(
        small,
        "server proxy: the response to the client proxy",
        write,
    )
    .await?;
    Response::builder()
        .status(200)
        .header("content-type", ct)
        .header(HEADER_HASH_ALGO, SHA_512)
        .header(HEADER_ORIGINAL_CONTENT_TYPE, original_content_type)
        .body(body)
        .map_err(|e| XRoadError::new(ErrorCode::InternalError, e.to_string()))
}

/// The request for the provider IS: a single SOAP document as `text/xml; charset=UTF-8`, or
/// the SOAP-with-attachments package rebuilt with the consumer's original boundary.
fn provider_request(
    part: &transport::SoapPart,
    attachments: &[Attachment],
    original_ct: &str,
) -> Result<(String, Body), XRoadError> {
    if attachments.is_empty() {
        return Ok((
            "text/xml; charset=UTF-8".to_owned(),
            transport::spooled_body(part.data.clone()),
        ));
    }
    let boundary =
        transport::boundary_of(original_ct).unwrap_or_else(|| "xroad-boundary".to_owned());
    let mut parts = vec![Attachment {
        content_type: part.content_type.clone(),
        headers: part.headers.clone(),
        data: part.data.clone(),
        digest: part.digest,
    }];
    parts.extend(attachments.iter().cloned());
    Ok((
        original_ct.to_owned(),
        transport::soap_package(&boundary, parts)?,
    ))
}

/// The provider's response as it will be signed and sent.
struct ProviderResponse {
    original_content_type: String,
    soap_content_type: String,
    soap_headers: Vec<(String, String)>,
    soap: Spooled,
    soap_digest: xroad_crypto::Digest,
    attachments: Vec<Attachment>,
}

fn provider_signed_parts(p: &ProviderResponse) -> Vec<(String, xroad_crypto::Digest)> {
    let mut parts = vec![("/message.xml".to_owned(), p.soap_digest)];
    for (i, a) in p.attachments.iter().enumerate() {
        parts.push((format!("/attachment{}", i + 1), a.digest));
    }
    parts
}

/// A provider response that could not be read: the error, and what was read whole before it
/// if that includes the SOAP part (a SOAP message, not a fault).
type ReadFailure = (XRoadError, Option<ProviderResponse>);

/// Reads the provider's response: the SOAP part re-serialized with `requestHash` (digest
/// §3.7), attachments spooled; a SOAP fault is relayed as it came.
async fn read_provider_response<B>(
    ctx: &ProxyContext,
    content_type: &str,
    response: hyper::Response<B>,
    request_digest: &[u8; 64],
) -> Result<ProviderResponse, ReadFailure>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let service_failed = |e: XRoadError| (e.with_prefix(ErrorCode::ServiceFailed), None);
    let ct = xroad_mime::ContentType::parse(content_type).map_err(|_| {
        service_failed(XRoadError::new(
            ErrorCode::InvalidContentType,
            format!("Invalid content type: {content_type}"),
        ))
    })?;
    let spool = ctx.settings().spool.clone();
    let mut reader = ResponseReader::new(&ct, request_digest, &spool).map_err(service_failed)?;
    match transport::read_body(response.into_body(), |c| reader.feed(c)).await {
        Ok(n) => ctx.metrics().add_bytes(Direction::Server, Way::Response, n),
        Err(e) => {
            let partial = reader
                .read_whole()
                .map(|done| provider_response(content_type, done));
            return Err((e.with_prefix(ErrorCode::ServiceFailed), partial));
        }
    }
    let done = reader.finish().map_err(service_failed)?;
    match done.soap {
        Soap::Fault(_) => Err((
            done.fault
                .unwrap_or_else(|| XRoadError::new(ErrorCode::InvalidMessage, "SOAP fault")),
            None,
        )),
        Soap::Message(_) => Ok(provider_response(content_type, done)),
    }
}

fn provider_response(original_content_type: &str, done: ReadResponse) -> ProviderResponse {
    ProviderResponse {
        original_content_type: original_content_type.to_owned(),
        soap_content_type: done.soap_content_type,
        soap_headers: done.soap_headers,
        soap: done.data,
        soap_digest: done.digest,
        attachments: done.attachments,
    }
}

/// What the response reader produced.
struct ReadResponse {
    soap_content_type: String,
    soap_headers: Vec<(String, String)>,
    data: Spooled,
    digest: xroad_crypto::Digest,
    soap: Soap,
    fault: Option<XRoadError>,
    attachments: Vec<Attachment>,
}

/// Reads the provider's SOAP response (single document or `multipart/related`, the first
/// part being the SOAP message), rewriting the SOAP part as it streams.
struct ResponseReader {
    multipart: Option<(MultipartReader, Vec<u8>)>,
    index: usize,
    soap: Option<SoapSink>,
    soap_done: Option<(Spooled, xroad_crypto::Digest, Soap, Option<XRoadError>)>,
    soap_content_type: String,
    soap_headers: Vec<(String, String)>,
    current: Option<PartInProgress>,
    attachments: Vec<Attachment>,
    spool: crate::spool::SpoolSettings,
    request_digest: [u8; 64],
}

/// An attachment being read.
struct PartInProgress {
    content_type: String,
    headers: Vec<(String, String)>,
    spool: Spool,
    hasher: xroad_crypto::Hasher,
}

struct SoapSink {
    rewriter: super::response::Rewriter,
    spool: Spool,
    hasher: xroad_crypto::Hasher,
    out: Vec<u8>,
}

impl SoapSink {
    fn new(
        request_digest: &[u8; 64],
        content_type: &str,
        spool: &crate::spool::SpoolSettings,
    ) -> Result<Self, XRoadError> {
        let charset = xroad_mime::ContentType::parse(content_type)
            .ok()
            .and_then(|c| c.charset().map(str::to_owned));
        Ok(SoapSink {
            rewriter: super::response::Rewriter::new(request_digest, charset.as_deref())?,
            spool: Spool::new(spool),
            hasher: xroad_crypto::DigestAlgorithm::Sha512.hasher(),
            // Room for a small response's rewritten bytes without growing (it is reused per
            // chunk; a larger chunk grows it once).
            out: Vec::with_capacity(8 * 1024),
        })
    }

    fn feed(&mut self, d: &[u8]) -> Result<(), XRoadError> {
        self.rewriter.feed(d, &mut self.out)?;
        self.flush()
    }

    fn flush(&mut self) -> Result<(), XRoadError> {
        self.hasher.update(&self.out);
        self.spool.write(&self.out)?;
        self.out.clear();
        Ok(())
    }

    fn finish(
        self,
    ) -> Result<(Spooled, xroad_crypto::Digest, Soap, Option<XRoadError>), XRoadError> {
        let SoapSink {
            rewriter,
            mut spool,
            mut hasher,
            mut out,
        } = self;
        let (soap, fault) = rewriter.finish(&mut out)?;
        hasher.update(&out);
        spool.write(&out)?;
        Ok((spool.finish()?, hasher.finish(), soap, fault))
    }
}

impl ResponseReader {
    fn new(
        ct: &xroad_mime::ContentType,
        request_digest: &[u8; 64],
        spool: &crate::spool::SpoolSettings,
    ) -> Result<Self, XRoadError> {
        let essence = ct.essence().to_ascii_lowercase();
        let mut r = ResponseReader {
            multipart: None,
            index: 0,
            soap: None,
            soap_done: None,
            soap_content_type: String::new(),
            soap_headers: Vec::new(),
            current: None,
            attachments: Vec::new(),
            spool: spool.clone(),
            request_digest: *request_digest,
        };
        match essence.as_str() {
            "text/xml" | "application/xop+xml" => {
                r.soap_content_type = ct.to_string();
                r.soap = Some(SoapSink::new(request_digest, &r.soap_content_type, spool)?);
            }
            "multipart/related" => {
                let boundary = ct.multipart_boundary().map_err(|_| {
                    XRoadError::new(
                        ErrorCode::InvalidContentType,
                        "Multipart content type is missing required boundary",
                    )
                })?;
                let reader = MultipartReader::new(boundary)
                    .map_err(|e| XRoadError::new(ErrorCode::MimeParsingFailed, e.to_string()))?;
                r.multipart = Some((reader, Vec::new()));
            }
            other => {
                return Err(XRoadError::new(
                    ErrorCode::InvalidContentType,
                    format!("Invalid content type: {other}"),
                ))
            }
        }
        Ok(r)
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<(), XRoadError> {
        self.step(chunk, false)
    }

    fn step(&mut self, chunk: &[u8], eof: bool) -> Result<(), XRoadError> {
        let Some((mut reader, mut pending)) = self.multipart.take() else {
            if let Some(s) = &mut self.soap {
                s.feed(chunk)?;
            }
            return Ok(());
        };
        pending.extend_from_slice(chunk);
        let mut pos = 0;
        let result = loop {
            let (used, event) = match reader.next_event(&pending[pos..], eof) {
                Ok(x) => x,
                Err(_) if eof => break Ok(()),
                Err(e) => break Err(XRoadError::new(ErrorCode::MimeParsingFailed, e.to_string())),
            };
            pos += used;
            match event {
                Event::NeedMore | Event::End => break Ok(()),
                Event::Headers(h) => {
                    if let Err(e) = self.end_part() {
                        break Err(e);
                    }
                    let ct = h.content_type().unwrap_or("").to_owned();
                    let headers: Vec<(String, String)> = h
                        .iter()
                        .filter(|(n, _)| !n.eq_ignore_ascii_case("content-type"))
                        .map(|(n, v)| (n.to_owned(), v.to_owned()))
                        .collect();
                    if self.index == 0 {
                        match SoapSink::new(&self.request_digest, &ct, &self.spool) {
                            Ok(s) => self.soap = Some(s),
                            Err(e) => break Err(e),
                        }
                        self.soap_content_type = ct;
                        self.soap_headers = headers;
                    } else {
                        self.current = Some(PartInProgress {
                            content_type: ct,
                            headers,
                            spool: Spool::new(&self.spool),
                            hasher: xroad_crypto::DigestAlgorithm::Sha512.hasher(),
                        });
                    }
                    self.index += 1;
                }
                Event::Data(d) => {
                    if let Some(s) = &mut self.soap {
                        if let Err(e) = s.feed(d) {
                            break Err(e);
                        }
                    } else if let Some(p) = &mut self.current {
                        p.hasher.update(d);
                        if let Err(e) = p.spool.write(d) {
                            break Err(e);
                        }
                    }
                }
                Event::PartEnd => {
                    if let Err(e) = self.end_part() {
                        break Err(e);
                    }
                }
            }
        };
        pending.drain(..pos);
        self.multipart = Some((reader, pending));
        result
    }

    fn end_part(&mut self) -> Result<(), XRoadError> {
        if let Some(s) = self.soap.take() {
            self.soap_done = Some(s.finish()?);
        } else if let Some(p) = self.current.take() {
            self.attachments.push(Attachment {
                content_type: p.content_type,
                headers: p.headers,
                data: p.spool.finish()?,
                digest: p.hasher.finish(),
            });
        }
        Ok(())
    }

    /// After a failure: the SOAP part and the attachments read before it, if the SOAP part
    /// was a message and was read whole. An attachment in progress comes with the bytes read
    /// of it: Java's encoder has streamed them out before the failure, then the fault part.
    fn read_whole(mut self) -> Option<ReadResponse> {
        let (data, digest, soap, fault) = self.soap_done.take()?;
        if !matches!(soap, Soap::Message(_)) {
            return None;
        }
        if let Some(p) = self.current.take() {
            match p.spool.finish() {
                Ok(data) => self.attachments.push(Attachment {
                    content_type: p.content_type,
                    headers: p.headers,
                    data,
                    digest: p.hasher.finish(),
                }),
                Err(e) => tracing::debug!("server proxy: a cut attachment is lost: {e}"),
            }
        }
        Some(ReadResponse {
            soap_content_type: self.soap_content_type,
            soap_headers: self.soap_headers,
            data,
            digest,
            soap,
            fault,
            attachments: self.attachments,
        })
    }

    fn finish(mut self) -> Result<ReadResponse, XRoadError> {
        self.step(&[], true)?;
        self.end_part()?;
        let (data, digest, soap, fault) = self.soap_done.ok_or_else(|| {
            XRoadError::new(
                ErrorCode::InvalidMessage,
                "No response message received from service",
            )
        })?;
        Ok(ReadResponse {
            soap_content_type: self.soap_content_type,
            soap_headers: self.soap_headers,
            data,
            digest,
            soap,
            fault,
            attachments: self.attachments,
        })
    }
}
