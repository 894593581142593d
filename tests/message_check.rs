//! Black-box tests of `xroad-sidecar message check`: the binary, real files, exit codes and
//! the JSON it prints.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn messages() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/messages/soap")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xroad-sidecar"))
        .args(args)
        .env_remove("XROAD_FAULT_CODE_SPELLING")
        .output()
        .expect("run xroad-sidecar")
}

fn check_soap(file: &str, content_type: &str, extra: &[&str]) -> (i32, Value) {
    let path = messages().join(file);
    let path = path.to_str().expect("utf-8 path");
    let mut args = vec!["message", "check", path, "-c", content_type];
    args.extend_from_slice(extra);
    exit_and_json(&run(&args))
}

/// The exit code and the JSON document the command printed.
fn exit_and_json(out: &Output) -> (i32, Value) {
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().expect("exit code"), json)
}

const TEXT_XML: &str = "text/xml; charset=UTF-8";

#[test]
fn accepted_soap_request_prints_its_headers() {
    let (code, json) = check_soap("getstate.xml", TEXT_XML, &["-H", "SOAPAction: \"\""]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["protocol"], "SOAP");
    let header = &json["message"]["header"];
    assert_eq!(header["client"]["objectType"], "SUBSYSTEM");
    assert_eq!(header["client"]["subsystemCode"], "CLIENT");
    assert_eq!(header["service"]["serviceCode"], "getState");
    assert_eq!(header["service"]["serviceVersion"], "v1");
    assert_eq!(header["id"], "b2f7c2a0-4cc1-4d8e-9a51-3f5c0e2d9a11");
    assert_eq!(header["protocolVersion"], "4.0");
    assert_eq!(json["message"]["serviceName"], "getState");
    assert_eq!(json["soapAction"], "\"\"");
    assert_eq!(json["soapContentType"], TEXT_XML);
}

#[test]
fn refused_soap_requests_print_the_exact_fault() {
    let cases = [
        (
            "missing-protocol-version.xml",
            "client.missing_header_field",
            "Required field 'protocolVersion' is missing",
        ),
        (
            "wrong-protocol-version.xml",
            "client.invalid_protocol_version",
            "Invalid protocol version (supported: 4.x, provided: 3.5)",
        ),
        (
            "duplicate-client.xml",
            "client.duplicate_header_field",
            "SOAP header contains duplicate field '{http://x-road.eu/xsd/xroad.xsd}client'",
        ),
        (
            "missing-body.xml",
            "client.missing_body",
            "Malformed SOAP message: body missing",
        ),
        (
            "two-body-elements.xml",
            "client.invalid_body",
            "Malformed SOAP message: body must have exactly one child element",
        ),
        (
            "inconsistent-service-name.xml",
            "client.inconsistent_headers",
            "Malformed SOAP message: service code does not match in header and body",
        ),
        (
            "missing-object-type.xml",
            "client.invalid_xml",
            "Missing objectType attribute",
        ),
        (
            "soap12.xml",
            "client.invalid_soap",
            "Malformed SOAP message: envelope missing",
        ),
        ("fault.xml", "client.code", "STRING"),
    ];
    for (file, fault_code, fault_string) in cases {
        let (code, json) = check_soap(file, TEXT_XML, &[]);
        assert_eq!(code, 1, "{file}: {json}");
        assert_eq!(json["faultCode"], fault_code, "{file}");
        assert_eq!(json["faultString"], fault_string, "{file}");
        assert_eq!(json["response"]["status"], 200);
        assert_eq!(
            json["response"]["headers"]["Content-Type"],
            "text/xml;charset=utf-8"
        );
        let body = json["response"]["body"].as_str().expect("body");
        assert!(
            body.contains(&format!("<faultcode>{fault_code}</faultcode>")),
            "{body}"
        );
    }
    let (code, json) = check_soap("malformed.xml", TEXT_XML, &[]);
    assert_eq!(
        (code, json["faultCode"].as_str()),
        (1, Some("client.invalid_soap"))
    );
}

#[test]
fn legacy_spelling() {
    let (_, json) = check_soap("missing-body.xml", TEXT_XML, &["--spelling", "7.7"]);
    assert_eq!(json["faultCode"], "Client.MissingBody");
}

#[test]
fn http_level_checks() {
    let (_, json) = check_soap("getstate.xml", "application/json", &[]);
    assert_eq!(json["faultCode"], "client.invalid_content_type");
    assert_eq!(
        json["faultString"],
        "Invalid content type: application/json"
    );
    let (_, json) = check_soap("getstate.xml", TEXT_XML, &["-X", "GET"]);
    assert_eq!(json["faultCode"], "client.invalid_http_method");
    let (_, json) = check_soap(
        "getstate.xml",
        TEXT_XML,
        &["-H", "SOAPAction: urn:unquoted"],
    );
    assert_eq!(json["faultCode"], "client.invalid_soap_action");
}

