//! Worker behaviour that needs a store and a Salesforce behind it, each test
//! run on SQLite and on PostgreSQL against an in-process sf-sandbox.

use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::{Value, json};
use sf_sandbox::{Fault, FaultFilter, FaultPlan, NewUser, Sandbox};

use super::*;
use crate::on_both_backends;
use crate::store::SyncState;
use crate::store::{NewEvent, NewOrg, UserRow};
use crate::test_support::{SandboxOrg, TestDatabase};
use callsync_core::settings::Settings;

const AGENT: &str = "agent@acme.example";

/// A sandbox with one agent and one Contact, and a store whose organisation
/// `acme` (with `settings`) is connected to it.
async fn world(db: &TestDatabase, settings: &Settings) -> (Sandbox, Store, Worker) {
    let config = WorkerConfig {
        backoff_base_ms: 1,
        backoff_max_ms: 5,
        ..WorkerConfig::default()
    };
    world_with(db, settings, config).await
}

/// [`world`] with the worker's own configuration.
async fn world_with(
    db: &TestDatabase,
    settings: &Settings,
    config: WorkerConfig,
) -> (Sandbox, Store, Worker) {
    let SandboxOrg {
        sandbox,
        connection,
        ..
    } = SandboxOrg::start().await;
    sandbox
        .org()
        .add_user(&NewUser::named(AGENT, "Aiko", "Sato"));
    let store = db.store().await;
    store
        .create_org(
            &NewOrg {
                id: "acme".into(),
                name: "Acme".into(),
                signing_secret: "whsec".into(),
                settings_json: serde_json::to_string(settings).unwrap(),
                salesforce_json: Some(connection.to_string()),
            },
            Timestamp::now(),
        )
        .await
        .unwrap();
    store
        .upsert_user(&UserRow {
            org_id: "acme".into(),
            user_id: "u1".into(),
            name: "Aiko Sato".into(),
            sf_username: Some(AGENT.into()),
        })
        .await
        .unwrap();
    let worker = Worker::new(store.clone(), config, None);
    (sandbox, store, worker)
}

/// An event of call `c1`, `second` seconds into a fixed morning.
fn event(kind: &str, second: u32, body: Value) -> NewEvent {
    call_event("c1", kind, second, body)
}

/// An event of `call`, `second` seconds into a fixed morning.
fn call_event(call: &str, kind: &str, second: u32, body: Value) -> NewEvent {
    let mut event = json!({
        "id": format!("{call}-{kind}"), "org": "acme", "call_id": call, "user": "u1",
        "occurred_at": format!("2026-11-24T01:{:02}:{:02}Z", second / 60, second % 60),
        "direction": "outbound", "user_number": "050-1111-2222",
        "customer_number": "0312345678", "type": kind,
    });
    for (key, value) in body.as_object().unwrap() {
        event[key] = value.clone();
    }
    NewEvent {
        event_id: event["id"].as_str().unwrap().into(),
        call_id: call.into(),
        occurred_at: event["occurred_at"].as_str().unwrap().parse().unwrap(),
        body_json: event.to_string(),
    }
}

