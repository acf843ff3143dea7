//! Before `up` changes anything: every host port that the plan's starts will publish must be free.
//!
//! Each container's monitor binds its ports when it starts, and a taken port fails that start; but by
//! then `up` has created networks, volumes and earlier containers. So the plan is checked first, by
//! binding every fixed host port it needs, all at once (so two services asking for one port
//! conflict too), then closing them. A port that is taken is reported with its holder, found as
//! `ss -p` does: the listening socket's inode in `/proc/net/{tcp,tcp6,udp,udp6}`, then the process
//! with `socket:[inode]` among its descriptors; when that is a container's monitor or port proxy,
//! the container is named. Ports held by containers the plan stops or recreates first are not
//! conflicts. A race with another program remains possible; the monitor's own bind then fails the
//! start with the kernel's error.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::bail;
use runtime::container::Info;
use runtime::network::proxy::{self, PortForward, Protocol};

use super::scope::Scope;
use crate::labels;
use crate::reconcile::container::port_forwards;
use crate::reconcile::plan::{ActionKind, Plan, Target};

/// Fails, naming the port, the service and who holds the port, if a port the plan publishes is
/// taken.
pub fn check(scope: &Scope, plan: &Plan) -> anyhow::Result<()> {
    let mut starting: Vec<(String, String)> = Vec::new();
    let mut releasing: BTreeSet<String> = BTreeSet::new();
    for action in &plan.actions {
        let Target::Container {
            service, name, id, ..
        } = &action.target
        else {
            continue;
        };
        match action.kind {
            ActionKind::StartContainer | ActionKind::RestartContainer => {
                starting.push((service.clone(), name.clone()));
            }
            _ => {}
        }
        if matches!(
            action.kind,
            ActionKind::StopContainer | ActionKind::RemoveContainer | ActionKind::RestartContainer
        ) && let Some(id) = id
        {
            releasing.insert(id.clone());
        }
    }
    if starting.is_empty() {
        return Ok(());
    }
    let containers = scope.engine.containers.list().unwrap_or_default();
    // Held until the end of the check, so the plan's own duplicates conflict.
    let mut held: Vec<(proxy::Listener, String)> = Vec::new();
    for (service, name) in &starting {
        let Some(definition) = scope.loaded.project.services.get(service) else {
            continue;
        };
        let forwards =
            port_forwards(definition).map_err(|m| anyhow::anyhow!("service {service}: {m}"))?;
        for forward in forwards.into_iter().filter(|f| f.host_port != 0) {
            match proxy::bind(std::slice::from_ref(&forward)) {
                Ok(mut listeners) => held.extend(listeners.drain(..).map(|l| (l, name.clone()))),
                Err(error) => {
                    let holders = holders(&forward);
                    if let Some(twin) = held.iter().find(|(listener, _)| {
                        conflicts(&listener.published.host_ip, &forward.host_ip)
                            && listener.published.host_port == forward.host_port
                            && listener.published.protocol == forward.protocol
                    }) {
                        bail!(
                            "cannot publish port {} for service {service}: container {name} and \
                             container {} would both publish it",
                            describe(&forward),
                            twin.1
                        );
                    }
                    let owners: Vec<Owner> = holders
                        .iter()
                        .map(|&(pid, ref comm)| owner(pid, comm, &containers))
                        .collect();
                    if !owners.is_empty()
                        && owners.iter().all(
                            |o| matches!(o, Owner::Container { id, .. } if releasing.contains(id)),
                        )
                    {
                        // Freed by the plan before this start.
                        continue;
                    }
                    bail!(
                        "cannot publish port {} for service {service}: {}",
                        describe(&forward),
                        explain(&error, &owners)
                    );
                }
            }
        }
    }
    Ok(())
}

fn describe(forward: &PortForward) -> String {
    let address = match forward.host_ip {
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    if forward.host_port_end > forward.host_port {
        format!(
            "{address}:{}-{}/{}",
            forward.host_port, forward.host_port_end, forward.protocol
        )
    } else {
        format!("{address}:{}/{}", forward.host_port, forward.protocol)
    }
}

/// Who holds a port.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// A container of this state root, through its monitor or port proxy.
    Container {
        id: String,
        name: String,
        project: Option<String>,
    },
    Process {
        pid: i32,
        comm: String,
    },
}

