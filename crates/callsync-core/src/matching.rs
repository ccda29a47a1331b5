//! Finding the Salesforce record for a call (R3.1–R3.7) among candidates the service fetched.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::call::Call;
use crate::ids::SalesforceId;
use crate::phone::{PhoneNumber, PhoneRegion};

/// The objects a call can be linked to (R1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordObject {
    /// A Contact (business account's person).
    Contact,
    /// A business Account.
    Account,
    /// A Person Account (an Account with `IsPersonAccount = true`).
    PersonAccount,
    /// A Lead.
    Lead,
}

impl RecordObject {
    /// The phone fields searched on this object (R3.2); other fields, custom ones included,
    /// never match.
    pub fn searched_phone_fields(&self) -> &'static [&'static str] {
        match self {
            RecordObject::Contact | RecordObject::Lead => &["Phone", "MobilePhone"],
            RecordObject::Account => &["Phone"],
            RecordObject::PersonAccount => &["PersonMobilePhone", "Phone"],
        }
    }

    /// Rank in R3.3's priority: Contact, then Account / Person Account, then Lead.
    fn priority(&self) -> u8 {
        match self {
            RecordObject::Contact => 0,
            RecordObject::Account | RecordObject::PersonAccount => 1,
            RecordObject::Lead => 2,
        }
    }

    /// The object a bare Id belongs to, from its key prefix, when it is one callsync links.
    /// An Account Id cannot tell a Person Account from a business one; without the record,
    /// it is treated as a business Account.
    pub fn from_key_prefix(id: &SalesforceId) -> Option<RecordObject> {
        match id.key_prefix() {
            "003" => Some(RecordObject::Contact),
            "001" => Some(RecordObject::Account),
            "00Q" => Some(RecordObject::Lead),
            _ => None,
        }
    }
}

/// A record the service found for a call: by click-to-call Id or by phone search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// Its object.
    pub object: RecordObject,
    /// Its Id.
    pub id: SalesforceId,
    /// (field API name, value) of its phone fields as stored in Salesforce.
    pub phones: Vec<(String, String)>,
    /// `LastModifiedDate`.
    pub last_modified: Timestamp,
    /// Lead `IsConverted`.
    #[serde(default)]
    pub is_converted: bool,
    /// Contact `AccountId`.
    #[serde(default)]
    pub account_id: Option<SalesforceId>,
    /// Contact `Account.Name`.
    #[serde(default)]
    pub account_name: Option<String>,
    /// Person Account `PersonContactId`.
    #[serde(default)]
    pub person_contact_id: Option<SalesforceId>,
    /// `Name`.
    #[serde(default)]
    pub name: Option<String>,
    /// Lead `Company`.
    #[serde(default)]
    pub company: Option<String>,
    /// `OwnerId` (R7 `record_owner`).
    #[serde(default)]
    pub owner_id: Option<SalesforceId>,
}

/// How the record was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum MatchedBy {
    /// R3.1: the call was dialled from it.
    ClickToCall,
    /// R3.2: this phone field holds the customer number.
    Phone {
        /// The field.
        field: String,
    },
    /// R13: callsync created it for a number no record held.
    Created,
}

/// The record a call is linked to, with what the Task (R5) and contact entry (R4) need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    /// Its object.
    pub object: RecordObject,
    /// Its Id.
    pub record_id: SalesforceId,
    /// Task `WhoId`: the Contact or Lead; a Person Account's `PersonContactId`.
    pub who_id: Option<SalesforceId>,
    /// Task `WhatId`: the Account; a Contact's `AccountId`.
    pub what_id: Option<SalesforceId>,
    /// The record's `OwnerId`.
    pub owner_id: Option<SalesforceId>,
    /// How it was found.
    pub matched_by: MatchedBy,
    /// The record itself, when the service fetched it (R4 needs its names).
    pub candidate: Option<Candidate>,
}

