//! The inspection and control endpoints under `/__sandbox/`, a path real Salesforce does
//! not have: reset, dump, counters, faults, sessions, limits, users, schema, validation
//! rules, data generation and saving. They need no token: the sandbox listens on loopback
//! only and these exist for tests, benchmarks and the demo.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::{Fault, FaultPlan};
use crate::generate::GenerateSpec;
use crate::org::{DuplicateRule, NewUser, ValidationRule};
use crate::query::source::QuerySource;
use crate::schema::{CustomField, TaskStatus};
use crate::server::Shared;

type SharedState = State<Arc<Shared>>;

fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn bad(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": message.into()})),
    )
        .into_response()
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|error| error.to_string())
}

async fn help() -> Response {
    ok(json!({
        "POST /__sandbox/reset": "fresh org (same seed), counters and API usage to zero",
        "GET /__sandbox/dump[?object=Task]": "every record, deleted ones included",
        "GET /__sandbox/counters": "API requests: total, per endpoint, per user",
        "POST /__sandbox/counters/reset": "counters to zero",
        "GET|PUT|DELETE /__sandbox/faults": "the fault plan (rules, script, base latency)",
        "POST /__sandbox/faults/script": "append faults (or null) to the script",
        "POST /__sandbox/sessions/expire": "expire every session now, or {\"after_requests\": n}",
        "PUT /__sandbox/limits": "{\"daily_api_limit\": n, \"used\": n}",
        "POST /__sandbox/users": "add a user",
        "POST /__sandbox/custom-fields": "add a custom field",
        "POST|DELETE /__sandbox/validation-rules": "add a validation rule / remove all",
        "POST|DELETE /__sandbox/duplicate-rules": "add a duplicate rule / remove all",
        "PUT /__sandbox/lead-assignment": "{\"owner\": Id|null}: the active Lead assignment rule's user",
        "PUT /__sandbox/task-statuses": "replace the task statuses",
        "POST /__sandbox/generate": "generate accounts, contacts, person accounts, leads, users",
        "POST /__sandbox/save": "save the state ({\"path\": ...} or the --data file)",
        "GET /__sandbox/credentials": "the connected app and admin login",
        "POST /__sandbox/convert-lead": "{\"lead_id\": ...}: convert a lead into a new Account and Contact",
    }))
}

async fn reset(State(shared): SharedState) -> Response {
    crate::sandbox::reset_org(&shared);
    ok(json!({"reset": true}))
}

async fn dump(
    State(shared): SharedState,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let state = shared.org.read();
    match query.get("object") {
        Some(object) => match state.object(object) {
            Some(info) => ok(Value::Array(
                state
                    .records(&info.name, true)
                    .cloned()
                    .map(Value::Object)
                    .collect(),
            )),
            None => bad(format!("no object {object}")),
        },
        None => ok(state.dump()),
    }
}

async fn counters(State(shared): SharedState) -> Response {
    ok(serde_json::to_value(shared.counters.snapshot()).unwrap_or(Value::Null))
}

async fn reset_counters(State(shared): SharedState) -> Response {
    shared.counters.reset();
    ok(json!({"reset": true}))
}

async fn get_faults(State(shared): SharedState) -> Response {
    ok(json!({"injected": shared.faults.injected()}))
}

async fn put_faults(State(shared): SharedState, body: Bytes) -> Response {
    match parse::<FaultPlan>(&body) {
        Ok(plan) => {
            shared.faults.set_plan(plan);
            ok(json!({"faults": "set"}))
        }
        Err(message) => bad(message),
    }
}

async fn clear_faults(State(shared): SharedState) -> Response {
    shared.faults.clear();
    ok(json!({"faults": "cleared"}))
}

async fn push_script(State(shared): SharedState, body: Bytes) -> Response {
    match parse::<Vec<Option<Fault>>>(&body) {
        Ok(script) => {
            let count = script.len();
            shared.faults.push_script(script);
            ok(json!({"appended": count}))
        }
        Err(message) => bad(message),
    }
}

