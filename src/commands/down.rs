//! `rcompose down`: stop and remove the project's containers in reverse dependency order, its networks
//! (one that other projects' containers still use is kept, with a warning), its volumes with `-v` and
//! its images with `--rmi`. Teardown keeps going after a failure and reports every failure at the
//! end.

use std::process::ExitCode;

use clap::Args;

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::output;
use crate::reconcile::apply::{self, ApplyOptions};
use crate::reconcile::observe::observe;
use crate::reconcile::plan::{self, DownOptions, RemoveImages};

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous
    /// volumes attached to containers
    #[arg(short, long)]
    volumes: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    remove_orphans: bool,
    /// Seconds to wait for containers to stop before killing them
    #[arg(short, long)]
    timeout: Option<u64>,
    /// Remove images used by services: "local" only those without a custom tag ("image" field),
    /// "all" every one
    #[arg(long, value_name = "TYPE")]
    rmi: Option<Rmi>,
    /// Print the plan without doing it
    #[arg(long)]
    dry_run: bool,
}

/// `--rmi`'s values, docker compose's.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Rmi {
    Local,
    All,
}

pub fn run(global: &GlobalOptions, args: DownArgs) -> anyhow::Result<ExitCode> {
    // Every service the files define, whatever profile started it: `down` tears the project down
    // (containers of a profile's services would otherwise hold its network and volumes); `--profile`
    // still chooses.
    let mut everything = global.clone();
    if everything.profiles.is_empty() {
        everything.profiles = vec!["*".to_string()];
    }
    let scope = Scope::open(&everything, &[])?;
    // A background watch first: it would bring the project back at the next compose edit.
    if !args.dry_run {
        crate::watch::detached::remove(&scope.engine.root, &scope.loaded.project.name)?;
    }
    let _lock = scope.lock()?;
    let snapshot = observe(&scope.engine, &scope.loaded.project)?;
    let plan = plan::plan_down(
        &scope.loaded.project,
        &snapshot,
        &DownOptions {
            volumes: args.volumes,
            remove_orphans: args.remove_orphans,
            images: args.rmi.map(|rmi| match rmi {
                Rmi::Local => RemoveImages::Local,
                Rmi::All => RemoveImages::All,
            }),
        },
    );
    if args.dry_run {
        output::stdout(&if plan.is_empty() {
            "nothing to do\n".to_string()
        } else {
            plan.to_string()
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    output::warnings(&plan.warnings);
    let progress = super::scope::plan_progress(&plan);
    let options = ApplyOptions {
        timeout: args.timeout,
    };
    // Every reverse-dependency level at once; a failure does not leave the rest behind.
    let failures: Vec<String> =
        apply::apply_all(&scope.engine, &scope.loaded, &plan, &options, &progress)
            .iter()
            .map(|error| format!("{error:#}"))
            .collect();
    if !failures.is_empty() {
        anyhow::bail!(
            "down finished with {} failure(s):\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
