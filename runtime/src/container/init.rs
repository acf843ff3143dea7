//! The container's first process, between `clone` and `execve`: it runs in the new namespaces (as PID 1
//! of the new pid namespace) inside the single-threaded monitor, builds the root filesystem, pivots
//! into it, becomes the container's user with the container's capabilities, and execs the command.
//!
//! Order matters and follows runc/youki: mounts are made while the host's paths are still visible
//! (layers, bind sources, device nodes), then `pivot_root`; masked and read-only paths after it (they
//! are container paths); the user is looked up in the container's own `/etc/passwd` after the pivot;
//! rlimits, then the bounding set, the identity, the capability sets, `no_new_privs`, and seccomp last
//! (or before the identity change when `no_new_privs` is off: installing a filter then needs
//! CAP_SYS_ADMIN, which is gone after the drop).
//!
//! Errors carry what was being done and on which path; the monitor passes them to the caller. The
//! first word of the message is the exit code to report (127 command not found, 126 not executable,
//! 125 for a setup failure), as docker does.

use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::namespaces;
use super::spec::{self, ContainerSpec, MountKind, Rootfs};
use super::state::{Paths, Record};
use super::user;
use crate::sys::mount::{self as m, mount};
use crate::sys::netlink::Netlink;
use crate::sys::process as p;
use crate::sys::{self, NodeKind, capability};

/// Why the container's process could not be started, with the exit code docker reports for it.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    fn setup(message: impl Into<String>) -> Self {
        Self {
            code: 125,
            message: message.into(),
        }
    }
}

trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, Failure>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, Failure> {
        self.map_err(|error| Failure::setup(format!("{}: {error}", what())))
    }
}

/// Resolves `unsafe_path` (a container path) under `root` the way the container will see it: symlinks
/// are followed as if `root` were `/`, and `..` never climbs above it (runc's `securejoin`). A symlink in
/// an image that points at `/etc` therefore lands in the container's `/etc`, never the host's.
pub fn secure_join(root: &Path, unsafe_path: &str) -> io::Result<PathBuf> {
    let mut resolved = PathBuf::new();
    let mut pending: Vec<std::ffi::OsString> = Path::new(unsafe_path)
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut links = 0;
    while let Some(name) = pending.pop() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&name);
        match fs::symlink_metadata(root.join(&candidate)) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                links += 1;
                if links > 255 {
                    return Err(io::Error::other(format!(
                        "too many symlinks resolving {unsafe_path}"
                    )));
                }
                let target = fs::read_link(root.join(&candidate))?;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                for component in target.components().rev() {
                    match component {
                        Component::Normal(part) => pending.push(part.to_owned()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => resolved = candidate,
        }
    }
    Ok(root.join(resolved))
}

/// Makes sure a mount target exists (a directory, or an empty file when `file`), creating what is
/// missing one component at a time inside the root (a symlink is never followed to create
/// anything: an image or a shared volume could point it at a host path); returns the resolved host
/// path.
fn mount_target(root: &Path, target: &str, file: bool) -> Result<PathBuf, Failure> {
    create_in_root(root, target, file).context(|| format!("create {target} in the container"))?;
    secure_join(root, target).context(|| format!("resolve {target} in the container"))
}

fn create_in_root(root: &Path, target: &str, file: bool) -> io::Result<()> {
    create_in_root_at_depth(root, target, file, 0)
}

/// How many dangling symlinks one mount target may lead through.
const MAX_DANGLING_LINKS: usize = 40;

