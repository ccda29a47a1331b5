//! Call events as the phone system posts them (R10), parsed and checked at the edge.
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
//! field or an invalid value is refused with an [`EventError`] naming the field.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{CallId, EventId, IdError, OrgId, SalesforceId, UserId};

/// One call event (R10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value")]
pub struct Event {
    /// Unique per event: the same id twice is one event.
    pub id: EventId,
    /// The organisation the call belongs to.
    pub org: OrgId,
    /// The call's sequence id; becomes the Task's `CallObject`.
    pub call_id: CallId,
    /// The callsync user who handled the call; `None` for a missed call offered to a group or
    /// a predictive call no agent took (R7: the organisation's default user writes the Task).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserId>,
    /// When it happened, by the phone system's clock; events are ordered by it (R10).
    pub occurred_at: Timestamp,
    /// Outbound, inbound or extension (internal) call.
    pub direction: Direction,
    /// The callsync user's own number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_number: Option<String>,
    /// The far end: the callee of an outbound call, the caller of an inbound one (R3). `None`
    /// when the caller withheld their number.
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
pub struct ClickToCall {
    /// The record's Id.
    pub record_id: SalesforceId,
}

/// Marks a call placed by the predictive dialler (R8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictiveMarker {
    /// The dialler campaign, for the record.
    pub campaign: String,
}

/// How a call was handed on (R2 transfer kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

/// What an event says happened; the JSON `"type"` field chooses the variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    /// The user placed the call. Brings "dial started at".
    Dialing,
    /// The call is offered to the user. Brings "dial started at".
    Ringing,
    /// The customer and the user are talking. Brings "call started at".
    Answered,
    /// The call was handed on.
    Transferred {
        /// Internal, external or automatic forward.
        kind: TransferKind,
        /// Where it went: an extension or a phone number.
        destination: String,
    },
    /// The call is over. Brings "call ended at".
    Ended {
        /// Seconds of conversation (0 when nobody talked).
        talk_seconds: u32,
        /// How it ended.
        outcome: EndOutcome,
    },
    /// A memo was saved, from the phone or later from call history; the latest one wins.
    MemoSaved {
        /// Memo picklist values (a multi-select picklist in Salesforce, R5.4).
        values: Vec<String>,
        /// Free text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Voice analysis finished.
    AnalysisCompleted {
        /// The transcript.
        speech_recognition: String,
        /// Its summary.
        summary: String,
    },
}

impl EventBody {
    /// The `"type"` name of this body.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventBody::Dialing => "dialing",
            EventBody::Ringing => "ringing",
            EventBody::Answered => "answered",
            EventBody::Transferred { .. } => "transferred",
            EventBody::Ended { .. } => "ended",
            EventBody::MemoSaved { .. } => "memo_saved",
            EventBody::AnalysisCompleted { .. } => "analysis_completed",
        }
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

    fn missing(field: &str) -> Self {
        Self::new(field, "is missing")
    }
}

/// The event types this version understands, for the error on an unknown one.
const KNOWN_TYPES: &str =
    "dialing, ringing, answered, transferred, ended, memo_saved, analysis_completed";

