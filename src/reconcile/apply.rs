//! The executor: carries out a [`Plan`] through the runtime, action by action in an order that respects
//! every action's `after` list, reporting progress. It makes no decisions: what to do and why was
//! settled by the planner; this module only knows how.
//!
//! Health gating (`depends_on: {condition: service_healthy}`) reads the health the dependency's
//! monitor records (reset at every start), asking it for a probe at once while the dependency
//! starts; a failure names the service, the probe and its last output.

use std::collections::BTreeMap;
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use runtime::container::ContainerSpec;

use super::container::{Instance, spec};
use super::plan::{Action, ActionKind, Plan, Target};
use crate::engine::Engine;
use crate::output::progress::Progress;
use crate::project::Loaded;
use crate::project::model::{Condition, Service};

/// Settings of the run that are not in the plan.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// `-t/--timeout`: seconds to wait for a stop before killing (default: the service's
    /// `stop_grace_period`, else 10).
    pub timeout: Option<u64>,
}

/// How many actions run at once when `COMPOSE_PARALLEL_LIMIT` does not say (docker compose's
/// variable).
const DEFAULT_PARALLEL_LIMIT: usize = 16;

/// How many containers or actions may be worked on at once.
pub fn parallel_limit() -> usize {
    std::env::var("COMPOSE_PARALLEL_LIMIT")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_PARALLEL_LIMIT)
}

/// Carries out `plan`: every action whose `after` list is done runs at once, on its own thread, up
/// to the parallel limit, so independent services start together and a wide project takes about
/// the time of its slowest chain. Threads rather than an async runtime: each action is a blocking
/// call into the runtime (files, netlink, a helper process), and a scope of threads gives
/// parallelism without an executor. After a failure (or Ctrl-C) nothing new starts; running actions
/// finish, and the first error is returned.
pub fn apply(
    engine: &Engine,
    loaded: &Loaded,
    plan: &Plan,
    options: &ApplyOptions,
    progress: &Progress,
) -> anyhow::Result<()> {
    let (mut failures, complete) = execute(engine, loaded, plan, options, progress, false);
    if !failures.is_empty() {
        return Err(failures.swap_remove(0));
    }
    if !complete {
        bail!("interrupted");
    }
    Ok(())
}

/// Carries out `plan` like [`apply`], but an action that fails counts as done: what comes after it
/// still runs, and every failure is returned (teardown, where one container that cannot be removed
/// must not leave the rest of the project behind). Only Ctrl-C stops it early ("interrupted").
pub fn apply_all(
    engine: &Engine,
    loaded: &Loaded,
    plan: &Plan,
    options: &ApplyOptions,
    progress: &Progress,
) -> Vec<anyhow::Error> {
    let (mut failures, complete) = execute(engine, loaded, plan, options, progress, true);
    if !complete && failures.is_empty() {
        failures.push(anyhow::anyhow!("interrupted"));
    }
    failures
}

/// The scheduler behind [`apply`] and [`apply_all`]: the failures, and whether every action ran.
fn execute(
    engine: &Engine,
    loaded: &Loaded,
    plan: &Plan,
    options: &ApplyOptions,
    progress: &Progress,
    keep_going: bool,
) -> (Vec<anyhow::Error>, bool) {
    let limit = parallel_limit();
    // Container ids created by this run, by container name.
    let created: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    let count = plan.actions.len();
    let index_of: BTreeMap<usize, usize> = plan
        .actions
        .iter()
        .enumerate()
        .map(|(index, action)| (action.id, index))
        .collect();
    let mut started = vec![false; count];
    let mut finished = vec![false; count];
    let mut failures: Vec<anyhow::Error> = Vec::new();
    std::thread::scope(|scope| {
        let (sender, receiver) = mpsc::channel::<(usize, anyhow::Result<()>)>();
        let mut running = 0;
        loop {
            if (keep_going || failures.is_empty()) && !runtime::sys::interrupt::interrupted() {
                for (index, action) in plan.actions.iter().enumerate() {
                    // A stop is a signal and then a wait, not work: every container that is due gets
                    // its signal at once, so a hundred that ignore SIGTERM take one grace period,
                    // not one per slot of the limit.
                    if running >= limit && action.kind != ActionKind::StopContainer {
                        continue;
                    }
                    let ready = action
                        .after
                        .iter()
                        .all(|id| index_of.get(id).is_none_or(|&i| finished[i]));
                    if started[index] || !ready {
                        continue;
                    }
                    started[index] = true;
                    running += 1;
                    let sender = sender.clone();
                    let created = &created;
                    scope.spawn(move || {
                        let result = run(engine, loaded, action, options, progress, created);
                        let _ = sender.send((index, result));
                    });
                }
            }
            if running == 0 {
                break;
            }
            let (index, result) = receiver.recv().expect("a running action reports");
            running -= 1;
            match result {
                Ok(()) => finished[index] = true,
                Err(error) => {
                    finished[index] = keep_going;
                    failures.push(error);
                }
            }
        }
    });
    let complete = finished.iter().all(|done| *done);
    (failures, complete)
}

