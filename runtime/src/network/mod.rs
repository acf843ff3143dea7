//! Networks: a Linux bridge per network, a veth pair per container endpoint, addresses from a
//! persistent IPAM, all made through netlink (`sys::netlink`), never by running `ip`.
//!
//! ```text
//! <root>/networks/.lock                   one lock for every network change (they take milliseconds)
//! <root>/networks/<name>/network.json     the record: id, subnet, gateway, bridge, labels, options
//! <root>/networks/<name>/endpoints/<container id>.json   an endpoint: address, MAC, interface, names
//! <root>/netns/<container id>             a container's persistent namespace (see `netns`)
//! ```
//!
//! Crash safety: records are written before the kernel object they describe (the network record before
//! its bridge, an endpoint record before its veth), and kernel names derive from record ids (bridge
//! `rc-<id>`, host veth `rcv<hash of network id and container id>`), so the next command finds every
//! object from the records alone. A bridge lost with a reboot is made again when the network is next
//! used. A network with `internal: true` gets no address on its bridge and its containers no default
//! route: they reach each other and nothing else, not even the host.
//!
//! Name resolution is files-based: each endpoint carries the names it answers to, and the container
//! module writes every container's `/etc/hosts` from the endpoints of the networks it is on (see
//! `container::hosts`).

pub mod dns;
pub mod firewall;
pub mod ipam;
pub mod netns;
pub mod proxy;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{IoError, atomic, create_dir_all, ctx, lock::Lock, remove_tree};
use crate::sys::netlink::Netlink;
use ipam::Subnet;

/// What can go wrong with networks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("no such network: {0}")]
    NotFound(String),
    #[error("network {0} already exists")]
    Exists(String),
    #[error("invalid network name {0:?}: use letters, digits, `_`, `.` and `-`")]
    InvalidName(String),
    #[error("network {name}: {message}")]
    Invalid { name: String, message: String },
    #[error(
        "no free subnet left in the address pools {pools} (choose other pools, or give the network \
         a subnet)"
    )]
    PoolExhausted { pools: String },
    #[error("invalid address pools in {setting}: {message}")]
    InvalidPools { setting: String, message: String },
    #[error("network {name} has active endpoints: {containers}")]
    InUse { name: String, containers: String },
    #[error("{action} on network {network}: {source}")]
    Kernel {
        action: String,
        network: String,
        #[source]
        source: std::io::Error,
    },
    #[error("record {path} is unreadable: {message}")]
    Corrupt { path: PathBuf, message: String },
}

/// What the caller asks for when creating a network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// No way out: no address on the bridge, no default route in the containers.
    pub internal: bool,
    /// `a.b.c.d/len`; `None` takes one from the pools.
    pub subnet: Option<String>,
    /// Default: the subnet's first address.
    pub gateway: Option<String>,
    /// Allocate container addresses from this part of the subnet only.
    pub ip_range: Option<String>,
    /// Driver options as docker's bridge driver reads them (`com.docker.network.driver.mtu`,
    /// `com.docker.network.bridge.name`); others are kept and shown.
    pub options: BTreeMap<String, String>,
    /// Give the containers a way out to the host's network (masquerade, see `firewall`); ignored on
    /// internal networks, and dropped (see [`Network::masquerade`]) when `nft` is not installed.
    pub masquerade: bool,
    /// Addresses of the subnet never given to a container (docker's `aux_addresses`).
    #[serde(default)]
    pub reserved: Vec<Ipv4Addr>,
}

/// A network that exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    /// RFC 3339 creation time.
    pub created: String,
    pub labels: BTreeMap<String, String>,
    pub internal: bool,
    pub subnet: Subnet,
    /// `None` on internal networks (the bridge has no address).
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Subnet>,
    /// The bridge's interface name.
    pub bridge: String,
    pub mtu: Option<u32>,
    pub options: BTreeMap<String, String>,
    /// Whether the network's firewall table gives it a way out (see `firewall`).
    #[serde(default)]
    pub masquerade: bool,
    /// Whether the network has a firewall table (`nft` was there when it was made).
    #[serde(default)]
    pub firewall: bool,
    /// Addresses never given to a container (`aux_addresses`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reserved: Vec<Ipv4Addr>,
}

