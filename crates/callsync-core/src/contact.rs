//! The entry a call registers in callsync's own contact list (R4).

use serde::{Deserialize, Serialize};

use crate::ids::SalesforceId;
use crate::matching::{Match, RecordObject};

/// One entry of callsync's contact list, shown in call history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactEntry {
    /// The customer number the entry is for.
    pub customer_number: Option<String>,
    /// The linked record, when there is one.
    pub record_object: Option<RecordObject>,
    /// Its Id.
    pub record_id: Option<SalesforceId>,
    /// Company name (R4 table).
    pub company_name: String,
    /// Person name (R4 table).
    pub person_name: String,
}

impl ContactEntry {
    /// The entry for a call's customer number and its match (R4): Contact → `Account.Name` /
    /// `Name`; Account → `Name` / empty; Person Account → `Name` / `Name`; Lead → `Company` /
    /// `Name`. Without a match (or a fetched record), the names are empty.
    pub fn from_match(customer_number: Option<&str>, found: Option<&Match>) -> ContactEntry {
        let record = found.and_then(|found| found.candidate.as_ref());
        let text = |value: Option<&String>| value.cloned().unwrap_or_default();
        let (company_name, person_name) = match (found.map(|found| found.object), record) {
            (Some(RecordObject::Contact), Some(record)) => (
                text(record.account_name.as_ref()),
                text(record.name.as_ref()),
            ),
            (Some(RecordObject::Account), Some(record)) => {
                (text(record.name.as_ref()), String::new())
            }
            (Some(RecordObject::PersonAccount), Some(record)) => {
                (text(record.name.as_ref()), text(record.name.as_ref()))
            }
            (Some(RecordObject::Lead), Some(record)) => {
                (text(record.company.as_ref()), text(record.name.as_ref()))
            }
            _ => (String::new(), String::new()),
        };
        ContactEntry {
            customer_number: customer_number.map(str::to_owned),
            record_object: found.map(|found| found.object),
            record_id: found.map(|found| found.record_id.clone()),
            company_name,
            person_name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::tests::candidate;
    use crate::matching::{Candidate, MatchedBy};

    fn entry_for(record: Candidate) -> ContactEntry {
        let found = Match {
            object: record.object,
            record_id: record.id.clone(),
            who_id: None,
            what_id: None,
            owner_id: None,
            matched_by: MatchedBy::Phone {
                field: "Phone".to_owned(),
            },
            candidate: Some(record),
        };
        ContactEntry::from_match(Some("0312345678"), Some(&found))
    }

    fn record(object: RecordObject, id: &str) -> Candidate {
        let mut record = candidate(object, id, "Phone", "0312345678", 0);
        record.name = Some("Name".to_owned());
        record.account_name = Some("Account.Name".to_owned());
        record.company = Some("Company".to_owned());
        record
    }

    #[test]
    fn r4_contact_entry_of_a_contact() {
        let entry = entry_for(record(RecordObject::Contact, "003000000000001"));
        assert_eq!(
            (entry.company_name.as_str(), entry.person_name.as_str()),
            ("Account.Name", "Name")
        );
    }

    #[test]
    fn r4_contact_entry_of_an_account() {
        let entry = entry_for(record(RecordObject::Account, "001000000000001"));
        assert_eq!(
            (entry.company_name.as_str(), entry.person_name.as_str()),
            ("Name", "")
        );
    }

    #[test]
    fn r4_contact_entry_of_a_person_account() {
        let entry = entry_for(record(RecordObject::PersonAccount, "001000000000001"));
        assert_eq!(
            (entry.company_name.as_str(), entry.person_name.as_str()),
            ("Name", "Name")
        );
    }

    #[test]
    fn r4_contact_entry_of_a_lead() {
        let entry = entry_for(record(RecordObject::Lead, "00Q000000000001"));
        assert_eq!(
            (entry.company_name.as_str(), entry.person_name.as_str()),
            ("Company", "Name")
        );
    }

    #[test]
    fn r4_contact_entry_of_an_unlinked_call_has_only_the_number() {
        let entry = ContactEntry::from_match(Some("0312345678"), None);
        assert_eq!(entry.record_id, None);
        assert_eq!(
            (entry.company_name.as_str(), entry.person_name.as_str()),
            ("", "")
        );
    }
}
