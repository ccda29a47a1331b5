//! The admin console's security over HTTP, without a browser: one-time
//! sign-in links, the session cookie's flags, the CSRF check on forms,
//! sign-out, and scoping to the signed-in organisation (another
//! organisation's call is a 404). Also `POST /v1/errors/retry`, the bulk
//! retry the console shares with the API (R9).
//! `tests/console_browser.rs` drives the same console in Chromium.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use callsync::api::{AppState, key_hash, new_key};
use callsync::console::session::new_login_link;
use callsync::store::{NewEvent, NewOrg, Store};
use callsync::test_support::TestDatabase;
use jiff::Timestamp;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

struct App {
    url: String,
    store: Store,
    admin_key: String,
    http: reqwest::Client,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl App {
    async fn spawn(db: &TestDatabase) -> App {
        let store = db.store().await;
        let now = Timestamp::now();
        for id in ["acme", "globex"] {
            store
                .create_org(
                    &NewOrg {
                        id: id.into(),
                        name: format!("{id} Inc."),
                        signing_secret: "whsec_x".into(),
                        settings_json: "{}".into(),
                        salesforce_json: None,
                    },
                    now,
                )
                .await
                .unwrap();
            let body = json!({
                "id": format!("{id}-e1"), "org": id, "call_id": format!("{id}-call-1"), "user": "u1",
                "occurred_at": "2026-11-24T01:00:00Z", "direction": "outbound",
                "customer_number": "03-1234-5678", "type": "dialing",
            });
            store
                .ingest(
                    id,
                    &[NewEvent {
                        event_id: format!("{id}-e1"),
                        call_id: format!("{id}-call-1"),
                        occurred_at: "2026-11-24T01:00:00Z".parse().unwrap(),
                        body_json: body.to_string(),
                    }],
                    now,
                )
                .await
                .unwrap();
        }
        let admin_key = new_key();
        store
            .add_api_key(&key_hash(&admin_key), "acme", "admin", "t", now)
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(callsync::server::run(
            listener,
            AppState::new(store.clone()),
            async {
                let _ = rx.await;
            },
        ));
        App {
            url,
            store,
            admin_key,
            // Redirects are checked, not followed; cookies are sent by hand.
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            _shutdown: tx,
        }
    }

    /// The token of a fresh sign-in link for `org`.
    async fn link_token(&self, org: &str) -> String {
        let path = new_login_link(&self.store, org, Timestamp::now())
            .await
            .unwrap();
        path.rsplit('/').next().unwrap().to_owned()
    }

    async fn sign_in_response(&self, token: &str, https: bool) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/console/signin", self.url))
            .form(&[("token", token)]);
        if https {
            request = request.header("x-forwarded-proto", "https");
        }
        request.send().await.unwrap()
    }

    /// Signs in to `org` and answers the `Cookie` header of the session.
    async fn sign_in(&self, org: &str) -> String {
        let token = self.link_token(org).await;
        let response = self.sign_in_response(&token, false).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
        cookie.split(';').next().unwrap().to_owned()
    }

    async fn get(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.url))
            .header(COOKIE, cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The CSRF token the session's pages carry in their forms.
    async fn csrf(&self, cookie: &str) -> String {
        let page = self
            .get("/console/errors", cookie)
            .await
            .text()
            .await
            .unwrap();
        let start = page.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
        page[start..].split('"').next().unwrap().to_owned()
    }
}

