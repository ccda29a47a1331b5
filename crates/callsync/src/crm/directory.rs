//! The organisation's Salesforce users as the console's user page lists
//! them: who can be linked to a phone user, and who is inactive.

use salesforce::{Client, soql};
use serde::Deserialize;

use super::error::CrmError;

/// The most users listed; an org with more is searched by typing.
const MAX_USERS: i64 = 2000;

/// A Salesforce user a phone user can be linked to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DirectoryUser {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Username")]
    pub username: String,
    #[serde(rename = "Name", default)]
    pub name: Option<String>,
    #[serde(rename = "Email", default)]
    pub email: Option<String>,
    #[serde(rename = "IsActive", default)]
    pub is_active: bool,
}

/// Every user of the org (up to [`MAX_USERS`]), by name: one SOQL query.
pub async fn directory(client: &Client) -> Result<Vec<DirectoryUser>, CrmError> {
    Ok(client
        .query_all_rows(&soql!(
            "SELECT Id, Username, Name, Email, IsActive FROM User ORDER BY Name LIMIT {}",
            MAX_USERS
        )?)
        .await?)
}

/// One user by Id (a record read): who approved a connection, with the token they gave.
pub async fn user_by_id(client: &Client, id: &str) -> Result<DirectoryUser, CrmError> {
    Ok(client
        .get("User", id, &["Id", "Username", "Name", "Email", "IsActive"])
        .await?)
}
