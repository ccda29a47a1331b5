//! `callsync index`: the local phone index (R15) of an organisation — rebuild it from
//! Salesforce with a progress bar, resume an interrupted backfill, or show its state.

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::crm::{ClientOptions, Connections, SalesforceConnection};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Forget the organisation's stored index and page through its Salesforce again.
    /// Safe to interrupt: `callsync index resume ORG` (or `serve`) goes on from the last
    /// stored page.
    Rebuild { org: String },
    /// Finish an interrupted backfill (or catch a finished index up), from its stored
    /// cursor.
    Resume { org: String },
    /// Print the index's state (records, backfill per object, watermark, last error).
    Status { org: String },
}

pub async fn run(command: IndexCommand, config: &Config) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url).await?;
    let (org_id, rebuild) = match &command {
        IndexCommand::Rebuild { org } => (org, true),
        IndexCommand::Resume { org } => (org, false),
        IndexCommand::Status { org } => {
            let index = store.indexes().org(org);
            // Reading the stored state needs no Salesforce: load without syncing.
            let settings = org_settings(&store, org).await?;
            index.load(&store, settings.region()).await?;
            println!("{}", serde_json::to_string_pretty(&index.status())?);
            return Ok(());
        }
    };
    let org = store
        .org(org_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no organisation {org_id:?} (see `callsync org list`)"))?;
    let connection = org.salesforce_json.as_deref().ok_or_else(|| {
        anyhow::anyhow!(
            "organisation {org_id:?} has no Salesforce connection: connect it first \
             (PUT /v1/salesforce)"
        )
    })?;
    let connection = SalesforceConnection::from_json(connection)?;
    let client =
        Connections::new(ClientOptions::default()).default_user_client(org_id, &connection)?;
    let settings = org_settings(&store, org_id).await?;
    let index = store.indexes().org(org_id);
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>8} {bar:40} {pos}/{len} records  {per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    crate::index::backfill(
        &store,
        &index,
        &client,
        settings.region(),
        rebuild,
        &|progress| {
            if bar.prefix() != progress.object {
                bar.set_prefix(progress.object);
                bar.reset();
            }
            bar.set_length(progress.total.unwrap_or(progress.rows).max(progress.rows));
            bar.set_position(progress.rows);
        },
    )
    .await?;
    bar.finish_and_clear();
    let status = index.status();
    println!(
        "phone index of {org_id}: {} records, {} numbers, {}",
        status.records, status.numbers, status.state
    );
    Ok(())
}

async fn org_settings(
    store: &Store,
    org_id: &str,
) -> anyhow::Result<callsync_core::settings::Settings> {
    let org = store
        .org(org_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no organisation {org_id:?} (see `callsync org list`)"))?;
    serde_json::from_str(&org.settings_json).map_err(|error| {
        anyhow::anyhow!("the stored settings of organisation {org_id:?} cannot be read: {error}")
    })
}
