//! The local phone index (R15): per organisation, the R3.2 phone fields of Contact,
//! Account (Person Accounts too) and Lead in normal form (R3.6), with what R3 and R4 need,
//! so matching and the screen pop are answered from memory instead of asking Salesforce.
//!
//! - Stored in callsync's database (`store/index.rs`), so a restart does not refetch the
//!   org; served from memory as a map from number key to the Ids holding it.
//! - Filled by a resumable backfill and kept fresh by incremental sync (`sync.rs`).
//! - The index supplies candidates only: `callsync_core::matching` picks the winner with
//!   the rules it applies to live candidates (`choose_record_for_parsed`, told which of
//!   the index's spellings surely are the number so they are not read again).
//! - Cold (never backfilled, still loading) or failing: [`find_record`] and
//!   [`find_record_for_number`] ask Salesforce live (`crm`), never answer empty (R15).

mod sync;
mod table;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use callsync_core::call::Call;
use callsync_core::ids::SalesforceId;
use callsync_core::matching::{
    Candidate, Match, RecordSearch, choose_record, choose_record_for_parsed, record_search,
};
use callsync_core::phone::{PhoneNumber, PhoneRegion};
use jiff::Timestamp;
use salesforce::Client;
use serde::{Deserialize, Serialize};

use crate::crm::{self, CrmError};
use crate::store::Store;

pub use sync::{BackfillProgress, backfill, catch_up, run_background};
use table::PhoneTable;

/// How old the index may be when a create is decided (R15 "fresh enough to trust"): older,
/// and the matcher first brings it up to date with one request shared by every call of
/// that moment.
pub const MAX_AGE: Duration = Duration::from_secs(3);

/// How often `serve` catches every index up in the background, so most creates find it
/// fresh and spend no request on matching. As long as [`MAX_AGE`]: while calls flow, about
/// one sync per freshness window, whoever starts it (at 10 calls/s, 2 s cost 0.052
/// requests per call, 3 s about 0.035; BENCHMARKS.md).
pub const SYNC_INTERVAL: Duration = MAX_AGE;

/// The phone indexes of every organisation this process serves.
#[derive(Debug, Default)]
pub struct Indexes {
    orgs: Mutex<HashMap<String, Arc<OrgIndex>>>,
}

impl Indexes {
    /// Every organisation's index this process has used, by organisation id.
    pub fn all(&self) -> Vec<(String, Arc<OrgIndex>)> {
        lock(&self.orgs)
            .iter()
            .map(|(org, index)| (org.clone(), index.clone()))
            .collect()
    }

    /// The index of `org_id` (empty and unloaded the first time).
    pub fn org(&self, org_id: &str) -> Arc<OrgIndex> {
        lock(&self.orgs)
            .entry(org_id.to_owned())
            .or_insert_with(|| Arc::new(OrgIndex::new(org_id)))
            .clone()
    }
}

/// One organisation's index: the table in memory, its sync state, and the lock that makes
/// every sync of it single-flight.
#[derive(Debug)]
pub struct OrgIndex {
    org_id: String,
    /// `None` until loaded from the store.
    table: RwLock<Option<PhoneTable>>,
    state: Mutex<SyncState>,
    /// Held by whoever loads, backfills or catches up; waiters reuse a sync that started
    /// after they asked instead of sending their own (single-flight).
    sync_lock: tokio::sync::Mutex<()>,
}

/// How far the sync got; stored as JSON with each page (`phone_index_state`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SyncState {
    /// Backfill cursor per object (`Contact`, `Account`, `Lead`).
    #[serde(default)]
    pub backfill: BTreeMap<String, ObjectCursor>,
    /// Whether every object was paged through once: only then is the index trusted.
    #[serde(default)]
    pub backfilled: bool,
    /// Changes with a `SystemModstamp` before this are applied (each sync asks again from
    /// a little earlier, [`sync::OVERLAP`], for clock skew and late commits).
    #[serde(default)]
    pub watermark: Option<Timestamp>,
    /// When the last successful sync's queries were sent: changes before it are applied.
    #[serde(default)]
    pub synced_at: Option<Timestamp>,
    /// The last sync's failure, if it failed.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Whether the org has Person Accounts (their fields exist only then).
    #[serde(default)]
    pub person_accounts: Option<bool>,
}

/// The backfill's position in one object: records are paged in `Id` order, so the last
/// stored Id is where a restart resumes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ObjectCursor {
    pub after_id: Option<String>,
    pub rows: u64,
    pub done: bool,
}

