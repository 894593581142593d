use proptest::prelude::*;
use xroad_fault::{ErrorCode, Origin, Spelling, XRoadError};
use xroad_identifiers::{ClientId, SecurityServerId, ServiceId};

use super::*;

const REQUEST_ID: &str = "f92591a3-6bf0-49b1-987b-0dd78c034cc3";
const MESSAGE_ID: &str = "DEV-5ea48ae9-15c1-465a-be15-9b6ef2c7ef4a";
const PATH: &str = "/r1/DEV/COM/222/TESTSERVICE/petstore/v2/pets/1124";
const CLIENT: (&str, &str) = ("X-Road-Client", "DEV/COM/111/TESTCLIENT");

/// The request header part of PROTOCOL-DIGEST §5.5.
const EXAMPLE_REQUEST_PART: &str = concat!(
    "GET\r\n",
    "/r1/DEV/COM/222/TESTSERVICE/petstore/v2/pets/1124?term=a%20b\r\n",
    "Accept:application/json\r\n",
    "X-Road-Client:DEV/COM/111/TESTCLIENT\r\n",
    "x-road-request-id:f92591a3-6bf0-49b1-987b-0dd78c034cc3\r\n",
    "x-road-id:DEV-5ea48ae9-15c1-465a-be15-9b6ef2c7ef4a\r\n",
);

/// Computed with `openssl dgst -sha512 -binary` over [`EXAMPLE_REQUEST_PART`] and
/// `{"name":"doggie"}` (see the test for the exact recipe).
const HASH_NO_BODY: &str =
    "u2qXMPHnNKmyKtfQjELNVn9NGqx+j9+XH3u61WoenjrQ1gKTvd8yzOrFPON+PbtTpR53e8LAYOpMKfSsjTXDAg==";
const HASH_WITH_BODY: &str =
    "NGNmFdmsKUsbmwiGgLYWKRB9/ypVV8ep3h3+e4UcVVwQubDfVMAeuarDGOtV3WGTOXqungL1K4O86Yheso+kfA==";
const HASH_EMPTY_BODY: &str =
    "aFG8jGWGZxyQAl37UlJQJGJPiYWcTjk1Haw+mY8HMlevgg88k2cu1f/n7mfiWAlJif2s22Qh0O/Fu6QCavz9eQ==";

