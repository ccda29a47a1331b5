//! Table-driven tests of SOQL evaluation against the in-memory test org: every operator,
//! nulls, relationships, relative dates, ordering, paging and the REST shape.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use super::soql::{QueryOptions, next_batch, parse_locator, run_query};
use super::test_org::TestOrg;

struct Fixture {
    org: TestOrg,
    account_acme: String,
    contact_taro: String,
}

const NOW: &str = "2024-05-15T12:00:00Z";

fn fixture() -> Fixture {
    let mut org = TestOrg::new();
    let admin = org.add(
        "User",
        json!({"Name": "Ada Admin", "Username": "ada@example.com", "IsActive": true}),
    );
    let account_acme = org.add(
        "Account",
        json!({"Name": "Acme", "Phone": "03-1234-5678", "NumberOfEmployees": 50, "OwnerId": admin}),
    );
    let account_globex = org.add("Account", json!({"Name": "Globex", "Phone": null}));
    let contact_taro = org.add(
        "Contact",
        json!({"FirstName": "Taro", "LastName": "Yamada", "Name": "Taro Yamada", "Phone": "090-1234-5678",
               "Email": "taro@example.com", "AccountId": account_acme, "Birthdate": "1990-01-31", "Tags__c": "A;B",
               "Score__c": 1.5, "CreatedDate": "2024-05-15T09:00:00.000+0000", "IsDeleted": false, "OwnerId": admin}),
    );
    org.add(
        "Contact",
        json!({"LastName": "O'Brien", "Name": "O'Brien", "Email": null, "AccountId": null, "Tags__c": "B",
               "Score__c": 3, "CreatedDate": "2024-05-14T23:30:00.000+0000", "IsDeleted": false}),
    );
    org.add(
        "Contact",
        json!({"LastName": "100% Pure", "Name": "100% Pure", "AccountId": account_globex,
               "CreatedDate": "2024-04-01T00:00:00.000+0000", "IsDeleted": false}),
    );
    org.add(
        "Contact",
        json!({"LastName": "Deleted", "Name": "Deleted", "CreatedDate": "2023-12-31T00:00:00.000+0000", "IsDeleted": true}),
    );
    let lead = org.add("Lead", json!({"LastName": "Lee", "Name": "Lee", "Company": "Initech", "Phone": "+81 3-1234-5678", "IsConverted": false}));
    org.add("Task", json!({"Subject": "Call Taro", "Status": "Completed", "WhoId": contact_taro, "WhatId": account_acme}));
    org.add(
        "Task",
        json!({"Subject": "Call Lee", "Status": "Open", "WhoId": lead}),
    );
    org.add("Task", json!({"Subject": "Nobody", "Status": "Open"}));
    Fixture {
        org,
        account_acme,
        contact_taro,
    }
}

fn options() -> QueryOptions {
    QueryOptions::new("62.0", NOW.parse::<Timestamp>().unwrap())
}

fn names_with(org: &TestOrg, soql: &str, options: &QueryOptions) -> Vec<String> {
    let outcome = run_query(org, soql, options).unwrap_or_else(|error| panic!("{soql}: {error}"));
    outcome
        .page
        .records
        .iter()
        .map(|record| record["Name"].as_str().unwrap_or("<null>").to_string())
        .collect()
}

fn names(org: &TestOrg, soql: &str) -> Vec<String> {
    names_with(org, soql, &options())
}

