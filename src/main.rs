//! `xroad-sidecar`: a native X-Road Security Server core in one binary.

mod asic;
mod config;
#[allow(dead_code)] // `demo` is wired on top of it
mod demo;
mod demo_cmd;
#[cfg(test)]
mod e2e;
mod globalconf_cmd;
mod logging;
mod message_check;
#[cfg(test)]
mod metaservices_e2e;
mod metrics;
mod node;
mod run_cmd;
mod serverconf_cmd;
mod signer_cmd;
mod verify;
mod wsdl_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A native X-Road Security Server core: client proxy, server proxy, signer and global
/// configuration client in one process.
#[derive(Debug, Parser)]
#[command(name = "xroad-sidecar", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a whole X-Road instance on this machine (test CA, global configuration, two
    /// security servers, sample services), send a request of each service through it, and
    /// keep it running until Ctrl-C.
    Demo(demo_cmd::DemoArgs),
    /// Run the security server: client proxy, server proxy, signer and global configuration
    /// client in one process.
    Run(run_cmd::RunArgs),
    /// Work with X-Road messages of information systems.
    Message {
        #[command(subcommand)]
        command: MessageCommand,
    },
    /// Download, inspect and check the global configuration.
    Globalconf {
        #[command(subcommand)]
        command: globalconf_cmd::GlobalconfCommand,
    },
    /// Verify an X-Road message signature: an ASiC container of a message log, or a
    /// signature with its parts, against a global configuration directory.
    Verify(Box<verify::VerifyArgs>),
    /// Validate WSDL service descriptions.
    Wsdl {
        #[command(subcommand)]
        command: wsdl_cmd::WsdlCommand,
    },
    #[command(flatten)]
    Serverconf(serverconf_cmd::ServerconfCommand),
    #[command(flatten)]
    Signer(signer_cmd::SignerCommand),
}

#[derive(Debug, Subcommand)]
enum MessageCommand {
    /// Check a request as the client proxy would receive it: print its X-Road headers as JSON
    /// (exit 0), or the fault the client proxy would answer (exit 1).
    Check(message_check::CheckArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Message {
            command: MessageCommand::Check(args),
        } => message_check::run(&args),
        Command::Run(args) => run_cmd::run(&args),
        Command::Demo(args) => demo_cmd::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Globalconf { command } => globalconf_cmd::run(&command),
        Command::Wsdl { command } => wsdl_cmd::run(&command),
        Command::Serverconf(command) => serverconf_cmd::run(command),
        Command::Signer(command) => signer_cmd::run(command),
    }
}
