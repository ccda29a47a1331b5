//! Every row of every table in `spec/sync-rules.md`, as test cases named after their rule.

use callsync_core::call::{Call, CallKind};
use callsync_core::contact::ContactEntry;
use callsync_core::event::{Event, EventError, TransferKind};
use callsync_core::ids::SalesforceId;
use callsync_core::matching::{Candidate, RecordObject, choose_record};
use callsync_core::phone::PhoneRegion;
use callsync_core::settings::{Language, Settings, Timing};
use callsync_core::sync::{
    Action, CreationDue, NeverReason, WrittenTask, creation_due, next_action,
};
use callsync_core::task::{TaskContext, TaskFields, task_fields};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::support::{
    Scenario, analysis, drive, event, final_fields, memo, now, scenario, settings,
};

fn call(kind: Scenario) -> Call {
    Call::fold(&scenario(kind)).unwrap()
}

fn created_fields(kind: Scenario, settings: &Settings) -> TaskFields {
    let (writes, _) = drive(&scenario(kind), settings);
    match writes.first() {
        Some(Action::Create(fields)) => fields.clone(),
        other => panic!("{kind:?}: expected a create, got {other:?}"),
    }
}

fn text(fields: &TaskFields, name: &str) -> Option<String> {
    fields.get(name).map(|value| {
        value
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| value.to_string())
    })
}

// ---- R1 Objects -------------------------------------------------------------------------

#[test]
fn r1_a_click_to_call_from_an_object_callsync_does_not_link_falls_back_to_the_number() {
    // An Opportunity (006) is not one of R1's objects: the number decides instead.
    let mut events = scenario(Scenario::Outgoing);
    events[0] = event(
        "e1",
        0,
        "outbound",
        Some("u-1"),
        json!({"type": "dialing", "click_to_call": {"record_id": "006000000000001"}}),
    );
    let call = Call::fold(&events).unwrap();
    let contact = Candidate {
        object: RecordObject::Contact,
        id: SalesforceId::parse("003000000000001").unwrap(),
        phones: vec![("Phone".into(), "03-1234-5678".into())],
        last_modified: now(),
        is_converted: false,
        account_id: None,
        account_name: None,
        person_contact_id: None,
        name: None,
        company: None,
        owner_id: None,
    };
    let found = choose_record(&call, &[contact], PhoneRegion::JAPAN).unwrap();
    assert_eq!(found.object, RecordObject::Contact);
}

#[test]
fn r1_only_task_fields_are_written() {
    let fields = created_fields(Scenario::Outgoing, &settings(Timing::CallEnd));
    let names: Vec<&str> = fields.names().collect();
    assert_eq!(
        names,
        [
            "ActivityDate",
            "CallDurationInSeconds",
            "CallObject",
            "CallType",
            "Description",
            "Status",
            "Subject",
            "TaskSubtype"
        ]
    );
}

// ---- R2 Which calls are synced ------------------------------------------------------------

#[test]
fn r2_synced_calls_table() {
    let timing_end = settings(Timing::CallEnd);
    for (scenario_kind, kind, synced) in [
        (Scenario::Outgoing, CallKind::Outgoing, true),
        (Scenario::Incoming, CallKind::Incoming, true),
        (
            Scenario::InternalTransfer,
            CallKind::Transfer(TransferKind::Internal),
            true,
        ),
        (
            Scenario::ExternalTransfer,
            CallKind::Transfer(TransferKind::External),
            true,
        ),
        (
            Scenario::AutoForward,
            CallKind::Transfer(TransferKind::AutoForward),
            true,
        ),
        (Scenario::Voicemail, CallKind::Voicemail, true),
        (Scenario::MissedOutgoing, CallKind::MissedOutgoing, true),
        (Scenario::MissedIncoming, CallKind::MissedIncoming, true),
        (
            Scenario::AutoForwardNobodyAnswered,
            CallKind::MissedIncoming,
            true,
        ),
        (Scenario::Extension, CallKind::Extension, false),
    ] {
        let folded = call(scenario_kind);
        assert_eq!(folded.kind(), Some(kind), "{scenario_kind:?}");
        let (writes, _) = drive(&scenario(scenario_kind), &timing_end);
        assert_eq!(!writes.is_empty(), synced, "{scenario_kind:?}");
    }
}

