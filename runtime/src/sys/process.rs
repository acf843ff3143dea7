//! Processes: fork with new namespaces, pidfds, waiting, signals, identities, limits and exec.
//!
//! Why raw `clone` instead of `fork` + `unshare`: a pid namespace made with `unshare` applies to the
//! caller's *children* once, so a monitor that restarts its container would need a fresh process per
//! restart; `clone(CLONE_NEW*)` gives every start its own namespaces in one call.
//!
//! Every fork here refuses to run in a multi-threaded process: after `fork` only the calling thread
//! exists, and a lock another thread held (the allocator's, stdio's) stays locked forever in the child.
//! The monitor and the exec helper are fresh single-threaded executables, so the check always passes
//! there and catches a caller that got this wrong (a tokio worker) with an error instead of a hang.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn check_long(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn cstr(text: &OsStr) -> io::Result<CString> {
    CString::new(text.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "string contains a NUL byte"))
}

/// Namespace flags for [`fork_into`] and [`setns`].
pub mod ns {
    pub const MOUNT: i32 = libc::CLONE_NEWNS;
    pub const PID: i32 = libc::CLONE_NEWPID;
    pub const UTS: i32 = libc::CLONE_NEWUTS;
    pub const IPC: i32 = libc::CLONE_NEWIPC;
    pub const NET: i32 = libc::CLONE_NEWNET;
    pub const CGROUP: i32 = libc::CLONE_NEWCGROUP;
}

/// Which side of a fork we are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fork {
    Parent(i32),
    Child,
}

/// How many threads this process has (from `/proc/self/task`).
pub fn thread_count() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

fn ensure_single_threaded() -> io::Result<()> {
    let threads = match thread_count() {
        Ok(threads) => threads,
        // After joining a container's mount namespace (exec), `/proc` is the container's and has no
        // entry for a process outside its pid namespace; the exec helper checks before it joins.
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    if threads != 1 {
        return Err(io::Error::other(format!(
            "refusing to fork a process with {threads} threads (the child could deadlock); \
             run this in the single-threaded helper"
        )));
    }
    Ok(())
}

/// clone3's flag (libc's constant is an `i32` that overflows).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` of clone3(2) (version 2, with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Forks into new namespaces as [`fork_into`] does, the child born in the cgroup2 directory `cgroup`
/// (`CLONE_INTO_CGROUP`, kernel 5.7+). Being born there needs no migration, and a migration through
/// `cgroup.procs` write-locks a global per-CPU semaphore, which waits for an RCU grace period (10 ms
/// and more on a busy VM). Fails (ENOSYS, E2BIG, EINVAL) on kernels without it; callers fall back.
pub fn fork_into_cgroup(namespaces: i32, cgroup: BorrowedFd<'_>) -> io::Result<Fork> {
    ensure_single_threaded()?;
    let args = CloneArgs {
        flags: namespaces as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: as in `fork_into`: no stack is given, so the child runs on a copy of this one, and the
    // process is single-threaded. `args` is a valid clone_args of the size passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match check_long(rc)? {
        0 => Ok(Fork::Child),
        pid => Ok(Fork::Parent(pid as i32)),
    }
}

/// Forks, the child starting in new namespaces `namespaces` (a mask of [`ns`] flags, 0 for none).
/// Fails in a multi-threaded process.
pub fn fork_into(namespaces: i32) -> io::Result<Fork> {
    ensure_single_threaded()?;
    let flags = (namespaces | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: clone with a null stack behaves as fork: the child runs on a copy-on-write copy of this
    // stack. The process is single-threaded (checked above), so no lock can be held by a thread that
    // does not exist in the child. The pointer arguments are unused without CLONE_*TID/SETTLS.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match check_long(rc)? {
        0 => Ok(Fork::Child),
        pid => Ok(Fork::Parent(pid as i32)),
    }
}

/// Ends the process at once, without running destructors or atexit handlers (what a forked child
/// must do when it does not exec).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Starts a new session (detaches from the controlling terminal).
pub fn setsid() -> io::Result<()> {
    // SAFETY: setsid has no memory-safety preconditions.
    check(unsafe { libc::setsid() }).map(drop)
}

fn prctl(option: libc::c_int, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: the prctl options used here take integer arguments only.
    check(unsafe {
        libc::prctl(
            option,
            arg,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    })
    .map(drop)
}

/// Makes orphaned descendants reparent to this process (so a monitor can wait for the container init
/// after the intermediate process exits).
pub fn set_child_subreaper() -> io::Result<()> {
    prctl(libc::PR_SET_CHILD_SUBREAPER, 1)
}

/// Sets `no_new_privs`: execve can no longer grant privileges (setuid bits, file capabilities).
pub fn set_no_new_privs() -> io::Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1)
}