fn from_client(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<RestRequest, XRoadError> {
    RestRequest::from_client_with(
        method,
        path,
        None,
        headers.iter().copied(),
        REQUEST_ID,
        || MESSAGE_ID.to_owned(),
    )
}

fn example_request() -> RestRequest {
    let headers = [
        ("Host", "localhost:8080"),
        ("Accept", "application/json"),
        CLIENT,
        ("User-Agent", "curl/8.5.0"),
    ];
    RestRequest::from_client_with("GET", PATH, Some("term=a%20b"), headers, REQUEST_ID, || {
        MESSAGE_ID.to_owned()
    })
    .unwrap()
}

/// Asserts a client proxy fault as errors-rest.md §3.2 lists it: code, message, HTTP 500.
#[track_caller]
fn assert_fault<T: std::fmt::Debug>(result: Result<T, XRoadError>, code: &str, message: &str) {
    let e = result.unwrap_err();
    assert_eq!(e.fault_code(Spelling::Current), code);
    assert_eq!(e.message(), message);
    assert_eq!(
        e.rest_error(Spelling::Current, std::iter::empty()).status,
        500
    );
}

#[track_caller]
fn assert_internal<T: std::fmt::Debug>(result: Result<T, XRoadError>, message: &str) {
    assert_fault(result, "server.clientproxy.internal_error", message);
}

fn svc(path_ids: &str) -> String {
    format!("/r1/{path_ids}")
}

// ---- errors-rest.md §3.2, one test per parsing row ----

#[test]
fn row3_method_must_be_an_exact_verb() {
    for method in ["FOO", "get", "Get", "CONNECT", ""] {
        assert_internal(
            from_client(method, PATH, &[CLIENT]),
            &format!("No enum constant ee.ria.xroad.common.message.RestRequest.Verb.{method}"),
        );
    }
    // Checked before the path.
    assert_internal(
        from_client("FOO", "/r1/x", &[]),
        "No enum constant ee.ria.xroad.common.message.RestRequest.Verb.FOO",
    );
    let e = from_client("FOO", PATH, &[CLIENT]).unwrap_err();
    assert_eq!(
        e.fault_code(Spelling::Legacy),
        "Server.ClientProxy.InternalError"
    );
    for verb in [
        "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
    ] {
        assert_eq!(
            from_client(verb, PATH, &[CLIENT]).unwrap().verb().as_str(),
            verb
        );
    }
}

#[test]
fn row4_path_needs_seven_parts() {
    for path in [
        "/r1/EE/GOV/123/svc",
        "/r1/invalid",
        "/r1/",
        "/r1/EE/GOV/123/SUB",
    ] {
        assert_internal(from_client("GET", path, &[CLIENT]), "Invalid request URI");
    }
    // Checked before the headers.
    assert_internal(
        from_client("GET", "/r1/x", &[("X-Road-Client", "bad")]),
        "Invalid request URI",
    );
}

#[test]
fn row5_only_r1_paths_are_rest() {
    assert!(is_rest_path("/r1/EE/GOV/123/SUB/svc"));
    assert!(is_rest_path("/r1/"));
    for path in [
        "/r2/EE/GOV/123/SUB/svc",
        "/rx/a",
        "/R1/a",
        "/r1",
        "r1/a",
        "//r1/a",
        "/%721/a",
    ] {
        assert!(!is_rest_path(path), "{path}");
    }
    // Reached directly (not via the client proxy routing), the version is still checked.
    assert_internal(
        from_client("GET", "/r2/a/b/c/d/e", &[CLIENT]),
        "Unsupported protocol version 2",
    );
    assert_internal(
        from_client("GET", "/rx/a/b/c/d/e", &[CLIENT]),
        "Invalid protocol version rx",
    );
    assert_internal(
        from_client("GET", "/r11/a/b/c/d/e", &[CLIENT]),
        "Invalid protocol version r11",
    );
}

#[test]
fn row6_bad_percent_encoding_in_path() {
    assert_internal(
        from_client("GET", &svc("EE/GOV/12%3/SUB/svc"), &[CLIENT]),
        "Incomplete percent encoding",
    );
    assert_internal(
        from_client("GET", &svc("EE/GOV/123/SUB/svc%"), &[CLIENT]),
        "Incomplete percent encoding",
    );
    assert_internal(
        from_client("GET", &svc("EE/GOV/1%zz/SUB/svc"), &[CLIENT]),
        "Invalid percent encoding",
    );
    // Not UTF-8 after decoding: replaced, as Java does, not an error.
    let r = from_client("GET", &svc("EE/GOV/123/SUB/s%FFc"), &[CLIENT]).unwrap();
    assert_eq!(r.service().service_code(), "s\u{fffd}c");
}

#[test]
fn row7_bad_character_in_path_segment() {
    for ids in [
        "EE/GOV/1[2/SUB/svc",
        "EE/GOV/123/S\"B/svc",
        "EE/GÖV/123/SUB/svc",
        "E E/G/1/S/s",
    ] {
        assert_internal(
            from_client("GET", &svc(ids), &[CLIENT]),
            "Invalid character in path segment",
        );
    }
    // The service path is not decoded.
    let r = from_client("GET", &svc("EE/GOV/123/SUB/svc/a b/%zz/"), &[CLIENT]).unwrap();
    assert_eq!(r.service_path(), "/a b/%zz/");
}

#[test]
fn row8_blank_path_identifiers() {
    let cases = [
        ("/GOV/123/SUB/svc", "'xRoadInstance' must not be blank"),
        ("EE/%20/123/SUB/svc", "'memberClass' must not be blank"),
        ("EE/GOV//SUB/svc", "'memberCode' must not be blank"),
        ("EE/GOV/123/SUB/", "'serviceCode' must not be blank"),
        ("EE/GOV/123/SUB/%09", "'serviceCode' must not be blank"),
        ("EE/GOV/123//svc", "'subsystemCode' must not be blank"),
    ];
    for (ids, message) in cases {
        assert_internal(from_client("GET", &svc(ids), &[CLIENT]), message);
    }
    // All segments are decoded before any is checked for blanks.
    assert_internal(
        from_client("GET", &svc("/GOV/1%zz/SUB/svc"), &[CLIENT]),
        "Invalid percent encoding",
    );
    // Java checks the subsystem only after the client: a missing client is reported first.
    assert_fault(
        from_client("GET", &svc("EE/GOV/123//svc"), &[]),
        "server.clientproxy.invalid_client_identifier",
        "The client identifier is missing",
    );
}

#[test]
fn row9_missing_client() {
    let missing = |r| {
        assert_fault(
            r,
            "server.clientproxy.invalid_client_identifier",
            "The client identifier is missing",
        )
    };
    missing(from_client("GET", PATH, &[]));
    missing(from_client(
        "GET",
        PATH,
        &[("X-Road-Clients", "DEV/COM/111")],
    ));
    let e = from_client("GET", PATH, &[]).unwrap_err();
    assert_eq!(
        e.fault_code(Spelling::Legacy),
        "Server.ClientProxy.InvalidClientIdentifier"
    );
    assert_eq!(e.origin(), Some(Origin::ClientProxy));
    // Any case of the name.
    let r = from_client("GET", PATH, &[("x-road-CLIENT", "DEV/COM/111")]).unwrap();
    assert_eq!(r.client(), &ClientId::member("DEV", "COM", "111").unwrap());
    // Header errors come before the missing-client check.
    assert_internal(
        from_client("GET", PATH, &[("X-Road-Security-Server", "a/b")]),
        "Invalid SecurityServer Id",
    );
}

#[test]
fn row10_client_part_count() {
    for value in ["A/B", "A/B/C/D/E", "A/B/C/D/E/F", "", "A"] {
        assert_internal(
            from_client("GET", PATH, &[("X-Road-Client", value)]),
            "Invalid Client Id",
        );
    }
}

#[test]
fn row11_client_percent_and_characters() {
    let cases = [
        ("A/B/C%2", "Incomplete percent encoding"),
        ("A/B/C%zz", "Invalid percent encoding"),
        ("A/B/C D", "Invalid character in path segment"),
        ("A/B/C/%", "Incomplete percent encoding"),
    ];
    for (value, message) in cases {
        assert_internal(
            from_client("GET", PATH, &[("X-Road-Client", value)]),
            message,
        );
    }
    let r = from_client("GET", PATH, &[("X-Road-Client", "A/B/C%2FD/%C3%A9")]).unwrap();
    assert_eq!(
        r.client(),
        &ClientId::subsystem("A", "B", "C/D", "é").unwrap()
    );
}

#[test]
fn row12_client_blank_parts() {
    let cases = [
        ("/B/C", "'xRoadInstance' must not be blank"),
        ("A//C", "'memberClass' must not be blank"),
        ("A/B/", "'memberCode' must not be blank"),
        ("A/B/C/", "'subsystemCode' must not be blank"),
        ("A/B/C/%20", "'subsystemCode' must not be blank"),
    ];
    for (value, message) in cases {
        assert_internal(
            from_client("GET", PATH, &[("X-Road-Client", value)]),
            message,
        );
    }
}

#[test]
fn row13_repeated_client_last_wins_each_decoded() {
    let r = from_client(
        "GET",
        PATH,
        &[("X-Road-Client", "A/B/C"), ("x-road-client", "D/E/F/G")],
    )
    .unwrap();
    assert_eq!(
        r.client(),
        &ClientId::subsystem("D", "E", "F", "G").unwrap()
    );
    assert_internal(
        from_client(
            "GET",
            PATH,
            &[("X-Road-Client", "A/B"), ("X-Road-Client", "D/E/F")],
        ),
        "Invalid Client Id",
    );
    assert_internal(
        from_client(
            "GET",
            PATH,
            &[("X-Road-Client", "D/E/F"), ("X-Road-Client", "A//C")],
        ),
        "'memberClass' must not be blank",
    );
}

#[test]
fn row14_security_server_part_count() {
    for value in ["A/B/C", "A/B/C/D/", "A/B/C/D/E", ""] {
        assert_internal(
            from_client("GET", PATH, &[CLIENT, ("X-Road-Security-Server", value)]),
            "Invalid SecurityServer Id",
        );
    }
    let r = from_client(
        "GET",
        PATH,
        &[CLIENT, ("x-road-security-server", "DEV/COM/222/ss1")],
    )
    .unwrap();
    let expected = SecurityServerId::new(ClientId::member("DEV", "COM", "222").unwrap(), "ss1");
    assert_eq!(r.security_server(), Some(&expected.unwrap()));
}

#[test]
fn row15_security_server_segments() {
    let cases = [
        ("A/B/C/%zz", "Invalid percent encoding"),
        ("A/B/C/%", "Incomplete percent encoding"),
        ("A/B/C/s s", "Invalid character in path segment"),
        ("A/B/C/%20", "'serverCode' must not be blank"),
        ("A//C/D", "'memberClass' must not be blank"),
    ];
    for (value, message) in cases {
        assert_internal(
            from_client("GET", PATH, &[CLIENT, ("X-Road-Security-Server", value)]),
            message,
        );
    }
}

#[test]
fn row16_represented_party_part_count() {
    let party = |value| {
        from_client("GET", PATH, &[CLIENT, ("X-Road-Represented-Party", value)])
            .map(|r| r.represented_party().cloned())
    };
    for value in ["a/b/c", "a//b", "/a/b"] {
        assert_internal(party(value), "Invalid RepresentedParty Id");
    }
    let p = |class: Option<&str>, code: &str| {
        Some(RepresentedParty {
            party_class: class.map(Into::into),
            party_code: Some(code.into()),
        })
    };
    assert_eq!(party("COM/123").unwrap(), p(Some("COM"), "123"));
    assert_eq!(party("a/b/").unwrap(), p(Some("a"), "b"));
    assert_eq!(party("a/b//").unwrap(), p(Some("a"), "b"));
    assert_eq!(party("123").unwrap(), p(None, "123"));
    assert_eq!(party("").unwrap(), p(None, ""));
    assert_eq!(party("/b").unwrap(), p(Some(""), "b"));
    assert_eq!(party("/").unwrap(), None);
    assert_eq!(party("%20").unwrap(), p(None, " "));
}

#[test]
fn row17_represented_party_segments() {
    let party = |value| from_client("GET", PATH, &[CLIENT, ("X-Road-Represented-Party", value)]);
    assert_internal(party("a/b%zz"), "Invalid percent encoding");
    assert_internal(party("a%4x/b"), "Invalid percent encoding");
    assert_internal(party("a%4/b"), "Incomplete percent encoding");
    assert_internal(party("a/b%"), "Incomplete percent encoding");
    assert_internal(party("a b"), "Invalid character in path segment");
}

// ---- the request on the client proxy ----

#[test]
fn identifiers_and_paths() {
    let r = example_request();
    assert_eq!(r.verb(), Verb::Get);
    assert_eq!(r.path(), PATH);
    assert_eq!(r.query(), Some("term=a%20b"));
    assert_eq!(
        r.service().to_string(),
        "SERVICE:DEV/COM/222/TESTSERVICE/petstore"
    );
    assert_eq!(r.service_path(), "/v2/pets/1124");
    assert_eq!(r.client().to_string(), "SUBSYSTEM:DEV/COM/111/TESTCLIENT");
    assert_eq!(r.message_id(), MESSAGE_ID);
    assert_eq!(r.request_id(), Some(REQUEST_ID));
    assert_eq!(r.security_server(), None);
    assert_eq!(r.represented_party(), None);

    let service_path = |path: &str| {
        from_client("GET", path, &[CLIENT])
            .unwrap()
            .service_path()
            .to_owned()
    };
    assert_eq!(service_path("/r1/A/B/C/D/svc"), "");
    assert_eq!(service_path("/r1/A/B/C/D/svc/"), "/");
    assert_eq!(service_path("/r1/A/B/C/D/svc//x"), "//x");
    let r = from_client("GET", "/r1/A%2FB/B/C/D/s%20c", &[CLIENT]).unwrap();
    assert_eq!(
        r.service(),
        &ServiceId::from_rest("A%2FB/B/C/D/s%20c").unwrap()
    );
}

#[test]
fn example_request_header_part_bytes() {
    let r = example_request();
    assert_eq!(
        String::from_utf8(r.header_part_bytes()).unwrap(),
        EXAMPLE_REQUEST_PART
    );
    // Without a query there is no `?`; with an empty one there is.
    let mut no_query = from_client("GET", PATH, &[CLIENT])
        .unwrap()
        .header_part_bytes();
    no_query.truncate(PATH.len() + 7);
    assert_eq!(no_query, format!("GET\r\n{PATH}\r\n").as_bytes());
    let empty = RestRequest::from_client("POST", PATH, Some(""), [CLIENT], REQUEST_ID, "DEV");
    assert!(empty
        .unwrap()
        .header_part_bytes()
        .starts_with(format!("POST\r\n{PATH}?\r\n").as_bytes()));
}

#[test]
fn client_headers_are_filtered_then_ids_appended() {
    let headers = [
        ("Host", "ss:8080"),
        ("Accept", "application/json"),
        ("Content-Length", "17"),
        ("X-Road-Request-Id", "from-is"),
        ("Content-Type", "application/json"),
        ("TRANSFER-ENCODING", "chunked"),
        ("x-road-request-hash", "bogus"),
        CLIENT,
        ("Connection", "keep-alive"),
        ("Keep-Alive", "5"),
        ("User-Agent", "x"),
        ("Expect", "100-continue"),
        ("TE", "trailers"),
        ("Trailer", "x"),
        ("Upgrade", "h2c"),
        ("Proxy-Authorization", "x"),
        ("Proxy-Authenticate", "x"),
        ("Server", "x"),
        ("X-Custom", " spaced value "),
        ("X-Custom", "second"),
        ("X-Road-UserId", "EE123"),
        ("X-Road-Issue", "ISSUE-1"),
        ("X-Road-Issue", "ISSUE-2"),
    ];
    let r = from_client("PUT", PATH, &headers).unwrap();
    let names: Vec<(&str, &str)> = r
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("Accept", "application/json"),
            ("Content-Type", "application/json"),
            CLIENT,
            ("X-Custom", " spaced value "),
            ("X-Custom", "second"),
            ("X-Road-UserId", "EE123"),
            ("X-Road-Issue", "ISSUE-1"),
            ("X-Road-Issue", "ISSUE-2"),
            ("x-road-request-id", REQUEST_ID),
            ("x-road-id", MESSAGE_ID),
        ]
    );
    assert_eq!(r.request_id(), Some(REQUEST_ID));
    assert_eq!(r.user_id(), Some("EE123"));
    assert_eq!(r.issue(), Some("ISSUE-1"));
}

