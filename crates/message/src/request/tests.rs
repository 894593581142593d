//! The request-reading scenarios of the Java proxy test suite, with our own messages.

use base64::Engine;
use ring::digest;
use xroad_fault::{Spelling, XRoadError};

use super::*;

const SOAP: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xroad=\"http://x-road.eu/xsd/xroad.xsd\" xmlns:id=\"http://x-road.eu/xsd/identifiers\">\n<SOAP-ENV:Header>\n<xroad:client id:objectType=\"MEMBER\"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>BUSINESS</id:memberClass><id:memberCode>consumer</id:memberCode></xroad:client>\n<xroad:service id:objectType=\"SERVICE\"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>BUSINESS</id:memberClass><id:memberCode>producer</id:memberCode><id:serviceCode>getState</id:serviceCode></xroad:service>\n<xroad:userId>EE37702211234</xroad:userId><xroad:issue/><xroad:id>1234567890</xroad:id><xroad:protocolVersion>4.0</xroad:protocolVersion>\n</SOAP-ENV:Header>\n<SOAP-ENV:Body><xroad:getState>a\u{e4}\u{f5}</xroad:getState></SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n";
const TEXT_XML: &str = "text/xml; charset=UTF-8";

fn decode(
    ct: Option<&str>,
    soap_action: Option<&str>,
    body: &[u8],
) -> Result<SoapRequest, XRoadError> {
    let whole = run("POST", ct, soap_action, body, body.len().max(1));
    for n in [1, 5, 64] {
        let chunked = run("POST", ct, soap_action, body, n);
        assert_eq!(
            chunked
                .as_ref()
                .map_err(|e| e.fault_code(Spelling::Current)),
            whole.as_ref().map_err(|e| e.fault_code(Spelling::Current)),
            "chunk size {n}"
        );
    }
    whole
}

fn run(
    method: &str,
    ct: Option<&str>,
    sa: Option<&str>,
    body: &[u8],
    n: usize,
) -> Result<SoapRequest, XRoadError> {
    let mut d = SoapRequestDecoder::new(method, ct, sa)?;
    body.chunks(n).try_for_each(|c| d.feed(c))?;
    d.finish()
}

fn code(r: Result<SoapRequest, XRoadError>) -> String {
    r.unwrap_err().fault_code(Spelling::Current)
}

fn sha512_b64(b: &[u8]) -> Sha512 {
    let mut out = [0u8; 64];
    out.copy_from_slice(digest::digest(&digest::SHA512, b).as_ref());
    out
}

/// A multipart/related body with bare LF framing, as the Java test queries are written.
fn multipart_lf(boundary: &str, parts: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (headers, body) in parts {
        s.push_str(&format!("--{boundary}\n{headers}\n\n{body}\n"));
    }
    s.push_str(&format!("--{boundary}--\n"));
    s
}

#[test]
fn normal_message() {
    let r = decode(Some(TEXT_XML), None, SOAP.as_bytes()).unwrap();
    assert_eq!(
        r.message.header.client.to_string(),
        "MEMBER:EE/BUSINESS/consumer"
    );
    assert_eq!(r.message.header.issue.as_deref(), Some(""));
    assert_eq!(r.soap_content_type, TEXT_XML);
    assert_eq!(r.soap_digest, sha512_b64(SOAP.as_bytes()));
    assert_eq!(r.soap_size, SOAP.len() as u64);
    assert!(!r.multipart && r.attachments.is_empty());
}

#[test]
fn utf8_bom_is_hashed() {
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend_from_slice(SOAP.as_bytes());
    let r = decode(Some(TEXT_XML), None, &body).unwrap();
    assert_eq!(r.soap_digest, sha512_b64(&body));
}

