//! The REST resources under `/services/data/vXX.X/`, as plain functions over the org:
//! sObject rows, upsert by external id, describe, `updated/` and `deleted/`, sObject
//! Collections and Composite. HTTP wiring lives in `server`; these functions are shared
//! by the routes and by Composite's subrequests, so both answer alike.
//!
//! Shapes follow recorded answers (forcedotcom/sf-fx-runtime-nodejs `mappings/`) and the
//! REST API Developer Guide (upsert 201/200 with `created`, 300 on several matches;
//! collections' SaveResults with `statusCode`; Composite's `compositeResponse`).

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ErrorItem, RecordErrors};
use crate::ids::RecordId;
use crate::org::{Journal, OrgState, WriteOptions};
use crate::query::source::QuerySource;
use crate::values::{format_datetime, parse_datetime};

/// A successful answer: status, optional JSON body, optional `Location`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub location: Option<String>,
}

impl Reply {
    pub fn json(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            location: None,
        }
    }

    pub fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
            location: None,
        }
    }
}

pub type ApiResult = Result<Reply, ApiError>;

/// Who calls, and in which API version.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub user: RecordId,
    /// `62.0` (without the `v`).
    pub version: &'a str,
    /// What the request's headers ask of writes.
    pub options: WriteOptions,
}

/// Record-level errors of a single-record call become the call's error: 404 for the
/// not-found family, 400 otherwise.
pub fn record_errors(errors: RecordErrors) -> ApiError {
    let status = match errors.first().map(|item| item.error_code.as_str()) {
        Some("NOT_FOUND" | "ENTITY_IS_DELETED") => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError { status, errors }
}

/// Parses a request body as Salesforce does: a syntax error is JSON_PARSER_ERROR.
pub fn parse_body(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|error| {
        let text = error.to_string();
        let detail = text.split(" at line ").next().unwrap_or(&text).to_string();
        ApiError::json_parser(&format!(
            "{detail} at [line:{}, column:{}]",
            error.line(),
            error.column()
        ))
    })
}

fn body_object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object().ok_or_else(|| {
        ApiError::json_parser("Cannot deserialize instance of SObject from START_ARRAY value or request may be missing a required field")
    })
}

fn sobject_url(version: &str, object: &str, id: &str) -> String {
    format!("/services/data/v{version}/sobjects/{object}/{id}")
}

fn canonical_object(state: &OrgState, object: &str) -> Result<String, ApiError> {
    state
        .object_def(object)
        .map(|def| def.name.clone())
        .ok_or_else(ApiError::not_found)
}

/// `POST /sobjects/{object}`: 201 `{"id","success":true,"errors":[]}` with `Location`
/// (mappings/create.json).
pub fn create(
    state: &mut OrgState,
    journal: &mut Journal,
    caller: Caller<'_>,
    object: &str,
    body: &Value,
) -> ApiResult {
    let object = canonical_object(state, object)?;
    let fields = body_object(body)?;
    let id = state
        .create_with(caller.user, &object, fields, journal, caller.options)
        .map_err(record_errors)?;
    Ok(Reply {
        status: StatusCode::CREATED,
        body: Some(json!({"id": id.as_str(), "success": true, "errors": []})),
        location: Some(sobject_url(caller.version, &object, id.as_str())),
    })
}

/// `GET /sobjects/{object}/{id}[?fields=a,b]`.
pub fn retrieve(
    state: &OrgState,
    caller: Caller<'_>,
    object: &str,
    id: &str,
    fields: Option<&str>,
) -> ApiResult {
    let table = state.resolve_object(object)?;
    let def = state.object_def(object).ok_or_else(ApiError::not_found)?;
    if RecordId::parse(id).is_err() {
        // A segment that is not an Id is read as an external-id field name.
        return Err(unknown_external_id_field(id));
    }
    let (record_id, _) = state.locate(table, id).map_err(|error| {
        if error.code() == "MALFORMED_ID" {
            ApiError::not_found()
        } else {
            error
        }
    })?;
    let wanted = parse_field_list(state, &def.name, fields)?;
    let (object_name, record) = state.lookup(&record_id).ok_or_else(ApiError::not_found)?;
    Ok(Reply::json(
        StatusCode::OK,
        state.render(object_name, record, wanted.as_deref(), caller.version),
    ))
}