impl Network {
    /// Whether the network's containers may reach each other (docker's
    /// `com.docker.network.bridge.enable_icc`, on unless `false`).
    pub fn icc(&self) -> bool {
        self.options
            .get("com.docker.network.bridge.enable_icc")
            .is_none_or(|value| !matches!(value.as_str(), "false" | "0"))
    }
}

/// A container's attachment to a network, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub container: String,
    pub network: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: String,
    /// The interface in the container (`eth0`, `eth1`...).
    pub interface: String,
    /// The host end of the veth pair, enslaved to the bridge.
    pub host_interface: String,
    /// Names other containers on this network resolve to this endpoint's address.
    pub names: Vec<String>,
}

/// What a container asks of one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Attachment {
    pub network: String,
    /// A static address (`ipv4_address`).
    pub ipv4: Option<Ipv4Addr>,
    /// A static MAC address (`mac_address`); default `02:42` and the IPv4 address.
    pub mac: Option<String>,
    /// Names the container answers to on this network, besides its name and hostname.
    pub aliases: Vec<String>,
    /// Names that only this container gives its peers on this network (docker's `links` aliases):
    /// a peer that answers to the key also answers to the listed names, here and nowhere else.
    pub peer_aliases: BTreeMap<String, Vec<String>>,
}

/// The networks under one state root.
#[derive(Debug, Clone)]
pub struct Networks {
    dir: PathBuf,
    pools: Vec<ipam::Pool>,
    pools_text: String,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn kernel(action: impl Into<String>, network: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    let action = action.into();
    move |source| Error::Kernel {
        action,
        network: network.to_owned(),
        source,
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let bytes = fs::read(path).map_err(ctx("read", path))?;
    serde_json::from_slice(&bytes).map_err(|error| Error::Corrupt {
        path: path.to_owned(),
        message: error.to_string(),
    })
}

/// Records are replaced by rename without fsync: a power loss also ends the bridges, veths and
/// namespaces they describe (and a record without its bridge gets the bridge again on next use).
fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), Error> {
    let bytes = serde_json::to_vec_pretty(value).expect("records serialise");
    Ok(atomic::write_volatile(path, &bytes)?)
}

/// The host end's name of a container's veth on a network: derived, so it is found without a record.
pub fn host_interface(network_id: &str, container: &str) -> String {
    let digest = Sha256::digest(format!("{network_id}/{container}").as_bytes());
    format!("rcv{}", &hex::encode(digest)[..12])
}

impl Networks {
    /// The network store under `root`, choosing subnets from [`ipam::DEFAULT_POOLS`].
    pub fn open(root: &Path) -> Result<Self, Error> {
        crate::store::secure_root(root)?;
        let dir = root.join("networks");
        crate::store::private_dir(&dir)?;
        Ok(Self {
            dir,
            pools: ipam::parse_pools(ipam::DEFAULT_POOLS).expect("the default pools parse"),
            pools_text: ipam::DEFAULT_POOLS.to_owned(),
        })
    }

    /// The same store choosing subnets from `pools` (`base/len[:size],...`, e.g.
    /// `10.89.0.0/16:24,172.30.0.0/16:26`); `setting` names where they came from in errors.
    pub fn with_pools(self, pools: &str, setting: &str) -> Result<Self, Error> {
        let parsed = ipam::parse_pools(pools).map_err(|message| Error::InvalidPools {
            setting: setting.to_owned(),
            message,
        })?;
        Ok(Self {
            pools: parsed,
            pools_text: pools.to_owned(),
            ..self
        })
    }

    fn lock(&self) -> Result<Lock, Error> {
        Ok(Lock::exclusive(&self.dir.join(".lock"))?)
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("network.json")
    }

    fn endpoints_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("endpoints")
    }