/// What `GET /v1/org` and the metrics show of an index.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IndexStatus {
    /// `cold` (not loaded or never backfilled), `backfilling`, `ready` or `failing`.
    pub state: &'static str,
    /// Records held in memory.
    pub records: u64,
    /// Distinct numbers held.
    pub numbers: u64,
    /// Bytes the in-memory table has allocated (an estimate from its capacities).
    pub memory_bytes: u64,
    /// Records stored by the backfill so far, per object.
    pub backfill: BTreeMap<String, u64>,
    /// `SystemModstamp` up to which changes are applied.
    #[schema(value_type = Option<String>)]
    pub watermark: Option<Timestamp>,
    /// When the last successful sync started.
    #[schema(value_type = Option<String>)]
    pub synced_at: Option<Timestamp>,
    /// Milliseconds since then: how stale an answer could be.
    pub lag_ms: Option<i64>,
    pub last_error: Option<String>,
}

impl OrgIndex {
    fn new(org_id: &str) -> OrgIndex {
        OrgIndex {
            org_id: org_id.to_owned(),
            table: RwLock::new(None),
            state: Mutex::new(SyncState::default()),
            sync_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// A copy of the sync state.
    pub fn state(&self) -> SyncState {
        lock(&self.state).clone()
    }

    fn set_state(&self, state: SyncState) {
        *lock(&self.state) = state;
    }

    /// Whether lookups may be answered from the index: loaded, backfilled and the last
    /// sync did not fail.
    fn warm(&self) -> bool {
        let state = lock(&self.state);
        state.backfilled && state.last_error.is_none() && self.loaded()
    }

    fn loaded(&self) -> bool {
        self.table.read().is_ok_and(|table| table.is_some())
    }

    /// Loads the stored records and state (once), without asking Salesforce.
    pub async fn load(&self, store: &Store, region: PhoneRegion) -> anyhow::Result<()> {
        let _guard = self.sync_lock.lock().await;
        self.load_locked(store, region).await
    }

    /// Loads the stored records and state once. Caller holds `sync_lock`.
    async fn load_locked(&self, store: &Store, region: PhoneRegion) -> anyhow::Result<()> {
        if self.loaded() {
            return Ok(());
        }
        let state = match store.index_state(&self.org_id).await? {
            Some(json) => serde_json::from_str(&json).map_err(|error| {
                anyhow::anyhow!(
                    "the stored phone index state of organisation {:?} cannot be read: {error}",
                    self.org_id
                )
            })?,
            None => SyncState::default(),
        };
        let mut table = PhoneTable::new(region);
        let stored = store.count_index_records(&self.org_id).await?;
        table.reserve(usize::try_from(stored).unwrap_or(0));
        // Row by row: a million JSON bodies held at once would outweigh the table itself.
        store
            .for_each_index_record(&self.org_id, |body| {
                let record: IndexedRecord = serde_json::from_str(body).map_err(|error| {
                    anyhow::anyhow!(
                        "a stored phone index record of organisation {:?} cannot be read: {error}",
                        self.org_id
                    )
                })?;
                table.upsert(&record);
                Ok(())
            })
            .await?;
        self.set_state(state);
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = Some(table);
        Ok(())
    }

    /// Applies changes to the table in memory.
    fn apply(&self, changes: &[Change]) {
        let mut guard = self.table.write().unwrap_or_else(|p| p.into_inner());
        let Some(table) = guard.as_mut() else { return };
        for change in changes {
            match change {
                Change::Upsert(record) => table.upsert(record),
                Change::Remove { id, stamp } => table.remove_if_older(id, *stamp),
            }
        }
    }

    /// `changes` without the versions the table already holds (same or newer
    /// `SystemModstamp`): what a catch-up's overlap reads again costs no write.
    fn news(&self, changes: Vec<Change>) -> Vec<Change> {
        let guard = self.table.read().unwrap_or_else(|p| p.into_inner());
        let Some(table) = guard.as_ref() else {
            return changes;
        };
        changes
            .into_iter()
            .filter(|change| match change {
                Change::Upsert(record) => table
                    .held_stamp(&record.candidate.id)
                    .is_none_or(|held| held < record.system_modstamp),
                Change::Remove { .. } => true,
            })
            .collect()
    }

    /// Makes room in the table for `records` more (a backfill about to read them).
    fn reserve(&self, records: usize) {
        let mut guard = self.table.write().unwrap_or_else(|p| p.into_inner());
        if let Some(table) = guard.as_mut() {
            table.reserve(records);
        }
    }

    /// Forgets everything in memory (a rebuild).
    fn reset(&self, region: PhoneRegion) {
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = Some(PhoneTable::new(region));
        self.set_state(SyncState::default());
    }

    /// The candidates the index holds for `number`: every record with a searched phone
    /// field holding it in normal form, with a Contact's `Account.Name` filled in (R4).
    pub fn candidates(&self, number: &str, region: PhoneRegion) -> Vec<Candidate> {
        match PhoneNumber::parse(number, region) {
            Ok(number) => self.read_table(region, |table| table.candidates(number.key())),
            Err(_) => Vec::new(),
        }
    }

    /// R3 for the number `customer` (read with `region`) among the records the index holds
    /// for it: the record and field `choose_record` picks from whole candidates. Matching
    /// is handed only the phone fields that may hold the number, and told which surely do
    /// (`PhoneTable::matching_candidates`), so a spelling stored in the index is not read
    /// again; the match then carries its record whole, as a live match does.
    ///
    /// This is also a call's R3 when it has no click-to-call record of an object callsync
    /// links (`record_search` gives `RecordSearch::Number`): an Id of another object can
    /// never be one of the candidates, so `choose_record` would decide by the number.
    pub fn choose(&self, customer: &PhoneNumber, region: PhoneRegion) -> Option<Match> {
        let holders = self.read_table(region, |table| table.matching_candidates(customer.key()));
        let mut found =
            choose_record_for_parsed(customer, &holders.candidates, region, |at, phone| {
                holders.surely_holds(at, phone)
            })?;
        if found.candidate.is_some() {
            found.candidate = self.record(&found.record_id).or(found.candidate);
        }
        Some(found)
    }

    /// `read` of the table, its keys in normal form for `region`; empty when not loaded.
    fn read_table<T: Default>(&self, region: PhoneRegion, read: impl Fn(&PhoneTable) -> T) -> T {
        {
            let guard = self.table.read().unwrap_or_else(|p| p.into_inner());
            if let Some(table) = guard.as_ref()
                && table.region() == region
            {
                return read(table);
            }
        }
        // The organisation changed its default region: keys are put in normal form again.
        let mut guard = self.table.write().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(table) => {
                table.rekey(region);
                read(table)
            }
            None => T::default(),
        }
    }

    /// The record `id` as R3 judges it (a Contact's `Account.Name` filled in), if the
    /// index holds it.
    pub fn record(&self, id: &SalesforceId) -> Option<Candidate> {
        let guard = self.table.read().unwrap_or_else(|p| p.into_inner());
        guard.as_ref()?.candidate(id)
    }

    /// Makes sure the index may answer for changes made in Salesforce before `required`:
    /// loaded, backfilled, and a sync sent after `required` (at the latest now); otherwise
    /// it catches up first — one request, shared: a caller that waited for a sync begun
    /// after its `required` uses that one instead of sending its own. `Ok(false)`: cold,
    /// ask Salesforce live.
    pub async fn fresh(
        &self,
        store: &Store,
        client: &Client,
        region: PhoneRegion,
        required: Timestamp,
    ) -> anyhow::Result<bool> {
        let required = required.min(Timestamp::now());
        if !self.loaded() {
            // A backfill holding the lock may take minutes: do not wait for it.
            let Ok(_guard) = self.sync_lock.try_lock() else {
                return Ok(false);
            };
            self.load_locked(store, region).await?;
        }
        if !self.state().backfilled {
            return Ok(false);
        }
        let covers = |state: &SyncState| {
            state.last_error.is_none() && state.synced_at.is_some_and(|at| at >= required)
        };
        if covers(&self.state()) {
            return Ok(true);
        }
        let _guard = self.sync_lock.lock().await;
        if covers(&self.state()) {
            return Ok(true);
        }
        sync::catch_up_locked(store, self, client).await?;
        Ok(self.warm())
    }

    /// Adds one record callsync itself created (R13), so the next call from its number
    /// finds it before any sync would. Only a loaded, backfilled index takes it (a cold one
    /// is not asked, and its backfill will bring the record). `record.system_modstamp`
    /// should be no later than Salesforce's own, so the next sync's version replaces it.
    pub async fn add_record(&self, store: &Store, record: IndexedRecord) -> anyhow::Result<()> {
        if !(self.loaded() && self.state().backfilled) {
            return Ok(());
        }
        let body = serde_json::to_string(&record)?;
        store
            .put_index_record(&self.org_id, record.candidate.id.to_18(), &body)
            .await?;
        self.apply(&[Change::Upsert(record)]);
        Ok(())
    }

    /// The index's state for `GET /v1/org` and the metrics.
    pub fn status(&self) -> IndexStatus {
        let state = self.state();
        let (records, numbers, memory_bytes) = self
            .table
            .read()
            .map(|table| {
                table.as_ref().map_or((0, 0, 0), |table| {
                    (
                        table.records() as u64,
                        table.numbers() as u64,
                        table.heap_bytes() as u64,
                    )
                })
            })
            .unwrap_or((0, 0, 0));
        let loaded = self.loaded();
        let label = if state.last_error.is_some() {
            "failing"
        } else if state.backfilled && loaded {
            "ready"
        } else if state.backfill.values().any(|cursor| cursor.rows > 0) {
            "backfilling"
        } else {
            "cold"
        };
        IndexStatus {
            state: label,
            records,
            numbers,
            memory_bytes,
            backfill: state
                .backfill
                .iter()
                .map(|(object, cursor)| (object.clone(), cursor.rows))
                .collect(),
            watermark: state.watermark,
            synced_at: state.synced_at,
            lag_ms: state
                .synced_at
                .map(|at| (Timestamp::now().as_millisecond() - at.as_millisecond()).max(0)),
            last_error: state.last_error,
        }
    }
}

/// A record as the index holds and stores it. Every live record read is held, with a phone
/// or without: an Account's name is a Contact's company (R4), and a click-to-call (R3.1)
/// may name a record without a phone, so a record the index lacks is one that is gone.
/// It is the candidate R3 judges (its `account_name`
/// is filled in at lookup, from the Account, so a renamed Account needs no Contact change)
/// and the `SystemModstamp` that orders versions of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedRecord {
    #[serde(flatten)]
    pub candidate: Candidate,
    pub system_modstamp: Timestamp,
}

