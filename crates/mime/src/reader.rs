//! Sans-IO streaming multipart reader (RFC 2046 §5.1.1 framing).

use memchr::{memchr, memchr2_iter, memmem};

use crate::{MimeError, PartHeaders};

#[cfg(test)]
mod tests;

/// Default limit for one part's header block, in bytes (terminating empty line included).
pub const DEFAULT_HEADER_LIMIT: usize = 64 * 1024;

/// Longest accepted boundary. RFC 2046 allows 70 characters; senders in the wild exceed that, so
/// the reader is more generous, but the limit keeps the look-ahead bounded.
pub const MAX_BOUNDARY_LEN: usize = 256;

/// Longest transport padding (spaces and tabs after the boundary) that the reader looks through.
/// A longer run makes the line ordinary body data, which keeps the look-ahead bounded.
const MAX_TRANSPORT_PADDING: usize = 256;

/// One step of the multipart event stream; see [`MultipartReader::next_event`].
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// No event can be produced from the given bytes: keep the unconsumed bytes, append more
    /// input and call again. Never returned when `eof` is true.
    NeedMore,
    /// A part starts; its header block has been read.
    Headers(PartHeaders),
    /// A non-empty piece of the current part's body, borrowed from the input. It is always the
    /// last `data.len()` bytes of the consumed prefix of the input.
    Data(&'a [u8]),
    /// The current part's body is complete (its delimiter line has been consumed).
    PartEnd,
    /// The close delimiter has been read. All further input is epilogue: it is consumed and
    /// ignored, and every later call returns `End` again.
    End,
}

/// A sans-IO multipart parser, in the style of `httparse`/`multer`.
///
/// The caller owns the buffer: it passes the bytes it holds to
/// [`next_event`](Self::next_event), drops the consumed prefix, and appends new input after the
/// bytes it kept. The reader asks the caller to keep at most
/// [`max_buffered`](Self::max_buffered) bytes, so memory does not depend on part sizes.
///
/// Framing follows RFC 2046: a delimiter is a line break (CRLF or a bare LF) followed by
/// `--boundary`, then optional spaces/tabs and a line break, or `--` for the close delimiter. The
/// first delimiter may also open the body without a line break. Everything before it (the
/// preamble) and after the close delimiter (the epilogue) is ignored. A part body is exactly the
/// bytes between the empty line after its headers and the line break before the next delimiter;
/// nothing is decoded. `--boundary` followed by anything else is body data.
///
/// A part whose type is `multipart/*` is parsed by feeding its [`Event::Data`] into a second
/// reader created with the inner boundary.
#[derive(Debug)]
pub struct MultipartReader {
    /// Searches `\n--boundary`: the delimiter without its optional CR.
    finder: memmem::Finder<'static>,
    header_limit: usize,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter; `at_start` while nothing has been consumed.
    Preamble {
        at_start: bool,
    },
    /// After a delimiter line; `scanned` bytes of the buffer are known to hold complete,
    /// non-empty header lines, so a refill does not rescan them.
    Headers {
        scanned: usize,
    },
    Body,
    Done,
}

/// What follows `--boundary` at some position.
enum Delimiter {
    /// A delimiter line ending at the given offset; another part follows.
    Next(usize),
    /// The close delimiter, `--` ending at the given offset.
    Close(usize),
    /// Not a delimiter: body data.
    No,
    /// Cannot tell without more input.
    Undecided,
}

/// Internal result of one state's step.
enum Step<'a> {
    /// Consumed bytes, state changed, keep going in the same call.
    Continue(usize),
    /// Consumed bytes and the event to return.
    Yield(usize, Event<'a>),
}

impl MultipartReader {
    /// Creates a reader for the given boundary (the `boundary` Content-Type parameter, without
    /// the leading `--`).
    pub fn new(boundary: impl AsRef<[u8]>) -> Result<Self, MimeError> {
        let boundary = boundary.as_ref();
        if boundary.is_empty() {
            return Err(MimeError::InvalidBoundary("empty"));
        }
        if boundary.len() > MAX_BOUNDARY_LEN {
            return Err(MimeError::InvalidBoundary("longer than 256 bytes"));
        }
        if boundary.iter().any(|&b| b == b'\r' || b == b'\n') {
            return Err(MimeError::InvalidBoundary("contains a line break"));
        }
        let mut needle = Vec::with_capacity(boundary.len() + 3);
        needle.extend_from_slice(b"\n--");
        needle.extend_from_slice(boundary);
        Ok(Self {
            finder: memmem::Finder::new(&needle).into_owned(),
            header_limit: DEFAULT_HEADER_LIMIT,
            state: State::Preamble { at_start: true },
        })
    }

