//! Signing in and staying signed in: one-time links, sessions in the
//! database, cookies, the CSRF check of every form, and the language of a
//! request.
//!
//! - A link (`callsync org login-link ORG`) is a random token whose SHA-256
//!   is stored with an expiry; redeeming it is one atomic update, so it
//!   signs in once. Opening it shows a button that POSTs the token: a link
//!   scanner or a browser's prefetch cannot spend it.
//! - A session is a random token in a cookie (`HttpOnly`, `SameSite=Lax`,
//!   `Secure` when the request came over https, path `/console`); the
//!   database holds its SHA-256, its organisation and its CSRF token, and
//!   forgets it after [`IDLE`] without a request or [`LIFETIME`] in all.
//! - Every POST handler takes [`Posted`], which refuses a form whose `csrf`
//!   field is not the session's token before the handler runs.

use std::time::Duration;

use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};

use super::error::{ConsoleError, ConsoleResult};
use super::i18n::Lang;
use crate::api::{AppState, key_hash};
use crate::store::{OrgRow, Store};

/// The session cookie.
pub const SESSION_COOKIE: &str = "callsync_session";
/// The language the admin chose with the switch.
pub const LANG_COOKIE: &str = "callsync_lang";
/// A session unused this long is over.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// However active, a session is over after this long.
pub const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// The cookie of a sign-in with Salesforce under way.
pub const OAUTH_COOKIE: &str = "callsync_oauth";
/// A sign-in with Salesforce must come back within this long.
const OAUTH_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// A sign-in link is good for this long.
pub const LINK_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The largest form taken (a private key and a certificate fit easily).
const MAX_FORM_BYTES: usize = 256 * 1024;

/// A random token of 32 bytes, hex.
fn new_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn later(now: Timestamp, by: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(by)
        .ok()
        .and_then(|by| now.checked_add(by).ok())
        .unwrap_or(Timestamp::MAX)
}

/// Makes a one-time sign-in link for `org_id` and answers its path
/// (`/console/signin/<token>`); the token itself is stored only hashed.
pub async fn new_login_link(store: &Store, org_id: &str, now: Timestamp) -> anyhow::Result<String> {
    let token = new_token();
    store
        .create_login_link(&key_hash(&token), org_id, now, later(now, LINK_LIFETIME))
        .await?;
    Ok(format!("/console/signin/{token}"))
}

/// Redeems a sign-in link's token and starts a session: the cookie to set,
/// or `None` when the link is unknown, used or expired.
pub async fn sign_in(
    state: &AppState,
    link_token: &str,
    secure: bool,
) -> anyhow::Result<Option<Cookie<'static>>> {
    let now = state.now();
    let Some(org_id) = state
        .store
        .redeem_login_link(&key_hash(link_token), now)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(start_session(state, &org_id, secure).await?))
}

/// Starts a session for `org_id` (its admin has proved who they are) and
/// answers the cookie that carries it.
pub async fn start_session(
    state: &AppState,
    org_id: &str,
    secure: bool,
) -> anyhow::Result<Cookie<'static>> {
    let now = state.now();
    let token = new_token();
    state
        .store
        .create_session(
            &key_hash(&token),
            org_id,
            &new_token(),
            now,
            later(now, LIFETIME),
        )
        .await?;
    tracing::info!(org = %org_id, "console session started");
    Ok(session_cookie(token, secure))
}

/// The cookie binding a sign-in with Salesforce to the browser that began
/// it (the callback must carry the same `state`); the state itself expires
/// on the server after ten minutes.
pub fn oauth_cookie(state: &str, secure: bool) -> Cookie<'static> {
    Cookie::build((OAUTH_COOKIE, state.to_owned()))
        .path("/console/signin")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .build()
}

/// The stored form of an OAuth `state` (like every token: its SHA-256).
pub fn token_hash(token: &str) -> String {
    key_hash(token)
}

/// When a sign-in with Salesforce under way expires.
pub fn oauth_deadline(now: Timestamp) -> Timestamp {
    later(now, OAUTH_LIFETIME)
}

/// The session cookie carrying `token`.
fn session_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .build()
}

/// The cookie that removes the session cookie.
pub fn removal_cookie(secure: bool) -> Cookie<'static> {
    let mut cookie = session_cookie(String::new(), secure);
    cookie.make_removal();
    cookie
}

/// The language-switch cookie, kept until changed.
pub fn lang_cookie(lang: Lang, secure: bool) -> Cookie<'static> {
    Cookie::build((LANG_COOKIE, lang.tag()))
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .permanent()
        .build()
}

/// Whether the browser reached us over https: directly never (callsync
/// serves plain HTTP), so through a proxy that says so. Trusting the header
/// can only add the `Secure` flag, never remove protection.
/// The absolute URL of `path` on this request's own host (the scheme from
/// [`over_https`]): an OAuth callback, which must be one of the connected app's.
pub fn callback_url(headers: &HeaderMap, path: &str) -> Option<String> {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|value| value.to_str().ok())?;
    let scheme = if over_https(headers) { "https" } else { "http" };
    Some(format!("{scheme}://{host}{path}"))
}

/// Keeps what the callback of an OAuth authorization `request` needs (its PKCE verifier
/// and redirect URI), under the hash of its `state`, until [`oauth_deadline`].
pub async fn keep_oauth_request(
    store: &crate::store::Store,
    org_id: &str,
    request: &salesforce::AuthorizationRequest,
    redirect_uri: String,
    now: Timestamp,
) -> anyhow::Result<()> {
    use secrecy::ExposeSecret as _;
    let pending = crate::store::OAuthState {
        org_id: org_id.to_owned(),
        code_verifier: request.code_verifier.expose_secret().to_owned(),
        redirect_uri,
    };
    store
        .put_oauth_state(&token_hash(&request.state), &pending, oauth_deadline(now))
        .await
}

