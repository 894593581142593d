//! Tests of the response rewriter and the consumer's checks.
//!
//! Expected bytes under `testdata/response/` were produced by the Java security server's code
//! path: Apache Xerces 2.12 with the parser settings of `SaxSoapParserImpl` and a handler that
//! writes the SAX events as `SaxSoapParserImpl` and `ServerMessageProcessor.ResponseSoapParserImpl`
//! do (`testdata/response/ResponseOracle.java`, see its header for how to run it).

use std::path::PathBuf;

use proptest::prelude::*;
use xroad_fault::{ErrorCode, XRoadError};

use super::*;
use crate::soap::SoapMessage;

/// The request digest every vector was produced with: SHA-512 of `b"request"`.
fn digest() -> [u8; 64] {
    let d = ring::digest::digest(&ring::digest::SHA512, b"request");
    let mut out = [0u8; 64];
    out.copy_from_slice(d.as_ref());
    out
}

fn hash_b64() -> String {
    base64::engine::general_purpose::STANDARD.encode(digest())
}

/// Rewrites `doc` fed in chunks of `chunk` bytes.
fn rewrite_chunked(
    doc: &[u8],
    charset: Option<&str>,
    chunk: usize,
) -> Result<(Vec<u8>, Soap), XRoadError> {
    let mut r = ResponseRewriter::new(&digest(), charset)?;
    let mut out = Vec::new();
    for c in doc.chunks(chunk.max(1)) {
        r.feed(c, &mut out)?;
    }
    let soap = r.finish(&mut out)?;
    Ok((out, soap))
}

/// Rewrites whole and in small chunks; all must agree.
fn rewrite_with(doc: &[u8], charset: Option<&str>) -> Result<(Vec<u8>, Soap), XRoadError> {
    let whole = rewrite_response(doc, &digest(), charset);
    for n in [1, 2, 3, 7, 64] {
        let chunked = rewrite_chunked(doc, charset, n);
        match (&whole, &chunked) {
            (Ok(a), Ok(b)) => assert_eq!(
                String::from_utf8_lossy(&a.0),
                String::from_utf8_lossy(&b.0),
                "chunk size {n}"
            ),
            (Err(a), Err(b)) => assert_eq!(a.error_code(), b.error_code(), "chunk size {n}"),
            _ => panic!("chunk size {n}: {whole:?} vs {chunked:?}"),
        }
    }
    whole
}

fn rewrite(doc: &str) -> String {
    match rewrite_with(doc.as_bytes(), None) {
        Ok((out, _)) => String::from_utf8(out).unwrap(),
        Err(e) => panic!("{e:?}"),
    }
}

fn rewrite_message(doc: &str) -> (String, SoapMessage) {
    match rewrite_with(doc.as_bytes(), None) {
        Ok((out, Soap::Message(m))) => (String::from_utf8(out).unwrap(), m),
        other => panic!("expected a message, got {other:?}"),
    }
}

fn rewrite_error(doc: &[u8]) -> XRoadError {
    match rewrite_with(doc, None) {
        Err(e) => e,
        Ok((out, soap)) => panic!(
            "expected an error, got {soap:?}: {}",
            String::from_utf8_lossy(&out)
        ),
    }
}

const ENVELOPE: &str = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">"#;
const CLIENT: &str = r#"<xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>MEMBER1</id:memberCode><id:subsystemCode>SUBSYSTEM1</id:subsystemCode></xrd:client>"#;
const SERVICE: &str = r#"<xrd:service id:objectType="SERVICE"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>MEMBER2</id:memberCode><id:subsystemCode>SUBSYSTEM2</id:subsystemCode><id:serviceCode>exampleService</id:serviceCode><id:serviceVersion>v1</id:serviceVersion></xrd:service>"#;
const ID: &str = "<xrd:id>4894e35d-bf0f-44a6-867a-8e51f1daa7e0</xrd:id>";
const VERSION: &str = "<xrd:protocolVersion>4.0</xrd:protocolVersion>";
const BODY: &str = r#"<ns1:exampleServiceResponse xmlns:ns1="http://producer.x-road.eu"><out>foo</out></ns1:exampleServiceResponse>"#;

