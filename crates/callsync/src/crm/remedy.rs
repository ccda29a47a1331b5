//! R9: turns a Salesforce failure (code, message, fields, the step that failed) into a
//! remedy in plain words for the error log, naming the setting or the Salesforce change
//! that fixes it.

use callsync_core::settings::{CustomFieldMapping, Settings};
use salesforce::ErrorKind;
use serde::{Deserialize, Serialize};

use super::error::CrmError;
use crate::console::i18n::Lang;

/// The step of a sync that failed; the error log shows it and the remedy depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Getting a token for the Salesforce user (JWT bearer).
    Auth,
    /// Finding the record for the call (R3).
    Match,
    /// Looking up Salesforce users (R7).
    FindUser,
    /// Creating the Task (R5).
    CreateTask,
    /// Updating the Task (R6).
    UpdateTask,
    /// Reading the Task's schema (R11 settings checks).
    CheckSchema,
    /// Creating the Lead or Contact for an unknown number (R13).
    CreateRecord,
}

impl Step {
    /// The stable name stored in the error log (`create_task`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Step::Auth => "auth",
            Step::Match => "match",
            Step::FindUser => "find_user",
            Step::CreateTask => "create_task",
            Step::UpdateTask => "update_task",
            Step::CheckSchema => "check_schema",
            Step::CreateRecord => "create_record",
        }
    }

    /// The catalogue message saying what the step does, for sentences ("while creating the
    /// Task").
    fn doing_key(&self) -> &'static str {
        match self {
            Step::Auth => "remedy-doing-auth",
            Step::Match => "remedy-doing-match",
            Step::FindUser => "remedy-doing-find-user",
            Step::CreateTask => "remedy-doing-create-task",
            Step::UpdateTask => "remedy-doing-update-task",
            Step::CheckSchema => "remedy-doing-check-schema",
            Step::CreateRecord => "remedy-doing-create-record",
        }
    }

    /// The step a stored name ([`Step::as_str`]) stands for.
    pub fn parse(name: &str) -> Option<Step> {
        [
            Step::Auth,
            Step::Match,
            Step::FindUser,
            Step::CreateTask,
            Step::UpdateTask,
            Step::CheckSchema,
            Step::CreateRecord,
        ]
        .into_iter()
        .find(|step| step.as_str() == name)
    }
}

/// One failure as the error log holds it: the step and what Salesforce said.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    /// The step that failed.
    pub step: Step,
    /// Salesforce's code (`FIELD_CUSTOM_VALIDATION_EXCEPTION`, `invalid_grant`) or one of
    /// callsync's (`CALLSYNC_TRANSPORT`).
    pub code: &'a str,
    /// Salesforce's message.
    pub message: &'a str,
    /// The fields Salesforce named.
    pub fields: &'a [String],
}

/// A remedy as a message of the console's catalogues (`remedy-<id>` in
/// `console/i18n/{en,ja}.ftl`) with its arguments. The English rendering is the text the
/// error log stores and the API answers; the console renders the same message in the
/// admin's language, so the two can never say different things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remedy {
    id: &'static str,
    args: Vec<(&'static str, Arg)>,
}

/// One argument of a remedy: data shown as it is (Salesforce's message, a field name), or
/// another catalogue message (what the step was doing, a mapped value's label) that is
/// itself translated.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Arg {
    Data(String),
    Message(&'static str),
}

impl Remedy {
    fn new(id: &'static str) -> Remedy {
        Remedy {
            id,
            args: Vec::new(),
        }
    }

    /// Adds `{ $name }`, shown as it is.
    fn data(mut self, name: &'static str, value: impl Into<String>) -> Remedy {
        self.args.push((name, Arg::Data(value.into())));
        self
    }

    /// Adds `{ $name }`, the catalogue message `key` in the same language.
    fn message(mut self, name: &'static str, key: &'static str) -> Remedy {
        self.args.push((name, Arg::Message(key)));
        self
    }

    /// Adds `{ $doing }`: what `step` was doing.
    fn doing(self, step: Step) -> Remedy {
        self.message("doing", step.doing_key())
    }

