//! `rcompose up`: plan the work that brings the runtime to the project, show or apply it, and (unless
//! detached) follow the containers' logs until they exit or Ctrl-C stops them.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use runtime::container::{RestartPolicy, Status};

use super::logs::{Abort, FollowEnd};
use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::output;
use crate::reconcile::apply::{self, ApplyOptions};
use crate::reconcile::observe::observe;
use crate::reconcile::plan::{self, PlanOptions, Recreate};
use crate::reconcile::snapshot::{ObservedContainer, Snapshot, State};

#[derive(Debug, Default, Args)]
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
    /// Recreate the containers of the dependencies too (incompatible with --no-recreate)
    #[arg(long, conflicts_with = "no_recreate")]
    always_recreate_deps: bool,
    /// Build images before starting containers
    #[arg(long, conflicts_with = "no_build")]
    build: bool,
    /// Don't build an image, even if it's missing
    #[arg(long)]
    no_build: bool,
    /// Pull images before starting: always, missing or never (default: each service's pull_policy)
    #[arg(long, value_name = "POLICY")]
    pull: Option<String>,
    /// Pull without printing progress information
    #[arg(long)]
    quiet_pull: bool,
    /// Build without printing the build's output
    #[arg(long)]
    quiet_build: bool,
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
    /// Wait for services to be running or healthy (one-shot services: exited 0); implies detached mode
    #[arg(long, conflicts_with_all = ["abort_on_container_exit", "exit_code_from"])]
    wait: bool,
    /// Maximum seconds to wait with --wait
    #[arg(long, value_name = "SECONDS", requires = "wait")]
    wait_timeout: Option<u64>,
    /// Stops all containers if any container was stopped (incompatible with -d)
    #[arg(long, conflicts_with = "detach")]
    abort_on_container_exit: bool,
    /// Stops all containers if any container exited with a failure (incompatible with -d)
    #[arg(long, conflicts_with_all = ["detach", "abort_on_container_exit"])]
    abort_on_container_failure: bool,
    /// Return the exit code of the selected service's container (implies --abort-on-container-exit)
    #[arg(long, value_name = "SERVICE", conflicts_with = "detach")]
    exit_code_from: Option<String>,
    /// Restrict attaching to these services (repeatable)
    #[arg(long, value_name = "SERVICE")]
    attach: Vec<String>,
    /// Do not attach (stream logs) to these services (repeatable)
    #[arg(long, value_name = "SERVICE")]
    no_attach: Vec<String>,
    /// Attach to the log output of the attached services' dependencies too
    #[arg(long)]
    attach_dependencies: bool,
    /// Watch source code and update services when files change (see `watch`; with -d in the
    /// background)
    #[arg(short, long, conflicts_with_all = ["wait", "dry_run"])]
    watch: bool,
    /// Leave out the `Running` lines of containers the plan does not touch (watch's own `up`s).
    #[arg(skip)]
    quiet_unchanged: bool,
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
    /// Build images before creating containers
    #[arg(long, conflicts_with = "no_build")]
    build: bool,
    /// Don't build an image, even if it's missing
    #[arg(long)]
    no_build: bool,
    /// Pull images before creating: always, missing or never (default: each service's pull_policy)
    #[arg(long, value_name = "POLICY")]
    pull: Option<String>,
    /// Pull without printing progress information
    #[arg(long)]
    quiet_pull: bool,
}

pub fn create(global: &GlobalOptions, args: CreateArgs) -> anyhow::Result<ExitCode> {
    let up = UpArgs {
        services: args.services,
        detach: true,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        always_recreate_deps: false,
        build: args.build,
        no_build: args.no_build,
        pull: args.pull,
        quiet_pull: args.quiet_pull,
        quiet_build: false,
        no_deps: false,
        no_start: true,
        remove_orphans: args.remove_orphans,
        scale: args.scale,
        timeout: None,
        dry_run: args.dry_run,
        no_color: false,
        no_log_prefix: false,
        timestamps: false,
        wait: false,
        wait_timeout: None,
        abort_on_container_exit: false,
        abort_on_container_failure: false,
        exit_code_from: None,
        attach: Vec::new(),
        no_attach: Vec::new(),
        attach_dependencies: false,
        watch: false,
        quiet_unchanged: false,
    };
    converge(global, &up).map(|_| ExitCode::SUCCESS)
}

