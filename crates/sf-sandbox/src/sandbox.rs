//! Starting and stopping a sandbox: [`SandboxConfig`] says how, [`Sandbox`] is the running
//! server with direct handles on its org, faults, counters and sessions for tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::{Credentials, SessionPolicy, Sessions};
use crate::error::Error;
use crate::faults::{FaultPlan, Faults};
use crate::generate::{GenerateReport, GenerateSpec};
use crate::ids::RecordId;
use crate::org::{Org, OrgState, SavedState};
use crate::query_routes::Cursors;
use crate::server::{CounterSnapshot, Counters, Shared};

/// How to start a sandbox. `Default` gives an empty org on a free port over plain HTTP.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Seeds everything random: org and app identifiers, fault draws, generated data.
    pub seed: u64,
    /// `0` picks a free port.
    pub port: u16,
    /// Serve HTTPS with a certificate generated at start.
    pub tls: bool,
    /// How long a write stays invisible to SOSL (Salesforce documents up to ~15 minutes).
    pub search_index_lag: Duration,
    /// The org's daily API request allowance (REQUEST_LIMIT_EXCEEDED past it).
    pub daily_api_limit: u64,
    /// How long an access token lives (Salesforce's session timeout); `None` is forever.
    pub token_lifetime: Option<Duration>,
    /// Sessions expire after this many API requests (a fault for refresh tests).
    pub token_max_requests: Option<u64>,
    /// Faults injected from the start.
    pub faults: FaultPlan,
    /// The newest API version served (`62.0`); older ones down to 20.0 answer too.
    pub api_version: String,
    /// Query batch size (Salesforce's default is 2,000).
    pub query_batch_size: usize,
    /// Load state from this file at start if it exists; save to it at shutdown.
    pub data_file: Option<PathBuf>,
    /// Fill the org with generated data at start.
    pub generate: Option<GenerateSpec>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            seed: 0,
            port: 0,
            tls: false,
            search_index_lag: Duration::ZERO,
            daily_api_limit: 100_000,
            token_lifetime: Some(Duration::from_secs(2 * 60 * 60)),
            token_max_requests: None,
            faults: FaultPlan::default(),
            api_version: crate::DEFAULT_API_VERSION.to_string(),
            query_batch_size: 2000,
            data_file: None,
            generate: None,
        }
    }
}

/// What the state file holds.
#[derive(Serialize, Deserialize)]
struct StateFile {
    org: SavedState,
    api_used: u64,
}

/// A running sandbox. Dropping it stops the server; [`Sandbox::shutdown`] also waits
/// for it and saves the state file.
#[derive(Debug)]
pub struct Sandbox {
    shared: Arc<Shared>,
    url: String,
    tls_certificate_pem: Option<String>,
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    config: SandboxConfig,
}

fn read_state(path: &Path) -> Result<Option<StateFile>, Error> {
    let display = path.display().to_string();
    match std::fs::File::open(path) {
        Ok(file) => serde_json::from_reader(std::io::BufReader::new(file))
            .map(Some)
            .map_err(|source| Error::StateFormat {
                path: display,
                source,
            }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::StateFile {
            path: display,
            source,
        }),
    }
}

