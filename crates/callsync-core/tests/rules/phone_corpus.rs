//! R3.6 phone corpus: messy spellings of JP, US and GB numbers and the key each must give.

use callsync_core::phone::{PhoneKey, PhoneNumber, PhoneRegion, explain};

/// (input, default region, expected E.164, expected extension).
const VALID: &[(&str, &str, &str, Option<&str>)] = &[
    // JP fixed line: the five spellings of R3.6.
    ("03-1234-5678", "JP", "+81312345678", None),
    ("0312345678", "JP", "+81312345678", None),
    ("(03) 1234 5678", "JP", "+81312345678", None),
    ("+81 3-1234-5678", "JP", "+81312345678", None),
    ("+81312345678", "JP", "+81312345678", None),
    // Other separators and prefixes.
    ("03 1234 5678", "JP", "+81312345678", None),
    ("03.1234.5678", "JP", "+81312345678", None),
    ("03(1234)5678", "JP", "+81312345678", None),
    ("+81-3-1234-5678", "JP", "+81312345678", None),
    ("+81 (0)3-1234-5678", "JP", "+81312345678", None),
    ("81312345678", "JP", "+81312345678", None),
    ("tel:+81-3-1234-5678", "JP", "+81312345678", None),
    // Full-width digits and Japanese dash variants.
    ("０３－１２３４－５６７８", "JP", "+81312345678", None),
    ("（０３）１２３４－５６７８", "JP", "+81312345678", None),
    ("＋８１　３－１２３４－５６７８", "JP", "+81312345678", None),
    ("03ー1234ー5678", "JP", "+81312345678", None),
    ("03‐1234‐5678", "JP", "+81312345678", None),
    ("03―1234―5678", "JP", "+81312345678", None),
    ("03ｰ1234ｰ5678", "JP", "+81312345678", None),
    ("03−1234−5678", "JP", "+81312345678", None),
    ("03–1234–5678", "JP", "+81312345678", None),
    // Labels and the main-line mark.
    ("TEL:03-1234-5678", "JP", "+81312345678", None),
    ("TEL：０３－１２３４－５６７８", "JP", "+81312345678", None),
    ("Tel. 03-1234-5678", "JP", "+81312345678", None),
    ("電話:03-1234-5678", "JP", "+81312345678", None),
    ("電話番号：03-1234-5678", "JP", "+81312345678", None),
    ("03-1234-5678(代)", "JP", "+81312345678", None),
    ("03-1234-5678（代）", "JP", "+81312345678", None),
    ("03-1234-5678（代表）", "JP", "+81312345678", None),
    ("03-1234-5678㈹", "JP", "+81312345678", None),
    // Extensions.
    ("03-1234-5678 ext. 12", "JP", "+81312345678", Some("12")),
    ("03-1234-5678 内線12", "JP", "+81312345678", Some("12")),
    ("03-1234-5678 内線 12", "JP", "+81312345678", Some("12")),
    ("03-1234-5678（内線１２）", "JP", "+81312345678", Some("12")),
    ("03-1234-5678（内線：12）", "JP", "+81312345678", Some("12")),
    ("03-1234-5678 内線番号 12", "JP", "+81312345678", Some("12")),
    ("03-1234-5678 #12", "JP", "+81312345678", Some("12")),
    (
        "tel:+81-3-1234-5678;ext=12",
        "JP",
        "+81312345678",
        Some("12"),
    ),
    // The trunk 0 kept after the country code, and the international prefix from Japan.
    ("+81 03-1234-5678", "JP", "+81312345678", None),
    ("+81(0)90-1234-5678", "JP", "+819012345678", None),
    ("010-81-3-1234-5678", "JP", "+81312345678", None),
    ("81-3-1234-5678", "JP", "+81312345678", None),
    (
        "ＴＥＬ　０３－１２３４－５６７８",
        "JP",
        "+81312345678",
        None,
    ),
    ("電話 03 1234 5678", "JP", "+81312345678", None),
    ("050-1234-5678", "JP", "+815012345678", None),
    ("0570-123-456", "JP", "+81570123456", None),
    // JP mobile and toll free.
    ("090-1234-5678", "JP", "+819012345678", None),
    ("０９０ー１２３４ー５６７８", "JP", "+819012345678", None),
    ("+81 90-1234-5678", "JP", "+819012345678", None),
    ("0120-123-456", "JP", "+81120123456", None),
    // US.
    ("(650) 253-0000", "US", "+16502530000", None),
    ("650-253-0000", "US", "+16502530000", None),
    ("650.253.0000", "US", "+16502530000", None),
    ("6502530000", "US", "+16502530000", None),
    ("1-650-253-0000", "US", "+16502530000", None),
    ("+1 650-253-0000", "US", "+16502530000", None),
    ("+1 (650) 253-0000", "JP", "+16502530000", None),
    ("６５０－２５３－００００", "US", "+16502530000", None),
    ("650ー253ー0000", "US", "+16502530000", None),
    ("(650) 253-0000 ext. 12", "US", "+16502530000", Some("12")),
    ("650 253 0000 x12", "US", "+16502530000", Some("12")),
    ("TEL: 650-253-0000", "US", "+16502530000", None),
    // GB.
    ("020 7183 8750", "GB", "+442071838750", None),
    ("02071838750", "GB", "+442071838750", None),
    ("(020) 7183 8750", "GB", "+442071838750", None),
    ("020-7183-8750", "GB", "+442071838750", None),
    ("+44 20 7183 8750", "GB", "+442071838750", None),
    ("+44 (0)20 7183 8750", "GB", "+442071838750", None),
    ("+44 20 7183 8750", "JP", "+442071838750", None),
    ("０２０　７１８３　８７５０", "GB", "+442071838750", None),
    ("020‐7183‐8750", "GB", "+442071838750", None),
    ("07400 123456", "GB", "+447400123456", None),
    ("020 7183 8750 ext. 12", "GB", "+442071838750", Some("12")),
];

