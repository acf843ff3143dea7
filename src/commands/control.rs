//! The verbs that act on existing containers without planning: `stop`, `start`, `restart`, `kill`
//! and `rm`. Each takes optional service names and acts in dependency order (stops in reverse), a
//! level of the service graph at once.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use runtime::container::Status;
use runtime::container::spec::signal_from_name;

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::graph::ServiceGraph;
use crate::output::progress::Progress;
use crate::reconcile::apply::{ApplyOptions, parallel_limit, stop_timeout};
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

/// What a verb does to one container, given its status (and the progress view, for extra lines):
/// what to show when it acted, or `None` when there was nothing to do.
type Act<'a> = dyn Fn(&ObservedContainer, Status, &Progress) -> anyhow::Result<Option<&'static str>>
    + Sync
    + 'a;

/// Runs `act` on the project's containers of `services` in dependency order, as docker compose
/// does: one level of the service graph after another (the dependents' level first when
/// `for_stop`), the containers of a level at once (up to `COMPOSE_PARALLEL_LIMIT`, unless
/// `for_stop`). `act` gets a
/// container and its status (see [`Act`]). After a failure the level finishes and no other starts;
/// the first error is returned. Returns how many containers were acted on.
fn each_container(
    scope: &Scope,
    containers: &[ObservedContainer],
    for_stop: bool,
    act: &Act<'_>,
) -> anyhow::Result<usize> {
    let progress = Progress::new(containers.iter().map(|c| c.name.as_str()), false);
    let mut levels = ServiceGraph::new(&scope.loaded.project).levels();
    // Containers of services the project no longer has (orphans) come last.
    let orphans: Vec<String> = containers
        .iter()
        .map(|c| c.service.clone())
        .filter(|s| !scope.loaded.project.services.contains_key(s))
        .collect();
    if for_stop {
        levels.reverse();
    }
    levels.push(orphans);
    let acted = AtomicUsize::new(0);
    let one = |container: &ObservedContainer| -> anyhow::Result<()> {
        let started = Instant::now();
        let status = scope.engine.containers.state(&container.id)?.status;
        if let Some(done) = act(container, status, &progress)? {
            progress.done("Container", &container.name, done, started.elapsed());
            acted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    };
    for level in levels {
        let batch: Vec<&ObservedContainer> = containers
            .iter()
            .filter(|c| level.contains(&c.service))
            .collect();
        // Stopping, killing and removing wait on the kernel rather than work: a whole level at once
        // (a level of containers that ignore SIGTERM then takes one grace period, not one per slot).
        let limit = if for_stop {
            batch.len().max(1)
        } else {
            parallel_limit()
        };
        for chunk in batch.chunks(limit) {
            let results: Vec<anyhow::Result<()>> = std::thread::scope(|threads| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|container| threads.spawn(|| one(container)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| bail!("a worker thread panicked"))
                    })
                    .collect()
            });
            results.into_iter().collect::<anyhow::Result<()>>()?;
        }
    }
    Ok(acted.into_inner())
}

/// The project's containers of `services` (all when empty), after checking the names.
fn containers(scope: &Scope, services: &[String]) -> anyhow::Result<Vec<ObservedContainer>> {
    scope.check_services(services)?;
    Ok(scope
        .containers(services, false)?
        .into_iter()
        .map(|(c, _)| c)
        .collect())
}

/// Stops a container within its grace period (`-t`, else the service's `stop_grace_period`).
fn stop_one(
    scope: &Scope,
    container: &ObservedContainer,
    timeout: Option<u64>,
) -> anyhow::Result<()> {
    let timeout = stop_timeout(
        &ApplyOptions { timeout },
        scope.loaded.project.services.get(&container.service),
    );
    let project = &scope.loaded.project;
    crate::reconcile::hooks::pre_stop(&scope.engine, project, &container.service, &container.id)?;
    scope
        .engine
        .containers
        .stop(&container.id, Some(timeout))
        .with_context(|| format!("cannot stop {}", container.name))?;
    Ok(())
}

fn start_one(scope: &Scope, container: &ObservedContainer) -> anyhow::Result<()> {
    scope
        .engine
        .containers
        .start(&container.id)
        .with_context(|| format!("cannot start {}", container.name))?;
    let project = &scope.loaded.project;
    crate::reconcile::hooks::post_start(&scope.engine, project, &container.service, &container.id)?;
    Ok(())
}

pub fn stop(global: &GlobalOptions, args: StopArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    let _lock = scope.lock()?;
    let containers = containers(&scope, &args.services)?;
    stop_containers(&scope, &containers, args.timeout)?;
    Ok(ExitCode::SUCCESS)
}

/// Stops these containers (those that run) in reverse dependency order, a level at once, each within
/// its grace period (`timeout` seconds, else its service's `stop_grace_period`): `stop`, and an
/// attached `up` after Ctrl-C.
pub(crate) fn stop_containers(
    scope: &Scope,
    containers: &[ObservedContainer],
    timeout: Option<u64>,
) -> anyhow::Result<()> {
    each_container(scope, containers, true, &|container, status, _| {
        // A dead container (its monitor was killed) may still have processes: stop ends them.
        if !status.is_active() && status != Status::Dead {
            return Ok(None);
        }
        stop_one(scope, container, timeout)?;
        Ok(Some("Stopped"))
    })?;
    Ok(())
}

pub fn start(global: &GlobalOptions, args: StartArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    let _lock = scope.lock()?;
    let containers = containers(&scope, &args.services)?;
    if containers.is_empty() {
        bail!("no containers to start (create them with `rcompose up` or `rcompose create`)");
    }
    each_container(&scope, &containers, false, &|container, status, _| {
        if status.is_active() {
            return Ok(None);
        }
        start_one(&scope, container)?;
        Ok(Some("Started"))
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn restart(global: &GlobalOptions, args: RestartArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    let _lock = scope.lock()?;
    let containers = containers(&scope, &args.services)?;
    each_container(&scope, &containers, false, &|container, status, _| {
        if status.is_active() {
            stop_one(&scope, container, args.timeout)?;
        }
        start_one(&scope, container)?;
        Ok(Some("Restarted"))
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn kill(global: &GlobalOptions, args: KillArgs) -> anyhow::Result<ExitCode> {
    let signal = signal_from_name(&args.signal)
        .with_context(|| format!("unknown signal {:?}", args.signal))?;
    let scope = Scope::open(global, &args.services)?;
    let _lock = scope.lock()?;
    let containers = containers(&scope, &args.services)?;
    each_container(&scope, &containers, true, &|container, status, _| {
        if !status.is_active() {
            return Ok(None);
        }
        scope
            .engine
            .containers
            .kill(&container.id, signal)
            .with_context(|| format!("cannot kill {}", container.name))?;
        Ok(Some("Killed"))
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn rm(global: &GlobalOptions, args: RmArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    let _lock = scope.lock()?;
    let containers = containers(&scope, &args.services)?;
    let _ = args.force;
    let removed = each_container(&scope, &containers, true, &|container, status, progress| {
        // A dead container (its monitor was killed) is removed fully: what still runs of it is
        // stopped first, -s or not.
        if status.is_active() || status == Status::Dead {
            if !args.stop && status != Status::Dead {
                return Ok(None);
            }
            let started = Instant::now();
            stop_one(&scope, container, None)?;
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
        Ok(Some("Removed"))
    })?;
    if removed == 0 {
        crate::output::status("No stopped containers");
    }
    Ok(ExitCode::SUCCESS)
}
