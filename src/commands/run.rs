//! `rcompose run`: a one-off container for a service, as docker compose makes it: named
//! `<project>-<service>-run-<12 hex>`, labelled `com.docker.compose.oneoff=True` (so `ps` and the
//! planner never count it as a replica, and `down` removes it), with the service's settings and the
//! command line's overrides, no restart policy and no published ports.
//!
//! Missing images of the service and its dependencies are built first (all of them with `--build`),
//! as `up` builds them. The service's dependencies (unless `--no-deps`), networks and volumes are
//! brought up first through the reconciler (the plan for the service, minus the service's own
//! containers); the one-off's spec comes from the function that makes every service container
//! (`reconcile::apply::container_spec`).
//! Attached, it passes standard input through (a real terminal when ours is one) and exits with the
//! container's exit code; `--rm` removes the container afterwards.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use runtime::container::{Attach, Mount, MountKind, Runtime};

use super::attach::{self, Ended, Session};
use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::labels;
use crate::names;
use crate::output;
use crate::project::model::{Port, Service};
use crate::reconcile::apply::{self, ApplyOptions};
use crate::reconcile::observe::observe;
use crate::reconcile::plan::{self, PlanOptions, Target};

#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct RunArgs {
    /// Run the container in the background and print its id
    #[arg(short, long)]
    detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Set environment variables (KEY=VALUE, or KEY to take the value from the environment)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Set environment variables from a file (dotenv syntax; `-e` wins)
    #[arg(long, value_name = "FILE")]
    env_from_file: Vec<PathBuf>,
    /// Override the entrypoint of the image (split like a shell would)
    #[arg(long)]
    entrypoint: Option<String>,
    /// Don't start linked services
    #[arg(long)]
    no_deps: bool,
    /// Disable pseudo-TTY allocation (by default a TTY is allocated when stdin is a terminal)
    #[arg(short = 'T', long = "no-TTY", alias = "no-tty")]
    no_tty: bool,
    /// Allocate a pseudo-TTY (the default when stdin is a terminal; an error when it is not)
    #[arg(short = 't', long, conflicts_with = "no_tty")]
    tty: bool,
    /// Keep STDIN open (the default for an attached run; accepted for compatibility)
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Run as this user (name or uid[:gid])
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Add or override a label (KEY=VALUE)
    #[arg(short, long = "label", value_name = "KEY=VALUE")]
    label: Vec<String>,
    /// Bind mount a host path (SRC:DST[:ro]; SRC relative to the project directory)
    #[arg(short, long = "volume", value_name = "SRC:DST[:ro]")]
    volume: Vec<String>,
    /// Add Linux capabilities
    #[arg(long)]
    cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    cap_drop: Vec<String>,
    /// Publish the service's ports (by default a one-off publishes none)
    #[arg(long)]
    service_ports: bool,
    /// Publish a container's port to the host ([IP:][HOST:]CONTAINER[/PROTOCOL], repeatable)
    #[arg(short = 'p', long = "publish", value_name = "PORT")]
    publish: Vec<String>,
    /// Use the service's network aliases in the networks the container joins (by default a one-off
    /// answers only to its own name)
    #[arg(long)]
    use_aliases: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    remove_orphans: bool,
    /// Build the image before starting the container (a missing image is built anyway)
    #[arg(long)]
    build: bool,
    /// Pull the image before running: always, missing or never (default: the service's pull_policy)
    #[arg(long, value_name = "POLICY")]
    pull: Option<String>,
    /// Pull without printing progress information
    #[arg(long)]
    quiet_pull: bool,
    /// Build without printing the build's output
    #[arg(long)]
    quiet_build: bool,
    /// The service
    service: String,
    /// The command and its arguments (default: the service's)
    command: Vec<String>,
}