/// One change read from Salesforce.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    Upsert(IndexedRecord),
    /// Deleted (recycle bin, merged away) or no longer indexed (a Person Account's hidden
    /// Contact), as of `stamp`.
    Remove {
        id: SalesforceId,
        stamp: Timestamp,
    },
}

/// R3 for a call, from the index when it is warm; otherwise (cold or failing) live with
/// [`crm::find_record`]. Before answering it catches the index up unless a sync began
/// after the call did and within [`MAX_AGE`] (R15 "fresh enough to trust").
///
/// A click-to-call (R3.1) is answered from the index when it holds the record (it holds
/// every live Contact, Account and Lead, with or without a phone); a record it does not
/// hold — deleted, or a Person Account's own Contact — is asked live, as before the
/// index, so the answer for such an Id stays exactly the live one.
pub async fn find_record(
    store: &Store,
    org_id: &str,
    client: &Client,
    call: &Call,
    region: PhoneRegion,
) -> Result<Option<Match>, CrmError> {
    let index = store.indexes().org(org_id);
    // Changes made before the call began must be seen (a Contact created a second before
    // the call is linked), and none older than MAX_AGE may be missing.
    let began = call.events().iter().map(|event| event.occurred_at).min();
    let required = began.map_or(recent(), |began| began.max(recent()));
    match index.fresh(store, client, region, required).await {
        Ok(true) => {
            if let RecordSearch::ClickToCall { id, .. } = record_search(call) {
                return match index.record(&id) {
                    Some(candidate) => Ok(choose_record(call, &[candidate], region)),
                    None => crm::find_record(client, call, region).await,
                };
            }
            Ok(call
                .customer_number()
                .and_then(|number| PhoneNumber::parse(number, region).ok())
                .and_then(|number| index.choose(&number, region)))
        }
        Ok(false) => crm::find_record(client, call, region).await,
        Err(error) => {
            tracing::warn!(org = org_id, error = %error, "the phone index cannot be trusted now; matching live");
            crm::find_record(client, call, region).await
        }
    }
}

/// The screen pop's R3 (`GET /v1/lookup`): from the index when it is warm, otherwise live
/// with [`crm::find_record_for_number`]. `number` was read with `region`.
pub async fn find_record_for_number(
    store: &Store,
    org_id: &str,
    client: &Client,
    number: &PhoneNumber,
    region: PhoneRegion,
) -> Result<Option<Match>, CrmError> {
    let index = store.indexes().org(org_id);
    // No request on the screen pop's path unless the index is older than MAX_AGE: it must
    // answer while the phone rings.
    match index.fresh(store, client, region, recent()).await {
        Ok(true) => Ok(index.choose(number, region)),
        Ok(false) => crm::find_record_for_number(client, number.input(), region).await,
        Err(error) => {
            tracing::warn!(org = org_id, error = %error, "the phone index cannot be trusted now; looking up live");
            crm::find_record_for_number(client, number.input(), region).await
        }
    }
}

/// `MAX_AGE` ago.
fn recent() -> Timestamp {
    let now = Timestamp::now();
    now.checked_sub(jiff::SignedDuration::try_from(MAX_AGE).unwrap_or_default())
        .unwrap_or(now)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the maps half-written in a way that
    // matters more than stopping every lookup would.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
