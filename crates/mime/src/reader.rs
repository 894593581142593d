//! Sans-IO streaming multipart reader with the framing of Apache mime4j 0.8.7 (non-strict).

use memchr::{memchr, memchr2_iter, memmem};

use crate::{MimeError, PartHeaders};

#[cfg(test)]
mod tests;

/// Default limit for one part's header block, in bytes (terminating empty line included).
pub const DEFAULT_HEADER_LIMIT: usize = 64 * 1024;

/// Longest accepted boundary. RFC 2046 allows 70 characters; senders in the wild exceed that, so
/// the reader is more generous, but the limit keeps the look-ahead bounded. mime4j has no limit:
/// this is a deliberate difference.
pub const MAX_BOUNDARY_LEN: usize = 256;

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
    /// The current part's body is complete: its delimiter has been recognised. The rest of the
    /// delimiter line is consumed by the following calls.
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
/// # Framing
///
/// The framing is that of mime4j 0.8.7 in non-strict mode (`MimeBoundaryInputStream`,
/// `MimeEntity`), which the Java Security Server uses on both sides (the client proxy reading an
/// information system's request, and the transport between Security Servers). It decides which
/// bytes are hashed and signed, so it is followed byte for byte:
///
/// * A **delimiter** is `--boundary` at the start of the body, at the start of a part (directly
///   after the previous delimiter line), or after an LF, and followed by whitespace (SP, HT, CR,
///   LF), by `-`, or by the end of the body. `--boundary` followed by anything else is data.
///   This holds inside a part's header block too: a delimiter there ends the part.
/// * A part's content ends before its delimiter, minus **one** LF and then one CR before it. A
///   part whose delimiter directly follows the empty line after its headers, or its last header
///   line, has an empty body.
/// * After `--boundary`, the rest of the line up to and including its LF is skipped (transport
///   padding and anything else). If `--` occurs anywhere in it, this is the **close
///   delimiter**: so `--b--`, `--b x--` and `--b\r--` close, and `--b-x` and `--b x` do not.
/// * The preamble (before the first delimiter) and the epilogue (after the close delimiter) are
///   ignored.
/// * A part's header block ends at the first empty line (LF, CRLF, or a lone CR at the end), at a
///   delimiter, or at the end of the body; see [`PartHeaders`] for the fields and mime4j's
///   limits. Nothing is transfer-decoded.
///
/// The end of the body before the close delimiter is not an error for mime4j; the reader
/// delivers what mime4j delivers and then reports it with an error that a lenient caller treats
/// as the end ([`MimeError::MissingFirstBoundary`]: no delimiter at all;
/// [`MimeError::Truncated`]: in a body, or after a delimiter; [`MimeError::TruncatedHeaders`]:
/// after reporting the headers of a part whose header block was cut). A part cut by the end of
/// the body ends with that error instead of [`Event::PartEnd`]. At the end of the body:
///
/// * `--boundary` with nothing after it ends the current part, and no part follows.
/// * mime4j skips the rest of a delimiter line looking at two bytes at a time, so when the body
///   ends in that line it can leave the last byte unread. That byte becomes one more part,
///   without headers and with an empty body: `…\n--b\n`, `…\n--b x` and `…\n--b-` all end with
///   such a part (the Java client proxy then answers `invalid_content_type`).
/// * When the line is read to its end (`…\n--b\r\n`), no part follows, except after the first
///   delimiter (`--b\r\n` as the whole body is one empty part). This is what mime4j does when
///   the rest of the body is already in its buffer, the usual case; otherwise whether it reads an
///   extra empty part depends on where its 4 KiB buffer is split, so it cannot be followed
///   exactly.
///
/// Deliberate differences from mime4j: boundaries longer than [`MAX_BOUNDARY_LEN`] and header
/// blocks larger than the header limit ([`with_header_limit`](Self::with_header_limit)) are
/// refused; mime4j quirks that depend on where its read buffer happens to be split are not
/// reproduced (besides the case above, mime4j takes a `--boundary` that is not after an LF for a
/// delimiter when it happens to start exactly where a buffer refill resumes). An empty boundary
/// is accepted as mime4j accepts it (every line starting with `--` and then whitespace or `-` is a
/// delimiter).
///
/// A part that mime4j reads as a nested multipart ([`PartHeaders::multipart_boundary`]) is parsed
/// by feeding its [`Event::Data`] into a second reader created with the inner boundary.
#[derive(Debug)]
pub struct MultipartReader {
    /// Searches `\n--boundary`: the delimiter with the LF before it.
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
    /// After `--boundary`, skipping the rest of its line. `first` for the first delimiter.
    DelimiterLine {
        first: bool,
    },
    /// After a delimiter line; `scanned` bytes of the buffer are known to hold complete header
    /// lines (neither empty nor delimiters), so a refill does not rescan them. With
    /// `ends_if_empty`, the end of the body right here means no part (see the type docs).
    Headers {
        scanned: usize,
        ends_if_empty: bool,
    },
    /// In a part's body; `at_start` while the body's first byte has not been consumed.
    Body {
        at_start: bool,
    },
    /// The body ended inside a part's header block, whose headers were reported.
    HeadersCut,
    Done,
}

