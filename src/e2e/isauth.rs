//! IS authentication on the client proxy (Java's `MessageProcessorBase#verifyClientAuthentication`):
//! a consumer subsystem per mode (`NOSSL`, `SSLNOAUTH`, `SSLAUTH` with a registered IS
//! certificate, `SSLAUTH` with none), called over HTTP and over HTTPS with no client
//! certificate, the registered one, an unregistered one and the server's own internal TLS
//! certificate. The failures are Java's `CodedException(X_SSL_AUTH_FAILED, …)`, which
//! `AbstractClientProxyHandler#handle` catches as a `Throwable` and gives the client proxy's
//! prefix: `server.clientproxy.ssl_authentication_failed`, for SOAP and REST alike.

use super::http::{self, HttpMessage};
use super::*;
use crate::demo::network::soap_envelope;

const NET: &str = r#"instance: ISA
members:
  - { class: COM, code: "1", subsystems: [nossl, noauth, auth, nocerts] }
  - { class: GOV, code: "1", subsystems: [s] }
security-servers:
  - { code: ca, owner: COM/1, clients: [COM/1/nossl, COM/1/noauth, COM/1/auth, COM/1/nocerts] }
  - { code: pa, owner: GOV/1, clients: [GOV/1/s] }
services:
  - { provider: GOV/1/s, code: helloService, type: soap, version: v1, url: "sample:soap", allowed: [COM/1/nossl, COM/1/noauth, COM/1/auth, COM/1/nocerts] }
  - { provider: GOV/1/s, code: petstore, type: openapi, url: "sample:rest", allowed: [COM/1/nossl, COM/1/noauth, COM/1/auth, COM/1/nocerts] }
"#;

const FAILED: &str = "server.clientproxy.ssl_authentication_failed";

/// A self-signed certificate and its key (PEM), and the certificate's DER.
fn certificate() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (cert, key) = crate::node::generate_internal_cert().expect("certificate");
    let der = openssl::x509::X509::from_pem(&cert)
        .and_then(|c| c.to_der())
        .expect("DER");
    (cert, key, der)
}

/// How a test call reaches the client proxy.
#[derive(Clone, Copy)]
enum Via<'a> {
    Http,
    Https(Option<(&'a [u8], &'a [u8])>),
}

/// The consumer's client proxy.
#[derive(Clone, Copy)]
struct Proxy {
    http: SocketAddr,
    https: SocketAddr,
}

impl Proxy {
    async fn send(
        self,
        via: Via<'_>,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpMessage {
        match via {
            Via::Http => http::send(self.http, method, target, headers, body).await,
            Via::Https(cert) => {
                http::send_tls(self.https, cert, method, target, headers, body).await
            }
        }
    }

    /// The sample `helloService` called by the subsystem `sub`.
    async fn soap(self, sub: &str, via: Via<'_>) -> HttpMessage {
        let envelope = soap_envelope(
            &id(&format!("ISA/COM/1/{sub}")),
            &service("ISA/GOV/1/s", "helloService"),
            "<ns1:helloService><name>isauth</name></ns1:helloService>",
        );
        let headers = [("Content-Type", "text/xml; charset=utf-8")];
        self.send(via, "POST", "/", &headers, envelope.as_bytes())
            .await
    }

    /// The sample pet store called by the subsystem `sub`.
    async fn rest(self, sub: &str, via: Via<'_>) -> HttpMessage {
        let client = format!("ISA/COM/1/{sub}");
        let headers = [("X-Road-Client", client.as_str())];
        self.send(
            via,
            "GET",
            "/r1/ISA/GOV/1/s/petstore/pets?tag=dog",
            &headers,
            b"",
        )
        .await
    }
}

