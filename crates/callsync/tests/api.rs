//! The HTTP API end to end: a real server on port 0 over a fresh database,
//! spoken to with reqwest as a phone system or an admin would.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use callsync::api::{AppState, key_hash, new_key};
use callsync::ingest::signature::sign;
use callsync::store::{NewOrg, Store};
use callsync::test_support::TestDatabase;
use jiff::Timestamp;
use serde_json::{Value, json};

/// A running callsync API with one organisation, `acme`.
struct TestApp {
    url: String,
    store: Store,
    secret: String,
    ingest_key: String,
    admin_key: String,
    http: reqwest::Client,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl TestApp {
    async fn spawn(db: &TestDatabase) -> TestApp {
        let store = db.store().await;
        let now = Timestamp::now();
        let secret = "whsec_test_secret".to_owned();
        for (id, org_secret) in [("acme", secret.as_str()), ("globex", "whsec_other")] {
            store
                .create_org(
                    &NewOrg {
                        id: id.into(),
                        name: id.into(),
                        signing_secret: org_secret.into(),
                        settings_json: "{}".into(),
                        salesforce_json: None,
                    },
                    now,
                )
                .await
                .unwrap();
        }
        let ingest_key = new_key();
        let admin_key = new_key();
        store
            .add_api_key(&key_hash(&ingest_key), "acme", "ingest", "t", now)
            .await
            .unwrap();
        store
            .add_api_key(&key_hash(&admin_key), "acme", "admin", "t", now)
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = AppState::new(store.clone());
        tokio::spawn(callsync::server::run(listener, state, async {
            let _ = rx.await;
        }));
        TestApp {
            url,
            store,
            secret,
            ingest_key,
            admin_key,
            http: reqwest::Client::new(),
            _shutdown: tx,
        }
    }

    /// Posts `body` signed now with the organisation's secret.
    async fn post_events(&self, body: &Value) -> reqwest::Response {
        let body = body.to_string();
        let ts = Timestamp::now().as_second();
        self.http
            .post(format!("{}/v1/events", self.url))
            .bearer_auth(&self.ingest_key)
            .header("content-type", "application/json")
            .header("x-callsync-timestamp", ts.to_string())
            .header(
                "x-callsync-signature",
                sign(self.secret.as_bytes(), ts, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

fn event(id: &str, call: &str, kind: &str) -> Value {
    let mut event = json!({
        "id": id, "org": "acme", "call_id": call, "user": "u1",
        "occurred_at": "2026-11-24T01:00:00Z", "direction": "outbound",
        "user_number": "050-1111-2222", "customer_number": "03-1234-5678",
        "type": kind,
    });
    if kind == "ended" {
        event["talk_seconds"] = json!(42);
        event["outcome"] = json!("answered");
    }
    event
}

async fn error_of(response: reqwest::Response) -> Value {
    response.json::<Value>().await.unwrap()["error"].clone()
}

callsync::on_both_backends! {
    async fn a_signed_batch_is_accepted_and_stored_once_r10(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        let batch = json!([event("e1", "c1", "dialing"), event("e2", "c1", "ended")]);
        let first = app.post_events(&batch).await;
        assert_eq!(first.status(), 202);
        assert_eq!(first.json::<Value>().await.unwrap(), json!({"accepted": 2, "duplicates": 0}));
        let again = app.post_events(&batch).await;
        assert_eq!(again.json::<Value>().await.unwrap(), json!({"accepted": 0, "duplicates": 2}));
        assert_eq!(app.store.call_events("acme", "c1").await.unwrap().len(), 2);
        assert_eq!(app.store.queue_depth().await.unwrap(), 1, "one call, one work item");
    }
}

callsync::on_both_backends! {
    async fn unsigned_wrongly_signed_and_stale_requests_are_refused(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        let body = json!(event("e1", "c1", "dialing")).to_string();
        let url = format!("{}/v1/events", app.url);
        let now = Timestamp::now().as_second();
        let cases = [
            ("unsigned", None, None),
            ("wrong secret", Some(now), Some(sign(b"not the secret", now, body.as_bytes()))),
            ("stale", Some(now - 3600), Some(sign(app.secret.as_bytes(), now - 3600, body.as_bytes()))),
        ];
        for (case, ts, sig) in cases {
            let mut request = app.http.post(&url).bearer_auth(&app.ingest_key).body(body.clone());
            if let Some(ts) = ts {
                request = request.header("x-callsync-timestamp", ts.to_string());
            }
            if let Some(sig) = sig {
                request = request.header("x-callsync-signature", sig);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{case}");
            let error = error_of(response).await;
            assert!(!error["message"].as_str().unwrap().contains(&app.secret), "{case}: no secret in errors");
        }
        assert!(app.store.call_events("acme", "c1").await.unwrap().is_empty(), "nothing stored");
    }
}

callsync::on_both_backends! {
    async fn an_invalid_event_is_refused_naming_the_event_and_field_and_nothing_is_stored(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        let mut broken = event("e2", "c1", "ended");
        broken.as_object_mut().unwrap().remove("talk_seconds");
        let mut alien = event("e3", "c1", "teleported");
        alien["org"] = json!("acme");
        let response = app.post_events(&json!([event("e1", "c1", "dialing"), broken, alien])).await;
        assert_eq!(response.status(), 422);
        let error = error_of(response).await;
        let fields: Vec<&str> = error["details"].as_array().unwrap().iter().map(|p| p["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["[1].talk_seconds", "[2].type"]);
        assert!(error["details"][1]["message"].as_str().unwrap().contains("teleported"));
        assert!(app.store.call_events("acme", "c1").await.unwrap().is_empty(), "a batch is all or nothing");
    }
}

callsync::on_both_backends! {
    /// Issue 12: a call accepts a bounded number of events; the batch that would pass
    /// the bound is refused whole, naming the event, and the call keeps what it had.
    async fn a_call_past_its_event_limit_is_refused_naming_the_event(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        let limit = usize::try_from(callsync::store::MAX_EVENTS_PER_CALL).unwrap();
        let memos: Vec<Value> = (0..limit).map(|i| event(&format!("m{i}"), "c1", "dialing")).collect();
        assert_eq!(app.post_events(&json!(memos)).await.status(), 202);
        let response = app.post_events(&json!([event("x1", "c2", "dialing"), event("one-too-many", "c1", "dialing")])).await;
        assert_eq!(response.status(), 422);
        let error = error_of(response).await;
        assert_eq!(error["details"][0]["field"], "[1].call_id");
        assert!(error["details"][0]["message"].as_str().unwrap().contains("one-too-many"), "{error}");
        assert_eq!(app.store.call_events("acme", "c1").await.unwrap().len(), limit);
        assert!(app.store.call_events("acme", "c2").await.unwrap().is_empty(), "a batch is all or nothing");
    }
}

callsync::on_both_backends! {
    async fn an_event_dated_in_the_future_is_refused_naming_it_but_late_events_are_accepted_r10(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        let now = Timestamp::now();
        let at = |seconds: i64| json!(now.checked_add(jiff::SignedDuration::from_secs(seconds)).unwrap().to_string());
        let mut ahead = event("e2", "c1", "ended");
        ahead["occurred_at"] = at(3600);
        let response = app.post_events(&json!([event("e1", "c1", "dialing"), ahead])).await;
        assert_eq!(response.status(), 422);
        let error = error_of(response).await;
        assert_eq!(error["details"][0]["field"], "[1].occurred_at", "{error}");
        let message = error["details"][0]["message"].as_str().unwrap();
        assert!(message.contains("\"e2\"") && message.contains("in the future"), "{message}");
        assert!(app.store.call_events("acme", "c1").await.unwrap().is_empty(), "a batch is all or nothing");

        // A clock a minute fast is drift, and a backfill ten days old is history: both stored.
        let mut drifting = event("e3", "c2", "dialing");
        drifting["occurred_at"] = at(60);
        let mut backfilled = event("e4", "c3", "dialing");
        backfilled["occurred_at"] = at(-10 * 24 * 3600);
        let response = app.post_events(&json!([drifting, backfilled])).await;
        assert_eq!(response.status(), 202);
        assert_eq!(app.store.call_events("acme", "c2").await.unwrap().len(), 1);
        assert_eq!(app.store.call_events("acme", "c3").await.unwrap().len(), 1);
    }
}

callsync::on_both_backends! {
    async fn keys_are_checked_for_scope_and_organisation(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        let body = json!(event("e1", "c1", "dialing")).to_string();
        let ts = Timestamp::now().as_second();
        let signed = |key: &str| {
            app.http
                .post(format!("{}/v1/events", app.url))
                .bearer_auth(key)
                .header("x-callsync-timestamp", ts.to_string())
                .header("x-callsync-signature", sign(app.secret.as_bytes(), ts, body.as_bytes()))
                .body(body.clone())
        };
        assert_eq!(signed("csk_unknown").send().await.unwrap().status(), 401);
        assert_eq!(signed(&app.admin_key).send().await.unwrap().status(), 403, "admin keys cannot ingest");

        let mut foreign = event("e9", "c9", "dialing");
        foreign["org"] = json!("globex");
        let response = app.post_events(&foreign).await;
        assert_eq!(response.status(), 422, "an event of another organisation is refused");
        assert_eq!(error_of(response).await["details"][0]["field"], "org");
    }
}

callsync::on_both_backends! {
    async fn malformed_bodies_get_a_clear_bad_request(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        for (body, says) in [("{not json", "not valid JSON"), ("[]", "empty"), ("42", "one event")] {
            let ts = Timestamp::now().as_second();
            let response = app.http
                .post(format!("{}/v1/events", app.url))
                .bearer_auth(&app.ingest_key)
                .header("x-callsync-timestamp", ts.to_string())
                .header("x-callsync-signature", sign(app.secret.as_bytes(), ts, body.as_bytes()))
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400, "{body}");
            let message = error_of(response).await["message"].as_str().unwrap().to_owned();
            assert!(message.contains(says), "{body}: {message}");
        }
    }
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let db = TestDatabase::sqlite();
    let app = TestApp::spawn(&db).await;
    for path in ["/healthz", "/readyz"] {
        let response = app
            .http
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

callsync::on_both_backends! {
    async fn replay_posts_a_recorded_file_signed_reports_bad_lines_and_is_safe_to_repeat(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("events.ndjson");
        let lines = [
            event("r1", "rc", "dialing").to_string(),
            "{this is not json".to_owned(),
            event("r2", "rc", "ended").to_string(),
        ];
        std::fs::write(&file, lines.join("\n")).unwrap();
        let replay = || {
            let (url, key, secret, file) = (app.url.clone(), app.ingest_key.clone(), app.secret.clone(), file.clone());
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_callsync"))
                    .args(["replay", file.to_str().unwrap(), "--url", &url, "--batch", "1"])
                    .env("CALLSYNC_API_KEY", key)
                    .env("CALLSYNC_SIGNING_SECRET", secret)
                    .output()
                    .unwrap()
            })
        };
        let first = replay().await.unwrap();
        let stdout = String::from_utf8_lossy(&first.stdout);
        let stderr = String::from_utf8_lossy(&first.stderr);
        assert!(stdout.contains("accepted 2, duplicates 0, unreadable lines 1"), "{stdout}\n{stderr}");
        assert!(stderr.contains("line 2: not JSON"), "{stderr}");
        assert!(!first.status.success(), "a skipped line is reported in the exit status");
        assert!(!stderr.contains(&app.secret) && !stdout.contains(&app.ingest_key), "no secret is printed");

        let again = replay().await.unwrap();
        assert!(String::from_utf8_lossy(&again.stdout).contains("accepted 0, duplicates 2"));
        assert_eq!(app.store.call_events("acme", "rc").await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn the_openapi_document_is_served_without_a_key() {
    let db = TestDatabase::sqlite();
    let app = TestApp::spawn(&db).await;
    let document: Value = app
        .http
        .get(format!("{}/openapi.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    assert!(document["paths"]["/v1/events"]["post"].is_object());
}

callsync::on_both_backends! {
    async fn one_organisations_key_cannot_read_or_retry_anothers_calls_or_errors(db: &TestDatabase) {
        let app = TestApp::spawn(db).await;
        assert_eq!(app.post_events(&json!(event("e1", "secret-call", "dialing"))).await.status(), 202);
        let globex_key = new_key();
        app.store.add_api_key(&key_hash(&globex_key), "globex", "admin", "t", Timestamp::now()).await.unwrap();
        let get = |path: &str, key: &str| app.http.get(format!("{}{path}", app.url)).bearer_auth(key).send();

        let own: Value = get("/v1/calls", &app.admin_key).await.unwrap().json().await.unwrap();
        assert_eq!(own.as_array().unwrap().len(), 1, "acme sees its call");
        let foreign: Value = get("/v1/calls", &globex_key).await.unwrap().json().await.unwrap();
        assert_eq!(foreign, json!([]), "globex sees none of acme's calls");
        assert_eq!(get("/v1/calls/secret-call", &globex_key).await.unwrap().status(), 404);

        // An error-log entry of acme's, by number, is not globex's to see or retry.
        let item = app.store.claim("w", Timestamp::now(), std::time::Duration::from_secs(30), 10).await.unwrap().remove(0);
        let failure = callsync::store::NewError { step: "s".into(), code: "C".into(), message: "m".into(), remedy: "r".into() };
        let id = app.store.fail(&item, &Default::default(), &failure, Timestamp::now()).await.unwrap().unwrap();
        let retry = app.http.post(format!("{}/v1/errors/{id}/retry", app.url)).bearer_auth(&globex_key).send().await.unwrap();
        assert_eq!(retry.status(), 404);
        let errors: Value = get("/v1/errors", &globex_key).await.unwrap().json().await.unwrap();
        assert_eq!(errors, json!([]));
        assert_eq!(get("/v1/calls", &app.ingest_key).await.unwrap().status(), 403, "an ingest key cannot read");
    }
}

/// Every refusal has the API's JSON error body, including the router's own
/// answers and extractor refusals (issue 7, fuzzed input: every rejected
/// request gets an error that names what was wrong).
#[tokio::test]
async fn every_refusal_is_a_json_error_that_says_what_was_wrong() {
    let db = TestDatabase::sqlite();
    let app = TestApp::spawn(&db).await;
    let get = |path: &str| {
        app.http
            .get(format!("{}{path}", app.url))
            .bearer_auth(&app.admin_key)
    };

    let response = get("/v1/nothing-here").send().await.unwrap();
    assert_eq!(response.status(), 404);
    let error = error_of(response).await;
    assert_eq!(error["code"], "not_found");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("/v1/nothing-here"),
        "{error}"
    );

    let response = get("/v1/events").send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(
        response.headers()["allow"],
        "POST",
        "the Allow header is kept"
    );
    let error = error_of(response).await;
    assert_eq!(error["code"], "method_not_allowed");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("GET is not allowed"),
        "{error}"
    );

    let response = get("/v1/errors?open=maybe").send().await.unwrap();
    assert_eq!(response.status(), 422);
    let error = error_of(response).await;
    assert_eq!(error["details"][0]["field"], "open", "{error}");

    let response = get("/v1/calls?limit=1&limit=2").send().await.unwrap();
    assert_eq!(response.status(), 422);
    let error = error_of(response).await;
    assert!(
        error["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("limit"),
        "{error}"
    );

    let response = get("/v1/calls?colour=blue").send().await.unwrap();
    assert_eq!(response.status(), 422);
    let error = error_of(response).await;
    assert!(
        error["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{error}"
    );

    let response = app
        .http
        .post(format!("{}/v1/errors/seven/retry", app.url))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error = error_of(response).await;
    assert!(
        error["message"].as_str().unwrap().contains("seven"),
        "{error}"
    );

    let response = app
        .http
        .put(format!("{}/v1/users/u1", app.url))
        .bearer_auth(&app.admin_key)
        .json(&json!({"name": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let error = error_of(response).await;
    assert_eq!(error["details"][0]["field"], "name", "{error}");

    // A body over the limit is refused before it is read whole.
    let huge = "x".repeat(callsync::api::MAX_BODY_BYTES + 1);
    let ts = Timestamp::now().as_second();
    let response = app
        .http
        .post(format!("{}/v1/events", app.url))
        .bearer_auth(&app.ingest_key)
        .header("x-callsync-timestamp", ts.to_string())
        .header(
            "x-callsync-signature",
            sign(app.secret.as_bytes(), ts, huge.as_bytes()),
        )
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let error = error_of(response).await;
    assert_eq!(error["code"], "payload_too_large", "{error}");
}
