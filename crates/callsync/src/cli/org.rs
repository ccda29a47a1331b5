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
    /// Print a one-time link that signs an admin in to the organisation's
    /// console (valid once, for 15 minutes).
    LoginLink {
        id: String,
        /// The console's address as the admin's browser reaches it (default:
        /// `http://` and the configured listen address).
        #[arg(long)]
        base_url: Option<String>,
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
            let link = crate::console::session::new_login_link(&store, &id, now).await?;
            println!(
                "console sign-in: {}{link}  (works once, within 15 minutes; more with `callsync org login-link {id}`)",
                base_url(config, None)
            );
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
        OrgCommand::LoginLink { id, base_url: base } => {
            anyhow::ensure!(store.org(&id).await?.is_some(), "no organisation {id:?}");
            let link = crate::console::session::new_login_link(&store, &id, now).await?;
            println!("{}{link}", base_url(config, base.as_deref()));
            eprintln!("(works once, within 15 minutes)");
        }
        OrgCommand::List => {
            for org in store.orgs().await? {
                println!("{}\t{}", org.id, org.name);
            }
        }
    }
    Ok(())
}

/// Where the admin's browser reaches the console: `--base-url`, or the
/// configured listen address (an unspecified address as localhost).
fn base_url(config: &Config, given: Option<&str>) -> String {
    if let Some(given) = given {
        return given.trim_end_matches('/').to_owned();
    }
    let mut address = config.listen;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{address}")
}