    /// Creates a network: record, then bridge, address and link up.
    pub fn create(&self, spec: &NetworkSpec) -> Result<Network, Error> {
        if !valid_name(&spec.name) {
            return Err(Error::InvalidName(spec.name.clone()));
        }
        let _lock = self.lock()?;
        if self.record_path(&spec.name).exists() {
            return Err(Error::Exists(spec.name.clone()));
        }
        let invalid = |message: String| Error::Invalid {
            name: spec.name.clone(),
            message,
        };
        // Subnets are chosen under a host-wide lock as well: other state roots (tests, users) pick from
        // the same pools and see each other's bridges only once their routes exist.
        let _host_lock = Lock::exclusive(&host_lock_path())?;
        let others = self.list()?;
        let subnet = match &spec.subnet {
            Some(text) => {
                let subnet: Subnet = text.parse().map_err(invalid)?;
                if let Some(other) = others.iter().find(|n| n.subnet.overlaps(&subnet)) {
                    return Err(invalid(format!(
                        "subnet {subnet} overlaps network {} ({})",
                        other.name, other.subnet
                    )));
                }
                subnet
            }
            None => {
                let mut taken: Vec<Subnet> = others.iter().map(|n| n.subnet).collect();
                taken.extend(ipam::parse_routes(
                    &fs::read_to_string("/proc/net/route").unwrap_or_default(),
                ));
                ipam::choose_subnet(&self.pools, &taken).ok_or_else(|| Error::PoolExhausted {
                    pools: self.pools_text.clone(),
                })?
            }
        };
        let gateway = match &spec.gateway {
            _ if spec.internal => None,
            Some(text) => {
                let gateway: Ipv4Addr = text
                    .parse()
                    .map_err(|_| invalid(format!("gateway {text:?} is not an IPv4 address")))?;
                if !subnet.contains(gateway) {
                    return Err(invalid(format!("gateway {gateway} is not in {subnet}")));
                }
                Some(gateway)
            }
            None => Some(subnet.first_host()),
        };
        let ip_range = match &spec.ip_range {
            Some(text) => {
                let range: Subnet = text.parse().map_err(invalid)?;
                if !subnet.contains(range.address) || range.prefix < subnet.prefix {
                    return Err(invalid(format!("ip_range {range} is not inside {subnet}")));
                }
                Some(range)
            }
            None => None,
        };
        let mtu = match spec.options.get("com.docker.network.driver.mtu") {
            Some(text) => Some(
                text.parse::<u32>()
                    .ok()
                    .filter(|m| (68..=65535).contains(m))
                    .ok_or_else(|| invalid(format!("mtu {text:?} is not a number in 68-65535")))?,
            ),
            None => None,
        };
        if spec
            .options
            .get("com.docker.network.bridge.enable_icc")
            .is_some_and(|v| matches!(v.as_str(), "false" | "0"))
            && !firewall::available()
        {
            return Err(invalid(
                "com.docker.network.bridge.enable_icc false needs nftables (nft) on the host"
                    .into(),
            ));
        }
        let id = random_id()?;
        let bridge = match spec.options.get("com.docker.network.bridge.name") {
            Some(name) if name.len() <= 15 && !name.is_empty() => name.clone(),
            Some(name) => {
                return Err(invalid(format!(
                    "bridge name {name:?} must have 1 to 15 characters"
                )));
            }
            None => format!("rc-{}", &id[..12]),
        };
        let network = Network {
            id,
            name: spec.name.clone(),
            created: crate::time::format_rfc3339(crate::time::now_unix()),
            labels: spec.labels.clone(),
            internal: spec.internal,
            subnet,
            gateway,
            ip_range,
            bridge,
            mtu,
            options: spec.options.clone(),
            masquerade: spec.masquerade && !spec.internal && firewall::available(),
            firewall: firewall::available(),
            reserved: spec.reserved.clone(),
        };
        if let Some(outside) = network.reserved.iter().find(|a| !subnet.contains(**a)) {
            return Err(invalid(format!(
                "auxiliary address {outside} is not in the subnet {subnet}"
            )));
        }
        create_dir_all(&self.endpoints_dir(&spec.name))?;
        write_json(&self.record_path(&spec.name), &network)?;
        if let Err(error) = self.ensure_bridge(&network) {
            let _ = self.delete_bridge(&network);
            let _ = remove_tree(&self.dir.join(&spec.name));
            return Err(error);
        }
        Ok(network)
    }

