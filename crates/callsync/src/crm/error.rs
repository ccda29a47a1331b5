//! The one error of the `crm` module: a Salesforce failure or one of ours, with the
//! classification the worker branches on and the code and message the error log shows.

use salesforce::ErrorKind;

/// Why a `crm` operation failed.
///
/// Every variant answers the worker's one question through [`CrmError::kind`]: retry later
/// (and when), reconnect the user, look before writing again, stop for the day, or give up
/// and log. Messages never hold tokens or keys: the Salesforce client keeps them out of its
/// errors, and our own variants carry only field names and Salesforce's words.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CrmError {
    /// Salesforce (or the wire to it) failed; its own classification applies.
    #[error(transparent)]
    Salesforce(#[from] salesforce::Error),
    /// The organisation's stored connection cannot be used (unreadable JSON, an empty key).
    #[error("the Salesforce connection is not usable: {0}")]
    InvalidConnection(String),
    /// The fields handed to a write could not be sent (they are not a JSON object).
    #[error("the Task fields cannot be sent: {0}")]
    InvalidFields(String),
    /// Salesforce answered successfully, but not in a shape callsync can read.
    #[error("Salesforce answered {what} in an unexpected shape: {detail}")]
    UnexpectedAnswer {
        /// What was asked, e.g. `the Contact search`.
        what: &'static str,
        /// What did not fit.
        detail: String,
    },
}

impl CrmError {
    /// What the worker should do about this error (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            CrmError::Salesforce(error) => error.kind(),
            CrmError::InvalidConnection(_) => ErrorKind::Reauthenticate,
            // Neither a shape we cannot read nor fields we cannot send change by asking again.
            CrmError::UnexpectedAnswer { .. } | CrmError::InvalidFields(_) => ErrorKind::Permanent,
        }
    }

    /// True when trying again later can succeed by itself (locks, outages, the
    /// concurrent-request limit). Unknown outcomes are not transient: the worker must look
    /// for the Task before writing again.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind(), ErrorKind::RetryLater { .. })
    }

    /// The underlying Salesforce error, if this is one.
    pub fn salesforce(&self) -> Option<&salesforce::Error> {
        match self {
            CrmError::Salesforce(error) => Some(error),
            CrmError::InvalidConnection(_)
            | CrmError::InvalidFields(_)
            | CrmError::UnexpectedAnswer { .. } => None,
        }
    }

    /// Salesforce's error code for the error log (`FIELD_CUSTOM_VALIDATION_EXCEPTION`), or
    /// one of ours (`CALLSYNC_INVALID_CONNECTION`, `CALLSYNC_INVALID_FIELDS`, `CALLSYNC_UNEXPECTED_ANSWER`,
    /// `CALLSYNC_TRANSPORT` when Salesforce never answered).
    pub fn code(&self) -> String {
        match self {
            CrmError::Salesforce(error) => match error.code() {
                Some(code) => code.to_owned(),
                None if error.status().is_none() => "CALLSYNC_TRANSPORT".to_owned(),
                None => format!("HTTP_{}", error.status().unwrap_or_default()),
            },
            CrmError::InvalidConnection(_) => "CALLSYNC_INVALID_CONNECTION".to_owned(),
            CrmError::InvalidFields(_) => "CALLSYNC_INVALID_FIELDS".to_owned(),
            CrmError::UnexpectedAnswer { .. } => "CALLSYNC_UNEXPECTED_ANSWER".to_owned(),
        }
    }

    /// Salesforce's message for the error log (all of them when it sent several), or the
    /// error's own description.
    pub fn message(&self) -> String {
        match self {
            CrmError::Salesforce(error) if !error.api_errors().is_empty() => error
                .api_errors()
                .iter()
                .map(|api| api.message.trim())
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        }
    }

    /// The fields Salesforce named (may be empty).
    pub fn fields(&self) -> Vec<String> {
        self.salesforce()
            .map(|error| {
                error
                    .api_errors()
                    .iter()
                    .flat_map(|api| api.fields.iter().cloned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// True when `error` is worth retrying unchanged later (a thin wrapper over
/// [`salesforce::Error::kind`] for callers holding a bare client error).
pub fn is_transient(error: &salesforce::Error) -> bool {
    matches!(error.kind(), ErrorKind::RetryLater { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_errors_are_classified_and_coded() {
        let invalid = CrmError::InvalidConnection("consumer_key is empty".to_owned());
        assert_eq!(invalid.kind(), ErrorKind::Reauthenticate);
        assert_eq!(invalid.code(), "CALLSYNC_INVALID_CONNECTION");
        assert!(invalid.message().contains("consumer_key is empty"));
        let shape = CrmError::UnexpectedAnswer {
            what: "the Contact search",
            detail: "no records".to_owned(),
        };
        assert_eq!(shape.kind(), ErrorKind::Permanent);
        assert!(!shape.is_transient());
        assert!(shape.fields().is_empty());
    }
}
