//! `xroad-sidecar token|keys|csr|certs`: the signer's tokens, keys, certificate requests and
//! certificates in a signer directory (Java's layout: `keyconf.xml` and `softtoken/`).
//!
//! PINs are never taken as arguments (they would show in the process list): they come from
//! `XROAD_TOKEN_PIN` (and `XROAD_TOKEN_NEW_PIN` for `set-pin`) or from standard input, one
//! per line. This process logs the token in for the one command; a running server logs in
//! through autologin.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use xroad_crypto::profile::CertificateProfile;
use xroad_globalconf::{ConfigurationDirectory, PrioritizationStrategy};
use xroad_identifiers::{ClientId, SecurityServerId};
use xroad_signer::csr::{CsrFormat, SubjectParams};
use xroad_signer::ocsp::{OcspManager, OcspSettings};
use xroad_signer::{
    ChainCheck, KeyAlgorithm, KeyUsage, Pin, PinPolicy, Signer, SignerConfig, SignerError,
    SOFT_TOKEN_ID,
};

/// Signer commands.
#[derive(Debug, Subcommand)]
pub enum SignerCommand {
    /// Tokens: status, PIN check (login/logout), software token creation, PIN change,
    /// import of a Java signer directory.
    Token {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Keys: generate, list, delete.
    Keys {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Certificate signing requests.
    Csr {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: CsrCommand,
    },
    /// Certificates: import, list (with OCSP state), activate, deactivate, fetch OCSP.
    Certs {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: CertsCommand,
    },
}

/// Where the signer lives.
#[derive(Debug, Args)]
pub struct Common {
    /// The signer directory (keyconf.xml, softtoken/).
    #[arg(
        long,
        global = true,
        env = "XROAD_SIGNER_DIR",
        default_value = "/etc/xroad/signer"
    )]
    signer_dir: PathBuf,
    /// devices.ini of PKCS#11 modules.
    #[arg(long, global = true, env = "XROAD_DEVICES_INI")]
    devices_ini: Option<PathBuf>,
    /// Enforce the token PIN policy (10+ characters from 3 classes) on new PINs.
    #[arg(long, global = true)]
    enforce_pin_policy: bool,
}

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// List tokens with their state.
    Status,
    /// Check a token's PIN by logging in (PIN from XROAD_TOKEN_PIN or stdin).
    Login {
        /// Token id.
        #[arg(long, default_value = SOFT_TOKEN_ID)]
        token: String,
    },
    /// Log a token out (a no-op for this one-shot process; kept for symmetry).
    Logout {
        /// Token id.
        #[arg(long, default_value = SOFT_TOKEN_ID)]
        token: String,
    },
    /// Create the software token with a PIN (XROAD_TOKEN_PIN or stdin).
    Init,
    /// Change the software token's PIN: old from XROAD_TOKEN_PIN or stdin line 1, new from
    /// XROAD_TOKEN_NEW_PIN or stdin line 2.
    SetPin {
        /// Token id.
        #[arg(long, default_value = SOFT_TOKEN_ID)]
        token: String,
    },
    /// Import a Java signer directory (keyconf.xml, softtoken/*.p12) with its PIN.
    ImportJava {
        /// The Java signer directory (a copy of /etc/xroad/signer).
        dir: PathBuf,
    },
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a key (rsa2048, rsa3072, rsa4096, ec-p256, ec-p384).
    Generate {
        /// Token id.
        #[arg(long, default_value = SOFT_TOKEN_ID)]
        token: String,
        /// Key algorithm.
        #[arg(long, default_value = "rsa2048")]
        algorithm: String,
        /// Label.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List keys.
    List,
    /// Delete a key from its token.
    Delete {
        /// Key id.
        key: String,
    },
}

/// `csr` subcommands.
#[derive(Debug, Subcommand)]
pub enum CsrCommand {
    /// Generate a certificate signing request with the subject the CA's profile requires.
    Generate(CsrArgs),
}

