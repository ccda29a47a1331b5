//! What to do now for a call (R6, R10): wait, never sync, create the Task, update it, or
//! nothing.
//!
//! The service calls [`next_action`] after every event (and on retries) with what it last
//! wrote; the answer depends only on the folded call, so late, repeated or reordered events
//! lead to the same Task, written once (R10 "Ordering").

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::call::{Call, CallKind};
use crate::ids::SalesforceId;
use crate::policy::{Logging, SkipReason};
use crate::settings::{Settings, Timing};
use crate::task::{TaskContext, TaskFields, task_fields};

/// Why a call is never synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NeverReason {
    /// R2: extension (internal) calls are never synced.
    ExtensionCall,
    /// R2, R10: voicemail is synced only with timing `call_end`.
    VoicemailAtCallStart,
    /// R8, R10: a predictive call an agent talked on is synced only with timing `call_end`.
    PredictiveTalkAtCallStart,
    /// R12: the organisation's logging policy does not log it.
    Skipped(SkipReason),
}

impl NeverReason {
    /// The policy's reason, when the call is skipped by R12 rather than never synced by
    /// R2/R8.
    pub fn skipped(&self) -> Option<SkipReason> {
        match self {
            NeverReason::Skipped(reason) => Some(*reason),
            _ => None,
        }
    }
}

/// Whether the Task of a call that has none yet is due (R10 creation table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "due", content = "reason", rename_all = "snake_case")]
pub enum CreationDue {
    /// Not yet: the call has not reached its moment.
    Wait,
    /// Never, for this reason.
    Never(NeverReason),
    /// Now.
    Now,
}

/// How long an ended call whose opening event never arrived waits for it before its Task is
/// created anyway (see [`creation_due`]).
pub const OPENING_EVENT_GRACE: SignedDuration = SignedDuration::from_mins(5);

/// The R10 table "When the Task is created", for both timings.
///
/// One addition keeps late events from changing what was already written: the opening event
/// (`dialing`/`ringing`) carries the call's `predictive` and `click_to_call` markers, so a
/// Task that is due waits for it; an ended call stops waiting [`OPENING_EVENT_GRACE`] after
/// its end (`now` is the service's clock), so a lost opening event never loses the call.
///
/// Then the logging policy (R12) has its say: a call on the never-log list is skipped as
/// soon as its numbers are known; a due call is skipped when its kind (or, too short, its
/// missed kind) is not logged; and with a minimum talk time an answered call waits for its
/// end, which alone tells its talk time.
pub fn creation_due(call: &Call, settings: &Settings, now: Timestamp) -> CreationDue {
    let due = opening_checked_due(call, settings, now);
    let policy = &settings.policy;
    let region = settings.region();
    match due {
        CreationDue::Never(reason) => CreationDue::Never(reason),
        _ if policy.never_logged(call, region) => {
            CreationDue::Never(NeverReason::Skipped(SkipReason::NeverLogList))
        }
        CreationDue::Wait => CreationDue::Wait,
        CreationDue::Now => {
            let Some(kind) = call.kind() else {
                return CreationDue::Wait;
            };
            if policy.needs_talk_time(kind) && call.end().is_none() {
                return CreationDue::Wait;
            }
            match policy.decide(call, kind, region) {
                Logging::Skip(reason) => CreationDue::Never(NeverReason::Skipped(reason)),
                Logging::Log { .. } => CreationDue::Now,
            }
        }
    }
}

/// The R10 table, and the wait for the opening event.
fn opening_checked_due(call: &Call, settings: &Settings, now: Timestamp) -> CreationDue {
    match table_creation_due(call, settings) {
        CreationDue::Now if !call.has_opening_event() => {
            let waited_enough = call
                .end()
                .and_then(|end| end.at.checked_add(OPENING_EVENT_GRACE).ok())
                .is_some_and(|deadline| now >= deadline);
            if waited_enough {
                CreationDue::Now
            } else {
                CreationDue::Wait
            }
        }
        due => due,
    }
}