#[test]
fn given_message_id_is_kept_and_not_appended() {
    let r = from_client(
        "GET",
        PATH,
        &[("X-Road-Id", "my-id"), CLIENT, ("x-road-id", "later")],
    )
    .unwrap();
    assert_eq!(r.message_id(), "later");
    assert_eq!(
        r.headers().last().unwrap(),
        &("x-road-request-id".to_owned(), REQUEST_ID.to_owned())
    );
    // An empty X-Road-Id is still a given one (Java tests for null only).
    let r = from_client("GET", PATH, &[CLIENT, ("X-Road-Id", "")]).unwrap();
    assert_eq!(r.message_id(), "");
    assert_eq!(r.headers().len(), 3);
}

#[test]
fn generated_message_id_is_instance_dash_uuid() {
    let r = RestRequest::from_client("GET", PATH, None, [CLIENT], REQUEST_ID, "DEV").unwrap();
    let id = r.message_id().strip_prefix("DEV-").unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert_ne!(id, REQUEST_ID);
    assert_eq!(
        r.headers().last().unwrap(),
        &("x-road-id".to_owned(), r.message_id().to_owned())
    );
}

// ---- request hash ----

#[test]
fn request_hash_matches_openssl() {
    // printf '<EXAMPLE_REQUEST_PART>' > hdr.bin; printf '{"name":"doggie"}' > body.bin
    // openssl dgst -sha512 -binary hdr.bin | base64 -w0
    // (openssl dgst -sha512 -binary hdr.bin; openssl dgst -sha512 -binary body.bin) \
    //   | openssl dgst -sha512 -binary | base64 -w0
    let part = example_request().header_part_bytes();
    assert_eq!(request_hash(&part, None), HASH_NO_BODY);
    let mut body = BodyHasher::new();
    body.update(b"{\"name\":");
    body.update(b"");
    body.update(b"\"doggie\"}");
    assert_eq!(request_hash(&part, Some(body.finish())), HASH_WITH_BODY);
    // A present but empty body part is hashed as such.
    assert_eq!(
        request_hash(&part, Some(BodyHasher::default().finish())),
        HASH_EMPTY_BODY
    );
    assert_eq!(
        &request_digest(&part, None)[..],
        ring::digest::digest(&ring::digest::SHA512, &part).as_ref()
    );
}

