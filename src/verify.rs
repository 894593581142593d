//! `xroad-sidecar verify`: checks an X-Road message signature offline, as X-Road's
//! `asicverifier` does, against a global configuration directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Args;
use xroad_crypto::signature::{self, HashChainParts, Part, Verified};
use xroad_crypto::{DigestAlgorithm, TrustContext};
use xroad_fault::{Spelling, XRoadError};
use xroad_globalconf::ConfigurationDirectory;
use xroad_identifiers::ClientId;

use crate::asic;

/// Arguments of `verify`.
#[derive(Debug, Args)]
#[command(
    after_help = "Either an ASiC container written by an X-Road message log:\n  \
                  xroad-sidecar verify MESSAGE.asice --globalconf DIR\n\
                  or a signature with its parts:\n  \
                  xroad-sidecar verify --signature FILE --part /message.xml=FILE [--part /attachment1=FILE ...] \
                  [--hash-chain-result FILE --hash-chain FILE] --signer ID --globalconf DIR --at TIME\n\n\
                  Prints `valid` and the signer (exit 0), or `invalid` with the X-Road error code and the \
                  reason (exit 1); exit 2 when the command cannot run."
)]
pub struct VerifyArgs {
    /// An ASiC container (`*-signed-message.asice`) to verify.
    #[arg(conflicts_with_all = ["signature", "parts", "signer", "at"])]
    container: Option<PathBuf>,
    /// The global configuration directory (as the configuration client writes it).
    #[arg(long, value_name = "DIR")]
    globalconf: PathBuf,
    /// A signature document (`asic:XAdESSignatures`).
    #[arg(long, value_name = "FILE", requires_all = ["signer", "at"])]
    signature: Option<PathBuf>,
    /// A signed part, `URI=FILE`: `/message.xml=message.xml`, `/attachment1=file.bin`.
    #[arg(long = "part", value_name = "URI=FILE")]
    parts: Vec<String>,
    /// The hash-chain result of a batch signature.
    #[arg(long, value_name = "FILE", requires = "hash_chain")]
    hash_chain_result: Option<PathBuf>,
    /// The hash chain of a batch signature.
    #[arg(long, value_name = "FILE", requires = "hash_chain_result")]
    hash_chain: Option<PathBuf>,
    /// The member the signature claims: `INSTANCE/CLASS/CODE[/SUBSYSTEM]`, optionally with a
    /// `MEMBER:` or `SUBSYSTEM:` prefix.
    #[arg(long, value_name = "ID")]
    signer: Option<String>,
    /// The verification instant (ISO 8601: `2024-07-09`, `2024-07-09T08:00:00Z`); `now` for
    /// the current time.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
}

/// Runs the command.
pub fn run(args: &VerifyArgs) -> ExitCode {
    match verify(args) {
        Ok(Outcome::Valid(report)) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Ok(Outcome::Invalid(e)) => {
            println!("invalid");
            println!("error: {}", e.fault_code(Spelling::Current));
            println!("reason: {}", e.message());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("xroad-sidecar verify: {e}");
            ExitCode::from(2)
        }
    }
}

/// The verdict.
pub enum Outcome {
    /// Verified: the report to print.
    Valid(String),
    /// Not verified: why.
    Invalid(XRoadError),
}

fn verify(args: &VerifyArgs) -> Result<Outcome, String> {
    let trust = load_trust(&args.globalconf)?;
    if let Some(container) = &args.container {
        return asic::verify_container(container, &trust);
    }
    let Some(signature_file) = &args.signature else {
        return Err("give an ASiC container, or --signature with --part, --signer and --at".into());
    };
    let signer = parse_signer(args.signer.as_deref().unwrap_or(""))?;
    let at = parse_at(args.at.as_deref().unwrap_or(""))?;
    let xml = read(signature_file)?;
    let mut owned = Vec::new();
    for spec in &args.parts {
        let (uri, file) = spec
            .split_once('=')
            .ok_or_else(|| format!("--part '{spec}' is not URI=FILE"))?;
        if !uri.starts_with('/') {
            return Err(format!(
                "--part '{spec}': the URI must start with '/', e.g. /message.xml"
            ));
        }
        let (digest, bytes) = digest_file(Path::new(file))?;
        owned.push((uri.to_owned(), digest, bytes));
    }
    let parts: Vec<Part<'_>> = owned
        .iter()
        .map(|(uri, digest, bytes)| Part {
            uri,
            digest: *digest,
            bytes: bytes.as_deref(),
        })
        .collect();
    let chain_files = match (&args.hash_chain_result, &args.hash_chain) {
        (Some(r), Some(c)) => Some((read(r)?, read(c)?)),
        _ => None,
    };
    let hash_chain = chain_files.as_ref().map(|(r, c)| HashChainParts {
        result: r,
        chain: c,
    });
    Ok(
        match signature::verify(&xml, &signer, &parts, hash_chain, &trust, at) {
            Ok(v) => Outcome::Valid(report(&v, at, None)),
            Err(e) => Outcome::Invalid(e),
        },
    )
}

