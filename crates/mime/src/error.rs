//! The one error type of this crate.

/// Errors from Content-Type parsing, multipart reading and multipart writing.
///
/// The variants are the categories the message layer maps to X-Road faults (on the client
/// proxy's request path a missing boundary is `invalid_content_type` and any broken body
/// `mime_parsing_failed`); the `Display` text is for logs and must not be matched on. Where Java fails on the same input, the text is Java's
/// exception message (the fault string a Java peer would send).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MimeError {
    /// The Content-Type value could not be parsed.
    #[error("Malformed content type: {0}")]
    MalformedContentType(&'static str),

    /// A multipart Content-Type has no `boundary` parameter (or one without `=`).
    #[error("Multipart content type is missing required boundary")]
    MissingBoundary,

    /// The boundary is longer than the reader supports; the writer also refuses an empty one and
    /// one with CR or LF.
    #[error("Invalid multipart boundary: {0}")]
    InvalidBoundary(&'static str),

    /// The body ended before any delimiter was found. mime4j (non-strict) reads no parts.
    #[error("Multipart body does not contain the first boundary")]
    MissingFirstBoundary,

    /// The body ended before the close delimiter (`--boundary--`): inside a part's body, or
    /// right after a delimiter. mime4j (non-strict) ignores this: the parts reported so far are
    /// all there is, the last one ending where the body ends.
    #[error("Multipart body ended before the close delimiter")]
    Truncated,

    /// The body ended inside the header block of a part. The headers read so far have been
    /// reported ([`Event::Headers`](crate::Event::Headers)) and the part's body is empty, as in
    /// mime4j (non-strict), which ignores this.
    #[error("Multipart body ended inside part headers")]
    TruncatedHeaders,

    /// A part's header block (including its terminating empty line) is larger than the limit.
    #[error("Part header block exceeds {limit} bytes")]
    HeadersTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },

    /// A part header line, including its line break, is `limit` (1000) bytes or longer
    /// (mime4j `MaxLineLimitException`, wrapped in a `MimeException`).
    #[error("org.apache.james.mime4j.io.MaxLineLimitException: Maximum line length limit ({limit}) exceeded")]
    HeaderLineTooLong {
        /// mime4j's `maxLineLen`.
        limit: usize,
    },

    /// A part has more than `limit` (1000) header fields, invalid lines included (mime4j
    /// `MaxHeaderLimitException`).
    #[error("Maximum header limit ({limit}) exceeded")]
    TooManyHeaderFields {
        /// mime4j's `maxHeaderCount`.
        limit: usize,
    },

    /// One header field, folded lines and line breaks included, is `limit` (10000) bytes or
    /// longer (mime4j `MaxHeaderLengthLimitException`).
    #[error("Maximum header length limit ({limit}) exceeded")]
    HeaderFieldTooLong {
        /// mime4j's `maxHeaderLen`.
        limit: usize,
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
