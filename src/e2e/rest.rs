//! REST (r1) through the shared network: every verb with and without a body, query strings,
//! binary bodies, the sample pet store, and the REST faults (status, `X-Road-Error`, JSON).

use super::http::{self, HttpMessage};
use super::*;

const ECHO: &str = "/r1/DEV/GOV/2222/services/restEcho";

async fn rest(
    env: &Env,
    method: &str,
    target: &str,
    client: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpMessage {
    let mut all = vec![("X-Road-Client", client)];
    all.extend_from_slice(headers);
    http::send(env.proxy, method, target, &all, body).await
}

/// Asserts a REST error of the client proxy: status, `X-Road-Error`, JSON body.
#[track_caller]
fn assert_rest_error(r: &HttpMessage, code: &str) {
    let body = r.text();
    let status = if code.starts_with("server.") {
        500
    } else {
        400
    };
    assert_eq!(r.status(), status, "{body}");
    assert_eq!(r.header("x-road-error"), Some(code), "{body}");
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("application/json"),
        "{body}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(json["type"], code, "{body}");
    assert!(
        json["message"].is_string() && json["detail"].is_string(),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_get_from_the_sample_pet_store() {
    with_env(|env| async move {
        let r = rest(
            env,
            "GET",
            "/r1/DEV/GOV/2222/services/petstore/pets?tag=dog",
            CLIENT,
            &[],
            b"",
        )
        .await;
        assert_eq!(r.status(), 200, "{}", r.text());
        assert!(r.text().contains("Rex"), "{}", r.text());
        assert!(r.header("x-road-request-hash").is_some(), "{:?}", r.headers);
        assert_eq!(r.header("x-road-client"), Some(CLIENT));
        assert_eq!(
            r.header("x-road-service"),
            Some("DEV/GOV/2222/services/petstore")
        );
        assert!(
            r.header("x-road-id").unwrap_or("").starts_with("DEV-"),
            "{:?}",
            r.headers
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_every_verb_with_and_without_body_and_query() {
    with_env(|env| async move {
        let binary: Vec<u8> = (0..=255u8).collect();
        let json = br#"{"name": "Rex", "tags": ["dog", "good"]}"#.to_vec();
        let cases: Vec<(&str, &str, Option<&str>, Vec<u8>)> = vec![
            ("GET", "/pets", None, vec![]),
            ("GET", "/pets?tag=dog&limit=2&q=a%20b", None, vec![]),
            ("DELETE", "/pets/1", None, vec![]),
            (
                "DELETE",
                "/pets/2?hard=true",
                Some("application/json"),
                json.clone(),
            ),
            ("POST", "/pets", Some("application/json"), json.clone()),
            (
                "POST",
                "/pets/upload?x=%2F",
                Some("application/octet-stream"),
                binary.clone(),
            ),
            ("POST", "/ping", None, vec![]),
            ("PUT", "/pets/1", Some("application/json"), json.clone()),
            (
                "PUT",
                "/blobs/1",
                Some("application/octet-stream"),
                binary.clone(),
            ),
            (
                "PATCH",
                "/pets/1?dry-run",
                Some("application/merge-patch+json"),
                br#"{"name":"Max"}"#.to_vec(),
            ),
            ("PATCH", "/pets/1", None, vec![]),
            ("GET", "", None, vec![]),
            // The rest of the verbs Java's REST interfaces accept.
            ("HEAD", "/pets/1?fields=name", None, vec![]),
            ("OPTIONS", "/pets", None, vec![]),
            (
                "OPTIONS",
                "/pets?probe=1",
                Some("application/json"),
                json.clone(),
            ),
            ("TRACE", "/pets/1", None, vec![]),
        ];
        for (method, path, ct, body) in cases {
            let target = format!("{ECHO}{path}");
            let mut headers = vec![("X-Road-UserId", "e2e-user"), ("Accept", "*/*")];
            if let Some(ct) = ct {
                headers.push(("Content-Type", ct));
            }
            let r = rest(env, method, &target, CLIENT, &headers, &body).await;
            let what = format!("{method} {target}");
            assert_eq!(r.status(), 200, "{what}: {:?} {}", r.headers, r.text());
            assert_eq!(r.header("x-echo-method"), Some(method), "{what}");
            let expected_target = if path.is_empty() { "/" } else { path };
            assert_eq!(r.header("x-echo-target"), Some(expected_target), "{what}");
            assert_eq!(r.header("x-echo-client"), Some(CLIENT), "{what}");
            assert_eq!(r.body, body, "{what}");
            if let Some(ct) = ct {
                assert_eq!(r.header("content-type"), Some(ct), "{what}");
            }
            assert!(
                r.header("x-road-request-hash").is_some(),
                "{what}: {:?}",
                r.headers
            );
            assert!(r.header("x-road-error").is_none(), "{what}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_faults() {
    with_env(|env| async move {
        // No X-Road-Client header.
        let r = http::send(env.proxy, "GET", &format!("{ECHO}/pets"), &[], b"").await;
        assert_rest_error(&r, "server.clientproxy.invalid_client_identifier");
        // Unknown and unregistered clients.
        let r = rest(
            env,
            "GET",
            &format!("{ECHO}/pets"),
            "DEV/COM/9999/nobody",
            &[],
            b"",
        )
        .await;
        assert_rest_error(&r, "server.clientproxy.unknown_member");
        let r = rest(
            env,
            "GET",
            &format!("{ECHO}/pets"),
            "DEV/COM/1111/ghost",
            &[],
            b"",
        )
        .await;
        assert_rest_error(&r, "server.clientproxy.unknown_member");
        // The member has no right, only its subsystem.
        let r = rest(
            env,
            "GET",
            &format!("{ECHO}/pets"),
            "DEV/COM/1111",
            &[],
            b"",
        )
        .await;
        assert_rest_error(&r, "server.serverproxy.access_denied");
        let r = rest(
            env,
            "GET",
            "/r1/DEV/GOV/2222/services/noSuchService/x",
            CLIENT,
            &[],
            b"",
        )
        .await;
        assert_rest_error(&r, "server.serverproxy.unknown_service");
        // A REST call to a SOAP service (one without a version: REST identifiers have none).
        let r = rest(
            env,
            "GET",
            "/r1/DEV/GOV/2222/services/soapNoVersion",
            CLIENT,
            &[],
            b"",
        )
        .await;
        assert_rest_error(&r, "server.serverproxy.service_type");
        // The provider IS is not there: the fault comes after the response started.
        let r = rest(
            env,
            "GET",
            "/r1/DEV/GOV/2222/services/restUnreachable/x",
            CLIENT,
            &[],
            b"",
        )
        .await;
        assert_rest_error(&r, "server.serverproxy.network_error");
        // An XML error body when the IS asks for XML.
        let r = rest(
            env,
            "GET",
            &format!("{ECHO}/pets"),
            "DEV/COM/9999/nobody",
            &[("Accept", "application/xml")],
            b"",
        )
        .await;
        assert_eq!(r.status(), 500);
        assert_eq!(
            r.header("x-road-error"),
            Some("server.clientproxy.unknown_member")
        );
        assert!(
            r.text()
                .contains("<type>server.clientproxy.unknown_member</type>"),
            "{}",
            r.text()
        );
    })
    .await;
}
