//! What callsync's benchmarks share: their flags, the machine they ran on, percentiles and
//! tables, fresh databases, an organisation connected to a sandbox, the API on a free port,
//! signed event posts and realistic calls.
//!
//! Each benchmark is its own binary (`harness = false`) and compiles this module on its
//! own, so not every benchmark uses every helper.
#![allow(dead_code)] // each bench binary uses a different part of this module

use std::collections::BTreeMap;
use std::str::FromStr as _;
use std::time::Duration;

use anyhow::Context as _;
use callsync::api::{AppState, key_hash, new_key, new_signing_secret};
use callsync::ingest::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use callsync::store::{NewOrg, Store, UserRow};
use callsync_core::settings::Settings;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use sf_sandbox::{NewUser, Sandbox};
use sqlx::Connection as _;

// ----- flags -----------------------------------------------------------------------------

/// The benchmark's command line: `--name value` flags after `cargo bench … --`.
#[derive(Debug, Clone)]
pub struct Flags {
    arguments: Vec<String>,
}

impl Flags {
    pub fn from_env() -> Flags {
        Flags {
            arguments: std::env::args().skip(1).collect(),
        }
    }

    /// Whether `cargo bench` started this binary (it passes `--bench`). Started any other
    /// way (`cargo test --benches`, or the binary by hand) a benchmark runs a smoke version
    /// that proves it works in seconds instead of measuring for minutes. `scripts/test`
    /// runs neither: the benchmarks are run by hand (BENCHMARKS.md).
    pub fn measuring(&self) -> bool {
        self.arguments.iter().any(|argument| argument == "--bench")
    }

    pub fn has(&self, name: &str) -> bool {
        self.arguments.iter().any(|argument| argument == name)
    }

    pub fn text(&self, name: &str) -> Option<String> {
        self.arguments
            .iter()
            .position(|argument| argument == name)
            .and_then(|position| self.arguments.get(position + 1))
            .cloned()
    }

    /// The flag's value, or `default` (the full size under `cargo bench`, else `smoke`).
    pub fn number<T: std::str::FromStr + Copy>(&self, name: &str, full: T, smoke: T) -> T {
        self.text(name)
            .and_then(|value| value.parse().ok())
            .unwrap_or(if self.measuring() { full } else { smoke })
    }
}

// ----- the machine and the figures -------------------------------------------------------

/// Lines saying when and where the figures were taken: the date, the cores, the CPU, the
/// memory, the compiler, the build, and how busy the machine was when the run began (the
/// figures of a shared machine are noisy, and this says so).
pub fn machine() -> Vec<String> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find(|line| line.starts_with("MemTotal:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kilobytes| kilobytes.parse::<f64>().ok())
        .map(|kilobytes| kilobytes / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    // `cargo bench` runs the benchmark in the package's folder, so rustup picks the same
    // toolchain for `rustc` as it did for cargo.
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|version| version.trim().to_owned())
        .filter(|version| !version.is_empty())
        .unwrap_or_else(|| "rustc unknown".to_owned());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|line| line.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    vec![
        format!(
            "{} UTC · {cores} cores · {model} · {memory_gib:.1} GiB RAM",
            Timestamp::now().strftime("%Y-%m-%d %H:%M")
        ),
        format!(
            "{rustc} · {} build · load average {load} at start",
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "optimised (release)"
            }
        ),
    ]
}

/// Prints the benchmark's title and the machine.
pub fn header(title: &str, flags: &Flags) {
    println!("{title}");
    for line in machine() {
        println!("machine: {line}");
    }
    if !flags.measuring() {
        println!(
            "(smoke run: not started by `cargo bench`, so sizes are tiny and the figures mean nothing)"
        );
    }
    println!();
}

/// The resident memory of process `pid` (this one when `None`), in MB, from
/// `/proc/<pid>/status` `VmRSS`.
pub fn resident_megabytes(pid: Option<u32>) -> f64 {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kilobytes| kilobytes.parse::<f64>().ok())
        .map(|kilobytes| kilobytes / 1024.0)
        .unwrap_or(0.0)
}

