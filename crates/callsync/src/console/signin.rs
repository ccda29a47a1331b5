//! The pages around a session: the one-time link's landing page, signing
//! in with it, signing out, the signed-out page, and the language switch.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::error::{ConsoleError, ConsoleResult};
use super::i18n::Lang;
use super::session::{self, Posted};
use crate::api::AppState;

/// The pages shown without a session.
#[derive(Debug, Template)]
#[template(path = "console/signin.html")]
struct SignInPage {
    lang: Lang,
    /// The link's token, when the page is the link's landing page.
    token: Option<String>,
    /// Why the admin is here (`signin-expired`, `signin-signed-out`…), a message key.
    notice: Option<&'static str>,
}

impl SignInPage {
    fn t(&self, key: &str) -> String {
        self.lang.text(key)
    }
}

fn lang_of(headers: &HeaderMap, jar: &CookieJar) -> Lang {
    session::request_lang(headers, jar).unwrap_or(Lang::Ja)
}

/// `GET /console/signin/{token}`: a button that spends the link. Opening
/// the link spends nothing, so a mail scanner cannot use it up.
pub async fn link(
    Path(token): Path<String>,
    headers: HeaderMap,
    jar: CookieJar,
) -> ConsoleResult<Html<String>> {
    let page = SignInPage {
        lang: lang_of(&headers, &jar),
        token: Some(token),
        notice: None,
    };
    Ok(Html(page.render()?))
}

/// `GET /console/signin`: where a signed-out admin lands.
pub async fn signed_out(headers: HeaderMap, jar: CookieJar) -> ConsoleResult<Html<String>> {
    let page = SignInPage {
        lang: lang_of(&headers, &jar),
        token: None,
        notice: Some("signin-how"),
    };
    Ok(Html(page.render()?))
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    token: String,
}

