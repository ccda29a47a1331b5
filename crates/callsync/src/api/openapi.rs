//! The OpenAPI document served at `/openapi.json`, generated from the
//! handlers' annotations, so it cannot drift from the code.
//!
//! The event's wire format is described here rather than on
//! `callsync_core::event::Event`, which stays free of HTTP concerns; the
//! document's tests check the two agree on the event types.

use axum::Json;
use serde::Deserialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::admin::{CallDetail, CallView, OrgView, Retried, RetriedMany, RetryFilter, UserLink};
use super::error::{ErrorBody, Problem};
use crate::crm::{ConnectionView, SalesforceConnection};
use crate::store::{
    ContactEntry, ContactRow, ErrorRow, HistoryRow, IngestOutcome, SyncState, UserRow,
};
use callsync_core::settings::Settings;

/// The document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "callsync",
        description = "Call events in, Salesforce Tasks out. Every endpoint takes `Authorization: Bearer <API key>`; \
                       each key belongs to one organisation and carries the `ingest` or `admin` scope.",
    ),
    paths(
        super::events::ingest,
        super::admin::list_calls,
        super::admin::get_call,
        super::admin::list_contacts,
        super::admin::list_errors,
        super::admin::retry_error,
        super::admin::retry_errors,
        super::admin::list_users,
        super::admin::put_user,
        super::admin::get_org,
        super::settings::get_settings,
        super::settings::put_settings,
        super::settings::get_salesforce,
        super::settings::put_salesforce,
        super::lookup::lookup,
    ),
    components(schemas(
        EventsBody, EventSchema, IngestOutcome, ErrorBody, Problem, CallView, CallDetail, SyncState,
        ContactRow, ContactEntry, ErrorRow, HistoryRow, Retried, RetryFilter, RetriedMany, UserRow, UserLink, OrgView,
        Settings, SalesforceConnection, ConnectionView,
    )),
    modifiers(&BearerKey),
)]
pub struct ApiDoc;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("csk_…")
                    .build(),
            ),
        );
    }
}

pub(super) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// `POST /v1/events` takes one event or an array of them.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a schema: the handler parses events with callsync-core
pub enum EventsBody {
    One(Box<EventSchema>),
    Many(Vec<EventSchema>),
}

/// A call event (R10): the envelope and, chosen by `type`, that type's fields.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // a schema: the handler parses events with callsync-core
pub struct EventSchema {
    /// Unique per event: the same id twice is one event.
    id: String,
    /// The organisation; must be the API key's.
    org: String,
    /// The call's sequence id (becomes the Task's `CallObject`), 1–255 characters.
    call_id: String,
    /// The callsync user who handled the call; absent for a missed call offered to a group.
    user: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    occurred_at: String,
    direction: EventDirection,
    user_number: Option<String>,
    /// The far end of the call; required on the opening event of an outbound call.
    customer_number: Option<String>,
    /// `{"record_id": "<Salesforce Id>"}` when dialled from a record.
    #[schema(value_type = Option<Object>)]
    click_to_call: Option<serde_json::Value>,
    /// `{"campaign": "…"}` for predictive-dialler calls.
    #[schema(value_type = Option<Object>)]
    predictive: Option<serde_json::Value>,
    #[serde(rename = "type")]
    event_type: EventType,
    /// `transferred`: internal, external or auto_forward.
    kind: Option<String>,
    /// `transferred`: where the call went.
    destination: Option<String>,
    /// `ended`: seconds of conversation.
    #[schema(minimum = 0)]
    talk_seconds: Option<u32>,
    /// `ended`: answered, no_answer, busy, voicemail or rejected.
    outcome: Option<String>,
    /// `memo_saved`: memo picklist values.
    values: Option<Vec<String>>,
    /// `memo_saved`: free text.
    note: Option<String>,
    /// `analysis_completed`: the transcript.
    speech_recognition: Option<String>,
    /// `analysis_completed`: its summary.
    summary: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // a schema
enum EventDirection {
    Outbound,
    Inbound,
    Extension,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // a schema
enum EventType {
    Dialing,
    Ringing,
    Answered,
    Transferred,
    Ended,
    MemoSaved,
    AnalysisCompleted,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_route_of_the_router() {
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let paths = document["paths"].as_object().unwrap();
        for path in [
            "/v1/events",
            "/v1/calls",
            "/v1/calls/{call_id}",
            "/v1/contacts",
            "/v1/errors",
            "/v1/errors/{id}/retry",
            "/v1/users",
            "/v1/users/{user_id}",
            "/v1/org",
            "/v1/settings",
            "/v1/salesforce",
            "/v1/lookup",
        ] {
            assert!(
                paths.contains_key(path),
                "{path} is missing from /openapi.json"
            );
        }
    }

    #[test]
    fn the_documented_event_types_are_the_ones_callsync_core_accepts_r10() {
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let types = &document["components"]["schemas"]["EventType"]["enum"];
        for event_type in types.as_array().unwrap() {
            let event = serde_json::json!({
                "id": "e", "org": "o", "call_id": "c", "occurred_at": "2026-11-24T00:00:00Z",
                "direction": "outbound", "customer_number": "0312345678", "type": event_type,
                "kind": "internal", "destination": "1", "talk_seconds": 0, "outcome": "answered",
                "values": [], "speech_recognition": "", "summary": "",
            });
            if let Err(error) = callsync_core::event::Event::from_value(event) {
                panic!("{event_type} is refused by the core: {error}");
            }
        }
    }
}
