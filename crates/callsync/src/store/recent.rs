//! Recently read organisation rows and API key owners, for the API's hot path.
//!
//! Every API request authenticates its key and most then read their organisation: two
//! database reads before any work, which on SQLite each hop to a connection's thread and
//! back. On the screen pop (`GET /v1/lookup`, R15), answered from memory otherwise, those
//! two hops were most of its time and all of its tail (BENCHMARKS.md, "Fifth pass").
//!
//! Entries live [`FOR`]: a change made through this process forgets the entry at once
//! (the store's writes call [`Recent::forget_org`] / [`Recent::forget_keys`]); a change
//! made by another instance sharing the database is seen within [`FOR`]. A revoked key
//! may therefore still work on another instance for that long. Only found rows are kept:
//! an unknown key is asked of the database every time, so a key made on another instance
//! works at once and guessing keys cannot fill the cache.

use std::time::Duration;

use moka::sync::Cache;

use super::keys::KeyOwner;
use super::rows::OrgRow;

/// How long an entry is trusted without asking the database again.
pub const FOR: Duration = Duration::from_secs(5);

/// At most this many of each; a process serves a few hundred organisations and keys.
const CAPACITY: u64 = 10_000;

#[derive(Clone)]
pub(super) struct Recent {
    orgs: Cache<String, OrgRow>,
    keys: Cache<String, KeyOwner>,
}

impl std::fmt::Debug for Recent {
    // `OrgRow` holds opened secrets; only the counts are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recent")
            .field("orgs", &self.orgs.entry_count())
            .field("keys", &self.keys.entry_count())
            .finish()
    }
}

impl Default for Recent {
    fn default() -> Self {
        Recent {
            orgs: cache(),
            keys: cache(),
        }
    }
}

fn cache<V: Clone + Send + Sync + 'static>() -> Cache<String, V> {
    Cache::builder()
        .max_capacity(CAPACITY)
        .time_to_live(FOR)
        .build()
}

impl Recent {
    pub(super) fn org(&self, org_id: &str) -> Option<OrgRow> {
        self.orgs.get(org_id)
    }

    pub(super) fn keep_org(&self, org: &OrgRow) {
        self.orgs.insert(org.id.clone(), org.clone());
    }

    pub(super) fn forget_org(&self, org_id: &str) {
        self.orgs.invalidate(org_id);
    }

    pub(super) fn key(&self, key_hash: &str) -> Option<KeyOwner> {
        self.keys.get(key_hash)
    }

    pub(super) fn keep_key(&self, key_hash: &str, owner: &KeyOwner) {
        self.keys.insert(key_hash.to_owned(), owner.clone());
    }

    /// Forgets every key: a revocation names a key by its id (a prefix of its hash), and
    /// revocations are rare.
    pub(super) fn forget_keys(&self) {
        self.keys.invalidate_all();
    }

    pub(super) fn forget_key(&self, key_hash: &str) {
        self.keys.invalidate(key_hash);
    }
}
