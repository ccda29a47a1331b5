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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "<[Problem]>::is_empty")]
    details: &'a [Problem],
}

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