impl Match {
    fn from_candidate(candidate: &Candidate, matched_by: MatchedBy) -> Match {
        let (who_id, what_id) = match candidate.object {
            RecordObject::Contact => (Some(candidate.id.clone()), candidate.account_id.clone()),
            RecordObject::Lead => (Some(candidate.id.clone()), None),
            RecordObject::Account => (None, Some(candidate.id.clone())),
            RecordObject::PersonAccount => (
                candidate.person_contact_id.clone(),
                Some(candidate.id.clone()),
            ),
        };
        Match {
            object: candidate.object,
            record_id: candidate.id.clone(),
            who_id,
            what_id,
            owner_id: candidate.owner_id.clone(),
            matched_by,
            candidate: Some(candidate.clone()),
        }
    }

    /// A click-to-call record the service could not fetch: linked from its Id alone.
    fn from_bare_id(id: &SalesforceId, object: RecordObject) -> Match {
        let (who_id, what_id) = match object {
            RecordObject::Contact | RecordObject::Lead => (Some(id.clone()), None),
            RecordObject::Account | RecordObject::PersonAccount => (None, Some(id.clone())),
        };
        Match {
            object,
            record_id: id.clone(),
            who_id,
            what_id,
            owner_id: None,
            matched_by: MatchedBy::ClickToCall,
            candidate: None,
        }
    }
}

/// What the service must fetch from Salesforce for [`choose_record`] to decide (R3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordSearch {
    /// R3.1: the click-to-call record, by its Id, on the object its key prefix names.
    ClickToCall {
        /// The record's Id.
        id: SalesforceId,
        /// Its object; an Account may turn out to be a Person Account once fetched.
        object: RecordObject,
    },
    /// R3.2: the records whose searched phone fields hold this customer number.
    Number(String),
    /// Nothing can be linked: no click-to-call record of a linked object and no customer
    /// number (R3.7: the Task is written unlinked).
    Nothing,
}

/// What to fetch for `call`: its click-to-call record when it names an object callsync
/// links (R3.1, R1), otherwise the records with its customer number (R3.2).
pub fn record_search(call: &Call) -> RecordSearch {
    if let Some(click) = call.click_to_call()
        && let Some(object) = RecordObject::from_key_prefix(&click.record_id)
    {
        return RecordSearch::ClickToCall {
            id: click.record_id.clone(),
            object,
        };
    }
    record_search_by_number(call)
}

/// **Beyond** R3.1: what to fetch when the click-to-call record no longer exists in
/// Salesforce (deleted, or never there). Linking it would only make the Task's create fail,
/// so the number decides, as for a call without click-to-call; choose among what it finds
/// with [`choose_record_for_number`].
pub fn record_search_without_click_to_call(call: &Call) -> RecordSearch {
    record_search_by_number(call)
}

fn record_search_by_number(call: &Call) -> RecordSearch {
    match call.customer_number() {
        Some(number) => RecordSearch::Number(number.to_owned()),
        None => RecordSearch::Nothing,
    }
}

/// Chooses the record for a call among `candidates` (R3), or `None` (R3.7: the Task is still
/// written, unlinked).
///
/// 1. Click-to-call wins (R3.1): its record, from the candidates when the service fetched it,
///    otherwise from its Id alone; an Id of an object callsync does not link (R1) is ignored.
/// 2. Otherwise only the searched phone fields (R3.2) count, compared in normal form (R3.6).
/// 3. The first object in Contact → Account / Person Account → Lead order with a match decides
///    (R3.3); inside it the latest `LastModifiedDate` wins, ties to the greatest Id (R3.4).
/// 4. Converted Leads never match (R3.5).
pub fn choose_record(call: &Call, candidates: &[Candidate], region: PhoneRegion) -> Option<Match> {
    if let Some(click) = call.click_to_call() {
        let record_id = &click.record_id;
        if let Some(candidate) = candidates
            .iter()
            .find(|candidate| &candidate.id == record_id)
        {
            return Some(Match::from_candidate(candidate, MatchedBy::ClickToCall));
        }
        if let Some(object) = RecordObject::from_key_prefix(record_id) {
            return Some(Match::from_bare_id(record_id, object));
        }
    }
    choose_record_for_number(call.customer_number()?, candidates, region)
}

