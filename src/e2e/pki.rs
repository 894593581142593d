//! Revoked and stale OCSP responses: private networks (the CA's OCSP responder answers for
//! every node of a network), where the responder says so before the nodes start, so that
//! each node's first OCSP refresh brings the bad news.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use xroad_crypto::Certificate;
use xroad_devnet::ocsp::{ResponderState, ResponseSigner};
use xroad_devnet::pki::serial_hex;
use xroad_proxy::health_checks as hc;
use xroad_signer::{KeyUsage, Signer, SignerConfig, SOFT_TOKEN_ID};

use super::http::{Action, MockIs};
use super::*;
use crate::demo::network::soap_envelope;

/// A network of the test's own, removed when dropped.
pub(super) struct PrivateNet {
    pub net: Network,
    nodes: Vec<node::Node>,
    _mock: MockIs,
    _dir: tempfile::TempDir,
}

impl PrivateNet {
    /// Builds `yaml` (with `{mock}` replaced by the echo IS's URL), lets `prepare` change the
    /// built network, and starts every node.
    pub async fn start(yaml: &str, prepare: impl FnOnce(&mut Network)) -> PrivateNet {
        Self::start_with(yaml, |req| Action::Respond(soap_echo(req)), prepare).await
    }

    /// As [`PrivateNet::start`], with `handler` as the information system behind `{mock}`.
    pub async fn start_with(
        yaml: &str,
        handler: impl Fn(&http::HttpMessage) -> Action + Send + Sync + 'static,
        prepare: impl FnOnce(&mut Network),
    ) -> PrivateNet {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/echo", listener.local_addr().expect("addr"));
        let mock = MockIs::start(listener, handler);
        let (dir, mut net) = own_network("private", &yaml.replace("{mock}", &url)).await;
        prepare(&mut net);
        let nodes = start_nodes(&mut net, &[]).await;
        PrivateNet {
            net,
            nodes,
            _mock: mock,
            _dir: dir,
        }
    }

    pub async fn stop(self) {
        for n in self.nodes {
            n.stop(Duration::from_secs(2)).await;
        }
    }

    /// The signer of the running node `name`.
    fn node_signer(&self, name: &str) -> Arc<Signer> {
        let i = self
            .net
            .nodes
            .iter()
            .position(|n| n.name == name)
            .expect("node");
        self.nodes[i].signer().clone()
    }

    /// Asks node `name`'s health check port (any method, any path).
    async fn health(&self, name: &str) -> http::HttpMessage {
        let addr = self
            .net
            .node(name)
            .and_then(|n| n.config.listen.health_check)
            .expect("health check port");
        http::send(addr, "POST", "/any/path", &[], b"anything").await
    }

    /// Sends an echo request from `client` to the echo service of `provider` through the
    /// client proxy of node `via`.
    pub async fn echo(&self, via: &str, client: &str, provider: &str) -> http::HttpMessage {
        let proxy = self
            .net
            .node(via)
            .and_then(|n| n.config.listen.client_http)
            .expect("client proxy");
        let envelope = soap_envelope(
            &id(client),
            &service(provider, "echo"),
            "<ns1:echo><data>pki</data></ns1:echo>",
        );
        post_soap_to(proxy, &envelope).await
    }
}

/// The serial (hex) of node `name`'s certificate of `usage`.
fn serial(net: &Network, name: &str, usage: KeyUsage) -> String {
    let node = net.node(name).expect("node");
    let signer = Signer::open(SignerConfig::new(node.config.signer_dir())).expect("signer");
    let cert = signer
        .certs()
        .expect("certs")
        .into_iter()
        .find(|c| c.usage == Some(usage))
        .expect("certificate");
    serial_hex(cert.cert.der()).expect("serial")
}

const REVOKED: &str = r#"instance: PKI
members:
  - { class: COM, code: "1", subsystems: [a] }
  - { class: COM, code: "2", subsystems: [a] }
  - { class: COM, code: "3", subsystems: [a] }
  - { class: GOV, code: "1", subsystems: [s] }
  - { class: GOV, code: "2", subsystems: [s] }
  - { class: GOV, code: "3", subsystems: [s] }
