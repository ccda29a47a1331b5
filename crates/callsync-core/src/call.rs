//! The call, folded from its events in any order (R10 "Ordering"), and its kind (R2, R8).
//!
//! A [`Call`] keeps the distinct events it has seen, ordered by their own time (ties broken by
//! event id), and derives every fact from that ordered set. So the same events, in whatever
//! order and however often they arrive, always give the same call.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::event::{
    AnalysisCompleted, ClickToCall, Direction, EndOutcome, Ended, Event, EventBody, MemoSaved,
    PredictiveMarker, TransferKind, Transferred,
};
use crate::ids::{CallId, EventId, OrgId, UserId};

/// The kind of a call (R2), derived from its events, never taken from a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// 発信: the user called and the customer answered.
    Outgoing,
    /// 着信: the customer called and the user answered.
    Incoming,
    /// 転送: the call was handed on (and, for an auto-forward, answered).
    Transfer(TransferKind),
    /// 留守番電話: the caller reached voicemail.
    Voicemail,
    /// 不在発信: the callee never answered (also predictive calls no agent talked on, R8).
    MissedOutgoing,
    /// 不在着信: nobody answered (auto-forwarded calls included).
    MissedIncoming,
    /// 内線: a call between extensions; never synced.
    Extension,
}

/// Why events could not be folded into one call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// A call needs at least one event.
    #[error("a call needs at least one event")]
    NoEvents,
    /// The event belongs to another call (or organisation).
    #[error(
        "event {event} belongs to call {found} of {found_org}, not {expected} of {expected_org}"
    )]
    OtherCall {
        /// The offending event.
        event: EventId,
        /// This call.
        expected: CallId,
        /// This call's organisation.
        expected_org: OrgId,
        /// The event's call.
        found: CallId,
        /// The event's organisation.
        found_org: OrgId,
    },
}

/// What [`Call::apply`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The event was new and is now part of the call.
    Added,
    /// An event with this id was already known; the call did not change.
    Duplicate,
}

/// How the call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEnd {
    /// When it ended.
    pub at: Timestamp,
    /// Seconds of conversation.
    pub talk_seconds: u32,
    /// How it ended.
    pub outcome: EndOutcome,
}

/// How the call was handed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Internal, external or auto-forward.
    pub kind: TransferKind,
    /// Extension or number it went to.
    pub destination: String,
}

/// The latest memo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memo {
    /// Memo picklist values.
    pub values: Vec<String>,
    /// Free text.
    pub note: Option<String>,
}

/// The latest voice analysis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analysis {
    /// The transcript.
    pub speech_recognition: String,
    /// Its summary.
    pub summary: String,
}

/// One call, folded from every event received so far.
///
/// Serialises as `{"events": [...]}`; deserialising folds them again, so a stored call can
/// never disagree with its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredCall", into = "StoredCall")]
pub struct Call {
    /// Distinct events, sorted by (occurred_at, id).
    events: Vec<Event>,
}

#[derive(Serialize, Deserialize)]
struct StoredCall {
    events: Vec<Event>,
}

impl TryFrom<StoredCall> for Call {
    type Error = CallError;
    fn try_from(stored: StoredCall) -> Result<Self, CallError> {
        Call::fold(&stored.events)
    }
}

impl From<Call> for StoredCall {
    fn from(call: Call) -> Self {
        StoredCall {
            events: call.events,
        }
    }
}

/// Sort key of an event: its own time, then its id (R10 "Ordering").
fn order_key(event: &Event) -> (Timestamp, &EventId) {
    (event.occurred_at, &event.id)
}

/// Which of two different events sharing one id to keep, independent of arrival order: the
/// smaller by time, then by JSON text. (The phone system should never do this; when it does,
/// the outcome must still not depend on the order the two arrived in.)
fn prefer(existing: &Event, incoming: &Event) -> bool {
    let existing_key = (
        existing.occurred_at,
        serde_json::to_string(existing).unwrap_or_default(),
    );
    let incoming_key = (
        incoming.occurred_at,
        serde_json::to_string(incoming).unwrap_or_default(),
    );
    incoming_key < existing_key
}

impl Call {
    /// Folds events, in any order and with duplicates, into one call.
    pub fn fold(events: &[Event]) -> Result<Call, CallError> {
        let (first, rest) = events.split_first().ok_or(CallError::NoEvents)?;
        let mut call = Call {
            events: vec![first.clone()],
        };
        for event in rest {
            call.apply(event.clone())?;
        }
        Ok(call)
    }

