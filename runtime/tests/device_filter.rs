//! The cgroup v2 device filter (an eBPF program, `runtime::cgroup::devices`) on the real kernel: a
//! temporary directory in the cgroup2 tree gets the program, a shell moved into it tries to open
//! devices, and only what the rules allow opens. Works on pure v2 and on hybrid hosts (the filter
//! attaches to the cgroup2 tree whatever the v1 controllers do; there the v1 `devices` controller
//! allows everything at its root, so a refusal comes from the filter).
//!
//! Needs root (skipped with a message otherwise; `RCOMPOSE_TEST_ROOT=1` turns the skip into a
//! failure).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use runtime::cgroup::DEFAULT_DEVICE_RULES;
use runtime::cgroup::devices::{self, Rule};

/// The cgroup2 mount point, from mountinfo.
fn cgroup2_mount() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        let mount_point = before.split_whitespace().nth(4)?;
        (after.split_whitespace().next() == Some("cgroup2")).then(|| PathBuf::from(mount_point))
    })
}

fn skip() -> Option<PathBuf> {
    let strict = std::env::var("RCOMPOSE_TEST_ROOT").as_deref() == Ok("1");
    let why = if !runtime::sys::is_root() {
        "needs root"
    } else if !Path::new("/dev/kmsg").exists() {
        "needs /dev/kmsg"
    } else {
        match cgroup2_mount() {
            Some(mount) => return Some(mount),
            None => "needs a cgroup2 mount",
        }
    };
    assert!(!strict, "this test {why} (RCOMPOSE_TEST_ROOT=1 is set)");
    eprintln!("skipped: {why}");
    None
}

