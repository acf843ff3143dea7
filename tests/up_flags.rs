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
