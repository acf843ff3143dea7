//! `rcompose push` (the images of services with `image:`) and `image push NAME`, through
//! `runtime::registry::push`, with docker's output.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{Context, bail};
use clap::Args;
use runtime::image::{ImageRef, ImageStore};
use runtime::registry::{self, Progress, Settings};

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::output;
use crate::output::progress::{Progress as View, ProgressMode};

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Services whose images to push (all with `image:` when none)
    services: Vec<String>,
    /// Push what it can and ignore images that fail
    #[arg(long)]
    ignore_push_failures: bool,
    /// Also push the images of the services they depend on
    #[arg(long)]
    include_deps: bool,
    /// Push without printing progress
    #[arg(short, long)]
    quiet: bool,
}

/// Pushes the store's image `name` to the registry its name says; prints docker's lines unless
/// `quiet`. Returns the digest line (`TAG: digest: sha256:... size: N`).
pub fn push_image(
    store: &ImageStore,
    root: &Path,
    name: &str,
    quiet: bool,
) -> anyhow::Result<String> {
    let reference = ImageRef::parse(name)?;
    let settings = Settings::load(root)?;
    // `--progress json`: docker compose's events, one per layer, instead of docker's lines.
    let familiar = reference.familiar();
    let json = (output::progress::mode() == ProgressMode::Json && !quiet)
        .then(|| View::new([familiar.as_str()], false));
    if !quiet && json.is_none() {
        output::status(&format!(
            "The push refers to repository [{}]",
            reference.familiar_repository()
        ));
    }
    let lines = Mutex::new(());
    let report = |progress: Progress| {
        if quiet {
            return;
        }
        if let Some(view) = &json {
            let parent = familiar.as_str();
            match progress {
                Progress::Bytes {
                    digest,
                    done,
                    total,
                } => view.layer(
                    digest.short(),
                    parent,
                    "Pushing",
                    Some((done, total)),
                    false,
                ),
                Progress::Exists { digest } => {
                    view.layer(digest.short(), parent, "Layer already exists", None, true)
                }
                Progress::Mounted { digest, from } => view.layer(
                    digest.short(),
                    parent,
                    &format!("Mounted from {from}"),
                    None,
                    true,
                ),
                Progress::Done { digest } => {
                    view.layer(digest.short(), parent, "Pushed", None, true)
                }
                _ => {}
            }
            return;
        }
        let _guard = lines.lock();
        match progress {
            Progress::Exists { digest } => {
                output::status(&format!("{}: Layer already exists", digest.short()))
            }
            Progress::Mounted { digest, from } => {
                output::status(&format!("{}: Mounted from {from}", digest.short()))
            }
            Progress::Done { digest } => output::status(&format!("{}: Pushed", digest.short())),
            _ => {}
        }
    };
    let pushed = registry::push(store, &settings, name, &reference, &report)
        .with_context(|| format!("cannot push {}", reference.familiar()))?;
    Ok(format!(
        "{}: digest: {} size: {}",
        reference.tag().unwrap_or("latest"),
        pushed.digest,
        pushed.size
    ))
}

/// `rcompose image push NAME`.
pub fn image_push(
    store: &ImageStore,
    root: &Path,
    name: &str,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let line = push_image(store, root, name, quiet)?;
    if !quiet {
        output::stdout(&format!("{line}\n"))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `rcompose push`.
pub fn run(global: &GlobalOptions, args: PushArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    scope.check_services(&args.services)?;
    let project = &scope.loaded.project;
    let mut selected: Vec<String> = if args.services.is_empty() {
        project.services.keys().cloned().collect()
    } else {
        args.services.clone()
    };
    if args.include_deps {
        selected = crate::graph::ServiceGraph::new(project)
            .with_dependencies(&selected)
            .into_iter()
            .collect();
    }
    let mut images: Vec<String> = selected
        .iter()
        .filter_map(|name| project.services[name].image.clone())
        .collect();
    images.sort();
    images.dedup();
    let mut failures = Vec::new();
    for image in images {
        match push_image(&scope.engine.images, &scope.engine.root, &image, args.quiet) {
            Ok(line) => {
                if !args.quiet {
                    output::status(&line);
                }
            }
            Err(error) if args.ignore_push_failures => {
                output::warnings(&[format!("{error:#}")]);
            }
            Err(error) => failures.push(format!("{error:#}")),
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("\n"));
    }
    Ok(ExitCode::SUCCESS)
}
