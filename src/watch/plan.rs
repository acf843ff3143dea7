//! What a batch of changes means for each service: pure, from the changed paths and the rules, so
//! its `Display` is what the tests compare.
//!
//! Per service, as docker compose combines a batch's triggers: a `rebuild` rule that fires makes
//! the whole batch a rebuild (the new image has the files); else every sync rule that fires syncs
//! its files (copies and removals), then the service restarts once if a `restart` or
//! `sync+restart` rule fired, then each `sync+exec` rule that fired runs its command.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::rules::Rules;
use crate::project::model::WatchAction;

/// A changed path, as the batch found it on disk.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub path: PathBuf,
    pub kind: ChangeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// A file (or a new directory) whose content is to be copied.
    Changed,
    /// A path that no longer exists.
    Removed,
}

/// What one sync rule does: names are relative to `dir`, the container directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sync {
    /// The rule (index in [`Rules::rules`]).
    pub rule: usize,
    pub dir: String,
    /// Host path and the name it gets under `dir`.
    pub copies: Vec<(PathBuf, String)>,
    /// Names under `dir` to remove.
    pub removals: Vec<String>,
}

/// What a batch does to one service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Work {
    /// Changed paths that trigger a rebuild (empty: none).
    pub rebuild: Vec<PathBuf>,
    pub syncs: Vec<Sync>,
    /// Changed paths that trigger a restart (empty: none).
    pub restart: Vec<PathBuf>,
    /// `sync+exec` rules to run.
    pub execs: Vec<usize>,
}

/// What a batch does, by service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub services: BTreeMap<String, Work>,
}

/// Plans a batch of changes.
pub fn plan(rules: &Rules, changes: &[Change]) -> Plan {
    let mut plan = Plan::default();
    for change in changes {
        for (index, relative) in rules.matches(&change.path) {
            let rule = &rules.rules[index];
            let work = plan.services.entry(rule.service.clone()).or_default();
            match rule.action {
                WatchAction::Rebuild => push_new(&mut work.rebuild, &change.path),
                WatchAction::Restart => push_new(&mut work.restart, &change.path),
                WatchAction::Sync | WatchAction::SyncRestart | WatchAction::SyncExec => {
                    let target = rule.target.as_deref().unwrap_or("/");
                    let (dir, name) = if rule.is_dir {
                        (target.to_string(), relative)
                    } else {
                        split_target(target)
                    };
                    let sync = match work.syncs.iter_mut().position(|s| s.rule == index) {
                        Some(at) => &mut work.syncs[at],
                        None => {
                            work.syncs.push(Sync {
                                rule: index,
                                dir,
                                ..Sync::default()
                            });
                            work.syncs.last_mut().expect("just pushed")
                        }
                    };
                    match change.kind {
                        // The rule's directory itself: its files come as their own changes.
                        ChangeKind::Changed if name.is_empty() => {}
                        ChangeKind::Changed => sync.copies.push((change.path.clone(), name)),
                        // The rule's directory removed: empty the target, keep it.
                        ChangeKind::Removed if name.is_empty() => {}
                        ChangeKind::Removed => sync.removals.push(name),
                    }
                    if rule.action == WatchAction::SyncRestart {
                        push_new(&mut work.restart, &change.path);
                    }
                    if rule.action == WatchAction::SyncExec && !work.execs.contains(&index) {
                        work.execs.push(index);
                    }
                }
            }
        }
    }
    for work in plan.services.values_mut() {
        if !work.rebuild.is_empty() {
            work.syncs.clear();
            work.restart.clear();
            work.execs.clear();
        }
        work.syncs
            .retain(|s| !s.copies.is_empty() || !s.removals.is_empty());
    }
    plan.services.retain(|_, work| {
        !(work.rebuild.is_empty()
            && work.syncs.is_empty()
            && work.restart.is_empty()
            && work.execs.is_empty())
    });
    plan
}

fn push_new(list: &mut Vec<PathBuf>, path: &PathBuf) {
    if !list.contains(path) {
        list.push(path.clone());
    }
}

/// A single-file rule's target: its directory and name.
fn split_target(target: &str) -> (String, String) {
    let trimmed = target.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some(("", name)) => ("/".to_string(), name.to_string()),
        Some((dir, name)) => (dir.to_string(), name.to_string()),
        None => ("/".to_string(), trimmed.to_string()),
    }
}

