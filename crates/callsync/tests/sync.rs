//! The sync end to end: events stored as ingest stores them, the worker
//! run step by step, and the Task checked in an in-process sf-sandbox —
//! on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use callsync::config::WorkerConfig;
use callsync::store::{Store, SyncState};
use callsync::test_support::{
    SandboxOrg, TestDatabase, add_org, ingest_json, link_user, sync_until_idle,
};
use callsync::worker::{Round, Worker};
use callsync_core::settings::{Settings, Timing};
use jiff::Timestamp;
use serde_json::{Value, json};
use sf_sandbox::{Fault, NewUser, RuleCondition, Sandbox, ValidationRule};

const AGENT: &str = "agent@acme.example";

/// A sandbox org with one agent and a few customers, and callsync's store
/// with organisation `acme` connected to it.
struct World {
    sandbox: Sandbox,
    store: Store,
    worker: Worker,
    agent_id: String,
    contact_id: String,
    account_id: String,
}

impl World {
    async fn new(db: &TestDatabase, settings: Settings) -> World {
        let SandboxOrg {
            sandbox,
            connection,
            account_id,
            contact_id,
        } = SandboxOrg::start().await;
        let agent_id = sandbox
            .org()
            .add_user(&NewUser::named(AGENT, "Aiko", "Sato"))
            .to_string();

        let store = db.store().await;
        add_org(
            &store,
            "acme",
            &serde_json::to_string(&settings).unwrap(),
            &connection,
        )
        .await;
        link_user(&store, "acme", "u1", "Aiko Sato", AGENT).await;
        let config = WorkerConfig {
            backoff_base_ms: 1,
            backoff_max_ms: 5,
            ..WorkerConfig::default()
        };
        let worker = Worker::new(store.clone(), config, Some("http://callsync.test".into()));
        World {
            sandbox,
            store,
            worker,
            agent_id,
            contact_id,
            account_id,
        }
    }

    async fn post(&self, events: &[Value]) {
        ingest_json(&self.store, "acme", events).await;
    }

    /// Runs worker rounds until the queue holds nothing due (backoffs here
    /// are milliseconds), and sums what they did.
    async fn sync(&self) -> Round {
        sync_until_idle(
            &self.store,
            &self.worker,
            50,
            std::time::Duration::from_millis(10),
        )
        .await
    }

    fn tasks(&self) -> Vec<Value> {
        self.sandbox
            .org()
            .records("Task")
            .into_iter()
            .map(Value::Object)
            .collect()
    }

    fn task_of(&self, call_id: &str) -> Value {
        let tasks: Vec<Value> = self
            .tasks()
            .into_iter()
            .filter(|t| t["CallObject"] == call_id)
            .collect();
        assert_eq!(
            tasks.len(),
            1,
            "exactly one Task for call {call_id}: {tasks:#?}"
        );
        tasks.into_iter().next().unwrap()
    }
}

/// An event of call `call` at minute `minute` of a fixed morning.
fn event(id: &str, call: &str, minute: u32, body: Value) -> Value {
    let mut event = json!({
        "id": id, "org": "acme", "call_id": call, "user": "u1",
        "occurred_at": format!("2026-11-24T01:{minute:02}:00Z"),
        "direction": "outbound", "user_number": "050-1111-2222",
        "customer_number": "0312345678",
    });
    for (key, value) in body.as_object().unwrap() {
        event[key] = value.clone();
    }
    event
}

/// Faults scripted with this hit only Task creates.
fn task_creates() -> sf_sandbox::FaultFilter {
    sf_sandbox::FaultFilter {
        methods: vec!["POST".into()],
        path_contains: Some("/sobjects/Task".into()),
    }
}

fn outgoing_call(call: &str) -> Vec<Value> {
    vec![
        event(&format!("{call}-1"), call, 0, json!({"type": "dialing"})),
        event(&format!("{call}-2"), call, 1, json!({"type": "answered"})),
        event(
            &format!("{call}-3"),
            call,
            5,
            json!({"type": "ended", "talk_seconds": 240, "outcome": "answered"}),
        ),
    ]
}

