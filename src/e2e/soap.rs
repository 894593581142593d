//! SOAP through the shared network: successes (simple, attachments, MTOM) and the faults of
//! the Java test cases, with the exact codes the information system receives.

use std::time::Duration;

use super::http::{self, HttpMessage};
use super::*;
use crate::demo::network::soap_envelope;

fn echo_envelope(client: &str, code: &str, payload: &str) -> String {
    soap_envelope(
        &id(client),
        &service(PROVIDER, code),
        &format!("<ns1:{code}><data>{payload}</data></ns1:{code}>"),
    )
}

/// A request from the consumer's subsystem to `code`, and the client proxy's answer.
async fn call(env: &Env, code: &str) -> HttpMessage {
    post_soap(env, &echo_envelope(CLIENT, code, "e2e")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soap_simple_request_to_the_sample_service() {
    with_env(|env| async move {
        let envelope = soap_envelope(
            &id(CLIENT),
            &service(PROVIDER, "helloService"),
            "<ns1:helloService><name>e2e</name></ns1:helloService>",
        );
        let r = post_soap(env, &envelope).await;
        let body = r.text();
        assert_eq!(r.status(), 200, "{body}");
        assert!(faultcode(&body).is_none(), "{body}");
        assert!(body.contains("Hello e2e!"), "{body}");
        assert!(body.contains(&message_id(&envelope)), "{body}");
        assert!(body.contains("requestHash"), "{body}");
        assert!(r
            .header("content-type")
            .unwrap_or("")
            .starts_with("text/xml"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soap_simple_request_to_an_echo_service() {
    with_env(|env| async move {
        let envelope = echo_envelope(CLIENT, "echo", "plain &amp; simple");
        let r = http::send(
            env.proxy,
            "POST",
            "/",
            &[
                ("Content-Type", "text/xml; charset=utf-8"),
                ("SOAPAction", "\"urn:e2e#echo\""),
            ],
            envelope.as_bytes(),
        )
        .await;
        let body = r.text();
        assert_eq!(r.status(), 200, "{body}");
        assert!(
            body.contains("<ns1:echoResponse><data>plain &amp; simple</data></ns1:echoResponse>"),
            "{body}"
        );
        // The provider IS got the request as the consumer IS sent it.
        let got = env
            .mock
            .received_with(&message_id(&envelope))
            .expect("provider got it");
        assert_eq!(got.text(), envelope);
        assert!(got
            .header("content-type")
            .unwrap_or("")
            .starts_with("text/xml"));
        // The SOAPAction reaches the provider IS as the consumer IS sent it.
        assert_eq!(got.header("soapaction"), Some("\"urn:e2e#echo\""));
    })
    .await;
}

const ATTACHMENT_BINARY: &[u8] = &[0, 1, 2, 3, 0xfe, 0xff, b'\r', b'\n', b'-', b'-', 0x80, 0x7f];
const ATTACHMENT_BASE64: &str = "SGVsbG8sIGF0dGFjaG1lbnQgaW4gYmFzZTY0IQ==";

/// A SOAP-with-attachments package: the SOAP part and two attachments, the second with a
/// base64 content transfer encoding (relayed as it is, never decoded).
fn swa_package(envelope: &str, boundary: &str, soap_type: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Type: {soap_type}\r\nContent-ID: <root>\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(envelope.as_bytes());
    body.extend_from_slice(
        format!("\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-ID: <att1>\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(ATTACHMENT_BINARY);
    body.extend_from_slice(
        format!("\r\n--{boundary}\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <att2>\r\n\r\n{ATTACHMENT_BASE64}\r\n--{boundary}--\r\n")
            .as_bytes(),
    );
    body
}

/// The attachments of a multipart message (every part after the first): content only.
fn attachments(m: &HttpMessage) -> Vec<Vec<u8>> {
    let ct = m.header("content-type").unwrap_or("");
    let b = http::boundary(ct).unwrap_or_else(|| panic!("no boundary in {ct}"));
    http::multipart_parts(&m.body, &b)
        .into_iter()
        .skip(1)
        .map(|(_, c)| c)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soap_with_attachments_round_trips_byte_identical() {
    with_env(|env| async move {
        let envelope = echo_envelope(CLIENT, "echo", "with attachments");
        let boundary = "e2eBoundary4711";
        let package = swa_package(&envelope, boundary, "text/xml; charset=UTF-8");
        let ct =
            format!("multipart/related; type=\"text/xml\"; start=\"<root>\"; boundary={boundary}");
        let r = http::send(
            env.proxy,
            "POST",
            "/",
            &[("Content-Type", ct.as_str())],
            &package,
        )
        .await;
        assert_eq!(r.status(), 200, "{}", r.text());
        assert!(faultcode(&r.text()).is_none(), "{}", r.text());

        // The provider IS received the package with the consumer's boundary, the
        // attachments byte for byte (the base64 one still base64, its header kept).
        let got = env
            .mock
            .received_with(&message_id(&envelope))
            .expect("provider got it");
        let got_ct = got.header("content-type").unwrap_or("");
        assert_eq!(
            http::boundary(got_ct).as_deref(),
            Some(boundary),
            "{got_ct}"
        );
        let parts = http::multipart_parts(&got.body, boundary);
        assert_eq!(parts.len(), 3, "{}", got.text());
        assert_eq!(parts[0].1, envelope.as_bytes());
        assert_eq!(parts[1].1, ATTACHMENT_BINARY);
        assert_eq!(parts[2].1, ATTACHMENT_BASE64.as_bytes());
        assert!(
            parts[2]
                .0
                .to_ascii_lowercase()
                .contains("content-transfer-encoding: base64"),
            "{}",
            parts[2].0
        );

        // The response's attachments come back to the consumer IS as the mock sent them.
        let resp_ct = r.header("content-type").unwrap_or("").to_owned();
        assert!(resp_ct.starts_with("multipart/related"), "{resp_ct}");
        assert_eq!(
            http::boundary(&resp_ct).as_deref(),
            Some("MOCKresponseBoundary")
        );
        let atts = attachments(&r);
        assert_eq!(
            atts,
            vec![
                ATTACHMENT_BINARY.to_vec(),
                ATTACHMENT_BASE64.as_bytes().to_vec()
            ]
        );
        let soap = &http::multipart_parts(&r.body, "MOCKresponseBoundary")[0].1;
        let soap = String::from_utf8_lossy(soap);
        assert!(
            soap.contains("<ns1:echoResponse>") && soap.contains("requestHash"),
            "{soap}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtom_single_part_and_package() {
    with_env(|env| async move {
        // The root part alone, as application/xop+xml.
        let envelope = echo_envelope(CLIENT, "echo", "mtom alone");
        let r = http::send(
            env.proxy,
            "POST",
            "/",
            &[("Content-Type", "application/xop+xml; charset=UTF-8; type=\"text/xml\"")],
            envelope.as_bytes(),
        )
        .await;
        assert_eq!(r.status(), 200, "{}", r.text());
        assert!(r.text().contains("<ns1:echoResponse><data>mtom alone</data>"), "{}", r.text());

        // An MTOM package: the xop root refers to the binary part.
        let envelope = echo_envelope(
            CLIENT,
            "echo",
            "<xop:Include xmlns:xop=\"http://www.w3.org/2004/08/xop/include\" href=\"cid:att1\"/>",
        );
        let boundary = "MIMEBoundary_e2e_mtom";
        let package = swa_package(
            &envelope,
            boundary,
            "application/xop+xml; charset=UTF-8; type=\"text/xml\"",
        );
        let ct = format!(
            "multipart/related; type=\"application/xop+xml\"; start=\"<root>\"; start-info=\"text/xml\"; boundary=\"{boundary}\""
        );
        let r = http::send(env.proxy, "POST", "/", &[("Content-Type", ct.as_str())], &package).await;
        assert_eq!(r.status(), 200, "{}", r.text());
        assert!(faultcode(&r.text()).is_none(), "{}", r.text());
        let got = env.mock.received_with(&message_id(&envelope)).expect("provider got it");
        let parts = http::multipart_parts(&got.body, boundary);
        assert_eq!(parts.len(), 3);
        assert!(parts[0].0.to_ascii_lowercase().contains("application/xop+xml"), "{}", parts[0].0);
        assert_eq!(parts[1].1, ATTACHMENT_BINARY);
        assert_eq!(attachments(&r), vec![ATTACHMENT_BINARY.to_vec(), ATTACHMENT_BASE64.as_bytes().to_vec()]);
    })
    .await;
}

/// What is wrong, the method, the headers, the body, the expected fault code.
type MalformedCase<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, String, &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_client_codes() {
    with_env(|env| async move {
        let good = echo_envelope(CLIENT, "echo", "x");
        let xml = [("Content-Type", "text/xml; charset=utf-8")];
        let cases: Vec<MalformedCase> = vec![
            (
                "not XML",
                "POST",
                xml.to_vec(),
                "this is not XML".into(),
                "client.invalid_soap",
            ),
            (
                "wrong content type",
                "POST",
                vec![("Content-Type", "application/json")],
                good.clone(),
                "client.invalid_content_type",
            ),
            // Java builds its decoder outside the try that makes client faults: internal_error.
            (
                "no content type",
                "POST",
                vec![],
                good.clone(),
                "server.clientproxy.internal_error",
            ),
            (
                "wrong method",
                "GET",
                xml.to_vec(),
                String::new(),
                "client.invalid_http_method",
            ),
            (
                "wrong method with body",
                "PUT",
                xml.to_vec(),
                good.clone(),
                "client.invalid_http_method",
            ),
            (
                "missing header",
                "POST",
                xml.to_vec(),
                cut(&good, "<soapenv:Header>", "</soapenv:Header>", true),
                "client.missing_header",
            ),
            (
                "missing client",
                "POST",
                xml.to_vec(),
                cut(&good, "<xrd:client", "</xrd:client>", true),
                "client.missing_header_field",
            ),
            (
                "missing service",
                "POST",
                xml.to_vec(),
                cut(&good, "<xrd:service", "</xrd:service>", true),
                "client.missing_header_field",
            ),
            (
                "missing id",
                "POST",
                xml.to_vec(),
                cut(&good, "<xrd:id>", "</xrd:id>", true),
                "client.missing_header_field",
            ),
            (
                "missing protocol version",
                "POST",
                xml.to_vec(),
                cut(
                    &good,
                    "<xrd:protocolVersion>",
                    "</xrd:protocolVersion>",
                    true,
                ),
                "client.missing_header_field",
            ),
            (
                "wrong protocol version",
                "POST",
                xml.to_vec(),
                good.replace("<xrd:protocolVersion>4.0<", "<xrd:protocolVersion>3.1<"),
                "client.invalid_protocol_version",
            ),
            (
                "missing body",
                "POST",
                xml.to_vec(),
                cut(&good, "<soapenv:Body>", "</soapenv:Body>", true),
                "client.missing_body",
            ),
            (
                "two body elements",
                "POST",
                xml.to_vec(),
                good.replace("</ns1:echo>", "</ns1:echo><ns1:echo/>"),
                "client.invalid_body",
            ),
            (
                "body does not name the service",
                "POST",
                xml.to_vec(),
                good.replace("ns1:echo>", "ns1:other>"),
                "client.inconsistent_headers",
            ),
            (
                "malformed SOAPAction",
                "POST",
                vec![("Content-Type", "text/xml"), ("SOAPAction", "not quoted")],
                good.clone(),
                "client.invalid_soap_action",
            ),
        ];
        for (what, method, headers, body, code) in cases {
            let r = http::send(env.proxy, method, "/", &headers, body.as_bytes()).await;
            let text = r.text();
            assert_eq!(r.status(), 200, "{what}: {text}");
            assert_eq!(faultcode(&text).as_deref(), Some(code), "{what}: {text}");
        }
    })
    .await;
}

/// `s` without the text from `from` to `to` (inclusive of both when `inclusive`).
fn cut(s: &str, from: &str, to: &str, inclusive: bool) -> String {
    let a = s.find(from).expect("from");
    let b = s[a..].find(to).expect("to") + a;
    if inclusive {
        format!("{}{}", &s[..a], &s[b + to.len()..])
    } else {
        format!("{}{}", &s[..a + from.len()], &s[b..])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_unregistered_clients_are_unknown_members() {
    with_env(|env| async move {
        // Not in the consumer's server configuration.
        let r = post_soap(env, &echo_envelope("DEV/COM/9999/nobody", "echo", "x")).await;
        assert_soap_fault(&r, "server.clientproxy.unknown_member");
        // In the consumer's server configuration, not in the global configuration.
        let r = post_soap(env, &echo_envelope("DEV/COM/1111/ghost", "echo", "x")).await;
        assert_soap_fault(&r, "server.clientproxy.unknown_member");
        // A provider no security server hosts.
        let envelope = soap_envelope(
            &id(CLIENT),
            &service("DEV/GOV/9999/nothing", "echo"),
            "<ns1:echo/>",
        );
        let r = post_soap(env, &envelope).await;
        assert_soap_fault(&r, "server.clientproxy.unknown_member");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_unknown_service_and_service_type() {
    with_env(|env| async move {
        // The consumer's owner member is registered, but only its subsystem has the right.
        let r = post_soap(env, &echo_envelope("DEV/COM/1111", "echo", "x")).await;
        assert_soap_fault(&r, "server.serverproxy.access_denied");

        let r = call(env, "noSuchService").await;
        assert_soap_fault(&r, "server.serverproxy.unknown_service");

        // A SOAP call to a REST service.
        let pets = ServiceId::new(id(PROVIDER), "petstore", None).expect("id");
        let r = post_soap(env, &soap_envelope(&id(CLIENT), &pets, "<ns1:petstore/>")).await;
        assert_soap_fault(&r, "server.serverproxy.service_type");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_disabled_in_the_running_providers_store() {
    with_env(|env| async move {
        let r = call(env, "disabledEcho").await;
        assert_eq!(r.status(), 200);
        assert!(faultcode(&r.text()).is_none(), "{}", r.text());

        let provider = env.net.node("provider").expect("provider");
        let store = xroad_serverconf::Store::open(&provider.config.database_url())
            .await
            .expect("store");
        store
            .update(|c| {
                for client in &mut c.clients {
                    for d in &mut client.service_descriptions {
                        if d.services.iter().any(|s| s.code == "disabledEcho") {
                            d.disabled = true;
                            d.disabled_notice = Some("Back on Monday".into());
                        }
                    }
                }
                Ok(())
            })
            .await
            .expect("disable");
        store.close().await;

        // The node polls its store every 500 ms.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let r = call(env, "disabledEcho").await;
            let body = r.text();
            if faultcode(&body).is_some() {
                assert_soap_fault(&r, "server.serverproxy.service_disabled");
                assert!(body.contains("Back on Monday"), "{body}");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "still enabled: {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Other services of the provider are not affected.
        let r = call(env, "echo").await;
        assert!(faultcode(&r.text()).is_none(), "{}", r.text());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_information_system_failures() {
    with_env(|env| async move {
        let cases = [
            (
                "unreachable",
                "server.serverproxy.service_failed.network_error",
            ),
            ("slow", "server.serverproxy.service_failed.io_error"),
            (
                "wrongContentType",
                "server.serverproxy.service_failed.invalid_content_type",
            ),
            ("notFound", "server.serverproxy.service_failed.http_error"),
            ("garbage", "server.serverproxy.service_failed.invalid_soap"),
            (
                "emptyResponse",
                "server.serverproxy.service_failed.invalid_soap",
            ),
            ("abort", "server.serverproxy.service_failed.io_error"),
            ("noAnswer", "server.serverproxy.service_failed.io_error"),
            // Checked by the consumer: the response does not match the request.
            (
                "inconsistent",
                "server.clientproxy.service_failed.inconsistent_response",
            ),
        ];
        let handles: Vec<_> = cases
            .iter()
            .map(|(code, _)| tokio::spawn(call(env, code)))
            .collect();
        let mut answers = Vec::new();
        for h in handles {
            answers.push(h.await.expect("call"));
        }
        let mut wrong = Vec::new();
        for ((service, code), r) in cases.iter().zip(answers) {
            let body = r.text();
            if r.status() != 200 || faultcode(&body).as_deref() != Some(code) {
                wrong.push(format!(
                    "{service}: expected {code}, got HTTP {} {body}",
                    r.status()
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soap_fault_of_the_service_is_relayed_verbatim() {
    with_env(|env| async move {
        let r = call(env, "fault").await;
        assert_eq!(r.status(), 200, "{}", r.text());
        assert_eq!(r.text(), MOCK_FAULT);
        assert_eq!(faultcode(&r.text()).as_deref(), Some("CODE"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_security_server_that_drops_the_connection() {
    with_env(|env| async move {
        let envelope = soap_envelope(
            &id(CLIENT),
            &service("DEV/GOV/3333/dead", "echo"),
            "<ns1:echo/>",
        );
        let r = post_soap(env, &envelope).await;
        assert_soap_fault(&r, "server.clientproxy.network_error");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_attachment_is_spooled_and_round_trips() {
    with_env(|env| async move {
        let envelope = echo_envelope(CLIENT, "echo", "big attachment");
        let big: Vec<u8> = (0..4u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let boundary = "e2eBigBoundary";
        let mut package = format!("--{boundary}\r\nContent-Type: text/xml; charset=UTF-8\r\n\r\n{envelope}\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n").into_bytes();
        package.extend_from_slice(&big);
        package.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let ct = format!("multipart/related; type=\"text/xml\"; boundary={boundary}");
        let r = http::send(env.proxy, "POST", "/", &[("Content-Type", ct.as_str())], &package).await;
        assert_eq!(r.status(), 200);
        assert!(faultcode(&r.text()).is_none(), "{}", r.text().chars().take(2000).collect::<String>());
        let atts = attachments(&r);
        assert_eq!(atts.len(), 1);
        assert!(atts[0] == big, "the attachment came back changed ({} bytes)", atts[0].len());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_security_server_that_answers_badly() {
    with_env(|env| async move {
        for (code, fault) in [
            ("cut", "server.clientproxy.service_failed.io_error"),
            ("cutMultipart", "server.clientproxy.service_failed.io_error"),
            (
                "oddType",
                "server.clientproxy.service_failed.invalid_content_type",
            ),
        ] {
            let envelope = soap_envelope(
                &id(CLIENT),
                &service("DEV/GOV/4444/dummy", code),
                &format!("<ns1:{code}/>"),
            );
            let r = post_soap(env, &envelope).await;
            assert_soap_fault(&r, fault);
        }
        // Only 200 and 500 are answers (Java's `AbstractHttpSender#checkResponseStatus`); a
        // redirect is not followed.
        let envelope = soap_envelope(
            &id(CLIENT),
            &service("DEV/GOV/4444/dummy", "redirected"),
            "<ns1:redirected/>",
        );
        let r = post_soap(env, &envelope).await;
        assert_soap_fault(&r, "server.clientproxy.http_error");
        assert!(
            r.text()
                .contains("<faultstring>Server responded with error 302: Found</faultstring>"),
            "{}",
            r.text()
        );
    })
    .await;
}

/// The consumer's health port serves its signer's counters: a signed request raises the
/// number of signed messages, and every message is in some batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_port_reports_batch_signing() {
    with_env(|env| async move {
        let health = env
            .net
            .node("consumer")
            .and_then(|n| n.config.listen.health_check)
            .expect("the consumer's health check address");
        let counter = |text: &str, name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
        };
        let before = http::send(health, "GET", "/metrics", &[], b"").await;
        assert_eq!(before.status(), 200);
        assert!(before
            .header("content-type")
            .unwrap_or("")
            .starts_with("text/plain"));
        let messages = counter(&before.text(), "xroad_signer_batched_messages_total");

        let r = call(env, "echo").await;
        assert_eq!(r.status(), 200, "{}", r.text());

        let after = http::send(health, "GET", "/metrics", &[], b"").await.text();
        assert!(counter(&after, "xroad_signer_batched_messages_total") > messages);
        assert_eq!(
            counter(&after, "xroad_signer_batch_size_count"),
            counter(&after, "xroad_signer_batches_total")
        );
        assert!(after.contains("xroad_signer_batch_size_bucket{le=\"+Inf\"}"));
    })
    .await;
}