    /// Adds one event. A late event takes its place by time; a repeated id changes nothing.
    pub fn apply(&mut self, event: Event) -> Result<Applied, CallError> {
        let reference = &self.events[0];
        if event.call_id != reference.call_id || event.org != reference.org {
            return Err(CallError::OtherCall {
                event: event.id,
                expected: reference.call_id.clone(),
                expected_org: reference.org.clone(),
                found: event.call_id,
                found_org: event.org,
            });
        }
        if let Some(position) = self.events.iter().position(|known| known.id == event.id) {
            if self.events[position] != event && prefer(&self.events[position], &event) {
                self.events.remove(position);
                self.insert_sorted(event);
            }
            return Ok(Applied::Duplicate);
        }
        self.insert_sorted(event);
        Ok(Applied::Added)
    }

    fn insert_sorted(&mut self, event: Event) {
        let position = self
            .events
            .partition_point(|known| order_key(known) < order_key(&event));
        self.events.insert(position, event);
    }

    /// The distinct events, in time order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    fn first(&self) -> &Event {
        &self.events[0]
    }

    /// The organisation.
    pub fn org(&self) -> &OrgId {
        &self.first().org
    }

    /// The sequence id; the Task's `CallObject`.
    pub fn call_id(&self) -> &CallId {
        &self.first().call_id
    }

    /// The direction. Any event saying `extension` makes the call an extension call: it must
    /// never be synced, so doubt falls on the safe side.
    pub fn direction(&self) -> Direction {
        if self
            .events
            .iter()
            .any(|event| event.direction == Direction::Extension)
        {
            Direction::Extension
        } else {
            self.first().direction
        }
    }

    /// The callsync user who handled the call: whoever answered it, otherwise the last user
    /// named by a call-progress event (dialing, ringing, transferred, ended); `None` when
    /// nobody did (R7). Whoever saved a memo later did not handle the call.
    pub fn user(&self) -> Option<&UserId> {
        let answered_by = self
            .events
            .iter()
            .filter(|event| matches!(event.body, EventBody::Answered))
            .find_map(|event| event.user.as_ref());
        answered_by.or_else(|| {
            self.events
                .iter()
                .rev()
                .filter(|event| {
                    !matches!(
                        event.body,
                        EventBody::MemoSaved(_) | EventBody::AnalysisCompleted(_)
                    )
                })
                .find_map(|event| event.user.as_ref())
        })
    }

    /// The user's own number, as first reported.
    pub fn user_number(&self) -> Option<&str> {
        self.events
            .iter()
            .find_map(|event| event.user_number.as_deref())
    }

    /// The far end's number, as first reported (R3).
    pub fn customer_number(&self) -> Option<&str> {
        self.events
            .iter()
            .find_map(|event| event.customer_number.as_deref())
    }

    /// The record the call was dialled from (R3.1).
    pub fn click_to_call(&self) -> Option<&ClickToCall> {
        self.events
            .iter()
            .find_map(|event| event.click_to_call.as_ref())
    }

    /// The predictive-dialler marker (R8).
    pub fn predictive(&self) -> Option<&PredictiveMarker> {
        self.events
            .iter()
            .find_map(|event| event.predictive.as_ref())
    }

    /// When dialling or ringing began (R5.4 "dial started at").
    pub fn dial_started_at(&self) -> Option<Timestamp> {
        self.events
            .iter()
            .find(|event| matches!(event.body, EventBody::Dialing | EventBody::Ringing))
            .map(|event| event.occurred_at)
    }

    /// When the conversation began (R5.4 "call started at").
    pub fn call_started_at(&self) -> Option<Timestamp> {
        self.events
            .iter()
            .find(|event| matches!(event.body, EventBody::Answered))
            .map(|event| event.occurred_at)
    }

    /// How the call ended, once it has (the latest `ended` event).
    pub fn end(&self) -> Option<CallEnd> {
        self.events.iter().rev().find_map(|event| match event.body {
            EventBody::Ended(Ended {
                talk_seconds,
                outcome,
            }) => Some(CallEnd {
                at: event.occurred_at,
                talk_seconds,
                outcome,
            }),
            _ => None,
        })
    }

    /// The latest transfer.
    pub fn transfer(&self) -> Option<Transfer> {
        self.events
            .iter()
            .rev()
            .find_map(|event| match &event.body {
                EventBody::Transferred(Transferred { kind, destination }) => Some(Transfer {
                    kind: *kind,
                    destination: destination.clone(),
                }),
                _ => None,
            })
    }

    /// The latest memo: a memo changed later from call history replaces the first (R6).
    pub fn memo(&self) -> Option<Memo> {
        self.events
            .iter()
            .rev()
            .find_map(|event| match &event.body {
                EventBody::MemoSaved(MemoSaved { values, note }) => Some(Memo {
                    values: values.clone(),
                    note: note.clone(),
                }),
                _ => None,
            })
    }

    /// The latest voice analysis.
    pub fn analysis(&self) -> Option<Analysis> {
        self.events
            .iter()
            .rev()
            .find_map(|event| match &event.body {
                EventBody::AnalysisCompleted(AnalysisCompleted {
                    speech_recognition,
                    summary,
                }) => Some(Analysis {
                    speech_recognition: speech_recognition.clone(),
                    summary: summary.clone(),
                }),
                _ => None,
            })
    }

    /// Whether the call's opening event (`dialing` or `ringing`) has arrived. It carries what
    /// describes the whole call (`predictive`, `click_to_call`), so the Task waits for it.
    pub fn has_opening_event(&self) -> bool {
        self.events
            .iter()
            .any(|event| matches!(event.body, EventBody::Dialing | EventBody::Ringing))
    }

    /// Whether a person talked with the customer: an `answered` event, or an end whose outcome
    /// is `answered` (the `answered` event may still be on its way).
    pub fn was_answered(&self) -> bool {
        self.call_started_at().is_some()
            || self
                .end()
                .is_some_and(|end| end.outcome == EndOutcome::Answered)
    }

    /// Whether an agent talked on a predictive call (R8): an `answered` event, or an `ended`
    /// event with outcome `answered`, names the agent. A customer who answered while no agent
    /// was free does not count, whoever later saved a memo on the call.
    pub fn predictive_agent_talked(&self) -> bool {
        self.events.iter().any(|event| {
            event.user.is_some()
                && matches!(
                    event.body,
                    EventBody::Answered
                        | EventBody::Ended(Ended {
                            outcome: EndOutcome::Answered,
                            ..
                        })
                )
        })
    }

    /// The call kind (R2, R8), or `None` while the events so far do not decide it (say, only
    /// `dialing`: it may still become outgoing or missed outgoing).
    ///
    /// An answered call is outgoing or incoming until a `transferred` event makes it a transfer,
    /// so the kind of a running call can still change from outgoing/incoming to transfer.
    pub fn kind(&self) -> Option<CallKind> {
        let direction = self.direction();
        if direction == Direction::Extension {
            return Some(CallKind::Extension);
        }
        let ended = self.end();
        if self.predictive().is_some() {
            // R8: only a conversation with an agent is an outgoing call; the rest is missed.
            return if self.predictive_agent_talked() {
                Some(CallKind::Outgoing)
            } else if ended.is_some() {
                Some(CallKind::MissedOutgoing)
            } else {
                None
            };
        }
        let missed = match direction {
            Direction::Inbound => CallKind::MissedIncoming,
            _ => CallKind::MissedOutgoing,
        };
        if self.was_answered() {
            return Some(match (self.transfer(), direction) {
                (Some(transfer), _) => CallKind::Transfer(transfer.kind),
                (None, Direction::Inbound) => CallKind::Incoming,
                (None, _) => CallKind::Outgoing,
            });
        }
        let end = ended?;
        if direction == Direction::Inbound && end.outcome == EndOutcome::Voicemail {
            return Some(CallKind::Voicemail);
        }
        // Not answered: a forwarded call nobody took is a missed call too (R2).
        Some(missed)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ids::SalesforceId;

    /// Builds events of one call for tests; times are seconds after 2024-01-31T00:30:00Z.
    pub(crate) struct Script {
        pub direction: Direction,
        pub user: Option<&'static str>,
        pub predictive: bool,
        pub click_to_call: Option<&'static str>,
        next_id: u32,
    }

    impl Script {
        pub(crate) fn new(direction: Direction) -> Self {
            Script {
                direction,
                user: Some("u-1"),
                predictive: false,
                click_to_call: None,
                next_id: 0,
            }
        }

        pub(crate) fn event(&mut self, seconds: i64, body: EventBody) -> Event {
            self.next_id += 1;
            Event {
                id: EventId::parse(&format!("ev-{:03}", self.next_id)).unwrap(),
                org: OrgId::parse("acme").unwrap(),
                call_id: CallId::parse("call-1").unwrap(),
                user: self.user.map(|user| UserId::parse(user).unwrap()),
                occurred_at: Timestamp::from_second(1_706_661_000 + seconds).unwrap(),
                direction: self.direction,
                user_number: Some("050-1111-2222".to_owned()),
                customer_number: Some("03-1234-5678".to_owned()),
                click_to_call: self.click_to_call.map(|id| ClickToCall {
                    record_id: SalesforceId::parse(id).unwrap(),
                }),
                predictive: self.predictive.then(|| PredictiveMarker {
                    campaign: "spring".to_owned(),
                }),
                body,
            }
        }
    }

    pub(crate) fn ended(talk_seconds: u32, outcome: EndOutcome) -> EventBody {
        EventBody::Ended(Ended {
            talk_seconds,
            outcome,
        })
    }

    fn kind_of(events: &[Event]) -> Option<CallKind> {
        Call::fold(events).unwrap().kind()
    }

    #[test]
    fn r2_outgoing_answered_call_is_outgoing() {
        let mut s = Script::new(Direction::Outbound);
        let events = [
            s.event(0, EventBody::Dialing),
            s.event(5, EventBody::Answered),
            s.event(65, ended(60, EndOutcome::Answered)),
        ];
        assert_eq!(kind_of(&events), Some(CallKind::Outgoing));
        assert_eq!(kind_of(&events[..2]), Some(CallKind::Outgoing));
        assert_eq!(kind_of(&events[..1]), None);
    }

    #[test]
    fn r2_incoming_answered_call_is_incoming() {
        let mut s = Script::new(Direction::Inbound);
        let events = [
            s.event(0, EventBody::Ringing),
            s.event(5, EventBody::Answered),
            s.event(65, ended(60, EndOutcome::Answered)),
        ];
        assert_eq!(kind_of(&events), Some(CallKind::Incoming));
    }

    #[test]
    fn r2_transfer_kinds_are_transfers() {
        for kind in [
            TransferKind::Internal,
            TransferKind::External,
            TransferKind::AutoForward,
        ] {
            let mut s = Script::new(Direction::Inbound);
            let events = [
                s.event(0, EventBody::Ringing),
                s.event(
                    3,
                    EventBody::Transferred(Transferred {
                        kind,
                        destination: "0312345679".to_owned(),
                    }),
                ),
                s.event(5, EventBody::Answered),
                s.event(65, ended(60, EndOutcome::Answered)),
            ];
            assert_eq!(kind_of(&events), Some(CallKind::Transfer(kind)));
        }
    }

    #[test]
    fn r2_voicemail_is_voicemail() {
        let mut s = Script::new(Direction::Inbound);
        let events = [
            s.event(0, EventBody::Ringing),
            s.event(30, ended(0, EndOutcome::Voicemail)),
        ];
        assert_eq!(kind_of(&events), Some(CallKind::Voicemail));
    }

    #[test]
    fn r2_missed_outgoing_is_an_unanswered_outbound_call() {
        for outcome in [
            EndOutcome::NoAnswer,
            EndOutcome::Busy,
            EndOutcome::Rejected,
            EndOutcome::Voicemail,
        ] {
            let mut s = Script::new(Direction::Outbound);
            let events = [
                s.event(0, EventBody::Dialing),
                s.event(30, ended(0, outcome)),
            ];
            assert_eq!(
                kind_of(&events),
                Some(CallKind::MissedOutgoing),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn r2_missed_incoming_is_an_unanswered_inbound_call() {
        let mut s = Script::new(Direction::Inbound);
        s.user = None;
        let events = [
            s.event(0, EventBody::Ringing),
            s.event(30, ended(0, EndOutcome::NoAnswer)),
        ];
        assert_eq!(kind_of(&events), Some(CallKind::MissedIncoming));
    }

    #[test]
    fn r2_auto_forwarded_call_nobody_answered_is_missed_incoming() {
        let mut s = Script::new(Direction::Inbound);
        let events = [
            s.event(0, EventBody::Ringing),
            s.event(
                3,
                EventBody::Transferred(Transferred {
                    kind: TransferKind::AutoForward,
                    destination: "09011112222".to_owned(),
                }),
            ),
            s.event(30, ended(0, EndOutcome::NoAnswer)),
        ];
        assert_eq!(kind_of(&events), Some(CallKind::MissedIncoming));
    }

    #[test]
    fn r2_extension_calls_are_recognised_even_when_answered() {
        let mut s = Script::new(Direction::Extension);
        let events = [
            s.event(0, EventBody::Dialing),
            s.event(5, EventBody::Answered),
        ];
        assert_eq!(kind_of(&events), Some(CallKind::Extension));
    }

    #[test]
    fn r8_predictive_call_the_customer_did_not_answer_is_missed_outgoing() {
        let mut s = Script::new(Direction::Outbound);
        s.predictive = true;
        s.user = None;
        let events = [
            s.event(0, EventBody::Dialing),
            s.event(30, ended(0, EndOutcome::NoAnswer)),
        ];
        assert_eq!(kind_of(&events[..1]), None);
        assert_eq!(kind_of(&events), Some(CallKind::MissedOutgoing));
    }

    #[test]
    fn r8_predictive_call_answered_with_no_agent_is_missed_outgoing() {
        let mut s = Script::new(Direction::Outbound);
        s.predictive = true;
        s.user = None;
        let events = [
            s.event(0, EventBody::Dialing),
            s.event(5, EventBody::Answered),
            s.event(9, ended(0, EndOutcome::Answered)),
        ];
        assert_eq!(kind_of(&events), Some(CallKind::MissedOutgoing));
    }

    #[test]
    fn r8_predictive_call_an_agent_talked_on_is_outgoing() {
        let mut s = Script::new(Direction::Outbound);
        s.predictive = true;
        let events = [
            s.event(0, EventBody::Dialing),
            s.event(5, EventBody::Answered),
            s.event(65, ended(60, EndOutcome::Answered)),
        ];
        assert_eq!(kind_of(&events), Some(CallKind::Outgoing));
    }

    #[test]
    fn r10_late_and_repeated_events_give_the_same_call() {
        let mut s = Script::new(Direction::Outbound);
        let dial = s.event(0, EventBody::Dialing);
        let answer = s.event(5, EventBody::Answered);
        let end = s.event(65, ended(60, EndOutcome::Answered));
        let memo = s.event(
            70,
            EventBody::MemoSaved(MemoSaved {
                values: vec!["A".into()],
                note: None,
            }),
        );
        let in_order =
            Call::fold(&[dial.clone(), answer.clone(), end.clone(), memo.clone()]).unwrap();
        let shuffled =
            Call::fold(&[memo.clone(), end, memo, answer.clone(), dial, answer]).unwrap();
        assert_eq!(in_order, shuffled);
        assert_eq!(shuffled.events().len(), 4);
    }

    #[test]
    fn r10_the_latest_memo_wins_whatever_order_they_arrive_in() {
        let mut s = Script::new(Direction::Outbound);
        let first = s.event(
            70,
            EventBody::MemoSaved(MemoSaved {
                values: vec!["A".into()],
                note: None,
            }),
        );
        let later = s.event(
            900,
            EventBody::MemoSaved(MemoSaved {
                values: vec!["B".into()],
                note: Some("changed".into()),
            }),
        );
        let call = Call::fold(&[later, first]).unwrap();
        assert_eq!(call.memo().unwrap().values, vec!["B".to_owned()]);
    }

    #[test]
    fn r10_an_event_of_another_call_is_refused() {
        let mut s = Script::new(Direction::Outbound);
        let mut call = Call::fold(&[s.event(0, EventBody::Dialing)]).unwrap();
        let mut other = s.event(1, EventBody::Answered);
        other.call_id = CallId::parse("call-2").unwrap();
        assert!(matches!(
            call.apply(other),
            Err(CallError::OtherCall { .. })
        ));
    }

    #[test]
    fn r10_a_stored_call_round_trips_through_json() {
        let mut s = Script::new(Direction::Outbound);
        let call = Call::fold(&[
            s.event(0, EventBody::Dialing),
            s.event(5, EventBody::Answered),
        ])
        .unwrap();
        let again: Call = serde_json::from_str(&serde_json::to_string(&call).unwrap()).unwrap();
        assert_eq!(again, call);
    }
}