    /// Sets the maximum size of one part's header block, including the empty line that ends it
    /// (default [`DEFAULT_HEADER_LIMIT`]).
    #[must_use]
    pub fn with_header_limit(mut self, limit: usize) -> Self {
        self.header_limit = limit;
        self
    }

    /// The most unconsumed bytes the reader can ask the caller to keep when it returns
    /// [`Event::NeedMore`]. A caller's buffer must be larger than this to always make progress.
    pub fn max_buffered(&self) -> usize {
        // CR + `\n--boundary` + padding + CR (an LF would complete the line).
        let delimiter = 1 + self.needle().len() + MAX_TRANSPORT_PADDING + 1;
        self.header_limit.max(delimiter)
    }

    /// Whether the close delimiter has been read.
    pub fn is_finished(&self) -> bool {
        self.state == State::Done
    }

    /// Parses the next event from `buf`, the unconsumed input followed by any new input.
    ///
    /// Returns how many bytes of `buf` were consumed and the event. `eof` tells that `buf` holds
    /// everything that is left of the body; the reader then reports truncation instead of
    /// [`Event::NeedMore`]. Errors do not change the reader's state: the same input gives the same
    /// error again.
    pub fn next_event<'a>(
        &mut self,
        buf: &'a [u8],
        eof: bool,
    ) -> Result<(usize, Event<'a>), MimeError> {
        let mut offset = 0;
        loop {
            let rest = buf.get(offset..).unwrap_or_default();
            let step = match self.state {
                State::Preamble { at_start } => self.preamble(rest, eof, at_start)?,
                State::Headers { scanned } => self.headers(rest, eof, scanned)?,
                State::Body => self.body(rest, eof)?,
                State::Done => Step::Yield(rest.len(), Event::End),
            };
            match step {
                Step::Continue(n) => offset += n,
                Step::Yield(n, event) => return Ok((offset + n, event)),
            }
        }
    }

    fn needle(&self) -> &[u8] {
        self.finder.needle()
    }

    fn preamble<'a>(
        &mut self,
        buf: &'a [u8],
        eof: bool,
        at_start: bool,
    ) -> Result<Step<'a>, MimeError> {
        let needle_len = self.needle().len();
        if at_start {
            // The first delimiter may open the body without a preceding line break.
            let dash_boundary = &self.needle()[1..];
            if buf.len() < dash_boundary.len() && dash_boundary.starts_with(buf) && !eof {
                return Ok(Step::Yield(0, Event::NeedMore));
            }
            if buf.starts_with(dash_boundary) {
                match self.classify(buf, dash_boundary.len(), eof) {
                    Delimiter::Next(end) => return Ok(self.enter_part(end)),
                    Delimiter::Close(end) => return Ok(self.finish(end)),
                    Delimiter::Undecided => return Ok(Step::Yield(0, Event::NeedMore)),
                    Delimiter::No => {}
                }
            }
        }
        let mut from = 0;
        while let Some(found) = self.find(buf, from) {
            match self.classify(buf, found + needle_len, eof) {
                // The line break before the delimiter belongs to it; the preamble is dropped.
                Delimiter::Next(end) => return Ok(self.enter_part(end)),
                Delimiter::Close(end) => return Ok(self.finish(end)),
                Delimiter::Undecided => return Ok(self.skip_preamble(found)),
                Delimiter::No => from = found + 1,
            }
        }
        if eof {
            return Err(MimeError::MissingFirstBoundary);
        }
        let keep = self.partial_tail(buf);
        Ok(self.skip_preamble(keep))
    }

    fn skip_preamble<'a>(&mut self, consumed: usize) -> Step<'a> {
        if consumed > 0 {
            self.state = State::Preamble { at_start: false };
        }
        Step::Yield(consumed, Event::NeedMore)
    }

    fn enter_part<'a>(&mut self, consumed: usize) -> Step<'a> {
        self.state = State::Headers { scanned: 0 };
        Step::Continue(consumed)
    }

    fn finish<'a>(&mut self, consumed: usize) -> Step<'a> {
        self.state = State::Done;
        Step::Continue(consumed)
    }

    fn headers<'a>(
        &mut self,
        buf: &'a [u8],
        eof: bool,
        scanned: usize,
    ) -> Result<Step<'a>, MimeError> {
        // `scanned` is only valid if the caller kept our unconsumed bytes; never trust it blindly.
        let mut line_start = if scanned <= buf.len() { scanned } else { 0 };
        let complete = loop {
            let line = buf.get(line_start..).unwrap_or_default();
            match line {
                [b'\n', ..] => break Some((line_start, line_start + 1)),
                [b'\r', b'\n', ..] => break Some((line_start, line_start + 2)),
                [] | [b'\r'] => break None,
                _ => match memchr(b'\n', line) {
                    Some(i) => line_start += i + 1,
                    None => break None,
                },
            }
        };
        let Some((block_len, end)) = complete else {
            // Resume at the incomplete line once more input arrives.
            self.state = State::Headers {
                scanned: line_start,
            };
            return if buf.len() >= self.header_limit {
                Err(self.too_large())
            } else if eof {
                Err(MimeError::TruncatedHeaders)
            } else {
                Ok(Step::Yield(0, Event::NeedMore))
            };
        };
        if end > self.header_limit {
            return Err(self.too_large());
        }
        let headers = PartHeaders::parse(&buf[..block_len])?;
        self.state = State::Body;
        Ok(Step::Yield(end, Event::Headers(headers)))
    }

    fn too_large(&self) -> MimeError {
        MimeError::HeadersTooLarge {
            limit: self.header_limit,
        }
    }

    fn body<'a>(&mut self, buf: &'a [u8], eof: bool) -> Result<Step<'a>, MimeError> {
        let needle_len = self.needle().len();
        let mut from = 0;
        while let Some(found) = self.find(buf, from) {
            // The CR of a CRLF line break belongs to the delimiter, not to the body.
            let cut = if found > 0 && buf[found - 1] == b'\r' {
                found - 1
            } else {
                found
            };
            let delimiter = self.classify(buf, found + needle_len, eof);
            if matches!(delimiter, Delimiter::No) {
                from = found + 1;
                continue;
            }
            if cut > 0 {
                return Ok(Step::Yield(cut, Event::Data(&buf[..cut])));
            }
            return Ok(match delimiter {
                Delimiter::Next(end) => {
                    self.state = State::Headers { scanned: 0 };
                    Step::Yield(end, Event::PartEnd)
                }
                Delimiter::Close(end) => {
                    self.state = State::Done;
                    Step::Yield(end, Event::PartEnd)
                }
                Delimiter::Undecided | Delimiter::No => Step::Yield(0, Event::NeedMore),
            });
        }
        let emit = if eof {
            buf.len()
        } else {
            self.partial_tail(buf)
        };
        if emit > 0 {
            Ok(Step::Yield(emit, Event::Data(&buf[..emit])))
        } else if eof {
            Err(MimeError::Truncated)
        } else {
            Ok(Step::Yield(0, Event::NeedMore))
        }
    }

    /// Position of the next `\n--boundary` in `buf[from..]`.
    fn find(&self, buf: &[u8], from: usize) -> Option<usize> {
        let hay = buf.get(from..)?;
        self.finder.find(hay).map(|i| i + from)
    }

    /// Decides whether `--boundary` ending at `pos` is a delimiter.
    fn classify(&self, buf: &[u8], pos: usize, eof: bool) -> Delimiter {
        let rest = buf.get(pos..).unwrap_or_default();
        let undecided = if eof {
            Delimiter::No
        } else {
            Delimiter::Undecided
        };
        match rest {
            [b'-', b'-', ..] => return Delimiter::Close(pos + 2),
            [b'-'] => return undecided,
            _ => {}
        }
        let padding = rest
            .iter()
            .take(MAX_TRANSPORT_PADDING + 1)
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        if padding > MAX_TRANSPORT_PADDING {
            return Delimiter::No;
        }
        match rest.get(padding..) {
            Some([b'\n', ..]) => Delimiter::Next(pos + padding + 1),
            Some([b'\r', b'\n', ..]) => Delimiter::Next(pos + padding + 2),
            Some([] | [b'\r']) | None => undecided,
            Some(_) => Delimiter::No,
        }
    }

    /// Length of the prefix of `buf` that cannot be part of a delimiter: the rest is a proper
    /// prefix of `\r\n--boundary` or `\n--boundary` that more input may complete.
    fn partial_tail(&self, buf: &[u8]) -> usize {
        let needle = self.needle();
        let tail_start = buf.len().saturating_sub(needle.len());
        let tail = &buf[tail_start..];
        for i in memchr2_iter(b'\r', b'\n', tail) {
            let candidate = &tail[i..];
            let matches = match candidate {
                [b'\r', rest @ ..] => rest.is_empty() || needle.starts_with(rest),
                // A complete `\n--boundary` here was already classified by the caller.
                _ => candidate.len() < needle.len() && needle.starts_with(candidate),
            };
            if matches {
                return tail_start + i;
            }
        }
        buf.len()
    }
}
