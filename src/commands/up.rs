//! `rcompose up`: plan the work that brings the runtime to the project, show or apply it, and (unless
//! detached) follow the containers' logs until they exit or Ctrl-C stops them.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::output;
use crate::output::progress::Progress;
use crate::reconcile::apply::{self, ApplyOptions};
use crate::reconcile::observe::observe;
use crate::reconcile::plan::{self, PlanOptions, Recreate};

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Services to start (with their dependencies)
    services: Vec<String>,
    /// Detached mode: run containers in the background
    #[arg(short, long)]
    detach: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long, conflicts_with = "no_recreate")]
    force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long)]
    no_recreate: bool,
    /// Don't start linked services
    #[arg(long)]
    no_deps: bool,
    /// Don't start the services after creating them
    #[arg(long)]
    no_start: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    remove_orphans: bool,
    /// Scale SERVICE to NUM instances (overrides `scale` and `deploy.replicas`)
    #[arg(long, value_name = "SERVICE=NUM")]
    scale: Vec<String>,
    /// Seconds to wait for containers to stop before killing them
    #[arg(short, long)]
    timeout: Option<u64>,
    /// Print the plan (what would be done and why) without doing it
    #[arg(long)]
    dry_run: bool,
    /// Produce monochrome output
    #[arg(long)]
    no_color: bool,
    /// Don't print a prefix in logs
    #[arg(long)]
    no_log_prefix: bool,
    /// Show timestamps in logs
    #[arg(long)]
    timestamps: bool,
}

/// `rcompose create`: `up --no-start`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Services to create (with their dependencies)
    services: Vec<String>,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long, conflicts_with = "no_recreate")]
    force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long)]
    no_recreate: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    remove_orphans: bool,
    /// Scale SERVICE to NUM instances
    #[arg(long, value_name = "SERVICE=NUM")]
    scale: Vec<String>,
    /// Print the plan without doing it
    #[arg(long)]
    dry_run: bool,
}

pub fn create(global: &GlobalOptions, args: CreateArgs) -> anyhow::Result<ExitCode> {
    let up = UpArgs {
        services: args.services,
        detach: true,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        no_deps: false,
        no_start: true,
        remove_orphans: args.remove_orphans,
        scale: args.scale,
        timeout: None,
        dry_run: args.dry_run,
        no_color: false,
        no_log_prefix: false,
        timestamps: false,
    };
    converge(global, &up).map(|_| ExitCode::SUCCESS)
}

/// Plans and applies the project (or prints the plan with `--dry-run`, returning `None`).
fn converge(
    global: &GlobalOptions,
    args: &UpArgs,
) -> anyhow::Result<Option<(Scope, Progress, ApplyOptions)>> {
    let scope = Scope::open(global, &args.services)?;
    scope.check_services(&args.services)?;
    let mut scale = BTreeMap::new();
    for entry in &args.scale {
        let (service, count) = entry
            .split_once('=')
            .with_context(|| format!("invalid --scale {entry:?}: use SERVICE=NUM"))?;
        let count: u32 = count
            .parse()
            .with_context(|| format!("invalid --scale {entry:?}: NUM must be a number"))?;
        scale.insert(service.to_string(), count);
    }
    let options = PlanOptions {
        services: args.services.clone(),
        no_deps: args.no_deps,
        recreate: if args.force_recreate {
            Recreate::Force
        } else if args.no_recreate {
            Recreate::Never
        } else {
            Recreate::Diverged
        },
        remove_orphans: args.remove_orphans,
        scale,
        start: !args.no_start,
    };
    let lock = scope.lock()?;
    let snapshot = observe(&scope.engine, &scope.loaded.project)?;
    let plan = plan::plan(&scope.loaded.project, &snapshot, &options)?;
    if args.dry_run {
        output::stdout(&if plan.is_empty() {
            "nothing to do\n".to_string()
        } else {
            plan.to_string()
        })?;
        return Ok(None);
    }
    output::warnings(&plan.warnings);
    apply::check_images(&scope.engine, &scope.loaded, &plan)?;
    super::port_check::check(&scope, &plan)?;
    let progress = super::scope::plan_progress(&plan);
    let apply_options = ApplyOptions {
        timeout: args.timeout,
    };
    apply::apply(
        &scope.engine,
        &scope.loaded,
        &plan,
        &apply_options,
        &progress,
    )?;
    drop(lock);
    Ok(Some((scope, progress, apply_options)))
}

pub fn run(global: &GlobalOptions, args: UpArgs) -> anyhow::Result<ExitCode> {
    let Some((scope, progress, apply_options)) = converge(global, &args)? else {
        return Ok(ExitCode::SUCCESS);
    };
    if args.detach || args.no_start {
        return Ok(ExitCode::SUCCESS);
    }
    let services = if args.services.is_empty() {
        Vec::new()
    } else {
        args.services.clone()
    };
    let follow = super::logs::Follow {
        timestamps: args.timestamps,
        prefix: !args.no_log_prefix,
        color: !args.no_color,
        tail: None,
    };
    let interrupted = super::logs::follow_until_exit(&scope, &services, &follow)?;
    if interrupted {
        crate::output::status("Gracefully stopping... (press Ctrl+C again to force)");
        let containers = scope.containers(&services, false)?;
        for (observed, info) in containers.iter().rev() {
            if !info.state.status.is_active() {
                continue;
            }
            let timeout = apply::stop_timeout(
                &apply_options,
                scope.loaded.project.services.get(&observed.service),
            );
            let started = std::time::Instant::now();
            if let Err(error) = scope.engine.containers.stop(&observed.id, Some(timeout)) {
                bail!("cannot stop {}: {error}", observed.name);
            }
            progress.done("Container", &observed.name, "Stopped", started.elapsed());
        }
    }
    Ok(ExitCode::SUCCESS)
}
