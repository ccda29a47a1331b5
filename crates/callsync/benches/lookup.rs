//! Screen-pop lookup: how long callsync takes to say which record a number belongs to
//! (R3, the record a call would be linked to), p50 and p99, and the memory callsync holds,
//! for orgs of 10k, 100k and (with `--million`) 1M generated records.
//!
//! `cargo bench -p callsync --bench lookup [-- --lookups N --sizes 10000,100000 --million]`
//!
//! The sandbox runs in a child process (this same binary, started with `--sandbox-child`),
//! as Salesforce is another machine in production: callsync's resident memory is then its
//! own, and the sandbox's is shown apart. Lookups are made one at a time, as a phone client
//! does, with `GET /v1/lookup?number=` on callsync's API when it has that endpoint, else
//! with `crm::find_record_for_number` directly. Either way a known number costs one
//! composite request of SOQL queries, an unknown one also a SOSL search (`crm::matching`).
//! A million records take the sandbox about 3 GB and a minute to generate, hence the flag.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic is a failure

mod support;

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use callsync::crm::{ClientOptions, Connections, SalesforceConnection, find_record_for_number};
use callsync::store::Store;
use callsync_core::phone::PhoneRegion;
use callsync_core::settings::Settings;
use serde_json::{Value, json};
use sf_sandbox::{GenerateSpec, Sandbox, SandboxConfig};
use support::{BenchDatabase, Directory, Flags, SandboxLink, Table, millis, percentile};

fn main() -> anyhow::Result<()> {
    let flags = Flags::from_env();
    if let Some(records) = flags.text("--sandbox-child") {
        return serve_sandbox(records.parse()?);
    }
    let lookups: usize = flags.number("--lookups", 500, 20);
    let mut sizes: Vec<usize> = match flags.text("--sizes") {
        Some(list) => list
            .split(',')
            .map(|size| size.trim().parse())
            .collect::<Result<_, _>>()?,
        None if flags.measuring() => vec![10_000, 100_000],
        None => vec![1_000],
    };
    if flags.has("--million") {
        sizes.push(1_000_000);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        support::header("callsync benchmark: screen-pop lookup", &flags);
        println!(
            "{lookups} lookups per org, one at a time: 80 % numbers the org holds (spelt as its \
             records spell them), 20 % unknown; sandbox in a child process"
        );
        println!();
        let mut table = Table::new(&[
            "records",
            "known p50",
            "known p99",
            "unknown p50",
            "unknown p99",
            "all p50",
            "all p99",
            "matched",
            "callsync RSS",
            "sandbox RSS",
        ]);
        let mut paths = Vec::new();
        for size in sizes {
            let generating = Instant::now();
            let mut child = SandboxChild::start(size)?;
            eprintln!(
                "  {size} records generated in the child in {:.1} s",
                generating.elapsed().as_secs_f64()
            );
            let (figures, path) = measure(&child, lookups).await?;
            paths.push(path);
            let sandbox_rss = support::resident_megabytes(Some(child.process.id()));
            child.stop();
            table.row(vec![
                size.to_string(),
                millis(percentile(&figures.known, 50.0)),
                millis(percentile(&figures.known, 99.0)),
                millis(percentile(&figures.unknown, 50.0)),
                millis(percentile(&figures.unknown, 99.0)),
                millis(percentile(&figures.all(), 50.0)),
                millis(percentile(&figures.all(), 99.0)),
                format!("{}/{}", figures.matched, figures.known.len()),
                format!("{:.0} MB", figures.resident_mb),
                format!("{sandbox_rss:.0} MB"),
            ]);
        }
        table.print();
        println!();
        if paths.contains(&Path::Api) {
            println!("lookups made with GET /v1/lookup?number= on callsync's API (admin key)");
        } else {
            println!(
                "lookups made with crm::find_record_for_number: this callsync has no \
                 GET /v1/lookup"
            );
        }
        println!(
            "How to read it: latency is from asking to knowing the record (or that there is \
             none), over loopback HTTP to the sandbox; `matched` counts known numbers linked to \
             a record (R3.5 leaves converted Leads out; a number on a converted Lead only is \
             no match). `callsync RSS` is this process's VmRSS after the lookups; the \
             sandbox's own is beside it."
        );
        anyhow::Ok(())
    })
}

