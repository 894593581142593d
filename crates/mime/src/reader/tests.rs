use proptest::prelude::*;

use super::*;
use crate::{multipart_mixed_content_type, ContentType, MultipartWriter};

type Parts = Vec<(PartHeaders, Vec<u8>)>;

/// Runs a reader over `input` the way a caller would: keep the unconsumed bytes, append the next
/// chunk (sized by `chunk`) only when asked. Checks the reader's contract on the way.
fn drive_with(
    mut reader: MultipartReader,
    input: &[u8],
    chunk: &mut dyn FnMut() -> usize,
) -> Result<Parts, MimeError> {
    let mut buf: Vec<u8> = Vec::new();
    let mut pos = 0;
    let mut parts = Vec::new();
    let mut current: Option<(PartHeaders, Vec<u8>)> = None;
    loop {
        let eof = pos == input.len();
        let (consumed, event) = reader.next_event(&buf, eof)?;
        assert!(consumed <= buf.len());
        match event {
            Event::NeedMore => {
                assert!(!eof, "NeedMore at EOF");
                assert!(
                    buf.len() - consumed <= reader.max_buffered(),
                    "reader retained {} bytes",
                    buf.len() - consumed
                );
                buf.drain(..consumed);
                let n = chunk().clamp(1, input.len() - pos);
                buf.extend_from_slice(&input[pos..pos + n]);
                pos += n;
                continue;
            }
            Event::Headers(h) => {
                assert!(current.is_none(), "headers inside a part");
                current = Some((h, Vec::new()));
            }
            Event::Data(d) => {
                assert!(!d.is_empty(), "empty Data event");
                // Zero-copy: the slice is the tail of the consumed prefix of our buffer.
                let tail = &buf[consumed - d.len()..consumed];
                assert!(std::ptr::eq(d.as_ptr(), tail.as_ptr()));
                current
                    .as_mut()
                    .expect("data outside a part")
                    .1
                    .extend_from_slice(d);
            }
            Event::PartEnd => parts.push(current.take().expect("PartEnd outside a part")),
            Event::End => {
                assert!(current.is_none(), "End inside a part");
                assert!(reader.is_finished());
                let rest = &buf[consumed..];
                assert_eq!(reader.next_event(rest, eof)?, (rest.len(), Event::End));
                return Ok(parts);
            }
        }
        buf.drain(..consumed);
    }
}

fn drive(
    boundary: &str,
    input: &[u8],
    chunk: &mut dyn FnMut() -> usize,
) -> Result<Parts, MimeError> {
    drive_with(MultipartReader::new(boundary)?, input, chunk)
}

fn whole(boundary: &str, input: &[u8]) -> Result<Parts, MimeError> {
    drive(boundary, input, &mut || usize::MAX)
}

/// Small deterministic PRNG so chunkings are reproducible without extra dependencies.
fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed.max(1);
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}

/// Parses with every feeding strategy and asserts they agree; returns the common result.
fn all_feeds(boundary: &str, input: &[u8]) -> Result<Parts, MimeError> {
    let reference = whole(boundary, input);
    let same = |other: Result<Parts, MimeError>, how: &str| match (&reference, &other) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{how}"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{how}"),
        _ => panic!("{how}: {reference:?} vs {other:?}"),
    };
    same(drive(boundary, input, &mut || 1), "1 byte at a time");
    for split in 1..input.len() {
        let mut first = true;
        let mut chunk = move || {
            if std::mem::take(&mut first) {
                split
            } else {
                usize::MAX
            }
        };
        same(
            drive(boundary, input, &mut chunk),
            &format!("split at {split}"),
        );
    }
    for seed in 1..20 {
        let mut rng = xorshift(seed);
        let mut chunk = move || (rng() % 17 + 1) as usize;
        same(drive(boundary, input, &mut chunk), &format!("seed {seed}"));
    }
    reference
}

fn bodies(parts: &Parts) -> Vec<&[u8]> {
    parts.iter().map(|(_, b)| b.as_slice()).collect()
}

fn content_types(parts: &Parts) -> Vec<&str> {
    parts
        .iter()
        .map(|(h, _)| h.content_type().unwrap_or(""))
        .collect()
}

const B: &str = "xtopQhVbRkZnXqWpLmTsYdFgHjKaBcDeUo";
const ATT: &str = "xattQhVbRkZnXqWpLmTsYdFgHjKaBcDeUo";

