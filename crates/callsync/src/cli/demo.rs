//! `callsync demo`: callsync on its embedded defaults, end to end, with
//! nothing but cargo. It starts sf-sandbox in-process with a generated org,
//! runs callsync (API and worker) on a fresh SQLite file, posts a scripted
//! day of calls through the signed ingest API to two organisations — one
//! per timing — and prints what became of them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use callsync_core::settings::{Settings, Timing};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use sf_sandbox::{GenerateSpec, NewUser, Sandbox, SandboxConfig};
use tokio::net::TcpListener;

use crate::api::{AppState, key_hash, new_key, new_signing_secret};
use crate::config::WorkerConfig;
use crate::crm::SalesforceConnection;
use crate::ingest::signature::sign;
use crate::store::{CallFilter, NewOrg, Store, SyncState, UserRow};
use crate::worker::Worker;

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Print the summary and exit instead of serving until stopped.
    pub once: bool,
    /// Where callsync's API listens; port 0 picks a free one.
    pub listen: SocketAddr,
}

/// The records of the sandbox the script calls, by role.
struct Customers {
    lead_id: String,
}

/// An organisation of the demo and the secrets its phone system holds.
struct DemoOrg {
    id: String,
    timing: Timing,
    secret: String,
    ingest_key: String,
    admin_key: String,
}

const AGENT_AIKO: &str = "aiko.sato@demo.example";
const AGENT_KEN: &str = "ken.ito@demo.example";

pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let sandbox = Sandbox::start(SandboxConfig {
        seed: 7,
        generate: Some(GenerateSpec::total(5_000, 7)),
        ..SandboxConfig::default()
    })
    .await
    .context("cannot start the in-process Salesforce sandbox")?;
    let customers = seed_customers(&sandbox)?;

    let folder = tempfile::Builder::new()
        .prefix("callsync-demo-")
        .tempdir()
        .context("cannot make a folder for the demo database")?;
    let database_path = folder.path().join("callsync.sqlite");
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", database_path.display())).await?;

    let mut orgs = Vec::new();
    for (id, timing) in [
        ("acme-end", Timing::CallEnd),
        ("acme-start", Timing::CallStart),
    ] {
        orgs.push(create_org(&store, &sandbox, id, timing).await?);
    }

    let listener = TcpListener::bind(options.listen).await.with_context(|| {
        format!(
            "cannot listen on {} (pass --listen 127.0.0.1:0 for any free port)",
            options.listen
        )
    })?;
    let api_url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait_for_stop = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let worker_config = WorkerConfig {
        poll_interval_ms: 50,
        backoff_base_ms: 200,
        backoff_max_ms: 2_000,
        ..WorkerConfig::default()
    };
    let worker = Worker::new(store.clone(), worker_config, Some(api_url.clone()));
    let worker_task = tokio::spawn(worker.run(wait_for_stop(stopped.clone())));
    let api_task = tokio::spawn(crate::server::run(
        listener,
        AppState::new(store.clone()),
        wait_for_stop(stopped.clone()),
    ));

    let http = reqwest::Client::new();
    let base = Timestamp::now() - SignedDuration::from_hours(3);
    for org in &orgs {
        let day = scripted_day(&org.id, base, &customers);
        // The day arrives in two deliveries: the calls, then the memos and
        // voice analyses that come later — with the first delivery sent
        // again, as phone systems do after a timeout.
        let (calls, later): (Vec<Value>, Vec<Value>) = day.into_iter().partition(|event| {
            !matches!(
                event["type"].as_str(),
                Some("memo_saved" | "analysis_completed")
            )
        });
        post(&http, &api_url, org, &calls).await?;
        wait_until_synced(&store, "calls").await?;
        post(&http, &api_url, org, &later).await?;
        post(&http, &api_url, org, &calls).await?;
    }
    wait_until_synced(&store, "memos and analyses").await?;

    print_summary(&store, &sandbox, &orgs, &api_url, started.elapsed()).await?;

    if !options.once {
        println!("Serving until Ctrl-C …");
        super::shutdown_signal().await;
    }
    let _ = stop.send(true);
    worker_task.await.context("the worker panicked")?;
    api_task.await.context("the API panicked")??;
    sandbox.shutdown().await;
    Ok(())
}

