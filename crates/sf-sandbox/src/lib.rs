//! sf-sandbox: a local Salesforce org that answers like the real REST API. Knows nothing of calls.

pub mod query;
