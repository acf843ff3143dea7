//! Watch mode (`rcompose watch`, `up --watch`): the running project follows the files on disk.
//!
//! One loop, one job per module:
//! - `rules.rs`: the services' `develop.watch` rules, compiled: which paths trigger which rule;
//! - `events.rs`: inotify events (through `notify`) gathered into batches (20 ms quiet, 200 ms once
//!   a batch is bulk, 3 s cap);
//! - `tree.rs`: the watched directories (our own walk, ignored trees skipped) and what the files
//!   looked like, turning a batch into changes (new directories walked at once, access times
//!   alone ignored, rescans after lost events);
//! - `plan.rs`: changes → what each service must do (pure; its `Display` is the tests' oracle);
//! - `act.rs`: sync through the runtime's copy helper, rebuild and recreate through the
//!   reconciler, restart, exec.
//!
//! Beyond docker compose: a change to a compose file, the `.env` file or a service's `env_file`
//! loads the project again and applies it (`up -d`); an edit that does not load prints its
//! diagnostics (`file:line`) and leaves the project running as it was until the file is fixed.
//!
//! Every action prints one line: the service, the files (or their count) and the time it took.

mod act;
pub mod detached;
mod events;
mod plan;
mod rules;
mod tree;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::cli::GlobalOptions;
use crate::commands::scope::Scope;
use crate::output;
use crate::project;
use crate::reconcile::snapshot::ObservedContainer;

use self::events::Events;
use self::plan::{Change, Work};
use self::rules::Rules;
use self::tree::Tree;

/// How long the loop waits for events before it looks at Ctrl-C again.
const IDLE: Duration = Duration::from_millis(250);
/// How often trees are scanned again while some directory could not be watched.
const DEGRADED_RESCAN: Duration = Duration::from_secs(2);

/// What the user asked of the watch.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Services to watch (all when empty).
    pub services: Vec<String>,
    /// Remove the image a rebuild replaced when nothing uses or names it.
    pub prune: bool,
}

/// Watches until Ctrl-C (or `stop`), acting on each batch of changes.
pub fn run(
    global: &GlobalOptions,
    scope: Scope,
    options: &Options,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    check(&scope.loaded.project, &options.services)?;
    let (rules, warnings) = Rules::new(&scope.loaded.project, &options.services)?;
    output::warnings(&warnings);
    runtime::sys::interrupt::catch();
    let mut session = Session {
        global,
        options,
        config: config_files(&scope),
        scope,
        rules,
        tree: Tree::default(),
        events: Events::new()?,
        waiting: BTreeMap::new(),
    };
    session.start();
    session.watch(stop);
    Ok(())
}

/// Fails, as docker compose does, when no selected service has a `develop` section, or when a
/// rule cannot work (a sync without `target`, ...): what `up --watch` checks before it starts.
pub fn check(project: &crate::project::model::Project, services: &[String]) -> anyhow::Result<()> {
    let has_develop = project
        .services
        .iter()
        .filter(|(name, _)| services.is_empty() || services.contains(name))
        .any(|(_, service)| service.develop.is_some());
    if !has_develop {
        anyhow::bail!(
            "none of the selected services is configured for watch, consider setting a 'develop' section"
        );
    }
    Rules::new(project, services).map(drop)
}

struct Session<'a> {
    global: &'a GlobalOptions,
    options: &'a Options,
    scope: Scope,
    rules: Rules,
    /// Compose files, `.env` and `env_file`s: a change loads the project again.
    config: BTreeSet<PathBuf>,
    tree: Tree,
    events: Events,
    /// Syncs for containers that were restarting when their files changed, by container id: they
    /// get them as soon as they run again.
    waiting: BTreeMap<String, Waiting>,
}

struct Waiting {
    service: String,
    container: ObservedContainer,
    syncs: Vec<plan::Sync>,
}

