//! The settings page (R11): every setting, the Status picklist from the
//! org's Task, custom-field choices limited to Task fields of the right
//! type, the template placeholders, and a live preview of the Task a sample
//! call would produce — computed by `callsync_core::task::task_fields`, the
//! function a real sync uses. Saving goes through
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
use callsync_core::settings::{
    CustomFieldMapping, Language, OwnerRule, Settings, SubjectTemplates, TaskSchema, Timing,
};
use callsync_core::task::{TaskContext, task_fields};
use callsync_core::template::Placeholder;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ConsoleResult;
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
    /// "on" to save without the Salesforce check (Salesforce is down).
    skip_salesforce_check: String,
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
            skip_salesforce_check: String::new(),
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
            // R14's write settings are not on this form: `save` keeps the organisation's.
            writing: Default::default(),
            default_region: self.default_region.trim().to_owned(),
            time_zone: self.time_zone.trim().to_owned(),
            language,
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
    schema_unknown: Option<&'static str>,
    placeholders: Vec<&'static str>,
    /// Problems by settings field (`custom_fields.memo`).
    problems: BTreeMap<String, String>,
    /// A problem that belongs to no field (Salesforce could not be asked).
    general: Option<String>,
    /// What saving did, in plain words.
    saved: Option<String>,
    preview: Vec<(String, String)>,
}

/// The preview block of the settings page, alone, for htmx.
#[derive(Debug, Template)]
#[template(path = "console/settings.html", block = "preview")]
pub struct PreviewBlock {
    c: Chrome,
    preview: Vec<(String, String)>,
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
    let preview = form
        .to_settings()
        .map(|settings| task_preview(&settings, &session.org.id, state.now()))
        .unwrap_or_default();
    let c = Chrome::new(session, "settings", "/console/settings");
    let page = SettingsPage {
        subjects: subject_rows(&c, &form, &problems),
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
        c,
        f: form,
        schema_unknown: task.unknown,
        placeholders: Placeholder::ALL.iter().map(|p| p.name()).collect(),
        problems,
        general,
        saved,
        preview,
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
    let mut settings = match form.to_settings() {
        Ok(settings) => settings,
        Err(problems) => {
            let html = render(&state, &session, form, problems, None, None).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response());
        }
    };
    // The form does not show the R14 write settings (set through the API): saving it
    // keeps what the organisation has rather than resetting them.
    if let Ok(stored) = serde_json::from_str::<Settings>(&session.org.settings_json) {
        settings.writing = stored.writing;
    }
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
    let (preview_fields, problems) = match form.to_settings() {
        Ok(settings) => match settings.validate() {
            Ok(()) => (
                task_preview(&settings, &session.org.id, state.now()),
                BTreeMap::new(),
            ),
            Err(problems) => (
                Vec::new(),
                problems
                    .into_iter()
                    .map(|problem| (problem.field, problem.reason))
                    .collect(),
            ),
        },
        Err(problems) => (Vec::new(), problems),
    };
    if headers.contains_key("hx-request") {
        let block = PreviewBlock {
            c: Chrome::new(&session, "settings", "/console/settings"),
            preview: preview_fields,
        };
        return Ok(Html(block.render()?).into_response());
    }
    Ok(Html(render(&state, &session, form, problems, None, None).await?).into_response())
}
