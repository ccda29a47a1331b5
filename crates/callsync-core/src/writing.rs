//! Who writes the Task and what it costs (R14): the write mode, the integration user, and
//! the coalescing window that lets a create wait a little for the memo.
//!
//! The service batches and budgets requests; what is decided here is only what the rules
//! say: which Salesforce user writes, and until when a due create may still wait.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::call::Call;
use crate::settings::{Settings, SettingsProblem, Timing};

/// The longest coalescing window an organisation may set: a Task should reach Salesforce
/// within minutes of the call, whatever the memo does.
pub const MAX_COALESCE_SECONDS: u32 = 300;

/// Who writes the Tasks of an organisation (R14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// The source's way: each Task is written with the credentials of the Salesforce user
    /// linked to the callsync user (`CreatedById` = that user).
    #[default]
    AsEachUser,
    /// One Salesforce user writes every Task, `OwnerId` from R7; writes of many calls are
    /// batched together.
    IntegrationUser,
}

/// The R14 settings of an organisation. Missing JSON fields take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct WriteSettings {
    /// Who writes the Tasks.
    pub mode: WriteMode,
    /// With `integration_user`: the Salesforce username that writes; unset means the
    /// connection's default user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration_username: Option<String>,
    /// With timing `call_end`: how many seconds after hang-up the create of an answered call
    /// may wait for its memo, so both go in one request (0: no wait).
    pub coalesce_seconds: u32,
}

impl WriteSettings {
    /// Problems an admin must fix before saving (R11), by settings field.
    pub fn problems(&self) -> Vec<SettingsProblem> {
        let mut problems = Vec::new();
        if let Some(username) = &self.integration_username {
            let username = username.trim();
            if username.is_empty() || !username.contains('@') || username.contains(' ') {
                problems.push(SettingsProblem::new(
                    "writing.integration_username",
                    format!(
                        "`{username}` is not a Salesforce username (they look like an email \
                         address); leave it out to write as the connection's default user"
                    ),
                ));
            }
        }
        if self.coalesce_seconds > MAX_COALESCE_SECONDS {
            problems.push(SettingsProblem::new(
                "writing.coalesce_seconds",
                format!(
                    "{} seconds is longer than the most a create may wait for the memo \
                     ({MAX_COALESCE_SECONDS})",
                    self.coalesce_seconds
                ),
            ));
        }
        problems
    }
}

/// Which Salesforce user writes a call's Task (R14): the handler's linked user (or the
/// organisation's default user when no callsync user handled the call, R7) as each user;
/// the integration user otherwise.
pub fn writer_username<'a>(
    settings: &'a Settings,
    handler_username: &'a str,
    default_username: &'a str,
) -> &'a str {
    match settings.writing.mode {
        WriteMode::AsEachUser => handler_username,
        WriteMode::IntegrationUser => settings
            .writing
            .integration_username
            .as_deref()
            .map(str::trim)
            .filter(|username| !username.is_empty())
            .unwrap_or(default_username),
    }
}

