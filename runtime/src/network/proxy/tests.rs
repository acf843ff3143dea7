//! The proxy against real servers on 127.0.0.1 (no root needed).

use super::*;
use sha2::{Digest, Sha256};
use std::net::Ipv4Addr;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn forward(protocol: Protocol, container_port: u16) -> PortForward {
    PortForward {
        host_ip: LOCALHOST,
        host_port: 0,
        host_port_end: 0,
        protocol,
        container_port,
    }
}

/// A TCP server that echoes every byte and half-closes when its client does.
fn echo_server() -> u16 {
    let listener = TcpListener::bind((LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let stream = stream.unwrap();
            thread::spawn(move || {
                let mut reader = stream.try_clone().unwrap();
                let mut writer = stream;
                io::copy(&mut reader, &mut writer).unwrap();
                writer.shutdown(Shutdown::Write).unwrap();
            });
        }
    });
    port
}

/// Publishes `container_port` on an ephemeral port of 127.0.0.1 through a proxy; returns it.
fn proxy(protocol: Protocol, container_port: u16, options: Options) -> SocketAddr {
    let listeners = bind(&[forward(protocol, container_port)]).unwrap();
    let published = listeners[0].published;
    assert_ne!(published.host_port, 0, "the kernel's port is reported");
    spawn(listeners, LOCALHOST, options).unwrap();
    SocketAddr::new(published.host_ip, published.host_port)
}

#[test]
fn tcp_half_close_reaches_the_server_and_its_reply_comes_back() {
    // The server answers only after the client's end of stream, then closes.
    let listener = TcpListener::bind((LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        stream.read_to_end(&mut request).unwrap();
        let answer = format!(
            "got {} bytes: {}",
            request.len(),
            String::from_utf8_lossy(&request)
        );
        stream.write_all(answer.as_bytes()).unwrap();
    });
    let address = proxy(Protocol::Tcp, port, Options::default());
    let mut client = TcpStream::connect(address).unwrap();
    client.write_all(b"hello").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "got 5 bytes: hello");
}

#[test]
fn tcp_server_half_close_lets_the_client_keep_sending() {
    // The server says hello and closes its side at once, then still reads what the client sends.
    let listener = TcpListener::bind((LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"hi").unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        rest
    });
    let address = proxy(Protocol::Tcp, port, Options::default());
    let mut client = TcpStream::connect(address).unwrap();
    let mut greeting = Vec::new();
    client.read_to_end(&mut greeting).unwrap();
    assert_eq!(greeting, b"hi");
    client.write_all(b"after the server's end").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(server.join().unwrap(), b"after the server's end");
}

