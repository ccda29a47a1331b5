//! The client against a local stub that answers with recorded Salesforce
//! responses: success shapes, every error shape, `Sforce-Limit-Info`, paging,
//! token refresh, dropped connections and timeouts.
//!
//! The fixtures restate facts of real Salesforce answers (status, body shape,
//! headers); each says where the fact was recorded. "nodejs mappings" means
//! the WireMock recordings in forcedotcom/sf-fx-runtime-nodejs, `mappings/`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use futures_util::TryStreamExt as _;
use salesforce::{
    Auth, Client, ClientConfig, CompositeSubrequest, ErrorKind, FieldNames, RecordAttributes,
    SearchTerm, Upserted, soql, sosl,
};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

// ---------------------------------------------------------------------------
// The stub server
// ---------------------------------------------------------------------------

/// One request the stub received.
#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: String,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn form(&self) -> HashMap<String, String> {
        url_decode_pairs(&self.body)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// What the stub answers.
struct Reply {
    status: u16,
    body: String,
    headers: Vec<(&'static str, String)>,
    delay: Option<Duration>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: body.to_string(),
            headers: vec![("Content-Type", "application/json;charset=UTF-8".to_owned())],
            delay: None,
        }
    }

    fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            body: body.to_owned(),
            headers: vec![("Content-Type", "text/html".to_owned())],
            delay: None,
        }
    }

    fn empty(status: u16) -> Self {
        Self {
            status,
            body: String::new(),
            headers: Vec::new(),
            delay: None,
        }
    }

    fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn after(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

type Responder = dyn Fn(&Recorded) -> Reply + Send + Sync;

#[derive(Clone)]
struct StubState {
    responder: Arc<Responder>,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

struct Stub {
    url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Stub {
    /// Serves `responder` on a free port; every request is recorded.
    async fn start(responder: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = StubState {
            responder: Arc::new(responder),
            requests: Arc::clone(&requests),
        };
        let app = axum::Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, requests }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// The requests that were not for a token.
    fn api_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path != "/services/oauth2/token")
            .collect()
    }

    fn token_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == "/services/oauth2/token")
            .collect()
    }

    /// A client with a fixed token (no token endpoint involved).
    fn client_with_token(&self) -> Client {
        Client::new(config(&self.url, access_token_auth(&self.url))).unwrap()
    }

    /// A client that gets its tokens from the stub with the refresh-token flow.
    fn client_with_refresh_token(&self) -> Client {
        Client::new(config(
            &self.url,
            Auth::RefreshToken {
                client_id: "app-key".to_owned(),
                client_secret: Some(SecretString::from("consumer-secret-value")),
                refresh_token: SecretString::from("refresh-token-value"),
            },
        ))
        .unwrap()
    }
}

async fn handle(
    State(state): State<StubState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let recorded = Recorded {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(url_decode_pairs).unwrap_or_default(),
        headers,
        body,
    };
    state.requests.lock().unwrap().push(recorded.clone());
    let reply = (state.responder)(&recorded);
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(reply.body)).unwrap()
}