/// The SOAP request with one attachment from PROTOCOL-DIGEST §5.4, as Java writes it.
fn java_soap_request() -> Vec<u8> {
    format!(
        "--{B}\r\n\
         content-type: application/ocsp-response\r\n\
         \r\n\
         OCSP\r\n\
         --{B}\r\n\
         content-type: text/xml; charset=UTF-8\r\n\
         Content-ID: <rootpart>\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         <soap/>\n\r\n\
         --{B}\r\n\
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
         --{B}\r\n\
         content-type: application/hash-chain-result\r\n\
         \r\n\
         <hcr/>\r\n\
         --{B}\r\n\
         content-type: application/hash-chain\r\n\
         \r\n\
         <hc/>\r\n\
         --{B}\r\n\
         content-type: signature/bdoc-1.0/ts\r\n\
         \r\n\
         <sig/>\r\n\
         --{B}--\r\n"
    )
    .into_bytes()
}

#[test]
fn java_transport_message() {
    let input = java_soap_request();
    let parts = all_feeds(B, &input).unwrap();
    assert_eq!(
        content_types(&parts),
        [
            "application/ocsp-response",
            "text/xml; charset=UTF-8",
            &*multipart_mixed_content_type(ATT),
            "application/hash-chain-result",
            "application/hash-chain",
            "signature/bdoc-1.0/ts",
        ]
    );
    assert_eq!(bodies(&parts)[0], b"OCSP");
    assert_eq!(bodies(&parts)[1], b"<soap/>\n");
    assert_eq!(bodies(&parts)[5], b"<sig/>");
    // The nested multipart body: leading empty line, inner close delimiter and its CRLF.
    let nested = bodies(&parts)[2];
    assert!(nested.starts_with(format!("\r\n--{ATT}\r\n").as_bytes()));
    assert!(nested.ends_with(format!("\r\n--{ATT}--\r\n").as_bytes()));
    let soap = &parts[1].0;
    assert_eq!(
        soap.raw(),
        b"content-type: text/xml; charset=UTF-8\r\nContent-ID: <rootpart>\r\n\
          Content-Transfer-Encoding: 8bit\r\n"
    );
    assert_eq!(
        soap.iter().collect::<Vec<_>>(),
        [
            ("content-type", "text/xml; charset=UTF-8"),
            ("Content-ID", "<rootpart>"),
            ("Content-Transfer-Encoding", "8bit"),
        ]
    );
}

/// Feeds the outer part's `Data` into a second reader, as the message layer does.
#[test]
fn nested_attachment_multipart() {
    let input = java_soap_request();
    for chunk_size in [1, 7, 64, usize::MAX] {
        let mut outer = MultipartReader::new(B).unwrap();
        let mut inner: Option<MultipartReader> = None;
        let mut inner_buf = Vec::new();
        let mut inner_parts: Parts = Vec::new();
        let mut inner_done = false;

        // Runs the inner reader over what it has; `eof` at the outer part's end.
        let mut pump =
            |inner: &mut MultipartReader, buf: &mut Vec<u8>, eof: bool, done: &mut bool| loop {
                let (consumed, event) = inner.next_event(buf, eof).unwrap();
                match event {
                    Event::NeedMore => {
                        buf.drain(..consumed);
                        return;
                    }
                    Event::Headers(h) => inner_parts.push((h, Vec::new())),
                    Event::Data(d) => inner_parts.last_mut().unwrap().1.extend_from_slice(d),
                    Event::PartEnd => {}
                    Event::End => {
                        *done = true;
                        buf.clear();
                        return;
                    }
                }
                buf.drain(..consumed);
            };

        let mut buf = Vec::new();
        let mut pos = 0;
        loop {
            let eof = pos == input.len();
            let (consumed, event) = outer.next_event(&buf, eof).unwrap();
            match event {
                Event::NeedMore => {
                    buf.drain(..consumed);
                    let n = chunk_size.min(input.len() - pos);
                    buf.extend_from_slice(&input[pos..pos + n]);
                    pos += n;
                    continue;
                }
                Event::Headers(h) => {
                    let ct = ContentType::parse(h.content_type().unwrap()).unwrap();
                    if ct.is_multipart() {
                        inner =
                            Some(MultipartReader::new(ct.multipart_boundary().unwrap()).unwrap());
                    }
                }
                Event::Data(d) => {
                    if let Some(inner) = inner.as_mut() {
                        inner_buf.extend_from_slice(d);
                        pump(inner, &mut inner_buf, false, &mut inner_done);
                    }
                }
                Event::PartEnd => {
                    if let Some(mut inner) = inner.take() {
                        pump(&mut inner, &mut inner_buf, true, &mut inner_done);
                    }
                }
                Event::End => break,
            }
            buf.drain(..consumed);
        }
        assert!(inner_done, "chunk {chunk_size}");
        assert_eq!(inner_parts.len(), 1);
        let (h, body) = &inner_parts[0];
        assert_eq!(body, b"VGhpcyBpcyBhdHRhY2htZW50Lg0K", "base64 stays raw");
        assert_eq!(
            h.content_type(),
            Some("application/octet-stream; name=data.bin")
        );
        assert_eq!(h.get("content-transfer-encoding"), Some("base64"));
        assert_eq!(
            h.get("Content-Disposition"),
            Some("attachment; name=\"data.bin\"; filename=\"data.bin\"")
        );
    }
}

