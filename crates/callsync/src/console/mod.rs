//! The admin console: server-rendered pages for an organisation's admins,
//! on the same listener as the API, under `/console`.
//!
//! - [`session`]: one-time sign-in links, sessions, cookies, CSRF ([`session::Posted`]).
//! - [`i18n`]: the Fluent catalogues (English, Japanese) and the request's language.
//! - [`error`]: [`error::ConsoleError`], an HTML page in both languages.
//! - [`assets`]: htmx and the stylesheet, compiled in.
//! - pages: [`overview`], [`calls`] (history, one call, contacts), [`errors`],
//!   [`settings`], [`users`], [`connect`] (the Salesforce connection), [`signin`],
//!   and [`agents`] (each agent connects their own Salesforce user; no session).
//!
//! Invariants: a page is a handler that gathers a view struct and renders
//! one askama template (escaping by default); an htmx partial is a block of
//! its page's own template. Every route but the sign-in pages and the assets
//! takes a [`session::Session`], and every query is scoped to its
//! organisation, so another organisation's id is a 404. Saving settings,
//! users and the connection, retrying errors and reading calls go through
//! the same functions as the JSON API.

pub mod agents;
pub mod assets;
pub mod calls;
pub mod connect;
pub mod error;
pub mod errors;
pub mod i18n;
pub mod overview;
pub mod session;
pub mod settings;
pub mod signin;
pub mod users;

use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};

use crate::api::AppState;
use i18n::Lang;
use session::Session;

/// The console's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(overview::page))
        .route("/console/static/{name}", get(assets::asset))
        .route(
            "/console/signin",
            get(signin::signed_out).post(signin::sign_in),
        )
        .route("/console/signin/{token}", get(signin::link))
        .route("/console/signin/salesforce", post(signin::salesforce_start))
        .route(
            "/console/signin/salesforce/callback",
            get(signin::salesforce_callback),
        )
        .route(
            "/console/connect/{org}",
            get(agents::page).post(agents::start),
        )
        .route("/console/connected", get(agents::callback))
        .route("/console/signout", post(signin::sign_out))
        .route("/console/language", post(signin::switch_language))
        .route("/console/calls", get(calls::list))
        .route("/console/calls/{call_id}", get(calls::call))
        .route("/console/contacts", get(calls::contacts))
        .route("/console/errors", get(errors::page))
        .route("/console/errors/retry", post(errors::retry_kind))
        .route("/console/errors/{id}/retry", post(errors::retry_one))
        .route(
            "/console/settings",
            get(settings::page).post(settings::save),
        )
        .route("/console/settings/preview", post(settings::preview))
        .route("/console/users", get(users::page).post(users::save))
        .route(
            "/console/salesforce",
            get(connect::page).post(connect::save),
        )
        .route("/console/salesforce/test", post(connect::test))
        .route("/console/salesforce/admins", post(connect::add_admin))
        .route(
            "/console/salesforce/admins/remove",
            post(connect::remove_admin),
        )
}

/// What every page's frame shows: the organisation, the navigation with the
/// current page, the language switch and the session's CSRF token for the
/// frame's forms (sign-out, language).
#[derive(Debug, Clone)]
pub struct Chrome {
    pub lang: Lang,
    pub org_id: String,
    pub org_name: String,
    pub csrf: String,
    /// The navigation key of the current page (`calls`, `settings`…).
    pub nav: &'static str,
    /// The current path, where the language switch comes back to.
    pub here: String,
    /// The navigation: (key, path).
    pub pages: [(&'static str, &'static str); 7],
}

impl Chrome {
    pub fn new(session: &Session, nav: &'static str, here: impl Into<String>) -> Chrome {
        Chrome {
            lang: session.lang,
            org_id: session.org.id.clone(),
            org_name: session.org.name.clone(),
            csrf: session.csrf.clone(),
            nav,
            here: here.into(),
            pages: [
                ("overview", "/console/"),
                ("calls", "/console/calls"),
                ("contacts", "/console/contacts"),
                ("errors", "/console/errors"),
                ("users", "/console/users"),
                ("settings", "/console/settings"),
                ("salesforce", "/console/salesforce"),
            ],
        }
    }

    /// The message `key` in the page's language.
    pub fn t(&self, key: &str) -> String {
        self.lang.text(key)
    }

