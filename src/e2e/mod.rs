//! End-to-end tests: the scenarios of the Java proxy test suite
//! (`proxy-core/src/test/.../testsuite/testcases`) through real networks of our own nodes on
//! 127.0.0.1, asserting the exact fault codes the information system receives.
//!
//! Most tests share one network (built once per test binary on a runtime of its own, see
//! [`env`]): a consumer, a provider with the sample services and services backed by
//! [`http::MockIs`] (echo, fault, garbage, slow, aborting), and a third security server
//! ("aborter") that is registered in the global configuration but whose server proxy port
//! is served by a test socket that drops connections. Tests that change what every node
//! would see (revoked or stale OCSP responses, an expiring global configuration) build a
//! private network of their own. Every test is bounded by a tokio timeout.
//!
//! Scenarios (Java test case → what the information system gets):
//!
//! | Scenario | Code |
//! |---|---|
//! | NormalMessage, attachments (SwA, base64 CTE, 4 MiB), MTOM, SoapActionHeader, REST verbs | success, bytes unchanged |
//! | not XML / missing content type / other type / GET | `client.invalid_soap` / `server.clientproxy.internal_error` / `client.invalid_content_type` / `client.invalid_http_method` |
//! | MissingHeader, missing fields, protocol version, MissingBody, MalformedBody, body name, SOAPAction | `client.missing_header`, `client.missing_header_field`, `client.invalid_protocol_version`, `client.missing_body`, `client.invalid_body`, `client.inconsistent_headers`, `client.invalid_soap_action` |
//! | unknown / unregistered client, unhosted provider | `server.clientproxy.unknown_member` |
//! | NotAllowed, UnknownService, service type, ServiceDisabled | `server.serverproxy.access_denied`, `…unknown_service`, `…service_type`, `…service_disabled` |
//! | provider IS unreachable / slow / cut / silent / 404 / wrong type / not XML / empty | `server.serverproxy.service_failed.` `network_error` / `io_error` / `io_error` / `io_error` / `http_error` / `invalid_content_type` / `invalid_soap` / `invalid_soap` |
//! | ServiceReturnsFault | the provider's fault, byte for byte |
//! | ServerClientInconsistency | `server.clientproxy.service_failed.inconsistent_response` |
//! | ServerProxyConnectionAborted (reset) / 2, 3 (cut) / InvalidContentTypeFromServerProxy / a `302` | `server.clientproxy.network_error` / `…service_failed.io_error` / `…service_failed.invalid_content_type` / `server.clientproxy.http_error` |
//! | UnsignedMessageFromClientProxy, tampered part ([`forge`]) | `server.serverproxy.missing_signature`, `…signature_verification.invalid_signature_value` |
//! | own auth OCSP revoked or stale, client's / provider's signing OCSP revoked, provider's auth OCSP revoked | `server.clientproxy.ssl_authentication_failed`, `server.clientproxy.cannot_create_signature` / `server.serverproxy.cannot_create_signature`, `server.clientproxy.ssl_authentication_failed.invalid_cert_path.cert_validation` |
//! | expired global configuration | `server.clientproxy.global_conf_outdated` (SOAP and REST) |
//! | provider IS cuts an attachment after a whole SOAP part ([`forge`]) | SOAP part, the attachment's bytes read, then the fault part `server.serverproxy.service_failed.io_error` |
//! | provider IS answers with a fault, not SOAP, another type ([`forge`]) | the fault as the only part, with `x-original-content-type` |
//! | provider token logged out while its IS answers ([`pki`]) | SOAP part, then the fault part `server.serverproxy.cannot_create_signature` (REST: `X-Road-Error`) |
//! | health port: all well / expired global configuration / stale auth OCSP / logged-out token | 200 / 500 `Global configuration is expired` / 500 `No certificate chain available in authentication key.` (both) |
//! | HTTPS provider IS ([`https`]): open, pinned / wrong certificate / `302` | success / `server.serverproxy.service_failed.ssl_authentication_failed` (REST `server.serverproxy.ssl_authentication_failed`) / SOAP `…service_failed.http_error`, REST relays the `302` |
//! | IS authentication ([`isauth`]): NOSSL / SSLNOAUTH / SSLAUTH over HTTP and HTTPS, with no, a registered, an unregistered or the internal certificate | success, or `server.clientproxy.ssl_authentication_failed` (SOAP and REST) |
//! | provider on two security servers, one silent ([`fastest`]) | success; the winner cached (`client-fastest-connecting-ssl-uri-cache-period`), or both raced with 0 |
//! | `limits` ([`limits`]): too large / slower than the client timeout | `client.invalid_message` / `server.clientproxy.io_error` "Read timed out" |
//! | REST: no client header, unknown service, SOAP service, unreachable | `server.clientproxy.invalid_client_identifier`, `server.serverproxy.unknown_service`, `…service_type`, `server.serverproxy.network_error` (500, `X-Road-Error`, JSON or XML) |