#[tokio::test]
async fn a_sign_in_link_signs_in_once_with_a_cookie_that_is_http_only_and_same_site() {
    let db = TestDatabase::sqlite();
    let app = App::spawn(&db).await;
    let token = app.link_token("acme").await;

    // Opening the link spends nothing: it shows a button that does.
    let page = app
        .http
        .get(format!("{}/console/signin/{token}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains(&token));

    let response = app.sign_in_response(&token, false).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/console/");
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("callsync_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/console"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");

    let again = app.sign_in_response(&token, false).await;
    assert_eq!(again.status(), StatusCode::GONE, "a link works once");
    assert!(again.headers().get(SET_COOKIE).is_none());

    let token = app.link_token("acme").await;
    let over_https = app.sign_in_response(&token, true).await;
    let cookie = over_https.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("Secure"), "behind https: {cookie}");
}

#[tokio::test]
async fn without_a_session_every_page_sends_the_admin_to_sign_in() {
    let db = TestDatabase::sqlite();
    let app = App::spawn(&db).await;
    for path in [
        "/console/",
        "/console/calls",
        "/console/settings",
        "/console/errors",
    ] {
        for cookie in ["", "callsync_session=forged"] {
            let response = app.get(path, cookie).await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
            assert_eq!(response.headers()[LOCATION], "/console/signin", "{path}");
        }
    }
}

#[tokio::test]
async fn a_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing() {
    let db = TestDatabase::sqlite();
    let app = App::spawn(&db).await;
    let cookie = app.sign_in("acme").await;
    let before = app.store.org("acme").await.unwrap().unwrap().settings_json;
    let settings = [
        ("timing", "call_start"),
        ("task_status", "Completed"),
        ("owner_rule", "handler"),
        ("default_region", "JP"),
        ("time_zone", "Asia/Tokyo"),
        ("language", "en"),
        ("comment_template", "{MEMO}"),
    ];
    let response = app.post("/console/settings", &cookie, &settings).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "no token");
    let mut with_wrong = settings.to_vec();
    with_wrong.push(("csrf", "0000"));
    let response = app.post("/console/settings", &cookie, &with_wrong).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "a wrong token");
    assert_eq!(
        app.store.org("acme").await.unwrap().unwrap().settings_json,
        before
    );

    // Another session's token is as wrong as a made-up one.
    let other = app.sign_in("acme").await;
    let other_token = app.csrf(&other).await;
    let mut with_other = settings.to_vec();
    with_other.push(("csrf", &other_token));
    let response = app.post("/console/settings", &cookie, &with_other).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let token = app.csrf(&cookie).await;
    let mut with_right = settings.to_vec();
    with_right.push(("csrf", &token));
    let response = app.post("/console/settings", &cookie, &with_right).await;
    assert_eq!(response.status(), StatusCode::OK);
    let saved: Value =
        serde_json::from_str(&app.store.org("acme").await.unwrap().unwrap().settings_json).unwrap();
    assert_eq!(saved["timing"], "call_start");
}

#[tokio::test]
async fn another_organisations_call_is_a_404_and_never_listed() {
    let db = TestDatabase::sqlite();
    let app = App::spawn(&db).await;
    let cookie = app.sign_in("acme").await;
    assert_eq!(
        app.get("/console/calls/acme-call-1", &cookie)
            .await
            .status(),
        StatusCode::OK
    );
    let theirs = app.get("/console/calls/globex-call-1", &cookie).await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let never = app.get("/console/calls/no-such-call", &cookie).await;
    assert_eq!(never.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        theirs.text().await.unwrap(),
        never.text().await.unwrap(),
        "another organisation's call looks exactly like no call"
    );
    let list = app
        .get("/console/calls", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains("acme-call-1"));
    assert!(!list.contains("globex-call-1"));
}

