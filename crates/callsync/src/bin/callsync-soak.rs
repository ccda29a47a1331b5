//! `callsync-soak`: the crash test and the fault soak of issue 7 at any size.
//!
//! A phone system posts N calls as signed batches to callsync, which runs as
//! its own process on a SQLite file and is killed with SIGKILL at random
//! moments (and restarted each time), while the Salesforce sandbox — in this
//! process, so it outlives every kill — may fail a share of its requests
//! (UNABLE_TO_LOCK_ROW, 503, 500), expire sessions every so many requests
//! and drop connections after a write committed. When the queue is empty,
//! every call must have exactly one Task (by `CallObject`, design decision
//! 2) holding its memo, its voice-analysis summary and its talk time (R6).
//! It prints `lost: X  duplicated: Y  incomplete: Z` and exits non-zero
//! unless all three are 0. `tests/crash.rs` runs it small on every
//! `cargo test`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use callsync::api::{key_hash, new_key, new_signing_secret};
use callsync::crm::SalesforceConnection;
use callsync::ingest::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use callsync::store::{NewOrg, Store, UserRow};
use callsync_core::settings::{Settings, Timing};
use clap::Parser;
use jiff::{SignedDuration, Timestamp};
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use sf_sandbox::{Fault, FaultFilter, FaultPlan, FaultRule, NewUser, Sandbox, SandboxConfig};

/// The first argument that makes this binary behave as `callsync` itself
/// (the rest of the arguments are callsync's), so the process under test runs
/// the library this binary was built with and can never be a stale build.
const AS_CALLSYNC: &str = "__as-callsync";

const AFTER_HELP: &str = "\
Examples:
  crash test, default size:   callsync-soak
  fault soak, default size:   callsync-soak --kills 0 --fault-rate 0.05
  both at once:               callsync-soak --kills 10 --fault-rate 0.05
  slow Salesforce:            callsync-soak --kills 0 --latency-ms 50 --spike-rate 0.05
  a 3-minute outage:          callsync-soak --kills 0 --outage-secs 180

Build it with release optimisations for the default sizes:
  cargo run --release -p callsync --bin callsync-soak -- --calls 1000 --kills 10

callsync runs as its own process. By default that process is this binary
running callsync's own command line (`serve`), linked from the same library
build; --callsync PATH runs a `callsync` binary instead (the test suite passes
the one cargo just built). The Salesforce sandbox runs inside this process,
so it survives every kill. Random choices (kill moments, fault draws) follow
--seed; the interleaving of processes does not, so two runs with one seed are
alike, not identical.

Exit status: 0 when lost, duplicated and incomplete are all 0; 1 otherwise.
When a run is not clean, its work folder (database, config, callsync's log)
is kept and its path printed.";

/// Kills callsync with SIGKILL while calls flow and makes Salesforce fail
/// transiently, then checks that every call has exactly one Task with all
/// its updates.
#[derive(Debug, Parser)]
#[command(name = "callsync-soak", version, about, after_help = AFTER_HELP)]
struct Options {
    /// Calls to send. Each is dialing, answered and ended, then a memo and
    /// a voice analysis that arrive later; half go to an organisation with
    /// timing `call_end`, half to one with `call_start`.
    #[arg(long, default_value_t = 1000)]
    calls: usize,
    /// How many times callsync is killed with SIGKILL (and restarted) at
    /// random moments while the calls flow.
    #[arg(long, default_value_t = 10)]
    kills: usize,
    /// The share of Salesforce API requests that fail transiently, split
    /// evenly between UNABLE_TO_LOCK_ROW (on writes), 503 and 500.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    fault_rate: f64,
    /// The share of Salesforce API requests carried out whose answer is then
    /// lost (the connection drops after the commit). Default: half the fault
    /// rate.
    #[arg(long, value_parser = parse_share)]
    drop_rate: Option<f64>,
    /// Sessions expire after this many Salesforce API requests, so callsync
    /// must fetch new tokens as it goes (0: never). Default: 50 when there
    /// are faults, else never.
    #[arg(long)]
    token_requests: Option<u64>,
    /// Seeds the kill moments and the sandbox's fault draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Calls per second the phone system starts; the kills are spread over
    /// the time this takes.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Events per signed request.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..=1000))]
    batch: u16,
    /// Give up, and fail, after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
    /// Run this `callsync` binary instead of this binary acting as callsync.
    #[arg(long, value_name = "PATH")]
    callsync: Option<PathBuf>,
    /// Latency added to every Salesforce API request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The share of Salesforce API requests that are slower still, by
    /// --spike-ms: past callsync's lease, so only lease renewal keeps a
    /// second step from taking the call over (issue 12).
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    spike_rate: f64,
    /// How long a latency spike lasts, in milliseconds (the lease is 3 s).
    #[arg(long, default_value_t = 4_500)]
    spike_ms: u64,
    /// Salesforce answers 503 to every request for this many seconds, from
    /// a quarter of the way into the flow of calls (R16: calls wait, none
    /// fails, all sync after it).
    #[arg(long, default_value_t = 0)]
    outage_secs: u64,
    /// Keep the work folder even when the run is clean.
    #[arg(long)]
    keep: bool,
}

fn parse_share(text: &str) -> Result<f64, String> {
    let share: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&share) {
        Ok(share)
    } else {
        Err(format!("{share} is not a share between 0 and 1"))
    }
}

