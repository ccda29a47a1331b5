//! callsync: turns a phone system's call events into Salesforce Tasks.
//!
//! - [`api`]: the HTTP API (ingest, read, admin, health).
//! - [`cli`]: the command line.
//! - [`console`]: the admin console (server-rendered pages under `/console`).
//! - [`config`]: the typed configuration (defaults, TOML file, `CALLSYNC_*`).
//! - [`crm`]: what the worker asks of Salesforce (matching, users, Task writes).
//! - [`index`]: the local phone index (R15): R3 and the screen pop answered from memory.
//! - [`ingest`]: signed event ingest.
//! - [`metrics`]: Prometheus metrics on their own listener.
//! - [`retention`]: the background task that prunes old rows.
//! - [`salesforce_metrics`]: Salesforce request latency, from the client's tracing spans.
//! - [`secrets`]: secrets sealed at rest (AES-256-GCM, key outside the database).
//! - [`server`]: `serve`: the API bound to a listener until shutdown.
//! - [`store`]: the durable store (SQLite or PostgreSQL) with the sync outbox.
//! - [`worker`]: the sync worker: outbox → rules → Salesforce → result.
pub mod api;
pub mod cli;
pub mod config;
pub mod console;
pub mod crm;
pub mod index;
pub mod ingest;
pub mod metrics;
pub mod retention;
pub mod salesforce_metrics;
pub mod secrets;
pub mod server;
pub mod store;
pub mod worker;

#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod test_support;
