use proptest::prelude::*;

use super::*;
use crate::{multipart_mixed_content_type, ContentType, MultipartWriter};

type Part = (PartHeaders, Vec<u8>);
type Parts = Vec<Part>;

/// Everything a caller sees: the complete parts, and how the body ended: `Ok` at the close
/// delimiter, else the error the reader stopped with, and the part it was in (`cut`), if any.
#[derive(Debug)]
struct Run {
    parts: Parts,
    cut: Option<Part>,
    end: Result<(), MimeError>,
}

impl Run {
    /// The strict view: the parts, or the error.
    fn strict(self) -> Result<Parts, MimeError> {
        self.end.map(|()| self.parts)
    }

    /// What mime4j (non-strict) reads, as the push adapter does: every part, the one cut by the
    /// end of the body included, with the reason the body ended (`Ok` for the close delimiter).
    fn mime4j(self) -> (Parts, Result<(), MimeError>) {
        let mut parts = self.parts;
        match self.end {
            Ok(()) => (parts, Ok(())),
            Err(
                e @ (MimeError::Truncated
                | MimeError::TruncatedHeaders
                | MimeError::MissingFirstBoundary),
            ) => {
                parts.extend(self.cut);
                (parts, Err(e))
            }
            Err(e) => panic!("not an end of the body: {e:?}"),
        }
    }
}

/// Runs a reader over `input` the way a caller would: keep the unconsumed bytes, append the next
/// chunk (sized by `chunk`) only when asked. Checks the reader's contract on the way.
fn run_with(mut reader: MultipartReader, input: &[u8], chunk: &mut dyn FnMut() -> usize) -> Run {
    let mut buf: Vec<u8> = Vec::new();
    let mut pos = 0;
    let mut parts = Vec::new();
    let mut current: Option<Part> = None;
    loop {
        let eof = pos == input.len();
        let (consumed, event) = match reader.next_event(&buf, eof) {
            Ok(step) => step,
            Err(e) => {
                // Errors do not change the state: the same input gives the same error.
                let again = reader.next_event(&buf, eof).map(|_| ()).unwrap_err();
                assert_eq!(again.to_string(), e.to_string());
                return Run {
                    parts,
                    cut: current,
                    end: Err(e),
                };
            }
        };
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
                assert_eq!(
                    reader.next_event(rest, eof).unwrap(),
                    (rest.len(), Event::End)
                );
                return Run {
                    parts,
                    cut: None,
                    end: Ok(()),
                };
            }
        }
        buf.drain(..consumed);
    }
}

fn drive_with(
    reader: MultipartReader,
    input: &[u8],
    chunk: &mut dyn FnMut() -> usize,
) -> Result<Parts, MimeError> {
    run_with(reader, input, chunk).strict()
}

fn run(boundary: &str, input: &[u8], chunk: &mut dyn FnMut() -> usize) -> Run {
    run_with(MultipartReader::new(boundary).unwrap(), input, chunk)
}

fn drive(
    boundary: &str,
    input: &[u8],
    chunk: &mut dyn FnMut() -> usize,
) -> Result<Parts, MimeError> {
    run(boundary, input, chunk).strict()
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

/// Parses with every feeding strategy (whole, 1 byte at a time, every split point, random
/// chunks) and asserts they agree exactly; returns the common result.
fn all_runs(boundary: &str, input: &[u8]) -> Run {
    let reference = run(boundary, input, &mut || usize::MAX);
    let same = |other: Run, how: &str| {
        assert_eq!(reference.parts, other.parts, "{how}");
        assert_eq!(reference.cut, other.cut, "{how}");
        assert_eq!(
            format!("{:?}", reference.end),
            format!("{:?}", other.end),
            "{how}"
        );
    };
    same(run(boundary, input, &mut || 1), "1 byte at a time");
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
            run(boundary, input, &mut chunk),
            &format!("split at {split}"),
        );
    }
    for seed in 1..20 {
        let mut rng = xorshift(seed);
        let mut chunk = move || (rng() % 17 + 1) as usize;
        same(run(boundary, input, &mut chunk), &format!("seed {seed}"));
    }
    reference
}

/// Strict result with every feeding strategy.
fn all_feeds(boundary: &str, input: &[u8]) -> Result<Parts, MimeError> {
    all_runs(boundary, input).strict()
}

