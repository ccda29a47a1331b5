//! OAuth: how the client gets access tokens, and the authorization-code + PKCE
//! helper for an admin's "Connect Salesforce" button.
//!
//! Facts used here (Salesforce help "OAuth 2.0 JWT Bearer Flow for
//! Server-to-Server Integration", and simple-salesforce's `login.py`):
//! every flow POSTs a form to `<login url>/services/oauth2/token` and gets
//! `{"access_token","instance_url","id","token_type","scope",…}` back, or
//! `{"error","error_description"}`. The JWT assertion is RS256-signed with
//! `iss` = consumer key, `sub` = username, `aud` = the login URL, and an `exp`
//! at most three minutes ahead.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::Error;
use crate::error::parse_error_body;

/// How the client authenticates. Secrets are [`SecretString`]s: they are never
/// printed by `Debug`, logged or put into errors.
#[derive(Debug, Clone)]
pub enum Auth {
    /// OAuth 2.0 JWT bearer flow: one token per Salesforce username (the
    /// `sub` of the assertion), chosen with [`Client::for_user`](crate::Client::for_user).
    /// The connected app holds the certificate of `private_key_pem` and the
    /// users are pre-authorised.
    JwtBearer {
        /// The connected app's consumer key (the assertion's `iss`).
        consumer_key: String,
        /// The RSA private key, PEM (PKCS#1 or PKCS#8), that signs the assertion.
        private_key_pem: SecretString,
        /// The assertion's `aud`; `None` means the login URL
        /// (`https://login.salesforce.com`, `https://test.salesforce.com`, or a
        /// sandbox's URL).
        audience: Option<String>,
    },
    /// Refresh-token flow, e.g. with the refresh token an admin's
    /// authorization-code login produced.
    RefreshToken {
        /// The connected app's consumer key.
        client_id: String,
        /// The consumer secret, when the app requires it for refresh.
        client_secret: Option<SecretString>,
        /// The refresh token.
        refresh_token: SecretString,
    },
    /// Username-password flow (tests and tools only; Salesforce discourages it).
    Password {
        /// The connected app's consumer key.
        client_id: String,
        /// The consumer secret.
        client_secret: SecretString,
        /// The Salesforce username.
        username: String,
        /// The password, followed by the security token where the org needs one.
        password: SecretString,
    },
    /// Client-credentials flow: the connected app's run-as user. Salesforce
    /// only allows it on the org's My Domain URL, so `login_url` must be that.
    ClientCredentials {
        /// The connected app's consumer key.
        client_id: String,
        /// The consumer secret.
        client_secret: SecretString,
    },
    /// A token obtained elsewhere (tests, or a token a caller manages). It
    /// cannot be refreshed: an `INVALID_SESSION_ID` is final.
    AccessToken {
        /// The org's instance URL, e.g. `https://example.my.salesforce.com`.
        instance_url: String,
        /// The access token.
        token: SecretString,
    },
}

/// A token as issued by Salesforce's token endpoint. `Debug` hides the tokens.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The access token for `Authorization: Bearer`.
    pub access_token: SecretString,
    /// Present for the authorization-code flow when the app has the
    /// `refresh_token` scope; store it to build [`Auth::RefreshToken`].
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
    /// The org's instance URL, the base of every REST call.
    pub instance_url: String,
    /// The identity URL (`…/id/<org id>/<user id>`).
    #[serde(default)]
    pub id: Option<String>,
    /// The scopes granted.
    #[serde(default)]
    pub scope: Option<String>,
}

/// What an admin's browser is sent to, and what must be kept until it comes back.
#[derive(Debug)]
pub struct AuthorizationRequest {
    /// The URL to redirect the browser to.
    pub url: reqwest::Url,
    /// The `state` sent; the callback must carry the same value (CSRF check).
    pub state: String,
    /// The PKCE verifier; pass it to
    /// [`Client::exchange_authorization_code`](crate::Client::exchange_authorization_code).
    pub code_verifier: SecretString,
}

/// Builds the authorize URL of the authorization-code flow with PKCE (S256).
pub(crate) fn authorization_request(
    login_url: &str,
    client_id: &str,
    redirect_uri: &str,
    scopes: &[&str],
) -> Result<AuthorizationRequest, Error> {
    let code_verifier = random_url_safe(32);
    let state = random_url_safe(16);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
    let mut url = reqwest::Url::parse(&format!(
        "{}/services/oauth2/authorize",
        login_url.trim_end_matches('/')
    ))
    .map_err(|e| Error::invalid(format!("login URL {login_url:?} is not a URL: {e}")))?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &state);
        if !scopes.is_empty() {
            query.append_pair("scope", &scopes.join(" "));
        }
    }
    Ok(AuthorizationRequest {
        url,
        state,
        code_verifier: SecretString::from(code_verifier),
    })
}

/// 43+ characters from the URL-safe alphabet, as RFC 7636 asks of a verifier.
fn random_url_safe(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

#[derive(Serialize)]
struct JwtClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
}

/// Signs the JWT bearer assertion for `username`.
pub(crate) fn jwt_assertion(
    consumer_key: &str,
    private_key_pem: &SecretString,
    audience: &str,
    username: &str,
) -> Result<String, Error> {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.expose_secret().as_bytes())
        // The key error says what is wrong with the PEM, never its content.
        .map_err(|e| {
            Error::invalid(format!(
                "the JWT private key is not a usable RSA PEM key: {e}"
            ))
        })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let claims = JwtClaims {
        iss: consumer_key,
        sub: username,
        aud: audience,
        // Salesforce accepts an expiry at most three minutes ahead.
        exp: now + 170,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .map_err(|e| Error::invalid(format!("the JWT assertion could not be signed: {e}")))
}

