//! The service's configuration: one typed struct, filled from defaults, then
//! a TOML file, then `CALLSYNC_*` environment variables (nested keys with a
//! double underscore: `CALLSYNC_WORKER__BATCH=50`).
//!
//! The configuration holds no secret. Organisations' signing secrets and
//! Salesforce keys live in the store, are written through the admin API or
//! the command line, and are never returned or logged.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod reference;

pub use reference::reference;

use anyhow::Context as _;
use figment::Figment;
use figment::providers::{Env, Format as _, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything `callsync serve` needs to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `sqlite://PATH?mode=rwc` (the default: a file beside the process) or
    /// `postgres://…` to share the work among several instances.
    pub database_url: String,
    /// Where the ingest, read and admin API listens.
    pub listen: SocketAddr,
    /// Where Prometheus metrics are served, apart from the API so they can
    /// stay private; `None` turns them off.
    pub metrics_listen: Option<SocketAddr>,
    /// `text` for people, `json` for log collectors.
    pub log_format: LogFormat,
    pub worker: WorkerConfig,
    /// The address people reach this service at (`https://callsync.example.com`), behind
    /// any proxy that terminates TLS. `{CALL_URL}` in Task templates links to the call's
    /// console page under it; unset, `{CALL_URL}` renders empty and `callsync check` warns.
    pub public_url: Option<String>,
    pub secrets: SecretsConfig,
    pub http: HttpConfig,
    pub retention: RetentionConfig,
    pub development: DevelopmentConfig,
}

/// Where the key that seals secrets at rest comes from. The key itself is never a
/// setting: it is `CALLSYNC_SECRET_KEY`, or the file named here or by
/// `CALLSYNC_SECRET_KEY_FILE` (one base64 key a line, the first sealing, the others still
/// opening older values). With neither, a SQLite database gets `<file>.key` beside it and
/// PostgreSQL refuses to start.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// A file holding the secret key(s).
    pub key_file: Option<PathBuf>,
}

/// Limits on the HTTP API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A request still running after this many seconds is answered `503` and dropped.
    pub request_timeout_seconds: u64,
    /// Ingest requests (`POST /v1/events`) each API key may make per second, sustained.
    pub ingest_per_second: u32,
    /// Other API requests each API key may make per second, sustained.
    pub api_per_second: u32,
    /// How many requests above the sustained rate a key may make at once.
    pub burst: u32,
}

/// How long old rows are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Events, sync history and error-log entries older than this many days are deleted
    /// (events only once their call has no sync work queued); 0 keeps everything.
    pub days: u32,
    /// Rows deleted per statement, so pruning never holds the database for long.
    pub batch: i64,
    /// How often `serve` prunes.
    pub interval_seconds: u64,
}

/// Settings for development only; each is off in production.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DevelopmentConfig {
    /// Accept a Salesforce login URL on the loopback interface (`http://127.0.0.1:…`, a
    /// local sf-sandbox) in `PUT /v1/salesforce`. Off, only https URLs on Salesforce's
    /// domains are accepted.
    pub allow_loopback_salesforce: bool,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            request_timeout_seconds: 30,
            ingest_per_second: 100,
            api_per_second: 20,
            burst: 200,
        }
    }
}

impl Default for RetentionConfig {
    fn default() -> RetentionConfig {
        RetentionConfig {
            days: 90,
            batch: 500,
            interval_seconds: 3600,
        }
    }
}

/// The link `{CALL_URL}` renders for a call: its console page under `public_url`
/// (`{public_url}/console/calls/{call_id}`, the call id percent-encoded), or `None` (an
/// empty placeholder) when no public URL is set or it is not a URL.
pub fn call_url(public_url: Option<&str>, call_id: &str) -> Option<String> {
    let mut url = reqwest::Url::parse(public_url?.trim()).ok()?;
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .extend(["console", "calls", call_id]);
    Some(url.to_string())
}

