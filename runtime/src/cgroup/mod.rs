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
                        if V1_CONTROLLERS.contains(&option) {
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
                    .map(|(name, root)| (name.clone(), root.join(&relative)))
                    .collect(),
            },
        }
    }
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
pub struct Limits {
    /// Memory in bytes.
    pub memory: Option<u64>,
    /// CPU time in billionths of a CPU (Docker's NanoCPUs: `--cpus 1.5` is 1_500_000_000).
    pub nano_cpus: Option<u64>,
    /// Maximum number of processes (tasks).
    pub pids: Option<u64>,
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
                for controller in ["+memory", "+cpu", "+pids"] {
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
            return Ok(());
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
            })
            .unwrap();
        let read = |path: &str| fs::read_to_string(dir.path().join(path)).unwrap();
        assert_eq!(read("rcompose/c1/memory.max"), "1048576");
        assert_eq!(read("rcompose/c1/cpu.max"), "50000 100000");
        // A plain directory keeps only the last write; the kernel accumulates them.
        assert_eq!(read("rcompose/cgroup.subtree_control"), "+pids");
        fs::write(
            dir.path().join("rcompose/c1/memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        assert_eq!(cgroup.oom_kills(), 1);
    }

    #[test]
    fn unescapes_mount_points() {
        assert_eq!(unescape(r"/a\040b"), Path::new("/a b"));
    }
}