fn create_in_root_at_depth(root: &Path, target: &str, file: bool, depth: usize) -> io::Result<()> {
    let components = crate::path::components(target);
    for (index, name) in components.iter().enumerate() {
        let parent = components[..index].join("/");
        let path = components[..=index].join("/");
        let last = index + 1 == components.len();
        match sys::open_in_root(root, &path) {
            Ok(_) => continue,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        // A symlink on the way that points at something missing (an image's `/var/run -> /run`
        // without `/run`): create what it points to, inside the root, as runc does.
        let resolved = secure_join(root, &path)?;
        let relative = resolved.strip_prefix(root).unwrap_or(&resolved);
        if relative != Path::new(&path) {
            if depth >= MAX_DANGLING_LINKS {
                return Err(io::Error::other(format!(
                    "too many dangling symlinks resolving {target}"
                )));
            }
            let relative = relative.to_string_lossy().into_owned();
            create_in_root_at_depth(root, &relative, file && last, depth + 1)?;
            continue;
        }
        let dir = sys::open_in_root(root, if parent.is_empty() { "." } else { &parent })?;
        let made = if file && last {
            sys::create_file_at(dir.as_fd(), name, 0o644)
        } else {
            sys::mkdir_at(dir.as_fd(), name, 0o755)
        };
        match made {
            Err(error) if error.kind() != io::ErrorKind::AlreadyExists => return Err(error),
            _ => {}
        }
    }
    Ok(())
}

/// A mount target of the container's, opened inside its root (see [`sys::open_in_root`]) after
/// [`mount_target`] made it: mounting onto the descriptor leaves no path to swap for a symlink
/// meanwhile (runc's CVE-2021-30465, where a container racing on a volume it shares with another
/// redirected that one's mounts).
fn open_target(root: &Path, target: &str, file: bool) -> Result<OwnedFd, Failure> {
    mount_target(root, target, file)?;
    sys::open_in_root(root, target).context(|| format!("open {target} in the container"))
}

/// `/proc/self/fd/N`: the path by which mount(2) reaches what a descriptor refers to.
fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn mount_at(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<(), Failure> {
    mount(source, target, fstype, flags, data).context(|| {
        format!(
            "mount {} on {}{}",
            fstype.map_or_else(
                || source.map_or("?".into(), |s| s.display().to_string()),
                str::to_owned
            ),
            target.display(),
            data.map(|d| format!(" ({d})")).unwrap_or_default()
        )
    })
}

/// The overlay's options. Layers are named relative to their deepest common directory after a chdir
/// there: the image store's `l/<n>` layers then cost a few bytes each, so 100+ layers fit mount(2)'s
/// one-page option limit (digest-named or absolute paths hit it at about 34).
fn overlay_options(layers: &[PathBuf], upper: &Path, work: &Path) -> Result<String, Failure> {
    if layers.is_empty() {
        return Err(Failure::setup("the image has no layers"));
    }
    let mut common: PathBuf = layers[0].parent().unwrap_or(Path::new("/")).to_owned();
    for layer in &layers[1..] {
        while !layer.starts_with(&common) {
            if !common.pop() {
                break;
            }
        }
    }
    let names: Vec<String> = if common.parent().is_some() {
        std::env::set_current_dir(&common).context(|| format!("enter {}", common.display()))?;
        layers
            .iter()
            .rev()
            .map(|layer| {
                let relative = layer.strip_prefix(&common).unwrap_or(layer);
                relative.to_string_lossy().into_owned()
            })
            .collect()
    } else {
        layers
            .iter()
            .rev()
            .map(|l| l.display().to_string())
            .collect()
    };
    for name in &names {
        if name.contains([':', ',']) {
            return Err(Failure::setup(format!(
                "layer path {name} contains ':' or ',', which overlayfs options cannot hold"
            )));
        }
    }
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        names.join(":"),
        upper.display(),
        work.display()
    );
    if options.len() > 4000 {
        return Err(Failure::setup(format!(
            "overlay options are {} bytes, over the kernel's one-page limit ({} layers)",
            options.len(),
            layers.len()
        )));
    }
    Ok(options)
}

/// Mounts the root filesystem at `paths.rootfs()`.
fn mount_rootfs(spec: &ContainerSpec, paths: &Paths) -> Result<PathBuf, Failure> {
    let rootfs = paths.rootfs();
    let layers = match &spec.rootfs {
        Rootfs::Layers(layers) => layers,
        Rootfs::Dir(dir) => {
            mount_at(Some(dir), &rootfs, None, m::MS_BIND | m::MS_REC, None)?;
            return Ok(rootfs);
        }
    };
    let options = overlay_options(layers, &paths.upper(), &paths.work())?;
    clear_volatile_marker(&paths.work())?;
    let overlay = |options: &str| {
        mount(
            Some(Path::new("overlay")),
            &rootfs,
            Some("overlay"),
            0,
            Some(options),
        )
    };
    let volatile = format!("{options},volatile");
    let result = match overlay(&volatile) {
        // Kernels before 5.10 do not know the option.
        Err(error) if error.raw_os_error() == Some(libc::EINVAL) => overlay(&options),
        other => other,
    };
    let _ = std::env::set_current_dir("/");
    result.context(|| format!("mount overlay on {} ({options})", rootfs.display()))?;
    Ok(rootfs)
}

/// The writable layer is mounted `volatile`: overlayfs then skips every sync of the upper
/// directory's filesystem, above all the `syncfs` of that whole filesystem when the overlay goes
/// away with the container's last process. That sync flushes every dirty page of the host's file
/// system (other programs' too) and waits for the disk: 10 ms to 500 ms per stop on a busy host,
/// most of a `stop` or `down`. CRI-O mounts every container this way, podman its `--rm` ones.
/// The cost: `fsync` inside the container does not make writes to its writable layer durable
/// against a host crash (volumes, which are bind mounts, are not affected), which is why data
/// that must survive belongs in a volume, as with docker.
///
/// overlayfs leaves `work/incompat/volatile` in the work directory and refuses the next mount while
/// it is there, since after a crash the upper directory may miss writes. The container starts
/// again anyway, with what the host's file system kept: a container's writable layer is
/// disposable by design (`up --force-recreate` makes a fresh one), and refusing every container
/// after each reboot would be worse.
fn clear_volatile_marker(work: &Path) -> Result<(), Failure> {
    let marker = work.join("work").join("incompat").join("volatile");
    match fs::remove_dir_all(&marker) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            Err(error).context(|| format!("remove {}", marker.display()))
        }
        _ => Ok(()),
    }
}

const DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

