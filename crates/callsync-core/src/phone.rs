//! Phone numbers in normal form (R3.6): messy input in, one comparable key out.
//!
//! Parsing and validity come from `rlibphonenumber` (a maintained port of Google's
//! libphonenumber); this module only does what the library does not: Unicode NFKC, Japanese
//! dash and label variants, `内線` extensions, and the digits-only key for strings the library
//! does not call a valid number.

use std::fmt;
use std::sync::OnceLock;

use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumberFormat, PhoneNumberType, Region};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Why a phone region or number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// The region code is not one libphonenumber has metadata for.
    #[error("`{0}` is not a phone region (use a two-letter code such as JP, US or GB)")]
    UnknownRegion(String),
    /// The string contains no digit at all, so it cannot identify a number.
    #[error("`{0}` contains no digits")]
    NoDigits(String),
}

/// The region used to read numbers written without a country code (R3.6, default `JP`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PhoneRegion(Region);

impl PhoneRegion {
    /// Japan, the default region of a new organisation.
    pub const JAPAN: PhoneRegion = PhoneRegion(Region::JP);

    /// Parses a two-letter region code (`JP`, `us`); codes without phone metadata are refused.
    pub fn parse(code: &str) -> Result<Self, PhoneError> {
        let unknown = || PhoneError::UnknownRegion(code.to_owned());
        let region = Region::from_code(code.trim()).map_err(|_| unknown())?;
        if region == Region::World
            || PHONE_NUMBER_UTIL
                .get_country_code_for_region(region)
                .is_none()
        {
            return Err(unknown());
        }
        Ok(Self(region))
    }

    /// The two-letter code, upper case.
    pub fn code(&self) -> String {
        self.0.as_region_str().to_string()
    }
}

impl Default for PhoneRegion {
    fn default() -> Self {
        Self::JAPAN
    }
}

impl fmt::Debug for PhoneRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneRegion({})", self.code())
    }
}

impl fmt::Display for PhoneRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

impl Serialize for PhoneRegion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.code())
    }
}

impl<'de> Deserialize<'de> for PhoneRegion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Self::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// The comparable form of a number: two numbers are the same when their keys are equal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PhoneKey {
    /// A number libphonenumber calls valid, in E.164 (`+81312345678`).
    E164(String),
    /// Anything else: its digits only, so it matches only the same digits (R3.6).
    Digits(String),
}

impl PhoneKey {
    /// The key as one string, for an index column: E.164 starts with `+`, digits never do,
    /// so the two kinds cannot collide.
    pub fn as_str(&self) -> &str {
        match self {
            PhoneKey::E164(text) | PhoneKey::Digits(text) => text,
        }
    }
}

/// A phone number as written somewhere (an event, a CRM field) and its normal form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    input: String,
    key: PhoneKey,
    extension: Option<String>,
    /// The default region it was read with; CRM spellings are read with the same one.
    region: PhoneRegion,
}

/// What kind of line a valid number is, as libphonenumber classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)] // The names say it; see libphonenumber's PhoneNumberType.
pub enum NumberType {
    FixedLine,
    Mobile,
    FixedLineOrMobile,
    TollFree,
    PremiumRate,
    SharedCost,
    Voip,
    PersonalNumber,
    Pager,
    Uan,
    Voicemail,
    Unknown,
}

impl NumberType {
    fn from_library(value: PhoneNumberType) -> Self {
        match value {
            PhoneNumberType::FixedLine => Self::FixedLine,
            PhoneNumberType::Mobile => Self::Mobile,
            PhoneNumberType::FixedLineOrMobile => Self::FixedLineOrMobile,
            PhoneNumberType::TollFree => Self::TollFree,
            PhoneNumberType::PremiumRate => Self::PremiumRate,
            PhoneNumberType::SharedCost => Self::SharedCost,
            PhoneNumberType::VoIP => Self::Voip,
            PhoneNumberType::PersonalNumber => Self::PersonalNumber,
            PhoneNumberType::Pager => Self::Pager,
            PhoneNumberType::UAN => Self::Uan,
            PhoneNumberType::VoiceMail => Self::Voicemail,
            PhoneNumberType::Unknown => Self::Unknown,
        }
    }

    /// The snake_case name, as printed by `explain-number`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::FixedLine => "fixed_line",
            Self::Mobile => "mobile",
            Self::FixedLineOrMobile => "fixed_line_or_mobile",
            Self::TollFree => "toll_free",
            Self::PremiumRate => "premium_rate",
            Self::SharedCost => "shared_cost",
            Self::Voip => "voip",
            Self::PersonalNumber => "personal_number",
            Self::Pager => "pager",
            Self::Uan => "uan",
            Self::Voicemail => "voicemail",
            Self::Unknown => "unknown",
        }
    }
}

