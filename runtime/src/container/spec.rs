//! What a container is made of: plain data, serialisable, with no Compose in it. The CLI maps a service
//! onto it; [`ContainerSpec::from_image`] fills what the image config provides, as docker does.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::cgroup::Limits;
use crate::image::Image;
use crate::network::Attachment;
use crate::network::proxy::PortForward;

/// The root filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rootfs {
    /// Read-only layer directories, base first, stacked with overlayfs under the container's own
    /// writable upper directory.
    Layers(Vec<PathBuf>),
    /// A plain directory used as the root itself, as OCI runtimes use a bundle's `rootfs` (writes go
    /// to it unless the container is read-only): unpacked bundles, tests, benchmarks.
    Dir(PathBuf),
}

impl Default for Rootfs {
    fn default() -> Self {
        Self::Layers(Vec::new())
    }
}

/// A mount inside the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Absolute path in the container.
    pub target: String,
    pub kind: MountKind,
    pub read_only: bool,
    /// How a bind treats the mounts below its source.
    #[serde(default)]
    pub recursive: BindRecursive,
    /// A relative path below a bind's source to mount instead of the source (a volume's `subpath`),
    /// resolved at mount time as if the source were `/`: the source's content may belong to
    /// containers, and a symlink planted there must not lead to the host's files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// A bind's mount propagation. `shared` would need the container's root shared, which it never is:
/// nothing a container mounts reaches the host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Propagation {
    Private,
    #[default]
    RPrivate,
    Slave,
    RSlave,
}

/// How a bind mount treats the mounts below its source (docker's `bind-recursive` option).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BindRecursive {
    /// Submounts are bound too, and read-only all the way down when the bind is (kernel 5.12+;
    /// left writable on older kernels, as docker does).
    #[default]
    Enabled,
    /// Submounts are not bound (a non-recursive bind).
    Disabled,
    /// Submounts are bound and stay writable under a read-only bind.
    Writable,
    /// Submounts are read-only all the way down, or the container does not start.
    Readonly,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountKind {
    /// A recursive bind mount of a host path (file or directory).
    Bind { source: PathBuf },
    /// A tmpfs, with a size in bytes (0: the kernel default, half of RAM) and a mode (0: 1777).
    Tmpfs { size: u64, mode: u32 },
}

/// A host device given to the container (`devices: ["/dev/fuse:/dev/fuse:rwm"]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub host_path: PathBuf,
    pub container_path: String,
    /// Some of `r`, `w`, `m`.
    pub permissions: String,
}

/// How a container is networked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// A namespace of its own with loopback only (docker's `none`).
    #[default]
    None,
    /// The host's namespace.
    Host,
    /// Another container's namespace, by id.
    Container(String),
    /// A namespace of its own, kept at `<root>/netns/<id>` for the container's life, with an
    /// endpoint on each network, in order (`eth0`, `eth1`, ...).
    Networks(Vec<Attachment>),
    /// A namespace made beforehand (a bind-mounted nsfs file or `/proc/<pid>/ns/net`).
    Join(PathBuf),
}

/// How a container has its pid, IPC or UTS namespace (docker's `--pid`, `--ipc`, `--uts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NamespaceMode {
    /// A namespace of its own (docker's `private`).
    #[default]
    Private,
    /// IPC: a namespace of its own that other containers may join (docker's `shareable`; joining a
    /// `private` one is refused, as dockerd refuses it).
    Shareable,
    /// The host's.
    Host,
    /// Another container's, by id: its init's namespace, resolved at each start.
    Container(String),
}

/// A resource limit (`ulimits: {nofile: {soft: 1024, hard: 2048}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    /// Docker's name: `nofile`, `nproc`, `core`, ...
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// When the monitor starts the container again after it exits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    /// Restart after a non-zero exit, at most `max_retries` times (0: no limit).
    OnFailure {
        max_retries: u32,
    },
}