#[test]
fn where_clauses_select_the_records_salesforce_would() {
    let fixture = fixture();
    let taro_id15 = &fixture.contact_taro[..15];
    let acme = &fixture.account_acme;
    let cases: Vec<(String, Vec<&str>)> = vec![
        ("Name = 'taro yamada'".into(), vec!["Taro Yamada"]),
        ("Name != 'Taro Yamada'".into(), vec!["O'Brien", "100% Pure"]),
        ("Name <> 'Taro Yamada'".into(), vec!["O'Brien", "100% Pure"]),
        ("Email = null".into(), vec!["O'Brien", "100% Pure"]),
        ("Email != null".into(), vec!["Taro Yamada"]),
        (
            "Email != 'someone@example.com'".into(),
            vec!["Taro Yamada", "O'Brien", "100% Pure"],
        ),
        ("Score__c > 1.5".into(), vec!["O'Brien"]),
        ("Score__c >= 1.5".into(), vec!["Taro Yamada", "O'Brien"]),
        ("Score__c < 3".into(), vec!["Taro Yamada"]),
        ("Score__c <= 3".into(), vec!["Taro Yamada", "O'Brien"]),
        ("Name < 'P'".into(), vec!["O'Brien", "100% Pure"]),
        (r"Name = 'O\'Brien'".into(), vec!["O'Brien"]),
        (r"Name LIKE 'o\'b%'".into(), vec!["O'Brien"]),
        (r"Name LIKE '100\%%'".into(), vec!["100% Pure"]),
        (r"Name LIKE '%\% P%'".into(), vec!["100% Pure"]),
        ("Name LIKE '_aro%'".into(), vec!["Taro Yamada"]),
        ("Name LIKE '%a%'".into(), vec!["Taro Yamada"]),
        (r"Name IN ('o\'brien', 'nobody')".into(), vec!["O'Brien"]),
        (
            r"Name NOT IN ('O\'Brien')".into(),
            vec!["Taro Yamada", "100% Pure"],
        ),
        (
            "Email NOT IN ('taro@example.com')".into(),
            vec!["O'Brien", "100% Pure"],
        ),
        ("Tags__c INCLUDES ('A')".into(), vec!["Taro Yamada"]),
        (
            "Tags__c INCLUDES ('b')".into(),
            vec!["Taro Yamada", "O'Brien"],
        ),
        ("Tags__c INCLUDES ('A;B')".into(), vec!["Taro Yamada"]),
        (
            "Tags__c INCLUDES ('a;c', 'b')".into(),
            vec!["Taro Yamada", "O'Brien"],
        ),
        (
            "Tags__c EXCLUDES ('A')".into(),
            vec!["O'Brien", "100% Pure"],
        ),
        ("Tags__c = 'B;A'".into(), vec!["Taro Yamada"]),
        (
            r"(Name = 'Taro Yamada' OR Name = 'O\'Brien') AND Score__c > 2".into(),
            vec!["O'Brien"],
        ),
        ("NOT Name LIKE 'T%'".into(), vec!["O'Brien", "100% Pure"]),
        (
            "NOT (Score__c > 2 OR Score__c < 2)".into(),
            vec!["100% Pure"],
        ),
        ("Account.Name = 'Acme'".into(), vec!["Taro Yamada"]),
        ("Account.Name = null".into(), vec!["O'Brien"]),
        (
            "Account.Owner.Username = 'ada@example.com'".into(),
            vec!["Taro Yamada"],
        ),
        ("Contact.Name = 'Taro Yamada'".into(), vec!["Taro Yamada"]),
        ("Birthdate = 1990-01-31".into(), vec!["Taro Yamada"]),
        ("Birthdate < 2000-01-01".into(), vec!["Taro Yamada"]),
        ("CreatedDate = TODAY".into(), vec!["Taro Yamada"]),
        ("CreatedDate = YESTERDAY".into(), vec!["O'Brien"]),
        (
            "CreatedDate = LAST_N_DAYS:1".into(),
            vec!["Taro Yamada", "O'Brien"],
        ),
        (
            "CreatedDate = THIS_MONTH".into(),
            vec!["Taro Yamada", "O'Brien"],
        ),
        ("CreatedDate = LAST_MONTH".into(), vec!["100% Pure"]),
        ("CreatedDate < THIS_MONTH".into(), vec!["100% Pure"]),
        ("CreatedDate != TODAY".into(), vec!["O'Brien", "100% Pure"]),
        (
            "CreatedDate > 2024-05-15T00:00:00Z".into(),
            vec!["Taro Yamada"],
        ),
        (
            "CreatedDate > 2024-05-15T08:00:00+09:00".into(),
            vec!["Taro Yamada", "O'Brien"],
        ),
        (
            "CreatedDate >= 2024-05-15T09:00:00.000Z".into(),
            vec!["Taro Yamada"],
        ),
        (format!("Id = '{taro_id15}'"), vec!["Taro Yamada"]),
        (format!("AccountId = '{acme}'"), vec!["Taro Yamada"]),
        (
            format!("AccountId IN ('{acme}', null)"),
            vec!["Taro Yamada", "O'Brien"],
        ),
        (
            "IsDeleted = false".into(),
            vec!["Taro Yamada", "O'Brien", "100% Pure"],
        ),
        ("IsDeleted = true".into(), vec![]),
        (
            "NAME = 'Taro Yamada' AND name LIKE 'taro%'".into(),
            vec!["Taro Yamada"],
        ),
    ];
    for (condition, expected) in cases {
        let soql = format!("SELECT Name FROM Contact WHERE {condition}");
        assert_eq!(names(&fixture.org, &soql), expected, "{soql}");
    }
}

