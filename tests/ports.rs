//! Published ports on real containers (root): the host reaches a container's TCP and UDP ports on
//! 127.0.0.1 through the monitor's proxy while no rcompose command runs; ephemeral ports show in
//! `port` and `ps`; a taken port fails `up` before anything is created, naming the port and its
//! holder; `down` frees the ports.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Fixture, can_run};

/// A port that is free now (the kernel's choice, released at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP echo server in C, built static so it runs in the busybox image (whose `nc` has no UDP).
const UDP_ECHO: &str = r#"
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_port = htons(atoi(argv[1]));
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) < 0) return 1;
    char buffer[65536];
    for (;;) {
        struct sockaddr_in peer;
        socklen_t length = sizeof peer;
        ssize_t n = recvfrom(fd, buffer, sizeof buffer, 0, (struct sockaddr *)&peer, &length);
        if (n >= 0) sendto(fd, buffer, n, 0, (struct sockaddr *)&peer, length);
    }
}
"#;

fn build_udp_echo(rootfs: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("udp-echo.c");
    std::fs::write(&source, UDP_ECHO).unwrap();
    let status = Command::new("cc")
        .args(["-O2", "-static", "-o"])
        .arg(rootfs.join("bin/udp-echo"))
        .arg(&source)
        .status()
        .expect("run cc");
    assert!(status.success(), "cc -static failed (needs libc6-dev)");
}

/// An HTTP GET through `port`, retried until the server in the container answers.
fn http_get(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut stream = TcpStream::connect(("127.0.0.1", port))?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            stream.shutdown(Shutdown::Write)?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer)?;
            Ok(answer)
        })();
        match attempt {
            Ok(answer) if !answer.is_empty() => return answer,
            other if Instant::now() > deadline => panic!("no answer on port {port}: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

const WEB: &str =
    "sh -c 'mkdir -p /www && echo hello from web > /www/index.html && exec httpd -f -p 80 -h /www'";

fn ps_json(fixture: &Fixture, service: &str) -> serde_json::Value {
    fixture
        .containers()
        .into_iter()
        .find(|c| c["Service"] == service)
        .unwrap_or_else(|| panic!("no container for {service}"))
}

#[test]
fn host_reaches_a_published_tcp_port_while_no_cli_runs_and_down_frees_it() {
    if !can_run() {
        return;
    }
    let port = free_port();
    let fixture = Fixture::new(
        "portstcp",
        &format!(
            "services:\n  web:\n    image: busybox\n    command: {WEB:?}\n    expose: [\"9000\"]\n    ports:\n      - \"127.0.0.1:{port}:80\"\n"
        ),
    );
    fixture.ok(&["up", "-d"]);
    // `up -d` has exited: the monitor's proxy serves the port.
    let answer = http_get(port);
    assert!(answer.contains("hello from web"), "{answer}");
    // Several at once, each complete.
    let answers: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || http_get(port)))
        .collect();
    for answer in answers {
        assert!(answer.join().unwrap().contains("hello from web"));
    }
    let web = ps_json(&fixture, "web");
    assert_eq!(
        web["Publishers"],
        serde_json::json!([
            {"URL": "127.0.0.1", "TargetPort": 80, "PublishedPort": port, "Protocol": "tcp"},
            {"URL": "", "TargetPort": 9000, "PublishedPort": 0, "Protocol": "tcp"}
        ])
    );
    let table = fixture.ok(&["ps"]);
    assert!(
        table.contains(&format!("127.0.0.1:{port}->80/tcp, 9000/tcp")),
        "{table}"
    );
    assert_eq!(
        fixture.ok(&["port", "web", "80"]).trim(),
        format!("127.0.0.1:{port}")
    );
    // The port is held while the container runs...
    assert!(TcpListener::bind(("127.0.0.1", port)).is_err());
    // ...and free once it is stopped, then again after down.
    fixture.ok(&["stop", "-t", "1"]);
    drop(TcpListener::bind(("127.0.0.1", port)).expect("port freed by stop"));
    assert!(fixture.ok(&["ps"]).lines().count() <= 1);
    fixture.ok(&["start"]);
    assert!(http_get(port).contains("hello from web"));
    fixture.ok(&["down", "-t", "1"]);
    drop(TcpListener::bind(("127.0.0.1", port)).expect("port freed by down"));
    // No proxy process is left behind.
    let proxies = Command::new("pgrep")
        .args(["-x", "rcompose-proxy"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for pid in proxies.lines() {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count());
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            !cmdline.contains(&fixture.root.display().to_string()),
            "proxy {pid} of this test survived down ({fds:?} fds)"
        );
    }
}

