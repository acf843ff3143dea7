//! The `develop.watch` rules of the watched services, compiled once per loaded project: which host
//! paths are watched and, for a changed path, which rules it triggers and under which name.
//!
//! A path triggers a rule when it is at or below the rule's `path` and none of these leaves it out,
//! as docker compose decides (`pkg/compose/watch.go`, `pkg/watch/ephemeral.go`):
//! - a `.git` component, or an editor's temporary or swap file name ([`is_ephemeral`]);
//! - the build context's ignore file (`.dockerignore`, or `<Dockerfile>.dockerignore`), for paths
//!   under the context, matched relative to it;
//! - the rule's `ignore` patterns, relative to the rule's `path`;
//! - the rule's `include` patterns, when it has some: only what they match triggers.
//!
//! Patterns are `.dockerignore` patterns, matched by the builder's own matcher
//! (`runtime::build::ignore`), so a rule leaves out exactly what a build leaves out.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use runtime::build::ignore::{self, Ignore};

use crate::project::model::{Hook, Project, WatchAction};

/// One rule of one service, ready to match paths.
#[derive(Debug, Clone)]
pub struct Rule {
    pub service: String,
    pub action: WatchAction,
    /// The watched host path, absolute.
    pub path: PathBuf,
    /// Whether `path` is a directory (else a single file is watched).
    pub is_dir: bool,
    /// Where synced files go in the container.
    pub target: Option<String>,
    pub exec: Option<Hook>,
    pub initial_sync: bool,
    ignore: Ignore,
    include: Option<Ignore>,
    /// The build context and its ignore file, when the service builds.
    context: Option<(PathBuf, Ignore)>,
}

/// The rules of the watched services.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub rules: Vec<Rule>,
}

impl Rules {
    /// Compiles the rules of `services` (all when empty). Returns the rules and warnings (rules
    /// whose path does not exist are left out with a warning). A rule that cannot work (a sync
    /// without `target`, a rebuild without `build:`, a bad pattern) is an error.
    pub fn new(project: &Project, services: &[String]) -> anyhow::Result<(Rules, Vec<String>)> {
        let mut rules = Vec::new();
        let mut warnings = Vec::new();
        for (name, service) in &project.services {
            if !services.is_empty() && !services.contains(name) {
                continue;
            }
            let Some(develop) = &service.develop else {
                continue;
            };
            let context = match &service.build {
                Some(build) if !build.context.contains("://") => {
                    let dir = PathBuf::from(&build.context);
                    let dockerfile = dir.join(build.dockerfile.as_deref().unwrap_or("Dockerfile"));
                    let patterns = match ignore::ignore_file(&dockerfile, &dir) {
                        Some(file) => {
                            let text = std::fs::read_to_string(&file)
                                .with_context(|| format!("cannot read {}", file.display()))?;
                            Ignore::parse(&text)
                                .with_context(|| format!("invalid {}", file.display()))?
                        }
                        None => Ignore::default(),
                    };
                    Some((dir, patterns))
                }
                _ => None,
            };
            for (index, watch) in develop.watch.iter().enumerate() {
                let what = || format!("service {name}: develop.watch[{index}]");
                let syncs = matches!(
                    watch.action,
                    WatchAction::Sync | WatchAction::SyncRestart | WatchAction::SyncExec
                );
                if syncs && watch.target.is_none() {
                    bail!(
                        "{}: action {} needs a target",
                        what(),
                        action_name(watch.action)
                    );
                }
                if watch.action == WatchAction::Rebuild && service.build.is_none() {
                    bail!(
                        "{}: action rebuild needs the service to have build:",
                        what()
                    );
                }
                if watch.action == WatchAction::SyncExec && watch.exec.is_none() {
                    bail!("{}: action sync+exec needs exec.command", what());
                }
                let path = PathBuf::from(&watch.path);
                let Ok(metadata) = std::fs::metadata(&path) else {
                    warnings.push(format!(
                        "{}: {} does not exist; the rule is not watched",
                        what(),
                        path.display()
                    ));
                    continue;
                };
                let ignore = Ignore::parse(&watch.ignore.join("\n"))
                    .with_context(|| format!("{}: invalid ignore", what()))?;
                let include = if watch.include.is_empty() {
                    None
                } else {
                    Some(
                        Ignore::parse(&watch.include.join("\n"))
                            .with_context(|| format!("{}: invalid include", what()))?,
                    )
                };
                rules.push(Rule {
                    service: name.clone(),
                    action: watch.action,
                    path,
                    is_dir: metadata.is_dir(),
                    target: watch.target.clone(),
                    exec: watch.exec.clone(),
                    initial_sync: watch.initial_sync,
                    ignore,
                    include,
                    context: context.clone(),
                });
            }
        }
        Ok((Rules { rules }, warnings))
    }