#[test]
fn r2_voicemail_is_synced_only_with_timing_call_end() {
    let (at_start, _) = drive(&scenario(Scenario::Voicemail), &settings(Timing::CallStart));
    assert!(at_start.is_empty());
    let (at_end, _) = drive(&scenario(Scenario::Voicemail), &settings(Timing::CallEnd));
    assert_eq!(at_end.len(), 1);
}

#[test]
fn r2_extension_calls_are_never_synced() {
    for timing in [Timing::CallStart, Timing::CallEnd] {
        let action = next_action(
            &call(Scenario::Extension),
            &settings(timing),
            &WrittenTask::NotCreated,
            &TaskContext::default(),
            now(),
        );
        assert_eq!(action, Action::Never(NeverReason::ExtensionCall));
    }
}

// ---- R3 Finding the record (more cases beside `matching`) ----------------------------------

#[test]
fn r3_7_an_unlinked_call_still_creates_a_task_without_who_or_what() {
    let fields = created_fields(Scenario::Incoming, &settings(Timing::CallEnd));
    assert_eq!(fields.get("WhoId"), None);
    assert_eq!(fields.get("WhatId"), None);
}

// ---- R4 Contact entry ---------------------------------------------------------------------

#[test]
fn r4_every_call_registers_an_entry_even_without_a_match() {
    let entry = ContactEntry::from_match(call(Scenario::MissedIncoming).customer_number(), None);
    assert_eq!(entry.customer_number.as_deref(), Some("03-1234-5678"));
}

// ---- R5 The Task written ------------------------------------------------------------------

fn linked_context() -> TaskContext {
    let contact = Candidate {
        object: RecordObject::Contact,
        id: SalesforceId::parse("003000000000001").unwrap(),
        phones: vec![("Phone".into(), "0312345678".into())],
        last_modified: now(),
        is_converted: false,
        account_id: Some(SalesforceId::parse("001000000000001").unwrap()),
        account_name: Some("株式会社サンプル".into()),
        person_contact_id: None,
        name: Some("山田 太郎".into()),
        company: None,
        owner_id: None,
    };
    TaskContext {
        record: choose_record(&call(Scenario::Outgoing), &[contact], PhoneRegion::JAPAN),
        owner: Some(SalesforceId::parse("005000000000001").unwrap()),
        user_name: Some("佐藤".into()),
        call_url: Some("https://callsync.example/calls/call-42".into()),
    }
}

#[test]
fn r5_task_fields_table() {
    let settings = Settings {
        task_status: "Completed".into(),
        ..settings(Timing::CallEnd)
    };
    let fields = task_fields(
        &call(Scenario::Outgoing),
        &settings,
        &linked_context(),
        now(),
    )
    .unwrap();
    let expect = |name: &str, value: Value| assert_eq!(fields.get(name), Some(&value), "{name}");
    expect("Subject", json!("発信"));
    expect("Status", json!("Completed"));
    assert!(
        text(&fields, "Description")
            .unwrap()
            .starts_with("発信 03-1234-5678 担当: 佐藤")
    );
    expect("WhoId", json!("003000000000001AAA"));
    expect("WhatId", json!("001000000000001AAA"));
    expect("OwnerId", json!("005000000000001AAA"));
    expect("TaskSubtype", json!("Call"));
    expect("ActivityDate", json!("2024-01-31"));
    expect("CallDurationInSeconds", json!(60));
    expect("CallType", json!("Outbound"));
    expect("CallObject", json!("call-42"));
}

#[test]
fn r5_activity_date_is_the_creation_date_in_the_organisations_time_zone() {
    // 15:30 UTC on the 31st is already 1 February in Tokyo.
    let late: Timestamp = "2024-01-31T15:30:00Z".parse().unwrap();
    let fields = task_fields(
        &call(Scenario::Outgoing),
        &settings(Timing::CallEnd),
        &TaskContext::default(),
        late,
    )
    .unwrap();
    assert_eq!(text(&fields, "ActivityDate").as_deref(), Some("2024-02-01"));
    let utc = Settings {
        time_zone: "UTC".into(),
        ..settings(Timing::CallEnd)
    };
    let fields = task_fields(
        &call(Scenario::Outgoing),
        &utc,
        &TaskContext::default(),
        late,
    )
    .unwrap();
    assert_eq!(text(&fields, "ActivityDate").as_deref(), Some("2024-01-31"));
}

