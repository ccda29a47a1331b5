//! The pages around a session: the one-time link's landing page, signing
//! in with it, signing out, the signed-out page, and the language switch.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::error::ConsoleResult;
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
