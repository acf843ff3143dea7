//! Every service attribute of the Compose Specification either takes effect, tested on real
//! containers, or is refused or warned about with a reason (issue #16: "the whole model reaches the
//! container"). The walk below reads the schema's service properties and fails on one that is in
//! neither list, or on an applying test that does not mention the attribute it claims to cover.
//!
//! `attributes_without_a_test_of_their_own_reach_the_container` covers the attributes applied
//! before issue #16 that had no real-container test of their own.
//!
//! The schema is `../shared/compose-spec/compose-spec.json` (as `tests/schema.rs` reads it); the
//! walk skips without it. The container test is root-gated (see `common::can_run`).

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::Fixture;

/// What becomes of an attribute.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// It takes effect; the test file (under `tests/`) that observes it, which names it as a key.
    Applied(&'static str),
    /// It shapes the project itself (loading, merging, selection, planning, builds), not one
    /// container; the test file that observes it.
    Project(&'static str),
    /// `up`/`create`/`run` refuse it (always, or in the cases said), with the test file.
    Refused(&'static str, &'static str),
    /// A warning says it has no effect here, with the test file or the reason.
    Warned(&'static str, &'static str),
}

use Outcome::*;

/// Each service attribute of the schema and what becomes of it.
const ATTRIBUTES: &[(&str, Outcome)] = &[
    ("annotations", Applied("container_extras.rs")),
    ("attach", Applied("container_extras.rs")),
    ("blkio_config", Applied("resources.rs")),
    ("build", Project("build.rs")),
    ("cap_add", Applied("service_attributes.rs")),
    ("cap_drop", Applied("service_attributes.rs")),
    ("cgroup", Applied("namespaces.rs")),
    ("cgroup_parent", Applied("resources.rs")),
    ("command", Applied("service_attributes.rs")),
    ("configs", Applied("attributes.rs")),
    ("container_name", Applied("container_extras.rs")),
    (
        "cpu_count",
        Warned(
            "service_attributes.rs",
            "Windows only: dockerd discards it on Linux with a warning",
        ),
    ),
    (
        "cpu_percent",
        Warned(
            "service_attributes.rs",
            "Windows only: dockerd discards it on Linux with a warning",
        ),
    ),
    ("cpu_period", Applied("resources.rs")),
    ("cpu_quota", Applied("resources.rs")),
    (
        "cpu_rt_period",
        Applied("resources.rs"), // refused where the kernel lacks RT group scheduling
    ),
    ("cpu_rt_runtime", Applied("resources.rs")),
    ("cpu_shares", Applied("resources.rs")),
    ("cpus", Applied("resources.rs")),
    ("cpuset", Applied("resources.rs")),
    (
        "credential_spec",
        Refused(
            "refusals.rs",
            "Windows only (gMSA), as dockerd on Linux refuses it",
        ),
    ),
    ("depends_on", Project("lifecycle.rs")),
    ("deploy", Applied("resources.rs")),
    ("develop", Project("watch.rs")),
    ("device_cgroup_rules", Applied("resources.rs")),
    ("devices", Applied("service_attributes.rs")),
    ("dns", Applied("networks.rs")),
    ("dns_opt", Applied("service_attributes.rs")),
    ("dns_search", Applied("service_attributes.rs")),
    ("domainname", Applied("namespaces.rs")),
    ("entrypoint", Applied("service_attributes.rs")),
    ("env_file", Applied("service_attributes.rs")),
    ("environment", Applied("service_attributes.rs")),
    ("expose", Applied("ports.rs")),
    ("extends", Project("corpus.rs")),
    ("external_links", Applied("container_extras.rs")),
    ("extra_hosts", Applied("service_attributes.rs")),
    (
        "gpus",
        Refused(
            "refusals.rs",
            "where no /dev/nvidia* exists, as dockerd fails to select a device driver",
        ),
    ),
    ("group_add", Applied("service_attributes.rs")),
    ("healthcheck", Applied("attributes.rs")),
    ("hostname", Applied("namespaces.rs")),
    ("image", Applied("service_attributes.rs")),
    ("init", Applied("service_attributes.rs")),
    ("ipc", Applied("namespaces.rs")),
    (
        "isolation",
        Refused("refusals.rs", "anything but default, as dockerd on Linux"),
    ),
    ("label_file", Applied("service_attributes.rs")),
    ("labels", Applied("service_attributes.rs")),
    ("links", Applied("networks.rs")),
    ("logging", Applied("attributes.rs")),
    ("mac_address", Applied("service_attributes.rs")),
    ("mem_limit", Applied("resources.rs")),
    ("mem_reservation", Applied("resources.rs")),
    ("mem_swappiness", Applied("resources.rs")),
    (
        "memswap_limit",
        Applied("resources.rs"), // warned where the kernel accounts no swap, as dockerd
    ),
    (
        "models",
        Refused(
            "service_attributes.rs",
            "needs Docker Model Runner, which rcompose does not have",
        ),
    ),
    ("network_mode", Applied("networks.rs")),
    ("networks", Applied("networks.rs")),
    ("oom_kill_disable", Applied("resources.rs")),
    ("oom_score_adj", Applied("resources.rs")),
    ("pid", Applied("namespaces.rs")),
    ("pids_limit", Applied("service_attributes.rs")),
    (
        "platform",
        Refused(
            "refusals.rs",
            "when it is not the image's platform, as dockerd",
        ),
    ),
    ("ports", Applied("ports.rs")),
    ("post_start", Applied("attributes.rs")),
    (
        "pre_start",
        Refused("attributes.rs", "pre_start hooks are not supported yet"),
    ),
    ("pre_stop", Applied("attributes.rs")),
    ("privileged", Applied("service_attributes.rs")),
    ("profiles", Project("lifecycle.rs")),
    (
        "provider",
        Refused("attributes.rs", "provider services are not supported"),
    ),
    ("pull_policy", Project("registry.rs")),
    (
        "pull_refresh_after",
        Warned(
            "service_attributes.rs",
            "not supported: pull_policy alone decides when images are pulled",
        ),
    ),
    ("read_only", Applied("service_attributes.rs")),
    ("restart", Applied("verbs.rs")),
    (
        "runtime",
        Refused(
            "refusals.rs",
            "anything but runc, dockerd's own, which this runtime stands for",
        ),
    ),
    ("scale", Applied("lifecycle.rs")),
    ("secrets", Applied("attributes.rs")),
    (
        "security_opt",
        Applied("refusals.rs"), // apparmor=/label= warned where the host lacks them
    ),
    ("shm_size", Applied("service_attributes.rs")),
    ("stdin_open", Applied("monitor.rs")),
    ("stop_grace_period", Applied("up_flags.rs")),
    ("stop_signal", Applied("up_flags.rs")),
    (
        "storage_opt",
        Refused(
            "refusals.rs",
            "dockerd's overlay2 takes it only over xfs with pquota",
        ),
    ),
    ("sysctls", Applied("service_attributes.rs")),
    ("tmpfs", Applied("attributes.rs")),
    ("tty", Applied("monitor.rs")),
    ("ulimits", Applied("service_attributes.rs")),
    (
        "use_api_socket",
        Refused(
            "refusals.rs",
            "there is no Docker API socket to give a container",
        ),
    ),
    ("user", Applied("service_attributes.rs")),
    (
        "userns_mode",
        Applied("refusals.rs"), // host only; anything else refused (no userns-remap here)
    ),
    ("uts", Applied("namespaces.rs")),
    ("volumes", Applied("volumes.rs")),
    ("volumes_from", Applied("volumes.rs")),
    ("working_dir", Applied("service_attributes.rs")),
];

fn schema_properties() -> Option<BTreeSet<String>> {
    let schema = common::compose_schema()?;
    let service = schema
        .pointer("/$defs/service/properties")
        .or_else(|| schema.pointer("/definitions/service/properties"))
        .and_then(|p| p.as_object())
        .expect("the schema defines service properties");
    Some(service.keys().cloned().collect())
}

#[test]
fn every_service_attribute_is_applied_refused_or_warned() {
    let Some(properties) = schema_properties() else {
        return;
    };
    let listed: BTreeSet<String> = ATTRIBUTES.iter().map(|(k, _)| k.to_string()).collect();
    let missing: Vec<&String> = properties.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "service attributes neither applied nor refused nor warned: {missing:?}"
    );
    let unknown: Vec<&String> = listed.difference(&properties).collect();
    assert!(unknown.is_empty(), "not in the schema: {unknown:?}");
    // Each claim names a test file that mentions the attribute as a key.
    for (key, outcome) in ATTRIBUTES {
        let file = match outcome {
            Applied(file) | Project(file) => file,
            Refused(file, reason) | Warned(file, reason) => {
                assert!(
                    !reason.is_empty(),
                    "{key}: refused or warned without a reason"
                );
                file
            }
        };
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{key}: {}: {e}", path.display()));
        let corpus = *file == "corpus.rs";
        assert!(
            corpus || text.contains(&format!("{key}:")) || text.contains(&format!("{key}\\\":")),
            "{key}: {file} does not mention it"
        );
    }
    let count = |f: fn(&Outcome) -> bool| ATTRIBUTES.iter().filter(|(_, o)| f(o)).count();
    println!(
        "{} attributes: {} applied, {} project-level, {} refused, {} warned",
        ATTRIBUTES.len(),
        count(|o| matches!(o, Applied(_))),
        count(|o| matches!(o, Project(_))),
        count(|o| matches!(o, Refused(..))),
        count(|o| matches!(o, Warned(..))),
    );
}