callsync::on_both_backends! {
    async fn r5_an_answered_outgoing_call_becomes_one_task_on_the_contact_written_by_the_agent(db: &TestDatabase) {
        let world = World::new(db, Settings::default()).await;
        world.post(&outgoing_call("c1")).await;
        let round = world.sync().await;
        assert_eq!(round.created, 1, "{round:?}");

        let task = world.task_of("c1");
        assert_eq!(task["Subject"], "発信", "R5.1 default subject");
        assert_eq!(task["WhoId"], world.contact_id.as_str(), "R3: the Contact with that number, written differently");
        assert_eq!(task["WhatId"], world.account_id.as_str(), "R5: WhatId is the Contact's Account");
        assert_eq!(task["CreatedById"], world.agent_id.as_str(), "R5: written with the agent's own token");
        assert_eq!(task["OwnerId"], world.agent_id.as_str(), "R7: the handler owns it by default");
        assert_eq!(task["CallType"], "Outbound");
        assert_eq!(task["CallDurationInSeconds"], 240);
        assert_eq!(task["TaskSubtype"], "Call");

        let call = world.store.call("acme", "c1").await.unwrap().unwrap();
        assert_eq!(call.sync_state, SyncState::Synced);
        assert_eq!(call.summary.kind.as_deref(), Some("outgoing"));
        let contact = world.store.contact("acme", "+81312345678").await.unwrap().unwrap();
        assert_eq!(contact.entry.company.as_deref(), Some("Acme Trading"), "R4: a Contact's company is its Account's name");
    }
}

callsync::on_both_backends! {
    async fn r10_shuffled_and_duplicated_events_still_give_exactly_one_task(db: &TestDatabase) {
        let world = World::new(db, Settings::default()).await;
        let mut events = outgoing_call("c2");
        events.reverse();
        world.post(&events[..1]).await; // `ended` alone first
        world.sync().await;
        world.post(&events).await;
        world.post(&events).await;
        world.sync().await;
        world.task_of("c2");
        assert_eq!(world.tasks().len(), 1);
    }
}

callsync::on_both_backends! {
    async fn r6_memo_and_analysis_update_the_task_and_keep_the_users_own_edits(db: &TestDatabase) {
        let settings = Settings {
            comment_template: "{MEMO}\n{SPEECH_RECOGNITION_SUMMARY}".into(),
            ..Settings::default()
        };
        let world = World::new(db, settings).await;
        world.post(&outgoing_call("c3")).await;
        world.sync().await;
        let task_id = world.task_of("c3")["Id"].as_str().unwrap().to_owned();

        // A salesperson edits a field callsync does not own.
        let admin = world.sandbox.org().admin_user();
        world.sandbox.org().update(admin, "Task", &task_id, json!({"Priority": "High"})).unwrap();

        world.post(&[event("c3-4", "c3", 6, json!({"type": "memo_saved", "values": ["見積依頼"], "note": "call back Friday"}))]).await;
        world.post(&[event("c3-5", "c3", 7, json!({"type": "analysis_completed", "speech_recognition": "もしもし…", "summary": "Wants a quote."}))]).await;
        let round = world.sync().await;
        assert!(round.updated >= 1, "{round:?}");

        let task = world.task_of("c3");
        let description = task["Description"].as_str().unwrap();
        assert!(description.contains("Wants a quote."), "{description}");
        assert_eq!(task["Priority"], "High", "R6 Beyond: only owned fields are written");
    }
}

callsync::on_both_backends! {
    async fn r3_7_an_unknown_number_still_gets_an_unlinked_task(db: &TestDatabase) {
        let world = World::new(db, Settings::default()).await;
        let mut events = outgoing_call("c4");
        for event in &mut events {
            event["customer_number"] = json!("045-000-0000");
        }
        world.post(&events).await;
        world.sync().await;
        let task = world.task_of("c4");
        assert!(task.get("WhoId").is_none_or(Value::is_null), "{task:#?}");
    }
}

callsync::on_both_backends! {
    async fn r2_an_extension_call_is_never_synced(db: &TestDatabase) {
        let world = World::new(db, Settings::default()).await;
        let mut events = outgoing_call("c5");
        for event in &mut events {
            event["direction"] = json!("extension");
        }
        world.post(&events).await;
        let round = world.sync().await;
        assert_eq!(round.never, 1, "{round:?}");
        assert!(world.tasks().is_empty());
        assert_eq!(world.store.call("acme", "c5").await.unwrap().unwrap().sync_state, SyncState::Never);
    }
}

