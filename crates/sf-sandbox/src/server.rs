//! The HTTP side: the axum router for Salesforce's paths, the gate every API call passes
//! (session, API version, daily limit, faults, the `Sforce-Limit-Info` header, counters),
//! and the accept loop. The accept loop is our own (hyper-util's connection builder)
//! rather than `axum::serve` because one fault must drop a connection after the write
//! committed, which needs a handle on each connection; it also serves TLS.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::api::{self, ApiResult, Caller, Reply};
use crate::auth::{Credentials, OAuthError, SessionPolicy, Sessions, TokenContext, user_info};
use crate::error::ApiError;
use crate::faults::{Fault, Faults};
use crate::ids::RecordId;
use crate::org::{Journal, Org, OrgState};
use crate::query_routes::{self, Cursors};

/// Request counters, for benchmarks and tests that count API calls.
#[derive(Debug, Default)]
pub struct Counters {
    total: AtomicU64,
    by_endpoint: Mutex<BTreeMap<String, u64>>,
    by_user: Mutex<BTreeMap<String, u64>>,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CounterSnapshot {
    /// API calls that passed authentication.
    pub total: u64,
    /// `"GET /services/data/{version}/sobjects/{object}/{id}"` → calls.
    pub by_endpoint: BTreeMap<String, u64>,
    /// User Id → calls.
    pub by_user: BTreeMap<String, u64>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Counters {
    fn count(&self, endpoint: String, user: &RecordId) {
        self.total.fetch_add(1, Ordering::Relaxed);
        *lock(&self.by_endpoint).entry(endpoint).or_default() += 1;
        *lock(&self.by_user).entry(user.to_string()).or_default() += 1;
    }

    /// The counts now.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            total: self.total.load(Ordering::Relaxed),
            by_endpoint: lock(&self.by_endpoint).clone(),
            by_user: lock(&self.by_user).clone(),
        }
    }

    /// Starts counting from zero.
    pub fn reset(&self) {
        self.total.store(0, Ordering::Relaxed);
        lock(&self.by_endpoint).clear();
        lock(&self.by_user).clear();
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub org: Arc<Org>,
    pub sessions: Sessions,
    pub credentials: Credentials,
    pub faults: Faults,
    pub counters: Counters,
    pub cursors: Cursors,
    pub policy: Mutex<SessionPolicy>,
    pub base_url: String,
    pub latest_version: String,
    pub batch_size: usize,
    pub daily_api_limit: AtomicU64,
    pub api_used: AtomicU64,
    pub seed: u64,
    pub data_file: Option<std::path::PathBuf>,
}

impl Shared {
    fn limit_header(&self) -> Option<HeaderValue> {
        let used = self.api_used.load(Ordering::Relaxed);
        let max = self.daily_api_limit.load(Ordering::Relaxed);
        HeaderValue::from_str(&format!("api-usage={used}/{max}")).ok()
    }

    fn major_version_ok(&self, version: &str) -> Option<String> {
        let number = version.strip_prefix('v')?;
        let (major, minor) = number.split_once('.')?;
        let major: u32 = major.parse().ok()?;
        let latest: u32 = self.latest_version.split('.').next()?.parse().ok()?;
        (minor == "0" && (20..=latest).contains(&major)).then(|| number.to_string())
    }
}

/// The connection a request came on, so a fault can drop it.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionKill(Arc<Notify>);

/// Set by the gate for the handlers: the authenticated user and the API version.
#[derive(Debug, Clone)]
pub(crate) struct Authed {
    pub user: RecordId,
    pub version: String,
    pub options: crate::org::WriteOptions,
}

/// The write options a request's headers ask for: `Sforce-Auto-Assign` (`TRUE`/`FALSE`,
/// not case-sensitive, default TRUE) and `Sforce-Duplicate-Rule-Header`
/// (`allowSave=true; includeRecordDetails=...`), REST API Developer Guide, "Assignment
/// Rule Header" and "Duplicate Rule Header".
fn write_options(headers: &axum::http::HeaderMap) -> crate::org::WriteOptions {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let auto_assign =
        text("sforce-auto-assign").is_none_or(|value| !value.trim().eq_ignore_ascii_case("false"));
    let allow_duplicate_save = text("sforce-duplicate-rule-header").is_some_and(|value| {
        value.split(';').any(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            name.trim().eq_ignore_ascii_case("allowSave")
                && value.trim().eq_ignore_ascii_case("true")
        })
    });
    crate::org::WriteOptions {
        auto_assign,
        allow_duplicate_save,
    }
}