#[test]
fn relative_dates_start_at_midnight_in_the_callers_time_zone() {
    let fixture = fixture();
    let mut tokyo = options();
    tokyo.time_zone = TimeZone::get("Asia/Tokyo").unwrap();
    // 12:00Z is 21:00 in Tokyo: its "today" runs from 2024-05-14T15:00Z.
    assert_eq!(
        names_with(
            &fixture.org,
            "SELECT Name FROM Contact WHERE CreatedDate = TODAY",
            &tokyo
        ),
        vec!["Taro Yamada", "O'Brien"]
    );
}

#[test]
fn query_all_includes_records_in_the_recycle_bin() {
    let fixture = fixture();
    let mut all = options();
    all.include_deleted = true;
    assert_eq!(
        names_with(
            &fixture.org,
            "SELECT Name FROM Contact WHERE IsDeleted = true",
            &all
        ),
        vec!["Deleted"]
    );
}

#[test]
fn order_by_sorts_nulls_first_unless_told_otherwise() {
    let fixture = fixture();
    let cases: &[(&str, &[&str])] = &[
        ("ORDER BY Email", &["O'Brien", "100% Pure", "Taro Yamada"]),
        (
            "ORDER BY Email NULLS LAST",
            &["Taro Yamada", "O'Brien", "100% Pure"],
        ),
        (
            "ORDER BY Score__c DESC",
            &["100% Pure", "O'Brien", "Taro Yamada"],
        ),
        (
            "ORDER BY Score__c DESC NULLS LAST",
            &["O'Brien", "Taro Yamada", "100% Pure"],
        ),
        ("ORDER BY Name", &["100% Pure", "O'Brien", "Taro Yamada"]),
        (
            "ORDER BY Name DESC",
            &["Taro Yamada", "O'Brien", "100% Pure"],
        ),
        (
            "ORDER BY Account.Name DESC NULLS LAST, Name",
            &["100% Pure", "Taro Yamada", "O'Brien"],
        ),
        (
            "ORDER BY CreatedDate ASC",
            &["100% Pure", "O'Brien", "Taro Yamada"],
        ),
        ("ORDER BY Name LIMIT 2", &["100% Pure", "O'Brien"]),
        ("ORDER BY Name LIMIT 1 OFFSET 1", &["O'Brien"]),
        ("ORDER BY Name OFFSET 2", &["Taro Yamada"]),
        ("ORDER BY Name OFFSET 5", &[]),
        ("LIMIT 0", &[]),
    ];
    for (clause, expected) in cases {
        let soql = format!("SELECT Name FROM Contact {clause}");
        assert_eq!(names(&fixture.org, &soql), *expected, "{soql}");
    }
}

