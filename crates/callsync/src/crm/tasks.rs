//! Writing the Task (R5, R6): create it as the user who made the call, find it again by
//! `CallObject` when a create's outcome is unknown (design decision 2), update only the
//! fields given (decision 3), and read the Task schema for the R11 settings checks.

use callsync_core::ids::SalesforceId;
use callsync_core::settings::{TaskFieldSchema, TaskSchema};
use salesforce::{Client, soql};
use serde::{Deserialize, Serialize};

use super::error::CrmError;

/// Creates a Task with `fields` (a JSON object of API names to values, e.g. the map
/// `callsync_core` computes) through `client_as_user`, the handle of the Salesforce user
/// the Task is written as (its `CreatedById`). One API call.
///
/// An error of kind `OutcomeUnknown` means the Task may exist: look for it with
/// [`find_task_by_call_object`] before creating again (or use [`adopt_or_create_task`]).
pub async fn create_task(
    client_as_user: &Client,
    fields: &impl Serialize,
) -> Result<SalesforceId, CrmError> {
    let id = client_as_user.create("Task", fields).await?;
    parse_id(&id, "the Task create")
}

/// The Task whose `CallObject` is `call_object`, if one exists (the oldest when, against
/// every precaution, there are several). One API call.
pub async fn find_task_by_call_object(
    client: &Client,
    call_object: &str,
) -> Result<Option<SalesforceId>, CrmError> {
    #[derive(Deserialize)]
    struct TaskRow {
        #[serde(rename = "Id")]
        id: String,
    }
    let rows: Vec<TaskRow> = client
        .query_all_rows(&soql!(
            "SELECT Id FROM Task WHERE CallObject = {} ORDER BY CreatedDate ASC, Id ASC LIMIT 1",
            call_object
        )?)
        .await?;
    rows.first()
        .map(|row| parse_id(&row.id, "the Task query"))
        .transpose()
}

/// Design decision 2 in one step, for a create whose earlier attempt ended with an
/// unknown outcome: adopts the Task with `call_object` if Salesforce has it, otherwise
/// creates one. Returns the Task and whether it was created now. One or two API calls; call
/// [`create_task`] directly when no earlier attempt can have reached Salesforce.
pub async fn adopt_or_create_task(
    client_as_user: &Client,
    call_object: &str,
    fields: &impl Serialize,
) -> Result<(SalesforceId, bool), CrmError> {
    if let Some(existing) = find_task_by_call_object(client_as_user, call_object).await? {
        return Ok((existing, false));
    }
    Ok((create_task(client_as_user, fields).await?, true))
}

/// Sends `fields` (only the fields callsync owns that changed: design decision 3) to the
/// Task `id`; fields not sent keep the user's own edits. One API call. An empty map sends
/// nothing.
pub async fn update_task(
    client_as_user: &Client,
    id: &SalesforceId,
    fields: &impl Serialize,
) -> Result<(), CrmError> {
    let body =
        serde_json::to_value(fields).map_err(|error| CrmError::InvalidFields(error.to_string()))?;
    match body.as_object() {
        Some(map) if map.is_empty() => return Ok(()),
        Some(_) => {}
        None => return Err(CrmError::InvalidFields("not a JSON object".to_owned())),
    }
    client_as_user.update("Task", id.to_18(), &body).await?;
    Ok(())
}

/// The Task's fields as `client`'s user sees them, for the R11 settings checks
/// (`Settings::validate_against_task_schema`). The client's describe cache is emptied
/// first, so a field an admin added a minute ago is seen. One API call.
pub async fn task_schema(client: &Client) -> Result<TaskSchema, CrmError> {
    client.forget_describes();
    let describe = client.describe("Task").await?;
    Ok(TaskSchema {
        fields: describe
            .fields
            .iter()
            .map(|field| TaskFieldSchema {
                name: field.name.clone(),
                field_type: field.field_type.clone(),
                length: (field.length > 0).then_some(field.length),
                picklist_values: field
                    .picklist_values
                    .iter()
                    .filter(|value| value.active)
                    .map(|value| value.value.clone())
                    .collect(),
                createable: field.createable,
                updateable: field.updateable,
                external_id: field.external_id,
                unique: field.unique,
            })
            .collect(),
    })
}

fn parse_id(id: &str, what: &'static str) -> Result<SalesforceId, CrmError> {
    SalesforceId::parse(id).map_err(|error| CrmError::UnexpectedAnswer {
        what,
        detail: format!("the Id {id:?} {error}"),
    })
}