fn parse_field_list(
    state: &OrgState,
    object: &str,
    fields: Option<&str>,
) -> Result<Option<Vec<String>>, ApiError> {
    let Some(fields) = fields.filter(|fields| !fields.trim().is_empty()) else {
        return Ok(None);
    };
    let mut names = Vec::new();
    for name in fields
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        match state.field(object, name) {
            Some(field) => names.push(field.name),
            None => return Err(ApiError::no_such_column(name, object)),
        }
    }
    Ok(Some(names))
}

/// `PATCH /sobjects/{object}/{id}`: 204 (mappings/update.json).
pub fn update(
    state: &mut OrgState,
    journal: &mut Journal,
    caller: Caller<'_>,
    object: &str,
    id: &str,
    body: &Value,
) -> ApiResult {
    let object = canonical_object(state, object)?;
    let fields = body_object(body)?;
    state
        .update(caller.user, &object, id, fields, journal)
        .map_err(record_errors)?;
    Ok(Reply::no_content())
}

/// `DELETE /sobjects/{object}/{id}`: 204; a deleted record is 404 ENTITY_IS_DELETED
/// (mappings/delete.json, mappings/delete-already-deleted.json).
pub fn delete(
    state: &mut OrgState,
    journal: &mut Journal,
    caller: Caller<'_>,
    object: &str,
    id: &str,
) -> ApiResult {
    let object = canonical_object(state, object)?;
    if RecordId::parse(id).is_err() {
        // A segment that is not an Id is read as an external-id field name, as for GET
        // (restforce spec/fixtures/sobject/delete_error_response.json).
        return Err(unknown_external_id_field(id));
    }
    state.delete(caller.user, &object, id, journal)?;
    Ok(Reply::no_content())
}

/// "Provided external ID field does not exist or is not accessible" (restforce
/// spec/fixtures/sobject/upsert_error_response.json, sobject_find_error_response.json).
fn unknown_external_id_field(field: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorItem::new(
            "NOT_FOUND",
            format!("Provided external ID field does not exist or is not accessible: {field}"),
        ),
    )
}

fn external_id_field(state: &OrgState, object: &str, field: &str) -> Result<String, ApiError> {
    let def = state.object_def(object).ok_or_else(ApiError::not_found)?;
    match def.field(field) {
        Some(found) if found.external_id || found.name == "Id" => Ok(found.name.clone()),
        _ => Err(unknown_external_id_field(field)),
    }
}

/// `GET /sobjects/{object}/{field}/{value}`: the record with that external id.
pub fn retrieve_by_external_id(
    state: &OrgState,
    caller: Caller<'_>,
    object: &str,
    field: &str,
    value: &str,
    fields: Option<&str>,
) -> ApiResult {
    let object = canonical_object(state, object)?;
    let field = external_id_field(state, &object, field)?;
    if field == "Id" {
        return retrieve(state, caller, &object, value, fields);
    }
    let matches = state.find_by_unique(&object, &field, value);
    match matches.as_slice() {
        [] => Err(ApiError::not_found()),
        [id] => retrieve(state, caller, &object, id.as_str(), fields),
        several => Ok(multiple_choices_reply(caller, &object, several)),
    }
}

fn multiple_choices(object: &str) -> ApiError {
    ApiError::new(
        StatusCode::MULTIPLE_CHOICES,
        ErrorItem::new(
            "MULTIPLE_CHOICES",
            format!("More than one record found for external id field on {object}"),
        ),
    )
}

/// "If the external ID is matched multiple times, then a 300 error is reported" (REST API
/// Developer Guide, dome_upsert); the body lists the matching records' URLs.
fn multiple_choices_reply(caller: Caller<'_>, object: &str, ids: &[RecordId]) -> Reply {
    let urls: Vec<Value> = ids
        .iter()
        .map(|id| json!(sobject_url(caller.version, object, id.as_str())))
        .collect();
    Reply::json(StatusCode::MULTIPLE_CHOICES, Value::Array(urls))
}

