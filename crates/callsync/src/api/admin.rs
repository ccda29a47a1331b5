//! The read and admin endpoints: call history, one call with its events and
//! sync history, the contact list, the error log and its retry, users and
//! their Salesforce links, and the organisation. Every query is scoped to
//! the caller's organisation: no key can see or change another's data.

use axum::Json;
use axum::extract::{Path, State};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AppState;
use super::auth::{Caller, Scope};
use super::error::{ApiError, ApiResult, ErrorBody, Problem};
use super::extract::{Json as JsonBody, Query};
use crate::store::{
    CallFilter, CallRow, ContactRow, ErrorFilter, ErrorRow, HistoryRow, OrgHealth, SyncState,
    UserRow, WaitingCount,
};

const MAX_LIMIT: i64 = 1000;

/// The call kinds as the API names them (`crate::worker::kind_name`).
const KINDS: [&str; 9] = [
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct CallsQuery {
    /// Calls whose first event is at or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Calls whose first event is before this time (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// Calls handled by this callsync user.
    user: Option<String>,
    /// Calls of this kind (R2).
    #[param(inline, value_type = Option<CallKindName>)]
    kind: Option<String>,
    /// Calls in this sync state.
    #[param(inline, value_type = Option<SyncState>)]
    state: Option<String>,
    /// Calls with this customer number, in any format (compared in normal
    /// form with the organisation's default region, R3.6).
    number: Option<String>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// A call kind's API name, for the document.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // a schema: the API takes and shows kinds as strings
pub(super) enum CallKindName {
    Outgoing,
    Incoming,
    TransferInternal,
    TransferExternal,
    TransferAutoForward,
    Voicemail,
    MissedOutgoing,
    MissedIncoming,
    Extension,
}

/// A call as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct CallView {
    call_id: String,
    user_id: Option<String>,
    kind: Option<String>,
    customer_number: Option<String>,
    first_event_at: Timestamp,
    updated_at: Timestamp,
    sync_state: SyncState,
    /// Why the call waits, while it does (R16): `salesforce_unavailable`, `daily_limit`,
    /// `api_budget`, `opening_event`, `create_settling`, `coalescing` (R14: the create
    /// waits a few seconds for the memo) or `connection_revoked` (the Salesforce user who
    /// writes it must connect, again).
    wait_reason: Option<String>,
    /// Why the organisation's logging policy wrote nothing (R12), when `sync_state` is
    /// `skipped`: `policy`, `never_log_list` or `too_short`.
    skip_reason: Option<String>,
    task_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    linked: Option<Value>,
}

impl From<CallRow> for CallView {
    fn from(row: CallRow) -> CallView {
        let linked = row
            .linked()
            .ok()
            .flatten()
            .and_then(|found| serde_json::to_value(found).ok());
        CallView {
            call_id: row.call_id,
            user_id: row.summary.user_id,
            kind: row.summary.kind,
            customer_number: row.summary.customer_number,
            first_event_at: row.first_event_at,
            updated_at: row.updated_at,
            sync_state: row.sync_state,
            wait_reason: row.wait_reason,
            skip_reason: row.skip_reason,
            task_id: row.task_id,
            linked,
        }
    }
}

/// A customer number in the normal form calls are stored with (R3.6):
/// E.164 when it parses, else as written.
pub(crate) fn normal_number(number: &str, settings: &callsync_core::settings::Settings) -> String {
    callsync_core::phone::PhoneNumber::parse(number.trim(), settings.region())
        .map(|parsed| parsed.key().as_str().to_owned())
        .unwrap_or_else(|_| number.trim().to_owned())
}

pub(crate) fn parse_time(
    field: &str,
    text: Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<Timestamp> {
    let text = text?;
    match text.parse::<Timestamp>() {
        Ok(time) => Some(time),
        Err(_) => {
            problems.push(Problem {
                field: field.to_owned(),
                message: format!("{text:?} is not an RFC 3339 time such as 2026-11-24T09:00:00Z"),
            });
            None
        }
    }
}

fn limit(requested: Option<i64>, problems: &mut Vec<Problem>) -> i64 {
    match requested {
        None => 100,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(n) => {
            problems.push(Problem {
                field: "limit".into(),
                message: format!("{n} is out of range: use 1 to {MAX_LIMIT}"),
            });
            100
        }
    }
}

pub(crate) fn refuse_if_any(problems: Vec<Problem>) -> ApiResult<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("invalid query parameters", problems))
    }
}

