//! The state root on disk and the three disciplines every writer under it follows:
//! [`atomic`] (write a temporary file, then rename it into place, so readers see old or new, never half),
//! [`lock`] (advisory file locks per object, so concurrent commands serialize where they must), and
//! [`IoError`] (every I/O failure names the path and what was being done).
//!
//! The root defaults to `/var/lib/rcompose` (the CLI decides); each area of the runtime gets one
//! directory under it (`image/` for the image store).

pub mod atomic;
pub mod lock;

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// An I/O error with the operation and the path it concerned.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action} {}", path.display())]
pub struct IoError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl IoError {
    pub fn new(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self {
            action,
            path: path.into(),
            source,
        }
    }
}

/// `.map_err(ctx("read", &path))`: attaches action and path to an `io::Error`.
pub fn ctx<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> IoError + 'a {
    move |source| IoError::new(action, path, source)
}

/// Makes sure the state root exists, open to root alone (0700) when it is new or holds only state:
/// it holds containers' environments (secrets) in their records, and their writable layers and
/// volumes, where a container may plant a setuid-root program that any host user could otherwise
/// run (CVE-2021-41091). A directory that holds other files (`--root /` or a home by mistake) is
/// left as it is: what protects the state then is that each area in it is private (see
/// [`private_dir`]). Every store calls it on open.
pub fn secure_root(root: &Path) -> Result<(), IoError> {
    use std::os::unix::fs::PermissionsExt;
    match fs::metadata(root) {
        Ok(metadata) if metadata.permissions().mode() & 0o077 == 0 => Ok(()),
        Ok(_) if !is_state_root_or_empty(root) => Ok(()),
        Ok(_) => fs::set_permissions(root, fs::Permissions::from_mode(0o700))
            .map_err(ctx("restrict the permissions of", root)),
        Err(_) => private_dir(root),
    }
}

/// Creates a directory of the state (and its parents) open to root alone, or makes an existing one
/// so: the state root's areas (`image`, `containers`, `volumes`, `networks`, `netns`, `projects`).
pub fn private_dir(dir: &Path) -> Result<(), IoError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match fs::metadata(dir) {
        Ok(metadata) if metadata.permissions().mode() & 0o077 == 0 => Ok(()),
        Ok(_) => fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(ctx("restrict the permissions of", dir)),
        Err(_) => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(ctx("create directory", dir)),
    }
}

/// Whether `dir` holds only what a state root holds (or nothing).
fn is_state_root_or_empty(dir: &Path) -> bool {
    const AREAS: [&str; 8] = [
        "image",
        "containers",
        "volumes",
        "networks",
        "netns",
        "projects",
        "events.jsonl",
        "events.jsonl.1",
    ];
    fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().all(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            AREAS.contains(&name.as_ref()) || name.starts_with('.')
        })
    })
}

/// Creates a directory and its parents.
pub fn create_dir_all(path: &Path) -> Result<(), IoError> {
    fs::create_dir_all(path).map_err(ctx("create directory", path))
}

/// Removes a file or a directory tree, without following symlinks; a missing path is not an error.
///
/// Directories unpacked from images may lack write permission for their owner (mode 0555), which
/// stops a non-root caller from deleting their entries; such directories are made writable and the
/// removal retried.
pub fn remove_tree(path: &Path) -> Result<(), IoError> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(IoError::new("inspect", path, error)),
    };
    if !metadata.is_dir() {
        return match fs::remove_file(path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                Err(IoError::new("remove", path, error))
            }
            _ => Ok(()),
        };
    }
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
            make_dirs_writable(path);
            fs::remove_dir_all(path).map_err(ctx("remove directory", path))
        }
        Err(error) => Err(IoError::new("remove directory", path, error)),
    }
}

fn make_dirs_writable(path: &Path) {
    let Ok(metadata) = fs::symlink_metadata(path) else {
        return;
    };
    if !metadata.is_dir() {
        return;
    }
    let mode = metadata.permissions().mode();
    let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode | 0o700));
    if let Ok(entries) = fs::read_dir(path) {
        for entry in entries.flatten() {
            make_dirs_writable(&entry.path());
        }
    }
}

#[cfg(test)]
mod secure_root_tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_state_root_is_made_private_and_a_foreign_directory_only_gets_private_areas() {
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let fresh = dir.path().join("fresh/state");
        secure_root(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
        let old = dir.path().join("old");
        fs::create_dir_all(old.join("containers")).unwrap();
        fs::write(old.join("events.jsonl"), "").unwrap();
        fs::set_permissions(&old, fs::Permissions::from_mode(0o755)).unwrap();
        secure_root(&old).unwrap();
        assert_eq!(mode(&old), 0o700);
        let home = dir.path().join("home");
        fs::create_dir_all(&home).unwrap();
        fs::write(home.join("notes.txt"), "mine").unwrap();
        fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
        secure_root(&home).unwrap();
        private_dir(&home.join("containers")).unwrap();
        assert_eq!(mode(&home.join("containers")), 0o700);
        assert_eq!(mode(&home), 0o755, "a foreign directory was changed");
    }
}
