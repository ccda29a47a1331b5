//! The users page: each phone user and the Salesforce user their Tasks are
//! written as (R5 `CreatedById`, R7), picked from the org's users (a
//! searchable list, suggested by name and e-mail). Unlinked users, users
//! linked to an inactive or unknown Salesforce user, and users who handled
//! calls but were never set up stand out. Each shows how its syncs have
//! gone: the last success, the last failure and what it was, and how many
//! calls wait (R16). With the web-server flow each linked user also shows
//! their own Salesforce connection (connected when, or refused when and
//! why), and the page warns when a connection is known to fail (R16).
//! Saving goes through the API's user check (`api::admin::checked_user`).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Chrome;
use super::error::ConsoleResult;
use super::session::{Posted, Session};
use crate::api::AppState;
use crate::api::admin::checked_user;
use crate::api::settings::stored_connection;
use crate::crm::directory::{DirectoryUser, directory};

/// How a phone user's link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Linked to an active Salesforce user.
    Linked,
    /// Not linked: the organisation's default user writes their Tasks, or they fail.
    Unlinked,
    /// Linked to a user Salesforce says is inactive.
    Inactive,
    /// Linked to a username Salesforce does not know.
    Unknown,
    /// Salesforce could not be asked.
    Unchecked,
}

impl LinkState {
    pub fn key(self) -> &'static str {
        match self {
            LinkState::Linked => "linked",
            LinkState::Unlinked => "unlinked",
            LinkState::Inactive => "inactive",
            LinkState::Unknown => "unknown",
            LinkState::Unchecked => "unchecked",
        }
    }

    pub fn stands_out(self) -> bool {
        !matches!(self, LinkState::Linked | LinkState::Unchecked)
    }
}

#[derive(Debug)]
pub struct UserLine {
    pub user_id: String,
    pub name: String,
    pub sf_username: String,
    pub state: LinkState,
    pub state_label: String,
    /// A Salesforce username suggested for an unlinked user.
    pub suggestion: Option<String>,
    pub problems: Vec<(String, String)>,
    /// Last success, in the organisation's time zone.
    pub last_success: Option<String>,
    /// Last failure: time, code and message, and whether it is open.
    pub last_failure: Option<(String, String, String, bool)>,
    /// Calls waiting (R16).
    pub waiting: i64,
    /// With the web-server flow: the user's own connection.
    pub connection: Option<ConnectionLine>,
}

/// A linked user's own Salesforce connection (web-server flow).
#[derive(Debug)]
pub enum ConnectionLine {
    /// The user has not connected yet: their calls wait.
    None,
    /// Connected at this time (in the organisation's zone).
    Connected(String),
    /// The organisation's default user, connected on the Salesforce page.
    DefaultUser,
    /// Salesforce refused the connection at this time, saying this: their calls wait
    /// until they connect again.
    Refused(String, String),
}

impl ConnectionLine {
    pub fn fails(&self) -> bool {
        !matches!(
            self,
            ConnectionLine::Connected(_) | ConnectionLine::DefaultUser
        )
    }
}

#[derive(Debug, Template)]
#[template(path = "console/users.html")]
pub struct UsersPage {
    c: Chrome,
    users: Vec<UserLine>,
    directory: Vec<DirectoryUser>,
    directory_unavailable: bool,
    /// Problems of the "add a user" form.
    new_problems: Vec<(String, String)>,
    /// With the web-server flow: the agents' connect page, and how many linked users'
    /// connections are missing or refused.
    connect_path: Option<String>,
    failing_connections: usize,
}

/// The Salesforce user to suggest for a phone user: one whose name is the
/// user's name, or whose e-mail starts with the user's id.
fn suggest(directory: &[DirectoryUser], user_id: &str, name: &str) -> Option<String> {
    let name = name.trim().to_lowercase();
    let id = user_id.trim().to_lowercase();
    directory
        .iter()
        .filter(|user| user.is_active)
        .find(|user| {
            user.name
                .as_deref()
                .is_some_and(|sf_name| sf_name.trim().to_lowercase() == name)
                || user.email.as_deref().is_some_and(|email| {
                    email
                        .to_lowercase()
                        .split('@')
                        .next()
                        .is_some_and(|local| local == id)
                })
        })
        .map(|user| user.username.clone())
}

