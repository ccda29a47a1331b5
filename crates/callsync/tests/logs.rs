//! No token, secret or signature in the logs, at any level (issue 7's
//! security checks): everything logged — ours and our dependencies' — is
//! captured at TRACE while a signed batch is ingested and synced to an
//! in-process sandbox with the JWT bearer flow.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use std::io::Write;
use std::sync::{Arc, Mutex};

use callsync::api::{AppState, key_hash, new_key};
use callsync::config::WorkerConfig;
use callsync::ingest::signature::sign;
use callsync::store::{NewOrg, UserRow};
use callsync::test_support::TestDatabase;
use callsync::worker::Worker;
use callsync_core::settings::Settings;
use jiff::Timestamp;
use serde_json::json;
use sf_sandbox::{NewUser, Sandbox, SandboxConfig};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn nothing_secret_is_logged_at_any_level_while_events_are_ingested_and_synced() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let org = sandbox.org();
    org.add_user(&NewUser::named("agent@acme.example", "Aiko", "Sato"));
    org.insert(
        org.admin_user(),
        "Contact",
        json!({"LastName": "Tanaka", "Phone": "03-1234-5678"}),
    )
    .unwrap();
    let credentials = sandbox.credentials();

    let db = TestDatabase::sqlite();
    let store = db.store().await;
    let secret = "whsec_never_in_logs_0123456789";
    store
        .create_org(
            &NewOrg {
                id: "acme".into(),
                name: "Acme".into(),
                signing_secret: secret.into(),
                settings_json: serde_json::to_string(&Settings::default()).unwrap(),
                salesforce_json: Some(
                    json!({
                        "login_url": sandbox.url(),
                        "consumer_key": credentials.client_id,
                        "private_key_pem": credentials.private_key_pem,
                        "default_username": credentials.username,
                    })
                    .to_string(),
                ),
            },
            Timestamp::now(),
        )
        .await
        .unwrap();
    store
        .upsert_user(&UserRow {
            org_id: "acme".into(),
            user_id: "u1".into(),
            name: "Aiko".into(),
            sf_username: Some("agent@acme.example".into()),
        })
        .await
        .unwrap();
    let key = new_key();
    store
        .add_api_key(&key_hash(&key), "acme", "ingest", "t", Timestamp::now())
        .await
        .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(callsync::server::run(
        listener,
        AppState::new(store.clone()),
        std::future::pending(),
    ));

    let body = json!([
        {"id": "e1", "org": "acme", "call_id": "c1", "user": "u1", "occurred_at": "2026-11-24T01:00:00Z",
         "direction": "outbound", "customer_number": "0312345678", "type": "dialing"},
        {"id": "e2", "org": "acme", "call_id": "c1", "user": "u1", "occurred_at": "2026-11-24T01:03:00Z",
         "direction": "outbound", "customer_number": "0312345678", "type": "ended", "talk_seconds": 170, "outcome": "answered"},
    ])
    .to_string();
    let timestamp = Timestamp::now().as_second();
    let signature = sign(secret.as_bytes(), timestamp, body.as_bytes());
    let client = reqwest::Client::new();
    let post = |signature: String| {
        client
            .post(format!("{url}/v1/events"))
            .bearer_auth(&key)
            .header("x-callsync-timestamp", timestamp.to_string())
            .header("x-callsync-signature", signature)
            .body(body.clone())
            .send()
    };
    assert_eq!(post(signature.clone()).await.unwrap().status(), 202);
    // A wrong signature is logged as refused — without the signature.
    let wrong = sign(b"another secret", timestamp, body.as_bytes());
    assert_eq!(post(wrong.clone()).await.unwrap().status(), 401);

    let worker = Worker::new(store.clone(), WorkerConfig::default(), None);
    let round = worker.run_once().await.unwrap();
    assert_eq!(round.created, 1, "{round:?}");

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.len() > 1000,
        "TRACE logging captured little: is the subscriber installed?"
    );
    let key_body: String = credentials
        .private_key_pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .take(2)
        .collect();
    for (what, secret_text) in [
        ("the signing secret", secret.to_owned()),
        ("the API key", key.clone()),
        ("the signature", signature[3..].to_owned()),
        ("a wrong signature", wrong[3..].to_owned()),
        ("the JWT private key", key_body),
        ("the sandbox admin password", credentials.password.clone()),
    ] {
        assert!(!logs.contains(&secret_text), "{what} appears in the logs");
    }
    assert!(
        !logs.contains("access_token"),
        "an OAuth token answer appears in the logs"
    );
    assert!(
        !logs.contains("Bearer "),
        "an Authorization header appears in the logs"
    );
}
