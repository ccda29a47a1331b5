//! The SOQL grammar the sandbox understands, as a syntax tree, and its parser. SOSL's
//! `RETURNING Object(fields WHERE ... ORDER BY ... LIMIT n)` reuses the field list, condition,
//! ordering and limit rules from here.
//!
//! Only syntax is checked here; names and literal types are checked against the org in
//! `plan`. Syntax errors carry Salesforce's caret message and "unexpected token: 'X'"
//! (quoted, as Salesforce writes it since Summer '24; the end of input is `'<EOF>'`).
//! Mixing AND and OR without parentheses is refused at the second connector, as Salesforce
//! does ("unexpected token: 'OR'"; the SOQL reference: "Client applications must specify
//! parentheses when nesting operators").

use super::dates::RelativeDate;
use super::error::{Dialect, QueryError, caret_message};
use super::lexer::{Operator, StringLiteral, Token, TokenKind, tokenize};

/// A field path as written (`Account.Owner.Name`) and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldPath {
    pub text: String,
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SelectItem {
    Field(FieldPath),
    /// `COUNT()`.
    CountAll {
        offset: usize,
    },
    /// `COUNT(field) [alias]`.
    Count {
        path: FieldPath,
        alias: Option<String>,
    },
    /// A parent-to-child subquery, `(SELECT ... FROM Contacts ...)`; its `object` is the
    /// child relationship's name as written (`Contacts` or `Account.Contacts`).
    Subquery {
        statement: Box<SelectStatement>,
        offset: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OrderItem {
    pub path: FieldPath,
    pub descending: bool,
    /// `None` when the query does not say: Salesforce then sorts nulls first.
    pub nulls_last: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Null,
    Boolean(bool),
    String(StringLiteral),
    Number(String),
    DateLike(String),
    Relative(RelativeDate),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LiteralAt {
    pub literal: Literal,
    pub offset: usize,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Compare {
        path: FieldPath,
        operator: Operator,
        value: LiteralAt,
    },
    In {
        path: FieldPath,
        negated: bool,
        values: Vec<LiteralAt>,
    },
    Like {
        path: FieldPath,
        pattern: LiteralAt,
    },
    Includes {
        path: FieldPath,
        excludes: bool,
        values: Vec<LiteralAt>,
    },
}

/// The clauses that follow the field list, shared by SOQL and SOSL's RETURNING.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Clauses {
    pub condition: Option<Condition>,
    /// `GROUP BY a, b` (SOQL only; SOSL's RETURNING refuses it).
    pub group_by: Vec<FieldPath>,
    pub order_by: Vec<OrderItem>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SelectStatement {
    pub items: Vec<SelectItem>,
    pub object: String,
    pub object_offset: usize,
    pub clauses: Clauses,
}

/// Salesforce's ceiling on OFFSET.
pub(crate) const MAX_OFFSET: u64 = 2000;

/// Words that end a field list or a condition and so cannot be field names there.
const CLAUSE_WORDS: &[&str] = &[
    "FROM", "WHERE", "ORDER", "LIMIT", "OFFSET", "AND", "OR", "NOT", "GROUP", "HAVING", "WITH",
    "FOR", "USING",
];

pub(crate) struct Parser<'q> {
    statement: &'q str,
    tokens: Vec<Token>,
    position: usize,
    dialect: Dialect,
}

impl<'q> Parser<'q> {
    /// A parser over `statement` from byte `start`.
    pub(crate) fn new(
        statement: &'q str,
        start: usize,
        dialect: Dialect,
    ) -> Result<Parser<'q>, QueryError> {
        Ok(Parser {
            statement,
            tokens: tokenize(statement, start, dialect)?,
            position: 0,
            dialect,
        })
    }

    pub(crate) fn peek(&self) -> &Token {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[self.position.min(last)]
    }

    fn peek_at(&self, ahead: usize) -> &Token {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[(self.position + ahead).min(last)]
    }

    pub(crate) fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if self.position < self.tokens.len() {
            self.position += 1;
        }
        token
    }

    /// "unexpected token" at the current token.
    pub(crate) fn unexpected(&self) -> QueryError {
        let token = self.peek();
        if let TokenKind::Unterminated {
            reason,
            row,
            column,
        } = &token.kind
        {
            return self.dialect.syntax_error(super::error::caret_message_at(
                self.statement,
                token.offset,
                *row,
                *column,
                reason,
            ));
        }
        self.error_at(
            token.offset,
            &format!("unexpected token: '{}'", token.shown()),
        )
    }

    pub(crate) fn error_at(&self, offset: usize, reason: &str) -> QueryError {
        self.dialect
            .syntax_error(caret_message(self.statement, offset, reason))
    }

    pub(crate) fn at_keyword(&self, keyword: &str) -> bool {
        self.peek().is_keyword(keyword)
    }

    pub(crate) fn eat_keyword(&mut self, keyword: &str) -> bool {
        if self.at_keyword(keyword) {
            self.advance();
            true
        } else {
            false
        }
    }

    pub(crate) fn expect_keyword(&mut self, keyword: &str) -> Result<Token, QueryError> {
        if self.at_keyword(keyword) {
            Ok(self.advance())
        } else {
            Err(self.unexpected())
        }
    }

    pub(crate) fn expect(&mut self, kind: &TokenKind) -> Result<Token, QueryError> {
        if &self.peek().kind == kind {
            Ok(self.advance())
        } else {
            Err(self.unexpected())
        }
    }

    /// A name that is not one of the clause keywords.
    pub(crate) fn expect_name(&mut self) -> Result<(String, usize), QueryError> {
        match &self.peek().kind {
            TokenKind::Word(word)
                if !CLAUSE_WORDS
                    .iter()
                    .any(|keyword| word.eq_ignore_ascii_case(keyword)) =>
            {
                let token = self.advance();
                Ok((word_of(&token), token.offset))
            }
            _ => Err(self.unexpected()),
        }
    }

    fn expect_field(&mut self) -> Result<FieldPath, QueryError> {
        let (text, offset) = self.expect_name()?;
        Ok(FieldPath { text, offset })
    }

    /// A whole SOQL statement.
    pub(crate) fn parse_select_statement(&mut self) -> Result<SelectStatement, QueryError> {
        if !self.at_keyword("SELECT") {
            // A statement that does not start with SELECT is refused before Salesforce's
            // parser echoes anything: "unexpected token: SELEKT", no caret, no quotes
            // (forcedotcom/sf-fx-runtime-nodejs mappings/query-malformed-soql.json).
            let token = self.peek();
            return Err(self
                .dialect
                .syntax_error(format!("unexpected token: {}", token.shown())));
        }
        self.expect_keyword("SELECT")?;
        let items = self.parse_select_items()?;
        self.expect_keyword("FROM")?;
        let (object, object_offset) = self.expect_name()?;
        let clauses = self.parse_clauses(true)?;
        if self.peek().kind != TokenKind::End {
            return Err(self.unexpected());
        }
        Ok(SelectStatement {
            items,
            object,
            object_offset,
            clauses,
        })
    }

    /// `field, field, COUNT()`...
    pub(crate) fn parse_select_items(&mut self) -> Result<Vec<SelectItem>, QueryError> {
        let mut items = Vec::new();
        loop {
            items.push(self.parse_select_item()?);
            if self.peek().kind == TokenKind::Comma {
                self.advance();
            } else {
                return Ok(items);
            }
        }
    }

    fn parse_select_item(&mut self) -> Result<SelectItem, QueryError> {
        if self.peek().kind == TokenKind::LeftParen
            && matches!(&self.peek_at(1).kind, TokenKind::Word(word) if word.eq_ignore_ascii_case("SELECT"))
        {
            // A parent-to-child subquery (SOQL and SOSL Reference, "Using Relationship
            // Queries"): its FROM names the child relationship, and it takes WHERE, ORDER BY
            // and LIMIT.
            let open = self.advance();
            self.expect_keyword("SELECT")?;
            let items = self.parse_select_items()?;
            self.expect_keyword("FROM")?;
            let (object, object_offset) = self.expect_name()?;
            let clauses = self.parse_clauses(false)?;
            self.expect(&TokenKind::RightParen)?;
            return Ok(SelectItem::Subquery {
                statement: Box::new(SelectStatement {
                    items,
                    object,
                    object_offset,
                    clauses,
                }),
                offset: open.offset,
            });
        }
        if self.peek_at(1).kind == TokenKind::LeftParen && self.at_keyword("COUNT") {
            let count = self.advance();
            self.advance();
            if self.peek().kind == TokenKind::RightParen {
                self.advance();
                return Ok(SelectItem::CountAll {
                    offset: count.offset,
                });
            }
            let path = self.expect_field()?;
            self.expect(&TokenKind::RightParen)?;
            let alias = match &self.peek().kind {
                TokenKind::Word(word)
                    if !CLAUSE_WORDS
                        .iter()
                        .any(|keyword| word.eq_ignore_ascii_case(keyword)) =>
                {
                    let alias = word.clone();
                    self.advance();
                    Some(alias)
                }
                _ => None,
            };
            return Ok(SelectItem::Count { path, alias });
        }
        Ok(SelectItem::Field(self.expect_field()?))
    }

    /// `[WHERE ...] [ORDER BY ...] [LIMIT n] [OFFSET n]`.
    pub(crate) fn parse_clauses(&mut self, offset_allowed: bool) -> Result<Clauses, QueryError> {
        let mut clauses = Clauses::default();
        if self.eat_keyword("WHERE") {
            clauses.condition = Some(self.parse_condition()?);
        }
        if self.at_keyword("GROUP")
            && matches!(&self.peek_at(1).kind, TokenKind::Word(word) if word.eq_ignore_ascii_case("BY"))
        {
            self.advance();
            self.advance();
            loop {
                clauses.group_by.push(self.expect_field()?);
                if self.peek().kind == TokenKind::Comma {
                    self.advance();
                } else {
                    break;
                }
            }
        }
        if self.at_keyword("ORDER") {
            self.advance();
            self.expect_keyword("BY")?;
            loop {
                clauses.order_by.push(self.parse_order_item()?);
                if self.peek().kind == TokenKind::Comma {
                    self.advance();
                } else {
                    break;
                }
            }
        }
        if self.eat_keyword("LIMIT") {
            clauses.limit = Some(self.parse_count()?);
        }
        if offset_allowed && self.at_keyword("OFFSET") {
            self.advance();
            let offset = self.parse_count()?;
            if offset > MAX_OFFSET {
                // Recorded body: [{"message":"Maximum SOQL offset allowed is 2000",
                // "errorCode":"NUMBER_OUTSIDE_VALID_RANGE"}], no caret block.
                return Err(QueryError::NumberOutsideValidRange {
                    message: format!("Maximum SOQL offset allowed is {MAX_OFFSET}"),
                });
            }
            clauses.offset = Some(offset);
        }
        Ok(clauses)
    }

    fn parse_count(&mut self) -> Result<u64, QueryError> {
        match &self.peek().kind {
            TokenKind::Number(text) => match text.parse::<u64>() {
                Ok(count) => {
                    self.advance();
                    Ok(count)
                }
                Err(_) => Err(self.unexpected()),
            },
            _ => Err(self.unexpected()),
        }
    }

    fn parse_order_item(&mut self) -> Result<OrderItem, QueryError> {
        let path = self.expect_field()?;
        let descending = if self.eat_keyword("DESC") {
            true
        } else {
            self.eat_keyword("ASC");
            false
        };
        let nulls_last = if self.eat_keyword("NULLS") {
            if self.eat_keyword("LAST") {
                Some(true)
            } else {
                self.expect_keyword("FIRST")?;
                Some(false)
            }
        } else {
            None
        };
        Ok(OrderItem {
            path,
            descending,
            nulls_last,
        })
    }

    /// `a AND b AND c` or `a OR b OR c`; mixing needs parentheses.
    pub(crate) fn parse_condition(&mut self) -> Result<Condition, QueryError> {
        let first = self.parse_unary()?;
        let connector = if self.at_keyword("AND") {
            "AND"
        } else if self.at_keyword("OR") {
            "OR"
        } else {
            return Ok(first);
        };
        let mut parts = vec![first];
        loop {
            if self.at_keyword(connector) {
                self.advance();
                parts.push(self.parse_unary()?);
            } else if self.at_keyword("AND") || self.at_keyword("OR") {
                return Err(self.unexpected());
            } else {
                break;
            }
        }
        Ok(if connector == "AND" {
            Condition::All(parts)
        } else {
            Condition::Any(parts)
        })
    }

    fn parse_unary(&mut self) -> Result<Condition, QueryError> {
        if self.eat_keyword("NOT") {
            return Ok(Condition::Not(Box::new(self.parse_unary()?)));
        }
        if self.peek().kind == TokenKind::LeftParen {
            self.advance();
            let inner = self.parse_condition()?;
            self.expect(&TokenKind::RightParen)?;
            return Ok(inner);
        }
        self.parse_field_expression()
    }

    fn parse_field_expression(&mut self) -> Result<Condition, QueryError> {
        let path = self.expect_field()?;
        if let TokenKind::Operator(operator) = self.peek().kind {
            self.advance();
            let value = self.parse_literal()?;
            return Ok(Condition::Compare {
                path,
                operator,
                value,
            });
        }
        if self.at_keyword("LIKE") {
            self.advance();
            let pattern = self.parse_literal()?;
            return Ok(Condition::Like { path, pattern });
        }
        if self.at_keyword("NOT") && self.peek_at(1).is_keyword("IN") {
            self.advance();
            self.advance();
            let values = self.parse_literal_list()?;
            return Ok(Condition::In {
                path,
                negated: true,
                values,
            });
        }
        if self.eat_keyword("IN") {
            let values = self.parse_literal_list()?;
            return Ok(Condition::In {
                path,
                negated: false,
                values,
            });
        }
        if self.at_keyword("INCLUDES") || self.at_keyword("EXCLUDES") {
            let excludes = self.advance().is_keyword("EXCLUDES");
            let values = self.parse_literal_list()?;
            return Ok(Condition::Includes {
                path,
                excludes,
                values,
            });
        }
        Err(self.unexpected())
    }

    fn parse_literal_list(&mut self) -> Result<Vec<LiteralAt>, QueryError> {
        self.expect(&TokenKind::LeftParen)?;
        let mut values = Vec::new();
        loop {
            values.push(self.parse_literal()?);
            if self.peek().kind == TokenKind::Comma {
                self.advance();
            } else {
                break;
            }
        }
        self.expect(&TokenKind::RightParen)?;
        Ok(values)
    }

    fn parse_literal(&mut self) -> Result<LiteralAt, QueryError> {
        let token = self.peek().clone();
        let literal = match &token.kind {
            TokenKind::String(value) => Literal::String(value.clone()),
            TokenKind::Number(text) => Literal::Number(text.clone()),
            TokenKind::DateLike(text) => Literal::DateLike(text.clone()),
            TokenKind::Word(word) if word.eq_ignore_ascii_case("null") => Literal::Null,
            TokenKind::Word(word) if word.eq_ignore_ascii_case("true") => Literal::Boolean(true),
            TokenKind::Word(word) if word.eq_ignore_ascii_case("false") => Literal::Boolean(false),
            TokenKind::Word(word) => match super::dates::relative_literal_takes_number(word) {
                Some(false) => Literal::Relative(
                    RelativeDate::new(word, None).ok_or_else(|| self.unexpected())?,
                ),
                Some(true) => {
                    let word = word.clone();
                    self.advance();
                    self.expect(&TokenKind::Colon)?;
                    let count = match &self.peek().kind {
                        TokenKind::Number(text) => text.parse::<i64>().ok(),
                        _ => None,
                    };
                    let Some(count) = count else {
                        return Err(self.unexpected());
                    };
                    let end = self.advance();
                    let relative =
                        RelativeDate::new(&word, Some(count)).ok_or_else(|| self.unexpected())?;
                    let text =
                        self.statement[token.offset..end.offset + end.text.len()].to_string();
                    return Ok(LiteralAt {
                        literal: Literal::Relative(relative),
                        offset: token.offset,
                        text,
                    });
                }
                None => return Err(self.unexpected()),
            },
            _ => return Err(self.unexpected()),
        };
        self.advance();
        Ok(LiteralAt {
            literal,
            offset: token.offset,
            text: token.text,
        })
    }
}

