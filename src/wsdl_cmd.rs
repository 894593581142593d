//! `xroad-sidecar wsdl validate FILE_OR_URL`: the WSDL validator on a file or an HTTP(S)
//! URL, with schema imports resolved relative to it.

use std::process::ExitCode;

use clap::Subcommand;
use xroad_wsdl::{FileLoader, Loader, Verdict};

/// `wsdl` subcommands.
#[derive(Debug, Subcommand)]
pub enum WsdlCommand {
    /// Validate a WSDL 1.1 service description: exit 0 when valid or with warnings only,
    /// 1 with errors.
    Validate {
        /// A file or an `http(s)://` URL.
        location: String,
    },
}

/// Local files, and URLs through the HTTP client (TLS certificates are not verified, as the
/// Java validator trusts every server).
pub(crate) struct AnyLoader {
    runtime: tokio::runtime::Runtime,
    http: xroad_confclient::HttpClient,
}

impl Loader for AnyLoader {
    fn resolve(&self, base: &str, relative: &str) -> String {
        match url::Url::parse(base) {
            Ok(b) if b.scheme().starts_with("http") => b
                .join(relative)
                .map_or_else(|_| relative.to_owned(), |u| u.to_string()),
            _ => FileLoader.resolve(base, relative),
        }
    }

    fn load(&self, location: &str) -> Result<Vec<u8>, String> {
        if !(location.starts_with("http://") || location.starts_with("https://")) {
            return FileLoader.load(location);
        }
        let response = self
            .runtime
            .block_on(self.http.get(location))
            .map_err(|e| e.to_string())?;
        if response.status != 200 {
            return Err(format!("HTTP status {}", response.status));
        }
        Ok(response.body.to_vec())
    }
}

/// Runs a subcommand.
pub fn run(cmd: &WsdlCommand) -> ExitCode {
    let WsdlCommand::Validate { location } = cmd;
    let loader = match loader() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("xroad-sidecar wsdl validate: {e}");
            return ExitCode::from(2);
        }
    };
    let report = xroad_wsdl::validate(location, &loader);
    for f in &report.findings {
        let kind = match f.severity {
            xroad_wsdl::Severity::Error => "error",
            xroad_wsdl::Severity::Warning => "warning",
        };
        println!("{kind}: {}", f.message);
    }
    let (errors, warnings) = (report.errors().count(), report.warnings().count());
    match report.verdict() {
        Verdict::Valid => {
            println!("valid");
            ExitCode::SUCCESS
        }
        Verdict::Warnings => {
            println!("valid with {warnings} warning(s)");
            ExitCode::SUCCESS
        }
        Verdict::Invalid => {
            println!("invalid: {errors} error(s), {warnings} warning(s)");
            ExitCode::from(1)
        }
    }
}

/// A loader for files and HTTP(S) URLs.
pub(crate) fn loader() -> Result<AnyLoader, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let settings = xroad_confclient::HttpSettings {
        tls_cert_verification: false,
        hostname_verification: false,
        max_body: xroad_wsdl::MAX_DOCUMENT as usize,
        ..xroad_confclient::HttpSettings::default()
    };
    // The client's connection pool needs the runtime that will drive it.
    let http = {
        let _guard = runtime.enter();
        xroad_confclient::HttpClient::new(settings).map_err(|e| e.to_string())?
    };
    Ok(AnyLoader { runtime, http })
}
