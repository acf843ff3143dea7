//! Containers: create, start, stop, kill, remove, inspect, wait, exec and logs, on real Linux
//! namespaces, an overlayfs root, cgroups and a monitor process per container.
//!
//! The calling process may be multi-threaded (the CLI runs tokio), so it never forks: every kernel step
//! that needs a single-threaded process (clone into namespaces, setns) happens in a helper executable
//! this module spawns with `std::process::Command` ([`Helper`]: the CLI's small `rcompose-helper`,
//! else the CLI's own binary with a hidden subcommand, or the runtime crate's `rcompose-runtime`
//! binary in tests). For a start that helper
//! becomes the container's monitor (see [`crate::monitor`]): it detaches, creates the cgroup, clones the
//! container's init, and reports `pid N` or an error on its stdout, which is this side's sync pipe.
//!
//! Crash safety: `config.json` (with the cgroup paths) is written before anything else exists; the
//! monitor records its own pid before it clones; every mount lives in the container's mount
//! namespace and dies with it; so a killed CLI or monitor leaves a container directory from which
//! [`Runtime::remove`] or [`Runtime::recover`] finds every process (through the cgroup) and cgroup.

pub mod events;
pub mod init;
pub mod log;
pub(crate) mod namespaces;
pub mod network;
pub mod spec;
pub mod state;
pub mod user;

use std::fs;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use self::log::{Entry as LogEntry, Stream};
pub use self::spec::{
    BindRecursive, ContainerSpec, Device, Healthcheck, Mount, MountKind, NamespaceMode,
    NetworkMode, Propagation, RestartPolicy, Rootfs, Seccomp, Ulimit,
};
pub use self::state::{Health, HealthResult, Paths, Record, State, Status};
use crate::cgroup::{self, Hierarchy};
use crate::store::{IoError, ctx, lock::Lock, remove_tree};
use crate::sys::process as p;

/// What can go wrong with containers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Cgroup(#[from] cgroup::Error),
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("the container name {name:?} is already in use by container {id}")]
    NameInUse { name: String, id: String },
    #[error("invalid container spec: {0}")]
    InvalidSpec(String),
    #[error("container {0} is already running")]
    AlreadyRunning(String),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container {0} is paused, unpause the container before exec")]
    Paused(String),
    #[error(
        "cannot remove container {0}: the container is running; stop it first or force the removal"
    )]
    Running(String),
    #[error("cannot start container {id}: {message}")]
    Start {
        id: String,
        /// The exit code docker would report (125 setup, 126 not executable, 127 not found).
        code: i32,
        message: String,
    },
    #[error("cannot run the runtime helper {}", program.display())]
    Helper {
        program: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to signal container {id}")]
    Signal {
        id: String,
        #[source]
        source: io::Error,
    },
    #[error("timed out waiting for container {0}")]
    Timeout(String),
    #[error(transparent)]
    Network(#[from] crate::network::Error),
}

/// The single-threaded executable that runs monitors and exec helpers: `program args... monitor ...`.
#[derive(Debug, Clone)]
pub struct Helper {
    pub program: PathBuf,
    /// Arguments before the helper's own (e.g. the CLI's hidden subcommand).
    pub args: Vec<String>,
}

impl Helper {
    /// A stand-alone helper executable (one whose `main` is [`crate::monitor::standalone_main`],
    /// e.g. the CLI's `rcompose-helper`) that hands over to `fallback` when it was built from other
    /// sources than this library: a helper left over from an older build cannot then misread the
    /// state this library writes.
    pub fn standalone(program: PathBuf, fallback: &Helper) -> Helper {
        let mut args = vec![
            "--build".to_string(),
            crate::monitor::BUILD.to_string(),
            "--fallback".to_string(),
            fallback.program.to_string_lossy().into_owned(),
        ];
        args.extend(fallback.args.iter().cloned());
        args.push("--".to_string());
        Helper { program, args }
    }

    fn command(&self) -> Command {
        let mut command = protected_command(&self.program);
        command.args(&self.args);
        command
    }
}

/// A command that runs `program` from a read-only, detached bind mount of it (see
/// [`crate::sys::mount::readonly_file_tree`]), so that no process of a container can write the
/// runtime's executable through `/proc/<pid>/exe` (CVE-2019-5736). The mount is made once per
/// program and process and made again if the file was replaced (a rebuild). Without the privilege to
/// make it (not root), the program runs from its path, which no container can exist to abuse.
pub(crate) fn protected_command(program: &Path) -> Command {
    use std::os::unix::process::CommandExt;
    let Some(fd) = readonly_program(program) else {
        return Command::new(program);
    };
    let mut command = Command::new(format!("/proc/self/fd/{fd}"));
    // `ps` shows the program's own name, not the descriptor it was run through.
    command.arg0(program);
    // SAFETY: the closure runs in the child between fork and exec and only calls fcntl, which is
    // async-signal-safe; the descriptor is open in the parent, so in the child too.
    unsafe {
        command.pre_exec(move || p::set_cloexec(fd, false));
    }
    command
}

/// A read-only mount of a program, with the file's identity (device, inode) when it was made.
struct ProgramTree {
    path: PathBuf,
    identity: (u64, u64),
    tree: std::os::fd::OwnedFd,
}

fn readonly_program(program: &Path) -> Option<std::os::fd::RawFd> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    static TREES: std::sync::Mutex<Vec<ProgramTree>> = std::sync::Mutex::new(Vec::new());
    let identity = |m: fs::Metadata| (m.dev(), m.ino());
    let current = identity(fs::metadata(program).ok()?);
    let mut trees = TREES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = trees
        .iter()
        .find(|known| known.path == program && known.identity == current)
    {
        return Some(known.tree.as_raw_fd());
    }
    let tree = crate::sys::mount::readonly_file_tree(program).ok()?;
    // The mount must hold the file we checked (not one swapped in meanwhile).
    let opened = identity(fs::metadata(format!("/proc/self/fd/{}", tree.as_raw_fd())).ok()?);
    if opened != current {
        return None;
    }
    trees.retain(|known| known.path != program);
    let fd = tree.as_raw_fd();
    trees.push(ProgramTree {
        path: program.to_owned(),
        identity: current,
        tree,
    });
    Some(fd)
}

