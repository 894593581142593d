//! Blocking adapter: [`MultipartReader`] over an [`io::Read`] with one fixed-size buffer.

use std::io::{self, Read};
use std::ops::Range;

use ring::digest;

use crate::{Event, MimeError, MultipartReader, PartHeaders};

/// Default read buffer size of [`MultipartStream`].
pub const DEFAULT_BUFFER_SIZE: usize = 64 * 1024;

/// Iterates over the parts of a multipart body read from an [`io::Read`].
///
/// Memory is one fixed buffer (at least [`DEFAULT_BUFFER_SIZE`], or more when the reader's
/// [`max_buffered`](MultipartReader::max_buffered) needs it), whatever the part sizes. Body chunks
/// are handed out as slices of that buffer.
///
/// ```
/// # use xroad_mime::MultipartStream;
/// let body: &[u8] = b"--B\r\ncontent-type: text/plain\r\n\r\nhello\r\n--B--\r\n";
/// let mut parts = MultipartStream::new(body, "B")?;
/// while let Some(mut part) = parts.next_part()? {
///     assert_eq!(part.headers().content_type(), Some("text/plain"));
///     while let Some(chunk) = part.next_chunk()? {
///         assert_eq!(chunk, b"hello");
///     }
/// }
/// # Ok::<(), xroad_mime::MimeError>(())
/// ```
#[derive(Debug)]
pub struct MultipartStream<R> {
    inner: R,
    reader: MultipartReader,
    buf: Box<[u8]>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    /// A part was handed out and its body not yet read to the end.
    in_part: bool,
}

/// One part of a [`MultipartStream`]: its headers and a streaming view of its body.
///
/// Dropping it early is fine: [`MultipartStream::next_part`] skips the rest of the body.
#[derive(Debug)]
pub struct Part<'s, R> {
    stream: &'s mut MultipartStream<R>,
    headers: PartHeaders,
    /// Bytes of the last chunk not yet returned by `Read::read`.
    pending: Range<usize>,
}

/// Headers, length and digest of one part, from [`digest_parts`].
#[derive(Debug, Clone)]
pub struct PartDigest {
    /// The part's headers.
    pub headers: PartHeaders,
    /// Body length in bytes.
    pub len: u64,
    /// Digest of the raw body bytes (nothing is transfer-decoded).
    pub digest: digest::Digest,
}

/// An event with its data as a range of the stream's buffer, so the buffer can be borrowed again.
enum Owned {
    Headers(PartHeaders),
    Data(Range<usize>),
    PartEnd,
    End,
}

impl<R: Read> MultipartStream<R> {
    /// Reads a multipart body with the given boundary and default limits.
    pub fn new(inner: R, boundary: impl AsRef<[u8]>) -> Result<Self, MimeError> {
        Ok(Self::with_reader(inner, MultipartReader::new(boundary)?))
    }

    /// Reads a multipart body with a configured [`MultipartReader`] (e.g. another header limit).
    pub fn with_reader(inner: R, reader: MultipartReader) -> Self {
        // Room for everything the reader may keep, plus at least one read's worth.
        let size = DEFAULT_BUFFER_SIZE.max(reader.max_buffered() + 4096);
        Self {
            inner,
            reader,
            buf: vec![0; size].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            in_part: false,
        }
    }