    /// The rules `path` triggers, with its name relative to each rule's path (empty for the
    /// rule's path itself).
    pub fn matches(&self, path: &Path) -> Vec<(usize, String)> {
        self.rules
            .iter()
            .enumerate()
            .filter_map(|(index, rule)| rule.relative(path).map(|relative| (index, relative)))
            .collect()
    }

    /// Whether the walk may skip directory `dir`: no rule watching below it can be triggered by
    /// anything in it.
    pub fn skip_dir(&self, dir: &Path) -> bool {
        if dir.file_name().is_some_and(|name| name == ".git") {
            return true;
        }
        !self
            .rules
            .iter()
            .filter(|rule| rule.is_dir && dir.starts_with(&rule.path))
            .any(|rule| !rule.skips_dir(dir))
    }

    /// Whether a directory is under a directory rule (so its new subdirectories are walked).
    pub fn covers_dir(&self, dir: &Path) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.is_dir && dir.starts_with(&rule.path))
    }

    /// The directories to watch: each directory rule's path (walked), and the directory of each
    /// single-file rule (not walked).
    pub fn roots(&self) -> Vec<(PathBuf, bool)> {
        let mut roots: Vec<(PathBuf, bool)> = Vec::new();
        for rule in &self.rules {
            let root = if rule.is_dir {
                (rule.path.clone(), true)
            } else {
                match rule.path.parent() {
                    Some(parent) => (parent.to_path_buf(), false),
                    None => continue,
                }
            };
            if !roots.contains(&root) {
                roots.push(root);
            }
        }
        roots
    }
}

impl Rule {
    /// `path` relative to the rule's path if it triggers the rule.
    fn relative(&self, path: &Path) -> Option<String> {
        let relative = path.strip_prefix(&self.path).ok()?;
        if !self.is_dir && !relative.as_os_str().is_empty() {
            return None;
        }
        let text = relative.to_string_lossy().into_owned();
        if relative.components().any(|c| c.as_os_str() == ".git") {
            return None;
        }
        if path
            .file_name()
            .is_some_and(|name| is_ephemeral(&name.to_string_lossy()))
        {
            return None;
        }
        if let Some((dir, patterns)) = &self.context
            && let Ok(in_context) = path.strip_prefix(dir)
            && patterns.is_excluded(&in_context.to_string_lossy())
        {
            return None;
        }
        if !text.is_empty() && self.ignore.is_excluded(&text) {
            return None;
        }
        if let Some(include) = &self.include
            && !text.is_empty()
            && !include.is_excluded(&text)
        {
            return None;
        }
        Some(text)
    }

    /// Whether nothing under directory `dir` (at or below the rule's path) can trigger the rule.
    fn skips_dir(&self, dir: &Path) -> bool {
        if let Some((context, patterns)) = &self.context
            && let Ok(in_context) = dir.strip_prefix(context)
        {
            let text = in_context.to_string_lossy();
            if patterns.is_excluded(&text) && !patterns.may_include_below(&text) {
                return true;
            }
        }
        let Ok(relative) = dir.strip_prefix(&self.path) else {
            return false;
        };
        let text = relative.to_string_lossy();
        !text.is_empty() && self.ignore.is_excluded(&text) && !self.ignore.may_include_below(&text)
    }
}