fn setup_dev(root: &Path, spec: &ContainerSpec) -> Result<(), Failure> {
    let dev = mount_target(root, "/dev", false)?;
    mount_at(
        Some(Path::new("tmpfs")),
        &dev,
        Some("tmpfs"),
        m::MS_NOSUID | m::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    for (name, major, minor) in DEVICES {
        let path = dev.join(name);
        sys::mknod(&path, NodeKind::Char, 0o666, major, minor)
            .context(|| format!("create device {}", path.display()))?;
        // mknod applies the umask; set the mode exactly.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666))
            .context(|| format!("chmod {}", path.display()))?;
    }
    for (name, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ] {
        std::os::unix::fs::symlink(target, dev.join(name))
            .context(|| format!("link /dev/{name}"))?;
    }
    let pts = dev.join("pts");
    fs::create_dir(&pts).context(|| "create /dev/pts".into())?;
    mount_at(
        Some(Path::new("devpts")),
        &pts,
        Some("devpts"),
        m::MS_NOSUID | m::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    let shm = dev.join("shm");
    fs::create_dir(&shm).context(|| "create /dev/shm".into())?;
    let shm_size = if spec.shm_size == 0 {
        64 << 20
    } else {
        spec.shm_size
    };
    mount_at(
        Some(Path::new("shm")),
        &shm,
        Some("tmpfs"),
        m::MS_NOSUID | m::MS_NODEV | m::MS_NOEXEC,
        Some(&format!("mode=1777,size={shm_size}")),
    )?;
    let mqueue = dev.join("mqueue");
    fs::create_dir(&mqueue).context(|| "create /dev/mqueue".into())?;
    mount_at(
        Some(Path::new("mqueue")),
        &mqueue,
        Some("mqueue"),
        m::MS_NOSUID | m::MS_NODEV | m::MS_NOEXEC,
        None,
    )?;
    if spec.privileged {
        host_devices(&dev)?;
    }
    for device in &spec.devices {
        let metadata = fs::metadata(&device.host_path)
            .context(|| format!("inspect device {}", device.host_path.display()))?;
        let kind = if metadata.file_type().is_block_device() {
            NodeKind::Block
        } else if metadata.file_type().is_char_device() {
            NodeKind::Char
        } else {
            return Err(Failure::setup(format!(
                "{} is not a device",
                device.host_path.display()
            )));
        };
        let (major, minor) = sys::major_minor(metadata.rdev());
        let target = secure_join(root, &device.container_path)
            .context(|| format!("resolve {}", device.container_path))?;
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).context(|| format!("create {}", parent.display()))?;
        }
        let _ = fs::remove_file(&target);
        sys::mknod(&target, kind, metadata.mode() & 0o777, major, minor)
            .context(|| format!("create device {}", target.display()))?;
        fs::set_permissions(&target, fs::Permissions::from_mode(metadata.mode() & 0o777))
            .context(|| format!("chmod {}", target.display()))?;
    }
    Ok(())
}

/// A shared IPC namespace shares `/dev/shm` too, as docker shares it: the host's for `ipc: host`,
/// the donor's for `container:`. A mount of another mount namespace cannot be bound from here, so
/// the init enters the donor's for a moment, opens its `/dev/shm` there inside its root (a symlink
/// of the donor's making must not lead to the host's files), clones that mount into a detached
/// tree, comes back and attaches the tree over its own `/dev/shm`.
fn share_shm(root: &Path, spec: &ContainerSpec, joins: &namespaces::Joins) -> Result<(), Failure> {
    let tree = match (&spec.ipc, &joins.ipc_mounts) {
        (spec::NamespaceMode::Host, _) => m::detached_bind(Path::new("/dev/shm"), false)
            .context(|| "bind the host's /dev/shm".into())?,
        (spec::NamespaceMode::Container(_), Some(donor)) => {
            let home = fs::File::open("/proc/self/ns/mnt")
                .context(|| "open this mount namespace".into())?;
            p::setns(donor.as_fd(), p::ns::MOUNT)
                .context(|| "enter the donor container's mount namespace".into())?;
            let tree = sys::open_in_root(Path::new("/"), "/dev/shm")
                .and_then(|shm| m::detached_bind_fd(shm.as_fd(), false));
            p::setns(home.as_fd(), p::ns::MOUNT)
                .context(|| "return to the container's mount namespace".into())?;
            tree.context(|| "clone the donor container's /dev/shm".into())?
        }
        _ => return Ok(()),
    };
    let target = open_target(root, "/dev/shm", false)?;
    m::attach(&tree, &target).context(|| "share /dev/shm".into())
}

/// Privileged containers get every device node of the host's `/dev` (top level), as docker gives
/// them.
fn host_devices(dev: &Path) -> Result<(), Failure> {
    let entries = fs::read_dir("/dev").context(|| "list the host's /dev".into())?;
    for entry in entries.flatten() {
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        let kind = if metadata.file_type().is_block_device() {
            NodeKind::Block
        } else if metadata.file_type().is_char_device() {
            NodeKind::Char
        } else {
            continue;
        };
        let target = dev.join(entry.file_name());
        if fs::symlink_metadata(&target).is_ok() {
            continue;
        }
        let (major, minor) = sys::major_minor(metadata.rdev());
        sys::mknod(&target, kind, metadata.mode() & 0o777, major, minor)
            .context(|| format!("create device {}", target.display()))?;
        let _ = std::os::unix::fs::chown(&target, Some(metadata.uid()), Some(metadata.gid()));
        let _ = fs::set_permissions(&target, fs::Permissions::from_mode(metadata.mode() & 0o777));
    }
    Ok(())
}

