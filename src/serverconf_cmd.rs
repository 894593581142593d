//! The server configuration commands: `apply`, `export`, `server`, `clients`, `services`,
//! `acl` and `groups`, on an SQLite file or a PostgreSQL database.
//!
//! Every change goes through the same path as `apply`: read the whole configuration, edit
//! it, validate it, write it back in one transaction. So an edit that would leave the
//! configuration invalid is refused with the offending field named, and nothing changes.
//! Exit codes: 0 done, 1 refused or failed, 2 usage (from clap).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use xroad_serverconf::import::{self, ImportError};
use xroad_serverconf::{
    AccessRight, ApplyOutcome, Certificate, ClientConfig, Config, ConfigError, DescriptionType,
    Endpoint, Id, IsAuthentication, LocalGroup, ServerSettings, Service, ServiceDescription, Store,
    StoreError, Subject,
};

/// Where the store is and how to print results; accepted after any subcommand.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The store: a PostgreSQL URL (postgres://user:pass@host/db) or an SQLite file, created
    /// on first use.
    #[arg(
        long,
        global = true,
        env = "XROAD_DATABASE_URL",
        default_value = "serverconf.db"
    )]
    db: String,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned text for people.
    Table,
    /// JSON for programs.
    Json,
}

/// The server configuration subcommands (flattened into the top level).
#[derive(Debug, Subcommand)]
pub enum ServerconfCommand {
    /// Make the server configuration match a YAML document (idempotent); print the changes.
    Apply {
        /// The document (see docs/serverconf.md); `-` reads standard input.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Only print what would change.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print the server configuration as the YAML document `apply` reads.
    Export {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// This security server's owner, server code and anchor.
    Server {
        #[command(subcommand)]
        command: ServerCmd,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Local clients: members and subsystems hosted here.
    Clients {
        #[command(subcommand)]
        command: ClientsCmd,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Service descriptions, services and REST endpoints.
    Services {
        #[command(subcommand)]
        command: ServicesCmd,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Access rights to services and REST endpoints.
    Acl {
        #[command(subcommand)]
        command: AclCmd,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Local groups.
    Groups {
        #[command(subcommand)]
        command: GroupsCmd,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `server` subcommands.
#[derive(Debug, Subcommand)]
pub enum ServerCmd {
    /// Set the owner member and server code (the owner becomes a client if it is not one).
    Init {
        /// Owner member: INSTANCE/CLASS/CODE.
        #[arg(long)]
        owner: Id,
        /// Server code.
        #[arg(long)]
        server_code: String,
        /// Configuration anchor XML file to keep in the store.
        #[arg(long)]
        anchor: Option<PathBuf>,
    },
    /// Show the owner and server code.
    Show,
}

/// `clients` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientsCmd {
    /// List local clients.
    List,
    /// Add a member or subsystem.
    Add {
        /// INSTANCE/CLASS/MEMBER[/SUBSYSTEM].
        id: Id,
        /// IS authentication: NOSSL, SSLNOAUTH or SSLAUTH.
        #[arg(long, default_value = "SSLAUTH")]
        is_auth: IsAuthArg,
    },
    /// Remove a client with its services, groups and access rights.
    Remove {
        /// The client.
        id: Id,
    },
    /// Change a client's IS authentication.
    Set {
        /// The client.
        id: Id,
        /// NOSSL, SSLNOAUTH or SSLAUTH.
        #[arg(long)]
        is_auth: IsAuthArg,
    },
    /// Add an IS TLS certificate (PEM file).
    AddCert {
        /// The client.
        id: Id,
        /// PEM file.
        file: PathBuf,
    },
    /// Remove an IS TLS certificate (PEM file).
    RemoveCert {
        /// The client.
        id: Id,
        /// PEM file.
        file: PathBuf,
    },
}

/// An IS authentication mode on the command line.
#[derive(Debug, Clone, Copy)]
pub struct IsAuthArg(IsAuthentication);

impl std::str::FromStr for IsAuthArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.to_ascii_uppercase().parse().map(IsAuthArg)
    }
}

/// A description type on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportType {
    /// WSDL 1.1.
    Wsdl,
    /// OpenAPI 3.
    Openapi3,
}

/// `services` subcommands.
#[derive(Debug, Subcommand)]
pub enum ServicesCmd {
    /// List services (of one client, or all).
    List {
        /// Only this client's.
        #[arg(long)]
        client: Option<Id>,
    },
    /// Declare a REST service by hand: base URL and service code.
    AddRest {
        /// The provider client.
        #[arg(long)]
        client: Id,
        /// Service code.
        #[arg(long)]
        code: String,
        /// The REST API's base URL (also the description's URL).
        #[arg(long)]
        url: String,
    },
    /// Import (or re-import) a WSDL or OpenAPI 3 description.
    Import {
        /// The provider client.
        #[arg(long)]
        client: Id,
        /// wsdl or openapi3.
        #[arg(long = "type", value_enum)]
        kind: ImportType,
        /// The description's URL, as stored.
        #[arg(long)]
        url: String,
        /// Read the document from this file instead of the URL.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Service code (OpenAPI 3 only).
        #[arg(long)]
        code: Option<String>,
    },
    /// Re-read a stored WSDL or OpenAPI description and update its services or endpoints.
    Refresh {
        /// The provider client.
        #[arg(long)]
        client: Id,
        /// The description's URL.
        #[arg(long)]
        url: String,
        /// Read the document from this file instead of the URL.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Change a service's address, timeout, title or TLS pinning.
    Set {
        /// The provider client.
        #[arg(long)]
        client: Id,
        /// Service code.
        #[arg(long)]
        code: String,
        /// Service version (when the code has several).
        #[arg(long)]
        service_version: Option<String>,
        /// Provider IS address.
        #[arg(long)]
        url: Option<String>,
        /// Timeout in seconds.
        #[arg(long)]
        timeout: Option<u32>,
        /// Title.
        #[arg(long)]
        title: Option<String>,
        /// Require the provider IS to present one of the client's IS certificates.
        #[arg(long)]
        ssl_authentication: Option<bool>,
    },
    /// Disable a description: its services answer with the notice.
    Disable {
        /// The provider client.
        #[arg(long)]
        client: Id,
        /// The description's URL.
        #[arg(long)]
        url: String,
        /// Notice for callers.
        #[arg(long)]
        notice: Option<String>,
    },
    /// Enable a description.
    Enable {
        /// The provider client.
        #[arg(long)]
        client: Id,
        /// The description's URL.
        #[arg(long)]
        url: String,
    },
    /// Remove a description with its services and their access rights.
    Remove {
        /// The provider client.
        #[arg(long)]
        client: Id,
        /// The description's URL.
        #[arg(long)]
        url: String,
    },
    /// Add a REST endpoint to a service.
    AddEndpoint {
        /// The provider client.
        #[arg(long)]
        client: Id,
        /// Service code.
        #[arg(long)]
        code: String,
        /// GET, POST, … or *.
        #[arg(long)]
        method: String,
        /// Path pattern (`*` one segment, `**` anything).
        #[arg(long)]
        path: String,
    },
    /// Remove a REST endpoint (and the access rights to it).
    RemoveEndpoint {
        /// The provider client.
        #[arg(long)]
        client: Id,
        /// Service code.
        #[arg(long)]
        code: String,
        /// Method.
        #[arg(long)]
        method: String,
        /// Path pattern.
        #[arg(long)]
        path: String,
    },
}

/// Which service endpoint an access right is about.
#[derive(Debug, Args)]
pub struct Target {
    /// The provider client.
    #[arg(long)]
    client: Id,
    /// Service code.
    #[arg(long)]
    service: String,
    /// Endpoint method (default `*`: the whole service).
    #[arg(long, default_value = "*")]
    method: String,
    /// Endpoint path (default `**`: the whole service).
    #[arg(long, default_value = "**")]
    path: String,
    /// Subjects: MEMBER:I/C/M, SUBSYSTEM:I/C/M/S, GLOBALGROUP:I/CODE, LOCALGROUP:CODE.
    #[arg(required = true)]
    subjects: Vec<Subject>,
}

/// `acl` subcommands.
#[derive(Debug, Subcommand)]
pub enum AclCmd {
    /// List access rights (of one client's services, or all).
    List {
        /// Only this client's services.
        #[arg(long)]
        client: Option<Id>,
    },
    /// Grant access.
    Add(Target),
    /// Revoke access.
    Remove(Target),
}

/// `groups` subcommands.
#[derive(Debug, Subcommand)]
pub enum GroupsCmd {
    /// List local groups.
    List {
        /// Only this client's.
        #[arg(long)]
        client: Option<Id>,
    },
    /// Create a local group.
    Add {
        /// The client owning the group.
        #[arg(long)]
        client: Id,
        /// Group code.
        #[arg(long)]
        code: String,
        /// Description.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete a local group and the access rights given to it.
    Remove {
        /// The client owning the group.
        #[arg(long)]
        client: Id,
        /// Group code.
        #[arg(long)]
        code: String,
    },
    /// Add members (INSTANCE/CLASS/MEMBER[/SUBSYSTEM]).
    AddMembers {
        /// The client owning the group.
        #[arg(long)]
        client: Id,
        /// Group code.
        #[arg(long)]
        code: String,
        /// Members.
        #[arg(required = true)]
        members: Vec<Id>,
    },
    /// Remove members.
    RemoveMembers {
        /// The client owning the group.
        #[arg(long)]
        client: Id,
        /// Group code.
        #[arg(long)]
        code: String,
        /// Members.
        #[arg(required = true)]
        members: Vec<Id>,
    },
}

/// What failed.
#[derive(Debug)]
enum CmdError {
    Store(StoreError),
    Invalid(ConfigError),
    Import(ImportError),
    Other(String),
}

impl std::fmt::Display for CmdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CmdError::Store(e) => e.fmt(f),
            CmdError::Invalid(e) => write!(f, "invalid configuration: {e}"),
            CmdError::Import(e) => e.fmt(f),
            CmdError::Other(e) => f.write_str(e),
        }
    }
}

impl From<StoreError> for CmdError {
    fn from(e: StoreError) -> Self {
        CmdError::Store(e)
    }
}

impl From<ConfigError> for CmdError {
    fn from(e: ConfigError) -> Self {
        CmdError::Invalid(e)
    }
}

impl From<ImportError> for CmdError {
    fn from(e: ImportError) -> Self {
        CmdError::Import(e)
    }
}

/// Runs a server configuration command.
pub fn run(cmd: ServerconfCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xroad-sidecar: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cmd)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xroad-sidecar: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn store_args(cmd: &ServerconfCommand) -> &StoreArgs {
    match cmd {
        ServerconfCommand::Apply { store, .. }
        | ServerconfCommand::Export { store }
        | ServerconfCommand::Server { store, .. }
        | ServerconfCommand::Clients { store, .. }
        | ServerconfCommand::Services { store, .. }
        | ServerconfCommand::Acl { store, .. }
        | ServerconfCommand::Groups { store, .. } => store,
    }
}

async fn execute(cmd: ServerconfCommand) -> Result<(), CmdError> {
    // Read the document before touching the database: a bad file creates nothing.
    let document = match &cmd {
        ServerconfCommand::Apply { file, .. } => Some(read_document(file)?),
        _ => None,
    };
    let args = store_args(&cmd);
    let output = args.output;
    let store = Store::open(&args.db).await.map_err(|e| match e {
        StoreError::Database(d) => CmdError::Other(format!(
            "cannot open the store '{}': {d}",
            xroad_serverconf::redact_url(&args.db)
        )),
        other => other.into(),
    })?;
    let result = dispatch(&store, cmd, output, document).await;
    store.close().await;
    result
}

fn read_document(file: &PathBuf) -> Result<Config, CmdError> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    }
    .map_err(|e| CmdError::Other(format!("cannot read '{}': {e}", file.display())))?;
    Ok(Config::from_yaml(&text)?)
}

async fn dispatch(
    store: &Store,
    cmd: ServerconfCommand,
    output: Output,
    document: Option<Config>,
) -> Result<(), CmdError> {
    match cmd {
        ServerconfCommand::Apply { dry_run, .. } => {
            let doc = document.unwrap_or_default();
            let outcome = store.apply(&doc, dry_run).await?;
            print_changes(&outcome, dry_run, output);
            Ok(())
        }
        ServerconfCommand::Export { .. } => {
            let (config, _) = store.load().await?;
            match output {
                Output::Table => print!("{}", config.to_yaml()),
                Output::Json => {
                    let mut c = config;
                    c.normalize();
                    println!("{}", serde_json::to_string_pretty(&c).unwrap_or_default());
                }
            }
            Ok(())
        }
        ServerconfCommand::Server { command, .. } => server(store, command, output).await,
        ServerconfCommand::Clients { command, .. } => clients(store, command, output).await,
        ServerconfCommand::Services { command, .. } => services(store, command, output).await,
        ServerconfCommand::Acl { command, .. } => acl(store, command, output).await,
        ServerconfCommand::Groups { command, .. } => groups(store, command, output).await,
    }
}

fn print_changes(outcome: &ApplyOutcome, dry_run: bool, output: Output) {
    match output {
        Output::Table => {
            for c in &outcome.changes {
                println!("{c}");
            }
            let n = outcome.changes.len();
            match (n, dry_run) {
                (0, _) => println!("no changes"),
                (_, true) => println!("{n} change(s) would be made (dry run)"),
                (_, false) => println!("{n} change(s) made, version {}", outcome.version),
            }
        }
        Output::Json => println!(
            "{}",
            json!({
                "dry_run": dry_run,
                "changes": outcome.changes,
                "version": outcome.version,
            })
        ),
    }
}

/// Applies `edit` to the stored configuration and prints what changed.
async fn edit<F>(store: &Store, output: Output, edit: F) -> Result<(), CmdError>
where
    F: FnMut(&mut Config) -> Result<(), ConfigError>,
{
    let outcome = store.update(edit).await?;
    print_changes(&outcome, false, output);
    Ok(())
}

fn client_mut<'a>(
    config: &'a mut Config,
    id: &Id,
    field: &str,
) -> Result<&'a mut ClientConfig, ConfigError> {
    config
        .client_mut(&id.0)
        .ok_or_else(|| ConfigError::new(field, format!("unknown client '{id}'")))
}