type SharedState = State<Arc<Shared>>;

fn json_response(status: StatusCode, body: Value) -> Response {
    crate::error::salesforce_json(status, &body)
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Some(body) => json_response(self.status, body),
            None => self.status.into_response(),
        };
        if let Some(location) = self
            .location
            .and_then(|location| HeaderValue::from_str(&location).ok())
        {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }
}

fn reply(result: ApiResult) -> Response {
    match result {
        Ok(reply) => reply.into_response(),
        Err(error) => error.into_response(),
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("Bearer") || scheme.eq_ignore_ascii_case("OAuth"))
        .then_some(token.trim())
}

fn fault_response(fault: &Fault) -> Option<Response> {
    match fault {
        Fault::ServiceUnavailable => Some(json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!([{"errorCode": "SERVER_UNAVAILABLE", "message": "Server temporarily unavailable. Please try again later."}]),
        )),
        Fault::InternalError => Some(json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!([{"errorCode": "UNKNOWN_EXCEPTION",
                    "message": "An unexpected error occurred. Please include this ErrorId if you contact support: 1803462914-31570 (-1412196416)"}]),
        )),
        Fault::RequestLimitExceeded => Some(ApiError::request_limit_exceeded().into_response()),
        Fault::UnableToLockRow => Some(ApiError::unable_to_lock_row(None).into_response()),
        _ => None,
    }
}

/// The gate in front of every `/services/data/vXX.X/...` route.
async fn api_gate(State(shared): SharedState, mut request: Request, next: Next) -> Response {
    let mut response = gate_inner(&shared, &mut request, next).await;
    if let Some(value) = shared.limit_header() {
        response.headers_mut().insert("Sforce-Limit-Info", value);
    }
    response
}

async fn gate_inner(shared: &Arc<Shared>, request: &mut Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let version_segment = path
        .trim_start_matches("/services/data/")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let Some(version) = shared.major_version_ok(&version_segment) else {
        // mappings/create-invalid-api-version.json: an unknown version is a plain 404.
        return ApiError::not_found().into_response();
    };
    let Some(token) = bearer_token(request.headers()).map(str::to_string) else {
        return ApiError::invalid_session().into_response();
    };
    let Some(user) = shared.sessions.authenticate(&token) else {
        return ApiError::invalid_session().into_response();
    };
    // Deactivating a user ends their sessions in Salesforce.
    if !shared.org.read().user_is_active(&user) {
        shared.sessions.expire(&token);
        return ApiError::invalid_session().into_response();
    }
    let used = shared.api_used.fetch_add(1, Ordering::Relaxed) + 1;
    if used > shared.daily_api_limit.load(Ordering::Relaxed) {
        shared.api_used.fetch_sub(1, Ordering::Relaxed);
        return ApiError::request_limit_exceeded().into_response();
    }
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map(|matched| format!("{method} {}", matched.as_str()))
        .unwrap_or_else(|| format!("{method} {path}"));
    shared.counters.count(endpoint, &user);
    let (latency, fault) = shared.faults.draw(method.as_str(), &path);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let is_write = method != Method::GET && method != Method::HEAD;
    match &fault {
        Some(Fault::Latency { millis }) => {
            tokio::time::sleep(std::time::Duration::from_millis(*millis)).await
        }
        Some(Fault::ExpireSession) => {
            shared.sessions.expire(&token);
            return ApiError::invalid_session().into_response();
        }
        Some(Fault::UnableToLockRow) if !is_write => {}
        Some(other) => {
            if let Some(response) = fault_response(other) {
                return response;
            }
        }
        None => {}
    }
    let options = write_options(request.headers());
    request.extensions_mut().insert(Authed {
        user,
        version,
        options,
    });
    let kill = request.extensions().get::<ConnectionKill>().cloned();
    let response = next.run(std::mem::take(request)).await;
    if fault == Some(Fault::DropAfterCommit)
        && let Some(ConnectionKill(kill)) = kill
    {
        // The handler has committed; now the client loses the answer.
        kill.notify_one();
        std::future::pending::<()>().await;
    }
    response
}

fn caller(authed: &Authed) -> Caller<'_> {
    Caller {
        user: authed.user,
        version: &authed.version,
        options: authed.options,
    }
}

