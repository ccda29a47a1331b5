//! The values the store takes and gives back, and their decoding from rows.
//! Structured values (what was written to a Task, the linked record) are JSON
//! text in the database; the store encodes and decodes them, so no caller
//! handles their text.

use callsync_core::matching::Match;
use callsync_core::sync::WrittenTask;
use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::timestamp;

/// A new organisation. `Debug` leaves out the signing secret and the connection (it holds
/// the private key).
#[derive(Clone)]
pub struct NewOrg {
    pub id: String,
    pub name: String,
    /// The HMAC key the phone system signs its events with.
    pub signing_secret: String,
    pub settings_json: String,
    /// How to reach the organisation's Salesforce (JSON), if connected yet.
    pub salesforce_json: Option<String>,
}

/// An organisation as read, its secrets opened (the database holds them sealed:
/// `store/sealed.rs`). `Debug` leaves out the signing secret and the connection.
#[derive(Clone)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub signing_secret: String,
    pub settings_json: String,
    pub salesforce_json: Option<String>,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for NewOrg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewOrg")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("signing_secret", &"[REDACTED]")
            .field(
                "salesforce_json",
                &self.salesforce_json.as_ref().map(|_| "[REDACTED]"),
            )
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for OrgRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("signing_secret", &"[REDACTED]")
            .field("settings_json", &self.settings_json)
            .field(
                "salesforce_json",
                &self.salesforce_json.as_ref().map(|_| "[REDACTED]"),
            )
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl OrgRow {
    pub(super) fn from_row(r: &AnyRow) -> anyhow::Result<OrgRow> {
        Ok(OrgRow {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            signing_secret: r.try_get("signing_secret")?,
            settings_json: r.try_get("settings")?,
            salesforce_json: r.try_get("salesforce")?,
            created_at: timestamp(r.try_get("created_at")?),
        })
    }
}

/// A callsync user (an agent of the phone system) and the Salesforce user
/// their Tasks are written as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UserRow {
    #[serde(skip)]
    pub org_id: String,
    pub user_id: String,
    pub name: String,
    pub sf_username: Option<String>,
}

impl UserRow {
    pub(super) fn from_row(r: &AnyRow) -> anyhow::Result<UserRow> {
        Ok(UserRow {
            org_id: r.try_get("org_id")?,
            user_id: r.try_get("user_id")?,
            name: r.try_get("name")?,
            sf_username: r.try_get("sf_username")?,
        })
    }
}

/// An event to store: its identity, the call it belongs to, its own time,
/// and its JSON as received (after validation).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: String,
    pub call_id: String,
    pub occurred_at: Timestamp,
    pub body_json: String,
}

#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub event_id: String,
    pub occurred_at: Timestamp,
    pub received_at: Timestamp,
    pub body_json: String,
    /// Why the event was set aside, when it no longer parses (it is kept and shown).
    pub quarantined: Option<String>,
}

impl StoredEvent {
    pub(super) fn from_row(r: &AnyRow) -> anyhow::Result<StoredEvent> {
        Ok(StoredEvent {
            event_id: r.try_get("event_id")?,
            occurred_at: timestamp(r.try_get("occurred_at")?),
            received_at: timestamp(r.try_get("received_at")?),
            body_json: r.try_get("body")?,
            quarantined: r.try_get("quarantined")?,
        })
    }
}

/// What one ingest transaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IngestOutcome {
    pub accepted: u64,
    pub duplicates: u64,
}

/// A claimed unit of sync work: one call, at one generation, under one lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    pub org_id: String,
    pub call_id: String,
    /// Bumped by every event for the call; finishing deletes the item only
    /// if no newer generation arrived while it ran.
    pub generation: i64,
    /// Transient failures so far, for backoff only (R16: they never park a call).
    pub attempts: i64,
    /// Who holds the lease, and the token of this claim: every write of the step is
    /// refused once either no longer matches (store/outbox.rs).
    pub lease_owner: String,
    pub lease_token: i64,
    /// When the call's current work first became due, for "oldest waiting".
    pub queued_at: Timestamp,
}

impl WorkItem {
    pub(super) fn from_row(r: &AnyRow) -> anyhow::Result<WorkItem> {
        let not_before: i64 = r.try_get("not_before")?;
        Ok(WorkItem {
            org_id: r.try_get("org_id")?,
            call_id: r.try_get("call_id")?,
            generation: r.try_get("generation")?,
            attempts: r.try_get("attempts")?,
            lease_owner: r.try_get("lease_owner")?,
            lease_token: r.try_get("lease_token")?,
            queued_at: timestamp(
                r.try_get::<Option<i64>, _>("queued_at")?
                    .unwrap_or(not_before),
            ),
        })
    }
}