/// A process to run in a running container (`exec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecSpec {
    pub args: Vec<String>,
    /// `KEY=VALUE` entries added to (and overriding) the container's environment.
    pub env: Vec<String>,
    /// Overrides the container's user.
    pub user: Option<String>,
    /// Overrides the container's working directory.
    pub cwd: Option<String>,
    pub privileged: bool,
    /// Give the process a pseudo-terminal from the container (`exec -t`); the helper relays it to its
    /// own stdio, puts the caller's terminal in raw mode and follows its window size.
    pub tty: bool,
}

/// A connection to a container's terminal or stdin (see [`Runtime::attach`]).
#[derive(Debug)]
pub struct Attach {
    stream: std::os::unix::net::UnixStream,
}

impl Attach {
    /// Sends input (keys, or bytes for stdin).
    pub fn input(&mut self, data: &[u8]) -> io::Result<()> {
        use std::io::Write;
        for chunk in data.chunks(64 * 1024) {
            let mut frame = Vec::with_capacity(chunk.len() + 5);
            frame.push(b'd');
            frame.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
            frame.extend_from_slice(chunk);
            self.stream.write_all(&frame)?;
        }
        Ok(())
    }

    /// Sets the terminal's window size.
    pub fn resize(&mut self, rows: u16, cols: u16) -> io::Result<()> {
        use std::io::Write;
        let mut frame = vec![b'r'];
        frame.extend_from_slice(&rows.to_be_bytes());
        frame.extend_from_slice(&cols.to_be_bytes());
        self.stream.write_all(&frame)
    }

    /// Ends the input: stdin is closed, or the terminal gets its end-of-file character.
    pub fn close_input(&mut self) -> io::Result<()> {
        use std::io::Write;
        self.stream.write_all(b"e")
    }

    /// A reader of the container's output (terminal output, or stdout and stderr merged); it ends
    /// when the container's process exits.
    pub fn output(&self) -> io::Result<std::os::unix::net::UnixStream> {
        self.stream.try_clone()
    }
}

/// A container as `inspect` and `list` show it.
#[derive(Debug, Clone)]
pub struct Info {
    pub record: Record,
    pub state: State,
}

/// Whether the container's init (the process recorded in `state`) still runs.
fn init_alive(state: &State) -> bool {
    state.pid > 0 && p::is_alive(state.pid, state.pid_start)
}

/// A container whose monitor died while its init runs on (see [`Runtime::state`]).
fn unsupervised(state: &State) -> bool {
    state.runs_unsupervised()
}

/// The container runtime over one state root.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
    helper: Helper,
    hierarchy: Hierarchy,
    cgroup_parent: String,
}

const STOP_TIMEOUT: Duration = Duration::from_secs(10);

fn random_id() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    let path = Path::new("/dev/urandom");
    fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut bytes))
        .map_err(ctx("read", path))?;
    Ok(hex::encode(bytes))
}

