//! Container monitors as the CLI runs them, with real containers (root-gated like `lifecycle.rs`):
//! the small `rcompose-helper` binary and its hand-over to the CLI's own re-exec, a monitor that
//! dies under its container, and terminal sessions (`run -t`: first output, window size and its
//! changes; services' `tty` and `stdin_open`).

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Fixture, can_run};

const IDLE: &str = "services:\n  idle:\n    image: busybox:latest\n    command: sleep 100000\n";

fn state_json(fixture: &Fixture, id: &str) -> serde_json::Value {
    let path = fixture.root.join("containers").join(id).join("state.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// Whether process `pid` exists and is not a zombie.
fn running(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
        !state.is_some_and(|s| s.starts_with('Z') || s.starts_with('X'))
    })
}

fn cmdline(pid: i64) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

fn rss_kib(pid: i64) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Starts the project's only service and kills its container's monitor (SIGKILL, waiting until it
/// is gone); returns the container's id and its init's pid.
fn up_and_kill_the_monitor(fixture: &Fixture) -> (String, i64) {
    fixture.ok(&["up", "-d"]);
    let id = fixture.id_of("idle");
    let state = state_json(fixture, &id);
    let (monitor, init) = (
        state["monitor_pid"].as_i64().unwrap(),
        state["pid"].as_i64().unwrap(),
    );
    assert!(running(monitor) && running(init));
    kill_monitor(monitor);
    (id, init)
}

fn kill_monitor(monitor: i64) {
    // SAFETY: kill takes plain integers; the pid is a monitor this test started.
    assert_eq!(unsafe { libc::kill(monitor as i32, libc::SIGKILL) }, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while running(monitor) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!running(monitor), "the monitor {monitor} outlived SIGKILL");
}

fn helper_path() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_rcompose")).with_file_name("rcompose-helper")
}

#[test]
fn monitors_run_as_the_small_helper() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("helper", IDLE);
    fixture.ok(&["up", "-d"]);
    let id = fixture.id_of("idle");
    let monitor = state_json(&fixture, &id)["monitor_pid"].as_i64().unwrap();
    let args = cmdline(monitor);
    assert_eq!(
        Path::new(&args[0]),
        helper_path(),
        "the monitor is not rcompose-helper: {args:?}"
    );
    // Idle: measured once its start is over.
    std::thread::sleep(Duration::from_millis(300));
    let rss = rss_kib(monitor);
    eprintln!("idle monitor RSS: {rss} KiB");
    // The CLI binary re-executed costs 4.8 MiB in a debug build (2.9 MiB release); the helper 2.7
    // (1.7).
    assert!(rss < 4 * 1024, "idle monitor RSS {rss} KiB");
    // exec goes through the helper too.
    assert_eq!(fixture.ok(&["exec", "-T", "idle", "echo", "hi"]), "hi\n");

    // The helper hands over to its fallback when built from other runtime sources, and does not
    // when the build matches.
    let build = &args[args.iter().position(|a| a == "--build").unwrap() + 1];
    let other = Command::new(helper_path())
        .args(["--build", "other", "--fallback", "/bin/echo", "via", "--"])
        .args(["monitor", "x", "y"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&other.stdout), "via monitor x y\n");
    let same = Command::new(helper_path())
        .args(["--build", build, "--fallback", "/bin/echo", "via", "--"])
        .arg("no-such-verb")
        .output()
        .unwrap();
    assert_eq!(same.status.code(), Some(2), "{same:?}");
    assert!(same.stdout.is_empty(), "{same:?}");
}

#[test]
fn a_killed_monitor_leaves_a_running_unsupervised_container_that_up_and_down_handle() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("deadmon", IDLE);
    let (id, init) = up_and_kill_the_monitor(&fixture);
    // `ps` tells the truth: the processes run (even without `-a`), with no monitor, and says what
    // that costs and what mends it.
    let listed = fixture.containers();
    assert_eq!(listed[0]["State"], "running", "{listed:?}");
    assert!(
        listed[0]["Status"]
            .as_str()
            .unwrap()
            .ends_with("(no monitor)"),
        "{listed:?}"
    );
    let ps = fixture.command(&["ps"]);
    assert!(ps.status.success());
    let (table, warning) = (
        String::from_utf8_lossy(&ps.stdout),
        String::from_utf8_lossy(&ps.stderr),
    );
    assert!(table.contains("(no monitor)"), "{table}");
    assert!(
        warning.contains("its monitor died") && warning.contains("`up` starts it again"),
        "{warning}"
    );
    assert!(running(init), "the init was killed by a read-only command");

    // `up` starts it again under a new monitor.
    fixture.ok(&["up", "-d"]);
    assert_eq!(fixture.containers()[0]["State"], "running");
    let state = state_json(&fixture, &id);
    let (monitor, init) = (
        state["monitor_pid"].as_i64().unwrap(),
        state["pid"].as_i64().unwrap(),
    );
    assert!(running(monitor) && running(init));

    // Killed again: `stop` ends it, `down` removes everything (the fixture checks mounts and
    // cgroups).
    kill_monitor(monitor);
    fixture.ok(&["stop", "-t", "1"]);
    assert!(
        !running(init),
        "stop left the init of a dead monitor running"
    );
    assert_eq!(fixture.containers()[0]["State"], "exited");
    fixture.ok(&["down"]);
    assert!(fixture.containers().is_empty());
    assert!(!fixture.root.join("containers").join(&id).exists());
}

