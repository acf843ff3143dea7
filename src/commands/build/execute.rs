//! Carrying out one [`Recipe`]: the Dockerfile read, parsed and resolved (errors as `path:line`),
//! the contexts and secrets made ready, the runtime's builder run with the recipe's settings, and
//! the image stored under every name the services sharing it want.
//!
//! Secrets from `environment:` are written for the build only: a 0600 file in a 0700 directory
//! of the state root, removed when the build ends, and (should rcompose be killed) by the next
//! build once the process that wrote it is gone.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};
use runtime::build::bridge::BuildBridge;
use runtime::build::copy::Context;
use runtime::build::dockerfile::{self, Instruction};
use runtime::build::execute::{Builder, Progress, Settings, StepNetwork};
use runtime::build::ignore::{Ignore, ignore_file};
use runtime::build::instructions::{CommandKind, program};
use runtime::build::mounts::RunMount;
use runtime::build::resolve::{BaseConfig, Options, Platform, ResolvedStage, Step, resolve};
use runtime::image::ImageStore;

use super::recipe::{Dockerfile, ImageName, NamedContext, Network, Recipe, Secret};
use super::report::Report;
use crate::engine::Engine;

/// One build to make: a recipe and who wants it.
#[derive(Debug)]
pub struct Job {
    pub recipe: Recipe,
    /// The services built by it (in name order; the first names the build in progress lines).
    pub services: Vec<String>,
    /// Every name the image gets (each service's image name and `tags`), the first given by the
    /// builder, the others tagged after.
    pub names: Vec<ImageName>,
    /// For `additional_contexts: service:NAME`: the image name of each such service.
    pub service_images: BTreeMap<String, String>,
}

/// Builds `job`; returns the image id.
pub fn build(engine: &Engine, job: &Job, report: &Report) -> anyhow::Result<String> {
    let label = job.services.first().map_or("", String::as_str);
    let recipe = &job.recipe;
    let context_dir = &recipe.context;
    if !context_dir.is_dir() {
        bail!(
            "the build context {} is not a directory",
            context_dir.display()
        );
    }
    let (dockerfile_path, text) = match &recipe.dockerfile {
        Dockerfile::Inline(text) => (context_dir.join("Dockerfile"), text.clone()),
        Dockerfile::Path(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the Dockerfile {}", path.display()))?;
            (path.clone(), text)
        }
    };
    // Where errors point: the file, or the compose key for an inline Dockerfile (its file name in
    // the context is only where `.dockerignore` rules are looked for).
    let shown = match &recipe.dockerfile {
        Dockerfile::Inline(_) => "dockerfile_inline".to_string(),
        Dockerfile::Path(path) => path.display().to_string(),
    };
    let at = |error: dockerfile::Error| {
        let hint = error
            .hint
            .map(|h| format!("\n  hint: {h}"))
            .unwrap_or_default();
        anyhow::anyhow!("{shown}:{}: {}{hint}", error.line, error.message)
    };
    let parsed = dockerfile::parse(&text).map_err(at)?;
    let stages = program(&parsed).map_err(at)?;
    let resolve_options = Options {
        build_args: recipe.args.clone(),
        target: recipe.target.clone(),
        platform: Platform::host(),
        escape: parsed.escape,
    };
    let images = &engine.images;
    // Base images come from the store, pulled when it lacks them (each once per build with
    // `pull`).
    let pulled = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let fetch = |reference: &str| -> anyhow::Result<runtime::image::Image> {
        if recipe.pull && pulled.borrow_mut().insert(reference.to_owned()) {
            return crate::commands::pull::pull_image(images, &engine.root, reference);
        }
        crate::commands::pull::ensure_image(images, &engine.root, reference)
    };
    let base = |reference: &str| -> Result<BaseConfig, String> {
        let image =
            fetch(reference).map_err(|error| format!("base image {reference}: {error:#}"))?;
        Ok(BaseConfig::of_image(&image))
    };
    let resolved = resolve(&stages, &resolve_options, &base).map_err(at)?;
    // Images `COPY --from` and `RUN --mount=from=` read, fetched as the bases are.
    for reference in images_read(&resolved, &recipe.contexts) {
        fetch(&reference).with_context(|| format!("{shown}: image {reference}"))?;
    }
    let ignore = read_ignore(ignore_file(&dockerfile_path, context_dir))?;
    let context = Context::dir(context_dir.clone(), ignore);
    let named_contexts = recipe
        .contexts
        .iter()
        .map(|(name, named)| {
            named_context(images, &engine.root, named, &job.service_images)
                .map(|context| (name.clone(), context))
                .with_context(|| format!("build.additional_contexts.{name}"))
        })
        .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
    let secret_files = SecretFiles::write(&engine.root, &recipe.secrets)?;
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .map(|v| {
            v.parse::<i64>()
                .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"))
        })
        .transpose()?;
    let mut settings = Settings {
        epoch,
        no_cache: recipe.no_cache,
        labels: recipe.labels.clone(),
        extra_hosts: recipe.extra_hosts.clone(),
        shm_size: recipe.shm_size,
        named_contexts,
        secrets: secret_files.paths.clone(),
        ..Settings::default()
    };
    let offline = matches!(
        std::env::var("RCOMPOSE_OFFLINE").as_deref(),
        Ok("1" | "true" | "yes")
    );
    settings.network = match recipe.network {
        // Offline (RCOMPOSE_OFFLINE), a step reaches nothing off this machine: no network unless
        // the build asks for one.
        Network::Default if offline => StepNetwork::None,
        // As docker's builds: a bridge with a way out (unless RCOMPOSE_MASQUERADE says no), made
        // for the build and removed after it.
        Network::Default => StepNetwork::Bridge(BuildBridge {
            networks: engine.networks.clone(),
            masquerade: crate::reconcile::networks::masquerade_default()?,
        }),
        Network::None => StepNetwork::None,
        Network::Host => StepNetwork::Host,
    };
    let builder = Builder {
        store: images,
        runtime: &engine.containers,
        context: Some(&context),
        settings,
    };
    let Some((first, others)) = job.names.split_first() else {
        bail!("a build without an image name");
    };
    let instructions: BTreeMap<usize, &Instruction> =
        parsed.instructions.iter().map(|i| (i.line, i)).collect();
    let text_of = |line: usize| {
        instructions
            .get(&line)
            .map_or(String::new(), |i| one_line(&i.original))
    };
    let numbering = Numbering::new(label, &resolved, &stages, &text_of);
    let begin = Instant::now();
    let image = first.text.clone();
    report.started(label, &image);
    let mut from_shown = std::collections::HashSet::new();
    let mut progress = |progress: Progress<'_>| match progress {
        Progress::Started { stage, step } => {
            let Some(shown) = numbering.step(step) else {
                return;
            };
            // The stage's FROM first, as docker shows it.
            if from_shown.insert(stage)
                && let Some(from) = numbering.from(stage)
            {
                report.stage_from(&from.label, from.total, &from.text);
            }
            report.step_started(
                &shown.label,
                &image,
                shown.number,
                shown.total,
                &text_of(step.line),
            )
        }
        Progress::Output { line, .. } => report.output(label, line),
        Progress::Done {
            step,
            cached,
            elapsed,
            ..
        } => {
            if let Some(shown) = numbering.step(step) {
                report.step_done(
                    &shown.label,
                    &image,
                    shown.number,
                    shown.total,
                    &text_of(step.line),
                    cached,
                    elapsed,
                );
            }
        }
    };
    let built = builder.build(&resolved, Some(&first.reference), &mut progress);
    drop(secret_files);
    let built = match built {
        Ok(built) => built,
        Err(error) => {
            report.failed(&image, begin.elapsed());
            return Err(anyhow::anyhow!("{shown}: {error}"));
        }
    };
    let id = built.id.to_string();
    for name in others {
        images
            .tag(&id, &name.reference)
            .with_context(|| format!("cannot tag the image as {}", name.text))?;
    }
    report.built(
        &job.names
            .iter()
            .map(|n| n.text.as_str())
            .collect::<Vec<_>>(),
        begin.elapsed(),
    );
    Ok(id)
}

