//! The pid, IPC, UTS and cgroup namespaces of a container's init (the network one is `network.rs`'s):
//! which the clone makes, which the init keeps from the host, and which it joins from another
//! container, resolved at each start (a peer may have been restarted and have a new init).
//!
//! Joining goes through the peer's init, `/proc/<pid>/ns/<kind>`, opened by the monitor before the
//! clone, as `network_mode: container:` does for a namespace without a persistent file. A pid
//! namespace applies to children only: the monitor enters it for the clone and leaves it again
//! (`pid_for_children` back to its own), so the init is born in the peer's namespace while the
//! monitor and the processes it forks later (ports, DNS) stay in the host's. IPC and UTS are joined
//! by the init itself, first thing after the clone. A cgroup namespace is made by the init once it
//! is in all of its cgroups (v1 included), so its root is the container's cgroup in every hierarchy.

use std::fs;
use std::os::fd::AsFd;
use std::path::Path;

use super::spec::NamespaceMode;
use super::state::{Paths, Record, State, read_json};
use crate::sys::process::{self as p, ns};

/// The namespaces the init joins, opened before the clone.
#[derive(Default)]
pub(crate) struct Joins {
    pub pid: Option<fs::File>,
    pub ipc: Option<fs::File>,
    /// The IPC donor's mount namespace, where the init finds the `/dev/shm` it shares.
    pub ipc_mounts: Option<fs::File>,
    pub uts: Option<fs::File>,
}

/// The clone flags for `record`'s namespaces (network apart) and the files of those it joins.
pub(crate) fn resolve(root: &Path, record: &Record) -> Result<(i32, Joins), String> {
    let spec = &record.spec;
    let mut flags = ns::MOUNT;
    let mut joins = Joins::default();
    let peer = |id: &str, kind: &str, what: &str| -> Result<(fs::File, i32), String> {
        let state: State = read_json(&Paths::new(root, id).state()).map_err(|_| {
            format!("cannot join the {what} namespace of container {id}: it does not exist")
        })?;
        if !state.status.is_active() || state.pid <= 0 {
            return Err(format!(
                "cannot join the {what} namespace of container {id}: container {id} is not running"
            ));
        }
        let path = format!("/proc/{}/ns/{kind}", state.pid);
        let file = fs::File::open(&path).map_err(|e| {
            format!("cannot join the {what} namespace of container {id}: {path}: {e}")
        })?;
        Ok((file, state.pid))
    };
    match &spec.pid {
        NamespaceMode::Private | NamespaceMode::Shareable => flags |= ns::PID,
        NamespaceMode::Host => {}
        NamespaceMode::Container(id) => joins.pid = Some(peer(id, "pid", "pid")?.0),
    }
    match &spec.ipc {
        NamespaceMode::Private | NamespaceMode::Shareable => flags |= ns::IPC,
        NamespaceMode::Host => {}
        NamespaceMode::Container(id) => {
            // dockerd's rule: only a `shareable` donor may be joined.
            let donor: Record = read_json(&Paths::new(root, id).config()).map_err(|_| {
                format!("cannot join the IPC namespace of container {id}: it does not exist")
            })?;
            if donor.spec.ipc != NamespaceMode::Shareable {
                return Err(format!(
                    "container {id}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)"
                ));
            }
            let (ipc, pid) = peer(id, "ipc", "IPC")?;
            joins.ipc = Some(ipc);
            let path = format!("/proc/{pid}/ns/mnt");
            let donor_mounts = fs::File::open(&path)
                .map_err(|e| format!("cannot share /dev/shm of container {id}: {path}: {e}"))?;
            joins.ipc_mounts = Some(donor_mounts);
        }
    }
    match &spec.uts {
        NamespaceMode::Private | NamespaceMode::Shareable => flags |= ns::UTS,
        NamespaceMode::Host => {}
        NamespaceMode::Container(id) => joins.uts = Some(peer(id, "uts", "UTS")?.0),
    }
    Ok((flags, joins))
}

/// Forks (through `fork`) with the child born in the pid namespace `pid` when given: the caller
/// enters it for its children only and returns to its own right after, whatever the fork gave.
pub(crate) fn fork_in_pid_namespace<T>(
    pid: Option<&fs::File>,
    fork: impl FnOnce() -> std::io::Result<T>,
) -> std::io::Result<T> {
    let Some(target) = pid else { return fork() };
    let home = fs::File::open("/proc/self/ns/pid")?;
    p::setns(target.as_fd(), ns::PID)?;
    let result = fork();
    // In the child this fails (the caller's namespace is an ancestor of the one it was born in),
    // which leaves the init's own children in the joined namespace, as they must be.
    let _ = p::setns(home.as_fd(), ns::PID);
    result
}

/// In the init, right after the clone: joins the IPC and UTS namespaces of a peer.
pub(crate) fn join(joins: &Joins) -> std::io::Result<()> {
    if let Some(file) = &joins.ipc {
        p::setns(file.as_fd(), ns::IPC)?;
    }
    if let Some(file) = &joins.uts {
        p::setns(file.as_fd(), ns::UTS)?;
    }
    Ok(())
}
