//! The SOQL and SOSL engine: parses a statement, checks it against the org's schema with
//! Salesforce's error codes and messages, evaluates it over the org's records and renders
//! the REST answer. Pure and synchronous: no clock (now is passed in), no I/O, no state
//! between calls (query cursors are values the server stores).
//!
//! Entry points for the server:
//! - [`soql::run_query`] for `query` and `queryAll` (set [`QueryOptions::include_deleted`]),
//!   then [`QueryPage::to_json`]; store [`QueryOutcome::cursor`] under a locator id.
//! - [`soql::parse_locator`] and [`soql::next_batch`] for `query/{locator}`.
//! - [`sosl::run_search`] for `search?q=`.
//!
//! Every failure is a [`QueryError`]: HTTP 400 with one `{"message", "errorCode"}` item.
//!
//! The org is reached only through [`source::QuerySource`]; the engine never copies a record
//! until it renders it.

mod dates;
mod error;
mod lexer;
mod parser;
mod phone;
mod plan;
pub mod soql;
pub mod sosl;
pub mod source;

#[cfg(test)]
mod soql_tests;
#[cfg(test)]
mod sosl_tests;
#[cfg(test)]
mod test_org;

pub use error::QueryError;
pub use soql::{DEFAULT_BATCH_SIZE, QueryCursor, QueryOptions, QueryOutcome, QueryPage};