/// Deterministic pseudo-random bytes (xorshift64).
fn pattern(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[test]
fn tcp_large_transfer_arrives_intact_both_ways() {
    let address = proxy(Protocol::Tcp, echo_server(), Options::default());
    let data = pattern(48 << 20, 0x9E37_79B9_7F4A_7C15);
    let expected = Sha256::digest(&data);
    let client = TcpStream::connect(address).unwrap();
    let mut writer = client.try_clone().unwrap();
    let sender = thread::spawn(move || {
        // Odd-sized writes, so chunk boundaries move around.
        for chunk in data.chunks(100_003) {
            writer.write_all(chunk).unwrap();
        }
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut reader = client;
    let mut hasher = Sha256::new();
    let mut total = 0usize;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        total += n;
        hasher.update(&buffer[..n]);
    }
    sender.join().unwrap();
    assert_eq!(total, 48 << 20);
    assert_eq!(hasher.finalize(), expected);
}

#[test]
fn tcp_many_concurrent_connections_each_get_their_own_bytes() {
    let address = proxy(Protocol::Tcp, echo_server(), Options::default());
    let clients: Vec<_> = (0..200)
        .map(|index| {
            thread::spawn(move || {
                let mut stream = TcpStream::connect(address).unwrap();
                let message = pattern(10_000 + index * 37, index as u64 + 1);
                stream.write_all(&message).unwrap();
                stream.shutdown(Shutdown::Write).unwrap();
                let mut echoed = Vec::new();
                stream.read_to_end(&mut echoed).unwrap();
                echoed == message
            })
        })
        .collect();
    for client in clients {
        assert!(client.join().unwrap());
    }
}

#[test]
fn tcp_client_is_closed_when_nothing_listens_in_the_container() {
    // A port with no server behind it: bind one, then close it.
    let closed = TcpListener::bind((LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = proxy(Protocol::Tcp, closed, Options::default());
    let mut client = TcpStream::connect(address).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buffer = [0u8; 16];
    match client.read(&mut buffer) {
        Ok(n) => assert_eq!(n, 0),
        Err(error) => assert_eq!(error.kind(), io::ErrorKind::ConnectionReset),
    }
}

/// A UDP server that answers each datagram with `<payload> from <sender address>`.
fn udp_server() -> u16 {
    let socket = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    let port = socket.local_addr().unwrap().port();
    thread::spawn(move || {
        let mut buffer = [0u8; 2048];
        loop {
            let (n, peer) = socket.recv_from(&mut buffer).unwrap();
            let answer = format!("{} from {peer}", String::from_utf8_lossy(&buffer[..n]));
            socket.send_to(answer.as_bytes(), peer).unwrap();
        }
    });
    port
}

fn udp_ask(client: &UdpSocket, address: SocketAddr, payload: &str) -> String {
    client.send_to(payload.as_bytes(), address).unwrap();
    let mut buffer = [0u8; 2048];
    let (n, from) = client.recv_from(&mut buffer).unwrap();
    assert_eq!(from, address, "replies come from the published address");
    let answer = String::from_utf8_lossy(&buffer[..n]).into_owned();
    let (echo, _) = answer.split_once(" from ").unwrap();
    assert_eq!(echo, payload);
    answer
}

fn client_socket() -> UdpSocket {
    let client = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client
}

#[test]
fn udp_round_trip_and_one_flow_per_client() {
    let address = proxy(Protocol::Udp, udp_server(), Options::default());
    let (first, second) = (client_socket(), client_socket());
    let a1 = udp_ask(&first, address, "one");
    let a2 = udp_ask(&first, address, "two");
    let b1 = udp_ask(&second, address, "three");
    let source = |answer: &str| answer.split_once(" from ").unwrap().1.to_owned();
    assert_eq!(source(&a1), source(&a2), "one client keeps its flow");
    assert_ne!(source(&a1), source(&b1), "two clients have two flows");
    // A large datagram goes through whole.
    let big = "x".repeat(1400);
    udp_ask(&first, address, &big);
}

#[test]
fn udp_flows_expire_when_idle() {
    let options = Options {
        udp_idle: Duration::from_millis(200),
        ..Options::default()
    };
    let address = proxy(Protocol::Udp, udp_server(), options);
    let client = client_socket();
    let source = |answer: String| answer.split_once(" from ").unwrap().1.to_owned();
    let before = source(udp_ask(&client, address, "a"));
    thread::sleep(Duration::from_millis(100));
    assert_eq!(source(udp_ask(&client, address, "b")), before);
    thread::sleep(Duration::from_millis(700));
    // A new flow: a new socket towards the server.
    assert_ne!(source(udp_ask(&client, address, "c")), before);
}

#[test]
fn bind_reports_the_taken_port_and_releases_what_it_bound() {
    let taken = TcpListener::bind((LOCALHOST, 0)).unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    // Find a free port for the first entry, then ask for it and the taken one.
    let free = TcpListener::bind((LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut first = forward(Protocol::Tcp, 80);
    first.host_port = free;
    let mut second = forward(Protocol::Tcp, 81);
    second.host_port = taken_port;
    let error = bind(&[first, second]).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{taken_port}")) && text.contains("tcp"),
        "{text}"
    );
    assert!(
        matches!(&error, Error::Bind { source, .. } if source.kind() == io::ErrorKind::AddrInUse)
    );
    // The first port was released with the failure.
    TcpListener::bind((LOCALHOST, free)).unwrap();
    // UDP on the same number is another port.
    let mut udp = forward(Protocol::Udp, 81);
    udp.host_port = taken_port;
    assert!(bind(&[udp]).is_ok_and(|l| l[0].published.host_port == taken_port));
}

#[test]
fn a_range_takes_its_first_free_port() {
    // Two adjacent free ports are hard to guarantee; retry with a few candidates.
    for _ in 0..20 {
        let low = TcpListener::bind((LOCALHOST, 0)).unwrap();
        let start = low.local_addr().unwrap().port();
        if start == u16::MAX {
            continue;
        }
        let mut ranged = forward(Protocol::Tcp, 80);
        ranged.host_port = start;
        ranged.host_port_end = start + 1;
        match bind(&[ranged.clone()]) {
            Ok(listeners) => {
                assert_eq!(listeners[0].published.host_port, start + 1);
                // With both taken, the error names the range.
                let error = bind(&[ranged]).unwrap_err().to_string();
                assert!(error.contains(&format!("{start}-{}", start + 1)), "{error}");
                return;
            }
            Err(_) => continue,
        }
    }
    panic!("never found two adjacent free ports");
}

#[test]
fn published_ports_print_like_docker() {
    let published = Published {
        host_ip: "::".parse().unwrap(),
        host_port: 8080,
        protocol: Protocol::Udp,
        container_port: 53,
    };
    assert_eq!(published.to_string(), "[::]:8080->53/udp");
    let json = serde_json::to_string(&forward(Protocol::Udp, 53)).unwrap();
    assert_eq!(
        json,
        r#"{"host_ip":"127.0.0.1","host_port":0,"protocol":"udp","container_port":53}"#
    );
}
