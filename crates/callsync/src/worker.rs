//! The sync worker: claims calls from the outbox, folds their events, asks
//! `callsync-core` what Salesforce should hold, and writes it through
//! [`crate::crm`], recording the outcome in the store.
//!
//! One round is [`Worker::run_once`], which tests drive directly; [`Worker::run`]
//! keeps up to `batch` calls in flight, claiming the next due call as each one
//! finishes, and sleeps when there is nothing to do.
//!
//! Invariants:
//! - One Task per call: before a create is sent, the call is marked; if a
//!   create's outcome was unknown, the next attempt first looks for a Task
//!   with the call's `CallObject` and adopts it (design decision 2), writing
//!   its owned fields again: events may have come since that attempt.
//! - Only owned fields that changed are sent (decision 3; `next_action`
//!   computes them), and updates waiting for a call are one request
//!   (decision 4: one work row per call).
//! - Every failure ends either in a retry with backoff (transient) or in an
//!   error-log entry with a remedy (R9). Nothing is dropped silently.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use callsync_core::call::{Call, CallKind};
use callsync_core::contact::ContactEntry as CoreContact;
use callsync_core::event::{Event, TransferKind};
use callsync_core::ids::SalesforceId;
use callsync_core::matching::Match;
use callsync_core::owner::{OwnerInputs, choose_owner};
use callsync_core::phone::PhoneNumber;
use callsync_core::settings::Settings;
use callsync_core::sync::{
    Action, CreationDue, OPENING_EVENT_GRACE, WrittenTask, creation_due, next_action,
};
use callsync_core::task::{TaskContext, TaskFields};
use jiff::Timestamp;
use salesforce::ErrorKind;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::WorkerConfig;
use crate::crm::{self, Connections, CrmError, SalesforceConnection, Step, UserDirectory};
use crate::store::{
    CallSummary, ContactEntry, Finished, HistoryLine, NewError, Store, SyncState, WorkItem,
};

/// What one round did, for tests, logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub claimed: usize,
    pub created: usize,
    pub adopted: usize,
    pub updated: usize,
    pub up_to_date: usize,
    pub waiting: usize,
    pub never: usize,
    pub retried: usize,
    pub failed: usize,
}

/// How one call's step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Created,
    Adopted,
    Updated,
    UpToDate,
    Waiting,
    Never,
    Retried,
    Failed,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Adopted => "adopted",
            Outcome::Updated => "updated",
            Outcome::UpToDate => "up_to_date",
            Outcome::Waiting => "waiting",
            Outcome::Never => "never",
            Outcome::Retried => "retried",
            Outcome::Failed => "failed",
        }
    }
}

impl Round {
    fn count(&mut self, outcome: Outcome) {
        metrics::counter!(crate::metrics::SYNCS, "outcome" => outcome.name()).increment(1);
        let counter = match outcome {
            Outcome::Created => &mut self.created,
            Outcome::Adopted => &mut self.adopted,
            Outcome::Updated => &mut self.updated,
            Outcome::UpToDate => &mut self.up_to_date,
            Outcome::Waiting => &mut self.waiting,
            Outcome::Never => &mut self.never,
            Outcome::Retried => &mut self.retried,
            Outcome::Failed => &mut self.failed,
        };
        *counter += 1;
    }
}

/// A failure of one step, before it is turned into a retry or an error-log
/// entry.
enum StepFailure {
    /// Salesforce (or the way to it) failed.
    Crm(Step, CrmError),
    /// callsync cannot sync this call until an admin acts.
    Setup {
        code: &'static str,
        message: String,
        remedy: String,
    },
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
}