/// Keeps permitted capabilities across a change from uid 0 to another uid.
pub fn set_keep_caps(keep: bool) -> io::Result<()> {
    prctl(libc::PR_SET_KEEPCAPS, keep as libc::c_ulong)
}

/// Sends `signal` to this process when its parent dies.
pub fn set_parent_death_signal(signal: i32) -> io::Result<()> {
    prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong)
}

/// Sets the process name shown by `ps` (at most 15 bytes).
pub fn set_name(name: &str) {
    if let Ok(name) = CString::new(name) {
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes; longer ones are cut.
        unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0) };
    }
}

/// Sets the hostname of the current UTS namespace.
pub fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes.
    check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

pub fn setdomainname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes.
    check(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// Joins the namespace(s) `fd` refers to: a `/proc/<pid>/ns/*` file (with `nstype` 0 or its type) or a
/// pidfd (with a mask of [`ns`] flags, kernel 5.8+).
pub fn setns(fd: BorrowedFd<'_>, nstype: i32) -> io::Result<()> {
    // SAFETY: fd is a valid open descriptor for the duration of the call.
    check(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
}

/// Moves the calling thread into new namespaces ([`ns`] flags). A new network namespace may be made
/// by one thread of a multi-threaded process: only that thread enters it.
pub fn unshare(namespaces: i32) -> io::Result<()> {
    // SAFETY: unshare takes flags only.
    check(unsafe { libc::unshare(namespaces) }).map(drop)
}

/// Opens a pidfd for `pid` (kernel 5.3+).
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor we then own.
    let fd = check_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sends `signal` to the process a pidfd refers to (never to a recycled pid).
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}

/// Sends `signal` to `pid`.
pub fn kill(pid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    check(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// The shell's convention: the exit code, or 128 + the signal number.
    pub fn code(self) -> i32 {
        match self {
            Self::Code(code) => code,
            Self::Signal(signal) => 128 + signal,
        }
    }
}

/// Waits for a child (`pid` -1 for any); `None` if `nohang` and none has ended, or if there are no
/// children left (ECHILD).
pub fn waitpid(pid: i32, nohang: bool) -> io::Result<Option<(i32, Exit)>> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out-pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, if nohang { libc::WNOHANG } else { 0 }) };
        if rc < 0 {
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ECHILD) => return Ok(None),
                _ => return Err(error),
            }
        }
        if rc == 0 {
            return Ok(None);
        }
        let exit = if libc::WIFSIGNALED(status) {
            Exit::Signal(libc::WTERMSIG(status))
        } else {
            Exit::Code(libc::WEXITSTATUS(status))
        };
        return Ok(Some((rc, exit)));
    }
}

/// A pipe; both ends close on exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: the kernel just returned these descriptors to us.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Makes `target` a copy of `fd` (without close-on-exec); a no-op copy if they are equal clears it.
pub fn dup2(fd: RawFd, target: RawFd) -> io::Result<()> {
    if fd == target {
        return set_cloexec(fd, false);
    }
    // SAFETY: dup2 on descriptor numbers; target is replaced atomically.
    check(unsafe { libc::dup2(fd, target) }).map(drop)
}

/// Sets or clears close-on-exec.
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl with integer arguments.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    let flags = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, flags) }).map(drop)
}

/// Sets or clears O_NONBLOCK.
pub fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl with integer arguments.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let flags = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) }).map(drop)
}

/// Marks every descriptor from `first` up close-on-exec (so nothing of ours leaks into a container).
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    // Old kernels: walk /proc/self/fd.
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd: &RawFd| fd >= first as RawFd)
        .collect();
    for fd in fds {
        let _ = set_cloexec(fd, true);
    }
    Ok(())
}

/// Closes every descriptor from `first` up except those in `keep`: what a process that is about to
/// enter a container's control must do before anything the container chooses (a working directory, a
/// path) is resolved, since `/proc/self/fd/N` of a host directory leads out of the container's root
/// (runc's CVE-2024-21626). Close-on-exec is not enough there: `chdir` comes before `execve`.
pub fn close_fds_except(first: RawFd, keep: &[RawFd]) -> io::Result<()> {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|&fd| fd >= first).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut from = first;
    for fd in keep.into_iter().chain([RawFd::MAX]) {
        if fd > from {
            let last = if fd == RawFd::MAX {
                u32::MAX
            } else {
                (fd - 1) as u32
            };
            close_range(from as u32, last)?;
        }
        from = fd.saturating_add(1);
    }
    Ok(())
}

