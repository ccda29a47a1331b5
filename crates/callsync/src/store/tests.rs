//! Store behaviour, each test run on SQLite and on PostgreSQL.

use std::time::Duration;

use jiff::Timestamp;

use super::*;
use crate::on_both_backends;
use crate::test_support::TestDatabase;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

fn event(id: &str, call: &str, second: i64) -> NewEvent {
    NewEvent {
        event_id: id.into(),
        call_id: call.into(),
        occurred_at: at(second),
        body_json: format!(r#"{{"id":"{id}"}}"#),
    }
}

async fn store_with_org(db: &TestDatabase) -> Store {
    let store = db.store().await;
    store
        .create_org(
            &NewOrg {
                id: "acme".into(),
                name: "Acme".into(),
                signing_secret: "s3cret".into(),
                settings_json: "{}".into(),
                salesforce_json: None,
            },
            at(0),
        )
        .await
        .unwrap();
    store
}

fn finished(state: SyncState, task: Option<&str>) -> Finished {
    Finished {
        skip_reason: None,
        summary: CallSummary {
            user_id: Some("u1".into()),
            kind: Some("outgoing".into()),
            customer_number: Some("+81312345678".into()),
        },
        sync_state: state,
        task_id: task.map(str::to_owned),
        written: None,
        linked: None,
        contact: None,
        history: Some(HistoryLine {
            action: "create_task".into(),
            outcome: "ok".into(),
            detail: None,
        }),
    }
}

on_both_backends! {
    async fn the_same_event_id_twice_is_stored_once_r10(db: &TestDatabase) {
        let store = store_with_org(db).await;
        let first = store.ingest("acme", &[event("e1", "c1", 1), event("e2", "c1", 2)], at(3)).await.unwrap();
        let again = store.ingest("acme", &[event("e1", "c1", 1)], at(4)).await.unwrap();
        assert_eq!(first, IngestOutcome { accepted: 2, duplicates: 0 });
        assert_eq!(again, IngestOutcome { accepted: 0, duplicates: 1 });
        assert_eq!(store.call_events("acme", "c1").await.unwrap().len(), 2);
    }
}

on_both_backends! {
    async fn events_of_one_call_enqueue_one_work_item(db: &TestDatabase) {
        let store = store_with_org(db).await;
        store.ingest("acme", &[event("e1", "c1", 1), event("e2", "c1", 2), event("e3", "c2", 2)], at(3)).await.unwrap();
        let claimed = store.claim("w1", at(3), Duration::from_secs(30), 10).await.unwrap();
        let mut calls: Vec<_> = claimed.iter().map(|w| w.call_id.as_str()).collect();
        calls.sort();
        assert_eq!(calls, ["c1", "c2"]);
        assert_eq!(store.queue_depth().await.unwrap(), 2);
    }
}

on_both_backends! {
    async fn claimed_work_is_not_claimed_again_until_its_lease_expires(db: &TestDatabase) {
        let store = store_with_org(db).await;
        store.ingest("acme", &[event("e1", "c1", 1)], at(1)).await.unwrap();
        assert_eq!(store.claim("w1", at(1), Duration::from_secs(30), 10).await.unwrap().len(), 1);
        assert!(store.claim("w2", at(2), Duration::from_secs(30), 10).await.unwrap().is_empty());
        let after_expiry = store.claim("w2", at(40), Duration::from_secs(30), 10).await.unwrap();
        assert_eq!(after_expiry.len(), 1, "a dead worker's lease expires and the work is taken over");
    }
}

on_both_backends! {
    async fn finishing_keeps_work_that_a_newer_event_brought(db: &TestDatabase) {
        let store = store_with_org(db).await;
        store.ingest("acme", &[event("e1", "c1", 1)], at(1)).await.unwrap();
        let item = store.claim("w1", at(1), Duration::from_secs(30), 10).await.unwrap().remove(0);
        store.ingest("acme", &[event("e2", "c1", 2)], at(2)).await.unwrap();
        store.finish(&item, &finished(SyncState::Synced, Some("00T000000000001AAA")), at(3)).await.unwrap();
        let again = store.claim("w1", at(3), Duration::from_secs(30), 10).await.unwrap();
        assert_eq!(again.len(), 1, "the newer generation must run");
        store.finish(&again[0], &finished(SyncState::Synced, Some("00T000000000001AAA")), at(4)).await.unwrap();
        assert_eq!(store.queue_depth().await.unwrap(), 0);
        let call = store.call("acme", "c1").await.unwrap().unwrap();
        assert_eq!(call.sync_state, SyncState::Synced);
        assert_eq!(call.task_id.as_deref(), Some("00T000000000001AAA"));
        assert_eq!(store.history("acme", "c1").await.unwrap().len(), 2);
    }
}

on_both_backends! {
    async fn a_failure_parks_the_work_and_a_retry_rearms_it_r9(db: &TestDatabase) {
        let store = store_with_org(db).await;
        store.ingest("acme", &[event("e1", "c1", 1)], at(1)).await.unwrap();
        let item = store.claim("w1", at(1), Duration::from_secs(30), 10).await.unwrap().remove(0);
        let error = NewError {
            step: "create_task".into(),
            code: "FIELD_CUSTOM_VALIDATION_EXCEPTION".into(),
            message: "Subject must not be empty".into(),
            remedy: "a validation rule in Salesforce rejected the Task".into(),
        };
        let id = store.fail(&item, &CallSummary::default(), &error, at(2)).await.unwrap().unwrap();
        assert!(store.claim("w1", at(100), Duration::from_secs(30), 10).await.unwrap().is_empty());
        assert_eq!(store.call("acme", "c1").await.unwrap().unwrap().sync_state, SyncState::Failed);
        let open = store.errors("acme", true, 10).await.unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].remedy, error.remedy);

        assert!(store.retry_error("acme", id, at(200)).await.unwrap());
        assert!(store.errors("acme", true, 10).await.unwrap().is_empty());
        assert_eq!(store.errors("acme", false, 10).await.unwrap().len(), 1, "resolved entries stay in the log");
        assert_eq!(store.claim("w1", at(200), Duration::from_secs(30), 10).await.unwrap().len(), 1);
        assert!(!store.retry_error("other-org", id, at(201)).await.unwrap(), "an org cannot retry another's errors");
    }
}