/// The trust of a configuration directory, with what was skipped reported on stderr.
fn load_trust(dir: &Path) -> Result<TrustContext, String> {
    let conf = ConfigurationDirectory::load(dir)
        .map_err(|e| format!("global configuration {}: {}", dir.display(), e.message()))?;
    for (file, why) in &conf.skipped {
        eprintln!("warning: skipped {}: {why}", file.display());
    }
    conf.trust_context()
        .map_err(|e| format!("global configuration {}: {}", dir.display(), e.message()))
}

/// Parts are kept in memory up to this size (a signature that digests a part with another
/// algorithm than SHA-512 needs its bytes); larger ones are only hashed as they stream.
const KEEP_PART_BYTES: u64 = 64 << 20;

/// The SHA-512 of a part file, streamed, and its bytes when it is small.
fn digest_file(path: &Path) -> Result<(xroad_crypto::Digest, Option<Vec<u8>>), String> {
    use std::io::Read;
    let fail = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let mut file = std::fs::File::open(path).map_err(fail)?;
    let small = file.metadata().map_err(fail)?.len() <= KEEP_PART_BYTES;
    if small {
        let bytes = read(path)?;
        return Ok((DigestAlgorithm::Sha512.digest(&bytes), Some(bytes)));
    }
    let mut h = DigestAlgorithm::Sha512.hasher();
    let mut buf = vec![0; 64 << 10];
    loop {
        let n = file.read(&mut buf).map_err(fail)?;
        if n == 0 {
            return Ok((h.finish(), None));
        }
        h.update(&buf[..n]);
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn parse_signer(text: &str) -> Result<ClientId, String> {
    let bare = text
        .strip_prefix("MEMBER:")
        .or_else(|| text.strip_prefix("SUBSYSTEM:"))
        .unwrap_or(text);
    ClientId::from_rest(bare).map_err(|e| format!("--signer '{text}': {e}"))
}

fn parse_at(text: &str) -> Result<SystemTime, String> {
    if text == "now" {
        return Ok(SystemTime::now());
    }
    xroad_crypto::time::parse_instant(text).ok_or_else(|| {
        format!("--at '{text}' is not an ISO 8601 date or date-time (e.g. 2024-07-09T08:00:00Z)")
    })
}

/// The report of a valid signature.
pub fn report(v: &Verified, at: SystemTime, extra: Option<&str>) -> String {
    use std::fmt::Write;
    let cert = &v.signing_cert;
    let (from, until) = cert.validity();
    let t = |s: i64| xroad_crypto::time::format_xsd_millis(xroad_crypto::time::from_unix(s));
    let mut out = String::from("valid\n");
    let _ = writeln!(out, "signer: {}", v.signer);
    let _ = writeln!(out, "certificate: {}", cert.subject());
    let _ = writeln!(out, "  issuer: {}", cert.issuer());
    let _ = writeln!(out, "  serial number: {}", cert.serial_decimal());
    let _ = writeln!(out, "  valid: {} .. {}", t(from), t(until));
    if let Some(time) = &v.signing_time {
        let _ = writeln!(out, "signing time: {time}");
    }
    for r in &v.ocsp_responses {
        let _ = writeln!(
            out,
            "ocsp response: produced {}",
            xroad_crypto::time::format_xsd_millis(r.produced_at())
        );
    }
    let _ = writeln!(
        out,
        "verified at: {}",
        xroad_crypto::time::format_xsd_millis(at)
    );
    if let Some(e) = extra {
        out.push_str(e);
    }
    out
}