fn faultstring(r: &HttpMessage) -> String {
    let t = r.text();
    let start = t.find("<faultstring>").map(|i| i + "<faultstring>".len());
    let end = t.find("</faultstring>");
    match (start, end) {
        (Some(s), Some(e)) if s <= e => t[s..e].to_owned(),
        _ => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn is_authentication_modes_over_http_and_https() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (registered, registered_key, registered_der) = certificate();
        let (other, other_key, _) = certificate();
        let (dir, mut net) = own_network("isauth", NET).await;

        let consumer = net.node("ca").expect("consumer");
        let store = xroad_serverconf::Store::open(&consumer.config.database_url())
            .await
            .expect("consumer store");
        store
            .update(|c| {
                use xroad_serverconf::IsAuthentication::*;
                for client in &mut c.clients {
                    let Some(sub) = client.id.0.subsystem_code().map(str::to_owned) else {
                        continue;
                    };
                    client.is_authentication = match sub.as_str() {
                        "noauth" => SslNoAuth,
                        "auth" | "nocerts" => SslAuth,
                        _ => NoSsl,
                    };
                    if sub == "auth" {
                        client
                            .certificates
                            .push(xroad_serverconf::Certificate(registered_der.clone()));
                    }
                }
                Ok(())
            })
            .await
            .expect("IS authentication");
        store.close().await;
        let nodes = start_nodes(&mut net, &[]).await;
        let layout = net.node("ca").expect("consumer");
        let http_addr = layout.config.listen.client_http.expect("client proxy");
        let https_addr = layout.config.listen.client_https.expect("HTTPS client proxy");
        // Written by the node when its HTTPS listener started.
        let tls_dir = layout.config.state_dir.join("internal-tls");
        let own = std::fs::read(tls_dir.join("cert.pem")).expect("internal certificate");
        let own_key = std::fs::read(tls_dir.join("key.pem")).expect("internal key");

        let proxy = Proxy {
            http: http_addr,
            https: https_addr,
        };
        let ok = |r: &HttpMessage, what: &str| {
            assert_eq!(r.status(), 200, "{what}: {}", r.text());
            assert!(faultcode(&r.text()).is_none(), "{what}: {}", r.text());
            assert!(r.text().contains("Hello isauth!"), "{what}: {}", r.text());
        };
        let refused = |r: &HttpMessage, what: &str, sub: &str, message: &str| {
            assert_soap_fault(r, FAILED);
            assert_eq!(
                faultstring(r),
                format!("Client (SUBSYSTEM:ISA/COM/1/{sub}) {message}"),
                "{what}"
            );
        };
        let registered = Some((registered.as_slice(), registered_key.as_slice()));
        let unregistered = Some((other.as_slice(), other_key.as_slice()));
        let internal = Some((own.as_slice(), own_key.as_slice()));

        // NOSSL: anything goes.
        for (what, via) in [
            ("HTTP", Via::Http),
            ("HTTPS", Via::Https(None)),
            ("HTTPS + certificate", Via::Https(unregistered)),
        ] {
            ok(&proxy.soap("nossl", via).await, &format!("nossl over {what}"));
        }

        // SSLNOAUTH: HTTPS, with or without a certificate.
        refused(
            &proxy.soap("noauth", Via::Http).await,
            "noauth over HTTP",
            "noauth",
            "specifies HTTPS NO AUTH but client made plaintext connection",
        );
        ok(&proxy.soap("noauth", Via::Https(None)).await, "noauth over HTTPS");
        ok(
            &proxy.soap("noauth", Via::Https(unregistered)).await,
            "noauth over HTTPS + certificate",
        );

        // SSLAUTH: a registered certificate (or the server's own internal one).
        let no_cert = "specifies HTTPS but did not supply TLS certificate";
        refused(&proxy.soap("auth", Via::Http).await, "auth over HTTP", "auth", no_cert);
        refused(
            &proxy.soap("auth", Via::Https(None)).await,
            "auth over HTTPS",
            "auth",
            no_cert,
        );
        refused(
            &proxy.soap("auth", Via::Https(unregistered)).await,
            "auth, unregistered certificate",
            "auth",
            "TLS certificate does not match any IS certificates",
        );
        ok(
            &proxy.soap("auth", Via::Https(registered)).await,
            "auth, registered certificate",
        );
        ok(
            &proxy.soap("auth", Via::Https(internal)).await,
            "auth, internal certificate",
        );

        // SSLAUTH without IS certificates: only the local connection passes.
        refused(
            &proxy.soap("nocerts", Via::Https(registered)).await,
            "nocerts",
            "nocerts",
            "has no IS certificates",
        );
        ok(
            &proxy.soap("nocerts", Via::Https(internal)).await,
            "nocerts, internal certificate",
        );

        // REST: the same check, the same code, as `X-Road-Error`.
        let r = proxy.rest("noauth", Via::Http).await;
        assert_eq!(r.status(), 500, "{}", r.text());
        assert_eq!(r.header("x-road-error"), Some(FAILED), "{}", r.text());
        let json: serde_json::Value = serde_json::from_str(&r.text()).expect("JSON");
        assert_eq!(json["type"], FAILED);
        assert_eq!(
            json["message"],
            "Client (SUBSYSTEM:ISA/COM/1/noauth) specifies HTTPS NO AUTH but client made plaintext connection"
        );
        let r = proxy.rest("auth", Via::Https(unregistered)).await;
        assert_eq!(r.header("x-road-error"), Some(FAILED), "{}", r.text());
        for (sub, via) in [("noauth", Via::Https(None)), ("auth", Via::Https(registered))] {
            let r = proxy.rest(sub, via).await;
            assert_eq!(r.status(), 200, "{sub}: {}", r.text());
            assert!(r.text().contains("Rex"), "{sub}: {}", r.text());
        }

        for n in nodes {
            n.stop(Duration::from_secs(2)).await;
        }
        drop(dir);
    })
    .await
    .expect("the test timed out");
}