#[test]
fn http_method_and_content_type() {
    assert_eq!(
        code(run("GET", Some(TEXT_XML), None, SOAP.as_bytes(), 9)),
        "client.invalid_http_method"
    );
    let e = run("GET", Some(TEXT_XML), None, b"", 1).unwrap_err();
    assert_eq!(e.message(), "Must use POST request method instead of GET");
    let e = decode(Some("blah"), None, SOAP.as_bytes()).unwrap_err();
    assert_eq!(
        (e.fault_code(Spelling::Current).as_str(), e.message()),
        ("client.invalid_content_type", "Invalid content type: blah")
    );
    assert_eq!(
        code(decode(Some("application/soap+xml"), None, SOAP.as_bytes())),
        "client.invalid_content_type"
    );
    assert_eq!(
        code(decode(
            Some("multipart/mixed; boundary=x"),
            None,
            SOAP.as_bytes()
        )),
        "client.invalid_content_type"
    );
    // Java 7.8 fails on a missing content type with an internal error of its own.
    assert_eq!(
        code(decode(None, None, SOAP.as_bytes())),
        "server.clientproxy.internal_error"
    );
    assert_eq!(
        code(decode(Some("  "), None, SOAP.as_bytes())),
        "server.clientproxy.internal_error"
    );
    assert_eq!(
        code(decode(
            Some("text/xml; charset=klingon"),
            None,
            SOAP.as_bytes()
        )),
        "server.clientproxy.internal_error"
    );
    assert!(decode(
        Some("TEXT/XML; Charset=\"iso-8859-1\""),
        None,
        SOAP.as_bytes()
    )
    .is_ok());
    assert!(decode(
        Some("application/xop+xml; type=\"text/xml\""),
        None,
        SOAP.as_bytes()
    )
    .is_ok());
}

#[test]
fn soap_action_header() {
    let ok = decode(Some(TEXT_XML), Some("\"\""), SOAP.as_bytes()).unwrap();
    assert_eq!(ok.soap_action.as_deref(), Some("\"\""));
    assert_eq!(
        decode(Some(TEXT_XML), Some(""), SOAP.as_bytes())
            .unwrap()
            .soap_action
            .as_deref(),
        Some("")
    );
    assert_eq!(
        code(decode(
            Some(TEXT_XML),
            Some("http://example.org/action"),
            SOAP.as_bytes()
        )),
        "client.invalid_soap_action"
    );
}

#[test]
fn empty_request_is_invalid_soap() {
    assert_eq!(
        code(decode(Some(TEXT_XML), None, b"")),
        "client.invalid_soap"
    );
    assert_eq!(
        code(decode(Some(TEXT_XML), None, b"\xEF\xBB\xBF")),
        "client.invalid_soap"
    );
}

#[test]
fn soap_errors_get_the_client_prefix() {
    let no_service = SOAP.replace(
        &SOAP[SOAP.find("<xroad:service").unwrap()..SOAP.find("<xroad:userId>").unwrap()],
        "",
    );
    let e = decode(Some(TEXT_XML), None, no_service.as_bytes()).unwrap_err();
    assert_eq!(
        e.fault_code(Spelling::Current),
        "client.missing_header_field"
    );
    assert_eq!(e.fault_code(Spelling::Legacy), "Client.MissingHeaderField");
    let blank = SOAP.replace(
        "<id:memberCode>consumer</id:memberCode>",
        "<id:memberCode/>",
    );
    assert_eq!(
        code(decode(Some(TEXT_XML), None, blank.as_bytes())),
        "client.internal_error"
    );
}

#[test]
fn soap_fault_as_request() {
    let fault = "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>CODE</faultcode><faultstring>STRING</faultstring><faultactor>ACTOR</faultactor><detail><faultDetail>DETAIL</faultDetail></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>";
    let e = decode(Some(TEXT_XML), None, fault.as_bytes()).unwrap_err();
    assert_eq!(e.fault_code(Spelling::Current), "client.code");
    assert_eq!(e.message(), "STRING");
    assert_eq!(e.actor(), "");
    assert_ne!(e.detail(), "DETAIL");
    let xml = String::from_utf8(e.soap_fault_xml(Spelling::Current)).unwrap();
    assert!(xml.contains("<faultcode>client.code</faultcode><faultstring>STRING</faultstring><faultactor></faultactor>"));
}

