//! End to end: the time from a call's last event (its `ended` event, as the phone system
//! sends it) to its Task existing in Salesforce, p50 and p99, at a steady rate of calls,
//! with every Salesforce request slowed by a fixed latency — callsync's API and worker and
//! an sf-sandbox with a generated org, all in this process.
//!
//! `cargo bench -p callsync --bench end_to_end [-- --rate R --seconds S --latency-ms L
//! --orgs O --agents A --records N --backend sqlite|postgres --workers W --batch B
//! --per-org-concurrency C --poll-ms P --talk-ms T --drain-seconds D --live --mode each|integration
//! --trace sales|issue15 --updates --memo-after-ms M --analysis-after-ms N]`
//!
//! By default each organisation's local phone index (R15) is backfilled before the load
//! (not timed) and caught up in the background every `index::SYNC_INTERVAL`, as `serve`
//! does, so R3 reads it; `--live` matches by asking Salesforce for every call, as before
//! the index.
//!
//! `--mode integration` writes every Task as one integration user, batched in sObject
//! Collections (R14). `--trace issue15` is issue 15's mix of calls (`support::MixShape`).
//! `--updates` also sends each answered call's memo `--memo-after-ms` after its `ended`
//! event and its voice analysis `--analysis-after-ms` after that, each in its own
//! delivery. `synced calls/s` is the rate at which calls complete — each at its Task's last
//! write (`LastModifiedDate`: with `--updates`, once it holds the memo and the analysis) —
//! in the steady window from 2 s after the first `ended` to the last `ended`: the offered
//! rate while the worker keeps up, less when it falls behind. (Until 2026-11-30 it was the calls over the time
//! from the first `ended` sent to an empty queue, which counts the fixed 1.3 s wait for the
//! last call's memo and analysis against a short run; that figure is printed beside it.)
//!
//! Each call posts its opening events (dialling or ringing, answered), then `--talk-ms`
//! later its `ended` event; the calls follow `support::CallMix` (click-to-call, unknown and
//! known numbers, missed calls) and organisations take turns. The clock starts just before
//! the `ended` event is sent, so ingest is part of the time; the Task's existence is read
//! from its `CreatedDate` in the sandbox (milliseconds, same clock), set when the create
//! commits, after the sandbox's latency and before its answer travels back.
//!
//! The org is small by default (1,000 records) because the sandbox answers every query by
//! scanning its records: with 10,000, at 100 calls/s, the in-process sandbox alone needs
//! more CPU than a two-core machine has, and the figures would measure the sandbox.
//!
//! The worker's throughput is printed beside the latency: when it is below the rate, the
//! queue grows for as long as the load lasts and the latency measures that queue.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic is a failure

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callsync::config::WorkerConfig;
use callsync::store::Store;
use callsync::worker::Worker;
use callsync_core::settings::Settings;
use jiff::{SignedDuration, Timestamp};
use sf_sandbox::{FaultPlan, GenerateSpec, Sandbox, SandboxConfig};
use support::{Backend, BenchDatabase, CallMix, Directory, Flags, Table, millis, percentile};