/// `csr generate` options.
#[derive(Debug, Args)]
pub struct CsrArgs {
    /// Key id.
    #[arg(long)]
    key: String,
    /// sign or auth.
    #[arg(long)]
    usage: String,
    /// The certificate profile: a Java class name or its short form (Ejbca, Basic,
    /// BasicACME, FiVRK, Fo, Is, SkKlass3).
    #[arg(long)]
    profile: String,
    /// This security server's owner, INSTANCE/CLASS/CODE.
    #[arg(long)]
    owner: String,
    /// This security server's code.
    #[arg(long)]
    server_code: String,
    /// The member a signing key is for (default: the owner), INSTANCE/CLASS/CODE.
    #[arg(long)]
    member: Option<String>,
    /// The member's name.
    #[arg(long, default_value = "")]
    member_name: String,
    /// Values of editable subject fields, FIELD=VALUE (e.g. O=Org, CN=host,
    /// subjectAltName=host).
    #[arg(long = "field")]
    fields: Vec<String>,
    /// pem or der.
    #[arg(long, default_value = "pem")]
    format: String,
    /// Where to write the request (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `certs` subcommands.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Import a certificate (PEM or DER) and match it to its key.
    Import {
        /// The certificate file.
        file: PathBuf,
        /// The member of a signing certificate, INSTANCE/CLASS/CODE (default: read from the
        /// certificate through the CA's profile).
        #[arg(long)]
        member: Option<String>,
        /// The global configuration directory whose approved CAs the chain is checked
        /// against.
        #[arg(long)]
        globalconf: Option<PathBuf>,
        /// Import without a chain check (no global configuration at hand).
        #[arg(long)]
        skip_chain_check: bool,
        /// Initial status (default: registered for signing, saved for auth certificates).
        #[arg(long)]
        status: Option<String>,
    },
    /// List certificates with status and OCSP state.
    List {
        /// The OCSP cache directory (default: <signer-dir>/ocsp-cache).
        #[arg(long)]
        ocsp_cache: Option<PathBuf>,
    },
    /// Activate a certificate (by SHA-1 hex id).
    Activate {
        /// Certificate id.
        id: String,
    },
    /// Deactivate a certificate.
    Deactivate {
        /// Certificate id.
        id: String,
    },
    /// Fetch OCSP responses for the active, registered certificates now.
    Ocsp {
        /// The global configuration directory (responders, approved CAs).
        #[arg(long)]
        globalconf: PathBuf,
        /// The OCSP cache directory (default: <signer-dir>/ocsp-cache).
        #[arg(long)]
        ocsp_cache: Option<PathBuf>,
        /// NONE, ONLY_FREE, ONLY_PAID, FREE_FIRST or PAID_FIRST.
        #[arg(long, default_value = "NONE")]
        prioritization: String,
    },
}

