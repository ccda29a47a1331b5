//! R13: the Lead or Contact created for an unknown number, and finding it again when the
//! answer to its create was lost.

use callsync_core::ids::SalesforceId;
use jiff::Timestamp;
use salesforce::{Client, soql};
use serde::Deserialize;

use super::error::CrmError;

/// Creates a `object` record (`Lead`, `Contact`) with `fields` as the client's user, with
/// `Sforce-Auto-Assign` as the organisation chose (`auto_assign` false keeps the owner the
/// request names; REST API Developer Guide, "Assignment Rule Header": without the header
/// Salesforce runs the active assignment rule). One API call.
pub async fn create_record(
    client_as_user: &Client,
    object: &str,
    fields: &serde_json::Value,
    auto_assign: bool,
) -> Result<SalesforceId, CrmError> {
    let id = client_as_user
        .with_auto_assign(auto_assign)
        .create(object, fields)
        .await?;
    SalesforceId::parse(&id).map_err(|error| CrmError::UnexpectedAnswer {
        what: "the record create",
        detail: format!("the Id {id:?} {error}"),
    })
}

/// The oldest `object` record whose `Phone` is `phone` (as callsync wrote it) and that was
/// created at or after `since` (a Lead not converted, R3.5): the record of a create whose
/// answer was lost. SOQL reads
/// the database itself, not the search index, so a record created a moment ago is found.
/// One API call.
pub async fn find_created_record(
    client: &Client,
    object: &str,
    phone: &str,
    since: Timestamp,
) -> Result<Option<SalesforceId>, CrmError> {
    #[derive(Deserialize)]
    struct Row {
        #[serde(rename = "Id")]
        id: String,
    }
    let query = match object {
        "Contact" => soql!(
            "SELECT Id FROM Contact WHERE Phone = {} AND CreatedDate >= {} ORDER BY CreatedDate ASC, Id ASC LIMIT 1",
            phone,
            since
        )?,
        _ => soql!(
            "SELECT Id FROM Lead WHERE Phone = {} AND CreatedDate >= {} AND IsConverted = false ORDER BY CreatedDate ASC, Id ASC LIMIT 1",
            phone,
            since
        )?,
    };
    let rows: Vec<Row> = client.query_all_rows(&query).await?;
    rows.first()
        .map(|row| {
            SalesforceId::parse(&row.id).map_err(|error| CrmError::UnexpectedAnswer {
                what: "the record query",
                detail: format!("the Id {:?} {error}", row.id),
            })
        })
        .transpose()
}
