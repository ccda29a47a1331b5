//! The local phone index (R15): per organisation, the R3.2 phone fields of Contact,
//! Account (Person Accounts too) and Lead in normal form (R3.6), with what R3 and R4 need,
//! so matching and the screen pop are answered from memory instead of asking Salesforce.
//!
//! - Stored in callsync's database (`store/index.rs`), so a restart does not refetch the
//!   org; served from memory as a map from number key to the Ids holding it.
//! - Filled by a resumable backfill and kept fresh by incremental sync (`sync.rs`).
//! - The index supplies candidates only: `callsync_core::matching::choose_record`, the same
//!   function that judges live candidates, picks the winner.
//! - Cold (never backfilled, still loading) or failing: [`find_record`] and
//!   [`find_record_for_number`] ask Salesforce live (`crm`), never answer empty (R15).

mod sync;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use callsync_core::call::Call;
use callsync_core::event::{Direction, Event, EventBody};
use callsync_core::ids::{CallId, EventId, OrgId, SalesforceId};
use callsync_core::matching::{Candidate, Match, RecordObject, choose_record};
use callsync_core::phone::{PhoneNumber, PhoneRegion};
use jiff::Timestamp;
use salesforce::Client;
use serde::{Deserialize, Serialize};

use crate::crm::{self, CrmError};
use crate::store::Store;

pub use sync::{BackfillProgress, backfill, catch_up, run_background};

/// How old the index may be when a create is decided (R15 "fresh enough to trust"): older,
/// and the matcher first brings it up to date with one request shared by every call of
/// that moment.
pub const MAX_AGE: Duration = Duration::from_secs(3);

/// How often `serve` catches every index up in the background, so most creates find it
/// fresh and spend no request on matching.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(2);

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
        for body in store.index_records(&self.org_id).await? {
            let record: IndexedRecord = serde_json::from_str(&body).map_err(|error| {
                anyhow::anyhow!(
                    "a stored phone index record of organisation {:?} cannot be read: {error}",
                    self.org_id
                )
            })?;
            table.upsert(record);
        }
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
                Change::Upsert(record) => table.upsert(record.clone()),
                Change::Remove { id, stamp } => table.remove_if_older(id, *stamp),
            }
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
        let Ok(number) = PhoneNumber::parse(number, region) else {
            return Vec::new();
        };
        {
            let guard = self.table.read().unwrap_or_else(|p| p.into_inner());
            if let Some(table) = guard.as_ref()
                && table.region == region
            {
                return table.candidates(number.key().as_str());
            }
        }
        // The organisation changed its default region: keys are put in normal form again.
        let mut guard = self.table.write().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(table) => {
                table.rekey(region);
                table.candidates(number.key().as_str())
            }
            None => Vec::new(),
        }
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
        let (records, numbers) = self
            .table
            .read()
            .map(|table| {
                table.as_ref().map_or((0, 0), |table| {
                    (table.records.len() as u64, table.by_number.len() as u64)
                })
            })
            .unwrap_or((0, 0));
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

/// A record as the index holds and stores it: the candidate R3 judges (its `account_name`
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

/// The in-memory table: records by Id, and number keys (R3.6) to the Ids holding them.
#[derive(Debug)]
struct PhoneTable {
    region: PhoneRegion,
    records: HashMap<SalesforceId, IndexedRecord>,
    by_number: HashMap<Box<str>, Vec<SalesforceId>>,
}

impl PhoneTable {
    fn new(region: PhoneRegion) -> PhoneTable {
        PhoneTable {
            region,
            records: HashMap::new(),
            by_number: HashMap::new(),
        }
    }