fn explain(error: &proxy::Error, owners: &[Owner]) -> String {
    let in_use = match error {
        proxy::Error::Bind { source, .. } => source.kind() == std::io::ErrorKind::AddrInUse,
        proxy::Error::RangeTaken { .. } => true,
    };
    if !in_use {
        let reason = match error {
            proxy::Error::Bind { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        return reason;
    }
    if matches!(error, proxy::Error::RangeTaken { .. }) {
        return "every port of the range is already in use".into();
    }
    let mut names: Vec<String> = owners
        .iter()
        .map(|owner| match owner {
            Owner::Container { name, project, .. } => match project {
                Some(project) => format!("container {name} (project {project})"),
                None => format!("container {name}"),
            },
            Owner::Process { pid, comm } => format!("process {pid} ({comm})"),
        })
        .collect();
    names.dedup();
    if names.is_empty() {
        "the port is already in use (by no process in sight: another network namespace, or the \
         kernel)"
            .into()
    } else {
        format!("the port is already in use by {}", names.join(", "))
    }
}

/// Whether binding `a` and `b` (same port) collide: the same address, or either is a wildcard.
fn conflicts(a: &IpAddr, b: &IpAddr) -> bool {
    a == b || a.is_unspecified() || b.is_unspecified() || canonical(a) == canonical(b)
}

fn canonical(ip: &IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(*ip, IpAddr::V4),
        IpAddr::V4(_) => *ip,
    }
}

/// The processes (pid, name) with a socket bound to the forward's port and a colliding address.
fn holders(forward: &PortForward) -> Vec<(i32, String)> {
    let (files, listening) = match forward.protocol {
        Protocol::Tcp => (["/proc/net/tcp", "/proc/net/tcp6"], Some(0x0A)),
        Protocol::Udp => (["/proc/net/udp", "/proc/net/udp6"], None),
    };
    let mut inodes = BTreeSet::new();
    for file in files {
        let text = fs::read_to_string(file).unwrap_or_default();
        for (address, port, state, inode) in parse_sockets(&text) {
            if port == forward.host_port
                && listening.is_none_or(|s| s == state)
                && conflicts(&address, &forward.host_ip)
                && inode != 0
            {
                inodes.insert(inode);
            }
        }
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let wanted: BTreeMap<String, u64> = inodes
        .iter()
        .map(|i| (format!("socket:[{i}]"), *i))
        .collect();
    let mut found = Vec::new();
    let Ok(processes) = fs::read_dir("/proc") else {
        return found;
    };
    for process in processes.flatten() {
        let Some(pid) = process
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(fds) = fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            fs::read_link(fd.path())
                .ok()
                .and_then(|target| target.to_str().map(|t| wanted.contains_key(t)))
                .unwrap_or(false)
        });
        if holds {
            let comm = fs::read_to_string(process.path().join("comm")).unwrap_or_default();
            found.push((pid, comm.trim().to_string()));
        }
    }
    found
}

/// `(address, port, state, inode)` of every socket in a `/proc/net/{tcp,udp}{,6}` table.
fn parse_sockets(text: &str) -> Vec<(IpAddr, u16, u8, u64)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (address, port) = fields.get(1)?.split_once(':')?;
            let state = u8::from_str_radix(fields.get(3)?, 16).ok()?;
            let inode = fields.get(9)?.parse().ok()?;
            Some((
                parse_address(address)?,
                u16::from_str_radix(port, 16).ok()?,
                state,
                inode,
            ))
        })
        .collect()
}

/// The kernel prints addresses as 32-bit words in host byte order.
fn parse_address(hex: &str) -> Option<IpAddr> {
    let words: Vec<u32> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).ok())
        .collect::<Option<_>>()?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        16 => {
            let array: [u8; 16] = bytes.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(array)))
        }
        _ => None,
    }
}