/// Runs rounds until nothing is queued (the backoffs here are milliseconds)
/// and sums what they did.
async fn drain(store: &Store, worker: &Worker) -> Round {
    let mut total = Round::default();
    for _ in 0..100 {
        let round = worker.run_once().await.unwrap();
        total.created += round.created;
        total.adopted += round.adopted;
        total.updated += round.updated;
        total.retried += round.retried;
        total.failed += round.failed;
        total.internal += round.internal;
        if round.claimed == 0 {
            if store.queue_depth().await.unwrap() == 0 {
                return total;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    panic!("the queue did not drain: {total:?}");
}

fn tasks_of_c1(sandbox: &Sandbox) -> Vec<serde_json::Map<String, Value>> {
    sandbox
        .org()
        .records("Task")
        .into_iter()
        .filter(|task| task.get("CallObject").and_then(Value::as_str) == Some("c1"))
        .collect()
}

on_both_backends! {
    /// Design decision 2 with R6: a create whose answer was lost (here the
    /// connection drops after the commit; a SIGKILL between the create and
    /// recording it leaves the store the same way) is adopted on the next
    /// attempt, and the adopted Task must receive everything that arrived in
    /// between. It once was recorded as if it already held it, and the
    /// memo, the voice analysis and the talk time were never written.
    async fn an_adopted_task_receives_the_updates_that_came_after_its_lost_create(db: &TestDatabase) {
        let settings = Settings { timing: callsync_core::settings::Timing::CallStart, ..Settings::default() };
        let (sandbox, store, worker) = world(db, &settings).await;
        let start = [event("dialing", 0, json!({})), event("answered", 5, json!({}))];
        store.ingest("acme", &start, Timestamp::now()).await.unwrap();
        sandbox.faults().set_plan(FaultPlan {
            script: vec![Some(Fault::DropAfterCommit)],
            script_filter: FaultFilter {
                methods: vec!["POST".into()],
                path_contains: Some("/sobjects/Task".into()),
            },
            ..FaultPlan::default()
        });
        let round = worker.run_once().await.unwrap();
        assert_eq!((round.created, round.retried), (0, 1), "the create's answer was lost: {round:?}");
        let first = tasks_of_c1(&sandbox);
        assert_eq!(first.len(), 1, "the create itself went through");
        assert_eq!(first[0].get("CallDurationInSeconds").and_then(Value::as_i64), Some(0), "R6: call_start leaves the duration at 0");

        let later = [
            event("ended", 245, json!({"talk_seconds": 240, "outcome": "answered"})),
            event("memo_saved", 300, json!({"values": ["follow up"], "note": "call back on Monday"})),
            event("analysis_completed", 400, json!({"speech_recognition": "hello", "summary": "wants a quote"})),
        ];
        store.ingest("acme", &later, Timestamp::now()).await.unwrap();
        let round = drain(&store, &worker).await;
        assert_eq!((round.created, round.adopted, round.failed), (0, 1, 0), "{round:?}");

        let tasks = tasks_of_c1(&sandbox);
        assert_eq!(tasks.len(), 1, "design decision 2: one Task: {tasks:#?}");
        let task = &tasks[0];
        let description = task.get("Description").and_then(Value::as_str).unwrap_or_default();
        assert!(description.contains("call back on Monday"), "R6: the memo reached the adopted Task: {description:?}");
        assert!(description.contains("wants a quote"), "R6: the analysis reached the adopted Task: {description:?}");
        assert_eq!(task.get("CallDurationInSeconds").and_then(Value::as_i64), Some(240), "R6: the call's end reached the adopted Task");

        // What the store says was written is what the Task holds, so later
        // updates are computed against the truth.
        let row = store.call("acme", "c1").await.unwrap().unwrap();
        assert_eq!(row.sync_state, SyncState::Synced);
        assert_eq!(row.task_id.as_deref(), task.get("Id").and_then(Value::as_str));
        assert_eq!(row.create_attempted_at, None);
    }
}

on_both_backends! {
    /// `run` keeps `batch` calls in flight and claims the next one as each
    /// finishes: a call stuck on a slow Salesforce request holds up its own
    /// sync only. In rounds, c3 and c4 would have waited for c1's create.
    /// On shutdown the call in flight is finished, not abandoned (R9: nothing
    /// is dropped).
    async fn r9_a_slow_call_holds_up_only_itself_and_shutdown_finishes_it(db: &TestDatabase) {
        let config = WorkerConfig { batch: 2, per_org_concurrency: 2, poll_interval_ms: 20, ..WorkerConfig::default() };
        let (sandbox, store, worker) = world_with(db, &Settings::default(), config).await;
        // The first single-record Task create takes six seconds: c1's, sent before the
        // other calls exist (had two creates met in R14's queue, they would have gone
        // together as one collection request, and none would have been slow).
        let slow = Duration::from_secs(6);
        sandbox.faults().set_plan(FaultPlan {
            script: vec![Some(Fault::Latency { millis: u64::try_from(slow.as_millis()).unwrap() })],
            script_filter: FaultFilter { methods: vec!["POST".into()], path_contains: Some("/sobjects/Task".into()) },
            ..FaultPlan::default()
        });
        let creates_sent = || {
            sandbox.counters().by_endpoint.iter()
                .filter(|(endpoint, _)| endpoint.starts_with("POST ") && endpoint.ends_with("/sobjects/{object}"))
                .map(|(_, count)| count)
                .sum::<u64>()
        };
        let calls = ["c1", "c2", "c3", "c4"];
        let ingest = async |call: &str| {
            let events = [
                call_event(call, "dialing", 0, json!({})),
                call_event(call, "answered", 5, json!({})),
                call_event(call, "ended", 35, json!({"talk_seconds": 30, "outcome": "answered"})),
            ];
            store.ingest("acme", &events, Timestamp::now()).await.unwrap();
        };
        let synced = async || {
            let mut synced = Vec::new();
            for call in calls {
                if store.call("acme", call).await.unwrap().is_some_and(|row| row.sync_state == SyncState::Synced) {
                    synced.push(call);
                }
            }
            synced
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(worker.run(async move { stopped.await.ok(); }));
        let started = std::time::Instant::now();
        ingest("c1").await;
        while creates_sent() == 0 {
            assert!(started.elapsed() < slow, "c1's create was never sent");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for call in &calls[1..] {
            ingest(call).await;
        }

        // With two calls in flight at most, the three others pass the slow one, long
        // before its request ends (in rounds of two, the third could not start before).
        // The time is read after the states, so three seen in time means c1 was not done.
        loop {
            let now = synced().await;
            let elapsed = started.elapsed();
            assert!(elapsed < slow, "only {now:?} synced while c1 was slow");
            if now.len() >= 3 {
                assert_eq!(now, ["c2", "c3", "c4"], "the slow call is still in flight");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        stop.send(()).unwrap();
        running.await.unwrap();
        assert!(started.elapsed() >= slow, "c1's create was the slow one");
        assert_eq!(synced().await, calls, "shutdown finishes the call in flight");
        assert_eq!(store.queue_depth().await.unwrap(), 0);
        assert_eq!(sandbox.org().records("Task").len(), 4, "one Task per call");
    }
}

/// Ingests a complete answered call (`dialing`, `answered`, `ended`) for each id.
async fn ingest_answered_calls(store: &Store, calls: &[String]) {
    for call in calls {
        let events = [
            call_event(call, "dialing", 0, json!({})),
            call_event(call, "answered", 5, json!({})),
            call_event(
                call,
                "ended",
                35,
                json!({"talk_seconds": 30, "outcome": "answered"}),
            ),
        ];
        store
            .ingest("acme", &events, Timestamp::now())
            .await
            .unwrap();
    }
}

/// Waits until every call is synced, or fails after `limit` with what is still open.
async fn wait_until_synced(store: &Store, calls: &[String], limit: Duration) {
    let started = std::time::Instant::now();
    loop {
        let mut open = Vec::new();
        for call in calls {
            let row = store.call("acme", call).await.unwrap().unwrap();
            if row.sync_state != SyncState::Synced {
                open.push((call.clone(), row.sync_state, row.wait_reason));
            }
        }
        if open.is_empty() && store.queue_depth().await.unwrap() == 0 {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "not synced after {limit:?}: {open:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Tasks per `CallObject`, for every call that has any.
fn tasks_per_call(sandbox: &Sandbox) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for task in sandbox.org().records("Task") {
        if let Some(call) = task.get("CallObject").and_then(Value::as_str) {
            *counts.entry(call.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

fn call_ids(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i}")).collect()
}

on_both_backends! {
    /// Issue 12, design decision 2: every Salesforce request takes longer than the whole
    /// lease, and two instances share the queue. The running step renews its lease, so the
    /// other instance never takes the call over mid-step: exactly one Task per call. (With
    /// unfenced, unrenewed leases the second instance created a second Task.)
    async fn r16_salesforce_slower_than_the_lease_still_writes_one_task_per_call(db: &TestDatabase) {
        let config = WorkerConfig {
            lease_seconds: 1,
            poll_interval_ms: 20,
            backoff_base_ms: 10,
            backoff_max_ms: 200,
            ..WorkerConfig::default()
        };
        let (sandbox, store, first) = world_with(db, &Settings::default(), config.clone()).await;
        let second = Worker::new(store.clone(), config, None);
        sandbox.faults().set_plan(FaultPlan { base_latency_millis: 1_300, ..FaultPlan::default() });
        let calls = call_ids("slow", 6);
        ingest_answered_calls(&store, &calls).await;

        let (stop, stopped) = tokio::sync::watch::channel(false);
        let run = |worker: Worker| {
            let mut stopped = stopped.clone();
            tokio::spawn(worker.run(async move { stopped.wait_for(|stop| *stop).await.ok(); }))
        };
        let running = [run(first), run(second)];
        wait_until_synced(&store, &calls, Duration::from_secs(90)).await;
        stop.send(true).unwrap();
        for worker in running {
            worker.await.unwrap();
        }
        let counts = tasks_per_call(&sandbox);
        for call in &calls {
            assert_eq!(counts.get(call), Some(&1), "one Task for {call}: {counts:?}");
        }
        assert!(store.errors("acme", false, 10).await.unwrap().is_empty());
    }
}

on_both_backends! {
    /// R16: Salesforce answers 503 to everything for far longer than the old retry budget
    /// (eight attempts). No call enters the error log; the calls wait, visibly and by
    /// reason, the organisation's queue pauses and probes; and once Salesforce is back,
    /// every call has its one complete Task.
    async fn r16_an_outage_parks_nothing_and_every_call_syncs_after_it(db: &TestDatabase) {
        let config = WorkerConfig {
            poll_interval_ms: 20,
            backoff_base_ms: 10,
            backoff_max_ms: 200,
            breaker_failures: 3,
            breaker_pause_ms: 100,
            ..WorkerConfig::default()
        };
        let (sandbox, store, worker) = world_with(db, &Settings::default(), config).await;
        sandbox.faults().set_plan(FaultPlan {
            rules: vec![sf_sandbox::FaultRule { fault: Fault::ServiceUnavailable, rate: 1.0, filter: FaultFilter::default() }],
            ..FaultPlan::default()
        });
        let calls = call_ids("down", 5);
        ingest_answered_calls(&store, &calls).await;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let probe = worker.clone();
        let running = tokio::spawn(worker.run(async move { stopped.await.ok(); }));

        // Until one call has waited more often than the old budget of eight attempts.
        let started = std::time::Instant::now();
        while store.history("acme", "down1").await.unwrap().len() <= 8 {
            assert!(started.elapsed() < Duration::from_secs(60), "the call is not retried");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(store.errors("acme", false, 10).await.unwrap().is_empty(), "R16: an outage is not an error");
        let health = store.org_health("acme").await.unwrap().expect("the organisation's queue is paused");
        assert_eq!(health.reason, "salesforce_unavailable");
        assert!(probe.breaker("acme").is_some());
        let waiting = store.waiting(Some("acme"), Timestamp::now()).await.unwrap();
        let waiting_calls: i64 = waiting.iter().map(|count| count.calls).sum();
        assert_eq!(waiting_calls, 5, "every call still waits: {waiting:?}");
        assert!(waiting.iter().all(|count| count.reason != "failed"), "{waiting:?}");
        let row = store.call("acme", "down1").await.unwrap().unwrap();
        assert_eq!(row.wait_reason.as_deref(), Some("salesforce_unavailable"), "R16: why it waits is shown");

        sandbox.faults().set_plan(FaultPlan::default());
        wait_until_synced(&store, &calls, Duration::from_secs(30)).await;
        stop.send(()).unwrap();
        running.await.unwrap();
        let counts = tasks_per_call(&sandbox);
        for call in &calls {
            assert_eq!(counts.get(call), Some(&1), "one Task for {call}: {counts:?}");
            let row = store.call("acme", call).await.unwrap().unwrap();
            assert_eq!(row.wait_reason, None);
        }
        assert!(store.errors("acme", false, 10).await.unwrap().is_empty());
        assert_eq!(store.org_health("acme").await.unwrap(), None, "the breaker closed again");
    }
}

on_both_backends! {
    /// Issue 12, a model of the worst case: three instances share the queue; requests are
    /// sometimes slower than the lease; instances crash at random moments (their steps
    /// dropped mid-request, as by SIGKILL) and new ones start. Whatever the interleaving,
    /// every call ends with exactly one Task: never two creates in flight for one call.
    async fn crashing_instances_and_expiring_leases_never_create_twice(db: &TestDatabase) {
        use rand::{Rng as _, SeedableRng as _};
        let config = WorkerConfig {
            lease_seconds: 1,
            poll_interval_ms: 20,
            backoff_base_ms: 10,
            backoff_max_ms: 300,
            salesforce_timeout_seconds: 2,
            ..WorkerConfig::default()
        };
        let (sandbox, store, first) = world_with(db, &Settings::default(), config.clone()).await;
        sandbox.faults().set_plan(FaultPlan {
            rules: vec![sf_sandbox::FaultRule {
                fault: Fault::Latency { millis: 1_400 },
                rate: 0.3,
                filter: FaultFilter::default(),
            }],
            ..FaultPlan::default()
        });
        let calls = call_ids("crash", 24);
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        let spawn = |worker: Worker| tokio::spawn(worker.run(std::future::pending()));
        let mut running = vec![
            spawn(first),
            spawn(Worker::new(store.clone(), config.clone(), None)),
            spawn(Worker::new(store.clone(), config.clone(), None)),
        ];
        for batch in calls.chunks(4) {
            ingest_answered_calls(&store, batch).await;
            tokio::time::sleep(Duration::from_millis(rng.random_range(100..900))).await;
            let victim = rng.random_range(0..running.len());
            running[victim].abort();
            running[victim] = spawn(Worker::new(store.clone(), config.clone(), None));
        }
        wait_until_synced(&store, &calls, Duration::from_secs(120)).await;
        for worker in running {
            worker.abort();
        }
        let counts = tasks_per_call(&sandbox);
        for call in &calls {
            assert_eq!(counts.get(call), Some(&1), "one Task for {call}: {counts:?}");
        }
        assert!(store.errors("acme", false, 10).await.unwrap().is_empty());
    }
}

on_both_backends! {
    /// R14 idempotent create: with a Unique External ID field mapped to the call id, a
    /// create whose answer was lost is simply sent again; Salesforce refuses the second
    /// (DUPLICATE_VALUE) and the Task that exists is adopted — one Task, no query first.
    async fn r14_a_unique_call_id_field_lets_salesforce_refuse_a_second_task(db: &TestDatabase) {
        let mut settings = Settings::default();
        settings.custom_fields.call_id = Some("Call_Key__c".into());
        let (sandbox, store, worker) = world(db, &settings).await;
        sandbox
            .org()
            .add_custom_field(sf_sandbox::CustomField {
                object: "Task".into(),
                name: "Call_Key__c".into(),
                label: "Call key".into(),
                kind: sf_sandbox::CustomFieldKind::ExternalIdText { length: 80 },
            })
            .unwrap();
        ingest_answered_calls(&store, &["c1".to_owned()]).await;
        sandbox.faults().set_plan(FaultPlan {
            script: vec![Some(Fault::DropAfterCommit)],
            script_filter: FaultFilter { methods: vec!["POST".into()], path_contains: Some("/sobjects/Task".into()) },
            ..FaultPlan::default()
        });
        let round = drain(&store, &worker).await;
        assert_eq!((round.retried, round.adopted, round.failed), (1, 1, 0), "{round:?}");
        let tasks = tasks_of_c1(&sandbox);
        assert_eq!(tasks.len(), 1, "R14: one Task: {tasks:#?}");
        assert_eq!(tasks[0].get("Call_Key__c").and_then(Value::as_str), Some("c1"));
        assert!(store.errors("acme", false, 10).await.unwrap().is_empty());
    }
}

on_both_backends! {
    /// Issue 12, R9: a call whose stored Task JSON no longer reads is not re-run every
    /// lease in silence: one error-log entry with callsync's own code and a remedy, and
    /// the call is parked until someone retries it. An unreadable stored event is
    /// quarantined and noted, and the call syncs from its other events.
    async fn unreadable_stored_data_is_an_error_log_entry_not_a_silent_loop(db: &TestDatabase) {
        let (sandbox, store, worker) = world(db, &Settings::default()).await;
        ingest_answered_calls(&store, &["c1".to_owned(), "c2".to_owned()]).await;
        drain(&store, &worker).await;
        assert_eq!(tasks_per_call(&sandbox).len(), 2);

        store.execute_for_tests("UPDATE calls SET written = '{\"state\": 42' WHERE call_id = 'c1'").await.unwrap();
        store.ingest("acme", &[call_event("c1", "memo_saved", 60, json!({"values": [], "note": "later"}))], Timestamp::now()).await.unwrap();
        let round = drain(&store, &worker).await;
        assert_eq!(round.internal, 1, "{round:?}");
        let errors = store.errors("acme", true, 10).await.unwrap();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!((errors[0].call_id.as_str(), errors[0].code.as_str()), ("c1", "CALLSYNC_WRITTEN_UNREADABLE"));
        assert!(!errors[0].remedy.is_empty());
        assert_eq!(worker.run_once().await.unwrap().claimed, 0, "parked, not re-run");

        store.execute_for_tests("UPDATE events SET body = 'not json' WHERE event_id = 'c2-ended'").await.unwrap();
        store.ingest("acme", &[call_event("c2", "memo_saved", 60, json!({"values": [], "note": "later"}))], Timestamp::now()).await.unwrap();
        drain(&store, &worker).await;
        let stored = store.call_events("acme", "c2").await.unwrap();
        let quarantined: Vec<_> = stored.iter().filter(|event| event.quarantined.is_some()).map(|event| event.event_id.as_str()).collect();
        assert_eq!(quarantined, ["c2-ended"]);
        let notes = store.errors("acme", false, 10).await.unwrap();
        assert!(notes.iter().any(|note| note.call_id == "c2" && note.code == "CALLSYNC_EVENT_QUARANTINED"), "{notes:?}");
    }
}
