//! ASiC-E containers written by an X-Road message log (`*-signed-message.asice`), verified
//! as X-Road's `asicverifier` does: the time-stamp against the approved TSAs, then the
//! signature, hash chains, certificate path and OCSP at the time-stamp's time.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use xroad_crypto::hashchain::{self, ChainInput, MapResolver};
use xroad_crypto::signature::{self, HashChainParts, Part, VerifyOptions};
use xroad_crypto::timestamp::TimeStampToken;
use xroad_crypto::{Digest, DigestAlgorithm, TrustContext};
use xroad_fault::{ErrorCode, XRoadError};
use xroad_identifiers::ClientId;
use xroad_message::rest::{RestRequest, RestResponse};
use xroad_message::soap::{parse_soap, Soap};

use crate::verify::{report, Outcome};

const MIME_TYPE: &str = "application/vnd.etsi.asic-e+zip";
const MESSAGE: &str = "message.xml";
const SIGNATURE: &str = "META-INF/signatures.xml";
const SIG_CHAIN_RESULT: &str = "sig-hashchainresult.xml";
const SIG_CHAIN: &str = "sig-hashchain.xml";
const TS_CHAIN_RESULT: &str = "ts-hashchainresult.xml";
const TS_CHAIN: &str = "ts-hashchain.xml";
const TIMESTAMP: &str = "META-INF/timestamp.tst";
/// The entries read into memory (attachments are only hashed; anything else is ignored, as
/// Java ignores it). Names match whatever their case, as in Java.
const KNOWN: [&str; 8] = [
    "mimetype",
    MESSAGE,
    SIGNATURE,
    SIG_CHAIN_RESULT,
    SIG_CHAIN,
    TS_CHAIN_RESULT,
    TS_CHAIN,
    TIMESTAMP,
];
/// Each known entry is read into memory up to this size.
const MAX_ENTRY: u64 = 64 << 20;

/// The entries of a container: the known ones by their canonical name, attachments by their
/// SHA-512 digest only.
struct Container {
    entries: BTreeMap<String, Vec<u8>>,
    attachments: Vec<(String, Digest)>,
}

fn not_found(code: ErrorCode, entry: &str) -> XRoadError {
    XRoadError::new(code, format!("{entry} not found or is empty"))
}

impl Container {
    fn read(path: &Path) -> Result<Container, String> {
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| {
            format!(
                "{} is not an ASiC container (a ZIP file): {e}",
                path.display()
            )
        })?;
        let mut entries = BTreeMap::new();
        let mut attachments = Vec::new();
        for i in 0..zip.len() {
            let mut entry = zip
                .by_index(i)
                .map_err(|e| format!("{}: entry {i}: {e}", path.display()))?;
            let name = entry.name().to_owned();
            if entry.is_dir() {
                continue;
            }
            if let Some(n) = name
                .strip_prefix("attachment")
                .filter(|n| n.parse::<u32>().is_ok())
            {
                // Attachments may be large: only their digest is kept.
                let mut h = DigestAlgorithm::Sha512.hasher();
                let mut buf = vec![0; 64 << 10];
                loop {
                    let got = entry
                        .read(&mut buf)
                        .map_err(|e| format!("{}: {name}: {e}", path.display()))?;
                    if got == 0 {
                        break;
                    }
                    h.update(&buf[..got]);
                }
                attachments.push((format!("/attachment{n}"), h.finish()));
                continue;
            }
            let Some(known) = KNOWN.iter().find(|k| k.eq_ignore_ascii_case(&name)) else {
                continue;
            };
            if entry.size() > MAX_ENTRY {
                return Err(format!(
                    "{}: {name} is larger than {MAX_ENTRY} bytes",
                    path.display()
                ));
            }
            let mut bytes = Vec::new();
            entry
                .by_ref()
                .take(MAX_ENTRY + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("{}: {name}: {e}", path.display()))?;
            entries.insert((*known).to_owned(), bytes);
        }
        Ok(Container {
            entries,
            attachments,
        })
    }

    fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .get(name)
            .map(Vec::as_slice)
            .filter(|b| !b.is_empty())
    }

    /// The structural checks of Java's `AsicContainer.read`.
    fn check(&self) -> Result<(), XRoadError> {
        let mime = self
            .get("mimetype")
            .ok_or_else(|| not_found(ErrorCode::AsicMimeTypeNotFound, "mimetype"))?;
        let mime = String::from_utf8_lossy(mime);
        if !mime.eq_ignore_ascii_case(MIME_TYPE) {
            return Err(XRoadError::new(
                ErrorCode::AsicInvalidMimeType,
                format!("Invalid mime type: {mime}"),
            ));
        }
        self.get(MESSAGE)
            .ok_or_else(|| not_found(ErrorCode::AsicMessageNotFound, MESSAGE))?;
        self.get(SIGNATURE)
            .ok_or_else(|| not_found(ErrorCode::AsicSignatureNotFound, SIGNATURE))?;
        for (result, chain) in [(SIG_CHAIN_RESULT, SIG_CHAIN), (TS_CHAIN_RESULT, TS_CHAIN)] {
            match (self.get(result), self.get(chain)) {
                (Some(_), None) => return Err(not_found(ErrorCode::AsicHashChainNotFound, chain)),
                (None, Some(_)) => {
                    return Err(not_found(ErrorCode::AsicHashChainResultNotFound, result))
                }
                _ => {}
            }
        }
        if self.entries.contains_key(TIMESTAMP) && self.get(TIMESTAMP).is_none() {
            return Err(not_found(ErrorCode::AsicTimestampNotFound, TIMESTAMP));
        }
        Ok(())
    }

    /// Every entry by URI (`/name`), for hash chains that refer to them.
    fn resolver(&self) -> MapResolver {
        self.entries
            .iter()
            .fold(MapResolver::new(), |r, (name, bytes)| {
                r.with(format!("/{name}"), bytes.clone())
            })
    }
}

