//! sf-sandbox: a local Salesforce org that answers like the real REST API. Knows nothing of calls.
//!
//! Start one in-process with [`Sandbox::start`] (port 0, plain HTTP by default) and point a
//! Salesforce client at [`Sandbox::url`], which is both the login URL and the instance URL.
//! [`Sandbox::org`] gives tests direct, synchronous access to the records; the
//! [`Sandbox::credentials`] are the registered connected app (consumer key and secret, the
//! RSA key and certificate for the JWT bearer flow) and the admin's login.
//!
//! The map of the crate:
//! - [`ids`]: 15/18-character record Ids, key prefixes and the checksum suffix.
//! - [`schema`]: Account (with Person Accounts), Contact, Lead, User, Task, custom fields.
//! - [`org`]: the records and Salesforce's write validation, with an undo journal for
//!   `allOrNone`.
//! - `api`, `composite`, `query_routes`: the REST resources; `server`: routing, the gate
//!   every API call passes (session, version, daily limit, faults, `Sforce-Limit-Info`) and
//!   the accept loop; [`auth`]: OAuth grants and sessions; `admin`: `/__sandbox/`.
//! - [`faults`]: injected failures; [`generate`]: realistic data; `query`: the SOQL/SOSL
//!   engine.
//!
//! Deliberately absent: anything about calls or callsync; persistence beyond a JSON state
//! file; Salesforce features callsync does not use (Bulk API, Apex, metadata).

mod admin;
mod api;
pub mod auth;
mod composite;
pub mod error;
pub mod faults;
pub mod generate;
pub mod ids;
pub mod org;
pub mod query;
mod query_routes;
mod sandbox;
pub mod schema;
mod server;
mod tls;
pub mod values;

pub use auth::Credentials;
pub use error::{ApiError, Error, ErrorItem};
pub use faults::{Fault, FaultFilter, FaultPlan, FaultRule};
pub use generate::{GenerateReport, GenerateSpec};
pub use ids::RecordId;
pub use org::{
    DuplicateAction, DuplicateRule, NewUser, Org, OrgState, RuleCondition, ValidationRule,
    WriteOptions,
};
pub use sandbox::{Sandbox, SandboxConfig};
pub use schema::{CustomField, CustomFieldKind, TaskStatus};
pub use server::CounterSnapshot;

/// The API version the sandbox reports as newest and uses when a caller names none.
pub const DEFAULT_API_VERSION: &str = "62.0";
