//! The client proxy (ports 8080/8443): information systems send it SOAP 4.0 and REST r1
//! requests; it checks the client, signs the request, sends it to the provider's security
//! server, verifies the signed response and only then hands it over (Java's
//! `ClientProxy`, `ClientMessageProcessor`, `ClientRestMessageProcessor`; digest §5.8.1).

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use xroad_fault::{ErrorCode, Origin, XRoadError};
use xroad_identifiers::{ClientId, SecurityServerId, ServiceId};
use xroad_serverconf::IsAuthentication;

use crate::context::ProxyContext;
use crate::metrics::{Direction, Protocol, Way};
use crate::server_proxy::{header, HEADER_HASH_ALGO, HEADER_ORIGINAL_CONTENT_TYPE};
use crate::transport::{self, Body, TransportDecoder};
use xroad_crypto::DigestAlgorithm;

mod https;
mod rest;
mod soap;

pub use https::{internal_tls, internal_tls_config, serve_client_proxy_https, InternalTls};

/// How the information system reached the client proxy.
#[derive(Debug, Clone, Default)]
pub struct IsConnection {
    /// Plain HTTP rather than HTTPS.
    pub plaintext: bool,
    /// The client certificate it presented over HTTPS (DER).
    pub cert: Option<Vec<u8>>,
    /// The certificate is this server's own internal TLS certificate: a local connection,
    /// trusted whatever the client's IS certificates.
    pub own_cert: bool,
}

/// Serves information systems on plain HTTP until `shutdown` completes.
pub async fn serve_client_proxy(
    listener: TcpListener,
    ctx: Arc<ProxyContext>,
    shutdown: impl Future<Output = ()> + Send,
) {
    crate::listener::accept_loop(
        listener,
        "client proxy",
        shutdown,
        move |tcp, addr, watcher| {
            let conn = IsConnection {
                plaintext: true,
                cert: None,
                own_cert: false,
            };
            serve_is_connection(ctx.clone(), conn, tcp, addr, watcher)
        },
    )
    .await;
}

/// Serves the requests an information system sends over one connection.
pub(crate) async fn serve_is_connection<I>(
    ctx: Arc<ProxyContext>,
    conn: IsConnection,
    io: I,
    addr: std::net::SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = Arc::new(conn);
    let service = service_fn(move |req| {
        let ctx = ctx.clone();
        let conn = conn.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(&ctx, &conn, req).await) }
    });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!("client proxy: connection from {addr} ended: {e}");
    }
}

/// Handles one request of an information system.
pub async fn handle(
    ctx: &Arc<ProxyContext>,
    conn: &IsConnection,
    req: Request<Incoming>,
) -> Response<Body> {
    // Metaservices (issue 8): `GET /listClients` is answered from the global configuration.
    if crate::metaservices::is_list_clients(&req) {
        return crate::metaservices::list_clients(ctx, &req).unwrap_or_else(|e| soap_fault(ctx, e));
    }
    let rest = xroad_message::rest::is_rest_path(req.uri().path());
    let protocol = if rest { Protocol::Rest } else { Protocol::Soap };
    let mut exchange = ctx.metrics().exchange(Direction::Client, protocol);
    let response = if rest {
        rest::handle(ctx, conn, req, &mut exchange).await
    } else {
        match soap::process(ctx, conn, req, &mut exchange).await {
            Ok(r) => r,
            Err(e) => soap_fault(ctx, e),
        }
    };
    exchange.finish(&response);
    response
}

/// A SOAP fault for the information system: HTTP 200, `text/xml;charset=utf-8` (relayed
/// faults as they came).
pub(crate) fn soap_fault(ctx: &ProxyContext, e: XRoadError) -> Response<Body> {
    let spelling = ctx.settings().spelling;
    let e = e.with_origin(Origin::ClientProxy);
    let code = e.fault_code(spelling);
    tracing::info!("client proxy: {code}: {}", e.message());
    let mut r = Response::builder()
        .status(200)
        .header("content-type", "text/xml;charset=utf-8")
        .body(transport::full_body(e.soap_fault_xml(spelling)))
        .unwrap_or_else(|_| Response::new(transport::full_body(Bytes::new())));
    crate::metrics::mark_fault(ctx.metrics(), &mut r, &code);
    r
}

