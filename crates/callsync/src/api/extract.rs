//! Extractors whose refusals are [`ApiError`]s, so a bad query string or
//! body gets the same JSON error as every other refusal, naming the field;
//! and [`json_errors`], the safety net that gives the router's own answers
//! (unknown path, method not allowed, body too large) that shape too.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::error::{ApiError, ApiResult, Problem};

/// The query string as `T`. A value of the wrong type, a repeated or an
/// unknown parameter is a 422 naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> ApiResult<Self> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|error| {
                let path = error.path().to_string();
                let field = if path.is_empty() || path == "." {
                    "query".to_owned()
                } else {
                    path
                };
                ApiError::invalid(
                    "the query string cannot be read",
                    vec![Problem {
                        field,
                        message: error.into_inner().to_string(),
                    }],
                )
            })
    }
}

/// A JSON object body as `T`, read with [`parse_json_body`].
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> ApiResult<Self> {
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
        parse_json_body(&body, "request body").map(Json)
    }
}

/// Parses a JSON object body into `T`, locating every problem at its field:
/// not JSON or not an object → 400; a value of the wrong type → 422 naming
/// its path (`owner_rule.user`); a field `T` does not have (a misspelling
/// that would otherwise be dropped silently, leaving the default) → 422.
///
/// The bodies read this way (settings, a connection, a user) hold no lists
/// but those named in [`parse_json_body_with_lists`], so an array anywhere
/// else is refused by path: serde would otherwise read `[null, null]` as an
/// object with its first fields null.
///
/// serde quotes a string value only where a string was not expected; the
/// connection's fields are all strings, so its private key is never echoed
/// back, wherever it was sent.
pub(super) fn parse_json_body<T: DeserializeOwned>(body: &[u8], what: &str) -> ApiResult<T> {
    parse_json_body_with_lists(body, what, &[])
}

/// [`parse_json_body`] for a body whose fields at the dotted paths `lists`
/// are lists (of plain values: serde names the element at fault).
pub(super) fn parse_json_body_with_lists<T: DeserializeOwned>(
    body: &[u8],
    what: &str,
    lists: &[&str],
) -> ApiResult<T> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|error| ApiError::BadRequest(format!("body is not valid JSON: {error}")))?;
    if !value.is_object() {
        return Err(ApiError::BadRequest(format!(
            "body must be a JSON object: the {what}"
        )));
    }
    if let Some(path) = first_array(&value, String::new(), lists) {
        return Err(ApiError::invalid(
            format!("the {what} cannot be read; nothing was saved"),
            vec![Problem {
                field: field_name(path),
                message: "a list where an object or a single value belongs".into(),
            }],
        ));
    }
    let mut unknown = Vec::new();
    let parsed: Result<T, _> = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
        &value,
        &mut |path: serde_ignored::Path<'_>| unknown.push(path.to_string()),
    ));
    let mut problems: Vec<Problem> = unknown
        .into_iter()
        .map(|field| Problem {
            field: field_name(field),
            message: format!("not a field of the {what} (misspelt?)"),
        })
        .collect();
    match parsed {
        Ok(parsed) if problems.is_empty() => Ok(parsed),
        Ok(_) => Err(ApiError::invalid(
            format!("unknown fields in the {what}; nothing was saved"),
            problems,
        )),
        Err(error) => {
            problems.push(Problem {
                field: field_name(error.path().to_string()),
                message: error.into_inner().to_string(),
            });
            Err(ApiError::invalid(
                format!("the {what} cannot be read; nothing was saved"),
                problems,
            ))
        }
    }
}

/// A field path as problems show it: the body itself (a missing field, its
/// name in the message) is `body`, and a key that is the empty string is
/// named as one (`""`), so no problem has an empty field.
fn field_name(path: String) -> String {
    match path.as_str() {
        "." => "body".to_owned(),
        "" => "\"\"".to_owned(),
        _ => path,
    }
}

/// The dotted path of the first array in `value` that is not at one of the
/// paths `lists`, if any.
fn first_array(value: &serde_json::Value, path: String, lists: &[&str]) -> Option<String> {
    match value {
        serde_json::Value::Array(_) if lists.contains(&path.as_str()) => None,
        serde_json::Value::Array(_) => Some(path),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(name, field)| {
            let path = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            first_array(field, path, lists)
        }),
        _ => None,
    }
}

/// Turns every error answer that is not already JSON (the router's 404 and
/// 405, a body over the limit, a path segment of the wrong type) into the
/// API's error body, keeping its status and headers (`Allow` on a 405).
pub(super) async fn json_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // The console answers its errors as HTML pages of its own.
    if path == "/console" || path.starts_with("/console/") {
        return next.run(request).await;
    }
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // The router's own answers are a line of text at most.
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let message = match status {
        StatusCode::NOT_FOUND if text.is_empty() => format!("no such endpoint: {path}"),
        // The `Allow` header (added by the router after this layer) lists
        // the methods that are.
        StatusCode::METHOD_NOT_ALLOWED => format!("{method} is not allowed on {path}"),
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "the body is larger than the {} bytes taken",
            super::MAX_BODY_BYTES
        ),
        _ if text.is_empty() => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_lowercase(),
        _ => text,
    };
    let rebuilt = super::error::plain_error(status, &message).into_response();
    let (rebuilt_parts, rebuilt_body) = rebuilt.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        rebuilt_parts
            .headers
            .get(header::CONTENT_TYPE)
            .cloned()
            .unwrap_or(HeaderValue::from_static("application/json")),
    );
    Response::from_parts(parts, Body::new(rebuilt_body))
}
