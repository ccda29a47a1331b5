//! `query`, `queryAll`, `query/{locator}` and `search`: the HTTP side of the SOQL/SOSL
//! engine in `crate::query`. Paging follows Salesforce: a result larger than the batch
//! size (2,000 by default) answers `done: false` with a `nextRecordsUrl` of the form
//! `/services/data/vXX.X/query/01g...-2000` (mappings/query-with-next-records-url.json),
//! and the locator serves the next batch. The engine is pure; the cursors live here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::api::{ApiResult, Caller, Reply};
use crate::error::{ApiError, ErrorItem};
use crate::ids::RecordId;
use crate::org::OrgState;
use crate::query::{QueryCursor, QueryError, QueryOptions, soql, sosl};
use crate::server::Shared;

/// Query locators kept open; Salesforce keeps them about 15 minutes.
#[derive(Debug, Default)]
pub struct Cursors {
    open: Mutex<HashMap<String, (QueryCursor, Instant)>>,
    sequence: Mutex<u64>,
}

const CURSOR_LIFETIME: Duration = Duration::from_secs(15 * 60);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Cursors {
    fn store(&self, cursor: QueryCursor) -> String {
        let id = {
            let mut sequence = lock(&self.sequence);
            *sequence += 1;
            // Query locators are Ids with the `01g` prefix (recorded `01gB000003OCxSPIA1`).
            RecordId::generate("01g", *sequence).to_string()
        };
        let mut open = lock(&self.open);
        open.retain(|_, (_, created)| created.elapsed() < CURSOR_LIFETIME);
        open.insert(id.clone(), (cursor, Instant::now()));
        id
    }

    fn get(&self, id: &str) -> Option<QueryCursor> {
        lock(&self.open)
            .get(id)
            .filter(|(_, created)| created.elapsed() < CURSOR_LIFETIME)
            .map(|(cursor, _)| cursor.clone())
    }
}

fn query_error(error: QueryError) -> ApiError {
    ApiError::bad_request(ErrorItem::new(
        error.error_code(),
        error.message().to_string(),
    ))
}

fn options(
    state: &OrgState,
    caller: Caller<'_>,
    include_deleted: bool,
    batch_size: usize,
) -> QueryOptions {
    let mut options = QueryOptions::new(caller.version, jiff::Timestamp::now());
    options.include_deleted = include_deleted;
    options.batch_size = batch_size;
    // Relative date literals start at midnight in the caller's time zone.
    let zone = state
        .lookup(&caller.user)
        .and_then(|(_, user)| {
            user.get("TimeZoneSidKey")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        })
        .and_then(|name| jiff::tz::TimeZone::get(&name).ok());
    if let Some(zone) = zone {
        options.time_zone = zone;
    }
    options
}

fn invalid_locator() -> ApiError {
    ApiError::bad_request(ErrorItem::new(
        "INVALID_QUERY_LOCATOR",
        "invalid query locator",
    ))
}

/// `GET query?q=` and `queryAll?q=`.
pub(crate) fn start(
    shared: &Shared,
    caller: Caller<'_>,
    soql: Option<&str>,
    include_deleted: bool,
) -> ApiResult {
    let state = shared.org.read();
    start_on(shared, &state, caller, soql, include_deleted)
}

/// The same, on an org state the caller already holds (Composite's subrequests).
pub(crate) fn start_on(
    shared: &Shared,
    state: &OrgState,
    caller: Caller<'_>,
    soql: Option<&str>,
    include_deleted: bool,
) -> ApiResult {
    let soql = soql.filter(|soql| !soql.trim().is_empty()).ok_or_else(|| {
        ApiError::bad_request(ErrorItem::new(
            "MALFORMED_QUERY",
            "A query string has to be specified",
        ))
    })?;
    let options = options(state, caller, include_deleted, shared.batch_size);
    let outcome = soql::run_query(state, soql, &options).map_err(query_error)?;
    let locator = outcome.cursor.map(|cursor| shared.cursors.store(cursor));
    Ok(Reply::json(
        StatusCode::OK,
        outcome.page.to_json(caller.version, locator.as_deref()),
    ))
}

/// `GET query/{locator}`.
pub(crate) fn more(shared: &Shared, caller: Caller<'_>, locator: &str) -> ApiResult {
    let (id, offset) = soql::parse_locator(locator).ok_or_else(invalid_locator)?;
    let cursor = shared.cursors.get(id).ok_or_else(invalid_locator)?;
    let state = shared.org.read();
    let options = options(&state, caller, false, shared.batch_size);
    let page = soql::next_batch(&*state, &cursor, offset, &options);
    Ok(Reply::json(
        StatusCode::OK,
        page.to_json(caller.version, Some(id)),
    ))
}

/// `GET search?q=`.
pub(crate) fn search(shared: &Shared, caller: Caller<'_>, sosl: Option<&str>) -> ApiResult {
    let sosl = sosl.filter(|sosl| !sosl.trim().is_empty()).ok_or_else(|| {
        ApiError::bad_request(ErrorItem::new(
            "MALFORMED_SEARCH",
            "No search term found. The search term must be enclosed in braces.",
        ))
    })?;
    let state = shared.org.read();
    let options = options(&state, caller, false, shared.batch_size);
    let answer = sosl::run_search(&*state, sosl, &options).map_err(query_error)?;
    let body = answer.to_json();
    // Up to API 36.0 a search answered a bare array of records; `searchRecords` came with
    // 37.0 (REST API Developer Guide: the v35.0 edition's dome_search example is an array,
    // the v37.0 edition's an object; restforce spec/fixtures/sobject/search_success_response.json
    // recorded the array).
    let major: u32 = caller
        .version
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .unwrap_or(u32::MAX);
    if major < 37 {
        return Ok(Reply::json(
            StatusCode::OK,
            body.get("searchRecords")
                .cloned()
                .unwrap_or(serde_json::Value::Array(Vec::new())),
        ));
    }
    Ok(Reply::json(StatusCode::OK, body))
}
