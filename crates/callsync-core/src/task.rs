//! The Task fields written for a call (R5, R5.1–R5.4): a pure function of the call, its
//! match, its owner and the settings.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::call::{Call, CallKind};
use crate::event::TransferKind;
use crate::ids::SalesforceId;
use crate::matching::Match;
use crate::policy::Logging;
use crate::settings::{Settings, Timing};
use crate::template::{Placeholder, render};

/// Task API names callsync writes.
pub mod field {
    /// R5.1.
    pub const SUBJECT: &str = "Subject";
    /// R5 status from settings.
    pub const STATUS: &str = "Status";
    /// R5.2 comment.
    pub const DESCRIPTION: &str = "Description";
    /// Contact, Lead, or a Person Account's person contact.
    pub const WHO_ID: &str = "WhoId";
    /// Account.
    pub const WHAT_ID: &str = "WhatId";
    /// R7.
    pub const OWNER_ID: &str = "OwnerId";
    /// Always `Call`.
    pub const TASK_SUBTYPE: &str = "TaskSubtype";
    /// Creation date in the organisation's time zone.
    pub const ACTIVITY_DATE: &str = "ActivityDate";
    /// Talk time.
    pub const CALL_DURATION: &str = "CallDurationInSeconds";
    /// `Inbound`, `Outbound` or empty.
    pub const CALL_TYPE: &str = "CallType";
    /// The call's sequence id.
    pub const CALL_OBJECT: &str = "CallObject";
}

/// Salesforce's maximum lengths (R5): longer values are shortened here, not refused there.
pub const SUBJECT_MAX: usize = 255;
/// Maximum length of `Description`.
pub const DESCRIPTION_MAX: usize = 32_000;
/// Maximum length of `CallObject`.
pub const CALL_OBJECT_MAX: usize = 255;

/// Fields set when the Task is created and never sent again: the link, owner and date are
/// decided once, and a user who re-links, re-assigns or completes the Task keeps that
/// (design decision 3, "owned fields only").
pub const CREATE_ONLY_FIELDS: [&str; 7] = [
    field::STATUS,
    field::WHO_ID,
    field::WHAT_ID,
    field::OWNER_ID,
    field::TASK_SUBTYPE,
    field::ACTIVITY_DATE,
    field::CALL_OBJECT,
];

/// Task field values by API name, in a stable order, ready to send as a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskFields(BTreeMap<String, Value>);

impl TaskFields {
    /// No fields.
    pub fn new() -> Self {
        TaskFields(BTreeMap::new())
    }

    /// Sets a field.
    pub fn insert(&mut self, name: impl Into<String>, value: Value) {
        self.0.insert(name.into(), value);
    }

    /// A field's value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Fields in API-name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter()
    }

    /// The API names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The fields as a JSON object, for the request body.
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        )
    }

    /// Without `null` values: a create leaves empty fields unset instead of sending nulls.
    pub fn without_nulls(&self) -> TaskFields {
        TaskFields(
            self.0
                .iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// Without the fields a create alone sets.
    pub fn updatable(&self) -> TaskFields {
        TaskFields(
            self.0
                .iter()
                .filter(|(name, _)| !CREATE_ONLY_FIELDS.contains(&name.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// Adds `other`'s fields over these (what was written, after an update).
    pub fn merge(&mut self, other: &TaskFields) {
        for (name, value) in other.iter() {
            self.0.insert(name.clone(), value.clone());
        }
    }
}

impl FromIterator<(String, Value)> for TaskFields {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        TaskFields(iter.into_iter().collect())
    }
}

/// What the service knows beyond the call and the settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TaskContext {
    /// The linked record (R3), `None` for an unlinked Task (R3.7).
    pub record: Option<Match>,
    /// `OwnerId` from [`crate::owner::choose_owner`]; `None` leaves Salesforce's default.
    pub owner: Option<SalesforceId>,
    /// Display name of the callsync user, for `{USER_NAME}`.
    pub user_name: Option<String>,
    /// Link to the call in callsync, for `{CALL_URL}`.
    pub call_url: Option<String>,
}

/// `CallType` (R5): outgoing and missed outgoing → `Outbound`; incoming, missed incoming,
/// voicemail and auto-forward → `Inbound`; internal and external transfers → empty.
pub fn call_type(kind: CallKind) -> Option<&'static str> {
    match kind {
        CallKind::Outgoing | CallKind::MissedOutgoing => Some("Outbound"),
        CallKind::Incoming | CallKind::MissedIncoming | CallKind::Voicemail => Some("Inbound"),
        CallKind::Transfer(TransferKind::AutoForward) => Some("Inbound"),
        CallKind::Transfer(TransferKind::Internal | TransferKind::External) => None,
        CallKind::Extension => None,
    }
}

/// Salesforce's DateTime text, in UTC with milliseconds: `2024-01-31T09:30:00.000+0000`.
pub fn salesforce_datetime(at: Timestamp) -> String {
    let utc = at.to_zoned(TimeZone::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        utc.year(),
        utc.month(),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        utc.millisecond()
    )
}

/// A date in the organisation's time zone, as Salesforce's Date text `YYYY-MM-DD`.
pub fn salesforce_date(at: Timestamp, zone: &TimeZone) -> String {
    let local = at.to_zoned(zone.clone());
    format!(
        "{:04}-{:02}-{:02}",
        local.year(),
        local.month(),
        local.day()
    )
}

/// A time for a template, in the organisation's time zone: `2024-01-31 18:30:00`.
fn local_time(at: Timestamp, zone: &TimeZone) -> String {
    let local = at.to_zoned(zone.clone());
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second()
    )
}

/// Talk time as `m:ss`, or `h:mm:ss` from one hour.
fn duration_text(seconds: u32) -> String {
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{minutes}:{seconds:02}")
    }
}

