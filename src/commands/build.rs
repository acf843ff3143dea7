//! `rcompose build`, and the builds `up` makes: a service's `build:` (context, Dockerfile or inline
//! Dockerfile, args, target, `no_cache`) through the runtime's builder, tagged with the service's
//! `image:` or `<project>-<service>`, with a line per step (`CACHED` when the cache had it).
//!
//! What the builder does not do yet is refused with a clear error: `ADD` and `ONBUILD` in
//! Dockerfiles, and the `build:` keys with no local meaning yet (`additional_contexts`,
//! `secrets`, `ssh`, ...): they are named in the error rather than ignored.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use runtime::build::copy::Context;
use runtime::build::dockerfile::{self, Instruction};
use runtime::build::execute::{Builder, Progress, Settings};
use runtime::build::ignore::{Ignore, ignore_file};
use runtime::build::instructions::program;
use runtime::build::resolve::{BaseConfig, Options, Platform, resolve};
use runtime::image::ImageRef;

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::project::model::{Build, Service};
use crate::reconcile::plan::image_name;

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Services to build (all that have `build:` when none)
    services: Vec<String>,
    /// Do not use the build cache
    #[arg(long)]
    no_cache: bool,
    /// Set a build-time variable (KEY=VALUE, or KEY to take it from the environment)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    build_args: Vec<String>,
    /// Print only the image ids
    #[arg(short, long)]
    quiet: bool,
}

/// What a build is asked for beyond the service's own `build:`.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub no_cache: bool,
    /// `--build-arg` values, over the service's `args`.
    pub build_args: BTreeMap<String, String>,
    pub quiet: bool,
}

