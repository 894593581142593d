//! Multipart framing exactly as the Java Security Server writes it.
//!
//! Java has two writers with slightly different bytes (PROTOCOL-DIGEST §3.5, §5.4):
//! * `MultipartEncoder` (the transport message and its nested attachment multipart):
//!   `content-type: {type}` with a space, and the close delimiter always preceded by CRLF;
//! * `MultipartOutputStream` (`MultipartSoapMessageEncoder`, SOAP with attachments towards the
//!   provider IS): `content-type:{type}` without a space, and no CRLF before the close delimiter
//!   of an empty multipart.
//!
//! Both write strings as ISO-8859-1 (characters outside it become `?`), which this writer does too.

use std::io::{self, Write};

use std::cell::RefCell;

use rand::rngs::{OsRng, StdRng};
use rand::{Rng, SeedableRng};

use crate::MimeError;

const CRLF: &[u8] = b"\r\n";
const BOUNDARY_LETTERS: &[u8; 52] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const UNIQUE_LEN: usize = 30;

/// The Content-Type of a Java-written multipart: `multipart/mixed; charset=UTF-8; boundary={b}`
/// (`MimeUtils.mpMixedContentType`). Used for the HTTP header of the transport message and for the
/// part that holds the nested attachment multipart.
pub fn multipart_mixed_content_type(boundary: &str) -> String {
    format!("multipart/mixed; charset=UTF-8; boundary={boundary}")
}

/// A matching pair of transport boundaries: `xtop` and `xatt`, each followed by the same 30
/// random ASCII letters (`ProxyMessageEncoder`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boundaries {
    top: String,
    attachment: String,
}

impl Boundaries {
    /// Generates a fresh pair from a CSPRNG seeded once per thread by the system's: a
    /// `getrandom` call per message was a system call on every message's path.
    pub fn generate() -> Result<Self, MimeError> {
        thread_local! {
            static RNG: RefCell<Option<StdRng>> = const { RefCell::new(None) };
        }
        let unique = RNG.with(|cell| {
            let mut slot = cell.borrow_mut();
            let rng = match &mut *slot {
                Some(rng) => rng,
                None => {
                    slot.insert(StdRng::from_rng(OsRng).map_err(|_| MimeError::RandomUnavailable)?)
                }
            };
            Ok::<String, MimeError>(
                (0..UNIQUE_LEN)
                    .map(|_| char::from(BOUNDARY_LETTERS[rng.gen_range(0..BOUNDARY_LETTERS.len())]))
                    .collect(),
            )
        })?;
        Ok(Self {
            top: format!("xtop{unique}"),
            attachment: format!("xatt{unique}"),
        })
    }

    /// The top-level boundary, `xtop…`.
    pub fn top(&self) -> &str {
        &self.top
    }

    /// The boundary of the nested attachment multipart, `xatt…`.
    pub fn attachment(&self) -> &str {
        &self.attachment
    }
}

/// Which Java writer's bytes to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// `MultipartEncoder`, top level.
    Transport,
    /// `MultipartEncoder`, inside a nested section: every delimiter is preceded by CRLF.
    Nested,
    /// `MultipartOutputStream`.
    SoapEncoder,
}

/// Writes multipart framing; the caller writes each part's body bytes between the calls.
///
/// ```
/// # use xroad_mime::MultipartWriter;
/// let mut out = Vec::new();
/// let mut w = MultipartWriter::new("xtopB")?;
/// w.start_part(&mut out, "text/xml; charset=UTF-8", [("Content-ID", "<rootpart>")])?;
/// out.extend_from_slice(b"<soap/>");
/// w.start_part(&mut out, "signature/bdoc-1.0/ts", None::<(&str, &str)>)?;
/// out.extend_from_slice(b"<sig/>");
/// w.finish(&mut out);
/// assert_eq!(
///     out,
///     b"--xtopB\r\ncontent-type: text/xml; charset=UTF-8\r\nContent-ID: <rootpart>\r\n\r\n<soap/>\
///       \r\n--xtopB\r\ncontent-type: signature/bdoc-1.0/ts\r\n\r\n<sig/>\r\n--xtopB--\r\n"
/// );
/// # Ok::<(), xroad_mime::MimeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MultipartWriter {
    boundary: String,
    style: Style,
    in_part: bool,
}

impl MultipartWriter {
    /// A writer for the top level of the X-Road transport message (`MultipartEncoder`).
    pub fn new(boundary: &str) -> Result<Self, MimeError> {
        Self::with_style(boundary, Style::Transport)
    }

