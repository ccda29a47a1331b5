//! How SOSL's `IN PHONE FIELDS` decides that a search term matches a stored phone number.
//!
//! What is documented, and what the sandbox does with it:
//! - Salesforce stores phone fields exactly as entered ("Salesforce preserves whichever phone
//!   number format you enter", Salesforce Help, knowledge article 000385963, "Standard
//!   'Phone' field length and formatting"), so one number sits in orgs as `03-1234-5678`,
//!   `(03) 1234 5678`, `+81 3-1234-5678`...
//! - Search finds a phone by its digits whatever the formatting: the SOAP API guide's
//!   sample `search()` call passes a bare digit string ("Example of phoneNumber format:
//!   4155551212") to `FIND {...} IN Phone FIELDS` to find formatted numbers. The sandbox
//!   therefore compares digits only: punctuation, spaces and brackets are ignored on both
//!   sides, full-width digits (０-９, common in Japanese orgs) count as digits, and an
//!   extension (`x123`, `ext. 123`) on the stored side is not part of the number.
//! - A search for the number without its country code finds numbers stored with it (the
//!   stored digits end with the searched digits, at least [`MIN_TRAILING_DIGITS`] of them:
//!   the subscriber number with its area code). The reverse does not hold: a search that
//!   adds a country code or keeps a trunk `0` that the stored number replaced by `+81` does
//!   not match. The sync rules (R3.6) record the same limit from the field: numbers written
//!   with misplaced hyphens or in another form "may not link" when the integration relies
//!   on Salesforce's search, which is why callsync keeps its own E.164 index.
//! - As in any search index, a single group of digits as written (`1234` of
//!   `03-1234-5678`) is a token of its own and matches.
//!
//! No public source states the exact rules of Salesforce's phone tokenizer for partial and
//! international numbers; the three rules above are the sandbox's model and are tested as
//! such, so that a change of mind is one edit here.

/// The fewest trailing digits a search may give to match the end of a stored number.
pub(crate) const MIN_TRAILING_DIGITS: usize = 7;

/// The decimal value of an ASCII or full-width digit.
fn digit_of(character: char) -> Option<char> {
    match character {
        '0'..='9' => Some(character),
        '０'..='９' => char::from_u32(u32::from(character) - u32::from('０') + u32::from('0')),
        _ => None,
    }
}

/// The digits of a stored phone number, its extension left out.
pub(crate) fn stored_digits(text: &str) -> String {
    let mut digits = String::with_capacity(text.len());
    let mut characters = text.chars().peekable();
    while let Some(character) = characters.next() {
        if let Some(digit) = digit_of(character) {
            digits.push(digit);
        } else if matches!(character, 'x' | 'X' | 'ｘ' | '#') && !digits.is_empty() {
            break;
        } else if matches!(character, 'e' | 'E') && !digits.is_empty() {
            let rest: String = characters.clone().take(2).collect();
            if rest.eq_ignore_ascii_case("xt") {
                break;
            }
        }
    }
    digits
}

/// The groups of consecutive digits as written (`03-1234-5678` → 03, 1234, 5678).
fn digit_groups(text: &str) -> Vec<String> {
    let mut groups = Vec::new();
    let mut current = String::new();
    for character in text.chars() {
        match digit_of(character) {
            Some(digit) => current.push(digit),
            None if !current.is_empty() => groups.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// A search term reduced for phone matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PhoneTerm {
    digits: String,
    /// The term ended with `*`: stored numbers that start with the digits match.
    prefix: bool,
}

impl PhoneTerm {
    /// The term's digits; `None` when it holds fewer than two (nothing to search by).
    pub(crate) fn new(text: &str, prefix: bool) -> Option<PhoneTerm> {
        let digits: String = text.chars().filter_map(digit_of).collect();
        (digits.len() >= 2).then_some(PhoneTerm { digits, prefix })
    }

    /// Whether the stored phone `value` matches.
    pub(crate) fn matches(&self, value: &str) -> bool {
        let stored = stored_digits(value);
        if self.prefix {
            return stored.starts_with(&self.digits)
                || digit_groups(value)
                    .iter()
                    .any(|group| group.starts_with(&self.digits));
        }
        stored == self.digits
            || (self.digits.len() >= MIN_TRAILING_DIGITS && stored.ends_with(&self.digits))
            || digit_groups(value).contains(&self.digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(term: &str, stored: &str) -> bool {
        PhoneTerm::new(term, false).unwrap().matches(stored)
    }

    #[test]
    fn phone_search_matches_on_digits_as_documented_and_modelled() {
        let cases: &[(&str, &str, bool, &str)] = &[
            (
                "4155551212",
                "(415) 555-1212",
                true,
                "digits find a formatted number",
            ),
            (
                "415-555-1212",
                "4155551212",
                true,
                "formatting in the term is ignored",
            ),
            (
                "(415) 555 1212",
                "415.555.1212",
                true,
                "any punctuation on either side",
            ),
            ("0312345678", "03-1234-5678", true, "Japanese landline"),
            ("0312345678", "(03) 1234 5678", true, "brackets and spaces"),
            (
                "0312345678",
                "０３－１２３４－５６７８",
                true,
                "full-width digits count",
            ),
            (
                "09012345678",
                "090 1234 5678 x12",
                true,
                "an extension is not part of the number",
            ),
            (
                "312345678",
                "+81 3-1234-5678",
                true,
                "without the country code finds it with",
            ),
            (
                "4155551212",
                "+1 (415) 555-1212",
                true,
                "without +1 finds +1",
            ),
            (
                "0312345678",
                "+81 3-1234-5678",
                false,
                "the trunk 0 is not the country code",
            ),
            (
                "+81312345678",
                "03-1234-5678",
                false,
                "adding the country code does not find the national form",
            ),
            (
                "14155551212",
                "(415) 555-1212",
                false,
                "a longer term never matches a shorter number",
            ),
            (
                "5551212",
                "(415) 555-1212",
                true,
                "the subscriber number without area code",
            ),
            ("1234", "03-1234-5678", true, "a group of digits as written"),
            (
                "2345",
                "03-1234-5678",
                false,
                "a fragment that is not a group",
            ),
            (
                "5678",
                "0312345678",
                false,
                "an unformatted number is one group",
            ),
            ("0312345679", "03-1234-5678", false, "a different number"),
        ];
        for (term, stored, expected, why) in cases {
            assert_eq!(
                matches(term, stored),
                *expected,
                "{why}: {term} vs {stored}"
            );
        }
    }

    #[test]
    fn a_trailing_wildcard_matches_numbers_that_start_with_the_digits() {
        let term = PhoneTerm::new("0312", true).unwrap();
        assert!(term.matches("03-1234-5678"));
        assert!(!term.matches("06-1234-5678"));
    }

    #[test]
    fn a_term_without_two_digits_cannot_search_phones() {
        assert!(PhoneTerm::new("Smith", false).is_none());
        assert!(PhoneTerm::new("7", false).is_none());
    }
}
