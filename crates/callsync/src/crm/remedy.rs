//! R9: turns a Salesforce failure (code, message, fields, the step that failed) into a
//! remedy in plain words for the error log, naming the setting or the Salesforce change
//! that fixes it.

use callsync_core::settings::{CustomFieldMapping, Settings};
use salesforce::ErrorKind;
use serde::{Deserialize, Serialize};

use super::error::CrmError;

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

    /// What the step does, for sentences ("while creating the Task").
    fn doing(&self) -> &'static str {
        match self {
            Step::Auth => "signing in to Salesforce",
            Step::Match => "searching for the caller's record",
            Step::FindUser => "looking up the Salesforce user",
            Step::CreateTask => "creating the Task",
            Step::UpdateTask => "updating the Task",
            Step::CheckSchema => "reading the Task's fields",
            Step::CreateRecord => "creating the Lead or Contact for an unknown number",
        }
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

/// The remedy for `failure` in plain words (R9). `settings`, when given, lets the remedy
/// name the setting involved: which R5.4 value a custom field is mapped for, the configured
/// Task status.
pub fn remedy(failure: &Failure<'_>, settings: Option<&Settings>) -> String {
    known_remedy(failure, settings).unwrap_or_else(|| generic_remedy(failure))
}

/// A code callsync has no specific words for: say what failed and where to look.
fn generic_remedy(failure: &Failure<'_>) -> String {
    format!(
        "Salesforce refused {} with {}: {}; fix the cause in Salesforce or in the settings, \
         then retry",
        failure.step.doing(),
        failure.code,
        failure.message.trim()
    )
}

/// R13: what to do when Salesforce refuses the Lead or Contact created for an unknown
/// number. The call's Task is written all the same, without a link, and the next call from
/// the number tries again; each remedy says so.
fn record_remedy(code: &str, message: &str, fields: &[String]) -> Option<String> {
    const AFTER: &str = "The call's Task was written without a link; the next call from \
                         this number tries again (retrying this entry only clears it)";
    Some(match code {
        "DUPLICATES_DETECTED" => format!(
            "a duplicate rule in Salesforce refused the record callsync creates for an unknown \
             number ({message}): a matching record already exists. Add the number to that \
             record's Phone field so calls link to it, let the rule allow records from \
             callsync's Salesforce users, or set unknown numbers to 'unlinked'. {AFTER}"
        ),
        "REQUIRED_FIELD_MISSING" => format!(
            "the organisation requires fields on new Leads or Contacts that callsync does not \
             fill ({}): make them optional or give them a default value in Salesforce, or set \
             unknown numbers to 'unlinked'. {AFTER}",
            if fields.is_empty() {
                message.to_owned()
            } else {
                fields.join(", ")
            }
        ),
        "FIELD_CUSTOM_VALIDATION_EXCEPTION" => format!(
            "a validation rule in Salesforce refused the record created for an unknown number: \
             {message}; change the rule or the name templates in the settings. {AFTER}"
        ),
        "INVALID_CROSS_REFERENCE_KEY" | "ENTITY_IS_DELETED" | "FIELD_INTEGRITY_EXCEPTION" => {
            format!(
                "Salesforce refused an Id of the new record ({message}): check the Account set \
                 for new Contacts (unknown numbers → account) and the owner rule's user. {AFTER}"
            )
        }
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" | "BAD_VALUE_FOR_RESTRICTED_PICKLIST" => format!(
            "a value sent with the new record is not in its picklist ({message}): choose a Lead \
             Source that exists in Salesforce (unknown numbers → lead source). {AFTER}"
        ),
        code if code.starts_with("INSUFFICIENT_ACCESS") => format!(
            "the Salesforce user writing the call may not create Leads or Contacts ({message}): \
             give its profile or a permission set the right, or set unknown numbers to \
             'unlinked'. {AFTER}"
        ),
        _ => return None,
    })
}

