//! Screen-pop lookup: how long `GET /v1/lookup?number=` takes to say which record a number
//! belongs to (R3, the record a call would be linked to), p50 and p99, and the memory in
//! use, for orgs of 10k, 100k and 1M generated records.
//!
//! `cargo bench -p callsync --bench lookup [-- --lookups N --sizes 10000,100000,1000000 --live]`
//!
//! By default callsync first backfills its local phone index (R15, `callsync::index`) from
//! the org, timed, and keeps it fresh in the background as `serve` does, so a lookup is
//! answered from memory; `--live` measures the index-less path described next. Then a
//! second process (this binary with `--restart-child`) opens the same database as a
//! restarted callsync would, loads the stored index without asking Salesforce, and
//! answers the known numbers from it: load time and resident memory after a restart.
//!
//! The sandbox runs in a child process (this same binary, started with `--sandbox-child`),
//! as Salesforce is another machine in production: callsync's resident memory is then its
//! own, and the sandbox's is measured apart. Lookups are made one at a time, as a phone
//! client does. With `--live` a lookup asks Salesforce: a known number with one composite
//! request of SOQL queries, and with a SOSL search as well when those find nothing
//! (`crm::matching`). The time each lookup spent waiting on Salesforce requests (with the
//! index: none, unless it fell back) is measured from the `salesforce` client's
//! `salesforce_request` spans, so the figures split into Salesforce's part (here the
//! sandbox's) and callsync's own.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic is a failure

mod support;

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use callsync::store::Store;
use callsync_core::settings::Settings;
use serde_json::{Value, json};
use sf_sandbox::{GenerateSpec, Sandbox, SandboxConfig};
use support::{BenchDatabase, Directory, Flags, SandboxLink, Table, millis, percentile};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer, filter};

/// Time spent in Salesforce requests and their number, summed over every
/// `salesforce_request` span of the process (opened when a request is sent, closed when
/// its answer has been read).
#[derive(Debug, Clone, Default)]
struct SalesforceTime {
    nanos: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
}

impl SalesforceTime {
    fn now(&self) -> (Duration, u64) {
        (
            Duration::from_nanos(self.nanos.load(Ordering::Relaxed)),
            self.requests.load(Ordering::Relaxed),
        )
    }
}

/// When a span opened, kept in the span's extensions.
struct Opened(Instant);

