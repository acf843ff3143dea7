//! The runtime side of a project's volumes: how a Compose volume becomes a runtime volume (driver,
//! options and docker compose's labels), and [`RuntimeMounts`], the [`MountSources`] that container
//! creation resolves its mounts through (creating volumes on first use, seeding empty ones from the
//! image, reading another container's mounts for `volumes_from`).
//!
//! Used by `apply` (the executor); decisions about which volumes exist are the planner's.

use std::path::PathBuf;

use anyhow::Context;
use runtime::container::{Mount, MountKind};
use runtime::volume::{Config, Volume};

use super::container::{MountSources, VolumeRequest};
use crate::engine::Engine;
use crate::labels;
use crate::project::model::{Project, Volume as ProjectVolume};

/// The runtime volume a project volume is created as: its driver and options, its own labels and
/// docker compose's (`project`, `volume`, `version`), and rcompose's configuration hash (which lets
/// `up` say when the definition changed).
pub fn config(project: &Project, key: &str, volume: &ProjectVolume) -> anyhow::Result<Config> {
    Ok(Config {
        driver: volume.driver.clone(),
        options: volume.driver_opts.clone(),
        labels: labels::resource(&volume.labels, &project.name, labels::VOLUME, key, volume)?,
    })
}

/// Creates the project volume `key` under its runtime `name` (or returns it if it exists).
pub fn create(engine: &Engine, project: &Project, key: &str, name: &str) -> anyhow::Result<Volume> {
    let definition = project
        .volumes
        .get(key)
        .with_context(|| format!("volume {key:?} is not declared in the project"))?;
    if definition.external {
        return external(engine, key, name);
    }
    engine
        .volumes
        .create_with(name, &config(project, key, definition)?)
        .with_context(|| format!("cannot create volume {name}"))
}

/// An external volume, which must exist: rcompose never creates or removes it.
fn external(engine: &Engine, key: &str, name: &str) -> anyhow::Result<Volume> {
    engine.volumes.get(name).map_err(|_| {
        anyhow::anyhow!(
            "external volume \"{name}\" not found (volume {key} is declared `external: true`); create it first with `rcompose volume create {name}`"
        )
    })
}

/// Mount sources backed by the runtime, for one container created from an image.
pub struct RuntimeMounts<'a> {
    pub engine: &'a Engine,
    pub project: &'a Project,
    /// The image's unpacked layers, base first: where seeding reads the image's content.
    pub layers: Vec<PathBuf>,
}

impl MountSources for RuntimeMounts<'_> {
    fn volume(&self, request: &VolumeRequest<'_>) -> anyhow::Result<MountKind> {
        let volume = match request.declared {
            Some((key, _)) => create(self.engine, self.project, key, request.name)?,
            None => {
                // An anonymous volume: docker marks them so that `volume prune` takes them by default.
                let mut volume_labels = request.labels.cloned().unwrap_or_default();
                volume_labels.extend([
                    (labels::PROJECT.to_string(), self.project.name.clone()),
                    (labels::ANONYMOUS_VOLUME.to_string(), String::new()),
                ]);
                let config = Config {
                    labels: volume_labels,
                    ..Config::default()
                };
                self.engine
                    .volumes
                    .create_with(request.name, &config)
                    .with_context(|| format!("cannot create volume {}", request.name))?
            }
        };
        if request.copy_image {
            self.engine
                .volumes
                .seed(&volume, &self.layers, request.target)
                .with_context(|| {
                    format!(
                        "cannot copy the image's {} into volume {}",
                        request.target, volume.name
                    )
                })?;
        }
        Ok(volume.mount_kind()?)
    }

    fn container_mounts(&self, name: &str) -> anyhow::Result<Vec<Mount>> {
        let id = self
            .engine
            .containers
            .find(name)
            .with_context(|| format!("no such container: {name}"))?;
        let info = self
            .engine
            .containers
            .inspect(&id)
            .with_context(|| format!("cannot read container {name}"))?;
        Ok(info.record.spec.mounts)
    }
}
