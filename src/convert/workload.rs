//! A service's controller and pod. A service becomes a Deployment; a StatefulSet when it mounts a
//! named volume and runs one replica (stable identity, and never two pods on a ReadWriteOnce claim
//! during a rollout), or as `--controller` says; a DaemonSet for `deploy.mode: global`; a Job when
//! another service waits for it to complete (`service_completed_successfully`) or for a job mode.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec, DeploymentStrategy,
    RollingUpdateDeployment, StatefulSet, StatefulSetSpec,
};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::names;
use crate::project::model::{Condition, Service, UpdateOrder, VolumeType};

/// The controller a service becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::Job => "Job",
        }
    }
}

impl<'a> super::Converter<'a> {
    /// Converts one service: its workload, Services, ConfigMaps and Secrets.
    pub(super) fn service(&mut self, name: &str, service: &Service) -> anyhow::Result<()> {
        if service.provider.is_some() {
            return Ok(());
        }
        if let Some(host) = self.sidecar_host(service) {
            return self.sidecar_discovery(name, host);
        }
        let kind = self.workload_kind(name, service);
        let mut pod = PodSpec::default();
        let mut container = self.container(name, service)?;
        self.probes(name, service, &mut container);
        self.storage(name, service, &mut pod, &mut container)?;
        self.pod_settings(name, service, &mut pod);
        self.dependency_waits(name, service, &mut pod);
        pod.containers = vec![container];
        for (sidecar_name, sidecar) in self.sidecars(name) {
            self.add_sidecar(sidecar_name, sidecar, &mut pod)?;
        }
        self.discovery(name, service)?;
        self.restart_policy(name, service, kind, &mut pod);

        let (labels, annotations) = self.split_labels(name, "labels", &service.labels);
        // The selector's and the networks' labels win over a compose label of the same key, or
        // the controller would not select its own pods.
        let mut template_labels = self.reserved_labels(name, "labels", labels);
        template_labels.extend(self.network_labels(service));
        template_labels.extend(self.selector(name));
        let mut template_annotations = annotations;
        template_annotations.extend(self.valid_annotations(name, &service.annotations));
        let template = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(template_labels),
                annotations: non_empty(template_annotations),
                ..ObjectMeta::default()
            }),
            spec: Some(pod),
        };
        let deploy = service.deploy.clone().unwrap_or_default();
        self.deploy_report(name, &deploy);
        let (deploy_labels, deploy_annotations) =
            self.split_labels(name, "deploy.labels", &deploy.labels);
        let mut workload_labels = self.reserved_labels(name, "deploy.labels", deploy_labels);
        workload_labels.extend(self.selector(name));
        let mut metadata = self.meta(self.names.service(name), workload_labels);
        metadata.annotations = non_empty(deploy_annotations);
        let selector = self.pods_of(name);
        let replicas = replicas(service);
        let source = format!("service {name}");
        match kind {
            Kind::Deployment => {
                let strategy = self.strategy(name, service);
                self.push(
                    Deployment {
                        metadata,
                        spec: DeploymentSpec {
                            replicas: Some(replicas),
                            selector,
                            strategy,
                            template,
                            ..DeploymentSpec::default()
                        },
                        status: None,
                    },
                    &source,
                )
            }
            Kind::StatefulSet => self.push(
                StatefulSet {
                    metadata,
                    spec: StatefulSetSpec {
                        replicas: Some(replicas),
                        selector,
                        service_name: Some(self.names.service(name).to_string()),
                        template,
                        ..StatefulSetSpec::default()
                    },
                    status: None,
                },
                &source,
            ),
            Kind::DaemonSet => self.push(
                DaemonSet {
                    metadata,
                    spec: DaemonSetSpec {
                        selector,
                        template,
                        ..DaemonSetSpec::default()
                    },
                    status: None,
                },
                &source,
            ),
            Kind::Job => {
                let backoff_limit = job_backoff_limit(service);
                self.push(
                    Job {
                        metadata,
                        spec: Some(JobSpec {
                            backoff_limit: Some(backoff_limit),
                            completions: (replicas != 1).then_some(replicas),
                            parallelism: (replicas != 1).then_some(replicas),
                            template,
                            ..JobSpec::default()
                        }),
                        status: None,
                    },
                    &source,
                )
            }
        }
    }

    /// Whether service `name`'s pods mount a named volume (a claim), its sidecars' included.
    fn pod_mounts_named_volume(&self, name: &str, service: &Service) -> bool {
        mounts_named_volume(service)
            || self
                .sidecars(name)
                .into_iter()
                .any(|(_, sidecar)| mounts_named_volume(sidecar))
    }

    /// Which controller service `name` becomes.
    pub(super) fn workload_kind(&self, name: &str, service: &Service) -> Kind {
        let mode = service.deploy.as_ref().and_then(|d| d.mode.as_deref());
        if self.is_awaited_to_complete(name)
            || matches!(mode, Some("replicated-job" | "global-job"))
        {
            return Kind::Job;
        }
        if mode == Some("global") {
            return Kind::DaemonSet;
        }
        match self.options.controller {
            Some(super::Controller::Deployment) => Kind::Deployment,
            Some(super::Controller::StatefulSet) => Kind::StatefulSet,
            None if replicas(service) == 1 && self.pod_mounts_named_volume(name, service) => {
                Kind::StatefulSet
            }
            None => Kind::Deployment,
        }
    }

    /// Whether another service waits for `name` with `service_completed_successfully`.
    pub(super) fn is_awaited_to_complete(&self, name: &str) -> bool {
        self.project.services.values().any(|other| {
            other
                .depends_on
                .get(name)
                .is_some_and(|d| d.condition == Condition::ServiceCompletedSuccessfully)
        })
    }

    /// A Job's pods restart as `restart` says; other controllers' pods always restart.
    fn restart_policy(&mut self, name: &str, service: &Service, kind: Kind, pod: &mut PodSpec) {
        let policy = restart(service);
        if kind == Kind::Job {
            pod.restart_policy = Some(
                if policy.is_empty() || policy == "no" || policy == "none" {
                    "Never"
                } else {
                    "OnFailure"
                }
                .to_string(),
            );
            return;
        }
        if service
            .deploy
            .as_ref()
            .and_then(|d| d.restart_policy.as_ref())
            .is_some_and(|p| p.max_attempts.is_some())
        {
            self.report.not_carried(
                name,
                "deploy.restart_policy",
                &format!(
                    "max_attempts: the pods of a {} restart without a limit",
                    kind.name()
                ),
            );
        }
        if policy == "no" || policy == "none" || policy.starts_with("on-failure") {
            self.report.changed(
                name,
                "restart",
                &format!(
                    "{policy:?}: the pods of a {} always restart (Kubernetes allows no other policy there)",
                    kind.name()
                ),
            );
        }
    }

    /// The parts of `deploy` that have no Kubernetes counterpart here.
    fn deploy_report(&mut self, name: &str, deploy: &crate::project::model::Deploy) {
        if deploy.placement.is_some() {
            self.report.not_carried(
                name,
                "deploy.placement",
                "constraints and preferences name swarm node labels (set a nodeSelector or affinity for the cluster's nodes)",
            );
        }
        if deploy.rollback_config.is_some() {
            self.report.not_carried(
                name,
                "deploy.rollback_config",
                "a Deployment rolls back with kubectl rollout undo",
            );
        }
        if deploy
            .restart_policy
            .as_ref()
            .is_some_and(|p| p.delay.is_some() || p.window.is_some())
        {
            self.report.not_carried(
                name,
                "deploy.restart_policy",
                "delay and window (the kubelet restarts with its own back-off)",
            );
        }
    }

    /// A Deployment's update strategy: Recreate when it mounts a named volume (a second pod could
    /// not attach a ReadWriteOnce claim), else `deploy.update_config` as a rolling update.
    fn strategy(&mut self, name: &str, service: &Service) -> Option<DeploymentStrategy> {
        let update = service
            .deploy
            .as_ref()
            .and_then(|d| d.update_config.as_ref());
        if self.pod_mounts_named_volume(name, service) {
            if update.is_some() {
                self.report.changed(
                    name,
                    "deploy.update_config",
                    "the pods are recreated, not rolled: they mount a named volume (a ReadWriteOnce claim)",
                );
            }
            return Some(DeploymentStrategy {
                type_: Some("Recreate".to_string()),
                rolling_update: None,
            });
        }
        let update = update?;
        let parallelism = update.parallelism.unwrap_or(1).max(1);
        let parallelism = IntOrString::Int(i32::try_from(parallelism).unwrap_or(i32::MAX));
        let (surge, unavailable) = match update.order {
            Some(UpdateOrder::StartFirst) => (parallelism, IntOrString::Int(0)),
            _ => (IntOrString::Int(0), parallelism),
        };
        if update.delay.is_some()
            || update.failure_action.is_some()
            || update.monitor.is_some()
            || update.max_failure_ratio.is_some()
        {
            self.report.not_carried(
                name,
                "deploy.update_config",
                "delay, failure_action, monitor and max_failure_ratio (a rollout goes at the pace of readiness; kubectl rollout undo rolls back)",
            );
        }
        Some(DeploymentStrategy {
            type_: Some("RollingUpdate".to_string()),
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(surge),
                max_unavailable: Some(unavailable),
            }),
        })
    }

    /// Compose labels as Kubernetes labels where they are valid ones, the others as annotations
    /// (whose values may be anything); a key valid as neither is reported.
    pub(super) fn split_labels(
        &mut self,
        name: &str,
        attribute: &str,
        labels: &BTreeMap<String, String>,
    ) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
        let mut valid = BTreeMap::new();
        let mut annotations = BTreeMap::new();
        for (key, value) in labels {
            if !names::is_qualified_name(key) {
                self.report.not_carried(
                    name,
                    attribute,
                    &format!("{key:?} is not a valid Kubernetes label or annotation key"),
                );
            } else if names::is_label_value(value) {
                valid.insert(key.clone(), value.clone());
            } else {
                annotations.insert(key.clone(), value.clone());
            }
        }
        (valid, annotations)
    }

    /// `labels` without the keys rcompose sets itself (reported).
    fn reserved_labels(
        &mut self,
        name: &str,
        attribute: &str,
        mut labels: BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        for key in [
            crate::labels::KUBERNETES_NAME,
            crate::labels::KUBERNETES_PART_OF,
            crate::labels::KUBERNETES_MANAGED_BY,
        ] {
            if labels.remove(key).is_some() {
                self.report.not_carried(
                    name,
                    attribute,
                    &format!("{key}: rcompose sets it (the controller selects its pods by it)"),
                );
            }
        }
        labels.retain(|key, _| !key.starts_with(crate::labels::KUBERNETES_NETWORK_PREFIX));
        labels
    }

    fn valid_annotations(
        &mut self,
        name: &str,
        annotations: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let mut valid = BTreeMap::new();
        for (key, value) in annotations {
            if names::is_qualified_name(key) {
                valid.insert(key.clone(), value.clone());
            } else {
                self.report.not_carried(
                    name,
                    "annotations",
                    &format!("{key:?} is not a valid Kubernetes annotation key"),
                );
            }
        }
        valid
    }
}

