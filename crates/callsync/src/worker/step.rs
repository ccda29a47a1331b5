//! One sync step for one call, top to bottom: [`Worker::load`] what the store holds,
//! [`plan`] with callsync-core's rules, [`Worker::execute`] the write through
//! [`crate::crm`], and [`Worker::record`] how it ended — each a function that fits on a
//! screen. Every way a step can end is one [`End`]; nothing is only logged.

use std::time::Duration;

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
use jiff::{SignedDuration, Timestamp};
use salesforce::ErrorKind;

use super::unknown::Unknown;
use super::writer::Writer;
use super::{Outcome, Worker, batch};
use crate::crm::{self, CrmError, SalesforceConnection, Step};
use crate::store::{
    CallRow, CallSummary, ContactEntry, Finished, HistoryLine, NewError, SyncState, WaitReason,
    WorkItem,
};

/// How a step ended: the one thing [`Worker::record`] writes.
#[derive(Debug)]
pub(super) enum End {
    /// Salesforce holds what it should (or nothing is to be written): record it.
    Done {
        finished: Box<Finished>,
        outcome: Outcome,
    },
    /// Not now (R16, R10): come back at `until`; nobody needs to act.
    Wait {
        until: Timestamp,
        reason: WaitReason,
        /// A transient failure, which lengthens the next backoff.
        backoff: bool,
        line: HistoryLine,
        outcome: Outcome,
    },
    /// An admin must act (R9), or callsync itself failed (`internal`): an error-log entry
    /// with its remedy, and the call parked until someone retries it.
    Failed {
        error: NewError,
        summary: CallSummary,
        internal: bool,
    },
}

/// What a step learnt about its organisation's Salesforce, for the breaker.
#[derive(Debug)]
pub(super) enum Health {
    NotAsked,
    Answered,
    Unavailable {
        reason: WaitReason,
        detail: String,
        wait: Option<Duration>,
    },
}

/// What the store holds for the call, read and decoded once.
struct Loaded {
    settings: Settings,
    connection: Option<Result<SalesforceConnection, CrmError>>,
    call: Call,
    row: CallRow,
    written: WrittenTask,
    summary: CallSummary,
    context: TaskContext,
    /// When the newest readable event reached callsync, for the event→Task latency.
    newest_received: Option<Timestamp>,
}

/// What the rules say to do.
enum Plan {
    /// Nothing to send: record this.
    Record(End),
    /// Send a create (with the record and owner to find first) or an update.
    Write { create: bool },
}

impl Worker {
    /// One step for one call. Errors returned are the store's own (including a lost
    /// lease); every other failure is an [`End`].
    #[tracing::instrument(skip_all, fields(org = %item.org_id, call = %item.call_id))]
    pub(super) async fn step(
        &self,
        item: &WorkItem,
        now: Timestamp,
    ) -> anyhow::Result<(End, Health)> {
        let loaded = match self.load(item).await? {
            Ok(loaded) => loaded,
            Err(end) => return Ok((end, Health::NotAsked)),
        };
        match plan(&loaded, now) {
            Plan::Record(end) => Ok((end, Health::NotAsked)),
            Plan::Write { create } => {
                let connected = self
                    .connected_users(
                        &loaded.call,
                        &loaded.settings,
                        loaded.connection.as_ref().and_then(|c| c.as_ref().ok()),
                    )
                    .await?;
                let (end, health) = self.execute(item, loaded, create, now).await?;
                let end = self
                    .refused_connection_waits(item, end, connected, now)
                    .await?;
                Ok((end, health))
            }
        }
    }

