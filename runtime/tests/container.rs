//! Real containers through the runtime's public API: isolation, the overlay root, limits, logs, stop,
//! detachment, restart policies, exec, hardening, and cleanup after crashes.
//!
//! They need root (skipped with a message otherwise; `RCOMPOSE_TEST_ROOT=1` turns the skip into a
//! failure) and Debian's `busybox-static` for the container's userland. Each test uses its own state
//! root in a tempdir and checks on the way out that nothing is left: no mount naming the tempdir, no
//! cgroup directory, no live monitor.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use runtime::cgroup::{Hierarchy, Limits};
use runtime::container::{
    ContainerSpec, Error, ExecSpec, Helper, Mount, MountKind, RestartPolicy, Rootfs, Runtime,
    State, Status, Stream, Ulimit,
};

/// True if the test must stop here (not root, or no busybox); fails instead under
/// `RCOMPOSE_TEST_ROOT=1`.
fn skip() -> bool {
    let strict = std::env::var("RCOMPOSE_TEST_ROOT").as_deref() == Ok("1");
    if !runtime::sys::is_root() {
        assert!(
            !strict,
            "this test needs root (RCOMPOSE_TEST_ROOT=1 is set)"
        );
        eprintln!("skipped: needs root");
        return true;
    }
    if !Path::new("/bin/busybox").exists() {
        assert!(
            !strict,
            "busybox-static is not installed (RCOMPOSE_TEST_ROOT=1 is set)"
        );
        eprintln!("skipped: needs busybox-static");
        return true;
    }
    false
}

/// A busybox root filesystem in `dir`: every applet as a symlink, passwd and group with a non-root
/// user.
fn busybox_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for sub in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = symlink("busybox", root.join("bin").join(applet));
        }
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n",
    )
    .unwrap();
    fs::write(
        root.join("etc/group"),
        "root:x:0:\nnogroup:x:65534:\nstaff:x:50:nobody\n",
    )
    .unwrap();
    root
}

struct Fixture {
    dir: tempfile::TempDir,
    rootfs: PathBuf,
    runtime: Runtime,
}

fn helper() -> Helper {
    Helper {
        program: env!("CARGO_BIN_EXE_rcompose-runtime").into(),
        args: Vec::new(),
    }
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = busybox_rootfs(dir.path());
        let runtime = Runtime::open(&dir.path().join("state"), helper()).unwrap();
        Self {
            dir,
            rootfs,
            runtime,
        }
    }

    /// A spec running `sh -c script` on the busybox root as a single overlay layer.
    fn spec(&self, script: &str) -> ContainerSpec {
        ContainerSpec {
            rootfs: Rootfs::Layers(vec![self.rootfs.clone()]),
            args: vec!["sh".into(), "-c".into(), script.into()],
            ..ContainerSpec::default()
        }
    }

    /// Creates, starts and waits for a container; returns its id, final state and stdout.
    fn run(&self, spec: ContainerSpec) -> (String, State, String) {
        let id = self.runtime.create(spec).unwrap();
        self.runtime.start(&id).unwrap();
        let state = self
            .runtime
            .wait(&id, Some(Duration::from_secs(30)))
            .unwrap();
        (id.clone(), state, self.stdout(&id))
    }

    fn stdout(&self, id: &str) -> String {
        self.runtime
            .logs(id)
            .unwrap()
            .into_iter()
            .filter(|entry| entry.stream == Stream::Stdout)
            .map(|entry| entry.log)
            .collect()
    }

    /// Removes the container and checks that nothing of it is left.
    fn remove(&self, id: &str) {
        let info = self.runtime.inspect(id).unwrap();
        self.runtime.remove(id, true).unwrap();
        assert_clean(&info.record.cgroup, info.state.monitor_pid, self.dir.path());
        assert!(matches!(self.runtime.inspect(id), Err(Error::NotFound(_))));
    }
}

/// A failed test still removes its containers (a panic skips the test's own `remove`).
impl Drop for Fixture {
    fn drop(&mut self) {
        for info in self.runtime.list().unwrap_or_default() {
            let _ = self.runtime.remove(&info.record.id, true);
        }
    }
}

