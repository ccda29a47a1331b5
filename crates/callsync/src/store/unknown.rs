//! R13 "one number, one record": per organisation and customer number in normal form, the
//! Lead or Contact callsync created (or is creating) for it (`unknown_number_records`,
//! migration 0007).
//!
//! Invariant: a worker creates a record only while it holds the number's claim, and a claim
//! is identified by (`claimed_by`, `claimed_at`): every later write names both, so a worker
//! whose claim was taken over (it looked dead) changes nothing. The primary key makes the
//! first claim a race one worker wins, on SQLite and PostgreSQL alike.

use jiff::Timestamp;
use sqlx::Row as _;

use super::{Store, millis, timestamp};

/// A number's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownNumberRow {
    /// `Lead` or `Contact`.
    pub object: String,
    /// The record, once Salesforce created it.
    pub record_id: Option<String>,
    /// The call whose step holds (or held) the claim.
    pub claimed_by: String,
    pub claimed_at: Timestamp,
    pub created_at: Option<Timestamp>,
}

/// A claim held by one call's step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownNumberClaim {
    pub org_id: String,
    pub number_key: String,
    pub call_id: String,
    pub claimed_at: Timestamp,
}

impl Store {
    /// The row of `number_key`, if any call claimed it.
    pub async fn unknown_number(
        &self,
        org_id: &str,
        number_key: &str,
    ) -> anyhow::Result<Option<UnknownNumberRow>> {
        let row = sqlx::query(
            "SELECT object, record_id, claimed_by, claimed_at, created_at
             FROM unknown_number_records WHERE org_id = $1 AND number_key = $2",
        )
        .bind(org_id)
        .bind(number_key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| -> anyhow::Result<UnknownNumberRow> {
            Ok(UnknownNumberRow {
                object: row.try_get("object")?,
                record_id: row.try_get("record_id")?,
                claimed_by: row.try_get("claimed_by")?,
                claimed_at: timestamp(row.try_get("claimed_at")?),
                created_at: row.try_get::<Option<i64>, _>("created_at")?.map(timestamp),
            })
        })
        .transpose()
    }

    /// Claims `number_key` for `call_id`'s create; `None` when another claim exists.
    pub async fn claim_unknown_number(
        &self,
        org_id: &str,
        number_key: &str,
        object: &str,
        call_id: &str,
        now: Timestamp,
    ) -> anyhow::Result<Option<UnknownNumberClaim>> {
        let inserted = sqlx::query(
            "INSERT INTO unknown_number_records (org_id, number_key, object, claimed_by, claimed_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (org_id, number_key) DO NOTHING",
        )
        .bind(org_id)
        .bind(number_key)
        .bind(object)
        .bind(call_id)
        .bind(millis(now))
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok((inserted == 1).then(|| UnknownNumberClaim {
            org_id: org_id.to_owned(),
            number_key: number_key.to_owned(),
            call_id: call_id.to_owned(),
            claimed_at: now,
        }))
    }

    /// Takes over a claim whose record was never recorded (its step died, or lost the
    /// create's answer), if it is still the claim `seen`; `None` when someone else changed
    /// it first.
    pub async fn take_over_unknown_number(
        &self,
        org_id: &str,
        number_key: &str,
        seen: &UnknownNumberRow,
        call_id: &str,
        now: Timestamp,
    ) -> anyhow::Result<Option<UnknownNumberClaim>> {
        let updated = sqlx::query(
            "UPDATE unknown_number_records SET claimed_by = $3, claimed_at = $4
             WHERE org_id = $1 AND number_key = $2 AND record_id IS NULL
               AND claimed_by = $5 AND claimed_at = $6",
        )
        .bind(org_id)
        .bind(number_key)
        .bind(call_id)
        .bind(millis(now))
        .bind(&seen.claimed_by)
        .bind(millis(seen.claimed_at))
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok((updated == 1).then(|| UnknownNumberClaim {
            org_id: org_id.to_owned(),
            number_key: number_key.to_owned(),
            call_id: call_id.to_owned(),
            claimed_at: now,
        }))
    }