/// Java's `verifyClientStatus`: the client must be registered here.
pub(crate) fn verify_client_status(
    ctx: &ProxyContext,
    client: &ClientId,
) -> Result<(), XRoadError> {
    if !ctx
        .serverconf()
        .client(client)
        .is_some_and(|c| c.is_usable())
    {
        return Err(XRoadError::new(
            ErrorCode::UnknownMember,
            format!("Client '{client}' not found"),
        ));
    }
    Ok(())
}

/// Java's `verifyClientAuthentication` (`MessageProcessorBase`): the IS connection must match
/// the client's setting. Its `CodedException`s get the client proxy's prefix
/// (`AbstractClientProxyHandler` catches them as any `Throwable`):
/// `server.clientproxy.ssl_authentication_failed`. The certificate's validity period is not
/// checked, as Java's default (`enforce-client-is-cert-validity-period-check` false).
pub(crate) fn verify_client_authentication(
    ctx: &ProxyContext,
    client: &ClientId,
    conn: &IsConnection,
) -> Result<(), XRoadError> {
    let sc = ctx.serverconf();
    let Some(local) = sc.client(client) else {
        return Err(XRoadError::new(
            ErrorCode::InternalError,
            format!("Client '{client}' not found"),
        ));
    };
    let failed = |m: String| XRoadError::new(ErrorCode::SslAuthenticationFailed, m);
    match local.is_authentication {
        IsAuthentication::NoSsl => Ok(()),
        IsAuthentication::SslNoAuth if conn.plaintext => Err(failed(format!(
            "Client ({client}) specifies HTTPS NO AUTH but client made plaintext connection"
        ))),
        IsAuthentication::SslNoAuth => Ok(()),
        IsAuthentication::SslAuth => {
            let Some(cert) = &conn.cert else {
                return Err(failed(format!(
                    "Client ({client}) specifies HTTPS but did not supply TLS certificate"
                )));
            };
            // Java does not check the certificate of a local TLS connection.
            if conn.own_cert {
                return Ok(());
            }
            if local.certificates.is_empty() {
                return Err(failed(format!("Client ({client}) has no IS certificates")));
            }
            if !local.has_certificate(cert) {
                return Err(failed(format!(
                    "Client ({client}) TLS certificate does not match any IS certificates"
                )));
            }
            Ok(())
        }
    }
}

/// The addresses of the security servers that host the service provider, as Java's
/// `getServiceAddresses`: minus those in maintenance, or only the targeted one.
pub(crate) fn provider_addresses(
    ctx: &ProxyContext,
    service: &ServiceId,
    target: Option<&SecurityServerId>,
    now: SystemTime,
) -> Result<Vec<String>, XRoadError> {
    let gc = ctx.globalconf(now)?;
    addresses_for(
        gc.directory().shared(service.provider().instance()),
        service,
        target,
    )
}

/// [`provider_addresses`] over the provider instance's shared parameters.
fn addresses_for(
    params: Option<&xroad_globalconf::SharedParameters>,
    service: &ServiceId,
    target: Option<&SecurityServerId>,
) -> Result<Vec<String>, XRoadError> {
    let provider = service.provider();
    let servers: Vec<_> = params
        .map(|p| p.servers_hosting(provider).collect())
        .unwrap_or_default();
    let hosts: Vec<&xroad_globalconf::SecurityServer> = servers
        .into_iter()
        .filter(|s| s.address.is_some())
        .collect();
    if hosts.is_empty() {
        return Err(XRoadError::new(
            ErrorCode::UnknownMember,
            format!("Could not find addresses for service provider \"{service}\""),
        ));
    }
    let maintenance = |id: Option<&SecurityServerId>, address: &str, message: &str| {
        let mut m = String::from("Security server");
        if let Some(id) = id {
            m.push_str(&format!(" \"{id}\""));
        }
        if !address.is_empty() {
            m.push_str(&format!(" with address \"{address}\""));
        }
        m.push_str(" is in maintenance mode");
        if !message.is_empty() {
            let who = id
                .map(ToString::to_string)
                .unwrap_or_else(|| address.to_owned());
            m.push_str(&format!(
                ". Message from \"{who}\" administrator: {message}"
            ));
        }
        XRoadError::new(ErrorCode::MaintenanceMode, m)
    };
    if let Some(target) = target {
        let server = params.and_then(|p| p.server(target)).ok_or_else(|| {
            XRoadError::new(
                ErrorCode::InvalidSecurityServer,
                format!("Could not find security server \"{target}\""),
            )
        })?;
        let Some(address) = server.address.clone() else {
            return Err(XRoadError::new(
                ErrorCode::InvalidSecurityServer,
                format!("Could not find security server \"{target}\""),
            ));
        };
        if !hosts
            .iter()
            .any(|h| h.address.as_deref() == Some(address.as_str()))
        {
            return Err(XRoadError::new(
                ErrorCode::InvalidSecurityServer,
                format!("Invalid security server \"{target}\""),
            ));
        }
        if let Some(message) = &server.in_maintenance {
            return Err(maintenance(Some(target), &address, message));
        }
        return Ok(vec![address]);
    }
    let mut addresses = Vec::new();
    let mut first_maintenance = None;
    for h in hosts {
        let address = h.address.clone().unwrap_or_default();
        match &h.in_maintenance {
            Some(message) => {
                first_maintenance.get_or_insert_with(|| maintenance(None, &address, message));
            }
            None => addresses.push(address),
        }
    }
    if addresses.is_empty() {
        return Err(first_maintenance.unwrap_or_else(|| {
            XRoadError::new(
                ErrorCode::UnknownMember,
                format!("Could not find suitable address for service provider \"{service}\""),
            )
        }));
    }
    Ok(addresses)
}