/// What an upsert did, for collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created(RecordId),
    Updated(RecordId),
}

/// Upsert one record by external id, as the org sees it.
pub fn upsert_record(
    state: &mut OrgState,
    journal: &mut Journal,
    caller: Caller<'_>,
    object: &str,
    field: &str,
    value: &str,
    body: &Map<String, Value>,
) -> Result<Upserted, RecordErrors> {
    let object = canonical_object(state, object).map_err(|error| error.errors)?;
    let field = external_id_field(state, &object, field).map_err(|error| error.errors)?;
    let mut fields = body.clone();
    fields.retain(|key, _| !key.eq_ignore_ascii_case(&field));
    let matches = if field == "Id" {
        RecordId::parse(value)
            .ok()
            .filter(|id| state.lookup(id).is_some())
            .into_iter()
            .collect()
    } else {
        state.find_by_unique(&object, &field, value)
    };
    match matches.as_slice() {
        [] => {
            if field != "Id" {
                fields.insert(field.clone(), Value::String(value.to_string()));
            }
            state
                .create(caller.user, &object, &fields, journal)
                .map(Upserted::Created)
        }
        [id] => state
            .update(caller.user, &object, id.as_str(), &fields, journal)
            .map(|()| Upserted::Updated(*id)),
        _ => Err(multiple_choices(&object).errors),
    }
}

/// Upsert answers carry `created` (and an update answers 200 rather than 204) from API 46.0
/// on (REST API Developer Guide, dome_upsert).
fn upsert_reports_created(caller: Caller<'_>) -> bool {
    caller
        .version
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok())
        .is_some_and(|major| major >= 46)
}

/// `PATCH /sobjects/{object}/{field}/{value}`: 201 `created: true` for a new record, 200
/// `created: false` for an update (API 46.0 and later; 204 before), 300 when several match.
pub fn upsert(
    state: &mut OrgState,
    journal: &mut Journal,
    caller: Caller<'_>,
    object: &str,
    field: &str,
    value: &str,
    body: &Value,
) -> ApiResult {
    let fields = body_object(body)?;
    let object_name = canonical_object(state, object)?;
    let field_name = external_id_field(state, &object_name, field)?;
    if field_name != "Id" {
        let matches = state.find_by_unique(&object_name, &field_name, value);
        if matches.len() > 1 {
            return Ok(multiple_choices_reply(caller, &object_name, &matches));
        }
    }
    match upsert_record(state, journal, caller, &object_name, field, value, fields) {
        Ok(Upserted::Created(id)) => {
            let body = if upsert_reports_created(caller) {
                json!({"id": id.as_str(), "success": true, "errors": [], "created": true})
            } else {
                // Before 46.0 a created record answers like a plain create (restforce
                // spec/fixtures/sobject/upsert_created_success_response.json).
                json!({"id": id.as_str(), "success": true, "errors": []})
            };
            Ok(Reply {
                status: StatusCode::CREATED,
                body: Some(body),
                location: Some(sobject_url(caller.version, &object_name, id.as_str())),
            })
        }
        Ok(Upserted::Updated(id)) => {
            if upsert_reports_created(caller) {
                Ok(Reply::json(
                    StatusCode::OK,
                    json!({"id": id.as_str(), "success": true, "errors": [], "created": false}),
                ))
            } else {
                Ok(Reply::no_content())
            }
        }
        Err(errors)
            if errors
                .first()
                .is_some_and(|item| item.error_code == "MULTIPLE_CHOICES") =>
        {
            Err(ApiError {
                status: StatusCode::MULTIPLE_CHOICES,
                errors,
            })
        }
        Err(errors) => Err(record_errors(errors)),
    }
}

/// `GET /sobjects/`: global describe.
pub fn describe_global(state: &OrgState, caller: Caller<'_>) -> ApiResult {
    let objects: Vec<Value> = state
        .object_defs()
        .map(|def| def.describe_summary(caller.version))
        .collect();
    Ok(Reply::json(
        StatusCode::OK,
        json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objects}),
    ))
}

