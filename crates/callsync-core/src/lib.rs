//! callsync-core: the sync rules (R1–R11 of `spec/sync-rules.md`) as pure functions of plain data.
//!
//! No async, no I/O, no clock: time comes in as [`jiff::Timestamp`], records come in as
//! [`matching::Candidate`]s, and what to write goes out as [`task::TaskFields`]. The service
//! (crate `callsync`) does the fetching and writing around these functions.
//!
//! Table of contents, in the order a call goes through them:
//! - [`ids`]: identifier newtypes (`EventId`, `CallId`, `OrgId`, `UserId`, `SalesforceId`).
//! - [`event`]: call events and their JSON (R10), checked at the edge.
//! - [`call`]: the [`call::Call`] folded from events in any order, and its
//!   [`call::CallKind`] (R2, R8).
//! - [`phone`]: phone numbers in normal form, search variants and `explain` (R3.6).
//! - [`matching`]: choosing the Salesforce record (R3).
//! - [`contact`]: the contact-list entry (R4).
//! - [`owner`]: who writes and owns the Task (R7).
//! - [`template`]: subject and comment templates (R5.3).
//! - [`task`]: the Task fields (R5, R5.1–R5.4).
//! - [`settings`]: per-organisation settings and their validation (R11).
//! - [`sync`]: what to do now — wait, never, create, update (R6, R10).
//!
//! R1 (which objects) is reflected in [`matching::RecordObject`]: only Contact, Account,
//! Person Account and Lead are linked, and only Task is written. R9 (error log) belongs to the
//! service; the errors here ([`event::EventError`], [`settings::SettingsProblem`]) name the
//! field at fault so its entries can say what to fix.

pub mod call;
pub mod contact;
pub mod event;
pub mod ids;
pub mod matching;
pub mod owner;
pub mod phone;
pub mod settings;
pub mod sync;
pub mod task;
pub mod template;