fn main() -> ExitCode {
    let arguments: Vec<OsString> = std::env::args_os().collect();
    if arguments.get(1).is_some_and(|first| first == AS_CALLSYNC) {
        let cli = <callsync::cli::Cli as Parser>::parse_from(
            std::iter::once(OsString::from("callsync")).chain(arguments.into_iter().skip(2)),
        );
        return run_on_runtime(callsync::cli::run(cli));
    }
    let options = Options::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Dropping the runtime drops every task, and with them the guard of the
    // callsync process, so no callsync outlives this one on any path.
    let outcome = runtime.block_on(soak(options));
    drop(runtime);
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_on_runtime(work: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(work));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

// ----- the world: sandbox, store, organisations -------------------------------

/// The sandbox's agents; callsync users `u1` and `u2` of each organisation
/// are linked to them.
const AGENTS: [&str; 2] = ["agent1@soak.example", "agent2@soak.example"];

/// An organisation and the secrets its phone system holds.
struct SoakOrg {
    id: String,
    secret: String,
    ingest_key: String,
}

/// Contacts with known numbers, so most calls link to a record (R3) and
/// the rest stay unlinked (R3.7).
const KNOWN_CONTACTS: usize = 20;

fn known_number(index: usize) -> String {
    format!("03-1000-{:04}", index % KNOWN_CONTACTS)
}

fn seed_sandbox(sandbox: &Sandbox) -> anyhow::Result<()> {
    let org = sandbox.org();
    for (number, username) in AGENTS.iter().enumerate() {
        org.add_user(&NewUser::named(
            username,
            "Agent",
            &format!("Number{}", number + 1),
        ));
    }
    let admin = org.admin_user();
    let account = org
        .insert(
            admin,
            "Account",
            json!({"Name": "Soak Trading", "Phone": "06-1000-0000"}),
        )
        .map_err(|errors| anyhow::anyhow!("cannot seed the Account: {errors:?}"))?;
    for index in 0..KNOWN_CONTACTS {
        org.insert(
            admin,
            "Contact",
            json!({
                "LastName": format!("Customer{index}"),
                "Phone": known_number(index),
                "AccountId": account.to_string(),
            }),
        )
        .map_err(|errors| anyhow::anyhow!("cannot seed a Contact: {errors:?}"))?;
    }
    Ok(())
}

async fn create_org(
    store: &Store,
    sandbox: &Sandbox,
    id: &str,
    timing: Timing,
) -> anyhow::Result<SoakOrg> {
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
                name: format!("Soak ({id})"),
                signing_secret: secret.clone(),
                settings_json: serde_json::to_string(&settings)?,
                salesforce_json: Some(SalesforceConnection::of_sandbox(sandbox).to_stored_json()),
            },
            now,
        )
        .await?;
    for (index, username) in AGENTS.iter().enumerate() {
        store
            .upsert_user(&UserRow {
                org_id: id.into(),
                user_id: format!("u{}", index + 1),
                name: format!("Agent {}", index + 1),
                sf_username: Some((*username).to_owned()),
            })
            .await?;
    }
    let ingest_key = new_key();
    store
        .add_api_key(
            &key_hash(&ingest_key),
            id,
            "ingest",
            "soak phone system",
            now,
        )
        .await?;
    Ok(SoakOrg {
        id: id.into(),
        secret,
        ingest_key,
    })
}

