//! Salesforce users for R7: a user's Id, `IsActive` and `Phone` by username, and the user
//! whose `Phone` is an auto-forward destination (chosen by `callsync_core::owner`) — cached
//! per organisation for a short time, because every call needs them and they rarely change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callsync_core::ids::SalesforceId;
use callsync_core::owner;
use callsync_core::phone::PhoneRegion;
use salesforce::{Client, soql};
use serde::Deserialize;

use super::connection::lock;
use super::error::CrmError;

/// A Salesforce user as R7 needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesforceUser {
    /// `Id` (005…).
    pub id: SalesforceId,
    /// `Username`, as Salesforce spells it.
    pub username: String,
    /// `IsActive`: an inactive user cannot own a Task (R7).
    pub is_active: bool,
    /// `Phone`, as written in Salesforce.
    pub phone: Option<String>,
}

#[derive(Deserialize)]
struct UserRow {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "IsActive", default)]
    is_active: bool,
    #[serde(rename = "Phone", default)]
    phone: Option<String>,
}

impl UserRow {
    fn into_user(self) -> Result<SalesforceUser, CrmError> {
        let id = SalesforceId::parse(&self.id).map_err(|error| CrmError::UnexpectedAnswer {
            what: "the User query",
            detail: format!("the Id {:?} {error}", self.id),
        })?;
        Ok(SalesforceUser {
            id,
            username: self.username,
            is_active: self.is_active,
            phone: self.phone.filter(|phone| !phone.trim().is_empty()),
        })
    }
}

/// What one organisation's cache holds.
#[derive(Default)]
struct OrgUsers {
    /// By lower-cased username (Salesforce compares usernames without case); `None`
    /// remembers that no user has that name.
    by_username: HashMap<String, (Instant, Option<SalesforceUser>)>,
    /// Every user with a `Phone`, for auto-forward destinations.
    with_phone: Option<(Instant, Arc<Vec<SalesforceUser>>)>,
}

/// Users by organisation, each answer kept for `ttl`. Share one per process.
pub struct UserDirectory {
    ttl: Duration,
    orgs: Mutex<HashMap<String, OrgUsers>>,
    /// One fetch at a time per organisation: with hundreds of calls in flight (R14), every
    /// step of a cold cache would otherwise send its own User query at the same moment.
    /// A step that missed waits here, then looks in the cache again. (Kept by hand beside
    /// the cache above, which also remembers misses and is forgotten per organisation.)
    loading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for UserDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserDirectory")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Default for UserDirectory {
    /// A five-minute cache: a user deactivated or re-numbered in Salesforce is seen within
    /// minutes, while a busy organisation asks once per five minutes, not once per call.
    fn default() -> Self {
        UserDirectory::new(Duration::from_secs(300))
    }
}