fn description_mut<'a>(
    client: &'a mut ClientConfig,
    url: &str,
) -> Result<&'a mut ServiceDescription, ConfigError> {
    let id = client.id.clone();
    client
        .service_descriptions
        .iter_mut()
        .find(|d| d.url == url)
        .ok_or_else(|| {
            ConfigError::new(
                "--url",
                format!("client '{id}' has no service description '{url}'"),
            )
        })
}

fn service_mut<'a>(
    client: &'a mut ClientConfig,
    code: &str,
    version: Option<&str>,
) -> Result<&'a mut Service, ConfigError> {
    let id = client.id.clone();
    let mut found = client
        .service_descriptions
        .iter_mut()
        .flat_map(|d| d.services.iter_mut())
        .filter(|s| s.code == code && (version.is_none() || s.version.as_deref() == version));
    let first = found.next().ok_or_else(|| {
        ConfigError::new(
            "--code",
            format!("unknown service '{code}' of client '{id}'"),
        )
    })?;
    if found.next().is_some() {
        return Err(ConfigError::new(
            "--service-version",
            format!("service '{code}' has several versions: name one"),
        ));
    }
    Ok(first)
}

fn print_rows(output: Output, headers: &[&str], rows: Vec<Vec<String>>) {
    match output {
        Output::Json => {
            let list: Vec<Value> = rows
                .into_iter()
                .map(|r| {
                    Value::Object(
                        headers
                            .iter()
                            .zip(r)
                            .map(|(h, v)| (h.to_ascii_lowercase().replace(' ', "_"), json!(v)))
                            .collect(),
                    )
                })
                .collect();
            println!("{}", Value::Array(list));
        }
        Output::Table => {
            let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
            for r in &rows {
                for (w, v) in widths.iter_mut().zip(r) {
                    *w = (*w).max(v.chars().count());
                }
            }
            let line = |cells: Vec<&str>| {
                let text: Vec<String> = cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                println!("{}", text.join("  ").trim_end());
            };
            line(headers.to_vec());
            for r in &rows {
                line(r.iter().map(String::as_str).collect());
            }
        }
    }
}

