//! `xroad-sidecar globalconf show|verify DIR`: a global configuration directory as the
//! configuration client keeps it, summarised or checked.

use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use xroad_globalconf::ConfigurationDirectory;

/// `globalconf` subcommands.
#[derive(Debug, Subcommand)]
pub enum GlobalconfCommand {
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

/// Runs a subcommand.
pub fn run(cmd: &GlobalconfCommand) -> ExitCode {
    let (dir, verify) = match cmd {
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
