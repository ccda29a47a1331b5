//! `callsync replay FILE`: posts recorded events (NDJSON: one event per
//! line) to a callsync API, signed, in batches, with a progress bar. The
//! same event id twice is accepted once, so a replay can be repeated
//! safely. Lines that are not JSON are reported with their line number and
//! skipped; nothing else is dropped: a batch the server could not take is
//! retried with backoff.

use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

use crate::ingest::signature::sign;

/// Where and as whom to replay.
#[derive(Debug)]
pub struct ReplayTarget {
    pub url: String,
    pub api_key: SecretString,
    pub signing_secret: SecretString,
    pub batch: usize,
}

/// What a replay did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub accepted: u64,
    pub duplicates: u64,
    pub unreadable_lines: Vec<usize>,
    pub refused_batches: Vec<String>,
}

pub async fn run(file: &Path, target: &ReplayTarget) -> anyhow::Result<ReplayReport> {
    let reader =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let lines: Vec<String> = std::io::BufReader::new(reader)
        .lines()
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read {}", file.display()))?;
    let mut report = ReplayReport::default();
    let mut events = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(event) => events.push(event),
            Err(error) => {
                eprintln!("line {}: not JSON ({error}); skipped", index + 1);
                report.unreadable_lines.push(index + 1);
            }
        }
    }
    let progress = ProgressBar::new(events.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} events  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    for batch in events.chunks(target.batch.max(1)) {
        let body = serde_json::to_string(batch)?;
        let answer = post_with_retries(&http, target, &body).await?;
        match answer {
            Ok(counts) => {
                report.accepted += counts["accepted"].as_u64().unwrap_or(0);
                report.duplicates += counts["duplicates"].as_u64().unwrap_or(0);
            }
            Err(refusal) => {
                progress.suspend(|| eprintln!("a batch was refused: {refusal}"));
                report.refused_batches.push(refusal);
            }
        }
        progress.inc(batch.len() as u64);
    }
    progress.finish();
    Ok(report)
}

/// Posts one batch; retries what can succeed later (no answer, 5xx, 429).
/// `Ok(Err(..))` is a refusal that retrying cannot fix (4xx), with the
/// server's explanation.
async fn post_with_retries(
    http: &reqwest::Client,
    target: &ReplayTarget,
    body: &str,
) -> anyhow::Result<Result<Value, String>> {
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=8 {
        let timestamp = Timestamp::now().as_second();
        let sent = http
            .post(format!("{}/v1/events", target.url.trim_end_matches('/')))
            .bearer_auth(target.api_key.expose_secret())
            .header("content-type", "application/json")
            .header("x-callsync-timestamp", timestamp.to_string())
            .header(
                "x-callsync-signature",
                sign(
                    target.signing_secret.expose_secret().as_bytes(),
                    timestamp,
                    body.as_bytes(),
                ),
            )
            .body(body.to_owned())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                return Ok(Ok(response.json().await?));
            }
            Ok(response)
                if response.status().is_client_error() && response.status().as_u16() != 429 =>
            {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                return Ok(Err(format!("{status}: {text}")));
            }
            Ok(response) => {
                tracing::warn!(status = %response.status(), attempt, "batch not taken; retrying")
            }
            Err(error) => tracing::warn!(%error, attempt, "batch not delivered; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
    anyhow::bail!(
        "the server did not take a batch after 8 attempts; replay again later (it is safe to repeat)"
    )
}
