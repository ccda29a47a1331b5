//! The local phone index (R15) against sf-sandbox run in-process: its R3 answer equals
//! live R3 after every kind of change, a record created a second before a call is
//! linked, a restart reads the stored index instead of refetching, and a cold index
//! falls back to live matching.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use std::collections::BTreeSet;

use callsync::crm::{self, ClientOptions, Connections, SalesforceConnection};
use callsync::index;
use callsync::store::Store;
use callsync::test_support::TestDatabase;
use callsync_core::call::Call;
use callsync_core::event::{ClickToCall, Direction, Event, EventBody};
use callsync_core::ids::{CallId, EventId, OrgId, SalesforceId};
use callsync_core::matching::{Candidate, Match, RecordObject, choose_record};
use callsync_core::phone::{PhoneNumber, PhoneRegion};
use jiff::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use salesforce::Client;
use serde_json::{Value, json};
use sf_sandbox::{GenerateSpec, Sandbox, SandboxConfig};

const ORG: &str = "acme";
const REGION: PhoneRegion = PhoneRegion::JAPAN;

struct World {
    sandbox: Sandbox,
    client: Client,
    store: Store,
    _db: TestDatabase,
}

impl World {
    async fn start(db: TestDatabase, records: usize) -> World {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        if records > 0 {
            sandbox.generate(&GenerateSpec::total(records, 7));
        }
        let connection = SalesforceConnection::of_sandbox(&sandbox);
        let client = Connections::new(ClientOptions::default())
            .default_user_client(ORG, &connection)
            .unwrap();
        let store = db.store().await;
        World {
            sandbox,
            client,
            store,
            _db: db,
        }
    }

    async fn backfill(&self) {
        let index = self.store.indexes().org(ORG);
        index::backfill(&self.store, &index, &self.client, REGION, false, &|_| {})
            .await
            .unwrap();
        assert_eq!(index.status().state, "ready", "{:?}", index.status());
    }

    async fn catch_up(&self) {
        let index = self.store.indexes().org(ORG);
        index::catch_up(&self.store, &index, &self.client)
            .await
            .unwrap();
        assert_eq!(index.status().state, "ready", "{:?}", index.status());
    }

    fn insert(&self, object: &str, fields: Value) -> String {
        let org = self.sandbox.org();
        org.insert(org.admin_user(), object, fields)
            .unwrap()
            .as_str()
            .to_owned()
    }

