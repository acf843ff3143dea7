//! The userland port proxy: how a container's port is published on the host.
//!
//! Why a proxy rather than nftables DNAT: it needs no firewall backend (nft, iptables-legacy or
//! -nft, whatever the host has) and no rules to leak when something crashes; it works for the
//! host's own connections to 127.0.0.1 (DNAT needs `route_localnet` and an OUTPUT-chain rule for
//! that); and a port is held by an ordinary listening socket, so a port that is taken fails at
//! `bind` with the kernel's own answer, and `ss -lntp` shows who publishes it. The cost is one
//! hop through user space, which `splice` keeps small (see `bench/proxy.sh`). Docker ships the
//! same design (`docker-proxy`) next to its DNAT rules.
//!
//! [`bind`] makes every listener first (in the container's monitor, before the container starts, so
//! a taken port fails the start); [`serve`] then runs on threads of a process of its own (the
//! monitor forks it: the monitor itself must stay single-threaded). TCP: one thread accepts, each
//! connection gets two threads that move bytes with `splice` through a pipe, one direction each,
//! and pass a half-close (`shutdown(SHUT_WR)`) on to the other side. UDP: one thread reads the
//! published socket; each client address gets a flow (a socket connected to the target and a
//! thread that sends the replies back from the published socket, so the client sees them come from
//! the address it sent to); a flow ends after [`Options::udp_idle`] without traffic either way.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket,
};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::sys::net as sys;
use crate::sys::process as p;

/// A transport protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A port to publish: `host_ip:host_port` on the host forwards to `container_port` in the
/// container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortForward {
    pub host_ip: IpAddr,
    /// 0: a port the kernel chooses (ephemeral).
    pub host_port: u16,
    /// With a value above `host_port`: the first port of `host_port..=host_port_end` that is free
    /// (docker's `8000-8010:80`). 0 means `host_port` alone.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub host_port_end: u16,
    pub protocol: Protocol,
    pub container_port: u16,
}

fn is_zero(value: &u16) -> bool {
    *value == 0
}

/// A port as bound: the host port is the one in use (the kernel's choice for an ephemeral one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Published {
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub protocol: Protocol,
    pub container_port: u16,
}

impl fmt::Display for Published {
    /// docker's `0.0.0.0:8080->80/tcp` (IPv6 hosts in brackets).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}->{}/{}",
            SocketAddr::new(self.host_ip, self.host_port),
            self.container_port,
            self.protocol
        )
    }
}

/// A failure to publish a port.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot publish {protocol} port {address}: {source}")]
    Bind {
        address: SocketAddr,
        protocol: Protocol,
        #[source]
        source: io::Error,
    },
    #[error("cannot publish {protocol} port {ip}:{start}-{end}: every port of the range is taken")]
    RangeTaken {
        ip: IpAddr,
        start: u16,
        end: u16,
        protocol: Protocol,
    },
}

enum Socket {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// A bound published port, ready to [`serve`].
pub struct Listener {
    pub published: Published,
    socket: Socket,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("published", &self.published)
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// The socket's descriptor number.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match &self.socket {
            Socket::Tcp(listener) => listener.as_raw_fd(),
            Socket::Udp(socket) => socket.as_raw_fd(),
        }
    }

    /// Another descriptor, for a process that must keep the port bound while another serves it.
    pub fn try_clone(&self) -> io::Result<Self> {
        let socket = match &self.socket {
            Socket::Tcp(listener) => Socket::Tcp(listener.try_clone()?),
            Socket::Udp(socket) => Socket::Udp(socket.try_clone()?),
        };
        Ok(Self {
            published: self.published,
            socket,
        })
    }
}

fn bind_one(forward: &PortForward, port: u16) -> io::Result<Listener> {
    let address = SocketAddr::new(forward.host_ip, port);
    let socket = match forward.protocol {
        // std sets SO_REUSEADDR on Unix: a port whose last connections are in TIME_WAIT binds.
        Protocol::Tcp => Socket::Tcp(TcpListener::bind(address)?),
        Protocol::Udp => Socket::Udp(UdpSocket::bind(address)?),
    };
    let local = match &socket {
        Socket::Tcp(listener) => listener.local_addr()?,
        Socket::Udp(socket) => socket.local_addr()?,
    };
    Ok(Listener {
        published: Published {
            host_ip: forward.host_ip,
            host_port: local.port(),
            protocol: forward.protocol,
            container_port: forward.container_port,
        },
        socket,
    })
}