    /// The next part, or `None` after the close delimiter. Skips whatever is left of the
    /// previous part's body.
    pub fn next_part(&mut self) -> Result<Option<Part<'_, R>>, MimeError> {
        loop {
            match self.next_owned()? {
                Owned::Headers(headers) => {
                    self.in_part = true;
                    return Ok(Some(Part {
                        stream: self,
                        headers,
                        pending: 0..0,
                    }));
                }
                Owned::Data(_) => {}
                Owned::PartEnd => self.in_part = false,
                Owned::End => return Ok(None),
            }
        }
    }

    /// Returns the underlying reader; the epilogue and anything after it may be partly consumed.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn next_owned(&mut self) -> Result<Owned, MimeError> {
        loop {
            let unconsumed = &self.buf[self.start..self.end];
            let (consumed, event) = self.reader.next_event(unconsumed, self.eof)?;
            let event = match event {
                Event::NeedMore => None,
                Event::Headers(h) => Some(Owned::Headers(h)),
                // `Data` is always the tail of the consumed prefix.
                Event::Data(d) => {
                    let data_end = self.start + consumed;
                    Some(Owned::Data(data_end - d.len()..data_end))
                }
                Event::PartEnd => Some(Owned::PartEnd),
                Event::End => Some(Owned::End),
            };
            self.start += consumed;
            match event {
                Some(event) => return Ok(event),
                None => self.fill()?,
            }
        }
    }

    /// Moves the unconsumed bytes to the front and reads more after them.
    fn fill(&mut self) -> Result<(), MimeError> {
        if self.eof {
            // The reader never asks for more once it has seen EOF; avoid spinning if it did.
            return Err(MimeError::Truncated);
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.end == self.buf.len() {
            // Cannot happen with the buffer sized from `max_buffered`; fail rather than spin.
            return Err(MimeError::HeadersTooLarge {
                limit: self.buf.len(),
            });
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
            return Ok(());
        }
    }
}

impl<R: Read> Part<'_, R> {
    /// The part's headers.
    pub fn headers(&self) -> &PartHeaders {
        &self.headers
    }

    /// The next non-empty chunk of the body, borrowed from the stream's buffer, or `None` at the
    /// end of the part.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>, MimeError> {
        if !self.pending.is_empty() {
            let range = std::mem::replace(&mut self.pending, 0..0);
            return Ok(Some(&self.stream.buf[range]));
        }
        match self.next_range()? {
            Some(range) => Ok(Some(&self.stream.buf[range])),
            None => Ok(None),
        }
    }

    fn next_range(&mut self) -> Result<Option<Range<usize>>, MimeError> {
        if !self.stream.in_part {
            return Ok(None);
        }
        match self.stream.next_owned()? {
            Owned::Data(range) => Ok(Some(range)),
            Owned::PartEnd => {
                self.stream.in_part = false;
                Ok(None)
            }
            // The reader emits `Data*` then `PartEnd` inside a part; anything else is a bug.
            Owned::Headers(_) | Owned::End => Err(MimeError::Truncated),
        }
    }
}

impl<R: Read> Read for Part<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() {
            match self.next_range() {
                Ok(Some(range)) => self.pending = range,
                Ok(None) => return Ok(0),
                Err(MimeError::Io(e)) => return Err(e),
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
        let n = out.len().min(self.pending.len());
        let from = self.pending.start;
        out[..n].copy_from_slice(&self.stream.buf[from..from + n]);
        self.pending.start += n;
        Ok(n)
    }
}

/// Reads every part of a multipart body and returns, per part, its headers, body length and the
/// digest of its raw body bytes, computed while streaming with one fixed-size buffer.
///
/// Nested multiparts are not descended into: their whole body is one digest.
pub fn digest_parts<R: Read>(
    inner: R,
    boundary: impl AsRef<[u8]>,
    algorithm: &'static digest::Algorithm,
) -> Result<Vec<PartDigest>, MimeError> {
    let mut stream = MultipartStream::new(inner, boundary)?;
    let mut parts = Vec::new();
    while let Some(mut part) = stream.next_part()? {
        let mut ctx = digest::Context::new(algorithm);
        let mut len = 0u64;
        while let Some(chunk) = part.next_chunk()? {
            ctx.update(chunk);
            len += chunk.len() as u64;
        }
        parts.push(PartDigest {
            headers: std::mem::take(&mut part.headers),
            len,
            digest: ctx.finish(),
        });
    }
    Ok(parts)
}

#[cfg(test)]
mod tests;
