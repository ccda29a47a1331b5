//! `callsync check`: a preflight of each organisation's sync settings
//! against its Salesforce, for an admin who changed either and wants to know
//! before the next call fails. Per organisation it checks the settings
//! themselves (R11), signs in as the default Salesforce user, reads the
//! Task's fields, and checks the settings against them; it prints one line
//! per check, ✓ or ✗ with the problem in plain words.
//!
//! The checks are computed apart from the printing ([`check_org`] returns
//! [`CheckLine`]s), so tests read them without parsing text.

use std::fmt;
use std::io::Write;
use std::time::Duration;

use anyhow::Context as _;
use callsync_core::settings::{Settings, SettingsProblem, TaskSchema};

use crate::config::Config;
use crate::crm::{self, ClientOptions, Connections, CrmError, SalesforceConnection, Step};
use crate::store::{OrgRow, Store};

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    /// Not run, because a check it needs failed first.
    NotRun,
}

/// One line of the report: which check, how it ended, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub outcome: Outcome,
    /// What was checked (`Salesforce connection`).
    pub check: &'static str,
    /// What was found, in plain words.
    pub detail: String,
    /// The problems found, one per settings field (`custom_fields.memo: …`).
    pub problems: Vec<String>,
}

impl CheckLine {
    fn passed(check: &'static str, detail: impl Into<String>) -> CheckLine {
        CheckLine {
            outcome: Outcome::Passed,
            check,
            detail: detail.into(),
            problems: Vec::new(),
        }
    }

    fn failed(check: &'static str, detail: impl Into<String>) -> CheckLine {
        CheckLine {
            outcome: Outcome::Failed,
            check,
            detail: detail.into(),
            problems: Vec::new(),
        }
    }

    fn not_run(check: &'static str, needs: &str) -> CheckLine {
        CheckLine {
            outcome: Outcome::NotRun,
            check,
            detail: format!("not checked: it needs {needs}"),
            problems: Vec::new(),
        }
    }

    fn problems(check: &'static str, problems: Vec<SettingsProblem>) -> CheckLine {
        let count = problems.len();
        CheckLine {
            outcome: Outcome::Failed,
            check,
            detail: format!("{count} problem{}", if count == 1 { "" } else { "s" }),
            problems: problems.iter().map(ToString::to_string).collect(),
        }
    }
}

impl fmt::Display for CheckLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.outcome {
            Outcome::Passed => "✓",
            Outcome::Failed => "✗",
            Outcome::NotRun => "-",
        };
        write!(f, "  {mark} {}: {}", self.check, self.detail)?;
        for problem in &self.problems {
            write!(f, "\n      {problem}")?;
        }
        Ok(())
    }
}

const SETTINGS: &str = "settings";
const CONNECTION: &str = "Salesforce connection";
const SCHEMA: &str = "Task schema";
const FIT: &str = "settings against the Task schema";

/// `callsync check [--org ID]`: checks every organisation (or the one
/// given), prints the report, and fails when any check failed.
pub async fn run(config: &Config, org_id: Option<&str>) -> anyhow::Result<()> {
    let store = Store::open(config).await?;
    let orgs = match org_id {
        Some(id) => vec![
            store
                .org(id)
                .await?
                .with_context(|| format!("no organisation {id:?}"))?,
        ],
        None => store.orgs().await?,
    };
    let mut out = std::io::stdout();
    // Service-wide settings that work but are probably not what is wanted: warnings, they
    // do not fail the check.
    for warning in config.warnings() {
        writeln!(out, "! {warning}")?;
    }
    if orgs.is_empty() {
        writeln!(
            out,
            "no organisations to check: create one with `callsync org create`"
        )?;
        return Ok(());
    }
    let connections = Connections::new(ClientOptions {
        timeout: Duration::from_secs(config.worker.salesforce_timeout_seconds),
        ..ClientOptions::default()
    });
    let mut failing = 0;
    for org in &orgs {
        let lines = check_org(org, &connections).await;
        writeln!(out, "{} ({})", org.id, org.name)?;
        for line in &lines {
            writeln!(out, "{line}")?;
        }
        if lines.iter().any(|line| line.outcome == Outcome::Failed) {
            failing += 1;
        }
    }
    anyhow::ensure!(
        failing == 0,
        "{failing} of {} organisation{} failed a check (see above)",
        orgs.len(),
        if orgs.len() == 1 { "" } else { "s" }
    );
    Ok(())
}

