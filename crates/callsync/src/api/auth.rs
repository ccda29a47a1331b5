//! API keys: each belongs to one organisation and carries scopes (`ingest`,
//! `admin`). Keys are stored only as their SHA-256, so a leaked database
//! does not leak usable keys; the key itself is shown once, when made.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest as _, Sha256};

use super::AppState;
use super::error::ApiError;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Post call events.
    Ingest,
    /// Read calls, contacts and errors; change settings and users; retry.
    Admin,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Admin => "admin",
        }
    }
}

/// The caller, once its key has been checked.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org_id: String,
    scopes: Vec<String>,
}

impl Caller {
    /// Refuses the request unless the key has `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.iter().any(|s| s == scope.name()) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this API key lacks the `{}` scope",
                scope.name()
            )))
        }
    }
}

/// A new random API key (`csk_` and 43 URL-safe characters).
pub fn new_key() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("csk_{}", hex::encode(bytes))
}

/// A new random signing secret for an organisation's events.
pub fn new_signing_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", hex::encode(bytes))
}

pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// How stale a key's last-used time may get before a request writes it again.
const LAST_USED_RESOLUTION_SECONDS: i64 = 60;

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "missing Authorization header: send `Authorization: Bearer <API key>`".into(),
                )
            })?;
        let key = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthorized("Authorization header must be `Bearer <API key>`".into())
            })?;
        let hash = key_hash(key);
        let owner = state
            .store
            .key_owner_recent(&hash)
            .await?
            .ok_or_else(|| ApiError::Unauthorized("unknown or revoked API key".into()))?;
        // Last use is kept to the minute: writing it on every request would put a write
        // on every read, and on SQLite's single writer. It is written off the request's
        // path; a failure only costs the timestamp.
        let now = state.now();
        let stale = owner.last_used_at.is_none_or(|last| {
            now.duration_since(last)
                >= jiff::SignedDuration::from_secs(LAST_USED_RESOLUTION_SECONDS)
        });
        if stale {
            let store = state.store.clone();
            tokio::spawn(async move {
                if let Err(error) = store.touch_api_key(&hash, now).await {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "cannot record an API key's use"
                    );
                }
            });
        }
        Ok(Caller {
            org_id: owner.org_id,
            scopes: owner
                .scopes
                .split(',')
                .map(|s| s.trim().to_owned())
                .collect(),
        })
    }
}
