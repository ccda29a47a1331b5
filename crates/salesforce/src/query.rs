//! Safe SOQL and SOSL: statements are written as `'static` templates and every
//! value goes in through a placeholder, escaped by its type.
//!
//! [`Soql`] and [`Sosl`] can only be made by [`soql!`](crate::soql) /
//! [`sosl!`](crate::sosl) (or [`Soql::from_template`]), whose template must be a
//! `&'static str`: text from outside (a phone number, a name, a field chosen by
//! an admin) can only enter through a placeholder, where it is quoted and
//! escaped ([`SoqlValue`]). There is deliberately no "raw string" escape hatch.
//!
//! Escaping rules, from Salesforce's SOQL and SOSL reference ("Quoted String
//! Escape Sequences", "Reserved Characters", and the SOSL "FIND" examples):
//! - inside a SOQL string literal, `'`, `"` and `\` are preceded by `\`; new line,
//!   carriage return, tab, bell and form feed are written `\n \r \t \b \f`; any
//!   other control character as `\uXXXX`;
//! - in a `LIKE` pattern, `%` and `_` are also escaped as `\%` and `\_` so that a
//!   value matches only itself; [`Like`] adds the wildcards the caller asked for;
//! - in a SOSL search term, the reserved characters
//!   `? & | ! { } [ ] ( ) ^ ~ * : \ " ' + -` are preceded by `\`, and the term
//!   is written as a quoted phrase so words such as `AND`/`OR`/`NOT` are literal.

use std::fmt::Write as _;

use crate::Error;

/// A SOQL statement whose values were all escaped. Made by [`soql!`](crate::soql).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soql(String);

/// A SOSL statement whose search term and values were all escaped. Made by [`sosl!`](crate::sosl).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sosl(String);

impl Soql {
    /// Fills the `{}` placeholders of `template` with `values`, escaping each.
    /// Prefer the [`soql!`](crate::soql) macro, which calls this.
    pub fn from_template(template: &'static str, values: &[&dyn SoqlValue]) -> Result<Self, Error> {
        render(template, values, Context::Soql).map(Self)
    }

    /// The statement text, as sent to Salesforce.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Sosl {
    /// Fills the `{}` placeholders of `template` with `values`, escaping each.
    /// Prefer the [`sosl!`](crate::sosl) macro, which calls this.
    pub fn from_template(template: &'static str, values: &[&dyn SoqlValue]) -> Result<Self, Error> {
        render(template, values, Context::Sosl).map(Self)
    }

    /// The statement text, as sent to Salesforce.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Soql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for Sosl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Builds a [`Soql`] from a literal template and values; each `{}` takes the
/// next value, escaped by its type ([`SoqlValue`]). Returns `Result<Soql, Error>`.
///
/// ```
/// use salesforce::{soql, FieldNames};
/// let phones = vec!["+81312345678".to_owned(), "O'Brien\\".to_owned()];
/// let fields = ["Id", "Phone", "Account.Name"];
/// let q = soql!(
///     "SELECT {} FROM Contact WHERE Phone IN {} OR MobilePhone IN {} LIMIT {}",
///     FieldNames(&fields), phones, phones, 200
/// )?;
/// assert_eq!(
///     q.as_str(),
///     r"SELECT Id, Phone, Account.Name FROM Contact WHERE Phone IN ('+81312345678', 'O\'Brien\\') OR MobilePhone IN ('+81312345678', 'O\'Brien\\') LIMIT 200"
/// );
/// # Ok::<(), salesforce::Error>(())
/// ```
#[macro_export]
macro_rules! soql {
    ($template:literal $(, $value:expr)* $(,)?) => {
        $crate::Soql::from_template($template, &[$(&$value as &dyn $crate::SoqlValue),*])
    };
}

/// Builds a [`Sosl`] from a literal template and values. A [`SearchTerm`]
/// placeholder becomes the whole `{…}` of the FIND clause.
///
/// ```
/// use salesforce::{sosl, SearchTerm};
/// let s = sosl!(
///     "FIND {} IN PHONE FIELDS RETURNING Contact(Id, Phone), Lead(Id WHERE IsConverted = {})",
///     SearchTerm("03-1234-5678 OR *"), false
/// )?;
/// assert_eq!(
///     s.as_str(),
///     r#"FIND {"03\-1234\-5678 OR \*"} IN PHONE FIELDS RETURNING Contact(Id, Phone), Lead(Id WHERE IsConverted = false)"#
/// );
/// # Ok::<(), salesforce::Error>(())
/// ```
#[macro_export]
macro_rules! sosl {
    ($template:literal $(, $value:expr)* $(,)?) => {
        $crate::Sosl::from_template($template, &[$(&$value as &dyn $crate::SoqlValue),*])
    };
}

/// Where a value is being written; some values only make sense in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A SOQL statement (or the SOQL-like parts of a SOSL `RETURNING` clause).
    Soql,
    /// A SOSL statement.
    Sosl,
}