    /// A writer for the nested attachment multipart of a transport message. Start the enclosing
    /// part with content type [`multipart_mixed_content_type`]`(boundary)` and no other headers,
    /// then write this writer's output as that part's body.
    pub fn nested(boundary: &str) -> Result<Self, MimeError> {
        Self::with_style(boundary, Style::Nested)
    }

    /// A writer reproducing `MultipartSoapMessageEncoder` (`content-type:` without a space), used
    /// to rebuild a SOAP-with-attachments request for the provider IS with its original boundary.
    pub fn soap_encoder(boundary: &str) -> Result<Self, MimeError> {
        Self::with_style(boundary, Style::SoapEncoder)
    }

    fn with_style(boundary: &str, style: Style) -> Result<Self, MimeError> {
        // The reader accepts these because mime4j does; nobody should write them.
        if boundary.is_empty() {
            return Err(MimeError::InvalidBoundary("empty"));
        }
        if boundary.contains(['\r', '\n']) {
            return Err(MimeError::InvalidBoundary("contains a line break"));
        }
        // Otherwise the reader's rules, so that whatever is written can be read back.
        crate::MultipartReader::new(boundary)?;
        Ok(Self {
            boundary: boundary.to_owned(),
            style,
            in_part: false,
        })
    }

    /// The boundary.
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// Appends the delimiter and header block of the next part: `[CRLF]--{B}CRLF`, the
    /// content-type line, one `Name: value` line per header, and the empty line.
    ///
    /// Fails (writing nothing) if a header name or value, or the content type, contains CR or LF,
    /// or a name is empty or contains `:`, spaces or control characters.
    pub fn start_part<I, K, V>(
        &mut self,
        out: &mut Vec<u8>,
        content_type: &str,
        headers: I,
    ) -> Result<(), MimeError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        check_value(content_type)?;
        let start = out.len();
        if self.in_part || self.style == Style::Nested {
            out.extend_from_slice(CRLF);
        }
        out.extend_from_slice(b"--");
        out.extend_from_slice(self.boundary.as_bytes());
        out.extend_from_slice(CRLF);
        out.extend_from_slice(match self.style {
            Style::Transport | Style::Nested => b"content-type: ",
            Style::SoapEncoder => b"content-type:",
        });
        push_latin1(out, content_type);
        out.extend_from_slice(CRLF);
        for (name, value) in headers {
            let (name, value) = (name.as_ref(), value.as_ref());
            if let Err(e) = check_name(name).and_then(|()| check_value(value)) {
                out.truncate(start);
                return Err(e);
            }
            push_latin1(out, name);
            out.extend_from_slice(b": ");
            push_latin1(out, value);
            out.extend_from_slice(CRLF);
        }
        out.extend_from_slice(CRLF);
        self.in_part = true;
        Ok(())
    }

    /// Appends the close delimiter `CRLF--{B}--CRLF`.
    pub fn finish(self, out: &mut Vec<u8>) {
        if self.in_part || self.style != Style::SoapEncoder {
            out.extend_from_slice(CRLF);
        }
        out.extend_from_slice(b"--");
        out.extend_from_slice(self.boundary.as_bytes());
        out.extend_from_slice(b"--\r\n");
    }

    /// [`start_part`](Self::start_part) for an [`io::Write`] sink.
    pub fn write_start_part<W, I, K, V>(
        &mut self,
        w: &mut W,
        content_type: &str,
        headers: I,
    ) -> Result<(), MimeError>
    where
        W: Write + ?Sized,
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut framing = Vec::with_capacity(128);
        self.start_part(&mut framing, content_type, headers)?;
        w.write_all(&framing)?;
        Ok(())
    }

    /// [`finish`](Self::finish) for an [`io::Write`] sink.
    pub fn write_finish<W: Write + ?Sized>(self, w: &mut W) -> io::Result<()> {
        let mut framing = Vec::with_capacity(self.boundary.len() + 8);
        self.finish(&mut framing);
        w.write_all(&framing)
    }
}

fn check_value(value: &str) -> Result<(), MimeError> {
    if value.contains(['\r', '\n']) {
        return Err(MimeError::InvalidHeader("line break in header value"));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), MimeError> {
    if name.is_empty() {
        return Err(MimeError::InvalidHeader("empty header name"));
    }
    if !name
        .bytes()
        .all(|b| (b'!'..=b'~').contains(&b) && b != b':')
    {
        return Err(MimeError::InvalidHeader("invalid character in header name"));
    }
    Ok(())
}

/// `String.getBytes(ISO_8859_1)`: one byte per char, `?` for anything outside Latin-1.
fn push_latin1(out: &mut Vec<u8>, s: &str) {
    if s.is_ascii() {
        out.extend_from_slice(s.as_bytes());
    } else {
        out.extend(
            s.chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')),
        );
    }
}

#[cfg(test)]
mod tests;
