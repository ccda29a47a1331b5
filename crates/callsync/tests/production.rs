//! Running callsync as production infrastructure (issue 16): Salesforce connections only
//! to Salesforce, secrets sealed at rest and never printed, keys that can be revoked and
//! secrets rotated with a grace period, per-key rate limits, request ids, retention, and
//! a configuration reference that cannot go stale.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use std::sync::{Arc, Mutex};
use std::time::Duration;

use callsync::api::{AppState, RateLimits, key_hash, new_key};
use callsync::config::HttpConfig;
use callsync::ingest::signature::sign;
use callsync::store::{NewError, NewEvent, NewOrg, RetentionPolicy, Store};
use callsync::test_support::{SandboxOrg, TestDatabase};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use sqlx::Row as _;

/// A running API over one organisation, `acme`, with an ingest and an admin key, and a
/// clock the test moves.
struct App {
    url: String,
    store: Store,
    secret: String,
    ingest_key: String,
    admin_key: String,
    clock: Arc<Mutex<Timestamp>>,
    http: reqwest::Client,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl App {
    async fn spawn(db: &TestDatabase, configure: impl FnOnce(&mut AppState)) -> App {
        let store = db.store().await;
        let now = Timestamp::now();
        let secret = "whsec_production_test_secret".to_owned();
        store
            .create_org(
                &NewOrg {
                    id: "acme".into(),
                    name: "Acme".into(),
                    signing_secret: secret.clone(),
                    settings_json: "{}".into(),
                    salesforce_json: None,
                },
                now,
            )
            .await
            .unwrap();
        let (ingest_key, admin_key) = (new_key(), new_key());
        store
            .add_api_key(&key_hash(&ingest_key), "acme", "ingest", "phone", now)
            .await
            .unwrap();
        store
            .add_api_key(&key_hash(&admin_key), "acme", "admin", "admin", now)
            .await
            .unwrap();
        let clock = Arc::new(Mutex::new(now));
        let mut state = AppState::new(store.clone());
        let read = Arc::clone(&clock);
        state.clock = Arc::new(move || *read.lock().unwrap());
        configure(&mut state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(callsync::server::run(listener, state, async {
            let _ = rx.await;
        }));
        App {
            url,
            store,
            secret,
            ingest_key,
            admin_key,
            clock,
            http: reqwest::Client::new(),
            _shutdown: tx,
        }
    }

    fn now(&self) -> Timestamp {
        *self.clock.lock().unwrap()
    }

    fn advance(&self, by: SignedDuration) {
        let mut clock = self.clock.lock().unwrap();
        *clock = clock.checked_add(by).unwrap();
    }

    /// Posts one event signed with `secret` at the app's clock.
    async fn post_event(&self, id: &str, secret: &str) -> reqwest::Response {
        let body = json!({
            "id": id, "org": "acme", "call_id": format!("call-{id}"), "user": "u1",
            "occurred_at": "2026-11-24T01:00:00Z", "direction": "outbound",
            "customer_number": "0312345678", "type": "dialing"
        })
        .to_string();
        let timestamp = self.now().as_second();
        self.http
            .post(format!("{}/v1/events", self.url))
            .bearer_auth(&self.ingest_key)
            .header("x-callsync-timestamp", timestamp.to_string())
            .header(
                "x-callsync-signature",
                sign(secret.as_bytes(), timestamp, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str, key: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }
}

// ----- connections (issue 16: "an http or non-Salesforce login URL is refused") ---------

#[tokio::test]
async fn an_http_or_non_salesforce_login_url_is_refused_with_an_error_naming_the_field() {
    let db = TestDatabase::sqlite();
    let app = App::spawn(&db, |_| {}).await;
    let sandbox = SandboxOrg::start().await;
    let put = |connection: Value| {
        app.http
            .put(format!("{}/v1/salesforce", app.url))
            .bearer_auth(&app.admin_key)
            .json(&connection)
            .send()
    };
    for (login_url, why) in [
        ("http://login.salesforce.com", "https"),
        ("https://login.example.com", "Salesforce domain"),
        (
            "https://login.salesforce.com.example.com",
            "Salesforce domain",
        ),
        ("https://169.254.169.254", "IP address"),
        // The local sandbox: loopback needs the development setting, off here.
        (sandbox.sandbox.url().as_str(), "allow_loopback_salesforce"),
    ] {
        let mut connection = sandbox.connection.clone();
        connection["login_url"] = json!(login_url);
        let answer = put(connection).await.unwrap();
        assert_eq!(answer.status(), 422, "{login_url}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["details"][0]["field"], "login_url", "{body}");
        let message = body["error"]["details"][0]["message"].as_str().unwrap();
        assert!(message.contains(why), "{login_url}: {message}");
    }
    assert!(
        app.store
            .org("acme")
            .await
            .unwrap()
            .unwrap()
            .salesforce_json
            .is_none()
    );
}

#[tokio::test]
async fn the_development_setting_lets_a_local_sandbox_be_connected() {
    let db = TestDatabase::sqlite();
    let app = App::spawn(&db, |state| state.allow_loopback_salesforce = true).await;
    let sandbox = SandboxOrg::start().await;
    let answer = app
        .http
        .put(format!("{}/v1/salesforce", app.url))
        .bearer_auth(&app.admin_key)
        .json(&sandbox.connection)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

// ----- secrets at rest -----------------------------------------------------------------

callsync::on_both_backends! {
    async fn secrets_are_sealed_in_the_database_and_never_in_debug(db: &TestDatabase) {
        let store = db.store().await;
        let sandbox = SandboxOrg::start().await;
        let key_pem = sandbox.connection["private_key_pem"].as_str().unwrap().to_owned();
        let key_line = key_pem.lines().nth(2).unwrap().to_owned();
        let secret = "whsec_must_never_be_plain_0123456789";
        let new_org = NewOrg {
            id: "acme".into(),
            name: "Acme".into(),
            signing_secret: secret.into(),
            settings_json: "{}".into(),
            salesforce_json: Some(sandbox.connection.to_string()),
        };
        store.create_org(&new_org, Timestamp::now()).await.unwrap();
        store
            .rotate_signing_secret("acme", "whsec_the_next_one_0123456789", Duration::from_secs(60), Timestamp::now())
            .await
            .unwrap();

        // The rows as the database holds them.
        sqlx::any::install_default_drivers();
        let raw = sqlx::AnyPool::connect(&db.url).await.unwrap();
        let row = sqlx::query("SELECT signing_secret, salesforce FROM orgs WHERE id = 'acme'")
            .fetch_one(&raw)
            .await
            .unwrap();
        let stored_secret: String = row.try_get("signing_secret").unwrap();
        let stored_connection: String = row.try_get("salesforce").unwrap();
        let retired: String = sqlx::query("SELECT signing_secret FROM previous_signing_secrets")
            .fetch_one(&raw)
            .await
            .unwrap()
            .try_get("signing_secret")
            .unwrap();
        raw.close().await;
        for stored in [&stored_secret, &stored_connection, &retired] {
            assert!(stored.starts_with("sealed:v1:"), "{stored}");
            assert!(!stored.contains("whsec_"), "{stored}");
            assert!(!stored.contains(&key_line) && !stored.contains("PRIVATE KEY"), "{stored}");
        }

        // Read back through the store, they open again.
        let org = store.org("acme").await.unwrap().unwrap();
        assert_eq!(org.signing_secret, "whsec_the_next_one_0123456789");
        assert!(org.salesforce_json.as_deref().unwrap().contains(&key_line));
        let previous = store.previous_signing_secrets("acme", Timestamp::now()).await.unwrap();
        assert_eq!(previous.len(), 1);

        // Debug shows neither.
        for debug in [format!("{org:?}"), format!("{new_org:?}"), format!("{:?}", store.sealer())] {
            assert!(!debug.contains("whsec_"), "{debug}");
            assert!(!debug.contains(&key_line), "{debug}");
        }
        let connection = callsync::crm::SalesforceConnection::from_json(org.salesforce_json.as_deref().unwrap()).unwrap();
        assert!(!format!("{connection:?}").contains(&key_line));
    }
}

#[tokio::test]
async fn a_database_read_with_another_key_says_which_key_is_missing() {
    let db = TestDatabase::sqlite();
    let store = db.store().await;
    store
        .create_org(
            &NewOrg {
                id: "acme".into(),
                name: "Acme".into(),
                signing_secret: "whsec_x".into(),
                settings_json: "{}".into(),
                salesforce_json: None,
            },
            Timestamp::now(),
        )
        .await
        .unwrap();
    let other = Store::connect_with(&db.url, callsync::secrets::Sealer::ephemeral())
        .await
        .unwrap();
    let error = format!("{:#}", other.org("acme").await.unwrap_err());
    assert!(error.contains("not configured"), "{error}");
    assert!(error.contains(store.sealer().key_id()), "{error}");
}

// ----- keys ----------------------------------------------------------------------------

callsync::on_both_backends! {
    async fn a_revoked_key_is_refused_and_a_used_key_shows_when_it_was_last_used(db: &TestDatabase) {
        let app = App::spawn(db, |_| {}).await;
        assert_eq!(app.get("/v1/org", &app.admin_key).await.status(), 200);
        // Last use is written off the request's path.
        let mut listed = Vec::new();
        for _ in 0..50 {
            listed = app.store.api_keys("acme").await.unwrap();
            if listed.iter().any(|key| key.last_used_at.is_some()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let admin_id = &key_hash(&app.admin_key)[..12];
        let admin = listed.iter().find(|key| key.id == admin_id).unwrap();
        assert!(admin.last_used_at.is_some(), "{listed:?}");
        assert!(listed.iter().find(|key| key.id != admin_id).unwrap().last_used_at.is_none());

        assert!(app.store.revoke_api_key("acme", admin_id, Timestamp::now()).await.unwrap());
        let answer = app.get("/v1/org", &app.admin_key).await;
        assert_eq!(answer.status(), 401);
        let body: Value = answer.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains("revoked"), "{body}");
        assert!(!app.store.revoke_api_key("acme", admin_id, Timestamp::now()).await.unwrap(), "once");
        assert_eq!(app.post_event("e1", &app.secret).await.status(), 202, "the other key still works");
    }
}

callsync::on_both_backends! {
    async fn a_rotated_signing_secret_is_accepted_during_the_grace_period_only(db: &TestDatabase) {
        let app = App::spawn(db, |_| {}).await;
        let new_secret = "whsec_rotated_0123456789";
        assert!(app
            .store
            .rotate_signing_secret("acme", new_secret, Duration::from_secs(3600), app.now())
            .await
            .unwrap());

        assert_eq!(app.post_event("e1", new_secret).await.status(), 202, "the new secret");
        assert_eq!(app.post_event("e2", &app.secret).await.status(), 202, "the old one, in grace");
        app.advance(SignedDuration::from_mins(59));
        assert_eq!(app.post_event("e3", &app.secret).await.status(), 202, "still in grace");
        app.advance(SignedDuration::from_mins(2));
        let answer = app.post_event("e4", &app.secret).await;
        assert_eq!(answer.status(), 401, "past the grace period");
        assert_eq!(app.post_event("e5", new_secret).await.status(), 202);
        assert_eq!(app.post_event("e6", "whsec_never_issued").await.status(), 401);
    }
}

#[tokio::test]
async fn org_create_issues_separate_ingest_and_admin_keys_that_can_be_listed_and_revoked() {
    let db = TestDatabase::sqlite();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_callsync"))
            .args(args)
            .env("CALLSYNC_DATABASE_URL", &db.url)
            .env("CALLSYNC_SECRET_KEY", db.secret_key())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    };
    let (ok, created) = run(&["org", "create", "acme"]);
    assert!(ok, "{created}");
    assert!(
        created.contains("ingest API key:") && created.contains("admin API key:"),
        "{created}"
    );
    let (ok, listed) = run(&["org", "keys", "list", "acme"]);
    assert!(ok, "{listed}");
    let rows: Vec<&str> = listed.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(
        rows.iter()
            .any(|row| row.split('\t').nth(1) == Some("ingest")),
        "{listed}"
    );
    assert!(
        rows.iter()
            .any(|row| row.split('\t').nth(1) == Some("admin")),
        "{listed}"
    );
    let ingest_id = rows
        .iter()
        .find(|row| row.contains("\tingest\t"))
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_owned();
    let (ok, revoked) = run(&["org", "keys", "revoke", "acme", &ingest_id]);
    assert!(ok, "{revoked}");
    let (ok, again) = run(&["org", "keys", "revoke", "acme", &ingest_id]);
    assert!(!ok && again.contains("not revoked already"), "{again}");
    let (ok, rotated) = run(&["org", "rotate-secret", "acme", "--grace-hours", "1"]);
    assert!(
        ok && rotated.contains("new signing secret: whsec_"),
        "{rotated}"
    );
}

// ----- limits and request ids ------------------------------------------------------------

#[tokio::test]
async fn a_key_past_its_rate_limit_gets_429_with_retry_after_and_other_keys_go_on() {
    let db = TestDatabase::sqlite();
    let app = App::spawn(&db, |state| {
        state.rate_limits = Arc::new(RateLimits::new(&HttpConfig {
            api_per_second: 1,
            ingest_per_second: 1,
            burst: 3,
            ..HttpConfig::default()
        }));
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.get("/v1/org", &app.admin_key).await.status(), 200);
    }
    let refused = app.get("/v1/org", &app.admin_key).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("try again"),
        "{body}"
    );

    // Ingest has its own bucket, and the health check none.
    assert_eq!(app.post_event("e1", &app.secret).await.status(), 202);
    for _ in 0..5 {
        let health = app
            .http
            .get(format!("{}/healthz", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        app.get("/v1/org", &app.admin_key).await.status(),
        200,
        "refilled"
    );
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_callers_own_is_kept() {
    let db = TestDatabase::sqlite();
    let app = App::spawn(&db, |_| {}).await;
    let answer = app.get("/v1/org", &app.admin_key).await;
    let made = answer.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(made.len(), 36, "a UUID: {made}");
    let refused = app.get("/v1/org", "csk_unknown").await;
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().contains_key("x-request-id"));
    let kept = app
        .http
        .get(format!("{}/healthz", app.url))
        .header("x-request-id", "phone-system-42")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "phone-system-42");
}

// ----- retention -----------------------------------------------------------------------

callsync::on_both_backends! {
    async fn retention_prunes_old_events_history_and_errors_in_batches_but_not_a_call_still_syncing(db: &TestDatabase) {
        let store = db.store().await;
        store
            .create_org(
                &NewOrg {
                    id: "acme".into(),
                    name: "Acme".into(),
                    signing_secret: "whsec_x".into(),
                    settings_json: "{}".into(),
                    salesforce_json: None,
                },
                Timestamp::now(),
            )
            .await
            .unwrap();
        let long_ago = Timestamp::now().checked_sub(SignedDuration::from_hours(24 * 100)).unwrap();
        let event = |id: &str, call: &str| NewEvent {
            event_id: id.into(),
            call_id: call.into(),
            occurred_at: long_ago,
            body_json: "{}".into(),
        };
        // Five old events of a finished call, one old event of a call still queued, one new.
        let finished: Vec<NewEvent> = (0..5).map(|i| event(&format!("old-{i}"), "done")).collect();
        store.ingest("acme", &finished, long_ago).await.unwrap();
        store.ingest("acme", &[event("queued-1", "queued")], long_ago).await.unwrap();
        store.ingest("acme", &[event("new-1", "fresh")], Timestamp::now()).await.unwrap();
        for _ in 0..3 {
            store
                .note_error("acme", "done", &NewError {
                    step: "create_task".into(),
                    code: "X".into(),
                    message: "m".into(),
                    remedy: "r".into(),
                }, long_ago)
                .await
                .unwrap();
        }
        store
            .note_error("acme", "fresh", &NewError {
                step: "create_task".into(),
                code: "X".into(),
                message: "m".into(),
                remedy: "r".into(),
            }, Timestamp::now())
            .await
            .unwrap();
        // The call `done` has been synced: its outbox row is gone.
        sqlx::any::install_default_drivers();
        let raw = sqlx::AnyPool::connect(&db.url).await.unwrap();
        sqlx::query("DELETE FROM sync_work WHERE call_id IN ('done', 'fresh')")
            .execute(&raw)
            .await
            .unwrap();

        let policy = RetentionPolicy {
            cutoff: Timestamp::now().checked_sub(SignedDuration::from_hours(24 * 90)).unwrap(),
            batch: 2,
        };
        let first = store.prune_batch(policy).await.unwrap();
        assert_eq!((first.events, first.errors), (2, 2), "one batch of each: {first:?}");
        let rest = store.prune(policy, Duration::ZERO).await.unwrap();
        assert_eq!((rest.events, rest.errors), (3, 1), "{rest:?}");

        let left: Vec<String> = sqlx::query("SELECT event_id FROM events ORDER BY event_id")
            .fetch_all(&raw)
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get("event_id").unwrap())
            .collect();
        assert_eq!(left, ["new-1", "queued-1"], "a queued call keeps its events (R10)");
        assert_eq!(store.errors("acme", false, 100).await.unwrap().len(), 1);
        raw.close().await;
    }
}

// ----- the configuration reference -------------------------------------------------------

#[test]
fn the_checked_in_configuration_reference_is_the_generated_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = callsync::config::reference();
    assert!(
        checked_in == generated,
        "docs/configuration.md is stale: regenerate it with \
         `cargo run -p callsync -- config reference > docs/configuration.md`"
    );
    for key in [
        "public_url",
        "http.ingest_per_second",
        "retention.days",
        "worker.batch",
        "CALLSYNC_WORKER__BATCH",
    ] {
        assert!(generated.contains(key), "{key}");
    }
}
