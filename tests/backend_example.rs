//! The backend example (`examples/backend`, README's demo) end to end: its base images made the way the
//! demo makes them (`examples/backend/build-images.sh`: Debian's redis, rustc and busybox packages
//! through apt; cached under target/backend-images), the API built from its Dockerfile by `up` (the
//! image is missing), the project brought up in a temporary state root with the API published on
//! 127.0.0.1:18080 (the example's `.env` variable `API_PORT`), requests over HTTP that reach Redis by
//! service name, Redis's data surviving `down` and `up` in its named volume, and `down -v` leaving no
//! container, volume, network or bridge.
//!
//! Needs root, like tests/lifecycle.rs (skipped without, a failure when `RCOMPOSE_TEST_ROOT=1`), and
//! apt-get with package lists the first time (CI runs `apt-get update`).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Fixture, can_run};
use serde_json::{Value, json};

/// The host port the test publishes the API on (the demo uses 8080).
const PORT: u16 = 18080;

/// One HTTP/1.1 request to the published API: (status, JSON body).
fn http(method: &str, path: &str, body: &str) -> std::io::Result<(u16, Value)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], PORT));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let bad = || std::io::Error::other(format!("bad response {response:?}"));
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let (_, body) = response.split_once("\r\n\r\n").ok_or_else(bad)?;
    Ok((status, serde_json::from_str(body).map_err(|_| bad())?))
}

/// Waits (30 s at most) until the API answers /health with 200 through the published port.
fn wait_for_api(fixture: &Fixture) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = None;
    while Instant::now() < deadline {
        match http("GET", "/health", "") {
            Ok((200, _)) => return,
            other => last = Some(other),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "the API did not become healthy on 127.0.0.1:{PORT}: {last:?}\n{}\n{}",
        fixture.ok(&["ps", "-a"]),
        fixture.ok(&["logs", "--tail", "30"])
    );
}

fn get(path: &str) -> Value {
    let (status, body) = http("GET", path, "").unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// Entries of a state directory other than its lock files.
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect()
}

#[test]
fn backend_example_serves_http_and_keeps_redis_data_across_down_and_up() {
    if !can_run() {
        return;
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/backend");
    let compose = std::fs::read_to_string(example.join("compose.yaml")).unwrap();
    let fixture = Fixture::without_image("backendtest", &compose);
    std::fs::write(fixture.path().join(".env"), format!("API_PORT={PORT}\n")).unwrap();
    // The API's build context (`build: ./api`), next to the copied compose.yaml.
    std::fs::create_dir(fixture.path().join("api")).unwrap();
    for file in ["Dockerfile", "main.rs"] {
        std::fs::copy(
            example.join("api").join(file),
            fixture.path().join("api").join(file),
        )
        .unwrap();
    }

    let build = Command::new("bash")
        .arg(example.join("build-images.sh"))
        .arg("--root")
        .arg(&fixture.root)
        .env("RCOMPOSE", env!("CARGO_BIN_EXE_rcompose"))
        .output()
        .expect("run build-images.sh");
    assert!(
        build.status.success(),
        "build-images.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&build.stdout),
        String::from_utf8_lossy(&build.stderr)
    );

    // `up` builds the missing backend-api:latest first: rustc in the toolchain stage, no network.
    fixture.ok(&["up", "-d"]);
    wait_for_api(&fixture);
    // Both healthchecks pass: `redis-cli ping` in the Redis image, busybox wget on /health in the API's.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let containers = fixture.containers();
        assert_eq!(containers.len(), 2, "{containers:?}");
        assert!(
            containers.iter().all(|c| c["State"] == "running"),
            "{containers:?}"
        );
        if containers.iter().all(|c| c["Health"] == "healthy") {
            break;
        }
        assert!(Instant::now() < deadline, "not healthy: {containers:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let ps = fixture.ok(&["ps"]);
    assert!(ps.contains(&format!("127.0.0.1:{PORT}->8080/tcp")), "{ps}");

    // The API reaches Redis by name: a fresh volume counts from 1.
    assert_eq!(get("/hits")["hits"], 1);
    assert_eq!(get("/hits")["hits"], 2);
    let (status, stored) = http("POST", "/notes", "kept across down").unwrap();
    assert_eq!(status, 201, "{stored}");
    assert_eq!(get("/notes")["notes"], json!(["kept across down"]));
    assert_eq!(http("GET", "/nowhere", "").unwrap().0, 404);

    let network = fixture
        .root
        .join("networks/backendtest_default/network.json");
    let network: Value =
        serde_json::from_str(&std::fs::read_to_string(network).expect("the network")).unwrap();
    let bridge = Path::new("/sys/class/net").join(network["bridge"].as_str().unwrap());
    assert!(bridge.exists(), "{}", bridge.display());

    // `down` keeps the named volume; the next `up` finds Redis's append-only file in it.
    fixture.ok(&["down"]);
    assert!(fixture.containers().is_empty());
    assert!(
        TcpStream::connect(("127.0.0.1", PORT)).is_err(),
        "port {PORT} still open after down"
    );
    assert_eq!(
        fixture.ok(&["volume", "ls", "-q"]).trim(),
        "backendtest_redis-data"
    );
    fixture.ok(&["up", "-d"]);
    wait_for_api(&fixture);
    assert_eq!(get("/hits")["hits"], 3);
    assert_eq!(get("/notes")["notes"], json!(["kept across down"]));

    // `down -v` leaves nothing of the project.
    fixture.ok(&["down", "-v"]);
    assert!(fixture.containers().is_empty());
    assert_eq!(fixture.ok(&["volume", "ls", "-q"]).trim(), "");
    for dir in ["networks", "netns"] {
        let left = entries(&fixture.root.join(dir));
        assert!(left.is_empty(), "{dir} left: {left:?}");
    }
    assert!(!bridge.exists(), "bridge left: {}", bridge.display());
    assert!(TcpStream::connect(("127.0.0.1", PORT)).is_err());
}