#[test]
fn attachment_with_nested_multipart_is_flattened() {
    let inner = multipart_lf(
        "jetty1627004719h3h10du0",
        &[("Content-Type: text/plain\nClient-Header: FooBar", "blaah")],
    );
    let body = multipart_lf(
        "jetty771207119h3h10dty",
        &[
            ("Content-Type: text/xml; charset=\"utf-8\"", SOAP),
            (
                "Content-Type: multipart/mixed; charset=UTF-8; boundary=jetty1627004719h3h10du0",
                &inner,
            ),
        ],
    );
    let r = decode(
        Some("multipart/related; charset=UTF-8; boundary=jetty771207119h3h10dty"),
        None,
        body.as_bytes(),
    )
    .unwrap();
    assert!(r.multipart);
    assert_eq!(r.soap_content_type, "text/xml; charset=\"utf-8\"");
    // The SOAP part ends before the LF that precedes the delimiter.
    assert_eq!(r.soap_digest, sha512_b64(SOAP.as_bytes()));
    assert_eq!(r.attachments.len(), 1);
    let a = &r.attachments[0];
    assert_eq!(a.content_type, "text/plain");
    assert_eq!(
        a.headers,
        vec![("Client-Header".to_owned(), "FooBar".to_owned())]
    );
    assert_eq!((a.size, a.digest), (5, sha512_b64(b"blaah")));
}

#[test]
fn bom_inside_the_soap_part_and_crlf_framing() {
    let body = format!(
        "--b1\r\nContent-Type: text/xml; charset=UTF-8\r\nContent-ID: <root>\r\n\r\n\u{feff}{SOAP}\r\n--b1\r\n\
         Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b1--\r\n"
    );
    let r = decode(
        Some("multipart/related; boundary=b1"),
        None,
        body.as_bytes(),
    )
    .unwrap();
    let mut with_bom = "\u{feff}".as_bytes().to_vec();
    with_bom.extend_from_slice(SOAP.as_bytes());
    assert_eq!(r.soap_digest, sha512_b64(&with_bom));
    assert_eq!(
        r.soap_part_headers,
        vec![("Content-ID".to_owned(), "<root>".to_owned())]
    );
    assert_eq!(
        r.attachments[0].digest,
        sha512_b64(b"AAEC"),
        "base64 attachments stay raw"
    );
}

#[test]
fn several_attachments_and_soap_only_multipart() {
    let body = multipart_lf(
        "jetty771207119h3h10dty",
        &[
            ("Content-Type: text/xml; charset=UTF-8", SOAP),
            ("Content-Type: text/plain; charset=UTF-8", "blaah\n"),
            ("Content-Type: text/plain; charset=UTF-8", "blaah1\n"),
            ("Content-Type: text/plain; charset=UTF-8", "blaah2\n"),
        ],
    );
    let ct = "multipart/related; charset=UTF-8; boundary=jetty771207119h3h10dty";
    let r = decode(Some(ct), None, body.as_bytes()).unwrap();
    let sizes: Vec<u64> = r.attachments.iter().map(|a| a.size).collect();
    assert_eq!(sizes, vec![6, 7, 7]);
    let only = multipart_lf(
        "jetty771207119h3h10dty",
        &[("Content-Type: text/xml", SOAP)],
    );
    assert!(decode(Some(ct), None, only.as_bytes())
        .unwrap()
        .attachments
        .is_empty());
}

#[test]
fn mtom_with_odd_parameters() {
    let body = multipart_lf(
        ":gkMa5KAvuHP7ahe9IQHONLgnncvv:",
        &[
            ("Content-Type: application/xop+xml; type=\"application/soap+xml\"; charset=utf-8\nContent-ID: <foo>", SOAP),
            ("Content-Type: text/plain; charset=UTF-8; name=attachment.txt\nContent-ID: <bar>", "x"),
        ],
    );
    for ct in [
        "Multipart/Related; start-info=\"application/soap+xml\"; type=\"application/xop+xml\"; boundary=\":gkMa5KAvuHP7ahe9IQHONLgnncvv:\"",
        "multipart/related; start-info=text/xml; type='application/xop+xml'; boundary=:gkMa5KAvuHP7ahe9IQHONLgnncvv:",
    ] {
        let r = decode(Some(ct), None, body.as_bytes()).unwrap();
        assert_eq!(r.attachments.len(), 1, "{ct}");
    }
}

