//! The sync outbox: one work row per call, claimed under a fenced lease.
//!
//! Invariants (ARCHITECTURE.md repeats them):
//! - **One row per call.** Ingest inserts it or bumps its `generation` in the
//!   transaction that stores the event ([`Store::ingest`]); nothing else creates one.
//! - **Only the lease holder writes.** A claim sets `lease_owner`, a fresh random
//!   `lease_token` and `lease_until`. Every write of a step — [`Store::renew`],
//!   [`Store::mark_create_attempted`], [`Store::finish`], [`Store::wait`], [`Store::fail`],
//!   [`Store::release`] — first updates the row *where owner and token still match*, in the
//!   same transaction as the rest of the write. When they do not (the lease ran out and
//!   another worker claimed the call), the whole write is refused with [`LeaseLost`] and
//!   nothing is written: a step that outlived its lease can never record a stale result.
//!   On PostgreSQL that first update also locks the row until commit, so a claim cannot
//!   take it mid-write (`FOR UPDATE SKIP LOCKED` skips it); SQLite has one writer.
//! - **Ingest never touches the lease.** New events bump `generation`, re-arm `not_before`
//!   and clear the wait, but the holder keeps its lease; when it finishes, the row is
//!   deleted only if its generation is the one it processed, else released so the newer
//!   generation runs next.
//! - **A lease expires unless renewed.** Claims take only rows whose lease is absent or
//!   past; a live worker renews while its step runs, so only a dead or cut-off worker's
//!   lease runs out. Lease times come from one clock: [`Store::now`] is the database's on
//!   PostgreSQL, shared by every instance.
//! - **Waiting is not failing (R16).** [`Store::wait`] puts the row back with a reason and
//!   a time, not counted towards any limit; only [`Store::fail`] parks a row, with the
//!   error-log entry an admin acts on (R9).

use std::time::Duration;

use anyhow::Context as _;
use jiff::Timestamp;
use sqlx::Row as _;

use super::{
    Backend, CallSummary, Finished, HistoryLine, NewError, OrgHealth, Store, WaitReason, WorkItem,
    insert_history, millis, timestamp,
};

/// A write of a step was refused because its lease is no longer held: another worker
/// claimed the call after the lease ran out. The step must stop without writing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the lease on call {call_id:?} of organisation {org_id:?} is held by another worker now")]
pub struct LeaseLost {
    pub org_id: String,
    pub call_id: String,
}

/// Whether `error` is a [`LeaseLost`].
pub fn is_lease_lost(error: &anyhow::Error) -> bool {
    error.downcast_ref::<LeaseLost>().is_some()
}

/// Which organisations a claim leaves out or is limited to (the worker's circuit breaker).
#[derive(Debug, Clone, Default)]
pub struct ClaimScope<'a> {
    /// Organisations whose work is not claimed now (their Salesforce is paused).
    pub except_orgs: &'a [String],
    /// Claim from this organisation only (a breaker's probe).
    pub only_org: Option<&'a str>,
}

/// How many calls wait, for one reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct WaitingCount {
    /// `due` for work that can run now, `failed` for parked work, else the wait reason.
    pub reason: String,
    pub calls: i64,
    /// When the oldest of them became due.
    pub oldest_since: Option<Timestamp>,
}

impl Store {
    /// The time leases are measured in: the database server's clock on PostgreSQL, so
    /// instances whose own clocks disagree still agree on who holds a lease; this
    /// process's clock on SQLite, which only one machine opens.
    pub async fn now(&self) -> anyhow::Result<Timestamp> {
        match self.backend {
            Backend::Sqlite => Ok(Timestamp::now()),
            Backend::Postgres => {
                let row = sqlx::query(
                    "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS now",
                )
                .fetch_one(&self.pool)
                .await
                .context("cannot read the database clock")?;
                Ok(timestamp(row.try_get("now")?))
            }
        }
    }