impl Worker {
    pub fn new(store: Store, config: WorkerConfig, public_url: Option<String>) -> Worker {
        let options = crm::ClientOptions {
            timeout: Duration::from_secs(config.salesforce_timeout_seconds),
            ..crm::ClientOptions::default()
        };
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
        }
    }

    /// Claims due calls and syncs each once, waiting for all of them: one round, as tests
    /// drive it. Returns what it did.
    pub async fn run_once(&self) -> anyhow::Result<Round> {
        let items = self
            .store
            .claim(
                &self.owner,
                Timestamp::now(),
                self.config.lease(),
                self.config.batch,
            )
            .await?;
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
                let limit = i64::try_from(free).unwrap_or(i64::MAX);
                match self
                    .store
                    .claim(&self.owner, Timestamp::now(), self.config.lease(), limit)
                    .await
                {
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

    /// Starts one call's step on `tasks`, in its organisation's slot.
    fn spawn_sync(&self, tasks: &mut JoinSet<anyhow::Result<Outcome>>, item: WorkItem) {
        let worker = self.clone();
        let slot = self.org_slot(&item.org_id);
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring only waits.
            let _permit = slot.acquire_owned().await;
            worker.sync_call(&item).await
        });
    }

    fn org_slot(&self, org_id: &str) -> Arc<Semaphore> {
        let mut slots = crm::connection::lock(&self.org_slots);
        slots
            .entry(org_id.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.per_org_concurrency.max(1))))
            .clone()
    }

    /// One step for one call. Errors returned are the store's own; every
    /// Salesforce failure is handled here.
    #[tracing::instrument(skip_all, fields(org = %item.org_id, call = %item.call_id))]
    async fn sync_call(&self, item: &WorkItem) -> anyhow::Result<Outcome> {
        let now = Timestamp::now();
        let Some(org) = self.store.org(&item.org_id).await? else {
            anyhow::bail!(
                "organisation {:?} of queued work no longer exists",
                item.org_id
            );
        };
        let settings: Settings = match serde_json::from_str(&org.settings_json) {
            Ok(settings) => settings,
            Err(error) => {
                let failure = StepFailure::Setup {
                    code: "CALLSYNC_SETTINGS_UNREADABLE",
                    message: format!("the stored settings cannot be read: {error}"),
                    remedy: "save the organisation's sync settings again, then retry".into(),
                };
                return self
                    .handle_failure(item, failure, None, &CallSummary::default(), now)
                    .await;
            }
        };
        let events = self.events(item).await?;
        let call = Call::fold(&events).context("cannot fold the call's stored events")?;
        let row = self
            .store
            .call(&item.org_id, &item.call_id)
            .await?
            .context("the call of queued work is missing")?;
        let written: WrittenTask = match &row.written_json {
            Some(json) => {
                serde_json::from_str(json).context("unreadable written Task in the store")?
            }
            None => WrittenTask::NotCreated,
        };
        let summary = summary(&call, &settings);

        let mut context = TaskContext {
            user_name: self.user_name(&call).await?,
            call_url: self
                .public_url
                .as_ref()
                .map(|base| format!("{}/v1/calls/{}", base.trim_end_matches('/'), item.call_id)),
            ..TaskContext::default()
        };
        // Only a Task about to be created needs the record and the owner, so
        // Salesforce is asked nothing for calls that wait or are up to date.
        let due = matches!(written, WrittenTask::NotCreated)
            && creation_due(&call, &settings, now) == CreationDue::Now;
        if !due {
            let action = next_action(&call, &settings, &written, &context, now);
            if !matches!(action, Action::Update(_)) {
                return self
                    .finish_without_write(item, &call, summary, &row, action, now)
                    .await;
            }
        }

        // From here on, Salesforce is needed.
        let connection = match org
            .salesforce_json
            .as_deref()
            .map(SalesforceConnection::from_json)
        {
            Some(Ok(connection)) => connection,
            Some(Err(error)) => {
                return self
                    .handle_failure(
                        item,
                        StepFailure::Crm(Step::Auth, error),
                        Some(&settings),
                        &summary,
                        now,
                    )
                    .await;
            }
            None => {
                let failure = StepFailure::Setup {
                    code: "CALLSYNC_NOT_CONNECTED",
                    message: "the organisation has no Salesforce connection".into(),
                    remedy: "connect Salesforce for this organisation (login URL, consumer key, \
                             private key, default user), then retry"
                        .into(),
                };
                return self
                    .handle_failure(item, failure, Some(&settings), &summary, now)
                    .await;
            }
        };
        let client = match self.connections.client(&item.org_id, &connection) {
            Ok(client) => client,
            Err(error) => {
                return self
                    .handle_failure(
                        item,
                        StepFailure::Crm(Step::Auth, error),
                        Some(&settings),
                        &summary,
                        now,
                    )
                    .await;
            }
        };
        if let Some(deferred) = self.over_budget(item, &client, now).await? {
            return Ok(deferred);
        }
        let searcher = client.for_user(connection.default_username.trim());

        let writer_username = match self.writer_username(&call, &connection).await? {
            Ok(username) => username,
            Err(failure) => {
                return self
                    .handle_failure(item, failure, Some(&settings), &summary, now)
                    .await;
            }
        };

        let mut found: Option<Match> = None;
        if due {
            found = match crm::find_record(&searcher, &call, settings.region()).await {
                Ok(found) => found,
                Err(error) => {
                    return self
                        .handle_failure(
                            item,
                            StepFailure::Crm(Step::Match, error),
                            Some(&settings),
                            &summary,
                            now,
                        )
                        .await;
                }
            };
            match self
                .owner_for(
                    &item.org_id,
                    &searcher,
                    &call,
                    &settings,
                    &connection,
                    &writer_username,
                    found.as_ref(),
                )
                .await
            {
                Ok(owner) => context.owner = owner,
                Err(error) => {
                    return self
                        .handle_failure(
                            item,
                            StepFailure::Crm(Step::FindUser, error),
                            Some(&settings),
                            &summary,
                            now,
                        )
                        .await;
                }
            }
            context.record = found.clone();
        }

        let writer = client.for_user(&writer_username);
        let action = next_action(&call, &settings, &written, &context, now);
        let (outcome, task_id, sent, step) = match action {
            Action::Create(fields) => {
                let adopt = row.create_attempted_at.is_some();
                if !adopt {
                    self.store.mark_create_attempted(item, now).await?;
                }
                let result = if adopt {
                    adopt_or_create(&writer, &item.call_id, &fields).await
                } else {
                    crm::create_task(&writer, &fields.to_json())
                        .await
                        .map(|id| (id, Outcome::Created))
                        .map_err(|error| (Step::CreateTask, error))
                };
                match result {
                    Ok((id, outcome)) => (outcome, id, fields, Step::CreateTask),
                    Err((step, error)) => {
                        return self
                            .handle_failure(
                                item,
                                StepFailure::Crm(step, error),
                                Some(&settings),
                                &summary,
                                now,
                            )
                            .await;
                    }
                }
            }
            Action::Update(fields) => {
                let Some(task_id) = written.task_id().cloned() else {
                    anyhow::bail!("an update was decided for a call without a Task");
                };
                if let Err(error) = crm::update_task(&writer, &task_id, &fields.to_json()).await {
                    return self
                        .handle_failure(
                            item,
                            StepFailure::Crm(Step::UpdateTask, error),
                            Some(&settings),
                            &summary,
                            now,
                        )
                        .await;
                }
                (Outcome::Updated, task_id, fields, Step::UpdateTask)
            }
            other => {
                return self
                    .finish_without_write(item, &call, summary, &row, other, now)
                    .await;
            }
        };

        if let Some(usage) = writer.api_usage() {
            let org = item.org_id.clone();
            metrics::gauge!(crate::metrics::SALESFORCE_API_USED, "org" => org.clone())
                .set(usage.used as f64);
            metrics::gauge!(crate::metrics::SALESFORCE_API_MAX, "org" => org).set(usage.max as f64);
        }
        let written = written.after_write(task_id.clone(), &sent, &call);
        let contact = if step == Step::CreateTask {
            contact_entry(&call, &settings, found.as_ref())
        } else {
            None
        };
        let finished = Finished {
            summary,
            sync_state: SyncState::Synced,
            task_id: Some(task_id.to_18().to_owned()),
            written_json: Some(serde_json::to_string(&written)?),
            linked_json: match &found {
                Some(found) => Some(serde_json::to_string(found)?),
                None => row.linked_json.clone(),
            },
            contact,
            history: Some(HistoryLine {
                action: step.as_str().to_owned(),
                outcome: match outcome {
                    Outcome::Adopted => "adopted".into(),
                    _ => "ok".into(),
                },
                detail: Some(format!(
                    "fields: {}",
                    sent.names().collect::<Vec<_>>().join(", ")
                )),
            }),
        };
        self.store.finish(item, &finished, now).await?;
        tracing::info!(task = %task_id, outcome = ?outcome, "call synced");
        Ok(outcome)
    }

    /// Defers the call when the organisation's Salesforce API usage, as the
    /// last answer reported it, is past callsync's share of the daily
    /// allowance: the rest is left to the organisation's other integrations
    /// and people. The work comes back when the rolling window has moved.
    async fn over_budget(
        &self,
        item: &WorkItem,
        client: &salesforce::Client,
        now: Timestamp,
    ) -> anyhow::Result<Option<Outcome>> {
        let Some(usage) = client.api_usage() else {
            return Ok(None);
        };
        let share = self.config.api_budget_share.clamp(0.0, 1.0);
        if usage.max == 0 || (usage.used as f64) < share * usage.max as f64 {
            return Ok(None);
        }
        let line = HistoryLine {
            action: "budget".into(),
            outcome: "deferred".into(),
            detail: Some(format!(
                "Salesforce API usage {}/{} is past callsync's share ({:.0} %); trying again in 5 minutes",
                usage.used,
                usage.max,
                share * 100.0
            )),
        };
        let later = now
            .checked_add(jiff::SignedDuration::from_mins(5))
            .unwrap_or(now);
        self.store
            .retry_later(item, later, false, &line, now)
            .await?;
        tracing::warn!(
            used = usage.used,
            max = usage.max,
            "API budget reached; call deferred"
        );
        Ok(Some(Outcome::Waiting))
    }

    async fn events(&self, item: &WorkItem) -> anyhow::Result<Vec<Event>> {
        let stored = self.store.call_events(&item.org_id, &item.call_id).await?;
        let mut events = Vec::with_capacity(stored.len());
        for event in stored {
            // Every stored event passed the same check at ingest.
            match Event::from_json(&event.body_json) {
                Ok(parsed) => events.push(parsed),
                Err(error) => {
                    tracing::error!(event = %event.event_id, %error, "stored event no longer parses")
                }
            }
        }
        anyhow::ensure!(!events.is_empty(), "the call has no readable events");
        Ok(events)
    }

    async fn user_name(&self, call: &Call) -> anyhow::Result<Option<String>> {
        let Some(user) = call.user() else {
            return Ok(None);
        };
        Ok(self
            .store
            .user(call.org().as_str(), user.as_str())
            .await?
            .map(|row| row.name))
    }

    /// The Salesforce user the Task is written as (R5 `CreatedById`, R7):
    /// the handler's linked user, or the organisation's default user when no
    /// callsync user handled the call.
    async fn writer_username(
        &self,
        call: &Call,
        connection: &SalesforceConnection,
    ) -> anyhow::Result<Result<String, StepFailure>> {
        let Some(user) = call.user() else {
            return Ok(Ok(connection.default_username.trim().to_owned()));
        };
        let row = self.store.user(call.org().as_str(), user.as_str()).await?;
        Ok(match row.and_then(|row| row.sf_username) {
            Some(username) => Ok(username),
            None => Err(StepFailure::Setup {
                code: "CALLSYNC_USER_NOT_LINKED",
                message: format!(
                    "callsync user {:?} is not linked to a Salesforce user",
                    user.as_str()
                ),
                remedy: format!(
                    "link callsync user {:?} to their Salesforce user (PUT /v1/users/{}), then retry",
                    user.as_str(),
                    user.as_str()
                ),
            }),
        })
    }

    /// `OwnerId` by R7, noting an inactive owner in the error log.
    #[allow(clippy::too_many_arguments)] // each is a distinct input of R7
    async fn owner_for(
        &self,
        org_id: &str,
        client: &salesforce::Client,
        call: &Call,
        settings: &Settings,
        connection: &SalesforceConnection,
        writer_username: &str,
        found: Option<&Match>,
    ) -> Result<Option<SalesforceId>, CrmError> {
        let default_username = connection.default_username.trim();
        let users = self
            .users
            .users_by_username(org_id, client, &[writer_username, default_username])
            .await?;
        let id_of = |username: &str| {
            users
                .get(&username.to_lowercase())
                .map(|user| user.id.clone())
        };
        let mut inactive: Vec<SalesforceId> = users
            .values()
            .filter(|user| !user.is_active)
            .map(|user| user.id.clone())
            .collect();
        let forward_destination_user = match call.transfer() {
            Some(transfer) if transfer.kind == TransferKind::AutoForward => {
                let user = self
                    .users
                    .user_with_phone(org_id, client, &transfer.destination, settings.region())
                    .await?;
                if let Some(user) = &user
                    && !user.is_active
                {
                    inactive.push(user.id.clone());
                }
                user.map(|user| user.id)
            }
            _ => None,
        };
        let inputs = OwnerInputs {
            handler_user: call.user().and_then(|_| id_of(writer_username)),
            record_owner: found.and_then(|found| found.owner_id.clone()),
            org_default_user: id_of(default_username),
            inactive_users: inactive,
            forward_destination_user,
        };
        let decision = choose_owner(call, settings, &inputs);
        if let Some(inactive_owner) = &decision.inactive_owner {
            let note = NewError {
                step: Step::FindUser.as_str().to_owned(),
                code: "INACTIVE_OWNER_OR_USER".into(),
                message: format!(
                    "Salesforce user {inactive_owner} is inactive and cannot own the Task"
                ),
                remedy:
                    "the Task is owned by the user who wrote it instead; reactivate the user or \
                         change the owner rule if that is not what you want"
                        .into(),
            };
            if let Err(error) = self
                .store
                .note_error(org_id, call.call_id().as_str(), &note, Timestamp::now())
                .await
            {
                tracing::error!(
                    error = format!("{error:#}"),
                    "cannot note the inactive owner"
                );
            }
        }
        Ok(decision.owner)
    }

    async fn finish_without_write(
        &self,
        item: &WorkItem,
        call: &Call,
        summary: CallSummary,
        row: &crate::store::CallRow,
        action: Action,
        now: Timestamp,
    ) -> anyhow::Result<Outcome> {
        let (state, outcome, history) = match action {
            Action::Never(reason) => (
                SyncState::Never,
                Outcome::Never,
                Some(HistoryLine {
                    action: "decide".into(),
                    outcome: "never".into(),
                    detail: Some(format!("{reason:?}")),
                }),
            ),
            Action::UpToDate => (SyncState::Synced, Outcome::UpToDate, None),
            _ => (SyncState::Waiting, Outcome::Waiting, None),
        };
        // An ended call waiting for its opening event becomes due by the
        // clock alone (OPENING_EVENT_GRACE): come back then, rather than
        // only when another event arrives.
        if outcome == Outcome::Waiting
            && let Some(end) = call.end()
            && let Ok(deadline) = end.at.checked_add(OPENING_EVENT_GRACE)
            && deadline > now
        {
            let line = HistoryLine {
                action: "decide".into(),
                outcome: "wait".into(),
                detail: Some("waiting for the call's opening event".into()),
            };
            self.store
                .retry_later(item, deadline, false, &line, now)
                .await?;
            return Ok(Outcome::Waiting);
        }
        let finished = Finished {
            summary,
            sync_state: state,
            task_id: row.task_id.clone(),
            written_json: row.written_json.clone(),
            linked_json: row.linked_json.clone(),
            contact: None,
            history,
        };
        self.store.finish(item, &finished, now).await?;
        Ok(outcome)
    }

    /// A transient failure is retried with exponential backoff and jitter
    /// until `max_attempts`; anything else, or running out of attempts,
    /// parks the call with an error-log entry and its remedy (R9).
    async fn handle_failure(
        &self,
        item: &WorkItem,
        failure: StepFailure,
        settings: Option<&Settings>,
        summary: &CallSummary,
        now: Timestamp,
    ) -> anyhow::Result<Outcome> {
        let (step_name, code, message, remedy, retry_after) = match &failure {
            StepFailure::Crm(step, error) => {
                let retry_after = match error.kind() {
                    ErrorKind::RetryLater { after } => Some(after),
                    // The write may have happened: the next attempt adopts it.
                    ErrorKind::OutcomeUnknown => Some(None),
                    // The daily budget refills over the next 24 hours.
                    ErrorKind::DailyLimitExhausted => Some(Some(Duration::from_secs(15 * 60))),
                    ErrorKind::Reauthenticate | ErrorKind::Permanent => None,
                };
                (
                    step.as_str(),
                    error.code(),
                    error.message(),
                    error.remedy(*step, settings),
                    retry_after,
                )
            }
            StepFailure::Setup {
                code,
                message,
                remedy,
            } => (
                "setup",
                (*code).to_owned(),
                message.clone(),
                remedy.clone(),
                None,
            ),
        };
        if let Some(after) = retry_after
            && item.attempts + 1 < self.config.max_attempts
        {
            let delay = after.unwrap_or_else(|| self.backoff(item.attempts));
            let not_before = now
                .checked_add(jiff::SignedDuration::try_from(delay)?)
                .unwrap_or(now);
            let line = HistoryLine {
                action: step_name.to_owned(),
                outcome: "retry".into(),
                detail: Some(format!(
                    "{code}: {message} (attempt {}, next in {delay:?})",
                    item.attempts + 1
                )),
            };
            self.store
                .retry_later(item, not_before, true, &line, now)
                .await?;
            tracing::warn!(%code, attempt = item.attempts + 1, ?delay, "transient failure; will retry");
            return Ok(Outcome::Retried);
        }
        let error = NewError {
            step: step_name.to_owned(),
            code,
            message,
            remedy,
        };
        match self.store.fail(item, summary, &error, now).await? {
            Some(id) => {
                tracing::warn!(error_log = id, code = %error.code, "sync failed; see the error log");
                Ok(Outcome::Failed)
            }
            None => {
                tracing::info!(code = %error.code, "sync failed, but newer events arrived; trying again with them");
                Ok(Outcome::Retried)
            }
        }
    }

    /// `base × 2^attempts`, capped, times a random factor in [0.5, 1.5) so
    /// calls that failed together do not retry together.
    fn backoff(&self, attempts: i64) -> Duration {
        let exponent = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
        let base = self.config.backoff_base_ms.saturating_mul(1u64 << exponent);
        let capped = base.min(self.config.backoff_max_ms);
        let jitter = 0.5 + rand::random::<f64>();
        Duration::from_millis((capped as f64 * jitter) as u64)
    }
}