#[test]
fn soap_with_attachments_and_mtom() {
    let (code, json) = check_soap(
        "swa.mime",
        "multipart/related; type=\"text/xml\"; start=\"<rootpart>\"; boundary=\"MIME_boundary\"",
        &[],
    );
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["multipart"], true);
    let att = &json["attachments"][0];
    assert_eq!(
        att["contentType"],
        "application/octet-stream; name=data.bin"
    );
    assert_eq!(att["size"], 28, "the base64 text is kept raw");
    let (code, json) = check_soap("mtom.mime", "Multipart/Related; type=\"application/xop+xml\"; boundary=\"uuid:0ca0e16e\"; start-info=\"text/xml\"", &[]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["attachments"][0]["contentType"], "image/png");
    let (code, json) = check_soap(
        "swa-part-without-content-type.mime",
        "multipart/related; boundary=MIME_boundary",
        &[],
    );
    assert_eq!(
        (code, json["faultCode"].as_str()),
        (1, Some("client.invalid_content_type"))
    );
    assert_eq!(json["faultString"], "Could not get content type for part");
}

#[test]
fn usage_errors_exit_2() {
    let out = run(&["message", "check", "/nonexistent/file.xml", "-c", TEXT_XML]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/file.xml"));
    let path = messages().join("getstate.xml");
    let out = run(&[
        "message",
        "check",
        path.to_str().expect("path"),
        "-H",
        "no colon here",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_and_version() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("xroad-sidecar "));
    let out = run(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("message"));
    let out = run(&["message", "check", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--content-type"));
}

fn check_rest(method: &str, path: &str, headers: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "message",
        "check",
        "-X",
        method,
        "--path",
        path,
        "--instance",
        "EE",
    ];
    for h in headers {
        args.extend_from_slice(&["-H", h]);
    }
    exit_and_json(&run(&args))
}

#[test]
fn accepted_rest_request_prints_its_header_part() {
    let (code, json) = check_rest(
        "GET",
        "/r1/EE/GOV/70000002/population/getPerson/persons/1?x=1",
        &[
            "X-Road-Client: EE/GOV/70000001/consumer",
            "Accept: application/json",
            "Connection: keep-alive",
        ],
    );
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["protocol"], "REST");
    assert_eq!(json["service"]["serviceCode"], "getPerson");
    assert_eq!(json["servicePath"], "/persons/1");
    assert_eq!(json["query"], "x=1");
    let part = json["headerPart"].as_str().expect("header part");
    assert!(part.starts_with(
        "GET\r\n/r1/EE/GOV/70000002/population/getPerson/persons/1?x=1\r\nX-Road-Client:EE/GOV/70000001/consumer\r\nAccept:application/json\r\nx-road-request-id:"
    ), "{part:?}");
    assert!(
        !part.contains("keep-alive"),
        "hop-by-hop headers are dropped"
    );
    assert!(json["messageId"].as_str().expect("id").starts_with("EE-"));
}

#[test]
fn refused_rest_requests_get_the_rest_error_format() {
    let (code, json) = check_rest(
        "GET",
        "/r1/EE/GOV/70000002/population/getPerson",
        &["Accept: application/json"],
    );
    assert_eq!(code, 1);
    assert_eq!(
        json["faultCode"],
        "server.clientproxy.invalid_client_identifier"
    );
    assert_eq!(json["faultString"], "The client identifier is missing");
    assert_eq!(json["response"]["status"], 500);
    assert_eq!(
        json["response"]["headers"]["X-Road-Error"],
        "server.clientproxy.invalid_client_identifier"
    );
    assert_eq!(
        json["response"]["headers"]["Content-Type"],
        "application/json"
    );
    let (_, json) = check_rest(
        "GET",
        "/r1/EE/GOV/70000002/getPerson",
        &["X-Road-Client: EE/GOV/1", "Accept: text/xml"],
    );
    assert_eq!(json["faultCode"], "server.clientproxy.internal_error");
    assert_eq!(json["faultString"], "Invalid request URI");
    assert_eq!(
        json["response"]["headers"]["Content-Type"],
        "text/xml;charset=utf-8"
    );
    let (_, json) = check_rest("FOO", "/r1/EE/GOV/2/sub/svc", &["X-Road-Client: EE/GOV/1"]);
    assert_eq!(
        json["faultString"],
        "No enum constant ee.ria.xroad.common.message.RestRequest.Verb.FOO"
    );
}

#[test]
fn spelling_from_the_environment() {
    let path = messages().join("missing-body.xml");
    let out = Command::new(env!("CARGO_BIN_EXE_xroad-sidecar"))
        .args([
            "message",
            "check",
            path.to_str().expect("path"),
            "-c",
            TEXT_XML,
        ])
        .env("XROAD_FAULT_CODE_SPELLING", "7.7")
        .output()
        .expect("run xroad-sidecar");
    let json: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["faultCode"], "Client.MissingBody");
    let out = Command::new(env!("CARGO_BIN_EXE_xroad-sidecar"))
        .args([
            "message",
            "check",
            path.to_str().expect("path"),
            "-c",
            TEXT_XML,
        ])
        .env("XROAD_FAULT_CODE_SPELLING", "7.9")
        .output()
        .expect("run xroad-sidecar");
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown spelling is a usage error"
    );
}
