//! R3 live: fetches the candidate records for a call from Salesforce and lets
//! `callsync_core::matching` decide, in as few API calls as possible. The core says what to
//! fetch (`record_search`, and the fallback when a click-to-call record is gone) and
//! chooses among what was fetched; this module only asks.
//!
//! The calls a match costs:
//! - click-to-call (R3.1): one SOQL query for the record by `Id`, on the object its key
//!   prefix names;
//! - otherwise one composite request (`salesforce::Client::query_composite`: Salesforce
//!   counts it as one call) holding one SOQL query per object on the number's spellings
//!   (R3.2), then the core's normalised comparison and priority (R3.3–R3.6);
//! - only when that finds nothing, one SOSL search `IN PHONE FIELDS` on the number's digits
//!   (`callsync_core::phone::phone_search_digits`),
//!   whose hits are filtered by the same normalised comparison, so a partial hit never links
//!   the wrong record.
//!
//! Whether the org has Person Accounts is read once from `describe Account` (cached by the
//! client): their fields exist only in orgs that enabled them, and naming them elsewhere is
//! an `INVALID_FIELD` error.

use callsync_core::call::Call;
use callsync_core::ids::SalesforceId;
use callsync_core::matching::{
    Candidate, Match, RecordObject, RecordSearch, choose_record, choose_record_for_number,
    record_search, record_search_without_click_to_call,
};
use callsync_core::phone::{PhoneRegion, phone_search_digits, phone_search_variants};
use jiff::Timestamp;
use salesforce::{Client, FieldNames, RecordAttributes, SearchTerm, Soql, soql, sosl};
use serde_json::Value;

use super::error::CrmError;

/// Fields read from a Contact. `Account.Name` is the company of the contact entry (R4).
const CONTACT_FIELDS: &[&str] = &[
    "Id",
    "Name",
    "Phone",
    "MobilePhone",
    "LastModifiedDate",
    "AccountId",
    "Account.Name",
    "OwnerId",
];
/// Fields read from an Account in an org without Person Accounts.
const ACCOUNT_FIELDS: &[&str] = &["Id", "Name", "Phone", "LastModifiedDate", "OwnerId"];
/// Fields read from an Account in an org with Person Accounts.
const PERSON_ACCOUNT_FIELDS: &[&str] = &[
    "Id",
    "Name",
    "Phone",
    "PersonMobilePhone",
    "IsPersonAccount",
    "PersonContactId",
    "LastModifiedDate",
    "OwnerId",
];
/// Fields read from a Lead.
const LEAD_FIELDS: &[&str] = &[
    "Id",
    "Name",
    "Company",
    "Phone",
    "MobilePhone",
    "IsConverted",
    "LastModifiedDate",
    "OwnerId",
];
/// The phone fields kept on a candidate, by Salesforce object; `choose_record` decides
/// which of them count for which object (R3.2).
const PHONE_FIELDS: &[&str] = &["Phone", "MobilePhone", "PersonMobilePhone"];

/// The records compared per object: every row a SOQL query returns holds one spelling of
/// the number, so the first rows in R3.4 order (newest first, then greatest Id) suffice.
const ROWS_PER_OBJECT: u32 = 100;

/// The record R3 links `call` to, or `None` (R3.7: the Task is written unlinked).
///
/// callsync-core says what to fetch ([`record_search`]) and chooses among what was fetched:
/// a click-to-call record costs one call (R3.1); one that no longer exists falls back to the
/// number ([`record_search_without_click_to_call`], **Beyond** R3.1). Otherwise see the
/// module documentation.
pub async fn find_record(
    client: &Client,
    call: &Call,
    region: PhoneRegion,
) -> Result<Option<Match>, CrmError> {
    match record_search(call) {
        RecordSearch::ClickToCall { id, object } => {
            // Only an Account's fields depend on Person Accounts; a Contact or Lead is
            // fetched without asking describe first.
            let person_accounts = match object {
                RecordObject::Account | RecordObject::PersonAccount => {
                    person_accounts_enabled(client).await?
                }
                RecordObject::Contact | RecordObject::Lead => false,
            };
            if let Some(candidate) = fetch_record(client, &id, object, person_accounts).await? {
                return Ok(choose_record(call, &[candidate], region));
            }
            tracing::info!(
                record = %id,
                "the click-to-call record no longer exists; searching by number instead"
            );
            match record_search_without_click_to_call(call) {
                RecordSearch::Number(number) => {
                    find_record_for_number(client, &number, region).await
                }
                RecordSearch::ClickToCall { .. } | RecordSearch::Nothing => Ok(None),
            }
        }
        RecordSearch::Number(number) => find_record_for_number(client, &number, region).await,
        RecordSearch::Nothing => Ok(None),
    }
}