    /// Makes the network's bridge if it is missing (first use, or after a reboot).
    fn ensure_bridge(&self, network: &Network) -> Result<i32, Error> {
        let name = &network.name;
        let mut netlink = Netlink::open().map_err(kernel("open netlink", name))?;
        if let Some(index) = netlink
            .link_index(&network.bridge)
            .map_err(kernel("look up the bridge", name))?
        {
            return Ok(index);
        }
        // The table before the bridge: its rules name the bridge, which need not exist yet, and a
        // command killed between the two then never leaves a bridge without its isolation.
        if network.firewall {
            firewall::install(
                &network.bridge,
                network.subnet,
                network.masquerade,
                network.icc(),
            )
            .map_err(kernel("install the firewall table", name))?;
        }
        let mac = ipam::mac_for(network.gateway.unwrap_or(network.subnet.address));
        netlink
            .create_bridge(&network.bridge, mac, network.mtu)
            .map_err(kernel(format!("create bridge {}", network.bridge), name))?;
        let index = netlink
            .link_index(&network.bridge)
            .map_err(kernel("look up the bridge", name))?
            .ok_or_else(|| Error::Kernel {
                action: format!("find bridge {}", network.bridge),
                network: name.clone(),
                source: std::io::Error::from_raw_os_error(libc::ENODEV),
            })?;
        disable_ipv6(&network.bridge);
        if let Some(gateway) = network.gateway {
            netlink
                .add_address(index, gateway, network.subnet.prefix)
                .map_err(kernel("address the bridge", name))?;
        }
        netlink
            .set_up(index)
            .map_err(kernel("bring the bridge up", name))?;
        // Packets from the bridge are routed only with masquerade; the table (if any) says the same.
        let _ = fs::write(
            format!("/proc/sys/net/ipv4/conf/{}/forwarding", network.bridge),
            if network.masquerade { "1" } else { "0" },
        );
        Ok(index)
    }