security-servers:
  - { code: ca, owner: COM/1, clients: [COM/1/a] }
  - { code: cb, owner: COM/2, clients: [COM/2/a] }
  - { code: cc, owner: COM/3, clients: [COM/3/a] }
  - { code: pa, owner: GOV/1, clients: [GOV/1/s] }
  - { code: pb, owner: GOV/2, clients: [GOV/2/s] }
  - { code: pc, owner: GOV/3, clients: [GOV/3/s] }
services:
  - { provider: GOV/1/s, code: echo, type: soap, version: v1, url: "{mock}", allowed: [COM/1/a, COM/2/a, COM/3/a] }
  - { provider: GOV/2/s, code: echo, type: soap, version: v1, url: "{mock}", allowed: [COM/1/a] }
  - { provider: GOV/3/s, code: echo, type: soap, version: v1, url: "{mock}", allowed: [COM/1/a] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_certificates() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let net = PrivateNet::start(REVOKED, |net| {
            // cb's authentication certificate, cc's member's signing certificate, pb's
            // member's signing certificate and pc's authentication certificate.
            for (node, usage) in [
                ("cb", KeyUsage::Authentication),
                ("cc", KeyUsage::Signing),
                ("pb", KeyUsage::Signing),
                ("pc", KeyUsage::Authentication),
            ] {
                net.ocsp.set_revoked(&serial(net, node, usage), true);
            }
        })
        .await;

        // The control: healthy consumer, healthy provider.
        let r = net.echo("ca", "PKI/COM/1/a", "PKI/GOV/1/s").await;
        assert_eq!(r.status(), 200, "{}", r.text());
        assert!(faultcode(&r.text()).is_none(), "{}", r.text());

        // The consumer's own authentication certificate is revoked.
        let r = net.echo("cb", "PKI/COM/2/a", "PKI/GOV/1/s").await;
        assert_soap_fault(&r, "server.clientproxy.ssl_authentication_failed");
        // The client's signing certificate is revoked: the consumer cannot sign.
        let r = net.echo("cc", "PKI/COM/3/a", "PKI/GOV/1/s").await;
        assert_soap_fault(&r, "server.clientproxy.cannot_create_signature");
        // The provider's signing certificate is revoked: it cannot sign its response.
        let r = net.echo("ca", "PKI/COM/1/a", "PKI/GOV/2/s").await;
        assert_soap_fault(&r, "server.serverproxy.cannot_create_signature");
        // The provider's authentication certificate is revoked: the consumer refuses it
        // (Java's `AuthTrustVerifier` prefixes the path verifier's code).
        let r = net.echo("ca", "PKI/COM/1/a", "PKI/GOV/3/s").await;
        assert_soap_fault(
            &r,
            "server.clientproxy.ssl_authentication_failed.invalid_cert_path.cert_validation",
        );
        net.stop().await;
    })
    .await
    .expect("the test timed out");
}

/// The PKI tests' network: one SOAP service at the mock IS.
fn pair() -> String {
    pair_topology("PKI", &[pair_soap_service("echo", "{mock}")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_ocsp_responses() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        // Every response the responder gives is two hours old (freshness: one hour), and so
        // are those the consumer's signer has cached (the builder's were fresh).
        let net = PrivateNet::start(&pair(), |net| {
            let stale = Duration::from_secs(7200);
            net.ocsp.set_age(stale);
            let node = net.node("ca").expect("consumer");
            let cache = node.config.signer_dir().join("ocsp-cache");
            let signer = Signer::open(SignerConfig::new(node.config.signer_dir())).expect("signer");
            let responder = ResponseSigner::new(&net.pki).expect("responder");
            let ca = Certificate::from_der(&net.pki.ca_cert_der().expect("CA")).expect("CA");
            let state = ResponderState {
                age: stale,
                ..ResponderState::default()
            };
            for c in signer.certs().expect("certs") {
                let request = xroad_crypto::ocsp::request(&c.cert, &ca);
                let response = responder.respond(&request, &state, SystemTime::now());
                std::fs::write(cache.join(format!("{}.ocsp", c.cert.sha1_hex())), response)
                    .expect("cache");
            }
        })
        .await;
        let r = net.echo("ca", "PKI/COM/1/a", "PKI/GOV/1/s").await;
        assert_soap_fault(&r, "server.clientproxy.ssl_authentication_failed");
        // Java's signer gives no authentication key whose OCSP response is stale, and its
        // key configuration then answers a key without a certificate chain.
        assert_health_fails(&net.health("ca").await, hc::NO_AUTH_CHAIN);
        net.stop().await;
    })
    .await
    .expect("the test timed out");
}

