//! The server proxy (port 5500): other security servers send it signed transport messages over
//! mutual TLS; it checks the sender, the signature and the access rights, calls the provider's
//! information system, and answers with a signed response (Java's `ServerProxyHandler`,
//! `ServerMessageProcessor`, `ServerRestMessageProcessor`; digest §5.8.2).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper::header::{AsHeaderName, HeaderMap, HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use xroad_confclient::GlobalConf;
use xroad_crypto::ocsp::OcspResponse;
use xroad_crypto::{Certificate, DigestAlgorithm};
use xroad_fault::{ErrorCode, Origin, XRoadError};
use xroad_identifiers::ClientId;
use xroad_message::soap::Soap;

use crate::context::ProxyContext;
use crate::metrics::{Direction, Exchange, Protocol, TlsSide, Way};
use crate::transport::{self, Body, MainPart, TransportDecoder, TransportMessage, TransportWriter};
use crate::TlsAcceptor;

mod response;
mod rest;
mod soap;

// Header names and fixed values as constants of `http`'s own types: a name or value built
// from a `&str` is copied to the heap on every message.
pub(crate) const HEADER_HASH_ALGO: HeaderName = HeaderName::from_static("x-hash-algorithm");
pub(crate) const HEADER_PROXY_VERSION: HeaderName = HeaderName::from_static("x-proxy-version");
pub(crate) const HEADER_ORIGINAL_CONTENT_TYPE: HeaderName =
    HeaderName::from_static("x-original-content-type");
pub(crate) const HEADER_ORIGINAL_SOAP_ACTION: HeaderName =
    HeaderName::from_static("x-original-soapaction");
pub(crate) const HEADER_REQUEST_ID: HeaderName = HeaderName::from_static("x-road-request-id");
pub(crate) const HEADER_MESSAGE_TYPE: HeaderName = HeaderName::from_static("x-road-message-type");
/// The value of [`HEADER_HASH_ALGO`] that X-Road sends.
pub(crate) const SHA_512: HeaderValue = HeaderValue::from_static("SHA-512");

/// What the TLS handshake established about the sending security server.
#[derive(Debug)]
pub(crate) struct Peer {
    /// Its certificate chain as sent, end-entity first.
    pub chain: Vec<Arc<Certificate>>,
    /// The last client authentication that passed on this connection.
    authenticated: Mutex<Option<Authenticated>>,
}

impl Peer {
    pub(crate) fn new(chain: Vec<Arc<Certificate>>) -> Peer {
        Peer {
            chain,
            authenticated: Mutex::new(None),
        }
    }
}

/// How long a passed client authentication is reused on a connection for the same client,
/// OCSP responses and global configuration. Java caches OCSP verification results for 60 s
/// (`proxy.ocsp-verifier-cache-period`); we reuse the whole check for less.
const AUTH_REUSE: Duration = Duration::from_secs(10);

/// What a passed client authentication depended on.
#[derive(Debug)]
struct Authenticated {
    client: ClientId,
    ocsp: Vec<Vec<u8>>,
    globalconf: Arc<GlobalConf>,
    at: SystemTime,
}

impl Authenticated {
    fn still_holds(
        &self,
        client: &ClientId,
        ocsp: &[Vec<u8>],
        gc: &Arc<GlobalConf>,
        now: SystemTime,
    ) -> bool {
        self.client == *client
            && self.ocsp == ocsp
            && Arc::ptr_eq(&self.globalconf, gc)
            && now
                .duration_since(self.at)
                .is_ok_and(|age| age < AUTH_REUSE)
    }
}

/// Accepts connections from other security servers until `shutdown` completes; connections
/// already open finish their messages.
pub async fn serve_server_proxy(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ctx: Arc<ProxyContext>,
    shutdown: impl Future<Output = ()> + Send,
) {
    crate::listener::accept_loop(
        listener,
        "server proxy",
        shutdown,
        move |tcp, addr, watcher| {
            let acceptor = acceptor.clone();
            let ctx = ctx.clone();
            async move {
                let accepted = acceptor.accept(tcp).await;
                ctx.metrics()
                    .tls_handshake(TlsSide::Server, accepted.is_ok());
                let conn = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::info!("server proxy: TLS from {addr} refused: {e}");
                        return;
                    }
                };
                let chain = conn
                    .peer_chain()
                    .iter()
                    .filter_map(|der| Certificate::from_der(der).ok().map(Arc::new))
                    .collect();
                let peer = Arc::new(Peer::new(chain));
                let keep_alive = ctx.settings().pooled_connections;
                let service = service_fn(move |req| {
                    let ctx = ctx.clone();
                    let peer = peer.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(ctx, peer, req).await) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .keep_alive(keep_alive)
                    .serve_connection(TokioIo::new(conn), service);
                if let Err(e) = watcher.watch(connection).await {
                    tracing::debug!("server proxy: connection from {addr} ended: {e}");
                }
            }
        },
    )
    .await;
}

