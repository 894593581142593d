//! The X-Road message transport between security servers (digest §5.3–§5.4): a
//! `multipart/mixed` body of OCSP responses, the SOAP or REST part, attachments, hash chain
//! parts and the signature, read by [`TransportDecoder`] and written by [`TransportWriter`].

mod decode;

use std::io;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use tokio::sync::mpsc;
use xroad_crypto::Digest;
use xroad_fault::{ErrorCode, XRoadError};
use xroad_message::soap::Soap;
use xroad_mime::{multipart_mixed_content_type, Boundaries, MultipartWriter};

pub use decode::TransportDecoder;

use crate::spool::Spooled;

/// Content type of the signature part.
pub const SIGNATURE: &str = "signature/bdoc-1.0/ts";
/// Content type of the hash chain result part.
pub const HASH_CHAIN_RESULT: &str = "application/hash-chain-result";
/// Content type of the hash chain part.
pub const HASH_CHAIN: &str = "application/hash-chain";
/// Content type of an OCSP response part.
pub const OCSP_RESPONSE: &str = "application/ocsp-response";
/// Content type of a REST request header part.
pub const REST_REQUEST: &str = "application/x-road-rest-request";
/// Content type of a REST response header part.
pub const REST_RESPONSE: &str = "application/x-road-rest-response";
/// Content type of a REST body part.
pub const REST_BODY: &str = "application/x-road-rest-body";
/// Content type of a SOAP fault written instead of the signature.
pub const FAULT_PART: &str = "text/xml; charset=UTF-8";

/// A received transport message.
#[derive(Debug, Default)]
pub struct TransportMessage {
    /// DER OCSP responses (requests: the consumer's auth certificate chain).
    pub ocsp: Vec<Vec<u8>>,
    /// The SOAP or REST part.
    pub main: Option<MainPart>,
    /// SOAP attachments, or the REST body (at most one).
    pub attachments: Vec<Attachment>,
    /// `application/hash-chain-result`.
    pub hash_chain_result: Option<Vec<u8>>,
    /// `application/hash-chain`.
    pub hash_chain: Option<Vec<u8>>,
    /// The signature document.
    pub signature: Option<Vec<u8>>,
    /// A SOAP fault sent instead of the message or of the signature.
    pub fault: Option<XRoadError>,
}

/// The first non-OCSP part.
#[derive(Debug)]
pub enum MainPart {
    /// A SOAP message.
    Soap(Box<SoapPart>),
    /// A REST header part.
    Rest(Box<RestPart>),
}

impl MainPart {
    /// Whether this is a REST message.
    pub fn is_rest(&self) -> bool {
        matches!(self, MainPart::Rest(_))
    }

    /// The digest of the part (`/message.xml`).
    pub fn digest(&self) -> &Digest {
        match self {
            MainPart::Soap(s) => &s.digest,
            MainPart::Rest(r) => &r.digest,
        }
    }
}

/// The SOAP part of a transport message.
#[derive(Debug)]
pub struct SoapPart {
    /// Its `content-type` as sent.
    pub content_type: String,
    /// Its other MIME headers.
    pub headers: Vec<(String, String)>,
    /// The SOAP bytes.
    pub data: Spooled,
    /// Their digest with the message's hash algorithm.
    pub digest: Digest,
    /// The parsed message.
    pub soap: Soap,
}

/// The REST header part of a transport message.
#[derive(Debug)]
pub struct RestPart {
    /// `application/x-road-rest-response` rather than `-request`.
    pub response: bool,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Their digest.
    pub digest: Digest,
}

/// An attachment or a REST body.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// Its `content-type`.
    pub content_type: String,
    /// Its other MIME headers.
    pub headers: Vec<(String, String)>,
    /// The bytes.
    pub data: Spooled,
    /// Their digest.
    pub digest: Digest,
}