mod fastest;
mod forge;
mod http;
mod https;
mod isauth;
mod limits;
mod mitm;
mod operations;
mod pki;
mod pool;
mod rest;
mod soap;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use xroad_devnet::topology::Topology;
use xroad_identifiers::{ClientId, ServiceId};

use crate::demo::{build_network, Network};
use crate::node;
use http::{response, Action, HttpMessage, MockIs};

/// How long one test may take at most.
pub(crate) const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The provider's service timeout of the `slow` service (seconds; the mock sleeps longer).
pub(crate) const SLOW_TIMEOUT: u32 = 1;

/// The SOAP fault the `fault` mock service answers with (relayed byte for byte).
pub(crate) const MOCK_FAULT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>CODE</faultcode><faultstring>The service says no</faultstring><faultactor>mock</faultactor><detail><reason xmlns=\"urn:mock\">it is a test</reason></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>\n";

/// The shared network and its parts.
pub(crate) struct Env {
    pub net: Network,
    pub mock: MockIs,
    /// The consumer's client proxy (HTTP).
    pub proxy: SocketAddr,
    _nodes: Vec<node::Node>,
    _runtime: tokio::runtime::Runtime,
}

static ENV: OnceLock<Env> = OnceLock::new();

/// The shared network, built on first use (on a runtime of its own, so that it outlives the
/// runtime of the test that happened to build it).
pub(crate) fn env() -> &'static Env {
    ENV.get_or_init(|| {
        std::thread::spawn(build_env)
            .join()
            .expect("building the shared network panicked")
    })
}

/// A state folder for a network of this process under the system temp dir. Folders of
/// earlier runs whose process is gone are removed first (the shared network lives until the
/// process exits, so its folder can only be removed by the next run).
pub(crate) fn state_dir(tag: &str) -> PathBuf {
    let tmp = std::env::temp_dir();
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("xroad-e2e-") else {
                continue;
            };
            let pid = rest.split('-').next().unwrap_or("");
            if pid.parse::<u32>().is_ok()
                && pid != std::process::id().to_string()
                && !std::path::Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    tmp.join(format!("xroad-e2e-{}-{tag}", std::process::id()))
}

fn bind() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1")
}

/// A port nothing listens on (bound, then released).
pub(crate) fn closed_port() -> u16 {
    bind().local_addr().expect("addr").port()
}