async fn server(store: &Store, cmd: ServerCmd, output: Output) -> Result<(), CmdError> {
    match cmd {
        ServerCmd::Init {
            owner,
            server_code,
            anchor,
        } => {
            let anchor = anchor
                .map(|p| {
                    std::fs::read_to_string(&p)
                        .map_err(|e| CmdError::Other(format!("cannot read '{}': {e}", p.display())))
                })
                .transpose()?;
            edit(store, output, |c| {
                if c.client(&owner.0).is_none() {
                    c.clients.push(ClientConfig::new(owner.0.clone()));
                }
                let anchor = anchor
                    .clone()
                    .or_else(|| c.server.as_ref().and_then(|s| s.anchor.clone()));
                c.server = Some(ServerSettings {
                    owner: owner.clone(),
                    server_code: server_code.clone(),
                    anchor,
                });
                Ok(())
            })
            .await
        }
        ServerCmd::Show => {
            let (config, version) = store.load().await?;
            let Some(s) = config.server else {
                return Err(CmdError::Other(
                    "the server is not initialised: run 'xroad-sidecar server init'".into(),
                ));
            };
            print_rows(
                output,
                &["Owner", "Server code", "Anchor", "Version"],
                vec![vec![
                    s.owner.to_string(),
                    s.server_code,
                    if s.anchor.is_some() { "stored" } else { "-" }.into(),
                    version.to_string(),
                ]],
            );
            Ok(())
        }
    }
}