impl<S> Layer<S> for SalesforceTime
where
    S: tracing::Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    fn on_new_span(
        &self,
        _attributes: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        context: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(span) = context.span(id) {
            span.extensions_mut().insert(Opened(Instant::now()));
        }
    }

    fn on_close(&self, id: tracing::span::Id, context: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = context.span(&id)
            && let Some(Opened(opened)) = span.extensions().get::<Opened>()
        {
            let nanos = u64::try_from(opened.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.nanos.fetch_add(nanos, Ordering::Relaxed);
            self.requests.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn main() -> anyhow::Result<()> {
    let flags = Flags::from_env();
    if let Some(records) = flags.text("--sandbox-child") {
        return serve_sandbox(records.parse()?);
    }
    if flags.has("--restart-child") {
        return restarted_process();
    }
    let lookups: usize = flags.number("--lookups", 300, 20);
    let live = flags.has("--live");
    let sizes: Vec<usize> = match flags.text("--sizes") {
        Some(list) => list
            .split(',')
            .map(|size| size.trim().parse())
            .collect::<Result<_, _>>()?,
        None if flags.measuring() => vec![10_000, 100_000, 1_000_000],
        None => vec![1_000],
    };
    anyhow::ensure!(lookups >= 5, "--lookups must be at least 5");

    let salesforce = SalesforceTime::default();
    tracing_subscriber::registry()
        .with(
            salesforce
                .clone()
                .with_filter(filter::filter_fn(|metadata| {
                    metadata.name() == "salesforce_request"
                })),
        )
        .init();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        support::header("callsync benchmark: screen-pop lookup", &flags);
        println!(
            "{lookups} lookups per org with GET /v1/lookup?number=, one at a time, after one \
             cold lookup: 4 in 5 numbers the org holds (spelt as its records spell them), 1 in \
             5 unknown; the sandbox in a child process, no added latency"
        );
        println!();
        let mut latency = Table::new(&[
            "records",
            "known p50",
            "known p99",
            "unknown p50",
            "unknown p99",
            "all p50",
            "all p99",
            "cold (first)",
            "Salesforce requests/lookup",
            "callsync's own p50",
            "callsync's own p99",
            "matched",
        ]);
        let mut memory = Table::new(&[
            "records",
            "generated in",
            "index backfill",
            "index records",
            "index table",
            "sandbox RSS",
            "sandbox RSS per record",
            "callsync RSS before",
            "after cold lookup",
            "after all lookups",
        ]);
        let mut restarts = Table::new(&[
            "records",
            "load from the database",
            "RSS at start",
            "after load",
            "after lookups",
            "index answer p50",
            "index answer p99",
            "matched",
        ]);
        // What an empty org's sandbox takes: the base that records add to.
        let empty_sandbox = {
            let mut child = SandboxChild::start(0)?;
            let resident = support::resident_megabytes(Some(child.process.id()));
            child.stop();
            resident
        };
        let mut tails = Vec::new();
        for size in sizes {
            let generating = Instant::now();
            let mut child = SandboxChild::start(size)?;
            let generated_in = generating.elapsed();
            let sandbox_before = support::resident_megabytes(Some(child.process.id()));
            let figures = measure(&child, lookups, &salesforce, live).await?;
            let sandbox_after = support::resident_megabytes(Some(child.process.id()));
            child.stop();
            let all = figures.all();
            tails.push((size, where_slowest(&figures.own)));
            latency.row(vec![
                size.to_string(),
                millis(percentile(&figures.known, 50.0)),
                millis(percentile(&figures.known, 99.0)),
                millis(percentile(&figures.unknown, 50.0)),
                millis(percentile(&figures.unknown, 99.0)),
                millis(percentile(&all, 50.0)),
                millis(percentile(&all, 99.0)),
                millis(figures.cold),
                format!("{:.2}", figures.requests as f64 / all.len().max(1) as f64),
                millis(percentile(&figures.own, 50.0)),
                millis(percentile(&figures.own, 99.0)),
                format!("{}/{}", figures.matched, figures.known.len()),
            ]);
            memory.row(vec![
                size.to_string(),
                format!("{:.1} s", generated_in.as_secs_f64()),
                figures.backfill.map_or("-".to_owned(), |took| {
                    format!("{:.1} s", took.as_secs_f64())
                }),
                figures.index_records.to_string(),
                format!("{:.0} MB", figures.index_bytes as f64 / 1e6),
                format!("{sandbox_before:.0} → {sandbox_after:.0} MB"),
                format!(
                    "{:.2} KB",
                    (sandbox_before - empty_sandbox) * 1024.0 / size.max(1) as f64
                ),
                format!("{:.0} MB", figures.resident_before_mb),
                format!("{:.0} MB", figures.resident_cold_mb),
                format!("{:.0} MB", figures.resident_after_mb),
            ]);
            if let Some(restart) = &figures.restart {
                restarts.row(vec![
                    restart.records.to_string(),
                    format!("{:.1} s", restart.load_ms / 1000.0),
                    format!("{:.0} MB", restart.resident_before_mb),
                    format!("{:.0} MB", restart.resident_loaded_mb),
                    format!("{:.0} MB", restart.resident_after_mb),
                    format!("{:.1} µs", restart.choose_p50_us),
                    format!("{:.1} µs", restart.choose_p99_us),
                    format!("{}/{}", restart.matched, restart.looked_up),
                ]);
            }
        }
        println!("latency");
        latency.print();
        println!();
        for (size, tenths) in &tails {
            println!(
                "{size} records: the slowest 1% of lookups by tenth of the run, first to last: \
                 {tenths:?}"
            );
        }
        println!();
        println!(
            "memory (VmRSS from /proc/<pid>/status; an empty org's sandbox: {empty_sandbox:.0} MB)"
        );
        memory.print();
        if !live {
            println!();
            println!(
                "after a restart (a new process on the same database: the stored index loaded, \
                 no Salesforce request; the known numbers answered in process, no HTTP)"
            );
            restarts.print();
        }
        println!();
        println!(
            "How to read it: latency is from asking callsync to having its answer, over \
             loopback HTTP, with the sandbox's answer inside it; `callsync's own` is that \
             minus the time spent waiting on Salesforce requests, so it is what callsync adds \
             whatever Salesforce's speed. The sandbox scans its records for every query, so \
             its part grows with the org; real Salesforce answers from its own indexes. \
             `matched` counts known numbers linked to a record (R3.5 leaves converted Leads \
             out). `sandbox RSS` is the child after generating the org → after the lookups, and \
             `per record` is above an empty org's; \
             `callsync RSS` is this process (API, store, Salesforce clients) before the first \
             lookup, after it and after the last; with the index (the default) `before` is before \
             the backfill, so the later two include the index and what the backfill's \
             pages left allocated; `index table` is what the index's own allocations hold."
        );
        anyhow::Ok(())
    })
}

/// Where in the run the slowest 1% of `times` (in the order made) fall: how many in each
/// tenth of the run. At the start only: warming up; evenly: the steady path itself;
/// in bursts: something periodic (the index's background sync).
fn where_slowest(times: &[Duration]) -> [usize; 10] {
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by_key(|&at| std::cmp::Reverse(times[at]));
    let mut tenths = [0; 10];
    for &at in order.iter().take(times.len().div_ceil(100)) {
        tenths[(at * 10 / times.len().max(1)).min(9)] += 1;
    }
    tenths
}

/// Lookup latencies of one org size.
#[derive(Debug, Default)]
struct Figures {
    known: Vec<Duration>,
    unknown: Vec<Duration>,
    /// Each lookup's time minus its time waiting on Salesforce.
    own: Vec<Duration>,
    /// The first lookup: token, describe of Account, then the lookup.
    cold: Duration,
    /// Salesforce requests made by the measured lookups.
    requests: u64,
    matched: usize,
    resident_before_mb: f64,
    resident_cold_mb: f64,
    resident_after_mb: f64,
    /// How long the index backfill took (index mode).
    backfill: Option<Duration>,
    index_records: u64,
    /// What the index's in-memory table has allocated (`IndexStatus::memory_bytes`).
    index_bytes: u64,
    /// A restarted process loading the stored index (index mode).
    restart: Option<Restart>,
}

/// What a restarted callsync does with the index the first one stored: load it from the
/// database (no Salesforce request) and answer from it. Measured in a process of its own,
/// so its resident memory holds no backfill's leftovers.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Restart {
    records: u64,
    load_ms: f64,
    resident_before_mb: f64,
    resident_loaded_mb: f64,
    resident_after_mb: f64,
    /// `OrgIndex::choose` for the known numbers, in process (no HTTP), microseconds.
    choose_p50_us: f64,
    choose_p99_us: f64,
    matched: usize,
    looked_up: usize,
}