/// The shared topology: `mock` is the mock IS base URL, `closed` a closed port.
fn shared_topology(mock: &str, closed: u16) -> Topology {
    let soap = |code: &str, path: &str| {
        format!(
            "  - provider: GOV/2222/services\n    code: {code}\n    type: soap\n    version: v1\n    url: {mock}{path}\n    allowed: [COM/1111/client]\n"
        )
    };
    let mut services = String::new();
    for (code, path) in [
        ("echo", "/soap/echo"),
        // Called only by the metrics test, so that its counters are exact.
        ("metricsEcho", "/soap/echo"),
        ("disabledEcho", "/soap/disabled"),
        ("fault", "/soap/fault"),
        ("garbage", "/soap/garbage"),
        ("emptyResponse", "/soap/empty"),
        ("wrongContentType", "/soap/wrongct"),
        ("notFound", "/soap/notfound"),
        ("slow", "/soap/slow"),
        ("abort", "/soap/abort"),
        ("noAnswer", "/soap/closed"),
        ("inconsistent", "/soap/inconsistent"),
        ("cutAttachment", "/soap/cutattachment"),
    ] {
        services.push_str(&soap(code, path));
    }
    services.push_str(&format!(
        "  - provider: GOV/2222/services\n    code: unreachable\n    type: soap\n    version: v1\n    url: http://127.0.0.1:{closed}/service\n    allowed: [COM/1111/client]\n"
    ));
    services.push_str(&format!(
        "  - provider: GOV/2222/services\n    code: restEcho\n    type: rest\n    url: {mock}/rest\n    allowed: [COM/1111/client]\n  - provider: GOV/2222/services\n    code: metricsRest\n    type: rest\n    url: {mock}/rest/metrics\n    allowed: [COM/1111/client]\n  - provider: GOV/2222/services\n    code: restUnreachable\n    type: rest\n    url: http://127.0.0.1:{closed}/api\n    allowed: [COM/1111/client]\n  - provider: GOV/2222/services\n    code: soapNoVersion\n    type: soap\n    version: v1\n    url: {mock}/soap/echo-unversioned\n    allowed: [COM/1111/client]\n  - provider: GOV/4444/dummy\n    code: cut\n    type: soap\n    version: v1\n    url: {mock}/soap/echo\n    allowed: [COM/1111/client]\n  - provider: GOV/4444/dummy\n    code: cutMultipart\n    type: soap\n    version: v1\n    url: {mock}/soap/echo\n    allowed: [COM/1111/client]\n  - provider: GOV/4444/dummy\n    code: oddType\n    type: soap\n    version: v1\n    url: {mock}/soap/echo\n    allowed: [COM/1111/client]\n  - provider: GOV/4444/dummy\n    code: redirected\n    type: soap\n    version: v1\n    url: {mock}/soap/echo\n    allowed: [COM/1111/client]\n  - provider: GOV/3333/dead\n    code: echo\n    type: soap\n    version: v1\n    url: {mock}/soap/echo\n    allowed: [COM/1111/client]\n"
    ));
    let yaml = format!(
        r#"instance: DEV
members:
  - class: COM
    code: "1111"
    subsystems: [client]
  - class: GOV
    code: "2222"
    subsystems: [services]
  - class: GOV
    code: "3333"
    subsystems: [dead]
  - class: GOV
    code: "4444"
    subsystems: [dummy]
security-servers:
  - code: consumer
    owner: COM/1111
    clients: [COM/1111/client]
  - code: provider
    owner: GOV/2222
    clients: [GOV/2222/services]
  - code: aborter
    owner: GOV/3333
    clients: [GOV/3333/dead]
  - code: dummy
    owner: GOV/4444
    clients: [GOV/4444/dummy]
services:
  - provider: GOV/2222/services
    code: helloService
    type: soap
    version: v1
    url: sample:soap
    allowed: [COM/1111/client]
  - provider: GOV/2222/services
    code: petstore
    type: openapi
    url: sample:rest
    allowed: [COM/1111/client]
{services}"#
    );
    Topology::parse(&yaml).expect("shared topology")
}

/// Starts the nodes of `net` (all but those named in `skip`) on the current runtime.
pub(crate) async fn start_nodes(net: &mut Network, skip: &[&str]) -> Vec<node::Node> {
    let mut nodes = Vec::new();
    for layout in &mut net.nodes {
        if skip.contains(&layout.name.as_str()) {
            continue;
        }
        let listeners = std::mem::take(&mut layout.listeners);
        let n = node::start(&layout.config, listeners)
            .await
            .unwrap_or_else(|e| panic!("node {}: {e}", layout.name));
        nodes.push(n);
    }
    nodes
}

