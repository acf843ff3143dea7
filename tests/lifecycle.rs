//! `up`, `ps`, `logs`, `down` end to end with real containers: the rcompose binary, a temporary state
//! root, and a busybox image imported offline from Debian's busybox-static.
//!
//! Needs root (namespaces, mounts, cgroups): without root each test prints `skipped: needs root` and
//! returns, unless `RCOMPOSE_TEST_ROOT=1` (CI), where that is a failure. Every test removes what it made
//! (`down -v` in a guard), and checks that nothing of its state root is left mounted.

use std::process::Command;

mod common;

use common::{Fixture, can_run};

const APP: &str = r#"
services:
  db:
    image: busybox
    command: sh -c "echo db ready > /data/marker; touch /tmp/ready; trap 'exit 0' TERM; while true; do sleep 1; done"
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
    volumes: [data:/data]
  web:
    image: busybox
    command: sh -c "echo web says $$GREETING; trap 'exit 0' TERM; while true; do sleep 1; done"
    environment:
      GREETING: hello
    depends_on:
      db: {condition: service_healthy}
  migrate:
    image: busybox
    command: echo migrated
volumes:
  data:
"#;

#[test]
fn up_converges_recreates_only_what_changed_and_down_cleans_up() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("lifecycle", APP);
    fixture.ok(&["up", "-d"]);
    // The one-shot exits on its own, shortly after `up -d` returns.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while fixture
        .containers()
        .iter()
        .any(|c| c["Service"] == "migrate" && c["State"] == "running")
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let containers = fixture.containers();
    let state = |service: &str| {
        containers
            .iter()
            .find(|c| c["Service"] == service)
            .map(|c| c["State"].as_str().unwrap().to_string())
    };
    assert_eq!(state("db").as_deref(), Some("running"));
    assert_eq!(state("web").as_deref(), Some("running"));
    assert_eq!(state("migrate").as_deref(), Some("exited"));
    // up found db healthy through the probe its monitor ran and recorded: ps says the same at once.
    let db_health = containers.iter().find(|c| c["Service"] == "db").unwrap()["Health"].clone();
    assert_eq!(db_health, "healthy");
    let local_volumes = |service: &str| {
        containers.iter().find(|c| c["Service"] == service).unwrap()["LocalVolumes"].clone()
    };
    assert_eq!(
        (local_volumes("db"), local_volumes("web")),
        ("1".into(), "0".into())
    );
    assert_eq!(
        containers
            .iter()
            .find(|c| c["Service"] == "migrate")
            .unwrap()["ExitCode"],
        0
    );
    assert_eq!(
        containers.iter().find(|c| c["Service"] == "web").unwrap()["Name"],
        "lifecycle-web-1"
    );

    let logs = fixture.ok(&["logs", "--no-color"]);
    assert!(logs.contains("web-1      | web says hello"), "{logs}");
    assert!(logs.contains("migrated"), "{logs}");
    // --since and --until: times, durations before now, and a clear error for anything else.
    let recent = fixture.ok(&["logs", "--no-color", "--since", "10m", "web"]);
    assert!(recent.contains("web says hello"), "{recent}");
    assert_eq!(
        fixture.ok(&["logs", "--since", "2099-01-01T00:00:00Z", "web"]),
        ""
    );
    assert_eq!(fixture.ok(&["logs", "--until", "10m", "web"]), "");
    let bad = fixture.command(&["logs", "--since", "bogus"]);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid --since value"));

    // Nothing changed: nothing to do, and the same containers.
    let (db, web) = (fixture.id_of("db"), fixture.id_of("web"));
    assert_eq!(fixture.ok(&["up", "--dry-run"]), "nothing to do\n");
    fixture.ok(&["up", "-d"]);
    assert_eq!(
        (fixture.id_of("db"), fixture.id_of("web")),
        (db.clone(), web.clone())
    );

    // One setting changed: only that service is recreated, and the plan says why.
    fixture.write(&APP.replace("GREETING: hello", "GREETING: bonjour"));
    let plan = fixture.ok(&["up", "--dry-run"]);
    assert!(plan.contains("environment.GREETING changed"), "{plan}");
    fixture.ok(&["up", "-d"]);
    assert_eq!(fixture.id_of("db"), db);
    assert_ne!(fixture.id_of("web"), web);
    assert!(fixture.ok(&["logs", "web"]).contains("web says bonjour"));

    // The named volume survives recreation and `down`, not `down -v`.
    fixture.ok(&["up", "-d", "--force-recreate", "db"]);
    fixture.ok(&["down"]);
    assert!(fixture.containers().is_empty());
    let marker = fixture.root.join("volumes/lifecycle_data/_data/marker");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "db ready\n");
    fixture.ok(&["down", "-v"]);
    assert!(!marker.exists());
    let left: Vec<_> = std::fs::read_dir(fixture.root.join("containers"))
        .unwrap()
        .flatten()
        .filter(|entry| entry.path().is_dir())
        .collect();
    assert!(left.is_empty(), "container directories left: {left:?}");
}

#[test]
fn attached_up_streams_prefixed_logs_until_the_containers_exit() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "attached",
        "services:\n  hello:\n    image: busybox\n    command: sh -c 'echo one; echo two >&2'\n",
    );
    let output = fixture.command(&["up", "--no-color"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("hello-1  | one") && stdout.contains("hello-1  | two"),
        "{stdout}"
    );
    assert!(stderr.contains("hello-1 exited with code 0"), "{stderr}");
}

