//! The errors the query engine answers with, in Salesforce's codes and wording, and the
//! "caret" message Salesforce's query parser writes: the query (or a window of it) echoed,
//! a caret under the offending spot, `ERROR at Row:R:Column:C`, then the reason.
//!
//! The shape is taken from real responses recorded in public repositories, for example
//! `"\nSELECT Bacon__c FROM Account LIMIT 2\n       ^\nERROR at Row:1:Column:8\nNo such column
//! 'Bacon__c' on entity 'Account'. ..."` (forcedotcom/sf-fx-runtime-java, REST API error
//! tests) and `"\nSELECT Id FROM Account WHERE\n                            ^\nERROR at
//! Row:1:Column:29\nunexpected token: '<EOF>'"`. Long queries are not echoed whole: the
//! samples (`SELECT Id, ApiName, Status FROM FlowDefinition` cut from a longer query with the
//! error at column 12; a row-3 error echoing only part of line 3) fit a window of 35
//! characters either side of the error, widened to whole words, on the error's line only.

/// Why a query or search was refused. Every variant is answered with HTTP 400 and one
/// error item `{"message": message(), "errorCode": error_code()}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Syntax errors and operators a field does not allow (Salesforce folded
    /// `INVALID_QUERY_FILTER_OPERATOR` into this code in Summer '24).
    #[error("MALFORMED_QUERY: {message}")]
    MalformedQuery { message: String },
    /// An unknown field or relationship, or a literal of the wrong type for its field.
    #[error("INVALID_FIELD: {message}")]
    InvalidField { message: String },
    /// An unknown object in `FROM` or `RETURNING`.
    #[error("INVALID_TYPE: {message}")]
    InvalidType { message: String },
    /// `OFFSET` above 2000.
    #[error("NUMBER_OUTSIDE_VALID_RANGE: {message}")]
    NumberOutsideValidRange { message: String },
    /// SOSL syntax errors.
    #[error("MALFORMED_SEARCH: {message}")]
    MalformedSearch { message: String },
    /// A SOSL search term Salesforce will not run (too short).
    #[error("INVALID_SEARCH: {message}")]
    InvalidSearch { message: String },
}

impl QueryError {
    /// Salesforce's `errorCode`.
    pub fn error_code(&self) -> &'static str {
        match self {
            QueryError::MalformedQuery { .. } => "MALFORMED_QUERY",
            QueryError::InvalidField { .. } => "INVALID_FIELD",
            QueryError::InvalidType { .. } => "INVALID_TYPE",
            QueryError::NumberOutsideValidRange { .. } => "NUMBER_OUTSIDE_VALID_RANGE",
            QueryError::MalformedSearch { .. } => "MALFORMED_SEARCH",
            QueryError::InvalidSearch { .. } => "INVALID_SEARCH",
        }
    }

    /// Salesforce's `message`, caret block included where Salesforce writes one.
    pub fn message(&self) -> &str {
        match self {
            QueryError::MalformedQuery { message }
            | QueryError::InvalidField { message }
            | QueryError::InvalidType { message }
            | QueryError::NumberOutsideValidRange { message }
            | QueryError::MalformedSearch { message }
            | QueryError::InvalidSearch { message } => message,
        }
    }
}

/// Which language is being parsed: it decides the code of a syntax error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Soql,
    Sosl,
}

impl Dialect {
    pub(crate) fn syntax_error(self, message: String) -> QueryError {
        match self {
            Dialect::Soql => QueryError::MalformedQuery { message },
            Dialect::Sosl => QueryError::MalformedSearch { message },
        }
    }
}

/// Characters of context Salesforce echoes either side of the error (see the module doc).
const ECHO_RADIUS: usize = 35;

/// The row (1-based) and column (1-based, in characters) of byte `offset` in `text`.
pub(crate) fn row_and_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let row = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    let column = before[line_start..].chars().count() + 1;
    (row, column)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Salesforce's caret message for an error at byte `offset` of `query`.
pub(crate) fn caret_message(query: &str, offset: usize, reason: &str) -> String {
    let (row, column) = row_and_column(query, offset);
    caret_message_at(query, offset, row, column, reason)
}

/// As [`caret_message`], with the reported row and column given (lexer errors report a
/// 0-based column, as Salesforce's own lexer does).
pub(crate) fn caret_message_at(
    query: &str,
    offset: usize,
    row: usize,
    column: usize,
    reason: &str,
) -> String {
    let offset = floor_char_boundary(query, offset.min(query.len()));
    let line_start = query[..offset].rfind('\n').map_or(0, |index| index + 1);
    let line_end = query[offset..]
        .find('\n')
        .map_or(query.len(), |index| offset + index);
    let line: Vec<char> = query[line_start..line_end].chars().collect();
    let error_index = query[line_start..offset].chars().count();
    let mut window_start = error_index.saturating_sub(ECHO_RADIUS);
    while window_start > 0 && !line[window_start - 1].is_whitespace() {
        window_start -= 1;
    }
    let mut window_end = (error_index + ECHO_RADIUS).min(line.len());
    while window_end < line.len() && window_end > 0 && !line[window_end - 1].is_whitespace() {
        window_end += 1;
    }
    while window_start < window_end
        && line[window_start].is_whitespace()
        && window_start < error_index
    {
        window_start += 1;
    }
    while window_end > window_start && line[window_end - 1].is_whitespace() {
        window_end -= 1;
    }
    let echoed: String = line[window_start..window_end].iter().collect();
    let caret_indent = " ".repeat(error_index - window_start);
    format!("\n{echoed}\n{caret_indent}^\nERROR at Row:{row}:Column:{column}\n{reason}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_query_is_echoed_whole_with_the_caret_under_the_error() {
        let query = "SELECT Bacon__c FROM Account LIMIT 2";
        let message = caret_message(query, 7, "No such column");
        assert_eq!(
            message,
            "\nSELECT Bacon__c FROM Account LIMIT 2\n       ^\nERROR at Row:1:Column:8\nNo such column"
        );
    }

    #[test]
    fn the_end_of_the_query_is_one_column_past_its_last_character() {
        let query = "SELECT Id FROM Account WHERE";
        let message = caret_message(query, query.len(), "unexpected token: '<EOF>'");
        assert_eq!(
            message,
            "\nSELECT Id FROM Account WHERE\n                            ^\nERROR at Row:1:Column:29\nunexpected token: '<EOF>'"
        );
    }

    #[test]
    fn a_long_query_is_cut_to_whole_words_around_the_error() {
        // The recorded sample: the echo stops after `FlowDefinition`.
        let query = "SELECT Id, ApiName, Status FROM FlowDefinition WHERE ApiName IN ('AGENT_SearchAccounts')";
        let message = caret_message(query, 11, "No such column");
        assert!(message.starts_with("\nSELECT Id, ApiName, Status FROM FlowDefinition\n           ^\nERROR at Row:1:Column:12"));
    }

    #[test]
    fn a_multi_line_query_reports_the_row_and_echoes_only_that_line() {
        let query = "SELECT Id\nFROM Contact\nWHERE Nope__c = 1";
        let offset = query.find("Nope__c").unwrap();
        let message = caret_message(query, offset, "x");
        assert_eq!(
            message,
            "\nWHERE Nope__c = 1\n      ^\nERROR at Row:3:Column:7\nx"
        );
    }
}
