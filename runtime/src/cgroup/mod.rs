//! Control groups for containers, on cgroup v1, v2 and the hybrid of both (a few hundred lines of our
//! own instead of a crate: we need three limits in two dialects, and hosts like the one this was built
//! on mount every v1 controller separately, `cpu` apart from `cpuacct`, with a cgroup2 tree beside them
//! that holds only `hugetlb`).
//!
//! - **v2** (`/sys/fs/cgroup` is cgroup2): one directory `<root>/<parent>/<id>` with `memory.max`,
//!   `cpu.max`, `pids.max`; the parent gets the controllers in `cgroup.subtree_control`.
//! - **v1** (tmpfs with a mount per controller): one directory per controller we use, found in
//!   `/proc/self/mountinfo` (never a hard-coded `cpu,cpuacct`). Limits go there. If a cgroup2 tree is
//!   mounted too (hybrid), the container also gets a directory in it: that tree cannot limit anything
//!   here, but it tracks the processes and offers `cgroup.kill` (the "hybrid" advice of runc and youki).
//!
//! Everything takes its mount points as data ([`Hierarchy`]) so the tests run against a tempdir. The
//! cgroup path is derived from the container id alone, so the next command finds a cgroup left by a
//! crash without any record beyond the container's directory.

pub mod devices;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What can go wrong with cgroups.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "no cgroup filesystem is mounted (looked for cgroup and cgroup2 in /proc/self/mountinfo)"
    )]
    NotMounted,
    #[error("cgroup {} still has processes after they were killed", path.display())]
    Busy { path: PathBuf },
    #[error("cannot restrict the devices of cgroup {}: {message}", path.display())]
    Devices { path: PathBuf, message: String },
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// The v1 controllers a container gets a directory in: the three limited ones, `cpuacct` for stats,
/// `freezer` for pause, `devices` for the device allow-list.
pub const V1_CONTROLLERS: [&str; 6] = ["memory", "cpu", "cpuacct", "pids", "freezer", "devices"];

/// v1 controllers a container gets a directory in only when its limits need them: a `cpuset`
/// directory must be given CPUs and memory nodes before it takes a process, and `blkio` has nothing
/// to do without a weight or a throttle.
pub const V1_OPTIONAL_CONTROLLERS: [&str; 2] = ["cpuset", "blkio"];

/// Where the cgroup filesystems are mounted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Hierarchy {
    /// Unified: one cgroup2 tree.
    V2 { root: PathBuf },
    /// Legacy or hybrid: a mount per v1 controller (by controller name), and maybe a cgroup2 tree.
    V1 {
        controllers: BTreeMap<String, PathBuf>,
        unified: Option<PathBuf>,
    },
}

impl Hierarchy {
    /// Reads this process's mount table.
    pub fn detect() -> Result<Self, Error> {
        let path = Path::new("/proc/self/mountinfo");
        let text = fs::read_to_string(path).map_err(io_error("read", path))?;
        Self::from_mountinfo(&text)
    }

