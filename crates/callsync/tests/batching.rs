//! R14 end to end against an in-process sf-sandbox, on SQLite and on PostgreSQL: Tasks
//! written by one integration user in sObject Collections (one record failing on its own),
//! the upsert by the unique call-id field surviving a lost answer, the coalescing window,
//! and the API budget deferring updates before creates.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use std::collections::HashMap;

use callsync::config::WorkerConfig;
use callsync::store::{Store, SyncState, WaitReason};
use callsync::test_support::{
    SandboxOrg, TestDatabase, add_org, ingest_json, link_user, sync_until_idle,
};
use callsync::worker::{Round, Worker};
use callsync_core::settings::Settings;
use callsync_core::writing::WriteMode;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use sf_sandbox::{Fault, FaultFilter, FaultPlan, NewUser, RuleCondition, Sandbox, ValidationRule};

/// Agents of the organisation: callsync user id → Salesforce username.
const AGENTS: [(&str, &str); 2] = [("u1", "aiko@acme.example"), ("u2", "ken@acme.example")];

struct World {
    sandbox: Sandbox,
    store: Store,
    worker: Worker,
    /// Salesforce user Id by callsync user id.
    agent_ids: HashMap<&'static str, String>,
}

impl World {
    async fn new(db: &TestDatabase, settings: Settings, config: WorkerConfig) -> World {
        let SandboxOrg {
            sandbox,
            connection,
            ..
        } = SandboxOrg::start().await;
        let store = db.store().await;
        add_org(
            &store,
            "acme",
            &serde_json::to_string(&settings).unwrap(),
            &connection,
        )
        .await;
        let mut agent_ids = HashMap::new();
        for (user, username) in AGENTS {
            let (first, last) = username.split_once('@').unwrap();
            let id = sandbox
                .org()
                .add_user(&NewUser::named(username, first, last));
            agent_ids.insert(user, id.to_string());
            link_user(&store, "acme", user, first, username).await;
        }
        let config = WorkerConfig {
            backoff_base_ms: 1,
            backoff_max_ms: 5,
            ..config
        };
        let worker = Worker::new(store.clone(), config, None);
        World {
            sandbox,
            store,
            worker,
            agent_ids,
        }
    }

    async fn post(&self, events: &[Value]) {
        ingest_json(&self.store, "acme", events).await;
    }

    /// Worker rounds until nothing is due, summed.
    async fn sync(&self) -> Round {
        sync_until_idle(
            &self.store,
            &self.worker,
            50,
            std::time::Duration::from_millis(10),
        )
        .await
    }

    fn tasks_of(&self, call: &str) -> Vec<Value> {
        self.sandbox
            .org()
            .records("Task")
            .into_iter()
            .map(Value::Object)
            .filter(|task| task["CallObject"] == call)
            .collect()
    }

    fn task_of(&self, call: &str) -> Value {
        let tasks = self.tasks_of(call);
        assert_eq!(
            tasks.len(),
            1,
            "exactly one Task for call {call}: {tasks:#?}"
        );
        tasks.into_iter().next().unwrap()
    }

    /// Sandbox requests so far whose endpoint contains `part`, by method.
    fn requests(&self, method: &str, part: &str) -> u64 {
        self.sandbox
            .counters()
            .by_endpoint
            .iter()
            .filter(|(endpoint, _)| {
                endpoint.starts_with(&format!("{method} ")) && endpoint.contains(part)
            })
            .map(|(_, count)| count)
            .sum()
    }
}

/// The events of an answered outbound call by `user` that ended `ago` before now.
fn answered_call(call: &str, user: &str, ago: SignedDuration) -> Vec<Value> {
    let ended = Timestamp::now() - ago;
    let at = |before: i64| (ended - SignedDuration::from_secs(before)).to_string();
    let base = |id: &str, at: String, body: Value| {
        let mut event = json!({
            "id": format!("{call}-{id}"), "org": "acme", "call_id": call, "user": user,
            "occurred_at": at, "direction": "outbound", "user_number": "050-1111-2222",
            "customer_number": "0312345678",
        });
        for (key, value) in body.as_object().unwrap() {
            event[key] = value.clone();
        }
        event
    };
    vec![
        base("1", at(300), json!({"type": "dialing"})),
        base("2", at(290), json!({"type": "answered"})),
        base(
            "3",
            at(0),
            json!({"type": "ended", "talk_seconds": 290, "outcome": "answered"}),
        ),
    ]
}

