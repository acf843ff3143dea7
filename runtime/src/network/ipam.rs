//! Address management: IPv4 subnets, the pool networks get their subnet from, and the choice of a free
//! subnet and a free address. Pure functions over what the caller read (host routes, other networks,
//! endpoint records), so every rule is unit-tested.
//!
//! The default pool is `10.89.0.0/16` cut into `/24`s (podman's neighbourhood, away from docker's
//! `172.17.0.0/16`+ so both engines can share a host). A subnet is never chosen if it overlaps a route
//! of the host (every configured address brings its connected route) or another network.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 subnet, normalised (host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    pub address: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn new(address: Ipv4Addr, prefix: u8) -> Self {
        let mask = mask(prefix);
        Self {
            address: Ipv4Addr::from(u32::from(address) & mask),
            prefix,
        }
    }

    pub fn contains(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & mask(self.prefix) == u32::from(self.address)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.address) || other.contains(self.address)
    }

    fn first(&self) -> u32 {
        u32::from(self.address)
    }

    fn last(&self) -> u32 {
        self.first() | !mask(self.prefix)
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.last())
    }

    /// The first usable address: docker's default gateway.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(if self.prefix >= 31 {
            self.first()
        } else {
            self.first() + 1
        })
    }
}

fn mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (address, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not a subnet (expected a.b.c.d/len)"))?;
        let address: Ipv4Addr = address
            .parse()
            .map_err(|_| format!("{address:?} in {text:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("{prefix:?} in {text:?} is not a prefix length (0-32)"))?;
        Ok(Self::new(address, prefix))
    }
}

impl serde::Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A range networks take their subnets from: `base` cut into subnets of `size` prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    pub base: Subnet,
    pub size: u8,
}

/// The pool when none is configured.
pub const DEFAULT_POOLS: &str = "10.89.0.0/16:24";

/// Parses `base/len[:size],...` (`10.89.0.0/16:24,172.30.0.0/16:26`); the size defaults to 24, or
/// the base's own length when that is longer.
pub fn parse_pools(text: &str) -> Result<Vec<Pool>, String> {
    let mut pools = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (base, size) = match item.split_once(':') {
            Some((base, size)) => (base, Some(size)),
            None => (item, None),
        };
        let base: Subnet = base.parse()?;
        let size = match size {
            Some(size) => size
                .parse::<u8>()
                .ok()
                .filter(|s| *s >= base.prefix && *s <= 30)
                .ok_or_else(|| {
                    format!(
                        "subnet size {size:?} in {item:?} must be between the base's length \
                         ({}) and 30",
                        base.prefix
                    )
                })?,
            None => base.prefix.max(24),
        };
        pools.push(Pool { base, size });
    }
    if pools.is_empty() {
        return Err("the address pool list is empty".into());
    }
    Ok(pools)
}

/// The first subnet of the pools that overlaps none of `taken`.
pub fn choose_subnet(pools: &[Pool], taken: &[Subnet]) -> Option<Subnet> {
    for pool in pools {
        let step = 1u64 << (32 - u32::from(pool.size));
        let count = 1u64 << (u32::from(pool.size) - u32::from(pool.base.prefix));
        for n in 0..count {
            let address = u64::from(u32::from(pool.base.address)) + n * step;
            let candidate = Subnet::new(Ipv4Addr::from(address as u32), pool.size);
            if !taken.iter().any(|t| t.overlaps(&candidate)) {
                return Some(candidate);
            }
        }
    }
    None
}

/// The host's IPv4 routes other than the default route, from `/proc/net/route`'s text.
pub fn parse_routes(text: &str) -> Vec<Subnet> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let destination = u32::from_str_radix(fields.get(1)?, 16).ok()?;
            let netmask = u32::from_str_radix(fields.get(7)?, 16).ok()?;
            // Little-endian hex, as the kernel prints it.
            let destination = Ipv4Addr::from(destination.to_le_bytes());
            let netmask = u32::from_be_bytes(netmask.to_le_bytes());
            (netmask != 0).then(|| Subnet::new(destination, netmask.count_ones() as u8))
        })
        .collect()
}

