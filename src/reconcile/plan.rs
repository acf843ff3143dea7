//! The planner: a pure function from the desired project and the observed snapshot to a [`Plan`], a
//! graph of actions where each action knows why it is needed.
//!
//! No I/O, no clock, no root: everything it needs is in its arguments, so every decision is tested
//! with a snapshot written in code, and `up --dry-run` prints the same text the tests compare.
//!
//! Rules (docker compose's "diverged" policy, with rcompose's fixes for its users' complaints):
//! - a container is recreated when its config hash, its image or a network it uses changed (or with
//!   `--force-recreate`); the reason names the changed fields;
//! - a stopped container whose config did not change is started again, except a one-shot that exited
//!   0 with no restart policy: it finished its job and is kept (docker compose re-runs it);
//! - scale follows `--scale`, then `deploy.replicas`, then `scale`: missing numbers are created, extra
//!   ones removed from the highest number down;
//! - a dependent with `depends_on.<svc>.restart: true` restarts when that dependency is recreated;
//! - starting a service waits for its dependencies' conditions (`service_healthy`,
//!   `service_completed_successfully`); `required: false` dependencies that are absent are skipped;
//! - orphans (containers of services no longer in the project) are removed with `--remove-orphans`,
//!   else reported;
//! - `down --rmi all` removes every service's image, `--rmi local` only those without a custom tag
//!   (services with no `image`, whose image is named `<project>-<service>`), after the containers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::diff;
use super::snapshot::{ObservedContainer, ObservedResource, Snapshot, State};
use crate::graph::ServiceGraph;
use crate::hash;
use crate::names;
use crate::project::model::{Condition, Project, Service};

/// When existing containers are recreated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recreate {
    /// When their configuration or image diverged (the default).
    #[default]
    Diverged,
    /// Always (`--force-recreate`).
    Force,
    /// Never (`--no-recreate`).
    Never,
}

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Services named on the command line (empty: all).
    pub services: Vec<String>,
    /// `--no-deps`: do not include the named services' dependencies.
    pub no_deps: bool,
    /// For the named services (all when none are named).
    pub recreate: Recreate,
    /// For the dependencies the named services bring along (`--always-recreate-deps`: force;
    /// `--no-recreate`: never), as docker compose decides them apart.
    pub recreate_dependencies: Recreate,
    pub remove_orphans: bool,
    /// Services the files define that the active profiles leave out: their containers are no
    /// orphans.
    pub disabled_services: BTreeSet<String>,
    /// `--scale SERVICE=N`.
    pub scale: BTreeMap<String, u32>,
    /// `false` for `create`/`up --no-start`: containers are created, not started.
    pub start: bool,
}

/// What an action acts on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// A network, by project key and runtime name.
    Network { key: String, name: String },
    /// A volume, by project key and runtime name.
    Volume { key: String, name: String },
    /// A container of a service (`id` when it exists).
    Container {
        service: String,
        number: u32,
        name: String,
        id: Option<String>,
    },
    /// An image, by the reference a service uses (`down --rmi`).
    Image { name: String },
}

/// One step of a plan; each maps to one runtime call (waits excepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    CreateNetwork,
    CreateVolume,
    CreateContainer,
    StartContainer,
    /// Wait until the container reaches what a dependent's `depends_on` condition asks.
    Wait(Condition),
    StopContainer,
    RemoveContainer,
    RestartContainer,
    RemoveVolume,
    RemoveNetwork,
    /// Remove the reference (and the image with its last one), as `docker image rm` without force.
    RemoveImage,
}

/// An action, its reason and the actions that must finish before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub id: usize,
    pub kind: ActionKind,
    pub target: Target,
    pub reason: String,
    pub after: Vec<usize>,
}

/// The plan: actions in an order that respects their dependencies, plus warnings for the user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub warnings: Vec<String>,
}

