//! `callsync::crm` end to end against `sf-sandbox` run in-process: R3 matching on messy
//! phone formats, its API-call cost, Tasks written as a given user and adopted by
//! `CallObject`, users for R7, the Task schema for R11, and R9 remedies from real errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use std::time::Duration;

use callsync::crm::remedy::Step;
use callsync::crm::{
    ClientOptions, Connections, SalesforceConnection, UserDirectory, adopt_or_create_task,
    create_task, find_record, find_record_for_number, find_task_by_call_object, task_schema,
    update_task,
};
use callsync_core::call::Call;
use callsync_core::event::Event;
use callsync_core::matching::{MatchedBy, RecordObject};
use callsync_core::phone::PhoneRegion;
use callsync_core::settings::Settings;
use salesforce::{Client, ErrorKind};
use serde_json::{Value, json};
use sf_sandbox::{NewUser, RuleCondition, Sandbox, SandboxConfig, ValidationRule};

const ORG: &str = "acme";

struct World {
    sandbox: Sandbox,
    connection: SalesforceConnection,
    connections: Connections,
}

impl World {
    async fn start() -> World {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let credentials = sandbox.credentials();
        let connection = SalesforceConnection::from_json(
            &json!({
                "login_url": sandbox.url(),
                "consumer_key": credentials.client_id,
                "private_key_pem": credentials.private_key_pem,
                "default_username": credentials.username,
            })
            .to_string(),
        )
        .unwrap();
        World {
            sandbox,
            connection,
            connections: Connections::new(ClientOptions::default()),
        }
    }

    /// The organisation's client acting as its default Salesforce user.
    fn client(&self) -> Client {
        self.connections
            .default_user_client(ORG, &self.connection)
            .unwrap()
    }

    /// The organisation's client acting as `username`.
    fn client_as(&self, username: &str) -> Client {
        self.connections
            .client(ORG, &self.connection)
            .unwrap()
            .for_user(username)
    }

    /// Inserts a record straight into the org (as its admin) and returns its Id.
    fn insert(&self, object: &str, fields: Value) -> String {
        let org = self.sandbox.org();
        org.insert(org.admin_user(), object, fields)
            .unwrap()
            .as_str()
            .to_owned()
    }

    fn record(&self, id: &str) -> Value {
        self.sandbox.org().get(id).unwrap()
    }

    /// API calls the sandbox has counted so far.
    fn calls(&self) -> u64 {
        self.sandbox.counters().total
    }

    /// Warms the client (token, describe of Account) so later counts show the match alone.
    async fn warm_up(&self) {
        find_record_for_number(&self.client(), "0000", PhoneRegion::JAPAN)
            .await
            .unwrap();
    }
}

/// A call to (or from) `number`, dialled from `click_to_call` when given.
fn call(number: &str, click_to_call: Option<&str>) -> Call {
    let mut event = json!({
        "id": "e1", "org": ORG, "call_id": "call-1", "user": "u-1",
        "occurred_at": "2024-01-31T00:30:00Z", "direction": "outbound",
        "customer_number": number, "type": "dialing",
    });
    if let Some(id) = click_to_call {
        event["click_to_call"] = json!({ "record_id": id });
    }
    Call::fold(&[Event::from_value(event).unwrap()]).unwrap()
}

async fn linked(world: &World, number: &str) -> Option<(RecordObject, String)> {
    find_record(&world.client(), &call(number, None), PhoneRegion::JAPAN)
        .await
        .unwrap()
        .map(|found| (found.object, found.record_id.to_18().to_owned()))
}

#[tokio::test]
async fn r3_1_click_to_call_links_the_dialled_record_whatever_the_number_in_one_call() {
    let world = World::start().await;
    let lead = world.insert(
        "Lead",
        json!({"LastName": "Ito", "Company": "Ito Shoji", "Phone": "06-1111-2222"}),
    );
    world.insert(
        "Contact",
        json!({"LastName": "Sato", "Phone": "03-1234-5678"}),
    );

    let before = world.calls();
    let found = find_record(
        &world.client(),
        &call("03-1234-5678", Some(&lead)),
        PhoneRegion::JAPAN,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        world.calls() - before,
        1,
        "one query for the record, nothing else"
    );
    assert_eq!(found.record_id.to_18(), lead);
    assert_eq!(found.matched_by, MatchedBy::ClickToCall);
    assert_eq!(found.who_id.unwrap().to_18(), lead);
    let candidate = found.candidate.unwrap();
    assert_eq!(candidate.company.as_deref(), Some("Ito Shoji"));
}