#[test]
fn r5_call_duration_is_zero_at_call_start_and_the_talk_time_at_call_end() {
    let at_start = created_fields(Scenario::Outgoing, &settings(Timing::CallStart));
    assert_eq!(at_start.get("CallDurationInSeconds"), Some(&json!(0)));
    let at_end = created_fields(Scenario::Outgoing, &settings(Timing::CallEnd));
    assert_eq!(at_end.get("CallDurationInSeconds"), Some(&json!(60)));
}

#[test]
fn r5_call_type_table() {
    for (scenario_kind, call_type) in [
        (Scenario::Outgoing, Some("Outbound")),
        (Scenario::MissedOutgoing, Some("Outbound")),
        (Scenario::Incoming, Some("Inbound")),
        (Scenario::MissedIncoming, Some("Inbound")),
        (Scenario::Voicemail, Some("Inbound")),
        (Scenario::AutoForward, Some("Inbound")),
        (Scenario::InternalTransfer, None),
        (Scenario::ExternalTransfer, None),
    ] {
        let fields = created_fields(scenario_kind, &settings(Timing::CallEnd));
        assert_eq!(
            text(&fields, "CallType").as_deref(),
            call_type,
            "{scenario_kind:?}"
        );
    }
}

#[test]
fn r5_call_object_is_the_sequence_id() {
    let fields = created_fields(Scenario::MissedIncoming, &settings(Timing::CallEnd));
    assert_eq!(text(&fields, "CallObject").as_deref(), Some("call-42"));
}

#[test]
fn r5_subject_and_description_longer_than_salesforce_allows_are_shortened() {
    let long = Settings {
        comment_template: format!("{}{{MEMO}}", "あ".repeat(40_000)),
        subjects: callsync_core::settings::SubjectTemplates {
            outgoing: Some("件".repeat(300)),
            ..Default::default()
        },
        ..settings(Timing::CallEnd)
    };
    let fields = created_fields(Scenario::Outgoing, &long);
    assert_eq!(text(&fields, "Subject").unwrap().chars().count(), 255);
    assert_eq!(
        text(&fields, "Description").unwrap().chars().count(),
        32_000
    );
}

// ---- R5.1 Subject -------------------------------------------------------------------------

fn subject(kind: Scenario, language: Language) -> String {
    let settings = Settings {
        timing: Timing::CallEnd,
        ..Settings::for_language(language)
    };
    text(&created_fields(kind, &settings), "Subject").unwrap()
}

#[test]
fn r5_1_outgoing_subject() {
    assert_eq!(subject(Scenario::Outgoing, Language::Ja), "発信");
    assert_eq!(subject(Scenario::Outgoing, Language::En), "Outgoing call");
}

#[test]
fn r5_1_incoming_subject() {
    assert_eq!(subject(Scenario::Incoming, Language::Ja), "着信");
    assert_eq!(subject(Scenario::Incoming, Language::En), "Incoming call");
}

#[test]
fn r5_1_transfer_subject() {
    for kind in [
        Scenario::InternalTransfer,
        Scenario::ExternalTransfer,
        Scenario::AutoForward,
    ] {
        assert_eq!(subject(kind, Language::Ja), "転送");
        assert_eq!(subject(kind, Language::En), "Transferred call");
    }
}

#[test]
fn r5_1_voicemail_subject() {
    assert_eq!(subject(Scenario::Voicemail, Language::Ja), "留守番電話");
    assert_eq!(subject(Scenario::Voicemail, Language::En), "Voicemail");
}

#[test]
fn r5_1_missed_outgoing_subject() {
    assert_eq!(
        subject(Scenario::MissedOutgoing, Language::Ja),
        "発信(不在)"
    );
    assert_eq!(
        subject(Scenario::MissedOutgoing, Language::En),
        "Outgoing call — no answer"
    );
}

#[test]
fn r5_1_missed_incoming_subject() {
    assert_eq!(
        subject(Scenario::MissedIncoming, Language::Ja),
        "着信(不在)"
    );
    assert_eq!(
        subject(Scenario::MissedIncoming, Language::En),
        "Incoming call — missed"
    );
}