async fn clients(store: &Store, cmd: ClientsCmd, output: Output) -> Result<(), CmdError> {
    match cmd {
        ClientsCmd::List => {
            let (config, _) = store.load().await?;
            let owner = config.server.as_ref().map(|s| s.owner.clone());
            let rows = config
                .clients
                .iter()
                .map(|c| {
                    vec![
                        c.id.to_string(),
                        c.id.0.object_type().to_string(),
                        c.is_authentication.as_str().to_owned(),
                        c.certificates.len().to_string(),
                        c.service_descriptions
                            .iter()
                            .map(|d| d.services.len())
                            .sum::<usize>()
                            .to_string(),
                        (owner.as_ref() == Some(&c.id)).to_string(),
                    ]
                })
                .collect();
            print_rows(
                output,
                &[
                    "Client",
                    "Type",
                    "IS auth",
                    "Certificates",
                    "Services",
                    "Owner",
                ],
                rows,
            );
            Ok(())
        }
        ClientsCmd::Add { id, is_auth } => {
            edit(store, output, |c| {
                if c.client(&id.0).is_some() {
                    return Err(ConfigError::new(
                        "ID",
                        format!("client '{id}' already exists"),
                    ));
                }
                let mut client = ClientConfig::new(id.0.clone());
                client.is_authentication = is_auth.0;
                c.clients.push(client);
                Ok(())
            })
            .await
        }
        ClientsCmd::Remove { id } => {
            edit(store, output, |c| {
                client_mut(c, &id, "ID")?;
                c.clients.retain(|x| x.id != id);
                Ok(())
            })
            .await
        }
        ClientsCmd::Set { id, is_auth } => {
            edit(store, output, |c| {
                client_mut(c, &id, "ID")?.is_authentication = is_auth.0;
                Ok(())
            })
            .await
        }
        ClientsCmd::AddCert { id, file } => {
            let cert = read_certificate(&file)?;
            edit(store, output, |c| {
                client_mut(c, &id, "ID")?.certificates.push(cert.clone());
                Ok(())
            })
            .await
        }
        ClientsCmd::RemoveCert { id, file } => {
            let cert = read_certificate(&file)?;
            edit(store, output, |c| {
                let client = client_mut(c, &id, "ID")?;
                let before = client.certificates.len();
                client.certificates.retain(|x| *x != cert);
                if client.certificates.len() == before {
                    return Err(ConfigError::new(
                        "FILE",
                        format!("client '{id}' has no such certificate"),
                    ));
                }
                Ok(())
            })
            .await
        }
    }
}