/// The Contact's company is its Account's name, a relationship path: the click-to-call
/// read must reach it (found by the end-to-end benchmark: a `GET ?fields=Account.Name`
/// was refused with INVALID_FIELD and every click-to-call to a Contact failed).
#[tokio::test]
async fn r3_1_a_click_to_call_contact_links_it_with_its_account_in_one_call() {
    let world = World::start().await;
    let account = world.insert("Account", json!({"Name": "Sato Trading"}));
    let contact = world.insert(
        "Contact",
        json!({"LastName": "Sato", "Phone": "03-1234-5678", "AccountId": account}),
    );

    let before = world.calls();
    let found = find_record(
        &world.client(),
        &call("090-0000-0000", Some(&contact)),
        PhoneRegion::JAPAN,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        world.calls() - before,
        1,
        "one query for the record, nothing else"
    );
    assert_eq!(found.object, RecordObject::Contact);
    assert_eq!(found.matched_by, MatchedBy::ClickToCall);
    assert_eq!(found.who_id.unwrap().to_18(), contact);
    assert_eq!(found.what_id.unwrap().to_18(), account);
    let candidate = found.candidate.unwrap();
    assert_eq!(candidate.account_name.as_deref(), Some("Sato Trading"));
}

#[tokio::test]
async fn r3_1_a_click_to_call_person_account_links_its_person_contact() {
    let world = World::start().await;
    let person = world.insert(
        "Account",
        json!({"LastName": "Suzuki", "PersonMobilePhone": "090-1234-5678"}),
    );
    let person_contact = world.record(&person)["PersonContactId"]
        .as_str()
        .unwrap()
        .to_owned();

    let found = find_record(
        &world.client(),
        &call("03-0000-0000", Some(&person)),
        PhoneRegion::JAPAN,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(found.object, RecordObject::PersonAccount);
    assert_eq!(found.who_id.unwrap().to_18(), person_contact);
    assert_eq!(found.what_id.unwrap().to_18(), person);
}

#[tokio::test]
async fn r3_1_a_deleted_click_to_call_record_falls_back_to_the_number() {
    let world = World::start().await;
    let gone = world.insert(
        "Contact",
        json!({"LastName": "Gone", "Phone": "03-9999-9999"}),
    );
    let org = world.sandbox.org();
    org.delete(org.admin_user(), "Contact", &gone).unwrap();
    let lead = world.insert(
        "Lead",
        json!({"LastName": "Ito", "Company": "Ito Shoji", "Phone": "03-1234-5678"}),
    );

    let found = find_record(
        &world.client(),
        &call("0312345678", Some(&gone)),
        PhoneRegion::JAPAN,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(found.record_id.to_18(), lead);
    assert!(matches!(found.matched_by, MatchedBy::Phone { .. }));
}

#[tokio::test]
async fn r3_2_every_standard_phone_field_of_every_object_is_searched_and_custom_ones_are_not() {
    let world = World::start().await;
    let contact_mobile = world.insert(
        "Contact",
        json!({"LastName": "A", "MobilePhone": "090-1111-0001"}),
    );
    let account = world.insert("Account", json!({"Name": "B", "Phone": "(03) 1111 0002"}));
    let person_mobile = world.insert(
        "Account",
        json!({"LastName": "C", "PersonMobilePhone": "+81 90-1111-0003"}),
    );
    let person_phone = world.insert("Account", json!({"LastName": "D", "Phone": "0311110004"}));
    let lead_mobile = world.insert(
        "Lead",
        json!({"LastName": "E", "Company": "E", "MobilePhone": "09011110005"}),
    );
    world.insert(
        "Contact",
        json!({"LastName": "F", "HomePhone": "03-1111-0006"}),
    );

    for (number, object, id) in [
        ("09011110001", RecordObject::Contact, &contact_mobile),
        ("03-1111-0002", RecordObject::Account, &account),
        ("090-1111-0003", RecordObject::PersonAccount, &person_mobile),
        (
            "+81-3-1111-0004",
            RecordObject::PersonAccount,
            &person_phone,
        ),
        ("090-1111-0005", RecordObject::Lead, &lead_mobile),
    ] {
        assert_eq!(
            linked(&world, number).await,
            Some((object, id.clone())),
            "{number}"
        );
    }
    assert_eq!(
        linked(&world, "03-1111-0006").await,
        None,
        "HomePhone is not searched"
    );
}

#[tokio::test]
async fn r3_3_contact_beats_account_and_person_account_which_beat_lead() {
    let world = World::start().await;
    let lead = world.insert(
        "Lead",
        json!({"LastName": "L", "Company": "L", "Phone": "03-1234-5678"}),
    );
    assert_eq!(
        linked(&world, "03-1234-5678").await,
        Some((RecordObject::Lead, lead))
    );
    let person = world.insert("Account", json!({"LastName": "P", "Phone": "0312345678"}));
    assert_eq!(
        linked(&world, "03-1234-5678").await,
        Some((RecordObject::PersonAccount, person))
    );
    let contact = world.insert(
        "Contact",
        json!({"LastName": "C", "MobilePhone": "+81 3 1234 5678"}),
    );
    let found = find_record(
        &world.client(),
        &call("03-1234-5678", None),
        PhoneRegion::JAPAN,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(found.object, RecordObject::Contact);
    assert_eq!(found.record_id.to_18(), contact);
    assert_eq!(
        found.matched_by,
        MatchedBy::Phone {
            field: "MobilePhone".to_owned()
        }
    );
}

#[tokio::test]
async fn r3_4_the_latest_modified_record_wins_inside_an_object() {
    let world = World::start().await;
    let first = world.insert(
        "Contact",
        json!({"LastName": "First", "Phone": "03-1234-5678"}),
    );
    let second = world.insert(
        "Contact",
        json!({"LastName": "Second", "Phone": "0312345678"}),
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let org = world.sandbox.org();
    org.update(
        org.admin_user(),
        "Contact",
        &first,
        json!({"Title": "touched"}),
    )
    .unwrap();
    assert_eq!(
        linked(&world, "03-1234-5678").await,
        Some((RecordObject::Contact, first.clone()))
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    org.update(
        org.admin_user(),
        "Contact",
        &second,
        json!({"Title": "touched"}),
    )
    .unwrap();
    assert_eq!(
        linked(&world, "03-1234-5678").await,
        Some((RecordObject::Contact, second))
    );
}

#[tokio::test]
async fn r3_5_a_converted_lead_is_never_linked() {
    let world = World::start().await;
    let lead = world.insert(
        "Lead",
        json!({"LastName": "L", "Company": "L", "Phone": "03-1234-5678"}),
    );
    let org = world.sandbox.org();
    let (account, contact) = org.convert_lead(org.admin_user(), &lead).unwrap();
    // The conversion copied the number onto a new Contact and Account; remove them so
    // only the converted lead holds it.
    org.delete(org.admin_user(), "Contact", contact.as_str())
        .unwrap();
    org.delete(org.admin_user(), "Account", account.as_str())
        .unwrap();
    assert_eq!(linked(&world, "03-1234-5678").await, None);
}

#[tokio::test]
async fn r3_6_spellings_soql_cannot_see_are_found_by_sosl_and_confirmed_in_normal_form() {
    let world = World::start().await;
    let contact = world.insert(
        "Contact",
        json!({"LastName": "Zen", "Phone": "（０３）１２３４－５６７８"}),
    );
    world.warm_up().await;
    let before = world.calls();
    assert_eq!(
        linked(&world, "03-1234-5678").await,
        Some((RecordObject::Contact, contact))
    );
    assert_eq!(world.calls() - before, 2, "the composite SOQL, then SOSL");
}

#[tokio::test]
async fn r3_6_a_sosl_partial_hit_on_another_number_is_not_linked() {
    let world = World::start().await;
    // Its digits end with the searched 312345678, but it is a US number.
    world.insert(
        "Contact",
        json!({"LastName": "Far", "Phone": "+1 312-345-678"}),
    );
    world.insert(
        "Lead",
        json!({"LastName": "Near", "Company": "N", "Phone": "1234"}),
    );
    assert_eq!(linked(&world, "03-1234-5678").await, None);
}

#[tokio::test]
async fn r3_a_match_found_by_soql_costs_one_api_call_and_no_match_costs_two() {
    let world = World::start().await;
    world.insert("Contact", json!({"LastName": "C", "Phone": "03-1234-5678"}));
    world.warm_up().await;
    let before = world.calls();
    assert!(linked(&world, "+81312345678").await.is_some());
    assert_eq!(world.calls() - before, 1);
    let before = world.calls();
    assert_eq!(linked(&world, "03-9999-0000").await, None);
    assert_eq!(world.calls() - before, 2);
    let before = world.calls();
    let withheld = find_record_for_number(&world.client(), "非通知", PhoneRegion::JAPAN)
        .await
        .unwrap();
    assert_eq!(withheld, None);
    assert_eq!(
        world.calls() - before,
        0,
        "a number without digits asks nothing"
    );
}

#[tokio::test]
async fn r4_a_contact_match_carries_its_account_name() {
    let world = World::start().await;
    let account = world.insert("Account", json!({"Name": "山田商事"}));
    world.insert(
        "Contact",
        json!({"LastName": "山田", "FirstName": "太郎", "Phone": "03-1234-5678", "AccountId": account}),
    );
    let found = find_record_for_number(&world.client(), "0312345678", PhoneRegion::JAPAN)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.what_id.unwrap().to_18(), account);
    let candidate = found.candidate.unwrap();
    assert_eq!(candidate.account_name.as_deref(), Some("山田商事"));
}

#[tokio::test]
async fn r5_a_task_is_created_as_the_given_user_and_found_again_by_call_object() {
    let world = World::start().await;
    let agent = world
        .sandbox
        .org()
        .add_user(&NewUser::named("agent@example.com", "Aki", "Agent"));
    let agent_client = world.client_as("agent@example.com");

    let id = create_task(
        &agent_client,
        &json!({"Subject": "発信", "CallObject": "call-7", "Status": "Completed"}),
    )
    .await
    .unwrap();
    let task = world.record(id.to_18());
    assert_eq!(task["CreatedById"], json!(agent.as_str()));

    let adopted = find_task_by_call_object(&world.client(), "call-7")
        .await
        .unwrap();
    assert_eq!(adopted, Some(id.clone()));
    assert_eq!(
        find_task_by_call_object(&world.client(), "call-8")
            .await
            .unwrap(),
        None
    );
    // Decision 2: a second attempt after an unknown outcome adopts, never duplicates.
    let (again, created) = adopt_or_create_task(
        &agent_client,
        "call-7",
        &json!({"Subject": "発信", "CallObject": "call-7"}),
    )
    .await
    .unwrap();
    assert_eq!((again, created), (id, false));
    assert_eq!(world.sandbox.org().records("Task").len(), 1);
}

#[tokio::test]
async fn r6_an_update_sends_only_its_fields_so_the_users_own_edit_survives() {
    let world = World::start().await;
    let client = world.client();
    let id = create_task(
        &client,
        &json!({"Subject": "着信", "CallObject": "call-9", "Description": "old"}),
    )
    .await
    .unwrap();
    let org = world.sandbox.org();
    org.update(
        org.admin_user(),
        "Task",
        id.to_18(),
        json!({"Subject": "the user's own subject"}),
    )
    .unwrap();
    let mut fields = serde_json::Map::new();
    fields.insert("Description".to_owned(), json!("memo arrived"));
    update_task(&client, &id, &fields).await.unwrap();
    let task = world.record(id.to_18());
    assert_eq!(task["Description"], "memo arrived");
    assert_eq!(task["Subject"], "the user's own subject");

    let before = world.calls();
    update_task(&client, &id, &serde_json::Map::new())
        .await
        .unwrap();
    assert_eq!(world.calls(), before, "an empty update sends nothing");
}

#[tokio::test]
async fn r7_users_are_found_by_username_and_by_phone_in_normal_form_and_cached() {
    let world = World::start().await;
    let mut forward = NewUser::named("forward@example.com", "Fumi", "Forward");
    forward.phone = Some("（０３）５５５５－１２３４".to_owned());
    let forward_id = world.sandbox.org().add_user(&forward);
    let mut inactive = NewUser::named("gone@example.com", "Gen", "Gone");
    inactive.is_active = false;
    world.sandbox.org().add_user(&inactive);
    let users = UserDirectory::default();
    let client = world.client();

    let found = users
        .user_by_username(ORG, &client, "Forward@Example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id.to_18(), forward_id.as_str());
    assert!(found.is_active);
    let both = users
        .users_by_username(ORG, &client, &["gone@example.com", "nobody@example.com"])
        .await
        .unwrap();
    assert!(!both["gone@example.com"].is_active);
    assert!(!both.contains_key("nobody@example.com"));

    let before = world.calls();
    users
        .user_by_username(ORG, &client, "forward@example.com")
        .await
        .unwrap();
    users
        .user_by_username(ORG, &client, "nobody@example.com")
        .await
        .unwrap();
    assert_eq!(world.calls(), before, "answers are cached, misses too");

    let destination = users
        .user_with_phone(ORG, &client, "+81-3-5555-1234", PhoneRegion::JAPAN)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(destination.id.to_18(), forward_id.as_str());
    assert_eq!(
        users
            .user_with_phone(ORG, &client, "03-5555-9999", PhoneRegion::JAPAN)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn r7_steps_that_miss_the_user_cache_at_once_send_one_query() {
    // R14 runs hundreds of calls at once: a cold cache must not cost one User query each.
    let world = World::start().await;
    world
        .sandbox
        .org()
        .add_user(&NewUser::named("agent@example.com", "Aki", "Agent"));
    let users = UserDirectory::default();
    let client = world.client();
    let before = world.calls();
    let lookups = (0..50).map(|_| {
        users.users_by_username(ORG, &client, &["agent@example.com", "nobody@example.com"])
    });
    for found in futures_util::future::join_all(lookups).await {
        assert!(found.unwrap().contains_key("agent@example.com"));
    }
    assert_eq!(world.calls() - before, 1, "one User query for 50 steps");
}

#[tokio::test]
async fn r11_the_task_schema_lists_status_values_and_custom_fields() {
    let world = World::start().await;
    world
        .sandbox
        .org()
        .add_custom_field(sf_sandbox::CustomField {
            object: "Task".to_owned(),
            name: "Call_Ended__c".to_owned(),
            label: "Call ended".to_owned(),
            kind: sf_sandbox::CustomFieldKind::DateTime,
        })
        .unwrap();
    let schema = task_schema(&world.client()).await.unwrap();
    let status = schema.field("Status").unwrap();
    assert!(status.picklist_values.contains(&"Completed".to_owned()));
    assert_eq!(
        schema.field("call_ended__c").unwrap().field_type,
        "datetime"
    );

    let mut settings = Settings::default();
    settings.custom_fields.call_ended_at = Some("Call_Ended__c".to_owned());
    assert_eq!(settings.validate_against_task_schema(&schema), Ok(()));
    settings.custom_fields.memo = Some("Memo__c".to_owned());
    let problems = settings.validate_against_task_schema(&schema).unwrap_err();
    assert_eq!(problems[0].field, "custom_fields.memo");
}

#[tokio::test]
async fn r9_a_validation_rule_failure_is_permanent_and_has_its_remedy() {
    let world = World::start().await;
    world.sandbox.org().add_validation_rule(ValidationRule {
        object: "Task".to_owned(),
        name: "Calls_need_a_comment".to_owned(),
        condition: RuleCondition::IsBlank("Description".to_owned()),
        error_message: "Calls need a comment".to_owned(),
        error_field: None,
    });
    let error = create_task(
        &world.client(),
        &json!({"Subject": "発信", "CallObject": "c"}),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Permanent);
    assert_eq!(error.code(), "FIELD_CUSTOM_VALIDATION_EXCEPTION");
    let remedy = error.remedy(Step::CreateTask, None);
    assert!(
        remedy.contains("a validation rule in Salesforce rejected the Task: Calls need a comment"),
        "{remedy}"
    );
}

#[tokio::test]
async fn r9_a_mapped_custom_field_that_does_not_exist_names_the_setting() {
    let world = World::start().await;
    let mut settings = Settings::default();
    settings.custom_fields.memo = Some("Memo__c".to_owned());
    let error = create_task(
        &world.client(),
        &json!({"Subject": "発信", "CallObject": "c", "Memo__c": "A"}),
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), "INVALID_FIELD");
    let remedy = error.remedy(Step::CreateTask, Some(&settings));
    assert!(
        remedy.contains("the custom field mapped for 'call memo' (Memo__c) does not exist on Task"),
        "{remedy}"
    );
}

#[tokio::test]
async fn r9_an_unknown_salesforce_user_must_be_reconnected() {
    let world = World::start().await;
    let error = create_task(
        &world.client_as("nobody@example.com"),
        &json!({"Subject": "発信"}),
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Reauthenticate);
    let remedy = error.remedy(Step::Auth, None);
    assert!(remedy.contains("reconnect the Salesforce user"), "{remedy}");
    assert!(!error.to_string().contains("PRIVATE KEY"));
}

/// Scripts `fault` for the next API request (after the client is warm, so the token
/// request is not the one that meets it).
fn next_request_fails(world: &World, fault: sf_sandbox::Fault) {
    world.sandbox.faults().push_script([Some(fault)]);
}

#[tokio::test]
async fn r6_a_locked_row_is_transient_and_says_it_is_retried() {
    let world = World::start().await;
    world.warm_up().await;
    next_request_fails(&world, sf_sandbox::Fault::UnableToLockRow);
    let error = create_task(&world.client(), &json!({"Subject": "発信"}))
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error}");
    assert!(matches!(error.kind(), ErrorKind::RetryLater { .. }));
    assert!(
        error
            .remedy(Step::CreateTask, None)
            .contains("retries this by itself")
    );
    create_task(&world.client(), &json!({"Subject": "発信"}))
        .await
        .unwrap();
}

#[tokio::test]
async fn decision_2_a_create_whose_answer_was_lost_is_adopted_not_duplicated() {
    let world = World::start().await;
    world.warm_up().await;
    let fields = json!({"Subject": "発信", "CallObject": "call-lost"});
    next_request_fails(&world, sf_sandbox::Fault::DropAfterCommit);
    let error = create_task(&world.client(), &fields).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OutcomeUnknown, "{error}");
    assert!(!error.is_transient());
    let remedy = error.remedy(Step::CreateTask, None);
    assert!(
        remedy.contains("may or may not have been saved"),
        "{remedy}"
    );

    let (id, created) = adopt_or_create_task(&world.client(), "call-lost", &fields)
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(world.record(id.to_18())["CallObject"], "call-lost");
    assert_eq!(world.sandbox.org().records("Task").len(), 1);
}

#[tokio::test]
async fn an_outage_during_the_phone_search_is_retried_later() {
    let world = World::start().await;
    world.warm_up().await;
    next_request_fails(&world, sf_sandbox::Fault::ServiceUnavailable);
    let error = find_record(
        &world.client(),
        &call("03-1234-5678", None),
        PhoneRegion::JAPAN,
    )
    .await
    .unwrap_err();
    assert!(error.is_transient(), "{error}");
}

#[tokio::test]
async fn an_expired_session_is_renewed_without_the_caller_noticing() {
    let world = World::start().await;
    world.warm_up().await;
    next_request_fails(&world, sf_sandbox::Fault::ExpireSession);
    create_task(&world.client(), &json!({"Subject": "発信"}))
        .await
        .unwrap();
}
