//! The character encoding the re-serialized response is written in.
//!
//! The Java provider writes the response through an `OutputStreamWriter` with the charset of
//! the provider's content type (UTF-8 when none is given), whatever the document itself
//! declared, while the XML declaration it writes always says UTF-8. Characters the charset
//! cannot encode become `?`, as with Java's default replacement.

use encoding_rs::{EncoderResult, Encoding};
use xroad_fault::{ErrorCode, XRoadError};

use crate::soap::encoding::{ASCII_LABELS, LATIN1_LABELS};

/// An output charset.
#[derive(Clone, Copy)]
enum Charset {
    Utf8,
    /// ISO-8859-1 as Java has it: code points up to U+00FF are their own byte.
    Latin1,
    /// US-ASCII: code points up to U+007F.
    Ascii,
    /// UTF-16 (Java's `UTF-16` writes a big-endian byte order mark first).
    Utf16 {
        big_endian: bool,
        bom: bool,
    },
    /// Any other encoding `encoding_rs` can encode.
    Other(&'static Encoding),
}

impl Charset {
    fn from_label(label: Option<&str>) -> Result<Self, XRoadError> {
        let Some(label) = label.map(str::trim).filter(|l| !l.is_empty()) else {
            return Ok(Charset::Utf8);
        };
        let is = |names: &[&str]| names.iter().any(|n| label.eq_ignore_ascii_case(n));
        let charset = if is(&["utf-8", "utf8"]) {
            Charset::Utf8
        } else if is(&LATIN1_LABELS) {
            Charset::Latin1
        } else if is(&ASCII_LABELS) {
            Charset::Ascii
        } else if is(&["utf-16", "utf16", "unicode"]) {
            Charset::Utf16 {
                big_endian: true,
                bom: true,
            }
        } else if is(&[
            "utf-16be",
            "x-utf-16be",
            "unicodebigunmarked",
            "iso-10646-ucs-2",
        ]) {
            Charset::Utf16 {
                big_endian: true,
                bom: false,
            }
        } else if is(&["utf-16le", "x-utf-16le", "unicodelittleunmarked"]) {
            Charset::Utf16 {
                big_endian: false,
                bom: false,
            }
        } else {
            // encoding_rs encodes the UTF-16 family, `replacement` and `x-user-defined` as
            // something else: those labels are not charsets it can write.
            match Encoding::for_label(label.as_bytes()) {
                Some(e) if e == encoding_rs::UTF_8 => Charset::Utf8,
                Some(e)
                    if e.output_encoding() == e
                        && e != encoding_rs::REPLACEMENT
                        && e != encoding_rs::X_USER_DEFINED =>
                {
                    Charset::Other(e)
                }
                // As the request decoder reports a charset Java cannot use.
                _ => return Err(XRoadError::new(ErrorCode::InternalError, label)),
            }
        };
        Ok(charset)
    }
}

/// Writes UTF-8 text in the output charset. Text may arrive cut inside a character.
pub(crate) struct OutputEncoder {
    charset: Charset,
    /// Bytes of a character cut off at the end of the last write (non-UTF-8 output only).
    partial: Vec<u8>,
    started: bool,
    encoder: Option<encoding_rs::Encoder>,
}

impl OutputEncoder {
    /// An encoder for the charset named `label` (`None` or blank: UTF-8).
    pub(crate) fn new(label: Option<&str>) -> Result<Self, XRoadError> {
        let charset = Charset::from_label(label)?;
        Ok(OutputEncoder {
            charset,
            partial: Vec::new(),
            started: false,
            encoder: match charset {
                Charset::Other(e) => Some(e.new_encoder()),
                _ => None,
            },
        })
    }

    /// Writes `text` (UTF-8, possibly ending inside a character) to `out`.
    pub(crate) fn write(&mut self, text: &[u8], out: &mut Vec<u8>) -> Result<(), XRoadError> {
        if let Charset::Utf8 = self.charset {
            out.extend_from_slice(text);
            return Ok(());
        }
        if !self.started {
            self.started = true;
            if let Charset::Utf16 {
                big_endian: true,
                bom: true,
            } = self.charset
            {
                out.extend_from_slice(&[0xFE, 0xFF]);
            }
        }
        if self.partial.is_empty() {
            let used = self.write_chars(text, out)?;
            self.partial.extend_from_slice(&text[used..]);
        } else {
            let mut joined = std::mem::take(&mut self.partial);
            joined.extend_from_slice(text);
            let used = self.write_chars(&joined, out)?;
            joined.drain(..used);
            self.partial = joined;
        }
        if self.partial.len() > 3 {
            return Err(invalid_utf8());
        }
        Ok(())
    }