    /// Reads the organisation, the call's events and what was written, and decodes them.
    /// A stored event that no longer parses is quarantined (kept, shown, left out of the
    /// fold) with a note in the error log; anything else unreadable is an internal end.
    async fn load(&self, item: &WorkItem) -> anyhow::Result<Result<Loaded, End>> {
        let Some(org) = self.store.org(&item.org_id).await? else {
            return Ok(Err(internal(
                "CALLSYNC_ORG_MISSING",
                format!(
                    "organisation {:?} of queued work does not exist",
                    item.org_id
                ),
                "the organisation was removed while its calls were queued; nothing can be synced",
            )));
        };
        let settings: Settings = match serde_json::from_str(&org.settings_json) {
            Ok(settings) => settings,
            Err(error) => {
                return Ok(Err(End::Failed {
                    error: NewError {
                        step: "setup".into(),
                        code: "CALLSYNC_SETTINGS_UNREADABLE".into(),
                        message: format!("the stored settings cannot be read: {error}"),
                        remedy: "save the organisation's sync settings again, then retry".into(),
                    },
                    summary: CallSummary::default(),
                    internal: false,
                }));
            }
        };
        let (events, newest_received) = self.readable_events(item).await?;
        if events.is_empty() {
            return Ok(Err(internal(
                "CALLSYNC_NO_READABLE_EVENTS",
                "none of the call's stored events can be read".into(),
                "the call's events are quarantined (see the call's page); post them again with \
                 new event ids, then retry",
            )));
        }
        let call = match Call::fold(&events) {
            Ok(call) => call,
            Err(error) => {
                return Ok(Err(internal(
                    "CALLSYNC_FOLD_FAILED",
                    format!("the call's events cannot be folded: {error}"),
                    "report this to callsync's maintainers with the call id; retry after an upgrade",
                )));
            }
        };
        let Some(row) = self.store.call(&item.org_id, &item.call_id).await? else {
            return Ok(Err(internal(
                "CALLSYNC_CALL_MISSING",
                "the call of queued work is missing".into(),
                "post the call's events again, then retry",
            )));
        };
        let written = match row.written() {
            Ok(written) => written,
            Err(error) => {
                return Ok(Err(internal(
                    "CALLSYNC_WRITTEN_UNREADABLE",
                    error.to_string(),
                    "report this to callsync's maintainers with the call id; the Task in \
                     Salesforce is unaffected",
                )));
            }
        };
        let summary = summary(&call, &settings);
        let context = TaskContext {
            user_name: self.user_name(&call).await?,
            call_url: crate::config::call_url(self.public_url.as_deref(), &item.call_id),
            ..TaskContext::default()
        };
        let connection = org
            .salesforce_json
            .as_deref()
            .map(SalesforceConnection::from_json);
        Ok(Ok(Loaded {
            settings,
            connection,
            call,
            row,
            written,
            summary,
            context,
            newest_received,
        }))
    }

    /// The call's events that parse; the others are quarantined once, with a note.
    /// Also returns when the newest of them reached callsync.
    async fn readable_events(
        &self,
        item: &WorkItem,
    ) -> anyhow::Result<(Vec<Event>, Option<Timestamp>)> {
        let stored = self.store.call_events(&item.org_id, &item.call_id).await?;
        let mut events = Vec::with_capacity(stored.len());
        let mut newest: Option<Timestamp> = None;
        for event in stored {
            if event.quarantined.is_some() {
                continue;
            }
            newest = newest.max(Some(event.received_at));
            match Event::from_json(&event.body_json) {
                Ok(parsed) => events.push(parsed),
                Err(error) => {
                    tracing::error!(event = %event.event_id, %error, "stored event no longer parses; quarantined");
                    let reason = error.to_string();
                    self.store
                        .quarantine_event(&item.org_id, &event.event_id, &reason)
                        .await?;
                    let note = NewError {
                        step: "load".into(),
                        code: "CALLSYNC_EVENT_QUARANTINED".into(),
                        message: format!(
                            "stored event {:?} no longer parses and was set aside: {reason}",
                            event.event_id
                        ),
                        remedy: "the call was synced from its other events; post the event \
                                 again with a new id if it carried something the Task lacks"
                            .into(),
                    };
                    self.store
                        .note_error(&item.org_id, &item.call_id, &note, Timestamp::now())
                        .await?;
                }
            }
        }
        Ok((events, newest))
    }

