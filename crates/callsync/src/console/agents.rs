//! Each agent connects their own Salesforce user (OAuth 2.0 web-server flow with PKCE, for
//! an organisation whose connection uses it): a page with one button, no console session
//! needed (agents are not admins). Salesforce says who approved; callsync keeps that user's
//! refresh token (sealed, `Store::put_user_connection`) only when the user is the
//! organisation's default user or linked to one of its phone users, and then makes every
//! call waiting for a connection due at once (R16 backfill).
//!
//! The flow is the admins' sign-in with Salesforce (`signin.rs`) with its own callback:
//! the `state` is stored hashed with the verifier, and bound to the browser by the
//! `callsync_connect` cookie.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use secrecy::SecretString;
use serde::Deserialize;

use super::error::{ConsoleError, ConsoleResult};
use super::i18n::Lang;
use super::session;
use crate::api::AppState;
use crate::api::settings::stored_connection;
use crate::crm::SalesforceConnection;

/// The cookie binding a connection under way to the browser that began it.
const CONNECT_COOKIE: &str = "callsync_connect";
/// Where Salesforce sends the browser back.
const CALLBACK_PATH: &str = "/console/connected";

#[derive(Debug, Template)]
#[template(path = "console/agent_connect.html")]
struct AgentPage {
    lang: Lang,
    org_id: String,
    /// A message key saying how it went, when the page follows a connection.
    notice: Option<&'static str>,
    /// Whether the notice is good news.
    ok: bool,
    /// The Salesforce user who connected.
    username: Option<String>,
}

impl AgentPage {
    fn t(&self, key: &str) -> String {
        self.lang.text(key)
    }

    fn t_with(&self, key: &str, name: &str, value: &str) -> String {
        self.lang.text_with(key, name, value)
    }
}

fn lang_of(headers: &HeaderMap, jar: &CookieJar) -> Lang {
    session::request_lang(headers, jar).unwrap_or(Lang::Ja)
}

