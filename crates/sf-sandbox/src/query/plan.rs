//! Checks a parsed query against the org (objects, fields, relationships, literal types)
//! and turns it into a plan that filters, sorts and renders rows without copying records:
//! rows are borrowed from the [`QuerySource`] until one is rendered.
//!
//! Salesforce's messages used here, with where they were seen:
//! - `No such column 'X' on entity 'Y'. If you are attempting to use a custom field, be sure
//!   to append the '__c' after the custom field name. Please reference your WSDL or the
//!   describe call for the appropriate names.` (INVALID_FIELD; forcedotcom/sf-fx-runtime-java
//!   REST error tests).
//! - `Didn't understand relationship 'X' in field path. If you are attempting to use a custom
//!   relationship, be sure to append the '__r' after the custom relationship name. Please
//!   reference your WSDL or the describe call for the appropriate names.` (INVALID_FIELD).
//! - `sObject type 'X' is not supported. If you are attempting to use a custom object, be
//!   sure to append the '__c' after the entity name. Please reference your WSDL or the
//!   describe call for the appropriate names.` (INVALID_TYPE; forcedotcom/salesforcedx-vscode
//!   test fixtures).
//! - `value of filter criterion for field 'CreatedDate' must be of type dateTime and should
//!   not be enclosed in quotes` (INVALID_FIELD, quoted in several projects' comments from
//!   real failures); the string-field counterpart says "should be enclosed in quotes".
//! - `invalid ID field: abc` and `invalid operator on multipicklist field` (MALFORMED_QUERY
//!   since Salesforce retired INVALID_QUERY_FILTER_OPERATOR in Summer '24).
//!
//! Null semantics follow SOQL, not SQL: `Field != 'x'` and `NOT IN` also match records where
//! the field is null; `<`, `>`, LIKE and IN never match null.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Map, Value};

use super::dates::{self, RelativeDate};
use super::error::{QueryError, caret_message};
use super::lexer::{LikePiece, Operator};
use super::parser::{Condition, FieldPath, Literal, LiteralAt, OrderItem};
use super::source::{FieldInfo, FieldType, QuerySource, Record};

/// What the planner needs besides the org: the statement (for caret messages), "now" and
/// the caller's time zone (for relative date literals).
pub(crate) struct PlanContext<'s> {
    pub source: &'s dyn QuerySource,
    pub statement: &'s str,
    pub now: Timestamp,
    pub time_zone: TimeZone,
}

/// The fields every polymorphic relationship (`Who`, `What`, `Owner` on some objects)
/// exposes through Salesforce's `Name` pseudo-object (Object Reference, "Name").
const NAME_OBJECT_FIELDS: &[(&str, NameField)] = &[
    ("Id", NameField::Id),
    ("Name", NameField::Text),
    ("Type", NameField::ObjectType),
    ("FirstName", NameField::Text),
    ("LastName", NameField::Text),
    ("Alias", NameField::Text),
    ("Email", NameField::Text),
    ("Phone", NameField::Text),
    ("Title", NameField::Text),
    ("Username", NameField::Text),
    ("IsActive", NameField::Boolean),
    ("ProfileId", NameField::Id),
    ("UserRoleId", NameField::Id),
    ("RecordTypeId", NameField::Id),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameField {
    Id,
    Text,
    Boolean,
    ObjectType,
}

/// One step through a lookup: the foreign key field and the relationship name it is
/// rendered under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hop {
    pub foreign_key: String,
    pub relationship: String,
}

/// A field path checked against the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedField {
    pub hops: Vec<Hop>,
    /// Canonical name of the last field.
    pub name: String,
    pub field_type: FieldType,
    /// `Type` on a polymorphic relationship: the parent's object name, not a stored value.
    pub is_object_type: bool,
}

/// What kind of comparison a field allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Id,
    Text,
    MultiPicklist,
    Boolean,
    Number,
    Date,
    DateTime,
}

fn kind_of(field_type: &FieldType) -> Kind {
    match field_type {
        FieldType::Id | FieldType::Reference { .. } => Kind::Id,
        FieldType::String
        | FieldType::TextArea
        | FieldType::Phone
        | FieldType::Email
        | FieldType::Url
        | FieldType::Picklist => Kind::Text,
        FieldType::MultiPicklist => Kind::MultiPicklist,
        FieldType::Boolean => Kind::Boolean,
        FieldType::Int | FieldType::Double | FieldType::Currency => Kind::Number,
        FieldType::Date => Kind::Date,
        FieldType::DateTime => Kind::DateTime,
    }
}

