//! The settings page (R11): every setting, the Status picklist from the
//! org's Task, custom-field choices limited to Task fields of the right
//! type, the template placeholders, and a live preview of the Task a sample
//! call would produce — computed by `callsync_core::task::task_fields`, the
//! function a real sync uses — and who would write it (R14, by
//! `callsync_core::writing::writer_username`, as the worker chooses). Saving goes through
//! `api::settings::save_settings` (the check of `PUT /v1/settings`, Task
//! schema included); each problem is shown beside its field and nothing
//! invalid is stored.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use callsync_core::call::Call;
use callsync_core::event::Event;
use callsync_core::ids::SalesforceId;
use callsync_core::policy::{KindChoices, LogChoice, LoggingPolicy, TooShortChoice};
use callsync_core::settings::{
    CustomFieldMapping, Language, OwnerRule, Settings, SubjectTemplates, TaskSchema, Timing,
};
use callsync_core::task::{TaskContext, task_fields};
use callsync_core::template::Placeholder;
use callsync_core::unknown::{UnknownNumberAction, UnknownNumbers};
use callsync_core::writing::{MAX_COALESCE_SECONDS, WriteMode, WriteSettings, writer_username};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ConsoleResult;
use super::i18n::Lang;
use super::session::{Posted, Session};
use super::{Chrome, org_settings};
use crate::api::settings::{SalesforceCheck, save_settings, stored_connection};
use crate::api::{ApiError, AppState};
use crate::store::OrgRow;

/// The form as the browser sends it: every field a string, empty meaning
/// "not set" (the default subject, an unmapped custom field).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SettingsForm {
    timing: String,
    task_status: String,
    subject_outgoing: String,
    subject_incoming: String,
    subject_transfer: String,
    subject_voicemail: String,
    subject_missed_outgoing: String,
    subject_missed_incoming: String,
    comment_template: String,
    cf_dial_started_at: String,
    cf_call_started_at: String,
    cf_call_ended_at: String,
    cf_memo: String,
    cf_call_id: String,
    owner_rule: String,
    owner_user: String,
    default_region: String,
    time_zone: String,
    language: String,
    /// R12: `log`, `log_as_open` or `dont_log` per kind ([`POLICY_KINDS`]); empty = log.
    policy_outgoing: String,
    policy_incoming: String,
    policy_transfer: String,
    policy_voicemail: String,
    policy_missed_outgoing: String,
    policy_missed_incoming: String,
    policy_predictive_no_answer: String,
    policy_open_status: String,
    policy_min_talk_seconds: String,
    /// `log_as_missed` or `dont_log`.
    policy_too_short: String,
    /// One number or extension a line.
    policy_never_log_numbers: String,
    policy_never_log_extensions: String,
    /// R13: `unlinked`, `create_lead` or `create_contact`; empty = unlinked.
    unknown_action: String,
    unknown_last_name_template: String,
    unknown_company_template: String,
    unknown_lead_source: String,
    unknown_account: String,
    /// "on" to let Salesforce's assignment rules reassign created Leads.
    unknown_auto_assign: String,
    /// R14: `as_each_user` or `integration_user`; empty = as each user.
    write_mode: String,
    /// R14: the integration user's Salesforce username; empty = the connection's default user.
    write_integration_username: String,
    /// R14: the coalescing window in whole seconds; empty = 0 (no wait).
    write_coalesce_seconds: String,
    /// "on" to save without the Salesforce check (Salesforce is down).
    skip_salesforce_check: String,
}

/// The R12 kinds, as form-field suffixes and `KindChoices` fields.
pub const POLICY_KINDS: [&str; 7] = [
    "outgoing",
    "incoming",
    "transfer",
    "voicemail",
    "missed_outgoing",
    "missed_incoming",
    "predictive_no_answer",
];

fn choice_name(choice: LogChoice) -> &'static str {
    match choice {
        LogChoice::Log => "log",
        LogChoice::LogAsOpen => "log_as_open",
        LogChoice::DontLog => "dont_log",
    }
}

fn lines(list: &[String]) -> String {
    list.join("\n")
}