/// `deploy.replicas`, else `scale`, else 1.
pub fn replicas(service: &Service) -> i32 {
    let count = service
        .deploy
        .as_ref()
        .and_then(|d| d.replicas)
        .or(service.scale)
        .unwrap_or(1);
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// Whether the service mounts a named volume (a claim).
fn mounts_named_volume(service: &Service) -> bool {
    service
        .volumes
        .iter()
        .any(|v| v.kind == VolumeType::Volume && v.source.is_some())
}

/// The restart policy as Compose spells it: `restart`, else `deploy.restart_policy.condition`
/// (`none`, `on-failure`, `any`), else empty.
fn restart(service: &Service) -> String {
    if let Some(restart) = &service.restart {
        return restart.clone();
    }
    match service
        .deploy
        .as_ref()
        .and_then(|d| d.restart_policy.as_ref())
        .and_then(|p| p.condition.as_deref())
    {
        Some("none") => "no".to_string(),
        Some("any") => "always".to_string(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// How often a Job's pod is retried: `on-failure:N` or `deploy.restart_policy.max_attempts`, 6
/// (Kubernetes' default) for other restarting policies, none for `no`.
fn job_backoff_limit(service: &Service) -> i32 {
    let policy = restart(service);
    if let Some(count) = policy.strip_prefix("on-failure:") {
        return count.trim().parse().unwrap_or(6);
    }
    if let Some(attempts) = service
        .deploy
        .as_ref()
        .and_then(|d| d.restart_policy.as_ref())
        .and_then(|p| p.max_attempts)
    {
        return i32::try_from(attempts).unwrap_or(i32::MAX);
    }
    if policy.is_empty() || policy == "no" {
        0
    } else {
        6
    }
}

pub fn non_empty<K: Ord, V>(map: BTreeMap<K, V>) -> Option<BTreeMap<K, V>> {
    (!map.is_empty()).then_some(map)
}