/// The SOAP type name Salesforce uses in "must be of type ..." messages.
fn type_name(field_type: &FieldType) -> &'static str {
    match field_type {
        FieldType::Id => "id",
        FieldType::Reference { .. } => "reference",
        FieldType::String
        | FieldType::TextArea
        | FieldType::Phone
        | FieldType::Email
        | FieldType::Url
        | FieldType::Picklist => "string",
        FieldType::MultiPicklist => "multipicklist",
        FieldType::Boolean => "boolean",
        FieldType::Int => "int",
        FieldType::Double => "double",
        FieldType::Currency => "currency",
        FieldType::Date => "date",
        FieldType::DateTime => "dateTime",
    }
}

fn invalid_field(context: &PlanContext<'_>, offset: usize, reason: &str) -> QueryError {
    QueryError::InvalidField {
        message: caret_message(context.statement, offset, reason),
    }
}

fn malformed(context: &PlanContext<'_>, offset: usize, reason: &str) -> QueryError {
    QueryError::MalformedQuery {
        message: caret_message(context.statement, offset, reason),
    }
}

/// Resolves `object` (as written) to its canonical name, or INVALID_TYPE.
pub(crate) fn resolve_object(
    context: &PlanContext<'_>,
    object: &str,
    offset: usize,
) -> Result<String, QueryError> {
    match context.source.object(object) {
        Some(info) => Ok(info.name),
        None => Err(QueryError::InvalidType {
            message: caret_message(
                context.statement,
                offset,
                &format!(
                    "sObject type '{object}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
                ),
            ),
        }),
    }
}

fn no_such_column(
    context: &PlanContext<'_>,
    offset: usize,
    field: &str,
    entity: &str,
) -> QueryError {
    invalid_field(
        context,
        offset,
        &format!(
            "No such column '{field}' on entity '{entity}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
        ),
    )
}

fn unknown_relationship(
    context: &PlanContext<'_>,
    offset: usize,
    relationship: &str,
) -> QueryError {
    invalid_field(
        context,
        offset,
        &format!(
            "Didn't understand relationship '{relationship}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
        ),
    )
}

/// Resolves a field path from `object`, following relationships.
pub(crate) fn resolve_field(
    context: &PlanContext<'_>,
    object: &str,
    path: &FieldPath,
) -> Result<ResolvedField, QueryError> {
    let mut segments: Vec<&str> = path.text.split('.').collect();
    if segments.iter().any(|segment| segment.is_empty()) {
        return Err(malformed(
            context,
            path.offset,
            &format!("unexpected token: '{}'", path.text),
        ));
    }
    // `Contact.Name` from Contact: the object's own name may lead the path.
    if segments.len() > 1
        && segments[0].eq_ignore_ascii_case(object)
        && relationship_field(context, object, segments[0]).is_none()
    {
        segments.remove(0);
    }
    let mut current = Some(object.to_string());
    let mut hops = Vec::new();
    let last = segments.len() - 1;
    for segment in &segments[..last] {
        let Some(object_name) = current.as_deref() else {
            // Beyond a polymorphic relationship only the Name object's fields exist.
            return Err(unknown_relationship(context, path.offset, segment));
        };
        let Some((foreign_key, relationship, targets)) =
            relationship_field(context, object_name, segment)
        else {
            return Err(unknown_relationship(context, path.offset, segment));
        };
        hops.push(Hop {
            foreign_key,
            relationship,
        });
        current = if targets.len() == 1 {
            targets.into_iter().next()
        } else {
            None
        };
    }
    let field_name = segments[last];
    match current {
        Some(object_name) => {
            let Some(FieldInfo { name, field_type }) =
                context.source.field(&object_name, field_name)
            else {
                let entity = context
                    .source
                    .object(&object_name)
                    .map_or(object_name, |info| info.name);
                return Err(no_such_column(context, path.offset, field_name, &entity));
            };
            Ok(ResolvedField {
                hops,
                name,
                field_type,
                is_object_type: false,
            })
        }
        None => {
            let Some((name, field)) = NAME_OBJECT_FIELDS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(field_name))
            else {
                return Err(no_such_column(context, path.offset, field_name, "Name"));
            };
            let field_type = match field {
                NameField::Id => FieldType::Id,
                NameField::Boolean => FieldType::Boolean,
                NameField::Text | NameField::ObjectType => FieldType::String,
            };
            Ok(ResolvedField {
                hops,
                name: (*name).to_string(),
                field_type,
                is_object_type: *field == NameField::ObjectType,
            })
        }
    }
}

/// The lookup field of `object` whose relationship name is `relationship`: its name, the
/// canonical relationship name and the objects it may point to.
fn relationship_field(
    context: &PlanContext<'_>,
    object: &str,
    relationship: &str,
) -> Option<(String, String, Vec<String>)> {
    context
        .source
        .fields(object)
        .into_iter()
        .find_map(|field| match field.field_type {
            FieldType::Reference {
                targets,
                relationship_name: Some(name),
            } if name.eq_ignore_ascii_case(relationship) => Some((field.name, name, targets)),
            _ => None,
        })
}