pub(crate) const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// The `resolv.conf` a container's lookups would go to without rcompose's own server: the spec's
/// (`dns:` options) or the host's.
pub(crate) fn upstream_resolv_conf(spec: &ContainerSpec) -> String {
    spec.resolv_conf
        .clone()
        .unwrap_or_else(|| fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
}

/// The host's `resolv.conf` for a container with a network namespace of its own: loopback name
/// servers (systemd-resolved's 127.0.0.53, a local dnsmasq) cannot be reached from there, so they
/// are dropped, and if none is left docker's public fallbacks are used, as docker does.
fn container_resolv_conf(host: &str) -> String {
    let loopback = |line: &str| {
        line.strip_prefix("nameserver")
            .map(str::trim)
            .and_then(|server| server.parse::<std::net::IpAddr>().ok())
            .is_some_and(|server| server.is_loopback())
    };
    let mut text: String = host
        .lines()
        .filter(|line| !loopback(line))
        .map(|line| format!("{line}\n"))
        .collect();
    if !text.lines().any(|line| line.starts_with("nameserver")) {
        text.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    text
}

/// docker's rule for container names (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`), or with `host` for host names
/// and aliases (one character is enough; at most 253).
fn valid_name(name: &str, host: bool) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    let length_ok = if host {
        name.len() <= 253
    } else {
        name.len() >= 2
    };
    first_ok && rest_ok && length_ok
}

/// The files under /proc a mount may cover (runc's list: what lxcfs provides).
const PROC_MOUNTS_ALLOWED: [&str; 10] = [
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

fn validate(spec: &ContainerSpec) -> Result<(), Error> {
    let invalid = |message: String| Err(Error::InvalidSpec(message));
    match &spec.rootfs {
        Rootfs::Layers(layers) if layers.is_empty() => {
            return invalid("the root filesystem has no layers".into());
        }
        _ => {}
    }
    if spec.args.is_empty() {
        return invalid("no command specified".into());
    }
    spec.capabilities(u64::MAX).map_err(Error::InvalidSpec)?;
    // Names end up in every peer's /etc/hosts and in DNS answers: a newline or a space there would
    // add entries to other containers' files.
    if !spec.name.is_empty() && !valid_name(&spec.name, false) {
        return invalid(format!(
            "invalid container name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-]+ is allowed",
            spec.name
        ));
    }
    if spec.uts == NamespaceMode::Host && !spec.hostname.is_empty() {
        return invalid("conflicting options: hostname and the UTS mode".into());
    }
    if matches!(
        spec.uts,
        NamespaceMode::Shareable | NamespaceMode::Container(_)
    ) || spec.pid == NamespaceMode::Shareable
    {
        return invalid(
            "pid and uts namespaces are private, host or (pid) another container's".into(),
        );
    }
    let mut interfaces: Vec<&String> = spec.interface_names.values().collect();
    if let Some(bad) = interfaces
        .iter()
        .find(|name| name.len() > 15 || *name == &"lo" || !valid_name(name, false))
    {
        return invalid(format!(
            "invalid interface name {bad:?}: 1 to 15 of [a-zA-Z0-9_.-], not lo"
        ));
    }
    if let Some(bad) = spec
        .link_local_ips
        .values()
        .flatten()
        .find(|ip| !ip.is_link_local())
    {
        return invalid(format!(
            "{bad} is not a link-local address (169.254.0.0/16)"
        ));
    }
    interfaces.sort();
    if interfaces.windows(2).any(|pair| pair[0] == pair[1]) {
        return invalid("two networks have the same interface_name".into());
    }
    let parent = Path::new(&spec.cgroup_parent);
    if parent.is_absolute()
        || parent
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return invalid(format!(
            "invalid cgroup parent {:?}: a relative path of plain names",
            spec.cgroup_parent
        ));
    }
    for rule in &spec.device_cgroup_rules {
        cgroup::devices::Rule::parse(rule).map_err(|message| {
            Error::InvalidSpec(format!("device cgroup rule {rule:?}: {message}"))
        })?;
    }
    if spec
        .oom_score_adj
        .is_some_and(|adj| !(-1000..=1000).contains(&adj))
    {
        return invalid(format!(
            "Invalid value {}, range for oom score adj is [-1000, 1000]",
            spec.oom_score_adj.unwrap_or_default()
        ));
    }
    let mut host_names = vec![&spec.hostname, &spec.domainname];
    if let NetworkMode::Networks(attachments) = &spec.network {
        for attachment in attachments {
            host_names.extend(&attachment.aliases);
            host_names.extend(attachment.peer_aliases.values().flatten());
        }
    }
    if let Some(bad) = host_names
        .into_iter()
        .find(|name| !name.is_empty() && !valid_name(name, true))
    {
        return invalid(format!(
            "invalid host name {bad:?}: only letters, digits, '-', '_' and '.' are allowed"
        ));
    }
    for key in spec.sysctls.keys() {
        let namespaced = key.starts_with("net.")
            || key.starts_with("fs.mqueue.")
            || key.starts_with("kernel.shm")
            || key.starts_with("kernel.msg")
            || key == "kernel.sem";
        if !namespaced || key.contains("..") || key.contains('/') {
            return invalid(format!(
                "sysctl {key:?} is not allowed: only namespaced ones (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)"
            ));
        }
        // A namespace shared with the host is the host's: its sysctls would change the host.
        if key.starts_with("net.") && spec.network == NetworkMode::Host {
            return invalid(format!(
                "sysctl {key:?} is not allowed: the container shares the host's network namespace"
            ));
        }
    }
    for ulimit in &spec.ulimits {
        if p::rlimit_resource(&ulimit.name).is_none() {
            return invalid(format!("unknown ulimit {:?}", ulimit.name));
        }
        if ulimit.soft > ulimit.hard {
            return invalid(format!(
                "ulimit {}: soft limit {} is above the hard limit {}",
                ulimit.name, ulimit.soft, ulimit.hard
            ));
        }
    }
    for file in &spec.files {
        if !file.target.starts_with('/') || Path::new(&file.target).starts_with("/proc") {
            return invalid(format!(
                "file target {:?} is not an absolute path outside /proc",
                file.target
            ));
        }
    }
    for mount in &spec.mounts {
        if !mount.target.starts_with('/') {
            return invalid(format!("mount target {:?} is not absolute", mount.target));
        }
        // Mounts over procfs could redirect what the runtime writes there (sysctls) or unmask what
        // it masks; runc allows only the files lxcfs replaces.
        let target = Path::new(&mount.target);
        if target.starts_with("/proc")
            && !PROC_MOUNTS_ALLOWED.iter().any(|p| target == Path::new(p))
        {
            return invalid(format!(
                "mount target {:?} is under /proc; only {} may be mounted over",
                mount.target,
                PROC_MOUNTS_ALLOWED.join(", ")
            ));
        }
    }
    Ok(())
}

/// Writes a spec's `files` into the container's directory (see [`spec::FileMount`]): private to
/// root on the host side (the directory is 0700), owned and moded as asked inside.
fn write_files(paths: &Paths, files: &[spec::FileMount]) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if files.is_empty() {
        return Ok(());
    }
    crate::store::private_dir(&paths.files())?;
    for (index, file) in files.iter().enumerate() {
        let path = paths.file(index);
        let mut handle = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(ctx("create", &path))?;
        handle
            .write_all(&file.content)
            .map_err(ctx("write", &path))?;
        std::os::unix::fs::fchown(&handle, Some(file.uid), Some(file.gid))
            .map_err(ctx("chown", &path))?;
        handle
            .set_permissions(fs::Permissions::from_mode(file.mode & 0o7777))
            .map_err(ctx("chmod", &path))?;
    }
    Ok(())
}

impl Runtime {
    /// A runtime over `root`, with the host's cgroups (detected) under `rcompose/`.
    pub fn open(root: &Path, helper: Helper) -> Result<Self, Error> {
        crate::store::secure_root(root)?;
        Ok(Self::with_cgroups(
            root,
            helper,
            Hierarchy::detect()?,
            "rcompose",
        ))
    }

    /// A runtime with explicit cgroup mounts and parent (tests, nested setups).
    /// What this host's cgroups make of `limits`: dockerd's warnings for settings it would discard
    /// here, or its error for what cannot be had (see [`Hierarchy::check`]).
    pub fn check_limits(&self, limits: &cgroup::Limits) -> Result<Vec<String>, String> {
        self.hierarchy.check(limits)
    }