impl TransportMessage {
    /// The signed parts: `/message.xml`, then `/attachment1`, … (Java's `MessagePart` names).
    pub fn signed_parts(&self) -> Vec<(String, Digest)> {
        let mut parts = Vec::with_capacity(1 + self.attachments.len());
        if let Some(main) = &self.main {
            parts.push(("/message.xml".to_owned(), *main.digest()));
        }
        for (i, a) in self.attachments.iter().enumerate() {
            parts.push((format!("/attachment{}", i + 1), a.digest));
        }
        parts
    }
}

impl TransportMessage {
    /// Verifies the signature document `sig` over this message's parts (and its hash chain,
    /// if it came with one), signed by `signer`; errors carry the `signature_verification`
    /// prefix.
    pub fn verify_signature(
        &self,
        sig: &[u8],
        signer: &xroad_identifiers::ClientId,
        trust: &xroad_crypto::TrustContext,
        at: std::time::SystemTime,
    ) -> Result<(), XRoadError> {
        use xroad_crypto::signature::{HashChainParts, Part};
        let digests = self.signed_parts();
        let parts: Vec<Part<'_>> = digests.iter().map(|(u, d)| Part::new(u, *d)).collect();
        let chain = match (&self.hash_chain_result, &self.hash_chain) {
            (Some(result), Some(chain)) => Some(HashChainParts { result, chain }),
            _ => None,
        };
        xroad_crypto::signature::verify(sig, signer, &parts, chain, trust, at)
            .map(|_| ())
            .map_err(|e| e.with_prefix(ErrorCode::SignatureVerification))
    }
}

/// Parses a SOAP fault document, keeping its bytes for relaying; `None` if it is not a fault.
pub(crate) fn fault_of(bytes: &[u8]) -> Result<Option<XRoadError>, XRoadError> {
    match xroad_message::soap::parse_soap(bytes)? {
        Soap::Fault(f) => Ok(Some(XRoadError::relayed(
            f.code.unwrap_or_default(),
            f.string.unwrap_or_default(),
            f.actor.unwrap_or_default(),
            f.detail.unwrap_or_default(),
            bytes.to_vec(),
        ))),
        Soap::Message(_) => Ok(None),
    }
}

/// A streamed HTTP body.
pub type Body = http_body_util::combinators::BoxBody<Bytes, io::Error>;

/// A body whose bytes are pushed through the returned sender.
pub fn channel_body(depth: usize) -> (BodySender, Body) {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, io::Error>>(depth.max(1));
    let stream = tokio_stream_from(rx);
    (
        BodySender { tx },
        http_body_util::StreamBody::new(stream).boxed(),
    )
}

/// A whole body at once.
pub fn full_body(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

fn tokio_stream_from(
    mut rx: mpsc::Receiver<Result<Frame<Bytes>, io::Error>>,
) -> impl futures_core::Stream<Item = Result<Frame<Bytes>, io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Pushes body bytes; dropping it ends the body.
#[derive(Debug, Clone)]
pub struct BodySender {
    tx: mpsc::Sender<Result<Frame<Bytes>, io::Error>>,
}

fn receiver_gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the receiver of the body went away",
    )
}

impl BodySender {
    /// Sends bytes.
    pub async fn send(&self, bytes: Bytes) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.tx
            .send(Ok(Frame::data(bytes)))
            .await
            .map_err(|_| receiver_gone())
    }

    /// Sends a spooled part.
    pub async fn send_spooled(&self, part: &Spooled) -> io::Result<()> {
        part.for_each_chunk(|c| self.send(c)).await
    }

    /// Ends the body with an error (the peer sees the connection abort).
    pub async fn abort(&self, e: io::Error) {
        let _ = self.tx.send(Err(e)).await;
    }
}

/// Part bodies up to this size are copied into one frame with the framing around them.
const COALESCE_LIMIT: usize = 64 * 1024;

/// Whether a message made of `parts` is written whole in memory rather than streamed: every
/// part is in memory and together they fit one frame. The body is then complete before hyper
/// polls it, so its head and body leave in one write (one TLS record, one `send`) with a
/// `Content-Length`, and no task or channel is needed to produce it.
pub fn in_memory<'a>(parts: impl IntoIterator<Item = &'a Spooled>) -> bool {
    let mut total = 0usize;
    parts.into_iter().all(|p| {
        total = total.saturating_add(p.as_memory().map_or(usize::MAX, Bytes::len));
        total <= COALESCE_LIMIT
    })
}