/// A value that can fill a placeholder of [`soql!`](crate::soql) or
/// [`sosl!`](crate::sosl). Implemented for strings (quoted and escaped),
/// integers, booleans, `Option` (`null`), slices and vectors (`('a', 'b')`,
/// never empty), [`jiff::Timestamp`] (a SOQL dateTime literal), [`Like`],
/// [`FieldNames`] and [`SearchTerm`].
///
/// `Sync`, so the `soql!`/`sosl!` argument list (a temporary that lives
/// until the end of the statement, `.await` included) keeps the future `Send`.
pub trait SoqlValue: Sync {
    /// Appends the escaped value to `out`, or says why it cannot be written.
    fn write_to(&self, out: &mut String, context: Context) -> Result<(), Error>;
}

fn render(
    template: &'static str,
    values: &[&dyn SoqlValue],
    context: Context,
) -> Result<String, Error> {
    let pieces: Vec<&str> = template.split("{}").collect();
    let placeholders = pieces.len() - 1;
    if placeholders != values.len() {
        return Err(Error::invalid(format!(
            "the query template has {placeholders} placeholders but {} values were given",
            values.len()
        )));
    }
    let mut out = String::with_capacity(template.len() + 16 * values.len());
    for (index, piece) in pieces.iter().enumerate() {
        out.push_str(piece);
        if let Some(value) = values.get(index) {
            value.write_to(&mut out, context)?;
        }
    }
    Ok(out)
}

/// Escapes `value` for use inside a SOQL string literal (without the quotes).
pub fn escape_soql_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    push_escaped_soql(&mut out, value, false);
    out
}

/// Escapes `value` for use inside a SOQL `LIKE` pattern, so that it matches
/// only itself: like [`escape_soql_string`], and `%` and `_` too.
pub fn escape_soql_like(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    push_escaped_soql(&mut out, value, true);
    out
}

