//! The `callsync` binary: parses the command line and hands over to the
//! library (`callsync::cli`).

use clap::Parser as _;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = callsync::cli::Cli::parse();
    match callsync::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
