//! What the admin console keeps and reads beyond the API's queries: one-time
//! sign-in links, browser sessions, and the counts of its overview page.
//!
//! Invariants: links and sessions are stored as the SHA-256 of their token
//! only; a link is redeemed at most once (one `UPDATE … RETURNING`, so two
//! concurrent redemptions cannot both win); a session read past its idle or
//! absolute expiry is as good as absent. Every query is scoped to one
//! organisation.

use jiff::Timestamp;
use sqlx::Row as _;

use super::{Store, millis, timestamp};

/// A signed-in browser session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub org_id: String,
    /// The token every form of the session must carry back.
    pub csrf_token: String,
    pub created_at: Timestamp,
}

/// How many calls are in one sync state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCount {
    pub state: String,
    pub count: i64,
}

/// The organisation's part of the sync queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueSummary {
    /// Calls with sync work queued.
    pub depth: i64,
    /// The first event of the oldest call that is waiting for sync.
    pub oldest_waiting_since: Option<Timestamp>,
}

/// Open error-log entries of one kind (same code, same step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorKindCount {
    pub code: String,
    pub step: String,
    pub count: i64,
}

impl Store {
    /// Stores a one-time sign-in link by its token's hash.
    pub async fn create_login_link(
        &self,
        token_hash: &str,
        org_id: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO console_login_links (token_hash, org_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(org_id)
        .bind(millis(now))
        .bind(millis(expires_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Redeems a sign-in link: its organisation, if the link exists, has not
    /// expired and was never used; it cannot be used again afterwards.
    pub async fn redeem_login_link(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> anyhow::Result<Option<String>> {
        let row = sqlx::query(
            "UPDATE console_login_links SET used_at = $2
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
             RETURNING org_id",
        )
        .bind(token_hash)
        .bind(millis(now))
        .fetch_optional(&self.writer)
        .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("org_id")?),
            None => None,
        })
    }

    /// Starts a session.
    pub async fn create_session(
        &self,
        token_hash: &str,
        org_id: &str,
        csrf_token: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO console_sessions
                 (token_hash, org_id, csrf_token, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(token_hash)
        .bind(org_id)
        .bind(csrf_token)
        .bind(millis(now))
        .bind(millis(expires_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The live session with this token hash, touched as seen now. A session
    /// idle for `idle` or past its absolute expiry is deleted and `None`.
    pub async fn touch_session(
        &self,
        token_hash: &str,
        now: Timestamp,
        idle: std::time::Duration,
    ) -> anyhow::Result<Option<SessionRow>> {
        let idle_ms = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
        let row = sqlx::query(
            "UPDATE console_sessions SET last_seen_at = $2
             WHERE token_hash = $1 AND expires_at > $2 AND last_seen_at > $3
             RETURNING org_id, csrf_token, created_at",
        )
        .bind(token_hash)
        .bind(millis(now))
        .bind(millis(now).saturating_sub(idle_ms))
        .fetch_optional(&self.writer)
        .await?;
        match row {
            Some(row) => Ok(Some(SessionRow {
                org_id: row.try_get("org_id")?,
                csrf_token: row.try_get("csrf_token")?,
                created_at: timestamp(row.try_get("created_at")?),
            })),
            None => {
                // Expired or unknown: make sure an expired one is gone.
                self.delete_session(token_hash).await?;
                Ok(None)
            }
        }
    }

    /// Ends a session (sign-out, or expiry).
    pub async fn delete_session(&self, token_hash: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The organisation's calls whose first event is at or after `since`,
    /// counted by sync state.
    pub async fn call_states_since(
        &self,
        org_id: &str,
        since: Timestamp,
    ) -> anyhow::Result<Vec<StateCount>> {
        let rows = sqlx::query(
            "SELECT sync_state, COUNT(*) AS n FROM calls
             WHERE org_id = $1 AND first_event_at >= $2
             GROUP BY sync_state ORDER BY sync_state",
        )
        .bind(org_id)
        .bind(millis(since))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StateCount {
                    state: row.try_get("sync_state")?,
                    count: row.try_get("n")?,
                })
            })
            .collect()
    }

    /// The organisation's queued sync work, and how long its oldest call has
    /// been waiting (pending or waiting for an event).
    pub async fn org_queue(&self, org_id: &str) -> anyhow::Result<QueueSummary> {
        let depth: i64 = sqlx::query("SELECT COUNT(*) AS n FROM sync_work WHERE org_id = $1")
            .bind(org_id)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let oldest: Option<i64> = sqlx::query(
            "SELECT MIN(first_event_at) AS oldest FROM calls
             WHERE org_id = $1 AND sync_state IN ('pending', 'waiting')",
        )
        .bind(org_id)
        .fetch_one(&self.pool)
        .await?
        .try_get("oldest")?;
        Ok(QueueSummary {
            depth,
            oldest_waiting_since: oldest.map(timestamp),
        })
    }

    /// Sync attempts recorded per day since `since` (each one Salesforce
    /// request or more), as (day number, count); a day number is
    /// `(epoch ms + offset_ms) / 86_400_000`, so days follow the
    /// organisation's time zone at `offset_ms` from UTC.
    pub async fn sync_attempts_per_day(
        &self,
        org_id: &str,
        since: Timestamp,
        offset_ms: i64,
    ) -> anyhow::Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT (at + $3) / 86400000 AS day, COUNT(*) AS n FROM sync_history
             WHERE org_id = $1 AND at >= $2
             GROUP BY (at + $3) / 86400000 ORDER BY day",
        )
        .bind(org_id)
        .bind(millis(since))
        .bind(offset_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("day")?, row.try_get("n")?)))
            .collect()
    }