impl RestartPolicy {
    /// Parses docker's syntax: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.split_once(':') {
            None => match text {
                "no" | "" => Some(Self::No),
                "always" => Some(Self::Always),
                "unless-stopped" => Some(Self::UnlessStopped),
                "on-failure" => Some(Self::OnFailure { max_retries: 0 }),
                _ => None,
            },
            Some(("on-failure", n)) => n
                .parse()
                .ok()
                .map(|max_retries| Self::OnFailure { max_retries }),
            Some(_) => None,
        }
    }
}

/// The seccomp filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seccomp {
    /// A filter like Docker's default profile.
    #[default]
    Default,
    /// No filter (`security_opt: [seccomp=unconfined]`).
    Unconfined,
}

/// Everything needed to create and run a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerSpec {
    /// A unique name (docker's `--name`); empty for none.
    pub name: String,
    pub rootfs: Rootfs,
    /// The command: entrypoint followed by its arguments, already combined.
    pub args: Vec<String>,
    /// `KEY=VALUE` entries.
    pub env: Vec<String>,
    /// Working directory in the container; empty means `/`. Created if missing, as docker does.
    pub cwd: String,
    /// `name`, `uid`, `name:group` or `uid:gid`, looked up in the image's `/etc/passwd` and
    /// `/etc/group`; empty means root.
    pub user: String,
    /// Extra supplementary groups (names or numbers).
    pub group_add: Vec<String>,
    /// Empty means the first 12 characters of the id, as docker does.
    pub hostname: String,
    pub domainname: String,
    /// `/etc/hosts` content; `None` writes localhost entries and the hostname.
    pub hosts: Option<String>,
    /// `/etc/resolv.conf` content; `None` copies the host's.
    pub resolv_conf: Option<String>,
    pub mounts: Vec<Mount>,
    /// Mount the root filesystem read-only.
    pub read_only: bool,
    /// Capabilities added to or dropped from docker's default set (`ALL` allowed in both).
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// All capabilities the host allows, all devices, no masked paths, no seccomp.
    pub privileged: bool,
    pub no_new_privs: bool,
    pub seccomp: Seccomp,
    /// Namespaced sysctls (`net.*`, `kernel.shm*`, `kernel.msg*`, `kernel.sem`, `fs.mqueue.*`).
    pub sysctls: BTreeMap<String, String>,
    pub ulimits: Vec<Ulimit>,
    /// Size of `/dev/shm` in bytes (0: docker's 64 MiB).
    pub shm_size: u64,
    pub devices: Vec<Device>,
    pub limits: Limits,
    pub labels: BTreeMap<String, String>,
    pub restart: RestartPolicy,
    /// Signal number for `stop` (0: SIGTERM).
    pub stop_signal: i32,
    /// Seconds `stop` waits before SIGKILL (`None`: 10).
    pub stop_timeout: Option<u64>,
    /// A host init binary (docker's `--init`: tini) run as PID 1 in front of the command.
    pub init: Option<PathBuf>,
    /// How the container is networked (default: a namespace of its own with loopback only).
    pub network: NetworkMode,
    /// The pid namespace (`pid: host`, `container:`): a new one by default, whose PID 1 is the init.
    pub pid: NamespaceMode,
    /// The IPC namespace (`ipc: host | shareable | private | container:`).
    pub ipc: NamespaceMode,
    /// The UTS namespace (`uts: host`: the host's name, and no hostname is set).
    pub uts: NamespaceMode,
    /// A cgroup namespace of its own (`cgroup: private`), rooted at the container's cgroups; docker's
    /// default on a host with cgroup v1 is the host's.
    pub cgroupns_private: bool,
    /// Extra device rules of the v1 syntax (`c 1:3 mr`, `a *:* rwm`: docker's
    /// `--device-cgroup-rule`), allowed in the devices cgroup after the defaults.
    pub device_cgroup_rules: Vec<String>,
    /// The init's `oom_score_adj` (-1000 to 1000), inherited by the container's processes.
    pub oom_score_adj: Option<i32>,
    /// The cgroup the container's cgroup is made under, relative to each hierarchy's root (empty:
    /// the runtime's own, `rcompose`).
    pub cgroup_parent: String,
    /// How the binds at these targets propagate mounts between the host and the container
    /// (docker's `bind-propagation`); binds not listed get docker's default, `rprivate`.
    pub propagation: BTreeMap<String, Propagation>,
    /// OCI annotations (docker's `--annotation`): kept in the container's record for whoever reads
    /// it; like runc, this runtime gives them no meaning of its own.
    pub annotations: BTreeMap<String, String>,
    /// The interface name in the container per network (`interface_name`; default `eth<n>`).
    pub interface_names: BTreeMap<String, String>,
    /// Per network, its claim to the default route (`gw_priority`; default 0, highest wins).
    pub gw_priority: BTreeMap<String, i64>,
    /// Per network, link-local addresses (169.254.0.0/16) the endpoint also has (`link_local_ips`).
    pub link_local_ips: BTreeMap<String, Vec<std::net::Ipv4Addr>>,
    /// Host ports the monitor publishes (binds before the start, serves with a userland proxy).
    pub ports: Vec<PortForward>,
    /// Give the command a pseudo-terminal (`tty: true`, `run -t`); its output is logged as stdout.
    pub tty: bool,
    /// The terminal's first window size (rows, columns), so the command sees its caller's size from
    /// the start (docker's `ConsoleSize`); later changes come through [`super::Attach::resize`].
    pub console_size: Option<(u16, u16)>,
    /// Keep stdin open for [`super::Runtime::attach`] (`stdin_open: true`, `run -i`).
    pub open_stdin: bool,
    /// A probe the monitor runs in the container; its results are the state's `health`.
    pub healthcheck: Option<Healthcheck>,
    /// Rotate the log at this many bytes (json-file `max-size`; 0: never).
    pub log_max_size: u64,
    /// Log files kept in all when rotating (json-file `max-file`; 0 means 1).
    pub log_max_files: u32,
    /// Gzip rotated log files (json-file and local `compress`).
    pub log_compress: bool,
    /// Keep no log: the output is read and dropped (docker's `none` logging driver).
    pub log_none: bool,
    /// Files made for the container (secrets, configs), bound read-only at their targets after
    /// `mounts`.
    pub files: Vec<FileMount>,
    /// Mount options of tmpfs mounts, by target, beyond size and mode (docker's `--tmpfs
    /// /run:exec,uid=1000`); a tmpfs without an entry is nosuid and nodev.
    pub tmpfs_options: BTreeMap<String, TmpfsOptions>,
}