impl Figures {
    fn all(&self) -> Vec<Duration> {
        self.known.iter().chain(&self.unknown).copied().collect()
    }
}

async fn measure(
    child: &SandboxChild,
    lookups: usize,
    salesforce: &SalesforceTime,
    live: bool,
) -> anyhow::Result<Figures> {
    let link = SandboxLink {
        url: text(&child.hello, "url")?,
        client_id: text(&child.hello, "client_id")?,
        private_key_pem: text(&child.hello, "private_key_pem")?,
        username: text(&child.hello, "username")?,
    };
    let known: Vec<String> = serde_json::from_value(child.hello["numbers"].clone())?;
    anyhow::ensure!(!known.is_empty(), "the sandbox child sent no numbers");

    let database = BenchDatabase::sqlite("lookup")?;
    let store = Store::connect_with(&database.url, callsync::secrets::Sealer::ephemeral()).await?;
    let org =
        support::create_org_linked(&store, Some(&link), "bench", &Settings::default()).await?;
    let api = support::RunningApi::start(&store).await?;
    let http = reqwest::Client::new();

    let mut figures = Figures {
        resident_before_mb: support::resident_megabytes(None),
        ..Figures::default()
    };
    let (stop_index, index_stopped) = tokio::sync::watch::channel(false);
    let mut background = None;
    if !live {
        let connection = callsync::crm::SalesforceConnection::from_json(&link.connection_json())?;
        let client = callsync::crm::Connections::new(callsync::crm::ClientOptions::default())
            .default_user_client(&org.id, &connection)?;
        let started = Instant::now();
        // On the runtime's worker threads, as `serve`'s background sync runs it, not on
        // this benchmark's own thread: what a thread allocates (libphonenumber's pattern
        // caches, the backfill's garbage) stays with that thread.
        let index = {
            let (store, org_id) = (store.clone(), org.id.clone());
            tokio::spawn(async move { support::backfill_index(&store, &org_id, &client).await })
                .await??
        };
        figures.backfill = Some(started.elapsed());
        figures.index_records = index.status().records;
        figures.index_bytes = index.status().memory_bytes;
        let mut stopped = index_stopped.clone();
        background = Some(tokio::spawn(callsync::index::run_background(
            store.clone(),
            callsync::index::SYNC_INTERVAL,
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        )));
    }
    // The first lookup also fetches a token and the describe of Account, once per
    // organisation and process: it is shown apart.
    let cold = Instant::now();
    lookup(&http, &api.url, &org, &known[0]).await?;
    figures.cold = cold.elapsed();
    figures.resident_cold_mb = support::resident_megabytes(None);

    for index in 0..lookups {
        let unknown = index % 5 == 4;
        let number = if unknown {
            support::unknown_number(index as u64)
        } else {
            known[(index * 7919) % known.len()].clone()
        };
        let (waited_before, requests_before) = salesforce.now();
        let started = Instant::now();
        let found = lookup(&http, &api.url, &org, &number).await?;
        let elapsed = started.elapsed();
        let (waited_after, requests_after) = salesforce.now();
        figures
            .own
            .push(elapsed.saturating_sub(waited_after.saturating_sub(waited_before)));
        figures.requests += requests_after - requests_before;
        if unknown {
            anyhow::ensure!(!found, "the unknown number {number} matched a record");
            figures.unknown.push(elapsed);
        } else {
            figures.known.push(elapsed);
            figures.matched += usize::from(found);
        }
    }
    figures.resident_after_mb = support::resident_megabytes(None);
    let _ = stop_index.send(true);
    if let Some(background) = background {
        background.await?;
    }
    if !live {
        let sample: Vec<&String> = (0..lookups)
            .map(|index| &known[(index * 7919) % known.len()])
            .collect();
        let order = json!({"database": database.url, "org": org.id, "numbers": sample});
        figures.restart = Some(tokio::task::spawn_blocking(move || restart(&order)).await??);
    }
    api.stop().await?;
    store.close().await;
    Ok(figures)
}

