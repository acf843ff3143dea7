//! `rcompose wait`: block until the services' running containers (one-offs included, as docker
//! compose does) stop; print each exit as docker compose does and exit with the code of the last
//! one. `--down-project` takes the project down once the first container stops.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::output;
use crate::reconcile::apply::{self, ApplyOptions};
use crate::reconcile::observe::observe;
use crate::reconcile::plan::{self, DownOptions};

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Services whose containers to wait for
    #[arg(required = true)]
    services: Vec<String>,
    /// Drops the project when the first container stops
    #[arg(long)]
    down_project: bool,
}

pub fn run(global: &GlobalOptions, args: WaitArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    scope.check_services(&args.services)?;
    let containers: Vec<_> = scope
        .containers(&args.services, false)?
        .into_iter()
        .filter(|(_, info)| info.state.status.is_active())
        .map(|(observed, _)| observed)
        .collect();
    if containers.is_empty() {
        bail!("no containers for project {:?}", scope.loaded.project.name);
    }
    let mut waiting: BTreeSet<usize> = (0..containers.len()).collect();
    let mut last_code = 0;
    runtime::sys::interrupt::catch();
    while !waiting.is_empty() {
        if runtime::sys::interrupt::interrupted() {
            return Ok(ExitCode::from(130));
        }
        for index in waiting.clone() {
            let container = &containers[index];
            let state = scope
                .engine
                .containers
                .state(&container.id)
                .with_context(|| format!("cannot wait for {}", container.name))?;
            if state.status.is_active() {
                continue;
            }
            waiting.remove(&index);
            last_code = state.exit_code.unwrap_or(0);
            output::stdout(&format!(
                "container {:?} exited with status code {last_code}\n",
                container.id
            ))?;
        }
        if args.down_project && waiting.len() < containers.len() {
            down(&scope)?;
            break;
        }
        if !waiting.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(ExitCode::from(last_code.clamp(0, 255) as u8))
}

/// `down --remove-orphans`, through the planner and the executor as `down` does.
fn down(scope: &Scope) -> anyhow::Result<()> {
    let _lock = scope.lock()?;
    let snapshot = observe(&scope.engine, &scope.loaded.project)?;
    let plan = plan::plan_down(
        &scope.loaded.project,
        &snapshot,
        &DownOptions {
            volumes: false,
            remove_orphans: true,
            images: None,
        },
    );
    output::warnings(&plan.warnings);
    let progress = super::scope::plan_progress(&plan);
    apply::apply(
        &scope.engine,
        &scope.loaded,
        &plan,
        &ApplyOptions::default(),
        &progress,
    )
}
