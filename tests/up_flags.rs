//! `up`'s flags that decide when it returns and with which code: `--abort-on-container-exit`,
//! `--exit-code-from`, `--wait` (healthy services, completed one-shots, failures), `--attach` /
//! `--no-attach`. Real containers; root-gated (see `common::can_run`).

mod common;

use common::Fixture;

const PROJECT: &str = r#"
services:
  server:
    image: busybox
    command: ["sh", "-c", "echo serving; exec sleep 1000"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  job:
    image: busybox
    command: ["sh", "-c", "sleep 1; echo job done; exit 3"]
  setup:
    image: busybox
    command: ["sh", "-c", "echo setup ok"]
  sick:
    image: busybox
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      retries: 1
"#;

#[test]
fn abort_on_container_exit_and_exit_code_from() {
    if !common::can_run() {
        return;
    }
    let fx = Fixture::new("abort", PROJECT);
    // The first container to exit (setup, 0) aborts the run and gives its code.
    let output = fx.command(&["up", "--abort-on-container-exit", "server", "setup"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Aborting on container exit"), "{stderr}");
    // Everything is stopped afterwards.
    assert!(fx.ok(&["ps", "-q"]).trim().is_empty());
    // --exit-code-from: job's code, whatever exits first.
    let output = fx.command(&["up", "--exit-code-from", "job", "server", "job"]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("job done"), "{stdout}");
    assert!(fx.ok(&["ps", "-q"]).trim().is_empty());
    // -d and --abort-on-container-exit do not go together.
    let error = fx.fails(&["up", "-d", "--abort-on-container-exit"]);
    assert!(error.contains("cannot be used with"), "{error}");
}

#[test]
fn wait_returns_once_services_are_healthy_or_done() {
    if !common::can_run() {
        return;
    }
    let fx = Fixture::new("waits", PROJECT);
    // server healthy and setup completed: success, detached.
    fx.ok(&["up", "--wait", "--wait-timeout", "30", "server", "setup"]);
    let ps = fx.ok(&["ps", "--format", "json", "server"]);
    assert!(ps.contains("healthy"), "{ps}");
    // An unhealthy service makes --wait fail, naming it.
    let error = fx.fails(&["up", "--wait", "--wait-timeout", "30", "sick"]);
    assert!(error.contains("waits-sick-1 is unhealthy"), "{error}");
}

#[test]
fn attach_limits_the_logs_followed() {
    if !common::can_run() {
        return;
    }
    let fx = Fixture::new("attach", PROJECT);
    let output = fx.command(&["up", "--attach", "setup", "setup", "job"]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("setup ok"), "{stdout}");
    assert!(!stdout.contains("job done"), "{stdout}");
}

/// Two independent services whose PID 1 ignores SIGTERM, each with a 3 s grace period.
const STUBBORN: &str = r#"
services:
  a:
    image: busybox
    command: ["sh", "-c", "trap '' TERM; echo up; while true; do sleep 1; done"]
    stop_grace_period: 3s
  b:
    image: busybox
    command: ["sh", "-c", "trap '' TERM; echo up; while true; do sleep 1; done"]
    stop_grace_period: 3s
"#;

/// Starts an attached `up`, waits until both services run, sends `interrupts` SIGINTs 300 ms
/// apart, and returns the exit code and how long `up` took to end after the first.
fn interrupted_up(fx: &Fixture, interrupts: usize) -> (Option<i32>, std::time::Duration) {
    use std::time::{Duration, Instant};
    let mut child = fx
        .cmd(&["up", "--no-color"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while fx
        .containers()
        .iter()
        .filter(|c| c["State"] == "running")
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "the services did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let began = Instant::now();
    for _ in 0..interrupts {
        // SAFETY: kill takes plain integers; the pid is the child this test started.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
        std::thread::sleep(Duration::from_millis(300));
    }
    let status = child.wait().unwrap();
    let took = began.elapsed();
    assert!(fx.containers().iter().all(|c| c["State"] == "exited"));
    (status.code(), took)
}

#[test]
fn ctrl_c_stops_services_together_and_a_second_one_kills() {
    if !common::can_run() {
        return;
    }
    let fx = Fixture::new("ctrlc", STUBBORN);
    // One Ctrl-C: both wait out their 3 s grace period at the same time (one after the other
    // would take 6 s).
    let (code, took) = interrupted_up(&fx, 1);
    assert_eq!(code, Some(130));
    assert!(
        took >= std::time::Duration::from_millis(2500)
            && took < std::time::Duration::from_millis(5500),
        "{took:?}"
    );
    // A second Ctrl-C kills them instead of waiting.
    let (code, took) = interrupted_up(&fx, 2);
    assert_eq!(code, Some(130));
    assert!(took < std::time::Duration::from_millis(2500), "{took:?}");
    fx.ok(&["down", "-t", "0"]);
}

/// `--abort-on-container-failure`: a one-shot that exits 0 does not stop the run; the first exit
/// with another code does, and gives it.
#[test]
fn abort_on_container_failure_stops_on_a_failed_exit_only() {
    if !common::can_run() {
        return;
    }
    let fx = Fixture::new("abortfail", PROJECT);
    let output = fx.command(&[
        "up",
        "--abort-on-container-failure",
        "server",
        "setup",
        "job",
    ]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Aborting on container failure"), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    // setup ended (0) first and the run went on until job failed.
    assert!(
        stdout.contains("setup ok") && stdout.contains("job done"),
        "{stdout}"
    );
    assert!(fx.ok(&["ps", "-q"]).trim().is_empty());
}

/// `--attach-dependencies`: the logs of the named services' dependencies are followed too.
#[test]
fn attach_dependencies_follows_the_dependencies_logs() {
    if !common::can_run() {
        return;
    }
    let project = "services:\n  db:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo db ready\"]\n  app:\n    image: busybox\n    command: [\"sh\", \"-c\", \"sleep 1; echo app done\"]\n    depends_on: [db]\n";
    let fx = Fixture::new("attachdeps", project);
    let output = fx.command(&["up", "app"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("app done") && !stdout.contains("db ready"),
        "{stdout}"
    );
    fx.ok(&["down"]);
    let output = fx.command(&["up", "--attach-dependencies", "app"]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("app done") && stdout.contains("db ready"),
        "{stdout}"
    );
}

/// After Ctrl-C an attached `up` goes on showing what the containers print while they stop, and
/// that they exited, as docker compose does.
#[test]
fn ctrl_c_shows_the_output_of_stopping_containers() {
    use std::time::{Duration, Instant};
    if !common::can_run() {
        return;
    }
    let project = "services:\n  polite:\n    image: busybox\n    command: [\"sh\", \"-c\", \"trap 'echo got TERM; exit 0' TERM; echo up; while true; do sleep 0.1; done\"]\n";
    let fx = Fixture::new("stoplogs", project);
    let child = fx
        .cmd(&["up", "--no-color"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fx.containers().iter().any(|c| c["State"] == "running") {
        assert!(Instant::now() < deadline, "the service did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Its first line is out before the interrupt.
    while !fx.ok(&["logs", "polite"]).contains("up") {
        assert!(Instant::now() < deadline, "no output");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill takes plain integers; the pid is the child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("got TERM"), "{stdout}\n{stderr}");
    assert!(stderr.contains("exited with code 0"), "{stderr}");
}
