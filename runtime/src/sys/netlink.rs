//! A small synchronous rtnetlink client: just the link, address and route messages a bridge network
//! needs, written against the kernel's structures (`linux/rtnetlink.h`, `linux/if_link.h`).
//!
//! Why by hand: the handful of messages below are stable kernel ABI, a request-then-ack exchange is a
//! dozen lines, and it keeps the runtime free of an async netlink stack (netavark, too, drives
//! netlink synchronously). A socket stays bound to the network namespace it was opened in, so the
//! container side is configured through a socket opened inside the container's namespace
//! ([`super::netns`]), from the caller's own thread.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;

const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;

const IFF_UP: u32 = 1;

/// A netlink message under construction: header, fixed part, then attributes (nested ones through
/// [`Message::nest`]).
struct Message {
    bytes: Vec<u8>,
    nests: Vec<usize>,
}

impl Message {
    fn new(kind: u16, flags: u16) -> Self {
        let mut bytes = Vec::with_capacity(256);
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // length, set in finish()
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // sequence, set by the socket
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
        Self {
            bytes,
            nests: Vec::new(),
        }
    }

    /// `struct ifinfomsg`.
    fn link_header(mut self, index: i32, flags: u32, change: u32) -> Self {
        self.ifinfomsg(index, flags, change);
        self
    }

    fn ifinfomsg(&mut self, index: i32, flags: u32, change: u32) {
        self.bytes.push(libc::AF_UNSPEC as u8);
        self.bytes.push(0);
        self.bytes.extend_from_slice(&0u16.to_ne_bytes()); // device type
        self.bytes.extend_from_slice(&index.to_ne_bytes());
        self.bytes.extend_from_slice(&flags.to_ne_bytes());
        self.bytes.extend_from_slice(&change.to_ne_bytes());
    }

    fn attr(&mut self, kind: u16, data: &[u8]) -> &mut Self {
        let length = 4 + data.len();
        self.bytes.extend_from_slice(
            &u16::try_from(length)
                .expect("short attribute")
                .to_ne_bytes(),
        );
        self.bytes.extend_from_slice(&kind.to_ne_bytes());
        self.bytes.extend_from_slice(data);
        self.pad();
        self
    }

    fn attr_str(&mut self, kind: u16, text: &str) -> &mut Self {
        let mut data = text.as_bytes().to_vec();
        data.push(0);
        self.attr(kind, &data)
    }

    fn attr_u32(&mut self, kind: u16, value: u32) -> &mut Self {
        self.attr(kind, &value.to_ne_bytes())
    }

    fn nest(&mut self, kind: u16) -> &mut Self {
        self.nests.push(self.bytes.len());
        self.bytes.extend_from_slice(&0u16.to_ne_bytes());
        self.bytes.extend_from_slice(&kind.to_ne_bytes());
        self
    }

    fn end_nest(&mut self) -> &mut Self {
        let start = self.nests.pop().expect("a nest is open");
        let length = u16::try_from(self.bytes.len() - start).expect("short nest");
        self.bytes[start..start + 2].copy_from_slice(&length.to_ne_bytes());
        self
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }

    fn finish(mut self, sequence: u32) -> Vec<u8> {
        assert!(self.nests.is_empty(), "unclosed nest");
        let length = u32::try_from(self.bytes.len()).expect("short message");
        self.bytes[0..4].copy_from_slice(&length.to_ne_bytes());
        self.bytes[8..12].copy_from_slice(&sequence.to_ne_bytes());
        self.bytes
    }
}

/// A link as a dump reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: i32,
    pub name: String,
}

