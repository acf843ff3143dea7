//! `rcompose build`, and the builds `up` and `run` make: each service's `build:` read as a
//! [`recipe::Recipe`] (every key with a local meaning applied, the others refused by name or
//! warned about), services with equal recipes built once and tagged with each one's image name,
//! and the builds run at once on threads, up to `COMPOSE_PARALLEL_LIMIT`, each after the builds
//! whose images it reads (`additional_contexts: service:NAME`).
//!
//! Order of work: every recipe is read before any build starts, so a refused key fails the command
//! before anything is built. After a failed build nothing new starts, the running ones end, and
//! the error names the service and the Dockerfile's line. The whole run holds the store's build
//! guard, so `builder prune` waits rather than removing a layer a build is stacking on.
//!
//! - `recipe.rs`: `build:` → recipe and image names (pure);
//! - `execute.rs`: one recipe through the runtime's builder (Dockerfile, contexts, secrets);
//! - `report.rs`: the progress lines, per `--progress`.

mod execute;
mod recipe;
mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::sync::mpsc;

use anyhow::bail;

use self::execute::Job;
use self::recipe::{Recipe, service_contexts};
use self::report::Report;
use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::project::model::Project;
use crate::reconcile::apply::parallel_limit;
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
    /// Also build the services the selected ones depend on
    #[arg(long)]
    with_dependencies: bool,
    /// Always pull the base images again
    #[arg(long)]
    pull: bool,
}

/// What a build is asked for beyond the services' own `build:`.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub no_cache: bool,
    /// Pull base images again (`--pull`).
    pub pull: bool,
    /// `--build-arg` values, over the services' `args` (`None`: the project's variable).
    pub build_args: BTreeMap<String, Option<String>>,
    pub quiet: bool,
}