    pub fn with_cgroups(root: &Path, helper: Helper, hierarchy: Hierarchy, parent: &str) -> Self {
        Self {
            root: root.to_owned(),
            helper,
            hierarchy,
            cgroup_parent: parent.to_owned(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn paths(&self, id: &str) -> Paths {
        Paths::new(&self.root, id)
    }

    fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// Creates a container (files only: no process, no cgroup, no mount yet) and returns its id.
    pub fn create(&self, spec: ContainerSpec) -> Result<String, Error> {
        validate(&spec)?;
        self.hierarchy
            .check(&spec.limits)
            .map_err(Error::InvalidSpec)?;
        let containers = self.containers_dir();
        crate::store::private_dir(&containers)?;
        if matches!(spec.rootfs, Rootfs::Layers(_))
            && let Ok(kind) = crate::sys::mount::filesystem_type(&containers)
            && let Some((_, name)) = crate::sys::mount::NO_UPPER_DIR
                .iter()
                .find(|(magic, _)| *magic == kind)
        {
            return Err(Error::InvalidSpec(format!(
                "{} is on {name}, which cannot hold an overlay's writable layer; \
                 put the state root (--root) on a local filesystem such as ext4, xfs or tmpfs",
                containers.display()
            )));
        }
        let _names = Lock::exclusive(&containers.join(".names.lock"))?;
        if !spec.name.is_empty()
            && let Some(existing) = self
                .list()?
                .into_iter()
                .find(|info| info.record.spec.name == spec.name)
        {
            return Err(Error::NameInUse {
                name: spec.name,
                id: existing.record.id,
            });
        }
        let id = random_id()?;
        let paths = self.paths(&id);
        let mut dirs = vec![paths.dir.clone(), paths.rootfs()];
        if matches!(spec.rootfs, Rootfs::Layers(_)) {
            dirs.extend([paths.upper(), paths.work()]);
        }
        for dir in dirs {
            fs::create_dir(&dir).map_err(ctx("create directory", &dir))?;
        }
        // Until the network is attached the container is incomplete: a create killed before the end
        // leaves the marker, and `recover` removes the container rather than let it be started
        // without its endpoints.
        fs::write(paths.incomplete(), b"").map_err(ctx("write", &paths.incomplete()))?;
        let hostname = if spec.uts == NamespaceMode::Host {
            // The host's UTS namespace: its name, which the container cannot change.
            fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|name| name.trim().to_owned())
                .unwrap_or_default()
        } else if spec.hostname.is_empty() {
            id[..12].to_owned()
        } else {
            spec.hostname.clone()
        };
        let resolv = match (&spec.network, &spec.resolv_conf) {
            // On networks: the embedded DNS server, which forwards to the usual name servers.
            (NetworkMode::Networks(_), _) => network::resolv_conf(&upstream_resolv_conf(&spec)),
            (_, Some(text)) => text.clone(),
            (NetworkMode::Host, None) => upstream_resolv_conf(&spec),
            (_, None) => container_resolv_conf(&upstream_resolv_conf(&spec)),
        };
        // On networks the file is written again as the container joins them (with `host-gateway`
        // then the first network's gateway); with the host's network the host is loopback.
        let hosts = network::resolve_host_gateway(
            spec.hosts.as_deref().unwrap_or(DEFAULT_HOSTS),
            matches!(spec.network, NetworkMode::Host).then_some("127.0.0.1"),
        );
        write_files(&paths, &spec.files)?;
        for (name, contents) in [
            ("hostname", format!("{hostname}\n")),
            ("hosts", hosts),
            ("resolv.conf", resolv),
        ] {
            let path = paths.etc_file(name);
            fs::write(&path, contents).map_err(ctx("write", &path))?;
        }
        let record = Record {
            cgroup: self.hierarchy.cgroup_for(
                if spec.cgroup_parent.is_empty() {
                    &self.cgroup_parent
                } else {
                    &spec.cgroup_parent
                },
                &id,
                &spec.limits,
            ),
            id: id.clone(),
            created: state::now_rfc3339_nanos(),
            spec,
            hostname,
        };
        // Renamed into place but not fsync'd (see `state`): a killed command leaves the old or the new
        // file; a power loss may lose a container created in its last seconds, whose processes it
        // also ends.
        let bytes = serde_json::to_vec_pretty(&record).expect("record serialises");
        state::write_volatile(&paths.config(), &bytes)?;
        // After the record, so a crash in between leaves endpoints that `remove` finds.
        if let Err(error) = network::attach(&self.root, &record) {
            let _ = remove_tree(&paths.dir);
            return Err(error);
        }
        fs::remove_file(paths.incomplete()).map_err(ctx("remove", &paths.incomplete()))?;
        events::emit(&self.root, &record, "create", &[]);
        Ok(id)
    }

    fn record(&self, id: &str) -> Result<Record, Error> {
        let paths = self.paths(id);
        if !paths.config().exists() {
            return Err(Error::NotFound(id.to_owned()));
        }
        Ok(state::read_json(&paths.config())?)
    }

    /// Finds a container by full id, unique id prefix, or name.
    pub fn find(&self, query: &str) -> Result<String, Error> {
        if query.len() == 64 && self.paths(query).config().exists() {
            return Ok(query.to_owned());
        }
        let infos = self.list()?;
        if let Some(info) = infos.iter().find(|info| info.record.spec.name == query) {
            return Ok(info.record.id.clone());
        }
        let matches: Vec<&Info> = infos
            .iter()
            .filter(|info| !query.is_empty() && info.record.id.starts_with(query))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.record.id.clone()),
            _ => Err(Error::NotFound(query.to_owned())),
        }
    }

