//! Salesforce record Ids: the 15-character case-sensitive form, the 18-character case-safe
//! form with its 3-character checksum suffix, and the key prefixes that say which object an
//! Id belongs to.
//!
//! The suffix algorithm is Salesforce's documented one: split the 15 characters into three
//! chunks of five; for each chunk build a 5-bit number whose bit `i` is set when character
//! `i` is an upper-case letter; map each number through `A..Z0..5`. Real orgs return the
//! 18-character form in every REST response and accept both in input.

use std::fmt;

const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A well-formed record Id, kept in its 18-character form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId([u8; 18]);

/// Why a string is not a record Id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("an Id has 15 or 18 characters")]
    WrongLength,
    #[error("an Id holds only ASCII letters and digits")]
    BadCharacter,
    #[error("the 18-character Id's suffix does not match its first 15 characters")]
    BadChecksum,
}

impl RecordId {
    /// Parses a 15- or 18-character Id. An 18-character Id must carry the right suffix
    /// (compared without regard to case, as Salesforce does); a wrong suffix is the
    /// `MALFORMED_ID` case seen in forcedotcom/sf-fx-runtime-nodejs
    /// `mappings/update-malformed-id.json`.
    pub fn parse(text: &str) -> Result<RecordId, IdError> {
        let bytes = text.as_bytes();
        if bytes.len() != 15 && bytes.len() != 18 {
            return Err(IdError::WrongLength);
        }
        if !bytes.iter().all(u8::is_ascii_alphanumeric) {
            return Err(IdError::BadCharacter);
        }
        let mut first15 = [0u8; 15];
        first15.copy_from_slice(&bytes[..15]);
        let suffix = checksum_suffix(&first15);
        if bytes.len() == 18 && !bytes[15..].eq_ignore_ascii_case(&suffix) {
            return Err(IdError::BadChecksum);
        }
        Ok(RecordId::from_parts(&first15, &suffix))
    }

    /// Builds the Id of the `sequence`-th record with `key_prefix` (three characters).
    /// Characters 4–5 stand for the pod and 6 is reserved, as in real Ids (`001B000001...`);
    /// the last nine are the sequence in base 62.
    pub fn generate(key_prefix: &str, sequence: u64) -> RecordId {
        let mut first15 = *b"000000000000000";
        let prefix = key_prefix.as_bytes();
        for (slot, byte) in first15.iter_mut().zip(prefix.iter().take(3)) {
            *slot = *byte;
        }
        first15[3] = b'5';
        first15[4] = b'g';
        first15[5] = b'0';
        let mut rest = sequence;
        for position in (6..15).rev() {
            first15[position] = BASE62[(rest % 62) as usize];
            rest /= 62;
        }
        let suffix = checksum_suffix(&first15);
        RecordId::from_parts(&first15, &suffix)
    }

    fn from_parts(first15: &[u8; 15], suffix: &[u8; 3]) -> RecordId {
        let mut all = [0u8; 18];
        all[..15].copy_from_slice(first15);
        all[15..].copy_from_slice(suffix);
        RecordId(all)
    }

    /// The 18-character form.
    pub fn as_str(&self) -> &str {
        // Only ASCII alphanumerics are ever stored, so this cannot fail; fall back to an
        // empty string rather than panic.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The 15-character case-sensitive form.
    pub fn short(&self) -> &str {
        &self.as_str()[..15]
    }

    /// The 3-character key prefix (`003` for Contact).
    pub fn key_prefix(&self) -> &str {
        &self.as_str()[..3]
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "RecordId({})", self.as_str())
    }
}

/// The case-safe suffix of a 15-character Id.
pub fn checksum_suffix(first15: &[u8; 15]) -> [u8; 3] {
    let mut suffix = [0u8; 3];
    for (chunk_index, chunk) in first15.chunks(5).enumerate() {
        let mut bits = 0usize;
        for (position, byte) in chunk.iter().enumerate() {
            if byte.is_ascii_uppercase() {
                bits |= 1 << position;
            }
        }
        suffix[chunk_index] = SUFFIX_ALPHABET[bits];
    }
    suffix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_15_character_id_gets_its_real_suffix() {
        // Ids recorded from a real org in forcedotcom/sf-fx-runtime-nodejs mappings.
        assert_eq!(
            RecordId::parse("001B000001Lp1G2").unwrap().as_str(),
            "001B000001Lp1G2IAJ"
        );
        assert_eq!(
            RecordId::parse("a00B000000FSjVU").unwrap().as_str(),
            "a00B000000FSjVUIA1"
        );
        assert_eq!(
            RecordId::parse("0017Q00000EZlby").unwrap().as_str(),
            "0017Q00000EZlbyQAD"
        );
    }

    #[test]
    fn an_18_character_id_with_a_wrong_suffix_is_malformed() {
        assert_eq!(
            RecordId::parse("a00B000000FSjVUIB1"),
            Err(IdError::BadChecksum)
        );
        assert!(RecordId::parse("a00B000000FSjVUia1").is_ok());
    }

    #[test]
    fn ids_of_the_wrong_length_or_alphabet_are_rejected() {
        assert_eq!(RecordId::parse("001"), Err(IdError::WrongLength));
        assert_eq!(
            RecordId::parse("001B000001Lp1G-"),
            Err(IdError::BadCharacter)
        );
    }

    #[test]
    fn generated_ids_carry_the_prefix_and_parse_back() {
        let id = RecordId::generate("00T", 123_456);
        assert_eq!(id.key_prefix(), "00T");
        assert_eq!(RecordId::parse(id.short()).unwrap(), id);
        assert_ne!(RecordId::generate("00T", 1), RecordId::generate("00T", 2));
    }
}