/// R14 coalescing window: until when the due create of `call` waits for its memo, or
/// `None` to create now. It waits only with timing `call_end`, for an answered call that
/// has ended and has no memo yet, and at most `coalesce_seconds` after the call ended (by
/// the call's own clock): a memo that comes later is an update, as without the window.
pub fn coalescing_until(call: &Call, settings: &Settings, now: Timestamp) -> Option<Timestamp> {
    let window = settings.writing.coalesce_seconds;
    if window == 0
        || settings.timing != Timing::CallEnd
        || call.memo().is_some()
        || !call.was_answered()
    {
        return None;
    }
    let until = call
        .end()?
        .at
        .checked_add(SignedDuration::from_secs(i64::from(window)))
        .ok()?;
    (until > now).then_some(until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn event(kind: &str, minute: u32, extra: &str) -> Event {
        Event::from_json(&format!(
            r#"{{"id":"e-{kind}","org":"acme","call_id":"c1","user":"u1",
                "occurred_at":"2026-11-24T01:{minute:02}:00Z","direction":"outbound",
                "customer_number":"0312345678","type":"{kind}"{extra}}}"#
        ))
        .unwrap()
    }

    fn answered_call(with_memo: bool) -> Call {
        let mut events = vec![
            event("dialing", 0, ""),
            event("answered", 1, ""),
            event("ended", 5, r#","talk_seconds":240,"outcome":"answered""#),
        ];
        if with_memo {
            events.push(event("memo_saved", 5, r#","values":[],"note":"call back""#));
        }
        Call::fold(&events).unwrap()
    }

    fn missed_call() -> Call {
        Call::fold(&[
            event("dialing", 0, ""),
            event("ended", 1, r#","talk_seconds":0,"outcome":"no_answer""#),
        ])
        .unwrap()
    }

    fn settings(timing: Timing, coalesce_seconds: u32) -> Settings {
        let mut settings = Settings {
            timing,
            ..Settings::default()
        };
        settings.writing.coalesce_seconds = coalesce_seconds;
        settings
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// R14 coalescing window, one row per case: (case, call, timing, window, now, waits until).
    #[test]
    fn r14_the_create_waits_for_the_memo_only_within_the_window() {
        let ended = "2026-11-24T01:05:00Z";
        type Row = (
            &'static str,
            Call,
            Timing,
            u32,
            &'static str,
            Option<&'static str>,
        );
        let rows: Vec<Row> = vec![
            (
                "no window (default)",
                answered_call(false),
                Timing::CallEnd,
                0,
                ended,
                None,
            ),
            (
                "answered, no memo, inside the window",
                answered_call(false),
                Timing::CallEnd,
                20,
                "2026-11-24T01:05:05Z",
                Some("2026-11-24T01:05:20Z"),
            ),
            (
                "the window has passed",
                answered_call(false),
                Timing::CallEnd,
                20,
                "2026-11-24T01:05:20Z",
                None,
            ),
            (
                "the memo is here",
                answered_call(true),
                Timing::CallEnd,
                20,
                ended,
                None,
            ),
            (
                "a missed call has no memo to wait for",
                missed_call(),
                Timing::CallEnd,
                20,
                ended,
                None,
            ),
            (
                "timing call_start creates at answer",
                answered_call(false),
                Timing::CallStart,
                20,
                ended,
                None,
            ),
        ];
        for (case, call, timing, window, now, expected) in rows {
            assert_eq!(
                coalescing_until(&call, &settings(timing, window), at(now)),
                expected.map(at),
                "{case}"
            );
        }
    }

    #[test]
    fn r14_the_writer_is_the_handler_as_each_user_and_the_integration_user_otherwise() {
        let mut settings = Settings::default();
        assert_eq!(
            writer_username(&settings, "agent@x", "default@x"),
            "agent@x"
        );
        settings.writing.mode = WriteMode::IntegrationUser;
        assert_eq!(
            writer_username(&settings, "agent@x", "default@x"),
            "default@x"
        );
        settings.writing.integration_username = Some(" sync@x ".into());
        assert_eq!(writer_username(&settings, "agent@x", "default@x"), "sync@x");
    }

    #[test]
    fn r11_write_settings_are_checked_when_saved() {
        let mut writing = WriteSettings {
            integration_username: Some("not a user".into()),
            coalesce_seconds: MAX_COALESCE_SECONDS + 1,
            ..WriteSettings::default()
        };
        let fields: Vec<String> = writing.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            ["writing.integration_username", "writing.coalesce_seconds"]
        );
        writing.integration_username = Some("sync@acme.example".into());
        writing.coalesce_seconds = 30;
        assert!(writing.problems().is_empty());
    }

    #[test]
    fn r14_settings_saved_before_write_modes_existed_read_as_each_user_without_a_window() {
        let settings: Settings = serde_json::from_str(r#"{"timing": "call_end"}"#).unwrap();
        assert_eq!(settings.writing, WriteSettings::default());
        assert_eq!(settings.writing.mode, WriteMode::AsEachUser);
    }
}
