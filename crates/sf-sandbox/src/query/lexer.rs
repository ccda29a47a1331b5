//! Splits SOQL (and the part of SOSL after the search term) into tokens, keeping each
//! token's byte offset for Salesforce's caret messages. String literals are decoded here
//! with Salesforce's escape sequences (SOQL and SOSL Reference, "Quoted String Escape
//! Sequences": `\n \r \t \b \f \" \' \\`, and `\_ \%` which only mean a literal `_`/`%`
//! inside LIKE; elsewhere they stay as the two characters).

use super::error::{Dialect, QueryError, caret_message_at, row_and_column};

/// The comparison operators of a field expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operator {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// One piece of a LIKE pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LikePiece {
    /// A literal character, already lower-cased (LIKE is case-insensitive).
    Literal(char),
    /// `_`: exactly one character.
    AnyOne,
    /// `%`: any run of characters.
    AnyRun,
}

/// A decoded string literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StringLiteral {
    /// The value as `=` and `IN` compare it.
    pub value: String,
    /// The value as a LIKE pattern.
    pub like: Vec<LikePiece>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// A name or keyword; dotted paths (`Account.Owner.Name`) are one token.
    Word(String),
    String(StringLiteral),
    /// A number as written (`10`, `-2.5`).
    Number(String),
    /// A date or datetime literal as written, checked by the parser.
    DateLike(String),
    Comma,
    LeftParen,
    RightParen,
    Colon,
    Operator(Operator),
    /// A string literal that never closes: reported only if the parser gets that far, as
    /// an earlier token may already be wrong (`'O'Brien'` fails at `Brien`).
    Unterminated {
        reason: String,
        row: usize,
        column: usize,
    },
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    /// Byte offset in the whole statement.
    pub offset: usize,
    /// The token as written, for "unexpected token" messages.
    pub text: String,
}

impl Token {
    pub(crate) fn is_keyword(&self, keyword: &str) -> bool {
        matches!(&self.kind, TokenKind::Word(word) if word.eq_ignore_ascii_case(keyword))
    }

    /// How Salesforce names this token in "unexpected token: '...'".
    pub(crate) fn shown(&self) -> &str {
        if self.kind == TokenKind::End {
            "<EOF>"
        } else {
            &self.text
        }
    }
}