/// Known customers, with their numbers written the many ways people do, on
/// top of the generated org.
fn seed_customers(sandbox: &Sandbox) -> anyhow::Result<Customers> {
    let org = sandbox.org();
    let admin = org.admin_user();
    let insert = |object: &str, fields: Value| -> anyhow::Result<String> {
        org.insert(admin, object, fields)
            .map(|id| id.to_string())
            .map_err(|errors| anyhow::anyhow!("cannot seed a demo {object}: {errors:?}"))
    };
    for (username, first, last, phone) in [
        (AGENT_AIKO, "Aiko", "Sato", "050-1111-0001"),
        (AGENT_KEN, "Ken", "Ito", "050-1111-0002"),
    ] {
        let mut user = NewUser::named(username, first, last);
        user.phone = Some(phone.into());
        org.add_user(&user);
    }
    org.add_validation_rule(sf_sandbox::ValidationRule {
        object: "Task".into(),
        name: "No_Test_Calls".into(),
        condition: sf_sandbox::RuleCondition::Contains("Description".into(), "テスト".into()),
        error_message: "テスト通話は記録しないでください (do not log test calls)".into(),
        error_field: None,
    });
    let account = insert(
        "Account",
        json!({"Name": "株式会社サンプル商事", "Phone": "06 6666 7777"}),
    )?;
    insert(
        "Contact",
        json!({"LastName": "田中", "FirstName": "健", "Phone": "03-1234-5678", "AccountId": account}),
    )?;
    insert(
        "Account",
        json!({"LastName": "山田", "FirstName": "花子", "PersonMobilePhone": "０９０－１２３４－５６７８"}),
    )?;
    let lead_id = insert(
        "Lead",
        json!({"LastName": "鈴木", "FirstName": "一郎", "Company": "鈴木工業", "Phone": "(045) 222-3333"}),
    )?;
    Ok(Customers { lead_id })
}

async fn create_org(
    store: &Store,
    sandbox: &Sandbox,
    id: &str,
    timing: Timing,
) -> anyhow::Result<DemoOrg> {
    let settings = Settings {
        timing,
        ..Settings::default()
    };
    let secret = new_signing_secret();
    let now = Timestamp::now();
    store
        .create_org(
            &NewOrg {
                id: id.into(),
                name: format!("Acme ({id})"),
                signing_secret: secret.clone(),
                settings_json: serde_json::to_string(&settings)?,
                salesforce_json: Some(SalesforceConnection::of_sandbox(sandbox).to_stored_json()),
            },
            now,
        )
        .await?;
    for (user_id, name, sf_username) in [
        ("u1", "佐藤 愛子", Some(AGENT_AIKO)),
        ("u2", "伊藤 健", Some(AGENT_KEN)),
        // Not linked to Salesforce: the demo's failing case.
        ("u3", "新人 美香", None),
    ] {
        store
            .upsert_user(&UserRow {
                org_id: id.into(),
                user_id: user_id.into(),
                name: name.into(),
                sf_username: sf_username.map(str::to_owned),
            })
            .await?;
    }
    let ingest_key = new_key();
    let admin_key = new_key();
    store
        .add_api_key(
            &key_hash(&ingest_key),
            id,
            "ingest",
            "demo phone system",
            now,
        )
        .await?;
    store
        .add_api_key(&key_hash(&admin_key), id, "admin", "demo admin", now)
        .await?;
    Ok(DemoOrg {
        id: id.into(),
        timing,
        secret,
        ingest_key,
        admin_key,
    })
}

