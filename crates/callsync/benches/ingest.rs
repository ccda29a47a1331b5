//! Durable ingest: events per second that `POST /v1/events` accepts (signed batches from
//! several concurrent senders, each answer a `202` after the commit), next to the raw
//! insert rate of the same database on the same machine — plain `INSERT`s of the same rows
//! in transactions of the same size, from as many concurrent tasks, through sqlx — so the
//! ratio says how close ingest comes to what the database itself can take.
//!
//! `cargo bench -p callsync --bench ingest [-- --seconds S --senders N --batch B
//! --backend sqlite|postgres|both]`
//!
//! Ingest writes three rows per event (the event, the folded call, the sync work) and
//! checks the key and the signature of each request; the raw rate writes one. The worker is
//! off: this measures taking events in, not syncing them. The senders run in the same
//! process and share the cores with the server, as a load balancer's would not.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic is a failure

mod support;

use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use callsync::store::Store;
use callsync_core::settings::Settings;
use jiff::Timestamp;
use serde_json::Value;
use sqlx::Executor as _;
use support::{Backend, BenchDatabase, BenchOrg, CallPlan, Flags, Table, millis, percentile};

/// The sizes of one run.
#[derive(Debug, Clone, Copy)]
struct Load {
    seconds: u64,
    senders: usize,
    batch: usize,
}

/// What one measurement gave.
#[derive(Debug, Clone, Default)]
struct Rate {
    rows: u64,
    elapsed: Duration,
    requests: u64,
    latencies: Vec<Duration>,
    /// How busy the machine's cores were during the measurement, in percent.
    cpu_busy: f64,
}

impl Rate {
    fn per_second(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The events a sender posts: whole calls of five events (dialling, answered, ended, memo,
/// analysis), each event new. `sender` keeps the ids of concurrent senders apart.
struct EventStream {
    org: String,
    sender: usize,
    next_call: u64,
    pending: Vec<Value>,
}

impl EventStream {
    fn new(org: &str, sender: usize) -> EventStream {
        EventStream {
            org: org.to_owned(),
            sender,
            next_call: 0,
            pending: Vec::new(),
        }
    }

    fn take(&mut self, count: usize) -> Vec<Value> {
        while self.pending.len() < count {
            let call = CallPlan {
                org: self.org.clone(),
                call_id: format!("s{}-c{}", self.sender, self.next_call),
                user: "u0".into(),
                outbound: true,
                customer_number: support::unknown_number(self.next_call),
                click_to_call: None,
                answered: true,
                started_at: Timestamp::now() - jiff::SignedDuration::from_mins(20),
            };
            self.next_call += 1;
            let mut events = call.call_events();
            events.extend(call.memo_event());
            events.extend(call.analysis_event());
            // Oldest last, so `pop` hands them out in order.
            events.reverse();
            events.append(&mut self.pending);
            self.pending = events;
        }
        (0..count).filter_map(|_| self.pending.pop()).collect()
    }
}

fn main() -> anyhow::Result<()> {
    let flags = Flags::from_env();
    let load = Load {
        seconds: flags.number("--seconds", 10, 1),
        senders: flags.number("--senders", 8, 2),
        batch: flags.number("--batch", 50, 10),
    };
    let backends = Backend::chosen(&flags, "both")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        support::header("callsync benchmark: durable ingest", &flags);
        println!(
            "load: {} concurrent senders, {} events per signed request, {} s per measurement",
            load.senders, load.batch, load.seconds
        );
        println!();
        let mut table = Table::new(&[
            "database",
            "ingest events/s",
            "raw INSERT rows/s",
            "ingest / raw",
            "requests",
            "request p50",
            "request p99",
            "CPU busy (ingest / raw)",
        ]);
        for backend in backends {
            let Some(ingest) = measure_ingest(backend, load).await? else {
                continue;
            };
            let Some(raw) = measure_raw_inserts(backend, load).await? else {
                continue;
            };
            table.row(vec![
                backend.name().to_owned(),
                format!("{:.0}", ingest.per_second()),
                format!("{:.0}", raw.per_second()),
                format!("{:.2}", ingest.per_second() / raw.per_second().max(1e-9)),
                ingest.requests.to_string(),
                millis(percentile(&ingest.latencies, 50.0)),
                millis(percentile(&ingest.latencies, 99.0)),
                format!("{:.0} % / {:.0} %", ingest.cpu_busy, raw.cpu_busy),
            ]);
        }
        table.print();
        println!();
        println!(
            "How to read it: `ingest events/s` counts events acknowledged with 202, each \
             committed with its folded call and its sync work (three rows written); `raw \
             INSERT rows/s` is the same database taking the same event rows alone, one INSERT \
             each, in transactions of {} from {} tasks, with no HTTP. The ratio is the share of \
             the database's own insert rate that ingest reaches. `CPU busy` is the whole \
             machine's cores during each measurement (senders, server and database share \
             them): near 100 % the limit is the CPU, not the disk.",
            load.batch, load.senders
        );
        anyhow::Ok(())
    })
}

/// Posts signed batches through the real API for `load.seconds` and counts what was accepted.
async fn measure_ingest(backend: Backend, load: Load) -> anyhow::Result<Option<Rate>> {
    let Some(database) = BenchDatabase::create(backend, "ingest").await? else {
        return Ok(None);
    };
    let store = Store::connect_with(&database.url, callsync::secrets::Sealer::ephemeral()).await?;
    let org = support::create_org(&store, None, "bench", &Settings::default(), 1).await?;
    let api = support::RunningApi::start(&store).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(load.senders)
        .build()?;

    let accepted = Arc::new(AtomicU64::new(0));
    let cpu = support::CpuTicks::now();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(load.seconds);
    let mut senders = tokio::task::JoinSet::new();
    for sender in 0..load.senders {
        let (http, url, org, accepted) =
            (http.clone(), api.url.clone(), org.clone(), accepted.clone());
        senders.spawn(async move {
            send_until(deadline, sender, load.batch, &http, &url, &org, &accepted).await
        });
    }
    let mut latencies = Vec::new();
    while let Some(joined) = senders.join_next().await {
        latencies.extend(joined??);
    }
    let elapsed = started.elapsed();
    let cpu_busy = cpu.busy_since();
    api.stop().await?;
    store.close().await;
    database.drop_now().await;
    Ok(Some(Rate {
        rows: accepted.load(Ordering::Relaxed),
        elapsed,
        requests: latencies.len() as u64,
        latencies,
        cpu_busy,
    }))
}

async fn send_until(
    deadline: Instant,
    sender: usize,
    batch: usize,
    http: &reqwest::Client,
    url: &str,
    org: &BenchOrg,
    accepted: &AtomicU64,
) -> anyhow::Result<Vec<Duration>> {
    let mut stream = EventStream::new(&org.id, sender);
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let body = serde_json::to_string(&stream.take(batch))?;
        let sent = Instant::now();
        let posted = support::post_events(http, url, org, body).await?;
        latencies.push(sent.elapsed());
        accepted.fetch_add(posted.accepted, Ordering::Relaxed);
    }
    Ok(latencies)
}