/// What is wrong with a `public_url`, if anything.
fn check_public_url(text: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(text.trim()).map_err(|error| format!("is not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http(s) URL".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or a fragment".to_owned());
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// How the sync worker takes and retries work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Whether this instance runs a worker (an API-only instance may not).
    pub enabled: bool,
    /// Calls claimed per round: the most this instance syncs at once.
    pub batch: i64,
    /// Calls synced at once per organisation, so one organisation cannot
    /// use up another's share. Salesforce limits only requests running longer
    /// than 20 seconds, so short ones may run many at once; 200 lets one
    /// integration user's batch fill a whole sObject Collections request (R14),
    /// and at 50 ms per request 4 (the old default) capped an organisation near
    /// 30 calls/s (BENCHMARKS.md).
    pub per_org_concurrency: usize,
    /// How long a claim lasts; a crashed instance's work is taken over
    /// after this.
    pub lease_seconds: u64,
    /// How long an idle worker sleeps before looking again.
    pub poll_interval_ms: u64,
    /// Transient failures of one organisation in a row that pause its queue (R16): its
    /// calls wait, then one call probes whether Salesforce answers again.
    pub breaker_failures: u32,
    /// The first pause of a paused organisation; it doubles on each failed probe, up to
    /// `backoff_max_ms`.
    pub breaker_pause_ms: u64,
    /// First retry delay; doubles each attempt, with jitter, up to the max. Transient
    /// failures are retried without limit: they never put a call in the error log (R16).
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Timeout of each Salesforce request.
    pub salesforce_timeout_seconds: u64,
    /// The share of an organisation's daily Salesforce API allowance
    /// callsync may use; past it, calls wait, leaving the rest to the
    /// organisation's other integrations and people. Optional updates (the voice analysis,
    /// memo edits) already wait at nine tenths of it, so creates keep the last tenth (R14).
    pub api_budget_share: f64,
    /// Integration-user mode (R14): how long a Task write waits for others to share its
    /// sObject Collections request (up to 200 records). Longer fills fuller batches and
    /// spends fewer requests; each Task reaches Salesforce up to this much later.
    pub batch_wait_ms: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            database_url: "sqlite://callsync.sqlite?mode=rwc".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9184))),
            log_format: LogFormat::Text,
            worker: WorkerConfig::default(),
            public_url: None,
            secrets: SecretsConfig::default(),
            http: HttpConfig::default(),
            retention: RetentionConfig::default(),
            development: DevelopmentConfig::default(),
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> WorkerConfig {
        WorkerConfig {
            enabled: true,
            batch: 256,
            per_org_concurrency: 200,
            lease_seconds: 60,
            poll_interval_ms: 200,
            breaker_failures: 5,
            breaker_pause_ms: 5_000,
            backoff_base_ms: 500,
            backoff_max_ms: 60_000,
            salesforce_timeout_seconds: 30,
            api_budget_share: 0.9,
            batch_wait_ms: 100,
        }
    }
}

impl WorkerConfig {
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }
}