fn url_decode_pairs(encoded: &str) -> HashMap<String, String> {
    reqwest::Url::parse(&format!("http://x/?{encoded}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn config(url: &str, auth: Auth) -> ClientConfig {
    let mut config = ClientConfig::new(url, auth);
    config.timeout = Duration::from_secs(5);
    // The stub listens on the loopback interface.
    config.host_policy = salesforce::HostPolicy::SalesforceOrLoopback;
    config
}

fn access_token_auth(url: &str) -> Auth {
    Auth::AccessToken {
        instance_url: url.to_owned(),
        token: SecretString::from("EXAMPLE-TOKEN"),
    }
}

/// The token endpoint's success answer, as simple-salesforce's tests record it
/// (`TOKEN_LOGIN_RESPONSE_SUCCESS`): access_token, scope, instance_url, id, token_type.
fn token_reply(url: &str, access_token: &str) -> Reply {
    Reply::json(
        200,
        json!({
            "access_token": access_token,
            "scope": "web api",
            "instance_url": url,
            "id": format!("{url}/id/00Di0000000icUB/0DFi00000008UYO"),
            "token_type": "Bearer"
        }),
    )
}

fn bearer(request: &Recorded) -> &str {
    request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
}

/// `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`
/// with status 401: nodejs mappings, create-invalid-token.json.
fn invalid_session() -> Reply {
    Reply::json(
        401,
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
    )
    .with_header("WWW-Authenticate", "Token")
}

#[derive(Debug, Deserialize)]
struct NameRow {
    #[serde(rename = "Name")]
    name: String,
}

// ---------------------------------------------------------------------------
// Success shapes and headers
// ---------------------------------------------------------------------------

#[tokio::test]
async fn create_returns_the_new_id_and_sends_the_identifying_headers() {
    // nodejs mappings, create.json: 201, {"id":…,"success":true,"errors":[]},
    // Sforce-Limit-Info: api-usage=51/100000, Location header.
    let stub = Stub::start(|_| {
        Reply::json(
            201,
            json!({"id": "a00B000000FSkcvIAD", "success": true, "errors": []}),
        )
        .with_header("Sforce-Limit-Info", "api-usage=51/100000")
        .with_header(
            "Location",
            "/services/data/v62.0/sobjects/Task/a00B000000FSkcvIAD",
        )
    })
    .await;
    let client = stub.client_with_token();
    assert_eq!(client.api_usage(), None);

    let id = client
        .create("Task", &json!({"Subject": "Call", "CallObject": "call-1"}))
        .await
        .unwrap();

    assert_eq!(id, "a00B000000FSkcvIAD");
    let usage = client.api_usage().unwrap();
    assert_eq!((usage.used, usage.max), (51, 100_000));
    let request = &stub.requests()[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/services/data/v62.0/sobjects/Task");
    assert_eq!(bearer(request), "EXAMPLE-TOKEN");
    assert_eq!(
        request.header("sforce-call-options"),
        Some("client=callsync")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("sforce-auto-assign"), None);
    assert_eq!(
        request.json(),
        json!({"Subject": "Call", "CallObject": "call-1"})
    );
}

#[tokio::test]
async fn update_and_delete_accept_an_empty_204() {
    // nodejs mappings, update.json and delete.json: 204 with no body.
    let stub =
        Stub::start(|_| Reply::empty(204).with_header("Sforce-Limit-Info", "api-usage=68/100000"))
            .await;
    let client = stub.client_with_token();

    client
        .update(
            "Task",
            "00T000000000001AAA",
            &json!({"Description": "memo"}),
        )
        .await
        .unwrap();
    client.delete("Task", "00T000000000001AAA").await.unwrap();

    let requests = stub.requests();
    assert_eq!(requests[0].method, Method::PATCH);
    assert_eq!(
        requests[0].path,
        "/services/data/v62.0/sobjects/Task/00T000000000001AAA"
    );
    assert_eq!(requests[1].method, Method::DELETE);
    assert_eq!(client.api_usage().unwrap().used, 68);
}

#[tokio::test]
async fn get_asks_for_the_chosen_fields_and_reads_the_record() {
    let stub = Stub::start(|_| {
        Reply::json(
            200,
            json!({
                "attributes": {"type": "Task", "url": "/services/data/v62.0/sobjects/Task/00T000000000001AAA"},
                "Id": "00T000000000001AAA",
                "CallObject": "call-1"
            }),
        )
    })
    .await;
    let client = stub.client_with_token();

    #[derive(Deserialize)]
    struct Task {
        attributes: RecordAttributes,
        #[serde(rename = "CallObject")]
        call_object: String,
    }
    let task: Task = client
        .get("Task", "00T000000000001AAA", &["Id", "CallObject"])
        .await
        .unwrap();

    assert_eq!(task.attributes.object_type, "Task");
    assert_eq!(task.call_object, "call-1");
    assert_eq!(stub.requests()[0].query["fields"], "Id,CallObject");
}

#[tokio::test]
async fn hostile_names_and_ids_are_refused_before_anything_is_sent() {
    let stub = Stub::start(|_| Reply::empty(204)).await;
    let client = stub.client_with_token();

    let bad_object = client.create("Task/../User", &json!({})).await.unwrap_err();
    let bad_id = client
        .delete("Task", "00T000000000001AAA/x")
        .await
        .unwrap_err();
    let bad_field = client
        .get::<Value>("Task", "00T000000000001AAA", &["Id FROM User"])
        .await
        .unwrap_err();

    for error in [bad_object, bad_id, bad_field] {
        assert_eq!(error.kind(), ErrorKind::Permanent);
    }
    assert!(stub.requests().is_empty());
}

#[tokio::test]
async fn upsert_tells_created_from_updated_and_encodes_the_external_id() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let stub = Stub::start(move |_| match counter.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::json(
            201,
            json!({"id": "003000000000001AAA", "success": true, "errors": [], "created": true}),
        ),
        _ => Reply::json(
            200,
            json!({"id": "003000000000001AAA", "success": true, "errors": [], "created": false}),
        ),
    })
    .await;
    let client = stub.client_with_token();

    let first = client
        .upsert(
            "Contact",
            "Ext_Id__c",
            "a/b c?d",
            &json!({"LastName": "Tanaka"}),
        )
        .await
        .unwrap();
    let second = client
        .upsert(
            "Contact",
            "Ext_Id__c",
            "a/b c?d",
            &json!({"LastName": "Tanaka"}),
        )
        .await
        .unwrap();

    assert_eq!(
        first,
        Upserted::Created {
            id: "003000000000001AAA".to_owned()
        }
    );
    assert_eq!(
        second,
        Upserted::Updated {
            id: Some("003000000000001AAA".to_owned())
        }
    );
    // The value is one path segment: its slash and question mark are encoded.
    assert_eq!(
        stub.requests()[0].path,
        "/services/data/v62.0/sobjects/Contact/Ext_Id__c/a%2Fb%20c%3Fd"
    );
}

#[tokio::test]
async fn with_auto_assign_false_sends_the_header() {
    let stub = Stub::start(|_| {
        Reply::json(
            201,
            json!({"id": "00Q000000000001AAA", "success": true, "errors": []}),
        )
    })
    .await;
    let client = stub.client_with_token().with_auto_assign(false);

    client
        .create("Lead", &json!({"LastName": "Sato", "Company": "Acme"}))
        .await
        .unwrap();

    assert_eq!(
        stub.requests()[0].header("sforce-auto-assign"),
        Some("FALSE")
    );
}

// ---------------------------------------------------------------------------
// Query, search, describe, limits, versions, composite, collections
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_query_streams_every_row_across_batches() {
    // nodejs mappings, query-with-next-records-url.json and -2.json:
    // {"totalSize":10000,"done":false,"nextRecordsUrl":"/services/data/v51.0/query/01gB000003OCxSPIA1-2000","records":[…]}
    // and the next page is fetched by GET on that path.
    let stub = Stub::start(|request| {
        let page = |done: bool, next: Option<&str>, names: &[&str]| {
            let records: Vec<Value> = names
                .iter()
                .map(|name| json!({"attributes": {"type": "Account", "url": "/services/data/v62.0/sobjects/Account/001B000001LntWlIAJ"}, "Name": name}))
                .collect();
            let mut body = json!({"totalSize": 5, "done": done, "records": records});
            if let Some(next) = next {
                body["nextRecordsUrl"] = json!(next);
            }
            Reply::json(200, body).with_header("Sforce-Limit-Info", "api-usage=86/100000")
        };
        match request.path.as_str() {
            "/services/data/v62.0/query" => page(false, Some("/services/data/v62.0/query/01gB000003OCxSPIA1-2"), &["A", "B"]),
            "/services/data/v62.0/query/01gB000003OCxSPIA1-2" => page(false, Some("/services/data/v62.0/query/01gB000003OCxSPIA1-4"), &["C", "D"]),
            "/services/data/v62.0/query/01gB000003OCxSPIA1-4" => page(true, None, &["E"]),
            other => panic!("unexpected path {other}"),
        }
    })
    .await;
    let client = stub.client_with_token();
    let q = soql!("SELECT Name FROM Account WHERE Name != {}", "O'Reilly").unwrap();

    let rows: Vec<NameRow> = client.query_all_rows(&q).await.unwrap();

    let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["A", "B", "C", "D", "E"]);
    let requests = stub.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(
        requests[0].query["q"],
        r"SELECT Name FROM Account WHERE Name != 'O\'Reilly'"
    );
}