/// `rcompose scale SERVICE=NUM...`: docker compose's `scale`, an `up -d` of those services (with
/// their dependencies unless `--no-deps`) at the given number of containers.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Services and their number of containers
    #[arg(value_name = "SERVICE=NUM", required = true)]
    scales: Vec<String>,
    /// Don't start linked services
    #[arg(long)]
    no_deps: bool,
    /// Print the plan without doing it
    #[arg(long)]
    dry_run: bool,
}

pub fn scale(global: &GlobalOptions, args: ScaleArgs) -> anyhow::Result<ExitCode> {
    let services = args
        .scales
        .iter()
        .map(|entry| match entry.split_once('=') {
            Some((service, _)) if !service.is_empty() => Ok(service.to_string()),
            _ => Err(anyhow::anyhow!(
                "invalid scale {entry:?}: use SERVICE=NUM (e.g. `rcompose scale web=3`)"
            )),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let up = UpArgs {
        services,
        detach: true,
        no_deps: args.no_deps,
        scale: args.scales,
        dry_run: args.dry_run,
        ..UpArgs::default()
    };
    converge(global, &up).map(|_| ExitCode::SUCCESS)
}

/// Plans and applies the project (or prints the plan with `--dry-run`, returning `None`).
fn converge(
    global: &GlobalOptions,
    args: &UpArgs,
) -> anyhow::Result<Option<(Scope, ApplyOptions)>> {
    let scope = Scope::open(global, &args.services)?;
    Ok(converge_scope(&scope, args)?.map(|options| (scope, options)))
}

/// Says `Container NAME  Running` for the running containers of the services `up` brings up that
/// the plan leaves as they are, as docker compose does: an `up` with nothing to do says so. From
/// the snapshot the plan was made from (no second listing of the containers).
fn running_untouched(
    project: &crate::project::model::Project,
    snapshot: &Snapshot,
    options: &PlanOptions,
    plan: &plan::Plan,
) {
    let services: std::collections::BTreeSet<String> = if options.no_deps {
        options.services.iter().cloned().collect()
    } else {
        crate::graph::ServiceGraph::new(project).with_dependencies(&options.services)
    };
    let touched: std::collections::BTreeSet<&str> = plan
        .actions
        .iter()
        .filter_map(|action| match &action.target {
            plan::Target::Container { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let mut untouched: Vec<&ObservedContainer> = snapshot
        .containers
        .iter()
        .filter(|c| {
            !c.oneoff
                && c.state == State::Running
                && !touched.contains(c.name.as_str())
                && project.services.contains_key(&c.service)
                && (options.services.is_empty() || services.contains(&c.service))
        })
        .collect();
    untouched.sort_by(|a, b| (&a.service, a.number).cmp(&(&b.service, b.number)));
    let progress = crate::output::progress::Progress::new(
        untouched
            .iter()
            .map(|c| c.name.as_str())
            .chain(touched.iter().copied()),
        false,
    );
    for container in untouched {
        progress.done("Container", &container.name, "Running", Duration::ZERO);
    }
}

/// `up -d` of `services` on a loaded project, for `watch`: builds what is missing (every selected
/// image with `build`), plans and applies; `no_deps` leaves the dependencies alone.
pub(crate) fn up_detached(
    scope: &Scope,
    services: &[String],
    build: bool,
    no_deps: bool,
) -> anyhow::Result<()> {
    let args = UpArgs {
        services: services.to_vec(),
        detach: true,
        build,
        no_deps,
        quiet_unchanged: true,
        ..UpArgs::default()
    };
    converge_scope(scope, &args).map(drop)
}

fn converge_scope(scope: &Scope, args: &UpArgs) -> anyhow::Result<Option<ApplyOptions>> {
    scope.check_services(&args.services)?;
    crate::project::refuse::check(&scope.loaded, &args.services)?;
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
        recreate_dependencies: if args.always_recreate_deps {
            Recreate::Force
        } else if args.no_recreate {
            Recreate::Never
        } else {
            Recreate::Diverged
        },
        remove_orphans: args.remove_orphans,
        disabled_services: scope.loaded.disabled_services.clone(),
        scale,
        start: !args.no_start,
    };
    let lock = scope.lock()?;
    super::pull::pull_for_up(
        scope,
        &args.services,
        args.pull.as_deref(),
        !args.no_deps,
        args.dry_run,
        args.quiet_pull,
    )?;
    if !args.no_build && !args.dry_run {
        super::build::build_for_up(
            scope,
            &args.services,
            args.build,
            !args.no_deps,
            args.quiet_build,
        )?;
    }
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
    super::port_check::check(scope, &plan)?;
    let progress = super::scope::plan_progress(&plan);
    if options.start && !args.quiet_unchanged {
        running_untouched(&scope.loaded.project, &snapshot, &options, &plan);
    }
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
    Ok(Some(apply_options))
}

pub fn run(global: &GlobalOptions, args: UpArgs) -> anyhow::Result<ExitCode> {
    if let Some(service) = &args.exit_code_from
        && !args.services.is_empty()
        && !args.services.contains(service)
    {
        bail!("--exit-code-from: service {service:?} is not among the services to start");
    }
    if args.detach && args.watch {
        // Checked before anything starts, as the attached `--watch` checks.
        let scope = Scope::open(global, &args.services)?;
        crate::watch::check(&scope.loaded.project, &args.services)?;
    }
    let Some((scope, apply_options)) = converge(global, &args)? else {
        return Ok(ExitCode::SUCCESS);
    };
    if args.detach && args.watch {
        return super::watch::start_detached(global, &scope, &args.services, true);
    }
    if args.no_start {
        return Ok(ExitCode::SUCCESS);
    }
    if args.wait {
        let timeout = args.wait_timeout.map(Duration::from_secs);
        return wait_ready(&scope, &args.services, timeout).map(|()| ExitCode::SUCCESS);
    }
    if args.detach {
        return Ok(ExitCode::SUCCESS);
    }
    if !args.watch {
        return attached(&scope, &args, &apply_options);
    }
    // `--watch`: the watch on a thread of its own (with its own view of the project, which it
    // loads again when the compose files change), the logs here; Ctrl-C ends both.
    crate::watch::check(&scope.loaded.project, &args.services)?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let options = crate::watch::Options {
        services: args.services.clone(),
        prune: true,
    };
    std::thread::scope(|threads| {
        let watcher = threads.spawn(|| -> anyhow::Result<()> {
            let scope = Scope::open(global, &args.services)?;
            crate::watch::run(global, scope, &options, &stop)
        });
        let code = attached(&scope, &args, &apply_options);
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let watched = watcher
            .join()
            .unwrap_or_else(|_| bail!("the watch thread panicked"));
        let code = code?;
        watched.map(|()| code)
    })
}

/// Follows the attached services' logs until they exit, Ctrl-C or an abort, then stops the
/// project as docker compose does; returns the exit code.
fn attached(
    scope: &Scope,
    args: &UpArgs,
    apply_options: &ApplyOptions,
) -> anyhow::Result<ExitCode> {
    scope.check_services(&args.attach)?;
    scope.check_services(&args.no_attach)?;
    let mut attached: Vec<String> = if args.attach.is_empty() && args.services.is_empty() {
        scope.loaded.project.services.keys().cloned().collect()
    } else if args.attach.is_empty() {
        args.services.clone()
    } else {
        args.attach.clone()
    };
    // `attach: false` keeps a service's logs out unless `--attach` names it (docker compose's rule).
    if args.attach.is_empty() {
        attached.retain(|s| {
            scope
                .loaded
                .project
                .services
                .get(s)
                .and_then(|service| service.attach)
                != Some(false)
        });
    }
    if args.attach_dependencies {
        let graph = crate::graph::ServiceGraph::new(&scope.loaded.project);
        attached = graph.with_dependencies(&attached).into_iter().collect();
    }
    attached.retain(|s| !args.no_attach.contains(s));
    if attached.is_empty() {
        bail!("no service left to attach to (see --attach and --no-attach)");
    }
    let follow = super::logs::Follow {
        timestamps: args.timestamps,
        prefix: !args.no_log_prefix,
        color: !args.no_color,
        tail: None,
        replaced: args.watch,
    };
    let abort = if args.abort_on_container_exit || args.exit_code_from.is_some() {
        Abort::OnExit
    } else if args.abort_on_container_failure {
        Abort::OnFailure
    } else {
        Abort::Never
    };
    // After Ctrl-C or an abort the project stops while its output is still shown.
    let stop = |end: &FollowEnd| {
        match end {
            FollowEnd::AllExited => {}
            FollowEnd::Interrupted => {
                crate::output::status("Gracefully stopping... (press Ctrl+C again to force)");
            }
            FollowEnd::Aborted { .. } => crate::output::status(if abort == Abort::OnFailure {
                "Aborting on container failure..."
            } else {
                "Aborting on container exit..."
            }),
        }
        stop_gracefully(scope, apply_options.timeout)
    };
    let end = super::logs::follow_until_exit(scope, &attached, &follow, abort, &stop)?;
    let mut code = match &end {
        FollowEnd::AllExited => 0,
        FollowEnd::Interrupted => 130,
        FollowEnd::Aborted { code, .. } => *code,
    };
    if end == FollowEnd::AllExited && abort == Abort::OnExit {
        stop_gracefully(scope, apply_options.timeout)?;
    }
    if let Some(service) = &args.exit_code_from {
        let containers = scope.containers(std::slice::from_ref(service), false)?;
        code = containers
            .first()
            .and_then(|(_, info)| info.state.exit_code)
            .unwrap_or(0);
    }
    Ok(ExitCode::from(
        u8::try_from(code.clamp(0, 255)).unwrap_or(1),
    ))
}

/// `--wait`: polls the selected services' containers until each is running (and healthy if it has a
/// healthcheck) or, for a one-shot (no restart policy), exited 0. An exit with another code or an
/// unhealthy container fails at once, naming it; so does the timeout.
fn wait_ready(scope: &Scope, services: &[String], timeout: Option<Duration>) -> anyhow::Result<()> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let mut pending = Vec::new();
        for (observed, info) in scope.containers(services, false)? {
            let state = &info.state;
            let one_shot = matches!(info.record.spec.restart, RestartPolicy::No);
            match state.status {
                Status::Running => match state.health.as_ref().map(|h| h.status.as_str()) {
                    None if info.record.spec.healthcheck.is_none() => {}
                    Some("healthy") => {}
                    Some("unhealthy") => bail!("container {} is unhealthy", observed.name),
                    None | Some(_) => pending.push(observed.name),
                },
                Status::Exited if one_shot && state.exit_code == Some(0) => {}
                Status::Exited | Status::Dead => bail!(
                    "container {} exited ({})",
                    observed.name,
                    state.exit_code.unwrap_or(-1)
                ),
                _ => pending.push(observed.name),
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            bail!("timed out waiting for {}", pending.join(", "));
        }
        if runtime::sys::interrupt::interrupted() {
            bail!("interrupted");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops the project's containers after Ctrl-C (or an abort), as `stop` does: reverse dependency
/// order, a level at once. A second Ctrl-C kills what is still stopping (SIGKILL), as docker
/// compose's does; a third ends rcompose.
fn stop_gracefully(scope: &Scope, timeout: Option<u64>) -> anyhow::Result<()> {
    use runtime::sys::interrupt;
    interrupt::handle_second();
    let containers: Vec<_> = scope
        .containers(&[], false)?
        .into_iter()
        .map(|(observed, _)| observed)
        .collect();
    let kill = runtime::container::spec::signal_from_name("SIGKILL").expect("SIGKILL is known");
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|threads| {
        threads.spawn(|| {
            // One Ctrl-C more than there was when the stop began (the first, or none on an abort).
            let forced = interrupt::count() + 1;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if interrupt::count() >= forced {
                    for container in &containers {
                        let _ = scope.engine.containers.kill(&container.id, kill);
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let stopped = super::control::stop_containers(scope, &containers, timeout);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        stopped
    })
}