fn user_mounts(root: &Path, spec: &ContainerSpec) -> Result<(), Failure> {
    for mount_spec in &spec.mounts {
        match &mount_spec.kind {
            MountKind::Bind { source } => {
                // A subpath is opened inside the source, and the bind made from that descriptor.
                let inside = match &mount_spec.subpath {
                    Some(subpath) => Some(
                        sys::open_in_root(source, subpath)
                            .context(|| format!("open {subpath} inside {}", source.display()))?,
                    ),
                    None => None,
                };
                let through_fd = inside.as_ref().map(fd_path);
                let source = through_fd.as_deref().unwrap_or(source);
                // Anything but a directory (a file, a socket like docker.sock, a device node)
                // binds onto a file.
                let is_file = !fs::metadata(source)
                    .context(|| format!("bind source {}", source.display()))?
                    .is_dir();
                let target = open_target(root, &mount_spec.target, is_file)?;
                bind_propagating(
                    source,
                    &target,
                    mount_spec.read_only,
                    mount_spec.recursive,
                    spec.propagation
                        .get(&mount_spec.target)
                        .copied()
                        .unwrap_or_default(),
                )
                .context(|| format!("bind {} on {}", source.display(), mount_spec.target))?;
            }
            MountKind::Tmpfs { size, mode } => {
                let target = open_target(root, &mount_spec.target, false)?;
                let mut data = format!("mode={:o}", if *mode == 0 { 0o1777 } else { *mode });
                if *size > 0 {
                    data.push_str(&format!(",size={size}"));
                }
                let mut flags = m::MS_NOSUID | m::MS_NODEV;
                if let Some(options) = spec.tmpfs_options.get(&mount_spec.target) {
                    flags = tmpfs_flags(options, &mut data);
                }
                if mount_spec.read_only {
                    flags |= m::MS_RDONLY;
                }
                mount_at(
                    Some(Path::new("tmpfs")),
                    &fd_path(&target),
                    Some("tmpfs"),
                    flags,
                    Some(&data),
                )?;
            }
        }
    }
    Ok(())
}

/// The flags of a tmpfs with docker's `--tmpfs` options (from `noexec,nosuid,nodev`), its owner
/// added to the mount data.
fn tmpfs_flags(options: &spec::TmpfsOptions, data: &mut String) -> libc::c_ulong {
    let mut flags = 0;
    if !options.exec {
        flags |= m::MS_NOEXEC;
    }
    if !options.suid {
        flags |= m::MS_NOSUID;
    }
    if !options.dev {
        flags |= m::MS_NODEV;
    }
    if let Some(uid) = options.uid {
        data.push_str(&format!(",uid={uid}"));
    }
    if let Some(gid) = options.gid {
        data.push_str(&format!(",gid={gid}"));
    }
    flags
}

/// Binds the spec's `files` (secrets, configs; written at create) read-only at their targets, after
/// the user's mounts so that a volume at `/run` does not hide `/run/secrets/x`.
fn file_mounts(root: &Path, spec: &ContainerSpec, paths: &Paths) -> Result<(), Failure> {
    for (index, file) in spec.files.iter().enumerate() {
        let source = paths.file(index);
        let target = open_target(root, &file.target, true)?;
        bind(&source, &target, true, spec::BindRecursive::Disabled)
            .context(|| format!("bind {} on {}", source.display(), file.target))?;
    }
    Ok(())
}

/// Binds `source` on `target`: a detached copy of the source's mount (with the mounts below it
/// unless `recursive` is `disabled`), made read-only before it is attached when the bind is. A
/// remount read-only changes only the one mount it names, so with `/:/host:ro` the host's
/// `/dev/shm`, `/proc` and cgroupfs below it stayed writable: a read-only bind is read-only all the
/// way down, as docker 25 makes it, unless `recursive` says `writable`.
fn bind(
    source: &Path,
    target: &OwnedFd,
    read_only: bool,
    recursive: spec::BindRecursive,
) -> io::Result<()> {
    bind_propagating(
        source,
        target,
        read_only,
        recursive,
        spec::Propagation::default(),
    )
}

/// [`bind`] with the given propagation for the new mounts.
fn bind_propagating(
    source: &Path,
    target: &OwnedFd,
    read_only: bool,
    recursive: spec::BindRecursive,
    propagation: spec::Propagation,
) -> io::Result<()> {
    use spec::BindRecursive as R;
    let tree = m::detached_bind(source, recursive != R::Disabled)?;
    // A clone of a slave mount is a slave too (the container's root is made rslave): docker's
    // default is rprivate, so nothing mounted on the host later appears in the container either.
    let (kind, all) = match propagation {
        spec::Propagation::Private => (m::MS_PRIVATE, false),
        spec::Propagation::RPrivate => (m::MS_PRIVATE, true),
        spec::Propagation::Slave => (m::MS_SLAVE, false),
        spec::Propagation::RSlave => (m::MS_SLAVE, true),
    };
    m::set_propagation(&tree, kind, all)?;
    if read_only {
        match recursive {
            R::Disabled | R::Writable => m::set_readonly(&tree, false)?,
            R::Readonly => m::set_readonly(&tree, true)?,
            // Kernels before 5.12 cannot: submounts then stay writable, as with docker.
            R::Enabled => {
                if let Err(error) = m::set_readonly(&tree, true) {
                    if !matches!(error.raw_os_error(), Some(libc::ENOSYS | libc::EINVAL)) {
                        return Err(error);
                    }
                    m::set_readonly(&tree, false)?;
                }
            }
        }
    }
    m::attach(&tree, target)
}

