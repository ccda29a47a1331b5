//! The overview page: today's calls by state, the queue and its oldest
//! waiting call, whether Salesforce answers (with the API budget it
//! reports), the organisation's API usage against callsync's share of it
//! (R14, as `GET /v1/org` reports it), the local phone index's state (R15),
//! and sync attempts per day as a chart drawn on the server (SVG).

use std::time::Duration;

use askama::Template;
use axum::extract::State;
use axum::response::Html;
use jiff::Timestamp;

use super::error::ConsoleResult;
use super::i18n::Lang;
use super::session::Session;
use super::{Chrome, org_settings};
use crate::api::AppState;
use crate::api::admin::org_api_usage;
use crate::api::settings::stored_connection;

/// Days the chart covers.
const CHART_DAYS: i64 = 14;
/// How long the overview waits for Salesforce before it says "no answer".
const REACH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Template)]
#[template(path = "console/overview.html")]
pub struct OverviewPage {
    c: Chrome,
    /// (state, count) for today's calls, every state listed.
    states: Vec<(&'static str, i64)>,
    total_today: i64,
    queue_depth: i64,
    oldest_waiting: Option<String>,
    open_errors: i64,
    reach: Reach,
    /// Salesforce users whose own connection Salesforce refused (web-server flow, R16):
    /// their calls wait until they connect again.
    refused_connections: usize,
    index: IndexView,
    /// `None` until a Salesforce answer reported the usage.
    api_usage: Option<ApiUsageCard>,
    chart: Chart,
}

/// The organisation's Salesforce API usage (R14): what `GET /v1/org` reports
/// as `api_usage`, and the calls waiting for callsync's budget, counted as the
/// errors page counts waiting calls by reason.
#[derive(Debug)]
pub struct ApiUsageCard {
    /// Requests of the whole organisation in the rolling 24 hours.
    pub used: i64,
    /// The organisation's daily allowance.
    pub allowance: i64,
    /// callsync's share of the allowance.
    pub budget: i64,
    /// One of [`DEFERRING`]: what the budget makes wait now.
    pub deferring: &'static str,
    /// When a Salesforce answer reported the usage, in the organisation's zone.
    pub observed_at: String,
    /// Calls waiting for the budget (wait reason `api_budget`).
    pub waiting_calls: i64,
}

/// `ApiUsageView::deferring`'s values; each has a label `overview-api-deferring-{value}`.
pub const DEFERRING: [&str; 3] = ["none", "updates", "all"];

/// The local phone index (R15) as the overview shows it: what `GET /v1/org`
/// reports as `phone_index`, with times in the organisation's zone.
#[derive(Debug)]
pub struct IndexView {
    /// One of [`INDEX_STATES`].
    pub state: &'static str,
    pub records: u64,
    /// Changes up to this `SystemModstamp` are applied.
    pub watermark: Option<String>,
    /// Seconds since the last successful sync began.
    pub lag_seconds: Option<i64>,
    pub last_error: Option<String>,
}

/// The index states, as `IndexStatus::state` names them; each has a label
/// `index-state-{state}`.
pub const INDEX_STATES: [&str; 4] = ["cold", "backfilling", "ready", "failing"];

#[derive(Debug)]
/// Whether the organisation's Salesforce answered just now.
pub enum Reach {
    NotConnected,
    Reachable {
        /// Daily API requests used and allowed, as `/limits` reports them.
        used: i64,
        max: i64,
    },
    Unreachable {
        code: String,
        remedy: String,
    },
}

#[derive(Debug)]
/// A bar chart laid out here, drawn by the template as SVG.
pub struct Chart {
    pub width: i64,
    pub height: i64,
    pub max: i64,
    pub bars: Vec<Bar>,
}

#[derive(Debug)]
pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    /// The day (`11-24`) and the count, for the label and the tooltip.
    pub day: String,
    pub count: i64,
}

/// The sync states in the order the overview lists them.
pub const STATES: [&str; 6] = ["synced", "pending", "waiting", "failed", "skipped", "never"];

