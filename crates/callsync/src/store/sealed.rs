//! The store's side of secrets at rest: what it seals before writing (an organisation's
//! signing secret, its Salesforce connection JSON, retired signing secrets, each Salesforce
//! user's refresh token — `user_connections.rs`) and opens after
//! reading, so [`OrgRow`] stays the plain in-memory view the rest of callsync reads, while
//! the database holds only `sealed:v1:…` text (`crate::secrets`).

use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use sqlx::Row as _;

use super::{OrgRow, Store};
use crate::secrets::Sealer;

impl Store {
    /// The sealer this store writes with: for other stored secrets (consumer secrets,
    /// refresh tokens) a module seals with `store.sealer().seal(..)` before writing and
    /// opens with `store.sealer().open(..)` after reading.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// Opens the sealed columns of an organisation read from the database.
    pub(super) fn unseal_org(&self, mut org: OrgRow) -> anyhow::Result<OrgRow> {
        org.signing_secret = self
            .sealer
            .open(&org.signing_secret)
            .with_context(|| {
                format!(
                    "cannot open the signing secret of organisation {:?}",
                    org.id
                )
            })?
            .expose_secret()
            .to_owned();
        if let Some(json) = &org.salesforce_json {
            org.salesforce_json = Some(
                self.sealer
                    .open(json)
                    .with_context(|| {
                        format!(
                            "cannot open the Salesforce connection of organisation {:?}",
                            org.id
                        )
                    })?
                    .expose_secret()
                    .to_owned(),
            );
        }
        Ok(org)
    }

    /// Seals every stored secret that is plain text (written before sealing existed) or
    /// sealed under an older key, under the current key. Returns how many values changed.
    /// Run at every `serve` start and by `callsync secrets reseal` after a key rotation.
    pub async fn reseal_all(&self) -> anyhow::Result<u64> {
        let mut changed = 0;
        let rows = sqlx::query("SELECT id, signing_secret, salesforce FROM orgs")
            .fetch_all(&self.pool)
            .await?;
        for row in rows {
            let id: String = row.try_get("id")?;
            let secret: String = row.try_get("signing_secret")?;
            let salesforce: Option<String> = row.try_get("salesforce")?;
            if !self.sealer.is_current(&secret) {
                let plain = self.sealer.open(&secret)?;
                sqlx::query(
                    "UPDATE orgs SET signing_secret = $1 WHERE id = $2 AND signing_secret = $3",
                )
                .bind(self.sealer.seal(plain.expose_secret()))
                .bind(&id)
                .bind(&secret)
                .execute(&self.writer)
                .await?;
                changed += 1;
            }
            if let Some(stored) = salesforce.filter(|stored| !self.sealer.is_current(stored)) {
                let plain = self.sealer.open(&stored)?;
                sqlx::query("UPDATE orgs SET salesforce = $1 WHERE id = $2 AND salesforce = $3")
                    .bind(self.sealer.seal(plain.expose_secret()))
                    .bind(&id)
                    .bind(&stored)
                    .execute(&self.writer)
                    .await?;
                changed += 1;
            }
        }
        let retired = sqlx::query("SELECT org_id, signing_secret FROM previous_signing_secrets")
            .fetch_all(&self.pool)
            .await?;
        for row in retired {
            let org_id: String = row.try_get("org_id")?;
            let stored: String = row.try_get("signing_secret")?;
            if self.sealer.is_current(&stored) {
                continue;
            }
            let plain = self.sealer.open(&stored)?;
            sqlx::query(
                "UPDATE previous_signing_secrets SET signing_secret = $1
                 WHERE org_id = $2 AND signing_secret = $3",
            )
            .bind(self.sealer.seal(plain.expose_secret()))
            .bind(&org_id)
            .bind(&stored)
            .execute(&self.writer)
            .await?;
            changed += 1;
        }
        changed += self.reseal_user_connections().await?;
        Ok(changed)
    }
}