#[test]
fn udp_round_trip_through_an_ephemeral_port_shown_by_port_and_ps() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::with_image(
        "portsudp",
        "services:\n  echo:\n    image: busybox\n    command: [\"udp-echo\", \"5353\"]\n    ports:\n      - \"127.0.0.1::5353/udp\"\n",
        build_udp_echo,
    );
    fixture.ok(&["up", "-d"]);
    let printed = fixture.ok(&["port", "--protocol", "udp", "echo", "5353"]);
    let (ip, port) = printed.trim().rsplit_once(':').unwrap();
    assert_eq!(ip, "127.0.0.1");
    let port: u16 = port.parse().unwrap();
    assert_ne!(port, 0);
    let published = &ps_json(&fixture, "echo")["Publishers"][0];
    assert_eq!(published["PublishedPort"], port);
    assert_eq!(published["Protocol"], "udp");
    assert!(
        fixture
            .ok(&["ps"])
            .contains(&format!("127.0.0.1:{port}->5353/udp"))
    );
    // TCP on that port number was not published.
    let error = fixture.fails(&["port", "echo", "5353"]);
    assert!(error.contains("no port 5353/tcp"), "{error}");
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buffer = [0u8; 2048];
    let (n, from) = loop {
        client
            .send_to(b"ping over udp", ("127.0.0.1", port))
            .unwrap();
        match client.recv_from(&mut buffer) {
            Ok(received) => break received,
            Err(_) if Instant::now() < deadline => continue,
            Err(error) => panic!("no UDP answer: {error}"),
        }
    };
    assert_eq!(&buffer[..n], b"ping over udp");
    assert_eq!(from.port(), port, "the reply comes from the published port");
    fixture.ok(&["down", "-t", "1"]);
    drop(UdpSocket::bind(("127.0.0.1", port)).expect("UDP port freed by down"));
}

#[test]
fn a_taken_port_fails_up_naming_port_and_holder_and_creates_nothing() {
    if !can_run() {
        return;
    }
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let fixture = Fixture::new(
        "portstaken",
        &format!(
            "services:\n  db:\n    image: busybox\n    command: sleep 60\n  web:\n    image: busybox\n    command: {WEB:?}\n    depends_on: [db]\n    ports:\n      - \"127.0.0.1:{port}:80\"\n"
        ),
    );
    let error = fixture.fails(&["up", "-d"]);
    let me = std::process::id();
    assert!(
        error.contains(&format!("127.0.0.1:{port}/tcp"))
            && error.contains("service web")
            && error.contains(&format!("process {me} (")),
        "{error}"
    );
    // Nothing was created, not even the dependency.
    assert_eq!(fixture.ok(&["ps", "-a", "-q"]).trim(), "");
    drop(holder);

    // Held by a container of another project on the same root: the container is named.
    fixture.ok(&["up", "-d"]);
    assert!(http_get(port).contains("hello from web"));
    let other = fixture.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("compose.yaml"),
        format!(
            "services:\n  web:\n    image: busybox\n    command: sleep 60\n    ports:\n      - \"{port}:80\"\n"
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_rcompose"))
        .env("RCOMPOSE_MASQUERADE", "0")
        .arg("--root")
        .arg(&fixture.root)
        .args(["-p", "portsother", "up", "-d"])
        .current_dir(&other)
        .output()
        .unwrap();
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        error.contains(&format!("0.0.0.0:{port}/tcp"))
            && error.contains("container portstaken-web-1 (project portstaken)"),
        "{error}"
    );
    let listed = Command::new(env!("CARGO_BIN_EXE_rcompose"))
        .env("RCOMPOSE_MASQUERADE", "0")
        .arg("--root")
        .arg(&fixture.root)
        .args(["-p", "portsother", "ps", "-a", "-q"])
        .current_dir(&other)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "");
    // The project's own port does not block its own recreation.
    fixture.ok(&["up", "-d", "--force-recreate"]);
    assert!(http_get(port).contains("hello from web"));
}