impl Event {
    /// Parses and checks one event from JSON.
    pub fn from_json(text: &str) -> Result<Self, EventError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|error| EventError::new("(body)", format!("is not JSON: {error}")))?;
        Self::from_value(value)
    }

    /// Parses and checks one event from a JSON value.
    pub fn from_value(value: Value) -> Result<Self, EventError> {
        let Value::Object(object) = value else {
            return Err(EventError::new("(body)", "must be a JSON object"));
        };
        let reader = Reader(&object);
        let direction = reader.enumeration("direction", &["outbound", "inbound", "extension"])?;
        let direction = match direction.as_str() {
            "outbound" => Direction::Outbound,
            "inbound" => Direction::Inbound,
            _ => Direction::Extension,
        };
        let type_name = reader.required_string("type")?;
        let body = match type_name.as_str() {
            "dialing" => EventBody::Dialing,
            "ringing" => EventBody::Ringing,
            "answered" => EventBody::Answered,
            "transferred" => {
                let kind = match reader
                    .enumeration("kind", &["internal", "external", "auto_forward"])?
                    .as_str()
                {
                    "internal" => TransferKind::Internal,
                    "external" => TransferKind::External,
                    _ => TransferKind::AutoForward,
                };
                let destination = reader.required_string("destination")?;
                if !destination.chars().any(|c| c.is_alphanumeric()) {
                    return Err(EventError::new(
                        "destination",
                        "must name an extension or a number",
                    ));
                }
                EventBody::Transferred { kind, destination }
            }
            "ended" => {
                let talk_seconds = match object.get("talk_seconds") {
                    None | Some(Value::Null) => return Err(EventError::missing("talk_seconds")),
                    Some(value) => value
                        .as_u64()
                        .and_then(|seconds| u32::try_from(seconds).ok())
                        .ok_or_else(|| {
                            EventError::new(
                                "talk_seconds",
                                "must be a whole number of seconds, 0 or more",
                            )
                        })?,
                };
                let outcome = match reader
                    .enumeration(
                        "outcome",
                        &["answered", "no_answer", "busy", "voicemail", "rejected"],
                    )?
                    .as_str()
                {
                    "answered" => EndOutcome::Answered,
                    "no_answer" => EndOutcome::NoAnswer,
                    "busy" => EndOutcome::Busy,
                    "voicemail" => EndOutcome::Voicemail,
                    _ => EndOutcome::Rejected,
                };
                EventBody::Ended {
                    talk_seconds,
                    outcome,
                }
            }
            "memo_saved" => {
                let values = match object.get("values") {
                    None | Some(Value::Null) => return Err(EventError::missing("values")),
                    Some(Value::Array(items)) => items
                        .iter()
                        .map(|item| item.as_str().map(str::to_owned))
                        .collect::<Option<Vec<String>>>()
                        .ok_or_else(|| EventError::new("values", "must be a list of strings"))?,
                    Some(_) => return Err(EventError::new("values", "must be a list of strings")),
                };
                // Salesforce stores a multi-select picklist as values joined by `;` (R5.4), so a
                // value containing `;` would turn into two values there.
                if let Some(bad) = values
                    .iter()
                    .find(|value| value.contains(';') || value.trim().is_empty())
                {
                    return Err(EventError::new(
                        "values",
                        format!(
                            "contains `{bad}`: memo values must be non-empty and must not contain `;`"
                        ),
                    ));
                }
                EventBody::MemoSaved {
                    values,
                    note: reader.optional_string("note")?,
                }
            }
            "analysis_completed" => EventBody::AnalysisCompleted {
                speech_recognition: reader.required_string_allow_empty("speech_recognition")?,
                summary: reader.required_string_allow_empty("summary")?,
            },
            other => {
                return Err(EventError::new(
                    "type",
                    format!(
                        "`{other}` is not an event type this callsync understands ({KNOWN_TYPES})"
                    ),
                ));
            }
        };

        let customer_number = reader.optional_string("customer_number")?;
        if let Some(number) = &customer_number
            && !number.chars().any(|c| c.is_numeric())
        {
            return Err(EventError::new(
                "customer_number",
                format!(
                    "`{number}` has no digits; omit the field when the caller withheld the number"
                ),
            ));
        }
        // An outbound call is placed to a number; without it no record can be found (R3).
        if customer_number.is_none()
            && direction == Direction::Outbound
            && matches!(body, EventBody::Dialing)
            && object.get("click_to_call").is_none_or(Value::is_null)
        {
            return Err(EventError::new(
                "customer_number",
                "is missing: an outbound call is dialled to a number",
            ));
        }

        let click_to_call = match object.get("click_to_call") {
            None | Some(Value::Null) => None,
            Some(Value::Object(inner)) => {
                let record_id = Reader(inner)
                    .required_string("record_id")
                    .map_err(|error| EventError {
                        field: format!("click_to_call.{}", error.field),
                        reason: error.reason,
                    })?;
                let record_id = SalesforceId::parse(&record_id).map_err(|error| {
                    EventError::new("click_to_call.record_id", error.to_string())
                })?;
                Some(ClickToCall { record_id })
            }
            Some(_) => {
                return Err(EventError::new(
                    "click_to_call",
                    "must be an object with `record_id`",
                ));
            }
        };
        let predictive = match object.get("predictive") {
            None | Some(Value::Null) => None,
            Some(Value::Object(inner)) => Some(PredictiveMarker {
                campaign: Reader(inner)
                    .optional_string("campaign")?
                    .unwrap_or_default(),
            }),
            Some(_) => {
                return Err(EventError::new(
                    "predictive",
                    "must be an object with `campaign`",
                ));
            }
        };

        Ok(Event {
            id: reader.id("id", EventId::parse)?,
            org: reader.id("org", OrgId::parse)?,
            call_id: reader.id("call_id", CallId::parse)?,
            user: match reader.optional_string("user")? {
                None => None,
                Some(user) => Some(
                    UserId::parse(&user)
                        .map_err(|error| EventError::new("user", error.to_string()))?,
                ),
            },
            occurred_at: reader
                .required_string("occurred_at")?
                .parse::<Timestamp>()
                .map_err(|error| {
                    EventError::new(
                        "occurred_at",
                        format!("is not an RFC 3339 time with offset: {error}"),
                    )
                })?,
            direction,
            user_number: reader.optional_string("user_number")?,
            customer_number,
            click_to_call,
            predictive,
            body,
        })
    }
}

impl TryFrom<Value> for Event {
    type Error = EventError;
    fn try_from(value: Value) -> Result<Self, EventError> {
        Event::from_value(value)
    }
}

/// Reads typed fields out of a JSON object, turning every problem into an [`EventError`].
struct Reader<'a>(&'a serde_json::Map<String, Value>);

impl Reader<'_> {
    fn optional_string(&self, field: &str) -> Result<Option<String>, EventError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.trim().to_owned())),
            Some(_) => Err(EventError::new(field, "must be a string")),
        }
    }

    fn required_string(&self, field: &str) -> Result<String, EventError> {
        self.optional_string(field)?
            .ok_or_else(|| EventError::missing(field))
    }

    fn required_string_allow_empty(&self, field: &str) -> Result<String, EventError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Err(EventError::missing(field)),
            Some(Value::String(text)) => Ok(text.clone()),
            Some(_) => Err(EventError::new(field, "must be a string")),
        }
    }

    fn enumeration(&self, field: &str, allowed: &[&str]) -> Result<String, EventError> {
        let value = self.required_string(field)?;
        if allowed.contains(&value.as_str()) {
            Ok(value)
        } else {
            Err(EventError::new(
                field,
                format!("`{value}` is not one of {}", allowed.join(", ")),
            ))
        }
    }

    fn id<T>(&self, field: &str, parse: fn(&str) -> Result<T, IdError>) -> Result<T, EventError> {
        let text = self.required_string(field)?;
        parse(&text).map_err(|error| EventError::new(field, error.to_string()))
    }
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
}