/// An rtnetlink socket, bound to the network namespace it was opened in.
#[derive(Debug)]
pub struct Netlink {
    fd: OwnedFd,
    sequence: u32,
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Self> {
        // SAFETY: plain socket(2); the descriptor is owned at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: a zeroed sockaddr_nl is valid; bind with port 0 lets the kernel choose.
        let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        address.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: address is a valid sockaddr_nl of the given size.
        let result = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const address).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { fd, sequence: 0 })
    }

    /// Sends a request and reads replies until its ack (or the end of a dump), calling `each` on
    /// every data message (type, payload after the netlink header).
    fn exchange(&mut self, message: Message, mut each: impl FnMut(u16, &[u8])) -> io::Result<()> {
        self.sequence = self.sequence.wrapping_add(1);
        let sequence = self.sequence;
        let bytes = message.finish(sequence);
        // SAFETY: bytes is a valid buffer; the kernel is the peer (address 0 = kernel).
        let sent =
            unsafe { libc::send(self.fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buffer = vec![0u8; 65536];
        loop {
            let received = recv(self.fd.as_raw_fd(), &mut buffer)?;
            let mut offset = 0;
            while offset + 16 <= received {
                let header = &buffer[offset..];
                let length = u32::from_ne_bytes(header[0..4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes(header[4..6].try_into().unwrap());
                let seq = u32::from_ne_bytes(header[8..12].try_into().unwrap());
                if length < 16 || offset + length > received {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "truncated netlink message",
                    ));
                }
                let payload = &header[16..length];
                offset += align(length);
                if seq != sequence {
                    continue;
                }
                match kind {
                    NLMSG_ERROR => {
                        let code = i32::from_ne_bytes(payload[0..4].try_into().unwrap());
                        return if code == 0 {
                            Ok(())
                        } else {
                            Err(io::Error::from_raw_os_error(-code))
                        };
                    }
                    NLMSG_DONE => return Ok(()),
                    _ => each(kind, payload),
                }
            }
        }
    }

    fn request(&mut self, message: Message) -> io::Result<()> {
        self.exchange(message, |_, _| {})
    }

    /// Creates a bridge with this name and MAC address.
    pub fn create_bridge(&mut self, name: &str, mac: [u8; 6], mtu: Option<u32>) -> io::Result<()> {
        let mut message =
            Message::new(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL).link_header(0, 0, 0);
        message.attr_str(IFLA_IFNAME, name).attr(IFLA_ADDRESS, &mac);
        if let Some(mtu) = mtu {
            message.attr_u32(IFLA_MTU, mtu);
        }
        message
            .nest(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "bridge")
            .end_nest();
        self.request(message)
    }

    /// Creates a veth pair: `host_name` here, attached to the bridge `master` (an index), and `peer_name`
    /// born inside the network namespace `peer_netns` with the given MAC address.
    pub fn create_veth(
        &mut self,
        host_name: &str,
        master: i32,
        peer_name: &str,
        peer_mac: [u8; 6],
        peer_netns: RawFd,
        mtu: Option<u32>,
    ) -> io::Result<()> {
        let mut message =
            Message::new(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL).link_header(0, 0, 0);
        message
            .attr_str(IFLA_IFNAME, host_name)
            .attr_u32(IFLA_MASTER, master as u32);
        if let Some(mtu) = mtu {
            message.attr_u32(IFLA_MTU, mtu);
        }
        message
            .nest(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "veth")
            .nest(IFLA_INFO_DATA)
            .nest(VETH_INFO_PEER);
        message.ifinfomsg(0, 0, 0);
        message
            .attr_str(IFLA_IFNAME, peer_name)
            .attr(IFLA_ADDRESS, &peer_mac)
            .attr_u32(IFLA_NET_NS_FD, peer_netns as u32);
        if let Some(mtu) = mtu {
            message.attr_u32(IFLA_MTU, mtu);
        }
        message.end_nest().end_nest().end_nest();
        self.request(message)
    }

    /// The index of the link with this name, `None` if there is none.
    pub fn link_index(&mut self, name: &str) -> io::Result<Option<i32>> {
        let mut message = Message::new(RTM_GETLINK, NLM_F_ACK).link_header(0, 0, 0);
        message.attr_str(IFLA_IFNAME, name);
        let mut index = None;
        let result = self.exchange(message, |kind, payload| {
            if kind == RTM_NEWLINK && payload.len() >= 16 {
                index = Some(i32::from_ne_bytes(payload[4..8].try_into().unwrap()));
            }
        });
        match result {
            Ok(()) => Ok(index),
            Err(error) if error.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Every link of the namespace.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let message = Message::new(RTM_GETLINK, NLM_F_DUMP).link_header(0, 0, 0);
        let mut links = Vec::new();
        self.exchange(message, |kind, payload| {
            if kind != RTM_NEWLINK || payload.len() < 16 {
                return;
            }
            let index = i32::from_ne_bytes(payload[4..8].try_into().unwrap());
            let mut attributes = &payload[16..];
            while attributes.len() >= 4 {
                let length = u16::from_ne_bytes(attributes[0..2].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes(attributes[2..4].try_into().unwrap());
                if length < 4 || length > attributes.len() {
                    break;
                }
                if kind == IFLA_IFNAME {
                    let data = &attributes[4..length];
                    let name = data.split(|b| *b == 0).next().unwrap_or_default();
                    links.push(Link {
                        index,
                        name: String::from_utf8_lossy(name).into_owned(),
                    });
                }
                attributes = &attributes[align(length).min(attributes.len())..];
            }
        })?;
        Ok(links)
    }

    /// Brings a link up.
    pub fn set_up(&mut self, index: i32) -> io::Result<()> {
        let message = Message::new(RTM_NEWLINK, NLM_F_ACK).link_header(index, IFF_UP, IFF_UP);
        self.request(message)
    }

    /// Deletes a link by name; a missing link is not an error (deleting one end of a veth deletes both).
    pub fn delete_link(&mut self, name: &str) -> io::Result<()> {
        let mut message = Message::new(RTM_DELLINK, NLM_F_ACK).link_header(0, 0, 0);
        message.attr_str(IFLA_IFNAME, name);
        match self.request(message) {
            Err(error) if error.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            other => other,
        }
    }

    /// Adds an IPv4 address with its prefix length to a link.
    pub fn add_address(&mut self, index: i32, address: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut message = Message::new(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        message.bytes.push(libc::AF_INET as u8);
        message.bytes.push(prefix);
        message.bytes.push(0); // flags
        message.bytes.push(0); // scope: universe
        message
            .bytes
            .extend_from_slice(&(index as u32).to_ne_bytes());
        let broadcast = u32::from(address) | (u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0));
        message
            .attr(IFA_LOCAL, &address.octets())
            .attr(IFA_ADDRESS, &address.octets());
        if prefix < 31 {
            message.attr(IFA_BROADCAST, &Ipv4Addr::from(broadcast).octets());
        }
        match self.request(message) {
            Err(error) if error.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            other => other,
        }
    }

    /// Adds the default route through `gateway` on the link `index` (main table).
    pub fn add_default_route(&mut self, gateway: Ipv4Addr, index: i32) -> io::Result<()> {
        let mut message = Message::new(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        message.bytes.extend_from_slice(&[
            libc::AF_INET as u8,
            0, // destination length: default route
            0, // source length
            0, // tos
            libc::RT_TABLE_MAIN,
            libc::RTPROT_BOOT,
            libc::RT_SCOPE_UNIVERSE,
            libc::RTN_UNICAST,
        ]);
        message.bytes.extend_from_slice(&0u32.to_ne_bytes()); // flags
        message
            .attr(RTA_GATEWAY, &gateway.octets())
            .attr_u32(RTA_OIF, index as u32);
        self.request(message)
    }
}

fn align(length: usize) -> usize {
    (length + 3) & !3
}

fn recv(fd: RawFd, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: buffer is valid for its length.
        let received = unsafe { libc::recv(fd, buffer.as_mut_ptr().cast(), buffer.len(), 0) };
        if received >= 0 {
            return Ok(received as usize);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}
