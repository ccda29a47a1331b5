//! Call history with its filters, one call's page (events on a timeline,
//! the linked record and the R3 rule that chose it, the Task fields written,
//! a link to the Task in Salesforce, every sync attempt), and the contact
//! list (R4). Calls are read with the API's store queries, scoped to the
//! session's organisation.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use jiff::civil::Date;
use serde::Deserialize;
use serde_json::Value;

use super::error::{ConsoleError, ConsoleResult};
use super::session::Session;
use super::{Chrome, org_settings};
use crate::api::AppState;
use crate::api::admin::normal_number;
use crate::api::settings::stored_connection;
use crate::store::{CallFilter, CallRow, ContactRow, HistoryRow, SyncState};

/// The call kinds as the store names them (`crate::worker::kind_name`).
pub const KINDS: [&str; 9] = [
    "outgoing",
    "incoming",
    "transfer_internal",
    "transfer_external",
    "transfer_auto_forward",
    "voicemail",
    "missed_outgoing",
    "missed_incoming",
    "extension",
];

/// The history's filters, as the form sends them (empty means any).
#[derive(Debug, Default, Deserialize)]
pub struct CallsQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    number: String,
}

#[derive(Debug)]
/// A call as a row of the history.
pub struct CallLine {
    pub call_id: String,
    pub at: String,
    pub user: String,
    pub kind: String,
    pub number: String,
    pub state: &'static str,
    /// Why the logging policy skipped the call (R12), as a message key (`skip-too_short`).
    pub skip: Option<&'static str>,
    pub task_url: Option<String>,
    pub linked: String,
}

