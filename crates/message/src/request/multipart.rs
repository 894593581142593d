//! Push-fed multipart splitting with nested multiparts flattened into their leaf parts, as the
//! Java client proxy (mime4j, recursive) sees an information system's SOAP request.

use xroad_fault::{ErrorCode, XRoadError};
use xroad_mime::{ContentType, Event, MimeError, MultipartReader, PartHeaders};

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
                // mime4j in its lenient mode accepts a body that ends without the close
                // delimiter (the last part runs to the end) or that has no delimiter at all
                // (no parts); the Java client proxy does too.
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

/// The boundary of a part that is itself a multipart (and so is flattened). A multipart type
/// without a boundary is an ordinary leaf, as in mime4j.
fn nested_boundary(headers: &PartHeaders, depth: usize) -> Option<String> {
    if depth >= MAX_NESTING {
        return None;
    }
    let ct = ContentType::parse(headers.content_type()?).ok()?;
    if !ct.is_multipart() {
        return None;
    }
    ct.boundary().filter(|b| !b.is_empty()).map(str::to_owned)
}