#[test]
fn a_killed_monitor_then_down_leaves_nothing() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("deaddown", IDLE);
    let (id, init) = up_and_kill_the_monitor(&fixture);
    fixture.ok(&["down", "-t", "1"]);
    assert!(
        !running(init),
        "down left the init of a dead monitor running"
    );
    assert!(fixture.containers().is_empty());
    assert!(!fixture.root.join("containers").join(&id).exists());
    let netns = fixture.root.join("netns");
    let left: Vec<_> = std::fs::read_dir(&netns)
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    assert!(left.is_empty(), "netns files left: {left:?}");
}

#[test]
fn a_killed_monitor_then_rm_removes_it() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("deadrm", IDLE);
    let (id, init) = up_and_kill_the_monitor(&fixture);
    fixture.ok(&["rm", "-f"]);
    assert!(!running(init), "rm left the init of a dead monitor running");
    assert!(fixture.containers().is_empty());
    assert!(!fixture.root.join("containers").join(&id).exists());
}

#[test]
fn run_reports_a_killed_monitor_and_rm_still_removes() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("deadrun", IDLE);
    let child = Command::new(env!("CARGO_BIN_EXE_rcompose"))
        .arg("--root")
        .arg(&fixture.root)
        .args(["-p", &fixture.name, "run", "--rm", "-T", "idle"])
        .args(["sh", "-c", "echo started; sleep 100000"])
        .current_dir(fixture.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The one-off is the project's only container.
    let containers = fixture.root.join("containers");
    let deadline = Instant::now() + Duration::from_secs(20);
    let state = loop {
        let found = std::fs::read_dir(&containers)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path().join("state.json"))
            .find_map(|path| std::fs::read(path).ok())
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .filter(|state| state["status"] == "running");
        if let Some(state) = found {
            break state;
        }
        assert!(Instant::now() < deadline, "the one-off did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    let (monitor, init) = (
        state["monitor_pid"].as_i64().unwrap(),
        state["pid"].as_i64().unwrap(),
    );
    kill_monitor(monitor);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{output:?}");
    assert!(stderr.contains("monitor"), "{stderr}");
    assert!(!running(init), "the one-off's init still runs");
    let left: Vec<_> = std::fs::read_dir(&containers)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(left.is_empty(), "containers left: {left:?}");
}

/// A pseudo-terminal pair: the master for the test, the slave for rcompose.
fn open_pty(rows: u16, cols: u16) -> (std::fs::File, OwnedFd) {
    // SAFETY: plain libc calls on descriptors this function owns; ptsname's buffer is copied at once.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(master >= 0);
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let name = std::ffi::CStr::from_ptr(libc::ptsname(master)).to_owned();
        let slave = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(slave >= 0);
        let master = std::fs::File::from_raw_fd(master);
        set_size(&master, rows, cols);
        (master, OwnedFd::from_raw_fd(slave))
    }
}

fn set_size(master: &std::fs::File, rows: u16, cols: u16) {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize; a size change signals the terminal's foreground group.
    assert_eq!(
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) },
        0
    );
}

/// Reads from the master until `text` appears (or fails after 20 s); returns everything read.
fn read_until(master: &mut std::fs::File, seen: &mut String, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buffer = [0u8; 4096];
    while !seen.contains(text) {
        assert!(Instant::now() < deadline, "no {text:?} in {seen:?}");
        let mut poll = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut poll, 1, 200) } <= 0 {
            continue;
        }
        match master.read(&mut buffer) {
            Ok(0) | Err(_) => panic!("terminal closed before {text:?}: {seen:?}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buffer[..n])),
        }
    }
}