callsync::on_both_backends! {
    async fn r10_with_call_start_timing_the_task_is_created_at_answer_and_completed_at_the_end(db: &TestDatabase) {
        let settings = Settings { timing: Timing::CallStart, ..Settings::default() };
        let world = World::new(db, settings).await;
        let events = outgoing_call("c6");
        world.post(&events[..2]).await;
        world.sync().await;
        assert_eq!(world.task_of("c6")["CallDurationInSeconds"], 0, "R5: 0 at call_start");
        world.post(&events[2..]).await;
        world.sync().await;
        assert_eq!(world.task_of("c6")["CallDurationInSeconds"], 240, "R6 Beyond: the end's facts are written");
    }
}

callsync::on_both_backends! {
    async fn r6_lock_errors_and_outages_are_retried_to_success(db: &TestDatabase) {
        let world = World::new(db, Settings::default()).await;
        world.sandbox.faults().set_plan(sf_sandbox::FaultPlan {
            script: vec![Some(Fault::UnableToLockRow), Some(Fault::ServiceUnavailable)],
            script_filter: task_creates(),
            ..sf_sandbox::FaultPlan::default()
        });
        world.post(&outgoing_call("c7")).await;
        let round = world.sync().await;
        assert_eq!(world.sandbox.faults().injected(), 2);
        assert_eq!(round.retried, 2, "{round:?}");
        world.task_of("c7");
        assert!(world.store.errors("acme", true, 10).await.unwrap().is_empty());
    }
}

callsync::on_both_backends! {
    async fn r9_a_validation_rule_failure_lands_in_the_error_log_and_a_retry_after_the_fix_succeeds(db: &TestDatabase) {
        let world = World::new(db, Settings::default()).await;
        world.sandbox.org().add_validation_rule(ValidationRule {
            object: "Task".into(),
            name: "No_Outbound".into(),
            condition: RuleCondition::Equals("CallType".into(), "Outbound".into()),
            error_message: "Outbound calls must be logged by hand".into(),
            error_field: None,
        });
        world.post(&outgoing_call("c8")).await;
        let round = world.sync().await;
        assert_eq!(round.failed, 1, "{round:?}");
        let errors = world.store.errors("acme", true, 10).await.unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code, "FIELD_CUSTOM_VALIDATION_EXCEPTION");
        assert!(errors[0].remedy.contains("validation rule"), "{}", errors[0].remedy);
        assert!(world.tasks().is_empty());

        world.sandbox.org().write().clear_validation_rules();
        world.store.retry_error("acme", errors[0].id, Timestamp::now()).await.unwrap();
        world.sync().await;
        world.task_of("c8");
        assert_eq!(world.store.call("acme", "c8").await.unwrap().unwrap().sync_state, SyncState::Synced);
    }
}

callsync::on_both_backends! {
    async fn a_dropped_connection_after_the_create_committed_makes_no_duplicate(db: &TestDatabase) {
        let world = World::new(db, Settings::default()).await;
        world.post(&outgoing_call("c9")).await;
        // Let the worker get as far as the create, then drop that answer.
        world.sandbox.faults().set_plan(sf_sandbox::FaultPlan {
            script: vec![Some(Fault::DropAfterCommit)],
            script_filter: task_creates(),
            ..sf_sandbox::FaultPlan::default()
        });
        let round = world.sync().await;
        assert_eq!(world.sandbox.faults().injected(), 1, "the create's answer was dropped");
        assert_eq!((round.created, round.adopted), (0, 1), "design decision 2: the Task is adopted: {round:?}");
        world.task_of("c9");
    }
}

