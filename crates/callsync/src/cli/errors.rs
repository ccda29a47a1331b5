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
    /// Retry the call behind an entry, once its cause is fixed; or, with
    /// `--code`, `--step` and/or `--since` instead of a number, every open
    /// entry of that kind (`callsync errors retry --org acme --code
    /// FIELD_CUSTOM_VALIDATION_EXCEPTION --step create_task`).
    Retry {
        #[arg(long)]
        org: String,
        /// The entry's number, as `list` shows it.
        #[arg(conflicts_with_all = ["code", "step", "since"], required_unless_present_any = ["code", "step"])]
        id: Option<i64>,
        /// Every open entry with this error code.
        #[arg(long)]
        code: Option<String>,
        /// Every open entry of this step (`create_task`, `update_task`, `match`, `auth`…).
        #[arg(long)]
        step: Option<String>,
        /// Only entries that occurred at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
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
        ErrorsCommand::Retry {
            org,
            id: None,
            code,
            step,
            since,
        } => {
            anyhow::ensure!(store.org(&org).await?.is_some(), "no organisation {org:?}");
            let filter =
                crate::api::admin::error_filter(code, step, since).map_err(|problems| {
                    let lines: Vec<String> = problems
                        .into_iter()
                        .map(|problem| format!("--{}: {}", problem.field, problem.message))
                        .collect();
                    anyhow::anyhow!("{}", lines.join("; "))
                })?;
            let call_ids = store
                .retry_errors_matching(&org, &filter, Timestamp::now())
                .await?;
            if call_ids.is_empty() {
                println!("no open error-log entries of that kind in {org}");
            } else {
                println!(
                    "retrying {} call(s): {}; a running `callsync serve` picks them up now",
                    call_ids.len(),
                    call_ids.join(", ")
                );
            }
        }
        ErrorsCommand::Retry {
            org, id: Some(id), ..
        } => {
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
