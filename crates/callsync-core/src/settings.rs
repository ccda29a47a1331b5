//! Per-organisation sync settings (R11), their defaults and their validation.

use std::sync::OnceLock;

use jiff::tz::{TimeZone, TimeZoneDatabase};
use serde::{Deserialize, Serialize};

use crate::call::CallKind;
use crate::event::TransferKind;
use crate::ids::SalesforceId;
use crate::phone::PhoneRegion;
use crate::policy::LoggingPolicy;
use crate::template::unknown_placeholders;
use crate::unknown::UnknownNumbers;

/// When the Task is created (R5, R10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// Create when the call starts (answered), or when a missed call ends.
    CallStart,
    /// Create when the call ends: the Task is complete from the start.
    #[default]
    CallEnd,
}

/// Language of the labels callsync writes (call kinds, default subjects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// Japanese, the default.
    #[default]
    Ja,
    /// English.
    En,
}

impl Language {
    /// The label of a call kind (R5.1 default subjects).
    pub fn kind_label(&self, kind: CallKind) -> &'static str {
        match (self, kind) {
            (Language::Ja, CallKind::Outgoing) => "発信",
            (Language::Ja, CallKind::Incoming) => "着信",
            (Language::Ja, CallKind::Transfer(_)) => "転送",
            (Language::Ja, CallKind::Voicemail) => "留守番電話",
            (Language::Ja, CallKind::MissedOutgoing) => "発信(不在)",
            (Language::Ja, CallKind::MissedIncoming) => "着信(不在)",
            (Language::Ja, CallKind::Extension) => "内線",
            (Language::En, CallKind::Outgoing) => "Outgoing call",
            (Language::En, CallKind::Incoming) => "Incoming call",
            (Language::En, CallKind::Transfer(_)) => "Transferred call",
            (Language::En, CallKind::Voicemail) => "Voicemail",
            (Language::En, CallKind::MissedOutgoing) => "Outgoing call — no answer",
            (Language::En, CallKind::MissedIncoming) => "Incoming call — missed",
            (Language::En, CallKind::Extension) => "Extension call",
        }
    }

    /// The default comment template for this language.
    pub fn default_comment_template(&self) -> &'static str {
        match self {
            Language::Ja => {
                "{CALL_KIND} {CUSTOMER_NUMBER} 担当: {USER_NAME}\n通話時間: {DURATION}\n\n{MEMO}\n\n{SPEECH_RECOGNITION_SUMMARY}\n\n{CALL_URL}"
            }
            Language::En => {
                "{CALL_KIND} {CUSTOMER_NUMBER} by {USER_NAME}\nDuration: {DURATION}\n\n{MEMO}\n\n{SPEECH_RECOGNITION_SUMMARY}\n\n{CALL_URL}"
            }
        }
    }
}

/// Subject templates per call kind (R5.1). `None` means the kind's label in the configured
/// language, so switching language changes the default subjects too.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
#[allow(missing_docs)] // One field per R5.1 row, named after it.
pub struct SubjectTemplates {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outgoing: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incoming: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voicemail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missed_outgoing: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missed_incoming: Option<String>,
}

impl SubjectTemplates {
    /// The configured template of a kind, if any.
    pub fn get(&self, kind: CallKind) -> Option<&str> {
        match kind {
            CallKind::Outgoing => self.outgoing.as_deref(),
            CallKind::Incoming => self.incoming.as_deref(),
            CallKind::Transfer(_) => self.transfer.as_deref(),
            CallKind::Voicemail => self.voicemail.as_deref(),
            CallKind::MissedOutgoing => self.missed_outgoing.as_deref(),
            CallKind::MissedIncoming => self.missed_incoming.as_deref(),
            CallKind::Extension => None,
        }
    }

    fn named(&self) -> [(&'static str, Option<&String>); 6] {
        [
            ("subjects.outgoing", self.outgoing.as_ref()),
            ("subjects.incoming", self.incoming.as_ref()),
            ("subjects.transfer", self.transfer.as_ref()),
            ("subjects.voicemail", self.voicemail.as_ref()),
            ("subjects.missed_outgoing", self.missed_outgoing.as_ref()),
            ("subjects.missed_incoming", self.missed_incoming.as_ref()),
        ]
    }
}

/// R5.4: the Task custom fields (API names ending in `__c`) that receive call facts;
/// unmapped values are not written.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct CustomFieldMapping {
    /// Date/Time field for "dial started at".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dial_started_at: Option<String>,
    /// Date/Time field for "call started at".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_started_at: Option<String>,
    /// Date/Time field for "call ended at".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_ended_at: Option<String>,
    /// Multi-select picklist for the call memo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    /// R14 idempotent create: a text field of Task marked External ID and Unique that
    /// holds the call id (as `CallObject` does). With it, Salesforce itself refuses a
    /// second Task for one call (`DUPLICATE_VALUE`), so a create whose outcome was lost is
    /// simply sent again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
}