pub(crate) fn network(e: hyper::Error) -> XRoadError {
    XRoadError::new(ErrorCode::NetworkError, crate::provider::error_chain(&e))
}

/// The client timeout passed without a byte from the provider's security server: Java's
/// socket read timeout, a `SocketTimeoutException` "Read timed out". That is an
/// `IOException` and no `SocketException`, so `XrdRuntimeException#resolveExceptionCode`
/// (common-core `XrdRuntimeException.java`, lines 293 and 296) makes it `io_error`, and
/// `AbstractClientProxyHandler#handle` (lines 152-156) gives it the client proxy's prefix:
/// `server.clientproxy.io_error` while waiting for the response head; while reading the body
/// it is inside `ProxyMessageDecoder#parse`, whose part handlers translate it and whose
/// failures `ClientMessageProcessor#parseResponse` prefixes with `service_failed`.
pub(crate) fn timed_out(ctx: &ProxyContext, address: &str) -> XRoadError {
    tracing::info!(
        "client proxy: no response from {address} in {} s",
        ctx.settings().client_timeout.as_secs()
    );
    XRoadError::new(ErrorCode::IoError, "Read timed out")
}

/// Runs `exchange` (send the request, wait for the response head) with the client timeout
/// counted from when the request body has been sent whole (`sent` fires or is dropped by the
/// body writer), as Java's read timeout does: sending a large body takes as long as the peer
/// reads it. The body is read with the same timeout between reads ([`read_peer_body`]).
pub(crate) async fn with_client_timeout<T>(
    ctx: &ProxyContext,
    address: &str,
    sent: tokio::sync::oneshot::Receiver<()>,
    exchange: impl std::future::Future<Output = Result<T, XRoadError>>,
) -> Result<T, XRoadError> {
    let timeout = ctx.settings().client_timeout;
    if timeout.is_zero() {
        // Java's default `client-httpclient-timeout` 0: the provider's service timeout bounds
        // the wait instead.
        return exchange.await;
    }
    tokio::select! {
        r = exchange => r,
        () = async {
            let _ = sent.await;
            tokio::time::sleep(timeout).await;
        } => Err(timed_out(ctx, address)),
    }
}

pub(crate) struct PeerResponse {
    pub message: transport::TransportMessage,
    pub original_content_type: Option<String>,
}

pub(crate) async fn read_response(
    ctx: &ProxyContext,
    response: hyper::Response<Incoming>,
) -> Result<PeerResponse, XRoadError> {
    crate::provider::check_response_status(&response)?;
    decode_response(ctx, response)
        .await
        .map_err(|e| e.with_prefix(ErrorCode::ServiceFailed))
}