impl PhoneNumber {
    /// Reads a number written in any of the usual ways, with `region` for numbers that carry
    /// no country code. Only a string without a single digit is refused.
    pub fn parse(input: &str, region: PhoneRegion) -> Result<Self, PhoneError> {
        let cleaned = clean(input);
        if let Ok(parsed) = PHONE_NUMBER_UTIL.parse(&cleaned, Some(region.0))
            && parsed.is_valid()
        {
            return Ok(Self {
                input: input.to_owned(),
                key: PhoneKey::E164(parsed.format_as(PhoneNumberFormat::E164).into_owned()),
                extension: parsed
                    .extension
                    .clone()
                    .filter(|extension| !extension.is_empty()),
                region,
            });
        }
        let digits: String = cleaned.chars().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return Err(PhoneError::NoDigits(input.to_owned()));
        }
        Ok(Self {
            input: input.to_owned(),
            key: PhoneKey::Digits(digits),
            extension: None,
            region,
        })
    }

    /// The text the number was read from.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The comparable key.
    pub fn key(&self) -> &PhoneKey {
        &self.key
    }

    /// E.164 when the number is valid.
    pub fn e164(&self) -> Option<&str> {
        match &self.key {
            PhoneKey::E164(text) => Some(text),
            PhoneKey::Digits(_) => None,
        }
    }

    /// What kind of line a valid number is. Asked of libphonenumber when wanted, not at
    /// [`PhoneNumber::parse`]: classifying runs the patterns of every line type again, and
    /// matching, which parses every candidate's numbers, never needs it.
    pub fn number_type(&self) -> Option<NumberType> {
        let parsed = PHONE_NUMBER_UTIL.parse(self.e164()?, None).ok()?;
        Some(NumberType::from_library(parsed.get_type()))
    }

    /// Whether libphonenumber calls the number valid.
    pub fn is_valid(&self) -> bool {
        matches!(self.key, PhoneKey::E164(_))
    }

    /// The extension written after the number (`ext. 12`, `内線12`), if any. It is not part of
    /// the key: an extension reaches the same organisation.
    pub fn extension(&self) -> Option<&str> {
        self.extension.as_deref()
    }

    /// The number in its country's national format (`03-1234-5678`), as a person there
    /// dials it; `None` when libphonenumber does not call it valid.
    pub fn national(&self) -> Option<String> {
        let parsed = PHONE_NUMBER_UTIL.parse(self.e164()?, None).ok()?;
        Some(parsed.format_as(PhoneNumberFormat::National).into_owned())
    }

    /// Whether two numbers are the same number (R3.6).
    pub fn same_number(&self, other: &PhoneNumber) -> bool {
        self.key == other.key
    }

    /// The spellings of this number that a CRM field may hold, for a SOQL `IN (...)` filter
    /// (SOQL compares strings exactly). Valid numbers give their E.164, international and
    /// national forms with the usual separators; others give the input and its digits.
    /// Spellings outside this list (full-width digits, odd spacing) are found only through a
    /// phone index built with [`PhoneNumber::parse`]. Every variant reads back, with the same
    /// default region, as this very number, so no variant can find a record that
    /// [`crate::matching::choose_record`] would then reject.
    pub fn search_variants(&self) -> Vec<String> {
        let mut variants = Vec::new();
        let region = self.region;
        let key = self.key.clone();
        let mut push = |variant: String| {
            if !variant.is_empty()
                && !variants.contains(&variant)
                && PhoneNumber::parse(&variant, region).is_ok_and(|again| again.key == key)
            {
                variants.push(variant);
            }
        };
        match &self.key {
            PhoneKey::E164(e164) => {
                let Ok(parsed) = PHONE_NUMBER_UTIL.parse(e164, None) else {
                    push(e164.clone());
                    return variants;
                };
                let international = parsed
                    .format_as(PhoneNumberFormat::International)
                    .into_owned();
                let national = parsed.format_as(PhoneNumberFormat::National).into_owned();
                let national_digits: String =
                    national.chars().filter(char::is_ascii_digit).collect();
                let groups: Vec<&str> = national
                    .split(|character: char| !character.is_ascii_digit())
                    .filter(|group| !group.is_empty())
                    .collect();
                let country = parsed.country_code.to_string();
                push(e164.clone());
                push(e164.trim_start_matches('+').to_owned());
                push(international.clone());
                push(international.replace('-', " "));
                push(international.replace(' ', "-"));
                push(national.clone());
                push(national_digits);
                if groups.len() >= 2 {
                    push(groups.join("-"));
                    push(groups.join(" "));
                    push(groups.join("."));
                    let (first, rest) = groups.split_at(1);
                    push(format!("({}) {}", first[0], rest.join(" ")));
                    push(format!("({}) {}", first[0], rest.join("-")));
                    push(format!("({}){}", first[0], rest.join("-")));
                    if rest.len() == 2 {
                        push(format!("{}({}){}", first[0], rest[0], rest[1]));
                    }
                    // `1-650-253-0000`: only where the national form has no trunk prefix;
                    // `81-03-…` is no one's spelling.
                    if !groups[0].starts_with('0') {
                        push(format!("{country}-{}", groups.join("-")));
                    }
                }
            }
            PhoneKey::Digits(digits) => {
                push(self.input.trim().to_owned());
                push(digits.clone());
            }
        }
        variants
    }
}

