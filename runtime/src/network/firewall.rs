//! The firewall side of a bridge network, one nftables table per network (`ip rcompose-<bridge>`):
//! isolation from the other networks, and outbound access (docker's default: containers reach the
//! host's network through masquerade) or none. Isolation cannot rest on `ip_forward` being off: it is
//! a host-wide switch that docker, podman or the admin may turn on at any time.
//!
//! This is the one place the runtime runs another program: `nft`, reading a ruleset on stdin. Netlink
//! for nftables is a large, versioned message family, while `nft -f -` is atomic (the table appears
//! whole or not at all) and its errors name the rule. A table per network keeps networks independent:
//! removing one is `delete table`, and a table whose bridge is gone (a crash, a reboot) is found by
//! its name alone. The table holds:
//! - `postrouting` (nat, with masquerade only): traffic from the subnet that leaves through another
//!   interface is masqueraded;
//! - `forward` (filter): with masquerade, traffic between this bridge and any other `rc-` bridge is
//!   dropped and the rest accepted; without, nothing is forwarded into or out of the bridge.
//!
//! Without `nft` on the host, the bridge's own `forwarding` switch is turned off instead (see
//! `Networks`), which holds until someone writes the host-wide `ip_forward` again.
//!
//! Enabling a table also turns on `net.ipv4.ip_forward`, as docker does; it is never turned off again
//! (other software may rely on it). A host firewall that drops forwarded traffic in its own tables
//! still wins: nftables drops in any base chain are final.

use std::io::{self, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use super::ipam::Subnet;

/// The table's name for a bridge.
pub fn table(bridge: &str) -> String {
    format!("rcompose-{bridge}")
}

/// The ruleset of `bridge`'s network: isolation from other `rc-` bridges always; with `masquerade`,
/// a way out through the host (masquerade); without, no forwarding at all in or out of the bridge.
/// With `icc` off (docker's `com.docker.network.bridge.enable_icc: "false"`), the containers of the
/// network cannot reach each other either: traffic from the bridge to itself is dropped, the rule
/// dockerd adds (it sees bridged traffic through `br_netfilter`, turned on for it as dockerd does).
pub fn ruleset(bridge: &str, subnet: Subnet, masquerade: bool, icc: bool) -> String {
    let table = table(bridge);
    let (out, into) = if masquerade {
        (
            format!("oifname \"rc-*\" oifname != \"{bridge}\""),
            format!("iifname \"rc-*\" iifname != \"{bridge}\""),
        )
    } else {
        (
            format!("oifname != \"{bridge}\""),
            format!("iifname != \"{bridge}\""),
        )
    };
    let nat = if masquerade {
        format!(
            "\tchain postrouting {{\n\
             \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
             \t\tip saddr {subnet} oifname != \"{bridge}\" masquerade\n\
             \t}}\n"
        )
    } else {
        String::new()
    };
    let icc = if icc {
        String::new()
    } else {
        format!("\t\tiifname \"{bridge}\" oifname \"{bridge}\" drop\n")
    };
    format!(
        "table ip {table} {{\n\
         {nat}\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy accept;\n\
         {icc}\
         \t\tiifname \"{bridge}\" {out} drop\n\
         \t\toifname \"{bridge}\" {into} drop\n\
         \t}}\n\
         }}\n"
    )
}

/// Whether `nft` can be run.
pub fn available() -> bool {
    ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"]
        .iter()
        .any(|p| Path::new(p).exists())
}

fn nft(input: &str) -> io::Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input.as_bytes())?;
    let output = child.wait_with_output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "nft: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Installs (or replaces) the network's table; with `masquerade`, turns forwarding on (host-wide, as
/// docker does).
pub fn install(bridge: &str, subnet: Subnet, masquerade: bool, icc: bool) -> io::Result<()> {
    let table = table(bridge);
    if !icc {
        let switch = Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables");
        if std::fs::read_to_string(switch).is_ok_and(|v| v.trim() != "1") {
            std::fs::write(switch, "1")?;
        }
    }
    // `add` then `delete` makes the replacement one transaction whether or not the table existed.
    nft(&format!(
        "add table ip {table}\ndelete table ip {table}\n{}",
        ruleset(bridge, subnet, masquerade, icc)
    ))?;
    if masquerade {
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")?;
    }
    Ok(())
}

/// Removes the network's table; a missing table is not an error.
pub fn remove(bridge: &str) -> io::Result<()> {
    if !available() {
        return Ok(());
    }
    let table = table(bridge);
    nft(&format!("add table ip {table}\ndelete table ip {table}\n"))
}

/// The bridges that have a table (from `nft list tables`).
pub fn tables() -> Vec<String> {
    if !available() {
        return Vec::new();
    }
    let Ok(output) = Command::new("nft").args(["list", "tables", "ip"]).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("table ip rcompose-"))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ruleset_masquerades_the_subnet_and_isolates_the_bridge() {
        let text = ruleset(
            "rc-0123456789ab",
            "10.89.3.0/24".parse().unwrap(),
            true,
            true,
        );
        assert!(!text.contains("oifname \"rc-0123456789ab\" drop"));
        assert!(text.starts_with("table ip rcompose-rc-0123456789ab {"));
        assert!(text.contains("ip saddr 10.89.3.0/24 oifname != \"rc-0123456789ab\" masquerade"));
        assert!(text.contains(
            "iifname \"rc-0123456789ab\" oifname \"rc-*\" oifname != \"rc-0123456789ab\" drop"
        ));
        assert!(text.contains(
            "oifname \"rc-0123456789ab\" iifname \"rc-*\" iifname != \"rc-0123456789ab\" drop"
        ));
        // Without masquerade nothing is forwarded in or out of the bridge.
        let closed = ruleset(
            "rc-0123456789ab",
            "10.89.3.0/24".parse().unwrap(),
            false,
            true,
        );
        let no_icc = ruleset(
            "rc-0123456789ab",
            "10.89.3.0/24".parse().unwrap(),
            true,
            false,
        );
        assert!(no_icc.contains("iifname \"rc-0123456789ab\" oifname \"rc-0123456789ab\" drop"));
        assert!(!closed.contains("masquerade"));
        assert!(closed.contains("iifname \"rc-0123456789ab\" oifname != \"rc-0123456789ab\" drop"));
        assert!(closed.contains("oifname \"rc-0123456789ab\" iifname != \"rc-0123456789ab\" drop"));
    }
}
