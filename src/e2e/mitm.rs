//! A man in the middle between the two security servers that flips a byte. TLS between
//! security servers is end to end, so a flip on the wire only breaks the TLS record; this
//! proxy therefore holds both servers' authentication keys (read from their signer folders):
//! it terminates the consumer's mutual TLS as the provider and opens its own to the provider
//! as the consumer, and relays the plaintext HTTP in between, changing one byte of a signed
//! SOAP part on the way. The signatures must catch what TLS no longer can: a flipped request
//! is refused by the provider's server proxy, a flipped response by the consumer's client
//! proxy, each with Java's fault code.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use xroad_fault::XRoadError;
use xroad_proxy::{AuthCredentials, PeerIdentity, ProxySettings, TlsAcceptor, TlsConnector};

use super::forge::Forger;
use super::http::HttpMessage;
use super::*;

/// Flipped on its way to the provider.
const FLIP_REQUEST: &[u8] = b"flip-in-request";
/// Passes to the provider, echoed, and flipped on its way back to the consumer.
const FLIP_RESPONSE: &[u8] = b"flip-in-response";

/// Copies `from` to `to`, changing the last byte of every occurrence of `marker` found within
/// one read. A TLS read returns one record, and both servers write a small SOAP part within
/// one record, so the marker is never split between reads.
async fn relay(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    marker: &'static [u8],
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &mut buf[..n];
        let mut at = 0;
        while let Some(pos) = chunk[at..].windows(marker.len()).position(|w| w == marker) {
            let last = at + pos + marker.len() - 1;
            chunk[last] ^= 0x01;
            at = last + 1;
        }
        if to.write_all(chunk).await.is_err() || to.flush().await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Accepts the consumer's connections on `listener` as the provider, and relays each to
/// `provider` as the consumer.
fn spawn_mitm(
    listener: std::net::TcpListener,
    provider: String,
    as_provider: AuthCredentials,
    as_consumer: AuthCredentials,
    ids: (
        xroad_identifiers::SecurityServerId,
        xroad_identifiers::SecurityServerId,
    ),
) -> tokio::task::JoinHandle<()> {
    let tls = ProxySettings::default().tls;
    let (consumer_id, provider_id) = ids;
    let acceptor = TlsAcceptor::new(
        &tls,
        &as_provider,
        Arc::new(move |_: &[Vec<u8>]| Ok::<_, XRoadError>(PeerIdentity::new(consumer_id.clone()))),
    )
    .expect("acceptor");
    let connector = TlsConnector::new(
        &tls,
        &as_consumer,
        Arc::new(move |_: &[Vec<u8>]| Ok::<_, XRoadError>(PeerIdentity::new(provider_id.clone()))),
    )
    .expect("connector");
    listener.set_nonblocking(true).expect("nonblocking");
    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let connector = connector.clone();
            let provider = provider.clone();
            tokio::spawn(async move {
                let Ok(inbound) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(outbound) = connector.connect(&provider).await else {
                    return;
                };
                let (in_read, in_write) = tokio::io::split(inbound);
                let (out_read, out_write) = tokio::io::split(outbound);
                tokio::join!(
                    relay(in_read, out_write, FLIP_REQUEST),
                    relay(out_read, in_write, FLIP_RESPONSE),
                );
            });
        }
    })
}

async fn echo(proxy: SocketAddr, data: &str) -> HttpMessage {
    let envelope = crate::demo::network::soap_envelope(
        &id("MITM/COM/1/a"),
        &service("MITM/GOV/1/s", "echo"),
        &format!("<ns1:echo><data>{data}</data></ns1:echo>"),
    );
    post_soap_to(proxy, &envelope).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_flipped_between_the_servers_is_caught_by_the_signatures() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let service = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/soap/echo", service.local_addr().expect("addr"));
        let _is = MockIs::start(service, |req| Action::Respond(soap_echo(req)));
        let (dir, mut net) = own_network(
            "mitm",
            &pair_topology("MITM", &[pair_soap_service("echo", &url)]),
        )
        .await;

        // The registered address of `pa` becomes the man in the middle's; `pa` serves on
        // another port that only the man in the middle knows.
        let hidden = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let hidden_addr = hidden.local_addr().expect("addr").to_string();
        let layout = net.nodes.iter_mut().find(|n| n.name == "pa").expect("pa");
        let registered = layout
            .listeners
            .server
            .replace(hidden)
            .expect("pa's server listener");
        let nodes = start_nodes(&mut net, &[]).await;

        let as_consumer = Forger::of(&net, "ca", "pa").await;
        let as_provider = Forger::of(&net, "pa", "ca").await;
        let ids = (
            net.node("ca").expect("ca").server_id.clone(),
            net.node("pa").expect("pa").server_id.clone(),
        );
        let mitm = spawn_mitm(
            registered,
            hidden_addr,
            as_provider.credentials(),
            as_consumer.credentials(),
            ids,
        );
        let proxy = net
            .node("ca")
            .expect("ca")
            .config
            .listen
            .client_http
            .expect("client proxy");

        // The control: through the man in the middle, untouched, the exchange works.
        let r = echo(proxy, "untouched").await;
        assert_eq!(r.status(), 200, "{}", r.text());
        assert!(faultcode(&r.text()).is_none(), "{}", r.text());
        assert!(r.text().contains("<data>untouched</data>"), "{}", r.text());

        // A byte of the signed request changed: the provider refuses it.
        let flipped = String::from_utf8(FLIP_REQUEST.to_vec()).expect("marker");
        let r = echo(proxy, &flipped).await;
        assert_soap_fault(
            &r,
            "server.serverproxy.signature_verification.invalid_signature_value",
        );

        // A byte of the signed response changed: the consumer refuses to relay it.
        let flipped = String::from_utf8(FLIP_RESPONSE.to_vec()).expect("marker");
        let r = echo(proxy, &flipped).await;
        assert_soap_fault(
            &r,
            "server.clientproxy.signature_verification.invalid_signature_value",
        );
        assert!(!r.text().contains("flip-in-respons"), "{}", r.text());

        mitm.abort();
        for n in nodes {
            n.stop(Duration::from_secs(2)).await;
        }
        drop(dir);
    })
    .await
    .expect("the test timed out");
}
