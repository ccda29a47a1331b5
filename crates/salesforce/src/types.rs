//! The typed answers of the REST resources this client calls.
//!
//! Field names follow Salesforce's JSON (camelCase); only what callers need is
//! kept, and unknown fields are ignored so new API versions do not break us.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One entry of `GET /services/data/`: an API version the org supports.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiVersion {
    /// E.g. `"62.0"`.
    pub version: String,
    /// E.g. `"Winter '25"`.
    pub label: String,
    /// E.g. `"/services/data/v62.0"`.
    pub url: String,
}

/// The API budget Salesforce reported in the last `Sforce-Limit-Info:
/// api-usage=N/M` header it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiUsage {
    /// Requests used in the rolling 24 hours.
    pub used: u64,
    /// The organisation's allowance for those 24 hours.
    pub max: u64,
}

/// The outcome of an upsert by external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upserted {
    /// No record had the external id: one was created.
    Created {
        /// The new record's id.
        id: String,
    },
    /// A record with the external id was updated.
    Updated {
        /// Its id; API versions before 46.0 do not return it.
        id: Option<String>,
    },
}

/// A page of query results as Salesforce sends it.
#[derive(Debug, Deserialize)]
pub(crate) struct QueryPage<T> {
    #[serde(rename = "totalSize")]
    #[allow(dead_code)] // Read by serde; kept to document the shape.
    pub total_size: u64,
    pub done: bool,
    #[serde(rename = "nextRecordsUrl", default)]
    pub next_records_url: Option<String>,
    pub records: Vec<T>,
}

/// The answer of a SOSL search: `{"searchRecords":[…]}`.
#[derive(Debug, Deserialize)]
pub(crate) struct SearchAnswer<T> {
    #[serde(rename = "searchRecords")]
    pub search_records: Vec<T>,
}

/// What every record carries under `attributes`: its type (and URL).
/// Deserialize it in your row type to learn what a SOSL result is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RecordAttributes {
    /// The sObject type, e.g. `"Contact"`.
    #[serde(rename = "type")]
    pub object_type: String,
    /// The record's REST URL (absent in some composite answers).
    #[serde(default)]
    pub url: Option<String>,
}

impl RecordAttributes {
    /// The sObject type of a record read as JSON (a query row or a search hit), from its
    /// `attributes`; `None` when the record carries none.
    pub fn object_type_of(record: &serde_json::Value) -> Option<&str> {
        record.pointer("/attributes/type")?.as_str()
    }
}

/// Reads a date-time as Salesforce writes it in answers (`LastModifiedDate` and every
/// `datetime` field): `2024-05-01T09:30:00.000+0000`, an offset without a colon, which RFC
/// 3339 parsers want as `+00:00` ("Date Formats and Date Literals", SOQL and SOSL
/// Reference). RFC 3339 itself is read too. `None` for anything else.
pub fn parse_datetime(value: &str) -> Option<jiff::Timestamp> {
    if let Ok(at) = value.parse::<jiff::Timestamp>() {
        return Some(at);
    }
    let (head, offset) = value.split_at_checked(value.len().checked_sub(5)?)?;
    let sign = offset.chars().next()?;
    if !(sign == '+' || sign == '-') || !offset[1..].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    format!("{head}{}:{}", &offset[..3], &offset[3..])
        .parse()
        .ok()
}

/// A `SaveResult` of create/upsert and of sObject Collections.
#[derive(Debug, Deserialize)]
pub(crate) struct SaveResult {
    #[serde(default)]
    pub id: Option<String>,
    pub success: bool,
    #[serde(default)]
    pub errors: serde_json::Value,
    #[serde(default)]
    pub created: Option<bool>,
}

/// The metadata of an sObject (`GET /sobjects/<name>/describe`), the parts a
/// settings check needs.
#[derive(Debug, Clone, Deserialize)]
pub struct ObjectDescribe {
    /// API name, e.g. `Task`.
    pub name: String,
    /// Label in the org's language.
    pub label: String,
    /// Whether the user may create records of this type.
    pub createable: bool,
    /// Whether the user may update records of this type.
    pub updateable: bool,
    /// Whether the user may query records of this type.
    pub queryable: bool,
    /// The fields the user can see.
    pub fields: Vec<FieldDescribe>,
}

impl ObjectDescribe {
    /// The field with this API name (case-insensitive, as Salesforce compares them).
    pub fn field(&self, name: &str) -> Option<&FieldDescribe> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

/// One field of an [`ObjectDescribe`].
#[derive(Debug, Clone, Deserialize)]
pub struct FieldDescribe {
    /// API name, e.g. `CallDurationInSeconds`, `Memo__c`.
    pub name: String,
    /// Label in the org's language.
    pub label: String,
    /// Salesforce type: `string`, `textarea`, `picklist`, `int`, `datetime`, `reference`, …
    #[serde(rename = "type")]
    pub field_type: String,
    /// Maximum length for text fields (0 otherwise).
    #[serde(default)]
    pub length: u32,
    /// Whether the user may set it on create.
    #[serde(default)]
    pub createable: bool,
    /// Whether the user may change it on update.
    #[serde(default)]
    pub updateable: bool,
    /// Whether it may be empty.
    #[serde(default)]
    pub nillable: bool,
    /// Whether it is a custom field (`__c`).
    #[serde(default)]
    pub custom: bool,
    /// The values of a picklist (empty for other types).
    #[serde(rename = "picklistValues", default)]
    pub picklist_values: Vec<PicklistValue>,
    /// For lookups: the types it can point to.
    #[serde(rename = "referenceTo", default)]
    pub reference_to: Vec<String>,
    /// Marked External ID: usable to upsert and to find a record by.
    #[serde(rename = "externalId", default)]
    pub external_id: bool,
    /// Marked Unique: Salesforce refuses a second record with the same value
    /// (`DUPLICATE_VALUE`).
    #[serde(default)]
    pub unique: bool,
}

/// One value of a picklist field.
#[derive(Debug, Clone, Deserialize)]
pub struct PicklistValue {
    /// The API value.
    pub value: String,
    /// The label shown to users.
    #[serde(default)]
    pub label: Option<String>,
    /// Whether it can still be chosen.
    pub active: bool,
    /// Whether it is the default.
    #[serde(rename = "defaultValue", default)]
    pub default_value: bool,
}

/// One limit of `GET /limits/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Limit {
    /// The allowance.
    #[serde(rename = "Max")]
    pub max: i64,
    /// What is left of it.
    #[serde(rename = "Remaining")]
    pub remaining: i64,
}