fn answer(
    lang: Lang,
    org_id: &str,
    status: StatusCode,
    notice: &'static str,
    username: Option<String>,
) -> ConsoleResult<Response> {
    let page = AgentPage {
        lang,
        org_id: org_id.to_owned(),
        notice: Some(notice),
        ok: status.is_success(),
        username,
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// `GET /console/connect/{org}`: the agents' page, one button.
pub async fn page(
    Path(org_id): Path<String>,
    headers: HeaderMap,
    jar: CookieJar,
) -> ConsoleResult<Html<String>> {
    let page = AgentPage {
        lang: lang_of(&headers, &jar),
        org_id,
        notice: None,
        ok: false,
        username: None,
    };
    Ok(Html(page.render()?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StartForm {
    /// The Salesforce username to suggest on Salesforce's login page (`login_hint`).
    username: String,
}

/// The organisation's connection when it uses the web-server flow.
async fn web_server_connection(
    state: &AppState,
    org_id: &str,
) -> ConsoleResult<Option<SalesforceConnection>> {
    Ok(match state.store.org(org_id).await? {
        Some(org) => stored_connection(&org)
            .ok()
            .flatten()
            .filter(SalesforceConnection::is_web_server),
        None => None,
    })
}

/// `POST /console/connect/{org}`: starts the web-server flow with PKCE against the
/// organisation's login URL. No CSRF token (there is no session): Salesforce's approval is
/// the proof, and only a user the organisation linked is kept.
pub async fn start(
    State(state): State<AppState>,
    Path(org_id): Path<String>,
    headers: HeaderMap,
    jar: CookieJar,
    axum::Form(form): axum::Form<StartForm>,
) -> ConsoleResult<Response> {
    let lang = lang_of(&headers, &jar);
    // An unknown organisation and one without the web-server flow look the same.
    let Some(connection) = web_server_connection(&state, &org_id).await? else {
        return answer(
            lang,
            &org_id,
            StatusCode::NOT_FOUND,
            "agent-unavailable",
            None,
        );
    };
    let Some(redirect_uri) = callback_url(&headers) else {
        return Err(ConsoleError::BadRequest("no Host header".into()));
    };
    let client = state
        .connections
        .client(&org_id, &connection)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let mut request = client
        .authorization_request(
            connection.consumer_key.trim(),
            &redirect_uri,
            &["api", "refresh_token"],
        )
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let hint = form.username.trim();
    if !hint.is_empty() {
        request
            .url
            .query_pairs_mut()
            .append_pair("login_hint", hint);
    }
    session::keep_oauth_request(&state.store, &org_id, &request, redirect_uri, state.now()).await?;
    let cookie = Cookie::build((CONNECT_COOKIE, request.state.clone()))
        .path(CALLBACK_PATH)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(session::over_https(&headers))
        .build();
    Ok((jar.add(cookie), Redirect::to(request.url.as_str())).into_response())
}

/// This request's own host: the address must be a callback URL of the connected app.
fn callback_url(headers: &HeaderMap) -> Option<String> {
    session::callback_url(headers, CALLBACK_PATH)
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `GET /console/connected`: redeems the code (PKCE, and the consumer secret when the
/// organisation stored one), asks Salesforce who approved, and keeps their refresh token.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(query): Query<CallbackQuery>,
) -> ConsoleResult<Response> {
    let lang = lang_of(&headers, &jar);
    let cookie_state = jar.get(CONNECT_COOKIE).map(|c| c.value().to_owned());
    let jar = jar.remove(Cookie::build(CONNECT_COOKIE).path(CALLBACK_PATH));
    let failed = |org_id: &str| answer(lang, org_id, StatusCode::FORBIDDEN, "agent-failed", None);
    let (Some(code), Some(sent_state)) = (query.code, query.state) else {
        if let Some(error) = query.error {
            tracing::info!(%error, "Salesforce refused a user's connection");
        }
        return failed("");
    };
    if cookie_state.as_deref() != Some(sent_state.as_str()) {
        return failed("");
    }
    let Some(pending) = state
        .store
        .take_oauth_state(&session::token_hash(&sent_state), state.now())
        .await?
    else {
        return failed("");
    };
    let org_id = pending.org_id.clone();
    let Some(connection) = web_server_connection(&state, &org_id).await? else {
        return failed(&org_id);
    };
    let connected = match connect(&state, &connection, &code, &pending).await {
        Ok(connected) => connected,
        Err(error) => {
            tracing::warn!(org = %org_id, error = %error, "a user's Salesforce connection did not complete");
            return failed(&org_id);
        }
    };
    let linked = state
        .store
        .users(&org_id)
        .await?
        .iter()
        .filter_map(|user| user.sf_username.as_deref())
        .any(|username| username.trim().eq_ignore_ascii_case(&connected.username));
    let woken = if connection.is_default_user(&connected.username) {
        let mut connection = connection;
        connection.default_refresh_token = Some(connected.refresh_token);
        state
            .store
            .put_salesforce(&org_id, Some(&connection.to_stored_json()))
            .await?;
        state.connections.forget(&org_id);
        state
            .store
            .wake_waiting_for_connection(&org_id, state.now())
            .await?
    } else if linked {
        state
            .store
            .put_user_connection(
                &org_id,
                &connected.username,
                &connected.user_id,
                &connected.refresh_token,
                state.now(),
            )
            .await?
    } else {
        tracing::warn!(org = %org_id, "a Salesforce user no phone user is linked to tried to connect");
        return Ok((
            jar,
            answer(
                lang,
                &org_id,
                StatusCode::FORBIDDEN,
                "agent-not-linked",
                Some(connected.username),
            )?,
        )
            .into_response());
    };
    tracing::info!(org = %org_id, calls_woken = woken, "a Salesforce user connected");
    Ok((
        jar,
        answer(
            lang,
            &org_id,
            StatusCode::OK,
            "agent-connected",
            Some(connected.username),
        )?,
    )
        .into_response())
}

/// Who connected, with the refresh token they gave.
struct Connected {
    username: String,
    user_id: String,
    refresh_token: SecretString,
}

/// Redeems the code and reads the approving user's username with the new access token.
async fn connect(
    state: &AppState,
    connection: &SalesforceConnection,
    code: &str,
    pending: &crate::store::OAuthState,
) -> anyhow::Result<Connected> {
    let client = state
        .connections
        .client(&pending.org_id, connection)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let verifier = SecretString::from(pending.code_verifier.clone());
    let tokens = client
        .exchange_authorization_code(
            connection.consumer_key.trim(),
            connection.consumer_secret.as_ref(),
            &pending.redirect_uri,
            code,
            &verifier,
        )
        .await
        .map_err(|error| anyhow::anyhow!("the code was not redeemed: {error}"))?;
    let refresh_token = tokens.refresh_token.clone().ok_or_else(|| {
        anyhow::anyhow!("Salesforce gave no refresh token (add the refresh_token scope to the app)")
    })?;
    // The identity URL ends with the user's Id (`…/id/<org>/<user>`).
    let user_id = tokens
        .id
        .as_deref()
        .and_then(|id| id.rsplit('/').next())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| anyhow::anyhow!("Salesforce sent no identity URL"))?
        .to_owned();
    let as_user = state
        .connections
        .access_token_client(connection, &tokens)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let user = crate::crm::directory::user_by_id(&as_user, &user_id)
        .await
        .map_err(|error| anyhow::anyhow!("the user cannot be read: {error}"))?;
    if !user.is_active {
        anyhow::bail!("the user is inactive");
    }
    Ok(Connected {
        username: user.username.to_lowercase(),
        user_id,
        refresh_token,
    })
}