/// A tmpfs mount's flags and owner: docker's `--tmpfs` starts from `noexec,nosuid,nodev`
/// ([`TmpfsOptions::default`]), which `exec`, `suid` and `dev` lift.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TmpfsOptions {
    pub exec: bool,
    pub suid: bool,
    pub dev: bool,
    /// The owner of the tmpfs's root directory (`uid=`, `gid=`).
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// A file made for a container (a secret or a config): written at create into the container's
/// directory, owned by `uid:gid` with `mode`, bound read-only at `target` before the process
/// starts (so not even the container's root can change it), and removed with the container. The
/// content is not kept in the record.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileMount {
    /// Absolute path in the container.
    pub target: String,
    #[serde(skip)]
    pub content: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits (docker's default for secrets and configs is 0444).
    pub mode: u32,
}

impl std::fmt::Debug for FileMount {
    /// Never the content: it may be a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileMount")
            .field("target", &self.target)
            .field("content", &format_args!("<{} bytes>", self.content.len()))
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("mode", &format_args!("{:o}", self.mode))
            .finish()
    }
}

/// A healthcheck, already resolved: `test` is the command to exec (`CMD-SHELL x` is
/// `["/bin/sh", "-c", "x"]`). Durations in milliseconds; docker's defaults are 30 s interval, 30 s
/// timeout, 3 retries, no start period, 5 s start interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub retries: u32,
    pub start_period_ms: u64,
    pub start_interval_ms: u64,
}