impl CustomFieldMapping {
    /// (settings field, mapped API name, the Salesforce `type` describe must report).
    fn named(&self) -> [(&'static str, Option<&String>, &'static str); 5] {
        [
            (
                "custom_fields.dial_started_at",
                self.dial_started_at.as_ref(),
                "datetime",
            ),
            (
                "custom_fields.call_started_at",
                self.call_started_at.as_ref(),
                "datetime",
            ),
            (
                "custom_fields.call_ended_at",
                self.call_ended_at.as_ref(),
                "datetime",
            ),
            ("custom_fields.memo", self.memo.as_ref(), "multipicklist"),
            ("custom_fields.call_id", self.call_id.as_ref(), "string"),
        ]
    }
}

/// Who owns the Task (R7, 活動履歴任命先).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum OwnerRule {
    /// The Salesforce user linked to the callsync user who handled the call.
    #[default]
    Handler,
    /// The `OwnerId` of the linked record; the handler when the call is unlinked.
    RecordOwner,
    /// One Salesforce user.
    Fixed {
        /// That user's Id.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        user: SalesforceId,
    },
}

/// The sync settings of one organisation (R11). Missing JSON fields take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Settings {
    /// When the Task is created.
    pub timing: Timing,
    /// The Task `Status` written; must be a value of the Status picklist.
    pub task_status: String,
    /// Subject templates per kind.
    pub subjects: SubjectTemplates,
    /// The comment (`Description`) template.
    pub comment_template: String,
    /// R5.4 custom fields.
    pub custom_fields: CustomFieldMapping,
    /// R7 owner rule.
    pub owner_rule: OwnerRule,
    /// Region for numbers without a country code (R3.6), a two-letter code.
    pub default_region: String,
    /// IANA time zone of the organisation (R5 `ActivityDate`, template times).
    pub time_zone: String,
    /// Label language.
    pub language: Language,
    /// R12: which calls are logged, and how.
    pub policy: LoggingPolicy,
    /// R13: what a call from a number no record holds links.
    pub unknown_numbers: UnknownNumbers,
    /// R14: who writes the Tasks, and the coalescing window.
    pub writing: crate::writing::WriteSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings::for_language(Language::Ja)
    }
}

/// One problem found in settings: which field and why, for the admin who saves them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct SettingsProblem {
    /// The settings field (`comment_template`, `custom_fields.memo`...).
    pub field: String,
    /// Why it would fail later, in plain words.
    pub reason: String,
}

impl SettingsProblem {
    pub(crate) fn new(field: &str, reason: impl Into<String>) -> Self {
        SettingsProblem {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

/// The Task fields as describe reports them, filled in by the service; a plain description.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TaskSchema {
    /// Fields of Task.
    pub fields: Vec<TaskFieldSchema>,
}

/// One Task field from describe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFieldSchema {
    /// API name (`Status`, `Memo__c`).
    pub name: String,
    /// Describe's `type` (`datetime`, `multipicklist`, `picklist`, `string`, `textarea`...).
    #[serde(rename = "type")]
    pub field_type: String,
    /// Describe's `length`, for text fields.
    #[serde(default)]
    pub length: Option<u32>,
    /// Active picklist values.
    #[serde(default)]
    pub picklist_values: Vec<String>,
    /// Whether a create may set it.
    #[serde(default = "yes")]
    pub createable: bool,
    /// Whether an update may set it.
    #[serde(default = "yes")]
    pub updateable: bool,
    /// Marked External ID (describe's `externalId`).
    #[serde(default)]
    pub external_id: bool,
    /// Marked Unique (describe's `unique`).
    #[serde(default)]
    pub unique: bool,
}

fn yes() -> bool {
    true
}

impl TaskSchema {
    /// The field with this API name (API names are case-insensitive in Salesforce).
    pub fn field(&self, name: &str) -> Option<&TaskFieldSchema> {
        self.fields
            .iter()
            .find(|field| field.name.eq_ignore_ascii_case(name))
    }
}

fn time_zone_database() -> &'static TimeZoneDatabase {
    static DATABASE: OnceLock<TimeZoneDatabase> = OnceLock::new();
    DATABASE.get_or_init(TimeZoneDatabase::bundled)
}

