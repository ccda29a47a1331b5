//! The stored side of the local phone index (R15, `crate::index`): its records as JSON
//! text and its sync state, per organisation.
//!
//! Invariant: a page of records and the state that says how far the sync got are written
//! in one transaction ([`Store::put_index_page`]), so after a crash the stored cursor
//! never claims rows that are not stored, and a restart resumes from it.

use futures_util::TryStreamExt as _;
use jiff::Timestamp;
use sqlx::Row as _;

use super::{Store, millis};

/// One page of index changes: records to store (Id, JSON body) and Ids to remove.
#[derive(Debug, Default, Clone)]
pub struct IndexPage {
    pub upserts: Vec<(String, String)>,
    pub removals: Vec<String>,
}

impl Store {
    /// Calls `each` with every stored index record of `org_id` (its JSON body), in no
    /// particular order, one row at a time: a million bodies are never held at once.
    pub async fn for_each_index_record(
        &self,
        org_id: &str,
        mut each: impl FnMut(&str) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut rows = sqlx::query("SELECT body FROM phone_index_records WHERE org_id = $1")
            .bind(org_id)
            .fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            each(row.try_get::<&str, _>("body")?)?;
        }
        Ok(())
    }

    /// How many index records of `org_id` are stored: what a load makes room for.
    pub async fn count_index_records(&self, org_id: &str) -> anyhow::Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM phone_index_records WHERE org_id = $1")
            .bind(org_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0))
    }

    /// The stored sync state of `org_id`'s index (JSON), if it was ever synced.
    pub async fn index_state(&self, org_id: &str) -> anyhow::Result<Option<String>> {
        let row = sqlx::query("SELECT state FROM phone_index_state WHERE org_id = $1")
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get("state")).transpose()?)
    }

    /// Stores `page` and the state reached with it, in one transaction.
    pub async fn put_index_page(
        &self,
        org_id: &str,
        page: &IndexPage,
        state_json: &str,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let mut tx = self.writer.begin().await?;
        for (record_id, body) in &page.upserts {
            sqlx::query(
                "INSERT INTO phone_index_records (org_id, record_id, body) VALUES ($1, $2, $3)
                 ON CONFLICT (org_id, record_id) DO UPDATE SET body = excluded.body",
            )
            .bind(org_id)
            .bind(record_id)
            .bind(body)
            .execute(&mut *tx)
            .await?;
        }
        for record_id in &page.removals {
            sqlx::query("DELETE FROM phone_index_records WHERE org_id = $1 AND record_id = $2")
                .bind(org_id)
                .bind(record_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO phone_index_state (org_id, state, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (org_id) DO UPDATE SET state = excluded.state,
                                                updated_at = excluded.updated_at",
        )
        .bind(org_id)
        .bind(state_json)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores one record of `org_id`'s index (a record callsync created, R13), leaving the
    /// sync state as it is.
    pub async fn put_index_record(
        &self,
        org_id: &str,
        record_id: &str,
        body: &str,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO phone_index_records (org_id, record_id, body) VALUES ($1, $2, $3)
             ON CONFLICT (org_id, record_id) DO UPDATE SET body = excluded.body",
        )
        .bind(org_id)
        .bind(record_id)
        .bind(body)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Forgets `org_id`'s index, records and state (a rebuild starts from nothing).
    pub async fn clear_index(&self, org_id: &str) -> anyhow::Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM phone_index_records WHERE org_id = $1")
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM phone_index_state WHERE org_id = $1")
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure

    use super::*;
    use crate::on_both_backends;

    async fn records(store: &Store, org_id: &str) -> Vec<String> {
        let mut bodies = Vec::new();
        store
            .for_each_index_record(org_id, |body| {
                bodies.push(body.to_owned());
                Ok(())
            })
            .await
            .unwrap();
        bodies
    }

    fn page(upserts: &[(&str, &str)], removals: &[&str]) -> IndexPage {
        IndexPage {
            upserts: upserts
                .iter()
                .map(|(id, body)| ((*id).to_owned(), (*body).to_owned()))
                .collect(),
            removals: removals.iter().map(|id| (*id).to_owned()).collect(),
        }
    }

    on_both_backends! {
        async fn r15_index_pages_are_stored_with_their_cursor_replaced_and_removed(db: &TestDatabase) {
            let store = db.store().await;
            let now = Timestamp::from_second(1_700_000_000).unwrap();
            assert_eq!(store.index_state("acme").await.unwrap(), None);
            store
                .put_index_page("acme", &page(&[("a", "1"), ("b", "2")], &[]), "s1", now)
                .await
                .unwrap();
            store
                .put_index_page("acme", &page(&[("a", "3")], &["b"]), "s2", now)
                .await
                .unwrap();
            store
                .put_index_page("other", &page(&[("c", "4")], &[]), "t1", now)
                .await
                .unwrap();
            assert_eq!(records(&store, "acme").await, vec!["3".to_owned()]);
            assert_eq!(store.index_state("acme").await.unwrap().as_deref(), Some("s2"));
            store.clear_index("acme").await.unwrap();
            assert!(records(&store, "acme").await.is_empty());
            assert_eq!(store.index_state("acme").await.unwrap(), None);
            assert_eq!(records(&store, "other").await, vec!["4".to_owned()]);
        }
    }
}
