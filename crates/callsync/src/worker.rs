//! The sync worker: claims calls from the outbox under fenced leases, and runs one step
//! for each — load → plan → execute → record ([`step`]) — while keeping the lease alive.
//!
//! One round is [`Worker::run_once`], which tests drive directly; [`Worker::run`]
//! keeps up to `batch` calls in flight, claiming the next due call as each one
//! finishes, and sleeps when there is nothing to do.
//!
//! Invariants:
//! - One Task per call. A step renews its lease while it runs, so a live worker never
//!   loses it; a step that cannot renew in time is abandoned (its requests dropped) before
//!   its lease can run out, and every write it would still make is refused by the store
//!   (`LeaseLost`, store/outbox.rs). A worker never runs two steps of one call. Before a
//!   create is sent, the call is marked; the next attempt after an unknown outcome looks
//!   for the Task by `CallObject` and adopts it (design decision 2) — after letting a create
//!   that may still be in flight settle — or, where the organisation maps an external-ID
//!   field to the call id, the create is an upsert that Salesforce itself keeps single
//!   (R14).
//! - Only owned fields that changed are sent (decision 3; `next_action`
//!   computes them), and updates waiting for a call are one request
//!   (decision 4: one work row per call).
//! - Every step ends in exactly one of: done, wait (R16: an outage, a limit, a lock —
//!   never an error-log entry, never a limit on attempts), needs a person (R9: an
//!   error-log entry with its remedy), or internal (an error-log entry with callsync's own
//!   code). An organisation whose Salesforce keeps failing is paused by its breaker
//!   ([`breaker`]) and probed with one call before it resumes.

mod batch;
mod breaker;
mod step;
mod unknown;
mod writer;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::WorkerConfig;
use crate::crm::{self, Connections, UserDirectory};
use crate::store::{ClaimScope, OrgHealth, Store, WorkItem, is_lease_lost};

pub use breaker::{Admission, BreakerState, Breakers, OrgBreaker};
pub use step::{UPDATE_SHARE, kind_name};

/// What one round did, for tests, logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub claimed: usize,
    pub created: usize,
    pub adopted: usize,
    pub updated: usize,
    pub up_to_date: usize,
    /// Not due yet (R10), or waiting for its opening event.
    pub waiting: usize,
    pub never: usize,
    /// Transient failures and pauses that made the call wait (R16).
    pub retried: usize,
    /// Failures that need a person (R9).
    pub failed: usize,
    /// callsync's own failures, logged with their own code.
    pub internal: usize,
    /// Steps abandoned because another worker holds the call now.
    pub lease_lost: usize,
}

/// How one call's step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    Created,
    Adopted,
    Updated,
    UpToDate,
    Waiting,
    Never,
    Retried,
    Failed,
    Internal,
    LeaseLost,
    /// The store could not record the step (a database failure): the lease runs out and
    /// the call is claimed again.
    StoreError,
}

impl std::ops::AddAssign for Round {
    fn add_assign(&mut self, other: Round) {
        let Round {
            claimed,
            created,
            adopted,
            updated,
            up_to_date,
            waiting,
            never,
            retried,
            failed,
            internal,
            lease_lost,
        } = other;
        self.claimed += claimed;
        self.created += created;
        self.adopted += adopted;
        self.updated += updated;
        self.up_to_date += up_to_date;
        self.waiting += waiting;
        self.never += never;
        self.retried += retried;
        self.failed += failed;
        self.internal += internal;
        self.lease_lost += lease_lost;
    }
}

impl Round {
    fn count(&mut self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Created => &mut self.created,
            Outcome::Adopted => &mut self.adopted,
            Outcome::Updated => &mut self.updated,
            Outcome::UpToDate => &mut self.up_to_date,
            Outcome::Waiting => &mut self.waiting,
            Outcome::Never => &mut self.never,
            Outcome::Retried => &mut self.retried,
            Outcome::Failed => &mut self.failed,
            Outcome::Internal | Outcome::StoreError => &mut self.internal,
            Outcome::LeaseLost => &mut self.lease_lost,
        };
        *counter += 1;
    }
}