// ----- the calls ---------------------------------------------------------------

const TALK_SECONDS: i64 = 60;

fn call_id(org: &str, index: usize) -> String {
    format!("{org}-call-{index:05}")
}

fn memo_note(call_id: &str) -> String {
    format!("note of {call_id}")
}

fn analysis_summary(call_id: &str) -> String {
    format!("summary of {call_id}")
}

/// One call's events: what the phone sends as the call happens, and what
/// comes minutes later (the memo and the voice analysis).
fn call_events(org: &str, index: usize, base: Timestamp) -> (Vec<Value>, Vec<Value>) {
    let call = call_id(org, index);
    // Every fifth number is nobody's (R3.7): `050` numbers, one per call.
    let customer_number = if index % 5 == 4 {
        format!("050-{:04}-{:04}", 7000 + index / 10_000, index % 10_000)
    } else {
        known_number(index)
    };
    let start = base + SignedDuration::from_secs(i64::try_from(index).unwrap_or(0) * 3);
    let event = |kind: &str, second: i64, body: Value| {
        let mut event = json!({
            "id": format!("{call}-{kind}"),
            "org": org,
            "call_id": call,
            "user": format!("u{}", index % 2 + 1),
            "occurred_at": (start + SignedDuration::from_secs(second)).to_string(),
            "direction": "outbound",
            "user_number": "050-1111-0000",
            "customer_number": customer_number,
            "type": kind,
        });
        for (key, value) in body.as_object().into_iter().flatten() {
            event[key] = value.clone();
        }
        event
    };
    let now = vec![
        event("dialing", 0, json!({})),
        event("answered", 5, json!({})),
        event(
            "ended",
            5 + TALK_SECONDS,
            json!({"talk_seconds": TALK_SECONDS, "outcome": "answered"}),
        ),
    ];
    let later = vec![
        event(
            "memo_saved",
            120,
            json!({"values": ["soak"], "note": memo_note(&call)}),
        ),
        event(
            "analysis_completed",
            300,
            json!({"speech_recognition": format!("transcript of {call}"), "summary": analysis_summary(&call)}),
        ),
    ];
    (now, later)
}

/// One signed request's worth of events of one organisation.
struct Batch {
    org: usize,
    body: String,
}

/// The calls of every organisation as the phone system sends them: each
/// call's memo and analysis come ten calls later, and requests of the
/// organisations alternate.
fn batches(orgs: &[SoakOrg], calls: usize, batch: usize) -> anyhow::Result<Vec<Batch>> {
    const LATER_BY: usize = 10;
    let per_org = calls.div_ceil(orgs.len().max(1));
    let span = SignedDuration::from_secs(i64::try_from(per_org).unwrap_or(i64::MAX / 8) * 3);
    let base = Timestamp::now() - span - SignedDuration::from_hours(1);
    let mut streams = Vec::new();
    for (org_index, org) in orgs.iter().enumerate() {
        // Calls are numbered across organisations, so `calls` is exact.
        let indices: Vec<usize> = (0..calls)
            .filter(|index| index % orgs.len() == org_index)
            .collect();
        let mut stream = Vec::new();
        let mut pending_later = std::collections::VecDeque::new();
        for &index in &indices {
            let (now, later) = call_events(&org.id, index, base);
            stream.extend(now);
            pending_later.push_back(later);
            if pending_later.len() > LATER_BY
                && let Some(later) = pending_later.pop_front()
            {
                stream.extend(later);
            }
        }
        stream.extend(pending_later.into_iter().flatten());
        let mut chunks = Vec::new();
        for chunk in stream.chunks(batch) {
            chunks.push(Batch {
                org: org_index,
                body: serde_json::to_string(chunk)?,
            });
        }
        streams.push(chunks.into_iter());
    }
    let mut interleaved = Vec::new();
    loop {
        let before = interleaved.len();
        for stream in &mut streams {
            interleaved.extend(stream.next());
        }
        if interleaved.len() == before {
            return Ok(interleaved);
        }
    }
}

