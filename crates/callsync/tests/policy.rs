//! The logging policy (R12) and unknown numbers (R13) end to end: events stored as ingest
//! stores them, the worker run round by round, and Salesforce checked in an in-process
//! sf-sandbox — on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use std::time::Duration;

use callsync::config::WorkerConfig;
use callsync::store::{Store, SyncState};
use callsync::test_support::{
    SandboxOrg, TestDatabase, add_org, ingest_json, link_user, sync_until_idle,
};
use callsync::worker::{Round, Worker};
use callsync_core::ids::SalesforceId;
use callsync_core::policy::{LogChoice, LoggingPolicy, TooShortChoice};
use callsync_core::settings::Settings;
use callsync_core::unknown::{UnknownNumberAction, UnknownNumbers};
use jiff::Timestamp;
use serde_json::{Value, json};
use sf_sandbox::{DuplicateAction, DuplicateRule, NewUser, Sandbox};

const AGENT: &str = "agent@acme.example";

/// A sandbox org with one agent and one Contact (03-1234-5678), and organisation `acme`
/// connected to it.
struct World {
    sandbox: Sandbox,
    store: Store,
    worker: Worker,
    agent_id: String,
    account_id: String,
}

impl World {
    async fn new(db: &TestDatabase, settings: Settings) -> World {
        let SandboxOrg {
            sandbox,
            connection,
            account_id,
            ..
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
            account_id,
        }
    }

    async fn post(&self, events: &[Value]) {
        ingest_json(&self.store, "acme", events).await;
    }

    /// Runs worker rounds until nothing is queued, waiting for calls that wait a moment
    /// (R13: a second call waits for the first call's create), and sums what they did.
    async fn sync(&self) -> Round {
        sync_until_idle(
            &self.store,
            &self.worker,
            400,
            std::time::Duration::from_millis(25),
        )
        .await
    }

    fn records(&self, object: &str) -> Vec<Value> {
        self.sandbox
            .org()
            .records(object)
            .into_iter()
            .map(Value::Object)
            .collect()
    }

    fn task_of(&self, call_id: &str) -> Value {
        let tasks: Vec<Value> = self
            .records("Task")
            .into_iter()
            .filter(|task| task["CallObject"] == call_id)
            .collect();
        assert_eq!(tasks.len(), 1, "exactly one Task for {call_id}: {tasks:#?}");
        tasks.into_iter().next().unwrap()
    }

    async fn state_of(&self, call_id: &str) -> (SyncState, Option<String>) {
        let row = self.store.call("acme", call_id).await.unwrap().unwrap();
        (row.sync_state, row.skip_reason)
    }

    async fn history_details(&self, call_id: &str) -> Vec<String> {
        self.store
            .history("acme", call_id)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|line| line.detail)
            .collect()
    }
}

/// An event of `call` at `second` seconds after a fixed morning.
fn event(id: &str, call: &str, second: u32, number: &str, body: Value) -> Value {
    let mut event = json!({
        "id": id, "org": "acme", "call_id": call, "user": "u1",
        "occurred_at": format!("2026-11-24T01:{:02}:{:02}Z", second / 60, second % 60),
        "direction": "inbound", "user_number": "050-1111-2222",
        "customer_number": number,
    });
    for (key, value) in body.as_object().unwrap() {
        event[key] = value.clone();
    }
    event
}

/// An answered incoming call from `number` starting at `start`, `talk` seconds long.
fn incoming(call: &str, start: u32, number: &str, talk: u32) -> Vec<Value> {
    vec![
        event(
            &format!("{call}-1"),
            call,
            start,
            number,
            json!({"type": "ringing"}),
        ),
        event(
            &format!("{call}-2"),
            call,
            start + 1,
            number,
            json!({"type": "answered"}),
        ),
        event(
            &format!("{call}-3"),
            call,
            start + 1 + talk,
            number,
            json!({"type": "ended", "talk_seconds": talk, "outcome": "answered"}),
        ),
    ]
}

/// A missed incoming call from `number`.
fn missed(call: &str, start: u32, number: &str) -> Vec<Value> {
    vec![
        event(
            &format!("{call}-1"),
            call,
            start,
            number,
            json!({"type": "ringing"}),
        ),
        event(
            &format!("{call}-2"),
            call,
            start + 20,
            number,
            json!({"type": "ended", "talk_seconds": 0, "outcome": "no_answer"}),
        ),
    ]
}

fn with_policy(policy: LoggingPolicy) -> Settings {
    Settings {
        policy,
        ..Settings::default()
    }
}

fn creating(action: UnknownNumberAction) -> UnknownNumbers {
    UnknownNumbers {
        action,
        company_template: "Walk-in {CUSTOMER_NUMBER}".into(),
        lead_source: Some("Phone Inquiry".into()),
        ..UnknownNumbers::default()
    }
}