/// The machine's CPU time so far from `/proc/stat`: (busy, total) in clock ticks, all
/// cores together. Two readings give how busy the machine was between them, whoever used
/// it (this process, a database server, or someone else's build).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTicks {
    busy: u64,
    total: u64,
}

impl CpuTicks {
    pub fn now() -> CpuTicks {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let ticks: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|field| field.parse().ok())
            .collect();
        let total: u64 = ticks.iter().sum();
        // user nice system idle iowait irq softirq steal …: idle and iowait are not busy.
        let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
        CpuTicks {
            busy: total.saturating_sub(idle),
            total,
        }
    }

    /// The share of all cores that was busy since `self`, as a percentage.
    pub fn busy_since(self) -> f64 {
        let now = CpuTicks::now();
        let total = now.total.saturating_sub(self.total);
        if total == 0 {
            return 0.0;
        }
        100.0 * now.busy.saturating_sub(self.busy) as f64 / total as f64
    }
}

/// The `p`-th percentile (0–100) of `samples` by the nearest-rank method; zero when empty.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn millis(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// A table printed with aligned columns: the first left-aligned, the rest right-aligned.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headings: &[&str]) -> Table {
        Table {
            rows: vec![headings.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self) {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|column| {
                self.rows
                    .iter()
                    .filter_map(|row| row.get(column))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for (index, row) in self.rows.iter().enumerate() {
            let line: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(column, cell)| {
                    if column == 0 {
                        format!("{cell:<width$}", width = widths[column])
                    } else {
                        format!("{cell:>width$}", width = widths[column])
                    }
                })
                .collect();
            println!("  {}", line.join("  "));
            if index == 0 {
                let rule: usize = widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1);
                println!("  {}", "-".repeat(rule));
            }
        }
    }
}

// ----- databases -------------------------------------------------------------------------

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database that exists for one measurement: a SQLite file in a temporary folder, or a
/// fresh database on the PostgreSQL server of `CALLSYNC_TEST_POSTGRES_URL`, dropped again
/// by [`BenchDatabase::drop_now`].
#[derive(Debug)]
pub struct BenchDatabase {
    pub url: String,
    /// The SQLite file's folder, held so it lives as long as the database.
    _folder: Option<tempfile::TempDir>,
    /// The PostgreSQL server's administrative URL and this database's name.
    postgres: Option<(String, String)>,
}

/// Which database a measurement runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }

    /// The back ends named by `--backend sqlite|postgres|both` (default `default`).
    pub fn chosen(flags: &Flags, default: &str) -> anyhow::Result<Vec<Backend>> {
        match flags.text("--backend").as_deref().unwrap_or(default) {
            "sqlite" => Ok(vec![Backend::Sqlite]),
            "postgres" | "postgresql" => Ok(vec![Backend::Postgres]),
            "both" => Ok(vec![Backend::Sqlite, Backend::Postgres]),
            other => anyhow::bail!("--backend {other:?}: use sqlite, postgres or both"),
        }
    }
}

impl BenchDatabase {
    pub async fn create(backend: Backend, label: &str) -> anyhow::Result<Option<BenchDatabase>> {
        match backend {
            Backend::Sqlite => BenchDatabase::sqlite(label).map(Some),
            Backend::Postgres => BenchDatabase::postgres(label).await,
        }
    }

    pub fn sqlite(label: &str) -> anyhow::Result<BenchDatabase> {
        let folder = tempfile::Builder::new()
            .prefix("callsync-bench-")
            .tempdir()
            .context("cannot make a temporary folder for the benchmark database")?;
        let url = format!(
            "sqlite://{}?mode=rwc",
            folder.path().join(format!("{label}.sqlite")).display()
        );
        Ok(BenchDatabase {
            url,
            _folder: Some(folder),
            postgres: None,
        })
    }

