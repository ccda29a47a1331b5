//! `POST /composite`: up to 25 subrequests in one call, later ones referring to earlier
//! results with `@{referenceId.field}` (also `@{ref.records[0].Id}`). With `allOrNone`
//! the whole call is one transaction: a failure rolls back every write, and the other
//! subrequests answer PROCESSING_HALTED. Subrequests run through the same functions as
//! the top-level routes (`crate::api`), under one write lock.

use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::api::{self, ApiResult, Caller, Reply};
use crate::error::{ApiError, ErrorItem};
use crate::org::{Journal, OrgState};
use crate::server::Shared;

const SUBREQUEST_LIMIT: usize = 25;

fn halted(message: &str) -> Value {
    json!([{"errorCode": "PROCESSING_HALTED", "message": message}])
}

/// Looks up `path` (`id`, `records[0].Id`) in an earlier result body.
fn resolve_path<'a>(body: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = body;
    for part in path.split('.') {
        let (name, indexes) = match part.find('[') {
            Some(position) => (&part[..position], &part[position..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            current = current.get(name)?;
        }
        for index in indexes.split('[').filter(|index| !index.is_empty()) {
            let index: usize = index.trim_end_matches(']').parse().ok()?;
            current = current.get(index)?;
        }
    }
    Some(current)
}

/// Replaces every `@{ref.path}` in `text`. Fails with the reference that has no value.
fn substitute(text: &str, results: &HashMap<String, (bool, Value)>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("@{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let expression = &after[..end];
        let (reference, path) = expression.split_once('.').unwrap_or((expression, ""));
        let value = results
            .get(reference)
            .filter(|(succeeded, _)| *succeeded)
            .and_then(|(_, body)| {
                if path.is_empty() {
                    Some(body)
                } else {
                    resolve_path(body, path)
                }
            });
        match value {
            Some(Value::String(text)) => out.push_str(text),
            Some(Value::Null) | None => return Err(format!("{reference}.{path}")),
            Some(other) => out.push_str(&other.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn substitute_value(
    value: &Value,
    results: &HashMap<String, (bool, Value)>,
) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => Value::String(substitute(text, results)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| substitute_value(item, results))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    substitute_value(value, results).map(|value| (key.clone(), value))
                })
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

fn query_parameter(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'+' {
            out.push(b' ');
        } else if bytes[index] == b'%'
            && index + 2 < bytes.len()
            && let Some(byte) = std::str::from_utf8(&bytes[index + 1..index + 3])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            index += 2;
        } else {
            out.push(bytes[index]);
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs one subrequest.
fn dispatch(
    state: &mut OrgState,
    journal: &mut Journal,
    shared: &Shared,
    caller: Caller<'_>,
    method: &str,
    url: &str,
    body: &Value,
) -> ApiResult {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    // Salesforce takes subrequest URLs with or without the leading slash
    // (sf-fx-runtime-nodejs mappings/composite-single-*.json at 239db41 send
    // "services/data/v51.0/...").
    let rest = path
        .trim_start_matches('/')
        .strip_prefix("services/data/v")
        .ok_or_else(ApiError::not_found)?;
    let (version, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let caller = Caller {
        user: caller.user,
        version,
        options: caller.options,
    };
    let segments: Vec<&str> = rest
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect();
    let method = method.to_ascii_uppercase();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["sobjects", object]) => api::create(state, journal, caller, object, body),
        ("GET", ["sobjects", object]) => api::object_info(state, caller, object),
        ("GET", ["sobjects", object, "describe"]) => api::describe(state, caller, object),
        ("GET", ["sobjects", object, id]) => api::retrieve(
            state,
            caller,
            object,
            id,
            query_parameter(query, "fields").as_deref(),
        ),
        ("PATCH", ["sobjects", object, id]) => {
            api::update(state, journal, caller, object, id, body)
        }
        ("DELETE", ["sobjects", object, id]) => api::delete(state, journal, caller, object, id),
        ("GET", ["sobjects", object, field, value]) => api::retrieve_by_external_id(
            state,
            caller,
            object,
            field,
            value,
            query_parameter(query, "fields").as_deref(),
        ),
        ("PATCH", ["sobjects", object, field, value]) => {
            api::upsert(state, journal, caller, object, field, value, body)
        }
        ("GET", ["query"]) => crate::query_routes::start_on(
            shared,
            state,
            caller,
            query_parameter(query, "q").as_deref(),
            false,
        ),
        ("GET", ["queryAll"]) => crate::query_routes::start_on(
            shared,
            state,
            caller,
            query_parameter(query, "q").as_deref(),
            true,
        ),
        _ => Err(ApiError::not_found()),
    }
}

fn entry(reference: &str, status: StatusCode, body: Value, location: Option<String>) -> Value {
    let headers = match location {
        Some(location) => json!({"Location": location}),
        None => json!({}),
    };
    json!({"body": body, "httpHeaders": headers, "httpStatusCode": status.as_u16(), "referenceId": reference})
}

/// Handles the composite call.
pub(crate) fn run(shared: &Shared, caller: Caller<'_>, body: &Value) -> ApiResult {
    let all_or_none = body
        .get("allOrNone")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let requests = body
        .get("compositeRequest")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::json_parser("The request must contain a compositeRequest list"))?;
    if requests.len() > SUBREQUEST_LIMIT {
        // Recorded answer (guardian/support-service-lambdas#766): 200, one entry with a null
        // referenceId and LIMIT_EXCEEDED; nothing runs.
        let error = ApiError::bad_request(ErrorItem::new(
            "LIMIT_EXCEEDED",
            format!("The request can\u{2019}t contain more than {SUBREQUEST_LIMIT} operations."),
        ));
        return Ok(Reply::json(
            StatusCode::OK,
            json!({"compositeResponse": [{"body": error.body(), "httpHeaders": {},
                                          "httpStatusCode": 400, "referenceId": null}]}),
        ));
    }
    let mut state = shared.org.write();
    let mut journal = Journal::default();
    let mut results: HashMap<String, (bool, Value)> = HashMap::new();
    let mut responses: Vec<Value> = Vec::with_capacity(requests.len());
    let mut failed_at: Option<usize> = None;
    for (position, request) in requests.iter().enumerate() {
        let reference = request
            .get("referenceId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if failed_at.is_some() && all_or_none {
            responses.push(entry(&reference, StatusCode::BAD_REQUEST, halted("The transaction was rolled back since another operation in the same transaction failed."), None));
            continue;
        }
        let method = request
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET");
        let url = request
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let substituted = substitute(url, &results).and_then(|url| {
            substitute_value(request.get("body").unwrap_or(&Value::Null), &results)
                .map(|body| (url, body))
        });
        let outcome = match substituted {
            Ok((url, body)) => dispatch(
                &mut state,
                &mut journal,
                shared,
                caller,
                method,
                &url,
                &body,
            ),
            Err(reference_path) => {
                let reference_id = reference_path
                    .split('.')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                Err(ApiError::bad_request(ErrorItem::new(
                    "PROCESSING_HALTED",
                    format!(
                        "Invalid reference specified. No value for {reference_path} found in {reference_id}. Provided referenceId ({reference_id}) is either an invalid reference or is a referenced response that wasn't successful."
                    ),
                )))
            }
        };
        match outcome {
            Ok(Reply {
                status,
                body,
                location,
            }) => {
                let body = body.unwrap_or(Value::Null);
                results.insert(reference.clone(), (true, body.clone()));
                responses.push(entry(&reference, status, body, location));
            }
            Err(error) => {
                results.insert(reference.clone(), (false, Value::Null));
                responses.push(entry(&reference, error.status, error.body(), None));
                if failed_at.is_none() {
                    failed_at = Some(position);
                }
            }
        }
    }
    if all_or_none && let Some(failed) = failed_at {
        state.undo(journal);
        for (position, response) in responses.iter_mut().enumerate().take(failed) {
            let reference = response.get("referenceId").cloned().unwrap_or(Value::Null);
            let _ = position;
            *response = json!({"body": halted("The transaction was rolled back since another operation in the same transaction failed."),
                               "httpHeaders": {}, "httpStatusCode": 400, "referenceId": reference});
        }
    }
    Ok(Reply::json(
        StatusCode::OK,
        json!({"compositeResponse": responses}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_replaced_by_earlier_results() {
        let mut results = HashMap::new();
        results.insert(
            "newAccount".to_string(),
            (
                true,
                json!({"id": "001000000000001AAA", "records": [{"Id": "X"}]}),
            ),
        );
        assert_eq!(
            substitute("/sobjects/Account/@{newAccount.id}", &results).unwrap(),
            "/sobjects/Account/001000000000001AAA"
        );
        assert_eq!(
            substitute("@{newAccount.records[0].Id}", &results).unwrap(),
            "X"
        );
        assert!(substitute("@{missing.id}", &results).is_err());
    }
}
