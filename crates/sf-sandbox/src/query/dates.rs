//! Date and datetime literals, Salesforce's relative date literals (`TODAY`,
//! `LAST_N_DAYS:n`, `THIS_MONTH`...) and the canonical text forms the engine compares.
//!
//! Stored values are the REST forms (`2024-01-31`, `2024-01-31T09:30:00.000+0000`, always
//! UTC), whose text order is time order, so comparisons work on canonical text and no row
//! is parsed on the fast path. The meaning of each relative literal follows the SOQL and
//! SOSL Reference, "Date Formats and Date Literals": ranges start at 00:00:00 in the
//! caller's time zone; weeks start on Sunday (the en_US locale); `LAST_N_DAYS:n` covers
//! today and the n days before it; `NEXT_N_DAYS:n` starts tomorrow; the `N_..._AGO:n`
//! forms are one whole day, week, month, quarter or year.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

/// `YYYY-MM-DD`, as Salesforce renders dates.
pub(crate) fn format_date(date: Date) -> String {
    date.strftime("%Y-%m-%d").to_string()
}

/// `YYYY-MM-DDTHH:MM:SS.sss+0000`, as Salesforce renders datetimes.
pub(crate) fn format_datetime(timestamp: Timestamp) -> String {
    timestamp.strftime("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// A SOQL date literal: exactly `YYYY-MM-DD`.
pub(crate) fn parse_date_literal(text: &str) -> Option<Date> {
    if text.len() != 10 {
        return None;
    }
    text.parse::<Date>().ok()
}

/// A SOQL datetime literal: `YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm|-hh:mm)`.
pub(crate) fn parse_datetime_literal(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || !matches!(bytes[10], b'T' | b't') {
        return None;
    }
    let last = bytes[bytes.len() - 1];
    let has_offset = matches!(last, b'Z' | b'z') || text[19..].contains(['+', '-']);
    if !has_offset {
        return None;
    }
    // Salesforce's grammar allows offset hours 00-23 (its old lexer message for `-25:00`:
    // "mismatched character '5' expecting set '0'..'3'"); jiff would accept up to 25.
    if let Some(sign) = text[19..].rfind(['+', '-']) {
        let hours = text
            .get(19 + sign + 1..19 + sign + 3)
            .and_then(|hours| hours.parse::<u8>().ok());
        if hours.is_none_or(|hours| hours > 23) {
            return None;
        }
    }
    text.parse::<Timestamp>().ok().or_else(|| {
        // `+0900` without the colon, as Salesforce itself writes offsets.
        let split = text.len().checked_sub(5)?;
        let (head, offset) = text.split_at(split);
        let with_colon = format!("{head}{}:{}", offset.get(..3)?, offset.get(3..)?);
        with_colon.parse::<Timestamp>().ok()
    })
}

/// A stored datetime in canonical form; `None` when it is not a datetime at all.
pub(crate) fn canonical_datetime(stored: &str) -> Option<std::borrow::Cow<'_, str>> {
    let bytes = stored.as_bytes();
    if bytes.len() == 28 && bytes[10] == b'T' && stored.ends_with("+0000") {
        return Some(std::borrow::Cow::Borrowed(stored));
    }
    parse_datetime_literal(stored)
        .map(|timestamp| std::borrow::Cow::Owned(format_datetime(timestamp)))
}

/// The units relative literals count in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

/// Which way a relative literal looks from today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// The current unit, shifted by the signed count (`YESTERDAY` = day, -1).
    Single(i64),
    /// `LAST_N_...:n`.
    Last(i64),
    /// `NEXT_N_...:n`.
    Next(i64),
}

/// A relative date literal, resolved into a range once "now" is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RelativeDate {
    unit: Unit,
    direction: Direction,
}

/// Whether `word` names a relative date literal, and whether it takes `:n`.
pub(crate) fn relative_literal_takes_number(word: &str) -> Option<bool> {
    let upper = word.to_ascii_uppercase();
    if FIXED_LITERALS.iter().any(|(name, _, _)| *name == upper) {
        return Some(false);
    }
    if COUNTED_LITERALS.iter().any(|(name, _, _)| *name == upper) {
        return Some(true);
    }
    None
}