/// [`all_feeds`] for long inputs: whole, 1 byte at a time and a few chunk sizes agree.
fn some_feeds(boundary: &str, input: &[u8]) -> Result<Parts, MimeError> {
    let reference = run(boundary, input, &mut || usize::MAX);
    for chunk in [1, 2, 7, 100, 999, 4096] {
        let other = run(boundary, input, &mut || chunk);
        assert_eq!(reference.parts, other.parts, "chunk {chunk}");
        assert_eq!(
            format!("{:?}", reference.end),
            format!("{:?}", other.end),
            "chunk {chunk}"
        );
    }
    reference.strict()
}

/// `(raw headers, body)` of each part.
type Raw = Vec<(Vec<u8>, Vec<u8>)>;
/// Expected `(raw headers, body)` of each part.
type Expected<'a> = &'a [(&'a str, &'a str)];

/// mime4j's result with every feeding strategy: `(raw headers, body)` of each part, and how the
/// body ended.
fn mime4j(boundary: &str, input: &[u8]) -> (Raw, Result<(), MimeError>) {
    let (parts, end) = all_runs(boundary, input).mime4j();
    let parts = parts
        .into_iter()
        .map(|(h, body)| (h.raw().to_vec(), body))
        .collect();
    (parts, end)
}

/// `(raw headers, body)` pairs, for comparing with [`mime4j`]'s result.
fn pairs(expected: Expected<'_>) -> Raw {
    expected
        .iter()
        .map(|(h, b)| (h.as_bytes().to_vec(), b.as_bytes().to_vec()))
        .collect()
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
    let input = b"This is the preamble --B\r\nx--B\r\n--Bnot\r\n--B:\r\n--B\r\n\
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
    // mime4j: `--` anywhere in the rest of the delimiter line makes it the close delimiter.
    for close in ["--B x--", "--B\r--", "--B\t--", "--B-x--y", "--B ---"] {
        let input = format!("--B\r\n\r\nx\r\n{close}\r\n\r\nnot a part\r\n--B--");
        let parts = all_feeds("B", input.as_bytes()).unwrap();
        assert_eq!(bodies(&parts), [b"x"], "{close:?}");
    }
}

/// mime4j's rule: `--boundary` after an LF (or at the start of the body or of a part) followed
/// by whitespace (SP, HT, CR, LF), `-` or the end is a delimiter, and the rest of its line is
/// skipped, however long.
#[test]
fn mime4j_delimiter_rule() {
    let padding = format!("--B{}", " ".repeat(300));
    for line in [
        "--B",
        "--B-x",
        "--B x",
        "--B \t\ty z",
        "--B-",
        "--B -x-",
        "--B\rz",
        "--B\t",
        &padding,
    ] {
        for nl in ["\r\n", "\n"] {
            let input = format!("--B{nl}{nl}one{nl}{line}{nl}{nl}two{nl}--B--");
            let parts = all_feeds("B", input.as_bytes()).unwrap();
            assert_eq!(bodies(&parts), [&b"one"[..], b"two"], "{line:?} {nl:?}");
        }
    }
    // The first delimiter too, and one inside a header block (Java probe `07_dash_x`).
    let input = b"--b-x\nContent-Type: c\n\ny\n--b-x\nContent-Type: d\n\nz\n--b--";
    let (parts, end) = mime4j("b", input);
    assert_eq!(
        parts,
        pairs(&[("Content-Type: c\n", "y"), ("Content-Type: d\n", "z")])
    );
    assert!(end.is_ok());
}

#[test]
fn delimiter_look_alikes_are_body_data() {
    // `--BX` (any byte but whitespace or `-`), `--B` not after an LF, `\r--B`, VT after `--B`.
    let body: &[u8] =
        b"a\r\n--Bxyz\r\n--BX\r\n--B:\r\n--B\x0bv\r\n\r--B\r\n \r\n- -B\r\n\r\n--\r\n-B\r\n--B";
    let mut input = b"--B\r\ncontent-type: t\r\n\r\n".to_vec();
    input.extend_from_slice(body);
    input.extend_from_slice(b"X\r\n--B--\r\n");
    let parts = all_feeds("B", &input).unwrap();
    assert_eq!(bodies(&parts), [[body, b"X"].concat()]);
    // `--bX` inside a header block is a header line, not a delimiter (then skipped: no colon).
    let (parts, end) = mime4j("b", b"--b\n--bX\n\nbody\n--b--");
    assert_eq!(parts, pairs(&[("--bX\n", "body")]));
    assert!(end.is_ok());
}

#[test]
fn boundary_made_of_dashes() {
    let input = b"---a-\r\n\r\nx\r\n---a-x\n-----a-\r\n---a---\r\n";
    let parts = all_feeds("-a-", input).unwrap();
    assert_eq!(bodies(&parts), [b"x\r\n---a-x\n-----a-"]);
}

