//! Atomic replacement of small files: write `<name>.tmp-<pid>-<n>` in the same directory, fsync it,
//! rename it over the target, fsync the directory. A reader (or a crash) sees the old or the new content,
//! never a mix. Large blobs use the same rename step but skip the fsync: they are verified by digest
//! when read, so a torn blob after a power loss is detected rather than trusted.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{IoError, ctx};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Records are root's alone: a container's holds its environment, secrets included.
const RECORD_MODE: u32 = 0o600;

/// A name for a temporary sibling of `target` that no other process or thread will pick.
pub fn temp_sibling(target: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// A name unique to this process and call, for temporary directories.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}

/// Replaces `target` with `contents` atomically and durably.
pub fn write(target: &Path, contents: &[u8]) -> Result<(), IoError> {
    let temp = temp_sibling(target);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(RECORD_MODE)
            .open(&temp)
            .map_err(ctx("create", &temp))?;
        file.write_all(contents).map_err(ctx("write", &temp))?;
        file.sync_all().map_err(ctx("sync", &temp))?;
        fs::rename(&temp, target).map_err(ctx("rename into place", target))?;
        sync_parent(target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Replaces `target` with `contents` atomically (rename) but without fsync: for records of things a
/// power loss ends anyway (processes, kernel objects), where readers need old-or-new, never half, and
/// two fsyncs would cost more than the work the record describes.
pub fn write_volatile(target: &Path, contents: &[u8]) -> Result<(), IoError> {
    let temp = temp_sibling(target);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(RECORD_MODE)
        .open(&temp)
        .and_then(|mut file| file.write_all(contents))
        .map_err(ctx("write", &temp))?;
    fs::rename(&temp, target).map_err(|error| {
        let _ = fs::remove_file(&temp);
        IoError::new("rename into place", target, error)
    })
}

/// Fsyncs the directory holding `path`, so a rename into it survives a crash.
pub fn sync_parent(path: &Path) -> Result<(), IoError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(ctx("sync directory", parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("index.json");
        write(&target, b"old").unwrap();
        write(&target, b"new contents").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new contents");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failure_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("missing-dir").join("x");
        let error = write(&target, b"x").unwrap_err();
        assert!(error.to_string().contains("missing-dir"), "{error}");
    }
}
