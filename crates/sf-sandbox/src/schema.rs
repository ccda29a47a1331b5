//! The org's schema: the standard objects callsync touches (Account with Person Accounts,
//! Contact, Lead, User, Task) with their real field names, types, lengths and picklists,
//! plus custom fields added by configuration. Describe output and write validation are
//! both derived from these definitions, so they cannot disagree.
//!
//! Field facts come from Salesforce's Object Reference (Task, Contact, Account, Lead, User
//! pages): lengths such as Task.Subject 255, Task.Description 32000, Contact.LastName 80,
//! Lead.Company 255, Phone 40.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::query::source::FieldType;

/// One value of a picklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PicklistValue {
    pub value: String,
    pub default: bool,
}

/// A field definition.
#[derive(Debug, Clone)]
pub struct FieldDef {
    pub name: String,
    pub label: String,
    pub field_type: FieldType,
    /// Describe's `type` when it differs from the one `field_type` implies (`combobox`).
    pub describe_type: Option<&'static str>,
    /// Maximum length for text-like fields.
    pub length: u32,
    pub nillable: bool,
    pub createable: bool,
    pub updateable: bool,
    /// Must be given on create (Salesforce's `REQUIRED_FIELD_MISSING`).
    pub required: bool,
    pub picklist: Vec<PicklistValue>,
    pub restricted_picklist: bool,
    pub external_id: bool,
    pub unique: bool,
    pub case_sensitive: bool,
    pub custom: bool,
    /// Computed by the org (Name, IsClosed...), never written by a client.
    pub calculated: bool,
    pub default_value: Option<Value>,
}

impl FieldDef {
    fn new(name: &str, label: &str, field_type: FieldType) -> FieldDef {
        let length = match field_type {
            FieldType::Id | FieldType::Reference { .. } => 18,
            FieldType::Phone => 40,
            FieldType::Email => 80,
            FieldType::Url => 255,
            FieldType::String | FieldType::Picklist => 255,
            FieldType::TextArea => 32_000,
            FieldType::MultiPicklist => 4_099,
            _ => 0,
        };
        FieldDef {
            name: name.to_string(),
            label: label.to_string(),
            field_type,
            describe_type: None,
            length,
            nillable: true,
            createable: true,
            updateable: true,
            required: false,
            picklist: Vec::new(),
            restricted_picklist: false,
            external_id: false,
            unique: false,
            case_sensitive: false,
            custom: false,
            calculated: false,
            default_value: None,
        }
    }

    fn len(mut self, length: u32) -> FieldDef {
        self.length = length;
        self
    }

    fn required(mut self) -> FieldDef {
        self.required = true;
        self.nillable = false;
        self
    }

    fn read_only(mut self) -> FieldDef {
        self.createable = false;
        self.updateable = false;
        self
    }

    fn create_only(mut self) -> FieldDef {
        self.updateable = false;
        self
    }

    fn calculated(mut self) -> FieldDef {
        self.calculated = true;
        self.read_only()
    }

    fn not_nillable(mut self) -> FieldDef {
        self.nillable = false;
        self
    }

    fn with_default(mut self, value: Value) -> FieldDef {
        self.default_value = Some(value);
        self
    }

    fn picklist(mut self, values: &[&str], default: Option<&str>, restricted: bool) -> FieldDef {
        self.picklist = values
            .iter()
            .map(|value| PicklistValue {
                value: (*value).to_string(),
                default: Some(*value) == default,
            })
            .collect();
        self.restricted_picklist = restricted;
        if let Some(default) = default {
            self.default_value = Some(Value::String(default.to_string()));
        }
        self
    }

    /// The objects a reference may point to.
    pub fn reference_targets(&self) -> &[String] {
        match &self.field_type {
            FieldType::Reference { targets, .. } => targets,
            _ => &[],
        }
    }