fn authed_of(request_extensions: &axum::http::Extensions) -> Option<Authed> {
    request_extensions.get::<Authed>().cloned()
}

/// Extracts what the gate set; routes behind the gate always have it.
#[derive(Debug, Clone)]
pub(crate) struct Auth(pub Authed);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Auth {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        authed_of(&parts.extensions)
            .map(Auth)
            .ok_or_else(|| ApiError::invalid_session().into_response())
    }
}

fn write<T>(
    shared: &Shared,
    operation: impl FnOnce(&mut OrgState, &mut Journal) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    shared.org.write().atomically(operation)
}

// ----- Handlers -----

async fn versions(State(shared): SharedState) -> Response {
    let latest: u32 = shared
        .latest_version
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .unwrap_or(62);
    let seasons = ["Winter", "Spring", "Summer"];
    let list: Vec<Value> = (20..=latest)
        .map(|major| {
            // v50.0 was Winter '21; three releases a year since.
            let offset = i64::from(major) - 50;
            let season = seasons[offset.rem_euclid(3) as usize];
            let year = 21 + offset.div_euclid(3);
            json!({"label": format!("{season} '{year:02}"), "url": format!("/services/data/v{major}.0"), "version": format!("{major}.0")})
        })
        .collect();
    json_response(StatusCode::OK, Value::Array(list))
}

async fn resources(Auth(authed): Auth) -> Response {
    let base = format!("/services/data/v{}", authed.version);
    let names = [
        "sobjects",
        "query",
        "queryAll",
        "search",
        "composite",
        "limits",
        "recent",
        "tooling",
        "connect",
    ];
    let map: serde_json::Map<String, Value> = names
        .iter()
        .map(|name| ((*name).to_string(), json!(format!("{base}/{name}"))))
        .collect();
    json_response(StatusCode::OK, Value::Object(map))
}

async fn describe_global(State(shared): SharedState, Auth(authed): Auth) -> Response {
    reply(api::describe_global(&shared.org.read(), caller(&authed)))
}

async fn object_info(
    State(shared): SharedState,
    Auth(authed): Auth,
    Path((_, object)): Path<(String, String)>,
) -> Response {
    reply(api::object_info(
        &shared.org.read(),
        caller(&authed),
        &object,
    ))
}

async fn describe(
    State(shared): SharedState,
    Auth(authed): Auth,
    Path((_, object)): Path<(String, String)>,
) -> Response {
    reply(api::describe(&shared.org.read(), caller(&authed), &object))
}

