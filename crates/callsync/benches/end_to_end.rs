//! End to end: the time from a call's last event being accepted (`202` for its `ended`
//! event) to its Task existing in Salesforce, p50 and p99, at a steady rate of calls, with
//! every Salesforce request slowed by a fixed latency — callsync's API and worker and an
//! sf-sandbox with a generated org, all in this process.
//!
//! `cargo bench -p callsync --bench end_to_end [-- --rate R --seconds S --latency-ms L
//! --orgs O --agents A --records N --backend sqlite|postgres --workers W --batch B
//! --per-org-concurrency C --poll-ms P]`
//!
//! Each call posts its opening events (dialling or ringing, answered), then a second later
//! its `ended` event; the calls follow `support::CallMix` (click-to-call, unknown and known
//! numbers, missed calls) and organisations take turns. The Task's existence is read from
//! its `CreatedDate` in the sandbox (milliseconds), which is set when the create commits.
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
    let rate: f64 = flags.number("--rate", 20.0, 5.0);
    let seconds: u64 = flags.number("--seconds", 30, 2);
    let latency_ms: u64 = flags.number("--latency-ms", 100, 10);
    let orgs: usize = flags.number("--orgs", 4, 1);
    let agents: usize = flags.number("--agents", 10, 2);
    let records: usize = flags.number("--records", 10_000, 500);
    let workers: usize = flags.number("--workers", 1, 1);
    let talk = Duration::from_millis(flags.number("--talk-ms", 1000, 200));
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
        let store = Store::connect(&database.url).await?;
        let mut bench_orgs = Vec::new();
        for index in 0..orgs {
            bench_orgs.push(
                support::create_org(
                    &store,
                    Some(&sandbox),
                    &format!("org{index}"),
                    &Settings::default(),
                    agents,
                )
                .await?,
            );
        }
        let api = support::RunningApi::start(&store).await?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
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
        println!();

        // When each call's `ended` event was accepted, by call id.
        let accepted: Arc<Mutex<HashMap<String, Timestamp>>> = Arc::default();
        let http = reqwest::Client::new();
        let mut mix = CallMix::new(Directory::of(&sandbox, records), 11);
        let total_calls = (rate * seconds as f64).round() as u64;
        let started = Instant::now();
        let mut senders = tokio::task::JoinSet::new();
        for index in 0..total_calls {
            let due = started + Duration::from_secs_f64(index as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
            let org = bench_orgs[index as usize % bench_orgs.len()].clone();
            let (plan, _) = mix.plan(&org, Timestamp::now() - SignedDuration::from_secs(188));
            let (http, url, accepted) = (http.clone(), api.url.clone(), accepted.clone());
            senders.spawn(async move {
                let events = plan.call_events();
                let (opening, ended) = events.split_at(events.len() - 1);
                support::post_events(&http, &url, &org, serde_json::to_string(opening)?).await?;
                tokio::time::sleep(talk).await;
                support::post_events(&http, &url, &org, serde_json::to_string(ended)?).await?;
                accepted
                    .lock()
                    .unwrap()
                    .insert(plan.call_id.clone(), Timestamp::now());
                anyhow::Ok(())
            });
        }
        while let Some(joined) = senders.join_next().await {
            joined??;
        }
        let sending = started.elapsed();
        let backlog = store.queue_depth().await?;

        // Let the worker finish what it has, then read when each Task was created.
        let drain_started = Instant::now();
        while store.queue_depth().await? > 0 && drain_started.elapsed() < Duration::from_secs(120) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let drain = drain_started.elapsed();
        let created: HashMap<String, Timestamp> = sandbox
            .org()
            .records("Task")
            .into_iter()
            .filter_map(|task| {
                let call = task.get("CallObject")?.as_str()?.to_owned();
                let at = support::salesforce_time(task.get("CreatedDate")?.as_str()?)?;
                Some((call, at))
            })
            .collect();
        let accepted = accepted.lock().unwrap().clone();
        let mut latencies = Vec::new();
        let mut missing = 0;
        for (call, accepted_at) in &accepted {
            match created.get(call) {
                // The worker may create the Task before the sender has read its 202: that
                // counts as no wait at all.
                Some(created_at) => latencies.push(
                    Duration::try_from(created_at.duration_since(*accepted_at))
                        .unwrap_or(Duration::ZERO),
                ),
                None => missing += 1,
            }
        }
        let failed = count_failed(&store, &bench_orgs).await?;

        let mut table = Table::new(&[
            "calls",
            "achieved calls/s",
            "Tasks",
            "p50",
            "p90",
            "p99",
            "max",
            "queue at end of load",
            "drain",
        ]);
        table.row(vec![
            accepted.len().to_string(),
            format!("{:.1}", accepted.len() as f64 / sending.as_secs_f64()),
            latencies.len().to_string(),
            millis(percentile(&latencies, 50.0)),
            millis(percentile(&latencies, 90.0)),
            millis(percentile(&latencies, 99.0)),
            millis(percentile(&latencies, 100.0)),
            backlog.to_string(),
            format!("{:.1} s", drain.as_secs_f64()),
        ]);
        table.print();
        println!();
        println!(
            "calls without a Task: {missing} ({failed} in the error log); Salesforce requests: {}",
            sandbox.counters().total
        );
        println!(
            "How to read it: p50/p99 are the time from the 202 of a call's `ended` event to its \
             Task's CreatedDate in the sandbox. Each Task costs at least the sandbox latency \
             once per request in its path (match, create). A `queue at end of load` that grows \
             with --seconds means the worker does not keep up with the rate."
        );

        let _ = stop.send(true);
        for task in worker_tasks {
            task.await?;
        }
        api.stop().await?;
        store.close().await;
        sandbox.shutdown().await;
        database.drop_now().await;
        anyhow::Ok(())
    })
}

/// Calls whose sync failed (each has an error-log entry with its remedy).
async fn count_failed(store: &Store, orgs: &[support::BenchOrg]) -> anyhow::Result<usize> {
    let mut failed = 0;
    for org in orgs {
        failed += store.errors(&org.id, true, 10_000).await?.len();
    }
    Ok(failed)
}
