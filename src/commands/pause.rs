//! `rcompose pause` / `unpause`: freeze and thaw every process of the services' running containers
//! (the cgroup freezer, through the runtime). `ps` then shows them `paused`.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use runtime::container::Status;

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::output::progress::Progress;

#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Services (default: all)
    services: Vec<String>,
}

pub fn pause(global: &GlobalOptions, args: PauseArgs) -> anyhow::Result<ExitCode> {
    freeze(global, args, true)
}

pub fn unpause(global: &GlobalOptions, args: PauseArgs) -> anyhow::Result<ExitCode> {
    freeze(global, args, false)
}

fn freeze(global: &GlobalOptions, args: PauseArgs, paused: bool) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    let _lock = scope.lock()?;
    scope.check_services(&args.services)?;
    let containers = scope.containers(&args.services, false)?;
    // Only containers in the other state change: pausing a paused one is not an error.
    let wanted_from = if paused {
        Status::Running
    } else {
        Status::Paused
    };
    let targets: Vec<_> = containers
        .iter()
        .filter(|(_, info)| info.state.status == wanted_from)
        .collect();
    let progress = Progress::new(targets.iter().map(|(c, _)| c.name.as_str()), false);
    let (verb, done) = if paused {
        ("pause", "Paused")
    } else {
        ("unpause", "Unpaused")
    };
    for (container, _) in targets {
        let started = Instant::now();
        scope
            .engine
            .containers
            .pause(&container.id, paused)
            .with_context(|| format!("cannot {verb} {}", container.name))?;
        progress.done("Container", &container.name, done, started.elapsed());
    }
    Ok(ExitCode::SUCCESS)
}