/// The container behind a holding process (its monitor, or the monitor's proxy child), else the
/// process itself.
fn owner(pid: i32, comm: &str, containers: &[Info]) -> Owner {
    let parent = fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // After the `(comm)` field, which may hold spaces: state, then the parent's pid.
            let rest = &stat[stat.rfind(')')? + 1..];
            rest.split_whitespace().nth(1)?.parse::<i32>().ok()
        })
        .unwrap_or(0);
    let container = containers.iter().find(|info| {
        let monitor = info.state.monitor_pid;
        monitor > 0 && info.state.status.is_active() && (monitor == pid || monitor == parent)
    });
    match container {
        Some(info) => Owner::Container {
            id: info.record.id.clone(),
            name: if info.record.spec.name.is_empty() {
                info.record.id[..12].to_string()
            } else {
                info.record.spec.name.clone()
            },
            project: info.record.spec.labels.get(labels::PROJECT).cloned(),
        },
        None => Owner::Process {
            pid,
            comm: comm.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::model::Service;
    use std::net::{TcpListener, UdpSocket};

    fn service(yaml: &str) -> Service {
        let options = crate::project::LoadOptions {
            files: vec![std::path::PathBuf::from("-")],
            project_name: Some("demo".to_string()),
            working_dir: std::path::PathBuf::from("/srv/demo"),
            stdin: Some(format!("services:\n  web:\n    image: busybox\n{yaml}")),
            interpolate: true,
            ..crate::project::LoadOptions::default()
        };
        match crate::project::load(options) {
            Ok(loaded) => loaded.project.services["web"].clone(),
            Err(diagnostics) => panic!("{diagnostics}"),
        }
    }

    fn forwards(yaml: &str) -> Vec<String> {
        port_forwards(&service(yaml))
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{} {}-{} {} {}",
                    f.host_ip, f.host_port, f.host_port_end, f.protocol, f.container_port
                )
            })
            .collect()
    }

    #[test]
    fn maps_ports_by_dockers_rules() {
        assert_eq!(
            forwards(
                "    ports:\n      - \"8080:80\"\n      - \"127.0.0.1::53/udp\"\n      - \"[::1]:9000:90\"\n      - 3000\n"
            ),
            [
                "0.0.0.0 8080-0 tcp 80",
                "127.0.0.1 0-0 udp 53",
                "::1 9000-0 tcp 90",
                "0.0.0.0 0-0 tcp 3000",
            ]
        );
        // Ranges: pairwise when both sides are ranges, first free port when the target is one.
        assert_eq!(
            forwards("    ports:\n      - \"9090-9091:8080-8081\"\n      - \"8000-8010:80\"\n"),
            [
                "0.0.0.0 9090-0 tcp 8080",
                "0.0.0.0 9091-0 tcp 8081",
                "0.0.0.0 8000-8010 tcp 80",
            ]
        );
        assert_eq!(
            forwards(
                "    ports:\n      - target: 80\n        published: \"7000\"\n        host_ip: 127.0.0.2\n        protocol: udp\n"
            ),
            ["127.0.0.2 7000-0 udp 80"]
        );
        // The host's network publishes nothing; expose publishes nothing.
        assert!(forwards("    network_mode: host\n    ports: [\"80:80\"]\n").is_empty());
        assert!(forwards("    expose: [\"80\"]\n").is_empty());
        let sctp = port_forwards(&service("    ports: [\"80:80/sctp\"]\n")).unwrap_err();
        assert!(sctp.contains("sctp"), "{sctp}");
    }

    #[test]
    fn ports_are_in_the_config_hash() {
        let a = service("    ports: [\"8080:80\"]\n");
        let b = service("    ports: [\"8081:80\"]\n");
        assert_ne!(crate::hash::service_hash(&a), crate::hash::service_hash(&b));
    }

    #[test]
    fn parses_kernel_socket_tables() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(
            parse_sockets(tcp),
            [(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080, 0x0A, 12345)]
        );
        let tcp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(
            parse_sockets(tcp6),
            [(IpAddr::V6(Ipv6Addr::LOCALHOST), 80, 0x0A, 777)]
        );
    }

    #[test]
    fn finds_the_process_holding_a_port() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let forward = PortForward {
            host_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            host_port: port,
            host_port_end: 0,
            protocol: Protocol::Tcp,
            container_port: 80,
        };
        let me = std::process::id() as i32;
        assert!(holders(&forward).iter().any(|(pid, _)| *pid == me));
        // Another address on the same port does not collide; UDP is another table.
        let elsewhere = PortForward {
            host_ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            ..forward.clone()
        };
        assert!(!holders(&elsewhere).iter().any(|(pid, _)| *pid == me));
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp_forward = PortForward {
            host_port: udp.local_addr().unwrap().port(),
            protocol: Protocol::Udp,
            ..forward.clone()
        };
        assert!(holders(&udp_forward).iter().any(|(pid, _)| *pid == me));
        let error = proxy::bind(std::slice::from_ref(&forward)).unwrap_err();
        let owners: Vec<Owner> = holders(&forward)
            .iter()
            .map(|(pid, comm)| owner(*pid, comm, &[]))
            .collect();
        let text = explain(&error, &owners);
        assert!(text.contains(&format!("process {me} (")), "{text}");
    }
}
