//! `network_mode: service:X`: the service's container runs in X's pods, which share one network
//! namespace as Compose's two containers do (localhost reaches X, and X's name is theirs). Its
//! per-container volumes get its name as a prefix; claims, secrets and configs are shared; its
//! waits join X's init containers (none for X itself). Its own name becomes a headless Service over
//! X's pods. What stays X's (replicas, restart, labels, pod-level settings) is reported.

use k8s_openapi::api::core::v1::{PodSpec, Service as KubeService, ServiceSpec};

use super::names;
use crate::project::model::Service;

impl<'a> super::Converter<'a> {
    /// The service whose pods `service` runs in: its `network_mode: service:<host>`, when the
    /// host is converted and has a network of its own.
    pub(super) fn sidecar_host(&self, service: &Service) -> Option<&'a str> {
        let host = service.network_mode.as_deref()?.strip_prefix("service:")?;
        let (host, target) = self.project.services.get_key_value(host)?;
        (target.network_mode.is_none() && target.provider.is_none()).then_some(host.as_str())
    }

    /// The services that run in `host`'s pods.
    pub(super) fn sidecars(&self, host: &str) -> Vec<(&'a str, &'a Service)> {
        let project = self.project;
        project
            .services
            .iter()
            .filter(|(_, s)| s.provider.is_none() && self.sidecar_host(s) == Some(host))
            .map(|(n, s)| (n.as_str(), s))
            .collect()
    }

    /// Adds sidecar `name`'s container, volumes and init containers to its host's pod. Its
    /// per-container volumes get its name as a prefix; claims, secrets and configs are shared.
    pub(super) fn add_sidecar(
        &mut self,
        name: &str,
        service: &Service,
        pod: &mut PodSpec,
    ) -> anyhow::Result<()> {
        let k8s = self.names.service(name).to_string();
        let mut container = self.container(name, service)?;
        self.probes(name, service, &mut container);
        let mut own = PodSpec::default();
        self.storage(name, service, &mut own, &mut container)?;
        self.dependency_waits(name, service, &mut own);
        let shared = |volume: &str| {
            ["volume-", "secret-", "config-"]
                .iter()
                .any(|prefix| volume.starts_with(prefix))
        };
        let renamed = |volume: &str| names::dns_label(&format!("{k8s}-{volume}"));
        for mount in container.volume_mounts.iter_mut().flatten() {
            if !shared(&mount.name) {
                mount.name = renamed(&mount.name);
            }
        }
        let volumes = pod.volumes.get_or_insert_with(Vec::new);
        for mut volume in own.volumes.into_iter().flatten() {
            if !shared(&volume.name) {
                volume.name = renamed(&volume.name);
            }
            if !volumes.iter().any(|v| v.name == volume.name) {
                volumes.push(volume);
            }
        }
        if volumes.is_empty() {
            pod.volumes = None;
        }
        let inits = pod.init_containers.get_or_insert_with(Vec::new);
        for mut init in own.init_containers.into_iter().flatten() {
            if init.name.starts_with("pre-start-") {
                init.name = format!("{k8s}-{}", init.name);
            }
            if !inits.iter().any(|i| i.name == init.name) {
                inits.push(init);
            }
        }
        if inits.is_empty() {
            pod.init_containers = None;
        }
        if own.service_account_name.is_some() {
            pod.service_account_name = own.service_account_name;
        }
        pod.containers.push(container);
        Ok(())
    }

    /// A sidecar's name resolves to its host's pods (they share one network namespace, as the
    /// containers do in Compose).
    pub(super) fn sidecar_discovery(&mut self, name: &str, host: &str) -> anyhow::Result<()> {
        self.report.changed(
            name,
            "network_mode",
            &format!("service:{host}: a second container in {host}'s pods, which share one network namespace as Compose's containers do; its own replicas, restart, labels, annotations and pod-level settings (hostname, dns, extra_hosts, sysctls, init, stop_grace_period, group_add, platform) are {host}'s"),
        );
        let k8s = self.names.service(name).to_string();
        let service = KubeService {
            metadata: self.meta(&k8s, self.selector(host)),
            spec: Some(ServiceSpec {
                cluster_ip: Some("None".to_string()),
                selector: Some(self.selector(host)),
                ..ServiceSpec::default()
            }),
            status: None,
        };
        self.push(service, &format!("service {name}"))
    }
}