#[tokio::test]
async fn signing_out_ends_the_session_for_good() {
    let db = TestDatabase::sqlite();
    let app = App::spawn(&db).await;
    let cookie = app.sign_in("acme").await;
    let token = app.csrf(&cookie).await;
    let response = app
        .post("/console/signout", &cookie, &[("csrf", &token)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let removal = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(removal.starts_with("callsync_session=;"), "{removal}");
    let after = app.get("/console/", &cookie).await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(after.headers()[LOCATION], "/console/signin");
}

#[tokio::test]
async fn r9_bulk_retry_over_the_api_names_the_field_it_refuses() {
    let db = TestDatabase::sqlite();
    let app = App::spawn(&db).await;
    let retry = |body: Value| {
        app.http
            .post(format!("{}/v1/errors/retry", app.url))
            .bearer_auth(&app.admin_key)
            .json(&body)
            .send()
    };
    for (body, field) in [
        (json!({}), "code"),
        (json!({"code": "X", "since": "yesterday"}), "since"),
        (json!({"step": ""}), "step"),
        (json!({"code": "X", "colour": "red"}), "colour"),
    ] {
        let response = retry(body.clone()).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        let error: Value = response.json().await.unwrap();
        assert_eq!(
            error["error"]["details"][0]["field"], field,
            "{body}: {error}"
        );
    }
    let response = retry(
        json!({"code": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "since": "2026-01-01T00:00:00Z"}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer, json!({"retried": 0, "call_ids": []}));
}

/// Follows a sign-in with Salesforce through the sandbox's authorize
/// endpoint, which approves at once, and answers the callback's response.
async fn sign_in_with_salesforce(
    http: &reqwest::Client,
    url: &str,
    org: &str,
) -> reqwest::Response {
    let start = http
        .post(format!("{url}/console/signin/salesforce"))
        .form(&[("org", org)])
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let authorize = start.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        authorize.contains("/services/oauth2/authorize"),
        "{authorize}"
    );
    assert!(authorize.contains("code_challenge="), "PKCE: {authorize}");
    let state_cookie = start.headers()[SET_COOKIE].to_str().unwrap();
    let state_cookie = state_cookie.split(';').next().unwrap().to_owned();
    let approved = http.get(&authorize).send().await.unwrap();
    let callback = approved.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        callback.starts_with(&format!("{url}/console/signin/salesforce/callback")),
        "{callback}"
    );
    http.get(&callback)
        .header(COOKIE, state_cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_callsync_admin_signs_in_with_salesforce_and_nobody_else_does() {
    let callsync::test_support::SandboxOrg {
        sandbox,
        connection,
        ..
    } = callsync::test_support::SandboxOrg::start().await;
    let db = TestDatabase::sqlite();
    let store = db.store().await;
    store
        .create_org(
            &NewOrg {
                id: "acme".into(),
                name: "Acme".into(),
                signing_secret: "s".into(),
                settings_json: "{}".into(),
                salesforce_json: Some(connection.to_string()),
            },
            Timestamp::now(),
        )
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(callsync::server::run(
        listener,
        AppState::new(store.clone()),
        async {
            let _ = stopped.await;
        },
    ));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Not (yet) marked as a callsync admin: refused.
    let refused = sign_in_with_salesforce(&http, &url, "acme").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("callsync_session="))
    );

    store
        .add_console_admin("acme", &sandbox.credentials().username)
        .await
        .unwrap();
    let signed_in = sign_in_with_salesforce(&http, &url, "acme").await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()[LOCATION], "/console/");
    let session = signed_in
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("callsync_session="))
        .expect("a session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    let page = http
        .get(format!("{url}/console/"))
        .header(COOKIE, session.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    // A callback without the browser's state cookie is refused.
    let start = http
        .post(format!("{url}/console/signin/salesforce"))
        .form(&[("org", "acme")])
        .send()
        .await
        .unwrap();
    let authorize = start.headers()[LOCATION].to_str().unwrap().to_owned();
    let callback = http.get(&authorize).send().await.unwrap().headers()[LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        http.get(&callback).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    // An organisation without Salesforce cannot be signed in to this way.
    let unknown = http
        .post(format!("{url}/console/signin/salesforce"))
        .form(&[("org", "nobody")])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn r9_the_error_log_shows_each_remedy_in_the_consoles_language() {
    let db = TestDatabase::sqlite();
    let app = App::spawn(&db).await;
    let now = Timestamp::now();
    // The error a validation rule causes, stored as the worker stores it: the English
    // remedy, which the API answers.
    let message = "Calls need a comment";
    let remedy = callsync::crm::remedy::remedy(
        &callsync::crm::Failure {
            step: callsync::crm::Step::CreateTask,
            code: "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            message,
            fields: &[],
        },
        None,
    );
    let claimed = app
        .store
        .claim("test", now, std::time::Duration::from_secs(60), 10)
        .await
        .unwrap();
    let item = claimed.iter().find(|item| item.org_id == "acme").unwrap();
    let error = callsync::store::NewError {
        step: "create_task".into(),
        code: "FIELD_CUSTOM_VALIDATION_EXCEPTION".into(),
        message: message.into(),
        remedy: remedy.clone(),
    };
    app.store
        .fail(item, &Default::default(), &error, now)
        .await
        .unwrap()
        .expect("an error-log entry");
    let cookie = app.sign_in("acme").await;

    let english = app
        .get("/console/errors", &format!("{cookie}; callsync_lang=en"))
        .await
        .text()
        .await
        .unwrap();
    assert!(english.contains(&remedy), "{english}");
    let japanese = app
        .get("/console/errors", &format!("{cookie}; callsync_lang=ja"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!japanese.contains(&remedy), "{japanese}");
    assert!(
        japanese.contains("Salesforce の入力規則が ToDo を拒否しました: Calls need a comment"),
        "{japanese}"
    );
    // The API keeps answering the stored English text.
    let answer: Value = app
        .http
        .get(format!("{}/v1/errors", app.url))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer.to_string().contains(&remedy), "{answer}");
}

#[tokio::test]
async fn r12_r13_the_settings_page_saves_the_policy_and_unknown_numbers_and_names_what_is_wrong() {
    let db = TestDatabase::sqlite();
    let app = App::spawn(&db).await;
    let cookie = app.sign_in("acme").await;
    let page = app
        .get("/console/settings", &cookie)
        .await
        .text()
        .await
        .unwrap();
    for field in [
        "policy_missed_incoming",
        "policy_never_log_numbers",
        "unknown_action",
    ] {
        assert!(page.contains(&format!("name=\"{field}\"")), "{field}");
    }
    let token = app.csrf(&cookie).await;
    let mut form = vec![
        ("csrf", token.as_str()),
        ("timing", "call_end"),
        ("task_status", "Completed"),
        ("owner_rule", "handler"),
        ("default_region", "JP"),
        ("time_zone", "Asia/Tokyo"),
        ("language", "en"),
        ("comment_template", "{MEMO}"),
        ("policy_voicemail", "dont_log"),
        ("policy_missed_incoming", "log_as_open"),
        ("policy_open_status", "Not Started"),
        ("policy_min_talk_seconds", "7"),
        ("policy_too_short", "dont_log"),
        (
            "policy_never_log_numbers",
            "03-1234-5678\r\n\r\n+81 90 1111 2222\r\n",
        ),
        ("unknown_action", "create_lead"),
        ("unknown_company_template", "Walk-in"),
        ("unknown_auto_assign", "on"),
        ("skip_salesforce_check", "on"),
    ];
    let response = app.post("/console/settings", &cookie, &form).await;
    assert_eq!(response.status(), StatusCode::OK);
    let saved: Value =
        serde_json::from_str(&app.store.org("acme").await.unwrap().unwrap().settings_json).unwrap();
    assert_eq!(saved["policy"]["kinds"]["voicemail"], "dont_log");
    assert_eq!(saved["policy"]["kinds"]["missed_incoming"], "log_as_open");
    assert_eq!(saved["policy"]["kinds"]["outgoing"], "log");
    assert_eq!(saved["policy"]["min_talk_seconds"], 7);
    assert_eq!(saved["policy"]["too_short"], "dont_log");
    assert_eq!(
        saved["policy"]["never_log_numbers"],
        json!(["03-1234-5678", "+81 90 1111 2222"])
    );
    assert_eq!(saved["unknown_numbers"]["action"], "create_lead");
    assert_eq!(saved["unknown_numbers"]["company_template"], "Walk-in");
    assert_eq!(
        saved["unknown_numbers"]["last_name_template"],
        "{CUSTOMER_NUMBER}"
    );
    assert_eq!(saved["unknown_numbers"]["auto_assign"], true);

    // A Contact without its Account is refused beside its field, and nothing changes.
    form.retain(|(name, _)| !["unknown_action", "policy_min_talk_seconds"].contains(name));
    form.push(("unknown_action", "create_contact"));
    form.push(("policy_min_talk_seconds", "seven"));
    let response = app.post("/console/settings", &cookie, &form).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("data-field=\"policy.min_talk_seconds\""),
        "{page}"
    );
    let unchanged: Value =
        serde_json::from_str(&app.store.org("acme").await.unwrap().unwrap().settings_json).unwrap();
    assert_eq!(unchanged, saved);
}

/// The organisation's stored settings, as JSON.
async fn stored_settings(store: &Store, org: &str) -> Value {
    serde_json::from_str(&store.org(org).await.unwrap().unwrap().settings_json).unwrap()
}

#[tokio::test]
async fn r14_the_settings_page_saves_who_writes_and_r11_refuses_a_bad_username_or_window() {
    let db = TestDatabase::sqlite();
    let app = App::spawn(&db).await;
    let cookie = app.sign_in("acme").await;
    let cookie = format!("{cookie}; callsync_lang=en");
    let page = app
        .get("/console/settings", &cookie)
        .await
        .text()
        .await
        .unwrap();
    for field in [
        "write_mode",
        "write_integration_username",
        "write_coalesce_seconds",
    ] {
        assert!(page.contains(&format!("name=\"{field}\"")), "{field}");
    }
    // Nothing stored yet: as each user (R14's default), and the preview says so.
    assert!(
        page.contains("id=\"write_mode_as_each_user\" value=\"as_each_user\" checked"),
        "{page}"
    );
    assert!(
        page.contains("Written by the Salesforce user linked to the phone user"),
        "{page}"
    );

    let token = app.csrf(&cookie).await;
    let form = |mode: &'static str, username: &'static str, window: &'static str| {
        vec![
            ("csrf", token.clone()),
            ("timing", "call_end".to_owned()),
            ("task_status", "Completed".to_owned()),
            ("owner_rule", "handler".to_owned()),
            ("default_region", "JP".to_owned()),
            ("time_zone", "Asia/Tokyo".to_owned()),
            ("language", "en".to_owned()),
            ("comment_template", "{MEMO}".to_owned()),
            ("write_mode", mode.to_owned()),
            ("write_integration_username", username.to_owned()),
            ("write_coalesce_seconds", window.to_owned()),
            ("skip_salesforce_check", "on".to_owned()),
        ]
    };
    let post = |form: Vec<(&'static str, String)>| {
        let app = &app;
        let cookie = cookie.clone();
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post("/console/settings", &cookie, &form).await
        }
    };

    let response = post(form("integration_user", " sync@acme.example ", "30")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains("id=\"saved\""), "{page}");
    assert!(
        page.contains("Written by the integration user sync@acme.example."),
        "the preview follows who writes: {page}"
    );
    let saved = stored_settings(&app.store, "acme").await;
    assert_eq!(
        saved["writing"],
        json!({
            "mode": "integration_user",
            "integration_username": "sync@acme.example",
            "coalesce_seconds": 30
        }),
        "{saved}"
    );
    // The page shows what is stored.
    let page = app
        .get("/console/settings", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"write_mode_integration_user\" value=\"integration_user\" checked"),
        "{page}"
    );
    assert!(page.contains("value=\"sync@acme.example\""), "{page}");

    // R11: each problem beside its own field, the form as sent, nothing saved.
    for (username, window, field, kept) in [
        (
            "not a user",
            "30",
            "writing.integration_username",
            "value=\"not a user\"",
        ),
        (
            "sync@acme.example",
            "301",
            "writing.coalesce_seconds",
            "value=\"301\"",
        ),
        (
            "sync@acme.example",
            "half a minute",
            "writing.coalesce_seconds",
            "value=\"half a minute\"",
        ),
    ] {
        let response = post(form("integration_user", username, window)).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{username} {window}"
        );
        let page = response.text().await.unwrap();
        assert!(
            page.contains(&format!("class=\"problem\" data-field=\"{field}\"")),
            "{field}: {page}"
        );
        assert_eq!(
            page.matches("class=\"problem\"").count(),
            1,
            "only {field} is wrong: {page}"
        );
        assert!(page.contains(kept), "the form as sent: {page}");
        assert!(!page.contains("id=\"saved\""), "{page}");
        assert_eq!(stored_settings(&app.store, "acme").await, saved);
    }

    // Back to each user: the username may stay for later, and is kept.
    let response = post(form("as_each_user", "sync@acme.example", "0")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let saved = stored_settings(&app.store, "acme").await;
    assert_eq!(saved["writing"]["mode"], "as_each_user");
    assert_eq!(saved["writing"]["coalesce_seconds"], 0);
}