/// Everything from the mount namespace to `execve`. Returns only on failure.
///
/// `released` is called once the mounts are made and before `pivot_root`: it waits for the monitor,
/// which meanwhile creates the v1 cgroup directories and writes the limits (work that overlaps with
/// the mounts instead of preceding them). The process then moves itself into the v1 directories (it
/// was born in the cgroup2 one), before anything of the command runs. False aborts.
pub(crate) fn run(
    record: &Record,
    paths: &Paths,
    joins: &namespaces::Joins,
    netns: &Netns,
    stdio: Stdio,
    released: impl FnOnce() -> bool,
    report_fd: RawFd,
) -> Failure {
    match setup(record, paths, joins, netns, stdio, released) {
        Ok(mut process) => {
            process.keep_fds = vec![report_fd];
            process.exec()
        }
        Err(failure) => failure,
    }
}

/// The network namespace of the init.
pub(crate) enum Netns {
    /// The clone made a new one: bring its loopback up.
    New,
    /// Stay in the monitor's (the host's).
    Keep,
    /// Join this nsfs file.
    Join(PathBuf),
}

/// The init's standard streams, from the monitor.
pub(crate) struct Stdio {
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// The read end of the stdin pipe (`open_stdin`); /dev/null otherwise.
    pub stdin: Option<OwnedFd>,
    /// With `tty`: a socket to send the pty master to the monitor over.
    pub pty_socket: Option<OwnedFd>,
}