#[test]
fn records_render_in_the_rest_shape_with_parents_nested() {
    let fixture = fixture();
    let outcome = run_query(&fixture.org, "SELECT Id, Name, Account.Name, Account.Owner.Username FROM Contact ORDER BY Name DESC LIMIT 2", &options()).unwrap();
    let body = outcome.page.to_json("62.0", None);
    let taro = &fixture.contact_taro;
    let acme = &fixture.account_acme;
    let owner = fixture.org_owner_of(acme);
    assert_eq!(
        body,
        json!({
            "totalSize": 2,
            "done": true,
            "records": [
                {
                    "attributes": {"type": "Contact", "url": format!("/services/data/v62.0/sobjects/Contact/{taro}")},
                    "Id": taro,
                    "Name": "Taro Yamada",
                    "Account": {
                        "attributes": {"type": "Account", "url": format!("/services/data/v62.0/sobjects/Account/{acme}")},
                        "Name": "Acme",
                        "Owner": {
                            "attributes": {"type": "User", "url": format!("/services/data/v62.0/sobjects/User/{owner}")},
                            "Username": "ada@example.com"
                        }
                    }
                },
                {
                    "attributes": {"type": "Contact", "url": format!("/services/data/v62.0/sobjects/Contact/{}", body["records"][1]["Id"].as_str().unwrap())},
                    "Id": body["records"][1]["Id"],
                    "Name": "O'Brien",
                    "Account": null
                }
            ]
        })
    );
}

impl Fixture {
    fn org_owner_of(&self, account: &str) -> String {
        use super::source::QuerySource;
        let (_, record) = self.org.record_by_id(account).unwrap();
        record["OwnerId"].as_str().unwrap().to_string()
    }
}

#[test]
fn polymorphic_relationships_render_the_actual_parent_type() {
    let fixture = fixture();
    let outcome = run_query(
        &fixture.org,
        "SELECT Subject, Who.Name, Who.Type FROM Task",
        &options(),
    )
    .unwrap();
    let records = &outcome.page.records;
    assert_eq!(records[0]["Who"]["attributes"]["type"], "Contact");
    assert_eq!(records[0]["Who"]["Name"], "Taro Yamada");
    assert_eq!(records[0]["Who"]["Type"], "Contact");
    assert_eq!(records[1]["Who"]["attributes"]["type"], "Lead");
    assert_eq!(records[1]["Who"]["Name"], "Lee");
    assert_eq!(records[2]["Who"], Value::Null);
    let filtered = run_query(
        &fixture.org,
        "SELECT Subject FROM Task WHERE Who.Type = 'Lead'",
        &options(),
    )
    .unwrap();
    assert_eq!(filtered.page.records.len(), 1);
    assert_eq!(filtered.page.records[0]["Subject"], "Call Lee");
}

#[test]
fn count_returns_the_total_and_no_records() {
    let fixture = fixture();
    let body = run_query(
        &fixture.org,
        "SELECT COUNT() FROM Contact WHERE Score__c != null",
        &options(),
    )
    .unwrap()
    .page
    .to_json("62.0", None);
    assert_eq!(body, json!({"totalSize": 2, "done": true, "records": []}));
    let aggregate = run_query(
        &fixture.org,
        "SELECT COUNT(Email) total FROM Contact",
        &options(),
    )
    .unwrap()
    .page
    .to_json("62.0", None);
    assert_eq!(
        aggregate,
        json!({"totalSize": 1, "done": true, "records": [{"attributes": {"type": "AggregateResult"}, "total": 1}]})
    );
}