/// Carries out one action.
fn run(
    engine: &Engine,
    loaded: &Loaded,
    action: &Action,
    options: &ApplyOptions,
    progress: &Progress,
    created: &Mutex<BTreeMap<String, String>>,
) -> anyhow::Result<()> {
    let project = &loaded.project;
    let started = Instant::now();
    let container_id = |target: &Target| {
        let created = created
            .lock()
            .expect("no panic while holding the lock")
            .clone();
        find_container(engine, &created, target)
    };
    match (&action.kind, &action.target) {
        (ActionKind::CreateNetwork, Target::Network { key, name }) => {
            progress.start("Network", name, "Creating");
            super::networks::create(engine, project, key, name)?;
            progress.done("Network", name, "Created", started.elapsed());
        }
        (ActionKind::RemoveNetwork, Target::Network { name, .. }) => {
            progress.start("Network", name, "Removing");
            if remove_network(engine, name)? {
                progress.done("Network", name, "Removed", started.elapsed());
            } else {
                progress.done(
                    "Network",
                    name,
                    "Resource is still in use",
                    started.elapsed(),
                );
            }
        }
        (ActionKind::RemoveImage, Target::Image { name }) => {
            progress.start("Image", name, "Removing");
            let status = remove_image(engine, name)?;
            progress.done("Image", name, status, started.elapsed());
        }
        (ActionKind::CreateVolume, Target::Volume { key, name }) => {
            progress.start("Volume", name, "Creating");
            super::volumes::create(engine, project, key, name)?;
            progress.done("Volume", name, "Created", started.elapsed());
        }
        (
            ActionKind::CreateContainer,
            Target::Container {
                service,
                number,
                name,
                ..
            },
        ) => {
            progress.start("Container", name, "Creating");
            let definition = &project.services[service];
            let container_spec =
                container_spec(engine, loaded, service, definition, *number, name)?;
            let id = engine
                .containers
                .create(container_spec)
                .with_context(|| format!("cannot create container {name}"))?;
            created
                .lock()
                .expect("no panic while holding the lock")
                .insert(name.clone(), id);
            progress.done("Container", name, "Created", started.elapsed());
        }
        (ActionKind::StartContainer, target @ Target::Container { service, name, .. }) => {
            let id = container_id(target)?;
            progress.start("Container", name, "Starting");
            engine
                .containers
                .start(&id)
                .with_context(|| format!("cannot start container {name}"))?;
            super::hooks::post_start(engine, project, service, &id)?;
            progress.done("Container", name, "Started", started.elapsed());
        }
        (ActionKind::Wait(condition), target @ Target::Container { service, name, .. }) => {
            let id = container_id(target)?;
            match condition {
                Condition::ServiceStarted => {}
                Condition::ServiceHealthy => {
                    progress.start("Container", name, "Waiting");
                    wait_healthy(engine, &id, service)?;
                    progress.done("Container", name, "Healthy", started.elapsed());
                }
                Condition::ServiceCompletedSuccessfully => {
                    progress.start("Container", name, "Waiting");
                    let state = engine
                        .containers
                        .wait(&id, None)
                        .with_context(|| format!("cannot wait for container {name}"))?;
                    let code = state.exit_code.unwrap_or(0);
                    if code != 0 {
                        bail!(
                            "service {service:?} didn't complete successfully: exit {code} ({}) ",
                            action.reason
                        );
                    }
                    progress.done("Container", name, "Exited", started.elapsed());
                }
            }
        }
        (ActionKind::StopContainer, target @ Target::Container { service, name, .. }) => {
            let id = container_id(target)?;
            progress.start("Container", name, "Stopping");
            let timeout = stop_timeout(options, project.services.get(service));
            super::hooks::pre_stop(engine, project, service, &id)?;
            engine
                .containers
                .stop(&id, Some(timeout))
                .with_context(|| format!("cannot stop container {name}"))?;
            progress.done("Container", name, "Stopped", started.elapsed());
        }
        (ActionKind::RemoveContainer, target @ Target::Container { name, .. }) => {
            let id = container_id(target)?;
            progress.start("Container", name, "Removing");
            engine
                .containers
                .remove(&id, true)
                .with_context(|| format!("cannot remove container {name}"))?;
            progress.done("Container", name, "Removed", started.elapsed());
        }
        (ActionKind::RestartContainer, target @ Target::Container { service, name, .. }) => {
            let id = container_id(target)?;
            progress.start("Container", name, "Restarting");
            let timeout = stop_timeout(options, project.services.get(service));
            super::hooks::pre_stop(engine, project, service, &id)?;
            engine
                .containers
                .stop(&id, Some(timeout))
                .with_context(|| format!("cannot stop container {name}"))?;
            engine
                .containers
                .start(&id)
                .with_context(|| format!("cannot start container {name}"))?;
            super::hooks::post_start(engine, project, service, &id)?;
            progress.done("Container", name, "Restarted", started.elapsed());
        }
        (ActionKind::RemoveVolume, Target::Volume { name, .. }) => {
            progress.start("Volume", name, "Removing");
            // Refused while a container (of any project) still mounts it, as docker refuses.
            let containers = engine.containers.list().context("cannot list containers")?;
            engine
                .volumes
                .remove_unused(name, &containers)
                .with_context(|| format!("cannot remove volume {name}"))?;
            progress.done("Volume", name, "Removed", started.elapsed());
        }
        (kind, target) => bail!("internal error: action {kind} cannot apply to {target}"),
    }
    Ok(())
}

