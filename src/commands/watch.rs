//! `rcompose watch`: start the project (unless `--no-up`), then follow the files of the services'
//! `develop.watch` rules until Ctrl-C (see `crate::watch`). The containers keep running after.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::Args;

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::output::progress::{self, ProgressMode};
use crate::watch;

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
}

pub fn run(global: &GlobalOptions, args: WatchArgs) -> anyhow::Result<ExitCode> {
    if args.quiet {
        progress::configure(ProgressMode::Quiet);
    }
    let scope = Scope::open(global, &args.services)?;
    scope.check_services(&args.services)?;
    if !args.no_up {
        super::up::up_detached(&scope, &args.services, false, false)?;
    }
    let options = watch::Options {
        services: args.services,
        prune: args.prune,
    };
    watch::run(global, scope, &options, &AtomicBool::new(false))?;
    Ok(ExitCode::SUCCESS)
}
