//! Tests of SOSL: term syntax, scopes, phone matching through the whole search, RETURNING
//! clauses, the index lag and Salesforce's errors.

use jiff::Timestamp;
use serde_json::json;

use super::soql::QueryOptions;
use super::sosl::run_search;
use super::test_org::TestOrg;

fn options() -> QueryOptions {
    QueryOptions::new("62.0", "2024-05-15T12:00:00Z".parse::<Timestamp>().unwrap())
}

fn org() -> TestOrg {
    let mut org = TestOrg::new();
    org.add("Account", json!({"Name": "Acme", "Phone": "03-1234-5678"}));
    org.add("Account", json!({"Name": "Tokyo Trading", "Phone": "(03) 9999 0000", "PersonMobilePhone": "０９０－１１１１－２２２２"}));
    org.add(
        "Contact",
        json!({"FirstName": "Taro", "LastName": "Yamada", "Name": "Taro Yamada", "Phone": "090-1234-5678", "MobilePhone": "+81 90-5555-6666",
               "Email": "taro@example.com", "Score__c": 1.5}),
    );
    org.add("Contact", json!({"LastName": "O'Brien", "Name": "O'Brien", "Phone": "+1 (415) 555-1212", "Score__c": 3}));
    org.add(
        "Contact",
        json!({"LastName": "山田", "Name": "山田 花子", "Phone": "06 1234 5678"}),
    );
    org.add(
        "Lead",
        json!({"LastName": "Lee", "Name": "Lee", "Company": "Initech", "Phone": "+81 3-1234-5678"}),
    );
    org
}