const UNKNOWN: &str = "06-6123-4567";

callsync::on_both_backends! {
    async fn r12_a_kind_the_policy_does_not_log_is_skipped_and_stays_in_call_history(db: &TestDatabase) {
        let mut policy = LoggingPolicy::default();
        policy.kinds.missed_incoming = LogChoice::DontLog;
        let world = World::new(db, with_policy(policy)).await;
        world.post(&missed("m1", 0, "03-1234-5678")).await;
        world.post(&incoming("a1", 100, "03-1234-5678", 60)).await;
        world.sync().await;

        assert_eq!(world.state_of("m1").await, (SyncState::Skipped, Some("policy".into())));
        assert!(world.history_details("m1").await.contains(&"skipped: policy".to_owned()));
        assert!(world.records("Task").iter().all(|task| task["CallObject"] != "m1"));
        // Other kinds are logged as before.
        world.task_of("a1");
        assert_eq!(world.state_of("a1").await.0, SyncState::Synced);
    }
}

callsync::on_both_backends! {
    async fn r12_log_as_open_writes_the_open_status(db: &TestDatabase) {
        let mut policy = LoggingPolicy::default();
        policy.kinds.missed_incoming = LogChoice::LogAsOpen;
        let world = World::new(db, with_policy(policy)).await;
        world.post(&missed("m2", 0, "03-1234-5678")).await;
        world.sync().await;
        let task = world.task_of("m2");
        assert_eq!(task["Status"], "Not Started");
        assert_eq!(task["IsClosed"], false, "an open Task, for a follow-up");
    }
}

callsync::on_both_backends! {
    async fn r12_a_too_short_call_is_skipped_or_logged_as_missed_as_chosen(db: &TestDatabase) {
        let policy = LoggingPolicy {
            min_talk_seconds: 10,
            too_short: TooShortChoice::DontLog,
            ..LoggingPolicy::default()
        };
        let world = World::new(db, with_policy(policy)).await;
        world.post(&incoming("s1", 0, "03-1234-5678", 4)).await;
        world.post(&incoming("s2", 100, "03-1234-5678", 30)).await;
        world.sync().await;
        assert_eq!(world.state_of("s1").await, (SyncState::Skipped, Some("too_short".into())));
        assert!(world.history_details("s1").await.contains(&"skipped: too short".to_owned()));
        assert_eq!(world.task_of("s2")["Subject"], "着信");

        // The other choice: the same short call is logged as a missed incoming call.
        let mut settings = with_policy(LoggingPolicy { min_talk_seconds: 10, ..LoggingPolicy::default() });
        settings.policy.too_short = TooShortChoice::LogAsMissed;
        world.store.put_settings("acme", &serde_json::to_string(&settings).unwrap()).await.unwrap();
        world.post(&incoming("s3", 200, "03-1234-5678", 4)).await;
        world.sync().await;
        let task = world.task_of("s3");
        assert_eq!(task["Subject"], "着信(不在)");
        assert_eq!(task["CallDurationInSeconds"], 4);
    }
}

callsync::on_both_backends! {
    async fn r12_a_number_on_the_never_log_list_is_skipped_whatever_its_spelling(db: &TestDatabase) {
        let policy = LoggingPolicy {
            never_log_numbers: vec!["+81 3-1234-5678".into()],
            ..LoggingPolicy::default()
        };
        let world = World::new(db, with_policy(policy)).await;
        world.post(&incoming("n1", 0, "03(1234)5678", 60)).await;
        world.post(&incoming("n2", 100, UNKNOWN, 60)).await;
        world.sync().await;
        assert_eq!(world.state_of("n1").await, (SyncState::Skipped, Some("never_log_list".into())));
        assert!(world.history_details("n1").await.contains(&"skipped: never-log list".to_owned()));
        assert!(world.records("Task").iter().all(|task| task["CallObject"] != "n1"));
        world.task_of("n2");
    }
}

