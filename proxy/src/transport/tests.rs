use bytes::Bytes;
use http_body_util::BodyExt;
use xroad_crypto::DigestAlgorithm;
use xroad_fault::ErrorCode;

use super::*;
use crate::spool::SpoolSettings;

const SOAP: &str = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers"><SOAP-ENV:Header><xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>DEV</id:xRoadInstance><id:memberClass>COM</id:memberClass><id:memberCode>1</id:memberCode><id:subsystemCode>C</id:subsystemCode></xrd:client><xrd:service id:objectType="SERVICE"><id:xRoadInstance>DEV</id:xRoadInstance><id:memberClass>COM</id:memberClass><id:memberCode>2</id:memberCode><id:subsystemCode>P</id:subsystemCode><id:serviceCode>hello</id:serviceCode></xrd:service><xrd:id>1</xrd:id><xrd:protocolVersion>4.0</xrd:protocolVersion></SOAP-ENV:Header><SOAP-ENV:Body><hello/></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;

fn settings(threshold: usize) -> SpoolSettings {
    SpoolSettings {
        threshold,
        ..SpoolSettings::default()
    }
}

async fn collect(body: Body) -> Vec<u8> {
    body.collect().await.unwrap().to_bytes().to_vec()
}

/// Writes a SOAP message with `attachments` and a signature, returns (content type, bytes).
async fn written(attachments: &[&[u8]]) -> (String, Vec<u8>) {
    let (tx, body) = channel_body(16);
    let (mut w, ct) = TransportWriter::new(tx).unwrap();
    let atts: Vec<Attachment> = attachments
        .iter()
        .map(|a| Attachment {
            content_type: "application/octet-stream".into(),
            headers: vec![("Content-ID".into(), "<a>".into())],
            data: Spooled::from_bytes(a.to_vec()),
            digest: DigestAlgorithm::Sha512.digest(a),
        })
        .collect();
    let task = tokio::spawn(async move {
        w.part(
            OCSP_RESPONSE,
            &[],
            Bytes::from_static(b"\x30\x03\x0a\x01\x00"),
        )
        .await
        .unwrap();
        w.part(
            "text/xml; charset=UTF-8",
            &[],
            Bytes::from_static(SOAP.as_bytes()),
        )
        .await
        .unwrap();
        w.attachments(&atts).await.unwrap();
        if !atts.is_empty() {
            w.part(HASH_CHAIN_RESULT, &[], Bytes::from_static(b"<hcr/>"))
                .await
                .unwrap();
            w.part(HASH_CHAIN, &[], Bytes::from_static(b"<hc/>"))
                .await
                .unwrap();
        }
        w.part(SIGNATURE, &[], Bytes::from_static(b"<sig/>"))
            .await
            .unwrap();
        w.finish().await.unwrap();
    });
    let bytes = collect(body).await;
    task.await.unwrap();
    (ct, bytes)
}

fn decode_in_chunks(
    ct: &str,
    bytes: &[u8],
    chunk: usize,
    spool: SpoolSettings,
) -> TransportMessage {
    let mut d = TransportDecoder::new(ct, DigestAlgorithm::Sha512, spool).unwrap();
    for c in bytes.chunks(chunk) {
        d.feed(c).unwrap();
    }
    d.finish().unwrap()
}

#[tokio::test]
async fn a_soap_message_with_attachments_round_trips_in_any_chunking() {
    let (ct, bytes) = written(&[b"first attachment", b"second\r\n--not a boundary\r\n"]).await;
    assert!(ct.starts_with("multipart/mixed; charset=UTF-8; boundary=xtop"));
    for chunk in [1, 7, 64, bytes.len()] {
        for threshold in [4, 1 << 20] {
            let m = decode_in_chunks(&ct, &bytes, chunk, settings(threshold));
            assert_eq!(m.ocsp, vec![b"\x30\x03\x0a\x01\x00".to_vec()]);
            let Some(MainPart::Soap(soap)) = &m.main else {
                panic!("no SOAP part")
            };
            assert_eq!(soap.content_type, "text/xml; charset=UTF-8");
            assert_eq!(
                soap.data.to_bytes().await.unwrap().as_ref(),
                SOAP.as_bytes()
            );
            assert_eq!(soap.digest, DigestAlgorithm::Sha512.digest(SOAP.as_bytes()));
            assert_eq!(m.attachments.len(), 2);
            assert_eq!(
                m.attachments[1].data.to_bytes().await.unwrap().as_ref(),
                b"second\r\n--not a boundary\r\n"
            );
            assert_eq!(
                m.attachments[0].headers,
                vec![("Content-ID".to_owned(), "<a>".to_owned())]
            );
            assert_eq!(m.hash_chain_result.as_deref(), Some(&b"<hcr/>"[..]));
            assert_eq!(m.hash_chain.as_deref(), Some(&b"<hc/>"[..]));
            assert_eq!(m.signature.as_deref(), Some(&b"<sig/>"[..]));
            let names: Vec<String> = m.signed_parts().into_iter().map(|p| p.0).collect();
            assert_eq!(names, ["/message.xml", "/attachment1", "/attachment2"]);
        }
    }
}

