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
