//! Filling and refreshing the phone index from Salesforce (R15).
//!
//! - **Backfill**: each object paged in `Id` order through the query resource, whose
//!   answers come in batches linked by `nextRecordsUrl` (a query locator; "Execute a SOQL
//!   Query", REST API Developer Guide). After each page the records and the last Id are
//!   stored in one transaction, so a crash or restart resumes with `WHERE Id > last`
//!   instead of a locator, which expires (15 minutes of inactivity, same guide). Bulk API
//!   2.0 is not used: the sandbox has none (see ARCHITECTURE.md).
//! - **Incremental**: one composite request (one API call) of three `queryAll` queries
//!   `WHERE SystemModstamp >= watermark - OVERLAP`. `queryAll` returns deleted records
//!   with `IsDeleted = true` ("QueryAll", REST API Developer Guide), so deletions and the
//!   losers of a merge are removed, undeleted records come back with a new
//!   `SystemModstamp`, converted Leads carry `IsConverted`, and a number moved between
//!   records changes both records.

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use callsync_core::ids::SalesforceId;
use callsync_core::matching::{Candidate, RecordObject};
use callsync_core::settings::Settings;
use futures_util::TryStreamExt as _;
use jiff::{SignedDuration, Timestamp};
use salesforce::{Client, CompositeSubrequest, FieldNames, soql};
use serde::Deserialize;

use super::{Change, IndexedRecord, OrgIndex};
use crate::crm::{ClientOptions, Connections, SalesforceConnection};
use crate::store::{IndexPage, Store};

/// How far before the watermark each incremental sync asks again: `SystemModstamp` is set
/// when a transaction starts writing, so a long transaction can commit a stamp older than
/// one already seen.
pub const OVERLAP: SignedDuration = SignedDuration::from_secs(10);

/// Records per stored page of the backfill (Salesforce's default query batch size).
const PAGE: usize = 2000;

/// The objects indexed, in backfill order.
const OBJECTS: [&str; 3] = ["Contact", "Account", "Lead"];

/// The fields read from `object`: what R3 and R4 need, `SystemModstamp` and `IsDeleted`.
fn fields(object: &str, person_accounts: bool) -> &'static [&'static str] {
    match (object, person_accounts) {
        ("Contact", false) => &[
            "Id",
            "Name",
            "Phone",
            "MobilePhone",
            "LastModifiedDate",
            "SystemModstamp",
            "AccountId",
            "OwnerId",
            "IsDeleted",
        ],
        ("Contact", true) => &[
            "Id",
            "Name",
            "Phone",
            "MobilePhone",
            "LastModifiedDate",
            "SystemModstamp",
            "AccountId",
            "OwnerId",
            "IsDeleted",
            "IsPersonAccount",
        ],
        ("Account", false) => &[
            "Id",
            "Name",
            "Phone",
            "LastModifiedDate",
            "SystemModstamp",
            "OwnerId",
            "IsDeleted",
        ],
        ("Account", true) => &[
            "Id",
            "Name",
            "Phone",
            "PersonMobilePhone",
            "IsPersonAccount",
            "PersonContactId",
            "LastModifiedDate",
            "SystemModstamp",
            "OwnerId",
            "IsDeleted",
        ],
        _ => &[
            "Id",
            "Name",
            "Company",
            "Phone",
            "MobilePhone",
            "IsConverted",
            "LastModifiedDate",
            "SystemModstamp",
            "OwnerId",
            "IsDeleted",
        ],
    }
}

/// A row of any indexed object, read straight from the query's JSON into the few strings
/// kept (not a `serde_json::Value` tree of every field, which is what a backfill of a
/// million rows would otherwise allocate and free page after page). Fields an object does
/// not have stay `None`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Row {
    id: Option<String>,
    name: Option<String>,
    company: Option<String>,
    phone: Option<String>,
    mobile_phone: Option<String>,
    person_mobile_phone: Option<String>,
    last_modified_date: Option<String>,
    system_modstamp: Option<String>,
    account_id: Option<String>,
    person_contact_id: Option<String>,
    owner_id: Option<String>,
    is_deleted: Option<bool>,
    is_converted: Option<bool>,
    is_person_account: Option<bool>,
}

