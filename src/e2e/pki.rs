//! Revoked and stale OCSP responses: private networks (the CA's OCSP responder answers for
//! every node of a network), where the responder says so before the nodes start, so that
//! each node's first OCSP refresh brings the bad news.

use std::time::{Duration, SystemTime};

use xroad_crypto::Certificate;
use xroad_devnet::ocsp::{ResponderState, ResponseSigner};
use xroad_devnet::pki::serial_hex;
use xroad_devnet::topology::Topology;
use xroad_signer::{KeyUsage, Signer, SignerConfig};

use super::http::{Action, MockIs};
use super::*;
use crate::demo::network::soap_envelope;

/// A network of the test's own, removed when dropped.
struct PrivateNet {
    net: Network,
    nodes: Vec<node::Node>,
    _mock: MockIs,
    _dir: tempfile::TempDir,
}

impl PrivateNet {
    /// Builds `yaml` (with `{mock}` replaced by the echo IS's URL), lets `prepare` change the
    /// built network, and starts every node.
    async fn start(yaml: &str, prepare: impl FnOnce(&Network)) -> PrivateNet {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/echo", listener.local_addr().expect("addr"));
        let mock = MockIs::start(listener, |req| Action::Respond(soap_echo(req)));
        let topology = Topology::parse(&yaml.replace("{mock}", &url)).expect("topology");
        // The shared network's folder naming, so that leftovers of a killed run are removed.
        let parent = state_dir("private");
        std::fs::create_dir_all(&parent).expect("state parent");
        let dir = tempfile::Builder::new()
            .prefix("net-")
            .tempdir_in(&parent)
            .expect("temp dir");
        let mut net = build_network(&topology, dir.path())
            .await
            .expect("private network");
        prepare(&net);
        let nodes = start_nodes(&mut net, &[]).await;
        PrivateNet {
            net,
            nodes,
            _mock: mock,
            _dir: dir,
        }
    }

    async fn stop(self) {
        for n in self.nodes {
            n.stop(Duration::from_secs(2)).await;
        }
    }

    /// Sends an echo request from `client` to the echo service of `provider` through the
    /// client proxy of node `via`.
    async fn echo(&self, via: &str, client: &str, provider: &str) -> http::HttpMessage {
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
        http::send(
            proxy,
            "POST",
            "/",
            &[("Content-Type", "text/xml; charset=utf-8")],
            envelope.as_bytes(),
        )
        .await
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

const PAIR: &str = r#"instance: PKI
members:
  - { class: COM, code: "1", subsystems: [a] }
  - { class: GOV, code: "1", subsystems: [s] }
security-servers:
  - { code: ca, owner: COM/1, clients: [COM/1/a] }
  - { code: pa, owner: GOV/1, clients: [GOV/1/s] }
services:
  - { provider: GOV/1/s, code: echo, type: soap, version: v1, url: "{mock}", allowed: [COM/1/a] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_ocsp_responses() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        // Every response the responder gives is two hours old (freshness: one hour), and so
        // are those the consumer's signer has cached (the builder's were fresh).
        let net = PrivateNet::start(PAIR, |net| {
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
        let yaml = format!("globalconf-validity: {SHORT_VALIDITY}\n{PAIR}");
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
        net.stop().await;
    })
    .await
    .expect("the test timed out");
}
