//! The REST request hash: what the provider returns in `x-road-request-hash` and the consumer
//! recomputes.

use base64::Engine;
use openssl::sha::{sha512, Sha512};

/// SHA-512 of the request, as X-Road defines it: `SHA-512(H_hdr ‖ H_body)` if the request
/// had a body part, else `H_hdr`, where `H_hdr` is the SHA-512 of the header part
/// ([`super::RestRequest::header_part_bytes`]) and `H_body` the SHA-512 of the body
/// ([`BodyHasher`]); `‖` joins the two raw digests.
pub fn request_digest(header_part: &[u8], body_digest: Option<[u8; 64]>) -> [u8; 64] {
    let header_digest = sha512(header_part);
    match body_digest {
        None => header_digest,
        Some(body) => {
            let mut ctx = Sha512::new();
            ctx.update(&header_digest);
            ctx.update(&body);
            ctx.finish()
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
pub struct BodyHasher(Sha512);

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
        BodyHasher(Sha512::new())
    }

    /// Adds the next chunk of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        self.0.update(chunk);
    }

    /// The body digest, for [`request_digest`].
    pub fn finish(self) -> [u8; 64] {
        self.0.finish()
    }
}
