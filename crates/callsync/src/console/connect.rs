//! Connect Salesforce: the login URL (My Domain, or test.salesforce.com for
//! a sandbox org), the connected app's consumer key, then either the private
//! key whose certificate the app holds (JWT bearer, uploaded as a PEM file)
//! or the consumer secret (web-server flow: each user connects themselves
//! with a button, `agents.rs`), and the default user; then "Test
//! connection", answered in plain words.
//!
//! Stored through `api::settings::store_connection`, like
//! `PUT /v1/salesforce`: in the organisation's `salesforce` column, the key
//! write-only (shown as a fingerprint). A save without a new key keeps the
//! stored one, so other fields can change without uploading it again.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;

use super::Chrome;
use super::error::ConsoleResult;
use super::session::{Posted, Session};
use crate::api::settings::{store_connection, stored_connection};
use crate::api::{ApiError, AppState};
use crate::crm::{ConnectionFlow, ConnectionView, SalesforceConnection, Step};

/// The form's name of a flow.
fn flow_name(flow: ConnectionFlow) -> &'static str {
    match flow {
        ConnectionFlow::JwtBearer => "jwt_bearer",
        ConnectionFlow::WebServer => "web_server",
    }
}

#[derive(Debug)]
/// The answer of "Test connection".
pub struct TestResult {
    pub ok: bool,
    pub headline: String,
    pub detail: String,
}

#[derive(Debug, Template)]
#[template(path = "console/connect.html")]
pub struct ConnectPage {
    c: Chrome,
    current: Option<ConnectionView>,
    /// The form's values (the stored ones, or those just sent).
    login_url: String,
    consumer_key: String,
    default_username: String,
    api_version: String,
    /// `jwt_bearer` or `web_server`.
    flow: String,
    problems: BTreeMap<String, String>,
    saved: bool,
    test: Option<TestResult>,
    /// The Salesforce users who may sign in to the console with Salesforce.
    admins: Vec<String>,
}

impl ConnectPage {
    fn problem(&self, field: &str) -> Option<&String> {
        self.problems.get(field)
    }
}

async fn page_for(state: &AppState, session: &Session) -> ConsoleResult<ConnectPage> {
    let mut page = page_without_admins(session);
    page.admins = state.store.console_admins(&session.org.id).await?;
    Ok(page)
}

fn page_without_admins(session: &Session) -> ConnectPage {
    let current = stored_connection(&session.org).ok().flatten();
    let view = current.as_ref().map(SalesforceConnection::redacted);
    ConnectPage {
        c: Chrome::new(session, "salesforce", "/console/salesforce"),
        login_url: view
            .as_ref()
            .map(|v| v.login_url.clone())
            .unwrap_or_default(),
        consumer_key: view
            .as_ref()
            .map(|v| v.consumer_key.clone())
            .unwrap_or_default(),
        default_username: view
            .as_ref()
            .map(|v| v.default_username.clone())
            .unwrap_or_default(),
        api_version: view
            .as_ref()
            .and_then(|v| v.api_version.clone())
            .unwrap_or_default(),
        flow: flow_name(view.as_ref().map_or(ConnectionFlow::JwtBearer, |v| v.flow)).to_owned(),
        current: view,
        problems: BTreeMap::new(),
        saved: false,
        test: None,
        admins: Vec::new(),
    }
}