const FIXED_LITERALS: &[(&str, Unit, i64)] = &[
    ("YESTERDAY", Unit::Day, -1),
    ("TODAY", Unit::Day, 0),
    ("TOMORROW", Unit::Day, 1),
    ("LAST_WEEK", Unit::Week, -1),
    ("THIS_WEEK", Unit::Week, 0),
    ("NEXT_WEEK", Unit::Week, 1),
    ("LAST_MONTH", Unit::Month, -1),
    ("THIS_MONTH", Unit::Month, 0),
    ("NEXT_MONTH", Unit::Month, 1),
    ("LAST_QUARTER", Unit::Quarter, -1),
    ("THIS_QUARTER", Unit::Quarter, 0),
    ("NEXT_QUARTER", Unit::Quarter, 1),
    ("LAST_YEAR", Unit::Year, -1),
    ("THIS_YEAR", Unit::Year, 0),
    ("NEXT_YEAR", Unit::Year, 1),
    // Two fixed spans that the reference lists by name.
    ("LAST_90_DAYS", Unit::Day, 90),
    ("NEXT_90_DAYS", Unit::Day, 90),
];

/// Name, unit, and 0 = `LAST_N`, 1 = `NEXT_N`, 2 = `N_..._AGO`.
const COUNTED_LITERALS: &[(&str, Unit, u8)] = &[
    ("LAST_N_DAYS", Unit::Day, 0),
    ("NEXT_N_DAYS", Unit::Day, 1),
    ("N_DAYS_AGO", Unit::Day, 2),
    ("LAST_N_WEEKS", Unit::Week, 0),
    ("NEXT_N_WEEKS", Unit::Week, 1),
    ("N_WEEKS_AGO", Unit::Week, 2),
    ("LAST_N_MONTHS", Unit::Month, 0),
    ("NEXT_N_MONTHS", Unit::Month, 1),
    ("N_MONTHS_AGO", Unit::Month, 2),
    ("LAST_N_QUARTERS", Unit::Quarter, 0),
    ("NEXT_N_QUARTERS", Unit::Quarter, 1),
    ("N_QUARTERS_AGO", Unit::Quarter, 2),
    ("LAST_N_YEARS", Unit::Year, 0),
    ("NEXT_N_YEARS", Unit::Year, 1),
    ("N_YEARS_AGO", Unit::Year, 2),
];

impl RelativeDate {
    /// Builds the literal `word` (with `count` for the `:n` forms).
    pub(crate) fn new(word: &str, count: Option<i64>) -> Option<RelativeDate> {
        let upper = word.to_ascii_uppercase();
        if let Some((name, unit, shift)) = FIXED_LITERALS.iter().find(|(name, _, _)| *name == upper)
        {
            let direction = match *name {
                "LAST_90_DAYS" => Direction::Last(*shift),
                "NEXT_90_DAYS" => Direction::Next(*shift),
                _ => Direction::Single(*shift),
            };
            return Some(RelativeDate {
                unit: *unit,
                direction,
            });
        }
        let (_, unit, form) = COUNTED_LITERALS
            .iter()
            .find(|(name, _, _)| *name == upper)?;
        let count = count?;
        let direction = match form {
            0 => Direction::Last(count),
            1 => Direction::Next(count),
            _ => Direction::Single(-count),
        };
        Some(RelativeDate {
            unit: *unit,
            direction,
        })
    }

    /// The half-open range of days `[start, end)` this literal means on `today`.
    pub(crate) fn date_range(self, today: Date) -> Option<(Date, Date)> {
        let start_of_unit = |date: Date| -> Option<Date> {
            Some(match self.unit {
                Unit::Day => date,
                Unit::Week => date
                    .checked_sub(
                        Span::new().days(i64::from(date.weekday().to_sunday_zero_offset())),
                    )
                    .ok()?,
                Unit::Month => date.first_of_month(),
                Unit::Quarter => {
                    let month = (date.month() - 1) / 3 * 3 + 1;
                    Date::new(date.year(), month, 1).ok()?
                }
                Unit::Year => date.first_of_year(),
            })
        };
        let shift = |date: Date, count: i64| -> Option<Date> {
            let span = match self.unit {
                Unit::Day => Span::new().try_days(count).ok()?,
                Unit::Week => Span::new().try_weeks(count).ok()?,
                Unit::Month => Span::new().try_months(count).ok()?,
                Unit::Quarter => Span::new().try_months(count.checked_mul(3)?).ok()?,
                Unit::Year => Span::new().try_years(count).ok()?,
            };
            date.checked_add(span).ok()
        };
        let current = start_of_unit(today)?;
        match self.direction {
            Direction::Single(count) => {
                let start = shift(current, count)?;
                Some((start, shift(start, 1)?))
            }
            Direction::Last(count) => match self.unit {
                // Days include today; whole units end where the current unit starts.
                Unit::Day => Some((shift(current, -count)?, shift(current, 1)?)),
                _ => Some((shift(current, -count)?, current)),
            },
            Direction::Next(count) => {
                let start = shift(current, 1)?;
                Some((start, shift(start, count)?))
            }
        }
    }
}