/// What follows `--boundary` at some position.
enum Delimiter {
    /// A delimiter (a close delimiter too: that is decided on the rest of its line).
    Yes,
    /// Not a delimiter: data.
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
    /// the leading `--`). Any bytes are accepted, as mime4j accepts them: an empty boundary, and
    /// CR or LF (which mime4j's parameter parser keeps when escaped in a quoted string). Only a
    /// boundary longer than [`MAX_BOUNDARY_LEN`] is refused.
    pub fn new(boundary: impl AsRef<[u8]>) -> Result<Self, MimeError> {
        let boundary = boundary.as_ref();
        if boundary.len() > MAX_BOUNDARY_LEN {
            return Err(MimeError::InvalidBoundary("longer than 256 bytes"));
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
    /// (default [`DEFAULT_HEADER_LIMIT`]). This is a backstop on top of mime4j's own limits
    /// (see [`PartHeaders`]), which allow larger blocks.
    #[must_use]
    pub fn with_header_limit(mut self, limit: usize) -> Self {
        self.header_limit = limit;
        self
    }

    /// The most unconsumed bytes the reader can ask the caller to keep when it returns
    /// [`Event::NeedMore`]. A caller's buffer must be larger than this to always make progress.
    pub fn max_buffered(&self) -> usize {
        // A header block at the limit followed by an undecided `--boundary`; elsewhere at most
        // CR + `\n--boundary`.
        self.header_limit + self.needle().len() + 1
    }

    /// Whether the close delimiter has been read.
    pub fn is_finished(&self) -> bool {
        self.state == State::Done
    }

    /// Parses the next event from `buf`, the unconsumed input followed by any new input.
    ///
    /// Returns how many bytes of `buf` were consumed and the event. `eof` tells that `buf` holds
    /// everything that is left of the body; the reader then reports the end of the body (see the
    /// type docs) instead of [`Event::NeedMore`]. Errors do not change the reader's state: the
    /// same input gives the same error again.
    pub fn next_event<'a>(
        &mut self,
        buf: &'a [u8],
        eof: bool,
    ) -> Result<(usize, Event<'a>), MimeError> {
        let entry = self.state;
        let result = self.step_until_event(buf, eof);
        if result.is_err() {
            // Steps taken in this call before the error are undone with their consumed bytes.
            self.state = entry;
        }
        result
    }

    fn step_until_event<'a>(
        &mut self,
        buf: &'a [u8],
        eof: bool,
    ) -> Result<(usize, Event<'a>), MimeError> {
        let mut offset = 0;
        loop {
            let rest = buf.get(offset..).unwrap_or_default();
            let step = match self.state {
                State::Preamble { at_start } => self.preamble(rest, eof, at_start)?,
                State::DelimiterLine { first } => self.delimiter_line(rest, eof, first)?,
                State::Headers {
                    scanned,
                    ends_if_empty,
                } => self.headers(rest, eof, scanned, ends_if_empty)?,
                State::Body { at_start } => self.body(rest, eof, at_start)?,
                State::HeadersCut => return Err(MimeError::TruncatedHeaders),
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

    /// `--boundary` without the LF.
    fn dash_boundary(&self) -> &[u8] {
        &self.needle()[1..]
    }

    fn preamble<'a>(
        &mut self,
        buf: &'a [u8],
        eof: bool,
        at_start: bool,
    ) -> Result<Step<'a>, MimeError> {
        let needle_len = self.needle().len();
        if at_start {
            match self.delimiter_at(buf, eof) {
                Delimiter::Yes => return Ok(self.delimiter(self.dash_boundary().len(), true)),
                Delimiter::Undecided => return Ok(Step::Yield(0, Event::NeedMore)),
                Delimiter::No => {}
            }
        }
        let mut from = 0;
        while let Some(found) = self.find(buf, from) {
            match self.classify(buf, found + needle_len, eof) {
                // The LF before the delimiter belongs to it; the preamble is dropped.
                Delimiter::Yes => return Ok(self.delimiter(found + needle_len, true)),
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

    /// `--boundary` recognised, ending at `consumed`: skip the rest of its line next.
    fn delimiter<'a>(&mut self, consumed: usize, first: bool) -> Step<'a> {
        self.state = State::DelimiterLine { first };
        Step::Continue(consumed)
    }

    /// `MimeBoundaryInputStream.skipBoundary`: looks at two bytes at a time; `--` makes it the
    /// close delimiter, CRLF or LF ends the line, anything else is skipped.
    fn delimiter_line<'a>(
        &mut self,
        buf: &'a [u8],
        eof: bool,
        first: bool,
    ) -> Result<Step<'a>, MimeError> {
        let mut i = 0;
        while let Some(pair) = buf.get(i..i + 2) {
            match pair {
                b"--" => {
                    self.state = State::Done;
                    return Ok(Step::Continue(i + 2));
                }
                b"\r\n" => return Ok(self.line_ended(i + 2, first)),
                [b'\n', _] => return Ok(self.line_ended(i + 1, first)),
                _ => i += 1,
            }
        }
        // Fewer than two bytes left: mime4j needs two to decide anything.
        if !eof {
            return Ok(Step::Yield(i, Event::NeedMore));
        }
        if i == buf.len() {
            // `--boundary` was the end of the body (the loop always leaves one byte otherwise).
            return Err(MimeError::Truncated);
        }
        // mime4j leaves the last byte of the unfinished line unread; it becomes the next part.
        self.state = State::Headers {
            scanned: 0,
            ends_if_empty: false,
        };
        Ok(Step::Continue(i))
    }

    fn line_ended<'a>(&mut self, consumed: usize, first: bool) -> Step<'a> {
        self.state = State::Headers {
            scanned: 0,
            ends_if_empty: !first,
        };
        Step::Continue(consumed)
    }

    fn headers<'a>(
        &mut self,
        buf: &'a [u8],
        eof: bool,
        scanned: usize,
        ends_if_empty: bool,
    ) -> Result<Step<'a>, MimeError> {
        if buf.is_empty() && eof && ends_if_empty {
            return Err(MimeError::Truncated);
        }
        // `scanned` is only valid if the caller kept our unconsumed bytes; never trust it blindly.
        let mut line_start = if scanned <= buf.len() { scanned } else { 0 };
        loop {
            let line = &buf[line_start..];
            match self.delimiter_at(line, eof) {
                Delimiter::Yes => return self.headers_cut_by_delimiter(buf, line_start),
                Delimiter::Undecided => return self.headers_need_more(buf, line_start, line_start),
                Delimiter::No => {}
            }
            match line {
                [b'\n', ..] => return self.headers_done(buf, line_start, line_start + 1),
                [b'\r', b'\n', ..] => return self.headers_done(buf, line_start, line_start + 2),
                // mime4j strips one CR from a line: a lone CR at the very end is an empty line.
                [b'\r'] if eof => return self.headers_done(buf, line_start, line_start + 1),
                [b'\r'] => return self.headers_need_more(buf, line_start, line_start + 1),
                _ => {}
            }
            match memchr(b'\n', line) {
                Some(i) => line_start += i + 1,
                None if eof => return self.headers_at_eof(buf),
                None => return self.headers_need_more(buf, line_start, buf.len()),
            }
        }
    }

