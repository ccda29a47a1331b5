//! The container image, checked without a Docker daemon (issue 16): the Dockerfile's build
//! context has what it copies and leaves out what it must not ship, and its entrypoint —
//! run here as the image would run it, with the image's environment, as `callsync serve` —
//! comes up, creates its key file privately, and passes the image's HEALTHCHECK command.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Dockerfile's instructions of the stage after the last `FROM`, continuation lines
/// joined: `(INSTRUCTION, arguments)`.
fn runtime_stage() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(workspace().join("Dockerfile")).unwrap();
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        if let Some((instruction, rest)) = current.trim().split_once(' ') {
            instructions.push((instruction.to_owned(), rest.trim().to_owned()));
        }
        current.clear();
    }
    let last_from = instructions
        .iter()
        .rposition(|(instruction, _)| instruction == "FROM")
        .unwrap();
    instructions.split_off(last_from)
}

/// `KEY="value" KEY2=value` as in an ENV instruction.
fn env_pairs(arguments: &str) -> Vec<(String, String)> {
    arguments
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.trim_matches('"').to_owned()))
        .collect()
}

/// A JSON-array instruction (`["a", "b"]`), after `prefix` (e.g. `CMD` of a HEALTHCHECK).
fn exec_form(arguments: &str) -> Vec<String> {
    let start = arguments.find('[').unwrap();
    serde_json::from_str(&arguments[start..]).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_build_context_holds_what_the_dockerfile_copies_and_ignores_what_must_not_ship() {
    let ignore = std::fs::read_to_string(workspace().join(".dockerignore")).unwrap();
    for excluded in [
        "target/",
        ".git/",
        "**/*.sqlite",
        "**/*.sqlite.key",
        ".tools/",
    ] {
        assert!(
            ignore.lines().any(|line| line.trim() == excluded),
            "{excluded}"
        );
    }
    let dockerfile = std::fs::read_to_string(workspace().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("--bin callsync "),
        "only the service binary is built: the soak harness is not shipped"
    );
    assert!(
        dockerfile.contains("--locked"),
        "the lock file decides versions"
    );
    let stage = runtime_stage();
    let user = stage.iter().find(|(i, _)| i == "USER").unwrap();
    assert!(!user.1.starts_with('0') && user.1 != "root", "{user:?}");
    assert!(stage.iter().any(|(i, _)| i == "HEALTHCHECK"));
    // Everything the runtime stage copies comes from the build stage, which copies the
    // (ignored-filtered) workspace: the files the build needs are in it.
    for (instruction, arguments) in &stage {
        if instruction == "COPY" {
            assert!(arguments.contains("--from=build"), "{arguments}");
        }
    }
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "crates/callsync/Cargo.toml",
        "rustfmt.toml",
    ] {
        assert!(workspace().join(needed).exists(), "{needed}");
    }
}

#[tokio::test]
async fn the_image_entrypoint_serves_creates_its_key_privately_and_passes_its_healthcheck() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_owned();
    let (api_port, metrics_port) = (free_port(), free_port());
    let stage = runtime_stage();
    let mut command = Command::new(env!("CARGO_BIN_EXE_callsync"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CALLSYNC_") {
            command.env_remove(name);
        }
    }
    // The image's environment, its paths and ports moved to this test's.
    let localise = |value: &str| {
        value
            .replace("/var/lib/callsync", &data_dir)
            .replace("0.0.0.0:8080", &format!("127.0.0.1:{api_port}"))
            .replace("0.0.0.0:9184", &format!("127.0.0.1:{metrics_port}"))
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{api_port}"))
    };
    let mut environment = Vec::new();
    for (instruction, arguments) in &stage {
        if instruction == "ENV" {
            for (key, value) in env_pairs(arguments) {
                environment.push(key.clone());
                command.env(key, localise(&value));
            }
        }
    }
    assert!(
        environment.contains(&"CALLSYNC_DATABASE_URL".to_owned()),
        "{environment:?}"
    );
    let entrypoint = exec_form(&stage.iter().find(|(i, _)| i == "ENTRYPOINT").unwrap().1);
    let cmd = exec_form(&stage.iter().find(|(i, _)| i == "CMD").unwrap().1);
    assert_eq!(entrypoint, ["/usr/local/bin/callsync"]);
    let mut child = command
        .args(&cmd)
        .current_dir(data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let healthcheck = exec_form(&stage.iter().find(|(i, _)| i == "HEALTHCHECK").unwrap().1);
    assert_eq!(healthcheck[0], "/usr/local/bin/callsync");
    let check_args: Vec<String> = healthcheck[1..].iter().map(|arg| localise(arg)).collect();
    let started = Instant::now();
    let healthy = loop {
        let status = Command::new(env!("CARGO_BIN_EXE_callsync"))
            .args(&check_args)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        if status.success() {
            break true;
        }
        if started.elapsed() > Duration::from_secs(30) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let key_file = data.path().join("callsync.sqlite.key");
    let key_exists = key_file.exists();
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(healthy, "the healthcheck never passed:\n{logs}");
    assert!(
        key_exists,
        "the embedded default key file beside the database:\n{logs}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(logs.contains("\"level\""), "the image logs JSON:\n{logs}");
    assert!(
        logs.contains("public_url is not set"),
        "the missing public_url is warned about:\n{logs}"
    );

    // With nothing answering, the healthcheck fails.
    let down = Command::new(env!("CARGO_BIN_EXE_callsync"))
        .args([
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{}/readyz", free_port()),
        ])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!down.success());
}