/// The outcome of a finished step, or `None` after logging why there is none: a store
/// failure (the lease runs out and the call is claimed again) or a panic.
fn outcome_of(joined: Result<anyhow::Result<Outcome>, tokio::task::JoinError>) -> Option<Outcome> {
    match joined {
        Ok(Ok(outcome)) => Some(outcome),
        Ok(Err(error)) => {
            tracing::error!(error = format!("{error:#}"), "sync step failed");
            None
        }
        Err(panic) => {
            tracing::error!(error = %panic, "sync task panicked");
            None
        }
    }
}

/// The second attempt at a create whose outcome is unknown (a lost answer, a
/// crash mid-request): a Task found by `CallObject` is adopted (design
/// decision 2), else the Task is created with `fields`.
///
/// An adopted Task holds what the earlier attempt sent, and events may have
/// come since (a memo, the voice analysis, the end of a `call_start` call):
/// its owned fields are written again, so that `fields` is what it holds
/// when the caller records them as written. Without that update, what came
/// between the two attempts would never reach Salesforce (R6). It costs one
/// request, and only on this rare path.
async fn adopt_or_create(
    writer: &salesforce::Client,
    call_id: &str,
    fields: &TaskFields,
) -> Result<(SalesforceId, Outcome), (Step, CrmError)> {
    let found = crm::find_task_by_call_object(writer, call_id)
        .await
        .map_err(|error| (Step::CreateTask, error))?;
    let Some(task_id) = found else {
        let id = crm::create_task(writer, &fields.to_json())
            .await
            .map_err(|error| (Step::CreateTask, error))?;
        return Ok((id, Outcome::Created));
    };
    crm::update_task(writer, &task_id, &fields.updatable().to_json())
        .await
        .map_err(|error| (Step::UpdateTask, error))?;
    Ok((task_id, Outcome::Adopted))
}