fn assert_clean(cgroup: &runtime::cgroup::Cgroup, monitor_pid: i32, dir: &Path) {
    for cgroup_dir in cgroup.dirs() {
        assert!(
            !cgroup_dir.exists(),
            "cgroup {} is left",
            cgroup_dir.display()
        );
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = dir.to_string_lossy();
    assert!(
        !mounts.contains(dir.as_ref()),
        "a mount under {dir} is left:\n{mounts}"
    );
    if monitor_pid > 0 {
        let stat = fs::read_to_string(format!("/proc/{monitor_pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start())
            .unwrap_or("");
        assert!(
            stat.is_empty() || state.starts_with('Z') || !stat.contains("rcompose-mon"),
            "monitor {monitor_pid} is still running: {stat}"
        );
    }
}

/// Waits until `check` holds on the container's state.
fn eventually(runtime: &Runtime, id: &str, what: &str, check: impl Fn(&State) -> bool) -> State {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let state = runtime.state(id).unwrap();
        if check(&state) {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {state:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn line<'a>(output: &'a str, key: &str) -> &'a str {
    output
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= line in:\n{output}"))
}

#[test]
fn pid1_is_the_command_and_the_host_is_invisible() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let spec = ContainerSpec {
        hostname: "web-1".into(),
        ..fx.spec(
            "echo pid=$$; echo procs=$(ls -d /proc/[0-9]* | wc -l); echo host=$(hostname); \
             echo hostfile=$(cat /etc/hostname); echo cap=$(grep CapEff /proc/self/status | cut -f2); \
             echo bnd=$(grep CapBnd /proc/self/status | cut -f2); echo uid=$(id -u); \
             echo seccomp=$(grep '^Seccomp:' /proc/self/status | cut -f2); echo nets=$(ls /sys/class/net | tr '\\n' ' ')",
        )
    };
    let expected_caps = spec
        .capabilities(runtime::sys::capability::bounding_set())
        .unwrap();
    let (id, state, out) = fx.run(spec);
    assert_eq!(state.status, Status::Exited);
    assert_eq!(state.exit_code, Some(0), "{out}");
    assert_eq!(line(&out, "pid"), "1");
    // sh, the subshell of the command substitution, ls and wc: nothing of the host.
    let procs: usize = line(&out, "procs").parse().unwrap();
    assert!(procs <= 4, "{out}");
    assert_eq!(line(&out, "host"), "web-1");
    assert_eq!(line(&out, "hostfile"), "web-1");
    assert_eq!(line(&out, "cap"), format!("{expected_caps:016x}"));
    assert_eq!(line(&out, "bnd"), format!("{expected_caps:016x}"));
    assert_eq!(expected_caps.count_ones(), 14);
    assert_eq!(line(&out, "uid"), "0");
    assert_eq!(line(&out, "seccomp"), "2");
    assert_eq!(line(&out, "nets").trim(), "lo");
    fx.remove(&id);
}

#[test]
fn rootfs_writes_stay_in_the_upper_dir() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let top = fx.dir.path().join("top-layer");
    fs::create_dir_all(top.join("etc")).unwrap();
    fs::write(top.join("etc/motd"), "from the top layer\n").unwrap();
    let spec = ContainerSpec {
        rootfs: Rootfs::Layers(vec![fx.rootfs.clone(), top.clone()]),
        ..fx.spec("cat /etc/motd; echo new > /created; rm /bin/vi; echo changed > /etc/motd")
    };
    let (id, state, out) = fx.run(spec);
    assert_eq!(state.exit_code, Some(0), "{out}");
    assert_eq!(out, "from the top layer\n");
    let upper = fx.runtime.root().join("containers").join(&id).join("upper");
    assert_eq!(fs::read_to_string(upper.join("created")).unwrap(), "new\n");
    assert_eq!(
        fs::read_to_string(upper.join("etc/motd")).unwrap(),
        "changed\n"
    );
    // The deletion is a whiteout in the upper dir; the layers are untouched.
    use std::os::unix::fs::FileTypeExt;
    assert!(
        fs::symlink_metadata(upper.join("bin/vi"))
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(fs::symlink_metadata(fx.rootfs.join("bin/vi")).is_ok());
    assert_eq!(
        fs::read_to_string(top.join("etc/motd")).unwrap(),
        "from the top layer\n"
    );
    assert!(!fx.rootfs.join("created").exists());
    fx.remove(&id);
}

#[test]
fn a_memory_limit_oom_kills_an_allocation_over_it() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let spec = ContainerSpec {
        limits: Limits {
            memory: Some(32 << 20),
            nano_cpus: Some(500_000_000),
            pids: Some(64),
            ..Limits::default()
        },
        ..fx.spec("echo start; dd if=/dev/zero of=/dev/null bs=200M count=1; echo survived")
    };
    let id = fx.runtime.create(spec).unwrap();
    fx.runtime.start(&id).unwrap();
    let state = fx.runtime.wait(&id, Some(Duration::from_secs(30))).unwrap();
    let out = fx.stdout(&id);
    // dd was killed and sh, PID 1, went on: docker still reports OOMKilled for the container.
    assert!(state.oom_killed, "{state:?} {:?}", fx.runtime.logs(&id));
    assert_eq!(out, "start\nsurvived\n");
    assert_eq!(state.exit_code, Some(0));
    fx.remove(&id);

    // PID 1 itself over the limit: exit code 137.
    let spec = ContainerSpec {
        args: vec![
            "dd".into(),
            "if=/dev/zero".into(),
            "of=/dev/null".into(),
            "bs=200M".into(),
            "count=1".into(),
        ],
        limits: Limits {
            memory: Some(32 << 20),
            ..Limits::default()
        },
        ..fx.spec("")
    };
    let (id, state, _) = fx.run(spec);
    assert_eq!(state.exit_code, Some(137), "{state:?}");
    assert!(state.oom_killed);
    fx.remove(&id);
}

#[test]
fn limits_reach_the_cgroup_and_ulimits_stay_under_the_hard_limit() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let spec = ContainerSpec {
        limits: Limits {
            memory: Some(64 << 20),
            nano_cpus: Some(1_500_000_000),
            pids: Some(100),
            ..Limits::default()
        },
        ulimits: vec![Ulimit {
            name: "nofile".into(),
            soft: 1024,
            hard: u64::MAX,
        }],
        ..fx.spec("echo nofile=$(ulimit -n):$(ulimit -Hn); sleep 100")
    };
    let id = fx.runtime.create(spec).unwrap();
    fx.runtime.start(&id).unwrap();
    eventually(&fx.runtime, &id, "output", |_| {
        fx.stdout(&id).contains("nofile=")
    });
    let (_, hard) = runtime::sys::process::getrlimit(libc::RLIMIT_NOFILE as i32).unwrap();
    let hard = if hard == u64::MAX {
        "unlimited".to_owned()
    } else {
        hard.to_string()
    };
    assert_eq!(line(&fx.stdout(&id), "nofile"), format!("1024:{hard}"));
    let cgroup = fx.runtime.inspect(&id).unwrap().record.cgroup;
    let read = |file: &Path| fs::read_to_string(file).unwrap().trim().to_owned();
    match Hierarchy::detect().unwrap() {
        Hierarchy::V1 { .. } => {
            assert_eq!(
                read(&cgroup.v1["memory"].join("memory.limit_in_bytes")),
                "67108864"
            );
            assert_eq!(read(&cgroup.v1["cpu"].join("cpu.cfs_quota_us")), "150000");
            assert_eq!(read(&cgroup.v1["pids"].join("pids.max")), "100");
        }
        Hierarchy::V2 { .. } => {
            let dir = cgroup.v2.as_ref().unwrap();
            assert_eq!(read(&dir.join("memory.max")), "67108864");
            assert_eq!(read(&dir.join("cpu.max")), "150000 100000");
            assert_eq!(read(&dir.join("pids.max")), "100");
        }
    }
    let pid = fx.runtime.state(&id).unwrap().pid;
    assert!(cgroup.procs().contains(&pid));
    let processes = fx.runtime.processes(&id).unwrap();
    // busybox sh execs its last command, so sleep may be the only process.
    assert!(processes.contains(&pid), "{processes:?}");
    let stats = fx.runtime.stats(&id).unwrap();
    assert_eq!(stats.memory_limit, Some(64 << 20), "{stats:?}");
    assert_eq!(stats.pids_limit, Some(100), "{stats:?}");
    assert_eq!(stats.pids, processes.len() as u64, "{stats:?}");
    assert!(
        stats.memory_usage > 0 && stats.cpu_usage_ns > 0,
        "{stats:?}"
    );
    fx.runtime.stop(&id, Some(Duration::from_secs(1))).unwrap();
    fx.remove(&id);
}

#[test]
fn logs_keep_stdout_and_stderr() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let (id, state, _) = fx.run(fx.spec("echo out1; echo err1 >&2; echo out2; printf tail"));
    assert_eq!(state.exit_code, Some(0));
    let logs = fx.runtime.logs(&id).unwrap();
    let of = |stream| {
        logs.iter()
            .filter(|e| e.stream == stream)
            .map(|e| e.log.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(of(Stream::Stdout), ["out1\n", "out2\n", "tail"]);
    assert_eq!(of(Stream::Stderr), ["err1\n"]);
    assert!(
        logs.iter()
            .all(|e| e.time.ends_with('Z') && e.time.len() == 30),
        "{logs:?}"
    );
    // The file is docker's json-file format.
    let raw = fs::read_to_string(fx.runtime.log_path(&id)).unwrap();
    assert!(
        raw.contains(r#"{"log":"err1\n","stream":"stderr","time":"#),
        "{raw}"
    );
    fx.remove(&id);
}

#[test]
fn stop_kills_a_pid1_that_ignores_sigterm_after_the_grace_period() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let spec = ContainerSpec {
        args: vec!["sleep".into(), "1000".into()],
        restart: RestartPolicy::Always,
        ..fx.spec("")
    };
    let id = fx.runtime.create(spec).unwrap();
    fx.runtime.start(&id).unwrap();
    let started = Instant::now();
    let state = fx.runtime.stop(&id, Some(Duration::from_secs(1))).unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(state.status, Status::Exited);
    assert_eq!(state.exit_code, Some(137));
    assert_eq!(
        state.restart_count, 0,
        "a stopped container is not restarted"
    );

    // A PID 1 that handles TERM stops at once.
    let spec = fx.spec("trap 'exit 0' TERM; while true; do sleep 0.1; done");
    let id2 = fx.runtime.create(spec).unwrap();
    fx.runtime.start(&id2).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let state = fx
        .runtime
        .stop(&id2, Some(Duration::from_secs(10)))
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(state.exit_code, Some(0));
    fx.remove(&id);
    fx.remove(&id2);
}

#[test]
fn the_container_outlives_its_creator() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let root = fx.runtime.root().to_owned();
    let output = Command::new(env!("CARGO_BIN_EXE_rcompose-runtime"))
        .arg("up")
        .arg(&root)
        .arg(&fx.rootfs)
        .args(["sleep", "1000"])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(output.status.success());
    let id = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    // The creator has exited; the container runs on under its monitor, which nobody's shell owns.
    std::thread::sleep(Duration::from_millis(100));
    let state = fx.runtime.state(&id).unwrap();
    assert_eq!(state.status, Status::Running);
    assert!(runtime::sys::process::is_alive(state.pid, state.pid_start));
    let stat = fs::read_to_string(format!("/proc/{}/stat", state.pid)).unwrap();
    let parent: i32 = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        parent, state.monitor_pid,
        "the monitor is the init's parent"
    );
    let monitor_stat = fs::read_to_string(format!("/proc/{}/stat", state.monitor_pid)).unwrap();
    assert!(monitor_stat.contains("(rcompose-mon)"), "{monitor_stat}");
    // Its memory: anonymous pages stay small (the rest is the shared, file-backed executable).
    let status = fs::read_to_string(format!("/proc/{}/status", state.monitor_pid)).unwrap();
    let rss_anon: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let memory: Vec<&str> = status
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("Rss"))
        .collect();
    eprintln!("monitor memory: {}", memory.join(", "));
    assert!(rss_anon < 1024, "{status}");
    let session: Vec<&str> = monitor_stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    assert_eq!(
        session[3],
        state.monitor_pid.to_string(),
        "the monitor leads its own session"
    );
    fx.remove(&id);
}

