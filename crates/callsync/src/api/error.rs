//! The one error type of the HTTP API. Every handler returns it; it turns
//! into a JSON body `{"error": {"code", "message", "details"}}` that says
//! what was wrong and where. Internal failures are logged with their whole
//! cause chain and answered with a generic message, so no internal text
//! (SQL, paths, secrets) reaches a client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One problem in a request, located by a path such as `events[3].customer_number`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or an unknown API key, or a bad signature.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid key without the scope, or reaching into another organisation.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The organisation is not in a state that allows the request (no
    /// Salesforce connection, or one Salesforce refuses); the message says
    /// what to change.
    #[error("{0}")]
    Conflict(String),
    /// Something the request depends on (Salesforce) cannot be reached now;
    /// the message says what was not done and why.
    #[error("{0}")]
    Unavailable(String),
    /// The body is not what the endpoint takes (not JSON, wrong shape).
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed, but some values are invalid; `problems` says which.
    #[error("{message}")]
    Invalid {
        message: String,
        problems: Vec<Problem>,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The body of every error answer.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ErrorBody)]
pub struct Body<'a> {
    error: Detail<'a>,
}

/// What went wrong: a stable code, a message for people, and the problems
/// located by field.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Detail<'a> {
    /// `unauthorized`, `forbidden`, `not_found`, `bad_request`, `invalid`, `rate_limited`,
    /// `internal`.
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "<[Problem]>::is_empty")]
    details: &'a [Problem],
}

/// The error body's schema, for the API document.
pub type ErrorBody = Body<'static>;

impl ApiError {
    pub fn invalid(message: impl Into<String>, problems: Vec<Problem>) -> ApiError {
        ApiError::Invalid {
            message: message.into(),
            problems,
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed");
                "internal error; the server log has the details".to_owned()
            }
            other => other.to_string(),
        };
        let details = match &self {
            ApiError::Invalid { problems, .. } => problems.as_slice(),
            _ => &[],
        };
        let body = Body {
            error: Detail {
                code,
                message,
                details,
            },
        };
        (status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The error body for a status the router chose itself (404, 405, 413...),
/// with the code that status stands for.
pub(super) fn plain_error(status: StatusCode, message: &str) -> Response {
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        status if status.is_server_error() => "internal",
        _ => "refused",
    };
    let body = Body {
        error: Detail {
            code,
            message: message.to_owned(),
            details: &[],
        },
    };
    (status, Json(body)).into_response()
}