/// The organisation's limits by name (`DailyApiRequests`, …).
pub type Limits = BTreeMap<String, Limit>;

/// Ids of records changed in a time window (`GET /sobjects/<name>/updated/`).
#[derive(Debug, Clone, Deserialize)]
pub struct UpdatedRecords {
    /// The changed records.
    pub ids: Vec<String>,
    /// Ask from here next time.
    #[serde(rename = "latestDateCovered")]
    pub latest_date_covered: String,
}

/// Records deleted in a time window (`GET /sobjects/<name>/deleted/`).
#[derive(Debug, Clone, Deserialize)]
pub struct DeletedRecords {
    /// The deleted records.
    #[serde(rename = "deletedRecords")]
    pub deleted_records: Vec<DeletedRecord>,
    /// The oldest date Salesforce still knows deletions for.
    #[serde(rename = "earliestDateAvailable", default)]
    pub earliest_date_available: Option<String>,
    /// Ask from here next time.
    #[serde(rename = "latestDateCovered")]
    pub latest_date_covered: String,
}

/// One deleted record.
#[derive(Debug, Clone, Deserialize)]
pub struct DeletedRecord {
    /// Its id.
    pub id: String,
    /// When it was deleted.
    #[serde(rename = "deletedDate")]
    pub deleted_date: String,
}

/// One subrequest of a composite request (`POST /composite`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CompositeSubrequest {
    /// `GET`, `POST`, `PATCH`, `DELETE`.
    pub method: String,
    /// The resource, e.g. `/services/data/v62.0/sobjects/Task` (see
    /// [`Client::data_path`](crate::Client::data_path)); may refer to earlier
    /// results as `@{referenceId.id}`.
    pub url: String,
    /// The name later subrequests use to refer to this one.
    #[serde(rename = "referenceId")]
    pub reference_id: String,
    /// The body, for POST and PATCH.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

/// The answer to one [`CompositeSubrequest`].
#[derive(Debug, Clone, Deserialize)]
pub struct CompositeSubresponse {
    /// The answer body (an error array when it failed).
    #[serde(default)]
    pub body: serde_json::Value,
    /// Its HTTP status.
    #[serde(rename = "httpStatusCode")]
    pub http_status_code: u16,
    /// The subrequest's reference id.
    #[serde(rename = "referenceId")]
    pub reference_id: String,
}

impl CompositeSubresponse {
    /// The body as `T` when the subrequest succeeded, or its error.
    pub fn into_result<T: serde::de::DeserializeOwned>(self) -> Result<T, crate::Error> {
        let label = format!("composite subrequest {}", self.reference_id);
        if (200..300).contains(&self.http_status_code) {
            serde_json::from_value(self.body)
                .map_err(|e| crate::Error::unexpected(label, self.http_status_code, e.to_string()))
        } else {
            let errors =
                crate::error::parse_error_body(self.http_status_code, &self.body.to_string());
            Err(crate::Error::api(
                label,
                Some(self.http_status_code),
                errors,
                None,
            ))
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CompositeAnswer {
    #[serde(rename = "compositeResponse")]
    pub composite_response: Vec<CompositeSubresponse>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salesforce_date_times_are_read_with_and_without_the_offset_colon() {
        let expected: jiff::Timestamp = "2024-05-01T09:30:00Z".parse().unwrap();
        for text in [
            "2024-05-01T09:30:00.000+0000",
            "2024-05-01T18:30:00.000+0900",
            "2024-05-01T04:30:00.000-0500",
            "2024-05-01T09:30:00Z",
            "2024-05-01T09:30:00.000+00:00",
        ] {
            assert_eq!(parse_datetime(text), Some(expected), "{text}");
        }
        for text in [
            "yesterday",
            "",
            "2024-05-01T09:30:00.000+00x0",
            "2024-05-01",
        ] {
            assert_eq!(parse_datetime(text), None, "{text}");
        }
    }

    #[test]
    fn a_records_type_is_read_from_its_attributes() {
        let contact = serde_json::json!({"attributes": {"type": "Contact"}, "Id": "003"});
        assert_eq!(RecordAttributes::object_type_of(&contact), Some("Contact"));
        assert_eq!(
            RecordAttributes::object_type_of(&serde_json::json!({"Id": "003"})),
            None
        );
    }
}
