//! Task writes of many calls in one request (R14): sObject Collections, up to 200 records,
//! `allOrNone = false`, each record's own result given back to the step that asked.
//!
//! Each step still owns its call: it holds the lease, decides the fields and records how it
//! ended. Here only the request is shared. Writes are queued by (organisation, Salesforce
//! user, operation) — a collection request acts as one user and one operation — and one
//! task per queue sends them:
//!
//! - **integration user**: a batch waits up to `worker.batch_wait_ms` to fill (or sends as
//!   soon as 200 are waiting), and up to [`SHARED_REQUESTS_IN_FLIGHT`] requests of one queue
//!   run at once;
//! - **as each user**: nothing waits for a batch to fill; up to
//!   [`USER_REQUESTS_IN_FLIGHT`] requests of a user's queue run at once, and the writes that
//!   queue behind them go together in the next ("where it can"). Two, not one: a single
//!   slow request then holds up its own call only, never the user's other calls.
//!
//! A write found alone is handed back ([`Batched::Alone`]) to go by the plain sObject
//! resource, as without batching: a collection of one saves nothing, and the single-record
//! paths keep their own idempotence (create-or-adopt on `DUPLICATE_VALUE`, R14).
//!
//! Creates are never upserts here, even with the unique call-id field: an upsert that
//! finds the Task would send it the create-only fields again — Salesforce refuses
//! `TaskSubtype` on an update (`INVALID_FIELD_FOR_INSERT_UPDATE`), and `OwnerId`, `WhoId`
//! or `Status` may have been changed by a person since (design decision 3). A collection
//! create refuses the second Task of a call per record (`DUPLICATE_VALUE` on the field),
//! and that one call adopts its Task alone.
//!
//! One Task per call still holds. A create is marked in the store before it is queued
//! (`mark_create_attempted`); a step that is dropped while its write waits here (its lease
//! lost) is left out of the request (its reply channel is closed), and one dropped after
//! the request went treats it as any create in flight: the next attempt lets it settle and
//! adopts the Task, or, with the unique call-id field, Salesforce refuses the second.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callsync_core::ids::SalesforceId;
use serde_json::{Map, Value};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::crm::CrmError;

/// The most records one sObject Collections request carries (REST API Developer Guide,
/// "sObject Collections": "The list can contain up to 200 objects").
pub(super) const COLLECTION_SIZE: usize = 200;

/// Requests of one integration-user queue in flight at once: a full batch need not wait
/// for the one before it, and a handful keeps far inside Salesforce's concurrency limit
/// (it counts only requests running longer than 20 seconds).
pub(super) const SHARED_REQUESTS_IN_FLIGHT: usize = 4;

/// Requests of one user's queue in flight at once, as each user (see the module's doc).
pub(super) const USER_REQUESTS_IN_FLIGHT: usize = 2;

/// What a batched write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Op {
    /// `POST /composite/sobjects`.
    Create,
    /// `PATCH /composite/sobjects`; each record carries its `Id`.
    Update,
}

/// How a queue sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Pace {
    /// How long the first write of a batch waits for others.
    pub wait: Duration,
    /// Requests of the queue in flight at once.
    pub in_flight: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    org_id: String,
    username: String,
    op: Op,
    pace: Pace,
}

/// The answer to one queued write.
#[derive(Debug)]
pub(super) enum Batched {
    /// Nothing else was waiting: send it alone by the plain resource, and hold the permit
    /// until that request is over (the queue's next batch waits for it).
    Alone(OwnedSemaphorePermit),
    /// Salesforce saved the record; `created` is false for an update.
    Saved { id: SalesforceId, created: bool },
    /// This record's own failure, or the whole request's.
    Failed(CrmError),
}

struct Pending {
    record: Map<String, Value>,
    client: salesforce::Client,
    reply: oneshot::Sender<Batched>,
}

/// The queues of one worker.
#[derive(Debug, Default)]
pub(super) struct Batches {
    queues: Mutex<HashMap<Key, mpsc::UnboundedSender<Pending>>>,
}

impl Batches {
    /// Queues `record` (a Task as a JSON object) to be written by `client` (the handle of
    /// `username`) with the other writes of its queue, and waits for its own result.
    pub(super) async fn write(
        &self,
        org_id: &str,
        username: &str,
        op: Op,
        pace: Pace,
        client: &salesforce::Client,
        record: Map<String, Value>,
    ) -> Batched {
        let key = Key {
            org_id: org_id.to_owned(),
            username: username.to_lowercase(),
            op,
            pace,
        };
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            record,
            client: client.clone(),
            reply,
        };
        let queue = {
            let mut queues = crate::crm::connection::lock(&self.queues);
            queues
                .entry(key.clone())
                .or_insert_with(|| {
                    let (sender, receiver) = mpsc::unbounded_channel();
                    tokio::spawn(send_batches(key.op, pace, receiver));
                    sender
                })
                .clone()
        };
        if let Err(returned) = queue.send(pending) {
            // The queue's task is gone (its runtime shut down): nothing batches any more.
            drop(returned);
            return Batched::Failed(CrmError::InvalidFields(
                "the batch queue is closed".to_owned(),
            ));
        }
        // The sender is dropped only if the queue's task ended without answering (its
        // runtime stopped): the write's fate is unknown, as after a lost answer.
        answer.await.unwrap_or_else(|_| {
            Batched::Failed(CrmError::UnexpectedAnswer {
                what: "a batched Task write",
                detail: "the batch ended without an answer".to_owned(),
            })
        })
    }
}