    /// Describe's `type` string.
    pub fn type_name(&self) -> &'static str {
        if let Some(name) = self.describe_type {
            return name;
        }
        match self.field_type {
            FieldType::Id => "id",
            FieldType::Reference { .. } => "reference",
            FieldType::String => "string",
            FieldType::TextArea => "textarea",
            FieldType::Phone => "phone",
            FieldType::Email => "email",
            FieldType::Url => "url",
            FieldType::Picklist => "picklist",
            FieldType::MultiPicklist => "multipicklist",
            FieldType::Boolean => "boolean",
            FieldType::Int => "int",
            FieldType::Double => "double",
            FieldType::Currency => "currency",
            FieldType::Date => "date",
            FieldType::DateTime => "datetime",
        }
    }

    fn is_text(&self) -> bool {
        matches!(
            self.field_type,
            FieldType::String
                | FieldType::TextArea
                | FieldType::Phone
                | FieldType::Email
                | FieldType::Url
                | FieldType::Picklist
                | FieldType::MultiPicklist
                | FieldType::Id
                | FieldType::Reference { .. }
        )
    }

    /// The field as `describe` renders it.
    pub fn describe(&self) -> Value {
        let (reference_to, relationship_name, polymorphic) = match &self.field_type {
            FieldType::Reference {
                targets,
                relationship_name,
            } => (
                json!(targets),
                json!(relationship_name),
                // Task.WhatId points to many objects in Salesforce (Object Reference, Task)
                // even though the sandbox only has Account among them.
                targets.len() > 1 || self.name == "WhatId",
            ),
            _ => (json!([]), Value::Null, false),
        };
        let soap_type = match self.field_type {
            FieldType::Id | FieldType::Reference { .. } => "tns:ID",
            FieldType::Boolean => "xsd:boolean",
            FieldType::Int => "xsd:int",
            FieldType::Double | FieldType::Currency => "xsd:double",
            FieldType::Date => "xsd:date",
            FieldType::DateTime => "xsd:dateTime",
            _ => "xsd:string",
        };
        let picklist_values: Vec<Value> = self
            .picklist
            .iter()
            .map(|value| {
                json!({"active": true, "defaultValue": value.default, "label": value.value,
                       "validFor": null, "value": value.value})
            })
            .collect();
        let is_text = self.is_text();
        let mut described = json!({
            "aggregatable": !matches!(self.field_type, FieldType::TextArea),
            "autoNumber": false,
            "byteLength": if is_text { self.length * 3 } else { 0 },
            "calculated": self.calculated,
            "caseSensitive": self.case_sensitive,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": self.default_value.clone().filter(|_| !self.picklist.is_empty() || matches!(self.field_type, FieldType::Boolean)),
            "defaultedOnCreate": self.default_value.is_some() || !self.nillable && !self.required && !self.createable,
            "digits": 0,
            "externalId": self.external_id,
            "filterable": !matches!(self.field_type, FieldType::TextArea),
            "groupable": !matches!(self.field_type, FieldType::TextArea | FieldType::Double | FieldType::DateTime),
            "idLookup": self.name == "Id" || self.external_id || self.name == "Username",
            "label": self.label,
            "length": if is_text { self.length } else { 0 },
            "name": self.name,
            "nameField": self.name == "Name",
            "nillable": self.nillable,
            "picklistValues": picklist_values,
            "polymorphicForeignKey": polymorphic,
            "precision": if matches!(self.field_type, FieldType::Double | FieldType::Currency) { 18 } else { 0 },
            "referenceTo": reference_to,
            "relationshipName": relationship_name,
            "restrictedPicklist": self.restricted_picklist,
            "scale": 0,
            "soapType": soap_type,
            "sortable": !matches!(self.field_type, FieldType::TextArea | FieldType::MultiPicklist),
            "type": self.type_name(),
            "unique": self.unique,
            "updateable": self.updateable,
        });
        // The rest of a field's keys in API 44.0 (nettolicious/go-sfdc
        // sobject/describe_test.go, a recorded Account describe), at the values a standard,
        // unencrypted, non-formula field has. (Inserted apart: one json! this large passes
        // the macro's recursion limit.)
        let rest = [
            ("aiPredictionField", json!(false)),
            ("calculatedFormula", json!(null)),
            ("cascadeDelete", json!(false)),
            ("compoundFieldName", json!(null)),
            ("controllerName", json!(null)),
            ("defaultValueFormula", json!(null)),
            ("dependentPicklist", json!(false)),
            ("deprecatedAndHidden", json!(false)),
            ("displayLocationInDecimal", json!(false)),
            ("encrypted", json!(false)),
            ("extraTypeInfo", json!(null)),
            ("filteredLookupInfo", json!(null)),
            ("formulaTreatNullNumberAsZero", json!(false)),
            ("highScaleNumber", json!(false)),
            ("htmlFormatted", json!(false)),
            ("inlineHelpText", json!(null)),
            ("mask", json!(null)),
            ("maskType", json!(null)),
            ("namePointing", json!(polymorphic)),
            ("permissionable", json!(self.nillable && self.updateable)),
            ("queryByDistance", json!(false)),
            ("referenceTargetField", json!(null)),
            ("relationshipOrder", json!(null)),
            ("restrictedDelete", json!(false)),
            ("searchPrefilterable", json!(false)),
            ("writeRequiresMasterRead", json!(false)),
        ];
        if let Some(object) = described.as_object_mut() {
            for (key, value) in rest {
                object.insert(key.to_string(), value);
            }
        }
        described
    }
}

