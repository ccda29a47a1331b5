//! The organisation's sync settings (R11) and its Salesforce connection:
//! `GET|PUT /v1/settings` and `GET|PUT /v1/salesforce`.
//!
//! Saving settings refuses what would fail later, at sync time: every
//! problem `Settings::validate` finds, then — when the organisation is
//! connected — every mismatch with the Task schema Salesforce describes now
//! (a mapped custom field that is missing or of the wrong type, a status that
//! is not a Status picklist value). When that check cannot be made, nothing
//! is saved unless the admin asks for it with `?skip_salesforce_check=true`:
//! unchecked settings saved silently would only fail on the next call.
//!
//! The connection's private key is write-only: it is taken by
//! `PUT /v1/salesforce` and stored, and no answer or log line ever holds it
//! (answers show [`ConnectionView`], a fingerprint in place of the key).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use callsync_core::settings::{Settings, SettingsProblem};
use salesforce::ErrorKind;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::{Caller, Scope};
use super::error::{ApiError, ApiResult, ErrorBody, Problem};
use super::extract::{Query, parse_json_body, parse_json_body_with_lists};

/// The settings fields that are lists (R12's never-log list); every other array in a
/// settings body is refused.
const SETTINGS_LISTS: &[&str] = &["policy.never_log_numbers", "policy.never_log_extensions"];
use crate::crm::{self, ConnectionView, CrmError, SalesforceConnection, Step};
use crate::store::OrgRow;

/// The organisation's settings as stored. Settings saved before a field
/// existed read it as its default (`Settings` fills missing fields).
#[utoipa::path(
    get,
    path = "/v1/settings",
    tag = "admin",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The sync settings (R11)", body = Settings),
        (status = 401, description = "No or an unknown API key", body = ErrorBody),
        (status = 403, description = "The key lacks the admin scope", body = ErrorBody),
    )
)]
pub(super) async fn get_settings(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Settings>> {
    caller.require(Scope::Admin)?;
    let org = caller_org(&state, &caller).await?;
    Ok(Json(stored_settings(&org)?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct PutSettingsQuery {
    /// Save after the local checks only, without asking Salesforce. For an
    /// admin who knows Salesforce is down and accepts that a mismatch shows
    /// up in the error log instead.
    #[serde(default)]
    skip_salesforce_check: bool,
}

/// How far saved settings were checked against Salesforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SalesforceCheck {
    /// The Task schema was read now and the settings fit it.
    Passed,
    /// The admin asked to skip the check.
    Skipped,
    /// The organisation has no Salesforce connection yet.
    NotConnected,
}

/// The answer to a save: the settings as stored, and how far they were checked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SavedSettings {
    pub(crate) settings: Settings,
    pub(crate) salesforce_check: SalesforceCheck,
    /// What the check means, in plain words.
    pub(crate) message: String,
}

/// Replaces the organisation's settings (fields left out take their
/// defaults) after checking them; see the module documentation.
#[utoipa::path(
    put,
    path = "/v1/settings",
    tag = "admin",
    params(PutSettingsQuery),
    request_body = Settings,
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Saved; says how far they were checked against Salesforce", body = SavedSettings),
        (status = 400, description = "The body is not a JSON object", body = ErrorBody),
        (status = 422, description = "Invalid settings, or settings that do not fit the Task schema; each problem names its field", body = ErrorBody),
        (status = 409, description = "Salesforce refused the check (for example the connection's user cannot sign in); nothing was saved", body = ErrorBody),
        (status = 503, description = "Salesforce could not be reached for the check; nothing was saved", body = ErrorBody),
        (status = 401, description = "No or an unknown API key", body = ErrorBody),
        (status = 403, description = "The key lacks the admin scope", body = ErrorBody),
    )
)]
pub(super) async fn put_settings(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PutSettingsQuery>,
    body: Bytes,
) -> ApiResult<Json<SavedSettings>> {
    caller.require(Scope::Admin)?;
    let settings: Settings = parse_json_body_with_lists(&body, "settings", SETTINGS_LISTS)?;
    let org = caller_org(&state, &caller).await?;
    Ok(Json(
        save_settings(&state, &org, settings, query.skip_salesforce_check).await?,
    ))
}