// ---- the response on the provider side ----

fn example_response() -> RestResponse {
    let request = example_request();
    let digest = request_digest(&request.header_part_bytes(), None);
    let provider_headers = [
        ("Content-Type", "application/json;charset=utf-8"),
        ("Connection", "close"),
        ("X-Road-Id", "provider-id"),
        ("Date", "Thu, 21 Mar 2019 12:36:39 GMT"),
        ("Content-Length", "17"),
        ("x-road-client", "X/Y/Z"),
        ("X-Road-Request-Hash", "abc"),
        ("X-Road-Request-Id", "other"),
        ("Transfer-Encoding", "chunked"),
        ("Server", "Jetty(12)"),
    ];
    RestResponse::from_provider(&request, 200, "OK", provider_headers, REQUEST_ID, &digest)
}

#[test]
fn example_response_header_part_bytes() {
    let expected = format!(
        concat!(
            "200\r\n",
            "OK\r\n",
            "Content-Type:application/json;charset=utf-8\r\n",
            "Date:Thu, 21 Mar 2019 12:36:39 GMT\r\n",
            "x-road-id:DEV-5ea48ae9-15c1-465a-be15-9b6ef2c7ef4a\r\n",
            "x-road-client:DEV/COM/111/TESTCLIENT\r\n",
            "x-road-service:DEV/COM/222/TESTSERVICE/petstore\r\n",
            "x-road-request-id:f92591a3-6bf0-49b1-987b-0dd78c034cc3\r\n",
            "x-road-request-hash:{}\r\n",
        ),
        HASH_NO_BODY
    );
    assert_eq!(
        String::from_utf8(example_response().header_part_bytes()).unwrap(),
        expected
    );
}

