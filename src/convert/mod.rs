//! `rcompose convert kubernetes`: the same normalized [`Project`] that `up` runs, as Kubernetes
//! objects, so the compose file stays the one source of truth when a project outgrows one machine.
//!
//! Why it looks like this:
//! - The objects are `k8s-openapi`'s typed structures, serialized; no manifest is assembled from
//!   strings, so every field name and nesting is the API's own.
//! - The core is pure: [`convert`] takes the project, the options and the few host facts the
//!   command read for it ([`HostFacts`]: contents of bind-mounted files, names in `env_file`s,
//!   profiles left disabled) and returns objects plus a [`Report`]. Same input, same bytes: maps
//!   are `BTreeMap`s and the objects are sorted by kind, then name.
//! - Nothing is dropped silently. Every service attribute of the Compose schema has a decision in
//!   [`attributes::ATTRIBUTES`] (mapped, or reported with its reason); the mapping code adds an
//!   entry for each part of a mapped attribute it cannot carry (a user name where Kubernetes wants
//!   a number, a host directory...). The report goes to stderr, per service and attribute.
//!
//! One job per module: `names` (DNS-1123 names), `workload` (controller and pod), `container`
//! (the container's own fields), `sidecars` (`network_mode: service:`), `probes` (healthcheck),
//! `order` (depends_on as init containers), `services` (discovery), `storage` (volumes, tmpfs,
//! binds, configs, secrets, env_file), `policies` (networks as NetworkPolicies), `attributes` (the
//! decision per attribute), `report`, `render` (YAML/JSON stream, one file per object with a
//! kustomization).

pub mod attributes;
mod container;
mod names;
mod order;
mod policies;
mod probes;
pub mod render;
pub mod report;
mod services;
mod sidecars;
mod storage;
mod workload;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde_json::Value;

use crate::project::model::Project;
pub use report::Report;

/// The kind of controller a long-running service becomes (`--controller`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    Deployment,
    StatefulSet,
}

/// How published ports leave the cluster (`--service-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceType {
    /// Not at all: published ports are reported.
    ClusterIp,
    NodePort,
    LoadBalancer,
}

/// What a bind mount of a host directory becomes (`--bind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// An empty directory for the pod's lifetime.
    EmptyDir,
    /// The node's directory at the same path.
    HostPath,
}

/// The command's choices.
#[derive(Debug, Clone)]
pub struct Options {
    /// The namespace of every object (none: the one `kubectl` applies to).
    pub namespace: Option<String>,
    /// Forces the controller of long-running services (none: a StatefulSet for one replica with
    /// a named volume, else a Deployment).
    pub controller: Option<Controller>,
    pub service_type: ServiceType,
    /// The size of a claim whose volume has no `io.rcompose.volume-size` label (`1Gi`).
    pub volume_size: String,
    pub bind: BindMode,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: None,
            controller: None,
            service_type: ServiceType::LoadBalancer,
            volume_size: "1Gi".to_string(),
            bind: BindMode::EmptyDir,
        }
    }
}

/// What the conversion needs from the host, read by the command so that [`convert`] reads nothing.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    /// The contents of bind mount sources that are regular files, by absolute path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The files of read-only bind mount sources that are directories holding only regular files
    /// (at most 1 MiB in all), by absolute path, then file name.
    pub directories: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// The variable names each `env_file` sets, by path.
    pub env_file_names: BTreeMap<String, Vec<String>>,
    /// Profiles named in the files but not enabled (their services are not in the project).
    pub disabled_profiles: Vec<String>,
    /// Images the store knows the registry digest of (pulled, or pushed by `--push`): the name as
    /// the service writes it, and the name pinned to that digest (`name@sha256:...`).
    pub pinned_images: BTreeMap<String, String>,
    /// Images of services with `build:` that `--push` pushed.
    pub pushed: BTreeSet<String>,
}

/// One Kubernetes object, serialized.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub kind: &'static str,
    pub name: String,
    pub value: Value,
}

