//! The `sf-sandbox` binary: a local Salesforce org on a port, until Ctrl-C.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use sf_sandbox::{GenerateSpec, Sandbox, SandboxConfig};

/// A local Salesforce org that answers like the real REST API: OAuth (JWT bearer,
/// password, refresh token, authorization code with PKCE, client credentials), sObjects,
/// describe, collections, composite, SOQL/SOSL, limits; Salesforce's validation and
/// errors; faults on demand. Control and inspection endpoints live under /__sandbox/.
#[derive(Debug, Parser)]
#[command(name = "sf-sandbox", version)]
struct Arguments {
    /// Port to listen on (127.0.0.1 only); 0 picks a free one and prints it.
    #[arg(long, default_value_t = 0, env = "SF_SANDBOX_PORT")]
    port: u16,
    /// Seed for everything random: org and connected-app identifiers, fault draws and
    /// generated data. The same seed gives the same sandbox.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Serve HTTPS (simple-salesforce speaks only https) with a certificate for localhost
    /// and 127.0.0.1 signed by a local authority generated at start. Clients trust the
    /// authority's certificate, written to --tls-cert-out.
    #[arg(long)]
    tls: bool,
    /// Where to write the local authority's certificate (PEM), for clients to trust
    /// (Python requests: REQUESTS_CA_BUNDLE; Node: NODE_EXTRA_CA_CERTS; curl: --cacert).
    #[arg(long, requires = "tls")]
    tls_cert_out: Option<PathBuf>,
    /// State file: loaded at start if it exists, saved at shutdown (Ctrl-C) and on
    /// POST /__sandbox/save, so the org outlives a restart.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Generate about N records at start (accounts, contacts, person accounts, leads and
    /// users with messy phone numbers), deterministic for --seed.
    #[arg(long)]
    generate: Option<usize>,
    /// Daily API request allowance; past it every call answers 403 REQUEST_LIMIT_EXCEEDED.
    #[arg(long, default_value_t = 100_000)]
    daily_api_limit: u64,
    /// How long an access token lives, in seconds (Salesforce's session timeout).
    #[arg(long, default_value_t = 7200)]
    token_lifetime_secs: u64,
    /// How long a write stays invisible to SOSL search, in milliseconds (Salesforce's
    /// search index lags writes, by up to about 15 minutes).
    #[arg(long, default_value_t = 0)]
    search_index_lag_ms: u64,
    /// Newest API version served (older ones down to 20.0 answer too).
    #[arg(long, default_value = sf_sandbox::DEFAULT_API_VERSION)]
    api_version: String,
    /// Write the connected app's credentials (consumer key and secret, RSA private key,
    /// certificate, admin login) as JSON to this file.
    #[arg(long)]
    credentials_out: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let arguments = Arguments::parse();
    let config = SandboxConfig {
        seed: arguments.seed,
        port: arguments.port,
        tls: arguments.tls,
        search_index_lag: Duration::from_millis(arguments.search_index_lag_ms),
        daily_api_limit: arguments.daily_api_limit,
        token_lifetime: Some(Duration::from_secs(arguments.token_lifetime_secs)),
        api_version: arguments.api_version.clone(),
        data_file: arguments.data.clone(),
        generate: arguments
            .generate
            .map(|total| GenerateSpec::total(total, arguments.seed)),
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config)
        .await
        .context("the sandbox could not start")?;
    if let (Some(path), Some(pem)) = (&arguments.tls_cert_out, sandbox.tls_certificate_pem()) {
        std::fs::write(path, pem).with_context(|| format!("could not write {}", path.display()))?;
    }
    if let Some(path) = &arguments.credentials_out {
        let json = serde_json::to_string_pretty(sandbox.credentials()).context("credentials")?;
        std::fs::write(path, json)
            .with_context(|| format!("could not write {}", path.display()))?;
    }
    let credentials = sandbox.credentials();
    println!("sf-sandbox listening on {}", sandbox.url());
    println!("  login URL and instance URL: {}", sandbox.url());
    println!(
        "  admin: {} / {} (security token {})",
        credentials.username, credentials.password, credentials.security_token
    );
    println!("  consumer key: {}", credentials.client_id);
    println!("  records: {}", sandbox.org().read().total_records());
    println!("  control: {}/__sandbox/", sandbox.url());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    sandbox.shutdown().await;
    Ok(())
}
