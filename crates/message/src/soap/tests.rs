//! Parsing scenarios of the Java proxy test suite (`queries/*.query`), with our own messages.

use proptest::prelude::*;
use xroad_fault::{ErrorCode, XRoadError};

use super::*;

const CLIENT: &str = r#"<xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>MEMBER1</id:memberCode><id:subsystemCode>SUBSYSTEM1</id:subsystemCode></xrd:client>"#;
const SERVICE: &str = r#"<xrd:service id:objectType="SERVICE"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>MEMBER2</id:memberCode><id:subsystemCode>SUBSYSTEM2</id:subsystemCode><id:serviceCode>exampleService</id:serviceCode><id:serviceVersion>v1</id:serviceVersion></xrd:service>"#;
const ID: &str = "<xrd:id>4894e35d-bf0f-44a6-867a-8e51f1daa7e0</xrd:id>";
const VERSION: &str = "<xrd:protocolVersion>4.0</xrd:protocolVersion>";
const BODY: &str = r#"<ns1:exampleService xmlns:ns1="http://producer.x-road.eu"><exampleInput>foo</exampleInput></ns1:exampleService>"#;

fn envelope(headers: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:xrd=\"http://x-road.eu/xsd/xroad.xsd\" xmlns:id=\"http://x-road.eu/xsd/identifiers\">\n\
         <SOAP-ENV:Header>\n{headers}\n</SOAP-ENV:Header>\n<SOAP-ENV:Body>{body}</SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n"
    )
}

/// A request laid out as information systems send them: indented, every usual header.
fn bench_like_request() -> String {
    let headers = [
        CLIENT,
        SERVICE,
        ID,
        "<xrd:userId>EE37702211234</xrd:userId>",
        "<xrd:issue>12&amp;3</xrd:issue>",
        VERSION,
    ]
    .join("\n    ");
    envelope(&headers, &format!("\n    {BODY}\n  "))
}

fn request() -> String {
    envelope(&[CLIENT, SERVICE, ID, VERSION].join("\n"), BODY)
}

/// `parse_soap`, which takes the scanner's fast path for whole documents, checked to give
/// exactly what feeding the document gives, errors and their messages included.
fn parse_same_as_fed(doc: &[u8]) -> Result<Soap, XRoadError> {
    let whole = parse_soap(doc);
    // Fed in one piece, the parser holds it back and parses it whole as well.
    let mut p = SoapParser::new();
    let held = p.feed(doc).and_then(|_| p.finish());
    let mut p = SoapParser::new();
    p.streaming = true;
    let streamed = p.feed(doc).and_then(|_| p.finish());
    let exact = |r: &Result<Soap, XRoadError>| {
        r.clone()
            .map_err(|e| (e.error_code(), e.message().to_owned()))
    };
    assert_eq!(exact(&whole), exact(&streamed), "fast path and streaming");
    assert_eq!(exact(&held), exact(&streamed), "held chunk and streaming");
    whole
}

/// Parses whole and in small chunks; both must agree.
fn parse(doc: &[u8]) -> Result<Soap, XRoadError> {
    let whole = parse_same_as_fed(doc);
    for n in [1, 7, 64] {
        let mut p = SoapParser::new();
        let chunked = doc
            .chunks(n)
            .try_for_each(|c| p.feed(c))
            .and_then(|_| p.finish());
        assert_eq!(
            chunked.as_ref().map_err(|e| e.error_code()),
            whole.as_ref().map_err(|e| e.error_code()),
            "chunk size {n}"
        );
    }
    whole
}