    /// Users that handled calls but were never set up (no row in `users`):
    /// the console lists them as unlinked.
    pub async fn unknown_call_users(&self, org_id: &str) -> anyhow::Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT user_id FROM calls
             WHERE org_id = $1 AND user_id IS NOT NULL
               AND user_id NOT IN (SELECT user_id FROM users WHERE org_id = $1)
             ORDER BY user_id LIMIT 1000",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok(row.try_get("user_id")?)).collect()
    }

    /// Open error-log entries grouped by kind (code and step), most first.
    pub async fn open_error_kinds(&self, org_id: &str) -> anyhow::Result<Vec<ErrorKindCount>> {
        let rows = sqlx::query(
            "SELECT code, step, COUNT(*) AS n FROM error_log
             WHERE org_id = $1 AND resolved_at IS NULL
             GROUP BY code, step ORDER BY n DESC, code, step",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ErrorKindCount {
                    code: row.try_get("code")?,
                    step: row.try_get("step")?,
                    count: row.try_get("n")?,
                })
            })
            .collect()
    }
}

/// A sign-in with Salesforce under way, as the callback takes it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthState {
    pub org_id: String,
    /// The PKCE verifier (a short-lived secret: useless without the code).
    pub code_verifier: String,
    pub redirect_uri: String,
}

