//! callsync: turns a phone system's call events into Salesforce Tasks.
//!
//! - [`api`]: the HTTP API (ingest, read, admin, health).
//! - [`cli`]: the command line.
//! - [`config`]: the typed configuration (defaults, TOML file, `CALLSYNC_*`).
//! - [`crm`]: what the worker asks of Salesforce (matching, users, Task writes).
//! - [`index`]: the local phone index (R15): R3 and the screen pop answered from memory.
//! - [`ingest`]: signed event ingest.
//! - [`metrics`]: Prometheus metrics on their own listener.
//! - [`server`]: `serve`: the API bound to a listener until shutdown.
//! - [`store`]: the durable store (SQLite or PostgreSQL) with the sync outbox.
//! - [`worker`]: the sync worker: outbox → rules → Salesforce → result.
pub mod api;
pub mod cli;
pub mod config;
pub mod crm;
pub mod index;
pub mod ingest;
pub mod metrics;
pub mod server;
pub mod store;
pub mod worker;

#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod test_support;