/// Why a project cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("network {key} declared as external, but could not be found (looked for {name:?})")]
    MissingExternalNetwork { key: String, name: String },
    #[error(
        "external volume \"{name}\" not found (volume {key} is declared `external: true`); create it first with `rcompose volume create {name}`"
    )]
    MissingExternalVolume { key: String, name: String },
    #[error("no such service: {0}")]
    NoSuchService(String),
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionKind::CreateNetwork | ActionKind::CreateVolume | ActionKind::CreateContainer => {
                write!(f, "create")
            }
            ActionKind::StartContainer => write!(f, "start"),
            ActionKind::Wait(Condition::ServiceHealthy) => write!(f, "wait healthy"),
            ActionKind::Wait(Condition::ServiceCompletedSuccessfully) => {
                write!(f, "wait completed")
            }
            ActionKind::Wait(Condition::ServiceStarted) => write!(f, "wait started"),
            ActionKind::StopContainer => write!(f, "stop"),
            ActionKind::RemoveContainer
            | ActionKind::RemoveVolume
            | ActionKind::RemoveNetwork
            | ActionKind::RemoveImage => write!(f, "remove"),
            ActionKind::RestartContainer => write!(f, "restart"),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Network { name, .. } => write!(f, "network {name}"),
            Target::Volume { name, .. } => write!(f, "volume {name}"),
            Target::Container { name, .. } => write!(f, "container {name}"),
            Target::Image { name } => write!(f, "image {name}"),
        }
    }
}

impl fmt::Display for Plan {
    /// One line per action: `#3 create container demo-web-1: no container (after #1, #2)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for action in &self.actions {
            write!(
                f,
                "#{} {} {}: {}",
                action.id, action.kind, action.target, action.reason
            )?;
            if !action.after.is_empty() {
                let after: Vec<String> = action.after.iter().map(|id| format!("#{id}")).collect();
                write!(f, " (after {})", after.join(", "))?;
            }
            writeln!(f)?;
        }
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        Ok(())
    }
}

