//! A container's place on the network: which namespace its init joins, its endpoints (made at create,
//! removed at remove), and its `/etc/hosts`, kept current as containers come and go.
//!
//! Name resolution has one source, `/etc/hosts`, rewritten in place (the file is bind-mounted, so its
//! inode must stay) for every container on a network whenever an endpoint joins or leaves it, and two
//! ways in: the file itself, which glibc, musl and static busybox read first (a lookup costs a file
//! read, and works on internal networks whose bridges have no address), and the container's embedded
//! DNS server at 127.0.0.11 (`network::dns`, run by its monitor: no shared daemon to keep alive),
//! which answers from the same file for clients that speak DNS and forwards other names. Each
//! container's file lists only the endpoints of the networks it is on, which gives "names on other
//! networks do not resolve" for free; a scaled service has one line per replica. A container on a
//! network also gets `/etc/host.conf` with `multi on` (Debian's default), without which glibc returns
//! only the first address of a name with several.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::Error;
use super::spec::{ContainerSpec, NetworkMode};
use super::state::{Paths, Record, State, read_json};
use crate::network::{Endpoint, Networks, dns, netns};
use crate::store::{IoError, lock::Lock};

/// The namespace the init joins.
pub(crate) enum Namespace {
    /// A new one (the clone makes it): loopback only.
    New,
    /// The host's (no network namespace at all).
    Host,
    /// An existing one.
    Join(PathBuf),
}

/// Where a container's persistent namespace file lives.
pub(crate) fn netns_path(root: &Path, id: &str) -> PathBuf {
    root.join("netns").join(id)
}

/// The namespace `record`'s init joins, resolved at each start (a `container:` peer may have been
/// restarted).
pub(crate) fn namespace(root: &Path, record: &Record) -> Result<Namespace, String> {
    Ok(match &record.spec.network {
        NetworkMode::None => Namespace::New,
        NetworkMode::Host => Namespace::Host,
        NetworkMode::Join(path) => Namespace::Join(path.clone()),
        NetworkMode::Networks(_) => Namespace::Join(netns_path(root, &record.id)),
        NetworkMode::Container(other) => {
            let persistent = netns_path(root, other);
            if persistent.exists() {
                return Ok(Namespace::Join(persistent));
            }
            let state: State = read_json(&Paths::new(root, other).state())
                .map_err(|_| format!("container {other} (network_mode) does not exist"))?;
            if !state.status.is_active() || state.pid <= 0 {
                return Err(format!("container {other} (network_mode) is not running"));
            }
            Namespace::Join(PathBuf::from(format!("/proc/{}/ns/net", state.pid)))
        }
    })
}

