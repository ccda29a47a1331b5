//! callsync: turns a phone system's call events into Salesforce Tasks.
//!
//! - [`config`]: the typed configuration (defaults, TOML file, `CALLSYNC_*`).
//! - [`ingest`]: signed event ingest.
//! - [`store`]: the durable store (SQLite or PostgreSQL) with the sync outbox.
pub mod config;
pub mod ingest;
pub mod store;

#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod test_support;