async fn create(
    State(shared): SharedState,
    Auth(authed): Auth,
    Path((_, object)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    reply(api::parse_body(&body).and_then(|body| {
        write(&shared, |state, journal| {
            api::create(state, journal, caller(&authed), &object, &body)
        })
    }))
}

async fn retrieve(
    State(shared): SharedState,
    Auth(authed): Auth,
    Path((_, object, id)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let fields = query.get("fields").map(String::as_str);
    reply(api::retrieve(
        &shared.org.read(),
        caller(&authed),
        &object,
        &id,
        fields,
    ))
}

async fn update(
    State(shared): SharedState,
    Auth(authed): Auth,
    Path((_, object, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    reply(api::parse_body(&body).and_then(|body| {
        write(&shared, |state, journal| {
            api::update(state, journal, caller(&authed), &object, &id, &body)
        })
    }))
}

async fn delete(
    State(shared): SharedState,
    Auth(authed): Auth,
    Path((_, object, id)): Path<(String, String, String)>,
) -> Response {
    reply(write(&shared, |state, journal| {
        api::delete(state, journal, caller(&authed), &object, &id)
    }))
}

async fn by_external_id(
    State(shared): SharedState,
    Auth(authed): Auth,
    Path((_, object, field, value)): Path<(String, String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let fields = query.get("fields").map(String::as_str);
    reply(api::retrieve_by_external_id(
        &shared.org.read(),
        caller(&authed),
        &object,
        &field,
        &value,
        fields,
    ))
}

async fn upsert(
    State(shared): SharedState,
    Auth(authed): Auth,
    Path((_, object, field, value)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Response {
    reply(api::parse_body(&body).and_then(|body| {
        write(&shared, |state, journal| {
            api::upsert(
                state,
                journal,
                caller(&authed),
                &object,
                &field,
                &value,
                &body,
            )
        })
    }))
}

async fn updated(
    State(shared): SharedState,
    Path((_, object)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let state = shared.org.read();
    reply(api::updated(
        &state,
        &object,
        query.get("start").map(String::as_str),
        query.get("end").map(String::as_str),
    ))
}

async fn deleted(
    State(shared): SharedState,
    Path((_, object)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let state = shared.org.read();
    reply(api::deleted(
        &state,
        &object,
        query.get("start").map(String::as_str),
        query.get("end").map(String::as_str),
    ))
}

async fn limits(State(shared): SharedState) -> Response {
    let max = shared.daily_api_limit.load(Ordering::Relaxed);
    let used = shared.api_used.load(Ordering::Relaxed);
    let pair = |max: u64, remaining: u64| json!({"Max": max, "Remaining": remaining});
    json_response(
        StatusCode::OK,
        json!({
            "ConcurrentAsyncGetReportInstances": pair(200, 200),
            "ConcurrentSyncReportRuns": pair(20, 20),
            // Names and Developer Edition figures from a recorded answer (nowellpoint
            // Limits.java) and the guide's list (resources_limits).
            "DailyAnalyticsDataflowJobExecutions": pair(50, 50),
            "DailyApiRequests": pair(max, max.saturating_sub(used)),
            "DailyAsyncApexExecutions": pair(250_000, 250_000),
            "DailyBulkApiBatches": pair(15_000, 15_000),
            "DailyBulkApiRequests": pair(10_000, 10_000),
            "DailyBulkV2QueryFileStorageMB": pair(976_562, 976_562),
            "DailyBulkV2QueryJobs": pair(10_000, 10_000),
            "DailyDurableGenericStreamingApiEvents": pair(10_000, 10_000),
            "DailyDurableStreamingApiEvents": pair(10_000, 10_000),
            "DailyGenericStreamingApiEvents": pair(10_000, 10_000),
            "DailyStreamingApiEvents": pair(1_000_000, 1_000_000),
            "DataStorageMB": pair(1024, 1024),
            "FileStorageMB": pair(1024, 1024),
            "HourlyODataCallout": pair(20_000, 20_000),
            "HourlyTimeBasedWorkflow": pair(1000, 1000),
            "MassEmail": pair(10, 10),
            "SingleEmail": pair(5000, 5000),
        }),
    )
}

async fn collection_create(
    State(shared): SharedState,
    Auth(authed): Auth,
    body: Bytes,
) -> Response {
    reply(
        api::parse_body(&body).and_then(|body| {
            api::collection_create(&mut shared.org.write(), caller(&authed), &body)
        }),
    )
}

async fn collection_update(
    State(shared): SharedState,
    Auth(authed): Auth,
    body: Bytes,
) -> Response {
    reply(
        api::parse_body(&body).and_then(|body| {
            api::collection_update(&mut shared.org.write(), caller(&authed), &body)
        }),
    )
}

async fn collection_delete(
    State(shared): SharedState,
    Auth(authed): Auth,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let ids = query.get("ids").cloned().unwrap_or_default();
    if ids.split(',').all(|id| id.trim().is_empty()) {
        // restforce spec/fixtures/sobject/composite_sobjects_destroy_bad_request_response.json.
        return ApiError::bad_request(crate::error::ErrorItem::new(
            "REQUIRED_FIELD_MISSING",
            "At least 1 Id is required.",
        ))
        .into_response();
    }
    let all_or_none = query
        .get("allOrNone")
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    reply(api::collection_delete(
        &mut shared.org.write(),
        caller(&authed),
        &ids,
        all_or_none,
    ))
}

fn split_list(text: Option<&String>) -> Vec<String> {
    text.map(|text| {
        text.split(',')
            .map(|item| item.trim().to_string())
            .filter(|item| !item.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

async fn collection_retrieve(
    State(shared): SharedState,
    Auth(authed): Auth,
    Path((_, object)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let ids = split_list(query.get("ids"));
    let fields = split_list(query.get("fields"));
    reply(api::collection_retrieve(
        &shared.org.read(),
        caller(&authed),
        &object,
        &ids,
        &fields,
    ))
}

async fn collection_retrieve_post(
    State(shared): SharedState,
    Auth(authed): Auth,
    Path((_, object)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let result = api::parse_body(&body).and_then(|body| {
        let list = |name: &str| -> Vec<String> {
            body.get(name)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        api::collection_retrieve(
            &shared.org.read(),
            caller(&authed),
            &object,
            &list("ids"),
            &list("fields"),
        )
    });
    reply(result)
}

async fn collection_upsert(
    State(shared): SharedState,
    Auth(authed): Auth,
    Path((_, object, field)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    reply(api::parse_body(&body).and_then(|body| {
        api::collection_upsert(
            &mut shared.org.write(),
            caller(&authed),
            &object,
            &field,
            &body,
        )
    }))
}

async fn query(
    State(shared): SharedState,
    Auth(authed): Auth,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    reply(query_routes::start(
        &shared,
        caller(&authed),
        query.get("q").map(String::as_str),
        false,
    ))
}

async fn query_all(
    State(shared): SharedState,
    Auth(authed): Auth,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    reply(query_routes::start(
        &shared,
        caller(&authed),
        query.get("q").map(String::as_str),
        true,
    ))
}

async fn query_more(
    State(shared): SharedState,
    Auth(authed): Auth,
    Path((_, locator)): Path<(String, String)>,
) -> Response {
    reply(query_routes::more(&shared, caller(&authed), &locator))
}

async fn search(
    State(shared): SharedState,
    Auth(authed): Auth,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    reply(query_routes::search(
        &shared,
        caller(&authed),
        query.get("q").map(String::as_str),
    ))
}

async fn composite(State(shared): SharedState, Auth(authed): Auth, body: Bytes) -> Response {
    reply(
        api::parse_body(&body)
            .and_then(|body| crate::composite::run(&shared, caller(&authed), &body)),
    )
}

// ----- OAuth, identity, SOAP login -----

fn oauth_error(error: OAuthError) -> Response {
    json_response(StatusCode::BAD_REQUEST, error.body())
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn parse_form(body: &[u8]) -> HashMap<String, String> {
    serde_urlencoded_like(body)
}

/// `application/x-www-form-urlencoded` decoding (axum's `Form` would answer errors in
/// its own shape; Salesforce answers OAuth errors as JSON).
fn serde_urlencoded_like(body: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3])
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        index += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn token(State(shared): SharedState, headers: HeaderMap, body: Bytes) -> Response {
    let form = parse_form(&body);
    let basic = basic_credentials(&headers);
    let org = shared.org.read();
    let policy = lock(&shared.policy).clone();
    let context = TokenContext {
        credentials: &shared.credentials,
        org: &org,
        sessions: &shared.sessions,
        policy: &policy,
        base_url: &shared.base_url,
    };
    match context.grant(&form, basic) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(error) => oauth_error(error),
    }
}

async fn authorize(
    State(shared): SharedState,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let org = shared.org.read();
    let policy = lock(&shared.policy).clone();
    let context = TokenContext {
        credentials: &shared.credentials,
        org: &org,
        sessions: &shared.sessions,
        policy: &policy,
        base_url: &shared.base_url,
    };
    match context.authorize(&query) {
        Ok(location) => match HeaderValue::from_str(&location) {
            Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
            Err(_) => oauth_error(OAuthError {
                error: "invalid_request",
                description: "bad redirect_uri".to_string(),
            }),
        },
        Err(error) => oauth_error(error),
    }
}

/// `POST /services/oauth2/revoke` with the form field `token`: 200 with an empty body, or
/// 400 `invalid_token` for a token Salesforce does not know (Mobile SDK Developer Guide,
/// "Revoking OAuth Tokens"; "Revoking OAuth 2.0 access tokens and refresh tokens",
/// Salesforce Developers Blog, 2011).
async fn revoke(State(shared): SharedState, body: Bytes) -> Response {
    let form = parse_form(&body);
    revoke_token(&shared, form.get("token").map(String::as_str))
}

/// `GET /services/oauth2/revoke?token=…`, the "blind GET" variant of the same.
async fn revoke_by_get(
    State(shared): SharedState,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    revoke_token(&shared, query.get("token").map(String::as_str))
}

fn revoke_token(shared: &Shared, token: Option<&str>) -> Response {
    match token {
        Some(token) if shared.sessions.revoke(token) => StatusCode::OK.into_response(),
        _ => oauth_error(OAuthError {
            error: "invalid_token",
            description: "invalid token".to_string(),
        }),
    }
}

async fn userinfo(State(shared): SharedState, headers: HeaderMap) -> Response {
    let Some(user) = bearer_token(&headers).and_then(|token| shared.sessions.user_of(token)) else {
        // The identity service answers a bad token in text, with 403.
        return (StatusCode::FORBIDDEN, "Bad_OAuth_Token").into_response();
    };
    json_response(
        StatusCode::OK,
        user_info(&shared.org.read(), &user, &shared.base_url),
    )
}

fn xml_field(body: &str, name: &str) -> Option<String> {
    // Matches `<username>`, `<n1:username>`, `<urn:username>`.
    let mut search_from = 0;
    while let Some(position) = body[search_from..].find(&format!("{name}>")) {
        let start = search_from + position;
        let before = body[..start].rfind('<')?;
        let tag = &body[before + 1..start];
        if !tag.starts_with('/') && !tag.contains(' ') && !tag.contains('>') {
            let value_start = start + name.len() + 1;
            let value_end = body[value_start..].find("</")? + value_start;
            let raw = &body[value_start..value_end];
            return Some(
                raw.replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&quot;", "\"")
                    .replace("&apos;", "'")
                    .replace("&amp;", "&"),
            );
        }
        search_from = start + name.len() + 1;
    }
    None
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `POST /services/Soap/u/{version}` with a partner `login` call: the SOAP login jsforce
/// (`loginBySoap`) and simple-salesforce (`soap_login`) use, with the elements their
/// parsers read (`serverUrl`, `sessionId`, `userId`, `organizationId`).
async fn soap_login(
    State(shared): SharedState,
    Path(version): Path<String>,
    body: Bytes,
) -> Response {
    let body = String::from_utf8_lossy(&body);
    let username = xml_field(&body, "username").unwrap_or_default();
    let password = xml_field(&body, "password").unwrap_or_default();
    let org = shared.org.read();
    let user = org
        .user_by_username(&username)
        .filter(|user| org.user_is_active(user) && org.check_password(user, &password));
    let xml_type = [(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    )];
    let Some(user) = user else {
        let fault = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:sf=\"urn:fault.partner.soap.sforce.com\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body><soapenv:Fault><faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid username, password, security token; or user locked out.</faultstring><detail><sf:LoginFault xsi:type=\"sf:LoginFault\"><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>Invalid username, password, security token; or user locked out.</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>";
        return (StatusCode::INTERNAL_SERVER_ERROR, xml_type, fault).into_response();
    };
    let policy = lock(&shared.policy).clone();
    let session = shared.sessions.issue(&org.org_id(), user, &policy);
    let org_id = org.org_id();
    let record = org
        .lookup(&user)
        .map(|(_, record)| record.clone())
        .unwrap_or_default();
    let text = |field: &str| {
        xml_escape(
            record
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )
    };
    let base = &shared.base_url;
    let version = xml_escape(&version);
    let response = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns=\"urn:partner.soap.sforce.com\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body><loginResponse><result><metadataServerUrl>{base}/services/Soap/m/{version}/{org_id}</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>true</sandbox><serverUrl>{base}/services/Soap/u/{version}/{org_id}</serverUrl><sessionId>{session}</sessionId><userId>{user}</userId><userInfo><organizationId>{org_id}</organizationId><organizationName>callsync sandbox</organizationName><userEmail>{email}</userEmail><userFullName>{name}</userFullName><userId>{user}</userId><userName>{username}</userName><userTimeZone>Asia/Tokyo</userTimeZone></userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>",
        email = text("Email"),
        name = text("Name"),
        username = text("Username"),
    );
    (StatusCode::OK, xml_type, response).into_response()
}

/// Salesforce answers a method a resource does not take with 405 and a body naming the
/// methods it does take, HEAD first: `HTTP Method 'PATCH' not allowed. Allowed are
/// HEAD,GET,POST` (quoted in omniphx/forrest#191 and #59, jarrodek/ChromeRestClient#1148).
/// axum's own 405 has no body, so every API route names its methods through [`only`].
fn method_not_allowed(method: &Method, allowed: &str) -> Response {
    let mut response = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        json!([{"errorCode": "METHOD_NOT_ALLOWED",
                "message": format!("HTTP Method '{method}' not allowed. Allowed are {allowed}")}]),
    );
    if let Ok(value) = HeaderValue::from_str(allowed) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// `method_router`, answering other methods as Salesforce does; `allowed` lists the methods
/// in Salesforce's order (HEAD, GET, POST, PATCH, DELETE).
fn only(
    method_router: MethodRouter<Arc<Shared>>,
    allowed: &'static str,
) -> MethodRouter<Arc<Shared>> {
    method_router
        .fallback(move |method: Method| async move { method_not_allowed(&method, allowed) })
}

async fn not_found() -> Response {
    ApiError::not_found().into_response()
}

/// A route registered with and without its trailing slash (clients differ).
fn both(
    router: Router<Arc<Shared>>,
    path: &str,
    method_router: MethodRouter<Arc<Shared>>,
) -> Router<Arc<Shared>> {
    router
        .route(path, method_router.clone())
        .route(&format!("{path}/"), method_router)
}

/// The whole application.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    use axum::routing::{delete as delete_route, patch};
    let data = |path: &str| format!("/services/data/{{version}}{path}");
    const GET: &str = "HEAD,GET";
    let mut api = Router::new()
        .route(&data("/"), only(get(resources), GET))
        .route(&data(""), only(get(resources), GET));
    api = both(api, &data("/sobjects"), only(get(describe_global), GET));
    api = both(
        api,
        &data("/sobjects/{object}"),
        only(get(object_info).post(create), "HEAD,GET,POST"),
    );
    api = both(
        api,
        &data("/sobjects/{object}/describe"),
        only(get(describe), GET),
    );
    api = both(
        api,
        &data("/sobjects/{object}/updated"),
        only(get(updated), GET),
    );
    api = both(
        api,
        &data("/sobjects/{object}/deleted"),
        only(get(deleted), GET),
    );
    api = api
        .route(
            &data("/sobjects/{object}/{id}"),
            only(
                get(retrieve).patch(update).delete(delete),
                "HEAD,GET,PATCH,DELETE",
            ),
        )
        .route(
            &data("/sobjects/{object}/{field}/{value}"),
            only(get(by_external_id).patch(upsert), "HEAD,GET,PATCH"),
        );
    api = both(api, &data("/query"), only(get(query), GET));
    api = both(api, &data("/queryAll"), only(get(query_all), GET));
    api = api
        .route(&data("/query/{locator}"), only(get(query_more), GET))
        .route(&data("/queryAll/{locator}"), only(get(query_more), GET));
    api = both(api, &data("/search"), only(get(search), GET));
    api = both(api, &data("/limits"), only(get(limits), GET));
    api = both(api, &data("/composite"), only(post(composite), "POST"));
    api = both(
        api,
        &data("/composite/sobjects"),
        only(
            post(collection_create)
                .patch(collection_update)
                .merge(delete_route(collection_delete)),
            "POST,PATCH,DELETE",
        ),
    );
    api = api
        .route(
            &data("/composite/sobjects/{object}"),
            only(
                get(collection_retrieve).post(collection_retrieve_post),
                "HEAD,GET,POST",
            ),
        )
        .route(
            &data("/composite/sobjects/{object}/{field}"),
            only(patch(collection_upsert), "PATCH"),
        );
    let api = api.route_layer(middleware::from_fn_with_state(shared.clone(), api_gate));

    let mut app = Router::new().merge(api);
    app = both(app, "/services/data", get(versions));
    app = app
        .route("/services/oauth2/token", post(token))
        .route("/services/oauth2/authorize", get(authorize))
        .route("/services/oauth2/revoke", post(revoke).get(revoke_by_get))
        .route("/services/oauth2/userinfo", get(userinfo).post(userinfo))
        .route("/id/{org}/{user}", get(userinfo))
        .route("/services/Soap/u/{version}", post(soap_login))
        .merge(crate::admin::routes())
        .fallback(not_found);
    app.with_state(shared)
}

// ----- Accept loop -----

/// Serves `app` on `listener` until `shutdown` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let app = app.clone();
                let tls = tls.clone();
                connections.spawn(serve_connection(stream, app, tls));
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tower::ServiceExt;
    let _ = stream.set_nodelay(true);
    let kill = Arc::new(Notify::new());
    let service = {
        let kill = kill.clone();
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request
                .extensions_mut()
                .insert(ConnectionKill(kill.clone()));
            let app = app.clone();
            async move { app.oneshot(request.map(Body::new)).await }
        })
    };
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    match tls {
        Some(acceptor) => {
            let Ok(stream) = acceptor.accept(stream).await else {
                return;
            };
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = kill.notified() => {}
            }
        }
        None => {
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = kill.notified() => {}
            }
        }
    }
}