fn read_certificate(file: &PathBuf) -> Result<Certificate, CmdError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CmdError::Other(format!("cannot read '{}': {e}", file.display())))?;
    Certificate::from_pem(&text).map_err(|e| ConfigError::new("FILE", e).into())
}

/// The WSDL validator before a description is added or refreshed: errors refuse it
/// (Java's `invalid_wsdl`), warnings are shown and the import goes on.
fn check_wsdl(bytes: &[u8], url: &str, file: Option<&PathBuf>) -> Result<(), CmdError> {
    let location = file.map_or_else(|| url.to_owned(), |f| f.display().to_string());
    // The validator fetches imports with its own runtime: run it off this async context.
    let report = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                crate::wsdl_cmd::loader()
                    .map(|loader| xroad_wsdl::validate_bytes(bytes, &location, &loader))
            })
            .join()
    })
    .map_err(|_| CmdError::Other("the WSDL validator failed".into()))?
    .map_err(CmdError::Other)?;
    for w in report.warnings() {
        eprintln!("warning: WSDL {location}: {}", w.message);
    }
    let errors: Vec<&str> = report.errors().map(|f| f.message.as_str()).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CmdError::Other(format!(
            "invalid_wsdl: the WSDL validator refused {location}:\n  {}",
            errors.join("\n  ")
        )))
    }
}