    /// The state, corrected for a monitor that died (killed, OOM-killed): the container is reported
    /// `dead`, with an error saying whether its processes still run. Nothing relays their output any
    /// more (their next write to a full or closed pipe fails) and no restart policy applies, so
    /// they are not shown as running; `stop`, `kill`, `remove` and `start` still reach them (through
    /// the cgroup), and [`Runtime::recover`] cleans a dead container whose init is gone too.
    pub fn state(&self, id: &str) -> Result<State, Error> {
        let paths = self.paths(id);
        if !paths.config().exists() {
            return Err(Error::NotFound(id.to_owned()));
        }
        let mut state = State::read(&paths)?;
        if state.status.is_active() && !p::is_alive(state.monitor_pid, state.monitor_start) {
            // The monitor may have just finished: read again before judging.
            state = State::read(&paths)?;
            if state.status.is_active() && !p::is_alive(state.monitor_pid, state.monitor_start) {
                state.status = Status::Dead;
                state.error = if init_alive(&state) {
                    format!(
                        "the container's monitor (pid {}) died; its processes run unsupervised (no \
                         logs, no restart policy): stop, remove or start it again",
                        state.monitor_pid
                    )
                } else {
                    "the container's monitor died".into()
                };
            }
        }
        Ok(state)
    }

    /// The record and state of a container.
    pub fn inspect(&self, id: &str) -> Result<Info, Error> {
        Ok(Info {
            record: self.record(id)?,
            state: self.state(id)?,
        })
    }