/// The record R3 would link a call with `number` to (no click-to-call): the screen-pop
/// lookup, and a call whose click-to-call record is gone. Same calls and rules as
/// [`find_record`].
pub async fn find_record_for_number(
    client: &Client,
    number: &str,
    region: PhoneRegion,
) -> Result<Option<Match>, CrmError> {
    let person_accounts = person_accounts_enabled(client).await?;
    search_by_number(client, number, region, person_accounts).await
}

/// Whether the org has Person Accounts: `Account` has `IsPersonAccount` only then.
/// Costs one call per client user and process (the client caches describe results).
async fn person_accounts_enabled(client: &Client) -> Result<bool, CrmError> {
    let account = client.describe("Account").await?;
    Ok(account.field("IsPersonAccount").is_some())
}

/// One SOQL query for a click-to-call record by `Id`; `None` when it does not exist (never
/// created, or deleted: a query leaves deleted records out).
///
/// A query rather than a `GET /sobjects/{object}/{id}?fields=`: the Contact's company is
/// `Account.Name`, a relationship path. The REST API Developer Guide ("Get Field Values
/// from a Standard Object Record") documents that `fields` list as the record's own
/// fields, answering 400 for fields that do not exist, and the sandbox refuses the path
/// there (`INVALID_FIELD`, "No such column 'Account.Name' on sobject of type Contact");
/// SOQL documents relationship paths ("Relationship Queries", SOQL and SOSL Reference)
/// and costs the same one call.
async fn fetch_record(
    client: &Client,
    id: &SalesforceId,
    object: RecordObject,
    person_accounts: bool,
) -> Result<Option<Candidate>, CrmError> {
    let id = id.to_18();
    let (name, query) = match object {
        RecordObject::Contact => (
            "Contact",
            soql!(
                "SELECT {} FROM Contact WHERE Id = {} LIMIT 1",
                FieldNames(CONTACT_FIELDS),
                id
            )?,
        ),
        RecordObject::Account | RecordObject::PersonAccount => (
            "Account",
            soql!(
                "SELECT {} FROM Account WHERE Id = {} LIMIT 1",
                FieldNames(if person_accounts {
                    PERSON_ACCOUNT_FIELDS
                } else {
                    ACCOUNT_FIELDS
                }),
                id
            )?,
        ),
        RecordObject::Lead => (
            "Lead",
            soql!(
                "SELECT {} FROM Lead WHERE Id = {} LIMIT 1",
                FieldNames(LEAD_FIELDS),
                id
            )?,
        ),
    };
    let rows: Vec<Value> = client.query_all_rows(&query).await?;
    match rows.first() {
        Some(record) => candidate_from_record(record, Some(name)),
        None => Ok(None),
    }
}

/// R3.2–R3.6: SOQL on the spellings of the number, then SOSL when that finds nothing.
async fn search_by_number(
    client: &Client,
    number: &str,
    region: PhoneRegion,
    person_accounts: bool,
) -> Result<Option<Match>, CrmError> {
    let variants = phone_search_variants(number, region);
    if variants.is_empty() {
        // No digits at all (a withheld number): nothing can match (R3.6).
        return Ok(None);
    }
    let queries = phone_queries(&variants, person_accounts)?;
    let candidates = run_queries(client, &queries).await?;
    if let Some(found) = choose_record_for_number(number, &candidates, region) {
        return Ok(Some(found));
    }
    let Some(term) = phone_search_digits(number, region) else {
        return Ok(None);
    };
    let search = phone_search(&term, person_accounts)?;
    let hits: Vec<Value> = client.search(&search).await?;
    let candidates = hits
        .iter()
        .map(|record| candidate_from_record(record, None))
        .filter_map(Result::transpose)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(choose_record_for_number(number, &candidates, region))
}