fn parse_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|text| !text.is_empty())
}

impl SettingsForm {
    fn from_settings(settings: &Settings) -> SettingsForm {
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        let (owner_rule, owner_user) = match &settings.owner_rule {
            OwnerRule::Handler => ("handler", String::new()),
            OwnerRule::RecordOwner => ("record_owner", String::new()),
            OwnerRule::Fixed { user } => ("fixed", user.to_18().to_owned()),
        };
        SettingsForm {
            timing: match settings.timing {
                Timing::CallStart => "call_start",
                Timing::CallEnd => "call_end",
            }
            .into(),
            task_status: settings.task_status.clone(),
            subject_outgoing: text(&settings.subjects.outgoing),
            subject_incoming: text(&settings.subjects.incoming),
            subject_transfer: text(&settings.subjects.transfer),
            subject_voicemail: text(&settings.subjects.voicemail),
            subject_missed_outgoing: text(&settings.subjects.missed_outgoing),
            subject_missed_incoming: text(&settings.subjects.missed_incoming),
            comment_template: settings.comment_template.clone(),
            cf_dial_started_at: text(&settings.custom_fields.dial_started_at),
            cf_call_started_at: text(&settings.custom_fields.call_started_at),
            cf_call_ended_at: text(&settings.custom_fields.call_ended_at),
            cf_memo: text(&settings.custom_fields.memo),
            cf_call_id: text(&settings.custom_fields.call_id),
            owner_rule: owner_rule.into(),
            owner_user,
            default_region: settings.default_region.clone(),
            time_zone: settings.time_zone.clone(),
            language: match settings.language {
                Language::Ja => "ja",
                Language::En => "en",
            }
            .into(),
            policy_outgoing: choice_name(settings.policy.kinds.outgoing).into(),
            policy_incoming: choice_name(settings.policy.kinds.incoming).into(),
            policy_transfer: choice_name(settings.policy.kinds.transfer).into(),
            policy_voicemail: choice_name(settings.policy.kinds.voicemail).into(),
            policy_missed_outgoing: choice_name(settings.policy.kinds.missed_outgoing).into(),
            policy_missed_incoming: choice_name(settings.policy.kinds.missed_incoming).into(),
            policy_predictive_no_answer: choice_name(settings.policy.kinds.predictive_no_answer)
                .into(),
            policy_open_status: settings.policy.open_status.clone(),
            policy_min_talk_seconds: settings.policy.min_talk_seconds.to_string(),
            policy_too_short: match settings.policy.too_short {
                TooShortChoice::LogAsMissed => "log_as_missed",
                TooShortChoice::DontLog => "dont_log",
            }
            .into(),
            policy_never_log_numbers: lines(&settings.policy.never_log_numbers),
            policy_never_log_extensions: lines(&settings.policy.never_log_extensions),
            unknown_action: match settings.unknown_numbers.action {
                UnknownNumberAction::Unlinked => "unlinked",
                UnknownNumberAction::CreateLead => "create_lead",
                UnknownNumberAction::CreateContact => "create_contact",
            }
            .into(),
            unknown_last_name_template: settings.unknown_numbers.last_name_template.clone(),
            unknown_company_template: settings.unknown_numbers.company_template.clone(),
            unknown_lead_source: text(&settings.unknown_numbers.lead_source),
            unknown_account: settings
                .unknown_numbers
                .account
                .as_ref()
                .map(|id| id.to_18().to_owned())
                .unwrap_or_default(),
            unknown_auto_assign: if settings.unknown_numbers.auto_assign {
                "on".into()
            } else {
                String::new()
            },
            write_mode: match settings.writing.mode {
                WriteMode::AsEachUser => "as_each_user",
                WriteMode::IntegrationUser => "integration_user",
            }
            .into(),
            write_integration_username: text(&settings.writing.integration_username),
            write_coalesce_seconds: settings.writing.coalesce_seconds.to_string(),
            skip_salesforce_check: String::new(),
        }
    }