fn names_for(spec: &ContainerSpec, aliases: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    let candidates = [&spec.name, &spec.hostname].into_iter().chain(aliases);
    for name in candidates {
        if !name.is_empty() && !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// Makes the namespace of a container with [`NetworkMode::Networks`] and connects it to each network
/// (`eth0`, `eth1`, ... in order; the default route goes through the first network that has a
/// gateway), then rewrites the hosts files on those networks. On failure, undoes what it made.
pub(crate) fn attach(root: &Path, record: &Record) -> Result<(), Error> {
    let NetworkMode::Networks(attachments) = &record.spec.network else {
        return Ok(());
    };
    let networks = Networks::open(root)?;
    // glibc returns every address a name has in /etc/hosts (a scaled service's replicas) only with
    // `multi on`, which Debian's own host.conf sets but minimal images lack; musl always does.
    let host_conf = Paths::new(root, &record.id).etc_file("host.conf");
    fs::write(&host_conf, "multi on\n").map_err(|e| IoError::new("write", &host_conf, e))?;
    let dir = root.join("netns");
    crate::store::private_dir(&dir)?;
    let path = netns_path(root, &record.id);
    let result = (|| -> Result<(), Error> {
        let mut inside = netns::create(&path).map_err(|e| IoError::new("create", &path, e))?;
        let file = fs::File::open(&path).map_err(|e| IoError::new("open", &path, e))?;
        // The default route goes through the network with the highest `gw_priority` among those
        // with a gateway (the first of them on a tie; docker's rule).
        let mut route = None;
        for (index, attachment) in attachments.iter().enumerate() {
            if networks.get(&attachment.network)?.gateway.is_none() {
                continue;
            }
            let priority = record.spec.gw_priority.get(&attachment.network).copied();
            let priority = priority.unwrap_or(0);
            if route.is_none_or(|(_, best)| priority > best) {
                route = Some((index, priority));
            }
        }
        for (index, attachment) in attachments.iter().enumerate() {
            let interface = match record.spec.interface_names.get(&attachment.network) {
                Some(name) => name.clone(),
                None => format!("eth{index}"),
            };
            networks.connect(
                &record.id,
                (&file, &mut inside),
                attachment,
                &interface,
                names_for(&record.spec, &attachment.aliases),
                route.is_some_and(|(chosen, _)| chosen == index),
            )?;
            // `link_local_ips`: more addresses on the endpoint, in 169.254.0.0/16.
            if let Some(addresses) = record.spec.link_local_ips.get(&attachment.network) {
                let link = inside
                    .link_index(&interface)
                    .ok()
                    .flatten()
                    .ok_or_else(|| {
                        IoError::new(
                            "find",
                            &path,
                            std::io::Error::from_raw_os_error(libc::ENODEV),
                        )
                    })?;
                for address in addresses {
                    inside
                        .add_address(link, *address, 16)
                        .map_err(|e| IoError::new("add a link-local address in", &path, e))?;
                }
            }
        }
        Ok(())
    })();
    if let Err(error) = result {
        detach(root, record);
        return Err(error);
    }
    refresh_hosts(
        root,
        &networks,
        attachments.iter().map(|a| a.network.as_str()),
    )
}

/// Disconnects a container from its networks, removes its namespace file and rewrites the hosts files
/// of the containers that remain. Best effort: what is already gone is skipped.
pub(crate) fn detach(root: &Path, record: &Record) {
    let NetworkMode::Networks(attachments) = &record.spec.network else {
        return;
    };
    let Ok(networks) = Networks::open(root) else {
        return;
    };
    // The namespace goes first: with nothing left in it, the kernel deletes its veth pairs in the
    // background, so a removal does not wait for them (15-30 ms each, RCU grace periods). A
    // namespace that other containers joined (`network_mode: container:`) lives on: its veths are
    // deleted now, so they leave the bridges with the endpoints.
    let shared = namespace_joined(root, &record.id);
    let _ = netns::remove(&netns_path(root, &record.id));
    for attachment in attachments {
        let _ = if shared {
            networks.disconnect(&attachment.network, &record.id)
        } else {
            networks.release(&attachment.network, &record.id)
        };
    }
    let _ = refresh_hosts(
        root,
        &networks,
        attachments.iter().map(|a| a.network.as_str()),
    );
}

/// Whether another container's record says it joins this container's network namespace.
fn namespace_joined(root: &Path, id: &str) -> bool {
    let Ok(entries) = fs::read_dir(root.join("containers")) else {
        return true; // unknown: the safe way
    };
    entries.flatten().any(|entry| {
        let other = entry.file_name().to_string_lossy().into_owned();
        other != id
            && read_json::<Record>(&Paths::new(root, &other).config()).is_ok_and(
                |r| matches!(&r.spec.network, NetworkMode::Container(target) if target == id),
            )
    })
}

/// The endpoints of a container, in attachment order.
pub fn endpoints(root: &Path, record: &Record) -> Vec<Endpoint> {
    let NetworkMode::Networks(attachments) = &record.spec.network else {
        return Vec::new();
    };
    let Ok(networks) = Networks::open(root) else {
        return Vec::new();
    };
    attachments
        .iter()
        .filter_map(|a| {
            networks
                .endpoints(&a.network)
                .ok()?
                .into_iter()
                .find(|e| e.container == record.id)
        })
        .collect()
}

/// The `resolv.conf` of a container on networks: the embedded server (`dns::ADDRESS`) as its only
/// name server, with the search domains and options of the one it would otherwise have had.
pub(crate) fn resolv_conf(base: &str) -> String {
    let mut text = format!("nameserver {}\n", dns::ADDRESS);
    for line in base.lines() {
        if !line.trim_start().starts_with("nameserver") && !line.trim().is_empty() {
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

/// The embedded DNS server of a container on networks (`None` for other containers), bound in its
/// namespace. It forwards names that are not containers to `upstream_resolv`'s name servers only when
/// one of its networks has a way out.
pub(crate) fn dns_server(
    root: &Path,
    record: &Record,
    upstream_resolv: &str,
) -> std::io::Result<Option<dns::Server>> {
    let NetworkMode::Networks(attachments) = &record.spec.network else {
        return Ok(None);
    };
    let way_out = Networks::open(root).is_ok_and(|networks| {
        attachments
            .iter()
            .any(|a| networks.get(&a.network).is_ok_and(|n| n.masquerade))
    });
    let servers = if way_out {
        dns::name_servers(upstream_resolv)
    } else {
        Vec::new()
    };
    let hosts = Paths::new(root, &record.id).etc_file("hosts");
    dns::Server::bind(&netns_path(root, &record.id), hosts, servers).map(Some)
}

/// The address docker's `extra_hosts` entries may give as `host-gateway`: the host as the container
/// reaches it.
const HOST_GATEWAY: &str = "host-gateway";

/// `base` (a hosts file) with `host-gateway` addresses replaced by `gateway`, the host's address as
/// the container reaches it (the gateway of its first network, or loopback with the host's network);
/// without one (no network) their lines are left out.
pub(crate) fn resolve_host_gateway(base: &str, gateway: Option<&str>) -> String {
    let mut text = String::new();
    for line in base.lines() {
        match line.split_once(char::is_whitespace) {
            Some((HOST_GATEWAY, names)) => {
                if let Some(gateway) = gateway {
                    text.push_str(&format!("{gateway}\t{}\n", names.trim_start()));
                }
            }
            _ => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}

/// The hosts file of a container: its base (localhost and `extra_hosts`), its own address and
/// hostname, then one line per endpoint of every network it is on.
pub(crate) fn hosts_file(
    base: &str,
    hostname: &str,
    own: &[Endpoint],
    peers: &[Endpoint],
) -> String {
    let gateway = own
        .first()
        .and_then(|endpoint| endpoint.gateway)
        .map(|gateway| gateway.to_string());
    let mut text = resolve_host_gateway(base, gateway.as_deref());
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if let Some(first) = own.first() {
        text.push_str(&format!("{}\t{hostname}\n", first.address));
    }
    let mut seen = BTreeSet::new();
    for endpoint in peers {
        if endpoint.names.is_empty() {
            continue;
        }
        let line = format!("{}\t{}\n", endpoint.address, endpoint.names.join(" "));
        if seen.insert(line.clone()) {
            text.push_str(&line);
        }
    }
    text
}

/// A peer as one container sees it: with the names that container alone gives it (`links`).
fn with_peer_aliases(peer: &Endpoint, peer_aliases: &BTreeMap<String, Vec<String>>) -> Endpoint {
    let mut peer = peer.clone();
    let extra: Vec<String> = peer_aliases
        .iter()
        .filter(|(name, _)| peer.names.contains(name))
        .flat_map(|(_, aliases)| aliases.iter().cloned())
        .collect();
    for alias in extra {
        if !peer.names.contains(&alias) {
            peer.names.push(alias);
        }
    }
    peer
}

/// Rewrites the hosts file of every container on these networks.
pub(crate) fn refresh_hosts<'a>(
    root: &Path,
    networks: &Networks,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), Error> {
    let dir = root.join("networks");
    let _lock = Lock::exclusive(&dir.join(".hosts.lock"))?;
    // Each network's endpoints are read once: every container's file is made from them, and
    // reading them per container made a refresh quadratic in the containers on the network.
    let mut by_network: BTreeMap<String, Vec<Endpoint>> = BTreeMap::new();
    let mut containers = BTreeSet::new();
    for name in names {
        let endpoints = networks.endpoints(name)?;
        containers.extend(endpoints.iter().map(|e| e.container.clone()));
        by_network.insert(name.to_owned(), endpoints);
    }
    for id in containers {
        let paths = Paths::new(root, &id);
        let Ok(record) = read_json::<Record>(&paths.config()) else {
            continue; // being created or removed: its own attach or detach refreshes it
        };
        let NetworkMode::Networks(attachments) = &record.spec.network else {
            continue;
        };
        let mut own = Vec::new();
        let mut peers = Vec::new();
        for attachment in attachments {
            let name = &attachment.network;
            if !by_network.contains_key(name) {
                // A network of this container's that is not being refreshed.
                let Ok(endpoints) = networks.endpoints(name) else {
                    continue;
                };
                by_network.insert(name.clone(), endpoints);
            }
            let endpoints = &by_network[name];
            if let Some(endpoint) = endpoints.iter().find(|e| e.container == id) {
                own.push(endpoint.clone());
                peers.extend(
                    endpoints
                        .iter()
                        .map(|peer| with_peer_aliases(peer, &attachment.peer_aliases)),
                );
            }
        }
        let base = record.spec.hosts.as_deref().unwrap_or(super::DEFAULT_HOSTS);
        let text = hosts_file(base, &record.hostname, &own, &peers);
        write_in_place(&paths.etc_file("hosts"), &text)?;
    }
    Ok(())
}

/// Replaces a file's contents without replacing its inode (bind mounts point at the inode): the new
/// text is written over the old from offset 0, then the file is cut to its length, so a reader sees
/// at worst the new text followed by a tail of the old for the time of one `ftruncate`.
fn write_in_place(path: &Path, text: &str) -> Result<(), IoError> {
    let file = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| IoError::new("open", path, e))?;
    file.write_all_at(text.as_bytes(), 0)
        .and_then(|()| file.set_len(text.len() as u64))
        .and_then(|()| (&file).flush())
        .map_err(|e| IoError::new("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn endpoint(container: &str, last: u8, names: &[&str]) -> Endpoint {
        Endpoint {
            container: container.into(),
            network: "p_default".into(),
            address: Ipv4Addr::new(10, 89, 0, last),
            prefix: 24,
            gateway: Some(Ipv4Addr::new(10, 89, 0, 1)),
            mac: String::new(),
            interface: "eth0".into(),
            host_interface: String::new(),
            names: names.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn hosts_list_every_endpoint_once() {
        let own = [endpoint("a", 2, &["p-web-1", "web"])];
        let peers = [
            endpoint("a", 2, &["p-web-1", "web"]),
            endpoint("b", 3, &["p-web-2", "web"]),
            endpoint("c", 4, &["p-db-1", "db", "database"]),
            endpoint("a", 2, &["p-web-1", "web"]),
        ];
        let text = hosts_file("127.0.0.1\tlocalhost", "abc", &own, &peers);
        assert_eq!(
            text,
            "127.0.0.1\tlocalhost\n10.89.0.2\tabc\n10.89.0.2\tp-web-1 web\n\
             10.89.0.3\tp-web-2 web\n10.89.0.4\tp-db-1 db database\n"
        );
    }

    #[test]
    fn host_gateway_is_the_first_networks_gateway() {
        let base = "127.0.0.1\tlocalhost\nhost-gateway\thost.docker.internal\n10.0.0.9\tother\n";
        let own = [endpoint("a", 2, &["p-web-1"])];
        assert_eq!(
            hosts_file(base, "abc", &own, &[]),
            "127.0.0.1\tlocalhost\n10.89.0.1\thost.docker.internal\n10.0.0.9\tother\n10.89.0.2\tabc\n"
        );
        assert_eq!(
            resolve_host_gateway(base, Some("127.0.0.1")),
            "127.0.0.1\tlocalhost\n127.0.0.1\thost.docker.internal\n10.0.0.9\tother\n"
        );
        assert_eq!(
            resolve_host_gateway(base, None),
            "127.0.0.1\tlocalhost\n10.0.0.9\tother\n"
        );
    }

    #[test]
    fn peer_aliases_extend_only_the_peers_they_name() {
        let links = BTreeMap::from([("db".to_string(), vec!["store".to_string()])]);
        let db = with_peer_aliases(&endpoint("c", 4, &["p-db-1", "db"]), &links);
        assert_eq!(db.names, ["p-db-1", "db", "store"]);
        let web = with_peer_aliases(&endpoint("a", 2, &["p-web-1", "web"]), &links);
        assert_eq!(web.names, ["p-web-1", "web"]);
        let again = with_peer_aliases(&db, &links);
        assert_eq!(again.names, ["p-db-1", "db", "store"]);
    }

    #[test]
    fn names_put_the_container_name_first_without_duplicates() {
        let spec = ContainerSpec {
            name: "p-web-1".into(),
            hostname: "web".into(),
            ..ContainerSpec::default()
        };
        assert_eq!(
            names_for(&spec, &["web".into(), "api".into(), String::new()]),
            ["p-web-1", "web", "api"]
        );
    }

    #[test]
    fn in_place_writes_keep_the_inode() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        fs::write(&path, "a much longer first version\n").unwrap();
        let inode = fs::metadata(&path).unwrap().ino();
        write_in_place(&path, "short\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "short\n");
        assert_eq!(fs::metadata(&path).unwrap().ino(), inode);
    }
}