/// The day: every call kind (R2), predictive calls (R8), transfers, a
/// click-to-call (R3.1), an unknown number (R3.7), an extension call, memo
/// and analysis updates (R6), and a call that fails (R9).
fn scripted_day(org: &str, base: Timestamp, customers: &Customers) -> Vec<Value> {
    let mut events = Vec::new();
    let mut call_index = 0;
    let mut call = |name: &str,
                    user: Option<&str>,
                    direction: &str,
                    number: &str,
                    extra: Value,
                    steps: &[(i64, Value)]| {
        call_index += 1;
        let call_id = format!("{org}-{call_index:02}-{name}");
        let start = base + SignedDuration::from_mins(10 * call_index);
        for (index, (second, body)) in steps.iter().enumerate() {
            let mut event = json!({
                "id": format!("{call_id}-e{index}"),
                "org": org,
                "call_id": call_id,
                "occurred_at": (start + SignedDuration::from_secs(*second)).to_string(),
                "direction": direction,
                "user_number": "050-1111-0000",
                "customer_number": number,
            });
            if let Some(user) = user {
                event["user"] = json!(user);
            }
            for (key, value) in extra.as_object().into_iter().flatten() {
                event[key] = value.clone();
            }
            for (key, value) in body.as_object().into_iter().flatten() {
                event[key] = value.clone();
            }
            events.push(event);
        }
    };
    let ended = |talk: u32, outcome: &str| json!({"type": "ended", "talk_seconds": talk, "outcome": outcome});
    let none = json!({});

    call(
        "outgoing",
        Some("u1"),
        "outbound",
        "0312345678",
        none.clone(),
        &[
            (0, json!({"type": "dialing"})),
            (8, json!({"type": "answered"})),
            (188, ended(180, "answered")),
            (
                400,
                json!({"type": "memo_saved", "values": ["見積依頼", "要折返し"], "note": "金曜までに見積を送付"}),
            ),
            (
                900,
                json!({"type": "analysis_completed", "speech_recognition": "お世話になっております。見積の件で…", "summary": "見積依頼。金曜までに送付を約束。"}),
            ),
        ],
    );
    call(
        "incoming",
        Some("u2"),
        "inbound",
        "+81 90-1234-5678",
        none.clone(),
        &[
            (0, json!({"type": "ringing"})),
            (5, json!({"type": "answered"})),
            (100, ended(95, "answered")),
        ],
    );
    call(
        "missed-outgoing",
        Some("u2"),
        "outbound",
        "045-222-3333",
        none.clone(),
        &[(0, json!({"type": "dialing"})), (30, ended(0, "no_answer"))],
    );
    call(
        "missed-incoming",
        None,
        "inbound",
        "06-6666-7777",
        none.clone(),
        &[(0, json!({"type": "ringing"})), (25, ended(0, "no_answer"))],
    );
    call(
        "voicemail",
        Some("u1"),
        "inbound",
        "(03) 1234 5678",
        none.clone(),
        &[(0, json!({"type": "ringing"})), (40, ended(0, "voicemail"))],
    );
    call(
        "transfer-internal",
        Some("u1"),
        "inbound",
        "03-1234-5678",
        none.clone(),
        &[
            (0, json!({"type": "ringing"})),
            (4, json!({"type": "answered"})),
            (
                60,
                json!({"type": "transferred", "kind": "internal", "destination": "203"}),
            ),
            (300, ended(296, "answered")),
        ],
    );
    call(
        "auto-forward",
        Some("u2"),
        "inbound",
        "090-1234-5678",
        none.clone(),
        &[
            (0, json!({"type": "ringing"})),
            (
                15,
                json!({"type": "transferred", "kind": "auto_forward", "destination": "050-1111-0002"}),
            ),
            (20, json!({"type": "answered"})),
            (140, ended(120, "answered")),
        ],
    );
    call(
        "predictive-talked",
        Some("u2"),
        "outbound",
        "045-222-3333",
        json!({"predictive": {"campaign": "autumn"}}),
        &[
            (0, json!({"type": "dialing"})),
            (12, json!({"type": "answered"})),
            (130, ended(118, "answered")),
        ],
    );
    call(
        "predictive-no-answer",
        None,
        "outbound",
        "03-9999-8888",
        json!({"predictive": {"campaign": "autumn"}}),
        &[(0, json!({"type": "dialing"})), (30, ended(0, "no_answer"))],
    );
    call(
        "click-to-call",
        Some("u1"),
        "outbound",
        "080-0000-1111",
        json!({"click_to_call": {"record_id": customers.lead_id}}),
        &[
            (0, json!({"type": "dialing"})),
            (6, json!({"type": "answered"})),
            (70, ended(64, "answered")),
        ],
    );
    call(
        "unknown-number",
        Some("u2"),
        "outbound",
        "03-5555-4444",
        none.clone(),
        &[
            (0, json!({"type": "dialing"})),
            (9, json!({"type": "answered"})),
            (69, ended(60, "answered")),
        ],
    );
    call(
        "extension",
        Some("u1"),
        "extension",
        "201",
        none.clone(),
        &[
            (0, json!({"type": "dialing"})),
            (3, json!({"type": "answered"})),
            (33, ended(30, "answered")),
        ],
    );
    // The sandbox has a validation rule that refuses Tasks mentioning a test call.
    call(
        "validation-rule",
        Some("u1"),
        "outbound",
        "03-1234-5678",
        none.clone(),
        &[
            (0, json!({"type": "dialing"})),
            (7, json!({"type": "answered"})),
            (67, ended(60, "answered")),
            (
                200,
                json!({"type": "memo_saved", "values": [], "note": "テスト通話"}),
            ),
        ],
    );
    call(
        "not-linked-user",
        Some("u3"),
        "outbound",
        "03-1234-5678",
        none,
        &[
            (0, json!({"type": "dialing"})),
            (7, json!({"type": "answered"})),
            (97, ended(90, "answered")),
        ],
    );
    events
}