impl Sandbox {
    /// Binds `127.0.0.1:port` and starts serving.
    pub async fn start(config: SandboxConfig) -> Result<Sandbox, Error> {
        let credentials = Credentials::generate(config.seed)?;
        let mut api_used = 0;
        let org = match config
            .data_file
            .as_deref()
            .map(read_state)
            .transpose()?
            .flatten()
        {
            Some(saved) => {
                api_used = saved.api_used;
                let state = OrgState::load(saved.org).map_err(Error::Config)?;
                Org::from_state(state)
            }
            None => Org::new(config.seed, config.search_index_lag),
        };
        if let Some(spec) = &config.generate {
            crate::generate::generate(&mut org.write(), spec);
        }
        let listener = TcpListener::bind(("127.0.0.1", config.port))
            .await
            .map_err(Error::Bind)?;
        let port = listener.local_addr().map_err(Error::Bind)?.port();
        let tls = if config.tls {
            Some(crate::tls::self_signed()?)
        } else {
            None
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://127.0.0.1:{port}");
        let shared = Arc::new(Shared {
            org: Arc::new(org),
            sessions: Sessions::default(),
            credentials,
            faults: Faults::new(config.faults.clone(), config.seed),
            counters: Counters::default(),
            cursors: Cursors::default(),
            policy: Mutex::new(SessionPolicy {
                lifetime: config.token_lifetime,
                max_requests: config.token_max_requests,
            }),
            base_url: url.clone(),
            latest_version: config.api_version.clone(),
            batch_size: config.query_batch_size,
            daily_api_limit: config.daily_api_limit.into(),
            api_used: api_used.into(),
            seed: config.seed,
            data_file: config.data_file.clone(),
        });
        let app = crate::server::router(shared.clone());
        let (shutdown, receiver) = watch::channel(false);
        let acceptor = tls.as_ref().map(|tls| tls.acceptor.clone());
        let task = tokio::spawn(crate::server::serve(listener, app, acceptor, receiver));
        Ok(Sandbox {
            shared,
            url,
            tls_certificate_pem: tls.map(|tls| tls.certificate_pem),
            shutdown,
            task: Mutex::new(Some(task)),
            config,
        })
    }

    /// The base URL: login URL and instance URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The org, for direct synchronous access in tests.
    pub fn org(&self) -> &Org {
        &self.shared.org
    }

    /// The registered connected app and the admin login.
    pub fn credentials(&self) -> &Credentials {
        &self.shared.credentials
    }

    /// The self-signed certificate (PEM) when serving TLS, for clients to trust.
    pub fn tls_certificate_pem(&self) -> Option<&str> {
        self.tls_certificate_pem.as_deref()
    }

    /// The fault injector.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// API requests counted so far.
    pub fn counters(&self) -> CounterSnapshot {
        self.shared.counters.snapshot()
    }

    /// Starts counting from zero.
    pub fn reset_counters(&self) {
        self.shared.counters.reset();
    }

    /// Issues an access token for a user, as a completed OAuth flow would.
    pub fn issue_token(&self, username: &str) -> Option<String> {
        let state = self.shared.org.read();
        let user = state.user_by_username(username)?;
        let policy = self
            .shared
            .policy
            .lock()
            .map(|policy| policy.clone())
            .unwrap_or(SessionPolicy {
                lifetime: None,
                max_requests: None,
            });
        Some(self.shared.sessions.issue(&state.org_id(), user, &policy))
    }

    /// Revokes every OAuth token of `username` (its refresh tokens and sessions), as an
    /// admin's "Revoke" on the user's connected-app access in Setup does: the next
    /// refresh-token grant answers `invalid_grant` "expired access/refresh token". Answers
    /// how many refresh tokens were revoked; 0 for an unknown user.
    pub fn revoke_oauth_of(&self, username: &str) -> usize {
        let Some(user) = self.shared.org.read().user_by_username(username) else {
            return 0;
        };
        self.shared.sessions.revoke_user(&user)
    }

    /// Ends every session now (clients get INVALID_SESSION_ID and must refresh).
    pub fn expire_sessions(&self) {
        self.shared.sessions.expire_all();
    }

    /// Makes current sessions expire after `requests` more API requests.
    pub fn expire_sessions_after(&self, requests: u64) {
        self.shared.sessions.limit_requests(requests);
    }

    /// Changes the daily API allowance.
    pub fn set_daily_api_limit(&self, limit: u64) {
        self.shared.daily_api_limit.store(limit, Ordering::Relaxed);
    }

    /// Sets how many API requests count as used today.
    pub fn set_api_usage(&self, used: u64) {
        self.shared.api_used.store(used, Ordering::Relaxed);
    }

    /// Replaces the org with a fresh one (same seed); sessions stay valid for the admin.
    pub fn reset(&self) {
        reset_org(&self.shared);
    }

    /// Fills the org with generated data.
    pub fn generate(&self, spec: &GenerateSpec) -> GenerateReport {
        crate::generate::generate(&mut self.shared.org.write(), spec)
    }

    /// Saves the state to a file (see [`SandboxConfig::data_file`]).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        save_state(&self.shared, path)
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// The admin user's Id.
    pub fn admin_user(&self) -> RecordId {
        self.shared.org.admin_user()
    }

    /// Stops serving, waits for the server, and saves the state file if one is configured.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let task = self.task.lock().ok().and_then(|mut task| task.take());
        if let Some(task) = task {
            let _ = task.await;
        }
        if let Some(path) = &self.shared.data_file
            && let Err(error) = save_state(&self.shared, path)
        {
            tracing::warn!(%error, "the sandbox state could not be saved");
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Ok(mut task) = self.task.lock()
            && let Some(task) = task.take()
        {
            task.abort();
        }
    }
}

pub(crate) fn reset_org(shared: &Shared) {
    let mut state = shared.org.write();
    let lag = state.search_index_lag();
    *state = OrgState::new(shared.seed, lag);
    drop(state);
    shared.counters.reset();
    shared.api_used.store(0, Ordering::Relaxed);
}

pub(crate) fn save_state(shared: &Shared, path: &Path) -> Result<(), Error> {
    let display = path.display().to_string();
    let state = StateFile {
        org: shared.org.read().save(),
        api_used: shared.api_used.load(Ordering::Relaxed),
    };
    let temporary = path.with_extension("tmp");
    let file = std::fs::File::create(&temporary).map_err(|source| Error::StateFile {
        path: display.clone(),
        source,
    })?;
    serde_json::to_writer(std::io::BufWriter::new(file), &state).map_err(|source| {
        Error::StateFormat {
            path: display.clone(),
            source,
        }
    })?;
    // Write-then-rename, so a crash mid-save never leaves half a file.
    std::fs::rename(&temporary, path).map_err(|source| Error::StateFile {
        path: display,
        source,
    })
}