#[tokio::test]
async fn a_query_stream_stops_at_the_first_failing_batch() {
    let stub = Stub::start(|request| match request.path.as_str() {
        "/services/data/v62.0/query" => Reply::json(
            200,
            json!({"totalSize": 4, "done": false, "nextRecordsUrl": "/services/data/v62.0/query/01g-2", "records": [{"Name": "A"}, {"Name": "B"}]}),
        ),
        _ => Reply::text(503, "<html><body>Service Unavailable</body></html>"),
    })
    .await;
    let client = stub.client_with_token();
    let q = soql!("SELECT Name FROM Account").unwrap();

    let mut rows = std::pin::pin!(client.query::<NameRow>(&q));
    assert_eq!(rows.try_next().await.unwrap().unwrap().name, "A");
    assert_eq!(rows.try_next().await.unwrap().unwrap().name, "B");
    let error = rows.try_next().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RetryLater { after: None });
}

#[tokio::test]
async fn query_all_uses_the_query_all_resource() {
    let stub =
        Stub::start(|_| Reply::json(200, json!({"totalSize": 0, "done": true, "records": []})))
            .await;
    let client = stub.client_with_token();

    let rows: Vec<Value> = client
        .query_all(&soql!("SELECT Id FROM Task WHERE IsDeleted = {}", true).unwrap())
        .try_collect()
        .await
        .unwrap();

    assert!(rows.is_empty());
    assert_eq!(stub.requests()[0].path, "/services/data/v62.0/queryAll");
}

#[tokio::test]
async fn the_contact_lookup_query_reads_relationship_fields() {
    // Relationship fields come back nested, with their own attributes:
    // nodejs mappings, query-with-associated-data.json ("Owner":{"attributes":…,"Name":"Guy Smiley"}).
    let stub = Stub::start(|_| {
        Reply::json(
            200,
            json!({"totalSize": 2, "done": true, "records": [
                {"attributes": {"type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/003000000000001AAA"},
                 "Id": "003000000000001AAA", "Phone": "+81312345678", "MobilePhone": null, "AccountId": "001000000000001AAA",
                 "Account": {"attributes": {"type": "Account", "url": "/services/data/v62.0/sobjects/Account/001000000000001AAA"}, "Name": "Acme"},
                 "OwnerId": "005000000000001AAA", "LastModifiedDate": "2024-05-01T09:30:00.000+0000"},
                {"attributes": {"type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/003000000000002AAA"},
                 "Id": "003000000000002AAA", "Phone": null, "MobilePhone": "+81312345678", "AccountId": null,
                 "Account": null, "OwnerId": "005000000000001AAA", "LastModifiedDate": "2024-05-02T09:30:00.000+0000"}
            ]}),
        )
    })
    .await;
    let client = stub.client_with_token();

    #[derive(Deserialize)]
    struct AccountRef {
        #[serde(rename = "Name")]
        name: String,
    }
    #[derive(Deserialize)]
    #[allow(dead_code)] // Every column is read to prove the row type fits the answer.
    struct ContactRow {
        #[serde(rename = "Id")]
        id: String,
        #[serde(rename = "Phone")]
        phone: Option<String>,
        #[serde(rename = "MobilePhone")]
        mobile_phone: Option<String>,
        #[serde(rename = "Account")]
        account: Option<AccountRef>,
        #[serde(rename = "LastModifiedDate")]
        last_modified: String,
    }
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
    let q = soql!(
        "SELECT {} FROM Contact WHERE Phone IN {} OR MobilePhone IN {}",
        FieldNames(&fields),
        phones,
        phones
    )
    .unwrap();

    let rows: Vec<ContactRow> = client.query_all_rows(&q).await.unwrap();

    assert_eq!(rows[0].account.as_ref().unwrap().name, "Acme");
    assert!(rows[1].account.is_none());
    assert_eq!(
        stub.requests()[0].query["q"],
        "SELECT Id, Phone, MobilePhone, AccountId, Account.Name, OwnerId, LastModifiedDate FROM Contact WHERE Phone IN ('+81312345678') OR MobilePhone IN ('+81312345678')"
    );
}

