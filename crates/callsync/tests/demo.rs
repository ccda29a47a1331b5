//! The README's first command, run as a user runs it: `callsync demo --once`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use std::process::Command;

#[test]
fn the_demo_turns_a_scripted_day_into_tasks_and_explains_its_failures() {
    let output = Command::new(env!("CARGO_BIN_EXE_callsync"))
        .args(["demo", "--once", "--listen", "127.0.0.1:0"])
        .output()
        .expect("run callsync demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // R10: with call_end every synced kind gets a Task; the extension call never does (R2).
    assert!(
        stdout.contains("Organisation acme-end (timing call_end)"),
        "{stdout}"
    );
    assert!(stdout.contains("Tasks in Salesforce: 12"), "{stdout}");
    // With call_start, voicemail and a predictive call an agent talked on are never created (R10).
    assert!(
        stdout.contains("Organisation acme-start (timing call_start)"),
        "{stdout}"
    );
    assert!(stdout.contains("Tasks in Salesforce: 10"), "{stdout}");
    // R9: each failure has its code and a remedy in plain words.
    assert!(
        stdout.contains("FIELD_CUSTOM_VALIDATION_EXCEPTION"),
        "{stdout}"
    );
    assert!(
        stdout.contains("remedy: link callsync user \"u3\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("/v1/calls"),
        "the summary says where to look: {stdout}"
    );
    // The console: its address and a one-time sign-in link per organisation.
    let link = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("console: "))
        .unwrap_or_else(|| panic!("no console link in the summary: {stdout}"));
    assert!(
        link.starts_with("http://127.0.0.1:") && link.contains("/console/signin/"),
        "{link}"
    );
    assert!(stdout.contains("admin console"), "{stdout}");
}