fn word_of(token: &Token) -> String {
    match &token.kind {
        TokenKind::Word(word) => word.clone(),
        _ => token.text.clone(),
    }
}

/// Parses a whole SOQL statement.
pub(crate) fn parse_soql(statement: &str) -> Result<SelectStatement, QueryError> {
    Parser::new(statement, 0, Dialect::Soql)?.parse_select_statement()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parses(statement: &str) -> SelectStatement {
        parse_soql(statement).unwrap_or_else(|error| panic!("{statement}: {error}"))
    }

    #[test]
    fn good_queries_parse() {
        let good = [
            "SELECT Id FROM Contact",
            "select id, name from contact where name = 'x' order by name desc nulls last limit 5 offset 10",
            "SELECT Id, Account.Name, Account.Owner.Username FROM Contact WHERE Account.Name != null",
            "SELECT COUNT() FROM Lead WHERE IsConverted = false",
            "SELECT COUNT(Id) total FROM Lead",
            "SELECT Id FROM Task WHERE (Status = 'Open' OR Status = 'Done') AND NOT Subject LIKE 'Call%'",
            "SELECT Id FROM Contact WHERE Id IN ('003000000000001', '003000000000002') AND Name NOT IN ('a')",
            "SELECT Id FROM Contact WHERE Tags__c INCLUDES ('a;b', 'c') AND Tags__c EXCLUDES ('d')",
            "SELECT Id FROM Contact WHERE CreatedDate > 2024-01-31T09:30:00Z AND Birthdate = 2024-01-31",
            "SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS:30 OR CreatedDate = TODAY",
            "SELECT Id\nFROM Contact\nWHERE Amount__c >= -1.5",
        ];
        for statement in good {
            parses(statement);
        }
    }

    #[test]
    fn the_parsed_tree_keeps_the_order_by_directions() {
        let statement =
            parses("SELECT Id FROM Contact ORDER BY LastName DESC NULLS LAST, FirstName");
        assert_eq!(statement.clauses.order_by.len(), 2);
        assert!(statement.clauses.order_by[0].descending);
        assert_eq!(statement.clauses.order_by[0].nulls_last, Some(true));
        assert!(!statement.clauses.order_by[1].descending);
        assert_eq!(statement.clauses.order_by[1].nulls_last, None);
    }

    #[test]
    fn bad_queries_are_refused_with_salesforces_exact_message() {
        let cases: &[(&str, &str)] = &[
            (
                "SELECT Id FROM Account WHERE",
                "\nSELECT Id FROM Account WHERE\n                            ^\nERROR at Row:1:Column:29\nunexpected token: '<EOF>'",
            ),
            (
                "SELECT Id, FROM Bar__c",
                "\nSELECT Id, FROM Bar__c\n           ^\nERROR at Row:1:Column:12\nunexpected token: 'FROM'",
            ),
            (
                "SELECT Id FROM Account WHERE Name = 'a' AND Site = 'b' OR Site = 'c'",
                // 35 characters either side, widened to whole words: the echo starts at `Account`.
                "\nAccount WHERE Name = 'a' AND Site = 'b' OR Site = 'c'\n                                        ^\nERROR at Row:1:Column:56\nunexpected token: 'OR'",
            ),
            (
                "SELECT Id FROM Account LIMT 5",
                "\nSELECT Id FROM Account LIMT 5\n                       ^\nERROR at Row:1:Column:24\nunexpected token: 'LIMT'",
            ),
            (
                "SELECT Id FROM Account WHERE Name = 'O'Brien'",
                "\nSELECT Id FROM Account WHERE Name = 'O'Brien'\n                                       ^\nERROR at Row:1:Column:40\nunexpected token: 'Brien'",
            ),
            (
                "SELECT Id FROM Account WHERE Id IN ()",
                "\nSELECT Id FROM Account WHERE Id IN ()\n                                    ^\nERROR at Row:1:Column:37\nunexpected token: ')'",
            ),
        ];
        for (statement, message) in cases {
            let error = parse_soql(statement).unwrap_err();
            assert_eq!(error.error_code(), "MALFORMED_QUERY", "{statement}");
            assert_eq!(error.message(), *message, "{statement}");
        }
    }

    #[test]
    fn an_offset_above_two_thousand_is_outside_the_valid_range() {
        let error = parse_soql("SELECT Id FROM Contact OFFSET 2001").unwrap_err();
        assert_eq!(error.error_code(), "NUMBER_OUTSIDE_VALID_RANGE");
        assert_eq!(error.message(), "Maximum SOQL offset allowed is 2000");
        parses("SELECT Id FROM Contact OFFSET 2000");
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let statement = parses("sElEcT Id fRoM Contact wHeRe Name LiKe 'a%' LiMiT 1");
        assert_eq!(statement.clauses.limit, Some(1));
    }
}