fn read_description(url: &str, file: Option<&PathBuf>) -> Result<Vec<u8>, CmdError> {
    match file {
        Some(f) => Ok(import::read_source(&f.display().to_string())?),
        None => Ok(import::read_source(url)?),
    }
}

async fn services(store: &Store, cmd: ServicesCmd, output: Output) -> Result<(), CmdError> {
    match cmd {
        ServicesCmd::List { client } => {
            let (config, _) = store.load().await?;
            let mut rows = Vec::new();
            for c in config
                .clients
                .iter()
                .filter(|c| client.as_ref().is_none_or(|id| *id == c.id))
            {
                for d in &c.service_descriptions {
                    for s in &d.services {
                        rows.push(vec![
                            c.id.to_string(),
                            s.code.clone(),
                            s.version.clone().unwrap_or_default(),
                            d.kind.as_str().to_owned(),
                            s.url.clone().unwrap_or_default(),
                            s.timeout.to_string(),
                            s.ssl_authentication.to_string(),
                            s.endpoints.len().to_string(),
                            if d.disabled { "disabled" } else { "enabled" }.to_owned(),
                            d.url.clone(),
                        ]);
                    }
                }
            }
            print_rows(
                output,
                &[
                    "Client",
                    "Service",
                    "Version",
                    "Type",
                    "URL",
                    "Timeout",
                    "SSL auth",
                    "Endpoints",
                    "State",
                    "Description",
                ],
                rows,
            );
            Ok(())
        }
        ServicesCmd::AddRest { client, code, url } => {
            edit(store, output, |c| {
                let cl = client_mut(c, &client, "--client")?;
                cl.service_descriptions.push(ServiceDescription {
                    kind: DescriptionType::Rest,
                    url: url.clone(),
                    disabled: false,
                    disabled_notice: None,
                    services: vec![Service {
                        url: Some(url.clone()),
                        ..Service::new(code.as_str())
                    }],
                });
                Ok(())
            })
            .await
        }
        ServicesCmd::Import {
            client,
            kind,
            url,
            file,
            code,
        } => {
            let kind = match kind {
                ImportType::Wsdl => DescriptionType::Wsdl,
                ImportType::Openapi3 => DescriptionType::OpenApi3,
            };
            let source = (url.as_str(), file.as_ref());
            import_description(store, output, &client, kind, source, code.as_deref()).await
        }
        ServicesCmd::Refresh { client, url, file } => {
            let (config, _) = store.load().await?;
            let kind = config
                .client(&client.0)
                .and_then(|c| c.service_descriptions.iter().find(|d| d.url == url))
                .map(|d| d.kind)
                .ok_or_else(|| {
                    ConfigError::new(
                        "--url",
                        format!("client '{client}' has no service description '{url}'"),
                    )
                })?;
            let source = (url.as_str(), file.as_ref());
            import_description(store, output, &client, kind, source, None).await
        }
        ServicesCmd::Set {
            client,
            code,
            service_version,
            url,
            timeout,
            title,
            ssl_authentication,
        } => {
            edit(store, output, |c| {
                let s = service_mut(
                    client_mut(c, &client, "--client")?,
                    &code,
                    service_version.as_deref(),
                )?;
                if let Some(u) = &url {
                    s.url = Some(u.clone());
                }
                if let Some(t) = timeout {
                    s.timeout = t;
                }
                if let Some(t) = &title {
                    s.title = Some(t.clone());
                }
                if let Some(b) = ssl_authentication {
                    s.ssl_authentication = b;
                }
                Ok(())
            })
            .await
        }
        ServicesCmd::Disable {
            client,
            url,
            notice,
        } => {
            edit(store, output, |c| {
                let d = description_mut(client_mut(c, &client, "--client")?, &url)?;
                d.disabled = true;
                d.disabled_notice = notice.clone().or(d.disabled_notice.take());
                Ok(())
            })
            .await
        }
        ServicesCmd::Enable { client, url } => {
            edit(store, output, |c| {
                description_mut(client_mut(c, &client, "--client")?, &url)?.disabled = false;
                Ok(())
            })
            .await
        }
        ServicesCmd::Remove { client, url } => {
            edit(store, output, |c| {
                let cl = client_mut(c, &client, "--client")?;
                description_mut(cl, &url)?;
                cl.service_descriptions.retain(|d| d.url != url);
                cl.access_rights.retain(|r| {
                    cl.service_descriptions
                        .iter()
                        .any(|d| d.services.iter().any(|s| s.code == r.service))
                });
                Ok(())
            })
            .await
        }
        ServicesCmd::AddEndpoint {
            client,
            code,
            method,
            path,
        } => {
            edit(store, output, |c| {
                service_mut(client_mut(c, &client, "--client")?, &code, None)?
                    .endpoints
                    .push(Endpoint {
                        method: method.clone(),
                        path: path.clone(),
                    });
                Ok(())
            })
            .await
        }
        ServicesCmd::RemoveEndpoint {
            client,
            code,
            method,
            path,
        } => {
            edit(store, output, |c| {
                let cl = client_mut(c, &client, "--client")?;
                let s = service_mut(cl, &code, None)?;
                let before = s.endpoints.len();
                s.endpoints.retain(|e| e.method != method || e.path != path);
                if s.endpoints.len() == before {
                    return Err(ConfigError::new(
                        "--path",
                        format!("service '{code}' has no endpoint {method} {path}"),
                    ));
                }
                cl.access_rights
                    .retain(|r| r.service != code || r.method != method || r.path != path);
                Ok(())
            })
            .await
        }
    }
}