/// Java's `ProxyMessageDecoder#parse` of the response: its failures (content type, a body cut
/// short, malformed parts) are `service_failed`, e.g. `service_failed.io_error`.
async fn decode_response(
    ctx: &ProxyContext,
    response: hyper::Response<Incoming>,
) -> Result<PeerResponse, XRoadError> {
    let headers = response.headers().clone();
    let content_type = header(&headers, "content-type")
        .map(str::to_owned)
        .ok_or_else(|| {
            XRoadError::new(
                ErrorCode::InvalidContentType,
                "Could not get content type from response",
            )
        })?;
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "text/xml" {
        // A fault before the provider started its response.
        const LIMIT: usize = 8 << 20;
        let mut body = Vec::new();
        transport::read_body_idle(ctx.settings().client_timeout, response.into_body(), |c| {
            if body.len() + c.len() > LIMIT {
                return Err(XRoadError::new(
                    ErrorCode::IoError,
                    "Error reading a response: length limit exceeded",
                ));
            }
            body.extend_from_slice(c);
            Ok(())
        })
        .await?;
        let fault = transport::fault_of(&body)?.ok_or_else(|| {
            XRoadError::new(
                ErrorCode::InvalidMessage,
                "Expected fault message, but got reqular SOAP message",
            )
        })?;
        return Ok(PeerResponse {
            message: transport::TransportMessage {
                fault: Some(fault),
                ..Default::default()
            },
            original_content_type: None,
        });
    }
    let missing = || {
        XRoadError::new(
            ErrorCode::InternalError,
            "Could not get hash algorithm identifier from message",
        )
    };
    let Some(hash) = header(&headers, HEADER_HASH_ALGO).and_then(DigestAlgorithm::from_name) else {
        // Java notices the missing algorithm only when it hashes the first part: the content
        // type is checked first, and a body that breaks off before any data fails as the I/O
        // error it is.
        TransportDecoder::new(
            &content_type,
            DigestAlgorithm::Sha512,
            ctx.settings().spool.clone(),
        )?;
        transport::read_body_idle(ctx.settings().client_timeout, response.into_body(), |c| {
            if c.is_empty() {
                Ok(())
            } else {
                Err(missing())
            }
        })
        .await?;
        return Err(missing());
    };
    let mut decoder = TransportDecoder::new(&content_type, hash, ctx.settings().spool.clone())?;
    let n = transport::read_body_idle(ctx.settings().client_timeout, response.into_body(), |c| {
        decoder.feed(c)
    })
    .await?;
    ctx.metrics().add_bytes(Direction::Client, Way::Response, n);
    Ok(PeerResponse {
        message: decoder.finish()?,
        original_content_type: header(&headers, HEADER_ORIGINAL_CONTENT_TYPE).map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use futures_util::StreamExt;
    use hyper::body::Frame;
    use xroad_globalconf::{SecurityServer, SharedParameters};
    use xroad_identifiers::{ClientId, SecurityServerId, ServiceId};

    use super::addresses_for;

    fn member(code: &str) -> ClientId {
        ClientId::member("DEV", "GOV", code).unwrap()
    }

    fn server(
        code: &str,
        address: Option<&str>,
        clients: Vec<ClientId>,
        maintenance: Option<&str>,
    ) -> SecurityServer {
        SecurityServer {
            owner: member("1"),
            server_code: code.into(),
            address: address.map(Into::into),
            auth_cert_hashes: Vec::new(),
            clients,
            in_maintenance: maintenance.map(Into::into),
        }
    }

    fn params(servers: Vec<SecurityServer>) -> SharedParameters {
        SharedParameters {
            instance: "DEV".into(),
            security_servers: servers,
            ..SharedParameters::default()
        }
    }

    fn service() -> ServiceId {
        let provider = ClientId::subsystem("DEV", "GOV", "2", "sub").unwrap();
        ServiceId::new(provider, "getPerson", None).unwrap()
    }

    fn provider() -> ClientId {
        ClientId::subsystem("DEV", "GOV", "2", "sub").unwrap()
    }

    #[test]
    fn every_hosting_server_not_in_maintenance_is_a_candidate() {
        let p = params(vec![
            server("SS1", Some("ss1.example.org"), vec![provider()], None),
            server("SS2", Some("ss2.example.org"), vec![provider()], Some("")),
            server("SS3", Some("ss3.example.org"), vec![], None),
            server("SS4", Some("ss4.example.org"), vec![provider()], None),
        ]);
        assert_eq!(
            addresses_for(Some(&p), &service(), None).unwrap(),
            ["ss1.example.org", "ss4.example.org"]
        );
    }

    #[test]
    fn no_server_is_unknown_member_and_all_in_maintenance_says_so() {
        let e = addresses_for(Some(&params(vec![])), &service(), None).unwrap_err();
        assert_eq!(e.error_code(), Some(xroad_fault::ErrorCode::UnknownMember));
        assert_eq!(
            e.message(),
            "Could not find addresses for service provider \"SERVICE:DEV/GOV/2/sub/getPerson\""
        );
        let p = params(vec![server(
            "SS1",
            Some("ss1"),
            vec![provider()],
            Some("upgrade"),
        )]);
        let e = addresses_for(Some(&p), &service(), None).unwrap_err();
        assert_eq!(
            e.error_code(),
            Some(xroad_fault::ErrorCode::MaintenanceMode)
        );
        assert_eq!(
            e.message(),
            "Security server with address \"ss1\" is in maintenance mode. Message from \"ss1\" administrator: upgrade"
        );
    }

    #[test]
    fn a_targeted_server_must_host_the_provider() {
        let p = params(vec![
            server("SS1", Some("ss1"), vec![provider()], None),
            server("SS2", Some("ss2"), vec![], None),
        ]);
        let ss1 = SecurityServerId::new(member("1"), "SS1").unwrap();
        assert_eq!(
            addresses_for(Some(&p), &service(), Some(&ss1)).unwrap(),
            ["ss1"]
        );
        let ss2 = SecurityServerId::new(member("1"), "SS2").unwrap();
        let e = addresses_for(Some(&p), &service(), Some(&ss2)).unwrap_err();
        assert_eq!(
            e.error_code(),
            Some(xroad_fault::ErrorCode::InvalidSecurityServer)
        );
        assert_eq!(
            e.message(),
            "Invalid security server \"SERVER:DEV/GOV/1/SS2\""
        );
        let ss9 = SecurityServerId::new(member("1"), "SS9").unwrap();
        let e = addresses_for(Some(&p), &service(), Some(&ss9)).unwrap_err();
        assert_eq!(
            e.message(),
            "Could not find security server \"SERVER:DEV/GOV/1/SS9\""
        );
    }

    /// A body that sends `chunks`, then pauses for ever.
    fn pausing(
        chunks: &[&'static str],
    ) -> impl hyper::body::Body<Data = Bytes, Error = std::convert::Infallible> + Unpin {
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes()))))
            .collect();
        http_body_util::StreamBody::new(
            futures_util::stream::iter(frames).chain(futures_util::stream::pending()),
        )
    }

    #[tokio::test]
    async fn a_body_pausing_longer_than_the_client_timeout_is_a_read_timeout() {
        let mut read = Vec::new();
        let e = crate::transport::read_body_idle(
            Duration::from_millis(100),
            pausing(&["ab", "cd"]),
            |c| {
                read.extend_from_slice(c);
                Ok(())
            },
        )
        .await
        .unwrap_err();
        assert_eq!(read, b"abcd");
        assert_eq!(e.error_code(), Some(xroad_fault::ErrorCode::IoError));
        assert_eq!(e.message(), "Read timed out");
        // As a part of the response, the client proxy's `service_failed` prefix comes on top.
        let e = e.with_prefix(xroad_fault::ErrorCode::ServiceFailed);
        assert_eq!(
            e.with_origin(xroad_fault::Origin::ClientProxy)
                .fault_code(xroad_fault::Spelling::Current),
            "server.clientproxy.service_failed.io_error"
        );
    }

    #[tokio::test]
    async fn a_body_that_ends_is_read_whole() {
        let body = http_body_util::Full::new(Bytes::from_static(b"whole"));
        let mut read = Vec::new();
        let n = crate::transport::read_body_idle(Duration::from_millis(100), body, |c| {
            read.extend_from_slice(c);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!((n, read.as_slice()), (5, &b"whole"[..]));
    }

    /// Zero, Java's default: a body may pause for any time.
    #[tokio::test]
    async fn a_zero_client_timeout_waits_without_limit() {
        let body = http_body_util::StreamBody::new(Box::pin(
            futures_util::stream::iter([Ok::<_, std::convert::Infallible>(Frame::data(
                Bytes::from_static(b"late"),
            ))])
            .then(|frame| async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                frame
            }),
        ));
        let mut read = Vec::new();
        let n = crate::transport::read_body_idle(Duration::ZERO, body, |c| {
            read.extend_from_slice(c);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!((n, read.as_slice()), (4, &b"late"[..]));
    }
}