/// Runs every check of one organisation, in order; a check whose input is
/// missing (no schema without a connection) is reported as not run.
pub async fn check_org(org: &OrgRow, connections: &Connections) -> Vec<CheckLine> {
    let mut lines = Vec::new();
    let settings = match serde_json::from_str::<Settings>(&org.settings_json) {
        Ok(settings) => {
            lines.push(match settings.validate() {
                Ok(()) => CheckLine::passed(SETTINGS, "valid (R11)"),
                Err(problems) => CheckLine::problems(SETTINGS, problems),
            });
            Some(settings)
        }
        Err(error) => {
            lines.push(CheckLine::failed(
                SETTINGS,
                format!("the stored settings cannot be read ({error}); save them again"),
            ));
            None
        }
    };
    let (connection_line, schema) =
        connect_and_read_schema(org, connections, settings.as_ref()).await;
    lines.extend(connection_line);
    match (&settings, &schema) {
        (Some(settings), Some(schema)) => {
            lines.push(match settings.validate_against_task_schema(schema) {
                Ok(()) => {
                    CheckLine::passed(FIT, "the status and every mapped custom field fit the Task")
                }
                Err(problems) => CheckLine::problems(FIT, problems),
            });
        }
        (None, _) => lines.push(CheckLine::not_run(FIT, "readable settings")),
        (Some(_), None) => lines.push(CheckLine::not_run(FIT, "the Task schema")),
    }
    lines
}

/// The connection and schema checks: sign in as the default user (one
/// request, `limits`, which also shows the API usage), then describe Task.
async fn connect_and_read_schema(
    org: &OrgRow,
    connections: &Connections,
    settings: Option<&Settings>,
) -> (Vec<CheckLine>, Option<TaskSchema>) {
    let Some(json) = org.salesforce_json.as_deref() else {
        return (
            vec![
                CheckLine::failed(
                    CONNECTION,
                    "not connected: store the connection with PUT /v1/salesforce",
                ),
                CheckLine::not_run(SCHEMA, "a Salesforce connection"),
            ],
            None,
        );
    };
    let connected = SalesforceConnection::from_json(json).and_then(|connection| {
        let client = connections.default_user_client(&org.id, &connection)?;
        Ok((connection, client))
    });
    let (connection, client) = match connected {
        Ok(connected) => connected,
        Err(error) => {
            return (
                vec![
                    CheckLine::failed(
                        CONNECTION,
                        format!("{error}; store a new one with PUT /v1/salesforce"),
                    ),
                    CheckLine::not_run(SCHEMA, "a usable connection"),
                ],
                None,
            );
        }
    };
    let mut lines = Vec::new();
    match client.limits().await {
        Ok(limits) => {
            let usage = limits
                .get("DailyApiRequests")
                .map(|daily| {
                    format!(
                        "; API requests in the last 24 hours: {} of {}",
                        daily.max - daily.remaining,
                        daily.max
                    )
                })
                .unwrap_or_default();
            lines.push(CheckLine::passed(
                CONNECTION,
                format!(
                    "signed in as {} at {}{usage}",
                    connection.default_username.trim(),
                    connection.login_url.trim()
                ),
            ));
        }
        Err(error) => {
            lines.push(CheckLine::failed(
                CONNECTION,
                plain_failure(Step::Auth, &error.into(), settings),
            ));
            lines.push(CheckLine::not_run(SCHEMA, "a working connection"));
            return (lines, None);
        }
    }
    match crm::task_schema(&client).await {
        Ok(schema) => {
            lines.push(CheckLine::passed(
                SCHEMA,
                format!("read {} Task fields", schema.fields.len()),
            ));
            (lines, Some(schema))
        }
        Err(error) => {
            lines.push(CheckLine::failed(
                SCHEMA,
                plain_failure(Step::CheckSchema, &error, settings),
            ));
            (lines, None)
        }
    }
}

/// Salesforce's code and message, and the remedy in plain words (R9).
fn plain_failure(step: Step, error: &CrmError, settings: Option<&Settings>) -> String {
    let remedy = error.remedy(step, settings);
    let (code, message) = (error.code(), error.message());
    format!("{code}: {message} — {remedy}")
}
