//! The probe suite: attacks from the CVE histories of runc, crun and youki, and the ones a probe of
//! rcompose found, run as an attacker would against real containers made with docker's defaults (no
//! `privileged`, default capabilities and seccomp). Each test plants a secret marker file on the host
//! and checks that nothing in a container ever reads it; each attack is also checked to have run (a
//! test that could not see the attack would pass for nothing).
//!
//! Root and busybox-static are needed (`RCOMPOSE_TEST_ROOT=1` makes a skip a failure), and gcc for the
//! static confinement probe (`tests/security/probe.c`).

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Fixture, can_run};

/// A host file with a secret that no container may read, and the relative path that climbs from
/// any host directory to it (`../../../..<marker>`).
struct Marker {
    secret: String,
    climb: String,
}

impl Marker {
    fn plant(fixture: &Fixture) -> Marker {
        let secret = format!("host-secret-{:016x}", fastrand::u64(..));
        let path = fixture.path().join("host-marker");
        std::fs::write(&path, format!("{secret}\n")).unwrap();
        Marker {
            secret,
            climb: format!("{}{}", "../".repeat(40), path.display()),
        }
    }

    /// Fails if `output` holds the secret.
    fn assert_unread(&self, output: &str, attack: &str) {
        assert!(
            !output.contains(&self.secret),
            "{attack}: the container read the host marker:\n{output}"
        );
    }
}

fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

const SLEEPER: &str = "services:\n  victim:\n    image: busybox:latest\n    command: [\"sleep\", \"600\"]\n    init: false\n";

/// CVE-2024-21626's shape: a working directory `/proc/self/fd/N` that is a host directory the
/// runtime still holds open. Tried for the container's init (`run -w`, the same path as
/// `working_dir` and an image's `WORKDIR`) and for exec (`exec -w`), for every small N.
#[test]
fn working_directories_through_descriptors_never_reach_the_host() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("sec-workdir", SLEEPER);
    let marker = Marker::plant(&fixture);
    fixture.ok(&["up", "-d"]);
    let script = format!("cat {}; pwd", marker.climb);
    let mut refused = 0;
    for n in 3..=16 {
        let dir = format!("/proc/self/fd/{n}");
        let run = fixture.command(&["run", "--rm", "-w", &dir, "victim", "sh", "-c", &script]);
        marker.assert_unread(&output_text(&run), &format!("run -w {dir}"));
        let exec = fixture.command(&["exec", "-w", &dir, "victim", "sh", "-c", &script]);
        marker.assert_unread(&output_text(&exec), &format!("exec -w {dir}"));
        refused += usize::from(!run.status.success()) + usize::from(!exec.status.success());
    }
    // Every one of them names a descriptor that is closed or not a directory by then.
    assert_eq!(refused, 2 * 14, "some working directory was entered");
    // An image whose WORKDIR is such a path fails the same way.
    let tar = fixture.path().join("rootfs.tar");
    fixture.ok(&[
        "image",
        "import",
        "--change",
        "WORKDIR /proc/self/fd/3",
        tar.to_str().unwrap(),
        "evil:workdir",
    ]);
    fixture.write(
        "services:\n  victim:\n    image: busybox:latest\n    command: [\"sleep\", \"600\"]\n  evil:\n    image: evil:workdir\n    command: [\"sh\", \"-c\", \"cat $$CLIMB; pwd\"]\n    environment: {CLIMB: CLIMB_VALUE}\n"
            .replace("CLIMB_VALUE", &marker.climb)
            .as_str(),
    );
    let up = fixture.command(&["up", "-d", "evil"]);
    marker.assert_unread(&output_text(&up), "image WORKDIR /proc/self/fd/3");
    let logs = fixture.command(&["logs", "evil"]);
    marker.assert_unread(&output_text(&logs), "image WORKDIR /proc/self/fd/3");
}