#[test]
fn run_tty_shows_first_output_and_follows_the_window_size() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("ttyrun", IDLE);
    let (mut master, slave) = open_pty(33, 101);
    let mut command = Command::new(env!("CARGO_BIN_EXE_rcompose"));
    command
        .arg("--root")
        .arg(&fixture.root)
        .args(["-p", &fixture.name, "run", "--rm", "-t", "idle"])
        .args(["sh", "-c", "echo first-line; stty size; read x; stty size"])
        .current_dir(fixture.path())
        .env("RCOMPOSE_TEST", "1")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    // SAFETY: between fork and exec only async-signal-safe calls: a new session whose controlling
    // terminal is the slave (stdin), so window changes signal rcompose.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    drop(command);
    let mut seen = String::new();
    read_until(&mut master, &mut seen, "first-line");
    read_until(&mut master, &mut seen, "33 101");
    set_size(&master, 40, 120);
    // rcompose notices the change within 50 ms; give it time before the input lets `stty` run.
    std::thread::sleep(Duration::from_millis(500));
    master.write_all(b"go\r").unwrap();
    read_until(&mut master, &mut seen, "40 120");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "run -t did not end: {seen:?}");
        // Keep reading so rcompose never blocks on a full terminal.
        let mut poll = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut poll, 1, 50) } > 0 {
            let mut buffer = [0u8; 4096];
            let _ = master.read(&mut buffer);
        }
    };
    assert!(status.success(), "{status:?}: {seen:?}");
}

#[test]
fn services_get_tty_and_stdin_open() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "ttysvc",
        "services:\n  term:\n    image: busybox:latest\n    tty: true\n    command: sh -c 'tty; sleep 100000'\n\
         \x20 input:\n    image: busybox:latest\n    stdin_open: true\n    command: sh -c 'read line; echo got:$$line; sleep 100000'\n\
         \x20 plain:\n    image: busybox:latest\n    command: sh -c 'tty; sleep 100000'\n",
    );
    fixture.ok(&["up", "-d"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let logs = |service: &str| fixture.ok(&["logs", "--no-log-prefix", service]);
    while !logs("term").contains("/dev/pts/") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(logs("term").contains("/dev/pts/0"), "{}", logs("term"));
    while !logs("plain").contains("not a tty") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(logs("plain").contains("not a tty"), "{}", logs("plain"));

    // stdin_open: input through `attach` reaches the service's stdin.
    let mut attach = Command::new(env!("CARGO_BIN_EXE_rcompose"))
        .arg("--root")
        .arg(&fixture.root)
        .args(["-p", &fixture.name, "attach", "input"])
        .current_dir(fixture.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    attach
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"hello\n")
        .unwrap();
    while !logs("input").contains("got:hello") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = attach.kill();
    let _ = attach.wait();
    assert!(logs("input").contains("got:hello"), "{}", logs("input"));
}

/// Reads `reader` on a thread for `wait`, returning what came.
fn read_for(mut reader: impl Read + Send + 'static, wait: Duration) -> String {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buffer) {
            if n == 0 || sender.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + wait;
    let mut seen = Vec::new();
    while let Ok(chunk) = receiver.recv_timeout(deadline.saturating_duration_since(Instant::now()))
    {
        seen.extend(chunk);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn the_first_attach_to_a_terminal_sees_its_earlier_output() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "replay",
        "services:\n  term:\n    image: busybox:latest\n    tty: true\n    command: sh -c 'echo early-output; sleep 100000'\n",
    );
    fixture.ok(&["up", "-d"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fixture.ok(&["logs", "term"]).contains("early-output") {
        assert!(Instant::now() < deadline, "no output in the log");
        std::thread::sleep(Duration::from_millis(50));
    }
    let attach = || {
        Command::new(env!("CARGO_BIN_EXE_rcompose"))
            .arg("--root")
            .arg(&fixture.root)
            .args(["-p", &fixture.name, "attach", "--no-stdin", "term"])
            .current_dir(fixture.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // The first client gets what the terminal wrote before anyone attached...
    let mut first = attach();
    let seen = read_for(first.stdout.take().unwrap(), Duration::from_secs(2));
    let _ = first.kill();
    let _ = first.wait();
    assert!(seen.contains("early-output"), "{seen:?}");
    // ...and later ones only what comes after they connect, as with docker.
    let mut second = attach();
    let seen = read_for(second.stdout.take().unwrap(), Duration::from_secs(1));
    let _ = second.kill();
    let _ = second.wait();
    assert!(!seen.contains("early-output"), "{seen:?}");
}
