//! Identifier newtypes, parsed once at the edge so the rules can trust them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string was refused as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The identifier was empty or only whitespace.
    #[error("must not be empty")]
    Empty,
    /// The identifier is longer than its field allows.
    #[error("is {length} characters long; at most {max} are allowed")]
    TooLong {
        /// Length of the refused value, in characters.
        length: usize,
        /// The maximum.
        max: usize,
    },
    /// A Salesforce Id must be 15 or 18 characters.
    #[error("a Salesforce Id has 15 or 18 characters, not {0}")]
    SalesforceIdLength(usize),
    /// A Salesforce Id contains only ASCII letters and digits.
    #[error("a Salesforce Id contains only ASCII letters and digits")]
    SalesforceIdCharacters,
    /// The 3-character suffix of an 18-character Id does not fit its first 15 characters.
    #[error("the checksum (last 3 characters) of the Salesforce Id does not match")]
    SalesforceIdChecksum,
}

/// Defines a string newtype that is non-empty, trimmed and at most `$max` characters.
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The longest value accepted, in characters.
            pub const MAX_CHARS: usize = $max;

            /// Parses a value: surrounding whitespace is removed; empty or too long is refused.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                let trimmed = value.trim();
                if trimmed.is_empty() {
                    return Err(IdError::Empty);
                }
                let length = trimmed.chars().count();
                if length > Self::MAX_CHARS {
                    return Err(IdError::TooLong { length, max: Self::MAX_CHARS });
                }
                Ok(Self(trimmed.to_owned()))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// The phone system's id of one event; the same id twice is the same event (R10).
    EventId,
    255
);
text_id!(
    /// The call's sequence id. It becomes the Task's `CallObject` (R5), a 255-character field,
    /// so longer ids are refused at the edge instead of being cut (two calls must never share one).
    CallId,
    255
);
text_id!(
    /// The callsync organisation an event belongs to.
    OrgId,
    255
);
text_id!(
    /// A callsync user (the agent who handled a call), not a Salesforce user.
    UserId,
    255
);

/// A Salesforce record Id, always held in its 18-character, case-safe form.
///
/// Salesforce accepts both forms in the API and answers with 18 characters; holding one form
/// means two spellings of the same record compare equal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "String", into = "String")]
pub struct SalesforceId(String);

/// Alphabet of the 18-character suffix: each letter encodes which of 5 characters are upper case.
/// Source: the public 15→18 conversion description (three 5-character chunks, bit i set when
/// character i of the chunk is an upper-case letter, index into `A..Z0..5`).
const CHECKSUM_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

impl SalesforceId {
    /// Parses a 15-character (case-sensitive) or 18-character Id.
    ///
    /// An 18-character Id whose letters lost their case (some tools lower-case everything)
    /// is restored from its suffix; a suffix that cannot describe the first 15 characters is
    /// refused with [`IdError::SalesforceIdChecksum`].
    pub fn parse(value: &str) -> Result<Self, IdError> {
        let value = value.trim();
        if !value.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
            return Err(IdError::SalesforceIdCharacters);
        }
        match value.len() {
            15 => Ok(Self(format!("{value}{}", checksum(value.as_bytes())))),
            18 => {
                let (head, suffix) = value.split_at(15);
                let restored = restore_case(head.as_bytes(), suffix.as_bytes())?;
                Ok(Self(format!("{restored}{}", suffix.to_ascii_uppercase())))
            }
            0 => Err(IdError::Empty),
            other => Err(IdError::SalesforceIdLength(other)),
        }
    }

    /// The 18-character form.
    pub fn to_18(&self) -> &str {
        &self.0
    }

    /// The 15-character, case-sensitive form.
    pub fn to_15(&self) -> &str {
        self.0.get(..15).unwrap_or(&self.0)
    }

    /// The 3-character key prefix that names the object type (`003` Contact, `001` Account,
    /// `00Q` Lead, `005` User, `00T` Task).
    pub fn key_prefix(&self) -> &str {
        self.0.get(..3).unwrap_or(&self.0)
    }
}