/// A cgroup2 directory removed on drop.
struct TestCgroup(PathBuf);

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::remove_dir(&self.0).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Which of the device opens succeed for a shell inside `cgroup`.
fn probe(cgroup: &Path) -> String {
    let procs = CString::new(cgroup.join("cgroup.procs").as_os_str().as_bytes()).unwrap();
    let script = "(exec 3</dev/kmsg) 2>/dev/null && echo kmsg-read; \
                  (exec 3>/dev/kmsg) 2>/dev/null && echo kmsg-write; \
                  (exec 3>/dev/null) 2>/dev/null && echo null-write; \
                  (exec 3</dev/zero) 2>/dev/null && echo zero-read; \
                  true";
    let mut command = Command::new("/bin/sh");
    command.args(["-c", script]);
    // SAFETY: only open/write/close between fork and exec (async-signal-safe); `procs` was made
    // before the fork. Writing 0 moves the writing process.
    unsafe {
        command.pre_exec(move || {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(fd);
            Ok(())
        });
    }
    let output = command.output().expect("run the probe shell");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn with_filter(mount: &Path, name: &str, rules: &[&str]) -> String {
    let dir = mount.join(format!("rcompose-devtest-{}-{name}", std::process::id()));
    std::fs::create_dir(&dir).expect("create a test cgroup");
    let cgroup = TestCgroup(dir);
    let rules: Vec<Rule> = rules.iter().map(|r| Rule::parse(r).unwrap()).collect();
    devices::restrict(&cgroup.0, &rules).expect("attach the device filter");
    probe(&cgroup.0)
}

#[test]
fn the_device_filter_allows_only_its_rules() {
    let Some(mount) = skip() else { return };
    // Without a filter, everything opens (the test's premise).
    let free = TestCgroup(mount.join(format!("rcompose-devtest-{}-free", std::process::id())));
    std::fs::create_dir(&free.0).unwrap();
    assert_eq!(
        probe(&free.0),
        "kmsg-read\nkmsg-write\nnull-write\nzero-read\n"
    );
    drop(free);

    // Docker's default list: /dev/null and /dev/zero, not /dev/kmsg.
    assert_eq!(
        with_filter(&mount, "default", &DEFAULT_DEVICE_RULES),
        "null-write\nzero-read\n"
    );
    // A container's `devices:` entry for /dev/kmsg, read-only.
    let mut rules = DEFAULT_DEVICE_RULES.to_vec();
    rules.push("c 1:11 r");
    assert_eq!(
        with_filter(&mount, "kmsg", &rules),
        "kmsg-read\nnull-write\nzero-read\n"
    );
}

/// A container on the cgroup2-only path (this host's cgroup2 tree on hybrid hosts, the only one on
/// pure v2) gets the filter from its monitor: the default devices open; the host's `/dev/kmsg`,
/// bind-mounted in as `/kmsg`, opens for writing only when the container's `devices` gives it with
/// write access.
#[test]
fn a_cgroup2_container_gets_the_device_filter() {
    use runtime::cgroup::Hierarchy;
    use runtime::container::{ContainerSpec, Device, Helper, Mount, MountKind, Rootfs, Runtime};

    let Some(_) = skip() else { return };
    let v2_root = match Hierarchy::detect().unwrap() {
        Hierarchy::V2 { root } => root,
        Hierarchy::V1 {
            unified: Some(unified),
            ..
        } => unified,
        other => {
            eprintln!("skipped: no cgroup2 tree ({other:?})");
            return;
        }
    };
    if !Path::new("/bin/busybox").exists() {
        assert!(
            std::env::var("RCOMPOSE_TEST_ROOT").as_deref() != Ok("1"),
            "busybox-static is not installed (RCOMPOSE_TEST_ROOT=1 is set)"
        );
        eprintln!("skipped: needs /bin/busybox");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    let runtime = Runtime::with_cgroups(
        &dir.path().join("state"),
        Helper {
            program: env!("CARGO_BIN_EXE_rcompose-runtime").into(),
            args: Vec::new(),
        },
        Hierarchy::V2 { root: v2_root },
        "rcompose-devfilter-test",
    );
    // Only opens for writing: reading /dev/kmsg also needs CAP_SYSLOG, which containers lack.
    let script = "(exec 3>/kmsg) 2>/dev/null && echo kmsg-write; \
                  (exec 3>/dev/null) 2>/dev/null && echo null-write; \
                  (exec 3</dev/urandom) 2>/dev/null && echo urandom-read; true";
    let run = |devices: Vec<Device>| {
        let id = runtime
            .create(ContainerSpec {
                rootfs: Rootfs::Dir(rootfs.clone()),
                args: vec![
                    "/bin/busybox".into(),
                    "sh".into(),
                    "-c".into(),
                    script.into(),
                ],
                devices,
                mounts: vec![Mount {
                    target: "/kmsg".into(),
                    kind: MountKind::Bind {
                        source: "/dev/kmsg".into(),
                    },
                    read_only: false,
                    recursive: Default::default(),
                    subpath: None,
                }],
                ..ContainerSpec::default()
            })
            .unwrap();
        let started = runtime.start(&id);
        let state = started.and_then(|_| runtime.wait(&id, Some(Duration::from_secs(20))));
        let output: String = runtime
            .logs(&id)
            .unwrap_or_default()
            .into_iter()
            .map(|entry| entry.log)
            .collect();
        let cgroup = runtime.inspect(&id).unwrap().record.cgroup;
        runtime.remove(&id, true).unwrap();
        assert!(!cgroup.exists());
        assert_eq!(state.unwrap().exit_code, Some(0), "{output}");
        output
    };
    assert_eq!(run(Vec::new()), "null-write\nurandom-read\n");
    let kmsg = |permissions: &str| Device {
        host_path: "/dev/kmsg".into(),
        container_path: "/dev/kmsg".into(),
        permissions: permissions.into(),
    };
    assert_eq!(run(vec![kmsg("r")]), "null-write\nurandom-read\n");
    assert_eq!(
        run(vec![kmsg("w")]),
        "kmsg-write\nnull-write\nurandom-read\n"
    );
}