/// Child relationships the Object Reference names: (parent, child, field, relationship).
const CHILD_RELATIONSHIPS: &[(&str, &str, &str, &str)] = &[
    ("Account", "Contact", "AccountId", "Contacts"),
    ("Account", "Task", "WhatId", "Tasks"),
    ("Account", "Account", "ParentId", "ChildAccounts"),
    ("Contact", "Task", "WhoId", "Tasks"),
    ("Lead", "Task", "WhoId", "Tasks"),
];

/// The child relationship `relationship` of `parent`, case-insensitively: (canonical
/// relationship name, child object, child's lookup field).
pub(crate) fn child_relationship(
    parent: &str,
    relationship: &str,
) -> Option<(String, String, String)> {
    CHILD_RELATIONSHIPS
        .iter()
        .find(|(owner, _, _, name)| {
            owner.eq_ignore_ascii_case(parent) && name.eq_ignore_ascii_case(relationship)
        })
        .map(|(_, child, field, name)| {
            (
                (*name).to_string(),
                (*child).to_string(),
                (*field).to_string(),
            )
        })
}

/// The Master record type every object has (REST API Developer Guide, sObject Describe:
/// `012000000000000AAA`).
const MASTER_RECORD_TYPE: &str = "012000000000000AAA";

/// An object definition.
#[derive(Debug, Clone)]
pub struct ObjectDef {
    pub name: String,
    pub label: String,
    pub label_plural: String,
    pub key_prefix: String,
    pub fields: Vec<FieldDef>,
    index: HashMap<String, usize>,
}

impl ObjectDef {
    fn new(
        name: &str,
        label: &str,
        label_plural: &str,
        key_prefix: &str,
        fields: Vec<FieldDef>,
    ) -> ObjectDef {
        let mut object = ObjectDef {
            name: name.to_string(),
            label: label.to_string(),
            label_plural: label_plural.to_string(),
            key_prefix: key_prefix.to_string(),
            fields: Vec::new(),
            index: HashMap::new(),
        };
        for field in fields {
            object.push_field(field);
        }
        object
    }

    pub(crate) fn push_field(&mut self, field: FieldDef) {
        self.index
            .insert(field.name.to_ascii_lowercase(), self.fields.len());
        self.fields.push(field);
    }