    /// Resumes at `line_start` once more input arrives, unless the block is already known to be
    /// at least `min_block` bytes, more than the limit.
    fn headers_need_more<'a>(
        &mut self,
        buf: &[u8],
        line_start: usize,
        min_block: usize,
    ) -> Result<Step<'a>, MimeError> {
        if let State::Headers { scanned, .. } = &mut self.state {
            *scanned = line_start;
        }
        if min_block > self.header_limit {
            return Err(self.too_large(buf));
        }
        Ok(Step::Yield(0, Event::NeedMore))
    }

    /// The header block ends with the empty line `buf[line_start..end]`.
    fn headers_done<'a>(
        &mut self,
        buf: &[u8],
        line_start: usize,
        end: usize,
    ) -> Result<Step<'a>, MimeError> {
        let headers = self.parse_block(&buf[..line_start], end)?;
        self.state = State::Body { at_start: true };
        Ok(Step::Yield(end, Event::Headers(headers)))
    }

    /// A delimiter at `line_start` ends the part inside its header block: the body is empty.
    fn headers_cut_by_delimiter<'a>(
        &mut self,
        buf: &[u8],
        line_start: usize,
    ) -> Result<Step<'a>, MimeError> {
        // The line break before the delimiter belongs to it; the body state consumes it.
        let block = &buf[..line_start];
        let block = block.strip_suffix(b"\n").unwrap_or(block);
        let block = block.strip_suffix(b"\r").unwrap_or(block);
        let consumed = block.len();
        // A line left as a lone CR by that is an empty line to mime4j.
        let block = match block {
            [rest @ .., b'\n', b'\r'] => &block[..rest.len() + 1],
            [b'\r'] => &[],
            _ => block,
        };
        let headers = self.parse_block(block, line_start)?;
        self.state = State::Body { at_start: true };
        Ok(Step::Yield(consumed, Event::Headers(headers)))
    }

    /// The body ends inside the header block: mime4j ends the headers there, the body is empty.
    fn headers_at_eof<'a>(&mut self, buf: &[u8]) -> Result<Step<'a>, MimeError> {
        let headers = self.parse_block(buf, buf.len())?;
        self.state = State::HeadersCut;
        Ok(Step::Yield(buf.len(), Event::Headers(headers)))
    }

    fn parse_block(&self, block: &[u8], block_len: usize) -> Result<PartHeaders, MimeError> {
        if block_len > self.header_limit {
            return Err(self.too_large(block));
        }
        PartHeaders::parse(block)
    }

    /// The error for a header block over the limit: a mime4j limit error within its first
    /// `header_limit` bytes if there is one (what Java would have said), else
    /// [`MimeError::HeadersTooLarge`]. Looking at exactly that prefix keeps the result
    /// independent of how the input is chunked.
    fn too_large(&self, block: &[u8]) -> MimeError {
        let prefix = block.get(..self.header_limit).unwrap_or(block);
        match PartHeaders::check_prefix(prefix) {
            Err(e) => e,
            Ok(()) => MimeError::HeadersTooLarge {
                limit: self.header_limit,
            },
        }
    }

    fn body<'a>(
        &mut self,
        buf: &'a [u8],
        eof: bool,
        at_start: bool,
    ) -> Result<Step<'a>, MimeError> {
        if at_start {
            // Directly after the empty line ending the headers: an empty body.
            match self.delimiter_at(buf, eof) {
                Delimiter::Yes => {
                    self.state = State::DelimiterLine { first: false };
                    return Ok(Step::Yield(self.dash_boundary().len(), Event::PartEnd));
                }
                Delimiter::Undecided => return Ok(Step::Yield(0, Event::NeedMore)),
                Delimiter::No => {}
            }
        }
        let needle_len = self.needle().len();
        let mut from = 0;
        while let Some(found) = self.find(buf, from) {
            let delimiter = self.classify(buf, found + needle_len, eof);
            if matches!(delimiter, Delimiter::No) {
                from = found + 1;
                continue;
            }
            // One CR before the LF belongs to the delimiter too, not to the body.
            let cut = if found > 0 && buf[found - 1] == b'\r' {
                found - 1
            } else {
                found
            };
            if cut > 0 {
                self.state = State::Body { at_start: false };
                return Ok(Step::Yield(cut, Event::Data(&buf[..cut])));
            }
            return Ok(match delimiter {
                Delimiter::Yes => {
                    self.state = State::DelimiterLine { first: false };
                    Step::Yield(found + needle_len, Event::PartEnd)
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
            self.state = State::Body { at_start: false };
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

    /// Whether `buf` starts with a delimiter (used where no LF is needed before it).
    fn delimiter_at(&self, buf: &[u8], eof: bool) -> Delimiter {
        let dash_boundary = self.dash_boundary();
        if buf.len() < dash_boundary.len() {
            return if !eof && dash_boundary.starts_with(buf) {
                Delimiter::Undecided
            } else {
                Delimiter::No
            };
        }
        if !buf.starts_with(dash_boundary) {
            return Delimiter::No;
        }
        self.classify(buf, dash_boundary.len(), eof)
    }

    /// Decides whether `--boundary` ending at `pos` is a delimiter: it must be followed by
    /// whitespace (mime4j's `CharsetUtil.isWhitespace`: SP, HT, CR, LF), by `-`, or by the end.
    fn classify(&self, buf: &[u8], pos: usize, eof: bool) -> Delimiter {
        match buf.get(pos) {
            Some(b' ' | b'\t' | b'\r' | b'\n' | b'-') => Delimiter::Yes,
            Some(_) => Delimiter::No,
            None if eof => Delimiter::Yes,
            None => Delimiter::Undecided,
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