impl Object {
    fn new<T>(resource: &T) -> Object
    where
        T: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + serde::Serialize,
    {
        Object {
            kind: T::KIND,
            name: resource.metadata().name.clone().unwrap_or_default(),
            value: serde_json::to_value(resource).expect("Kubernetes objects serialize"),
        }
    }
}

/// The objects and what could not be carried over.
#[derive(Debug)]
pub struct Conversion {
    pub objects: Vec<Object>,
    pub report: Report,
}

/// Converts `project` (already loaded, interpolated and normalized) into Kubernetes objects.
pub fn convert(
    project: &Project,
    options: &Options,
    facts: &HostFacts,
) -> anyhow::Result<Conversion> {
    let names = names::Names::new(project)?;
    let mut converter = Converter {
        project,
        options,
        facts,
        names,
        report: Report::default(),
        objects: Vec::new(),
        claimed: BTreeSet::new(),
    };
    for profile in &facts.disabled_profiles {
        converter.report.project(
            &format!("profile {profile}"),
            "not enabled: its services are not converted (add --profile to convert them)",
        );
    }
    converter.names_report();
    converter.project_resources_report();
    for (name, service) in &project.services {
        attributes::report_unmapped(name, service, &mut converter.report);
        converter.service(name, service)?;
    }
    converter.volume_claims()?;
    converter.network_policies()?;
    converter.dependency_wait_access()?;
    let Converter {
        mut objects,
        report,
        ..
    } = converter;
    objects.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    Ok(Conversion { objects, report })
}

/// The state of one conversion; each module adds the methods for its part.
struct Converter<'a> {
    project: &'a Project,
    options: &'a Options,
    facts: &'a HostFacts,
    names: names::Names,
    report: Report,
    objects: Vec<Object>,
    /// (kind, name) of every object made, so two never share a name.
    claimed: BTreeSet<(&'static str, String)>,
}

impl Converter<'_> {
    /// Adds an object; two objects of one kind with one name is an error that names both sources.
    fn push<T>(&mut self, resource: T, source: &str) -> anyhow::Result<()>
    where
        T: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + serde::Serialize,
    {
        let object = Object::new(&resource);
        if !self.claimed.insert((object.kind, object.name.clone())) {
            anyhow::bail!(
                "two Kubernetes objects of kind {} would be named {:?} (the second from {source}); rename one of the compose entries",
                object.kind,
                object.name
            );
        }
        self.objects.push(object);
        Ok(())
    }

    /// Whether an object of `kind` named `name` was made.
    fn has(&self, kind: &'static str, name: &str) -> bool {
        self.claimed.contains(&(kind, name.to_string()))
    }

    /// Metadata for an object of this project: its name, the namespace and the common labels.
    fn meta(&self, name: &str, labels: BTreeMap<String, String>) -> ObjectMeta {
        let mut all = self.project_labels();
        all.extend(labels);
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: self.options.namespace.clone(),
            labels: Some(all),
            ..ObjectMeta::default()
        }
    }

    /// `part-of` (the project) and `managed-by`.
    fn project_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                crate::labels::KUBERNETES_PART_OF.to_string(),
                names::dns_label(&self.project.name),
            ),
            (
                crate::labels::KUBERNETES_MANAGED_BY.to_string(),
                "rcompose".to_string(),
            ),
        ])
    }

    /// The labels that select the pods of service `name`.
    fn selector(&self, name: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                crate::labels::KUBERNETES_NAME.to_string(),
                self.names.service(name).to_string(),
            ),
            (
                crate::labels::KUBERNETES_PART_OF.to_string(),
                names::dns_label(&self.project.name),
            ),
        ])
    }

    /// The label selector of service `name`'s pods.
    fn pods_of(&self, name: &str) -> LabelSelector {
        LabelSelector {
            match_labels: Some(self.selector(name)),
            ..LabelSelector::default()
        }
    }
}