fn close_range(first: u32, last: u32) -> io::Result<()> {
    // SAFETY: close_range closes descriptors by number; this process owns them all.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    if rc == 0 {
        return Ok(());
    }
    // Old kernels: walk /proc/self/fd.
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd: &RawFd| fd as u32 >= first && fd as u32 <= last)
        .collect();
    for fd in fds {
        // SAFETY: as above.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// The working directory as the kernel's `getcwd(2)` reports it: `None` when it is not reachable from
/// this process's root (the kernel then prefixes it with `(unreachable)`), which is how a working
/// directory opened through a descriptor of a host directory shows after `pivot_root`.
pub fn reachable_cwd() -> io::Result<Option<std::path::PathBuf>> {
    let mut buffer = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: buffer is writable for its length.
    let rc = unsafe { libc::syscall(libc::SYS_getcwd, buffer.as_mut_ptr(), buffer.len()) };
    if rc < 0 {
        let error = io::Error::last_os_error();
        return match error.raw_os_error() {
            Some(libc::ENOENT) => Ok(None),
            _ => Err(error),
        };
    }
    let text = &buffer[..(rc as usize).saturating_sub(1)];
    if !text.starts_with(b"/") {
        return Ok(None);
    }
    Ok(Some(std::path::PathBuf::from(OsStr::from_bytes(text))))
}

/// Sets whether the process is dumpable. A process that is not cannot be reached through
/// `/proc/<pid>/fd`, `/proc/<pid>/exe`, `/proc/<pid>/cwd` or ptrace by anyone without
/// CAP_SYS_PTRACE, which a container's processes lack: the runtime's processes stay that way while
/// they are inside a container's pid namespace and still hold host descriptors. `execve` of a normal
/// program makes the process dumpable again.
pub fn set_dumpable(dumpable: bool) -> io::Result<()> {
    prctl(libc::PR_SET_DUMPABLE, dumpable as libc::c_ulong)
}

/// Waits until one of `fds` is ready for reading (or hung up); returns a readiness flag per fd. `None`
/// waits forever. EINTR returns all-false.
pub fn poll_read(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut polls: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let timeout = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
    // SAFETY: polls is a valid array of its length.
    let rc = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, timeout) };
    if rc < 0 {
        let error = io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EINTR) {
            return Ok(vec![false; fds.len()]);
        }
        return Err(error);
    }
    Ok(polls.iter().map(|p| p.revents != 0).collect())
}

fn sigset(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for &signal in signals {
        // SAFETY: as above.
        unsafe { libc::sigaddset(&mut set, signal) };
    }
    set
}

/// Blocks `signals` and returns a signalfd that becomes readable when one is pending.
pub fn signalfd(signals: &[i32]) -> io::Result<OwnedFd> {
    let set = sigset(signals);
    // SAFETY: set is initialised; the old mask is not wanted.
    check(unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) })?;
    // SAFETY: -1 asks for a new descriptor, which we then own.
    let fd = check(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads pending signal numbers from a signalfd (non-blocking).
pub fn read_signals(fd: BorrowedFd<'_>) -> Vec<i32> {
    let mut signals = Vec::new();
    loop {
        // SAFETY: signalfd_siginfo is plain data.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: info is a writable buffer of `size` bytes.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                size,
            )
        };
        if n as usize != size {
            return signals;
        }
        signals.push(info.ssi_signo as i32);
    }
}

/// Ignores `signals` (so a monitor survives a terminal's SIGHUP or a stray SIGTERM).
pub fn ignore_signals(signals: &[i32]) {
    for &signal in signals {
        // SAFETY: SIG_IGN is a valid disposition for these catchable signals.
        unsafe { libc::signal(signal, libc::SIG_IGN) };
    }
}

