//! Crash repair: an `up` killed with SIGKILL at any moment is completed by the next `up` or repaired
//! by the next `down`, and nothing is leaked; and `down --rmi`.
//!
//! The crash loop first times one undisturbed `up -d` of a project with two networks, a named volume
//! and four services (with `depends_on`), then kills that many `up -d`s after a random delay within
//! that time (a small deterministic generator; the seed is printed, and `RCOMPOSE_CRASH_SEED` replays
//! one). After each kill it runs, in turn, `up -d` (which must converge: every service running,
//! exactly the expected containers, and a second `up -d` keeps their ids) or `down -v` (which must
//! succeed). At the end, after `down -v`, nothing of the state root may remain: no mount, no link, no
//! namespace file, no endpoint or network record, no cgroup, no monitor process, no volume.
//!
//! The test thread moves to a network namespace of its own before it runs anything, and rcompose
//! inherits it: every link there is the test's, so "no link left" is exact even while other tests
//! make bridges on the host.
//!
//! Needs root (see `common::can_run`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Fixture;

/// `sh` waits on a background sleep so that SIGTERM ends it at once: `down` stays fast.
const COMPOSE: &str = r#"
x-svc: &svc
  image: busybox:latest
  command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
services:
  db:
    <<: *svc
    volumes: [data:/data]
    networks: [back]
  cache:
    <<: *svc
    networks: [back]
  api:
    <<: *svc
    depends_on: [db, cache]
    networks: [back, front]
  web:
    <<: *svc
    depends_on:
      api:
        condition: service_started
    networks: [front]
networks:
  back: {}
  front: {}
volumes:
  data: {}
"#;

const SERVICES: [&str; 4] = ["api", "cache", "db", "web"];

/// At least this many kills, and more while the loop is within its time budget.
const MIN_KILLS: usize = 20;
const MAX_KILLS: usize = 30;
const BUDGET: Duration = Duration::from_secs(45);
/// No single command may take longer: a hang (a lock never released) fails the test.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs a command to its end, failing the test if it takes longer than [`COMMAND_TIMEOUT`].
fn run(mut command: Command) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rcompose");
    let pid = child.id();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(COMMAND_TIMEOUT) {
        Ok(output) => output.expect("wait for rcompose"),
        Err(_) => {
            // SAFETY: kill(2) on the pid of our own child, which has not been waited for.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("rcompose {command:?} took more than {COMMAND_TIMEOUT:?}");
        }
    }
}