#[test]
fn down_removes_the_containers_of_every_profile() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "profiles",
        "services:\n  app:\n    image: busybox\n    command: sleep 1000\n    stop_signal: SIGKILL\n  \
         tools:\n    image: busybox\n    command: sleep 1000\n    stop_signal: SIGKILL\n    \
         profiles: [tools]\n    volumes: [cache:/cache]\nvolumes:\n  cache: {}\n",
    );
    fixture.ok(&["up", "-d"]);
    fixture.ok(&["--profile", "tools", "up", "-d", "tools"]);
    assert_eq!(fixture.containers().len(), 2);
    // Without --profile: the tools container, its volume and the network go too.
    fixture.ok(&["down", "-v"]);
    assert!(fixture.containers().is_empty());
    let volumes = fixture.ok(&["volume", "ls", "-q"]);
    assert!(volumes.trim().is_empty(), "{volumes}");
}

#[test]
fn an_unhealthy_dependency_stops_up_with_the_probe_output() {
    if !can_run() {
        return;
    }
    let compose = r#"
services:
  db:
    image: busybox
    command: sh -c "trap 'exit 0' TERM; while true; do sleep 1; done"
    healthcheck:
      test: ["CMD-SHELL", "echo not yet; exit 1"]
      interval: 1s
      retries: 2
  web:
    image: busybox
    command: sleep 100
    depends_on:
      db: {condition: service_healthy}
"#;
    let fixture = Fixture::new("unhealthy", compose);
    let output = fixture.command(&["up", "-d"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("service \"db\" is unhealthy") && stderr.contains("not yet"),
        "{stderr}"
    );
    // web was created but never started.
    let web = fixture
        .containers()
        .into_iter()
        .find(|c| c["Service"] == "web")
        .unwrap();
    assert_eq!(web["State"], "created");
}

#[test]
fn a_missing_image_fails_before_anything_is_created() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "noimage",
        "services:\n  a:\n    image: busybox\n    command: sleep 100\n  b:\n    image: nosuch:1.0\n",
    );
    let output = fixture.command(&["up", "-d"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("nosuch:1.0 would come from https://registry-1.docker.io, but registries off this machine are not used"),
        "{stderr}"
    );
    assert!(
        fixture.containers().is_empty(),
        "nothing may be half-created"
    );
}

#[test]
fn an_image_under_a_container_is_neither_removed_nor_pruned() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "inuse",
        "services:\n  a:\n    image: busybox\n    command: sleep 100\n",
    );
    fixture.ok(&["up", "-d"]);
    let output = fixture.command(&["image", "rm", "busybox"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("container inuse-a-1 is using it"));
    // Import another image under the same name: the container's image becomes dangling but stays.
    fixture.import_busybox();
    fixture.ok(&["image", "prune"]);
    fixture.ok(&["restart"]);
    let state = fixture.containers().into_iter().next().unwrap()["State"].clone();
    assert_eq!(state, "running");
}

#[test]
fn exec_runs_in_the_container_and_passes_the_exit_code_through() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "exec",
        "services:\n  app:\n    image: busybox\n    command: sleep 100\n    environment: {COLOR: blue}\n",
    );
    fixture.ok(&["up", "-d"]);
    let output = fixture.command(&[
        "exec",
        "-T",
        "-e",
        "EXTRA=1",
        "-w",
        "/tmp",
        "app",
        "sh",
        "-c",
        "echo $COLOR $EXTRA $PWD; exit 7",
    ]);
    assert_eq!(output.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "blue 1 /tmp\n");
}

#[test]
fn two_ups_at_once_are_serialized() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "twice",
        "services:\n  a:\n    image: busybox\n    command: sleep 100\n    deploy: {replicas: 2}\n",
    );
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_rcompose"))
            .env("RCOMPOSE_MASQUERADE", "0")
            .arg("--root")
            .arg(&fixture.root)
            .args(["-p", "twice", "up", "-d"])
            .current_dir(fixture.dir.path())
            .output()
    };
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(spawn);
        let second = scope.spawn(spawn);
        (
            first.join().unwrap().unwrap(),
            second.join().unwrap().unwrap(),
        )
    });
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let names: Vec<String> = fixture
        .containers()
        .iter()
        .map(|c| c["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["twice-a-1", "twice-a-2"]);
}

/// Containers that ignore SIGTERM are stopped a dependency level at once: `down` of many takes about
/// one grace period, not one per slot of `COMPOSE_PARALLEL_LIMIT` (it took 70 s for 100 before).
#[test]
fn down_of_many_containers_that_ignore_sigterm_takes_one_grace_period() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "stubborn",
        "services:\n  stubborn:\n    image: busybox\n    command: [\"sleep\", \"600\"]\n    scale: 24\n    stop_grace_period: 2s\n",
    );
    fixture.ok(&["up", "-d"]);
    assert_eq!(fixture.containers().len(), 24);
    for verb in [&["stop"][..], &["down"][..]] {
        if verb == ["down"] {
            fixture.ok(&["up", "-d"]);
        }
        let begin = std::time::Instant::now();
        let output = fixture
            .cmd(verb)
            .env("COMPOSE_PARALLEL_LIMIT", "4")
            .output()
            .unwrap();
        assert!(output.status.success(), "{verb:?}: {output:?}");
        let took = begin.elapsed();
        // Six slots' worth of grace periods would be 12 s; one is 2 s plus the kills.
        assert!(
            took < std::time::Duration::from_secs(7),
            "{verb:?} of 24 took {took:?}"
        );
    }
}