/// Chooses the record for a customer `number` among `candidates` by R3.2–R3.6, with no
/// click-to-call: for the screen pop, and for a call whose click-to-call record no longer
/// exists ([`record_search_without_click_to_call`]).
pub fn choose_record_for_number(
    number: &str,
    candidates: &[Candidate],
    region: PhoneRegion,
) -> Option<Match> {
    let customer = PhoneNumber::parse(number, region).ok()?;
    choose_record_for_parsed(&customer, candidates, region, |_, _| None)
}

/// [`choose_record_for_number`] for a number already read, where the caller may know
/// already whether a stored spelling is that number: `known(c, p)` answers for phone `p`
/// of `candidates[c]` — `Some(verdict)` is taken as said, `None` has the spelling read now.
///
/// R15's phone index read every spelling once, when it stored it, and keeps its normal
/// form's key (R3.6); reading a spelling is most of the cost of a match, and a number
/// shared by a hundred records comes in every spelling people type, so the screen pop
/// (under a millisecond) asks the index rather than read them again. The rules stay here:
/// which fields count (R3.2), converted Leads (R3.5), the order (R3.3, R3.4).
pub fn choose_record_for_parsed(
    customer: &PhoneNumber,
    candidates: &[Candidate],
    region: PhoneRegion,
    known: impl Fn(usize, usize) -> Option<bool>,
) -> Option<Match> {
    // Whether a spelling is the customer's number, by spelling: the records sharing a
    // number (an office line on forty Contacts) repeat a handful of spellings.
    let mut same: HashMap<&str, bool> = HashMap::new();
    candidates
        .iter()
        .enumerate()
        .filter(|(_, candidate)| {
            !(candidate.object == RecordObject::Lead && candidate.is_converted)
        })
        .filter_map(|(at, candidate)| {
            matching_field(candidate, customer, region, &mut same, |phone| {
                known(at, phone)
            })
            .map(|field| (candidate, field))
        })
        .min_by(|(left, _), (right, _)| {
            left.object
                .priority()
                .cmp(&right.object.priority())
                .then_with(|| right.last_modified.cmp(&left.last_modified))
                .then_with(|| right.id.cmp(&left.id))
        })
        .map(|(candidate, field)| Match::from_candidate(candidate, MatchedBy::Phone { field }))
}

