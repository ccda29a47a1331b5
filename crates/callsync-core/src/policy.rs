//! The logging policy (R12): per call kind, whether and how a call is logged; the minimum
//! talk time; the never-log list. The defaults log every kind R2 syncs, with no minimum and
//! an empty list, so they change nothing.
//!
//! The policy decides when the Task would be created ([`crate::sync::creation_due`]). A
//! Task once written is kept up to date whatever the policy says later, so a running call
//! whose kind changes after its create (outgoing → transfer at `call_start`) keeps its Task.

use serde::{Deserialize, Serialize};

use crate::call::{Call, CallKind};
use crate::event::Direction;
use crate::phone::{PhoneNumber, PhoneRegion};
use crate::settings::SettingsProblem;

/// What the policy does with the calls of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LogChoice {
    /// Write the Task as R5 says.
    #[default]
    Log,
    /// Write the Task with `Status` = [`LoggingPolicy::open_status`], for a follow-up.
    LogAsOpen,
    /// Write nothing; call history shows `skipped: policy`.
    DontLog,
}

/// The call kinds the policy names (R12). Transfers of every kind share one choice, and a
/// predictive call nobody talked on (R8, a missed outgoing call) has its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Outgoing (predictive calls an agent talked on included, R8).
    Outgoing,
    /// Incoming.
    Incoming,
    /// Internal, external and auto-forward transfers.
    Transfer,
    /// Voicemail.
    Voicemail,
    /// Missed outgoing, not predictive.
    MissedOutgoing,
    /// Missed incoming (auto-forwarded calls nobody answered included).
    MissedIncoming,
    /// A predictive call the customer or every agent did not answer (R8).
    PredictiveNoAnswer,
}

impl PolicyKind {
    /// The policy kind of a call logged as `kind`; `None` for an extension call (R2: never
    /// synced, whatever the policy).
    pub fn of(call: &Call, kind: CallKind) -> Option<PolicyKind> {
        Some(match kind {
            CallKind::Outgoing => PolicyKind::Outgoing,
            CallKind::Incoming => PolicyKind::Incoming,
            CallKind::Transfer(_) => PolicyKind::Transfer,
            CallKind::Voicemail => PolicyKind::Voicemail,
            CallKind::MissedOutgoing if call.predictive().is_some() => {
                PolicyKind::PredictiveNoAnswer
            }
            CallKind::MissedOutgoing => PolicyKind::MissedOutgoing,
            CallKind::MissedIncoming => PolicyKind::MissedIncoming,
            CallKind::Extension => return None,
        })
    }
}

/// The choice per kind. Every kind is logged unless the organisation says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
#[allow(missing_docs)] // One field per R12 kind, named after it.
pub struct KindChoices {
    pub outgoing: LogChoice,
    pub incoming: LogChoice,
    pub transfer: LogChoice,
    pub voicemail: LogChoice,
    pub missed_outgoing: LogChoice,
    pub missed_incoming: LogChoice,
    pub predictive_no_answer: LogChoice,
}

impl KindChoices {
    /// The choice for a kind.
    pub fn get(&self, kind: PolicyKind) -> LogChoice {
        match kind {
            PolicyKind::Outgoing => self.outgoing,
            PolicyKind::Incoming => self.incoming,
            PolicyKind::Transfer => self.transfer,
            PolicyKind::Voicemail => self.voicemail,
            PolicyKind::MissedOutgoing => self.missed_outgoing,
            PolicyKind::MissedIncoming => self.missed_incoming,
            PolicyKind::PredictiveNoAnswer => self.predictive_no_answer,
        }
    }

    fn any(&self, choice: LogChoice) -> bool {
        [
            self.outgoing,
            self.incoming,
            self.transfer,
            self.voicemail,
            self.missed_outgoing,
            self.missed_incoming,
            self.predictive_no_answer,
        ]
        .contains(&choice)
    }
}

