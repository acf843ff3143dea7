//! Mounts: `mount(2)`, `umount2(2)` and the `pivot_root(2)` dance, for building a container's root
//! inside its own mount namespace (where every mount vanishes with the namespace's last process, so a
//! crash can leave none on the host).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub use libc::{
    MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC,
    MS_RELATIME, MS_REMOUNT, MS_SLAVE, MS_STRICTATIME,
};

fn path_cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn str_cstring(text: &str) -> io::Result<CString> {
    CString::new(text)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "string contains a NUL byte"))
}

/// `mount(2)`: `source` and `fstype` may be absent (remounts, propagation changes), `data` is the
/// filesystem's option string.
pub fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let source = source.map(path_cstring).transpose()?;
    let target = path_cstring(target)?;
    let fstype = fstype.map(str_cstring).transpose()?;
    let data = data.map(str_cstring).transpose()?;
    let ptr = |value: &Option<CString>| value.as_ref().map_or(std::ptr::null(), |v| v.as_ptr());
    // SAFETY: every pointer is null or a NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::mount(
            ptr(&source),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `umount2(2)`.
pub fn umount(target: &Path, flags: libc::c_int) -> io::Result<()> {
    let target = path_cstring(target)?;
    // SAFETY: target is a NUL-terminated string that outlives the call.
    let rc = unsafe { libc::umount2(target.as_ptr(), flags) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Makes `new_root` (a mount point) the root of this mount namespace and detaches the old root, without
/// a temporary directory: `pivot_root(".", ".")` stacks the old root on top of the new one, which the
/// following unmount removes (runc's and youki's method). The old root is made a slave first so the
/// detach cannot propagate to the host.
pub fn pivot_root(new_root: &Path) -> io::Result<()> {
    std::env::set_current_dir(new_root)?;
    let dot = str_cstring(".")?;
    // SAFETY: both arguments are the NUL-terminated string ".".
    let rc = unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    mount(None, Path::new("."), None, MS_SLAVE | MS_REC, None)?;
    umount(Path::new("."), MNT_DETACH)?;
    std::env::set_current_dir("/")
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
#[derive(Default)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const OPEN_TREE_CLONE: libc::c_uint = 1;
const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;

/// `mount_setattr(2)` on `dirfd`/`path` (`AT_RECURSIVE` with `recursive`): sets `set`, clears `clear`.
fn mount_setattr(
    dirfd: libc::c_int,
    path: &Path,
    flags: libc::c_uint,
    set: u64,
    clear: u64,
) -> io::Result<()> {
    let path = path_cstring(path)?;
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        ..MountAttr::default()
    };
    // SAFETY: path is NUL-terminated, attr is a valid mount_attr of the size passed; both outlive the
    // call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A detached bind mount of `path` (`open_tree(2)` with `OPEN_TREE_CLONE`, and `AT_RECURSIVE` with
/// `recursive`): a mount that belongs to no namespace until [`attach`] puts it somewhere, so its
/// attributes can be set before anything can see it. An `O_PATH` descriptor that closes on exec.
pub fn detached_bind(path: &Path, recursive: bool) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let cpath = path_cstring(path)?;
    let flags = OPEN_TREE_CLONE
        | OPEN_TREE_CLOEXEC
        | if recursive {
            libc::AT_RECURSIVE as libc::c_uint
        } else {
            0
        };
    // SAFETY: cpath is NUL-terminated and outlives the call; the flags are plain integers.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, cpath.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// Sets the propagation of a detached tree (`MS_PRIVATE`, `MS_SLAVE`, `MS_SHARED` or
/// `MS_UNBINDABLE`): of its top mount only, or of every mount in it with `recursive`.
pub fn set_propagation(
    tree: &std::os::fd::OwnedFd,
    propagation: libc::c_ulong,
    recursive: bool,
) -> io::Result<()> {
    let path = path_cstring(Path::new(""))?;
    let attr = MountAttr {
        propagation,
        ..MountAttr::default()
    };
    let flags = libc::AT_EMPTY_PATH as libc::c_uint
        | if recursive {
            libc::AT_RECURSIVE as libc::c_uint
        } else {
            0
        };
    // SAFETY: path is NUL-terminated, attr is a valid mount_attr of the size passed; both outlive the
    // call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            std::os::fd::AsRawFd::as_raw_fd(tree),
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Like [`detached_bind`], of what the descriptor `fd` (an `O_PATH` one is enough) refers to.
pub fn detached_bind_fd(
    fd: std::os::fd::BorrowedFd<'_>,
    recursive: bool,
) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let empty = str_cstring("")?;
    let flags = OPEN_TREE_CLONE
        | OPEN_TREE_CLOEXEC
        | libc::AT_EMPTY_PATH as libc::c_uint
        | if recursive {
            libc::AT_RECURSIVE as libc::c_uint
        } else {
            0
        };
    // SAFETY: fd is open for the call; the empty string is NUL-terminated and outlives it.
    let tree = unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), empty.as_ptr(), flags) };
    if tree < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(tree as std::os::fd::RawFd) })
}

