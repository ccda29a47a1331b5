//! The client end to end against `sf-sandbox` run in-process: every operation,
//! token expiry and refresh, faults, paging over more than one batch, and
//! hostile strings through the quoting helpers.

use futures_util::TryStreamExt as _;
use salesforce::{
    Auth, Client, ClientConfig, ErrorKind, FieldNames, Like, SearchTerm, Upserted, soql, sosl,
};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use sf_sandbox::{Sandbox, SandboxConfig};

/// The sandbox's fault injection, in one place: each helper scripts the
/// fault for the next API request (`sf_sandbox::faults::Faults::push_script`,
/// as drafted in the sandbox's working tree when this was written).
mod faults {
    use sf_sandbox::Sandbox;
    use sf_sandbox::faults::Fault;

    fn next(sandbox: &Sandbox, fault: Fault) {
        sandbox.faults().push_script([Some(fault)]);
    }

    /// The next write answers `400 UNABLE_TO_LOCK_ROW`.
    pub async fn lock_next_write(sandbox: &Sandbox) {
        next(sandbox, Fault::UnableToLockRow);
    }

    /// The next request answers 503.
    pub async fn unavailable_next(sandbox: &Sandbox) {
        next(sandbox, Fault::ServiceUnavailable);
    }

    /// The next write commits, then the connection is dropped without an answer.
    pub async fn drop_after_commit_next(sandbox: &Sandbox) {
        next(sandbox, Fault::DropAfterCommit);
    }

    /// The next request finds the daily API budget used up.
    pub async fn exhaust_daily_limit(sandbox: &Sandbox) {
        next(sandbox, Fault::RequestLimitExceeded);
    }

    /// The caller's session expires at the next request.
    pub async fn expire_all_tokens(sandbox: &Sandbox) {
        next(sandbox, Fault::ExpireSession);
    }
}

/// The sandbox listens on the loopback interface, which a client reaches only when asked.
fn loopback(mut config: ClientConfig) -> ClientConfig {
    config.host_policy = salesforce::HostPolicy::SalesforceOrLoopback;
    config
}

async fn start() -> (Sandbox, Client) {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let credentials = sandbox.credentials();
    let client = Client::new(loopback(ClientConfig::new(
        sandbox.url(),
        Auth::JwtBearer {
            consumer_key: credentials.client_id.clone(),
            private_key_pem: SecretString::from(credentials.private_key_pem.clone()),
            audience: None,
        },
    )))
    .unwrap()
    .for_user(&credentials.username);
    (sandbox, client)
}

#[derive(Debug, Deserialize)]
struct IdRow {
    #[serde(rename = "Id")]
    id: String,
}

#[tokio::test]
async fn a_task_is_created_read_updated_and_deleted() {
    let (_sandbox, client) = start().await;

    let id = client
        .create(
            "Task",
            &json!({"Subject": "Call", "CallObject": "call-1", "Status": "Completed"}),
        )
        .await
        .unwrap();
    client
        .update("Task", &id, &json!({"Description": "memo"}))
        .await
        .unwrap();
    let task: Value = client
        .get("Task", &id, &["Subject", "Description", "CallObject"])
        .await
        .unwrap();
    assert_eq!(task["Description"], "memo");
    assert_eq!(task["CallObject"], "call-1");

    client.delete("Task", &id).await.unwrap();
    let error = client.get::<Value>("Task", &id, &["Id"]).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Permanent);
    assert_eq!(client.api_usage().map(|u| u.used > 0), Some(true));
}

#[tokio::test]
async fn tasks_are_written_as_the_user_whose_token_wrote_them() {
    let (sandbox, client) = start().await;
    let admin = sandbox.credentials().username.clone();

    let id = client
        .create("Task", &json!({"Subject": "Call"}))
        .await
        .unwrap();
    #[derive(Deserialize)]
    struct Owner {
        #[serde(rename = "CreatedById")]
        created_by: String,
    }
    let task: Owner = client.get("Task", &id, &["CreatedById"]).await.unwrap();
    let users: Vec<IdRow> = client
        .query_all_rows(&soql!("SELECT Id FROM User WHERE Username = {}", admin).unwrap())
        .await
        .unwrap();
    assert_eq!(task.created_by, users[0].id);
}