#[test]
fn faulty_multiparts() {
    let ct = "multipart/related; charset=UTF-8; boundary=jetty771207119h3h10dty";
    let no_type = multipart_lf(
        "jetty771207119h3h10dty",
        &[
            ("Content-Type: text/xml", SOAP),
            ("Cont-Type: multipart/mixed; charset=UF-8", "x"),
        ],
    );
    let e = decode(Some(ct), None, no_type.as_bytes()).unwrap_err();
    assert_eq!(
        (e.fault_code(Spelling::Current).as_str(), e.message()),
        (
            "client.invalid_content_type",
            "Could not get content type for part"
        )
    );
    let no_soap = multipart_lf(
        "jetty771207119h3h10dty",
        &[("Content-Type: text/plain", "hello")],
    );
    let e = decode(Some(ct), None, no_soap.as_bytes()).unwrap_err();
    assert_eq!(e.message(), "Invalid content type: text/plain");
    let faulty_soap = multipart_lf(
        "jetty771207119h3h10dty",
        &[(
            "Content-Type: text/xml",
            &SOAP.replace("xroad:service", "xroad:serviceX"),
        )],
    );
    assert_eq!(
        code(decode(Some(ct), None, faulty_soap.as_bytes())),
        "client.missing_header_field"
    );
    assert_eq!(code(decode(Some(ct), None, b"")), "client.missing_soap");
    let wrong_boundary = multipart_lf("jetty771207119h3h", &[("Content-Type: text/xml", SOAP)]);
    assert_eq!(
        code(decode(Some(ct), None, wrong_boundary.as_bytes())),
        "client.missing_soap"
    );
    let e = decode(Some("multipart/related"), None, SOAP.as_bytes()).unwrap_err();
    assert_eq!(
        (e.fault_code(Spelling::Current).as_str(), e.message()),
        (
            "client.invalid_content_type",
            "Invalid content type: multipart/related"
        )
    );
    let huge_header = format!(
        "--b\nContent-Type: text/xml\nX: {}\n\n{SOAP}\n--b--\n",
        "y".repeat(100_000)
    );
    assert_eq!(
        code(decode(
            Some("multipart/related; boundary=b"),
            None,
            huge_header.as_bytes()
        )),
        "client.mime_parsing_failed"
    );
    let bad_charset = multipart_lf("b", &[("Content-Type: text/xml; charset=klingon", SOAP)]);
    assert_eq!(
        code(decode(
            Some("multipart/related; boundary=b"),
            None,
            bad_charset.as_bytes()
        )),
        "client.internal_error"
    );
}

#[test]
fn missing_close_delimiter_is_tolerated() {
    let body = format!(
        "--b\nContent-Type: text/xml\n\n{SOAP}\n--b\nContent-Type: text/plain\n\nlast part\n"
    );
    let r = decode(Some("multipart/related; boundary=b"), None, body.as_bytes()).unwrap();
    assert_eq!(r.attachments[0].digest, sha512_b64(b"last part\n"));
}

#[test]
fn digests_serialize_as_base64() {
    let r = decode(Some(TEXT_XML), None, SOAP.as_bytes()).unwrap();
    let json = serde_json::to_value(&r).unwrap();
    let expected = base64::engine::general_purpose::STANDARD.encode(sha512_b64(SOAP.as_bytes()));
    assert_eq!(json["soapDigest"], expected);
}

mod properties {
    use proptest::prelude::*;

    use super::super::SoapRequestDecoder;

    proptest! {
        #[test]
        fn arbitrary_requests_never_panic(
            method in "(POST|GET|post|[A-Z]{0,6})",
            ct in proptest::option::of("(text/xml|multipart/related|application/xop\\+xml|[ -~]{0,30})(; ?(charset|boundary|type)=[ -~]{0,12}){0,3}"),
            action in proptest::option::of("[ -~]{0,20}"),
            body in proptest::collection::vec(any::<u8>(), 0..400),
            chunk in 1usize..40,
        ) {
            if let Ok(mut d) = SoapRequestDecoder::new(&method, ct.as_deref(), action.as_deref()) {
                let _ = body.chunks(chunk).try_for_each(|c| d.feed(c)).and_then(|_| d.finish());
            }
        }

        #[test]
        fn arbitrary_multipart_bodies_never_panic(
            parts in proptest::collection::vec(
                ("(Content-Type: (text/xml|text/plain|multipart/mixed; boundary=b2)\n)?([A-Za-z-]{1,8}: [ -~]{0,10}\n){0,2}",
                 "[<>a-z/\n\r-]{0,40}"),
                0..5),
            tail in "(--b--\n)?",
            chunk in 1usize..30,
        ) {
            let mut body = String::new();
            for (h, b) in &parts {
                body.push_str(&format!("--b\n{h}\n{b}\n"));
            }
            body.push_str(&tail);
            let mut d = SoapRequestDecoder::new("POST", Some("multipart/related; boundary=b"), None).unwrap();
            let _ = body.as_bytes().chunks(chunk).try_for_each(|c| d.feed(c)).and_then(|_| d.finish());
        }
    }
}