#[test]
fn restart_policies_restart_with_backoff() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let spec = ContainerSpec {
        restart: RestartPolicy::OnFailure { max_retries: 2 },
        ..fx.spec("echo run; exit 3")
    };
    let started = Instant::now();
    let (id, state, out) = fx.run(spec);
    assert_eq!(state.restart_count, 2, "{state:?}");
    assert_eq!(state.exit_code, Some(3));
    assert_eq!(out, "run\nrun\nrun\n");
    // Backoff: 100 ms, then 200 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    fx.remove(&id);

    // on-failure does not restart a success; always does, until stopped.
    let (id, state, _) = fx.run(ContainerSpec {
        restart: RestartPolicy::OnFailure { max_retries: 0 },
        ..fx.spec("exit 0")
    });
    assert_eq!(state.restart_count, 0);
    fx.remove(&id);
    let id = fx
        .runtime
        .create(ContainerSpec {
            restart: RestartPolicy::Always,
            ..fx.spec("echo again; exit 0")
        })
        .unwrap();
    fx.runtime.start(&id).unwrap();
    eventually(&fx.runtime, &id, "two restarts", |s| s.restart_count >= 2);
    let state = fx.runtime.stop(&id, Some(Duration::from_secs(2))).unwrap();
    assert_eq!(state.status, Status::Exited);
    let count = state.restart_count;
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        fx.runtime.state(&id).unwrap().restart_count,
        count,
        "no restart after stop"
    );
    fx.remove(&id);
}

#[test]
fn exec_joins_the_container_and_passes_exit_codes_through() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let spec = ContainerSpec {
        env: vec!["FROM_SPEC=spec".into()],
        cwd: "/work".into(),
        hostname: "box".into(),
        ..fx.spec("exec sleep 1000")
    };
    let id = fx.runtime.create(spec).unwrap();
    fx.runtime.start(&id).unwrap();
    let exec = |spec: ExecSpec| {
        let output = fx
            .runtime
            .exec_command(&id, &spec)
            .unwrap()
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let sh = |script: &str| ExecSpec {
        args: vec!["sh".into(), "-c".into(), script.into()],
        ..ExecSpec::default()
    };
    let result = exec(sh("exit 7"));
    assert_eq!(result.0, Some(7), "{result:?}");
    let (code, out, err) = exec(sh(
        "echo pid1=$(cat /proc/1/comm); echo host=$(hostname); echo cwd=$(pwd); echo env=$FROM_SPEC$EXTRA; \
         echo procs=$(ls -d /proc/[0-9]* | wc -l); echo uid=$(id -u)",
    ));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(line(&out, "pid1"), "sleep");
    assert_eq!(line(&out, "host"), "box");
    assert_eq!(line(&out, "cwd"), "/work");
    assert_eq!(line(&out, "env"), "spec");
    assert!(line(&out, "procs").parse::<usize>().unwrap() <= 5, "{out}");
    assert_eq!(line(&out, "uid"), "0");
    let (code, out, _) = exec(ExecSpec {
        env: vec!["EXTRA=+extra".into()],
        user: Some("nobody".into()),
        cwd: Some("/tmp".into()),
        ..sh(
            "echo env=$FROM_SPEC$EXTRA; echo uid=$(id -u):$(id -g):$(id -G); echo cwd=$(pwd); echo cap=$(grep CapEff /proc/self/status | cut -f2)",
        )
    });
    assert_eq!(code, Some(0));
    assert_eq!(line(&out, "env"), "spec+extra");
    assert_eq!(line(&out, "uid"), "65534:65534:65534 50");
    assert_eq!(line(&out, "cwd"), "/tmp");
    assert_eq!(line(&out, "cap"), "0000000000000000");
    // The exec'd process is in the container's cgroups, like its init.
    let (_, out, _) = exec(sh("cat /proc/self/cgroup"));
    let init_cgroups = fs::read_to_string(format!(
        "/proc/{}/cgroup",
        fx.runtime.state(&id).unwrap().pid
    ))
    .unwrap();
    let suffix = format!("/rcompose/{id}");
    for controller in [":memory:", ":pids:", ":cpu:", "0::"] {
        for text in [&out, &init_cgroups] {
            let entry = text.lines().find(|l| l.contains(controller));
            if let Some(entry) = entry {
                assert!(entry.ends_with(&suffix), "{controller} in {text}");
            }
        }
    }
    let (code, _, err) = exec(ExecSpec {
        args: vec!["no-such-command".into()],
        ..ExecSpec::default()
    });
    assert_eq!(code, Some(127));
    assert!(err.contains("executable file not found"), "{err}");
    // A process killed by a signal reports 128 + n.
    assert_eq!(exec(sh("kill -9 $$")).0, Some(137));
    fx.runtime.stop(&id, Some(Duration::from_secs(1))).unwrap();
    assert!(matches!(
        fx.runtime.exec_command(&id, &sh("true")),
        Err(Error::NotRunning(_))
    ));
    fx.remove(&id);
}