/// Removes a network for `down`; returns false, with a warning, when containers that exist (of other
/// projects, or of this one that could not be removed) are still on it: docker compose keeps such a
/// network with a warning rather than fail. Endpoints of containers that no longer exist (a command
/// killed half-way) are removed first.
fn remove_network(engine: &Engine, name: &str) -> anyhow::Result<bool> {
    let endpoints = engine
        .networks
        .endpoints(name)
        .with_context(|| format!("cannot read the endpoints of network {name}"))?;
    for endpoint in &endpoints {
        if let Err(runtime::container::Error::NotFound(_)) =
            engine.containers.inspect(&endpoint.container)
        {
            engine
                .networks
                .disconnect(name, &endpoint.container)
                .with_context(|| format!("cannot remove a stale endpoint from network {name}"))?;
        }
    }
    match engine.networks.remove(name) {
        Ok(()) => Ok(true),
        Err(runtime::network::Error::InUse { containers, .. }) => {
            crate::output::warnings(&[format!(
                "network {name} is kept: containers still use it ({containers})"
            )]);
            Ok(false)
        }
        Err(error) => Err(error).with_context(|| format!("cannot remove network {name}")),
    }
}

/// Removes an image reference for `down --rmi`, as docker compose does: the name goes (and the image
/// with its last name); an image a container still runs from keeps its last name, with a warning;
/// a missing one is not an error. Returns the progress status.
fn remove_image(engine: &Engine, name: &str) -> anyhow::Result<&'static str> {
    let Ok(image) = engine.images.image(name) else {
        return Ok("Warning: No resource found to remove");
    };
    if image.names.len() <= 1
        && let Some(dirs) = image.layer_dirs()
    {
        let containers = engine.containers.list().context("cannot list containers")?;
        if let Some(user) = containers.iter().find(|info| {
            matches!(&info.record.spec.rootfs, runtime::container::Rootfs::Layers(layers) if *layers == dirs)
        }) {
            crate::output::warnings(&[format!(
                "image {name} is kept: container {} uses it",
                if user.record.spec.name.is_empty() {
                    &user.record.id
                } else {
                    &user.record.spec.name
                }
            )]);
            return Ok("Resource is still in use");
        }
    }
    engine
        .images
        .remove(name, false)
        .with_context(|| format!("cannot remove image {name}"))?;
    Ok("Removed")
}

