//! The OpenAPI document served at `/openapi.json`, generated from the
//! handlers' annotations, so it cannot drift from the code.
//!
//! The event's schema is derived from `callsync_core::event::Event`, the
//! type ingest decodes (callsync-core's opt-in `openapi` feature), so the
//! document and the decoder cannot disagree on a field.

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
use callsync_core::event::Event;
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
        EventsBody, Event, IngestOutcome, ErrorBody, Problem, CallView, CallDetail, SyncState,
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
    One(Box<Event>),
    Many(Vec<Event>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use callsync_core::event::EventType;

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
        let schemas = &document["components"]["schemas"];
        assert_eq!(
            schemas["Event"]["allOf"][0]["$ref"], "#/components/schemas/EventBody",
            "the event's schema is derived from callsync-core's types"
        );
        let documented: Vec<String> = schemas["EventBody"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|variant| {
                // A variant with fields of its own is `allOf` its fields and the tag.
                let tagged = variant["allOf"].get(1).unwrap_or(variant);
                tagged["properties"]["type"]["enum"][0]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let accepted: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(documented, accepted);
        for event_type in documented {
            let event = serde_json::json!({
                "id": "e", "org": "o", "call_id": "c", "occurred_at": "2026-11-24T00:00:00Z",
                "direction": "outbound", "customer_number": "0312345678", "type": event_type,
                "kind": "internal", "destination": "1", "talk_seconds": 0, "outcome": "answered",
                "values": [], "speech_recognition": "", "summary": "",
            });
            if let Err(error) = Event::from_value(event) {
                panic!("{event_type} is refused by the core: {error}");
            }
        }
    }
}