/// The member that signed `message`: the client of a request, the provider of a response.
fn signer_of(message: &[u8]) -> Result<ClientId, XRoadError> {
    match parse_soap(message) {
        Ok(Soap::Message(m)) => Ok(if m.response {
            m.header.service.provider().clone()
        } else {
            m.header.client
        }),
        Ok(Soap::Fault(_)) => Err(XRoadError::new(
            ErrorCode::InternalError,
            "the message is a SOAP fault",
        )),
        Err(_) if message.first().is_some_and(|b| (b'1'..=b'9').contains(b)) => {
            RestResponse::parse(message)
                .ok()
                .and_then(|r| r.service().map(|s| s.provider().clone()))
                .ok_or_else(|| XRoadError::new(ErrorCode::InternalError, "Invalid message"))
        }
        Err(_) => RestRequest::parse(message)
            .map(|r| r.client().clone())
            .map_err(|_| XRoadError::new(ErrorCode::InternalError, "Invalid message")),
    }
}

/// Verifies the container at `path`.
pub fn verify_container(path: &Path, trust: &TrustContext) -> Result<Outcome, String> {
    let container = Container::read(path)?;
    Ok(match verify(&container, trust) {
        Ok(report) => Outcome::Valid(report),
        Err(e) => Outcome::Invalid(e),
    })
}

fn verify(c: &Container, trust: &TrustContext) -> Result<String, XRoadError> {
    c.check()?;
    let message = c.get(MESSAGE).unwrap_or_default();
    let xml = c.get(SIGNATURE).unwrap_or_default();
    let signer = signer_of(message)?;
    let chained = c.get(SIG_CHAIN_RESULT).zip(c.get(SIG_CHAIN));
    if !signature::references_any(xml, &["/message.xml", "/sig-hashchainresult.xml"])? {
        return Err(XRoadError::new(
            ErrorCode::MalformedSignature,
            "Signature does not reference '/message.xml' or '/sig-hashchainresult.xml'",
        ));
    }

    // The time-stamp: in its own entry (batch time-stamps) or inside the signature.
    let (value, embedded) = signature::signature_value_and_timestamp(xml)?;
    let token_der = match c.get(TIMESTAMP) {
        Some(t) => t.to_vec(),
        None => embedded.ok_or_else(|| {
            XRoadError::new(
                ErrorCode::MalformedSignature,
                "Could not find element \"EncapsulatedTimeStamp\"",
            )
        })?,
    };
    let token = TimeStampToken::from_der(&token_der)?;
    let stamped: &[u8] = match c.get(TS_CHAIN_RESULT) {
        Some(result) => {
            let input = [ChainInput {
                uri: "/META-INF/signatures.xml",
                digest: None,
            }];
            hashchain::verify(result, &c.resolver(), &input).map_err(|e| {
                XRoadError::new(
                    ErrorCode::MalformedSignature,
                    format!("Failed to verify time-stamp hash chain: {}", e.message()),
                )
            })?;
            result
        }
        None => &value,
    };
    let tsa = token.verify(stamped, trust.tsa_certs())?;
    let at = token.gen_time();

    let message_digest = DigestAlgorithm::Sha512.digest(message);
    let mut parts = vec![Part {
        uri: "/message.xml",
        digest: message_digest,
        bytes: Some(message),
    }];
    parts.extend(c.attachments.iter().map(|(uri, d)| Part::new(uri, *d)));
    let hash_chain = chained.map(|(result, chain)| HashChainParts { result, chain });
    // The signature in a container may carry a time-stamp the schema does not know.
    let options = VerifyOptions {
        check_schema: false,
    };
    let verified = signature::verify_with(xml, &signer, &parts, hash_chain, trust, at, options)?;
    let extra = format!(
        "time-stamp: {}\n  signed by: {}\n",
        xroad_crypto::time::format_xsd_millis(at),
        tsa.subject()
    );
    Ok(report(&verified, at, Some(&extra)))
}