    /// Every container, oldest first.
    pub fn list(&self) -> Result<Vec<Info>, Error> {
        let dir = self.containers_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(IoError::new("list", dir, error).into()),
        };
        let mut infos = Vec::new();
        for entry in entries {
            let entry = entry.map_err(ctx("list", &dir))?;
            let Some(id) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if id.starts_with('.') {
                continue;
            }
            match self.inspect(&id) {
                Ok(info) => infos.push(info),
                Err(Error::NotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        infos.sort_by(|a, b| a.record.created.cmp(&b.record.created));
        Ok(infos)
    }

    /// Starts a created or exited container: spawns its monitor and returns once the command has been
    /// exec'd (or failed to be, with docker's exit code and a message saying why).
    pub fn start(&self, id: &str) -> Result<State, Error> {
        let paths = self.paths(id);
        let record = self.record(id)?;
        let lock = paths.lock()?;
        let state = self.state(id)?;
        if state.status.is_active() {
            return Err(Error::AlreadyRunning(id.to_owned()));
        }
        if state.status == Status::Dead {
            self.clean_processes(&record, &state);
        }
        let _ = fs::remove_file(paths.stopping());
        let monitor_log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(paths.monitor_log())
            .map_err(ctx("open", &paths.monitor_log()))?;
        let helper_error = |source| Error::Helper {
            program: self.helper.program.clone(),
            source,
        };
        let mut command = self.helper.command();
        command
            .arg("monitor")
            .arg(&self.root)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(monitor_log);
        // The monitor shares this start's hold on the container lock until it has reported (see
        // `monitor::START_LOCK_FD`): if this process is killed meanwhile, a `remove` still waits for
        // the monitor to record itself instead of deleting the directory under a starting container.
        let lock_fd = std::os::fd::AsRawFd::as_raw_fd(&lock);
        command.env(crate::monitor::START_LOCK_FD, lock_fd.to_string());
        // SAFETY: the closure only calls fcntl(2), which is async-signal-safe, on a descriptor this
        // process owns; it clears close-on-exec in the child alone.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                if libc::fcntl(lock_fd, libc::F_SETFD, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(helper_error)?;
        let mut report = String::new();
        let read = child
            .stdout
            .take()
            .expect("piped")
            .read_to_string(&mut report);
        let _ = child.wait();
        read.map_err(helper_error)?;
        let line = report.lines().next().unwrap_or("");
        if line.strip_prefix("pid ").is_some() {
            return self.state(id);
        }
        let (code, message) = match line.strip_prefix("error: ") {
            Some(rest) => {
                let (code, message) = rest.split_once(' ').unwrap_or(("125", rest));
                (code.parse().unwrap_or(125), message.to_owned())
            }
            None => {
                let log = fs::read_to_string(paths.monitor_log()).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                (
                    125,
                    format!(
                        "the monitor exited without a report: {}",
                        tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
                    ),
                )
            }
        };
        Err(Error::Start {
            id: id.to_owned(),
            code,
            message,
        })
    }

    fn signal_init(&self, id: &str, state: &State, signal: i32) -> Result<bool, Error> {
        if state.pid <= 0 {
            return Ok(false);
        }
        let pidfd = match p::pidfd_open(state.pid) {
            Ok(fd) => fd,
            Err(error) if error.raw_os_error() == Some(libc::ESRCH) => return Ok(false),
            Err(source) => {
                return Err(Error::Signal {
                    id: id.to_owned(),
                    source,
                });
            }
        };
        // The pidfd now pins the process; check it is still the container's init, not a recycled pid.
        if !p::is_alive(state.pid, state.pid_start) {
            return Ok(false);
        }
        match p::pidfd_send_signal(std::os::fd::AsFd::as_fd(&pidfd), signal) {
            Ok(()) => Ok(true),
            Err(error) if error.raw_os_error() == Some(libc::ESRCH) => Ok(false),
            Err(source) => Err(Error::Signal {
                id: id.to_owned(),
                source,
            }),
        }
    }

    /// Sends `signal` to the container's init. SIGKILL and the stop signal also mark the container as
    /// stopped by the user, so the restart policy leaves it down (as docker does).
    pub fn kill(&self, id: &str, signal: i32) -> Result<(), Error> {
        let record = self.record(id)?;
        let paths = self.paths(id);
        let state = self.state(id)?;
        if !state.status.is_active() && !unsupervised(&state) {
            return Err(Error::NotRunning(id.to_owned()));
        }
        let stop_signal = if record.spec.stop_signal == 0 {
            libc::SIGTERM
        } else {
            record.spec.stop_signal
        };
        if signal == libc::SIGKILL || signal == stop_signal {
            fs::write(paths.stopping(), b"").map_err(ctx("write", &paths.stopping()))?;
        }
        self.signal_init(id, &state, signal)?;
        events::emit(
            &self.root,
            &record,
            "kill",
            &[("signal", signal.to_string())],
        );
        Ok(())
    }

    /// Stops a container: its stop signal, then SIGKILL to everything in its cgroup after `timeout`
    /// (default: the spec's `stop_timeout`, else 10 s). Waits for the monitor to record the exit.
    pub fn stop(&self, id: &str, timeout: Option<Duration>) -> Result<State, Error> {
        let record = self.record(id)?;
        let paths = self.paths(id);
        let _lock = paths.lock()?;
        let state = self.state(id)?;
        if !state.status.is_active() && !unsupervised(&state) {
            return Ok(state);
        }
        fs::write(paths.stopping(), b"").map_err(ctx("write", &paths.stopping()))?;
        if state.status == Status::Paused || unsupervised(&state) {
            let _ = record.cgroup.freeze(false);
        }
        let timeout = timeout
            .or(record.spec.stop_timeout.map(Duration::from_secs))
            .unwrap_or(STOP_TIMEOUT);
        let signal = if record.spec.stop_signal == 0 {
            libc::SIGTERM
        } else {
            record.spec.stop_signal
        };
        if !timeout.is_zero() && self.signal_init(id, &state, signal)? {
            wait_for_exit(state.pid, state.pid_start, timeout);
        }
        if p::is_alive(state.pid, state.pid_start) || state.status == Status::Restarting {
            self.signal_init(id, &state, libc::SIGKILL)?;
            let _ = record.cgroup.kill();
        }
        if unsupervised(&state) {
            // No monitor to record the exit or remove the cgroup.
            self.clean_processes(&record, &state);
        }
        self.finish_monitor(&record, &state);
        events::emit(&self.root, &record, "stop", &[]);
        self.state(id)
    }

    /// Every event kept under this root (see [`events`]); `events_path` is the file to follow.
    pub fn events(&self) -> Result<Vec<events::Event>, Error> {
        events::read(&self.root)
            .map_err(|error| IoError::new("read", events::path(&self.root), error).into())
    }

    /// The events file (JSON lines), for following.
    pub fn events_path(&self) -> PathBuf {
        events::path(&self.root)
    }

    /// Waits for the monitor to exit (it does once the container is down and no restart is due);
    /// cleans up itself if the monitor is gone or stuck.
    fn finish_monitor(&self, record: &Record, state: &State) {
        if !wait_for_exit(
            state.monitor_pid,
            state.monitor_start,
            Duration::from_secs(5),
        ) {
            let _ = p::kill(state.monitor_pid, libc::SIGKILL);
        }
        let current = State::read(&self.paths(&record.id)).unwrap_or_default();
        if current.status.is_active() {
            self.clean_processes(record, &current);
        }
    }

    /// Kills whatever is left in the cgroup, removes it, and records the container as exited.
    fn clean_processes(&self, record: &Record, state: &State) {
        let _ = record.cgroup.freeze(false);
        let _ = record.cgroup.kill();
        let _ = record.cgroup.remove(Duration::from_secs(2));
        let mut state = state.clone();
        if state.status.is_active() || state.status == Status::Dead {
            if state.status == Status::Dead {
                state.error = "the container's monitor died".into();
            }
            state.status = Status::Exited;
            state.pid = 0;
            state.exit_code.get_or_insert(137);
            if state.finished_at.is_empty() {
                state.finished_at = state::now_rfc3339_nanos();
            }
            let _ = state.write(&self.paths(&record.id));
        }
    }

    /// Removes a container: its cgroup, its directory with the writable layer and logs. A running
    /// container needs `force` (then it is killed first).
    pub fn remove(&self, id: &str, force: bool) -> Result<(), Error> {
        let record = self.record(id)?;
        let paths = self.paths(id);
        let lock = paths.lock()?;
        let state = self.state(id)?;
        // A dead monitor's processes still running are killed only on request too.
        if (state.status.is_active() || unsupervised(&state)) && !force {
            return Err(Error::Running(id.to_owned()));
        }
        // From here on the container is going: a remove killed half-way leaves the marker, and
        // `recover` finishes it (a container without its network must not be started again).
        fs::write(paths.incomplete(), b"").map_err(ctx("write", &paths.incomplete()))?;
        if state.status.is_active() {
            fs::write(paths.stopping(), b"").map_err(ctx("write", &paths.stopping()))?;
            let _ = record.cgroup.freeze(false);
            self.signal_init(id, &state, libc::SIGKILL)?;
            let _ = record.cgroup.kill();
            self.finish_monitor(&record, &state);
        } else if !wait_for_exit(
            state.monitor_pid,
            state.monitor_start,
            Duration::from_secs(5),
        ) {
            // A monitor that recorded the final exit has nothing left to write; give it a moment.
            let _ = p::kill(state.monitor_pid, libc::SIGKILL);
        }
        // Normally the monitor removed the cgroup on the final exit; this is for crashes.
        if record.cgroup.exists() {
            record.cgroup.kill()?;
            record.cgroup.remove(Duration::from_secs(2))?;
        }
        network::detach(&self.root, &record);
        drop(lock);
        // The record first, so that a removal killed in the middle of the tree leaves a directory
        // without a record, which `recover` deletes, rather than a container with half its files.
        match fs::remove_file(paths.config()) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                return Err(IoError::new("remove", paths.config(), error).into());
            }
            _ => {}
        }
        remove_tree(&paths.dir)?;
        events::emit(&self.root, &record, "destroy", &[]);
        Ok(())
    }