#[test]
fn provider_service_header_is_not_replaced() {
    let request = example_request();
    let r = RestResponse::from_provider(
        &request,
        404,
        "",
        [("X-Road-Service", "A/B/C/D/E")],
        REQUEST_ID,
        &[1, 2, 3],
    );
    let text = String::from_utf8(r.header_part_bytes()).unwrap();
    assert!(
        text.starts_with("404\r\n\r\nX-Road-Service:A/B/C/D/E\r\nx-road-id:"),
        "{text}"
    );
    assert!(text.ends_with("x-road-request-hash:AQID\r\n"));
    // Parsing takes the last X-Road-Service, the one the provider SS appended.
    let parsed = RestResponse::parse(text.as_bytes()).unwrap();
    assert_eq!(parsed.service(), Some(request.service()));
    assert_eq!(parsed, r);
}

// ---- parsing request header parts (server proxy) ----

#[track_caller]
fn parse_fails(part: &str, message: &str) {
    let e = RestRequest::parse(part.as_bytes()).unwrap_err();
    assert_eq!(e.fault_code(Spelling::Current), "internal_error");
    assert_eq!(e.message(), message);
}

#[test]
fn request_round_trip() {
    let r = example_request();
    let parsed = RestRequest::parse(&r.header_part_bytes()).unwrap();
    assert_eq!(parsed, r);
    assert_eq!(parsed.header_part_bytes(), r.header_part_bytes());
    let with_extras = from_client(
        "DELETE",
        "/r1/A/B/C/D/svc/x/",
        &[
            CLIENT,
            ("X-Road-Security-Server", "A/B/C/ss"),
            ("X-Road-Represented-Party", "COM/1"),
        ],
    )
    .unwrap();
    assert_eq!(
        RestRequest::parse(&with_extras.header_part_bytes()).unwrap(),
        with_extras
    );
}