/// A root process in the container scans `/proc/*/fd`, `/proc/*/cwd`, `/proc/*/root` and
/// `/proc/*/exe` (`tests/security/scan.c`, a static C program, so it sweeps /proc hundreds of times
/// a second) while healthchecks and execs run: the runtime's helpers, which live in the container's
/// pid namespace for a moment with host descriptors, must be out of its reach. The scan also counts
/// the helper processes it saw (whose `/proc/<pid>/exe` it could not read), so the test knows the
/// attack ran while they existed.
#[test]
fn helpers_are_out_of_reach_of_a_scanning_container() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::with_image("sec-scan", "services: {}\n", |rootfs| {
        static_program(rootfs, "scan");
    });
    let marker = Marker::plant(&fixture);
    fixture.write(&format!(
        "services:\n  victim:\n    image: busybox:latest\n    command: [\"/bin/scan\", \"8\", \"{climb}\", \"{secret}\"]\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 100ms\n      timeout: 5s\n",
        climb = marker.climb,
        secret = marker.secret,
    ));
    fixture.ok(&["up", "-d"]);
    // Execs from three clients at once while the scan runs.
    std::thread::scope(|threads| {
        for _ in 0..3 {
            threads.spawn(|| {
                let begin = Instant::now();
                while begin.elapsed() < Duration::from_secs(7) {
                    let exec = fixture.command(&["exec", "victim", "true"]);
                    assert!(exec.status.success(), "{}", output_text(&exec));
                }
            });
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let logs = loop {
        let logs = fixture.ok(&["logs", "victim"]);
        if logs.contains("helpers seen:") || Instant::now() > deadline {
            break logs;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "{}",
        logs.lines()
            .find(|l| l.contains("helpers seen"))
            .unwrap_or("")
    );
    marker.assert_unread(&logs, "scan of /proc");
    assert!(
        !logs.contains("LEAK"),
        "a host directory was reached:\n{logs}"
    );
    assert!(
        !logs.contains("EXE"),
        "a helper's binary was reached:\n{logs}"
    );
    let seen: u32 = logs
        .lines()
        .find_map(|l| l.split("helpers seen: ").nth(1))
        .and_then(|n| n.split(',').next()?.trim().parse().ok())
        .unwrap_or_else(|| panic!("the scan did not finish:\n{logs}"));
    assert!(
        seen > 0,
        "the scan never saw a helper in the container's pid namespace, so it proved nothing:\n{logs}"
    );
}

/// Builds `tests/security/<name>.c` into the image's `/bin/<name>`, static (no library of the
/// image's is needed).
fn static_program(rootfs: &Path, name: &str) {
    let status = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(rootfs.join("bin").join(name))
        .arg(format!(
            "{}/tests/security/{name}.c",
            env!("CARGO_MANIFEST_DIR")
        ))
        .status()
        .expect("gcc (apt-get install gcc libc6-dev)");
    assert!(status.success(), "{name}.c did not build");
}

/// CVE-2019-5736's shape: the runtime's binary must not be writable through `/proc/<pid>/exe` of a
/// runtime process. Monitors (whose clones become the containers' inits) run it from a read-only
/// mount, and so do the probes they start.
#[test]
fn helpers_run_their_binary_from_a_read_only_mount() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("sec-exe", SLEEPER);
    fixture.ok(&["up", "-d"]);
    let id = fixture.id_of("victim");
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture.root.join("containers").join(&id).join("state.json")).unwrap(),
    )
    .unwrap();
    let monitor = state["monitor_pid"].as_i64().expect("monitor pid");
    let exe = PathBuf::from(format!("/proc/{monitor}/exe"));
    assert!(
        on_readonly_mount(&exe),
        "the monitor's binary ({}) is on a writable mount",
        std::fs::read_link(&exe).unwrap().display()
    );
    // The file stays the installed helper (read-only mount of the same inode), not a copy.
    use std::os::unix::fs::MetadataExt;
    let running = std::fs::metadata(&exe).unwrap();
    let helper = Path::new(env!("CARGO_BIN_EXE_rcompose-helper"));
    let installed = std::fs::metadata(helper).unwrap();
    assert_eq!(
        (running.dev(), running.ino()),
        (installed.dev(), installed.ino())
    );
    // So does the exec helper, which enters the container's namespaces.
    let mut exec = fixture
        .cmd(&["exec", "victim", "sleep", "3"])
        .spawn()
        .unwrap();
    let is_helper = |pid: &Path| {
        let cmdline = std::fs::read(pid.join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        args.contains(&&b"exec"[..]) && args.contains(&id.as_bytes())
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut helpers = 0;
    while helpers == 0 && Instant::now() < deadline {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let pid = entry.path();
            if !is_helper(&pid) {
                continue;
            }
            // The helper's child execs the container's command (from the container's writable
            // root): hold the binary open, then make sure the process was still the helper.
            let Ok(binary) = std::fs::File::open(pid.join("exe")) else {
                continue;
            };
            if !is_helper(&pid) {
                continue;
            }
            let opened = PathBuf::from(format!("/proc/self/fd/{}", binary.as_raw_fd()));
            assert!(
                on_readonly_mount(&opened),
                "{} is on a writable mount",
                pid.join("exe").display()
            );
            helpers += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(helpers > 0, "no exec helper seen");
    assert!(exec.wait().unwrap().success());
}

fn on_readonly_mount(path: &Path) -> bool {
    let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: statvfs is plain data filled by the call; path is NUL-terminated.
    let mut info: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut info) };
    assert_eq!(rc, 0, "statvfs: {}", std::io::Error::last_os_error());
    info.f_flag & libc::ST_RDONLY != 0
}

/// CVE-2021-41091's shape: the state root, its records and the containers' writable layers must be
/// closed to other host users: no reading of a container's environment, no running a setuid-root
/// program a container planted in its writable layer.
#[test]
fn the_state_root_is_closed_to_other_host_users() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "sec-root",
        "services:\n  victim:\n    image: busybox:latest\n    environment: {DB_PASSWORD: s3cret-in-env}\n    command: [\"sh\", \"-c\", \"cp /bin/busybox /tmp/suid && chmod 4755 /tmp/suid && touch /tmp/planted && exec sleep 600\"]\n",
    );
    // The fixture's tempdir is private; open it so only the state root's own modes protect it.
    std::fs::set_permissions(fixture.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    fixture.ok(&["up", "-d"]);
    let id = fixture.id_of("victim");
    let container = fixture.root.join("containers").join(&id);
    let deadline = Instant::now() + Duration::from_secs(10);
    let planted = loop {
        let found = Command::new("find")
            .arg(&container)
            .args(["-name", "suid", "-perm", "-4000"])
            .output()
            .unwrap();
        let path = String::from_utf8_lossy(&found.stdout)
            .lines()
            .next()
            .map(PathBuf::from);
        if let Some(path) = path {
            break path;
        }
        assert!(Instant::now() < deadline, "the container planted nothing");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&fixture.root), 0o700, "state root");
    assert_eq!(
        mode(&container.join("config.json")),
        0o600,
        "container record"
    );
    assert_eq!(
        mode(&container.join("state.json")),
        0o600,
        "container state"
    );
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .args(args)
            .output()
            .unwrap()
    };
    let config = container.join("config.json");
    let read = as_nobody(&["cat", config.to_str().unwrap()]);
    assert!(
        !read.status.success(),
        "another user read {}",
        config.display()
    );
    assert!(!output_text(&read).contains("s3cret-in-env"));
    let run = as_nobody(&[planted.to_str().unwrap(), "id", "-u"]);
    assert!(
        !run.status.success(),
        "another user ran the planted setuid program: {}",
        output_text(&run)
    );
    let listing = as_nobody(&["ls", fixture.root.to_str().unwrap()]);
    assert!(
        !listing.status.success(),
        "another user listed the state root"
    );
    // A root left open by an older build is closed again by the next command.
    std::fs::set_permissions(&fixture.root, std::fs::Permissions::from_mode(0o755)).unwrap();
    fixture.ok(&["ps"]);
    assert_eq!(mode(&fixture.root), 0o700, "state root after ps");
}

