//! Networks end to end, through the rcompose binary with real bridges: discovery by service name,
//! alias, container name and replica; isolation between networks; `internal` networks; static
//! addresses; `network_mode: service:`; discovery that follows containers as they come and go; and
//! nothing left behind by `down` (bridges, veths, namespace files, endpoint records).
//!
//! Root-gated (see `common::can_run`). Traffic stays between containers that the tests made: every
//! service's resolver is 127.0.0.1 in its own namespace, so a name that is not in `/etc/hosts` fails
//! there instead of asking the host's name servers.

mod common;

use std::path::Path;

use common::Fixture;

/// The busybox server every test uses: answers `pong <hostname>` to each TCP connection on 7000.
const SERVER: &str = "[\"sh\", \"-c\", \"exec nc -ll -p 7000 -e sh -c 'echo pong $(hostname)'\"]";

/// The kernel links this root's records name: every network's bridge and every endpoint's host veth.
/// (Links are host-wide and other tests make their own at the same time, so only these are checked.)
fn recorded_links(root: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for network in recorded_networks(root) {
        let dir = root.join("networks").join(&network);
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("network.json")).unwrap()).unwrap();
        names.push(record["bridge"].as_str().unwrap().to_string());
        for endpoint in std::fs::read_dir(dir.join("endpoints")).unwrap().flatten() {
            let record: serde_json::Value =
                serde_json::from_slice(&std::fs::read(endpoint.path()).unwrap()).unwrap();
            names.push(record["host_interface"].as_str().unwrap().to_string());
        }
    }
    names
}

/// Static resolver test programs (`resolve NAME` prints every IPv4 address `getaddrinfo` gives),
/// built with glibc and with musl when their compilers are installed (CI installs both), into the
/// image's `/bin`. Returns the names of the programs built.
fn resolver_programs(rootfs: &Path) -> Vec<&'static str> {
    let source = rootfs.join("tmp/resolve.c");
    std::fs::write(&source, RESOLVE_C).unwrap();
    let mut built = Vec::new();
    for (compiler, program) in [("gcc", "resolve-glibc"), ("musl-gcc", "resolve-musl")] {
        let status = std::process::Command::new(compiler)
            .args(["-static", "-O2", "-o"])
            .arg(rootfs.join("bin").join(program))
            .arg(&source)
            .stderr(std::process::Stdio::null())
            .status();
        if status.is_ok_and(|s| s.success()) {
            built.push(program);
        } else {
            assert!(
                std::env::var("RCOMPOSE_TEST_ROOT").as_deref() != Ok("1"),
                "{compiler} is missing (apt-get install musl-tools gcc) and RCOMPOSE_TEST_ROOT=1 is set"
            );
            eprintln!("{program} not built: {compiler} is missing");
        }
    }
    built
}

const RESOLVE_C: &str = r#"
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
int main(int argc, char **argv) {
    struct addrinfo hints, *res, *p;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(argv[1], NULL, &hints, &res);
    if (rc != 0) { printf("error\n"); return 2; }
    for (p = res; p; p = p->ai_next) {
        char text[64];
        inet_ntop(AF_INET, &((struct sockaddr_in *)p->ai_addr)->sin_addr, text, sizeof text);
        printf("%s\n", text);
    }
    return 0;
}
"#;

/// The value of the `key=` line in `output`.
fn line<'a>(output: &'a str, key: &str) -> &'a str {
    output
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= line in:\n{output}"))
}

fn exec(fx: &Fixture, service: &str, script: &str) -> String {
    fx.ok(&["exec", "-T", service, "sh", "-c", script])
}