#[test]
fn request_lines_may_end_in_cr_or_lf() {
    let canonical = EXAMPLE_REQUEST_PART.as_bytes();
    for sep in ["\n", "\r"] {
        let part = EXAMPLE_REQUEST_PART.replace("\r\n", sep);
        let parsed = RestRequest::parse(part.as_bytes()).unwrap();
        assert_eq!(parsed.header_part_bytes(), canonical);
        // The hash is over the re-serialization, not the received bytes.
        assert_eq!(
            request_hash(&parsed.header_part_bytes(), None),
            HASH_NO_BODY
        );
    }
    let no_final_newline = EXAMPLE_REQUEST_PART.trim_end();
    assert_eq!(
        RestRequest::parse(no_final_newline.as_bytes())
            .unwrap()
            .header_part_bytes(),
        canonical
    );
}

#[test]
fn request_part_syntax_errors() {
    let with = |extra: &str| format!("{EXAMPLE_REQUEST_PART}{extra}");
    parse_fails(&with("\r\n"), "Invalid header");
    parse_fails(&with("no colon\r\n"), "Invalid header");
    parse_fails(&with("Host:ss\r\n"), "Invalid header: Host");
    parse_fails(
        &with("content-LENGTH:1\r\n"),
        "Invalid header: content-LENGTH",
    );
    parse_fails("", "Name is null");
    parse_fails("GET", "Invalid request URI");
    parse_fails(
        "get\r\n/r1/a/b/c/d/e\r\n",
        "No enum constant ee.ria.xroad.common.message.RestRequest.Verb.get",
    );
    parse_fails(
        "GET\r\n/r1/a b/c\r\n",
        "Illegal character in path at index 5: /r1/a b/c",
    );
    parse_fails("GET\r\nhttp://h/r1/a/b/c/d/e\r\n", "Invalid request URI");
    parse_fails("GET\r\n/r2/a/b/c/d/e\r\n", "Unsupported protocol version 2");
    parse_fails("GET\r\n/R1/a/b/c/d/e\r\n", "Invalid protocol version R1");
    parse_fails("GET\r\n/r1/a/b/c/d\r\n", "Invalid request URI");
    // Headers are split before the path is checked.
    parse_fails("GET\r\n/r1/x\r\nbad\r\n", "Invalid header");
}

#[test]
fn request_part_values_and_ids() {
    let part = concat!(
        "POST\r\n/r1/A/B/C/D/svc/p?q=1#frag\r\n",
        "X-Road-Client:A/B/C\r\n",
        "Date:Thu, 21 Mar 2019 12:36:39 GMT\r\n",
        "Empty:\r\n",
        ":no name\r\n",
        "X-Road-Request-Id:upper\r\n",
        "x-road-id:m1\r\n",
    );
    let r = RestRequest::parse(part.as_bytes()).unwrap();
    assert_eq!(r.query(), Some("q=1"));
    assert_eq!(r.service_path(), "/p");
    assert_eq!(r.headers()[1].1, "Thu, 21 Mar 2019 12:36:39 GMT");
    assert_eq!(r.headers()[2].1, "");
    assert_eq!(r.headers()[3].0, "");
    // Only the lower-case name counts as the exchange id (Java compares it case-sensitively).
    assert_eq!(r.request_id(), None);
    assert!(!String::from_utf8(r.header_part_bytes())
        .unwrap()
        .contains("#frag"));

    let e = RestRequest::parse(b"GET\r\n/r1/A/B/C/D/svc\r\nx-road-id:m\r\n").unwrap_err();
    assert_eq!(e.fault_code(Spelling::Current), "invalid_client_identifier");
    assert_eq!(e.message(), "The client identifier is missing");
    parse_fails(
        "GET\r\n/r1/A/B/C/D/svc\r\nX-Road-Client:A/B/C\r\n",
        "Missing x-road-id header",
    );
    // The provider id is used first on the server proxy.
    parse_fails(
        "GET\r\n/r1/A/B/C//svc\r\nx-road-id:m\r\n",
        "'subsystemCode' must not be blank",
    );
}

