//! `rcompose watch` with real containers: sync (edits, renames, deletions, new directories, a
//! 1,000-file batch, ignored paths, atime-only changes, after a restart and a recreation),
//! sync+exec, rebuild (new image, named volume kept) and edits of the compose file (applied; a
//! broken one leaves the project running). Root and busybox-static needed.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Fixture;

/// A running `rcompose watch` (or `up --watch`), its stderr in a file; stopped with SIGINT on drop.
struct Watcher {
    child: Child,
    log: PathBuf,
}

impl Watcher {
    fn start(fixture: &Fixture, args: &[&str]) -> Watcher {
        let log = fixture
            .path()
            .join(format!("watch-{}.log", fastrand::u32(..)));
        let file = fs::File::create(&log).unwrap();
        let child = fixture
            .cmd(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start rcompose watch");
        let watcher = Watcher { child, log };
        watcher.wait_for("Watch enabled", Duration::from_secs(60));
        watcher
    }

    fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the output has `text` (at least `count` times, see [`Watcher::wait_count`]).
    fn wait_for(&self, text: &str, timeout: Duration) {
        self.wait_count(text, 1, timeout);
    }

    fn wait_count(&self, text: &str, count: usize, timeout: Duration) {
        let started = Instant::now();
        while self.output().matches(text).count() < count {
            assert!(
                started.elapsed() < timeout,
                "no {count}× {text:?} in the watch output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(mut self) -> String {
        self.interrupt();
        self.output()
    }

    fn interrupt(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: kill has no memory preconditions; the pid is our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.interrupt();
        }
    }
}

/// Runs `sh -c script` in service `service`'s container; its stdout, or `None` if it failed.
fn sh(fixture: &Fixture, service: &str, script: &str) -> Option<String> {
    let output = fixture.command(&["exec", "-T", service, "sh", "-c", script]);
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Waits until `check` holds, polling.
fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const WAIT: Duration = Duration::from_secs(15);

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

const SYNC_PROJECT: &str = r#"services:
  web:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    develop:
      watch:
        - action: sync
          path: ./src
          target: /app
          ignore: [ignored, "*.tmp"]
        - action: sync+exec
          path: ./hooks
          target: /hooks
          exec:
            command: ["sh", "-c", "cat /hooks/* > /tmp/exec-ran"]
            environment:
              MARK: exec
"#;

#[test]
fn sync_follows_edits_deletions_new_directories_and_big_batches() {
    if !common::can_run() {
        return;
    }
    let fixture = Fixture::new("watchsync", SYNC_PROJECT);
    let src = fixture.path().join("src");
    write(&src.join("first.txt"), "one");
    fs::create_dir_all(fixture.path().join("hooks")).unwrap();
    let watcher = Watcher::start(&fixture, &["watch"]);
    let cat = |path: &str| sh(&fixture, "web", &format!("cat {path}"));

    // An edit, then an editor's save (a temporary file renamed over the old one).
    write(&src.join("first.txt"), "two");
    eventually("first.txt = two", WAIT, || {
        cat("/app/first.txt").as_deref() == Some("two")
    });
    write(&src.join(".first.txt.tmp-save"), "three");
    fs::rename(src.join(".first.txt.tmp-save"), src.join("first.txt")).unwrap();
    eventually("first.txt = three", WAIT, || {
        cat("/app/first.txt").as_deref() == Some("three")
    });

    // A deletion.
    write(&src.join("doomed.txt"), "x");
    eventually("doomed.txt", WAIT, || cat("/app/doomed.txt").is_some());
    fs::remove_file(src.join("doomed.txt")).unwrap();
    eventually("doomed.txt removed", WAIT, || {
        cat("/app/doomed.txt").is_none()
    });

    // A new directory tree with files, made at once.
    fs::create_dir_all(src.join("new/deep/er")).unwrap();
    write(&src.join("new/deep/er/leaf.txt"), "leaf");
    write(&src.join("new/top.txt"), "top");
    eventually("new directory", WAIT, || {
        cat("/app/new/deep/er/leaf.txt").as_deref() == Some("leaf")
            && cat("/app/new/top.txt").as_deref() == Some("top")
    });
    // A directory removed with its files.
    fs::remove_dir_all(src.join("new")).unwrap();
    eventually("new removed", WAIT, || {
        sh(&fixture, "web", "test -e /app/new").is_none()
    });

    // 1,000 files at once (a branch switch): every one arrives.
    let before = watcher.output().matches("synced").count();
    for i in 0..1000 {
        write(&src.join(format!("many/file-{i:04}.txt")), &format!("{i}"));
    }
    eventually("1,000 files", WAIT, || {
        sh(&fixture, "web", "ls /app/many | wc -l").as_deref() == Some("1000")
    });
    assert_eq!(cat("/app/many/file-0999.txt").as_deref(), Some("999"));
    let batches = watcher.output().matches("synced").count() - before;
    eprintln!(
        "the 1,000 files came in {batches} batch(es):\n{}",
        watcher.output()
    );

    // Ignored paths, editor swap files, .git and access times cause nothing.
    let lines_before = watcher.output().lines().count();
    write(&src.join("ignored/secret.txt"), "no");
    write(&src.join("scratch.tmp"), "no");
    write(&src.join(".first.txt.swp"), "no");
    write(&src.join(".git/HEAD"), "ref: no");
    let status = std::process::Command::new("touch")
        .arg("-a")
        .arg(src.join("first.txt"))
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        watcher.output().lines().count(),
        lines_before,
        "ignored changes acted:\n{}",
        watcher.output()
    );
    assert!(cat("/app/ignored/secret.txt").is_none());
    assert!(cat("/app/scratch.tmp").is_none());
    assert!(cat("/app/.git/HEAD").is_none());

    // sync+exec: the files, then the command, with the rule's environment.
    write(&fixture.path().join("hooks/hook.txt"), "hooked");
    eventually("the exec ran", WAIT, || {
        cat("/tmp/exec-ran").as_deref() == Some("hooked")
    });
    watcher.wait_for("ran \"sh -c", WAIT);

    // After a restart, and after a recreation, syncing goes on.
    fixture.ok(&["restart", "web"]);
    write(&src.join("after-restart.txt"), "restarted");
    eventually("synced after restart", WAIT, || {
        cat("/app/after-restart.txt").as_deref() == Some("restarted")
    });
    fixture.ok(&["up", "-d", "--force-recreate"]);
    write(&src.join("after-recreate.txt"), "recreated");
    eventually("synced after recreate", WAIT, || {
        cat("/app/after-recreate.txt").as_deref() == Some("recreated")
    });

    let output = watcher.stop();
    assert!(
        output.contains("web: synced 1 file (first.txt) in watchsync-web-1"),
        "{output}"
    );
    assert!(output.contains("removed 1 path (doomed.txt)"), "{output}");
    assert!(!output.contains("failed"), "{output}");
    // The containers keep running after the watch ends.
    assert_eq!(cat("/app/after-recreate.txt").as_deref(), Some("recreated"));
}

const REBUILD_PROJECT: &str = r#"services:
  api:
    build: .
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    volumes: [data:/data]
    develop:
      watch:
        - action: rebuild
          path: ./version
volumes:
  data: {}
"#;

#[test]
fn rebuild_runs_the_new_image_and_keeps_named_volumes() {
    if !common::can_run() {
        return;
    }
    let fixture = Fixture::new("watchbuild", REBUILD_PROJECT);
    write(
        &fixture.path().join("Dockerfile"),
        "FROM busybox:latest\nCOPY version /version\n",
    );
    write(&fixture.path().join("version"), "v1");
    let watcher = Watcher::start(&fixture, &["watch", "--quiet"]);
    let before = fixture.id_of("api");
    assert_eq!(sh(&fixture, "api", "cat /version").as_deref(), Some("v1"));
    sh(&fixture, "api", "echo kept > /data/mark").unwrap();

    write(&fixture.path().join("version"), "v2");
    watcher.wait_for("api: rebuilt and recreated", Duration::from_secs(60));
    assert_eq!(sh(&fixture, "api", "cat /version").as_deref(), Some("v2"));
    assert_eq!(
        sh(&fixture, "api", "cat /data/mark").as_deref(),
        Some("kept")
    );
    assert_ne!(fixture.id_of("api"), before);
    let output = watcher.stop();
    assert!(!output.contains("failed"), "{output}");
    // --prune: the replaced image went with its last user.
    let dangling = fixture.ok(&["image", "ls", "-q", "--filter", "dangling=true"]);
    assert!(dangling.trim().is_empty(), "{dangling}");
}

const CONFIG_PROJECT: &str = r#"services:
  app:
    image: busybox:latest
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    environment:
      GREETING: one
    develop:
      watch:
        - action: sync
          path: ./src
          target: /src
"#;

#[test]
fn compose_file_edits_are_applied_and_broken_ones_keep_the_project_running() {
    if !common::can_run() {
        return;
    }
    let fixture = Fixture::new("watchconfig", CONFIG_PROJECT);
    fs::create_dir_all(fixture.path().join("src")).unwrap();
    let watcher = Watcher::start(&fixture, &["up", "--watch"]);
    let greeting = || sh(&fixture, "app", "echo $GREETING");
    eventually("app up", WAIT, || greeting().as_deref() == Some("one"));

    fixture.write(&CONFIG_PROJECT.replace("GREETING: one", "GREETING: two"));
    eventually("GREETING = two", WAIT, || {
        greeting().as_deref() == Some("two")
    });
    watcher.wait_for("compose.yaml changed: project applied", WAIT);

    // A broken edit: the error names the line; the project keeps running as it was (looked at
    // through a copy of the last good file, since commands cannot load the broken one).
    let good = CONFIG_PROJECT.replace("GREETING: one", "GREETING: two");
    write(&fixture.path().join("good.yaml"), &good);
    fixture.write(&CONFIG_PROJECT.replace("GREETING: one", "GREETING: [unclosed"));
    watcher.wait_for("does not load", WAIT);
    let output = watcher.output();
    assert!(output.contains("compose.yaml:"), "{output}");
    let in_good = |script: &str| {
        let output = fixture.command(&["-f", "good.yaml", "exec", "-T", "app", "sh", "-c", script]);
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    assert_eq!(in_good("echo $GREETING"), "two");
    // Syncing goes on meanwhile, and the fixed file is applied.
    write(&fixture.path().join("src/f.txt"), "still");
    eventually("sync while broken", WAIT, || {
        in_good("cat /src/f.txt") == "still"
    });
    fixture.write(&CONFIG_PROJECT.replace("GREETING: one", "GREETING: three"));
    eventually("GREETING = three", WAIT, || {
        greeting().as_deref() == Some("three")
    });

    // An included file is followed too, and so is an `extends` base in another file: editing only
    // them changes what runs.
    let extra = |level: &str| {
        format!(
            "services:\n  extra:\n    extends: {{file: base.yaml, service: base}}\n    environment: {{LEVEL: {level}}}\n"
        )
    };
    let base = |tone: &str| {
        format!(
            "services:\n  base:\n    image: busybox:latest\n    command: [\"sleep\", \"3600\"]\n    stop_signal: SIGKILL\n    environment: {{TONE: {tone}}}\n"
        )
    };
    write(&fixture.path().join("base.yaml"), &base("low"));
    write(&fixture.path().join("extra.yaml"), &extra("a"));
    fixture.write(&format!(
        "{}include:\n  - extra.yaml\n",
        CONFIG_PROJECT.replace("GREETING: one", "GREETING: three")
    ));
    let extra_env = || sh(&fixture, "extra", "echo $LEVEL-$TONE");
    eventually("extra up", WAIT, || extra_env().as_deref() == Some("a-low"));
    write(&fixture.path().join("extra.yaml"), &extra("b"));
    eventually("LEVEL = b", WAIT, || {
        extra_env().as_deref() == Some("b-low")
    });
    write(&fixture.path().join("base.yaml"), &base("high"));
    eventually("TONE = high", WAIT, || {
        extra_env().as_deref() == Some("b-high")
    });
    let output = watcher.stop();
    assert!(!output.contains("failed"), "{output}");
}

const RESTART_PROJECT: &str = r#"services:
  conf:
    image: busybox:latest
    command: ["sh", "-c", "cat /conf/app.ini > /tmp/seen 2>/dev/null; exec sleep 3600"]
    stop_signal: SIGKILL
    develop:
      watch:
        - action: sync+restart
          path: ./conf
          target: /conf
        - action: sync
          path: ./seed
          target: /seed
          initial_sync: true
"#;

#[test]
fn sync_restart_restarts_and_initial_sync_copies_existing_files() {
    if !common::can_run() {
        return;
    }
    let fixture = Fixture::new("watchrestart", RESTART_PROJECT);
    write(&fixture.path().join("conf/app.ini"), "first");
    write(&fixture.path().join("seed/deep/seeded.txt"), "seeded");
    let watcher = Watcher::start(&fixture, &["watch"]);
    // initial_sync: what existed before the watch is in the container once it is enabled.
    assert_eq!(
        sh(&fixture, "conf", "cat /seed/deep/seeded.txt").as_deref(),
        Some("seeded")
    );
    // sync+restart: the file, then a restart that runs the command again and reads it.
    write(&fixture.path().join("conf/app.ini"), "second");
    watcher.wait_for("conf: restarted after 1 change (app.ini)", WAIT);
    eventually("the restarted command saw the file", WAIT, || {
        sh(&fixture, "conf", "cat /tmp/seen").as_deref() == Some("second")
    });
    let output = watcher.stop();
    assert!(!output.contains("failed"), "{output}");
}

const RESTARTING_PROJECT: &str = r#"services:
  flaky:
    image: busybox:latest
    command: ["sh", "-c", "cat /src/f.txt > /seen/last 2>/dev/null; sleep 1; exit 1"]
    restart: always
    stop_signal: SIGKILL
    volumes: ["./seen:/seen"]
    develop:
      watch:
        - action: sync
          path: ./src
          target: /src
"#;

/// The only container's `state.json` (status, restart count).
fn only_state(fixture: &Fixture) -> Option<serde_json::Value> {
    let containers = fixture.root.join("containers");
    fs::read_dir(containers)
        .ok()?
        .flatten()
        .find_map(|entry| fs::read(entry.path().join("state.json")).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

/// Files that change while a container waits out its restart policy's back-off reach it when it
/// runs again (it is not running, so nothing can be copied into it then).
#[test]
fn changes_made_while_a_container_restarts_reach_it_when_it_runs_again() {
    if !common::can_run() {
        return;
    }
    let fixture = Fixture::new("watchbackoff", RESTARTING_PROJECT);
    write(&fixture.path().join("src/f.txt"), "old");
    fs::create_dir_all(fixture.path().join("seen")).unwrap();
    let watcher = Watcher::start(&fixture, &["up", "--watch"]);
    // After four restarts the back-off is 1.6 s or more: a change made while it restarts is
    // synced while the container is sure not to run.
    eventually("a long back-off", Duration::from_secs(40), || {
        only_state(&fixture).is_some_and(|state| {
            state["status"] == "restarting" && state["restart_count"].as_u64() >= Some(4)
        })
    });
    write(&fixture.path().join("src/f.txt"), "new");
    let seen = fixture.path().join("seen/last");
    eventually(
        "the change in the restarted container",
        Duration::from_secs(40),
        || fs::read_to_string(&seen).is_ok_and(|text| text == "new"),
    );
    let output = watcher.stop();
    assert!(output.contains("while it restarted into"), "{output}");
}

/// The kernel's event queue really overflows (the watcher is stopped while more files are written
/// than the queue holds, `fs.inotify.max_queued_events`): the watcher says events were lost, scans
/// its trees again and syncs everything, then goes on following changes.
#[test]
fn a_real_event_queue_overflow_is_repaired_by_a_rescan() {
    if !common::can_run() {
        return;
    }
    let fixture = Fixture::new("watchflood", SYNC_PROJECT);
    let src = fixture.path().join("src");
    fs::create_dir_all(src.join("flood")).unwrap();
    fs::create_dir_all(fixture.path().join("hooks")).unwrap();
    let watcher = Watcher::start(&fixture, &["watch"]);
    let queued: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Each new file is at least two events (created, closed after writing).
    let files = queued / 2 + 1000;
    let pid = watcher.child.id() as i32;
    // SAFETY: kill has no memory preconditions; the pid is our own child, not yet reaped.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    for i in 0..files {
        fs::write(src.join(format!("flood/f{i:06}")), "x").unwrap();
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    watcher.wait_for("events were lost", WAIT);
    let count = || sh(&fixture, "web", "ls /app/flood | wc -l");
    eventually("every flooded file synced", Duration::from_secs(60), || {
        count() == Some(files.to_string())
    });
    write(&src.join("after.txt"), "after");
    eventually("a change after the rescan", WAIT, || {
        sh(&fixture, "web", "cat /app/after.txt").as_deref() == Some("after")
    });
    watcher.stop();
}

/// The pid `watch --status` names, if a background watch runs.
fn background_watcher(fixture: &Fixture) -> Option<i32> {
    let output = fixture.command(&["watch", "--status"]);
    let text = String::from_utf8_lossy(&output.stdout);
    let pid = text.split("(pid ").nth(1)?.split(')').next()?.parse().ok();
    assert_eq!(output.status.success(), pid.is_some(), "{text}");
    pid
}

fn process_runs(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

/// `up -d --watch` (which docker compose refuses): the project runs and a watcher in the background
/// follows its files and compose file until `watch --stop` or `down`; `watch --status` says so.
#[test]
fn a_background_watch_follows_the_project_until_stopped_or_down() {
    if !common::can_run() {
        return;
    }
    let fixture = Fixture::new("watchdetach", CONFIG_PROJECT);
    fs::create_dir_all(fixture.path().join("src")).unwrap();
    let up = fixture.command(&["up", "-d", "--watch"]);
    let said = String::from_utf8_lossy(&up.stderr).to_string();
    assert!(
        up.status.success() && said.contains("Watching in the background"),
        "{said}"
    );
    let pid = background_watcher(&fixture).expect("a background watch");
    assert!(process_runs(pid));
    write(&fixture.path().join("src/f.txt"), "background");
    eventually("synced in the background", WAIT, || {
        sh(&fixture, "app", "cat /src/f.txt").as_deref() == Some("background")
    });
    fixture.write(&CONFIG_PROJECT.replace("GREETING: one", "GREETING: two"));
    eventually("compose edit applied in the background", WAIT, || {
        sh(&fixture, "app", "echo $GREETING").as_deref() == Some("two")
    });
    // A second one keeps the watcher that runs.
    fixture.ok(&["up", "-d", "--watch"]);
    assert_eq!(background_watcher(&fixture), Some(pid));
    fixture.ok(&["watch", "--stop"]);
    assert!(!process_runs(pid), "watch --stop left the watcher running");
    assert_eq!(background_watcher(&fixture), None);
    // `watch -d`, then `down` ends it.
    fixture.ok(&["watch", "-d"]);
    let pid = background_watcher(&fixture).expect("a background watch");
    fixture.ok(&["down"]);
    assert!(!process_runs(pid), "down left the watcher running");
    let left: Vec<_> = fs::read_dir(fixture.root.join("watchers"))
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name())
        .collect();
    assert!(left.is_empty(), "down left {left:?}");
}