/// Progress of a backfill, reported after each stored page.
#[derive(Debug, Clone)]
pub struct BackfillProgress {
    pub object: &'static str,
    /// Records of that object stored so far.
    pub rows: u64,
    /// How many records the object has (`SELECT COUNT()`), when known.
    pub total: Option<u64>,
}

/// Whether the org has Person Accounts: `Account` has `IsPersonAccount` only then.
async fn person_accounts(client: &Client) -> anyhow::Result<bool> {
    let account = client.describe("Account").await?;
    Ok(account.field("IsPersonAccount").is_some())
}

/// Pages through the org into the index, resuming where a stored cursor stopped. With
/// `rebuild`, first forgets the stored index. Returns when every object is done; then the
/// index is trusted (after one incremental sync, which it runs).
pub async fn backfill(
    store: &Store,
    index: &OrgIndex,
    client: &Client,
    region: callsync_core::phone::PhoneRegion,
    rebuild: bool,
    progress: &(dyn Fn(&BackfillProgress) + Send + Sync),
) -> anyhow::Result<()> {
    let _guard = index.sync_lock.lock().await;
    let result = backfill_locked(store, index, client, region, rebuild, progress).await;
    if let Err(error) = &result {
        // Shown in `GET /v1/org`; the stored cursor is where the next attempt resumes.
        let mut state = index.state();
        state.last_error = Some(format!("{error:#}"));
        index.set_state(state);
    }
    result
}

async fn backfill_locked(
    store: &Store,
    index: &OrgIndex,
    client: &Client,
    region: callsync_core::phone::PhoneRegion,
    rebuild: bool,
    progress: &(dyn Fn(&BackfillProgress) + Send + Sync),
) -> anyhow::Result<()> {
    if rebuild {
        store.clear_index(&index.org_id).await?;
        index.reset(region);
    }
    index.load_locked(store, region).await?;
    let mut state = index.state();
    if !state.backfilled {
        let person_accounts = match state.person_accounts {
            Some(known) => known,
            None => person_accounts(client).await?,
        };
        state.person_accounts = Some(person_accounts);
        // Changes during the backfill are caught by the incremental sync from its start.
        state
            .watermark
            .get_or_insert_with(|| Timestamp::now() - OVERLAP);
        // Counted first, for the progress bar and to size the table once (`reserve`).
        let mut totals = std::collections::HashMap::new();
        for object in OBJECTS {
            let cursor = state.backfill.get(object);
            if cursor.is_some_and(|cursor| cursor.done) {
                continue;
            }
            if let Ok(total) = count(client, object).await {
                let read = cursor.map_or(0, |cursor| cursor.rows);
                totals.insert(object, (total, total.saturating_sub(read)));
            }
        }
        index.reserve(
            usize::try_from(totals.values().map(|(_, left)| left).sum::<u64>()).unwrap_or(0),
        );
        for object in OBJECTS {
            let cursor = state.backfill.entry(object.to_owned()).or_default().clone();
            if cursor.done {
                continue;
            }
            let total = totals.get(object).map(|(total, _)| *total);
            let names = [object];
            let query = match &cursor.after_id {
                Some(after) => soql!(
                    "SELECT {} FROM {} WHERE Id > {} ORDER BY Id",
                    FieldNames(fields(object, person_accounts)),
                    FieldNames(&names),
                    after.as_str()
                )?,
                None => soql!(
                    "SELECT {} FROM {} ORDER BY Id",
                    FieldNames(fields(object, person_accounts)),
                    FieldNames(&names)
                )?,
            };
            let mut rows = std::pin::pin!(client.query::<Row>(&query));
            let mut cursor = cursor;
            let mut batch = Vec::with_capacity(PAGE);
            loop {
                let next = rows.try_next().await?;
                let end = next.is_none();
                if let Some(row) = next {
                    batch.push(row);
                }
                if batch.len() >= PAGE || (end && !batch.is_empty()) {
                    let changes = read_changes(&batch, object)?;
                    cursor.rows += batch.len() as u64;
                    cursor.after_id = batch.last().and_then(|row| row.id.clone());
                    state.backfill.insert(object.to_owned(), cursor.clone());
                    store_changes(store, index, &changes, &state).await?;
                    progress(&BackfillProgress {
                        object,
                        rows: cursor.rows,
                        total,
                    });
                    batch.clear();
                }
                if end {
                    break;
                }
            }
            cursor.done = true;
            state.backfill.insert(object.to_owned(), cursor);
            store_changes(store, index, &[], &state).await?;
        }
        state.backfilled = true;
        store_changes(store, index, &[], &state).await?;
    }
    catch_up_locked(store, index, client).await
}

