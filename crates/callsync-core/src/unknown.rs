//! Unknown numbers (R13): when R3 finds no record and the call was not dialled from one,
//! the organisation leaves the Task unlinked (the default, R3.7), or creates a Lead or a
//! Contact under one Account and links it.
//!
//! Here are the settings, their checks and the record's fields, as a pure function of the
//! call; "one number, one record" is the service's (it remembers, per organisation and
//! number in normal form, the record it created), keyed by [`NewRecord::number_key`].

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::call::Call;
use crate::ids::SalesforceId;
use crate::matching::{Candidate, Match, MatchedBy, RecordObject};
use crate::phone::PhoneNumber;
use crate::settings::{Settings, SettingsProblem};
use crate::task::{TaskContext, placeholder_values, shorten};
use crate::template::{render, unknown_placeholders};

/// What to do with a call from a number no record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UnknownNumberAction {
    /// The Task has no WhoId / WhatId (R3.7), as the source does.
    #[default]
    Unlinked,
    /// Create a Lead and link it.
    CreateLead,
    /// Create a Contact under [`UnknownNumbers::account`] and link it.
    CreateContact,
}

/// The R13 settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct UnknownNumbers {
    /// Unlinked, create a Lead, or create a Contact.
    pub action: UnknownNumberAction,
    /// `LastName` of the record (R5.3 placeholders); the number when it renders empty.
    pub last_name_template: String,
    /// A Lead's `Company` (required by Salesforce), with R5.3 placeholders.
    pub company_template: String,
    /// A Lead's `LeadSource`; not set when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_source: Option<String>,
    /// The Account every created Contact belongs to (`AccountId`, an Id starting `001`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub account: Option<SalesforceId>,
    /// Whether Salesforce's assignment rules may reassign a created Lead
    /// (`Sforce-Auto-Assign`); off by default, so the record stays with its R7 owner.
    pub auto_assign: bool,
}

impl Default for UnknownNumbers {
    fn default() -> Self {
        UnknownNumbers {
            action: UnknownNumberAction::Unlinked,
            last_name_template: "{CUSTOMER_NUMBER}".to_owned(),
            company_template: "{CUSTOMER_NUMBER}".to_owned(),
            lead_source: None,
            account: None,
            auto_assign: false,
        }
    }
}

/// Salesforce's lengths: `LastName` 80, `Company` 255, `LeadSource` 255 (Lead and Contact
/// object reference).
const LAST_NAME_MAX: usize = 80;
const COMPANY_MAX: usize = 255;
const LEAD_SOURCE_MAX: usize = 255;

impl UnknownNumbers {
    /// Checks what can be checked without Salesforce (R11), adding to `problems`.
    pub(crate) fn validate(&self, problems: &mut Vec<SettingsProblem>) {
        let creates = self.action != UnknownNumberAction::Unlinked;
        let mut templates = vec![(
            "unknown_numbers.last_name_template",
            &self.last_name_template,
        )];
        if self.action == UnknownNumberAction::CreateLead {
            templates.push(("unknown_numbers.company_template", &self.company_template));
        }
        for (field, template) in templates {
            let unknown = unknown_placeholders(template);
            if !unknown.is_empty() {
                let names: Vec<String> = unknown.iter().map(|name| format!("{{{name}}}")).collect();
                problems.push(SettingsProblem::new(
                    field,
                    format!("unknown placeholders {}", names.join(", ")),
                ));
            } else if creates && template.trim().is_empty() {
                problems.push(SettingsProblem::new(
                    field,
                    "Salesforce requires this field: use {CUSTOMER_NUMBER} or a fixed text",
                ));
            }
        }
        if let Some(source) = &self.lead_source
            && (source.trim().is_empty() || source.chars().count() > LEAD_SOURCE_MAX)
        {
            problems.push(SettingsProblem::new(
                "unknown_numbers.lead_source",
                format!("must be 1 to {LEAD_SOURCE_MAX} characters, or left out"),
            ));
        }
        match (&self.account, self.action) {
            (None, UnknownNumberAction::CreateContact) => problems.push(SettingsProblem::new(
                "unknown_numbers.account",
                "creating Contacts needs the Account they belong to (an Id starting 001)",
            )),
            (Some(account), _) if account.key_prefix() != "001" => {
                problems.push(SettingsProblem::new(
                    "unknown_numbers.account",
                    format!("`{account}` is not an Account Id (Account Ids start with 001)"),
                ))
            }
            _ => {}
        }
    }
}

