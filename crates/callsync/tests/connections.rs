//! Each agent's own Salesforce connection (the OAuth 2.0 web-server flow, R14 "as each
//! user") end to end against an in-process sf-sandbox: users connect through the console's
//! agent page, the worker writes each Task with that user's refresh token, a revoked token
//! makes the user's calls wait (R16) without an error-log entry, and connecting again syncs
//! them, each as exactly one Task.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use callsync::api::AppState;
use callsync::config::WorkerConfig;
use callsync::store::{Store, SyncState};
use callsync::test_support::{SandboxOrg, TestDatabase, add_org, ingest_json, link_user};
use callsync::worker::Worker;
use jiff::Timestamp;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use sf_sandbox::{NewUser, Sandbox};

const AGENT: &str = "agent@acme.example";

/// Connects Salesforce user `username` to organisation `org` the way an agent does: the
/// console's button, Salesforce's approval (the sandbox approves `login_hint` at once),
/// the callback. Answers the callback's status and page.
async fn connect(
    http: &reqwest::Client,
    url: &str,
    org: &str,
    username: &str,
) -> (StatusCode, String) {
    let page = http
        .get(format!("{url}/console/connect/{org}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("agent-connect-button"));
    let start = http
        .post(format!("{url}/console/connect/{org}"))
        .form(&[("username", username)])
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let authorize = start.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        authorize.contains("/services/oauth2/authorize"),
        "{authorize}"
    );
    assert!(authorize.contains("code_challenge="), "PKCE: {authorize}");
    let cookie = start.headers()[SET_COOKIE].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let approved = http.get(&authorize).send().await.unwrap();
    let callback = approved.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        callback.starts_with(&format!("{url}/console/connected?")),
        "{callback}"
    );
    let done = http
        .get(&callback)
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    let status = done.status();
    (status, done.text().await.unwrap())
}

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

async fn post_call(store: &Store, call: &str) {
    let events = [
        event(&format!("{call}-1"), call, 0, json!({"type": "dialing"})),
        event(&format!("{call}-2"), call, 1, json!({"type": "answered"})),
        event(
            &format!("{call}-3"),
            call,
            5,
            json!({"type": "ended", "talk_seconds": 60, "outcome": "answered"}),
        ),
    ];
    ingest_json(store, "acme", &events).await;
}

/// Runs worker rounds until a round claims nothing.
async fn sync(worker: &Worker) {
    for _ in 0..20 {
        if worker.run_once().await.unwrap().claimed == 0 {
            return;
        }
    }
}

fn tasks_of(sandbox: &Sandbox, call: &str) -> Vec<Value> {
    sandbox
        .org()
        .records("Task")
        .into_iter()
        .map(Value::Object)
        .filter(|task| task["CallObject"] == call)
        .collect()
}