fn memo(call: &str, user: &str, note: &str) -> Value {
    json!({
        "id": format!("{call}-memo"), "org": "acme", "call_id": call, "user": user,
        "occurred_at": Timestamp::now().to_string(), "direction": "outbound",
        "customer_number": "0312345678",
        "type": "memo_saved", "values": [], "note": note,
    })
}

fn integration_user() -> Settings {
    let mut settings = Settings::default();
    settings.writing.mode = WriteMode::IntegrationUser;
    settings
}

/// A long batch wait, so every step of a round lands in one batch however the machine
/// schedules them (the default is 100 ms), and room for all of them at once.
fn patient() -> WorkerConfig {
    WorkerConfig {
        batch_wait_ms: 1_000,
        per_org_concurrency: 16,
        ..WorkerConfig::default()
    }
}

callsync::on_both_backends! {
    /// R14, R9: five calls of two agents go in one sObject Collections create as the
    /// integration user; one is refused by a validation rule and lands in the error log
    /// with its remedy, the others are written, each owned by its agent (R7), and the
    /// failed one is written on retry once the rule is gone — one Task per call.
    async fn r14_a_batch_writes_every_record_but_the_one_a_validation_rule_refuses(db: &TestDatabase) {
        let world = World::new(db, integration_user(), patient()).await;
        world.sandbox.org().add_validation_rule(ValidationRule {
            object: "Task".into(),
            name: "Not_This_One".into(),
            condition: RuleCondition::Equals("CallObject".into(), "bad".into()),
            error_message: "This call may not be logged".into(),
            error_field: None,
        });
        let calls = [("good-1", "u1"), ("good-2", "u2"), ("bad", "u1"), ("good-3", "u2"), ("good-4", "u1")];
        for (call, user) in calls {
            world.post(&answered_call(call, user, SignedDuration::from_secs(600))).await;
        }
        world.sandbox.reset_counters();

        let round = world.sync().await;

        assert_eq!((round.created, round.failed), (4, 1), "{round:?}");
        assert_eq!(world.requests("POST", "/composite/sobjects"), 1, "one collection request for all five");
        assert_eq!(world.requests("POST", "/sobjects/{object}"), 0, "no Task created alone");
        let integration_user = world.sandbox.org().admin_user().to_string();
        for (call, user) in calls.iter().filter(|(call, _)| *call != "bad") {
            let task = world.task_of(call);
            assert_eq!(task["CreatedById"], integration_user.as_str(), "R14: the integration user writes");
            assert_eq!(task["OwnerId"], world.agent_ids[user].as_str(), "R7: the handler owns it");
        }
        assert!(world.tasks_of("bad").is_empty());
        let errors = world.store.errors("acme", true, 10).await.unwrap();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!((errors[0].call_id.as_str(), errors[0].code.as_str()), ("bad", "FIELD_CUSTOM_VALIDATION_EXCEPTION"));
        assert!(errors[0].remedy.contains("validation rule"), "{}", errors[0].remedy);
        assert_eq!(world.store.call("acme", "bad").await.unwrap().unwrap().sync_state, SyncState::Failed);

        world.sandbox.org().write().clear_validation_rules();
        world.store.retry_error("acme", errors[0].id, Timestamp::now()).await.unwrap();
        world.sync().await;
        assert_eq!(world.task_of("bad")["OwnerId"], world.agent_ids["u1"].as_str());
        for (call, _) in calls {
            world.task_of(call);
        }
    }
}

callsync::on_both_backends! {
    /// R14: memos of several calls go in one collection update, only to their own Tasks.
    async fn r14_updates_of_many_calls_share_one_request(db: &TestDatabase) {
        let world = World::new(db, integration_user(), patient()).await;
        let calls = ["m1", "m2", "m3"];
        for call in calls {
            world.post(&answered_call(call, "u1", SignedDuration::from_secs(600))).await;
        }
        world.sync().await;
        world.sandbox.reset_counters();
        for call in calls {
            world.post(&[memo(call, "u1", &format!("note for {call}"))]).await;
        }
        let round = world.sync().await;
        assert_eq!(round.updated, 3, "{round:?}");
        assert_eq!(world.requests("PATCH", "/composite/sobjects"), 1, "{:?}", world.sandbox.counters());
        for call in calls {
            let description = world.task_of(call)["Description"].as_str().unwrap().to_owned();
            assert!(description.contains(&format!("note for {call}")), "{description}");
        }
    }
}

