//! The sandbox over HTTP, as a Salesforce client sees it: each test starts a sandbox on
//! port 0 and speaks REST and OAuth to it with reqwest.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sf_sandbox::{
    CustomField, CustomFieldKind, DuplicateAction, DuplicateRule, Fault, FaultPlan, NewUser,
    RuleCondition, Sandbox, SandboxConfig, ValidationRule,
};

const V: &str = "/services/data/v62.0";

struct Harness {
    sandbox: Sandbox,
    http: reqwest::Client,
    token: String,
}

impl Harness {
    async fn start() -> Harness {
        Harness::with(SandboxConfig::default()).await
    }

    async fn with(config: SandboxConfig) -> Harness {
        let sandbox = Sandbox::start(config).await.unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let token = sandbox
            .issue_token(&sandbox.credentials().username)
            .unwrap();
        Harness {
            sandbox,
            http,
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.url())
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        self.send_as(&self.token.clone(), method, path, body).await
    }

    async fn send_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, headers, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (status, _, body) = self.send(reqwest::Method::GET, path, None).await;
        (status, body)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (status, _, body) = self.send(reqwest::Method::POST, path, Some(body)).await;
        (status, body)
    }

    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (status, _, body) = self.send(reqwest::Method::PATCH, path, Some(body)).await;
        (status, body)
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        let (status, _, body) = self.send(reqwest::Method::DELETE, path, None).await;
        (status, body)
    }

    async fn token_form(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url("/services/oauth2/token"))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }
}

fn jwt_for(sandbox: &Sandbox, username: &str, audience: &str, expires_in: i64) -> String {
    let credentials = sandbox.credentials();
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(credentials.private_key_pem.as_bytes()).unwrap();
    let claims = json!({"iss": credentials.client_id, "sub": username, "aud": audience,
                        "exp": jiff::Timestamp::now().as_second() + expires_in});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .unwrap()
}

