//! Settings (R11), the Salesforce connection, the screen-pop lookup (R3, R4)
//! and `callsync check`, end to end: a real server on port 0 over a fresh
//! database, and an in-process sf-sandbox as the organisation's Salesforce —
//! on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use callsync::api::{AppState, key_hash, new_key};
use callsync::store::{NewOrg, Store};
use callsync::test_support::{SandboxOrg, TestDatabase};
use jiff::Timestamp;
use serde_json::{Value, json};
use sf_sandbox::{CustomField, CustomFieldKind, Sandbox};

/// A running callsync API over a sandbox org: `acme` is connected to the
/// sandbox, `globex` is not connected.
struct TestApp {
    url: String,
    store: Store,
    sandbox: Sandbox,
    /// The connection JSON of the sandbox, private key included.
    connection: Value,
    acme_admin: String,
    acme_ingest: String,
    globex_admin: String,
    contact_id: String,
    account_id: String,
    http: reqwest::Client,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl TestApp {
    async fn spawn(db: &TestDatabase) -> TestApp {
        let SandboxOrg {
            sandbox,
            connection,
            account_id,
            contact_id,
        } = SandboxOrg::start().await;

        let store = db.store().await;
        let now = Timestamp::now();
        for (id, salesforce) in [("acme", Some(connection.to_string())), ("globex", None)] {
            store
                .create_org(
                    &NewOrg {
                        id: id.into(),
                        name: id.into(),
                        signing_secret: format!("whsec_{id}"),
                        settings_json: "{}".into(),
                        salesforce_json: salesforce,
                    },
                    now,
                )
                .await
                .unwrap();
        }
        let key = async |org: &str, scopes: &str| {
            let key = new_key();
            store
                .add_api_key(&key_hash(&key), org, scopes, "test", now)
                .await
                .unwrap();
            key
        };
        let acme_admin = key("acme", "admin").await;
        let acme_ingest = key("acme", "ingest").await;
        let globex_admin = key("globex", "admin").await;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut state = AppState::new(store.clone());
        // The sandbox listens on the loopback interface: a development setting.
        state.allow_loopback_salesforce = true;
        tokio::spawn(callsync::server::run(listener, state, async {
            let _ = rx.await;
        }));
        TestApp {
            url,
            store,
            sandbox,
            connection,
            acme_admin,
            acme_ingest,
            globex_admin,
            contact_id,
            account_id,
            http: reqwest::Client::new(),
            _shutdown: tx,
        }
    }

    async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    async fn put(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .put(format!("{}{path}", self.url))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    async fn put_settings(&self, body: &Value) -> (u16, Value) {
        self.put("/v1/settings", &self.acme_admin, body).await
    }

    fn add_task_field(&self, name: &str, kind: CustomFieldKind) {
        self.sandbox
            .org()
            .add_custom_field(CustomField {
                object: "Task".into(),
                name: name.into(),
                label: name.trim_end_matches("__c").into(),
                kind,
            })
            .unwrap();
    }
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// The fields named by a refusal's details, in order.
fn refused_fields(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .map(|details| {
            details
                .iter()
                .map(|d| d["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn first_problem(body: &Value) -> String {
    body["error"]["details"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn memo_values() -> CustomFieldKind {
    CustomFieldKind::MultiPicklist {
        values: vec!["Interested".into(), "Call back".into()],
    }
}

callsync::on_both_backends! {
    async fn r11_valid_settings_are_checked_against_salesforce_saved_and_read_back(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        app.add_task_field("Dial_Started__c", CustomFieldKind::DateTime);
        let (status, defaults) = app.get("/v1/settings", &app.acme_admin).await;
        assert_eq!(status, 200, "{defaults}");
        assert_eq!(defaults["task_status"], "Completed", "a new organisation has the defaults");

        let mut settings = defaults.clone();
        settings["timing"] = json!("call_start");
        settings["task_status"] = json!("Not Started");
        settings["comment_template"] = json!("{CALL_KIND} {CUSTOMER_NUMBER}\n{MEMO}");
        settings["custom_fields"] = json!({"dial_started_at": "Dial_Started__c"});
        let (status, saved) = app.put_settings(&settings).await;
        assert_eq!(status, 200, "{saved}");
        assert_eq!(saved["salesforce_check"], "passed");
        assert_eq!(saved["settings"], settings);
        let (_, read_back) = app.get("/v1/settings", &app.acme_admin).await;
        assert_eq!(read_back, settings);
    }
}

callsync::on_both_backends! {
    /// R14, R11: the field that makes creates idempotent must be a Unique External ID text
    /// field of Task; a plain text field is refused beside the setting, the right one saved.
    async fn r14_the_call_id_field_is_checked_to_be_a_unique_external_id(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        app.add_task_field("Plain_Key__c", CustomFieldKind::Text { length: 80 });
        app.add_task_field("Call_Key__c", CustomFieldKind::ExternalIdText { length: 80 });
        let (status, body) = app.put_settings(&json!({"custom_fields": {"call_id": "Plain_Key__c"}})).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(refused_fields(&body), ["custom_fields.call_id"]);
        assert!(first_problem(&body).contains("External ID and Unique"), "{body}");
        let (status, body) = app.put_settings(&json!({"custom_fields": {"call_id": "Call_Key__c"}})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["settings"]["custom_fields"]["call_id"], "Call_Key__c");
    }
}

callsync::on_both_backends! {
    async fn r5_3_r11_an_unknown_placeholder_is_refused_with_its_name_and_nothing_is_saved(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        let (status, body) = app
            .put_settings(&json!({"comment_template": "{MEMO} {CALLER_NAME}", "subjects": {"outgoing": "{KIND}"}}))
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(refused_fields(&body), ["comment_template", "subjects.outgoing"]);
        assert!(first_problem(&body).contains("{CALLER_NAME}"), "{body}");
        let (_, stored) = app.get("/v1/settings", &app.acme_admin).await;
        assert_ne!(stored["comment_template"], "{MEMO} {CALLER_NAME}");
    }
}

callsync::on_both_backends! {
    async fn r11_a_mapped_custom_field_that_task_does_not_have_is_refused_naming_it(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        let (status, body) = app.put_settings(&json!({"custom_fields": {"memo": "Memo__c"}})).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(refused_fields(&body), ["custom_fields.memo"]);
        assert!(first_problem(&body).contains("Memo__c"), "{body}");
    }
}

callsync::on_both_backends! {
    async fn r11_a_mapped_custom_field_of_the_wrong_type_is_refused(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        app.add_task_field("Call_Note__c", CustomFieldKind::LongTextArea { length: 32_000 });
        let (status, body) = app.put_settings(&json!({"custom_fields": {"call_ended_at": "Call_Note__c"}})).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(refused_fields(&body), ["custom_fields.call_ended_at"]);
        let problem = first_problem(&body);
        assert!(problem.contains("textarea") && problem.contains("datetime"), "{problem}");
    }
}

callsync::on_both_backends! {
    async fn r11_a_status_that_is_not_a_status_picklist_value_is_refused(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        let (status, body) = app.put_settings(&json!({"task_status": "Done"})).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(refused_fields(&body), ["task_status"]);
        let problem = first_problem(&body);
        assert!(problem.contains("Done") && problem.contains("Completed"), "{problem}");
    }
}

callsync::on_both_backends! {
    async fn r11_once_the_custom_field_is_added_in_salesforce_the_same_settings_save(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        let settings = json!({"custom_fields": {"memo": "Call_Memo__c"}});
        let (status, _) = app.put_settings(&settings).await;
        assert_eq!(status, 422, "refused while Task lacks the field");
        app.add_task_field("Call_Memo__c", memo_values());
        let (status, body) = app.put_settings(&settings).await;
        assert_eq!(status, 200, "the field added a moment ago is seen: {body}");
        assert_eq!(body["settings"]["custom_fields"]["memo"], "Call_Memo__c");
    }
}

callsync::on_both_backends! {
    async fn another_organisations_key_can_neither_read_nor_change_these_settings(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        let (status, _) = app.put_settings(&json!({"task_status": "Not Started"})).await;
        assert_eq!(status, 200);

        let (status, theirs) = app.get("/v1/settings", &app.globex_admin).await;
        assert_eq!(status, 200);
        assert_eq!(theirs["task_status"], "Completed", "globex sees its own settings only");
        let (status, saved) = app
            .put("/v1/settings", &app.globex_admin, &json!({"task_status": "Globex status"}))
            .await;
        assert_eq!(status, 200, "{saved}");
        assert_eq!(saved["salesforce_check"], "not_connected", "globex has no Salesforce to check against");
        let (_, ours) = app.get("/v1/settings", &app.acme_admin).await;
        assert_eq!(ours["task_status"], "Not Started", "globex's save changed only globex");

        let (status, _) = app.get("/v1/settings", &app.acme_ingest).await;
        assert_eq!(status, 403, "an ingest key cannot read settings");
        let (status, _) = app.put("/v1/settings", &app.acme_ingest, &json!({})).await;
        assert_eq!(status, 403, "an ingest key cannot change settings");
        let (status, _) = app.get("/v1/settings", "csk_unknown").await;
        assert_eq!(status, 401);
    }
}

callsync::on_both_backends! {
    async fn r11_a_value_of_the_wrong_shape_or_a_misspelt_field_is_refused_by_name(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        let (status, body) = app.put_settings(&json!({"timing": "sometimes"})).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(refused_fields(&body), ["timing"]);
        assert!(first_problem(&body).contains("call_end"), "{body}");

        let (status, body) = app.put_settings(&json!({"task_stauts": "Completed"})).await;
        assert_eq!(status, 422, "a misspelling is not dropped silently: {body}");
        assert_eq!(refused_fields(&body), ["task_stauts"]);

        let response = app
            .http
            .put(format!("{}/v1/settings", app.url))
            .bearer_auth(&app.acme_admin)
            .body("timing = call_end")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "not JSON");
    }
}

callsync::on_both_backends! {
    async fn r11_settings_are_not_saved_when_salesforce_cannot_be_reached_unless_the_check_is_skipped(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        let mut unreachable = app.connection.clone();
        unreachable["login_url"] = json!("http://127.0.0.1:9");
        app.store.put_salesforce("acme", Some(&unreachable.to_string())).await.unwrap();

        let settings = json!({"task_status": "Not Started"});
        let (status, body) = app.put_settings(&settings).await;
        assert_eq!(status, 503, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("settings were not saved"), "{message}");
        let (_, stored) = app.get("/v1/settings", &app.acme_admin).await;
        assert_eq!(stored["task_status"], "Completed", "nothing saved");

        let (status, body) = app.put("/v1/settings?skip_salesforce_check=true", &app.acme_admin, &settings).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["salesforce_check"], "skipped");
        assert!(body["message"].as_str().unwrap().contains("not checked"), "{body}");
        let (_, stored) = app.get("/v1/settings", &app.acme_admin).await;
        assert_eq!(stored["task_status"], "Not Started");
    }
}

callsync::on_both_backends! {
    async fn r3_r4_lookup_finds_a_contact_by_a_differently_formatted_number_and_returns_its_contact_entry(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        // Stored as 03-1234-5678; asked for in international form (R3.6).
        let (status, body) = app.get("/v1/lookup?number=%2B81%203%201234%205678", &app.acme_admin).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["number"], json!({"input": "+81 3 1234 5678", "e164": "+81312345678", "valid": true}));
        let record = &body["record"];
        assert_eq!(record["object"], "contact");
        assert_eq!(record["id"], app.contact_id);
        assert_eq!(record["who_id"], app.contact_id, "R5 WhoId: the Contact");
        assert_eq!(record["what_id"], app.account_id, "R5 WhatId: its Account");
        assert!(record["owner_id"].is_string());
        assert_eq!(body["contact"]["company"], "Acme Trading", "R4: a Contact's company is Account.Name");
        assert!(body["contact"]["person"].as_str().unwrap().contains("Tanaka"), "R4: its Name: {body}");
    }
}

callsync::on_both_backends! {
    async fn r3_7_lookup_of_an_unknown_number_returns_no_record(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        let (status, body) = app.get("/v1/lookup?number=090-9876-1111", &app.acme_admin).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["record"], Value::Null);
        assert_eq!(body["contact"], Value::Null);
        assert_eq!(body["number"]["e164"], "+819098761111");
    }
}

callsync::on_both_backends! {
    async fn lookup_refuses_a_missing_or_digitless_number_by_name_and_an_unconnected_organisation(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        for query in ["", "?number=", "?number=unknown"] {
            let (status, body) = app.get(&format!("/v1/lookup{query}"), &app.acme_admin).await;
            assert_eq!(status, 422, "{query}: {body}");
            assert_eq!(refused_fields(&body), ["number"], "{query}");
        }
        let (status, body) = app.get("/v1/lookup?number=0312345678", &app.globex_admin).await;
        assert_eq!(status, 409, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("connect Salesforce"), "{body}");
    }
}

callsync::on_both_backends! {
    async fn the_connections_private_key_never_appears_in_an_answer(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        let key_pem = app.connection["private_key_pem"].as_str().unwrap().to_owned();
        // A line from the middle of the PEM: the key's own material.
        let key_line = key_pem.lines().nth(2).unwrap().to_owned();
        let leaks = |body: &Value| {
            let text = body.to_string();
            text.contains(&key_line) || text.contains("PRIVATE KEY")
        };

        let (status, view) = app.get("/v1/salesforce", &app.acme_admin).await;
        assert_eq!(status, 200, "{view}");
        assert!(!leaks(&view), "{view}");
        assert!(view["private_key_fingerprint"].as_str().unwrap().starts_with("sha256:"));
        assert_eq!(view["default_username"], app.connection["default_username"]);

        let (status, _) = app.get("/v1/salesforce", &app.globex_admin).await;
        assert_eq!(status, 404, "globex is not connected");
        let (status, stored) = app.put("/v1/salesforce", &app.globex_admin, &app.connection).await;
        assert_eq!(status, 200, "{stored}");
        assert!(!leaks(&stored), "{stored}");
        assert_eq!(stored["private_key_fingerprint"], view["private_key_fingerprint"]);
        let (status, _) = app.get("/v1/lookup?number=0312345678", &app.globex_admin).await;
        assert_eq!(status, 200, "globex can look numbers up once connected");

        let mut bad_url = app.connection.clone();
        bad_url["login_url"] = json!("login.salesforce.com");
        let (status, refused) = app.put("/v1/salesforce", &app.globex_admin, &bad_url).await;
        assert_eq!(status, 422, "{refused}");
        assert_eq!(refused_fields(&refused), ["login_url"]);
        assert!(!leaks(&refused), "{refused}");
        let misnamed = json!({"login_url": app.sandbox.url(), "private_key": key_pem});
        let (status, refused) = app.put("/v1/salesforce", &app.globex_admin, &misnamed).await;
        assert_eq!(status, 422, "{refused}");
        assert!(!leaks(&refused), "{refused}");
        let (status, refused) = app.put("/v1/salesforce", &app.globex_admin, &json!(key_pem)).await;
        assert_eq!(status, 400, "{refused}");
        assert!(!leaks(&refused), "{refused}");
    }
}

/// Runs the `callsync` binary on `db` with `args`; returns (success, stdout).
async fn callsync_command(db: &TestDatabase, args: &[&str]) -> (bool, String) {
    let url = db.url.clone();
    let key = db.secret_key().to_owned();
    let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    // The sandbox runs on this test's runtime: wait for the child off it.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_callsync"))
            .args(&args)
            .env("CALLSYNC_DATABASE_URL", url)
            .env("CALLSYNC_SECRET_KEY", key)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (output.status.success(), format!("{stdout}{stderr}"))
}

callsync::on_both_backends! {
    async fn callsync_check_passes_a_good_organisation_and_names_each_problem_of_a_bad_one(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        // Settings saved before Salesforce changed, or by hand: they no longer fit.
        let stale = json!({"task_status": "Done", "custom_fields": {"memo": "Memo__c"}});
        app.store
            .create_org(
                &NewOrg {
                    id: "initech".into(),
                    name: "Initech".into(),
                    signing_secret: "whsec_initech".into(),
                    settings_json: stale.to_string(),
                    salesforce_json: Some(app.connection.to_string()),
                },
                Timestamp::now(),
            )
            .await
            .unwrap();

        let (ok, out) = callsync_command(db, &["check", "--org", "acme"]).await;
        assert!(ok, "{out}");
        for line in [
            "✓ settings: valid",
            "✓ Salesforce connection: signed in as",
            "✓ Task schema: read",
            "✓ settings against the Task schema",
        ] {
            assert!(out.contains(line), "{line:?} in\n{out}");
        }

        let (ok, out) = callsync_command(db, &["check", "--org", "initech"]).await;
        assert!(!ok, "a failed check fails the command:\n{out}");
        assert!(out.contains("✗ settings against the Task schema: 2 problems"), "{out}");
        assert!(out.contains("task_status: `Done` is not a value of the Task Status picklist"), "{out}");
        assert!(out.contains("custom_fields.memo: Task has no field `Memo__c`"), "{out}");

        let (ok, out) = callsync_command(db, &["check"]).await;
        assert!(!ok, "{out}");
        assert!(out.contains("globex (globex)") && out.contains("✗ Salesforce connection: not connected"), "{out}");
        assert!(out.contains("- Task schema: not checked"), "{out}");
        assert!(out.contains("2 of 3 organisations failed a check"), "{out}");

        let (ok, help) = callsync_command(db, &["check", "--help"]).await;
        assert!(ok && help.contains("Status picklist") && help.contains("--org"), "{help}");
    }
}

callsync::on_both_backends! {
    /// R12, R13, R11: the logging policy (with its lists) and the unknown-number settings
    /// are saved through the API, and what is wrong is refused naming the field.
    async fn r12_r13_policy_and_unknown_number_settings_are_saved_or_refused_by_field(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        let (_, defaults) = app.get("/v1/settings", &app.acme_admin).await;
        assert_eq!(defaults["policy"]["kinds"]["outgoing"], "log", "R12 defaults log every kind");
        assert_eq!(defaults["unknown_numbers"]["action"], "unlinked", "R13 default");

        let mut settings = defaults.clone();
        settings["policy"]["kinds"]["missed_incoming"] = json!("log_as_open");
        settings["policy"]["min_talk_seconds"] = json!(5);
        settings["policy"]["never_log_numbers"] = json!(["03-1234-5678", "+81 90 1111 2222"]);
        settings["policy"]["never_log_extensions"] = json!(["201"]);
        settings["unknown_numbers"]["action"] = json!("create_lead");
        settings["unknown_numbers"]["lead_source"] = json!("Phone Inquiry");
        let (status, saved) = app.put_settings(&settings).await;
        assert_eq!(status, 200, "{saved}");
        assert_eq!(saved["settings"], settings);

        let mut wrong = settings.clone();
        wrong["policy"]["open_status"] = json!("Done");
        wrong["policy"]["never_log_numbers"] = json!(["none at all"]);
        wrong["unknown_numbers"]["action"] = json!("create_contact");
        let (status, refused) = app.put_settings(&wrong).await;
        assert_eq!(status, 422, "{refused}");
        let fields: Vec<&str> = refused["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|problem| problem["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["policy.never_log_numbers[0]", "unknown_numbers.account"], "{refused}");
        // Only the Task schema knows the open status is not a Status value.
        wrong["policy"]["never_log_numbers"] = json!([]);
        wrong["unknown_numbers"]["action"] = json!("unlinked");
        let (status, refused) = app.put_settings(&wrong).await;
        assert_eq!(status, 422, "{refused}");
        assert_eq!(refused["error"]["details"][0]["field"], "policy.open_status", "{refused}");
        // A list anywhere else is still refused by path.
        let mut list = settings.clone();
        list["policy"]["kinds"] = json!(["log"]);
        let (status, refused) = app.put_settings(&list).await;
        assert_eq!(status, 422, "{refused}");
        assert_eq!(refused["error"]["details"][0]["field"], "policy.kinds", "{refused}");
    }
}