#[tokio::test]
async fn the_framing_is_javas() {
    let (ct, bytes) = written(&[b"x"]).await;
    let top = ct.rsplit('=').next().unwrap();
    let att = format!("xatt{}", &top[4..]);
    let text = String::from_utf8_lossy(&bytes);
    let expected_nested = format!(
        "--{top}\r\ncontent-type: multipart/mixed; charset=UTF-8; boundary={att}\r\n\r\n\r\n--{att}\r\ncontent-type: application/octet-stream\r\nContent-ID: <a>\r\n\r\nx\r\n--{att}--\r\n"
    );
    assert!(text.contains(&expected_nested), "{text}");
    assert!(
        text.ends_with(&format!("<sig/>\r\n--{top}--\r\n")),
        "{text}"
    );
}

fn message(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let mut out = Vec::new();
    let mut w = xroad_mime::MultipartWriter::new("xtopB").unwrap();
    for (ct, body) in parts {
        w.start_part(&mut out, ct, None::<(&str, &str)>).unwrap();
        out.extend_from_slice(body);
    }
    w.finish(&mut out);
    ("multipart/mixed; charset=UTF-8; boundary=xtopB".into(), out)
}

fn decode_err(ct: &str, bytes: &[u8]) -> xroad_fault::XRoadError {
    let mut d = TransportDecoder::new(ct, DigestAlgorithm::Sha512, settings(1 << 20)).unwrap();
    match d.feed(bytes) {
        Err(e) => e,
        Ok(()) => d.finish().unwrap_err(),
    }
}

#[test]
fn parts_out_of_order_are_refused_as_java_does() {
    let (ct, b) = message(&[("application/json", b"{}")]);
    let e = decode_err(&ct, &b);
    assert_eq!(e.error_code(), Some(ErrorCode::InvalidContentType));
    assert_eq!(
        e.message(),
        "Invalid content type for SOAP message: application/json"
    );

    let (ct, b) = message(&[("text/xml", SOAP.as_bytes()), ("application/zip", b"z")]);
    let e = decode_err(&ct, &b);
    assert_eq!(
        e.message(),
        "Received invalid content type instead of signature: application/zip"
    );

    let (ct, b) = message(&[
        ("text/xml", SOAP.as_bytes()),
        (SIGNATURE, b"<sig/>"),
        (SIGNATURE, b"<sig/>"),
    ]);
    let e = decode_err(&ct, &b);
    assert_eq!(e.error_code(), Some(ErrorCode::InvalidMessage));
    assert_eq!(
        e.message(),
        "Extra content (signature/bdoc-1.0/ts) after signature"
    );
}

#[test]
fn content_types_other_than_multipart_mixed_are_refused() {
    let e = TransportDecoder::new("text/plain", DigestAlgorithm::Sha512, settings(1))
        .err()
        .unwrap();
    assert_eq!(e.message(), "Invalid content type: text/plain");
    let e = TransportDecoder::new("multipart/mixed", DigestAlgorithm::Sha512, settings(1))
        .err()
        .unwrap();
    assert_eq!(
        e.message(),
        "Multipart content type is missing required boundary"
    );
}

#[test]
fn a_fault_instead_of_the_signature_is_kept_for_relaying() {
    let fault = br#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>server.serverproxy.x</faultcode><faultstring>bad</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;
    let (ct, b) = message(&[("text/xml", SOAP.as_bytes()), (FAULT_PART, fault)]);
    let m = decode_in_chunks(&ct, &b, 5, settings(1 << 20));
    let f = m.fault.unwrap();
    assert_eq!(
        f.fault_code(xroad_fault::Spelling::Current),
        "server.serverproxy.x"
    );
    assert_eq!(f.raw_fault(), Some(&fault[..]));
    assert!(m.signature.is_none());
}