async fn handle(ctx: Arc<ProxyContext>, peer: Arc<Peer>, req: Request<Incoming>) -> Response<Body> {
    let protocol = if header(req.headers(), HEADER_MESSAGE_TYPE) == Some("REST") {
        Protocol::Rest
    } else {
        Protocol::Soap
    };
    let mut exchange = ctx.metrics().exchange(Direction::Server, protocol);
    let response = respond_to(&ctx, &peer, req, &mut exchange).await;
    exchange.finish(&response);
    response
}

async fn respond_to(
    ctx: &Arc<ProxyContext>,
    peer: &Peer,
    req: Request<Incoming>,
    exchange: &mut Exchange<'_>,
) -> Response<Body> {
    let spelling = ctx.settings().spelling;
    let close = !ctx.settings().pooled_connections;
    match process(ctx, peer, req, exchange).await {
        Ok(mut r) => {
            if close {
                r.headers_mut().insert(
                    hyper::header::CONNECTION,
                    hyper::header::HeaderValue::from_static("close"),
                );
            }
            r
        }
        Err(e) => {
            let e = e.with_origin(Origin::ServerProxy);
            let code = e.fault_code(spelling);
            tracing::info!("server proxy: {code}: {}", e.message());
            let mut r = plain_fault(&e, spelling, close);
            crate::metrics::mark_fault(ctx.metrics(), &mut r, &code);
            r
        }
    }
}

/// A fault before the response multipart started: HTTP 200 with the SOAP fault (digest §5.9).
fn plain_fault(e: &XRoadError, spelling: xroad_fault::Spelling, close: bool) -> Response<Body> {
    let mut b = Response::builder()
        .status(200)
        .header(hyper::header::CONTENT_TYPE, "text/xml;charset=utf-8");
    if close {
        b = b.header(hyper::header::CONNECTION, "close");
    }
    b.body(transport::full_body(e.soap_fault_xml(spelling)))
        .unwrap_or_else(|_| Response::new(transport::full_body(Bytes::new())))
}

