//! The one integration-test binary of the `salesforce` crate: the client
//! against a local stub serving recorded Salesforce answers, and end to end
//! against `sf-sandbox` run in-process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

mod against_stub;

mod against_sandbox;