fn table_creation_due(call: &Call, settings: &Settings) -> CreationDue {
    let ended = call.end().is_some();
    let at_end = if ended {
        CreationDue::Now
    } else {
        CreationDue::Wait
    };
    let Some(kind) = call.kind() else {
        return CreationDue::Wait;
    };
    match (kind, settings.timing) {
        (CallKind::Extension, _) => CreationDue::Never(NeverReason::ExtensionCall),
        (CallKind::Voicemail, Timing::CallStart) => {
            CreationDue::Never(NeverReason::VoicemailAtCallStart)
        }
        (CallKind::Outgoing, Timing::CallStart) if call.predictive().is_some() => {
            CreationDue::Never(NeverReason::PredictiveTalkAtCallStart)
        }
        (CallKind::MissedOutgoing | CallKind::MissedIncoming | CallKind::Voicemail, _) => at_end,
        (CallKind::Outgoing | CallKind::Incoming | CallKind::Transfer(_), Timing::CallStart) => {
            if call.was_answered() {
                CreationDue::Now
            } else {
                CreationDue::Wait
            }
        }
        (CallKind::Outgoing | CallKind::Incoming | CallKind::Transfer(_), Timing::CallEnd) => {
            at_end
        }
    }
}

/// What callsync last wrote to Salesforce for a call. The service stores it beside the call
/// and passes it back; [`WrittenTask::after_write`] gives the next value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WrittenTask {
    /// No Task yet.
    #[default]
    NotCreated,
    /// The Task exists.
    Created {
        /// Its Id.
        task_id: SalesforceId,
        /// Every owned field value sent so far (the create, then each update over it).
        fields: TaskFields,
        /// Whether a write after the voice analysis arrived has been made (R6: the analysis
        /// always updates the memo field once).
        #[serde(default)]
        analysis_written: bool,
    },
}

impl WrittenTask {
    /// The record after `sent` was written successfully for `call` (`task_id` from the create's
    /// answer, or the known one for an update).
    pub fn after_write(
        &self,
        task_id: SalesforceId,
        sent: &TaskFields,
        call: &Call,
    ) -> WrittenTask {
        let mut fields = match self {
            WrittenTask::NotCreated => TaskFields::new(),
            WrittenTask::Created { fields, .. } => fields.clone(),
        };
        fields.merge(sent);
        WrittenTask::Created {
            task_id,
            fields,
            analysis_written: call.analysis().is_some(),
        }
    }

    /// The Task Id, once created.
    pub fn task_id(&self) -> Option<&SalesforceId> {
        match self {
            WrittenTask::NotCreated => None,
            WrittenTask::Created { task_id, .. } => Some(task_id),
        }
    }
}

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", content = "fields", rename_all = "snake_case")]
pub enum Action {
    /// Nothing yet: the moment of creation has not come.
    Wait,
    /// This call is never synced.
    Never(NeverReason),
    /// Create the Task with these fields (updates that came first are merged in, R6).
    Create(TaskFields),
    /// Update the Task with these owned fields, which changed since the last write (R6).
    Update(TaskFields),
    /// The Task already holds everything.
    UpToDate,
}

/// Decides the next write for a call (R6, R10).
///
/// - No Task yet: the R10 table decides; a create carries every field known so far, so
///   updates that arrived first are merged into it.
/// - A Task exists: the updatable owned fields (not [`crate::task::CREATE_ONLY_FIELDS`]) that
///   differ from what was last written; an absent field and `null` count as equal. When the
///   voice analysis has arrived since the last write, the mapped memo field is sent even if
///   unchanged (R6: analysis always updates the memo field).
pub fn next_action(
    call: &Call,
    settings: &Settings,
    written: &WrittenTask,
    context: &TaskContext,
    now: Timestamp,
) -> Action {
    match written {
        WrittenTask::NotCreated => match creation_due(call, settings, now) {
            CreationDue::Wait => Action::Wait,
            CreationDue::Never(reason) => Action::Never(reason),
            CreationDue::Now => match task_fields(call, settings, context, now) {
                Some(fields) => Action::Create(fields.without_nulls()),
                None => Action::Wait,
            },
        },
        WrittenTask::Created {
            fields: previous,
            analysis_written,
            ..
        } => {
            if call.kind() == Some(CallKind::Extension) {
                return Action::Never(NeverReason::ExtensionCall);
            }
            let Some(desired) = task_fields(call, settings, context, now) else {
                return Action::UpToDate;
            };
            let null = serde_json::Value::Null;
            let mut changed: TaskFields = desired
                .updatable()
                .iter()
                .filter(|(name, value)| previous.get(name).unwrap_or(&null) != *value)
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            if !analysis_written
                && call.analysis().is_some()
                && let Some(memo_field) = &settings.custom_fields.memo
                && let Some(value) = desired.get(memo_field).filter(|value| !value.is_null())
            {
                changed.insert(memo_field.clone(), value.clone());
            }
            if changed.is_empty() {
                Action::UpToDate
            } else {
                Action::Update(changed)
            }
        }
    }
}