fn message(doc: &str) -> SoapMessage {
    match parse(doc.as_bytes()) {
        Ok(Soap::Message(m)) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn fails(doc: &str) -> (ErrorCode, String) {
    match parse(doc.as_bytes()) {
        Err(e) => (e.error_code().unwrap(), e.message().to_owned()),
        Ok(s) => panic!("expected a fault, got {s:?}"),
    }
}

#[test]
fn simple_request() {
    let m = message(&request());
    assert_eq!(
        m.header.client.to_string(),
        "SUBSYSTEM:EE/GOV/MEMBER1/SUBSYSTEM1"
    );
    assert_eq!(
        m.header.service.to_string(),
        "SERVICE:EE/GOV/MEMBER2/SUBSYSTEM2/exampleService/v1"
    );
    assert_eq!(m.header.id, "4894e35d-bf0f-44a6-867a-8e51f1daa7e0");
    assert_eq!(m.header.protocol_version, "4.0");
    assert_eq!(m.service_name, "exampleService");
    assert!(!m.response && !m.rpc);
    assert_eq!(m.encoding, "UTF-8");
}

#[test]
fn header_order_is_free_and_optional_headers_are_read() {
    let extra = concat!(
        "<xrd:userId>EE12345678901</xrd:userId><xrd:issue>&lt;12&gt; &amp; co</xrd:issue>",
        "<xrd:securityServer id:objectType=\"SERVER\"><id:xRoadInstance>EE</id:xRoadInstance>",
        "<id:memberClass>GOV</id:memberClass><id:memberCode>MEMBER2</id:memberCode><id:serverCode>ss2</id:serverCode></xrd:securityServer>",
        "<repr:representedParty xmlns:repr=\"http://x-road.eu/xsd/representation.xsd\"><repr:partyClass>COM</repr:partyClass>",
        "<repr:partyCode>UNKNOWN_MEMBER</repr:partyCode></repr:representedParty>",
        "<foo:securityToken xmlns:foo=\"urn:x\" tokenType=\"x\">abc</foo:securityToken>"
    );
    let m = message(&envelope(
        &[VERSION, extra, ID, SERVICE, CLIENT].join(""),
        BODY,
    ));
    assert_eq!(m.header.user_id.as_deref(), Some("EE12345678901"));
    assert_eq!(m.header.issue.as_deref(), Some("<12> & co"));
    assert_eq!(
        m.header.security_server.unwrap().to_string(),
        "SERVER:EE/GOV/MEMBER2/ss2"
    );
    let party = m.header.represented_party.unwrap();
    assert_eq!(party.party_class.as_deref(), Some("COM"));
    assert_eq!(party.party_code.as_deref(), Some("UNKNOWN_MEMBER"));
}

#[test]
fn values_are_not_trimmed_and_prefixes_are_free() {
    let doc = request()
        .replace(
            "<id:memberCode>MEMBER1</id:memberCode>",
            "<id:memberCode> MEMBER1 </id:memberCode>",
        )
        .replace("xrd:", "x:")
        .replace("xmlns:xrd=", "xmlns:x=");
    let m = message(&doc);
    assert_eq!(m.header.client.member_code(), " MEMBER1 ");
}

#[test]
fn default_namespace_comments_cdata_entities_and_bom() {
    let doc = r#"<?xml version="1.0"?><!-- leading --><Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Header><!-- c -->
<client xmlns="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers" id:objectType="MEMBER"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>G<!-- split -->OV</id:memberClass><id:memberCode><![CDATA[M&1]]></id:memberCode></client>
<service xmlns="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers" id:objectType="SERVICE"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>M2</id:memberCode><id:serviceCode>get&#83;tate</id:serviceCode></service>
<id xmlns="http://x-road.eu/xsd/xroad.xsd">1</id><protocolVersion xmlns="http://x-road.eu/xsd/xroad.xsd">4.x</protocolVersion></Header>
<Body><getState xmlns="urn:p"><![CDATA[<not-an-element/>]]><!-- <b/> --></getState></Body></Envelope>"#;
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(doc.as_bytes());
    let Ok(Soap::Message(m)) = parse(&bom) else {
        panic!()
    };
    assert_eq!(m.header.client.to_string(), "MEMBER:EE/GOV/M&1");
    assert_eq!(m.header.service.service_code(), "getState");
    assert_eq!(m.service_name, "getState");
}

#[test]
fn responses_and_request_hash() {
    let hash = r#"<xrd:requestHash algorithmId="http://www.w3.org/2001/04/xmlenc#sha512">AAAA
BBBB</xrd:requestHash>"#;
    let doc = envelope(
        &[CLIENT, SERVICE, ID, hash, VERSION].join(""),
        r#"<ns1:exampleServiceResponse xmlns:ns1="urn:p"/>"#,
    );
    let m = message(&doc);
    assert!(m.response);
    let h = m.header.request_hash.unwrap();
    assert_eq!(
        h.algorithm_id.as_deref(),
        Some("http://www.w3.org/2001/04/xmlenc#sha512")
    );
    assert_eq!(h.value, "AAAA\nBBBB");
}

#[test]
fn rpc_style_is_recognised() {
    let doc = request().replace(
        "<SOAP-ENV:Envelope ",
        "<SOAP-ENV:Envelope SOAP-ENV:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\" ",
    );
    assert!(message(&doc).rpc);
}

#[test]
fn faults_are_recognised_without_header_checks() {
    let doc = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>Server.X</faultcode><faultstring>bad &amp; sad</faultstring><faultactor/><detail><faultDetail xmlns="">id-1</faultDetail></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;
    let Ok(Soap::Fault(f)) = parse(doc.as_bytes()) else {
        panic!()
    };
    assert_eq!(f.code.as_deref(), Some("Server.X"));
    assert_eq!(f.string.as_deref(), Some("bad & sad"));
    assert_eq!(f.actor.as_deref(), Some(""));
    assert_eq!(f.detail.as_deref(), Some("id-1"));
    // Our own fault documents parse back.
    let ours = XRoadError::new(ErrorCode::AccessDenied, "no").soap_fault_xml(Default::default());
    let Ok(Soap::Fault(f)) = parse(&ours) else {
        panic!()
    };
    assert_eq!(f.code.as_deref(), Some("access_denied"));
}

#[test]
fn missing_header_fields() {
    for (omit, field) in [(CLIENT, "client"), (ID, "id"), (VERSION, "protocolVersion")] {
        let headers: Vec<&str> = [CLIENT, SERVICE, ID, VERSION]
            .into_iter()
            .filter(|h| *h != omit)
            .collect();
        let (code, msg) = fails(&envelope(&headers.join(""), BODY));
        assert_eq!(code, ErrorCode::MissingHeaderField);
        assert_eq!(msg, format!("Required field '{field}' is missing"));
    }
    let (code, msg) = fails(&envelope(&[CLIENT, ID, VERSION].join(""), BODY));
    assert_eq!(
        (code, msg.as_str()),
        (
            ErrorCode::MissingHeaderField,
            "Message header must contain service id"
        )
    );
    // Java checks protocolVersion before client before id.
    let (_, msg) = fails(&envelope(SERVICE, BODY));
    assert_eq!(msg, "Required field 'protocolVersion' is missing");
}

#[test]
fn missing_header_and_body() {
    let no_header = request().replace(
        &request()[request().find("<SOAP-ENV:Header>").unwrap()
            ..request().find("<SOAP-ENV:Body>").unwrap()],
        "",
    );
    assert_eq!(fails(&no_header).0, ErrorCode::MissingHeader);
    let no_body = request().replace(&format!("<SOAP-ENV:Body>{BODY}</SOAP-ENV:Body>"), "");
    assert_eq!(
        fails(&no_body),
        (
            ErrorCode::MissingBody,
            "Malformed SOAP message: body missing".into()
        )
    );
    let empty_body = request().replace(BODY, "");
    assert_eq!(fails(&empty_body).0, ErrorCode::InvalidBody);
    let two = request().replace(BODY, &format!("{BODY}{BODY}"));
    assert_eq!(
        fails(&two),
        (
            ErrorCode::InvalidBody,
            "Malformed SOAP message: body must have exactly one child element".into()
        )
    );
}

#[test]
fn duplicate_header_fields() {
    for dup in [CLIENT, SERVICE, ID, VERSION] {
        let (code, msg) = fails(&envelope(
            &[CLIENT, SERVICE, ID, VERSION, dup].join(""),
            BODY,
        ));
        assert_eq!(code, ErrorCode::DuplicateHeaderField, "{dup}");
        assert!(
            msg.starts_with(
                "SOAP header contains duplicate field '{http://x-road.eu/xsd/xroad.xsd}"
            ),
            "{msg}"
        );
    }
    let twice = CLIENT.replace(
        "<id:memberCode>MEMBER1</id:memberCode>",
        "<id:memberCode>A</id:memberCode><id:memberCode>B</id:memberCode>",
    );
    let (code, msg) = fails(&envelope(&[&twice, SERVICE, ID, VERSION].join(""), BODY));
    assert_eq!(code, ErrorCode::DuplicateHeaderField);
    assert_eq!(
        msg,
        "SOAP header contains duplicate field '{http://x-road.eu/xsd/identifiers}memberCode'"
    );
}

#[test]
fn object_type_checks() {
    let missing = CLIENT.replace(" id:objectType=\"SUBSYSTEM\"", "");
    assert_eq!(
        fails(&envelope(&[&missing, SERVICE, ID, VERSION].join(""), BODY)),
        (ErrorCode::InvalidXml, "Missing objectType attribute".into())
    );
    // Unqualified objectType is not the identifiers-namespace attribute.
    let unqualified = CLIENT.replace("id:objectType", "objectType");
    assert_eq!(
        fails(&envelope(
            &[&unqualified, SERVICE, ID, VERSION].join(""),
            BODY
        ))
        .0,
        ErrorCode::InvalidXml
    );
    let unknown = CLIENT.replace("\"SUBSYSTEM\"", "\"FOO\"");
    assert_eq!(
        fails(&envelope(&[&unknown, SERVICE, ID, VERSION].join(""), BODY)),
        (ErrorCode::InvalidXml, "Unknown objectType: FOO".into())
    );
    let wrong = CLIENT.replace("\"SUBSYSTEM\"", "\"SERVICE\"");
    assert_eq!(
        fails(&envelope(&[&wrong, SERVICE, ID, VERSION].join(""), BODY)),
        (
            ErrorCode::InvalidXml,
            "Unexpected objectType: SERVICE".into()
        )
    );
    // The client header is lenient: a MEMBER with a subsystem code is a subsystem.
    let member = CLIENT.replace("\"SUBSYSTEM\"", "\"MEMBER\"");
    let m = message(&envelope(&[&member, SERVICE, ID, VERSION].join(""), BODY));
    assert_eq!(
        m.header.client.object_type(),
        xroad_identifiers::ObjectType::Subsystem
    );
}

#[test]
fn blank_identifier_code() {
    let blank = CLIENT.replace(
        "<id:memberCode>MEMBER1</id:memberCode>",
        "<id:memberCode>  </id:memberCode>",
    );
    assert_eq!(
        fails(&envelope(&[&blank, SERVICE, ID, VERSION].join(""), BODY)),
        (
            ErrorCode::InternalError,
            "'memberCode' must not be blank".into()
        )
    );
}

#[test]
fn protocol_version() {
    let v = envelope(
        &[
            CLIENT,
            SERVICE,
            ID,
            "<xrd:protocolVersion>5.0</xrd:protocolVersion>",
        ]
        .join(""),
        BODY,
    );
    assert_eq!(
        fails(&v),
        (
            ErrorCode::InvalidProtocolVersion,
            "Invalid protocol version (supported: 4.x, provided: 5.0)".into()
        )
    );
}

#[test]
fn service_name_must_start_with_service_code() {
    let ok = request()
        .replace("exampleService xmlns", "exampleServiceFoo xmlns")
        .replace("</ns1:exampleService>", "</ns1:exampleServiceFoo>");
    assert_eq!(message(&ok).service_name, "exampleServiceFoo");
    let bad = request().replace("ns1:exampleService", "ns1:otherService");
    assert_eq!(fails(&bad).0, ErrorCode::InconsistentHeaders);
}

#[test]
fn malformed_documents_are_invalid_soap() {
    for doc in [
        "",
        "\u{feff}",
        "not xml",
        "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\">",
        &request()[..request().len() / 2],
        &request().replace("</ns1:exampleService>", "</ns1:other>"),
        &format!("<!DOCTYPE x [<!ENTITY e \"x\">]>{}", request()),
        &request().replace("foo</exampleInput>", "&e;</exampleInput>"),
        &format!("{}<trailing/>", request()),
    ] {
        assert_eq!(fails(doc).0, ErrorCode::InvalidSoap, "{doc:?}");
    }
}

#[test]
fn envelope_must_be_soap_11() {
    let soap12 = request().replace(
        "http://schemas.xmlsoap.org/soap/envelope/",
        "http://www.w3.org/2003/05/soap-envelope",
    );
    assert_eq!(
        fails(&soap12),
        (
            ErrorCode::InvalidSoap,
            "Malformed SOAP message: envelope missing".into()
        )
    );
    assert_eq!(fails("<foo/>").0, ErrorCode::InvalidSoap);
}

#[test]
fn other_encodings() {
    let latin1: Vec<u8> = request()
        .replace("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"")
        .replace("foo</exampleInput>", "f\u{e9}e</exampleInput>")
        .replace("MEMBER1<", "M\u{c4}<")
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap())
        .collect();
    let Ok(Soap::Message(m)) = parse(&latin1) else {
        panic!()
    };
    assert_eq!(m.header.client.member_code(), "MÄ");
    assert_eq!(m.encoding, "ISO-8859-1");
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            request()
                .replace("UTF-8", "UTF-16")
                .encode_utf16()
                .flat_map(|u| u.to_le_bytes()),
        )
        .collect();
    assert_eq!(
        parse(&utf16).unwrap(),
        Soap::Message(SoapMessage {
            encoding: "UTF-16LE",
            ..message(&request())
        })
    );
    let unknown = request().replace("encoding=\"UTF-8\"", "encoding=\"X-KLINGON\"");
    assert_eq!(
        fails(&unknown),
        (
            ErrorCode::InvalidSoap,
            "Unsupported XML encoding 'X-KLINGON'".into()
        )
    );
    let mut bad_utf8 = request().into_bytes();
    let at = bad_utf8.len() - 40;
    bad_utf8[at] = 0xFF;
    assert_eq!(
        parse(&bad_utf8).unwrap_err().error_code(),
        Some(ErrorCode::InvalidSoap)
    );
}

#[test]
fn header_is_complete_before_a_large_body_streams() {
    let big = "x".repeat(1 << 16);
    let doc = request();
    let (head, tail) = doc.split_at(doc.find("foo</exampleInput>").unwrap());
    let mut p = SoapParser::new();
    p.feed(head.as_bytes()).unwrap();
    // A first chunk is held back in case it is the whole document; the next one releases it.
    assert!(!p.header_complete());
    p.feed(b"").unwrap();
    assert!(p.header_complete());
    for _ in 0..256 {
        p.feed(big.as_bytes()).unwrap();
    }
    p.feed(tail.as_bytes()).unwrap();
    assert!(matches!(p.finish(), Ok(Soap::Message(_))));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(doc in proptest::collection::vec(any::<u8>(), 0..600), n in 1usize..50) {
        let mut p = SoapParser::new();
        let _ = doc.chunks(n).try_for_each(|c| p.feed(c)).and_then(|_| p.finish());
        let _ = parse_same_as_fed(&doc);
    }

    #[test]
    fn mutated_requests_never_panic(cut in 0usize..1000, insert in "[<>&;/=\"a-z:]{0,8}") {
        let mut doc = request();
        let at = cut.min(doc.len());
        if doc.is_char_boundary(at) {
            doc.insert_str(at, &insert);
        }
        let _ = parse_same_as_fed(doc.as_bytes());
    }

    #[test]
    fn mutated_requests_parse_the_same_whole_and_fed(
        cuts in proptest::collection::vec((0usize..1200, "[<>&;/= \"'a-z:#0-9]{0,6}"), 1..4),
    ) {
        let mut doc = crate::soap::tests::bench_like_request();
        for (cut, insert) in cuts {
            let at = cut.min(doc.len());
            if doc.is_char_boundary(at) {
                doc.insert_str(at, &insert);
            }
        }
        let _ = parse_same_as_fed(doc.as_bytes());
    }
}

#[test]
fn service_header_checks_only_what_java_checks() {
    // An empty version or subsystem code in `service` passes the parser (Java fails later).
    let empty_version = SERVICE.replace(
        "<id:serviceVersion>v1</id:serviceVersion>",
        "<id:serviceVersion/>",
    );
    let m = message(&envelope(
        &[CLIENT, &empty_version, ID, VERSION].join(""),
        BODY,
    ));
    assert_eq!(m.header.service.service_version(), Some(""));
    let empty_sub = SERVICE.replace(
        "<id:subsystemCode>SUBSYSTEM2</id:subsystemCode>",
        "<id:subsystemCode/>",
    );
    assert!(
        message(&envelope(&[CLIENT, &empty_sub, ID, VERSION].join(""), BODY))
            .header
            .service
            .provider()
            .subsystem_code()
            == Some("")
    );
    // Blank checks in Java's order: instance, class, member code, service code.
    let blank_all =
        "<xrd:service id:objectType=\"SERVICE\"><id:serviceCode> </id:serviceCode></xrd:service>";
    assert_eq!(
        fails(&envelope(&[CLIENT, blank_all, ID, VERSION].join(""), BODY)).1,
        "'xRoadInstance' must not be blank"
    );
    let no_code = SERVICE.replace("<id:serviceCode>exampleService</id:serviceCode>", "");
    assert_eq!(
        fails(&envelope(&[CLIENT, &no_code, ID, VERSION].join(""), BODY)).1,
        "'serviceCode' must not be blank"
    );
    // A client's subsystem code, when present, must not be blank.
    let blank_sub = CLIENT.replace(
        "<id:subsystemCode>SUBSYSTEM1</id:subsystemCode>",
        "<id:subsystemCode>\t</id:subsystemCode>",
    );
    assert_eq!(
        fails(&envelope(
            &[&blank_sub, SERVICE, ID, VERSION].join(""),
            BODY
        )),
        (
            ErrorCode::InternalError,
            "'subsystemCode' must not be blank".into()
        )
    );
}

#[test]
fn every_known_header_is_unique() {
    let extra = [
        "<xrd:userId>a</xrd:userId>",
        "<xrd:issue>a</xrd:issue>",
        "<xrd:requestHash>a</xrd:requestHash>",
        "<xrd:securityServer id:objectType=\"SERVER\"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>M</id:memberCode><id:serverCode>s</id:serverCode></xrd:securityServer>",
        "<repr:representedParty xmlns:repr=\"http://x-road.eu/xsd/representation.xsd\"><repr:partyCode>p</repr:partyCode></repr:representedParty>",
    ];
    for h in extra {
        let (code, msg) = fails(&envelope(
            &[CLIENT, SERVICE, ID, VERSION, h, h].join(""),
            BODY,
        ));
        assert_eq!(code, ErrorCode::DuplicateHeaderField, "{h}");
        assert!(
            msg.starts_with("SOAP header contains duplicate field '{http://x-road.eu/xsd/"),
            "{msg}"
        );
    }
    let party = "<repr:representedParty xmlns:repr=\"http://x-road.eu/xsd/representation.xsd\"><repr:partyCode>p</repr:partyCode><repr:partyCode>q</repr:partyCode></repr:representedParty>";
    let (_, msg) = fails(&envelope(
        &[CLIENT, SERVICE, ID, VERSION, party].join(""),
        BODY,
    ));
    assert_eq!(
        msg,
        "SOAP header contains duplicate field '{http://x-road.eu/xsd/representation.xsd}partyCode'"
    );
    // The duplicate check comes before the objectType check.
    let bad_second = CLIENT.replace("\"SUBSYSTEM\"", "\"FOO\"");
    assert_eq!(
        fails(&envelope(
            &[CLIENT, &bad_second, SERVICE, ID, VERSION].join(""),
            BODY
        ))
        .0,
        ErrorCode::DuplicateHeaderField
    );
    // Several Header elements share one set of fields.
    let doc = envelope(&[CLIENT, SERVICE, ID, VERSION].join(""), BODY).replace(
        "</SOAP-ENV:Header>",
        &format!("</SOAP-ENV:Header><SOAP-ENV:Header>{ID}</SOAP-ENV:Header>"),
    );
    assert_eq!(fails(&doc).0, ErrorCode::DuplicateHeaderField);
}

#[test]
fn unexpected_object_types_for_service_and_server() {
    let svc = SERVICE.replace("\"SERVICE\"", "\"MEMBER\"");
    assert_eq!(
        fails(&envelope(&[CLIENT, &svc, ID, VERSION].join(""), BODY)).1,
        "Unexpected objectType: MEMBER"
    );
    let ss = "<xrd:securityServer id:objectType=\"SUBSYSTEM\"/>";
    assert_eq!(
        fails(&envelope(
            &[CLIENT, SERVICE, ID, VERSION, ss].join(""),
            BODY
        ))
        .1,
        "Unexpected objectType: SUBSYSTEM"
    );
}

#[test]
fn protocol_version_prefix_rule() {
    for bad in ["", " 4.0", "4", "3.5", "foo"] {
        let v = format!("<xrd:protocolVersion>{bad}</xrd:protocolVersion>");
        assert_eq!(
            fails(&envelope(&[CLIENT, SERVICE, ID, &v].join(""), BODY)).0,
            ErrorCode::InvalidProtocolVersion,
            "{bad:?}"
        );
    }
    for ok in ["4.", "4.x", "4.0.1"] {
        let v = format!("<xrd:protocolVersion>{ok}</xrd:protocolVersion>");
        assert_eq!(
            message(&envelope(&[CLIENT, SERVICE, ID, &v].join(""), BODY))
                .header
                .protocol_version,
            ok
        );
    }
}

#[test]
fn element_order_and_repetition() {
    // Body before Header is fine; with two Bodies the last one counts.
    let doc = request();
    let header_start = doc.find("<SOAP-ENV:Header>").unwrap();
    let body_start = doc.find("<SOAP-ENV:Body>").unwrap();
    let body_end = doc.find("</SOAP-ENV:Body>").unwrap() + "</SOAP-ENV:Body>".len();
    let swapped = format!(
        "{}{}{}{}",
        &doc[..header_start],
        &doc[body_start..body_end],
        &doc[header_start..body_start],
        &doc[body_end..]
    );
    assert_eq!(message(&swapped).service_name, "exampleService");
    let two_bodies = doc.replace(
        "</SOAP-ENV:Body>",
        "</SOAP-ENV:Body><SOAP-ENV:Body><x:other xmlns:x=\"urn:x\"/></SOAP-ENV:Body>",
    );
    assert_eq!(fails(&two_bodies).0, ErrorCode::InconsistentHeaders);
    // Missing header wins over a missing body; a missing service wins over a missing body.
    let bare = "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"/>";
    assert_eq!(fails(bare).0, ErrorCode::MissingHeader);
    let no_service_no_body = envelope(&[CLIENT, ID, VERSION].join(""), BODY)
        .replace(&format!("<SOAP-ENV:Body>{BODY}</SOAP-ENV:Body>"), "");
    assert_eq!(
        fails(&no_service_no_body).1,
        "Message header must contain service id"
    );
}

#[test]
fn text_beside_identifier_children_is_ignored() {
    let noisy = CLIENT.replace(
        "<id:xRoadInstance>",
        &format!("{}<id:xRoadInstance>", "x".repeat(2 << 20)),
    );
    assert!(matches!(
        parse(envelope(&[&noisy, SERVICE, ID, VERSION].join(""), BODY).as_bytes()),
        Ok(Soap::Message(_))
    ));
    let long_value = format!("<xrd:userId>{}</xrd:userId>", "u".repeat((1 << 20) + 1));
    assert_eq!(
        fails(&envelope(
            &[CLIENT, SERVICE, ID, VERSION, &long_value].join(""),
            BODY
        ))
        .0,
        ErrorCode::InvalidSoap
    );
}

#[test]
fn usual_messages_take_the_fast_path() {
    let response = envelope(
        &[CLIENT, SERVICE, ID, VERSION].join("\n"),
        "<ns1:exampleServiceResponse xmlns:ns1=\"urn:x\"/>",
    );
    let crlf = bench_like_request().replace('\n', "\r\n");
    for doc in [request(), bench_like_request(), response, crlf] {
        let fast = parse_complete(doc.as_bytes());
        assert!(matches!(fast, Some(Ok(Soap::Message(_)))), "{doc}");
    }
    // A handler error is the fast path's answer too: the same as feeding gives.
    let missing_id = envelope(&[CLIENT, SERVICE, VERSION].join("\n"), BODY);
    let fast = parse_complete(missing_id.as_bytes());
    assert_eq!(
        fast.and_then(Result::err).and_then(|e| e.error_code()),
        Some(ErrorCode::MissingHeaderField)
    );
    // Comments, other encodings and malformed documents are left to the streaming scan.
    for doc in [
        request().replace("<SOAP-ENV:Body>", "<SOAP-ENV:Body><!-- c -->"),
        request().replace("UTF-8", "ISO-8859-1"),
        request().replace("</SOAP-ENV:Body>", "</SOAP-ENV:Bod>"),
    ] {
        assert!(parse_complete(doc.as_bytes()).is_none());
        assert_eq!(
            parse_same_as_fed(doc.as_bytes()).is_ok(),
            !doc.contains("</SOAP-ENV:Bod>")
        );
    }
}

#[test]
fn header_values_are_bounded() {
    // A value of 1 MiB is kept; one byte more is refused, whole, held or streamed alike, and
    // after a value that made the buffer grow.
    let at_limit = "7".repeat(1 << 20);
    let over = "7".repeat((1 << 20) + 1);
    for (user_id, ok) in [(at_limit.as_str(), true), (over.as_str(), false)] {
        let doc = envelope(
            &[
                CLIENT,
                SERVICE,
                ID,
                VERSION,
                &format!("<xrd:userId>{user_id}</xrd:userId>"),
            ]
            .join(""),
            BODY,
        );
        let result = parse_same_as_fed(doc.as_bytes());
        assert_eq!(result.is_ok(), ok);
        if !ok {
            assert_eq!(
                result.unwrap_err().error_code(),
                Some(ErrorCode::InvalidSoap)
            );
        }
    }
    let both = envelope(
        &[
            CLIENT,
            SERVICE,
            VERSION,
            &format!("<xrd:userId>{at_limit}</xrd:userId><xrd:issue>{over}</xrd:issue>"),
            ID,
        ]
        .join(""),
        BODY,
    );
    assert_eq!(
        parse_same_as_fed(both.as_bytes()).unwrap_err().error_code(),
        Some(ErrorCode::InvalidSoap)
    );
}