pub fn run(global: &GlobalOptions, args: RunArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, std::slice::from_ref(&args.service))?;
    scope.check_services(std::slice::from_ref(&args.service))?;
    crate::project::refuse::check(&scope.loaded, std::slice::from_ref(&args.service))?;
    let project = &scope.loaded.project;
    let service = one_off_service(&scope, &project.services[&args.service], &args)?;
    let slug = random_slug()?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| names::oneoff_container_name(&project.name, &args.service, &slug));
    let stdin_is_terminal = std::io::stdin().is_terminal();
    if args.tty && !args.detach && !stdin_is_terminal {
        bail!("the input device is not a TTY; use -T to run without one");
    }
    let tty = !args.no_tty && !args.detach && stdin_is_terminal;
    let interactive = !args.detach || args.interactive;

    // Dependencies, then the one-off, under the project's lock; the session itself runs without it.
    let id = {
        let _lock = scope.lock()?;
        super::pull::pull_for_up(
            &scope,
            std::slice::from_ref(&args.service),
            args.pull.as_deref(),
            !args.no_deps,
            false,
            args.quiet_pull,
        )?;
        super::build::build_for_up(
            &scope,
            std::slice::from_ref(&args.service),
            args.build,
            !args.no_deps,
            args.quiet_build,
        )?;
        prepare(&scope, &args)?;
        let mut spec = apply::container_spec(
            &scope.engine,
            &scope.loaded,
            &args.service,
            &service,
            1,
            &name,
        )?;
        spec.labels.insert(
            labels::ONEOFF.to_string(),
            labels::boolean(true).to_string(),
        );
        spec.labels.insert(labels::SLUG.to_string(), slug);
        if !args.use_aliases
            && let runtime::container::NetworkMode::Networks(attachments) = &mut spec.network
        {
            for attachment in attachments {
                attachment.aliases.clear();
            }
        }
        spec.tty = tty;
        if tty {
            spec.console_size = attach::our_window_size();
        }
        spec.open_stdin = interactive;
        for entry in &args.volume {
            spec.mounts
                .push(bind_mount(entry, &scope.loaded.working_dir)?);
        }
        scope
            .engine
            .containers
            .create(spec)
            .with_context(|| format!("cannot create container {name}"))?
    };
    let runtime = &scope.engine.containers;

    if args.detach {
        if args.rm {
            output::warnings(&[format!(
                "--rm with -d: there is no daemon to remove {name} when it exits; `rcompose down` removes it"
            )]);
        }
        runtime
            .start(&id)
            .with_context(|| format!("cannot start container {name}"))?;
        crate::reconcile::hooks::post_start(&scope.engine, project, &args.service, &id)?;
        output::stdout(&format!("{id}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }

    // Connect while the container starts, so that the session sees its first output.
    let (started, attach) = start_attached(runtime, &id);
    if let Err(error) = started {
        let code = match &error {
            runtime::container::Error::Start { code, .. } => *code,
            _ => 125,
        };
        output::report_error(&anyhow::Error::new(error).context(format!("cannot start {name}")));
        if args.rm {
            let _ = runtime.remove(&id, true);
        }
        return Ok(ExitCode::from(code.clamp(1, 255) as u8));
    }
    // The session replays the output from the start, so the hooks may run first.
    if let Err(error) =
        crate::reconcile::hooks::post_start(&scope.engine, project, &args.service, &id)
    {
        output::report_error(&error);
        if args.rm {
            let _ = runtime.remove(&id, true);
        }
        return Ok(ExitCode::FAILURE);
    }
    let session = Session {
        stdin: true,
        sig_proxy: true,
        detach_keys: attach::parse_detach_keys("ctrl-p,ctrl-q")?,
        from_start: true,
        close_input: true,
    };
    let ended = attach::attached(runtime, &id, tty, attach, &session);
    if args.rm && ended.is_err() {
        // The session failed (e.g. the monitor died): --rm still leaves nothing behind.
        let _ = runtime.remove(&id, true);
    }
    let ended = ended?;
    if args.rm && ended != Ended::Detached {
        runtime
            .remove(&id, true)
            .with_context(|| format!("cannot remove container {name}"))?;
    }
    Ok(attach::exit_code(ended))
}

/// The service as the one-off runs it: the command line's overrides, no restart policy, no ports
/// (unless `--service-ports`), and never its fixed `container_name`.
fn one_off_service(scope: &Scope, service: &Service, args: &RunArgs) -> anyhow::Result<Service> {
    let mut service = service.clone();
    if !args.command.is_empty() {
        service.command = Some(args.command.clone());
    }
    if let Some(entrypoint) = &args.entrypoint {
        let words = shell_words::split(entrypoint)
            .with_context(|| format!("invalid --entrypoint {entrypoint:?}"))?;
        service.entrypoint = Some(words);
        // docker's rule: a new entrypoint drops the image's command unless one is given.
        if args.command.is_empty() {
            service.command = Some(Vec::new());
        }
    }
    for file in &args.env_from_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("--env-from-file: cannot read {}", file.display()))?;
        let shell = |name: &str| std::env::var(name).ok();
        let variables = crate::project::dotenv::parse(&text, &shell).map_err(|error| {
            anyhow::anyhow!("{}:{}: {}", file.display(), error.line, error.message)
        })?;
        for variable in variables {
            if let Some(value) = variable.value {
                service.environment.insert(variable.name, Some(value));
            }
        }
    }
    for entry in &args.env {
        match entry.split_once('=') {
            Some((key, value)) => {
                service
                    .environment
                    .insert(key.to_string(), Some(value.to_string()));
            }
            // `-e NAME` takes the value from the project's environment; absent, it is dropped.
            None => {
                if let Some(value) = scope.loaded.environment.value(entry) {
                    service.environment.insert(entry.clone(), Some(value));
                }
            }
        }
    }
    if let Some(user) = &args.user {
        service.user = Some(user.clone());
    }
    if let Some(dir) = &args.workdir {
        service.working_dir = Some(dir.clone());
    }
    for entry in &args.label {
        let (key, value) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
        service.labels.insert(key.to_string(), value.to_string());
    }
    for cap in &args.cap_add {
        service.cap_drop.retain(|c| c != cap);
        service.cap_add.push(cap.clone());
    }
    for cap in &args.cap_drop {
        service.cap_add.retain(|c| c != cap);
        service.cap_drop.push(cap.clone());
    }
    service.restart = None;
    if let Some(deploy) = &mut service.deploy {
        deploy.restart_policy = None;
    }
    if !args.service_ports {
        service.ports.clear();
    }
    for text in &args.publish {
        let specs = crate::project::canonical::parse_port(text)
            .map_err(|error| anyhow::anyhow!("invalid --publish {text:?}: {error}"))?;
        service.ports.extend(specs.into_iter().map(|spec| Port {
            host_ip: spec.host_ip,
            protocol: Some(spec.protocol),
            published: spec.published,
            target: spec.target,
            ..Port::default()
        }));
    }
    service.container_name = None;
    Ok(service)
}

