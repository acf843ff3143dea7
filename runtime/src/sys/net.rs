//! Socket-level calls std lacks, for the port proxy: `splice` (zero-copy socket → pipe → socket),
//! pipe sizing, and bringing a namespace's loopback interface up.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Moves up to `len` bytes from `from` to `to` (one of them a pipe) without copying them through
/// user space; 0 at end of stream. Retries on EINTR.
pub fn splice(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: plain descriptors, null offsets (both ends are streams or pipes).
        let rc = unsafe {
            libc::splice(
                from.as_raw_fd(),
                std::ptr::null_mut(),
                to.as_raw_fd(),
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE,
            )
        };
        if rc >= 0 {
            return Ok(rc as usize);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Asks for a pipe buffer of `size` bytes (rounded up by the kernel; capped by
/// `/proc/sys/fs/pipe-max-size` for unprivileged callers). Returns the size granted.
pub fn set_pipe_size(pipe: BorrowedFd<'_>, size: usize) -> io::Result<usize> {
    // SAFETY: fcntl with an integer argument.
    check(unsafe { libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, size as libc::c_int) })
        .map(|n| n as usize)
}

/// Sets the `lo` interface of the calling thread's network namespace up (a new namespace has it
/// down). A no-op if it is up already.
pub fn set_loopback_up() -> io::Result<()> {
    // SAFETY: a datagram socket only serves as a handle for the interface ioctls.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: the kernel just returned this descriptor.
    let socket: std::os::fd::OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags union member of a valid ifreq.
    check(unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) })?;
    // SAFETY: the flags member was just written by the kernel.
    let flags = unsafe { request.ifr_ifru.ifru_flags };
    if flags & libc::IFF_UP as libc::c_short != 0 {
        return Ok(());
    }
    request.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: as above, with the flags to set.
    check(unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) }).map(drop)
}

/// libc's `fork` (not the raw `clone` of [`super::process::fork_into`]): for a child that starts
/// threads, which needs the C library's per-thread state (its cached thread id, its locks) reset
/// for the child, as only libc's own fork does. The caller must be single-threaded. Returns the
/// child's pid in the parent, 0 in the child.
pub fn fork_for_threads() -> io::Result<i32> {
    super::process::thread_count().and_then(|threads| {
        if threads == 1 {
            Ok(())
        } else {
            Err(io::Error::other("fork from a multi-threaded process"))
        }
    })?;
    // SAFETY: the process is single-threaded (checked above), so no lock is held by a thread the
    // child would not have; libc runs its atfork handlers.
    check(unsafe { libc::fork() })
}

/// Closes every descriptor above stderr except `keep` (a forked helper sheds what its parent had
/// open, such as pipe ends whose end-of-file another process waits for).
pub fn close_fds_except(keep: &[RawFd]) -> io::Result<()> {
    let open: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open {
        if fd > 2 && !keep.contains(&fd) {
            // SAFETY: closing a descriptor number; the caller owns no Rust object for these (the
            // process was just forked and keeps only `keep`). EBADF (the directory's own) is harmless.
            unsafe { libc::close(fd) };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    #[test]
    fn splices_a_socket_into_a_pipe_and_out() {
        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (mut c, d) = std::os::unix::net::UnixStream::pair().unwrap();
        let (read, write) = crate::sys::process::pipe().unwrap();
        assert!(set_pipe_size(write.as_fd(), 1 << 16).unwrap() >= 1 << 16);
        a.write_all(b"hello").unwrap();
        assert_eq!(splice(b.as_fd(), write.as_fd(), 1 << 16).unwrap(), 5);
        assert_eq!(splice(read.as_fd(), d.as_fd(), 5).unwrap(), 5);
        let mut got = [0u8; 5];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
        drop(a);
        assert_eq!(splice(b.as_fd(), write.as_fd(), 1 << 16).unwrap(), 0);
    }
}
