//! The admin console in a real browser (issue 13): Debian's `chromium`,
//! headless, driven by `playwright-core` from npm (`tests/browser/console.cjs`)
//! against a running callsync (API, console and sync worker on port 0, a
//! fresh SQLite file) and an in-process sf-sandbox. The script signs in
//! with a one-time link, connects Salesforce and tests the connection,
//! links a user, saves settings with a wrong custom field (refused beside
//! the field) and then right ones (the preview shows the Task), posts
//! signed events and sees the call with its Task link, makes a sandbox
//! validation rule fail a call, sees the error, removes the rule and
//! retries from the console, switches to the web-server flow where the
//! default user and an agent each connect with a button (the agent's call is
//! then written as the agent), sees the organisation's API usage on the
//! overview (R14, as `GET /v1/org` reports it), switches the write mode to
//! one integration user (R14; the next call is written by that user), checks
//! CSRF and the cookie's flags, and signs out. It takes a screenshot of each page (the settings page in both
//! languages) into `CALLSYNC_TEST_CONSOLE_SCREENSHOTS` (`docs/console/` to
//! refresh the README's), or a temporary folder.
//!
//! `scripts/test` installs chromium (Debian) and playwright-core (npm, under
//! `.tools/`) and sets `CALLSYNC_TEST_CHROMIUM` and
//! `CALLSYNC_TEST_PLAYWRIGHT_NODE_PATH` (`CALLSYNC_TEST_*`: never read as
//! settings by `callsync`'s configuration); without them the test says it is
//! skipped, except in CI (`CALLSYNC_REQUIRE_ALL=1`), where that fails.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use std::path::{Path, PathBuf};
use std::process::Command;

use callsync::api::{AppState, key_hash, new_key};
use callsync::config::WorkerConfig;
use callsync::console::session::new_login_link;
use callsync::store::NewOrg;
use callsync::test_support::{SandboxOrg, TestDatabase};
use callsync::worker::Worker;
use jiff::Timestamp;
use serde_json::json;