/// A transport message body written by `write`: whole, right here, when `in_memory` (see
/// [`in_memory`]), else streamed by a task of its own as `write` produces it. Returns the HTTP
/// `Content-Type` and the body. `what` names the message in the log when streaming fails (the
/// receiver went away or a spooled part could not be read).
pub async fn message_body<F, Fut>(
    in_memory: bool,
    what: &'static str,
    write: F,
) -> Result<(String, Body), XRoadError>
where
    F: FnOnce(TransportWriter) -> Fut,
    Fut: std::future::Future<Output = io::Result<Bytes>> + Send + 'static,
{
    if in_memory {
        let (w, ct) = TransportWriter::buffered()?;
        let bytes = write(w).await.map_err(|e| {
            XRoadError::new(ErrorCode::InternalError, format!("{what} not written: {e}"))
        })?;
        return Ok((ct, full_body(bytes)));
    }
    let (tx, body) = channel_body(8);
    let (w, ct) = TransportWriter::with_sender(Some(tx))?;
    let writing = write(w);
    tokio::spawn(async move {
        if let Err(e) = writing.await {
            tracing::info!("{what} not sent whole: {e}");
        }
    });
    Ok((ct, body))
}

/// Writes a transport message part by part with Java's framing, streaming it through a
/// [`BodySender`], or keeping it whole in memory (see [`message_body`]).
pub struct TransportWriter {
    tx: Option<BodySender>,
    top: MultipartWriter,
    boundaries: Boundaries,
    buf: Vec<u8>,
}

