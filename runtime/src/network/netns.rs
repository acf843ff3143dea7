//! Persistent network namespaces: an nsfs file bind-mounted at `<root>/netns/<container id>` (what
//! `ip netns add` does under /run/netns), so a namespace outlives the processes in it. A container
//! keeps its addresses across restarts by its monitor, and `network_mode: container:` joins a
//! namespace that does not change when the other container restarts.
//!
//! The namespace is made on a short-lived thread that unshares only itself, so the caller may be
//! multi-threaded; the same thread opens a netlink socket inside, which stays bound to that namespace
//! after the thread ends and configures it from the caller's thread.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::sys::mount;
use crate::sys::netlink::Netlink;
use crate::sys::process::{self as p, ns};

/// Creates the namespace file at `path`, with loopback up; returns a netlink socket inside it.
pub fn create(path: &Path) -> io::Result<Netlink> {
    fs::File::create(path)?;
    let target = path.to_owned();
    let made = std::thread::spawn(move || -> io::Result<Netlink> {
        p::unshare(ns::NET)?;
        mount::mount(
            Some(Path::new("/proc/thread-self/ns/net")),
            &target,
            None,
            libc::MS_BIND,
            None,
        )?;
        let mut netlink = Netlink::open()?;
        if let Some(lo) = netlink.link_index("lo")? {
            netlink.set_up(lo)?;
        }
        Ok(netlink)
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")));
    if made.is_err() {
        let _ = remove(path);
    }
    made
}

/// Opens a netlink socket inside the namespace at `path`, and the namespace file itself (to hand
/// to the kernel as a veth peer's namespace).
pub fn enter(path: &Path) -> io::Result<(fs::File, Netlink)> {
    let file = fs::File::open(path)?;
    let handle = file.try_clone()?;
    let netlink = std::thread::spawn(move || -> io::Result<Netlink> {
        p::setns(std::os::fd::AsFd::as_fd(&handle), ns::NET)?;
        Netlink::open()
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")))?;
    Ok((file, netlink))
}

/// Unmounts and deletes the namespace file; the kernel frees the namespace (and the veth ends in it)
/// when no process is left inside. Missing files are not an error.
pub fn remove(path: &Path) -> io::Result<()> {
    match mount::umount(path, libc::MNT_DETACH) {
        Ok(()) => {}
        Err(error)
            if matches!(
                error.raw_os_error(),
                Some(libc::EINVAL) | Some(libc::ENOENT)
            ) => {}
        Err(error) => return Err(error),
    }
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// The namespace files under `dir` (for recovery).
pub fn list(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}
