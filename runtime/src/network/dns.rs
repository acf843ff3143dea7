//! The embedded DNS server of a container on networks: docker's `127.0.0.11`, served by the
//! container's own monitor, for the clients that speak DNS instead of reading `/etc/hosts` (`nslookup`,
//! `dig`, nginx's `resolver`, c-ares, Node's `dns.resolve`).
//!
//! It answers from the container's `/etc/hosts`, the file `container::network` keeps current, so
//! both ways of resolving always agree and nothing else needs updating when containers come and go.
//! `A` queries get every address of the name (all replicas); other types for a known name get an
//! empty answer. Unknown names are forwarded, from the host's network namespace (so a host resolver on
//! loopback, like systemd-resolved's, works), to the name servers the container would have used,
//! and the answers relayed back, but only when one of the container's networks has a way out (see
//! `firewall`): on networks without one, a name that is not a container is `NXDOMAIN` and nothing
//! leaves the machine.
//!
//! The socket listens inside the container's namespace: the monitor, single-threaded, enters the
//! namespace to create it and returns. The monitor's poll loop calls [`Server::on_query`] and
//! [`Server::on_answer`] when the sockets are readable. UDP only: an answer carries as many replicas
//! as fit in 512 bytes, starting at the next one each time (round robin).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::sys::process::{self as p, ns};

/// Where the server listens in the container, as docker's does.
pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// Seconds clients may cache an answer: short, since containers come and go.
const TTL: u32 = 10;
/// How long a forwarded query waits for its answer.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NXDOMAIN: u8 = 3;

/// A parsed question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    /// Lowercase, without the final dot.
    pub name: String,
    pub kind: u16,
    pub class: u16,
    /// Where the question section ends in the message.
    end: usize,
}

/// Parses a standard query with one question (no compression in the question, as clients send).
pub fn parse_query(message: &[u8]) -> Option<Query> {
    if message.len() < 12 {
        return None;
    }
    let flags = u16::from_be_bytes([message[2], message[3]]);
    let is_response = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    let questions = u16::from_be_bytes([message[4], message[5]]);
    if is_response || opcode != 0 || questions != 1 {
        return None;
    }
    let mut labels = Vec::new();
    let mut at = 12;
    loop {
        let length = *message.get(at)? as usize;
        at += 1;
        if length == 0 {
            break;
        }
        if length > 63 {
            return None; // a pointer or a reserved label type
        }
        let label = message.get(at..at + length)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        at += length;
    }
    let kind = u16::from_be_bytes([*message.get(at)?, *message.get(at + 1)?]);
    let class = u16::from_be_bytes([*message.get(at + 2)?, *message.get(at + 3)?]);
    Some(Query {
        id: u16::from_be_bytes([message[0], message[1]]),
        name: labels.join("."),
        kind,
        class,
        end: at + 4,
    })
}

/// The IPv4 addresses `name` has in a hosts file's text, in file order, without repeats.
pub fn lookup(hosts: &str, name: &str) -> Vec<Ipv4Addr> {
    let mut found = Vec::new();
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let Some(Ok(address)) = fields.next().map(str::parse::<IpAddr>) else {
            continue;
        };
        if fields.any(|field| field.eq_ignore_ascii_case(name))
            && let IpAddr::V4(address) = address
            && !found.contains(&address)
        {
            found.push(address);
        }
    }
    found
}

/// The most a UDP answer may hold for a client that did not say otherwise (RFC 1035; EDNS clients
/// accept more, but a subset of a scaled service's replicas is as good an answer).
const UDP_ANSWER_LIMIT: usize = 512;

/// The response to `query` (the original message): its question, then one `A` record per address,
/// as many as fit in [`UDP_ANSWER_LIMIT`] (a valid answer with fewer replicas, rather than a
/// truncated one that would send the client to TCP).
pub fn answer(message: &[u8], query: &Query, addresses: &[Ipv4Addr], rcode: u8) -> Vec<u8> {
    let fit = UDP_ANSWER_LIMIT.saturating_sub(query.end) / 16;
    let addresses = &addresses[..addresses.len().min(fit)];
    let request_flags = u16::from_be_bytes([message[2], message[3]]);
    // QR, AA, the client's RD, RA, and the response code.
    let flags: u16 = 0x8000 | 0x0400 | (request_flags & 0x0100) | 0x0080 | u16::from(rcode);
    let mut out = Vec::with_capacity(query.end + 16 * addresses.len());
    out.extend_from_slice(&query.id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(addresses.len() as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&message[12..query.end]);
    for address in addresses {
        out.extend_from_slice(&0xc00cu16.to_be_bytes()); // the name: a pointer to the question's
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&address.octets());
    }
    out
}