impl Plan {
    fn push(
        &mut self,
        kind: ActionKind,
        target: Target,
        reason: impl Into<String>,
        mut after: Vec<usize>,
    ) -> usize {
        let id = self.actions.len() + 1;
        after.sort_unstable();
        after.dedup();
        self.actions.push(Action {
            id,
            kind,
            target,
            reason: reason.into(),
            after,
        });
        id
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// How many containers a service should have.
pub fn replicas(name: &str, service: &Service, options: &PlanOptions) -> u32 {
    if let Some(&scale) = options.scale.get(name) {
        return scale;
    }
    service
        .deploy
        .as_ref()
        .and_then(|deploy| deploy.replicas)
        .or(service.scale)
        .unwrap_or(1)
}

/// The runtime name of container `number` of a service.
pub fn container_name(
    project: &Project,
    service_name: &str,
    service: &Service,
    number: u32,
) -> String {
    match &service.container_name {
        Some(name) => name.clone(),
        None => names::container_name(&project.name, service_name, number),
    }
}

/// Where each service stands after planning, for the actions of its dependents.
#[derive(Default)]
struct ServiceOutcome {
    /// Actions a dependent's start must wait for (the service's starts, or its waits).
    ready: Vec<usize>,
    /// Whether its containers were (re)created.
    recreated: bool,
    /// Its container creations, which a `volumes_from` user's creation comes after.
    created: Vec<usize>,
}

/// Plans the work that brings the runtime to the project.
pub fn plan(
    project: &Project,
    snapshot: &Snapshot,
    options: &PlanOptions,
) -> Result<Plan, PlanError> {
    let graph = ServiceGraph::new(project);
    for name in &options.services {
        if !project.services.contains_key(name) {
            return Err(PlanError::NoSuchService(name.clone()));
        }
    }
    let selected: BTreeSet<String> = if options.services.is_empty() {
        project.services.keys().cloned().collect()
    } else if options.no_deps {
        options.services.iter().cloned().collect()
    } else {
        graph.with_dependencies(&options.services)
    };
    let mut plan = Plan::default();

    // Networks and volumes the selected services use.
    let mut network_actions: BTreeMap<String, usize> = BTreeMap::new();
    let mut recreated_networks: BTreeSet<String> = BTreeSet::new();
    let used_networks: BTreeSet<&String> = selected
        .iter()
        .filter_map(|s| project.services.get(s))
        .flat_map(|s| s.networks.keys())
        .collect();
    for key in used_networks {
        let Some(network) = project.networks.get(key) else {
            continue;
        };
        let name = project.network_name(key);
        let target = Target::Network {
            key: key.clone(),
            name: name.clone(),
        };
        match observed_state(network, snapshot.networks.get(&name)) {
            Observed::Missing if network.external => {
                return Err(PlanError::MissingExternalNetwork {
                    key: key.clone(),
                    name,
                });
            }
            Observed::Missing => {
                let id = plan.push(ActionKind::CreateNetwork, target, "not found", vec![]);
                network_actions.insert(key.clone(), id);
            }
            Observed::Differs if !network.external => {
                plan.warnings.push(format!(
                    "network {name} exists but its configuration changed; run `down` and `up` to recreate it"
                ));
                recreated_networks.insert(key.clone());
            }
            Observed::Differs | Observed::Matches => {}
        }
    }
    let mut volume_actions: BTreeMap<String, usize> = BTreeMap::new();
    let used_volumes: BTreeSet<&str> = selected
        .iter()
        .filter_map(|s| project.services.get(s))
        .flat_map(|s| s.volumes.iter())
        .filter(|v| v.kind == crate::project::model::VolumeType::Volume)
        .filter_map(|v| v.source.as_deref())
        .collect();
    for key in used_volumes {
        let Some(volume) = project.volumes.get(key) else {
            continue;
        };
        let name = project.volume_name(key);
        match observed_state(volume, snapshot.volumes.get(&name)) {
            Observed::Missing if volume.external => {
                return Err(PlanError::MissingExternalVolume {
                    key: key.to_string(),
                    name,
                });
            }
            Observed::Missing => {
                let id = plan.push(
                    ActionKind::CreateVolume,
                    Target::Volume {
                        key: key.to_string(),
                        name,
                    },
                    "not found",
                    vec![],
                );
                volume_actions.insert(key.to_string(), id);
            }
            Observed::Differs if !volume.external => {
                plan.warnings.push(format!(
                    "volume {name} exists but doesn't match its configuration in the project; it is kept (remove it with `down -v` to recreate it)"
                ));
            }
            Observed::Differs | Observed::Matches => {}
        }
    }

    // Containers, service by service in start order.
    let mut outcomes: BTreeMap<String, ServiceOutcome> = BTreeMap::new();
    for service_name in graph.start_order() {
        if !selected.contains(&service_name) {
            continue;
        }
        let service = &project.services[&service_name];
        let mut prerequisites: Vec<usize> = Vec::new();
        prerequisites.extend(
            service
                .networks
                .keys()
                .filter_map(|k| network_actions.get(k)),
        );
        prerequisites.extend(
            service
                .volumes
                .iter()
                .filter_map(|v| v.source.as_deref())
                .filter_map(|source| volume_actions.get(source)),
        );
        // A container made with another's mounts (`volumes_from`) is created after that one.
        prerequisites.extend(
            volumes_from_services(project, service, options)
                .iter()
                .filter_map(|source| outcomes.get(source))
                .flat_map(|outcome| outcome.created.iter().copied()),
        );
        // A container that joins another's namespace (`network_mode`, `pid` or `ipc`: `service:X`)
        // is created after that one.
        for mode in [&service.network_mode, &service.pid, &service.ipc] {
            if let Some(shared) = mode
                .as_deref()
                .and_then(|mode| mode.strip_prefix("service:"))
                && let Some(outcome) = outcomes.get(shared)
            {
                prerequisites.extend(outcome.created.iter().copied());
            }
        }
        let restart_reasons: Vec<String> = service
            .depends_on
            .iter()
            .filter(|(dependency, depends_on)| {
                depends_on.restart && outcomes.get(*dependency).is_some_and(|o| o.recreated)
            })
            .map(|(dependency, _)| format!("dependency {dependency} was recreated"))
            .collect();
        // Each dependency's condition becomes a wait that this service's starts come after; the waits
        // are planned only if the service has something to start.
        let mut waits: Option<Vec<usize>> = None;
        let mut ensure_waits = |plan: &mut Plan| -> Vec<usize> {
            waits
                .get_or_insert_with(|| {
                    dependency_waits(plan, project, &service_name, service, &outcomes)
                })
                .clone()
        };
        let outcome = plan_service(
            &mut plan,
            project,
            snapshot,
            options,
            &service_name,
            service,
            &prerequisites,
            &mut ensure_waits,
            &recreated_networks,
            &restart_reasons,
        );
        outcomes.insert(service_name, outcome);
    }

    // Orphans: containers of services the project no longer has.
    let orphans: Vec<&ObservedContainer> = snapshot
        .containers
        .iter()
        .filter(|c| {
            !c.oneoff
                && !project.services.contains_key(&c.service)
                && !options.disabled_services.contains(&c.service)
        })
        .collect();
    if !orphans.is_empty() {
        if options.remove_orphans {
            for orphan in orphans {
                let target = container_target(orphan);
                let stop = match orphan.state {
                    State::Running | State::Paused | State::Restarting => Some(plan.push(
                        ActionKind::StopContainer,
                        target.clone(),
                        "orphan: its service is no longer in the project",
                        vec![],
                    )),
                    _ => None,
                };
                plan.push(
                    ActionKind::RemoveContainer,
                    target,
                    "orphan: its service is no longer in the project",
                    stop.into_iter().collect(),
                );
            }
        } else {
            let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
            plan.warnings.push(format!(
                "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(", ")
            ));
        }
    }
    Ok(plan)
}

/// The actions a service's starts must come after: for each dependency, its own starts when the
/// condition is `service_started`, else a wait for the condition.
fn dependency_waits(
    plan: &mut Plan,
    project: &Project,
    service_name: &str,
    service: &Service,
    outcomes: &BTreeMap<String, ServiceOutcome>,
) -> Vec<usize> {
    let mut waits = Vec::new();
    for (dependency, depends_on) in &service.depends_on {
        // Not selected (`--no-deps`) or absent (validation allows only optional ones): nothing to wait for.
        let Some(outcome) = outcomes.get(dependency) else {
            continue;
        };
        let mut ready = outcome.ready.clone();
        if depends_on.condition != Condition::ServiceStarted || ready.is_empty() {
            let target = Target::Container {
                service: dependency.clone(),
                number: 1,
                name: container_name(project, dependency, &project.services[dependency], 1),
                id: None,
            };
            let id = plan.push(
                ActionKind::Wait(depends_on.condition),
                target,
                format!("{service_name} depends on it"),
                ready,
            );
            ready = vec![id];
        }
        waits.extend(ready);
    }
    waits
}

fn container_target(container: &ObservedContainer) -> Target {
    Target::Container {
        service: container.service.clone(),
        number: container.number,
        name: container.name.clone(),
        id: Some(container.id.clone()),
    }
}

/// The actions for one service's containers.
#[allow(clippy::too_many_arguments)]
fn plan_service(
    plan: &mut Plan,
    project: &Project,
    snapshot: &Snapshot,
    options: &PlanOptions,
    service_name: &str,
    service: &Service,
    prerequisites: &[usize],
    waits: &mut dyn FnMut(&mut Plan) -> Vec<usize>,
    recreated_networks: &BTreeSet<String>,
    restart_reasons: &[String],
) -> ServiceOutcome {
    let mut outcome = ServiceOutcome::default();
    let expected_hash = hash::container_hash(project, service);
    let expected_config = hash::container_config(project, service);
    let expected_image = snapshot
        .images
        .get(&image_name(project, service_name, service));
    let mut existing: Vec<&ObservedContainer> = snapshot
        .containers
        .iter()
        .filter(|c| c.service == service_name && !c.oneoff)
        .collect();
    existing.sort_by_key(|c| c.number);
    let wanted = replicas(service_name, service, options);

    // Scale down: remove the highest numbers first.
    for container in existing.iter().rev().filter(|c| c.number > wanted) {
        let target = container_target(container);
        let reason = format!("scale down to {wanted}");
        let stop = is_active(&container.state).then(|| {
            plan.push(
                ActionKind::StopContainer,
                target.clone(),
                reason.clone(),
                vec![],
            )
        });
        plan.push(
            ActionKind::RemoveContainer,
            target,
            reason,
            stop.into_iter().collect(),
        );
    }

    for number in 1..=wanted {
        let name = container_name(project, service_name, service, number);
        let new_target = Target::Container {
            service: service_name.to_string(),
            number,
            name: name.clone(),
            id: None,
        };
        let Some(container) = existing.iter().find(|c| c.number == number) else {
            let reason = if number == 1 {
                "no container".to_string()
            } else {
                format!("scale up to {wanted}")
            };
            let create = plan.push(
                ActionKind::CreateContainer,
                new_target.clone(),
                reason,
                prerequisites.to_vec(),
            );
            outcome.created.push(create);
            outcome.recreated = true;
            if options.start {
                let mut after = waits(plan);
                after.push(create);
                let start = plan.push(ActionKind::StartContainer, new_target, "created", after);
                outcome.ready.push(start);
            }
            continue;
        };
        let target = container_target(container);
        let named =
            options.services.is_empty() || options.services.iter().any(|s| s == service_name);
        let strategy = if named {
            options.recreate
        } else {
            options.recreate_dependencies
        };
        let recreate_reason = match strategy {
            Recreate::Never => None,
            Recreate::Force if named => Some("--force-recreate".to_string()),
            Recreate::Force => Some("--always-recreate-deps".to_string()),
            Recreate::Diverged => divergence(
                container,
                &expected_hash,
                &expected_config,
                expected_image,
                service,
                recreated_networks,
            ),
        };
        if let Some(reason) = recreate_reason {
            let stop = is_active(&container.state).then(|| {
                plan.push(
                    ActionKind::StopContainer,
                    target.clone(),
                    reason.clone(),
                    vec![],
                )
            });
            let remove = plan.push(
                ActionKind::RemoveContainer,
                target,
                reason.clone(),
                stop.into_iter().collect(),
            );
            let mut after = prerequisites.to_vec();
            after.push(remove);
            let create = plan.push(
                ActionKind::CreateContainer,
                new_target.clone(),
                reason,
                after,
            );
            outcome.created.push(create);
            outcome.recreated = true;
            if options.start {
                let mut after = waits(plan);
                after.push(create);
                let start = plan.push(ActionKind::StartContainer, new_target, "recreated", after);
                outcome.ready.push(start);
            }
            continue;
        }
        if !options.start {
            continue;
        }
        match &container.state {
            State::Running | State::Restarting if !restart_reasons.is_empty() => {
                let after = waits(plan);
                let id = plan.push(
                    ActionKind::RestartContainer,
                    target,
                    restart_reasons.join(", "),
                    after,
                );
                outcome.ready.push(id);
            }
            State::Running | State::Restarting => {}
            State::Exited(0) if is_one_shot(service) => {
                // A finished one-shot whose configuration did not change has done its job (one
                // that was stopped before it ended is `Stopped` and starts again).
            }
            state => {
                let reason = match state {
                    State::Created => "created, not started".to_string(),
                    State::Paused => "paused".to_string(),
                    State::Exited(code) => format!("exited with code {code}"),
                    State::Stopped(_) => "stopped".to_string(),
                    _ => "dead".to_string(),
                };
                let after = waits(plan);
                let id = plan.push(ActionKind::StartContainer, target, reason, after);
                outcome.ready.push(id);
            }
        }
    }
    outcome
}

/// The services whose containers a service's `volumes_from` names: `service[:mode]`, or
/// `container:NAME[:mode]` when NAME is one of the project's containers.
fn volumes_from_services(
    project: &Project,
    service: &Service,
    options: &PlanOptions,
) -> Vec<String> {
    let mut sources = Vec::new();
    for entry in &service.volumes_from {
        let source = entry
            .strip_suffix(":ro")
            .or_else(|| entry.strip_suffix(":rw"))
            .unwrap_or(entry);
        match source.strip_prefix("container:") {
            Some(container) => sources.extend(
                project
                    .services
                    .iter()
                    .filter(|(name, definition)| {
                        (1..=replicas(name, definition, options))
                            .any(|n| container_name(project, name, definition, n) == container)
                    })
                    .map(|(name, _)| name.clone()),
            ),
            None => sources.push(
                source
                    .strip_prefix("service:")
                    .unwrap_or(source)
                    .to_string(),
            ),
        }
    }
    sources
}

fn is_active(state: &State) -> bool {
    matches!(state, State::Running | State::Paused | State::Restarting)
}

/// A service that runs to completion: no restart policy.
fn is_one_shot(service: &Service) -> bool {
    let restart = service.restart.as_deref().unwrap_or("no");
    let deploy_restart = service
        .deploy
        .as_ref()
        .and_then(|d| d.restart_policy.as_ref())
        .and_then(|p| p.condition.as_deref());
    (restart == "no" || restart.is_empty()) && deploy_restart.is_none_or(|c| c == "none")
}

/// Why an existing container no longer matches its service, if it does not.
fn divergence(
    container: &ObservedContainer,
    expected_hash: &str,
    expected_config: &serde_json::Value,
    expected_image: Option<&String>,
    service: &Service,
    recreated_networks: &BTreeSet<String>,
) -> Option<String> {
    if container.config_hash != expected_hash {
        return Some(match &container.config {
            Some(old) => {
                let paths = diff::changed_paths(old, expected_config);
                if paths.is_empty() {
                    "configuration changed".to_string()
                } else {
                    format!("{} changed", diff::summarize(&paths, 4))
                }
            }
            None => "configuration changed".to_string(),
        });
    }
    if let (Some(expected), Some(actual)) = (expected_image, &container.image_id)
        && expected != actual
    {
        let short = |id: &str| {
            let hex = id.strip_prefix("sha256:").unwrap_or(id);
            format!("sha256:{}", &hex[..hex.len().min(12)])
        };
        let change = format!("({} → {})", short(actual), short(expected));
        return Some(match &service.image {
            Some(image) if service.build.is_none() => format!("image {image} changed {change}"),
            _ => format!("image rebuilt {change}"),
        });
    }
    if let Some(network) = service
        .networks
        .keys()
        .find(|k| recreated_networks.contains(*k))
    {
        return Some(format!("network {network} changed"));
    }
    None
}

/// Which images `down --rmi` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveImages {
    /// Only images without a custom tag set by the `image` field: those named after the service
    /// (`<project>-<service>`, what a build makes).
    Local,
    /// Every image a service uses.
    All,
}

/// What `down` removes beyond the project's containers.
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// `-v`: the project's named volumes (not external ones) and its containers' anonymous volumes.
    pub volumes: bool,
    /// `--remove-orphans`: containers of services no longer in the project.
    pub remove_orphans: bool,
    /// `--rmi`: the services' images.
    pub images: Option<RemoveImages>,
}