    /// Waits until the container is neither running nor restarting; `None` waits forever.
    pub fn wait(&self, id: &str, timeout: Option<Duration>) -> Result<State, Error> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let state = self.state(id)?;
            if !state.status.is_active() {
                return Ok(state);
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return Err(Error::Timeout(id.to_owned()));
            }
            // The monitor exits right after recording a final exit; with a restart policy it lives
            // on, so look again at least every 20 ms.
            let slice = left.map_or(Duration::from_millis(20), |l| {
                l.min(Duration::from_millis(20))
            });
            wait_for_exit(state.monitor_pid, state.monitor_start, slice);
        }
    }

    /// Pauses (freezes) or resumes every process of a running container.
    pub fn pause(&self, id: &str, paused: bool) -> Result<State, Error> {
        let record = self.record(id)?;
        let paths = self.paths(id);
        let _lock = paths.lock()?;
        let mut state = self.state(id)?;
        if !state.status.is_active() {
            return Err(Error::NotRunning(id.to_owned()));
        }
        record.cgroup.freeze(paused)?;
        // The monitor owns state.json; while the container runs it writes only health results, and
        // keeps a pause recorded here.
        state.status = if paused {
            Status::Paused
        } else {
            Status::Running
        };
        state.write(&paths)?;
        events::emit(
            &self.root,
            &record,
            if paused { "pause" } else { "unpause" },
            &[],
        );
        Ok(state)
    }

    /// A command that runs `exec` in the container through the helper; the caller sets its stdio,
    /// spawns it and waits. Its exit status is the process's (126/127 if it could not be started).
    pub fn exec_command(&self, id: &str, exec: &ExecSpec) -> Result<Command, Error> {
        let state = self.state(id)?;
        if !state.status.is_active() {
            return Err(Error::NotRunning(id.to_owned()));
        }
        // A process that joins a frozen cgroup freezes too, and the exec would wait for `unpause`.
        if state.status == Status::Paused {
            return Err(Error::Paused(id.to_owned()));
        }
        let mut command = self.helper.command();
        command
            .arg("exec")
            .arg(&self.root)
            .arg(id)
            .arg(serde_json::to_string(exec).expect("exec spec serialises"));
        Ok(command)
    }

    /// Asks the container's monitor to run the healthcheck now instead of at its next scheduled
    /// time; the result is recorded in the state's `health` as any other. Nothing happens when the
    /// container does not run or has no healthcheck.
    pub fn probe_health_now(&self, id: &str) -> Result<(), Error> {
        let state = self.state(id)?;
        if state.status != Status::Running
            || !state.probes_on_request
            || state.monitor_pid <= 0
            || !p::is_alive(state.monitor_pid, state.monitor_start)
        {
            return Ok(());
        }
        let _ = p::kill(state.monitor_pid, libc::SIGUSR1);
        Ok(())
    }

    /// Resource usage of a running container (`stats`).
    pub fn stats(&self, id: &str) -> Result<cgroup::Stats, Error> {
        let record = self.record(id)?;
        if !self.state(id)?.status.is_active() {
            return Err(Error::NotRunning(id.to_owned()));
        }
        Ok(record.cgroup.stats())
    }

    /// Host pids of every process of a running container (`top`; details are in `/proc/<pid>`).
    pub fn processes(&self, id: &str) -> Result<Vec<i32>, Error> {
        let record = self.record(id)?;
        if !self.state(id)?.status.is_active() {
            return Err(Error::NotRunning(id.to_owned()));
        }
        Ok(record.cgroup.procs())
    }

    /// A command that writes a tar of `path` in the running container (a file or a directory,
    /// under its own name) to its stdout, as `docker cp CONTAINER:PATH -` does.
    pub fn copy_out_command(&self, id: &str, path: &str) -> Result<Command, Error> {
        self.helper_for_running(id, "cp-out", path)
    }

    /// A command that unpacks a tar from its stdin into directory `dir` of the running container.
    pub fn copy_in_command(&self, id: &str, dir: &str) -> Result<Command, Error> {
        self.helper_for_running(id, "cp-in", dir)
    }

    /// A command that applies a tar from its stdin to directory `dir` of the running container,
    /// made if missing: owners kept, and `.wh.NAME` entries remove `NAME` (`watch`'s sync).
    pub fn copy_sync_command(&self, id: &str, dir: &str) -> Result<Command, Error> {
        self.helper_for_running(id, "cp-sync", dir)
    }

    fn helper_for_running(&self, id: &str, verb: &str, arg: &str) -> Result<Command, Error> {
        if !self.state(id)?.status.is_active() {
            return Err(Error::NotRunning(id.to_owned()));
        }
        let mut command = self.helper.command();
        command.arg(verb).arg(&self.root).arg(id).arg(arg);
        Ok(command)
    }

    /// Attaches to a running container created with `tty` or `open_stdin`: input goes to its
    /// terminal or stdin, and its output (from now on; earlier output is in the log) can be read
    /// from [`Attach::output`] until the container's process exits.
    pub fn attach(&self, id: &str) -> Result<Attach, Error> {
        let record = self.record(id)?;
        if !(record.spec.tty || record.spec.open_stdin) {
            return Err(Error::InvalidSpec(format!(
                "container {id} was created without a terminal or open stdin: nothing to attach to"
            )));
        }
        if !self.state(id)?.status.is_active() {
            return Err(Error::NotRunning(id.to_owned()));
        }
        let paths = self.paths(id);
        // Through the directory's descriptor, so the socket path stays short.
        let dir = fs::File::open(&paths.dir).map_err(ctx("open", &paths.dir))?;
        let socket = format!(
            "/proc/self/fd/{}/{}",
            dir.as_raw_fd(),
            crate::monitor::ATTACH_SOCKET
        );
        let stream = std::os::unix::net::UnixStream::connect(&socket).map_err(|error| {
            IoError::new(
                "connect to",
                paths.dir.join(crate::monitor::ATTACH_SOCKET),
                error,
            )
        })?;
        Ok(Attach { stream })
    }

    /// The log file (docker's json-file format).
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.paths(id).log()
    }

    /// Every log entry so far.
    pub fn logs(&self, id: &str) -> Result<Vec<LogEntry>, Error> {
        let path = self.log_path(id);
        log::read(&path).map_err(|error| IoError::new("read", path, error).into())
    }

    /// Cleans what crashed commands and monitors left: container directories without a record and
    /// containers marked incomplete (a create or remove killed half-way: removed, with whatever of
    /// their network and cgroup exists), containers whose monitor and processes are gone but whose
    /// state still says running, then namespace files and endpoints of containers that no longer
    /// exist. Returns every error and keeps going.
    ///
    /// Runs under the container names lock, which `create` holds from its first file to its last
    /// endpoint: a create in progress (another project's command) is never mistaken for a leftover.
    pub fn recover(&self) -> Vec<Error> {
        let mut errors = Vec::new();
        let dir = self.containers_dir();
        let Ok(entries) = fs::read_dir(&dir) else {
            return errors;
        };
        let _names = match Lock::exclusive(&dir.join(".names.lock")) {
            Ok(lock) => lock,
            Err(error) => return vec![error.into()],
        };
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if id.starts_with('.') {
                continue;
            }
            let paths = self.paths(&id);
            if !paths.config().exists() {
                if let Err(error) = remove_tree(&paths.dir) {
                    errors.push(error.into());
                }
                continue;
            }
            if paths.incomplete().exists() {
                // `remove` takes the container's lock: a removal still running finishes first.
                match self.remove(&id, true) {
                    Ok(()) | Err(Error::NotFound(_)) => {}
                    Err(error) => errors.push(error),
                }
                continue;
            }
            let Ok(_lock) = paths.lock() else {
                continue;
            };
            match (self.record(&id), self.state(&id)) {
                // A dead monitor whose processes still run is the user's to stop or remove.
                (Ok(record), Ok(state)) if state.status == Status::Dead && !init_alive(&state) => {
                    self.clean_processes(&record, &state);
                }
                (Err(Error::NotFound(_)), _) | (_, Err(Error::NotFound(_))) => {}
                (Err(error), _) | (_, Err(error)) => errors.push(error),
                _ => {}
            }
        }
        errors.extend(self.recover_networks());
        errors
    }

    /// Namespace files and endpoints of containers that no longer exist (a create or remove killed
    /// half-way). Called under the names lock (see [`Runtime::recover`]).
    fn recover_networks(&self) -> Vec<Error> {
        let alive = |id: &str| self.paths(id).config().exists();
        let mut errors = Vec::new();
        for path in crate::network::netns::list(&self.root.join("netns")) {
            let id = path.file_name().unwrap_or_default().to_string_lossy();
            if !alive(&id)
                && let Err(error) = crate::network::netns::remove(&path)
            {
                errors.push(IoError::new("remove", &path, error).into());
            }
        }
        if let Ok(networks) = crate::network::Networks::open(&self.root) {
            errors.extend(networks.recover(alive).into_iter().map(Error::from));
        }
        errors
    }

    /// The container's network endpoints (addresses, interfaces, names), in attachment order.
    pub fn endpoints(&self, id: &str) -> Result<Vec<crate::network::Endpoint>, Error> {
        Ok(network::endpoints(&self.root, &self.record(id)?))
    }
}