    /// Whether a character was left unfinished (the document ended inside it).
    pub(crate) fn is_clean(&self) -> bool {
        self.partial.is_empty()
    }

    /// Encodes the complete characters at the start of `bytes`; returns how many bytes that was.
    fn write_chars(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<usize, XRoadError> {
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) if e.error_len().is_none() => {
                std::str::from_utf8(&bytes[..e.valid_up_to()]).map_err(|_| invalid_utf8())?
            }
            Err(_) => return Err(invalid_utf8()),
        };
        match self.charset {
            Charset::Utf8 => out.extend_from_slice(text.as_bytes()),
            Charset::Latin1 => out.extend(text.chars().map(|c| u8::try_from(c).unwrap_or(b'?'))),
            Charset::Ascii => {
                out.extend(
                    text.chars()
                        .map(|c| if c.is_ascii() { c as u8 } else { b'?' }),
                )
            }
            Charset::Utf16 { big_endian, .. } => {
                for unit in text.encode_utf16() {
                    out.extend_from_slice(&if big_endian {
                        unit.to_be_bytes()
                    } else {
                        unit.to_le_bytes()
                    });
                }
            }
            Charset::Other(_) => {
                if let Some(encoder) = self.encoder.as_mut() {
                    encode_other(encoder, text, out);
                }
            }
        }
        Ok(text.len())
    }
}

/// Encodes with `encoding_rs`, writing `?` for what the encoding cannot represent.
fn encode_other(encoder: &mut encoding_rs::Encoder, mut text: &str, out: &mut Vec<u8>) {
    let mut buf = [0u8; 1024];
    loop {
        let (result, read, written) =
            encoder.encode_from_utf8_without_replacement(text, &mut buf, false);
        out.extend_from_slice(&buf[..written]);
        text = &text[read..];
        match result {
            EncoderResult::InputEmpty => return,
            EncoderResult::OutputFull => {}
            EncoderResult::Unmappable(_) => out.push(b'?'),
        }
    }
}

fn invalid_utf8() -> XRoadError {
    XRoadError::new(
        ErrorCode::InvalidSoap,
        "Malformed XML: invalid UTF-8 byte sequence",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(label: &str, pieces: &[&[u8]]) -> Vec<u8> {
        let mut e = OutputEncoder::new(Some(label)).unwrap();
        let mut out = Vec::new();
        for p in pieces {
            e.write(p, &mut out).unwrap();
        }
        assert!(e.is_clean());
        out
    }

    #[test]
    fn charsets_as_java_writes_them() {
        let text = "é€😀a".as_bytes();
        assert_eq!(encode("UTF-8", &[text]), text);
        assert_eq!(encode("ISO-8859-1", &[text]), b"\xE9??a");
        assert_eq!(encode("us-ascii", &[text]), b"???a");
        assert_eq!(encode("UTF-16", &[b"<a"]), [0xFE, 0xFF, 0, b'<', 0, b'a']);
        assert_eq!(encode("UTF-16LE", &[b"<"]), [b'<', 0]);
        assert_eq!(encode("windows-1252", &[text]), b"\xE9\x80?a");
        // A character cut between writes.
        let (a, b) = text.split_at(1);
        assert_eq!(encode("ISO-8859-1", &[a, b]), b"\xE9??a");
        let (a, b) = text.split_at(6);
        assert_eq!(encode("windows-1252", &[a, b]), b"\xE9\x80?a");
    }

    #[test]
    fn unknown_charsets_are_refused() {
        let e = OutputEncoder::new(Some("klingon")).err().unwrap();
        assert_eq!(e.error_code(), Some(ErrorCode::InternalError));
        assert_eq!(e.message(), "klingon");
        assert!(OutputEncoder::new(Some("x-user-defined")).is_err());
        assert!(OutputEncoder::new(None).is_ok());
        assert!(OutputEncoder::new(Some(" ")).is_ok());
    }
}