    /// Ids and phone values of the live records of `object`.
    fn phones_of(&self, object: &str) -> Vec<(String, Vec<String>)> {
        self.sandbox
            .org()
            .records(object)
            .iter()
            .map(|record| {
                let id = record["Id"].as_str().unwrap().to_owned();
                let phones = ["Phone", "MobilePhone", "PersonMobilePhone"]
                    .iter()
                    .filter_map(|field| record.get(*field).and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect();
                (id, phones)
            })
            .collect()
    }

    /// R3 decided over every record of the org (the oracle): the candidates are built
    /// from the records as Salesforce renders them, all spellings included.
    fn oracle(&self, number: &str) -> Option<Match> {
        let org = self.sandbox.org();
        let mut candidates = Vec::new();
        for object in ["Contact", "Account", "Lead"] {
            for stored in org.records(object) {
                let record = org.get(stored["Id"].as_str().unwrap()).unwrap();
                let text =
                    |field: &str| record.get(field).and_then(Value::as_str).map(str::to_owned);
                let id =
                    |field: &str| text(field).map(|value| SalesforceId::parse(&value).unwrap());
                let flag = |field: &str| record.get(field) == Some(&json!(true));
                if object == "Contact" && flag("IsPersonAccount") {
                    continue; // found as its Person Account (R3.3)
                }
                let account_name = id("AccountId")
                    .and_then(|account| org.get(account.to_18()))
                    // The sandbox does not cascade an Account's delete to its Contacts
                    // as Salesforce does; a deleted Account names no company.
                    .filter(|account| account.get("IsDeleted") != Some(&json!(true)))
                    .and_then(|account| {
                        account
                            .get("Name")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    });
                candidates.push(Candidate {
                    object: match object {
                        "Contact" => RecordObject::Contact,
                        "Account" if flag("IsPersonAccount") => RecordObject::PersonAccount,
                        "Account" => RecordObject::Account,
                        _ => RecordObject::Lead,
                    },
                    id: id("Id").unwrap(),
                    phones: ["Phone", "MobilePhone", "PersonMobilePhone"]
                        .iter()
                        .filter_map(|field| text(field).map(|value| ((*field).to_owned(), value)))
                        .collect(),
                    last_modified: text("LastModifiedDate")
                        .and_then(|value| {
                            jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%.f%z", &value)
                                .ok()?
                                .to_timestamp()
                                .ok()
                        })
                        .unwrap(),
                    is_converted: flag("IsConverted"),
                    account_id: if object == "Contact" {
                        id("AccountId")
                    } else {
                        None
                    },
                    account_name: if object == "Contact" {
                        account_name
                    } else {
                        None
                    },
                    person_contact_id: id("PersonContactId"),
                    name: text("Name"),
                    company: if object == "Lead" {
                        text("Company")
                    } else {
                        None
                    },
                    owner_id: id("OwnerId"),
                });
            }
        }
        choose_record(
            &call_from(number, Timestamp::UNIX_EPOCH),
            &candidates,
            REGION,
        )
    }

    /// Asserts the index's R3 answer is R3's over every record of the org and, for
    /// numbers written in a spelling live matching searches (`spelled_plainly`), what
    /// live matching (`crm::find_record_for_number`) answers (R15).
    async fn assert_same_answers(
        &self,
        numbers: &BTreeSet<String>,
        spelled_plainly: &BTreeSet<String>,
        step: &str,
    ) {
        let index = self.store.indexes().org(ORG);
        for number in numbers {
            let call = call_from(number, Timestamp::UNIX_EPOCH);
            // As matching reads it: the candidates' fields narrowed to those that may hold
            // the number (`OrgIndex::choose`), the match then carrying its record whole.
            let indexed = PhoneNumber::parse(number, REGION)
                .ok()
                .and_then(|number| index.choose(&number, REGION));
            assert_eq!(
                indexed,
                choose_record(&call, &index.candidates(number, REGION), REGION),
                "R3 over whole candidates, after {step}, number {number:?}"
            );
            assert_eq!(
                indexed,
                self.oracle(number),
                "R3 over the org, after {step}, number {number:?}"
            );
            if spelled_plainly.contains(number) {
                let live = crm::find_record_for_number(&self.client, number, REGION)
                    .await
                    .unwrap();
                assert_eq!(indexed, live, "live R3, after {step}, number {number:?}");
            }
        }
    }
}

fn call_from(number: &str, at: Timestamp) -> Call {
    call_with(number, at, None)
}

fn call_with(number: &str, at: Timestamp, click_to_call: Option<&str>) -> Call {
    let event = Event {
        id: EventId::parse("e1").unwrap(),
        org: OrgId::parse(ORG).unwrap(),
        call_id: CallId::parse("c1").unwrap(),
        user: None,
        occurred_at: at,
        direction: Direction::Inbound,
        user_number: None,
        customer_number: Some(number.to_owned()),
        click_to_call: click_to_call.map(|id| ClickToCall {
            record_id: SalesforceId::parse(id).unwrap(),
        }),
        predictive: None,
        body: EventBody::Dialing,
    };
    Call::fold(&[event]).unwrap()
}

/// A Japanese number in one of the spellings Salesforce users type (R3.6).
fn spelling(rng: &mut StdRng, n: u32) -> String {
    let local = 1000 + n % 9000;
    match rng.random_range(0..3) {
        0 => format!("03-5555-{local}"),
        1 => format!("+81 3-5555-{local}"),
        _ => format!("0355555{local}"),
    }
}

#[tokio::test]
async fn r15_the_index_answers_as_r3_after_every_insert_update_delete_undelete_conversion_and_move()
{
    let world = World::start(TestDatabase::sqlite(), 200).await;
    world.backfill().await;
    let mut numbers: BTreeSet<String> = ["Contact", "Account", "Lead"]
        .iter()
        .flat_map(|object| world.phones_of(object))
        .flat_map(|(_, phones)| phones)
        .collect();
    world
        .assert_same_answers(&numbers, &BTreeSet::new(), "the backfill")
        .await;

    let mut rng = StdRng::seed_from_u64(14);
    let admin = world.sandbox.org().admin_user();
    // A small pool of numbers, so records share and trade them.
    let pool: Vec<u32> = (0..12).collect();
    let mut plain = BTreeSet::new();
    let mut deleted: Vec<(&str, String, Vec<String>)> = Vec::new();
    for step in 0..60 {
        let picked = pool[rng.random_range(0..pool.len())];
        let number = spelling(&mut rng, picked);
        plain.insert(number.clone());
        let mut involved = BTreeSet::from([number.clone()]);
        let org = world.sandbox.org();
        let what = match rng.random_range(0..7) {
            0 => {
                world.insert(
                    "Contact",
                    json!({"LastName": format!("C{step}"), "Phone": number}),
                );
                "a Contact inserted"
            }
            1 => {
                world.insert(
                    "Lead",
                    json!({"LastName": format!("L{step}"), "Company": "Kabu", "MobilePhone": number}),
                );
                "a Lead inserted"
            }
            2 => {
                world.insert(
                    "Account",
                    json!({"Name": format!("A{step}"), "Phone": number}),
                );
                "an Account inserted"
            }
            3 => {
                // A number moved: a record takes this number, giving up its own.
                let object = ["Contact", "Lead"][rng.random_range(0..2)];
                let records = world.phones_of(object);
                let (id, old) = &records[rng.random_range(0..records.len())];
                involved.extend(old.iter().cloned());
                org.update(admin, object, id, json!({"Phone": number}))
                    .unwrap();
                "a number moved"
            }
            4 => {
                let object = ["Contact", "Lead", "Account"][rng.random_range(0..3)];
                let records = world.phones_of(object);
                let (id, old) = &records[rng.random_range(0..records.len())];
                involved.extend(old.iter().cloned());
                if org.delete(admin, object, id).is_err() {
                    continue;
                }
                deleted.push((object, id.clone(), old.clone()));
                "a record deleted"
            }
            5 if !deleted.is_empty() => {
                let (object, id, old) = deleted.swap_remove(rng.random_range(0..deleted.len()));
                involved.extend(old);
                org.undelete(admin, object, &id).unwrap();
                "a record undeleted"
            }
            _ => {
                let leads: Vec<_> = org
                    .records("Lead")
                    .into_iter()
                    .filter(|lead| lead.get("IsConverted") != Some(&json!(true)))
                    .collect();
                let lead = &leads[rng.random_range(0..leads.len())];
                for field in ["Phone", "MobilePhone"] {
                    if let Some(phone) = lead.get(field).and_then(Value::as_str) {
                        involved.insert(phone.to_owned());
                    }
                }
                org.convert_lead(admin, lead["Id"].as_str().unwrap())
                    .unwrap();
                "a Lead converted"
            }
        };
        world.catch_up().await;
        world
            .assert_same_answers(&involved, &plain, &format!("step {step}: {what}"))
            .await;
        numbers.extend(involved);
    }
    world
        .assert_same_answers(&numbers, &plain, "every change")
        .await;
}

/// R3.1 through the index: a click-to-call to any record the index holds — with a phone or
/// without, converted Leads included — is answered from memory, as live R3 answers it; a
/// record it does not hold (deleted, a Person Account's own Contact) is asked live.
#[tokio::test]
async fn r15_a_click_to_call_is_answered_from_the_index_as_live_r3_answers_it() {
    let world = World::start(TestDatabase::sqlite(), 60).await;
    let bare = world.insert("Contact", json!({"LastName": "NoPhone"}));
    let gone = world.insert(
        "Lead",
        json!({"LastName": "Gone", "Company": "Kabu", "Phone": "03-7777-0009"}),
    );
    world.backfill().await;
    let org = world.sandbox.org();
    org.delete(org.admin_user(), "Lead", &gone).unwrap();
    world.catch_up().await;
    let held: Vec<String> = ["Contact", "Account", "Lead"]
        .iter()
        .flat_map(|object| world.phones_of(object))
        .map(|(id, _)| id)
        .filter(|id| {
            world
                .store
                .indexes()
                .org(ORG)
                .record(&SalesforceId::parse(id).unwrap())
                .is_some()
        })
        .collect();
    assert!(held.contains(&bare), "a record without a phone is held");
    assert!(held.len() > 50, "{}", held.len());
    let hidden: Vec<String> = org
        .records("Contact")
        .iter()
        .filter(|contact| contact.get("IsPersonAccount") == Some(&json!(true)))
        .map(|contact| contact["Id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!hidden.is_empty(), "the generated org has Person Accounts");

    let before = world.sandbox.counters().total;
    let mut indexed = Vec::new();
    for id in &held {
        let call = call_with("0377770009", Timestamp::UNIX_EPOCH, Some(id));
        indexed.push(
            index::find_record(&world.store, ORG, &world.client, &call, REGION)
                .await
                .unwrap(),
        );
    }
    let spent = world.sandbox.counters().total - before;
    assert!(
        spent <= 1,
        "held records are answered from memory (at most one catch-up): {spent} requests"
    );
    for (id, indexed) in held.iter().zip(indexed) {
        let call = call_with("0377770009", Timestamp::UNIX_EPOCH, Some(id));
        let live = crm::find_record(&world.client, &call, REGION)
            .await
            .unwrap();
        assert_eq!(indexed, live, "click-to-call {id}");
        assert_eq!(indexed.unwrap().record_id.to_18(), id);
    }
    for id in hidden.iter().chain([&gone]) {
        let call = call_with("0377770009", Timestamp::UNIX_EPOCH, Some(id));
        assert_eq!(
            index::find_record(&world.store, ORG, &world.client, &call, REGION)
                .await
                .unwrap(),
            crm::find_record(&world.client, &call, REGION)
                .await
                .unwrap(),
            "click-to-call {id}, not held"
        );
    }
}

#[tokio::test]
async fn r15_a_contact_created_one_second_before_a_call_is_linked() {
    let world = World::start(TestDatabase::sqlite(), 50).await;
    world.backfill().await;
    let contact = world.insert(
        "Contact",
        json!({"LastName": "Sato", "Phone": "03-7777-0001"}),
    );
    let call = call_from(
        "+81377770001",
        Timestamp::now() + jiff::SignedDuration::from_secs(1),
    );
    let found = index::find_record(&world.store, ORG, &world.client, &call, REGION)
        .await
        .unwrap()
        .expect("the new Contact is found");
    assert_eq!(found.record_id.to_18(), contact);
}

#[tokio::test]
async fn r15_a_restart_reads_the_stored_index_and_asks_salesforce_only_for_changes() {
    let db = TestDatabase::sqlite();
    let url = db.url.clone();
    let world = World::start(db, 100).await;
    world.backfill().await;
    let stored = world.store.indexes().org(ORG).status().records;
    // A new process: a new store (empty memory) on the same database.
    let restarted = Store::connect(&url).await.unwrap();
    let index = restarted.indexes().org(ORG);
    let before = world.sandbox.counters();
    index::backfill(&restarted, &index, &world.client, REGION, false, &|_| {})
        .await
        .unwrap();
    assert_eq!(index.status().records, stored);
    let spent = world.sandbox.counters().total - before.total;
    assert!(
        spent <= 2,
        "a resumed index costs one catch-up, not a refetch: {spent}"
    );
}

#[tokio::test]
async fn r15_a_cold_index_falls_back_to_live_matching() {
    let world = World::start(TestDatabase::sqlite(), 0).await;
    let contact = world.insert(
        "Contact",
        json!({"LastName": "Ito", "Phone": "03-7777-0002"}),
    );
    let number = PhoneNumber::parse("0377770002", REGION).unwrap();
    let found = index::find_record_for_number(&world.store, ORG, &world.client, &number, REGION)
        .await
        .unwrap()
        .expect("live matching finds it");
    assert_eq!(found.record_id.to_18(), contact);
    assert_eq!(world.store.indexes().org(ORG).status().state, "cold");
}

/// The worker's R3 for a create reads the index (R15): a Contact created just before the
/// call, its number in full-width digits that live SOQL spellings miss and while the org's
/// search index lags (so SOSL misses it too), is linked.
#[tokio::test]
async fn r15_the_worker_links_a_call_through_the_index_to_a_contact_live_matching_cannot_find_yet()
{
    const AGENT: &str = "agent@acme.example";
    let sandbox = Sandbox::start(SandboxConfig {
        search_index_lag: std::time::Duration::from_secs(600),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    sandbox
        .org()
        .add_user(&sf_sandbox::NewUser::named(AGENT, "Aiko", "Sato"));
    let db = TestDatabase::sqlite();
    let store = db.store().await;
    let connection = SalesforceConnection::of_sandbox(&sandbox);
    store
        .create_org(
            &callsync::store::NewOrg {
                id: ORG.into(),
                name: "Acme".into(),
                signing_secret: "whsec".into(),
                settings_json: serde_json::to_string(&callsync_core::settings::Settings::default())
                    .unwrap(),
                salesforce_json: Some(connection.to_stored_json()),
            },
            Timestamp::now(),
        )
        .await
        .unwrap();
    store
        .upsert_user(&callsync::store::UserRow {
            org_id: ORG.into(),
            user_id: "u1".into(),
            name: "Aiko Sato".into(),
            sf_username: Some(AGENT.into()),
        })
        .await
        .unwrap();
    let client = Connections::new(ClientOptions::default())
        .default_user_client(ORG, &connection)
        .unwrap();
    let index = store.indexes().org(ORG);
    index::backfill(&store, &index, &client, REGION, false, &|_| {})
        .await
        .unwrap();
    let org = sandbox.org();
    let contact = org
        .insert(
            org.admin_user(),
            "Contact",
            json!({"LastName": "Kato", "Phone": "０３ー７７７７ー０００３"}),
        )
        .unwrap()
        .as_str()
        .to_owned();
    assert_eq!(
        crm::find_record_for_number(&client, "0377770003", REGION)
            .await
            .unwrap(),
        None,
        "live matching cannot find it yet"
    );
    let began = Timestamp::now() + jiff::SignedDuration::from_secs(1);
    let events: Vec<callsync::store::NewEvent> = ["dialing", "answered", "ended"]
        .iter()
        .enumerate()
        .map(|(n, kind)| {
            let mut body = json!({
                "id": format!("e{n}"), "org": ORG, "call_id": "c1", "user": "u1",
                "occurred_at": (began + jiff::SignedDuration::from_secs(n as i64)).to_string(),
                "direction": "outbound", "user_number": "050-1111-2222",
                "customer_number": "0377770003", "type": kind,
            });
            if *kind == "ended" {
                body["talk_seconds"] = json!(60);
                body["outcome"] = json!("answered");
            }
            callsync::store::NewEvent {
                event_id: format!("e{n}"),
                call_id: "c1".into(),
                occurred_at: began + jiff::SignedDuration::from_secs(n as i64),
                body_json: body.to_string(),
            }
        })
        .collect();
    store.ingest(ORG, &events, Timestamp::now()).await.unwrap();
    let worker = callsync::worker::Worker::new(
        store.clone(),
        callsync::config::WorkerConfig {
            backoff_base_ms: 1,
            backoff_max_ms: 5,
            ..callsync::config::WorkerConfig::default()
        },
        None,
    );
    let mut created = 0;
    for _ in 0..20 {
        created += worker.run_once().await.unwrap().created;
        if created > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(created, 1);
    let tasks = org.records("Task");
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["WhoId"], json!(contact), "R3 through the index");
}

/// A backfill that fails part-way (a page request refused) keeps the pages it stored, and
/// the next run — here a restarted process — resumes from the stored cursor and ends with
/// the index a clean backfill builds.
#[tokio::test]
async fn r15_an_interrupted_backfill_resumes_from_its_stored_cursor() {
    let db = TestDatabase::sqlite();
    let url = db.url.clone();
    let world = World::start(db, 10_000).await;
    world.sandbox.faults().set_plan(sf_sandbox::FaultPlan {
        script: vec![None, Some(sf_sandbox::Fault::ServiceUnavailable)],
        script_filter: sf_sandbox::FaultFilter {
            methods: vec!["GET".into()],
            path_contains: Some("/query/".into()),
        },
        ..sf_sandbox::FaultPlan::default()
    });
    let index = world.store.indexes().org(ORG);
    let failed = index::backfill(&world.store, &index, &world.client, REGION, false, &|_| {}).await;
    assert!(failed.is_err(), "the refused page fails the backfill");
    let stopped = index.state();
    assert!(!stopped.backfilled);
    let contacts = &stopped.backfill["Contact"];
    assert!(contacts.rows > 0 && !contacts.done, "{contacts:?}");
    assert_eq!(index.status().state, "failing");

    let restarted = Store::connect(&url).await.unwrap();
    let resumed = restarted.indexes().org(ORG);
    index::backfill(&restarted, &resumed, &world.client, REGION, false, &|_| {})
        .await
        .unwrap();
    assert_eq!(resumed.status().state, "ready");

    let clean_db = TestDatabase::sqlite();
    let clean_store = clean_db.store().await;
    let clean = clean_store.indexes().org(ORG);
    index::backfill(&clean_store, &clean, &world.client, REGION, false, &|_| {})
        .await
        .unwrap();
    assert_eq!(resumed.status().records, clean.status().records);
    assert_eq!(resumed.status().numbers, clean.status().numbers);
}

/// The index's state — records, watermark, lag, last error — is shown where an admin looks:
/// `GET /v1/org`, the metrics scrape and the console's overview (R15, issue 14).
#[tokio::test]
async fn r15_the_index_state_is_in_get_v1_org_the_metrics_and_the_console_overview() {
    let handle = callsync::metrics::install().unwrap();
    let world = World::start(TestDatabase::sqlite(), 100).await;
    let now = Timestamp::now();
    world
        .store
        .create_org(
            &callsync::store::NewOrg {
                id: ORG.into(),
                name: "Acme".into(),
                signing_secret: "whsec".into(),
                settings_json: "{}".into(),
                salesforce_json: None,
            },
            now,
        )
        .await
        .unwrap();
    let admin_key = callsync::api::new_key();
    world
        .store
        .add_api_key(&callsync::api::key_hash(&admin_key), ORG, "admin", "t", now)
        .await
        .unwrap();
    world.backfill().await;
    let status = world.store.indexes().org(ORG).status();
    assert!(status.records > 50, "{status:?}");
    let watermark = status
        .watermark
        .expect("a backfilled index has a watermark");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(callsync::server::run(
        listener,
        callsync::api::AppState::new(world.store.clone()),
        std::future::pending(),
    ));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let org: Value = http
        .get(format!("{url}/v1/org"))
        .bearer_auth(&admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shown = &org["phone_index"];
    assert_eq!(shown["state"], "ready", "{org}");
    assert_eq!(shown["records"], json!(status.records));
    assert_eq!(shown["watermark"], json!(watermark.to_string()));
    assert!(shown["lag_ms"].as_i64().is_some(), "{shown}");
    assert!(shown["memory_bytes"].as_u64().unwrap() > 0, "{shown}");
    assert_eq!(shown["last_error"], Value::Null);

    let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_url = format!("http://{}/metrics", metrics_listener.local_addr().unwrap());
    tokio::spawn(
        axum::serve(
            metrics_listener,
            callsync::metrics::router(handle, world.store.clone()),
        )
        .into_future(),
    );
    let scrape = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        format!(
            "callsync_phone_index_records{{org=\"{ORG}\"}} {}",
            status.records
        ),
        format!("callsync_phone_index_failing{{org=\"{ORG}\"}} 0"),
        format!("callsync_phone_index_watermark_timestamp_seconds{{org=\"{ORG}\"}} "),
        format!("callsync_phone_index_lag_seconds{{org=\"{ORG}\"}} "),
    ] {
        assert!(scrape.contains(&line), "{line:?} in {scrape}");
    }

    let link = callsync::console::session::new_login_link(&world.store, ORG, now)
        .await
        .unwrap();
    let token = link.rsplit('/').next().unwrap();
    let signed_in = http
        .post(format!("{url}/console/signin"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let cookie = signed_in.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let overview = |language: &'static str| {
        http.get(format!("{url}/console/"))
            .header(reqwest::header::COOKIE, &cookie)
            .header(reqwest::header::ACCEPT_LANGUAGE, language)
            .send()
    };
    let english = overview("en").await.unwrap().text().await.unwrap();
    assert!(english.contains("id=\"phone-index\""), "{english}");
    assert!(
        english.contains("Ready: numbers are matched from the index."),
        "{english}"
    );
    assert!(
        english.contains(&format!("{} records held", status.records)),
        "{english}"
    );
    assert!(english.contains("Changes applied up to "), "{english}");
    let japanese = overview("ja").await.unwrap().text().await.unwrap();
    assert!(
        japanese.contains("準備完了: 電話番号はインデックスで照合されます。"),
        "{japanese}"
    );

    // A failing sync is shown as failing, with its error, in all three places.
    world.sandbox.faults().set_plan(sf_sandbox::FaultPlan {
        // Enough refusals to outlast the client's own retries.
        script: vec![Some(sf_sandbox::Fault::ServiceUnavailable); 20],
        ..sf_sandbox::FaultPlan::default()
    });
    let index = world.store.indexes().org(ORG);
    assert!(
        index::catch_up(&world.store, &index, &world.client)
            .await
            .is_err()
    );
    let org: Value = http
        .get(format!("{url}/v1/org"))
        .bearer_auth(&admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(org["phone_index"]["state"], "failing", "{org}");
    assert!(org["phone_index"]["last_error"].is_string(), "{org}");
    let scrape = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        scrape.contains(&format!("callsync_phone_index_failing{{org=\"{ORG}\"}} 1")),
        "{scrape}"
    );
    let english = overview("en").await.unwrap().text().await.unwrap();
    assert!(
        english.contains("Failing: matching asks Salesforce live."),
        "{english}"
    );
    assert!(english.contains("The last sync failed"), "{english}");
}