/// `GET /sobjects/{object}/describe`.
pub fn describe(state: &OrgState, caller: Caller<'_>, object: &str) -> ApiResult {
    let def = state.object_def(object).ok_or_else(ApiError::not_found)?;
    Ok(Reply::json(StatusCode::OK, def.describe(caller.version)))
}

/// `GET /sobjects/{object}`: the object's basic information.
pub fn object_info(state: &OrgState, caller: Caller<'_>, object: &str) -> ApiResult {
    let def = state.object_def(object).ok_or_else(ApiError::not_found)?;
    Ok(Reply::json(
        StatusCode::OK,
        json!({"objectDescribe": def.describe_summary(caller.version), "recentItems": []}),
    ))
}

fn parse_range(
    start: Option<&str>,
    end: Option<&str>,
) -> Result<(jiff::Timestamp, jiff::Timestamp), ApiError> {
    // A `+` in an unencoded query string arrives as a space.
    let read = |text: Option<&str>, name: &str| {
        text.map(|text| text.replace(' ', "+"))
            .and_then(|text| parse_datetime(&text))
            .ok_or_else(|| {
                ApiError::bad_request(ErrorItem::new(
                    "INVALID_REPLICATION_DATE",
                    format!("{name} date is missing or invalid"),
                ))
            })
    };
    let start = read(start, "start")?;
    let end = read(end, "end")?;
    if start > end {
        return Err(ApiError::bad_request(ErrorItem::new(
            "INVALID_REPLICATION_DATE",
            "start date must be before end date",
        )));
    }
    Ok((start, end))
}

/// `GET /sobjects/{object}/updated/?start=&end=`.
pub fn updated(
    state: &OrgState,
    object: &str,
    start: Option<&str>,
    end: Option<&str>,
) -> ApiResult {
    canonical_object(state, object)?;
    let (start, end) = parse_range(start, end)?;
    let ids = state.updated_between(object, start.as_millisecond(), end.as_millisecond());
    Ok(Reply::json(
        StatusCode::OK,
        json!({"ids": ids, "latestDateCovered": format_datetime(end)}),
    ))
}

/// `GET /sobjects/{object}/deleted/?start=&end=`.
pub fn deleted(
    state: &OrgState,
    object: &str,
    start: Option<&str>,
    end: Option<&str>,
) -> ApiResult {
    canonical_object(state, object)?;
    let (start, end) = parse_range(start, end)?;
    let records: Vec<Value> = state
        .deleted_between(object, start.as_millisecond(), end.as_millisecond())
        .into_iter()
        .map(|(id, when)| {
            let when = jiff::Timestamp::from_millisecond(when)
                .map(format_datetime)
                .unwrap_or_default();
            json!({"id": id.as_str(), "deletedDate": when})
        })
        .collect();
    let earliest = records
        .first()
        .and_then(|record| record.get("deletedDate").cloned())
        .unwrap_or(json!(format_datetime(start)));
    Ok(Reply::json(
        StatusCode::OK,
        json!({"deletedRecords": records, "earliestDateAvailable": earliest, "latestDateCovered": format_datetime(end)}),
    ))
}

// ----- sObject Collections -----

const COLLECTION_LIMIT: usize = 200;

fn too_many_records() -> ApiError {
    // Quoted by jsforce users hitting the limit: "EXCEEDED_ID_LIMIT: record limit reached.
    // cannot submit more than 200 records into this call".
    ApiError::bad_request(ErrorItem::new(
        "EXCEEDED_ID_LIMIT",
        "record limit reached. cannot submit more than 200 records into this call",
    ))
}

fn rolled_back() -> Value {
    json!({"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
           "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
           "fields": []})
}

fn failure(id: Option<&str>, errors: &[ErrorItem]) -> Value {
    let errors: Vec<Value> = errors.iter().map(ErrorItem::to_save_result_json).collect();
    match id {
        Some(id) => json!({"id": id, "success": false, "errors": errors}),
        None => json!({"success": false, "errors": errors}),
    }
}