/// How long a stop waits before killing.
pub fn stop_timeout(options: &ApplyOptions, service: Option<&Service>) -> Duration {
    let grace = service
        .and_then(|s| s.stop_grace_period)
        .and_then(|d| d.to_std());
    options
        .timeout
        .map(Duration::from_secs)
        .or(grace)
        .unwrap_or(Duration::from_secs(10))
}

/// The id of a container the plan names: made by this run, known to the snapshot, or found by name.
fn find_container(
    engine: &Engine,
    created: &BTreeMap<String, String>,
    target: &Target,
) -> anyhow::Result<String> {
    let Target::Container { name, id, .. } = target else {
        bail!("internal error: {target} is not a container")
    };
    if let Some(id) = created.get(name).or(id.as_ref()) {
        return Ok(id.clone());
    }
    engine
        .containers
        .find(name)
        .with_context(|| format!("no container {name}"))
}

/// Checks, before anything is changed, that every service the plan creates has its image.
pub fn check_images(engine: &Engine, loaded: &Loaded, plan: &Plan) -> anyhow::Result<()> {
    for action in &plan.actions {
        if let (ActionKind::CreateContainer, Target::Container { service, .. }) =
            (&action.kind, &action.target)
        {
            image_of(
                engine,
                &loaded.project,
                service,
                &loaded.project.services[service],
            )?;
        }
    }
    Ok(())
}

fn image_of(
    engine: &Engine,
    project: &crate::project::model::Project,
    service_name: &str,
    service: &Service,
) -> anyhow::Result<runtime::image::Image> {
    let reference = super::plan::image_name(project, service_name, service);
    engine.images.image(&reference).map_err(|error| {
        if service.build.is_some() {
            anyhow::anyhow!(
                "service {service_name:?}: image {reference} is not built ({error}); run `rcompose build {service_name}` or `up` without --no-build"
            )
        } else {
            anyhow::anyhow!(
                "service {service_name:?}: image {reference} is not in the local store ({error}); pull it (`rcompose pull {service_name}`; `pull_policy: never` forbids `up` to), or import or load it (`rcompose image import`, `rcompose image load`)"
            )
        }
    })
}

/// The spec of container `name` (number `number`) of a service: its image's config, the service's
/// settings and the Compose labels (`reconcile::container`). `run` builds its one-offs here too.
pub fn container_spec(
    engine: &Engine,
    loaded: &Loaded,
    service_name: &str,
    service: &Service,
    number: u32,
    name: &str,
) -> anyhow::Result<ContainerSpec> {
    let image = image_of(engine, &loaded.project, service_name, service)?;
    if let Some(platform) = service.platform.as_deref().filter(|p| !p.is_empty()) {
        let config = &image.config;
        super::resources::check_platform(
            platform,
            service.image.as_deref().unwrap_or(service_name),
            &config.os().to_string(),
            &config.architecture().to_string(),
            config.variant().as_deref(),
        )
        .map_err(|message| anyhow::anyhow!("service {service_name:?}: {message}"))?;
    }
    let image_spec = ContainerSpec::from_image(&image).with_context(|| {
        format!(
            "image {} has layers that are not unpacked; load it again",
            image.id
        )
    })?;
    let config = image.config.config().clone().unwrap_or_default();
    let instance = Instance {
        project: &loaded.project,
        service_name,
        service,
        number,
        name: name.to_string(),
        image_spec,
        image_entrypoint: config.entrypoint().clone(),
        image_cmd: config.cmd().clone(),
        image_id: image.id.to_string(),
        working_dir: loaded.working_dir.display().to_string(),
        config_files: loaded
            .config_files
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
    };
    let layers = match &instance.image_spec.rootfs {
        runtime::container::Rootfs::Layers(layers) => layers.clone(),
        runtime::container::Rootfs::Dir(dir) => vec![dir.clone()],
    };
    let sources = super::volumes::RuntimeMounts {
        engine,
        project: &loaded.project,
        layers,
    };
    let mut container_spec = spec(&instance, &sources)?;
    image_volumes(
        config.volumes().as_deref().unwrap_or_default(),
        name,
        &sources,
        &mut container_spec,
    )?;
    container_spec.network =
        super::networks::mode(&loaded.project, service_name, service, &|name| {
            Ok(engine.containers.find(name)?)
        })?;
    super::networks::endpoint_settings(
        &loaded.project,
        service_name,
        service,
        &mut container_spec,
    )?;
    super::namespaces::apply(
        &loaded.project,
        service_name,
        service,
        &|name| Ok(engine.containers.find(name)?),
        &mut container_spec,
    )?;
    // dockerd's warnings for what it would discard on this host, as docker compose shows them.
    let mut warnings = super::resources::platform_warnings(service);
    warnings.extend(
        engine
            .containers
            .check_limits(&container_spec.limits)
            .map_err(|message| anyhow::anyhow!("service {service_name:?}: {message}"))?,
    );
    if !warnings.is_empty() {
        crate::output::warnings(
            &warnings
                .iter()
                .map(|warning| format!("{name}: {warning}"))
                .collect::<Vec<_>>(),
        );
    }
    Ok(container_spec)
}

