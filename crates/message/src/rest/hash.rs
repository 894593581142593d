//! The REST request hash: what the provider returns in `x-road-request-hash` and the consumer
//! recomputes.

use base64::Engine;
use ring::digest::{Context, Digest, SHA512};

fn to_array(digest: Digest) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (o, b) in out.iter_mut().zip(digest.as_ref()) {
        *o = *b;
    }
    out
}

/// SHA-512 of the request, as X-Road defines it: `SHA-512(H_hdr ‖ H_body)` if the request
/// had a body part, else `H_hdr`, where `H_hdr` is the SHA-512 of the header part
/// ([`super::RestRequest::header_part_bytes`]) and `H_body` the SHA-512 of the body
/// ([`BodyHasher`]); `‖` joins the two raw digests.
pub fn request_digest(header_part: &[u8], body_digest: Option<[u8; 64]>) -> [u8; 64] {
    let header_digest = ring::digest::digest(&SHA512, header_part);
    match body_digest {
        None => to_array(header_digest),
        Some(body) => {
            let mut ctx = Context::new(&SHA512);
            ctx.update(header_digest.as_ref());
            ctx.update(&body);
            to_array(ctx.finish())
        }
    }
}

/// The `x-road-request-hash` value: base64 of [`request_digest`].
pub fn request_hash(header_part: &[u8], body_digest: Option<[u8; 64]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(request_digest(header_part, body_digest))
}

/// SHA-512 of a body part as it streams past. A body part that is present but empty still
/// counts (its digest is that of no bytes), so create a hasher exactly when there is a part.
#[derive(Clone)]
pub struct BodyHasher(Context);

impl Default for BodyHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for BodyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyHasher")
    }
}

impl BodyHasher {
    /// A hasher with no bytes seen yet.
    pub fn new() -> Self {
        BodyHasher(Context::new(&SHA512))
    }

    /// Adds the next chunk of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        self.0.update(chunk);
    }

    /// The body digest, for [`request_digest`].
    pub fn finish(self) -> [u8; 64] {
        to_array(self.0.finish())
    }
}