#[derive(Deserialize)]
struct ExpireRequest {
    after_requests: Option<u64>,
}

async fn expire_sessions(State(shared): SharedState, body: Bytes) -> Response {
    let request = if body.is_empty() {
        ExpireRequest {
            after_requests: None,
        }
    } else {
        match parse::<ExpireRequest>(&body) {
            Ok(request) => request,
            Err(message) => return bad(message),
        }
    };
    match request.after_requests {
        Some(requests) => shared.sessions.limit_requests(requests),
        None => shared.sessions.expire_all(),
    }
    ok(json!({"expired": true}))
}

#[derive(Deserialize)]
struct LimitsRequest {
    daily_api_limit: Option<u64>,
    used: Option<u64>,
}

async fn put_limits(State(shared): SharedState, body: Bytes) -> Response {
    match parse::<LimitsRequest>(&body) {
        Ok(request) => {
            if let Some(limit) = request.daily_api_limit {
                shared.daily_api_limit.store(limit, Ordering::Relaxed);
            }
            if let Some(used) = request.used {
                shared.api_used.store(used, Ordering::Relaxed);
            }
            ok(
                json!({"daily_api_limit": shared.daily_api_limit.load(Ordering::Relaxed), "used": shared.api_used.load(Ordering::Relaxed)}),
            )
        }
        Err(message) => bad(message),
    }
}

async fn add_user(State(shared): SharedState, body: Bytes) -> Response {
    match parse::<NewUser>(&body) {
        Ok(user) => {
            if shared.org.read().user_by_username(&user.username).is_some() {
                return bad(format!("a user named {} exists", user.username));
            }
            ok(json!({"id": shared.org.add_user(&user).to_string()}))
        }
        Err(message) => bad(message),
    }
}

async fn add_custom_field(State(shared): SharedState, body: Bytes) -> Response {
    match parse::<CustomField>(&body) {
        Ok(field) => match shared.org.add_custom_field(field) {
            Ok(()) => ok(json!({"added": true})),
            Err(message) => bad(message),
        },
        Err(message) => bad(message),
    }
}

async fn add_rule(State(shared): SharedState, body: Bytes) -> Response {
    match parse::<ValidationRule>(&body) {
        Ok(rule) => {
            shared.org.add_validation_rule(rule);
            ok(json!({"added": true}))
        }
        Err(message) => bad(message),
    }
}

async fn add_duplicate_rule(State(shared): SharedState, body: Bytes) -> Response {
    match parse::<DuplicateRule>(&body) {
        Ok(rule) => {
            shared.org.add_duplicate_rule(rule);
            ok(json!({"added": true}))
        }
        Err(message) => bad(message),
    }
}

async fn clear_duplicate_rules(State(shared): SharedState) -> Response {
    shared.org.write().clear_duplicate_rules();
    ok(json!({"cleared": true}))
}

/// `{"owner": "005…"}` activates the Lead assignment rule, `{"owner": null}` deactivates it.
async fn put_lead_assignment(State(shared): SharedState, body: Bytes) -> Response {
    #[derive(Deserialize)]
    struct Assignment {
        owner: Option<String>,
    }
    let owner = match parse::<Assignment>(&body).map(|assignment| assignment.owner) {
        Ok(None) => None,
        Ok(Some(text)) => match crate::ids::RecordId::parse(&text) {
            Ok(id) => Some(id),
            Err(_) => return bad(format!("{text:?} is not a record Id")),
        },
        Err(message) => return bad(message),
    };
    shared.org.set_lead_assignment_rule(owner);
    ok(json!({"owner": owner.map(|id| id.to_string())}))
}

async fn clear_rules(State(shared): SharedState) -> Response {
    shared.org.write().clear_validation_rules();
    ok(json!({"cleared": true}))
}

