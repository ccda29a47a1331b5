//! An in-memory [`QuerySource`] for the engine's own tests: a small schema of Account,
//! Contact, Lead, User and Task with the field types the engine cares about, and records
//! added as JSON.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::source::{FieldInfo, FieldType, ObjectInfo, QuerySource, Record};

pub(crate) struct TestOrg {
    objects: Vec<(ObjectInfo, Vec<FieldInfo>)>,
    records: HashMap<String, Vec<Record>>,
    /// Id (first 15 characters) → (object, index in `records`).
    by_id: HashMap<String, (String, usize)>,
    /// Ids the search index has not caught up with.
    pub unsearchable: Vec<String>,
    sequence: u64,
}

fn field(name: &str, field_type: FieldType) -> FieldInfo {
    FieldInfo {
        name: name.to_string(),
        field_type,
    }
}

fn reference(name: &str, relationship: &str, targets: &[&str]) -> FieldInfo {
    field(
        name,
        FieldType::Reference {
            targets: targets.iter().map(|target| (*target).to_string()).collect(),
            relationship_name: Some(relationship.to_string()),
        },
    )
}

fn common() -> Vec<FieldInfo> {
    vec![
        field("Id", FieldType::Id),
        field("IsDeleted", FieldType::Boolean),
        field("CreatedDate", FieldType::DateTime),
        field("LastModifiedDate", FieldType::DateTime),
        reference("OwnerId", "Owner", &["User"]),
    ]
}

impl TestOrg {
    pub(crate) fn new() -> TestOrg {
        let object = |name: &str, prefix: &str, extra: Vec<FieldInfo>| {
            let mut fields = common();
            fields.extend(extra);
            (
                ObjectInfo {
                    name: name.to_string(),
                    key_prefix: prefix.to_string(),
                },
                fields,
            )
        };
        let objects = vec![
            object(
                "Account",
                "001",
                vec![
                    field("Name", FieldType::String),
                    field("Phone", FieldType::Phone),
                    field("PersonMobilePhone", FieldType::Phone),
                    field("IsPersonAccount", FieldType::Boolean),
                    field("NumberOfEmployees", FieldType::Int),
                    field("AnnualRevenue", FieldType::Currency),
                    field("Industry", FieldType::Picklist),
                ],
            ),
            object(
                "Contact",
                "003",
                vec![
                    field("FirstName", FieldType::String),
                    field("LastName", FieldType::String),
                    field("Name", FieldType::String),
                    field("Phone", FieldType::Phone),
                    field("MobilePhone", FieldType::Phone),
                    field("Email", FieldType::Email),
                    field("Birthdate", FieldType::Date),
                    field("Tags__c", FieldType::MultiPicklist),
                    field("Score__c", FieldType::Double),
                    reference("AccountId", "Account", &["Account"]),
                ],
            ),
            object(
                "Lead",
                "00Q",
                vec![
                    field("LastName", FieldType::String),
                    field("Name", FieldType::String),
                    field("Company", FieldType::String),
                    field("Phone", FieldType::Phone),
                    field("IsConverted", FieldType::Boolean),
                ],
            ),
            object(
                "User",
                "005",
                vec![
                    field("Name", FieldType::String),
                    field("Username", FieldType::String),
                    field("Phone", FieldType::Phone),
                    field("IsActive", FieldType::Boolean),
                ],
            ),
            object(
                "Task",
                "00T",
                vec![
                    field("Subject", FieldType::String),
                    field("Status", FieldType::Picklist),
                    field("CallObject", FieldType::String),
                    field("ActivityDate", FieldType::Date),
                    reference("WhoId", "Who", &["Contact", "Lead"]),
                    reference("WhatId", "What", &["Account"]),
                ],
            ),
        ];
        TestOrg {
            objects,
            records: HashMap::new(),
            by_id: HashMap::new(),
            unsearchable: Vec::new(),
            sequence: 0,
        }
    }

    /// Adds a record of `object` with `fields`; gives it an Id unless one is set. Returns the Id.
    pub(crate) fn add(&mut self, object: &str, fields: Value) -> String {
        self.sequence += 1;
        let prefix = self
            .objects
            .iter()
            .find(|(info, _)| info.name == object)
            .map(|(info, _)| info.key_prefix.clone())
            .unwrap_or_else(|| panic!("no object {object}"));
        let mut record: Record = fields.as_object().cloned().unwrap_or_default();
        let id = match record.get("Id").and_then(Value::as_str) {
            Some(id) => id.to_string(),
            None => format!("{prefix}{:012}AAA", self.sequence),
        };
        record.insert("Id".to_string(), json!(id));
        let rows = self.records.entry(object.to_string()).or_default();
        self.by_id
            .insert(id[..15].to_string(), (object.to_string(), rows.len()));
        rows.push(record);
        id
    }

    fn info(&self, object: &str) -> Option<&(ObjectInfo, Vec<FieldInfo>)> {
        self.objects
            .iter()
            .find(|(info, _)| info.name.eq_ignore_ascii_case(object))
    }
}

impl QuerySource for TestOrg {
    fn child_relationship(
        &self,
        parent: &str,
        relationship: &str,
    ) -> Option<(String, String, String)> {
        crate::schema::child_relationship(parent, relationship)
    }

    fn object(&self, name: &str) -> Option<ObjectInfo> {
        self.info(name).map(|(info, _)| info.clone())
    }

    fn fields(&self, object: &str) -> Vec<FieldInfo> {
        self.info(object)
            .map(|(_, fields)| fields.clone())
            .unwrap_or_default()
    }

    fn field(&self, object: &str, field: &str) -> Option<FieldInfo> {
        self.info(object)?
            .1
            .iter()
            .find(|info| info.name.eq_ignore_ascii_case(field))
            .cloned()
    }

    fn records<'a>(
        &'a self,
        object: &str,
        include_deleted: bool,
    ) -> Box<dyn Iterator<Item = &'a Record> + 'a> {
        let name = self
            .info(object)
            .map(|(info, _)| info.name.clone())
            .unwrap_or_default();
        match self.records.get(&name) {
            Some(rows) => Box::new(rows.iter().filter(move |record| {
                include_deleted || record.get("IsDeleted") != Some(&json!(true))
            })),
            None => Box::new(std::iter::empty()),
        }
    }

    fn record_by_id<'a>(&'a self, id: &str) -> Option<(&'a str, &'a Record)> {
        let (object, index) = self.by_id.get(id.get(..15)?)?;
        let (info, _) = self.info(object)?;
        Some((info.name.as_str(), self.records.get(object)?.get(*index)?))
    }

    fn is_searchable(&self, _object: &str, record: &Record) -> bool {
        let id = record.get("Id").and_then(Value::as_str).unwrap_or_default();
        !self
            .unsearchable
            .iter()
            .any(|unsearchable| unsearchable == id)
    }

    fn object_names(&self) -> Vec<String> {
        self.objects
            .iter()
            .map(|(info, _)| info.name.clone())
            .collect()
    }
}
