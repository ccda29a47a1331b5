//! OAuth 2.0 as Salesforce's `/services/oauth2/*` speaks it: the connected app the sandbox
//! registers (consumer key and secret, an RSA key and its certificate for the JWT bearer
//! flow), the grants (password, JWT bearer, refresh token, authorization code with PKCE,
//! client credentials) and the sessions they issue.
//!
//! Success and error bodies follow Salesforce's OAuth documentation: success carries
//! `access_token`, `instance_url`, `id`, `token_type`, `issued_at` and `signature`
//! (Base64 HMAC-SHA256 of `id` + `issued_at` keyed by the consumer secret); errors are
//! `{"error": ..., "error_description": ...}` with status 400.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::ids::RecordId;
use crate::org::OrgState;

/// The connected app registered in the sandbox and the default user's login.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credentials {
    /// The consumer key (`client_id`, and `iss` of JWT assertions).
    pub client_id: String,
    /// The consumer secret.
    pub client_secret: String,
    /// PKCS#8 PEM of the RSA key whose certificate is registered: sign JWT assertions with it.
    pub private_key_pem: String,
    /// The registered X.509 certificate (PEM).
    pub certificate_pem: String,
    /// The public key (PEM, SubjectPublicKeyInfo) the sandbox verifies assertions with.
    pub public_key_pem: String,
    /// The default admin user.
    pub username: String,
    pub password: String,
    pub security_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of logs.
        formatter
            .debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

struct KeyMaterial {
    private_key_pem: String,
    public_key_pem: String,
    certificate_pem: String,
}

/// RSA key generation takes a moment, and every sandbox of a process may share one
/// connected-app key: it is made once, from a fixed seed, so it is also the same on every run.
fn key_material() -> Result<&'static KeyMaterial, Error> {
    static KEY: OnceLock<Result<KeyMaterial, String>> = OnceLock::new();
    KEY.get_or_init(make_key_material)
        .as_ref()
        .map_err(|message| Error::Key(message.clone()))
}

fn make_key_material() -> Result<KeyMaterial, String> {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    // rsa 0.9 takes a rand_core 0.6 generator, hence rand_chacha's own trait.
    let mut rng = <rand_chacha::ChaCha20Rng as rand_chacha::rand_core::SeedableRng>::seed_from_u64(
        0x5f5a_4e44_b0c5,
    );
    let private_key = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|error| error.to_string())?;
    let private_key_pem = private_key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|error| error.to_string())?
        .to_string();
    let public_key_pem = private_key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|error| error.to_string())?;
    let key_pair = rcgen::KeyPair::from_pem(&private_key_pem).map_err(|error| error.to_string())?;
    let params = rcgen::CertificateParams::new(vec!["callsync-sandbox-connected-app".to_string()])
        .map_err(|error| error.to_string())?;
    let certificate = params
        .self_signed(&key_pair)
        .map_err(|error| error.to_string())?;
    Ok(KeyMaterial {
        private_key_pem,
        public_key_pem,
        certificate_pem: certificate.pem(),
    })
}

impl Credentials {
    /// The connected app and admin login of a sandbox started with `seed`.
    pub fn generate(seed: u64) -> Result<Credentials, Error> {
        let keys = key_material()?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0xC0FF_EE00);
        // Real consumer keys are 85 characters starting with 3MVG.
        let client_id = format!("3MVG9{}", random_text(&mut rng, 80));
        let client_secret = (0..19)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
            .collect();
        Ok(Credentials {
            client_id,
            client_secret,
            private_key_pem: keys.private_key_pem.clone(),
            certificate_pem: keys.certificate_pem.clone(),
            public_key_pem: keys.public_key_pem.clone(),
            username: crate::org::ADMIN_USERNAME.to_string(),
            password: "sandbox-password".to_string(),
            security_token: "SANDBOXTOKEN".to_string(),
        })
    }
}