/// A `.dockerignore`, or none.
fn read_ignore(path: Option<PathBuf>) -> anyhow::Result<Ignore> {
    let text = match path {
        Some(path) => std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => String::new(),
    };
    Ignore::parse(&text).map_err(|e| anyhow::anyhow!(".dockerignore: {e}"))
}

/// The images that `COPY --from` and `RUN --mount=from=` name: words that are neither a stage
/// (by name or index) nor a named context.
fn images_read(
    resolved: &[ResolvedStage],
    contexts: &BTreeMap<String, NamedContext>,
) -> std::collections::BTreeSet<String> {
    let is_stage = |word: &str| {
        word.parse::<usize>().is_ok()
            || resolved
                .iter()
                .any(|stage| stage.name.as_deref() == Some(word.to_ascii_lowercase().as_str()))
    };
    let mut found = std::collections::BTreeSet::new();
    for step in resolved.iter().flat_map(|stage| &stage.steps) {
        let words: Vec<String> = match &step.kind {
            CommandKind::Copy { options, .. } | CommandKind::Add { options, .. } => {
                options.from.iter().cloned().collect()
            }
            CommandKind::Run { mounts, .. } => mounts
                .iter()
                .filter_map(|spec| match runtime::build::mounts::parse(spec) {
                    Ok(RunMount::Bind { from, .. }) => from,
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        found.extend(
            words
                .into_iter()
                .filter(|word| !is_stage(word) && !contexts.contains_key(word)),
        );
    }
    found
}

/// What `COPY --from=<name>` reads for an `additional_contexts` entry.
fn named_context(
    images: &ImageStore,
    root: &Path,
    named: &NamedContext,
    service_images: &BTreeMap<String, String>,
) -> anyhow::Result<Context> {
    let reference = match named {
        NamedContext::Dir(dir) => {
            if !dir.is_dir() {
                bail!("{} is not a directory", dir.display());
            }
            let ignore = dir.join(".dockerignore");
            let ignore = read_ignore(ignore.is_file().then_some(ignore))?;
            return Ok(Context::dir(dir.clone(), ignore));
        }
        NamedContext::Service(service) => service_images
            .get(service)
            .cloned()
            .with_context(|| format!("service {service:?} has no image name"))?,
        NamedContext::Image(reference) => reference.clone(),
    };
    let image = crate::commands::pull::ensure_image(images, root, &reference)?;
    let dirs = image
        .layer_dirs()
        .with_context(|| format!("the layers of {reference} are not unpacked"))?;
    Ok(Context::layers(dirs))
}

/// The files of a build's secrets: given files as they are, values written to private files
/// that are removed on drop.
struct SecretFiles {
    paths: BTreeMap<String, PathBuf>,
    written: Vec<PathBuf>,
}

impl SecretFiles {
    fn write(root: &Path, secrets: &BTreeMap<String, Secret>) -> anyhow::Result<SecretFiles> {
        let mut files = SecretFiles {
            paths: BTreeMap::new(),
            written: Vec::new(),
        };
        let dir = root.join("buildsecrets");
        for (index, (id, secret)) in secrets.iter().enumerate() {
            let path = match secret {
                Secret::File(path) => {
                    if !path.is_file() {
                        bail!("build secret {id:?}: {} is not a file", path.display());
                    }
                    path.clone()
                }
                Secret::Value { value, .. } => {
                    if files.written.is_empty() {
                        runtime::store::private_dir(&dir)?;
                        remove_stale_secrets(&dir);
                    }
                    let nanos = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos());
                    let path = dir.join(format!("{}-{nanos}-{index}", std::process::id()));
                    write_private(&path, value.as_bytes())
                        .with_context(|| format!("build secret {id:?}"))?;
                    files.written.push(path.clone());
                    path
                }
            };
            files.paths.insert(id.clone(), path);
        }
        Ok(files)
    }
}

impl Drop for SecretFiles {
    fn drop(&mut self) {
        for path in &self.written {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes `content` to a new file readable by its owner only.
fn write_private(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(content)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Removes secret files whose writer (the pid their name starts with) is gone: a build killed
/// before it could remove them.
fn remove_stale_secrets(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_none_or(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// An instruction on one line, shortened to 80 characters.
fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 80 {
        format!("{}...", line.chars().take(77).collect::<String>())
    } else {
        line
    }
}

/// How a build's steps are shown, as docker shows them: numbered per stage (`[api build 2/4]`, the
/// stage's name after the service's when the build has several stages), the `FROM` first, then
/// the steps that change files (`RUN`, `COPY`, `ADD`, `WORKDIR`); steps that only set the config
/// (`ENV`, `CMD`, ...) are not shown.
struct Numbering {
    /// By the step's address in the resolved stages.
    steps: std::collections::HashMap<*const Step, Shown>,
    /// The `FROM` of each stage, by its index.
    froms: std::collections::HashMap<usize, Shown>,
}

struct Shown {
    label: String,
    number: usize,
    total: usize,
    text: String,
}

impl Numbering {
    fn new(
        service: &str,
        resolved: &[ResolvedStage],
        program: &runtime::build::instructions::Program,
        text_of: &dyn Fn(usize) -> String,
    ) -> Numbering {
        let mut steps = std::collections::HashMap::new();
        let mut froms = std::collections::HashMap::new();
        for stage in resolved {
            let label = match (resolved.len(), &stage.name) {
                (1, _) => service.to_owned(),
                (_, Some(name)) => format!("{service} {name}"),
                (_, None) => format!("{service} stage-{}", stage.index),
            };
            let shown: Vec<&Step> = stage
                .steps
                .iter()
                .filter(|step| {
                    matches!(
                        step.kind,
                        CommandKind::Run { .. }
                            | CommandKind::Copy { .. }
                            | CommandKind::Add { .. }
                            | CommandKind::Workdir(_)
                    )
                })
                .collect();
            let total = shown.len() + 1;
            if let Some(from) = program.stages.get(stage.index) {
                // An image base as it resolved (`FROM ${BASE}` shows the image), as BuildKit
                // shows it; a stage or scratch as written.
                let text = match &stage.base {
                    runtime::build::resolve::Base::Image(reference) => format!("FROM {reference}"),
                    _ => text_of(from.line),
                };
                froms.insert(
                    stage.index,
                    Shown {
                        label: label.clone(),
                        number: 1,
                        total,
                        text,
                    },
                );
            }
            for (at, step) in shown.into_iter().enumerate() {
                steps.insert(
                    step as *const Step,
                    Shown {
                        label: label.clone(),
                        number: at + 2,
                        total,
                        text: String::new(),
                    },
                );
            }
        }
        Numbering { steps, froms }
    }

    fn step(&self, step: &Step) -> Option<&Shown> {
        self.steps.get(&(step as *const Step))
    }

    fn from(&self, stage: usize) -> Option<&Shown> {
        self.froms.get(&stage)
    }
}