/// A value read from a row: a stored JSON value, or the parent's object name for `Type`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Read<'a> {
    Missing,
    Stored(&'a Value),
    ObjectName(&'a str),
}

impl<'a> Read<'a> {
    fn is_null(self) -> bool {
        match self {
            Read::Missing => true,
            Read::Stored(value) => value.is_null(),
            Read::ObjectName(_) => false,
        }
    }

    fn as_str(self) -> Option<&'a str> {
        match self {
            Read::Stored(value) => value.as_str(),
            Read::ObjectName(name) => Some(name),
            Read::Missing => None,
        }
    }

    /// The value as it is rendered in a response.
    pub(crate) fn to_json(self) -> Value {
        match self {
            Read::Missing => Value::Null,
            Read::Stored(value) => value.clone(),
            Read::ObjectName(name) => Value::String(name.to_string()),
        }
    }
}

/// Reads `field` from `record`, following lookups through the source.
pub(crate) fn read<'a>(
    source: &'a dyn QuerySource,
    record: &'a Record,
    field: &ResolvedField,
) -> Read<'a> {
    let mut current = record;
    let mut object_name: Option<&'a str> = None;
    for hop in &field.hops {
        let Some(id) = current.get(&hop.foreign_key).and_then(Value::as_str) else {
            return Read::Missing;
        };
        let Some((name, parent)) = source.record_by_id(id) else {
            return Read::Missing;
        };
        object_name = Some(name);
        current = parent;
    }
    if field.is_object_type {
        return object_name.map_or(Read::Missing, Read::ObjectName);
    }
    current.get(&field.name).map_or(Read::Missing, Read::Stored)
}

/// A literal typed for its field, ready to compare with row values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Comparand {
    Null,
    /// Lower-cased text.
    Text(String),
    /// The first 15 characters of an Id (the case-sensitive form both lengths share).
    Id(String),
    Number(f64),
    Boolean(bool),
    /// Canonical datetime text.
    Instant(String),
    /// `YYYY-MM-DD`.
    Day(String),
    /// A relative literal: `[start, end)` of canonical datetimes or days.
    Range {
        start: String,
        end: String,
        of_days: bool,
    },
    /// A multi-select picklist value: the set of its lower-cased entries.
    Entries(BTreeSet<String>),
}

/// A compiled LIKE pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LikePattern {
    pieces: Vec<LikePiece>,
}

impl LikePattern {
    fn matches(&self, text: &str) -> bool {
        // Most stored text is ASCII: compare bytes, lower-cased as they are read, without
        // allocating (this runs once per row).
        if text.is_ascii() {
            return like_matches(&self.pieces, text.len(), |index| {
                char::from(text.as_bytes()[index].to_ascii_lowercase())
            });
        }
        let characters: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
        like_matches(&self.pieces, characters.len(), |index| characters[index])
    }
}