#[test]
fn a_rest_message_has_a_header_part_and_a_body() {
    let (ct, b) = message(&[
        (OCSP_RESPONSE, b"o"),
        (REST_REQUEST, b"GET\r\n/r1/x\r\n"),
        (REST_BODY, b"body"),
        (SIGNATURE, b"<sig/>"),
    ]);
    let m = decode_in_chunks(&ct, &b, 3, settings(1 << 20));
    let Some(MainPart::Rest(r)) = &m.main else {
        panic!()
    };
    assert!(!r.response);
    assert_eq!(r.bytes, b"GET\r\n/r1/x\r\n");
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.signature.as_deref(), Some(&b"<sig/>"[..]));
}

#[test]
fn the_message_size_limit_applies_while_reading() {
    let (ct, b) = message(&[("text/xml", SOAP.as_bytes()), (SIGNATURE, b"<sig/>")]);
    let mut d = TransportDecoder::new(
        &ct,
        DigestAlgorithm::Sha512,
        SpoolSettings {
            max_message_size: 100,
            ..SpoolSettings::default()
        },
    )
    .unwrap();
    let e = d.feed(&b).unwrap_err();
    assert_eq!(e.error_code(), Some(ErrorCode::InvalidMessage));
}

/// The message of `written`, through [`message_body`]: kept whole or streamed.
async fn through_message_body(whole: bool, attachment: &[u8]) -> (String, Body) {
    let att = vec![Attachment {
        content_type: "application/octet-stream".into(),
        headers: vec![("Content-ID".into(), "<a>".into())],
        data: Spooled::from_bytes(attachment.to_vec()),
        digest: DigestAlgorithm::Sha512.digest(attachment),
    }];
    let write = |mut w: TransportWriter| async move {
        w.part(OCSP_RESPONSE, &[], Bytes::from_static(b"\x30\x03"))
            .await?;
        w.part(
            "text/xml; charset=UTF-8",
            &[],
            Bytes::from_static(SOAP.as_bytes()),
        )
        .await?;
        w.attachments(&att).await?;
        w.part(SIGNATURE, &[], Bytes::from_static(b"<sig/>"))
            .await?;
        w.finish().await
    };
    message_body(whole, "test message", write).await.unwrap()
}

/// The bytes with the random part of the boundaries blanked.
fn unboundaried(ct: &str, bytes: &[u8]) -> String {
    let unique = &ct.rsplit('=').next().unwrap()[4..];
    String::from_utf8_lossy(bytes).replace(unique, "UNIQUE")
}

#[tokio::test]
async fn a_message_kept_whole_has_the_streamed_bytes_and_a_length() {
    for attachment in [&b"small"[..], &vec![b'a'; 200_000][..]] {
        let (ct_whole, whole) = through_message_body(true, attachment).await;
        let (ct_streamed, streamed) = through_message_body(false, attachment).await;
        use hyper::body::Body as _;
        let length = whole.size_hint().exact();
        assert_eq!(streamed.size_hint().exact(), None);
        let whole = collect(whole).await;
        assert_eq!(length, Some(whole.len() as u64));
        assert_eq!(
            unboundaried(&ct_whole, &whole),
            unboundaried(&ct_streamed, &collect(streamed).await)
        );
        let m = decode_in_chunks(&ct_whole, &whole, 13, settings(1 << 20));
        assert_eq!(
            m.attachments[0].data.to_bytes().await.unwrap().as_ref(),
            attachment
        );
    }
}

#[tokio::test]
async fn only_small_parts_in_memory_are_kept_whole() {
    let small = Spooled::from_bytes(vec![0u8; 1000]);
    let big = Spooled::from_bytes(vec![0u8; COALESCE_LIMIT]);
    assert!(in_memory([]));
    assert!(in_memory([&small, &small]));
    assert!(!in_memory([&small, &big]));
    let mut spool = crate::spool::Spool::new(&settings(4));
    spool.write(b"spooled to a file").unwrap();
    let on_disk = spool.finish().unwrap();
    assert!(on_disk.as_memory().is_none());
    assert!(!in_memory([&on_disk]));
    // A part on disk is read back when a writer keeps the message whole anyway.
    let (mut w, _) = TransportWriter::buffered().unwrap();
    w.spooled_part("application/octet-stream", &[], &on_disk)
        .await
        .unwrap();
    let bytes = w.finish().await.unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains("spooled to a file"));
}