impl Config {
    /// Defaults, then `file` if given, then `CALLSYNC_*` variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            anyhow::ensure!(
                path.exists(),
                "config file {} does not exist",
                path.display()
            );
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(
            Env::prefixed("CALLSYNC_")
                .split("__")
                .filter(|key| !not_a_setting(key.as_str())),
        );
        let config: Config = figment
            .extract()
            .context("invalid configuration (check the TOML file and CALLSYNC_* variables)")?;
        if let Some(url) = &config.public_url {
            check_public_url(url)
                .map_err(|why| anyhow::anyhow!("invalid configuration: public_url {why}"))?;
        }
        Ok(config)
    }

    /// Warnings about settings that work but probably are not what is wanted (shown by
    /// `callsync check` and at `serve` start).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.public_url.is_none() {
            warnings.push(
                "public_url is not set: {CALL_URL} in Task templates renders empty; set it to \
                 the address people reach callsync at"
                    .to_owned(),
            );
        }
        if self.development.allow_loopback_salesforce {
            warnings.push(
                "development.allow_loopback_salesforce is on: Salesforce connections to the \
                 loopback interface are accepted; turn it off in production"
                    .to_owned(),
            );
        }
        warnings
    }

    /// A commented example configuration (`callsync config example`).
    pub fn example() -> String {
        let defaults = Config::default();
        format!(
            r#"# callsync configuration. Every key is optional; shown are the defaults.
# Each can also be set by environment variable: CALLSYNC_DATABASE_URL,
# CALLSYNC_LISTEN, CALLSYNC_WORKER__BATCH, …

# sqlite://PATH?mode=rwc (a file) or postgres://USER@HOST/DB (to scale out).
database_url = "{database_url}"
# The ingest, read and admin API.
listen = "{listen}"
# Prometheus metrics, on their own listener; remove the line to turn off.
metrics_listen = "{metrics}"
# "text" or "json".
log_format = "text"

[worker]
enabled = {enabled}
# Calls claimed per round, and synced at once per organisation.
batch = {batch}
per_org_concurrency = {per_org}
# A crashed instance's claimed work is taken over after this many seconds.
lease_seconds = {lease}
poll_interval_ms = {poll}
# Transient Salesforce errors (an outage, a lock, a reached daily limit) make
# calls wait and retry with exponential backoff and jitter, never fail (R16).
# After this many in a row, an organisation's queue pauses and one call
# probes Salesforce before the rest follow.
breaker_failures = {breaker_failures}
breaker_pause_ms = {breaker_pause}
backoff_base_ms = {base}
backoff_max_ms = {max}
salesforce_timeout_seconds = {timeout}
# The share of each organisation's daily Salesforce API allowance callsync
# may use; past it, calls wait for the rolling 24-hour window to move.
api_budget_share = {budget}

# The address people reach callsync at; {{CALL_URL}} links to the call's
# console page under it. Unset, {{CALL_URL}} renders empty.
# public_url = "https://callsync.example.com"

[secrets]
# The secret key is CALLSYNC_SECRET_KEY, or a file (one base64 key a line,
# the first sealing). Without either, SQLite keeps <database>.key beside the
# database and PostgreSQL refuses to start.
# key_file = "/etc/callsync/secret.key"

[http]
request_timeout_seconds = {timeout_http}
# Per API key: sustained requests per second, and the burst above it.
ingest_per_second = {ingest_rate}
api_per_second = {api_rate}
burst = {burst}

[retention]
# Events, sync history and error-log entries older than this are deleted
# (0 keeps everything), in batches, every interval.
days = {days}
batch = {retention_batch}
interval_seconds = {interval}

[development]
# Accept a local sandbox (http://127.0.0.1:…) as a Salesforce login URL.
allow_loopback_salesforce = false
"#,
            timeout_http = defaults.http.request_timeout_seconds,
            ingest_rate = defaults.http.ingest_per_second,
            api_rate = defaults.http.api_per_second,
            burst = defaults.http.burst,
            days = defaults.retention.days,
            retention_batch = defaults.retention.batch,
            interval = defaults.retention.interval_seconds,
            database_url = defaults.database_url,
            listen = defaults.listen,
            metrics = defaults
                .metrics_listen
                .map(|a| a.to_string())
                .unwrap_or_default(),
            enabled = defaults.worker.enabled,
            batch = defaults.worker.batch,
            per_org = defaults.worker.per_org_concurrency,
            lease = defaults.worker.lease_seconds,
            poll = defaults.worker.poll_interval_ms,
            breaker_failures = defaults.worker.breaker_failures,
            breaker_pause = defaults.worker.breaker_pause_ms,
            base = defaults.worker.backoff_base_ms,
            max = defaults.worker.backoff_max_ms,
            timeout = defaults.worker.salesforce_timeout_seconds,
            budget = defaults.worker.api_budget_share,
        )
    }
}

