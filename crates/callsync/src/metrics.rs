//! Prometheus metrics, served on their own listener (`metrics_listen`) so
//! they can stay private while the API is public.
//!
//! What is measured: events accepted and deduplicated, syncs by outcome
//! (created, adopted, updated, up_to_date, waiting, never, retried,
//! failed), the outbox's depth (read from the store at each scrape, so it
//! is right whichever instance did the work), the calls waiting by reason and
//! the age of the oldest (R16, read the same way), and each organisation's
//! Salesforce API usage as the last `Sforce-Limit-Info` header said.
//! Without an installed recorder (tests, the demo) every `metrics` call is
//! a no-op.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use strum::VariantArray as _;

use crate::store::{Store, WaitReason};

pub const EVENTS_ACCEPTED: &str = "callsync_events_accepted_total";
pub const EVENTS_DUPLICATE: &str = "callsync_events_duplicate_total";
pub const SYNCS: &str = "callsync_syncs_total";
pub const QUEUE_DEPTH: &str = "callsync_queue_depth";
pub const CALLS_WAITING: &str = "callsync_calls_waiting";
pub const OLDEST_WAITING: &str = "callsync_oldest_waiting_seconds";
pub const SALESFORCE_API_USED: &str = "callsync_salesforce_api_used";
pub const SALESFORCE_API_MAX: &str = "callsync_salesforce_api_max";
/// API request latency by `endpoint` (`ingest`, `api`) and `status` class (`api/limits.rs`).
pub const HTTP_REQUEST_SECONDS: &str = "callsync_http_request_duration_seconds";
/// Requests refused with 429, by `endpoint`.
pub const HTTP_RATE_LIMITED: &str = "callsync_http_rate_limited_total";
/// Salesforce request latency by `operation` and `outcome` (`salesforce_metrics.rs`).
pub const SALESFORCE_REQUEST_SECONDS: &str = "callsync_salesforce_request_duration_seconds";
/// From the newest event of a call reaching callsync to its Task holding it, by `write`
/// (`create`, `update`).
pub const EVENT_TO_TASK_SECONDS: &str = "callsync_event_to_task_seconds";
/// Records per sObject Collections request of Task writes (R14), by `op` (`create`,
/// `update`, `upsert`); a write sent alone is not counted here.
pub const SALESFORCE_BATCH_RECORDS: &str = "callsync_salesforce_batch_records";
/// Buckets for [`SALESFORCE_BATCH_RECORDS`]: from two records to a full collection of 200.
pub const BATCH_BUCKETS: [f64; 8] = [2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 150.0, 200.0];
/// Rows deleted by retention, by `table`.
pub const RETENTION_PRUNED: &str = "callsync_retention_pruned_total";

/// Histogram buckets (seconds) for request latencies: from a fast local write to a
/// Salesforce request at its timeout.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
pub const PHONE_INDEX_RECORDS: &str = "callsync_phone_index_records";
pub const PHONE_INDEX_LAG: &str = "callsync_phone_index_lag_seconds";
pub const PHONE_INDEX_FAILING: &str = "callsync_phone_index_failing";
pub const PHONE_INDEX_WATERMARK: &str = "callsync_phone_index_watermark_timestamp_seconds";
pub const PHONE_INDEX_MEMORY: &str = "callsync_phone_index_memory_bytes";