/// Tokenizes `statement` from byte `start` to the end.
pub(crate) fn tokenize(
    statement: &str,
    start: usize,
    dialect: Dialect,
) -> Result<Vec<Token>, QueryError> {
    let bytes = statement.as_bytes();
    let mut tokens = Vec::new();
    let mut position = start;
    while position < bytes.len() {
        let Some(character) = statement[position..].chars().next() else {
            break;
        };
        if character.is_whitespace() {
            position += character.len_utf8();
            continue;
        }
        let begin = position;
        let kind = match character {
            ',' => {
                position += 1;
                TokenKind::Comma
            }
            '(' => {
                position += 1;
                TokenKind::LeftParen
            }
            ')' => {
                position += 1;
                TokenKind::RightParen
            }
            ':' => {
                position += 1;
                TokenKind::Colon
            }
            '=' => {
                position += 1;
                TokenKind::Operator(Operator::Equal)
            }
            '!' if bytes.get(position + 1) == Some(&b'=') => {
                position += 2;
                TokenKind::Operator(Operator::NotEqual)
            }
            '<' => match bytes.get(position + 1) {
                Some(b'>') => {
                    position += 2;
                    TokenKind::Operator(Operator::NotEqual)
                }
                Some(b'=') => {
                    position += 2;
                    TokenKind::Operator(Operator::LessOrEqual)
                }
                _ => {
                    position += 1;
                    TokenKind::Operator(Operator::Less)
                }
            },
            '>' => {
                if bytes.get(position + 1) == Some(&b'=') {
                    position += 2;
                    TokenKind::Operator(Operator::GreaterOrEqual)
                } else {
                    position += 1;
                    TokenKind::Operator(Operator::Greater)
                }
            }
            '\'' => match read_string(statement, position, dialect)? {
                Some((literal, end)) => {
                    position = end;
                    TokenKind::String(literal)
                }
                None => {
                    let (row, column) = row_and_column(statement, statement.len());
                    let reason = format!(
                        "line {row}:{} mismatched character '<EOF>' expecting '''",
                        column - 1
                    );
                    position = statement.len();
                    TokenKind::Unterminated {
                        reason,
                        row,
                        column: column - 1,
                    }
                }
            },
            '0'..='9' if looks_like_date(&bytes[position..]) => {
                position = scan_while(bytes, position, |byte| {
                    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'+' | b':' | b'.')
                });
                TokenKind::DateLike(statement[begin..position].to_string())
            }
            '0'..='9' | '.' => {
                position = scan_number(bytes, position);
                TokenKind::Number(statement[begin..position].to_string())
            }
            '-' | '+' if bytes.get(position + 1).is_some_and(u8::is_ascii_digit) => {
                position = scan_number(bytes, position + 1);
                TokenKind::Number(statement[begin..position].to_string())
            }
            character if character.is_ascii_alphabetic() || character == '_' => {
                position = scan_while(bytes, position, |byte| {
                    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'.'
                });
                TokenKind::Word(statement[begin..position].to_string())
            }
            other => {
                // Salesforce's lexer reports these with its own 0-based column, both in the
                // reason and in the caret header: "line 1:15 unexpected token: '$'" (Summer
                // '24 release notes, "Changed Error Messages").
                let (row, column) = row_and_column(statement, position);
                let reason = format!("line {row}:{} unexpected token: '{other}'", column - 1);
                return Err(dialect.syntax_error(caret_message_at(
                    statement,
                    position,
                    row,
                    column - 1,
                    &reason,
                )));
            }
        };
        tokens.push(Token {
            kind,
            offset: begin,
            text: statement[begin..position].to_string(),
        });
    }
    tokens.push(Token {
        kind: TokenKind::End,
        offset: statement.len(),
        text: String::new(),
    });
    Ok(tokens)
}

fn scan_while(bytes: &[u8], mut position: usize, keep: impl Fn(u8) -> bool) -> usize {
    while position < bytes.len() && keep(bytes[position]) {
        position += 1;
    }
    position
}

fn scan_number(bytes: &[u8], position: usize) -> usize {
    scan_while(bytes, position, |byte| {
        byte.is_ascii_digit() || byte == b'.'
    })
}

/// `2024-01-31...`: four digits and a hyphen start a date literal.
fn looks_like_date(rest: &[u8]) -> bool {
    rest.len() >= 5 && rest[..4].iter().all(u8::is_ascii_digit) && rest[4] == b'-'
}