/// A tmpfs mounted below a bind's source on the host, unmounted when dropped.
struct HostSubmount {
    path: PathBuf,
}

impl HostSubmount {
    fn new(path: PathBuf) -> HostSubmount {
        std::fs::create_dir_all(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "probe-submount"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success(), "mount a tmpfs on {}", path.display());
        std::fs::write(path.join("inside"), "submount\n").unwrap();
        HostSubmount { path }
    }
}

impl Drop for HostSubmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// `/:/host:ro` must not leave the host's submounts (`/dev/shm`, cgroupfs, `/proc/sys`) writable:
/// read-only binds are read-only all the way down, and `bind.recursive` chooses otherwise as docker
/// does.
#[test]
fn read_only_binds_are_read_only_all_the_way_down() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("sec-rbind", "services: {}\n");
    let source = fixture.path().join("tree");
    let _submount = HostSubmount::new(source.join("sub"));
    let service = |name: &str, recursive: Option<&str>| {
        let bind = recursive
            .map(|r| format!("\n        bind: {{recursive: {r}}}"))
            .unwrap_or_default();
        format!(
            "  {name}:\n    image: busybox:latest\n    volumes:\n      - type: bind\n        source: ./tree\n        target: /host\n        read_only: true{bind}\n"
        )
    };
    let mut compose = String::from("services:\n");
    for (name, recursive) in [
        ("default", None),
        ("enabled", Some("enabled")),
        ("readonly", Some("readonly")),
        ("writable", Some("writable")),
        ("disabled", Some("disabled")),
    ] {
        compose.push_str(&service(name, recursive));
    }
    fixture.write(&compose);
    let probe = "cat /host/sub/inside 2>/dev/null || echo absent; touch /host/sub/probe 2>/dev/null && echo sub=rw || echo sub=ro; touch /host/top 2>/dev/null && echo top=rw || echo top=ro";
    let run = |name: &str| fixture.ok(&["run", "--rm", name, "sh", "-c", probe]);
    for name in ["default", "enabled", "readonly"] {
        let out = run(name);
        assert!(out.contains("submount"), "{name}: {out}");
        assert!(
            out.contains("sub=ro"),
            "{name}: the submount is writable: {out}"
        );
        assert!(out.contains("top=ro"), "{name}: {out}");
    }
    let out = run("writable");
    assert!(
        out.contains("sub=rw") && out.contains("top=ro"),
        "writable: {out}"
    );
    let out = run("disabled");
    assert!(
        out.contains("absent") && out.contains("top=ro"),
        "disabled: {out}"
    );
    assert!(!source.join("top").exists());
    // The host's own /dev/shm through `/:/host:ro`, the cAdvisor pattern.
    fixture.write("services:\n  host:\n    image: busybox:latest\n    volumes: [\"/:/host:ro\"]\n");
    let out = fixture.ok(&[
        "run",
        "--rm",
        "host",
        "sh",
        "-c",
        "touch /host/dev/shm/rcompose-probe 2>/dev/null && echo shm=rw || echo shm=ro; echo x 2>/dev/null > /host/proc/sys/kernel/core_pattern && echo core=rw || echo core=ro",
    ]);
    assert!(out.contains("shm=ro") && out.contains("core=ro"), "{out}");
    assert!(!Path::new("/dev/shm/rcompose-probe").exists());
}

