//! The one error type of this crate.

/// Errors from Content-Type parsing, multipart reading and multipart writing.
///
/// The variants are the categories the message layer maps to X-Road faults (a missing boundary is
/// `invalid_content_type`, a broken body is `invalid_message`, and so on); the `Display` text is
/// for logs and must not be matched on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MimeError {
    /// The Content-Type value could not be parsed.
    #[error("Malformed content type: {0}")]
    MalformedContentType(&'static str),

    /// A multipart Content-Type has no (or an empty) `boundary` parameter.
    #[error("Multipart content type is missing required boundary")]
    MissingBoundary,

    /// The boundary cannot frame a multipart body (empty, too long, or contains CR/LF).
    #[error("Invalid multipart boundary: {0}")]
    InvalidBoundary(&'static str),

    /// The body ended before any delimiter line was found.
    #[error("Multipart body does not contain the first boundary")]
    MissingFirstBoundary,

    /// The body ended inside a part, before the close delimiter (`--boundary--`).
    #[error("Multipart body ended before the close delimiter")]
    Truncated,

    /// The body ended inside the header block of a part.
    #[error("Multipart body ended inside part headers")]
    TruncatedHeaders,

    /// A part's header block (including its terminating empty line) is larger than the limit.
    #[error("Part header block exceeds {limit} bytes")]
    HeadersTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },

    /// A line of a part's header block is not a valid header field.
    #[error("Malformed part header (line {line} of the header block): {reason}")]
    MalformedHeader {
        /// 1-based line number inside the header block.
        line: usize,
        /// What is wrong with the line.
        reason: &'static str,
    },

    /// The multipart writer was given a header that would break the framing.
    #[error("Invalid part header for multipart writer: {0}")]
    InvalidHeader(&'static str),

    /// The system random number generator failed while generating a boundary.
    #[error("Could not generate a random multipart boundary")]
    RandomUnavailable,

    /// The underlying reader failed (blocking adapter only).
    #[error("I/O error while reading multipart body: {0}")]
    Io(#[from] std::io::Error),
}