/// How long the global configuration of [`expired_global_configuration`] is valid (s).
const SHORT_VALIDITY: u64 = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_global_configuration() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let started = tokio::time::Instant::now();
        let yaml = format!("globalconf-validity: {SHORT_VALIDITY}\n{}", pair());
        let net = PrivateNet::start(&yaml, |_| {}).await;
        let validity = Duration::from_secs(SHORT_VALIDITY);
        // Published after `started`: still valid if the build was quick enough to tell.
        if tokio::time::Instant::now() + Duration::from_secs(2) < started + validity {
            let r = net.echo("ca", "PKI/COM/1/a", "PKI/GOV/1/s").await;
            assert!(faultcode(&r.text()).is_none(), "{}", r.text());
        }
        // Published before `start` returned: expired after this.
        tokio::time::sleep(validity + Duration::from_secs(2)).await;
        let r = net.echo("ca", "PKI/COM/1/a", "PKI/GOV/1/s").await;
        assert_soap_fault(&r, "server.clientproxy.global_conf_outdated");
        let proxy = net
            .net
            .node("ca")
            .and_then(|n| n.config.listen.client_http)
            .expect("proxy");
        let r = http::send(
            proxy,
            "GET",
            "/r1/PKI/GOV/1/s/echo/x",
            &[("X-Road-Client", "PKI/COM/1/a")],
            b"",
        )
        .await;
        assert_eq!(r.status(), 500, "{}", r.text());
        assert_eq!(
            r.header("x-road-error"),
            Some("server.clientproxy.global_conf_outdated")
        );
        // The first of Java's checks; the OCSP responses are fresh, yet it is what fails.
        assert_health_fails(&net.health("ca").await, hc::GLOBAL_CONF_EXPIRED);
        net.stop().await;
    })
    .await
    .expect("the test timed out");
}

/// Asserts that a health check answer is Java's failure: 500 and the message and a newline.
#[track_caller]
fn assert_health_fails(r: &http::HttpMessage, message: &str) {
    assert_eq!(r.status(), 500, "{}", r.text());
    assert_eq!(r.text(), format!("{message}\n"));
}