/// Runs a signer command.
pub fn run(command: SignerCommand) -> ExitCode {
    let result = match command {
        SignerCommand::Token { common, command } => token(&common, command),
        SignerCommand::Keys { common, command } => keys(&common, command),
        SignerCommand::Csr {
            common,
            command: CsrCommand::Generate(args),
        } => csr(&common, &args),
        SignerCommand::Certs { common, command } => certs(&common, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type CmdResult = Result<(), String>;

fn err(e: SignerError) -> String {
    format!("{e} ({})", e.code())
}

fn open(c: &Common) -> Result<Signer, String> {
    Signer::open(SignerConfig {
        devices_ini: c.devices_ini.clone(),
        pin_policy: if c.enforce_pin_policy {
            PinPolicy::Enforced
        } else {
            PinPolicy::None
        },
        ..SignerConfig::new(&c.signer_dir)
    })
    .map_err(err)
}

/// PINs from `var` or the next line of stdin.
struct PinReader {
    lines: std::io::Lines<std::io::StdinLock<'static>>,
}

impl PinReader {
    fn new() -> Self {
        PinReader {
            lines: std::io::stdin().lock().lines(),
        }
    }

    fn pin(&mut self, var: &str, what: &str) -> Result<Pin, String> {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                return Ok(Pin::new(v));
            }
        }
        eprintln!("{what} (or set {var}):");
        match self.lines.next() {
            Some(Ok(line)) if !line.trim_end_matches('\r').is_empty() => {
                Ok(Pin::new(line.trim_end_matches('\r')))
            }
            _ => Err(format!("no {what}: set {var} or give it on standard input")),
        }
    }
}

fn login(signer: &Signer, token: &str, pins: &mut PinReader) -> CmdResult {
    let pin = pins.pin("XROAD_TOKEN_PIN", &format!("PIN of token {token}"))?;
    signer.login(token, &pin).map_err(err)
}

fn token_of_key(signer: &Signer, key: &str) -> Result<String, String> {
    signer
        .keys()
        .map_err(err)?
        .into_iter()
        .find(|k| k.key_id.eq_ignore_ascii_case(key))
        .map(|k| k.token_id)
        .ok_or_else(|| format!("key {key} not found (key_not_found)"))
}

fn token(c: &Common, command: TokenCommand) -> CmdResult {
    let signer = open(c)?;
    let mut pins = PinReader::new();
    match command {
        TokenCommand::Status => {
            for t in signer.tokens().map_err(err)? {
                println!(
                    "{}\t{}\t{}\t{}\tkeys={}",
                    t.id,
                    t.device_type,
                    t.label,
                    if t.initialized {
                        "initialized"
                    } else {
                        "not-initialized"
                    },
                    t.keys
                );
            }
        }
        TokenCommand::Login { token } => {
            login(&signer, &token, &mut pins)?;
            println!("token {token}: PIN correct");
        }
        TokenCommand::Logout { token } => {
            signer.logout(&token).map_err(err)?;
            println!("token {token}: logged out");
        }
        TokenCommand::Init => {
            let pin = pins.pin("XROAD_TOKEN_PIN", "new PIN of the software token")?;
            signer.init_software_token(&pin).map_err(err)?;
            println!("software token initialized");
        }
        TokenCommand::SetPin { token } => {
            let old = pins.pin("XROAD_TOKEN_PIN", "current PIN")?;
            let new = pins.pin("XROAD_TOKEN_NEW_PIN", "new PIN")?;
            signer.change_pin(&token, &old, &new).map_err(err)?;
            println!("token {token}: PIN changed");
        }
        TokenCommand::ImportJava { dir } => {
            let pin = pins.pin("XROAD_TOKEN_PIN", "PIN of the Java software token")?;
            let r = signer.import_java(&dir, &pin).map_err(err)?;
            println!(
                "imported {} keys with {} certificates; {} already present; PKCS#11 devices recorded: {}",
                r.keys.len(),
                r.certs,
                r.skipped.len(),
                r.devices.len()
            );
        }
    }
    Ok(())
}

fn keys(c: &Common, command: KeysCommand) -> CmdResult {
    let signer = open(c)?;
    let mut pins = PinReader::new();
    match command {
        KeysCommand::List => {
            for k in signer.keys().map_err(err)? {
                println!(
                    "{}\ttoken={}\tusage={}\tlabel={}\tmechanism={}\tcerts={}\trequests={}",
                    k.key_id,
                    k.token_id,
                    k.usage.map_or("-".into(), |u| u.to_string()),
                    k.label,
                    k.sign_mechanism.as_deref().unwrap_or("-"),
                    k.certs,
                    k.cert_requests
                );
            }
        }
        KeysCommand::Generate {
            token,
            algorithm,
            label,
        } => {
            let algorithm = KeyAlgorithm::parse(&algorithm).map_err(err)?;
            login(&signer, &token, &mut pins)?;
            let k = signer
                .generate_key(&token, algorithm, &label)
                .map_err(err)?;
            println!("{}", k.key_id);
        }
        KeysCommand::Delete { key } => {
            let token = token_of_key(&signer, &key)?;
            login(&signer, &token, &mut pins)?;
            signer.delete_key(&key).map_err(err)?;
            println!("key {key} deleted");
        }
    }
    Ok(())
}

fn client_id(s: &str) -> Result<ClientId, String> {
    let parts: Vec<&str> = s.split('/').collect();
    let id = match parts.as_slice() {
        [i, c, m] => ClientId::member(*i, *c, *m),
        [i, c, m, sub] => ClientId::subsystem(*i, *c, *m, *sub),
        _ => return Err(format!("{s:?} is not INSTANCE/CLASS/CODE[/SUBSYSTEM]")),
    };
    id.map_err(|e| format!("{s:?}: {e}"))
}

fn profile(s: &str) -> Result<CertificateProfile, String> {
    let short = s.trim().rsplit('.').next().unwrap_or("");
    let simple = if short.ends_with("CertificateProfileInfoProvider") {
        short.to_owned()
    } else {
        format!("{short}CertificateProfileInfoProvider")
    };
    let known = [
        "Ejbca",
        "Basic",
        "BasicACME",
        "FiVRK",
        "Fo",
        "Is",
        "SkEsteId",
        "SkKlass3",
    ];
    let simple = known
        .iter()
        .map(|k| format!("{k}CertificateProfileInfoProvider"))
        .find(|k| k.eq_ignore_ascii_case(&simple))
        .ok_or_else(|| format!("unknown certificate profile {s:?} ({})", known.join(", ")))?;
    CertificateProfile::from_class_name(&format!(
        "ee.ria.xroad.common.certificateprofile.impl.{simple}"
    ))
    .map_err(|e| e.message().to_owned())
}

fn csr(c: &Common, a: &CsrArgs) -> CmdResult {
    let signer = open(c)?;
    let usage = KeyUsage::parse(&a.usage)
        .ok_or_else(|| format!("unknown usage {:?} (sign, auth)", a.usage))?;
    let owner = client_id(&a.owner)?;
    let server =
        SecurityServerId::new(owner.clone(), a.server_code.as_str()).map_err(|e| e.to_string())?;
    let member = match &a.member {
        Some(m) => Some(client_id(m)?),
        None if usage == KeyUsage::Signing => Some(owner),
        None => None,
    };
    let values = a
        .fields
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .ok_or_else(|| format!("--field {f:?} is not FIELD=VALUE"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let params = SubjectParams {
        server,
        member,
        member_name: a.member_name.clone(),
    };
    let format = CsrFormat::parse(&a.format).map_err(err)?;
    let token = token_of_key(&signer, &a.key)?;
    login(&signer, &token, &mut PinReader::new())?;
    let out = signer
        .generate_csr(
            &a.key,
            usage,
            profile(&a.profile)?,
            &params,
            &values,
            format,
        )
        .map_err(err)?;
    eprintln!("subject: {}", out.subject);
    match &a.out {
        Some(path) => {
            std::fs::write(path, &out.bytes).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(&out.bytes)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn cache_dir(c: &Common, given: &Option<PathBuf>) -> PathBuf {
    given
        .clone()
        .unwrap_or_else(|| c.signer_dir.join("ocsp-cache"))
}

fn load_globalconf(
    dir: &Path,
) -> Result<(ConfigurationDirectory, xroad_crypto::TrustContext), String> {
    let conf = ConfigurationDirectory::load(dir).map_err(|e| e.message().to_owned())?;
    let trust = conf.trust_context().map_err(|e| e.message().to_owned())?;
    Ok((conf, trust))
}

fn certs(c: &Common, command: CertsCommand) -> CmdResult {
    let signer = Arc::new(open(c)?);
    match command {
        CertsCommand::Import {
            file,
            member,
            globalconf,
            skip_chain_check,
            status,
        } => {
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let member = member.as_deref().map(client_id).transpose()?;
            let conf = match (&globalconf, skip_chain_check) {
                (Some(dir), _) => Some(load_globalconf(dir)?),
                (None, true) => None,
                (None, false) => {
                    return Err("give --globalconf DIR to check the chain to an approved CA, or --skip-chain-check".into())
                }
            };
            let check = conf.as_ref().map(|(d, t)| ChainCheck {
                trust: t,
                instance: d.instance(),
            });
            let info = signer
                .import_cert(&bytes, member, check, status.as_deref())
                .map_err(err)?;
            println!(
                "{}\tkey={}\tusage={}\tmember={}",
                info.id,
                info.key_id,
                info.usage.map_or("-".into(), |u| u.to_string()),
                info.member.map_or("-".into(), |m| m.to_string())
            );
        }
        CertsCommand::List { ocsp_cache } => {
            let settings = OcspSettings::new(
                Arc::new(xroad_crypto::TrustContext::new(vec![])),
                "",
                vec![],
            );
            let manager = OcspManager::new(cache_dir(c, &ocsp_cache), settings);
            let now = std::time::SystemTime::now();
            for info in signer.certs().map_err(err)? {
                let state = manager.state_at(&info.cert.sha1_hex(), now);
                let ocsp = match &state.response {
                    Some(r) => format!(
                        "{:?}{}",
                        r.status(),
                        if state.fresh { "" } else { " (stale)" }
                    ),
                    None => "none".into(),
                };
                println!(
                    "{}\tkey={}\tusage={}\tmember={}\tactive={}\tstatus={}\tocsp={}\tsubject={}",
                    info.id,
                    info.key_id,
                    info.usage.map_or("-".into(), |u| u.to_string()),
                    info.member.map_or("-".into(), |m| m.to_string()),
                    info.active,
                    info.status.as_deref().unwrap_or("-"),
                    ocsp,
                    info.cert.subject().rfc2253()
                );
            }
        }
        CertsCommand::Activate { id } => {
            signer.set_cert_active(&id, true).map_err(err)?;
            println!("certificate {id} activated");
        }
        CertsCommand::Deactivate { id } => {
            signer.set_cert_active(&id, false).map_err(err)?;
            println!("certificate {id} deactivated");
        }
        CertsCommand::Ocsp {
            globalconf,
            ocsp_cache,
            prioritization,
        } => {
            let strategy: PrioritizationStrategy = prioritization.parse().unwrap_or_default();
            let settings = OcspSettings::from_directory(&globalconf, strategy).map_err(err)?;
            let manager = OcspManager::new(cache_dir(c, &ocsp_cache), settings);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let report = rt.block_on(manager.refresh(&signer)).map_err(err)?;
            for (hash, status) in &report.fetched {
                println!("{hash}\t{status:?}");
            }
            for (hash, reason) in &report.failed {
                println!("{hash}\tfailed: {reason}");
            }
            if !report.failed.is_empty() {
                return Err(format!("{} OCSP fetches failed", report.failed.len()));
            }
        }
    }
    Ok(())
}
