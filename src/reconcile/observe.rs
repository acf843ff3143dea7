//! The runtime as a [`Snapshot`]: the project's containers (found by their Compose labels), its
//! volumes and the ids of the images its services name. Read-only.

use std::collections::BTreeMap;

use anyhow::Context;
use runtime::container::{Info, Status};

use super::snapshot::{ObservedContainer, ObservedResource, Snapshot, State};
use crate::engine::Engine;
use crate::labels;
use crate::project::model::Project;

/// Reads what exists for `project`.
pub fn observe(engine: &Engine, project: &Project) -> anyhow::Result<Snapshot> {
    let mut snapshot = Snapshot::default();
    let containers = engine.containers.list().context("cannot list containers")?;
    snapshot.containers = containers
        .iter()
        .filter_map(|info| decode(info, &project.name))
        .collect();
    let volumes = engine.volumes.list().context("cannot list volumes")?;
    let declared = project.volumes.keys().map(|k| project.volume_name(k));
    snapshot.volumes = resources(
        &project.name,
        declared,
        volumes.into_iter().map(|v| (v.name, v.labels)),
    );
    let networks = engine.networks.list().context("cannot list networks")?;
    let declared = project.networks.keys().map(|k| project.network_name(k));
    snapshot.networks = resources(
        &project.name,
        declared,
        networks.into_iter().map(|n| (n.name, n.labels)),
    );
    // Each service's image, or the default name of a service without one (`down --rmi local`).
    for (service_name, service) in &project.services {
        let reference = super::plan::image_name(project, service_name, service);
        if let Ok(image) = engine.images.image(&reference) {
            snapshot.images.insert(reference, image.id.to_string());
        }
    }
    Ok(snapshot)
}

/// The networks or volumes (`(name, labels)`) that belong to the project: labelled with it, or named
/// by one of its definitions (`name:`, `external`).
fn resources(
    project: &str,
    declared: impl Iterator<Item = String>,
    found: impl Iterator<Item = (String, BTreeMap<String, String>)>,
) -> BTreeMap<String, ObservedResource> {
    let declared: Vec<String> = declared.collect();
    found
        .filter(|(name, labels)| {
            labels.get(labels::PROJECT).map(String::as_str) == Some(project)
                || declared.contains(name)
        })
        .map(|(name, labels)| {
            let config_hash = labels.get(labels::RESOURCE_HASH).cloned();
            (name.clone(), ObservedResource { name, config_hash })
        })
        .collect()
}

/// The project's view of a container, if it belongs to `project`.
pub fn decode(info: &Info, project: &str) -> Option<ObservedContainer> {
    let labels = &info.record.spec.labels;
    if labels.get(labels::PROJECT).map(String::as_str) != Some(project) {
        return None;
    }
    Some(ObservedContainer {
        id: info.record.id.clone(),
        name: info.record.spec.name.clone(),
        service: labels.get(labels::SERVICE).cloned().unwrap_or_default(),
        number: labels
            .get(labels::CONTAINER_NUMBER)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        oneoff: labels
            .get(labels::ONEOFF)
            .is_some_and(|v| v == labels::boolean(true)),
        state: state(info),
        config_hash: labels.get(labels::CONFIG_HASH).cloned().unwrap_or_default(),
        config: labels
            .get(labels::CONFIG)
            .and_then(|text| serde_json::from_str(text).ok()),
        image_id: labels.get(labels::IMAGE).cloned(),
    })
}

/// The planner's state of a runtime container.
pub fn state(info: &Info) -> State {
    match info.state.status {
        Status::Created => State::Created,
        Status::Running => State::Running,
        Status::Paused => State::Paused,
        Status::Restarting => State::Restarting,
        Status::Exited if info.state.stopped => State::Stopped(info.state.exit_code.unwrap_or(0)),
        Status::Exited => State::Exited(info.state.exit_code.unwrap_or(0)),
        Status::Dead => State::Dead,
    }
}