/// `SELECT COUNT() FROM object`, for the progress bar.
async fn count(client: &Client, object: &str) -> anyhow::Result<u64> {
    #[derive(Deserialize)]
    struct Counted {
        #[serde(rename = "totalSize")]
        total_size: u64,
    }
    let names = [object];
    let query = soql!("SELECT COUNT() FROM {}", FieldNames(&names))?;
    let path = format!(
        "{}?q={}",
        client.data_path("query/"),
        form_urlencoded::byte_serialize(query.as_str().as_bytes()).collect::<String>()
    );
    let answers = client
        .composite(
            false,
            &[CompositeSubrequest {
                method: "GET".to_owned(),
                url: path,
                reference_id: "count".to_owned(),
                body: None,
            }],
        )
        .await?;
    let answer = answers
        .into_iter()
        .next()
        .context("no answer to the count")?;
    let counted: Counted = answer.into_result()?;
    Ok(counted.total_size)
}

/// Brings a backfilled index up to date (one composite request, more only when over 2,000
/// records changed). Takes the sync lock.
pub async fn catch_up(store: &Store, index: &OrgIndex, client: &Client) -> anyhow::Result<()> {
    let _guard = index.sync_lock.lock().await;
    catch_up_locked(store, index, client).await
}

/// [`catch_up`] for a caller holding the sync lock. A failure is recorded in the state
/// (the index is then not trusted until a sync succeeds) and returned.
pub(super) async fn catch_up_locked(
    store: &Store,
    index: &OrgIndex,
    client: &Client,
) -> anyhow::Result<()> {
    let result = catch_up_inner(store, index, client).await;
    if let Err(error) = &result {
        let mut state = index.state();
        state.last_error = Some(format!("{error:#}"));
        index.set_state(state);
    }
    result
}