    /// The remedy in `lang`.
    pub fn in_language(&self, lang: Lang) -> String {
        let args: Vec<(&str, String)> = self
            .args
            .iter()
            .map(|(name, arg)| {
                let value = match arg {
                    Arg::Data(value) => value.clone(),
                    Arg::Message(key) => lang.text(key),
                };
                (*name, value)
            })
            .collect();
        lang.text_with_args(&format!("remedy-{}", self.id), &args)
    }

    /// The remedy in English: what the error log stores and the API answers.
    pub fn english(&self) -> String {
        self.in_language(Lang::En)
    }
}

/// The remedy for `failure` in plain words (R9). `settings`, when given, lets the remedy
/// name the setting involved: which R5.4 value a custom field is mapped for, the configured
/// Task status.
pub fn remedy(failure: &Failure<'_>, settings: Option<&Settings>) -> String {
    remedy_of(failure, settings).english()
}

/// [`remedy`] as a catalogue message, to be shown in any language.
pub fn remedy_of(failure: &Failure<'_>, settings: Option<&Settings>) -> Remedy {
    known_remedy(failure, settings).unwrap_or_else(|| generic_remedy(failure))
}

/// A stored error-log entry's remedy in `lang`. The log keeps the English text (the API
/// answers it); the remedy is worked out again from the entry's step, code and message by
/// the same rules, and shown in `lang` only when its English is exactly the stored text —
/// so an entry written by other words (callsync's own codes, an older version, settings
/// changed since) is shown as stored rather than as a translation of something else.
pub fn stored_remedy_in(
    lang: Lang,
    step: &str,
    code: &str,
    message: &str,
    stored: &str,
    settings: Option<&Settings>,
) -> String {
    if lang == Lang::En {
        return stored.to_owned();
    }
    let Some(step) = Step::parse(step) else {
        return stored.to_owned();
    };
    let failure = Failure {
        step,
        code,
        message,
        fields: &[],
    };
    // The remedies `CrmError::remedy` may have chosen for this code: its own, or that of
    // the error's classification.
    let mut candidates = vec![
        remedy_of(&failure, settings),
        outcome_unknown(step, message),
    ];
    for (by_kind, message) in [
        ("INVALID_SESSION_ID", message),
        ("REQUEST_LIMIT_EXCEEDED", "TotalRequests"),
        ("CALLSYNC_TRANSPORT", message),
    ] {
        let failure = Failure {
            code: by_kind,
            message,
            ..failure
        };
        candidates.extend(known_remedy(&failure, settings));
    }
    candidates
        .into_iter()
        .find(|candidate| candidate.english() == stored)
        .map_or_else(|| stored.to_owned(), |found| found.in_language(lang))
}

/// A code callsync has no specific words for: say what failed and where to look.
fn generic_remedy(failure: &Failure<'_>) -> Remedy {
    Remedy::new("generic")
        .doing(failure.step)
        .data("code", failure.code)
        .data("message", failure.message.trim())
}

/// A write sent without an answer: say whether a retry is safe.
fn outcome_unknown(step: Step, message: &str) -> Remedy {
    let id = if step == Step::CreateTask {
        "outcome-unknown-create"
    } else {
        "outcome-unknown-update"
    };
    Remedy::new(id).doing(step).data("message", message)
}

/// R13: what to do when Salesforce refuses the Lead or Contact created for an unknown
/// number. The call's Task is written all the same, without a link, and the next call from
/// the number tries again; each remedy (`remedy-record-*`) says so.
fn record_remedy(code: &str, message: &str, fields: &[String]) -> Option<Remedy> {
    let with_message = |id: &'static str| Remedy::new(id).data("message", message);
    Some(match code {
        "DUPLICATES_DETECTED" => with_message("record-duplicate"),
        "REQUIRED_FIELD_MISSING" => Remedy::new("record-required-field").data(
            "fields",
            if fields.is_empty() {
                message.to_owned()
            } else {
                fields.join(", ")
            },
        ),
        "FIELD_CUSTOM_VALIDATION_EXCEPTION" => with_message("record-validation-rule"),
        "INVALID_CROSS_REFERENCE_KEY" | "ENTITY_IS_DELETED" | "FIELD_INTEGRITY_EXCEPTION" => {
            with_message("record-bad-reference")
        }
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" | "BAD_VALUE_FOR_RESTRICTED_PICKLIST" => {
            with_message("record-picklist")
        }
        code if code.starts_with("INSUFFICIENT_ACCESS") => {
            with_message("record-insufficient-access")
        }
        _ => return None,
    })
}