    /// A fresh PostgreSQL database, or `None` after saying why when no server answers.
    pub async fn postgres(label: &str) -> anyhow::Result<Option<BenchDatabase>> {
        let admin_url = std::env::var("CALLSYNC_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(connection) => connection,
            Err(error) => {
                println!(
                    "PostgreSQL: skipped — no server answers at {admin_url} ({error}); \
                     set CALLSYNC_TEST_POSTGRES_URL to measure it"
                );
                return Ok(None);
            }
        };
        let name = format!(
            "callsync_bench_{label}_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        let (server, _) = admin_url
            .rsplit_once('/')
            .context("CALLSYNC_TEST_POSTGRES_URL must end in a database name")?;
        Ok(Some(BenchDatabase {
            url: format!("{server}/{name}"),
            _folder: None,
            postgres: Some((admin_url, name)),
        }))
    }

    /// Drops a PostgreSQL database (a SQLite file goes with its folder).
    pub async fn drop_now(self) {
        if let Some((admin_url, name)) = &self.postgres
            && let Ok(mut admin) = sqlx::PgConnection::connect(admin_url).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await;
        }
    }
}

// ----- organisations, the API and signed posts -------------------------------------------

/// An organisation in callsync's store, connected to a sandbox, and what its phone system
/// and its admin hold to use the API.
#[derive(Debug, Clone)]
pub struct BenchOrg {
    pub id: String,
    pub secret: String,
    pub ingest_key: String,
    pub admin_key: String,
    /// callsync user ids, each linked to a Salesforce user of the sandbox.
    pub users: Vec<String>,
}

/// How callsync reaches a sandbox (its stored connection).
#[derive(Debug, Clone)]
pub struct SandboxLink {
    pub url: String,
    pub client_id: String,
    pub private_key_pem: String,
    /// The sandbox's admin: the organisation's default Salesforce user.
    pub username: String,
}

impl SandboxLink {
    pub fn of(sandbox: &Sandbox) -> SandboxLink {
        let credentials = sandbox.credentials();
        SandboxLink {
            url: sandbox.url(),
            client_id: credentials.client_id.clone(),
            private_key_pem: credentials.private_key_pem.clone(),
            username: credentials.username.clone(),
        }
    }

    /// The connection JSON callsync stores for an organisation.
    pub fn connection_json(&self) -> String {
        json!({
            "login_url": self.url,
            "consumer_key": self.client_id,
            "private_key_pem": self.private_key_pem,
            "default_username": self.username,
        })
        .to_string()
    }
}

/// Creates organisation `id` with `agents` users, each linked to a new user of `sandbox`
/// (or not connected to Salesforce at all when `sandbox` is `None`).
pub async fn create_org(
    store: &Store,
    sandbox: Option<&Sandbox>,
    id: &str,
    settings: &Settings,
    agents: usize,
) -> anyhow::Result<BenchOrg> {
    let link = sandbox.map(SandboxLink::of);
    let mut org = create_org_linked(store, link.as_ref(), id, settings).await?;
    for index in 0..agents {
        let user_id = format!("u{index}");
        let username = format!("agent{index}.{id}@bench.example");
        if let Some(sandbox) = sandbox {
            sandbox.org().add_user(&NewUser::named(
                &username,
                "Agent",
                &format!("{id} {index}"),
            ));
        }
        store
            .upsert_user(&UserRow {
                org_id: id.to_owned(),
                user_id: user_id.clone(),
                name: format!("Agent {index}"),
                sf_username: sandbox.map(|_| username.clone()),
            })
            .await?;
        org.users.push(user_id);
    }
    Ok(org)
}

/// Creates organisation `id`, connected through `link` (if any), with an ingest key and an
/// admin key and no users yet.
pub async fn create_org_linked(
    store: &Store,
    link: Option<&SandboxLink>,
    id: &str,
    settings: &Settings,
) -> anyhow::Result<BenchOrg> {
    let secret = new_signing_secret();
    let now = Timestamp::now();
    store
        .create_org(
            &NewOrg {
                id: id.to_owned(),
                name: format!("Bench {id}"),
                signing_secret: secret.clone(),
                settings_json: serde_json::to_string(settings)?,
                salesforce_json: link.map(SandboxLink::connection_json),
            },
            now,
        )
        .await?;
    let ingest_key = new_key();
    store
        .add_api_key(&key_hash(&ingest_key), id, "ingest", "benchmark", now)
        .await?;
    let admin_key = new_key();
    store
        .add_api_key(&key_hash(&admin_key), id, "admin", "benchmark", now)
        .await?;
    Ok(BenchOrg {
        id: id.to_owned(),
        secret,
        ingest_key,
        admin_key,
        users: Vec::new(),
    })
}

