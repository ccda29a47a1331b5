//! Throughput and memory of the sandbox, printed (not asserted): requests per second for a
//! simple GET (`/sobjects/Contact/{id}`) and a simple POST (`/sobjects/Task`) over HTTP on
//! loopback, and the memory a million generated records take.
//!
//! `cargo bench -p sf-sandbox --bench throughput [-- --records N --seconds S --concurrency C]`
//! (under `cargo test` it runs a one-second, 2,000-record smoke version).
//! The client runs in the same process and shares the machine's cores with the server, so
//! the figures are a floor for what a separate client would see.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic is a failure

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use sf_sandbox::{GenerateSpec, Sandbox, SandboxConfig};

fn argument(name: &str, default: u64) -> u64 {
    let arguments: Vec<String> = std::env::args().collect();
    arguments
        .iter()
        .position(|argument| argument == name)
        .and_then(|position| arguments.get(position + 1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn resident_megabytes() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kilobytes| kilobytes.parse::<f64>().ok())
        .map(|kilobytes| kilobytes / 1024.0)
        .unwrap_or(0.0)
}

async fn measure(
    name: &str,
    seconds: u64,
    concurrency: u64,
    request: Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync>,
) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency as usize)
        .build()
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let request = request.clone();
        let done = done.clone();
        let failed = failed.clone();
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                match request(&client).send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let count = done.load(Ordering::Relaxed);
    println!(
        "{name}: {count} requests in {elapsed:.1}s = {:.0} requests/s ({} failed, concurrency {concurrency})",
        count as f64 / elapsed,
        failed.load(Ordering::Relaxed)
    );
}

fn main() {
    // `cargo test --all-targets` runs this binary too (without `--bench`): then it only
    // checks that it works, on a small scale, instead of taking gigabytes and seconds.
    let full = std::env::args().any(|argument| argument == "--bench");
    let records = argument("--records", if full { 1_000_000 } else { 2_000 });
    let seconds = argument("--seconds", if full { 5 } else { 1 });
    let concurrency = argument("--concurrency", 32);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let sandbox = Sandbox::start(SandboxConfig { daily_api_limit: u64::MAX, ..SandboxConfig::default() }).await.unwrap();
        let token = sandbox.issue_token(&sandbox.credentials().username).unwrap();
        let admin = sandbox.admin_user();
        let contact = sandbox.org().insert(admin, "Contact", json!({"LastName": "Bench", "Phone": "03-0000-0000"})).unwrap();
        let url = sandbox.url();

        let get_url = format!("{url}/services/data/v62.0/sobjects/Contact/{contact}");
        let get_token = token.clone();
        measure("GET /sobjects/Contact/{id}", seconds, concurrency, Arc::new(move |client| client.get(&get_url).bearer_auth(&get_token))).await;

        let post_url = format!("{url}/services/data/v62.0/sobjects/Task");
        let post_token = token.clone();
        let who = contact.to_string();
        measure(
            "POST /sobjects/Task",
            seconds,
            concurrency,
            Arc::new(move |client| client.post(&post_url).bearer_auth(&post_token).json(&json!({"Subject": "Call", "WhoId": who, "CallType": "Inbound", "TaskSubtype": "Call"}))),
        )
        .await;

        let before = resident_megabytes();
        let started = Instant::now();
        let report = sandbox.generate(&GenerateSpec::total(records as usize, 1));
        let elapsed = started.elapsed().as_secs_f64();
        let after = resident_megabytes();
        let total = sandbox.org().read().total_records();
        println!(
            "generated {total} records ({} accounts, {} contacts, {} person accounts, {} leads, {} users) in {elapsed:.1}s",
            report.accounts, report.contacts, report.person_accounts, report.leads, report.users
        );
        println!(
            "memory: {before:.0} MB before, {after:.0} MB after = {:.0} MB for the records ({:.0} bytes each)",
            after - before,
            (after - before) * 1024.0 * 1024.0 / total.max(1) as f64
        );
        let started = Instant::now();
        let token_get = format!("{url}/services/data/v62.0/sobjects/Contact/{contact}");
        let response = reqwest::Client::new().get(token_get).bearer_auth(&token).send().await.unwrap();
        println!("a GET with {total} records held: {} in {:?}", response.status(), started.elapsed());
        sandbox.shutdown().await;
    });
}