fn checksum(head: &[u8]) -> String {
    head.chunks(5)
        .map(|chunk| {
            let index = chunk
                .iter()
                .enumerate()
                .filter(|(_, byte)| byte.is_ascii_uppercase())
                .fold(0usize, |bits, (position, _)| bits | (1 << position));
            char::from(CHECKSUM_ALPHABET[index])
        })
        .collect()
}

fn restore_case(head: &[u8], suffix: &[u8]) -> Result<String, IdError> {
    let mut restored = String::with_capacity(15);
    for (chunk, code) in head.chunks(5).zip(suffix) {
        let bits = CHECKSUM_ALPHABET
            .iter()
            .position(|candidate| candidate.eq_ignore_ascii_case(code))
            .ok_or(IdError::SalesforceIdChecksum)?;
        for (position, byte) in chunk.iter().enumerate() {
            let upper = bits & (1 << position) != 0;
            if upper && !byte.is_ascii_alphabetic() {
                return Err(IdError::SalesforceIdChecksum);
            }
            let byte = if upper {
                byte.to_ascii_uppercase()
            } else {
                byte.to_ascii_lowercase()
            };
            restored.push(char::from(byte));
        }
    }
    Ok(restored)
}

impl TryFrom<String> for SalesforceId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        Self::parse(&value)
    }
}

impl From<SalesforceId> for String {
    fn from(value: SalesforceId) -> String {
        value.0
    }
}

impl fmt::Display for SalesforceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifteen_character_ids_gain_the_documented_checksum() {
        for (short, long) in [
            ("a01M00000062mPg", "a01M00000062mPgIAI"),
            ("001M000000qfPyS", "001M000000qfPySIAU"),
            ("a0FE000000D6r3F", "a0FE000000D6r3FMAR"),
            ("0F9E000000092w2", "0F9E000000092w2KAA"),
            ("aaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaAAA"),
            ("AbCdEfGhIjKlMnO", "AbCdEfGhIjKlMnOVKV"),
            ("aBcDEfgHIJKLMNO", "aBcDEfgHIJKLMNO025"),
        ] {
            let id = SalesforceId::parse(short).unwrap();
            assert_eq!(id.to_18(), long);
            assert_eq!(id.to_15(), short);
            assert_eq!(SalesforceId::parse(long).unwrap(), id);
        }
    }

    #[test]
    fn an_eighteen_character_id_that_lost_its_case_is_restored_from_its_suffix() {
        let id = SalesforceId::parse("001m000000qfpysiau").unwrap();
        assert_eq!(id.to_18(), "001M000000qfPySIAU");
    }

    #[test]
    fn a_suffix_that_cannot_describe_the_id_is_refused() {
        // Bit 0 of the first chunk set, but the first character is a digit.
        assert_eq!(
            SalesforceId::parse("001M000000qfPySBAU"),
            Err(IdError::SalesforceIdChecksum)
        );
    }

    #[test]
    fn ids_of_the_wrong_length_or_alphabet_are_refused() {
        assert_eq!(
            SalesforceId::parse("001"),
            Err(IdError::SalesforceIdLength(3))
        );
        assert_eq!(SalesforceId::parse(""), Err(IdError::Empty));
        assert_eq!(
            SalesforceId::parse("001M000000qfPy-"),
            Err(IdError::SalesforceIdCharacters)
        );
    }

    #[test]
    fn call_ids_are_refused_when_empty_or_longer_than_call_object_allows() {
        assert_eq!(CallId::parse("  "), Err(IdError::Empty));
        assert!(CallId::parse(&"x".repeat(255)).is_ok());
        assert_eq!(
            CallId::parse(&"x".repeat(256)),
            Err(IdError::TooLong {
                length: 256,
                max: 255
            })
        );
    }
}