callsync::on_both_backends! {
    async fn r13_two_calls_a_second_apart_from_one_unknown_number_create_one_lead(db: &TestDatabase) {
        let settings = Settings {
            unknown_numbers: creating(UnknownNumberAction::CreateLead),
            ..Settings::default()
        };
        let world = World::new(db, settings).await;
        // SOSL does not see a record for ten minutes: nothing may depend on it.
        world.sandbox.org().write().set_search_index_lag(Duration::from_secs(600));
        // An active assignment rule would move the Lead; R13 turns it off by default.
        let queue_user = world.sandbox.org().add_user(&NewUser::named("router@acme.example", "Route", "Er"));
        world.sandbox.org().set_lead_assignment_rule(Some(queue_user));

        // Both calls are queued before the worker runs, so their steps race.
        world.post(&incoming("u1", 0, UNKNOWN, 30)).await;
        world.post(&incoming("u2", 1, "+81 6-6123-4567", 30)).await;
        world.sync().await;

        let leads = world.records("Lead");
        assert_eq!(leads.len(), 1, "one number, one record: {leads:#?}");
        let lead = &leads[0];
        assert_eq!(lead["Phone"], "06-6123-4567", "the number in national format");
        // Whichever call's step won the race named it, with its own spelling.
        let spelling = lead["LastName"].as_str().unwrap();
        assert!([UNKNOWN, "+81 6-6123-4567"].contains(&spelling), "{lead:#?}");
        assert_eq!(lead["Company"], format!("Walk-in {spelling}"));
        assert_eq!(lead["LeadSource"], "Phone Inquiry");
        assert_eq!(lead["OwnerId"], world.agent_id.as_str(), "R7 owner, not reassigned");
        for call in ["u1", "u2"] {
            let task = world.task_of(call);
            assert_eq!(task["WhoId"], lead["Id"], "{call} links the one Lead");
            assert_eq!(world.state_of(call).await.0, SyncState::Synced);
        }

        // A later call from the number links it too, and R4's contact list shows it.
        world.post(&incoming("u3", 300, UNKNOWN, 30)).await;
        world.sync().await;
        assert_eq!(world.records("Lead").len(), 1);
        assert_eq!(world.task_of("u3")["WhoId"], lead["Id"]);
        let contact = world.store.contact("acme", "+81661234567").await.unwrap().unwrap();
        assert_eq!(contact.entry.object.as_deref(), Some("Lead"));
        let errors = world.store.errors("acme", false, 10).await.unwrap();
        assert!(errors.is_empty(), "{errors:#?}");
    }
}

callsync::on_both_backends! {
    async fn r13_auto_assign_on_lets_the_assignment_rule_own_the_lead(db: &TestDatabase) {
        let mut unknown = creating(UnknownNumberAction::CreateLead);
        unknown.auto_assign = true;
        let world = World::new(db, Settings { unknown_numbers: unknown, ..Settings::default() }).await;
        let router = world.sandbox.org().add_user(&NewUser::named("router@acme.example", "Route", "Er"));
        world.sandbox.org().set_lead_assignment_rule(Some(router));
        world.post(&incoming("aa1", 0, UNKNOWN, 30)).await;
        world.sync().await;
        let leads = world.records("Lead");
        assert_eq!(leads.len(), 1);
        assert_eq!(leads[0]["OwnerId"], router.as_str());
        assert_eq!(world.task_of("aa1")["WhoId"], leads[0]["Id"]);
    }
}

callsync::on_both_backends! {
    async fn r13_a_contact_is_created_under_the_configured_account(db: &TestDatabase) {
        let world = World::new(db, Settings::default()).await;
        let settings = Settings {
            unknown_numbers: UnknownNumbers {
                account: Some(SalesforceId::parse(&world.account_id).unwrap()),
                ..creating(UnknownNumberAction::CreateContact)
            },
            ..Settings::default()
        };
        world.store.put_settings("acme", &serde_json::to_string(&settings).unwrap()).await.unwrap();
        world.post(&missed("cc1", 0, UNKNOWN)).await;
        world.sync().await;
        let contacts: Vec<Value> = world
            .records("Contact")
            .into_iter()
            .filter(|contact| contact["Phone"] == "06-6123-4567")
            .collect();
        assert_eq!(contacts.len(), 1, "{contacts:#?}");
        assert_eq!(contacts[0]["AccountId"], world.account_id.as_str());
        let task = world.task_of("cc1");
        assert_eq!(task["WhoId"], contacts[0]["Id"]);
        assert_eq!(task["WhatId"], world.account_id.as_str());
    }
}