#[test]
fn nested_without_preamble() {
    let inner = b"--A\r\ncontent-type: a\r\n\r\nx\r\n--A--\r\n";
    let parts = all_feeds("A", inner).unwrap();
    assert_eq!(bodies(&parts), [b"x"]);
}

#[test]
fn round_trip_writer_reader() {
    let mut out = Vec::new();
    let mut w = MultipartWriter::new(B).unwrap();
    let bodies_in: [&[u8]; 5] = [
        b"\x30\x82\x01\x00 der",
        b"",
        b"ends with CR\r",
        b"ends with LF\n",
        b"\r\n--xtopQhVbRkZnXqWpLmTsYdFgHjKaBcDeUoX\r\n--xtopQhVbRkZnXqWpLmTsYdFgHjKaBcDeU\r\n",
    ];
    for (i, body) in bodies_in.iter().enumerate() {
        let name = format!("X-Part-{i}");
        w.start_part(&mut out, "application/octet-stream", [(name.as_str(), "v")])
            .unwrap();
        out.extend_from_slice(body);
    }
    w.finish(&mut out);
    let parts = all_feeds(B, &out).unwrap();
    assert_eq!(bodies(&parts), bodies_in);
    for (i, (h, _)) in parts.iter().enumerate() {
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [
                ("content-type", "application/octet-stream"),
                (format!("X-Part-{i}").as_str(), "v")
            ]
        );
    }
}

#[test]
fn bare_lf_and_mixed_line_breaks() {
    let input = b"--B\ncontent-type: a\n\nfirst\n--B\r\ncontent-type: b\r\n\nsecond\r\n--B\n\
                  Content-Type: c\r\n\r\nthird\n--B--";
    let parts = all_feeds("B", input).unwrap();
    assert_eq!(content_types(&parts), ["a", "b", "c"]);
    assert_eq!(bodies(&parts), [&b"first"[..], b"second", b"third"]);
    assert_eq!(parts[0].0.raw(), b"content-type: a\n");
}

#[test]
fn preamble_and_epilogue_are_ignored() {
    let input = b"This is the preamble --B\r\nx--B\r\n--Bnot\r\n--B-\r\n--B\r\n\
                  content-type: a\r\n\r\nbody\r\n--B--\r\nepilogue\r\n--B\r\nmore";
    let parts = all_feeds("B", input).unwrap();
    assert_eq!(bodies(&parts), [b"body"]);
    assert_eq!(content_types(&parts), ["a"]);

    // Java's nested multipart starts with an empty line (a CRLF preamble).
    let parts = all_feeds("B", b"\r\n--B\r\n\r\nx\r\n--B--").unwrap();
    assert_eq!(bodies(&parts), [b"x"]);
    let parts = all_feeds("B", b"\n--B\n\nx\n--B--").unwrap();
    assert_eq!(bodies(&parts), [b"x"]);
}

#[test]
fn transport_padding_and_close_variants() {
    let input = b"--B \t\r\n\r\none\r\n--B\t\n\r\ntwo\r\n--B--  \r\n";
    assert_eq!(
        bodies(&all_feeds("B", input).unwrap()),
        [&b"one"[..], b"two"]
    );
    // The close delimiter may end the body without a line break.
    assert_eq!(
        bodies(&all_feeds("B", b"--B\r\n\r\nx\r\n--B--").unwrap()),
        [b"x"]
    );
    // Anything after `--B--` is epilogue.
    assert_eq!(
        bodies(&all_feeds("B", b"--B\r\n\r\nx\r\n--B--junk").unwrap()),
        [b"x"]
    );
}