    /// The table and the bridge go at the same time: `nft` is a process to start (about 20 ms) and
    /// deleting a link waits for RCU grace periods (30-70 ms). The record goes only after both, so a
    /// crash or a failure in between leaves it, and the next removal tries both again (each is a
    /// no-op when already gone).
    fn delete_bridge(&self, network: &Network) -> Result<(), Error> {
        std::thread::scope(|scope| {
            let table = network
                .firewall
                .then(|| scope.spawn(|| firewall::remove(&network.bridge)));
            let bridge = Netlink::open()
                .map_err(kernel("open netlink", &network.name))
                .and_then(|mut netlink| {
                    netlink
                        .delete_link(&network.bridge)
                        .map_err(kernel("delete the bridge", &network.name))
                });
            if let Some(table) = table {
                table
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("the nft thread panicked")))
                    .map_err(kernel("remove the firewall table", &network.name))?;
            }
            bridge
        })
    }

    /// The network called `name`.
    pub fn get(&self, name: &str) -> Result<Network, Error> {
        let path = self.record_path(name);
        if !valid_name(name) || !path.exists() {
            return Err(Error::NotFound(name.to_owned()));
        }
        read_json(&path)
    }

    /// Every network, by name.
    pub fn list(&self) -> Result<Vec<Network>, Error> {
        let mut networks = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(ctx("read", &self.dir))? {
            let entry = entry.map_err(ctx("read", &self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().join("network.json").exists() {
                networks.push(self.get(&name)?);
            }
        }
        networks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(networks)
    }

    /// The endpoints on a network.
    pub fn endpoints(&self, name: &str) -> Result<Vec<Endpoint>, Error> {
        let dir = self.endpoints_dir(name);
        let mut endpoints = Vec::new();
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(endpoints);
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                endpoints.push(read_json::<Endpoint>(&path)?);
            }
        }
        endpoints.sort_by_key(|e| e.address);
        Ok(endpoints)
    }

    /// Removes a network without endpoints: its bridge, then its record.
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        let _lock = self.lock()?;
        let network = self.get(name)?;
        let endpoints = self.endpoints(name)?;
        if !endpoints.is_empty() {
            return Err(Error::InUse {
                name: name.to_owned(),
                containers: endpoints
                    .iter()
                    .map(|e| e.container.get(..12).unwrap_or(&e.container))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        // Veths of containers released before (see `release`) may still be going.
        let released: Vec<String> = fs::read_dir(self.dir.join(name).join("released"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        self.delete_bridge(&network)?;
        wait_for_links_gone(&released, name)?;
        // The record first: a removal killed in the middle of the tree leaves a directory without a
        // record, which `recover` deletes.
        let record = self.record_path(name);
        fs::remove_file(&record).map_err(ctx("remove", &record))?;
        remove_tree(&self.dir.join(name))?;
        Ok(())
    }

    /// Attaches the container whose namespace is `netns` (a file, and a netlink socket opened in it)
    /// to a network as `interface`, with a default route through the gateway if `default_route`.
    pub fn connect(
        &self,
        container: &str,
        netns: (&fs::File, &mut Netlink),
        attachment: &Attachment,
        interface: &str,
        names: Vec<String>,
        default_route: bool,
    ) -> Result<Endpoint, Error> {
        let name = &attachment.network;
        let _lock = self.lock()?;
        let network = self.get(name)?;
        let bridge = self.ensure_bridge(&network)?;
        let invalid = |message: String| Error::Invalid {
            name: name.clone(),
            message,
        };
        // Reserved addresses (`aux_addresses`) count as used: never allocated, refused if asked.
        let used: BTreeSet<Ipv4Addr> = self
            .endpoints(name)?
            .iter()
            .filter(|e| e.container != container)
            .map(|e| e.address)
            .chain(network.reserved.iter().copied())
            .collect();
        let address = ipam::allocate(
            network.subnet,
            network.ip_range,
            network.gateway,
            &used,
            attachment.ipv4,
        )
        .map_err(invalid)?;
        let mac = match &attachment.mac {
            Some(text) => ipam::parse_mac(text).map_err(invalid)?,
            None => ipam::mac_for(address),
        };
        let endpoint = Endpoint {
            container: container.to_owned(),
            network: name.clone(),
            address,
            prefix: network.subnet.prefix,
            gateway: network.gateway,
            mac: ipam::format_mac(mac),
            interface: interface.to_owned(),
            host_interface: host_interface(&network.id, container),
            names,
        };
        let record = self.endpoints_dir(name).join(format!("{container}.json"));
        write_json(&record, &endpoint)?;
        let wired = (|| -> std::io::Result<()> {
            let mut host = Netlink::open()?;
            host.delete_link(&endpoint.host_interface)?;
            host.create_veth(
                &endpoint.host_interface,
                bridge,
                interface,
                mac,
                std::os::fd::AsRawFd::as_raw_fd(netns.0),
                network.mtu,
            )?;
            let host_index = host
                .link_index(&endpoint.host_interface)?
                .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENODEV))?;
            disable_ipv6(&endpoint.host_interface);
            host.set_up(host_index)?;
            let inside = netns.1;
            let index = inside
                .link_index(interface)?
                .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENODEV))?;
            inside.add_address(index, address, network.subnet.prefix)?;
            inside.set_up(index)?;
            if let (true, Some(gateway)) = (default_route, network.gateway) {
                inside.add_default_route(gateway, index)?;
            }
            Ok(())
        })();
        if let Err(source) = wired {
            let _ = Netlink::open().and_then(|mut n| n.delete_link(&endpoint.host_interface));
            let _ = fs::remove_file(&record);
            return Err(Error::Kernel {
                action: format!(
                    "connect container {}",
                    &container[..container.len().min(12)]
                ),
                network: name.clone(),
                source,
            });
        }
        Ok(endpoint)
    }

    /// Detaches a container from a network: its veth (both ends) and its endpoint record. Nothing to
    /// detach is not an error.
    pub fn disconnect(&self, name: &str, container: &str) -> Result<(), Error> {
        let Ok(network) = self.get(name) else {
            return Ok(());
        };
        // Outside the lock: deleting a link waits for RCU grace periods (30 ms and more on a busy
        // host), and the veth's name is the container's own, so removals of several containers
        // overlap instead of queueing. The record goes after the link, so the address is not
        // handed out again while the old veth still holds it.
        let mut netlink = Netlink::open().map_err(kernel("open netlink", name))?;
        netlink
            .delete_link(&host_interface(&network.id, container))
            .map_err(kernel("delete the container's veth", name))?;
        let _lock = self.lock()?;
        self.remove_endpoint_record(name, container)
    }

    /// Forgets a container's endpoint whose veth is already going: the caller has released the
    /// container's network namespace, with no process left in it, so the kernel deletes the veth
    /// pair with the namespace, in the background, without the wait `disconnect` has. The veth can
    /// outlive the record by some milliseconds, in a namespace where nothing runs that could use
    /// the address; [`Networks::remove`] waits for such veths before it returns.
    pub fn release(&self, name: &str, container: &str) -> Result<(), Error> {
        let Ok(network) = self.get(name) else {
            return Ok(());
        };
        let _lock = self.lock()?;
        // The veth's name is kept until the network goes (so `remove` knows what to wait for);
        // names whose link is gone are pruned here.
        let released = self.dir.join(name).join("released");
        create_dir_all(&released)?;
        if let Ok(mut netlink) = Netlink::open() {
            for entry in fs::read_dir(&released).into_iter().flatten().flatten() {
                let link = entry.file_name().to_string_lossy().into_owned();
                if matches!(netlink.link_index(&link), Ok(None)) {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        let veth = released.join(host_interface(&network.id, container));
        fs::write(&veth, b"").map_err(ctx("write", &veth))?;
        self.remove_endpoint_record(name, container)
    }

    /// Removes a container's endpoint record (not there is not an error); the caller holds the lock.
    fn remove_endpoint_record(&self, name: &str, container: &str) -> Result<(), Error> {
        let record = self.endpoints_dir(name).join(format!("{container}.json"));
        match fs::remove_file(&record) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(IoError::new("remove", &record, error).into())
            }
            _ => Ok(()),
        }
    }

    /// Repairs what crashed commands left: endpoints of containers that no longer exist (`alive` says
    /// which do) and network directories without a record.
    pub fn recover(&self, alive: impl Fn(&str) -> bool) -> Vec<Error> {
        let mut errors = Vec::new();
        let networks = match self.list() {
            Ok(networks) => networks,
            Err(error) => return vec![error],
        };
        for network in &networks {
            for endpoint in self.endpoints(&network.name).unwrap_or_default() {
                if !alive(&endpoint.container)
                    && let Err(error) = self.disconnect(&network.name, &endpoint.container)
                {
                    errors.push(error);
                }
            }
        }
        // Directories without a record: a removal killed after the bridge and the record went
        // (creation writes the record first, under the same lock).
        if let Ok(_lock) = self.lock()
            && let Ok(entries) = fs::read_dir(&self.dir)
        {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir()
                    && !path.join("network.json").exists()
                    && let Err(error) = remove_tree(&path)
                {
                    errors.push(error.into());
                }
            }
        }
        // No sweep of bridges or firewall tables by name: kernel names are host-wide while records
        // are per state root, so an `rc-` bridge without a record here may be another root's. None
        // of ours is ever left without a record: the record is written before the table and the
        // bridge (in that order) and removed after both.
        errors
    }
}

