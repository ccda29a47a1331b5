//! The `callsync` command line: one binary, one subcommand per job. Each
//! subcommand is a thin shell over the library.

mod demo;
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
    /// See callsync work with nothing to set up: starts an in-process
    /// Salesforce sandbox with a generated org, runs callsync on a fresh
    /// SQLite file, posts a scripted day of calls (every call kind, both
    /// timings, transfers, predictive calls, memos, voice analysis, an
    /// unknown number and a failing case) and prints what became of them.
    Demo {
        /// Exit after the summary instead of serving until Ctrl-C.
        #[arg(long)]
        once: bool,
        /// Where the demo's API listens (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
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
        Command::Demo { once, listen } => {
            // The demo prints its own summary; logs would only crowd it.
            init_logging(LogFormat::Text, "error");
            demo::run(demo::DemoOptions { once, listen }).await
        }
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
            init_logging(config.log_format, "info");
            crate::store::Store::connect(&config.database_url).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve => {
            let config = Config::load(cli.config.as_deref())?;
            init_logging(config.log_format, "info");
            crate::server::serve(config, shutdown_signal()).await
        }
        Command::Org(command) => {
            let config = Config::load(cli.config.as_deref())?;
            org::run(command, &config).await
        }
    }
}

/// Logs to standard error, as text or JSON; `RUST_LOG` filters
/// (default `default_filter`).
pub fn init_logging(format: LogFormat, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
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