    /// Sends the create or update the plan asked for, finding the record (R3) and the
    /// owner (R7) first for a create.
    async fn execute(
        &self,
        item: &WorkItem,
        loaded: Loaded,
        create: bool,
        now: Timestamp,
    ) -> anyhow::Result<(End, Health)> {
        let Loaded {
            settings,
            connection,
            call,
            row,
            written,
            summary,
            mut context,
            newest_received,
        } = loaded;
        let fail = |step: Step, error: CrmError| {
            self.crm_failure(item, step, error, &settings, &summary, now)
        };
        let connection = match connection {
            Some(Ok(connection)) => connection,
            Some(Err(error)) => return Ok(fail(Step::Auth, error)),
            None => return Ok((not_connected(&summary), Health::NotAsked)),
        };
        let client = match self.connections.client(&item.org_id, &connection) {
            Ok(client) => client,
            Err(error) => return Ok(fail(Step::Auth, error)),
        };
        if let Some(end) = self.over_budget(&client, create, now) {
            return Ok((end, Health::NotAsked));
        }
        let writer_username = match self.writer_username(&call, &connection).await? {
            Ok(username) => username,
            Err(end) => return Ok((end, Health::NotAsked)),
        };
        // R14: the handler's user (R7's `handler`) or the integration user writes.
        let writes_as = callsync_core::writing::writer_username(
            &settings,
            &writer_username,
            connection.default_username.trim(),
        )
        .to_owned();
        let writer = match self
            .writer_for(item, &client, &connection, &writes_as, now)
            .await?
        {
            Writer::Ready(writer) => writer,
            Writer::Wait(end) => return Ok((end, Health::NotAsked)),
            Writer::Broken(error) => return Ok(fail(Step::Auth, error)),
        };
        let searcher = match self
            .connections
            .default_user_client(&item.org_id, &connection)
        {
            Ok(searcher) => searcher,
            Err(error) => return Ok(fail(Step::Auth, error)),
        };
        let mut found: Option<Match> = None;
        if create {
            found = match crate::index::find_record(
                &self.store,
                &item.org_id,
                &searcher,
                &call,
                settings.region(),
            )
            .await
            {
                Ok(found) => found,
                Err(error) => return Ok(fail(Step::Match, error)),
            };
            let owner = self
                .owner_for(
                    &item.org_id,
                    &searcher,
                    &call,
                    &settings,
                    &connection,
                    &writer_username,
                    found.as_ref(),
                )
                .await;
            context.owner = match owner {
                Ok(owner) => owner,
                Err(error) => return Ok(fail(Step::FindUser, error)),
            };
            if found.is_none() {
                // R13: a Lead or Contact for a number no record holds (worker/unknown.rs).
                match self
                    .unknown_number(item, &writer, &call, &settings, &context, &summary, now)
                    .await?
                {
                    Unknown::Linked(created) => found = Some(created),
                    Unknown::Unlinked => {}
                    Unknown::End(end, health) => return Ok((end, health)),
                }
            }
            context.record = found.clone();
        }
        let (outcome, task_id, sent, step) =
            match next_action(&call, &settings, &written, &context, now) {
                Action::Create(fields) => {
                    let unique_field = settings.custom_fields.call_id.as_deref();
                    if unique_field.is_none()
                        && let Some(end) = settling(&row, &self.config, now)
                    {
                        return Ok((end, Health::NotAsked));
                    }
                    let adopt = row.create_attempted_at.is_some();
                    if !adopt {
                        self.store.mark_create_attempted(item, now).await?;
                    }
                    // Sent with other calls' creates where it can (R14, worker/batch.rs); an
                    // adopt after an unknown outcome goes alone, as it asks first.
                    let written = match unique_field {
                        // With the unique call-id field a create is simply sent again after a
                        // lost answer: Salesforce refuses the second (R14), here per record.
                        Some(unique_field) => {
                            let sent = self
                                .write_batched(
                                    &item.org_id,
                                    &settings,
                                    &writes_as,
                                    &writer,
                                    batch::Op::Create,
                                    fields.to_json(),
                                    || create_once(&writer, &item.call_id, &fields, unique_field),
                                )
                                .await;
                            match sent {
                                Err((_, error)) if duplicate_of(&error, unique_field) => {
                                    adopt_or_create(&writer, &item.call_id, &fields).await
                                }
                                other => other,
                            }
                        }
                        None if adopt => write_create(&writer, &item.call_id, &fields, true).await,
                        None => {
                            self.write_batched(
                                &item.org_id,
                                &settings,
                                &writes_as,
                                &writer,
                                batch::Op::Create,
                                fields.to_json(),
                                || write_create(&writer, &item.call_id, &fields, false),
                            )
                            .await
                        }
                    };
                    match written {
                        Ok((id, outcome)) => (outcome, id, fields, Step::CreateTask),
                        Err((step, error)) => return Ok(fail(step, error)),
                    }
                }
                Action::Update(fields) => {
                    let Some(task_id) = written.task_id().cloned() else {
                        return Ok((
                            internal(
                                "CALLSYNC_UPDATE_WITHOUT_TASK",
                                "an update was decided for a call without a Task".into(),
                                "report this to callsync's maintainers with the call id",
                            ),
                            Health::NotAsked,
                        ));
                    };
                    let mut record = fields.to_json();
                    if let Some(map) = record.as_object_mut() {
                        map.insert("Id".to_owned(), task_id.to_18().into());
                    }
                    let updated = self
                        .write_batched(
                            &item.org_id,
                            &settings,
                            &writes_as,
                            &writer,
                            batch::Op::Update,
                            record,
                            || async {
                                crm::update_task(&writer, &task_id, &fields.to_json())
                                    .await
                                    .map(|()| (task_id.clone(), Outcome::Updated))
                                    .map_err(|error| (Step::UpdateTask, error))
                            },
                        )
                        .await;
                    if let Err((step, error)) = updated {
                        return Ok(fail(step, error));
                    }
                    (Outcome::Updated, task_id, fields, Step::UpdateTask)
                }
                other => {
                    return Ok((
                        finish_without_write(&call, summary, &row, other, now),
                        Health::NotAsked,
                    ));
                }
            };
        self.note_api_usage(&item.org_id, &writer).await;
        let written = written.after_write(task_id.clone(), &sent, &call);
        let contact = (step == Step::CreateTask)
            .then(|| contact_entry(&call, &settings, found.as_ref()))
            .flatten();
        let finished = Finished {
            summary,
            sync_state: SyncState::Synced,
            task_id: Some(task_id.to_18().to_owned()),
            written: Some(written),
            linked: found,
            skip_reason: None,
            contact,
            history: Some(HistoryLine {
                action: step.as_str().to_owned(),
                outcome: if outcome == Outcome::Adopted {
                    "adopted"
                } else {
                    "ok"
                }
                .into(),
                detail: Some(format!(
                    "fields: {}",
                    sent.names().collect::<Vec<_>>().join(", ")
                )),
            }),
        };
        tracing::info!(task = %task_id, outcome = <&str>::from(outcome), "call synced");
        if let Some(received) = newest_received {
            let write = if step == Step::CreateTask {
                "create"
            } else {
                "update"
            };
            metrics::histogram!(crate::metrics::EVENT_TO_TASK_SECONDS, "write" => write).record(
                Timestamp::now()
                    .duration_since(received)
                    .as_secs_f64()
                    .max(0.0),
            );
        }
        Ok((
            End::Done {
                finished: Box::new(finished),
                outcome,
            },
            Health::Answered,
        ))
    }