/// The sync worker of one callsync instance.
#[derive(Debug, Clone)]
pub struct Worker {
    store: Store,
    connections: Arc<Connections>,
    users: Arc<UserDirectory>,
    config: WorkerConfig,
    /// This instance's name on its leases.
    owner: String,
    /// Where call history is served, for `{CALL_URL}` (R5.3).
    public_url: Option<String>,
    /// One semaphore per organisation: at most `per_org_concurrency` of its
    /// calls sync at once.
    org_slots: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    /// The calls this instance has a step running for: never two at once.
    in_flight: Arc<Mutex<HashSet<(String, String)>>>,
    breakers: Arc<Breakers>,
    /// Task writes of many calls shared in sObject Collections requests (R14).
    batches: Arc<batch::Batches>,
    /// When each organisation's API usage was last written to the store (R14).
    usage_noted: Arc<Mutex<HashMap<String, std::time::Instant>>>,
}

impl Worker {
    pub fn new(store: Store, config: WorkerConfig, public_url: Option<String>) -> Worker {
        let options = crm::ClientOptions {
            timeout: Duration::from_secs(config.salesforce_timeout_seconds),
            ..crm::ClientOptions::default()
        };
        let breakers = Breakers::new(
            config.breaker_failures,
            Duration::from_millis(config.breaker_pause_ms),
            Duration::from_millis(config.backoff_max_ms),
        );
        Worker {
            store,
            connections: Arc::new(Connections::new(options)),
            users: Arc::new(UserDirectory::new(Duration::from_secs(300))),
            config,
            owner: format!(
                "worker-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ),
            public_url,
            org_slots: Arc::new(Mutex::new(HashMap::new())),
            in_flight: Arc::new(Mutex::new(HashSet::new())),
            breakers: Arc::new(breakers),
            batches: Arc::new(batch::Batches::default()),
            usage_noted: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The breaker of an organisation, if it is not closed (R16: what waits and why).
    pub fn breaker(&self, org_id: &str) -> Option<OrgBreaker> {
        self.breakers.of(org_id)
    }

    /// Claims due calls and syncs each once, waiting for all of them: one round, as tests
    /// drive it. Returns what it did.
    pub async fn run_once(&self) -> anyhow::Result<Round> {
        let items = self.claim(usize::MAX).await?;
        let mut round = Round {
            claimed: items.len(),
            ..Round::default()
        };
        let mut tasks = JoinSet::new();
        for item in items {
            self.spawn_sync(&mut tasks, item);
        }
        while let Some(joined) = tasks.join_next().await {
            if let Some(outcome) = outcome_of(joined) {
                round.count(outcome);
            }
        }
        Ok(round)
    }

    /// Syncs calls until `shutdown` resolves. Up to `batch` calls are in flight at once,
    /// and the place of one that finishes is taken by the next due call straight away: a
    /// slow Salesforce request holds up its own call only, not a round of `batch` calls
    /// (rounds as [`Worker::run_once`] makes them halved the throughput at 100 ms per
    /// request, BENCHMARKS.md). The queue is looked at again at once while claims come back
    /// full, else every `poll_interval`. On shutdown the calls in flight are finished
    /// first, so no claimed work is abandoned mid-request (it would only wait for its lease
    /// otherwise).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        self.restore_breakers().await;
        let capacity = usize::try_from(self.config.batch.max(1)).unwrap_or(1);
        let mut in_flight = JoinSet::new();
        let mut poll = tokio::time::interval(self.config.poll_interval());
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut poll_due = true;
        let mut more_due = false;
        loop {
            let free = capacity.saturating_sub(in_flight.len());
            if free > 0 && (poll_due || more_due) {
                poll_due = false;
                more_due = false;
                match self.claim(free).await {
                    Ok(items) => {
                        more_due = items.len() == free;
                        if !items.is_empty() {
                            tracing::debug!(claimed = items.len(), "worker claimed calls");
                        }
                        for item in items {
                            self.spawn_sync(&mut in_flight, item);
                        }
                    }
                    Err(error) => {
                        tracing::error!(error = format!("{error:#}"), "cannot claim sync work");
                    }
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                    outcome_of(joined);
                    while let Some(joined) = in_flight.try_join_next() {
                        outcome_of(joined);
                    }
                }
                _ = poll.tick() => poll_due = true,
            }
        }
        while let Some(joined) = in_flight.join_next().await {
            outcome_of(joined);
        }
    }

    /// Starts with the organisations the store says are paused (R16), each due for a
    /// probe.
    async fn restore_breakers(&self) {
        match self.store.org_healths().await {
            Ok(paused) => {
                let now = Timestamp::now();
                for (org, health) in paused {
                    let reason = health
                        .reason
                        .parse()
                        .unwrap_or(crate::store::WaitReason::SalesforceUnavailable);
                    let detail = health.detail.unwrap_or_default();
                    self.breakers
                        .restore(&org, reason, &detail, health.since, now);
                }
            }
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "cannot read which organisations are paused"
                );
            }
        }
    }