#[tokio::test]
async fn search_returns_the_search_records_with_their_types() {
    // {"searchRecords":[{"attributes":{"type":…,"url":…},"Id":…}]}: simple-salesforce's test_search fixture shape.
    let stub = Stub::start(|_| {
        Reply::json(
            200,
            json!({"searchRecords": [
                {"attributes": {"type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/003000000000001AAA"}, "Id": "003000000000001AAA"},
                {"attributes": {"type": "Lead", "url": "/services/data/v62.0/sobjects/Lead/00Q000000000001AAA"}, "Id": "00Q000000000001AAA"}
            ]}),
        )
    })
    .await;
    let client = stub.client_with_token();

    #[derive(Deserialize)]
    struct Found {
        attributes: RecordAttributes,
        #[serde(rename = "Id")]
        id: String,
    }
    let s = sosl!(
        "FIND {} IN PHONE FIELDS RETURNING Contact(Id), Lead(Id WHERE IsConverted = {})",
        SearchTerm("03-1234-5678"),
        false
    )
    .unwrap();
    let found: Vec<Found> = client.search(&s).await.unwrap();

    assert_eq!(found[1].attributes.object_type, "Lead");
    assert_eq!(found[0].id, "003000000000001AAA");
    let request = &stub.requests()[0];
    assert_eq!(request.path, "/services/data/v62.0/search");
    assert_eq!(
        request.query["q"],
        r#"FIND {"03\-1234\-5678"} IN PHONE FIELDS RETURNING Contact(Id), Lead(Id WHERE IsConverted = false)"#
    );
}

#[tokio::test]
async fn describe_is_fetched_once_per_user_and_object() {
    let stub = Stub::start(|_| {
        Reply::json(
            200,
            json!({
                "name": "Task", "label": "Task", "createable": true, "updateable": true, "queryable": true,
                "fields": [
                    {"name": "Status", "label": "Status", "type": "picklist", "length": 40, "createable": true, "updateable": true,
                     "nillable": false, "custom": false, "referenceTo": [],
                     "picklistValues": [{"active": true, "defaultValue": true, "label": "Completed", "validFor": null, "value": "Completed"}]},
                    {"name": "CallObject", "label": "Call Object Identifier", "type": "string", "length": 255,
                     "createable": true, "updateable": true, "nillable": true, "custom": false, "picklistValues": [], "referenceTo": []}
                ]
            }),
        )
    })
    .await;
    let client = stub.client_with_token();

    let first = client.describe("Task").await.unwrap();
    let second = client.describe("task").await.unwrap();

    assert_eq!(stub.requests().len(), 1);
    assert_eq!(
        stub.requests()[0].path,
        "/services/data/v62.0/sobjects/Task/describe"
    );
    assert_eq!(first.field("callobject").unwrap().length, 255);
    assert_eq!(
        second.field("Status").unwrap().picklist_values[0].value,
        "Completed"
    );
}