fn build_env() -> Env {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (net, mock, nodes) = runtime.block_on(async {
        let mock_listener = bind();
        let mock_url = format!("http://{}", mock_listener.local_addr().expect("addr"));
        let mock = MockIs::start(mock_listener, mock_handler);
        let topology = shared_topology(&mock_url, closed_port());
        let dir = state_dir("shared");
        let mut net =
            tokio::time::timeout(Duration::from_secs(120), build_network(&topology, &dir))
                .await
                .expect("building the shared network timed out")
                .expect("shared network");

        // The consumer hosts a subsystem the global configuration does not know; the
        // provider's `slow` service times out before the mock answers, `soapNoVersion` has
        // no version (REST identifiers have none: the service type check is reached).
        let consumer = net.node("consumer").expect("consumer");
        let store = xroad_serverconf::Store::open(&consumer.config.database_url())
            .await
            .expect("consumer store");
        store
            .update(|c| {
                let mut ghost = xroad_serverconf::ClientConfig::new(
                    ClientId::from_rest("DEV/COM/1111/ghost").expect("id"),
                );
                ghost.is_authentication = xroad_serverconf::IsAuthentication::NoSsl;
                if c.client(&ghost.id.0).is_none() {
                    c.clients.push(ghost);
                }
                Ok(())
            })
            .await
            .expect("ghost client");
        store.close().await;
        let provider = net.node("provider").expect("provider");
        let store = xroad_serverconf::Store::open(&provider.config.database_url())
            .await
            .expect("provider store");
        store
            .update(|c| {
                for client in &mut c.clients {
                    for d in &mut client.service_descriptions {
                        for s in &mut d.services {
                            if s.code == "slow" {
                                s.timeout = SLOW_TIMEOUT;
                            }
                            // The topology wants a version for SOAP; Java's does not.
                            if s.code == "soapNoVersion" {
                                s.version = None;
                            }
                        }
                    }
                }
                Ok(())
            })
            .await
            .expect("slow service timeout");
        store.close().await;

        // The aborter's server proxy port: accepts, reads a little, and drops the connection.
        let aborter = net
            .nodes
            .iter_mut()
            .find(|n| n.name == "aborter")
            .expect("aborter");
        let listener = aborter.listeners.server.take().expect("aborter listener");
        listener.set_nonblocking(true).expect("nonblocking");
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = s.read(&mut buf).await;
                    // A reset, as Java's test (SO_LINGER 0), not an orderly close.
                    #[allow(deprecated)]
                    let _ = s.set_linger(Some(Duration::ZERO));
                    drop(s);
                });
            }
        });

        let nodes = start_nodes(&mut net, &["aborter", "dummy"]).await;
        dummy_server_proxy(&mut net).await;
        (net, mock, nodes)
    });
    let proxy = net
        .node("consumer")
        .and_then(|n| n.config.listen.client_http)
        .expect("consumer client proxy");
    Env {
        net,
        mock,
        proxy,
        _nodes: nodes,
        _runtime: runtime,
    }
}

