//! `xroad-sidecar globalconf download|show|verify`: one verified download from the sources
//! of a configuration anchor, and a global configuration directory as the configuration
//! client keeps it, summarised or checked.

use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use xroad_globalconf::ConfigurationDirectory;

/// `globalconf` subcommands.
#[derive(Debug, Subcommand)]
pub enum GlobalconfCommand {
    /// Download the global configuration once from the anchor's sources, verify it and
    /// store it in DIR (exit 1 when no source yields a valid configuration; DIR keeps the
    /// last good one).
    Download(DownloadArgs),
    /// Summarise a configuration directory: instance, expiry, members, security servers,
    /// approved CAs and TSAs.
    Show {
        /// The directory (with `instance-identifier`).
        dir: PathBuf,
    },
    /// Parse everything in a configuration directory and report what is wrong (exit 1).
    Verify {
        /// The directory (with `instance-identifier`).
        dir: PathBuf,
    },
}

/// `globalconf download` options.
#[derive(Debug, clap::Args)]
pub struct DownloadArgs {
    /// The configuration anchor file.
    #[arg(long, value_name = "FILE")]
    anchor: PathBuf,
    /// The global configuration directory to store into (created if absent).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Download this configuration version instead of probing the newest the source offers.
    #[arg(long = "conf-version", value_name = "N")]
    conf_version: Option<u32>,
    /// Federated instances to download too: `none`, `all`, or a comma-separated list.
    #[arg(long, value_name = "LIST", default_value = "none")]
    allowed_federations: String,
    /// Do not verify the TLS certificates of HTTPS sources.
    #[arg(long)]
    no_tls_verification: bool,
    /// Do not check that an HTTPS source's certificate names its host.
    #[arg(long)]
    no_hostname_verification: bool,
    /// Check expiry at this instant instead of now (ISO-8601, e.g. 2026-05-01T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
}

/// Runs a subcommand.
pub fn run(cmd: &GlobalconfCommand) -> ExitCode {
    let (dir, verify) = match cmd {
        GlobalconfCommand::Download(args) => return download(args),
        GlobalconfCommand::Show { dir } => (dir, false),
        GlobalconfCommand::Verify { dir } => (dir, true),
    };
    let conf = match ConfigurationDirectory::load(dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "xroad-sidecar globalconf: {}: {}",
                dir.display(),
                e.message()
            );
            return ExitCode::from(if verify { 1 } else { 2 });
        }
    };
    if verify {
        return check(&conf);
    }
    print!("{}", summary(&conf));
    ExitCode::SUCCESS
}

fn summary(conf: &ConfigurationDirectory) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "instance: {}", conf.instance());
    for (folder, p) in conf.shared_parameters() {
        let own = if p.instance == conf.instance() {
            " (own)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "\n{}{own}: shared parameters version {} in {folder}/",
            p.instance, p.version
        );
        if let Some(e) = &p.expires {
            let _ = writeln!(out, "  expires: {e}");
        }
        if let Some(f) = p.ocsp_freshness_seconds {
            let _ = writeln!(out, "  OCSP freshness: {f} s");
        }
        let subsystems = p
            .members
            .iter()
            .filter(|m| m.subsystem_code().is_some())
            .count();
        let _ = writeln!(
            out,
            "  members: {}, subsystems: {subsystems}",
            p.members.len() - subsystems
        );
        let _ = writeln!(out, "  security servers: {}", p.security_servers.len());
        for s in &p.security_servers {
            let _ = writeln!(
                out,
                "    {} owned by {} at {} ({} clients)",
                s.server_code,
                s.owner,
                s.address.as_deref().unwrap_or("(no address)"),
                s.clients.len()
            );
        }
        for ca in &p.approved_cas {
            let profile = ca.certificate_profile_info.rsplit('.').next().unwrap_or("");
            let ocsp: Vec<&str> = ca.top.ocsp.iter().map(|o| o.url.as_str()).collect();
            let _ = writeln!(
                out,
                "  approved CA {}{}: profile {profile}, {} intermediate CA(s), OCSP {}",
                ca.name,
                if ca.authentication_only {
                    " (authentication only)"
                } else {
                    ""
                },
                ca.intermediates.len(),
                if ocsp.is_empty() {
                    "none".to_owned()
                } else {
                    ocsp.join(", ")
                }
            );
        }
        for tsa in &p.approved_tsas {
            let _ = writeln!(out, "  approved TSA {}: {}", tsa.name, tsa.url);
        }
        for g in &p.global_groups {
            let _ = writeln!(
                out,
                "  global group {}: {} member(s)",
                g.code,
                g.members.len()
            );
        }
    }
    out
}

