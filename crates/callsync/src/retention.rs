//! The retention task of `serve`: every `retention.interval_seconds`, delete events, sync
//! history and error-log entries older than `retention.days`, in batches of
//! `retention.batch` (`Store::prune`). Several instances may prune at once: each batch is
//! a plain `DELETE … LIMIT`, so they only share the work.

use std::future::Future;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::config::RetentionConfig;
use crate::store::{RetentionPolicy, Store};

/// The pause between two batches, which lets ingest and the worker write in between.
const PAUSE_BETWEEN_BATCHES: Duration = Duration::from_millis(50);

/// The policy for `config` at `now`, or `None` when retention is off (`days = 0`).
pub fn policy(config: &RetentionConfig, now: Timestamp) -> Option<RetentionPolicy> {
    if config.days == 0 {
        return None;
    }
    let age = SignedDuration::from_hours(24 * i64::from(config.days));
    Some(RetentionPolicy {
        cutoff: now.checked_sub(age).ok()?,
        batch: config.batch.max(1),
    })
}

/// Prunes now and then every interval until `shutdown` resolves.
pub async fn run(store: Store, config: RetentionConfig, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut every = tokio::time::interval(Duration::from_secs(config.interval_seconds.max(1)));
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = every.tick() => {}
        }
        let Some(policy) = policy(&config, Timestamp::now()) else {
            return;
        };
        match store.prune(policy, PAUSE_BETWEEN_BATCHES).await {
            Ok(pruned) => {
                for (table, count) in [
                    ("events", pruned.events),
                    ("sync_history", pruned.history),
                    ("error_log", pruned.errors),
                ] {
                    metrics::counter!(crate::metrics::RETENTION_PRUNED, "table" => table)
                        .increment(count);
                }
                if pruned.total() > 0 {
                    tracing::info!(
                        events = pruned.events,
                        history = pruned.history,
                        errors = pruned.errors,
                        "pruned rows past retention"
                    );
                }
            }
            Err(error) => tracing::warn!(
                error = format!("{error:#}"),
                "retention failed; trying again later"
            ),
        }
    }
}