// ----- callsync as a child process -------------------------------------------

/// The callsync process under test. Dropping it kills the process, so none
/// outlives the run, whatever path it ends on.
struct CallsyncProcess {
    program: PathBuf,
    leading_arguments: Vec<OsString>,
    config: PathBuf,
    log: PathBuf,
    port: u16,
    metrics_port: u16,
    child: Option<Child>,
    /// The API's address, read by the sender; it changes only if a restart
    /// finds its port taken.
    url: Arc<Mutex<String>>,
    http: reqwest::Client,
}

impl CallsyncProcess {
    fn new(
        program: PathBuf,
        leading_arguments: Vec<OsString>,
        config: PathBuf,
        log: PathBuf,
    ) -> anyhow::Result<CallsyncProcess> {
        let port = free_port()?;
        Ok(CallsyncProcess {
            program,
            leading_arguments,
            config,
            log,
            port,
            metrics_port: free_port()?,
            child: None,
            url: Arc::new(Mutex::new(format!("http://127.0.0.1:{port}"))),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()?,
        })
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let mut command = Command::new(&self.program);
        command
            .args(&self.leading_arguments)
            .arg("--config")
            .arg(&self.config)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // Only the generated file configures callsync: a CALLSYNC_* variable
        // of the caller's shell would override it.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("CALLSYNC_") {
                command.env_remove(name);
            }
        }
        command
            .env("CALLSYNC_LISTEN", format!("127.0.0.1:{}", self.port))
            .env(
                "CALLSYNC_METRICS_LISTEN",
                format!("127.0.0.1:{}", self.metrics_port),
            )
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            );
        self.child = Some(
            command
                .spawn()
                .with_context(|| format!("cannot run {}", self.program.display()))?,
        );
        Ok(())
    }

    /// Starts callsync and waits until it answers `/readyz`; returns how
    /// long that took. A port taken meanwhile by another program is
    /// replaced by a new one.
    async fn start(&mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        for _ in 0..5 {
            self.spawn()?;
            match self.wait_ready().await? {
                Ready::Yes => return Ok(started.elapsed()),
                Ready::ExitedEarly(status) => {
                    let log = log_tail(&self.log, 20);
                    if !log.contains("cannot listen") {
                        bail!("callsync exited at start ({status}); its log ends:\n{log}");
                    }
                    self.port = free_port()?;
                    self.metrics_port = free_port()?;
                    *lock(&self.url) = format!("http://127.0.0.1:{}", self.port);
                }
            }
        }
        bail!("callsync found no free port in five tries")
    }

    async fn wait_ready(&mut self) -> anyhow::Result<Ready> {
        let url = format!("{}/readyz", lock(&self.url).clone());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                return Ok(Ready::ExitedEarly(status));
            }
            if let Ok(response) = self.http.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(Ready::Yes);
            }
            ensure!(
                Instant::now() < deadline,
                "callsync did not become ready within 60 s; its log ends:\n{}",
                log_tail(&self.log, 20)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no shutdown code runs, exactly as in a crash.
    fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` sends SIGKILL on Unix.
            child.kill().context("cannot kill callsync")?;
            child.wait().context("cannot reap callsync")?;
        }
        Ok(())
    }
}

impl Drop for CallsyncProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

enum Ready {
    Yes,
    ExitedEarly(std::process::ExitStatus),
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// callsync's configuration for the run: the listen addresses come from
/// the environment at each start.
fn write_config(path: &Path, database_url: &str) -> anyhow::Result<()> {
    let text = format!(
        r#"# Written by callsync-soak.
database_url = "{database_url}"
log_format = "text"

[worker]
# A killed instance's claims are taken over after this; a live one renews
# the lease of each step while it runs, however slow Salesforce is.
lease_seconds = 3
poll_interval_ms = 50
backoff_base_ms = 100
backoff_max_ms = 2000
salesforce_timeout_seconds = 10
"#
    );
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

// ----- the run -----------------------------------------------------------------

/// What the run measured.
#[derive(Default)]
struct Figures {
    events: usize,
    requests: usize,
    resent: u64,
    send_time: Duration,
    kills: usize,
    restart_times: Vec<Duration>,
    drain_time: Duration,
    total_time: Duration,
}

/// Runs the soak in a fresh work folder, kept when the run is not clean.
async fn soak(options: Options) -> anyhow::Result<bool> {
    let folder = tempfile::Builder::new()
        .prefix("callsync-soak-")
        .tempdir()
        .context("cannot make a work folder")?;
    let outcome = soak_in(&options, folder.path()).await;
    if options.keep || !matches!(outcome, Ok(true)) {
        let kept = folder.keep();
        println!("work folder kept: {}", kept.display());
    }
    outcome
}

async fn soak_in(options: &Options, folder: &Path) -> anyhow::Result<bool> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.timeout_secs);
    ensure!(options.calls > 0, "--calls must be at least 1");
    ensure!(
        options.rate > 0.0 && options.rate.is_finite(),
        "--rate must be a positive number"
    );
    let drop_rate = options.drop_rate.unwrap_or(options.fault_rate / 2.0);
    let token_requests = match options.token_requests {
        Some(0) => None,
        Some(requests) => Some(requests),
        None if options.fault_rate > 0.0 || drop_rate > 0.0 => Some(50),
        None => None,
    };

    let sandbox = Sandbox::start(SandboxConfig {
        seed: options.seed,
        // So high that callsync's API budget share never defers a call:
        // this run measures loss and duplication, not the budget.
        daily_api_limit: 1_000_000_000,
        token_max_requests: token_requests,
        ..SandboxConfig::default()
    })
    .await
    .context("cannot start the Salesforce sandbox")?;
    seed_sandbox(&sandbox)?;

    let database_url = format!(
        "sqlite://{}?mode=rwc",
        folder.join("callsync.sqlite").display()
    );
    let store = Store::connect(&database_url).await?;
    let orgs = vec![
        create_org(&store, &sandbox, "soak-end", Timing::CallEnd).await?,
        create_org(&store, &sandbox, "soak-start", Timing::CallStart).await?,
    ];
    let config = folder.join("callsync.toml");
    write_config(&config, &database_url)?;
    let (program, leading_arguments) = match &options.callsync {
        Some(path) => (path.clone(), Vec::new()),
        None => (
            std::env::current_exe().context("cannot find this program's own path")?,
            vec![OsString::from(AS_CALLSYNC)],
        ),
    };
    let mut callsync = CallsyncProcess::new(
        program,
        leading_arguments,
        config,
        folder.join("callsync.log"),
    )?;
    callsync.start().await?;

    // Faults start once everything is set up, so only callsync meets them.
    let plan = fault_plan(options, drop_rate);
    sandbox.faults().set_plan(plan.clone());
    sandbox.reset_counters();

    let batches = batches(&orgs, options.calls, usize::from(options.batch))?;
    let flow = Duration::from_secs_f64(options.calls as f64 / options.rate);
    let mut figures = Figures {
        events: options.calls * 5,
        requests: batches.len(),
        ..Figures::default()
    };

    // The killer owns the process from here and hands it back at the end.
    let url = callsync.url.clone();
    let schedule = kill_schedule(options.kills, flow, options.seed);
    let killer = tokio::spawn(kill_and_restart(callsync, schedule, started, deadline));
    // The outage is switched on and off through the sandbox's own admin API, as an
    // operator would, so it can run beside the sending loop.
    let outage = (options.outage_secs > 0).then(|| {
        let faults_url = format!("{}/__sandbox/faults", sandbox.url());
        let length = Duration::from_secs(options.outage_secs);
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            tokio::time::sleep(flow / 4).await;
            for (plan, hold) in [(outage_plan(&plan), length), (plan, Duration::ZERO)] {
                http.put(&faults_url)
                    .json(&plan)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .context("cannot switch the sandbox's outage")?;
                tokio::time::sleep(hold).await;
            }
            anyhow::Ok(())
        })
    });

    let send_started = Instant::now();
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(30))
        .build()?;
    let interval = flow.div_f64(batches.len().max(1) as f64);
    for (index, batch) in batches.iter().enumerate() {
        let due = send_started + interval.mul_f64(index as f64);
        tokio::time::sleep_until(due.into()).await;
        let org = orgs
            .get(batch.org)
            .context("a batch of an unknown organisation")?;
        figures.resent += send(&http, &url, org, &batch.body, deadline).await?;
    }
    figures.send_time = send_started.elapsed();
    let sent_at = Instant::now();

    let (callsync, kills, restart_times) = killer.await.context("the killer panicked")??;
    if let Some(outage) = outage {
        outage.await.context("the outage task panicked")??;
    }
    figures.kills = kills;
    figures.restart_times = restart_times;

    wait_until_drained(&store, deadline).await?;
    figures.drain_time = sent_at.elapsed();
    figures.total_time = started.elapsed();

    let verdict = check(&sandbox, &orgs, options.calls);
    let counters = sandbox.counters();
    let injected = sandbox.faults().injected();
    let mut synced = 0;
    let mut failed = 0;
    let mut open_errors = Vec::new();
    for org in &orgs {
        let mut filter = callsync::store::CallFilter::for_org(&org.id);
        filter.limit = i64::try_from(options.calls).unwrap_or(i64::MAX);
        for call in store.calls(&filter).await? {
            match call.sync_state {
                callsync::store::SyncState::Synced => synced += 1,
                callsync::store::SyncState::Failed => failed += 1,
                _ => {}
            }
        }
        open_errors.extend(store.errors(&org.id, true, 20).await?);
    }
    drop(callsync);
    store.close().await;
    sandbox.shutdown().await;

    println!(
        "callsync-soak: {} calls, {} of {} kills, faults {:.1} % transient + {:.1} % dropped after commit, sessions expire {}; seed {}",
        options.calls,
        figures.kills,
        options.kills,
        options.fault_rate * 100.0,
        drop_rate * 100.0,
        token_requests.map_or("never".into(), |n| format!("every {n} requests")),
        options.seed
    );
    if options.latency_ms > 0 || options.spike_rate > 0.0 || options.outage_secs > 0 {
        println!(
            "  conditions: {} ms per Salesforce request, {:.1} % of requests {} ms slower (the lease is 3 s), an outage of {} s",
            options.latency_ms,
            options.spike_rate * 100.0,
            options.spike_ms,
            options.outage_secs
        );
    }
    println!(
        "  sent:       {} events in {} signed requests over {:.1} s ({} requests sent again after callsync refused or dropped them)",
        figures.events,
        figures.requests,
        figures.send_time.as_secs_f64(),
        figures.resent
    );
    if !figures.restart_times.is_empty() {
        let total: Duration = figures.restart_times.iter().sum();
        let longest = figures
            .restart_times
            .iter()
            .max()
            .copied()
            .unwrap_or_default();
        println!(
            "  restarts:   {}, ready again after {:.2} s on average ({:.2} s at most)",
            figures.restart_times.len(),
            total.as_secs_f64() / figures.restart_times.len() as f64,
            longest.as_secs_f64()
        );
    }
    println!(
        "  drained:    queue empty {:.1} s after the last request was accepted; {:.1} s in all",
        figures.drain_time.as_secs_f64(),
        figures.total_time.as_secs_f64()
    );
    println!(
        "  salesforce: {} API requests ({:.2} per call), {} faults injected",
        counters.total,
        counters.total as f64 / options.calls as f64,
        injected
    );
    for (endpoint, count) in &counters.by_endpoint {
        println!("    {count:>7}  {endpoint}");
    }
    println!(
        "  callsync:   {synced} calls synced, {failed} failed, {} open error-log entries",
        open_errors.len()
    );
    for error in open_errors.iter().take(10) {
        println!(
            "    {} [{}] {}: {}",
            error.call_id, error.step, error.code, error.message
        );
    }
    for problem in verdict.examples.iter().take(10) {
        println!("  problem: {problem}");
    }
    println!(
        "lost: {}  duplicated: {}  incomplete: {}",
        verdict.lost, verdict.duplicated, verdict.incomplete
    );
    Ok(verdict.lost == 0 && verdict.duplicated == 0 && verdict.incomplete == 0 && failed == 0)
}

/// Transient errors at `--fault-rate`, split evenly, answers lost after the commit at
/// `drop_rate`, and the latency of `--latency-ms` with spikes; the draws follow the
/// sandbox's seed.
fn fault_plan(options: &Options, drop_rate: f64) -> FaultPlan {
    let fault_rate = options.fault_rate;
    let writes = FaultFilter {
        methods: vec!["POST".into(), "PATCH".into(), "DELETE".into()],
        path_contains: None,
    };
    let mut rules = Vec::new();
    if options.spike_rate > 0.0 {
        rules.push(FaultRule {
            fault: Fault::Latency {
                millis: options.spike_ms,
            },
            rate: options.spike_rate,
            filter: FaultFilter::default(),
        });
    }
    if fault_rate > 0.0 {
        let share = fault_rate / 3.0;
        rules.push(FaultRule {
            fault: Fault::UnableToLockRow,
            rate: share,
            filter: writes,
        });
        rules.push(FaultRule {
            fault: Fault::ServiceUnavailable,
            rate: share,
            filter: FaultFilter::default(),
        });
        rules.push(FaultRule {
            fault: Fault::InternalError,
            rate: share,
            filter: FaultFilter::default(),
        });
    }
    if drop_rate > 0.0 {
        rules.push(FaultRule {
            fault: Fault::DropAfterCommit,
            rate: drop_rate,
            filter: FaultFilter::default(),
        });
    }
    FaultPlan {
        rules,
        base_latency_millis: options.latency_ms,
        ..FaultPlan::default()
    }
}

/// `plan` during an outage: every request answers 503 (after its latency).
fn outage_plan(plan: &FaultPlan) -> FaultPlan {
    FaultPlan {
        rules: vec![FaultRule {
            fault: Fault::ServiceUnavailable,
            rate: 1.0,
            filter: FaultFilter::default(),
        }],
        ..plan.clone()
    }
}

/// The moments of the kills, after the start: random over the time the
/// calls flow, a few just after the last one (while the last updates sync).
fn kill_schedule(kills: usize, flow: Duration, seed: u64) -> Vec<Duration> {
    let mut random = rand::rngs::StdRng::seed_from_u64(seed);
    let mut moments: Vec<Duration> = (0..kills)
        .map(|_| flow.mul_f64(random.random_range(0.05..1.1)))
        .collect();
    moments.sort();
    moments
}

/// Kills callsync at each moment (but never before it has been ready for
/// a little while, so the kills land on work, not only on start-up) and
/// restarts it. Returns the process, the kills done and the restart times.
async fn kill_and_restart(
    mut callsync: CallsyncProcess,
    schedule: Vec<Duration>,
    started: Instant,
    deadline: Instant,
) -> anyhow::Result<(CallsyncProcess, usize, Vec<Duration>)> {
    const LEAST_UPTIME: Duration = Duration::from_millis(150);
    let mut restart_times = Vec::new();
    let mut ready_at = Instant::now();
    for moment in &schedule {
        let at = (started + *moment).max(ready_at + LEAST_UPTIME);
        tokio::time::sleep_until(at.into()).await;
        ensure!(
            Instant::now() < deadline,
            "the run took longer than --timeout-secs"
        );
        callsync.kill()?;
        restart_times.push(callsync.start().await?);
        ready_at = Instant::now();
    }
    Ok((callsync, schedule.len(), restart_times))
}

/// Posts one batch until callsync answers 202, signing each attempt anew.
/// A killed callsync refuses connections or drops them: that is expected,
/// and the batch is sent again (the same event ids are accepted once).
/// Returns how many attempts failed.
async fn send(
    http: &reqwest::Client,
    url: &Mutex<String>,
    org: &SoakOrg,
    body: &str,
    deadline: Instant,
) -> anyhow::Result<u64> {
    let mut failed = 0;
    loop {
        let base = lock(url).clone();
        let timestamp = Timestamp::now().as_second();
        let answer = http
            .post(format!("{base}/v1/events"))
            .bearer_auth(&org.ingest_key)
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(
                SIGNATURE_HEADER,
                sign(org.secret.as_bytes(), timestamp, body.as_bytes()),
            )
            .body(body.to_owned())
            .send()
            .await;
        let last_problem = match answer {
            Ok(response) if response.status().as_u16() == 202 => return Ok(failed),
            Ok(response) if response.status().is_server_error() => {
                format!("callsync answered {}", response.status())
            }
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                bail!("callsync refused a batch of {} ({status}): {text}", org.id);
            }
            Err(error) => format!("{error}"),
        };
        failed += 1;
        ensure!(
            Instant::now() < deadline,
            "a batch was still not accepted at the deadline; last: {last_problem}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until no work is left in the outbox (parked work, in the error
/// log, does not count: the check reports those calls).
async fn wait_until_drained(store: &Store, deadline: Instant) -> anyhow::Result<()> {
    loop {
        let depth = store.queue_depth().await?;
        if depth == 0 {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{depth} calls were still queued at the deadline (--timeout-secs)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The verdict on the sandbox's Tasks.
#[derive(Default)]
struct Verdict {
    lost: usize,
    duplicated: usize,
    incomplete: usize,
    examples: Vec<String>,
}

/// Every call must have exactly one Task (by `CallObject`) with its memo,
/// its analysis summary (R6: the default comment template holds both) and
/// its talk time (R5; for `call_start` written by the update at the end).
fn check(sandbox: &Sandbox, orgs: &[SoakOrg], calls: usize) -> Verdict {
    let mut tasks_by_call: BTreeMap<String, Vec<serde_json::Map<String, Value>>> = BTreeMap::new();
    for task in sandbox.org().records("Task") {
        let call = task
            .get("CallObject")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        tasks_by_call.entry(call).or_default().push(task);
    }
    let mut verdict = Verdict::default();
    let mut expected = std::collections::BTreeSet::new();
    for index in 0..calls {
        let org = &orgs[index % orgs.len()];
        let call = call_id(&org.id, index);
        expected.insert(call.clone());
        let tasks = tasks_by_call.get(&call).map(Vec::as_slice).unwrap_or(&[]);
        let task = match tasks {
            [] => {
                verdict.lost += 1;
                verdict.examples.push(format!("{call}: no Task"));
                continue;
            }
            [task] => task,
            several => {
                verdict.duplicated += 1;
                let ids: Vec<&str> = several
                    .iter()
                    .filter_map(|task| task.get("Id").and_then(Value::as_str))
                    .collect();
                verdict.examples.push(format!(
                    "{call}: {} Tasks ({})",
                    several.len(),
                    ids.join(", ")
                ));
                continue;
            }
        };
        let description = task
            .get("Description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let duration = task.get("CallDurationInSeconds").and_then(Value::as_i64);
        let mut missing = Vec::new();
        if !description.contains(&memo_note(&call)) {
            missing.push("the memo");
        }
        if !description.contains(&analysis_summary(&call)) {
            missing.push("the analysis summary");
        }
        if duration != Some(TALK_SECONDS) {
            missing.push("the talk time");
        }
        if !missing.is_empty() {
            verdict.incomplete += 1;
            verdict.examples.push(format!(
                "{call}: the Task lacks {} (CallDurationInSeconds {duration:?}, Description {description:?})",
                missing.join(", ")
            ));
        }
    }
    // A Task for no call of the run would be a duplicate written wrongly.
    for (call, tasks) in &tasks_by_call {
        if !expected.contains(call) {
            verdict.duplicated += tasks.len();
            verdict.examples.push(format!(
                "{} Task(s) with unexpected CallObject {call:?}",
                tasks.len()
            ));
        }
    }
    verdict
}
