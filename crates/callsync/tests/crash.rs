//! The crash test and the fault soak of issue 7, small: `callsync-soak` runs
//! the `callsync` binary cargo just built as its own process, kills it with
//! SIGKILL while calls flow or lets the Salesforce sandbox fail, and every
//! call must end with exactly one Task holding all its updates (design
//! decision 2, R6, R9). The large versions are the same tool by hand (see
//! `callsync-soak --help`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The soak itself gives up after this; the test waits a little longer, so
/// the tool's own clean-up (it kills its callsync) always runs first.
const SOAK_TIMEOUT_SECS: u64 = 150;

/// Kills the soak if the test ends before it does.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What a soak printed and whether it exited cleanly.
struct SoakRun {
    success: bool,
    output: String,
}

impl SoakRun {
    /// The three figures of the `lost: X  duplicated: Y  incomplete: Z` line.
    fn figures(&self) -> (u64, u64, u64) {
        let line = self
            .output
            .lines()
            .find(|line| line.starts_with("lost: "))
            .unwrap_or_else(|| panic!("the soak printed no figures:\n{}", self.output));
        let numbers: Vec<u64> = line
            .split_whitespace()
            .filter_map(|word| word.parse().ok())
            .collect();
        assert_eq!(numbers.len(), 3, "unreadable figures line {line:?}");
        (numbers[0], numbers[1], numbers[2])
    }
}

fn soak(arguments: &[&str]) -> SoakRun {
    let folder = tempfile::tempdir().unwrap();
    let stdout_path = folder.path().join("stdout");
    let stderr_path = folder.path().join("stderr");
    let child = Command::new(env!("CARGO_BIN_EXE_callsync-soak"))
        .args(arguments)
        .args(["--callsync", env!("CARGO_BIN_EXE_callsync")])
        .args(["--timeout-secs", &SOAK_TIMEOUT_SECS.to_string()])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("cannot run callsync-soak");
    let mut guard = ChildGuard(Some(child));
    let deadline = Instant::now() + Duration::from_secs(SOAK_TIMEOUT_SECS + 30);
    let status = loop {
        let child = guard.0.as_mut().unwrap();
        if let Some(status) = child.try_wait().unwrap() {
            guard.0 = None;
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(guard);
    let output = format!(
        "{}\n--- stderr ---\n{}",
        std::fs::read_to_string(&stdout_path).unwrap_or_default(),
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
    let Some(status) = status else {
        panic!("callsync-soak {arguments:?} did not finish in {SOAK_TIMEOUT_SECS} s:\n{output}");
    };
    SoakRun {
        success: status.success(),
        output,
    }
}

fn assert_nothing_lost_or_duplicated(run: &SoakRun) {
    let (lost, duplicated, incomplete) = run.figures();
    assert_eq!(
        (lost, duplicated, incomplete),
        (0, 0, 0),
        "every call must have exactly one Task with all its updates:\n{}",
        run.output
    );
    assert!(run.success, "callsync-soak failed:\n{}", run.output);
}

#[test]
fn sixty_calls_through_three_sigkills_of_callsync_end_as_one_complete_task_each() {
    let run = soak(&[
        "--calls", "60", "--kills", "3", "--rate", "20", "--seed", "7",
    ]);
    assert_nothing_lost_or_duplicated(&run);
    assert!(
        run.output.contains("3 of 3 kills"),
        "all three kills happened:\n{}",
        run.output
    );
}

#[test]
fn sixty_calls_through_salesforce_faults_expired_sessions_and_lost_answers_end_as_one_complete_task_each()
 {
    let run = soak(&[
        "--calls",
        "60",
        "--kills",
        "0",
        "--rate",
        "40",
        "--fault-rate",
        "0.06",
        "--drop-rate",
        "0.04",
        "--token-requests",
        "25",
        "--seed",
        "11",
    ]);
    assert_nothing_lost_or_duplicated(&run);
    let injected: u64 = run
        .output
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("salesforce: ")
                .and_then(|rest| rest.split(", ").nth(1))
                .and_then(|faults| faults.split_whitespace().next())
                .and_then(|count| count.parse().ok())
        })
        .unwrap_or_else(|| panic!("no count of injected faults:\n{}", run.output));
    assert!(injected > 0, "the sandbox injected faults:\n{}", run.output);
}

/// Issue 12, R16: Salesforce is slow, some requests take longer than the whole lease,
/// it answers 503 to everything for a while, and callsync is killed twice meanwhile:
/// still one complete Task per call, and no call in the error log.
#[test]
fn forty_calls_through_latency_spikes_past_the_lease_an_outage_and_sigkills_end_as_one_complete_task_each()
 {
    let run = soak(&[
        "--calls",
        "40",
        "--kills",
        "2",
        "--rate",
        "10",
        "--latency-ms",
        "20",
        "--spike-rate",
        "0.05",
        "--outage-secs",
        "6",
        "--seed",
        "5",
    ]);
    assert_nothing_lost_or_duplicated(&run);
    assert!(
        run.output.contains("0 failed, 0 open error-log entries"),
        "R16: an outage fails no call:\n{}",
        run.output
    );
}
