//! `callsync errors`: the error log from the command line (R9), for admins
//! on the server: list what failed with its remedy, and retry once fixed.

use clap::Subcommand;
use jiff::Timestamp;

use crate::config::Config;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum ErrorsCommand {
    /// List error-log entries, newest first, with their remedies.
    List {
        /// The organisation.
        #[arg(long)]
        org: String,
        /// Include entries already resolved by a retry.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Retry the call behind an entry, once its cause is fixed.
    Retry {
        #[arg(long)]
        org: String,
        /// The entry's number, as `list` shows it.
        id: i64,
    },
}

pub async fn run(command: ErrorsCommand, config: &Config) -> anyhow::Result<()> {
    let store = Store::open(config).await?;
    match command {
        ErrorsCommand::List { org, all, limit } => {
            anyhow::ensure!(store.org(&org).await?.is_some(), "no organisation {org:?}");
            let entries = store.errors(&org, !all, limit).await?;
            if entries.is_empty() {
                println!("no {}errors for {org}", if all { "" } else { "open " });
            }
            for entry in entries {
                let state = match entry.resolved_at {
                    Some(at) => format!("resolved {at}"),
                    None => "open".to_owned(),
                };
                println!(
                    "#{} {} call {} [{}] {}",
                    entry.id, entry.occurred_at, entry.call_id, entry.step, state
                );
                println!("    {}: {}", entry.code, entry.message);
                println!("    remedy: {}", entry.remedy);
            }
        }
        ErrorsCommand::Retry { org, id } => {
            anyhow::ensure!(
                store.retry_error(&org, id, Timestamp::now()).await?,
                "no error-log entry #{id} in organisation {org:?}"
            );
            println!(
                "retrying the call of entry #{id}; a running `callsync serve` picks it up now"
            );
        }
    }
    Ok(())
}
