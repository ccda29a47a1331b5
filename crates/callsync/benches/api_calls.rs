//! Salesforce API calls per call over a realistic trace: every call is created, then
//! updated with its memo, then with its voice analysis; a fifth of the numbers are unknown
//! to the org and a tenth of the calls are click-to-call (`support::CallMix`). The
//! sandbox counts every API request by endpoint; token requests (which Salesforce does not
//! count against the API allowance, and the sandbox does not count) are counted from the
//! `salesforce` client's `salesforce_token` tracing span.
//!
//! `cargo bench -p callsync --bench api_calls [-- --calls N --agents A --records R --live
//! --rate R --mode each|integration --trace sales|issue15 --latency-ms L]`
//!
//! `--rate R` plays the trace at a steady R calls a second.
//!
//! `--mode integration` writes every Task as the connection's default user (R14), batched
//! in sObject Collections; `each` (the default) as each agent's own user. `--trace issue15`
//! is issue 15's mix (70 % answered calls to known numbers, 20 % missed, 10 % answered
//! calls from unknown numbers; no click-to-call) instead of the sales team's
//! (`support::CallMix`). `--latency-ms` delays every Salesforce request (default 0).
//!
//! By default the organisation's local phone index (R15) is backfilled before the trace
//! (its requests are not counted) and R3 reads it, catching it up with one composite
//! request when it is older than the call or than `index::MAX_AGE`; `--live` matches by
//! asking Salesforce for every call, as before the index.
//!
//! With `--rate R` the trace is played at a steady R calls a second instead of in three
//! phases drained as fast as they go: as `serve` runs, the worker runs continuously and
//! the index is caught up in the background every `index::SYNC_INTERVAL`; each call's
//! events arrive at its turn, its memo two seconds later and its analysis four. Every
//! request during the trace is counted, the background catch-ups included, so `composite`
//! is what keeping the index fresh costs per call at that rate.
//!
//! The worker starts cold (no token, no describe, no user cached), as after a restart, so
//! those one-off requests are spread over the trace's calls. The memos and the analyses
//! arrive after the Tasks exist, each in its own delivery: the worst case for updates,
//! since updates that wait together are merged (design decision 4).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic is a failure

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use callsync::config::WorkerConfig;
use callsync::store::Store;
use callsync::worker::Worker;
use callsync_core::settings::Settings;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use sf_sandbox::{GenerateSpec, Sandbox, SandboxConfig};
use support::{BenchDatabase, CallMix, Counts, Dialled, Directory, Flags, Table};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer, filter};

/// Counts the token requests the `salesforce` client makes: it opens one
/// `salesforce_token` span per request to the token endpoint.
struct TokenRequests(Arc<AtomicU64>);