    /// The R12 choice of the form field for `kind`.
    fn policy_choice(&self, kind: &str) -> &str {
        match kind {
            "outgoing" => &self.policy_outgoing,
            "incoming" => &self.policy_incoming,
            "transfer" => &self.policy_transfer,
            "voicemail" => &self.policy_voicemail,
            "missed_outgoing" => &self.policy_missed_outgoing,
            "missed_incoming" => &self.policy_missed_incoming,
            _ => &self.policy_predictive_no_answer,
        }
    }

    /// The R12 policy the form describes; a value that cannot be read is a problem under
    /// its settings field. Fields left out (an older form) keep their defaults.
    fn to_policy(&self, problems: &mut BTreeMap<String, String>) -> LoggingPolicy {
        let defaults = LoggingPolicy::default();
        let mut kinds = KindChoices::default();
        for kind in POLICY_KINDS {
            let choice = match self.policy_choice(kind) {
                "" | "log" => LogChoice::Log,
                "log_as_open" => LogChoice::LogAsOpen,
                "dont_log" => LogChoice::DontLog,
                other => {
                    problems.insert(
                        format!("policy.kinds.{kind}"),
                        format!("{other:?} is not log, log_as_open or dont_log"),
                    );
                    LogChoice::Log
                }
            };
            match kind {
                "outgoing" => kinds.outgoing = choice,
                "incoming" => kinds.incoming = choice,
                "transfer" => kinds.transfer = choice,
                "voicemail" => kinds.voicemail = choice,
                "missed_outgoing" => kinds.missed_outgoing = choice,
                "missed_incoming" => kinds.missed_incoming = choice,
                _ => kinds.predictive_no_answer = choice,
            }
        }
        let min_talk_seconds = match self.policy_min_talk_seconds.trim() {
            "" => 0,
            text => text.parse().unwrap_or_else(|_| {
                problems.insert(
                    "policy.min_talk_seconds".into(),
                    format!("{text:?} is not a whole number of seconds"),
                );
                0
            }),
        };
        let too_short = match self.policy_too_short.as_str() {
            "" | "log_as_missed" => TooShortChoice::LogAsMissed,
            "dont_log" => TooShortChoice::DontLog,
            other => {
                problems.insert(
                    "policy.too_short".into(),
                    format!("{other:?} is not log_as_missed or dont_log"),
                );
                TooShortChoice::LogAsMissed
            }
        };
        LoggingPolicy {
            kinds,
            open_status: optional(&self.policy_open_status).unwrap_or(defaults.open_status),
            min_talk_seconds,
            too_short,
            never_log_numbers: parse_lines(&self.policy_never_log_numbers),
            never_log_extensions: parse_lines(&self.policy_never_log_extensions),
        }
    }

    /// The R13 settings the form describes.
    fn to_unknown_numbers(&self, problems: &mut BTreeMap<String, String>) -> UnknownNumbers {
        let defaults = UnknownNumbers::default();
        let action = match self.unknown_action.as_str() {
            "" | "unlinked" => UnknownNumberAction::Unlinked,
            "create_lead" => UnknownNumberAction::CreateLead,
            "create_contact" => UnknownNumberAction::CreateContact,
            other => {
                problems.insert(
                    "unknown_numbers.action".into(),
                    format!("{other:?} is not unlinked, create_lead or create_contact"),
                );
                UnknownNumberAction::Unlinked
            }
        };
        let account = match optional(&self.unknown_account) {
            None => None,
            Some(text) => match SalesforceId::parse(&text) {
                Ok(id) => Some(id),
                Err(error) => {
                    problems.insert(
                        "unknown_numbers.account".into(),
                        format!("{text:?} is not a Salesforce Id: {error}"),
                    );
                    None
                }
            },
        };
        UnknownNumbers {
            action,
            last_name_template: optional(&self.unknown_last_name_template)
                .unwrap_or(defaults.last_name_template),
            company_template: optional(&self.unknown_company_template)
                .unwrap_or(defaults.company_template),
            lead_source: optional(&self.unknown_lead_source),
            account,
            auto_assign: self.unknown_auto_assign == "on",
        }
    }