#[test]
fn attributes_without_a_test_of_their_own_reach_the_container() {
    if !common::can_run() {
        return;
    }
    let compose = r#"
services:
  app:
    image: busybox
    entrypoint: ["/bin/sh", "-c"]
    command: ["exec sleep 1000"]
    stop_signal: SIGKILL
    user: "65534:65534"
    group_add: ["1234"]
    working_dir: /etc
    environment: {FROM_ENVIRONMENT: "yes"}
    env_file: [app.env]
    labels: {org.example.direct: "1"}
    label_file: [app.labels]
    cap_drop: [ALL]
    cap_add: [NET_BIND_SERVICE]
    read_only: true
    shm_size: 8m
    pids_limit: 77
    ulimits: {nofile: {soft: 1111, hard: 2222}}
    sysctls: {net.core.somaxconn: "1024"}
    dns_search: [example.internal]
    dns_opt: ["ndots:3"]
    extra_hosts: ["static.example:10.1.2.3"]
    mac_address: "02:42:ac:11:00:99"
    devices: ["/dev/zero:/dev/myzero:rw"]
    init: true
  root:
    image: busybox
    privileged: true
    stop_signal: SIGKILL
    command: ["sleep", "1000"]
"#;
    let fx = Fixture::new("attrs", compose);
    std::fs::write(fx.path().join("app.env"), "FROM_ENV_FILE=yes\n").unwrap();
    std::fs::write(fx.path().join("app.labels"), "org.example.from-file=1\n").unwrap();
    fx.ok(&["up", "-d"]);
    let sh = |service: &str, script: &str| {
        fx.ok(&["exec", "-T", service, "sh", "-c", script])
            .trim()
            .to_string()
    };
    // entrypoint + command, behind the init (tini) as PID 1.
    let pid1 = sh("app", "cat /proc/1/cmdline | tr '\\0' ' '");
    assert!(
        pid1.starts_with("/sbin/docker-init -- /bin/sh -c"),
        "{pid1}"
    );
    assert_eq!(sh("app", "id -u; id -g"), "65534\n65534");
    assert!(sh("app", "id -G").split_whitespace().any(|g| g == "1234"));
    assert_eq!(sh("app", "pwd"), "/etc");
    assert_eq!(
        sh("app", "echo $FROM_ENVIRONMENT $FROM_ENV_FILE"),
        "yes yes"
    );
    // cap_drop ALL + cap_add NET_BIND_SERVICE: only bit 10.
    let caps = sh("app", "grep CapBnd /proc/self/status | cut -f2");
    assert_eq!(caps, "0000000000000400");
    assert_ne!(
        sh("root", "grep CapEff /proc/self/status | cut -f2"),
        "00000000a80425fb",
        "privileged has more than docker's defaults"
    );
    assert!(
        fx.command(&["exec", "-T", "app", "touch", "/file"])
            .status
            .code()
            != Some(0),
        "read_only root was writable"
    );
    assert!(
        sh("app", "df -k /dev/shm | tail -1").contains("8192"),
        "{}",
        sh("app", "df -k /dev/shm")
    );
    assert_eq!(sh("app", "ulimit -n; ulimit -Hn"), "1111\n2222");
    assert_eq!(sh("app", "cat /proc/sys/net/core/somaxconn"), "1024");
    let resolv = sh("app", "cat /etc/resolv.conf");
    assert!(resolv.contains("search example.internal"), "{resolv}");
    assert!(resolv.contains("ndots:3"), "{resolv}");
    assert!(
        sh("app", "cat /etc/hosts").contains("10.1.2.3\tstatic.example"),
        "{}",
        sh("app", "cat /etc/hosts")
    );
    assert_eq!(
        sh("app", "cat /sys/class/net/eth0/address"),
        "02:42:ac:11:00:99"
    );
    assert_eq!(
        sh("app", "head -c 4 /dev/myzero | od -An -tx1 | tr -d ' '"),
        "00000000"
    );
    let id = fx.ok(&["ps", "-q", "app"]).trim().to_string();
    let pids = std::fs::read_to_string(format!("/sys/fs/cgroup/pids/rcompose/{id}/pids.max"))
        .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/rcompose/{id}/pids.max")))
        .unwrap();
    assert_eq!(pids.trim(), "77");
    let listed = fx.ok(&["ps", "--format", "json", "app"]);
    assert!(listed.contains("org.example.direct=1"), "{listed}");
    assert!(listed.contains("org.example.from-file=1"), "{listed}");
    fx.ok(&["down", "-t", "0"]);

    // Refused: service models (Docker Model Runner).
    fx.write("services:\n  app:\n    image: busybox\n    command: [sleep, '1']\n    models: [llm]\nmodels:\n  llm: {model: ai/smollm2}\n");
    let error = fx.fails(&["up", "-d"]);
    assert!(error.contains("Docker Model Runner"), "{error}");
    // Warned: pull_refresh_after, and the Windows-only cpu_count and cpu_percent.
    fx.write("services:\n  app:\n    image: busybox\n    command: [sleep, '1000']\n    pull_refresh_after: 1h\n    cpu_count: 2\n    cpu_percent: 50\n");
    let output = fx.command(&["up", "-d"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    for warning in [
        "pull_refresh_after is not supported",
        "linux does not support CPU count. Count discarded.",
        "linux does not support CPU percent. Percent discarded.",
    ] {
        assert!(stderr.contains(warning), "{stderr}");
    }
    fx.ok(&["down", "-t", "0"]);
}