/// Shortens `text` to at most `max` UTF-16 code units (how Salesforce counts a field's
/// length), cutting between characters and marking the cut with `…`.
pub fn shorten(text: &str, max: usize) -> String {
    if text.encode_utf16().count() <= max {
        return text.to_owned();
    }
    let budget = max.saturating_sub(1);
    let mut used = 0;
    let mut output = String::new();
    for character in text.chars() {
        used += character.len_utf16();
        if used > budget {
            break;
        }
        output.push(character);
    }
    output.push('…');
    output
}

/// The values of R5.3's placeholders for a call, as far as they are known.
pub fn placeholder_values(
    call: &Call,
    kind: CallKind,
    settings: &Settings,
    context: &TaskContext,
) -> BTreeMap<Placeholder, String> {
    let zone = settings.zone();
    let mut values = BTreeMap::new();
    values.insert(
        Placeholder::CallKind,
        settings.language.kind_label(kind).to_owned(),
    );
    let optional = [
        (
            Placeholder::CustomerNumber,
            call.customer_number().map(str::to_owned),
        ),
        (Placeholder::UserName, context.user_name.clone()),
        (
            Placeholder::DialStartedAt,
            call.dial_started_at().map(|at| local_time(at, &zone)),
        ),
        (
            Placeholder::CallStartedAt,
            call.call_started_at().map(|at| local_time(at, &zone)),
        ),
        (
            Placeholder::CallEndedAt,
            call.end().map(|end| local_time(end.at, &zone)),
        ),
        (
            Placeholder::Duration,
            call.end().map(|end| duration_text(end.talk_seconds)),
        ),
        (
            Placeholder::Memo,
            call.memo().map(|memo| {
                let mut text = memo.values.join(", ");
                if let Some(note) = memo.note {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(&note);
                }
                text
            }),
        ),
        (
            Placeholder::SpeechRecognitionSummary,
            call.analysis().map(|analysis| analysis.summary),
        ),
        (
            Placeholder::SpeechRecognition,
            call.analysis().map(|analysis| analysis.speech_recognition),
        ),
        (Placeholder::CallUrl, context.call_url.clone()),
    ];
    for (placeholder, value) in optional {
        if let Some(value) = value {
            values.insert(placeholder, value);
        }
    }
    values
}

