//! The container and the pod-level settings of one service: image, command, environment (an
//! `env_file`'s variables through a ConfigMap and `envFrom`), user and capabilities, resources,
//! hooks, DNS, host aliases, sysctls, platform.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    AppArmorProfile, Capabilities, ConfigMap, ConfigMapEnvSource, Container, ContainerPort,
    EnvFromSource, EnvVar, ExecAction, HostAlias, Lifecycle, LifecycleHandler, PodDNSConfig,
    PodDNSConfigOption, PodSecurityContext, PodSpec, ResourceRequirements, SeccompProfile,
    SecurityContext, Sysctl,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::names;
use super::workload::non_empty;
use crate::project::model::{Hook, Service};
use crate::project::units::{ByteSize, Duration};

/// Sysctls Kubernetes allows without the kubelet's `--allowed-unsafe-sysctls`.
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ping_group_range",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_syncookies",
];

impl super::Converter<'_> {
    /// The service's container (probes, mounts and waits are added by their modules).
    pub(super) fn container(&mut self, name: &str, service: &Service) -> anyhow::Result<Container> {
        let (env, env_from) = self.environment(name, service)?;
        Ok(Container {
            name: self.names.service(name).to_string(),
            image: Some(self.image(name, service)),
            image_pull_policy: self.pull_policy(name, service),
            command: self.cleared_or(name, "entrypoint", service.entrypoint.as_ref()),
            args: self.cleared_or(name, "command", service.command.as_ref()),
            env: (!env.is_empty()).then_some(env),
            env_from,
            working_dir: service.working_dir.clone(),
            ports: container_ports(service),
            security_context: self.security_context(name, service),
            resources: self.resources(name, service),
            lifecycle: self.lifecycle(name, service),
            tty: service.tty.then_some(true),
            stdin: service.stdin_open.then_some(true),
            ..Container::default()
        })
    }

    /// The image; a service with `build:` gets its `image:` or `<project>-<service>`, which must be
    /// pushed where the cluster pulls from.
    fn image(&mut self, name: &str, service: &Service) -> String {
        let image = service
            .image
            .clone()
            .unwrap_or_else(|| format!("{}-{name}", self.project.name));
        if service.build.is_some() && self.facts.pushed.contains(&image) {
            self.report.changed(
                name,
                "build",
                &format!("the cluster pulls {image:?}, which --push pushed"),
            );
        } else if service.build.is_some() {
            self.report.changed(
                name,
                "build",
                &format!("the cluster pulls {image:?}: build and push it to a registry the cluster can reach (rcompose build, rcompose push, or convert --push)"),
            );
        }
        self.facts
            .pinned_images
            .get(&image)
            .cloned()
            .unwrap_or(image)
    }

    fn pull_policy(&mut self, name: &str, service: &Service) -> Option<String> {
        let policy = service.pull_policy.as_deref()?;
        Some(
            match policy {
                "always" => "Always",
                "never" => "Never",
                "missing" | "if_not_present" | "build" => "IfNotPresent",
                other => {
                    self.report.changed(
                        name,
                        "pull_policy",
                        &format!("{other:?} becomes Always (the kubelet has no pull schedule)"),
                    );
                    "Always"
                }
            }
            .to_string(),
        )
    }

    /// A command or entrypoint: Kubernetes reads an empty list as "the image's", where Compose
    /// clears it; that case is reported.
    fn cleared_or(
        &mut self,
        name: &str,
        attribute: &str,
        words: Option<&Vec<String>>,
    ) -> Option<Vec<String>> {
        let words = words?;
        if words.is_empty() {
            self.report.not_carried(
                name,
                attribute,
                "an empty list clears the image's value in Compose; Kubernetes keeps the image's",
            );
            return None;
        }
        Some(words.clone())
    }

    /// `env` and, for the variables an `env_file` sets, `envFrom` a ConfigMap `<service>-env`.
    fn environment(
        &mut self,
        name: &str,
        service: &Service,
    ) -> anyhow::Result<(Vec<EnvVar>, Option<Vec<EnvFromSource>>)> {
        let from_files: BTreeSet<&str> = service
            .env_file
            .iter()
            .filter_map(|file| self.facts.env_file_names.get(&file.path))
            .flatten()
            .map(String::as_str)
            .collect();
        let mut env = Vec::new();
        let mut data = BTreeMap::new();
        for (variable, value) in &service.environment {
            let Some(value) = value else {
                self.report.not_carried(
                    name,
                    "environment",
                    &format!("{variable} has no value where rcompose ran, so the container does not get it"),
                );
                continue;
            };
            if from_files.contains(variable.as_str()) {
                data.insert(variable.clone(), value.clone());
            } else {
                env.push(EnvVar {
                    name: variable.clone(),
                    value: Some(value.clone()),
                    value_from: None,
                });
            }
        }
        if data.is_empty() {
            return Ok((env, None));
        }
        let config_map = format!("{}-env", self.names.service(name));
        self.push(
            ConfigMap {
                metadata: self.meta(&config_map, self.selector(name)),
                data: Some(data),
                ..ConfigMap::default()
            },
            &format!("service {name} env_file"),
        )?;
        let from = EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: config_map,
                optional: None,
            }),
            ..EnvFromSource::default()
        };
        Ok((env, Some(vec![from])))
    }

    fn security_context(&mut self, name: &str, service: &Service) -> Option<SecurityContext> {
        let mut context = SecurityContext::default();
        if let Some(user) = &service.user {
            let (uid, gid) = match user.split_once(':') {
                Some((uid, gid)) => (uid, Some(gid)),
                None => (user.as_str(), None),
            };
            match (uid.parse::<i64>(), gid.map(str::parse::<i64>)) {
                (Ok(uid), None) => context.run_as_user = Some(uid),
                (Ok(uid), Some(Ok(gid))) => {
                    context.run_as_user = Some(uid);
                    context.run_as_group = Some(gid);
                }
                _ => self.report.not_carried(
                    name,
                    "user",
                    &format!("{user:?}: Kubernetes takes numeric ids (runAsUser, runAsGroup); the image's user stays"),
                ),
            }
        }
        let capabilities = |list: &[String]| -> Option<Vec<String>> {
            (!list.is_empty()).then(|| {
                list.iter()
                    .map(|c| {
                        let upper = c.to_ascii_uppercase();
                        upper.strip_prefix("CAP_").unwrap_or(&upper).to_string()
                    })
                    .collect()
            })
        };
        if !service.cap_add.is_empty() || !service.cap_drop.is_empty() {
            context.capabilities = Some(Capabilities {
                add: capabilities(&service.cap_add),
                drop: capabilities(&service.cap_drop),
            });
        }
        context.privileged = service.privileged.then_some(true);
        context.read_only_root_filesystem = service.read_only.then_some(true);
        for option in &service.security_opt {
            let normalized = option.replacen('=', ":", 1);
            match normalized.as_str() {
                "no-new-privileges" | "no-new-privileges:true" => {
                    context.allow_privilege_escalation = Some(false);
                }
                "no-new-privileges:false" => {}
                "seccomp:unconfined" => {
                    context.seccomp_profile = Some(SeccompProfile {
                        type_: "Unconfined".to_string(),
                        localhost_profile: None,
                    });
                }
                "apparmor:unconfined" => {
                    context.app_armor_profile = Some(AppArmorProfile {
                        type_: "Unconfined".to_string(),
                        localhost_profile: None,
                    });
                }
                other => self.report.not_carried(
                    name,
                    "security_opt",
                    &format!("{other:?}: profiles and labels are node files the cluster manages"),
                ),
            }
        }
        (context != SecurityContext::default()).then_some(context)
    }

    /// Limits from `deploy.resources.limits` (or `cpus`, `mem_limit`), requests from
    /// `deploy.resources.reservations` (or `mem_reservation`).
    fn resources(&mut self, name: &str, service: &Service) -> Option<ResourceRequirements> {
        let resources = service.deploy.as_ref().and_then(|d| d.resources.as_ref());
        let limits = resources.and_then(|r| r.limits.as_ref());
        let reservations = resources.and_then(|r| r.reservations.as_ref());
        let mut limit = BTreeMap::new();
        let mut request = BTreeMap::new();
        if let Some(cpus) = limits.and_then(|l| l.cpus).or(service.cpus) {
            limit.insert("cpu".to_string(), cpu_quantity(cpus));
        }
        if let Some(memory) = limits.and_then(|l| l.memory).or(service.mem_limit) {
            limit.insert("memory".to_string(), memory_quantity(memory));
        }
        if let Some(cpus) = reservations.and_then(|r| r.cpus) {
            request.insert("cpu".to_string(), cpu_quantity(cpus));
        }
        if let Some(memory) = reservations
            .and_then(|r| r.memory)
            .or(service.mem_reservation)
        {
            request.insert("memory".to_string(), memory_quantity(memory));
        }
        limit.retain(|_, q| q.0 != "0" && q.0 != "0m");
        request.retain(|_, q| q.0 != "0" && q.0 != "0m");
        if limits.is_some_and(|l| l.pids.is_some()) {
            self.report.not_carried(
                name,
                "deploy.resources.limits.pids",
                "the PID limit of pods is the kubelet's setting",
            );
        }
        if reservations.is_some_and(|r| !r.devices.is_empty() || !r.generic_resources.is_empty()) {
            self.report.not_carried(
                name,
                "deploy.resources.reservations",
                "devices and generic resources come from a device plugin's extended resources",
            );
        }
        if limit.is_empty() && request.is_empty() {
            return None;
        }
        Some(ResourceRequirements {
            limits: non_empty(limit),
            requests: non_empty(request),
            ..ResourceRequirements::default()
        })
    }

    /// `post_start` and `pre_stop` as exec handlers (several hooks run in order in one shell).
    fn lifecycle(&mut self, name: &str, service: &Service) -> Option<Lifecycle> {
        let post_start = self.hook_handler(name, "post_start", &service.post_start);
        let pre_stop = self.hook_handler(name, "pre_stop", &service.pre_stop);
        (post_start.is_some() || pre_stop.is_some()).then(|| Lifecycle {
            post_start,
            pre_stop,
            ..Lifecycle::default()
        })
    }

    fn hook_handler(
        &mut self,
        name: &str,
        attribute: &str,
        hooks: &[Hook],
    ) -> Option<LifecycleHandler> {
        if hooks.is_empty() {
            return None;
        }
        if hooks.iter().any(|h| {
            h.user.is_some() || h.privileged || h.working_dir.is_some() || !h.environment.is_empty()
        }) {
            self.report.changed(
                name,
                attribute,
                "user, privileged, working_dir and environment of a hook: the exec runs as the container does",
            );
        }
        let command = if let [hook] = hooks {
            hook.command.clone()
        } else {
            let script = hooks
                .iter()
                .map(|h| shell_words::join(&h.command))
                .collect::<Vec<_>>()
                .join(" && ");
            vec!["/bin/sh".to_string(), "-c".to_string(), script]
        };
        Some(LifecycleHandler {
            exec: Some(ExecAction {
                command: Some(command),
            }),
            ..LifecycleHandler::default()
        })
    }

    /// Pod-wide settings: grace period, init, hostname, DNS, host aliases, sysctls, groups, platform.
    pub(super) fn pod_settings(&mut self, name: &str, service: &Service, pod: &mut PodSpec) {
        pod.termination_grace_period_seconds =
            service.stop_grace_period.map(seconds).map(i64::from);
        if service.init == Some(true) {
            pod.share_process_namespace = Some(true);
        }
        if let Some(hostname) = &service.hostname {
            let label = names::dns_label(hostname.split('.').next().unwrap_or(hostname));
            if &label != hostname {
                self.report.changed(
                    name,
                    "hostname",
                    &format!("{hostname:?} is {label:?} (a pod's hostname is one DNS label)"),
                );
            }
            pod.hostname = Some(label);
        }
        self.dns(name, service, pod);
        self.host_aliases(name, service, pod);
        let mut security = PodSecurityContext::default();
        let mut groups = Vec::new();
        for group in &service.group_add {
            match group.parse::<i64>() {
                Ok(id) => groups.push(id),
                Err(_) => self.report.not_carried(
                    name,
                    "group_add",
                    &format!("{group:?}: Kubernetes takes numeric group ids"),
                ),
            }
        }
        security.supplemental_groups = (!groups.is_empty()).then_some(groups);
        let mut sysctls = Vec::new();
        for (key, value) in &service.sysctls {
            if !SAFE_SYSCTLS.contains(&key.as_str()) {
                self.report.changed(
                    name,
                    "sysctls",
                    &format!("{key} is unsafe for Kubernetes: the kubelet must allow it (--allowed-unsafe-sysctls) or the pod is refused"),
                );
            }
            sysctls.push(Sysctl {
                name: key.clone(),
                value: value.clone(),
            });
        }
        security.sysctls = (!sysctls.is_empty()).then_some(sysctls);
        if security != PodSecurityContext::default() {
            pod.security_context = Some(security);
        }
        if let Some(platform) = &service.platform {
            let mut parts = platform.split('/');
            let mut selector = BTreeMap::new();
            if let Some(os) = parts.next().filter(|s| !s.is_empty()) {
                selector.insert("kubernetes.io/os".to_string(), os.to_string());
            }
            if let Some(arch) = parts.next().filter(|s| !s.is_empty()) {
                selector.insert("kubernetes.io/arch".to_string(), arch.to_string());
            }
            if parts.next().is_some() {
                self.report.changed(
                    name,
                    "platform",
                    &format!("{platform:?}: nodes are selected by OS and architecture only"),
                );
            }
            pod.node_selector = non_empty(selector);
        }
    }

    fn dns(&mut self, name: &str, service: &Service, pod: &mut PodSpec) {
        if service.dns.is_empty() && service.dns_search.is_empty() && service.dns_opt.is_empty() {
            return;
        }
        if !service.dns.is_empty() {
            self.report.changed(
                name,
                "dns",
                "the servers come after the cluster's DNS (so service names keep resolving)",
            );
        }
        let options = service
            .dns_opt
            .iter()
            .map(|option| {
                let (key, value) = match option.split_once(':') {
                    Some((key, value)) => (key, Some(value.to_string())),
                    None => (option.as_str(), None),
                };
                PodDNSConfigOption {
                    name: Some(key.to_string()),
                    value,
                }
            })
            .collect::<Vec<_>>();
        pod.dns_config = Some(PodDNSConfig {
            nameservers: (!service.dns.is_empty()).then(|| service.dns.clone()),
            searches: (!service.dns_search.is_empty()).then(|| service.dns_search.clone()),
            options: (!options.is_empty()).then_some(options),
        });
    }

    /// `extra_hosts` (`host=ip`) grouped by address.
    fn host_aliases(&mut self, name: &str, service: &Service, pod: &mut PodSpec) {
        let mut by_address: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for entry in &service.extra_hosts {
            let Some((host, address)) = entry.split_once('=').or_else(|| entry.split_once(':'))
            else {
                continue;
            };
            let address = address.trim_start_matches('[').trim_end_matches(']');
            if address == "host-gateway" {
                self.report.not_carried(
                    name,
                    "extra_hosts",
                    &format!("{host}=host-gateway: a pod has no host gateway to name"),
                );
                continue;
            }
            by_address
                .entry(address.to_string())
                .or_default()
                .push(host.to_string());
        }
        if by_address.is_empty() {
            return;
        }
        pod.host_aliases = Some(
            by_address
                .into_iter()
                .map(|(ip, hostnames)| HostAlias {
                    ip,
                    hostnames: Some(hostnames),
                })
                .collect(),
        );
    }
}