async fn put_task_statuses(State(shared): SharedState, body: Bytes) -> Response {
    match parse::<Vec<TaskStatus>>(&body) {
        Ok(statuses) if statuses.iter().filter(|status| status.is_default).count() == 1 => {
            shared.org.set_task_statuses(statuses);
            ok(json!({"set": true}))
        }
        Ok(_) => bad("exactly one task status must be the default"),
        Err(message) => bad(message),
    }
}

async fn generate(State(shared): SharedState, body: Bytes) -> Response {
    match parse::<GenerateSpec>(&body) {
        Ok(spec) => {
            let report = crate::generate::generate(&mut shared.org.write(), &spec);
            ok(serde_json::to_value(report).unwrap_or(Value::Null))
        }
        Err(message) => bad(message),
    }
}

#[derive(Deserialize)]
struct SaveRequest {
    path: Option<String>,
}

async fn save(State(shared): SharedState, body: Bytes) -> Response {
    let request = if body.is_empty() {
        SaveRequest { path: None }
    } else {
        match parse::<SaveRequest>(&body) {
            Ok(request) => request,
            Err(message) => return bad(message),
        }
    };
    let path = request
        .path
        .map(std::path::PathBuf::from)
        .or_else(|| shared.data_file.clone());
    let Some(path) = path else {
        return bad("no path given and no --data file configured");
    };
    match crate::sandbox::save_state(&shared, &path) {
        Ok(()) => ok(json!({"saved": path.display().to_string()})),
        Err(error) => bad(error.to_string()),
    }
}

#[derive(Deserialize)]
struct ConvertRequest {
    lead_id: String,
}

async fn convert_lead(State(shared): SharedState, body: Bytes) -> Response {
    match parse::<ConvertRequest>(&body) {
        Ok(request) => {
            let admin = shared.org.admin_user();
            match shared.org.convert_lead(admin, &request.lead_id) {
                Ok((account, contact)) => {
                    ok(json!({"accountId": account.to_string(), "contactId": contact.to_string()}))
                }
                Err(errors) => (
                    StatusCode::BAD_REQUEST,
                    axum::Json(Value::Array(
                        errors
                            .iter()
                            .map(crate::error::ErrorItem::to_rest_json)
                            .collect(),
                    )),
                )
                    .into_response(),
            }
        }
        Err(message) => bad(message),
    }
}

async fn credentials(State(shared): SharedState) -> Response {
    ok(serde_json::to_value(&shared.credentials).unwrap_or(Value::Null))
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/__sandbox", get(help))
        .route("/__sandbox/", get(help))
        .route("/__sandbox/reset", post(reset))
        .route("/__sandbox/dump", get(dump))
        .route("/__sandbox/counters", get(counters))
        .route("/__sandbox/counters/reset", post(reset_counters))
        .route(
            "/__sandbox/faults",
            get(get_faults)
                .put(put_faults)
                .post(put_faults)
                .delete(clear_faults),
        )
        .route("/__sandbox/faults/script", post(push_script))
        .route("/__sandbox/sessions/expire", post(expire_sessions))
        .route("/__sandbox/limits", put(put_limits).post(put_limits))
        .route("/__sandbox/users", post(add_user))
        .route("/__sandbox/custom-fields", post(add_custom_field))
        .route(
            "/__sandbox/validation-rules",
            post(add_rule).delete(clear_rules),
        )
        .route(
            "/__sandbox/duplicate-rules",
            post(add_duplicate_rule).delete(clear_duplicate_rules),
        )
        .route("/__sandbox/lead-assignment", put(put_lead_assignment))
        .route("/__sandbox/task-statuses", put(put_task_statuses))
        .route("/__sandbox/generate", post(generate))
        .route("/__sandbox/save", post(save))
        .route("/__sandbox/credentials", get(credentials))
        .route("/__sandbox/convert-lead", post(convert_lead))
}