pub fn run(global: &GlobalOptions, args: BuildArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    scope.check_services(&args.services)?;
    let mut build_args = BTreeMap::new();
    for entry in &args.build_args {
        match entry.split_once('=') {
            Some((key, value)) => build_args.insert(key.to_owned(), value.to_owned()),
            None => match std::env::var(entry) {
                Ok(value) => build_args.insert(entry.clone(), value),
                Err(_) => continue,
            },
        };
    }
    let options = BuildOptions {
        no_cache: args.no_cache,
        build_args,
        quiet: args.quiet,
    };
    let services: Vec<String> = scope
        .loaded
        .project
        .services
        .iter()
        .filter(|(name, service)| {
            service.build.is_some() && (args.services.is_empty() || args.services.contains(name))
        })
        .map(|(name, _)| name.clone())
        .collect();
    for name in &services {
        let id = build_service(&scope, name, &options)?;
        if args.quiet {
            crate::output::stdout(&format!("{id}\n"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Builds the services of `services` that have `build:` and need it: all with `always`, else those
/// whose image is not in the store (what `up` does before it plans).
pub fn build_for_up(scope: &Scope, services: &[String], always: bool) -> anyhow::Result<()> {
    let project = &scope.loaded.project;
    for (name, service) in &project.services {
        if service.build.is_none() || (!services.is_empty() && !services.contains(name)) {
            continue;
        }
        let image = image_name(project, name, service);
        if always || scope.engine.images.image(&image).is_err() {
            build_service(scope, name, &BuildOptions::default())?;
        }
    }
    Ok(())
}

/// Builds one service's image; returns its id.
pub fn build_service(scope: &Scope, name: &str, options: &BuildOptions) -> anyhow::Result<String> {
    let project = &scope.loaded.project;
    let service: &Service = &project.services[name];
    let build = service
        .build
        .as_ref()
        .with_context(|| format!("service {name:?} has no `build:`"))?;
    refuse_unsupported(name, build)?;
    let context_dir = PathBuf::from(&build.context);
    if !context_dir.is_dir() {
        bail!(
            "service {name:?}: the build context {} is not a directory{}",
            context_dir.display(),
            if build.context.contains("://") || build.context.starts_with("git@") {
                " (remote contexts need a network; clone it and point `context` at the clone)"
            } else {
                ""
            }
        );
    }
    let (dockerfile_path, text) = match &build.dockerfile_inline {
        Some(inline) => (context_dir.join("Dockerfile"), inline.clone()),
        None => {
            let path = context_dir.join(build.dockerfile.as_deref().unwrap_or("Dockerfile"));
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "service {name:?}: cannot read the Dockerfile {}",
                    path.display()
                )
            })?;
            (path, text)
        }
    };
    let at = |error: dockerfile::Error| {
        let hint = error
            .hint
            .map(|h| format!("\n  hint: {h}"))
            .unwrap_or_default();
        anyhow::anyhow!(
            "{}:{}: {}{hint}",
            dockerfile_path.display(),
            error.line,
            error.message
        )
    };
    let parsed = dockerfile::parse(&text).map_err(at)?;
    let stages = program(&parsed).map_err(at)?;
    let mut build_args: BTreeMap<String, String> = build
        .args
        .iter()
        .filter_map(|(key, value)| match value {
            Some(value) => Some((key.clone(), value.clone())),
            None => std::env::var(key).ok().map(|v| (key.clone(), v)),
        })
        .collect();
    build_args.extend(options.build_args.clone());
    let resolve_options = Options {
        build_args,
        target: build.target.clone(),
        platform: Platform::host(),
        escape: parsed.escape,
    };
    let images = &scope.engine.images;
    let base = |reference: &str| -> Result<BaseConfig, String> {
        let image = images.image(reference).map_err(|_| {
            format!(
                "base image {reference} is not in the local store; load it with `rcompose image load` or `image import` (pulling from registries is not supported yet)"
            )
        })?;
        let config = image.config.config().clone().unwrap_or_default();
        Ok(BaseConfig {
            env: config.env().clone().unwrap_or_default(),
            workdir: config.working_dir().clone().unwrap_or_default(),
        })
    };
    let resolved = resolve(&stages, &resolve_options, &base).map_err(at)?;
    let ignore_text = match ignore_file(&dockerfile_path, &context_dir) {
        Some(path) => std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => String::new(),
    };
    let ignore = Ignore::parse(&ignore_text).map_err(|e| anyhow::anyhow!(".dockerignore: {e}"))?;
    let context = Context::dir(context_dir, ignore);
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .map(|v| {
            v.parse::<i64>()
                .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"))
        })
        .transpose()?;
    let builder = Builder {
        store: images,
        runtime: &scope.engine.containers,
        context: Some(&context),
        settings: Settings {
            epoch,
            no_cache: options.no_cache || build.no_cache,
            ..Settings::default()
        },
    };
    let image = image_name(project, name, service);
    let reference = ImageRef::parse(&image)
        .map_err(|e| anyhow::anyhow!("service {name:?}: invalid image name {image:?}: {e}"))?;
    let total: usize = resolved.iter().map(|s| s.steps.len()).sum();
    let instructions: BTreeMap<usize, &Instruction> =
        parsed.instructions.iter().map(|i| (i.line, i)).collect();
    let begin = Instant::now();
    let mut done = 0;
    let mut report = |progress: Progress<'_>| {
        if options.quiet {
            return;
        }
        match progress {
            Progress::Started { .. } => {}
            Progress::Output { line, .. } => {
                crate::output::stderr_line(&format!("{name}  | {line}"))
            }
            Progress::Done {
                step,
                cached,
                elapsed,
                ..
            } => {
                done += 1;
                let text = instructions
                    .get(&step.line)
                    .map_or(String::new(), |i| one_line(&i.original));
                crate::output::stderr_line(&format!(
                    "[{name} {done}/{total}] {text}{}",
                    if cached {
                        " CACHED".to_owned()
                    } else {
                        format!(" {:.1}s", elapsed.as_secs_f64())
                    }
                ));
            }
        }
    };
    let built = builder
        .build(&resolved, Some(&reference), &mut report)
        .map_err(|error| anyhow::anyhow!("{}: {error}", dockerfile_path.display()))
        .with_context(|| format!("service {name:?}: the build failed"))?;
    if !options.quiet {
        crate::output::stderr_line(&format!(
            "✔ Image {image} Built {:.1}s",
            begin.elapsed().as_secs_f64()
        ));
    }
    Ok(built.id.to_string())
}

fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 80 {
        format!("{}...", line.chars().take(77).collect::<String>())
    } else {
        line
    }
}

/// The `build:` keys that mean something the builder cannot do yet.
fn refuse_unsupported(name: &str, build: &Build) -> anyhow::Result<()> {
    let mut keys = Vec::new();
    if !build.additional_contexts.is_empty() {
        keys.push("additional_contexts");
    }
    if !build.secrets.is_empty() {
        keys.push("secrets");
    }
    if !build.extra_hosts.is_empty() {
        keys.push("extra_hosts");
    }
    if build.pull {
        keys.push("pull");
    }
    if !keys.is_empty() {
        bail!(
            "service {name:?}: build {} not supported yet; remove {} to build",
            keys.join(", "),
            if keys.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(())
}
