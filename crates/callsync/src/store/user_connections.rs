//! Each Salesforce user's own connection (OAuth 2.0 web-server flow, R14 "as each user"):
//! the refresh token, sealed with the store's [`crate::secrets::Sealer`] before it is
//! written and opened after it is read, and whether Salesforce refused it (R16).

use anyhow::Context as _;
use jiff::Timestamp;
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::Row as _;

use super::{Store, WaitReason, millis, timestamp};

/// One user's connection, token included: for the worker only.
#[derive(Debug, Clone)]
pub struct UserConnection {
    /// The Salesforce username, lower-cased.
    pub sf_username: String,
    pub sf_user_id: String,
    /// The refresh token, opened.
    pub refresh_token: SecretString,
    pub state: UserConnectionState,
}

/// What the console may show of a user's connection: everything but the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserConnectionState {
    /// The Salesforce username, lower-cased.
    pub sf_username: String,
    pub connected_at: Timestamp,
    /// When Salesforce refused the token, and what it said (`code: message`).
    pub refused: Option<(Timestamp, String)>,
}

impl Store {
    /// Stores the refresh token `sf_username` gave callsync, replacing an earlier one and
    /// clearing a refusal; then every call of the organisation that waits for a connection
    /// is made due now, so the user's calls are synced at once (R16 backfill). Answers how
    /// many calls were woken.
    pub async fn put_user_connection(
        &self,
        org_id: &str,
        sf_username: &str,
        sf_user_id: &str,
        refresh_token: &SecretString,
        now: Timestamp,
    ) -> anyhow::Result<u64> {
        let sealed = self.sealer.seal(refresh_token.expose_secret());
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO salesforce_user_connections
                 (org_id, sf_username, sf_user_id, refresh_token, connected_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (org_id, sf_username) DO UPDATE SET
                 sf_user_id = excluded.sf_user_id, refresh_token = excluded.refresh_token,
                 connected_at = excluded.connected_at, refused_at = NULL,
                 refused_because = NULL",
        )
        .bind(org_id)
        .bind(sf_username.trim().to_lowercase())
        .bind(sf_user_id)
        .bind(sealed)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.wake_waiting_for_connection(org_id, now).await
    }

    /// Makes every call of `org_id` that waits for a Salesforce connection due now. Calls
    /// of users still not connected wait again at once, without asking Salesforce.
    pub async fn wake_waiting_for_connection(
        &self,
        org_id: &str,
        now: Timestamp,
    ) -> anyhow::Result<u64> {
        let woken = sqlx::query(
            "UPDATE sync_work SET not_before = $2
             WHERE org_id = $1 AND wait_reason = $3 AND parked = 0 AND not_before > $2",
        )
        .bind(org_id)
        .bind(millis(now))
        .bind(WaitReason::ConnectionRevoked.as_str())
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(woken)
    }