/// `CALLSYNC_*` variables that are not settings of the service, so an
/// unknown one can still be refused as a misspelt setting: what the test
/// scripts and tools export (`CALLSYNC_TEST_*`, `CALLSYNC_FIDELITY_*`,
/// `CALLSYNC_FUZZ_*`, `CALLSYNC_BENCH_*`, `CALLSYNC_SCHEMATHESIS`,
/// `CALLSYNC_REQUIRE_ALL`), the config file's path, and the secrets of the
/// `replay` command.
fn not_a_setting(key: &str) -> bool {
    const TOOL_PREFIXES: [&str; 4] = ["test_", "fidelity_", "fuzz_", "bench_"];
    const OTHERS: [&str; 9] = [
        "secret_key",
        "secret_key_file",
        "schemathesis",
        "require_all",
        "config",
        "api_key",
        "api_key_file",
        "signing_secret",
        "signing_secret_file",
    ];
    let key = key.to_ascii_lowercase();
    TOOL_PREFIXES.iter().any(|prefix| key.starts_with(prefix)) || OTHERS.contains(&key.as_str())
}

impl HttpConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }
}

#[cfg(test)]
// figment's test jail returns its own large error type; that is its API.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_to_the_defaults() {
        let parsed: Config = Figment::from(Toml::string(&Config::example()))
            .extract()
            .unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn a_file_and_the_environment_override_the_defaults_in_that_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "callsync.toml",
                "database_url = \"sqlite://file.db\"\n[worker]\nbatch = 7\n",
            )?;
            jail.set_env("CALLSYNC_WORKER__BATCH", "9");
            let config =
                Config::load(Some(Path::new("callsync.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.database_url, "sqlite://file.db");
            assert_eq!(config.worker.batch, 9);
            assert_eq!(config.worker.lease_seconds, 60);
            Ok(())
        });
    }

    #[test]
    fn the_test_tools_variables_are_not_read_as_settings() {
        figment::Jail::expect_with(|jail| {
            for name in [
                "CALLSYNC_SCHEMATHESIS",
                "CALLSYNC_FUZZ_EXAMPLES",
                "CALLSYNC_TEST_POSTGRES_URL",
                "CALLSYNC_FIDELITY_PYTHON",
                "CALLSYNC_REQUIRE_ALL",
                "CALLSYNC_SIGNING_SECRET",
            ] {
                jail.set_env(name, "x");
            }
            Config::load(None).map_err(|e| format!("{e:#}"))?;
            jail.set_env("CALLSYNC_DATABSE_URL", "sqlite://typo.db");
            let error = Config::load(None).unwrap_err();
            assert!(format!("{error:#}").contains("databse_url"), "{error:#}");
            Ok(())
        });
    }

    #[test]
    fn call_url_links_to_the_console_page_under_the_public_url_or_is_empty() {
        assert_eq!(
            call_url(Some("https://callsync.example.com"), "c-1").as_deref(),
            Some("https://callsync.example.com/console/calls/c-1")
        );
        assert_eq!(
            call_url(Some("https://example.com/callsync/"), "a b/c").as_deref(),
            Some("https://example.com/callsync/console/calls/a%20b%2Fc")
        );
        assert_eq!(call_url(None, "c-1"), None);
        assert!(
            Config::default()
                .warnings()
                .iter()
                .any(|w| w.contains("public_url"))
        );
    }

    #[test]
    fn a_public_url_that_is_not_an_http_url_is_refused_by_name() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CALLSYNC_PUBLIC_URL", "callsync.example.com");
            let error = Config::load(None).unwrap_err();
            assert!(format!("{error:#}").contains("public_url"), "{error:#}");
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_name() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "databse_url = \"x\"\n")?;
            let error = Config::load(Some(Path::new("bad.toml"))).unwrap_err();
            assert!(format!("{error:#}").contains("databse_url"), "{error:#}");
            Ok(())
        });
    }
}