fn random_text(rng: &mut impl Rng, length: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._";
    (0..length)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// An OAuth failure: `{"error", "error_description"}` with status 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: &str) -> OAuthError {
        OAuthError {
            error,
            description: description.to_string(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({"error": self.error, "error_description": self.description})
    }

    // Wording from Salesforce's OAuth error documentation and public client reports.
    fn bad_client_id() -> OAuthError {
        OAuthError::new("invalid_client_id", "client identifier invalid")
    }
    fn bad_client_secret() -> OAuthError {
        OAuthError::new("invalid_client", "invalid client credentials")
    }
    fn authentication_failure() -> OAuthError {
        OAuthError::new("invalid_grant", "authentication failure")
    }
}

/// A live session (access token).
#[derive(Debug, Clone)]
pub struct Session {
    pub user: RecordId,
    pub issued: Instant,
    pub expires: Option<Instant>,
    /// Requests left before the session expires, when a fault limits it.
    pub requests_left: Option<u64>,
    /// The refresh token this session was issued from: revoking it ends the session too.
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone)]
struct PendingCode {
    user: RecordId,
    client_id: String,
    redirect_uri: String,
    challenge: Option<(String, String)>,
    expires: Instant,
}

/// Issued tokens and codes.
#[derive(Debug, Default)]
pub struct Sessions {
    tokens: Mutex<HashMap<String, Session>>,
    refresh_tokens: Mutex<HashMap<String, RecordId>>,
    codes: Mutex<HashMap<String, PendingCode>>,
    counter: Mutex<u64>,
}

/// How sessions are issued.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    pub lifetime: Option<Duration>,
    pub max_requests: Option<u64>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sessions {
    fn next_secret(&self, org: &RecordId, prefix: &str) -> String {
        let mut counter = lock(&self.counter);
        *counter += 1;
        let mut rng = rand::rngs::StdRng::from_os_rng();
        // Salesforce access tokens are the org Id, `!`, then an opaque part.
        format!(
            "{}!{prefix}{}{}",
            org.short(),
            random_text(&mut rng, 60).replace(['.', '_'], "Q"),
            *counter
        )
    }

    /// Issues an access token for `user`.
    pub fn issue(&self, org: &RecordId, user: RecordId, policy: &SessionPolicy) -> String {
        self.issue_from(org, user, policy, None)
    }

    /// Issues an access token for `user`, from `refresh_token` when the refresh-token grant
    /// asked for it.
    fn issue_from(
        &self,
        org: &RecordId,
        user: RecordId,
        policy: &SessionPolicy,
        refresh_token: Option<&str>,
    ) -> String {
        let token = self.next_secret(org, "AQ");
        let now = Instant::now();
        lock(&self.tokens).insert(
            token.clone(),
            Session {
                user,
                issued: now,
                expires: policy.lifetime.map(|lifetime| now + lifetime),
                requests_left: policy.max_requests,
                refresh_token: refresh_token.map(str::to_owned),
            },
        );
        token
    }

    fn issue_refresh(&self, org: &RecordId, user: RecordId) -> String {
        let token = format!("5Aep861{}", self.next_secret(org, "RT").replace('!', ""));
        lock(&self.refresh_tokens).insert(token.clone(), user);
        token
    }

    /// Checks a bearer token and counts the request against it. `None` when unknown or
    /// expired (the caller answers INVALID_SESSION_ID).
    pub fn authenticate(&self, token: &str) -> Option<RecordId> {
        let mut tokens = lock(&self.tokens);
        let session = tokens.get_mut(token)?;
        if session
            .expires
            .is_some_and(|expires| Instant::now() >= expires)
        {
            tokens.remove(token);
            return None;
        }
        if let Some(left) = session.requests_left.as_mut() {
            if *left == 0 {
                tokens.remove(token);
                return None;
            }
            *left -= 1;
        }
        Some(session.user)
    }

    /// Ends a session now (a fault, or revocation).
    pub fn expire(&self, token: &str) {
        lock(&self.tokens).remove(token);
    }

    /// `POST /services/oauth2/revoke`: an access token ends; a refresh token is revoked
    /// with every access token issued from it ("If a refresh token is included, Salesforce
    /// revokes it and any associated access tokens", Mobile SDK Developer Guide, "Revoking
    /// OAuth Tokens"). `false` when the token is unknown (Salesforce answers
    /// `invalid_token`).
    pub fn revoke(&self, token: &str) -> bool {
        if lock(&self.refresh_tokens).remove(token).is_some() {
            lock(&self.tokens).retain(|_, session| session.refresh_token.as_deref() != Some(token));
            return true;
        }
        lock(&self.tokens).remove(token).is_some()
    }

    /// Revokes every token of `user`: what an admin's "Revoke" on the user's connected-app
    /// OAuth usage in Setup does. Answers how many refresh tokens were revoked.
    pub fn revoke_user(&self, user: &RecordId) -> usize {
        let mut refresh_tokens = lock(&self.refresh_tokens);
        let before = refresh_tokens.len();
        refresh_tokens.retain(|_, owner| owner != user);
        let revoked = before - refresh_tokens.len();
        lock(&self.tokens).retain(|_, session| session.user != *user);
        revoked
    }

    /// Ends every session.
    pub fn expire_all(&self) {
        lock(&self.tokens).clear();
    }

    /// Makes every current and future session expire after `requests` more requests.
    pub fn limit_requests(&self, requests: u64) {
        for session in lock(&self.tokens).values_mut() {
            session.requests_left = Some(requests);
        }
    }

    /// The user behind a token, without counting a request.
    pub fn user_of(&self, token: &str) -> Option<RecordId> {
        lock(&self.tokens).get(token).map(|session| session.user)
    }
}