/// Waits until the kernel has deleted these links (veths whose namespace is being freed), and
/// deletes what is still there after a while (a namespace that something still holds).
/// (Netlink, not /sys/class/net: sysfs shows the network namespace that mounted it, which need
/// not be the caller's.)
fn wait_for_links_gone(links: &[String], network: &str) -> Result<(), Error> {
    if links.is_empty() {
        return Ok(());
    }
    let mut netlink = Netlink::open().map_err(kernel("open netlink", network))?;
    let left = |netlink: &mut Netlink| -> Vec<String> {
        links
            .iter()
            .filter(|link| !matches!(netlink.link_index(link), Ok(None)))
            .cloned()
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !left(&mut netlink).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    for link in left(&mut netlink) {
        netlink
            .delete_link(&link)
            .map_err(kernel(format!("delete the veth {link}"), network))?;
    }
    Ok(())
}

/// Networks are IPv4 only: without this the host would get an IPv6 link-local address on every
/// bridge, which containers of an internal network could reach.
fn disable_ipv6(interface: &str) {
    let _ = fs::write(
        format!("/proc/sys/net/ipv6/conf/{interface}/disable_ipv6"),
        "1",
    );
}

fn host_lock_path() -> PathBuf {
    let run = Path::new("/run/lock");
    if run.is_dir() {
        run.join("rcompose-subnets.lock")
    } else {
        std::env::temp_dir().join("rcompose-subnets.lock")
    }
}

fn random_id() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    let path = Path::new("/dev/urandom");
    let mut file = fs::File::open(path).map_err(ctx("open", path))?;
    std::io::Read::read_exact(&mut file, &mut bytes).map_err(ctx("read", path))?;
    Ok(hex::encode(bytes))
}
