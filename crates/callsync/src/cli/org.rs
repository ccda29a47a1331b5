//! `callsync org`: create organisations and their API keys. The signing
//! secret and keys are printed once, at creation, and stored only as
//! needed (keys as hashes).

use clap::Subcommand;
use jiff::Timestamp;

use crate::api::{key_hash, new_key, new_signing_secret};
use crate::config::Config;
use crate::store::{NewOrg, Store};

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organisation, with its signing secret and an API key that
    /// has both scopes. Prints them once: keep them safe.
    Create {
        /// A short id (letters, digits, `-`, `_`): events carry it as `org`.
        id: String,
        /// A name for people.
        #[arg(long)]
        name: Option<String>,
    },
    /// Make another API key for an organisation.
    AddKey {
        id: String,
        /// `ingest`, `admin` or `ingest,admin`.
        #[arg(long, default_value = "ingest,admin")]
        scopes: String,
        #[arg(long, default_value = "cli")]
        label: String,
    },
    /// List organisations.
    List,
}

pub async fn run(command: OrgCommand, config: &Config) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url).await?;
    let now = Timestamp::now();
    match command {
        OrgCommand::Create { id, name } => {
            anyhow::ensure!(
                !id.is_empty()
                    && id.len() <= 64
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "organisation id {id:?} must be 1–64 letters, digits, `-` or `_`"
            );
            anyhow::ensure!(
                store.org(&id).await?.is_none(),
                "organisation {id:?} exists already"
            );
            let secret = new_signing_secret();
            let settings = serde_json::to_string(&callsync_core::settings::Settings::default())?;
            store
                .create_org(
                    &NewOrg {
                        id: id.clone(),
                        name: name.unwrap_or_else(|| id.clone()),
                        signing_secret: secret.clone(),
                        settings_json: settings,
                        salesforce_json: None,
                    },
                    now,
                )
                .await?;
            let key = new_key();
            store
                .add_api_key(
                    &key_hash(&key),
                    &id,
                    "ingest,admin",
                    "created with the organisation",
                    now,
                )
                .await?;
            println!("organisation:    {id}");
            println!("signing secret:  {secret}");
            println!("API key:         {key}");
            println!("(shown once: store them in your phone system's configuration)");
        }
        OrgCommand::AddKey { id, scopes, label } => {
            anyhow::ensure!(store.org(&id).await?.is_some(), "no organisation {id:?}");
            for scope in scopes.split(',') {
                anyhow::ensure!(
                    matches!(scope.trim(), "ingest" | "admin"),
                    "unknown scope {scope:?}: use ingest, admin or ingest,admin"
                );
            }
            let key = new_key();
            store
                .add_api_key(&key_hash(&key), &id, &scopes, &label, now)
                .await?;
            println!("API key: {key}");
        }
        OrgCommand::List => {
            for org in store.orgs().await? {
                println!("{}\t{}", org.id, org.name);
            }
        }
    }
    Ok(())
}