    /// Claims up to `limit` due calls: first one call of each organisation whose breaker
    /// is due for its probe, then calls of organisations whose Salesforce is not paused.
    async fn claim(&self, limit: usize) -> anyhow::Result<Vec<WorkItem>> {
        let limit = i64::try_from(limit.min(i64::MAX as usize))
            .unwrap_or(i64::MAX)
            .min(self.config.batch.max(1));
        let now = self.store.now().await?;
        let (paused, probes) = self.breakers.admissions(now);
        let mut items = Vec::new();
        for org in &probes {
            let scope = ClaimScope {
                except_orgs: &[],
                only_org: Some(org),
            };
            let probe = self
                .store
                .claim_in(&self.owner, now, self.config.lease(), 1, &scope)
                .await;
            match probe {
                Ok(mut claimed) if !claimed.is_empty() => items.append(&mut claimed),
                Ok(_) => self.breakers.probe_not_sent(org, now),
                Err(error) => {
                    self.breakers.probe_not_sent(org, now);
                    return Err(error);
                }
            }
        }
        let rest = limit - i64::try_from(items.len()).unwrap_or(0);
        if rest > 0 {
            let scope = ClaimScope {
                except_orgs: &paused,
                only_org: None,
            };
            let mut claimed = self
                .store
                .claim_in(&self.owner, now, self.config.lease(), rest, &scope)
                .await?;
            items.append(&mut claimed);
        }
        // A call whose earlier step still runs here (its lease could not be renewed in
        // time and was claimed again) is not started twice: the new claim is given back,
        // which also fences the old step out, and the call runs again once it is free.
        let mut started = Vec::with_capacity(items.len());
        for item in items {
            let key = (item.org_id.clone(), item.call_id.clone());
            let fresh = crm::connection::lock(&self.in_flight).insert(key);
            if fresh {
                started.push(item);
            } else if let Err(error) = self.store.release(&item).await {
                tracing::warn!(error = format!("{error:#}"), call = %item.call_id, "cannot give back a call already in flight");
            }
        }
        Ok(started)
    }

    /// Starts one call's step on `tasks`, in its organisation's slot.
    fn spawn_sync(&self, tasks: &mut JoinSet<Outcome>, item: WorkItem) {
        let worker = self.clone();
        let slot = self.org_slot(&item.org_id);
        tasks.spawn(async move {
            let outcome = {
                // The semaphore is never closed, so acquiring only waits.
                let _permit = slot.acquire_owned().await;
                worker.run_leased(&item).await
            };
            crm::connection::lock(&worker.in_flight)
                .remove(&(item.org_id.clone(), item.call_id.clone()));
            metrics::counter!(crate::metrics::SYNCS, "outcome" => <&str>::from(outcome))
                .increment(1);
            outcome
        });
    }

