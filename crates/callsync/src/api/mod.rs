//! The HTTP API: signed event ingest, the read and admin endpoints, and
//! health checks. Handlers parse and check their input, then call the store
//! or the rules; no SQL lives here.

pub(crate) mod admin;
mod auth;
mod error;
mod events;
mod extract;
mod limits;
mod lookup;
mod openapi;
pub(crate) mod settings;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use jiff::Timestamp;

use crate::store::Store;

pub use auth::{Scope, key_hash, new_key, new_signing_secret};
pub use error::{ApiError, ApiResult, Problem};
pub use events::MAX_EVENTS_PER_REQUEST;
pub use limits::RateLimits;
pub use openapi::ApiDoc;

/// The largest request body taken (a batch of events with transcripts).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// The clock, passed in so tests can check signature windows.
    pub clock: Arc<dyn Fn() -> Timestamp + Send + Sync>,
    /// One Salesforce client per organisation for the settings check and
    /// the lookup, so tokens and describes are reused between requests.
    pub connections: Arc<crate::crm::Connections>,
    /// Whether `PUT /v1/salesforce` takes a login URL on the loopback interface (a local
    /// sandbox): the `development.allow_loopback_salesforce` setting, off by default.
    pub allow_loopback_salesforce: bool,
    /// Per-key request limits (`http.*_per_second`); unlimited unless `serve` sets them.
    pub rate_limits: Arc<RateLimits>,
    /// A request running longer is answered 503 (`http.request_timeout_seconds`).
    pub request_timeout: std::time::Duration,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(store: Store) -> AppState {
        AppState {
            store,
            clock: Arc::new(Timestamp::now),
            connections: Arc::new(crate::crm::Connections::new(
                crate::crm::ClientOptions::default(),
            )),
            allow_loopback_salesforce: false,
            rate_limits: Arc::new(RateLimits::unlimited()),
            request_timeout: crate::config::HttpConfig::default().request_timeout(),
        }
    }

    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }
}

/// The header that carries each request's id, in the request (a caller's own, or one
/// made here) and in the answer; every log line of the request has it as `request_id`.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The API's routes.
pub fn router(state: AppState) -> Router {
    let request_id = axum::http::HeaderName::from_static(REQUEST_ID_HEADER);
    let rate_limits = Arc::clone(&state.rate_limits);
    let timeout = state.request_timeout;
    Router::new()
        .route("/v1/events", post(events::ingest))
        .route("/v1/calls", get(admin::list_calls))
        .route("/v1/calls/{call_id}", get(admin::get_call))
        .route("/v1/contacts", get(admin::list_contacts))
        .route("/v1/errors", get(admin::list_errors))
        .route("/v1/errors/{id}/retry", post(admin::retry_error))
        .route("/v1/errors/retry", post(admin::retry_errors))
        .route("/v1/users", get(admin::list_users))
        .route("/v1/users/{user_id}", axum::routing::put(admin::put_user))
        .route("/v1/org", get(admin::get_org))
        .route(
            "/v1/settings",
            get(settings::get_settings).put(settings::put_settings),
        )
        .route(
            "/v1/salesforce",
            get(settings::get_salesforce).put(settings::put_salesforce),
        )
        .route("/v1/lookup", get(lookup::lookup))
        .route("/openapi.json", get(openapi::document))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        // The admin console's pages (HTML; `json_errors` leaves them alone).
        .merge(crate::console::router())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Inside `json_errors`, so the timeout's 503 gets the API's error body.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(axum::middleware::from_fn(extract::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            rate_limits,
            limits::limit_and_measure,
        ))
        // A span per request (method, path and request id; headers, which carry keys and
        // signatures, are never recorded).
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |request: &axum::http::Request<axum::body::Body>| {
                    let id = request
                        .headers()
                        .get(REQUEST_ID_HEADER)
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id = %id,
                    )
                },
            ),
        )
        .layer(tower_http::request_id::PropagateRequestIdLayer::new(
            request_id.clone(),
        ))
        .layer(tower_http::request_id::SetRequestIdLayer::new(
            request_id,
            tower_http::request_id::MakeRequestUuid,
        ))
        .with_state(state)
}

async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
