//! Running SOSL for `search?q=`: `FIND {term} [IN ALL|NAME|EMAIL|PHONE FIELDS]
//! [RETURNING Object[(fields [WHERE ...] [ORDER BY ...] [LIMIT n] [OFFSET n])], ...]
//! [LIMIT n]`, answered as `{"searchRecords": [...]}`.
//!
//! The search term follows the SOSL reference ("FIND {SearchQuery}"): words, `"quoted
//! phrases"`, `AND`, `OR`, `AND NOT`, parentheses, the wildcards `*` (any run) and `?` (one
//! character), and a backslash before any reserved character (`? & | ! { } [ ] ( ) ^ ~ * :
//! \ " ' + -`) to take it literally. Words without an operator between them must all
//! match. Unescaped punctuation inside a word is kept in the word, and the text matcher
//! treats it as a word break, as a search index's tokenizer does, so `{415-555-1212}` works
//! the way users type it.
//!
//! Matching is by whole tokens, case-insensitive (no stemming); text in Chinese, Japanese,
//! Korean or Thai, which has no spaces between words, matches as a substring. Phone fields
//! match by digits (see `phone`). Records the index has not caught up with
//! ([`QuerySource::is_searchable`]) are not found.
//!
//! Errors: a missing or unclosed term is MALFORMED_SEARCH ("No search term found. The search
//! term must be enclosed in braces."); a term with fewer than two characters is
//! INVALID_SEARCH ("search term must be longer than one character: g", as recorded in
//! Salesforce's own test mocks, forcedotcom lightning components); syntax errors after the
//! term are MALFORMED_SEARCH with the caret message; unknown objects and fields are
//! INVALID_TYPE / INVALID_FIELD as in SOQL.

use serde_json::{Map, Value};

use super::error::{Dialect, QueryError, caret_message};
use super::lexer::TokenKind;
use super::parser::{Clauses, Parser, SelectItem};
use super::phone::PhoneTerm;
use super::plan::{self, PlanContext, Predicate, RenderNode, SortKey};
use super::soql::{QueryOptions, select_shape};
use super::source::{FieldType, QuerySource, Record};

/// Salesforce's ceiling on the records one search returns.
pub const MAX_SEARCH_RECORDS: usize = 2000;

/// The answer to a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchAnswer {
    /// The records found, object by object in `RETURNING` order.
    pub search_records: Vec<Value>,
}

impl SearchAnswer {
    /// The REST body: `{"searchRecords": [...]}`.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert(
            "searchRecords".to_string(),
            Value::Array(self.search_records.clone()),
        );
        Value::Object(body)
    }
}

/// Which fields the term is searched in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    All,
    Name,
    Email,
    Phone,
}