/// `GET /console/salesforce`.
pub async fn page(State(state): State<AppState>, session: Session) -> ConsoleResult<Html<String>> {
    Ok(Html(page_for(&state, &session).await?.render()?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConnectForm {
    login_url: String,
    consumer_key: String,
    default_username: String,
    api_version: String,
    /// `jwt_bearer` (the default) or `web_server`.
    flow: String,
    /// The private key file (PEM), or empty to keep the stored key.
    private_key: String,
    /// The consumer secret, or empty to keep the stored one.
    consumer_secret: String,
    /// A CA certificate file (PEM) to trust besides the built-in roots.
    extra_root_certificate: String,
}

/// `POST /console/salesforce` (multipart: the key is a file).
pub async fn save(
    State(state): State<AppState>,
    posted: Posted<ConnectForm>,
) -> ConsoleResult<Response> {
    let Posted { session, form } = posted;
    let stored = stored_connection(&session.org).ok().flatten();
    let mut page = page_for(&state, &session).await?;
    page.login_url = form.login_url.trim().to_owned();
    page.consumer_key = form.consumer_key.trim().to_owned();
    page.default_username = form.default_username.trim().to_owned();
    page.api_version = form.api_version.trim().to_owned();
    let flow = if form.flow.trim() == "web_server" {
        ConnectionFlow::WebServer
    } else {
        ConnectionFlow::JwtBearer
    };
    page.flow = flow_name(flow).to_owned();
    let private_key = if form.private_key.trim().is_empty() {
        stored
            .as_ref()
            .map(|stored| stored.private_key_pem.clone())
            .or_else(|| (flow == ConnectionFlow::WebServer).then(|| SecretString::from("")))
    } else {
        Some(SecretString::from(form.private_key.clone()))
    };
    let consumer_secret = Some(form.consumer_secret.trim().to_owned())
        .filter(|secret| !secret.is_empty())
        .map(SecretString::from)
        .or_else(|| {
            stored
                .as_ref()
                .and_then(|stored| stored.consumer_secret.clone())
        });
    // The default user's token stays while the app and the user stay the same.
    let default_refresh_token = stored
        .as_ref()
        .filter(|stored| {
            stored.consumer_key.trim() == page.consumer_key
                && stored.login_url.trim() == page.login_url
                && stored.is_default_user(&page.default_username)
        })
        .and_then(|stored| stored.default_refresh_token.clone());
    let Some(private_key_pem) = private_key else {
        page.problems.insert(
            "private_key_pem".into(),
            session.lang.text("connect-key-required"),
        );
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response());
    };
    let extra_root_certificate_pem = Some(form.extra_root_certificate.trim().to_owned())
        .filter(|pem| !pem.is_empty())
        .or_else(|| stored.and_then(|stored| stored.extra_root_certificate_pem));
    let connection = SalesforceConnection {
        login_url: page.login_url.clone(),
        consumer_key: page.consumer_key.clone(),
        flow,
        private_key_pem,
        consumer_secret,
        default_refresh_token,
        default_username: page.default_username.clone(),
        api_version: Some(page.api_version.clone()).filter(|v| !v.is_empty()),
        extra_root_certificate_pem,
    };
    match store_connection(&state, &session.org.id, connection).await {
        Ok(view) => {
            page.current = Some(view);
            page.saved = true;
            Ok(Html(page.render()?).into_response())
        }
        Err(ApiError::Invalid { problems, .. }) => {
            page.problems = problems
                .into_iter()
                .map(|problem| (problem.field, problem.message))
                .collect();
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct Nothing {}

/// `POST /console/salesforce/test`: signs in as the default user and reads
/// the Task's description — the two things every sync needs.
pub async fn test(
    State(state): State<AppState>,
    posted: Posted<Nothing>,
) -> ConsoleResult<Html<String>> {
    let session = posted.session;
    let mut page = page_for(&state, &session).await?;
    let lang = session.lang;
    let result = match stored_connection(&session.org) {
        Ok(None) => TestResult {
            ok: false,
            headline: lang.text("connect-test-not-connected"),
            detail: String::new(),
        },
        Err(error) => TestResult {
            ok: false,
            headline: lang.text("connect-test-failed"),
            detail: error.to_string(),
        },
        Ok(Some(connection)) => {
            let outcome = match state
                .connections
                .default_user_client(&session.org.id, &connection)
            {
                Ok(client) => crate::crm::task_schema(&client).await,
                Err(error) => Err(error),
            };
            match outcome {
                Ok(schema) => TestResult {
                    ok: true,
                    headline: lang.text_with(
                        "connect-test-ok",
                        "user",
                        connection.default_username.trim(),
                    ),
                    detail: lang.text_with("connect-test-ok-detail", "count", schema.fields.len()),
                },
                Err(error) => TestResult {
                    ok: false,
                    headline: lang.text("connect-test-failed"),
                    detail: format!(
                        "{}: {} — {}",
                        error.code(),
                        error.message(),
                        error.remedy_of(Step::Auth, None).in_language(lang)
                    ),
                },
            }
        }
    };
    tracing::info!(org = %session.org.id, ok = result.ok, "Salesforce connection tested from the console");
    page.test = Some(result);
    Ok(Html(page.render()?))
}

#[derive(Debug, Deserialize)]
pub struct AdminForm {
    sf_username: String,
}

/// `POST /console/salesforce/admins`: lets a Salesforce user sign in to
/// this organisation's console with Salesforce.
pub async fn add_admin(
    State(state): State<AppState>,
    posted: Posted<AdminForm>,
) -> ConsoleResult<axum::response::Redirect> {
    let username = posted.form.sf_username.trim();
    let well_formed = username
        .split_once('@')
        .is_some_and(|(name, domain)| !name.is_empty() && !domain.is_empty());
    if !well_formed || username.chars().count() > 80 {
        return Err(super::error::ConsoleError::BadRequest(format!(
            "{username:?} is not a Salesforce username (name@domain, at most 80 characters)"
        )));
    }
    state
        .store
        .add_console_admin(&posted.session.org.id, username)
        .await?;
    tracing::info!(org = %posted.session.org.id, "console admin added");
    Ok(axum::response::Redirect::to("/console/salesforce"))
}

/// `POST /console/salesforce/admins/remove`.
pub async fn remove_admin(
    State(state): State<AppState>,
    posted: Posted<AdminForm>,
) -> ConsoleResult<axum::response::Redirect> {
    state
        .store
        .remove_console_admin(&posted.session.org.id, &posted.form.sf_username)
        .await?;
    Ok(axum::response::Redirect::to("/console/salesforce"))
}
