//! salesforce: a typed async client for the Salesforce REST API. Knows nothing of calls.