/// Restores every signal to its default action and unblocks all signals (before exec: a blocked or
/// ignored signal would otherwise be inherited by the container's process).
pub fn reset_signals() {
    for signal in 1..libc::SIGRTMAX() {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL is valid for every catchable signal; errors for invalid numbers are ignored.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
    let set = sigset(&[]);
    // SAFETY: an empty, initialised set.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) };
}

/// Resource limit numbers by Docker's ulimit names (`nofile`, `nproc`, ...).
pub fn rlimit_resource(name: &str) -> Option<i32> {
    let resource = match name {
        "core" => libc::RLIMIT_CORE,
        "cpu" => libc::RLIMIT_CPU,
        "data" => libc::RLIMIT_DATA,
        "fsize" => libc::RLIMIT_FSIZE,
        "locks" => libc::RLIMIT_LOCKS,
        "memlock" => libc::RLIMIT_MEMLOCK,
        "msgqueue" => libc::RLIMIT_MSGQUEUE,
        "nice" => libc::RLIMIT_NICE,
        "nofile" => libc::RLIMIT_NOFILE,
        "nproc" => libc::RLIMIT_NPROC,
        "rss" => libc::RLIMIT_RSS,
        "rtprio" => libc::RLIMIT_RTPRIO,
        "rttime" => libc::RLIMIT_RTTIME,
        "sigpending" => libc::RLIMIT_SIGPENDING,
        "stack" => libc::RLIMIT_STACK,
        "as" => libc::RLIMIT_AS,
        _ => return None,
    };
    Some(resource as i32)
}

/// The (soft, hard) limit of a resource; `u64::MAX` is unlimited.
pub fn getrlimit(resource: i32) -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: limit is a valid out-pointer.
    check(unsafe { libc::getrlimit(resource as _, &mut limit) })?;
    Ok((limit.rlim_cur, limit.rlim_max))
}

/// Sets a resource limit.
pub fn setrlimit(resource: i32, soft: u64, hard: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: limit is a valid pointer.
    check(unsafe { libc::setrlimit(resource as _, &limit) }).map(drop)
}

/// Becomes `uid`/`gid` with supplementary `groups` (order: groups, gid, uid, since each step needs the
/// privilege the next one gives up).
pub fn set_identity(uid: u32, gid: u32, groups: &[u32]) -> io::Result<()> {
    // SAFETY: groups is a valid array of its length.
    check(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) })?;
    // SAFETY: plain integer arguments.
    check(unsafe { libc::setresgid(gid, gid, gid) })?;
    // SAFETY: plain integer arguments.
    check(unsafe { libc::setresuid(uid, uid, uid) }).map(drop)
}

/// Sets the file mode creation mask.
pub fn umask(mask: u32) {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) };
}

/// Replaces the process image. Returns only on failure.
pub fn execve(path: &OsStr, args: &[String], env: &[String]) -> io::Error {
    let convert = |items: &[String]| -> io::Result<Vec<CString>> {
        items.iter().map(|item| cstr(OsStr::new(item))).collect()
    };
    let (path, args, env) = match (cstr(path), convert(args), convert(env)) {
        (Ok(path), Ok(args), Ok(env)) => (path, args, env),
        (Err(error), ..) | (_, Err(error), _) | (.., Err(error)) => return error,
    };
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: path, argv and envp are NUL-terminated and outlive the call; both arrays end in null.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// Wraps a raw descriptor number inherited from a parent.
///
/// # Safety
/// `fd` must be open and owned by nobody else in this process.
pub unsafe fn owned_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: guaranteed by the caller.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The start time of process `pid` in clock ticks since boot (field 22 of `/proc/<pid>/stat`): with the
/// pid it names one process for good, since a recycled pid has a later start time.
pub fn start_time(pid: i32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| io::Error::other("malformed /proc/<pid>/stat"))?;
    rest.split_whitespace()
        .nth(19)
        .and_then(|field| field.parse().ok())
        .ok_or_else(|| io::Error::other("malformed /proc/<pid>/stat"))
}

/// Whether `pid` is alive, started at `start_time`, and not a zombie.
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return false;
    };
    let mut fields = rest.split_whitespace();
    let state = fields.next();
    let started = fields.nth(18).and_then(|f| f.parse::<u64>().ok());
    state != Some("Z") && state != Some("X") && started == Some(start_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_identifies_this_process() {
        let pid = std::process::id() as i32;
        let started = start_time(pid).unwrap();
        assert!(is_alive(pid, started));
        assert!(!is_alive(pid, started + 1));
    }

    #[test]
    fn fork_refuses_with_threads() {
        // The test harness runs tests on threads, so this process has more than one.
        let error = fork_into(0).unwrap_err();
        assert!(error.to_string().contains("threads"), "{error}");
    }
}