/// Asks `GET /v1/lookup` as the organisation's admin: whether a record matched.
async fn lookup(
    http: &reqwest::Client,
    api_url: &str,
    org: &support::BenchOrg,
    number: &str,
) -> anyhow::Result<bool> {
    let response = http
        .get(format!("{api_url}/v1/lookup"))
        .query(&[("number", number)])
        .bearer_auth(&org.admin_key)
        .send()
        .await?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(
        status.is_success(),
        "lookup of {number:?} failed ({status}): {answer}"
    );
    Ok(!answer["record"].is_null())
}

fn text(hello: &Value, field: &str) -> anyhow::Result<String> {
    hello[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("the sandbox child sent no {field}"))
}

/// The sandbox in a child process: this binary with `--sandbox-child RECORDS`.
struct SandboxChild {
    process: Child,
    /// What the child said once ready: URL, credentials and numbers to look up.
    hello: Value,
}

impl SandboxChild {
    fn start(records: usize) -> anyhow::Result<SandboxChild> {
        let mut process = Command::new(std::env::current_exe()?)
            .args(["--sandbox-child", &records.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = process.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let hello: Value = serde_json::from_str(&line)
            .map_err(|error| anyhow::anyhow!("the sandbox child did not start: {error}"))?;
        Ok(SandboxChild { process, hello })
    }

    /// Closes the child's stdin, which ends it, and waits for it.
    fn stop(&mut self) {
        drop(self.process.stdin.take());
        let _ = self.process.wait();
    }
}

impl Drop for SandboxChild {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The child's side: a sandbox with `records` generated records until stdin closes.
fn serve_sandbox(records: usize) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let sandbox = Sandbox::start(SandboxConfig {
            seed: 3,
            daily_api_limit: u64::MAX,
            generate: Some(GenerateSpec::total(records, 3)),
            ..SandboxConfig::default()
        })
        .await?;
        let directory = Directory::of(&sandbox, 1_000);
        let credentials = sandbox.credentials();
        let hello = json!({
            "url": sandbox.url(),
            "client_id": credentials.client_id,
            "private_key_pem": credentials.private_key_pem,
            "username": credentials.username,
            "numbers": directory.known_numbers,
        });
        println!("{hello}");
        // Serve until the parent closes stdin (or dies, which closes it too).
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await?;
        sandbox.shutdown().await;
        anyhow::Ok(())
    })
}

