//! `GET /v1/lookup?number=…`: the screen pop. Answers which Salesforce record
//! a call with that customer number would be linked to (R3, asked live with
//! the same searches the worker makes) and the contact entry it would
//! register (R4), so a phone client can show who is calling before the call
//! is answered.

use axum::Json;
use axum::extract::State;
use callsync_core::contact::ContactEntry;
use callsync_core::matching::{Match, RecordObject};
use callsync_core::phone::PhoneNumber;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::{Caller, Scope};
use super::error::{ApiError, ApiResult, ErrorBody, Problem};
use super::extract::Query;
use super::settings::{caller_org, salesforce_failure, stored_connection, stored_settings};
use crate::crm::Step;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct LookupQuery {
    /// The customer number, written any way (`03-1234-5678`, `+81 3 1234 5678`).
    /// Optional here so that a missing one is refused like a bad one, by name.
    #[param(required = true, value_type = String, min_length = 1)]
    number: Option<String>,
}

/// The answer: the number as callsync reads it, the record, its contact entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Lookup {
    number: NumberView,
    /// The record R3 links; `null` when nothing matches (R3.7).
    record: Option<RecordView>,
    /// The R4 contact entry of that record; `null` when nothing matches.
    contact: Option<ContactView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct NumberView {
    /// The number as given.
    input: String,
    /// Its E.164 form, in the organisation's default region (R3.6), when valid.
    e164: Option<String>,
    /// Whether it is compared in normal form (otherwise digit for digit).
    valid: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct RecordView {
    /// `contact`, `account`, `person_account` or `lead`.
    object: RecordObject,
    id: String,
    /// What the Task's `WhoId` would be (R5).
    who_id: Option<String>,
    /// What the Task's `WhatId` would be (R5).
    what_id: Option<String>,
    owner_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct ContactView {
    company: Option<String>,
    person: Option<String>,
}

/// Which record a call from or to this number would be linked to, asked of
/// Salesforce now.
#[utoipa::path(
    get,
    path = "/v1/lookup",
    tag = "admin",
    params(LookupQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The number as read, and the record and contact entry it links (both null when none matches)", body = Lookup),
        (status = 422, description = "No number, or one with no digits", body = ErrorBody),
        (status = 409, description = "The organisation has no usable Salesforce connection, or Salesforce refused the search", body = ErrorBody),
        (status = 503, description = "Salesforce could not be reached", body = ErrorBody),
        (status = 401, description = "No or an unknown API key", body = ErrorBody),
        (status = 403, description = "The key lacks the admin scope", body = ErrorBody),
    )
)]
pub(super) async fn lookup(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<LookupQuery>,
) -> ApiResult<Json<Lookup>> {
    caller.require(Scope::Admin)?;
    let input = query.number.unwrap_or_default();
    if input.trim().is_empty() {
        return Err(ApiError::invalid(
            "no number to look up",
            vec![Problem {
                field: "number".into(),
                message: "give the customer number, e.g. ?number=03-1234-5678".into(),
            }],
        ));
    }
    let org = caller_org(&state, &caller).await?;
    let settings = stored_settings(&org)?;
    let region = settings.region();
    let parsed = PhoneNumber::parse(&input, region).map_err(|error| {
        ApiError::invalid(
            "the number cannot be looked up",
            vec![Problem {
                field: "number".into(),
                message: error.to_string(),
            }],
        )
    })?;
    let connection = stored_connection(&org)?.ok_or_else(|| {
        ApiError::Conflict(
            "this organisation has no Salesforce connection, so there is nothing to look up \
             in: connect Salesforce first (PUT /v1/salesforce)"
                .into(),
        )
    })?;
    const NOT_DONE: &str = "the number was not looked up";
    let client = state
        .connections
        .default_user_client(&org.id, &connection)
        .map_err(|error| salesforce_failure(NOT_DONE, Step::Auth, &error, Some(&settings)))?;
    let found =
        crate::index::find_record_for_number(&state.store, &org.id, &client, &parsed, region)
            .await
            .map_err(|error| salesforce_failure(NOT_DONE, Step::Match, &error, Some(&settings)))?;
    Ok(Json(Lookup {
        number: NumberView {
            input: input.clone(),
            e164: parsed.e164().map(str::to_owned),
            valid: parsed.is_valid(),
        },
        record: found.as_ref().map(record_view),
        contact: found
            .as_ref()
            .map(|found| contact_view(ContactEntry::from_match(Some(&input), Some(found)))),
    }))
}

fn record_view(found: &Match) -> RecordView {
    RecordView {
        object: found.object,
        id: found.record_id.to_18().to_owned(),
        who_id: found.who_id.as_ref().map(|id| id.to_18().to_owned()),
        what_id: found.what_id.as_ref().map(|id| id.to_18().to_owned()),
        owner_id: found.owner_id.as_ref().map(|id| id.to_18().to_owned()),
    }
}

/// R4's names, `null` rather than empty where the table has none (an
/// Account's person).
fn contact_view(entry: ContactEntry) -> ContactView {
    let text = |value: String| (!value.is_empty()).then_some(value);
    ContactView {
        company: text(entry.company_name),
        person: text(entry.person_name),
    }
}