    /// A field by name, case-insensitively.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.index
            .get(&name.to_ascii_lowercase())
            .map(|position| &self.fields[*position])
    }

    /// Global describe's entry for this object.
    pub fn describe_summary(&self, version: &str) -> Value {
        let base = format!("/services/data/v{version}/sobjects/{}", self.name);
        let mut summary = json!({
            "activateable": false, "createable": true, "custom": false, "customSetting": false,
            "deletable": true, "deprecatedAndHidden": false, "feedEnabled": true,
            "keyPrefix": self.key_prefix, "label": self.label, "labelPlural": self.label_plural,
            "layoutable": true, "mergeable": self.name != "Task" && self.name != "User",
            "mruEnabled": true, "name": self.name, "queryable": true, "replicateable": true,
            "retrieveable": true, "searchable": true, "triggerable": true, "undeletable": true,
            "updateable": true,
            "urls": {
                "sobject": base,
                "describe": format!("{base}/describe"),
                "rowTemplate": format!("{base}/{{ID}}"),
            },
        });
        // mruEnabled is absent from API 23.0's and 26.0's answers (restforce
        // spec/fixtures/sobject/describe_sobjects_success_response.json; the guide's v26.0
        // dome_describeGlobal example) and present by 44.0 (the go-sfdc recording); the
        // sandbox adds it from 27.0, the first version not seen without it.
        let major: u32 = version
            .split('.')
            .next()
            .and_then(|major| major.parse().ok())
            .unwrap_or(u32::MAX);
        if major < 27
            && let Some(object) = summary.as_object_mut()
        {
            object.remove("mruEnabled");
        }
        summary
    }

    /// The object's full describe.
    pub fn describe(&self, version: &str) -> Value {
        let mut summary = self.describe_summary(version);
        let fields: Vec<Value> = self.fields.iter().map(FieldDef::describe).collect();
        let base = format!("/services/data/v{version}/sobjects/{}", self.name);
        let children: Vec<Value> = CHILD_RELATIONSHIPS
            .iter()
            .filter(|(parent, ..)| *parent == self.name)
            .map(|(_, child, field, relationship)| {
                json!({"cascadeDelete": false, "childSObject": child, "deprecatedAndHidden": false,
                       "field": field, "junctionIdListNames": [], "junctionReferenceTo": [],
                       "relationshipName": relationship, "restrictedDelete": false})
            })
            .collect();
        let plural = self.label_plural.to_lowercase();
        // The keys of a full describe in API 44.0 (nettolicious/go-sfdc
        // sobject/describe_test.go, a recorded Account describe).
        if let Some(object) = summary.as_object_mut() {
            object.insert("fields".to_string(), Value::Array(fields));
            object.insert("childRelationships".to_string(), Value::Array(children));
            object.insert(
                "recordTypeInfos".to_string(),
                json!([{"active": true, "available": true, "defaultRecordTypeMapping": true,
                        "developerName": "Master", "master": true, "name": "Master",
                        "recordTypeId": MASTER_RECORD_TYPE,
                        "urls": {"layout": format!("{base}/describe/layouts/{MASTER_RECORD_TYPE}")}}]),
            );
            object.insert("searchLayoutable".to_string(), json!(true));
            object.insert("actionOverrides".to_string(), json!([]));
            object.insert("compactLayoutable".to_string(), json!(true));
            // Account has the person-account subtype.
            object.insert("hasSubtypes".to_string(), json!(self.name == "Account"));
            object.insert("isSubtype".to_string(), json!(false));
            object.insert("listviewable".to_string(), Value::Null);
            object.insert("lookupLayoutable".to_string(), Value::Null);
            object.insert("namedLayoutInfos".to_string(), json!([]));
            object.insert("networkScopeFieldName".to_string(), Value::Null);
            object.insert(
                "supportedScopes".to_string(),
                json!([{"label": format!("All {plural}"), "name": "everything"},
                       {"label": format!("My {plural}"), "name": "mine"}]),
            );
            object.insert("mruEnabled".to_string(), json!(true));
            object.insert(
                "urls".to_string(),
                json!({
                    "sobject": base,
                    "describe": format!("{base}/describe"),
                    "rowTemplate": format!("{base}/{{ID}}"),
                    "layouts": format!("{base}/describe/layouts"),
                    "compactLayouts": format!("{base}/describe/compactLayouts"),
                    "approvalLayouts": format!("{base}/describe/approvalLayouts"),
                    "quickActions": format!("{base}/quickActions"),
                    "listviews": format!("{base}/listviews"),
                    "defaultValues": format!("{base}/defaultValues?recordTypeId&fields"),
                    "uiDetailTemplate": "/{ID}",
                    "uiEditTemplate": "/{ID}/e",
                    "uiNewRecord": format!("/{}/e", self.key_prefix),
                }),
            );
        }
        summary
    }
}