#[test]
fn start_failures_carry_docker_exit_codes_and_context() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let cases = [
        (vec!["/no/such/binary".to_owned()], 127, "/no/such/binary"),
        (
            vec!["not-in-path".to_owned()],
            127,
            "executable file not found in $PATH",
        ),
        (vec!["/etc/passwd".to_owned()], 126, "permission denied"),
    ];
    for (args, code, needle) in cases {
        let id = fx
            .runtime
            .create(ContainerSpec {
                args,
                ..fx.spec("")
            })
            .unwrap();
        match fx.runtime.start(&id) {
            Err(Error::Start {
                code: actual,
                message,
                ..
            }) => {
                assert_eq!(actual, code, "{message}");
                assert!(message.contains(needle), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let state = fx.runtime.state(&id).unwrap();
        assert_eq!(state.status, Status::Exited);
        assert_eq!(state.exit_code, Some(code));
        fx.remove(&id);
    }
    let id = fx
        .runtime
        .create(ContainerSpec {
            user: "ghost".into(),
            ..fx.spec("true")
        })
        .unwrap();
    let error = fx.runtime.start(&id).unwrap_err().to_string();
    assert!(error.contains("unable to find user ghost"), "{error}");
    fx.remove(&id);
    let invalid = fx.runtime.create(ContainerSpec {
        sysctls: BTreeMap::from([("kernel.hostname".to_owned(), "x".to_owned())]),
        ..fx.spec("true")
    });
    assert!(matches!(invalid, Err(Error::InvalidSpec(_))), "{invalid:?}");
}

#[test]
fn hardening_read_only_root_tmpfs_masked_paths_user_and_sysctls() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let host_dir = fx.dir.path().join("shared");
    fs::create_dir_all(&host_dir).unwrap();
    fs::write(host_dir.join("input"), "from the host\n").unwrap();
    let spec = ContainerSpec {
        read_only: true,
        // Missing from the image: made before the root turns read-only, as docker does.
        cwd: "/missing/workdir".into(),
        user: "nobody".into(),
        group_add: vec!["root".into()],
        no_new_privs: true,
        sysctls: BTreeMap::from([("net.ipv4.ip_forward".to_owned(), "1".to_owned())]),
        mounts: vec![
            Mount {
                target: "/scratch".into(),
                kind: MountKind::Tmpfs {
                    size: 1 << 20,
                    mode: 0o1777,
                },
                read_only: false,
                recursive: Default::default(),
                subpath: None,
            },
            Mount {
                target: "/shared".into(),
                kind: MountKind::Bind {
                    source: host_dir.clone(),
                },
                read_only: true,
                recursive: Default::default(),
                subpath: None,
            },
        ],
        ..fx.spec(
            "touch /rootfile 2>/dev/null && echo root=rw || echo root=ro; \
             touch /scratch/x && echo scratch=rw; \
             echo shared=$(cat /shared/input); touch /shared/y 2>/dev/null && echo sharedw=rw || echo sharedw=ro; \
             echo timers=$(wc -c < /proc/timer_list); echo keys=$(cat /proc/keys | wc -c); \
             echo forward=$(cat /proc/sys/net/ipv4/ip_forward); \
             grep -q ' /proc/sys .*ro,' /proc/mounts && echo procsys=ro; \
             echo ids=$(id -u):$(id -G); echo nnp=$(grep NoNewPrivs /proc/self/status | cut -f2); \
             echo devs=$(ls /dev | tr '\\n' ' '); echo shm=$(grep /dev/shm /proc/mounts | cut -d' ' -f4); \
             echo pwd=$(pwd)",
        )
    };
    let (id, state, out) = fx.run(spec);
    assert_eq!(state.exit_code, Some(0), "{out}");
    assert_eq!(line(&out, "root"), "ro");
    assert_eq!(line(&out, "pwd"), "/missing/workdir");
    assert_eq!(line(&out, "scratch"), "rw");
    assert_eq!(line(&out, "shared"), "from the host");
    assert_eq!(line(&out, "sharedw"), "ro");
    assert_eq!(line(&out, "timers"), "0");
    assert_eq!(line(&out, "keys"), "0");
    assert_eq!(line(&out, "forward"), "1");
    assert_eq!(line(&out, "procsys"), "ro");
    // Primary group, then group_add's root and staff (which lists nobody in /etc/group).
    assert_eq!(line(&out, "ids"), "65534:65534 0 50");
    assert_eq!(line(&out, "nnp"), "1");
    for device in [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue",
    ] {
        assert!(
            line(&out, "devs").split(' ').any(|d| d == device),
            "{device} missing: {out}"
        );
    }
    assert!(line(&out, "shm").contains("size=65536k"), "{out}");
    assert!(!host_dir.join("y").exists());
    // The host's sysctl is untouched (the container has its own network namespace).
    fx.remove(&id);
}

#[test]
fn an_image_from_the_store_runs_with_its_config() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let store = runtime::image::ImageStore::open(fx.runtime.root()).unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", &fx.rootfs).unwrap();
    let tarball = builder.into_inner().unwrap();
    let changes = [
        runtime::image::Change::parse(
            r#"CMD ["sh", "-c", "echo cwd=$(pwd) greeting=$GREETING user=$(id -un)"]"#,
        )
        .unwrap(),
        runtime::image::Change::parse("ENV GREETING=hello").unwrap(),
        runtime::image::Change::parse("WORKDIR /srv").unwrap(),
        runtime::image::Change::parse("USER nobody").unwrap(),
    ];
    let name = runtime::image::ImageRef::parse("local/busybox:test").unwrap();
    store
        .import(&tarball[..], Some(&name), &changes, "-")
        .unwrap();
    let image = store.image("local/busybox:test").unwrap();
    let spec = ContainerSpec::from_image(&image).expect("layers are unpacked");
    let (id, state, out) = fx.run(spec);
    assert_eq!(state.exit_code, Some(0), "{out}");
    assert_eq!(out, "cwd=/srv greeting=hello user=nobody\n");
    fx.remove(&id);
}

#[test]
fn a_killed_monitor_leaves_what_remove_and_recover_clean() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let id = fx.runtime.create(fx.spec("sleep 1000")).unwrap();
    let state = fx.runtime.start(&id).unwrap();
    runtime::sys::process::kill(state.monitor_pid, libc::SIGKILL).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // The init survives its monitor: reported dead (nothing relays its output or restarts it) while
    // it runs, refused by a remove without force, and remove -f finds it through the cgroup.
    let dead = fx.runtime.state(&id).unwrap();
    assert_eq!(dead.status, Status::Dead);
    assert!(dead.error.contains("unsupervised"), "{}", dead.error);
    assert!(runtime::sys::process::is_alive(state.pid, state.pid_start));
    assert!(matches!(
        fx.runtime.remove(&id, false),
        Err(Error::Running(_))
    ));
    let info = fx.runtime.inspect(&id).unwrap();
    fx.runtime.remove(&id, true).unwrap();
    assert!(!runtime::sys::process::is_alive(state.pid, state.pid_start));
    assert_clean(&info.record.cgroup, 0, fx.dir.path());

    // Monitor and init both gone: the state says dead, recover cleans the cgroup.
    let id = fx.runtime.create(fx.spec("sleep 1000")).unwrap();
    let state = fx.runtime.start(&id).unwrap();
    let cgroup = fx.runtime.inspect(&id).unwrap().record.cgroup;
    runtime::sys::process::kill(state.monitor_pid, libc::SIGKILL).unwrap();
    runtime::sys::process::kill(state.pid, libc::SIGKILL).unwrap();
    eventually(&fx.runtime, &id, "dead", |s| {
        s.status == Status::Dead && !runtime::sys::process::is_alive(state.pid, state.pid_start)
    });
    assert!(fx.runtime.recover().is_empty());
    assert_eq!(fx.runtime.state(&id).unwrap().status, Status::Exited);
    assert!(!cgroup.exists());
    fx.remove(&id);
}

#[test]
fn names_are_unique_and_find_accepts_names_and_prefixes() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let spec = ContainerSpec {
        name: "web-1".into(),
        labels: BTreeMap::from([("com.example.role".to_owned(), "web".to_owned())]),
        ..fx.spec("true")
    };
    let id = fx.runtime.create(spec.clone()).unwrap();
    assert!(matches!(
        fx.runtime.create(spec),
        Err(Error::NameInUse { .. })
    ));
    assert_eq!(fx.runtime.find("web-1").unwrap(), id);
    assert_eq!(fx.runtime.find(&id[..10]).unwrap(), id);
    let listed = fx.runtime.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].record.spec.labels["com.example.role"], "web");
    assert_eq!(listed[0].state.status, Status::Created);
    fx.remove(&id);
}

#[test]
fn pause_freezes_and_resumes() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let id = fx
        .runtime
        .create(fx.spec("i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done"))
        .unwrap();
    fx.runtime.start(&id).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(fx.runtime.pause(&id, true).unwrap().status, Status::Paused);
    let upper = fx
        .runtime
        .root()
        .join("containers")
        .join(&id)
        .join("upper/tmp/count");
    std::thread::sleep(Duration::from_millis(100));
    let frozen = fs::read_to_string(&upper).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(fs::read_to_string(&upper).unwrap(), frozen);
    assert_eq!(
        fx.runtime.pause(&id, false).unwrap().status,
        Status::Running
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_ne!(fs::read_to_string(&upper).unwrap(), frozen);
    fx.remove(&id);
}

