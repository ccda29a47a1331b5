//! The `callsync` command line: one binary, one subcommand per job. Each
//! subcommand is a thin shell over the library.

mod explain;
mod org;

use std::io::IsTerminal as _;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};

/// Syncs phone calls to Salesforce Tasks.
#[derive(Debug, Parser)]
#[command(name = "callsync", version, about, long_about = None)]
pub struct Cli {
    /// A TOML configuration file (see `callsync config example`).
    #[arg(long, global = true, env = "CALLSYNC_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API (ingest, read, admin) and the sync worker.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Show what callsync makes of a phone number (E.164, valid, type,
    /// extension), so you can see why a call did or did not match.
    ExplainNumber {
        /// The number as written anywhere (`03-1234-5678`, `＋８１…`), or
        /// `-` to read one number per line from standard input and print
        /// one tab-separated line per number.
        number: String,
        /// The region numbers without a country code belong to.
        #[arg(long, default_value = "JP")]
        region: String,
    },
    /// Manage organisations.
    #[command(subcommand)]
    Org(org::OrgCommand),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print a commented example configuration file with the defaults.
    Example,
}

/// Runs the command line; `main` only reports the error.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::ExplainNumber { number, region } => {
            let stdin = std::io::stdin();
            explain::run(&number, &region, stdin.lock(), std::io::stdout().lock())
        }
        Command::Config(ConfigCommand::Example) => {
            print!("{}", Config::example());
            Ok(())
        }
        Command::Migrate => {
            let config = Config::load(cli.config.as_deref())?;
            init_logging(config.log_format);
            crate::store::Store::connect(&config.database_url).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve => {
            let config = Config::load(cli.config.as_deref())?;
            init_logging(config.log_format);
            crate::server::serve(config, shutdown_signal()).await
        }
        Command::Org(command) => {
            let config = Config::load(cli.config.as_deref())?;
            org::run(command, &config).await
        }
    }
}

/// Logs to standard error, as text or JSON; `RUST_LOG` filters
/// (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second initialisation (tests, demo after serve) keeps the first.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
