//! `cp` into and out of a running container, as tar streams on the helper's stdio.
//!
//! The helper joins only the container's mount namespace: paths then resolve exactly as the
//! container sees them, volumes and tmpfs included, and no symlink can lead outside its root (the
//! namespace's root is the container's). The caller turns files into tar streams and back, so it
//! decides docker's naming rules (`cp a b` vs `cp a b/`).
//!
//! `cp-sync` is `cp-in` for `watch`'s sync: the directory is made if missing, the archive's owners
//! are kept (the caller writes the container user's ids), and an entry named `.wh.NAME` (the OCI
//! layer whiteout) removes `NAME` instead, so one stream carries a batch's deletions too and the
//! image needs neither `tar` nor `rm`.

use std::fs;
use std::io;
use std::path::Path;

use crate::container::state::{Paths, Record, State, read_json};
use crate::sys::process as p;

/// `cp-out <root> <id> <path>`: writes a tar of `path` (a file or a directory, under its own name)
/// to stdout.
pub(super) fn copy_out(root: &Path, id: &str, path: &str) -> i32 {
    report(enter(root, id).and_then(|()| {
        let source = Path::new(path);
        let name = source
            .file_name()
            .map_or_else(|| ".".into(), |n| n.to_os_string());
        let mut builder = tar::Builder::new(io::stdout().lock());
        builder.follow_symlinks(false);
        let metadata = fs::symlink_metadata(source).map_err(|e| format!("{path}: {e}"))?;
        let result = if metadata.is_dir() {
            builder.append_dir_all(&name, source)
        } else {
            builder.append_path_with_name(source, &name)
        };
        result
            .and_then(|()| builder.finish())
            .map_err(|e| format!("archive {path}: {e}"))
    }))
}

/// `cp-in <root> <id> <dir>`: unpacks a tar from stdin into directory `dir` of the container.
pub(super) fn copy_in(root: &Path, id: &str, dir: &str) -> i32 {
    report(enter(root, id).and_then(|()| {
        let target = Path::new(dir);
        if !fs::metadata(target).is_ok_and(|m| m.is_dir()) {
            return Err(format!("{dir} is not a directory in the container"));
        }
        let mut archive = tar::Archive::new(io::stdin().lock());
        archive.set_preserve_permissions(true);
        archive.set_overwrite(true);
        archive
            .unpack(target)
            .map_err(|e| format!("extract into {dir}: {e}"))
    }))
}

/// The prefix of an entry that removes its name (the OCI layer whiteout).
pub const WHITEOUT: &str = ".wh.";

/// `cp-sync <root> <id> <dir>`: makes directory `dir` of the container if missing, then applies a
/// tar from stdin to it: whiteout entries remove what they name (a directory with its contents; a
/// missing one is no error), the others are unpacked with their modes, times and owners.
pub(super) fn copy_sync(root: &Path, id: &str, dir: &str) -> i32 {
    report(enter(root, id).and_then(|()| {
        let target = Path::new(dir);
        fs::create_dir_all(target).map_err(|e| format!("create {dir}: {e}"))?;
        let mut archive = tar::Archive::new(io::stdin().lock());
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(true);
        archive.set_overwrite(true);
        let entries = archive
            .entries()
            .map_err(|e| format!("read the archive: {e}"))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| format!("read the archive: {e}"))?;
            let path = entry
                .path()
                .map_err(|e| format!("read the archive: {e}"))?
                .into_owned();
            match whiteout_target(&path) {
                Some(Ok(removed)) => remove(&target.join(removed))?,
                Some(Err(())) => return Err(format!("invalid entry {}", path.display())),
                None => {
                    entry
                        .unpack_in(target)
                        .map_err(|e| format!("extract {} into {dir}: {e}", path.display()))?;
                }
            }
        }
        Ok(())
    }))
}

/// What a whiteout entry removes, relative to the target (`a/.wh.b` → `a/b`); `None` for other
/// entries, an error for a path that would leave the target.
fn whiteout_target(path: &Path) -> Option<Result<std::path::PathBuf, ()>> {
    let name = path.file_name()?.to_str()?.strip_prefix(WHITEOUT)?;
    let removed = path.with_file_name(name);
    let inside = !name.is_empty()
        && removed
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    Some(if inside { Ok(removed) } else { Err(()) })
}

/// Removes a file, a symbolic link (not what it points to) or a directory with its contents.
fn remove(path: &Path) -> Result<(), String> {
    let result = match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(error) => Err(error),
    };
    match result {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            Err(format!("remove {}: {error}", path.display()))
        }
        _ => Ok(()),
    }
}

fn report(result: Result<(), String>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("rcompose cp: {message}");
            1
        }
    }
}

/// Joins the mount namespace of the container's init.
fn enter(root: &Path, id: &str) -> Result<(), String> {
    let paths = Paths::new(root, id);
    let _record: Record = read_json(&paths.config()).map_err(|e| e.to_string())?;
    let state = State::read(&paths).map_err(|e| e.to_string())?;
    let not_running = || format!("container {id} is not running");
    if !state.status.is_active() || state.pid <= 0 {
        return Err(not_running());
    }
    let pidfd = p::pidfd_open(state.pid).map_err(|_| not_running())?;
    if !p::is_alive(state.pid, state.pid_start) {
        return Err(not_running());
    }
    // setns into a mount namespace needs an unshared fs_struct: a single-threaded process.
    if p::thread_count().map_err(|e| e.to_string())? != 1 {
        return Err("the cp helper must be single-threaded".into());
    }
    p::setns(std::os::fd::AsFd::as_fd(&pidfd), p::ns::MOUNT)
        .map_err(|e| format!("join the container's mount namespace: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteouts_name_what_they_remove() {
        let target = |p: &str| whiteout_target(Path::new(p));
        assert_eq!(target("a/.wh.b"), Some(Ok("a/b".into())));
        assert_eq!(target(".wh.top"), Some(Ok("top".into())));
        assert_eq!(target("a/b"), None);
        assert_eq!(target("../.wh.x"), Some(Err(())));
        assert_eq!(target("a/.wh."), Some(Err(())));
        assert_eq!(target("a/.wh...").map(|r| r.is_ok()), Some(false));
    }
}