    /// Parses a `mountinfo` table: a cgroup2 mount at `/sys/fs/cgroup` means v2, otherwise the v1
    /// controller mounts (each controller at its first mount) plus any cgroup2 mount.
    pub fn from_mountinfo(text: &str) -> Result<Self, Error> {
        let mut controllers = BTreeMap::new();
        let mut unified = None;
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some(separator) = fields.iter().position(|f| *f == "-") else {
                continue;
            };
            let (Some(mount_point), Some(fstype), Some(options)) = (
                fields.get(4),
                fields.get(separator + 1),
                fields.get(separator + 3),
            ) else {
                continue;
            };
            let mount_point = unescape(mount_point);
            match *fstype {
                "cgroup2" => {
                    if mount_point == Path::new("/sys/fs/cgroup") {
                        return Ok(Self::V2 { root: mount_point });
                    }
                    unified.get_or_insert(mount_point);
                }
                "cgroup" => {
                    for option in options.split(',') {
                        if V1_CONTROLLERS.contains(&option)
                            || V1_OPTIONAL_CONTROLLERS.contains(&option)
                        {
                            controllers
                                .entry(option.to_owned())
                                .or_insert_with(|| mount_point.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        if controllers.is_empty() {
            return match unified {
                Some(root) => Ok(Self::V2 { root }),
                None => Err(Error::NotMounted),
            };
        }
        Ok(Self::V1 {
            controllers,
            unified,
        })
    }

    /// The cgroup `<parent>/<name>` in this hierarchy (nothing is created yet).
    pub fn cgroup(&self, parent: &str, name: &str) -> Cgroup {
        self.cgroup_for(parent, name, &Limits::default())
    }

    /// The cgroup `<parent>/<name>` for a container with `limits`: with a v1 `cpuset` or `blkio`
    /// directory only when the limits use them.
    pub fn cgroup_for(&self, parent: &str, name: &str, limits: &Limits) -> Cgroup {
        let wanted = |controller: &str| match controller {
            "cpuset" => limits.cpuset_cpus.is_some() || limits.cpuset_mems.is_some(),
            "blkio" => limits.uses_blkio(),
            _ => true,
        };
        let relative = Path::new(parent).join(name);
        match self {
            Self::V2 { root } => Cgroup {
                v2: Some(root.join(&relative)),
                v2_root: Some(root.clone()),
                v2_limits: true,
                v1: BTreeMap::new(),
            },
            Self::V1 {
                controllers,
                unified,
            } => Cgroup {
                v2: unified.as_ref().map(|root| root.join(&relative)),
                v2_root: unified.clone(),
                v2_limits: false,
                // With a cgroup2 tree beside (hybrid), its core files do the work of `freezer`
                // (cgroup.freeze) and `cpuacct` (cpu.stat), so those two are not made: fewer
                // directories per start.
                v1: controllers
                    .iter()
                    .filter(|(name, _)| {
                        unified.is_none() || !matches!(name.as_str(), "freezer" | "cpuacct")
                    })
                    .filter(|(name, _)| wanted(name))
                    .map(|(name, root)| (name.clone(), root.join(&relative)))
                    .collect(),
            },
        }
    }
}

impl Hierarchy {
    /// What this host can do with `limits`, checked as dockerd checks a container's resources
    /// (`verifyContainerResources`), with its words: an error for what cannot be had (real-time
    /// scheduling without the kernel's RT group scheduling, CPUs the host does not have), and a
    /// warning for each setting the kernel has no file for, which is then discarded.
    pub fn check(&self, limits: &Limits) -> Result<Vec<String>, String> {
        let mut warnings = Vec::new();
        let (v1_root, v2_root) = match self {
            Self::V2 { root } => (None, Some(root)),
            Self::V1 { controllers, .. } => (Some(controllers), None),
        };
        let v1_has = |controller: &str, files: &[&str]| {
            v1_root
                .and_then(|c| c.get(controller))
                .is_some_and(|dir| files.iter().any(|f| dir.join(f).exists()))
        };
        let v2_has = |controller: &str| {
            v2_root.is_some_and(|root| {
                fs::read_to_string(root.join("cgroup.controllers"))
                    .is_ok_and(|text| text.split_whitespace().any(|c| c == controller))
            })
        };
        if limits.cpu_rt_period.is_some_and(|p| p > 0) && !v1_has("cpu", &["cpu.rt_period_us"]) {
            return Err("Your kernel does not support cgroup cpu real-time period".into());
        }
        if limits.cpu_rt_runtime.is_some_and(|r| r > 0) && !v1_has("cpu", &["cpu.rt_runtime_us"]) {
            return Err("Your kernel does not support cgroup cpu real-time runtime".into());
        }
        if let (Some(runtime), Some(period)) = (limits.cpu_rt_runtime, limits.cpu_rt_period)
            && runtime > 0
            && runtime as u64 > period
        {
            return Err("cpu real-time runtime cannot be higher than cpu real-time period".into());
        }
        if let Some(cpus) = &limits.cpuset_cpus {
            let available = fs::read_to_string("/sys/devices/system/cpu/online")
                .map(|text| text.trim().to_owned())
                .unwrap_or_default();
            let wanted = parse_cpu_list(cpus)
                .ok_or_else(|| format!("Invalid value {cpus} for cpuset cpus"))?;
            let have = parse_cpu_list(&available).unwrap_or_default();
            if !wanted.iter().all(|cpu| have.contains(cpu)) {
                return Err(format!(
                    "Requested CPUs are not available - requested {cpus}, available: {available}"
                ));
            }
        }
        let mut warn = |supported: bool, asked: bool, text: &str| {
            if asked && !supported {
                warnings.push(text.to_owned());
            }
        };
        let memory_v2 = v2_has("memory");
        warn(
            v1_has("memory", &["memory.memsw.limit_in_bytes"]) || memory_v2,
            limits.memory.is_some() && limits.memory_swap.is_some_and(|s| s != -1),
            "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.",
        );
        warn(
            v1_has("memory", &["memory.soft_limit_in_bytes"]) || memory_v2,
            limits.memory_reservation.is_some(),
            "Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.",
        );
        warn(
            v1_has("memory", &["memory.swappiness"]),
            limits.memory_swappiness.is_some(),
            "Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.",
        );
        warn(
            v1_has("memory", &["memory.oom_control"]),
            limits.oom_kill_disable,
            "Your kernel does not support OomKillDisable. OomKillDisable discarded.",
        );
        warn(
            limits.memory.is_some(),
            limits.oom_kill_disable,
            "OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.",
        );
        warn(
            v1_has("cpuset", &["cpuset.cpus"]) || v2_has("cpuset"),
            limits.cpuset_cpus.is_some() || limits.cpuset_mems.is_some(),
            "Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.",
        );
        let v2_weight = v2_root.is_some_and(|root| {
            v2_has("io")
                && fs::read_dir(root).is_ok_and(|entries| {
                    entries.flatten().any(|e| {
                        let name = e.file_name();
                        name == "io.weight" || name == "io.bfq.weight"
                    })
                })
        });
        warn(
            v1_has("blkio", &["blkio.weight", "blkio.bfq.weight"]) || v2_weight,
            limits.blkio_weight.is_some(),
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.",
        );
        warn(
            v1_has("blkio", &["blkio.weight_device", "blkio.bfq.weight_device"]) || v2_weight,
            !limits.blkio_weight_devices.is_empty(),
            "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.",
        );
        for (kind, text) in [
            (
                ThrottleKind::ReadBps,
                "Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded.",
            ),
            (
                ThrottleKind::WriteBps,
                "Your kernel does not support BPS Block I/O write limit or the cgroup is not mounted. Block I/O BPS write limit discarded.",
            ),
            (
                ThrottleKind::ReadIops,
                "Your kernel does not support IOPS Block read limit or the cgroup is not mounted. Block I/O IOPS read limit discarded.",
            ),
            (
                ThrottleKind::WriteIops,
                "Your kernel does not support IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded.",
            ),
        ] {
            warn(
                v1_has("blkio", &[kind.names().0]) || v2_has("io"),
                limits.blkio_throttle.iter().any(|t| t.kind == kind),
                text,
            );
        }
        Ok(warnings)
    }
}

/// The CPUs of a list like `0-3,6` (None if malformed).
fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((start, end)) => {
                let (start, end): (u32, u32) = (start.parse().ok()?, end.parse().ok()?);
                if end < start || end - start > 4096 {
                    return None;
                }
                cpus.extend(start..=end);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

/// Mount points in mountinfo escape space, tab, newline and backslash as octal.
fn unescape(text: &str) -> PathBuf {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Ok(value) = u8::from_str_radix(&text[i + 1..i + 4], 8)
        {
            out.push(value);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Resource limits. `None` leaves the kernel's default (unlimited).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Memory in bytes.
    pub memory: Option<u64>,
    /// CPU time in billionths of a CPU (Docker's NanoCPUs: `--cpus 1.5` is 1_500_000_000).
    pub nano_cpus: Option<u64>,
    /// Maximum number of processes (tasks).
    pub pids: Option<u64>,
    /// Relative CPU weight (docker's `--cpu-shares`, 2 to 262144; 1024 is the default weight).
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds per `cpu_period` (`-1`: none); unused when `nano_cpus` is set.
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds (docker's default 100000).
    pub cpu_period: Option<u64>,
    /// Real-time runtime in microseconds per `cpu_rt_period` (cgroup v1 with RT group scheduling).
    pub cpu_rt_runtime: Option<i64>,
    pub cpu_rt_period: Option<u64>,
    /// CPUs the container may run on (`0-3`, `0,1`).
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    pub cpuset_mems: Option<String>,
    /// Memory soft limit in bytes (v1 `memory.soft_limit_in_bytes`, v2 `memory.low`).
    pub memory_reservation: Option<u64>,
    /// Memory plus swap in bytes (`-1`: unlimited swap); where the kernel accounts swap.
    pub memory_swap: Option<i64>,
    /// 0 to 100 (v1).
    pub memory_swappiness: Option<u64>,
    /// The OOM killer leaves the container alone (v1).
    pub oom_kill_disable: bool,
    /// Block I/O weight, 10 to 1000.
    pub blkio_weight: Option<u16>,
    /// Block I/O weight per device.
    pub blkio_weight_devices: Vec<DeviceValue>,
    /// Block I/O rate limits per device.
    pub blkio_throttle: Vec<Throttle>,
}

impl Limits {
    /// Whether any block I/O setting is asked for.
    pub fn uses_blkio(&self) -> bool {
        self.blkio_weight.is_some()
            || !self.blkio_weight_devices.is_empty()
            || !self.blkio_throttle.is_empty()
    }
}

/// A value for one block device, by its device numbers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceValue {
    pub major: u32,
    pub minor: u32,
    pub value: u64,
}

/// A block I/O rate limit on one device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Throttle {
    pub kind: ThrottleKind,
    pub device: DeviceValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ThrottleKind {
    ReadBps,
    WriteBps,
    ReadIops,
    WriteIops,
}

impl ThrottleKind {
    /// The v1 file (`blkio.throttle.<name>`) and the v2 `io.max` key.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Self::ReadBps => ("blkio.throttle.read_bps_device", "rbps"),
            Self::WriteBps => ("blkio.throttle.write_bps_device", "wbps"),
            Self::ReadIops => ("blkio.throttle.read_iops_device", "riops"),
            Self::WriteIops => ("blkio.throttle.write_iops_device", "wiops"),
        }
    }
}

/// The CFS period Docker uses, in microseconds.
const CPU_PERIOD: u64 = 100_000;

/// The v1 device allow-list Docker gives a container that asks for no devices: `mknod` of any node,
/// read/write only of the standard ones (null zero full random urandom tty console ptmx pts/*, tun).
pub const DEFAULT_DEVICE_RULES: [&str; 12] = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

/// One container's cgroup, across hierarchies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cgroup {
    /// The cgroup2 directory (the only one on v2; the tracking one on hybrid).
    pub v2: Option<PathBuf>,
    v2_root: Option<PathBuf>,
    /// Whether limits go to the cgroup2 directory (v2) or to the v1 ones.
    v2_limits: bool,
    /// The v1 directory per controller.
    pub v1: BTreeMap<String, PathBuf>,
}

fn write(path: &Path, value: &str) -> Result<(), Error> {
    fs::write(path, value).map_err(io_error("write", path))
}

impl Cgroup {
    /// Every directory of this cgroup.
    pub fn dirs(&self) -> impl Iterator<Item = &PathBuf> {
        self.v2.iter().chain(self.v1.values())
    }

    /// Creates the directories (with parents) and, on v2, enables the limiting controllers for them.
    pub fn create(&self) -> Result<(), Error> {
        self.create_v2()?;
        self.create_v1()
    }

    /// Creates the cgroup2 directory (and, on v2, enables the limiting controllers above it).
    pub fn create_v2(&self) -> Result<(), Error> {
        if self.v2_limits
            && let (Some(dir), Some(root)) = (&self.v2, &self.v2_root)
        {
            // Enable controllers top-down on each ancestor below the root (the root itself too: it is
            // exempt from the no-internal-processes rule). A controller the kernel lacks is skipped.
            let mut ancestor = root.clone();
            let relative = dir.strip_prefix(root).unwrap_or(dir);
            for component in relative.components() {
                for controller in ["+memory", "+cpu", "+pids", "+cpuset", "+io"] {
                    let _ = fs::write(ancestor.join("cgroup.subtree_control"), controller);
                }
                ancestor.push(component);
                match fs::create_dir(&ancestor) {
                    Err(error) if error.kind() != io::ErrorKind::AlreadyExists => {
                        return Err(io_error("create", &ancestor)(error));
                    }
                    _ => {}
                }
            }
        }
        if let Some(dir) = &self.v2 {
            fs::create_dir_all(dir).map_err(io_error("create", dir))?;
        }
        Ok(())
    }

    /// Creates the v1 directories and writes the default device allow-list.
    pub fn create_v1(&self) -> Result<(), Error> {
        for dir in self.v1.values() {
            fs::create_dir_all(dir).map_err(io_error("create", dir))?;
        }
        if let Some(devices) = self.v1.get("devices") {
            write(&devices.join("devices.deny"), "a")?;
            for rule in DEFAULT_DEVICE_RULES {
                write(&devices.join("devices.allow"), rule)?;
            }
        }
        Ok(())
    }

    /// Lets the container use every device (privileged containers; v1).
    pub fn allow_all_devices(&self) -> Result<(), Error> {
        if let Some(devices) = self.v1.get("devices") {
            write(&devices.join("devices.allow"), "a")?;
        }
        Ok(())
    }

    /// Extra device rules (`c 4:64 rwm`) for devices given to the container (v1; on v2 they go to
    /// [`Cgroup::restrict_devices_v2`]).
    pub fn allow_device(&self, rule: &str) -> Result<(), Error> {
        if let Some(devices) = self.v1.get("devices") {
            write(&devices.join("devices.allow"), rule)?;
        }
        Ok(())
    }

    /// Without a v1 `devices` controller (pure cgroup v2): attaches the eBPF device filter that allows
    /// the default list plus `extra` (v1-syntax rules for the container's devices) and denies the
    /// rest (see [`devices`]). With the v1 controller the lists were written there, and this does
    /// nothing; a privileged container does not call it.
    pub fn restrict_devices_v2(&self, extra: &[String]) -> Result<(), Error> {
        let Some(dir) = &self.v2 else { return Ok(()) };
        if self.v1.contains_key("devices") {
            return Ok(());
        }
        let rules = DEFAULT_DEVICE_RULES
            .iter()
            .copied()
            .chain(extra.iter().map(String::as_str))
            .map(devices::Rule::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| Error::Devices {
                path: dir.clone(),
                message,
            })?;
        devices::restrict(dir, &rules)
    }

    /// Writes the limits.
    pub fn apply(&self, limits: &Limits) -> Result<(), Error> {
        let quota = limits
            .nano_cpus
            .map(|nano| (nano.saturating_mul(CPU_PERIOD) / 1_000_000_000).max(1000));
        if self.v2_limits {
            let Some(dir) = &self.v2 else { return Ok(()) };
            if let Some(memory) = limits.memory {
                write(&dir.join("memory.max"), &memory.to_string())?;
                // Docker's default: as much swap as memory. Absent file = no swap accounting.
                let swap = dir.join("memory.swap.max");
                if swap.exists() {
                    write(&swap, &memory.to_string())?;
                }
            }
            if let Some(quota) = quota {
                write(&dir.join("cpu.max"), &format!("{quota} {CPU_PERIOD}"))?;
            }
            if let Some(pids) = limits.pids {
                write(&dir.join("pids.max"), &pids.to_string())?;
            }
            return apply_v2(dir, limits);
        }
        if let (Some(memory), Some(dir)) = (limits.memory, self.v1.get("memory")) {
            write(&dir.join("memory.limit_in_bytes"), &memory.to_string())?;
            // memsw (memory + swap) must stay >= memory; set it to twice the memory as Docker does,
            // where swap accounting exists (it does not on this build host: the file is absent).
            let memsw = dir.join("memory.memsw.limit_in_bytes");
            if memsw.exists() {
                write(&memsw, &memory.saturating_mul(2).to_string())?;
            }
        }
        if let (Some(quota), Some(dir)) = (quota, self.v1.get("cpu")) {
            write(&dir.join("cpu.cfs_period_us"), &CPU_PERIOD.to_string())?;
            write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
        }
        if let (Some(pids), Some(dir)) = (limits.pids, self.v1.get("pids")) {
            write(&dir.join("pids.max"), &pids.to_string())?;
        }
        self.apply_v1(limits)
    }

    /// The v1 settings beyond memory, CPUs and pids. A file the kernel lacks (no swap accounting,
    /// no CFQ/BFQ weight) is skipped: the caller warned about it when the container was made
    /// ([`Hierarchy::unsupported`]), as dockerd discards those settings with a warning.
    fn apply_v1(&self, limits: &Limits) -> Result<(), Error> {
        let optional = |path: PathBuf, value: &str| {
            if path.exists() {
                write(&path, value)
            } else {
                Ok(())
            }
        };
        if let Some(dir) = self.v1.get("cpu") {
            if let Some(shares) = limits.cpu_shares {
                write(&dir.join("cpu.shares"), &shares.to_string())?;
            }
            if limits.nano_cpus.is_none() {
                if let Some(period) = limits.cpu_period {
                    write(&dir.join("cpu.cfs_period_us"), &period.to_string())?;
                }
                if let Some(quota) = limits.cpu_quota {
                    write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
                }
            }
            if let Some(period) = limits.cpu_rt_period {
                write(&dir.join("cpu.rt_period_us"), &period.to_string())?;
            }
            if let Some(runtime) = limits.cpu_rt_runtime {
                let period = limits.cpu_rt_period.unwrap_or(1_000_000).max(1);
                raise_rt_ancestors(dir, runtime, period)?;
                write(&dir.join("cpu.rt_runtime_us"), &runtime.to_string())?;
            }
        }
        if let Some(dir) = self.v1.get("cpuset") {
            fill_cpuset_ancestors(dir)?;
            for (file, value) in [
                ("cpuset.cpus", &limits.cpuset_cpus),
                ("cpuset.mems", &limits.cpuset_mems),
            ] {
                if let Some(value) = value {
                    write(&dir.join(file), value)?;
                }
            }
        }
        if let Some(dir) = self.v1.get("memory") {
            if let Some(reservation) = limits.memory_reservation {
                write(
                    &dir.join("memory.soft_limit_in_bytes"),
                    &reservation.to_string(),
                )?;
            }
            if let Some(swap) = limits.memory_swap {
                optional(dir.join("memory.memsw.limit_in_bytes"), &swap.to_string())?;
            }
            if let Some(swappiness) = limits.memory_swappiness {
                optional(dir.join("memory.swappiness"), &swappiness.to_string())?;
            }
            if limits.oom_kill_disable {
                optional(dir.join("memory.oom_control"), "1")?;
            }
        }
        if let Some(dir) = self.v1.get("blkio") {
            let weight_file = ["blkio.weight", "blkio.bfq.weight"]
                .into_iter()
                .map(|name| dir.join(name))
                .find(|path| path.exists());
            if let (Some(weight), Some(file)) = (limits.blkio_weight, &weight_file) {
                write(file, &weight.to_string())?;
            }
            let device_file = ["blkio.weight_device", "blkio.bfq.weight_device"]
                .into_iter()
                .map(|name| dir.join(name))
                .find(|path| path.exists());
            if let Some(file) = &device_file {
                for device in &limits.blkio_weight_devices {
                    let DeviceValue {
                        major,
                        minor,
                        value,
                    } = device;
                    write(file, &format!("{major}:{minor} {value}"))?;
                }
            }
            for throttle in &limits.blkio_throttle {
                let DeviceValue {
                    major,
                    minor,
                    value,
                } = &throttle.device;
                write(
                    &dir.join(throttle.kind.names().0),
                    &format!("{major}:{minor} {value}"),
                )?;
            }
        }
        Ok(())
    }

    /// Moves process `pid` into every directory of this cgroup.
    pub fn add(&self, pid: i32) -> Result<(), Error> {
        for dir in self.dirs() {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Moves process `pid` into the cgroup2 directory only.
    pub fn add_v2(&self, pid: i32) -> Result<(), Error> {
        match &self.v2 {
            Some(dir) => write(&dir.join("cgroup.procs"), &pid.to_string()),
            None => Ok(()),
        }
    }

    /// Opens the v1 `tasks` files, for [`Cgroup::join_v1`] (opened before a process leaves the host's mount
    /// namespace, written after).
    pub fn open_v1_tasks(&self) -> Result<Vec<fs::File>, Error> {
        self.v1
            .values()
            .map(|dir| {
                let path = dir.join("tasks");
                fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_error("open", &path))
            })
            .collect()
    }

    /// Moves the calling single-threaded process into the v1 directories by writing `0` (itself) to
    /// their `tasks` files: a thread moving itself skips the global lock a `cgroup.procs` write takes
    /// (and its RCU grace period), and `0` means the caller whatever pid namespace it is in.
    pub fn join_v1(tasks: &mut [fs::File]) -> io::Result<()> {
        use std::io::Write;
        for file in tasks {
            file.write_all(b"0")?;
        }
        Ok(())
    }

    /// The processes in the cgroup (from the first directory that exists).
    pub fn procs(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = Vec::new();
        for dir in self.dirs() {
            if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
                pids.extend(
                    text.lines()
                        .filter_map(|line| line.trim().parse::<i32>().ok()),
                );
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// How many times the kernel's OOM killer killed a process in this cgroup.
    pub fn oom_kills(&self) -> u64 {
        let (file, key) = if self.v2_limits {
            (
                self.v2.as_ref().map(|d| d.join("memory.events")),
                "oom_kill",
            )
        } else {
            (
                self.v1.get("memory").map(|d| d.join("memory.oom_control")),
                "oom_kill",
            )
        };
        let Some(text) = file.and_then(|f| fs::read_to_string(f).ok()) else {
            return 0;
        };
        text.lines()
            .filter_map(|line| line.split_once(' '))
            .find(|(name, _)| *name == key)
            .and_then(|(_, value)| value.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Kills every process in the cgroup: `cgroup.kill` where the kernel has it (5.14+, in any cgroup2
    /// tree, also the hybrid one), otherwise SIGKILL to each listed process until none is left.
    pub fn kill(&self) -> Result<(), Error> {
        if let Some(dir) = &self.v2 {
            let kill = dir.join("cgroup.kill");
            if kill.exists() && fs::write(&kill, "1").is_ok() {
                return Ok(());
            }
        }
        for _ in 0..100 {
            let pids = self.procs();
            if pids.is_empty() {
                return Ok(());
            }
            for pid in pids {
                let _ = crate::sys::process::kill(pid, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// Whether any directory of this cgroup exists.
    pub fn exists(&self) -> bool {
        self.dirs().any(|dir| dir.exists())
    }

    /// Removes the directories, waiting up to `timeout` for dying processes to leave (rmdir fails with
    /// EBUSY until they have). Missing directories are fine.
    pub fn remove(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        for dir in self.dirs() {
            loop {
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(error) if error.kind() == io::ErrorKind::NotFound => break,
                    Err(error)
                        if error.raw_os_error() == Some(libc::EBUSY)
                            && Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(error) if error.raw_os_error() == Some(libc::EBUSY) => {
                        return Err(Error::Busy { path: dir.clone() });
                    }
                    Err(error) => return Err(io_error("remove", dir)(error)),
                }
            }
            // The shared parent (`rcompose/`) goes with its last child, so nothing is left behind; a
            // concurrent create recreates it (and a parent with children refuses to go).
            if let Some(parent) = dir.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
        Ok(())
    }

    /// Freezes (pauses) or thaws every process in the cgroup.
    pub fn freeze(&self, frozen: bool) -> Result<(), Error> {
        if let Some(dir) = self.v1.get("freezer") {
            write(
                &dir.join("freezer.state"),
                if frozen { "FROZEN" } else { "THAWED" },
            )?;
        } else if let Some(dir) = &self.v2 {
            write(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
        }
        Ok(())
    }

    /// Memory in use, in bytes (for `stats`).
    pub fn memory_usage(&self) -> Option<u64> {
        let file = if self.v2_limits {
            self.v2.as_ref()?.join("memory.current")
        } else {
            self.v1.get("memory")?.join("memory.usage_in_bytes")
        };
        read_number(&file)
    }

    /// Usage counters, as `docker stats` shows them (absent counters are zero or `None`).
    pub fn stats(&self) -> Stats {
        let (memory_dir, pids_dir) = if self.v2_limits {
            (self.v2.as_ref(), self.v2.as_ref())
        } else {
            (self.v1.get("memory"), self.v1.get("pids"))
        };
        let memory_limit = memory_dir.and_then(|dir| {
            let file = if self.v2_limits {
                "memory.max"
            } else {
                "memory.limit_in_bytes"
            };
            // v1 reports "no limit" as a huge page-rounded number.
            read_number(&dir.join(file)).filter(|&limit| limit < (1 << 62))
        });
        // CPU time: cgroup2's cpu.stat is a core file (present on hybrid hosts too); else cpuacct.
        let cpu_usage_ns = self
            .v2
            .as_ref()
            .and_then(|dir| fs::read_to_string(dir.join("cpu.stat")).ok())
            .and_then(|text| {
                text.lines()
                    .find_map(|line| line.strip_prefix("usage_usec "))
                    .and_then(|value| value.trim().parse::<u64>().ok())
                    .map(|usec| usec * 1000)
            })
            .or_else(|| read_number(&self.v1.get("cpuacct")?.join("cpuacct.usage")))
            .unwrap_or(0);
        Stats {
            memory_usage: self.memory_usage().unwrap_or(0),
            memory_limit,
            cpu_usage_ns,
            pids: pids_dir
                .and_then(|dir| read_number(&dir.join("pids.current")))
                .unwrap_or(0),
            pids_limit: pids_dir.and_then(|dir| read_number(&dir.join("pids.max"))),
        }
    }
}

/// The v2 settings beyond memory, CPUs and pids (the kernel's interface files; settings cgroup v2
/// has no file for were refused or warned about when the container was made).
fn apply_v2(dir: &Path, limits: &Limits) -> Result<(), Error> {
    if let Some(shares) = limits.cpu_shares {
        // runc's conversion of the v1 shares [2, 262144] onto the v2 weight [1, 10000].
        let weight = 1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142;
        write(&dir.join("cpu.weight"), &weight.to_string())?;
    }
    if limits.nano_cpus.is_none() && (limits.cpu_quota.is_some() || limits.cpu_period.is_some()) {
        let quota = match limits.cpu_quota {
            Some(quota) if quota > 0 => quota.to_string(),
            _ => "max".to_owned(),
        };
        let period = limits.cpu_period.unwrap_or(CPU_PERIOD);
        write(&dir.join("cpu.max"), &format!("{quota} {period}"))?;
    }
    for (file, value) in [
        ("cpuset.cpus", &limits.cpuset_cpus),
        ("cpuset.mems", &limits.cpuset_mems),
    ] {
        if let Some(value) = value {
            write(&dir.join(file), value)?;
        }
    }
    if let Some(reservation) = limits.memory_reservation {
        write(&dir.join("memory.low"), &reservation.to_string())?;
    }
    if let (Some(swap), Some(memory)) = (limits.memory_swap, limits.memory) {
        let file = dir.join("memory.swap.max");
        if file.exists() {
            let value = if swap < 0 {
                "max".to_owned()
            } else {
                (swap as u64).saturating_sub(memory).to_string()
            };
            write(&file, &value)?;
        }
    }
    if let Some(weight) = limits.blkio_weight {
        // io.weight is 1-10000 (cfq's 10-1000 scaled as runc does); BFQ takes the v1 range.
        if dir.join("io.bfq.weight").exists() {
            write(&dir.join("io.bfq.weight"), &weight.to_string())?;
        } else if dir.join("io.weight").exists() {
            let scaled = 1 + (u64::from(weight).clamp(10, 1000) - 10) * 9999 / 990;
            write(&dir.join("io.weight"), &format!("default {scaled}"))?;
        }
    }
    for device in &limits.blkio_weight_devices {
        let DeviceValue {
            major,
            minor,
            value,
        } = device;
        if dir.join("io.bfq.weight").exists() {
            write(
                &dir.join("io.bfq.weight"),
                &format!("{major}:{minor} {value}"),
            )?;
        }
    }
    for throttle in &limits.blkio_throttle {
        let DeviceValue {
            major,
            minor,
            value,
        } = &throttle.device;
        write(
            &dir.join("io.max"),
            &format!("{major}:{minor} {}={value}", throttle.kind.names().1),
        )?;
    }
    Ok(())
}

/// A v1 cpuset directory takes no process until it has CPUs and memory nodes, and a new one has
/// none: each ancestor below the hierarchy's root (made by `create`) gets its parent's, top down,
/// then the container's directory gets its parent's as the default.
fn fill_cpuset_ancestors(dir: &Path) -> Result<(), Error> {
    let mut chain: Vec<&Path> = dir
        .ancestors()
        .take_while(|path| path.join("cpuset.cpus").exists())
        .collect();
    chain.reverse();
    for pair in chain.windows(2) {
        let (parent, child) = (pair[0], pair[1]);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let current = fs::read_to_string(child.join(file)).unwrap_or_default();
            if current.trim().is_empty() {
                let path = parent.join(file);
                let value = fs::read_to_string(&path).map_err(io_error("read", &path))?;
                write(&child.join(file), value.trim())?;
            }
        }
    }
    Ok(())
}

/// A v1 cgroup gets real-time runtime only from what its parent has: each ancestor below the
/// hierarchy's root is raised, top down, to at least the container's share of a second.
fn raise_rt_ancestors(dir: &Path, runtime: i64, period: u64) -> Result<(), Error> {
    if runtime <= 0 {
        return Ok(());
    }
    let mut chain: Vec<&Path> = dir
        .ancestors()
        .skip(1)
        .take_while(|path| path.join("cpu.rt_runtime_us").exists())
        .collect();
    // The topmost is the hierarchy's root: the host's own budget, never changed.
    chain.pop();
    chain.reverse();
    for ancestor in chain {
        let own_period = read_number(&ancestor.join("cpu.rt_period_us")).unwrap_or(1_000_000);
        let needed = (runtime as u64).saturating_mul(own_period).div_ceil(period);
        let current = fs::read_to_string(ancestor.join("cpu.rt_runtime_us"))
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
            .unwrap_or(0);
        if current >= 0 && (current as u64) < needed {
            write(&ancestor.join("cpu.rt_runtime_us"), &needed.to_string())?;
        }
    }
    Ok(())
}

fn read_number(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A container's resource usage.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub memory_usage: u64,
    /// `None` when unlimited.
    pub memory_limit: Option<u64>,
    /// Total CPU time in nanoseconds.
    pub cpu_usage_ns: u64,
    pub pids: u64,
    pub pids_limit: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 1 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
27 25 0:24 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
28 25 0:25 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
29 25 0:26 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
30 25 0:27 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
31 25 0:28 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn detects_hybrid_with_separate_cpu_and_cpuacct() {
        let hierarchy = Hierarchy::from_mountinfo(HYBRID).unwrap();
        let Hierarchy::V1 {
            controllers,
            unified,
        } = &hierarchy
        else {
            panic!("{hierarchy:?}")
        };
        assert_eq!(controllers["cpu"], Path::new("/sys/fs/cgroup/cpu"));
        assert_eq!(controllers["cpuacct"], Path::new("/sys/fs/cgroup/cpuacct"));
        assert!(!controllers.contains_key("systemd"));
        assert_eq!(
            unified.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
        let cgroup = hierarchy.cgroup("rcompose", "abc");
        assert_eq!(
            cgroup.v1["memory"],
            Path::new("/sys/fs/cgroup/memory/rcompose/abc")
        );
        assert_eq!(
            cgroup.v2.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified/rcompose/abc"))
        );
    }

    #[test]
    fn detects_combined_v1_mounts_and_pure_v2() {
        let combined =
            "26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let Hierarchy::V1 {
            controllers,
            unified,
        } = Hierarchy::from_mountinfo(combined).unwrap()
        else {
            panic!()
        };
        assert_eq!(controllers["cpu"], controllers["cpuacct"]);
        assert_eq!(unified, None);
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            Hierarchy::from_mountinfo(v2).unwrap(),
            Hierarchy::V2 {
                root: "/sys/fs/cgroup".into()
            }
        );
        assert!(matches!(
            Hierarchy::from_mountinfo(""),
            Err(Error::NotMounted)
        ));
    }

    fn fake_v1(root: &Path) -> Hierarchy {
        let controllers = ["memory", "cpu", "pids"]
            .iter()
            .map(|name| (name.to_string(), root.join(name)))
            .collect();
        Hierarchy::V1 {
            controllers,
            unified: None,
        }
    }

    #[test]
    fn v1_limits_go_to_each_controller() {
        let dir = tempfile::tempdir().unwrap();
        let cgroup = fake_v1(dir.path()).cgroup("rcompose", "c1");
        cgroup.create().unwrap();
        cgroup
            .apply(&Limits {
                memory: Some(64 << 20),
                nano_cpus: Some(1_500_000_000),
                pids: Some(50),
                ..Limits::default()
            })
            .unwrap();
        let read = |path: &str| fs::read_to_string(dir.path().join(path)).unwrap();
        assert_eq!(read("memory/rcompose/c1/memory.limit_in_bytes"), "67108864");
        assert_eq!(read("cpu/rcompose/c1/cpu.cfs_quota_us"), "150000");
        assert_eq!(read("cpu/rcompose/c1/cpu.cfs_period_us"), "100000");
        assert_eq!(read("pids/rcompose/c1/pids.max"), "50");
        fs::write(
            dir.path().join("memory/rcompose/c1/memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        )
        .unwrap();
        assert_eq!(cgroup.oom_kills(), 2);
    }

    #[test]
    fn v2_limits_and_subtree_control() {
        let dir = tempfile::tempdir().unwrap();
        let cgroup = Hierarchy::V2 {
            root: dir.path().to_owned(),
        }
        .cgroup("rcompose", "c1");
        cgroup.create().unwrap();
        cgroup
            .apply(&Limits {
                memory: Some(1 << 20),
                nano_cpus: Some(500_000_000),
                pids: None,
                ..Limits::default()
            })
            .unwrap();
        let read = |path: &str| fs::read_to_string(dir.path().join(path)).unwrap();
        assert_eq!(read("rcompose/c1/memory.max"), "1048576");
        assert_eq!(read("rcompose/c1/cpu.max"), "50000 100000");
        // A plain directory keeps only the last write; the kernel accumulates them.
        assert_eq!(read("rcompose/cgroup.subtree_control"), "+io");
        fs::write(
            dir.path().join("rcompose/c1/memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        assert_eq!(cgroup.oom_kills(), 1);
    }

    #[test]
    fn v1_extras_go_to_their_files_and_cpuset_and_blkio_only_when_used() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let controllers = ["memory", "cpu", "pids", "cpuset", "blkio"]
            .iter()
            .map(|name| (name.to_string(), root.join(name)))
            .collect();
        let hierarchy = Hierarchy::V1 {
            controllers,
            unified: None,
        };
        assert!(!hierarchy.cgroup("rcompose", "c0").v1.contains_key("cpuset"));
        for (file, value) in [
            ("cpuset/cpuset.cpus", "0-1"),
            ("cpuset/cpuset.mems", "0"),
            ("cpu/cpu.rt_runtime_us", "950000"),
            ("cpu/cpu.rt_period_us", "1000000"),
        ] {
            fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            fs::write(root.join(file), value).unwrap();
        }
        let limits = Limits {
            cpu_shares: Some(512),
            cpu_quota: Some(50_000),
            cpu_period: Some(200_000),
            cpu_rt_runtime: Some(10_000),
            cpu_rt_period: Some(100_000),
            cpuset_cpus: Some("1".into()),
            memory_reservation: Some(8 << 20),
            memory_swappiness: Some(10),
            oom_kill_disable: true,
            blkio_throttle: vec![Throttle {
                kind: ThrottleKind::ReadBps,
                device: DeviceValue {
                    major: 254,
                    minor: 0,
                    value: 1 << 20,
                },
            }],
            ..Limits::default()
        };
        let cgroup = hierarchy.cgroup_for("rcompose", "c1", &limits);
        assert!(cgroup.v1.contains_key("cpuset") && cgroup.v1.contains_key("blkio"));
        cgroup.create().unwrap();
        // What the kernel shows in new directories: an empty cpuset, no RT runtime, these files.
        for file in [
            "cpuset/rcompose/cpuset.cpus",
            "cpuset/rcompose/cpuset.mems",
            "cpuset/rcompose/c1/cpuset.cpus",
            "cpuset/rcompose/c1/cpuset.mems",
        ] {
            fs::write(root.join(file), "").unwrap();
        }
        for file in ["cpu/rcompose", "cpu/rcompose/c1"] {
            fs::write(root.join(file).join("cpu.rt_runtime_us"), "0").unwrap();
            fs::write(root.join(file).join("cpu.rt_period_us"), "1000000").unwrap();
        }
        fs::write(root.join("memory/rcompose/c1/memory.swappiness"), "60").unwrap();
        fs::write(root.join("memory/rcompose/c1/memory.oom_control"), "").unwrap();
        cgroup.apply(&limits).unwrap();
        let read = |path: &str| fs::read_to_string(root.join(path)).unwrap();
        assert_eq!(read("cpu/rcompose/c1/cpu.shares"), "512");
        assert_eq!(read("cpu/rcompose/c1/cpu.cfs_quota_us"), "50000");
        assert_eq!(read("cpu/rcompose/c1/cpu.cfs_period_us"), "200000");
        // The parent gets the runtime's share of its own (1 s) period: 10 ms per 100 ms.
        assert_eq!(read("cpu/rcompose/cpu.rt_runtime_us"), "100000");
        assert_eq!(read("cpu/cpu.rt_runtime_us"), "950000");
        assert_eq!(read("cpu/rcompose/c1/cpu.rt_runtime_us"), "10000");
        assert_eq!(read("cpu/rcompose/c1/cpu.rt_period_us"), "100000");
        assert_eq!(read("cpuset/rcompose/cpuset.cpus"), "0-1");
        assert_eq!(read("cpuset/rcompose/c1/cpuset.cpus"), "1");
        assert_eq!(read("cpuset/rcompose/c1/cpuset.mems"), "0");
        assert_eq!(
            read("memory/rcompose/c1/memory.soft_limit_in_bytes"),
            "8388608"
        );
        assert_eq!(read("memory/rcompose/c1/memory.swappiness"), "10");
        assert_eq!(read("memory/rcompose/c1/memory.oom_control"), "1");
        assert_eq!(
            read("blkio/rcompose/c1/blkio.throttle.read_bps_device"),
            "254:0 1048576"
        );
    }

    #[test]
    fn v2_extras_and_the_shares_to_weight_conversion() {
        let dir = tempfile::tempdir().unwrap();
        let cgroup = Hierarchy::V2 {
            root: dir.path().to_owned(),
        }
        .cgroup("rcompose", "c1");
        cgroup.create().unwrap();
        fs::write(dir.path().join("rcompose/c1/io.weight"), "").unwrap();
        cgroup
            .apply(&Limits {
                cpu_shares: Some(1024),
                cpu_quota: Some(25_000),
                cpuset_cpus: Some("0".into()),
                memory_reservation: Some(1 << 20),
                blkio_weight: Some(500),
                ..Limits::default()
            })
            .unwrap();
        let read = |path: &str| fs::read_to_string(dir.path().join(path)).unwrap();
        assert_eq!(read("rcompose/c1/cpu.weight"), "39");
        assert_eq!(read("rcompose/c1/cpu.max"), "25000 100000");
        assert_eq!(read("rcompose/c1/cpuset.cpus"), "0");
        assert_eq!(read("rcompose/c1/memory.low"), "1048576");
        assert_eq!(read("rcompose/c1/io.weight"), "default 4950");
    }

    #[test]
    fn check_refuses_real_time_without_the_kernel_and_warns_of_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let hierarchy = fake_v1(dir.path());
        fs::create_dir_all(dir.path().join("memory")).unwrap();
        let rt = Limits {
            cpu_rt_runtime: Some(10_000),
            ..Limits::default()
        };
        assert_eq!(
            hierarchy.check(&rt).unwrap_err(),
            "Your kernel does not support cgroup cpu real-time runtime"
        );
        let swap = Limits {
            memory: Some(1 << 30),
            memory_swap: Some(2 << 30),
            ..Limits::default()
        };
        assert_eq!(
            hierarchy.check(&swap).unwrap(),
            [
                "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap."
            ]
        );
        let cpus = Limits {
            cpuset_cpus: Some("0-100000".into()),
            ..Limits::default()
        };
        assert!(hierarchy.check(&cpus).is_err());
        assert_eq!(parse_cpu_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn unescapes_mount_points() {
        assert_eq!(unescape(r"/a\040b"), Path::new("/a b"));
    }
}