#[test]
fn r5_1_subject_templates_use_placeholders() {
    let mut custom = settings(Timing::CallEnd);
    custom.subjects.missed_incoming = Some("{CALL_KIND}: {CUSTOMER_NUMBER}".into());
    assert_eq!(
        text(
            &created_fields(Scenario::MissedIncoming, &custom),
            "Subject"
        )
        .unwrap(),
        "着信(不在): 03-1234-5678"
    );
}

// ---- R5.2 Description ---------------------------------------------------------------------

#[test]
fn r5_2_call_start_comment_is_the_template_for_answered_kinds() {
    let template = Settings {
        comment_template: "[{CALL_KIND}]".into(),
        ..settings(Timing::CallStart)
    };
    for (kind, expected) in [
        (Scenario::Outgoing, "[発信]"),
        (Scenario::Incoming, "[着信]"),
        (Scenario::InternalTransfer, "[着信]"), // created at answered, before the transfer
        (Scenario::AutoForward, "[転送]"),
    ] {
        assert_eq!(
            text(&created_fields(kind, &template), "Description").as_deref(),
            Some(expected),
            "{kind:?}"
        );
    }
}

#[test]
fn r5_2_call_start_comment_of_missed_outgoing_is_its_label() {
    let template = Settings {
        comment_template: "[{CALL_KIND}]".into(),
        ..settings(Timing::CallStart)
    };
    assert_eq!(
        text(
            &created_fields(Scenario::MissedOutgoing, &template),
            "Description"
        )
        .as_deref(),
        Some("発信(不在)")
    );
}

#[test]
fn r5_2_call_start_comment_of_missed_incoming_is_its_label_auto_forward_included() {
    let template = Settings {
        comment_template: "[{CALL_KIND}]".into(),
        ..settings(Timing::CallStart)
    };
    for kind in [
        Scenario::MissedIncoming,
        Scenario::AutoForwardNobodyAnswered,
    ] {
        assert_eq!(
            text(&created_fields(kind, &template), "Description").as_deref(),
            Some("着信(不在)")
        );
    }
}

#[test]
fn r5_2_call_end_comment_is_the_template_for_every_kind() {
    let template = Settings {
        comment_template: "[{CALL_KIND}]".into(),
        ..settings(Timing::CallEnd)
    };
    for (kind, expected) in [
        (Scenario::Outgoing, "[発信]"),
        (Scenario::Incoming, "[着信]"),
        (Scenario::InternalTransfer, "[転送]"),
        (Scenario::Voicemail, "[留守番電話]"),
        (Scenario::MissedOutgoing, "[発信(不在)]"),
        (Scenario::MissedIncoming, "[着信(不在)]"),
    ] {
        assert_eq!(
            text(&created_fields(kind, &template), "Description").as_deref(),
            Some(expected),
            "{kind:?}"
        );
    }
}

// ---- R5.3 Placeholders --------------------------------------------------------------------

#[test]
fn r5_3_every_placeholder_renders_its_value() {
    let template = "{CALL_KIND}|{CUSTOMER_NUMBER}|{USER_NAME}|{DIAL_STARTED_AT}|{CALL_STARTED_AT}|{CALL_ENDED_AT}|{DURATION}|{MEMO}|{SPEECH_RECOGNITION_SUMMARY}|{SPEECH_RECOGNITION}|{CALL_URL}";
    let settings = Settings {
        comment_template: template.into(),
        ..settings(Timing::CallEnd)
    };
    let mut events = scenario(Scenario::Outgoing);
    events.push(memo("m1", 70, &["見込みあり", "再架電"], Some("来週")));
    events.push(analysis("a1", 80));
    let fields = task_fields(
        &Call::fold(&events).unwrap(),
        &settings,
        &linked_context(),
        now(),
    )
    .unwrap();
    assert_eq!(
        text(&fields, "Description").unwrap(),
        "発信|03-1234-5678|佐藤|2024-01-31 09:30:00|2024-01-31 09:30:05|2024-01-31 09:31:05|1:00|見込みあり, 再架電\n来週|見積もりの依頼|もしもし、山田です。|https://callsync.example/calls/call-42"
    );
}

#[test]
fn r5_3_values_unknown_yet_render_empty() {
    let settings = Settings {
        comment_template: "memo:{MEMO};summary:{SPEECH_RECOGNITION_SUMMARY}".into(),
        ..settings(Timing::CallEnd)
    };
    let fields = created_fields(Scenario::Outgoing, &settings);
    assert_eq!(
        text(&fields, "Description").as_deref(),
        Some("memo:;summary:")
    );
}