fn setup(
    record: &Record,
    paths: &Paths,
    joins: &namespaces::Joins,
    netns: &Netns,
    stdio: Stdio,
    released: impl FnOnce() -> bool,
) -> Result<Process, Failure> {
    let spec = &record.spec;
    let Stdio {
        stdout,
        stderr,
        stdin,
        pty_socket,
    } = stdio;
    p::setsid().context(|| "setsid".into())?;
    let null: OwnedFd = fs::File::open("/dev/null")
        .context(|| "open /dev/null".into())?
        .into();
    let stdin = stdin.unwrap_or(null);
    for (fd, target) in [
        (stdin.as_raw_fd(), 0),
        (stdout.as_raw_fd(), 1),
        (stderr.as_raw_fd(), 2),
    ] {
        p::dup2(fd, target).context(|| format!("set up descriptor {target}"))?;
    }
    drop((stdin, stdout, stderr));
    if let Some(adj) = spec.oom_score_adj {
        fs::write("/proc/self/oom_score_adj", adj.to_string())
            .context(|| format!("set oom_score_adj {adj}"))?;
    }
    namespaces::join(joins)
        .context(|| "join the IPC and UTS namespaces of another container".into())?;
    let ns_id = |path: &str| fs::metadata(path).map(|m| (m.dev(), m.ino())).ok();
    // The host's IPC namespace is PID 1's (the host's procfs is still mounted here): `ipc: host`,
    // or `container:` of a container that has it. Its sysctls are the host's.
    let shares_host_ipc = ns_id("/proc/self/ns/ipc").is_some()
        && ns_id("/proc/self/ns/ipc") == ns_id("/proc/1/ns/ipc");
    // Without a new network namespace this process is still in the monitor's, the host's.
    let netns_id = || {
        fs::metadata("/proc/self/ns/net")
            .map(|m| (m.dev(), m.ino()))
            .ok()
    };
    let host_netns = match netns {
        Netns::New => None,
        Netns::Keep | Netns::Join(_) => netns_id(),
    };
    match netns {
        Netns::Join(path) => {
            let file = fs::File::open(path).context(|| format!("open {}", path.display()))?;
            p::setns(std::os::fd::AsFd::as_fd(&file), p::ns::NET)
                .context(|| format!("join network namespace {}", path.display()))?;
        }
        Netns::New => {
            let mut netlink = Netlink::open().context(|| "open netlink".into())?;
            if let Some(lo) = netlink.link_index("lo").context(|| "find lo".into())? {
                netlink.set_up(lo).context(|| "bring lo up".into())?;
            }
        }
        Netns::Keep => {}
    }
    let shares_host_netns = host_netns.is_some() && host_netns == netns_id();
    // Nothing below may propagate back to the host.
    mount_at(None, Path::new("/"), None, m::MS_REC | m::MS_SLAVE, None)?;
    let root = mount_rootfs(spec, paths)?;
    // procfs and sysfs go on the image's directories, never through a symlink of the image's (runc's
    // CVE-2019-16884 and CVE-2023-27561: a /proc that leads elsewhere).
    for dir in ["proc", "sys"] {
        if fs::symlink_metadata(root.join(dir)).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Failure::setup(format!(
                "the image's /{dir} is a symlink; it must be a directory"
            )));
        }
    }
    let proc_dir = mount_target(&root, "/proc", false)?;
    mount_at(
        Some(Path::new("proc")),
        &proc_dir,
        Some("proc"),
        m::MS_NOSUID | m::MS_NODEV | m::MS_NOEXEC,
        None,
    )?;
    setup_dev(&root, spec)?;
    share_shm(&root, spec, joins)?;
    let sys_dir = mount_target(&root, "/sys", false)?;
    mount_at(
        Some(Path::new("sysfs")),
        &sys_dir,
        Some("sysfs"),
        // Read-only, except for privileged containers (docker's rule).
        m::MS_NOSUID | m::MS_NODEV | m::MS_NOEXEC | if spec.privileged { 0 } else { m::MS_RDONLY },
        None,
    )?;
    for name in ["hostname", "hosts", "resolv.conf", "host.conf"] {
        // host.conf exists only for containers on networks (see `network::attach`).
        if name == "host.conf" && !paths.etc_file(name).exists() {
            continue;
        }
        let target = mount_target(&root, &format!("/etc/{name}"), true)?;
        mount_at(Some(&paths.etc_file(name)), &target, None, m::MS_BIND, None)?;
    }
    if let Some(init) = &spec.init {
        let target = mount_target(&root, "/sbin/docker-init", true)?;
        mount_at(Some(init), &target, None, m::MS_BIND, None)?;
        mount_at(
            None,
            &target,
            None,
            m::MS_BIND | m::MS_REMOUNT | m::MS_RDONLY,
            None,
        )?;
    }
    user_mounts(&root, spec)?;
    file_mounts(&root, spec, paths)?;
    if !released() {
        return Err(Failure::setup(
            "the monitor did not release the container init",
        ));
    }
    let join = |error: String| Failure::setup(format!("join the container's cgroups: {error}"));
    let mut tasks = record
        .cgroup
        .open_v1_tasks()
        .map_err(|e| join(e.to_string()))?;
    crate::cgroup::Cgroup::join_v1(&mut tasks).map_err(|e| join(e.to_string()))?;
    drop(tasks);
    // In all of its cgroups now: a cgroup namespace made here is rooted at them.
    if spec.cgroupns_private {
        p::unshare(p::ns::CGROUP).context(|| "create a cgroup namespace".into())?;
    }
    m::pivot_root(&root).context(|| format!("pivot_root into {}", root.display()))?;
    // Sysctls are written once nothing outside the container's root can be named, through no
    // symlink, into a file that is procfs's (runc's CVE-2025-52881: writes redirected to the host's
    // /proc/sys), and before /proc/sys becomes read-only.
    for (key, value) in &spec.sysctls {
        // The host's network namespace (`network_mode: host`, or `container:` of a container that
        // has it): its sysctls are the host's.
        if shares_host_netns && key.starts_with("net.") {
            return Err(Failure::setup(format!(
                "sysctl {key} is not allowed: the container shares the host's network namespace"
            )));
        }
        let ipc_key = key.starts_with("kernel.shm")
            || key.starts_with("kernel.msg")
            || key == "kernel.sem"
            || key.starts_with("fs.mqueue.");
        if shares_host_ipc && ipc_key {
            return Err(Failure::setup(format!(
                "sysctl {key} is not allowed: the container shares the host's IPC namespace"
            )));
        }
        let path = format!("sys/{}", key.replace('.', "/"));
        sys::write_procfs(Path::new("/proc"), &path, value.as_bytes())
            .context(|| format!("set sysctl {key}={value}"))?;
    }
    if !spec.privileged {
        for path in spec::MASKED_PATHS {
            mask(Path::new(path))?;
        }
        for path in spec::READONLY_PATHS {
            readonly(Path::new(path))?;
        }
    }
    // `read_only`: the root becomes read-only in `Process::prepare`, once a missing working
    // directory is made (which cannot be done here, while host descriptors are still open).
    // With the host's UTS namespace (`uts: host`) the name is the host's: never set it.
    if spec.uts == spec::NamespaceMode::Private {
        p::sethostname(&record.hostname).context(|| format!("set hostname {}", record.hostname))?;
        if !spec.domainname.is_empty() {
            p::setdomainname(&spec.domainname)
                .context(|| format!("set domain name {}", spec.domainname))?;
        }
    }
    if let Some(socket) = pty_socket {
        // A terminal from the container's own devpts: its slave becomes this session's controlling
        // terminal and stdio; the master goes to the monitor, which relays it.
        let (master, slave) =
            crate::sys::terminal::open_pty().context(|| "allocate a terminal".into())?;
        if let Some((rows, cols)) = spec.console_size {
            crate::sys::terminal::set_window_size(master.as_raw_fd(), rows, cols);
        }
        let slave_file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&slave)
            .context(|| format!("open {}", slave.display()))?;
        crate::sys::terminal::set_controlling(slave_file.as_fd())
            .context(|| "set the controlling terminal".into())?;
        for target in 0..3 {
            p::dup2(slave_file.as_raw_fd(), target)
                .context(|| format!("set up descriptor {target}"))?;
        }
        crate::sys::terminal::send_fd(socket.as_fd(), master.as_fd())
            .context(|| "pass the terminal to the monitor".into())?;
    }
    let mut args = spec.args.clone();
    if spec.init.is_some() {
        args.splice(0..0, ["/sbin/docker-init".to_owned(), "--".to_owned()]);
    }
    let mut env = spec.env.clone();
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={}", record.hostname));
    }
    if spec.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".to_owned());
    }
    Ok(Process {
        args,
        env,
        cwd: spec.cwd.clone(),
        create_cwd: true,
        read_only_root: spec.read_only,
        user: spec.user.clone(),
        group_add: spec.group_add.clone(),
        capabilities: capabilities(record, capability::bounding_set())?,
        no_new_privs: spec.no_new_privs,
        seccomp: spec.seccomp == spec::Seccomp::Default && !spec.privileged,
        ulimits: spec.ulimits.clone(),
        keep_fds: Vec::new(),
    })
}

