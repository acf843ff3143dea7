//! The runtime side of a project's networks: how a Compose network becomes a runtime network (subnet,
//! gateway, `internal`, driver options and docker compose's labels), and how a service's
//! `networks`/`network_mode` become its container's [`NetworkMode`].
//!
//! Used by `apply` (the executor); which networks exist is the planner's decision.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use anyhow::{Context, bail};
use runtime::container::NetworkMode;
use runtime::network::{Attachment, NetworkSpec};

use crate::engine::Engine;
use crate::labels;
use crate::names;
use crate::project::model::{Network, Project, Service};

/// The runtime network a project network is created as.
pub fn spec(project: &Project, key: &str, network: &Network) -> anyhow::Result<NetworkSpec> {
    let name = project.network_name(key);
    if let Some(driver) = network.driver.as_deref()
        && driver != "bridge"
    {
        bail!(
            "network {key:?}: driver {driver:?} is not supported (rcompose makes bridge networks; \
             use `network_mode: host` or `none` on the service instead)"
        );
    }
    if let Some(ipam) = &network.ipam
        && let Some(driver) = ipam.driver.as_deref()
        && driver != "default"
    {
        bail!("network {key:?}: ipam driver {driver:?} is not supported (only \"default\")");
    }
    // The first IPv4 pool; IPv6 pools are not supported (networks are IPv4 only).
    let pool = network.ipam.iter().flat_map(|i| &i.config).find(|pool| {
        pool.subnet
            .as_deref()
            .is_none_or(|subnet| !subnet.contains(':'))
    });
    if network.enable_ipv4 == Some(false) {
        bail!(
            "network {key:?}: enable_ipv4: false is not supported: networks are IPv4 only until IPv6 exists here"
        );
    }
    if network.enable_ipv6 == Some(true) {
        bail!("network {key:?}: IPv6 networks are not supported yet (remove enable_ipv6)");
    }
    let network_labels = labels::resource(
        &network.labels,
        &project.name,
        labels::NETWORK,
        key,
        network,
    )?;
    let masquerade = match network
        .driver_opts
        .get("com.docker.network.bridge.enable_ip_masquerade")
    {
        Some(value) => parse_bool(value).with_context(|| {
            format!("network {key:?}: com.docker.network.bridge.enable_ip_masquerade must be true or false, not {value:?}")
        })?,
        None => masquerade_default()?,
    };
    let reserved = pool
        .map(|p| &p.aux_addresses)
        .into_iter()
        .flatten()
        .map(|(host, address)| {
            address.parse::<Ipv4Addr>().with_context(|| {
                format!("network {key:?}: aux_addresses {host}: {address:?} is not an IPv4 address")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(NetworkSpec {
        reserved,
        masquerade,
        name,
        labels: network_labels,
        internal: network.internal,
        subnet: pool.and_then(|p| p.subnet.clone()),
        gateway: pool.and_then(|p| p.gateway.clone()),
        ip_range: pool.and_then(|p| p.ip_range.clone()),
        options: network.driver_opts.clone(),
    })
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Whether networks get a way out by default: yes, as with docker, unless `RCOMPOSE_MASQUERADE` says
/// no (the test suites do: their traffic must stay on the machine).
pub(crate) fn masquerade_default() -> anyhow::Result<bool> {
    match std::env::var("RCOMPOSE_MASQUERADE") {
        Ok(value) if !value.is_empty() => parse_bool(&value)
            .with_context(|| format!("RCOMPOSE_MASQUERADE must be true or false, not {value:?}")),
        _ => Ok(true),
    }
}

/// Creates the project network `key` under its runtime `name`.
pub fn create(engine: &Engine, project: &Project, key: &str, name: &str) -> anyhow::Result<()> {
    let definition = project
        .networks
        .get(key)
        .with_context(|| format!("network {key:?} is not declared in the project"))?;
    if definition.external {
        engine.networks.get(name).with_context(|| {
            format!(
                "network {key} declared as external, but could not be found (looked for {name:?})"
            )
        })?;
        return Ok(());
    }
    let spec = spec(project, key, definition)?;
    let network = engine.networks.create(&spec).map_err(|error| {
        let hint = matches!(error, runtime::network::Error::PoolExhausted { .. })
            .then_some(" (set RCOMPOSE_ADDRESS_POOLS, e.g. 10.89.0.0/16:24,172.30.0.0/16:26)")
            .unwrap_or_default();
        anyhow::Error::new(error).context(format!("cannot create network {name}{hint}"))
    })?;
    if spec.masquerade && !spec.internal && !network.masquerade {
        crate::output::warnings(&[format!(
            "network {name} has no way out to the host's network: `nft` is not installed \
             (apt-get install nftables, then recreate the network)"
        )]);
    }
    Ok(())
}

/// The per-network endpoint settings the runtime takes from the spec: `interface_name` and
/// `gw_priority`, IPv4 `link_local_ips`, the endpoint's `driver_opts`
/// `com.docker.network.endpoint.sysctls` (see [`endpoint_sysctls`]); `ipv6_address` is refused (no
/// IPv6 yet), and so are other endpoint driver options.
pub fn endpoint_settings(
    project: &Project,
    service_name: &str,
    service: &Service,
    spec: &mut runtime::container::ContainerSpec,
) -> anyhow::Result<()> {
    for (key, settings) in &service.networks {
        let Some(settings) = settings else { continue };
        let name = project.network_name(key);
        if settings.ipv6_address.is_some() {
            bail!(
                "service {service_name:?}: ipv6_address on network {key:?} is not supported: networks are IPv4 only"
            );
        }
        for text in &settings.link_local_ips {
            let address = text
                .parse::<Ipv4Addr>()
                .ok()
                .filter(Ipv4Addr::is_link_local)
                .with_context(|| {
                    format!("service {service_name:?}: link_local_ips on network {key:?}: {text:?} is not an IPv4 link-local address (169.254.0.0/16; IPv6 is not supported)")
                })?;
            spec.link_local_ips
                .entry(name.clone())
                .or_default()
                .push(address);
        }
        if let Some(interface) = &settings.interface_name {
            spec.interface_names.insert(name.clone(), interface.clone());
        }
        for (option, value) in &settings.driver_opts {
            if option != ENDPOINT_SYSCTLS {
                bail!(
                    "service {service_name:?}: driver_opts {option:?} on network {key:?} is not supported (the bridge driver's endpoints take `{ENDPOINT_SYSCTLS}`)"
                );
            }
            let interface = match (&spec.network, spec.interface_names.get(&name)) {
                (_, Some(interface)) => interface.clone(),
                (NetworkMode::Networks(attachments), None) => attachments
                    .iter()
                    .position(|a| a.network == name)
                    .map(|index| format!("eth{index}"))
                    .with_context(|| {
                        format!("service {service_name:?} is not on network {key:?}")
                    })?,
                _ => bail!(
                    "service {service_name:?}: driver_opts on network {key:?} need the service on that network (not network_mode)"
                ),
            };
            let sysctls = endpoint_sysctls(value, &interface).map_err(|problem| {
                anyhow::anyhow!("service {service_name:?}: network {key:?}: {problem}")
            })?;
            spec.sysctls.extend(sysctls);
        }
        if let Some(priority) = settings.gw_priority {
            spec.gw_priority.insert(name, priority);
        }
    }
    Ok(())
}

/// docker's endpoint option for per-interface sysctls.
const ENDPOINT_SYSCTLS: &str = "com.docker.network.endpoint.sysctls";

/// `com.docker.network.endpoint.sysctls` as dockerd reads it: comma-separated `KEY=VALUE`, each a
/// per-interface setting (`net.ipv4.conf.IFNAME.forwarding=1`) whose `IFNAME` is the endpoint's
/// interface; others are refused, as dockerd refuses them.
fn endpoint_sysctls(value: &str, interface: &str) -> Result<Vec<(String, String)>, String> {
    let mut sysctls = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (key, setting) = item
            .split_once('=')
            .ok_or_else(|| format!("{ENDPOINT_SYSCTLS}: {item:?} is not KEY=VALUE"))?;
        let parts: Vec<&str> = key.split('.').collect();
        let per_interface = parts.len() >= 5
            && parts[0] == "net"
            && matches!(parts[1], "ipv4" | "ipv6")
            && matches!(parts[2], "conf" | "neigh")
            && parts[3] == "IFNAME";
        if !per_interface {
            return Err(format!(
                "{ENDPOINT_SYSCTLS}: {key:?} is not a per-interface setting (net.ipv4.conf.IFNAME.<name>, net.ipv6.conf.IFNAME.<name>, net.ipv4.neigh.IFNAME.<name>)"
            ));
        }
        if parts[1] == "ipv6" {
            return Err(format!(
                "{ENDPOINT_SYSCTLS}: {key:?}: networks are IPv4 only"
            ));
        }
        sysctls.push((key.replace("IFNAME", interface), setting.trim().to_owned()));
    }
    Ok(sysctls)
}

/// The names a service's `links: ["SERVICE:ALIAS"]` (and `external_links`) give other containers, by
/// the linked name: as with docker, only the linking service's containers see them.
fn peer_aliases(service: &Service) -> BTreeMap<String, Vec<String>> {
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // `external_links: ["CONTAINER:ALIAS"]` name a container (of any project) that shares a network
    // with this one: the same per-container names, keyed by the container's name.
    for link in service.links.iter().chain(&service.external_links) {
        if let Some((target, alias)) = link.split_once(':')
            && alias != target
        {
            aliases
                .entry(target.to_string())
                .or_default()
                .push(alias.to_string());
        }
    }
    aliases
}

/// How a service's container is networked: `network_mode` if set (`host`, `none`,
/// `service:NAME`, `container:NAME`, with `find` giving a container's id by name), else an endpoint
/// on each of its networks, highest `priority` first, then by name. On each network the container
/// answers to its service name and the network's `aliases` (the runtime adds the container name and
/// the hostname), and sees the services it links to under their `links` aliases.
pub fn mode(
    project: &Project,
    service_name: &str,
    service: &Service,
    find: &dyn Fn(&str) -> anyhow::Result<String>,
) -> anyhow::Result<NetworkMode> {
    if let Some(mode) = service.network_mode.as_deref() {
        return Ok(match mode.split_once(':') {
            None if mode == "host" => NetworkMode::Host,
            None if mode == "none" => NetworkMode::None,
            None if mode == "bridge" || mode == "default" => {
                bail!(
                    "service {service_name:?}: network_mode {mode:?} is not supported; leave it out \
                     to use the project's default network"
                )
            }
            Some(("service", other)) => {
                let name = names::container_name(&project.name, other, 1);
                NetworkMode::Container(find(&name).with_context(|| {
                    format!("service {service_name:?} shares the network of service {other:?}, whose container {name} does not exist")
                })?)
            }
            Some(("container", other)) => NetworkMode::Container(find(other).with_context(|| {
                format!("service {service_name:?} shares the network of container {other:?}, which does not exist")
            })?),
            _ => bail!("service {service_name:?}: unknown network_mode {mode:?}"),
        });
    }
    let mut networks: Vec<(&String, i64)> = service
        .networks
        .iter()
        .map(|(key, settings)| {
            let priority = settings.as_ref().and_then(|s| s.priority).unwrap_or(0);
            (key, priority)
        })
        .collect();
    networks.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut attachments = Vec::new();
    for (key, _) in networks {
        let settings = service.networks[key].clone().unwrap_or_default();
        let mut aliases = vec![service_name.to_string()];
        aliases.extend(settings.aliases.iter().cloned());
        let ipv4 = match &settings.ipv4_address {
            Some(text) => Some(text.parse::<Ipv4Addr>().with_context(|| {
                format!("service {service_name:?}: ipv4_address {text:?} on network {key:?} is not an IPv4 address")
            })?),
            None => None,
        };
        let mac = settings.mac_address.clone().or_else(|| {
            // The service-level mac_address applies to its first network.
            attachments
                .is_empty()
                .then(|| service.mac_address.clone())
                .flatten()
        });
        attachments.push(Attachment {
            network: project.network_name(key),
            ipv4,
            mac,
            aliases,
            peer_aliases: peer_aliases(service),
        });
    }
    Ok(NetworkMode::Networks(attachments))
}
