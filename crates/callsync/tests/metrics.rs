//! Prometheus metrics: what a scrape shows after work was queued. Its own
//! test binary, because the recorder is installed once per process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use callsync::store::{NewEvent, NewOrg};
use callsync::test_support::TestDatabase;
use jiff::Timestamp;

#[tokio::test]
async fn a_scrape_shows_the_queue_depth_and_the_counters_in_prometheus_format() {
    let handle = callsync::metrics::install().unwrap();
    let db = TestDatabase::sqlite();
    let store = db.store().await;
    let now = Timestamp::now();
    store
        .create_org(
            &NewOrg {
                id: "acme".into(),
                name: "Acme".into(),
                signing_secret: "s".into(),
                settings_json: "{}".into(),
                salesforce_json: None,
            },
            now,
        )
        .await
        .unwrap();
    let event = |id: &str, call: &str| NewEvent {
        event_id: id.into(),
        call_id: call.into(),
        occurred_at: now,
        body_json: "{}".into(),
    };
    store
        .ingest("acme", &[event("e1", "c1"), event("e2", "c2")], now)
        .await
        .unwrap();
    metrics::counter!(callsync::metrics::EVENTS_ACCEPTED).increment(2);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, callsync::metrics::router(handle, store)).into_future());
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(text.contains("callsync_queue_depth 2"), "{text}");
    assert!(text.contains("callsync_events_accepted_total 2"), "{text}");

    // Latency histograms (issue 16): an API request, and a Salesforce request as the
    // client's span reports it to the tracing layer.
    use tracing_subscriber::layer::SubscriberExt as _;
    let subscriber =
        tracing_subscriber::registry().with(callsync::salesforce_metrics::SalesforceMetricsLayer);
    let _default = tracing::subscriber::set_default(subscriber);
    {
        let span = tracing::info_span!(
            target: "salesforce::client",
            "salesforce_request",
            method = "POST",
            path = "/services/data/v62.0/sobjects/Task",
            status = tracing::field::Empty,
        );
        span.record("status", 201_u16);
    }
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}", api.local_addr().unwrap());
    tokio::spawn(callsync::server::run(
        api,
        callsync::api::AppState::new(db.store().await),
        std::future::pending(),
    ));
    let refused = reqwest::Client::new()
        .post(format!("{api_url}/v1/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(
        text.contains(
            "callsync_salesforce_request_duration_seconds_bucket{method=\"POST\",operation=\"sobjects/Task\",outcome=\"ok\",le=\"0.001\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "callsync_http_request_duration_seconds_count{endpoint=\"ingest\",status=\"client_error\"} 1"
        ),
        "{text}"
    );
}