#[test]
fn the_systemd_unit_runs_serve_with_the_key_as_a_credential_and_no_privileges() {
    let unit = std::fs::read_to_string(workspace().join("deploy/callsync.service")).unwrap();
    for line in [
        "ExecStart=/usr/local/bin/callsync --config /etc/callsync/callsync.toml serve",
        "DynamicUser=yes",
        "LoadCredential=secret-key:/etc/callsync/secret.key",
        "Environment=CALLSYNC_SECRET_KEY_FILE=%d/secret-key",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line}");
    }
    // systemd's own check of every directive, where systemd is installed (the binary's
    // path moved to the one just built, which `verify` wants to exist).
    let Ok(analyze) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("skipped: systemd-analyze verify (systemd-analyze is not installed)");
        return;
    };
    assert!(analyze.status.success());
    let folder = tempfile::tempdir().unwrap();
    let local = folder.path().join("callsync.service");
    std::fs::write(
        &local,
        unit.replace("/usr/local/bin/callsync", env!("CARGO_BIN_EXE_callsync")),
    )
    .unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&local)
        .output()
        .unwrap();
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[test]
fn the_grafana_dashboard_is_json_and_charts_only_metrics_callsync_exports() {
    let text = std::fs::read_to_string(workspace().join("docs/grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let names =
        std::fs::read_to_string(workspace().join("crates/callsync/src/metrics.rs")).unwrap();
    let mut charted = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if !word.starts_with("callsync_") {
                    continue;
                }
                let metric = ["_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|suffix| word.strip_suffix(suffix))
                    .unwrap_or(word);
                assert!(
                    names.contains(&format!("\"{metric}\"")),
                    "{metric} in {expr}"
                );
                charted += 1;
            }
        }
    }
    assert!(charted >= 10, "{charted}");
}

#[test]
fn the_dockerfiles_debug_split_leaves_a_working_smaller_binary() {
    let dockerfile = std::fs::read_to_string(workspace().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("objcopy --only-keep-debug"));
    assert!(dockerfile.contains("objcopy --strip-debug --add-gnu-debuglink"));
    if Command::new("objcopy").arg("--version").output().is_err() {
        eprintln!("skipped: the debug split itself (objcopy is not installed)");
        return;
    }
    // The same two steps, on the binary cargo just built.
    let folder = tempfile::tempdir().unwrap();
    let (debug, shipped) = (
        folder.path().join("callsync.debug"),
        folder.path().join("callsync"),
    );
    let built = env!("CARGO_BIN_EXE_callsync");
    assert!(
        Command::new("objcopy")
            .args(["--only-keep-debug", built])
            .arg(&debug)
            .status()
            .unwrap()
            .success()
    );
    let mut link = std::ffi::OsString::from("--add-gnu-debuglink=");
    link.push(&debug);
    assert!(
        Command::new("objcopy")
            .arg("--strip-debug")
            .arg(link)
            .arg(built)
            .arg(&shipped)
            .status()
            .unwrap()
            .success()
    );
    let size = |path: &Path| std::fs::metadata(path).unwrap().len();
    assert!(
        size(&shipped) < size(Path::new(built)),
        "stripping made it smaller"
    );
    let version = Command::new(&shipped).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("callsync "));
}