    /// The normal-form keys of a record's searched phone fields (R3.2, R3.6), once each.
    fn keys(record: &IndexedRecord, region: PhoneRegion) -> Vec<Box<str>> {
        let candidate = &record.candidate;
        let searched = candidate.object.searched_phone_fields();
        let mut keys: Vec<Box<str>> = candidate
            .phones
            .iter()
            .filter(|(field, _)| searched.iter().any(|s| s.eq_ignore_ascii_case(field)))
            .filter_map(|(_, value)| PhoneNumber::parse(value, region).ok())
            .map(|number| Box::from(number.key().as_str()))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Whether a record is kept: every Account (its name is a Contact's company, R4) and
    /// every Contact or Lead with a phone.
    fn keeps(record: &IndexedRecord) -> bool {
        matches!(
            record.candidate.object,
            RecordObject::Account | RecordObject::PersonAccount
        ) || !record.candidate.phones.is_empty()
    }

    /// Stores `record` unless the table holds a newer version of it.
    fn upsert(&mut self, record: IndexedRecord) {
        if let Some(old) = self.records.get(&record.candidate.id)
            && old.system_modstamp > record.system_modstamp
        {
            return;
        }
        self.remove(&record.candidate.id);
        if !Self::keeps(&record) {
            return;
        }
        for key in Self::keys(&record, self.region) {
            self.by_number
                .entry(key)
                .or_default()
                .push(record.candidate.id.clone());
        }
        self.records.insert(record.candidate.id.clone(), record);
    }

    fn remove_if_older(&mut self, id: &SalesforceId, stamp: Timestamp) {
        if self
            .records
            .get(id)
            .is_some_and(|old| old.system_modstamp <= stamp)
        {
            self.remove(id);
        }
    }

    fn remove(&mut self, id: &SalesforceId) {
        let Some(old) = self.records.remove(id) else {
            return;
        };
        for key in Self::keys(&old, self.region) {
            if let Some(ids) = self.by_number.get_mut(&key) {
                ids.retain(|held| held != id);
                if ids.is_empty() {
                    self.by_number.remove(&key);
                }
            }
        }
    }

    fn rekey(&mut self, region: PhoneRegion) {
        let records: Vec<IndexedRecord> = self.records.drain().map(|(_, r)| r).collect();
        self.by_number.clear();
        self.region = region;
        for record in records {
            self.upsert(record);
        }
    }

    fn candidates(&self, key: &str) -> Vec<Candidate> {
        let Some(ids) = self.by_number.get(key) else {
            return Vec::new();
        };
        ids.iter()
            .filter_map(|id| self.records.get(id))
            .map(|record| {
                let mut candidate = record.candidate.clone();
                if candidate.object == RecordObject::Contact {
                    candidate.account_name = candidate
                        .account_id
                        .as_ref()
                        .and_then(|account| self.records.get(account))
                        .and_then(|account| account.candidate.name.clone());
                }
                candidate
            })
            .collect()
    }
}

/// R3 for a call, from the index when it is warm; otherwise (cold, failing, or a
/// click-to-call, whose record may have no phone and so not be indexed) live with
/// [`crm::find_record`]. Before answering it catches the index up unless a sync began
/// after the call did and within [`MAX_AGE`] (R15 "fresh enough to trust").
pub async fn find_record(
    store: &Store,
    org_id: &str,
    client: &Client,
    call: &Call,
    region: PhoneRegion,
) -> Result<Option<Match>, CrmError> {
    if call.click_to_call().is_some() {
        return crm::find_record(client, call, region).await;
    }
    let index = store.indexes().org(org_id);
    // Changes made before the call began must be seen (a Contact created a second before
    // the call is linked), and none older than MAX_AGE may be missing.
    let began = call.events().iter().map(|event| event.occurred_at).min();
    let required = began.map_or(recent(), |began| began.max(recent()));
    match index.fresh(store, client, region, required).await {
        Ok(true) => {
            let candidates = call
                .customer_number()
                .map(|number| index.candidates(number, region))
                .unwrap_or_default();
            Ok(choose_record(call, &candidates, region))
        }
        Ok(false) => crm::find_record(client, call, region).await,
        Err(error) => {
            tracing::warn!(org = org_id, error = %error, "the phone index cannot be trusted now; matching live");
            crm::find_record(client, call, region).await
        }
    }
}

/// The screen pop's R3 (`GET /v1/lookup`): from the index when it is warm, otherwise live
/// with [`crm::find_record_for_number`].
pub async fn find_record_for_number(
    store: &Store,
    org_id: &str,
    client: &Client,
    number: &str,
    region: PhoneRegion,
) -> Result<Option<Match>, CrmError> {
    let index = store.indexes().org(org_id);
    // No request on the screen pop's path unless the index is older than MAX_AGE: it must
    // answer while the phone rings.
    match index.fresh(store, client, region, recent()).await {
        Ok(true) => {
            let Some(call) = lookup_call(number) else {
                return Ok(None);
            };
            Ok(choose_record(
                &call,
                &index.candidates(number, region),
                region,
            ))
        }
        Ok(false) => crm::find_record_for_number(client, number, region).await,
        Err(error) => {
            tracing::warn!(org = org_id, error = %error, "the phone index cannot be trusted now; looking up live");
            crm::find_record_for_number(client, number, region).await
        }
    }
}

/// `MAX_AGE` ago.
fn recent() -> Timestamp {
    let now = Timestamp::now();
    now.checked_sub(jiff::SignedDuration::try_from(MAX_AGE).unwrap_or_default())
        .unwrap_or(now)
}

/// A call that carries only `number`, for the screen pop: `choose_record` reads the
/// customer number from a call. (The same shape as `crm::matching`'s, which is private
/// there.)
fn lookup_call(number: &str) -> Option<Call> {
    let event = Event {
        id: EventId::parse("lookup").ok()?,
        org: OrgId::parse("lookup").ok()?,
        call_id: CallId::parse("lookup").ok()?,
        user: None,
        occurred_at: Timestamp::UNIX_EPOCH,
        direction: Direction::Outbound,
        user_number: None,
        customer_number: Some(number.to_owned()),
        click_to_call: None,
        predictive: None,
        body: EventBody::Dialing,
    };
    Call::fold(&[event]).ok()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the maps half-written in a way that
    // matters more than stopping every lookup would.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure

    use super::*;

    fn record(id: &str, object: RecordObject, phone: &str, stamp: i64) -> IndexedRecord {
        IndexedRecord {
            candidate: Candidate {
                object,
                id: SalesforceId::parse(id).unwrap(),
                phones: vec![("Phone".to_owned(), phone.to_owned())],
                last_modified: Timestamp::from_second(stamp).unwrap(),
                is_converted: false,
                account_id: None,
                account_name: None,
                person_contact_id: None,
                name: Some(format!("N{stamp}")),
                company: None,
                owner_id: None,
            },
            system_modstamp: Timestamp::from_second(stamp).unwrap(),
        }
    }

    const CONTACT: &str = "003000000000001AAA";

    #[test]
    fn r15_a_number_is_found_in_every_spelling_and_moves_with_its_record() {
        let mut table = PhoneTable::new(PhoneRegion::JAPAN);
        table.upsert(record(CONTACT, RecordObject::Contact, "03-1234-5678", 10));
        assert_eq!(
            table.candidates("+81312345678").len(),
            1,
            "R3.6 normal form"
        );
        table.upsert(record(CONTACT, RecordObject::Contact, "06-1111-2222", 11));
        assert!(
            table.candidates("+81312345678").is_empty(),
            "the old number is gone"
        );
        assert_eq!(table.candidates("+81611112222").len(), 1);
        assert_eq!(table.by_number.len(), 1);
    }

    #[test]
    fn r15_an_older_version_or_deletion_never_replaces_a_newer_one() {
        let mut table = PhoneTable::new(PhoneRegion::JAPAN);
        table.upsert(record(CONTACT, RecordObject::Contact, "03-1234-5678", 20));
        table.upsert(record(CONTACT, RecordObject::Contact, "06-1111-2222", 10));
        assert_eq!(table.candidates("+81312345678").len(), 1);
        table.remove_if_older(
            &SalesforceId::parse(CONTACT).unwrap(),
            Timestamp::from_second(15).unwrap(),
        );
        assert_eq!(
            table.candidates("+81312345678").len(),
            1,
            "a deletion older than the record"
        );
        table.remove_if_older(
            &SalesforceId::parse(CONTACT).unwrap(),
            Timestamp::from_second(25).unwrap(),
        );
        assert!(table.records.is_empty() && table.by_number.is_empty());
    }

    #[test]
    fn r3_2_only_searched_fields_are_keys_and_a_contact_without_a_phone_is_not_kept() {
        let mut table = PhoneTable::new(PhoneRegion::JAPAN);
        let mut other = record(CONTACT, RecordObject::Account, "03-1234-5678", 1);
        other.candidate.phones = vec![("MobilePhone".to_owned(), "03-1234-5678".to_owned())];
        table.upsert(other);
        assert!(
            table.candidates("+81312345678").is_empty(),
            "an Account's MobilePhone is not searched"
        );
        assert_eq!(
            table.records.len(),
            1,
            "every Account is kept for its name (R4)"
        );
        let mut bare = record("003000000000002AAA", RecordObject::Contact, "", 1);
        bare.candidate.phones.clear();
        table.upsert(bare);
        assert_eq!(table.records.len(), 1);
    }

    #[test]
    fn r4_a_contacts_company_is_read_from_its_account_at_lookup() {
        let mut table = PhoneTable::new(PhoneRegion::JAPAN);
        let account = "001000000000001AAA";
        let mut firm = record(account, RecordObject::Account, "06-0000-0000", 1);
        firm.candidate.name = Some("Acme".to_owned());
        table.upsert(firm.clone());
        let mut person = record(CONTACT, RecordObject::Contact, "03-1234-5678", 1);
        person.candidate.account_id = Some(SalesforceId::parse(account).unwrap());
        table.upsert(person);
        assert_eq!(
            table.candidates("+81312345678")[0].account_name.as_deref(),
            Some("Acme")
        );
        firm.candidate.name = Some("Acme Renamed".to_owned());
        firm.system_modstamp = Timestamp::from_second(2).unwrap();
        table.upsert(firm);
        assert_eq!(
            table.candidates("+81312345678")[0].account_name.as_deref(),
            Some("Acme Renamed")
        );
    }
}
