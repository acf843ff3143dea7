//! The kernel boundary: the only module with `unsafe`. Thin, checked wrappers over the few syscalls std
//! does not offer (device nodes, extended attributes on symlinks, the effective uid).

pub mod bpf;
pub mod capability;
pub mod interrupt;
pub mod mount;
pub mod net;
pub mod netlink;
pub mod process;
pub mod seccomp;
pub mod terminal;

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Whether the process runs with effective uid 0.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `struct open_how` of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_NO_XDEV: u64 = 0x01;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// Opens `path` (relative) below the directory `root` as if `root` were `/`: `..` stops at it and
/// symlinks, absolute ones included, resolve inside it; magic links (`/proc/self/fd/N`) are refused
/// (`openat2(2)` with `RESOLVE_IN_ROOT`, kernel 5.6+). Returns an `O_PATH` descriptor, which a bind
/// mount can take as `/proc/self/fd/N` with no path walk left to race.
pub fn open_in_root(root: &Path, path: &str) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(root)?;
    let relative = CString::new(path.trim_start_matches('/'))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    openat2(&dir, &relative, &how)
}

/// `openat2(2)` of `path` below the directory `dir`; the descriptor returned is new and ours.
fn openat2(dir: &std::fs::File, path: &CString, how: &OpenHow) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: path is NUL-terminated, how is a valid open_how of the size passed; both outlive the
    // call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// Writes `contents` to the file `path` below `root` (procfs's mount point), refusing any symlink
/// or mount crossing on the way and a file that is not procfs's: a sysctl write cannot be
/// redirected.
pub fn write_procfs(root: &Path, path: &str, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    const PROC_SUPER_MAGIC: libc::c_long = 0x9fa0;
    let dir = std::fs::File::open(root)?;
    let relative = CString::new(path)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let how = OpenHow {
        flags: (libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOCTTY) as u64,
        mode: 0,
        resolve: RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    let mut file = std::fs::File::from(openat2(&dir, &relative, &how)?);
    // SAFETY: statfs is plain data filled by the call; the descriptor is open.
    let mut info: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstatfs(file.as_raw_fd(), &mut info) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if info.f_type as libc::c_long != PROC_SUPER_MAGIC {
        return Err(io::Error::other(format!("{path} is not on procfs")));
    }
    file.write_all(contents)
}

/// Creates the directory `name` in the directory `dir` refers to (an `O_PATH` descriptor will do);
/// a symlink at `name` is not followed (EEXIST).
pub fn mkdir_at(dir: std::os::fd::BorrowedFd<'_>, name: &str, mode: u32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let name = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))?;
    // SAFETY: name is NUL-terminated and outlives the call; dir is open.
    let rc = unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Creates the empty file `name` in the directory `dir` refers to, failing if anything (a symlink
/// included, which is not followed) is there.
pub fn create_file_at(dir: std::os::fd::BorrowedFd<'_>, name: &str, mode: u32) -> io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let name = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))?;
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: name is NUL-terminated and outlives the call; dir is open.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us; dropping it closes it.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    Ok(())
}

/// The kind of special file [`mknod`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Char,
    Block,
    Fifo,
}

/// Creates a device node or FIFO with permission bits `mode` (not following a symlink at `path`:
/// mknod never does).
pub fn mknod(path: &Path, kind: NodeKind, mode: u32, major: u32, minor: u32) -> io::Result<()> {
    let path = cstring(path)?;
    let kind_bits = match kind {
        NodeKind::Char => libc::S_IFCHR,
        NodeKind::Block => libc::S_IFBLK,
        NodeKind::Fifo => libc::S_IFIFO,
    };
    let device = libc::makedev(major, minor);
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
    let rc = unsafe { libc::mknod(path.as_ptr(), kind_bits | (mode & 0o7777), device) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets an extended attribute on `path` itself (a symlink is not followed).
pub fn lsetxattr(path: &Path, name: &[u8], value: &[u8]) -> io::Result<()> {
    let path = cstring(path)?;
    let name = CString::new(name).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "xattr name contains a NUL byte",
        )
    })?;
    // SAFETY: both strings are NUL-terminated and outlive the call; `value` is a valid buffer of its length.
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads an extended attribute of `path` itself; `None` if it is not set.
pub fn lgetxattr(path: &Path, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let path = cstring(path)?;
    let name = CString::new(name).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "xattr name contains a NUL byte",
        )
    })?;
    let mut buffer = vec![0u8; 64 * 1024];
    // SAFETY: both strings are NUL-terminated; `buffer` is writable for its whole length.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buffer.as_mut_ptr().cast(),
            buffer.len(),
        )
    };
    if n >= 0 {
        buffer.truncate(n as usize);
        return Ok(Some(buffer));
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::ENODATA) {
        Ok(None)
    } else {
        Err(error)
    }
}

/// Major and minor number of a device file's `st_rdev`.
pub fn major_minor(rdev: u64) -> (u32, u32) {
    (libc::major(rdev), libc::minor(rdev))
}