#[utoipa::path(
    get,
    path = "/v1/calls",
    tag = "admin",
    params(CallsQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Calls, newest first", body = Vec<CallView>),
        (status = 422, description = "Invalid query parameters", body = ErrorBody),
        (status = 401, description = "No or an unknown API key", body = ErrorBody),
        (status = 403, description = "The key lacks the admin scope", body = ErrorBody),
    )
)]
pub(super) async fn list_calls(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<CallsQuery>,
) -> ApiResult<Json<Vec<CallView>>> {
    caller.require(Scope::Admin)?;
    let mut problems = Vec::new();
    let mut filter = CallFilter::for_org(&caller.org_id);
    filter.since = parse_time("since", query.since, &mut problems);
    filter.until = parse_time("until", query.until, &mut problems);
    filter.limit = limit(query.limit, &mut problems);
    if let Some(state_name) = &query.state
        && SyncState::parse(state_name).is_none()
    {
        problems.push(Problem {
            field: "state".into(),
            message: format!(
                "{state_name:?} is not one of pending, waiting, synced, never, failed"
            ),
        });
    }
    if let Some(kind) = &query.kind
        && !KINDS.contains(&kind.as_str())
    {
        problems.push(Problem {
            field: "kind".into(),
            message: format!("{kind:?} is not one of {}", KINDS.join(", ")),
        });
    }
    refuse_if_any(problems)?;
    filter.user_id = query.user;
    filter.kind = query.kind;
    filter.sync_state = query.state;
    if let Some(number) = query.number {
        let org = super::settings::caller_org(&state, &caller).await?;
        let settings = super::settings::stored_settings(&org)?;
        filter.customer_number = Some(normal_number(&number, &settings));
    }
    let calls = state.store.calls(&filter).await?;
    Ok(Json(calls.into_iter().map(CallView::from).collect()))
}

/// One call with everything callsync knows of it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct CallDetail {
    #[serde(flatten)]
    call: CallView,
    #[schema(value_type = Vec<Object>)]
    events: Vec<Value>,
    contact: Option<ContactRow>,
    sync_history: Vec<HistoryRow>,
}