/// The remedy for a code callsync knows, or `None`.
fn known_remedy(failure: &Failure<'_>, settings: Option<&Settings>) -> Option<Remedy> {
    let Failure {
        step,
        code,
        message,
        fields,
    } = *failure;
    let message = message.trim();
    if step == Step::CreateRecord
        && let Some(remedy) = record_remedy(code, message, fields)
    {
        return Some(remedy);
    }
    let mapped = |field: &str| settings.and_then(|s| mapped_value_label(&s.custom_fields, field));
    // The field the error is about: Salesforce names it in `fields`, or only in the message
    // ("No such column 'Memo__c' on sobject of type Task").
    let named_field = fields
        .first()
        .cloned()
        .or_else(|| quoted_column(message).map(str::to_owned));
    let with_message = |id: &'static str| Remedy::new(id).data("message", message);
    Some(match code {
        "INVALID_SESSION_ID" | "invalid_grant" | "INVALID_AUTH_HEADER" | "INVALID_LOGIN" => {
            if message.contains("approve") {
                Remedy::new("reconnect-unapproved")
            } else if message.to_ascii_lowercase().contains("inactive") {
                Remedy::new("reconnect-inactive")
            } else {
                Remedy::new("reconnect")
            }
        }
        "invalid_client_id" | "invalid_client" => Remedy::new("consumer-key"),
        "FIELD_CUSTOM_VALIDATION_EXCEPTION" => with_message("validation-rule"),
        "INVALID_FIELD"
        | "INVALID_FIELD_FOR_INSERT_UPDATE"
        | "INVALID_FIELD_WHEN_USING_TEMPLATE"
            if named_field.is_some() =>
        {
            let field = named_field.unwrap_or_default();
            let missing = code == "INVALID_FIELD";
            match mapped(&field) {
                Some(label) if missing => Remedy::new("mapped-field-missing")
                    .message("label", label)
                    .data("field", field),
                Some(label) => Remedy::new("mapped-field-readonly")
                    .message("label", label)
                    .data("field", field),
                None if missing => Remedy::new("field-missing")
                    .data("field", field)
                    .doing(step),
                None => Remedy::new("field-readonly").data("field", field),
            }
        }
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
        | "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST_VALUE"
        | "BAD_VALUE_FOR_RESTRICTED_PICKLIST" => {
            let field = named_field.unwrap_or_default();
            if field.eq_ignore_ascii_case("Status") {
                let status = settings.map(|s| s.task_status.as_str()).unwrap_or("");
                Remedy::new("status-picklist").data("status", status)
            } else if let Some(label) = mapped(&field) {
                with_message("mapped-picklist")
                    .message("label", label)
                    .data("field", field)
            } else {
                with_message("picklist").data("field", field)
            }
        }
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY" => with_message("cross-reference-access"),
        code if code.starts_with("INSUFFICIENT_ACCESS") => {
            with_message("insufficient-access").doing(step)
        }
        "API_DISABLED_FOR_ORG" | "API_CURRENTLY_DISABLED" => Remedy::new("api-disabled"),
        "REQUEST_LIMIT_EXCEEDED" if message.contains("TotalRequests") => Remedy::new("daily-limit"),
        "REQUEST_LIMIT_EXCEEDED" => Remedy::new("concurrent-limit"),
        "INACTIVE_OWNER_OR_USER" => Remedy::new("inactive-user"),
        "STRING_TOO_LONG" => {
            let remedy = with_message("string-too-long");
            match named_field {
                Some(field) => remedy.data("field", field),
                None => remedy.message("field", "remedy-a-task-field"),
            }
        }
        "ENTITY_IS_DELETED" => match step {
            Step::UpdateTask => Remedy::new("task-deleted"),
            _ => Remedy::new("record-deleted"),
        },
        "REQUIRED_FIELD_MISSING" => Remedy::new("required-field").data(
            "fields",
            if fields.is_empty() {
                message.to_owned()
            } else {
                fields.join(", ")
            },
        ),
        "INVALID_CROSS_REFERENCE_KEY" | "FIELD_INTEGRITY_EXCEPTION" | "MALFORMED_ID" => {
            with_message("bad-reference")
        }
        "NOT_FOUND" => with_message("not-found").doing(step),
        "DUPLICATES_DETECTED" | "DUPLICATE_VALUE" => with_message("duplicate"),
        "UNABLE_TO_LOCK_ROW" => Remedy::new("row-lock"),
        "CALLSYNC_INVALID_CONNECTION" => with_message("invalid-connection"),
        "CALLSYNC_INVALID_FIELDS" | "CALLSYNC_UNEXPECTED_ANSWER" => {
            with_message("callsync-fault").doing(step)
        }
        "CALLSYNC_TRANSPORT" | "SERVER_UNAVAILABLE" | "QUERY_TIMEOUT" => {
            Remedy::new("unreachable").doing(step)
        }
        code if code.starts_with("HTTP_5") => Remedy::new("server-error").doing(step),
        _ => return None,
    })
}