/// Checks `settings` and saves them for `org`: the local checks, then —
/// unless `skip_salesforce_check` — the Task schema of the organisation's
/// Salesforce. Nothing invalid is stored. The one way settings are saved:
/// `PUT /v1/settings` and the console both call it.
pub(crate) async fn save_settings(
    state: &AppState,
    org: &OrgRow,
    settings: Settings,
    skip_salesforce_check: bool,
) -> ApiResult<SavedSettings> {
    settings
        .validate()
        .map_err(|problems| refused("the settings are invalid; nothing was saved", problems))?;

    let (salesforce_check, message) = if skip_salesforce_check {
        (
            SalesforceCheck::Skipped,
            "saved after the local checks only, as asked: the settings were not checked \
             against the Task schema in Salesforce; run `callsync check` to do so"
                .to_owned(),
        )
    } else if let Some(connection) = stored_connection(org)? {
        const NOT_SAVED: &str = "the settings were not saved";
        let client = state
            .connections
            .default_user_client(&org.id, &connection)
            .map_err(|error| salesforce_failure(NOT_SAVED, Step::Auth, &error, Some(&settings)))?;
        let schema = crm::task_schema(&client).await.map_err(|error| {
            salesforce_failure(NOT_SAVED, Step::CheckSchema, &error, Some(&settings))
        })?;
        settings
            .validate_against_task_schema(&schema)
            .map_err(|problems| {
                refused(
                    "the settings do not fit the Task in this organisation's Salesforce; \
                     nothing was saved",
                    problems,
                )
            })?;
        (
            SalesforceCheck::Passed,
            "saved; checked against the Task schema in Salesforce".to_owned(),
        )
    } else {
        (
            SalesforceCheck::NotConnected,
            "saved after the local checks only: this organisation has no Salesforce \
             connection yet, so the settings could not be checked against the Task schema; \
             once connected, run `callsync check` or save them again"
                .to_owned(),
        )
    };

    let json = serde_json::to_string(&settings)
        .map_err(|error| ApiError::Internal(anyhow::Error::new(error)))?;
    if !state.store.put_settings(&org.id, &json).await? {
        return Err(ApiError::NotFound("organisation".into()));
    }
    tracing::info!(org = %org.id, check = ?salesforce_check, "settings saved");
    Ok(SavedSettings {
        settings,
        salesforce_check,
        message,
    })
}