/// Installs the process-wide Prometheus recorder.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        // Every `*_seconds` metric is a histogram with the same buckets, so dashboards can
        // aggregate quantiles across instances (summaries cannot be).
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("_seconds".to_owned()),
            &LATENCY_BUCKETS,
        )
        .map_err(|error| anyhow::anyhow!("cannot set histogram buckets: {error}"))?
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(SALESFORCE_BATCH_RECORDS.to_owned()),
            &BATCH_BUCKETS,
        )
        .map_err(|error| anyhow::anyhow!("cannot set histogram buckets: {error}"))?
        .install_recorder()
        .map_err(|error| anyhow::anyhow!("cannot install the metrics recorder: {error}"))?;
    metrics::describe_counter!(EVENTS_ACCEPTED, "Events stored (first time seen).");
    metrics::describe_histogram!(
        EVENT_TO_TASK_SECONDS,
        metrics::Unit::Seconds,
        "From a call's newest event reaching callsync to its Task holding it."
    );
    metrics::describe_histogram!(
        SALESFORCE_BATCH_RECORDS,
        "Records per sObject Collections request of Task writes, by op (R14)."
    );
    metrics::describe_histogram!(
        HTTP_REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "API request latency, by endpoint (ingest, api) and status class."
    );
    metrics::describe_counter!(
        HTTP_RATE_LIMITED,
        "API requests refused with 429, by endpoint."
    );
    metrics::describe_histogram!(
        SALESFORCE_REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Salesforce request latency, by operation and outcome."
    );
    metrics::describe_counter!(RETENTION_PRUNED, "Old rows deleted by retention, by table.");
    metrics::describe_counter!(EVENTS_DUPLICATE, "Events received again and ignored (R10).");
    metrics::describe_counter!(SYNCS, "Sync steps by outcome.");
    metrics::describe_gauge!(
        QUEUE_DEPTH,
        "Calls waiting in the sync outbox (parked ones excluded)."
    );
    metrics::describe_gauge!(
        CALLS_WAITING,
        "Calls not yet synced, by why: due, a wait reason (R16), or failed (parked)."
    );
    metrics::describe_gauge!(
        OLDEST_WAITING,
        "Age of the oldest call not yet synced, by the same reasons."
    );
    metrics::describe_gauge!(
        SALESFORCE_API_USED,
        "Daily Salesforce API requests used, per organisation."
    );
    metrics::describe_gauge!(
        SALESFORCE_API_MAX,
        "Daily Salesforce API allowance, per organisation."
    );
    metrics::describe_gauge!(
        PHONE_INDEX_RECORDS,
        "Records in the local phone index (R15), per organisation."
    );
    metrics::describe_gauge!(
        PHONE_INDEX_LAG,
        "Seconds since the phone index's last successful sync began, per organisation."
    );
    metrics::describe_gauge!(
        PHONE_INDEX_FAILING,
        "1 while the phone index's last sync failed (matching asks Salesforce live)."
    );
    metrics::describe_gauge!(
        PHONE_INDEX_WATERMARK,
        "The SystemModstamp (Unix seconds) up to which the phone index has applied changes."
    );
    metrics::describe_gauge!(
        PHONE_INDEX_MEMORY,
        "Bytes the phone index's in-memory table has allocated, per organisation."
    );
    Ok(handle)
}

#[derive(Clone)]
struct MetricsState {
    handle: PrometheusHandle,
    store: Store,
}

/// `GET /metrics` in Prometheus' text format.
pub fn router(handle: PrometheusHandle, store: Store) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(MetricsState { handle, store })
}

async fn render(State(state): State<MetricsState>) -> String {
    match state.store.queue_depth().await {
        Ok(depth) => metrics::gauge!(QUEUE_DEPTH).set(depth as f64),
        Err(error) => tracing::warn!(error = format!("{error:#}"), "cannot read the queue depth"),
    }
    let now = jiff::Timestamp::now();
    match state.store.waiting(None, now).await {
        Ok(counts) => {
            // Reasons that emptied since the last scrape read 0, not their last value.
            for reason in ["due", "failed"]
                .into_iter()
                .chain(WaitReason::VARIANTS.iter().map(|reason| reason.as_str()))
            {
                let count = counts.iter().find(|count| count.reason == reason);
                let calls = count.map_or(0, |count| count.calls);
                let age = count
                    .and_then(|count| count.oldest_since)
                    .map_or(0.0, |since| now.duration_since(since).as_secs_f64());
                metrics::gauge!(CALLS_WAITING, "reason" => reason).set(calls as f64);
                metrics::gauge!(OLDEST_WAITING, "reason" => reason).set(age.max(0.0));
            }
        }
        Err(error) => tracing::warn!(
            error = format!("{error:#}"),
            "cannot read the waiting calls"
        ),
    }
    for (org, index) in state.store.indexes().all() {
        let status = index.status();
        metrics::gauge!(PHONE_INDEX_RECORDS, "org" => org.clone()).set(status.records as f64);
        metrics::gauge!(PHONE_INDEX_MEMORY, "org" => org.clone()).set(status.memory_bytes as f64);
        if let Some(watermark) = status.watermark {
            metrics::gauge!(PHONE_INDEX_WATERMARK, "org" => org.clone())
                .set(watermark.as_millisecond() as f64 / 1000.0);
        }
        if let Some(lag) = status.lag_ms {
            metrics::gauge!(PHONE_INDEX_LAG, "org" => org.clone()).set(lag as f64 / 1000.0);
        }
        metrics::gauge!(PHONE_INDEX_FAILING, "org" => org).set(if status.last_error.is_some() {
            1.0
        } else {
            0.0
        });
    }
    state.handle.render()
}