impl CrmError {
    /// The R9 remedy for this error at `step`, in English; see [`remedy`].
    pub fn remedy(&self, step: Step, settings: Option<&Settings>) -> String {
        self.remedy_of(step, settings).english()
    }

    /// The R9 remedy for this error at `step`, as a catalogue message. A code without
    /// words of its own gets the remedy of its classification (a token refused for a
    /// reason not listed still means "reconnect the Salesforce user").
    pub fn remedy_of(&self, step: Step, settings: Option<&Settings>) -> Remedy {
        let code = self.code();
        let message = self.message();
        let fields = self.fields();
        let failure = Failure {
            step,
            code: &code,
            message: &message,
            fields: &fields,
        };
        if self.kind() == ErrorKind::OutcomeUnknown {
            return outcome_unknown(step, &message);
        }
        if let Some(known) = known_remedy(&failure, settings) {
            return known;
        }
        let by_kind = match self.kind() {
            ErrorKind::Reauthenticate => "INVALID_SESSION_ID",
            ErrorKind::DailyLimitExhausted => "REQUEST_LIMIT_EXCEEDED",
            ErrorKind::RetryLater { .. } => "CALLSYNC_TRANSPORT",
            ErrorKind::OutcomeUnknown | ErrorKind::Permanent => return generic_remedy(&failure),
        };
        let message = if by_kind == "REQUEST_LIMIT_EXCEEDED" {
            "TotalRequests"
        } else {
            &message
        };
        known_remedy(
            &Failure {
                code: by_kind,
                message,
                ..failure
            },
            settings,
        )
        .unwrap_or_else(|| generic_remedy(&failure))
    }
}

/// The catalogue key of the R5.4 value a custom field is mapped for.
fn mapped_value_label(mapping: &CustomFieldMapping, field: &str) -> Option<&'static str> {
    [
        (&mapping.dial_started_at, "remedy-label-dial-started-at"),
        (&mapping.call_started_at, "remedy-label-call-started-at"),
        (&mapping.call_ended_at, "remedy-label-call-ended-at"),
        (&mapping.memo, "remedy-label-memo"),
    ]
    .into_iter()
    .find(|(mapped, _)| {
        mapped
            .as_deref()
            .is_some_and(|name| name.eq_ignore_ascii_case(field))
    })
    .map(|(_, label)| label)
}

