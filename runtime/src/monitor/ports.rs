//! Published ports, as the monitor holds them (see [`crate::network::proxy`] for the proxy itself).
//!
//! The monitor binds every port before the container's first start: a taken port fails `start` with
//! the kernel's answer on the sync pipe, and nothing runs. It keeps the listening sockets for the
//! container's whole run, restarts included, so a port never comes free while a restart policy
//! holds the container, and writes what it bound (with the kernel's ephemeral choices) to
//! `ports.json` in the container directory, atomically, for [`Runtime::published_ports`].
//!
//! The proxy runs in a child it forks after the container started: the monitor must stay
//! single-threaded (it clones the container again on restarts) and the proxy uses threads. The child
//! dies with the monitor (`PR_SET_PDEATHSIG`), and the monitor kills and reaps it at the final exit,
//! then closes the sockets and removes `ports.json`.
//!
//! The target is the container's address on its first network ([`proxy_target`]). A container
//! without one (no network endpoint) is reached through its own loopback: the child joins the
//! container's network namespace before it starts serving (the listeners stay in the host's, where
//! they were bound) and connects to 127.0.0.1 there. That namespace is new with every start, so in
//! that mode the child is replaced after a restart; with an address it lives on across restarts.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::container::state::{self, Paths, Record};
use crate::container::{Error, Runtime};
use crate::network::proxy::{self, Listener, Published};
use crate::store::IoError;
use crate::sys::net;
use crate::sys::process as p;

/// The file in the container directory that lists the bound ports (JSON array of [`Published`]).
pub(crate) const PORTS_FILE: &str = "ports.json";

/// Where connections go: an address, or the loopback of the network namespace of the init with
/// this pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Address(IpAddr),
    Namespace { pid: i32, start: u64 },
}

/// The address the proxy forwards to: the container's address on its first network, if it has one.
pub fn proxy_target(root: &Path, record: &Record) -> Option<IpAddr> {
    crate::container::network::endpoints(root, record)
        .first()
        .map(|endpoint| IpAddr::V4(endpoint.address))
}

/// The monitor's published ports: the sockets and the proxy child serving them.
pub(super) struct Publisher {
    listeners: Vec<Listener>,
    child: Option<(i32, Target)>,
    file: PathBuf,
    root: PathBuf,
}

impl Publisher {
    /// Binds every port of the spec and records them; the error names the port.
    pub(super) fn bind(record: &Record, paths: &Paths) -> Result<Self, String> {
        let file = paths.dir.join(PORTS_FILE);
        let listeners = proxy::bind(&record.spec.ports).map_err(|error| error.to_string())?;
        let published: Vec<Published> = listeners.iter().map(|l| l.published).collect();
        if !published.is_empty() {
            let bytes = serde_json::to_vec_pretty(&published).expect("ports serialise");
            state::write_volatile(&file, &bytes).map_err(|error| error.to_string())?;
        }
        Ok(Self {
            listeners,
            child: None,
            file,
            root: paths.root().to_owned(),
        })
    }

    /// After a (re)start of the container whose init is `pid`: makes sure a proxy serves the ports,
    /// towards the container as it is now.
    pub(super) fn started(&mut self, record: &Record, pid: i32) {
        if self.listeners.is_empty() {
            return;
        }
        let target = match proxy_target(&self.root, record) {
            Some(address) => Target::Address(address),
            None => Target::Namespace {
                pid,
                start: p::start_time(pid).unwrap_or(0),
            },
        };
        if let Some((_, current)) = self.child
            && current == target
        {
            return;
        }
        self.kill_child();
        match self.spawn(target) {
            Ok(child) => self.child = Some((child, target)),
            Err(error) => eprintln!("rcompose monitor: start the port proxy: {error}"),
        }
    }

    fn spawn(&self, target: Target) -> io::Result<i32> {
        // Opened here, while the init is known to be this one.
        let namespace = match target {
            Target::Namespace { pid, .. } => Some(OwnedFd::from(fs::File::open(format!(
                "/proc/{pid}/ns/net"
            ))?)),
            Target::Address(_) => None,
        };
        let listeners = self
            .listeners
            .iter()
            .map(Listener::try_clone)
            .collect::<io::Result<Vec<_>>>()?;
        let monitor = std::process::id();
        let child = net::fork_for_threads()?;
        if child > 0 {
            return Ok(child);
        }
        // The child: never returns.
        let code = match serve(listeners, namespace, target, monitor) {
            Ok(()) => 0,
            Err(error) => {
                eprintln!("rcompose port proxy: {error}");
                1
            }
        };
        p::exit_now(code)
    }

    /// Whether `pid` (just reaped) was the proxy child; it is then forgotten, and replaced at the
    /// next start.
    pub(super) fn reaped(&mut self, pid: i32, exit: p::Exit) -> bool {
        match self.child {
            Some((child, _)) if child == pid => {
                eprintln!("rcompose monitor: the port proxy exited ({})", exit.code());
                self.child = None;
                true
            }
            _ => false,
        }
    }

    fn kill_child(&mut self) {
        if let Some((pid, _)) = self.child.take() {
            let _ = p::kill(pid, libc::SIGKILL);
            let _ = p::waitpid(pid, false);
        }
    }

    /// The final exit: the proxy ends, the ports come free, the record goes.
    pub(super) fn stop(&mut self) {
        self.kill_child();
        if !self.listeners.is_empty() {
            self.listeners.clear();
            let _ = fs::remove_file(&self.file);
        }
    }
}

/// The proxy child's life: dies with the monitor, sheds the monitor's other descriptors, joins the
/// container's namespace if the target is its loopback, and serves.
fn serve(
    listeners: Vec<Listener>,
    namespace: Option<OwnedFd>,
    target: Target,
    monitor: u32,
) -> io::Result<()> {
    p::set_parent_death_signal(libc::SIGKILL)?;
    if std::os::unix::process::parent_id() != monitor {
        // The monitor died before the death signal was armed.
        return Ok(());
    }
    p::set_name("rcompose-proxy");
    let mut keep: Vec<i32> = listeners.iter().map(Listener::raw_fd).collect();
    keep.extend(namespace.as_ref().map(|fd| fd.as_raw_fd()));
    net::close_fds_except(&keep)?;
    let address = match (target, namespace) {
        (Target::Address(address), _) => address,
        (Target::Namespace { .. }, Some(namespace)) => {
            p::setns(namespace.as_fd(), libc::CLONE_NEWNET)?;
            net::set_loopback_up()?;
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }
        (Target::Namespace { .. }, None) => return Err(io::Error::other("no namespace to join")),
    };
    proxy::serve(listeners, address, proxy::Options::default())
}

impl Runtime {
    /// The ports a running container publishes, as bound (ephemeral ports resolved); empty when it is
    /// not running or publishes none.
    pub fn published_ports(&self, id: &str) -> Result<Vec<Published>, Error> {
        if !self.state(id)?.status.is_active() {
            return Ok(Vec::new());
        }
        let path = Paths::new(self.root(), id).dir.join(PORTS_FILE);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
                IoError::new(
                    "parse",
                    &path,
                    io::Error::new(io::ErrorKind::InvalidData, error),
                )
                .into()
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(error) => Err(IoError::new("read", &path, error).into()),
        }
    }
}