on_both_backends! {
    async fn a_transient_failure_waits_until_its_backoff_ends(db: &TestDatabase) {
        let store = store_with_org(db).await;
        store.ingest("acme", &[event("e1", "c1", 1)], at(1)).await.unwrap();
        let item = store.claim("w1", at(1), Duration::from_secs(30), 10).await.unwrap().remove(0);
        let line = HistoryLine { action: "create_task".into(), outcome: "retry".into(), detail: Some("UNABLE_TO_LOCK_ROW".into()) };
        store.wait(&item, at(10), WaitReason::SalesforceUnavailable, true, &line, at(2)).await.unwrap();
        assert!(store.claim("w1", at(5), Duration::from_secs(30), 10).await.unwrap().is_empty());
        let again = store.claim("w1", at(10), Duration::from_secs(30), 10).await.unwrap();
        assert_eq!(again[0].attempts, 1);
    }
}

on_both_backends! {
    async fn calls_are_listed_newest_first_and_filtered(db: &TestDatabase) {
        let store = store_with_org(db).await;
        store.ingest("acme", &[event("e1", "c1", 1), event("e2", "c2", 5)], at(6)).await.unwrap();
        let all = store.calls(&CallFilter::for_org("acme")).await.unwrap();
        assert_eq!(all.iter().map(|c| c.call_id.as_str()).collect::<Vec<_>>(), ["c2", "c1"]);
        let mut since = CallFilter::for_org("acme");
        since.since = Some(at(3));
        assert_eq!(store.calls(&since).await.unwrap().len(), 1);
        let mut pending = CallFilter::for_org("acme");
        pending.sync_state = Some("synced".into());
        assert!(store.calls(&pending).await.unwrap().is_empty());
        assert!(store.calls(&CallFilter::for_org("other")).await.unwrap().is_empty());
    }
}