fn mime_io(e: xroad_mime::MimeError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl TransportWriter {
    /// A writer with fresh boundaries streaming through `tx`; returns it and the HTTP
    /// `Content-Type`.
    pub fn new(tx: BodySender) -> Result<(TransportWriter, String), XRoadError> {
        Self::with_sender(Some(tx))
    }

    /// A writer keeping the whole message in memory: the finishing call returns it. Its
    /// calls never wait for anything but the reading of a spooled file part.
    pub fn buffered() -> Result<(TransportWriter, String), XRoadError> {
        Self::with_sender(None)
    }

    fn with_sender(tx: Option<BodySender>) -> Result<(TransportWriter, String), XRoadError> {
        let boundaries = Boundaries::generate()
            .map_err(|e| XRoadError::new(ErrorCode::InternalError, e.to_string()))?;
        let top = MultipartWriter::new(boundaries.top())
            .map_err(|e| XRoadError::new(ErrorCode::InternalError, e.to_string()))?;
        let ct = multipart_mixed_content_type(boundaries.top());
        Ok((
            TransportWriter {
                // Kept whole: most messages fit 8 KB, one allocation instead of a dozen.
                buf: if tx.is_none() {
                    Vec::with_capacity(COALESCE_LIMIT / 8)
                } else {
                    Vec::new()
                },
                tx,
                top,
                boundaries,
            },
            ct,
        ))
    }

    /// Sends what is pending; without a sender, it stays.
    async fn flush(&mut self) -> io::Result<()> {
        match &self.tx {
            Some(tx) => tx.send(Bytes::from(std::mem::take(&mut self.buf))).await,
            None => Ok(()),
        }
    }

    /// Appends a part body: small ones join the pending framing, so that a small message
    /// leaves as one frame (one TLS record and one write instead of one per header and
    /// part); large ones are sent as they are, after what is pending.
    async fn body(&mut self, body: Bytes) -> io::Result<()> {
        match &self.tx {
            Some(tx) if self.buf.len() + body.len() > COALESCE_LIMIT => {
                tx.send(Bytes::from(std::mem::take(&mut self.buf))).await?;
                tx.send(body).await
            }
            _ => {
                self.buf.extend_from_slice(&body);
                Ok(())
            }
        }
    }

    async fn spooled_body(&mut self, body: &Spooled) -> io::Result<()> {
        match (body.as_memory(), &self.tx) {
            (Some(b), _) => self.body(b.clone()).await,
            (None, Some(tx)) => {
                tx.send(Bytes::from(std::mem::take(&mut self.buf))).await?;
                tx.send_spooled(body).await
            }
            (None, None) => {
                let b = body.to_bytes().await?;
                self.buf.extend_from_slice(&b);
                Ok(())
            }
        }
    }

    /// Writes a part whose body is in memory.
    pub async fn part(
        &mut self,
        content_type: &str,
        headers: &[(String, String)],
        body: Bytes,
    ) -> io::Result<()> {
        self.top
            .start_part(
                &mut self.buf,
                content_type,
                headers.iter().map(|(n, v)| (n, v)),
            )
            .map_err(mime_io)?;
        self.body(body).await
    }

    /// Writes a spooled part.
    pub async fn spooled_part(
        &mut self,
        content_type: &str,
        headers: &[(String, String)],
        body: &Spooled,
    ) -> io::Result<()> {
        self.top
            .start_part(
                &mut self.buf,
                content_type,
                headers.iter().map(|(n, v)| (n, v)),
            )
            .map_err(mime_io)?;
        self.spooled_body(body).await
    }

    /// Writes SOAP attachments as the nested `multipart/mixed` part.
    pub async fn attachments(&mut self, attachments: &[Attachment]) -> io::Result<()> {
        if attachments.is_empty() {
            return Ok(());
        }
        let inner_boundary = self.boundaries.attachment().to_owned();
        self.top
            .start_part(
                &mut self.buf,
                &multipart_mixed_content_type(&inner_boundary),
                None::<(&str, &str)>,
            )
            .map_err(mime_io)?;
        let mut nested = MultipartWriter::nested(&inner_boundary).map_err(mime_io)?;
        for a in attachments {
            nested
                .start_part(
                    &mut self.buf,
                    &a.content_type,
                    a.headers.iter().map(|(n, v)| (n, v)),
                )
                .map_err(mime_io)?;
            self.spooled_body(&a.data).await?;
        }
        nested.finish(&mut self.buf);
        Ok(())
    }

    /// Writes the hash chain parts (for a batch signature) and the signature of `signed`,
    /// then closes the multipart and the body. Returns the message when it was kept in
    /// memory, else nothing (it has been sent).
    pub async fn finish_signed(
        mut self,
        signed: &xroad_signer::SignedMessage,
    ) -> io::Result<Bytes> {
        if let Some(hc) = &signed.hash_chain {
            self.part(HASH_CHAIN_RESULT, &[], Bytes::from(hc.result.to_vec()))
                .await?;
            self.part(HASH_CHAIN, &[], Bytes::from(hc.chain.clone()))
                .await?;
        }
        self.part(SIGNATURE, &[], Bytes::from(signed.signature.to_vec()))
            .await?;
        self.finish().await
    }

    /// Writes a SOAP fault part (instead of the signature), then closes the multipart and
    /// the body. Returns what [`TransportWriter::finish_signed`] does.
    pub async fn finish_with_fault(mut self, fault_xml: Bytes) -> io::Result<Bytes> {
        self.part(FAULT_PART, &[], fault_xml).await?;
        self.finish().await
    }

    /// Closes the multipart and the body. Returns what [`TransportWriter::finish_signed`]
    /// does.
    pub async fn finish(mut self) -> io::Result<Bytes> {
        let top = self.top.clone();
        top.finish(&mut self.buf);
        self.flush().await?;
        Ok(Bytes::from(self.buf))
    }

    /// The sender, to abort the body; `None` when the message is kept in memory.
    pub fn sender(&self) -> Option<&BodySender> {
        self.tx.as_ref()
    }
}

/// Sends a spooled part as a whole body: at once when it is in memory, else streamed by a
/// task of its own.
pub fn spooled_body(data: Spooled) -> Body {
    if let Some(b) = data.as_memory() {
        return full_body(b.clone());
    }
    let (tx, body) = channel_body(4);
    tokio::spawn(async move {
        if let Err(e) = tx.send_spooled(&data).await {
            tx.abort(e).await;
        }
    });
    body
}

/// A SOAP-with-attachments package towards an information system: the SOAP part and the
/// attachments, each with its content type and other MIME headers, framed as Java's
/// `MultipartSoapMessageEncoder` does with `boundary`.
pub fn soap_package(boundary: &str, parts: Vec<Attachment>) -> Result<Body, XRoadError> {
    let mut writer = MultipartWriter::soap_encoder(boundary)
        .map_err(|e| XRoadError::new(ErrorCode::InternalError, e.to_string()))?;
    if in_memory(parts.iter().map(|p| &p.data)) {
        let mut buf = Vec::new();
        for p in &parts {
            start_package_part(&mut writer, &mut buf, p)
                .map_err(|e| XRoadError::new(ErrorCode::InternalError, e.to_string()))?;
            buf.extend_from_slice(p.data.as_memory().map_or(&[][..], |b| b));
        }
        writer.finish(&mut buf);
        return Ok(full_body(buf));
    }
    let (tx, body) = channel_body(8);
    tokio::spawn(async move {
        let result = async {
            let mut buf = Vec::new();
            for p in &parts {
                start_package_part(&mut writer, &mut buf, p)?;
                tx.send(Bytes::from(std::mem::take(&mut buf))).await?;
                tx.send_spooled(&p.data).await?;
            }
            writer.finish(&mut buf);
            tx.send(Bytes::from(buf)).await
        }
        .await;
        if let Err(e) = result {
            tx.abort(e).await;
        }
    });
    Ok(body)
}

/// Writes the delimiter and MIME headers of a package part.
fn start_package_part(
    writer: &mut MultipartWriter,
    buf: &mut Vec<u8>,
    p: &Attachment,
) -> io::Result<()> {
    writer
        .start_part(buf, &p.content_type, p.headers.iter().map(|(n, v)| (n, v)))
        .map_err(mime_io)
}

/// The `boundary` of a multipart content type, if it has one.
pub fn boundary_of(content_type: &str) -> Option<String> {
    xroad_mime::ContentType::parse(content_type)
        .ok()
        .and_then(|c| c.multipart_boundary().ok().map(str::to_owned))
}

/// Reads a whole HTTP body into a decoder, chunk by chunk. A body that ends early (the peer
/// closed the connection mid-message) is an `io_error`, as Java's `ConnectionClosedException`
/// / `EofException` (`IOException`s that are not `SocketException`s). Returns the bytes read
/// (counted in the metrics).
pub async fn read_body<B>(
    body: B,
    feed: impl FnMut(&[u8]) -> Result<(), XRoadError>,
) -> Result<u64, XRoadError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    read_body_idle(std::time::Duration::ZERO, body, feed).await
}

/// [`read_body`], failing as Java's socket read timeout does when no data comes for `idle`
/// (zero: no limit), e.g. a peer security server's response under the client timeout.
pub async fn read_body_idle<B>(
    idle: std::time::Duration,
    mut body: B,
    mut feed: impl FnMut(&[u8]) -> Result<(), XRoadError>,
) -> Result<u64, XRoadError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut total = 0u64;
    loop {
        let next = body.frame();
        let frame = if idle.is_zero() {
            Ok(next.await)
        } else {
            tokio::time::timeout(idle, next).await
        };
        let frame = match frame {
            Err(_) => {
                tracing::info!("the message body paused for {} s", idle.as_secs());
                return Err(XRoadError::new(ErrorCode::IoError, "Read timed out"));
            }
            Ok(None) => return Ok(total),
            Ok(Some(frame)) => frame.map_err(|e| {
                XRoadError::new(
                    ErrorCode::IoError,
                    format!("Error reading the message body: {e}"),
                )
            })?,
        };
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            feed(&data)?;
        }
    }
}

#[cfg(test)]
mod tests;