/// The container's capabilities (see [`ContainerSpec::capabilities`]), less CAP_MKNOD where no v1
/// `devices` cgroup guards device nodes. On cgroup2 the eBPF device filter (`cgroup::devices`)
/// denies opening any device outside the allow-list, so a node made with mknod is useless; the
/// capability stays dropped there as a second line (a kernel without the filter's program type, or a
/// filter a parent cgroup's policy overrides, would otherwise let the container open the host's
/// disks).
pub(crate) fn capabilities(record: &Record, bounding: u64) -> Result<u64, Failure> {
    let mut caps = record.spec.capabilities(bounding).map_err(Failure::setup)?;
    if !record.spec.privileged && !record.cgroup.v1.contains_key("devices") {
        caps &= !(1 << capability::from_name("MKNOD").expect("known name"));
    }
    Ok(caps)
}

fn mask(path: &Path) -> Result<(), Failure> {
    match fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => mount_at(
            Some(Path::new("tmpfs")),
            path,
            Some("tmpfs"),
            m::MS_RDONLY,
            Some("size=0"),
        ),
        Ok(_) => mount_at(Some(Path::new("/dev/null")), path, None, m::MS_BIND, None),
        Err(_) => Ok(()),
    }
}

fn readonly(path: &Path) -> Result<(), Failure> {
    if fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    mount_at(Some(path), path, None, m::MS_BIND | m::MS_REC, None)?;
    mount_at(
        None,
        path,
        None,
        m::MS_BIND | m::MS_REMOUNT | m::MS_RDONLY | m::MS_NOSUID | m::MS_NODEV | m::MS_NOEXEC,
        None,
    )
}

/// A process about to be exec'd in the container (its init, or an exec'd one): run from inside the
/// container's root.
#[derive(Debug, Clone)]
pub(crate) struct Process {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// Create a missing working directory (docker does for the container, not for exec).
    pub create_cwd: bool,
    /// Remount the root read-only (`read_only`) after the working directory is made: docker makes a
    /// missing one before the root turns read-only.
    pub read_only_root: bool,
    pub user: String,
    pub group_add: Vec<String>,
    pub capabilities: u64,
    pub no_new_privs: bool,
    pub seccomp: bool,
    pub ulimits: Vec<spec::Ulimit>,
    /// Descriptors above stdio that stay open until `execve` (the init's failure pipe; they close
    /// on exec). Every other one is closed before the working directory is entered.
    pub keep_fds: Vec<RawFd>,
}

fn env_get<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter()
        .find_map(|entry| entry.strip_prefix(key)?.strip_prefix('='))
}