/// Every port the container listens on: `ports` targets and `expose` entries.
pub fn container_ports(service: &Service) -> Option<Vec<ContainerPort>> {
    let ports: BTreeSet<(i32, String)> = service_ports(service).into_iter().collect();
    (!ports.is_empty()).then(|| {
        ports
            .into_iter()
            .map(|(port, protocol)| ContainerPort {
                container_port: port,
                protocol: Some(protocol),
                ..ContainerPort::default()
            })
            .collect()
    })
}

/// The container ports of a service with their protocol (`TCP`, `UDP`, `SCTP`), sorted and unique.
pub fn service_ports(service: &Service) -> Vec<(i32, String)> {
    let mut ports = BTreeSet::new();
    for port in &service.ports {
        ports.insert((i32::from(port.target), protocol(port.protocol.as_deref())));
    }
    for expose in &service.expose {
        let (range, proto) = match expose.split_once('/') {
            Some((range, proto)) => (range, Some(proto)),
            None => (expose.as_str(), None),
        };
        let (start, end) = match range.split_once('-') {
            Some((start, end)) => (start.parse::<i32>(), end.parse::<i32>()),
            None => (range.parse::<i32>(), range.parse::<i32>()),
        };
        if let (Ok(start), Ok(end)) = (start, end) {
            for port in start..=end.min(start + 1000) {
                ports.insert((port, protocol(proto)));
            }
        }
    }
    ports.into_iter().collect()
}

/// A Compose protocol as Kubernetes spells it.
pub fn protocol(name: Option<&str>) -> String {
    name.unwrap_or("tcp").to_ascii_uppercase()
}

/// CPUs as a quantity in millicores (`0.5` → `500m`).
fn cpu_quantity(cpus: f64) -> Quantity {
    Quantity(format!("{}m", (cpus * 1000.0).round() as i64))
}

/// Bytes as a quantity, in the largest binary unit that divides them (`512Mi`).
pub fn memory_quantity(size: ByteSize) -> Quantity {
    let bytes = size.bytes();
    for (unit, factor) in [("Gi", 1i64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if bytes != 0 && bytes % factor == 0 {
            return Quantity(format!("{}{unit}", bytes / factor));
        }
    }
    Quantity(bytes.to_string())
}

/// Whole seconds, rounded up (Kubernetes' fields are seconds; a positive duration stays positive).
pub fn seconds(duration: Duration) -> i32 {
    let nanos = duration.as_nanos().max(0);
    let secs = (nanos + 999_999_999) / 1_000_000_000;
    i32::try_from(secs).unwrap_or(i32::MAX)
}