/// A response with `headers` and `body`, everything on one line.
fn response(headers: &str, body: &str) -> String {
    format!("{ENVELOPE}<SOAP-ENV:Header>{headers}</SOAP-ENV:Header><SOAP-ENV:Body>{body}</SOAP-ENV:Body></SOAP-ENV:Envelope>")
}

fn hash_element(prefix_and_attrs: &str) -> String {
    let (name, attrs) = prefix_and_attrs
        .split_once(' ')
        .map_or((prefix_and_attrs, String::new()), |(n, a)| {
            (n, format!(" {a}"))
        });
    format!(
        "<{name}{attrs} algorithmId=\"http://www.w3.org/2001/04/xmlenc#sha512\">{}</{name}>",
        hash_b64()
    )
}

#[test]
fn simple_response() {
    let doc = response(&[CLIENT, SERVICE, ID, VERSION].concat(), BODY);
    let (out, m) = rewrite_message(&doc);
    let expected = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}\n",
        response(
            &[
                CLIENT,
                SERVICE,
                ID,
                &hash_element("xrd:requestHash"),
                VERSION
            ]
            .concat(),
            BODY
        )
    );
    assert_eq!(out, expected);
    assert_eq!(m.service_name, "exampleServiceResponse");
    assert!(m.response);
    assert_eq!(
        m.header.request_hash,
        Some(RequestHash {
            algorithm_id: Some(REQUEST_HASH_ALGORITHM_ID.to_owned()),
            value: hash_b64()
        })
    );
    // The rewritten response reads as the consumer reads it, and passes its checks.
    let request = match crate::soap::parse_soap(
        doc.replace("exampleServiceResponse", "exampleService")
            .as_bytes(),
    ) {
        Ok(Soap::Message(m)) => m,
        other => panic!("{other:?}"),
    };
    let reparsed = match crate::soap::parse_soap(out.as_bytes()) {
        Ok(Soap::Message(m)) => m,
        other => panic!("{other:?}"),
    };
    check_response(&request, &reparsed, &digest()).unwrap();
}

#[test]
fn indented_response_gets_the_first_header_indent() {
    let doc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{ENVELOPE}\n  <SOAP-ENV:Header>\n    {CLIENT}\n    {SERVICE}\n    {ID}\n    {VERSION}\n  </SOAP-ENV:Header>\n  <SOAP-ENV:Body>{BODY}</SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n"
    );
    let out = rewrite(&doc);
    let expected = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{ENVELOPE}\n  <SOAP-ENV:Header>\n    {CLIENT}\n    {SERVICE}\n    {ID}\n    {}\n    {VERSION}\n  </SOAP-ENV:Header>\n  <SOAP-ENV:Body>{BODY}</SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n",
        hash_element("xrd:requestHash")
    );
    assert_eq!(out, expected);
}

