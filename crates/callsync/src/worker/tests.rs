//! Worker behaviour that needs a store and a Salesforce behind it, each test
//! run on SQLite and on PostgreSQL against an in-process sf-sandbox.

use jiff::Timestamp;
use serde_json::{Value, json};
use sf_sandbox::{Fault, FaultFilter, FaultPlan, NewUser, Sandbox};

use super::*;
use crate::on_both_backends;
use crate::store::{NewEvent, NewOrg, UserRow};
use crate::test_support::{SandboxOrg, TestDatabase};

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
        // The first Task create, whichever call sends it, takes six seconds.
        let slow = Duration::from_secs(6);
        sandbox.faults().set_plan(FaultPlan {
            script: vec![Some(Fault::Latency { millis: u64::try_from(slow.as_millis()).unwrap() })],
            script_filter: FaultFilter { methods: vec!["POST".into()], path_contains: Some("/sobjects/Task".into()) },
            ..FaultPlan::default()
        });
        let calls = ["c1", "c2", "c3", "c4"];
        for call in calls {
            let events = [
                call_event(call, "dialing", 0, json!({})),
                call_event(call, "answered", 5, json!({})),
                call_event(call, "ended", 35, json!({"talk_seconds": 30, "outcome": "answered"})),
            ];
            store.ingest("acme", &events, Timestamp::now()).await.unwrap();
        }
        let synced = async || {
            let mut synced = Vec::new();
            for call in calls {
                if store.call("acme", call).await.unwrap().unwrap().sync_state == SyncState::Synced {
                    synced.push(call);
                }
            }
            synced
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(worker.run(async move { stopped.await.ok(); }));

        // With two calls in flight at most, the three others pass the slow one, long
        // before its request ends (in rounds of two, the third could not start before).
        let started = std::time::Instant::now();
        while synced().await.len() < 3 {
            assert!(started.elapsed() < slow, "only {:?} synced while one call was slow", synced().await);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(synced().await.len(), 3, "the slow call is still in flight");

        stop.send(()).unwrap();
        running.await.unwrap();
        assert_eq!(synced().await, calls, "shutdown finishes the call in flight");
        assert_eq!(store.queue_depth().await.unwrap(), 0);
        assert_eq!(sandbox.org().records("Task").len(), 4, "one Task per call");
    }
}
