//! Resource settings on real containers, read back from the container's cgroup files (this host:
//! cgroup v1 controllers with a v2 tree beside them) and from `/proc` inside it: `cpu_shares`,
//! `cpu_quota`, `cpu_period`, `cpu_rt_runtime`, `cpu_rt_period`, `cpuset`, `mem_reservation`,
//! `deploy.resources.reservations.memory`, `memswap_limit`, `mem_swappiness`, `oom_kill_disable`,
//! `oom_score_adj`, `blkio_config`, `device_cgroup_rules`, `cgroup_parent`; and dockerd's warnings for
//! what this kernel cannot do. Issue #16 (part B).
//!
//! Root-gated (see `common::can_run`).

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::Fixture;

/// The v1 directory of `controller` for container `id` under `parent`.
fn cgroup_dir(controller: &str, parent: &str, id: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(parent)
        .join(id)
}

fn read(controller: &str, parent: &str, id: &str, file: &str) -> String {
    let path = cgroup_dir(controller, parent, id).join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

fn is_v1() -> bool {
    Path::new("/sys/fs/cgroup/memory").is_dir()
}

#[test]
fn resource_settings_reach_the_cgroup_files() {
    if !common::can_run() {
        return;
    }
    if !is_v1() {
        eprintln!("skipped: this test reads cgroup v1 files (the v2 mapping is unit-tested)");
        return;
    }
    // The block device under `/`, by number, so the test does not depend on its name.
    let dev = std::fs::metadata("/").unwrap().dev();
    let (major, minor) = runtime::sys::major_minor(dev);
    let block = format!("/dev/block/{major}:{minor}");
    let block_ok = std::fs::metadata(&block)
        .map(|m| std::os::unix::fs::FileTypeExt::is_block_device(&m.file_type()))
        .unwrap_or(false);
    let blkio = if block_ok {
        format!(
            "    blkio_config:\n      weight: 300\n      device_read_bps: [{{path: {block}, rate: 1mb}}]\n      device_write_iops: [{{path: {block}, rate: 120}}]\n"
        )
    } else {
        String::new()
    };
    let parent = format!("rcompose-test-parent-{}", std::process::id());
    let compose = format!(
        r#"
services:
  app:
    image: busybox
    stop_signal: SIGKILL
    command: ["sleep", "1000"]
    mem_limit: 64m
    mem_reservation: 16m
    memswap_limit: 128m
    mem_swappiness: 10
    oom_kill_disable: true
    oom_score_adj: 500
    cpu_shares: 512
    cpu_quota: 50000
    cpu_period: 200000
    cpu_rt_runtime: 10000
    cpu_rt_period: 100000
    cpuset: "0"
    device_cgroup_rules: ["c 10:229 rwm"]
    cgroup_parent: {parent}
{blkio}  reserved:
    image: busybox
    stop_signal: SIGKILL
    command: ["sleep", "1000"]
    mem_reservation: 8m
    deploy:
      resources:
        reservations:
          memory: 24m
"#
    );
    let fx = Fixture::new("resources", &compose);
    let output = fx.command(&["up", "-d"]);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "{stderr}");
    let id = fx.ok(&["ps", "-q", "app"]).trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    let value = |controller: &str, file: &str| read(controller, &parent, &id, file);

    assert_eq!(value("cpu", "cpu.shares"), "512");
    assert_eq!(value("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(value("cpu", "cpu.cfs_period_us"), "200000");
    assert_eq!(value("cpu", "cpu.rt_period_us"), "100000");
    assert_eq!(value("cpu", "cpu.rt_runtime_us"), "10000");
    assert_eq!(value("cpuset", "cpuset.cpus"), "0");
    assert_eq!(
        value("memory", "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        value("memory", "memory.soft_limit_in_bytes"),
        (16u64 << 20).to_string()
    );
    assert_eq!(value("memory", "memory.swappiness"), "10");
    assert!(
        value("memory", "memory.oom_control").contains("oom_kill_disable 1"),
        "{}",
        value("memory", "memory.oom_control")
    );
    assert!(
        value("devices", "devices.list").contains("c 10:229 rwm"),
        "{}",
        value("devices", "devices.list")
    );
    // oom_score_adj is the init's, and so every process's of the container.
    let adj = fx.ok(&["exec", "-T", "app", "cat", "/proc/1/oom_score_adj"]);
    assert_eq!(adj.trim(), "500");
    // cgroup_parent: nothing of the container under the runtime's own parent.
    assert!(!cgroup_dir("cpu", "rcompose", &id).exists());
    if block_ok {
        assert_eq!(
            value("blkio", "blkio.throttle.read_bps_device"),
            format!("{major}:{minor} 1048576")
        );
        assert_eq!(
            value("blkio", "blkio.throttle.write_iops_device"),
            format!("{major}:{minor} 120")
        );
    }
    // What this kernel lacks, dockerd discards with a warning; docker compose shows it.
    let memsw = Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists();
    assert_eq!(
        stderr.contains("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap."),
        !memsw,
        "{stderr}"
    );
    let weight = ["blkio.weight", "blkio.bfq.weight"]
        .iter()
        .any(|f| Path::new("/sys/fs/cgroup/blkio").join(f).exists());
    if block_ok {
        assert_eq!(
            stderr.contains("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."),
            !weight,
            "{stderr}"
        );
    }

    // deploy.resources.reservations.memory wins over mem_reservation, as with docker compose.
    let reserved = fx.ok(&["ps", "-q", "reserved"]).trim().to_string();
    assert_eq!(
        read(
            "memory",
            "rcompose",
            &reserved,
            "memory.soft_limit_in_bytes"
        ),
        (24u64 << 20).to_string()
    );

    fx.ok(&["down", "-t", "0"]);
    for controller in ["cpu", "cpuset", "memory", "blkio", "devices", "pids"] {
        let dir = Path::new("/sys/fs/cgroup").join(controller).join(&parent);
        assert!(!dir.exists(), "left behind: {}", dir.display());
    }
}

#[test]
fn impossible_resource_settings_are_refused_in_dockerds_words() {
    if !common::can_run() {
        return;
    }
    let fx = Fixture::new(
        "resrefuse",
        "services:\n  app:\n    image: busybox\n    command: [sleep, '1']\n    cpus: 0.5\n    cpu_quota: 50000\n",
    );
    let error = fx.fails(&["up", "-d"]);
    assert!(
        error.contains("Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
        "{error}"
    );
    fx.write(
        "services:\n  app:\n    image: busybox\n    command: [sleep, '1']\n    cpuset: 0-4095\n",
    );
    let error = fx.fails(&["up", "-d"]);
    assert!(
        error.contains("Requested CPUs are not available"),
        "{error}"
    );
    fx.write(
        "services:\n  app:\n    image: busybox\n    command: [sleep, '1']\n    memswap_limit: 1g\n",
    );
    let error = fx.fails(&["up", "-d"]);
    assert!(
        error.contains("You should always set the Memory limit when using Memoryswap limit"),
        "{error}"
    );
}
