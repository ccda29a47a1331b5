//! The durable store: organisations, users, events, calls, contact entries,
//! the sync outbox, sync history and the error log, on SQLite or PostgreSQL.
//!
//! One implementation serves both back ends through sqlx's `Any` driver:
//! every column is text or a 64-bit integer (times are Unix epoch
//! milliseconds, structured values JSON text), and the SQL is the common
//! dialect both speak (`$1` parameters, `ON CONFLICT`, `RETURNING`). The few
//! real differences — column types, identities, `FOR UPDATE SKIP LOCKED` —
//! live in the per-back-end migrations and in [`Backend`]. That keeps one
//! copy of each query instead of two that drift apart.
//!
//! Invariants:
//! - An event is stored at most once per `(org, event id)`; storing it and
//!   enqueuing the sync work it causes happen in one transaction
//!   ([`Store::ingest`]), so an accepted event never lacks its work.
//! - Sync work is one row per call (coalescing): new events bump its
//!   `generation`, and a worker only deletes the generation it processed.
//! - A claimed row carries a lease; when the lease expires (a crashed
//!   worker) another worker claims it again.

mod console;
mod group;
mod index;
mod keys;
mod outbox;
mod recent;
mod retention;
mod retry;
mod rows;
mod sealed;
mod unknown;
mod usage;
mod user_connections;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use jiff::Timestamp;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor as _, Row as _};

pub use console::{ErrorKindCount, OAuthState, QueueSummary, SessionRow, StateCount, UserHealth};
pub use index::IndexPage;
pub use outbox::{ClaimScope, LeaseLost, WaitingCount, is_lease_lost};
pub use retry::ErrorFilter;
pub use unknown::{UnknownNumberClaim, UnknownNumberRow};
pub use usage::ApiUsageRow;
pub use user_connections::{UserConnection, UserConnectionState};

/// The most events one call may have. A phone system sends a handful per call; a call
/// past this is a sender's loop, and refusing it keeps one call from growing without
/// end (every sync step folds all of a call's events).
pub const MAX_EVENTS_PER_CALL: i64 = 500;

/// An ingest refused because it would take a call past [`MAX_EVENTS_PER_CALL`]; nothing
/// of its batch was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "event {event_id:?} would be call {call_id:?}'s event number {}, past the limit of \
     {MAX_EVENTS_PER_CALL} events per call",
    MAX_EVENTS_PER_CALL + 1
)]
pub struct TooManyEvents {
    pub call_id: String,
    pub event_id: String,
}
pub use keys::{ApiKeyRow, KEY_ID_DIGITS, KeyOwner};
pub use retention::{Pruned, RetentionPolicy};
pub use rows::*;

use crate::secrets::Sealer;
use std::sync::Arc;

/// Which database the store talks to, from the URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn from_url(url: &str) -> anyhow::Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            anyhow::bail!(
                "unsupported database URL scheme in {:?}: use sqlite://PATH or postgres://…",
                url.split(':').next().unwrap_or_default()
            )
        }
    }
}

