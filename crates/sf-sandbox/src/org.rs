//! The in-memory org: schema, records, users and the writes that Salesforce validates.
//!
//! Invariants: every stored record holds `Id`, `IsDeleted` and the audit fields; fields
//! whose value is null are not stored (a million records must fit comfortably), and
//! readers treat a missing field as null. All writes of one API call happen under one
//! write lock and are journaled, so `allOrNone` can roll them back.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ErrorItem, RecordErrors};
use crate::ids::RecordId;
use crate::query::source::{FieldInfo, ObjectInfo, QuerySource, Record};
use crate::schema::{self, CustomField, ObjectDef, TaskStatus};
use crate::values::{coerce, format_datetime, parse_datetime};

/// A configurable validation rule, evaluated on every create and update of its object
/// (Setup → Object → Validation Rules). When the condition holds, the write fails with
/// `FIELD_CUSTOM_VALIDATION_EXCEPTION` and the rule's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationRule {
    pub object: String,
    pub name: String,
    pub condition: RuleCondition,
    pub error_message: String,
    /// The field the error is shown on; `None` shows it at the top of the page.
    pub error_field: Option<String>,
}

/// When a validation rule fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleCondition {
    /// `ISBLANK(field)`.
    IsBlank(String),
    /// The field's text form equals the value.
    Equals(String, String),
    /// The field's text contains the value.
    Contains(String, String),
    /// The field's text is longer than the number.
    LongerThan(String, usize),
}

impl RuleCondition {
    fn fires(&self, record: &Record) -> bool {
        let text = |field: &str| -> String {
            match get_field(record, field) {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            }
        };
        match self {
            RuleCondition::IsBlank(field) => text(field).is_empty(),
            RuleCondition::Equals(field, value) => text(field) == *value,
            RuleCondition::Contains(field, value) => text(field).contains(value.as_str()),
            RuleCondition::LongerThan(field, length) => text(field).chars().count() > *length,
        }
    }
}

/// A duplicate rule and its matching rule (Setup → Duplicate Management), checked when a
/// record of its object is created. A record matches when every field of the rule is
/// non-empty on both records and equal — phone fields compared by their digits, text
/// without regard to case or surrounding spaces. (Salesforce's standard matching rules
/// also match fuzzily, on names for instance; exact matching is the subset callsync's
/// tests need, and errs on the side of fewer matches.)
///
/// What the REST API answers follows the Duplicate Rule Header (REST API Developer
/// Guide, "Duplicate Rule Header": `allowSave` defaults to false and only bypasses a rule
/// whose action is Allow with an alert) and the DuplicateResult object (SOAP API Developer
/// Guide): `DUPLICATES_DETECTED` with `duplicateResult.matchResults[].matchRecords[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateRule {
    pub object: String,
    /// `Standard_Lead_Duplicate_Rule`.
    pub name: String,
    /// `Standard_Lead_Match_Rule_v1_0`.
    pub matching_rule: String,
    /// The fields that must all match.
    pub fields: Vec<String>,
    /// What a create that matches does.
    pub action: DuplicateAction,
    /// The alert text (`Use one of these records?`).
    pub error_message: String,
}

/// A duplicate rule's action on create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DuplicateAction {
    /// The record is not saved.
    Block,
    /// Saved only when the request says `allowSave=true` (the UI's "save anyway").
    Allow,
}

/// The request headers that change what a write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// `Sforce-Auto-Assign`: run the active assignment rule on a Lead created (default
    /// true when the header is absent; REST API Developer Guide, "Assignment Rule Header").
    pub auto_assign: bool,
    /// `Sforce-Duplicate-Rule-Header: allowSave=true`.
    pub allow_duplicate_save: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            auto_assign: true,
            allow_duplicate_save: false,
        }
    }
}

/// A user to add to the org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub is_active: bool,
    /// For the password grant and SOAP login (with the security token appended).
    pub password: String,
    pub security_token: String,
}

impl NewUser {
    /// A user with a password and security token derived from the username.
    pub fn named(username: &str, first_name: &str, last_name: &str) -> NewUser {
        NewUser {
            username: username.to_string(),
            first_name: Some(first_name.to_string()),
            last_name: last_name.to_string(),
            email: username.to_string(),
            phone: None,
            is_active: true,
            password: "sandbox-password".to_string(),
            security_token: "SANDBOXTOKEN".to_string(),
        }
    }
}

/// A user's login secrets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Login {
    pub password: String,
    pub security_token: String,
}

/// One step of the undo journal of a write.
#[derive(Debug)]
enum Undo {
    Created {
        table: usize,
    },
    Changed {
        table: usize,
        row: u32,
        before: Box<Record>,
        before_stamp: i64,
    },
    DeletionLogged {
        table: usize,
    },
}

/// Writes made so far by one API call, so `allOrNone` can undo them.
#[derive(Debug, Default)]
pub struct Journal {
    steps: Vec<Undo>,
}

struct Table {
    def: ObjectDef,
    rows: Vec<Record>,
    /// `SystemModstamp` of each row in milliseconds, for `updated/`.
    stamps: Vec<i64>,
    /// The same stamps ordered, with their rows: `updated/` and SOQL filtered on
    /// `SystemModstamp` read a range instead of every row, as Salesforce answers them from
    /// its index on `SystemModstamp` (the platform "maintains indexes on … Systemmodstamp
    /// (LastModifiedDate)", Large Data Volumes best practices, "Indexes").
    by_stamp: std::collections::BTreeSet<(i64, u32)>,
    /// Deleted Ids and when, for `deleted/`.
    deletions: Vec<(RecordId, i64)>,
    /// External-id and unique fields: lower-cased value → rows.
    unique_indexes: HashMap<String, HashMap<String, Vec<u32>>>,
}

impl Table {
    fn new(def: ObjectDef) -> Table {
        let mut table = Table {
            def,
            rows: Vec::new(),
            stamps: Vec::new(),
            by_stamp: std::collections::BTreeSet::new(),
            deletions: Vec::new(),
            unique_indexes: HashMap::new(),
        };
        table.reindex_fields();
        table
    }

    fn reindex_fields(&mut self) {
        self.unique_indexes.clear();
        for field in &self.def.fields {
            if field.external_id || field.unique {
                self.unique_indexes
                    .insert(field.name.clone(), HashMap::new());
            }
        }
        for row in 0..self.rows.len() {
            self.index_add(row as u32);
        }
    }

    fn push_stamp(&mut self, stamp: i64) {
        let row = self.stamps.len() as u32;
        self.stamps.push(stamp);
        self.by_stamp.insert((stamp, row));
    }

    fn pop_stamp(&mut self) {
        if let Some(stamp) = self.stamps.pop() {
            self.by_stamp.remove(&(stamp, self.stamps.len() as u32));
        }
    }

    /// Sets a row's stamp and returns the one it had.
    fn set_stamp(&mut self, row: u32, stamp: i64) -> i64 {
        let before = std::mem::replace(&mut self.stamps[row as usize], stamp);
        self.by_stamp.remove(&(before, row));
        self.by_stamp.insert((stamp, row));
        before
    }

    /// Rows stamped at or after `since_ms`, in row (insertion) order.
    fn rows_since(&self, since_ms: i64) -> Vec<u32> {
        let mut rows: Vec<u32> = self
            .by_stamp
            .range((since_ms, 0)..)
            .map(|(_, row)| *row)
            .collect();
        rows.sort_unstable();
        rows
    }

    fn index_add(&mut self, row: u32) {
        let record = &self.rows[row as usize];
        for (field, index) in self.unique_indexes.iter_mut() {
            if let Some(Value::String(value)) = record.get(field) {
                index.entry(value.to_lowercase()).or_default().push(row);
            }
        }
    }

    fn index_remove(&mut self, row: u32) {
        let record = &self.rows[row as usize];
        for (field, index) in self.unique_indexes.iter_mut() {
            if let Some(Value::String(value)) = record.get(field) {
                let key = value.to_lowercase();
                if let Some(rows) = index.get_mut(&key) {
                    rows.retain(|candidate| *candidate != row);
                    if rows.is_empty() {
                        index.remove(&key);
                    }
                }
            }
        }
    }
}

/// The org's data. Read it with [`Org::read`]; it implements [`QuerySource`].
pub struct OrgState {
    org_id: RecordId,
    tables: Vec<Table>,
    table_index: HashMap<String, usize>,
    by_id: HashMap<RecordId, (u16, u32)>,
    sequence: u64,
    task_statuses: Vec<TaskStatus>,
    custom_fields: Vec<CustomField>,
    validation_rules: Vec<ValidationRule>,
    duplicate_rules: Vec<DuplicateRule>,
    /// The user the active Lead assignment rule gives every new Lead to, if one is active.
    lead_assignment_owner: Option<RecordId>,
    logins: HashMap<RecordId, Login>,
    admin_user: RecordId,
    search_index_lag: Duration,
    /// When each record was last written, kept only while the search index lags.
    recent_writes: HashMap<RecordId, Instant>,
}