/// What kind of custom field to add (`Sandbox::org().add_custom_field`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CustomFieldKind {
    /// Text with a maximum length (1–255).
    Text {
        length: u32,
    },
    /// Long text area.
    LongTextArea {
        length: u32,
    },
    DateTime,
    Number,
    Checkbox,
    /// A multi-select picklist, restricted to its values.
    MultiPicklist {
        values: Vec<String>,
    },
    /// A picklist, restricted to its values.
    Picklist {
        values: Vec<String>,
    },
    /// Text marked External ID and Unique, usable for upsert.
    ExternalIdText {
        length: u32,
    },
}

/// A custom field to add to an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomField {
    /// `Account`, `Task`...
    pub object: String,
    /// The API name; must end in `__c`.
    pub name: String,
    pub label: String,
    pub kind: CustomFieldKind,
}

impl CustomField {
    pub(crate) fn to_field_def(&self) -> FieldDef {
        let base = |field_type: FieldType| FieldDef {
            custom: true,
            ..FieldDef::new(&self.name, &self.label, field_type)
        };
        match &self.kind {
            CustomFieldKind::Text { length } => base(FieldType::String).len(*length),
            CustomFieldKind::LongTextArea { length } => base(FieldType::TextArea).len(*length),
            CustomFieldKind::DateTime => base(FieldType::DateTime),
            CustomFieldKind::Number => base(FieldType::Double),
            CustomFieldKind::Checkbox => base(FieldType::Boolean)
                .not_nillable()
                .with_default(json!(false)),
            CustomFieldKind::MultiPicklist { values } => {
                let values: Vec<&str> = values.iter().map(String::as_str).collect();
                base(FieldType::MultiPicklist).picklist(&values, None, true)
            }
            CustomFieldKind::Picklist { values } => {
                let values: Vec<&str> = values.iter().map(String::as_str).collect();
                base(FieldType::Picklist).picklist(&values, None, true)
            }
            CustomFieldKind::ExternalIdText { length } => {
                let mut field = base(FieldType::String).len(*length);
                field.external_id = true;
                field.unique = true;
                field
            }
        }
    }
}

fn reference(name: &str, label: &str, targets: &[&str], relationship: &str) -> FieldDef {
    FieldDef::new(
        name,
        label,
        FieldType::Reference {
            targets: targets.iter().map(|target| (*target).to_string()).collect(),
            relationship_name: Some(relationship.to_string()),
        },
    )
}

/// Fields every object has: Id and the audit fields the org maintains.
fn system_fields() -> Vec<FieldDef> {
    vec![
        FieldDef::new("Id", "Record ID", FieldType::Id)
            .read_only()
            .not_nillable(),
        FieldDef::new("IsDeleted", "Deleted", FieldType::Boolean)
            .read_only()
            .not_nillable(),
        FieldDef::new("CreatedDate", "Created Date", FieldType::DateTime)
            .read_only()
            .not_nillable(),
        reference("CreatedById", "Created By ID", &["User"], "CreatedBy")
            .read_only()
            .not_nillable(),
        FieldDef::new(
            "LastModifiedDate",
            "Last Modified Date",
            FieldType::DateTime,
        )
        .read_only()
        .not_nillable(),
        reference(
            "LastModifiedById",
            "Last Modified By ID",
            &["User"],
            "LastModifiedBy",
        )
        .read_only()
        .not_nillable(),
        FieldDef::new("SystemModstamp", "System Modstamp", FieldType::DateTime)
            .read_only()
            .not_nillable(),
    ]
}

fn owner() -> FieldDef {
    reference("OwnerId", "Owner ID", &["User"], "Owner").not_nillable()
}