pub fn run(global: &GlobalOptions, args: BuildArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    scope.check_services(&args.services)?;
    let build_args = args
        .build_args
        .iter()
        .map(|entry| match entry.split_once('=') {
            Some((key, value)) => (key.to_owned(), Some(value.to_owned())),
            None => (entry.clone(), None),
        })
        .collect();
    let options = BuildOptions {
        no_cache: args.no_cache,
        pull: args.pull,
        build_args,
        quiet: args.quiet,
    };
    let project = &scope.loaded.project;
    let requested = if args.services.is_empty() {
        project.services.keys().cloned().collect()
    } else {
        args.services.clone()
    };
    let selected = select(project, &requested, args.with_dependencies, &|_| true);
    if selected.is_empty() {
        crate::output::warnings(&["no services to build".to_owned()]);
    }
    let built = build_services(&scope, &selected, &options)?;
    if args.quiet {
        let ids: String = built.values().map(|id| format!("{id}\n")).collect();
        crate::output::stdout(&ids)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Builds what `up` (or `run`) needs before it plans: of `services` (all when empty) and, with
/// `with_dependencies`, the services they depend on, those with `build:` whose image is missing,
/// or all of them with `always` (`--build`), or whose `pull_policy` is `build`.
pub fn build_for_up(
    scope: &Scope,
    services: &[String],
    always: bool,
    with_dependencies: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    let project = &scope.loaded.project;
    let requested: Vec<String> = if services.is_empty() {
        project.services.keys().cloned().collect()
    } else {
        services.to_vec()
    };
    let needs = |name: &str| {
        let service = &project.services[name];
        always
            || service.pull_policy.as_deref() == Some("build")
            || scope
                .engine
                .images
                .image(&image_name(project, name, service))
                .is_err()
    };
    let selected = select(project, &requested, with_dependencies, &needs);
    let options = BuildOptions {
        quiet,
        ..BuildOptions::default()
    };
    build_services(scope, &selected, &options)?;
    Ok(())
}

/// The services to build, in name order: of `requested` (and with `with_dependencies`, the
/// services they depend on, transitively), those with `build:` that `needs` a build, plus the
/// services whose images their builds read (`service:` contexts) when those need one too.
fn select(
    project: &Project,
    requested: &[String],
    with_dependencies: bool,
    needs: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut pending: Vec<String> = requested.to_vec();
    let mut selected = BTreeSet::new();
    while let Some(name) = pending.pop() {
        let Some(service) = project.services.get(&name) else {
            continue;
        };
        if !seen.insert(name.clone()) {
            continue;
        }
        if with_dependencies {
            pending.extend(service.depends_on.keys().cloned());
        }
        if service.build.is_some() && needs(&name) {
            selected.insert(name.clone());
            pending.extend(service_contexts(service));
        }
    }
    selected.into_iter().collect()
}

/// Builds `services` (which all have `build:`): equal recipes once, at once up to the parallel
/// limit, each after the builds of the `service:` contexts it reads. Returns each service's
/// image id.
fn build_services(
    scope: &Scope,
    services: &[String],
    options: &BuildOptions,
) -> anyhow::Result<BTreeMap<String, String>> {
    if services.is_empty() {
        return Ok(BTreeMap::new());
    }
    let jobs = plan_jobs(scope, services, options)?;
    let report = Report::new(
        jobs.iter()
            .flat_map(|job| job.names.iter().map(|n| n.text.as_str())),
        options.quiet,
    );
    let (results, complete) = run_jobs(scope, &jobs, &report);
    drop(report);
    let mut ids = BTreeMap::new();
    let mut failures = Vec::new();
    for (job, result) in jobs.iter().zip(results) {
        match result {
            Some(Ok(id)) => {
                for service in &job.services {
                    ids.insert(service.clone(), id.clone());
                }
            }
            Some(Err(error)) => failures.push(error.context(format!(
                "service {}: the build failed",
                names_of(&job.services)
            ))),
            None => {}
        }
    }
    // Ctrl-C: the builds that ran were ended (their step containers removed); each failed with it.
    if runtime::sys::interrupt::interrupted() {
        bail!("interrupted");
    }
    match failures.len() {
        0 if !complete => bail!("interrupted"),
        0 => Ok(ids),
        1 => Err(failures.remove(0)),
        _ => {
            let mut text = format!("{} builds failed:", failures.len());
            for failure in &failures {
                text.push_str(&format!("\n- {failure:#}"));
            }
            bail!(text)
        }
    }
}

/// `"api"`, or `"api", "worker"` for a shared build.
fn names_of(services: &[String]) -> String {
    services
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The builds for `services`: a job per distinct recipe.
fn plan_jobs(
    scope: &Scope,
    services: &[String],
    options: &BuildOptions,
) -> anyhow::Result<Vec<Job>> {
    let project = &scope.loaded.project;
    let variables = |name: &str| scope.loaded.environment.value(name);
    let mut by_recipe: BTreeMap<Recipe, usize> = BTreeMap::new();
    let mut jobs: Vec<Job> = Vec::new();
    let mut warnings = Vec::new();
    for name in services {
        let read = recipe::read(
            project,
            name,
            &variables,
            &options.build_args,
            options.no_cache,
            options.pull,
        )?;
        warnings.extend(read.warnings);
        let service = &project.services[name];
        let names = recipe::names(project, name, service)?;
        let index = *by_recipe.entry(read.recipe.clone()).or_insert_with(|| {
            jobs.push(Job {
                recipe: read.recipe,
                services: Vec::new(),
                names: Vec::new(),
                service_images: BTreeMap::new(),
            });
            jobs.len() - 1
        });
        let job = &mut jobs[index];
        job.services.push(name.clone());
        for image in names {
            if !job.names.iter().any(|n| n.reference == image.reference) {
                job.names.push(image);
            }
        }
        for other in service_contexts(service) {
            let image = image_name(project, &other, &project.services[&other]);
            job.service_images.insert(other, image);
        }
    }
    // Two different builds under one name: the one that ends last keeps it.
    let mut owners: BTreeMap<String, (&str, Vec<usize>)> = BTreeMap::new();
    for (index, job) in jobs.iter().enumerate() {
        for name in &job.names {
            owners
                .entry(name.reference.to_string())
                .or_insert((name.text.as_str(), Vec::new()))
                .1
                .push(index);
        }
    }
    for (name, builds) in owners.values() {
        if builds.len() > 1 {
            let services: Vec<&str> = builds
                .iter()
                .flat_map(|&index| jobs[index].services.iter().map(String::as_str))
                .collect();
            warnings.push(format!(
                "services {} build different images named {name}: the last build to end keeps the name",
                services.join(", ")
            ));
        }
    }
    crate::output::warnings(&warnings);
    Ok(jobs)
}

/// Runs the jobs on threads: a job starts once the jobs building the services it reads are done,
/// up to the parallel limit. After a failure or Ctrl-C nothing new starts. Returns each job's
/// outcome (`None`: not run) and whether all ran.
fn run_jobs(
    scope: &Scope,
    jobs: &[Job],
    report: &Report,
) -> (Vec<Option<anyhow::Result<String>>>, bool) {
    let job_of: BTreeMap<&str, usize> = jobs
        .iter()
        .enumerate()
        .flat_map(|(index, job)| job.services.iter().map(move |s| (s.as_str(), index)))
        .collect();
    let after: Vec<Vec<usize>> = jobs
        .iter()
        .enumerate()
        .map(|(index, job)| {
            job.service_images
                .keys()
                .filter_map(|service| job_of.get(service.as_str()).copied())
                .filter(|other| *other != index)
                .collect()
        })
        .collect();
    // Ctrl-C ends the running steps (see runtime::build), rather than the process with them left
    // running; a second one ends the process (the next build removes what it left).
    runtime::sys::interrupt::catch();
    let limit = parallel_limit();
    let mut results: Vec<Option<anyhow::Result<String>>> = jobs.iter().map(|_| None).collect();
    let mut started = vec![false; jobs.len()];
    let mut failed = false;
    std::thread::scope(|threads| {
        let (sender, receiver) = mpsc::channel::<(usize, anyhow::Result<String>)>();
        let mut running = 0;
        loop {
            if !failed && !runtime::sys::interrupt::interrupted() {
                for (index, job) in jobs.iter().enumerate() {
                    if running >= limit {
                        break;
                    }
                    let ready = after[index]
                        .iter()
                        .all(|&other| matches!(results[other], Some(Ok(_))));
                    if started[index] || !ready {
                        continue;
                    }
                    started[index] = true;
                    running += 1;
                    let sender = sender.clone();
                    threads.spawn(move || {
                        let result = execute::build(&scope.engine, job, report);
                        let _ = sender.send((index, result));
                    });
                }
            }
            if running == 0 {
                break;
            }
            let (index, result) = receiver.recv().expect("a running build reports");
            running -= 1;
            failed |= result.is_err();
            results[index] = Some(result);
        }
    });
    let complete = results.iter().all(Option::is_some);
    if !complete && !failed && !runtime::sys::interrupt::interrupted() {
        // Nothing failed and nothing stopped us, yet some never became ready: a cycle.
        let stuck: Vec<String> = jobs
            .iter()
            .zip(&results)
            .filter(|(_, result)| result.is_none())
            .flat_map(|(job, _)| job.services.clone())
            .collect();
        let index = results.iter().position(Option::is_none).unwrap_or(0);
        results[index] = Some(Err(anyhow::anyhow!(
            "the builds of {} read each other's images (additional_contexts: service:...)",
            stuck.join(", ")
        )));
    }
    (results, complete)
}