    /// The connection of `sf_username`, token opened, if the user connected.
    pub async fn user_connection(
        &self,
        org_id: &str,
        sf_username: &str,
    ) -> anyhow::Result<Option<UserConnection>> {
        let row = sqlx::query(
            "SELECT sf_username, sf_user_id, refresh_token, connected_at, refused_at,
                    refused_because
             FROM salesforce_user_connections WHERE org_id = $1 AND sf_username = $2",
        )
        .bind(org_id)
        .bind(sf_username.trim().to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: String = row.try_get("refresh_token")?;
        let refresh_token = self.sealer.open(&sealed).with_context(|| {
            format!("cannot open the refresh token of a Salesforce user of organisation {org_id:?}")
        })?;
        Ok(Some(UserConnection {
            sf_username: row.try_get("sf_username")?,
            sf_user_id: row.try_get("sf_user_id")?,
            refresh_token,
            state: state_of(&row)?,
        }))
    }

    /// Every user connection of `org_id`, without tokens, by username.
    pub async fn user_connections(&self, org_id: &str) -> anyhow::Result<Vec<UserConnectionState>> {
        let rows = sqlx::query(
            "SELECT sf_username, connected_at, refused_at, refused_because
             FROM salesforce_user_connections WHERE org_id = $1 ORDER BY sf_username",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(state_of).collect()
    }

    /// Notes that Salesforce refused the token of `sf_username` (`because`: its code and
    /// message): the user's calls wait until they connect again.
    pub async fn refuse_user_connection(
        &self,
        org_id: &str,
        sf_username: &str,
        because: &str,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE salesforce_user_connections SET refused_at = $3, refused_because = $4
             WHERE org_id = $1 AND sf_username = $2",
        )
        .bind(org_id)
        .bind(sf_username.trim().to_lowercase())
        .bind(millis(now))
        .bind(because)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Seals refresh tokens that are not sealed under the current key (see
    /// [`Store::reseal_all`]). Answers how many changed.
    pub(super) async fn reseal_user_connections(&self) -> anyhow::Result<u64> {
        let rows = sqlx::query(
            "SELECT org_id, sf_username, refresh_token FROM salesforce_user_connections",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut changed = 0;
        for row in rows {
            let stored: String = row.try_get("refresh_token")?;
            if self.sealer.is_current(&stored) {
                continue;
            }
            let plain = self.sealer.open(&stored)?;
            sqlx::query(
                "UPDATE salesforce_user_connections SET refresh_token = $1
                 WHERE org_id = $2 AND sf_username = $3 AND refresh_token = $4",
            )
            .bind(self.sealer.seal(plain.expose_secret()))
            .bind(row.try_get::<String, _>("org_id")?)
            .bind(row.try_get::<String, _>("sf_username")?)
            .bind(&stored)
            .execute(&self.writer)
            .await?;
            changed += 1;
        }
        Ok(changed)
    }
}

fn state_of(row: &sqlx::any::AnyRow) -> anyhow::Result<UserConnectionState> {
    let refused_at: Option<i64> = row.try_get("refused_at")?;
    let because: Option<String> = row.try_get("refused_because")?;
    Ok(UserConnectionState {
        sf_username: row.try_get("sf_username")?,
        connected_at: timestamp(row.try_get("connected_at")?),
        refused: refused_at.map(|at| (timestamp(at), because.unwrap_or_default())),
    })
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use secrecy::{ExposeSecret as _, SecretString};
    use sqlx::Row as _;

    use crate::on_both_backends;
    use crate::store::NewOrg;

    on_both_backends! {
        async fn a_refresh_token_is_stored_sealed_refused_and_replaced_by_a_new_connection(db: &TestDatabase) {
            let store = db.store().await;
            let now = Timestamp::now();
            store
                .create_org(
                    &NewOrg {
                        id: "acme".into(),
                        name: "Acme".into(),
                        signing_secret: "s".into(),
                        settings_json: "{}".into(),
                        salesforce_json: None,
                    },
                    now,
                )
                .await
                .unwrap();
            assert!(store.user_connection("acme", "aiko@example.com").await.unwrap().is_none());
            let token = SecretString::from("5Aep861-the-refresh-token");
            store
                .put_user_connection("acme", "Aiko@Example.com", "005000000000001AAA", &token, now)
                .await
                .unwrap();
            let stored: String = sqlx::query("SELECT refresh_token FROM salesforce_user_connections")
                .fetch_one(&store.pool)
                .await
                .unwrap()
                .try_get("refresh_token")
                .unwrap();
            assert!(stored.starts_with("sealed:v1:"), "{stored}");
            assert!(!stored.contains("the-refresh-token"));
            let read = store.user_connection("acme", "aiko@example.com").await.unwrap().unwrap();
            assert_eq!(read.refresh_token.expose_secret(), token.expose_secret());
            assert_eq!(read.state.refused, None);

            store
                .refuse_user_connection("acme", "AIKO@example.com", "invalid_grant: expired access/refresh token", now)
                .await
                .unwrap();
            let states = store.user_connections("acme").await.unwrap();
            assert_eq!(states.len(), 1);
            assert!(states[0].refused.as_ref().unwrap().1.contains("invalid_grant"));

            let fresh = SecretString::from("5Aep861-a-new-token");
            store
                .put_user_connection("acme", "aiko@example.com", "005000000000001AAA", &fresh, now)
                .await
                .unwrap();
            let read = store.user_connection("acme", "aiko@example.com").await.unwrap().unwrap();
            assert_eq!(read.refresh_token.expose_secret(), fresh.expose_secret());
            assert_eq!(read.state.refused, None);
        }
    }
}
