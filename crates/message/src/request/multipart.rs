//! Push-fed multipart splitting with nested multiparts flattened into their leaf parts, as the
//! Java client proxy (mime4j 0.8.7, non-strict, recursive) sees an information system's SOAP
//! request. The framing itself is [`MultipartReader`]'s, which follows mime4j.

use xroad_fault::{ErrorCode, XRoadError};
use xroad_mime::{Event, MimeError, MultipartReader, PartHeaders};

/// Deepest nesting of multiparts inside multiparts that is descended into.
const MAX_NESTING: usize = 8;

/// What the flattener reports, in document order.
pub(crate) enum Leaf<'a> {
    /// A leaf part starts.
    Start(PartHeaders),
    /// A piece of the current leaf's body.
    Data(&'a [u8]),
    /// The current leaf is complete.
    End,
}

/// Keeps the bytes a [`MultipartReader`] has not consumed yet between chunks.
struct Splitter {
    reader: MultipartReader,
    pending: Vec<u8>,
    done: bool,
    in_part: bool,
}

fn mime_error(e: MimeError) -> XRoadError {
    XRoadError::new(ErrorCode::MimeParsingFailed, e.to_string())
}

impl Splitter {
    fn new(boundary: &str) -> Result<Self, XRoadError> {
        let reader = MultipartReader::new(boundary).map_err(mime_error)?;
        Ok(Splitter {
            reader,
            pending: Vec::new(),
            done: false,
            in_part: false,
        })
    }

