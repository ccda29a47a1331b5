//! The one error type of this crate: what Salesforce said, and whether a retry can help.
//!
//! Salesforce reports failures in several shapes (see `parse_error_body`); all of
//! them end up as a list of [`ApiError`]s inside one [`Error`], and
//! [`Error::kind`] turns the status, the error codes and what happened on the
//! wire into the decision a caller has to take ([`ErrorKind`]).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

/// One error reported by Salesforce: its code, message and the fields it names.
///
/// REST resources call the code `errorCode`; sObject Collections and composite
/// results call it `statusCode`; the OAuth endpoints call it `error`. All land
/// here as [`ApiError::code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Salesforce's code, e.g. `UNABLE_TO_LOCK_ROW`, `INVALID_FIELD`, `invalid_grant`.
    pub code: String,
    /// Salesforce's human-readable message.
    pub message: String,
    /// The fields the error is about (may be empty).
    pub fields: Vec<String>,
    /// For `DUPLICATES_DETECTED`: the ids of the existing records a duplicate
    /// rule matched, so a caller can link to one of them instead.
    pub duplicate_record_ids: Vec<String>,
}

/// What a caller should do about an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A transient condition (a locked row, a 5xx, the concurrent-request
    /// limit, a GET that timed out): try the same request again later,
    /// after `after` if Salesforce said how long.
    RetryLater {
        /// The delay Salesforce asked for (`Retry-After`), when it gave one.
        after: Option<Duration>,
    },
    /// The credentials no longer work (session rejected even after a fresh
    /// token, refresh token revoked, user not approved): a person must
    /// reconnect the Salesforce user.
    Reauthenticate,
    /// A write was sent but no answer came back (timeout, connection lost):
    /// it may or may not have happened. Look before writing again (e.g. query
    /// for the record by a unique field). Updates, upserts and deletes are
    /// idempotent and can simply be repeated.
    OutcomeUnknown,
    /// The organisation's rolling 24-hour API request limit is used up
    /// (`REQUEST_LIMIT_EXCEEDED` with `TotalRequests`): stop calling until the
    /// budget recovers; retrying now only makes it worse.
    DailyLimitExhausted,
    /// Retrying the same request cannot help (validation rule, bad field,
    /// missing record, malformed query, wrong configuration).
    Permanent,
}

/// An error from the Salesforce client. Cheap to move (one box).
///
/// Never contains tokens, secrets or private keys: only Salesforce's answer,
/// the HTTP method and the path of the resource.
#[derive(Debug, Clone)]
pub struct Error {
    repr: Box<Repr>,
}

#[derive(Debug, Clone, thiserror::Error)]
enum Repr {
    /// Salesforce answered with an error status (or a per-record failure).
    #[error("Salesforce rejected {request}: {}", describe_status(*status, errors))]
    Api {
        request: String,
        /// `None` for a per-record failure inside a 200 answer.
        status: Option<u16>,
        errors: Vec<ApiError>,
        retry_after: Option<Duration>,
    },
    /// The OAuth token endpoint refused to issue a token.
    #[error("Salesforce refused a token ({status}): {}", describe_errors(errors))]
    Token { status: u16, errors: Vec<ApiError> },
    /// A fresh token was fetched after `INVALID_SESSION_ID`, and Salesforce
    /// rejected the repeated request too.
    #[error(
        "Salesforce rejected the session for {request} again after a fresh token was fetched: {}",
        describe_errors(errors)
    )]
    SessionRejectedAfterRefresh {
        request: String,
        errors: Vec<ApiError>,
    },
    /// The request failed on the wire.
    #[error("{request} failed {}: {source}", if *sent { "after it was sent" } else { "before it was sent" })]
    Transport {
        request: String,
        /// True when the request may have reached Salesforce.
        sent: bool,
        /// True for GET/HEAD, which change nothing and are safe to repeat.
        idempotent: bool,
        // In an Arc so that one failed chunk of a collection request can be
        // reported on each of its records.
        #[source]
        source: Arc<reqwest::Error>,
    },
    /// Salesforce answered, but not in a shape this client understands.
    #[error("unexpected answer to {request} (status {status}): {detail}")]
    UnexpectedResponse {
        request: String,
        status: u16,
        detail: String,
    },
    /// The request could not be built: bad configuration or arguments.
    #[error("invalid request: {0}")]
    Invalid(String),
}