/// The "dummy" security server: its registered auth certificate and OCSP responses (so the
/// consumer trusts it), but a server proxy that reads the request and answers as Java's
/// `UsingDummyServerProxy` test cases do, by the service code in the request: `cut` promises
/// 1000 bytes of `text/xml` and closes, `cutMultipart` the same as `multipart/mixed`,
/// `oddType` answers with the content type `oih`, `redirected` with a `302`.
async fn dummy_server_proxy(net: &mut Network) {
    let forger = forge::Forger::with_conf_of(net, "dummy", "dummy", "consumer").await;
    let credentials = forger.credentials();
    let handle = forger.signer();
    let dummy = net
        .nodes
        .iter_mut()
        .find(|n| n.name == "dummy")
        .expect("dummy");
    let ocsp = dummy
        .listeners
        .ocsp_responder
        .take()
        .expect("ocsp listener");
    ocsp.set_nonblocking(true).expect("nonblocking");
    let source: std::sync::Arc<dyn xroad_proxy::OcspSource> =
        std::sync::Arc::new(move |hashes: &[&str]| handle.ocsp_responses(hashes));
    let ocsp = tokio::net::TcpListener::from_std(ocsp).expect("listener");
    tokio::spawn(async move {
        let _ = xroad_proxy::serve_ocsp_responses(ocsp, source, std::future::pending()).await;
    });
    let server = dummy.listeners.server.take().expect("server listener");
    server.set_nonblocking(true).expect("nonblocking");
    let server = tokio::net::TcpListener::from_std(server).expect("listener");
    let acceptor = xroad_proxy::TlsAcceptor::new(
        &xroad_proxy::ProxySettings::default().tls,
        &credentials,
        std::sync::Arc::new(|_: &[Vec<u8>]| {
            Ok::<_, xroad_fault::XRoadError>(xroad_proxy::PeerIdentity::new(
                xroad_identifiers::SecurityServerId::new(id("DEV/COM/1111"), "consumer")
                    .expect("id"),
            ))
        }),
    )
    .expect("acceptor");
    tokio::spawn(async move {
        let _keep = forger;
        loop {
            let Ok((tcp, _)) = server.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let Ok(conn) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut tls = conn.into_stream();
                let Ok(request) = http::Reader::new(&mut tls).message(false).await else {
                    return;
                };
                let text = request.text();
                let head: &[u8] = if text.contains("serviceCode>redirected<") {
                    b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                } else if text.contains("serviceCode>cutMultipart<") {
                    b"HTTP/1.1 200 OK\r\nContent-Type: multipart/mixed; boundary=foobar\r\nContent-Length: 1000\r\n\r\n"
                } else if text.contains("serviceCode>cut<") {
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 1000\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\nContent-Type: oih\r\nContent-Length: 4\r\nConnection: close\r\n\r\n<x/>"
                };
                let _ = tls.write_all(head).await;
                let _ = tls.flush().await;
                let _ = tls.shutdown().await;
            });
        }
    });
}

/// What the mock information system behind the provider does, by path.
fn mock_handler(req: &HttpMessage) -> Action {
    let (_, target) = req.request_line();
    let target = target.to_owned();
    let xml = [("Content-Type", "text/xml; charset=UTF-8")];
    if let Some(rest) = target.strip_prefix("/rest") {
        let (method, _) = req.request_line();
        let ct = req
            .header("content-type")
            .unwrap_or("application/octet-stream")
            .to_owned();
        return Action::Respond(response(
            "200 OK",
            &[
                ("Content-Type", ct.as_str()),
                ("X-Echo-Method", method),
                ("X-Echo-Target", if rest.is_empty() { "/" } else { rest }),
                ("X-Echo-Client", req.header("x-road-client").unwrap_or("")),
            ],
            &req.body,
        ));
    }
    match target.as_str() {
        "/soap/echo" | "/soap/disabled" | "/soap/echo-unversioned" => Action::Respond(soap_echo(req)),
        // The response names another message id than the request.
        "/soap/inconsistent" => {
            let mut other = req.clone();
            other.body = req.text().replace("</xrd:id>", "-other</xrd:id>").into_bytes();
            Action::Respond(soap_echo(&other))
        }
        "/soap/slow" => Action::Sleep(Duration::from_secs(u64::from(SLOW_TIMEOUT) + 2), soap_echo(req)),
        "/soap/fault" => Action::Respond(response(
            "500 Internal Server Error",
            &xml,
            MOCK_FAULT.as_bytes(),
        )),
        "/soap/garbage" => Action::Respond(response("200 OK", &xml, b"this is not XML at all")),
        "/soap/empty" => Action::Respond(response("200 OK", &xml, b"")),
        "/soap/wrongct" => Action::Respond(response(
            "200 OK",
            &[("Content-Type", "application/json")],
            b"{\"not\": \"soap\"}",
        )),
        "/soap/notfound" => Action::Respond(response(
            "404 Not Found",
            &[("Content-Type", "text/html")],
            b"<html><body>no such page</body></html>",
        )),
        // Headers promise 1000 bytes; a few come, then the connection closes.
        "/soap/abort" => Action::Abort(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 1000\r\n\r\n<SOAP-ENV:Envelope"
                .to_vec(),
        ),
        "/soap/closed" => Action::Abort(Vec::new()),
        // A whole SOAP part, then an attachment cut short (1000 bytes more were promised).
        "/soap/cutattachment" => {
            let body = format!(
                "--MOCKcut\r\nContent-Type: text/xml; charset=UTF-8\r\n\r\n{}\r\n--MOCKcut\r\nContent-Type: application/octet-stream\r\n\r\nthe attachment begins",
                to_response(&req.text())
            );
            let mut bytes = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: multipart/related; type=\"text/xml\"; boundary=MOCKcut\r\nContent-Length: {}\r\n\r\n",
                body.len() + 1000
            )
            .into_bytes();
            bytes.extend_from_slice(body.as_bytes());
            Action::Abort(bytes)
        }
        _ => Action::Respond(response("404 Not Found", &[], b"")),
    }
}