/// An image's `VOLUME`s get an anonymous volume each where the service mounts nothing, as docker
/// gives them (seeded with the image's content there, kept across recreations like the service's
/// own anonymous volumes).
fn image_volumes(
    targets: &[String],
    container: &str,
    sources: &dyn super::container::MountSources,
    spec: &mut ContainerSpec,
) -> anyhow::Result<()> {
    for target in targets {
        let target = match target.trim_end_matches('/') {
            "" => "/",
            trimmed => trimmed,
        };
        if spec.mounts.iter().any(|m| m.target == target) {
            continue;
        }
        let name = super::container::anonymous_volume_name(container, target);
        let kind = sources.volume(&super::container::VolumeRequest {
            name: &name,
            declared: None,
            target,
            copy_image: true,
            labels: None,
        })?;
        spec.mounts.push(runtime::container::Mount {
            target: target.to_string(),
            kind,
            read_only: false,
            recursive: runtime::container::BindRecursive::default(),
            subpath: None,
        });
    }
    Ok(())
}

/// Waits until the container's monitor records it healthy, or fails when the monitor declares it
/// unhealthy (`retries` failures after `start_period`, docker's rules) or the container exits. The
/// monitor runs the probes; while the container starts (no result yet, or within `start_period`)
/// this asks it for one at once every few hundred milliseconds instead of waiting for the
/// `interval`, so a dependency that is up is found healthy at once, and what `up` saw is what `ps`
/// shows. Health is reset at every start, so only results of the latest start count.
///
/// The healthcheck is the container's (the service's, or the image's `HEALTHCHECK`, whose test a
/// service `healthcheck` with timings only inherits): without one, it fails at once with docker
/// compose's message.
fn wait_healthy(engine: &Engine, id: &str, service_name: &str) -> anyhow::Result<()> {
    let info = engine.containers.inspect(id)?;
    let Some(check) = info.record.spec.healthcheck else {
        bail!(
            "container {} has no healthcheck configured (service {service_name:?} has no `healthcheck:` and its image no HEALTHCHECK; add one, or wait with `condition: service_started`)",
            info.record.spec.name
        );
    };
    let start_period = Duration::from_millis(check.start_period_ms);
    const NUDGE: Duration = Duration::from_millis(250);
    let mut nudged: Option<Instant> = None;
    loop {
        let state = engine.containers.state(id)?;
        if !state.status.is_active() {
            bail!(
                "service {service_name:?} exited (code {}) before it became healthy",
                state.exit_code.unwrap_or(0)
            );
        }
        let health = state.health.unwrap_or_default();
        match health.status.as_str() {
            "healthy" => return Ok(()),
            "unhealthy" => bail!(
                "service {service_name:?} is unhealthy: healthcheck {:?} failed {} times; last output: {}",
                check.test,
                health.failing_streak,
                health.log.last().map_or("", |result| result.output.trim())
            ),
            _ => {}
        }
        let started = runtime::time::parse_rfc3339(&state.started_at)
            .map(|t| runtime::time::now_unix() - t)
            .unwrap_or(0);
        let starting =
            health.log.is_empty() || Duration::from_secs(started.max(0) as u64) < start_period;
        if starting && nudged.is_none_or(|at| at.elapsed() >= NUDGE) {
            engine.containers.probe_health_now(id)?;
            nudged = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