fn phone(name: &str, label: &str) -> FieldDef {
    FieldDef::new(name, label, FieldType::Phone)
}

const LEAD_SOURCES: &[&str] = &[
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Other",
];
const SALUTATIONS: &[&str] = &["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."];

fn account() -> ObjectDef {
    let mut fields = system_fields();
    fields.extend([
        owner(),
        // Required for business accounts; for person accounts it is computed from the
        // person's names (checked in `org::validate`).
        FieldDef::new("Name", "Account Name", FieldType::String)
            .len(255)
            .not_nillable(),
        FieldDef::new("Type", "Account Type", FieldType::Picklist).picklist(
            &[
                "Prospect",
                "Customer - Direct",
                "Customer - Channel",
                "Partner",
                "Other",
            ],
            None,
            false,
        ),
        reference("ParentId", "Parent Account ID", &["Account"], "Parent"),
        FieldDef::new("AccountNumber", "Account Number", FieldType::String).len(40),
        phone("Phone", "Account Phone"),
        phone("Fax", "Account Fax"),
        FieldDef::new("Website", "Website", FieldType::Url),
        FieldDef::new("Industry", "Industry", FieldType::Picklist).picklist(
            &[
                "Agriculture",
                "Banking",
                "Communications",
                "Education",
                "Finance",
                "Healthcare",
                "Manufacturing",
                "Retail",
                "Technology",
                "Other",
            ],
            None,
            false,
        ),
        FieldDef::new("Description", "Account Description", FieldType::TextArea),
        FieldDef::new("BillingCity", "Billing City", FieldType::String).len(40),
        FieldDef::new("BillingCountry", "Billing Country", FieldType::String).len(80),
        FieldDef::new("IsPersonAccount", "Is Person Account", FieldType::Boolean)
            .read_only()
            .not_nillable(),
        reference(
            "PersonContactId",
            "Person Contact ID",
            &["Contact"],
            "PersonContact",
        )
        .read_only(),
        FieldDef::new("FirstName", "First Name", FieldType::String).len(40),
        FieldDef::new("LastName", "Last Name", FieldType::String).len(80),
        FieldDef::new("Salutation", "Salutation", FieldType::Picklist).picklist(
            SALUTATIONS,
            None,
            false,
        ),
        phone("PersonMobilePhone", "Mobile"),
        phone("PersonHomePhone", "Home Phone"),
        phone("PersonOtherPhone", "Other Phone"),
        FieldDef::new("PersonEmail", "Email", FieldType::Email),
    ]);
    ObjectDef::new("Account", "Account", "Accounts", "001", fields)
}

fn contact() -> ObjectDef {
    let mut fields = system_fields();
    fields.extend([
        owner(),
        reference("AccountId", "Account ID", &["Account"], "Account"),
        // Object Reference, Contact: ReportsToId, a lookup to Contact named ReportsTo.
        reference("ReportsToId", "Reports To ID", &["Contact"], "ReportsTo"),
        FieldDef::new("LastName", "Last Name", FieldType::String)
            .len(80)
            .required(),
        FieldDef::new("FirstName", "First Name", FieldType::String).len(40),
        FieldDef::new("Salutation", "Salutation", FieldType::Picklist).picklist(
            SALUTATIONS,
            None,
            false,
        ),
        FieldDef::new("Name", "Full Name", FieldType::String)
            .len(121)
            .calculated()
            .not_nillable(),
        phone("Phone", "Business Phone"),
        phone("MobilePhone", "Mobile Phone"),
        phone("HomePhone", "Home Phone"),
        phone("OtherPhone", "Other Phone"),
        phone("AssistantPhone", "Asst. Phone"),
        phone("Fax", "Business Fax"),
        FieldDef::new("Email", "Email", FieldType::Email),
        FieldDef::new("Title", "Title", FieldType::String).len(128),
        FieldDef::new("Department", "Department", FieldType::String).len(80),
        FieldDef::new("LeadSource", "Lead Source", FieldType::Picklist).picklist(
            LEAD_SOURCES,
            None,
            false,
        ),
        FieldDef::new("Description", "Contact Description", FieldType::TextArea),
        FieldDef::new("IsPersonAccount", "Is Person Account", FieldType::Boolean)
            .read_only()
            .not_nillable(),
    ]);
    ObjectDef::new("Contact", "Contact", "Contacts", "003", fields)
}