#[test]
fn order_of_the_early_checks() {
    // SOAPAction is checked before the media type, the charset before SOAPAction.
    assert_eq!(
        code(decode(
            Some("application/json"),
            Some("bad"),
            SOAP.as_bytes()
        )),
        "client.invalid_soap_action"
    );
    let e = decode(Some("text/xml; charset=foo"), Some("bad"), SOAP.as_bytes()).unwrap_err();
    assert_eq!(
        (e.fault_code(Spelling::Current).as_str(), e.message()),
        ("server.clientproxy.internal_error", "foo")
    );
    assert!(
        run("post", Some(TEXT_XML), None, SOAP.as_bytes(), 64).is_ok(),
        "method compared case-insensitively"
    );
    let e = decode(None, None, SOAP.as_bytes()).unwrap_err();
    assert_eq!(e.message(), "Could not get content type from request");
}

#[test]
fn content_type_is_parsed_as_leniently_as_java() {
    assert!(decode(Some("text/xml; a b=c"), None, SOAP.as_bytes()).is_ok());
    assert!(decode(
        Some("text/xml;charset=utf-8, text/html"),
        None,
        SOAP.as_bytes()
    )
    .is_ok());
    assert_eq!(
        code(decode(
            Some("text/xml; charset=x-user-defined"),
            None,
            SOAP.as_bytes()
        )),
        "server.clientproxy.internal_error"
    );
    assert!(decode(Some("text/xml; charset=IBM437"), None, SOAP.as_bytes()).is_ok());
    // The SOAP part's charset is read before its type is checked.
    let body = multipart_lf("b", &[("Content-Type: text/plain; charset=foo", SOAP)]);
    let e = decode(Some("multipart/related; boundary=b"), None, body.as_bytes()).unwrap_err();
    assert_eq!(
        (e.fault_code(Spelling::Current).as_str(), e.message()),
        ("client.internal_error", "foo")
    );
}

#[test]
fn soap_fault_requests_with_odd_codes() {
    let fault = |code: &str| {
        format!("<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Body><SOAP-ENV:Fault>{code}</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>")
    };
    let e = decode(
        Some(TEXT_XML),
        None,
        fault("<faultcode>clientFoo</faultcode>").as_bytes(),
    )
    .unwrap_err();
    assert_eq!(
        e.fault_code(Spelling::Current),
        "server.clientproxy.clientfoo"
    );
    assert_eq!(e.message(), "null");
    let e = decode(
        Some(TEXT_XML),
        None,
        fault("<faultcode>CODE</faultcode>").as_bytes(),
    )
    .unwrap_err();
    assert_eq!(e.fault_code(Spelling::Legacy), "Client.CODE");
    assert_eq!(
        code(decode(
            Some(TEXT_XML),
            None,
            fault("<faultstring>x</faultstring>").as_bytes()
        )),
        "client.internal_error"
    );
}

#[test]
fn attachments_are_capped() {
    let mut body = format!("--b\nContent-Type: text/xml\n\n{SOAP}\n");
    for _ in 0..=MAX_ATTACHMENTS {
        body.push_str("--b\nContent-Type: text/plain\n\nx\n");
    }
    body.push_str("--b--\n");
    let mut d =
        SoapRequestDecoder::new("POST", Some("multipart/related; boundary=b"), None).unwrap();
    let e = d
        .feed(body.as_bytes())
        .and_then(|_| d.finish().map(|_| ()))
        .unwrap_err();
    assert_eq!(
        e.fault_code(Spelling::Current),
        "client.mime_parsing_failed"
    );
}
