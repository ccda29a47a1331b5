//! Group commit for SQLite: the write transactions that arrive while one commits share the
//! next commit.
//!
//! With `synchronous = FULL` every commit costs a sync of the write-ahead log, and SQLite
//! has one writer: at 300 calls/s the worker and ingest made about ten commits per call,
//! which kept the one write connection busy and capped the whole service near 330 calls/s
//! (BENCHMARKS.md, "Throughput"). Here each caller's transaction becomes a savepoint in one
//! shared transaction: a task takes every write waiting, runs each in its own savepoint
//! (a write that fails is rolled back alone, as its own transaction would have been), commits
//! once, and only then tells each caller its result — so `Ok` still means on disk, and a
//! failed commit fails every write it carried. With one write waiting, this is exactly
//! the transaction it was.
//!
//! Written by hand: this is a few dozen lines over sqlx's nested transactions (savepoints);
//! no crate offers group commit over a sqlx pool.
//!
//! PostgreSQL too: there each transaction is a round trip for BEGIN and COMMIT and a WAL
//! flush, and at 500 calls/s on one machine the pool of 16 connections queued so long that
//! steps timed out and waited for their leases (80 Tasks/s, one call 61 s late); grouped, 346
//! Tasks/s and no stall (BENCHMARKS.md). Instances sharing the database each group their own
//! writes; should two groups lock the same calls in opposite orders, PostgreSQL aborts one
//! and its writes fail as a whole, to be retried (ingest answers an error, a worker step's
//! lease runs out) — nothing is half-written.

use futures_util::future::BoxFuture;
use sqlx::{Acquire as _, AnyPool};
use tokio::sync::{mpsc, oneshot};

/// The transaction (a savepoint, under group commit) a write runs in.
pub(super) type Tx<'t> = sqlx::Transaction<'t, sqlx::Any>;

/// Tells a caller its write's result once the shared commit is known (`None`: committed).
type Reply = Box<dyn FnOnce(Option<&anyhow::Error>) + Send>;

/// One caller's write: runs in a savepoint, says whether it succeeded, and how to reply.
type Job = Box<dyn for<'c, 't> FnOnce(&'c mut Tx<'t>) -> BoxFuture<'c, (bool, Reply)> + Send>;

/// The most writes one commit carries: bounds how long the first of them waits for the
/// others' statements.
const MOST_PER_COMMIT: usize = 256;

/// Writes queued for the committer task, which holds a write connection while it commits
/// a group (on SQLite the pool's one connection, free between groups for the writes that do
/// not come through here).
#[derive(Debug, Clone)]
pub(super) struct GroupCommit {
    jobs: mpsc::UnboundedSender<Job>,
    writer: AnyPool,
}

impl GroupCommit {
    /// Group commit on `writer` (SQLite's one write connection), its committer task spawned
    /// on the current runtime.
    pub(super) fn grouped(writer: AnyPool) -> GroupCommit {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(commit_groups(writer.clone(), queue));
        GroupCommit { jobs, writer }
    }

    /// Runs `write` in a savepoint of a shared transaction; returns its result once that
    /// transaction has committed (or failed: then an error).
    pub(super) async fn run<T, F>(&self, write: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: for<'c, 't> FnOnce(&'c mut Tx<'t>) -> BoxFuture<'c, anyhow::Result<T>> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |tx| {
            Box::pin(async move {
                let result = write(tx).await;
                let ok = result.is_ok();
                let reply: Reply = Box::new(move |commit_failed| {
                    let result = match (result, commit_failed) {
                        (Ok(_), Some(error)) => Err(anyhow::anyhow!("cannot commit: {error:#}")),
                        (result, _) => result,
                    };
                    // The caller may have gone (a dropped request): its write stands.
                    let _ = answer.send(result);
                });
                (ok, reply)
            })
        });
        if let Err(mpsc::error::SendError(job)) = self.jobs.send(job) {
            // The committer is gone (the runtime it was spawned on ended): write alone.
            let mut tx = self.writer.begin().await?;
            let (ok, reply) = job(&mut tx).await;
            if ok {
                let committed = tx.commit().await.map_err(anyhow::Error::from);
                reply(committed.as_ref().err());
            } else {
                tx.rollback().await?;
                reply(None);
            }
        }
        answered.await.map_err(|_| {
            anyhow::anyhow!(
                "the write was not made: the transaction it shared could not be started"
            )
        })?
    }
}

/// The committer: takes what is queued (up to [`MOST_PER_COMMIT`]), runs each write in its
/// savepoint, commits once, replies to each. Ends when every sender is gone.
async fn commit_groups(writer: AnyPool, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut group = Vec::with_capacity(MOST_PER_COMMIT);
    while queue.recv_many(&mut group, MOST_PER_COMMIT).await > 0 {
        let writes = group.len();
        let (replies, failed) = commit_group(&writer, group.drain(..)).await;
        if let Some(error) = &failed {
            tracing::warn!(
                error = format!("{error:#}"),
                writes,
                "a group commit failed; each of its writes reports it"
            );
        }
        for reply in replies {
            reply(failed.as_ref());
        }
    }
}

/// Runs one group and commits it: the replies of the writes that ran, and the error of the
/// shared transaction if it failed (begin, a savepoint, the commit). A write the failure kept
/// from running is dropped, which its caller sees as an error (`run`).
async fn commit_group(
    writer: &AnyPool,
    jobs: impl Iterator<Item = Job>,
) -> (Vec<Reply>, Option<anyhow::Error>) {
    let mut replies = Vec::new();
    let mut tx = match writer.begin().await {
        Ok(tx) => tx,
        Err(error) => return (replies, Some(error.into())),
    };
    for job in jobs {
        let mut savepoint = match tx.begin().await {
            Ok(savepoint) => savepoint,
            Err(error) => return (replies, Some(error.into())),
        };
        let (ok, reply) = job(&mut savepoint).await;
        replies.push(reply);
        let ended = if ok {
            savepoint.commit().await
        } else {
            savepoint.rollback().await
        };
        if let Err(error) = ended {
            return (replies, Some(error.into()));
        }
    }
    match tx.commit().await {
        Ok(()) => (replies, None),
        Err(error) => (replies, Some(error.into())),
    }
}