/// Binds every port (all or nothing: on an error the ones bound so far are closed).
pub fn bind(forwards: &[PortForward]) -> Result<Vec<Listener>, Error> {
    let mut listeners = Vec::with_capacity(forwards.len());
    for forward in forwards {
        if forward.host_port_end > forward.host_port && forward.host_port != 0 {
            let range = forward.host_port..=forward.host_port_end;
            let bound = range
                .clone()
                .find_map(|port| bind_one(forward, port).ok())
                .ok_or(Error::RangeTaken {
                    ip: forward.host_ip,
                    start: forward.host_port,
                    end: forward.host_port_end,
                    protocol: forward.protocol,
                })?;
            listeners.push(bound);
        } else {
            let bound = bind_one(forward, forward.host_port).map_err(|source| Error::Bind {
                address: SocketAddr::new(forward.host_ip, forward.host_port),
                protocol: forward.protocol,
                source,
            })?;
            listeners.push(bound);
        }
    }
    Ok(listeners)
}

/// How the proxy behaves.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// A UDP flow without a datagram either way for this long is forgotten (docker: 90 s).
    pub udp_idle: Duration,
    /// Time allowed to connect to the target before the client's connection is dropped.
    pub connect_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            udp_idle: Duration::from_secs(90),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Threads that forward every listener to `target` (the container's address); they run until the
/// process ends. Returns their handles.
pub fn spawn(
    listeners: Vec<Listener>,
    target: IpAddr,
    options: Options,
) -> io::Result<Vec<thread::JoinHandle<()>>> {
    let mut handles = Vec::new();
    for listener in listeners {
        let destination = SocketAddr::new(target, listener.published.container_port);
        let name = format!("proxy {}", listener.published);
        let handle = match listener.socket {
            Socket::Tcp(socket) => thread::Builder::new()
                .name(name)
                .spawn(move || accept_loop(socket, destination, options))?,
            Socket::Udp(socket) => thread::Builder::new()
                .name(name)
                .spawn(move || udp_loop(socket, destination, options))?,
        };
        handles.push(handle);
    }
    Ok(handles)
}

/// [`spawn`], then waits for the threads (forever, unless every one of them fails).
pub fn serve(listeners: Vec<Listener>, target: IpAddr, options: Options) -> io::Result<()> {
    for handle in spawn(listeners, target, options)? {
        let _ = handle.join();
    }
    Ok(())
}

/// Per-connection threads copy one direction each; their stacks need little.
const STACK: usize = 64 * 1024;

fn accept_loop(listener: TcpListener, destination: SocketAddr, options: Options) {
    loop {
        match listener.accept() {
            Ok((client, _)) => {
                let spawned = thread::Builder::new()
                    .stack_size(STACK)
                    .spawn(move || connection(client, destination, options));
                if spawned.is_err() {
                    // No thread for it: the client's connection is closed (dropped with the closure).
                    thread::sleep(Duration::from_millis(10));
                }
            }
            // Out of descriptors or memory: wait for connections to end rather than spin.
            Err(error)
                if matches!(
                    error.raw_os_error(),
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                ) =>
            {
                thread::sleep(Duration::from_millis(50))
            }
            Err(_) => {}
        }
    }
}

fn connection(client: TcpStream, destination: SocketAddr, options: Options) {
    let Ok(server) = TcpStream::connect_timeout(&destination, options.connect_timeout) else {
        // The client sees its connection closed, as with docker-proxy.
        return;
    };
    // Small request/response exchanges must not wait for Nagle (Go's default, so docker-proxy's).
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client_2), Ok(server_2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let upstream = thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || copy(&client_2, &server_2));
    copy(&server, &client);
    if let Ok(handle) = upstream {
        let _ = handle.join();
    }
}

/// Bytes per splice call (and the pipe's size).
const CHUNK: usize = 256 * 1024;

