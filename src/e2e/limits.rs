//! The limits of a node's configuration, end to end: `limits.max-message-size` refuses a
//! larger request, and `limits.client-timeout` ends the wait for a slow provider long before
//! the default 30 s.

use std::time::Duration;

use super::http::Action;
use super::pki::PrivateNet;
use super::*;
use crate::demo::network::soap_envelope;

/// The consumer's limits.
const MAX_MESSAGE_SIZE: u64 = 64 * 1024;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the slow service takes (its own service timeout, 60 s, is not reached).
const SLOW: Duration = Duration::from_secs(8);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_size_limit_and_client_timeout() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let yaml = pair_topology(
            "LIM",
            &[
                pair_soap_service("echo", "{mock}"),
                pair_soap_service("slow", "{mock}-slow"),
            ],
        );
        let net = PrivateNet::start_with(
            &yaml,
            |req| {
                let (_, target) = req.request_line();
                if target == "/echo-slow" {
                    Action::Sleep(SLOW, soap_echo(req))
                } else {
                    Action::Respond(soap_echo(req))
                }
            },
            |net| {
                let consumer = net
                    .nodes
                    .iter_mut()
                    .find(|n| n.name == "ca")
                    .expect("consumer");
                consumer.config.limits.max_message_size = MAX_MESSAGE_SIZE;
                consumer.config.limits.client_timeout = CLIENT_TIMEOUT;
            },
        )
        .await;
        let proxy = net
            .net
            .node("ca")
            .and_then(|n| n.config.listen.client_http)
            .expect("client proxy");
        let post = |data: String, code: &'static str| {
            let envelope = soap_envelope(
                &id("LIM/COM/1/a"),
                &service("LIM/GOV/1/s", code),
                &format!("<ns1:{code}><data>{data}</data></ns1:{code}>"),
            );
            async move { post_soap_to(proxy, &envelope).await }
        };

        // Under the limit: served.
        let r = post("x".repeat(32 * 1024), "echo").await;
        assert_eq!(r.status(), 200, "{}", r.text());
        assert!(faultcode(&r.text()).is_none(), "{}", r.text());

        // Over the limit: the information system's fault (a `client.` code, as for its other
        // unacceptable requests), with the limit named.
        let r = post("x".repeat(MAX_MESSAGE_SIZE as usize), "echo").await;
        assert_soap_fault(&r, "client.invalid_message");
        assert!(
            r.text().contains(&format!(
                "Message is larger than the limit of {MAX_MESSAGE_SIZE} bytes"
            )),
            "{}",
            r.text()
        );

        // A provider slower than the client timeout: the read time-out, before the provider
        // answers (so neither the default 30 s nor the provider were waited for). Java's
        // `SocketTimeoutException` "Read timed out" is an `IOException`, not a
        // `SocketException`: `io_error` (common-core `XrdRuntimeException.java`
        // `resolveExceptionCode`, lines 293/296), with the client proxy's prefix
        // (`AbstractClientProxyHandler.java`, lines 152-156).
        let started = tokio::time::Instant::now();
        let r = post("slow".into(), "slow").await;
        let waited = started.elapsed();
        assert_soap_fault(&r, "server.clientproxy.io_error");
        assert!(
            r.text()
                .contains("<faultstring>Read timed out</faultstring>"),
            "{}",
            r.text()
        );
        assert!(waited < SLOW, "answered after {waited:?}");
        net.stop().await;
    })
    .await
    .expect("the test timed out");
}