async fn catch_up_inner(store: &Store, index: &OrgIndex, client: &Client) -> anyhow::Result<()> {
    let mut state = index.state();
    anyhow::ensure!(
        state.backfilled,
        "the phone index of organisation {:?} is not backfilled yet",
        index.org_id
    );
    let person_accounts = match state.person_accounts {
        Some(known) => known,
        None => person_accounts(client).await?,
    };
    let started = Timestamp::now();
    // From the newest change seen or the last sync's start, whichever is later: without
    // the second, a burst of changes followed by quiet (a bulk load) would be fetched
    // again by every sync while it stays the newest.
    let since = state
        .watermark
        .max(state.synced_at)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        - OVERLAP;
    let mut queries = Vec::new();
    for object in OBJECTS {
        let names = [object];
        queries.push(soql!(
            "SELECT {} FROM {} WHERE SystemModstamp >= {} ORDER BY SystemModstamp",
            FieldNames(fields(object, person_accounts)),
            FieldNames(&names),
            since
        )?);
    }
    #[derive(Deserialize)]
    struct Page {
        records: Vec<Row>,
        #[serde(default = "yes")]
        done: bool,
    }
    fn yes() -> bool {
        true
    }
    let subrequests: Vec<CompositeSubrequest> = queries
        .iter()
        .enumerate()
        .map(|(n, query)| CompositeSubrequest {
            method: "GET".to_owned(),
            url: format!(
                "{}?q={}",
                client.data_path("queryAll/"),
                form_urlencoded::byte_serialize(query.as_str().as_bytes()).collect::<String>()
            ),
            reference_id: format!("changed{n}"),
            body: None,
        })
        .collect();
    let answers = client.composite(false, &subrequests).await?;
    anyhow::ensure!(
        answers.len() == OBJECTS.len(),
        "{} answers to {} change queries",
        answers.len(),
        OBJECTS.len()
    );
    // Stored with the pages of a long catch-up: nothing is marked synced until every page
    // is applied, so a crash part-way asks again from the same point.
    let before = state.clone();
    let mut changes = Vec::new();
    let mut newest = state.watermark;
    let mut note_newest = |rows: &[Row]| {
        for row in rows {
            if let Some(stamp) = row.system_modstamp.as_deref().and_then(parse_datetime) {
                newest = Some(newest.map_or(stamp, |seen| seen.max(stamp)));
            }
        }
    };
    for ((object, query), answer) in OBJECTS.iter().zip(&queries).zip(answers) {
        let page: Page = answer.into_result()?;
        if page.done {
            note_newest(&page.records);
            changes.extend(index.news(read_changes(&page.records, object)?));
            continue;
        }
        // More than one batch changed (a bulk load, or the records written just before a
        // backfill, which its overlap asks for again): page through them with the
        // locator, storing page by page, so a million changed rows are never held at once.
        let mut rows = std::pin::pin!(client.query_all::<Row>(query));
        let mut batch = Vec::with_capacity(PAGE);
        loop {
            let next = rows.try_next().await?;
            let end = next.is_none();
            if let Some(row) = next {
                batch.push(row);
            }
            if batch.len() >= PAGE || (end && !batch.is_empty()) {
                note_newest(&batch);
                let news = index.news(read_changes(&batch, object)?);
                store_changes(store, index, &news, &before).await?;
                batch.clear();
            }
            if end {
                break;
            }
        }
    }
    state.watermark = newest;
    state.synced_at = Some(started);
    state.last_error = None;
    state.person_accounts = Some(person_accounts);
    store_changes(store, index, &changes, &state).await
}

/// Stores changes and the state reached with them (one transaction), then applies them in
/// memory.
async fn store_changes(
    store: &Store,
    index: &OrgIndex,
    changes: &[Change],
    state: &super::SyncState,
) -> anyhow::Result<()> {
    let mut page = IndexPage::default();
    for change in changes {
        match change {
            Change::Upsert(record) => page.upserts.push((
                record.candidate.id.to_18().to_owned(),
                serde_json::to_string(record)?,
            )),
            Change::Remove { id, .. } => page.removals.push(id.to_18().to_owned()),
        }
    }
    store
        .put_index_page(
            &index.org_id,
            &page,
            &serde_json::to_string(state)?,
            Timestamp::now(),
        )
        .await?;
    index.apply(changes);
    index.set_state(state.clone());
    Ok(())
}

/// Reads query rows of `object` into changes.
fn read_changes(rows: &[Row], object: &str) -> anyhow::Result<Vec<Change>> {
    rows.iter().map(|row| read_change(row, object)).collect()
}