/// The task of one queue: gathers each batch and sends it, until the worker is dropped.
async fn send_batches(op: Op, pace: Pace, mut queue: mpsc::UnboundedReceiver<Pending>) {
    let in_flight = Arc::new(Semaphore::new(pace.in_flight.max(1)));
    loop {
        // The semaphore is never closed.
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
            return;
        };
        let Some(first) = queue.recv().await else {
            return;
        };
        let deadline = tokio::time::Instant::now() + pace.wait;
        let mut batch = vec![first];
        while batch.len() < COLLECTION_SIZE {
            match queue.try_recv() {
                Ok(pending) => {
                    batch.push(pending);
                    continue;
                }
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {}
            }
            if pace.wait.is_zero() {
                break;
            }
            match tokio::time::timeout_at(deadline, queue.recv()).await {
                Ok(Some(pending)) => batch.push(pending),
                Ok(None) | Err(_) => break,
            }
        }
        // A step dropped while it waited here (its lease lost, the worker stopping) is not
        // written for: the call is someone else's now.
        batch.retain(|pending| !pending.reply.is_closed());
        match batch.len() {
            0 => {}
            1 => {
                if let Some(alone) = batch.pop() {
                    let _ = alone.reply.send(Batched::Alone(permit));
                }
            }
            _ => {
                tokio::spawn(send_collection(op, batch, permit));
            }
        }
    }
}

/// Sends one batch as one sObject Collections request and gives each step its record's
/// result.
async fn send_collection(op: Op, batch: Vec<Pending>, _permit: OwnedSemaphorePermit) {
    let Some(client) = batch.first().map(|pending| pending.client.clone()) else {
        return;
    };
    let records: Vec<Value> = batch
        .iter()
        .map(|pending| Value::Object(pending.record.clone()))
        .collect();
    metrics::histogram!(crate::metrics::SALESFORCE_BATCH_RECORDS, "op" => op.name())
        .record(records.len() as f64);
    tracing::debug!(
        op = op.name(),
        records = records.len(),
        "sending a batch of Task writes"
    );
    let results = match op {
        Op::Create => client.create_many("Task", &records, false).await,
        Op::Update => client.update_many("Task", &records, false).await,
    };
    let created = op == Op::Create;
    match results {
        Ok(results) => {
            for (pending, result) in batch.into_iter().zip(results) {
                let answer = match result {
                    Ok(id) => match SalesforceId::parse(&id) {
                        Ok(id) => Batched::Saved { id, created },
                        Err(error) => Batched::Failed(CrmError::UnexpectedAnswer {
                            what: "a batched Task write",
                            detail: format!("the Id {id:?} {error}"),
                        }),
                    },
                    Err(error) => Batched::Failed(error.into()),
                };
                let _ = pending.reply.send(answer);
            }
        }
        Err(error) => {
            for pending in batch {
                let _ = pending.reply.send(Batched::Failed(error.clone().into()));
            }
        }
    }
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
        }
    }
}

impl super::Worker {
    /// Writes `record` through the batch of its queue (R14), or — when it is found alone —
    /// by `single`, the plain one-record path. The result is the step's: the Task's Id
    /// and how it was written, or the failure with the step it failed at.
    #[allow(clippy::too_many_arguments)] // each is a distinct part of the queue's key
    pub(super) async fn write_batched<Single, Sent>(
        &self,
        org_id: &str,
        settings: &callsync_core::settings::Settings,
        writes_as: &str,
        writer: &salesforce::Client,
        op: Op,
        record: Value,
        single: Single,
    ) -> Result<(SalesforceId, super::Outcome), (crate::crm::Step, CrmError)>
    where
        Single: FnOnce() -> Sent,
        Sent: std::future::Future<
                Output = Result<(SalesforceId, super::Outcome), (crate::crm::Step, CrmError)>,
            >,
    {
        use super::Outcome;
        use crate::crm::Step;
        let step = if op == Op::Update {
            Step::UpdateTask
        } else {
            Step::CreateTask
        };
        let Value::Object(record) = record else {
            return Err((
                step,
                CrmError::InvalidFields("not a JSON object".to_owned()),
            ));
        };
        let pace = match settings.writing.mode {
            callsync_core::writing::WriteMode::IntegrationUser => Pace {
                wait: Duration::from_millis(self.config.batch_wait_ms),
                in_flight: SHARED_REQUESTS_IN_FLIGHT,
            },
            callsync_core::writing::WriteMode::AsEachUser => Pace {
                wait: Duration::ZERO,
                in_flight: USER_REQUESTS_IN_FLIGHT,
            },
        };
        let batched = self
            .batches
            .write(org_id, writes_as, op, pace, writer, record)
            .await;
        match batched {
            Batched::Alone(permit) => {
                let written = single().await;
                drop(permit);
                written
            }
            Batched::Saved { id, created } => Ok((
                id,
                if created {
                    Outcome::Created
                } else {
                    Outcome::Updated
                },
            )),
            Batched::Failed(error) => Err((step, error)),
        }
    }
}
