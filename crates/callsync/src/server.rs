//! `callsync serve`: the API on its listener until shutdown. Built as
//! `run(listener, state, shutdown)` so tests bind port 0 and stop it.

use std::future::Future;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::store::Store;

/// Binds the configured address and serves until `shutdown` resolves.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(address = %config.listen, "callsync API listening");
    run(listener, AppState::new(store), shutdown).await
}

/// Serves the API on `listener` until `shutdown` resolves; requests in
/// flight are finished first.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("the API server failed")
}