#[test]
fn request_part_errors_take_the_decoder_prefix() {
    let e = RestRequest::parse(b"GET\r\n/r1/x\r\n").unwrap_err();
    assert_eq!(e.origin(), None);
    let e = e
        .with_prefix(ErrorCode::ServiceFailed)
        .with_origin(Origin::ServerProxy);
    assert_eq!(
        e.fault_code(Spelling::Current),
        "server.serverproxy.service_failed.internal_error"
    );
}

#[test]
fn invalid_utf8_in_part_is_replaced() {
    let mut part = b"GET\r\n/r1/A/B/C/D/svc\r\nX-Road-Client:A/B/C\r\nx-road-id:".to_vec();
    part.extend_from_slice(b"a\xffb\r\n");
    assert_eq!(
        RestRequest::parse(&part).unwrap().message_id(),
        "a\u{fffd}b"
    );
}

// ---- parsing response header parts (client proxy) ----

#[track_caller]
fn response_fails(part: &str, message: &str) {
    let e = RestResponse::parse(part.as_bytes()).unwrap_err();
    assert_eq!(e.fault_code(Spelling::Current), "internal_error");
    assert_eq!(e.message(), message);
}

const MINIMAL_RESPONSE: &str = "200\r\nOK\r\nx-road-id:m\r\nx-road-request-hash:AQID\r\n";

#[test]
fn response_round_trip() {
    let r = example_response();
    let parsed = RestResponse::parse(&r.header_part_bytes()).unwrap();
    assert_eq!(parsed, r);
    assert_eq!(parsed.header_part_bytes(), r.header_part_bytes());
    assert_eq!(parsed.status(), 200);
    assert_eq!(parsed.reason(), "OK");

    let minimal = RestResponse::parse(MINIMAL_RESPONSE.replace("\r\n", "\n").as_bytes()).unwrap();
    assert_eq!(minimal.header_part_bytes(), MINIMAL_RESPONSE.as_bytes());
    assert_eq!(minimal.request_hash(), [1, 2, 3]);
    assert_eq!(
        (minimal.client(), minimal.service(), minimal.request_id()),
        (None, None, None)
    );
}

#[test]
fn response_part_errors() {
    const INVALID: &str = "Invalid REST Response message";
    response_fails("", "Cannot parse null string: null");
    response_fails("OK\r\n", "For input string: \"OK\"");
    response_fails(" 200\r\nOK\r\n", "For input string: \" 200\"");
    response_fails("-1\r\nOK\r\n", "Invalid HTTP status code -1");
    response_fails("200", INVALID);
    response_fails("200\r\nOK\r\n", INVALID);
    response_fails("200\r\nOK\r\nx-road-request-hash:AQID\r\n", INVALID);
    response_fails(
        "200\r\nOK\r\nx-road-id:\r\nx-road-request-hash:AQID\r\n",
        INVALID,
    );
    response_fails("200\r\nOK\r\nx-road-id:m\r\n", INVALID);
    response_fails(
        "200\r\nOK\r\nx-road-id:m\r\nx-road-request-hash:!!\r\n",
        INVALID,
    );
    response_fails(
        "200\r\nOK\r\nx-road-id:m\r\nx-road-request-hash:\r\n",
        INVALID,
    );
    response_fails(
        &format!("{MINIMAL_RESPONSE}Server:x\r\n"),
        "Invalid header: Server",
    );
    response_fails(&format!("{MINIMAL_RESPONSE}\r\n"), "Invalid header");
    response_fails(
        &format!("{MINIMAL_RESPONSE}x-road-service:A/B/C/D\r\n"),
        "Invalid Service Id",
    );
    response_fails(
        &format!("{MINIMAL_RESPONSE}x-road-service:A/B/C/D/E/F\r\n"),
        "Invalid Service Id",
    );
    response_fails(
        &format!("{MINIMAL_RESPONSE}x-road-client:A/B\r\n"),
        "Invalid Client Id",
    );
    response_fails(
        &format!("{MINIMAL_RESPONSE}x-road-service:A/B/C/D/\r\n"),
        "'serviceCode' must not be blank",
    );
    // Parsed the way Java's `Integer.parseInt` does.
    assert_eq!(
        RestResponse::parse(b"+201\r\n\r\nx-road-id:m\r\nx-road-request-hash:AQID")
            .unwrap()
            .status(),
        201
    );
}

