//! Prometheus metrics, served on their own listener (`metrics_listen`) so
//! they can stay private while the API is public.
//!
//! What is measured: events accepted and deduplicated, syncs by outcome
//! (created, adopted, updated, up_to_date, waiting, never, retried,
//! failed), the outbox's depth (read from the store at each scrape, so it
//! is right whichever instance did the work), and each organisation's
//! Salesforce API usage as the last `Sforce-Limit-Info` header said.
//! Without an installed recorder (tests, the demo) every `metrics` call is
//! a no-op.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::store::Store;

pub const EVENTS_ACCEPTED: &str = "callsync_events_accepted_total";
pub const EVENTS_DUPLICATE: &str = "callsync_events_duplicate_total";
pub const SYNCS: &str = "callsync_syncs_total";
pub const QUEUE_DEPTH: &str = "callsync_queue_depth";
pub const SALESFORCE_API_USED: &str = "callsync_salesforce_api_used";
pub const SALESFORCE_API_MAX: &str = "callsync_salesforce_api_max";

/// Installs the process-wide Prometheus recorder.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|error| anyhow::anyhow!("cannot install the metrics recorder: {error}"))?;
    metrics::describe_counter!(EVENTS_ACCEPTED, "Events stored (first time seen).");
    metrics::describe_counter!(EVENTS_DUPLICATE, "Events received again and ignored (R10).");
    metrics::describe_counter!(SYNCS, "Sync steps by outcome.");
    metrics::describe_gauge!(
        QUEUE_DEPTH,
        "Calls waiting in the sync outbox (parked ones excluded)."
    );
    metrics::describe_gauge!(
        SALESFORCE_API_USED,
        "Daily Salesforce API requests used, per organisation."
    );
    metrics::describe_gauge!(
        SALESFORCE_API_MAX,
        "Daily Salesforce API allowance, per organisation."
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
    state.handle.render()
}