/// Lookup latencies of one org size.
#[derive(Debug, Default)]
struct Figures {
    known: Vec<Duration>,
    unknown: Vec<Duration>,
    matched: usize,
    resident_mb: f64,
}

impl Figures {
    fn all(&self) -> Vec<Duration> {
        self.known.iter().chain(&self.unknown).copied().collect()
    }
}

/// How a lookup is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// `GET /v1/lookup?number=` on callsync's API, as a phone client asks.
    Api,
    /// `crm::find_record_for_number`, for a callsync without that endpoint.
    Direct,
}

async fn measure(child: &SandboxChild, lookups: usize) -> anyhow::Result<(Figures, Path)> {
    let link = SandboxLink {
        url: text(&child.hello, "url")?,
        client_id: text(&child.hello, "client_id")?,
        private_key_pem: text(&child.hello, "private_key_pem")?,
        username: text(&child.hello, "username")?,
    };
    let known: Vec<String> = serde_json::from_value(child.hello["numbers"].clone())?;
    anyhow::ensure!(!known.is_empty(), "the sandbox child sent no numbers");

    let database = BenchDatabase::sqlite("lookup")?;
    let store = Store::connect(&database.url).await?;
    let org =
        support::create_org_linked(&store, Some(&link), "bench", &Settings::default()).await?;
    let api = support::RunningApi::start(&store).await?;
    let http = reqwest::Client::new();
    let connections = Connections::new(ClientOptions::default());
    let connection = SalesforceConnection::from_json(&link.connection_json())?;
    let client = connections.default_user_client(&org.id, &connection)?;

    // The first lookup fetches the token and the describe of Account, once per process:
    // leave it out. It also tells whether the API has the lookup endpoint.
    let path = match lookup_over_api(&http, &api.url, &org, &known[0]).await? {
        Some(_) => Path::Api,
        None => {
            find_record_for_number(&client, &known[0], PhoneRegion::JAPAN).await?;
            Path::Direct
        }
    };

    let mut figures = Figures::default();
    for index in 0..lookups {
        let unknown = index % 5 == 4;
        let number = if unknown {
            support::unknown_number(index as u64)
        } else {
            known[(index * 7919) % known.len()].clone()
        };
        let started = Instant::now();
        let found = match path {
            Path::Api => lookup_over_api(&http, &api.url, &org, &number)
                .await?
                .unwrap_or(false),
            Path::Direct => find_record_for_number(&client, &number, PhoneRegion::JAPAN)
                .await?
                .is_some(),
        };
        let elapsed = started.elapsed();
        if unknown {
            figures.unknown.push(elapsed);
        } else {
            figures.known.push(elapsed);
            figures.matched += usize::from(found);
        }
    }
    figures.resident_mb = support::resident_megabytes(None);
    api.stop().await?;
    store.close().await;
    Ok((figures, path))
}

/// Asks `GET /v1/lookup`: whether a record matched, or `None` when the API has no such
/// endpoint (an older callsync).
async fn lookup_over_api(
    http: &reqwest::Client,
    api_url: &str,
    org: &support::BenchOrg,
    number: &str,
) -> anyhow::Result<Option<bool>> {
    let response = http
        .get(format!("{api_url}/v1/lookup"))
        .query(&[("number", number)])
        .bearer_auth(&org.admin_key)
        .send()
        .await?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(
        status.is_success(),
        "lookup of {number:?} failed ({status}): {answer}"
    );
    Ok(Some(!answer["record"].is_null()))
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