/// Finishes a collection: with `allOrNone` and any failure, undo everything and mark the
/// successful entries as rolled back.
fn finish_collection(
    state: &mut OrgState,
    journal: Journal,
    all_or_none: bool,
    results: Vec<Result<Value, Value>>,
) -> ApiResult {
    let any_failed = results.iter().any(Result::is_err);
    if all_or_none && any_failed {
        state.undo(journal);
        let body: Vec<Value> = results
            .into_iter()
            .map(|result| match result {
                Ok(success) => {
                    let id = success.get("id").cloned().unwrap_or(Value::Null);
                    json!({"id": id, "success": false, "errors": [rolled_back()]})
                }
                Err(failed) => failed,
            })
            .collect();
        return Ok(Reply::json(StatusCode::OK, Value::Array(body)));
    }
    let body: Vec<Value> = results
        .into_iter()
        .map(|result| result.unwrap_or_else(|failed| failed))
        .collect();
    Ok(Reply::json(StatusCode::OK, Value::Array(body)))
}

fn collection_records(body: &Value) -> Result<(bool, &Vec<Value>), ApiError> {
    let object = body_object(body)?;
    let all_or_none = object
        .get("allOrNone")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let records = object
        .get("records")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::json_parser("The request must contain a records list"))?;
    if records.len() > COLLECTION_LIMIT {
        return Err(too_many_records());
    }
    Ok((all_or_none, records))
}

fn record_type(record: &Value) -> Option<&str> {
    record
        .get("attributes")
        .and_then(|attributes| attributes.get("type"))
        .and_then(Value::as_str)
}

fn missing_type() -> ErrorItem {
    ErrorItem::with_fields("INVALID_TYPE", "Must send a concrete entity type.", &[])
}

/// `POST /composite/sobjects`: create up to 200 records.
pub fn collection_create(state: &mut OrgState, caller: Caller<'_>, body: &Value) -> ApiResult {
    let (all_or_none, records) = collection_records(body)?;
    let mut journal = Journal::default();
    let mut results = Vec::with_capacity(records.len());
    for record in records {
        let result = match (record_type(record), record.as_object()) {
            (Some(object), Some(fields)) => {
                if fields.keys().any(|key| key.eq_ignore_ascii_case("Id")) {
                    Err(vec![ErrorItem::with_fields(
                        "INVALID_FIELD",
                        "cannot specify Id in an insert call",
                        &["Id"],
                    )])
                } else {
                    state.create(caller.user, object, fields, &mut journal)
                }
            }
            _ => Err(vec![missing_type()]),
        };
        results.push(match result {
            Ok(id) => Ok(json!({"id": id.as_str(), "success": true, "errors": []})),
            Err(errors) => Err(failure(None, &errors)),
        });
    }
    finish_collection(state, journal, all_or_none, results)
}

/// `PATCH /composite/sobjects`: update up to 200 records (each with `id`).
pub fn collection_update(state: &mut OrgState, caller: Caller<'_>, body: &Value) -> ApiResult {
    let (all_or_none, records) = collection_records(body)?;
    let mut journal = Journal::default();
    let mut results = Vec::with_capacity(records.len());
    for record in records {
        let id = record
            .get("id")
            .or_else(|| record.get("Id"))
            .and_then(Value::as_str);
        let result = match (record_type(record), record.as_object(), id) {
            (Some(object), Some(fields), Some(id)) => state
                .update(caller.user, object, id, fields, &mut journal)
                .map(|()| id.to_string()),
            (_, _, None) => Err(vec![ErrorItem::with_fields(
                "MISSING_ARGUMENT",
                "Id not specified in an update call",
                &[],
            )]),
            _ => Err(vec![missing_type()]),
        };
        results.push(match result {
            Ok(id) => {
                let id = RecordId::parse(&id).map(|id| id.to_string()).unwrap_or(id);
                Ok(json!({"id": id, "success": true, "errors": []}))
            }
            Err(errors) => Err(failure(id, &errors)),
        });
    }
    finish_collection(state, journal, all_or_none, results)
}

