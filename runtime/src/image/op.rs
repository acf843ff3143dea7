//! One mutating command's work area, which is what makes "killed at any moment" safe.
//!
//! An operation holds the store's `gc.lock` shared for its whole life (so `prune` and `rm`, which take it
//! exclusively, never delete what it is about to reference) and works in `tmp/<unique>/`. Blobs and
//! layers it moves into the store are invisible until the final index write, its commit point. If it dies
//! or fails before that, its directory stays behind; the next command that finds the store idle (nobody
//! holds `gc.lock`) runs `gc::recover`, which removes the work areas and everything no image references.
//! While the store is idle, unreferenced content can only be such leftovers, so no journal is needed.

use std::fs;
use std::path::{Path, PathBuf};

use super::Error;
use crate::store::{IoError, atomic, ctx, lock::Lock, remove_tree};

/// A running mutating operation.
pub(crate) struct Op {
    dir: PathBuf,
    _gc: Lock,
}

impl Op {
    /// Starts an operation in `tmp_root`, holding `gc_lock` shared.
    pub(crate) fn begin(tmp_root: &Path, gc_lock: &Path, kind: &str) -> Result<Self, Error> {
        let gc = Lock::shared(gc_lock)?;
        let dir = tmp_root.join(atomic::unique_name(kind));
        fs::create_dir(&dir).map_err(ctx("create directory", &dir))?;
        Ok(Self { dir, _gc: gc })
    }

    /// A path inside the operation's work area.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Ends a successful operation (its result is in the index): removes the work area.
    pub(crate) fn finish(self) -> Result<(), IoError> {
        remove_tree(&self.dir)
    }
}
