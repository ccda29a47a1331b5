//! Call events as the phone system posts them (R10), decoded with serde and checked at the edge.
//!
//! Wire format (JSON): the envelope fields and the body's fields side by side, the body
//! chosen by `"type"`:
//!
//! ```json
//! {"id": "ev-1", "org": "acme", "call_id": "c-42", "user": "u-7",
//!  "occurred_at": "2024-01-31T00:30:00Z", "direction": "outbound",
//!  "user_number": "050-1234-5678", "customer_number": "03-1234-5678",
//!  "click_to_call": {"record_id": "003000000000001AAA"},
//!  "type": "ended", "talk_seconds": 42, "outcome": "answered"}
//! ```
//!
//! Unknown fields are ignored (the phone system may add some); an unknown `type`, a missing
//! field or an invalid value is refused with an [`EventError`] naming the field by its path
//! (`click_to_call.record_id`), found by `serde_path_to_error`.
//!
//! [`EventBody`] is the tagged enum of the event kinds; its [`EventType`] (derived from it)
//! is read first and chooses the variant whose fields are then decoded. Two steps rather than
//! serde's internally tagged decoding in one, because serde buffers an internally tagged or
//! flattened value before decoding it, and an error found in the buffer no longer knows its
//! field (a documented limitation of `serde_path_to_error`): "invalid type: string, expected
//! u32" would not say that it is `talk_seconds`.
//!
//! With the `openapi` feature the types also describe themselves as OpenAPI schemas
//! (`utoipa::ToSchema`), so the service's document is derived from the decoder's own types.

use jiff::{SignedDuration, Timestamp};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::ids::{CallId, EventId, OrgId, SalesforceId, UserId};

/// How far ahead of callsync's clock an event may be dated (R10, issue 12): clocks of phone
/// systems drift by seconds, not minutes, so an event further ahead is a wrong clock or a
/// wrong time zone, and would keep its call waiting for a moment that never comes.
pub const MAX_CLOCK_AHEAD: SignedDuration = SignedDuration::from_mins(5);

/// One call event (R10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "Value")]
pub struct Event {
    /// Unique per event: the same id twice is one event.
    pub id: EventId,
    /// The organisation the call belongs to; must be the API key's.
    pub org: OrgId,
    /// The call's sequence id; becomes the Task's `CallObject`.
    pub call_id: CallId,
    /// The callsync user who handled the call; `None` for a missed call offered to a group or
    /// a predictive call no agent took (R7: the organisation's default user writes the Task).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserId>,
    /// When it happened, by the phone system's clock (RFC 3339 with an offset); events are
    /// ordered by it (R10). At most [`MAX_CLOCK_AHEAD`] ahead of callsync's clock.
    pub occurred_at: Timestamp,
    /// Outbound, inbound or extension (internal) call.
    pub direction: Direction,
    /// The callsync user's own number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_number: Option<String>,
    /// The far end: the callee of an outbound call, the caller of an inbound one (R3). `None`
    /// when the caller withheld their number; required on the opening `dialing` event of an
    /// outbound call that is not a click-to-call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_number: Option<String>,
    /// Present when the call was dialled from a Salesforce record (R3.1). Like `predictive`,
    /// it describes the whole call: send it at least on the opening `dialing`/`ringing`
    /// event, which the Task waits for ([`crate::sync::creation_due`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub click_to_call: Option<ClickToCall>,
    /// Present when an auto-dialler placed the call (R8); at least on the opening event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictive: Option<PredictiveMarker>,
    /// What happened.
    #[serde(flatten)]
    pub body: EventBody,
}

/// Which way the call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The user called a customer.
    Outbound,
    /// A customer called in.
    Inbound,
    /// An internal call between extensions; never synced (R2).
    Extension,
}

/// The Salesforce record a click-to-call was dialled from (R3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClickToCall {
    /// The record's Id (15 or 18 characters).
    pub record_id: SalesforceId,
}

/// Marks a call placed by the predictive dialler (R8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PredictiveMarker {
    /// The dialler campaign, for the record; empty when not given.
    #[serde(default, deserialize_with = "blank_or_null_as_empty")]
    #[cfg_attr(feature = "openapi", schema(nullable))]
    pub campaign: String,
}

/// How a call was handed on (R2 transfer kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    /// 内線転送: to another extension.
    Internal,
    /// 外線転送: to an outside number.
    External,
    /// 自動転送: forwarded automatically, before anyone answered.
    AutoForward,
}