async fn render(
    state: &AppState,
    session: &Session,
    failed: Option<(String, Vec<(String, String)>)>,
) -> ConsoleResult<String> {
    let c = Chrome::new(session, "users", "/console/users");
    let org_id = &session.org.id;
    let connection = stored_connection(&session.org).ok().flatten();
    let web_server = connection
        .as_ref()
        .is_some_and(crate::crm::SalesforceConnection::is_web_server);
    let connections = if web_server {
        state.store.user_connections(org_id).await?
    } else {
        Vec::new()
    };
    let listed = match connection.as_ref() {
        Some(connection) => match state.connections.default_user_client(org_id, connection) {
            Ok(client) => directory(&client).await.ok(),
            Err(_) => None,
        },
        None => None,
    };
    let directory_unavailable = listed.is_none();
    let listed = listed.unwrap_or_default();
    let mut rows: Vec<(String, String, Option<String>)> = state
        .store
        .users(org_id)
        .await?
        .into_iter()
        .map(|user| (user.user_id, user.name, user.sf_username))
        .collect();
    let zone = super::org_settings(&session.org).zone();
    let mut health = state.store.user_health(org_id).await?;
    for user_id in state.store.unknown_call_users(org_id).await? {
        rows.push((user_id.clone(), user_id, None));
    }
    let users = rows
        .into_iter()
        .map(|(user_id, name, sf_username)| {
            let state = match &sf_username {
                None => LinkState::Unlinked,
                Some(_) if directory_unavailable => LinkState::Unchecked,
                Some(username) => match listed
                    .iter()
                    .find(|user| user.username.eq_ignore_ascii_case(username.trim()))
                {
                    Some(user) if user.is_active => LinkState::Linked,
                    Some(_) => LinkState::Inactive,
                    None => LinkState::Unknown,
                },
            };
            let problems = match &failed {
                Some((failed_id, problems)) if *failed_id == user_id => problems.clone(),
                _ => Vec::new(),
            };
            let seen = health.remove(&user_id).unwrap_or_default();
            let default_user = connection
                .as_ref()
                .filter(|connection| connection.default_refresh_token.is_some());
            let connection = match &sf_username {
                Some(username)
                    if default_user.is_some_and(|default| default.is_default_user(username)) =>
                {
                    Some(ConnectionLine::DefaultUser)
                }
                Some(username) if web_server => Some(
                    match connections
                        .iter()
                        .find(|known| known.sf_username.eq_ignore_ascii_case(username.trim()))
                    {
                        None => ConnectionLine::None,
                        Some(known) => match &known.refused {
                            Some((at, because)) => {
                                ConnectionLine::Refused(c.time(at, &zone), because.clone())
                            }
                            None => ConnectionLine::Connected(c.time(&known.connected_at, &zone)),
                        },
                    },
                ),
                _ => None,
            };
            UserLine {
                connection,
                last_success: seen.last_success.map(|at| c.time(&at, &zone)),
                last_failure: seen.last_failure.map(|at| {
                    (
                        c.time(&at, &zone),
                        seen.last_failure_code.clone().unwrap_or_default(),
                        seen.last_failure_message.clone().unwrap_or_default(),
                        seen.last_failure_open,
                    )
                }),
                waiting: seen.waiting,
                suggestion: if state == LinkState::Linked {
                    None
                } else {
                    suggest(&listed, &user_id, &name)
                },
                state_label: match state {
                    LinkState::Linked => c.t("users-state-linked"),
                    LinkState::Unlinked => c.t("users-state-unlinked"),
                    LinkState::Inactive => c.t("users-state-inactive"),
                    LinkState::Unknown => c.t("users-state-unknown"),
                    LinkState::Unchecked => c.t("users-state-unchecked"),
                },
                user_id,
                name,
                sf_username: sf_username.unwrap_or_default(),
                state,
                problems,
            }
        })
        .collect::<Vec<_>>();
    let new_problems = match failed {
        Some((failed_id, problems)) if !users.iter().any(|user| user.user_id == failed_id) => {
            problems
        }
        _ => Vec::new(),
    };
    let failing_connections = users
        .iter()
        .filter(|user| user.connection.as_ref().is_some_and(ConnectionLine::fails))
        .count();
    let page = UsersPage {
        connect_path: web_server.then(|| format!("/console/connect/{org_id}")),
        failing_connections,
        c,
        users,
        directory: listed,
        directory_unavailable,
        new_problems,
    };
    Ok(page.render()?)
}

/// `GET /console/users`.
pub async fn page(State(state): State<AppState>, session: Session) -> ConsoleResult<Html<String>> {
    Ok(Html(render(&state, &session, None).await?))
}

#[derive(Debug, Deserialize)]
pub struct UserForm {
    user_id: String,
    name: String,
    #[serde(default)]
    sf_username: String,
}

/// `POST /console/users`: creates or changes a user's link, through the
/// API's check; a refusal shows each problem beside the user's row (422).
pub async fn save(
    State(state): State<AppState>,
    posted: Posted<UserForm>,
) -> ConsoleResult<Response> {
    let Posted { session, form } = posted;
    let sf_username = Some(form.sf_username.trim().to_owned()).filter(|name| !name.is_empty());
    match checked_user(
        &session.org.id,
        form.user_id.trim().to_owned(),
        form.name.trim().to_owned(),
        sf_username,
    ) {
        Ok(user) => {
            state.store.upsert_user(&user).await?;
            tracing::info!(org = %session.org.id, user = %user.user_id, "user link saved from the console");
            Ok(Redirect::to("/console/users").into_response())
        }
        Err(problems) => {
            let problems = problems
                .into_iter()
                .map(|problem| (problem.field, problem.message))
                .collect();
            let html = render(
                &state,
                &session,
                Some((form.user_id.trim().to_owned(), problems)),
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
        }
    }
}
