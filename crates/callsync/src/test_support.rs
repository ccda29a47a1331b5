//! Fresh databases for tests: a SQLite file in a temporary folder, or a new
//! database on the PostgreSQL server named by `CALLSYNC_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped again
//! when the test ends; and [`SandboxOrg`], an in-process Salesforce with a
//! customer in it and the connection callsync stores to reach it. Used by
//! this crate's unit and integration tests; hidden from the documentation.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection as _;

use crate::store::Store;

/// An in-process sf-sandbox org holding one Account (`Acme Trading`,
/// 06-9999-0000) with one Contact (Ken Tanaka, 03-1234-5678), and the
/// connection JSON (private key included) an organisation stores to reach
/// it as the sandbox's admin user.
#[derive(Debug)]
pub struct SandboxOrg {
    pub sandbox: sf_sandbox::Sandbox,
    pub connection: serde_json::Value,
    pub account_id: String,
    pub contact_id: String,
}

impl SandboxOrg {
    /// Starts the sandbox on a free port and fills it.
    pub async fn start() -> SandboxOrg {
        let sandbox = sf_sandbox::Sandbox::start(sf_sandbox::SandboxConfig::default())
            .await
            .expect("the sandbox starts");
        let org = sandbox.org();
        let admin = org.admin_user();
        let account_id = org
            .insert(
                admin,
                "Account",
                serde_json::json!({"Name": "Acme Trading", "Phone": "06-9999-0000"}),
            )
            .expect("a valid Account")
            .to_string();
        let contact_id = org
            .insert(
                admin,
                "Contact",
                serde_json::json!({
                    "LastName": "Tanaka", "FirstName": "Ken",
                    "Phone": "03-1234-5678", "AccountId": account_id,
                }),
            )
            .expect("a valid Contact")
            .to_string();
        let stored = crate::crm::SalesforceConnection::of_sandbox(&sandbox).to_stored_json();
        let connection = serde_json::from_str(&stored).expect("stored connections are JSON");
        SandboxOrg {
            sandbox,
            connection,
            account_id,
            contact_id,
        }
    }
}

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database that exists for one test. Keep it alive as long as the store.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    /// The secret key the test's store seals with; a `callsync` process a test runs on
    /// this database needs it as `CALLSYNC_SECRET_KEY` ([`TestDatabase::secret_key`]).
    secret_key: String,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Sqlite(#[allow(dead_code)] tempfile::TempDir), // held so the folder lives as long as the database
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// A new SQLite database file.
    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("a temporary folder for the test database");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("callsync.sqlite").display()
        );
        TestDatabase {
            url,
            secret_key: crate::secrets::generate_key(),
            kind: Kind::Sqlite(dir),
        }
    }

    /// A new PostgreSQL database, or `None` (after saying why) when no server
    /// answers. With `CALLSYNC_REQUIRE_ALL=1` (CI), no server is a failure.
    pub async fn postgres() -> Option<TestDatabase> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let admin_url = std::env::var("CALLSYNC_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(conn) => conn,
            Err(error) => {
                let why = format!("no PostgreSQL server at {admin_url}: {error}");
                if std::env::var("CALLSYNC_REQUIRE_ALL").is_ok_and(|v| v == "1") {
                    panic!(
                        "PostgreSQL tests are required here (CALLSYNC_REQUIRE_ALL=1), but {why}"
                    );
                }
                eprintln!("skipped: the PostgreSQL variant of this test, because {why}");
                return None;
            }
        };
        let name = format!(
            "callsync_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let url = match admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("CALLSYNC_TEST_POSTGRES_URL must name a database: {admin_url}"),
        };
        Some(TestDatabase {
            url,
            secret_key: crate::secrets::generate_key(),
            kind: Kind::Postgres { admin_url, name },
        })
    }

    pub async fn store(&self) -> Store {
        let sealer = crate::secrets::Sealer::from_keys([self.secret_key.as_str()])
            .expect("a generated key is valid");
        Store::connect_with(&self.url, sealer)
            .await
            .expect("connect to the test database")
    }

    /// The key this database's secrets are sealed with (base64), for `CALLSYNC_SECRET_KEY`.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Kind::Postgres { admin_url, name } = &self.kind {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime, which cannot block on
            // itself: drop the database from a thread with its own runtime.
            let _ = std::thread::spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async move {
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut admin)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Creates organisation `org_id` (signing secret `whsec`) with `settings_json` and the
/// Salesforce `connection` it stores.
pub async fn add_org(
    store: &Store,
    org_id: &str,
    settings_json: &str,
    connection: &serde_json::Value,
) {
    store
        .create_org(
            &crate::store::NewOrg {
                id: org_id.into(),
                name: "Acme".into(),
                signing_secret: "whsec".into(),
                settings_json: settings_json.into(),
                salesforce_json: Some(connection.to_string()),
            },
            jiff::Timestamp::now(),
        )
        .await
        .expect("the organisation is created");
}

/// Links callsync user `user_id` of `org_id` to the Salesforce user `sf_username` (R7).
pub async fn link_user(store: &Store, org_id: &str, user_id: &str, name: &str, sf_username: &str) {
    store
        .upsert_user(&crate::store::UserRow {
            org_id: org_id.into(),
            user_id: user_id.into(),
            name: name.into(),
            sf_username: Some(sf_username.into()),
        })
        .await
        .expect("the user is stored");
}

/// Stores `events` (JSON as the phone system posts them) for `org_id` as ingest does.
pub async fn ingest_json(store: &Store, org_id: &str, events: &[serde_json::Value]) {
    let events: Vec<crate::store::NewEvent> = events
        .iter()
        .map(|event| crate::store::NewEvent {
            event_id: event["id"].as_str().expect("an event id").into(),
            call_id: event["call_id"].as_str().expect("a call id").into(),
            occurred_at: event["occurred_at"]
                .as_str()
                .and_then(|at| at.parse().ok())
                .expect("an RFC 3339 occurred_at"),
            body_json: event.to_string(),
        })
        .collect();
    store
        .ingest(org_id, &events, jiff::Timestamp::now())
        .await
        .expect("the events are stored");
}

/// Runs worker rounds until the queue is empty (a round that claims nothing while calls
/// still wait sleeps `pause` first), at most `rounds` of them, and sums what they did.
pub async fn sync_until_idle(
    store: &Store,
    worker: &crate::worker::Worker,
    rounds: usize,
    pause: std::time::Duration,
) -> crate::worker::Round {
    let mut total = crate::worker::Round::default();
    for _ in 0..rounds {
        let round = worker.run_once().await.expect("a worker round");
        total += round;
        if round.claimed == 0 {
            if store.queue_depth().await.expect("the queue depth") == 0 {
                break;
            }
            tokio::time::sleep(pause).await;
        }
    }
    total
}

/// Runs an async test body once on SQLite and once on PostgreSQL (when a
/// server answers), each on a fresh database.
#[macro_export]
macro_rules! on_both_backends {
    ($(#[$meta:meta])* async fn $name:ident($db:ident: &TestDatabase) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn body($db: &$crate::test_support::TestDatabase) $body

            #[tokio::test]
            async fn on_sqlite() {
                let db = $crate::test_support::TestDatabase::sqlite();
                body(&db).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                if let Some(db) = $crate::test_support::TestDatabase::postgres().await {
                    body(&db).await;
                }
            }
        }
    };
}