/// The spellings of `number` for a SOQL `IN (...)` filter; see [`PhoneNumber::search_variants`].
/// A string without digits has no variants.
pub fn phone_search_variants(number: &str, region: PhoneRegion) -> Vec<String> {
    PhoneNumber::parse(number, region)
        .map(|parsed| parsed.search_variants())
        .unwrap_or_default()
}

/// The digits to search for `number` where only a substring search exists (SOSL `IN PHONE
/// FIELDS`): the national significant number (`312345678` for `03-1234-5678` in Japan),
/// which the stored digits of every spelling end with — with or without the trunk `0`, with
/// or without `+81`. For a string that is not a valid number, its own digits (at least two).
/// `None` when there is nothing to search. A hit still has to pass the normal-form
/// comparison of [`crate::matching::choose_record`] (R3.6), so a partial hit links nothing.
pub fn phone_search_digits(number: &str, region: PhoneRegion) -> Option<String> {
    let parsed = PhoneNumber::parse(number, region).ok()?;
    let digits_of = |text: &str| -> String { text.chars().filter(char::is_ascii_digit).collect() };
    let full = match parsed.e164() {
        Some(e164) => digits_of(e164),
        None => return Some(digits_of(parsed.key().as_str())).filter(|d| d.len() >= 2),
    };
    // The national form is among the spellings; its longest common end with the E.164
    // digits is the national significant number.
    let national = parsed
        .search_variants()
        .iter()
        .map(|variant| digits_of(variant))
        .filter(|digits| *digits != full)
        .map(|digits| common_suffix(&full, &digits))
        .max_by_key(String::len)
        .filter(|suffix| suffix.len() >= 2);
    Some(national.unwrap_or(full))
}

/// The longest common end of two ASCII-digit strings.
fn common_suffix(left: &str, right: &str) -> String {
    let length = left
        .bytes()
        .rev()
        .zip(right.bytes().rev())
        .take_while(|(a, b)| a == b)
        .count();
    left[left.len() - length..].to_owned()
}

/// What callsync makes of a number, for `callsync explain-number`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The text as given.
    pub input: String,
    /// E.164, when the number is valid.
    pub e164: Option<String>,
    /// Whether the number is matched in normal form (otherwise only digit for digit).
    pub valid: bool,
    /// The line type of a valid number.
    pub number_type: Option<NumberType>,
    /// The extension written after the number.
    pub extension: Option<String>,
    /// The key it is compared by; `None` when the text has no digits.
    pub key: Option<String>,
}

impl Explanation {
    /// One tab-separated line: input, E.164 or empty, valid, type, extension.
    pub fn tab_separated(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}",
            self.input.replace(['\t', '\n', '\r'], " "),
            self.e164.as_deref().unwrap_or(""),
            self.valid,
            self.number_type.map(|kind| kind.as_str()).unwrap_or(""),
            self.extension.as_deref().unwrap_or(""),
        )
    }
}

/// Explains how `number` is read with `region` as the default region.
pub fn explain(number: &str, region: PhoneRegion) -> Explanation {
    match PhoneNumber::parse(number, region) {
        Ok(parsed) => Explanation {
            input: number.to_owned(),
            e164: parsed.e164().map(str::to_owned),
            valid: parsed.is_valid(),
            number_type: parsed.number_type(),
            extension: parsed.extension.clone(),
            key: Some(parsed.key.as_str().to_owned()),
        },
        Err(_) => Explanation {
            input: number.to_owned(),
            e164: None,
            valid: false,
            number_type: None,
            extension: None,
            key: None,
        },
    }
}

/// Dash-like characters that people (and Japanese IMEs) type between digit groups. NFKC already
/// turns the full-width hyphen-minus `－` into `-` and the half-width `ｰ` into `ー`.
fn is_dash(character: char) -> bool {
    matches!(
        character,
        '\u{2010}'
            ..='\u{2015}'
                | '\u{2212}'
                | '\u{2043}'
                | '\u{30FC}'
                | '\u{FE58}'
                | '\u{FE63}'
                | '\u{FF0D}'
                | '\u{FF70}'
                | '\u{301C}'
                | '\u{FF5E}'
    )
}