impl Healthcheck {
    /// An image's healthcheck (docker's `config.Healthcheck`) as the monitor runs it; `None` for
    /// none or `NONE`. Zero durations are docker's defaults.
    pub fn from_image(image: &crate::image::docker_config::Healthcheck) -> Option<Healthcheck> {
        let test = match image.test.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => rest.to_vec(),
            Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
                vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
            }
            _ => return None,
        };
        let defaults = Healthcheck::default();
        let millis = |nanos: i64, default: u64| {
            if nanos > 0 {
                (nanos / 1_000_000) as u64
            } else {
                default
            }
        };
        Some(Healthcheck {
            test,
            interval_ms: millis(image.interval, defaults.interval_ms),
            timeout_ms: millis(image.timeout, defaults.timeout_ms),
            retries: if image.retries > 0 {
                image.retries.min(i64::from(u32::MAX)) as u32
            } else {
                defaults.retries
            },
            start_period_ms: millis(image.start_period, defaults.start_period_ms),
            start_interval_ms: millis(image.start_interval, defaults.start_interval_ms),
        })
    }
}

impl Default for Healthcheck {
    fn default() -> Self {
        Self {
            test: Vec::new(),
            interval_ms: 30_000,
            timeout_ms: 30_000,
            retries: 3,
            start_period_ms: 0,
            start_interval_ms: 5_000,
        }
    }
}

/// Docker's default capabilities (moby `oci/caps/defaults.go`).
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Paths docker hides from a container (`/dev/null` over files, an empty read-only tmpfs over dirs).
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths docker makes read-only.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The PATH docker sets when the image has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl ContainerSpec {
    /// A spec with the image's layers, environment, command, working directory, user and stop signal.
    /// Fails if a layer is not unpacked.
    pub fn from_image(image: &Image) -> Option<Self> {
        let mut spec = Self {
            rootfs: Rootfs::Layers(image.layer_dirs()?),
            ..Self::default()
        };
        if let Some(config) = image.config.config() {
            spec.env = config.env().clone().unwrap_or_default();
            spec.args = combine_command(
                config.entrypoint().as_deref(),
                config.cmd().as_deref(),
                None,
                None,
            );
            spec.cwd = config.working_dir().clone().unwrap_or_default();
            spec.user = config.user().clone().unwrap_or_default();
            spec.stop_signal = config
                .stop_signal()
                .as_deref()
                .and_then(signal_from_name)
                .unwrap_or(0);
            if let Some(labels) = config.labels() {
                spec.labels = labels.clone().into_iter().collect();
            }
        }
        spec.healthcheck = image
            .docker
            .healthcheck
            .as_ref()
            .and_then(Healthcheck::from_image);
        Some(spec)
    }

    /// The capability mask the container's processes get: docker's defaults with `cap_add` and
    /// `cap_drop` applied (drop first, as docker does, so `cap_drop: [ALL], cap_add: [X]` keeps X),
    /// everything for `privileged`, all intersected with `bounding` (the host's bounding set).
    pub fn capabilities(&self, bounding: u64) -> Result<u64, String> {
        use crate::sys::capability::from_name;
        if self.privileged {
            return Ok(bounding);
        }
        let all = u64::MAX;
        let parse = |name: &String| {
            from_name(name)
                .map(|cap| 1u64 << cap)
                .ok_or_else(|| format!("unknown capability {name:?}"))
        };
        let mut mask = DEFAULT_CAPABILITIES
            .iter()
            .map(|name| 1u64 << from_name(name).expect("known name"))
            .fold(0, |a, b| a | b);
        for name in &self.cap_drop {
            mask &= !if name.eq_ignore_ascii_case("ALL") {
                all
            } else {
                parse(name)?
            };
        }
        for name in &self.cap_add {
            mask |= if name.eq_ignore_ascii_case("ALL") {
                all
            } else {
                parse(name)?
            };
        }
        Ok(mask & bounding)
    }
}

