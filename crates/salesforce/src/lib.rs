//! salesforce: a typed async client for the Salesforce REST API. Knows nothing of calls.
//!
//! # Contents
//!
//! - [`Client`] and [`ClientConfig`]: one connection pool, a token cache per
//!   Salesforce user ([`Client::for_user`]), and the operations: [`Client::query`]
//!   (a stream that follows `nextRecordsUrl`), [`Client::query_all`],
//!   [`Client::search`], [`Client::create`], [`Client::get`], [`Client::update`],
//!   [`Client::delete`], [`Client::upsert`], [`Client::create_many`] /
//!   [`Client::update_many`] / [`Client::upsert_many`] (sObject Collections, 200 per request),
//!   [`Client::composite`] (and [`Client::query_composite`]: several queries, one call),
//!   [`Client::describe`] (cached), [`Client::updated`],
//!   [`Client::deleted`], [`Client::limits`], [`Client::versions`]; the API budget
//!   Salesforce reports on every answer is [`Client::api_usage`].
//! - [`Auth`]: JWT bearer (a token per username), refresh token, password,
//!   client credentials, or a fixed access token; and the authorization-code +
//!   PKCE helper ([`Client::authorization_request`],
//!   [`Client::exchange_authorization_code`]).
//! - [`soql!`] / [`sosl!`] → [`Soql`] / [`Sosl`]: statements from `'static`
//!   templates whose values are always escaped ([`SoqlValue`], [`Like`],
//!   [`FieldNames`], [`SearchTerm`]). A string from outside cannot become
//!   query text.
//! - [`Error`] with [`Error::kind`] → [`ErrorKind`]: retry later, reauthenticate,
//!   outcome unknown, daily limit exhausted, or permanent; Salesforce's codes,
//!   messages and fields are in [`Error::api_errors`].
//! - Wire formats: [`parse_datetime`] reads Salesforce's date-times; a
//!   [`jiff::Timestamp`] in [`soql!`] is written as a SOQL dateTime literal.
//!
//! # Boundaries
//!
//! This crate knows the Salesforce REST API and nothing of calls, Tasks'
//! meaning or retries: it classifies errors, and callers decide when to retry.
//! Secrets are `secrecy` types; they never appear in `Debug`, logs or errors.
//!
//! ```no_run
//! # async fn example() -> Result<(), salesforce::Error> {
//! use salesforce::{Auth, Client, ClientConfig, ErrorKind, soql};
//! use secrecy::SecretString;
//!
//! let client = Client::new(ClientConfig::new(
//!     "https://login.salesforce.com",
//!     Auth::JwtBearer {
//!         consumer_key: "3MVG9...".to_owned(),
//!         private_key_pem: SecretString::from("-----BEGIN PRIVATE KEY-----...".to_owned()),
//!         audience: None,
//!     },
//! ))?;
//! let agent = client.for_user("agent@example.com");
//! let call_id = "call-42";
//! let existing: Vec<serde_json::Value> = agent
//!     .query_all_rows(&soql!("SELECT Id FROM Task WHERE CallObject = {}", call_id)?)
//!     .await?;
//! if existing.is_empty() {
//!     match agent.create("Task", &serde_json::json!({"Subject": "Call", "CallObject": call_id})).await {
//!         Ok(id) => println!("created {id}"),
//!         Err(e) if e.kind() == ErrorKind::OutcomeUnknown => { /* look again before retrying */ }
//!         Err(e) => return Err(e),
//!     }
//! }
//! println!("API budget: {:?}", agent.api_usage());
//! # Ok(()) }
//! ```

mod auth;
mod client;
mod error;
pub mod hosts;
mod query;
mod types;

pub use auth::{Auth, AuthorizationRequest, TokenResponse};
pub use client::{Client, ClientConfig};
pub use error::{ApiError, Error, ErrorKind};
pub use hosts::HostPolicy;
pub use query::{
    Context, FieldNames, Like, SearchTerm, Soql, SoqlValue, Sosl, escape_soql_like,
    escape_soql_string, escape_sosl_term,
};
pub use types::{
    ApiUsage, ApiVersion, CompositeSubrequest, CompositeSubresponse, DeletedRecord, DeletedRecords,
    FieldDescribe, Limit, Limits, ObjectDescribe, PicklistValue, RecordAttributes, UpdatedRecords,
    Upserted, parse_datetime,
};