/// Item 1 of the review: a delimiter right after the empty line that ends a part's headers, or
/// right after its last header line, ends an empty part (Java probes `01`, `02`, `10`, `21`).
#[test]
fn empty_part_when_delimiter_follows_headers() {
    let cases: [(&[u8], Expected<'_>); 7] = [
        (
            b"--b\nContent-Type: text/plain\n\n--b\nContent-Type: a\n\nx\n--b--\n",
            &[
                ("Content-Type: text/plain\n", ""),
                ("Content-Type: a\n", "x"),
            ],
        ),
        (
            b"--b\nContent-Type: a\n\nx\n--b\nContent-Type: text/plain\n\n--b--\n",
            &[
                ("Content-Type: a\n", "x"),
                ("Content-Type: text/plain\n", ""),
            ],
        ),
        (
            b"--b\r\nContent-Type: text/plain\r\n\r\n--b\r\nContent-Type: a\r\n\r\nx\r\n--b--\r\n",
            &[
                ("Content-Type: text/plain\r\n", ""),
                ("Content-Type: a\r\n", "x"),
            ],
        ),
        // No empty line: the line break before the delimiter belongs to the delimiter.
        (
            b"--b\nX: 1\n--b\nContent-Type: text/xml\n\n<a/>\n--b--",
            &[("X: 1", ""), ("Content-Type: text/xml\n", "<a/>")],
        ),
        (b"--b\r\nX: 1\r\n--b--", &[("X: 1", "")]),
        // A line left as a lone CR by that is an empty line.
        (b"--b\r\nX: 1\r\n\r\r\n--b--", &[("X: 1\r\n", "")]),
        // Parts without headers.
        (
            b"--b\n\n\n--b\n\n--b\n--b--",
            &[("", ""), ("", ""), ("", "")],
        ),
    ];
    for (input, expected) in cases {
        let (parts, end) = mime4j("b", input);
        assert_eq!(
            parts,
            pairs(expected),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert!(end.is_ok());
    }
    let parts = all_feeds("b", b"--b\nContent-Type: text/plain\n\n--b--").unwrap();
    assert_eq!(parts[0].0.content_type(), Some("text/plain"));
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

/// Item 2: the end of the body right after `--boundary` ends the part, and no part follows
/// (Java: `SoapFaultInMultipartResponse`; probes `03`, `05`). An unfinished delimiter line leaves
/// one byte that mime4j reads as one more part (probes `04`, `06*`, `16*`).
#[test]
fn end_of_body_after_a_delimiter() {
    let first = ("Content-Type: a\n", "x");
    let cases: [(&str, Expected<'_>, &str); 8] = [
        ("\n--b", &[first], "Truncated"),
        ("\n--b\r\n", &[first], "Truncated"),
        ("\n--b \t\r\n", &[first], "Truncated"),
        ("\n--b\n", &[first, ("", "")], "Truncated"),
        ("\n--b \n", &[first, ("", "")], "Truncated"),
        ("\n--b x", &[first, ("x", "")], "TruncatedHeaders"),
        ("\n--b-", &[first, ("-", "")], "TruncatedHeaders"),
        ("\n--b ", &[first, (" ", "")], "TruncatedHeaders"),
    ];
    for (tail, expected, end) in cases {
        let input = format!("--b\nContent-Type: a\n\nx{tail}");
        let (parts, got) = mime4j("b", input.as_bytes());
        assert_eq!(parts, pairs(expected), "{tail:?}");
        assert_eq!(format!("{:?}", got.unwrap_err()), end, "{tail:?}");
    }
    // After the first delimiter, a finished line is one empty part: mime4j has not met the end
    // of the body yet there.
    let cases: [(&[u8], Expected<'_>); 5] = [
        (b"--b", &[]),
        (b"pre\n--b", &[]),
        (b"--b\r\n", &[("", "")]),
        (b"pre\r\n--b\r\n", &[("", "")]),
        (b"--b\n", &[("", "")]),
    ];
    for (input, expected) in cases {
        let (parts, end) = mime4j("b", input);
        assert_eq!(
            parts,
            pairs(expected),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert!(end.is_err());
    }
}

/// Item 4: the end of the body inside a header block ends the headers; the part has the headers
/// read so far and an empty body (probes `09*`, `26`, `27`).
#[test]
fn end_of_body_in_headers() {
    let cases: [(&[u8], Expected<'_>, &str); 6] = [
        (
            b"--b\nContent-Type: text/xml",
            &[("Content-Type: text/xml", "")],
            "TruncatedHeaders",
        ),
        (
            b"--b\r\nContent-Type: text/xml\r\nX: 1\r\n",
            &[("Content-Type: text/xml\r\nX: 1\r\n", "")],
            "TruncatedHeaders",
        ),
        (
            b"--b\nContent-Type: text/xml\r",
            &[("Content-Type: text/xml\r", "")],
            "TruncatedHeaders",
        ),
        // A lone CR at the very end is the empty line that ends the headers.
        (
            b"--b\nContent-Type: text/xml\n\r",
            &[("Content-Type: text/xml\n", "")],
            "Truncated",
        ),
        (
            b"--b\nContent-Type: a\n\nx\n--b\nContent-Type: text/plain\nX: y",
            &[
                ("Content-Type: a\n", "x"),
                ("Content-Type: text/plain\nX: y", ""),
            ],
            "TruncatedHeaders",
        ),
        (b"--b\r\n", &[("", "")], "TruncatedHeaders"),
    ];
    for (input, expected, end) in cases {
        let (parts, got) = mime4j("b", input);
        assert_eq!(
            parts,
            pairs(expected),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(format!("{:?}", got.unwrap_err()), end);
    }
    let run = all_runs("b", b"--b\nContent-Type: text/xml\r");
    assert!(run.parts.is_empty());
    let (headers, body) = run.cut.unwrap();
    assert_eq!(headers.content_type(), Some("text/xml"));
    assert!(body.is_empty());
}

/// Item 5, through the reader: invalid lines skipped, the last `Content-Type` wins, values as
/// `RawField.getBody` gives them (probes `11*`, `12`, `13`).
#[test]
fn header_lines_as_mime4j_reads_them() {
    let block = "no colon\r\nContent-Type: text/plain\r\nbad name: x\r\n\
                 content-type:  text/xml \r\nX-A: 1\r\n  folded\r\n";
    let input = format!("--b\r\n{block}\r\nbody\r\n--b--");
    let parts = all_feeds("b", input.as_bytes()).unwrap();
    let (h, body) = &parts[0];
    assert_eq!(body, b"body");
    assert_eq!(h.raw(), block.as_bytes());
    assert_eq!(
        h.iter().collect::<Vec<_>>(),
        [
            ("Content-Type", "text/plain"),
            ("content-type", " text/xml "),
            ("X-A", "1  folded"),
        ]
    );
    assert_eq!(h.content_type(), Some(" text/xml "));
}

#[test]
fn header_limits() {
    let line = |n: usize| format!("X: {}", "a".repeat(n - 3));
    // A line of 999 bytes with its CRLF is fine, 1000 is not.
    let input = format!("--b\r\n{}\r\n\r\nx\r\n--b--", line(997));
    assert!(some_feeds("b", input.as_bytes()).is_ok());
    let input = format!("--b\r\n{}\r\n\r\nx\r\n--b--", line(998));
    let err = some_feeds("b", input.as_bytes()).unwrap_err();
    assert!(
        matches!(err, MimeError::HeaderLineTooLong { limit: 1000 }),
        "{err:?}"
    );
    // The line break before a delimiter is not part of the line.
    let input = format!("--b\r\n{}\r\n--b--", line(998));
    let parts = some_feeds("b", input.as_bytes()).unwrap();
    assert_eq!(parts[0].0.raw(), line(998).as_bytes());
    // 1000 fields are fine, 1001 are not, invalid lines included.
    let input = format!("--b\n{}\nx\n--b--", "X: 1\n".repeat(1000));
    assert_eq!(some_feeds("b", input.as_bytes()).unwrap()[0].0.len(), 1000);
    let input = format!("--b\n{}{}\nx\n--b--", "X: 1\n".repeat(999), "bad\nbad\n");
    let err = some_feeds("b", input.as_bytes()).unwrap_err();
    assert!(
        matches!(err, MimeError::TooManyHeaderFields { limit: 1000 }),
        "{err:?}"
    );
    // A field of 10000 bytes, folded lines included, is too long.
    let field = format!("X: a\n{}", format!(" {}\n", "a".repeat(97)).repeat(101));
    assert_eq!(field.len(), 10_004);
    let input = format!("--b\n{field}\nx\n--b--");
    let err = some_feeds("b", input.as_bytes()).unwrap_err();
    assert!(
        matches!(err, MimeError::HeaderFieldTooLong { limit: 10_000 }),
        "{err:?}"
    );
    // The part of a cut header block is checked too.
    let input = format!("--b\r\n{}", line(1000));
    let err = some_feeds("b", input.as_bytes()).unwrap_err();
    assert!(
        matches!(err, MimeError::HeaderLineTooLong { .. }),
        "{err:?}"
    );
}

/// Item 6: an empty boundary is kept, as mime4j keeps it: `--` followed by whitespace, `-` or
/// the end is a delimiter (probe `e1`).
#[test]
fn empty_boundary() {
    let input = b"--\nContent-Type: a\n\nx\n--b\n-- \nContent-Type: b\n\ny\n---x\nContent-Type: c\n\nz\n----\n";
    let (parts, end) = mime4j("", input);
    assert_eq!(
        parts,
        pairs(&[
            ("Content-Type: a\n", "x\n--b"),
            ("Content-Type: b\n", "y"),
            ("Content-Type: c\n", "z"),
        ])
    );
    assert!(end.is_ok());
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
    // A CR not followed by the LF of a delimiter stays in the body (probe `19a`).
    let parts = all_feeds("b", b"--b\n\nx\r\r\n--b\n\ny\r--b\n--b--").unwrap();
    assert_eq!(bodies(&parts), [&b"x\r"[..], b"y\r--b"]);
}

#[test]
fn zero_parts() {
    assert!(all_feeds("B", b"--B--\r\n").unwrap().is_empty());
    assert!(all_feeds("B", b"preamble\r\n--B--").unwrap().is_empty());
    assert!(all_feeds("B", b"--B--x\r\n--B\r\n\r\ny\r\n--B--")
        .unwrap()
        .is_empty());
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
        b"--Bx\r\n",
        b"text --B\r\nmore text",
        b"--B:",
        b"\r\n--B:",
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
        b"--B\r\n\r\nbody\r\n--B\r\n",
        b"--B\r\n\r\n",
        b"--B",
        b"\n--B",
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
        b"--B\r\n\r\nx\r\n--B\r\nct: b\r\n",
        b"--B\r\n\r\nx\r\n--B-",
    ] {
        let run = all_runs("B", input);
        assert!(
            matches!(run.end, Err(MimeError::TruncatedHeaders)),
            "{input:?}: {:?}",
            run.end
        );
        // The headers were reported before the error.
        assert!(run.cut.is_some(), "{input:?}");
    }
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
    // A block ended by a delimiter counts up to the delimiter.
    let input = b"--B\r\nX: 12345\r\n--B--";
    assert!(matches!(
        drive_with(
            MultipartReader::new("B").unwrap().with_header_limit(9),
            input,
            &mut || 1
        ),
        Err(MimeError::HeadersTooLarge { limit: 9 })
    ));
    assert!(drive_with(
        MultipartReader::new("B").unwrap().with_header_limit(10),
        input,
        &mut || 1
    )
    .is_ok());

    // mime4j's own limits come first when they are hit within the first `limit` bytes, however
    // the input is chunked; beyond that, the backstop answers.
    let fine = format!("X: {}\r\n", "a".repeat(900));
    let long = format!("X: {}\r\n", "a".repeat(1500));
    let cases = [
        (
            format!("--B\r\n{}", "X: y\r\n".repeat(20_000)),
            "TooManyHeaderFields",
        ),
        (
            format!("--B\r\n{}\r\nx\r\n--B--", fine.repeat(80)),
            "HeadersTooLarge",
        ),
        (format!("--B\r\n{}", fine.repeat(80)), "HeadersTooLarge"),
        (
            format!(
                "--B\r\n{}{long}{}\r\nx\r\n--B--",
                fine.repeat(10),
                fine.repeat(70)
            ),
            "HeaderLineTooLong",
        ),
        (
            format!("--B\r\n{}{long}\r\nx\r\n--B--", fine.repeat(75)),
            "HeadersTooLarge",
        ),
    ];
    for (input, expected) in cases {
        for chunk in [1, 1000, 70_000, usize::MAX] {
            let err = drive("B", input.as_bytes(), &mut || chunk).unwrap_err();
            let name = format!("{err:?}");
            assert!(
                name.starts_with(expected),
                "{expected} chunk {chunk}: {err:?}"
            );
        }
    }
}

#[test]
fn boundaries() {
    // Any bytes, as mime4j takes them (an escaped CR or LF survives its parameter parser).
    for ok in [&b""[..], b"a\r\nb", b"a\nb", &[b'x'; MAX_BOUNDARY_LEN]] {
        assert!(MultipartReader::new(ok).is_ok());
    }
    assert!(matches!(
        MultipartReader::new([b'x'; MAX_BOUNDARY_LEN + 1]),
        Err(MimeError::InvalidBoundary(_))
    ));
    let parts = all_feeds("a\nb", b"--a\nb\r\n\r\nx\r\n--a\nb--").unwrap();
    assert_eq!(bodies(&parts), [b"x"]);
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