/// Reads a WSDL or OpenAPI description from `source` (its URL, and a file to read it from
/// instead) and merges it into `client`'s services: both `services import` and
/// `services refresh` come here.
async fn import_description(
    store: &Store,
    output: Output,
    client: &Id,
    kind: DescriptionType,
    source: (&str, Option<&PathBuf>),
    code: Option<&str>,
) -> Result<(), CmdError> {
    let (url, file) = source;
    if kind == DescriptionType::Rest {
        return Err(CmdError::Other(format!(
            "'{url}' is a REST service declared by hand: there is nothing to refresh"
        )));
    }
    let bytes = read_description(url, file)?;
    if kind == DescriptionType::Wsdl {
        check_wsdl(&bytes, url, file)?;
        let found = import::parse_wsdl(&bytes)?;
        return import_edit(store, output, client, |cl| {
            import::merge_wsdl(cl, url, &found)
        })
        .await;
    }
    let api = import::parse_openapi(&bytes)?;
    import_edit(store, output, client, |cl| {
        import::merge_openapi(cl, url, code, &api)
    })
    .await
}

async fn import_edit<F>(
    store: &Store,
    output: Output,
    client: &Id,
    mut merge: F,
) -> Result<(), CmdError>
where
    F: FnMut(&mut ClientConfig) -> Result<(), ImportError>,
{
    let mut import_error = None;
    let result = edit(store, output, |c| {
        let cl = client_mut(c, client, "--client")?;
        merge(cl).map_err(|e| {
            import_error = Some(e.clone());
            ConfigError::new("--url", e.to_string())
        })
    })
    .await;
    match (result, import_error) {
        (Err(_), Some(e)) => Err(e.into()),
        (r, _) => r,
    }
}