fn lead() -> ObjectDef {
    let mut fields = system_fields();
    fields.extend([
        owner(),
        FieldDef::new("LastName", "Last Name", FieldType::String)
            .len(80)
            .required(),
        FieldDef::new("FirstName", "First Name", FieldType::String).len(40),
        FieldDef::new("Salutation", "Salutation", FieldType::Picklist).picklist(
            SALUTATIONS,
            None,
            false,
        ),
        FieldDef::new("Name", "Full Name", FieldType::String)
            .len(121)
            .calculated()
            .not_nillable(),
        FieldDef::new("Company", "Company", FieldType::String)
            .len(255)
            .required(),
        FieldDef::new("Title", "Title", FieldType::String).len(128),
        phone("Phone", "Phone"),
        phone("MobilePhone", "Mobile Phone"),
        phone("Fax", "Fax"),
        FieldDef::new("Email", "Email", FieldType::Email),
        FieldDef::new("Status", "Status", FieldType::Picklist)
            .picklist(
                &[
                    "Open - Not Contacted",
                    "Working - Contacted",
                    "Closed - Converted",
                    "Closed - Not Converted",
                ],
                Some("Open - Not Contacted"),
                false,
            )
            .not_nillable(),
        FieldDef::new("LeadSource", "Lead Source", FieldType::Picklist).picklist(
            LEAD_SOURCES,
            None,
            false,
        ),
        FieldDef::new("Description", "Description", FieldType::TextArea),
        // Converted leads can be imported (createable) but never edited back.
        FieldDef::new("IsConverted", "Converted", FieldType::Boolean)
            .create_only()
            .not_nillable()
            .with_default(json!(false)),
        FieldDef::new("ConvertedDate", "Converted Date", FieldType::Date).read_only(),
        reference(
            "ConvertedAccountId",
            "Converted Account ID",
            &["Account"],
            "ConvertedAccount",
        )
        .read_only(),
        reference(
            "ConvertedContactId",
            "Converted Contact ID",
            &["Contact"],
            "ConvertedContact",
        )
        .read_only(),
    ]);
    ObjectDef::new("Lead", "Lead", "Leads", "00Q", fields)
}

fn user() -> ObjectDef {
    let mut fields = system_fields();
    fields.extend([
        FieldDef::new("Username", "Username", FieldType::String)
            .len(80)
            .required(),
        FieldDef::new("LastName", "Last Name", FieldType::String)
            .len(80)
            .required(),
        FieldDef::new("FirstName", "First Name", FieldType::String).len(40),
        FieldDef::new("Name", "Full Name", FieldType::String)
            .len(121)
            .calculated()
            .not_nillable(),
        FieldDef::new("Alias", "Alias", FieldType::String).len(8),
        // User.Email is 128 characters (Object Reference, User).
        FieldDef::new("Email", "Email", FieldType::Email)
            .len(128)
            .required(),
        phone("Phone", "Phone"),
        phone("MobilePhone", "Mobile"),
        FieldDef::new("Extension", "Extension", FieldType::String).len(40),
        FieldDef::new("IsActive", "Active", FieldType::Boolean)
            .not_nillable()
            .with_default(json!(true)),
        FieldDef::new("TimeZoneSidKey", "Time Zone", FieldType::Picklist).picklist(
            &["Asia/Tokyo", "America/Los_Angeles", "Europe/London", "GMT"],
            Some("Asia/Tokyo"),
            false,
        ),
    ]);
    let mut user = ObjectDef::new("User", "User", "Users", "005", fields);
    user.fields
        .iter_mut()
        .filter(|field| field.name == "Username")
        .for_each(|field| field.unique = true);
    user
}