/// A record to create for an unknown number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    /// Lead or Contact.
    pub object: RecordObject,
    /// The customer number in normal form (R3.6): one record per organisation and key.
    pub number_key: String,
    /// Field values by API name, ready to send as a JSON object.
    pub fields: BTreeMap<String, Value>,
}

impl NewRecord {
    /// The Salesforce object name (`Lead`, `Contact`).
    pub fn object_name(&self) -> &'static str {
        match self.object {
            RecordObject::Contact => "Contact",
            _ => "Lead",
        }
    }

    /// The fields as a JSON object.
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.fields
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        )
    }

    /// The match a Task links once Salesforce created the record as `id`: the Lead, or the
    /// Contact and its Account (R5), found by being created ([`MatchedBy::Created`]).
    /// `created_at` orders it against later versions (R15's index).
    pub fn created(&self, id: SalesforceId, created_at: Timestamp) -> Match {
        let text = |name: &str| {
            self.fields
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let id_field = |name: &str| text(name).and_then(|id| SalesforceId::parse(&id).ok());
        let account_id = id_field("AccountId");
        let candidate = Candidate {
            object: self.object,
            id: id.clone(),
            phones: text("Phone")
                .map(|phone| vec![("Phone".to_owned(), phone)])
                .unwrap_or_default(),
            last_modified: created_at,
            is_converted: false,
            account_id: account_id.clone(),
            account_name: None,
            person_contact_id: None,
            name: text("LastName"),
            company: text("Company"),
            owner_id: id_field("OwnerId"),
        };
        Match {
            object: self.object,
            record_id: id.clone(),
            who_id: Some(id),
            what_id: account_id,
            owner_id: candidate.owner_id.clone(),
            matched_by: MatchedBy::Created,
            candidate: Some(candidate),
        }
    }
}

/// The record to create for a call R3 found no record for (R13), or `None` when the
/// organisation leaves such calls unlinked, the call was dialled from a record (R3.1), or
/// it has no customer number. `context.owner` is the record's owner (R7); the other
/// context fills the name templates.
pub fn unknown_number_record(
    call: &Call,
    settings: &Settings,
    context: &TaskContext,
) -> Option<NewRecord> {
    let unknown = &settings.unknown_numbers;
    let object = match unknown.action {
        UnknownNumberAction::Unlinked => return None,
        UnknownNumberAction::CreateLead => RecordObject::Lead,
        UnknownNumberAction::CreateContact => RecordObject::Contact,
    };
    if call.click_to_call().is_some() {
        return None;
    }
    let dialled = call.customer_number()?.trim();
    let number = PhoneNumber::parse(dialled, settings.region()).ok()?;
    let kind = call.kind()?;
    let values = placeholder_values(call, kind, settings, context);
    let national = number.national().unwrap_or_else(|| dialled.to_owned());
    let rendered = |template: &str, max: usize| {
        let text = render(template, &values);
        let text = text.trim();
        // A required field never goes out empty: a template whose values are unknown yet
        // falls back to the number.
        shorten(
            if text.is_empty() {
                national.as_str()
            } else {
                text
            },
            max,
        )
    };
    let mut fields = BTreeMap::new();
    fields.insert(
        "LastName".to_owned(),
        Value::String(rendered(&unknown.last_name_template, LAST_NAME_MAX)),
    );
    fields.insert("Phone".to_owned(), Value::String(national.clone()));
    match object {
        RecordObject::Contact => {
            let account = unknown.account.as_ref()?;
            fields.insert(
                "AccountId".to_owned(),
                Value::String(account.to_18().to_owned()),
            );
        }
        _ => {
            fields.insert(
                "Company".to_owned(),
                Value::String(rendered(&unknown.company_template, COMPANY_MAX)),
            );
            if let Some(source) = &unknown.lead_source {
                fields.insert("LeadSource".to_owned(), Value::String(source.clone()));
            }
        }
    }
    if let Some(owner) = &context.owner {
        fields.insert(
            "OwnerId".to_owned(),
            Value::String(owner.to_18().to_owned()),
        );
    }
    Some(NewRecord {
        object,
        number_key: number.key().as_str().to_owned(),
        fields,
    })
}