#[test]
fn results_larger_than_a_batch_are_paged_through_the_locator() {
    let mut org = TestOrg::new();
    for index in 0..4500 {
        org.add("Lead", json!({"LastName": format!("Lead {index:04}"), "Name": format!("Lead {index:04}"), "IsConverted": false}));
    }
    let options = options();
    let outcome = run_query(
        &org,
        "SELECT Id, Name FROM Lead ORDER BY Name DESC",
        &options,
    )
    .unwrap();
    let first = outcome.page.to_json("62.0", Some("01gLOCATOR"));
    assert_eq!(first["totalSize"], 4500);
    assert_eq!(first["done"], false);
    assert_eq!(
        first["nextRecordsUrl"],
        "/services/data/v62.0/query/01gLOCATOR-2000"
    );
    assert_eq!(first["records"].as_array().unwrap().len(), 2000);
    let cursor = outcome.cursor.expect("a cursor for the rest");
    let mut seen: Vec<String> = first["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["Name"].as_str().unwrap().to_string())
        .collect();
    let mut url = first["nextRecordsUrl"].as_str().unwrap().to_string();
    loop {
        let locator = url.rsplit('/').next().unwrap();
        let (id, offset) = parse_locator(locator).unwrap();
        assert_eq!(id, "01gLOCATOR");
        let page = next_batch(&org, &cursor, offset, &options).to_json("62.0", Some(id));
        assert_eq!(page["totalSize"], 4500);
        seen.extend(
            page["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|record| record["Name"].as_str().unwrap().to_string()),
        );
        match page["nextRecordsUrl"].as_str() {
            Some(next) => url = next.to_string(),
            None => {
                assert_eq!(page["done"], true);
                break;
            }
        }
    }
    let expected: Vec<String> = (0..4500)
        .rev()
        .map(|index| format!("Lead {index:04}"))
        .collect();
    assert_eq!(seen, expected);
}

#[test]
fn a_smaller_batch_size_pages_sooner_and_a_limit_caps_the_total() {
    let mut org = TestOrg::new();
    for index in 0..30 {
        org.add("Lead", json!({"Name": format!("L{index:02}")}));
    }
    let mut small = options();
    small.batch_size = 10;
    let outcome = run_query(&org, "SELECT Name FROM Lead LIMIT 25", &small).unwrap();
    assert_eq!(outcome.page.total_size, 25);
    assert_eq!(outcome.page.records.len(), 10);
    assert_eq!(outcome.page.next_offset, Some(10));
    let cursor = outcome.cursor.unwrap();
    let last = next_batch(&org, &cursor, 20, &small);
    assert_eq!(last.records.len(), 5);
    assert_eq!(last.next_offset, None);
}

#[test]
fn malformed_locators_are_told_apart() {
    assert_eq!(
        parse_locator("01gD0000002HU6KIAW-2000"),
        Some(("01gD0000002HU6KIAW", 2000))
    );
    assert_eq!(parse_locator("01gD0000002HU6KIAW"), None);
    assert_eq!(parse_locator("-2000"), None);
    assert_eq!(parse_locator("01g-abc"), None);
}

#[test]
fn a_parent_to_child_subquery_nests_each_parents_children_or_null() {
    let fixture = fixture();
    let body = run_query(
        &fixture.org,
        "SELECT Name, (SELECT LastName FROM Account.Contacts ORDER BY LastName) FROM Account ORDER BY Name",
        &options(),
    )
    .unwrap()
    .page
    .to_json("53.0", None);
    let records = body["records"].as_array().unwrap();
    assert_eq!(records[0]["Name"], json!("Acme"));
    assert_eq!(records[0]["Contacts"]["totalSize"], json!(1));
    assert_eq!(records[0]["Contacts"]["done"], json!(true));
    assert_eq!(
        records[0]["Contacts"]["records"][0]["LastName"],
        json!("Yamada")
    );
    let filtered = run_query(
        &fixture.org,
        "SELECT Name, (SELECT LastName FROM Contacts WHERE LastName = 'Nobody') FROM Account",
        &options(),
    )
    .unwrap()
    .page
    .to_json("53.0", None);
    assert!(
        filtered["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|record| record["Contacts"].is_null())
    );
    let (code, message) = refused("SELECT Name, (SELECT Id FROM Widgets) FROM Account");
    assert_eq!(code, "INVALID_TYPE");
    assert!(
        message.contains("Didn't understand relationship 'Widgets' in FROM part of query call")
    );
}

#[test]
fn group_by_counts_each_group_under_its_alias_or_expr() {
    let fixture = fixture();
    let body = run_query(
        &fixture.org,
        "SELECT Status, COUNT(Id), COUNT(WhoId) people FROM Task GROUP BY Status ORDER BY Status",
        &options(),
    )
    .unwrap()
    .page
    .to_json("62.0", None);
    assert_eq!(
        body,
        json!({"totalSize": 2, "done": true, "records": [
            {"attributes": {"type": "AggregateResult"}, "Status": "Completed", "expr0": 1, "people": 1},
            {"attributes": {"type": "AggregateResult"}, "Status": "Open", "expr0": 2, "people": 1}
        ]})
    );
    let (code, message) = refused("SELECT Subject, COUNT(Id) FROM Task GROUP BY Status");
    assert_eq!(code, "MALFORMED_QUERY");
    assert!(message.ends_with("Field must be grouped or aggregated: Subject"));
}

fn refused(soql: &str) -> (String, String) {
    let fixture = fixture();
    let error = run_query(&fixture.org, soql, &options())
        .err()
        .unwrap_or_else(|| panic!("{soql} ran"));
    (error.error_code().to_string(), error.message().to_string())
}

const CUSTOM_FIELD_HINT: &str = "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.";

/// Long statements are echoed 35 characters either side of the error (see `error.rs`), so
/// some expected echoes start after `SELECT`.
#[test]
fn unknown_names_and_wrong_types_are_refused_with_salesforces_messages() {
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "SELECT Nme FROM Contact",
            "INVALID_FIELD",
            format!("\nSELECT Nme FROM Contact\n       ^\nERROR at Row:1:Column:8\nNo such column 'Nme' on entity 'Contact'. {CUSTOM_FIELD_HINT}"),
        ),
        (
            "SELECT Id FROM Contct",
            "INVALID_TYPE",
            "\nSELECT Id FROM Contct\n               ^\nERROR at Row:1:Column:16\nsObject type 'Contct' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.".to_string(),
        ),
        (
            "SELECT Acount.Name FROM Contact",
            "INVALID_FIELD",
            "\nSELECT Acount.Name FROM Contact\n       ^\nERROR at Row:1:Column:8\nDidn't understand relationship 'Acount' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.".to_string(),
        ),
        (
            "SELECT Account.Nme FROM Contact",
            "INVALID_FIELD",
            format!("\nSELECT Account.Nme FROM Contact\n       ^\nERROR at Row:1:Column:8\nNo such column 'Nme' on entity 'Account'. {CUSTOM_FIELD_HINT}"),
        ),
        (
            "SELECT Id FROM Contact WHERE CreatedDate > '2024-01-01'",
            "INVALID_FIELD",
            "\nId FROM Contact WHERE CreatedDate > '2024-01-01'\n                                    ^\nERROR at Row:1:Column:44\nvalue of filter criterion for field 'CreatedDate' must be of type dateTime and should not be enclosed in quotes".to_string(),
        ),
        (
            "SELECT Id FROM Contact WHERE CreatedDate > 2024-01-01",
            "INVALID_FIELD",
            "\nId FROM Contact WHERE CreatedDate > 2024-01-01\n                                    ^\nERROR at Row:1:Column:44\nvalue of filter criterion for field 'CreatedDate' must be of type dateTime and should not be enclosed in quotes".to_string(),
        ),
        (
            "SELECT Id FROM Contact WHERE Name = 5",
            "INVALID_FIELD",
            "\nSELECT Id FROM Contact WHERE Name = 5\n                                    ^\nERROR at Row:1:Column:37\nvalue of filter criterion for field 'Name' must be of type string and should be enclosed in quotes".to_string(),
        ),
        (
            "SELECT Id FROM Contact WHERE Score__c = '5'",
            "INVALID_FIELD",
            "\nSELECT Id FROM Contact WHERE Score__c = '5'\n                                        ^\nERROR at Row:1:Column:41\nvalue of filter criterion for field 'Score__c' must be of type double and should not be enclosed in quotes".to_string(),
        ),
        (
            "SELECT Id FROM Contact WHERE Id = 'abc'",
            "MALFORMED_QUERY",
            "\nSELECT Id FROM Contact WHERE Id = 'abc'\n                                  ^\nERROR at Row:1:Column:35\ninvalid ID field: abc".to_string(),
        ),
        (
            "SELECT Id FROM Contact WHERE Tags__c LIKE 'A%'",
            "MALFORMED_QUERY",
            "\nSELECT Id FROM Contact WHERE Tags__c LIKE 'A%'\n                             ^\nERROR at Row:1:Column:30\ninvalid operator on multipicklist field".to_string(),
        ),
        (
            "SELECT Id FROM Contact WHERE Name INCLUDES ('A')",
            "MALFORMED_QUERY",
            "\nSELECT Id FROM Contact WHERE Name INCLUDES ('A')\n                             ^\nERROR at Row:1:Column:30\nincludes or excludes operator only valid on multipicklist field".to_string(),
        ),
        (
            "SELECT Id FROM Contact WHERE CreatedDate > 2020-52-12T12:12:00-05:00",
            "MALFORMED_QUERY",
            "\nId FROM Contact WHERE CreatedDate > 2020-52-12T12:12:00-05:00\n                                    ^\nERROR at Row:1:Column:44\nInvalid datetime: 2020-52-12T12:12:00-05:00".to_string(),
        ),
        (
            "SELECT Id, Name, Id FROM Contact",
            "MALFORMED_QUERY",
            "\nSELECT Id, Name, Id FROM Contact\n                 ^\nERROR at Row:1:Column:18\nduplicate field selected: Id".to_string(),
        ),
        (
            "SELECT Name, COUNT() FROM Contact",
            "MALFORMED_QUERY",
            "\nSELECT Name, COUNT() FROM Contact\n             ^\nERROR at Row:1:Column:14\nField must be grouped or aggregated: Name".to_string(),
        ),
    ];
    for (soql, code, message) in cases {
        assert_eq!(refused(soql), (code.to_string(), message), "{soql}");
    }
}

/// Not a timed assertion (the machine is shared): run with `--ignored --nocapture` in release
/// mode to see the figure.
#[test]
#[ignore = "measurement, run by hand"]
fn scanning_a_million_records_with_a_simple_filter_is_quick() {
    let mut org = TestOrg::new();
    for index in 0..1_000_000u32 {
        org.add("Lead", json!({"Name": format!("Lead {index}"), "Phone": format!("03-{:04}-{:04}", index / 10_000, index % 10_000), "IsConverted": index % 2 == 0}));
    }
    let started = std::time::Instant::now();
    let outcome = run_query(
        &org,
        "SELECT Id, Name FROM Lead WHERE Phone = '03-0042-0042' AND IsConverted = true",
        &options(),
    )
    .unwrap();
    let filtered = started.elapsed();
    let started = std::time::Instant::now();
    let counted = run_query(
        &org,
        "SELECT COUNT() FROM Lead WHERE Name LIKE 'Lead 9%'",
        &options(),
    )
    .unwrap();
    let liked = started.elapsed();
    println!(
        "equality scan: {filtered:?} ({} rows); LIKE count: {liked:?} ({} rows)",
        outcome.page.total_size, counted.page.total_size
    );
}