/// Brings up what the one-off needs: the plan for the service (with its dependencies unless
/// `--no-deps`: their containers, networks and volumes), without the actions on the service's own
/// containers (their waits for the dependencies' conditions stay).
fn prepare(scope: &Scope, args: &RunArgs) -> anyhow::Result<()> {
    let project = &scope.loaded.project;
    let snapshot = observe(&scope.engine, project)?;
    let options = PlanOptions {
        services: vec![args.service.clone()],
        no_deps: args.no_deps,
        remove_orphans: args.remove_orphans,
        disabled_services: scope.loaded.disabled_services.clone(),
        start: true,
        ..PlanOptions::default()
    };
    let mut plan = plan::plan(project, &snapshot, &options)?;
    plan.actions.retain(|action| {
        !matches!(&action.target, Target::Container { service, .. } if *service == args.service)
    });
    if plan.actions.is_empty() {
        return Ok(());
    }
    output::warnings(&plan.warnings);
    apply::check_images(&scope.engine, &scope.loaded, &plan)?;
    let progress = super::scope::plan_progress(&plan);
    apply::apply(
        &scope.engine,
        &scope.loaded,
        &plan,
        &ApplyOptions::default(),
        &progress,
    )
}

/// Starts the container while another thread connects to it as soon as it is up (the attach socket
/// exists from the moment the monitor records the container as starting).
fn start_attached(
    runtime: &Runtime,
    id: &str,
) -> (
    Result<runtime::container::State, runtime::container::Error>,
    Option<Attach>,
) {
    let done = Arc::new(AtomicBool::new(false));
    let connector = {
        let runtime = runtime.clone();
        let id = id.to_string();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut give_up: Option<Instant> = None;
            loop {
                if let Ok(attach) = runtime.attach(&id) {
                    return Some(attach);
                }
                if done.load(Ordering::SeqCst) {
                    // Started (or failed): a last short while, then the log has the output anyway.
                    let deadline =
                        *give_up.get_or_insert_with(|| Instant::now() + Duration::from_millis(200));
                    if Instant::now() >= deadline {
                        return None;
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let started = runtime.start(id);
    done.store(true, Ordering::SeqCst);
    let attach = connector.join().ok().flatten();
    (started, attach)
}

/// A bind mount from `-v SRC:DST[:ro|rw]`.
fn bind_mount(entry: &str, base: &std::path::Path) -> anyhow::Result<Mount> {
    let parts: Vec<&str> = entry.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [source, target] => (*source, *target, "rw"),
        [source, target, mode] => (*source, *target, *mode),
        _ => bail!("invalid --volume {entry:?}: use SRC:DST[:ro]"),
    };
    if !(source.starts_with('/') || source.starts_with('.') || source.starts_with('~')) {
        bail!(
            "--volume {entry:?}: named volumes are not supported by `run -v`; declare the volume on the service"
        );
    }
    let read_only = match mode {
        "ro" => true,
        "rw" => false,
        other => bail!("invalid --volume {entry:?}: unknown mode {other:?} (ro or rw)"),
    };
    let source = match source.strip_prefix("~/") {
        Some(rest) => {
            PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(rest)
        }
        None => base.join(source),
    };
    if !source.exists() {
        bail!("--volume {entry:?}: {} does not exist", source.display());
    }
    if !target.starts_with('/') {
        bail!("invalid --volume {entry:?}: the target must be an absolute path");
    }
    Ok(Mount {
        target: target.to_string(),
        kind: MountKind::Bind { source },
        read_only,
        recursive: Default::default(),
        subpath: None,
    })
}

/// A random 64-hex id, as docker's `stringid.GenerateRandomID`.
fn random_slug() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut bytes))
        .context("cannot read /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