/// Picks an address for an endpoint: the requested one if it is in the subnet and free, else the
/// lowest free address of `range` (or the subnet), skipping the network address, the broadcast
/// address and the gateway.
pub fn allocate(
    subnet: Subnet,
    range: Option<Subnet>,
    gateway: Option<Ipv4Addr>,
    used: &BTreeSet<Ipv4Addr>,
    requested: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, String> {
    let reserved = |address: Ipv4Addr| {
        (subnet.prefix < 31 && (address == subnet.address || address == subnet.broadcast()))
            || Some(address) == gateway
    };
    if let Some(address) = requested {
        if !subnet.contains(address) {
            return Err(format!(
                "address {address} is not in the network's subnet {subnet}"
            ));
        }
        if reserved(address) {
            return Err(format!("address {address} is reserved in {subnet}"));
        }
        if used.contains(&address) {
            return Err(format!("address {address} is already in use"));
        }
        return Ok(address);
    }
    let scope = range.unwrap_or(subnet);
    (scope.first()..=scope.last())
        .map(Ipv4Addr::from)
        .find(|a| subnet.contains(*a) && !reserved(*a) && !used.contains(a))
        .ok_or_else(|| format!("no free address left in {scope}"))
}

/// Docker's MAC address for an IP address: `02:42` followed by the address's four bytes.
pub fn mac_for(address: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = address.octets();
    [0x02, 0x42, a, b, c, d]
}

pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let bytes: Vec<u8> = text
        .split([':', '-'])
        .map(|part| u8::from_str_radix(part, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{text:?} is not a MAC address"))?;
    let mac: [u8; 6] = bytes
        .try_into()
        .map_err(|_| format!("{text:?} is not a MAC address (six bytes)"))?;
    if mac[0] & 1 == 1 {
        return Err(format!("{text:?} is a multicast address"));
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(text: &str) -> Subnet {
        text.parse().unwrap()
    }

    #[test]
    fn subnets_parse_normalise_and_overlap() {
        assert_eq!(subnet("10.1.2.3/24").to_string(), "10.1.2.0/24");
        assert!(subnet("10.0.0.0/8").overlaps(&subnet("10.5.0.0/16")));
        assert!(!subnet("10.89.0.0/24").overlaps(&subnet("10.89.1.0/24")));
        assert!("10.0.0.0/33".parse::<Subnet>().is_err());
        assert!("10.0.0/8".parse::<Subnet>().is_err());
        assert_eq!(
            subnet("10.0.0.0/24").broadcast(),
            Ipv4Addr::new(10, 0, 0, 255)
        );
    }

    #[test]
    fn pools_skip_taken_subnets() {
        let pools = parse_pools(DEFAULT_POOLS).unwrap();
        assert_eq!(
            choose_subnet(&pools, &[]).unwrap().to_string(),
            "10.89.0.0/24"
        );
        let taken = [subnet("10.89.0.0/23"), subnet("10.89.3.0/24")];
        assert_eq!(
            choose_subnet(&pools, &taken).unwrap().to_string(),
            "10.89.2.0/24"
        );
        // A host route that covers the whole pool exhausts it; the next pool is used.
        let pools = parse_pools("10.89.0.0/16:24, 192.168.200.0/24:28").unwrap();
        assert_eq!(
            choose_subnet(&pools, &[subnet("10.0.0.0/8")])
                .unwrap()
                .to_string(),
            "192.168.200.0/28"
        );
        assert!(choose_subnet(&pools[..1], &[subnet("10.0.0.0/8")]).is_none());
        assert!(parse_pools("10.0.0.0/16:8").is_err());
        assert!(parse_pools("").is_err());
    }

    #[test]
    fn host_routes_are_read_without_the_default() {
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(parse_routes(text), vec![subnet("192.0.2.0/24")]);
    }

    #[test]
    fn addresses_skip_reserved_and_used() {
        let net = subnet("10.89.0.0/24");
        let gateway = Some(net.first_host());
        let mut used = BTreeSet::new();
        assert_eq!(
            allocate(net, None, gateway, &used, None).unwrap(),
            Ipv4Addr::new(10, 89, 0, 2)
        );
        used.insert(Ipv4Addr::new(10, 89, 0, 2));
        assert_eq!(
            allocate(net, None, gateway, &used, None).unwrap(),
            Ipv4Addr::new(10, 89, 0, 3)
        );
        let range = Some(subnet("10.89.0.128/25"));
        assert_eq!(
            allocate(net, range, gateway, &used, None).unwrap(),
            Ipv4Addr::new(10, 89, 0, 128)
        );
        let static_address = Some(Ipv4Addr::new(10, 89, 0, 50));
        assert_eq!(
            allocate(net, None, gateway, &used, static_address).unwrap(),
            Ipv4Addr::new(10, 89, 0, 50)
        );
        for bad in ["10.89.0.2", "10.89.0.1", "10.89.0.255", "10.90.0.5"] {
            assert!(allocate(net, None, gateway, &used, Some(bad.parse().unwrap())).is_err());
        }
        let tiny = subnet("10.1.1.0/30");
        let used: BTreeSet<_> = [Ipv4Addr::new(10, 1, 1, 2)].into();
        assert!(allocate(tiny, None, Some(tiny.first_host()), &used, None).is_err());
    }

    #[test]
    fn macs() {
        let mac = mac_for(Ipv4Addr::new(10, 89, 0, 2));
        assert_eq!(format_mac(mac), "02:42:0a:59:00:02");
        assert_eq!(parse_mac("02:42:0a:59:00:02").unwrap(), mac);
        assert!(parse_mac("01:00:00:00:00:00").is_err());
        assert!(parse_mac("02:42").is_err());
    }
}
