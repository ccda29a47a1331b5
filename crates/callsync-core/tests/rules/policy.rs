//! R12 (logging policy) and R13 (unknown numbers), one table per rule, through the public
//! API as the service uses it.

use callsync_core::call::Call;
use callsync_core::event::Event;
use callsync_core::ids::SalesforceId;
use callsync_core::matching::{MatchedBy, RecordObject};
use callsync_core::policy::{LogChoice, LoggingPolicy, SkipReason, TooShortChoice};
use callsync_core::settings::{Settings, Timing};
use callsync_core::sync::{
    Action, CreationDue, NeverReason, WrittenTask, creation_due, next_action,
};
use callsync_core::task::TaskContext;
use callsync_core::unknown::{UnknownNumberAction, UnknownNumbers, unknown_number_record};
use serde_json::{Value, json};

use crate::support::{Scenario, drive, event, now, scenario, settings};

const ALL: [Scenario; 13] = [
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

/// What the rules do with the whole call: the create's fields, or why nothing.
fn outcome(events: &[Event], settings: &Settings) -> Result<Value, Option<NeverReason>> {
    let (writes, _) = drive(events, settings);
    if let Some(Action::Create(fields)) = writes.first() {
        return Ok(fields.to_json());
    }
    let call = Call::fold(events).unwrap();
    match next_action(
        &call,
        settings,
        &WrittenTask::NotCreated,
        &TaskContext::default(),
        now(),
    ) {
        Action::Never(reason) => Err(Some(reason)),
        _ => Err(None),
    }
}

/// Where a scenario's choice lives in the policy.
type ChoiceOf = fn(&mut LoggingPolicy) -> &mut LogChoice;

fn with_policy(timing: Timing, policy: LoggingPolicy) -> Settings {
    Settings {
        policy,
        ..settings(timing)
    }
}

fn skipped(reason: SkipReason) -> Result<Value, Option<NeverReason>> {
    Err(Some(NeverReason::Skipped(reason)))
}

// ---- R12 Logging policy ---------------------------------------------------------------------

#[test]
fn r12_the_default_policy_reproduces_r2_for_every_kind_and_timing() {
    for timing in [Timing::CallStart, Timing::CallEnd] {
        let before = settings(timing);
        let explicit = with_policy(timing, LoggingPolicy::default());
        assert_eq!(before.policy, LoggingPolicy::default());
        for kind in ALL {
            let events = scenario(kind);
            assert_eq!(
                drive(&events, &explicit),
                drive(&events, &before),
                "{kind:?} {timing:?}"
            );
            let created = outcome(&events, &before);
            if let Err(Some(reason)) = &created {
                assert_eq!(reason.skipped(), None, "{kind:?}: R2 never skips by policy");
            }
        }
    }
}

#[test]
fn r12_each_kind_is_logged_logged_as_open_or_not_logged_as_chosen() {
    // (scenario, the field of KindChoices that governs it)
    let table: [(Scenario, ChoiceOf); 12] = [
        (Scenario::Outgoing, |p| &mut p.kinds.outgoing),
        (Scenario::PredictiveAgentTalked, |p| &mut p.kinds.outgoing),
        (Scenario::Incoming, |p| &mut p.kinds.incoming),
        (Scenario::InternalTransfer, |p| &mut p.kinds.transfer),
        (Scenario::ExternalTransfer, |p| &mut p.kinds.transfer),
        (Scenario::AutoForward, |p| &mut p.kinds.transfer),
        (Scenario::Voicemail, |p| &mut p.kinds.voicemail),
        (Scenario::MissedOutgoing, |p| &mut p.kinds.missed_outgoing),
        (Scenario::MissedIncoming, |p| &mut p.kinds.missed_incoming),
        (Scenario::AutoForwardNobodyAnswered, |p| {
            &mut p.kinds.missed_incoming
        }),
        (Scenario::PredictiveNoAnswer, |p| {
            &mut p.kinds.predictive_no_answer
        }),
        (Scenario::PredictiveNoAgent, |p| {
            &mut p.kinds.predictive_no_answer
        }),
    ];
    for (kind, choice_of) in table {
        let events = scenario(kind);
        for (choice, expected_status) in [
            (LogChoice::Log, Some("Completed")),
            (LogChoice::LogAsOpen, Some("Not Started")),
            (LogChoice::DontLog, None),
        ] {
            let mut policy = LoggingPolicy::default();
            *choice_of(&mut policy) = choice;
            let result = outcome(&events, &with_policy(Timing::CallEnd, policy));
            match expected_status {
                Some(status) => {
                    let fields = result.unwrap_or_else(|e| panic!("{kind:?} {choice:?}: {e:?}"));
                    assert_eq!(fields["Status"], status, "{kind:?} {choice:?}");
                }
                None => assert_eq!(result, skipped(SkipReason::Policy), "{kind:?}"),
            }
        }
    }
}

#[test]
fn r12_a_choice_for_one_kind_leaves_the_others_alone() {
    let mut policy = LoggingPolicy::default();
    policy.kinds.missed_outgoing = LogChoice::DontLog;
    let settings = with_policy(Timing::CallEnd, policy);
    // A predictive call nobody answered is its own kind, not "missed outgoing".
    assert!(outcome(&scenario(Scenario::PredictiveNoAnswer), &settings).is_ok());
    assert!(outcome(&scenario(Scenario::Outgoing), &settings).is_ok());
    assert_eq!(
        outcome(&scenario(Scenario::MissedOutgoing), &settings),
        skipped(SkipReason::Policy)
    );
}

#[test]
fn r12_extension_calls_stay_never_synced_whatever_the_policy() {
    let policy = LoggingPolicy {
        never_log_numbers: vec!["201".into()],
        ..LoggingPolicy::default()
    };
    let settings = with_policy(Timing::CallEnd, policy);
    assert_eq!(
        outcome(&scenario(Scenario::Extension), &settings),
        Err(Some(NeverReason::ExtensionCall))
    );
}

/// An answered call of `kind` with `talk` seconds of conversation.
fn answered(kind: Scenario, talk: u32) -> Vec<Event> {
    let mut events = scenario(kind);
    let last = events.len() - 1;
    let direction = match kind {
        Scenario::Outgoing => "outbound",
        _ => "inbound",
    };
    events[last] = event(
        "e-end",
        65,
        direction,
        Some("u-1"),
        json!({"type": "ended", "talk_seconds": talk, "outcome": "answered"}),
    );
    events
}

#[test]
fn r12_minimum_talk_time_table() {
    // (scenario, talk seconds, minimum, choice, expected subject or skip)
    let cases = [
        (
            Scenario::Outgoing,
            4,
            0,
            TooShortChoice::LogAsMissed,
            Ok("発信"),
        ),
        (
            Scenario::Outgoing,
            4,
            5,
            TooShortChoice::LogAsMissed,
            Ok("発信(不在)"),
        ),
        (
            Scenario::Outgoing,
            5,
            5,
            TooShortChoice::LogAsMissed,
            Ok("発信"),
        ),
        (
            Scenario::Incoming,
            4,
            5,
            TooShortChoice::LogAsMissed,
            Ok("着信(不在)"),
        ),
        (
            Scenario::InternalTransfer,
            1,
            5,
            TooShortChoice::LogAsMissed,
            Ok("着信(不在)"),
        ),
        (
            Scenario::Outgoing,
            4,
            5,
            TooShortChoice::DontLog,
            Err(SkipReason::TooShort),
        ),
        (
            Scenario::Incoming,
            4,
            5,
            TooShortChoice::DontLog,
            Err(SkipReason::TooShort),
        ),
        (
            Scenario::Incoming,
            6,
            5,
            TooShortChoice::DontLog,
            Ok("着信"),
        ),
    ];
    for (kind, talk, minimum, choice, expected) in cases {
        let policy = LoggingPolicy {
            min_talk_seconds: minimum,
            too_short: choice,
            ..LoggingPolicy::default()
        };
        let result = outcome(&answered(kind, talk), &with_policy(Timing::CallEnd, policy));
        let case = format!("{kind:?} talk {talk} min {minimum} {choice:?}");
        match expected {
            Ok(subject) => assert_eq!(result.expect(&case)["Subject"], subject, "{case}"),
            Err(reason) => assert_eq!(result, skipped(reason), "{case}"),
        }
    }
}

#[test]
fn r12_a_too_short_call_logged_as_missed_follows_the_missed_kinds_choice() {
    let mut policy = LoggingPolicy {
        min_talk_seconds: 10,
        ..LoggingPolicy::default()
    };
    policy.kinds.missed_incoming = LogChoice::DontLog;
    let settings = with_policy(Timing::CallEnd, policy);
    assert_eq!(
        outcome(&answered(Scenario::Incoming, 3), &settings),
        skipped(SkipReason::Policy)
    );
    let fields = outcome(&answered(Scenario::Outgoing, 3), &settings).unwrap();
    assert_eq!(fields["CallType"], "Outbound");
    assert_eq!(
        fields["CallDurationInSeconds"], 3,
        "the real talk time is kept"
    );
}

#[test]
fn r12_with_a_minimum_an_answered_call_at_call_start_waits_for_its_end() {
    let policy = LoggingPolicy {
        min_talk_seconds: 10,
        ..LoggingPolicy::default()
    };
    let settings = with_policy(Timing::CallStart, policy);
    let events = answered(Scenario::Outgoing, 30);
    let running = Call::fold(&events[..2]).unwrap();
    assert_eq!(creation_due(&running, &settings, now()), CreationDue::Wait);
    let ended = Call::fold(&events).unwrap();
    assert_eq!(creation_due(&ended, &settings, now()), CreationDue::Now);
    // Without a minimum, R10 is unchanged: the Task is due at `answered`.
    assert_eq!(
        creation_due(&running, &self::settings(Timing::CallStart), now()),
        CreationDue::Now
    );
}

#[test]
fn r12_never_log_numbers_match_in_normal_form_whatever_their_spelling() {
    // The scenarios' customer number is 03-1234-5678, in Japan.
    for (listed, skipped_call) in [
        ("03-1234-5678", true),
        ("0312345678", true),
        ("+81 3-1234-5678", true),
        ("(03) 1234 5678", true),
        ("03-1234-5679", false),
        ("5678", false),
    ] {
        let policy = LoggingPolicy {
            never_log_numbers: vec![listed.into()],
            ..LoggingPolicy::default()
        };
        for kind in [Scenario::Outgoing, Scenario::MissedIncoming] {
            let result = outcome(
                &scenario(kind),
                &with_policy(Timing::CallEnd, policy.clone()),
            );
            if skipped_call {
                assert_eq!(
                    result,
                    skipped(SkipReason::NeverLogList),
                    "{listed} {kind:?}"
                );
            } else {
                assert!(result.is_ok(), "{listed} {kind:?}: {result:?}");
            }
        }
    }
}

#[test]
fn r12_a_call_on_the_never_log_list_is_skipped_before_it_ends() {
    let policy = LoggingPolicy {
        never_log_numbers: vec!["0312345678".into()],
        ..LoggingPolicy::default()
    };
    let settings = with_policy(Timing::CallEnd, policy);
    let ringing = Call::fold(&scenario(Scenario::Incoming)[..1]).unwrap();
    assert_eq!(
        creation_due(&ringing, &settings, now()),
        CreationDue::Never(NeverReason::Skipped(SkipReason::NeverLogList))
    );
}

#[test]
fn r12_never_log_extensions_match_the_users_line_or_the_transfer_destination() {
    // The scenarios' user number is 050-1111-2222; transfers go to 090-1111-2222.
    for (extension, kind, skipped_call) in [
        ("05011112222", Scenario::Outgoing, true),
        ("09011112222", Scenario::InternalTransfer, true),
        ("09011112222", Scenario::Outgoing, false),
        ("201", Scenario::Outgoing, false),
    ] {
        let policy = LoggingPolicy {
            never_log_extensions: vec![extension.into()],
            ..LoggingPolicy::default()
        };
        let result = outcome(&scenario(kind), &with_policy(Timing::CallEnd, policy));
        assert_eq!(
            result.is_err(),
            skipped_call,
            "{extension} {kind:?}: {result:?}"
        );
    }
}

#[test]
fn r12_policy_settings_are_checked_with_the_field_named() {
    let mut policy = LoggingPolicy {
        open_status: " ".into(),
        min_talk_seconds: 100_000,
        never_log_numbers: vec!["03-1234-5678".into(), "none".into()],
        never_log_extensions: vec!["12".into(), "12a".into(), "".into()],
        ..LoggingPolicy::default()
    };
    policy.kinds.incoming = LogChoice::LogAsOpen;
    let fields: Vec<String> = with_policy(Timing::CallEnd, policy)
        .validate()
        .unwrap_err()
        .into_iter()
        .map(|problem| problem.field)
        .collect();
    assert_eq!(
        fields,
        [
            "policy.open_status",
            "policy.min_talk_seconds",
            "policy.never_log_numbers[1]",
            "policy.never_log_extensions[1]",
            "policy.never_log_extensions[2]",
        ]
    );
}

#[test]
fn r12_settings_without_a_policy_read_as_the_default_policy() {
    let settings: Settings = serde_json::from_str(r#"{"timing": "call_end"}"#).unwrap();
    assert_eq!(settings.policy, LoggingPolicy::default());
    let partial: Settings =
        serde_json::from_str(r#"{"policy": {"kinds": {"voicemail": "dont_log"}}}"#).unwrap();
    assert_eq!(partial.policy.kinds.voicemail, LogChoice::DontLog);
    assert_eq!(partial.policy.kinds.outgoing, LogChoice::Log);
}

// ---- R13 Unknown numbers --------------------------------------------------------------------

fn unknown(action: UnknownNumberAction) -> Settings {
    Settings {
        unknown_numbers: UnknownNumbers {
            action,
            account: Some(SalesforceId::parse("001000000000009").unwrap()),
            ..UnknownNumbers::default()
        },
        ..settings(Timing::CallEnd)
    }
}

fn owner_context() -> TaskContext {
    TaskContext {
        owner: Some(SalesforceId::parse("005000000000001").unwrap()),
        user_name: Some("佐藤".into()),
        ..TaskContext::default()
    }
}

#[test]
fn r13_the_record_created_for_an_unknown_number_table() {
    let call = Call::fold(&scenario(Scenario::Incoming)).unwrap();
    // (action, expected object and fields; None: left unlinked)
    let cases: [(UnknownNumberAction, Option<(&str, Value)>); 3] = [
        (UnknownNumberAction::Unlinked, None),
        (
            UnknownNumberAction::CreateLead,
            Some((
                "Lead",
                json!({"LastName": "03-1234-5678", "Company": "03-1234-5678",
                       "Phone": "03-1234-5678", "OwnerId": "005000000000001AAA"}),
            )),
        ),
        (
            UnknownNumberAction::CreateContact,
            Some((
                "Contact",
                json!({"LastName": "03-1234-5678", "Phone": "03-1234-5678",
                       "AccountId": "001000000000009AAA", "OwnerId": "005000000000001AAA"}),
            )),
        ),
    ];
    for (action, expected) in cases {
        let record = unknown_number_record(&call, &unknown(action), &owner_context());
        match expected {
            None => assert_eq!(record, None, "{action:?}"),
            Some((object, fields)) => {
                let record = record.expect("a record");
                assert_eq!(record.object_name(), object);
                assert_eq!(record.to_json(), fields, "{action:?}");
                assert_eq!(record.number_key, "+81312345678", "R3.6 normal form");
            }
        }
    }
}

#[test]
fn r13_templates_lead_source_and_national_format() {
    let mut settings = unknown(UnknownNumberAction::CreateLead);
    settings.unknown_numbers.last_name_template = "Caller {CUSTOMER_NUMBER}".into();
    settings.unknown_numbers.company_template = "Unknown ({USER_NAME})".into();
    settings.unknown_numbers.lead_source = Some("Phone Inquiry".into());
    let mut events = scenario(Scenario::Incoming);
    for event in &mut events {
        event.customer_number = Some("+81312345678".into());
    }
    let call = Call::fold(&events).unwrap();
    let record = unknown_number_record(&call, &settings, &owner_context()).unwrap();
    let fields = record.to_json();
    assert_eq!(fields["LastName"], "Caller +81312345678");
    assert_eq!(fields["Company"], "Unknown (佐藤)");
    assert_eq!(
        fields["Phone"], "03-1234-5678",
        "the number in national format"
    );
    assert_eq!(fields["LeadSource"], "Phone Inquiry");
    // A template whose values are unknown falls back to the number: LastName is required.
    settings.unknown_numbers.last_name_template = "{MEMO}".into();
    let record = unknown_number_record(&call, &settings, &TaskContext::default()).unwrap();
    assert_eq!(record.to_json()["LastName"], "03-1234-5678");
    assert_eq!(record.to_json().get("OwnerId"), None);
}

#[test]
fn r13_a_click_to_call_or_a_call_without_number_creates_nothing() {
    let settings = unknown(UnknownNumberAction::CreateLead);
    let mut events = scenario(Scenario::Outgoing);
    events[0] = event(
        "e1",
        0,
        "outbound",
        Some("u-1"),
        json!({"type": "dialing", "click_to_call": {"record_id": "003000000000001"}}),
    );
    let call = Call::fold(&events).unwrap();
    assert_eq!(
        unknown_number_record(&call, &settings, &owner_context()),
        None
    );
    let mut events = scenario(Scenario::MissedIncoming);
    for event in &mut events {
        event.customer_number = None;
    }
    let call = Call::fold(&events).unwrap();
    assert_eq!(
        unknown_number_record(&call, &settings, &owner_context()),
        None
    );
}

#[test]
fn r13_the_created_record_is_linked_as_r5_links_its_object() {
    let call = Call::fold(&scenario(Scenario::Incoming)).unwrap();
    let id = SalesforceId::parse("00Q000000000001").unwrap();
    let lead = unknown_number_record(
        &call,
        &unknown(UnknownNumberAction::CreateLead),
        &owner_context(),
    )
    .unwrap()
    .created(id.clone(), now());
    assert_eq!(lead.object, RecordObject::Lead);
    assert_eq!(
        (lead.who_id.as_ref(), lead.what_id.as_ref()),
        (Some(&id), None)
    );
    assert_eq!(lead.matched_by, MatchedBy::Created);
    let contact_id = SalesforceId::parse("003000000000007").unwrap();
    let contact = unknown_number_record(
        &call,
        &unknown(UnknownNumberAction::CreateContact),
        &owner_context(),
    )
    .unwrap()
    .created(contact_id.clone(), now());
    assert_eq!(contact.who_id, Some(contact_id));
    assert_eq!(contact.what_id, SalesforceId::parse("001000000000009").ok());
    let context = TaskContext {
        record: Some(contact),
        ..owner_context()
    };
    let fields = callsync_core::task::task_fields(
        &call,
        &unknown(UnknownNumberAction::CreateContact),
        &context,
        now(),
    )
    .unwrap();
    assert_eq!(fields.get("WhatId"), Some(&json!("001000000000009AAA")));
}

#[test]
fn r13_settings_are_checked_with_the_field_named() {
    let cases: [(UnknownNumbers, &[&str]); 4] = [
        (UnknownNumbers::default(), &[]),
        (
            UnknownNumbers {
                action: UnknownNumberAction::CreateContact,
                ..UnknownNumbers::default()
            },
            &["unknown_numbers.account"],
        ),
        (
            UnknownNumbers {
                action: UnknownNumberAction::CreateLead,
                last_name_template: "{NAME}".into(),
                company_template: " ".into(),
                lead_source: Some("".into()),
                ..UnknownNumbers::default()
            },
            &[
                "unknown_numbers.last_name_template",
                "unknown_numbers.company_template",
                "unknown_numbers.lead_source",
            ],
        ),
        (
            UnknownNumbers {
                action: UnknownNumberAction::CreateContact,
                account: SalesforceId::parse("003000000000001").ok(),
                ..UnknownNumbers::default()
            },
            &["unknown_numbers.account"],
        ),
    ];
    for (unknown_numbers, expected) in cases {
        let settings = Settings {
            unknown_numbers: unknown_numbers.clone(),
            ..Settings::default()
        };
        let fields: Vec<String> = match settings.validate() {
            Ok(()) => Vec::new(),
            Err(problems) => problems.into_iter().map(|problem| problem.field).collect(),
        };
        assert_eq!(fields, expected, "{unknown_numbers:?}");
    }
}
