//! A hand-written client proxy: it holds the consumer's keys (its signer folder and PIN, its
//! authentication certificate and OCSP responses) and sends transport messages straight to
//! the provider's server proxy over mutual TLS, so that a test can leave out the signature
//! or change a signed part after signing — what no man in the middle could do, because the
//! TLS between the security servers is end to end.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use xroad_confclient::GlobalConf;
use xroad_crypto::{Certificate, DigestAlgorithm};
use xroad_fault::XRoadError;
use xroad_globalconf::PrioritizationStrategy;
use xroad_identifiers::ClientId;
use xroad_proxy::transport::{self, TransportWriter};
use xroad_proxy::{
    AuthCredentials, OwnAuth, PeerIdentity, ProxyContext, ProxySettings, TlsConnector,
};
use xroad_serverconf::ServerConfSnapshot;
use xroad_signer::ocsp::{OcspManager, OcspSettings};
use xroad_signer::{KeySigner, KeyUsage, ServiceConfig, Signer, SignerConfig, SignerHandle};

use super::http::HttpMessage;
use crate::demo::{Network, NodeLayout};

/// What to do to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forgery {
    /// Signed as the client proxy would (a control).
    None,
    /// No signature part.
    Unsigned,
    /// Signed, then one byte of the SOAP part changed.
    Tampered,
}

/// The consumer's identity, usable from a test.
pub(crate) struct Forger {
    ctx: Arc<ProxyContext>,
    connector: TlsConnector,
    _gc: watch::Sender<Option<Arc<GlobalConf>>>,
    _sc: watch::Sender<Arc<ServerConfSnapshot>>,
}

impl Forger {
    /// Opens the keys and configuration of `consumer` (a running node; files are only read).
    pub async fn of(net: &Network, consumer: &str, provider: &str) -> Forger {
        Self::with_conf_of(net, consumer, provider, consumer).await
    }

    /// As [`Forger::of`], with the global configuration `conf_node` downloaded (for a node
    /// that is not running).
    pub async fn with_conf_of(
        net: &Network,
        consumer: &str,
        provider: &str,
        conf_node: &str,
    ) -> Forger {
        let layout: &NodeLayout = net.node(consumer).expect("consumer");
        let config = &layout.config;
        let conf_dir = net
            .node(conf_node)
            .expect("conf node")
            .config
            .globalconf_dir();
        let signer =
            Arc::new(Signer::open(SignerConfig::new(config.signer_dir())).expect("signer"));
        let pins =
            xroad_signer::autologin::collect_pins(&[], config.pin_file.as_ref().expect("pin file"))
                .expect("pins");
        signer.login(&pins[0].0, &pins[0].1).expect("login");
        let settings = OcspSettings::from_directory(&conf_dir, PrioritizationStrategy::default())
            .expect("OCSP settings");
        let ocsp = Arc::new(OcspManager::new(
            config.signer_dir().join("ocsp-cache"),
            settings,
        ));
        let handle = SignerHandle::spawn(signer.clone(), ServiceConfig::default()).with_ocsp(ocsp);

        let gc = Arc::new(GlobalConf::load(&conf_dir).expect("global configuration"));
        let store = xroad_serverconf::Store::open(&config.database_url())
            .await
            .expect("store");
        let snapshot = xroad_serverconf::load_snapshot(&store, gc.own())
            .await
            .expect("snapshot");
        store.close().await;
        let (gc_tx, gc_rx) = watch::channel(Some(gc));
        let (sc_tx, sc_rx) = watch::channel(Arc::new(snapshot));

        let info = signer
            .certs()
            .expect("certs")
            .into_iter()
            .find(|c| c.usage == Some(KeyUsage::Authentication) && c.active)
            .expect("auth cert");
        let Ok(KeySigner::Soft(key)) = signer.key_signer(&info.key_id) else {
            panic!("the auth key is not on the software token");
        };
        let x509 = openssl::x509::X509::from_der(info.cert.der()).expect("x509");
        let credentials = AuthCredentials::new((*key).clone(), vec![x509]).expect("credentials");
        let chain: Vec<Arc<Certificate>> = vec![info.cert.clone()];
        let auth = OwnAuth {
            server_id: layout.server_id.clone(),
            key_id: info.key_id.clone(),
            credentials: credentials.clone(),
            chain,
        };
        let proxy_settings = ProxySettings::default();
        let provider_id = net.node(provider).expect("provider").server_id.clone();
        let connector = TlsConnector::new(
            &proxy_settings.tls,
            &credentials,
            Arc::new(move |_: &[Vec<u8>]| {
                Ok::<_, XRoadError>(PeerIdentity::new(provider_id.clone()))
            }),
        )
        .expect("connector");
        let ctx = ProxyContext::new(proxy_settings, gc_rx, sc_rx, handle, auth).expect("context");
        Forger {
            ctx,
            connector,
            _gc: gc_tx,
            _sc: sc_tx,
        }
    }

