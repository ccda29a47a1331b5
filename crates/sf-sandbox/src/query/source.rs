//! What the SOQL/SOSL engine needs to know about the org: the schema and the
//! records. The org (`crate::org`) implements [`QuerySource`]; the engine
//! never reaches into the org's storage, so either side can change freely.

use serde_json::{Map, Value};

/// One stored record: canonical field API names (as `describe` spells them)
/// to values in the JSON form the REST API renders them in:
/// strings, numbers, booleans, `null`; `date` as `"2024-01-31"`; `datetime`
/// as `"2024-01-31T09:30:00.000+0000"`; multi-select picklists as
/// `"A;B"`. `Id` is always present (18 characters).
pub type Record = Map<String, Value>;

/// The Salesforce field types the sandbox models (describe's `type` values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    Id,
    /// A lookup. `relationship_name` is how SOQL reaches the parent
    /// (`Account` for `AccountId`, `Who` for `WhoId`); `targets` are the
    /// objects it may point to (polymorphic when there are several).
    Reference {
        targets: Vec<String>,
        relationship_name: Option<String>,
    },
    String,
    TextArea,
    Phone,
    Email,
    Url,
    Picklist,
    MultiPicklist,
    Boolean,
    Int,
    Double,
    Currency,
    Date,
    DateTime,
}

/// A field as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    /// Canonical API name (`LastModifiedDate`), whatever case the query used.
    pub name: String,
    pub field_type: FieldType,
}

/// An object (sObject type) as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Canonical API name (`Contact`).
    pub name: String,
    /// The 3-character Id prefix (`003` for Contact).
    pub key_prefix: String,
}

/// The org, read-only, as the query engine needs it. Name look-ups are
/// case-insensitive, as Salesforce's are.
pub trait QuerySource {
    fn object(&self, name: &str) -> Option<ObjectInfo>;
    /// Every field of `object`, for `FIELDS(ALL)`-style expansion and for
    /// SOSL's `IN PHONE FIELDS`.
    fn fields(&self, object: &str) -> Vec<FieldInfo>;
    fn field(&self, object: &str, field: &str) -> Option<FieldInfo>;
    /// The live records of `object`; with `include_deleted`, those in the
    /// recycle bin too (`queryAll`), which carry `IsDeleted: true`.
    fn records<'a>(
        &'a self,
        object: &str,
        include_deleted: bool,
    ) -> Box<dyn Iterator<Item = &'a Record> + 'a>;
    /// Any record by Id (15 or 18 characters), with its object's name, for
    /// following parent relationships (`Account.Name`, `Who.Name`).
    fn record_by_id<'a>(&'a self, id: &str) -> Option<(&'a str, &'a Record)>;
    /// Which records SOSL may see: the search index lags writes by a
    /// configurable delay, so a record written a moment ago may be absent.
    fn is_searchable(&self, object: &str, record: &Record) -> bool;

    /// Whether SOSL's `IN NAME FIELDS` searches `field` (canonical name) of `object`.
    /// Added for SOSL with a default that follows the SOSL reference (see
    /// [`is_documented_name_field`]); override it for custom objects' name fields.
    fn is_name_field(&self, object: &str, field: &str) -> bool {
        is_documented_name_field(object, field)
    }

    /// The records of `object` whose `SystemModstamp` is at or after `since_ms` (epoch
    /// milliseconds), in the order [`QuerySource::records`] gives them, when the source
    /// keeps them ordered by it; `None` makes the engine read every record. Added for
    /// queries filtered on `SystemModstamp` (an indexed field in Salesforce), so they
    /// need not scan the object.
    fn records_stamped_since<'a>(
        &'a self,
        _object: &str,
        _include_deleted: bool,
        _since_ms: i64,
    ) -> Option<Box<dyn Iterator<Item = &'a Record> + 'a>> {
        None
    }

    /// Every object's canonical name, for SOSL without `RETURNING` (which searches all
    /// objects). Added for SOSL; the default, no objects, makes such a search find nothing.
    fn object_names(&self) -> Vec<String> {
        Vec::new()
    }

    /// The child relationship `relationship` of `parent` (`Contacts` of Account), for
    /// parent-to-child subqueries: its canonical name, the child object and the child's
    /// lookup field. The default, none, makes every subquery an unknown relationship.
    fn child_relationship(
        &self,
        _parent: &str,
        _relationship: &str,
    ) -> Option<(String, String, String)> {
        None
    }
}

/// The name fields SOSL's `IN NAME FIELDS` searches on the sandbox's standard objects: `Name`,
/// the parts of a person's name it is made of, and the extra fields the SOSL reference lists
/// ("IN SearchGroup": Account `Website`, `Site`, `NameLocal`; Contact `AssistantName`,
/// `FirstNameLocal`, `LastNameLocal`; Lead `Company`, `CompanyLocal`, `FirstNameLocal`,
/// `LastNameLocal`; Task `Subject`; User `CommunityNickname`).
pub fn is_documented_name_field(object: &str, field: &str) -> bool {
    const EVERY_OBJECT: &[&str] = &["Name", "FirstName", "LastName", "MiddleName", "Suffix"];
    const PER_OBJECT: &[(&str, &[&str])] = &[
        (
            "Account",
            &[
                "Website",
                "Site",
                "NameLocal",
                "PersonFirstName",
                "PersonLastName",
            ],
        ),
        (
            "Contact",
            &["AssistantName", "FirstNameLocal", "LastNameLocal"],
        ),
        (
            "Lead",
            &["Company", "CompanyLocal", "FirstNameLocal", "LastNameLocal"],
        ),
        ("Task", &["Subject"]),
        ("User", &["CommunityNickname"]),
    ];
    EVERY_OBJECT
        .iter()
        .any(|name| name.eq_ignore_ascii_case(field))
        || PER_OBJECT.iter().any(|(name, fields)| {
            name.eq_ignore_ascii_case(object)
                && fields.iter().any(|name| name.eq_ignore_ascii_case(field))
        })
}
