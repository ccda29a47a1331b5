//! Builders for calls as the phone system would post them.

use callsync_core::call::Call;
use callsync_core::event::Event;
use callsync_core::settings::{Settings, Timing};
use callsync_core::sync::{Action, WrittenTask, next_action};
use callsync_core::task::{TaskContext, TaskFields};
use jiff::Timestamp;
use serde_json::{Value, json};

/// The moment of the first event: 2024-01-31 09:30:00 in Tokyo.
pub const START: &str = "2024-01-31T00:30:00Z";

/// The kinds of call the spec's tables name, as event scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Outgoing,
    Incoming,
    InternalTransfer,
    ExternalTransfer,
    AutoForward,
    Voicemail,
    MissedOutgoing,
    MissedIncoming,
    AutoForwardNobodyAnswered,
    PredictiveNoAnswer,
    PredictiveNoAgent,
    PredictiveAgentTalked,
    Extension,
}

fn at(seconds: i64) -> String {
    let start: Timestamp = START.parse().unwrap();
    start
        .checked_add(jiff::SignedDuration::from_secs(seconds))
        .unwrap()
        .to_string()
}

/// One event as JSON, parsed through the public edge.
pub fn event(id: &str, seconds: i64, direction: &str, user: Option<&str>, extra: Value) -> Event {
    let mut value = json!({
        "id": id, "org": "acme", "call_id": "call-42", "occurred_at": at(seconds),
        "direction": direction, "user_number": "050-1111-2222", "customer_number": "03-1234-5678",
    });
    if let Some(user) = user {
        value["user"] = json!(user);
    }
    for (key, field) in extra.as_object().unwrap() {
        value[key] = field.clone();
    }
    Event::from_value(value).unwrap()
}

/// The events of a scenario up to its end, in time order (no memo, no analysis).
pub fn scenario(kind: Scenario) -> Vec<Event> {
    let user = Some("u-1");
    let ended = |talk: u32, outcome: &str| json!({"type": "ended", "talk_seconds": talk, "outcome": outcome});
    let transfer =
        |kind: &str| json!({"type": "transferred", "kind": kind, "destination": "090-1111-2222"});
    match kind {
        Scenario::Outgoing => vec![
            event("e1", 0, "outbound", user, json!({"type": "dialing"})),
            event("e2", 5, "outbound", user, json!({"type": "answered"})),
            event("e3", 65, "outbound", user, ended(60, "answered")),
        ],
        Scenario::Incoming => vec![
            event("e1", 0, "inbound", user, json!({"type": "ringing"})),
            event("e2", 5, "inbound", user, json!({"type": "answered"})),
            event("e3", 65, "inbound", user, ended(60, "answered")),
        ],
        Scenario::InternalTransfer | Scenario::ExternalTransfer => vec![
            event("e1", 0, "inbound", user, json!({"type": "ringing"})),
            event("e2", 5, "inbound", user, json!({"type": "answered"})),
            event(
                "e3",
                20,
                "inbound",
                user,
                transfer(if kind == Scenario::InternalTransfer {
                    "internal"
                } else {
                    "external"
                }),
            ),
            event("e4", 65, "inbound", user, ended(60, "answered")),
        ],
        Scenario::AutoForward => vec![
            event("e1", 0, "inbound", user, json!({"type": "ringing"})),
            event("e2", 2, "inbound", user, transfer("auto_forward")),
            event("e3", 5, "inbound", user, json!({"type": "answered"})),
            event("e4", 65, "inbound", user, ended(60, "answered")),
        ],
        Scenario::Voicemail => vec![
            event("e1", 0, "inbound", None, json!({"type": "ringing"})),
            event("e2", 40, "inbound", None, ended(0, "voicemail")),
        ],
        Scenario::MissedOutgoing => vec![
            event("e1", 0, "outbound", user, json!({"type": "dialing"})),
            event("e2", 30, "outbound", user, ended(0, "no_answer")),
        ],
        Scenario::MissedIncoming => vec![
            event("e1", 0, "inbound", None, json!({"type": "ringing"})),
            event("e2", 30, "inbound", None, ended(0, "no_answer")),
        ],
        Scenario::AutoForwardNobodyAnswered => vec![
            event("e1", 0, "inbound", None, json!({"type": "ringing"})),
            event("e2", 2, "inbound", None, transfer("auto_forward")),
            event("e3", 30, "inbound", None, ended(0, "no_answer")),
        ],
        Scenario::PredictiveNoAnswer => vec![
            event(
                "e1",
                0,
                "outbound",
                None,
                json!({"type": "dialing", "predictive": {"campaign": "spring"}}),
            ),
            event(
                "e2",
                30,
                "outbound",
                None,
                json!({"type": "ended", "talk_seconds": 0, "outcome": "no_answer"}),
            ),
        ],
        Scenario::PredictiveNoAgent => vec![
            event(
                "e1",
                0,
                "outbound",
                None,
                json!({"type": "dialing", "predictive": {"campaign": "spring"}}),
            ),
            event("e2", 5, "outbound", None, json!({"type": "answered"})),
            event("e3", 8, "outbound", None, ended(0, "answered")),
        ],
        Scenario::PredictiveAgentTalked => vec![
            event(
                "e1",
                0,
                "outbound",
                None,
                json!({"type": "dialing", "predictive": {"campaign": "spring"}}),
            ),
            event("e2", 5, "outbound", user, json!({"type": "answered"})),
            event("e3", 65, "outbound", user, ended(60, "answered")),
        ],
        Scenario::Extension => vec![
            event(
                "e1",
                0,
                "extension",
                user,
                json!({"type": "dialing", "customer_number": "201"}),
            ),
            event("e2", 5, "extension", user, json!({"type": "answered"})),
            event("e3", 65, "extension", user, ended(60, "answered")),
        ],
    }
}