/// `POST /console/signin`: redeems the link and starts a session. No CSRF
/// token here (there is no session yet): the link's own secret is the proof.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    axum::Form(form): axum::Form<SignInForm>,
) -> ConsoleResult<Response> {
    let secure = session::over_https(&headers);
    match session::sign_in(&state, form.token.trim(), secure).await? {
        Some(cookie) => Ok((jar.add(cookie), Redirect::to("/console/")).into_response()),
        None => {
            let page = SignInPage {
                lang: lang_of(&headers, &jar),
                token: None,
                notice: Some("signin-expired"),
            };
            Ok((StatusCode::GONE, Html(page.render()?)).into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Nothing {}

/// `POST /console/signout`.
pub async fn sign_out(
    State(state): State<AppState>,
    jar: CookieJar,
    posted: Posted<Nothing>,
) -> ConsoleResult<Response> {
    posted.session.end(&state.store).await?;
    tracing::info!(org = %posted.session.org.id, "console session ended");
    let jar = jar.add(session::removal_cookie(posted.session.secure));
    Ok((jar, Redirect::to("/console/signin")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct LanguageForm {
    lang: String,
    back: String,
}

/// `POST /console/language`: remembers the chosen language and returns to
/// the page it was chosen on (only a console path: never an open redirect).
pub async fn switch_language(
    jar: CookieJar,
    posted: Posted<LanguageForm>,
) -> ConsoleResult<Response> {
    let lang = Lang::from_tag(&posted.form.lang).unwrap_or(posted.session.lang);
    let back = &posted.form.back;
    let back = if back.starts_with("/console") && !back.starts_with("//") && !back.contains('\\') {
        back.as_str()
    } else {
        "/console/"
    };
    let jar = jar.add(session::lang_cookie(lang, posted.session.secure));
    Ok((jar, Redirect::to(back)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct SalesforceSignInForm {
    org: String,
}

fn refused(lang: Lang, notice: &'static str, status: StatusCode) -> ConsoleResult<Response> {
    let page = SignInPage {
        lang,
        token: None,
        notice: Some(notice),
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// Where Salesforce sends the browser back: this request's own host, so
/// the address must be the connected app's callback URL.
fn callback_url(headers: &HeaderMap) -> Option<String> {
    session::callback_url(headers, "/console/signin/salesforce/callback")
}

/// `POST /console/signin/salesforce`: starts the OAuth 2.0 web-server flow
/// with PKCE against the organisation's login URL. The `state` is stored
/// (hashed, with the verifier) and bound to this browser by a cookie.
pub async fn salesforce_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    axum::Form(form): axum::Form<SalesforceSignInForm>,
) -> ConsoleResult<Response> {
    let lang = lang_of(&headers, &jar);
    let org_id = form.org.trim();
    let connection = match state.store.org(org_id).await? {
        Some(org) => crate::api::settings::stored_connection(&org).ok().flatten(),
        None => None,
    };
    // An unknown organisation and one without Salesforce look the same.
    let Some(connection) = connection else {
        return refused(lang, "signin-salesforce-unavailable", StatusCode::NOT_FOUND);
    };
    let Some(redirect_uri) = callback_url(&headers) else {
        return Err(ConsoleError::BadRequest("no Host header".into()));
    };
    let client = state
        .connections
        .client(org_id, &connection)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let request = client
        .authorization_request(connection.consumer_key.trim(), &redirect_uri, &["id"])
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    session::keep_oauth_request(&state.store, org_id, &request, redirect_uri, state.now()).await?;
    let jar = jar.add(session::oauth_cookie(
        &request.state,
        session::over_https(&headers),
    ));
    Ok((jar, Redirect::to(request.url.as_str())).into_response())
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

/// `GET /console/signin/salesforce/callback`: redeems the code with the
/// verifier, asks Salesforce who signed in, and starts a session only for
/// a user the organisation marked as a callsync admin.
pub async fn salesforce_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    axum::extract::Query(query): axum::extract::Query<CallbackQuery>,
) -> ConsoleResult<Response> {
    let lang = lang_of(&headers, &jar);
    let secure = session::over_https(&headers);
    let jar = jar.remove(session::oauth_cookie("", secure));
    let (Some(code), Some(sent_state)) = (query.code, query.state) else {
        if let Some(error) = query.error {
            tracing::info!(%error, "Salesforce refused the console sign-in");
        }
        return refused(lang, "signin-salesforce-failed", StatusCode::FORBIDDEN);
    };
    // The browser that began the flow must be the one that finishes it.
    let cookie_state = CookieJar::from_headers(&headers)
        .get(session::OAUTH_COOKIE)
        .map(|cookie| cookie.value().to_owned());
    if cookie_state.as_deref() != Some(sent_state.as_str()) {
        return refused(lang, "signin-salesforce-failed", StatusCode::FORBIDDEN);
    }
    let Some(pending) = state
        .store
        .take_oauth_state(&session::token_hash(&sent_state), state.now())
        .await?
    else {
        return refused(lang, "signin-salesforce-failed", StatusCode::FORBIDDEN);
    };
    let Some(org) = state.store.org(&pending.org_id).await? else {
        return refused(lang, "signin-salesforce-failed", StatusCode::FORBIDDEN);
    };
    let Some(connection) = crate::api::settings::stored_connection(&org).ok().flatten() else {
        return refused(lang, "signin-salesforce-unavailable", StatusCode::FORBIDDEN);
    };
    let username = match who_signed_in(&state, &org.id, &connection, &code, &pending).await {
        Ok(username) => username,
        Err(error) => {
            tracing::warn!(org = %org.id, error = %error, "console sign-in with Salesforce failed");
            return refused(lang, "signin-salesforce-failed", StatusCode::FORBIDDEN);
        }
    };
    let admins = state.store.console_admins(&org.id).await?;
    if !admins.contains(&username.to_lowercase()) {
        tracing::warn!(org = %org.id, "a Salesforce user who is not a callsync admin tried to sign in");
        return refused(lang, "signin-salesforce-not-admin", StatusCode::FORBIDDEN);
    }
    let cookie = session::start_session(&state, &org.id, secure).await?;
    Ok((jar.add(cookie), Redirect::to("/console/")).into_response())
}

/// The username of the Salesforce user who approved the sign-in: the code
/// is redeemed (PKCE), and the user's Id in the identity URL is looked up
/// as the organisation's default user.
async fn who_signed_in(
    state: &AppState,
    org_id: &str,
    connection: &crate::crm::SalesforceConnection,
    code: &str,
    pending: &crate::store::OAuthState,
) -> anyhow::Result<String> {
    let client = state
        .connections
        .client(org_id, connection)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let verifier = secrecy::SecretString::from(pending.code_verifier.clone());
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
    // The identity URL ends with the user's Id (`…/id/<org>/<user>`).
    let user_id = tokens
        .id
        .as_deref()
        .and_then(|id| id.rsplit('/').next())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| anyhow::anyhow!("Salesforce sent no identity URL"))?
        .to_owned();
    let default_user = state
        .connections
        .default_user_client(org_id, connection)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let users = crate::crm::directory::directory(&default_user)
        .await
        .map_err(|error| anyhow::anyhow!("the users cannot be read: {error}"))?;
    let user_18 = callsync_core::ids::SalesforceId::parse(&user_id)
        .map(|id| id.to_18().to_owned())
        .unwrap_or(user_id);
    users
        .into_iter()
        .find(|user| {
            callsync_core::ids::SalesforceId::parse(&user.id).is_ok_and(|id| id.to_18() == user_18)
                && user.is_active
        })
        .map(|user| user.username)
        .ok_or_else(|| anyhow::anyhow!("the signed-in user is not an active user of the org"))
}
