//! The fastest of a provider's security servers (Java's
//! `FastestConnectionSelectingSSLSocketFactory`): the provider's subsystem is registered on
//! two security servers, one real and one whose server proxy port accepts connections and
//! never answers. Every request succeeds through the real one. With the cache on
//! (`client-fastest-connecting-ssl-uri-cache-period`, 3600 s) only the first selection
//! contacts the silent one and later connections go to the cached winner alone; with the
//! cache off (0) every new connection tries both again. The service answers after 300 ms, so
//! concurrent requests cannot share one pooled connection: each opens its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::http::HttpMessage;
use super::*;
use crate::demo::network::soap_envelope;

const NET: &str = r#"instance: FST
members:
  - { class: COM, code: "1", subsystems: [a] }
  - { class: GOV, code: "1", subsystems: [s] }
security-servers:
  - { code: ca, owner: COM/1, clients: [COM/1/a] }
  - { code: pa, owner: GOV/1, clients: [GOV/1/s] }
  - { code: pb, owner: GOV/1, clients: [GOV/1/s] }
services:
  - { provider: GOV/1/s, code: helloService, type: soap, version: v1, url: "{url}", allowed: [COM/1/a] }
"#;

async fn hello(proxy: SocketAddr) -> HttpMessage {
    let envelope = soap_envelope(
        &id("FST/COM/1/a"),
        &service("FST/GOV/1/s", "helloService"),
        "<ns1:helloService><name>fastest</name></ns1:helloService>",
    );
    post_soap_to(proxy, &envelope).await
}

#[track_caller]
fn assert_hello(r: &HttpMessage) {
    assert_eq!(r.status(), 200, "{}", r.text());
    assert!(faultcode(&r.text()).is_none(), "{}", r.text());
    assert!(r.text().contains("<name>fastest</name>"), "{}", r.text());
}

/// One request, then three at once: the first finds the pooled connection, the other two
/// open new ones (the pooled one is busy for the service's 300 ms).
async fn requests(proxy: SocketAddr) {
    assert_hello(&hello(proxy).await);
    let (a, b, c) = tokio::join!(hello(proxy), hello(proxy), hello(proxy));
    for r in [a, b, c] {
        assert_hello(&r);
    }
}

/// Waits (up to 5 s) until `count` reaches `at_least`; its value then.
async fn settle(count: &AtomicUsize, at_least: usize) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while count.load(Ordering::SeqCst) < at_least && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Connections still on their way in.
    tokio::time::sleep(Duration::from_millis(300)).await;
    count.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fastest_provider_server_is_cached() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let service = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/soap", service.local_addr().expect("addr"));
        let _is = MockIs::start(service, |req| {
            Action::Sleep(Duration::from_millis(300), soap_echo(req))
        });
        let (dir, mut net) = own_network("fastest", &NET.replace("{url}", &url)).await;

        // pb's server proxy port: counts the connections and holds them, silent.
        let silent = net
            .nodes
            .iter_mut()
            .find(|n| n.name == "pb")
            .and_then(|n| n.listeners.server.take())
            .expect("pb listener");
        silent.set_nonblocking(true).expect("nonblocking");
        let silent = tokio::net::TcpListener::from_std(silent).expect("listener");
        let contacted = Arc::new(AtomicUsize::new(0));
        let count = contacted.clone();
        let black_hole = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                held.push(s);
            }
        });

        let providers = start_nodes(&mut net, &["pb", "ca"]).await;
        let layout = net
            .nodes
            .iter_mut()
            .find(|n| n.name == "ca")
            .expect("consumer");
        let proxy = layout.config.listen.client_http.expect("client proxy");
        let listeners = std::mem::take(&mut layout.listeners);
        let mut config = layout.config.clone();
        assert_eq!(
            config.peers.client_fastest_connecting_ssl_uri_cache_period,
            Duration::from_secs(3600)
        );

        // Cached: the silent server is contacted by the first selection only.
        let consumer = node::start(&config, listeners).await.expect("consumer");
        for _ in 0..2 {
            requests(proxy).await;
        }
        let cached = settle(&contacted, 1).await;
        assert!(
            cached <= 1,
            "the winner was not reused: {cached} connections"
        );
        consumer.stop(Duration::from_secs(2)).await;

        // Not cached: every new connection races both servers again.
        config.peers.client_fastest_connecting_ssl_uri_cache_period = Duration::ZERO;
        let consumer = node::start(&config, node::Listeners::default())
            .await
            .expect("consumer without the cache");
        // New connections open in every round (a busy machine may serialize some requests
        // of a round onto one connection, so rounds repeat until three were seen).
        for _ in 0..5 {
            requests(proxy).await;
            if contacted.load(Ordering::SeqCst) >= cached + 3 {
                break;
            }
        }
        let n = settle(&contacted, cached + 3).await;
        assert!(
            n >= cached + 3,
            "both servers are tried for each new connection: {n}"
        );

        consumer.stop(Duration::from_secs(2)).await;
        for n in providers {
            n.stop(Duration::from_secs(2)).await;
        }
        black_hole.abort();
        drop(dir);
    })
    .await
    .expect("the test timed out");
}