/// The first searched phone field of `candidate` holding `customer`'s number; `same`
/// remembers the spellings already read, `known` is what the caller knows of each phone
/// (by its position in `candidate.phones`).
fn matching_field<'a>(
    candidate: &'a Candidate,
    customer: &PhoneNumber,
    region: PhoneRegion,
    same: &mut HashMap<&'a str, bool>,
    known: impl Fn(usize) -> Option<bool>,
) -> Option<String> {
    let searched = candidate.object.searched_phone_fields();
    candidate
        .phones
        .iter()
        .enumerate()
        .filter(|(_, (field, _))| {
            searched
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(field))
        })
        .find(|(phone, (_, value))| {
            known(*phone).unwrap_or_else(|| {
                *same.entry(value.as_str()).or_insert_with(|| {
                    PhoneNumber::parse(value, region)
                        .is_ok_and(|number| number.same_number(customer))
                })
            })
        })
        .map(|(_, (field, _))| field.clone())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::call::tests::Script;
    use crate::event::{Direction, EventBody};

    pub(crate) fn candidate(
        object: RecordObject,
        id: &str,
        phone_field: &str,
        phone: &str,
        modified: i64,
    ) -> Candidate {
        Candidate {
            object,
            id: SalesforceId::parse(id).unwrap(),
            phones: vec![(phone_field.to_owned(), phone.to_owned())],
            last_modified: Timestamp::from_second(1_700_000_000 + modified).unwrap(),
            is_converted: false,
            account_id: None,
            account_name: None,
            person_contact_id: None,
            name: Some("山田 太郎".to_owned()),
            company: None,
            owner_id: None,
        }
    }

    fn call_to(number: &str, click: Option<&'static str>) -> Call {
        let mut script = Script::new(Direction::Outbound);
        script.click_to_call = click;
        let mut event = script.event(0, EventBody::Dialing);
        event.customer_number = Some(number.to_owned());
        Call::fold(&[event]).unwrap()
    }

    const CONTACT: &str = "003000000000001";
    const CONTACT_2: &str = "003000000000002";
    const ACCOUNT: &str = "001000000000001";
    const PERSON: &str = "001000000000009";
    const LEAD: &str = "00Q000000000001";

    fn chosen(call: &Call, candidates: &[Candidate]) -> Option<String> {
        choose_record(call, candidates, PhoneRegion::JAPAN)
            .map(|found| found.record_id.to_15().to_owned())
    }

    #[test]
    fn r3_1_the_click_to_call_record_is_fetched_and_otherwise_the_number_is_searched() {
        let id = |text: &str| SalesforceId::parse(text).unwrap();
        let custom_object = "a01000000000001";
        let withheld = {
            let mut script = Script::new(Direction::Inbound);
            let mut ringing = script.event(0, EventBody::Ringing);
            ringing.customer_number = None;
            Call::fold(&[ringing]).unwrap()
        };
        for (case, call, first, when_gone) in [
            (
                "click-to-call from a Contact",
                call_to("03-1234-5678", Some(CONTACT)),
                RecordSearch::ClickToCall {
                    id: id(CONTACT),
                    object: RecordObject::Contact,
                },
                RecordSearch::Number("03-1234-5678".into()),
            ),
            (
                "click-to-call from an Account",
                call_to("03-1234-5678", Some(ACCOUNT)),
                RecordSearch::ClickToCall {
                    id: id(ACCOUNT),
                    object: RecordObject::Account,
                },
                RecordSearch::Number("03-1234-5678".into()),
            ),
            (
                "click-to-call from an object callsync does not link (R1): the number",
                call_to("03-1234-5678", Some(custom_object)),
                RecordSearch::Number("03-1234-5678".into()),
                RecordSearch::Number("03-1234-5678".into()),
            ),
            (
                "no click-to-call: the number",
                call_to("03-1234-5678", None),
                RecordSearch::Number("03-1234-5678".into()),
                RecordSearch::Number("03-1234-5678".into()),
            ),
            (
                "a withheld number and no click-to-call: nothing (R3.7)",
                withheld,
                RecordSearch::Nothing,
                RecordSearch::Nothing,
            ),
        ] {
            assert_eq!(record_search(&call), first, "{case}");
            assert_eq!(
                record_search_without_click_to_call(&call),
                when_gone,
                "{case}"
            );
        }
    }

    #[test]
    fn r3_1_a_click_to_call_record_that_no_longer_exists_falls_back_to_the_number() {
        // Beyond: linking the missing record would only make the create fail.
        let call = call_to("03-1234-5678", Some(LEAD));
        let by_number = [candidate(
            RecordObject::Contact,
            CONTACT,
            "Phone",
            "0312345678",
            0,
        )];
        let RecordSearch::Number(number) = record_search_without_click_to_call(&call) else {
            panic!("the number is searched");
        };
        let found = choose_record_for_number(&number, &by_number, PhoneRegion::JAPAN).unwrap();
        assert_eq!(found.record_id.to_15(), CONTACT);
        assert_eq!(
            found.matched_by,
            MatchedBy::Phone {
                field: "Phone".into()
            }
        );
        // With the click-to-call it would have been linked from its Id alone.
        assert_eq!(chosen(&call, &by_number).as_deref(), Some(LEAD));
    }

    #[test]
    fn r3_2_a_number_alone_is_matched_as_a_call_to_it_would_be() {
        let candidates = [
            candidate(RecordObject::Lead, LEAD, "Phone", "03-1234-5678", 9),
            candidate(
                RecordObject::Contact,
                CONTACT,
                "MobilePhone",
                "+81312345678",
                0,
            ),
        ];
        let call = call_to("03-1234-5678", None);
        assert_eq!(
            choose_record_for_number("03-1234-5678", &candidates, PhoneRegion::JAPAN),
            choose_record(&call, &candidates, PhoneRegion::JAPAN)
        );
        assert_eq!(
            choose_record_for_number("非通知", &candidates, PhoneRegion::JAPAN),
            None
        );
    }

    #[test]
    fn r15_what_the_caller_knows_of_a_spelling_replaces_reading_it_but_not_the_rules() {
        let customer = PhoneNumber::parse("03-1234-5678", PhoneRegion::JAPAN).unwrap();
        let mut converted = candidate(RecordObject::Lead, LEAD, "Phone", "0312345678", 9);
        converted.is_converted = true;
        let mut fax = candidate(RecordObject::Contact, CONTACT, "Fax", "0312345678", 8);
        fax.phones.push(("MobilePhone".into(), "not read".into()));
        let candidates = [
            converted,
            fax,
            candidate(RecordObject::Contact, CONTACT_2, "Phone", "03-9999-9999", 0),
            candidate(RecordObject::Account, ACCOUNT, "Phone", "0312345678", 5),
        ];
        // Nothing known: every spelling is read, as `choose_record_for_number` does.
        let read =
            choose_record_for_parsed(&customer, &candidates, PhoneRegion::JAPAN, |_, _| None);
        assert_eq!(
            read,
            choose_record_for_number("03-1234-5678", &candidates, PhoneRegion::JAPAN)
        );
        assert_eq!(
            read.unwrap().record_id.to_15(),
            ACCOUNT,
            "R3.3: only the Account holds it"
        );

        // Told that every phone holds the number: a converted Lead still never matches
        // (R3.5), a Fax never counts (R3.2), and the Contacts now outrank the Account
        // (R3.3), the later one first (R3.4), by the field said to hold it.
        let told = choose_record_for_parsed(&customer, &candidates, PhoneRegion::JAPAN, |_, _| {
            Some(true)
        })
        .unwrap();
        assert_eq!(told.record_id.to_15(), CONTACT);
        assert_eq!(
            told.matched_by,
            MatchedBy::Phone {
                field: "MobilePhone".into()
            }
        );

        // Told that a phone does not hold it: it is not read.
        let denied = choose_record_for_parsed(
            &customer,
            &candidates,
            PhoneRegion::JAPAN,
            |candidate, _| (candidate == 3).then_some(false),
        );
        assert_eq!(denied, None);
    }

    #[test]
    fn r3_1_click_to_call_wins_whatever_the_number() {
        let call = call_to("03-9999-9999", Some(LEAD));
        let candidates = [candidate(
            RecordObject::Contact,
            CONTACT,
            "Phone",
            "03-9999-9999",
            0,
        )];
        assert_eq!(chosen(&call, &candidates).as_deref(), Some(LEAD));
    }

    #[test]
    fn r3_1_click_to_call_from_a_custom_phone_field_links_the_fetched_record() {
        let call = call_to("03-9999-9999", Some(CONTACT));
        let mut contact = candidate(
            RecordObject::Contact,
            CONTACT,
            "Direct_Line__c",
            "03-9999-9999",
            0,
        );
        contact.account_id = Some(SalesforceId::parse(ACCOUNT).unwrap());
        let found = choose_record(&call, &[contact], PhoneRegion::JAPAN).unwrap();
        assert_eq!(found.matched_by, MatchedBy::ClickToCall);
        assert_eq!(found.what_id.unwrap().to_15(), ACCOUNT);
    }

    #[test]
    fn r3_2_custom_phone_fields_are_not_searched() {
        let call = call_to("03-1234-5678", None);
        let candidates = [candidate(
            RecordObject::Contact,
            CONTACT,
            "Direct_Line__c",
            "0312345678",
            0,
        )];
        assert_eq!(chosen(&call, &candidates), None);
    }

    #[test]
    fn r3_2_each_object_is_searched_on_its_standard_phone_fields() {
        let call = call_to("090-1234-5678", None);
        for (object, id, field) in [
            (RecordObject::Contact, CONTACT, "MobilePhone"),
            (RecordObject::Contact, CONTACT, "Phone"),
            (RecordObject::Lead, LEAD, "MobilePhone"),
            (RecordObject::Lead, LEAD, "Phone"),
            (RecordObject::Account, ACCOUNT, "Phone"),
            (RecordObject::PersonAccount, PERSON, "PersonMobilePhone"),
            (RecordObject::PersonAccount, PERSON, "Phone"),
        ] {
            let candidates = [candidate(object, id, field, "09012345678", 0)];
            assert_eq!(
                chosen(&call, &candidates).as_deref(),
                Some(id),
                "{object:?}.{field}"
            );
        }
        let account_mobile = [candidate(
            RecordObject::Account,
            ACCOUNT,
            "MobilePhone",
            "09012345678",
            0,
        )];
        assert_eq!(chosen(&call, &account_mobile), None);
    }

    #[test]
    fn r3_3_contact_beats_account_beats_lead() {
        let call = call_to("03-1234-5678", None);
        let lead = candidate(RecordObject::Lead, LEAD, "Phone", "0312345678", 900);
        let account = candidate(RecordObject::Account, ACCOUNT, "Phone", "0312345678", 500);
        let contact = candidate(RecordObject::Contact, CONTACT, "Phone", "0312345678", 0);
        assert_eq!(
            chosen(&call, &[lead.clone(), account.clone(), contact]).as_deref(),
            Some(CONTACT)
        );
        assert_eq!(
            chosen(&call, &[lead.clone(), account]).as_deref(),
            Some(ACCOUNT)
        );
        let person = candidate(
            RecordObject::PersonAccount,
            PERSON,
            "Phone",
            "0312345678",
            0,
        );
        assert_eq!(
            chosen(&call, &[lead.clone(), person]).as_deref(),
            Some(PERSON)
        );
        assert_eq!(chosen(&call, &[lead]).as_deref(), Some(LEAD));
    }

    #[test]
    fn r3_4_latest_last_modified_wins_and_ties_go_to_the_greatest_id() {
        let call = call_to("03-1234-5678", None);
        let older = candidate(RecordObject::Contact, CONTACT_2, "Phone", "0312345678", 0);
        let newer = candidate(RecordObject::Contact, CONTACT, "Phone", "0312345678", 10);
        assert_eq!(
            chosen(&call, &[older.clone(), newer]).as_deref(),
            Some(CONTACT)
        );
        let tie = candidate(RecordObject::Contact, CONTACT, "Phone", "0312345678", 0);
        assert_eq!(
            chosen(&call, &[tie.clone(), older.clone()]).as_deref(),
            Some(CONTACT_2)
        );
        assert_eq!(chosen(&call, &[older, tie]).as_deref(), Some(CONTACT_2));
    }

    #[test]
    fn r3_5_converted_leads_are_ignored() {
        let call = call_to("03-1234-5678", None);
        let mut lead = candidate(RecordObject::Lead, LEAD, "Phone", "0312345678", 0);
        lead.is_converted = true;
        assert_eq!(chosen(&call, &[lead]), None);
    }

    #[test]
    fn r3_6_numbers_match_across_formats() {
        let call = call_to("+81 3-1234-5678", None);
        let contact = candidate(
            RecordObject::Contact,
            CONTACT,
            "Phone",
            "（０３）１２３４－５６７８",
            0,
        );
        assert_eq!(chosen(&call, &[contact]).as_deref(), Some(CONTACT));
    }

    #[test]
    fn r3_7_no_match_gives_none() {
        let call = call_to("03-1234-5678", None);
        let contact = candidate(RecordObject::Contact, CONTACT, "Phone", "03-1234-5679", 0);
        assert_eq!(chosen(&call, &[contact]), None);
    }

    #[test]
    fn r5_person_account_links_who_to_its_person_contact_and_what_to_itself() {
        let call = call_to("03-1234-5678", None);
        let mut person = candidate(
            RecordObject::PersonAccount,
            PERSON,
            "Phone",
            "0312345678",
            0,
        );
        person.person_contact_id = Some(SalesforceId::parse(CONTACT).unwrap());
        let found = choose_record(&call, &[person], PhoneRegion::JAPAN).unwrap();
        assert_eq!(found.who_id.unwrap().to_15(), CONTACT);
        assert_eq!(found.what_id.unwrap().to_15(), PERSON);
    }
}
