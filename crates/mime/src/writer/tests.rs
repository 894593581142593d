use super::*;

const NO_HEADERS: [(&str, &str); 0] = [];
const TOP: &str = "xtopQhVbRkZnXqWpLmTsYdFgHjKaBcDeUo";
const ATT: &str = "xattQhVbRkZnXqWpLmTsYdFgHjKaBcDeUo";

/// The SOAP request with one attachment from PROTOCOL-DIGEST §5.4, byte for byte.
#[test]
fn transport_message_with_nested_attachments() {
    let mut out = Vec::new();
    let mut top = MultipartWriter::new(TOP).unwrap();
    top.start_part(&mut out, "application/ocsp-response", NO_HEADERS)
        .unwrap();
    out.extend_from_slice(b"OCSP");
    top.start_part(
        &mut out,
        "text/xml; charset=UTF-8",
        [
            ("Content-ID", "<rootpart>"),
            ("Content-Transfer-Encoding", "8bit"),
        ],
    )
    .unwrap();
    out.extend_from_slice(b"<soap/>\n");

    top.start_part(&mut out, &multipart_mixed_content_type(ATT), NO_HEADERS)
        .unwrap();
    let mut att = MultipartWriter::nested(ATT).unwrap();
    att.start_part(
        &mut out,
        "application/octet-stream; name=data.bin",
        [
            ("Content-ID", "<data.bin>"),
            ("Content-Transfer-Encoding", "base64"),
            (
                "Content-Disposition",
                "attachment; name=\"data.bin\"; filename=\"data.bin\"",
            ),
        ],
    )
    .unwrap();
    out.extend_from_slice(b"VGhpcyBpcyBhdHRhY2htZW50Lg0K");
    att.finish(&mut out);

    top.start_part(&mut out, "application/hash-chain-result", NO_HEADERS)
        .unwrap();
    out.extend_from_slice(b"<hcr/>");
    top.start_part(&mut out, "application/hash-chain", NO_HEADERS)
        .unwrap();
    out.extend_from_slice(b"<hc/>");
    top.start_part(&mut out, "signature/bdoc-1.0/ts", NO_HEADERS)
        .unwrap();
    out.extend_from_slice(b"<sig/>");
    top.finish(&mut out);

    let expected = format!(
        "--{TOP}\r\n\
         content-type: application/ocsp-response\r\n\
         \r\n\
         OCSP\r\n\
         --{TOP}\r\n\
         content-type: text/xml; charset=UTF-8\r\n\
         Content-ID: <rootpart>\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         <soap/>\n\r\n\
         --{TOP}\r\n\
         content-type: multipart/mixed; charset=UTF-8; boundary={ATT}\r\n\
         \r\n\
         \r\n\
         --{ATT}\r\n\
         content-type: application/octet-stream; name=data.bin\r\n\
         Content-ID: <data.bin>\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; name=\"data.bin\"; filename=\"data.bin\"\r\n\
         \r\n\
         VGhpcyBpcyBhdHRhY2htZW50Lg0K\r\n\
         --{ATT}--\r\n\
         \r\n\
         --{TOP}\r\n\
         content-type: application/hash-chain-result\r\n\
         \r\n\
         <hcr/>\r\n\
         --{TOP}\r\n\
         content-type: application/hash-chain\r\n\
         \r\n\
         <hc/>\r\n\
         --{TOP}\r\n\
         content-type: signature/bdoc-1.0/ts\r\n\
         \r\n\
         <sig/>\r\n\
         --{TOP}--\r\n"
    );
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

#[test]
fn soap_encoder_has_no_space_after_content_type() {
    let mut out = Vec::new();
    let mut w = MultipartWriter::soap_encoder("MIME_boundary").unwrap();
    w.start_part(
        &mut out,
        "text/xml; charset=UTF-8",
        [("Content-ID", "<rootpart>")],
    )
    .unwrap();
    out.extend_from_slice(b"<soap/>");
    w.start_part(&mut out, "application/octet-stream", NO_HEADERS)
        .unwrap();
    out.extend_from_slice(b"data");
    w.finish(&mut out);
    assert_eq!(
        out,
        b"--MIME_boundary\r\ncontent-type:text/xml; charset=UTF-8\r\nContent-ID: <rootpart>\r\n\
          \r\n<soap/>\r\n--MIME_boundary\r\ncontent-type:application/octet-stream\r\n\r\ndata\
          \r\n--MIME_boundary--\r\n"
    );
}

#[test]
fn close_without_parts_matches_java() {
    let close = |w: MultipartWriter| {
        let mut out = Vec::new();
        w.finish(&mut out);
        out
    };
    // MultipartEncoder.endNested always writes CRLF; MultipartOutputStream only after a part.
    assert_eq!(close(MultipartWriter::new("B").unwrap()), b"\r\n--B--\r\n");
    assert_eq!(
        close(MultipartWriter::nested("B").unwrap()),
        b"\r\n--B--\r\n"
    );
    assert_eq!(
        close(MultipartWriter::soap_encoder("B").unwrap()),
        b"--B--\r\n"
    );
}

#[test]
fn io_write_variant_matches_vec_variant() {
    let headers = [("X-A", "1"), ("x-b", "2")];
    let mut via_vec = Vec::new();
    let mut w = MultipartWriter::new("B").unwrap();
    w.start_part(&mut via_vec, "a/b", headers).unwrap();
    w.start_part(&mut via_vec, "c/d", headers).unwrap();
    w.finish(&mut via_vec);

    let mut via_io = std::io::Cursor::new(Vec::new());
    let mut w = MultipartWriter::new("B").unwrap();
    w.write_start_part(&mut via_io, "a/b", headers).unwrap();
    w.write_start_part(&mut via_io, "c/d", headers).unwrap();
    w.write_finish(&mut via_io).unwrap();
    assert_eq!(via_io.into_inner(), via_vec);
}

#[test]
fn header_injection_is_rejected_and_writes_nothing() {
    let mut w = MultipartWriter::new("B").unwrap();
    let mut out = b"prefix".to_vec();
    let bad: [(&str, [(&str, &str); 1]); 5] = [
        ("a/b\r\nX: y", [("X", "1")]),
        ("a/b", [("X", "1\r\n--B--")]),
        ("a/b", [("X\n", "1")]),
        ("a/b", [("", "1")]),
        ("a/b", [("X: Y", "1")]),
    ];
    for (ct, headers) in bad {
        let err = w.start_part(&mut out, ct, headers).unwrap_err();
        assert!(
            matches!(err, MimeError::InvalidHeader(_)),
            "{ct:?} {headers:?}"
        );
        assert_eq!(out, b"prefix");
    }
    // A failed part does not count as written: the next delimiter has no leading CRLF.
    w.start_part(&mut out, "a/b", NO_HEADERS).unwrap();
    assert_eq!(out, b"prefix--B\r\ncontent-type: a/b\r\n\r\n");
}

#[test]
fn headers_are_written_as_latin1() {
    let mut out = Vec::new();
    let mut w = MultipartWriter::new("B").unwrap();
    w.start_part(&mut out, "a/b", [("X-Name", "ä€")]).unwrap();
    assert_eq!(out, b"--B\r\ncontent-type: a/b\r\nX-Name: \xe4?\r\n\r\n");
}

#[test]
fn invalid_boundary_is_rejected() {
    assert!(matches!(
        MultipartWriter::new(""),
        Err(MimeError::InvalidBoundary(_))
    ));
    assert!(matches!(
        MultipartWriter::new("a\r\n"),
        Err(MimeError::InvalidBoundary(_))
    ));
}

#[test]
fn generated_boundaries() {
    let b = Boundaries::generate().unwrap();
    let (top, att) = (b.top(), b.attachment());
    assert_eq!(top.len(), 34);
    assert!(top.starts_with("xtop"));
    assert!(att.starts_with("xatt"));
    assert_eq!(top[4..], att[4..]);
    assert!(top[4..].bytes().all(|c| c.is_ascii_alphabetic()));
    assert_ne!(Boundaries::generate().unwrap(), b);
    assert_eq!(
        multipart_mixed_content_type(top),
        format!("multipart/mixed; charset=UTF-8; boundary={top}")
    );
}