/// Every field callsync would write for the call now (R5), `null` where a value is empty;
/// `None` while the kind is undetermined or for an extension call.
///
/// `now` is the moment of the create; it gives `ActivityDate` (R5: the creation date in the
/// organisation's time zone). Updates never send `ActivityDate`.
pub fn task_fields(
    call: &Call,
    settings: &Settings,
    context: &TaskContext,
    now: Timestamp,
) -> Option<TaskFields> {
    let kind = call.kind().filter(|kind| *kind != CallKind::Extension)?;
    // R12: a too-short call may be written as its missed kind, and a kind as open.
    let (kind, open) = match settings.policy.decide(call, kind, settings.region()) {
        Logging::Log { kind, open } => (kind, open),
        // Only reached for a Task that exists (the policy is decided before the create),
        // which is kept up to date as the kind it was created as would be.
        Logging::Skip(_) => (settings.policy.logged_kind(call, kind), false),
    };
    let status = if open {
        &settings.policy.open_status
    } else {
        &settings.task_status
    };
    let values = placeholder_values(call, kind, settings, context);
    let subject = render(&settings.subject_template(kind), &values);
    // R5.2: with timing call_start a missed call's comment is its label; otherwise the template.
    let description = match (settings.timing, kind) {
        (Timing::CallStart, CallKind::MissedOutgoing | CallKind::MissedIncoming) => {
            settings.language.kind_label(kind).to_owned()
        }
        _ => render(&settings.comment_template, &values)
            .trim_end()
            .to_owned(),
    };
    let text = |value: Option<String>| value.map(Value::String).unwrap_or(Value::Null);
    let id = |value: Option<&SalesforceId>| text(value.map(|id| id.to_18().to_owned()));

    let mut fields = TaskFields::new();
    fields.insert(
        field::SUBJECT,
        Value::String(shorten(subject.trim(), SUBJECT_MAX)),
    );
    fields.insert(field::STATUS, Value::String(status.clone()));
    fields.insert(
        field::DESCRIPTION,
        text(Some(shorten(&description, DESCRIPTION_MAX)).filter(|d| !d.is_empty())),
    );
    fields.insert(
        field::WHO_ID,
        id(context
            .record
            .as_ref()
            .and_then(|found| found.who_id.as_ref())),
    );
    fields.insert(
        field::WHAT_ID,
        id(context
            .record
            .as_ref()
            .and_then(|found| found.what_id.as_ref())),
    );
    fields.insert(field::OWNER_ID, id(context.owner.as_ref()));
    fields.insert(field::TASK_SUBTYPE, Value::String("Call".to_owned()));
    fields.insert(
        field::ACTIVITY_DATE,
        Value::String(salesforce_date(now, &settings.zone())),
    );
    // R5: 0 until the call ends. With timing call_start the real talk time arrives by an
    // update when the call ends (R6, Beyond).
    fields.insert(
        field::CALL_DURATION,
        Value::from(call.end().map(|end| end.talk_seconds).unwrap_or(0)),
    );
    fields.insert(field::CALL_TYPE, text(call_type(kind).map(str::to_owned)));
    fields.insert(
        field::CALL_OBJECT,
        Value::String(shorten(call.call_id().as_str(), CALL_OBJECT_MAX)),
    );

    let mapping = &settings.custom_fields;
    let datetime = |at: Option<Timestamp>| text(at.map(salesforce_datetime));
    for (name, value) in [
        (&mapping.dial_started_at, datetime(call.dial_started_at())),
        (&mapping.call_started_at, datetime(call.call_started_at())),
        (
            &mapping.call_ended_at,
            datetime(call.end().map(|end| end.at)),
        ),
        (
            &mapping.memo,
            text(
                call.memo()
                    .map(|memo| memo.values.join(";"))
                    .filter(|joined| !joined.is_empty()),
            ),
        ),
        (
            &mapping.call_id,
            Value::String(shorten(call.call_id().as_str(), CALL_OBJECT_MAX)),
        ),
    ] {
        if let Some(name) = name {
            fields.insert(name.clone(), value);
        }
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r5_4_datetimes_use_salesforce_format_in_utc() {
        let at: Timestamp = "2024-01-31T18:30:00.250+09:00".parse().unwrap();
        assert_eq!(salesforce_datetime(at), "2024-01-31T09:30:00.250+0000");
    }

    #[test]
    fn r5_activity_date_is_the_date_in_the_organisations_time_zone() {
        let at: Timestamp = "2024-01-31T16:00:00Z".parse().unwrap();
        let tokyo = Settings::default().zone();
        assert_eq!(salesforce_date(at, &tokyo), "2024-02-01");
        assert_eq!(salesforce_date(at, &TimeZone::UTC), "2024-01-31");
    }

    #[test]
    fn r5_long_values_are_shortened_on_character_boundaries() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "ab…");
        let japanese = "発".repeat(300);
        let short = shorten(&japanese, SUBJECT_MAX);
        assert_eq!(short.chars().count(), 255);
        // An emoji counts twice in UTF-16: the cut never splits it.
        let emoji = "😀".repeat(200);
        assert!(shorten(&emoji, SUBJECT_MAX).encode_utf16().count() <= SUBJECT_MAX);
    }

    #[test]
    fn r5_3_duration_is_minutes_and_seconds() {
        assert_eq!(duration_text(0), "0:00");
        assert_eq!(duration_text(65), "1:05");
        assert_eq!(duration_text(3723), "1:02:03");
    }
}
