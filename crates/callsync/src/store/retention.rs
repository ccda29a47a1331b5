//! Retention: events, sync history and error-log entries older than a configured age are
//! deleted in small batches, so a busy database is never locked for long (`serve` runs
//! [`Store::prune`] in the background; `retention` in the configuration).
//!
//! An event is pruned only when its call has no sync work queued: a call still syncing
//! needs all its events to be folded (R10). Calls and contact entries are kept: they are
//! the history the API and the console show.

use jiff::Timestamp;

use super::{Store, millis};

/// What to prune.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Rows older than this are deleted.
    pub cutoff: Timestamp,
    /// Rows deleted per statement.
    pub batch: i64,
}

/// How many rows were deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub events: u64,
    pub history: u64,
    pub errors: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.events + self.history + self.errors
    }
}

impl Store {
    /// Deletes at most one batch of each kind of old row.
    pub async fn prune_batch(&self, policy: RetentionPolicy) -> anyhow::Result<Pruned> {
        let cutoff = millis(policy.cutoff);
        let events = sqlx::query(
            "DELETE FROM events WHERE (org_id, event_id) IN (
                SELECT e.org_id, e.event_id FROM events e
                WHERE e.received_at < $1
                  AND NOT EXISTS (SELECT 1 FROM sync_work w
                                  WHERE w.org_id = e.org_id AND w.call_id = e.call_id)
                LIMIT $2)",
        )
        .bind(cutoff)
        .bind(policy.batch)
        .execute(&self.writer)
        .await?
        .rows_affected();
        let history = sqlx::query(
            "DELETE FROM sync_history WHERE id IN (
                SELECT id FROM sync_history WHERE at < $1 LIMIT $2)",
        )
        .bind(cutoff)
        .bind(policy.batch)
        .execute(&self.writer)
        .await?
        .rows_affected();
        let errors = sqlx::query(
            "DELETE FROM error_log WHERE id IN (
                SELECT id FROM error_log WHERE occurred_at < $1 LIMIT $2)",
        )
        .bind(cutoff)
        .bind(policy.batch)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(Pruned {
            events,
            history,
            errors,
        })
    }

    /// Prunes batch after batch until nothing older than the cutoff is left (or `pause`
    /// between batches lets other writers in).
    pub async fn prune(
        &self,
        policy: RetentionPolicy,
        pause: std::time::Duration,
    ) -> anyhow::Result<Pruned> {
        let mut total = Pruned::default();
        loop {
            let batch = self.prune_batch(policy).await?;
            total.events += batch.events;
            total.history += batch.history;
            total.errors += batch.errors;
            let limit = u64::try_from(policy.batch).unwrap_or(0);
            if batch.events < limit && batch.history < limit && batch.errors < limit {
                return Ok(total);
            }
            tokio::time::sleep(pause).await;
        }
    }
}