pub fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The language of a request without a session: the switch, then the browser.
pub fn request_lang(headers: &HeaderMap, jar: &CookieJar) -> Option<Lang> {
    jar.get(LANG_COOKIE)
        .and_then(|cookie| Lang::from_tag(cookie.value()))
        .or_else(|| {
            headers
                .get(axum::http::header::ACCEPT_LANGUAGE)
                .and_then(|value| value.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
}

/// A signed-in request: the organisation every query of the page is scoped
/// to, the session's CSRF token for the page's forms, and the language.
#[derive(Debug, Clone)]
pub struct Session {
    pub org: OrgRow,
    pub csrf: String,
    pub lang: Lang,
    /// Whether cookies set now must be `Secure`.
    pub secure: bool,
    token_hash: String,
}

impl Session {
    /// Ends the session.
    pub async fn end(&self, store: &Store) -> anyhow::Result<()> {
        store.delete_session(&self.token_hash).await
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ConsoleResult<Session> {
        let jar = CookieJar::from_headers(&parts.headers);
        let token = jar
            .get(SESSION_COOKIE)
            .map(|cookie| cookie.value().to_owned())
            .filter(|token| !token.is_empty())
            .ok_or(ConsoleError::SignedOut)?;
        let token_hash = key_hash(&token);
        let row = state
            .store
            .touch_session(&token_hash, state.now(), IDLE)
            .await?
            .ok_or(ConsoleError::SignedOut)?;
        // A session outlives nothing: a deleted organisation signs it out.
        let org = state
            .store
            .org(&row.org_id)
            .await?
            .ok_or(ConsoleError::SignedOut)?;
        // The switch, then the browser, then the organisation's label language.
        let lang = request_lang(&parts.headers, &jar).unwrap_or_else(|| {
            match serde_json::from_str::<callsync_core::settings::Settings>(&org.settings_json)
                .map(|settings| settings.language)
            {
                Ok(callsync_core::settings::Language::En) => Lang::En,
                _ => Lang::Ja,
            }
        });
        Ok(Session {
            org,
            csrf: row.csrf_token,
            lang,
            secure: over_https(&parts.headers),
            token_hash,
        })
    }
}

/// A form posted by a signed-in admin, after its CSRF token was checked:
/// the only way a console handler takes a POST. Reads
/// `application/x-www-form-urlencoded` and `multipart/form-data` (file
/// fields as text: keys and certificates are PEM) alike.
#[derive(Debug)]
pub struct Posted<T> {
    pub session: Session,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &AppState) -> ConsoleResult<Posted<T>> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let multipart = parts
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("multipart/form-data"));
        let request = Request::from_parts(parts, body);
        let fields = if multipart {
            multipart_fields(request, state).await?
        } else {
            let bytes = axum::body::to_bytes(request.into_body(), MAX_FORM_BYTES)
                .await
                .map_err(|_| ConsoleError::BadRequest("the form is too large".into()))?;
            form_urlencoded::parse(&bytes).into_owned().collect()
        };
        let sent = fields
            .iter()
            .find(|(name, _)| name == "csrf")
            .map(|(_, value)| value.as_str())
            .unwrap_or_default();
        if !same_secret(sent, &session.csrf) {
            tracing::warn!(org = %session.org.id, "console form refused: CSRF token missing or wrong");
            return Err(ConsoleError::CsrfRefused);
        }
        let rest: Vec<(String, String)> = fields
            .into_iter()
            .filter(|(name, _)| name != "csrf")
            .collect();
        // One decoder for both encodings: the fields, re-encoded.
        let encoded = serde_urlencoded::to_string(&rest)
            .map_err(|error| ConsoleError::BadRequest(error.to_string()))?;
        let form = serde_urlencoded::from_str(&encoded).map_err(|error| {
            ConsoleError::BadRequest(format!("the form cannot be read: {error}"))
        })?;
        Ok(Posted { session, form })
    }
}

async fn multipart_fields(
    request: Request,
    state: &AppState,
) -> ConsoleResult<Vec<(String, String)>> {
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|rejection| ConsoleError::BadRequest(rejection.body_text()))?;
    let mut fields = Vec::new();
    let mut total = 0;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|error| ConsoleError::BadRequest(error.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field
            .bytes()
            .await
            .map_err(|error| ConsoleError::BadRequest(error.body_text()))?;
        total += bytes.len();
        if total > MAX_FORM_BYTES {
            return Err(ConsoleError::BadRequest("the form is too large".into()));
        }
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
            ConsoleError::BadRequest(format!("the field {name:?} is not text (a PEM file is)"))
        })?;
        fields.push((name, text));
    }
    Ok(fields)
}

/// Compares two secrets in time independent of where they differ, by
/// comparing their SHA-256 digests (hand-written: one line, and a crate for
/// constant-time comparison would be a dependency for this line alone).
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |diff, (x, y)| diff | (x ^ y))
        == 0
        && !a.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("", "abc"));
    }

    #[test]
    fn the_session_cookie_is_http_only_same_site_and_secure_over_https() {
        let cookie = session_cookie("t".into(), true).to_string();
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(cookie.contains("Secure"), "{cookie}");
        assert!(
            !session_cookie("t".into(), false)
                .to_string()
                .contains("Secure")
        );
    }
}
