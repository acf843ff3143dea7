//! Pseudo-terminals for `exec -t`: a pty pair allocated from the container's own devpts instance (so
//! the process sees a `/dev/pts/N` of its container, as with docker), the slave as its controlling
//! terminal, raw mode on the caller's terminal while the relay runs, and window sizes (read, set, and
//! SIGWINCH noted as a flag for a client that follows its terminal's size, like `run -t`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Opens `/dev/ptmx` of the current mount namespace and unlocks the slave; returns the master and
/// the slave's path.
pub fn open_pty() -> io::Result<(OwnedFd, PathBuf)> {
    // SAFETY: a NUL-terminated literal path; the returned descriptor is then owned.
    let fd = check(unsafe {
        libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: the kernel just returned this descriptor.
    let master = unsafe { OwnedFd::from_raw_fd(fd) };
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int through the pointer.
    check(unsafe { libc::ioctl(fd, libc::TIOCSPTLCK, &unlock) })?;
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int through the pointer.
    check(unsafe { libc::ioctl(fd, libc::TIOCGPTN, &mut number) })?;
    Ok((master, PathBuf::from(format!("/dev/pts/{number}"))))
}

/// Makes `fd` (a terminal) the controlling terminal of this session leader.
pub fn set_controlling(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) }).map(drop)
}

/// Whether `fd` is a terminal.
pub fn is_terminal(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Copies the window size of terminal `from` to terminal `to` (no-op if `from` is not a terminal).
pub fn copy_window_size(from: RawFd, to: RawFd) {
    // SAFETY: winsize is plain data.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize; TIOCSWINSZ reads one.
    unsafe {
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &size);
        }
    }
}

/// Raw mode on a terminal, restored on drop.
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    /// Puts terminal `fd` in raw mode (keys go through unprocessed: ^C reaches the container).
    pub fn enable(fd: RawFd) -> io::Result<Self> {
        // SAFETY: termios is plain data, filled by tcgetattr.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: saved is a valid termios to write.
        check(unsafe { libc::tcgetattr(fd, &mut saved) })?;
        let mut raw = saved;
        // SAFETY: raw is a valid termios.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: raw is a valid termios.
        check(unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) })?;
        Ok(Self { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enable`.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

/// Sends descriptor `fd` over unix socket `socket` (SCM_RIGHTS), with one byte of data.
pub fn send_fd(socket: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: msghdr is plain data; the pointers set below stay valid for the call.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = space as _;
    // SAFETY: the control buffer is CMSG_SPACE(sizeof(int)) bytes, so the first header and its data
    // fit; CMSG_FIRSTHDR/CMSG_DATA point into it.
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&message);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(header).cast::<RawFd>(), fd.as_raw_fd());
    }
    // SAFETY: message and everything it points to are valid for the call.
    let rc = unsafe { libc::sendmsg(socket.as_raw_fd(), &message, 0) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Receives a descriptor sent with [`send_fd`].
pub fn recv_fd(socket: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: msghdr is plain data; the pointers set below stay valid for the call.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = space as _;
    // SAFETY: message points at valid buffers of the sizes given.
    let rc = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut message, libc::MSG_CMSG_CLOEXEC) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel filled message; CMSG_FIRSTHDR returns null when there is no header.
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&message);
        if header.is_null()
            || (*header).cmsg_level != libc::SOL_SOCKET
            || (*header).cmsg_type != libc::SCM_RIGHTS
        {
            return Err(io::Error::other("no descriptor received"));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(header).cast::<RawFd>());
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Sets the window size of terminal `fd`.
pub fn set_window_size(fd: RawFd, rows: u16, cols: u16) {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &size) };
}

/// The window size of terminal `fd` as (rows, columns); `None` if it is not a terminal or has no size
/// yet (0x0, as a pty nobody sized: programs then fall back to 80x24 or fail, like `stty size`).
pub fn window_size(fd: BorrowedFd<'_>) -> Option<(u16, u16)> {
    // SAFETY: winsize is plain data.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize through the pointer, which is valid for the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_row > 0 && size.ws_col > 0).then_some((size.ws_row, size.ws_col))
}

static RESIZED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_resize(_signal: libc::c_int) {
    // Async-signal-safe: an atomic store only.
    RESIZED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Starts noting SIGWINCH (the controlling terminal's window changed) for [`window_resized`]
/// (idempotent). The handler restarts interrupted system calls, so a thread blocked reading stdin
/// does not see a spurious `EINTR`.
pub fn catch_window_changes() -> io::Result<()> {
    // SAFETY: sigaction is plain data; zeroed is an empty mask and no flags.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_resize as extern "C" fn(libc::c_int) as libc::sighandler_t;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: the handler only stores to an atomic; the action is valid for the call.
    check(unsafe { libc::sigaction(libc::SIGWINCH, &action, std::ptr::null_mut()) }).map(drop)
}

/// Whether SIGWINCH came since the last call (after [`catch_window_changes`]).
pub fn window_resized() -> bool {
    RESIZED.swap(false, std::sync::atomic::Ordering::SeqCst)
}
