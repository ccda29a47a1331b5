//! The one integration-test binary of the `salesforce` crate: the client
//! against a local stub serving recorded Salesforce answers, and (with
//! `--features sandbox-tests`) end to end against `sf-sandbox`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

mod against_stub;

#[cfg(feature = "sandbox-tests")]
mod against_sandbox;
