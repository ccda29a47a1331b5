//! `callsync sandbox`: the local Salesforce org (sf-sandbox) on its own,
//! for pointing a callsync `serve` or any Salesforce client at it.

use sf_sandbox::{GenerateSpec, Sandbox, SandboxConfig};

pub async fn run(port: u16, seed: u64, records: usize) -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxConfig {
        port,
        seed,
        generate: (records > 0).then(|| GenerateSpec::total(records, seed)),
        ..SandboxConfig::default()
    })
    .await?;
    let credentials = sandbox.credentials();
    println!("Salesforce sandbox at {}", sandbox.url());
    println!("  admin user:    {}", credentials.username);
    println!("  consumer key:  {}", credentials.client_id);
    println!("  inspect:       {}/__sandbox/", sandbox.url());
    println!(
        "  credentials:   {}/__sandbox/credentials (connected app, JWT key, admin login)",
        sandbox.url()
    );
    println!("Serving until Ctrl-C …");
    super::shutdown_signal().await;
    sandbox.shutdown().await;
    Ok(())
}
