//! MIME building blocks of the X-Road transport: `Content-Type` parsing and multipart framing,
//! byte-compatible with the Java Security Server (PROTOCOL-DIGEST §3.5, §5.4, §12).
//!
//! * [`ContentType`]: parse a `Content-Type` value, keep the original string.
//! * [`MultipartReader`]: a sans-IO streaming multipart parser with the framing of Apache mime4j
//!   0.8.7, which the Java Security Server uses to split multipart bodies (so that the same bytes
//!   are hashed and signed). Bodies come out as slices of the caller's buffer; retained memory is
//!   bounded by the header limit, not by part sizes.
//! * [`MultipartStream`] and [`digest_parts`]: a blocking adapter over [`std::io::Read`] that
//!   streams part bodies and hashes them as they pass.
//! * [`MultipartWriter`] and [`Boundaries`]: the framing bytes Java writes, including the nested
//!   attachment multipart and the `MultipartSoapMessageEncoder` variant.
//!
//! Part bodies are never transfer-decoded: X-Road hashes, signs and forwards the raw bytes
//! (a base64 attachment stays base64).
//!
//! ```
//! use xroad_mime::{ContentType, Event, MultipartReader};
//!
//! let ct = ContentType::parse("multipart/mixed; charset=UTF-8; boundary=xtopB")?;
//! let mut reader = MultipartReader::new(ct.multipart_boundary()?)?;
//! let mut input: &[u8] = b"--xtopB\r\ncontent-type: text/xml\r\n\r\n<a/>\r\n--xtopB--\r\n";
//! let mut body = Vec::new();
//! loop {
//!     let (consumed, event) = reader.next_event(input, true)?;
//!     match event {
//!         Event::Headers(h) => assert_eq!(h.content_type(), Some("text/xml")),
//!         Event::Data(d) => body.extend_from_slice(d),
//!         Event::PartEnd | Event::NeedMore => {}
//!         Event::End => break,
//!     }
//!     input = &input[consumed..];
//! }
//! assert_eq!(body, b"<a/>");
//! # Ok::<(), xroad_mime::MimeError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod content_type;
mod error;
mod headers;
mod mime4j;
mod reader;
mod stream;
mod writer;

pub use content_type::ContentType;
pub use error::MimeError;
pub use headers::PartHeaders;
pub use reader::{Event, MultipartReader, DEFAULT_HEADER_LIMIT, MAX_BOUNDARY_LEN};
pub use stream::{digest_parts, MultipartStream, Part, PartDigest, DEFAULT_BUFFER_SIZE};
pub use writer::{multipart_mixed_content_type, Boundaries, MultipartWriter};

/// `ring::digest`, re-exported because its `Algorithm` and `Digest` appear in
/// [`digest_parts`]; callers then need no direct `ring` dependency to use it.
pub use ring::digest;