/// Names for a line: all of them when few, else their count.
pub fn names(names: &[String], noun: &str) -> String {
    let plural = if names.len() == 1 { "" } else { "s" };
    if names.len() <= 3 {
        format!("{} {noun}{plural} ({})", names.len(), names.join(", "))
    } else {
        format!("{} {noun}{plural}", names.len())
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |paths: &[PathBuf]| -> Vec<String> {
            paths
                .iter()
                .map(|p| {
                    p.file_name()
                        .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
                })
                .collect()
        };
        for (service, work) in &self.services {
            if !work.rebuild.is_empty() {
                writeln!(
                    f,
                    "{service}: rebuild after {}",
                    names(&shown(&work.rebuild), "change")
                )?;
            }
            for sync in &work.syncs {
                let copies: Vec<String> = sync.copies.iter().map(|(_, n)| n.clone()).collect();
                write!(
                    f,
                    "{service}: sync {} to {}",
                    names(&copies, "file"),
                    sync.dir
                )?;
                if !sync.removals.is_empty() {
                    write!(f, ", remove {}", names(&sync.removals, "path"))?;
                }
                writeln!(f)?;
            }
            if !work.restart.is_empty() {
                writeln!(
                    f,
                    "{service}: restart after {}",
                    names(&shown(&work.restart), "change")
                )?;
            }
            for rule in &work.execs {
                writeln!(f, "{service}: exec rule {rule}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::model::{Build, Develop, Hook, Project, Service, WatchRule};

    fn project(dir: &std::path::Path) -> Project {
        let rule = |action, path: &str, target: Option<&str>| WatchRule {
            action,
            path: dir.join(path).display().to_string(),
            target: target.map(str::to_string),
            exec: (action == WatchAction::SyncExec).then(|| Hook {
                command: vec!["true".into()],
                ..Hook::default()
            }),
            ..WatchRule::default()
        };
        let mut project = Project::default();
        let web = Service {
            build: Some(Build {
                context: dir.display().to_string(),
                ..Build::default()
            }),
            develop: Some(Develop {
                watch: vec![
                    rule(WatchAction::Sync, "src", Some("/app/src")),
                    rule(WatchAction::Rebuild, "package.json", None),
                    rule(
                        WatchAction::SyncRestart,
                        "conf/app.ini",
                        Some("/etc/app.ini"),
                    ),
                    rule(WatchAction::SyncExec, "hooks", Some("/hooks")),
                ],
            }),
            ..Service::default()
        };
        project.services.insert("web".into(), web);
        project
    }

    #[test]
    fn a_batch_becomes_work_per_service() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["src", "conf", "hooks"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("package.json"), "{}").unwrap();
        std::fs::write(dir.path().join("conf/app.ini"), "").unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "src/*.tmp\n").unwrap();
        let (rules, warnings) = Rules::new(&project(dir.path()), &[]).unwrap();
        assert!(warnings.is_empty());
        let change = |path: &str, kind| Change {
            path: dir.path().join(path),
            kind,
        };
        let changes = [
            change("src/a.js", ChangeKind::Changed),
            change("src/lib/b.js", ChangeKind::Changed),
            change("src/x.tmp", ChangeKind::Changed),
            change("src/old.js", ChangeKind::Removed),
            change("conf/app.ini", ChangeKind::Changed),
            change("hooks/run.sh", ChangeKind::Changed),
        ];
        assert_eq!(
            plan(&rules, &changes).to_string(),
            "web: sync 2 files (a.js, lib/b.js) to /app/src, remove 1 path (old.js)\n\
             web: sync 1 file (app.ini) to /etc\n\
             web: sync 1 file (run.sh) to /hooks\n\
             web: restart after 1 change (app.ini)\n\
             web: exec rule 3\n"
        );
        let mut with_rebuild = changes.to_vec();
        with_rebuild.push(change("package.json", ChangeKind::Changed));
        assert_eq!(
            plan(&rules, &with_rebuild).to_string(),
            "web: rebuild after 1 change (package.json)\n"
        );
        assert!(
            plan(&rules, &[change("src/.a.swp", ChangeKind::Changed)])
                .services
                .is_empty()
        );
    }
}
