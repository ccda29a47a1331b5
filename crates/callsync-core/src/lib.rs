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
//! - [`policy`]: the logging policy — per kind, minimum talk time, never-log list (R12).
//! - [`unknown`]: the Lead or Contact created for a number no record holds (R13).
//! - [`sync`]: what to do now — wait, never, create, update (R6, R10).
//! - [`writing`]: who writes the Task, and the coalescing window (R14).
//!
//! R1 (which objects) is reflected in [`matching::RecordObject`]: only Contact, Account,
//! Person Account and Lead are linked, and only Task is written. R9 (error log) belongs to the
//! service; the errors here ([`event::EventError`], [`settings::SettingsProblem`]) name the
//! field at fault so its entries can say what to fix.

//! # How the service drives it
//!
//! ```
//! use callsync_core::call::Call;
//! use callsync_core::contact::ContactEntry;
//! use callsync_core::event::Event;
//! use callsync_core::ids::SalesforceId;
//! use callsync_core::matching::choose_record;
//! use callsync_core::owner::{OwnerInputs, choose_owner};
//! use callsync_core::settings::Settings;
//! use callsync_core::sync::{Action, CreationDue, WrittenTask, creation_due, next_action};
//! use callsync_core::task::TaskContext;
//!
//! let settings = Settings::default(); // validated when the admin saved it
//! let now: jiff::Timestamp = "2024-01-31T00:32:00Z".parse().unwrap();
//! let event = |json: &str| Event::from_json(json).unwrap(); // an Err names the field: answer 400
//! let mut call = Call::fold(&[event(
//!     r#"{"id":"e1","org":"acme","call_id":"c-1","user":"u-1","occurred_at":"2024-01-31T00:30:00Z",
//!        "direction":"outbound","customer_number":"03-1234-5678","type":"dialing"}"#,
//! )])
//! .unwrap();
//! call.apply(event(
//!     r#"{"id":"e2","org":"acme","call_id":"c-1","user":"u-1","occurred_at":"2024-01-31T00:31:00Z",
//!        "direction":"outbound","type":"ended","talk_seconds":0,"outcome":"no_answer"}"#,
//! ))
//! .unwrap();
//!
//! let written = WrittenTask::NotCreated; // from the store
//! // Only a Task about to be created needs a record and an owner: search Salesforce then.
//! let mut context = TaskContext::default();
//! if matches!(written, WrittenTask::NotCreated)
//!     && creation_due(&call, &settings, now) == CreationDue::Now
//! {
//!     // Candidates come from SOQL on `phone_search_variants` (or the local phone index).
//!     let found = choose_record(&call, &[], settings.region());
//!     let _entry = ContactEntry::from_match(call.customer_number(), found.as_ref());
//!     let inputs = OwnerInputs {
//!         handler_user: Some(SalesforceId::parse("005000000000001").unwrap()),
//!         ..OwnerInputs::default()
//!     };
//!     context.owner = choose_owner(&call, &settings, &inputs).owner;
//!     context.record = found;
//! }
//! match next_action(&call, &settings, &written, &context, now) {
//!     Action::Create(fields) => {
//!         assert_eq!(fields.get("Subject").unwrap(), "発信(不在)");
//!         // POST fields.to_json(); then store
//!         let task_id = SalesforceId::parse("00T000000000001").unwrap();
//!         let _written = written.after_write(task_id, &fields, &call);
//!     }
//!     Action::Update(_fields) => { /* PATCH the Task, then `after_write` */ }
//!     Action::Wait | Action::UpToDate | Action::Never(_) => {}
//! }
//! ```

pub mod call;
pub mod contact;
pub mod event;
pub mod ids;
pub mod matching;
pub mod owner;
pub mod phone;
pub mod policy;
pub mod settings;
pub mod sync;
pub mod task;
pub mod template;
pub mod unknown;
pub mod writing;