/// One SOQL query per object on the spellings of the number (R3.2): standard phone fields
/// only, converted Leads and the hidden Contacts of Person Accounts left out (R3.5; a
/// Person Account is found as the Account it is, R3.3).
fn phone_queries(variants: &[String], person_accounts: bool) -> Result<[Soql; 3], CrmError> {
    let contacts = if person_accounts {
        soql!(
            "SELECT {} FROM Contact WHERE (Phone IN {} OR MobilePhone IN {}) AND IsPersonAccount = false ORDER BY LastModifiedDate DESC, Id DESC LIMIT {}",
            FieldNames(CONTACT_FIELDS),
            variants,
            variants,
            ROWS_PER_OBJECT
        )?
    } else {
        soql!(
            "SELECT {} FROM Contact WHERE Phone IN {} OR MobilePhone IN {} ORDER BY LastModifiedDate DESC, Id DESC LIMIT {}",
            FieldNames(CONTACT_FIELDS),
            variants,
            variants,
            ROWS_PER_OBJECT
        )?
    };
    let accounts = if person_accounts {
        soql!(
            "SELECT {} FROM Account WHERE Phone IN {} OR PersonMobilePhone IN {} ORDER BY LastModifiedDate DESC, Id DESC LIMIT {}",
            FieldNames(PERSON_ACCOUNT_FIELDS),
            variants,
            variants,
            ROWS_PER_OBJECT
        )?
    } else {
        soql!(
            "SELECT {} FROM Account WHERE Phone IN {} ORDER BY LastModifiedDate DESC, Id DESC LIMIT {}",
            FieldNames(ACCOUNT_FIELDS),
            variants,
            ROWS_PER_OBJECT
        )?
    };
    let leads = soql!(
        "SELECT {} FROM Lead WHERE (Phone IN {} OR MobilePhone IN {}) AND IsConverted = false ORDER BY LastModifiedDate DESC, Id DESC LIMIT {}",
        FieldNames(LEAD_FIELDS),
        variants,
        variants,
        ROWS_PER_OBJECT
    )?;
    Ok([contacts, accounts, leads])
}

/// The SOSL fallback: the number's digits in every phone field, the same objects, fields
/// and exclusions as the SOQL queries.
fn phone_search(term: &str, person_accounts: bool) -> Result<salesforce::Sosl, CrmError> {
    Ok(if person_accounts {
        sosl!(
            "FIND {} IN PHONE FIELDS RETURNING Contact({} WHERE IsPersonAccount = false LIMIT {}), Account({} LIMIT {}), Lead({} WHERE IsConverted = false LIMIT {})",
            SearchTerm(term),
            FieldNames(CONTACT_FIELDS),
            ROWS_PER_OBJECT,
            FieldNames(PERSON_ACCOUNT_FIELDS),
            ROWS_PER_OBJECT,
            FieldNames(LEAD_FIELDS),
            ROWS_PER_OBJECT
        )?
    } else {
        sosl!(
            "FIND {} IN PHONE FIELDS RETURNING Contact({} LIMIT {}), Account({} LIMIT {}), Lead({} WHERE IsConverted = false LIMIT {})",
            SearchTerm(term),
            FieldNames(CONTACT_FIELDS),
            ROWS_PER_OBJECT,
            FieldNames(ACCOUNT_FIELDS),
            ROWS_PER_OBJECT,
            FieldNames(LEAD_FIELDS),
            ROWS_PER_OBJECT
        )?
    })
}

/// Runs the queries as one composite request (one API call) and reads every row.
async fn run_queries(client: &Client, queries: &[Soql]) -> Result<Vec<Candidate>, CrmError> {
    let answers: Vec<Vec<Value>> = client.query_composite(queries).await?;
    let mut candidates = Vec::new();
    for record in answers.iter().flatten() {
        if let Some(candidate) = candidate_from_record(record, None)? {
            candidates.push(candidate);
        }
    }
    Ok(candidates)
}

