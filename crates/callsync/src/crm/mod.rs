//! What the sync worker asks of an organisation's Salesforce: candidate
//! records for a number, the record of a click-to-call, users, the Task
//! schema, and writing the Task — all through the `salesforce` client.
//!
//! - [`connection`]: the stored [`SalesforceConnection`] of an organisation, its redacted
//!   view, and [`Connections`], one client per organisation.
//! - [`matching`]: R3 live — [`find_record`] and [`find_record_for_number`].
//! - [`users`]: R7 — [`UserDirectory`]: users by username and by phone, cached briefly.
//! - [`tasks`]: R5/R6 — [`create_task`], [`find_task_by_call_object`],
//!   [`adopt_or_create_task`], [`update_task`], and [`task_schema`] for R11 checks.
//! - [`records`]: R13 — [`records::create_record`] for an unknown number, and
//!   [`records::find_created_record`] when its create's answer was lost.
//! - [`remedy`]: R9 — the plain-words [`remedy`](remedy::remedy) of a failure at a [`Step`].
//! - [`error`]: [`CrmError`], classified by [`CrmError::kind`].
//! - [`directory`]: the org's users for the console's user page.
//!
//! Boundaries: this module speaks Salesforce through the `salesforce` crate and decides
//! nothing itself — which record wins, who owns the Task and what it holds are
//! `callsync_core`'s rules. It holds no state but caches (clients, tokens, users).

pub mod connection;
pub mod directory;
pub mod error;
pub mod matching;
pub mod records;
pub mod remedy;
pub mod tasks;
pub mod users;

pub use connection::{
    ClientOptions, ConnectionFlow, ConnectionView, Connections, SalesforceConnection,
};
pub use error::{CrmError, is_transient};
pub use matching::{find_record, find_record_for_number};
pub use remedy::{Failure, Remedy, Step};
pub use tasks::{
    adopt_or_create_task, create_task, find_task_by_call_object, task_schema, update_task,
};
pub use users::{SalesforceUser, UserDirectory};