/// Sysctls of a namespace the container shares with the host change the host: refused.
#[test]
fn host_sysctls_are_refused() {
    if !can_run() {
        return;
    }
    let before = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_keepalive_probes").unwrap();
    // A value other than the host's, so a change would show.
    let other = before.trim().parse::<u32>().unwrap() % 100 + 1;
    let fixture = Fixture::new(
        "sec-sysctl",
        &format!(
            "services:\n  victim:\n    image: busybox:latest\n    network_mode: host\n    sysctls: {{net.ipv4.tcp_keepalive_probes: \"{other}\"}}\n    command: [\"true\"]\n"
        ),
    );
    let error = fixture.fails(&["up", "-d"]);
    assert!(error.contains("net.ipv4.tcp_keepalive_probes"), "{error}");
    fixture.write(
        "services:\n  victim:\n    image: busybox:latest\n    sysctls: {kernel.core_pattern: \"|/tmp/x\"}\n    command: [\"true\"]\n",
    );
    let error = fixture.fails(&["up", "-d"]);
    assert!(error.contains("kernel.core_pattern"), "{error}");
    let made = |fixture: &Fixture| {
        std::fs::read_dir(fixture.root.join("containers"))
            .map(|entries| entries.count())
            .unwrap_or(0)
    };
    assert_eq!(made(&fixture), 0, "a container was made");
    // Through another container that has the host's namespace, named so that only the runtime can
    // tell (`container:` of a container name): refused when the init joins it.
    fixture.write(&format!(
        "services:\n  hostnet:\n    image: busybox:latest\n    container_name: sec-sysctl-hostnet\n    network_mode: host\n    command: [\"sleep\", \"600\"]\n  victim:\n    image: busybox:latest\n    network_mode: container:sec-sysctl-hostnet\n    depends_on: [hostnet]\n    sysctls: {{net.ipv4.tcp_keepalive_probes: \"{other}\"}}\n    command: [\"true\"]\n",
    ));
    fixture.ok(&["up", "-d", "hostnet"]);
    let error = fixture.fails(&["up", "-d", "--no-deps", "victim"]);
    assert!(
        error.contains("shares the host's network namespace"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_keepalive_probes").unwrap(),
        before
    );
}

/// Names that end up in every container's /etc/hosts and in DNS answers cannot carry new lines or
/// paths; billion laughs and deep nesting fail fast with an error.
#[test]
fn hostile_compose_files_fail_fast_with_an_error() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::without_image("sec-names", "services: {}\n");
    for (what, body) in [
        ("hostname", "    hostname: \"a\\n6.6.6.6 victim\"\n"),
        ("domainname", "    domainname: \"a b\"\n"),
        ("container_name", "    container_name: ../../evil\n"),
        ("container_name", "    container_name: a/b\n"),
        (
            "extra_hosts",
            "    extra_hosts: [\"victim\\n6.6.6.6:1.2.3.4\"]\n",
        ),
        (
            "aliases",
            "    networks:\n      default:\n        aliases: [\"a\\n6.6.6.6 victim\"]\n",
        ),
        (
            "links",
            "    links: [\"other:a\\nb\"]\n  other:\n    image: busybox:latest\n",
        ),
    ] {
        fixture.write(&format!(
            "services:\n  web:\n    image: busybox:latest\n{body}"
        ));
        let output = fixture.command(&["config", "-q"]);
        assert_eq!(
            output.status.code(),
            Some(15),
            "{what}: {}",
            output_text(&output)
        );
        assert!(
            output_text(&output).contains("compose.yaml:"),
            "{what}: no file:line in {}",
            output_text(&output)
        );
    }
    let mut laughs = String::from(
        "x-a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for level in 1..10 {
        let previous = if level == 1 {
            "a".to_string()
        } else {
            format!("a{}", level - 1)
        };
        let items = vec![format!("*{previous}"); 9].join(",");
        laughs.push_str(&format!("x-a{level}: &a{level} [{items}]\n"));
    }
    laughs.push_str("services:\n  web:\n    image: busybox\n    command: *a9\n");
    let nesting = format!("services: {}{}\n", "[".repeat(20000), "]".repeat(20000));
    for (what, text) in [("billion laughs", laughs), ("deep nesting", nesting)] {
        fixture.write(&text);
        let begin = Instant::now();
        let output = fixture.command(&["config", "-q"]);
        assert!(!output.status.success(), "{what} accepted");
        assert!(
            begin.elapsed() < Duration::from_secs(5),
            "{what} took {:?}",
            begin.elapsed()
        );
        assert!(
            output_text(&output).contains("compose.yaml:"),
            "{what}: {}",
            output_text(&output)
        );
    }
}