#[tokio::test]
async fn versions_limits_updated_and_deleted_are_read() {
    let stub = Stub::start(|request| match request.path.as_str() {
        // GET /services/data/: [{"label","url","version"}].
        "/services/data/" => Reply::json(
            200,
            json!([
                {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"},
                {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"},
                {"label": "Spring '25", "url": "/services/data/v63.0", "version": "63.0"}
            ]),
        ),
        // Limit names and {Max, Remaining}: simple-salesforce's ORGANIZATION_LIMITS_RESPONSE.
        "/services/data/v63.0/limits/" => Reply::json(
            200,
            json!({"DailyApiRequests": {"Max": 15000, "Remaining": 14998, "Ant Migration Tool": {"Max": 0, "Remaining": 0}},
                   "ConcurrentSyncReportRuns": {"Max": 20, "Remaining": 20}}),
        ),
        "/services/data/v63.0/sobjects/Contact/updated/" => Reply::json(
            200,
            json!({"ids": ["003000000000001AAA"], "latestDateCovered": "2024-05-01T10:00:00.000+0000"}),
        ),
        "/services/data/v63.0/sobjects/Contact/deleted/" => Reply::json(
            200,
            json!({"deletedRecords": [{"id": "003000000000002AAA", "deletedDate": "2024-05-01T09:45:00.000+0000"}],
                   "earliestDateAvailable": "2024-04-01T00:00:00.000+0000", "latestDateCovered": "2024-05-01T10:00:00.000+0000"}),
        ),
        other => panic!("unexpected path {other}"),
    })
    .await;
    let client = stub.client_with_token();

    assert_eq!(client.discover_latest_version().await.unwrap(), "63.0");
    assert_eq!(client.api_version(), "63.0");
    let limits = client.limits().await.unwrap();
    assert_eq!(limits["DailyApiRequests"].remaining, 14998);
    let start: jiff::Timestamp = "2024-05-01T09:00:00Z".parse().unwrap();
    let end: jiff::Timestamp = "2024-05-01T10:00:00Z".parse().unwrap();
    let updated = client.updated("Contact", start, end).await.unwrap();
    assert_eq!(updated.ids, ["003000000000001AAA"]);
    let deleted = client.deleted("Contact", start, end).await.unwrap();
    assert_eq!(deleted.deleted_records[0].id, "003000000000002AAA");
    let updated_request = &stub.requests()[2];
    assert_eq!(updated_request.query["start"], "2024-05-01T09:00:00+00:00");
}

#[tokio::test]
async fn composite_returns_each_subresponse_and_its_error() {
    // compositeResponse entries {body, httpHeaders, httpStatusCode, referenceId}, and a
    // failed one carrying a REST error array: nodejs mappings, composite-graph-single-create-error.json.
    let stub = Stub::start(|_| {
        Reply::json(
            200,
            json!({"compositeResponse": [
                {"body": {"id": "00T000000000001AAA", "success": true, "errors": []}, "httpHeaders": {"Location": "/services/data/v62.0/sobjects/Task/00T000000000001AAA"}, "httpStatusCode": 201, "referenceId": "task"},
                {"body": [{"message": "Status: bad value for restricted picklist field: Nope", "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "fields": ["Status"]}], "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "other"}
            ]}),
        )
    })
    .await;
    let client = stub.client_with_token();
    let subrequests = vec![
        CompositeSubrequest {
            method: "POST".to_owned(),
            url: client.data_path("sobjects/Task"),
            reference_id: "task".to_owned(),
            body: Some(json!({"Subject": "Call"})),
        },
        CompositeSubrequest {
            method: "POST".to_owned(),
            url: client.data_path("sobjects/Task"),
            reference_id: "other".to_owned(),
            body: Some(json!({"Status": "Nope"})),
        },
    ];

    let mut answers = client
        .composite(false, &subrequests)
        .await
        .unwrap()
        .into_iter();

    let created: Value = answers.next().unwrap().into_result().unwrap();
    assert_eq!(created["id"], "00T000000000001AAA");
    let error = answers.next().unwrap().into_result::<Value>().unwrap_err();
    assert_eq!(
        error.code(),
        Some("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    );
    assert_eq!(error.api_errors()[0].fields, ["Status"]);
    let sent = stub.requests()[0].json();
    assert_eq!(
        sent["compositeRequest"][0]["url"],
        "/services/data/v62.0/sobjects/Task"
    );
    assert_eq!(sent["compositeRequest"][0]["referenceId"], "task");
}

#[tokio::test]
async fn create_many_sends_chunks_of_200_and_gives_one_result_per_record() {
    // Collections answer a 200 with one SaveResult per record, failures as
    // {"success":false,"errors":[{"statusCode","message","fields"}]} (Salesforce
    // REST API guide, "Create Records Using sObject Collections").
    let stub = Stub::start(|request| {
        let records = request.json()["records"].as_array().unwrap().clone();
        let results: Vec<Value> = records
            .iter()
            .map(|record| {
                let n = record["Subject"].as_str().unwrap();
                if n == "task 201" {
                    json!({"success": false, "errors": [{"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Subject may not say 201", "fields": ["Subject"]}]})
                } else {
                    json!({"id": "00T000000000001AAA", "success": true, "errors": []})
                }
            })
            .collect();
        Reply::json(200, json!(results))
    })
    .await;
    let client = stub.client_with_token();
    let records: Vec<Value> = (0..450)
        .map(|n| json!({"Subject": format!("task {n}")}))
        .collect();

    let results = client.create_many("Task", &records, false).await.unwrap();

    assert_eq!(results.len(), 450);
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    let failure = results[201].as_ref().unwrap_err();
    assert_eq!(failure.code(), Some("FIELD_CUSTOM_VALIDATION_EXCEPTION"));
    assert_eq!(failure.kind(), ErrorKind::Permanent);
    let sizes: Vec<usize> = stub
        .requests()
        .iter()
        .map(|r| r.json()["records"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [200, 200, 50]);
    let first = &stub.requests()[0];
    assert_eq!(first.path, "/services/data/v62.0/composite/sobjects");
    assert_eq!(first.json()["records"][0]["attributes"]["type"], "Task");
    assert_eq!(first.json()["allOrNone"], false);
}

#[tokio::test]
async fn a_failed_chunk_gives_its_error_to_each_of_its_records_and_later_chunks_still_go() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let stub = Stub::start(move |request| {
        let count = request.json()["records"].as_array().unwrap().len();
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::json(
                400,
                json!([{"message": "unable to obtain exclusive access to this record or 1 records: 00T000000000001AAA", "errorCode": "UNABLE_TO_LOCK_ROW", "fields": []}]),
            )
        } else {
            Reply::json(200, json!(vec![json!({"id": "00T000000000001AAA", "success": true, "errors": []}); count]))
        }
    })
    .await;
    let client = stub.client_with_token();
    let records: Vec<Value> = (0..250)
        .map(|n| json!({"Id": "00T000000000001AAA", "Subject": format!("{n}")}))
        .collect();

    let results = client.update_many("Task", &records, true).await.unwrap();

    assert!(
        results[..200]
            .iter()
            .all(|r| r.as_ref().unwrap_err().code() == Some("UNABLE_TO_LOCK_ROW"))
    );
    assert!(results[200..].iter().all(Result::is_ok));
    assert_eq!(stub.requests()[0].method, Method::PATCH);
}

#[tokio::test]
async fn upsert_many_patches_the_external_id_resource_and_says_which_records_were_created() {
    // UpsertResults as the REST API guide's "Upsert Records Using sObject Collections"
    // shows them: each with `created`, a failure with `errors` of `statusCode`.
    let stub = Stub::start(|request| {
        let records = request.json()["records"].as_array().unwrap().clone();
        let results: Vec<Value> = records
            .iter()
            .map(|record| match record["Call_Key__c"].as_str().unwrap() {
                "c1" => json!({"id": "00T000000000001AAA", "success": true, "errors": [], "created": true}),
                "c2" => json!({"id": "00T000000000002AAA", "success": true, "errors": [], "created": false}),
                _ => json!({"success": false, "errors": [{"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "no", "fields": []}]}),
            })
            .collect();
        Reply::json(200, json!(results))
    })
    .await;
    let client = stub.client_with_token();
    let records = [
        json!({"Call_Key__c": "c1", "Subject": "a"}),
        json!({"Call_Key__c": "c2", "Subject": "b"}),
        json!({"Call_Key__c": "c3", "Subject": "c"}),
    ];

    let results = client
        .upsert_many("Task", "Call_Key__c", &records, false)
        .await
        .unwrap();

    assert_eq!(
        results[0].as_ref().unwrap(),
        &salesforce::Upserted::Created {
            id: "00T000000000001AAA".into()
        }
    );
    assert_eq!(
        results[1].as_ref().unwrap(),
        &salesforce::Upserted::Updated {
            id: Some("00T000000000002AAA".into())
        }
    );
    assert_eq!(
        results[2].as_ref().unwrap_err().code(),
        Some("FIELD_CUSTOM_VALIDATION_EXCEPTION")
    );
    let sent = &stub.requests()[0];
    assert_eq!(sent.method, Method::PATCH);
    assert_eq!(
        sent.path,
        "/services/data/v62.0/composite/sobjects/Task/Call_Key__c"
    );
    assert_eq!(sent.json()["records"][2]["attributes"]["type"], "Task");
    assert!(
        client
            .upsert_many(
                "Task",
                "Call_Key__c",
                &[json!({"Subject": "no key"})],
                false
            )
            .await
            .is_err(),
        "a record without its external id is refused before sending"
    );
}

#[tokio::test]
async fn update_many_refuses_records_without_an_id() {
    let stub = Stub::start(|_| Reply::empty(500)).await;
    let client = stub.client_with_token();

    let error = client
        .update_many("Task", &[json!({"Subject": "no id"})], false)
        .await
        .unwrap_err();

    assert_eq!(error.kind(), ErrorKind::Permanent);
    assert!(stub.requests().is_empty());
}

// ---------------------------------------------------------------------------
// Error shapes over HTTP
// ---------------------------------------------------------------------------

#[tokio::test]
async fn every_error_shape_is_classified() {
    struct Case {
        reply: fn() -> Reply,
        code: &'static str,
        kind: ErrorKind,
    }
    let cases = [
        // nodejs mappings, create-invalid-field.json.
        Case {
            reply: || {
                Reply::json(
                    400,
                    json!([{"message": "No such column 'FavoritePet__c' on sobject of type Account", "errorCode": "INVALID_FIELD"}]),
                )
            },
            code: "INVALID_FIELD",
            kind: ErrorKind::Permanent,
        },
        // nodejs mappings, query-malformed-soql.json.
        Case {
            reply: || {
                Reply::json(
                    400,
                    json!([{"message": "unexpected token: SELEKT", "errorCode": "MALFORMED_QUERY"}]),
                )
            },
            code: "MALFORMED_QUERY",
            kind: ErrorKind::Permanent,
        },
        // nodejs mappings, delete-already-deleted.json.
        Case {
            reply: || {
                Reply::json(
                    404,
                    json!([{"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": []}]),
                )
            },
            code: "ENTITY_IS_DELETED",
            kind: ErrorKind::Permanent,
        },
        // nodejs mappings, create-unknown-object.json.
        Case {
            reply: || {
                Reply::json(
                    404,
                    json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]),
                )
            },
            code: "NOT_FOUND",
            kind: ErrorKind::Permanent,
        },
        Case {
            reply: || {
                Reply::json(
                    400,
                    json!([{"message": "unable to obtain exclusive access to this record or 1 records: 00T000000000001AAA", "errorCode": "UNABLE_TO_LOCK_ROW", "fields": []}]),
                )
            },
            code: "UNABLE_TO_LOCK_ROW",
            kind: ErrorKind::RetryLater { after: None },
        },
        Case {
            reply: || {
                Reply::json(
                    403,
                    json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]),
                )
            },
            code: "REQUEST_LIMIT_EXCEEDED",
            kind: ErrorKind::DailyLimitExhausted,
        },
        Case {
            reply: || {
                Reply::json(
                    403,
                    json!([{"message": "ConcurrentPerOrgLongTxn Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]),
                )
            },
            code: "REQUEST_LIMIT_EXCEEDED",
            kind: ErrorKind::RetryLater { after: None },
        },
        Case {
            reply: || {
                Reply::json(503, json!([{"message": "Server is unavailable", "errorCode": "SERVER_UNAVAILABLE"}])).with_header("Retry-After", "7")
            },
            code: "SERVER_UNAVAILABLE",
            kind: ErrorKind::RetryLater {
                after: Some(Duration::from_secs(7)),
            },
        },
        Case {
            reply: || {
                Reply::text(
                    502,
                    "<html><head><title>502 Bad Gateway</title></head></html>",
                )
            },
            code: "HTTP_502",
            kind: ErrorKind::RetryLater { after: None },
        },
        Case {
            reply: || {
                Reply::json(
                    400,
                    json!([{"duplicateResult": {"allowSave": false, "duplicateRule": "Standard_Lead_Duplicate_Rule", "matchResults": [{"entityType": "Lead", "matchRecords": [{"matchConfidence": 100.0, "record": {"attributes": {"type": "Lead"}, "Id": "00Q000000000001AAA"}}], "rule": "Standard_Lead_Match_Rule_v1_0"}]}, "errorCode": "DUPLICATES_DETECTED", "message": "Use one of these records?"}]),
                )
            },
            code: "DUPLICATES_DETECTED",
            kind: ErrorKind::Permanent,
        },
    ];
    for case in cases {
        let reply = case.reply;
        let stub =
            Stub::start(move |_| reply().with_header("Sforce-Limit-Info", "api-usage=99/100"))
                .await;
        let client = stub.client_with_token();

        let error = client
            .create("Lead", &json!({"LastName": "x"}))
            .await
            .unwrap_err();

        assert_eq!(error.code(), Some(case.code), "{error}");
        assert_eq!(error.kind(), case.kind, "{error}");
        assert_eq!(
            client.api_usage().unwrap().used,
            99,
            "limit info is read from error answers too"
        );
    }
}

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_token_answer_naming_a_foreign_instance_is_refused_before_any_request_goes_there() {
    let stub = Stub::start(|request| {
        if request.path == "/services/oauth2/token" {
            return token_reply("https://attacker.example", "stolen-if-sent");
        }
        Reply::json(200, json!({}))
    })
    .await;
    let client = stub.client_with_refresh_token();

    let error = client.limits().await.unwrap_err();

    assert!(error.to_string().contains("instance_url"), "{error}");
    assert!(error.to_string().contains("Salesforce domain"), "{error}");
    assert!(stub.api_requests().is_empty());
}

#[tokio::test]
async fn a_login_url_outside_salesforce_is_refused_when_the_client_is_built() {
    for url in ["http://login.salesforce.com", "https://login.example.com"] {
        let mut strict = config(
            url,
            Auth::RefreshToken {
                client_id: "app-key".to_owned(),
                client_secret: None,
                refresh_token: SecretString::from("refresh-token-value"),
            },
        );
        strict.host_policy = salesforce::HostPolicy::SalesforceOnly;
        let error = Client::new(strict).unwrap_err();
        assert!(error.to_string().contains("login URL"), "{url}: {error}");
    }
}

#[tokio::test]
async fn an_invalid_session_fetches_one_fresh_token_and_repeats_the_request() {
    let tokens = Arc::new(AtomicUsize::new(0));
    let issued = Arc::clone(&tokens);
    let stub = Stub::start(move |request| {
        if request.path == "/services/oauth2/token" {
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            let url = format!("http://{}", request.header("host").unwrap());
            return token_reply(&url, &format!("token-{n}"));
        }
        if bearer(request) == "token-1" {
            invalid_session()
        } else {
            Reply::json(
                201,
                json!({"id": "00T000000000001AAA", "success": true, "errors": []}),
            )
        }
    })
    .await;
    let client = stub.client_with_refresh_token();

    let id = client
        .create("Task", &json!({"Subject": "Call"}))
        .await
        .unwrap();

    assert_eq!(id, "00T000000000001AAA");
    let token_requests = stub.token_requests();
    assert_eq!(token_requests.len(), 2);
    let form = token_requests[0].form();
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], "refresh-token-value");
    assert_eq!(form["client_secret"], "consumer-secret-value");
    let api: Vec<_> = stub
        .api_requests()
        .iter()
        .map(|r| bearer(r).to_owned())
        .collect();
    assert_eq!(api, ["token-1", "token-2"]);
    // The fresh token is kept for the next request.
    client
        .create("Task", &json!({"Subject": "Call"}))
        .await
        .unwrap();
    assert_eq!(stub.token_requests().len(), 2);
}

#[tokio::test]
async fn a_session_rejected_again_after_a_fresh_token_asks_for_reauthentication() {
    let stub = Stub::start(move |request| {
        if request.path == "/services/oauth2/token" {
            let url = format!("http://{}", request.header("host").unwrap());
            return token_reply(&url, "always-rejected");
        }
        invalid_session()
    })
    .await;
    let client = stub.client_with_refresh_token();

    let error = client
        .create("Task", &json!({"Subject": "Call"}))
        .await
        .unwrap_err();

    assert_eq!(error.kind(), ErrorKind::Reauthenticate);
    assert_eq!(error.code(), Some("INVALID_SESSION_ID"));
    assert!(
        error.to_string().contains("again after a fresh token"),
        "{error}"
    );
    assert_eq!(stub.api_requests().len(), 2);
    assert_eq!(stub.token_requests().len(), 2);
}

#[tokio::test]
async fn a_fixed_access_token_that_is_rejected_is_not_retried() {
    let stub = Stub::start(|_| invalid_session()).await;
    let client = stub.client_with_token();

    let error = client
        .delete("Task", "00T000000000001AAA")
        .await
        .unwrap_err();

    assert_eq!(error.kind(), ErrorKind::Reauthenticate);
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test]
async fn concurrent_requests_share_one_token_request() {
    let stub = Stub::start(|request| {
        if request.path == "/services/oauth2/token" {
            let url = format!("http://{}", request.header("host").unwrap());
            return token_reply(&url, "shared").after(Duration::from_millis(200));
        }
        Reply::json(200, json!({"totalSize": 0, "done": true, "records": []}))
    })
    .await;
    let client = stub.client_with_refresh_token();
    let q = soql!("SELECT Id FROM User").unwrap();

    let mut tasks = Vec::new();
    for _ in 0..10 {
        let client = client.clone();
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            client.query_all_rows::<Value>(&q).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    assert_eq!(stub.token_requests().len(), 1);
    assert_eq!(stub.api_requests().len(), 10);
}

#[tokio::test]
async fn the_jwt_flow_gets_one_signed_token_per_user() {
    let stub = Stub::start(|request| {
        if request.path == "/services/oauth2/token" {
            let form = request.form();
            assert_eq!(
                form["grant_type"],
                "urn:ietf:params:oauth:grant-type:jwt-bearer"
            );
            let key = jsonwebtoken::DecodingKey::from_rsa_pem(include_bytes!(
                "../fixtures/test-only-rsa-public-key.pem"
            ))
            .unwrap();
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            let url = format!("http://{}", request.header("host").unwrap());
            validation.set_audience(&[url.as_str()]);
            validation.set_issuer(&["consumer-key"]);
            let claims = jsonwebtoken::decode::<Value>(&form["assertion"], &key, &validation)
                .unwrap()
                .claims;
            let now = jsonwebtoken::get_current_timestamp();
            assert!(
                claims["exp"].as_u64().unwrap() <= now + 180,
                "Salesforce allows at most three minutes"
            );
            let user = claims["sub"].as_str().unwrap().to_owned();
            return token_reply(&url, &format!("token-for-{user}"));
        }
        Reply::json(
            201,
            json!({"id": "00T000000000001AAA", "success": true, "errors": []}),
        )
    })
    .await;
    let client = Client::new(config(
        &stub.url,
        Auth::JwtBearer {
            consumer_key: "consumer-key".to_owned(),
            private_key_pem: SecretString::from(include_str!(
                "../fixtures/test-only-rsa-private-key.pem"
            )),
            audience: None,
        },
    ))
    .unwrap();

    for user in [
        "agent.a@example.com",
        "agent.b@example.com",
        "agent.a@example.com",
    ] {
        client
            .for_user(user)
            .create("Task", &json!({"Subject": "Call"}))
            .await
            .unwrap();
    }
    let without_user = client.create("Task", &json!({})).await.unwrap_err();

    let used: Vec<_> = stub
        .api_requests()
        .iter()
        .map(|r| bearer(r).to_owned())
        .collect();
    assert_eq!(
        used,
        [
            "token-for-agent.a@example.com",
            "token-for-agent.b@example.com",
            "token-for-agent.a@example.com"
        ]
    );
    assert_eq!(stub.token_requests().len(), 2);
    assert_eq!(without_user.kind(), ErrorKind::Permanent);
}

#[tokio::test]
async fn a_refused_token_asks_for_reauthentication_without_leaking_secrets() {
    // simple-salesforce tests/test_login.py: 400 {"error":"invalid_grant","error_description":"user hasn't approved this consumer"}.
    let stub = Stub::start(|_| {
        Reply::json(400, json!({"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}))
    })
    .await;
    let client = stub.client_with_refresh_token();

    let error = client
        .create("Task", &json!({"Subject": "Call"}))
        .await
        .unwrap_err();

    assert_eq!(error.kind(), ErrorKind::Reauthenticate);
    assert_eq!(error.code(), Some("invalid_grant"));
    for printed in [
        error.to_string(),
        format!("{error:?}"),
        format!("{client:?}"),
    ] {
        assert!(!printed.contains("refresh-token-value"), "{printed}");
        assert!(!printed.contains("consumer-secret-value"), "{printed}");
    }
}

#[tokio::test]
async fn the_authorization_code_is_exchanged_with_its_verifier() {
    let stub = Stub::start(|request| {
        let url = format!("http://{}", request.header("host").unwrap());
        let mut reply = token_reply(&url, "admin-token");
        let mut body: Value = serde_json::from_str(&reply.body).unwrap();
        body["refresh_token"] = json!("new-refresh-token");
        reply.body = body.to_string();
        reply
    })
    .await;
    let client = stub.client_with_token();
    let start = client
        .authorization_request(
            "app-key",
            "https://callsync.example/cb",
            &["api", "refresh_token"],
        )
        .unwrap();
    assert!(
        start
            .url
            .as_str()
            .starts_with(&format!("{}/services/oauth2/authorize?", stub.url))
    );

    let tokens = client
        .exchange_authorization_code(
            "app-key",
            None,
            "https://callsync.example/cb",
            "the-code",
            &start.code_verifier,
        )
        .await
        .unwrap();

    use secrecy::ExposeSecret as _;
    assert_eq!(
        tokens.refresh_token.unwrap().expose_secret(),
        "new-refresh-token"
    );
    let form = stub.requests()[0].form();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "the-code");
    assert_eq!(form["code_verifier"], start.code_verifier.expose_secret());
}

// ---------------------------------------------------------------------------
// The wire: dropped connections and timeouts
// ---------------------------------------------------------------------------

/// A server that reads one whole request and closes the socket without
/// answering: what a crash after the commit looks like from the client.
async fn start_dropping_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut received = Vec::new();
                let mut buffer = [0u8; 4096];
                loop {
                    let n = socket.read(&mut buffer).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    received.extend_from_slice(&buffer[..n]);
                    if request_is_complete(&received) {
                        break;
                    }
                }
                let _ = socket.shutdown().await;
            });
        }
    });
    url
}

fn request_is_complete(received: &[u8]) -> bool {
    let text = String::from_utf8_lossy(received);
    let Some(end_of_headers) = text.find("\r\n\r\n") else {
        return false;
    };
    let length = text[..end_of_headers]
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    received.len() >= end_of_headers + 4 + length
}

#[tokio::test]
async fn a_connection_dropped_after_a_write_was_sent_is_outcome_unknown() {
    let url = start_dropping_server().await;
    let client = Client::new(config(&url, access_token_auth(&url))).unwrap();

    let write = client
        .create("Task", &json!({"CallObject": "call-1"}))
        .await
        .unwrap_err();
    let read = client
        .get::<Value>("Task", "00T000000000001AAA", &["Id"])
        .await
        .unwrap_err();

    assert_eq!(write.kind(), ErrorKind::OutcomeUnknown, "{write}");
    assert_eq!(read.kind(), ErrorKind::RetryLater { after: None }, "{read}");
}

#[tokio::test]
async fn a_write_that_times_out_is_outcome_unknown_and_a_read_is_retried() {
    let stub = Stub::start(|_| {
        Reply::json(
            201,
            json!({"id": "00T000000000001AAA", "success": true, "errors": []}),
        )
        .after(Duration::from_secs(3))
    })
    .await;
    let mut short = config(&stub.url, access_token_auth(&stub.url));
    short.timeout = Duration::from_millis(300);
    let client = Client::new(short).unwrap();

    let write = client
        .create("Task", &json!({"CallObject": "call-1"}))
        .await
        .unwrap_err();
    let read = client.describe("Task").await.unwrap_err();

    assert!(write.is_timeout(), "{write}");
    assert_eq!(write.kind(), ErrorKind::OutcomeUnknown);
    assert_eq!(read.kind(), ErrorKind::RetryLater { after: None });
}

#[tokio::test]
async fn a_server_that_cannot_be_reached_is_retried_later_even_for_writes() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let client = Client::new(config(&url, access_token_auth(&url))).unwrap();

    let error = client.create("Task", &json!({})).await.unwrap_err();

    assert_eq!(
        error.kind(),
        ErrorKind::RetryLater { after: None },
        "{error}"
    );
}