/// Why a call waits instead of syncing now (R16). Waiting never needs a person: the call
/// syncs by itself once the reason is gone.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    strum::AsRefStr,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum WaitReason {
    /// Salesforce answered with a transient failure (5xx, timeout, lock, lost answer,
    /// connection refused), or its circuit breaker is open: retried with backoff.
    SalesforceUnavailable,
    /// The organisation's daily API allowance is used up: retried when it frees.
    DailyLimit,
    /// callsync's share of the daily allowance is used up (the API budget).
    ApiBudget,
    /// An ended call waits a while for its opening event (R10).
    OpeningEvent,
    /// An earlier create may still be on its way to Salesforce (its worker died or lost
    /// its lease mid-request): looking for its Task waits until it has landed or failed.
    CreateSettling,
    /// The Salesforce user who writes the call's Task (web-server flow) has not connected,
    /// or Salesforce refused their connection (token revoked, user deactivated): the call
    /// waits until they connect again, then runs at once (R16).
    ConnectionRevoked,
    /// R14 coalescing window: an answered call's create waits a few seconds after hang-up
    /// for its memo, so both go in one request.
    Coalescing,
}

impl WaitReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Where a call stands with Salesforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// Work is queued.
    Pending,
    /// Waiting for the event that makes the Task due (e.g. `ended`).
    Waiting,
    /// Salesforce holds what the rules say it should.
    Synced,
    /// Never synced (an extension call, R2; a voicemail at `call_start`).
    Never,
    /// Not written because the organisation's logging policy says so (R12); the call's
    /// `skip_reason` says why.
    Skipped,
    /// Failed; see the error log.
    Failed,
}

impl SyncState {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Pending => "pending",
            SyncState::Waiting => "waiting",
            SyncState::Synced => "synced",
            SyncState::Never => "never",
            SyncState::Skipped => "skipped",
            SyncState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<SyncState> {
        Some(match text {
            "pending" => SyncState::Pending,
            "waiting" => SyncState::Waiting,
            "synced" => SyncState::Synced,
            "never" => SyncState::Never,
            "skipped" => SyncState::Skipped,
            "failed" => SyncState::Failed,
            _ => return None,
        })
    }
}

/// The call's summary as the worker last folded it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallSummary {
    pub user_id: Option<String>,
    pub kind: Option<String>,
    pub customer_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ContactEntry {
    /// The customer number in normal form (E.164, or its digits, R3.6).
    pub number: String,
    pub object: Option<String>,
    pub record_id: Option<String>,
    pub company: Option<String>,
    pub person: Option<String>,
}

/// A line of a call's sync history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryLine {
    pub action: String,
    pub outcome: String,
    pub detail: Option<String>,
}

/// The result of a sync step the worker completed.
#[derive(Debug, Clone)]
pub struct Finished {
    pub summary: CallSummary,
    pub sync_state: SyncState,
    pub task_id: Option<String>,
    /// What the Task now holds (the owned fields as last sent), to send only changes;
    /// `None` keeps what is stored.
    pub written: Option<WrittenTask>,
    /// The record the call is linked to, kept so updates never re-match; `None` keeps
    /// what is stored.
    pub linked: Option<Match>,
    pub contact: Option<ContactEntry>,
    pub history: Option<HistoryLine>,
    /// Why the policy wrote nothing (R12: `policy`, `never_log_list`, `too_short`), with
    /// `sync_state` = skipped; `None` otherwise.
    pub skip_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRow {
    pub org_id: String,
    pub call_id: String,
    pub summary: CallSummary,
    pub first_event_at: Timestamp,
    pub updated_at: Timestamp,
    pub sync_state: SyncState,
    pub task_id: Option<String>,
    /// Stored as JSON; read through [`CallRow::written`].
    written_json: Option<String>,
    /// Stored as JSON; read through [`CallRow::linked`].
    linked_json: Option<String>,
    pub create_attempted_at: Option<Timestamp>,
    /// A create was sent and its step never recorded how it ended (store/outbox.rs).
    pub create_in_flight: bool,
    /// Why the call waits, while it does (R16).
    pub wait_reason: Option<String>,
    /// Why the logging policy skipped the call (R12), when it did.
    pub skip_reason: Option<String>,
}

/// A value stored as JSON that no longer decodes (a hand-edited row, a downgrade): the
/// caller decides what that means for the call, so it is an error of its own rather
/// than a failure to read the row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stored {what} of call {call_id:?} cannot be read: {reason}")]
pub struct UnreadableJson {
    pub what: &'static str,
    pub call_id: String,
    pub reason: String,
}

impl CallRow {
    /// What callsync last wrote to the call's Task (R6).
    pub fn written(&self) -> Result<WrittenTask, UnreadableJson> {
        match &self.written_json {
            None => Ok(WrittenTask::NotCreated),
            Some(json) => {
                serde_json::from_str(json).map_err(|error| self.unreadable("Task fields", error))
            }
        }
    }

    /// The record the call was linked to (R3), if any.
    pub fn linked(&self) -> Result<Option<Match>, UnreadableJson> {
        match &self.linked_json {
            None => Ok(None),
            Some(json) => {
                serde_json::from_str(json).map_err(|error| self.unreadable("linked record", error))
            }
        }
    }

    fn unreadable(&self, what: &'static str, error: serde_json::Error) -> UnreadableJson {
        UnreadableJson {
            what,
            call_id: self.call_id.clone(),
            reason: error.to_string(),
        }
    }