/// Runs [`restarted_process`] in a child given `order` (database, org, numbers) and reads
/// what it measured.
fn restart(order: &Value) -> anyhow::Result<Restart> {
    let mut process = Command::new(std::env::current_exe()?)
        .arg("--restart-child")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    {
        let mut stdin = process.stdin.take().expect("piped stdin");
        serde_json::to_writer(&mut stdin, order)?;
    }
    let mut answer = String::new();
    process
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut answer)?;
    let status = process.wait()?;
    anyhow::ensure!(status.success(), "the restarted process failed ({status})");
    serde_json::from_str(&answer)
        .map_err(|error| anyhow::anyhow!("the restarted process answered {answer:?}: {error}"))
}

/// The child's side of [`restart`]: opens the database the first process filled, loads the
/// organisation's index as `serve` does after a restart, answers the numbers from it, and
/// prints what it measured as one JSON line.
fn restarted_process() -> anyhow::Result<()> {
    let mut order = String::new();
    std::io::stdin().read_to_string(&mut order)?;
    let order: Value = serde_json::from_str(&order)?;
    let database = text(&order, "database")?;
    let org_id = text(&order, "org")?;
    let numbers: Vec<String> = serde_json::from_value(order["numbers"].clone())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let measured = runtime.block_on(async move {
        let resident_before_mb = support::resident_megabytes(None);
        let store = Store::connect_with(&database, callsync::secrets::Sealer::ephemeral()).await?;
        let region = Settings::default().region();
        let index = store.indexes().org(&org_id);
        let loading = Instant::now();
        index.load(&store, region).await?;
        let load_ms = loading.elapsed().as_secs_f64() * 1000.0;
        let resident_loaded_mb = support::resident_megabytes(None);
        let mut times = Vec::with_capacity(numbers.len());
        let mut matched = 0;
        for number in &numbers {
            let started = Instant::now();
            let found = callsync_core::phone::PhoneNumber::parse(number, region)
                .ok()
                .and_then(|number| index.choose(&number, region));
            times.push(started.elapsed());
            matched += usize::from(found.is_some());
        }
        let restart = Restart {
            records: index.status().records,
            load_ms,
            resident_before_mb,
            resident_loaded_mb,
            resident_after_mb: support::resident_megabytes(None),
            choose_p50_us: percentile(&times, 50.0).as_secs_f64() * 1e6,
            choose_p99_us: percentile(&times, 99.0).as_secs_f64() * 1e6,
            matched,
            looked_up: numbers.len(),
        };
        store.close().await;
        anyhow::Ok(restart)
    })?;
    println!("{}", serde_json::to_string(&measured)?);
    Ok(())
}