/// Midnight at the start of `date` in `zone`, as an instant.
pub(crate) fn start_of_day(date: Date, zone: &TimeZone) -> Option<Timestamp> {
    let zoned = date
        .to_datetime(Time::midnight())
        .to_zoned(zone.clone())
        .ok()?;
    Some(zoned.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(word: &str, count: Option<i64>, today: &str) -> (String, String) {
        let today: Date = today.parse().unwrap();
        let (start, end) = RelativeDate::new(word, count)
            .unwrap()
            .date_range(today)
            .unwrap();
        (format_date(start), format_date(end))
    }

    #[test]
    fn relative_literals_cover_the_documented_days() {
        // 2024-05-15 is a Wednesday.
        let cases: &[(&str, Option<i64>, &str, &str)] = &[
            ("TODAY", None, "2024-05-15", "2024-05-16"),
            ("YESTERDAY", None, "2024-05-14", "2024-05-15"),
            ("TOMORROW", None, "2024-05-16", "2024-05-17"),
            ("THIS_WEEK", None, "2024-05-12", "2024-05-19"),
            ("LAST_WEEK", None, "2024-05-05", "2024-05-12"),
            ("NEXT_WEEK", None, "2024-05-19", "2024-05-26"),
            ("THIS_MONTH", None, "2024-05-01", "2024-06-01"),
            ("LAST_MONTH", None, "2024-04-01", "2024-05-01"),
            ("THIS_QUARTER", None, "2024-04-01", "2024-07-01"),
            ("LAST_QUARTER", None, "2024-01-01", "2024-04-01"),
            ("THIS_YEAR", None, "2024-01-01", "2025-01-01"),
            ("LAST_N_DAYS", Some(7), "2024-05-08", "2024-05-16"),
            ("NEXT_N_DAYS", Some(3), "2024-05-16", "2024-05-19"),
            ("N_DAYS_AGO", Some(2), "2024-05-13", "2024-05-14"),
            ("LAST_N_MONTHS", Some(2), "2024-03-01", "2024-05-01"),
            ("NEXT_N_MONTHS", Some(1), "2024-06-01", "2024-07-01"),
            ("LAST_90_DAYS", None, "2024-02-15", "2024-05-16"),
            ("N_YEARS_AGO", Some(1), "2023-01-01", "2024-01-01"),
        ];
        for (word, count, start, end) in cases {
            assert_eq!(
                range(word, *count, "2024-05-15"),
                (start.to_string(), end.to_string()),
                "{word}"
            );
        }
    }

    #[test]
    fn datetime_literals_accept_zulu_and_offsets_and_refuse_bare_times() {
        let zulu = parse_datetime_literal("2024-01-31T09:30:00Z").unwrap();
        let offset = parse_datetime_literal("2024-01-31T18:30:00+09:00").unwrap();
        assert_eq!(zulu, offset);
        assert_eq!(format_datetime(zulu), "2024-01-31T09:30:00.000+0000");
        assert!(parse_datetime_literal("2024-01-31T09:30:00").is_none());
        assert!(parse_datetime_literal("2020-12-12T12:12:00-25:00").is_none());
        assert!(parse_date_literal("2024-02-30").is_none());
    }

    #[test]
    fn stored_datetimes_in_salesforce_form_are_used_as_they_are() {
        assert_eq!(
            canonical_datetime("2024-01-31T09:30:00.000+0000").unwrap(),
            "2024-01-31T09:30:00.000+0000"
        );
        assert_eq!(
            canonical_datetime("2024-01-31T18:30:00+09:00").unwrap(),
            "2024-01-31T09:30:00.000+0000"
        );
    }
}