/// Design decision 1: on PostgreSQL several instances share the work
/// (`FOR UPDATE SKIP LOCKED`, leases); every call still gets exactly one Task.
#[tokio::test]
async fn two_workers_on_one_postgres_database_write_each_task_exactly_once() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let world = World::new(&db, Settings::default()).await;
    let calls: Vec<String> = (0..30).map(|n| format!("shared-{n:02}")).collect();
    for call in &calls {
        world.post(&outgoing_call(call)).await;
    }
    let second = Worker::new(
        world.store.clone(),
        WorkerConfig {
            batch: 4,
            ..WorkerConfig::default()
        },
        None,
    );
    let first = Worker::new(
        world.store.clone(),
        WorkerConfig {
            batch: 4,
            ..WorkerConfig::default()
        },
        None,
    );
    let drain = |worker: Worker| async move {
        let mut claimed = 0;
        for _ in 0..200 {
            let round = worker.run_once().await.unwrap();
            claimed += round.claimed;
            if round.claimed == 0 {
                break;
            }
        }
        claimed
    };
    let (a, b) = tokio::join!(drain(first), drain(second));
    assert_eq!(world.store.queue_depth().await.unwrap(), 0);
    assert_eq!(
        a + b,
        calls.len(),
        "each call claimed once in all: {a} + {b}"
    );
    for call in &calls {
        world.task_of(call);
    }
    assert_eq!(world.tasks().len(), calls.len());
}

callsync::on_both_backends! {
    async fn calls_wait_once_the_organisations_api_budget_share_is_used(db: &TestDatabase) {
        let world = World::new(db, Settings::default()).await;
        world.sandbox.set_daily_api_limit(1_000);
        world.sandbox.set_api_usage(950);
        world.post(&outgoing_call("b1")).await;
        world.sync().await;
        world.task_of("b1"); // the first answer tells callsync where the usage stands
        world.post(&outgoing_call("b2")).await;
        let round = world.worker.run_once().await.unwrap();
        assert_eq!(round.waiting, 1, "{round:?}");
        assert!(world.tasks().iter().all(|task| task["CallObject"] != "b2"), "b2 waits for budget");
        let history = world.store.history("acme", "b2").await.unwrap();
        assert!(history.iter().any(|line| line.outcome == "deferred"), "{history:?}");
    }
}

/// One row of the R10 creation table: the events of a call, and whether
/// each timing creates a Task (with this R5.1 subject) or never does.
struct R10Row {
    name: &'static str,
    direction: &'static str,
    user: Option<&'static str>,
    predictive: bool,
    steps: Vec<Value>,
    at_call_start: Option<&'static str>,
    at_call_end: Option<&'static str>,
}

fn r10_rows() -> Vec<R10Row> {
    let ended = |talk: u32, outcome: &str| json!({"type": "ended", "talk_seconds": talk, "outcome": outcome});
    let transfer =
        |kind: &str| json!({"type": "transferred", "kind": kind, "destination": "050-9999-0000"});
    vec![
        R10Row {
            name: "outgoing",
            direction: "outbound",
            user: Some("u1"),
            predictive: false,
            steps: vec![
                json!({"type": "dialing"}),
                json!({"type": "answered"}),
                ended(60, "answered"),
            ],
            at_call_start: Some("発信"),
            at_call_end: Some("発信"),
        },
        R10Row {
            name: "incoming",
            direction: "inbound",
            user: Some("u1"),
            predictive: false,
            steps: vec![
                json!({"type": "ringing"}),
                json!({"type": "answered"}),
                ended(60, "answered"),
            ],
            at_call_start: Some("着信"),
            at_call_end: Some("着信"),
        },
        R10Row {
            name: "transfer",
            direction: "inbound",
            user: Some("u1"),
            predictive: false,
            steps: vec![
                json!({"type": "ringing"}),
                json!({"type": "answered"}),
                transfer("external"),
                ended(60, "answered"),
            ],
            at_call_start: Some("転送"),
            at_call_end: Some("転送"),
        },
        R10Row {
            name: "missed-outgoing",
            direction: "outbound",
            user: Some("u1"),
            predictive: false,
            steps: vec![json!({"type": "dialing"}), ended(0, "no_answer")],
            at_call_start: Some("発信(不在)"),
            at_call_end: Some("発信(不在)"),
        },
        R10Row {
            name: "missed-incoming",
            direction: "inbound",
            user: None,
            predictive: false,
            steps: vec![json!({"type": "ringing"}), ended(0, "no_answer")],
            at_call_start: Some("着信(不在)"),
            at_call_end: Some("着信(不在)"),
        },
        R10Row {
            name: "voicemail",
            direction: "inbound",
            user: Some("u1"),
            predictive: false,
            steps: vec![json!({"type": "ringing"}), ended(0, "voicemail")],
            at_call_start: None,
            at_call_end: Some("留守番電話"),
        },
        R10Row {
            name: "predictive-unanswered",
            direction: "outbound",
            user: None,
            predictive: true,
            steps: vec![json!({"type": "dialing"}), ended(0, "no_answer")],
            at_call_start: Some("発信(不在)"),
            at_call_end: Some("発信(不在)"),
        },
        R10Row {
            name: "predictive-talked",
            direction: "outbound",
            user: Some("u1"),
            predictive: true,
            steps: vec![
                json!({"type": "dialing"}),
                json!({"type": "answered"}),
                ended(60, "answered"),
            ],
            at_call_start: None,
            at_call_end: Some("発信"),
        },
        R10Row {
            name: "extension",
            direction: "extension",
            user: Some("u1"),
            predictive: false,
            steps: vec![
                json!({"type": "dialing"}),
                json!({"type": "answered"}),
                ended(60, "answered"),
            ],
            at_call_start: None,
            at_call_end: None,
        },
    ]
}

