//! The typed project model: what the loader produces and `rcompose config` prints.
//!
//! The types follow the Compose Specification's canonical long syntax: the loader turns every short
//! form into the long one before deserializing, so each field here has one shape. Every struct
//! rejects unknown keys with serde's standard `unknown field `x`, expected one of ...` message,
//! which the loader turns into a "did you mean" hint; `x-*` extension keys are removed before.
//!
//! Fields are declared in alphabetical order of their YAML name, which is the order
//! `docker compose config` prints them in; maps are `BTreeMap`s so their keys print sorted.
//! Empty and absent values are not printed, except where an explicit value means something
//! (`command: []` clears the image's command; `networks: {default: null}`).
//!
//! Durations and sizes use [`crate::project::units`]. Values the schema types as "number or string"
//! or "boolean or string" (`cpus: "0.5"`, `user: 1000`, `privileged: "true"`) are read in either
//! spelling.

mod build;
mod deploy;
mod develop;
mod lenient;
mod network;
mod resource;
mod service;
mod volume;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use build::{BoolOrString, Build};
pub use deploy::{
    Deploy, DeviceCount, DeviceRequest, DiscreteResourceSpec, GenericResource, Gpus, Limits,
    Placement, PlacementPreference, Reservations, Resources, RestartPolicy, UpdateConfig,
    UpdateOrder,
};
pub use develop::{Develop, WatchAction, WatchRule};
pub use lenient::yaml11_bool;
pub use network::{Ipam, IpamPool, Network, Port, ServiceNetwork};
pub use resource::{Config, Content, Model, Secret};
pub use service::{
    BlkioConfig, BlkioLimit, BlkioWeight, Cgroup, Condition, CredentialSpec, DependsOn, Device,
    EnvFile, Extends, FileReference, Healthcheck, Hook, Logging, PreStartHook, Provider, Service,
    ServiceModel, Ulimit, UlimitRange,
};
pub use volume::{
    BindOptions, BindRecursive, ImageOptions, SeLinux, ServiceVolume, TmpfsOptions, Volume,
    VolumeOptions, VolumeType,
};

/// A whole project: the services and the resources they share.
///
/// `version` and `include` are not here: the loader consumes them. Top-level `x-*` extensions are
/// kept by the loader beside the project.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// The project name (normalized: lowercase `a-z0-9_-`).
    pub name: String,
    /// Services, by name.
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    /// Networks, by key (a `null` value is a network with all defaults).
    #[serde(
        default,
        deserialize_with = "lenient::map_null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub networks: BTreeMap<String, Network>,
    /// Volumes, by key (a `null` value is a volume with all defaults).
    #[serde(
        default,
        deserialize_with = "lenient::map_null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub volumes: BTreeMap<String, Volume>,
    /// Secrets, by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Secret>,
    /// Configs, by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, Config>,
    /// AI models, by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, Model>,
}

impl Project {
    /// The runtime name of the network `key`: its `name`, which normalization always sets
    /// (`<project>_<key>`, or the key itself for an external network), with the same rule as the
    /// fallback for a model built by hand.
    pub fn network_name(&self, key: &str) -> String {
        let network = self.networks.get(key);
        resolved_name(
            &self.name,
            key,
            network.and_then(|n| n.name.as_deref()),
            network.is_some_and(|n| n.external),
        )
    }

    /// The runtime name of the volume `key`, by the same rule as [`Project::network_name`].
    pub fn volume_name(&self, key: &str) -> String {
        let volume = self.volumes.get(key);
        resolved_name(
            &self.name,
            key,
            volume.and_then(|v| v.name.as_deref()),
            volume.is_some_and(|v| v.external),
        )
    }
}

fn resolved_name(project: &str, key: &str, name: Option<&str>, external: bool) -> String {
    match name {
        Some(name) => name.to_string(),
        None if external => key.to_string(),
        None => crate::names::resource_name(project, key),
    }
}