/// Wildcard matching with one backtracking point, linear in practice. `at(i)` is the i-th
/// lower-cased character of the text.
fn like_matches(pattern: &[LikePiece], length: usize, at: impl Fn(usize) -> char) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < length {
        match pattern.get(p) {
            Some(LikePiece::AnyRun) => {
                star = Some((p, t));
                p += 1;
            }
            Some(LikePiece::AnyOne) => {
                p += 1;
                t += 1;
            }
            Some(LikePiece::Literal(character)) if *character == at(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..]
        .iter()
        .all(|piece| *piece == LikePiece::AnyRun)
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Test {
    Compare(Operator, Comparand),
    In {
        negated: bool,
        set: Vec<Comparand>,
    },
    Like(LikePattern),
    Includes {
        excludes: bool,
        groups: Vec<BTreeSet<String>>,
    },
}

/// A compiled WHERE clause.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Predicate {
    All(Vec<Predicate>),
    Any(Vec<Predicate>),
    Not(Box<Predicate>),
    Test {
        field: ResolvedField,
        kind: Kind,
        test: Test,
    },
}

impl Predicate {
    /// The least epoch millisecond a row's own datetime `field` may hold and still match:
    /// from `field >= t` or `field > t` alone or inside a conjunction; `None` when the
    /// predicate gives none (an `OR`, a `NOT`, another field).
    pub(crate) fn lower_bound_ms(&self, field: &str) -> Option<i64> {
        match self {
            Predicate::All(parts) => parts
                .iter()
                .filter_map(|part| part.lower_bound_ms(field))
                .max(),
            Predicate::Test {
                field: resolved,
                test: Test::Compare(operator, Comparand::Instant(instant)),
                ..
            } if resolved.hops.is_empty()
                && resolved.name.eq_ignore_ascii_case(field)
                && matches!(operator, Operator::Greater | Operator::GreaterOrEqual) =>
            {
                dates::parse_datetime_literal(instant).map(|timestamp| timestamp.as_millisecond())
            }
            _ => None,
        }
    }
}

/// Compiles a condition on `object`.
pub(crate) fn compile_condition(
    context: &PlanContext<'_>,
    object: &str,
    condition: &Condition,
) -> Result<Predicate, QueryError> {
    Ok(match condition {
        Condition::All(parts) => Predicate::All(
            parts
                .iter()
                .map(|part| compile_condition(context, object, part))
                .collect::<Result<_, _>>()?,
        ),
        Condition::Any(parts) => Predicate::Any(
            parts
                .iter()
                .map(|part| compile_condition(context, object, part))
                .collect::<Result<_, _>>()?,
        ),
        Condition::Not(inner) => {
            Predicate::Not(Box::new(compile_condition(context, object, inner)?))
        }
        Condition::Compare {
            path,
            operator,
            value,
        } => {
            let field = resolve_field(context, object, path)?;
            let kind = kind_of(&field.field_type);
            let comparand = typed_literal(context, path, &field, value)?;
            check_operator(context, path, &field, kind, *operator, &comparand)?;
            let comparand = match (kind, comparand) {
                // `=` on a multi-select picklist compares the whole set of entries.
                (Kind::MultiPicklist, Comparand::Text(text)) => Comparand::Entries(entries(&text)),
                (_, comparand) => comparand,
            };
            Predicate::Test {
                field,
                kind,
                test: Test::Compare(*operator, comparand),
            }
        }
        Condition::In {
            path,
            negated,
            values,
        } => {
            let field = resolve_field(context, object, path)?;
            let kind = kind_of(&field.field_type);
            let mut set = Vec::with_capacity(values.len());
            for value in values {
                let comparand = typed_literal(context, path, &field, value)?;
                if matches!(comparand, Comparand::Range { .. }) {
                    return Err(malformed(
                        context,
                        value.offset,
                        &format!("unexpected token: '{}'", value.text),
                    ));
                }
                set.push(match (kind, comparand) {
                    (Kind::MultiPicklist, Comparand::Text(text)) => {
                        Comparand::Entries(entries(&text))
                    }
                    (_, comparand) => comparand,
                });
            }
            Predicate::Test {
                field,
                kind,
                test: Test::In {
                    negated: *negated,
                    set,
                },
            }
        }
        Condition::Like { path, pattern } => {
            let field = resolve_field(context, object, path)?;
            let kind = kind_of(&field.field_type);
            if kind != Kind::Text {
                return Err(malformed(
                    context,
                    path.offset,
                    &format!(
                        "invalid operator on {} field",
                        type_name(&field.field_type).to_lowercase()
                    ),
                ));
            }
            let pieces = match &pattern.literal {
                Literal::String(literal) => literal.like.clone(),
                Literal::Null => {
                    return Err(malformed(
                        context,
                        pattern.offset,
                        &format!("unexpected token: '{}'", pattern.text),
                    ));
                }
                _ => return Err(wrong_type(context, path, &field, pattern)),
            };
            Predicate::Test {
                field,
                kind,
                test: Test::Like(LikePattern { pieces }),
            }
        }
        Condition::Includes {
            path,
            excludes,
            values,
        } => {
            let field = resolve_field(context, object, path)?;
            let kind = kind_of(&field.field_type);
            if kind != Kind::MultiPicklist {
                return Err(malformed(
                    context,
                    path.offset,
                    "includes or excludes operator only valid on multipicklist field",
                ));
            }
            let mut groups = Vec::with_capacity(values.len());
            for value in values {
                match &value.literal {
                    Literal::String(literal) => groups.push(entries(&literal.value)),
                    _ => return Err(wrong_type(context, path, &field, value)),
                }
            }
            Predicate::Test {
                field,
                kind,
                test: Test::Includes {
                    excludes: *excludes,
                    groups,
                },
            }
        }
    })
}

/// `'a;B'` → {"a", "b"}.
fn entries(text: &str) -> BTreeSet<String> {
    text.split(';')
        .map(|entry| entry.trim().to_lowercase())
        .filter(|entry| !entry.is_empty())
        .collect()
}

fn wrong_type(
    context: &PlanContext<'_>,
    path: &FieldPath,
    field: &ResolvedField,
    value: &LiteralAt,
) -> QueryError {
    let quoting = if kind_of(&field.field_type) == Kind::Text
        || kind_of(&field.field_type) == Kind::MultiPicklist
    {
        "should be enclosed in quotes"
    } else {
        "should not be enclosed in quotes"
    };
    invalid_field(
        context,
        value.offset,
        &format!(
            "value of filter criterion for field '{}' must be of type {} and {quoting}",
            path.text,
            match kind_of(&field.field_type) {
                Kind::MultiPicklist => "string",
                _ => type_name(&field.field_type),
            }
        ),
    )
}

fn check_operator(
    context: &PlanContext<'_>,
    path: &FieldPath,
    field: &ResolvedField,
    kind: Kind,
    operator: Operator,
    comparand: &Comparand,
) -> Result<(), QueryError> {
    let ordering = !matches!(operator, Operator::Equal | Operator::NotEqual);
    let refused = ordering
        && (matches!(kind, Kind::Boolean | Kind::MultiPicklist) || *comparand == Comparand::Null);
    if refused {
        return Err(malformed(
            context,
            path.offset,
            &format!(
                "invalid operator on {} field",
                type_name(&field.field_type).to_lowercase()
            ),
        ));
    }
    Ok(())
}

/// Types a literal for `field`, as Salesforce does before running anything.
fn typed_literal(
    context: &PlanContext<'_>,
    path: &FieldPath,
    field: &ResolvedField,
    value: &LiteralAt,
) -> Result<Comparand, QueryError> {
    let kind = kind_of(&field.field_type);
    let wrong = || wrong_type(context, path, field, value);
    match (&value.literal, kind) {
        (Literal::Null, _) => Ok(Comparand::Null),
        (Literal::String(literal), Kind::Text | Kind::MultiPicklist) => {
            Ok(Comparand::Text(literal.value.to_lowercase()))
        }
        (Literal::String(literal), Kind::Id) => {
            let text = literal.value.as_str();
            let well_formed = (text.len() == 15 || text.len() == 18)
                && text.bytes().all(|byte| byte.is_ascii_alphanumeric());
            if well_formed {
                Ok(Comparand::Id(text[..15].to_string()))
            } else {
                Err(malformed(
                    context,
                    value.offset,
                    &format!("invalid ID field: {text}"),
                ))
            }
        }
        (Literal::Boolean(flag), Kind::Boolean) => Ok(Comparand::Boolean(*flag)),
        (Literal::Number(text), Kind::Number) => text
            .parse::<f64>()
            .map(Comparand::Number)
            .map_err(|_| wrong()),
        (Literal::DateLike(text), Kind::Date) => match dates::parse_date_literal(text) {
            Some(date) => Ok(Comparand::Day(dates::format_date(date))),
            None if dates::parse_datetime_literal(text).is_some() => Err(wrong()),
            None => Err(malformed(
                context,
                value.offset,
                &format!("Invalid date: {text}"),
            )),
        },
        (Literal::DateLike(text), Kind::DateTime) => match dates::parse_datetime_literal(text) {
            Some(timestamp) => Ok(Comparand::Instant(dates::format_datetime(timestamp))),
            None if dates::parse_date_literal(text).is_some() => Err(wrong()),
            None => Err(malformed(
                context,
                value.offset,
                &format!("Invalid datetime: {text}"),
            )),
        },
        (Literal::Relative(relative), Kind::Date | Kind::DateTime) => {
            relative_range(context, *relative, kind == Kind::Date).ok_or_else(wrong)
        }
        _ => Err(wrong()),
    }
}

fn relative_range(
    context: &PlanContext<'_>,
    relative: RelativeDate,
    of_days: bool,
) -> Option<Comparand> {
    let today = context.now.to_zoned(context.time_zone.clone()).date();
    let (start, end) = relative.date_range(today)?;
    if of_days {
        return Some(Comparand::Range {
            start: dates::format_date(start),
            end: dates::format_date(end),
            of_days,
        });
    }
    let start = dates::format_datetime(dates::start_of_day(start, &context.time_zone)?);
    let end = dates::format_datetime(dates::start_of_day(end, &context.time_zone)?);
    Some(Comparand::Range {
        start,
        end,
        of_days,
    })
}

impl Predicate {
    /// Whether `record` satisfies the predicate.
    pub(crate) fn matches(&self, source: &dyn QuerySource, record: &Record) -> bool {
        match self {
            Predicate::All(parts) => parts.iter().all(|part| part.matches(source, record)),
            Predicate::Any(parts) => parts.iter().any(|part| part.matches(source, record)),
            Predicate::Not(inner) => !inner.matches(source, record),
            Predicate::Test { field, kind, test } => {
                let value = read(source, record, field);
                evaluate(*kind, test, value)
            }
        }
    }
}

fn evaluate(kind: Kind, test: &Test, value: Read<'_>) -> bool {
    match test {
        Test::Compare(operator, comparand) => compare(kind, *operator, comparand, value),
        Test::In { negated, set } => {
            let found = set
                .iter()
                .any(|comparand| compare(kind, Operator::Equal, comparand, value));
            found != *negated
        }
        Test::Like(pattern) => value.as_str().is_some_and(|text| pattern.matches(text)),
        Test::Includes { excludes, groups } => {
            let held = value.as_str().map(entries).unwrap_or_default();
            let found = groups
                .iter()
                .any(|group| !group.is_empty() && group.is_subset(&held));
            found != *excludes
        }
    }
}

fn compare(kind: Kind, operator: Operator, comparand: &Comparand, value: Read<'_>) -> bool {
    if *comparand == Comparand::Null {
        return match operator {
            Operator::Equal => value.is_null(),
            Operator::NotEqual => !value.is_null(),
            _ => false,
        };
    }
    // Booleans are never null in Salesforce: an absent value reads as false.
    if kind == Kind::Boolean {
        let held = match value {
            Read::Stored(Value::Bool(flag)) => *flag,
            _ => false,
        };
        let Comparand::Boolean(wanted) = comparand else {
            return false;
        };
        return match operator {
            Operator::Equal => held == *wanted,
            Operator::NotEqual => held != *wanted,
            _ => false,
        };
    }
    if value.is_null() {
        return operator == Operator::NotEqual;
    }
    if let Comparand::Range {
        start,
        end,
        of_days,
    } = comparand
    {
        let Some(held) = canonical_time(value, *of_days) else {
            return false;
        };
        let held = held.as_ref();
        return match operator {
            Operator::Equal => held >= start.as_str() && held < end.as_str(),
            Operator::NotEqual => held < start.as_str() || held >= end.as_str(),
            Operator::Less => held < start.as_str(),
            Operator::LessOrEqual => held < end.as_str(),
            Operator::Greater => held >= end.as_str(),
            Operator::GreaterOrEqual => held >= start.as_str(),
        };
    }
    let Some(ordering) = order_against(value, comparand) else {
        return operator == Operator::NotEqual;
    };
    match operator {
        Operator::Equal => ordering == Ordering::Equal,
        Operator::NotEqual => ordering != Ordering::Equal,
        Operator::Less => ordering == Ordering::Less,
        Operator::LessOrEqual => ordering != Ordering::Greater,
        Operator::Greater => ordering == Ordering::Greater,
        Operator::GreaterOrEqual => ordering != Ordering::Less,
    }
}

fn canonical_time<'a>(value: Read<'a>, of_days: bool) -> Option<std::borrow::Cow<'a, str>> {
    let text = value.as_str()?;
    if of_days {
        // A date field holds `YYYY-MM-DD`; a datetime compared by day uses its date part.
        return text.get(..10).map(std::borrow::Cow::Borrowed);
    }
    dates::canonical_datetime(text)
}

