//! Discovery as Compose has it: every service's name resolves in the cluster. A service with
//! `ports` or `expose` gets a ClusterIP Service on those container ports; one without gets a
//! headless Service, whose name resolves to its pods (any port, as Compose's DNS answers with the
//! container's address); `deploy.endpoint_mode: dnsrr` is headless too. Published ports get a
//! second Service `<name>-published` of `--service-type`. Network aliases and `links` aliases
//! become more Services over the same pods.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service as KubeService, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::ServiceType;
use super::container::{protocol, service_ports};
use super::names;
use crate::project::model::Service;

/// The lowest and highest NodePort a cluster allocates by default.
const NODE_PORTS: std::ops::RangeInclusive<i32> = 30000..=32767;

impl super::Converter<'_> {
    /// Whether the service's Service is headless.
    pub(super) fn is_headless(&self, service: &Service) -> bool {
        service_ports(service).is_empty()
            || service
                .deploy
                .as_ref()
                .and_then(|d| d.endpoint_mode.as_deref())
                == Some("dnsrr")
    }

    pub(super) fn discovery(&mut self, name: &str, service: &Service) -> anyhow::Result<()> {
        match service.network_mode.as_deref() {
            None => {}
            Some("none") => return Ok(()),
            Some(mode) => {
                self.report.not_carried(
                    name,
                    "network_mode",
                    &format!(
                        "{mode:?}: pods have their own network namespace in the cluster network"
                    ),
                );
            }
        }
        let k8s = self.names.service(name).to_string();
        let ports: Vec<ServicePort> = service_ports(service)
            .into_iter()
            .map(|(port, protocol)| ServicePort {
                name: Some(format!("{}-{port}", protocol.to_ascii_lowercase())),
                port,
                protocol: Some(protocol),
                target_port: Some(IntOrString::Int(port)),
                ..ServicePort::default()
            })
            .collect();
        let headless = self.is_headless(service);
        let spec = ServiceSpec {
            cluster_ip: headless.then(|| "None".to_string()),
            ports: (!ports.is_empty()).then_some(ports),
            selector: Some(self.selector(name)),
            ..ServiceSpec::default()
        };
        let source = format!("service {name}");
        self.push(
            KubeService {
                metadata: self.meta(&k8s, self.selector(name)),
                spec: Some(spec.clone()),
                status: None,
            },
            &source,
        )?;
        for alias in self.aliases(name, service) {
            let alias_name = names::dns_label(&alias);
            if alias_name == k8s {
                continue;
            }
            if self.names_a_service(&alias_name) || self.has("Service", &alias_name) {
                self.report.not_carried(
                    name,
                    "networks",
                    &format!("alias {alias}: the name {alias_name:?} is another service's or alias's Service"),
                );
                continue;
            }
            if alias_name != alias {
                self.report.changed(
                    name,
                    "networks",
                    &format!("alias {alias} is {alias_name:?} in Kubernetes (DNS-1123)"),
                );
            }
            self.push(
                KubeService {
                    metadata: self.meta(&alias_name, self.selector(name)),
                    spec: Some(spec.clone()),
                    status: None,
                },
                &format!("service {name} alias {alias}"),
            )?;
        }
        self.published(name, service)
    }

    /// Whether `label` is the Kubernetes name of a compose service.
    fn names_a_service(&self, label: &str) -> bool {
        self.project
            .services
            .keys()
            .any(|name| self.names.service(name) == label)
    }

    /// The service's network aliases, and the aliases other services' `links` give it.
    fn aliases(&self, name: &str, service: &Service) -> Vec<String> {
        let mut aliases: Vec<String> = service
            .networks
            .values()
            .flatten()
            .flat_map(|n| n.aliases.iter().cloned())
            .collect();
        for other in self.project.services.values() {
            for link in &other.links {
                if let Some((target, alias)) = link.split_once(':')
                    && target == name
                {
                    aliases.push(alias.to_string());
                }
            }
        }
        aliases.sort();
        aliases.dedup();
        aliases
    }

    /// The `<name>-published` Service for `ports`, of `--service-type`.
    fn published(&mut self, name: &str, service: &Service) -> anyhow::Result<()> {
        if service.ports.is_empty() {
            return Ok(());
        }
        let kind = match self.options.service_type {
            ServiceType::ClusterIp => {
                self.report.not_carried(
                    name,
                    "ports",
                    "published ports are not reachable from outside the cluster with --service-type ClusterIP",
                );
                return Ok(());
            }
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        };
        let mut ports: BTreeMap<(i32, String), ServicePort> = BTreeMap::new();
        for port in &service.ports {
            let target = i32::from(port.target);
            let protocol = protocol(port.protocol.as_deref());
            let published = match port.published.as_deref() {
                None => None,
                Some(text) => match text.parse::<i32>() {
                    Ok(number) => Some(number),
                    Err(_) => {
                        self.report.changed(
                            name,
                            "ports",
                            &format!("published range {text}: the Service publishes {target} once"),
                        );
                        None
                    }
                },
            };
            if port.host_ip.is_some() {
                self.report.changed(
                    name,
                    "ports",
                    &format!("host_ip of {target}: a {kind} Service listens on every node address"),
                );
            }
            let (service_port, node_port) = match (kind, published) {
                ("NodePort", Some(p)) if NODE_PORTS.contains(&p) => (target, Some(p)),
                ("NodePort", Some(p)) => {
                    self.report.changed(
                        name,
                        "ports",
                        &format!("published {p} is outside the NodePort range 30000-32767: the cluster picks the node port"),
                    );
                    (target, None)
                }
                (_, Some(p)) => (p, None),
                (_, None) => (target, None),
            };
            ports
                .entry((service_port, protocol.clone()))
                .or_insert(ServicePort {
                    app_protocol: port.app_protocol.clone(),
                    name: Some(format!("{}-{service_port}", protocol.to_ascii_lowercase())),
                    port: service_port,
                    node_port,
                    protocol: Some(protocol),
                    target_port: Some(IntOrString::Int(target)),
                });
        }
        let published_name = format!("{}-published", self.names.service(name));
        self.push(
            KubeService {
                metadata: self.meta(&published_name, self.selector(name)),
                spec: Some(ServiceSpec {
                    type_: Some(kind.to_string()),
                    ports: Some(ports.into_values().collect()),
                    selector: Some(self.selector(name)),
                    ..ServiceSpec::default()
                }),
                status: None,
            },
            &format!("service {name} ports"),
        )
    }
}