fn read_change(row: &Row, object_name: &str) -> anyhow::Result<Change> {
    fn text(value: &Option<String>) -> Option<String> {
        value
            .as_deref()
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    }
    let id_of = |field: &str, value: &Option<String>| -> anyhow::Result<Option<SalesforceId>> {
        text(value)
            .map(|value| {
                SalesforceId::parse(&value)
                    .with_context(|| format!("{object_name} field {field} {value:?}"))
            })
            .transpose()
    };
    let id = id_of("Id", &row.id)?.with_context(|| format!("a {object_name} without an Id"))?;
    let stamp = text(&row.system_modstamp)
        .and_then(|value| parse_datetime(&value))
        .with_context(|| format!("{object_name} {} without a SystemModstamp", id.to_18()))?;
    let person_account = row.is_person_account.unwrap_or(false);
    // Deleted (or merged away), and a Person Account's own Contact, which R3 finds as the
    // Account it is (live matching leaves it out with `IsPersonAccount = false`).
    if row.is_deleted.unwrap_or(false) || (object_name == "Contact" && person_account) {
        return Ok(Change::Remove { id, stamp });
    }
    let object = match object_name {
        "Contact" => RecordObject::Contact,
        "Account" if person_account => RecordObject::PersonAccount,
        "Account" => RecordObject::Account,
        _ => RecordObject::Lead,
    };
    // The phone fields kept on a candidate, in this order; `choose_record` decides which
    // count for which object (R3.2).
    let phones = [
        ("Phone", &row.phone),
        ("MobilePhone", &row.mobile_phone),
        ("PersonMobilePhone", &row.person_mobile_phone),
    ]
    .into_iter()
    .filter_map(|(field, value)| text(value).map(|value| (field.to_owned(), value)))
    .collect();
    Ok(Change::Upsert(IndexedRecord {
        candidate: Candidate {
            object,
            id,
            phones,
            last_modified: text(&row.last_modified_date)
                .and_then(|value| parse_datetime(&value))
                .unwrap_or(Timestamp::UNIX_EPOCH),
            is_converted: row.is_converted.unwrap_or(false),
            account_id: id_of("AccountId", &row.account_id)?,
            account_name: None,
            person_contact_id: id_of("PersonContactId", &row.person_contact_id)?,
            name: text(&row.name),
            company: text(&row.company),
            owner_id: id_of("OwnerId", &row.owner_id)?,
        },
        system_modstamp: stamp,
    }))
}

/// Salesforce writes date-times as `2024-05-01T09:30:00.000+0000` (an offset without a
/// colon, which RFC 3339 wants); `%z` reads both.
fn parse_datetime(value: &str) -> Option<Timestamp> {
    value.parse::<Timestamp>().ok().or_else(|| {
        jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%.f%z", value)
            .ok()?
            .to_timestamp()
            .ok()
    })
}

/// The background task of `serve`: every `interval`, for every organisation with a
/// Salesforce connection, backfills its index (resuming) or catches it up, until `stop`.
pub async fn run_background(store: Store, interval: Duration, stop: impl Future<Output = ()>) {
    let connections = Connections::new(ClientOptions::default());
    let mut stop = std::pin::pin!(stop);
    loop {
        if let Err(error) = sync_every_org(&store, &connections, interval).await {
            tracing::warn!(error = %format!("{error:#}"), "phone index sync round failed");
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

async fn sync_every_org(
    store: &Store,
    connections: &Connections,
    interval: Duration,
) -> anyhow::Result<()> {
    for org in store.orgs().await? {
        let Some(json) = org.salesforce_json.as_deref() else {
            continue;
        };
        let result = async {
            let connection = SalesforceConnection::from_json(json)?;
            let client = connections.default_user_client(&org.id, &connection)?;
            let region = serde_json::from_str::<Settings>(&org.settings_json)
                .map(|settings| settings.region())
                .unwrap_or_default();
            let index = store.indexes().org(&org.id);
            if index.state().backfilled && index.loaded() {
                // Fresh enough already (a create just caught it up): nothing to ask.
                let max_age = SignedDuration::try_from(interval).unwrap_or_default();
                if index
                    .state()
                    .synced_at
                    .is_some_and(|at| at >= Timestamp::now() - max_age)
                {
                    return Ok(());
                }
                catch_up(store, &index, &client).await
            } else {
                backfill(store, &index, &client, region, false, &|_| {}).await
            }
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(org = %org.id, error = %format!("{error:#}"), "phone index sync failed");
        }
    }
    Ok(())
}