/// The remedy for a code callsync knows, or `None`.
fn known_remedy(failure: &Failure<'_>, settings: Option<&Settings>) -> Option<String> {
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
    Some(match code {
        "INVALID_SESSION_ID" | "invalid_grant" | "INVALID_AUTH_HEADER" | "INVALID_LOGIN" => {
            let hint = if message.contains("approve") {
                " (the user has not been approved for the connected app: pre-authorise its \
                 profile or a permission set in the app's policies)"
            } else if message.to_ascii_lowercase().contains("inactive") {
                " (the user is inactive)"
            } else {
                ""
            };
            format!(
                "reconnect the Salesforce user: Salesforce no longer accepts its sign-in{hint}. \
                 Check that the user is active and allowed to use the connected app, and that \
                 the app holds the certificate of the stored key; then retry"
            )
        }
        "invalid_client_id" | "invalid_client" => "the connected app's consumer key is not \
            known to Salesforce: correct it in the organisation's Salesforce connection, then \
            retry"
            .to_owned(),
        "FIELD_CUSTOM_VALIDATION_EXCEPTION" => format!(
            "a validation rule in Salesforce rejected the Task: {message}; change the rule or \
             the settings, then retry"
        ),
        "INVALID_FIELD"
        | "INVALID_FIELD_FOR_INSERT_UPDATE"
        | "INVALID_FIELD_WHEN_USING_TEMPLATE"
            if named_field.is_some() =>
        {
            let field = named_field.unwrap_or_default();
            let missing = code == "INVALID_FIELD";
            match mapped(&field) {
                Some(label) if missing => format!(
                    "the custom field mapped for '{label}' ({field}) does not exist on Task, or \
                     the Salesforce user cannot see it: create the field or give the user \
                     access to it, or change the mapping in the settings; then retry"
                ),
                Some(label) => format!(
                    "the custom field mapped for '{label}' ({field}) cannot be written by the \
                     Salesforce user: give it edit access (field-level security), or change the \
                     mapping in the settings; then retry"
                ),
                None if missing => format!(
                    "Salesforce has no field {field} that the Salesforce user can see ({}); \
                     check the user's field-level security, then retry",
                    step.doing()
                ),
                None => format!(
                    "the Salesforce user may not write the field {field}: give it edit access \
                     (field-level security), then retry"
                ),
            }
        }
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
        | "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST_VALUE"
        | "BAD_VALUE_FOR_RESTRICTED_PICKLIST" => {
            let field = named_field.unwrap_or_default();
            if field.eq_ignore_ascii_case("Status") {
                let status = settings.map(|s| s.task_status.as_str()).unwrap_or("");
                format!(
                    "the Task status '{status}' in the settings is not a value of the Task \
                     Status picklist: choose one of its values in the settings (or add it to \
                     the picklist), then retry"
                )
            } else if let Some(label) = mapped(&field) {
                format!(
                    "a value sent for '{label}' is not a value of the picklist {field}: add the \
                     value to the picklist in Salesforce, then retry ({message})"
                )
            } else {
                format!(
                    "Salesforce refused a value of the picklist {field}: {message}; add the \
                     value to the picklist, then retry"
                )
            }
        }
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY" => format!(
            "the Salesforce user may not see the record the call was linked to, or may not \
             assign the Task to the chosen owner ({message}): share the record with the user, \
             or change the owner rule in the settings; then retry"
        ),
        code if code.starts_with("INSUFFICIENT_ACCESS") => format!(
            "the Salesforce user does not have the permission needed for {} ({message}): give \
             its profile or a permission set access to Tasks (create, edit) and to the records \
             it links to; then retry",
            step.doing()
        ),
        "API_DISABLED_FOR_ORG" | "API_CURRENTLY_DISABLED" => "the Salesforce user (or the \
            organisation's edition) has no API access: enable 'API Enabled' on its profile or \
            a permission set, then retry"
            .to_owned(),
        "REQUEST_LIMIT_EXCEEDED" if message.contains("TotalRequests") => "the organisation's \
            daily Salesforce API request limit is used up: syncing resumes when the rolling \
            24-hour budget recovers; buy more API calls or reduce other integrations' use if \
            this repeats, then retry"
            .to_owned(),
        "REQUEST_LIMIT_EXCEEDED" => "Salesforce refused the request because too many long \
            requests were running at once in the organisation: it is retried automatically; \
            retry by hand if it stays here"
            .to_owned(),
        "INACTIVE_OWNER_OR_USER" => "the Task's owner or the Salesforce user writing it is \
            inactive in Salesforce: activate the user, link the callsync user to an active \
            Salesforce user, or change the owner rule in the settings; then retry"
            .to_owned(),
        "STRING_TOO_LONG" => {
            let field = named_field.unwrap_or_else(|| "a Task field".to_owned());
            format!(
                "the text written to {field} is longer than the field allows ({message}): \
                 shorten the template in the settings or lengthen the field in Salesforce, \
                 then retry"
            )
        }
        "ENTITY_IS_DELETED" => match step {
            Step::UpdateTask => "the Task for this call was deleted in Salesforce: restore it \
                from the Recycle Bin, then retry"
                .to_owned(),
            _ => "a record the Task refers to (the linked record or its owner) was deleted in \
                Salesforce: restore it from the Recycle Bin, or retry to link the call again"
                .to_owned(),
        },
        "REQUIRED_FIELD_MISSING" => format!(
            "the organisation requires Task fields that callsync does not write ({}): make \
             them optional or give them a default value in Salesforce, then retry",
            if fields.is_empty() {
                message.to_owned()
            } else {
                fields.join(", ")
            }
        ),
        "INVALID_CROSS_REFERENCE_KEY" | "FIELD_INTEGRITY_EXCEPTION" | "MALFORMED_ID" => format!(
            "Salesforce refused an Id the Task refers to ({message}): check the click-to-call \
             record, the owner rule's user and the user links in callsync, then retry"
        ),
        "NOT_FOUND" => format!(
            "Salesforce could not find what callsync asked for while {} ({message}); check \
             that the record or user still exists, then retry",
            step.doing()
        ),
        "DUPLICATES_DETECTED" | "DUPLICATE_VALUE" => format!(
            "a duplicate rule or a unique field in Salesforce rejected the Task ({message}): \
             change the rule so it ignores Tasks, then retry"
        ),
        "UNABLE_TO_LOCK_ROW" => "someone else was changing the same record in Salesforce at \
            that moment; callsync retries this by itself, and a retry by hand works once the \
            record is free"
            .to_owned(),
        "CALLSYNC_INVALID_CONNECTION" => format!(
            "the organisation's Salesforce connection cannot be used ({message}): enter the \
             connection again, then retry"
        ),
        "CALLSYNC_INVALID_FIELDS" | "CALLSYNC_UNEXPECTED_ANSWER" => format!(
            "callsync could not complete {} ({message}); this is a fault in callsync: \
             report it with this entry, then retry",
            step.doing()
        ),
        "CALLSYNC_TRANSPORT" | "SERVER_UNAVAILABLE" | "QUERY_TIMEOUT" => format!(
            "Salesforce could not be reached or did not answer in time while {}; callsync \
             retries this by itself, and a retry by hand works once Salesforce answers again",
            step.doing()
        ),
        code if code.starts_with("HTTP_5") => format!(
            "Salesforce had a server error while {}; callsync retries this by itself, and a \
             retry by hand works once Salesforce answers again",
            step.doing()
        ),
        _ => return None,
    })
}

impl CrmError {
    /// The R9 remedy for this error at `step`; see [`remedy`]. A code without words of its
    /// own gets the remedy of its classification (a token refused for a reason not listed
    /// still means "reconnect the Salesforce user").
    pub fn remedy(&self, step: Step, settings: Option<&Settings>) -> String {
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
            let safe = if step == Step::CreateTask {
                "callsync looks for the Task by its CallObject before creating it again, so a \
                 retry never duplicates it"
            } else {
                "sending the same change again is harmless, so a retry is safe"
            };
            return format!(
                "Salesforce did not answer after {} was sent ({message}), so it may or may not \
                 have been saved; {safe}",
                step.doing()
            );
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

/// The R5.4 value a custom field is mapped for, in the words of the spec.
fn mapped_value_label(mapping: &CustomFieldMapping, field: &str) -> Option<&'static str> {
    [
        (&mapping.dial_started_at, "dial started at"),
        (&mapping.call_started_at, "call started at"),
        (&mapping.call_ended_at, "call ended at"),
        (&mapping.memo, "call memo"),
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
}