/// `PATCH /composite/sobjects/{object}/{field}`: upsert up to 200 records by external id.
pub fn collection_upsert(
    state: &mut OrgState,
    caller: Caller<'_>,
    object: &str,
    field: &str,
    body: &Value,
) -> ApiResult {
    let object = canonical_object(state, object)?;
    let field = external_id_field(state, &object, field)?;
    let (all_or_none, records) = collection_records(body)?;
    let mut journal = Journal::default();
    let mut results = Vec::with_capacity(records.len());
    for record in records {
        let value = record.get(&field).map(|value| match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        });
        // "Each object in the request body must contain an attributes map. The map must
        // contain a value for type" (REST API Developer Guide, "Upsert Records Using sObject
        // Collections").
        let result = match (record.as_object(), value) {
            (Some(_), _) if record_type(record).is_none() => Err(vec![missing_type()]),
            (Some(fields), Some(value)) => {
                upsert_record(state, &mut journal, caller, &object, &field, &value, fields)
            }
            _ => Err(vec![ErrorItem::with_fields(
                "MISSING_ARGUMENT",
                format!("{field} not specified"),
                &[],
            )]),
        };
        results.push(match result {
            Ok(Upserted::Created(id)) => {
                Ok(json!({"id": id.as_str(), "success": true, "errors": [], "created": true}))
            }
            Ok(Upserted::Updated(id)) => {
                Ok(json!({"id": id.as_str(), "success": true, "errors": [], "created": false}))
            }
            Err(errors) => Err(failure(None, &errors)),
        });
    }
    finish_collection(state, journal, all_or_none, results)
}

/// `DELETE /composite/sobjects?ids=...&allOrNone=...`.
pub fn collection_delete(
    state: &mut OrgState,
    caller: Caller<'_>,
    ids: &str,
    all_or_none: bool,
) -> ApiResult {
    let ids: Vec<&str> = ids
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .collect();
    if ids.len() > COLLECTION_LIMIT {
        return Err(too_many_records());
    }
    let mut journal = Journal::default();
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        let object = RecordId::parse(id)
            .ok()
            .and_then(|parsed| state.lookup(&parsed).map(|(object, _)| object.to_string()));
        let result = match object {
            Some(object) => state
                .delete(caller.user, &object, id, &mut journal)
                .map_err(|error| error.errors),
            None if RecordId::parse(id).is_err() => Err(vec![ErrorItem::with_fields(
                "MALFORMED_ID",
                format!("malformed id {id}"),
                &[],
            )]),
            None => Err(vec![ErrorItem::with_fields(
                "INVALID_CROSS_REFERENCE_KEY",
                "invalid cross reference id",
                &[],
            )]),
        };
        results.push(match result {
            Ok(()) => Ok(json!({"id": RecordId::parse(id).map(|id| id.to_string()).unwrap_or_default(), "success": true, "errors": []})),
            Err(errors) => Err(failure(Some(id), &errors)),
        });
    }
    finish_collection(state, journal, all_or_none, results)
}

/// `GET /composite/sobjects/{object}?ids=&fields=` and its POST form: the records in order,
/// `null` for Ids that are not there.
pub fn collection_retrieve(
    state: &OrgState,
    caller: Caller<'_>,
    object: &str,
    ids: &[String],
    fields: &[String],
) -> ApiResult {
    let object = canonical_object(state, object)?;
    if ids.len() > 2000 {
        return Err(too_many_records());
    }
    let joined = fields.join(",");
    let wanted = parse_field_list(state, &object, Some(&joined))?;
    let records: Vec<Value> = ids
        .iter()
        .map(|id| {
            RecordId::parse(id)
                .ok()
                .and_then(|id| state.lookup(&id))
                .filter(|(found, record)| {
                    *found == object && record.get("IsDeleted") != Some(&Value::Bool(true))
                })
                .map(|(found, record)| {
                    state.render(found, record, wanted.as_deref(), caller.version)
                })
                .unwrap_or(Value::Null)
        })
        .collect();
    Ok(Reply::json(StatusCode::OK, Value::Array(records)))
}