    /// The R14 write settings the form describes. Only what cannot be read is a problem
    /// here; `WriteSettings::problems` (through `Settings::validate`, as `PUT /v1/settings`
    /// does) judges the rest when the form is saved.
    fn to_writing(&self, problems: &mut BTreeMap<String, String>) -> WriteSettings {
        let mode = match self.write_mode.as_str() {
            "" | "as_each_user" => WriteMode::AsEachUser,
            "integration_user" => WriteMode::IntegrationUser,
            other => {
                problems.insert(
                    "writing.mode".into(),
                    format!("{other:?} is not as_each_user or integration_user"),
                );
                WriteMode::AsEachUser
            }
        };
        let coalesce_seconds = match self.write_coalesce_seconds.trim() {
            "" => 0,
            // A number too big for `u32` is still a number: the R11 check names the limit.
            text => match text.parse::<u64>() {
                Ok(seconds) => u32::try_from(seconds).unwrap_or(u32::MAX),
                Err(_) => {
                    problems.insert(
                        "writing.coalesce_seconds".into(),
                        format!("{text:?} is not a whole number of seconds"),
                    );
                    0
                }
            },
        };
        WriteSettings {
            mode,
            integration_username: optional(&self.write_integration_username),
            coalesce_seconds,
        }
    }

    /// The settings the form describes, or the problems of the fields that
    /// cannot even be read (each under the settings field it is about).
    fn to_settings(&self) -> Result<Settings, BTreeMap<String, String>> {
        let mut problems = BTreeMap::new();
        let timing = match self.timing.as_str() {
            "call_start" => Timing::CallStart,
            "call_end" => Timing::CallEnd,
            other => {
                problems.insert(
                    "timing".into(),
                    format!("{other:?} is not call_start or call_end"),
                );
                Timing::CallEnd
            }
        };
        let language = match self.language.as_str() {
            "en" => Language::En,
            "ja" => Language::Ja,
            other => {
                problems.insert("language".into(), format!("{other:?} is not ja or en"));
                Language::Ja
            }
        };
        let owner_rule = match self.owner_rule.as_str() {
            "handler" => OwnerRule::Handler,
            "record_owner" => OwnerRule::RecordOwner,
            "fixed" => match SalesforceId::parse(self.owner_user.trim()) {
                Ok(user) => OwnerRule::Fixed { user },
                Err(error) => {
                    problems.insert(
                        "owner_rule.user".into(),
                        format!("{:?} is not a Salesforce user Id: {error}", self.owner_user),
                    );
                    OwnerRule::Handler
                }
            },
            other => {
                problems.insert(
                    "owner_rule".into(),
                    format!("{other:?} is not handler, record_owner or fixed"),
                );
                OwnerRule::Handler
            }
        };
        let policy = self.to_policy(&mut problems);
        let unknown_numbers = self.to_unknown_numbers(&mut problems);
        let writing = self.to_writing(&mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Settings {
            timing,
            task_status: self.task_status.trim().to_owned(),
            subjects: SubjectTemplates {
                outgoing: optional(&self.subject_outgoing),
                incoming: optional(&self.subject_incoming),
                transfer: optional(&self.subject_transfer),
                voicemail: optional(&self.subject_voicemail),
                missed_outgoing: optional(&self.subject_missed_outgoing),
                missed_incoming: optional(&self.subject_missed_incoming),
            },
            comment_template: self.comment_template.replace("\r\n", "\n"),
            custom_fields: CustomFieldMapping {
                dial_started_at: optional(&self.cf_dial_started_at),
                call_started_at: optional(&self.cf_call_started_at),
                call_ended_at: optional(&self.cf_call_ended_at),
                memo: optional(&self.cf_memo),
                call_id: optional(&self.cf_call_id),
            },
            owner_rule,
            writing,
            default_region: self.default_region.trim().to_owned(),
            time_zone: self.time_zone.trim().to_owned(),
            language,
            policy,
            unknown_numbers,
        })
    }
}

