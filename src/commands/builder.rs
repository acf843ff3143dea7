//! `rcompose builder prune`, docker's command for the build cache: forgets the cached steps and
//! removes the layers only the cache held (see `ImageStore::prune_build_cache`), never a layer an
//! image uses. Without `-a`, only the steps whose layer no image uses ("dangling", docker's word);
//! with it, every step, so the next build runs them all again.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use runtime::image::ImageStore;

use crate::cli::GlobalOptions;
use crate::output;

#[derive(Debug, Args)]
pub struct BuilderArgs {
    #[command(subcommand)]
    command: BuilderCommand,
}

#[derive(Debug, Subcommand)]
enum BuilderCommand {
    /// Remove build cache
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
struct PruneArgs {
    /// Remove all build cache, not just the steps whose layer no image uses
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation (rcompose never prompts; accepted for docker compatibility)
    #[arg(short, long)]
    force: bool,
}

/// Runs a `builder` subcommand.
pub fn run(global: &GlobalOptions, args: BuilderArgs) -> anyhow::Result<ExitCode> {
    let root = crate::engine::root(global);
    let store = ImageStore::open(&root)
        .with_context(|| format!("cannot open the image store under {}", root.display()))?;
    match args.command {
        BuilderCommand::Prune(args) => prune(&store, &args),
    }
}

fn prune(store: &ImageStore, args: &PruneArgs) -> anyhow::Result<ExitCode> {
    let (forgotten, report) = store
        .prune_build_cache(args.all)
        .context("cannot prune the build cache")?;
    let mut text = String::new();
    if !forgotten.is_empty() {
        text.push_str("Deleted build cache objects:\n");
        for key in &forgotten {
            text.push_str(key);
            text.push('\n');
        }
        text.push('\n');
    }
    text.push_str(&format!(
        "Total reclaimed space: {}\n",
        output::human::size(report.reclaimed_bytes)
    ));
    output::stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}
