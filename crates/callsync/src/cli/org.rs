//! `callsync org`: create organisations, manage their API keys (list, create, revoke, each
//! with its last use) and replace their signing secret with a grace period. Keys and
//! secrets are printed once, when made, and stored only as needed (keys as hashes, the
//! signing secret sealed: `secrets.rs`).

use std::time::Duration;

use clap::Subcommand;
use jiff::Timestamp;

use crate::api::{key_hash, new_key, new_signing_secret};
use crate::config::Config;
use crate::store::{NewOrg, Store};

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organisation with its signing secret and two API keys: one for the phone
    /// system (`ingest` only) and one for admins (`admin` only), so the key a phone system
    /// holds cannot change the Salesforce connection. Prints them once: keep them safe.
    Create {
        /// A short id (letters, digits, `-`, `_`): events carry it as `org`.
        id: String,
        /// A name for people.
        #[arg(long)]
        name: Option<String>,
    },
    /// API keys: list, create, revoke.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Replace the signing secret. The old one stays valid for the grace period, so the
    /// phone system can switch to the new one without losing events; then it is refused.
    RotateSecret {
        id: String,
        /// How long the old secret is still accepted, in hours.
        #[arg(long, default_value_t = 24)]
        grace_hours: u64,
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

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// The organisation's keys: id, scopes, label, created, last used, revoked.
    List { id: String },
    /// Make another API key; prints it once.
    Create {
        id: String,
        /// `ingest`, `admin` or `ingest,admin`.
        #[arg(long)]
        scopes: String,
        #[arg(long, default_value = "cli")]
        label: String,
    },
    /// Revoke a key by the id `keys list` shows: requests with it are refused (401) at once.
    Revoke {
        id: String,
        /// The key's id (12 hex digits).
        key_id: String,
    },
}

pub async fn run(command: OrgCommand, config: &Config) -> anyhow::Result<()> {
    let store = Store::open(config).await?;
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
            let ingest = new_key();
            store
                .add_api_key(&key_hash(&ingest), &id, "ingest", "phone system", now)
                .await?;
            let admin = new_key();
            store
                .add_api_key(&key_hash(&admin), &id, "admin", "admin", now)
                .await?;
            println!("organisation:    {id}");
            println!("signing secret:  {secret}");
            println!("ingest API key:  {ingest}   (for the phone system: POST /v1/events)");
            println!("admin API key:   {admin}   (for admins: settings, Salesforce, errors)");
            println!("(shown once: store them where they are used, and nowhere else)");
            let link = crate::console::session::new_login_link(&store, &id, now).await?;
            println!(
                "console sign-in: {}{link}  (works once, within 15 minutes; more with `callsync org login-link {id}`)",
                base_url(config, None)
            );
        }
        OrgCommand::Keys(KeysCommand::List { id }) => {
            anyhow::ensure!(store.org(&id).await?.is_some(), "no organisation {id:?}");
            println!("id\tscopes\tlabel\tcreated\tlast used\trevoked");
            for key in store.api_keys(&id).await? {
                let when =
                    |t: Option<Timestamp>| t.map_or_else(|| "-".to_owned(), |t| t.to_string());
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    key.id,
                    key.scopes,
                    key.label,
                    key.created_at,
                    when(key.last_used_at),
                    when(key.revoked_at)
                );
            }
        }
        OrgCommand::Keys(KeysCommand::Create { id, scopes, label }) => {
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
            println!(
                "id:      {}",
                &key_hash(&key)[..crate::store::KEY_ID_DIGITS]
            );
        }
        OrgCommand::Keys(KeysCommand::Revoke { id, key_id }) => {
            anyhow::ensure!(
                store.revoke_api_key(&id, &key_id, now).await?,
                "organisation {id:?} has no key {key_id:?} that is not revoked already \
                 (see `callsync org keys list {id}`)"
            );
            println!("revoked key {key_id} of {id}");
        }
        OrgCommand::RotateSecret { id, grace_hours } => {
            let secret = new_signing_secret();
            let grace = Duration::from_secs(grace_hours.saturating_mul(3600));
            anyhow::ensure!(
                store
                    .rotate_signing_secret(&id, &secret, grace, now)
                    .await?,
                "no organisation {id:?}"
            );
            println!("new signing secret: {secret}");
            println!(
                "the old secret is accepted for {grace_hours} more hours; switch the phone \
                 system to the new one before then"
            );
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