on_both_backends! {
    async fn api_keys_are_found_by_hash_only(db: &TestDatabase) {
        let store = store_with_org(db).await;
        store.add_api_key("hash1", "acme", "ingest,admin", "test", at(0)).await.unwrap();
        assert_eq!(store.api_key("hash1").await.unwrap(), Some(("acme".into(), "ingest,admin".into())));
        assert_eq!(store.api_key("nope").await.unwrap(), None);
    }
}

#[tokio::test]
async fn an_unknown_database_scheme_is_refused_with_a_clear_message() {
    let error = Store::connect("mysql://localhost/x").await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("unsupported database URL scheme"),
        "{error}"
    );
}

on_both_backends! {
    /// A failure of an attempt that newer events overtook parks nothing and
    /// logs nothing: the newer generation runs at once, with them.
    async fn a_failure_overtaken_by_newer_events_lets_them_run_r9(db: &TestDatabase) {
        let store = store_with_org(db).await;
        store.ingest("acme", &[event("e1", "c1", 1)], at(1)).await.unwrap();
        let item = store.claim("w1", at(1), Duration::from_secs(30), 10).await.unwrap().remove(0);
        store.ingest("acme", &[event("e2", "c1", 2)], at(2)).await.unwrap();
        let error = NewError {
            step: "create_task".into(),
            code: "FIELD_CUSTOM_VALIDATION_EXCEPTION".into(),
            message: "Subject must not be empty".into(),
            remedy: "a validation rule in Salesforce rejected the Task".into(),
        };
        assert_eq!(store.fail(&item, &CallSummary::default(), &error, at(3)).await.unwrap(), None);
        assert!(store.errors("acme", true, 10).await.unwrap().is_empty());
        assert_ne!(store.call("acme", "c1").await.unwrap().unwrap().sync_state, SyncState::Failed);
        let again = store.claim("w2", at(3), Duration::from_secs(30), 10).await.unwrap();
        assert_eq!(again.len(), 1, "the lease is released at once, not when it runs out");
        assert!(again[0].generation > item.generation);
        let history = store.history("acme", "c1").await.unwrap();
        assert_eq!(history.last().unwrap().outcome, "retry");
    }
}

on_both_backends! {
    /// R6: a backoff (for UNABLE_TO_LOCK_ROW and the like) is for the state
    /// that failed: events that arrived during the attempt are not postponed
    /// by it, nor charged its attempt.
    async fn r6_a_backoff_does_not_postpone_newer_events(db: &TestDatabase) {
        let store = store_with_org(db).await;
        store.ingest("acme", &[event("e1", "c1", 1)], at(1)).await.unwrap();
        let item = store.claim("w1", at(1), Duration::from_secs(30), 10).await.unwrap().remove(0);
        store.ingest("acme", &[event("e2", "c1", 2)], at(2)).await.unwrap();
        let line = HistoryLine { action: "create_task".into(), outcome: "retry".into(), detail: Some("UNABLE_TO_LOCK_ROW".into()) };
        store.wait(&item, at(100), WaitReason::SalesforceUnavailable, true, &line, at(3)).await.unwrap();
        let again = store.claim("w1", at(3), Duration::from_secs(30), 10).await.unwrap();
        assert_eq!(again.len(), 1, "the newer events are due now, not after the backoff");
        assert_eq!(again[0].attempts, 0);
    }
}