/// Labels written before a number in CRM fields and signatures; stripped before parsing.
fn leading_labels() -> &'static [&'static str] {
    static LABELS: OnceLock<Vec<&'static str>> = OnceLock::new();
    LABELS.get_or_init(|| vec!["電話番号", "電話", "携帯", "tel", "phone", "ph"])
}

/// Rewrites the text into something libphonenumber reads: NFKC (full-width digits and
/// brackets become ASCII), dashes unified, `(代)` (main line) removed, `内線` turned into an
/// `ext.` the library understands, and leading labels (`TEL:`, `電話:`) dropped.
fn clean(input: &str) -> String {
    let normalised: String = input
        .nfkc()
        .map(|c| if is_dash(c) { '-' } else { c })
        .collect();
    let mut text = normalised
        .replace("(代表)", " ")
        .replace("(代)", " ")
        .replace("内線番号", "内線")
        .replace("内線:", "内線")
        .replace("内線", " ext. ");
    loop {
        let trimmed = text.trim_start();
        let lowered = trimmed.to_lowercase();
        let label = leading_labels()
            .iter()
            .find(|label| lowered.starts_with(*label));
        let Some(label) = label else { break };
        // Labels are ASCII or CJK without case, so the lower-cased length equals the original's.
        let rest = trimmed.get(label.len()..).unwrap_or("");
        let rest = rest.trim_start_matches(|c: char| c == ':' || c == '.' || c.is_whitespace());
        if rest.len() == trimmed.len() {
            break;
        }
        text = rest.to_owned();
    }
    text.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jp(number: &str) -> PhoneNumber {
        PhoneNumber::parse(number, PhoneRegion::JAPAN).unwrap()
    }

    #[test]
    fn r3_6_a_substring_search_looks_for_the_national_significant_number() {
        for (spelling, digits) in [
            ("03-1234-5678", Some("312345678")),
            ("+81 3-1234-5678", Some("312345678")),
            ("（０３）１２３４－５６７８", Some("312345678")),
            ("090-1234-5678", Some("9012345678")),
            // Not a valid number: its own digits only.
            ("12-34", Some("1234")),
            ("非通知", None),
        ] {
            assert_eq!(
                phone_search_digits(spelling, PhoneRegion::JAPAN).as_deref(),
                digits,
                "{spelling}"
            );
        }
    }

    #[test]
    fn r3_6_the_five_spellings_of_the_spec_are_one_number() {
        let expected = PhoneKey::E164("+81312345678".to_owned());
        for spelling in [
            "03-1234-5678",
            "0312345678",
            "(03) 1234 5678",
            "+81 3-1234-5678",
            "+81312345678",
        ] {
            assert_eq!(jp(spelling).key(), &expected, "{spelling}");
        }
    }

    #[test]
    fn r3_6_a_string_that_is_not_a_valid_number_matches_only_its_own_digits() {
        let short = jp("1234");
        assert_eq!(short.key(), &PhoneKey::Digits("1234".to_owned()));
        assert!(short.same_number(&jp("12-34")));
        assert!(!short.same_number(&jp("12345")));
    }

    #[test]
    fn r3_6_text_without_digits_is_refused() {
        assert!(matches!(
            PhoneNumber::parse("非通知", PhoneRegion::JAPAN),
            Err(PhoneError::NoDigits(_))
        ));
    }

    #[test]
    fn r3_6_search_variants_contain_the_spellings_of_the_spec() {
        let variants = jp("03-1234-5678").search_variants();
        for spelling in [
            "0312345678",
            "03-1234-5678",
            "+81312345678",
            "+81 3-1234-5678",
            "(03) 1234 5678",
        ] {
            assert!(
                variants.contains(&spelling.to_owned()),
                "{spelling} missing from {variants:?}"
            );
        }
    }

    #[test]
    fn regions_without_phone_metadata_are_refused() {
        assert_eq!(PhoneRegion::parse("jp").unwrap(), PhoneRegion::JAPAN);
        assert!(PhoneRegion::parse("QQ").is_err());
        assert!(PhoneRegion::parse("JPN").is_err());
    }

    #[test]
    fn explain_prints_one_tab_separated_line() {
        let explanation = explain("03-1234-5678 内線12", PhoneRegion::JAPAN);
        assert_eq!(
            explanation.tab_separated(),
            "03-1234-5678 内線12\t+81312345678\ttrue\tfixed_line\t12"
        );
    }
}