/// Task statuses of a fresh Developer Edition org; `IsClosed` is true for `Completed`.
pub fn default_task_statuses() -> Vec<TaskStatus> {
    [
        ("Not Started", false, true),
        ("In Progress", false, false),
        ("Completed", true, false),
        ("Waiting on someone else", false, false),
        ("Deferred", false, false),
    ]
    .into_iter()
    .map(|(label, closed, default)| TaskStatus {
        label: label.to_string(),
        is_closed: closed,
        is_default: default,
    })
    .collect()
}

/// One of the org's task statuses (Setup → Task Status picklist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub label: String,
    pub is_closed: bool,
    pub is_default: bool,
}

pub(crate) fn task(statuses: &[TaskStatus]) -> ObjectDef {
    let status_labels: Vec<&str> = statuses
        .iter()
        .map(|status| status.label.as_str())
        .collect();
    let default_status = statuses
        .iter()
        .find(|status| status.is_default)
        .map(|status| status.label.as_str());
    let mut fields = system_fields();
    let mut subject = FieldDef::new("Subject", "Subject", FieldType::String).len(255);
    subject.describe_type = Some("combobox");
    subject.picklist = ["Call", "Send Letter", "Send Quote", "Other"]
        .iter()
        .map(|value| PicklistValue {
            value: (*value).to_string(),
            default: false,
        })
        .collect();
    fields.extend([
        owner(),
        reference("WhoId", "Name ID", &["Contact", "Lead"], "Who"),
        reference("WhatId", "Related To ID", &["Account"], "What"),
        reference("AccountId", "Account ID", &["Account"], "Account").read_only(),
        subject,
        FieldDef::new("ActivityDate", "Due Date Only", FieldType::Date),
        FieldDef::new("Status", "Status", FieldType::Picklist)
            .picklist(&status_labels, default_status, true)
            .not_nillable(),
        FieldDef::new("Priority", "Priority", FieldType::Picklist)
            .picklist(&["High", "Normal", "Low"], Some("Normal"), true)
            .not_nillable(),
        FieldDef::new("IsHighPriority", "High Priority", FieldType::Boolean)
            .calculated()
            .not_nillable(),
        FieldDef::new("IsClosed", "Closed", FieldType::Boolean)
            .calculated()
            .not_nillable(),
        FieldDef::new("Description", "Description", FieldType::TextArea).len(32_000),
        FieldDef::new("Type", "Type", FieldType::Picklist).picklist(
            &["Call", "Email", "Meeting", "Other"],
            None,
            false,
        ),
        FieldDef::new("TaskSubtype", "Task Subtype", FieldType::Picklist)
            .picklist(
                &["Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"],
                Some("Task"),
                true,
            )
            .create_only(),
        FieldDef::new("CallDurationInSeconds", "Call Duration", FieldType::Int),
        FieldDef::new("CallType", "Call Type", FieldType::Picklist).picklist(
            &["Internal", "Inbound", "Outbound"],
            None,
            true,
        ),
        FieldDef::new("CallDisposition", "Call Result", FieldType::String).len(255),
        FieldDef::new("CallObject", "Call Object Identifier", FieldType::String).len(255),
        FieldDef::new(
            "ReminderDateTime",
            "Reminder Date/Time",
            FieldType::DateTime,
        ),
        FieldDef::new("IsReminderSet", "Reminder Set", FieldType::Boolean)
            .not_nillable()
            .with_default(json!(false)),
        FieldDef::new(
            "CompletedDateTime",
            "Completed Date/Time",
            FieldType::DateTime,
        )
        .read_only(),
    ]);
    ObjectDef::new("Task", "Task", "Tasks", "00T", fields)
}

/// The standard objects of a fresh org, in describe order.
pub(crate) fn standard_objects(statuses: &[TaskStatus]) -> Vec<ObjectDef> {
    vec![account(), contact(), lead(), task(statuses), user()]
}

/// The Org object: only its Id prefix is needed (Ids of the org and identity URLs).
pub const ORGANIZATION_KEY_PREFIX: &str = "00D";
