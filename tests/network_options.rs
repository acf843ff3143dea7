//! Network settings of issue #16 (part B) on real bridges: `driver_opts`
//! `com.docker.network.bridge.enable_icc: "false"`, `ipam.config.aux_addresses` (never given to a
//! container), `gw_priority` (the default route), `interface_name`, `link_local_ips` (IPv4);
//! endpoint `driver_opts` sysctls on their interface; `enable_ipv4: false`, `ipv6_address` and IPv6
//! link-local addresses refused.
//!
//! Root-gated (see `common::can_run`). Traffic stays between the test's containers.

mod common;

use common::Fixture;

const SERVER: &str = "[\"sh\", \"-c\", \"exec nc -ll -p 7000 -e echo pong\"]";

fn sh(fx: &Fixture, service: &str, script: &str) -> String {
    fx.ok(&["exec", "-T", service, "sh", "-c", script])
        .trim()
        .to_string()
}

#[test]
fn icc_off_isolates_the_containers_of_a_network_from_each_other() {
    if !common::can_run() {
        return;
    }
    let compose = format!(
        r#"
services:
  server:
    image: busybox
    stop_signal: SIGKILL
    dns: [127.0.0.1]
    command: {SERVER}
    networks: [quiet, chatty]
  on_quiet:
    image: busybox
    stop_signal: SIGKILL
    dns: [127.0.0.1]
    command: ["sleep", "1000"]
    networks: [quiet]
  on_chatty:
    image: busybox
    stop_signal: SIGKILL
    dns: [127.0.0.1]
    command: ["sleep", "1000"]
    networks: [chatty]
networks:
  quiet:
    driver_opts:
      com.docker.network.bridge.enable_icc: "false"
  chatty: {{}}
"#
    );
    let fx = Fixture::new("icc", &compose);
    fx.ok(&["up", "-d"]);
    let reply = |service: &str| sh(&fx, service, "echo | timeout 3 nc server 7000 || echo none");
    assert_eq!(reply("on_chatty"), "pong");
    assert_eq!(reply("on_quiet"), "none");
    fx.ok(&["down", "-t", "0"]);
}

#[test]
fn aux_addresses_gw_priority_and_interface_names() {
    if !common::can_run() {
        return;
    }
    let compose = r#"
services:
  app:
    image: busybox
    stop_signal: SIGKILL
    dns: [127.0.0.1]
    command: ["sleep", "1000"]
    networks:
      front:
        link_local_ips: [169.254.8.8]
      back:
        gw_priority: 10
        interface_name: data0
networks:
  front:
    ipam:
      config:
        - subnet: 10.231.21.0/24
          aux_addresses: {router: 10.231.21.2, printer: 10.231.21.3}
  back:
    ipam:
      config:
        - subnet: 10.231.22.0/24
"#;
    let fx = Fixture::new("netopts", compose);
    fx.ok(&["up", "-d"]);
    // The reserved addresses are skipped: the first free one after the gateway is .4.
    let front = sh(
        &fx,
        "app",
        "ip -4 -o addr | awk '{print $4}' | grep '^10.231.21.'",
    );
    assert_eq!(front, "10.231.21.4/24");
    // link_local_ips: one more address on the endpoint.
    let local = sh(
        &fx,
        "app",
        "ip -4 -o addr | awk '{print $4}' | grep '^169.254.'",
    );
    assert_eq!(local, "169.254.8.8/16");
    // interface_name names the endpoint; gw_priority picks the default route.
    let back = sh(&fx, "app", "ip -4 -o addr show data0 | awk '{print $4}'");
    assert!(back.starts_with("10.231.22."), "{back}");
    let route = sh(&fx, "app", "ip route | grep default");
    assert!(
        route.contains("via 10.231.22.1") && route.contains("data0"),
        "{route}"
    );
    fx.ok(&["down", "-t", "0"]);
}

#[test]
fn ipv6_settings_are_refused() {
    if !common::can_run() {
        return;
    }
    let fx = Fixture::new(
        "netrefuse",
        "services:\n  app:\n    image: busybox\n    command: [sleep, '1']\nnetworks:\n  default:\n    enable_ipv4: false\n",
    );
    let error = fx.fails(&["up", "-d"]);
    assert!(
        error.contains("enable_ipv4: false is not supported"),
        "{error}"
    );
    for (settings, expected) in [
        ("{ipv6_address: 'fd00::5'}", "ipv6_address"),
        (
            "{link_local_ips: ['fe80::1']}",
            "is not an IPv4 link-local address",
        ),
    ] {
        fx.write(&format!(
            "services:\n  app:\n    image: busybox\n    command: [sleep, '1']\n    networks:\n      default: {settings}\n"
        ));
        let error = fx.fails(&["up", "-d"]);
        assert!(error.contains(expected), "{error}");
        assert!(fx.containers().is_empty(), "{error}");
    }
}

#[test]
fn endpoint_sysctls_reach_the_interface_of_their_network() {
    if !common::can_run() {
        return;
    }
    let compose = r#"
services:
  app:
    image: busybox
    stop_signal: SIGKILL
    command: ["sleep", "1000"]
    networks:
      front: {}
      back:
        interface_name: back0
        driver_opts:
          com.docker.network.endpoint.sysctls: "net.ipv4.conf.IFNAME.log_martians=1,net.ipv4.conf.IFNAME.arp_ignore=2"
networks:
  front: {}
  back: {}
"#;
    let fx = Fixture::new("epsysctl", compose);
    fx.ok(&["up", "-d"]);
    let read = |path: &str| sh(&fx, "app", &format!("cat /proc/sys/net/ipv4/conf/{path}"));
    assert_eq!(read("back0/log_martians"), "1");
    assert_eq!(read("back0/arp_ignore"), "2");
    // `back` sorts first: `front` is the second interface.
    assert_eq!(
        read("eth1/arp_ignore"),
        "0",
        "the other interface keeps its own"
    );
    fx.ok(&["down", "-t", "0"]);
    // Not per interface, or another endpoint option: refused with the service and network.
    fx.write("services:\n  app:\n    image: busybox\n    networks:\n      back:\n        driver_opts:\n          com.docker.network.endpoint.sysctls: \"net.core.somaxconn=1\"\nnetworks:\n  back: {}\n");
    let error = fx.fails(&["up", "-d"]);
    assert!(error.contains("not a per-interface setting"), "{error}");
    fx.write("services:\n  app:\n    image: busybox\n    networks:\n      back:\n        driver_opts:\n          com.docker.network.endpoint.macvlan.mode: bridge\nnetworks:\n  back: {}\n");
    let error = fx.fails(&["up", "-d"]);
    assert!(error.contains("is not supported"), "{error}");
    assert!(fx.containers().is_empty());
}