/// How the row value orders against a (non-null, non-range) comparand.
fn order_against(value: Read<'_>, comparand: &Comparand) -> Option<Ordering> {
    match comparand {
        Comparand::Text(wanted) => Some(compare_ignoring_case(value.as_str()?, wanted)),
        Comparand::Id(wanted) => {
            let held = value.as_str()?;
            Some(held.get(..15).unwrap_or(held).cmp(wanted.as_str()))
        }
        Comparand::Number(wanted) => {
            let held = match value {
                Read::Stored(Value::Number(number)) => number.as_f64()?,
                Read::Stored(Value::String(text)) => text.parse::<f64>().ok()?,
                _ => return None,
            };
            held.partial_cmp(wanted)
        }
        Comparand::Instant(wanted) => Some(
            dates::canonical_datetime(value.as_str()?)?
                .as_ref()
                .cmp(wanted.as_str()),
        ),
        Comparand::Day(wanted) => Some(value.as_str()?.cmp(wanted.as_str())),
        Comparand::Entries(wanted) => {
            let held = entries(value.as_str()?);
            Some(if &held == wanted {
                Ordering::Equal
            } else {
                Ordering::Less
            })
        }
        Comparand::Boolean(_) | Comparand::Null | Comparand::Range { .. } => None,
    }
}

