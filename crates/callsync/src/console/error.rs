//! The console's one error type. A page that cannot be shown answers an
//! HTML page in both languages with the right status; a request without a
//! session is sent to the sign-in page. Internal causes are logged, never
//! shown (like `ApiError`).

use askama::Template;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::i18n::Lang;
use crate::api::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No session, or one that expired: sign in again.
    #[error("not signed in")]
    SignedOut,
    /// Nothing with that id in the signed-in organisation (another
    /// organisation's call is exactly as absent as a call that never was).
    #[error("not found")]
    NotFound,
    /// A form without this session's CSRF token.
    #[error("form token refused")]
    CsrfRefused,
    /// A request the console's own forms never send.
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type ConsoleResult<T> = Result<T, ConsoleError>;

impl From<askama::Error> for ConsoleError {
    fn from(error: askama::Error) -> Self {
        ConsoleError::Internal(anyhow::Error::new(error).context("a console template failed"))
    }
}

impl From<ApiError> for ConsoleError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::NotFound(_) => ConsoleError::NotFound,
            ApiError::Internal(cause) => ConsoleError::Internal(cause),
            other => ConsoleError::BadRequest(other.to_string()),
        }
    }
}

/// The error page: its title and explanation in both languages, since the
/// failure may come before the language is known.
#[derive(Debug, Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    status: u16,
    title_key: &'static str,
    body_key: &'static str,
    detail: Option<String>,
    langs: [Lang; 2],
}

impl ErrorPage {
    fn t(&self, lang: &Lang, key: &str) -> String {
        lang.text(key)
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, title_key, body_key, detail) = match &self {
            ConsoleError::SignedOut => {
                let mut response = Redirect::to("/console/signin").into_response();
                // htmx follows this header instead of swapping a page into a fragment.
                response
                    .headers_mut()
                    .insert("HX-Redirect", HeaderValue::from_static("/console/signin"));
                return response;
            }
            ConsoleError::NotFound => (
                StatusCode::NOT_FOUND,
                "error-not-found-title",
                "error-not-found-body",
                None,
            ),
            ConsoleError::CsrfRefused => (
                StatusCode::FORBIDDEN,
                "error-csrf-title",
                "error-csrf-body",
                None,
            ),
            ConsoleError::BadRequest(message) => (
                StatusCode::BAD_REQUEST,
                "error-bad-request-title",
                "error-bad-request-body",
                Some(message.clone()),
            ),
            ConsoleError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "console request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error-internal-title",
                    "error-internal-body",
                    None,
                )
            }
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title_key,
            body_key,
            detail,
            langs: Lang::ALL,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(error) => {
                tracing::error!(%error, "the console's error page failed");
                status.into_response()
            }
        }
    }
}