/// Whether `name` is a custom field API name: letters, digits and single underscores,
/// starting with a letter, ending in `__c`.
fn is_custom_field_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix("__c") else {
        return false;
    };
    stem.starts_with(|c: char| c.is_ascii_alphabetic())
        && stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !stem.ends_with('_')
        // A namespace prefix (`ns__Field__c`) is the only double underscore allowed.
        && stem.matches("__").count() <= 1
}

impl Settings {
    /// The defaults for one label language: timing `call_end`, status `Completed`, default
    /// subjects, the language's comment template, no custom fields, owner = handler, region
    /// `JP`, time zone `Asia/Tokyo`.
    pub fn for_language(language: Language) -> Settings {
        Settings {
            timing: Timing::CallEnd,
            task_status: "Completed".to_owned(),
            subjects: SubjectTemplates::default(),
            comment_template: language.default_comment_template().to_owned(),
            custom_fields: CustomFieldMapping::default(),
            owner_rule: OwnerRule::Handler,
            default_region: "JP".to_owned(),
            time_zone: "Asia/Tokyo".to_owned(),
            language,
            policy: LoggingPolicy::default(),
            unknown_numbers: UnknownNumbers::default(),
            writing: crate::writing::WriteSettings::default(),
        }
    }

    /// Checks everything that can be checked without Salesforce; returns every problem.
    pub fn validate(&self) -> Result<(), Vec<SettingsProblem>> {
        let mut problems = Vec::new();
        if self.task_status.trim().is_empty() {
            problems.push(SettingsProblem::new(
                "task_status",
                "must name a value of the Task Status picklist",
            ));
        }
        let mut templates: Vec<(&str, &String)> =
            vec![("comment_template", &self.comment_template)];
        templates.extend(
            self.subjects
                .named()
                .into_iter()
                .filter_map(|(field, value)| value.map(|value| (field, value))),
        );
        for (field, template) in templates {
            let unknown = unknown_placeholders(template);
            if !unknown.is_empty() {
                let names: Vec<String> = unknown.iter().map(|name| format!("{{{name}}}")).collect();
                problems.push(SettingsProblem::new(
                    field,
                    format!(
                        "unknown placeholder{} {}; known ones are {}",
                        if names.len() > 1 { "s" } else { "" },
                        names.join(", "),
                        crate::template::Placeholder::ALL
                            .iter()
                            .map(|placeholder| format!("{{{}}}", placeholder.name()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if field != "comment_template" && template.trim().is_empty() {
                problems.push(SettingsProblem::new(
                    field,
                    "a Task subject cannot be empty; remove it to use the default",
                ));
            }
        }
        let mut seen: Vec<&str> = Vec::new();
        for (field, name, _) in self.custom_fields.named() {
            let Some(name) = name else { continue };
            if !is_custom_field_name(name) {
                problems.push(SettingsProblem::new(
                    field,
                    format!("`{name}` is not a custom field API name (letters, digits and `_`, ending in `__c`)"),
                ));
            } else if seen.iter().any(|other| other.eq_ignore_ascii_case(name)) {
                problems.push(SettingsProblem::new(
                    field,
                    format!("`{name}` is already mapped to another value"),
                ));
            }
            seen.push(name);
        }
        if let OwnerRule::Fixed { user } = &self.owner_rule
            && user.key_prefix() != "005"
        {
            problems.push(SettingsProblem::new(
                "owner_rule.user",
                format!("`{user}` is not a User Id (User Ids start with 005)"),
            ));
        }
        if let Err(error) = PhoneRegion::parse(&self.default_region) {
            problems.push(SettingsProblem::new("default_region", error.to_string()));
        }
        if time_zone_database().get(&self.time_zone).is_err() {
            problems.push(SettingsProblem::new(
                "time_zone",
                format!(
                    "`{}` is not an IANA time zone name (such as Asia/Tokyo)",
                    self.time_zone
                ),
            ));
        }
        self.policy.validate(&mut problems);
        self.unknown_numbers.validate(&mut problems);
        problems.extend(self.writing.problems());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Checks the settings against the organisation's Task schema (R11): every mapped custom
    /// field exists, has the right type and can be written; the status is a Status value.
    pub fn validate_against_task_schema(
        &self,
        schema: &TaskSchema,
    ) -> Result<(), Vec<SettingsProblem>> {
        let mut problems = Vec::new();
        match schema.field("Status") {
            Some(status)
                if !status
                    .picklist_values
                    .iter()
                    .any(|value| value == &self.task_status) =>
            {
                problems.push(SettingsProblem::new(
                    "task_status",
                    format!(
                        "`{}` is not a value of the Task Status picklist ({})",
                        self.task_status,
                        status.picklist_values.join(", ")
                    ),
                ));
            }
            _ => {}
        }
        if self.policy.uses_open_status()
            && let Some(status) = schema.field("Status")
            && !status
                .picklist_values
                .iter()
                .any(|value| value == &self.policy.open_status)
        {
            problems.push(SettingsProblem::new(
                "policy.open_status",
                format!(
                    "`{}` is not a value of the Task Status picklist ({})",
                    self.policy.open_status,
                    status.picklist_values.join(", ")
                ),
            ));
        }
        for (field, name, expected_type) in self.custom_fields.named() {
            let Some(name) = name else { continue };
            match schema.field(name) {
                None => problems.push(SettingsProblem::new(
                    field,
                    format!("Task has no field `{name}`"),
                )),
                Some(described) if described.field_type != expected_type => {
                    problems.push(SettingsProblem::new(
                        field,
                        format!(
                            "`{name}` is of type {}, but this value needs {expected_type}",
                            described.field_type
                        ),
                    ))
                }
                Some(described) if !(described.createable && described.updateable) => problems
                    .push(SettingsProblem::new(
                        field,
                        format!("`{name}` cannot be written (field-level security or a formula)"),
                    )),
                Some(described)
                    if field == "custom_fields.call_id"
                        && !(described.external_id && described.unique) =>
                {
                    problems.push(SettingsProblem::new(
                        field,
                        format!(
                            "`{name}` must be marked both External ID and Unique, so that \
                             Salesforce refuses a second Task for one call (R14)"
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The default region, `JP` if the stored one is not valid (validation refuses that at
    /// save time, so this fallback is for hand-edited data only).
    pub fn region(&self) -> PhoneRegion {
        PhoneRegion::parse(&self.default_region).unwrap_or_default()
    }

    /// The organisation's time zone; `Asia/Tokyo`, then UTC, if the stored name is not valid.
    pub fn zone(&self) -> TimeZone {
        let database = time_zone_database();
        database
            .get(&self.time_zone)
            .or_else(|_| database.get("Asia/Tokyo"))
            .unwrap_or(TimeZone::UTC)
    }

    /// The subject template of a kind: the configured one, or the kind's label (R5.1).
    pub fn subject_template(&self, kind: CallKind) -> String {
        self.subjects
            .get(kind)
            .map(str::to_owned)
            .unwrap_or_else(|| self.language.kind_label(kind).to_owned())
    }
}

/// All transfer kinds share one subject and one label (R5.1 "transfer").
pub const TRANSFER_KINDS: [TransferKind; 3] = [
    TransferKind::Internal,
    TransferKind::External,
    TransferKind::AutoForward,
];

#[cfg(test)]
// Tests read as "the defaults, then this one change".
#[allow(clippy::field_reassign_with_default)]
mod tests {
    use super::*;

    fn schema() -> TaskSchema {
        let field = |name: &str, field_type: &str, values: &[&str]| TaskFieldSchema {
            name: name.to_owned(),
            field_type: field_type.to_owned(),
            length: None,
            picklist_values: values.iter().map(|value| value.to_string()).collect(),
            createable: true,
            updateable: true,
            external_id: false,
            unique: false,
        };
        let call_key = TaskFieldSchema {
            external_id: true,
            unique: true,
            ..field("Call_Key__c", "string", &[])
        };
        TaskSchema {
            fields: vec![
                field("Status", "picklist", &["Not Started", "Completed"]),
                field("Dial_Started__c", "datetime", &[]),
                field("Memo__c", "multipicklist", &["A", "B"]),
                field("Note__c", "textarea", &[]),
                field("Plain_Text__c", "string", &[]),
                call_key,
            ],
        }
    }

    #[test]
    fn r14_the_call_id_field_must_be_a_unique_external_id_text_field() {
        let cases = [
            ("Call_Key__c", None),
            (
                "Plain_Text__c",
                Some("must be marked both External ID and Unique"),
            ),
            ("Memo__c", Some("is of type multipicklist")),
            ("Missing__c", Some("Task has no field")),
        ];
        for (name, expected) in cases {
            let mut settings = Settings::default();
            settings.custom_fields.call_id = Some(name.to_owned());
            let result = settings.validate_against_task_schema(&schema());
            match expected {
                None => assert_eq!(result, Ok(()), "{name}"),
                Some(reason) => {
                    let problems = result.expect_err(name);
                    assert_eq!(problems[0].field, "custom_fields.call_id", "{name}");
                    assert!(problems[0].reason.contains(reason), "{name}: {problems:?}");
                }
            }
        }
    }

    #[test]
    fn r11_default_settings_are_valid_and_japanese() {
        let settings = Settings::default();
        assert_eq!(settings.validate(), Ok(()));
        assert_eq!(settings.language, Language::Ja);
        assert_eq!(settings.default_region, "JP");
        assert_eq!(settings.time_zone, "Asia/Tokyo");
        assert_eq!(Settings::for_language(Language::En).validate(), Ok(()));
    }

    #[test]
    fn r11_settings_missing_from_json_take_their_defaults() {
        let settings: Settings = serde_json::from_str(r#"{"timing": "call_start"}"#).unwrap();
        assert_eq!(settings.timing, Timing::CallStart);
        assert_eq!(settings.task_status, "Completed");
    }

    #[test]
    fn r5_3_unknown_placeholders_are_refused_at_save_time_with_their_names() {
        let mut settings = Settings::default();
        settings.comment_template = "{MEMO} {NOTE} {CALLER}".to_owned();
        settings.subjects.outgoing = Some("{KIND}".to_owned());
        let problems = settings.validate().unwrap_err();
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].field, "comment_template");
        assert!(
            problems[0].reason.contains("{NOTE}, {CALLER}"),
            "{}",
            problems[0].reason
        );
        assert_eq!(problems[1].field, "subjects.outgoing");
        assert!(problems[1].reason.contains("{KIND}"));
    }

    #[test]
    fn r11_every_problem_is_reported_with_its_field() {
        let mut settings = Settings::default();
        settings.task_status = " ".to_owned();
        settings.default_region = "XX".to_owned();
        settings.time_zone = "Mars/Olympus".to_owned();
        settings.custom_fields.memo = Some("Memo".to_owned());
        settings.owner_rule = OwnerRule::Fixed {
            user: SalesforceId::parse("003000000000001").unwrap(),
        };
        let fields: Vec<String> = settings
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|problem| problem.field)
            .collect();
        assert_eq!(
            fields,
            [
                "task_status",
                "custom_fields.memo",
                "owner_rule.user",
                "default_region",
                "time_zone"
            ]
        );
    }

    #[test]
    fn r11_mapped_custom_fields_must_exist_with_the_right_type() {
        let mut settings = Settings::default();
        settings.custom_fields.dial_started_at = Some("Dial_Started__c".to_owned());
        settings.custom_fields.memo = Some("memo__c".to_owned());
        assert_eq!(settings.validate_against_task_schema(&schema()), Ok(()));

        settings.custom_fields.call_started_at = Some("Missing__c".to_owned());
        settings.custom_fields.call_ended_at = Some("Note__c".to_owned());
        let problems = settings
            .validate_against_task_schema(&schema())
            .unwrap_err();
        assert_eq!(problems[0].field, "custom_fields.call_started_at");
        assert!(problems[0].reason.contains("no field `Missing__c`"));
        assert_eq!(problems[1].field, "custom_fields.call_ended_at");
        assert!(problems[1].reason.contains("textarea"));
    }

    #[test]
    fn r11_the_status_must_be_a_status_picklist_value() {
        let mut settings = Settings::default();
        settings.task_status = "Done".to_owned();
        let problems = settings
            .validate_against_task_schema(&schema())
            .unwrap_err();
        assert_eq!(problems[0].field, "task_status");
        assert!(problems[0].reason.contains("Not Started, Completed"));
    }

    #[test]
    fn r5_1_subjects_follow_the_label_language_unless_configured() {
        let mut settings = Settings::for_language(Language::En);
        assert_eq!(
            settings.subject_template(CallKind::MissedIncoming),
            "Incoming call — missed"
        );
        settings.subjects.missed_incoming = Some("Missed {CUSTOMER_NUMBER}".to_owned());
        assert_eq!(
            settings.subject_template(CallKind::MissedIncoming),
            "Missed {CUSTOMER_NUMBER}"
        );
        for kind in TRANSFER_KINDS {
            assert_eq!(
                settings.subject_template(CallKind::Transfer(kind)),
                "Transferred call"
            );
        }
    }
}