/// Compares `text` with an already lower-cased `lower`, without allocating for ASCII.
fn compare_ignoring_case(text: &str, lower: &str) -> Ordering {
    if text.is_ascii() && lower.is_ascii() {
        return text
            .bytes()
            .map(|byte| byte.to_ascii_lowercase())
            .cmp(lower.bytes());
    }
    text.chars().flat_map(char::to_lowercase).cmp(lower.chars())
}

/// One compiled ORDER BY item.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SortKey {
    field: ResolvedField,
    kind: Kind,
    descending: bool,
    nulls_last: bool,
}

/// A value as ORDER BY compares it.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum SortValue {
    Number(f64),
    Text(String),
}

pub(crate) fn compile_order(
    context: &PlanContext<'_>,
    object: &str,
    items: &[OrderItem],
) -> Result<Vec<SortKey>, QueryError> {
    items
        .iter()
        .map(|item| {
            let field = resolve_field(context, object, &item.path)?;
            if field.field_type == FieldType::MultiPicklist {
                return Err(malformed(
                    context,
                    item.path.offset,
                    "multipicklist field cannot be used in ORDER BY",
                ));
            }
            let kind = kind_of(&field.field_type);
            // The SOQL reference: "By default, null values are sorted first", whatever the
            // direction.
            Ok(SortKey {
                field,
                kind,
                descending: item.descending,
                nulls_last: item.nulls_last.unwrap_or(false),
            })
        })
        .collect()
}