/// Docker's rule for the command: an entrypoint given by the user drops the image's cmd unless a
/// command is given too; otherwise entrypoint followed by command (each from the user if given, else
/// the image).
pub fn combine_command(
    image_entrypoint: Option<&[String]>,
    image_cmd: Option<&[String]>,
    entrypoint: Option<&[String]>,
    command: Option<&[String]>,
) -> Vec<String> {
    let entry = entrypoint.or(image_entrypoint).unwrap_or_default();
    let cmd = match (entrypoint, command) {
        (_, Some(command)) => command,
        (Some(_), None) => &[],
        (None, None) => image_cmd.unwrap_or_default(),
    };
    entry.iter().chain(cmd).cloned().collect()
}

/// A signal number from `SIGTERM`, `TERM` or `15`.
pub fn signal_from_name(text: &str) -> Option<i32> {
    if let Ok(number) = text.parse::<i32>() {
        return (1..=64).contains(&number).then_some(number);
    }
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let number = match bare {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => {
            let offset = bare
                .strip_prefix("RTMIN+")
                .and_then(|n| n.parse::<i32>().ok())?;
            return Some(libc::SIGRTMIN() + offset);
        }
    };
    Some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_parse() {
        assert_eq!(RestartPolicy::parse("no"), Some(RestartPolicy::No));
        assert_eq!(
            RestartPolicy::parse("on-failure:3"),
            Some(RestartPolicy::OnFailure { max_retries: 3 })
        );
        assert_eq!(
            RestartPolicy::parse("unless-stopped"),
            Some(RestartPolicy::UnlessStopped)
        );
        assert_eq!(RestartPolicy::parse("sometimes"), None);
    }

    #[test]
    fn capabilities_follow_docker() {
        let all = u64::MAX >> 23; // 41 capabilities
        let without_sys_resource = all & !(1 << 24);
        let spec = ContainerSpec::default();
        let mask = spec.capabilities(all).unwrap();
        assert_eq!(mask.count_ones(), 14);
        let spec = ContainerSpec {
            cap_drop: vec!["ALL".into()],
            cap_add: vec!["NET_ADMIN".into(), "CAP_SYS_RESOURCE".into()],
            ..ContainerSpec::default()
        };
        assert_eq!(spec.capabilities(without_sys_resource).unwrap(), 1 << 12);
        let privileged = ContainerSpec {
            privileged: true,
            ..ContainerSpec::default()
        };
        assert_eq!(
            privileged.capabilities(without_sys_resource).unwrap(),
            without_sys_resource
        );
        let bad = ContainerSpec {
            cap_add: vec!["FLY".into()],
            ..ContainerSpec::default()
        };
        assert!(bad.capabilities(all).is_err());
    }

    #[test]
    fn command_combines_like_docker() {
        let v = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (ep, cmd) = (v(&["/entry"]), v(&["serve"]));
        assert_eq!(
            combine_command(Some(&ep), Some(&cmd), None, None),
            v(&["/entry", "serve"])
        );
        assert_eq!(
            combine_command(Some(&ep), Some(&cmd), Some(&v(&["sh"])), None),
            v(&["sh"])
        );
        assert_eq!(
            combine_command(Some(&ep), Some(&cmd), None, Some(&v(&["x"]))),
            v(&["/entry", "x"])
        );
    }

    #[test]
    fn signals_by_name() {
        assert_eq!(signal_from_name("SIGTERM"), Some(15));
        assert_eq!(signal_from_name("kill"), Some(9));
        assert_eq!(signal_from_name("10"), Some(10));
        assert_eq!(signal_from_name("SIGNOPE"), None);
    }
}