/// The column named in "No such column 'Memo__c' on sobject of type Task" (REST writes)
/// or "No such column 'Memo__c' on entity 'Task'" (SOQL).
fn quoted_column(message: &str) -> Option<&str> {
    let rest = message.split("No such column '").nth(1)?;
    rest.split('\'').next().filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_with_memo() -> Settings {
        let mut settings = Settings::default();
        settings.custom_fields.memo = Some("Memo__c".to_owned());
        settings.custom_fields.call_ended_at = Some("Ended_At__c".to_owned());
        settings.task_status = "Done".to_owned();
        settings
    }

    /// (step, code, message, fields, what the remedy must say).
    type Case = (
        Step,
        &'static str,
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
    );

    /// Messages are the ones Salesforce sends (see sf-sandbox's error shapes and the issue
    /// reports cited there).
    const CASES: &[Case] = &[
        (
            Step::CreateRecord,
            "DUPLICATES_DETECTED",
            "Use one of these records?",
            &[],
            &[
                "a duplicate rule in Salesforce refused the record callsync creates",
                "written without a link",
            ],
        ),
        (
            Step::CreateRecord,
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [Region__c]",
            &["Region__c"],
            &["requires fields on new Leads or Contacts", "(Region__c)"],
        ),
        (
            Step::CreateRecord,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
            &[],
            &["reconnect the Salesforce user"],
        ),
        (
            Step::CreateTask,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
            &[],
            &["reconnect the Salesforce user"],
        ),
        (
            Step::Auth,
            "invalid_grant",
            "user hasn't approved this consumer",
            &[],
            &["reconnect the Salesforce user", "pre-authorise"],
        ),
        (
            Step::CreateTask,
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "Calls need a comment",
            &[],
            &[
                "a validation rule in Salesforce rejected the Task: Calls need a comment",
                "change the rule or the settings, then retry",
            ],
        ),
        (
            Step::CreateTask,
            "INVALID_FIELD",
            "No such column 'Memo__c' on sobject of type Task",
            &[],
            &["the custom field mapped for 'call memo' (Memo__c) does not exist on Task"],
        ),
        (
            Step::UpdateTask,
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "Unable to create/update fields: Ended_At__c.",
            &["Ended_At__c"],
            &["mapped for 'call ended at'", "cannot be written"],
        ),
        (
            Step::CreateTask,
            "INVALID_FIELD",
            "No such column 'Other__c' on sobject of type Task",
            &[],
            &["no field Other__c"],
        ),
        (
            Step::CreateTask,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "Status: bad value for restricted picklist field: Done",
            &["Status"],
            &["the Task status 'Done' in the settings is not a value of the Task Status picklist"],
        ),
        (
            Step::CreateTask,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "Memo__c: bad value for restricted picklist field: VIP",
            &["Memo__c"],
            &["'call memo'", "add the value to the picklist"],
        ),
        (
            Step::CreateTask,
            "INSUFFICIENT_ACCESS_OR_READONLY",
            "insufficient access rights on object id",
            &[],
            &["permission needed for creating the Task"],
        ),
        (
            Step::CreateTask,
            "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
            "insufficient access rights on cross-reference id",
            &[],
            &["may not see the record", "owner rule"],
        ),
        (
            Step::Match,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
            &[],
            &["daily Salesforce API request limit is used up"],
        ),
        (
            Step::Match,
            "REQUEST_LIMIT_EXCEEDED",
            "ConcurrentPerOrgLongTxn Limit exceeded.",
            &[],
            &["too many long requests"],
        ),
        (
            Step::CreateTask,
            "INACTIVE_OWNER_OR_USER",
            "operation performed with inactive user [005000000000001] as owner of task",
            &[],
            &["inactive", "owner rule"],
        ),
        (
            Step::UpdateTask,
            "STRING_TOO_LONG",
            "Subject: data value too large: aaaa (max length=255)",
            &["Subject"],
            &[
                "Subject is longer than the field allows",
                "shorten the template",
            ],
        ),
        (
            Step::UpdateTask,
            "ENTITY_IS_DELETED",
            "entity is deleted",
            &[],
            &["the Task for this call was deleted"],
        ),
        (
            Step::CreateTask,
            "ENTITY_IS_DELETED",
            "entity is deleted",
            &[],
            &["the linked record or its owner"],
        ),
        (
            Step::CreateTask,
            "CALLSYNC_TRANSPORT",
            "POST sobjects/Task failed",
            &[],
            &["could not be reached", "retries this by itself"],
        ),
        (
            Step::Match,
            "CALLSYNC_UNEXPECTED_ANSWER",
            "Salesforce answered the phone search in an unexpected shape",
            &[],
            &["a fault in callsync"],
        ),
        (
            Step::CreateTask,
            "SOMETHING_NEW",
            "a brand new failure",
            &[],
            &[
                "Salesforce refused creating the Task with SOMETHING_NEW: a brand new failure",
                "then retry",
            ],
        ),
    ];

    #[test]
    fn r9_each_salesforce_error_gets_a_remedy_in_plain_words() {
        let settings = settings_with_memo();
        for (step, code, message, fields, expected) in CASES {
            let fields: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
            let failure = Failure {
                step: *step,
                code,
                message,
                fields: &fields,
            };
            let text = remedy(&failure, Some(&settings));
            for phrase in *expected {
                assert!(
                    text.contains(phrase),
                    "{code} at {step:?}: {text:?} should contain {phrase:?}"
                );
            }
        }
    }

    #[test]
    fn r9_a_remedy_never_fails_without_settings() {
        for (step, code, message, fields, _) in CASES {
            let fields: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
            let failure = Failure {
                step: *step,
                code,
                message,
                fields: &fields,
            };
            assert!(!remedy(&failure, None).is_empty());
        }
    }

    #[test]
    fn r9_the_column_is_read_from_both_salesforce_messages() {
        assert_eq!(
            quoted_column("No such column 'Memo__c' on sobject of type Task"),
            Some("Memo__c")
        );
        assert_eq!(
            quoted_column(
                "No such column 'Memo__c' on entity 'Task'. If you are attempting to use a custom field, be sure to append the '__c'"
            ),
            Some("Memo__c")
        );
        assert_eq!(quoted_column("something else"), None);
    }

    #[test]
    fn r9_our_own_errors_have_remedies_too() {
        let error = CrmError::InvalidConnection("private_key_pem is empty".to_owned());
        let text = error.remedy(Step::Auth, None);
        assert!(text.contains("enter the connection again"), "{text}");
        assert!(text.contains("private_key_pem is empty"), "{text}");
    }

    #[test]
    fn r9_every_remedy_reads_in_japanese_with_the_same_facts() {
        let settings = settings_with_memo();
        for (step, code, message, fields, _) in CASES {
            let fields: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
            let failure = Failure {
                step: *step,
                code,
                message,
                fields: &fields,
            };
            let remedy = remedy_of(&failure, Some(&settings));
            let english = remedy.english();
            let japanese = remedy.in_language(Lang::Ja);
            assert!(!japanese.starts_with("remedy-"), "{code}: {japanese}");
            assert!(
                !japanese.contains('{') && !english.contains('{'),
                "{japanese}"
            );
            assert!(
                japanese.contains("してください") || japanese.contains("再試行"),
                "{code}: {japanese}"
            );
            assert_ne!(english, japanese, "{code}");
            // Data is shown as it is in both languages: a field named, Salesforce's message.
            for (_, arg) in &remedy.args {
                if let Arg::Data(value) = arg {
                    assert!(english.contains(value.as_str()), "{code}: {english}");
                    assert!(japanese.contains(value.as_str()), "{code}: {japanese}");
                }
            }
        }
    }

    #[test]
    fn r9_a_stored_remedy_is_shown_in_japanese_only_when_the_rules_wrote_it() {
        let settings = settings_with_memo();
        let message = "Calls need a comment";
        let stored = remedy(
            &Failure {
                step: Step::CreateTask,
                code: "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                message,
                fields: &[],
            },
            Some(&settings),
        );
        let shown = stored_remedy_in(
            Lang::Ja,
            "create_task",
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            message,
            &stored,
            Some(&settings),
        );
        assert!(shown.contains("入力規則"), "{shown}");
        assert!(shown.contains(message), "{shown}");
        // English is the stored text itself.
        let english = stored_remedy_in(
            Lang::En,
            "create_task",
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            message,
            &stored,
            Some(&settings),
        );
        assert_eq!(english, stored);
        // An entry with words of its own (callsync's, or an older version's) stays as it is.
        let own = "link callsync user \"u1\" to their Salesforce user, then retry";
        assert_eq!(
            stored_remedy_in(
                Lang::Ja,
                "setup",
                "CALLSYNC_USER_NOT_LINKED",
                "m",
                own,
                None
            ),
            own
        );
        assert_eq!(
            stored_remedy_in(
                Lang::Ja,
                "create_task",
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                message,
                own,
                None
            ),
            own
        );
    }

    #[test]
    fn r9_a_remedy_chosen_by_classification_is_translated_too() {
        // A token refused with a code that has no words of its own gets "reconnect" from
        // its classification (`CrmError::remedy_of`); that text is recognised as well.
        let reconnect = Remedy::new("reconnect").english();
        let shown = stored_remedy_in(
            Lang::Ja,
            "auth",
            "unknown_error",
            "not today",
            &reconnect,
            None,
        );
        assert!(shown.contains("接続し直してください"), "{shown}");
    }
}