impl Store {
    /// Lets the Salesforce user `sf_username` sign in to `org_id`'s console.
    pub async fn add_console_admin(&self, org_id: &str, sf_username: &str) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO console_admins (org_id, sf_username) VALUES ($1, $2)
             ON CONFLICT (org_id, sf_username) DO NOTHING",
        )
        .bind(org_id)
        .bind(sf_username.trim().to_lowercase())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn remove_console_admin(
        &self,
        org_id: &str,
        sf_username: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM console_admins WHERE org_id = $1 AND sf_username = $2")
            .bind(org_id)
            .bind(sf_username.trim().to_lowercase())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The usernames that may sign in with Salesforce, sorted.
    pub async fn console_admins(&self, org_id: &str) -> anyhow::Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT sf_username FROM console_admins WHERE org_id = $1 ORDER BY sf_username",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get("sf_username")?))
            .collect()
    }

    /// Remembers a sign-in with Salesforce until the callback.
    pub async fn put_oauth_state(
        &self,
        state_hash: &str,
        state: &OAuthState,
        expires_at: Timestamp,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO console_oauth_states (state_hash, org_id, code_verifier, redirect_uri, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(state_hash)
        .bind(&state.org_id)
        .bind(&state.code_verifier)
        .bind(&state.redirect_uri)
        .bind(millis(expires_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Takes back a sign-in under way: once, and only before it expires.
    pub async fn take_oauth_state(
        &self,
        state_hash: &str,
        now: Timestamp,
    ) -> anyhow::Result<Option<OAuthState>> {
        let row = sqlx::query(
            "DELETE FROM console_oauth_states WHERE state_hash = $1
             RETURNING org_id, code_verifier, redirect_uri, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.writer)
        .await?;
        let Some(row) = row else { return Ok(None) };
        if row.try_get::<i64, _>("expires_at")? <= millis(now) {
            return Ok(None);
        }
        Ok(Some(OAuthState {
            org_id: row.try_get("org_id")?,
            code_verifier: row.try_get("code_verifier")?,
            redirect_uri: row.try_get("redirect_uri")?,
        }))
    }
}

/// How one phone user's syncs have gone: the Salesforce connection's
/// health as far as callsync has seen it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserHealth {
    pub last_success: Option<Timestamp>,
    pub last_failure: Option<Timestamp>,
    /// The last failure's code and message, and whether it is still open.
    pub last_failure_code: Option<String>,
    pub last_failure_message: Option<String>,
    pub last_failure_open: bool,
    /// Calls of this user queued or waiting for an event (R16).
    pub waiting: i64,
}

impl Store {
    /// Each phone user's health, by user id, from the sync history, the
    /// error log and the calls still waiting.
    pub async fn user_health(
        &self,
        org_id: &str,
    ) -> anyhow::Result<std::collections::BTreeMap<String, UserHealth>> {
        let mut health: std::collections::BTreeMap<String, UserHealth> = Default::default();
        let rows = sqlx::query(
            "SELECT c.user_id AS user_id, MAX(h.at) AS last_ok
             FROM sync_history h JOIN calls c ON c.org_id = h.org_id AND c.call_id = h.call_id
             WHERE h.org_id = $1 AND h.outcome IN ('ok', 'adopted') AND c.user_id IS NOT NULL
             GROUP BY c.user_id",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let user: String = row.try_get("user_id")?;
            let last_ok: Option<i64> = row.try_get("last_ok")?;
            health.entry(user).or_default().last_success = last_ok.map(timestamp);
        }
        // The newest entries first; the first seen per user is its last failure.
        let rows = sqlx::query(
            "SELECT c.user_id AS user_id, e.occurred_at, e.code, e.message, e.resolved_at
             FROM error_log e JOIN calls c ON c.org_id = e.org_id AND c.call_id = e.call_id
             WHERE e.org_id = $1 AND c.user_id IS NOT NULL
             ORDER BY e.id DESC LIMIT 2000",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let user: String = row.try_get("user_id")?;
            let entry = health.entry(user).or_default();
            if entry.last_failure.is_some() {
                continue;
            }
            entry.last_failure = Some(timestamp(row.try_get("occurred_at")?));
            entry.last_failure_code = Some(row.try_get("code")?);
            entry.last_failure_message = Some(row.try_get("message")?);
            entry.last_failure_open = row.try_get::<Option<i64>, _>("resolved_at")?.is_none();
        }
        let rows = sqlx::query(
            "SELECT user_id, COUNT(*) AS n FROM calls
             WHERE org_id = $1 AND user_id IS NOT NULL AND sync_state IN ('pending', 'waiting')
             GROUP BY user_id",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let user: String = row.try_get("user_id")?;
            health.entry(user).or_default().waiting = row.try_get("n")?;
        }
        Ok(health)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jiff::{SignedDuration, Timestamp};

    use super::*;
    use crate::on_both_backends;
    use crate::store::NewOrg;
    use crate::test_support::TestDatabase;

    async fn store_with_org(db: &TestDatabase) -> Store {
        let store = db.store().await;
        store
            .create_org(
                &NewOrg {
                    id: "acme".into(),
                    name: "Acme".into(),
                    signing_secret: "s".into(),
                    settings_json: "{}".into(),
                    salesforce_json: None,
                },
                Timestamp::now(),
            )
            .await
            .unwrap();
        store
    }

    on_both_backends! {
        async fn a_sign_in_link_signs_in_once_and_not_after_it_expires(db: &TestDatabase) {
            let store = store_with_org(db).await;
            let now = Timestamp::now();
            let expiry = now + SignedDuration::from_mins(15);
            store.create_login_link("h1", "acme", now, expiry).await.unwrap();
            store.create_login_link("h2", "acme", now, expiry).await.unwrap();
            assert_eq!(store.redeem_login_link("h1", now).await.unwrap().as_deref(), Some("acme"));
            assert_eq!(store.redeem_login_link("h1", now).await.unwrap(), None, "used twice");
            let too_late = expiry + SignedDuration::from_secs(1);
            assert_eq!(store.redeem_login_link("h2", too_late).await.unwrap(), None, "expired");
            assert_eq!(store.redeem_login_link("unknown", now).await.unwrap(), None);
        }
    }

    on_both_backends! {
        async fn a_session_ends_when_idle_too_long_and_when_signed_out(db: &TestDatabase) {
            let store = store_with_org(db).await;
            let now = Timestamp::now();
            let idle = Duration::from_secs(30 * 60);
            let end = now + SignedDuration::from_hours(12);
            store.create_session("s1", "acme", "csrf1", now, end).await.unwrap();
            store.create_session("s2", "acme", "csrf2", now, end).await.unwrap();
            let seen = store.touch_session("s1", now + SignedDuration::from_mins(20), idle).await.unwrap();
            assert_eq!(seen.map(|s| s.csrf_token).as_deref(), Some("csrf1"));
            // Touched at +20 min, so +45 min is 25 minutes idle: still alive.
            assert!(store.touch_session("s1", now + SignedDuration::from_mins(45), idle).await.unwrap().is_some());
            // s2 was never touched: 31 minutes idle ends it, for good.
            assert!(store.touch_session("s2", now + SignedDuration::from_mins(31), idle).await.unwrap().is_none());
            assert!(store.touch_session("s2", now, idle).await.unwrap().is_none());
            store.delete_session("s1").await.unwrap();
            assert!(store.touch_session("s1", now + SignedDuration::from_mins(46), idle).await.unwrap().is_none());
        }
    }

    on_both_backends! {
        async fn a_session_ends_at_its_absolute_expiry_however_active(db: &TestDatabase) {
            let store = store_with_org(db).await;
            let now = Timestamp::now();
            let idle = Duration::from_secs(30 * 60);
            let end = now + SignedDuration::from_mins(50);
            store.create_session("s1", "acme", "c", now, end).await.unwrap();
            for minutes in [20, 40] {
                let at = now + SignedDuration::from_mins(minutes);
                assert!(store.touch_session("s1", at, idle).await.unwrap().is_some());
            }
            let at = now + SignedDuration::from_mins(51);
            assert!(store.touch_session("s1", at, idle).await.unwrap().is_none());
        }
    }

    on_both_backends! {
        async fn the_overview_counts_only_the_organisations_own_queue(db: &TestDatabase) {
            let store = store_with_org(db).await;
            let queue = store.org_queue("acme").await.unwrap();
            assert_eq!(queue, QueueSummary::default());
            assert!(store.call_states_since("acme", Timestamp::UNIX_EPOCH).await.unwrap().is_empty());
            assert!(store.sync_attempts_per_day("acme", Timestamp::UNIX_EPOCH, 9 * 3_600_000).await.unwrap().is_empty());
            assert!(store.unknown_call_users("acme").await.unwrap().is_empty());
            assert!(store.user_health("acme").await.unwrap().is_empty());
        }
    }
}
