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
        self.walk_all(rules, extra, events, false)
    }

    fn walk_all(
        &mut self,
        rules: &Rules,
        extra: &[PathBuf],
        events: &mut Events,
        rewalk: bool,
    ) -> Vec<Change> {
        let mut found = Vec::new();
        for (root, walk) in rules.roots() {
            self.add_dir(&root, walk, rules, events, &mut found, rewalk);
        }
        for dir in extra {
            if !self.watched.contains_key(dir) {
                self.add_dir(dir, false, rules, events, &mut found, false);
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
        self.walk_all(rules, extra, events, true);
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

    /// Turns a batch's touched paths into changes, watching and walking new directories. Returns
    /// whether a new directory was walked: its files written after the walk come as events,
    /// which the caller gathers into the same action.
    pub fn resolve(
        &mut self,
        batch: &Batch,
        rules: &Rules,
        events: &mut Events,
    ) -> (Vec<Change>, bool) {
        let mut walked = false;
        let mut changes = Vec::new();
        let mut removed_dirs = Vec::new();
        for (path, touch) in &batch.paths {
            match fs::symlink_metadata(path) {
                Ok(metadata) if metadata.is_dir() => {
                    if self.watched.contains_key(path) {
                        continue; // the directory's own metadata
                    }
                    let under_walk = path.parent().is_some_and(|parent| {
                        self.watched.get(parent) == Some(&true) && rules.covers_dir(path)
                    });
                    if under_walk && !rules.skip_dir(path) {
                        changes.push(Change {
                            path: path.clone(),
                            kind: ChangeKind::Changed,
                        });
                        let mut found = Vec::new();
                        self.add_dir(path, true, rules, events, &mut found, false);
                        changes.extend(found);
                        walked = true;
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
        (changes, walked)
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
        rewalk: bool,
    ) {
        let mut pending = vec![dir.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let watched = match self.watched.get(&dir) {
                Some(&walked) if !rewalk && (walked || !walk) => continue,
                Some(_) => true,
                None => match events.watch(&dir) {
                    Ok(()) => true,
                    // Not recorded as watched: the next rescan tries again.
                    Err(error) => {
                        self.unwatched += 1;
                        self.watch_error.get_or_insert_with(|| error.to_string());
                        false
                    }
                },
            };
            if watched {
                self.watched.insert(dir.clone(), walk);
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::model::{Develop, Project, Service, WatchAction, WatchRule};

    fn rules(dir: &Path) -> Rules {
        let mut project = Project::default();
        let service = Service {
            develop: Some(Develop {
                watch: vec![WatchRule {
                    action: WatchAction::Sync,
                    path: dir.display().to_string(),
                    target: Some("/app".into()),
                    ignore: vec!["node_modules".into()],
                    ..WatchRule::default()
                }],
            }),
            ..Service::default()
        };
        project.services.insert("web".into(), service);
        Rules::new(&project, &[]).unwrap().0
    }

    #[test]
    fn walks_skip_ignored_trees_and_rescans_find_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("lib/deep")).unwrap();
        fs::create_dir_all(root.join("node_modules/pkg")).unwrap();
        fs::write(root.join("a.txt"), "a").unwrap();
        fs::write(root.join("lib/deep/b.txt"), "b").unwrap();
        let rules = rules(root);
        let mut events = Events::new().unwrap();
        let mut tree = Tree::default();
        let found = tree.scan(&rules, &[], &mut events);
        // The root, lib and lib/deep: node_modules costs no watch.
        assert_eq!(tree.watched(), 3);
        assert!(found.iter().any(|c| c.path == root.join("lib/deep/b.txt")));
        assert!(
            !found
                .iter()
                .any(|c| c.path.starts_with(root.join("node_modules")))
        );

        // What a lost batch hid comes back from a rescan.
        fs::write(root.join("a.txt"), "changed").unwrap();
        fs::remove_file(root.join("lib/deep/b.txt")).unwrap();
        fs::write(root.join("lib/new.txt"), "n").unwrap();
        let changes = tree.rescan(&rules, &[], &mut events);
        let listed: Vec<(String, ChangeKind)> = changes
            .iter()
            .map(|c| {
                let relative = c.path.strip_prefix(root).unwrap();
                (relative.display().to_string(), c.kind)
            })
            .collect();
        assert_eq!(
            listed,
            [
                ("a.txt".to_string(), ChangeKind::Changed),
                ("lib/deep/b.txt".to_string(), ChangeKind::Removed),
                ("lib/new.txt".to_string(), ChangeKind::Changed),
            ]
        );
        assert!(tree.rescan(&rules, &[], &mut events).is_empty());
    }

    #[test]
    fn an_access_time_alone_is_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        fs::write(&file, "a").unwrap();
        let rules = rules(dir.path());
        let mut events = Events::new().unwrap();
        let mut tree = Tree::default();
        tree.scan(&rules, &[], &mut events);
        let batch = |touch| Batch {
            paths: [(file.clone(), touch)].into_iter().collect(),
            ..Batch::default()
        };
        let status = std::process::Command::new("touch")
            .arg("-a")
            .arg("-d")
            .arg("2001-01-01")
            .arg(&file)
            .status()
            .unwrap();
        assert!(status.success());
        assert!(
            tree.resolve(&batch(Touch::Metadata), &rules, &mut events)
                .0
                .is_empty()
        );
        // A mode change is one.
        let mut permissions = fs::metadata(&file).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o600);
        fs::set_permissions(&file, permissions).unwrap();
        assert_eq!(
            tree.resolve(&batch(Touch::Metadata), &rules, &mut events)
                .0
                .len(),
            1
        );
    }
}