pub async fn page(State(state): State<AppState>, session: Session) -> ConsoleResult<Html<String>> {
    let org = &session.org;
    let settings = org_settings(org);
    let zone = settings.zone();
    let now = state.now();
    let today = now
        .to_zoned(zone.clone())
        .start_of_day()
        .map_err(anyhow::Error::new)?
        .timestamp();
    let counts = state.store.call_states_since(&org.id, today).await?;
    let states: Vec<(&'static str, i64)> = STATES
        .into_iter()
        .map(|name| {
            let count = counts
                .iter()
                .find(|row| row.state == name)
                .map_or(0, |row| row.count);
            (name, count)
        })
        .collect();
    let queue = state.store.org_queue(&org.id).await?;
    let c = Chrome::new(&session, "overview", "/console/");
    let open_errors = state
        .store
        .open_error_kinds(&org.id)
        .await?
        .iter()
        .map(|kind| kind.count)
        .sum();
    let offset_ms = zone.to_offset(now).seconds() as i64 * 1000;
    let first_day = today
        .checked_sub(jiff::SignedDuration::from_hours((CHART_DAYS - 1) * 24))
        .map_err(anyhow::Error::new)?;
    let per_day = state
        .store
        .sync_attempts_per_day(&org.id, first_day, offset_ms)
        .await?;
    let today_number = (today.as_millisecond() + offset_ms).div_euclid(86_400_000);
    let days: Vec<(i64, i64)> = (0..CHART_DAYS)
        .map(|back| {
            let day = today_number - (CHART_DAYS - 1 - back);
            let count = per_day
                .iter()
                .find(|(number, _)| *number == day)
                .map_or(0, |(_, count)| *count);
            (day, count)
        })
        .collect();
    let reach = reach(&state, org, session.lang).await;
    let refused_connections = state
        .store
        .user_connections(&org.id)
        .await?
        .iter()
        .filter(|connection| connection.refused.is_some())
        .count();
    let status = state.store.indexes().org(&org.id).status();
    let index = IndexView {
        state: INDEX_STATES
            .into_iter()
            .find(|known| *known == status.state)
            .unwrap_or("cold"),
        records: status.records,
        watermark: status.watermark.map(|at| c.time(&at, &zone)),
        lag_seconds: status.lag_ms.map(|lag| lag / 1000),
        last_error: status.last_error,
    };
    let api_usage = match org_api_usage(&state, &org.id).await? {
        None => None,
        Some(view) => {
            let waiting_calls = state
                .store
                .waiting(Some(&org.id), now)
                .await?
                .iter()
                .filter(|count| count.reason == "api_budget")
                .map(|count| count.calls)
                .sum();
            Some(ApiUsageCard {
                used: view.usage.used,
                allowance: view.usage.allowance,
                budget: view.usage.budget,
                deferring: DEFERRING
                    .into_iter()
                    .find(|known| *known == view.deferring)
                    .unwrap_or("none"),
                observed_at: c.time(&view.usage.observed_at, &zone),
                waiting_calls,
            })
        }
    };
    let page = OverviewPage {
        api_usage,
        refused_connections,
        total_today: states.iter().map(|(_, count)| count).sum(),
        states,
        queue_depth: queue.depth,
        oldest_waiting: queue.oldest_waiting_since.map(|at| c.time(&at, &zone)),
        open_errors,
        reach,
        index,
        chart: chart(&days),
        c,
    };
    Ok(Html(page.render()?))
}

/// Lays out one bar per day, scaled to the busiest day.
fn chart(days: &[(i64, i64)]) -> Chart {
    const WIDTH: i64 = 560;
    const HEIGHT: i64 = 160;
    const LABELS: i64 = 20;
    let max = days
        .iter()
        .map(|(_, count)| *count)
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = WIDTH / i64::try_from(days.len().max(1)).unwrap_or(1);
    let bars = days
        .iter()
        .enumerate()
        .map(|(index, (day, count))| {
            let height = (HEIGHT - LABELS) * count / max;
            let date = Timestamp::from_millisecond(day * 86_400_000)
                .map(|at| at.strftime("%m-%d").to_string())
                .unwrap_or_default();
            Bar {
                x: i64::try_from(index).unwrap_or(0) * slot + 4,
                y: HEIGHT - LABELS - height,
                width: slot - 8,
                height,
                day: date,
                count: *count,
            }
        })
        .collect();
    Chart {
        width: WIDTH,
        height: HEIGHT,
        max,
        bars,
    }
}

/// Asks Salesforce for its limits as the default user: one request.
async fn reach(state: &AppState, org: &crate::store::OrgRow, lang: Lang) -> Reach {
    let Ok(Some(connection)) = stored_connection(org) else {
        return Reach::NotConnected;
    };
    let client = match state.connections.default_user_client(&org.id, &connection) {
        Ok(client) => client,
        Err(error) => {
            return Reach::Unreachable {
                code: error.code(),
                remedy: error
                    .remedy_of(crate::crm::Step::Auth, None)
                    .in_language(lang),
            };
        }
    };
    match tokio::time::timeout(REACH_TIMEOUT, client.limits()).await {
        Ok(Ok(limits)) => {
            let daily = limits.get("DailyApiRequests");
            Reach::Reachable {
                used: daily.map_or(0, |limit| limit.max - limit.remaining),
                max: daily.map_or(0, |limit| limit.max),
            }
        }
        Ok(Err(error)) => {
            let error = crate::crm::CrmError::from(error);
            Reach::Unreachable {
                code: error.code(),
                remedy: error
                    .remedy_of(crate::crm::Step::Auth, None)
                    .in_language(lang),
            }
        }
        Err(_) => Reach::Unreachable {
            code: "TIMEOUT".into(),
            remedy: lang.text_with("overview-reach-timeout", "seconds", REACH_TIMEOUT.as_secs()),
        },
    }
}