/// Runs a SOSL statement. `options.include_deleted` and `options.batch_size` are ignored.
pub fn run_search(
    source: &dyn QuerySource,
    sosl: &str,
    options: &QueryOptions,
) -> Result<SearchAnswer, QueryError> {
    let (term, rest) = read_term(sosl)?;
    let expression = TermParser::new(&term).parse()?;
    let mut parser = Parser::new(sosl, rest, Dialect::Sosl)?;
    let scope = parse_scope(&mut parser)?;
    let specs = parse_returning(&mut parser)?;
    let overall_limit = if parser.eat_keyword("LIMIT") {
        match &parser.peek().kind {
            TokenKind::Number(text) => {
                let limit = text.parse::<usize>().map_err(|_| parser.unexpected())?;
                parser.advance();
                Some(limit)
            }
            _ => return Err(parser.unexpected()),
        }
    } else {
        None
    };
    if parser.peek().kind != TokenKind::End {
        return Err(parser.unexpected());
    }
    let context = PlanContext {
        source,
        statement: sosl,
        now: options.now,
        time_zone: options.time_zone.clone(),
    };
    let targets = match specs {
        Some(specs) => specs
            .into_iter()
            .map(|spec| Target::build(&context, spec))
            .collect::<Result<Vec<_>, _>>()?,
        None => source
            .object_names()
            .into_iter()
            .map(|object| {
                Target::build(
                    &context,
                    Spec {
                        object,
                        offset: 0,
                        items: None,
                        clauses: Clauses::default(),
                    },
                )
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let version = options.api_version.trim_start_matches(['v', 'V']);
    let mut budget = overall_limit
        .unwrap_or(MAX_SEARCH_RECORDS)
        .min(MAX_SEARCH_RECORDS);
    let mut found = Vec::new();
    for target in &targets {
        if budget == 0 {
            break;
        }
        let searched = searched_fields(source, &target.object, scope);
        let mut rows: Vec<&Record> = source
            .records(&target.object, false)
            .filter(|record| source.is_searchable(&target.object, record))
            .filter(|record| {
                expression
                    .matches(&|leaf: &Leaf| leaf_matches_record(leaf, record, &searched, scope))
            })
            .filter(|record| {
                target
                    .predicate
                    .as_ref()
                    .is_none_or(|predicate| predicate.matches(source, record))
            })
            .collect();
        plan::sort_rows(source, &mut rows, &target.order);
        let take = target.limit.unwrap_or(usize::MAX).min(budget);
        for record in rows.into_iter().skip(target.offset).take(take) {
            found.push(
                target
                    .render
                    .render(source, &target.object, record, version),
            );
            budget -= 1;
        }
    }
    Ok(SearchAnswer {
        search_records: found,
    })
}

fn no_term() -> QueryError {
    QueryError::MalformedSearch {
        message: "No search term found. The search term must be enclosed in braces.".to_string(),
    }
}

/// Reads `FIND {term}`; returns the raw term (escapes kept) and the offset after `}`.
fn read_term(sosl: &str) -> Result<(String, usize), QueryError> {
    let trimmed = sosl.trim_start();
    let start = sosl.len() - trimmed.len();
    let keyword = trimmed
        .get(..4)
        .filter(|word| word.eq_ignore_ascii_case("FIND"));
    if keyword.is_none() {
        let reason = format!(
            "unexpected token: '{}'",
            trimmed.split_whitespace().next().unwrap_or("<EOF>")
        );
        return Err(QueryError::MalformedSearch {
            message: caret_message(sosl, start, &reason),
        });
    }
    let after_find = start + 4;
    let rest = &sosl[after_find..];
    let brace = rest.len() - rest.trim_start().len();
    if !rest[brace..].starts_with('{') {
        return Err(no_term());
    }
    let term_start = after_find + brace + 1;
    let mut escaped = false;
    for (index, character) in sosl[term_start..].char_indices() {
        match character {
            '\\' if !escaped => escaped = true,
            '}' if !escaped => {
                return Ok((
                    sosl[term_start..term_start + index].to_string(),
                    term_start + index + 1,
                ));
            }
            _ => escaped = false,
        }
    }
    Err(no_term())
}

fn parse_scope(parser: &mut Parser<'_>) -> Result<Scope, QueryError> {
    if !parser.eat_keyword("IN") {
        return Ok(Scope::All);
    }
    let scope = if parser.eat_keyword("ALL") {
        Scope::All
    } else if parser.eat_keyword("NAME") || parser.eat_keyword("SIDEBAR") {
        Scope::Name
    } else if parser.eat_keyword("EMAIL") {
        Scope::Email
    } else if parser.eat_keyword("PHONE") {
        Scope::Phone
    } else {
        return Err(parser.unexpected());
    };
    parser.expect_keyword("FIELDS")?;
    Ok(scope)
}

/// One `RETURNING` entry as written.
struct Spec {
    object: String,
    offset: usize,
    items: Option<Vec<SelectItem>>,
    clauses: Clauses,
}

fn parse_returning(parser: &mut Parser<'_>) -> Result<Option<Vec<Spec>>, QueryError> {
    if !parser.eat_keyword("RETURNING") {
        return Ok(None);
    }
    let mut specs = Vec::new();
    loop {
        let (object, offset) = parser.expect_name()?;
        let (items, clauses) = if parser.peek().kind == TokenKind::LeftParen {
            parser.advance();
            let items = parser.parse_select_items()?;
            let clauses = parser.parse_clauses(true)?;
            parser.expect(&TokenKind::RightParen)?;
            (Some(items), clauses)
        } else {
            (None, Clauses::default())
        };
        specs.push(Spec {
            object,
            offset,
            items,
            clauses,
        });
        if parser.peek().kind == TokenKind::Comma {
            parser.advance();
        } else {
            return Ok(Some(specs));
        }
    }
}

/// One object to search, checked against the schema.
struct Target {
    object: String,
    render: RenderNode,
    predicate: Option<Predicate>,
    order: Vec<SortKey>,
    limit: Option<usize>,
    offset: usize,
}

impl Target {
    fn build(context: &PlanContext<'_>, spec: Spec) -> Result<Target, QueryError> {
        let object = plan::resolve_object(context, &spec.object, spec.offset)?;
        if let Some(grouped) = spec.clauses.group_by.first() {
            // SOSL's RETURNING takes WHERE, ORDER BY, LIMIT and OFFSET, not GROUP BY (SOQL
            // and SOSL Reference, RETURNING FieldSpec).
            return Err(QueryError::MalformedSearch {
                message: caret_message(
                    context.statement,
                    grouped.offset,
                    "unexpected token: 'GROUP'",
                ),
            });
        }
        let render = match &spec.items {
            Some(items) => select_shape(context, &object, items)?
                .render_node()
                .ok_or_else(|| QueryError::MalformedSearch {
                    message: caret_message(
                        context.statement,
                        spec.offset,
                        "aggregate functions are not supported in search",
                    ),
                })?,
            None => {
                // Without a field list Salesforce returns each record's Id.
                let id = super::parser::FieldPath {
                    text: "Id".to_string(),
                    offset: spec.offset,
                };
                let mut render = RenderNode::default();
                render.add(&plan::resolve_field(context, &object, &id)?);
                render
            }
        };
        let predicate = spec
            .clauses
            .condition
            .as_ref()
            .map(|condition| plan::compile_condition(context, &object, condition))
            .transpose()?;
        let order = plan::compile_order(context, &object, &spec.clauses.order_by)?;
        Ok(Target {
            object,
            render,
            predicate,
            order,
            limit: spec
                .clauses
                .limit
                .map(|limit| usize::try_from(limit).unwrap_or(usize::MAX)),
            offset: spec
                .clauses
                .offset
                .map_or(0, |offset| usize::try_from(offset).unwrap_or(usize::MAX)),
        })
    }
}

/// A field the term is searched in, and whether it is a phone field.
struct Searched {
    name: String,
    is_phone: bool,
}

fn searched_fields(source: &dyn QuerySource, object: &str, scope: Scope) -> Vec<Searched> {
    source
        .fields(object)
        .into_iter()
        .filter(|field| match scope {
            // "Numeric fields aren't searchable"; ALL FIELDS searches the text fields.
            Scope::All => matches!(
                field.field_type,
                FieldType::String
                    | FieldType::TextArea
                    | FieldType::Phone
                    | FieldType::Email
                    | FieldType::Url
            ),
            Scope::Name => source.is_name_field(object, &field.name),
            Scope::Email => field.field_type == FieldType::Email,
            Scope::Phone => field.field_type == FieldType::Phone,
        })
        .map(|field| Searched {
            is_phone: field.field_type == FieldType::Phone,
            name: field.name,
        })
        .collect()
}

fn leaf_matches_record(leaf: &Leaf, record: &Record, searched: &[Searched], scope: Scope) -> bool {
    searched.iter().any(|field| {
        let Some(text) = record.get(&field.name).and_then(Value::as_str) else {
            return false;
        };
        if field.is_phone && leaf.phone.as_ref().is_some_and(|phone| phone.matches(text)) {
            return true;
        }
        scope != Scope::Phone && leaf.matches_text(text)
    })
}

/// One character of a search word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Glob {
    Literal(char),
    AnyRun,
    AnyOne,
}

/// A word or phrase of the term.
#[derive(Debug, Clone, PartialEq)]
struct Leaf {
    /// The words' tokens (split on punctuation), each a glob pattern, to match in sequence.
    tokens: Vec<Vec<Glob>>,
    /// The leaf's characters without wildcards, lower-cased, for substring matching of CJK.
    plain: String,
    has_cjk: bool,
    phone: Option<PhoneTerm>,
}

impl Leaf {
    fn new(globs: &[Glob]) -> Leaf {
        let mut tokens: Vec<Vec<Glob>> = Vec::new();
        let mut current = Vec::new();
        for glob in globs {
            match glob {
                Glob::Literal(character) if !character.is_alphanumeric() => {
                    if !current.is_empty() {
                        tokens.push(std::mem::take(&mut current));
                    }
                }
                Glob::Literal(character) => {
                    current.extend(character.to_lowercase().map(Glob::Literal))
                }
                wildcard => current.push(*wildcard),
            }
        }
        if !current.is_empty() {
            tokens.push(current);
        }
        let plain: String = globs
            .iter()
            .filter_map(|glob| match glob {
                Glob::Literal(character) => Some(*character),
                _ => None,
            })
            .flat_map(char::to_lowercase)
            .collect();
        let has_cjk = plain.chars().any(is_cjk);
        let prefix = globs.last() == Some(&Glob::AnyRun);
        Leaf {
            phone: PhoneTerm::new(&plain, prefix),
            tokens,
            plain,
            has_cjk,
        }
    }

    fn matches_text(&self, text: &str) -> bool {
        if self.has_cjk {
            let lower = text.to_lowercase();
            let compact: String = self
                .plain
                .chars()
                .filter(|character| !character.is_whitespace())
                .collect();
            return lower.contains(&compact);
        }
        if self.tokens.is_empty() {
            return false;
        }
        let words: Vec<Vec<char>> = text
            .split(|character: char| !character.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(|word| word.chars().flat_map(char::to_lowercase).collect())
            .collect();
        if words.len() < self.tokens.len() {
            return false;
        }
        (0..=words.len() - self.tokens.len()).any(|start| {
            self.tokens
                .iter()
                .zip(&words[start..])
                .all(|(pattern, word)| glob_matches(pattern, word))
        })
    }
}

fn is_cjk(character: char) -> bool {
    matches!(u32::from(character),
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xAC00..=0xD7AF | 0x0E00..=0x0E7F | 0xFF66..=0xFF9F)
}

fn glob_matches(pattern: &[Glob], word: &[char]) -> bool {
    let (mut p, mut w) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while w < word.len() {
        match pattern.get(p) {
            Some(Glob::AnyRun) => {
                star = Some((p, w));
                p += 1;
            }
            Some(Glob::AnyOne) => {
                p += 1;
                w += 1;
            }
            Some(Glob::Literal(character)) if *character == word[w] => {
                p += 1;
                w += 1;
            }
            _ => match star {
                Some((star_p, star_w)) => {
                    p = star_p + 1;
                    w = star_w + 1;
                    star = Some((star_p, star_w + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..]
        .iter()
        .all(|glob| *glob == Glob::AnyRun)
}

/// The search term as a boolean expression.
#[derive(Debug, Clone, PartialEq)]
enum Expression {
    Leaf(Leaf),
    All(Vec<Expression>),
    Any(Vec<Expression>),
    Not(Box<Expression>),
}

impl Expression {
    fn matches(&self, leaf_matches: &dyn Fn(&Leaf) -> bool) -> bool {
        match self {
            Expression::Leaf(leaf) => leaf_matches(leaf),
            Expression::All(parts) => parts.iter().all(|part| part.matches(leaf_matches)),
            Expression::Any(parts) => parts.iter().any(|part| part.matches(leaf_matches)),
            Expression::Not(inner) => !inner.matches(leaf_matches),
        }
    }
}

/// A token of the search term.
#[derive(Debug, Clone, PartialEq)]
enum TermToken {
    Word(Vec<Glob>),
    Phrase(Vec<Glob>),
    Open,
    Close,
}

impl TermToken {
    fn is_operator(&self, name: &str) -> bool {
        match self {
            TermToken::Word(globs) => {
                globs.len() == name.len()
                    && globs.iter().zip(name.chars()).all(|(glob, expected)| matches!(glob, Glob::Literal(character) if character.eq_ignore_ascii_case(&expected)))
            }
            _ => false,
        }
    }
}

struct TermParser {
    raw: String,
    tokens: Vec<TermToken>,
    position: usize,
}

impl TermParser {
    fn new(raw: &str) -> TermParser {
        let mut tokens = Vec::new();
        let mut characters = raw.chars().peekable();
        let mut word: Vec<Glob> = Vec::new();
        let flush = |word: &mut Vec<Glob>, tokens: &mut Vec<TermToken>| {
            if !word.is_empty() {
                tokens.push(TermToken::Word(std::mem::take(word)));
            }
        };
        while let Some(character) = characters.next() {
            match character {
                '\\' => {
                    if let Some(escaped) = characters.next() {
                        word.push(Glob::Literal(escaped));
                    }
                }
                '*' => word.push(Glob::AnyRun),
                '?' => word.push(Glob::AnyOne),
                '(' => {
                    flush(&mut word, &mut tokens);
                    tokens.push(TermToken::Open);
                }
                ')' => {
                    flush(&mut word, &mut tokens);
                    tokens.push(TermToken::Close);
                }
                '"' => {
                    flush(&mut word, &mut tokens);
                    let mut phrase = Vec::new();
                    while let Some(inner) = characters.next() {
                        match inner {
                            '"' => break,
                            '\\' => {
                                if let Some(escaped) = characters.next() {
                                    phrase.push(Glob::Literal(escaped));
                                }
                            }
                            '*' => phrase.push(Glob::AnyRun),
                            '?' => phrase.push(Glob::AnyOne),
                            other => phrase.push(Glob::Literal(other)),
                        }
                    }
                    tokens.push(TermToken::Phrase(phrase));
                }
                whitespace if whitespace.is_whitespace() => flush(&mut word, &mut tokens),
                other => word.push(Glob::Literal(other)),
            }
        }
        flush(&mut word, &mut tokens);
        TermParser {
            raw: raw.to_string(),
            tokens,
            position: 0,
        }
    }

    fn too_short(&self) -> QueryError {
        QueryError::InvalidSearch {
            message: format!(
                "search term must be longer than one character: {}",
                self.raw
            ),
        }
    }

    fn malformed(&self) -> QueryError {
        QueryError::MalformedSearch {
            message: format!("Invalid search query: {}", self.raw.trim()),
        }
    }

    fn parse(mut self) -> Result<Expression, QueryError> {
        let meaningful = self
            .tokens
            .iter()
            .map(|token| match token {
                TermToken::Word(globs) | TermToken::Phrase(globs) => {
                    globs.iter().filter(|glob| matches!(glob, Glob::Literal(character) if !character.is_whitespace())).count()
                }
                _ => 0,
            })
            .sum::<usize>();
        if meaningful < 2 {
            return Err(self.too_short());
        }
        let expression = self.parse_or()?;
        if self.position != self.tokens.len() {
            return Err(self.malformed());
        }
        Ok(expression)
    }

    fn peek(&self) -> Option<&TermToken> {
        self.tokens.get(self.position)
    }

    fn parse_or(&mut self) -> Result<Expression, QueryError> {
        let mut parts = vec![self.parse_and()?];
        while self.peek().is_some_and(|token| token.is_operator("OR")) {
            self.position += 1;
            parts.push(self.parse_and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expression::Any(parts)
        })
    }

    fn parse_and(&mut self) -> Result<Expression, QueryError> {
        let mut parts = vec![self.parse_unary()?];
        loop {
            match self.peek() {
                Some(token) if token.is_operator("AND") => {
                    self.position += 1;
                    if self.peek().is_some_and(|token| token.is_operator("NOT")) {
                        self.position += 1;
                        parts.push(Expression::Not(Box::new(self.parse_unary()?)));
                    } else {
                        parts.push(self.parse_unary()?);
                    }
                }
                Some(token) if token.is_operator("OR") => break,
                Some(TermToken::Close) | None => break,
                Some(_) => parts.push(self.parse_unary()?),
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expression::All(parts)
        })
    }

    fn parse_unary(&mut self) -> Result<Expression, QueryError> {
        let token = self.peek().cloned().ok_or_else(|| self.malformed())?;
        self.position += 1;
        match token {
            TermToken::Open => {
                let inner = self.parse_or()?;
                if self.peek() != Some(&TermToken::Close) {
                    return Err(self.malformed());
                }
                self.position += 1;
                Ok(inner)
            }
            TermToken::Close => Err(self.malformed()),
            TermToken::Word(globs) | TermToken::Phrase(globs) => {
                Ok(Expression::Leaf(Leaf::new(&globs)))
            }
        }
    }
}