/// Backfills `org_id`'s phone index (R15) from Salesforce through `client`, with the default
/// region, no rebuild and no progress bar: what every benchmark with the index does first.
pub async fn backfill_index(
    store: &Store,
    org_id: &str,
    client: &salesforce::Client,
) -> anyhow::Result<std::sync::Arc<callsync::index::OrgIndex>> {
    let index = store.indexes().org(org_id);
    callsync::index::backfill(
        store,
        &index,
        client,
        Settings::default().region(),
        false,
        &|_| {},
    )
    .await?;
    Ok(index)
}

/// callsync's API on a free loopback port, until [`RunningApi::stop`].
#[derive(Debug)]
pub struct RunningApi {
    pub url: String,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningApi {
    pub async fn start(store: &Store) -> anyhow::Result<RunningApi> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(callsync::server::run(
            listener,
            AppState::new(store.clone()),
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        ));
        Ok(RunningApi { url, stop, task })
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task.await.context("the API panicked")?
    }
}

/// What a signed post of events came back with.
#[derive(Debug, Clone, Copy)]
pub struct Posted {
    pub accepted: u64,
    pub duplicates: u64,
}

/// Posts `body` (a JSON array of events) to `/v1/events`, signed as the phone system does;
/// anything but `202 Accepted` is an error.
pub async fn post_events(
    http: &reqwest::Client,
    api_url: &str,
    org: &BenchOrg,
    body: String,
) -> anyhow::Result<Posted> {
    let timestamp = Timestamp::now().as_second();
    let signature = sign(org.secret.as_bytes(), timestamp, body.as_bytes());
    let response = http
        .post(format!("{api_url}/v1/events"))
        .bearer_auth(&org.ingest_key)
        .header("content-type", "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await
        .context("cannot reach callsync's API")?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(
        status.as_u16() == 202,
        "ingest refused the events ({status}): {answer}"
    );
    Ok(Posted {
        accepted: answer["accepted"].as_u64().unwrap_or(0),
        duplicates: answer["duplicates"].as_u64().unwrap_or(0),
    })
}

/// The open error-log entries of `orgs`, by step and Salesforce code, each with one of
/// its messages (`match INVALID_FIELD × 3 (e.g. "...")`), or `none`.
pub async fn error_summary(store: &Store, orgs: &[BenchOrg]) -> anyhow::Result<String> {
    let mut counts = Counts::new();
    let mut examples = std::collections::BTreeMap::new();
    for org in orgs {
        for error in store.errors(&org.id, true, 100_000).await? {
            let key = format!("{} {}", error.step, error.code);
            examples
                .entry(key.clone())
                .or_insert_with(|| error.message.clone());
            *counts.entry(key).or_default() += 1;
        }
    }
    if counts.is_empty() {
        return Ok("none".to_owned());
    }
    // One message per kind, so that a run that failed says why without a second look.
    Ok(counts
        .iter()
        .map(|(key, count)| format!("{key} × {count} (e.g. {:?})", examples[key]))
        .collect::<Vec<_>>()
        .join(", "))
}

// ----- calls -----------------------------------------------------------------------------

/// How a generated call goes.
#[derive(Debug, Clone)]
pub struct CallPlan {
    pub org: String,
    pub call_id: String,
    pub user: String,
    pub outbound: bool,
    pub customer_number: String,
    /// The Salesforce record it was dialled from (R3.1).
    pub click_to_call: Option<String>,
    /// Whether anybody talked; a missed call has no memo or analysis.
    pub answered: bool,
    pub started_at: Timestamp,
}

impl CallPlan {
    fn event(&self, index: usize, second: i64, body: Value) -> Value {
        let mut event = json!({
            "id": format!("{}-e{index}", self.call_id),
            "org": self.org,
            "call_id": self.call_id,
            "user": self.user,
            "occurred_at": (self.started_at + SignedDuration::from_secs(second)).to_string(),
            "direction": if self.outbound { "outbound" } else { "inbound" },
            "user_number": "050-1111-0000",
            "customer_number": self.customer_number,
        });
        if let Some(record_id) = &self.click_to_call {
            event["click_to_call"] = json!({"record_id": record_id});
        }
        if let (Some(event), Some(body)) = (event.as_object_mut(), body.as_object()) {
            for (key, value) in body {
                event.insert(key.clone(), value.clone());
            }
        }
        event
    }

    /// The events of the call itself: dialling or ringing, answered, ended.
    pub fn call_events(&self) -> Vec<Value> {
        let opening = if self.outbound { "dialing" } else { "ringing" };
        let mut events = vec![self.event(0, 0, json!({"type": opening}))];
        if self.answered {
            events.push(self.event(1, 8, json!({"type": "answered"})));
            events.push(self.event(
                2,
                188,
                json!({"type": "ended", "talk_seconds": 180, "outcome": "answered"}),
            ));
        } else {
            events.push(self.event(
                2,
                30,
                json!({"type": "ended", "talk_seconds": 0, "outcome": "no_answer"}),
            ));
        }
        events
    }

    /// The memo the agent saves after an answered call.
    pub fn memo_event(&self) -> Option<Value> {
        self.answered.then(|| {
            self.event(
                3,
                400,
                json!({"type": "memo_saved", "values": ["見積依頼"], "note": "金曜までに見積を送付"}),
            )
        })
    }

    /// The voice analysis of an answered call.
    pub fn analysis_event(&self) -> Option<Value> {
        self.answered.then(|| {
            self.event(
                4,
                900,
                json!({"type": "analysis_completed",
                       "speech_recognition": "お世話になっております。見積の件でお電話しました。",
                       "summary": "見積依頼。金曜までに送付。"}),
            )
        })
    }
}

/// Phone numbers and record Ids of the sandbox's org, to dial.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// Numbers as the org's records hold them (Contact, Account and Lead phones).
    pub known_numbers: Vec<String>,
    /// Contacts and Leads, for click-to-call.
    pub record_ids: Vec<String>,
}