async fn post(
    http: &reqwest::Client,
    api_url: &str,
    org: &DemoOrg,
    events: &[Value],
) -> anyhow::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let body = serde_json::to_string(events)?;
    let timestamp = Timestamp::now().as_second();
    let response = http
        .post(format!("{api_url}/v1/events"))
        .bearer_auth(&org.ingest_key)
        .header("content-type", "application/json")
        .header("x-callsync-timestamp", timestamp.to_string())
        .header(
            "x-callsync-signature",
            sign(org.secret.as_bytes(), timestamp, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .context("cannot reach callsync's own API")?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(
        status.as_u16() == 202,
        "ingest refused the demo's events ({status}): {answer}"
    );
    Ok(())
}

/// Waits, with a spinner, until the worker has nothing left that is due.
async fn wait_until_synced(store: &Store, what: &str) -> anyhow::Result<()> {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.enable_steady_tick(Duration::from_millis(100));
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let depth = store.queue_depth().await?;
        if depth == 0 {
            spinner.finish_and_clear();
            return Ok(());
        }
        spinner.set_message(format!("syncing {what}: {depth} calls in the queue"));
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the demo's calls did not sync within 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn print_summary(
    store: &Store,
    sandbox: &Sandbox,
    orgs: &[DemoOrg],
    api_url: &str,
    elapsed: Duration,
) -> anyhow::Result<()> {
    let tasks = sandbox.org().records("Task");
    println!();
    println!(
        "callsync demo — a day of calls, synced to an in-process Salesforce in {:.1} s",
        elapsed.as_secs_f64()
    );
    for org in orgs {
        let mut filter = CallFilter::for_org(&org.id);
        filter.limit = 1000;
        let calls = store.calls(&filter).await?;
        let mut states: BTreeMap<&str, usize> = BTreeMap::new();
        let mut links: BTreeMap<String, usize> = BTreeMap::new();
        for call in &calls {
            *states.entry(call.sync_state.as_str()).or_default() += 1;
            if call.sync_state == SyncState::Synced {
                let object = call
                    .linked()
                    .ok()
                    .flatten()
                    .and_then(|found| serde_json::to_value(found).ok())
                    .and_then(|linked| linked["object"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "unlinked".into());
                *links.entry(object).or_default() += 1;
            }
        }
        let written = tasks
            .iter()
            .filter(|task| {
                task.get("CallObject")
                    .and_then(Value::as_str)
                    .is_some_and(|id| id.starts_with(&format!("{}-", org.id)))
            })
            .count();
        println!();
        println!(
            "Organisation {} (timing {})",
            org.id,
            serde_json::to_value(org.timing)?.as_str().unwrap_or("?")
        );
        println!("  calls:  {}  ({})", calls.len(), join(&states));
        println!("  Tasks in Salesforce: {written}");
        println!("  linked: {}", join(&links));
        println!("  calls, oldest first:");
        for call in calls.iter().rev() {
            println!(
                "    {:<34} {:<22} {:<8} {}",
                call.call_id,
                call.summary.kind.as_deref().unwrap_or("-"),
                call.sync_state.as_str(),
                call.task_id.as_deref().unwrap_or("")
            );
        }
        let errors = store.errors(&org.id, true, 20).await?;
        if errors.is_empty() {
            println!("  errors: none");
        } else {
            println!("  errors (each can be retried once its cause is fixed):");
            for error in errors {
                println!(
                    "    #{} {} [{}] {}: {}",
                    error.id, error.call_id, error.step, error.code, error.message
                );
                println!("       remedy: {}", error.remedy);
            }
        }
        println!("  admin key: {}", org.admin_key);
        // A one-time link per organisation: the console shows the same
        // calls, Tasks and errors in the browser.
        let link =
            crate::console::session::new_login_link(store, &org.id, Timestamp::now()).await?;
        println!("  console: {api_url}{link}");
    }
    let first = &orgs[0];
    println!();
    println!("Look around:");
    println!(
        "  admin console      {api_url}/console/  (sign in with an organisation's console link above;"
    );
    println!("                     links work once, for 15 minutes)");
    println!("  callsync API       {api_url}");
    println!(
        "    curl -H 'Authorization: Bearer {}' {api_url}/v1/calls",
        first.admin_key
    );
    println!(
        "    curl -H 'Authorization: Bearer {}' {api_url}/v1/errors",
        first.admin_key
    );
    println!("  Salesforce sandbox {}", sandbox.url());
    println!("    curl {}/__sandbox/dump?object=Task", sandbox.url());
    Ok(())
}

fn join<K: std::fmt::Display>(counts: &BTreeMap<K, usize>) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .map(|(key, count)| format!("{key} {count}"))
        .collect::<Vec<_>>()
        .join(" · ")
}
