//! Who writes a call's Task (R14 "as each user"), and what happens when that user's own
//! connection does not work (R16). With the JWT bearer flow the connected app signs in as
//! the linked Salesforce user; with the web-server flow each user connected themselves and
//! callsync renews their access with their refresh token. A user who has not connected, or
//! whose token Salesforce refused (revoked, user deactivated), makes the call wait — never
//! fail — until they connect again, which makes it due at once
//! (`Store::put_user_connection`).

use jiff::{SignedDuration, Timestamp};

use super::step::End;
use super::{Outcome, Worker};
use crate::crm::{CrmError, SalesforceConnection};
use crate::store::{HistoryLine, WaitReason, WorkItem};

/// How long a call waits for a connection before it looks again by itself; a new
/// connection wakes it at once.
const CONNECTION_RECHECK: SignedDuration = SignedDuration::from_hours(6);

/// The codes of a token Salesforce no longer accepts: a refused refresh (`invalid_grant`,
/// "expired access/refresh token"), or a session rejected again after a fresh token.
const REFUSED_TOKEN_CODES: [&str; 2] = ["invalid_grant", "INVALID_SESSION_ID"];

/// The client a call's Task is written with.
pub(super) enum Writer {
    /// Write with this client.
    Ready(salesforce::Client),
    /// The user must connect (again): the call waits.
    Wait(End),
    /// The connection cannot be used at all (an admin must fix it).
    Broken(CrmError),
}

/// Whose connection a step of a web-server-flow organisation uses: the writer's for the
/// Task, the default user's for searches and users (R3, R7).
pub(super) struct Connected {
    writer: String,
    default_user: String,
}

impl Worker {
    /// The client that writes the Task as `writer_username` (R14): `client` acting as that
    /// user (JWT bearer), or that user's own connection (web-server flow).
    pub(super) async fn writer_for(
        &self,
        item: &WorkItem,
        client: &salesforce::Client,
        connection: &SalesforceConnection,
        writer_username: &str,
        now: Timestamp,
    ) -> anyhow::Result<Writer> {
        if !connection.is_web_server() {
            return Ok(Writer::Ready(client.for_user(writer_username)));
        }
        if connection.is_default_user(writer_username) {
            // The organisation's client renews the default user's own token.
            return Ok(Writer::Ready(client.clone()));
        }
        let Some(user) = self
            .store
            .user_connection(&item.org_id, writer_username)
            .await?
        else {
            return Ok(Writer::Wait(waits_for_connection(
                writer_username,
                "has not connected to Salesforce yet",
                now,
            )));
        };
        if let Some((_, because)) = &user.state.refused {
            return Ok(Writer::Wait(waits_for_connection(
                writer_username,
                &format!("must connect again: Salesforce refused the connection ({because})"),
                now,
            )));
        }
        Ok(
            match self.connections.user_client(
                &item.org_id,
                connection,
                writer_username,
                &user.refresh_token,
            ) {
                Ok(writer) => Writer::Ready(writer),
                Err(error) => Writer::Broken(error),
            },
        )
    }

    /// For a web-server-flow organisation, whose connections a step of `call` uses; `None`
    /// with the JWT bearer flow, where a refused sign-in is an admin's to fix (R9).
    pub(super) async fn connected_users(
        &self,
        call: &callsync_core::call::Call,
        settings: &callsync_core::settings::Settings,
        connection: Option<&SalesforceConnection>,
    ) -> anyhow::Result<Option<Connected>> {
        let Some(connection) = connection.filter(|c| c.is_web_server()) else {
            return Ok(None);
        };
        let Ok(handler) = self.writer_username(call, connection).await? else {
            return Ok(None);
        };
        // R14: in integration-user mode the integration user writes every Task.
        let writer = callsync_core::writing::writer_username(
            settings,
            &handler,
            connection.default_username.trim(),
        )
        .to_owned();
        Ok(Some(Connected {
            writer,
            default_user: connection.default_username.trim().to_owned(),
        }))
    }

    /// Turns a step that failed because Salesforce refused a user's token into a wait
    /// (R16): the refusal is noted on the user's connection for the admin, and the call
    /// runs again when the user connects.
    pub(super) async fn refused_connection_waits(
        &self,
        item: &WorkItem,
        end: End,
        connected: Option<Connected>,
        now: Timestamp,
    ) -> anyhow::Result<End> {
        let (Some(connected), End::Failed { error, .. }) = (&connected, &end) else {
            return Ok(end);
        };
        if !REFUSED_TOKEN_CODES.contains(&error.code.as_str()) {
            return Ok(end);
        }
        // Only the Task is written as the writer; searches and users are the default user's.
        let writes = matches!(error.step.as_str(), "create_task" | "update_task");
        let username = if writes {
            &connected.writer
        } else {
            &connected.default_user
        };
        let because = format!("{}: {}", error.code, error.message);
        tracing::warn!(code = %error.code, "Salesforce refused a user's connection; the call waits until they connect again");
        if !username.eq_ignore_ascii_case(&connected.default_user) {
            self.store
                .refuse_user_connection(&item.org_id, username, &because, now)
                .await?;
        }
        Ok(waits_for_connection(
            username,
            &format!("must connect again: Salesforce refused the connection ({because})"),
            now,
        ))
    }
}

/// The wait of a call whose writer must connect (again).
fn waits_for_connection(username: &str, why: &str, now: Timestamp) -> End {
    End::Wait {
        until: now.checked_add(CONNECTION_RECHECK).unwrap_or(now),
        reason: WaitReason::ConnectionRevoked,
        backoff: false,
        line: HistoryLine {
            action: "auth".into(),
            outcome: "wait".into(),
            detail: Some(format!(
                "Salesforce user {username} {why}; the call is synced when they connect"
            )),
        },
        outcome: Outcome::Waiting,
    }
}