async fn acl(store: &Store, cmd: AclCmd, output: Output) -> Result<(), CmdError> {
    match cmd {
        AclCmd::List { client } => {
            let (config, _) = store.load().await?;
            let mut rows = Vec::new();
            for c in config
                .clients
                .iter()
                .filter(|c| client.as_ref().is_none_or(|id| *id == c.id))
            {
                let mut c = c.clone();
                let mut one = Config {
                    server: None,
                    clients: vec![],
                };
                c.access_rights.sort_by(|a, b| a.service.cmp(&b.service));
                one.clients.push(c);
                one.normalize();
                for c in &one.clients {
                    for r in &c.access_rights {
                        for s in &r.subjects {
                            rows.push(vec![
                                c.id.to_string(),
                                r.service.clone(),
                                r.method.clone(),
                                r.path.clone(),
                                s.to_string(),
                            ]);
                        }
                    }
                }
            }
            print_rows(
                output,
                &["Client", "Service", "Method", "Path", "Subject"],
                rows,
            );
            Ok(())
        }
        AclCmd::Add(t) => {
            edit(store, output, |c| {
                client_mut(c, &t.client, "--client")?
                    .access_rights
                    .push(AccessRight {
                        service: t.service.clone(),
                        method: t.method.clone(),
                        path: t.path.clone(),
                        subjects: t.subjects.clone(),
                    });
                Ok(())
            })
            .await
        }
        AclCmd::Remove(t) => {
            edit(store, output, |c| {
                let cl = client_mut(c, &t.client, "--client")?;
                let mut removed = false;
                for r in cl
                    .access_rights
                    .iter_mut()
                    .filter(|r| r.service == t.service && r.method == t.method && r.path == t.path)
                {
                    let before = r.subjects.len();
                    r.subjects.retain(|s| !t.subjects.contains(s));
                    removed |= r.subjects.len() != before;
                }
                cl.access_rights.retain(|r| !r.subjects.is_empty());
                if !removed {
                    return Err(ConfigError::new(
                        "SUBJECTS",
                        format!(
                            "no such access right to {} {} {} of client '{}'",
                            t.service, t.method, t.path, t.client
                        ),
                    ));
                }
                Ok(())
            })
            .await
        }
    }
}

fn group_mut<'a>(
    client: &'a mut ClientConfig,
    code: &str,
) -> Result<&'a mut LocalGroup, ConfigError> {
    let id = client.id.clone();
    client
        .local_groups
        .iter_mut()
        .find(|g| g.code == code)
        .ok_or_else(|| {
            ConfigError::new(
                "--code",
                format!("unknown local group '{code}' of client '{id}'"),
            )
        })
}

async fn groups(store: &Store, cmd: GroupsCmd, output: Output) -> Result<(), CmdError> {
    match cmd {
        GroupsCmd::List { client } => {
            let (config, _) = store.load().await?;
            let rows = config
                .clients
                .iter()
                .filter(|c| client.as_ref().is_none_or(|id| *id == c.id))
                .flat_map(|c| {
                    c.local_groups.iter().map(|g| {
                        vec![
                            c.id.to_string(),
                            g.code.clone(),
                            g.description.clone(),
                            g.members
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(" "),
                        ]
                    })
                })
                .collect();
            print_rows(output, &["Client", "Group", "Description", "Members"], rows);
            Ok(())
        }
        GroupsCmd::Add {
            client,
            code,
            description,
        } => {
            edit(store, output, |c| {
                client_mut(c, &client, "--client")?
                    .local_groups
                    .push(LocalGroup {
                        code: code.clone(),
                        description: description.clone(),
                        members: vec![],
                    });
                Ok(())
            })
            .await
        }
        GroupsCmd::Remove { client, code } => {
            edit(store, output, |c| {
                let cl = client_mut(c, &client, "--client")?;
                group_mut(cl, &code)?;
                cl.local_groups.retain(|g| g.code != code);
                for r in &mut cl.access_rights {
                    r.subjects
                        .retain(|s| !matches!(s, Subject::LocalGroup(g) if g.group_code() == code));
                }
                cl.access_rights.retain(|r| !r.subjects.is_empty());
                Ok(())
            })
            .await
        }
        GroupsCmd::AddMembers {
            client,
            code,
            members,
        } => {
            edit(store, output, |c| {
                group_mut(client_mut(c, &client, "--client")?, &code)?
                    .members
                    .extend(members.iter().cloned());
                Ok(())
            })
            .await
        }
        GroupsCmd::RemoveMembers {
            client,
            code,
            members,
        } => {
            edit(store, output, |c| {
                group_mut(client_mut(c, &client, "--client")?, &code)?
                    .members
                    .retain(|m| !members.contains(m));
                Ok(())
            })
            .await
        }
    }
}