/// Reads a Contact, Account or Lead record (a query row or a search hit)
/// into a core candidate; `None` for other objects. `object` names the type when the
/// record's `attributes` may not.
fn candidate_from_record(
    record: &Value,
    object: Option<&str>,
) -> Result<Option<Candidate>, CrmError> {
    let object_name = RecordAttributes::object_type_of(record)
        .or(object)
        .unwrap_or_default();
    let text = |field: &str| {
        record
            .get(field)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    let flag = |field: &str| record.get(field).and_then(Value::as_bool).unwrap_or(false);
    let id_of = |field: &str| -> Result<Option<SalesforceId>, CrmError> {
        text(field)
            .map(|value| {
                SalesforceId::parse(&value).map_err(|error| CrmError::UnexpectedAnswer {
                    what: "a record of the phone search",
                    detail: format!("{field} {value:?} {error}"),
                })
            })
            .transpose()
    };
    let object = match object_name {
        "Contact" => RecordObject::Contact,
        "Account" if flag("IsPersonAccount") => RecordObject::PersonAccount,
        "Account" => RecordObject::Account,
        "Lead" => RecordObject::Lead,
        _ => return Ok(None),
    };
    let Some(id) = id_of("Id")? else {
        return Err(CrmError::UnexpectedAnswer {
            what: "a record of the phone search",
            detail: format!("a {object_name} without an Id"),
        });
    };
    let phones = PHONE_FIELDS
        .iter()
        .filter_map(|field| text(field).map(|value| ((*field).to_owned(), value)))
        .collect();
    let last_modified = text("LastModifiedDate")
        .and_then(|value| salesforce::parse_datetime(&value))
        .unwrap_or(Timestamp::UNIX_EPOCH);
    Ok(Some(Candidate {
        object,
        id,
        phones,
        last_modified,
        is_converted: flag("IsConverted"),
        account_id: id_of("AccountId")?,
        account_name: record
            .pointer("/Account/Name")
            .and_then(Value::as_str)
            .map(str::to_owned),
        person_contact_id: id_of("PersonContactId")?,
        name: text("Name"),
        company: text("Company"),
        owner_id: id_of("OwnerId")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r3_2_queries_search_standard_phone_fields_only_and_skip_converted_leads() {
        let variants = phone_search_variants("03-1234-5678", PhoneRegion::JAPAN);
        let [contacts, accounts, leads] = phone_queries(&variants, true).unwrap();
        assert!(
            contacts
                .as_str()
                .starts_with("SELECT Id, Name, Phone, MobilePhone")
        );
        assert!(contacts.as_str().contains("'03-1234-5678'"));
        assert!(contacts.as_str().contains("IsPersonAccount = false"));
        assert!(accounts.as_str().contains("PersonMobilePhone IN ("));
        assert!(leads.as_str().contains("IsConverted = false"));
        for query in [&contacts, &accounts, &leads] {
            assert!(!query.as_str().contains("__c"), "{query}");
            assert!(
                query
                    .as_str()
                    .contains("ORDER BY LastModifiedDate DESC, Id DESC")
            );
        }
        let [contacts, accounts, _] = phone_queries(&variants, false).unwrap();
        assert!(!contacts.as_str().contains("IsPersonAccount"));
        assert!(!accounts.as_str().contains("Person"));
    }

    #[test]
    fn r3_2_the_sosl_fallback_quotes_the_digits_and_keeps_the_exclusions() {
        let search = phone_search("312345678", true).unwrap();
        assert!(
            search
                .as_str()
                .starts_with(r#"FIND {"312345678"} IN PHONE FIELDS RETURNING Contact(Id"#),
            "{search}"
        );
        assert!(search.as_str().contains("Lead(Id"));
        assert!(search.as_str().contains("WHERE IsConverted = false"));
    }

    #[test]
    fn r4_records_become_candidates_with_what_the_contact_entry_needs() {
        let contact = serde_json::json!({
            "attributes": {"type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/003000000000001AAA"},
            "Id": "003000000000001AAA",
            "Name": "山田 太郎",
            "Phone": "03-1234-5678",
            "MobilePhone": null,
            "LastModifiedDate": "2024-05-01T09:30:00.000+0000",
            "AccountId": "001000000000001AAA",
            "Account": {"attributes": {"type": "Account"}, "Name": "山田商事"},
            "OwnerId": "005000000000001AAA"
        });
        let candidate = candidate_from_record(&contact, None).unwrap().unwrap();
        assert_eq!(candidate.object, RecordObject::Contact);
        assert_eq!(
            candidate.phones,
            vec![("Phone".to_owned(), "03-1234-5678".to_owned())]
        );
        assert_eq!(candidate.account_name.as_deref(), Some("山田商事"));
        assert_eq!(candidate.account_id.unwrap().to_15(), "001000000000001");

        let person = serde_json::json!({
            "attributes": {"type": "Account"},
            "Id": "001000000000009AAA",
            "Name": "佐藤 花子",
            "PersonMobilePhone": "090-1234-5678",
            "IsPersonAccount": true,
            "PersonContactId": "003000000000009AAA",
            "LastModifiedDate": "2024-05-01T09:30:00.000+0000"
        });
        let candidate = candidate_from_record(&person, None).unwrap().unwrap();
        assert_eq!(candidate.object, RecordObject::PersonAccount);
        assert_eq!(
            candidate.person_contact_id.unwrap().to_15(),
            "003000000000009"
        );

        let user = serde_json::json!({"attributes": {"type": "User"}, "Id": "005000000000001AAA"});
        assert_eq!(candidate_from_record(&user, None).unwrap(), None);
    }
}