/// (input, default region, expected digits-only key): not valid numbers, matched only
/// digit for digit.
const NOT_VALID: &[(&str, &str, &str)] = &[
    ("1234", "JP", "1234"),
    ("03-1234-567", "JP", "031234567"),
    ("０３－１２３４－５６７", "JP", "031234567"),
    ("(650) 253-000", "US", "650253000"),
    ("+81 0000", "JP", "810000"),
    ("999", "JP", "999"),
    // Two numbers in one field are not one valid number: only the same text matches.
    ("03-1234-5678/03-1234-5679", "JP", "03123456780312345679"),
];

#[test]
fn r3_6_every_valid_spelling_gives_its_e164() {
    let mut failures = Vec::new();
    for (input, region, e164, extension) in VALID {
        let number = PhoneNumber::parse(input, PhoneRegion::parse(region).unwrap()).unwrap();
        if number.key() != &PhoneKey::E164((*e164).to_owned()) || number.extension() != *extension {
            failures.push(format!(
                "{input} ({region}): {:?} ext {:?}, expected {e164} ext {extension:?}",
                number.key(),
                number.extension()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn r3_6_strings_that_are_not_valid_numbers_keep_a_digits_only_key() {
    let mut failures = Vec::new();
    for (input, region, digits) in NOT_VALID {
        let number = PhoneNumber::parse(input, PhoneRegion::parse(region).unwrap()).unwrap();
        if number.key() != &PhoneKey::Digits((*digits).to_owned()) {
            failures.push(format!(
                "{input} ({region}): {:?}, expected digits {digits}",
                number.key()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn r3_6_search_variants_of_each_valid_number_all_read_back_as_the_same_number() {
    for (input, region, e164, _) in VALID {
        let region = PhoneRegion::parse(region).unwrap();
        let number = PhoneNumber::parse(input, region).unwrap();
        for variant in number.search_variants() {
            let again = PhoneNumber::parse(&variant, region).unwrap();
            assert_eq!(again.e164(), Some(*e164), "{input}: variant {variant}");
        }
    }
}

#[test]
fn r3_6_explain_reports_type_and_extension() {
    let explanation = explain("０９０ー１２３４ー５６７８", PhoneRegion::JAPAN);
    assert_eq!(
        explanation.tab_separated(),
        "０９０ー１２３４ー５６７８\t+819012345678\ttrue\tmobile\t"
    );
    let unknown = explain("abc", PhoneRegion::JAPAN);
    assert_eq!(unknown.tab_separated(), "abc\t\tfalse\t\t");
}

#[test]
fn r3_6_search_variants_cover_the_usual_spellings_in_each_region() {
    let variants = |input: &str, region: &str| {
        PhoneNumber::parse(input, PhoneRegion::parse(region).unwrap())
            .unwrap()
            .search_variants()
    };
    let japan = variants("０３－１２３４－５６７８", "JP");
    for spelling in [
        "0312345678",
        "03-1234-5678",
        "+81312345678",
        "+81 3-1234-5678",
        "(03) 1234 5678",
        "03(1234)5678",
        "03 1234 5678",
    ] {
        assert!(
            japan.contains(&spelling.to_owned()),
            "{spelling} missing from {japan:?}"
        );
    }
    let us = variants("+1 650-253-0000", "US");
    for spelling in [
        "(650) 253-0000",
        "650-253-0000",
        "6502530000",
        "+16502530000",
        "+1 650-253-0000",
        "650.253.0000",
    ] {
        assert!(
            us.contains(&spelling.to_owned()),
            "{spelling} missing from {us:?}"
        );
    }
    let britain = variants("+44 20 7183 8750", "GB");
    for spelling in [
        "020 7183 8750",
        "02071838750",
        "+442071838750",
        "+44 20 7183 8750",
    ] {
        assert!(
            britain.contains(&spelling.to_owned()),
            "{spelling} missing from {britain:?}"
        );
    }
    eprintln!("{japan:?}\n{us:?}\n{britain:?}");
}
