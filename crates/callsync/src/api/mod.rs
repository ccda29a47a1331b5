//! The HTTP API: signed event ingest, the read and admin endpoints, and
//! health checks. Handlers parse and check their input, then call the store
//! or the rules; no SQL lives here.

pub(crate) mod admin;
mod auth;
mod error;
mod events;
mod extract;
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
        }
    }

    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }
}

/// The API's routes.
pub fn router(state: AppState) -> Router {
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
        .layer(axum::middleware::from_fn(extract::json_errors))
        // A span per request (method and path; headers, which carry keys and
        // signatures, are never recorded).
        .layer(tower_http::trace::TraceLayer::new_for_http())
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