#[test]
fn r5_3_unknown_placeholders_are_rejected_when_settings_are_saved() {
    let settings = Settings {
        comment_template: "{MEMOS}".into(),
        ..Settings::default()
    };
    let problems = settings.validate().unwrap_err();
    assert!(problems[0].reason.contains("{MEMOS}"));
}

// ---- R5.4 Custom fields -------------------------------------------------------------------

fn mapped() -> Settings {
    let mut settings = settings(Timing::CallEnd);
    settings.custom_fields.dial_started_at = Some("Dial_Started__c".into());
    settings.custom_fields.call_started_at = Some("Call_Started__c".into());
    settings.custom_fields.call_ended_at = Some("Call_Ended__c".into());
    settings.custom_fields.memo = Some("Memo__c".into());
    settings
}

#[test]
fn r5_4_dial_started_at_is_a_salesforce_datetime() {
    let fields = created_fields(Scenario::Outgoing, &mapped());
    assert_eq!(
        text(&fields, "Dial_Started__c").as_deref(),
        Some("2024-01-31T00:30:00.000+0000")
    );
}

#[test]
fn r5_4_call_started_at_is_a_salesforce_datetime() {
    let fields = created_fields(Scenario::Outgoing, &mapped());
    assert_eq!(
        text(&fields, "Call_Started__c").as_deref(),
        Some("2024-01-31T00:30:05.000+0000")
    );
}

#[test]
fn r5_4_call_ended_at_is_a_salesforce_datetime() {
    let fields = created_fields(Scenario::Outgoing, &mapped());
    assert_eq!(
        text(&fields, "Call_Ended__c").as_deref(),
        Some("2024-01-31T00:31:05.000+0000")
    );
}

#[test]
fn r5_4_call_memo_is_a_multi_select_joined_by_semicolons() {
    let mut events = scenario(Scenario::Outgoing);
    events.insert(2, memo("m1", 30, &["見込みあり", "再架電"], None));
    let (writes, _) = drive(&events, &mapped());
    let Action::Create(fields) = &writes[0] else {
        panic!("{writes:?}")
    };
    assert_eq!(
        text(fields, "Memo__c").as_deref(),
        Some("見込みあり;再架電")
    );
}

#[test]
fn r5_4_unmapped_values_are_not_written() {
    let fields = created_fields(Scenario::Outgoing, &settings(Timing::CallEnd));
    assert!(fields.names().all(|name| !name.ends_with("__c")));
}

// ---- R6 Updates ---------------------------------------------------------------------------

fn with_template(template: &str, timing: Timing) -> Settings {
    let mut settings = mapped();
    settings.timing = timing;
    settings.comment_template = template.into();
    settings
}

#[test]
fn r6_memo_saved_after_the_create_updates_comment_and_memo_field() {
    let mut events = scenario(Scenario::Outgoing);
    events.push(memo("m1", 70, &["再架電"], Some("折り返し")));
    let (writes, _) = drive(&events, &with_template("{MEMO}", Timing::CallEnd));
    assert_eq!(writes.len(), 2);
    let Action::Update(update) = &writes[1] else {
        panic!("{writes:?}")
    };
    let names: Vec<&str> = update.names().collect();
    assert_eq!(names, ["Description", "Memo__c"]);
    assert_eq!(
        text(update, "Description").as_deref(),
        Some("再架電\n折り返し")
    );
}

#[test]
fn r6_memo_changed_later_from_call_history_updates_again() {
    let mut events = scenario(Scenario::Outgoing);
    events.push(memo("m1", 70, &["再架電"], None));
    events.push(memo("m2", 3600, &["受注"], None));
    let (writes, written) = drive(&events, &with_template("{MEMO}", Timing::CallEnd));
    assert_eq!(writes.len(), 3);
    assert_eq!(
        text(&final_fields(&written), "Memo__c").as_deref(),
        Some("受注")
    );
}