    fn org_slot(&self, org_id: &str) -> Arc<Semaphore> {
        let mut slots = crm::connection::lock(&self.org_slots);
        slots
            .entry(org_id.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.per_org_concurrency.max(1))))
            .clone()
    }

    /// Runs the step of `item` while renewing its lease every third of the lease. If the
    /// lease is taken over, or cannot be renewed before it would run out, the step is
    /// dropped where it stands — its Salesforce request with it — and writes nothing.
    async fn run_leased(&self, item: &WorkItem) -> Outcome {
        let lease = self.config.lease();
        let every = lease / 3;
        // Stop a little before the lease would run out by this process's clock, so no
        // other worker can have claimed the call while this step still acts.
        let margin = lease / 6;
        let mut held_until = tokio::time::Instant::now() + lease;
        let step = self.step_and_record(item);
        tokio::pin!(step);
        loop {
            tokio::select! {
                outcome = &mut step => return outcome,
                () = tokio::time::sleep(every) => {
                    let sent = tokio::time::Instant::now();
                    let renewed = match self.store.now().await {
                        Ok(now) => self.store.renew(item, now, lease).await.map(|_| ()),
                        Err(error) => Err(error),
                    };
                    match renewed {
                        Ok(()) => held_until = sent + lease,
                        Err(error) if is_lease_lost(&error) => {
                            tracing::warn!(org = %item.org_id, call = %item.call_id, "lease taken over; step abandoned");
                            return Outcome::LeaseLost;
                        }
                        Err(error) => {
                            tracing::warn!(error = format!("{error:#}"), call = %item.call_id, "cannot renew a lease");
                            if tokio::time::Instant::now() + every + margin >= held_until {
                                tracing::warn!(call = %item.call_id, "lease about to run out; step abandoned");
                                return Outcome::LeaseLost;
                            }
                        }
                    }
                }
            }
        }
    }

    /// The step, recorded: store failures and a lost lease become outcomes here.
    async fn step_and_record(&self, item: &WorkItem) -> Outcome {
        let now = Timestamp::now();
        let result = async {
            let (end, health) = self.step(item, now).await?;
            self.note_health(&item.org_id, health, now).await;
            self.record(item, end, now).await
        }
        .await;
        if result.is_err() {
            // Whatever this step was, it told nothing about Salesforce: a probe it may
            // have been goes again.
            self.breakers.probe_not_sent(&item.org_id, now);
        }
        match result {
            Ok(outcome) => outcome,
            Err(error) if is_lease_lost(&error) => {
                tracing::warn!(org = %item.org_id, call = %item.call_id, "lease lost; nothing recorded");
                Outcome::LeaseLost
            }
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), org = %item.org_id, call = %item.call_id, "sync step could not be recorded");
                Outcome::StoreError
            }
        }
    }

    /// Feeds what a step learnt about its organisation's Salesforce to the breaker, and
    /// records the breaker's transitions where admins see them (R16).
    async fn note_health(&self, org_id: &str, health: step::Health, now: Timestamp) {
        let transition = match health {
            // A step that did not reach Salesforce (not due, waiting for budget…) cannot
            // be the probe of a paused organisation: let the next call probe instead.
            step::Health::NotAsked => {
                self.breakers.probe_not_sent(org_id, now);
                None
            }
            step::Health::Answered => self.breakers.success(org_id),
            step::Health::Unavailable {
                reason,
                detail,
                wait,
            } => self.breakers.failure(org_id, reason, &detail, wait, now),
        };
        let written = match transition {
            None => return,
            Some(breaker::Transition::Closed) => {
                tracing::info!(org = %org_id, "Salesforce answers again; the organisation's queue resumes");
                self.store.put_org_health(org_id, None, now).await
            }
            Some(breaker::Transition::Opened(state)) => {
                tracing::warn!(org = %org_id, reason = state.reason.as_str(), next_probe = %state.next_probe, "Salesforce keeps failing; the organisation's queue is paused");
                let health = OrgHealth {
                    state: <&str>::from(state.state).to_owned(),
                    reason: state.reason.as_str().to_owned(),
                    detail: Some(state.detail.clone()),
                    since: state.since,
                    next_probe: Some(state.next_probe),
                    failures: i64::from(state.failures),
                };
                self.store.put_org_health(org_id, Some(&health), now).await
            }
        };
        if let Err(error) = written {
            tracing::warn!(
                error = format!("{error:#}"),
                "cannot record the organisation's Salesforce health"
            );
        }
    }
}

/// The outcome of a finished step, or `None` after logging a panic.
fn outcome_of(joined: Result<Outcome, tokio::task::JoinError>) -> Option<Outcome> {
    match joined {
        Ok(outcome) => Some(outcome),
        Err(panic) => {
            tracing::error!(error = %panic, "sync task panicked");
            None
        }
    }
}

#[cfg(test)]
mod tests;