/// What happens to an answered call shorter than the minimum talk time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TooShortChoice {
    /// Logged as the missed kind of its direction (then that kind's choice applies).
    #[default]
    LogAsMissed,
    /// Not logged; call history shows `skipped: too short`.
    DontLog,
}

/// Why the policy wrote nothing for a call; shown in call history as [`SkipReason::label`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The kind's choice is "don't log".
    Policy,
    /// A number or extension of the call is on the never-log list.
    NeverLogList,
    /// Shorter than the minimum talk time, with "don't log".
    TooShort,
}

impl SkipReason {
    /// The words call history shows.
    pub fn label(&self) -> &'static str {
        match self {
            SkipReason::Policy => "skipped: policy",
            SkipReason::NeverLogList => "skipped: never-log list",
            SkipReason::TooShort => "skipped: too short",
        }
    }

    /// The stable name stored and shown by the API (`policy`, `never_log_list`, `too_short`).
    pub fn as_str(&self) -> &'static str {
        match self {
            SkipReason::Policy => "policy",
            SkipReason::NeverLogList => "never_log_list",
            SkipReason::TooShort => "too_short",
        }
    }
}

/// What the policy decided for a call that R2/R10 would log now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logging {
    /// Log it as `kind` (the call's kind, or the missed kind of a too-short call), with the
    /// open status when `open`.
    Log {
        /// The kind the Task is written as (R5.1 subject, R5 `CallType`).
        kind: CallKind,
        /// `Status` = the configured open status.
        open: bool,
    },
    /// Write nothing.
    Skip(SkipReason),
}

/// The logging policy of an organisation (R12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct LoggingPolicy {
    /// Per call kind: log, log as open, or don't log.
    pub kinds: KindChoices,
    /// The Task `Status` of a call logged as open; must be a value of the Status picklist
    /// when a kind uses it.
    pub open_status: String,
    /// Answered calls with less talk time than this (seconds) are "too short"; 0 turns the
    /// rule off. With timing `call_start` a minimum makes an answered call's Task wait for
    /// its end, since only the end tells its talk time.
    pub min_talk_seconds: u32,
    /// What a too-short call becomes.
    pub too_short: TooShortChoice,
    /// Customer numbers whose calls are never written, in any format (compared in normal
    /// form, R3.6).
    pub never_log_numbers: Vec<String>,
    /// Extensions whose calls are never written: compared digit for digit with the call's
    /// own line (the user's number) and its transfer destination.
    pub never_log_extensions: Vec<String>,
}

impl Default for LoggingPolicy {
    fn default() -> Self {
        LoggingPolicy {
            kinds: KindChoices::default(),
            // Salesforce's default open Task status.
            open_status: "Not Started".to_owned(),
            min_talk_seconds: 0,
            too_short: TooShortChoice::LogAsMissed,
            never_log_numbers: Vec::new(),
            never_log_extensions: Vec::new(),
        }
    }
}

/// The longest minimum talk time accepted: a day. More is a typing mistake.
pub const MAX_MIN_TALK_SECONDS: u32 = 86_400;

/// The longest extension accepted.
const MAX_EXTENSION_LEN: usize = 15;

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

impl LoggingPolicy {
    /// Whether the call is on the never-log list: its customer number equals a listed number
    /// in normal form, or its user number or transfer destination is a listed extension.
    pub fn never_logged(&self, call: &Call, region: PhoneRegion) -> bool {
        if self.never_log_numbers.is_empty() && self.never_log_extensions.is_empty() {
            return false;
        }
        if let Some(customer) = call
            .customer_number()
            .and_then(|number| PhoneNumber::parse(number, region).ok())
            && self.never_log_numbers.iter().any(|listed| {
                PhoneNumber::parse(listed, region).is_ok_and(|listed| listed.same_number(&customer))
            })
        {
            return true;
        }
        if self.never_log_extensions.is_empty() {
            return false;
        }
        let lines = [
            call.user_number().map(digits),
            call.transfer()
                .map(|transfer| digits(&transfer.destination)),
        ];
        self.never_log_extensions.iter().any(|extension| {
            let extension = digits(extension);
            !extension.is_empty() && lines.iter().flatten().any(|line| *line == extension)
        })
    }