#[test]
fn delimiter_look_alikes_are_body_data() {
    let body: &[u8] =
        b"a\r\n--Bxyz\r\n--B-\r\n--B x\r\n--B \t\ty\n--B\rz--B\r\n \r\n- -B\r\n\r\n--\r\n";
    let mut input = b"--B\r\ncontent-type: t\r\n\r\n".to_vec();
    input.extend_from_slice(body);
    input.extend_from_slice(b"\r\n--B--\r\n");
    assert_eq!(bodies(&all_feeds("B", &input).unwrap()), [body]);

    // Over-long transport padding makes a line body data rather than a delimiter.
    let mut input = b"--B\r\n\r\n".to_vec();
    let fake = format!("\r\n--B{}\r\n", " ".repeat(300));
    input.extend_from_slice(fake.as_bytes());
    input.extend_from_slice(b"\r\n--B--");
    assert_eq!(whole("B", &input).unwrap()[0].1, fake.as_bytes());
}

#[test]
fn boundary_made_of_dashes() {
    let input = b"---a-\r\n\r\nx\r\n---a-x\n-----a-\r\n---a---\r\n";
    let parts = all_feeds("-a-", input).unwrap();
    assert_eq!(bodies(&parts), [b"x\r\n---a-x\n-----a-"]);
}

#[test]
fn empty_bodies_and_parts_without_headers() {
    let input = b"--B\r\ncontent-type: a\r\n\r\n\r\n--B\r\n\r\n\r\n--B\n\n\n--B--\r\n";
    let parts = all_feeds("B", input).unwrap();
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(|(_, b)| b.is_empty()));
    assert!(parts[1].0.is_empty());
    assert!(parts[1].0.raw().is_empty());
}

#[test]
fn bodies_ending_with_cr_or_lf() {
    let input =
        b"--B\r\n\r\ncr\r\r\n--B\r\n\r\nlf\n\r\n--B\r\n\r\ncrlf\r\n\r\n--B\r\n\r\nlf-lf\n\n--B--";
    let parts = all_feeds("B", input).unwrap();
    assert_eq!(
        bodies(&parts),
        [&b"cr\r"[..], b"lf\n", b"crlf\r\n", b"lf-lf\n"]
    );
}

#[test]
fn zero_parts() {
    assert!(all_feeds("B", b"--B--\r\n").unwrap().is_empty());
    assert!(all_feeds("B", b"preamble\r\n--B--").unwrap().is_empty());
}

#[test]
fn folded_headers_are_unfolded_in_parsed_view() {
    let input = b"--B\r\nContent-Type: text/xml;\r\n charset=UTF-8\r\nX-A: 1\r\n\r\nx\r\n--B--";
    let parts = all_feeds("B", input).unwrap();
    let h = &parts[0].0;
    assert_eq!(
        h.raw(),
        b"Content-Type: text/xml;\r\n charset=UTF-8\r\nX-A: 1\r\n"
    );
    assert_eq!(h.content_type(), Some("text/xml; charset=UTF-8"));
    assert_eq!(
        h.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        ["Content-Type", "X-A"]
    );
}

#[test]
fn error_missing_first_boundary() {
    for input in [
        &b""[..],
        b"no delimiter at all",
        b"--B",
        b"--B ",
        b"--Bx\r\n",
        b"text --B\r\n",
        b"\r\n--B-",
    ] {
        let err = all_feeds("B", input).unwrap_err();
        assert!(
            matches!(err, MimeError::MissingFirstBoundary),
            "{input:?}: {err:?}"
        );
    }
}

#[test]
fn error_truncated() {
    for input in [
        &b"--B\r\n\r\nbody without end"[..],
        b"--B\r\n\r\nbody\r\n",
        b"--B\r\n\r\nbody\r\n--B",
        b"--B\r\n\r\nbody\r\n--B-",
        b"--B\r\n\r\nbody\r\n--B  ",
        b"--B\r\n\r\n",
    ] {
        let err = all_feeds("B", input).unwrap_err();
        assert!(matches!(err, MimeError::Truncated), "{input:?}: {err:?}");
    }
}

#[test]
fn error_truncated_headers() {
    for input in [
        &b"--B\r\n"[..],
        b"--B\r\ncontent-type: a",
        b"--B\r\ncontent-type: a\r\n",
        b"--B\r\ncontent-type: a\r\n\r",
        b"--B\r\n\r\nx\r\n--B\r\nct: b\r\n",
    ] {
        let err = all_feeds("B", input).unwrap_err();
        assert!(
            matches!(err, MimeError::TruncatedHeaders),
            "{input:?}: {err:?}"
        );
    }
}

