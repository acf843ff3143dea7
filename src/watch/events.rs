//! File events from the kernel (inotify, through `notify`), gathered into batches.
//!
//! Directories are watched one by one, never recursively by `notify`: the caller's walk
//! ([`super::tree`]) decides which, so ignored trees (`node_modules/`, `target/`) cost no watch.
//! Watching directories rather than files sees what editors do (write a temporary file, rename it
//! over the old one).
//!
//! A batch closes after a short quiet period ([`QUIET`]) or when it has been open for [`CAP`]: a
//! single save (one to three paths) acts within milliseconds. Once a batch holds [`BULK`] paths it
//! is evidently a checkout, an unpack or a generator at work, and the quiet period grows to
//! [`BULK_QUIET`], so that a pause of the writer (a busy machine) does not split a `git checkout`
//! of a thousand files into several batches. A kernel queue overflow marks the batch for a full
//! rescan, since events were lost.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher};

/// Quiet time that closes a batch.
pub const QUIET: Duration = Duration::from_millis(20);
/// Paths after which a batch is a bulk change.
pub const BULK: usize = 16;
/// Quiet time that closes a bulk batch.
pub const BULK_QUIET: Duration = Duration::from_millis(200);
/// Longest time a batch stays open while events keep coming.
pub const CAP: Duration = Duration::from_millis(3000);

/// What happened to a path during a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    /// Only its metadata changed (mode, owner or times): it counts only if more than the access
    /// time changed.
    Metadata,
    /// Created, written, removed or renamed.
    Content,
}

/// The paths touched during a batch.
#[derive(Debug, Default)]
pub struct Batch {
    pub paths: BTreeMap<PathBuf, Touch>,
    /// Events were lost (queue overflow): the trees must be scanned again.
    pub rescan: bool,
    /// Errors the watcher reported (a watch limit reached, ...).
    pub errors: Vec<String>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && !self.rescan && self.errors.is_empty()
    }

    fn add(&mut self, result: notify::Result<notify::Event>) {
        let event = match result {
            Ok(event) => event,
            Err(error) => {
                self.errors.push(error.to_string());
                return;
            }
        };
        if event.need_rescan() {
            self.rescan = true;
        }
        let touch = match event.kind {
            // A close after writing: the writes had their own events; alone (`touch -a` opens
            // for writing) it is a metadata change at most.
            EventKind::Modify(ModifyKind::Metadata(_))
            | EventKind::Access(AccessKind::Close(AccessMode::Write)) => Touch::Metadata,
            EventKind::Create(_) | EventKind::Remove(_) | EventKind::Modify(_) => Touch::Content,
            // Opens and reads (our own copies among them) change nothing.
            _ => return,
        };
        for path in event.paths {
            let entry = self.paths.entry(path).or_insert(touch);
            if touch == Touch::Content {
                *entry = Touch::Content;
            }
        }
    }
}

/// The kernel watcher and its event queue.
pub struct Events {
    watcher: notify::INotifyWatcher,
    receiver: Receiver<notify::Result<notify::Event>>,
}

impl Events {
    pub fn new() -> anyhow::Result<Events> {
        let (sender, receiver) = channel();
        let watcher = notify::INotifyWatcher::new(sender, notify::Config::default())
            .map_err(|e| anyhow::anyhow!("cannot watch files: {e}"))?;
        Ok(Events { watcher, receiver })
    }

    /// Watches directory `dir` (not its subdirectories).
    pub fn watch(&mut self, dir: &Path) -> notify::Result<()> {
        self.watcher.watch(dir, RecursiveMode::NonRecursive)
    }

    /// Stops watching `dir` (no error if it was not watched or is gone).
    pub fn unwatch(&mut self, dir: &Path) {
        let _ = self.watcher.unwatch(dir);
    }

    /// Waits up to `idle` for a first event, then gathers the batch it opens. `None` when nothing
    /// came (the caller checks for Ctrl-C and waits again).
    pub fn next_batch(&self, idle: Duration) -> Option<Batch> {
        let first = match self.receiver.recv_timeout(idle) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
        };
        let mut batch = Batch::default();
        batch.add(first);
        let opened = Instant::now();
        loop {
            let left = CAP.saturating_sub(opened.elapsed());
            if left.is_zero() {
                break;
            }
            let quiet = if batch.paths.len() >= BULK {
                BULK_QUIET
            } else {
                QUIET
            };
            match self.receiver.recv_timeout(quiet.min(left)) {
                Ok(event) => batch.add(event),
                Err(_) => break,
            }
        }
        (!batch.is_empty()).then_some(batch)
    }
}