/// Whether a file name is an editor's temporary or swap file (docker compose's list,
/// `pkg/watch/ephemeral.go`: JetBrains, Emacs, Vim, Kate, GNOME's gvfs).
pub fn is_ephemeral(name: &str) -> bool {
    name.ends_with("___jb_old___")
        || name.ends_with("___jb_tmp___")
        || name.starts_with(".#")
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
        || name == "4913"
        || name.ends_with('~')
        || (name.starts_with('.')
            && [".swp", ".swx", ".swo", ".swn"]
                .iter()
                .any(|suffix| name.ends_with(suffix)))
        || name.ends_with(".kate-swp")
        || name.starts_with(".goutputstream-")
}

/// The action's name as the compose file spells it.
pub fn action_name(action: WatchAction) -> &'static str {
    match action {
        WatchAction::Sync => "sync",
        WatchAction::Rebuild => "rebuild",
        WatchAction::Restart => "restart",
        WatchAction::SyncRestart => "sync+restart",
        WatchAction::SyncExec => "sync+exec",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(path: &str, ignore: &str, include: &str, context: Option<(&str, &str)>) -> Rule {
        Rule {
            service: "web".into(),
            action: WatchAction::Sync,
            path: PathBuf::from(path),
            is_dir: true,
            target: Some("/app".into()),
            exec: None,
            initial_sync: false,
            ignore: Ignore::parse(ignore).unwrap(),
            include: (!include.is_empty()).then(|| Ignore::parse(include).unwrap()),
            context: context.map(|(dir, text)| (PathBuf::from(dir), Ignore::parse(text).unwrap())),
        }
    }

    #[test]
    fn rules_leave_out_git_editor_files_and_ignored_paths() {
        let rules = Rules {
            rules: vec![rule(
                "/p/src",
                "tmp\n*.log",
                "",
                Some(("/p", "node_modules\nsrc/secret")),
            )],
        };
        let hit = |p: &str| rules.matches(Path::new(p)).first().map(|(_, r)| r.clone());
        assert_eq!(hit("/p/src/a.js").as_deref(), Some("a.js"));
        assert_eq!(hit("/p/src/lib/b.js").as_deref(), Some("lib/b.js"));
        assert_eq!(hit("/p/other/a.js"), None);
        assert_eq!(hit("/p/src/.git/HEAD"), None);
        assert_eq!(hit("/p/src/.a.js.swp"), None);
        assert_eq!(hit("/p/src/a.js~"), None);
        assert_eq!(hit("/p/src/4913"), None);
        assert_eq!(hit("/p/src/#a.js#"), None);
        assert_eq!(hit("/p/src/tmp/x"), None);
        assert_eq!(hit("/p/src/x.log"), None);
        assert_eq!(hit("/p/src/lib/x.log").as_deref(), Some("lib/x.log"));
        assert_eq!(hit("/p/src/secret"), None);
        assert!(rules.skip_dir(Path::new("/p/src/tmp")));
        assert!(rules.skip_dir(Path::new("/p/src/.git")));
        assert!(!rules.skip_dir(Path::new("/p/src/lib")));
    }

    #[test]
    fn include_restricts_what_triggers() {
        let rules = Rules {
            rules: vec![rule("/p", "", "*.js\nlib", None)],
        };
        let hit = |p: &str| !rules.matches(Path::new(p)).is_empty();
        assert!(hit("/p/a.js"));
        assert!(hit("/p/lib/deep/x.txt"));
        assert!(!hit("/p/a.txt"));
        assert!(!hit("/p/sub/a.js"));
    }

    #[test]
    fn editor_files_are_ephemeral() {
        for name in [
            ".main.rs.swp",
            "main.rs~",
            "4913",
            ".#main.rs",
            "#main.rs#",
            "a___jb_tmp___",
        ] {
            assert!(is_ephemeral(name), "{name}");
        }
        for name in ["main.rs", "#", "swp", "a.swp"] {
            assert!(!is_ephemeral(name), "{name}");
        }
    }
}