    /// Records the record created (or adopted) under `claim`; `false` when the claim was
    /// taken over meanwhile.
    pub async fn record_unknown_number(
        &self,
        claim: &UnknownNumberClaim,
        record_id: &str,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        let updated = sqlx::query(
            "UPDATE unknown_number_records SET record_id = $3, created_at = $4
             WHERE org_id = $1 AND number_key = $2 AND record_id IS NULL
               AND claimed_by = $5 AND claimed_at = $6",
        )
        .bind(&claim.org_id)
        .bind(&claim.number_key)
        .bind(record_id)
        .bind(millis(now))
        .bind(&claim.call_id)
        .bind(millis(claim.claimed_at))
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Gives up `claim` after a create that certainly did not happen (Salesforce refused
    /// it), so the next call from the number tries again.
    pub async fn release_unknown_number(&self, claim: &UnknownNumberClaim) -> anyhow::Result<()> {
        sqlx::query(
            "DELETE FROM unknown_number_records
             WHERE org_id = $1 AND number_key = $2 AND record_id IS NULL
               AND claimed_by = $3 AND claimed_at = $4",
        )
        .bind(&claim.org_id)
        .bind(&claim.number_key)
        .bind(&claim.call_id)
        .bind(millis(claim.claimed_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Forgets the record of `number_key` (it was deleted or merged away in Salesforce), so
    /// the next call from the number creates one again.
    pub async fn forget_unknown_number(
        &self,
        org_id: &str,
        number_key: &str,
        record_id: &str,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "DELETE FROM unknown_number_records
             WHERE org_id = $1 AND number_key = $2 AND record_id = $3",
        )
        .bind(org_id)
        .bind(number_key)
        .bind(record_id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure

    use super::*;
    use crate::on_both_backends;

    on_both_backends! {
        async fn r13_one_claim_per_number_and_only_its_holder_records_it(db: &TestDatabase) {
            let store = db.store().await;
            let t0 = Timestamp::from_second(1_700_000_000).unwrap();
            let t1 = Timestamp::from_second(1_700_000_100).unwrap();
            let first = store.claim_unknown_number("acme", "+81312345678", "Lead", "c1", t0).await.unwrap().unwrap();
            assert_eq!(store.claim_unknown_number("acme", "+81312345678", "Lead", "c2", t0).await.unwrap(), None);
            // Another organisation's same number is its own.
            assert!(store.claim_unknown_number("other", "+81312345678", "Lead", "c2", t0).await.unwrap().is_some());

            // c2 takes over what looks like a dead claim; c1's late answer changes nothing.
            let seen = store.unknown_number("acme", "+81312345678").await.unwrap().unwrap();
            let second = store.take_over_unknown_number("acme", "+81312345678", &seen, "c2", t1).await.unwrap().unwrap();
            assert_eq!(store.take_over_unknown_number("acme", "+81312345678", &seen, "c3", t1).await.unwrap(), None);
            assert!(!store.record_unknown_number(&first, "00Q000000000001AAA", t1).await.unwrap());
            store.release_unknown_number(&first).await.unwrap();
            assert!(store.record_unknown_number(&second, "00Q000000000002AAA", t1).await.unwrap());
            let row = store.unknown_number("acme", "+81312345678").await.unwrap().unwrap();
            assert_eq!(row.record_id.as_deref(), Some("00Q000000000002AAA"));
            assert_eq!(row.claimed_by, "c2");

            // A release after a refused create frees the number; a recorded one stays.
            store.release_unknown_number(&second).await.unwrap();
            assert!(store.unknown_number("acme", "+81312345678").await.unwrap().is_some());
            let other = store.unknown_number("other", "+81312345678").await.unwrap().unwrap();
            let claim = UnknownNumberClaim {
                org_id: "other".into(),
                number_key: "+81312345678".into(),
                call_id: other.claimed_by,
                claimed_at: other.claimed_at,
            };
            store.release_unknown_number(&claim).await.unwrap();
            assert_eq!(store.unknown_number("other", "+81312345678").await.unwrap(), None);
        }
    }
}