/// The image a service runs: its `image`, else docker compose's default name for what its build
/// makes, `<project>-<service>`.
pub fn image_name(project: &Project, service_name: &str, service: &Service) -> String {
    service
        .image
        .clone()
        .unwrap_or_else(|| format!("{}-{service_name}", project.name))
}

/// Plans `down`: containers (one-offs included) stopped in reverse dependency order (a service after
/// every service that depends on it), then removed, then volumes when asked.
pub fn plan_down(project: &Project, snapshot: &Snapshot, options: &DownOptions) -> Plan {
    let graph = ServiceGraph::new(project);
    let mut plan = Plan::default();
    let mut stops: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut removes = Vec::new();
    // One-off (`run`) containers go with their service, as docker compose's `down` removes them.
    let mut containers: Vec<&ObservedContainer> = snapshot.containers.iter().collect();
    containers.sort_by(|a, b| (&a.service, a.number).cmp(&(&b.service, b.number)));
    let mut order = graph.stop_order();
    let orphans: Vec<String> = containers
        .iter()
        .filter(|c| !project.services.contains_key(&c.service))
        .map(|c| c.service.clone())
        .collect();
    if options.remove_orphans {
        order.splice(0..0, orphans.iter().cloned());
    } else if !orphans.is_empty() {
        let names: Vec<&str> = containers
            .iter()
            .filter(|c| !project.services.contains_key(&c.service))
            .map(|c| c.name.as_str())
            .collect();
        plan.warnings.push(format!(
            "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            names.join(", ")
        ));
    }
    let mut seen = BTreeSet::new();
    for service in order {
        if !seen.insert(service.clone()) {
            continue;
        }
        // A service stops after the services that depend on it.
        let after: Vec<usize> = graph
            .dependents(&service)
            .iter()
            .filter_map(|d| stops.get(d))
            .flatten()
            .copied()
            .collect();
        let reason = if project.services.contains_key(&service) {
            "down"
        } else {
            "orphan: its service is no longer in the project"
        };
        for container in containers.iter().filter(|c| c.service == service) {
            let target = container_target(container);
            let mut ids = Vec::new();
            if is_active(&container.state) {
                ids.push(plan.push(
                    ActionKind::StopContainer,
                    target.clone(),
                    reason,
                    after.clone(),
                ));
            }
            removes.push((target, ids.clone(), reason));
            stops.entry(service.clone()).or_default().extend(ids);
        }
    }
    let mut removed = Vec::new();
    for (target, after, reason) in removes {
        removed.push(plan.push(ActionKind::RemoveContainer, target, reason, after));
    }
    // Networks go with every `down` (docker compose's rule), external ones excepted.
    for (key, network) in &project.networks {
        let name = project.network_name(key);
        if network.external || !snapshot.networks.contains_key(&name) {
            continue;
        }
        plan.push(
            ActionKind::RemoveNetwork,
            Target::Network {
                key: key.clone(),
                name,
            },
            "down",
            removed.clone(),
        );
    }
    if options.volumes {
        for (key, volume) in &project.volumes {
            let name = project.volume_name(key);
            if volume.external || !snapshot.volumes.contains_key(&name) {
                continue;
            }
            plan.push(
                ActionKind::RemoveVolume,
                Target::Volume {
                    key: key.clone(),
                    name,
                },
                "down -v",
                removed.clone(),
            );
        }
        let declared: BTreeSet<String> = project
            .volumes
            .keys()
            .map(|k| project.volume_name(k))
            .collect();
        for (name, _) in snapshot
            .volumes
            .iter()
            .filter(|(name, v)| !declared.contains(*name) && v.config_hash.is_none())
        {
            plan.push(
                ActionKind::RemoveVolume,
                Target::Volume {
                    key: String::new(),
                    name: name.clone(),
                },
                "anonymous volume of the project",
                removed.clone(),
            );
        }
    }
    // Images last, after every container that could use them is gone; one action per reference
    // (services often share one), and only the ones present.
    if let Some(which) = options.images {
        let mut seen = BTreeSet::new();
        // One after another, in this order: whether a name is the last of an image that a container
        // still runs from (then kept) depends on the removals before it, and `down` runs what is
        // ready in parallel.
        let mut previous: Option<usize> = None;
        for (service_name, service) in &project.services {
            if which == RemoveImages::Local && service.image.is_some() {
                continue;
            }
            let name = image_name(project, service_name, service);
            if !snapshot.images.contains_key(&name) || !seen.insert(name.clone()) {
                continue;
            }
            let reason = match which {
                RemoveImages::All => "down --rmi all",
                RemoveImages::Local => "down --rmi local: no custom tag",
            };
            let mut after = removed.clone();
            after.extend(previous);
            previous = Some(plan.push(
                ActionKind::RemoveImage,
                Target::Image { name },
                reason,
                after,
            ));
        }
    }
    plan
}

/// How a project network or volume compares with what exists.
enum Observed {
    Missing,
    Matches,
    /// It exists with another configuration (by the config hash label the CLI gives what it makes;
    /// one without the label, made elsewhere, matches).
    Differs,
}

fn observed_state<T: serde::Serialize>(
    definition: &T,
    observed: Option<&ObservedResource>,
) -> Observed {
    let Some(observed) = observed else {
        return Observed::Missing;
    };
    let expected = hash::digest(&serde_json::to_value(definition).unwrap_or_default());
    match &observed.config_hash {
        Some(hash) if *hash != expected => Observed::Differs,
        _ => Observed::Matches,
    }
}