/// Escapes the SOSL reserved characters of `value` with a backslash.
pub fn escape_sosl_term(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(
            c,
            '?' | '&'
                | '|'
                | '!'
                | '{'
                | '}'
                | '['
                | ']'
                | '('
                | ')'
                | '^'
                | '~'
                | '*'
                | ':'
                | '\\'
                | '"'
                | '\''
                | '+'
                | '-'
        ) {
            out.push('\\');
            out.push(c);
        } else if c.is_control() {
            // A control character has no meaning in a search; a space keeps
            // the words on either side apart, as the control character did.
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

fn push_escaped_soql(out: &mut String, value: &str, like: bool) {
    for c in value.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '%' if like => out.push_str("\\%"),
            '_' if like => out.push_str("\\_"),
            c if c.is_control() => {
                // Salesforce accepts \uXXXX; control characters outside the BMP do not exist.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

fn push_quoted(out: &mut String, value: &str) {
    out.push('\'');
    push_escaped_soql(out, value, false);
    out.push('\'');
}

impl SoqlValue for str {
    fn write_to(&self, out: &mut String, _: Context) -> Result<(), Error> {
        push_quoted(out, self);
        Ok(())
    }
}

impl SoqlValue for String {
    fn write_to(&self, out: &mut String, context: Context) -> Result<(), Error> {
        self.as_str().write_to(out, context)
    }
}

impl<T: SoqlValue + ?Sized> SoqlValue for &T {
    fn write_to(&self, out: &mut String, context: Context) -> Result<(), Error> {
        (**self).write_to(out, context)
    }
}

macro_rules! integer_soql_value {
    ($($t:ty),*) => {$(
        impl SoqlValue for $t {
            fn write_to(&self, out: &mut String, _: Context) -> Result<(), Error> {
                let _ = write!(out, "{self}");
                Ok(())
            }
        }
    )*};
}
integer_soql_value!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl SoqlValue for bool {
    fn write_to(&self, out: &mut String, _: Context) -> Result<(), Error> {
        out.push_str(if *self { "true" } else { "false" });
        Ok(())
    }
}

impl<T: SoqlValue> SoqlValue for Option<T> {
    fn write_to(&self, out: &mut String, context: Context) -> Result<(), Error> {
        match self {
            Some(value) => value.write_to(out, context),
            None => {
                out.push_str("null");
                Ok(())
            }
        }
    }
}

impl<T: SoqlValue> SoqlValue for [T] {
    fn write_to(&self, out: &mut String, context: Context) -> Result<(), Error> {
        // `IN ()` is a syntax error in SOQL; an empty list is a caller's bug
        // that is better reported here than as MALFORMED_QUERY.
        if self.is_empty() {
            return Err(Error::invalid(
                "an empty list cannot be written into a query",
            ));
        }
        out.push('(');
        for (index, value) in self.iter().enumerate() {
            if index > 0 {
                out.push_str(", ");
            }
            value.write_to(out, context)?;
        }
        out.push(')');
        Ok(())
    }
}

impl<T: SoqlValue> SoqlValue for Vec<T> {
    fn write_to(&self, out: &mut String, context: Context) -> Result<(), Error> {
        self.as_slice().write_to(out, context)
    }
}

impl<T: SoqlValue, const N: usize> SoqlValue for [T; N] {
    fn write_to(&self, out: &mut String, context: Context) -> Result<(), Error> {
        self.as_slice().write_to(out, context)
    }
}

impl SoqlValue for jiff::Timestamp {
    /// A SOQL dateTime literal in UTC, unquoted: `2024-05-01T09:30:00Z`.
    fn write_to(&self, out: &mut String, _: Context) -> Result<(), Error> {
        let _ = write!(out, "{}", self.strftime("%Y-%m-%dT%H:%M:%SZ"));
        Ok(())
    }
}

/// A `LIKE` pattern: the value is escaped (its own `%` and `_` match only
/// themselves) and the wildcards the caller chose are added around it.
#[derive(Debug, Clone, Copy)]
pub enum Like<'a> {
    /// `'value%'`
    StartsWith(&'a str),
    /// `'%value'`
    EndsWith(&'a str),
    /// `'%value%'`
    Contains(&'a str),
    /// `'value'` (no wildcards)
    Exactly(&'a str),
}

impl SoqlValue for Like<'_> {
    fn write_to(&self, out: &mut String, _: Context) -> Result<(), Error> {
        let (value, before, after) = match *self {
            Like::StartsWith(v) => (v, "", "%"),
            Like::EndsWith(v) => (v, "%", ""),
            Like::Contains(v) => (v, "%", "%"),
            Like::Exactly(v) => (v, "", ""),
        };
        out.push('\'');
        out.push_str(before);
        push_escaped_soql(out, value, true);
        out.push_str(after);
        out.push('\'');
        Ok(())
    }
}

/// A list of field names (for `SELECT {}`), each checked to be a plain API
/// name or relationship path (`Account.Name`, `Custom__c`), joined by `, `.
/// Lets admin-chosen fields into a statement without letting anything else in.
#[derive(Debug, Clone, Copy)]
pub struct FieldNames<'a, S: AsRef<str>>(pub &'a [S]);

impl<S: AsRef<str> + Sync> SoqlValue for FieldNames<'_, S> {
    fn write_to(&self, out: &mut String, _: Context) -> Result<(), Error> {
        if self.0.is_empty() {
            return Err(Error::invalid(
                "an empty field list cannot be written into a query",
            ));
        }
        for (index, name) in self.0.iter().enumerate() {
            let name = name.as_ref();
            if !is_field_path(name) {
                return Err(Error::invalid(format!("{name:?} is not a field name")));
            }
            if index > 0 {
                out.push_str(", ");
            }
            out.push_str(name);
        }
        Ok(())
    }
}

/// A SOSL search term: written as `{"…"}` with every reserved character
/// escaped, so the whole value is searched as one literal phrase.
/// Only valid in [`sosl!`](crate::sosl).
#[derive(Debug, Clone, Copy)]
pub struct SearchTerm<'a>(pub &'a str);

impl SoqlValue for SearchTerm<'_> {
    fn write_to(&self, out: &mut String, context: Context) -> Result<(), Error> {
        if context != Context::Sosl {
            return Err(Error::invalid(
                "a SOSL search term cannot be written into SOQL",
            ));
        }
        let escaped = escape_sosl_term(self.0);
        // SOSL needs at least two characters to search (besides wildcards); an
        // empty term would be a syntax error.
        if escaped.trim().is_empty() {
            return Err(Error::invalid("an empty search term cannot be searched"));
        }
        out.push_str("{\"");
        out.push_str(&escaped);
        out.push_str("\"}");
        Ok(())
    }
}

/// True for an sObject or field API name: a letter, then letters, digits and
/// underscores (`Task`, `CallObject`, `My_Field__c`, `ns__Obj__c`).
pub(crate) fn is_api_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 120
}

/// True for a field path: API names joined by dots (`Account.Owner.Name`).
pub(crate) fn is_field_path(name: &str) -> bool {
    !name.is_empty() && name.split('.').all(is_api_name)
}

/// True for a 15- or 18-character Salesforce record id.
pub(crate) fn is_record_id(id: &str) -> bool {
    (id.len() == 15 || id.len() == 18) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &[&str] = &[
        "' OR Name != '",
        "\\' OR Id != null OR Name = '\\",
        "50%_off",
        "line\nbreak\ttab\r\u{8}\u{c}\u{1}",
        "\"double\"",
        "{} placeholder",
        "ロバート'); DROP TABLE Students;--",
    ];

    /// Reads a SOQL string literal back the way Salesforce does, to show that
    /// every escaped value comes back unchanged and ends where it should.
    fn unescape_literal(literal: &str) -> (String, &str) {
        let mut chars = literal.char_indices();
        assert_eq!(chars.next().map(|(_, c)| c), Some('\''));
        let mut value = String::new();
        while let Some((at, c)) = chars.next() {
            match c {
                '\'' => return (value, &literal[at + 1..]),
                '\\' => {
                    let (_, escaped) = chars.next().unwrap();
                    match escaped {
                        'n' => value.push('\n'),
                        'r' => value.push('\r'),
                        't' => value.push('\t'),
                        'b' => value.push('\u{8}'),
                        'f' => value.push('\u{c}'),
                        'u' => {
                            let hex: String = (0..4).map(|_| chars.next().unwrap().1).collect();
                            value.push(
                                char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap(),
                            );
                        }
                        '%' | '_' => {
                            value.push('\\');
                            value.push(escaped)
                        }
                        other => value.push(other),
                    }
                }
                other => value.push(other),
            }
        }
        panic!("unterminated literal in {literal}");
    }

    #[test]
    fn hostile_strings_come_back_unchanged_and_cannot_end_the_literal_early() {
        for hostile in HOSTILE {
            let q = soql!("SELECT Id FROM Contact WHERE Name = {} LIMIT 1", *hostile).unwrap();
            let literal_start = q.as_str().find('\'').unwrap();
            let (value, rest) = unescape_literal(&q.as_str()[literal_start..]);
            assert_eq!(&value, hostile);
            assert_eq!(rest, " LIMIT 1", "the literal ended early for {hostile:?}");
        }
    }

    #[test]
    fn like_patterns_escape_the_wildcards_of_the_value() {
        let q = soql!(
            "SELECT Id FROM Account WHERE Name LIKE {}",
            Like::StartsWith("50%_off")
        )
        .unwrap();
        assert_eq!(
            q.as_str(),
            r"SELECT Id FROM Account WHERE Name LIKE '50\%\_off%'"
        );
        let q = soql!(
            "SELECT Id FROM Account WHERE Name LIKE {}",
            Like::Contains("Bob's")
        )
        .unwrap();
        assert_eq!(
            q.as_str(),
            r"SELECT Id FROM Account WHERE Name LIKE '%Bob\'s%'"
        );
    }

    #[test]
    fn lists_are_parenthesised_and_empty_lists_are_refused() {
        let ids = vec!["001A".to_owned(), "001B".to_owned()];
        let q = soql!("SELECT Id FROM Account WHERE Id IN {}", ids).unwrap();
        assert_eq!(
            q.as_str(),
            "SELECT Id FROM Account WHERE Id IN ('001A', '001B')"
        );
        let empty: Vec<String> = Vec::new();
        assert!(soql!("SELECT Id FROM Account WHERE Id IN {}", empty).is_err());
    }

    #[test]
    fn a_template_with_the_wrong_number_of_values_is_refused() {
        assert!(soql!("SELECT Id FROM Account WHERE Name = {}").is_err());
        assert!(soql!("SELECT Id FROM Account", 1).is_err());
    }

    #[test]
    fn field_names_must_be_plain_api_names() {
        let good = ["Id", "Account.Name", "My_Field__c"];
        assert_eq!(
            soql!("SELECT {} FROM Contact", FieldNames(&good))
                .unwrap()
                .as_str(),
            "SELECT Id, Account.Name, My_Field__c FROM Contact"
        );
        for bad in ["Id FROM User --", "Name,Id", "", "1Field", "a..b", "Id)"] {
            assert!(
                soql!("SELECT {} FROM Contact", FieldNames(&[bad])).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn timestamps_booleans_and_nulls_are_unquoted_literals() {
        let since: jiff::Timestamp = "2024-05-01T09:30:00Z".parse().unwrap();
        let q = soql!(
            "SELECT Id FROM Contact WHERE LastModifiedDate > {} AND IsDeleted = {} AND Phone != {}",
            since,
            false,
            None::<&str>
        )
        .unwrap();
        assert_eq!(
            q.as_str(),
            "SELECT Id FROM Contact WHERE LastModifiedDate > 2024-05-01T09:30:00Z AND IsDeleted = false AND Phone != null"
        );
    }

    #[test]
    fn every_reserved_sosl_character_is_escaped() {
        let all = r#"?&|!{}[]()^~*:\"'+-"#;
        let escaped = escape_sosl_term(all);
        assert_eq!(escaped.len(), all.len() * 2);
        for pair in escaped.as_bytes().chunks(2) {
            assert_eq!(pair[0], b'\\');
        }
    }

    #[test]
    fn a_search_term_is_a_quoted_phrase_and_only_allowed_in_sosl() {
        let s = sosl!(
            "FIND {} IN PHONE FIELDS RETURNING Contact(Id)",
            SearchTerm("} RETURNING User(Id")
        )
        .unwrap();
        assert_eq!(
            s.as_str(),
            r#"FIND {"\} RETURNING User\(Id"} IN PHONE FIELDS RETURNING Contact(Id)"#
        );
        assert!(soql!("SELECT Id FROM Contact WHERE Name = {}", SearchTerm("x")).is_err());
        assert!(sosl!("FIND {} RETURNING Contact", SearchTerm("  ")).is_err());
    }

    #[test]
    fn record_ids_and_api_names_are_recognised() {
        assert!(is_record_id("00T000000000001AAA"));
        assert!(is_record_id("00T000000000001"));
        assert!(!is_record_id("00T00000000000/AAA"));
        assert!(is_api_name("CallObject"));
        assert!(!is_api_name("Task/../User"));
    }
}