fn ok(fixture: &Fixture, args: &[&str]) -> String {
    let output = run(fixture.cmd(args));
    assert!(
        output.status.success(),
        "rcompose {args:?} failed ({:?}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The project's containers as `ps -a` shows them: name to (id, state).
fn containers(fixture: &Fixture) -> BTreeMap<String, (String, String)> {
    ok(fixture, &["ps", "-a", "--format", "json"])
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                value["Name"].as_str().unwrap().to_string(),
                (
                    value["ID"].as_str().unwrap().to_string(),
                    value["State"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// Checks that the project runs as declared: one running container per service, nothing else.
fn assert_converged(fixture: &Fixture, context: &str) -> BTreeMap<String, (String, String)> {
    let found = containers(fixture);
    let expected: BTreeSet<String> = SERVICES
        .iter()
        .map(|s| format!("{}-{s}-1", fixture.name))
        .collect();
    assert_eq!(
        found.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "{context}: the containers are not exactly the project's"
    );
    for (name, (_, state)) in &found {
        assert_eq!(state, "running", "{context}: {name} is {state}");
    }
    found
}

/// Entries of a directory, dot files (locks) aside.
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| !name.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

/// The links of this thread's network namespace.
fn links() -> Vec<String> {
    std::fs::read_to_string("/proc/thread-self/net/dev")
        .unwrap()
        .lines()
        .skip(2)
        .filter_map(|line| line.split(':').next())
        .map(|name| name.trim().to_string())
        .collect()
}

/// Every container id the state root's event log has seen (a container gets a cgroup only once it
/// starts, after its `create` event).
fn ids_from_events(root: &Path) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for file in ["events.jsonl.1", "events.jsonl"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
        for line in text.lines() {
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(line)
                && let Some(id) = event["Actor"]["ID"].as_str()
            {
                ids.insert(id.to_string());
            }
        }
    }
    ids
}

/// Pids whose command line names the state root (monitors, helpers).
fn processes_of(root: &Path) -> Vec<String> {
    let needle = root.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains(&needle)
                .then(|| format!("{}: {text}", e.file_name().to_string_lossy()))
        })
        .collect()
}

fn assert_nothing_left(fixture: &Fixture, ids: &BTreeSet<String>) {
    let root = &fixture.root;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let needle = root.display().to_string();
    let left: Vec<&str> = mounts.lines().filter(|l| l.contains(&needle)).collect();
    assert!(left.is_empty(), "mounts left under the root: {left:#?}");
    let links = links();
    assert_eq!(links, ["lo"], "links left in the test's namespace");
    for dir in ["netns", "containers", "networks", "volumes"] {
        let left = entries(&root.join(dir));
        assert!(left.is_empty(), "{dir} left under the root: {left:?}");
    }
    assert!(!ids.is_empty(), "the event log names no container");
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        for id in ids {
            for cgroup in [
                hierarchy.path().join("rcompose").join(id),
                Path::new("/sys/fs/cgroup/rcompose").join(id),
            ] {
                assert!(!cgroup.exists(), "cgroup left: {}", cgroup.display());
            }
        }
    }
    let processes = processes_of(root);
    assert!(
        processes.is_empty(),
        "processes of the root left: {processes:#?}"
    );
}

/// Moves this thread (and so every process it spawns) to a new network namespace.
fn private_network() {
    // SAFETY: unshare(2) with CLONE_NEWNET changes only the calling thread's namespace.
    let result = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        result,
        0,
        "unshare(CLONE_NEWNET): {}",
        std::io::Error::last_os_error()
    );
}

#[test]
fn up_killed_at_random_points_is_repaired() {
    if !common::can_run() {
        return;
    }
    private_network();
    let fixture = Fixture::new("crash", COMPOSE);
    let seed = std::env::var("RCOMPOSE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash loop seed: {seed} (replay with RCOMPOSE_CRASH_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);

    // One undisturbed run gives the span the kills are spread over.
    let began = Instant::now();
    ok(&fixture, &["up", "-d"]);
    let span = began.elapsed();
    assert_converged(&fixture, "undisturbed up");
    ok(&fixture, &["down", "-v", "-t", "1"]);
    eprintln!("undisturbed up -d: {span:?}");

    let loop_began = Instant::now();
    let mut kills = 0;
    while kills < MIN_KILLS || (kills < MAX_KILLS && loop_began.elapsed() < BUDGET) {
        let delay = Duration::from_micros(rng.u64(..=span.as_micros() as u64));
        let mut child = fixture
            .cmd(&["up", "-d"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn up");
        std::thread::sleep(delay);
        child.kill().expect("SIGKILL up");
        let status = child.wait().unwrap();
        kills += 1;
        let context = format!("kill {kills} after {delay:?} ({status})");
        if kills % 2 == 1 {
            ok(&fixture, &["up", "-d"]);
            let first = assert_converged(&fixture, &context);
            ok(&fixture, &["up", "-d"]);
            let second = assert_converged(&fixture, &context);
            assert_eq!(first, second, "{context}: a no-op up changed containers");
        } else {
            ok(&fixture, &["down", "-v", "-t", "1"]);
            let left = containers(&fixture);
            assert!(left.is_empty(), "{context}: down left {left:?}");
        }
    }
    eprintln!("{kills} kills in {:?} (seed {seed})", loop_began.elapsed());
    ok(&fixture, &["down", "-v", "-t", "1"]);
    let ids = ids_from_events(&fixture.root);
    assert_nothing_left(&fixture, &ids);
}

const RMI: &str = r#"
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    networks: [shared]
  worker:
    build: .
networks:
  shared:
    name: rmi_shared
"#;

const PEER: &str = r#"
services:
  peer:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    networks: [shared]
networks:
  shared:
    name: rmi_shared
    external: true
"#;

/// Image names in the store.
fn image_names(fixture: &Fixture) -> BTreeSet<String> {
    ok(fixture, &["image", "ls", "--format", "json"])
        .lines()
        .filter_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).ok()?;
            Some(format!(
                "{}:{}",
                value["Repository"].as_str()?,
                value["Tag"].as_str()?
            ))
        })
        .collect()
}

