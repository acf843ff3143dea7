//! Networks as NetworkPolicies that allow exactly what Compose's networks allow: a pod takes
//! traffic only from pods that share one of its networks (each network's policy allows its own
//! members; policies add up), published ports take traffic from anywhere, and a pod whose networks
//! are all `internal: true` sends only to its networks' pods and the cluster DNS. A pod with
//! `network_mode: none` gets a policy that allows nothing. Members carry one label per network.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::ServiceType;
use super::names::dns_label;
use crate::project::model::Service;

impl super::Converter<'_> {
    /// The label that marks a member of network `key`.
    fn network_label(key: &str) -> String {
        format!(
            "{}{}",
            crate::labels::KUBERNETES_NETWORK_PREFIX,
            dns_label(key)
        )
    }

    /// The network labels of a service's pods.
    pub(super) fn network_labels(&self, service: &Service) -> BTreeMap<String, String> {
        if service.network_mode.is_some() {
            return BTreeMap::new();
        }
        service
            .networks
            .keys()
            .map(|key| (Self::network_label(key), "true".to_string()))
            .collect()
    }

    pub(super) fn network_policies(&mut self) -> anyhow::Result<()> {
        let mut used: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, service) in &self.project.services {
            if service.provider.is_some() {
                continue;
            }
            if service.network_mode.is_none() {
                for key in service.networks.keys() {
                    used.entry(key).or_default().push(name);
                }
            }
            for (key, settings) in &service.networks {
                let Some(settings) = settings else { continue };
                let mut lost = Vec::new();
                if settings.ipv4_address.is_some() || settings.ipv6_address.is_some() {
                    lost.push("fixed addresses");
                }
                if settings.mac_address.is_some() {
                    lost.push("mac_address");
                }
                if !settings.link_local_ips.is_empty() {
                    lost.push("link_local_ips");
                }
                if settings.interface_name.is_some() {
                    lost.push("interface_name");
                }
                if !settings.driver_opts.is_empty() {
                    lost.push("driver_opts");
                }
                if settings.priority.is_some() || settings.gw_priority.is_some() {
                    lost.push("priority, gw_priority");
                }
                if !lost.is_empty() {
                    self.report.not_carried(
                        name,
                        "networks",
                        &format!(
                            "{key}: {} (a pod has one interface, addressed by the cluster)",
                            lost.join(", ")
                        ),
                    );
                }
            }
            if service.network_mode.as_deref() == Some("none") {
                self.isolated(name)?;
            }
            if !service.ports.is_empty() && self.options.service_type != ServiceType::ClusterIp {
                self.published_ingress(name, service)?;
            }
        }
        for key in used.keys() {
            let internal = self.project.networks.get(*key).is_some_and(|n| n.internal);
            self.network_policy(key, internal)?;
        }
        Ok(())
    }

    fn network_policy(&mut self, key: &str, internal: bool) -> anyhow::Result<()> {
        let members = LabelSelector {
            match_labels: Some(BTreeMap::from([(
                Self::network_label(key),
                "true".to_string(),
            )])),
            ..LabelSelector::default()
        };
        let peers = vec![NetworkPolicyPeer {
            pod_selector: Some(members.clone()),
            ..NetworkPolicyPeer::default()
        }];
        let egress = if internal {
            vec![
                NetworkPolicyEgressRule {
                    to: Some(peers.clone()),
                    ports: None,
                },
                cluster_dns(),
            ]
        } else {
            vec![NetworkPolicyEgressRule::default()]
        };
        let name = format!("network-{}", dns_label(key));
        self.push(
            NetworkPolicy {
                metadata: self.meta(&name, BTreeMap::new()),
                spec: Some(NetworkPolicySpec {
                    pod_selector: Some(members),
                    policy_types: Some(vec!["Ingress".to_string(), "Egress".to_string()]),
                    ingress: Some(vec![NetworkPolicyIngressRule {
                        from: Some(peers),
                        ports: None,
                    }]),
                    egress: Some(egress),
                }),
            },
            &format!("network {key}"),
        )
    }

    /// `network_mode: none`: nothing in, nothing out.
    fn isolated(&mut self, name: &str) -> anyhow::Result<()> {
        let policy = format!("{}-no-network", self.names.service(name));
        self.push(
            NetworkPolicy {
                metadata: self.meta(&policy, self.selector(name)),
                spec: Some(NetworkPolicySpec {
                    pod_selector: Some(self.pods_of(name)),
                    policy_types: Some(vec!["Ingress".to_string(), "Egress".to_string()]),
                    ingress: None,
                    egress: None,
                }),
            },
            &format!("service {name} network_mode"),
        )
    }

    /// Published ports take traffic from anywhere, as a host port does.
    fn published_ingress(&mut self, name: &str, service: &Service) -> anyhow::Result<()> {
        let mut ports: Vec<(i32, String)> = service
            .ports
            .iter()
            .map(|p| {
                (
                    i32::from(p.target),
                    super::container::protocol(p.protocol.as_deref()),
                )
            })
            .collect();
        ports.sort();
        ports.dedup();
        let policy = format!("{}-published", self.names.service(name));
        self.push(
            NetworkPolicy {
                metadata: self.meta(&policy, self.selector(name)),
                spec: Some(NetworkPolicySpec {
                    pod_selector: Some(self.pods_of(name)),
                    policy_types: Some(vec!["Ingress".to_string()]),
                    ingress: Some(vec![NetworkPolicyIngressRule {
                        from: None,
                        ports: Some(
                            ports
                                .into_iter()
                                .map(|(port, protocol)| NetworkPolicyPort {
                                    port: Some(IntOrString::Int(port)),
                                    protocol: Some(protocol),
                                    end_port: None,
                                })
                                .collect(),
                        ),
                    }]),
                    egress: None,
                }),
            },
            &format!("service {name} ports"),
        )
    }

    /// Project-level networks and models: what their attributes ask that policies cannot give.
    pub(super) fn project_resources_report(&mut self) {
        let used: Vec<&str> = self
            .project
            .services
            .values()
            .flat_map(|s| s.networks.keys().map(String::as_str))
            .collect();
        for (key, network) in &self.project.networks {
            if !used.contains(&key.as_str()) {
                continue;
            }
            let subject = format!("network {key}");
            if network.external {
                self.report.project_changed(
                    &subject,
                    "external",
                    "only this project's pods are its members in the cluster",
                );
            }
            if network.driver.as_deref().is_some_and(|d| d != "bridge")
                || !network.driver_opts.is_empty()
            {
                self.report.project_attribute(
                    &subject,
                    "driver, driver_opts",
                    "the cluster's network plugin carries all pod traffic",
                );
            }
            if network.ipam.is_some() {
                self.report.project_attribute(
                    &subject,
                    "ipam",
                    "the cluster assigns pod addresses",
                );
            }
            if network.enable_ipv6 == Some(true) || network.enable_ipv4 == Some(false) {
                self.report.project_attribute(
                    &subject,
                    "enable_ipv4, enable_ipv6",
                    "address families are the cluster's setting",
                );
            }
        }
        for key in self.project.models.keys() {
            self.report.project(
                &format!("model {key}"),
                "models run by Docker Model Runner are not converted",
            );
        }
    }
}

/// Egress to the cluster DNS (kube-dns in kube-system), which internal networks still need.
fn cluster_dns() -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    "kubernetes.io/metadata.name".to_string(),
                    "kube-system".to_string(),
                )])),
                ..LabelSelector::default()
            }),
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    "k8s-app".to_string(),
                    "kube-dns".to_string(),
                )])),
                ..LabelSelector::default()
            }),
            ..NetworkPolicyPeer::default()
        }]),
        ports: Some(
            ["UDP", "TCP"]
                .into_iter()
                .map(|protocol| NetworkPolicyPort {
                    port: Some(IntOrString::Int(53)),
                    protocol: Some(protocol.to_string()),
                    end_port: None,
                })
                .collect(),
        ),
    }
}