/// The echo service's answer: the request SOAP with its body element renamed to
/// `…Response`; for a multipart request the attachments come back as they came (their
/// header blocks and bytes untouched), under a boundary of the mock's own.
pub(crate) fn soap_echo(req: &HttpMessage) -> Vec<u8> {
    let ct = req.header("content-type").unwrap_or("text/xml").to_owned();
    if !ct.to_ascii_lowercase().starts_with("multipart/") {
        let soap = to_response(&req.text());
        return response(
            "200 OK",
            &[("Content-Type", "text/xml; charset=UTF-8")],
            soap.as_bytes(),
        );
    }
    let b = http::boundary(&ct).unwrap_or_default();
    let parts = http::multipart_parts(&req.body, &b);
    let mut body = Vec::new();
    for (i, (head, content)) in parts.iter().enumerate() {
        body.extend_from_slice(b"--MOCKresponseBoundary\r\n");
        body.extend_from_slice(head.as_bytes());
        body.extend_from_slice(b"\r\n\r\n");
        if i == 0 {
            body.extend_from_slice(to_response(&String::from_utf8_lossy(content)).as_bytes());
        } else {
            body.extend_from_slice(content);
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--MOCKresponseBoundary--\r\n");
    let first_type = parts
        .first()
        .and_then(|(h, _)| {
            h.lines()
                .find_map(|l| {
                    l.split_once(':')
                        .filter(|(n, _)| n.trim().eq_ignore_ascii_case("content-type"))
                })
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "text/xml".into());
    let essence = first_type.split(';').next().unwrap_or("").trim().to_owned();
    let ct = format!("multipart/related; type=\"{essence}\"; boundary=MOCKresponseBoundary");
    response("200 OK", &[("Content-Type", ct.as_str())], &body)
}

/// Renames the body's element `<p:op …>` to `<p:opResponse …>`.
pub(crate) fn to_response(soap: &str) -> String {
    let Some(body) = soap.find("Body>") else {
        return soap.to_owned();
    };
    let Some(lt) = soap[body..].find('<').map(|i| i + body) else {
        return soap.to_owned();
    };
    let name: String = soap[lt + 1..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
        .collect();
    let mut out = String::with_capacity(soap.len() + 20);
    out.push_str(&soap[..lt + 1 + name.len()]);
    out.push_str("Response");
    let rest = &soap[lt + 1 + name.len()..];
    let close = format!("</{name}>");
    match rest.rfind(&close) {
        Some(i) => {
            out.push_str(&rest[..i]);
            out.push_str(&format!("</{name}Response>"));
            out.push_str(&rest[i + close.len()..]);
        }
        None => out.push_str(rest),
    }
    out
}

/// `DEV/COM/1111/client` and friends.
pub(crate) fn id(s: &str) -> ClientId {
    ClientId::from_rest(s).expect("client id")
}

/// A SOAP service of `provider` (version v1).
pub(crate) fn service(provider: &str, code: &str) -> ServiceId {
    ServiceId::new(id(provider), code, Some("v1".into())).expect("service id")
}

/// The consumer's subsystem, which may call every service of the shared network.
pub(crate) const CLIENT: &str = "DEV/COM/1111/client";
/// The provider's subsystem.
pub(crate) const PROVIDER: &str = "DEV/GOV/2222/services";

/// The `<faultcode>` of a SOAP fault.
pub(crate) fn faultcode(body: &str) -> Option<String> {
    let start = body.find("<faultcode>")? + "<faultcode>".len();
    let end = body[start..].find("</faultcode>")? + start;
    Some(body[start..end].to_owned())
}

/// Asserts an X-Road SOAP fault as the client proxy returns it: HTTP 200, `text/xml`,
/// `faultcode` = `code`.
#[track_caller]
pub(crate) fn assert_soap_fault(r: &HttpMessage, code: &str) {
    let body = r.text();
    assert_eq!(r.status(), 200, "{body}");
    let ct = r.header("content-type").unwrap_or("");
    assert!(ct.starts_with("text/xml"), "content type {ct}: {body}");
    assert_eq!(faultcode(&body).as_deref(), Some(code), "{body}");
}

/// Runs a test body with the shared network, bounded by [`TEST_TIMEOUT`].
pub(crate) async fn with_env<F, Fut>(f: F)
where
    F: FnOnce(&'static Env) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let env = tokio::task::spawn_blocking(env).await.expect("env");
    tokio::time::timeout(TEST_TIMEOUT, f(env))
        .await
        .expect("the test timed out");
}

/// Sends a SOAP request (`text/xml`) to the consumer's client proxy.
pub(crate) async fn post_soap(env: &Env, envelope: &str) -> HttpMessage {
    post_soap_to(env.proxy, envelope).await
}

/// Sends a SOAP request (`text/xml`) to the client proxy at `proxy`.
pub(crate) async fn post_soap_to(proxy: SocketAddr, envelope: &str) -> HttpMessage {
    http::send(
        proxy,
        "POST",
        "/",
        &[("Content-Type", "text/xml; charset=utf-8")],
        envelope.as_bytes(),
    )
    .await
}

/// The topology of two security servers: `ca` hosting the consumer `COM/1/a` and `pa`
/// hosting the provider `GOV/1/s`, which offers `services` (entries of the `services:` list).
pub(crate) fn pair_topology(instance: &str, services: &[String]) -> String {
    let mut yaml = format!(
        "instance: {instance}\nmembers:\n  - {{ class: COM, code: \"1\", subsystems: [a] }}\n  \
         - {{ class: GOV, code: \"1\", subsystems: [s] }}\nsecurity-servers:\n  \
         - {{ code: ca, owner: COM/1, clients: [COM/1/a] }}\n  \
         - {{ code: pa, owner: GOV/1, clients: [GOV/1/s] }}\nservices:\n"
    );
    for s in services {
        yaml.push_str("  - ");
        yaml.push_str(s);
        yaml.push('\n');
    }
    yaml
}

/// A SOAP service `code` (version `v1`) of `GOV/1/s` at `url`, open to `COM/1/a`.
pub(crate) fn pair_soap_service(code: &str, url: &str) -> String {
    format!(
        "{{ provider: GOV/1/s, code: {code}, type: soap, version: v1, url: \"{url}\", allowed: [COM/1/a] }}"
    )
}

/// A network of one test's own, built from the topology `yaml` in a temporary folder under
/// [`state_dir`]`(tag)` (so that leftovers of a killed run are removed); the folder goes
/// when the returned guard drops.
pub(crate) async fn own_network(tag: &str, yaml: &str) -> (tempfile::TempDir, Network) {
    let topology = Topology::parse(yaml).expect("topology");
    let parent = state_dir(tag);
    std::fs::create_dir_all(&parent).expect("state parent");
    let dir = tempfile::Builder::new()
        .prefix("net-")
        .tempdir_in(&parent)
        .expect("temp dir");
    let net = build_network(&topology, dir.path()).await.expect("network");
    (dir, net)
}

/// The `xrd:id` of an envelope made by [`crate::demo::network::soap_envelope`].
pub(crate) fn message_id(envelope: &str) -> String {
    let start = envelope.find("<xrd:id>").expect("id") + "<xrd:id>".len();
    let end = envelope[start..].find("</xrd:id>").expect("id end") + start;
    envelope[start..end].to_owned()
}