/// Finds the executable as docker does: a name with a slash is used as is, otherwise looked up in the
/// container's PATH.
fn find_executable(name: &str, env: &[String]) -> Result<PathBuf, Failure> {
    let not_found = || Failure {
        code: 127,
        message: format!("exec: \"{name}\": executable file not found in $PATH"),
    };
    let check = |path: &Path| -> Result<(), Failure> {
        let metadata = fs::metadata(path).map_err(|error| Failure {
            code: if error.kind() == io::ErrorKind::NotFound {
                127
            } else {
                126
            },
            message: format!("exec: \"{}\": {error}", path.display()),
        })?;
        if metadata.is_dir() || metadata.mode() & 0o111 == 0 {
            return Err(Failure {
                code: 126,
                message: format!("exec: \"{}\": permission denied", path.display()),
            });
        }
        Ok(())
    };
    if name.is_empty() {
        return Err(Failure::setup("no command specified"));
    }
    if name.contains('/') {
        check(Path::new(name))?;
        return Ok(PathBuf::from(name));
    }
    let path = env_get(env, "PATH").unwrap_or(spec::DEFAULT_PATH);
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(name);
        if check(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(not_found())
}

impl Process {
    /// Becomes the process: identity, limits, capabilities, filter, then `execve`. Returns only on
    /// failure.
    pub(crate) fn exec(mut self) -> Failure {
        match self.prepare() {
            Ok(path) => {
                let error = p::execve(path.as_os_str(), &self.args, &self.env);
                Failure {
                    code: if error.kind() == io::ErrorKind::NotFound {
                        127
                    } else {
                        126
                    },
                    message: format!("exec: \"{}\": {error}", path.display()),
                }
            }
            Err(failure) => failure,
        }
    }

    fn prepare(&mut self) -> Result<PathBuf, Failure> {
        // Nothing of the host may stay reachable once the container's paths are resolved (its
        // /etc/passwd, its working directory): `/proc/self/fd/N` would otherwise be a host file or
        // directory (CVE-2024-21626).
        p::close_fds_except(3, &self.keep_fds).context(|| "close host descriptors".into())?;
        let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
        let group = fs::read_to_string("/etc/group").unwrap_or_default();
        let exec_user =
            user::resolve(&self.user, &self.group_add, &passwd, &group).map_err(Failure::setup)?;
        if env_get(&self.env, "PATH").is_none() {
            self.env.push(format!("PATH={}", spec::DEFAULT_PATH));
        }
        if env_get(&self.env, "HOME").is_none() {
            self.env.push(format!("HOME={}", exec_user.home));
        }
        let cwd = if self.cwd.is_empty() {
            "/"
        } else {
            self.cwd.as_str()
        };
        if self.create_cwd && fs::symlink_metadata(cwd).is_err() {
            fs::create_dir_all(cwd).context(|| format!("create working directory {cwd}"))?;
            let _ = std::os::unix::fs::chown(cwd, Some(exec_user.uid), Some(exec_user.gid));
        }
        std::env::set_current_dir(cwd).context(|| format!("chdir to working directory {cwd}"))?;
        // And if something still led out, the kernel says so: refuse a working directory that is not
        // below the container's root (runc's check after its fix).
        match p::reachable_cwd() {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(Failure::setup(format!(
                    "working directory {cwd} is outside the container"
                )));
            }
            Err(error) => {
                return Err(Failure::setup(format!(
                    "check working directory {cwd}: {error}"
                )));
            }
        }
        if self.read_only_root {
            mount_at(
                None,
                Path::new("/"),
                None,
                m::MS_BIND | m::MS_REMOUNT | m::MS_RDONLY,
                None,
            )?;
        }
        for ulimit in &self.ulimits {
            let resource = p::rlimit_resource(&ulimit.name)
                .ok_or_else(|| Failure::setup(format!("unknown ulimit {:?}", ulimit.name)))?;
            // Never above the current hard limit: raising it needs CAP_SYS_RESOURCE, which a host may
            // not have at all (this build machine lacks it in its bounding set).
            let (_, current_hard) = p::getrlimit(resource).context(|| "getrlimit".into())?;
            let hard = ulimit.hard.min(current_hard);
            let soft = ulimit.soft.min(hard);
            p::setrlimit(resource, soft, hard)
                .context(|| format!("set ulimit {}={soft}:{hard}", ulimit.name))?;
        }
        let path = find_executable(self.args.first().map_or("", String::as_str), &self.env)?;
        p::umask(0o022);
        p::set_keep_caps(true).context(|| "keep capabilities".into())?;
        capability::limit_bounding_set(self.capabilities)
            .context(|| "drop capabilities from the bounding set".into())?;
        let filter = if self.seccomp {
            Some(crate::sys::seccomp::default_filter_for(self.capabilities))
        } else {
            None
        };
        if let (Some(filter), false) = (&filter, self.no_new_privs) {
            crate::sys::seccomp::install(filter).context(|| "install the seccomp filter".into())?;
        }
        p::set_identity(exec_user.uid, exec_user.gid, &exec_user.groups)
            .context(|| format!("become uid {} gid {}", exec_user.uid, exec_user.gid))?;
        capability::set(self.capabilities, self.capabilities, 0)
            .context(|| "set capabilities".into())?;
        capability::clear_ambient().context(|| "clear ambient capabilities".into())?;
        p::set_keep_caps(false).context(|| "reset keep-capabilities".into())?;
        if self.no_new_privs {
            p::set_no_new_privs().context(|| "set no_new_privs".into())?;
            if let Some(filter) = &filter {
                crate::sys::seccomp::install(filter)
                    .context(|| "install the seccomp filter".into())?;
            }
        }
        p::reset_signals();
        p::cloexec_from(3).context(|| "close inherited descriptors".into())?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_join_keeps_symlinks_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("real/etc")).unwrap();
        std::os::unix::fs::symlink("/real/etc", root.join("etc")).unwrap();
        std::os::unix::fs::symlink("../../../../../../host", root.join("real/escape")).unwrap();
        std::os::unix::fs::symlink("/", root.join("real/rootlink")).unwrap();
        assert_eq!(
            secure_join(root, "/etc/hosts").unwrap(),
            root.join("real/etc/hosts")
        );
        assert_eq!(
            secure_join(root, "/real/escape/x").unwrap(),
            root.join("host/x")
        );
        assert_eq!(secure_join(root, "../../x").unwrap(), root.join("x"));
        assert_eq!(
            secure_join(root, "/real/rootlink/etc").unwrap(),
            root.join("real/etc")
        );
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert!(secure_join(root, "/loop/x").is_err());
    }

    #[test]
    fn overlay_options_name_shared_layers_relative_to_their_parent() {
        let layers: Vec<PathBuf> = (1..=120)
            .map(|n| PathBuf::from(format!("/nonexistent-rcompose-test/image/l/{n}")))
            .collect();
        // The chdir goes to a directory that does not exist here: check the error names it, then use
        // a real one.
        let error = overlay_options(&layers, Path::new("/u"), Path::new("/w")).unwrap_err();
        assert!(
            error.message.contains("/nonexistent-rcompose-test/image/l"),
            "{}",
            error.message
        );
        let dir = tempfile::tempdir().unwrap();
        let layers: Vec<PathBuf> = (1..=120).map(|n| dir.path().join(n.to_string())).collect();
        let cwd = std::env::current_dir().unwrap();
        let options = overlay_options(&layers, Path::new("/u"), Path::new("/w")).unwrap();
        std::env::set_current_dir(cwd).unwrap();
        assert!(options.starts_with("lowerdir=120:119:"), "{options}");
        assert!(
            options.ends_with(":2:1,upperdir=/u,workdir=/w"),
            "{options}"
        );
        let nested = [dir.path().join("base"), dir.path().join("store/l/7")];
        let options = overlay_options(&nested, Path::new("/u"), Path::new("/w")).unwrap();
        std::env::set_current_dir(std::env::temp_dir()).unwrap();
        assert!(options.starts_with("lowerdir=store/l/7:base,"), "{options}");
        let mixed = [PathBuf::from("/1"), PathBuf::from("/elsewhere/2")];
        let options = overlay_options(&mixed, Path::new("/u"), Path::new("/w")).unwrap();
        assert!(
            options.starts_with("lowerdir=/elsewhere/2:/1,"),
            "{options}"
        );
    }
}
