//! A provider information system behind HTTPS: served without pinning, pinned to its
//! client's IS certificate, refused when its certificate is not one of them (Java's
//! `CustomSSLSocketFactory`), and redirects that are not followed (Java's `HttpClientCreator`
//! disables redirect handling): SOAP treats the `302` as an HTTP error, REST relays it.

use super::http::{self, response, Action, MockIs};
use super::*;
use crate::demo::network::soap_envelope;

/// A self-signed certificate (PEM) and key, and the certificate's DER.
fn certificate() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (cert, key) = crate::node::generate_internal_cert().expect("certificate");
    let der = openssl::x509::X509::from_pem(&cert)
        .and_then(|c| c.to_der())
        .expect("DER");
    (cert, key, der)
}

/// The HTTPS information system: SOAP echo, and redirects to a path it would record.
fn handler(req: &http::HttpMessage) -> Action {
    let (_, target) = req.request_line();
    if target.starts_with("/redirect") || target.starts_with("/rest-redirect") {
        return Action::Respond(response(
            "302 Found",
            &[("Location", "/followed"), ("Content-Type", "text/plain")],
            b"moved",
        ));
    }
    Action::Respond(soap_echo(req))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_provider_pinning_and_redirects() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (cert_a, key_a, der_a) = certificate();
        let (cert_b, key_b, _) = certificate();
        let listener_a = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let listener_b = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url_a = format!("https://{}", listener_a.local_addr().expect("addr"));
        let url_b = format!("https://{}", listener_b.local_addr().expect("addr"));
        let tls =
            |cert: &[u8], key: &[u8]| xroad_proxy::internal_tls_config(cert, key).expect("TLS");
        let is_a = MockIs::start_tls(listener_a, tls(&cert_a, &key_a), handler);
        let _is_b = MockIs::start_tls(listener_b, tls(&cert_b, &key_b), handler);

        let yaml = pair_topology(
            "TLS",
            &[
                pair_soap_service("open", &format!("{url_a}/echo")),
                pair_soap_service("pinned", &format!("{url_a}/echo")),
                pair_soap_service("wrongPin", &format!("{url_b}/echo")),
                pair_soap_service("redirect", &format!("{url_a}/redirect")),
                format!("{{ provider: GOV/1/s, code: restRedirect, type: rest, url: \"{url_a}/rest-redirect\", allowed: [COM/1/a] }}"),
                format!("{{ provider: GOV/1/s, code: restWrongPin, type: rest, url: \"{url_b}/rest\", allowed: [COM/1/a] }}"),
            ],
        );
        let (dir, mut net) = own_network("https", &yaml).await;

        // The provider's subsystem has A's certificate as its IS certificate; `open` does
        // not ask the service for it.
        let provider = net.node("pa").expect("provider");
        let store = xroad_serverconf::Store::open(&provider.config.database_url())
            .await
            .expect("provider store");
        store
            .update(|c| {
                for client in &mut c.clients {
                    client
                        .certificates
                        .push(xroad_serverconf::Certificate(der_a.clone()));
                    for d in &mut client.service_descriptions {
                        for s in &mut d.services {
                            s.ssl_authentication = s.code != "open";
                        }
                    }
                }
                Ok(())
            })
            .await
            .expect("IS certificate");
        store.close().await;
        let nodes = start_nodes(&mut net, &[]).await;
        let proxy = net
            .node("ca")
            .and_then(|n| n.config.listen.client_http)
            .expect("client proxy");
        let call = |code: &'static str| {
            let envelope = soap_envelope(
                &id("TLS/COM/1/a"),
                &service("TLS/GOV/1/s", code),
                &format!("<ns1:{code}><data>over TLS</data></ns1:{code}>"),
            );
            async move { post_soap_to(proxy, &envelope).await }
        };
        let faultstring = |r: &http::HttpMessage| {
            let t = r.text();
            let start = t.find("<faultstring>").map(|i| i + "<faultstring>".len());
            let end = t.find("</faultstring>");
            match (start, end) {
                (Some(s), Some(e)) if s <= e => t[s..e].to_owned(),
                _ => String::new(),
            }
        };

        // HTTPS without pinning, and pinned to the certificate the service presents.
        for code in ["open", "pinned"] {
            let r = call(code).await;
            assert_eq!(r.status(), 200, "{code}: {}", r.text());
            assert!(faultcode(&r.text()).is_none(), "{code}: {}", r.text());
            assert!(
                r.text()
                    .contains(&format!("<ns1:{code}Response><data>over TLS</data>")),
                "{code}: {}",
                r.text()
            );
        }

        // B's certificate is not the client's IS certificate.
        let r = call("wrongPin").await;
        assert_soap_fault(
            &r,
            "server.serverproxy.service_failed.ssl_authentication_failed",
        );
        assert_eq!(faultstring(&r), "IS certificate is not trusted");

        // REST: Java's REST handler has started its response when it calls the service, so
        // the code has no `service_failed` prefix.
        let r = http::send(
            proxy,
            "GET",
            "/r1/TLS/GOV/1/s/restWrongPin/items",
            &[("X-Road-Client", "TLS/COM/1/a")],
            b"",
        )
        .await;
        assert_eq!(r.status(), 500, "{}", r.text());
        assert_eq!(
            r.header("x-road-error"),
            Some("server.serverproxy.ssl_authentication_failed"),
            "{}",
            r.text()
        );

        // SOAP: a redirect is not followed, and only 200 and 500 are answers.
        let r = call("redirect").await;
        assert_soap_fault(&r, "server.serverproxy.service_failed.http_error");
        assert_eq!(faultstring(&r), "Server responded with error 302: Found");

        // REST: the redirect is the service's answer, relayed as it came.
        let r = http::send(
            proxy,
            "GET",
            "/r1/TLS/GOV/1/s/restRedirect/somewhere",
            &[("X-Road-Client", "TLS/COM/1/a")],
            b"",
        )
        .await;
        assert_eq!(r.status(), 302, "{:?} {}", r.headers, r.text());
        assert_eq!(r.header("location"), Some("/followed"));
        assert!(r.header("x-road-error").is_none(), "{:?}", r.headers);
        assert_eq!(r.text(), "moved");
        assert!(is_a.received_with("/rest-redirect/somewhere").is_some());
        assert!(
            is_a.received_with("/followed").is_none(),
            "a redirect was followed"
        );

        for n in nodes {
            n.stop(Duration::from_secs(2)).await;
        }
        drop(dir);
    })
    .await
    .expect("the test timed out");
}