impl UserDirectory {
    /// An empty directory whose answers are kept for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        UserDirectory {
            ttl,
            orgs: Mutex::new(HashMap::new()),
            loading: Mutex::new(HashMap::new()),
        }
    }

    /// The user named `username` in organisation `org_id`, or `None` when Salesforce has no
    /// such user. One SOQL query when not cached.
    pub async fn user_by_username(
        &self,
        org_id: &str,
        client: &Client,
        username: &str,
    ) -> Result<Option<SalesforceUser>, CrmError> {
        let mut found = self.users_by_username(org_id, client, &[username]).await?;
        Ok(found.remove(&username.trim().to_lowercase()))
    }

    /// The users named in `usernames` that exist, keyed by lower-cased username. Those not
    /// cached are fetched with one SOQL query (the handler and the organisation's default
    /// user of a call cost one request together).
    pub async fn users_by_username(
        &self,
        org_id: &str,
        client: &Client,
        usernames: &[&str],
    ) -> Result<HashMap<String, SalesforceUser>, CrmError> {
        let (mut found, missing) = self.cached_by_username(org_id, usernames);
        if missing.is_empty() {
            return Ok(found);
        }
        let loading = self.loading_lock(org_id);
        let _loading = loading.lock().await;
        // Another step may have fetched them while this one waited.
        let (fetched_meanwhile, missing) = self.cached_by_username(org_id, usernames);
        found.extend(fetched_meanwhile);
        if missing.is_empty() {
            return Ok(found);
        }
        let now = Instant::now();
        let rows: Vec<UserRow> = client
            .query_all_rows(&soql!(
                "SELECT Id, Username, IsActive, Phone FROM User WHERE Username IN {}",
                missing
            )?)
            .await?;
        let mut fetched: HashMap<String, SalesforceUser> = HashMap::new();
        for row in rows {
            let user = row.into_user()?;
            fetched.insert(user.username.to_lowercase(), user);
        }
        let mut orgs = lock(&self.orgs);
        let org = orgs.entry(org_id.to_owned()).or_default();
        for key in missing {
            let user = fetched.remove(&key);
            org.by_username.insert(key.clone(), (now, user.clone()));
            if let Some(user) = user {
                found.insert(key, user);
            }
        }
        Ok(found)
    }

    /// What the cache holds of `usernames` (keyed by lower-cased username), and the names
    /// it holds nothing fresh for.
    fn cached_by_username(
        &self,
        org_id: &str,
        usernames: &[&str],
    ) -> (HashMap<String, SalesforceUser>, Vec<String>) {
        let now = Instant::now();
        let mut found = HashMap::new();
        let mut missing: Vec<String> = Vec::new();
        let orgs = lock(&self.orgs);
        for username in usernames {
            let key = username.trim().to_lowercase();
            if key.is_empty() || missing.contains(&key) || found.contains_key(&key) {
                continue;
            }
            match orgs
                .get(org_id)
                .and_then(|org| org.by_username.get(&key))
                .filter(|(at, _)| now.duration_since(*at) < self.ttl)
            {
                Some((_, Some(user))) => {
                    found.insert(key, user.clone());
                }
                Some((_, None)) => {}
                None => missing.push(key),
            }
        }
        (found, missing)
    }

    /// The lock a fetch of `org_id`'s users holds.
    fn loading_lock(&self, org_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(lock(&self.loading).entry(org_id.to_owned()).or_default())
    }

    /// The user whose `Phone` is `number` in normal form (R7 auto-forward, R3.6), or
    /// `None`; `callsync_core::owner::user_with_phone` decides, ties included. Inactive
    /// users are returned too: R7's inactive-owner fallback decides about them.
    ///
    /// Every user with a phone is fetched (one paged query, cached for the TTL) and compared
    /// by the core, because SOQL compares strings exactly and a user's phone may be spelled
    /// in any of the ways people type numbers.
    pub async fn user_with_phone(
        &self,
        org_id: &str,
        client: &Client,
        number: &str,
        region: PhoneRegion,
    ) -> Result<Option<SalesforceUser>, CrmError> {
        let users = self.users_with_phone(org_id, client).await?;
        let phones: Vec<(SalesforceId, String)> = users
            .iter()
            .filter_map(|user| Some((user.id.clone(), user.phone.clone()?)))
            .collect();
        let Some(chosen) = owner::user_with_phone(number, &phones, region) else {
            return Ok(None);
        };
        Ok(users.iter().find(|user| user.id == chosen).cloned())
    }

    async fn users_with_phone(
        &self,
        org_id: &str,
        client: &Client,
    ) -> Result<Arc<Vec<SalesforceUser>>, CrmError> {
        if let Some(users) = self.cached_with_phone(org_id) {
            return Ok(users);
        }
        let loading = self.loading_lock(org_id);
        let _loading = loading.lock().await;
        if let Some(users) = self.cached_with_phone(org_id) {
            return Ok(users);
        }
        let now = Instant::now();
        let rows: Vec<UserRow> = client
            .query_all_rows(&soql!(
                "SELECT Id, Username, IsActive, Phone FROM User WHERE Phone != null"
            )?)
            .await?;
        let users = Arc::new(
            rows.into_iter()
                .map(UserRow::into_user)
                .collect::<Result<Vec<_>, _>>()?,
        );
        lock(&self.orgs)
            .entry(org_id.to_owned())
            .or_default()
            .with_phone = Some((now, Arc::clone(&users)));
        Ok(users)
    }

    fn cached_with_phone(&self, org_id: &str) -> Option<Arc<Vec<SalesforceUser>>> {
        let orgs = lock(&self.orgs);
        let (at, users) = orgs.get(org_id)?.with_phone.as_ref()?;
        (Instant::now().duration_since(*at) < self.ttl).then(|| Arc::clone(users))
    }

    /// Forgets what is cached for `org_id` (its connection changed, or an admin asked).
    pub fn forget(&self, org_id: &str) {
        lock(&self.orgs).remove(org_id);
    }
}