fn found(org: &TestOrg, sosl: &str) -> Vec<String> {
    let answer =
        run_search(org, sosl, &options()).unwrap_or_else(|error| panic!("{sosl}: {error}"));
    answer
        .search_records
        .iter()
        .map(|record| {
            format!(
                "{}:{}",
                record["attributes"]["type"].as_str().unwrap(),
                record["Name"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

const EVERYWHERE: &str = "RETURNING Account(Name), Contact(Name), Lead(Name)";

#[test]
fn phone_searches_find_numbers_by_their_digits() {
    let org = org();
    let cases: &[(&str, &[&str])] = &[
        ("090-1234-5678", &["Contact:Taro Yamada"]),
        ("09012345678", &["Contact:Taro Yamada"]),
        (r"\(03\) 1234\-5678", &["Account:Acme"]),
        ("0312345678", &["Account:Acme"]),
        ("312345678", &["Account:Acme", "Lead:Lee"]),
        ("+81312345678", &["Lead:Lee"]),
        ("9055556666", &["Contact:Taro Yamada"]),
        ("09055556666", &[]),
        ("4155551212", &["Contact:O'Brien"]),
        ("5551212", &["Contact:O'Brien"]),
        ("09011112222", &["Account:Tokyo Trading"]),
        ("0399990000", &["Account:Tokyo Trading"]),
        (
            "0312345678 OR 0612345678",
            &["Account:Acme", "Contact:山田 花子"],
        ),
        ("0312*", &["Account:Acme"]),
        (
            "1234",
            &[
                "Account:Acme",
                "Contact:Taro Yamada",
                "Contact:山田 花子",
                "Lead:Lee",
            ],
        ),
        ("Yamada", &[]),
    ];
    for (term, expected) in cases {
        let sosl = format!("FIND {{{term}}} IN PHONE FIELDS {EVERYWHERE}");
        assert_eq!(found(&org, &sosl), *expected, "{sosl}");
    }
}

#[test]
fn text_searches_match_whole_words_wildcards_phrases_and_operators() {
    let org = org();
    let cases: &[(&str, &[&str])] = &[
        ("FIND {Yamada} IN NAME FIELDS", &["Contact:Taro Yamada"]),
        ("FIND {yamada}", &["Contact:Taro Yamada"]),
        ("FIND {Yama}", &[]),
        ("FIND {Yama*}", &["Contact:Taro Yamada"]),
        ("FIND {T?ro}", &["Contact:Taro Yamada"]),
        ("FIND {\"Taro Yamada\"}", &["Contact:Taro Yamada"]),
        ("FIND {\"Yamada Taro\"}", &[]),
        ("FIND {Taro Yamada}", &["Contact:Taro Yamada"]),
        ("FIND {Taro AND Lee}", &[]),
        ("FIND {Taro OR Lee}", &["Contact:Taro Yamada", "Lead:Lee"]),
        ("FIND {(Taro OR Lee) AND NOT Yamada}", &["Lead:Lee"]),
        (r"FIND {O\'Brien}", &["Contact:O'Brien"]),
        ("FIND {山田}", &["Contact:山田 花子"]),
        (
            "FIND {taro@example.com} IN EMAIL FIELDS",
            &["Contact:Taro Yamada"],
        ),
        ("FIND {Initech} IN NAME FIELDS", &["Lead:Lee"]),
        ("FIND {Initech} IN EMAIL FIELDS", &[]),
        ("FIND {415-555-1212}", &["Contact:O'Brien"]),
    ];
    for (find, expected) in cases {
        let sosl = format!("{find} {EVERYWHERE}");
        assert_eq!(found(&org, &sosl), *expected, "{sosl}");
    }
}

#[test]
fn returning_clauses_filter_order_and_limit_each_object() {
    let org = org();
    let cases: &[(&str, &[&str])] = &[
        (
            "FIND {Taro OR 山田} RETURNING Contact(Name)",
            &["Contact:Taro Yamada", "Contact:山田 花子"],
        ),
        (
            "FIND {Taro OR 山田} RETURNING Contact(Name ORDER BY Name DESC)",
            &["Contact:山田 花子", "Contact:Taro Yamada"],
        ),
        (
            "FIND {Taro OR 山田} RETURNING Contact(Name WHERE Score__c > 1)",
            &["Contact:Taro Yamada"],
        ),
        (
            "FIND {Taro OR 山田} RETURNING Contact(Name LIMIT 1)",
            &["Contact:Taro Yamada"],
        ),
        (
            "FIND {Taro OR 山田} RETURNING Contact(Name LIMIT 1 OFFSET 1)",
            &["Contact:山田 花子"],
        ),
        (
            "FIND {Acme OR Tokyo OR Taro OR 山田} RETURNING Account(Name), Contact(Name) LIMIT 3",
            &[
                "Account:Acme",
                "Account:Tokyo Trading",
                "Contact:Taro Yamada",
            ],
        ),
        (
            "find {Lee} in name fields returning lead(name)",
            &["Lead:Lee"],
        ),
    ];
    for (sosl, expected) in cases {
        assert_eq!(found(&org, sosl), *expected, "{sosl}");
    }
}

#[test]
fn search_records_come_in_the_rest_shape() {
    let org = org();
    let answer = run_search(
        &org,
        "FIND {Initech} RETURNING Lead(Id, Name, Phone), Contact",
        &options(),
    )
    .unwrap();
    let body = answer.to_json();
    let id = body["searchRecords"][0]["Id"].as_str().unwrap().to_string();
    assert_eq!(
        body,
        json!({"searchRecords": [{
            "attributes": {"type": "Lead", "url": format!("/services/data/v62.0/sobjects/Lead/{id}")},
            "Id": id, "Name": "Lee", "Phone": "+81 3-1234-5678"
        }]})
    );
    let ids_only = run_search(&org, "FIND {Yamada} RETURNING Contact", &options())
        .unwrap()
        .to_json();
    let record = ids_only["searchRecords"][0].as_object().unwrap();
    assert_eq!(record.keys().collect::<Vec<_>>(), vec!["Id", "attributes"]);
}

#[test]
fn a_search_without_returning_looks_in_every_object() {
    let org = org();
    let answer = run_search(&org, "FIND {Lee}", &options()).unwrap();
    assert_eq!(answer.search_records.len(), 1);
    assert_eq!(answer.search_records[0]["attributes"]["type"], "Lead");
}

#[test]
fn records_the_index_has_not_caught_up_with_are_not_found() {
    let mut org = org();
    let fresh = org.add(
        "Contact",
        json!({"LastName": "Fresh", "Name": "Fresh Record", "Phone": "011-222-3333"}),
    );
    assert_eq!(
        found(
            &org,
            "FIND {0112223333} IN PHONE FIELDS RETURNING Contact(Name)"
        ),
        vec!["Contact:Fresh Record"]
    );
    org.unsearchable.push(fresh);
    assert!(
        found(
            &org,
            "FIND {0112223333} IN PHONE FIELDS RETURNING Contact(Name)"
        )
        .is_empty()
    );
}

#[test]
fn bad_searches_are_refused_with_salesforces_codes() {
    let org = org();
    let cases: &[(&str, &str, &str)] = &[
        (
            "FIND {a} RETURNING Contact",
            "INVALID_SEARCH",
            "search term must be longer than one character: a",
        ),
        (
            "FIND {*} RETURNING Contact",
            "INVALID_SEARCH",
            "search term must be longer than one character: *",
        ),
        (
            "FIND Yamada RETURNING Contact",
            "MALFORMED_SEARCH",
            "No search term found. The search term must be enclosed in braces.",
        ),
        (
            "FIND {Yamada RETURNING Contact",
            "MALFORMED_SEARCH",
            "No search term found. The search term must be enclosed in braces.",
        ),
        (
            "FIND {Yamada} RETURNIN Contact",
            "MALFORMED_SEARCH",
            "\nFIND {Yamada} RETURNIN Contact\n              ^\nERROR at Row:1:Column:15\nunexpected token: 'RETURNIN'",
        ),
        (
            "FIND {Yamada} IN FAX FIELDS",
            "MALFORMED_SEARCH",
            "\nFIND {Yamada} IN FAX FIELDS\n                 ^\nERROR at Row:1:Column:18\nunexpected token: 'FAX'",
        ),
        (
            "FIND {Yamada} RETURNING Contct(Name)",
            "INVALID_TYPE",
            "\nFIND {Yamada} RETURNING Contct(Name)\n                        ^\nERROR at Row:1:Column:25\nsObject type 'Contct' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
        ),
        (
            "FIND {Yamada} RETURNING Contact(Nme)",
            "INVALID_FIELD",
            "\nFIND {Yamada} RETURNING Contact(Nme)\n                                ^\nERROR at Row:1:Column:33\nNo such column 'Nme' on entity 'Contact'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
        ),
        (
            "FIND {(Yamada} RETURNING Contact",
            "MALFORMED_SEARCH",
            "Invalid search query: (Yamada",
        ),
    ];
    for (sosl, code, message) in cases {
        let error = run_search(&org, sosl, &options())
            .err()
            .unwrap_or_else(|| panic!("{sosl} ran"));
        assert_eq!(
            (error.error_code(), error.message()),
            (*code, *message),
            "{sosl}"
        );
    }
}
