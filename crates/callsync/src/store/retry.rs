//! Bulk retry of the error log (R9): every open entry of one kind, once its
//! cause is fixed. The one function behind `POST /v1/errors/retry`,
//! `callsync errors retry --code … --step … --since …` and the console's
//! "retry all of this kind".

use jiff::Timestamp;
use sqlx::Row as _;

use super::{Store, millis};

/// Which open error-log entries to retry. Fields left `None` match any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFilter {
    /// Salesforce's (or callsync's) error code, e.g. `FIELD_CUSTOM_VALIDATION_EXCEPTION`.
    pub code: Option<String>,
    /// The step that failed, e.g. `create_task`.
    pub step: Option<String>,
    /// Entries that occurred at or after this time.
    pub since: Option<Timestamp>,
}

impl Store {
    /// Retries the call behind every open entry matching `filter`, each one
    /// through [`Store::retry_error`] (so a bulk retry does exactly what
    /// retrying each entry by hand would). Returns the calls queued again,
    /// each once, oldest entry first.
    pub async fn retry_errors_matching(
        &self,
        org_id: &str,
        filter: &ErrorFilter,
        now: Timestamp,
    ) -> anyhow::Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id, call_id FROM error_log
             WHERE org_id = $1 AND resolved_at IS NULL
               AND ($2 IS NULL OR code = $2)
               AND ($3 IS NULL OR step = $3)
               AND ($4 IS NULL OR occurred_at >= $4)
             ORDER BY id",
        )
        .bind(org_id)
        .bind(&filter.code)
        .bind(&filter.step)
        .bind(filter.since.map(millis))
        .fetch_all(&self.pool)
        .await?;
        let mut retried: Vec<String> = Vec::new();
        for row in rows {
            let id: i64 = row.try_get("id")?;
            let call_id: String = row.try_get("call_id")?;
            // Retrying an entry resolves every open entry of its call, so a
            // call is queued once however many entries it has.
            if retried.contains(&call_id) {
                continue;
            }
            if self.retry_error(org_id, id, now).await? {
                retried.push(call_id);
            }
        }
        Ok(retried)
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::on_both_backends;
    use crate::store::NewOrg;
    use crate::test_support::TestDatabase;

    async fn org_with_errors(db: &TestDatabase) -> Store {
        let store = db.store().await;
        let now = Timestamp::now();
        for id in ["acme", "globex"] {
            store
                .create_org(
                    &NewOrg {
                        id: id.into(),
                        name: id.into(),
                        signing_secret: "s".into(),
                        settings_json: "{}".into(),
                        salesforce_json: None,
                    },
                    now,
                )
                .await
                .unwrap();
        }
        let rule = "FIELD_CUSTOM_VALIDATION_EXCEPTION";
        for (org, call, code, step) in [
            ("acme", "a", rule, "create_task"),
            ("acme", "a", rule, "create_task"),
            ("acme", "b", rule, "create_task"),
            ("acme", "c", "INVALID_FIELD", "create_task"),
            ("acme", "d", rule, "update_task"),
            ("globex", "g", rule, "create_task"),
        ] {
            // An open entry, as the worker's `fail` writes it.
            sqlx::query(
                "INSERT INTO error_log (org_id, call_id, step, code, message, remedy, occurred_at)
                 VALUES ($1, $2, $3, $4, 'm', 'r', $5)",
            )
            .bind(org)
            .bind(call)
            .bind(step)
            .bind(code)
            .bind(millis(now))
            .execute(&store.pool)
            .await
            .unwrap();
        }
        store
    }

    on_both_backends! {
        async fn r9_a_bulk_retry_queues_each_call_of_that_kind_once(db: &TestDatabase) {
            let store = org_with_errors(db).await;
            let filter = ErrorFilter {
                code: Some("FIELD_CUSTOM_VALIDATION_EXCEPTION".into()),
                step: Some("create_task".into()),
                since: None,
            };
            let retried = store
                .retry_errors_matching("acme", &filter, Timestamp::now())
                .await
                .unwrap();
            assert_eq!(retried, vec!["a".to_owned(), "b".to_owned()]);
            // Other kinds, and the other organisation, stay open.
            let open: Vec<String> = store
                .errors("acme", true, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|entry| entry.call_id)
                .collect();
            assert_eq!(open, vec!["d".to_owned(), "c".to_owned()]);
            assert_eq!(store.errors("globex", true, 100).await.unwrap().len(), 1);
        }
    }

    on_both_backends! {
        async fn r9_a_bulk_retry_of_entries_since_a_later_time_retries_nothing(db: &TestDatabase) {
            let store = org_with_errors(db).await;
            let later = Timestamp::now() + jiff::SignedDuration::from_hours(1);
            let filter = ErrorFilter {
                code: Some("INVALID_FIELD".into()),
                step: None,
                since: Some(later),
            };
            let retried = store
                .retry_errors_matching("acme", &filter, Timestamp::now())
                .await
                .unwrap();
            assert!(retried.is_empty());
            assert_eq!(store.errors("acme", true, 100).await.unwrap().len(), 5);
        }
    }
}