    /// Enqueues (or re-arms) the sync work of a call: due now, a new generation, not
    /// parked, no longer waiting, attempts counted afresh. The lease, if any, stays with
    /// its holder (see the module's invariants).
    pub(super) async fn enqueue_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        org_id: &str,
        call_id: &str,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO sync_work
                (org_id, call_id, generation, not_before, attempts, parked, queued_at)
             VALUES ($1, $2, 1, $3, 0, 0, $3)
             ON CONFLICT (org_id, call_id) DO UPDATE SET
                generation = sync_work.generation + 1,
                not_before = excluded.not_before,
                attempts = 0,
                parked = 0,
                wait_reason = NULL,
                queued_at = CASE WHEN sync_work.parked = 1 THEN excluded.queued_at
                            ELSE COALESCE(sync_work.queued_at, excluded.queued_at) END",
        )
        .bind(org_id)
        .bind(call_id)
        .bind(millis(now))
        .execute(&mut **tx)
        .await
        .context("cannot enqueue sync work")?;
        Ok(())
    }

    /// Re-arms the sync of one call by hand (a retry from the error log).
    /// Returns false when the call does not exist.
    pub async fn enqueue(
        &self,
        org_id: &str,
        call_id: &str,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        let mut tx = self.writer.begin().await?;
        let touched = sqlx::query(
            "UPDATE calls SET sync_state = 'pending', wait_reason = NULL, updated_at = $3
             WHERE org_id = $1 AND call_id = $2",
        )
        .bind(org_id)
        .bind(call_id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if touched == 0 {
            return Ok(false);
        }
        Self::enqueue_in(&mut tx, org_id, call_id, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Claims up to `limit` due work items for `owner` until `now + lease`, each under a
    /// fresh token. Items whose lease expired (their worker died) are due again.
    pub async fn claim(
        &self,
        owner: &str,
        now: Timestamp,
        lease: Duration,
        limit: i64,
    ) -> anyhow::Result<Vec<WorkItem>> {
        self.claim_in(owner, now, lease, limit, &ClaimScope::default())
            .await
    }

    /// [`Store::claim`] within `scope`.
    pub async fn claim_in(
        &self,
        owner: &str,
        now: Timestamp,
        lease: Duration,
        limit: i64,
        scope: &ClaimScope<'_>,
    ) -> anyhow::Result<Vec<WorkItem>> {
        // PostgreSQL lets concurrent workers skip each other's rows instead of
        // queueing behind them; SQLite has a single writer, so the plain
        // sub-select is already exclusive there.
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        // Parameters $1..$6 are fixed; the organisations left out follow.
        let mut filter = String::new();
        if !scope.except_orgs.is_empty() {
            let marks: Vec<String> = (0..scope.except_orgs.len())
                .map(|index| format!("${}", index + 7))
                .collect();
            filter.push_str(&format!(" AND org_id NOT IN ({})", marks.join(", ")));
        }
        let sql = format!(
            "UPDATE sync_work SET lease_owner = $1, lease_until = $2, lease_token = $5
             WHERE (org_id, call_id) IN (
                SELECT org_id, call_id FROM sync_work
                WHERE parked = 0 AND not_before <= $3
                  AND (lease_until IS NULL OR lease_until < $3)
                  AND ($6 IS NULL OR org_id = $6){filter}
                ORDER BY not_before
                LIMIT $4 {lock})
             RETURNING org_id, call_id, generation, attempts, lease_owner, lease_token,
                       not_before, queued_at"
        );
        let until = now
            .checked_add(jiff::SignedDuration::try_from(lease)?)
            .context("lease ends out of range")?;
        // A random token per claim: unique across claims and across the row being deleted
        // and made again by a later event, which a per-row counter would not be.
        let token = i64::from(rand::random::<u32>()) << 31 | i64::from(rand::random::<u32>() >> 1);
        let owner = owner.to_owned();
        let only_org = scope.only_org.map(str::to_owned);
        let except_orgs = scope.except_orgs.to_vec();
        self.write(move |tx| {
            Box::pin(async move {
                let mut query = sqlx::query(&sql)
                    .bind(owner)
                    .bind(millis(until))
                    .bind(millis(now))
                    .bind(limit)
                    .bind(token)
                    .bind(only_org);
                for org in except_orgs {
                    query = query.bind(org);
                }
                let rows = query.fetch_all(&mut **tx).await?;
                rows.iter().map(WorkItem::from_row).collect()
            })
        })
        .await
        .context("cannot claim sync work")
    }

    /// Extends the lease of a running step to `now + lease`. Fails with [`LeaseLost`] when
    /// another worker holds the call now.
    pub async fn renew(
        &self,
        item: &WorkItem,
        now: Timestamp,
        lease: Duration,
    ) -> anyhow::Result<Timestamp> {
        let until = now
            .checked_add(jiff::SignedDuration::try_from(lease)?)
            .context("lease ends out of range")?;
        let held = item.clone();
        let renewed = self
            .write(move |tx| {
                Box::pin(async move {
                    let renewed = sqlx::query(
                        "UPDATE sync_work SET lease_until = $5
                         WHERE org_id = $1 AND call_id = $2 AND lease_owner = $3
                           AND lease_token = $4",
                    )
                    .bind(&held.org_id)
                    .bind(&held.call_id)
                    .bind(&held.lease_owner)
                    .bind(held.lease_token)
                    .bind(millis(until))
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                    Ok(renewed)
                })
            })
            .await
            .context("cannot renew a lease")?;
        if renewed == 0 {
            return Err(lease_lost(item).into());
        }
        Ok(until)
    }

    /// The first statement of every fenced write: proves the lease is still `item`'s (and,
    /// being a write, takes the row's lock, or SQLite's write lock, until commit).
    async fn fence_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        item: &WorkItem,
    ) -> anyhow::Result<()> {
        let held = sqlx::query(
            "UPDATE sync_work SET lease_owner = lease_owner
             WHERE org_id = $1 AND call_id = $2 AND lease_owner = $3 AND lease_token = $4",
        )
        .bind(&item.org_id)
        .bind(&item.call_id)
        .bind(&item.lease_owner)
        .bind(item.lease_token)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if held == 0 {
            return Err(lease_lost(item).into());
        }
        Ok(())
    }

    /// Notes, before a create is sent, that one may reach Salesforce: until the step
    /// records how it ended, the create counts as in flight, and if its outcome is unknown
    /// the next attempt looks for the Task first (design decision 2). Fenced.
    pub async fn mark_create_attempted(
        &self,
        item: &WorkItem,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let item = item.clone();
        self.write(move |tx| {
            Box::pin(async move {
                Self::fence_in(tx, &item).await?;
                sqlx::query(
                    "UPDATE calls SET create_attempted_at = $3, create_in_flight = 1
                     WHERE org_id = $1 AND call_id = $2",
                )
                .bind(&item.org_id)
                .bind(&item.call_id)
                .bind(millis(now))
                .execute(&mut **tx)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Records what a sync step did, in one fenced transaction: the call's summary
    /// and sync state, its contact entry, a history line, and the end of the
    /// work item — deleted if no event arrived meanwhile, else released so
    /// the newer generation runs next.
    pub async fn finish(
        &self,
        item: &WorkItem,
        done: &Finished,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let (item, done) = (item.clone(), done.clone());
        self.write(move |tx| {
            Box::pin(async move {
                Self::fence_in(tx, &item).await?;
                sqlx::query(
                    "UPDATE calls SET user_id = $3, kind = $4, customer_number = $5, updated_at = $6,
                        sync_state = $7, task_id = $8, written = COALESCE($9, written),
                        linked = COALESCE($10, linked), wait_reason = NULL, skip_reason = $11,
                        create_attempted_at = CASE WHEN $8 IS NULL THEN create_attempted_at ELSE NULL END,
                        create_in_flight = 0
                     WHERE org_id = $1 AND call_id = $2",
                )
                .bind(&item.org_id)
                .bind(&item.call_id)
                .bind(&done.summary.user_id)
                .bind(&done.summary.kind)
                .bind(&done.summary.customer_number)
                .bind(millis(now))
                .bind(done.sync_state.as_str())
                .bind(&done.task_id)
                .bind(
                    done.written
                        .as_ref()
                        .map(serde_json::to_string)
                        .transpose()?,
                )
                .bind(
                    done.linked
                        .as_ref()
                        .map(serde_json::to_string)
                        .transpose()?,
                )
                .bind(&done.skip_reason)
                .execute(&mut **tx)
                .await?;
                if let Some(contact) = &done.contact {
                    sqlx::query(
                        "INSERT INTO contacts (org_id, number, object, record_id, company, person, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (org_id, number) DO UPDATE SET
                            object = excluded.object, record_id = excluded.record_id,
                            company = excluded.company, person = excluded.person,
                            updated_at = excluded.updated_at",
                    )
                    .bind(&item.org_id)
                    .bind(&contact.number)
                    .bind(&contact.object)
                    .bind(&contact.record_id)
                    .bind(&contact.company)
                    .bind(&contact.person)
                    .bind(millis(now))
                    .execute(&mut **tx)
                    .await?;
                }
                if let Some(history) = &done.history {
                    insert_history(tx, &item, history, &done.task_id, now).await?;
                }
                let deleted = sqlx::query(
                    "DELETE FROM sync_work WHERE org_id = $1 AND call_id = $2 AND generation = $3",
                )
                .bind(&item.org_id)
                .bind(&item.call_id)
                .bind(item.generation)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if deleted == 0 {
                    release_in(tx, &item).await?;
                }
                Ok(())
            })
        })
        .await
        .context("cannot record sync result")
    }

    /// Puts a work item back to wait until `until` for `reason` (R16), with a history
    /// line: the call shows as waiting and why. `backoff` counts the wait towards the
    /// backoff of the next one (a transient failure), never towards an error-log entry. If
    /// events arrived during the attempt, the newer generation they made due keeps its
    /// time and its fresh count: the delay was for the older state. Fenced.
    pub async fn wait(
        &self,
        item: &WorkItem,
        until: Timestamp,
        reason: WaitReason,
        backoff: bool,
        history: &HistoryLine,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let (item, history) = (item.clone(), history.clone());
        self.write(move |tx| {
            Box::pin(async move {
                Self::fence_in(tx, &item).await?;
                let still_current = sqlx::query(
                    "UPDATE sync_work SET not_before = $3, attempts = attempts + $4, wait_reason = $5
                     WHERE org_id = $1 AND call_id = $2 AND generation = $6",
                )
                .bind(&item.org_id)
                .bind(&item.call_id)
                .bind(millis(until))
                .bind(i64::from(backoff))
                .bind(reason.as_str())
                .bind(item.generation)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                release_in(tx, &item).await?;
                sqlx::query(
                    "UPDATE calls SET sync_state = CASE WHEN $3 = 1 THEN 'waiting' ELSE 'pending' END,
                        wait_reason = CASE WHEN $3 = 1 THEN $4 ELSE NULL END,
                        create_in_flight = 0, updated_at = $5
                     WHERE org_id = $1 AND call_id = $2",
                )
                .bind(&item.org_id)
                .bind(&item.call_id)
                .bind(i64::try_from(still_current).unwrap_or(1))
                .bind(reason.as_str())
                .bind(millis(now))
                .execute(&mut **tx)
                .await?;
                insert_history(tx, &item, &history, &None, now).await?;
                Ok(())
            })
        })
        .await
    }

    /// Gives a claimed item back untouched (a step abandoned at shutdown, or a claim the
    /// worker cannot start now): due as it was. Fenced.
    pub async fn release(&self, item: &WorkItem) -> anyhow::Result<()> {
        let item = item.clone();
        self.write(move |tx| {
            Box::pin(async move {
                Self::fence_in(tx, &item).await?;
                release_in(tx, &item).await?;
                Ok(())
            })
        })
        .await
    }

    /// Parks a work item after a failure that needs a person, and writes the error-log
    /// entry an admin acts on (R9). Returns the entry's id. Fenced.
    ///
    /// If events arrived during the failed attempt, the call is not parked
    /// and nothing is logged: the newer generation runs next, with them (a
    /// memo may be what the failed attempt lacked), and logs its own failure
    /// if it fails too. Returns `None` then.
    pub async fn fail(
        &self,
        item: &WorkItem,
        summary: &CallSummary,
        error: &NewError,
        now: Timestamp,
    ) -> anyhow::Result<Option<i64>> {
        let (item, summary, error) = (item.clone(), summary.clone(), error.clone());
        self.write(move |tx| {
            Box::pin(async move {
                Self::fence_in(tx, &item).await?;
                let parked = sqlx::query(
                    "UPDATE sync_work SET parked = 1, wait_reason = NULL
                     WHERE org_id = $1 AND call_id = $2 AND generation = $3",
                )
                .bind(&item.org_id)
                .bind(&item.call_id)
                .bind(item.generation)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                release_in(tx, &item).await?;
                if parked == 0 {
                    sqlx::query("UPDATE calls SET create_in_flight = 0 WHERE org_id = $1 AND call_id = $2")
                        .bind(&item.org_id)
                        .bind(&item.call_id)
                        .execute(&mut **tx)
                        .await?;
                    let history = HistoryLine {
                        action: error.step.clone(),
                        outcome: "retry".into(),
                        detail: Some(format!(
                            "{}: {} (newer events arrived; trying again with them)",
                            error.code, error.message
                        )),
                    };
                    insert_history(tx, &item, &history, &None, now).await?;
                    return Ok(None);
                }
                sqlx::query(
                    "UPDATE calls SET sync_state = 'failed', wait_reason = NULL, create_in_flight = 0,
                        updated_at = $3, user_id = $4, kind = $5, customer_number = $6
                     WHERE org_id = $1 AND call_id = $2",
                )
                .bind(&item.org_id)
                .bind(&item.call_id)
                .bind(millis(now))
                .bind(&summary.user_id)
                .bind(&summary.kind)
                .bind(&summary.customer_number)
                .execute(&mut **tx)
                .await?;
                let row = sqlx::query(
                    "INSERT INTO error_log (org_id, call_id, step, code, message, remedy, occurred_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(&item.org_id)
                .bind(&item.call_id)
                .bind(&error.step)
                .bind(&error.code)
                .bind(&error.message)
                .bind(&error.remedy)
                .bind(millis(now))
                .fetch_one(&mut **tx)
                .await?;
                let id: i64 = row.try_get("id")?;
                let history = HistoryLine {
                    action: error.step.clone(),
                    outcome: "failed".into(),
                    detail: Some(format!("{}: {}", error.code, error.message)),
                };
                insert_history(tx, &item, &history, &None, now).await?;
                Ok(Some(id))
            })
        })
        .await
    }

    /// The number of work items not yet done, parked ones excluded.
    pub async fn queue_depth(&self) -> anyhow::Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM sync_work WHERE parked = 0")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Work not yet done, by why it waits (R16): `due` (can run now), each wait reason,
    /// and `failed` (parked until a person retries it); of one organisation, or of all.
    pub async fn waiting(
        &self,
        org_id: Option<&str>,
        now: Timestamp,
    ) -> anyhow::Result<Vec<WaitingCount>> {
        let rows = sqlx::query(
            "SELECT CASE WHEN parked = 1 THEN 'failed'
                         WHEN not_before <= $2 OR wait_reason IS NULL THEN 'due'
                         ELSE wait_reason END AS reason,
                    COUNT(*) AS calls,
                    MIN(COALESCE(queued_at, not_before)) AS oldest
             FROM sync_work WHERE ($1 IS NULL OR org_id = $1)
             GROUP BY 1 ORDER BY 1",
        )
        .bind(org_id)
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(WaitingCount {
                    reason: row.try_get("reason")?,
                    calls: row.try_get("calls")?,
                    oldest_since: row.try_get::<Option<i64>, _>("oldest")?.map(timestamp),
                })
            })
            .collect()
    }
}

impl Store {
    /// Sets a stored event aside that no longer parses: it stays, with the reason, and is
    /// left out when the call is folded.
    pub async fn quarantine_event(
        &self,
        org_id: &str,
        event_id: &str,
        reason: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE events SET quarantined = $3 WHERE org_id = $1 AND event_id = $2")
            .bind(org_id)
            .bind(event_id)
            .bind(reason)
            .execute(&self.writer)
            .await
            .context("cannot quarantine an event")?;
        Ok(())
    }

    /// Records the organisation's Salesforce health as the worker's breaker sees it;
    /// `None` when it answers again.
    pub async fn put_org_health(
        &self,
        org_id: &str,
        health: Option<&OrgHealth>,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let Some(health) = health else {
            sqlx::query("DELETE FROM org_health WHERE org_id = $1")
                .bind(org_id)
                .execute(&self.writer)
                .await?;
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO org_health
                (org_id, state, reason, detail, since, next_probe, failures, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (org_id) DO UPDATE SET
                state = excluded.state, reason = excluded.reason, detail = excluded.detail,
                since = excluded.since, next_probe = excluded.next_probe,
                failures = excluded.failures, updated_at = excluded.updated_at",
        )
        .bind(org_id)
        .bind(&health.state)
        .bind(&health.reason)
        .bind(&health.detail)
        .bind(millis(health.since))
        .bind(health.next_probe.map(millis))
        .bind(health.failures)
        .bind(millis(now))
        .execute(&self.writer)
        .await
        .context("cannot record the organisation's Salesforce health")?;
        Ok(())
    }

    /// Every organisation whose Salesforce a breaker found unavailable, with its state.
    pub async fn org_healths(&self) -> anyhow::Result<Vec<(String, OrgHealth)>> {
        let rows = sqlx::query(
            "SELECT org_id, state, reason, detail, since, next_probe, failures FROM org_health
             ORDER BY org_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("org_id")?, OrgHealth::from_row(row)?)))
            .collect()
    }

    /// The organisation's Salesforce health, if a breaker is open for it.
    pub async fn org_health(&self, org_id: &str) -> anyhow::Result<Option<OrgHealth>> {
        let row = sqlx::query(
            "SELECT state, reason, detail, since, next_probe, failures FROM org_health
             WHERE org_id = $1",
        )
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| OrgHealth::from_row(&r)).transpose()
    }
}

fn lease_lost(item: &WorkItem) -> LeaseLost {
    LeaseLost {
        org_id: item.org_id.clone(),
        call_id: item.call_id.clone(),
    }
}

/// Releases the lease on a call's work row, whatever its generation: a newer
/// one (events that arrived during the attempt) is then claimed next. Only
/// called after [`Store::fence_in`] in the same transaction.
async fn release_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    item: &WorkItem,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE sync_work SET lease_owner = NULL, lease_until = NULL, lease_token = NULL
         WHERE org_id = $1 AND call_id = $2",
    )
    .bind(&item.org_id)
    .bind(&item.call_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