#[test]
fn init_reaps_and_forwards_the_stop_signal() {
    if skip() {
        return;
    }
    let tini = Path::new("/usr/bin/tini-static");
    if !tini.exists() {
        assert!(
            std::env::var("RCOMPOSE_TEST_ROOT").as_deref() != Ok("1"),
            "tini is not installed (RCOMPOSE_TEST_ROOT=1 is set)"
        );
        eprintln!("skipped: needs tini (tini-static)");
        return;
    }
    let fx = Fixture::new();
    let spec = ContainerSpec {
        init: Some(tini.to_owned()),
        ..fx.spec("echo pid=$$ one=$(cat /proc/1/comm); exec sleep 1000")
    };
    let id = fx.runtime.create(spec).unwrap();
    fx.runtime.start(&id).unwrap();
    eventually(&fx.runtime, &id, "output", |_| {
        fx.stdout(&id).contains("pid=")
    });
    let out = fx.stdout(&id);
    assert_ne!(line(&out, "pid").split(' ').next().unwrap(), "1", "{out}");
    assert!(out.contains("one=docker-init"), "{out}");
    // sleep is not PID 1 here, and tini forwards SIGTERM to it: the stop does not wait for the grace.
    let started = Instant::now();
    let state = fx.runtime.stop(&id, Some(Duration::from_secs(10))).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(state.exit_code, Some(143), "{state:?}");
    fx.remove(&id);
}

#[test]
fn seccomp_denies_what_docker_denies_unless_unconfined_or_privileged() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let script = "linux64 -R true 2>/dev/null; echo personality=$?; \
                  mkdir -p /m; mount -t tmpfs t /m 2>/dev/null; echo mount=$?";
    let (id, _, out) = fx.run(fx.spec(script));
    // personality(ADDR_NO_RANDOMIZE) is refused by the filter alone (no capability governs it).
    assert_eq!(line(&out, "personality"), "1");
    assert_eq!(line(&out, "mount"), "1");
    fx.remove(&id);
    let (id, _, out) = fx.run(ContainerSpec {
        seccomp: runtime::container::Seccomp::Unconfined,
        ..fx.spec(script)
    });
    assert_eq!(line(&out, "personality"), "0");
    assert_eq!(line(&out, "mount"), "1", "still no CAP_SYS_ADMIN");
    fx.remove(&id);
    // A host disk, if the machine has one: privileged containers get its node (reading it is not
    // tried: this build machine refuses that even to the host's root).
    let disk = fs::read_dir("/dev")
        .unwrap()
        .flatten()
        .find(|e| {
            use std::os::unix::fs::FileTypeExt;
            let sectors = format!("/sys/class/block/{}/size", e.file_name().to_string_lossy());
            let name = e.file_name().to_string_lossy().into_owned();
            ["vd", "sd", "xvd", "nvme"]
                .iter()
                .any(|p| name.starts_with(p))
                && e.metadata().is_ok_and(|m| m.file_type().is_block_device())
                && fs::read_to_string(sectors).is_ok_and(|size| size.trim() != "0")
        })
        .map(|e| e.file_name().to_string_lossy().into_owned());
    let disk_check = disk.as_ref().map_or(String::new(), |name| {
        format!("; [ -b /dev/{name} ] && echo disk=present")
    });
    let (id, _, out) = fx.run(ContainerSpec {
        privileged: true,
        ..fx.spec(&format!(
            "{script}; echo seccomp=$(grep '^Seccomp:' /proc/self/status | cut -f2){disk_check}; \
             grep -q ' /sys sysfs rw' /proc/mounts && echo sys=rw"
        ))
    });
    if disk.is_some() {
        assert_eq!(line(&out, "disk"), "present", "{out}");
    }
    assert_eq!(line(&out, "sys"), "rw", "{out}");
    assert_eq!(line(&out, "personality"), "0");
    assert_eq!(line(&out, "mount"), "0");
    assert_eq!(line(&out, "seccomp"), "0");
    fx.remove(&id);
}

#[test]
fn sixty_layers_stack_in_one_overlay() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    // Layer directories named like the image store's (`l/<n>`), under a deliberately long path.
    let store = fx
        .dir
        .path()
        .join("a-rather-long-state-root-directory-name/image/l");
    let mut layers = vec![fx.rootfs.clone()];
    for n in 1..=60 {
        let layer = store.join(n.to_string());
        fs::create_dir_all(layer.join("layers")).unwrap();
        fs::write(layer.join("layers").join(n.to_string()), "").unwrap();
        fs::write(layer.join("top"), format!("{n}\n")).unwrap();
        layers.push(layer);
    }
    let (id, state, out) = fx.run(ContainerSpec {
        rootfs: Rootfs::Layers(layers),
        ..fx.spec("echo count=$(ls /layers | wc -l) top=$(cat /top)")
    });
    assert_eq!(state.exit_code, Some(0), "{:?}", fx.runtime.logs(&id));
    assert_eq!(line(&out, "count"), "60 top=60");
    fx.remove(&id);
}

#[test]
fn exec_with_a_terminal_gets_a_pty_of_the_container() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let id = fx.runtime.create(fx.spec("exec sleep 1000")).unwrap();
    fx.runtime.start(&id).unwrap();
    let mut child = fx
        .runtime
        .exec_command(
            &id,
            &ExecSpec {
                args: vec![
                    "sh".into(),
                    "-c".into(),
                    "tty; [ -t 0 ] && echo stdin-is-a-tty; echo term=$TERM; read x; echo got=$x; exit 5"
                        .into(),
                ],
                tty: true,
                ..ExecSpec::default()
            },
        )
        .unwrap()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let output = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout).replace('\r', "");
    assert_eq!(
        output.status.code(),
        Some(5),
        "{out} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.contains("/dev/pts/0\n"), "{out}");
    assert!(out.contains("stdin-is-a-tty\n"), "{out}");
    assert!(out.contains("term=xterm\n"), "{out}");
    assert!(out.contains("got=hello\n"), "{out}");
    fx.remove(&id);
}

#[test]
fn copy_in_and_out_of_a_running_container() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let spec = ContainerSpec {
        hostname: "copier".into(),
        mounts: vec![Mount {
            target: "/scratch".into(),
            kind: MountKind::Tmpfs { size: 0, mode: 0 },
            read_only: false,
            recursive: Default::default(),
            subpath: None,
        }],
        ..fx.spec("exec sleep 1000")
    };
    let id = fx.runtime.create(spec).unwrap();
    fx.runtime.start(&id).unwrap();
    // In: a tar with a file lands in a tmpfs that only exists in the container's mount namespace.
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(6);
    header.set_mode(0o640);
    header.set_cksum();
    builder
        .append_data(&mut header, "greeting", &b"hello\n"[..])
        .unwrap();
    let tarball = builder.into_inner().unwrap();
    let mut child = fx
        .runtime
        .copy_in_command(&id, "/scratch")
        .unwrap()
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&tarball).unwrap();
    assert!(child.wait().unwrap().success());
    let output = fx
        .runtime
        .exec_command(
            &id,
            &ExecSpec {
                args: vec!["cat".into(), "/scratch/greeting".into()],
                ..ExecSpec::default()
            },
        )
        .unwrap()
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hello\n");
    // Out: a file, and a directory under its own name.
    let read_tar = |path: &str| {
        let output = fx
            .runtime
            .copy_out_command(&id, path)
            .unwrap()
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut archive = tar::Archive::new(&output.stdout[..]);
        let mut entries = BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut text = String::new();
            let name = entry.path().unwrap().display().to_string();
            let _ = std::io::Read::read_to_string(&mut entry, &mut text);
            entries.insert(name, text);
        }
        entries
    };
    assert_eq!(read_tar("/etc/hostname")["hostname"], "copier\n");
    let dir = read_tar("/scratch");
    assert_eq!(dir["scratch/greeting"], "hello\n", "{dir:?}");
    let missing = fx
        .runtime
        .copy_out_command(&id, "/nope")
        .unwrap()
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nope"));
    fx.remove(&id);
}