/// Everything the token endpoint needs.
#[derive(Debug)]
pub struct TokenContext<'a> {
    pub credentials: &'a Credentials,
    pub org: &'a OrgState,
    pub sessions: &'a Sessions,
    pub policy: &'a SessionPolicy,
    /// The sandbox's base URL: login URL and instance URL.
    pub base_url: &'a str,
}

#[derive(Debug, Deserialize)]
struct JwtClaims {
    sub: String,
}

impl TokenContext<'_> {
    fn check_client(
        &self,
        client_id: Option<&str>,
        client_secret: Option<&str>,
        secret_required: bool,
    ) -> Result<(), OAuthError> {
        if client_id != Some(self.credentials.client_id.as_str()) {
            return Err(OAuthError::bad_client_id());
        }
        match client_secret {
            Some(secret) if secret == self.credentials.client_secret => Ok(()),
            None if !secret_required => Ok(()),
            _ => Err(OAuthError::bad_client_secret()),
        }
    }

    fn success(&self, user: RecordId, with_refresh: bool) -> Value {
        self.success_from(user, with_refresh, None)
    }

    fn success_from(
        &self,
        user: RecordId,
        with_refresh: bool,
        refresh_token: Option<&str>,
    ) -> Value {
        let token = self
            .sessions
            .issue_from(&self.org.org_id(), user, self.policy, refresh_token);
        let id_url = format!("{}/id/{}/{}", self.base_url, self.org.org_id(), user);
        let issued_at = jiff::Timestamp::now().as_millisecond().to_string();
        let signature =
            match Hmac::<Sha256>::new_from_slice(self.credentials.client_secret.as_bytes()) {
                Ok(mut mac) => {
                    mac.update(id_url.as_bytes());
                    mac.update(issued_at.as_bytes());
                    STANDARD.encode(mac.finalize().into_bytes())
                }
                Err(_) => String::new(),
            };
        let mut body = json!({
            "access_token": token,
            "signature": signature,
            "scope": if with_refresh { "refresh_token api" } else { "api" },
            "instance_url": self.base_url,
            "id": id_url,
            "token_type": "Bearer",
            "issued_at": issued_at,
        });
        if with_refresh && let Some(object) = body.as_object_mut() {
            object.insert(
                "refresh_token".to_string(),
                json!(self.sessions.issue_refresh(&self.org.org_id(), user)),
            );
        }
        body
    }

    fn active_user(&self, username: &str) -> Option<RecordId> {
        self.org
            .user_by_username(username)
            .filter(|user| self.org.user_is_active(user))
    }

    /// Handles `POST /services/oauth2/token` with its form fields.
    pub fn grant(
        &self,
        form: &HashMap<String, String>,
        basic: Option<(String, String)>,
    ) -> Result<Value, OAuthError> {
        let field = |name: &str| form.get(name).map(String::as_str);
        let (client_id, client_secret) = match &basic {
            Some((id, secret)) => (Some(id.as_str()), Some(secret.as_str())),
            None => (field("client_id"), field("client_secret")),
        };
        match field("grant_type") {
            Some("password") => {
                self.check_client(client_id, client_secret, true)?;
                let user = field("username").and_then(|username| self.active_user(username));
                match (user, field("password")) {
                    (Some(user), Some(password)) if self.org.check_password(&user, password) => {
                        // The username-password flow answers no `scope` (Salesforce Help,
                        // "OAuth 2.0 Username-Password Flow", example response; restforce
                        // spec/fixtures/auth_success_response.json).
                        let mut body = self.success(user, false);
                        if let Some(object) = body.as_object_mut() {
                            object.remove("scope");
                        }
                        Ok(body)
                    }
                    _ => Err(OAuthError::authentication_failure()),
                }
            }
            Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
                let assertion = field("assertion")
                    .ok_or_else(|| OAuthError::new("invalid_grant", "invalid assertion"))?;
                let user = self.verify_assertion(assertion)?;
                Ok(self.success(user, false))
            }
            Some("refresh_token") => {
                self.check_client(client_id, client_secret, false)?;
                let token = field("refresh_token").unwrap_or_default();
                let user = lock(&self.sessions.refresh_tokens).get(token).copied();
                match user {
                    Some(user) if self.org.user_is_active(&user) => {
                        Ok(self.success_from(user, false, Some(token)))
                    }
                    _ => Err(OAuthError::new(
                        "invalid_grant",
                        "expired access/refresh token",
                    )),
                }
            }
            Some("authorization_code") => {
                self.check_client(client_id, client_secret, false)?;
                let code = field("code").unwrap_or_default();
                let pending = lock(&self.sessions.codes).remove(code);
                let Some(pending) = pending.filter(|pending| Instant::now() < pending.expires)
                else {
                    return Err(OAuthError::new(
                        "invalid_grant",
                        "invalid authorization code",
                    ));
                };
                if Some(pending.client_id.as_str()) != client_id
                    || field("redirect_uri") != Some(pending.redirect_uri.as_str())
                {
                    return Err(OAuthError::new(
                        "invalid_grant",
                        "redirect_uri must match configuration",
                    ));
                }
                if let Some((challenge, method)) = &pending.challenge {
                    let verifier = field("code_verifier").unwrap_or_default();
                    let computed = if method == "S256" {
                        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
                    } else {
                        verifier.to_string()
                    };
                    if computed != *challenge {
                        return Err(OAuthError::new("invalid_grant", "invalid code verifier"));
                    }
                } else if client_secret.is_none() {
                    return Err(OAuthError::bad_client_secret());
                }
                Ok(self.success(pending.user, true))
            }
            Some("client_credentials") => {
                self.check_client(client_id, client_secret, true)?;
                // The connected app's "Run As" user is the admin.
                Ok(self.success(self.org.admin_user(), false))
            }
            _ => Err(OAuthError::new(
                "unsupported_grant_type",
                "grant type not supported",
            )),
        }
    }

    fn verify_assertion(&self, assertion: &str) -> Result<RecordId, OAuthError> {
        use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
        let key = DecodingKey::from_rsa_pem(self.credentials.public_key_pem.as_bytes())
            .map_err(|_| OAuthError::new("invalid_grant", "invalid assertion"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        // `aud` is the login URL; Salesforce accepts its own login hosts, the sandbox
        // also accepts its own URL (clients point their login URL at it).
        let with_slash = format!("{}/", self.base_url);
        validation.set_audience(&[
            self.base_url,
            with_slash.as_str(),
            "https://login.salesforce.com",
            "https://test.salesforce.com",
        ]);
        validation.set_issuer(&[self.credentials.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.leeway = 0;
        let claims = decode::<JwtClaims>(assertion, &key, &validation).map_err(|error| {
            use jsonwebtoken::errors::ErrorKind;
            match error.kind() {
                ErrorKind::InvalidIssuer => OAuthError::bad_client_id(),
                ErrorKind::InvalidAudience => {
                    OAuthError::new("invalid_grant", "audience is invalid")
                }
                ErrorKind::ExpiredSignature => {
                    OAuthError::new("invalid_grant", "expired authorization code")
                }
                _ => OAuthError::new("invalid_grant", "invalid assertion"),
            }
        })?;
        // Salesforce answers an unknown or unapproved `sub` this way.
        self.active_user(&claims.claims.sub)
            .ok_or_else(|| OAuthError::new("invalid_grant", "user hasn't approved this consumer"))
    }

    /// Handles `GET /services/oauth2/authorize` for `response_type=code`: the sandbox has no
    /// login page, so it approves at once as `login_hint` (a username) or the admin, and
    /// answers with the redirect URL carrying `code` and `state`.
    pub fn authorize(&self, query: &HashMap<String, String>) -> Result<String, OAuthError> {
        let field = |name: &str| query.get(name).map(String::as_str);
        if field("response_type") != Some("code") {
            return Err(OAuthError::new(
                "unsupported_response_type",
                "response type not supported",
            ));
        }
        if field("client_id") != Some(self.credentials.client_id.as_str()) {
            return Err(OAuthError::bad_client_id());
        }
        let redirect_uri = field("redirect_uri").ok_or_else(|| {
            OAuthError::new(
                "redirect_uri_missing",
                "redirect_uri must match configuration",
            )
        })?;
        let user = match field("login_hint") {
            Some(username) => self
                .active_user(username)
                .ok_or_else(OAuthError::authentication_failure)?,
            None => self.org.admin_user(),
        };
        let challenge = field("code_challenge").map(|challenge| {
            (
                challenge.to_string(),
                field("code_challenge_method")
                    .unwrap_or("plain")
                    .to_string(),
            )
        });
        let code = format!(
            "aPrx{}",
            self.sessions
                .next_secret(&self.org.org_id(), "CD")
                .replace('!', "")
        );
        lock(&self.sessions.codes).insert(
            code.clone(),
            PendingCode {
                user,
                client_id: self.credentials.client_id.clone(),
                redirect_uri: redirect_uri.to_string(),
                challenge,
                expires: Instant::now() + Duration::from_secs(15 * 60),
            },
        );
        let separator = if redirect_uri.contains('?') { '&' } else { '?' };
        let mut location = format!("{redirect_uri}{separator}code={}", url_encode(&code));
        if let Some(state) = field("state") {
            location.push_str(&format!("&state={}", url_encode(state)));
        }
        Ok(location)
    }
}

/// Percent-encodes a query value (unreserved characters pass through).
pub(crate) fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The identity/userinfo document of a user.
pub fn user_info(org: &OrgState, user: &RecordId, base_url: &str) -> Value {
    let record = org
        .lookup(user)
        .map(|(_, record)| record.clone())
        .unwrap_or_default();
    let text = |field: &str| record.get(field).cloned().unwrap_or(Value::Null);
    json!({
        "sub": format!("{base_url}/id/{}/{user}", org.org_id()),
        "user_id": user.as_str(),
        "organization_id": org.org_id().as_str(),
        "preferred_username": text("Username"),
        "nickname": text("Alias"),
        "name": text("Name"),
        "email": text("Email"),
        "email_verified": true,
        "given_name": text("FirstName"),
        "family_name": text("LastName"),
        "zoneinfo": text("TimeZoneSidKey"),
        "active": text("IsActive"),
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "ja_JP",
        "urls": {
            "rest": format!("{base_url}/services/data/v{{version}}/"),
            "sobjects": format!("{base_url}/services/data/v{{version}}/sobjects/"),
            "query": format!("{base_url}/services/data/v{{version}}/query/"),
            "search": format!("{base_url}/services/data/v{{version}}/search/"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connected_app_key_signs_assertions_the_sandbox_accepts() {
        let credentials = Credentials::generate(7).unwrap();
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(credentials.private_key_pem.as_bytes())
            .unwrap();
        let claims = json!({"iss": credentials.client_id, "sub": "admin@callsync.sandbox",
                            "aud": "http://127.0.0.1:1", "exp": jiff::Timestamp::now().as_second() + 60});
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &key,
        )
        .unwrap();
        let org = crate::org::Org::new(7, Duration::ZERO);
        let state = org.read();
        let sessions = Sessions::default();
        let policy = SessionPolicy {
            lifetime: None,
            max_requests: None,
        };
        let context = TokenContext {
            credentials: &credentials,
            org: &state,
            sessions: &sessions,
            policy: &policy,
            base_url: "http://127.0.0.1:1",
        };
        let form: HashMap<String, String> = [
            (
                "grant_type".to_string(),
                "urn:ietf:params:oauth:grant-type:jwt-bearer".to_string(),
            ),
            ("assertion".to_string(), token),
        ]
        .into_iter()
        .collect();
        let body = context.grant(&form, None).unwrap();
        assert!(
            body["access_token"]
                .as_str()
                .unwrap()
                .starts_with(state.org_id().short())
        );
        assert_eq!(
            sessions.authenticate(body["access_token"].as_str().unwrap()),
            Some(state.admin_user())
        );
    }
}