fn check(conf: &ConfigurationDirectory) -> ExitCode {
    let mut problems: Vec<String> = conf
        .skipped
        .iter()
        .map(|(f, why)| format!("{}: {why}", f.display()))
        .collect();
    if conf.own().is_none() {
        problems.push(format!(
            "no shared parameters for the own instance {}",
            conf.instance()
        ));
    }
    if let Err(e) = conf.trust_context() {
        problems.push(e.message().to_owned());
    }
    if problems.is_empty() {
        println!(
            "ok: {} instance(s), own instance {}",
            conf.shared_parameters().count(),
            conf.instance()
        );
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            println!("problem: {p}");
        }
        ExitCode::from(1)
    }
}

fn download(args: &DownloadArgs) -> ExitCode {
    let now = match &args.at {
        Some(text) => {
            match xroad_crypto::time::parse_instant(text) {
                Some(t) => t,
                None => {
                    eprintln!("xroad-sidecar globalconf download: --at '{text}' is not an ISO-8601 date-time");
                    return ExitCode::from(2);
                }
            }
        }
        None => std::time::SystemTime::now(),
    };
    let anchor = match xroad_globalconf::ConfigurationAnchor::load(&args.anchor) {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "xroad-sidecar globalconf download: {}: {}",
                xroad_confclient::code_of(&e),
                e.message()
            );
            return ExitCode::from(1);
        }
    };
    let mut settings = xroad_confclient::ClientSettings::new(&args.dir);
    settings.fixed_version = args.conf_version;
    settings.allowed_federations = args
        .allowed_federations
        .parse()
        .unwrap_or(xroad_confclient::AllowedFederations::None);
    settings.http.tls_cert_verification = !args.no_tls_verification;
    settings.http.hostname_verification = !args.no_hostname_verification;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xroad-sidecar globalconf download: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let mut client =
            xroad_confclient::ConfigurationClient::new(settings).map_err(|e| e.to_string())?;
        client
            .execute(&anchor, now)
            .await
            .map_err(|e| e.to_string())
    });
    match result {
        Ok(report) => {
            print!("{}", download_summary(&report, &args.dir));
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("xroad-sidecar globalconf download: {message}");
            ExitCode::from(1)
        }
    }
}

fn download_summary(report: &xroad_confclient::DownloadReport, dir: &std::path::Path) -> String {
    let mut out = String::new();
    source_summary(&mut out, &report.own, dir);
    for f in &report.federated {
        match f {
            Ok(d) => source_summary(&mut out, d, dir),
            Err(e) => {
                let _ = writeln!(out, "{e}");
            }
        }
    }
    out
}

fn source_summary(out: &mut String, d: &xroad_confclient::SourceDownload, dir: &std::path::Path) {
    let _ = writeln!(
        out,
        "{}: version {} from {}, expires {}",
        d.instance,
        d.version,
        d.url,
        xroad_crypto::time::format_xsd_millis(d.expires)
    );
    for (path, fetched) in &d.files {
        let shown = path.strip_prefix(dir).unwrap_or(path);
        let what = if *fetched { "downloaded" } else { "up to date" };
        let _ = writeln!(out, "  {what}: {}", shown.display());
    }
}
