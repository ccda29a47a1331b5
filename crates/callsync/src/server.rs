//! `callsync serve`: the API on its listener until shutdown. Built as
//! `run(listener, state, shutdown)` so tests bind port 0 and stop it.

use std::future::Future;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::store::Store;
use crate::worker::Worker;

/// Binds the configured address and serves until `shutdown` resolves.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = Store::open(&config).await?;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    // Secrets written before sealing existed, or under a key since rotated, are sealed
    // under the current key now (see `secrets.rs`).
    let resealed = store.reseal_all().await?;
    if resealed > 0 {
        tracing::info!(resealed, "sealed stored secrets under the current key");
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(address = %config.listen, "callsync API listening");
    // One shutdown signal for both: the API stops taking requests and the
    // worker finishes its round, then both return.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = config.worker.enabled.then(|| {
        // `{CALL_URL}` links under the public URL only (`config::call_url`); without one
        // it renders empty rather than a loopback address nobody else can open.
        let worker = Worker::new(
            store.clone(),
            config.worker.clone(),
            config.public_url.clone(),
        );
        let mut stopped = stopped.clone();
        tokio::spawn(worker.run(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }))
    });
    // The phone index (R15) beside the worker: backfills each organisation's index, then
    // keeps it fresh between calls (a create also catches it up when it is older than
    // `index::MAX_AGE`).
    let index = config.worker.enabled.then(|| {
        let mut stopped = stopped.clone();
        tokio::spawn(crate::index::run_background(
            store.clone(),
            crate::index::SYNC_INTERVAL,
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        ))
    });
    let metrics = match config.metrics_listen {
        Some(address) => {
            let handle = crate::metrics::install()?;
            let listener = TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen for metrics on {address}"))?;
            tracing::info!(%address, "metrics listening");
            let mut metrics_stopped = stopped.clone();
            Some(tokio::spawn(
                axum::serve(listener, crate::metrics::router(handle, store.clone()))
                    .with_graceful_shutdown(async move {
                        let _ = metrics_stopped.wait_for(|stop| *stop).await;
                    })
                    .into_future(),
            ))
        }
        None => None,
    };
    let retention = (config.retention.days > 0).then(|| {
        let mut retention_stopped = stopped.clone();
        tokio::spawn(crate::retention::run(
            store.clone(),
            config.retention.clone(),
            async move {
                let _ = retention_stopped.wait_for(|stop| *stop).await;
            },
        ))
    });
    let mut state = AppState::new(store);
    state.allow_loopback_salesforce = config.development.allow_loopback_salesforce;
    state.rate_limits = std::sync::Arc::new(api::RateLimits::new(&config.http));
    state.request_timeout = config.http.request_timeout();
    let forget = std::sync::Arc::clone(&state.rate_limits);
    let mut limits_stopped = stopped.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = every.tick() => forget.forget_idle(),
                _ = limits_stopped.wait_for(|stop| *stop) => return,
            }
        }
    });
    let mut api_stopped = stopped.clone();
    let api = run(listener, state, async move {
        let _ = api_stopped.wait_for(|stop| *stop).await;
    });
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    api.await?;
    if let Some(metrics) = metrics {
        metrics.await.context("the metrics server panicked")??;
    }
    if let Some(worker) = worker {
        worker.await.context("the sync worker panicked")?;
    }
    if let Some(retention) = retention {
        retention.await.context("the retention task panicked")?;
    }
    if let Some(index) = index {
        index.await.context("the phone index sync panicked")?;
    }
    Ok(())
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