/// The call's summary for call history.
fn summary(call: &Call, settings: &Settings) -> CallSummary {
    CallSummary {
        user_id: call.user().map(|user| user.as_str().to_owned()),
        kind: call.kind().map(kind_name),
        customer_number: call
            .customer_number()
            .map(|number| normal_number(number, settings)),
    }
}

/// A stable name for a call kind (`missed_outgoing`, `transfer_auto_forward`).
pub fn kind_name(kind: CallKind) -> String {
    match kind {
        CallKind::Outgoing => "outgoing".into(),
        CallKind::Incoming => "incoming".into(),
        CallKind::Transfer(TransferKind::Internal) => "transfer_internal".into(),
        CallKind::Transfer(TransferKind::External) => "transfer_external".into(),
        CallKind::Transfer(TransferKind::AutoForward) => "transfer_auto_forward".into(),
        CallKind::Voicemail => "voicemail".into(),
        CallKind::MissedOutgoing => "missed_outgoing".into(),
        CallKind::MissedIncoming => "missed_incoming".into(),
        CallKind::Extension => "extension".into(),
    }
}

/// The number in normal form (R3.6): E.164 when valid, else its digits.
fn normal_number(number: &str, settings: &Settings) -> String {
    PhoneNumber::parse(number, settings.region())
        .map(|parsed| parsed.key().as_str().to_owned())
        .unwrap_or_else(|_| number.to_owned())
}

/// The contact-list entry a created Task registers (R4).
fn contact_entry(call: &Call, settings: &Settings, found: Option<&Match>) -> Option<ContactEntry> {
    let number = call.customer_number()?;
    let entry = CoreContact::from_match(Some(number), found);
    let text = |value: String| if value.is_empty() { None } else { Some(value) };
    Some(ContactEntry {
        number: normal_number(number, settings),
        object: entry.record_object.map(|object| format!("{object:?}")),
        record_id: entry.record_id.map(|id| id.to_18().to_owned()),
        company: text(entry.company_name),
        person: text(entry.person_name),
    })
}

#[cfg(test)]
mod tests;