/// The Java-produced vectors: `NAME.xml` rewritten must give `NAME.out` (or fail with the
/// code in `NAME.err`); `NAME.charset` holds the content type's charset, if any.
#[test]
fn java_vectors() {
    // XROAD_RESPONSE_VECTORS names another folder of the same layout (e.g. generated
    // documents run through the oracle) to compare with.
    let dir = std::env::var_os("XROAD_RESPONSE_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/response"),
        PathBuf::from,
    );
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "vectors missing in {}", dir.display());
    let mut failures = Vec::new();
    for input in &names {
        let doc = std::fs::read(input).unwrap();
        let charset = std::fs::read_to_string(input.with_extension("charset")).ok();
        let result = rewrite_with(&doc, charset.as_deref().map(str::trim));
        let name = input.file_stem().unwrap().to_string_lossy();
        match (std::fs::read(input.with_extension("out")), result) {
            (Ok(expected), Ok((out, _))) if out == expected => {}
            (Ok(expected), Ok((out, _))) => failures.push(format!(
                "{name}: expected\n{}\ngot\n{}",
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&out)
            )),
            (Ok(_), Err(e)) => failures.push(format!("{name}: {e:?}")),
            (Err(_), result) => {
                let code = std::fs::read_to_string(input.with_extension("err")).unwrap();
                match result {
                    Err(e) if e.fault_code(xroad_fault::Spelling::Current) == code.trim() => {}
                    other => failures.push(format!("{name}: expected {code}, got {other:?}")),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn response_without_id_gets_no_hash_and_fails() {
    let doc = response(&[CLIENT, SERVICE, VERSION].concat(), BODY);
    let mut r = ResponseRewriter::new(&digest(), None).unwrap();
    let mut out = Vec::new();
    // The envelope is checked as it closes.
    let e = r.feed(doc.as_bytes(), &mut out).unwrap_err();
    assert!(!String::from_utf8_lossy(&out).contains("requestHash"));
    assert_eq!(r.finish(&mut out).unwrap_err(), e);
    assert_eq!(e.error_code(), Some(ErrorCode::MissingHeaderField));
    assert_eq!(
        e.fault_code(xroad_fault::Spelling::Current),
        "service_failed.missing_header_field"
    );
    assert_eq!(e.message(), "Required field 'id' is missing");
    // Had the consumer got it, its check would fail for want of the hash.
    let (request, mut answer) = pair();
    answer.header.request_hash = None;
    let e = check_response(&request, &answer, &digest()).unwrap_err();
    assert_eq!(
        e.fault_code(xroad_fault::Spelling::Current),
        "server.clientproxy.inconsistent_response"
    );
}

#[test]
fn missing_mandatory_headers_are_refused() {
    for (headers, message) in [
        (
            vec![SERVICE, ID, VERSION],
            "Required field 'client' is missing",
        ),
        (
            vec![CLIENT, SERVICE, ID],
            "Required field 'protocolVersion' is missing",
        ),
        (
            vec![CLIENT, ID, VERSION],
            "Message header must contain service id",
        ),
    ] {
        let e = rewrite_error(response(&headers.concat(), BODY).as_bytes());
        assert_eq!(e.error_code(), Some(ErrorCode::MissingHeaderField));
        assert_eq!(e.message(), message);
    }
    let e = rewrite_error(b"");
    assert_eq!(
        e.fault_code(xroad_fault::Spelling::Current),
        "service_failed.invalid_soap"
    );
    let e = rewrite_error(
        format!("{ENVELOPE}<SOAP-ENV:Body>{BODY}</SOAP-ENV:Body></SOAP-ENV:Envelope>").as_bytes(),
    );
    assert_eq!(e.error_code(), Some(ErrorCode::MissingHeader));
    // A malformed document fails wherever it breaks, and keeps failing.
    let mut r = ResponseRewriter::new(&digest(), None).unwrap();
    let mut out = Vec::new();
    let e = r.feed(b"<a></b>", &mut out).unwrap_err();
    assert_eq!(e.error_code(), Some(ErrorCode::InvalidSoap));
    assert_eq!(r.feed(b"x", &mut out).unwrap_err(), e);
    assert_eq!(r.finish(&mut out).unwrap_err(), e);
}

#[test]
fn fault_response_is_reported_as_fault() {
    let doc = format!(
        "{ENVELOPE}<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Server</faultcode>\
         <faultstring>Boom</faultstring><detail><faultDetail>d</faultDetail></detail>\
         </SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    );
    match rewrite_with(doc.as_bytes(), None) {
        Ok((_, Soap::Fault(f))) => {
            assert_eq!(f.code.as_deref(), Some("SOAP-ENV:Server"));
            assert_eq!(f.string.as_deref(), Some("Boom"));
            assert_eq!(f.detail.as_deref(), Some("d"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_output_charset_is_refused() {
    let e = ResponseRewriter::new(&digest(), Some("klingon"))
        .err()
        .unwrap();
    assert_eq!(
        e.fault_code(xroad_fault::Spelling::Current),
        "service_failed.internal_error"
    );
}

#[test]
fn header_complete_is_reported() {
    let doc = response(&[CLIENT, SERVICE, ID, VERSION].concat(), BODY);
    let split = doc.find("<SOAP-ENV:Body>").unwrap();
    let mut r = ResponseRewriter::new(&digest(), None).unwrap();
    let mut out = Vec::new();
    r.feed(&doc.as_bytes()[..split - 1], &mut out).unwrap();
    assert!(!r.header_complete());
    r.feed(&doc.as_bytes()[split - 1..split + 3], &mut out)
        .unwrap();
    assert!(r.header_complete());
    // The header is already written out.
    assert!(String::from_utf8_lossy(&out).contains("</SOAP-ENV:Header>"));
}

/// Streams a response with a body of about 50 MiB in 64 KiB chunks: the rewriter holds a few
/// small buffers, whatever the size.
#[test]
fn memory_stays_bounded_for_a_large_body() {
    const CHUNK: usize = 64 * 1024;
    let head = format!(
        "{ENVELOPE}\n<SOAP-ENV:Header>\n{CLIENT}\n{SERVICE}\n{ID}\n{VERSION}\n</SOAP-ENV:Header>\n<SOAP-ENV:Body><ns1:exampleServiceResponse xmlns:ns1=\"http://producer.x-road.eu\">"
    );
    let item = "<item a='1&amp;2'>text &lt; more\r\n<![CDATA[x]]]><!-- c --></item>\n";
    let mut chunk = String::new();
    while chunk.len() < CHUNK {
        chunk.push_str(item);
    }
    let mut r = ResponseRewriter::new(&digest(), None).unwrap();
    let mut out = Vec::new();
    let mut hash = ring::digest::Context::new(&ring::digest::SHA512);
    r.feed(head.as_bytes(), &mut out).unwrap();
    let mut written = 0;
    let mut peak = 0;
    // Split the chunks off-centre, so that constructs are cut everywhere.
    let (a, b) = chunk.as_bytes().split_at(CHUNK / 3 + 7);
    for _ in 0..=(50 << 20) / chunk.len() {
        for part in [a, b] {
            r.feed(part, &mut out).unwrap();
            hash.update(&out);
            written += out.len();
            out.clear();
            peak = peak.max(r.retained());
        }
    }
    r.feed(
        b"</ns1:exampleServiceResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>",
        &mut out,
    )
    .unwrap();
    assert!(matches!(r.finish(&mut out), Ok(Soap::Message(_))));
    written += out.len();
    assert!(written > 49 << 20, "{written}");
    assert!(peak < 16 * 1024, "retained {peak} bytes");
    assert!(
        out.capacity() < 2 * CHUNK,
        "the output holds one chunk's worth"
    );
}

/// Documents made of random pieces, cut at random places, give what they give whole.
mod chunking {
    use super::*;

    fn fragment() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("<a>"),
            Just("</a>"),
            Just("<b x='1&amp;&#x9;' y=\"&quot;\"/>"),
            Just("&amp;"),
            Just("&#13;"),
            Just("<!--c-->"),
            Just("<!---->"),
            Just("<![CDATA[]]]]>"),
            Just("<![CDATA[x]\r\ny]]>"),
            Just("text"),
            Just(" "),
            Just("\n  "),
            Just("\r\n"),
            Just("]"),
            Just("<p:q xmlns:p='u'>"),
            Just("</p:q>"),
            Just("é"),
            Just("😀"),
            Just("<?pi x?>"),
            Just("<xrd:requestHash>old</xrd:requestHash>"),
            Just("<xrd:id a='1'>i</xrd:id>"),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn output_does_not_depend_on_chunking(
            header in proptest::collection::vec(fragment(), 0..12),
            body in proptest::collection::vec(fragment(), 0..12),
            cuts in proptest::collection::vec(0usize..4096, 0..12),
        ) {
            let doc = format!(
                "<?xml version='1.0'?><!-- x -->\n{ENVELOPE}<SOAP-ENV:Header>{}{CLIENT}{SERVICE}{ID}{VERSION}{}</SOAP-ENV:Header>\
                 <SOAP-ENV:Body><ns1:exampleServiceResponse xmlns:ns1='urn:x'>{}</ns1:exampleServiceResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>",
                header.concat(), header.concat(), body.concat()
            );
            let bytes = doc.as_bytes();
            let whole = rewrite_chunked(bytes, None, bytes.len())
                .map(|(out, _)| out)
                .map_err(|e| e.error_code());
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut r = ResponseRewriter::new(&digest(), None).unwrap();
            let mut out = Vec::new();
            let mut at = 0;
            let chunked = cuts
                .iter()
                .chain(std::iter::once(&bytes.len()))
                .try_for_each(|&c| {
                    let piece = &bytes[at..c];
                    at = c;
                    r.feed(piece, &mut out)
                })
                .and_then(|_| r.finish(&mut out))
                .map(|_| out)
                .map_err(|e| e.error_code());
            prop_assert_eq!(chunked, whole);
        }
    }
}

/// A request and its (consistent) response, as the consumer parses them.
fn pair() -> (SoapMessage, SoapMessage) {
    let extra = [
        "<xrd:userId>EE123</xrd:userId>",
        "<xrd:issue>12</xrd:issue>",
        "<repr:representedParty xmlns:repr=\"http://x-road.eu/xsd/representation.xsd\"><repr:partyClass>COM</repr:partyClass><repr:partyCode>UT</repr:partyCode></repr:representedParty>",
    ]
    .concat();
    let request = response(&[CLIENT, SERVICE, ID, VERSION, &extra].concat(), BODY)
        .replace("exampleServiceResponse", "exampleService");
    let request = match crate::soap::parse_soap(request.as_bytes()) {
        Ok(Soap::Message(m)) => m,
        other => panic!("{other:?}"),
    };
    let (_, answer) = rewrite_message(&response(
        &[CLIENT, SERVICE, ID, VERSION, &extra].concat(),
        BODY,
    ));
    (request, answer)
}

fn inconsistent(request: &SoapMessage, answer: &SoapMessage) -> String {
    let e = check_response(request, answer, &digest()).unwrap_err();
    format!(
        "{} {}",
        e.fault_code(xroad_fault::Spelling::Current),
        e.message()
    )
}

const NOT_CONSISTENT: &str = "server.clientproxy.service_failed.inconsistent_response Response from server proxy is not consistent with request";

#[test]
fn consistent_response_passes() {
    let (request, answer) = pair();
    check_response(&request, &answer, &digest()).unwrap();
}

#[test]
fn each_compared_header_must_match() {
    let (request, answer) = pair();
    let other = |f: &dyn Fn(&mut SoapMessage)| {
        let mut a = answer.clone();
        f(&mut a);
        inconsistent(&request, &a)
    };
    let parse_id = |xml: &str| match crate::soap::parse_soap(
        response(&[xml, SERVICE, ID, VERSION].concat(), BODY).as_bytes(),
    ) {
        Ok(Soap::Message(m)) => m.header.client,
        other => panic!("{other:?}"),
    };
    let member = parse_id(
        &CLIENT
            .replace("SUBSYSTEM\"", "MEMBER\"")
            .replace("<id:subsystemCode>SUBSYSTEM1</id:subsystemCode>", ""),
    );
    assert_eq!(other(&|a| a.header.client = member.clone()), NOT_CONSISTENT);
    let service = |from: &str, to: &str| match crate::soap::parse_soap(
        response(
            &[CLIENT, &SERVICE.replace(from, to), ID, VERSION].concat(),
            BODY,
        )
        .as_bytes(),
    ) {
        Ok(Soap::Message(m)) => m.header.service,
        other => panic!("{other:?}"),
    };
    let version = service(
        "<id:serviceVersion>v1</id:serviceVersion>",
        "<id:serviceVersion>v2</id:serviceVersion>",
    );
    assert_eq!(
        other(&|a| a.header.service = version.clone()),
        NOT_CONSISTENT
    );
    let unversioned = service("<id:serviceVersion>v1</id:serviceVersion>", "");
    assert_eq!(
        other(&|a| a.header.service = unversioned.clone()),
        NOT_CONSISTENT
    );
    let provider = service("MEMBER2", "MEMBER3");
    assert_eq!(
        other(&|a| a.header.service = provider.clone()),
        NOT_CONSISTENT
    );
    assert_eq!(other(&|a| a.header.user_id = None), NOT_CONSISTENT);
    assert_eq!(
        other(&|a| a.header.user_id = Some("EE124".into())),
        NOT_CONSISTENT
    );
    assert_eq!(
        other(&|a| a.header.issue = Some("13".into())),
        NOT_CONSISTENT
    );
    assert_eq!(other(&|a| a.header.issue = None), NOT_CONSISTENT);
    assert_eq!(other(&|a| a.header.id = "x".into()), NOT_CONSISTENT);
    assert_eq!(
        other(&|a| a.header.represented_party = None),
        NOT_CONSISTENT
    );
    assert_eq!(
        other(&|a| if let Some(p) = &mut a.header.represented_party {
            p.party_class = None
        }),
        NOT_CONSISTENT
    );
    // Consistency comes before the hash.
    assert_eq!(
        other(&|a| {
            a.header.id = "x".into();
            a.header.request_hash = None;
        }),
        NOT_CONSISTENT
    );
}

#[test]
fn headers_not_compared() {
    let (request, answer) = pair();
    let mut a = answer.clone();
    a.header.protocol_version = "4.1".into();
    a.header.security_server = Some(
        xroad_identifiers::SecurityServerId::new(
            xroad_identifiers::ClientId::member("EE", "GOV", "X").unwrap(),
            "ss",
        )
        .unwrap(),
    );
    a.service_name = "exampleServiceResponse".into();
    a.rpc = true;
    check_response(&request, &a, &digest()).unwrap();
}

#[test]
fn request_hash_cases() {
    let (request, answer) = pair();
    let with_hash = |value: &str, algorithm: Option<&str>| {
        let mut a = answer.clone();
        a.header.request_hash = Some(RequestHash {
            algorithm_id: algorithm.map(str::to_owned),
            value: value.to_owned(),
        });
        check_response(&request, &a, &digest()).map_err(|e| {
            format!(
                "{} {}",
                e.fault_code(xroad_fault::Spelling::Current),
                e.message()
            )
        })
    };
    let b64 = hash_b64();
    assert_eq!(with_hash(&b64, None), Ok(()), "algorithmId is not checked");
    assert_eq!(
        with_hash(&b64, Some("http://www.w3.org/2001/04/xmlenc#sha256")),
        Ok(())
    );
    let wrapped = format!("\n  {}\r\n  {}\n", &b64[..40], &b64[40..]);
    assert_eq!(with_hash(&wrapped, None), Ok(()), "whitespace is skipped");
    let mismatch = "server.clientproxy.inconsistent_response Request message hash does not match request message";
    let other = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
    assert_eq!(with_hash(&other, None).unwrap_err(), mismatch);
    assert_eq!(
        with_hash(&b64[..b64.len() - 4], None).unwrap_err(),
        mismatch,
        "truncated"
    );
    assert_eq!(with_hash("", None).unwrap_err(), mismatch);
    let mut a = answer.clone();
    a.header.request_hash = None;
    assert_eq!(
        inconsistent(&request, &a),
        "server.clientproxy.inconsistent_response Response from server proxy is missing request message hash"
    );
    // The digest must be the request's.
    assert!(check_response(&request, &answer, &[0u8; 64]).is_err());
}