#[tokio::test]
async fn r14_the_overview_shows_the_api_usage_the_org_api_reports_and_what_waits_for_it() {
    let db = TestDatabase::sqlite();
    let app = App::spawn(&db).await;
    let cookie = app.sign_in("acme").await;
    let cookie = format!("{cookie}; callsync_lang=en");
    let overview = app.get("/console/", &cookie).await.text().await.unwrap();
    assert!(overview.contains("id=\"api-usage-unknown\""), "{overview}");

    // Past nine tenths of callsync's share: the optional updates wait (R14), and one call
    // waits for the budget as the worker parks it.
    let now = Timestamp::now();
    app.store
        .put_api_usage(
            "acme",
            &callsync::store::ApiUsageRow {
                used: 850,
                allowance: 1_000,
                budget: 900,
                observed_at: now,
            },
        )
        .await
        .unwrap();
    let claimed = app
        .store
        .claim("test", now, std::time::Duration::from_secs(60), 10)
        .await
        .unwrap();
    let item = claimed.iter().find(|item| item.org_id == "acme").unwrap();
    app.store
        .wait(
            item,
            now.checked_add(jiff::SignedDuration::from_mins(5)).unwrap(),
            callsync::store::WaitReason::ApiBudget,
            false,
            &callsync::store::HistoryLine {
                action: "budget".into(),
                outcome: "deferred".into(),
                detail: None,
            },
            now,
        )
        .await
        .unwrap();

    let org: Value = app
        .http
        .get(format!("{}/v1/org", app.url))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(org["api_usage"]["deferring"], "updates", "{org}");

    let overview = app.get("/console/", &cookie).await.text().await.unwrap();
    for shown in [
        format!("<span id=\"api-used\">{}</span>", org["api_usage"]["used"]),
        format!(
            "<span id=\"api-allowance\">{}</span>",
            org["api_usage"]["allowance"]
        ),
        format!("share: {} requests", org["api_usage"]["budget"]),
        "data-deferring=\"updates\"".to_owned(),
        "optional updates (analysis, memo edits) wait".to_owned(),
        "Calls waiting for the API budget: 1".to_owned(),
    ] {
        assert!(overview.contains(&shown), "{shown}: {overview}");
    }
    assert!(!overview.contains("id=\"api-usage-unknown\""));
}
