//! Salesforce's error shapes: the REST API answers every failure with an array of
//! `{"message", "errorCode", "fields"}` objects and an HTTP status; sObject Collections put
//! the same items under `statusCode` inside each record's result. This module holds those
//! shapes and the constructors for the errors the sandbox produces, each citing where the
//! real wording was seen.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One error item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorItem {
    pub message: String,
    pub error_code: String,
    /// `None` when Salesforce leaves `fields` out (NOT_FOUND, INVALID_FIELD...).
    pub fields: Option<Vec<String>>,
    /// `DUPLICATES_DETECTED`'s `duplicateResult` (the rule and the records it matched).
    pub duplicate_result: Option<Value>,
}

impl ErrorItem {
    pub fn new(code: &str, message: impl Into<String>) -> ErrorItem {
        ErrorItem {
            message: message.into(),
            error_code: code.to_string(),
            fields: None,
            duplicate_result: None,
        }
    }

    pub fn with_fields(code: &str, message: impl Into<String>, fields: &[&str]) -> ErrorItem {
        ErrorItem {
            message: message.into(),
            error_code: code.to_string(),
            fields: Some(fields.iter().map(|field| (*field).to_string()).collect()),
            duplicate_result: None,
        }
    }

    /// The REST error body form (`errorCode`).
    pub fn to_rest_json(&self) -> Value {
        let mut object = json!({"message": self.message, "errorCode": self.error_code});
        if let (Some(fields), Some(map)) = (&self.fields, object.as_object_mut()) {
            map.insert("fields".to_string(), json!(fields));
        }
        if let (Some(duplicates), Some(map)) = (&self.duplicate_result, object.as_object_mut()) {
            map.insert("duplicateResult".to_string(), duplicates.clone());
        }
        object
    }

    /// The SaveResult form used by sObject Collections (`statusCode`, `fields` always present).
    pub fn to_save_result_json(&self) -> Value {
        json!({"statusCode": self.error_code, "message": self.message,
               "fields": self.fields.clone().unwrap_or_default()})
    }
}

/// A failed API call: the HTTP status and Salesforce's error items.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {}", .errors.first().map(|item| item.error_code.as_str()).unwrap_or(""))]
pub struct ApiError {
    pub status: StatusCode,
    pub errors: Vec<ErrorItem>,
}

impl ApiError {
    pub fn new(status: StatusCode, item: ErrorItem) -> ApiError {
        ApiError {
            status,
            errors: vec![item],
        }
    }

    pub fn bad_request(item: ErrorItem) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, item)
    }

    /// The body Salesforce sends.
    pub fn body(&self) -> Value {
        Value::Array(self.errors.iter().map(ErrorItem::to_rest_json).collect())
    }

    /// The first item's code, for tests and logs.
    pub fn code(&self) -> &str {
        self.errors
            .first()
            .map(|item| item.error_code.as_str())
            .unwrap_or_default()
    }

    // --- The errors, with their real wording. ---

    /// Unknown object, unknown API version, unknown path, record not found.
    /// forcedotcom/sf-fx-runtime-nodejs `mappings/create-unknown-object.json`,
    /// `mappings/create-invalid-api-version.json`: 404 with no `fields`.
    pub fn not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorItem::new("NOT_FOUND", "The requested resource does not exist"),
        )
    }

    /// `mappings/create-invalid-token.json`: 401, sent with `WWW-Authenticate: Token`.
    pub fn invalid_session() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorItem::new("INVALID_SESSION_ID", "Session expired or invalid"),
        )
    }

    /// `mappings/create-invalid-field.json`.
    pub fn no_such_column(field: &str, object: &str) -> ApiError {
        ApiError::bad_request(ErrorItem::new(
            "INVALID_FIELD",
            format!("No such column '{field}' on sobject of type {object}"),
        ))
    }

    /// `mappings/update-malformed-id.json`: "Record ID: id value of incorrect type".
    pub fn malformed_record_id(id: &str) -> ApiError {
        ApiError::bad_request(ErrorItem::with_fields(
            "MALFORMED_ID",
            format!("Record ID: id value of incorrect type: {id}"),
            &["Id"],
        ))
    }

    /// `mappings/delete-already-deleted.json`: 404 with an empty `fields`.
    pub fn entity_is_deleted() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorItem::with_fields("ENTITY_IS_DELETED", "entity is deleted", &[]),
        )
    }

    /// Daily API allowance used up: 403, "TotalRequests Limit exceeded." (as quoted by many
    /// public clients' tests, e.g. error classifiers matching REQUEST_LIMIT_EXCEEDED).
    pub fn request_limit_exceeded() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorItem::new("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
        )
    }

    /// Row lock contention; wording as bulk result files show it
    /// ("unable to obtain exclusive access to this record or 1 records: <id>").
    pub fn unable_to_lock_row(id: Option<&str>) -> ApiError {
        let message = match id {
            Some(id) => {
                format!("unable to obtain exclusive access to this record or 1 records: {id}")
            }
            None => "unable to obtain exclusive access to this record".to_string(),
        };
        ApiError::bad_request(ErrorItem::with_fields("UNABLE_TO_LOCK_ROW", message, &[]))
    }

    /// A body that is not JSON. Salesforce passes its JSON parser's message through, with
    /// the position; ours comes from serde_json.
    pub fn json_parser(detail: &str) -> ApiError {
        ApiError::bad_request(ErrorItem::new("JSON_PARSER_ERROR", detail.to_string()))
    }

    /// An internal failure in the shape Salesforce uses for unexpected errors.
    pub fn unknown_exception(message: &str) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorItem::new("UNKNOWN_EXCEPTION", message.to_string()),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = salesforce_json(status, &self.body());
        if status == StatusCode::UNAUTHORIZED
            && let Ok(value) = "Token".parse()
        {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// A JSON answer with Salesforce's content type, `application/json;charset=UTF-8` (the
/// `Content-Type` of every recorded answer in sf-fx-runtime-nodejs `mappings/`), where
/// axum's `Json` says `application/json`.
pub(crate) fn salesforce_json(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    response
}

/// Failures of the record-level validation: several items may apply to one record.
pub type RecordErrors = Vec<ErrorItem>;

/// Errors of the library's own API (starting the server, loading state).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not bind the sandbox's listener")]
    Bind(#[source] std::io::Error),
    #[error("could not read or write the state file {path}")]
    StateFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the state file {path} is not a sandbox state")]
    StateFormat {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("could not make the TLS certificate or key: {0}")]
    Tls(String),
    #[error("could not make the connected app's signing key: {0}")]
    Key(String),
    #[error("invalid configuration: {0}")]
    Config(String),
}