/// What held before and must keep holding: docker's bounding set, seccomp on, mount, namespaces,
/// keyrings, ptrace, bpf, io_uring, perf, the clock, modules, kexec, reboot and the new mount API
/// refused; open_by_handle_at (Shocker) refused; no host block or memory device opens; masked and
/// read-only paths of /proc and /sys. A static C probe tries each.
#[test]
fn the_default_confinement_holds() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::with_image("sec-probe", "services: {}\n", |rootfs| {
        static_program(rootfs, "probe");
    });
    fixture
        .write("services:\n  probe:\n    image: busybox:latest\n    command: [\"/bin/probe\"]\n");
    let output = fixture.command(&["run", "--rm", "probe"]);
    let text = output_text(&output);
    let checks = text.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(
        output.status.success() && !text.contains("FAIL"),
        "the confinement probe failed:\n{text}"
    );
    assert!(checks >= 35, "only {checks} checks ran:\n{text}");
}

/// A volume's content belongs to containers: a symlink one of them plants must not turn another's
/// `volume.subpath` into a bind of the host's `/` (docker's fix of the same shape resolves the
/// subpath inside the volume).
#[test]
fn a_volume_subpath_stays_inside_the_volume() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("sec-subpath", "services: {}\n");
    let marker = Marker::plant(&fixture);
    let host_path = fixture.path().join("host-marker");
    fixture.write(
        "services:\n  planter:\n    image: busybox:latest\n    volumes: [\"data:/data\"]\n    command: [\"sh\", \"-c\", \"ln -s / /data/root; ln -s ../../../../../../../.. /data/up; mkdir -p /data/real && echo inside > /data/real/file\"]\n  root:\n    image: busybox:latest\n    volumes:\n      - {type: volume, source: data, target: /mnt, volume: {subpath: root}}\n  up:\n    image: busybox:latest\n    volumes:\n      - {type: volume, source: data, target: /mnt, volume: {subpath: up}}\n  real:\n    image: busybox:latest\n    volumes:\n      - {type: volume, source: data, target: /mnt, volume: {subpath: real}}\nvolumes:\n  data: {}\n",
    );
    fixture.ok(&["run", "--rm", "planter"]);
    // Decided by exit codes (7: the host marker was read; 8: /mnt is not the volume's root), so the
    // verdict does not hang on the output relay.
    let script = format!(
        "if grep -q {secret} /mnt{host} 2>/dev/null; then exit 7; fi; test -d /mnt/real && test ! -e /mnt/proc || exit 8",
        secret = marker.secret,
        host = host_path.display()
    );
    for service in ["root", "up"] {
        let output = fixture.command(&["run", "--rm", service, "sh", "-c", &script]);
        let text = output_text(&output);
        marker.assert_unread(&text, &format!("subpath {service}"));
        assert_eq!(
            output.status.code(),
            Some(0),
            "subpath {service}: exit 7 is the host's marker read, 8 a mount other than the volume's root: {text}"
        );
    }
    let out = fixture.ok(&["run", "--rm", "real", "cat", "/mnt/file"]);
    assert_eq!(out, "inside\n");
}