/// What the browser needs, or why it cannot run here.
fn browser_tools() -> Result<(PathBuf, PathBuf), String> {
    let chromium = std::env::var_os("CALLSYNC_TEST_CHROMIUM")
        .map(PathBuf::from)
        .ok_or("CALLSYNC_TEST_CHROMIUM is not set (scripts/test installs Debian's chromium)")?;
    let node_path = std::env::var_os("CALLSYNC_TEST_PLAYWRIGHT_NODE_PATH")
        .map(PathBuf::from)
        .ok_or(
            "CALLSYNC_TEST_PLAYWRIGHT_NODE_PATH is not set (scripts/test installs playwright-core)",
        )?;
    if !chromium.exists() {
        return Err(format!("{} does not exist", chromium.display()));
    }
    if !node_path.join("playwright-core").exists() {
        return Err(format!("no playwright-core under {}", node_path.display()));
    }
    Ok((chromium, node_path))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_connects_configures_and_watches_callsync_in_chromium() {
    let (chromium, node_path) = match browser_tools() {
        Ok(tools) => tools,
        Err(why) => {
            assert!(
                std::env::var_os("CALLSYNC_REQUIRE_ALL").is_none(),
                "the browser test cannot run: {why}; run the tests through scripts/test"
            );
            eprintln!("skipped: {why}");
            return;
        }
    };

    let SandboxOrg { sandbox, .. } = SandboxOrg::start().await;
    let credentials = sandbox.credentials().clone();
    // An agent who connects their own Salesforce user (web-server flow, R14).
    let agent = "agent@acme.example";
    let agent_id = sandbox
        .org()
        .add_user(&sf_sandbox::NewUser::named(agent, "Aiko", "Sato"))
        .to_string();
    let http = reqwest::Client::new();
    // Task fields for the custom-field mapping (R5.4): two of the right
    // types, one of a wrong type for the memo.
    for field in [
        json!({"object": "Task", "name": "CallEnded__c", "label": "Call ended", "kind": "DateTime"}),
        json!({"object": "Task", "name": "CallMemo__c", "label": "Call memo",
               "kind": {"MultiPicklist": {"values": ["見込みあり", "再架電"]}}}),
        json!({"object": "Task", "name": "MemoText__c", "label": "Memo text",
               "kind": {"Text": {"length": 255}}}),
    ] {
        let response = http
            .post(format!("{}/__sandbox/custom-fields", sandbox.url()))
            .json(&field)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{field}");
    }

    let db = TestDatabase::sqlite();
    let store = db.store().await;
    let now = Timestamp::now();
    let secret = "whsec_browser";
    store
        .create_org(
            &NewOrg {
                id: "acme".into(),
                name: "Acme 株式会社".into(),
                signing_secret: secret.into(),
                settings_json: "{}".into(),
                salesforce_json: None,
            },
            now,
        )
        .await
        .unwrap();
    let key = new_key();
    store
        .add_api_key(&key_hash(&key), "acme", "ingest,admin", "browser", now)
        .await
        .unwrap();
    // A second organisation with a call, for the 404 check.
    store
        .create_org(
            &NewOrg {
                id: "globex".into(),
                name: "Globex".into(),
                signing_secret: "whsec_other".into(),
                settings_json: "{}".into(),
                salesforce_json: None,
            },
            now,
        )
        .await
        .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    // The sandbox answers on loopback http: a development connection (issue 16).
    let mut state = AppState::new(store.clone());
    state.allow_loopback_salesforce = true;
    tokio::spawn(callsync::server::run(
        listener,
        state,
        wait(stopped.clone()),
    ));
    let worker = Worker::new(
        store.clone(),
        WorkerConfig {
            poll_interval_ms: 50,
            backoff_base_ms: 100,
            backoff_max_ms: 500,
            ..WorkerConfig::default()
        },
        Some(url.clone()),
    );
    let worker = tokio::spawn(worker.run(wait(stopped.clone())));

    let work = tempfile::tempdir().unwrap();
    let key_file = work.path().join("callsync-sandbox.key.pem");
    std::fs::write(&key_file, &credentials.private_key_pem).unwrap();
    let screenshots = std::env::var_os("CALLSYNC_TEST_CONSOLE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| work.path().join("screenshots"));
    std::fs::create_dir_all(&screenshots).unwrap();
    let link = new_login_link(&store, "acme", now).await.unwrap();
    let other_link = new_login_link(&store, "globex", now).await.unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/console.cjs");

    let envs = [
        ("CALLSYNC_URL", url.clone()),
        ("CALLSYNC_LOGIN_LINK", format!("{url}{link}")),
        ("CALLSYNC_OTHER_LOGIN_LINK", format!("{url}{other_link}")),
        ("CALLSYNC_API_KEY", key.clone()),
        ("CALLSYNC_SIGNING_SECRET", secret.to_owned()),
        ("SANDBOX_URL", sandbox.url()),
        ("SANDBOX_CONSUMER_KEY", credentials.client_id.clone()),
        ("SANDBOX_USERNAME", credentials.username.clone()),
        ("SANDBOX_CONSUMER_SECRET", credentials.client_secret.clone()),
        ("SANDBOX_AGENT", agent.to_owned()),
        ("SANDBOX_KEY_FILE", key_file.display().to_string()),
        ("CHROMIUM", chromium.display().to_string()),
        ("SCREENSHOTS", screenshots.display().to_string()),
        ("NODE_PATH", node_path.display().to_string()),
    ];
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .envs(envs)
            .output()
            .expect("cannot run node")
    })
    .await
    .unwrap();
    let _ = stop.send(true);
    worker.await.unwrap();
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{report}");
    assert!(
        output.status.success(),
        "the browser script failed:\n{report}"
    );
    assert!(
        report.contains("console: every step passed"),
        "the script did not finish:\n{report}"
    );
    // The agent's call was written with the agent's own connection (R14 "as each user").
    let agents_task: Vec<_> = sandbox
        .org()
        .records("Task")
        .into_iter()
        .filter(|task| task["CallObject"] == "c-3")
        .collect();
    assert_eq!(agents_task.len(), 1, "{agents_task:?}");
    assert_eq!(agents_task[0]["CreatedById"], agent_id.as_str());
    // The admin switched to one integration user in the browser (R14): the stored settings
    // say so, and the agent's next call was written by that user, not the agent.
    let stored: serde_json::Value =
        serde_json::from_str(&store.org("acme").await.unwrap().unwrap().settings_json).unwrap();
    assert_eq!(
        stored["writing"],
        json!({
            "mode": "integration_user",
            "integration_username": credentials.username,
            "coalesce_seconds": 15
        }),
        "{stored}"
    );
    let integration_task: Vec<_> = sandbox
        .org()
        .records("Task")
        .into_iter()
        .filter(|task| task["CallObject"] == "c-4")
        .collect();
    assert_eq!(integration_task.len(), 1, "{integration_task:?}");
    assert_eq!(
        integration_task[0]["CreatedById"],
        sandbox.org().admin_user().to_string().as_str(),
        "R14: the integration user writes"
    );
    for page in [
        "agent-connect",
        "signin",
        "overview",
        "calls",
        "call",
        "contacts",
        "errors",
        "users",
        "settings-ja",
        "settings-en",
        "salesforce",
    ] {
        assert!(
            screenshots.join(format!("{page}.png")).exists(),
            "no screenshot of {page}"
        );
    }
}