#[test]
fn r6_analysis_completed_always_updates_the_memo_field() {
    let mut events = scenario(Scenario::Outgoing);
    events.push(memo("m1", 70, &["再架電"], None));
    events.push(analysis("a1", 90));
    // The template has no speech-recognition placeholder: only the memo field is sent.
    let (writes, _) = drive(&events, &with_template("{MEMO}", Timing::CallEnd));
    assert_eq!(writes.len(), 3);
    let Action::Update(update) = &writes[2] else {
        panic!("{writes:?}")
    };
    let names: Vec<&str> = update.names().collect();
    assert_eq!(names, ["Memo__c"]);
}

#[test]
fn r6_speech_recognition_updates_the_comment_only_when_the_template_uses_it() {
    for (template, expect_update) in [
        ("{MEMO}", false),
        ("{SPEECH_RECOGNITION}", true),
        ("{SPEECH_RECOGNITION_SUMMARY}", true),
    ] {
        let mut settings = with_template(template, Timing::CallEnd);
        settings.custom_fields.memo = None;
        let mut events = scenario(Scenario::Outgoing);
        events.push(analysis("a1", 90));
        let (writes, _) = drive(&events, &settings);
        assert_eq!(writes.len() == 2, expect_update, "{template}");
    }
}

#[test]
fn r6_call_end_facts_update_a_task_created_at_call_start() {
    let (writes, written) = drive(
        &scenario(Scenario::Outgoing),
        &with_template("{DURATION}", Timing::CallStart),
    );
    assert_eq!(writes.len(), 2);
    let Action::Update(update) = &writes[1] else {
        panic!("{writes:?}")
    };
    assert_eq!(update.get("CallDurationInSeconds"), Some(&json!(60)));
    assert_eq!(
        text(update, "Call_Ended__c").as_deref(),
        Some("2024-01-31T00:31:05.000+0000")
    );
    assert_eq!(text(update, "Description").as_deref(), Some("1:00"));
    let last = final_fields(&written);
    assert_eq!(last.get("CallDurationInSeconds"), Some(&json!(60)));
}

#[test]
fn r6_an_update_that_arrives_before_the_task_exists_is_merged_into_the_create() {
    // Memo and analysis arrive before `ended` (timing call_end): one create carries them.
    let mut events = scenario(Scenario::Outgoing);
    let ended = events.pop().unwrap();
    events.push(memo("m1", 30, &["再架電"], None));
    events.push(analysis("a1", 40));
    events.push(ended);
    let (writes, _) = drive(
        &events,
        &with_template("{MEMO}/{SPEECH_RECOGNITION_SUMMARY}", Timing::CallEnd),
    );
    assert_eq!(writes.len(), 1, "{writes:?}");
    let Action::Create(fields) = &writes[0] else {
        panic!()
    };
    assert_eq!(
        text(fields, "Description").as_deref(),
        Some("再架電/見積もりの依頼")
    );
}

#[test]
fn r6_several_waiting_updates_become_one_request() {
    // The service coalesces: asking once after several events gives one update with all.
    let settings = with_template("{MEMO} {SPEECH_RECOGNITION_SUMMARY}", Timing::CallEnd);
    let created = scenario(Scenario::Outgoing);
    let (_, written) = drive(&created, &settings);
    let mut events = created;
    events.push(memo("m1", 70, &["再架電"], None));
    events.push(memo("m2", 80, &["受注"], None));
    events.push(analysis("a1", 90));
    let action = next_action(
        &Call::fold(&events).unwrap(),
        &settings,
        &written,
        &TaskContext::default(),
        now(),
    );
    let Action::Update(update) = action else {
        panic!("{action:?}")
    };
    assert_eq!(
        text(&update, "Description").as_deref(),
        Some("受注 見積もりの依頼")
    );
    assert_eq!(text(&update, "Memo__c").as_deref(), Some("受注"));
}

#[test]
fn r6_updates_send_only_owned_fields_that_changed() {
    let settings = with_template("{MEMO}", Timing::CallEnd);
    let (_, written) = drive(&scenario(Scenario::Outgoing), &settings);
    let call = call(Scenario::Outgoing);
    let again = next_action(&call, &settings, &written, &linked_context(), now());
    // The link, owner and status are create-only: a later match or owner does not move them.
    assert_eq!(again, Action::UpToDate);
}

#[test]
fn r6_a_transfer_after_a_call_start_create_updates_subject_and_call_type() {
    let settings = with_template("", Timing::CallStart);
    let (writes, _) = drive(&scenario(Scenario::InternalTransfer), &settings);
    let Action::Update(update) = &writes[1] else {
        panic!("{writes:?}")
    };
    assert_eq!(text(update, "Subject").as_deref(), Some("転送"));
    assert_eq!(update.get("CallType"), Some(&Value::Null));
}