impl std::fmt::Debug for OrgState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OrgState")
            .field("org_id", &self.org_id)
            .field("records", &self.by_id.len())
            .finish_non_exhaustive()
    }
}

/// The org, shared by the HTTP server and tests. All methods are synchronous and act
/// as the given user, exactly as the REST API would.
#[derive(Debug)]
pub struct Org {
    state: RwLock<OrgState>,
}

/// What a successful upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Created(RecordId),
    Updated(RecordId),
}

/// The default admin user, present in every fresh org.
pub const ADMIN_USERNAME: &str = "admin@callsync.sandbox";

pub(crate) fn get_field<'a>(record: &'a Record, name: &str) -> Option<&'a Value> {
    record.get(name)
}

fn now_parts() -> (String, i64) {
    let now = Timestamp::now();
    (format_datetime(now), now.as_millisecond())
}

fn text_of(record: &Record, field: &str) -> Option<String> {
    match record.get(field) {
        Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
        _ => None,
    }
}

fn full_name(record: &Record) -> Option<String> {
    let first = text_of(record, "FirstName");
    let last = text_of(record, "LastName");
    match (first, last) {
        (Some(first), Some(last)) => Some(format!("{first} {last}")),
        (None, Some(last)) => Some(last),
        (Some(first), None) => Some(first),
        (None, None) => None,
    }
}

/// Fields of a person account that live on its hidden Contact, and their Contact names.
const PERSON_FIELDS: &[(&str, &str)] = &[
    ("FirstName", "FirstName"),
    ("LastName", "LastName"),
    ("Salutation", "Salutation"),
    ("Phone", "Phone"),
    ("PersonMobilePhone", "MobilePhone"),
    ("PersonHomePhone", "HomePhone"),
    ("PersonOtherPhone", "OtherPhone"),
    ("PersonEmail", "Email"),
    ("OwnerId", "OwnerId"),
];

const PERSON_ONLY_FIELDS: &[&str] = &[
    "FirstName",
    "LastName",
    "Salutation",
    "PersonMobilePhone",
    "PersonHomePhone",
    "PersonOtherPhone",
    "PersonEmail",
];

impl OrgState {
    pub(crate) fn new(seed: u64, search_index_lag: Duration) -> OrgState {
        let task_statuses = schema::default_task_statuses();
        let mut state = OrgState {
            org_id: RecordId::generate(schema::ORGANIZATION_KEY_PREFIX, 1 + seed % 1_000_000),
            tables: Vec::new(),
            table_index: HashMap::new(),
            by_id: HashMap::new(),
            sequence: 0,
            task_statuses: task_statuses.clone(),
            custom_fields: Vec::new(),
            validation_rules: Vec::new(),
            duplicate_rules: Vec::new(),
            lead_assignment_owner: None,
            logins: HashMap::new(),
            admin_user: RecordId::generate("005", 0),
            search_index_lag,
            recent_writes: HashMap::new(),
        };
        for def in schema::standard_objects(&task_statuses) {
            state
                .table_index
                .insert(def.name.to_ascii_lowercase(), state.tables.len());
            state.tables.push(Table::new(def));
        }
        let admin = NewUser {
            username: ADMIN_USERNAME.to_string(),
            first_name: Some("Sandbox".to_string()),
            last_name: "Admin".to_string(),
            email: ADMIN_USERNAME.to_string(),
            phone: None,
            is_active: true,
            password: "sandbox-password".to_string(),
            security_token: "SANDBOXTOKEN".to_string(),
        };
        state.admin_user = state.insert_user(&admin, None);
        state
    }

    /// The org's Id (`00D...`).
    pub fn org_id(&self) -> RecordId {
        self.org_id
    }

    /// The admin user every fresh org has.
    pub fn admin_user(&self) -> RecordId {
        self.admin_user
    }

    pub(crate) fn table_of(&self, object: &str) -> Option<usize> {
        self.table_index.get(&object.to_ascii_lowercase()).copied()
    }

    /// An object's definition.
    pub fn object_def(&self, object: &str) -> Option<&ObjectDef> {
        self.table_of(object).map(|table| &self.tables[table].def)
    }

    /// Every object definition.
    pub fn object_defs(&self) -> impl Iterator<Item = &ObjectDef> {
        self.tables.iter().map(|table| &table.def)
    }

    /// The number of live records of an object.
    pub fn count(&self, object: &str) -> usize {
        self.table_of(object)
            .map(|table| {
                self.tables[table]
                    .rows
                    .iter()
                    .filter(|record| !is_deleted(record))
                    .count()
            })
            .unwrap_or(0)
    }

    /// A record (live or deleted) with its object's name.
    pub fn lookup(&self, id: &RecordId) -> Option<(&str, &Record)> {
        let (table, row) = self.by_id.get(id)?;
        let table = &self.tables[*table as usize];
        Some((table.def.name.as_str(), &table.rows[*row as usize]))
    }

    /// A record rendered as `GET /sobjects/{object}/{id}` shows it: every field, nulls
    /// included, or only `fields`.
    pub fn render(
        &self,
        object_name: &str,
        record: &Record,
        fields: Option<&[String]>,
        version: &str,
    ) -> Value {
        let Some(def) = self.object_def(object_name) else {
            return Value::Null;
        };
        let id = record.get("Id").and_then(Value::as_str).unwrap_or_default();
        let mut out = Map::new();
        out.insert(
            "attributes".to_string(),
            json!({"type": def.name, "url": format!("/services/data/v{version}/sobjects/{}/{id}", def.name)}),
        );
        match fields {
            Some(fields) => {
                for field in fields {
                    if let Some(field_def) = def.field(field) {
                        out.insert(
                            field_def.name.clone(),
                            record.get(&field_def.name).cloned().unwrap_or(Value::Null),
                        );
                    }
                }
            }
            None => {
                for field_def in &def.fields {
                    out.insert(
                        field_def.name.clone(),
                        record.get(&field_def.name).cloned().unwrap_or(Value::Null),
                    );
                }
            }
        }
        Value::Object(out)
    }

    /// Ids of `object` written between two instants (`updated/`).
    pub fn updated_between(&self, object: &str, start_ms: i64, end_ms: i64) -> Vec<String> {
        let Some(table) = self.table_of(object) else {
            return Vec::new();
        };
        let table = &self.tables[table];
        table
            .rows_since(start_ms)
            .into_iter()
            .filter(|row| table.stamps[*row as usize] < end_ms)
            .map(|row| &table.rows[row as usize])
            .filter(|record| !is_deleted(record))
            .filter_map(|record| record.get("Id").and_then(Value::as_str).map(str::to_string))
            .collect()
    }