/// The cgroup2-only code path (as on a pure v2 host), on this host's cgroup2 mount when it is a
/// separate one (hybrid): no limits (its controllers are elsewhere), but creation, membership,
/// freezing and removal.
#[test]
fn a_cgroup2_only_hierarchy_runs_containers() {
    if skip() {
        return;
    }
    let unified = match Hierarchy::detect().unwrap() {
        Hierarchy::V1 {
            unified: Some(unified),
            ..
        } => unified,
        other => {
            eprintln!("skipped: not a hybrid host ({other:?}); the other tests cover v2");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(dir.path());
    let runtime = Runtime::with_cgroups(
        &dir.path().join("state"),
        helper(),
        Hierarchy::V2 { root: unified },
        "rcompose-v2-test",
    );
    let id = runtime
        .create(ContainerSpec {
            rootfs: Rootfs::Dir(rootfs),
            args: vec![
                "sh".into(),
                "-c".into(),
                "cat /proc/self/cgroup; sleep 1000".into(),
            ],
            ..ContainerSpec::default()
        })
        .unwrap();
    struct Cleanup<'a>(&'a Runtime, String);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = self.0.remove(&self.1, true);
        }
    }
    let _cleanup = Cleanup(&runtime, id.clone());
    let state = runtime.start(&id).unwrap();
    let cgroup = runtime.inspect(&id).unwrap().record.cgroup;
    assert!(cgroup.v1.is_empty());
    // No v1 devices cgroup to guard device nodes: no CAP_MKNOD either.
    let status = fs::read_to_string(format!("/proc/{}/status", state.pid)).unwrap();
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    assert_eq!(effective & (1 << 27), 0, "CAP_MKNOD kept: {effective:x}");
    assert_ne!(effective, 0);
    assert!(cgroup.procs().contains(&state.pid));
    assert_eq!(runtime.pause(&id, true).unwrap().status, Status::Paused);
    let stat = fs::read_to_string(format!("/proc/{}/stat", state.pid)).unwrap();
    eventually(&runtime, &id, "frozen", |_| {
        fs::read_to_string(cgroup.v2.as_ref().unwrap().join("cgroup.events"))
            .unwrap()
            .contains("frozen 1")
    });
    assert!(!stat.is_empty());
    runtime.pause(&id, false).unwrap();
    let exec = runtime
        .exec_command(
            &id,
            &ExecSpec {
                args: vec!["cat".into(), "/proc/self/cgroup".into()],
                ..ExecSpec::default()
            },
        )
        .unwrap()
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&exec.stdout);
    assert!(
        text.lines()
            .any(|l| l == format!("0::/rcompose-v2-test/{id}")),
        "{text}"
    );
    runtime.remove(&id, true).unwrap();
    assert!(!cgroup.exists());
    assert!(
        !cgroup.v2.unwrap().parent().unwrap().exists(),
        "the parent goes too"
    );
}

#[test]
fn attach_to_a_terminal_and_to_stdin() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let read_all = |attach: &runtime::container::Attach| {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut attach.output().unwrap(), &mut text);
        text.replace('\r', "")
    };
    // A terminal: input, a window size, and output through the attach connection.
    let id = fx
        .runtime
        .create(ContainerSpec {
            tty: true,
            open_stdin: true,
            ..fx.spec("read x; echo got=$x; tty; echo size=$(stty size); echo term=$TERM")
        })
        .unwrap();
    fx.runtime.start(&id).unwrap();
    let mut attach = fx.runtime.attach(&id).unwrap();
    attach.resize(30, 100).unwrap();
    attach.input(b"hello\n").unwrap();
    let out = read_all(&attach);
    assert!(out.contains("got=hello\n"), "{out:?}");
    assert!(out.contains("/dev/pts/0\n"), "{out:?}");
    assert!(out.contains("size=30 100\n"), "{out:?}");
    assert!(out.contains("term=xterm\n"), "{out:?}");
    let state = fx.runtime.wait(&id, Some(Duration::from_secs(10))).unwrap();
    assert_eq!(state.exit_code, Some(0));
    assert!(
        fx.stdout(&id).contains("got=hello"),
        "the log has the terminal's output too"
    );
    fx.remove(&id);

    // Open stdin without a terminal: a pipe that the client closes.
    let id = fx
        .runtime
        .create(ContainerSpec {
            open_stdin: true,
            ..fx.spec("cat; echo done")
        })
        .unwrap();
    fx.runtime.start(&id).unwrap();
    let mut attach = fx.runtime.attach(&id).unwrap();
    attach.input(b"abc\n").unwrap();
    attach.close_input().unwrap();
    assert_eq!(read_all(&attach), "abc\ndone\n");
    assert_eq!(
        fx.runtime
            .wait(&id, Some(Duration::from_secs(10)))
            .unwrap()
            .exit_code,
        Some(0)
    );
    fx.remove(&id);

    let id = fx.runtime.create(fx.spec("sleep 1")).unwrap();
    assert!(matches!(fx.runtime.attach(&id), Err(Error::InvalidSpec(_))));
    fx.remove(&id);
}

#[test]
fn the_monitor_runs_healthchecks() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let probe = |script: &str, timeout_ms| runtime::container::Healthcheck {
        test: vec!["sh".into(), "-c".into(), script.into()],
        interval_ms: 100,
        timeout_ms,
        retries: 2,
        start_period_ms: 0,
        start_interval_ms: 0,
    };
    let health = |id: &str| fx.runtime.state(id).unwrap().health.unwrap_or_default();
    // Starting, then healthy once the probe passes.
    let id = fx
        .runtime
        .create(ContainerSpec {
            healthcheck: Some(probe("echo probing; test -f /tmp/ready", 5000)),
            ..fx.spec("sleep 0.4; touch /tmp/ready; exec sleep 1000")
        })
        .unwrap();
    fx.runtime.start(&id).unwrap();
    assert_eq!(health(&id).status, "starting");
    eventually(&fx.runtime, &id, "healthy", |s| {
        s.health.as_ref().is_some_and(|h| h.status == "healthy")
    });
    let record = health(&id);
    assert_eq!(record.failing_streak, 0);
    let last = record.log.last().unwrap();
    assert_eq!((last.exit_code, last.output.as_str()), (0, "probing\n"));
    assert!(record.log.len() <= 5);
    fx.remove(&id);
    // Unhealthy after `retries` failures; a probe over its timeout fails too.
    let id = fx
        .runtime
        .create(ContainerSpec {
            healthcheck: Some(probe("sleep 5", 150)),
            ..fx.spec("exec sleep 1000")
        })
        .unwrap();
    fx.runtime.start(&id).unwrap();
    eventually(&fx.runtime, &id, "unhealthy", |s| {
        s.health.as_ref().is_some_and(|h| h.status == "unhealthy")
    });
    let record = health(&id);
    assert!(record.failing_streak >= 2, "{record:?}");
    assert!(
        record.log[0].output.contains("exceeded timeout"),
        "{record:?}"
    );
    assert_eq!(fx.runtime.state(&id).unwrap().status, Status::Running);
    fx.remove(&id);
}

#[test]
fn events_record_the_lifecycle() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let spec = ContainerSpec {
        name: "evented".into(),
        labels: BTreeMap::from([("com.example.app".to_owned(), "demo".to_owned())]),
        ..fx.spec("exit 3")
    };
    let (id, _, _) = fx.run(spec);
    fx.remove(&id);
    let events = fx.runtime.events().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e.actor.id == id)
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(actions, ["create", "start", "die", "destroy"]);
    let die = events.iter().find(|e| e.action == "die").unwrap();
    assert_eq!(die.actor.attributes["exitCode"], "3");
    assert_eq!(die.actor.attributes["name"], "evented");
    assert_eq!(die.actor.attributes["com.example.app"], "demo");
    assert_eq!(die.kind, "container");
    assert!(die.time_nano / 1_000_000_000 == die.time);
    let line = fs::read_to_string(fx.runtime.events_path()).unwrap();
    assert!(
        line.contains(r#""Type":"container","Action":"create""#),
        "{line}"
    );
}