/// The name servers a `resolv.conf` lists, on port 53.
pub fn name_servers(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|line| line.strip_prefix("nameserver"))
        .filter_map(|server| server.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// A forwarded query waiting for its answer.
struct Pending {
    client: SocketAddr,
    id: u16,
    sent: Instant,
}

/// The server of one container.
pub struct Server {
    listen: UdpSocket,
    /// The socket forwarded queries leave from (host namespace); `None` when nothing is forwarded.
    upstream: Option<UdpSocket>,
    servers: Vec<SocketAddr>,
    hosts: PathBuf,
    pending: HashMap<u16, Pending>,
    next_id: u16,
    /// Counts answers with addresses, for the round robin.
    turn: usize,
}

impl Server {
    /// Binds `127.0.0.11:53` inside the namespace `netns` (the calling thread enters it and comes
    /// back: call it from a single-threaded process), answering from `hosts` and forwarding to
    /// `servers` (none: no forwarding; IPv6 ones are skipped, the forwarding socket is IPv4).
    pub fn bind(netns: &Path, hosts: PathBuf, servers: Vec<SocketAddr>) -> io::Result<Server> {
        let home = fs::File::open("/proc/thread-self/ns/net")?;
        let target = fs::File::open(netns)?;
        p::setns(target.as_fd(), ns::NET)?;
        let listen = UdpSocket::bind((ADDRESS, 53));
        p::setns(home.as_fd(), ns::NET)?;
        let listen = listen?;
        listen.set_nonblocking(true)?;
        let servers: Vec<SocketAddr> = servers.into_iter().filter(SocketAddr::is_ipv4).collect();
        let upstream = if servers.is_empty() {
            None
        } else {
            let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
            socket.set_nonblocking(true)?;
            Some(socket)
        };
        Ok(Server {
            listen,
            upstream,
            servers,
            hosts,
            pending: HashMap::new(),
            next_id: std::process::id() as u16,
            turn: 0,
        })
    }

    /// The descriptors to poll: the listening socket, then the forwarding one (-1 if none).
    pub fn fds(&self) -> [RawFd; 2] {
        [
            self.listen.as_raw_fd(),
            self.upstream.as_ref().map_or(-1, |s| s.as_raw_fd()),
        ]
    }

    /// Answers or forwards every query waiting on the listening socket.
    pub fn on_query(&mut self) {
        let mut buffer = [0u8; 1500];
        while let Ok((length, client)) = self.listen.recv_from(&mut buffer) {
            let message = &buffer[..length];
            let Some(query) = parse_query(message) else {
                continue;
            };
            let hosts = fs::read_to_string(&self.hosts).unwrap_or_default();
            let reply = if lookup_any(&hosts, &query.name) {
                // A known name: its IPv4 addresses for `A`, an empty answer for other types.
                let mut addresses = if query.kind == TYPE_A && query.class == CLASS_IN {
                    lookup(&hosts, &query.name)
                } else {
                    Vec::new()
                };
                // Round robin: each answer starts at the next replica, so clients that take the
                // first address spread over all of them.
                if !addresses.is_empty() {
                    self.turn = self.turn.wrapping_add(1);
                    let start = self.turn % addresses.len();
                    addresses.rotate_left(start);
                }
                Some(answer(message, &query, &addresses, 0))
            } else if self.forward(message, &query, client) {
                None
            } else {
                Some(answer(message, &query, &[], RCODE_NXDOMAIN))
            };
            if let Some(reply) = reply {
                let _ = self.listen.send_to(&reply, client);
            }
        }
    }

    /// Sends a query on to the first name server; false if there is none to send to.
    fn forward(&mut self, message: &[u8], query: &Query, client: SocketAddr) -> bool {
        let (Some(upstream), Some(server)) = (&self.upstream, self.servers.first()) else {
            return false;
        };
        self.pending
            .retain(|_, pending| pending.sent.elapsed() < FORWARD_TIMEOUT);
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        let mut relayed = message.to_vec();
        relayed[0..2].copy_from_slice(&id.to_be_bytes());
        if upstream.send_to(&relayed, server).is_err() {
            let reply = answer(message, query, &[], RCODE_SERVFAIL);
            let _ = self.listen.send_to(&reply, client);
            return true;
        }
        self.pending.insert(
            id,
            Pending {
                client,
                id: query.id,
                sent: Instant::now(),
            },
        );
        true
    }

    /// Relays every answer waiting on the forwarding socket to the client that asked.
    pub fn on_answer(&mut self) {
        let Some(upstream) = &self.upstream else {
            return;
        };
        let mut buffer = [0u8; 4096];
        while let Ok((length, from)) = upstream.recv_from(&mut buffer) {
            if length < 12 || !self.servers.contains(&from) {
                continue;
            }
            let id = u16::from_be_bytes([buffer[0], buffer[1]]);
            let Some(pending) = self.pending.remove(&id) else {
                continue;
            };
            buffer[0..2].copy_from_slice(&pending.id.to_be_bytes());
            let _ = self.listen.send_to(&buffer[..length], pending.client);
        }
    }
}

/// Whether `name` is in the hosts file at all (with any address family).
fn lookup_any(hosts: &str, name: &str) -> bool {
    hosts.lines().any(|line| {
        let line = line.split('#').next().unwrap_or_default();
        line.split_whitespace()
            .skip(1)
            .any(|field| field.eq_ignore_ascii_case(name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query as `dig`/libc send it: id, RD, one question.
    fn query(name: &str, kind: u16) -> Vec<u8> {
        let mut message = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            message.push(label.len() as u8);
            message.extend_from_slice(label.as_bytes());
        }
        message.push(0);
        message.extend_from_slice(&kind.to_be_bytes());
        message.extend_from_slice(&CLASS_IN.to_be_bytes());
        message
    }

    const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n\
                         10.89.0.2\tp-web-1 web\n10.89.0.3\tp-web-2 web # replica\n\
                         10.89.1.2\tp-web-1 web\n";

    #[test]
    fn queries_parse_and_answers_carry_every_address() {
        let message = query("Web", TYPE_A);
        let parsed = parse_query(&message).unwrap();
        assert_eq!(parsed.name, "web");
        assert_eq!(parsed.kind, TYPE_A);
        let addresses = lookup(HOSTS, &parsed.name);
        assert_eq!(addresses.len(), 3);
        let reply = answer(&message, &parsed, &addresses, 0);
        assert_eq!(&reply[0..2], &[0x12, 0x34]);
        assert_eq!(reply[2] & 0x80, 0x80, "a response");
        assert_eq!(reply[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 3);
        // The last record's address is the last four bytes.
        assert_eq!(&reply[reply.len() - 4..], &[10, 89, 1, 2]);
        assert_eq!(reply.len(), message.len() + 3 * 16);
    }

    #[test]
    fn answers_fit_in_a_udp_message() {
        let message = query("web", TYPE_A);
        let parsed = parse_query(&message).unwrap();
        let replicas: Vec<Ipv4Addr> = (2..60).map(|n| Ipv4Addr::new(10, 89, 0, n)).collect();
        let reply = answer(&message, &parsed, &replicas, 0);
        assert!(reply.len() <= UDP_ANSWER_LIMIT, "{}", reply.len());
        let count = usize::from(u16::from_be_bytes([reply[6], reply[7]]));
        assert_eq!(reply.len(), message.len() + count * 16);
        assert!(count > 25 && count < replicas.len(), "{count}");
        assert_eq!(reply[2] & 0x02, 0, "not marked truncated");
    }

    #[test]
    fn unknown_names_and_malformed_messages() {
        assert!(lookup(HOSTS, "db").is_empty());
        assert!(lookup_any(HOSTS, "ip6-localhost"));
        assert!(lookup(HOSTS, "ip6-localhost").is_empty());
        let message = query("db", TYPE_A);
        let parsed = parse_query(&message).unwrap();
        let reply = answer(&message, &parsed, &[], RCODE_NXDOMAIN);
        assert_eq!(reply[3] & 0x0f, RCODE_NXDOMAIN);
        assert!(parse_query(&message[..11]).is_none());
        let mut response = message.clone();
        response[2] |= 0x80;
        assert!(parse_query(&response).is_none());
        let mut truncated = message.clone();
        truncated.truncate(message.len() - 2);
        assert!(parse_query(&truncated).is_none());
    }

    #[test]
    fn name_servers_come_from_resolv_conf() {
        assert_eq!(
            name_servers("search lan\nnameserver 10.0.0.1\nnameserver ::1\noptions ndots:2\n"),
            [
                "10.0.0.1:53".parse::<SocketAddr>().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
    }
}