#[derive(Debug, Template)]
#[template(path = "console/calls.html")]
pub struct CallsPage {
    c: Chrome,
    q: CallsQuery,
    kinds: [&'static str; 9],
    states: [&'static str; 6],
    calls: Vec<CallLine>,
    /// Filter problems, each a message key and the field.
    problems: Vec<(&'static str, String)>,
}

impl CallsPage {
    fn selected(&self, field: &str, value: &str) -> bool {
        match field {
            "kind" => self.q.kind == value,
            "state" => self.q.state == value,
            _ => false,
        }
    }
}

/// The Task's page in Salesforce: a record Id after the org's URL opens
/// the record's detail page (https://shreysharma.com/record-id/: "Entering
/// a known Record ID in Salesforce org URL will direct you straight to the
/// details page of that record"). With a My Domain login URL that is the
/// org; `login.salesforce.com` itself would first ask the user to sign in.
pub fn task_url(base: Option<&str>, task_id: &str) -> Option<String> {
    base.map(|base| format!("{}/{task_id}", base.trim_end_matches('/')))
}

fn linked_summary(call: &CallRow) -> String {
    call.linked()
        .ok()
        .flatten()
        .and_then(|found| serde_json::to_value(found).ok())
        .map(|linked| {
            format!(
                "{} {}",
                linked["object"].as_str().unwrap_or_default(),
                linked["record_id"].as_str().unwrap_or_default()
            )
        })
        .unwrap_or_default()
}

/// The message key of an R12 skip reason.
fn skip_key(reason: &str) -> Option<&'static str> {
    SKIP_KEYS
        .iter()
        .find(|key| key.strip_prefix("skip-") == Some(reason))
        .copied()
}

/// The message keys of the R12 skip reasons (`SkipReason::as_str` after `skip-`).
pub const SKIP_KEYS: [&str; 3] = ["skip-policy", "skip-never_log_list", "skip-too_short"];

fn line(call: CallRow, base: Option<&str>, c: &Chrome, zone: &jiff::tz::TimeZone) -> CallLine {
    let linked = linked_summary(&call);
    CallLine {
        at: c.time(&call.first_event_at, zone),
        user: call.summary.user_id.unwrap_or_default(),
        kind: call.summary.kind.unwrap_or_default(),
        number: call.summary.customer_number.unwrap_or_default(),
        state: call.sync_state.as_str(),
        skip: call.skip_reason.as_deref().and_then(skip_key),
        task_url: call.task_id.as_deref().and_then(|id| task_url(base, id)),
        linked,
        call_id: call.call_id,
    }
}

/// The base URL Task links start with: the connection's login URL (a My
/// Domain, or the sandbox).
fn salesforce_base(org: &crate::store::OrgRow) -> Option<String> {
    stored_connection(org)
        .ok()
        .flatten()
        .map(|connection| connection.login_url.trim_end_matches('/').to_owned())
}

/// `GET /console/calls`.
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<CallsQuery>,
) -> ConsoleResult<Html<String>> {
    let settings = org_settings(&session.org);
    let zone = settings.zone();
    let mut problems = Vec::new();
    let mut filter = CallFilter::for_org(&session.org.id);
    let day = |text: &str, field: &str, problems: &mut Vec<(&'static str, String)>| {
        if text.is_empty() {
            return None;
        }
        match text.parse::<Date>() {
            Ok(date) => date.to_zoned(zone.clone()).ok().map(|at| at.timestamp()),
            Err(_) => {
                problems.push(("calls-bad-date", field.to_owned()));
                None
            }
        }
    };
    filter.since = day(&q.from, "from", &mut problems);
    // `to` is inclusive: calls before the next day's start.
    filter.until = day(&q.to, "to", &mut problems)
        .and_then(|at| at.checked_add(jiff::SignedDuration::from_hours(24)).ok());
    filter.user_id = Some(q.user.trim().to_owned()).filter(|user| !user.is_empty());
    filter.kind = KINDS.contains(&q.kind.as_str()).then(|| q.kind.clone());
    filter.sync_state = SyncState::parse(&q.state).map(|state| state.as_str().to_owned());
    filter.customer_number = Some(q.number.trim())
        .filter(|number| !number.is_empty())
        .map(|number| normal_number(number, &settings));
    filter.limit = 200;
    let c = Chrome::new(&session, "calls", "/console/calls");
    let base = salesforce_base(&session.org);
    let calls = state
        .store
        .calls(&filter)
        .await?
        .into_iter()
        .map(|call| line(call, base.as_deref(), &c, &zone))
        .collect();
    let page = CallsPage {
        c,
        q,
        kinds: KINDS,
        states: super::overview::STATES,
        calls,
        problems,
    };
    Ok(Html(page.render()?))
}

#[derive(Debug)]
/// One event on the call's timeline.
pub struct EventLine {
    pub at: String,
    pub kind: String,
    /// The event's other fields, as `name: value` pairs.
    pub details: Vec<(String, String)>,
}

#[derive(Debug, Template)]
#[template(path = "console/call.html")]
pub struct CallPage {
    c: Chrome,
    call: CallLine,
    task_id: Option<String>,
    events: Vec<EventLine>,
    /// The linked record: (object, Id, the R3 rule as a message key, the phone field if any).
    linked: Option<(String, String, &'static str, String)>,
    contact: Option<ContactRow>,
    written: Vec<(String, String)>,
    history: Vec<(String, HistoryRow)>,
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `GET /console/calls/{call_id}`: a call of another organisation is a 404,
/// like one that does not exist.
pub async fn call(
    State(state): State<AppState>,
    session: Session,
    Path(call_id): Path<String>,
) -> ConsoleResult<Html<String>> {
    let org_id = &session.org.id;
    let row = state
        .store
        .call(org_id, &call_id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let settings = org_settings(&session.org);
    let zone = settings.zone();
    let c = Chrome::new(&session, "calls", format!("/console/calls/{call_id}"));
    let events = state
        .store
        .call_events(org_id, &call_id)
        .await?
        .into_iter()
        .map(|event| {
            let body: Value = serde_json::from_str(&event.body_json).unwrap_or(Value::Null);
            let kind = body["type"].as_str().unwrap_or_default().to_owned();
            let details = body
                .as_object()
                .map(|fields| {
                    fields
                        .iter()
                        .filter(|(name, _)| {
                            !matches!(
                                name.as_str(),
                                "id" | "org" | "call_id" | "type" | "occurred_at"
                            )
                        })
                        .map(|(name, value)| (name.clone(), text_of(value)))
                        .collect()
                })
                .unwrap_or_default();
            EventLine {
                at: c.time(&event.occurred_at, &zone),
                kind,
                details,
            }
        })
        .collect();
    let linked = row
        .linked()
        .ok()
        .flatten()
        .and_then(|found| serde_json::to_value(found).ok())
        .map(|linked| {
            let rule = match linked["matched_by"]["by"].as_str() {
                Some("click_to_call") => "call-rule-click-to-call",
                Some("phone") => "call-rule-phone",
                Some("created") => "call-rule-created",
                _ => "call-rule-unknown",
            };
            (
                text_of(&linked["object"]),
                text_of(&linked["record_id"]),
                rule,
                text_of(&linked["matched_by"]["field"]),
            )
        });
    let written = row
        .written()
        .ok()
        .and_then(|written| serde_json::to_value(written).ok())
        .and_then(|written| written["fields"].as_object().cloned())
        .map(|fields| {
            fields
                .iter()
                .map(|(name, value)| (name.clone(), text_of(value)))
                .collect()
        })
        .unwrap_or_default();
    let contact = match &row.summary.customer_number {
        Some(number) => state.store.contact(org_id, number).await?,
        None => None,
    };
    let history = state
        .store
        .history(org_id, &call_id)
        .await?
        .into_iter()
        .map(|line| (c.time(&line.at, &zone), line))
        .collect();
    let base = salesforce_base(&session.org);
    let task_id = row.task_id.clone();
    let page = CallPage {
        call: line(row, base.as_deref(), &c, &zone),
        c,
        task_id,
        events,
        linked,
        contact,
        written,
        history,
    };
    Ok(Html(page.render()?))
}

#[derive(Debug, Template)]
#[template(path = "console/contacts.html")]
pub struct ContactsPage {
    c: Chrome,
    contacts: Vec<(String, ContactRow)>,
}

/// `GET /console/contacts`: the contact list (R4), newest first.
pub async fn contacts(
    State(state): State<AppState>,
    session: Session,
) -> ConsoleResult<Html<String>> {
    let zone = org_settings(&session.org).zone();
    let c = Chrome::new(&session, "contacts", "/console/contacts");
    let contacts = state
        .store
        .contacts(&session.org.id, 500)
        .await?
        .into_iter()
        .map(|row| (c.time(&row.updated_at, &zone), row))
        .collect();
    Ok(Html(ContactsPage { c, contacts }.render()?))
}