/// Names of the networks recorded under the fixture's root.
fn recorded_networks(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join("networks"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn services_find_each_other_by_name_and_other_networks_cannot() {
    if !common::can_run() {
        return;
    }
    let compose = format!(
        r#"
services:
  db:
    image: busybox
    stop_signal: SIGKILL
    dns: [127.0.0.1]
    command: {SERVER}
    networks:
      back:
        aliases: [database]
  web:
    image: busybox
    stop_signal: SIGKILL
    dns: [127.0.0.1]
    command: {SERVER}
    scale: 2
    networks: [front, back]
    links: ["db:store"]
  outsider:
    image: busybox
    stop_signal: SIGKILL
    dns: [127.0.0.1]
    command: ["sleep", "1000"]
    networks: [front]
networks:
  front: {{}}
  back: {{}}
"#
    );
    let mut programs = Vec::new();
    let fx = Fixture::with_image("nets", &compose, |rootfs| {
        programs = resolver_programs(rootfs);
    });
    fx.ok(&["up", "-d"]);
    let names = "db database nets-db-1 web nets-web-1 nets-web-2 outsider";
    let out = exec(
        &fx,
        "web",
        &format!(
            "for n in {names}; do echo $n=$(echo | timeout 5 nc $n 7000 2>/dev/null || echo none); done; \
             echo replicas=$(grep ' web' /etc/hosts | cut -f2 | cut -d' ' -f1 | sort -u | wc -l)"
        ),
    );
    assert!(line(&out, "db").starts_with("pong "), "{out}");
    assert_eq!(line(&out, "database"), line(&out, "db"), "{out}");
    // A `links` alias is the linking service's own name for db: db does not know it.
    let linked = exec(&fx, "web", "grep -w store /etc/hosts | cut -f1");
    let db_own = exec(&fx, "web", "grep -w database /etc/hosts | cut -f1");
    assert_eq!(linked, db_own);
    assert!(!linked.trim().is_empty());
    let db_view = exec(&fx, "db", "echo store=$(grep -cw store /etc/hosts)");
    assert_eq!(line(&db_view, "store"), "0", "{db_view}");
    assert_eq!(line(&out, "nets-db-1"), line(&out, "db"), "{out}");
    assert!(line(&out, "web").starts_with("pong "), "{out}");
    assert!(line(&out, "nets-web-2").starts_with("pong "), "{out}");
    // Both replicas resolve under the service name.
    assert_eq!(line(&out, "replicas"), "2", "{out}");
    // glibc's and musl's getaddrinfo both find every replica (from the `front`-only container, one
    // address each), and nothing for a name on a network it is not on.
    // The embedded DNS server (127.0.0.11, for clients that speak DNS) answers from the same names:
    // every replica, and NXDOMAIN for a name on a network the container is not on (the networks have
    // no way out here, so nothing is forwarded).
    let out = exec(
        &fx,
        "outsider",
        "grep -c 127.0.0.11 /etc/resolv.conf; nslookup web 2>&1 | grep -c '^Address: '; \
         nslookup database 2>&1 | grep -c NXDOMAIN",
    );
    let counts: Vec<&str> = out.lines().collect();
    assert_eq!(counts[..2], ["1", "2"], "{out}");
    assert_ne!(counts[2], "0", "{out}");
    for program in &programs {
        let replicas = exec(&fx, "outsider", &format!("{program} web | sort -u | wc -l"));
        assert_eq!(replicas.trim(), "2", "{program}");
        let missing = fx.command(&["exec", "-T", "outsider", program, "database"]);
        assert_eq!(missing.status.code(), Some(2), "{program}: {missing:?}");
    }
    // `outsider` shares only `front` with web, and no network with db.
    let out = exec(
        &fx,
        "outsider",
        "for n in db database web; do echo $n=$(echo | timeout 5 nc $n 7000 2>/dev/null || echo none); done",
    );
    assert_eq!(line(&out, "db"), "none", "{out}");
    assert_eq!(line(&out, "database"), "none", "{out}");
    assert!(line(&out, "web").starts_with("pong "), "{out}");
    let db_address = exec(&fx, "web", "grep -w database /etc/hosts | cut -f1");
    let out = exec(
        &fx,
        "outsider",
        &format!(
            "echo reach=$(echo | timeout 3 nc {} 7000 2>/dev/null || echo none)",
            db_address.trim()
        ),
    );
    assert_eq!(line(&out, "reach"), "none", "{out}");
    // Discovery follows containers: a third replica appears in the others' hosts files at once.
    fx.ok(&["up", "-d", "--scale", "web=3"]);
    let out = exec(
        &fx,
        "outsider",
        "echo replicas=$(grep -c ' web' /etc/hosts)",
    );
    assert_eq!(line(&out, "replicas"), "3", "{out}");
    fx.ok(&["up", "-d", "--scale", "web=1"]);
    let out = exec(
        &fx,
        "outsider",
        "echo replicas=$(grep -c ' web' /etc/hosts)",
    );
    assert_eq!(line(&out, "replicas"), "1", "{out}");

    // `ls` finds the project from its containers' labels.
    let listed: serde_json::Value =
        serde_json::from_str(&fx.ok(&["ls", "--format", "json"])).unwrap();
    assert_eq!(listed[0]["Name"], "nets", "{listed}");
    assert_eq!(listed[0]["Status"], "running(3)", "{listed}");
    assert!(
        listed[0]["ConfigFiles"]
            .as_str()
            .unwrap()
            .ends_with("compose.yaml")
    );
    let links = recorded_links(&fx.root);
    assert_eq!(links.len(), 2 + 4, "{links:?}");
    fx.ok(&["down", "-t", "1"]);
    assert!(recorded_networks(&fx.root).is_empty());
    let left: Vec<&String> = links
        .iter()
        .filter(|l| Path::new("/sys/class/net").join(l).exists())
        .collect();
    assert!(left.is_empty(), "links left after down: {left:?}");
    let netns = std::fs::read_dir(fx.root.join("netns"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(netns, 0, "namespace files left after down");
}

#[test]
fn internal_networks_static_addresses_and_shared_namespaces() {
    if !common::can_run() {
        return;
    }
    let compose = format!(
        r#"
services:
  vault:
    image: busybox
    stop_signal: SIGKILL
    dns: [127.0.0.1]
    command: {SERVER}
    networks:
      secret:
        ipv4_address: 10.231.7.50
  app:
    image: busybox
    stop_signal: SIGKILL
    dns: [127.0.0.1]
    command: ["sleep", "1000"]
    networks: [secret, public]
  sidecar:
    image: busybox
    stop_signal: SIGKILL
    dns: [127.0.0.1]
    command: ["sleep", "1000"]
    network_mode: service:vault
networks:
  secret:
    internal: true
    ipam:
      config:
        - subnet: 10.231.7.0/24
  public: {{}}
"#
    );
    let fx = Fixture::new("inner", &compose);
    fx.ok(&["up", "-d"]);
    // The static address, reachable by name from a container on the same internal network.
    let out = exec(
        &fx,
        "app",
        "echo addr=$(grep -w vault /etc/hosts | cut -f1); echo pong=$(echo | timeout 5 nc vault 7000)",
    );
    assert_eq!(line(&out, "addr"), "10.231.7.50", "{out}");
    assert!(line(&out, "pong").starts_with("pong"), "{out}");
    // The internal network has no way out: no default route, no address on the host's side.
    let out = exec(
        &fx,
        "vault",
        "echo routes=$(ip route | grep -c default); ip route",
    );
    assert_eq!(line(&out, "routes"), "0", "{out}");
    let host_side = std::process::Command::new("ip")
        .args(["-4", "-o", "addr"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&host_side.stdout).contains("10.231.7."),
        "the host has an address on the internal network"
    );
    // `network_mode: service:vault` shares vault's namespace: its port is on the sidecar's loopback.
    let out = exec(
        &fx,
        "sidecar",
        "echo local=$(echo | timeout 5 nc 127.0.0.1 7000)",
    );
    assert!(line(&out, "local").starts_with("pong"), "{out}");
    fx.ok(&["down", "-t", "1"]);
    assert!(recorded_networks(&fx.root).is_empty());
}

#[test]
fn an_external_network_must_exist_and_survives_down() {
    if !common::can_run() {
        return;
    }
    let shared = r#"
services:
  hub:
    image: busybox
    stop_signal: SIGKILL
    dns: [127.0.0.1]
    command: ["sleep", "1000"]
networks:
  default:
    name: shared_hub
"#;
    let consumer = r#"
services:
  spoke:
    image: busybox
    stop_signal: SIGKILL
    dns: [127.0.0.1]
    command: ["sleep", "1000"]
networks:
  default:
    name: shared_hub
    external: true
"#;
    let fx = Fixture::new("hub", shared);
    std::fs::create_dir_all(fx.dir.path().join("spoke")).unwrap();
    std::fs::write(fx.dir.path().join("spoke/compose.yaml"), consumer).unwrap();
    let spoke = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_rcompose"))
            .arg("--root")
            .arg(&fx.root)
            .args(["-f", "spoke/compose.yaml", "-p", "spoke"])
            .env("RCOMPOSE_MASQUERADE", "0")
            .args(args)
            .current_dir(fx.dir.path())
            .output()
            .unwrap()
    };
    // Missing external network: a clear error, nothing created.
    let failed = spoke(&["up", "-d"]);
    assert!(!failed.status.success());
    let error = String::from_utf8_lossy(&failed.stderr);
    assert!(error.contains("shared_hub"), "{error}");
    assert!(error.contains("external"), "{error}");
    fx.ok(&["up", "-d"]);
    let started = spoke(&["up", "-d"]);
    assert!(started.status.success(), "{started:?}");
    // The spoke resolves the hub's container on the shared network.
    let out = spoke(&[
        "exec",
        "-T",
        "spoke",
        "sh",
        "-c",
        "grep -c hub-hub-1 /etc/hosts",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1", "{out:?}");
    assert!(spoke(&["down", "-t", "1"]).status.success());
    assert_eq!(recorded_networks(&fx.root), ["shared_hub"]);
    fx.ok(&["down", "-t", "1"]);
    assert!(recorded_networks(&fx.root).is_empty());
}
