//! The runtime as a [`Snapshot`]: the project's containers (found by their Compose labels), its
//! volumes and the ids of the images its services name. Read-only.

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
    for volume in engine.volumes.list().context("cannot list volumes")? {
        let in_project = volume.labels.get(labels::PROJECT) == Some(&project.name);
        let named = project
            .volumes
            .values()
            .any(|v| v.name.as_deref() == Some(volume.name.as_str()));
        if in_project || named {
            let config_hash = volume.labels.get(labels::RESOURCE_HASH).cloned();
            snapshot.volumes.insert(
                volume.name.clone(),
                ObservedResource {
                    name: volume.name,
                    config_hash,
                },
            );
        }
    }
    for network in engine.networks.list().context("cannot list networks")? {
        let in_project = network.labels.get(labels::PROJECT) == Some(&project.name);
        let named = project
            .networks
            .values()
            .any(|n| n.name.as_deref() == Some(network.name.as_str()));
        if in_project || named {
            let config_hash = network.labels.get(labels::RESOURCE_HASH).cloned();
            snapshot.networks.insert(
                network.name.clone(),
                ObservedResource {
                    name: network.name,
                    config_hash,
                },
            );
        }
    }
    // Each service's image, or the default name of a service without one (`down --rmi local`).
    for (service_name, service) in &project.services {
        let reference = super::plan::image_name(project, service_name, service);
        if let Ok(image) = engine.images.image(&reference) {
            snapshot.images.insert(reference, image.id.to_string());
        }
    }
    Ok(snapshot)
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
        Status::Exited => State::Exited(info.state.exit_code.unwrap_or(0)),
        Status::Dead => State::Dead,
    }
}