/// The organisation's Salesforce connection without its private key.
#[utoipa::path(
    get,
    path = "/v1/salesforce",
    tag = "admin",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The connection, its private key shown only as a fingerprint", body = ConnectionView),
        (status = 404, description = "The organisation has no Salesforce connection yet", body = ErrorBody),
        (status = 409, description = "The stored connection cannot be used; store a new one", body = ErrorBody),
        (status = 401, description = "No or an unknown API key", body = ErrorBody),
        (status = 403, description = "The key lacks the admin scope", body = ErrorBody),
    )
)]
pub(super) async fn get_salesforce(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ConnectionView>> {
    caller.require(Scope::Admin)?;
    let org = caller_org(&state, &caller).await?;
    let connection = stored_connection(&org)?
        .ok_or_else(|| ApiError::NotFound("Salesforce connection".into()))?;
    Ok(Json(connection.redacted()))
}

/// Stores a new Salesforce connection (login URL, consumer key, private key,
/// default username...) after the checks that need no Salesforce, and
/// answers its redacted view. The key is never echoed, not even in errors.
#[utoipa::path(
    put,
    path = "/v1/salesforce",
    tag = "admin",
    request_body = SalesforceConnection,
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Stored; the connection without its private key", body = ConnectionView),
        (status = 400, description = "The body is not a JSON object", body = ErrorBody),
        (status = 422, description = "An invalid or missing field, named", body = ErrorBody),
        (status = 401, description = "No or an unknown API key", body = ErrorBody),
        (status = 403, description = "The key lacks the admin scope", body = ErrorBody),
    )
)]
pub(super) async fn put_salesforce(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<Json<ConnectionView>> {
    caller.require(Scope::Admin)?;
    let connection: SalesforceConnection = parse_json_body(&body, "connection")?;
    let org = caller_org(&state, &caller).await?;
    Ok(Json(store_connection(&state, &org.id, connection).await?))
}

/// Checks a connection and stores it for `org_id` (in `orgs.salesforce`,
/// key included), answering its redacted view. The one way a connection is
/// stored: `PUT /v1/salesforce` and the console both call it.
pub(crate) async fn store_connection(
    state: &AppState,
    org_id: &str,
    connection: SalesforceConnection,
) -> ApiResult<ConnectionView> {
    connection
        .check_new(state.allow_loopback_salesforce)
        .map_err(|error| {
            let message = match &error {
                CrmError::InvalidConnection(message) => message.clone(),
                other => other.to_string(),
            };
            ApiError::invalid(
                "the Salesforce connection is invalid; nothing was stored",
                vec![Problem {
                    field: connection_field(&message).to_owned(),
                    message,
                }],
            )
        })?;
    if !state
        .store
        .put_salesforce(org_id, Some(&connection.to_stored_json()))
        .await?
    {
        return Err(ApiError::NotFound("organisation".into()));
    }
    // The next request builds a client for the new connection.
    state.connections.forget(org_id);
    let view = connection.redacted();
    tracing::info!(
        org = %org_id,
        login_url = %view.login_url,
        flow = ?view.flow,
        key = view.private_key_fingerprint.as_deref().unwrap_or("none"),
        "Salesforce connection stored"
    );
    Ok(view)
}

/// The caller's organisation, as read within the last few seconds (`store/recent.rs`);
/// a key outlives nothing, so a missing one is a deleted organisation.
pub(super) async fn caller_org(state: &AppState, caller: &Caller) -> ApiResult<OrgRow> {
    state
        .store
        .org_recent(&caller.org_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("organisation".into()))
}

/// The organisation's stored settings. Unreadable ones (a hand-edited row)
/// are an internal error: the admin cannot fix them through this answer.
pub(super) fn stored_settings(org: &OrgRow) -> ApiResult<Settings> {
    serde_json::from_str(&org.settings_json).map_err(|error| {
        ApiError::Internal(anyhow::Error::new(error).context(format!(
            "the stored settings of organisation {:?} cannot be read",
            org.id
        )))
    })
}

/// The organisation's stored connection, if it is connected. A stored one
/// that cannot be used is a conflict the admin resolves by storing a new one.
pub(crate) fn stored_connection(org: &OrgRow) -> ApiResult<Option<SalesforceConnection>> {
    org.salesforce_json
        .as_deref()
        .map(SalesforceConnection::from_json)
        .transpose()
        .map_err(|error| {
            ApiError::Conflict(format!(
                "{error}; store a new connection with PUT /v1/salesforce"
            ))
        })
}

/// The error for a Salesforce failure at `step`, prefixed with what was not
/// done (`the settings were not saved`). Salesforce being unreachable or
/// overloaded is 503 (trying again later can work); Salesforce refusing the
/// connection or the request is 409, with the remedy in plain words (R9).
///
/// The answer classifies the failure and never quotes what the other side
/// sent: its message (which may be any text a misconfigured host returns)
/// goes to the log only, and its code is passed on only when it has the
/// shape of a Salesforce error code (`INVALID_SESSION_ID`).
pub(super) fn salesforce_failure(
    not_done: &str,
    step: Step,
    error: &CrmError,
    settings: Option<&Settings>,
) -> ApiError {
    let code = error.code();
    let message = error.message();
    let remedy = error.remedy(step, settings);
    tracing::warn!(%code, %message, step = step.as_str(), "Salesforce failed during an API request");
    let code = if is_error_code(&code) {
        code
    } else {
        "an unrecognised error".to_owned()
    };
    // The generic remedy quotes Salesforce's message; in an answer, say where to read it.
    let remedy = if !message.trim().is_empty() && remedy.contains(message.trim()) {
        "the server log has Salesforce's words; fix the cause in Salesforce or in the \
         connection, then try again"
            .to_owned()
    } else {
        remedy
    };
    match error.kind() {
        ErrorKind::RetryLater { .. }
        | ErrorKind::OutcomeUnknown
        | ErrorKind::DailyLimitExhausted => ApiError::Unavailable(format!(
            "{not_done}: Salesforce could not be reached or is busy ({code}); {remedy}"
        )),
        ErrorKind::Reauthenticate | ErrorKind::Permanent => ApiError::Conflict(format!(
            "{not_done}: Salesforce refused the request ({code}); {remedy}"
        )),
    }
}

/// Whether `code` looks like a Salesforce (or callsync) error code: upper-case
/// letters, digits and underscores, short. Anything else is foreign text.
fn is_error_code(code: &str) -> bool {
    (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

fn refused(message: &str, problems: Vec<SettingsProblem>) -> ApiError {
    ApiError::invalid(
        message,
        problems
            .into_iter()
            .map(|problem| Problem {
                field: problem.field,
                message: problem.reason,
            })
            .collect(),
    )
}

/// The field a `SalesforceConnection::check` message is about: it starts
/// with the field's name.
fn connection_field(message: &str) -> &str {
    const FIELDS: [&str; 7] = [
        "login_url",
        "consumer_key",
        "consumer_secret",
        "private_key_pem",
        "default_username",
        "api_version",
        "extra_root_certificate_pem",
    ];
    let first = message.split_whitespace().next().unwrap_or_default();
    FIELDS
        .into_iter()
        .find(|field| *field == first)
        .unwrap_or(".")
}