impl Directory {
    /// About `limit` records of each object, spread evenly over the org: their numbers and,
    /// for Contacts and Leads, their Ids. Converted Leads are left out (R3.5).
    pub fn of(sandbox: &Sandbox, limit: usize) -> Directory {
        use sf_sandbox::query::source::QuerySource as _;
        let mut directory = Directory::default();
        let state = sandbox.org().read();
        for object in ["Contact", "Account", "Lead"] {
            let step = (state.count(object) / limit.max(1)).max(1);
            for record in state.records(object, false).step_by(step).take(limit) {
                if record.get("IsConverted") == Some(&Value::Bool(true)) {
                    continue;
                }
                for field in ["Phone", "MobilePhone", "PersonMobilePhone"] {
                    if let Some(Value::String(number)) = record.get(field) {
                        directory.known_numbers.push(number.clone());
                    }
                }
                if object != "Account"
                    && let Some(Value::String(id)) = record.get("Id")
                {
                    directory.record_ids.push(id.clone());
                }
            }
        }
        directory
    }
}

/// A Japanese landline that no generated record holds: the generator writes its numbers
/// from other ranges, and `0120` toll-free numbers with nine trailing digits like these
/// are never generated. Checked by the benchmarks that rely on it (they count the matches).
pub fn unknown_number(index: u64) -> String {
    format!("0120-{:03}-{:03}", (index / 1000) % 1000, index % 1000)
}

/// Counts per key, printed in key order.
pub type Counts = BTreeMap<String, u64>;

/// Parses a Salesforce date-time (`2026-01-02T03:04:05.678+0000`) as the sandbox writes it.
pub fn salesforce_time(text: &str) -> Option<Timestamp> {
    sf_sandbox::values::parse_datetime(text).or_else(|| Timestamp::from_str(text).ok())
}