callsync::on_both_backends! {
    /// R14 idempotent create by collection: with the unique call-id field, a collection
    /// create whose answer was lost is simply sent again; Salesforce refuses each record as
    /// a duplicate of the unique field, and each call adopts its Task — one Task per call.
    async fn r14_a_batch_create_whose_answer_was_lost_is_adopted_without_duplicates(db: &TestDatabase) {
        let mut settings = integration_user();
        settings.custom_fields.call_id = Some("Call_Key__c".into());
        let world = World::new(db, settings, patient()).await;
        world
            .sandbox
            .org()
            .add_custom_field(sf_sandbox::CustomField {
                object: "Task".into(),
                name: "Call_Key__c".into(),
                label: "Call key".into(),
                kind: sf_sandbox::CustomFieldKind::ExternalIdText { length: 80 },
            })
            .unwrap();
        let calls = ["k1", "k2", "k3"];
        for call in calls {
            world.post(&answered_call(call, "u2", SignedDuration::from_secs(600))).await;
        }
        world.sandbox.faults().set_plan(FaultPlan {
            script: vec![Some(Fault::DropAfterCommit)],
            script_filter: FaultFilter {
                methods: vec!["POST".into()],
                path_contains: Some("/composite/sobjects".into()),
            },
            ..FaultPlan::default()
        });

        let round = world.sync().await;

        assert_eq!(world.sandbox.faults().injected(), 1, "the first answer was lost");
        let errors = world.store.errors("acme", true, 10).await.unwrap();
        assert_eq!((round.retried, round.adopted, round.failed), (3, 3, 0), "{round:?} {errors:#?}");
        for call in calls {
            let task = world.task_of(call);
            assert_eq!(task["Call_Key__c"], call);
            assert_eq!(task["OwnerId"], world.agent_ids["u2"].as_str());
        }
    }
}

callsync::on_both_backends! {
    /// R14 coalescing window: with timing `call_end`, an answered call's create waits for
    /// the memo that follows hang-up, and one create carries both.
    async fn r14_the_coalescing_window_puts_the_memo_into_the_create(db: &TestDatabase) {
        let mut settings = Settings::default();
        settings.writing.coalesce_seconds = 60;
        let world = World::new(db, settings, WorkerConfig::default()).await;
        world.post(&answered_call("w1", "u1", SignedDuration::from_secs(1))).await;

        let round = world.worker.run_once().await.unwrap();
        assert_eq!(round.waiting, 1, "{round:?}");
        assert!(world.tasks_of("w1").is_empty(), "the create waits for the memo");
        let call = world.store.call("acme", "w1").await.unwrap().unwrap();
        assert_eq!(call.wait_reason.as_deref(), Some(WaitReason::Coalescing.as_str()));

        world.post(&[memo("w1", "u1", "send the brochure")]).await;
        let round = world.sync().await;
        assert_eq!((round.created, round.updated), (1, 0), "{round:?}");
        let description = world.task_of("w1")["Description"].as_str().unwrap().to_owned();
        assert!(description.contains("send the brochure"), "{description}");
        assert_eq!(world.requests("PATCH", "/sobjects/"), 0, "no update followed the create");
    }
}

callsync::on_both_backends! {
    /// R14 API budget: near callsync's share of the daily allowance, updates (a memo
    /// edit) wait while creates still go; the usage is recorded for GET /v1/org.
    async fn r14_the_api_budget_defers_updates_before_creates(db: &TestDatabase) {
        let world = World::new(db, Settings::default(), WorkerConfig::default()).await;
        // Share 0.9 of 1,000: creates wait from 900 requests, updates from 810.
        world.sandbox.set_daily_api_limit(1_000);
        world.sandbox.set_api_usage(850);
        world.post(&answered_call("b1", "u1", SignedDuration::from_secs(600))).await;
        world.sync().await;
        world.task_of("b1"); // the first answers tell callsync where the usage stands

        world.post(&[memo("b1", "u1", "an optional update")]).await;
        world.post(&answered_call("b2", "u1", SignedDuration::from_secs(600))).await;
        let round = world.worker.run_once().await.unwrap();

        assert_eq!((round.created, round.waiting, round.updated), (1, 1, 0), "{round:?}");
        world.task_of("b2");
        let b1 = world.store.call("acme", "b1").await.unwrap().unwrap();
        assert_eq!(b1.wait_reason.as_deref(), Some(WaitReason::ApiBudget.as_str()), "the memo edit waits");
        let usage = world.store.api_usage("acme").await.unwrap().expect("usage recorded");
        assert_eq!((usage.allowance, usage.budget), (1_000, 900));
        assert!((850..900).contains(&usage.used), "{usage:?}");
    }
}