/// How a call ended (R10 `ended`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EndOutcome {
    /// Someone talked.
    Answered,
    /// Nobody answered.
    NoAnswer,
    /// The other side was busy.
    Busy,
    /// The caller left a message in callsync's voicemail.
    Voicemail,
    /// The call was refused.
    Rejected,
}

/// What an event says happened; the JSON `"type"` field chooses the variant, and the
/// variant's fields sit beside the envelope's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::EnumDiscriminants)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
#[strum_discriminants(
    name(EventType),
    derive(
        Hash,
        Serialize,
        Deserialize,
        strum::IntoStaticStr,
        strum::VariantArray
    ),
    serde(rename_all = "snake_case"),
    strum(serialize_all = "snake_case")
)]
pub enum EventBody {
    /// The user placed the call. Brings "dial started at".
    Dialing,
    /// The call is offered to the user. Brings "dial started at".
    Ringing,
    /// The customer and the user are talking. Brings "call started at".
    Answered,
    /// The call was handed on.
    Transferred(Transferred),
    /// The call is over. Brings "call ended at".
    Ended(Ended),
    /// A memo was saved, from the phone or later from call history; the latest one wins.
    MemoSaved(MemoSaved),
    /// Voice analysis finished.
    AnalysisCompleted(AnalysisCompleted),
}

/// The fields of a `transferred` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transferred {
    /// Internal, external or automatic forward.
    #[serde(deserialize_with = "trimmed")]
    pub kind: TransferKind,
    /// Where it went: an extension or a phone number.
    #[serde(deserialize_with = "destination")]
    pub destination: String,
}

/// The fields of an `ended` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ended {
    /// Seconds of conversation (0 when nobody talked).
    pub talk_seconds: u32,
    /// How it ended.
    #[serde(deserialize_with = "trimmed")]
    pub outcome: EndOutcome,
}

/// The fields of a `memo_saved` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemoSaved {
    /// Memo picklist values (a multi-select picklist in Salesforce, R5.4): each non-empty and
    /// without `;`.
    #[serde(deserialize_with = "memo_values")]
    pub values: Vec<String>,
    /// Free text.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "blank_as_none"
    )]
    pub note: Option<String>,
}

/// The fields of an `analysis_completed` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalysisCompleted {
    /// The transcript (may be empty).
    pub speech_recognition: String,
    /// Its summary (may be empty).
    pub summary: String,
}

impl EventBody {
    /// The `"type"` name of this body.
    pub fn type_name(&self) -> &'static str {
        EventType::from(self).as_str()
    }
}

impl EventType {
    /// Every event type this version understands, in the order of [`EventBody`].
    pub const ALL: &'static [EventType] = <EventType as strum::VariantArray>::VARIANTS;

    /// The `"type"` name, as in the JSON.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Why an event was refused: the field and the reason, for the phone-platform engineer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event field `{field}` {reason}")]
pub struct EventError {
    /// The JSON field at fault (`customer_number`, `type`, `click_to_call.record_id`...).
    pub field: String,
    /// What is wrong with it, in plain words.
    pub reason: String,
}

impl EventError {
    fn new(field: &str, reason: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    #[cfg(test)]
    fn missing(field: &str) -> Self {
        Self::new(field, "is missing")
    }
}

/// The envelope of an event and its `type`: everything but the body's own fields, which
/// [`Event::from_value`] decodes once `type` has chosen them.
#[derive(Deserialize)]
struct Envelope {
    id: EventId,
    org: OrgId,
    call_id: CallId,
    #[serde(default, deserialize_with = "blank_as_none")]
    user: Option<UserId>,
    #[serde(deserialize_with = "rfc3339")]
    occurred_at: Timestamp,
    #[serde(deserialize_with = "trimmed")]
    direction: Direction,
    #[serde(default, deserialize_with = "blank_as_none")]
    user_number: Option<String>,
    #[serde(default, deserialize_with = "customer_number")]
    customer_number: Option<String>,
    #[serde(default)]
    click_to_call: Option<ClickToCall>,
    #[serde(default)]
    predictive: Option<PredictiveMarker>,
    #[serde(rename = "type", deserialize_with = "trimmed")]
    event_type: EventType,
}

impl Event {
    /// Parses and checks one event from JSON.
    pub fn from_json(text: &str) -> Result<Self, EventError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|error| EventError::new("(body)", format!("is not JSON: {error}")))?;
        Self::from_value(value)
    }

