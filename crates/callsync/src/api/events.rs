//! `POST /v1/events`: one event or a batch, signed by the organisation's
//! signing secret. `202 Accepted` means the events and the sync work they
//! cause are committed; the same event id twice is accepted once (R10).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use callsync_core::event::Event;
use jiff::Timestamp;
use serde_json::Value;

use super::AppState;
use super::auth::{Caller, Scope};
use super::error::{ApiError, ApiResult, ErrorBody, Problem};
use super::openapi::EventsBody;
use crate::ingest::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::store::{IngestOutcome, NewEvent, TooManyEvents};
use secrecy::ExposeSecret as _;

/// The most events one request may carry.
pub const MAX_EVENTS_PER_REQUEST: usize = 1000;

#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "ingest",
    request_body(
        content = EventsBody,
        description = "One event, or an array of at most 1000. Signed: `X-Callsync-Timestamp` (Unix seconds) and `X-Callsync-Signature: v1=<hex HMAC-SHA256 of \"<timestamp>.<body>\">`",
    ),
    params(
        ("x-callsync-timestamp" = String, Header, description = "Unix seconds when the request was signed"),
        ("x-callsync-signature" = String, Header, description = "`v1=<hex>`; several may be comma-separated"),
    ),
    security(("api_key" = [])),
    responses(
        (status = 202, description = "Stored with the sync work it causes", body = IngestOutcome),
        (status = 400, description = "Not JSON, empty, too many events, or not an event", body = ErrorBody),
        (status = 401, description = "No or an unknown API key, or a missing, wrong or stale signature", body = ErrorBody),
        (status = 403, description = "The key lacks the ingest scope", body = ErrorBody),
        (status = 413, description = "The body is larger than 4 MiB"),
        (status = 422, description = "Some events are invalid; none was stored", body = ErrorBody),
    )
)]
pub(super) async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<IngestOutcome>)> {
    caller.require(Scope::Ingest)?;
    let org =
        state.store.org(&caller.org_id).await?.ok_or_else(|| {
            ApiError::Forbidden("the API key's organisation no longer exists".into())
        })?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let verify = |secret: &[u8]| {
        signature::verify(
            secret,
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            &body,
            state.now(),
        )
    };
    if let Err(error) = verify(org.signing_secret.as_bytes()) {
        // After `callsync org rotate-secret`, the previous secret still signs during its
        // grace period, so the phone system can switch over without losing events.
        let mut accepted = false;
        if error == signature::SignatureError::Mismatch {
            for previous in state
                .store
                .previous_signing_secrets(&org.id, state.now())
                .await?
            {
                if verify(previous.expose_secret().as_bytes()).is_ok() {
                    accepted = true;
                    break;
                }
            }
        }
        if !accepted {
            return Err(ApiError::Unauthorized(error.to_string()));
        }
    }

    let events = parse_batch(&body, &caller.org_id, state.now())?;
    let outcome = state
        .store
        .ingest(&caller.org_id, &events, state.now())
        .await
        .map_err(|error| match error.downcast::<TooManyEvents>() {
            Ok(too_many) => too_many_events(&events, &too_many),
            Err(error) => ApiError::Internal(error),
        })?;
    metrics::counter!(crate::metrics::EVENTS_ACCEPTED).increment(outcome.accepted);
    metrics::counter!(crate::metrics::EVENTS_DUPLICATE).increment(outcome.duplicates);
    tracing::info!(
        org = %caller.org_id,
        accepted = outcome.accepted,
        duplicates = outcome.duplicates,
        "events ingested"
    );
    Ok((StatusCode::ACCEPTED, Json(outcome)))
}

/// Parses one event or an array of events. Every event is checked before
/// any is stored: a batch is accepted whole or refused whole, with every
/// problem listed, so a sender can fix and resend it as it is. An event dated
/// too far after `received_at` is refused (R10,
/// `callsync_core::event::MAX_CLOCK_AHEAD`): a call waiting for it would wait
/// for a moment that never comes.
fn parse_batch(body: &[u8], org_id: &str, received_at: Timestamp) -> ApiResult<Vec<NewEvent>> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| ApiError::BadRequest(format!("body is not valid JSON: {error}")))?;
    let (values, batched) = match value {
        Value::Array(values) => (values, true),
        object @ Value::Object(_) => (vec![object], false),
        _ => {
            return Err(ApiError::BadRequest(
                "body must be one event (a JSON object) or an array of events".into(),
            ));
        }
    };
    if values.is_empty() {
        return Err(ApiError::BadRequest("the array of events is empty".into()));
    }
    if values.len() > MAX_EVENTS_PER_REQUEST {
        return Err(ApiError::BadRequest(format!(
            "{} events in one request; send at most {MAX_EVENTS_PER_REQUEST}",
            values.len()
        )));
    }
    let mut events = Vec::with_capacity(values.len());
    let mut problems = Vec::new();
    for (index, value) in values.into_iter().enumerate() {
        let location = if batched {
            format!("[{index}]")
        } else {
            String::new()
        };
        let raw = value.to_string();
        match Event::from_value(value).and_then(|event| {
            event.check_not_ahead_of(received_at)?;
            Ok(event)
        }) {
            Ok(event) if event.org.as_str() != org_id => problems.push(Problem {
                field: locate(&location, "org"),
                message: format!(
                    "event {} belongs to organisation {:?}, but the API key is for {:?}",
                    event.id.as_str(),
                    event.org.as_str(),
                    org_id
                ),
            }),
            Ok(event) => events.push(NewEvent {
                event_id: event.id.as_str().to_owned(),
                call_id: event.call_id.as_str().to_owned(),
                occurred_at: event.occurred_at,
                body_json: raw,
            }),
            Err(error) => problems.push(Problem {
                field: locate(&location, &error.field),
                message: error.to_string(),
            }),
        }
    }
    if problems.is_empty() {
        Ok(events)
    } else {
        Err(ApiError::invalid(
            format!(
                "{} of the events are invalid; none was stored",
                problems.len()
            ),
            problems,
        ))
    }
}

/// `field` of the event at `location` (`[3].customer_number`), or just
/// `field` for a request of one event.
fn locate(location: &str, field: &str) -> String {
    if location.is_empty() {
        field.to_owned()
    } else {
        format!("{location}.{field}")
    }
}

/// The refusal of a batch that would take a call past the events a call may have,
/// naming the event (its place in the batch) and the call.
fn too_many_events(events: &[NewEvent], refused: &TooManyEvents) -> ApiError {
    let index = events
        .iter()
        .position(|event| event.event_id == refused.event_id)
        .unwrap_or_default();
    ApiError::invalid(
        "a call has too many events; none of the batch was stored",
        vec![Problem {
            field: format!("[{index}].call_id"),
            message: refused.to_string(),
        }],
    )
}