impl Session<'_> {
    fn config_dirs(&self) -> Vec<PathBuf> {
        let dirs: BTreeSet<PathBuf> = self
            .config
            .iter()
            .filter_map(|file| file.parent().map(PathBuf::from))
            .collect();
        dirs.into_iter().collect()
    }

    /// Watches the trees, runs the initial syncs and says so.
    fn start(&mut self) {
        let started = Instant::now();
        let found = self
            .tree
            .scan(&self.rules, &self.config_dirs(), &mut self.events);
        self.report_watch_limit();
        let initial = Rules {
            rules: self
                .rules
                .rules
                .iter()
                .filter(|rule| rule.initial_sync && rule.target.is_some())
                .cloned()
                .collect(),
        };
        if !initial.rules.is_empty() {
            let planned = plan::plan(&initial, &found);
            for (service, work) in &planned.services {
                let syncs_only = Work {
                    syncs: work.syncs.clone(),
                    ..Work::default()
                };
                self.act(service, &syncs_only, &initial);
            }
        }
        output::status(&format!(
            "Watch enabled: {} rules, {} directories watched ({})",
            self.rules.rules.len(),
            self.tree.watched(),
            act::took(started.elapsed())
        ));
    }

    fn watch(&mut self, stop: &AtomicBool) {
        let mut last_rescan = Instant::now();
        while !stop.load(Ordering::SeqCst) && !runtime::sys::interrupt::interrupted() {
            self.sync_restarted();
            let Some(batch) = self.events.next_batch(IDLE) else {
                if self.tree.unwatched > 0 && last_rescan.elapsed() > DEGRADED_RESCAN {
                    last_rescan = Instant::now();
                    let changes =
                        self.tree
                            .rescan(&self.rules, &self.config_dirs(), &mut self.events);
                    self.apply(&changes);
                }
                continue;
            };
            let watched_before = self.tree.unwatched;
            let changes = if batch.rescan || !batch.errors.is_empty() {
                for error in &batch.errors {
                    output::warnings(&[format!("watch: {error}")]);
                }
                output::warnings(&[
                    "watch: file events were lost (the kernel's event queue overflowed or a watch \
                     failed): scanning the watched trees again"
                        .to_string(),
                ]);
                last_rescan = Instant::now();
                self.tree
                    .rescan(&self.rules, &self.config_dirs(), &mut self.events)
            } else {
                self.resolve(&batch)
            };
            if self.tree.unwatched > watched_before {
                self.report_watch_limit();
            }
            self.apply(&changes);
        }
    }

    /// A batch's changes. When it brought new directories, the files written into them after
    /// their walk come as events: those are gathered too (a bulk quiet period at most), so that a
    /// checkout that makes directories is one action. A path changed twice counts once.
    fn resolve(&mut self, batch: &events::Batch) -> Vec<Change> {
        let (mut changes, mut walked) = self.tree.resolve(batch, &self.rules, &mut self.events);
        let started = Instant::now();
        while walked && started.elapsed() < events::CAP {
            let Some(more) = self.events.next_batch(events::BULK_QUIET) else {
                break;
            };
            let (more, again) = self.tree.resolve(&more, &self.rules, &mut self.events);
            changes.extend(more);
            walked = again;
        }
        let mut last: std::collections::BTreeMap<PathBuf, plan::ChangeKind> = Default::default();
        for change in changes {
            last.insert(change.path, change.kind);
        }
        last.into_iter()
            .map(|(path, kind)| Change { path, kind })
            .collect()
    }

    /// Acts on a batch's changes: a configuration change first (it may change the rules), then
    /// each service's work.
    fn apply(&mut self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        let config: Vec<&Change> = changes
            .iter()
            .filter(|c| self.config.contains(&c.path))
            .collect();
        if !config.is_empty() {
            let names: Vec<String> = config.iter().map(|c| file_name(&c.path)).collect();
            self.reload(&names);
        }
        let planned = plan::plan(&self.rules, changes);
        let rules = self.rules.clone();
        for (service, work) in &planned.services {
            self.act(service, work, &rules);
        }
    }

    /// Carries out one service's work, a line per action.
    fn act(&mut self, service: &str, work: &Work, rules: &Rules) {
        let scope = &self.scope;
        if !work.rebuild.is_empty() {
            let started = Instant::now();
            let changed = changed_names(&work.rebuild);
            output::status(&format!("{service}: rebuilding after {changed}"));
            match act::rebuild(scope, service, self.options.prune) {
                Ok(()) => output::status(&format!(
                    "{service}: rebuilt and recreated after {changed} in {}",
                    act::took(started.elapsed())
                )),
                Err(error) => report_failure(service, "rebuild", &error),
            }
            return;
        }
        if !work.syncs.is_empty() {
            let started = Instant::now();
            match act::sync(scope, service, &work.syncs) {
                Ok(synced) => {
                    for container in synced.restarting {
                        self.waiting
                            .entry(container.id.clone())
                            .or_insert_with(|| Waiting {
                                service: service.to_string(),
                                container,
                                syncs: Vec::new(),
                            })
                            .syncs
                            .extend(work.syncs.iter().cloned());
                    }
                    let containers = synced.into;
                    let copies: Vec<String> = work
                        .syncs
                        .iter()
                        .flat_map(|s| s.copies.iter().map(|(_, name)| name.clone()))
                        .collect();
                    let removals: Vec<String> = work
                        .syncs
                        .iter()
                        .flat_map(|s| s.removals.iter().cloned())
                        .collect();
                    let mut what = Vec::new();
                    if !copies.is_empty() {
                        what.push(format!("synced {}", plan::names(&copies, "file")));
                    }
                    if !removals.is_empty() {
                        what.push(format!("removed {}", plan::names(&removals, "path")));
                    }
                    let into = if containers.is_empty() {
                        "no running container".to_string()
                    } else {
                        containers.join(", ")
                    };
                    output::status(&format!(
                        "{service}: {} in {into} in {}",
                        what.join(", "),
                        act::took(started.elapsed())
                    ));
                }
                Err(error) => report_failure(service, "sync", &error),
            }
        }
        if !work.restart.is_empty() {
            let started = Instant::now();
            match act::restart(scope, &[service.to_string()]) {
                Ok(_) => output::status(&format!(
                    "{service}: restarted after {} in {}",
                    changed_names(&work.restart),
                    act::took(started.elapsed())
                )),
                Err(error) => report_failure(service, "restart", &error),
            }
        }
        for rule in &work.execs {
            let started = Instant::now();
            let command = rules.rules[*rule]
                .exec
                .as_ref()
                .map(|hook| hook.command.join(" "))
                .unwrap_or_default();
            match act::exec(scope, rules, *rule) {
                Ok(codes) => {
                    let codes: Vec<String> = codes
                        .iter()
                        .map(|(name, code)| format!("{name}: exit {code}"))
                        .collect();
                    output::status(&format!(
                        "{service}: ran {command:?} ({}) in {}",
                        codes.join(", "),
                        act::took(started.elapsed())
                    ));
                }
                Err(error) => report_failure(service, "exec", &error),
            }
        }
    }

    /// Gives the containers that were restarting when their files changed the syncs they missed,
    /// once they run again (a whole batch's files are read as they are now).
    fn sync_restarted(&mut self) {
        let ids: Vec<String> = self.waiting.keys().cloned().collect();
        for id in ids {
            let waiting = &self.waiting[&id];
            let started = Instant::now();
            let result = act::sync_later(
                &self.scope,
                &waiting.service,
                &waiting.container,
                &waiting.syncs,
            );
            let name = &waiting.container.name;
            match result {
                Ok(act::Later::Waiting) => continue,
                Ok(act::Later::Synced) => output::status(&format!(
                    "{}: synced the changes made while it restarted into {name} in {}",
                    waiting.service,
                    act::took(started.elapsed())
                )),
                Ok(act::Later::Gone) => output::status(&format!(
                    "{}: {name} stopped before it took the changes made while it restarted",
                    waiting.service
                )),
                Err(error) => report_failure(&waiting.service, "sync", &error),
            }
            self.waiting.remove(&id);
        }
    }

    /// Loads the project again after its files changed and applies it; a project that does not
    /// load leaves everything as it is.
    fn reload(&mut self, changed: &[String]) {
        let started = Instant::now();
        let loaded = crate::commands::load_options(self.global, &self.options.services, true)
            .and_then(|options| project::load(options).map_err(anyhow::Error::from));
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(error) => {
                output::report_error(&error);
                output::status(&format!(
                    "{} changed but does not load: the project keeps running as it was",
                    changed.join(", ")
                ));
                return;
            }
        };
        output::warnings(&loaded.warnings);
        let rules = match Rules::new(&loaded.project, &self.options.services) {
            Ok((rules, warnings)) => {
                output::warnings(&warnings);
                rules
            }
            Err(error) => {
                output::report_error(&error);
                output::status("the project keeps running as it was");
                return;
            }
        };
        self.scope.loaded = loaded;
        if let Err(error) =
            crate::commands::up::up_detached(&self.scope, &self.options.services, false, false)
        {
            output::report_error(&error);
            output::status(&format!(
                "{} changed: the project could not be applied",
                changed.join(", ")
            ));
        } else {
            output::status(&format!(
                "{} changed: project applied in {}",
                changed.join(", "),
                act::took(started.elapsed())
            ));
        }
        self.rules = rules;
        self.config = config_files(&self.scope);
        self.tree.clear(&mut self.events);
        self.tree
            .scan(&self.rules, &self.config_dirs(), &mut self.events);
        self.report_watch_limit();
    }

    fn report_watch_limit(&self) {
        if self.tree.unwatched == 0 {
            return;
        }
        let limit = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into());
        output::warnings(&[format!(
            "watch: {} directories could not be watched ({}); the inotify limit is \
             fs.inotify.max_user_watches = {limit} (raise it with sysctl); until then the trees \
             are scanned every {} s",
            self.tree.unwatched,
            self.tree.watch_error.as_deref().unwrap_or("unknown error"),
            DEGRADED_RESCAN.as_secs()
        )]);
    }
}

/// The files whose change loads the project again.
fn config_files(scope: &Scope) -> BTreeSet<PathBuf> {
    let loaded = &scope.loaded;
    // Included and extended files too; a service's `env_file` also when it is missing today
    // (`required: false`), so that creating it is seen.
    let mut files: BTreeSet<PathBuf> = loaded
        .config_files
        .iter()
        .chain(&loaded.env_files)
        .chain(&loaded.read_files)
        .map(|file| loaded.working_dir.join(file))
        .collect();
    for service in loaded.project.services.values() {
        files.extend(
            service
                .env_file
                .iter()
                .map(|env| loaded.working_dir.join(&env.path)),
        );
    }
    files
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

fn changed_names(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| file_name(p)).collect();
    plan::names(&names, "change")
}

fn report_failure(service: &str, action: &str, error: &anyhow::Error) {
    output::stderr_line(&format!("{service}: {action} failed: {error:#}"));
}
