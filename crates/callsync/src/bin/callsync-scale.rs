//! `callsync-scale`: the scale-out proof of issue 16. N callsync processes share one
//! PostgreSQL database while the Salesforce sandbox runs in this process (so it outlives
//! every callsync). Two modes:
//!
//! - `chaos` (default): signed calls flow to the instances (round robin, the next one when
//!   one is down) while one instance at a time is killed with SIGKILL at random moments
//!   and restarted, then every instance is restarted in turn (SIGTERM, start, ready) — a
//!   rolling restart — with calls still flowing. When the queue is empty, every call must
//!   have exactly one Task (by `CallObject`, design decision 2): it prints
//!   `lost: X  duplicated: Y` and exits non-zero unless both are 0.
//! - `throughput`: the same calls are stored first (through the store, as ingest would),
//!   then N instances start and the time until every call has its Task is measured: calls
//!   per second synced by N instances on one database.
//!
//! A sibling of `callsync-soak` (the single-instance crash test on SQLite) rather than an
//! option of it, so each stays small enough to read.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use callsync::api::{key_hash, new_key, new_signing_secret};
use callsync::crm::SalesforceConnection;
use callsync::ingest::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use callsync::secrets::Sealer;
use callsync::store::{NewEvent, NewOrg, Store, UserRow};
use callsync_core::settings::Settings;
use clap::{Parser, ValueEnum};
use jiff::{SignedDuration, Timestamp};
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use sf_sandbox::{NewUser, Sandbox, SandboxConfig};
use sqlx::Connection as _;
use tokio::sync::Mutex;

/// The first argument that makes this binary act as `callsync` itself (as in
/// `callsync-soak`), so the instances run the library this binary was built with.
const AS_CALLSYNC: &str = "__as-callsync";
const ORG: &str = "scale";
const AGENT: &str = "agent@scale.example";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Chaos,
    Throughput,
}