#[derive(Debug)]
/// The Task's fields as far as the page needs them, or why they are unknown.
struct TaskChoices {
    statuses: Vec<String>,
    datetime_fields: Vec<String>,
    multipicklist_fields: Vec<String>,
    /// Unique External ID text fields, for the R14 call id.
    unique_id_fields: Vec<String>,
    /// A message key when the schema could not be read.
    unknown: Option<&'static str>,
}

async fn task_choices(state: &AppState, org: &OrgRow) -> TaskChoices {
    let empty = |why| TaskChoices {
        statuses: Vec::new(),
        datetime_fields: Vec::new(),
        multipicklist_fields: Vec::new(),
        unique_id_fields: Vec::new(),
        unknown: Some(why),
    };
    let Ok(Some(connection)) = stored_connection(org) else {
        return empty("settings-schema-not-connected");
    };
    let Ok(client) = state.connections.default_user_client(&org.id, &connection) else {
        return empty("settings-schema-unreachable");
    };
    let schema: TaskSchema = match crate::crm::task_schema(&client).await {
        Ok(schema) => schema,
        Err(error) => {
            tracing::warn!(org = %org.id, code = %error.code(), "Task schema unreadable for the settings page");
            return empty("settings-schema-unreachable");
        }
    };
    let custom_of = |field_type: &str| {
        let mut names: Vec<String> = schema
            .fields
            .iter()
            .filter(|field| field.name.ends_with("__c") && field.field_type == field_type)
            .map(|field| field.name.clone())
            .collect();
        names.sort();
        names
    };
    TaskChoices {
        statuses: schema
            .field("Status")
            .map(|field| field.picklist_values.clone())
            .unwrap_or_default(),
        datetime_fields: custom_of("datetime"),
        multipicklist_fields: custom_of("multipicklist"),
        unique_id_fields: {
            let mut names: Vec<String> = schema
                .fields
                .iter()
                .filter(|field| {
                    field.name.ends_with("__c")
                        && field.field_type == "string"
                        && field.external_id
                        && field.unique
                })
                .map(|field| field.name.clone())
                .collect();
            names.sort();
            names
        },
        unknown: None,
    }
}

/// A sample answered outgoing call with a memo and a voice analysis, for
/// the preview. Its events go through `Event::from_value` and `Call::fold`,
/// as real events do.
fn sample_call(org_id: &str, now: Timestamp) -> Option<Call> {
    let at = |seconds_ago: i64| {
        now.checked_sub(jiff::SignedDuration::from_secs(seconds_ago))
            .unwrap_or(now)
            .to_string()
    };
    let base = json!({
        "org": org_id, "call_id": "sample-0001", "user": "sample-user",
        "direction": "outbound", "customer_number": "03-1234-5678"
    });
    let bodies = [
        json!({"id": "s1", "type": "dialing", "occurred_at": at(240)}),
        json!({"id": "s2", "type": "answered", "occurred_at": at(230)}),
        json!({"id": "s3", "type": "ended", "occurred_at": at(25), "talk_seconds": 205, "outcome": "answered"}),
        json!({"id": "s4", "type": "memo_saved", "occurred_at": at(20), "values": ["見込みあり", "再架電"], "note": "来週折り返し"}),
        json!({"id": "s5", "type": "analysis_completed", "occurred_at": at(10), "speech_recognition": "お世話になっております。", "summary": "来週の打ち合わせを調整"}),
    ];
    let events: Vec<Event> = bodies
        .into_iter()
        .filter_map(|body| {
            let mut event = base.clone();
            if let (Value::Object(target), Value::Object(extra)) = (&mut event, body) {
                target.extend(extra);
            }
            Event::from_value(event).ok()
        })
        .collect();
    Call::fold(&events).ok()
}