/// CVE-2021-30465's shape: a container swaps a directory of a volume it shares with another for a
/// symlink to a host directory, over and over, while the other's mounts into that volume are made.
/// Mount targets are created one component at a time inside the root and mounted through a
/// descriptor, so nothing is created on, or mounted over, the host's directory.
#[test]
fn a_racing_neighbour_cannot_redirect_mounts_into_a_shared_volume() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("sec-race", "services: {}\n");
    let host_dir = fixture.path().join("host-dir");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(fixture.path().join("conf"), "conf\n").unwrap();
    fixture.write(&format!(
        "services:\n  racer:\n    image: busybox:latest\n    volumes: [\"data:/data\"]\n    command: [\"sh\", \"-c\", \"mkdir -p /data/t.dir; ln -sfn {host} /data/t.link; while :; do mv -T /data/t.dir /data/t 2>/dev/null; mv -T /data/t /data/t.dir 2>/dev/null; mv -T /data/t.link /data/t 2>/dev/null; mv -T /data/t /data/t.link 2>/dev/null; done\"]\n  victim:\n    image: busybox:latest\n    volumes:\n      - \"data:/data\"\n      - \"./conf:/data/t/sub/conf:ro\"\n    tmpfs: [\"/data/t/tmp\"]\n    command: [\"true\"]\nvolumes:\n  data: {{}}\n",
        host = host_dir.display()
    ));
    fixture.ok(&["up", "-d", "racer"]);
    let mut started = 0;
    for _ in 0..40 {
        let run = fixture.command(&["run", "--rm", "--no-deps", "victim"]);
        started += usize::from(run.status.success());
        let made: Vec<_> = std::fs::read_dir(&host_dir).unwrap().flatten().collect();
        assert!(
            made.is_empty(),
            "the victim's mounts created {made:?} on the host"
        );
    }
    // Either outcome of each race is fine (the path was a directory, or a symlink resolved inside
    // the container); the host directory is never touched.
    eprintln!("{started} of 40 runs started");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(host_dir.to_str().unwrap()), "{mounts}");
}