impl<S: tracing::Subscriber> Layer<S> for TokenRequests {
    fn on_new_span(
        &self,
        _attributes: &tracing::span::Attributes<'_>,
        _id: &tracing::span::Id,
        _context: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The phases of the trace, in order.
const PHASES: [&str; 3] = ["calls", "memos", "analyses"];

fn main() -> anyhow::Result<()> {
    let flags = Flags::from_env();
    let calls: usize = flags.number("--calls", 500, 20);
    let agents: usize = flags.number("--agents", 10, 2);
    let records: usize = flags.number("--records", 10_000, 500);
    let live = flags.has("--live");
    let rate: Option<f64> = flags
        .text("--rate")
        .map(|rate| rate.parse::<f64>())
        .transpose()?;
    anyhow::ensure!(
        rate.is_none_or(|rate| rate > 0.0),
        "--rate must be above zero"
    );
    let integration = match flags.text("--mode").as_deref() {
        None | Some("each") => false,
        Some("integration") => true,
        Some(other) => anyhow::bail!("--mode must be each or integration, not {other:?}"),
    };
    let shape = match flags.text("--trace").as_deref() {
        None | Some("sales") => support::MixShape::SALES,
        Some("issue15") => support::MixShape::ISSUE_15,
        Some(other) => anyhow::bail!("--trace must be sales or issue15, not {other:?}"),
    };
    let latency_ms: u64 = flags.number("--latency-ms", 0, 0);

    let tokens = Arc::new(AtomicU64::new(0));
    tracing_subscriber::registry()
        .with(
            TokenRequests(tokens.clone()).with_filter(filter::filter_fn(|metadata| {
                metadata.name() == "salesforce_token"
            })),
        )
        .init();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        support::header("callsync benchmark: Salesforce API calls per call", &flags);
        let database = BenchDatabase::sqlite("api-calls")?;
        let sandbox = Sandbox::start(SandboxConfig {
            seed: 5,
            daily_api_limit: u64::MAX,
            generate: Some(GenerateSpec::total(records, 5)),
            faults: sf_sandbox::FaultPlan {
                base_latency_millis: latency_ms,
                ..sf_sandbox::FaultPlan::default()
            },
            ..SandboxConfig::default()
        })
        .await?;
        let store =
            Store::connect_with(&database.url, callsync::secrets::Sealer::ephemeral()).await?;
        let mut settings = Settings::default();
        if integration {
            settings.writing.mode = callsync_core::writing::WriteMode::IntegrationUser;
        }
        let org = support::create_org(&store, Some(&sandbox), "acme", &settings, agents).await?;
        println!(
            "write mode: {}; every Salesforce request delayed {latency_ms} ms",
            if integration {
                "integration user (one user writes every Task, batched in sObject Collections)"
            } else {
                "as each user (each agent's own Salesforce user)"
            }
        );
        let api = support::RunningApi::start(&store).await?;
        if !live {
            let connection = callsync::crm::SalesforceConnection::of_sandbox(&sandbox);
            let client = callsync::crm::Connections::new(callsync::crm::ClientOptions::default())
                .default_user_client(&org.id, &connection)?;
            let index = support::backfill_index(&store, &org.id, &client).await?;
            println!(
                "phone index: {} records backfilled before the trace (not counted below)",
                index.status().records
            );
        }
        let worker = Worker::new(
            store.clone(),
            WorkerConfig {
                backoff_base_ms: 10,
                backoff_max_ms: 100,
                ..WorkerConfig::default()
            },
            None,
        );
        let http = reqwest::Client::new();

        let mut mix = CallMix::shaped(Directory::of(&sandbox, records), 5, shape);
        let started_at = Timestamp::now() - SignedDuration::from_hours(1);
        // With a rate, call i's analysis (its last event, 900 s after it began) is dated
        // at its turn; events are never dated after they are sent.
        let trace_start = Timestamp::now() + SignedDuration::from_secs(2);
        let plans: Vec<_> = (0..calls)
            .map(|call| match rate {
                Some(rate) => mix.plan(
                    &org,
                    trace_start - SignedDuration::from_secs(900)
                        + SignedDuration::from_secs_f64(call as f64 / rate),
                ),
                None => mix.plan(&org, started_at),
            })
            .collect();
        let count = |kind: Dialled| plans.iter().filter(|(_, dialled)| *dialled == kind).count();
        let answered = plans.iter().filter(|(plan, _)| plan.answered).count();
        println!(
            "trace: {calls} calls by {agents} agents against {records} generated records — \
             {} known numbers, {} unknown numbers, {} click-to-call; {answered} answered \
             (each then gets a memo and an analysis), {} missed",
            count(Dialled::Known),
            count(Dialled::Unknown),
            count(Dialled::ClickToCall),
            calls - answered
        );
        println!();

        sandbox.reset_counters();
        tokens.store(0, Ordering::Relaxed);
        let mut by_phase: Vec<Counts> = Vec::new();
        let phases: Vec<&str> = match rate {
            Some(_) => vec!["steady"],
            None => PHASES.to_vec(),
        };
        if let Some(rate) = rate {
            let before = snapshot(&sandbox, &tokens);
            let took =
                play_at_rate(&store, worker, &http, &api.url, &org, &plans, rate, live).await?;
            let after = snapshot(&sandbox, &tokens);
            by_phase.push(difference(&after, &before));
            println!(
                "played {calls} calls at {rate} calls/s in {:.1} s (the worker and the index's \
                 background sync running throughout, as in `serve`)",
                took.as_secs_f64()
            );
            println!();
        } else {
            for phase in PHASES {
                let before = snapshot(&sandbox, &tokens);
                let events: Vec<Value> = plans
                    .iter()
                    .flat_map(|(plan, _)| match phase {
                        "calls" => plan.call_events(),
                        "memos" => plan.memo_event().into_iter().collect(),
                        _ => plan.analysis_event().into_iter().collect(),
                    })
                    .collect();
                for chunk in events.chunks(100) {
                    support::post_events(&http, &api.url, &org, serde_json::to_string(chunk)?)
                        .await?;
                }
                drain(&worker, &store).await?;
                let after = snapshot(&sandbox, &tokens);
                by_phase.push(difference(&after, &before));
            }
        }

        let mut operations: Vec<String> = by_phase
            .iter()
            .flat_map(|counts| counts.keys().cloned())
            .collect();
        operations.sort();
        operations.dedup();
        let mut headings = vec!["operation"];
        headings.extend(phases.iter().copied());
        headings.extend(["total", "per call"]);
        let mut table = Table::new(&headings);
        let mut grand_total = 0;
        for operation in &operations {
            let counts: Vec<u64> = by_phase
                .iter()
                .map(|phase| phase.get(operation).copied().unwrap_or(0))
                .collect();
            let total: u64 = counts.iter().sum();
            if operation != TOKEN {
                grand_total += total;
            }
            let mut row = vec![operation.clone()];
            row.extend(counts.iter().map(u64::to_string));
            row.push(total.to_string());
            row.push(format!("{:.3}", total as f64 / calls as f64));
            table.row(row);
        }
        let phase_totals: Vec<u64> = by_phase
            .iter()
            .map(|phase| {
                phase
                    .iter()
                    .filter(|(operation, _)| *operation != TOKEN)
                    .map(|(_, count)| count)
                    .sum()
            })
            .collect();
        let mut row = vec!["API calls (all but token)".to_owned()];
        row.extend(phase_totals.iter().map(u64::to_string));
        row.push(grand_total.to_string());
        row.push(format!("{:.3}", grand_total as f64 / calls as f64));
        table.row(row);
        table.print();

        let tasks = sandbox.org().records("Task");
        let linked = tasks
            .iter()
            .filter(|task| task.get("WhoId").is_some() || task.get("WhatId").is_some())
            .count();
        let errors = support::error_summary(&store, std::slice::from_ref(&org)).await?;
        println!();
        println!(
            "Tasks: {} for {calls} calls ({linked} linked to a record, {} unlinked); open \
             error-log entries: {errors}",
            tasks.len(),
            tasks.len() - linked
        );
        let matching: u64 = by_phase
            .iter()
            .flat_map(|phase| phase.iter())
            .filter(|(operation, _)| {
                operation.starts_with("composite") || operation.starts_with("search")
            })
            .map(|(_, count)| count)
            .sum();
        println!(
            "matching: {matching} composite and search requests ({:.3} per call){}",
            matching as f64 / calls as f64,
            if live {
                ", plus the click-to-call records read by `query`"
            } else {
                " — index catch-ups (background and before a create); click-to-call records \
                 the index holds are read from it, so `query` is R7's Salesforce user \
                 look-ups and the click-to-calls to records it does not hold (a Person \
                 Account's own Contact)"
            }
        );
        println!(
            "How to read it: `per call` is requests to Salesforce divided by the calls of the \
             trace, by operation; `API calls` is what counts against the org's daily API \
             allowance. A composite request of SOQL queries counts as one call."
        );

        api.stop().await?;
        store.close().await;
        sandbox.shutdown().await;
        database.drop_now().await;
        anyhow::Ok(())
    })
}