/// Copies `from` to `to` until the end of `from`'s stream, then half-closes `to`. On an error
/// both connections are shut down, which ends the other direction too.
fn copy(from: &TcpStream, to: &TcpStream) {
    let result = splice_copy(from, to).or_else(|error| {
        // splice is refused on some kernels or socket kinds: copy through a buffer instead.
        if error.raw_os_error() == Some(libc::EINVAL) {
            buffer_copy(from, to)
        } else {
            Err(error)
        }
    });
    match result {
        Ok(()) => {
            let _ = to.shutdown(Shutdown::Write);
        }
        Err(_) => {
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        }
    }
}

fn splice_copy(from: &TcpStream, to: &TcpStream) -> io::Result<()> {
    let (read, write) = p::pipe()?;
    let _ = sys::set_pipe_size(write.as_fd(), CHUNK);
    loop {
        let n = sys::splice(from.as_fd(), write.as_fd(), CHUNK)?;
        if n == 0 {
            return Ok(());
        }
        let mut left = n;
        while left > 0 {
            match sys::splice(read.as_fd(), to.as_fd(), left)? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                moved => left -= moved,
            }
        }
    }
}

fn buffer_copy(mut from: &TcpStream, mut to: &TcpStream) -> io::Result<()> {
    let mut buffer = vec![0u8; CHUNK];
    loop {
        match from.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => to.write_all(&buffer[..n])?,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// The largest UDP payload (IPv4).
const DATAGRAM: usize = 65_507;

/// Most flows at once; datagrams from further clients are dropped until some expire.
const MAX_FLOWS: usize = 4096;

struct Flow {
    upstream: UdpSocket,
    last: Mutex<Instant>,
}

type Flows = Arc<Mutex<HashMap<SocketAddr, Arc<Flow>>>>;

fn udp_loop(published: UdpSocket, destination: SocketAddr, options: Options) {
    let published = Arc::new(published);
    let flows: Flows = Arc::default();
    let mut buffer = vec![0u8; DATAGRAM];
    loop {
        let (n, client) = match published.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(error)
                if matches!(
                    error.raw_os_error(),
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                ) =>
            {
                thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(_) => continue,
        };
        // Under the lock: a flow that expires removes itself under it too, so a datagram never goes
        // to a flow whose reply thread has ended.
        let mut table = flows.lock().unwrap_or_else(|e| e.into_inner());
        let flow = match table.get(&client) {
            Some(flow) => flow.clone(),
            None => {
                if table.len() >= MAX_FLOWS {
                    continue;
                }
                let Ok(flow) = new_flow(destination, options.udp_idle) else {
                    continue;
                };
                let flow = Arc::new(flow);
                let (replies, flows_2, flow_2) = (published.clone(), flows.clone(), flow.clone());
                let spawned = thread::Builder::new()
                    .stack_size(STACK + DATAGRAM)
                    .spawn(move || reply_loop(&flow_2, client, &replies, &flows_2, options));
                if spawned.is_err() {
                    continue;
                }
                table.insert(client, flow.clone());
                flow
            }
        };
        *flow.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        // ECONNREFUSED here is an ICMP error for an earlier datagram: nothing listens yet.
        let _ = flow.upstream.send(&buffer[..n]);
    }
}

fn new_flow(destination: SocketAddr, idle: Duration) -> io::Result<Flow> {
    let local: IpAddr = match destination {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let upstream = UdpSocket::bind(SocketAddr::new(local, 0))?;
    upstream.connect(destination)?;
    // Wakes the reply thread often enough to notice the flow went idle.
    upstream.set_read_timeout(Some((idle / 4).max(Duration::from_millis(10))))?;
    Ok(Flow {
        upstream,
        last: Mutex::new(Instant::now()),
    })
}

fn reply_loop(
    flow: &Arc<Flow>,
    client: SocketAddr,
    published: &UdpSocket,
    flows: &Flows,
    options: Options,
) {
    let mut buffer = vec![0u8; DATAGRAM];
    loop {
        match flow.upstream.recv(&mut buffer) {
            Ok(n) => {
                *flow.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                let _ = published.send_to(&buffer[..n], client);
            }
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let mut table = flows.lock().unwrap_or_else(|e| e.into_inner());
                let last = *flow.last.lock().unwrap_or_else(|e| e.into_inner());
                if last.elapsed() >= options.udp_idle {
                    if table.get(&client).is_some_and(|f| Arc::ptr_eq(f, flow)) {
                        table.remove(&client);
                    }
                    return;
                }
            }
            // ICMP port unreachable for an earlier datagram, or an interrupted call: keep going.
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests;