// ---- R7 Owner (more cases beside `owner`) -------------------------------------------------

#[test]
fn r7_the_owner_chosen_is_written_as_owner_id() {
    let fields = task_fields(
        &call(Scenario::Outgoing),
        &settings(Timing::CallEnd),
        &linked_context(),
        now(),
    )
    .unwrap();
    assert_eq!(
        text(&fields, "OwnerId").as_deref(),
        Some("005000000000001AAA")
    );
}

// ---- R8 Predictive calls ------------------------------------------------------------------

#[test]
fn r8_customer_did_not_answer_is_missed_outgoing() {
    assert_eq!(
        call(Scenario::PredictiveNoAnswer).kind(),
        Some(CallKind::MissedOutgoing)
    );
    assert_eq!(
        subject(Scenario::PredictiveNoAnswer, Language::Ja),
        "発信(不在)"
    );
}

#[test]
fn r8_customer_answered_no_agent_picked_up_is_missed_outgoing() {
    assert_eq!(
        call(Scenario::PredictiveNoAgent).kind(),
        Some(CallKind::MissedOutgoing)
    );
    assert_eq!(
        subject(Scenario::PredictiveNoAgent, Language::Ja),
        "発信(不在)"
    );
}

#[test]
fn r8_customer_answered_and_an_agent_talked_is_outgoing_only_at_call_end() {
    assert_eq!(
        call(Scenario::PredictiveAgentTalked).kind(),
        Some(CallKind::Outgoing)
    );
    assert_eq!(
        subject(Scenario::PredictiveAgentTalked, Language::Ja),
        "発信"
    );
    let (at_start, _) = drive(
        &scenario(Scenario::PredictiveAgentTalked),
        &settings(Timing::CallStart),
    );
    assert!(at_start.is_empty());
}

// ---- R9 Errors ----------------------------------------------------------------------------