fn sort_value(kind: Kind, value: Read<'_>) -> Option<SortValue> {
    if value.is_null() {
        return None;
    }
    Some(match (kind, value) {
        (Kind::Number, Read::Stored(Value::Number(number))) => SortValue::Number(number.as_f64()?),
        (Kind::Boolean, Read::Stored(Value::Bool(flag))) => {
            SortValue::Number(if *flag { 1.0 } else { 0.0 })
        }
        // Sorting is case-insensitive (SOQL reference, ORDER BY).
        (Kind::Text, value) => SortValue::Text(value.as_str()?.to_lowercase()),
        (Kind::DateTime, value) => {
            SortValue::Text(dates::canonical_datetime(value.as_str()?)?.into_owned())
        }
        (_, value) => SortValue::Text(value.as_str()?.to_string()),
    })
}

/// Sorts borrowed rows by the keys, stably (rows with equal keys keep the org's order).
pub(crate) fn sort_rows<'a>(
    source: &'a dyn QuerySource,
    rows: &mut Vec<&'a Record>,
    keys: &[SortKey],
) {
    if keys.is_empty() {
        return;
    }
    let mut keyed: Vec<(Vec<Option<SortValue>>, &'a Record)> = rows
        .iter()
        .map(|record| {
            (
                keys.iter()
                    .map(|key| sort_value(key.kind, read(source, record, &key.field)))
                    .collect(),
                *record,
            )
        })
        .collect();
    keyed.sort_by(|(left, _), (right, _)| {
        for ((left, right), key) in left.iter().zip(right.iter()).zip(keys) {
            let ordering = match (left, right) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => {
                    if key.nulls_last {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                }
                (Some(_), None) => {
                    if key.nulls_last {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    }
                }
                (Some(left), Some(right)) => {
                    let ordering = left.partial_cmp(right).unwrap_or(Ordering::Equal);
                    if key.descending {
                        ordering.reverse()
                    } else {
                        ordering
                    }
                }
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    });
    *rows = keyed.into_iter().map(|(_, record)| record).collect();
}

/// How to render selected fields: own fields, then one nested node per relationship.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct RenderNode {
    fields: Vec<ResolvedField>,
    children: Vec<(Hop, RenderNode)>,
    subqueries: Vec<ChildQuery>,
}

/// A parent-to-child subquery, planned: rendered under the relationship's name as a nested
/// query result (`{"totalSize", "done", "records"}`), or `null` when the parent has no
/// matching children (forcedotcom/sf-fx-runtime-nodejs mappings/query-with-subquery.json;
/// SOQL and SOSL Reference, "Using Relationship Queries").
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChildQuery {
    pub relationship: String,
    pub object: String,
    pub foreign_key: String,
    pub render: RenderNode,
    pub predicate: Option<Predicate>,
    pub order: Vec<SortKey>,
    pub limit: Option<u64>,
}

impl RenderNode {
    /// Adds a selected field; returns false when it was already selected.
    pub(crate) fn add(&mut self, field: &ResolvedField) -> bool {
        let mut node = self;
        for hop in &field.hops {
            let index = match node
                .children
                .iter()
                .position(|(existing, _)| existing == hop)
            {
                Some(index) => index,
                None => {
                    node.children.push((hop.clone(), RenderNode::default()));
                    node.children.len() - 1
                }
            };
            node = &mut node.children[index].1;
        }
        let leaf = ResolvedField {
            hops: Vec::new(),
            ..field.clone()
        };
        if node
            .fields
            .iter()
            .any(|existing| existing.name == leaf.name)
        {
            return false;
        }
        node.fields.push(leaf);
        true
    }

    /// Adds a parent-to-child subquery.
    pub(crate) fn add_subquery(&mut self, subquery: ChildQuery) {
        self.subqueries.push(subquery);
    }

    /// Renders `record` of `object` in the REST shape.
    pub(crate) fn render(
        &self,
        source: &dyn QuerySource,
        object: &str,
        record: &Record,
        api_version: &str,
    ) -> Value {
        let mut map = Map::new();
        map.insert(
            "attributes".to_string(),
            attributes(object, record, api_version),
        );
        for field in &self.fields {
            let value = if field.is_object_type {
                Value::String(object.to_string())
            } else {
                record.get(&field.name).cloned().unwrap_or(Value::Null)
            };
            map.insert(field.name.clone(), value);
        }
        for (hop, child) in &self.children {
            let parent = record
                .get(&hop.foreign_key)
                .and_then(Value::as_str)
                .and_then(|id| source.record_by_id(id));
            let rendered = match parent {
                Some((parent_object, parent_record)) => {
                    child.render(source, parent_object, parent_record, api_version)
                }
                None => Value::Null,
            };
            map.insert(hop.relationship.clone(), rendered);
        }
        let parent_id = record.get("Id").and_then(Value::as_str);
        for subquery in &self.subqueries {
            // A scan of the child object per parent: subqueries serve tests and small
            // results, not the generator's million records.
            let mut rows: Vec<&Record> = source
                .records(&subquery.object, false)
                .filter(|child| {
                    parent_id.is_some()
                        && child.get(&subquery.foreign_key).and_then(Value::as_str) == parent_id
                })
                .filter(|child| {
                    subquery
                        .predicate
                        .as_ref()
                        .is_none_or(|predicate| predicate.matches(source, child))
                })
                .collect();
            sort_rows(source, &mut rows, &subquery.order);
            if let Some(limit) = subquery.limit {
                rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            }
            let rendered = if rows.is_empty() {
                Value::Null
            } else {
                let records: Vec<Value> = rows
                    .iter()
                    .map(|child| {
                        subquery
                            .render
                            .render(source, &subquery.object, child, api_version)
                    })
                    .collect();
                let mut result = Map::new();
                result.insert("totalSize".to_string(), Value::from(records.len()));
                result.insert("done".to_string(), Value::Bool(true));
                result.insert("records".to_string(), Value::Array(records));
                Value::Object(result)
            };
            map.insert(subquery.relationship.clone(), rendered);
        }
        Value::Object(map)
    }
}

/// `{"type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/003..."}`.
pub(crate) fn attributes(object: &str, record: &Record, api_version: &str) -> Value {
    let mut map = Map::new();
    map.insert("type".to_string(), Value::String(object.to_string()));
    if let Some(id) = record.get("Id").and_then(Value::as_str) {
        map.insert(
            "url".to_string(),
            Value::String(format!(
                "/services/data/v{api_version}/sobjects/{object}/{id}"
            )),
        );
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> LikePattern {
        let literal =
            match super::super::lexer::tokenize(text, 0, super::super::error::Dialect::Soql)
                .unwrap()
                .remove(0)
                .kind
            {
                super::super::lexer::TokenKind::String(literal) => literal,
                other => panic!("{other:?}"),
            };
        LikePattern {
            pieces: literal.like,
        }
    }

    #[test]
    fn like_patterns_match_as_salesforce_documents() {
        let cases: &[(&str, &str, bool)] = &[
            ("'Ac%'", "Acme", true),
            ("'ac%'", "ACME", true),
            ("'%me'", "Acme", true),
            ("'%cm%'", "Acme", true),
            ("'A_me'", "Acme", true),
            ("'A_me'", "Acmme", false),
            ("'Acme'", "Acme Inc", false),
            (r"'100\%'", "100%", true),
            (r"'100\%'", "1000", false),
            ("'100%'", "1000", true),
            (r"'a\_b'", "a_b", true),
            (r"'a\_b'", "axb", false),
            ("'%'", "", true),
            ("'%a%b%'", "xxaxxbxx", true),
            ("'%a%b%'", "xxbxxaxx", false),
            ("'山田%'", "山田太郎", true),
        ];
        for (text, value, expected) in cases {
            assert_eq!(
                pattern(text).matches(value),
                *expected,
                "{text} LIKE {value}"
            );
        }
    }

    #[test]
    fn text_comparison_ignores_case_in_every_script() {
        assert_eq!(compare_ignoring_case("ACME", "acme"), Ordering::Equal);
        assert_eq!(compare_ignoring_case("Émile", "émile"), Ordering::Equal);
        assert_eq!(compare_ignoring_case("b", "a"), Ordering::Greater);
    }
}