    pub(super) fn from_row(r: &AnyRow) -> anyhow::Result<CallRow> {
        let state: String = r.try_get("sync_state")?;
        Ok(CallRow {
            org_id: r.try_get("org_id")?,
            call_id: r.try_get("call_id")?,
            summary: CallSummary {
                user_id: r.try_get("user_id")?,
                kind: r.try_get("kind")?,
                customer_number: r.try_get("customer_number")?,
            },
            first_event_at: timestamp(r.try_get("first_event_at")?),
            updated_at: timestamp(r.try_get("updated_at")?),
            sync_state: SyncState::parse(&state)
                .ok_or_else(|| anyhow::anyhow!("unknown sync state {state:?} in the store"))?,
            task_id: r.try_get("task_id")?,
            written_json: r.try_get("written")?,
            linked_json: r.try_get("linked")?,
            create_attempted_at: r
                .try_get::<Option<i64>, _>("create_attempted_at")?
                .map(timestamp),
            create_in_flight: r.try_get::<i64, _>("create_in_flight")? != 0,
            wait_reason: r.try_get("wait_reason")?,
            skip_reason: r.try_get("skip_reason")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HistoryRow {
    pub at: Timestamp,
    pub action: String,
    pub outcome: String,
    pub task_id: Option<String>,
    pub detail: Option<String>,
}

impl HistoryRow {
    pub(super) fn from_row(r: &AnyRow) -> anyhow::Result<HistoryRow> {
        Ok(HistoryRow {
            at: timestamp(r.try_get("at")?),
            action: r.try_get("action")?,
            outcome: r.try_get("outcome")?,
            task_id: r.try_get("task_id")?,
            detail: r.try_get("detail")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ContactRow {
    #[serde(flatten)]
    pub entry: ContactEntry,
    pub updated_at: Timestamp,
}

impl ContactRow {
    pub(super) fn from_row(r: &AnyRow) -> anyhow::Result<ContactRow> {
        Ok(ContactRow {
            entry: ContactEntry {
                number: r.try_get("number")?,
                object: r.try_get("object")?,
                record_id: r.try_get("record_id")?,
                company: r.try_get("company")?,
                person: r.try_get("person")?,
            },
            updated_at: timestamp(r.try_get("updated_at")?),
        })
    }
}

/// An error-log entry to write (R9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewError {
    /// Which step failed: `match`, `create_task`, `update_task`, `auth`…
    pub step: String,
    /// Salesforce's error code, or callsync's own for its own failures.
    pub code: String,
    pub message: String,
    /// What a person should do, in plain words.
    pub remedy: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErrorRow {
    pub id: i64,
    #[serde(skip)]
    pub org_id: String,
    pub call_id: String,
    pub step: String,
    pub code: String,
    pub message: String,
    pub remedy: String,
    pub occurred_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
}

impl ErrorRow {
    pub(super) fn from_row(r: &AnyRow) -> anyhow::Result<ErrorRow> {
        Ok(ErrorRow {
            id: r.try_get("id")?,
            org_id: r.try_get("org_id")?,
            call_id: r.try_get("call_id")?,
            step: r.try_get("step")?,
            code: r.try_get("code")?,
            message: r.try_get("message")?,
            remedy: r.try_get("remedy")?,
            occurred_at: timestamp(r.try_get("occurred_at")?),
            resolved_at: r.try_get::<Option<i64>, _>("resolved_at")?.map(timestamp),
        })
    }
}

/// Which calls to list.
#[derive(Debug, Clone)]
pub struct CallFilter {
    pub org_id: String,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub user_id: Option<String>,
    pub kind: Option<String>,
    pub sync_state: Option<String>,
    /// Calls with this customer number, in normal form (R3.6).
    pub customer_number: Option<String>,
    pub limit: i64,
}

impl CallFilter {
    pub fn for_org(org_id: &str) -> CallFilter {
        CallFilter {
            org_id: org_id.to_owned(),
            since: None,
            until: None,
            user_id: None,
            kind: None,
            sync_state: None,
            customer_number: None,
            limit: 100,
        }
    }
}

/// The state of an organisation's Salesforce as the worker's breaker last saw it (R16),
/// when it is not simply answering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OrgHealth {
    /// `open` (its queue is paused) or `probing` (one call tests it).
    pub state: String,
    /// Why: `salesforce_unavailable` or `daily_limit`.
    pub reason: String,
    /// The last failure, as Salesforce (or the way to it) reported it.
    pub detail: Option<String>,
    /// Since when.
    pub since: Timestamp,
    /// When the next probe may go.
    pub next_probe: Option<Timestamp>,
    /// Transient failures in a row.
    pub failures: i64,
}

impl OrgHealth {
    pub(super) fn from_row(r: &AnyRow) -> anyhow::Result<OrgHealth> {
        Ok(OrgHealth {
            state: r.try_get("state")?,
            reason: r.try_get("reason")?,
            detail: r.try_get("detail")?,
            since: timestamp(r.try_get("since")?),
            next_probe: r.try_get::<Option<i64>, _>("next_probe")?.map(timestamp),
            failures: r.try_get("failures")?,
        })
    }
}