    /// Writes how the step ended. Fails with `LeaseLost` (writing nothing) when another
    /// worker holds the call now.
    pub(super) async fn record(
        &self,
        item: &WorkItem,
        end: End,
        now: Timestamp,
    ) -> anyhow::Result<Outcome> {
        match end {
            End::Done { finished, outcome } => {
                self.store.finish(item, &finished, now).await?;
                Ok(outcome)
            }
            End::Wait {
                until,
                reason,
                backoff,
                line,
                outcome,
            } => {
                self.store
                    .wait(item, until, reason, backoff, &line, now)
                    .await?;
                Ok(outcome)
            }
            End::Failed {
                error,
                summary,
                internal,
            } => match self.store.fail(item, &summary, &error, now).await? {
                Some(id) => {
                    tracing::warn!(error_log = id, code = %error.code, internal, "sync failed; see the error log");
                    Ok(if internal {
                        Outcome::Internal
                    } else {
                        Outcome::Failed
                    })
                }
                None => {
                    tracing::info!(code = %error.code, "sync failed, but newer events arrived; trying again with them");
                    Ok(Outcome::Retried)
                }
            },
        }
    }

    /// A Salesforce failure at `step`, as an end (R9, R16): what a retry can fix waits,
    /// with backoff and jitter and no limit on attempts; the rest needs a person.
    pub(super) fn crm_failure(
        &self,
        item: &WorkItem,
        step: Step,
        error: CrmError,
        settings: &Settings,
        summary: &CallSummary,
        now: Timestamp,
    ) -> (End, Health) {
        let code = error.code();
        let message = error.message();
        let (reason, asked) = match error.kind() {
            ErrorKind::RetryLater { after } => (WaitReason::SalesforceUnavailable, after),
            // The write may have happened: the next attempt adopts it.
            ErrorKind::OutcomeUnknown => (WaitReason::SalesforceUnavailable, None),
            // The rolling 24-hour allowance frees over time; look again in a while.
            ErrorKind::DailyLimitExhausted => {
                (WaitReason::DailyLimit, Some(Duration::from_secs(15 * 60)))
            }
            ErrorKind::Reauthenticate | ErrorKind::Permanent => {
                let health = if matches!(error.kind(), ErrorKind::Permanent) {
                    Health::Answered
                } else {
                    Health::NotAsked
                };
                let error = NewError {
                    step: step.as_str().to_owned(),
                    remedy: error.remedy(step, Some(settings)),
                    code,
                    message,
                };
                let summary = summary.clone();
                return (
                    End::Failed {
                        error,
                        summary,
                        internal: false,
                    },
                    health,
                );
            }
        };
        let delay = asked.unwrap_or_else(|| self.backoff(item.attempts));
        let until = now
            .checked_add(SignedDuration::try_from(delay).unwrap_or(SignedDuration::MAX))
            .unwrap_or(now);
        let detail = format!("{code}: {message}");
        tracing::warn!(%code, attempt = item.attempts + 1, ?delay, "transient failure; the call waits");
        let line = HistoryLine {
            action: step.as_str().to_owned(),
            outcome: "wait".into(),
            detail: Some(format!(
                "{detail} (attempt {}, next in {delay:?})",
                item.attempts + 1
            )),
        };
        let end = End::Wait {
            until,
            reason,
            backoff: true,
            line,
            outcome: Outcome::Retried,
        };
        (
            end,
            Health::Unavailable {
                reason,
                detail,
                wait: asked,
            },
        )
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

    /// Makes the call wait when the organisation's Salesforce API usage, as the last
    /// answer reported it, is past callsync's share of the daily allowance: the rest is
    /// left to the organisation's other integrations and people (R14, R16). Updates (the
    /// voice analysis, memo edits, the end of a `call_start` call) are the optional
    /// writes: they wait from [`UPDATE_SHARE`] of the share on, so the creates that put
    /// calls in Salesforce at all keep the last part of it.
    fn over_budget(
        &self,
        client: &salesforce::Client,
        create: bool,
        now: Timestamp,
    ) -> Option<End> {
        let usage = client.api_usage()?;
        let share =
            self.config.api_budget_share.clamp(0.0, 1.0) * if create { 1.0 } else { UPDATE_SHARE };
        if usage.max == 0 || (usage.used as f64) < share * usage.max as f64 {
            return None;
        }
        tracing::warn!(
            used = usage.used,
            max = usage.max,
            "API budget reached; call deferred"
        );
        Some(End::Wait {
            until: now.checked_add(SignedDuration::from_mins(5)).unwrap_or(now),
            reason: WaitReason::ApiBudget,
            backoff: false,
            line: HistoryLine {
                action: "budget".into(),
                outcome: "deferred".into(),
                detail: Some(format!(
                    "Salesforce API usage {}/{} is past callsync's share ({:.0} %); trying again in 5 minutes",
                    usage.used,
                    usage.max,
                    share * 100.0
                )),
            },
            outcome: Outcome::Waiting,
        })
    }

    /// Shows the organisation's API usage as the last answer reported it (R14): in the
    /// metrics at once, and in the store (for `GET /v1/org`) at most every
    /// [`USAGE_RECORD_INTERVAL`] per organisation, so busy organisations do not pay a
    /// database write per step for it.
    async fn note_api_usage(&self, org_id: &str, client: &salesforce::Client) {
        let Some(usage) = client.api_usage() else {
            return;
        };
        let org = org_id.to_owned();
        metrics::gauge!(crate::metrics::SALESFORCE_API_USED, "org" => org.clone())
            .set(usage.used as f64);
        metrics::gauge!(crate::metrics::SALESFORCE_API_MAX, "org" => org).set(usage.max as f64);
        let due = {
            let mut noted = crm::connection::lock(&self.usage_noted);
            let now = std::time::Instant::now();
            match noted.get(org_id) {
                Some(last) if now.duration_since(*last) < USAGE_RECORD_INTERVAL => false,
                _ => {
                    noted.insert(org_id.to_owned(), now);
                    true
                }
            }
        };
        if !due {
            return;
        }
        let share = self.config.api_budget_share.clamp(0.0, 1.0);
        let row = crate::store::ApiUsageRow {
            used: i64::try_from(usage.used).unwrap_or(i64::MAX),
            allowance: i64::try_from(usage.max).unwrap_or(i64::MAX),
            budget: (share * usage.max as f64) as i64,
            observed_at: Timestamp::now(),
        };
        if let Err(error) = self.store.put_api_usage(org_id, &row).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "cannot record the organisation's API usage"
            );
        }
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
    pub(super) async fn writer_username(
        &self,
        call: &Call,
        connection: &SalesforceConnection,
    ) -> anyhow::Result<Result<String, End>> {
        let Some(user) = call.user() else {
            return Ok(Ok(connection.default_username.trim().to_owned()));
        };
        let row = self.store.user(call.org().as_str(), user.as_str()).await?;
        Ok(match row.and_then(|row| row.sf_username) {
            Some(username) => Ok(username),
            None => Err(End::Failed {
                error: NewError {
                    step: "setup".into(),
                    code: "CALLSYNC_USER_NOT_LINKED".into(),
                    message: format!(
                        "callsync user {:?} is not linked to a Salesforce user",
                        user.as_str()
                    ),
                    remedy: format!(
                        "link callsync user {:?} to their Salesforce user (PUT /v1/users/{}), then retry",
                        user.as_str(),
                        user.as_str()
                    ),
                },
                summary: CallSummary::default(),
                internal: false,
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
}

/// How often a worker writes an organisation's API usage to the store.
const USAGE_RECORD_INTERVAL: Duration = Duration::from_secs(5);

/// The part of callsync's API budget share past which updates wait while creates still go
/// (R14: the optional updates are deferred first).
pub const UPDATE_SHARE: f64 = 0.9;

/// The rules' decision for a loaded call (R6, R10). Only a Task about to be created needs
/// the record and the owner, so Salesforce is asked nothing for calls that wait or are up
/// to date.
fn plan(loaded: &Loaded, now: Timestamp) -> Plan {
    let due = matches!(loaded.written, WrittenTask::NotCreated)
        && creation_due(&loaded.call, &loaded.settings, now) == CreationDue::Now;
    if due {
        // R14: the create may wait a few seconds after hang-up for the memo, so one
        // request carries both; a memo arriving re-arms the call at once (ingest).
        if let Some(until) =
            callsync_core::writing::coalescing_until(&loaded.call, &loaded.settings, now)
        {
            return Plan::Record(End::Wait {
                until,
                reason: WaitReason::Coalescing,
                backoff: false,
                line: HistoryLine {
                    action: "decide".into(),
                    outcome: "wait".into(),
                    detail: Some(
                        "waiting a few seconds for the memo, to send it with the create".into(),
                    ),
                },
                outcome: Outcome::Waiting,
            });
        }
        return Plan::Write { create: true };
    }
    match next_action(
        &loaded.call,
        &loaded.settings,
        &loaded.written,
        &loaded.context,
        now,
    ) {
        Action::Update(_) => Plan::Write { create: false },
        other => Plan::Record(finish_without_write(
            &loaded.call,
            loaded.summary.clone(),
            &loaded.row,
            other,
            now,
        )),
    }
}

/// The end of a step that writes nothing: never, up to date, or not due yet.
fn finish_without_write(
    call: &Call,
    summary: CallSummary,
    row: &CallRow,
    action: Action,
    now: Timestamp,
) -> End {
    let mut skip_reason = None;
    let (state, outcome, history) = match action {
        Action::Never(reason) => {
            let (state, outcome, detail) = match reason.skipped() {
                // R12: the organisation's policy, not R2, keeps it out of Salesforce.
                Some(skipped) => {
                    skip_reason = Some(skipped.as_str().to_owned());
                    (SyncState::Skipped, "skipped", skipped.label().to_owned())
                }
                None => (SyncState::Never, "never", format!("{reason:?}")),
            };
            (
                state,
                Outcome::Never,
                Some(HistoryLine {
                    action: "decide".into(),
                    outcome: outcome.into(),
                    detail: Some(detail),
                }),
            )
        }
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
        return End::Wait {
            until: deadline,
            reason: WaitReason::OpeningEvent,
            backoff: false,
            line: HistoryLine {
                action: "decide".into(),
                outcome: "wait".into(),
                detail: Some("waiting for the call's opening event".into()),
            },
            outcome: Outcome::Waiting,
        };
    }
    End::Done {
        finished: Box::new(Finished {
            summary,
            sync_state: state,
            task_id: row.task_id.clone(),
            written: None,
            linked: None,
            contact: None,
            history,
            skip_reason,
        }),
        outcome,
    }
}

/// A create that an earlier step sent and never recorded the end of (its worker died or
/// lost its lease mid-request) may still land in Salesforce: looking for it by
/// `CallObject` now could miss it and create a second Task. Wait until that request has
/// either landed or been given up by its client (the request timeout), plus a margin.
fn settling(row: &CallRow, config: &crate::config::WorkerConfig, now: Timestamp) -> Option<End> {
    if !row.create_in_flight {
        return None;
    }
    let attempted = row.create_attempted_at?;
    let settle = SignedDuration::from_secs(
        i64::try_from(config.salesforce_timeout_seconds).unwrap_or(i64::MAX),
    )
    .checked_add(SignedDuration::from_secs(5))
    .unwrap_or(SignedDuration::MAX);
    let until = attempted.checked_add(settle).ok()?;
    (until > now).then(|| End::Wait {
        until,
        reason: WaitReason::CreateSettling,
        backoff: false,
        line: HistoryLine {
            action: "create_task".into(),
            outcome: "wait".into(),
            detail: Some("an earlier create may still be on its way; looking for its Task once it has settled".into()),
        },
        outcome: Outcome::Waiting,
    })
}

/// The create itself: a fresh create, or — after an attempt whose outcome is unknown —
/// adopt-or-create (design decision 2).
async fn write_create(
    writer: &salesforce::Client,
    call_id: &str,
    fields: &TaskFields,
    adopt: bool,
) -> Result<(SalesforceId, Outcome), (Step, CrmError)> {
    if adopt {
        return adopt_or_create(writer, call_id, fields).await;
    }
    crm::create_task(writer, &fields.to_json())
        .await
        .map(|id| (id, Outcome::Created))
        .map_err(|error| (Step::CreateTask, error))
}

/// A create where Salesforce itself keeps one Task per call (R14): `fields` carry the
/// call id in `unique_field`, a Unique External ID field, so a second create of the same
/// call — after a lost answer, or by a worker that took over — is refused with
/// `DUPLICATE_VALUE` on that field, and the Task that exists is adopted instead. No
/// waiting for an earlier request to settle, and no query before the create.
async fn create_once(
    writer: &salesforce::Client,
    call_id: &str,
    fields: &TaskFields,
    unique_field: &str,
) -> Result<(SalesforceId, Outcome), (Step, CrmError)> {
    match crm::create_task(writer, &fields.to_json()).await {
        Ok(id) => Ok((id, Outcome::Created)),
        Err(error) if duplicate_of(&error, unique_field) => {
            adopt_or_create(writer, call_id, fields).await
        }
        Err(error) => Err((Step::CreateTask, error)),
    }
}

/// Whether Salesforce refused a create because `unique_field` already holds the call id:
/// the Task exists (R14).
fn duplicate_of(error: &CrmError, unique_field: &str) -> bool {
    error.code() == "DUPLICATE_VALUE"
        && error
            .fields()
            .iter()
            .any(|field| field.eq_ignore_ascii_case(unique_field))
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

fn internal(code: &str, message: String, remedy: &str) -> End {
    End::Failed {
        error: NewError {
            step: "internal".into(),
            code: code.into(),
            message,
            remedy: remedy.into(),
        },
        summary: CallSummary::default(),
        internal: true,
    }
}

fn not_connected(summary: &CallSummary) -> End {
    End::Failed {
        error: NewError {
            step: "setup".into(),
            code: "CALLSYNC_NOT_CONNECTED".into(),
            message: "the organisation has no Salesforce connection".into(),
            remedy: "connect Salesforce for this organisation (login URL, consumer key, \
                     private key, default user), then retry"
                .into(),
        },
        summary: summary.clone(),
        internal: false,
    }
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
