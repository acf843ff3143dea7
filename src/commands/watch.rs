//! `rcompose watch`: start the project (unless `--no-up`), then follow the files of the services'
//! `develop.watch` rules until Ctrl-C (see `crate::watch`). The containers keep running after.
//! With `-d` the watcher runs in the background (`crate::watch::detached`); `--status` and `--stop`
//! look after it.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::Args;

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::output::{
    self,
    progress::{self, ProgressMode},
};
use crate::watch::{self, detached};

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Services to watch (all with `develop.watch` when none)
    services: Vec<String>,
    /// Do not build and start the services before watching
    #[arg(long)]
    no_up: bool,
    /// Prune dangling images on rebuild
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    prune: bool,
    /// Hide build output
    #[arg(long)]
    quiet: bool,
    /// Watch in the background (until `watch --stop` or `down`)
    #[arg(short, long, conflicts_with_all = ["status", "stop"])]
    detach: bool,
    /// Say whether a background watch runs, and show its last lines
    #[arg(long, conflicts_with = "stop")]
    status: bool,
    /// End the background watch
    #[arg(long)]
    stop: bool,
}

/// How many lines of a background watch's log `--status` shows.
const STATUS_LINES: usize = 10;

pub fn run(global: &GlobalOptions, args: WatchArgs) -> anyhow::Result<ExitCode> {
    if args.quiet {
        progress::configure(ProgressMode::Quiet);
    }
    let scope = Scope::open(global, &args.services)?;
    let (root, project) = (&scope.engine.root, &scope.loaded.project.name);
    if args.status {
        let Some(watcher) = detached::running(root, project) else {
            output::status(&format!("no background watch of project {project}"));
            return Ok(ExitCode::FAILURE);
        };
        output::stdout(&format!(
            "watching project {project} in the background (pid {}); its log: {}\n{}\n",
            watcher.pid,
            watcher.log.display(),
            detached::tail(&watcher.log, STATUS_LINES)
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.stop {
        let stopped = detached::stop(root, project)?;
        output::status(&if stopped {
            format!("background watch of project {project} stopped")
        } else {
            format!("no background watch of project {project}")
        });
        return Ok(ExitCode::SUCCESS);
    }
    scope.check_services(&args.services)?;
    if args.detach {
        watch::check(&scope.loaded.project, &args.services)?;
    }
    if !args.no_up {
        super::up::up_detached(&scope, &args.services, false, false)?;
    }
    if args.detach {
        return start_detached(global, &scope, &args.services, args.prune);
    }
    let options = watch::Options {
        services: args.services,
        prune: args.prune,
    };
    watch::run(global, scope, &options, &AtomicBool::new(false))?;
    Ok(ExitCode::SUCCESS)
}

/// Starts the background watch of `scope`'s project (`up -d --watch`, `watch -d`) and says where it
/// is.
pub fn start_detached(
    global: &GlobalOptions,
    scope: &Scope,
    services: &[String],
    prune: bool,
) -> anyhow::Result<ExitCode> {
    let project = &scope.loaded.project.name;
    let watcher = detached::start(global, &scope.engine.root, project, services, prune)?;
    output::status(&format!(
        "Watching in the background (pid {}): `rcompose watch --status` shows it, `rcompose watch --stop` or `down` ends it; its log: {}",
        watcher.pid,
        watcher.log.display()
    ));
    Ok(ExitCode::SUCCESS)
}