    /// Records of `object` deleted between two instants (`deleted/`).
    pub fn deleted_between(
        &self,
        object: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Vec<(RecordId, i64)> {
        let Some(table) = self.table_of(object) else {
            return Vec::new();
        };
        self.tables[table]
            .deletions
            .iter()
            .filter(|(_, when)| *when >= start_ms && *when < end_ms)
            .copied()
            .collect()
    }

    /// Finds records of `object` whose external-id (or unique) field equals `value`.
    pub fn find_by_unique(&self, object: &str, field: &str, value: &str) -> Vec<RecordId> {
        let Some(table) = self.table_of(object) else {
            return Vec::new();
        };
        let table = &self.tables[table];
        let Some(index) = table.unique_indexes.get(field) else {
            return Vec::new();
        };
        index
            .get(&value.to_lowercase())
            .map(|rows| {
                rows.iter()
                    .filter_map(|row| table.rows[*row as usize].get("Id").and_then(Value::as_str))
                    .filter_map(|id| RecordId::parse(id).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The user with this username, if any.
    pub fn user_by_username(&self, username: &str) -> Option<RecordId> {
        self.find_by_unique("User", "Username", username)
            .into_iter()
            .next()
    }

    /// Checks a user's password. Salesforce wants the security token appended when the
    /// caller's IP is not trusted, and a local client is no trusted network: so the token
    /// is required, as an org with no trusted IP ranges would.
    pub fn check_password(&self, user: &RecordId, password: &str) -> bool {
        self.logins
            .get(user)
            .is_some_and(|login| password == format!("{}{}", login.password, login.security_token))
    }

    /// Whether a user exists and is active.
    pub fn user_is_active(&self, user: &RecordId) -> bool {
        matches!(self.lookup(user), Some(("User", record)) if record.get("IsActive") == Some(&Value::Bool(true)))
    }

    fn next_id(&mut self, key_prefix: &str) -> RecordId {
        self.sequence += 1;
        RecordId::generate(key_prefix, self.sequence)
    }

    fn insert_user(&mut self, user: &NewUser, acting: Option<RecordId>) -> RecordId {
        let mut record = Map::new();
        record.insert("Username".to_string(), json!(user.username));
        if let Some(first) = &user.first_name {
            record.insert("FirstName".to_string(), json!(first));
        }
        record.insert("LastName".to_string(), json!(user.last_name));
        record.insert("Email".to_string(), json!(user.email));
        if let Some(phone) = &user.phone {
            record.insert("Phone".to_string(), json!(phone));
        }
        let alias: String = user.last_name.chars().take(8).collect();
        record.insert("Alias".to_string(), json!(alias));
        record.insert("IsActive".to_string(), json!(user.is_active));
        record.insert("TimeZoneSidKey".to_string(), json!("Asia/Tokyo"));
        let id = self.insert_raw("User", record, acting, None);
        self.logins.insert(
            id,
            Login {
                password: user.password.clone(),
                security_token: user.security_token.clone(),
            },
        );
        id
    }

    /// Inserts a record without validation (the data generator and org set-up), filling
    /// the system and computed fields. `acting` defaults to the admin user.
    pub(crate) fn insert_raw(
        &mut self,
        object: &str,
        mut record: Record,
        acting: Option<RecordId>,
        journal: Option<&mut Journal>,
    ) -> RecordId {
        let Some(table_index) = self.table_of(object) else {
            return RecordId::generate("000", 0);
        };
        let key_prefix = self.tables[table_index].def.key_prefix.clone();
        let id = self.next_id(&key_prefix);
        let acting = acting.unwrap_or(self.admin_user);
        let (now, now_ms) = now_parts();
        record.retain(|_, value| !value.is_null());
        record.insert("Id".to_string(), json!(id.as_str()));
        record.insert("IsDeleted".to_string(), json!(false));
        record.insert("CreatedDate".to_string(), json!(now));
        record.insert("CreatedById".to_string(), json!(acting.as_str()));
        record.insert("LastModifiedDate".to_string(), json!(now));
        record.insert("LastModifiedById".to_string(), json!(acting.as_str()));
        record.insert("SystemModstamp".to_string(), json!(now));
        if self.tables[table_index].def.field("OwnerId").is_some()
            && !record.contains_key("OwnerId")
        {
            record.insert("OwnerId".to_string(), json!(acting.as_str()));
        }
        self.compute_derived(table_index, &mut record);
        let table = &mut self.tables[table_index];
        let row = table.rows.len() as u32;
        table.rows.push(record);
        table.push_stamp(now_ms);
        table.index_add(row);
        self.by_id.insert(id, (table_index as u16, row));
        self.note_write(id);
        if let Some(journal) = journal {
            journal.steps.push(Undo::Created { table: table_index });
        }
        id
    }

    /// Sets one stored field without validation or audit (the generator links records).
    pub(crate) fn set_raw_field(&mut self, id: &RecordId, field: &str, value: Value) {
        if let Some((table, row)) = self.by_id.get(id).copied() {
            let table = &mut self.tables[table as usize];
            table.index_remove(row);
            table.rows[row as usize].insert(field.to_string(), value);
            table.index_add(row);
        }
    }

    fn note_write(&mut self, id: RecordId) {
        if self.search_index_lag.is_zero() {
            return;
        }
        let now = Instant::now();
        if self.recent_writes.len() > 10_000 {
            let lag = self.search_index_lag;
            self.recent_writes
                .retain(|_, when| now.duration_since(*when) < lag);
        }
        self.recent_writes.insert(id, now);
    }

    /// Fields the org computes: Name of people, Task's IsClosed/IsHighPriority/AccountId.
    fn compute_derived(&self, table_index: usize, record: &mut Record) {
        let object = self.tables[table_index].def.name.as_str();
        match object {
            "Contact" | "Lead" | "User" => {
                if let Some(name) = full_name(record) {
                    record.insert("Name".to_string(), json!(name));
                }
            }
            "Account" => {
                if record.get("IsPersonAccount") == Some(&Value::Bool(true))
                    && let Some(name) = full_name(record)
                {
                    record.insert("Name".to_string(), json!(name));
                }
                record.entry("IsPersonAccount").or_insert(json!(false));
            }
            "Task" => {
                let status = text_of(record, "Status");
                let closed = status
                    .as_deref()
                    .and_then(|status| {
                        self.task_statuses
                            .iter()
                            .find(|candidate| candidate.label == status)
                    })
                    .is_some_and(|status| status.is_closed);
                record.insert("IsClosed".to_string(), json!(closed));
                record.insert(
                    "IsHighPriority".to_string(),
                    json!(text_of(record, "Priority").as_deref() == Some("High")),
                );
                if closed && !record.contains_key("CompletedDateTime") {
                    record.insert("CompletedDateTime".to_string(), json!(now_parts().0));
                } else if !closed {
                    record.remove("CompletedDateTime");
                }
                // AccountId follows WhatId when it is an Account, else the Contact's account.
                let what_account = text_of(record, "WhatId").filter(|id| id.starts_with("001"));
                let who_account = text_of(record, "WhoId")
                    .and_then(|id| RecordId::parse(&id).ok())
                    .and_then(|id| self.lookup(&id))
                    .filter(|(object, _)| *object == "Contact")
                    .and_then(|(_, contact)| text_of(contact, "AccountId"));
                match what_account.or(who_account) {
                    Some(account) => record.insert("AccountId".to_string(), json!(account)),
                    None => record.remove("AccountId"),
                };
            }
            _ => {}
        }
    }

    fn rollback(&mut self, journal: Journal) {
        for step in journal.steps.into_iter().rev() {
            match step {
                Undo::Created { table } => {
                    let table_ref = &mut self.tables[table];
                    let row = table_ref.rows.len().saturating_sub(1) as u32;
                    if table_ref.rows.is_empty() {
                        continue;
                    }
                    table_ref.index_remove(row);
                    if let Some(record) = table_ref.rows.pop()
                        && let Some(id) = record
                            .get("Id")
                            .and_then(Value::as_str)
                            .and_then(|id| RecordId::parse(id).ok())
                    {
                        self.by_id.remove(&id);
                    }
                    table_ref.pop_stamp();
                }
                Undo::Changed {
                    table,
                    row,
                    before,
                    before_stamp,
                } => {
                    let table_ref = &mut self.tables[table];
                    table_ref.index_remove(row);
                    table_ref.rows[row as usize] = *before;
                    table_ref.set_stamp(row, before_stamp);
                    table_ref.index_add(row);
                }
                Undo::DeletionLogged { table } => {
                    self.tables[table].deletions.pop();
                }
            }
        }
    }

    fn replace_row(
        &mut self,
        table: usize,
        row: u32,
        record: Record,
        stamp: i64,
        journal: &mut Journal,
    ) {
        let table_ref = &mut self.tables[table];
        table_ref.index_remove(row);
        let before = std::mem::replace(&mut table_ref.rows[row as usize], record);
        let before_stamp = table_ref.set_stamp(row, stamp);
        table_ref.index_add(row);
        journal.steps.push(Undo::Changed {
            table,
            row,
            before: Box::new(before),
            before_stamp,
        });
    }

    // ----- Validated writes (the REST API's rules) -----

    /// Resolves the object of a request path, or Salesforce's 404.
    pub(crate) fn resolve_object(&self, object: &str) -> Result<usize, ApiError> {
        self.table_of(object).ok_or_else(ApiError::not_found)
    }

    /// Checks the body's field names: unknown ones are a request-level INVALID_FIELD, read-only
    /// ones INVALID_FIELD_FOR_INSERT_UPDATE.
    fn check_field_names(
        &self,
        table: usize,
        body: &Map<String, Value>,
        creating: bool,
    ) -> Result<(), RecordErrors> {
        let def = &self.tables[table].def;
        let mut read_only: Vec<String> = Vec::new();
        for key in body.keys() {
            if key == "attributes" || (!creating && key.eq_ignore_ascii_case("Id")) {
                continue;
            }
            let Some(field) = def.field(key) else {
                let error = ApiError::no_such_column(key, &def.name);
                return Err(error.errors);
            };
            let writable = if creating {
                field.createable
            } else {
                field.updateable
            };
            if !writable {
                read_only.push(field.name.clone());
            }
        }
        if read_only.is_empty() {
            return Ok(());
        }
        // "Unable to create/update fields: IsClosedOnCreate. Please check the security
        // settings of this field and verify that it is read/write for your profile or
        // permission set." with `fields` (public report verbb/formie#1981).
        let fields: Vec<&str> = read_only.iter().map(String::as_str).collect();
        Err(vec![ErrorItem::with_fields(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            format!(
                "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                read_only.join(", ")
            ),
            &fields,
        )])
    }

    /// Coerces every value of the body into `record`.
    fn apply_values(
        &self,
        table: usize,
        body: &Map<String, Value>,
        record: &mut Record,
    ) -> Result<(), RecordErrors> {
        let def = &self.tables[table].def;
        let mut errors = Vec::new();
        for (key, value) in body {
            if key == "attributes" || key.eq_ignore_ascii_case("Id") {
                continue;
            }
            let Some(field) = def.field(key) else {
                continue;
            };
            if value.is_null() {
                record.remove(&field.name);
                continue;
            }
            match coerce(field, value) {
                Ok(Value::Null) => {
                    record.remove(&field.name);
                }
                Ok(coerced) => {
                    record.insert(field.name.clone(), coerced);
                }
                Err(item) => errors.push(item),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn fill_defaults(&self, table: usize, record: &mut Record) {
        for field in &self.tables[table].def.fields {
            if let Some(default) = &field.default_value
                && field.createable
                && !record.contains_key(&field.name)
            {
                record.insert(field.name.clone(), default.clone());
            }
        }
    }

    fn missing_required(&self, table: usize, record: &Record) -> Vec<String> {
        let def = &self.tables[table].def;
        let mut missing: Vec<String> = def
            .fields
            .iter()
            .filter(|field| field.required && !record.contains_key(&field.name))
            .map(|field| field.name.clone())
            .collect();
        if def.name == "Account" {
            let person = record.get("IsPersonAccount") == Some(&Value::Bool(true));
            if person && !record.contains_key("LastName") {
                missing.push("LastName".to_string());
            } else if !person && !record.contains_key("Name") {
                missing.push("Name".to_string());
            }
        }
        missing
    }

    /// Checks lookups: the Id must exist, point at an allowed object, and (for Tasks) a
    /// Lead `WhoId` allows no `WhatId`.
    fn check_references(
        &self,
        table: usize,
        record: &Record,
        changed: &[String],
    ) -> Result<(), RecordErrors> {
        let def = &self.tables[table].def;
        for name in changed {
            let Some(field) = def.field(name) else {
                continue;
            };
            let targets = field.reference_targets();
            if targets.is_empty() {
                continue;
            }
            let Some(Value::String(value)) = record.get(&field.name) else {
                continue;
            };
            let Ok(id) = RecordId::parse(value) else {
                continue;
            };
            let target_prefixes: Vec<&str> = targets
                .iter()
                .filter_map(|target| self.object_def(target))
                .map(|target| target.key_prefix.as_str())
                .collect();
            if !target_prefixes.contains(&id.key_prefix()) {
                // "Name ID: id value of incorrect type: 006..." under FIELD_INTEGRITY_EXCEPTION
                // is what Salesforce answers for a WhoId of the wrong object (public reports).
                return Err(vec![ErrorItem::with_fields(
                    "FIELD_INTEGRITY_EXCEPTION",
                    format!("{}: id value of incorrect type: {value}", field.label),
                    &[&field.name],
                )]);
            }
            match self.lookup(&id) {
                Some((_, target)) if !is_deleted(target) => {
                    if field.name == "OwnerId" && target.get("IsActive") != Some(&Value::Bool(true))
                    {
                        return Err(vec![ErrorItem::with_fields(
                            "INACTIVE_OWNER_OR_USER",
                            format!(
                                "operation performed with inactive user [{value}] as owner of {}",
                                def.name.to_lowercase()
                            ),
                            &[],
                        )]);
                    }
                }
                _ => {
                    // A well-formed Id of the right object that is not there.
                    return Err(vec![ErrorItem::with_fields(
                        "INVALID_CROSS_REFERENCE_KEY",
                        "invalid cross reference id",
                        &[],
                    )]);
                }
            }
        }
        if def.name == "Task"
            && record.contains_key("WhatId")
            && text_of(record, "WhoId").is_some_and(|who| who.starts_with("00Q"))
        {
            // Salesforce's rule: when WhoId is a Lead, WhatId must be empty (Task object
            // reference). The exact wording of this error is not recorded publicly.
            return Err(vec![ErrorItem::with_fields(
                "FIELD_INTEGRITY_EXCEPTION",
                "Related To ID: You can't associate a task with a lead and a related-to record at the same time",
                &["WhatId"],
            )]);
        }
        Ok(())
    }

    fn check_rules(&self, table: usize, record: &Record) -> Result<(), RecordErrors> {
        let object = &self.tables[table].def.name;
        for rule in self
            .validation_rules
            .iter()
            .filter(|rule| rule.object.eq_ignore_ascii_case(object))
        {
            if rule.condition.fires(record) {
                let fields: Vec<&str> = rule.error_field.iter().map(String::as_str).collect();
                return Err(vec![ErrorItem::with_fields(
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    rule.error_message.clone(),
                    &fields,
                )]);
            }
        }
        Ok(())
    }

    fn check_unique(
        &self,
        table: usize,
        record: &Record,
        own_row: Option<u32>,
    ) -> Result<(), RecordErrors> {
        let table_ref = &self.tables[table];
        for (field, index) in &table_ref.unique_indexes {
            let Some(Value::String(value)) = record.get(field) else {
                continue;
            };
            if let Some(rows) = index.get(&value.to_lowercase())
                && let Some(other) = rows.iter().find(|row| Some(**row) != own_row)
            {
                let other_id = table_ref.rows[*other as usize]
                    .get("Id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                return Err(vec![ErrorItem::with_fields(
                    "DUPLICATE_VALUE",
                    format!(
                        "duplicate value found: {field} duplicates value on record with id: {other_id}"
                    ),
                    &[field.as_str()],
                )]);
            }
        }
        Ok(())
    }

    /// Creates a record as `acting`, with Salesforce's validation and the default request
    /// headers.
    pub fn create(
        &mut self,
        acting: RecordId,
        object: &str,
        body: &Map<String, Value>,
        journal: &mut Journal,
    ) -> Result<RecordId, RecordErrors> {
        self.create_with(acting, object, body, journal, WriteOptions::default())
    }

    /// A record matching `record` by a duplicate rule of its object, as the error Salesforce
    /// answers unless the rule lets it through.
    fn check_duplicates(
        &self,
        table: usize,
        record: &Record,
        options: WriteOptions,
    ) -> Result<(), RecordErrors> {
        let def = &self.tables[table].def;
        let normal = |field: &str, value: &Value| -> Option<String> {
            let text = value.as_str()?.trim();
            let phone = def.field(field).is_some_and(|field| {
                matches!(field.field_type, crate::query::source::FieldType::Phone)
            });
            let key = if phone {
                text.chars().filter(char::is_ascii_digit).collect()
            } else {
                text.to_lowercase()
            };
            (!key.is_empty()).then_some(key)
        };
        for rule in self
            .duplicate_rules
            .iter()
            .filter(|rule| rule.object.eq_ignore_ascii_case(&def.name))
        {
            if rule.action == DuplicateAction::Allow && options.allow_duplicate_save {
                continue;
            }
            let wanted: Option<Vec<String>> = rule
                .fields
                .iter()
                .map(|field| record.get(field).and_then(|value| normal(field, value)))
                .collect();
            let Some(wanted) = wanted else { continue };
            let matches: Vec<&str> = self.tables[table]
                .rows
                .iter()
                .filter(|other| !is_deleted(other))
                .filter(|other| {
                    rule.fields.iter().zip(&wanted).all(|(field, key)| {
                        other
                            .get(field)
                            .and_then(|value| normal(field, value))
                            .as_ref()
                            == Some(key)
                    })
                })
                .filter_map(|other| other.get("Id").and_then(Value::as_str))
                .collect();
            if matches.is_empty() {
                continue;
            }
            let records: Vec<Value> = matches
                .iter()
                .map(|id| {
                    json!({"additionalInformation": [], "fieldDiffs": [], "matchConfidence": 100.0,
                           "record": {"attributes": {"type": def.name,
                               "url": format!("/services/data/v{}/sobjects/{}/{id}", crate::DEFAULT_API_VERSION, def.name)},
                               "Id": id}})
                })
                .collect();
            let mut item = ErrorItem::new("DUPLICATES_DETECTED", rule.error_message.clone());
            item.duplicate_result = Some(json!({
                "allowSave": rule.action == DuplicateAction::Allow,
                "duplicateRule": rule.name,
                "duplicateRuleEntityType": def.name,
                "errorMessage": rule.error_message,
                "matchResults": [{"entityType": def.name, "errors": [], "matchEngine": "ExactMatchEngine",
                    "matchRecords": records, "rule": rule.matching_rule, "size": matches.len(),
                    "success": true}],
            }));
            return Err(vec![item]);
        }
        Ok(())
    }

    /// Creates a record as `acting`, with Salesforce's validation, duplicate rules and
    /// assignment rule, as a request with these headers would.
    pub fn create_with(
        &mut self,
        acting: RecordId,
        object: &str,
        body: &Map<String, Value>,
        journal: &mut Journal,
        options: WriteOptions,
    ) -> Result<RecordId, RecordErrors> {
        let table = self.resolve_object(object).map_err(|error| error.errors)?;
        self.check_field_names(table, body, true)?;
        let mut record = Map::new();
        self.apply_values(table, body, &mut record)?;
        let object_name = self.tables[table].def.name.clone();
        if object_name == "Account" {
            let person_fields: Vec<&str> = PERSON_ONLY_FIELDS
                .iter()
                .copied()
                .filter(|field| record.contains_key(*field))
                .collect();
            if !person_fields.is_empty() && record.contains_key("Name") {
                // A person account's Name is computed: "Unable to create/update fields: Name"
                // (public report SalesforceCommerceCloud/b2c-crm-sync#267).
                return Err(vec![ErrorItem::with_fields(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    "Unable to create/update fields: Name. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                    &["Name"],
                )]);
            }
            record.insert(
                "IsPersonAccount".to_string(),
                json!(!person_fields.is_empty()),
            );
        }
        self.fill_defaults(table, &mut record);
        let missing = self.missing_required(table, &record);
        if !missing.is_empty() {
            return Err(vec![required_missing(&missing)]);
        }
        let changed: Vec<String> = record.keys().cloned().collect();
        let mut with_owner = record.clone();
        if self.tables[table].def.field("OwnerId").is_some() {
            with_owner
                .entry("OwnerId")
                .or_insert(json!(acting.as_str()));
        }
        self.check_references(table, &with_owner, &changed)?;
        let mut preview = with_owner.clone();
        self.compute_derived(table, &mut preview);
        self.check_rules(table, &preview)?;
        self.check_unique(table, &preview, None)?;
        self.check_duplicates(table, &preview, options)?;
        if object_name == "Lead"
            && options.auto_assign
            && let Some(owner) = self.lead_assignment_owner
        {
            with_owner.insert("OwnerId".to_string(), json!(owner.as_str()));
        }
        let person =
            object_name == "Account" && record.get("IsPersonAccount") == Some(&Value::Bool(true));
        let id = self.insert_raw(&object_name, with_owner, Some(acting), Some(journal));
        if person {
            self.create_person_contact(id, acting, journal);
        }
        Ok(id)
    }

    fn create_person_contact(
        &mut self,
        account: RecordId,
        acting: RecordId,
        journal: &mut Journal,
    ) {
        let Some((_, account_record)) = self.lookup(&account) else {
            return;
        };
        let mut contact = Map::new();
        for (account_field, contact_field) in PERSON_FIELDS {
            if let Some(value) = account_record.get(*account_field) {
                contact.insert((*contact_field).to_string(), value.clone());
            }
        }
        contact.insert("AccountId".to_string(), json!(account.as_str()));
        contact.insert("IsPersonAccount".to_string(), json!(true));
        let contact_id = self.insert_raw("Contact", contact, Some(acting), Some(journal));
        if let Some((table, row)) = self.by_id.get(&account).copied() {
            let mut record = self.tables[table as usize].rows[row as usize].clone();
            record.insert("PersonContactId".to_string(), json!(contact_id.as_str()));
            let stamp = self.tables[table as usize].stamps[row as usize];
            self.replace_row(table as usize, row, record, stamp, journal);
        }
    }

    fn sync_person_contact(
        &mut self,
        account_record: &Record,
        acting: RecordId,
        journal: &mut Journal,
    ) {
        let Some(contact_id) =
            text_of(account_record, "PersonContactId").and_then(|id| RecordId::parse(&id).ok())
        else {
            return;
        };
        let Some((table, row)) = self.by_id.get(&contact_id).copied() else {
            return;
        };
        let mut contact = self.tables[table as usize].rows[row as usize].clone();
        for (account_field, contact_field) in PERSON_FIELDS {
            match account_record.get(*account_field) {
                Some(value) => contact.insert((*contact_field).to_string(), value.clone()),
                None => contact.remove(*contact_field),
            };
        }
        let (now, now_ms) = now_parts();
        contact.insert("LastModifiedDate".to_string(), json!(now));
        contact.insert("SystemModstamp".to_string(), json!(now));
        contact.insert("LastModifiedById".to_string(), json!(acting.as_str()));
        self.compute_derived(table as usize, &mut contact);
        self.replace_row(table as usize, row, contact, now_ms, journal);
        self.note_write(contact_id);
    }

    /// Finds a live record of `object` by an Id given in a URL or body.
    pub(crate) fn locate(&self, table: usize, id_text: &str) -> Result<(RecordId, u32), ApiError> {
        let id = RecordId::parse(id_text).map_err(|_| ApiError::malformed_record_id(id_text))?;
        match self.by_id.get(&id) {
            Some((found_table, row)) if *found_table as usize == table => {
                if is_deleted(&self.tables[table].rows[*row as usize]) {
                    Err(ApiError::entity_is_deleted())
                } else {
                    Ok((id, *row))
                }
            }
            _ if id.key_prefix() != self.tables[table].def.key_prefix => {
                Err(ApiError::malformed_record_id(id_text))
            }
            _ => Err(ApiError::not_found()),
        }
    }

    /// Restores a record from the recycle bin, as Salesforce's `undelete` call (SOAP API,
    /// Apex DML) does: it is live again with a new `SystemModstamp`, so sync by
    /// `SystemModstamp` sees it come back. The REST API has no resource for it; tests call
    /// it on the org, so its refusals are plain messages, not REST error bodies.
    pub fn undelete(
        &mut self,
        acting: RecordId,
        object: &str,
        id: &str,
        journal: &mut Journal,
    ) -> Result<(), String> {
        let table = self
            .table_of(object)
            .ok_or_else(|| format!("no object {object:?}"))?;
        let parsed = RecordId::parse(id).map_err(|_| format!("{id:?} is not a record Id"))?;
        let row = match self.by_id.get(&parsed) {
            Some((found, row)) if *found as usize == table => *row,
            _ => return Err(format!("no {object} {id}")),
        };
        let mut record = self.tables[table].rows[row as usize].clone();
        if !is_deleted(&record) {
            return Err(format!("{object} {id} is not in the recycle bin"));
        }
        let (now, now_ms) = now_parts();
        record.insert("IsDeleted".to_string(), json!(false));
        record.insert("SystemModstamp".to_string(), json!(now));
        record.insert("LastModifiedById".to_string(), json!(acting.as_str()));
        self.replace_row(table, row, record, now_ms, journal);
        self.note_write(parsed);
        Ok(())
    }

    /// Updates a record as `acting`, with Salesforce's validation.
    pub fn update(
        &mut self,
        acting: RecordId,
        object: &str,
        id: &str,
        body: &Map<String, Value>,
        journal: &mut Journal,
    ) -> Result<(), RecordErrors> {
        let table = self.resolve_object(object).map_err(|error| error.errors)?;
        let (record_id, row) = self.locate(table, id).map_err(|error| error.errors)?;
        self.check_field_names(table, body, false)?;
        let before = self.tables[table].rows[row as usize].clone();
        let mut record = before.clone();
        self.apply_values(table, body, &mut record)?;
        let object_name = self.tables[table].def.name.clone();
        if object_name == "Account" {
            let person = before.get("IsPersonAccount") == Some(&Value::Bool(true));
            let bad: Vec<&str> = if person {
                body.keys()
                    .filter(|key| key.eq_ignore_ascii_case("Name"))
                    .map(|_| "Name")
                    .collect()
            } else {
                PERSON_ONLY_FIELDS
                    .iter()
                    .copied()
                    .filter(|field| body.keys().any(|key| key.eq_ignore_ascii_case(field)))
                    .collect()
            };
            if !bad.is_empty() {
                return Err(vec![ErrorItem::with_fields(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    format!(
                        "Account: bad field names on insert/update call: {}",
                        bad.join(", ")
                    ),
                    &bad,
                )]);
            }
        }
        let missing = self.missing_required(table, &record);
        let def = &self.tables[table].def;
        let cleared_required: Vec<String> = missing
            .into_iter()
            .filter(|name| {
                before.contains_key(name) || def.field(name).is_some_and(|field| !field.nillable)
            })
            .collect();
        let mut cleared_not_nillable: Vec<String> = body
            .iter()
            .filter(|(_, value)| value.is_null() || value.as_str() == Some(""))
            .filter_map(|(key, _)| def.field(key))
            .filter(|field| !field.nillable && field.updateable)
            .map(|field| field.name.clone())
            .collect();
        cleared_not_nillable.extend(cleared_required);
        cleared_not_nillable.sort();
        cleared_not_nillable.dedup();
        if !cleared_not_nillable.is_empty() {
            return Err(vec![required_missing(&cleared_not_nillable)]);
        }
        let changed: Vec<String> = body
            .keys()
            .filter_map(|key| def.field(key))
            .map(|field| field.name.clone())
            .collect();
        self.check_references(table, &record, &changed)?;
        self.compute_derived(table, &mut record);
        self.check_rules(table, &record)?;
        self.check_unique(table, &record, Some(row))?;
        let (now, now_ms) = now_parts();
        record.insert("LastModifiedDate".to_string(), json!(now));
        record.insert("SystemModstamp".to_string(), json!(now));
        record.insert("LastModifiedById".to_string(), json!(acting.as_str()));
        let person = record.get("IsPersonAccount") == Some(&Value::Bool(true));
        self.replace_row(table, row, record.clone(), now_ms, journal);
        self.note_write(record_id);
        if object_name == "Account" && person {
            self.sync_person_contact(&record, acting, journal);
        }
        Ok(())
    }

    /// Deletes (moves to the recycle bin) a record as `acting`.
    pub fn delete(
        &mut self,
        acting: RecordId,
        object: &str,
        id: &str,
        journal: &mut Journal,
    ) -> Result<(), ApiError> {
        let table = self.resolve_object(object)?;
        let (record_id, row) = self.locate(table, id)?;
        let mut record = self.tables[table].rows[row as usize].clone();
        let (now, now_ms) = now_parts();
        record.insert("IsDeleted".to_string(), json!(true));
        record.insert("LastModifiedDate".to_string(), json!(now));
        record.insert("SystemModstamp".to_string(), json!(now));
        record.insert("LastModifiedById".to_string(), json!(acting.as_str()));
        let person_contact = text_of(&record, "PersonContactId");
        self.replace_row(table, row, record, now_ms, journal);
        self.tables[table].deletions.push((record_id, now_ms));
        journal.steps.push(Undo::DeletionLogged { table });
        self.note_write(record_id);
        if let Some(contact) = person_contact {
            // A person account's Contact goes with it.
            let _ = self.delete(acting, "Contact", &contact, journal);
        }
        Ok(())
    }

    /// Converts a lead as Salesforce's lead conversion does: a new Account named after the
    /// Company, a new Contact with the person's names, phones and email on it, and the lead
    /// marked `IsConverted` with `ConvertedAccountId`, `ConvertedContactId`,
    /// `ConvertedDate` and the converted status. (The REST API has no conversion resource;
    /// this is for tests and the admin endpoint.)
    pub fn convert_lead(
        &mut self,
        acting: RecordId,
        lead: &str,
        journal: &mut Journal,
    ) -> Result<(RecordId, RecordId), RecordErrors> {
        let table = self.resolve_object("Lead").map_err(|error| error.errors)?;
        let (lead_id, row) = self.locate(table, lead).map_err(|error| error.errors)?;
        let record = self.tables[table].rows[row as usize].clone();
        if record.get("IsConverted") == Some(&Value::Bool(true)) {
            return Err(vec![ErrorItem::with_fields(
                "CONVERT_LEAD_ERROR",
                "The lead has already been converted",
                &[],
            )]);
        }
        let mut account = Map::new();
        account.insert(
            "Name".to_string(),
            record
                .get("Company")
                .cloned()
                .unwrap_or(json!("Converted lead")),
        );
        if let Some(phone) = record.get("Phone") {
            account.insert("Phone".to_string(), phone.clone());
        }
        let account_id = self.create(acting, "Account", &account, journal)?;
        let mut contact = Map::new();
        for field in [
            "FirstName",
            "LastName",
            "Salutation",
            "Title",
            "Phone",
            "MobilePhone",
            "Email",
            "LeadSource",
        ] {
            if let Some(value) = record.get(field) {
                contact.insert(field.to_string(), value.clone());
            }
        }
        contact.insert("AccountId".to_string(), json!(account_id.as_str()));
        let contact_id = self.create(acting, "Contact", &contact, journal)?;
        let mut converted = record;
        let (now, now_ms) = now_parts();
        converted.insert("IsConverted".to_string(), json!(true));
        converted.insert("Status".to_string(), json!("Closed - Converted"));
        converted.insert("ConvertedAccountId".to_string(), json!(account_id.as_str()));
        converted.insert("ConvertedContactId".to_string(), json!(contact_id.as_str()));
        converted.insert(
            "ConvertedDate".to_string(),
            json!(now.get(..10).unwrap_or_default()),
        );
        converted.insert("LastModifiedDate".to_string(), json!(now));
        converted.insert("SystemModstamp".to_string(), json!(now));
        converted.insert("LastModifiedById".to_string(), json!(acting.as_str()));
        self.replace_row(table, row, converted, now_ms, journal);
        self.note_write(lead_id);
        Ok((account_id, contact_id))
    }

    /// Runs `operation` with a journal; when it fails the writes are undone.
    pub fn atomically<T, E>(
        &mut self,
        operation: impl FnOnce(&mut OrgState, &mut Journal) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut journal = Journal::default();
        let result = operation(self, &mut journal);
        if result.is_err() {
            self.rollback(journal);
        }
        result
    }

    /// Undoes everything a journal recorded.
    pub fn undo(&mut self, journal: Journal) {
        self.rollback(journal);
    }

    // ----- Configuration -----

    /// Adds a custom field. The name must end in `__c` and be new on the object.
    pub fn add_custom_field(&mut self, field: CustomField) -> Result<(), String> {
        if !field.name.ends_with("__c") {
            return Err(format!("custom field names end in __c: {}", field.name));
        }
        let table = self
            .table_of(&field.object)
            .ok_or_else(|| format!("no object {}", field.object))?;
        if self.tables[table].def.field(&field.name).is_some() {
            return Err(format!("{}.{} exists", field.object, field.name));
        }
        self.tables[table].def.push_field(field.to_field_def());
        self.tables[table].reindex_fields();
        self.custom_fields.push(field);
        Ok(())
    }

    /// Adds a validation rule.
    pub fn add_validation_rule(&mut self, rule: ValidationRule) {
        self.validation_rules.push(rule);
    }

    /// Removes every validation rule.
    pub fn clear_validation_rules(&mut self) {
        self.validation_rules.clear();
    }

    /// Adds a duplicate rule (checked on create).
    pub fn add_duplicate_rule(&mut self, rule: DuplicateRule) {
        self.duplicate_rules.push(rule);
    }

    /// Removes every duplicate rule.
    pub fn clear_duplicate_rules(&mut self) {
        self.duplicate_rules.clear();
    }

    /// Activates a Lead assignment rule that gives every Lead created with
    /// `Sforce-Auto-Assign` on (the default) to `owner`; `None` deactivates it.
    pub fn set_lead_assignment_rule(&mut self, owner: Option<RecordId>) {
        self.lead_assignment_owner = owner;
    }

    /// Replaces the org's task statuses (the Task.Status picklist).
    pub fn set_task_statuses(&mut self, statuses: Vec<TaskStatus>) {
        if let Some(table) = self.table_of("Task") {
            let mut def = schema::task(&statuses);
            for custom in self
                .custom_fields
                .iter()
                .filter(|custom| custom.object.eq_ignore_ascii_case("Task"))
            {
                def.push_field(custom.to_field_def());
            }
            self.tables[table].def = def;
            self.tables[table].reindex_fields();
        }
        self.task_statuses = statuses;
    }

    /// The org's task statuses.
    pub fn task_statuses(&self) -> &[TaskStatus] {
        &self.task_statuses
    }

    /// Adds a user; returns its Id.
    pub fn add_user(&mut self, user: &NewUser) -> RecordId {
        let admin = self.admin_user;
        self.insert_user(user, Some(admin))
    }

    /// How long SOSL's index lags writes.
    pub fn search_index_lag(&self) -> Duration {
        self.search_index_lag
    }

    /// Sets how long SOSL's index lags writes.
    pub fn set_search_index_lag(&mut self, lag: Duration) {
        self.search_index_lag = lag;
    }

    /// Every record of every object, deleted ones included, for dumps.
    pub fn dump(&self) -> Value {
        let mut out = Map::new();
        for table in &self.tables {
            out.insert(
                table.def.name.clone(),
                Value::Array(table.rows.iter().cloned().map(Value::Object).collect()),
            );
        }
        Value::Object(out)
    }

    /// How many records the org holds (live and deleted).
    pub fn total_records(&self) -> usize {
        self.by_id.len()
    }
}

fn required_missing(fields: &[String]) -> ErrorItem {
    // mappings/create-required-field-missing.json: "Required fields are missing: [Website__c]".
    let names: Vec<&str> = fields.iter().map(String::as_str).collect();
    ErrorItem::with_fields(
        "REQUIRED_FIELD_MISSING",
        format!("Required fields are missing: [{}]", names.join(", ")),
        &names,
    )
}

fn is_deleted(record: &Record) -> bool {
    record.get("IsDeleted") == Some(&Value::Bool(true))
}

impl QuerySource for OrgState {
    /// SOSL without `RETURNING` searches every object (REST API Developer Guide,
    /// dome_search: `FIND {Acme}` answers Accounts). The trait's default is none, which made
    /// such a search find nothing.
    fn object_names(&self) -> Vec<String> {
        self.object_defs().map(|def| def.name.clone()).collect()
    }

    fn child_relationship(
        &self,
        parent: &str,
        relationship: &str,
    ) -> Option<(String, String, String)> {
        crate::schema::child_relationship(parent, relationship)
    }

    fn object(&self, name: &str) -> Option<ObjectInfo> {
        self.object_def(name).map(|def| ObjectInfo {
            name: def.name.clone(),
            key_prefix: def.key_prefix.clone(),
        })
    }

    fn fields(&self, object: &str) -> Vec<FieldInfo> {
        self.object_def(object)
            .map(|def| {
                def.fields
                    .iter()
                    .map(|field| FieldInfo {
                        name: field.name.clone(),
                        field_type: field.field_type.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn field(&self, object: &str, field: &str) -> Option<FieldInfo> {
        let def = self.object_def(object)?;
        let field = def.field(field)?;
        Some(FieldInfo {
            name: field.name.clone(),
            field_type: field.field_type.clone(),
        })
    }

    fn records<'a>(
        &'a self,
        object: &str,
        include_deleted: bool,
    ) -> Box<dyn Iterator<Item = &'a Record> + 'a> {
        match self.table_of(object) {
            Some(table) => {
                let rows = self.tables[table].rows.iter();
                if include_deleted {
                    Box::new(rows)
                } else {
                    Box::new(rows.filter(|record| !is_deleted(record)))
                }
            }
            None => Box::new(std::iter::empty()),
        }
    }

    fn record_by_id<'a>(&'a self, id: &str) -> Option<(&'a str, &'a Record)> {
        let id = RecordId::parse(id).ok()?;
        self.lookup(&id)
    }

    fn records_stamped_since<'a>(
        &'a self,
        object: &str,
        include_deleted: bool,
        since_ms: i64,
    ) -> Option<Box<dyn Iterator<Item = &'a Record> + 'a>> {
        let table = &self.tables[self.table_of(object)?];
        let rows = table
            .rows_since(since_ms)
            .into_iter()
            .map(|row| &table.rows[row as usize])
            .filter(move |record| include_deleted || !is_deleted(record));
        Some(Box::new(rows))
    }

    fn is_searchable(&self, _object: &str, record: &Record) -> bool {
        if self.search_index_lag.is_zero() {
            return true;
        }
        let Some(id) = record
            .get("Id")
            .and_then(Value::as_str)
            .and_then(|id| RecordId::parse(id).ok())
        else {
            return true;
        };
        match self.recent_writes.get(&id) {
            Some(when) => when.elapsed() >= self.search_index_lag,
            None => true,
        }
    }
}

impl Org {
    /// A fresh org with the standard schema and the admin user.
    pub fn new(seed: u64, search_index_lag: Duration) -> Org {
        Org {
            state: RwLock::new(OrgState::new(seed, search_index_lag)),
        }
    }

    pub(crate) fn from_state(state: OrgState) -> Org {
        Org {
            state: RwLock::new(state),
        }
    }

    /// Shared read access (queries, describe, tests).
    pub fn read(&self) -> RwLockReadGuard<'_, OrgState> {
        // A panic while holding the lock leaves the data as consistent as the journal
        // made it; keep serving rather than poisoning every later request.
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Exclusive access for writes.
    pub fn write(&self) -> RwLockWriteGuard<'_, OrgState> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The admin user's Id.
    pub fn admin_user(&self) -> RecordId {
        self.read().admin_user()
    }

    /// Creates a record as `acting` (validated like the REST API).
    pub fn insert(
        &self,
        acting: RecordId,
        object: &str,
        fields: Value,
    ) -> Result<RecordId, RecordErrors> {
        let Value::Object(body) = fields else {
            return Err(vec![ErrorItem::new(
                "JSON_PARSER_ERROR",
                "the record must be a JSON object",
            )]);
        };
        self.write()
            .atomically(|state, journal| state.create(acting, object, &body, journal))
    }

    /// Updates a record as `acting` (validated like the REST API).
    pub fn update(
        &self,
        acting: RecordId,
        object: &str,
        id: &str,
        fields: Value,
    ) -> Result<(), RecordErrors> {
        let Value::Object(body) = fields else {
            return Err(vec![ErrorItem::new(
                "JSON_PARSER_ERROR",
                "the record must be a JSON object",
            )]);
        };
        self.write()
            .atomically(|state, journal| state.update(acting, object, id, &body, journal))
    }

    /// Deletes a record as `acting`.
    pub fn delete(&self, acting: RecordId, object: &str, id: &str) -> Result<(), ApiError> {
        self.write()
            .atomically(|state, journal| state.delete(acting, object, id, journal))
    }

    /// A record with every field (nulls included), or `None`.
    pub fn get(&self, id: &str) -> Option<Value> {
        let state = self.read();
        let id = RecordId::parse(id).ok()?;
        let (object, record) = state.lookup(&id)?;
        Some(state.render(object, record, None, crate::DEFAULT_API_VERSION))
    }

    /// Records of `object` (live only), as stored (null fields absent).
    pub fn records(&self, object: &str) -> Vec<Record> {
        self.read().records(object, false).cloned().collect()
    }

    /// Adds a user and returns its Id.
    pub fn add_user(&self, user: &NewUser) -> RecordId {
        self.write().add_user(user)
    }

    /// Adds a custom field.
    pub fn add_custom_field(&self, field: CustomField) -> Result<(), String> {
        self.write().add_custom_field(field)
    }

    /// Adds a validation rule.
    pub fn add_validation_rule(&self, rule: ValidationRule) {
        self.write().add_validation_rule(rule);
    }

    /// Adds a duplicate rule.
    pub fn add_duplicate_rule(&self, rule: DuplicateRule) {
        self.write().add_duplicate_rule(rule);
    }

    /// Activates (or, with `None`, deactivates) the Lead assignment rule.
    pub fn set_lead_assignment_rule(&self, owner: Option<RecordId>) {
        self.write().set_lead_assignment_rule(owner);
    }

    /// Replaces the task statuses.
    pub fn set_task_statuses(&self, statuses: Vec<TaskStatus>) {
        self.write().set_task_statuses(statuses);
    }

    /// Restores a deleted record from the recycle bin (see [`OrgState::undelete`]).
    pub fn undelete(&self, acting: RecordId, object: &str, id: &str) -> Result<(), String> {
        self.write()
            .atomically(|state, journal| state.undelete(acting, object, id, journal))
    }

    /// Converts a lead into a new Account and Contact (see [`OrgState::convert_lead`]).
    pub fn convert_lead(
        &self,
        acting: RecordId,
        lead: &str,
    ) -> Result<(RecordId, RecordId), RecordErrors> {
        self.write()
            .atomically(|state, journal| state.convert_lead(acting, lead, journal))
    }

    /// Every record, for inspection.
    pub fn dump(&self) -> Value {
        self.read().dump()
    }
}

/// The state saved to a file (`--data`): configuration plus every record.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SavedState {
    pub org_id: String,
    pub sequence: u64,
    pub task_statuses: Vec<TaskStatus>,
    pub custom_fields: Vec<CustomField>,
    pub validation_rules: Vec<ValidationRule>,
    #[serde(default)]
    pub duplicate_rules: Vec<DuplicateRule>,
    #[serde(default)]
    pub lead_assignment_owner: Option<String>,
    pub logins: Vec<(String, Login)>,
    pub admin_user: String,
    pub search_index_lag_ms: u64,
    /// Object name → rows.
    pub records: Vec<(String, Vec<Record>)>,
    pub deletions: Vec<(String, Vec<(String, i64)>)>,
}

impl OrgState {
    pub(crate) fn save(&self) -> SavedState {
        SavedState {
            org_id: self.org_id.to_string(),
            sequence: self.sequence,
            task_statuses: self.task_statuses.clone(),
            custom_fields: self.custom_fields.clone(),
            validation_rules: self.validation_rules.clone(),
            duplicate_rules: self.duplicate_rules.clone(),
            lead_assignment_owner: self.lead_assignment_owner.map(|id| id.to_string()),
            logins: self
                .logins
                .iter()
                .map(|(id, login)| (id.to_string(), login.clone()))
                .collect(),
            admin_user: self.admin_user.to_string(),
            search_index_lag_ms: self.search_index_lag.as_millis() as u64,
            records: self
                .tables
                .iter()
                .map(|table| (table.def.name.clone(), table.rows.clone()))
                .collect(),
            deletions: self
                .tables
                .iter()
                .map(|table| {
                    (
                        table.def.name.clone(),
                        table
                            .deletions
                            .iter()
                            .map(|(id, when)| (id.to_string(), *when))
                            .collect(),
                    )
                })
                .collect(),
        }
    }

    pub(crate) fn load(saved: SavedState) -> Result<OrgState, String> {
        let parse = |text: &str| RecordId::parse(text).map_err(|error| format!("{text}: {error}"));
        let mut state = OrgState::new(0, Duration::from_millis(saved.search_index_lag_ms));
        state.set_task_statuses(saved.task_statuses);
        for field in saved.custom_fields {
            state.add_custom_field(field)?;
        }
        state.validation_rules = saved.validation_rules;
        state.duplicate_rules = saved.duplicate_rules;
        state.lead_assignment_owner = saved
            .lead_assignment_owner
            .as_deref()
            .map(parse)
            .transpose()?;
        state.org_id = parse(&saved.org_id)?;
        state.admin_user = parse(&saved.admin_user)?;
        state.sequence = saved.sequence;
        state.logins.clear();
        for (id, login) in saved.logins {
            state.logins.insert(parse(&id)?, login);
        }
        state.by_id.clear();
        for table in &mut state.tables {
            table.rows.clear();
            table.stamps.clear();
            table.by_stamp.clear();
        }
        for (object, rows) in saved.records {
            let table = state
                .table_of(&object)
                .ok_or_else(|| format!("unknown object {object}"))?;
            for record in rows {
                let id = record
                    .get("Id")
                    .and_then(Value::as_str)
                    .map(parse)
                    .transpose()?
                    .ok_or("a record without Id")?;
                let stamp = record
                    .get("SystemModstamp")
                    .and_then(Value::as_str)
                    .and_then(parse_datetime)
                    .map(|timestamp| timestamp.as_millisecond())
                    .unwrap_or_default();
                let table_ref = &mut state.tables[table];
                let row = table_ref.rows.len() as u32;
                table_ref.rows.push(record);
                table_ref.push_stamp(stamp);
                state.by_id.insert(id, (table as u16, row));
            }
        }
        for (object, deletions) in saved.deletions {
            let table = state
                .table_of(&object)
                .ok_or_else(|| format!("unknown object {object}"))?;
            state.tables[table].deletions = deletions
                .into_iter()
                .map(|(id, when)| parse(&id).map(|id| (id, when)))
                .collect::<Result<_, _>>()?;
        }
        for table in &mut state.tables {
            table.reindex_fields();
        }
        Ok(state)
    }
}

/// A shared handle to the org.
pub type OrgHandle = Arc<Org>;

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> Org {
        Org::new(1, Duration::ZERO)
    }

    #[test]
    fn a_contact_without_last_name_is_refused_with_required_field_missing() {
        let org = org();
        let admin = org.admin_user();
        let errors = org
            .insert(admin, "Contact", json!({"FirstName": "Taro"}))
            .unwrap_err();
        assert_eq!(errors[0].error_code, "REQUIRED_FIELD_MISSING");
        assert_eq!(errors[0].message, "Required fields are missing: [LastName]");
    }

    #[test]
    fn a_person_account_gets_a_hidden_contact_with_its_phones() {
        let org = org();
        let admin = org.admin_user();
        let id = org
            .insert(admin, "Account", json!({"LastName": "Yamada", "FirstName": "Hanako", "PersonMobilePhone": "090-1234-5678"}))
            .unwrap();
        let account = org.get(id.as_str()).unwrap();
        assert_eq!(account["IsPersonAccount"], json!(true));
        assert_eq!(account["Name"], json!("Hanako Yamada"));
        let contact = org
            .get(account["PersonContactId"].as_str().unwrap())
            .unwrap();
        assert_eq!(contact["MobilePhone"], json!("090-1234-5678"));
        assert_eq!(contact["AccountId"], json!(id.as_str()));
        org.update(
            admin,
            "Account",
            id.as_str(),
            json!({"PersonMobilePhone": "080-0000-0000"}),
        )
        .unwrap();
        let contact = org
            .get(account["PersonContactId"].as_str().unwrap())
            .unwrap();
        assert_eq!(contact["MobilePhone"], json!("080-0000-0000"));
    }

    #[test]
    fn a_task_on_a_lead_may_not_have_a_what_id() {
        let org = org();
        let admin = org.admin_user();
        let lead = org
            .insert(
                admin,
                "Lead",
                json!({"LastName": "Sato", "Company": "Acme"}),
            )
            .unwrap();
        let account = org
            .insert(admin, "Account", json!({"Name": "Acme"}))
            .unwrap();
        let errors = org
            .insert(
                admin,
                "Task",
                json!({"Subject": "Call", "WhoId": lead.as_str(), "WhatId": account.as_str()}),
            )
            .unwrap_err();
        assert_eq!(errors[0].error_code, "FIELD_INTEGRITY_EXCEPTION");
        let task = org
            .insert(
                admin,
                "Task",
                json!({"Subject": "Call", "WhoId": lead.as_str()}),
            )
            .unwrap();
        let task = org.get(task.as_str()).unwrap();
        assert_eq!(task["Status"], json!("Not Started"));
        assert_eq!(task["IsClosed"], json!(false));
        assert_eq!(task["CreatedById"], json!(admin.as_str()));
    }

    #[test]
    fn a_who_id_of_an_account_is_a_field_integrity_exception() {
        let org = org();
        let admin = org.admin_user();
        let account = org
            .insert(admin, "Account", json!({"Name": "Acme"}))
            .unwrap();
        let errors = org
            .insert(admin, "Task", json!({"WhoId": account.as_str()}))
            .unwrap_err();
        assert_eq!(errors[0].error_code, "FIELD_INTEGRITY_EXCEPTION");
        assert_eq!(errors[0].fields, Some(vec!["WhoId".to_string()]));
    }

    #[test]
    fn all_or_nothing_undoes_every_write_of_a_failed_operation() {
        let org = org();
        let admin = org.admin_user();
        let result: Result<(), RecordErrors> = org.write().atomically(|state, journal| {
            state.create(
                admin,
                "Account",
                json!({"Name": "One"}).as_object().unwrap(),
                journal,
            )?;
            state.create(admin, "Contact", json!({}).as_object().unwrap(), journal)?;
            Ok(())
        });
        assert!(result.is_err());
        assert_eq!(org.read().count("Account"), 0);
    }

    #[test]
    fn a_converted_lead_points_at_its_new_account_and_contact() {
        let org = org();
        let admin = org.admin_user();
        let lead = org
            .insert(
                admin,
                "Lead",
                json!({"LastName": "Mori", "Company": "Mori Shoji", "Phone": "06-1111-2222"}),
            )
            .unwrap();
        let (account, contact) = org.convert_lead(admin, lead.as_str()).unwrap();
        let lead = org.get(lead.as_str()).unwrap();
        assert_eq!(lead["IsConverted"], json!(true));
        assert_eq!(lead["ConvertedContactId"], json!(contact.as_str()));
        assert_eq!(
            org.get(account.as_str()).unwrap()["Name"],
            json!("Mori Shoji")
        );
        assert_eq!(
            org.get(contact.as_str()).unwrap()["Phone"],
            json!("06-1111-2222")
        );
        assert!(
            org.convert_lead(admin, lead["Id"].as_str().unwrap())
                .is_err()
        );
    }

    #[test]
    fn a_subject_longer_than_255_characters_is_string_too_long() {
        let org = org();
        let admin = org.admin_user();
        let errors = org
            .insert(admin, "Task", json!({"Subject": "x".repeat(256)}))
            .unwrap_err();
        assert_eq!(errors[0].error_code, "STRING_TOO_LONG");
        assert!(
            errors[0]
                .message
                .starts_with("Subject: data value too large: ")
        );
    }
}
