//! Subject and comment templates (R5.3): text with `{PLACEHOLDER}`s, checked at save time and
//! rendered at sync time.

use std::collections::BTreeMap;

/// The placeholders a template may use (R5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Placeholder {
    /// `{CALL_KIND}`: the call kind's label, in the configured language.
    CallKind,
    /// `{CUSTOMER_NUMBER}`: the far end's number as the phone system sent it.
    CustomerNumber,
    /// `{USER_NAME}`: the name of the callsync user who handled the call.
    UserName,
    /// `{DIAL_STARTED_AT}`: when dialling or ringing began, in the organisation's time zone.
    DialStartedAt,
    /// `{CALL_STARTED_AT}`: when the conversation began.
    CallStartedAt,
    /// `{CALL_ENDED_AT}`: when the call ended.
    CallEndedAt,
    /// `{DURATION}`: talk time, `m:ss` or `h:mm:ss`.
    Duration,
    /// `{MEMO}`: memo values and note.
    Memo,
    /// `{SPEECH_RECOGNITION_SUMMARY}`: the analysis summary.
    SpeechRecognitionSummary,
    /// `{SPEECH_RECOGNITION}`: the transcript.
    SpeechRecognition,
    /// `{CALL_URL}`: the call's page in callsync.
    CallUrl,
}

impl Placeholder {
    /// Every placeholder, in the order R5.3 lists them.
    pub const ALL: [Placeholder; 11] = [
        Placeholder::CallKind,
        Placeholder::CustomerNumber,
        Placeholder::UserName,
        Placeholder::DialStartedAt,
        Placeholder::CallStartedAt,
        Placeholder::CallEndedAt,
        Placeholder::Duration,
        Placeholder::Memo,
        Placeholder::SpeechRecognitionSummary,
        Placeholder::SpeechRecognition,
        Placeholder::CallUrl,
    ];

    /// The name written between braces.
    pub fn name(&self) -> &'static str {
        match self {
            Placeholder::CallKind => "CALL_KIND",
            Placeholder::CustomerNumber => "CUSTOMER_NUMBER",
            Placeholder::UserName => "USER_NAME",
            Placeholder::DialStartedAt => "DIAL_STARTED_AT",
            Placeholder::CallStartedAt => "CALL_STARTED_AT",
            Placeholder::CallEndedAt => "CALL_ENDED_AT",
            Placeholder::Duration => "DURATION",
            Placeholder::Memo => "MEMO",
            Placeholder::SpeechRecognitionSummary => "SPEECH_RECOGNITION_SUMMARY",
            Placeholder::SpeechRecognition => "SPEECH_RECOGNITION",
            Placeholder::CallUrl => "CALL_URL",
        }
    }

    fn from_name(name: &str) -> Option<Placeholder> {
        Placeholder::ALL
            .into_iter()
            .find(|placeholder| placeholder.name() == name)
    }
}

/// A piece of a template.
enum Piece<'a> {
    Text(&'a str),
    Known(Placeholder),
    Unknown(&'a str),
}

/// Splits a template into text and placeholders. A brace pair counts as a placeholder when
/// what is between is a non-empty run of letters, digits and `_`; any other brace is text, so
/// a template may contain `{` or `}` in prose or JSON-like snippets.
fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut result = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let name_length = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if name_length > 0 && after[name_length..].starts_with('}') {
            result.push(Piece::Text(&rest[..open]));
            let name = &after[..name_length];
            result.push(match Placeholder::from_name(name) {
                Some(known) => Piece::Known(known),
                None => Piece::Unknown(name),
            });
            rest = &after[name_length + 1..];
        } else {
            result.push(Piece::Text(&rest[..=open]));
            rest = after;
        }
    }
    result.push(Piece::Text(rest));
    result
}

/// The names between braces that are not placeholders of R5.3, each once, in order.
pub fn unknown_placeholders(template: &str) -> Vec<String> {
    let mut unknown: Vec<String> = Vec::new();
    for piece in pieces(template) {
        if let Piece::Unknown(name) = piece
            && !unknown.iter().any(|known| known == name)
        {
            unknown.push(name.to_owned());
        }
    }
    unknown
}

/// Whether `template` uses `placeholder`.
pub fn uses(template: &str, placeholder: Placeholder) -> bool {
    pieces(template)
        .iter()
        .any(|piece| matches!(piece, Piece::Known(known) if *known == placeholder))
}

/// Fills a template. Placeholders without a value yet render empty (R5.3: the update that
/// brings the value fills them in). Unknown placeholders, which saved settings never hold,
/// stay as written rather than failing a sync.
pub fn render(template: &str, values: &BTreeMap<Placeholder, String>) -> String {
    let mut output = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Text(text) => output.push_str(text),
            Piece::Known(placeholder) => {
                output.push_str(values.get(&placeholder).map(String::as_str).unwrap_or(""))
            }
            Piece::Unknown(name) => {
                output.push('{');
                output.push_str(name);
                output.push('}');
            }
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r5_3_unknown_placeholders_are_named_once_each() {
        assert_eq!(
            unknown_placeholders("{CALL_KIND} {CUSTOMER} {memo} {CUSTOMER}"),
            vec!["CUSTOMER".to_owned(), "memo".to_owned()]
        );
        assert!(unknown_placeholders("{MEMO} {SPEECH_RECOGNITION}").is_empty());
    }

    #[test]
    fn r5_3_braces_that_are_not_placeholders_are_text() {
        assert!(unknown_placeholders("{ not one } {} {a-b} {").is_empty());
        assert_eq!(render("{ x } {} {", &BTreeMap::new()), "{ x } {} {");
    }

    #[test]
    fn r5_3_values_unknown_yet_render_empty() {
        let values = BTreeMap::from([(Placeholder::CallKind, "発信".to_owned())]);
        assert_eq!(render("{CALL_KIND}:{MEMO}!", &values), "発信:!");
    }

    #[test]
    fn r5_3_every_placeholder_of_the_spec_is_known() {
        for name in [
            "CALL_KIND",
            "CUSTOMER_NUMBER",
            "USER_NAME",
            "DIAL_STARTED_AT",
            "CALL_STARTED_AT",
            "CALL_ENDED_AT",
            "DURATION",
            "MEMO",
            "SPEECH_RECOGNITION_SUMMARY",
            "SPEECH_RECOGNITION",
            "CALL_URL",
        ] {
            assert!(
                unknown_placeholders(&format!("{{{name}}}")).is_empty(),
                "{name}"
            );
        }
    }
}