fn main() -> anyhow::Result<()> {
    let flags = Flags::from_env();
    let rate: f64 = flags.number("--rate", 100.0, 5.0);
    let seconds: u64 = flags.number("--seconds", 30, 2);
    let latency_ms: u64 = flags.number("--latency-ms", 100, 10);
    // Ten organisations by default: a service taking 100 calls/s takes them from many
    // organisations, and each one syncs at most `per_org_concurrency` calls at once (to spare
    // its Salesforce), which caps one organisation at about 16 calls/s at 100 ms per request.
    let orgs: usize = flags.number("--orgs", 10, 1);
    let agents: usize = flags.number("--agents", 10, 2);
    // A small org by default: the sandbox scans its records for every query, and at 100
    // calls/s on a small machine a bigger org's scans take the cores the worker needs.
    let records: usize = flags.number("--records", 1_000, 500);
    let workers: usize = flags.number("--workers", 1, 1);
    let talk = Duration::from_millis(flags.number("--talk-ms", 1000, 200));
    let drain_limit = Duration::from_secs(flags.number("--drain-seconds", 600, 30));
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
    let updates = flags.has("--updates");
    let memo_after = Duration::from_millis(flags.number("--memo-after-ms", 300, 300));
    let analysis_after = Duration::from_millis(flags.number("--analysis-after-ms", 1000, 1000));
    let defaults = WorkerConfig::default();
    let worker_config = WorkerConfig {
        batch: flags.number("--batch", defaults.batch, defaults.batch),
        per_org_concurrency: flags.number(
            "--per-org-concurrency",
            defaults.per_org_concurrency,
            defaults.per_org_concurrency,
        ),
        poll_interval_ms: flags.number(
            "--poll-ms",
            defaults.poll_interval_ms,
            defaults.poll_interval_ms,
        ),
        ..defaults
    };
    let live = flags.has("--live");
    let backend = *Backend::chosen(&flags, "sqlite")?
        .first()
        .expect("one back end");
    anyhow::ensure!(rate > 0.0, "--rate must be above zero");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        support::header("callsync benchmark: end to end (last event → Task)", &flags);
        let Some(database) = BenchDatabase::create(backend, "e2e").await? else {
            return Ok(());
        };
        let sandbox = Sandbox::start(SandboxConfig {
            seed: 11,
            daily_api_limit: u64::MAX,
            generate: Some(GenerateSpec::total(records, 11)),
            faults: FaultPlan {
                base_latency_millis: latency_ms,
                ..FaultPlan::default()
            },
            ..SandboxConfig::default()
        })
        .await?;
        let store = Store::connect_with(&database.url, callsync::secrets::Sealer::ephemeral()).await?;
        let mut settings = Settings::default();
        if integration {
            settings.writing.mode = callsync_core::writing::WriteMode::IntegrationUser;
        }
        let mut bench_orgs = Vec::new();
        for index in 0..orgs {
            bench_orgs.push(
                support::create_org(
                    &store,
                    Some(&sandbox),
                    &format!("org{index}"),
                    &settings,
                    agents,
                )
                .await?,
            );
        }
        let api = support::RunningApi::start(&store).await?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut index_task = None;
        if !live {
            let backfilling = Instant::now();
            let connection = callsync::crm::SalesforceConnection::of_sandbox(&sandbox);
            let connections =
                callsync::crm::Connections::new(callsync::crm::ClientOptions::default());
            for org in &bench_orgs {
                let client = connections.default_user_client(&org.id, &connection)?;
                support::backfill_index(&store, &org.id, &client).await?;
            }
            println!(
                "phone index: {} organisation(s) backfilled in {:.1} s before the load (not \
                 timed), then caught up in the background every {} s",
                bench_orgs.len(),
                backfilling.elapsed().as_secs_f64(),
                callsync::index::SYNC_INTERVAL.as_secs_f64()
            );
            // The backfill's requests are not the load's.
            sandbox.reset_counters();
            let mut stopped = stopped.clone();
            index_task = Some(tokio::spawn(callsync::index::run_background(
                store.clone(),
                callsync::index::SYNC_INTERVAL,
                async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                },
            )));
        }
        let mut worker_tasks = Vec::new();
        for _ in 0..workers {
            let worker = Worker::new(store.clone(), worker_config.clone(), None);
            let mut stopped = stopped.clone();
            worker_tasks.push(tokio::spawn(worker.run(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })));
        }

        println!(
            "load: {rate} calls/s for {seconds} s over {orgs} organisation(s) of {agents} agents; \
             {records} generated records; every Salesforce request delayed {latency_ms} ms"
        );
        println!(
            "callsync: API and worker in-process on {}, {workers} worker(s): batch {}, \
             {} calls at once per organisation, idle poll {} ms",
            backend.name(),
            worker_config.batch,
            worker_config.per_org_concurrency,
            worker_config.poll_interval_ms
        );
        println!(
            "write mode: {}; calls: {}{}",
            if integration { "integration user, batched" } else { "as each user" },
            if shape == support::MixShape::ISSUE_15 { "issue 15's trace" } else { "the sales mix" },
            if updates {
                format!(
                    "; each answered call's memo {} ms after its end, its analysis {} ms later",
                    memo_after.as_millis(),
                    analysis_after.as_millis()
                )
            } else {
                String::new()
            }
        );
        println!();

        // When each call's `ended` event was sent, by call id.
        let sent: Arc<Mutex<HashMap<String, Timestamp>>> = Arc::default();
        let http = reqwest::Client::new();
        let mut mix = CallMix::shaped(Directory::of(&sandbox, records), 11, shape);
        let total_calls = (rate * seconds as f64).round() as u64;
        let started = Instant::now();
        let mut senders = tokio::task::JoinSet::new();
        for index in 0..total_calls {
            let due = started + Duration::from_secs_f64(index as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
            let org = bench_orgs[index as usize % bench_orgs.len()].clone();
            // A memo and an analysis come minutes after the call's start in the plan: start
            // the call far enough back that they are not dated in the future.
            let back = if updates { 1_800 } else { 188 };
            let (plan, _) = mix.plan(&org, Timestamp::now() - SignedDuration::from_secs(back));
            let (http, url, sent) = (http.clone(), api.url.clone(), sent.clone());
            senders.spawn(async move {
                let events = plan.call_events();
                let (opening, ended) = events.split_at(events.len() - 1);
                support::post_events(&http, &url, &org, serde_json::to_string(opening)?).await?;
                tokio::time::sleep(talk).await;
                let body = serde_json::to_string(ended)?;
                let sent_at = Timestamp::now();
                support::post_events(&http, &url, &org, body).await?;
                sent.lock().unwrap().insert(plan.call_id.clone(), sent_at);
                if updates {
                    if let Some(memo) = plan.memo_event() {
                        tokio::time::sleep(memo_after).await;
                        support::post_events(&http, &url, &org, serde_json::to_string(&[memo])?)
                            .await?;
                    }
                    if let Some(analysis) = plan.analysis_event() {
                        tokio::time::sleep(analysis_after).await;
                        let body = serde_json::to_string(&[analysis])?;
                        support::post_events(&http, &url, &org, body).await?;
                    }
                }
                anyhow::Ok(())
            });
        }
        while let Some(joined) = senders.join_next().await {
            joined??;
        }
        let load_lasted = started.elapsed();
        let backlog = store.queue_depth().await?;

        // Let the worker finish what it has, then read when each Task was created.
        let drain_started = Instant::now();
        while store.queue_depth().await? > 0 && drain_started.elapsed() < drain_limit {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let drain = drain_started.elapsed();
        let drained = store.queue_depth().await? == 0;
        let all_synced = Timestamp::now();
        // Each call's Task: when it was created, and when it was last written (its memo and
        // analysis included, with `--updates`): the call is synced then.
        let mut created: HashMap<String, Timestamp> = HashMap::new();
        let mut completed: Vec<Timestamp> = Vec::new();
        for task in sandbox.org().records("Task") {
            let moment = |field: &str| {
                task.get(field)
                    .and_then(|value| value.as_str())
                    .and_then(support::salesforce_time)
            };
            let (Some(call), Some(at)) = (
                task.get("CallObject").and_then(|value| value.as_str()),
                moment("CreatedDate"),
            ) else {
                continue;
            };
            created.insert(call.to_owned(), at);
            completed.push(moment("LastModifiedDate").unwrap_or(at).max(at));
        }
        let sent = sent.lock().unwrap().clone();
        let mut latencies = Vec::new();
        let mut missing = 0;
        for (call, sent_at) in &sent {
            match created.get(call) {
                // `CreatedDate` keeps whole milliseconds: a Task made within the same
                // millisecond may read as a hair before the send.
                Some(created_at) => latencies.push(
                    Duration::try_from(created_at.duration_since(*sent_at))
                        .unwrap_or(Duration::ZERO),
                ),
                None => missing += 1,
            }
        }
        let offered = per_second(sent.values());
        let first_ended = sent.values().min().copied();
        let span_per_second = first_ended
            .map(|first| sent.len() as f64 / all_synced.duration_since(first).as_secs_f64())
            .unwrap_or(0.0);
        // Calls complete at different delays after their `ended` (a missed call at its
        // create, an answered one after its memo and analysis, 1.3 s later), so the span
        // from the first completion to the last stretches a short run. Counted instead:
        // completions in the steady window from `STEADY_AFTER` past the first `ended` to
        // the last `ended`, over that window's length.
        const STEADY_AFTER: SignedDuration = SignedDuration::from_secs(2);
        let last_ended = sent.values().max().copied();
        let synced_per_second = match (first_ended, last_ended) {
            (Some(first), Some(last))
                if last.duration_since(first) > STEADY_AFTER + SignedDuration::from_secs(1) =>
            {
                let from = first + STEADY_AFTER;
                let window = last.duration_since(from).as_secs_f64();
                let done = completed.iter().filter(|at| **at >= from && **at <= last).count();
                done as f64 / window
            }
            _ => per_second(completed.iter()),
        };
        let throughput = per_second(created.values());
        let errors = support::error_summary(&store, &bench_orgs).await?;

        let mut table = Table::new(&[
            "calls",
            "offered calls/s",
            "Tasks",
            "Tasks/s",
            "p50",
            "p90",
            "p99",
            "max",
            "queued at end of load",
            "drain",
        ]);
        table.row(vec![
            sent.len().to_string(),
            format!("{offered:.1}"),
            latencies.len().to_string(),
            format!("{throughput:.1}"),
            millis(percentile(&latencies, 50.0)),
            millis(percentile(&latencies, 90.0)),
            millis(percentile(&latencies, 99.0)),
            millis(percentile(&latencies, 100.0)),
            backlog.to_string(),
            format!(
                "{:.1} s{}",
                drain.as_secs_f64(),
                if drained { "" } else { " (gave up)" }
            ),
        ]);
        table.print();
        println!();
        let requests = sandbox.counters().total;
        println!(
            "synced calls/s: {synced_per_second:.1} (calls completed — each at its Task's last \
             write{} — per second from 2 s after the first `ended` to the last `ended`: the \
             offered rate while the worker keeps up, less when it falls behind; {} calls)",
            if updates { ", its memo and analysis included" } else { "" },
            completed.len(),
        );
        println!(
            "first `ended` sent to an empty queue: {span_per_second:.1} calls/s (includes the \
             fixed wait for the last call's memo and analysis, and the 50 ms queue poll)"
        );
        println!(
            "load lasted {:.1} s; Salesforce requests: {requests} ({:.2} per call); calls \
             without a Task: {missing}; open error-log entries: {errors}",
            load_lasted.as_secs_f64(),
            requests as f64 / sent.len().max(1) as f64
        );
        // In flight at any moment are about a second's calls (the talk time, then the
        // sync path); a queue of more than two seconds' worth at the end of the load means
        // it was growing.
        // Each organisation syncs `per_org_concurrency` calls at once, each taking about its
        // requests times the latency: the most this configuration can sync, whatever the
        // machine.
        let per_call = requests as f64 / sent.len().max(1) as f64;
        let ceiling = (orgs * worker_config.per_org_concurrency) as f64
            / (per_call * latency_ms as f64 / 1000.0);
        println!(
            "ceiling of this configuration: {orgs} organisation(s) × {} calls at once ÷ \
             ({per_call:.2} requests × {latency_ms} ms) ≈ {ceiling:.0} calls/s",
            worker_config.per_org_concurrency
        );
        if drained && (backlog as f64) <= 2.0 * rate {
            println!(
                "verdict: the worker kept up ({backlog} calls queued when the load ended, \
                 under two seconds' worth), so p50/p99 are the sync path's own latency."
            );
        } else {
            println!(
                "verdict: the worker did NOT keep up ({backlog} calls queued when the load \
                 ended; {throughput:.1} Tasks/s for {offered:.1} calls/s offered): the queue \
                 grew for as long as the load lasted, and p50/p99 measure that queue, growing \
                 with --seconds. More --per-org-concurrency, --batch or --workers, or a lower \
                 --rate, measure the path itself."
            );
        }
        println!(
            "How to read it: p50/p99 are from the moment the phone system sends a call's \
             `ended` event to its Task's CreatedDate in the sandbox. A Task needs at least the \
             requests on its path — the match (with the index none, unless the index is older \
             than its freshness window; live, one composite SOQL request, and a SOSL search \
             when that finds nothing) and the create; the owner is cached — each delayed \
             {latency_ms} ms, plus up to the worker's idle poll of {} ms. `Tasks/s` is Tasks created over \
             the span from the first to the last.",
            worker_config.poll_interval_ms
        );

        let _ = stop.send(true);
        for task in worker_tasks {
            task.await?;
        }
        if let Some(task) = index_task {
            task.await?;
        }
        api.stop().await?;
        store.close().await;
        sandbox.shutdown().await;
        database.drop_now().await;
        anyhow::Ok(())
    })
}

/// Events per second over the span from the first to the last moment given.
fn per_second<'a>(moments: impl Iterator<Item = &'a Timestamp>) -> f64 {
    let mut first: Option<Timestamp> = None;
    let mut last: Option<Timestamp> = None;
    let mut count = 0_u64;
    for moment in moments {
        first = Some(first.map_or(*moment, |first| first.min(*moment)));
        last = Some(last.map_or(*moment, |last| last.max(*moment)));
        count += 1;
    }
    match (first, last) {
        (Some(first), Some(last)) if count > 1 && last > first => {
            let span = last.duration_since(first).as_secs_f64();
            (count - 1) as f64 / span
        }
        _ => 0.0,
    }
}
