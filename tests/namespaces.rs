//! `pid`, `ipc`, `uts` and `cgroup` on real containers: the namespace each process is in, read from
//! `/proc/self/ns` inside the containers and compared with the host's and with each other's.
//! Issue #16 (part B): every attribute applied, or refused with a reason.
//!
//! Root-gated (see `common::can_run`).

mod common;

use common::Fixture;

fn exec(fx: &Fixture, service: &str, script: &str) -> String {
    fx.ok(&["exec", "-T", service, "sh", "-c", script])
        .trim()
        .to_string()
}

fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn pid_ipc_uts_and_cgroup_namespaces_are_shared_as_asked() {
    if !common::can_run() {
        return;
    }
    let compose = r#"
services:
  donor:
    image: busybox
    stop_signal: SIGKILL
    command: ["sleep", "1000"]
    ipc: shareable
    domainname: example.test
    hostname: donor
  joiner:
    image: busybox
    stop_signal: SIGKILL
    command: ["sleep", "1001"]
    pid: service:donor
    ipc: service:donor
    cgroup: private
  hosty:
    image: busybox
    stop_signal: SIGKILL
    command: ["sleep", "1002"]
    pid: host
    ipc: host
    uts: host
    cgroup: host
  plain:
    image: busybox
    stop_signal: SIGKILL
    command: ["sleep", "1003"]
"#;
    let fx = Fixture::new("nsshare", compose);
    fx.ok(&["up", "-d"]);
    let ns =
        |service: &str, kind: &str| exec(&fx, service, &format!("readlink /proc/self/ns/{kind}"));

    // pid: service:donor sees donor's processes, and donor's sleep is its PID 1.
    assert_eq!(ns("joiner", "pid"), ns("donor", "pid"));
    let ps = exec(&fx, "joiner", "ps -o pid,args");
    assert!(ps.contains("sleep 1000"), "{ps}");
    assert!(ps.contains("sleep 1001"), "{ps}");
    // pid: host: the host's namespace, the host's processes.
    assert_eq!(ns("hosty", "pid"), host_ns("pid"));
    let pids = exec(&fx, "hosty", "cat /proc/1/cmdline | tr '\\0' ' '");
    assert!(
        !pids.starts_with("sleep"),
        "PID 1 is the host's init: {pids}"
    );
    // The default: a namespace of its own, PID 1 the command.
    assert_ne!(ns("plain", "pid"), host_ns("pid"));
    assert_eq!(
        exec(&fx, "plain", "cat /proc/1/cmdline | tr '\\0' ' '"),
        "sleep 1003"
    );

    // ipc: shareable donor, joined by service:donor; /dev/shm is shared with it too.
    assert_eq!(ns("joiner", "ipc"), ns("donor", "ipc"));
    assert_ne!(ns("donor", "ipc"), host_ns("ipc"));
    exec(&fx, "donor", "echo hello > /dev/shm/mark");
    assert_eq!(exec(&fx, "joiner", "cat /dev/shm/mark"), "hello");
    assert_eq!(ns("hosty", "ipc"), host_ns("ipc"));
    assert_ne!(ns("plain", "ipc"), ns("donor", "ipc"));

    // uts: host keeps the host's name; domainname is set in a private one.
    assert_eq!(ns("hosty", "uts"), host_ns("uts"));
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(exec(&fx, "hosty", "hostname"), host_name.trim());
    assert_eq!(
        exec(&fx, "donor", "cat /proc/sys/kernel/domainname"),
        "example.test"
    );
    assert_eq!(exec(&fx, "donor", "hostname"), "donor");

    // cgroup: private roots the container at its own cgroup; host shows the full path.
    assert_ne!(ns("joiner", "cgroup"), host_ns("cgroup"));
    let inside = exec(&fx, "joiner", "cat /proc/self/cgroup");
    assert!(
        inside.lines().all(|l| l.ends_with(":/")),
        "private cgroup namespace: {inside}"
    );
    assert_eq!(ns("hosty", "cgroup"), host_ns("cgroup"));
    let outside = exec(&fx, "hosty", "cat /proc/self/cgroup");
    assert!(outside.contains("/rcompose/"), "{outside}");

    // A restart of the joiner joins the donor's namespaces again.
    fx.ok(&["restart", "-t", "0", "joiner"]);
    assert_eq!(ns("joiner", "pid"), ns("donor", "pid"));
    fx.ok(&["down", "-t", "0"]);
}

#[test]
fn joining_a_private_ipc_namespace_is_refused_as_dockerd_refuses_it() {
    if !common::can_run() {
        return;
    }
    let compose = r#"
services:
  donor:
    image: busybox
    stop_signal: SIGKILL
    command: ["sleep", "1000"]
  joiner:
    image: busybox
    stop_signal: SIGKILL
    command: ["sleep", "1000"]
    ipc: service:donor
"#;
    let fx = Fixture::new("nsprivate", compose);
    let error = fx.fails(&["up", "-d"]);
    assert!(
        error.contains("non-shareable IPC (hint: use IpcMode:shareable for the donor container)"),
        "{error}"
    );
    fx.write(
        r#"
services:
  app:
    image: busybox
    command: ["sleep", "1000"]
    uts: host
    hostname: mine
"#,
    );
    let error = fx.fails(&["up", "-d"]);
    assert!(error.contains("conflicting options: hostname"), "{error}");
}