on_both_backends! {
    /// Issue 12: a worker whose lease ran out and was claimed by another can no
    /// longer write anything for the call — not a renewal, not the create mark,
    /// not a result, a wait or a failure — while the new holder can.
    async fn a_stale_lease_holder_writes_nothing(db: &TestDatabase) {
        let store = store_with_org(db).await;
        store.ingest("acme", &[event("e1", "c1", 1)], at(1)).await.unwrap();
        let lease = Duration::from_secs(30);
        let stale = store.claim("w1", at(1), lease, 10).await.unwrap().remove(0);
        let current = store.claim("w2", at(40), lease, 10).await.unwrap().remove(0);
        assert_ne!(stale.lease_token, current.lease_token);

        let lost = |result: anyhow::Result<()>| matches!(result, Err(error) if is_lease_lost(&error));
        assert!(lost(store.renew(&stale, at(41), lease).await.map(|_| ())));
        assert!(lost(store.mark_create_attempted(&stale, at(41)).await));
        assert!(lost(store.finish(&stale, &finished(SyncState::Synced, Some("00T000000000001AAA")), at(41)).await));
        let line = HistoryLine { action: "create_task".into(), outcome: "wait".into(), detail: None };
        assert!(lost(store.wait(&stale, at(99), WaitReason::SalesforceUnavailable, true, &line, at(41)).await));
        let error = NewError { step: "create_task".into(), code: "X".into(), message: "m".into(), remedy: "r".into() };
        assert!(lost(store.fail(&stale, &CallSummary::default(), &error, at(41)).await.map(|_| ())));
        assert!(lost(store.release(&stale).await));

        let row = store.call("acme", "c1").await.unwrap().unwrap();
        assert_eq!((row.sync_state, row.create_attempted_at, row.task_id), (SyncState::Pending, None, None));
        assert!(store.history("acme", "c1").await.unwrap().is_empty(), "the stale holder wrote no history");
        assert!(store.errors("acme", false, 10).await.unwrap().is_empty());

        store.renew(&current, at(41), lease).await.unwrap();
        store.mark_create_attempted(&current, at(41)).await.unwrap();
        store.finish(&current, &finished(SyncState::Synced, Some("00T000000000001AAA")), at(42)).await.unwrap();
        assert_eq!(store.call("acme", "c1").await.unwrap().unwrap().sync_state, SyncState::Synced);
        assert_eq!(store.queue_depth().await.unwrap(), 0);
    }
}

on_both_backends! {
    /// Issue 12: a renewed lease is not claimed by another worker, and the work of a
    /// call whose row was finished and made again by a later event cannot be written
    /// by a holder of the old row.
    async fn a_renewed_lease_holds_and_a_remade_row_has_a_new_token(db: &TestDatabase) {
        let store = store_with_org(db).await;
        store.ingest("acme", &[event("e1", "c1", 1)], at(1)).await.unwrap();
        let lease = Duration::from_secs(30);
        let item = store.claim("w1", at(1), lease, 10).await.unwrap().remove(0);
        store.renew(&item, at(25), lease).await.unwrap();
        assert!(store.claim("w2", at(40), lease, 10).await.unwrap().is_empty(), "renewed until 55");
        let copy = item.clone();
        store.finish(&item, &finished(SyncState::Synced, Some("00T000000000001AAA")), at(41)).await.unwrap();
        store.ingest("acme", &[event("e2", "c1", 50)], at(50)).await.unwrap();
        let next = store.claim("w1", at(50), lease, 10).await.unwrap().remove(0);
        assert_ne!(next.lease_token, copy.lease_token);
        let line = HistoryLine { action: "x".into(), outcome: "wait".into(), detail: None };
        let stale = store.wait(&copy, at(99), WaitReason::SalesforceUnavailable, true, &line, at(51)).await;
        assert!(matches!(stale, Err(error) if is_lease_lost(&error)));
    }
}

on_both_backends! {
    /// R16: waiting calls are shown by why they wait, with the oldest one's age, and a
    /// wait is not a failure.
    async fn r16_waiting_work_is_counted_by_reason(db: &TestDatabase) {
        let store = store_with_org(db).await;
        store.ingest("acme", &[event("e1", "c1", 1), event("e2", "c2", 2)], at(2)).await.unwrap();
        let items = store.claim("w1", at(3), Duration::from_secs(30), 10).await.unwrap();
        let line = HistoryLine { action: "create_task".into(), outcome: "wait".into(), detail: Some("503".into()) };
        for item in &items {
            store.wait(item, at(100), WaitReason::DailyLimit, true, &line, at(4)).await.unwrap();
        }
        let waiting = store.waiting(Some("acme"), at(5)).await.unwrap();
        assert_eq!(waiting, vec![WaitingCount { reason: "daily_limit".into(), calls: 2, oldest_since: Some(at(2)) }]);
        let row = store.call("acme", "c1").await.unwrap().unwrap();
        assert_eq!((row.sync_state, row.wait_reason.as_deref()), (SyncState::Waiting, Some("daily_limit")));
        assert!(store.errors("acme", false, 10).await.unwrap().is_empty());
        assert_eq!(store.waiting(Some("acme"), at(100)).await.unwrap()[0].reason, "due");
    }
}