    /// Parses and checks one event from a JSON value.
    pub fn from_value(value: Value) -> Result<Self, EventError> {
        if !value.is_object() {
            return Err(EventError::new("(body)", "must be a JSON object"));
        }
        let envelope: Envelope = located(&value)?;
        let body = match envelope.event_type {
            EventType::Dialing => EventBody::Dialing,
            EventType::Ringing => EventBody::Ringing,
            EventType::Answered => EventBody::Answered,
            EventType::Transferred => EventBody::Transferred(located(&value)?),
            EventType::Ended => EventBody::Ended(located(&value)?),
            EventType::MemoSaved => EventBody::MemoSaved(located(&value)?),
            EventType::AnalysisCompleted => EventBody::AnalysisCompleted(located(&value)?),
        };
        // An outbound call is placed to a number; without it no record can be found (R3).
        if envelope.customer_number.is_none()
            && envelope.direction == Direction::Outbound
            && matches!(body, EventBody::Dialing)
            && envelope.click_to_call.is_none()
        {
            return Err(EventError::new(
                "customer_number",
                "is missing: an outbound call is dialled to a number",
            ));
        }
        Ok(Event {
            id: envelope.id,
            org: envelope.org,
            call_id: envelope.call_id,
            user: envelope.user,
            occurred_at: envelope.occurred_at,
            direction: envelope.direction,
            user_number: envelope.user_number,
            customer_number: envelope.customer_number,
            click_to_call: envelope.click_to_call,
            predictive: envelope.predictive,
            body,
        })
    }

    /// Refuses an event dated more than [`MAX_CLOCK_AHEAD`] after `received_at`, the moment
    /// callsync received it (R10, issue 12). Late events — a backfill days old — are
    /// accepted: only the future is impossible. Time is passed in; the rules have no clock.
    pub fn check_not_ahead_of(&self, received_at: Timestamp) -> Result<(), EventError> {
        let ahead = self.occurred_at.duration_since(received_at);
        if ahead <= MAX_CLOCK_AHEAD {
            return Ok(());
        }
        Err(EventError::new(
            "occurred_at",
            format!(
                "of event {:?} is {}, {:#} ahead of callsync's clock ({received_at}); events \
                 dated more than {:#} in the future are refused: check the sender's clock and \
                 time zone",
                self.id.as_str(),
                self.occurred_at,
                // Whole seconds: the sub-second part says nothing to a person.
                SignedDuration::from_secs(ahead.as_secs()),
                MAX_CLOCK_AHEAD,
            ),
        ))
    }
}

impl TryFrom<Value> for Event {
    type Error = EventError;
    fn try_from(value: Value) -> Result<Self, EventError> {
        Event::from_value(value)
    }
}

/// Decodes `T` from `value`, locating any error at its field's path.
fn located<T: DeserializeOwned>(value: &Value) -> Result<T, EventError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let reason = error.into_inner().to_string();
        // serde reports a missing field at the object that lacks it, in the wording of
        // `serde::de::Error::missing_field` ("missing field `name`"), so the name is read
        // back from there to point at the field itself.
        if let Some(name) = reason
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            let field = if path == "." {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
            return EventError::new(&field, "is missing");
        }
        let field = if path == "." { "(body)" } else { &path };
        EventError::new(field, reason)
    })
}

/// A name from a list (`direction`, `type`, `kind`, `outcome`), read without the spaces
/// around it: the reader before serde trimmed every text field, and events it accepted are
/// stored and read again with this one.
fn trimmed<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let text = String::deserialize(deserializer)?;
    T::deserialize(serde::de::value::StrDeserializer::<D::Error>::new(
        text.trim(),
    ))
}

/// A text field where blank means absent (and `null` too); the rest is trimmed and parsed.
fn blank_as_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<String>,
    T::Error: std::fmt::Display,
{
    match Option::<String>::deserialize(deserializer)? {
        Some(text) if !text.trim().is_empty() => T::try_from(text.trim().to_owned())
            .map(Some)
            .map_err(D::Error::custom),
        _ => Ok(None),
    }
}

/// A text field where blank and `null` mean empty.
fn blank_or_null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(blank_as_none::<D, String>(deserializer)?.unwrap_or_default())
}