    fn feed(
        &mut self,
        input: &[u8],
        eof: bool,
        f: &mut dyn FnMut(Event<'_>) -> Result<(), XRoadError>,
    ) -> Result<(), XRoadError> {
        if self.done {
            return Ok(());
        }
        if self.pending.is_empty() {
            let used = self.run(input, eof, f)?;
            self.pending.extend_from_slice(&input[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.pending);
            buf.extend_from_slice(input);
            let used = self.run(&buf, eof, f)?;
            buf.drain(..used);
            self.pending = buf;
        }
        Ok(())
    }

    /// Returns how much of `data` was consumed.
    fn run(
        &mut self,
        data: &[u8],
        eof: bool,
        f: &mut dyn FnMut(Event<'_>) -> Result<(), XRoadError>,
    ) -> Result<usize, XRoadError> {
        let mut pos = 0;
        loop {
            match self.reader.next_event(&data[pos..], eof) {
                Ok((used, event)) => {
                    pos += used;
                    match event {
                        Event::NeedMore => return Ok(pos),
                        Event::End => {
                            self.done = true;
                            return Ok(data.len());
                        }
                        Event::Headers(_) => self.in_part = true,
                        Event::PartEnd => self.in_part = false,
                        Event::Data(_) => {}
                    }
                    f(event)?;
                }
                // mime4j (non-strict) accepts a body that ends without the close delimiter: the
                // last part runs to the end, a part cut in its header block has the headers read
                // so far and an empty body (the reader has reported them), and a body without any
                // delimiter has no parts. The Java client proxy does too.
                Err(
                    MimeError::Truncated
                    | MimeError::TruncatedHeaders
                    | MimeError::MissingFirstBoundary,
                ) if eof => {
                    self.done = true;
                    if std::mem::take(&mut self.in_part) {
                        f(Event::PartEnd)?;
                    }
                    return Ok(data.len());
                }
                Err(e) => return Err(mime_error(e)),
            }
        }
    }
}

/// Splits a multipart body into its leaf parts, descending into nested multiparts.
pub(crate) struct Flattener {
    splitter: Splitter,
    /// The nested multipart the current part is, if it is one.
    child: Option<Box<Flattener>>,
    depth: usize,
}

impl Flattener {
    pub(crate) fn new(boundary: &str) -> Result<Self, XRoadError> {
        Self::at_depth(boundary, 0)
    }

    fn at_depth(boundary: &str, depth: usize) -> Result<Self, XRoadError> {
        Ok(Flattener {
            splitter: Splitter::new(boundary)?,
            child: None,
            depth,
        })
    }

    /// Feeds body bytes; `eof` marks the end of this multipart's body.
    pub(crate) fn feed(
        &mut self,
        input: &[u8],
        eof: bool,
        out: &mut dyn FnMut(Leaf<'_>) -> Result<(), XRoadError>,
    ) -> Result<(), XRoadError> {
        let Flattener {
            splitter,
            child,
            depth,
        } = self;
        let depth = *depth;
        splitter.feed(input, eof, &mut |event| match event {
            Event::Headers(headers) => match nested_boundary(&headers, depth) {
                Some(boundary) => {
                    *child = Some(Box::new(Flattener::at_depth(&boundary, depth + 1)?));
                    Ok(())
                }
                None => out(Leaf::Start(headers)),
            },
            Event::Data(d) => match child {
                Some(c) => c.feed(d, false, out),
                None => out(Leaf::Data(d)),
            },
            Event::PartEnd => match child.take() {
                Some(mut c) => c.feed(&[], true, out),
                None => out(Leaf::End),
            },
            Event::NeedMore | Event::End => Ok(()),
        })
    }
}

/// The boundary of a part that is itself a multipart (and so is flattened), decided as mime4j
/// decides it: from the first `Content-Type` that gives the part a type, not from the last one
/// (which is the leaf's content type for X-Road). A multipart type without a boundary does not
/// count, an empty boundary does.
fn nested_boundary(headers: &PartHeaders, depth: usize) -> Option<String> {
    if depth >= MAX_NESTING {
        return None;
    }
    headers.multipart_boundary()
}

/// The request path over mime4j's framing: what the Java client proxy answers for the cases where
/// that framing differs from a strict RFC 2046 reading. The multipart splits are checked against
/// mime4j 0.8.7 (see `xroad_mime::MultipartReader`).
#[cfg(test)]
mod tests {
    use ring::digest;
    use xroad_fault::{Spelling, XRoadError};

    use super::super::{SoapRequest, SoapRequestDecoder};

    const SOAP: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xroad=\"http://x-road.eu/xsd/xroad.xsd\" xmlns:id=\"http://x-road.eu/xsd/identifiers\">\n<SOAP-ENV:Header>\n<xroad:client id:objectType=\"MEMBER\"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>BUSINESS</id:memberClass><id:memberCode>consumer</id:memberCode></xroad:client>\n<xroad:service id:objectType=\"SERVICE\"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>BUSINESS</id:memberClass><id:memberCode>producer</id:memberCode><id:serviceCode>getState</id:serviceCode></xroad:service>\n<xroad:userId>EE37702211234</xroad:userId><xroad:id>1234567890</xroad:id><xroad:protocolVersion>4.0</xroad:protocolVersion>\n</SOAP-ENV:Header>\n<SOAP-ENV:Body><xroad:getState/></SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n";
    const CT: &str = "multipart/related; boundary=b";

    fn run(ct: &str, body: &[u8], chunk: usize) -> Result<SoapRequest, XRoadError> {
        let mut d = SoapRequestDecoder::new("POST", Some(ct), None)?;
        body.chunks(chunk).try_for_each(|c| d.feed(c))?;
        d.finish()
    }

    /// Decodes the body whole and in 1- and 7-byte chunks; all must give the same result.
    fn decode(ct: &str, body: &str) -> Result<SoapRequest, XRoadError> {
        let body = body.as_bytes();
        let whole = run(ct, body, body.len().max(1));
        for n in [1, 7] {
            let chunked = run(ct, body, n);
            match (&whole, &chunked) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "chunk {n}"),
                (Err(a), Err(b)) => assert_eq!(
                    (a.fault_code(Spelling::Current), a.message()),
                    (b.fault_code(Spelling::Current), b.message()),
                    "chunk {n}"
                ),
                _ => panic!("chunk {n}: {whole:?} vs {chunked:?}"),
            }
        }
        whole
    }

    fn fault(r: Result<SoapRequest, XRoadError>) -> (String, String) {
        let e = r.unwrap_err();
        (e.fault_code(Spelling::Current), e.message().to_owned())
    }

    fn sha512(b: &[u8]) -> [u8; 64] {
        let mut out = [0; 64];
        out.copy_from_slice(digest::digest(&digest::SHA512, b).as_ref());
        out
    }

    /// `(content type, size, digest)` of each attachment.
    fn attachments(r: &SoapRequest) -> Vec<(&str, u64, [u8; 64])> {
        r.attachments
            .iter()
            .map(|a| (a.content_type.as_str(), a.size, a.digest))
            .collect()
    }

    #[test]
    fn part_with_headers_and_no_body_is_an_empty_attachment() {
        let body = format!(
            "--b\nContent-Type: text/xml\n\n{SOAP}\n--b\nContent-Type: text/plain\n\n--b\n\
             Content-Type: application/octet-stream\n\nabc\n--b\nContent-Type: text/plain\n\n--b--\n"
        );
        let r = decode(CT, &body).unwrap();
        assert_eq!(r.soap_digest, sha512(SOAP.as_bytes()));
        assert_eq!(
            attachments(&r),
            [
                ("text/plain", 0, sha512(b"")),
                ("application/octet-stream", 3, sha512(b"abc")),
                ("text/plain", 0, sha512(b"")),
            ]
        );
    }

    #[test]
    fn body_ending_with_a_bare_delimiter() {
        let r = decode(CT, &format!("--b\nContent-Type: text/xml\n\n{SOAP}\n--b")).unwrap();
        assert_eq!(r.soap_digest, sha512(SOAP.as_bytes()));
        assert!(r.attachments.is_empty());
        let r = decode(
            CT,
            &format!("--b\r\nContent-Type: text/xml\r\n\r\n{SOAP}\r\n--b\r\n"),
        )
        .unwrap();
        assert_eq!(r.soap_digest, sha512(SOAP.as_bytes()));
        // mime4j leaves the LF of an unfinished last delimiter line unread: one more part, which
        // has no content type.
        assert_eq!(
            fault(decode(
                CT,
                &format!("--b\nContent-Type: text/xml\n\n{SOAP}\n--b\n")
            )),
            (
                "client.invalid_content_type".to_owned(),
                "Could not get content type for part".to_owned()
            )
        );
    }

    #[test]
    fn mime4j_delimiters() {
        let body = format!(
            "--b-x\nContent-Type: text/xml\n\n{SOAP}\n--b \t junk\nContent-Type: text/plain\n\natt\n\
             --bX\n--b x--\nepilogue"
        );
        let r = decode(CT, &body).unwrap();
        assert_eq!(r.soap_digest, sha512(SOAP.as_bytes()));
        assert_eq!(attachments(&r), [("text/plain", 8, sha512(b"att\n--bX"))]);
    }

    #[test]
    fn headers_cut_by_the_end_of_the_body() {
        // The SOAP part: an empty body for the SOAP parser.
        for body in [
            "--b\nContent-Type: text/xml; charset=UTF-8\nContent-ID: <a>",
            "--b\r\nContent-Type: text/xml\r\n",
        ] {
            assert_eq!(fault(decode(CT, body)).0, "client.invalid_soap", "{body:?}");
        }
        // An attachment: empty, with the headers read.
        let body = format!(
            "--b\nContent-Type: text/xml\n\n{SOAP}\n--b\nContent-Type: application/octet-stream\n\
             Content-ID: <x>"
        );
        let r = decode(CT, &body).unwrap();
        assert_eq!(
            attachments(&r),
            [("application/octet-stream", 0, sha512(b""))]
        );
        assert_eq!(
            r.attachments[0].headers,
            [("Content-ID".to_owned(), "<x>".to_owned())]
        );
    }

    #[test]
    fn part_headers_as_mime4j_reads_them() {
        // Invalid lines are skipped, the last Content-Type wins, one space after the colon is
        // dropped and trailing whitespace kept.
        let body = format!(
            "--b\nno colon\nContent-Type: text/plain\nbad name: x\ncontent-type:  text/xml \n\
             X-A:  v \n\n{SOAP}\n--b--\n"
        );
        let r = decode(CT, &body).unwrap();
        assert_eq!(r.soap_content_type, " text/xml ");
        assert_eq!(r.soap_part_headers, [("X-A".to_owned(), " v ".to_owned())]);

        // mime4j's limits, with its messages.
        let cases = [
            (
                format!("X: {}\n", "a".repeat(996)),
                "org.apache.james.mime4j.io.MaxLineLimitException: Maximum line length limit (1000) exceeded",
            ),
            ("X: 1\n".repeat(1000), "Maximum header limit (1000) exceeded"),
            (
                format!("X: a\n{}", format!(" {}\n", "a".repeat(97)).repeat(101)),
                "Maximum header length limit (10000) exceeded",
            ),
        ];
        for (headers, message) in cases {
            let body = format!("--b\nContent-Type: text/xml\n{headers}\n{SOAP}\n--b--\n");
            assert_eq!(
                fault(decode(CT, &body)),
                ("client.mime_parsing_failed".to_owned(), message.to_owned())
            );
        }
    }

    #[test]
    fn duplicate_boundary_parameter_last_wins() {
        let body = format!("--b\nContent-Type: text/xml\n\n{SOAP}\n--b--\n");
        let r = decode("multipart/related; boundary=a; boundary=b", &body).unwrap();
        assert_eq!(r.soap_digest, sha512(SOAP.as_bytes()));
    }

    /// mime4j decides nesting from the first `Content-Type` that types the part; X-Road's handler
    /// takes the last one as the part's content type.
    #[test]
    fn nesting_is_decided_as_mime4j_decides_it() {
        let body = format!(
            "--b\nContent-Type: text/xml\n\n{SOAP}\n--b\n\
             Content-Type: multipart/mixed; boundary=c\nContent-Type: text/plain\n\n\
             --c\nContent-Type: application/x-inner\n\ninner\n--c--\n--b\n\
             Content-Type: multipart/mixed\nContent-Type: multipart/mixed; boundary=\"\"\n\n\
             --\nContent-Type: application/x-empty-boundary\n\nx\n----\n--b\n\
             Content-Type: text/plain\nContent-Type: multipart/mixed; boundary=c\n\n\
             --c\nleaf\n--b--\n"
        );
        let r = decode(CT, &body).unwrap();
        assert_eq!(
            attachments(&r),
            [
                ("application/x-inner", 5, sha512(b"inner")),
                ("application/x-empty-boundary", 1, sha512(b"x")),
                ("multipart/mixed; boundary=c", 8, sha512(b"--c\nleaf")),
            ]
        );
    }
}