#[tokio::test]
async fn the_versions_list_needs_no_token_and_ends_with_the_newest_version() {
    let harness = Harness::start().await;
    let response = harness
        .http
        .get(harness.url("/services/data/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let versions: Vec<Value> = response.json().await.unwrap();
    let newest = versions.last().unwrap();
    assert_eq!(newest["version"], json!("62.0"));
    assert_eq!(newest["url"], json!("/services/data/v62.0"));
    assert_eq!(newest["label"], json!("Winter '25"));
}

#[tokio::test]
async fn a_call_with_a_bad_token_is_refused_as_salesforce_does() {
    let harness = Harness::start().await;
    let (status, headers, body) = harness
        .send_as(
            "00Dbad!token",
            reqwest::Method::GET,
            &format!("{V}/sobjects/Contact/describe"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers.get("www-authenticate").unwrap(), "Token");
    assert_eq!(
        body,
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    );
}

#[tokio::test]
async fn an_unknown_api_version_or_object_is_not_found() {
    let harness = Harness::start().await;
    let (status, body) = harness
        .post(
            "/services/data/viAmABadVersion/sobjects/Account",
            json!({"Name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
    );
    let (status, body) = harness
        .post(
            &format!("{V}/sobjects/PlayingCard__c"),
            json!({"Name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body[0]["errorCode"], json!("NOT_FOUND"));
}

#[tokio::test]
async fn a_contact_is_created_read_updated_and_deleted_with_salesforce_statuses() {
    let harness = Harness::start().await;
    let (status, headers, created) = harness
        .send(
            reqwest::Method::POST,
            &format!("{V}/sobjects/Contact"),
            Some(json!({"LastName": "山田", "FirstName": "太郎", "Phone": "03-1234-5678"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["success"], json!(true));
    assert_eq!(created["errors"], json!([]));
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 18);
    assert!(id.starts_with("003"));
    assert_eq!(
        headers.get("location").unwrap().to_str().unwrap(),
        format!("{V}/sobjects/Contact/{id}")
    );

    let (status, record) = harness
        .get(&format!(
            "{V}/sobjects/Contact/{}?fields=Name,Phone",
            &id[..15]
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(record["Name"], json!("太郎 山田"));
    assert_eq!(record["attributes"]["type"], json!("Contact"));
    assert!(record.get("Email").is_none());

    let (status, body) = harness
        .patch(
            &format!("{V}/sobjects/Contact/{id}"),
            json!({"Email": "taro@example.jp"}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (_, record) = harness.get(&format!("{V}/sobjects/Contact/{id}")).await;
    assert_eq!(record["Email"], json!("taro@example.jp"));
    assert_eq!(
        record["LastModifiedById"],
        json!(harness.sandbox.admin_user().as_str())
    );
    assert_eq!(record["IsDeleted"], json!(false));

    let (status, _) = harness.delete(&format!("{V}/sobjects/Contact/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = harness.delete(&format!("{V}/sobjects/Contact/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!([{"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": []}])
    );
}

#[tokio::test]
async fn writes_are_validated_with_salesforce_codes_and_messages() {
    let harness = Harness::start().await;
    let contacts = format!("{V}/sobjects/Contact");
    let (status, body) = harness
        .post(&contacts, json!({"LastName": "x", "FavoritePet__c": "cat"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!([{"message": "No such column 'FavoritePet__c' on sobject of type Contact", "errorCode": "INVALID_FIELD"}])
    );

    let (_, body) = harness
        .post(&format!("{V}/sobjects/Lead"), json!({"FirstName": "x"}))
        .await;
    assert_eq!(
        body,
        json!([{"message": "Required fields are missing: [LastName, Company]", "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["LastName", "Company"]}])
    );

    let (_, body) = harness
        .post(
            &format!("{V}/sobjects/Task"),
            json!({"CallType": "Sideways"}),
        )
        .await;
    assert_eq!(
        body,
        json!([{"message": "Call Type: bad value for restricted picklist field: Sideways", "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "fields": ["CallType"]}])
    );

    let (_, body) = harness
        .post(&format!("{V}/sobjects/Task"), json!({"IsClosed": true}))
        .await;
    assert_eq!(
        body[0]["errorCode"],
        json!("INVALID_FIELD_FOR_INSERT_UPDATE")
    );
    assert_eq!(body[0]["fields"], json!(["IsClosed"]));

    let (_, body) = harness
        .post(&format!("{V}/sobjects/Task"), json!({"WhoId": "003xx"}))
        .await;
    assert_eq!(body[0]["errorCode"], json!("MALFORMED_ID"));

    let missing_contact = sf_sandbox::RecordId::generate("003", 999_999);
    let (_, body) = harness
        .post(
            &format!("{V}/sobjects/Task"),
            json!({"WhoId": missing_contact.as_str()}),
        )
        .await;
    assert_eq!(body[0]["errorCode"], json!("INVALID_CROSS_REFERENCE_KEY"));

    let response = harness
        .http
        .post(harness.url(&contacts))
        .bearer_auth(&harness.token)
        .body("{\"LastName\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body[0]["errorCode"], json!("JSON_PARSER_ERROR"));

    let (status, body) = harness
        .patch(
            &format!("{V}/sobjects/Contact/003B000001Lp1G2IBJ"),
            json!({"LastName": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body[0]["errorCode"], json!("MALFORMED_ID"));
}

#[tokio::test]
async fn a_task_carries_its_call_fields_defaults_and_derived_values() {
    let harness = Harness::start().await;
    let (_, contact) = harness
        .post(
            &format!("{V}/sobjects/Contact"),
            json!({"LastName": "Sato"}),
        )
        .await;
    let contact = contact["id"].as_str().unwrap().to_string();
    let (status, task) = harness
        .post(
            &format!("{V}/sobjects/Task"),
            json!({"Subject": "Call", "WhoId": contact, "CallType": "Inbound", "CallDurationInSeconds": 75,
                   "CallObject": "call-42", "TaskSubtype": "Call", "ActivityDate": "2024-05-01", "Status": "Completed"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let (_, task) = harness
        .get(&format!(
            "{V}/sobjects/Task/{}",
            task["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(task["IsClosed"], json!(true));
    assert_eq!(task["Priority"], json!("Normal"));
    assert_eq!(task["CallDurationInSeconds"], json!(75));
    assert_eq!(task["ActivityDate"], json!("2024-05-01"));
    assert_eq!(
        task["OwnerId"],
        json!(harness.sandbox.admin_user().as_str())
    );
    let (_, describe) = harness.get(&format!("{V}/sobjects/Task/describe")).await;
    let fields = describe["fields"].as_array().unwrap();
    let subject = fields
        .iter()
        .find(|field| field["name"] == "Subject")
        .unwrap();
    assert_eq!(subject["length"], json!(255));
    let call_type = fields
        .iter()
        .find(|field| field["name"] == "CallType")
        .unwrap();
    let values: Vec<&str> = call_type["picklistValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|value| value["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["Internal", "Inbound", "Outbound"]);
}

#[tokio::test]
async fn jwt_bearer_gives_each_user_a_token_of_their_own_and_writes_carry_that_user() {
    let harness = Harness::start().await;
    let agent = harness.sandbox.org().add_user(&NewUser::named(
        "agent@callsync.sandbox",
        "Hanako",
        "Suzuki",
    ));
    let assertion = jwt_for(
        &harness.sandbox,
        "agent@callsync.sandbox",
        &harness.sandbox.url(),
        120,
    );
    let (status, body) = harness
        .token_form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &assertion),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["instance_url"], json!(harness.sandbox.url()));
    assert_eq!(body["token_type"], json!("Bearer"));
    assert!(body["id"].as_str().unwrap().ends_with(agent.as_str()));
    assert!(
        body["signature"]
            .as_str()
            .is_some_and(|signature| !signature.is_empty())
    );
    let token = body["access_token"].as_str().unwrap();
    let (_, _, created) = harness
        .send_as(
            token,
            reqwest::Method::POST,
            &format!("{V}/sobjects/Account"),
            Some(json!({"Name": "Acme"})),
        )
        .await;
    let record = harness
        .sandbox
        .org()
        .get(created["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(record["CreatedById"], json!(agent.as_str()));
    assert_eq!(record["OwnerId"], json!(agent.as_str()));

    let expired = jwt_for(
        &harness.sandbox,
        "agent@callsync.sandbox",
        &harness.sandbox.url(),
        -60,
    );
    let (status, body) = harness
        .token_form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &expired),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], json!("invalid_grant"));
    let stranger = jwt_for(
        &harness.sandbox,
        "nobody@callsync.sandbox",
        &harness.sandbox.url(),
        60,
    );
    let (_, body) = harness
        .token_form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &stranger),
        ])
        .await;
    assert_eq!(body["error"], json!("invalid_grant"));
}

#[tokio::test]
async fn the_password_grant_wants_the_security_token_and_the_right_client() {
    let harness = Harness::start().await;
    let credentials = harness.sandbox.credentials().clone();
    let password = format!("{}{}", credentials.password, credentials.security_token);
    let (status, body) = harness
        .token_form(&[
            ("grant_type", "password"),
            ("client_id", &credentials.client_id),
            ("client_secret", &credentials.client_secret),
            ("username", &credentials.username),
            ("password", &password),
        ])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("refresh_token").is_none());
    let (status, body) = harness
        .token_form(&[
            ("grant_type", "password"),
            ("client_id", &credentials.client_id),
            ("client_secret", &credentials.client_secret),
            ("username", &credentials.username),
            ("password", "wrong"),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "authentication failure"})
    );
    let (_, body) = harness
        .token_form(&[
            ("grant_type", "password"),
            ("client_id", "nope"),
            ("username", "x"),
            ("password", "y"),
        ])
        .await;
    assert_eq!(body["error"], json!("invalid_client_id"));
}

#[tokio::test]
async fn the_authorization_code_flow_with_pkce_issues_a_refresh_token_that_works() {
    use sha2::Digest;
    let harness = Harness::start().await;
    let credentials = harness.sandbox.credentials().clone();
    let verifier = "a-long-random-verifier-string-of-at-least-43-characters-0123456789";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let response = harness
        .http
        .get(harness.url("/services/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", &credentials.client_id),
            ("redirect_uri", "http://localhost/callback"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "xyz"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = reqwest::Url::parse(
        response
            .headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap(),
    )
    .unwrap();
    let pairs: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(pairs["state"], "xyz");
    let code = pairs["code"].clone();
    let (status, _) = harness
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &credentials.client_id),
            ("redirect_uri", "http://localhost/callback"),
            ("code_verifier", "wrong"),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let response = harness
        .http
        .get(harness.url("/services/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", &credentials.client_id),
            ("redirect_uri", "http://localhost/callback"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    let location = reqwest::Url::parse(
        response
            .headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap(),
    )
    .unwrap();
    let code = location
        .query_pairs()
        .find(|(key, _)| key == "code")
        .unwrap()
        .1
        .into_owned();
    let (status, body) = harness
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &credentials.client_id),
            ("redirect_uri", "http://localhost/callback"),
            ("code_verifier", verifier),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap();
    let (status, body) = harness
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &credentials.client_id),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let (status, _, _) = harness
        .send_as(&access, reqwest::Method::GET, &format!("{V}/limits"), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Revoking the refresh token revokes the access tokens issued from it, and the next
    // refresh is refused as Salesforce refuses a revoked token.
    let revoked = harness
        .http
        .post(harness.url("/services/oauth2/revoke"))
        .form(&[("token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let (status, _, body) = harness
        .send_as(&access, reqwest::Method::GET, &format!("{V}/limits"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = harness
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &credentials.client_id),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "expired access/refresh token"})
    );
    // A token Salesforce does not know (any more) is `invalid_token`, with 400.
    let again = harness
        .http
        .get(harness.url(&format!("/services/oauth2/revoke?token={refresh}")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn an_admin_revoking_a_users_oauth_access_ends_its_refresh_tokens_and_sessions() {
    let harness = Harness::start().await;
    let credentials = harness.sandbox.credentials().clone();
    let authorize = harness
        .http
        .get(harness.url("/services/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", credentials.client_id.as_str()),
            ("redirect_uri", "http://localhost/callback"),
        ])
        .send()
        .await
        .unwrap();
    let location = reqwest::Url::parse(authorize.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(key, _)| key == "code")
        .unwrap()
        .1
        .into_owned();
    let (status, body) = harness
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &credentials.client_id),
            ("client_secret", &credentials.client_secret),
            ("redirect_uri", "http://localhost/callback"),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(harness.sandbox.revoke_oauth_of(&credentials.username), 1);
    let (status, body) = harness
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &credentials.client_id),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_description"], "expired access/refresh token");
    assert_eq!(harness.sandbox.revoke_oauth_of("nobody@example.com"), 0);
}

#[tokio::test]
async fn upsert_by_external_id_creates_with_201_then_updates_with_200() {
    let harness = Harness::start().await;
    harness
        .sandbox
        .org()
        .add_custom_field(CustomField {
            object: "Contact".into(),
            name: "CallsyncKey__c".into(),
            label: "Callsync Key".into(),
            kind: CustomFieldKind::ExternalIdText { length: 64 },
        })
        .unwrap();
    let path = format!("{V}/sobjects/Contact/CallsyncKey__c/k-1");
    let (status, body) = harness.patch(&path, json!({"LastName": "Kato"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["created"], json!(true));
    let (status, again) = harness
        .patch(&path, json!({"LastName": "Kato", "Phone": "090-0000-0000"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        again,
        json!({"id": body["id"], "success": true, "errors": [], "created": false})
    );
    let (status, record) = harness.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(record["Phone"], json!("090-0000-0000"));
    let (status, body) = harness
        .patch(
            &format!("{V}/sobjects/Contact/NotExternal__c/1"),
            json!({"LastName": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body[0]["message"],
        json!("Provided external ID field does not exist or is not accessible: NotExternal__c")
    );
}

#[tokio::test]
async fn collections_take_at_most_200_records_and_all_or_none_rolls_back() {
    let harness = Harness::start().await;
    let records: Vec<Value> = (0..201)
        .map(|index| json!({"attributes": {"type": "Account"}, "Name": format!("A{index}")}))
        .collect();
    let (status, body) = harness
        .post(
            &format!("{V}/composite/sobjects"),
            json!({"allOrNone": false, "records": records}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body[0]["errorCode"], json!("EXCEEDED_ID_LIMIT"));

    let records = json!([{"attributes": {"type": "Account"}, "Name": "Good"}, {"attributes": {"type": "Contact"}, "FirstName": "NoLastName"}]);
    let (status, body) = harness
        .post(
            &format!("{V}/composite/sobjects"),
            json!({"allOrNone": true, "records": records}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body[0]["errors"][0]["statusCode"],
        json!("ALL_OR_NONE_OPERATION_ROLLED_BACK")
    );
    assert_eq!(
        body[1]["errors"][0]["statusCode"],
        json!("REQUIRED_FIELD_MISSING")
    );
    assert_eq!(harness.sandbox.org().read().count("Account"), 0);

    let (_, body) = harness
        .post(
            &format!("{V}/composite/sobjects"),
            json!({"allOrNone": false, "records": records}),
        )
        .await;
    assert_eq!(body[0]["success"], json!(true));
    assert_eq!(body[1]["success"], json!(false));
    let id = body[0]["id"].as_str().unwrap().to_string();
    let (_, fetched) = harness
        .get(&format!(
            "{V}/composite/sobjects/Account?ids={id},001000000000000AAA&fields=Id,Name"
        ))
        .await;
    assert_eq!(fetched[0]["Name"], json!("Good"));
    assert_eq!(fetched[1], Value::Null);
    let (_, updated) = harness
        .patch(
            &format!("{V}/composite/sobjects"),
            json!({"records": [{"attributes": {"type": "Account"}, "id": id, "Name": "Better"}]}),
        )
        .await;
    assert_eq!(updated[0]["success"], json!(true));
    let (_, deleted) = harness
        .delete(&format!("{V}/composite/sobjects?ids={id}&allOrNone=true"))
        .await;
    assert_eq!(deleted, json!([{"id": id, "success": true, "errors": []}]));
}

#[tokio::test]
async fn composite_passes_references_between_subrequests_and_all_or_none_halts() {
    let harness = Harness::start().await;
    let body = json!({"allOrNone": false, "compositeRequest": [
        {"method": "POST", "url": format!("{V}/sobjects/Account"), "referenceId": "acct", "body": {"Name": "Ref Co"}},
        {"method": "POST", "url": format!("{V}/sobjects/Contact"), "referenceId": "ct", "body": {"LastName": "Ito", "AccountId": "@{acct.id}"}},
        {"method": "GET", "url": format!("{V}/sobjects/Contact/@{{ct.id}}?fields=AccountId"), "referenceId": "read"},
    ]});
    let (status, answer) = harness.post(&format!("{V}/composite"), body).await;
    assert_eq!(status, StatusCode::OK);
    let responses = answer["compositeResponse"].as_array().unwrap();
    assert_eq!(responses[0]["httpStatusCode"], json!(201));
    assert_eq!(
        responses[2]["body"]["AccountId"],
        responses[0]["body"]["id"]
    );

    let body = json!({"allOrNone": true, "compositeRequest": [
        {"method": "POST", "url": format!("{V}/sobjects/Account"), "referenceId": "a", "body": {"Name": "Gone"}},
        {"method": "POST", "url": format!("{V}/sobjects/Contact"), "referenceId": "b", "body": {}},
    ]});
    let (_, answer) = harness.post(&format!("{V}/composite"), body).await;
    assert_eq!(
        answer["compositeResponse"][0]["body"][0]["errorCode"],
        json!("PROCESSING_HALTED")
    );
    assert_eq!(
        answer["compositeResponse"][1]["body"][0]["errorCode"],
        json!("REQUIRED_FIELD_MISSING")
    );
    assert_eq!(harness.sandbox.org().read().count("Account"), 1);
}

#[tokio::test]
async fn every_api_response_reports_usage_and_the_daily_limit_is_enforced() {
    let harness = Harness::with(SandboxConfig {
        daily_api_limit: 3,
        ..SandboxConfig::default()
    })
    .await;
    let (status, headers, _) = harness
        .send(reqwest::Method::GET, &format!("{V}/limits"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get("sforce-limit-info").unwrap(), "api-usage=1/3");
    let (_, limits) = harness.get(&format!("{V}/limits")).await;
    assert_eq!(
        limits["DailyApiRequests"],
        json!({"Max": 3, "Remaining": 1})
    );
    harness.get(&format!("{V}/limits")).await;
    let (status, headers, body) = harness
        .send(reqwest::Method::GET, &format!("{V}/limits"), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    );
    assert_eq!(headers.get("sforce-limit-info").unwrap(), "api-usage=3/3");
}

#[tokio::test]
async fn scripted_faults_answer_503_lock_errors_and_expired_sessions_in_order() {
    let harness = Harness::with(SandboxConfig {
        faults: FaultPlan {
            script: vec![
                Some(Fault::ServiceUnavailable),
                Some(Fault::UnableToLockRow),
                Some(Fault::ExpireSession),
            ],
            ..FaultPlan::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let (status, _) = harness.get(&format!("{V}/limits")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = harness
        .post(&format!("{V}/sobjects/Account"), json!({"Name": "x"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body[0]["errorCode"], json!("UNABLE_TO_LOCK_ROW"));
    let (status, _) = harness.get(&format!("{V}/limits")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = harness.get(&format!("{V}/limits")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the session stays expired"
    );
}

#[tokio::test]
async fn a_connection_dropped_after_commit_leaves_the_record_written() {
    let harness = Harness::start().await;
    harness
        .sandbox
        .faults()
        .push_script([Some(Fault::DropAfterCommit)]);
    let result = harness
        .http
        .post(harness.url(&format!("{V}/sobjects/Account")))
        .bearer_auth(&harness.token)
        .json(&json!({"Name": "Ghost"}))
        .send()
        .await;
    assert!(
        result.is_err(),
        "the client must see a broken connection, got {result:?}"
    );
    assert_eq!(harness.sandbox.org().read().count("Account"), 1);
}

#[tokio::test]
async fn sessions_can_be_made_to_expire_after_a_number_of_requests() {
    let harness = Harness::start().await;
    harness.sandbox.expire_sessions_after(1);
    assert_eq!(harness.get(&format!("{V}/limits")).await.0, StatusCode::OK);
    assert_eq!(
        harness.get(&format!("{V}/limits")).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn validation_rules_answer_field_custom_validation_exception() {
    let harness = Harness::start().await;
    harness.sandbox.org().add_validation_rule(ValidationRule {
        object: "Task".into(),
        name: "NoSecrets".into(),
        condition: RuleCondition::Contains("Description".into(), "password".into()),
        error_message: "Do not store passwords in tasks".into(),
        error_field: Some("Description".into()),
    });
    let (status, body) = harness
        .post(
            &format!("{V}/sobjects/Task"),
            json!({"Description": "the password is 1234"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!([{"message": "Do not store passwords in tasks", "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "fields": ["Description"]}])
    );
}

/// Posts a Lead with extra request headers.
async fn post_lead(
    harness: &Harness,
    body: Value,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = harness
        .http
        .post(harness.url(&format!("{V}/sobjects/Lead")))
        .bearer_auth(&harness.token)
        .json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn duplicate_rules_answer_duplicates_detected_unless_an_alert_rule_is_acknowledged() {
    let harness = Harness::start().await;
    let lead = json!({"LastName": "Sato", "Company": "Acme", "Phone": "03-1234-5678"});
    let (status, first) = post_lead(&harness, lead.clone(), &[]).await;
    assert_eq!(status, StatusCode::CREATED);
    for action in [DuplicateAction::Block, DuplicateAction::Allow] {
        harness.sandbox.org().write().clear_duplicate_rules();
        harness.sandbox.org().add_duplicate_rule(DuplicateRule {
            object: "Lead".into(),
            name: "Standard_Lead_Duplicate_Rule".into(),
            matching_rule: "Standard_Lead_Match_Rule_v1_0".into(),
            fields: vec!["Phone".into(), "Company".into()],
            action,
            error_message: "Use one of these records?".into(),
        });
        // The same phone written differently, the same company in other case: a match.
        let again = json!({"LastName": "Suzuki", "Company": "ACME ", "Phone": "0312345678"});
        let (status, body) = post_lead(&harness, again.clone(), &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{action:?}");
        assert_eq!(body[0]["errorCode"], "DUPLICATES_DETECTED");
        assert_eq!(body[0]["message"], "Use one of these records?");
        let result = &body[0]["duplicateResult"];
        assert_eq!(result["duplicateRule"], "Standard_Lead_Duplicate_Rule");
        assert_eq!(result["allowSave"], action == DuplicateAction::Allow);
        assert_eq!(
            result["matchResults"][0]["matchRecords"][0]["record"]["Id"],
            first["id"]
        );
        // allowSave=true saves past an alert rule only.
        let header = [(
            "Sforce-Duplicate-Rule-Header",
            "allowSave=true; includeRecordDetails=false",
        )];
        let (status, _) = post_lead(&harness, again, &header).await;
        let expected = match action {
            DuplicateAction::Block => StatusCode::BAD_REQUEST,
            DuplicateAction::Allow => StatusCode::CREATED,
        };
        assert_eq!(status, expected, "{action:?}");
    }
    // Another company is no duplicate.
    let (status, _) = post_lead(
        &harness,
        json!({"LastName": "Ito", "Company": "Other", "Phone": "03-1234-5678"}),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn the_lead_assignment_rule_runs_unless_sforce_auto_assign_is_false() {
    let harness = Harness::start().await;
    let router =
        harness
            .sandbox
            .org()
            .add_user(&NewUser::named("router@example.com", "Route", "Er"));
    harness.sandbox.org().set_lead_assignment_rule(Some(router));
    let admin = harness.sandbox.admin_user().to_string();
    for (headers, owner) in [
        (vec![], router.to_string()),
        (vec![("Sforce-Auto-Assign", "TRUE")], router.to_string()),
        (vec![("Sforce-Auto-Assign", "false")], admin.clone()),
    ] {
        let (status, created) = post_lead(
            &harness,
            json!({"LastName": "Sato", "Company": "Acme", "OwnerId": admin}),
            &headers,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let lead = harness
            .sandbox
            .org()
            .get(created["id"].as_str().unwrap())
            .unwrap();
        assert_eq!(lead["OwnerId"], owner.as_str(), "{headers:?}");
    }
}

#[tokio::test]
async fn updated_and_deleted_list_what_changed_in_a_window() {
    let harness = Harness::start().await;
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60);
    let (_, one) = harness
        .post(
            &format!("{V}/sobjects/Lead"),
            json!({"LastName": "A", "Company": "C"}),
        )
        .await;
    let (_, two) = harness
        .post(
            &format!("{V}/sobjects/Lead"),
            json!({"LastName": "B", "Company": "C"}),
        )
        .await;
    harness
        .delete(&format!(
            "{V}/sobjects/Lead/{}",
            two["id"].as_str().unwrap()
        ))
        .await;
    let end = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60);
    let window = format!(
        "start={}&end={}",
        start.strftime("%Y-%m-%dT%H:%M:%S%:z"),
        end.strftime("%Y-%m-%dT%H:%M:%S%:z")
    )
    .replace('+', "%2B");
    let (status, updated) = harness
        .get(&format!("{V}/sobjects/Lead/updated/?{window}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["ids"], json!([one["id"]]));
    let (_, deleted) = harness
        .get(&format!("{V}/sobjects/Lead/deleted/?{window}"))
        .await;
    assert_eq!(deleted["deletedRecords"][0]["id"], two["id"]);
}

/// `SystemModstamp` filters are answered from the ordered index (Salesforce indexes
/// `SystemModstamp`): the same rows a scan finds, deleted ones only through `queryAll`,
/// an undeleted record back with a new stamp, and `OR` (no lower bound) still scanned.
#[tokio::test]
async fn system_modstamp_filters_find_what_changed_since_including_deletes_and_undeletes() {
    let harness = Harness::start().await;
    let org = harness.sandbox.org();
    let admin = org.admin_user();
    let old = org
        .insert(admin, "Lead", json!({"LastName": "Old", "Company": "C"}))
        .unwrap();
    let gone = org
        .insert(admin, "Lead", json!({"LastName": "Gone", "Company": "C"}))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let since = jiff::Timestamp::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let new = org
        .insert(admin, "Lead", json!({"LastName": "New", "Company": "C"}))
        .unwrap();
    org.delete(admin, "Lead", gone.as_str()).unwrap();
    let query = |resource: &str, condition: &str| {
        format!(
            "{V}/{resource}/?q={}",
            format!("SELECT Id, IsDeleted FROM Lead WHERE {condition} ORDER BY SystemModstamp")
                .replace(' ', "+")
                .replace(':', "%3A")
        )
    };
    let stamp = since.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    // As a set: records written in the same millisecond tie on `SystemModstamp`, and
    // Salesforce documents no order among ties.
    let ids = |answer: &Value| -> std::collections::BTreeSet<String> {
        answer["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|record| record["Id"].as_str().unwrap().to_owned())
            .collect()
    };
    let set = |ids: &[&sf_sandbox::RecordId]| -> std::collections::BTreeSet<String> {
        ids.iter().map(|id| id.as_str().to_owned()).collect()
    };
    let (status, live) = harness
        .get(&query("query", &format!("SystemModstamp >= {stamp}")))
        .await;
    assert_eq!(status, StatusCode::OK, "{live}");
    assert_eq!(ids(&live), set(&[&new]));
    let (_, all) = harness
        .get(&query("queryAll", &format!("SystemModstamp > {stamp}")))
        .await;
    assert_eq!(ids(&all), set(&[&new, &gone]));
    let (_, scanned) = harness
        .get(&query(
            "query",
            &format!("SystemModstamp >= {stamp} OR LastName = 'Old'"),
        ))
        .await;
    assert_eq!(
        ids(&scanned)
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>(),
        [old.as_str().to_owned(), new.as_str().to_owned()]
            .into_iter()
            .collect()
    );
    org.undelete(admin, "Lead", gone.as_str()).unwrap();
    let (_, back) = harness
        .get(&query("query", &format!("SystemModstamp >= {stamp}")))
        .await;
    assert_eq!(ids(&back), set(&[&new, &gone]));
    assert!(org.undelete(admin, "Lead", gone.as_str()).is_err());
}

#[tokio::test]
async fn the_admin_endpoints_count_requests_per_endpoint_and_user_and_reset() {
    let harness = Harness::start().await;
    harness
        .post(&format!("{V}/sobjects/Account"), json!({"Name": "Counted"}))
        .await;
    harness.get(&format!("{V}/limits")).await;
    let counters: Value = harness
        .http
        .get(harness.url("/__sandbox/counters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counters["total"], json!(2));
    assert_eq!(
        counters["by_endpoint"]["POST /services/data/{version}/sobjects/{object}"],
        json!(1)
    );
    assert_eq!(
        counters["by_user"][harness.sandbox.admin_user().as_str()],
        json!(2)
    );
    let dump: Value = harness
        .http
        .get(harness.url("/__sandbox/dump?object=Account"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dump.as_array().unwrap().len(), 1);
    harness
        .http
        .post(harness.url("/__sandbox/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(harness.sandbox.org().read().count("Account"), 0);
    assert_eq!(harness.sandbox.counters().total, 0);
    assert_eq!(
        harness.get(&format!("{V}/limits")).await.0,
        StatusCode::OK,
        "the admin's token survives a reset"
    );
}

#[tokio::test]
async fn the_soap_login_answers_what_jsforce_and_simple_salesforce_read() {
    let harness = Harness::start().await;
    let credentials = harness.sandbox.credentials().clone();
    let body = format!(
        "<se:Envelope xmlns:se=\"http://schemas.xmlsoap.org/soap/envelope/\"><se:Header/><se:Body><login xmlns=\"urn:partner.soap.sforce.com\"><username>{}</username><password>{}{}</password></login></se:Body></se:Envelope>",
        credentials.username, credentials.password, credentials.security_token
    );
    let response = harness
        .http
        .post(harness.url("/services/Soap/u/59.0"))
        .header("SOAPAction", "login")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let session = text
        .split("<sessionId>")
        .nth(1)
        .unwrap()
        .split("</sessionId>")
        .next()
        .unwrap();
    assert!(text.contains(&format!(
        "<serverUrl>{}/services/Soap/u/59.0/",
        harness.sandbox.url()
    )));
    let (status, _, _) = harness
        .send_as(session, reqwest::Method::GET, &format!("{V}/limits"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let response = harness
        .http
        .post(harness.url("/services/Soap/u/59.0"))
        .body("<login><username>x</username><password>y</password></login>")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.text().await.unwrap().contains("INVALID_LOGIN"));
}

#[tokio::test]
async fn tls_serves_https_with_a_certificate_clients_can_trust() {
    let sandbox = Sandbox::start(SandboxConfig {
        tls: true,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    assert!(sandbox.url().starts_with("https://127.0.0.1:"));
    let certificate =
        reqwest::Certificate::from_pem(sandbox.tls_certificate_pem().unwrap().as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(certificate)
        .build()
        .unwrap();
    let response = http
        .get(format!("{}/services/data/", sandbox.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_state_survives_a_restart_through_the_data_file() {
    let directory = std::env::temp_dir().join(format!("sf-sandbox-state-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join("state.json");
    let _ = std::fs::remove_file(&path);
    let config = SandboxConfig {
        data_file: Some(path.clone()),
        ..SandboxConfig::default()
    };
    let first = Sandbox::start(config.clone()).await.unwrap();
    let admin = first.admin_user();
    let id = first
        .org()
        .insert(admin, "Contact", json!({"LastName": "Persistent"}))
        .unwrap();
    first.shutdown().await;
    let second = Sandbox::start(config).await.unwrap();
    let record = second.org().get(id.as_str()).unwrap();
    assert_eq!(record["LastName"], json!("Persistent"));
    let next = second
        .org()
        .insert(second.admin_user(), "Contact", json!({"LastName": "Next"}))
        .unwrap();
    assert_ne!(next, id, "the Id sequence continues");
    second.shutdown().await;
    std::fs::remove_dir_all(&directory).unwrap();
}

#[tokio::test]
async fn latency_faults_delay_the_answer() {
    let harness = Harness::with(SandboxConfig {
        faults: FaultPlan {
            base_latency_millis: 150,
            ..FaultPlan::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let started = std::time::Instant::now();
    assert_eq!(harness.get(&format!("{V}/limits")).await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn a_query_pages_at_the_batch_size_and_the_locator_serves_the_rest() {
    let harness = Harness::with(SandboxConfig {
        query_batch_size: 3,
        ..SandboxConfig::default()
    })
    .await;
    let admin = harness.sandbox.admin_user();
    for index in 0..7 {
        harness
            .sandbox
            .org()
            .insert(
                admin,
                "Contact",
                json!({"LastName": format!("Page{index}")}),
            )
            .unwrap();
    }
    let (status, first) = harness
        .get(&format!(
            "{V}/query?q=SELECT+Id,+LastName+FROM+Contact+ORDER+BY+LastName"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["totalSize"], json!(7));
    assert_eq!(first["done"], json!(false));
    assert_eq!(first["records"].as_array().unwrap().len(), 3);
    let next = first["nextRecordsUrl"].as_str().unwrap().to_string();
    assert!(
        next.starts_with(&format!("{V}/query/01g")) && next.ends_with("-3"),
        "{next}"
    );
    let (_, second) = harness.get(&next).await;
    let (_, third) = harness
        .get(second["nextRecordsUrl"].as_str().unwrap())
        .await;
    assert_eq!(third["done"], json!(true));
    assert_eq!(third["records"][0]["LastName"], json!("Page6"));
    let (status, body) = harness.get(&format!("{V}/query/01gNOPE-2000")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body[0]["errorCode"], json!("INVALID_QUERY_LOCATOR"));
}

#[tokio::test]
async fn an_unknown_column_in_a_query_answers_invalid_field_with_the_caret_message() {
    let harness = Harness::start().await;
    let (status, body) = harness
        .get(&format!("{V}/query?q=SELECT+Bacon__c+FROM+Account+LIMIT+2"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // forcedotcom/sf-fx-runtime-nodejs mappings/query-unknown-column.json, word for word.
    assert_eq!(
        body,
        json!([{"message": "\nSELECT Bacon__c FROM Account LIMIT 2\n       ^\nERROR at Row:1:Column:8\nNo such column 'Bacon__c' on entity 'Account'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", "errorCode": "INVALID_FIELD"}])
    );
}

#[tokio::test]
async fn query_all_sees_deleted_records_and_query_does_not() {
    let harness = Harness::start().await;
    let admin = harness.sandbox.admin_user();
    let id = harness
        .sandbox
        .org()
        .insert(admin, "Lead", json!({"LastName": "Gone", "Company": "C"}))
        .unwrap();
    harness
        .sandbox
        .org()
        .delete(admin, "Lead", id.as_str())
        .unwrap();
    let (_, live) = harness
        .get(&format!("{V}/query?q=SELECT+Id+FROM+Lead"))
        .await;
    assert_eq!(live["totalSize"], json!(0));
    let (_, all) = harness
        .get(&format!("{V}/queryAll?q=SELECT+Id,+IsDeleted+FROM+Lead"))
        .await;
    assert_eq!(all["totalSize"], json!(1));
    assert_eq!(all["records"][0]["IsDeleted"], json!(true));
}

#[tokio::test]
async fn search_does_not_see_a_write_until_the_index_catches_up() {
    let harness = Harness::with(SandboxConfig {
        search_index_lag: Duration::from_millis(400),
        ..SandboxConfig::default()
    })
    .await;
    let (_, created) = harness
        .post(
            &format!("{V}/sobjects/Contact"),
            json!({"LastName": "Lag", "Phone": "03-5555-0101"}),
        )
        .await;
    let search =
        format!("{V}/search?q=FIND+%7B03-5555-0101%7D+IN+PHONE+FIELDS+RETURNING+Contact(Id)");
    let (status, early) = harness.get(&search).await;
    assert_eq!(status, StatusCode::OK, "{early}");
    assert_eq!(early["searchRecords"], json!([]));
    tokio::time::sleep(Duration::from_millis(450)).await;
    let (_, late) = harness.get(&search).await;
    assert_eq!(late["searchRecords"][0]["Id"], created["id"]);
}

#[tokio::test]
async fn a_person_account_is_found_by_its_mobile_number_through_its_contact() {
    let harness = Harness::start().await;
    let (status, created) = harness
        .post(
            &format!("{V}/sobjects/Account"),
            json!({"LastName": "Tanaka", "FirstName": "Yui", "PersonMobilePhone": "080-2222-3333"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, account) = harness
        .get(&format!(
            "{V}/sobjects/Account/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(account["IsPersonAccount"], json!(true));
    let person_contact = account["PersonContactId"].as_str().unwrap().to_string();
    let (_, rows) = harness
        .get(&format!(
            "{V}/query?q=SELECT+Id,+AccountId+FROM+Contact+WHERE+MobilePhone+=+'080-2222-3333'"
        ))
        .await;
    assert_eq!(rows["records"][0]["Id"], json!(person_contact));
    assert_eq!(rows["records"][0]["AccountId"], created["id"]);
    let (status, body) = harness
        .post(
            &format!("{V}/sobjects/Account"),
            json!({"Name": "Business", "LastName": "Mixed"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body[0]["errorCode"],
        json!("INVALID_FIELD_FOR_INSERT_UPDATE")
    );
}

#[tokio::test]
async fn faults_can_be_set_over_http_with_the_documented_json() {
    let harness = Harness::start().await;
    let plan = json!({"script": [{"kind": "internal_error"}, null, {"kind": "request_limit_exceeded"}], "script_filter": {"methods": ["GET"]}});
    let response = harness
        .http
        .put(harness.url("/__sandbox/faults"))
        .json(&plan)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body) = harness.get(&format!("{V}/limits")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body[0]["errorCode"], json!("UNKNOWN_EXCEPTION"));
    assert_eq!(
        harness
            .post(
                &format!("{V}/sobjects/Account"),
                json!({"Name": "not a GET"})
            )
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(harness.get(&format!("{V}/limits")).await.0, StatusCode::OK);
    assert_eq!(
        harness.get(&format!("{V}/limits")).await.0,
        StatusCode::FORBIDDEN
    );
    harness
        .http
        .delete(harness.url("/__sandbox/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(harness.get(&format!("{V}/limits")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_generator_fills_the_org_deterministically_over_http() {
    let first = Harness::start().await;
    let spec = json!({"seed": 9, "accounts": 10, "contacts": 30, "person_accounts": 5, "leads": 20, "users": 2});
    let report: Value = first
        .http
        .post(first.url("/__sandbox/generate"))
        .json(&spec)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["person_accounts"], json!(5));
    let (_, page) = first
        .get(&format!(
            "{V}/query?q=SELECT+COUNT()+FROM+Account+WHERE+IsPersonAccount+=+true"
        ))
        .await;
    assert_eq!(page["totalSize"], json!(5));
    let second = Harness::start().await;
    second
        .http
        .post(second.url("/__sandbox/generate"))
        .json(&spec)
        .send()
        .await
        .unwrap();
    let phones = |harness: &Harness| -> Vec<Value> {
        harness
            .sandbox
            .org()
            .records("Contact")
            .into_iter()
            .map(|record| record.get("Phone").cloned().unwrap_or(Value::Null))
            .collect()
    };
    assert_eq!(phones(&first), phones(&second));
}

#[tokio::test]
async fn a_password_without_the_security_token_is_refused() {
    let harness = Harness::start().await;
    let credentials = harness.sandbox.credentials().clone();
    let (status, body) = harness
        .token_form(&[
            ("grant_type", "password"),
            ("client_id", &credentials.client_id),
            ("client_secret", &credentials.client_secret),
            ("username", &credentials.username),
            ("password", &credentials.password),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], json!("invalid_grant"));
}

#[tokio::test]
async fn a_deactivated_users_session_ends() {
    let harness = Harness::start().await;
    let user =
        harness
            .sandbox
            .org()
            .add_user(&NewUser::named("leaver@callsync.sandbox", "Ken", "Abe"));
    let token = harness
        .sandbox
        .issue_token("leaver@callsync.sandbox")
        .unwrap();
    let (status, _, _) = harness
        .send_as(&token, reqwest::Method::GET, &format!("{V}/limits"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let admin = harness.sandbox.admin_user();
    harness
        .sandbox
        .org()
        .update(admin, "User", user.as_str(), json!({"IsActive": false}))
        .unwrap();
    let (status, _, body) = harness
        .send_as(&token, reqwest::Method::GET, &format!("{V}/limits"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body[0]["errorCode"], json!("INVALID_SESSION_ID"));
}
