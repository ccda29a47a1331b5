//! Event ingest: signature checks and the durable hand-over to the store.
pub mod signature;