#[utoipa::path(
    get,
    path = "/v1/calls/{call_id}",
    tag = "admin",
    params(("call_id" = String, Path, description = "The call's sequence id")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The call with its events, contact entry and sync history", body = CallDetail),
        (status = 404, description = "No such call in this organisation", body = ErrorBody),
        (status = 401, description = "No or an unknown API key", body = ErrorBody),
        (status = 403, description = "The key lacks the admin scope", body = ErrorBody),
    )
)]
pub(super) async fn get_call(
    State(state): State<AppState>,
    caller: Caller,
    Path(call_id): Path<String>,
) -> ApiResult<Json<CallDetail>> {
    caller.require(Scope::Admin)?;
    let call = state
        .store
        .call(&caller.org_id, &call_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("call {call_id:?}")))?;
    let events = state
        .store
        .call_events(&caller.org_id, &call_id)
        .await?
        .into_iter()
        .filter_map(|event| serde_json::from_str(&event.body_json).ok())
        .collect();
    let contact = match &call.summary.customer_number {
        Some(number) => state.store.contact(&caller.org_id, number).await?,
        None => None,
    };
    let sync_history = state.store.history(&caller.org_id, &call_id).await?;
    Ok(Json(CallDetail {
        call: call.into(),
        events,
        contact,
        sync_history,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitQuery {
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/v1/contacts",
    tag = "admin",
    params(LimitQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The contact list (R4)", body = Vec<ContactRow>),
        (status = 422, description = "Invalid query parameters", body = ErrorBody),
        (status = 401, description = "No or an unknown API key", body = ErrorBody),
        (status = 403, description = "The key lacks the admin scope", body = ErrorBody),
    )
)]
pub(super) async fn list_contacts(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<LimitQuery>,
) -> ApiResult<Json<Vec<ContactRow>>> {
    caller.require(Scope::Admin)?;
    let mut problems = Vec::new();
    let limit = limit(query.limit, &mut problems);
    refuse_if_any(problems)?;
    Ok(Json(state.store.contacts(&caller.org_id, limit).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct ErrorsQuery {
    /// Only entries not yet resolved (the default).
    open: Option<bool>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/v1/errors",
    tag = "admin",
    params(ErrorsQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Error-log entries with remedies (R9)", body = Vec<ErrorRow>),
        (status = 422, description = "Invalid query parameters", body = ErrorBody),
        (status = 401, description = "No or an unknown API key", body = ErrorBody),
        (status = 403, description = "The key lacks the admin scope", body = ErrorBody),
    )
)]
pub(super) async fn list_errors(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ErrorsQuery>,
) -> ApiResult<Json<Vec<ErrorRow>>> {
    caller.require(Scope::Admin)?;
    let mut problems = Vec::new();
    let limit = limit(query.limit, &mut problems);
    refuse_if_any(problems)?;
    let open_only = query.open.unwrap_or(true);
    Ok(Json(
        state.store.errors(&caller.org_id, open_only, limit).await?,
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Retried {
    retried: bool,
    call_id: String,
}

/// Retries the call behind an error-log entry, once its cause is fixed (R9).
#[utoipa::path(
    post,
    path = "/v1/errors/{id}/retry",
    tag = "admin",
    params(("id" = i64, Path, description = "The entry's number")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The call is queued again", body = Retried),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such entry in this organisation", body = ErrorBody),
        (status = 401, description = "No or an unknown API key", body = ErrorBody),
        (status = 403, description = "The key lacks the admin scope", body = ErrorBody),
    )
)]
pub(super) async fn retry_error(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Retried>> {
    caller.require(Scope::Admin)?;
    let entry = state
        .store
        .error(&caller.org_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("error-log entry {id}")))?;
    state
        .store
        .retry_error(&caller.org_id, id, state.now())
        .await?;
    Ok(Json(Retried {
        retried: true,
        call_id: entry.call_id,
    }))
}

/// Which open error-log entries to retry at once: every field given must
/// match; at least one of `code` and `step` is required.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RetryFilter {
    /// Only entries with this error code (`FIELD_CUSTOM_VALIDATION_EXCEPTION`).
    #[schema(min_length = 1, max_length = 255)]
    code: Option<String>,
    /// Only entries of this step (`create_task`, `update_task`, `match`, `auth`…).
    #[schema(min_length = 1, max_length = 255)]
    step: Option<String>,
    /// Only entries that occurred at or after this time (RFC 3339).
    #[schema(format = DateTime)]
    since: Option<String>,
}

/// What a bulk retry queued again.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct RetriedMany {
    /// How many calls are queued again.
    retried: usize,
    /// Those calls, each once.
    call_ids: Vec<String>,
}

/// The store's filter for a bulk retry, or the problems with the request,
/// each naming its field. Shared by the API, the command line and the console.
pub(crate) fn error_filter(
    code: Option<String>,
    step: Option<String>,
    since: Option<String>,
) -> Result<ErrorFilter, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut text = |field: &str, value: Option<String>| match value {
        Some(value) if value.trim().is_empty() || value.chars().count() > 255 => {
            problems.push(Problem {
                field: field.to_owned(),
                message: "must be 1 to 255 characters".into(),
            });
            None
        }
        other => other.map(|value| value.trim().to_owned()),
    };
    let code = text("code", code);
    let step = text("step", step);
    let since = parse_time("since", since, &mut problems);
    if code.is_none() && step.is_none() && problems.is_empty() {
        problems.push(Problem {
            field: "code".into(),
            message: "give `code`, `step` or both: a bulk retry names the kind of error it retries"
                .into(),
        });
    }
    if problems.is_empty() {
        Ok(ErrorFilter { code, step, since })
    } else {
        Err(problems)
    }
}

/// Retries every open error-log entry of one kind once its cause is fixed
/// (R9): the calls behind them are queued again, each once.
#[utoipa::path(
    post,
    path = "/v1/errors/retry",
    tag = "admin",
    request_body = RetryFilter,
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The calls queued again", body = RetriedMany),
        (status = 400, description = "The body is not a JSON object", body = ErrorBody),
        (status = 422, description = "Invalid filter; each problem names its field", body = ErrorBody),
        (status = 401, description = "No or an unknown API key", body = ErrorBody),
        (status = 403, description = "The key lacks the admin scope", body = ErrorBody),
    )
)]
pub(super) async fn retry_errors(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(filter): JsonBody<RetryFilter>,
) -> ApiResult<Json<RetriedMany>> {
    caller.require(Scope::Admin)?;
    let filter = error_filter(filter.code, filter.step, filter.since).map_err(|problems| {
        ApiError::invalid("invalid retry filter; nothing was retried", problems)
    })?;
    let call_ids = state
        .store
        .retry_errors_matching(&caller.org_id, &filter, state.now())
        .await?;
    Ok(Json(RetriedMany {
        retried: call_ids.len(),
        call_ids,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/users",
    tag = "admin",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Users and their Salesforce links", body = Vec<UserRow>),
        (status = 401, description = "No or an unknown API key", body = ErrorBody),
        (status = 403, description = "The key lacks the admin scope", body = ErrorBody),
    )
)]
pub(super) async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<UserRow>>> {
    caller.require(Scope::Admin)?;
    Ok(Json(state.store.users(&caller.org_id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UserLink {
    /// The user's name as people know it.
    #[schema(min_length = 1, max_length = 255)]
    name: String,
    /// The Salesforce username whose credentials write this user's Tasks
    /// (the form of an email address, at most 80 characters).
    #[schema(pattern = "^[^@]+@[^@]+$", max_length = 80)]
    sf_username: Option<String>,
}

/// Creates or changes a user and their link to a Salesforce user.
#[utoipa::path(
    put,
    path = "/v1/users/{user_id}",
    tag = "admin",
    params(("user_id" = String, Path, min_length = 1, max_length = 255)), request_body = UserLink,
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The user as stored", body = UserRow),
        (status = 400, description = "The body is not a JSON object", body = ErrorBody),
        (status = 422, description = "Invalid user", body = ErrorBody),
        (status = 401, description = "No or an unknown API key", body = ErrorBody),
        (status = 403, description = "The key lacks the admin scope", body = ErrorBody),
    )
)]
pub(super) async fn put_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    JsonBody(link): JsonBody<UserLink>,
) -> ApiResult<Json<UserRow>> {
    caller.require(Scope::Admin)?;
    let user = checked_user(&caller.org_id, user_id, link.name, link.sf_username)
        .map_err(|problems| ApiError::invalid("invalid user", problems))?;
    state.store.upsert_user(&user).await?;
    Ok(Json(user))
}

/// A user and their link as they may be stored, or every problem with
/// them, each naming its field. The API and the console both save users
/// through this check.
pub(crate) fn checked_user(
    org_id: &str,
    user_id: String,
    name: String,
    sf_username: Option<String>,
) -> Result<UserRow, Vec<Problem>> {
    let mut problems = Vec::new();
    // Lengths in characters, as the document's JSON Schema counts them.
    if user_id.is_empty() || user_id.chars().count() > 255 {
        problems.push(Problem {
            field: "user_id".into(),
            message: "must be 1 to 255 characters".into(),
        });
    }
    if name.is_empty() || name.chars().count() > 255 {
        problems.push(Problem {
            field: "name".into(),
            message: "must be 1 to 255 characters".into(),
        });
    }
    if let Some(username) = &sf_username {
        // Salesforce usernames have the form of an email address, at most
        // 80 characters.
        let well_formed = username.split_once('@').is_some_and(|(name, domain)| {
            !name.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
        if !well_formed || username.chars().count() > 80 {
            problems.push(Problem {
                field: "sf_username".into(),
                message: format!(
                    "{username:?} is not a Salesforce username (name@domain, at most 80 characters)"
                ),
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(UserRow {
        org_id: org_id.to_owned(),
        user_id,
        name,
        sf_username,
    })
}

/// The caller's organisation, without its secrets.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct OrgView {
    id: String,
    name: String,
    created_at: Timestamp,
    salesforce_connected: bool,
    /// Work not yet done, by why it waits (R16): `due`, a wait reason, or `failed`.
    queue: Vec<WaitingCount>,
    /// Set while the organisation's Salesforce keeps failing and its queue is paused.
    salesforce_health: Option<OrgHealth>,
    /// The local phone index (R15): records, backfill progress, watermark, lag, last error.
    phone_index: crate::index::IndexStatus,
    /// Salesforce API usage as its last answer reported it (R14), and what waits for it.
    api_usage: Option<ApiUsageView>,
}

/// The organisation's Salesforce API usage and callsync's budget in it (R14). The
/// console's overview shows the same view ([`org_api_usage`]).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ApiUsageView {
    #[serde(flatten)]
    pub(crate) usage: crate::store::ApiUsageRow,
    /// `none`; `updates` (past nine tenths of the budget the optional updates wait); or
    /// `all` (past the budget creates wait too).
    pub(crate) deferring: &'static str,
}

/// The organisation's API usage as `GET /v1/org` reports it, `None` before any
/// Salesforce answer reported one.
pub(crate) async fn org_api_usage(
    state: &AppState,
    org_id: &str,
) -> anyhow::Result<Option<ApiUsageView>> {
    Ok(state.store.api_usage(org_id).await?.map(ApiUsageView::of))
}

impl ApiUsageView {
    fn of(usage: crate::store::ApiUsageRow) -> ApiUsageView {
        let used = usage.used as f64;
        let budget = usage.budget as f64;
        let deferring = if usage.allowance == 0 || used < budget * crate::worker::UPDATE_SHARE {
            "none"
        } else if used < budget {
            "updates"
        } else {
            "all"
        };
        ApiUsageView { usage, deferring }
    }
}

#[utoipa::path(
    get,
    path = "/v1/org",
    tag = "admin",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The caller's organisation, without secrets", body = OrgView),
        (status = 401, description = "No or an unknown API key", body = ErrorBody),
        (status = 403, description = "The key lacks the admin scope", body = ErrorBody),
    )
)]
pub(super) async fn get_org(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<OrgView>> {
    caller.require(Scope::Admin)?;
    let org = state
        .store
        .org(&caller.org_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("organisation".into()))?;
    let queue = state
        .store
        .waiting(Some(&caller.org_id), Timestamp::now())
        .await?;
    let salesforce_health = state.store.org_health(&caller.org_id).await?;
    Ok(Json(OrgView {
        id: org.id,
        name: org.name,
        created_at: org.created_at,
        salesforce_connected: org.salesforce_json.is_some(),
        queue,
        salesforce_health,
        phone_index: state.store.indexes().org(&caller.org_id).status(),
        api_usage: org_api_usage(&state, &caller.org_id).await?,
    }))
}

#[cfg(test)]
mod api_usage_tests {
    use super::ApiUsageView;
    use crate::store::ApiUsageRow;

    /// R14: `GET /v1/org` says what the API budget defers — updates from nine tenths of
    /// callsync's budget, creates too at the budget.
    #[test]
    fn r14_the_org_view_says_what_the_api_budget_defers() {
        let view = |used| {
            ApiUsageView::of(ApiUsageRow {
                used,
                allowance: 1_000,
                budget: 900,
                observed_at: jiff::Timestamp::UNIX_EPOCH,
            })
            .deferring
        };
        assert_eq!(view(809), "none");
        assert_eq!(view(810), "updates");
        assert_eq!(view(899), "updates");
        assert_eq!(view(900), "all");
    }
}