async fn r16_run(db: &TestDatabase) {
    let SandboxOrg { sandbox, .. } = SandboxOrg::start().await;
    let agent_id = sandbox
        .org()
        .add_user(&NewUser::named(AGENT, "Aiko", "Sato"))
        .to_string();
    let credentials = sandbox.credentials().clone();
    let store = db.store().await;
    let connection = json!({
        "login_url": sandbox.url(),
        "consumer_key": credentials.client_id,
        "flow": "web_server",
        "consumer_secret": credentials.client_secret,
        "default_username": credentials.username,
    });
    add_org(&store, "acme", "{}", &connection).await;
    link_user(&store, "acme", "u1", "Aiko Sato", AGENT).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(callsync::server::run(
        listener,
        AppState::new(store.clone()),
        async {
            let _ = stopped.await;
        },
    ));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let config = WorkerConfig {
        backoff_base_ms: 1,
        backoff_max_ms: 5,
        ..WorkerConfig::default()
    };
    let worker = Worker::new(store.clone(), config, None);

    // A user nobody linked is refused and nothing is kept.
    let stranger =
        sandbox
            .org()
            .add_user(&NewUser::named("stranger@acme.example", "Sam", "Stranger"));
    assert!(!stranger.to_string().is_empty());
    let (status, _) = connect(&http, &url, "acme", "stranger@acme.example").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(store.user_connections("acme").await.unwrap().is_empty());

    // Before the agent connects, their call waits (R16): no Task, no error-log entry.
    let (status, page) = connect(&http, &url, "acme", &credentials.username).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    post_call(&store, "c0").await;
    sync(&worker).await;
    let waiting = store.call("acme", "c0").await.unwrap().unwrap();
    assert_eq!(waiting.wait_reason.as_deref(), Some("connection_revoked"));
    assert!(tasks_of(&sandbox, "c0").is_empty());

    // The agent connects: the waiting call runs at once, written as the agent (R14).
    let (status, page) = connect(&http, &url, "acme", AGENT).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(AGENT), "{page}");
    sync(&worker).await;
    let c0 = tasks_of(&sandbox, "c0");
    assert_eq!(c0.len(), 1, "{c0:#?}");
    assert_eq!(
        c0[0]["CreatedById"],
        agent_id.as_str(),
        "R14: the agent's own token"
    );
    post_call(&store, "c1").await;
    sync(&worker).await;
    let c1 = tasks_of(&sandbox, "c1");
    assert_eq!(c1.len(), 1);
    assert_eq!(c1[0]["CreatedById"], agent_id.as_str());

    // The agent's access is revoked in Salesforce: the next call waits, it does not fail.
    // The worker's cached access token dies with the refresh token it came from, so the
    // refused renewal is what callsync sees.
    assert_eq!(sandbox.revoke_oauth_of(AGENT), 1);
    post_call(&store, "c2").await;
    sync(&worker).await;
    let c2 = store.call("acme", "c2").await.unwrap().unwrap();
    assert_eq!(c2.sync_state, SyncState::Waiting, "{c2:?}");
    assert_eq!(c2.wait_reason.as_deref(), Some("connection_revoked"));
    assert!(tasks_of(&sandbox, "c2").is_empty());
    assert!(
        store.errors("acme", true, 10).await.unwrap().is_empty(),
        "R16: a revoked connection is not an error-log entry"
    );
    let waiting = store.waiting(Some("acme"), Timestamp::now()).await.unwrap();
    assert!(
        waiting
            .iter()
            .any(|count| count.reason == "connection_revoked" && count.calls == 1),
        "{waiting:?}"
    );
    let connections = store.user_connections("acme").await.unwrap();
    let refused = connections
        .iter()
        .find(|c| c.sf_username == AGENT)
        .and_then(|c| c.refused.clone())
        .expect("the refusal is noted for the admin");
    assert!(refused.1.contains("invalid_grant"), "{refused:?}");

    // The admin sees it: the refused connection on the users page and the overview, and
    // the waiting call by its reason on the errors page.
    let link = callsync::console::session::new_login_link(&store, "acme", Timestamp::now())
        .await
        .unwrap();
    let signed_in = http
        .post(format!("{url}/console/signin"))
        .form(&[("token", link.rsplit('/').next().unwrap())])
        .send()
        .await
        .unwrap();
    let session = signed_in.headers()[SET_COOKIE].to_str().unwrap();
    let session = format!("{}; callsync_lang=en", session.split(';').next().unwrap());
    let page = |path: &'static str| {
        let request = http
            .get(format!("{url}{path}"))
            .header(COOKIE, session.clone());
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let users = page("/console/users").await;
    assert!(users.contains("data-connection=\"refused\""), "{users}");
    assert!(users.contains("id=\"connections-failing\""), "{users}");
    assert!(users.contains("/console/connect/acme"), "{users}");
    let overview = page("/console/").await;
    assert!(
        overview.contains("id=\"connections-refused\""),
        "{overview}"
    );
    let errors = page("/console/errors").await;
    assert!(
        errors.contains("data-reason=\"connection_revoked\""),
        "{errors}"
    );
    assert!(
        errors.contains("A user must connect to Salesforce (again)"),
        "{errors}"
    );

    // The agent connects again: the call is synced at once, as exactly one Task.
    let (status, _) = connect(&http, &url, "acme", AGENT).await;
    assert_eq!(status, StatusCode::OK);
    sync(&worker).await;
    let c2 = tasks_of(&sandbox, "c2");
    assert_eq!(c2.len(), 1, "{c2:#?}");
    assert_eq!(c2[0]["CreatedById"], agent_id.as_str());
    let synced = store.call("acme", "c2").await.unwrap().unwrap();
    assert_eq!(synced.sync_state, SyncState::Synced);
    assert_eq!(tasks_of(&sandbox, "c0").len(), 1);
    assert_eq!(tasks_of(&sandbox, "c1").len(), 1);
    assert!(
        store.user_connections("acme").await.unwrap()[0]
            .refused
            .is_none()
    );
}

callsync::on_both_backends! {
    async fn r16_a_revoked_user_connection_makes_calls_wait_and_connecting_again_syncs_them_once(db: &TestDatabase) {
        r16_run(db).await;
    }
}
