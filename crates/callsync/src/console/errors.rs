//! The error log (R9): each open entry with its remedy, what is waiting and
//! why (R16), retry one entry, or retry every entry of one kind once the
//! cause is fixed — through the same store functions as the API.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error::{ConsoleError, ConsoleResult};
use super::session::{Posted, Session};
use super::{Chrome, org_settings};
use crate::api::AppState;
use crate::api::admin::error_filter;
use crate::crm::remedy::stored_remedy_in;
use crate::store::{ErrorKindCount, ErrorRow};

#[derive(Debug, Template)]
#[template(path = "console/errors.html")]
pub struct ErrorsPage {
    c: Chrome,
    kinds: Vec<ErrorKindCount>,
    /// Each entry with its time and its remedy, both in the page's language.
    entries: Vec<(String, ErrorRow, String)>,
    pending: i64,
    waiting: i64,
    /// The organisation's queued calls by why they wait (R16), as the store counts them
    /// for `GET /v1/org`: (reason, label, calls).
    reasons: Vec<(String, String, i64)>,
    /// How many calls the last retry queued, when the page follows one.
    retried: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ErrorsQuery {
    retried: Option<usize>,
}

/// `GET /console/errors`.
pub async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ErrorsQuery>,
) -> ConsoleResult<Html<String>> {
    let org_id = &session.org.id;
    let settings = org_settings(&session.org);
    let zone = settings.zone();
    let c = Chrome::new(&session, "errors", "/console/errors");
    let kinds = state.store.open_error_kinds(org_id).await?;
    let entries = state
        .store
        .errors(org_id, true, 500)
        .await?
        .into_iter()
        .map(|entry| {
            let remedy = stored_remedy_in(
                c.lang,
                &entry.step,
                &entry.code,
                &entry.message,
                &entry.remedy,
                Some(&settings),
            );
            (c.time(&entry.occurred_at, &zone), entry, remedy)
        })
        .collect();
    let states = state
        .store
        .call_states_since(org_id, jiff::Timestamp::UNIX_EPOCH)
        .await?;
    let count = |name: &str| {
        states
            .iter()
            .find(|row| row.state == name)
            .map_or(0, |row| row.count)
    };
    let reasons = state
        .store
        .waiting(Some(org_id), state.now())
        .await?
        .into_iter()
        .map(|count| {
            let label = c.t(&format!("wait-reason-{}", count.reason));
            (count.reason, label, count.calls)
        })
        .collect();
    let page = ErrorsPage {
        reasons,
        pending: count("pending"),
        waiting: count("waiting"),
        c,
        kinds,
        entries,
        retried: query.retried,
    };
    Ok(Html(page.render()?))
}

#[derive(Debug, Deserialize)]
pub struct Nothing {}

/// `POST /console/errors/{id}/retry`: one entry, as `POST /v1/errors/{id}/retry`.
pub async fn retry_one(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<Nothing>,
) -> ConsoleResult<Response> {
    let org_id = &posted.session.org.id;
    if !state.store.retry_error(org_id, id, state.now()).await? {
        return Err(ConsoleError::NotFound);
    }
    tracing::info!(org = %org_id, entry = id, "error retried from the console");
    Ok(Redirect::to("/console/errors?retried=1").into_response())
}

#[derive(Debug, Deserialize)]
pub struct KindForm {
    code: String,
    step: String,
}

/// `POST /console/errors/retry`: every open entry of one kind, as
/// `POST /v1/errors/retry` with `code` and `step`.
pub async fn retry_kind(
    State(state): State<AppState>,
    posted: Posted<KindForm>,
) -> ConsoleResult<Response> {
    let org_id = &posted.session.org.id;
    let filter = error_filter(
        Some(posted.form.code.clone()),
        Some(posted.form.step.clone()),
        None,
    )
    .map_err(|problems| {
        ConsoleError::BadRequest(
            problems
                .into_iter()
                .map(|problem| format!("{}: {}", problem.field, problem.message))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let retried = state
        .store
        .retry_errors_matching(org_id, &filter, state.now())
        .await?;
    tracing::info!(org = %org_id, calls = retried.len(), "errors of one kind retried from the console");
    Ok(Redirect::to(&format!("/console/errors?retried={}", retried.len())).into_response())
}
