//! The watched trees as we last saw them: which directories have a watch, and a fingerprint of
//! each file (mode, owner, size, modification time), to turn a batch of touched paths into
//! [`Change`]s.
//!
//! - Watches are added by our own walk, which skips the directories no rule can use
//!   ([`Rules::skip_dir`]).
//! - A new directory is watched first, then walked at once: a file made in it before its watch
//!   existed is found by the walk, one made after by an event, none is missed.
//! - A file whose events were metadata only is a change only if its fingerprint changed: a new
//!   access time alone is not a change.
//! - A rescan (after lost events, or periodically while some directory could not be watched) walks
//!   every tree again and reports what differs from the fingerprints.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::events::{Batch, Events, Touch};
use super::plan::{Change, ChangeKind};
use super::rules::Rules;

/// What a file looks like, access time left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, i64),
}

impl Fingerprint {
    fn of(metadata: &fs::Metadata) -> Fingerprint {
        Fingerprint {
            mode: metadata.mode(),
            uid: metadata.uid(),
            gid: metadata.gid(),
            size: metadata.size(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
        }
    }
}

/// The watched directories and the known files.
#[derive(Default)]
pub struct Tree {
    /// Directories with a watch, and whether they are walked (their subdirectories watched too).
    watched: BTreeMap<PathBuf, bool>,
    files: HashMap<PathBuf, Fingerprint>,
    /// Directories that could not be watched (the watch limit): rescans cover them.
    pub unwatched: usize,
    /// The first watch error, for the message.
    pub watch_error: Option<String>,
}

impl Tree {
    /// Watches and walks the rules' roots and `extra` directories (not walked: the compose files'
    /// directories). Files found are known, not changes.
    pub fn scan(&mut self, rules: &Rules, extra: &[PathBuf], events: &mut Events) -> Vec<Change> {
        let mut found = Vec::new();
        for (root, walk) in rules.roots() {
            self.add_dir(&root, walk, rules, events, &mut found);
        }
        for dir in extra {
            if !self.watched.contains_key(dir) {
                self.add_dir(dir, false, rules, events, &mut found);
            }
        }
        found
    }

    /// Forgets every watch (before the rules change).
    pub fn clear(&mut self, events: &mut Events) {
        for dir in self.watched.keys() {
            events.unwatch(dir);
        }
        *self = Tree::default();
    }

    /// Walks every tree again: what differs from the fingerprints is a change.
    pub fn rescan(&mut self, rules: &Rules, extra: &[PathBuf], events: &mut Events) -> Vec<Change> {
        let known: BTreeSet<PathBuf> = self.files.keys().cloned().collect();
        let before = std::mem::take(&mut self.files);
        self.unwatched = 0;
        self.scan(rules, extra, events);
        let mut changes = Vec::new();
        for (path, fingerprint) in &self.files {
            if before.get(path) != Some(fingerprint) {
                changes.push(Change {
                    path: path.clone(),
                    kind: ChangeKind::Changed,
                });
            }
        }
        for path in known {
            if !self.files.contains_key(&path) {
                changes.push(Change {
                    path,
                    kind: ChangeKind::Removed,
                });
            }
        }
        changes.sort();
        changes
    }

    /// Turns a batch's touched paths into changes, watching and walking new directories.
    pub fn resolve(&mut self, batch: &Batch, rules: &Rules, events: &mut Events) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut removed_dirs = Vec::new();
        for (path, touch) in &batch.paths {
            match fs::symlink_metadata(path) {
                Ok(metadata) if metadata.is_dir() => {
                    if self.watched.contains_key(path) {
                        continue; // the directory's own metadata
                    }
                    let walked = path.parent().is_some_and(|parent| {
                        self.watched.get(parent) == Some(&true) && rules.covers_dir(path)
                    });
                    if walked && !rules.skip_dir(path) {
                        changes.push(Change {
                            path: path.clone(),
                            kind: ChangeKind::Changed,
                        });
                        let mut found = Vec::new();
                        self.add_dir(path, true, rules, events, &mut found);
                        changes.extend(found);
                    }
                }
                Ok(metadata) => {
                    let fingerprint = Fingerprint::of(&metadata);
                    let previous = self.files.insert(path.clone(), fingerprint);
                    if *touch == Touch::Metadata && previous == Some(fingerprint) {
                        continue;
                    }
                    changes.push(Change {
                        path: path.clone(),
                        kind: ChangeKind::Changed,
                    });
                }
                Err(_) => {
                    if self.files.remove(path).is_none() && self.forget_dir(path, events) {
                        removed_dirs.push(path.clone());
                    }
                    changes.push(Change {
                        path: path.clone(),
                        kind: ChangeKind::Removed,
                    });
                }
            }
        }
        // A removed directory's files were removed with it: forget them too.
        if !removed_dirs.is_empty() {
            self.files
                .retain(|path, _| !removed_dirs.iter().any(|dir| path.starts_with(dir)));
        }
        changes
    }

    /// Watches `dir` and, when `walk`, its subdirectories that rules can use; the files found
    /// (and new subdirectories) are pushed to `found` as changes and known from now on.
    fn add_dir(
        &mut self,
        dir: &Path,
        walk: bool,
        rules: &Rules,
        events: &mut Events,
        found: &mut Vec<Change>,
    ) {
        let mut pending = vec![dir.to_path_buf()];
        while let Some(dir) = pending.pop() {
            if self.watched.contains_key(&dir) {
                if !walk || self.watched[&dir] {
                    continue;
                }
            } else if let Err(error) = events.watch(&dir) {
                self.unwatched += 1;
                self.watch_error.get_or_insert_with(|| error.to_string());
            }
            self.watched.insert(dir.clone(), walk);
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() {
                    if walk && !rules.skip_dir(&path) {
                        found.push(Change {
                            path: path.clone(),
                            kind: ChangeKind::Changed,
                        });
                        pending.push(path);
                    }
                } else if let Ok(metadata) = fs::symlink_metadata(&path) {
                    self.files.insert(path.clone(), Fingerprint::of(&metadata));
                    found.push(Change {
                        path,
                        kind: ChangeKind::Changed,
                    });
                }
            }
        }
    }

    /// Drops the watches at and below a directory that is gone; whether it was watched.
    fn forget_dir(&mut self, dir: &Path, events: &mut Events) -> bool {
        let gone: Vec<PathBuf> = self
            .watched
            .range(dir.to_path_buf()..)
            .take_while(|(path, _)| path.starts_with(dir))
            .map(|(path, _)| path.clone())
            .collect();
        let was_watched = !gone.is_empty();
        for path in gone {
            events.unwatch(&path);
            self.watched.remove(&path);
        }
        was_watched
    }

    /// How many directories are watched.
    pub fn watched(&self) -> usize {
        self.watched.len()
    }
}