/// The form a token request posts, built per flow. `None` for
/// [`Auth::AccessToken`], which needs no request.
pub(crate) fn token_form(
    auth: &Auth,
    login_url: &str,
    username: Option<&str>,
) -> Result<Option<Vec<(&'static str, String)>>, Error> {
    let form = match auth {
        Auth::JwtBearer {
            consumer_key,
            private_key_pem,
            audience,
        } => {
            let username = username.ok_or_else(|| {
                Error::invalid("the JWT bearer flow needs a username: call Client::for_user first")
            })?;
            let audience = audience.as_deref().unwrap_or(login_url);
            vec![
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
                ),
                (
                    "assertion",
                    jwt_assertion(consumer_key, private_key_pem, audience, username)?,
                ),
            ]
        }
        other => {
            if let Some(username) = username {
                return Err(Error::invalid(format!(
                    "only the JWT bearer flow can act as another user ({username:?})"
                )));
            }
            match other {
                Auth::RefreshToken {
                    client_id,
                    client_secret,
                    refresh_token,
                } => {
                    let mut form = vec![
                        ("grant_type", "refresh_token".to_owned()),
                        ("client_id", client_id.clone()),
                        ("refresh_token", refresh_token.expose_secret().to_owned()),
                    ];
                    if let Some(secret) = client_secret {
                        form.push(("client_secret", secret.expose_secret().to_owned()));
                    }
                    form
                }
                Auth::Password {
                    client_id,
                    client_secret,
                    username,
                    password,
                } => vec![
                    ("grant_type", "password".to_owned()),
                    ("client_id", client_id.clone()),
                    ("client_secret", client_secret.expose_secret().to_owned()),
                    ("username", username.clone()),
                    ("password", password.expose_secret().to_owned()),
                ],
                Auth::ClientCredentials {
                    client_id,
                    client_secret,
                } => vec![
                    ("grant_type", "client_credentials".to_owned()),
                    ("client_id", client_id.clone()),
                    ("client_secret", client_secret.expose_secret().to_owned()),
                ],
                Auth::AccessToken { .. } | Auth::JwtBearer { .. } => return Ok(None),
            }
        }
    };
    Ok(Some(form))
}

/// Posts a token request and reads the answer.
pub(crate) async fn request_token(
    http: &reqwest::Client,
    login_url: &str,
    form: &[(&'static str, String)],
) -> Result<TokenResponse, Error> {
    let url = format!("{}/services/oauth2/token", login_url.trim_end_matches('/'));
    let label = "POST /services/oauth2/token".to_owned();
    let response = http
        .post(&url)
        .form(form)
        .send()
        .await
        // Asking for a token changes nothing: always safe to repeat.
        .map_err(|e| Error::transport(label.clone(), !e.is_connect(), true, e))?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .await
        .map_err(|e| Error::transport(label.clone(), true, true, e))?;
    if !(200..300).contains(&status) {
        tracing::warn!(status, "Salesforce refused a token");
        return Err(Error::token(status, parse_error_body(status, &body)));
    }
    serde_json::from_str::<TokenResponse>(&body).map_err(|e| {
        Error::unexpected(
            label,
            status,
            format!("the token answer could not be read: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorize_url_carries_an_s256_challenge_of_the_verifier_and_the_state() {
        let request = authorization_request(
            "https://login.salesforce.com/",
            "app-key",
            "https://callsync.example/callback",
            &["api", "refresh_token"],
        )
        .unwrap();
        let pairs: std::collections::HashMap<_, _> =
            request.url.query_pairs().into_owned().collect();
        assert_eq!(request.url.path(), "/services/oauth2/authorize");
        assert_eq!(pairs["response_type"], "code");
        assert_eq!(pairs["client_id"], "app-key");
        assert_eq!(pairs["redirect_uri"], "https://callsync.example/callback");
        assert_eq!(pairs["code_challenge_method"], "S256");
        assert_eq!(pairs["state"], request.state);
        assert_eq!(pairs["scope"], "api refresh_token");
        let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(
            request.code_verifier.expose_secret().as_bytes(),
        ));
        assert_eq!(pairs["code_challenge"], expected);
        assert!(request.code_verifier.expose_secret().len() >= 43);
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let auth = Auth::Password {
            client_id: "app".to_owned(),
            client_secret: SecretString::from("the-consumer-secret"),
            username: "admin@example.com".to_owned(),
            password: SecretString::from("hunter2"),
        };
        let printed = format!("{auth:?}");
        assert!(!printed.contains("the-consumer-secret"));
        assert!(!printed.contains("hunter2"));
    }

    #[test]
    fn only_the_jwt_flow_can_act_as_another_user() {
        let auth = Auth::ClientCredentials {
            client_id: "app".to_owned(),
            client_secret: SecretString::from("s"),
        };
        assert!(
            token_form(
                &auth,
                "https://login.salesforce.com",
                Some("someone@example.com")
            )
            .is_err()
        );
        assert!(
            token_form(&auth, "https://login.salesforce.com", None)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_bad_private_key_is_reported_without_its_content() {
        let error = jwt_assertion(
            "key",
            &SecretString::from("not a pem secret-material"),
            "aud",
            "u",
        )
        .unwrap_err();
        assert!(!error.to_string().contains("secret-material"));
    }
}