    /// Whether an answered call's Task must wait for its end to know its talk time.
    pub fn needs_talk_time(&self, kind: CallKind) -> bool {
        self.min_talk_seconds > 0 && is_answered_kind(kind)
    }

    /// The kind the call is written as: a too-short answered call (with "log as missed")
    /// becomes the missed kind of its direction.
    pub fn logged_kind(&self, call: &Call, kind: CallKind) -> CallKind {
        if self.too_short(call, kind) {
            missed_kind(call)
        } else {
            kind
        }
    }

    fn too_short(&self, call: &Call, kind: CallKind) -> bool {
        self.needs_talk_time(kind)
            && call
                .end()
                .is_some_and(|end| end.talk_seconds < self.min_talk_seconds)
    }

    /// The decision for a call R2/R10 would log now as `kind` (R12).
    pub fn decide(&self, call: &Call, kind: CallKind, region: PhoneRegion) -> Logging {
        if self.never_logged(call, region) {
            return Logging::Skip(SkipReason::NeverLogList);
        }
        let kind = if self.too_short(call, kind) {
            if self.too_short == TooShortChoice::DontLog {
                return Logging::Skip(SkipReason::TooShort);
            }
            missed_kind(call)
        } else {
            kind
        };
        let Some(policy_kind) = PolicyKind::of(call, kind) else {
            return Logging::Log { kind, open: false };
        };
        match self.kinds.get(policy_kind) {
            LogChoice::Log => Logging::Log { kind, open: false },
            LogChoice::LogAsOpen => Logging::Log { kind, open: true },
            LogChoice::DontLog => Logging::Skip(SkipReason::Policy),
        }
    }

    /// Whether any kind is logged as open (then the open status must be valid).
    pub fn uses_open_status(&self) -> bool {
        self.kinds.any(LogChoice::LogAsOpen)
    }

    /// Checks what can be checked without Salesforce (R11), adding to `problems`.
    pub(crate) fn validate(&self, problems: &mut Vec<SettingsProblem>) {
        if self.uses_open_status() && self.open_status.trim().is_empty() {
            problems.push(SettingsProblem::new(
                "policy.open_status",
                "a kind is logged as open: name a value of the Task Status picklist",
            ));
        }
        if self.min_talk_seconds > MAX_MIN_TALK_SECONDS {
            problems.push(SettingsProblem::new(
                "policy.min_talk_seconds",
                format!(
                    "{} seconds is more than a day ({MAX_MIN_TALK_SECONDS}); use 0 to log every answered call",
                    self.min_talk_seconds
                ),
            ));
        }
        for (index, number) in self.never_log_numbers.iter().enumerate() {
            if digits(number).is_empty() {
                problems.push(SettingsProblem::new(
                    &format!("policy.never_log_numbers[{index}]"),
                    format!("`{number}` is not a phone number: it has no digits"),
                ));
            }
        }
        for (index, extension) in self.never_log_extensions.iter().enumerate() {
            let trimmed = extension.trim();
            if trimmed.is_empty()
                || trimmed.len() > MAX_EXTENSION_LEN
                || !trimmed.chars().all(|c| c.is_ascii_digit())
            {
                problems.push(SettingsProblem::new(
                    &format!("policy.never_log_extensions[{index}]"),
                    format!(
                        "`{extension}` is not an extension: use 1 to {MAX_EXTENSION_LEN} digits"
                    ),
                ));
            }
        }
    }
}

/// Outgoing, incoming and transfers: the kinds of an answered call.
fn is_answered_kind(kind: CallKind) -> bool {
    matches!(
        kind,
        CallKind::Outgoing | CallKind::Incoming | CallKind::Transfer(_)
    )
}

/// The missed kind of the call's direction.
fn missed_kind(call: &Call) -> CallKind {
    match call.direction() {
        Direction::Inbound => CallKind::MissedIncoming,
        _ => CallKind::MissedOutgoing,
    }
}