    /// The message `key` with one argument.
    pub fn t_with(&self, key: &str, name: &str, value: impl ToString) -> String {
        self.lang.text_with(key, name, value)
    }

    /// Whether `key` is the current page's navigation key.
    pub fn is_current(&self, key: &str) -> bool {
        self.nav == key
    }

    /// The navigation label of `key` (`nav-calls`…).
    pub fn nav_label(&self, key: &str) -> String {
        self.lang.text(&format!("nav-{key}"))
    }

    /// A sync state's label (`state-synced`…).
    pub fn state_label(&self, state: &str) -> String {
        self.lang.text(&format!("state-{state}"))
    }

    /// The phone index's state label (`index-state-ready`…).
    pub fn index_state_label(&self, state: &str) -> String {
        self.lang.text(&format!("index-state-{state}"))
    }

    /// What the API budget defers now (`overview-api-deferring-updates`…, R14).
    pub fn api_deferring_label(&self, deferring: &str) -> String {
        self.lang
            .text(&format!("overview-api-deferring-{deferring}"))
    }

    /// A call kind's label (`kind-outgoing`…); an unknown kind as it is.
    pub fn kind_label(&self, kind: &str) -> String {
        if calls::KINDS.contains(&kind) {
            self.lang.text(&format!("kind-{kind}"))
        } else {
            kind.to_owned()
        }
    }

    /// The other languages, for the switch.
    pub fn other_langs(&self) -> Vec<(&'static str, String)> {
        Lang::ALL
            .into_iter()
            .filter(|lang| *lang != self.lang)
            .map(|lang| (lang.tag(), lang.text("language-name")))
            .collect()
    }

    /// A time as the organisation reads it (its time zone, from the
    /// settings), to the second.
    pub fn time(&self, at: &jiff::Timestamp, zone: &jiff::tz::TimeZone) -> String {
        at.to_zoned(zone.clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string()
    }
}

/// The message keys the console builds at run time (navigation, states,
/// kinds), for the catalogue test.
pub fn built_keys() -> Vec<String> {
    let pages = [
        "overview",
        "calls",
        "contacts",
        "errors",
        "users",
        "settings",
        "salesforce",
    ];
    pages
        .iter()
        .map(|page| format!("nav-{page}"))
        .chain(
            overview::STATES
                .iter()
                .map(|state| format!("state-{state}")),
        )
        .chain(
            overview::INDEX_STATES
                .iter()
                .map(|state| format!("index-state-{state}")),
        )
        .chain(
            overview::DEFERRING
                .iter()
                .map(|deferring| format!("overview-api-deferring-{deferring}")),
        )
        .chain(calls::KINDS.iter().map(|kind| format!("kind-{kind}")))
        .chain(calls::SKIP_KEYS.iter().map(|key| (*key).to_owned()))
        .chain(
            settings::POLICY_KINDS
                .iter()
                .map(|kind| format!("settings-policy-{}", kind.replace('_', "-"))),
        )
        .chain(
            [
                // Chosen by value, then shown with `t(key)`.
                "error-not-found-title",
                "error-not-found-body",
                "error-csrf-title",
                "error-csrf-body",
                "error-bad-request-title",
                "error-bad-request-body",
                "error-internal-title",
                "error-internal-body",
                "signin-how",
                "signin-salesforce-unavailable",
                "signin-salesforce-failed",
                "signin-salesforce-not-admin",
                "signin-expired",
                "calls-bad-date",
                "settings-schema-not-connected",
                "settings-schema-unreachable",
                "connect-test-ok",
                "agent-unavailable",
                "agent-failed",
                "agent-not-linked",
                "agent-connected",
            ]
            .map(str::to_owned),
        )
        .chain(
            <crate::store::WaitReason as strum::VariantArray>::VARIANTS
                .iter()
                .map(|reason| format!("wait-reason-{}", reason.as_str()))
                .chain(["due", "failed"].map(|reason| format!("wait-reason-{reason}"))),
        )
        .collect()
}

/// The organisation's settings as stored (defaults when unreadable, which
/// the API reports; a page still shows).
pub fn org_settings(org: &crate::store::OrgRow) -> callsync_core::settings::Settings {
    serde_json::from_str(&org.settings_json).unwrap_or_default()
}