#[tokio::test]
async fn a_query_pages_over_more_than_one_batch() {
    let (_sandbox, client) = start().await;
    // Salesforce's default batch is 2,000 rows: 2,101 contacts need two pages.
    let contacts: Vec<Value> = (0..2101)
        .map(|n| json!({"LastName": format!("Paging {n}"), "Phone": format!("+8131234{n:04}")}))
        .collect();
    let results = client
        .create_many("Contact", &contacts, false)
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok));

    let q = soql!(
        "SELECT Id FROM Contact WHERE LastName LIKE {}",
        Like::StartsWith("Paging ")
    )
    .unwrap();
    let rows: Vec<IdRow> = client.query(&q).try_collect().await.unwrap();
    assert_eq!(rows.len(), 2101);
}

#[tokio::test]
async fn hostile_strings_are_found_as_themselves_and_change_nothing_else() {
    let (_sandbox, client) = start().await;
    let hostile = [
        "O'Brien",
        "\\' OR LastName != '",
        "50%_off",
        "quote\" and \\ backslash",
        "line\nbreak",
        "} RETURNING User(Id",
    ];
    for name in hostile {
        client
            .create("Contact", &json!({"LastName": name}))
            .await
            .unwrap();
    }
    client
        .create("Contact", &json!({"LastName": "Bystander"}))
        .await
        .unwrap();

    for name in hostile {
        let rows: Vec<IdRow> = client
            .query_all_rows(&soql!("SELECT Id FROM Contact WHERE LastName = {}", name).unwrap())
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{name:?}");
    }
    let like: Vec<IdRow> = client
        .query_all_rows(
            &soql!(
                "SELECT Id FROM Contact WHERE LastName LIKE {}",
                Like::Contains("%_")
            )
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(like.len(), 1, "only 50%_off contains a literal %_");
    let found: Vec<Value> = client
        .search(
            &sosl!(
                "FIND {} IN ALL FIELDS RETURNING Contact(Id)",
                SearchTerm("} RETURNING User(Id")
            )
            .unwrap(),
        )
        .await
        .unwrap();
    assert!(found.iter().all(|r| r["attributes"]["type"] == "Contact"));
}

#[tokio::test]
async fn the_contact_lookup_and_the_phone_search_find_a_contact() {
    let (_sandbox, client) = start().await;
    let account = client
        .create("Account", &json!({"Name": "Acme"}))
        .await
        .unwrap();
    client
        .create(
            "Contact",
            &json!({"LastName": "Tanaka", "Phone": "+81312345678", "AccountId": account}),
        )
        .await
        .unwrap();
    let phones = vec!["+81312345678".to_owned()];
    let fields = [
        "Id",
        "Phone",
        "MobilePhone",
        "AccountId",
        "Account.Name",
        "OwnerId",
        "LastModifiedDate",
    ];

    let rows: Vec<Value> = client
        .query_all_rows(
            &soql!(
                "SELECT {} FROM Contact WHERE Phone IN {} OR MobilePhone IN {}",
                FieldNames(&fields),
                phones,
                phones
            )
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(rows[0]["Account"]["Name"], "Acme");

    let found: Vec<Value> = client
        .search(
            &sosl!("FIND {} IN PHONE FIELDS RETURNING Contact(Id, Phone), Lead(Id WHERE IsConverted = {})", SearchTerm("+81312345678"), false)
                .unwrap(),
        )
        .await
        .unwrap();
    // The sandbox's search index may lag writes (as Salesforce's does); with
    // the default configuration it does not.
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn upsert_collections_composite_describe_limits_and_versions_work() {
    let (_sandbox, client) = start().await;

    let latest = client.discover_latest_version().await.unwrap();
    assert!(!latest.is_empty());
    let describe = client.describe("Task").await.unwrap();
    assert!(describe.field("CallObject").is_some());
    assert!(
        client
            .limits()
            .await
            .unwrap()
            .contains_key("DailyApiRequests")
    );

    let first = client
        .upsert(
            "Account",
            "Ext_Id__c",
            "ext-1",
            &json!({"Name": "Upserted"}),
        )
        .await;
    if let Ok(first) = first {
        // Only when the sandbox's default schema has the external-id field.
        assert!(matches!(first, Upserted::Created { .. }));
        let second = client
            .upsert(
                "Account",
                "Ext_Id__c",
                "ext-1",
                &json!({"Name": "Upserted again"}),
            )
            .await
            .unwrap();
        assert!(matches!(second, Upserted::Updated { .. }));
    }

    let ids: Vec<String> = client
        .create_many(
            "Task",
            &[json!({"Subject": "a"}), json!({"Subject": "b"})],
            true,
        )
        .await
        .unwrap()
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    let updates: Vec<Value> = ids
        .iter()
        .map(|id| json!({"Id": id, "Subject": "changed"}))
        .collect();
    assert!(
        client
            .update_many("Task", &updates, false)
            .await
            .unwrap()
            .iter()
            .all(Result::is_ok)
    );

    let answers = client
        .composite(
            true,
            &[
                salesforce::CompositeSubrequest {
                    method: "POST".to_owned(),
                    url: client.data_path("sobjects/Account"),
                    reference_id: "account".to_owned(),
                    body: Some(json!({"Name": "Composite"})),
                },
                salesforce::CompositeSubrequest {
                    method: "POST".to_owned(),
                    url: client.data_path("sobjects/Contact"),
                    reference_id: "contact".to_owned(),
                    body: Some(json!({"LastName": "Composite", "AccountId": "@{account.id}"})),
                },
            ],
        )
        .await
        .unwrap();
    for answer in answers {
        answer.into_result::<Value>().unwrap();
    }

    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(5);
    let end = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(1);
    assert!(
        !client
            .updated("Task", start, end)
            .await
            .unwrap()
            .ids
            .is_empty()
    );
    client.delete("Task", &ids[0]).await.unwrap();
    assert!(
        !client
            .deleted("Task", start, end)
            .await
            .unwrap()
            .deleted_records
            .is_empty()
    );
}

#[tokio::test]
async fn an_expired_token_is_replaced_once_and_the_request_succeeds() {
    let (sandbox, client) = start().await;
    client
        .create("Task", &json!({"Subject": "before"}))
        .await
        .unwrap();

    faults::expire_all_tokens(&sandbox).await;

    client
        .create("Task", &json!({"Subject": "after"}))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_locked_row_and_a_503_are_retried_later() {
    let (sandbox, client) = start().await;
    let id = client
        .create("Task", &json!({"Subject": "Call"}))
        .await
        .unwrap();

    faults::lock_next_write(&sandbox).await;
    let locked = client
        .update("Task", &id, &json!({"Description": "x"}))
        .await
        .unwrap_err();
    assert_eq!(locked.code(), Some("UNABLE_TO_LOCK_ROW"));
    assert!(matches!(locked.kind(), ErrorKind::RetryLater { .. }));

    faults::unavailable_next(&sandbox).await;
    let unavailable = client
        .update("Task", &id, &json!({"Description": "x"}))
        .await
        .unwrap_err();
    assert!(matches!(unavailable.kind(), ErrorKind::RetryLater { .. }));

    client
        .update("Task", &id, &json!({"Description": "x"}))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_connection_dropped_after_commit_is_outcome_unknown_and_the_task_exists() {
    let (sandbox, client) = start().await;

    faults::drop_after_commit_next(&sandbox).await;
    let error = client
        .create(
            "Task",
            &json!({"Subject": "Call", "CallObject": "call-dropped"}),
        )
        .await
        .unwrap_err();

    assert_eq!(error.kind(), ErrorKind::OutcomeUnknown);
    let existing: Vec<IdRow> = client
        .query_all_rows(
            &soql!("SELECT Id FROM Task WHERE CallObject = {}", "call-dropped").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        existing.len(),
        1,
        "the write committed although no answer came"
    );
}

#[tokio::test]
async fn an_exhausted_daily_limit_is_reported_as_such() {
    let (sandbox, client) = start().await;

    faults::exhaust_daily_limit(&sandbox).await;
    let error = client
        .create("Task", &json!({"Subject": "Call"}))
        .await
        .unwrap_err();

    assert_eq!(error.code(), Some("REQUEST_LIMIT_EXCEEDED"));
    assert_eq!(error.kind(), ErrorKind::DailyLimitExhausted);
}

#[tokio::test]
async fn the_password_refresh_and_client_credentials_flows_get_tokens() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let credentials = sandbox.credentials();
    let password = Client::new(loopback(ClientConfig::new(
        sandbox.url(),
        Auth::Password {
            client_id: credentials.client_id.clone(),
            client_secret: SecretString::from(credentials.client_secret.clone()),
            username: credentials.username.clone(),
            password: SecretString::from(format!(
                "{}{}",
                credentials.password, credentials.security_token
            )),
        },
    )))
    .unwrap();
    let client_credentials = Client::new(loopback(ClientConfig::new(
        sandbox.url(),
        Auth::ClientCredentials {
            client_id: credentials.client_id.clone(),
            client_secret: SecretString::from(credentials.client_secret.clone()),
        },
    )))
    .unwrap();

    for client in [password, client_credentials] {
        client.limits().await.unwrap();
    }
}