async fn r10_table_for(db: &TestDatabase, timing: Timing) {
    let world = World::new(
        db,
        Settings {
            timing,
            ..Settings::default()
        },
    )
    .await;
    let default_user = world.sandbox.org().admin_user().to_string();
    for row in r10_rows() {
        let call = format!("r10-{}", row.name);
        let mut events: Vec<Value> = row
            .steps
            .iter()
            .enumerate()
            .map(|(index, step)| {
                let mut event = event(
                    &format!("{call}-{index}"),
                    &call,
                    index as u32,
                    step.clone(),
                );
                event["direction"] = json!(row.direction);
                match row.user {
                    Some(user) => event["user"] = json!(user),
                    None => {
                        event.as_object_mut().unwrap().remove("user");
                    }
                }
                if row.predictive {
                    event["predictive"] = json!({"campaign": "autumn"});
                }
                event
            })
            .collect();
        // R10 "Ordering": out of order and twice, in two deliveries.
        events.reverse();
        let duplicated: Vec<Value> = events.iter().chain(events.iter()).cloned().collect();
        world.post(&duplicated[..events.len()]).await;
        world.post(&duplicated[events.len()..]).await;
    }
    world.sync().await;
    for row in r10_rows() {
        let call = format!("r10-{}", row.name);
        let expected = match timing {
            Timing::CallStart => row.at_call_start,
            Timing::CallEnd => row.at_call_end,
        };
        let tasks: Vec<Value> = world
            .tasks()
            .into_iter()
            .filter(|task| task["CallObject"] == call.as_str())
            .collect();
        match expected {
            None => assert!(
                tasks.is_empty(),
                "R10 {timing:?} {}: no Task, got {tasks:#?}",
                row.name
            ),
            Some(subject) => {
                assert_eq!(
                    tasks.len(),
                    1,
                    "R10 {timing:?} {}: exactly one Task",
                    row.name
                );
                assert_eq!(tasks[0]["Subject"], subject, "R5.1 {timing:?} {}", row.name);
                let writer = if row.user.is_some() {
                    world.agent_id.as_str()
                } else {
                    default_user.as_str()
                };
                assert_eq!(
                    tasks[0]["CreatedById"], writer,
                    "R7 {timing:?} {}: written as the right user",
                    row.name
                );
            }
        }
    }
}

callsync::on_both_backends! {
    async fn r10_every_row_at_call_end_gives_the_task_the_spec_says(db: &TestDatabase) {
        r10_table_for(db, Timing::CallEnd).await;
    }
}

callsync::on_both_backends! {
    async fn r10_every_row_at_call_start_gives_the_task_the_spec_says(db: &TestDatabase) {
        r10_table_for(db, Timing::CallStart).await;
    }
}

callsync::on_both_backends! {
    async fn an_expired_session_is_renewed_and_the_update_still_lands(db: &TestDatabase) {
        let world = World::new(db, Settings::default()).await;
        world.post(&outgoing_call("x1")).await;
        world.sync().await;
        world.sandbox.expire_sessions();
        world.post(&[event("x1-4", "x1", 6, json!({"type": "memo_saved", "values": [], "note": "renewed"}))]).await;
        let round = world.sync().await;
        assert_eq!(round.updated, 1, "{round:?}");
        assert!(world.task_of("x1")["Description"].as_str().unwrap().contains("renewed"));
    }
}