#[test]
fn error_malformed_header() {
    let err = all_feeds("B", b"--B\r\ncontent-type: a\r\nno colon\r\n\r\nx\r\n--B--").unwrap_err();
    assert!(
        matches!(err, MimeError::MalformedHeader { line: 2, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "Malformed part header (line 2 of the header block): missing ':'"
    );
}

#[test]
fn error_headers_too_large() {
    let big = format!("--B\r\nX-Big: {}\r\n\r\nx\r\n--B--", "v".repeat(100));
    let limit_reader = || MultipartReader::new("B").unwrap().with_header_limit(64);
    for chunk in [1, 10, usize::MAX] {
        let err = drive_with(limit_reader(), big.as_bytes(), &mut || chunk).unwrap_err();
        assert!(
            matches!(err, MimeError::HeadersTooLarge { limit: 64 }),
            "{err:?}"
        );
    }
    // Exactly at the limit (block incl. empty line = 12 bytes) is fine; one more is not.
    let input = b"--B\r\nX: 12345\r\n\r\nx\r\n--B--";
    let at = |limit| {
        drive_with(
            MultipartReader::new("B").unwrap().with_header_limit(limit),
            input,
            &mut || 3,
        )
    };
    assert!(at(12).is_ok());
    assert!(matches!(
        at(11),
        Err(MimeError::HeadersTooLarge { limit: 11 })
    ));
    // Unterminated headers hit the limit before EOF.
    let endless = format!("--B\r\n{}", "X: y\r\n".repeat(20_000));
    let err = whole("B", endless.as_bytes()).unwrap_err();
    assert!(matches!(
        err,
        MimeError::HeadersTooLarge {
            limit: DEFAULT_HEADER_LIMIT
        }
    ));
}

#[test]
fn invalid_boundaries() {
    for bad in [&b""[..], b"a\r\nb", b"a\nb", &[b'x'; MAX_BOUNDARY_LEN + 1]] {
        assert!(matches!(
            MultipartReader::new(bad),
            Err(MimeError::InvalidBoundary(_))
        ));
    }
    assert!(MultipartReader::new([b'x'; MAX_BOUNDARY_LEN]).is_ok());
}

#[test]
fn large_part_streams_with_bounded_retention() {
    let mut input = format!("--{B}\r\ncontent-type: application/octet-stream\r\n\r\n").into_bytes();
    let body: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    input.extend_from_slice(&body);
    input.extend_from_slice(format!("\r\n--{B}--\r\n").as_bytes());
    // `drive` asserts that no NeedMore leaves more than `max_buffered` bytes behind.
    let parts = drive(B, &input, &mut || 4096).unwrap();
    assert_eq!(parts[0].1, body);
}

#[test]
fn errors_do_not_advance_state() {
    let mut reader = MultipartReader::new("B").unwrap();
    let input = b"--B\r\n\r\nbody";
    let (n, event) = reader.next_event(input, true).unwrap();
    assert!(matches!(event, Event::Headers(_)));
    let (m, event) = reader.next_event(&input[n..], true).unwrap();
    assert_eq!(event, Event::Data(b"body"));
    assert!(matches!(
        reader.next_event(&input[n + m..], true),
        Err(MimeError::Truncated)
    ));
    assert!(matches!(
        reader.next_event(&input[n + m..], true),
        Err(MimeError::Truncated)
    ));
}

// === property tests ===

/// Input made of fragments that exercise the delimiter and header paths.
fn fragment(boundary: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let mut dash_boundary = b"--".to_vec();
    dash_boundary.extend_from_slice(&boundary);
    let partial = dash_boundary[..dash_boundary.len() - 1].to_vec();
    prop_oneof![
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"--".to_vec()),
        Just(b"-".to_vec()),
        Just(b" ".to_vec()),
        Just(b":".to_vec()),
        Just(dash_boundary),
        Just(partial),
        prop::collection::vec(any::<u8>(), 0..8),
    ]
}

fn noisy_input() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    prop::collection::vec(any::<u8>(), 1..12).prop_flat_map(|boundary| {
        let input =
            prop::collection::vec(fragment(boundary.clone()), 0..60).prop_map(|f| f.concat());
        (Just(boundary), input)
    })
}