/// The customer number: absent when withheld, otherwise something with digits (R3).
fn customer_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let number: Option<String> = blank_as_none(deserializer)?;
    if let Some(number) = &number
        && !number.chars().any(char::is_numeric)
    {
        return Err(D::Error::custom(format!(
            "`{number}` has no digits; omit the field when the caller withheld the number"
        )));
    }
    Ok(number)
}

/// A transfer destination: an extension or a number, so at least one letter or digit.
fn destination<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let destination = String::deserialize(deserializer)?.trim().to_owned();
    if destination.chars().any(char::is_alphanumeric) {
        Ok(destination)
    } else {
        Err(D::Error::custom("must name an extension or a number"))
    }
}

/// Memo values: Salesforce stores a multi-select picklist as values joined by `;` (R5.4), so
/// a value containing `;` would turn into two values there, and an empty one into none.
fn memo_values<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let values = Vec::<String>::deserialize(deserializer)?;
    if let Some(bad) = values
        .iter()
        .find(|value| value.contains(';') || value.trim().is_empty())
    {
        return Err(D::Error::custom(format!(
            "contains `{bad}`: memo values must be non-empty and must not contain `;`"
        )));
    }
    Ok(values)
}

/// A time in RFC 3339 with an offset (`2024-01-31T09:30:00+09:00`, `...Z`).
fn rfc3339<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.trim()
        .parse::<Timestamp>()
        .map_err(|error| D::Error::custom(format!("is not an RFC 3339 time with offset: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base(body: Value) -> Value {
        let mut event = json!({
            "id": "ev-1", "org": "acme", "call_id": "c-1", "user": "u-1",
            "occurred_at": "2024-01-31T00:30:00Z", "direction": "outbound",
            "customer_number": "03-1234-5678"
        });
        if let (Value::Object(target), Value::Object(extra)) = (&mut event, body) {
            target.extend(extra);
        }
        event
    }

    #[test]
    fn r10_every_event_type_round_trips_through_json() {
        for body in [
            json!({"type": "dialing"}),
            json!({"type": "ringing"}),
            json!({"type": "answered"}),
            json!({"type": "transferred", "kind": "auto_forward", "destination": "0312345679"}),
            json!({"type": "ended", "talk_seconds": 42, "outcome": "no_answer"}),
            json!({"type": "memo_saved", "values": ["見込みあり", "再架電"], "note": "折り返し希望"}),
            json!({"type": "analysis_completed", "speech_recognition": "もしもし", "summary": "挨拶"}),
        ] {
            let event = Event::from_value(base(body)).unwrap();
            let again: Event =
                serde_json::from_value(serde_json::to_value(&event).unwrap()).unwrap();
            assert_eq!(again, event);
        }
    }

    #[test]
    fn r10_unknown_fields_are_tolerated() {
        let event =
            Event::from_value(base(json!({"type": "answered", "future_field": {"x": 1}}))).unwrap();
        assert_eq!(event.body, EventBody::Answered);
    }

    #[test]
    fn r10_an_unknown_event_type_is_refused_by_name() {
        let error = Event::from_value(base(json!({"type": "hold"}))).unwrap_err();
        assert_eq!(error.field, "type");
        assert!(error.reason.contains("`hold`"), "{error}");
    }

    #[test]
    fn r10_an_ended_event_without_talk_time_names_the_field() {
        let error =
            Event::from_value(base(json!({"type": "ended", "outcome": "answered"}))).unwrap_err();
        assert_eq!(error, EventError::missing("talk_seconds"));
    }

    #[test]
    fn r10_an_outbound_dial_without_a_customer_number_names_the_field() {
        let mut event = base(json!({"type": "dialing"}));
        event.as_object_mut().unwrap().remove("customer_number");
        assert_eq!(
            Event::from_value(event).unwrap_err().field,
            "customer_number"
        );
    }

    #[test]
    fn r3_7_an_inbound_call_from_a_withheld_number_is_accepted() {
        let mut event = base(json!({"type": "ringing", "direction": "inbound"}));
        event.as_object_mut().unwrap().remove("customer_number");
        assert_eq!(Event::from_value(event).unwrap().customer_number, None);
    }

    #[test]
    fn r10_a_bad_click_to_call_record_id_names_the_nested_field() {
        let error = Event::from_value(base(
            json!({"type": "dialing", "click_to_call": {"record_id": "003"}}),
        ))
        .unwrap_err();
        assert_eq!(error.field, "click_to_call.record_id");
    }

    #[test]
    fn r5_4_memo_values_containing_a_semicolon_are_refused() {
        let error =
            Event::from_value(base(json!({"type": "memo_saved", "values": ["a;b"]}))).unwrap_err();
        assert_eq!(error.field, "values");
    }

    #[test]
    fn r10_a_call_id_longer_than_call_object_allows_is_refused() {
        let error = Event::from_value(base(
            json!({"type": "answered", "call_id": "x".repeat(256)}),
        ))
        .unwrap_err();
        assert_eq!(error.field, "call_id");
    }

    #[test]
    fn r10_a_time_without_offset_is_refused() {
        let error = Event::from_value(base(
            json!({"type": "answered", "occurred_at": "2024-01-31 09:30"}),
        ))
        .unwrap_err();
        assert_eq!(error.field, "occurred_at");
    }

    #[test]
    fn r10_a_wrong_value_inside_a_body_names_its_field() {
        let error = Event::from_value(base(
            json!({"type": "ended", "talk_seconds": "long", "outcome": "answered"}),
        ))
        .unwrap_err();
        assert_eq!(error.field, "talk_seconds");
        assert!(error.reason.contains("expected u32"), "{error}");

        let error = Event::from_value(base(
            json!({"type": "transferred", "kind": "sideways", "destination": "1"}),
        ))
        .unwrap_err();
        assert_eq!(error.field, "kind");
        assert!(error.reason.contains("`sideways`"), "{error}");
    }

    #[test]
    fn r10_a_missing_nested_field_is_named_by_its_path() {
        let error =
            Event::from_value(base(json!({"type": "dialing", "click_to_call": {}}))).unwrap_err();
        assert_eq!(error, EventError::missing("click_to_call.record_id"));
    }

    #[test]
    fn r10_blank_optional_text_means_absent() {
        let event = Event::from_value(base(
            json!({"type": "answered", "user": "  ", "user_number": "", "predictive": {"campaign": null}}),
        ))
        .unwrap();
        assert_eq!(event.user, None);
        assert_eq!(event.user_number, None);
        assert_eq!(event.predictive.unwrap().campaign, "");
    }

    #[test]
    fn r10_every_event_type_has_a_body_variant_and_back() {
        for event_type in EventType::ALL {
            let name = event_type.as_str();
            let event = Event::from_value(base(json!({
                "type": name, "kind": "internal", "destination": "1", "talk_seconds": 0,
                "outcome": "answered", "values": [], "speech_recognition": "", "summary": "",
            })))
            .unwrap();
            assert_eq!(event.body.type_name(), name);
        }
    }

    fn received() -> Timestamp {
        "2024-01-31T00:30:00Z".parse().unwrap()
    }

    #[test]
    fn r10_an_event_a_few_minutes_ahead_is_accepted_as_clock_drift() {
        let event = Event::from_value(base(
            json!({"type": "answered", "occurred_at": "2024-01-31T00:35:00Z"}),
        ))
        .unwrap();
        assert_eq!(event.check_not_ahead_of(received()), Ok(()));
    }

    #[test]
    fn r10_an_event_dated_further_in_the_future_is_refused_naming_it() {
        let event = Event::from_value(base(
            json!({"type": "answered", "occurred_at": "2024-01-31T01:30:01+00:00"}),
        ))
        .unwrap();
        let error = event.check_not_ahead_of(received()).unwrap_err();
        assert_eq!(error.field, "occurred_at");
        assert!(error.reason.contains("\"ev-1\""), "{error}");
        assert!(error.reason.contains("1h 1s"), "{error}");
    }

    #[test]
    fn r10_a_late_event_days_old_is_accepted_as_a_backfill() {
        let event = Event::from_value(base(
            json!({"type": "answered", "occurred_at": "2024-01-01T00:00:00Z"}),
        ))
        .unwrap();
        assert_eq!(event.check_not_ahead_of(received()), Ok(()));
    }

    #[test]
    fn r10_names_from_a_list_are_read_without_surrounding_spaces_as_before() {
        let event = Event::from_value(base(json!({
            "type": " ended ", "direction": "inbound ", "talk_seconds": 3, "outcome": " busy"
        })))
        .unwrap();
        assert_eq!(event.direction, Direction::Inbound);
        assert_eq!(
            event.body,
            EventBody::Ended(Ended {
                talk_seconds: 3,
                outcome: EndOutcome::Busy
            })
        );
    }
}