/// Runs N callsync instances on one PostgreSQL database; see the module documentation.
#[derive(Debug, Parser)]
#[command(name = "callsync-scale", version, about)]
struct Options {
    #[arg(long, value_enum, default_value = "chaos")]
    mode: Mode,
    /// callsync instances sharing the database.
    #[arg(long, default_value_t = 3)]
    instances: usize,
    /// Calls (each: dialing, answered, ended).
    #[arg(long, default_value_t = 1000)]
    calls: usize,
    /// SIGKILLs of a random instance while calls flow (chaos mode).
    #[arg(long, default_value_t = 5)]
    kills: usize,
    /// Calls per second the phone system sends (chaos mode).
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// The PostgreSQL server (a database on it is created for the run and dropped after).
    #[arg(
        long,
        env = "CALLSYNC_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres: String,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run this `callsync` binary instead of this binary acting as callsync.
    #[arg(long, value_name = "PATH")]
    callsync: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

fn main() -> ExitCode {
    let arguments: Vec<OsString> = std::env::args_os().collect();
    if arguments.get(1).is_some_and(|first| first == AS_CALLSYNC) {
        let cli = <callsync::cli::Cli as Parser>::parse_from(
            std::iter::once(OsString::from("callsync")).chain(arguments.into_iter().skip(2)),
        );
        return finish(
            runtime()
                .and_then(|rt| rt.block_on(callsync::cli::run(cli)))
                .map(|()| true),
        );
    }
    let options = Options::parse();
    finish(runtime().and_then(|rt| rt.block_on(run(options))))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn finish(outcome: anyhow::Result<bool>) -> ExitCode {
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

// ----- one callsync instance ------------------------------------------------------------

struct Instance {
    program: PathBuf,
    leading: Vec<OsString>,
    config: PathBuf,
    key: String,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
    http: reqwest::Client,
}

impl Instance {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut command = Command::new(&self.program);
        command
            .args(&self.leading)
            .arg("--config")
            .arg(&self.config)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("CALLSYNC_") {
                command.env_remove(name);
            }
        }
        command
            .env("CALLSYNC_LISTEN", format!("127.0.0.1:{}", self.port))
            .env(
                "CALLSYNC_METRICS_LISTEN",
                format!("127.0.0.1:{}", free_port()?),
            )
            .env("CALLSYNC_SECRET_KEY", &self.key);
        self.child = Some(command.spawn().context("cannot run callsync")?);
        Ok(())
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        self.spawn()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                bail!(
                    "callsync exited at start ({status}); see {}",
                    self.log.display()
                );
            }
            if let Ok(answer) = self.http.get(format!("{}/readyz", self.url())).send().await
                && answer.status().is_success()
            {
                return Ok(());
            }
            ensure!(Instant::now() < deadline, "callsync not ready within 60 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no shutdown code runs, as in a crash.
    fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM, and wait for the graceful exit (requests finish, the worker its round).
    async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            Command::new("kill").args(["-TERM", &pid]).status()?;
            let deadline = Instant::now() + Duration::from_secs(60);
            while child.try_wait()?.is_none() {
                ensure!(
                    Instant::now() < deadline,
                    "callsync did not stop within 60 s"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    fn is_up(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

// ----- the world ----------------------------------------------------------------------

fn call_id(index: usize) -> String {
    format!("{ORG}-call-{index:05}")
}

fn call_events(index: usize, base: Timestamp) -> Vec<Value> {
    let call = call_id(index);
    let start = base + SignedDuration::from_secs(i64::try_from(index).unwrap_or(0));
    let event = |kind: &str, second: i64, extra: Value| {
        let mut event = json!({
            "id": format!("{call}-{kind}"), "org": ORG, "call_id": call, "user": "u1",
            "occurred_at": (start + SignedDuration::from_secs(second)).to_string(),
            "direction": "outbound", "user_number": "050-1111-0000",
            "customer_number": format!("03-2000-{:04}", index % 50), "type": kind,
        });
        for (key, value) in extra.as_object().into_iter().flatten() {
            event[key] = value.clone();
        }
        event
    };
    vec![
        event("dialing", 0, json!({})),
        event("answered", 5, json!({})),
        event(
            "ended",
            65,
            json!({"talk_seconds": 60, "outcome": "answered"}),
        ),
    ]
}

struct World {
    sandbox: Sandbox,
    store: Store,
    secret: String,
    ingest_key: String,
    secret_key: String,
    admin_url: String,
    database: String,
    folder: tempfile::TempDir,
}

async fn world(options: &Options) -> anyhow::Result<World> {
    let folder = tempfile::Builder::new()
        .prefix("callsync-scale-")
        .tempdir()?;
    let mut admin = sqlx::PgConnection::connect(&options.postgres)
        .await
        .with_context(|| format!("no PostgreSQL at {}", options.postgres))?;
    let database = format!(
        "callsync_scale_{}_{}",
        std::process::id(),
        rand::random::<u32>()
    );
    sqlx::query(&format!("CREATE DATABASE {database}"))
        .execute(&mut admin)
        .await?;
    let (server, _) = options
        .postgres
        .rsplit_once('/')
        .context("the PostgreSQL URL must name a database")?;
    let database_url = format!("{server}/{database}");
    let secret_key = callsync::secrets::generate_key();
    let store =
        Store::connect_with(&database_url, Sealer::from_keys([secret_key.as_str()])?).await?;

    let sandbox = Sandbox::start(SandboxConfig::default()).await?;
    let org = sandbox.org();
    org.add_user(&NewUser::named(AGENT, "Agent", "Scale"));
    let admin_user = org.admin_user();
    for index in 0..50 {
        org.insert(
            admin_user,
            "Contact",
            json!({"LastName": format!("Customer{index}"), "Phone": format!("03-2000-{index:04}")}),
        )
        .map_err(|errors| anyhow::anyhow!("cannot seed a Contact: {errors:?}"))?;
    }
    let secret = new_signing_secret();
    let now = Timestamp::now();
    store
        .create_org(
            &NewOrg {
                id: ORG.into(),
                name: "Scale".into(),
                signing_secret: secret.clone(),
                settings_json: serde_json::to_string(&Settings::default())?,
                salesforce_json: Some(SalesforceConnection::of_sandbox(&sandbox).to_stored_json()),
            },
            now,
        )
        .await?;
    store
        .upsert_user(&UserRow {
            org_id: ORG.into(),
            user_id: "u1".into(),
            name: "Agent".into(),
            sf_username: Some(AGENT.into()),
        })
        .await?;
    let ingest_key = new_key();
    store
        .add_api_key(&key_hash(&ingest_key), ORG, "ingest", "scale", now)
        .await?;
    std::fs::write(
        folder.path().join("callsync.toml"),
        format!(
            "# Written by callsync-scale.\ndatabase_url = \"{database_url}\"\n\n[worker]\n\
             # Longer than a Salesforce request can take, so a lease outlives the work.\n\
             lease_seconds = 15\npoll_interval_ms = 50\nbackoff_base_ms = 100\n\
             backoff_max_ms = 2000\nsalesforce_timeout_seconds = 5\n\n[http]\n\
             ingest_per_second = 0\napi_per_second = 0\n\n[retention]\ndays = 0\n"
        ),
    )?;
    Ok(World {
        sandbox,
        store,
        secret,
        ingest_key,
        secret_key,
        admin_url: options.postgres.clone(),
        database,
        folder,
    })
}

impl World {
    fn instances(&self, options: &Options) -> anyhow::Result<Vec<Instance>> {
        let (program, leading) = match &options.callsync {
            Some(path) => (path.clone(), Vec::new()),
            None => (std::env::current_exe()?, vec![OsString::from(AS_CALLSYNC)]),
        };
        (0..options.instances)
            .map(|index| {
                Ok(Instance {
                    program: program.clone(),
                    leading: leading.clone(),
                    config: self.folder.path().join("callsync.toml"),
                    key: self.secret_key.clone(),
                    log: self.folder.path().join(format!("callsync-{index}.log")),
                    port: free_port()?,
                    child: None,
                    http: reqwest::Client::builder()
                        .timeout(Duration::from_secs(2))
                        .build()?,
                })
            })
            .collect()
    }

    /// Calls with exactly one Task, lost and duplicated, by `CallObject`.
    fn verdict(&self, calls: usize) -> (usize, usize, usize) {
        let mut tasks: BTreeMap<String, usize> = BTreeMap::new();
        for task in self.sandbox.org().records("Task") {
            let call = task
                .get("CallObject")
                .and_then(Value::as_str)
                .unwrap_or_default();
            *tasks.entry(call.to_owned()).or_default() += 1;
        }
        let (mut one, mut lost, mut duplicated) = (0, 0, 0);
        for index in 0..calls {
            match tasks.remove(&call_id(index)).unwrap_or(0) {
                0 => lost += 1,
                1 => one += 1,
                n => duplicated += n - 1,
            }
        }
        duplicated += tasks.values().sum::<usize>();
        (one, lost, duplicated)
    }

    /// Waits until every call has a Task and the outbox is empty.
    async fn drain(&self, calls: usize, deadline: Instant) -> anyhow::Result<()> {
        loop {
            let (one, lost, _) = self.verdict(calls);
            if lost == 0 && one > 0 && self.store.queue_depth().await? == 0 {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "timed out with {lost} calls still without a Task"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn drop_database(&self) {
        self.store.close().await;
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.database
            ))
            .execute(&mut admin)
            .await;
        }
    }
}

// ----- the runs -----------------------------------------------------------------------

async fn run(options: Options) -> anyhow::Result<bool> {
    ensure!(options.instances >= 1, "--instances must be at least 1");
    // Figures depend on what else runs: say so with them.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!(
            "machine: {} cores, load average at start {}",
            std::thread::available_parallelism().map_or(0, usize::from),
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let world = world(&options).await?;
    let outcome = match options.mode {
        Mode::Throughput => throughput(&options, &world).await,
        Mode::Chaos => chaos(&options, &world).await,
    };
    // The instances are gone by now (each mode owns them): the database can go too.
    world.drop_database().await;
    if !matches!(outcome, Ok(true)) {
        let kept = world.folder.keep();
        eprintln!("the instances' logs are kept in {}", kept.display());
    }
    outcome
}

async fn throughput(options: &Options, world: &World) -> anyhow::Result<bool> {
    let base = Timestamp::now() - SignedDuration::from_hours(2);
    for chunk in (0..options.calls).collect::<Vec<_>>().chunks(200) {
        let events: Vec<NewEvent> = chunk
            .iter()
            .flat_map(|&index| call_events(index, base))
            .map(|event| NewEvent {
                event_id: event["id"].as_str().unwrap_or_default().to_owned(),
                call_id: event["call_id"].as_str().unwrap_or_default().to_owned(),
                occurred_at: event["occurred_at"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(base),
                body_json: event.to_string(),
            })
            .collect();
        world.store.ingest(ORG, &events, Timestamp::now()).await?;
    }
    let mut instances = world.instances(options)?;
    let started = Instant::now();
    for instance in &mut instances {
        instance.start().await?;
    }
    world
        .drain(
            options.calls,
            started + Duration::from_secs(options.timeout_secs),
        )
        .await?;
    let elapsed = started.elapsed();
    let (one, lost, duplicated) = world.verdict(options.calls);
    println!(
        "instances: {}  calls: {}  synced in {:.1} s  throughput: {:.1} calls/s  \
         (one Task: {one}, lost: {lost}, duplicated: {duplicated})",
        options.instances,
        options.calls,
        elapsed.as_secs_f64(),
        options.calls as f64 / elapsed.as_secs_f64()
    );
    drop(instances);
    Ok(lost == 0 && duplicated == 0)
}

async fn chaos(options: &Options, world: &World) -> anyhow::Result<bool> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.timeout_secs);
    let instances: Vec<Arc<Mutex<Instance>>> = world
        .instances(options)?
        .into_iter()
        .map(|instance| Arc::new(Mutex::new(instance)))
        .collect();
    for instance in &instances {
        instance.lock().await.start().await?;
    }
    let ports: Vec<u16> = {
        let mut ports = Vec::new();
        for instance in &instances {
            ports.push(instance.lock().await.port);
        }
        ports
    };

    // The phone system: each call's events in one signed request, round robin over the
    // instances, moving on to the next while one is down.
    let sending = Arc::new(AtomicBool::new(true));
    let resent = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (secret, key, calls, rate) = (
            world.secret.clone(),
            world.ingest_key.clone(),
            options.calls,
            options.rate,
        );
        let (sending, resent, ports) = (Arc::clone(&sending), Arc::clone(&resent), ports.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(1))
                .timeout(Duration::from_secs(10))
                .build()?;
            let base = Timestamp::now() - SignedDuration::from_hours(2);
            let interval = Duration::from_secs_f64(1.0 / rate);
            let begun = Instant::now();
            for index in 0..calls {
                tokio::time::sleep_until((begun + interval.mul_f64(index as f64)).into()).await;
                let body = serde_json::to_string(&call_events(index, base))?;
                let mut attempt = 0usize;
                loop {
                    let port = ports[(index + attempt) % ports.len()];
                    let timestamp = Timestamp::now().as_second();
                    let answer = http
                        .post(format!("http://127.0.0.1:{port}/v1/events"))
                        .bearer_auth(&key)
                        .header(TIMESTAMP_HEADER, timestamp.to_string())
                        .header(
                            SIGNATURE_HEADER,
                            sign(secret.as_bytes(), timestamp, body.as_bytes()),
                        )
                        .body(body.clone())
                        .send()
                        .await;
                    if answer.as_ref().is_ok_and(|a| a.status().as_u16() == 202) {
                        break;
                    }
                    attempt += 1;
                    resent.fetch_add(1, Ordering::Relaxed);
                    ensure!(attempt < 2000, "call {index} could not be delivered");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            sending.store(false, Ordering::Relaxed);
            anyhow::Ok(())
        })
    };

    // SIGKILLs at random moments of the first 60% of the flow, then a rolling restart.
    let flow = Duration::from_secs_f64(options.calls as f64 / options.rate);
    let mut rng = rand::rngs::StdRng::seed_from_u64(options.seed);
    let mut moments: Vec<Duration> = (0..options.kills)
        .map(|_| flow.mul_f64(rng.random_range(0.05..0.6)))
        .collect();
    moments.sort();
    for moment in moments {
        tokio::time::sleep_until((started + moment).into()).await;
        let victim = rng.random_range(0..instances.len());
        let mut instance = instances[victim].lock().await;
        instance.kill()?;
        println!(
            "{:>6.1} s  SIGKILL instance {victim}",
            started.elapsed().as_secs_f64()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        instance.start().await?;
    }
    tokio::time::sleep_until((started + flow.mul_f64(0.65)).into()).await;
    for (index, instance) in instances.iter().enumerate() {
        let mut instance = instance.lock().await;
        instance.stop().await?;
        instance.start().await?;
        println!(
            "{:>6.1} s  restarted instance {index} (rolling)",
            started.elapsed().as_secs_f64()
        );
    }
    sender.await.context("the sender panicked")??;
    ensure!(!sending.load(Ordering::Relaxed), "the sender stopped early");
    world.drain(options.calls, deadline).await.ok();
    let mut up = 0;
    for instance in &instances {
        up += usize::from(instance.lock().await.is_up());
    }
    let (one, lost, duplicated) = world.verdict(options.calls);
    println!(
        "instances: {} (up at the end: {up})  calls: {}  kills: {}  rolling restart: yes  \
         resent requests: {}  time: {:.1} s",
        options.instances,
        options.calls,
        options.kills,
        resent.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    println!("one Task: {one}  lost: {lost}  duplicated: {duplicated}");
    drop(instances);
    Ok(lost == 0 && duplicated == 0)
}
