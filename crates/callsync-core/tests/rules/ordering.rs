//! R10 "Ordering": any permutation and duplication of a call's events gives the same call and
//! the same final Task fields.

use callsync_core::call::Call;
use callsync_core::event::Event;
use callsync_core::settings::Timing;
use callsync_core::sync::WrittenTask;
use callsync_core::task::{TaskContext, TaskFields, task_fields};
use proptest::prelude::*;

use crate::support::{Scenario, analysis, drive, final_fields, memo, now, scenario, settings};

const SCENARIOS: [Scenario; 13] = [
    Scenario::Outgoing,
    Scenario::Incoming,
    Scenario::InternalTransfer,
    Scenario::ExternalTransfer,
    Scenario::AutoForward,
    Scenario::Voicemail,
    Scenario::MissedOutgoing,
    Scenario::MissedIncoming,
    Scenario::AutoForwardNobodyAnswered,
    Scenario::PredictiveNoAnswer,
    Scenario::PredictiveNoAgent,
    Scenario::PredictiveAgentTalked,
    Scenario::Extension,
];

/// A call's events in time order: a scenario, maybe memos (one during the call, one later from
/// call history) and maybe the analysis.
fn call_events() -> impl Strategy<Value = (Vec<Event>, Timing)> {
    (
        0..SCENARIOS.len(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(index, early_memo, late_memo, with_analysis, call_start)| {
                let mut events = scenario(SCENARIOS[index]);
                if early_memo {
                    events.push(memo("m1", 3, &["見込みあり"], Some("during the call")));
                }
                if late_memo {
                    events.push(memo("m2", 7200, &["受注", "再架電"], None));
                }
                if with_analysis {
                    events.push(analysis("a1", 300));
                }
                (
                    events,
                    if call_start {
                        Timing::CallStart
                    } else {
                        Timing::CallEnd
                    },
                )
            },
        )
}

/// The events again, shuffled, with some sent twice.
fn arrivals() -> impl Strategy<Value = (Vec<Event>, Vec<Event>, Timing)> {
    call_events().prop_flat_map(|(events, timing)| {
        let count = events.len();
        (
            Just(events.clone()),
            proptest::collection::vec(0..count, 0..count + 1),
            Just(timing),
        )
            .prop_flat_map(|(events, repeats, timing)| {
                let mut arrived = events.clone();
                arrived.extend(repeats.iter().map(|index| events[*index].clone()));
                (Just(events), Just(arrived).prop_shuffle(), Just(timing))
            })
    })
}

fn settings_for(timing: Timing) -> callsync_core::settings::Settings {
    let mut settings = settings(timing);
    settings.comment_template =
        "{MEMO}|{SPEECH_RECOGNITION_SUMMARY}|{DURATION}|{CALL_ENDED_AT}".into();
    settings.custom_fields.memo = Some("Memo__c".into());
    settings.custom_fields.call_ended_at = Some("Call_Ended__c".into());
    settings
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn r10_any_order_and_duplication_gives_the_same_call((in_order, arrived, _timing) in arrivals()) {
        prop_assert_eq!(Call::fold(&arrived).unwrap(), Call::fold(&in_order).unwrap());
    }

    #[test]
    fn r10_any_order_and_duplication_gives_the_same_final_task((in_order, arrived, timing) in arrivals()) {
        let settings = settings_for(timing);
        let (_, expected) = drive(&in_order, &settings);
        let (_, actual) = drive(&arrived, &settings);
        prop_assert_eq!(final_fields(&actual).without_nulls(), final_fields(&expected).without_nulls());
        // And the Task holds exactly what the whole call says, once it exists.
        if let WrittenTask::Created { fields, .. } = &actual {
            let call = Call::fold(&in_order).unwrap();
            let wanted: TaskFields = task_fields(&call, &settings, &TaskContext::default(), now()).unwrap();
            prop_assert_eq!(fields.without_nulls(), wanted.without_nulls());
        }
    }
}