/// The other project of the test, in the same state root.
fn peer_command(fixture: &Fixture, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rcompose"));
    command
        .arg("--root")
        .arg(&fixture.root)
        .args(["-p", "peer", "-f", "peer.yaml"])
        .args(args)
        .current_dir(fixture.path())
        .env("RCOMPOSE_MASQUERADE", "0");
    command
}

/// Takes the other project down whatever happens (before the fixture's own teardown).
struct PeerDown<'a>(&'a Fixture);

impl Drop for PeerDown<'_> {
    fn drop(&mut self) {
        let _ = peer_command(self.0, &["down", "-t", "1"]).output();
    }
}

#[test]
fn down_rmi_and_networks_other_projects_still_use() {
    if !common::can_run() {
        return;
    }
    let fixture = Fixture::new("rmi", RMI);
    // `worker` has no `image`: its image is docker compose's default name, `rmi-worker`.
    ok(&fixture, &["image", "tag", "busybox:latest", "rmi-worker"]);
    std::fs::write(fixture.path().join("peer.yaml"), PEER).unwrap();
    let _peer_down = PeerDown(&fixture);
    let peer = |args: &[&str]| {
        let output = run(peer_command(&fixture, args));
        assert!(
            output.status.success(),
            "peer {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    ok(&fixture, &["up", "-d", "web"]);
    peer(&["up", "-d"]);

    let local = ok(&fixture, &["down", "--rmi", "local", "--dry-run"]);
    assert!(
        local.contains("remove image rmi-worker: down --rmi local: no custom tag")
            && !local.contains("remove image busybox:latest"),
        "{local}"
    );
    let all = ok(&fixture, &["down", "--rmi", "all", "--dry-run"]);
    assert!(
        all.contains("remove image busybox:latest: down --rmi all")
            && all.contains("remove image rmi-worker: down --rmi all"),
        "{all}"
    );

    // The network still has the peer's container: kept with a warning, not a failure. busybox:latest
    // is one of two names of the peer's image: the name goes; rmi-worker, now its last name, stays.
    let output = run(fixture.cmd(&["down", "--rmi", "all", "-t", "1"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "down --rmi all failed: {stderr}");
    assert!(
        stderr.contains("network rmi_shared is kept"),
        "no warning for the shared network: {stderr}"
    );
    assert!(
        stderr.contains("image rmi-worker is kept: container peer-peer-1 uses it"),
        "no warning for the image in use: {stderr}"
    );
    assert_eq!(
        image_names(&fixture),
        BTreeSet::from(["rmi-worker:latest".to_string()])
    );
    assert!(fixture.root.join("networks/rmi_shared").exists());

    // Once the peer is gone, the next down removes the network and the last image.
    peer(&["down", "-t", "1"]);
    ok(&fixture, &["down", "--rmi", "local"]);
    assert!(!fixture.root.join("networks/rmi_shared").exists());
    assert!(
        image_names(&fixture).is_empty(),
        "{:?}",
        image_names(&fixture)
    );
}