fn describe_errors(errors: &[ApiError]) -> String {
    if errors.is_empty() {
        return "no details given".to_owned();
    }
    errors
        .iter()
        .map(|e| {
            if e.fields.is_empty() {
                format!("{}: {}", e.code, e.message)
            } else {
                format!(
                    "{}: {} (fields: {})",
                    e.code,
                    e.message,
                    e.fields.join(", ")
                )
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe_status(status: Option<u16>, errors: &[ApiError]) -> String {
    match status {
        Some(status) => format!("status {status}, {}", describe_errors(errors)),
        None => describe_errors(errors),
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.repr.fmt(f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.repr)
    }
}

impl Error {
    pub(crate) fn api(
        request: String,
        status: Option<u16>,
        errors: Vec<ApiError>,
        retry_after: Option<Duration>,
    ) -> Self {
        Self::from_repr(Repr::Api {
            request,
            status,
            errors,
            retry_after,
        })
    }

    pub(crate) fn token(status: u16, errors: Vec<ApiError>) -> Self {
        Self::from_repr(Repr::Token { status, errors })
    }

    pub(crate) fn session_rejected_after_refresh(request: String, errors: Vec<ApiError>) -> Self {
        Self::from_repr(Repr::SessionRejectedAfterRefresh { request, errors })
    }

    pub(crate) fn transport(
        request: String,
        sent: bool,
        idempotent: bool,
        source: reqwest::Error,
    ) -> Self {
        Self::from_repr(Repr::Transport {
            request,
            sent,
            idempotent,
            source: Arc::new(source.without_url()),
        })
    }

    pub(crate) fn unexpected(request: String, status: u16, detail: impl Into<String>) -> Self {
        Self::from_repr(Repr::UnexpectedResponse {
            request,
            status,
            detail: detail.into(),
        })
    }

    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        Self::from_repr(Repr::Invalid(detail.into()))
    }

    fn from_repr(repr: Repr) -> Self {
        Self {
            repr: Box::new(repr),
        }
    }

    /// What a caller should do about this error; see [`ErrorKind`].
    pub fn kind(&self) -> ErrorKind {
        match &*self.repr {
            Repr::Api {
                status,
                errors,
                retry_after,
                ..
            } => classify_api(*status, errors, *retry_after),
            Repr::Token { status, .. } => {
                if *status >= 500 {
                    ErrorKind::RetryLater { after: None }
                } else {
                    ErrorKind::Reauthenticate
                }
            }
            Repr::SessionRejectedAfterRefresh { .. } => ErrorKind::Reauthenticate,
            Repr::Transport {
                sent, idempotent, ..
            } => {
                if !*sent || *idempotent {
                    ErrorKind::RetryLater { after: None }
                } else {
                    ErrorKind::OutcomeUnknown
                }
            }
            Repr::UnexpectedResponse { status, .. } => {
                if *status >= 500 {
                    ErrorKind::RetryLater { after: None }
                } else {
                    ErrorKind::Permanent
                }
            }
            Repr::Invalid(_) => ErrorKind::Permanent,
        }
    }

    /// The HTTP status Salesforce answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match &*self.repr {
            Repr::Api { status, .. } => *status,
            Repr::Token { status, .. } | Repr::UnexpectedResponse { status, .. } => Some(*status),
            Repr::SessionRejectedAfterRefresh { .. } => Some(401),
            Repr::Transport { .. } | Repr::Invalid(_) => None,
        }
    }

    /// Every error Salesforce reported (often exactly one; empty when
    /// Salesforce never answered).
    pub fn api_errors(&self) -> &[ApiError] {
        match &*self.repr {
            Repr::Api { errors, .. }
            | Repr::Token { errors, .. }
            | Repr::SessionRejectedAfterRefresh { errors, .. } => errors,
            Repr::Transport { .. } | Repr::UnexpectedResponse { .. } | Repr::Invalid(_) => &[],
        }
    }

    /// The first Salesforce error code, e.g. `FIELD_CUSTOM_VALIDATION_EXCEPTION`.
    pub fn code(&self) -> Option<&str> {
        self.api_errors().first().map(|e| e.code.as_str())
    }

    /// True when the request timed out (see [`ClientConfig::timeout`](crate::ClientConfig::timeout)).
    pub fn is_timeout(&self) -> bool {
        matches!(&*self.repr, Repr::Transport { source, .. } if source.is_timeout())
    }
}

fn classify_api(
    status: Option<u16>,
    errors: &[ApiError],
    retry_after: Option<Duration>,
) -> ErrorKind {
    let retry_later = ErrorKind::RetryLater { after: retry_after };
    // The code decides first: Salesforce uses 400 for UNABLE_TO_LOCK_ROW and
    // 403 for both the daily limit and the concurrent-request limit.
    for error in errors {
        match error.code.as_str() {
            // "unable to obtain exclusive access to this record": another
            // transaction holds the row; it is released within seconds.
            "UNABLE_TO_LOCK_ROW" | "SERVER_UNAVAILABLE" | "QUERY_TIMEOUT" => return retry_later,
            // Salesforce says which limit in the message: "TotalRequests Limit
            // exceeded." is the rolling 24-hour budget; "ConcurrentPerOrgLongTxn
            // Limit exceeded." (and "ConcurrentRequest") is the number of long
            // requests running at once, which clears by itself.
            "REQUEST_LIMIT_EXCEEDED" => {
                return if error.message.contains("TotalRequests") {
                    ErrorKind::DailyLimitExhausted
                } else {
                    retry_later
                };
            }
            "INVALID_SESSION_ID" => return ErrorKind::Reauthenticate,
            _ => {}
        }
    }
    match status {
        Some(401) => ErrorKind::Reauthenticate,
        Some(429) => retry_later,
        Some(s) if s >= 500 => retry_later,
        _ => ErrorKind::Permanent,
    }
}

/// The error entries as Salesforce writes them, in any of its shapes.
#[derive(Deserialize)]
struct WireError {
    #[serde(alias = "statusCode", alias = "error")]
    #[serde(rename = "errorCode", default)]
    code: Option<String>,
    #[serde(alias = "error_description", default)]
    message: Option<String>,
    #[serde(default)]
    fields: Vec<String>,
    #[serde(rename = "duplicateResult", default)]
    duplicate_result: Option<WireDuplicateResult>,
}

#[derive(Deserialize)]
struct WireDuplicateResult {
    #[serde(rename = "matchResults", default)]
    match_results: Vec<WireMatchResult>,
}

#[derive(Deserialize)]
struct WireMatchResult {
    #[serde(rename = "matchRecords", default)]
    match_records: Vec<WireMatchRecord>,
}

#[derive(Deserialize)]
struct WireMatchRecord {
    record: Option<WireRecordRef>,
}

#[derive(Deserialize)]
struct WireRecordRef {
    #[serde(rename = "Id")]
    id: Option<String>,
}

impl From<WireError> for ApiError {
    fn from(wire: WireError) -> Self {
        let duplicate_record_ids = wire
            .duplicate_result
            .map(|d| {
                d.match_results
                    .into_iter()
                    .flat_map(|m| m.match_records)
                    .filter_map(|r| r.record.and_then(|r| r.id))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            code: wire.code.unwrap_or_else(|| "UNKNOWN_ERROR".to_owned()),
            message: wire.message.unwrap_or_default(),
            fields: wire.fields,
            duplicate_record_ids,
        }
    }
}

/// A per-record result of sObject Collections (`{"success":false,"errors":[…]}`).
#[derive(Deserialize)]
struct WireSaveResultErrors {
    errors: Vec<WireError>,
}

/// Parses an error body in any shape Salesforce uses:
///
/// - REST resources: `[{"message":…,"errorCode":…,"fields":[…]}]`, with a
///   `duplicateResult` object when a duplicate rule blocked the save;
/// - sObject Collections / composite results: `{"success":false,"errors":[{"statusCode":…}]}`;
/// - OAuth: `{"error":…,"error_description":…}`;
/// - a single REST error object `{"errorCode":…,"message":…}`;
/// - anything else (plain text or the HTML page of a load balancer on a 5xx):
///   one `ApiError` whose code is `HTTP_<status>` and whose message is the
///   start of the body, so nothing is lost and nothing fails to parse.
pub(crate) fn parse_error_body(status: u16, body: &str) -> Vec<ApiError> {
    let trimmed = body.trim();
    if let Ok(list) = serde_json::from_str::<Vec<WireError>>(trimmed)
        && !list.is_empty()
    {
        return list.into_iter().map(ApiError::from).collect();
    }
    if let Ok(result) = serde_json::from_str::<WireSaveResultErrors>(trimmed)
        && !result.errors.is_empty()
    {
        return result.errors.into_iter().map(ApiError::from).collect();
    }
    if let Ok(single) = serde_json::from_str::<WireError>(trimmed)
        && single.code.is_some()
    {
        return vec![ApiError::from(single)];
    }
    vec![ApiError {
        code: format!("HTTP_{status}"),
        message: body_excerpt(trimmed),
        fields: Vec::new(),
        duplicate_record_ids: Vec::new(),
    }]
}

/// Parses the `errors` array of one collection or composite result.
pub(crate) fn parse_error_list(value: serde_json::Value) -> Vec<ApiError> {
    serde_json::from_value::<Vec<WireError>>(value)
        .map(|list| list.into_iter().map(ApiError::from).collect())
        .unwrap_or_default()
}

/// The first few hundred characters of a body, for error messages: a 5xx
/// page can be large and says little after its title.
pub(crate) fn body_excerpt(body: &str) -> String {
    const LIMIT: usize = 300;
    if body.chars().count() <= LIMIT {
        return body.to_owned();
    }
    let mut excerpt: String = body.chars().take(LIMIT).collect();
    excerpt.push('…');
    excerpt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(status: u16, body: &str) -> Error {
        Error::api(
            "POST /sobjects/Task".to_owned(),
            Some(status),
            parse_error_body(status, body),
            None,
        )
    }

    // Shape recorded by forcedotcom/sf-fx-runtime-nodejs, mappings/create-required-field-missing.json.
    #[test]
    fn a_rest_error_array_gives_code_message_and_fields() {
        let error = api_error(
            400,
            r#"[{"message":"Required fields are missing: [Website__c]","errorCode":"REQUIRED_FIELD_MISSING","fields":["Website__c"]}]"#,
        );
        assert_eq!(error.code(), Some("REQUIRED_FIELD_MISSING"));
        assert_eq!(error.api_errors()[0].fields, vec!["Website__c"]);
        assert_eq!(error.kind(), ErrorKind::Permanent);
        assert!(error.to_string().contains("Required fields are missing"));
    }

    #[test]
    fn a_collection_result_with_status_code_is_parsed() {
        let errors = parse_error_body(
            200,
            r#"{"success":false,"errors":[{"statusCode":"UNABLE_TO_LOCK_ROW","message":"unable to obtain exclusive access to this record","fields":[]}]}"#,
        );
        assert_eq!(errors[0].code, "UNABLE_TO_LOCK_ROW");
    }

    // Shape from simple-salesforce's tests (tests/test_login.py, a JWT login refused).
    #[test]
    fn an_oauth_error_asks_for_reauthentication() {
        let errors = parse_error_body(
            400,
            r#"{"error":"invalid_grant","error_description":"user hasn't approved this consumer"}"#,
        );
        assert_eq!(errors[0].code, "invalid_grant");
        assert_eq!(errors[0].message, "user hasn't approved this consumer");
        assert_eq!(Error::token(400, errors).kind(), ErrorKind::Reauthenticate);
    }

    #[test]
    fn a_token_endpoint_outage_is_retried() {
        let errors = parse_error_body(503, "Service Unavailable");
        assert_eq!(
            Error::token(503, errors).kind(),
            ErrorKind::RetryLater { after: None }
        );
    }

    #[test]
    fn a_duplicate_rule_body_names_the_matching_records() {
        // Shape as described by Salesforce's DuplicateError/DuplicateResult
        // objects: errorCode DUPLICATES_DETECTED with duplicateResult.matchResults[].matchRecords[].record.
        let error = api_error(
            400,
            r#"[{"duplicateResult":{"allowSave":false,"duplicateRule":"Standard_Contact_Duplicate_Rule","duplicateRuleEntityType":"Contact","errorMessage":"Use one of these records?","matchResults":[{"entityType":"Contact","errors":[],"matchEngine":"FuzzyMatchEngine","matchRecords":[{"additionalInformation":[],"fieldDiffs":[],"matchConfidence":100.0,"record":{"attributes":{"type":"Contact","url":"/services/data/v62.0/sobjects/Contact/003000000000001AAA"},"Id":"003000000000001AAA"}}],"rule":"Standard_Contact_Match_Rule_v1_1","size":1,"success":true}]},"errorCode":"DUPLICATES_DETECTED","message":"Use one of these records?"}]"#,
        );
        assert_eq!(error.code(), Some("DUPLICATES_DETECTED"));
        assert_eq!(
            error.api_errors()[0].duplicate_record_ids,
            vec!["003000000000001AAA"]
        );
        assert_eq!(error.kind(), ErrorKind::Permanent);
    }

    #[test]
    fn an_html_error_page_keeps_its_start_and_is_retried() {
        let page = format!(
            "<html><head><title>503 Service Unavailable</title></head><body>{}</body></html>",
            "x".repeat(1000)
        );
        let error = api_error(503, &page);
        assert_eq!(error.code(), Some("HTTP_503"));
        assert!(
            error.api_errors()[0]
                .message
                .starts_with("<html><head><title>503")
        );
        assert!(error.api_errors()[0].message.chars().count() < 400);
        assert_eq!(error.kind(), ErrorKind::RetryLater { after: None });
    }

    #[test]
    fn a_locked_row_is_retried_after_the_delay_salesforce_asked_for() {
        let error = Error::api(
            "PATCH /sobjects/Task/00T".to_owned(),
            Some(400),
            parse_error_body(
                400,
                r#"[{"message":"unable to obtain exclusive access to this record or 1 records: 00T000000000001AAA","errorCode":"UNABLE_TO_LOCK_ROW","fields":[]}]"#,
            ),
            Some(Duration::from_secs(3)),
        );
        assert_eq!(
            error.kind(),
            ErrorKind::RetryLater {
                after: Some(Duration::from_secs(3))
            }
        );
    }

    // Messages as reported for REQUEST_LIMIT_EXCEEDED: "TotalRequests Limit
    // exceeded." (jetstreamapp/jetstream#868) and "ConcurrentPerOrgLongTxn
    // Limit exceeded." (Adobe Marketo's Salesforce sync error reference).
    #[test]
    fn the_daily_limit_and_the_concurrency_limit_are_told_apart() {
        let daily = api_error(
            403,
            r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
        );
        assert_eq!(daily.kind(), ErrorKind::DailyLimitExhausted);
        let concurrent = api_error(
            403,
            r#"[{"message":"ConcurrentPerOrgLongTxn Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
        );
        assert_eq!(concurrent.kind(), ErrorKind::RetryLater { after: None });
    }

    #[test]
    fn an_invalid_session_asks_for_reauthentication() {
        // forcedotcom/sf-fx-runtime-nodejs, mappings/create-invalid-token.json: 401 with this body.
        let error = api_error(
            401,
            r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
        );
        assert_eq!(error.kind(), ErrorKind::Reauthenticate);
    }

    #[test]
    fn an_empty_body_still_gives_one_error() {
        let errors = parse_error_body(500, "");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code, "HTTP_500");
    }
}