/// The mix of calls a busy sales team makes, drawn deterministically from `seed`:
/// 10 % dialled from a Salesforce record (click-to-call, R3.1), 20 % from or to numbers
/// no record holds (R3.7), the rest known numbers as the org's records spell them; 60 %
/// outbound; 80 % answered (the rest missed, with neither memo nor analysis).
#[derive(Debug)]
pub struct CallMix {
    rng: rand::rngs::StdRng,
    directory: Directory,
    next: u64,
    shape: MixShape,
}

/// The shares of a [`CallMix`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MixShape {
    /// Calls dialled from a Salesforce record (R3.1).
    pub click_to_call: f64,
    /// Calls from or to numbers no record holds (R3.7).
    pub unknown: f64,
    /// Answered calls to known numbers, of all calls (each later gets a memo and an
    /// analysis); `None` answers 80 % of every kind of call instead.
    pub answered_known: Option<f64>,
}

impl MixShape {
    /// The sales team of [`CallMix`]'s doc.
    pub const SALES: MixShape = MixShape {
        click_to_call: 0.10,
        unknown: 0.20,
        answered_known: None,
    };
    /// Issue 15's trace: 70 % answered calls to known numbers, 20 % missed calls to known
    /// numbers, 10 % answered calls from unknown numbers; every answered call later gets a
    /// memo and an analysis, delivered separately.
    pub const ISSUE_15: MixShape = MixShape {
        click_to_call: 0.0,
        unknown: 0.10,
        answered_known: Some(0.70),
    };
}

/// What kind of number a planned call dials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialled {
    ClickToCall,
    Unknown,
    Known,
}

impl CallMix {
    pub fn new(directory: Directory, seed: u64) -> CallMix {
        CallMix::shaped(directory, seed, MixShape::SALES)
    }

    /// A mix with other shares.
    pub fn shaped(directory: Directory, seed: u64, shape: MixShape) -> CallMix {
        use rand::SeedableRng as _;
        CallMix {
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            directory,
            next: 0,
            shape,
        }
    }

    /// The next call of organisation `org`, by one of its `users`, starting at `started_at`.
    pub fn plan(&mut self, org: &BenchOrg, started_at: Timestamp) -> (CallPlan, Dialled) {
        use rand::Rng as _;
        let index = self.next;
        self.next += 1;
        let draw: f64 = self.rng.random();
        let can_click = !self.directory.record_ids.is_empty();
        let can_know = !self.directory.known_numbers.is_empty();
        let shape = self.shape;
        let dialled = if draw < shape.click_to_call && can_click {
            Dialled::ClickToCall
        } else if draw < shape.click_to_call + shape.unknown || !can_know {
            Dialled::Unknown
        } else {
            Dialled::Known
        };
        let outbound = dialled == Dialled::ClickToCall || self.rng.random_bool(0.6);
        let (customer_number, click_to_call) = match dialled {
            Dialled::ClickToCall => {
                let id = &self.directory.record_ids
                    [self.rng.random_range(0..self.directory.record_ids.len())];
                // The phone dials some number of the record; R3.1 links the record anyway.
                (unknown_number(index), Some(id.clone()))
            }
            Dialled::Unknown => (unknown_number(index), None),
            Dialled::Known => (
                self.directory.known_numbers
                    [self.rng.random_range(0..self.directory.known_numbers.len())]
                .clone(),
                None,
            ),
        };
        let user = org.users[self.rng.random_range(0..org.users.len().max(1))].clone();
        let plan = CallPlan {
            org: org.id.clone(),
            call_id: format!("{}-call-{index}", org.id),
            user,
            outbound,
            customer_number,
            click_to_call,
            answered: match shape.answered_known {
                None => self.rng.random_bool(0.8),
                // Known numbers are answered in `share / (1 - unknown)` of their calls;
                // unknown numbers always.
                Some(share) => {
                    dialled != Dialled::Known
                        || self
                            .rng
                            .random_bool((share / (1.0 - shape.unknown)).clamp(0.0, 1.0))
                }
            },
            started_at,
        };
        (plan, dialled)
    }
}
