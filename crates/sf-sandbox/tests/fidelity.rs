//! Unmodified third-party Salesforce clients against the sandbox: simple-salesforce
//! (Python) and jsforce (Node) run the scripts in `fidelity/` (auth, query with paging,
//! search, describe, create, update, upsert, collections, limits, an error case; queryAll,
//! updated/ and deleted/, collection upsert with partial failure, person accounts, a
//! refreshed token, an exhausted daily allowance).
//!
//! The clients are installed by `scripts/test` (scripts/lib/setup.sh) under `.tools/`,
//! which exports CALLSYNC_FIDELITY_PYTHON and CALLSYNC_FIDELITY_NODE_PATH. Without them a
//! check says it is skipped, unless CALLSYNC_REQUIRE_ALL=1 (CI), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use std::path::PathBuf;
use std::process::Command;

use sf_sandbox::{Sandbox, SandboxConfig};

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fidelity")
        .join(name)
}

/// The configured value of `variable`, or `None` after saying why the check is skipped.
fn required_env(variable: &str, check: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            let reason = format!(
                "{check}: skipped because {variable} is not set (run scripts/test to install the client)"
            );
            assert!(
                std::env::var("CALLSYNC_REQUIRE_ALL").as_deref() != Ok("1"),
                "{reason}, and CALLSYNC_REQUIRE_ALL=1 demands it"
            );
            eprintln!("{reason}");
            None
        }
    }
}

fn sandbox_env(command: &mut Command, sandbox: &Sandbox) {
    let credentials = sandbox.credentials();
    command
        .env("SANDBOX_URL", sandbox.url())
        .env("SANDBOX_USERNAME", &credentials.username)
        .env("SANDBOX_PASSWORD", &credentials.password)
        .env("SANDBOX_TOKEN", &credentials.security_token)
        .env("SANDBOX_CLIENT_ID", &credentials.client_id)
        .env("SANDBOX_CLIENT_SECRET", &credentials.client_secret);
}

async fn run(mut command: Command, what: &str) {
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("the client could not be started");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "{what} failed:\n{stdout}\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_salesforce_works_against_the_sandbox_unmodified() {
    let Some(python) = required_env("CALLSYNC_FIDELITY_PYTHON", "simple-salesforce fidelity")
    else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig {
        tls: true,
        seed: 11,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let directory =
        std::env::temp_dir().join(format!("sf-sandbox-fidelity-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let certificate = directory.join("sandbox.pem");
    std::fs::write(&certificate, sandbox.tls_certificate_pem().unwrap()).unwrap();
    let mut command = Command::new(python);
    // requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's `verify`, so
    // the sandbox's authority goes there too.
    command
        .arg(script("simple_salesforce_check.py"))
        .env("SANDBOX_CA", &certificate)
        .env("REQUESTS_CA_BUNDLE", &certificate)
        .env("CURL_CA_BUNDLE", &certificate);
    sandbox_env(&mut command, &sandbox);
    run(command, "the simple-salesforce check").await;
    std::fs::remove_dir_all(&directory).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsforce_works_against_the_sandbox_unmodified() {
    let Some(node_path) = required_env("CALLSYNC_FIDELITY_NODE_PATH", "jsforce fidelity") else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig {
        seed: 12,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let mut command = Command::new("node");
    command
        .arg(script("jsforce_check.js"))
        .env("NODE_PATH", node_path);
    sandbox_env(&mut command, &sandbox);
    run(command, "the jsforce check").await;
}
