//! Advisory file locks (`flock(2)` through `std::fs::File::lock`), one lock file per object.
//!
//! `flock` locks belong to the open file description: two handles in one process exclude each other just
//! as two processes do, and the kernel drops the lock when the holder dies, so a killed command never
//! leaves a stale lock behind (unlike lock files that exist-means-locked).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use super::{IoError, ctx};

/// A held lock; released on drop.
#[derive(Debug)]
pub struct Lock {
    file: File,
    path: PathBuf,
}

fn open(path: &Path) -> Result<File, IoError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(ctx("open lock file", path))
}

impl Lock {
    /// Waits for an exclusive lock on `path` (created if missing).
    pub fn exclusive(path: &Path) -> Result<Self, IoError> {
        let file = open(path)?;
        file.lock().map_err(ctx("lock", path))?;
        Ok(Self {
            file,
            path: path.to_owned(),
        })
    }

    /// Waits for a shared lock on `path` (created if missing).
    pub fn shared(path: &Path) -> Result<Self, IoError> {
        let file = open(path)?;
        file.lock_shared().map_err(ctx("lock (shared)", path))?;
        Ok(Self {
            file,
            path: path.to_owned(),
        })
    }

    /// Takes an exclusive lock if nobody holds one of any kind, without waiting.
    pub fn try_exclusive(path: &Path) -> Result<Option<Self>, IoError> {
        let file = open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self {
                file,
                path: path.to_owned(),
            })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(error)) => Err(IoError::new("lock", path, error)),
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_and_releases_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let shared_a = Lock::shared(&path).unwrap();
        let shared_b = Lock::shared(&path).unwrap();
        assert!(Lock::try_exclusive(&path).unwrap().is_none());
        drop((shared_a, shared_b));
        let held = Lock::try_exclusive(&path)
            .unwrap()
            .expect("free after drop");
        assert!(Lock::try_exclusive(&path).unwrap().is_none());
        drop(held);
        assert!(Lock::try_exclusive(&path).unwrap().is_some());
    }
}