pub(crate) fn header(h: &HeaderMap, name: impl AsHeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn process(
    ctx: &Arc<ProxyContext>,
    peer: &Peer,
    req: Request<Incoming>,
    exchange: &mut Exchange<'_>,
) -> Result<Response<Body>, XRoadError> {
    if req.method() != hyper::Method::POST {
        return Err(XRoadError::new(
            ErrorCode::InvalidHttpMethod,
            format!("Must use POST request method instead of {}", req.method()),
        ));
    }
    let now = SystemTime::now();
    ctx.globalconf(now)?;
    let (parts, body) = req.into_parts();
    let hash = match header(&parts.headers, HEADER_HASH_ALGO) {
        Some(name) => DigestAlgorithm::from_name(name).ok_or_else(|| {
            XRoadError::new(
                ErrorCode::InternalError,
                format!("Unsupported hash algorithm: {name}"),
            )
        })?,
        None => {
            return Err(XRoadError::new(
                ErrorCode::InternalError,
                "Could not get hash algorithm identifier from message",
            ))
        }
    };
    let content_type = header(&parts.headers, "content-type").unwrap_or("");
    let read = async {
        let mut decoder = TransportDecoder::new(content_type, hash, ctx.settings().spool.clone())?;
        let n = transport::read_body(body, |c| decoder.feed(c)).await?;
        ctx.metrics().add_bytes(Direction::Server, Way::Request, n);
        decoder.finish()
    };
    let message = read
        .await
        .map_err(|e| e.with_prefix(ErrorCode::ServiceFailed))?;
    let rest = header(&parts.headers, HEADER_MESSAGE_TYPE) == Some("REST");
    match (&message.main, rest) {
        (Some(MainPart::Rest(_)), true) => {
            rest::process(ctx, peer, &parts.headers, message, exchange).await
        }
        (_, true) => Err(XRoadError::new(
            ErrorCode::MissingRest,
            "Request does not have REST message",
        )),
        _ => soap::process(ctx, peer, &parts.headers, message, exchange).await,
    }
}

/// Java's `verifySslClientCert`: the OCSP responses sent with the request must prove the TLS
/// certificate of the sending server, and that server must host `client`.
pub(crate) fn verify_client_auth(
    ctx: &ProxyContext,
    peer: &Peer,
    message: &TransportMessage,
    client: &ClientId,
    now: SystemTime,
) -> Result<(), XRoadError> {
    let gc = ctx.globalconf(now)?;
    let reuse = |a: &Option<Authenticated>| {
        a.as_ref()
            .is_some_and(|a| a.still_holds(client, &message.ocsp, &gc, now))
    };
    if peer.authenticated.lock().is_ok_and(|a| reuse(&a)) {
        return Ok(());
    }
    let params = gc.directory().all_shared();
    let ocsp: Vec<Arc<OcspResponse>> = message
        .ocsp
        .iter()
        .map(|der| OcspResponse::from_der(der).map(Arc::new))
        .collect::<Result<_, _>>()
        .map_err(|e| e.with_prefix(ErrorCode::SslAuthenticationFailed))?;
    crate::authtrust::verify_auth_cert(&peer.chain, &ocsp, client, &params, gc.trust(), now)
        .map_err(|e| XRoadError::new(ErrorCode::SslAuthenticationFailed, e.message()))?;
    if let Ok(mut a) = peer.authenticated.lock() {
        *a = Some(Authenticated {
            client: client.clone(),
            ocsp: message.ocsp.clone(),
            globalconf: gc.clone(),
            at: now,
        });
    }
    Ok(())
}

/// Verifies the request's signature: signed by `client`, over the message's parts.
pub(crate) fn verify_signature(
    ctx: &ProxyContext,
    message: &TransportMessage,
    client: &ClientId,
    now: SystemTime,
) -> Result<(), XRoadError> {
    let sig = message.signature.as_deref().ok_or_else(|| {
        XRoadError::new(
            ErrorCode::MissingSignature,
            "Request does not have signature",
        )
    })?;
    let gc = ctx.globalconf(now)?;
    message.verify_signature(sig, client, gc.trust(), now)
}

/// Whether a parsed SOAP part is a message (a fault as a request counts as none).
pub(crate) fn soap_message(soap: &Soap) -> Option<&xroad_message::soap::SoapMessage> {
    match soap {
        Soap::Message(m) => Some(m),
        Soap::Fault(_) => None,
    }
}

/// The fault part of a response whose multipart has started (digest §5.9): `e` raised by
/// the server proxy, logged and counted, as SOAP fault XML.
pub(crate) fn fault_part(ctx: &ProxyContext, e: XRoadError) -> Bytes {
    let spelling = ctx.settings().spelling;
    let e = e.with_origin(xroad_fault::Origin::ServerProxy);
    let code = e.fault_code(spelling);
    tracing::info!("server proxy: {code}: {}", e.message());
    ctx.metrics().error(&code);
    Bytes::from(e.soap_fault_xml(spelling))
}

/// Signs the response parts; a failure becomes the fault part that follows the parts already
/// written (Java's `encoder.fault()` after the response parts, instead of the signature).
pub(crate) async fn sign_response(
    ctx: &ProxyContext,
    signing: &crate::context::SigningContext,
    parts: Vec<(String, xroad_crypto::Digest)>,
) -> Result<xroad_signer::SignedMessage, Bytes> {
    ctx.signer()
        .sign_message(&signing.key_id, signing.builder.clone(), parts)
        .await
        .map_err(|e| {
            fault_part(
                ctx,
                crate::context::signer_error(ErrorCode::CannotCreateSignature, e),
            )
        })
}

/// A fault after the response multipart started but before any of its parts was written
/// (the provider's response could not be read): the fault is its only part (digest §5.9).
/// `original_content_type` is the provider's content type, sent as Java's
/// `ServerMessageProcessor#parseResponse` adds it before it parses the response.
pub(crate) fn fault_multipart(
    ctx: &ProxyContext,
    e: XRoadError,
    original_content_type: Option<&str>,
) -> Response<Body> {
    let Ok((w, ct)) = TransportWriter::buffered() else {
        let spelling = ctx.settings().spelling;
        let e = e.with_origin(xroad_fault::Origin::ServerProxy);
        let mut r = plain_fault(&e, spelling, false);
        crate::metrics::mark_fault(ctx.metrics(), &mut r, &e.fault_code(spelling));
        return r;
    };
    let xml = fault_part(ctx, e);
    // In memory, the writer never waits: the message is complete at once.
    let body = match w.finish_with_fault(xml).now_or_never() {
        Some(Ok(bytes)) => transport::full_body(bytes),
        _ => transport::full_body(Bytes::new()),
    };
    let mut r = Response::builder()
        .status(200)
        .header("content-type", ct)
        .header(HEADER_HASH_ALGO, SHA_512);
    if let Some(original) = original_content_type {
        r = r.header(HEADER_ORIGINAL_CONTENT_TYPE, original);
    }
    let mut r = r
        .body(body)
        .unwrap_or_else(|_| Response::new(transport::full_body(Bytes::new())));
    // Counted as a fault message; the code was counted by fault_part.
    r.extensions_mut().insert(crate::metrics::Fault);
    r
}