callsync::on_both_backends! {
    async fn r13_a_lead_refused_by_a_duplicate_rule_lands_in_the_error_log_and_the_task_is_still_written(db: &TestDatabase) {
        let settings = Settings {
            unknown_numbers: UnknownNumbers {
                company_template: "Walk-in".into(),
                ..creating(UnknownNumberAction::CreateLead)
            },
            ..Settings::default()
        };
        let world = World::new(db, settings).await;
        let admin = world.sandbox.org().admin_user();
        // A Lead of the same company with another number: R3 does not find it, the
        // duplicate rule does.
        world.sandbox.org().insert(admin, "Lead", json!({"LastName": "Walk-in", "Company": "Walk-in", "Phone": "06-1111-2222"})).unwrap();
        world.sandbox.org().add_duplicate_rule(DuplicateRule {
            object: "Lead".into(),
            name: "Standard_Lead_Duplicate_Rule".into(),
            matching_rule: "Standard_Lead_Match_Rule_v1_0".into(),
            fields: vec!["Company".into()],
            action: DuplicateAction::Block,
            error_message: "Use one of these records?".into(),
        });
        world.post(&incoming("d1", 0, UNKNOWN, 30)).await;
        let round = world.sync().await;
        assert_eq!(round.failed, 0, "{round:?}");

        assert_eq!(world.records("Lead").len(), 1, "no second Lead");
        let task = world.task_of("d1");
        assert!(task.get("WhoId").is_none_or(Value::is_null), "written unlinked: {task:#?}");
        assert_eq!(world.state_of("d1").await.0, SyncState::Synced);
        let errors = world.store.errors("acme", true, 10).await.unwrap();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!((errors[0].step.as_str(), errors[0].code.as_str()), ("create_record", "DUPLICATES_DETECTED"));
        assert!(errors[0].remedy.contains("duplicate rule"), "{}", errors[0].remedy);
        assert!(errors[0].remedy.contains("written without a link"), "{}", errors[0].remedy);
    }
}

callsync::on_both_backends! {
    async fn r13_a_record_remembered_long_ago_that_r3_no_longer_finds_is_replaced(db: &TestDatabase) {
        let settings = Settings {
            unknown_numbers: creating(UnknownNumberAction::CreateLead),
            ..Settings::default()
        };
        let world = World::new(db, settings).await;
        // callsync created a Lead for the number an hour ago; someone deleted it since.
        let admin = world.sandbox.org().admin_user();
        let gone = world
            .sandbox
            .org()
            .insert(admin, "Lead", json!({"LastName": "Old", "Company": "Old", "Phone": UNKNOWN}))
            .unwrap();
        world.sandbox.org().delete(admin, "Lead", gone.as_str()).unwrap();
        let an_hour_ago = Timestamp::now() - jiff::SignedDuration::from_hours(1);
        let claim = world
            .store
            .claim_unknown_number("acme", "+81661234567", "Lead", "old-call", an_hour_ago)
            .await
            .unwrap()
            .unwrap();
        assert!(world.store.record_unknown_number(&claim, gone.as_str(), an_hour_ago).await.unwrap());

        world.post(&incoming("r1", 0, UNKNOWN, 30)).await;
        world.sync().await;
        let leads = world.records("Lead");
        assert_eq!(leads.len(), 1, "a new Lead: {leads:#?}");
        assert_ne!(leads[0]["Id"], gone.as_str());
        assert_eq!(world.task_of("r1")["WhoId"], leads[0]["Id"]);
        let row = world.store.unknown_number("acme", "+81661234567").await.unwrap().unwrap();
        assert_eq!(row.record_id.as_deref(), leads[0]["Id"].as_str());
    }
}

callsync::on_both_backends! {
    async fn r13_a_claim_whose_create_is_under_way_makes_the_call_wait_and_a_dead_one_is_taken_over(db: &TestDatabase) {
        let settings = Settings {
            unknown_numbers: creating(UnknownNumberAction::CreateLead),
            ..Settings::default()
        };
        let world = World::new(db, settings).await;
        // Another instance claimed the number a moment ago and is creating the Lead.
        let claim = world
            .store
            .claim_unknown_number("acme", "+81661234567", "Lead", "other-call", Timestamp::now())
            .await
            .unwrap()
            .unwrap();
        world.post(&incoming("w1", 0, UNKNOWN, 30)).await;
        for _ in 0..3 {
            world.worker.run_once().await.unwrap();
        }
        let row = world.store.call("acme", "w1").await.unwrap().unwrap();
        assert_eq!((row.sync_state, row.wait_reason.as_deref()), (SyncState::Waiting, Some("create_settling")));
        assert!(world.records("Lead").is_empty());
        assert!(world.records("Task").is_empty(), "the Task waits for the record");

        // That instance died before sending anything: its claim, an hour old, is taken over.
        world.store.release_unknown_number(&claim).await.unwrap();
        let an_hour_ago = Timestamp::now() - jiff::SignedDuration::from_hours(1);
        world
            .store
            .claim_unknown_number("acme", "+81661234567", "Lead", "other-call", an_hour_ago)
            .await
            .unwrap()
            .unwrap();
        world.post(&incoming("w2", 100, UNKNOWN, 30)).await;
        world.sync().await;
        let leads = world.records("Lead");
        assert_eq!(leads.len(), 1, "{leads:#?}");
        assert_eq!(world.task_of("w2")["WhoId"], leads[0]["Id"]);
        let row = world.store.unknown_number("acme", "+81661234567").await.unwrap().unwrap();
        assert_eq!(row.record_id.as_deref(), leads[0]["Id"].as_str());
        assert_ne!(row.claimed_by, "other-call");
    }
}