/// A creator killed at any moment (here: after 0 to 45 ms, across create and start) leaves records
/// from which `recover` and `remove` clean every process and cgroup.
#[test]
fn a_creator_killed_at_any_moment_leaves_nothing_after_cleanup() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let root = fx.runtime.root().to_owned();
    for delay_ms in (0..48u64).step_by(3) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rcompose-runtime"))
            .arg("up")
            .arg(&root)
            .arg(&fx.rootfs)
            .args(["sleep", "1000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
    }
    // Let monitors that were already launched finish starting.
    std::thread::sleep(Duration::from_millis(300));
    assert!(fx.runtime.recover().is_empty());
    let infos = fx.runtime.list().unwrap();
    let mut cgroups = Vec::new();
    for info in &infos {
        cgroups.push((info.record.cgroup.clone(), info.state.monitor_pid));
        fx.runtime.remove(&info.record.id, true).unwrap();
    }
    for (cgroup, monitor) in &cgroups {
        assert_clean(cgroup, *monitor, fx.dir.path());
    }
    let left: Vec<_> = fs::read_dir(root.join("containers"))
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    eprintln!("{} containers had been recorded", infos.len());
}

/// `netns`: the container joins a network namespace made beforehand (how the networks code will hand
/// one over), instead of a new empty one; exec joins it too.
#[test]
fn a_given_network_namespace_is_joined() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    // A network namespace held by a process of the test (the networks code will bind-mount one).
    let mut holder = Command::new("unshare")
        .args(["--net", "sleep", "100"])
        .spawn()
        .unwrap();
    let netns = PathBuf::from(format!("/proc/{}/ns/net", holder.id()));
    let deadline = Instant::now() + Duration::from_secs(5);
    let host_ns = fs::read_link("/proc/self/ns/net").unwrap();
    let target = loop {
        let target = fs::read_link(&netns).unwrap();
        if target != host_ns || Instant::now() > deadline {
            break target;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_ne!(target, host_ns);
    let id = fx
        .runtime
        .create(ContainerSpec {
            network: runtime::container::NetworkMode::Join(netns.clone()),
            ..fx.spec("echo ns=$(readlink /proc/self/ns/net); exec sleep 1000")
        })
        .unwrap();
    fx.runtime.start(&id).unwrap();
    eventually(&fx.runtime, &id, "output", |_| {
        fx.stdout(&id).contains("ns=")
    });
    assert_eq!(line(&fx.stdout(&id), "ns"), target.to_string_lossy());
    let exec = fx
        .runtime
        .exec_command(
            &id,
            &ExecSpec {
                args: vec!["readlink".into(), "/proc/self/ns/net".into()],
                ..ExecSpec::default()
            },
        )
        .unwrap()
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&exec.stdout).trim(),
        target.to_string_lossy()
    );
    fx.remove(&id);
    let _ = holder.kill();
    let _ = holder.wait();
}

/// Networks: two containers on one bridge reach each other by name; a container on another network
/// neither resolves nor reaches them; an internal network has no way out; nothing is left after.
#[test]
fn containers_on_a_network_find_each_other_by_name() {
    use runtime::container::NetworkMode;
    use runtime::network::{Attachment, NetworkSpec, Networks};
    if skip() {
        return;
    }
    let fx = Fixture::new();
    let root = fx.dir.path().join("state");
    let networks = Networks::open(&root).unwrap();
    let front = networks
        .create(&NetworkSpec {
            name: "front".into(),
            ..NetworkSpec::default()
        })
        .unwrap();
    let other = networks
        .create(&NetworkSpec {
            name: "other".into(),
            ..NetworkSpec::default()
        })
        .unwrap();
    let inner = networks
        .create(&NetworkSpec {
            name: "inner".into(),
            internal: true,
            ..NetworkSpec::default()
        })
        .unwrap();
    assert!(!front.subnet.overlaps(&other.subnet));
    // Removes containers, then networks, even when an assertion fails.
    struct Cleanup(Runtime, Networks);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for info in self.0.list().unwrap_or_default() {
                let _ = self.0.remove(&info.record.id, true);
            }
            for network in self.1.list().unwrap_or_default() {
                let _ = self.1.remove(&network.name);
            }
        }
    }
    let _cleanup = Cleanup(fx.runtime.clone(), networks.clone());
    let attach = |network: &str, aliases: &[&str]| Attachment {
        network: network.into(),
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
        ..Attachment::default()
    };
    let server = |name: &str, network: NetworkMode| ContainerSpec {
        name: name.into(),
        network,
        // Names not in /etc/hosts must not reach the host's name servers.
        resolv_conf: Some("nameserver 127.0.0.1\n".into()),
        ..fx.spec("echo ready; exec nc -ll -p 7000 -e echo pong")
    };
    let db = fx
        .runtime
        .create(server(
            "db",
            NetworkMode::Networks(vec![attach("front", &["database"]), attach("inner", &[])]),
        ))
        .unwrap();
    fx.runtime.start(&db).unwrap();
    let db_address = fx.runtime.endpoints(&db).unwrap()[0].address;
    assert!(front.subnet.contains(db_address));
    // A client on the same network: by container name and by alias.
    let (_, state, out) = fx.run(ContainerSpec {
        name: "client".into(),
        network: NetworkMode::Networks(vec![attach("front", &[])]),
        resolv_conf: Some("nameserver 127.0.0.1\n".into()),
        ..fx.spec(
            "for n in db database; do echo $n=$(echo hi | timeout 5 nc $n 7000); done; \
             grep -c database /etc/hosts; ip route | grep -c default",
        )
    });
    assert_eq!(state.exit_code, Some(0), "{out}");
    assert_eq!(line(&out, "db"), "pong", "{out}");
    assert_eq!(line(&out, "database"), "pong", "{out}");
    // A client on another network: the name does not resolve, the address is unreachable.
    let (_, _, out) = fx.run(ContainerSpec {
        network: NetworkMode::Networks(vec![attach("other", &[])]),
        resolv_conf: Some("nameserver 127.0.0.1\n".into()),
        ..fx.spec(&format!(
            "grep -q database /etc/hosts && echo resolved=yes || echo resolved=no; \
             echo reach=$(echo hi | timeout 3 nc {db_address} 7000 || echo none)"
        ))
    });
    assert_eq!(line(&out, "resolved"), "no", "{out}");
    assert_eq!(line(&out, "reach"), "none", "{out}");
    // The internal network: the peer answers, there is no default route, the host is not reachable.
    let (_, _, out) = fx.run(ContainerSpec {
        network: NetworkMode::Networks(vec![attach("inner", &[])]),
        resolv_conf: Some("nameserver 127.0.0.1\n".into()),
        ..fx.spec(&format!(
            "for i in 1 2 3; do r=$(echo hi | timeout 5 nc db 7000); [ -n \"$r\" ] && break; sleep 1; done; \
             echo peer=$r; echo routes=$(ip route | grep -c default); \
             echo host=$(echo hi | timeout 3 nc {} 7000 2>&1 || echo none)",
            front.gateway.unwrap()
        ))
    });
    assert_eq!(line(&out, "peer"), "pong", "{out}");
    assert_eq!(line(&out, "routes"), "0", "{out}");
    assert!(line(&out, "host").ends_with("none"), "{out}");
    // The host ends of this test's veths (links are host-wide: only these are checked).
    let veths: Vec<String> = fx
        .runtime
        .list()
        .unwrap()
        .iter()
        .flat_map(|info| fx.runtime.endpoints(&info.record.id).unwrap())
        .map(|endpoint| endpoint.host_interface)
        .collect();
    assert!(!veths.is_empty());
    for info in fx.runtime.list().unwrap() {
        fx.runtime.remove(&info.record.id, true).unwrap();
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&*root.to_string_lossy()), "{mounts}");
    assert!(networks.endpoints("front").unwrap().is_empty());
    for network in [&front, &other, &inner] {
        networks.remove(&network.name).unwrap();
        assert!(
            !Path::new("/sys/class/net").join(&network.bridge).exists(),
            "bridge {} is left",
            network.bridge
        );
    }
    for veth in &veths {
        assert!(
            !Path::new("/sys/class/net").join(veth).exists(),
            "veth {veth} is left"
        );
    }
    assert_eq!(fs::read_dir(root.join("netns")).unwrap().count(), 0);
}