#[test]
fn two_replicas_cannot_share_a_fixed_port_but_share_a_range() {
    if !can_run() {
        return;
    }
    let port = free_port();
    let fixture = Fixture::new(
        "portsscale",
        &format!(
            "services:\n  web:\n    image: busybox\n    command: {WEB:?}\n    scale: 2\n    ports:\n      - \"127.0.0.1:{port}:80\"\n"
        ),
    );
    let error = fixture.fails(&["up", "-d"]);
    assert!(
        error.contains(&format!("127.0.0.1:{port}/tcp")) && error.contains("would both publish"),
        "{error}"
    );
    assert_eq!(fixture.ok(&["ps", "-a", "-q"]).trim(), "");
    // A range gives each replica a port of its own.
    let (low, high) = loop {
        let low = free_port();
        if low < u16::MAX - 4 && (1..4).all(|i| TcpListener::bind(("127.0.0.1", low + i)).is_ok()) {
            break (low, low + 3);
        }
    };
    fixture.write(&format!(
        "services:\n  web:\n    image: busybox\n    command: {WEB:?}\n    scale: 2\n    ports:\n      - \"127.0.0.1:{low}-{high}:80\"\n"
    ));
    fixture.ok(&["up", "-d"]);
    let mut ports: Vec<u16> = [1, 2]
        .iter()
        .map(|index| {
            let printed = fixture.ok(&["port", "--index", &index.to_string(), "web", "80"]);
            printed.trim().rsplit_once(':').unwrap().1.parse().unwrap()
        })
        .collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 2, "{ports:?}");
    for port in ports {
        assert!((low..=high).contains(&port));
        assert!(http_get(port).contains("hello from web"));
    }
}

#[test]
fn ports_stay_bound_and_served_across_restart_policy_restarts() {
    if !can_run() {
        return;
    }
    let port = free_port();
    // httpd daemonizes; the container's command exits a second later and the policy restarts it.
    let command = "sh -c 'mkdir -p /www && echo served > /www/index.html && httpd -p 80 -h /www && sleep 1 && exit 3'";
    let fixture = Fixture::new(
        "portsrestart",
        &format!(
            "services:\n  web:\n    image: busybox\n    command: {command:?}\n    restart: always\n    ports:\n      - \"127.0.0.1:{port}:80\"\n"
        ),
    );
    fixture.ok(&["up", "-d"]);
    assert!(http_get(port).contains("served"));
    let id = fixture.id_of("web");
    let state = fixture.root.join("containers").join(&id).join("state.json");
    let restarts = || -> u64 {
        let text = std::fs::read_to_string(&state).unwrap_or_default();
        serde_json::from_str::<serde_json::Value>(&text)
            .map_or(0, |v| v["restart_count"].as_u64().unwrap_or(0))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while restarts() < 2 {
        // Never free in between: the monitor holds the socket through restarts.
        assert!(
            TcpListener::bind(("127.0.0.1", port)).is_err(),
            "port {port} came free during a restart"
        );
        assert!(Instant::now() < deadline, "no restarts seen");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(http_get(port).contains("served"));
    fixture.ok(&["down", "-t", "1"]);
    drop(TcpListener::bind(("127.0.0.1", port)).expect("port freed by down"));
}