/// The Task fields the sample call would get with `settings`: (name, value).
fn task_preview(settings: &Settings, org_id: &str, now: Timestamp) -> Vec<(String, String)> {
    let Some(call) = sample_call(org_id, now) else {
        return Vec::new();
    };
    let context = TaskContext {
        user_name: Some("山田 太郎".into()),
        call_url: Some("https://phone.example/calls/sample-0001".into()),
        ..TaskContext::default()
    };
    task_fields(&call, settings, &context, now)
        .map(|fields| {
            fields
                .iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(name, value)| {
                    let text = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    (name.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Who would write the sample call's Task with `settings` (R14), in words: the handler's
/// own Salesforce user, or the integration user as `writer_username` (the function the
/// worker uses) chooses it — the connection's default user when no username is set.
fn writer_line(lang: Lang, settings: &Settings, org: &OrgRow) -> String {
    match settings.writing.mode {
        WriteMode::AsEachUser => lang.text("settings-preview-writer-each-user"),
        WriteMode::IntegrationUser => {
            let default_username = stored_connection(org)
                .ok()
                .flatten()
                .map(|connection| connection.default_username)
                .unwrap_or_default();
            match writer_username(settings, "", &default_username) {
                "" => lang.text("settings-preview-writer-default-user"),
                username => {
                    lang.text_with("settings-preview-writer-integration", "username", username)
                }
            }
        }
    }
}

#[derive(Debug)]
/// One field of the form with its label, value and problem.
pub struct Row {
    /// The form field's name (`subject_outgoing`, `cf_memo`).
    pub name: String,
    /// The settings field problems name (`subjects.outgoing`).
    pub field: String,
    pub label: String,
    pub value: String,
    /// The subject's default, or the custom field's choices.
    pub default: String,
    pub choices: Vec<String>,
    pub problem: Option<String>,
}

#[derive(Debug, Template)]
#[template(path = "console/settings.html")]
pub struct SettingsPage {
    c: Chrome,
    f: SettingsForm,
    statuses: Vec<String>,
    subjects: Vec<Row>,
    custom_fields: Vec<Row>,
    /// (value, label, chosen) of each owner rule.
    owner_rules: Vec<(&'static str, String, bool)>,
    /// The Status values for the R12 open status (with the current one).
    open_statuses: Vec<String>,
    /// R12: one select per kind.
    policy_kinds: Vec<Row>,
    /// (value, label) of each R12 choice.
    log_choices: Vec<(&'static str, String)>,
    /// (value, label) of each R13 action.
    unknown_actions: Vec<(&'static str, String)>,
    /// R14: the longest coalescing window R11 accepts, for the input and its hint.
    max_coalesce_seconds: u32,
    schema_unknown: Option<&'static str>,
    placeholders: Vec<&'static str>,
    /// Problems by settings field (`custom_fields.memo`).
    problems: BTreeMap<String, String>,
    /// A problem that belongs to no field (Salesforce could not be asked).
    general: Option<String>,
    /// What saving did, in plain words.
    saved: Option<String>,
    preview: Vec<(String, String)>,
    /// Who would write the previewed Task (R14), when the settings can be read.
    writer: Option<String>,
}

/// The preview block of the settings page, alone, for htmx.
#[derive(Debug, Template)]
#[template(path = "console/settings.html", block = "preview")]
pub struct PreviewBlock {
    c: Chrome,
    preview: Vec<(String, String)>,
    writer: Option<String>,
}

impl SettingsPage {
    fn problem(&self, field: &str) -> Option<&String> {
        self.problems.get(field)
    }
}

/// The choices for a select: the Task's own, plus the current value when
/// Salesforce does not offer it (so it shows, and saving says why).
fn choices(offered: &[String], current: &str) -> Vec<String> {
    let mut choices = offered.to_vec();
    if !current.is_empty() && !choices.iter().any(|choice| choice == current) {
        choices.push(current.to_owned());
    }
    choices
}

fn subject_rows(c: &Chrome, form: &SettingsForm, problems: &BTreeMap<String, String>) -> Vec<Row> {
    use callsync_core::call::CallKind;
    let language = form.to_settings().map(|s| s.language).unwrap_or_default();
    [
        ("outgoing", &form.subject_outgoing, CallKind::Outgoing),
        ("incoming", &form.subject_incoming, CallKind::Incoming),
        (
            "transfer",
            &form.subject_transfer,
            CallKind::Transfer(callsync_core::event::TransferKind::Internal),
        ),
        ("voicemail", &form.subject_voicemail, CallKind::Voicemail),
        (
            "missed_outgoing",
            &form.subject_missed_outgoing,
            CallKind::MissedOutgoing,
        ),
        (
            "missed_incoming",
            &form.subject_missed_incoming,
            CallKind::MissedIncoming,
        ),
    ]
    .into_iter()
    .map(|(kind, value, call_kind)| {
        let field = format!("subjects.{kind}");
        Row {
            name: format!("subject_{kind}"),
            label: c.t_with(
                "settings-subject",
                "kind",
                c.kind_label(match kind {
                    "transfer" => "transfer_internal",
                    other => other,
                }),
            ),
            value: value.clone(),
            default: language.kind_label(call_kind).to_owned(),
            choices: Vec::new(),
            problem: problems.get(&field).cloned(),
            field,
        }
    })
    .collect()
}

fn custom_field_rows(
    c: &Chrome,
    form: &SettingsForm,
    task: &TaskChoices,
    problems: &BTreeMap<String, String>,
) -> Vec<Row> {
    [
        (
            "dial_started_at",
            c.t("settings-cf-dial-started-at"),
            &form.cf_dial_started_at,
            &task.datetime_fields,
        ),
        (
            "call_started_at",
            c.t("settings-cf-call-started-at"),
            &form.cf_call_started_at,
            &task.datetime_fields,
        ),
        (
            "call_ended_at",
            c.t("settings-cf-call-ended-at"),
            &form.cf_call_ended_at,
            &task.datetime_fields,
        ),
        (
            "memo",
            c.t("settings-cf-memo"),
            &form.cf_memo,
            &task.multipicklist_fields,
        ),
        (
            "call_id",
            c.t("settings-cf-call-id"),
            &form.cf_call_id,
            &task.unique_id_fields,
        ),
    ]
    .into_iter()
    .map(|(name, label, value, offered)| {
        let field = format!("custom_fields.{name}");
        Row {
            name: format!("cf_{name}"),
            label,
            value: value.clone(),
            default: String::new(),
            choices: choices(offered, value),
            problem: problems.get(&field).cloned(),
            field,
        }
    })
    .collect()
}

async fn render(
    state: &AppState,
    session: &Session,
    form: SettingsForm,
    problems: BTreeMap<String, String>,
    general: Option<String>,
    saved: Option<String>,
) -> ConsoleResult<String> {
    let task = task_choices(state, &session.org).await;
    let readable = form.to_settings().ok();
    let preview = readable
        .as_ref()
        .map(|settings| task_preview(settings, &session.org.id, state.now()))
        .unwrap_or_default();
    // A username R11 refuses is shown beside its field, not as the writer.
    let writer = readable
        .as_ref()
        .filter(|settings| settings.writing.problems().is_empty())
        .map(|settings| writer_line(session.lang, settings, &session.org));
    let c = Chrome::new(session, "settings", "/console/settings");
    let page = SettingsPage {
        subjects: subject_rows(&c, &form, &problems),
        policy_kinds: POLICY_KINDS
            .iter()
            .map(|kind| {
                let field = format!("policy.kinds.{kind}");
                Row {
                    name: format!("policy_{kind}"),
                    label: c.t(&format!("settings-policy-{}", kind.replace('_', "-"))),
                    value: match form.policy_choice(kind) {
                        "" => "log".to_owned(),
                        other => other.to_owned(),
                    },
                    default: String::new(),
                    choices: Vec::new(),
                    problem: problems.get(&field).cloned(),
                    field,
                }
            })
            .collect(),
        log_choices: vec![
            ("log", c.t("settings-policy-log")),
            ("log_as_open", c.t("settings-policy-log-as-open")),
            ("dont_log", c.t("settings-policy-dont-log")),
        ],
        unknown_actions: vec![
            ("unlinked", c.t("settings-unknown-unlinked")),
            ("create_lead", c.t("settings-unknown-create-lead")),
            ("create_contact", c.t("settings-unknown-create-contact")),
        ],
        max_coalesce_seconds: MAX_COALESCE_SECONDS,
        custom_fields: custom_field_rows(&c, &form, &task, &problems),
        owner_rules: vec![
            (
                "handler",
                c.t("settings-owner-handler"),
                form.owner_rule == "handler",
            ),
            (
                "record_owner",
                c.t("settings-owner-record-owner"),
                form.owner_rule == "record_owner",
            ),
            (
                "fixed",
                c.t("settings-owner-fixed"),
                form.owner_rule == "fixed",
            ),
        ],
        statuses: choices(&task.statuses, &form.task_status),
        open_statuses: choices(&task.statuses, &form.policy_open_status),
        c,
        f: form,
        schema_unknown: task.unknown,
        placeholders: Placeholder::ALL.iter().map(|p| p.name()).collect(),
        problems,
        general,
        saved,
        preview,
        writer,
    };
    Ok(page.render()?)
}

/// `GET /console/settings`.
pub async fn page(State(state): State<AppState>, session: Session) -> ConsoleResult<Html<String>> {
    let form = SettingsForm::from_settings(&org_settings(&session.org));
    Ok(Html(
        render(&state, &session, form, BTreeMap::new(), None, None).await?,
    ))
}

/// `POST /console/settings`: saves through the API's check. A refusal
/// renders the form again as sent, each problem beside its field (422).
pub async fn save(
    State(state): State<AppState>,
    posted: Posted<SettingsForm>,
) -> ConsoleResult<Response> {
    let Posted { session, form } = posted;
    let settings = match form.to_settings() {
        Ok(settings) => settings,
        Err(problems) => {
            let html = render(&state, &session, form, problems, None, None).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response());
        }
    };
    let skip = form.skip_salesforce_check == "on";
    match save_settings(&state, &session.org, settings, skip).await {
        Ok(saved) => {
            let message = match saved.salesforce_check {
                SalesforceCheck::Passed => session.lang.text("settings-saved-checked"),
                SalesforceCheck::Skipped => session.lang.text("settings-saved-skipped"),
                SalesforceCheck::NotConnected => session.lang.text("settings-saved-not-connected"),
            };
            let form = SettingsForm::from_settings(&saved.settings);
            let html = render(&state, &session, form, BTreeMap::new(), None, Some(message)).await?;
            Ok(Html(html).into_response())
        }
        Err(ApiError::Invalid { message, problems }) => {
            let problems = problems
                .into_iter()
                .map(|problem| (problem.field, problem.message))
                .collect();
            let html = render(&state, &session, form, problems, Some(message), None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
        }
        Err(error @ (ApiError::Conflict(_) | ApiError::Unavailable(_))) => {
            let html = render(
                &state,
                &session,
                form,
                BTreeMap::new(),
                Some(error.to_string()),
                None,
            )
            .await?;
            Ok((StatusCode::CONFLICT, Html(html)).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /console/settings/preview`: the Task the sample call would get
/// with the settings as typed, not saved. htmx asks for the preview block
/// alone; without JavaScript the whole page comes back.
pub async fn preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    posted: Posted<SettingsForm>,
) -> ConsoleResult<Response> {
    let Posted { session, form } = posted;
    let (preview_fields, writer, problems) = match form.to_settings() {
        Ok(settings) => match settings.validate() {
            Ok(()) => (
                task_preview(&settings, &session.org.id, state.now()),
                Some(writer_line(session.lang, &settings, &session.org)),
                BTreeMap::new(),
            ),
            Err(problems) => (
                Vec::new(),
                None,
                problems
                    .into_iter()
                    .map(|problem| (problem.field, problem.reason))
                    .collect(),
            ),
        },
        Err(problems) => (Vec::new(), None, problems),
    };
    if headers.contains_key("hx-request") {
        let block = PreviewBlock {
            c: Chrome::new(&session, "settings", "/console/settings"),
            preview: preview_fields,
            writer,
        };
        return Ok(Html(block.render()?).into_response());
    }
    Ok(Html(render(&state, &session, form, problems, None, None).await?).into_response())
}