const TOKEN: &str = "token (OAuth, not an API call)";

/// Plays the trace at `rate` calls a second with the worker and (unless `live`) the index's
/// background sync running as in `serve`, until every call's work is done. Returns how long
/// it took.
#[allow(clippy::too_many_arguments)] // a benchmark's one-off helper
async fn play_at_rate(
    store: &Store,
    worker: Worker,
    http: &reqwest::Client,
    api_url: &str,
    org: &support::BenchOrg,
    plans: &[(support::CallPlan, Dialled)],
    rate: f64,
    live: bool,
) -> anyhow::Result<Duration> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let worker_task = tokio::spawn(worker.run(until_stopped()));
    let index_task = (!live).then(|| {
        tokio::spawn(callsync::index::run_background(
            store.clone(),
            callsync::index::SYNC_INTERVAL,
            until_stopped(),
        ))
    });
    let started = std::time::Instant::now();
    // A turn per call, then as many to send the last memos (2 s = 2 × rate turns later)
    // and analyses (4 s later).
    let lag = |seconds: f64| (seconds * rate).round() as usize;
    for turn in 0..plans.len() + lag(4.0) {
        let due = started + Duration::from_secs_f64(turn as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let mut events: Vec<Value> = Vec::new();
        if let Some((plan, _)) = plans.get(turn) {
            events.extend(plan.call_events());
        }
        if let Some((plan, _)) = turn.checked_sub(lag(2.0)).and_then(|call| plans.get(call)) {
            events.extend(plan.memo_event());
        }
        if let Some((plan, _)) = turn.checked_sub(lag(4.0)).and_then(|call| plans.get(call)) {
            events.extend(plan.analysis_event());
        }
        if !events.is_empty() {
            support::post_events(http, api_url, org, serde_json::to_string(&events)?).await?;
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while store.queue_depth().await? > 0 {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the worker did not drain the queue within 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    let _ = stop.send(true);
    worker_task.await?;
    if let Some(index_task) = index_task {
        index_task.await?;
    }
    Ok(took)
}

/// Runs worker rounds until nothing is queued (short backoffs: a retry shows up as its
/// extra requests, not as waiting).
async fn drain(worker: &Worker, store: &Store) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while std::time::Instant::now() < deadline {
        let round = worker.run_once().await?;
        if round.claimed == 0 {
            if store.queue_depth().await? == 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    anyhow::bail!("the worker did not drain the queue within 5 minutes")
}

/// Requests so far by operation, token requests included.
fn snapshot(sandbox: &Sandbox, tokens: &AtomicU64) -> Counts {
    let mut counts = Counts::new();
    for (endpoint, count) in sandbox.counters().by_endpoint {
        *counts.entry(operation(&endpoint)).or_default() += count;
    }
    counts.insert(TOKEN.to_owned(), tokens.load(Ordering::Relaxed));
    counts
}

fn difference(after: &Counts, before: &Counts) -> Counts {
    after
        .iter()
        .map(|(key, count)| {
            (
                key.clone(),
                count.saturating_sub(before.get(key).copied().unwrap_or(0)),
            )
        })
        .filter(|(_, count)| *count > 0)
        .collect()
}

/// A plain name for a sandbox endpoint (`POST /services/data/{version}/sobjects/{object}`).
fn operation(endpoint: &str) -> String {
    let (method, path) = endpoint.split_once(' ').unwrap_or(("", endpoint));
    let path = path.trim_end_matches('/');
    let name = if path.ends_with("/composite") {
        "composite (SOQL queries)"
    } else if path.contains("/composite/sobjects") {
        "sObject collections"
    } else if path.contains("/query") {
        "query (SOQL)"
    } else if path.ends_with("/search") {
        "search (SOSL)"
    } else if path.ends_with("/describe") {
        "describe"
    } else if path.ends_with("/sobjects/{object}/{id}") {
        match method {
            "GET" => "get record",
            "PATCH" => "update",
            "DELETE" => "delete",
            _ => return endpoint.to_owned(),
        }
    } else if path.ends_with("/sobjects/{object}") && method == "POST" {
        "create"
    } else {
        return endpoint.to_owned();
    };
    name.to_owned()
}