/// Makes a detached mount (see [`detached_bind`]) read-only, with every mount below it when
/// `recursive`.
pub fn set_readonly(tree: &std::os::fd::OwnedFd, recursive: bool) -> io::Result<()> {
    let flags = libc::AT_EMPTY_PATH as libc::c_uint
        | if recursive {
            libc::AT_RECURSIVE as libc::c_uint
        } else {
            0
        };
    mount_setattr(
        std::os::fd::AsRawFd::as_raw_fd(tree),
        Path::new(""),
        flags,
        MOUNT_ATTR_RDONLY,
        0,
    )
}

/// Attaches a detached mount on the directory or file `target` refers to (`move_mount(2)` between
/// two descriptors: no path is walked, so nothing can be swapped under it).
pub fn attach(tree: &std::os::fd::OwnedFd, target: &std::os::fd::OwnedFd) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    let empty = str_cstring("")?;
    // SAFETY: both descriptors are open; the empty strings are NUL-terminated and outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            target.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A detached, read-only, nosuid, nodev bind mount of the file `path`, as an `O_PATH` descriptor
/// that closes on exec. A program started through it (`/proc/self/fd/N`) has a `/proc/<pid>/exe`
/// that cannot be opened for writing: the mount is read-only and belongs to no mount namespace, so
/// nothing can remount it. This is runc's answer to CVE-2019-5736 (a container overwriting the
/// runtime's binary through `/proc/<pid>/exe` of a runtime process, or of its own process after
/// `execve("/proc/self/exe")`).
pub fn readonly_file_tree(path: &Path) -> io::Result<std::os::fd::OwnedFd> {
    let tree = detached_bind(path, false)?;
    mount_setattr(
        std::os::fd::AsRawFd::as_raw_fd(&tree),
        Path::new(""),
        libc::AT_EMPTY_PATH as libc::c_uint,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        0,
    )?;
    Ok(tree)
}

/// Whether the file `path` (a magic link such as `/proc/<pid>/exe` is followed) lies on a read-only
/// mount.
pub fn on_readonly_mount(path: &Path) -> io::Result<bool> {
    let path = path_cstring(path)?;
    // SAFETY: statvfs is plain data, filled by the call.
    let mut info: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated; info is a valid out-pointer.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut info) };
    if rc == 0 {
        Ok(info.f_flag & libc::ST_RDONLY != 0)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The filesystem type (`statfs(2)`'s `f_type` magic) of the filesystem holding `path`.
pub fn filesystem_type(path: &Path) -> io::Result<i64> {
    let path = path_cstring(path)?;
    // SAFETY: statfs is plain data, filled by the call.
    let mut info: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated; info is a valid out-pointer.
    let rc = unsafe { libc::statfs(path.as_ptr(), &mut info) };
    if rc == 0 {
        Ok(info.f_type as i64)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Filesystems that cannot hold an overlay's upper directory, by `f_type` magic, with their names.
pub const NO_UPPER_DIR: [(i64, &str); 3] = [
    (0x794c_7630, "overlayfs"),
    (0x6573_5546, "FUSE"),
    (0x6969, "NFS"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filesystem_types() {
        const PROC_SUPER_MAGIC: i64 = 0x9fa0;
        assert_eq!(
            filesystem_type(Path::new("/proc")).unwrap(),
            PROC_SUPER_MAGIC
        );
        assert!(filesystem_type(Path::new("/nonexistent-path")).is_err());
    }
}