/// What the runtime writes into /proc (sysctls) and masks there cannot be redirected: mounts over
/// /proc are refused (but for the files lxcfs replaces, as runc allows), an image whose /proc is a
/// symlink does not start, and sysctls still apply.
#[test]
fn procfs_cannot_be_redirected() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::with_image("sec-proc", "services: {}\n", |rootfs| {
        std::fs::create_dir_all(rootfs.join("elsewhere")).unwrap();
    });
    std::fs::write(fixture.path().join("fake"), "0\n").unwrap();
    fixture.write(
        "services:\n  cover:\n    image: busybox:latest\n    volumes: [\"./fake:/proc/sys/net/ipv4/ip_forward\"]\n    command: [\"true\"]\n",
    );
    let error = fixture.fails(&["run", "--rm", "cover"]);
    assert!(error.contains("under /proc"), "{error}");
    fixture.write(
        "services:\n  lxcfs:\n    image: busybox:latest\n    volumes: [\"./fake:/proc/uptime:ro\"]\n    sysctls: {net.ipv4.ip_forward: \"1\", kernel.shmmax: \"123456789\"}\n    command: [\"sh\", \"-c\", \"cat /proc/uptime /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax\"]\n",
    );
    assert_eq!(fixture.ok(&["run", "--rm", "lxcfs"]), "0\n1\n123456789\n");
    // An image whose /proc leads elsewhere.
    let evil = fixture.path().join("evil");
    std::fs::create_dir_all(evil.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", evil.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", evil.join("bin/true")).unwrap();
    std::os::unix::fs::symlink("/elsewhere", evil.join("proc")).unwrap();
    let tar = fixture.path().join("evil.tar");
    assert!(
        Command::new("tar")
            .arg("-C")
            .arg(&evil)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap()
            .success()
    );
    fixture.ok(&["image", "import", tar.to_str().unwrap(), "evil:proc"]);
    fixture.write("services:\n  evil:\n    image: evil:proc\n    command: [\"true\"]\n");
    let error = fixture.fails(&["run", "--rm", "evil"]);
    assert!(error.contains("/proc is a symlink"), "{error}");
}