#[test]
fn r9_refused_events_name_the_field_so_the_error_log_can_say_what_to_fix() {
    let error: EventError = Event::from_json(r#"{"id":"e","org":"o","call_id":"c","occurred_at":"2024-01-31T00:30:00Z","direction":"inbound","type":"transferred","kind":"sideways","destination":"1"}"#).unwrap_err();
    assert_eq!(error.field, "kind");
    assert_eq!(
        error.to_string(),
        "event field `kind` unknown variant `sideways`, expected one of `internal`, `external`, `auto_forward`"
    );
}

// ---- R10 Creation moments -----------------------------------------------------------------

/// The index of the event after which the Task is created, or `None` when it never is.
fn created_after(kind: Scenario, timing: Timing) -> Option<usize> {
    let events = scenario(kind);
    (1..=events.len())
        .find(|count| {
            let call = Call::fold(&events[..*count]).unwrap();
            creation_due(&call, &settings(timing), now()) == CreationDue::Now
        })
        .map(|count| count - 1)
}

fn index_of(kind: Scenario, event_type: &str) -> Option<usize> {
    scenario(kind)
        .iter()
        .position(|event| event.body.type_name() == event_type)
}

#[test]
fn r10_outgoing_incoming_transfer_created_at_answered_with_call_start() {
    for kind in [
        Scenario::Outgoing,
        Scenario::Incoming,
        Scenario::InternalTransfer,
        Scenario::ExternalTransfer,
        Scenario::AutoForward,
    ] {
        assert_eq!(
            created_after(kind, Timing::CallStart),
            index_of(kind, "answered"),
            "{kind:?}"
        );
    }
}

#[test]
fn r10_outgoing_incoming_transfer_created_at_ended_with_call_end() {
    for kind in [
        Scenario::Outgoing,
        Scenario::Incoming,
        Scenario::InternalTransfer,
        Scenario::ExternalTransfer,
        Scenario::AutoForward,
    ] {
        assert_eq!(
            created_after(kind, Timing::CallEnd),
            index_of(kind, "ended"),
            "{kind:?}"
        );
    }
}

#[test]
fn r10_missed_calls_created_at_ended_with_either_timing() {
    for kind in [
        Scenario::MissedOutgoing,
        Scenario::MissedIncoming,
        Scenario::AutoForwardNobodyAnswered,
    ] {
        for timing in [Timing::CallStart, Timing::CallEnd] {
            assert_eq!(
                created_after(kind, timing),
                index_of(kind, "ended"),
                "{kind:?} {timing:?}"
            );
        }
    }
}

#[test]
fn r10_voicemail_never_created_at_call_start() {
    assert_eq!(created_after(Scenario::Voicemail, Timing::CallStart), None);
    assert_eq!(
        creation_due(
            &call(Scenario::Voicemail),
            &settings(Timing::CallStart),
            now()
        ),
        CreationDue::Never(NeverReason::VoicemailAtCallStart)
    );
}

#[test]
fn r10_voicemail_created_at_ended_with_call_end() {
    assert_eq!(
        created_after(Scenario::Voicemail, Timing::CallEnd),
        index_of(Scenario::Voicemail, "ended")
    );
}

#[test]
fn r10_predictive_never_answered_created_at_ended_as_missed_outgoing() {
    for kind in [Scenario::PredictiveNoAnswer, Scenario::PredictiveNoAgent] {
        for timing in [Timing::CallStart, Timing::CallEnd] {
            assert_eq!(
                created_after(kind, timing),
                index_of(kind, "ended"),
                "{kind:?} {timing:?}"
            );
        }
    }
}

#[test]
fn r10_predictive_agent_talked_never_created_at_call_start() {
    assert_eq!(
        created_after(Scenario::PredictiveAgentTalked, Timing::CallStart),
        None
    );
    assert_eq!(
        creation_due(
            &call(Scenario::PredictiveAgentTalked),
            &settings(Timing::CallStart),
            now()
        ),
        CreationDue::Never(NeverReason::PredictiveTalkAtCallStart)
    );
}

#[test]
fn r10_predictive_agent_talked_created_at_ended_as_outgoing_with_call_end() {
    assert_eq!(
        created_after(Scenario::PredictiveAgentTalked, Timing::CallEnd),
        index_of(Scenario::PredictiveAgentTalked, "ended")
    );
}

#[test]
fn r10_extension_never_created_with_either_timing() {
    for timing in [Timing::CallStart, Timing::CallEnd] {
        assert_eq!(created_after(Scenario::Extension, timing), None);
    }
}

#[test]
fn r10_a_repeated_event_writes_nothing_twice() {
    let mut events = scenario(Scenario::Outgoing);
    events.extend(scenario(Scenario::Outgoing));
    let (writes, _) = drive(&events, &settings(Timing::CallEnd));
    assert_eq!(writes.len(), 1);
}

// ---- R11 Settings -------------------------------------------------------------------------

#[test]
fn r11_settings_round_trip_through_json() {
    let settings = mapped();
    let again: Settings = serde_json::from_value(serde_json::to_value(&settings).unwrap()).unwrap();
    assert_eq!(again, settings);
}

#[test]
fn r10_a_due_task_waits_for_the_opening_event_that_describes_the_call() {
    // `ended` first: whether the call was predictive is on the `dialing` still on its way.
    let events = scenario(Scenario::PredictiveAgentTalked);
    let ended_only = Call::fold(&events[2..]).unwrap();
    assert_eq!(
        creation_due(&ended_only, &settings(Timing::CallStart), now()),
        CreationDue::Wait
    );
    let everything = Call::fold(&events).unwrap();
    assert_eq!(
        creation_due(&everything, &settings(Timing::CallStart), now()),
        CreationDue::Never(NeverReason::PredictiveTalkAtCallStart)
    );
}

#[test]
fn r10_an_ended_call_whose_opening_event_is_lost_is_created_after_the_grace_period() {
    let events = scenario(Scenario::Outgoing);
    let without_opening = Call::fold(&events[1..]).unwrap();
    let end = without_opening.end().unwrap().at;
    let just_before = end
        .checked_add(jiff::SignedDuration::from_secs(299))
        .unwrap();
    let after = end
        .checked_add(callsync_core::sync::OPENING_EVENT_GRACE)
        .unwrap();
    assert_eq!(
        creation_due(&without_opening, &settings(Timing::CallEnd), just_before),
        CreationDue::Wait
    );
    assert_eq!(
        creation_due(&without_opening, &settings(Timing::CallEnd), after),
        CreationDue::Now
    );
}