    /// The node's TLS credentials.
    pub fn credentials(&self) -> AuthCredentials {
        self.ctx.auth().credentials.clone()
    }

    /// The node's signer (its OCSP responses).
    pub fn signer(&self) -> SignerHandle {
        self.ctx.signer().clone()
    }

    /// Sends `soap` from `client` to the server proxy at `address` as a transport message,
    /// forged as asked; the server proxy's answer.
    pub async fn send(
        &self,
        address: &str,
        client: &ClientId,
        soap: &str,
        forgery: Forgery,
    ) -> HttpMessage {
        let signed_bytes = soap.as_bytes().to_vec();
        let mut sent_bytes = signed_bytes.clone();
        if forgery == Forgery::Tampered {
            let i = soap.find("</data>").expect("a data element") - 1;
            sent_bytes[i] ^= 0x01;
        }
        let digest = DigestAlgorithm::Sha512.digest(&signed_bytes);
        let signing = self.ctx.signing_context(client).expect("signing context");
        let signed = self
            .ctx
            .signer()
            .sign_message(
                &signing.key_id,
                signing.builder.clone(),
                vec![("/message.xml".to_owned(), digest)],
            )
            .await
            .expect("signature");
        let ocsp = self.ctx.own_auth_ocsp().expect("own OCSP");

        let (tx, body) = transport::channel_body(8);
        let (mut w, content_type) = TransportWriter::new(tx).expect("writer");
        tokio::spawn(async move {
            let r = async {
                for o in ocsp {
                    w.part(transport::OCSP_RESPONSE, &[], Bytes::from(o))
                        .await?;
                }
                w.part("text/xml; charset=UTF-8", &[], Bytes::from(sent_bytes))
                    .await?;
                if forgery != Forgery::Unsigned {
                    if let Some(hc) = &signed.hash_chain {
                        w.part(
                            transport::HASH_CHAIN_RESULT,
                            &[],
                            Bytes::from(hc.result.to_vec()),
                        )
                        .await?;
                        w.part(transport::HASH_CHAIN, &[], Bytes::from(hc.chain.clone()))
                            .await?;
                    }
                    w.part(
                        transport::SIGNATURE,
                        &[],
                        Bytes::from(signed.signature.to_vec()),
                    )
                    .await?;
                }
                w.finish().await
            }
            .await;
            if let Err(e) = r {
                eprintln!("forged request not sent whole: {e}");
            }
        });

        let conn = self
            .connector
            .connect(address)
            .await
            .expect("TLS to the provider");
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(conn.into_stream()))
                .await
                .expect("HTTP handshake");
        tokio::spawn(connection);
        let request = hyper::Request::post("/")
            .header("host", address)
            .header("content-type", content_type)
            .header("x-hash-algorithm", "SHA-512")
            .header("x-proxy-version", xroad_proxy::PROXY_VERSION)
            .header("x-original-content-type", "text/xml; charset=utf-8")
            .header("x-original-soapaction", "")
            .header("x-road-request-id", "e2e-forged-request")
            .body(body)
            .expect("request");
        let response = sender.send_request(request).await.expect("response");
        let status = response.status();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        HttpMessage {
            start: format!(
                "HTTP/1.1 {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
            headers,
            body: body.to_vec(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_and_tampered_transport_messages() {
    use super::*;
    with_env(|env| async move {
        let forger = Forger::of(&env.net, "consumer", "provider").await;
        let provider = env.net.node("provider").expect("provider").address.clone();
        let envelope = crate::demo::network::soap_envelope(
            &id(CLIENT),
            &service(PROVIDER, "echo"),
            "<ns1:echo><data>forged</data></ns1:echo>",
        );
        // The control: signed as a client proxy signs, it is served.
        let r = forger
            .send(&provider, &id(CLIENT), &envelope, Forgery::None)
            .await;
        assert_eq!(r.status(), 200, "{}", r.text());
        assert!(
            r.header("content-type")
                .unwrap_or("")
                .starts_with("multipart/mixed"),
            "{:?} {}",
            r.headers,
            r.text()
        );
        assert!(
            r.text().contains("<ns1:echoResponse><data>forged</data>"),
            "{}",
            r.text()
        );

        let r = forger
            .send(&provider, &id(CLIENT), &envelope, Forgery::Unsigned)
            .await;
        assert_soap_fault(&r, "server.serverproxy.missing_signature");

        let r = forger
            .send(&provider, &id(CLIENT), &envelope, Forgery::Tampered)
            .await;
        assert_soap_fault(
            &r,
            "server.serverproxy.signature_verification.invalid_signature_value",
        );
    })
    .await;
}

/// The provider's IS sends a whole SOAP part and then cuts its attachment short: as Java's
/// `ServerMessageProcessor` (which streams the parts out as it parses them), the server proxy
/// sends the SOAP part, the attachment's bytes read before the cut, and then the fault part;
/// the consumer relays the fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_cut_after_its_soap_part() {
    use super::*;
    with_env(|env| async move {
        let forger = Forger::of(&env.net, "consumer", "provider").await;
        let provider = env.net.node("provider").expect("provider").address.clone();
        let envelope = crate::demo::network::soap_envelope(
            &id(CLIENT),
            &service(PROVIDER, "cutAttachment"),
            "<ns1:cutAttachment><data>cut</data></ns1:cutAttachment>",
        );
        let r = forger
            .send(&provider, &id(CLIENT), &envelope, Forgery::None)
            .await;
        assert_eq!(r.status(), 200, "{}", r.text());
        assert_eq!(
            r.header("x-original-content-type"),
            Some("multipart/related; type=\"text/xml\"; boundary=MOCKcut")
        );
        let ct = r.header("content-type").unwrap_or("").to_owned();
        assert!(ct.starts_with("multipart/mixed"), "{ct}: {}", r.text());
        let parts =
            super::http::multipart_parts(&r.body, &super::http::boundary(&ct).expect("boundary"));
        assert_eq!(parts.len(), 3, "{}", r.text());
        assert!(
            String::from_utf8_lossy(&parts[0].1)
                .contains("<ns1:cutAttachmentResponse><data>cut</data>"),
            "{}",
            r.text()
        );
        // The attachments' nested multipart, closed before the fault part (Java's
        // `ProxyMessageEncoder#fault` ends it first).
        let nested = parts[1]
            .0
            .strip_prefix("content-type: ")
            .and_then(super::http::boundary)
            .expect("nested multipart");
        let attachments = super::http::multipart_parts(&parts[1].1, &nested);
        assert_eq!(attachments.len(), 1, "{}", r.text());
        assert_eq!(attachments[0].0, "content-type: application/octet-stream");
        assert_eq!(attachments[0].1, b"the attachment begins", "{}", r.text());
        assert_eq!(parts[2].0, "content-type: text/xml; charset=UTF-8");
        assert_eq!(
            faultcode(&String::from_utf8_lossy(&parts[2].1)).as_deref(),
            Some("server.serverproxy.service_failed.io_error"),
            "{}",
            r.text()
        );

        let r = post_soap(env, &envelope).await;
        assert_soap_fault(&r, "server.serverproxy.service_failed.io_error");
    })
    .await;
}

/// A fault as the only part of the server proxy's response, once the provider's IS has
/// answered (its fault, a body that is not SOAP, another content type): Java's
/// `ServerMessageProcessor#parseResponse` has added the IS's content type as
/// `x-original-content-type` before it parses the answer, so the header comes with the fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_only_response_names_the_original_content_type() {
    use super::*;
    with_env(|env| async move {
        let forger = Forger::of(&env.net, "consumer", "provider").await;
        let provider = env.net.node("provider").expect("provider").address.clone();
        for (code, original, fault) in [
            ("fault", "text/xml; charset=UTF-8", "CODE"),
            (
                "garbage",
                "text/xml; charset=UTF-8",
                "server.serverproxy.service_failed.invalid_soap",
            ),
            (
                "wrongContentType",
                "application/json",
                "server.serverproxy.service_failed.invalid_content_type",
            ),
        ] {
            let envelope = crate::demo::network::soap_envelope(
                &id(CLIENT),
                &service(PROVIDER, code),
                &format!("<ns1:{code}/>"),
            );
            let r = forger
                .send(&provider, &id(CLIENT), &envelope, Forgery::None)
                .await;
            assert_eq!(r.status(), 200, "{code}: {}", r.text());
            assert_eq!(
                r.header("x-original-content-type"),
                Some(original),
                "{code}"
            );
            let ct = r.header("content-type").unwrap_or("").to_owned();
            assert!(ct.starts_with("multipart/mixed"), "{code}: {ct}");
            let parts = super::http::multipart_parts(
                &r.body,
                &super::http::boundary(&ct).expect("boundary"),
            );
            assert_eq!(parts.len(), 1, "{code}: {}", r.text());
            assert_eq!(
                faultcode(&String::from_utf8_lossy(&parts[0].1)).as_deref(),
                Some(fault),
                "{code}: {}",
                r.text()
            );
        }

        // Before the IS answered (it could not be reached): a plain fault, no such header.
        let envelope = crate::demo::network::soap_envelope(
            &id(CLIENT),
            &service(PROVIDER, "unreachable"),
            "<ns1:unreachable/>",
        );
        let r = forger
            .send(&provider, &id(CLIENT), &envelope, Forgery::None)
            .await;
        assert_soap_fault(&r, "server.serverproxy.service_failed.network_error");
        assert_eq!(r.header("x-original-content-type"), None);
    })
    .await;
}
