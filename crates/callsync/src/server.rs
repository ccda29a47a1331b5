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
    let store = Store::connect(&config.database_url).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(address = %config.listen, "callsync API listening");
    // One shutdown signal for both: the API stops taking requests and the
    // worker finishes its round, then both return.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = config.worker.enabled.then(|| {
        let worker = Worker::new(
            store.clone(),
            config.worker.clone(),
            Some(format!("http://{}", config.listen)),
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
    let mut api_stopped = stopped.clone();
    let api = run(listener, AppState::new(store), async move {
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
