//! Pooled connections between security servers: connections opened for concurrent exchanges
//! are all kept for reuse (`peers.pool-max-idle-connections`, 256), so that the same
//! concurrency again needs no new TLS handshake. The pool used to keep 32: every exchange
//! above 32 at once then cost a handshake on both servers.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::http::{self, HttpMessage};
use super::*;
use crate::demo::network::soap_envelope;

/// More exchanges at once than the old pool kept.
const CONCURRENT: usize = 40;
/// How long the service takes: every exchange of a burst is in flight at the same time.
const SERVICE_TIME: Duration = Duration::from_millis(1000);

async fn hello(proxy: SocketAddr) -> HttpMessage {
    let envelope = soap_envelope(
        &id("POOL/COM/1/a"),
        &service("POOL/GOV/1/s", "helloService"),
        "<ns1:helloService><name>pool</name></ns1:helloService>",
    );
    post_soap_to(proxy, &envelope).await
}

/// The client-side TLS handshakes the consumer has completed.
async fn handshakes(admin: SocketAddr) -> u64 {
    let r = http::send(admin, "GET", "/metrics", &[], b"").await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let series = "xroad_tls_handshakes_total{side=\"client\",outcome=\"ok\"} ";
    r.text()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_exchanges_reuse_all_their_connections() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let service = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/soap", service.local_addr().expect("addr"));
        let arrivals = Arc::new(Mutex::new(Vec::<Instant>::new()));
        let seen = arrivals.clone();
        let _is = MockIs::start(service, move |req| {
            seen.lock().expect("arrivals").push(Instant::now());
            Action::Sleep(SERVICE_TIME, soap_echo(req))
        });
        let (dir, mut net) = own_network(
            "pool",
            &pair_topology("POOL", &[pair_soap_service("helloService", &url)]),
        )
        .await;
        let consumer = net.node("ca").expect("consumer").config.clone();
        let proxy = consumer.listen.client_http.expect("client proxy");
        let admin = consumer.listen.admin.expect("admin port");
        assert_eq!(consumer.peers.pool_max_idle_connections, 256);
        let nodes = start_nodes(&mut net, &[]).await;

        // Bursts of exchanges at once, until one needs no new connection. A burst counts only
        // if all of it reached the service within its service time (all were in flight at
        // once); a busy machine may spread one out.
        let mut before = handshakes(admin).await;
        let mut reused = false;
        for _ in 0..4 {
            arrivals.lock().expect("arrivals").clear();
            let burst = (0..CONCURRENT).map(|_| hello(proxy));
            for r in futures_util::future::join_all(burst).await {
                assert_eq!(r.status(), 200, "{}", r.text());
                assert!(faultcode(&r.text()).is_none(), "{}", r.text());
            }
            let after = handshakes(admin).await;
            let times = arrivals.lock().expect("arrivals").clone();
            let together = match (times.iter().min(), times.iter().max()) {
                (Some(first), Some(last)) => *last - *first < SERVICE_TIME,
                _ => false,
            };
            if together && after == before && after as usize >= CONCURRENT {
                reused = true;
                break;
            }
            before = after;
        }
        assert!(
            reused,
            "a burst of {CONCURRENT} exchanges at once needed new connections every time \
             ({before} handshakes)"
        );
        for n in nodes {
            n.stop(Duration::from_secs(2)).await;
        }
        drop(dir);
    })
    .await
    .expect("the test timed out");
}