/// Whether `body` can be framed (with a line break before and after) without containing a
/// delimiter: every `\n--B` in it must be followed by a byte that disqualifies it.
fn is_frameable(boundary: &[u8], body: &[u8], lf_framing: bool) -> bool {
    if lf_framing && body.ends_with(b"\r") {
        return false; // the CR would be read as part of a CRLF delimiter
    }
    let mut needle = b"\n--".to_vec();
    needle.extend_from_slice(boundary);
    let mut framed = b"\n".to_vec();
    framed.extend_from_slice(body);
    framed.push(b'\r');
    memmem::find_iter(&framed, &needle).all(|i| {
        !matches!(
            framed.get(i + needle.len()),
            Some(b'-' | b' ' | b'\t' | b'\r' | b'\n') | None
        )
    })
}

fn header_field() -> impl Strategy<Value = (String, String)> {
    ("[A-Za-z][A-Za-z0-9-]{0,12}", "([!-~]([ -~]{0,20}[!-~])?)?")
}

fn message() -> impl Strategy<Value = (String, Vec<u8>, Parts)> {
    let body = prop::collection::vec(
        prop_oneof![
            Just(b"\r\n".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"--".to_vec()),
            Just(b"--bound".to_vec()),
            Just(b"--boundary".to_vec()),
            Just(b"--boundaryX".to_vec()),
            prop::collection::vec(any::<u8>(), 0..16),
        ],
        0..20,
    )
    .prop_map(|f| f.concat());
    let part = (prop::collection::vec(header_field(), 0..4), body);
    (
        prop::collection::vec(part, 1..5),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_filter_map(
            "body contains a delimiter",
            |(parts, lf_framing, preamble)| {
                let boundary = "boundary";
                if !parts
                    .iter()
                    .all(|(_, body)| is_frameable(boundary.as_bytes(), body, lf_framing))
                {
                    return None;
                }
                let nl: &[u8] = if lf_framing { b"\n" } else { b"\r\n" };
                let mut input = Vec::new();
                if preamble {
                    input.extend_from_slice(b"preamble --boundary\r\n");
                }
                let mut expected = Vec::new();
                for (i, (fields, body)) in parts.iter().enumerate() {
                    if i > 0 || preamble {
                        input.extend_from_slice(nl);
                    }
                    input.extend_from_slice(b"--boundary");
                    input.extend_from_slice(nl);
                    let mut raw = Vec::new();
                    for (name, value) in fields {
                        raw.extend_from_slice(format!("{name}: {value}").as_bytes());
                        raw.extend_from_slice(nl);
                    }
                    input.extend_from_slice(&raw);
                    input.extend_from_slice(nl);
                    input.extend_from_slice(body);
                    expected.push((PartHeaders::parse(&raw).ok()?, body.clone()));
                }
                input.extend_from_slice(nl);
                input.extend_from_slice(b"--boundary--");
                input.extend_from_slice(nl);
                Some((boundary.to_owned(), input, expected))
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_input_never_panics((boundary, input) in noisy_input(), seed in 1u64..u64::MAX) {
        let Ok(reader) = MultipartReader::new(&boundary) else { return Ok(()) };
        let mut rng = xorshift(seed);
        let chunked = drive_with(reader, &input, &mut || (rng() % 9 + 1) as usize);
        let whole = drive_with(MultipartReader::new(&boundary).unwrap(), &input, &mut || usize::MAX);
        // Same outcome however the bytes arrive.
        match (chunked, whole) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        boundary in prop::collection::vec(any::<u8>(), 0..300),
        input in prop::collection::vec(any::<u8>(), 0..512),
        limit in 0usize..64,
    ) {
        if let Ok(reader) = MultipartReader::new(&boundary) {
            let _ = drive_with(reader.with_header_limit(limit), &input, &mut || 3);
        }
    }

    #[test]
    fn chunking_of_valid_message_yields_identical_parts(
        (boundary, input, expected) in message(),
        seed in 1u64..u64::MAX,
    ) {
        let parts = whole(&boundary, &input).unwrap();
        prop_assert_eq!(&parts, &expected);
        let mut rng = xorshift(seed);
        let chunked = drive(&boundary, &input, &mut || (rng() % 40 + 1) as usize).unwrap();
        prop_assert_eq!(&chunked, &expected);
        let bytewise = drive(&boundary, &input, &mut || 1).unwrap();
        prop_assert_eq!(&bytewise, &expected);
    }
}