/// Inserts the same event rows straight into a table shaped like callsync's `events`, in
/// transactions of `load.batch` rows from `load.senders` tasks, through sqlx's `Any` driver
/// with the pool callsync's store uses (`Store::connect`: the same size and, on SQLite, the
/// same pragmas), so only the work differs.
async fn measure_raw_inserts(backend: Backend, load: Load) -> anyhow::Result<Option<Rate>> {
    let Some(database) = BenchDatabase::create(backend, "raw").await? else {
        return Ok(None);
    };
    sqlx::any::install_default_drivers();
    let options = sqlx::any::AnyConnectOptions::from_str(&database.url)?;
    let mut pool = sqlx::any::AnyPoolOptions::new();
    let integer = match backend {
        Backend::Sqlite => {
            pool = pool.max_connections(8).after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    Ok(())
                })
            });
            "INTEGER"
        }
        Backend::Postgres => {
            pool = pool.max_connections(16);
            "BIGINT"
        }
    };
    let pool = pool.connect_with(options).await?;
    pool.execute(
        format!(
            "CREATE TABLE raw_events (org_id TEXT NOT NULL, event_id TEXT NOT NULL,
                 call_id TEXT NOT NULL, occurred_at {integer} NOT NULL,
                 received_at {integer} NOT NULL, body TEXT NOT NULL,
                 PRIMARY KEY (org_id, event_id))"
        )
        .as_str(),
    )
    .await?;
    pool.execute("CREATE INDEX raw_events_by_call ON raw_events (org_id, call_id, occurred_at)")
        .await?;

    let cpu = support::CpuTicks::now();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for sender in 0..load.senders {
        let pool = pool.clone();
        tasks.spawn(async move { raw_sender(load, sender, &pool).await });
    }
    let mut rows = 0;
    while let Some(joined) = tasks.join_next().await {
        rows += joined??;
    }
    let elapsed = started.elapsed();
    let cpu_busy = cpu.busy_since();
    pool.close().await;
    database.drop_now().await;
    Ok(Some(Rate {
        rows,
        elapsed,
        cpu_busy,
        ..Rate::default()
    }))
}

const RAW_INSERT: &str =
    "INSERT INTO raw_events (org_id, event_id, call_id, occurred_at, received_at, body)
     VALUES ($1, $2, $3, $4, $5, $6)";

/// Builds the same event rows as ingest stores and inserts them, one transaction per
/// batch, until the time is up. Returns the rows written.
async fn raw_sender(load: Load, sender: usize, pool: &sqlx::AnyPool) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(load.seconds);
    let mut stream = EventStream::new("bench", sender);
    let mut written = 0;
    while Instant::now() < deadline {
        let now = Timestamp::now().as_millisecond();
        let events = stream.take(load.batch);
        let mut tx = pool.begin().await?;
        for event in &events {
            let field = |name: &str| event[name].as_str().unwrap_or_default().to_owned();
            let occurred_at = Timestamp::from_str(&field("occurred_at"))
                .map(|at| at.as_millisecond())
                .unwrap_or(now);
            sqlx::query(RAW_INSERT)
                .bind(field("org"))
                .bind(field("id"))
                .bind(field("call_id"))
                .bind(occurred_at)
                .bind(now)
                .bind(event.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        written += events.len() as u64;
    }
    Ok(written)
}