/// Waits up to `timeout` for process (`pid`, `start`) to end; true if it has (or never existed).
fn wait_for_exit(pid: i32, start: u64, timeout: Duration) -> bool {
    if pid <= 0 {
        return true;
    }
    let Ok(pidfd) = p::pidfd_open(pid) else {
        return true;
    };
    if !p::is_alive(pid, start) {
        return true;
    }
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // poll(2) counts whole milliseconds: round up so a short wait does not spin.
        let rounded = Duration::from_millis(left.as_micros().div_ceil(1000) as u64);
        match p::poll_read(&[pidfd.as_raw_fd()], Some(rounded)) {
            Ok(ready) if ready[0] => return true,
            Ok(_) if left.is_zero() => return false,
            Ok(_) => {}
            Err(_) => return !p::is_alive(pid, start),
        }
        if Instant::now() >= deadline {
            return !p::is_alive(pid, start);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ContainerSpec, Error, NetworkMode, Rootfs, container_resolv_conf, validate};

    #[test]
    fn names_that_would_inject_lines_are_invalid_specs() {
        let spec = |edit: &dyn Fn(&mut ContainerSpec)| {
            let mut spec = ContainerSpec {
                rootfs: Rootfs::Dir("/".into()),
                args: vec!["true".into()],
                ..ContainerSpec::default()
            };
            edit(&mut spec);
            validate(&spec)
        };
        assert!(spec(&|s| s.hostname = "web-1.internal_a".into()).is_ok());
        assert!(spec(&|s| s.name = "proj-web-1".into()).is_ok());
        for bad in ["a\n6.6.6.6 victim", "a b", "-a", "a/b", "\u{e9}"] {
            let hostname = bad.to_owned();
            let error = spec(&|s| s.hostname = hostname.clone()).unwrap_err();
            assert!(matches!(error, Error::InvalidSpec(_)), "{bad:?}: {error}");
        }
        for bad in ["../../evil", "a/b", "a", "a\nb"] {
            let name = bad.to_owned();
            assert!(spec(&|s| s.name = name.clone()).is_err(), "{bad:?}");
        }
        let attachment = crate::network::Attachment {
            aliases: vec!["ok".into(), "x\n1.2.3.4 y".into()],
            ..Default::default()
        };
        let network = NetworkMode::Networks(vec![attachment]);
        assert!(spec(&|s| s.network = network.clone()).is_err());
        let sysctl = |s: &mut ContainerSpec| {
            s.network = NetworkMode::Host;
            s.sysctls.insert("net.core.somaxconn".into(), "1".into());
        };
        assert!(spec(&sysctl).is_err());
    }

    #[test]
    fn loopback_name_servers_are_dropped() {
        assert_eq!(
            container_resolv_conf("search lan\nnameserver 127.0.0.53\nnameserver 10.0.0.1\n"),
            "search lan\nnameserver 10.0.0.1\n"
        );
        assert_eq!(
            container_resolv_conf("nameserver ::1\noptions edns0\n"),
            "options edns0\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }
}