/// The store. Cheap to clone: clones share its connection pools.
#[derive(Debug, Clone)]
pub struct Store {
    /// Reads. With SQLite, several connections read beside the writer (WAL).
    pool: AnyPool,
    /// Writes: every statement or transaction that writes goes here. With SQLite this is
    /// one connection, so this process's writers queue for it in order (the pool's fair
    /// wait) instead of meeting SQLite's write lock: SQLite's busy handler sleeps in
    /// growing steps (1 ms … 100 ms) whatever the lock's holder does, which left the lock
    /// idle while 200 waiting steps slept and capped the worker near 330 calls/s
    /// (BENCHMARKS.md, "Throughput"). With PostgreSQL it is the same pool as `pool`.
    writer: AnyPool,
    /// How the hot write paths (ingest, the outbox) run their transactions: grouped into
    /// shared commits (`group.rs`).
    writes: group::GroupCommit,
    backend: Backend,
    /// Seals secrets before they are written and opens them when read (`sealed.rs`).
    sealer: Arc<Sealer>,
    /// The in-memory phone indexes (R15) of this process, shared by every clone so the
    /// worker and the API read one copy (`crate::index`).
    indexes: std::sync::Arc<crate::index::Indexes>,
    /// Organisation rows and key owners read lately, for the API's hot path (`recent.rs`).
    recent: recent::Recent,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Epoch milliseconds, the store's representation of a time.
fn millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn timestamp(ms: i64) -> Timestamp {
    // Every stored time was written by `millis`, so it is in range; fall back
    // to the epoch rather than panic if a hand-edited row says otherwise.
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

impl Store {
    /// Connects to `url` (`sqlite://path?mode=rwc`, `sqlite::memory:` or
    /// `postgres://…`) and brings its schema up to date, with the secret key from the
    /// environment or the embedded default ([`Sealer::for_database`]).
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        // An unsupported URL is named as such before any key is looked for.
        Backend::from_url(url)?;
        let sealer = Sealer::for_database(url, None)?;
        Store::connect_with(url, sealer).await
    }

    /// [`Store::connect`] with the configured database and secret key.
    pub async fn open(config: &crate::config::Config) -> anyhow::Result<Store> {
        Backend::from_url(&config.database_url)?;
        let sealer =
            Sealer::for_database(&config.database_url, config.secrets.key_file.as_deref())?;
        Store::connect_with(&config.database_url, sealer).await
    }

    /// [`Store::connect`] with a given sealer.
    pub async fn connect_with(url: &str, sealer: Sealer) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let connect_options = AnyConnectOptions::from_str(url)
            .with_context(|| format!("invalid database URL for {backend:?}"))?;
        let pool_options = || AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        let (pool, writer) = if backend == Backend::Sqlite {
            // WAL lets readers run beside the one writer; the busy timeout makes a
            // writer of another process wait instead of failing at once. Our write
            // transactions start with a write, so they take the write lock up front and
            // never hit SQLite's un-retryable upgrade deadlock.
            let sqlite = |options: AnyPoolOptions| {
                options.after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        // FULL: a commit is on disk before `202 Accepted` goes out, even
                        // across a power loss (NORMAL in WAL mode may lose the last
                        // commits). Its cost is in BENCHMARKS.md ("ingest").
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        Ok(())
                    })
                })
            };
            let connect = |options: AnyPoolOptions| options.connect_with(connect_options.clone());
            // Each connection to `sqlite::memory:` would open a database of its own:
            // there, one connection does everything.
            if url.contains(":memory:") || url.contains("mode=memory") {
                let only = connect(sqlite(pool_options().max_connections(1)))
                    .await
                    .with_context(|| format!("cannot connect to the {backend:?} database"))?;
                (only.clone(), only)
            } else {
                // The writer connects first, so the database file exists (mode=rwc) and
                // is in WAL mode before a reader opens it.
                let writer = connect(sqlite(pool_options().max_connections(1)))
                    .await
                    .with_context(|| format!("cannot connect to the {backend:?} database"))?;
                let readers = connect(sqlite(pool_options().max_connections(8)))
                    .await
                    .with_context(|| format!("cannot connect to the {backend:?} database"))?;
                (readers, writer)
            }
        } else {
            let pool = pool_options()
                .max_connections(16)
                .connect_with(connect_options)
                .await
                .with_context(|| format!("cannot connect to the {backend:?} database"))?;
            (pool.clone(), pool)
        };
        let writes = group::GroupCommit::grouped(writer.clone());
        let store = Store {
            pool,
            writer,
            writes,
            backend,
            sealer: Arc::new(sealer),
            indexes: Default::default(),
            recent: Default::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Runs `write` as a savepoint of a commit shared with the writes waiting beside it
    /// (`group.rs`); `Ok` once committed.
    async fn write<T, F>(&self, write: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: for<'c, 't> FnOnce(
                &'c mut group::Tx<'t>,
            )
                -> futures_util::future::BoxFuture<'c, anyhow::Result<T>>
            + Send
            + 'static,
    {
        self.writes.run(write).await
    }

    /// Applies the migrations of this back end that have not run yet.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.writer)
            .await
            .context("cannot apply database migrations")
    }

    /// The in-memory phone indexes (R15) of this process.
    pub fn indexes(&self) -> &crate::index::Indexes {
        &self.indexes
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Answers whether the database takes a query now (for `/readyz`).
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .context("database ping failed")?;
        Ok(())
    }

    /// Runs one SQL statement as it is: for tests that must damage a row the way a
    /// hand edit or a bad migration would.
    #[cfg(any(test, feature = "test-support"))]
    pub async fn execute_for_tests(&self, sql: &str) -> anyhow::Result<u64> {
        Ok(sqlx::query(sql)
            .execute(&self.writer)
            .await?
            .rows_affected())
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    // ----- organisations, keys, users -------------------------------------

    pub async fn create_org(&self, org: &NewOrg, now: Timestamp) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO orgs (id, name, signing_secret, settings, salesforce, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&org.id)
        .bind(&org.name)
        .bind(self.sealer.seal(&org.signing_secret))
        .bind(&org.settings_json)
        .bind(
            org.salesforce_json
                .as_deref()
                .map(|json| self.sealer.seal(json)),
        )
        .bind(millis(now))
        .execute(&self.writer)
        .await
        .with_context(|| format!("cannot create organisation {:?}", org.id))?;
        Ok(())
    }

    pub async fn org(&self, org_id: &str) -> anyhow::Result<Option<OrgRow>> {
        let row = sqlx::query(
            "SELECT id, name, signing_secret, settings, salesforce, created_at
             FROM orgs WHERE id = $1",
        )
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| self.unseal_org(OrgRow::from_row(&r)?))
            .transpose()
    }

    /// [`Store::org`], or its copy read within the last [`recent::FOR`] (`recent.rs`):
    /// for the API's requests, not for what must see another instance's last write.
    pub async fn org_recent(&self, org_id: &str) -> anyhow::Result<Option<OrgRow>> {
        if let Some(org) = self.recent.org(org_id) {
            return Ok(Some(org));
        }
        let org = self.org(org_id).await?;
        if let Some(org) = &org {
            self.recent.keep_org(org);
        }
        Ok(org)
    }

    pub async fn orgs(&self) -> anyhow::Result<Vec<OrgRow>> {
        let rows = sqlx::query(
            "SELECT id, name, signing_secret, settings, salesforce, created_at
             FROM orgs ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| self.unseal_org(OrgRow::from_row(r)?))
            .collect()
    }

    pub async fn put_settings(&self, org_id: &str, settings_json: &str) -> anyhow::Result<bool> {
        let done = sqlx::query("UPDATE orgs SET settings = $1 WHERE id = $2")
            .bind(settings_json)
            .bind(org_id)
            .execute(&self.writer)
            .await?;
        self.recent.forget_org(org_id);
        Ok(done.rows_affected() == 1)
    }

    pub async fn put_salesforce(
        &self,
        org_id: &str,
        salesforce_json: Option<&str>,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query("UPDATE orgs SET salesforce = $1 WHERE id = $2")
            .bind(salesforce_json.map(|json| self.sealer.seal(json)))
            .bind(org_id)
            .execute(&self.writer)
            .await?;
        self.recent.forget_org(org_id);
        Ok(done.rows_affected() == 1)
    }

    /// Stores an API key by its hash: the key itself is shown once, when it
    /// is made, and never stored.
    pub async fn add_api_key(
        &self,
        key_hash: &str,
        org_id: &str,
        scopes: &str,
        label: &str,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (key_hash, org_id, scopes, label, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(key_hash)
        .bind(org_id)
        .bind(scopes)
        .bind(label)
        .bind(millis(now))
        .execute(&self.writer)
        .await
        .context("cannot store API key")?;
        Ok(())
    }

    /// The organisation and scopes of an API key, by the key's hash.
    pub async fn api_key(&self, key_hash: &str) -> anyhow::Result<Option<(String, String)>> {
        // A revoked key is as unknown as one never made.
        let row = sqlx::query(
            "SELECT org_id, scopes FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some((r.try_get("org_id")?, r.try_get("scopes")?)),
            None => None,
        })
    }

    pub async fn upsert_user(&self, user: &UserRow) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO users (org_id, user_id, name, sf_username) VALUES ($1, $2, $3, $4)
             ON CONFLICT (org_id, user_id)
             DO UPDATE SET name = excluded.name, sf_username = excluded.sf_username",
        )
        .bind(&user.org_id)
        .bind(&user.user_id)
        .bind(&user.name)
        .bind(&user.sf_username)
        .execute(&self.writer)
        .await
        .context("cannot store user")?;
        Ok(())
    }

    pub async fn users(&self, org_id: &str) -> anyhow::Result<Vec<UserRow>> {
        let rows = sqlx::query(
            "SELECT org_id, user_id, name, sf_username FROM users
             WHERE org_id = $1 ORDER BY user_id",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(UserRow::from_row).collect()
    }

    pub async fn user(&self, org_id: &str, user_id: &str) -> anyhow::Result<Option<UserRow>> {
        let row = sqlx::query(
            "SELECT org_id, user_id, name, sf_username FROM users
             WHERE org_id = $1 AND user_id = $2",
        )
        .bind(org_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| UserRow::from_row(&r)).transpose()
    }

    // ----- ingest ----------------------------------------------------------

    /// Stores a batch of events of one organisation and enqueues the sync
    /// work they cause, in one transaction: when this returns `Ok`, both are
    /// durable. An event whose id is already stored is counted as a
    /// duplicate and changes nothing.
    pub async fn ingest(
        &self,
        org_id: &str,
        events: &[NewEvent],
        now: Timestamp,
    ) -> anyhow::Result<IngestOutcome> {
        let (org_id, events) = (org_id.to_owned(), events.to_vec());
        self.write(move |tx| {
            Box::pin(async move {
                let mut outcome = IngestOutcome::default();
                for event in events {
                    // The first statement writes, so SQLite takes its write lock now.
                    let inserted = sqlx::query(
                        "INSERT INTO events (org_id, event_id, call_id, occurred_at, received_at, body)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (org_id, event_id) DO NOTHING",
                    )
                    .bind(&org_id)
                    .bind(&event.event_id)
                    .bind(&event.call_id)
                    .bind(millis(event.occurred_at))
                    .bind(millis(now))
                    .bind(&event.body_json)
                    .execute(&mut **tx)
                    .await
                    .with_context(|| format!("cannot store event {:?}", event.event_id))?
                    .rows_affected();
                    if inserted == 0 {
                        outcome.duplicates += 1;
                        continue;
                    }
                    outcome.accepted += 1;
                    let stored: i64 = sqlx::query(
                        "INSERT INTO calls (org_id, call_id, first_event_at, updated_at, sync_state,
                                            event_count)
                         VALUES ($1, $2, $3, $4, 'pending', 1)
                         ON CONFLICT (org_id, call_id) DO UPDATE SET
                            first_event_at = CASE WHEN excluded.first_event_at < calls.first_event_at
                                             THEN excluded.first_event_at ELSE calls.first_event_at END,
                            updated_at = excluded.updated_at,
                            event_count = calls.event_count + 1
                         RETURNING event_count",
                    )
                    .bind(&org_id)
                    .bind(&event.call_id)
                    .bind(millis(event.occurred_at))
                    .bind(millis(now))
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get("event_count")?;
                    if stored > MAX_EVENTS_PER_CALL {
                        // Dropping the transaction rolls the whole batch back.
                        return Err(TooManyEvents {
                            call_id: event.call_id.clone(),
                            event_id: event.event_id.clone(),
                        }
                        .into());
                    }
                    Self::enqueue_in(tx, &org_id, &event.call_id, now)
                        .await?;
                }
        Ok(outcome)
            })
        })
        .await
        .context("cannot commit ingested events")
    }

    // ----- reading a call's events and row -------------------------------

    /// Every stored event body of a call, oldest first.
    pub async fn call_events(
        &self,
        org_id: &str,
        call_id: &str,
    ) -> anyhow::Result<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT event_id, occurred_at, received_at, body, quarantined FROM events
             WHERE org_id = $1 AND call_id = $2 ORDER BY occurred_at, event_id",
        )
        .bind(org_id)
        .bind(call_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(StoredEvent::from_row).collect()
    }

    pub async fn call(&self, org_id: &str, call_id: &str) -> anyhow::Result<Option<CallRow>> {
        let row = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE org_id = $1 AND call_id = $2"
        ))
        .bind(org_id)
        .bind(call_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| CallRow::from_row(&r)).transpose()
    }

    /// Writes an open error-log entry for a call whose sync went on without
    /// the failed part (R13: a record Salesforce refused, the Task written
    /// unlinked). Unlike [`Store::note_error`] it stays open, so the console
    /// and `GET /v1/errors` show it until someone retries or it is pruned;
    /// the call itself is not parked.
    pub async fn open_error(
        &self,
        org_id: &str,
        call_id: &str,
        error: &NewError,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO error_log (org_id, call_id, step, code, message, remedy, occurred_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(org_id)
        .bind(call_id)
        .bind(&error.step)
        .bind(&error.code)
        .bind(&error.message)
        .bind(&error.remedy)
        .bind(millis(now))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Writes an error-log entry that does not stop the sync (a note, such
    /// as an inactive owner replaced by the writer, R7).
    pub async fn note_error(
        &self,
        org_id: &str,
        call_id: &str,
        error: &NewError,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO error_log (org_id, call_id, step, code, message, remedy, occurred_at, resolved_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(org_id)
        .bind(call_id)
        .bind(&error.step)
        .bind(&error.code)
        .bind(&error.message)
        .bind(&error.remedy)
        .bind(millis(now))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    // ----- reading back ------------------------------------------------------

    pub async fn calls(&self, filter: &CallFilter) -> anyhow::Result<Vec<CallRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM calls
             WHERE org_id = $1
               AND ($2 IS NULL OR first_event_at >= $2)
               AND ($3 IS NULL OR first_event_at < $3)
               AND ($4 IS NULL OR user_id = $4)
               AND ($5 IS NULL OR kind = $5)
               AND ($6 IS NULL OR sync_state = $6)
               AND ($8 IS NULL OR customer_number = $8)
             ORDER BY first_event_at DESC, call_id
             LIMIT $7"
        ))
        .bind(&filter.org_id)
        .bind(filter.since.map(millis))
        .bind(filter.until.map(millis))
        .bind(&filter.user_id)
        .bind(&filter.kind)
        .bind(&filter.sync_state)
        .bind(filter.limit)
        .bind(&filter.customer_number)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(CallRow::from_row).collect()
    }

    pub async fn history(&self, org_id: &str, call_id: &str) -> anyhow::Result<Vec<HistoryRow>> {
        let rows = sqlx::query(
            "SELECT at, action, outcome, task_id, detail FROM sync_history
             WHERE org_id = $1 AND call_id = $2 ORDER BY id",
        )
        .bind(org_id)
        .bind(call_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(HistoryRow::from_row).collect()
    }

    pub async fn contacts(&self, org_id: &str, limit: i64) -> anyhow::Result<Vec<ContactRow>> {
        let rows = sqlx::query(
            "SELECT number, object, record_id, company, person, updated_at FROM contacts
             WHERE org_id = $1 ORDER BY updated_at DESC, number LIMIT $2",
        )
        .bind(org_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ContactRow::from_row).collect()
    }

    pub async fn contact(&self, org_id: &str, number: &str) -> anyhow::Result<Option<ContactRow>> {
        let row = sqlx::query(
            "SELECT number, object, record_id, company, person, updated_at FROM contacts
             WHERE org_id = $1 AND number = $2",
        )
        .bind(org_id)
        .bind(number)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| ContactRow::from_row(&r)).transpose()
    }

    /// Error-log entries, newest first; `open_only` leaves out resolved ones.
    pub async fn errors(
        &self,
        org_id: &str,
        open_only: bool,
        limit: i64,
    ) -> anyhow::Result<Vec<ErrorRow>> {
        let rows = sqlx::query(
            "SELECT id, org_id, call_id, step, code, message, remedy, occurred_at, resolved_at
             FROM error_log WHERE org_id = $1 AND ($2 = 0 OR resolved_at IS NULL)
             ORDER BY id DESC LIMIT $3",
        )
        .bind(org_id)
        .bind(i64::from(open_only))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ErrorRow::from_row).collect()
    }

    pub async fn error(&self, org_id: &str, id: i64) -> anyhow::Result<Option<ErrorRow>> {
        let row = sqlx::query(
            "SELECT id, org_id, call_id, step, code, message, remedy, occurred_at, resolved_at
             FROM error_log WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| ErrorRow::from_row(&r)).transpose()
    }

    /// Retries the call behind an error-log entry: marks the entry (and every
    /// open entry of the same call) resolved and re-arms the call's sync.
    /// Returns false when no such entry exists in this organisation.
    pub async fn retry_error(&self, org_id: &str, id: i64, now: Timestamp) -> anyhow::Result<bool> {
        let Some(entry) = self.error(org_id, id).await? else {
            return Ok(false);
        };
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "UPDATE error_log SET resolved_at = $3
             WHERE org_id = $1 AND call_id = $2 AND resolved_at IS NULL",
        )
        .bind(org_id)
        .bind(&entry.call_id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE calls SET sync_state = 'pending', updated_at = $3
             WHERE org_id = $1 AND call_id = $2",
        )
        .bind(org_id)
        .bind(&entry.call_id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        Self::enqueue_in(&mut tx, org_id, &entry.call_id, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}

const CALL_COLUMNS: &str = "org_id, call_id, user_id, kind, customer_number, first_event_at, \
     updated_at, sync_state, task_id, written, linked, create_attempted_at, create_in_flight, \
     wait_reason, skip_reason";

pub(super) async fn insert_history(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    item: &WorkItem,
    line: &HistoryLine,
    task_id: &Option<String>,
    now: Timestamp,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO sync_history (org_id, call_id, at, action, outcome, task_id, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&item.org_id)
    .bind(&item.call_id)
    .bind(millis(now))
    .bind(&line.action)
    .bind(&line.outcome)
    .bind(task_id)
    .bind(&line.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
