//! callsync-core's rules, one table per rule of `spec/sync-rules.md`, driven through the
//! public API as the service uses it. One test binary keeps linking cheap.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

mod support;

mod ordering;
mod phone_corpus;
mod policy;
mod tables;
