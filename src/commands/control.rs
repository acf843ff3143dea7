//! The verbs that act on existing containers without planning: `stop`, `start`, `restart`, `kill`
//! and `rm`. Each takes optional service names and acts in dependency order (stops in reverse).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use runtime::container::Status;
use runtime::container::spec::signal_from_name;

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::graph::ServiceGraph;
use crate::output::progress::Progress;
use crate::reconcile::apply::{ApplyOptions, stop_timeout};
use crate::reconcile::snapshot::ObservedContainer;

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Services to stop (default: all)
    services: Vec<String>,
    /// Seconds to wait for a container to stop before killing it
    #[arg(short, long)]
    timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Services to start (default: all)
    services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Services to restart (default: all)
    services: Vec<String>,
    /// Seconds to wait for a container to stop before killing it
    #[arg(short, long)]
    timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Services to kill (default: all)
    services: Vec<String>,
    /// Signal to send
    #[arg(short, long, default_value = "SIGKILL")]
    signal: String,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Services whose containers to remove (default: all)
    services: Vec<String>,
    /// Don't ask to confirm removal (rcompose never asks; accepted for compatibility)
    #[arg(short, long)]
    force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short, long)]
    stop: bool,
    /// Remove anonymous volumes attached to the containers
    #[arg(short, long)]
    volumes: bool,
}

/// The project's containers of `services`, ordered for starting (or stopping, reversed).
fn ordered(
    scope: &Scope,
    services: &[String],
    for_stop: bool,
) -> anyhow::Result<Vec<ObservedContainer>> {
    scope.check_services(services)?;
    let graph = ServiceGraph::new(&scope.loaded.project);
    let order = if for_stop {
        graph.stop_order()
    } else {
        graph.start_order()
    };
    let mut containers: Vec<ObservedContainer> = scope
        .containers(services, false)?
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    containers.sort_by_key(|c| {
        (
            order
                .iter()
                .position(|s| *s == c.service)
                .unwrap_or(usize::MAX),
            c.number,
        )
    });
    Ok(containers)
}

fn progress(containers: &[ObservedContainer]) -> Progress {
    Progress::new(containers.iter().map(|c| c.name.as_str()), false)
}

pub fn stop(global: &GlobalOptions, args: StopArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    let _lock = scope.lock()?;
    let containers = ordered(&scope, &args.services, true)?;
    let progress = progress(&containers);
    let options = ApplyOptions {
        timeout: args.timeout,
    };
    for container in containers {
        let started = Instant::now();
        // A dead container (its monitor was killed) may still have processes: stop ends them.
        let status = scope.engine.containers.state(&container.id)?.status;
        if !status.is_active() && status != Status::Dead {
            continue;
        }
        let timeout = stop_timeout(
            &options,
            scope.loaded.project.services.get(&container.service),
        );
        scope
            .engine
            .containers
            .stop(&container.id, Some(timeout))
            .with_context(|| format!("cannot stop {}", container.name))?;
        progress.done("Container", &container.name, "Stopped", started.elapsed());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn start(global: &GlobalOptions, args: StartArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    let _lock = scope.lock()?;
    let containers = ordered(&scope, &args.services, false)?;
    if containers.is_empty() {
        bail!("no containers to start (create them with `rcompose up` or `rcompose create`)");
    }
    let progress = progress(&containers);
    for container in containers {
        let started = Instant::now();
        if scope
            .engine
            .containers
            .state(&container.id)?
            .status
            .is_active()
        {
            continue;
        }
        scope
            .engine
            .containers
            .start(&container.id)
            .with_context(|| format!("cannot start {}", container.name))?;
        progress.done("Container", &container.name, "Started", started.elapsed());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn restart(global: &GlobalOptions, args: RestartArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    let _lock = scope.lock()?;
    let containers = ordered(&scope, &args.services, false)?;
    let progress = progress(&containers);
    let options = ApplyOptions {
        timeout: args.timeout,
    };
    for container in containers {
        let started = Instant::now();
        if scope
            .engine
            .containers
            .state(&container.id)?
            .status
            .is_active()
        {
            let timeout = stop_timeout(
                &options,
                scope.loaded.project.services.get(&container.service),
            );
            scope
                .engine
                .containers
                .stop(&container.id, Some(timeout))
                .with_context(|| format!("cannot stop {}", container.name))?;
        }
        scope
            .engine
            .containers
            .start(&container.id)
            .with_context(|| format!("cannot start {}", container.name))?;
        progress.done("Container", &container.name, "Restarted", started.elapsed());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn kill(global: &GlobalOptions, args: KillArgs) -> anyhow::Result<ExitCode> {
    let signal = signal_from_name(&args.signal)
        .with_context(|| format!("unknown signal {:?}", args.signal))?;
    let scope = Scope::open(global, &args.services)?;
    let _lock = scope.lock()?;
    let containers = ordered(&scope, &args.services, true)?;
    let progress = progress(&containers);
    for container in containers {
        let started = Instant::now();
        if !scope
            .engine
            .containers
            .state(&container.id)?
            .status
            .is_active()
        {
            continue;
        }
        scope
            .engine
            .containers
            .kill(&container.id, signal)
            .with_context(|| format!("cannot kill {}", container.name))?;
        progress.done("Container", &container.name, "Killed", started.elapsed());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rm(global: &GlobalOptions, args: RmArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    let _lock = scope.lock()?;
    let containers = ordered(&scope, &args.services, true)?;
    let progress = progress(&containers);
    let _ = args.force;
    let mut removed = 0;
    for container in containers {
        let started = Instant::now();
        let status = scope.engine.containers.state(&container.id)?.status;
        // A dead container (its monitor was killed) is removed fully: what still runs of it is
        // stopped first, -s or not.
        if status.is_active() || status == Status::Dead {
            if !args.stop && status != Status::Dead {
                continue;
            }
            let timeout = stop_timeout(
                &ApplyOptions::default(),
                scope.loaded.project.services.get(&container.service),
            );
            scope
                .engine
                .containers
                .stop(&container.id, Some(timeout))
                .with_context(|| format!("cannot stop {}", container.name))?;
            progress.done("Container", &container.name, "Stopped", started.elapsed());
        }
        scope
            .engine
            .containers
            .remove(&container.id, false)
            .with_context(|| format!("cannot remove {}", container.name))?;
        if args.volumes {
            let prefix = format!("{}_", container.name);
            for volume in scope
                .engine
                .volumes
                .list()?
                .into_iter()
                .filter(|v| v.name.starts_with(&prefix))
            {
                scope
                    .engine
                    .volumes
                    .remove(&volume.name)
                    .with_context(|| format!("cannot remove volume {}", volume.name))?;
            }
        }
        removed += 1;
        progress.done("Container", &container.name, "Removed", started.elapsed());
    }
    if removed == 0 {
        crate::output::status("No stopped containers");
    }
    Ok(ExitCode::SUCCESS)
}