/// The provider's token is logged out while its information system answers (the service
/// does it): the provider has the response but cannot sign it. As Java's
/// `ServerMessageProcessor`, which has written the SOAP part when it signs, the server proxy
/// sends the SOAP part and then the fault part instead of the signature; the consumer relays
/// the fault. The provider's health check then fails as Java's does for a logged-out token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_token_logged_out_while_the_service_answers() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let provider_signer: Arc<OnceLock<Arc<Signer>>> = Arc::default();
        let logs_out = provider_signer.clone();
        let yaml = format!(
            "{}  - {{ provider: GOV/1/s, code: rest, type: rest, url: \"{{mock}}\", allowed: [COM/1/a] }}\n",
            pair()
        );
        let net = PrivateNet::start_with(
            &yaml,
            move |req| {
                if let Some(signer) = logs_out.get() {
                    signer.logout(SOFT_TOKEN_ID).expect("logout");
                }
                if req.request_line().1.starts_with("/echo/") {
                    return Action::Respond(http::response(
                        "200 OK",
                        &[("Content-Type", "application/json")],
                        b"{\"answer\": 42}",
                    ));
                }
                Action::Respond(soap_echo(req))
            },
            |_| {},
        )
        .await;
        let signer = net.node_signer("pa");
        provider_signer.set(signer.clone()).expect("set once");
        let login = || {
            let pin_file = net.net.node("pa").and_then(|n| n.config.pin_file.clone());
            let pins = xroad_signer::autologin::collect_pins(&[], &pin_file.expect("pin file"))
                .expect("pins");
            signer.login(&pins[0].0, &pins[0].1).expect("login");
        };

        // All is well: both health checks pass (any method, any path), with an empty body.
        for node in ["ca", "pa"] {
            let r = net.health(node).await;
            assert_eq!(r.status(), 200, "{node}: {}", r.text());
            assert!(r.body.is_empty(), "{node}: {}", r.text());
        }

        // What the provider's server proxy sends: the SOAP part, then the fault part.
        let forger = super::forge::Forger::of(&net.net, "ca", "pa").await;
        let address = net.net.node("pa").expect("provider").address.clone();
        let envelope = soap_envelope(
            &id("PKI/COM/1/a"),
            &service("PKI/GOV/1/s", "echo"),
            "<ns1:echo><data>unsigned answer</data></ns1:echo>",
        );
        let r = forger
            .send(
                &address,
                &id("PKI/COM/1/a"),
                &envelope,
                super::forge::Forgery::None,
            )
            .await;
        assert_eq!(r.status(), 200, "{}", r.text());
        let ct = r.header("content-type").unwrap_or("").to_owned();
        assert!(ct.starts_with("multipart/mixed"), "{ct}: {}", r.text());
        assert_eq!(r.header("x-hash-algorithm"), Some("SHA-512"));
        let parts = http::multipart_parts(&r.body, &http::boundary(&ct).expect("boundary"));
        assert_eq!(parts.len(), 2, "{}", r.text());
        let (soap_head, soap) = &parts[0];
        assert!(soap_head.starts_with("content-type: text/xml"), "{soap_head}");
        let soap = String::from_utf8_lossy(soap);
        assert!(
            soap.contains("<ns1:echoResponse><data>unsigned answer</data>"),
            "{soap}"
        );
        let (fault_head, fault) = &parts[1];
        assert_eq!(fault_head, "content-type: text/xml; charset=UTF-8");
        assert_eq!(
            faultcode(&String::from_utf8_lossy(fault)).as_deref(),
            Some("server.serverproxy.cannot_create_signature"),
            "{}",
            String::from_utf8_lossy(fault)
        );

        // Through the consumer, the information system gets the fault.
        login();
        let r = net.echo("ca", "PKI/COM/1/a", "PKI/GOV/1/s").await;
        assert_soap_fault(&r, "server.serverproxy.cannot_create_signature");
        // REST: the response part and its body, then the fault part; the consumer turns it
        // into its JSON error.
        login();
        let proxy = net
            .net
            .node("ca")
            .and_then(|n| n.config.listen.client_http)
            .expect("client proxy");
        let r = http::send(
            proxy,
            "GET",
            "/r1/PKI/GOV/1/s/rest/items",
            &[("X-Road-Client", "PKI/COM/1/a")],
            b"",
        )
        .await;
        assert_eq!(r.status(), 500, "{}", r.text());
        assert_eq!(
            r.header("x-road-error"),
            Some("server.serverproxy.cannot_create_signature"),
            "{}",
            r.text()
        );

        // Passes are cached for 2 s: after that the logged-out token shows. Java's
        // `CachingKeyConfImpl` has no authentication key then, only a key without a chain.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_health_fails(&net.health("pa").await, hc::NO_AUTH_CHAIN);
        let r = net.health("ca").await;
        assert_eq!(r.status(), 200, "{}", r.text());
        net.stop().await;
    })
    .await
    .expect("the test timed out");
}
