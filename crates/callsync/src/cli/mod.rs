//! The `callsync` command line: one binary, one subcommand per job. Each
//! subcommand is a thin shell over the library.

mod check;
mod demo;
mod errors;
mod explain;
mod index;
mod org;
mod replay;
mod sandbox;

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
    /// Post recorded events (NDJSON, one event per line) to a callsync API,
    /// signed and in batches, with a progress bar. Safe to repeat: the same
    /// event id is accepted once. The API key and signing secret come from
    /// CALLSYNC_API_KEY and CALLSYNC_SIGNING_SECRET (or *_FILE paths), never
    /// from the command line.
    Replay {
        /// The NDJSON file.
        file: PathBuf,
        /// The callsync API.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Events per request (at most 1000).
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(1..=1000))]
        batch: u16,
    },
    /// The error log (R9): list failures with their remedies; retry one.
    #[command(subcommand)]
    Errors(errors::ErrorsCommand),
    /// Run the local Salesforce org (sf-sandbox) on its own until Ctrl-C.
    Sandbox {
        #[arg(long, default_value_t = 8443)]
        port: u16,
        /// Seeds ids and generated data.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Generate about this many records (accounts, contacts, person
        /// accounts, leads, users) at start.
        #[arg(long, default_value_t = 1000)]
        records: usize,
    },
    /// Preflight each organisation's sync settings against its Salesforce.
    ///
    /// Per organisation: checks the settings themselves (R11), signs in as
    /// the default Salesforce user, reads the Task's fields, and checks the
    /// settings against them (a mapped custom field must exist with the
    /// right type; the Task status must be a value of the Status picklist).
    /// Prints one line per check, ✓ or ✗ with the problem in plain words,
    /// and exits non-zero if any check failed. Run it after changing
    /// Salesforce or the settings, before calls start failing.
    Check {
        /// Check only this organisation (default: every one).
        #[arg(long)]
        org: Option<String>,
    },
    /// Manage organisations.
    #[command(subcommand)]
    Org(org::OrgCommand),
    /// The local phone index (R15): rebuild or resume it with a progress bar, or show it.
    #[command(subcommand)]
    Index(index::IndexCommand),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The key that seals secrets at rest: make one, or reseal after rotating it.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Exit 0 when a callsync API answers `/readyz` (its database is reachable): the
    /// container image's HEALTHCHECK, which has no shell or curl to do it.
    Healthcheck {
        /// The readiness URL.
        #[arg(long, default_value = "http://127.0.0.1:8080/readyz")]
        url: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print a commented example configuration file with the defaults.
    Example,
    /// Print the configuration reference (Markdown) generated from the configuration
    /// types: every key, its type, default, environment variable and meaning
    /// (`docs/configuration.md`).
    Reference,
}

#[derive(Debug, Subcommand)]
enum SecretsCommand {
    /// Print a new random secret key (base64 of 32 bytes) for CALLSYNC_SECRET_KEY or a
    /// key file.
    GenerateKey,
    /// Seal every stored secret under the current (first) key: after adding a new key in
    /// front of the old one, run this, then remove the old key.
    Reseal,
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
        Command::Config(ConfigCommand::Reference) => {
            print!("{}", crate::config::reference());
            Ok(())
        }
        Command::Healthcheck { url } => {
            let answer = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(3))
                .build()?
                .get(&url)
                .send()
                .await
                .map_err(|error| anyhow::anyhow!("{url} does not answer: {error}"))?;
            anyhow::ensure!(
                answer.status().is_success(),
                "{url} answered {}",
                answer.status()
            );
            Ok(())
        }
        Command::Secrets(SecretsCommand::GenerateKey) => {
            println!("{}", crate::secrets::generate_key());
            Ok(())
        }
        Command::Secrets(SecretsCommand::Reseal) => {
            let config = Config::load(cli.config.as_deref())?;
            init_logging(config.log_format, "warn");
            let store = crate::store::Store::open(&config).await?;
            let changed = store.reseal_all().await?;
            println!(
                "{changed} stored secrets sealed under key {}",
                store.sealer().key_id()
            );
            Ok(())
        }
        Command::Migrate => {
            let config = Config::load(cli.config.as_deref())?;
            init_logging(config.log_format, "info");
            crate::store::Store::open(&config).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve => {
            let config = Config::load(cli.config.as_deref())?;
            init_logging(config.log_format, "info");
            crate::server::serve(config, shutdown_signal()).await
        }
        Command::Replay { file, url, batch } => {
            init_logging(LogFormat::Text, "warn");
            let target = replay::ReplayTarget {
                url,
                api_key: secret_from_env("CALLSYNC_API_KEY")?,
                signing_secret: secret_from_env("CALLSYNC_SIGNING_SECRET")?,
                batch: usize::from(batch),
            };
            let report = replay::run(&file, &target).await?;
            println!(
                "accepted {}, duplicates {}, unreadable lines {}, refused batches {}",
                report.accepted,
                report.duplicates,
                report.unreadable_lines.len(),
                report.refused_batches.len()
            );
            anyhow::ensure!(
                report.unreadable_lines.is_empty() && report.refused_batches.is_empty(),
                "some events were not accepted (see above)"
            );
            Ok(())
        }
        Command::Errors(command) => {
            let config = Config::load(cli.config.as_deref())?;
            errors::run(command, &config).await
        }
        Command::Sandbox {
            port,
            seed,
            records,
        } => {
            init_logging(LogFormat::Text, "warn");
            sandbox::run(port, seed, records).await
        }
        Command::Org(command) => {
            let config = Config::load(cli.config.as_deref())?;
            org::run(command, &config).await
        }
        Command::Index(command) => {
            let config = Config::load(cli.config.as_deref())?;
            index::run(command, &config).await
        }
        Command::Check { org } => {
            let config = Config::load(cli.config.as_deref())?;
            init_logging(config.log_format, "error");
            check::run(&config, org.as_deref()).await
        }
    }
}

/// Logs to standard error, as text or JSON; `RUST_LOG` filters
/// (default `default_filter`). Beside the log, the Salesforce client's request spans
/// feed the Salesforce latency histogram whatever the filter (`salesforce_metrics`).
pub fn init_logging(format: LogFormat, default_filter: &str) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let text = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let log = match format {
        LogFormat::Text => text.boxed(),
        LogFormat::Json => text.json().boxed(),
    };
    let salesforce = crate::salesforce_metrics::SalesforceMetricsLayer.with_filter(
        tracing_subscriber::filter::filter_fn(crate::salesforce_metrics::wants),
    );
    // A second initialisation (tests, demo after serve) keeps the first.
    let _ = tracing_subscriber::registry()
        .with(log.with_filter(filter))
        .with(salesforce)
        .try_init();
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

/// A secret from `NAME`, or from the file `NAME_FILE` names (trailing
/// whitespace trimmed). Secrets never come from the command line, where
/// other users of the machine could read them.
fn secret_from_env(name: &str) -> anyhow::Result<secrecy::SecretString> {
    if let Ok(value) = std::env::var(name) {
        return Ok(value.into());
    }
    let file_variable = format!("{name}_FILE");
    match std::env::var(&file_variable) {
        Ok(path) => {
            let text = std::fs::read_to_string(&path).map_err(|error| {
                anyhow::anyhow!("cannot read {file_variable} ({path}): {error}")
            })?;
            Ok(text.trim_end().to_owned().into())
        }
        Err(_) => anyhow::bail!("set {name} or {file_variable}"),
    }
}