/// Reads a quoted string starting at `start` (the opening quote). Returns the literal and
/// the offset after the closing quote.
fn read_string(
    statement: &str,
    start: usize,
    dialect: Dialect,
) -> Result<Option<(StringLiteral, usize)>, QueryError> {
    let mut value = String::new();
    let mut like = Vec::new();
    let mut characters = statement[start + 1..].char_indices();
    while let Some((index, character)) = characters.next() {
        match character {
            '\'' => {
                return Ok(Some((StringLiteral { value, like }, start + 1 + index + 1)));
            }
            '\\' => {
                let Some((_, escaped)) = characters.next() else {
                    break;
                };
                let decoded = match escaped {
                    'n' | 'N' => Some('\n'),
                    'r' | 'R' => Some('\r'),
                    't' | 'T' => Some('\t'),
                    'b' | 'B' => Some('\u{8}'),
                    'f' | 'F' => Some('\u{c}'),
                    '"' => Some('"'),
                    '\'' => Some('\''),
                    '\\' => Some('\\'),
                    '%' | '_' => None,
                    other => {
                        let literal_end = statement[start + 1..]
                            .find('\'')
                            .map_or(statement.len(), |end| start + 2 + end);
                        let reason = format!(
                            "Invalid string literal '{}'. Illegal character sequence '\\{other}' in string literal.",
                            &statement[start + 1..literal_end.saturating_sub(1).max(start + 1)]
                        );
                        return Err(dialect
                            .syntax_error(super::error::caret_message(statement, start, &reason)));
                    }
                };
                match decoded {
                    Some(character) => {
                        value.push(character);
                        like.extend(character.to_lowercase().map(LikePiece::Literal));
                    }
                    None => {
                        value.push('\\');
                        value.push(escaped);
                        like.push(LikePiece::Literal(escaped));
                    }
                }
            }
            '%' => {
                value.push('%');
                like.push(LikePiece::AnyRun);
            }
            '_' => {
                value.push('_');
                like.push(LikePiece::AnyOne);
            }
            other => {
                value.push(other);
                like.extend(other.to_lowercase().map(LikePiece::Literal));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        tokenize(text, 0, Dialect::Soql)
            .unwrap()
            .into_iter()
            .map(|token| token.kind)
            .collect()
    }

    fn string(text: &str) -> StringLiteral {
        match tokenize(text, 0, Dialect::Soql).unwrap().remove(0).kind {
            TokenKind::String(literal) => literal,
            other => panic!("not a string: {other:?}"),
        }
    }

    #[test]
    fn operators_paths_numbers_and_dates_are_told_apart() {
        assert_eq!(
            kinds("Account.Name<>'x' AND n>=-2.5 AND d<2024-01-31T09:30:00+09:00"),
            vec![
                TokenKind::Word("Account.Name".into()),
                TokenKind::Operator(Operator::NotEqual),
                TokenKind::String(StringLiteral {
                    value: "x".into(),
                    like: vec![LikePiece::Literal('x')]
                }),
                TokenKind::Word("AND".into()),
                TokenKind::Word("n".into()),
                TokenKind::Operator(Operator::GreaterOrEqual),
                TokenKind::Number("-2.5".into()),
                TokenKind::Word("AND".into()),
                TokenKind::Word("d".into()),
                TokenKind::Operator(Operator::Less),
                TokenKind::DateLike("2024-01-31T09:30:00+09:00".into()),
                TokenKind::End,
            ]
        );
    }

    #[test]
    fn an_escaped_quote_stays_inside_the_string() {
        assert_eq!(string(r"'O\'Brien'").value, "O'Brien");
    }

    #[test]
    fn escaped_percent_is_literal_in_like_and_two_characters_elsewhere() {
        let literal = string(r"'100\%'");
        assert_eq!(literal.value, r"100\%");
        assert_eq!(literal.like.last(), Some(&LikePiece::Literal('%')));
        let wildcard = string("'100%'");
        assert_eq!(wildcard.like.last(), Some(&LikePiece::AnyRun));
    }

    #[test]
    fn backslash_escapes_decode_to_their_characters() {
        assert_eq!(string(r#"'a\nb\tc\\d\"e'"#).value, "a\nb\tc\\d\"e");
    }

    #[test]
    fn an_unknown_escape_is_refused() {
        let error = tokenize(r"'a\qb'", 0, Dialect::Soql).unwrap_err();
        assert_eq!(error.error_code(), "MALFORMED_QUERY");
        assert!(
            error
                .message()
                .contains(r"Illegal character sequence '\q' in string literal."),
            "{}",
            error.message()
        );
    }

    #[test]
    fn a_stray_character_is_reported_with_the_lexers_zero_based_column() {
        let error = tokenize("SELECT Id from $casecomment", 0, Dialect::Soql).unwrap_err();
        assert!(
            error.message().ends_with("line 1:15 unexpected token: '$'"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn an_unterminated_string_becomes_a_token_the_parser_reports() {
        let kinds = kinds("Name = 'abc");
        assert!(
            matches!(&kinds[2], TokenKind::Unterminated { reason, .. } if reason == "line 1:11 mismatched character '<EOF>' expecting '''"),
            "{kinds:?}"
        );
    }
}