/// A memo saved `seconds` after the start.
pub fn memo(id: &str, seconds: i64, values: &[&str], note: Option<&str>) -> Event {
    event(
        id,
        seconds,
        "outbound",
        Some("u-1"),
        json!({"type": "memo_saved", "values": values, "note": note}),
    )
}

/// The analysis, `seconds` after the start.
pub fn analysis(id: &str, seconds: i64) -> Event {
    event(
        id,
        seconds,
        "outbound",
        Some("u-1"),
        json!({"type": "analysis_completed", "speech_recognition": "もしもし、山田です。", "summary": "見積もりの依頼"}),
    )
}

pub fn settings(timing: Timing) -> Settings {
    Settings {
        timing,
        ..Settings::default()
    }
}

pub fn now() -> Timestamp {
    START.parse().unwrap()
}

/// Drives the service's loop: feeds events one at a time and, after each, does what
/// `next_action` says. Returns the fields of every write (create first) and the final state.
pub fn drive(events: &[Event], settings: &Settings) -> (Vec<Action>, WrittenTask) {
    let context = TaskContext::default();
    let task_id = callsync_core::ids::SalesforceId::parse("00T000000000001").unwrap();
    let mut written = WrittenTask::NotCreated;
    let mut writes = Vec::new();
    let mut call: Option<Call> = None;
    for event in events {
        match &mut call {
            None => call = Some(Call::fold(std::slice::from_ref(event)).unwrap()),
            Some(call) => {
                call.apply(event.clone()).unwrap();
            }
        }
        let call = call.as_ref().unwrap();
        let action = next_action(call, settings, &written, &context, now());
        if let Action::Create(fields) | Action::Update(fields) = &action {
            written = written.after_write(task_id.clone(), fields, call);
            writes.push(action);
        }
    }
    (writes, written)
}

/// The fields of the final Task after driving `events`.
pub fn final_fields(written: &WrittenTask) -> TaskFields {
    match written {
        WrittenTask::NotCreated => TaskFields::new(),
        WrittenTask::Created { fields, .. } => fields.clone(),
    }
}