/// A network with `masquerade` gets its own nftables table (masquerade out, isolation from other
/// bridges) and forwarding on; removing the network removes the table. No traffic is sent: the
/// rules are read back with `nft list`. The host's `ip_forward` is restored afterwards.
#[test]
fn masquerade_installs_and_removes_a_firewall_table() {
    use runtime::network::{NetworkSpec, Networks, firewall};
    if skip() {
        return;
    }
    if !firewall::available() {
        assert!(
            std::env::var("RCOMPOSE_TEST_ROOT").as_deref() != Ok("1"),
            "nft is not installed (apt-get install nftables) and RCOMPOSE_TEST_ROOT=1 is set"
        );
        eprintln!("skipped: needs nft (apt-get install nftables)");
        return;
    }
    let forward = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    struct Restore(String);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = fs::write("/proc/sys/net/ipv4/ip_forward", self.0.trim());
        }
    }
    let _restore = Restore(forward);
    let dir = tempfile::tempdir().unwrap();
    let networks = Networks::open(dir.path()).unwrap();
    let network = networks
        .create(&NetworkSpec {
            name: "out".into(),
            masquerade: true,
            ..NetworkSpec::default()
        })
        .unwrap();
    assert!(network.masquerade);
    let listed = Command::new("nft")
        .args(["list", "table", "ip", &firewall::table(&network.bridge)])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&listed.stdout);
    let result = std::panic::catch_unwind(|| {
        assert!(listed.status.success(), "{listed:?}");
        assert!(rules.contains("masquerade"), "{rules}");
        assert!(rules.contains(&network.subnet.to_string()), "{rules}");
        assert_eq!(
            fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .unwrap()
                .trim(),
            "1"
        );
    });
    networks.remove("out").unwrap();
    result.unwrap();
    assert!(!firewall::tables().contains(&network.bridge));
}

/// The embedded DNS server in a namespace: answers names from the hosts file it is given, forwards
/// other names to its upstream (a fake name server on 127.0.0.1 in the test's namespace) and relays
/// the answer, and says NXDOMAIN when it has no upstream. Traffic stays on loopback.
#[test]
fn the_embedded_dns_server_answers_forwards_and_refuses() {
    use runtime::network::{dns, netns};
    use std::net::{SocketAddr, UdpSocket};
    use std::os::fd::AsFd;
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ns_path = dir.path().join("ns");
    drop(netns::create(&ns_path).unwrap());
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = runtime::network::netns::remove(&self.0);
        }
    }
    let _unmount = Unmount(ns_path.clone());
    let hosts = dir.path().join("hosts");
    fs::write(
        &hosts,
        "127.0.0.1\tlocalhost\n10.89.0.2\tp-db-1 db\n10.89.0.3\tp-db-2 db\n",
    )
    .unwrap();
    // A fake upstream: answers every query with 198.51.100.77 (never contacted for container names).
    let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
    let upstream_address = upstream.local_addr().unwrap();
    let fake = std::thread::spawn(move || {
        let mut buffer = [0u8; 512];
        let (length, from) = upstream.recv_from(&mut buffer).unwrap();
        let query = dns::parse_query(&buffer[..length]).unwrap();
        let reply = dns::answer(
            &buffer[..length],
            &query,
            &["198.51.100.77".parse().unwrap()],
            0,
        );
        upstream.send_to(&reply, from).unwrap();
        query.name
    });
    let mut forwarding =
        dns::Server::bind(&ns_path, hosts.clone(), vec![upstream_address]).unwrap();
    // A client socket inside the namespace, made on a thread that enters it.
    let target = ns_path.clone();
    let client = std::thread::spawn(move || {
        let file = fs::File::open(&target).unwrap();
        runtime::sys::process::setns(file.as_fd(), libc::CLONE_NEWNET).unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        socket
    })
    .join()
    .unwrap();
    let server: SocketAddr = (dns::ADDRESS, 53).into();
    let ask = |name: &str, id: u8| {
        let mut message = vec![0, id, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            message.push(label.len() as u8);
            message.extend_from_slice(label.as_bytes());
        }
        message.extend_from_slice(&[0, 0, 1, 0, 1]);
        client.send_to(&message, server).unwrap();
    };
    let answers = |reply: &[u8]| -> (u8, Vec<[u8; 4]>) {
        let count = u16::from_be_bytes([reply[6], reply[7]]) as usize;
        let addresses = (0..count)
            .map(|i| {
                // Records are 16 bytes each; the address ends each one.
                let end = reply.len() - 16 * (count - 1 - i);
                reply[end - 4..end].try_into().unwrap()
            })
            .collect();
        (reply[3] & 0x0f, addresses)
    };
    let mut buffer = [0u8; 512];
    // A container name: both replicas, from the hosts file, the first one in turn (round robin).
    let mut firsts = Vec::new();
    for id in [1, 11] {
        ask("db", id);
        forwarding.on_query();
        let length = client.recv(&mut buffer).unwrap();
        assert_eq!(buffer[1], id);
        let (rcode, mut addresses) = answers(&buffer[..length]);
        firsts.push(addresses[0]);
        addresses.sort();
        assert_eq!(
            (rcode, addresses),
            (0, vec![[10, 89, 0, 2], [10, 89, 0, 3]])
        );
    }
    assert_ne!(firsts[0], firsts[1], "the answers did not rotate");
    // Another name: forwarded, and the upstream's answer relayed with the client's id.
    ask("example.org", 2);
    forwarding.on_query();
    assert_eq!(fake.join().unwrap(), "example.org");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        forwarding.on_answer();
        client.set_nonblocking(true).unwrap();
        if let Ok(length) = client.recv(&mut buffer) {
            assert_eq!(buffer[1], 2);
            assert_eq!(answers(&buffer[..length]), (0, vec![[198, 51, 100, 77]]));
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    client.set_nonblocking(false).unwrap();
    assert_eq!(buffer[1], 2, "no forwarded answer");
    drop(forwarding);
    // Without upstreams: NXDOMAIN for names that are not containers.
    let mut closed = dns::Server::bind(&ns_path, hosts, Vec::new()).unwrap();
    ask("example.org", 3);
    closed.on_query();
    let length = client.recv(&mut buffer).unwrap();
    assert_eq!(answers(&buffer[..length]), (3, vec![]));
}

/// Mount targets are created inside the root without following a symlink out of it, yet through a
/// symlink of the image's that points at something missing inside it (`/var/run -> /run`), as runc
/// creates them; a symlink that points out of the root lands inside it.
#[test]
fn mount_targets_through_dangling_symlinks_are_made_inside_the_root() {
    if skip() {
        return;
    }
    let fx = Fixture::new();
    fs::create_dir_all(fx.rootfs.join("var")).unwrap();
    symlink("/run", fx.rootfs.join("var/run")).unwrap();
    symlink("../../../../../../outside-target", fx.rootfs.join("escape")).unwrap();
    let tmpfs = |target: &str| Mount {
        target: target.into(),
        kind: MountKind::Tmpfs { size: 0, mode: 0 },
        read_only: false,
        recursive: Default::default(),
        subpath: None,
    };
    let (_, state, out) = fx.run(ContainerSpec {
        mounts: vec![tmpfs("/var/run/app"), tmpfs("/escape/x")],
        ..fx.spec("test -d /run/app && echo run-made; test -d /outside-target/x && echo inside")
    });
    assert_eq!(state.exit_code, Some(0), "{out}");
    assert_eq!(out, "run-made\ninside\n");
    assert!(!Path::new("/outside-target").exists());
}
