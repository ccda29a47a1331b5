//! What the sync worker asks of an organisation's Salesforce: candidate
//! records for a number, the record of a click-to-call, users, the Task
//! schema, and writing the Task — all through the `salesforce` client.