#[test]
fn consistency_checks_in_java_order() {
    let request = example_request();
    let digest = request_digest(&request.header_part_bytes(), None);
    let response = example_response();
    response.check_consistency(&request, &digest).unwrap();

    let check = |part: String, message: &str| {
        let e = RestResponse::parse(part.as_bytes())
            .unwrap()
            .check_consistency(&request, &digest)
            .unwrap_err();
        assert_eq!(
            e.fault_code(Spelling::Current),
            "server.clientproxy.inconsistent_response"
        );
        assert_eq!(e.message(), message);
        assert_eq!(
            e.rest_error(Spelling::Current, std::iter::empty()).status,
            500
        );
    };
    let part = String::from_utf8(response.header_part_bytes()).unwrap();
    let swap = |from: &str, to: &str| part.replace(from, to);
    check(
        swap(
            "x-road-client:DEV/COM/111/TESTCLIENT",
            "x-road-client:DEV/COM/111",
        ),
        "Response client id does not match request message",
    );
    check(
        swap("x-road-client:DEV/COM/111/TESTCLIENT\r\n", ""),
        "Response client id does not match request message",
    );
    check(
        swap(MESSAGE_ID, "DEV-other"),
        "Response message id does not match request message",
    );
    check(
        swap("petstore", "other"),
        "Response service id does not match request message",
    );
    check(
        swap(REQUEST_ID, "other"),
        "Response message request id does not match request message",
    );
    check(
        swap(HASH_NO_BODY, HASH_WITH_BODY),
        "Response message hash does not match request message",
    );
    // Client first: with everything wrong, the client is reported.
    check(
        swap("DEV/COM/111/TESTCLIENT", "X/Y/Z")
            .replace(MESSAGE_ID, "x")
            .replace(HASH_NO_BODY, "AA=="),
        "Response client id does not match request message",
    );
    // The body digest is part of the hash.
    let body = BodyHasher::new().finish();
    assert!(response
        .check_consistency(
            &request,
            &request_digest(&request.header_part_bytes(), Some(body))
        )
        .is_err());
}

// ---- properties ----

fn header_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(("\\PC{0,12}", "\\PC{0,20}"), 0..8)
}

proptest! {
    #[test]
    fn from_client_never_panics(
        method in "\\PC{0,8}",
        path in prop_oneof!["\\PC*", "/r1/\\PC*", "/r1/([A-Za-z%0-9 ]{0,4}/){4,7}\\PC{0,8}"],
        query in proptest::option::of("\\PC*"),
        mut headers in header_strategy(),
        client in prop_oneof!["\\PC*", "[A-Za-z%/]{0,12}"],
    ) {
        headers.push(("X-Road-Client".to_owned(), client));
        let r = RestRequest::from_client(&method, &path, query.as_deref(), headers, REQUEST_ID, "EE");
        if let Ok(r) = r {
            let _ = RestRequest::parse(&r.header_part_bytes());
        } else if let Err(e) = r {
            prop_assert_eq!(e.origin(), Some(Origin::ClientProxy));
        }
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = RestRequest::parse(&bytes);
        let _ = RestResponse::parse(&bytes);
    }

    #[test]
    fn parse_text_never_panics(
        first in prop_oneof!["\\PC{0,8}", "GET", "200"],
        second in prop_oneof!["\\PC*", "/r1/([A-Za-z%0-9]{0,4}/){4,7}\\PC{0,8}"],
        lines in proptest::collection::vec("\\PC*", 0..6),
        sep in prop_oneof!["\r\n", "\n", "\r"],
    ) {
        let mut text = format!("{first}{sep}{second}");
        for line in lines {
            text.push_str(&sep);
            text.push_str(&line);
        }
        let _ = RestRequest::parse(text.as_bytes());
        let _ = RestResponse::parse(text.as_bytes());
    }

    #[test]
    fn serialize_parse_round_trip(
        verb in proptest::sample::select(vec!["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"]),
        ids in proptest::collection::vec("[A-Za-z0-9._~-]{1,6}|%[0-9A-F]{2}[a-z]", 5),
        service_path in "(/[A-Za-z0-9;=@:]{0,5}){0,3}",
        query in proptest::option::of("[a-z0-9=&/?:@]{0,12}"),
        extra in proptest::collection::vec(("[A-Za-z][A-Za-z0-9]{0,10}", "[ -~]{0,20}"), 0..5),
        status in 100u16..600,
        reason in "[ -~]{0,12}",
        hash in proptest::collection::vec(any::<u8>(), 64),
    ) {
        let path = format!("/r1/{}{service_path}", ids.join("/"));
        let mut headers = extra.clone();
        headers.push(("X-Road-Client".to_owned(), ids[..4].join("/")));
        let request = RestRequest::from_client(verb, &path, query.as_deref(), headers, REQUEST_ID, "EE");
        let request = request.unwrap();
        let part = request.header_part_bytes();
        prop_assert_eq!(&RestRequest::parse(&part).unwrap(), &request);

        let response = RestResponse::from_provider(&request, status, &reason, extra, REQUEST_ID, &hash);
        let parsed = RestResponse::parse(&response.header_part_bytes()).unwrap();
        prop_assert_eq!(&parsed, &response);
        prop_assert!(parsed.check_consistency(&request, &hash).is_ok());
    }
}
