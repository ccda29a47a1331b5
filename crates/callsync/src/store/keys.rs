//! API keys and signing secrets over their life: list, revoke, last use, and replacing an
//! organisation's signing secret while the old one stays valid for a grace period.

use std::time::Duration;

use anyhow::Context as _;
use jiff::Timestamp;
use secrecy::SecretString;
use serde::Serialize;
use sqlx::Row as _;

use super::{Store, millis, timestamp};

/// How many hex digits of a key's SHA-256 name it in listings (`callsync org keys list`):
/// enough to tell keys apart, useless to guess the key.
pub const KEY_ID_DIGITS: usize = 12;

/// An API key as a listing shows it: never the key, only its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyRow {
    /// The first [`KEY_ID_DIGITS`] hex digits of the key's SHA-256.
    pub id: String,
    pub scopes: String,
    pub label: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// Whom a (not revoked) key belongs to, and when it was last used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    pub org_id: String,
    pub scopes: String,
    pub last_used_at: Option<Timestamp>,
}

impl Store {
    /// The owner of the key with `key_hash`, unless it is unknown or revoked.
    pub async fn key_owner(&self, key_hash: &str) -> anyhow::Result<Option<KeyOwner>> {
        let row = sqlx::query(
            "SELECT org_id, scopes, last_used_at FROM api_keys
             WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(KeyOwner {
                org_id: r.try_get("org_id")?,
                scopes: r.try_get("scopes")?,
                last_used_at: r.try_get::<Option<i64>, _>("last_used_at")?.map(timestamp),
            })
        })
        .transpose()
    }

    /// [`Store::key_owner`], or its answer within the last [`super::recent::FOR`] when
    /// it found the key (`recent.rs`): how a request authenticates.
    pub async fn key_owner_recent(&self, key_hash: &str) -> anyhow::Result<Option<KeyOwner>> {
        if let Some(owner) = self.recent.key(key_hash) {
            return Ok(Some(owner));
        }
        let owner = self.key_owner(key_hash).await?;
        if let Some(owner) = &owner {
            self.recent.keep_key(key_hash, owner);
        }
        Ok(owner)
    }

    /// Records that the key was used at `now`.
    pub async fn touch_api_key(&self, key_hash: &str, now: Timestamp) -> anyhow::Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE key_hash = $2")
            .bind(millis(now))
            .bind(key_hash)
            .execute(&self.writer)
            .await
            .context("cannot record the API key's use")?;
        self.recent.forget_key(key_hash);
        Ok(())
    }

    /// The organisation's keys, oldest first, revoked ones included.
    pub async fn api_keys(&self, org_id: &str) -> anyhow::Result<Vec<ApiKeyRow>> {
        let rows = sqlx::query(
            "SELECT key_hash, scopes, label, created_at, last_used_at, revoked_at
             FROM api_keys WHERE org_id = $1 ORDER BY created_at, key_hash",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let hash: String = r.try_get("key_hash")?;
                Ok(ApiKeyRow {
                    id: hash.chars().take(KEY_ID_DIGITS).collect(),
                    scopes: r.try_get("scopes")?,
                    label: r.try_get("label")?,
                    created_at: timestamp(r.try_get("created_at")?),
                    last_used_at: r.try_get::<Option<i64>, _>("last_used_at")?.map(timestamp),
                    revoked_at: r.try_get::<Option<i64>, _>("revoked_at")?.map(timestamp),
                })
            })
            .collect()
    }

    /// Revokes the organisation's key whose id is `key_id` (as listed). Returns false when
    /// the organisation has no such key that is not revoked already.
    pub async fn revoke_api_key(
        &self,
        org_id: &str,
        key_id: &str,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        anyhow::ensure!(
            key_id.len() == KEY_ID_DIGITS && key_id.bytes().all(|b| b.is_ascii_hexdigit()),
            "a key id is {KEY_ID_DIGITS} hex digits, as `callsync org keys list` shows it"
        );
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1
             WHERE org_id = $2 AND substr(key_hash, 1, 12) = $3 AND revoked_at IS NULL",
        )
        .bind(millis(now))
        .bind(org_id)
        .bind(key_id.to_ascii_lowercase())
        .execute(&self.writer)
        .await?;
        self.recent.forget_keys();
        Ok(done.rows_affected() > 0)
    }

    /// Replaces the organisation's signing secret with `new_secret`; the old one stays
    /// valid until `now + grace`. Returns false when there is no such organisation.
    pub async fn rotate_signing_secret(
        &self,
        org_id: &str,
        new_secret: &str,
        grace: Duration,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        let until = now
            .checked_add(jiff::SignedDuration::try_from(grace)?)
            .context("the grace period ends out of range")?;
        let mut tx = self.writer.begin().await?;
        // Writing first takes SQLite's write lock up front (see `Store::connect`).
        let moved = sqlx::query(
            "INSERT INTO previous_signing_secrets (org_id, signing_secret, retired_at, valid_until)
             SELECT id, signing_secret, $2, $3 FROM orgs WHERE id = $1",
        )
        .bind(org_id)
        .bind(millis(now))
        .bind(millis(until))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            return Ok(false);
        }
        sqlx::query("UPDATE orgs SET signing_secret = $1 WHERE id = $2")
            .bind(self.sealer.seal(new_secret))
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM previous_signing_secrets WHERE org_id = $1 AND valid_until < $2")
            .bind(org_id)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        tx.commit()
            .await
            .context("cannot replace the signing secret")?;
        self.recent.forget_org(org_id);
        Ok(true)
    }

    /// The organisation's retired signing secrets still inside their grace period.
    pub async fn previous_signing_secrets(
        &self,
        org_id: &str,
        now: Timestamp,
    ) -> anyhow::Result<Vec<SecretString>> {
        let rows = sqlx::query(
            "SELECT signing_secret FROM previous_signing_secrets
             WHERE org_id = $1 AND valid_until >= $2 ORDER BY retired_at DESC",
        )
        .bind(org_id)
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let stored: String = r.try_get("signing_secret")?;
                Ok(self.sealer.open(&stored)?)
            })
            .collect()
    }
}
