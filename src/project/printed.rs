//! The project as `rcompose config` prints it: the typed model (or, without interpolation, the
//! merged tree) in docker compose v2's printed form, so that the output of both can be compared and
//! loaded again. What v2 prints differently from the model itself lives here, one rule each:
//! only the selected services and the resources they use, `env_file`/`label_file` folded away,
//! `x-` extensions put back, `extra_hosts` sorted by host, a literal `$` written `$$`, and the keys of
//! each mapping v2 prints from a struct in that struct's order.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Loaded;

/// Shapes the serialized project `value` for printing; `selected` are the services to show.
pub fn shape(value: &mut Value, loaded: &Loaded, selected: &BTreeSet<String>) {
    if let Some(services) = value.get_mut("services").and_then(Value::as_object_mut) {
        services.retain(|name, _| selected.contains(name));
        if loaded.interpolated {
            for service in services.values_mut().filter_map(Value::as_object_mut) {
                // Their contents are in `environment` and `labels` now.
                service.shift_remove("env_file");
                service.shift_remove("label_file");
                sort_extra_hosts(service.get_mut("extra_hosts"));
                sort_extra_hosts(
                    service
                        .get_mut("build")
                        .and_then(|b| b.get_mut("extra_hosts")),
                );
            }
        }
    }
    drop_unused_resources(value);
    super::extensions::restore(value, &loaded.nested_extensions);
    if let Some(map) = value.as_object_mut() {
        let mut top: Vec<(&String, &Value)> = loaded.extensions.iter().collect();
        top.sort_by(|a, b| a.0.cmp(b.0));
        for (key, extension) in top {
            map.insert(key.clone(), extension.clone());
        }
    }
    if loaded.interpolated {
        escape_dollars(value);
    }
    order_like_v2(value, &mut Vec::new());
}

/// `extra_hosts` ordered by host name (v2 keeps them in a map); one host's addresses keep their order.
fn sort_extra_hosts(hosts: Option<&mut Value>) {
    if let Some(Value::Array(items)) = hosts {
        items.sort_by(|a, b| {
            let host = |v: &Value| {
                v.as_str()
                    .and_then(|s| s.split('=').next())
                    .unwrap_or_default()
                    .to_string()
            };
            host(a).cmp(&host(b))
        });
    }
}

/// A literal `$` in a value or key is printed `$$`, so that the output interpolates to the same
/// project when loaded again (as docker compose v2.40 prints it).
fn escape_dollars(value: &mut Value) {
    match value {
        Value::String(text) if text.contains('$') => *text = text.replace('$', "$$"),
        Value::Array(items) => items.iter_mut().for_each(escape_dollars),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('$')) {
                let entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
                *map = entries
                    .into_iter()
                    .map(|(k, v)| (k.replace('$', "$$"), v))
                    .collect();
            }
            map.values_mut().for_each(escape_dollars);
        }
        _ => {}
    }
}

/// Leaves out the networks, volumes, secrets, configs and models no printed service uses, as v2
/// prints a project.
fn drop_unused_resources(project: &mut Value) {
    let mut used: BTreeMap<&str, std::collections::BTreeSet<String>> = BTreeMap::new();
    let services: Vec<&Value> = project
        .get("services")
        .and_then(Value::as_object)
        .map(|s| s.values().collect())
        .unwrap_or_default();
    let sources = |list: Option<&Value>| -> Vec<String> {
        list.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| item.get("source").and_then(Value::as_str))
            .map(str::to_string)
            .collect()
    };
    for service in services {
        let keys = |key: &str| -> Vec<String> {
            service
                .get(key)
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        used.entry("networks").or_default().extend(keys("networks"));
        used.entry("models").or_default().extend(keys("models"));
        let volumes = service.get("volumes").and_then(Value::as_array);
        used.entry("volumes").or_default().extend(
            volumes
                .into_iter()
                .flatten()
                .filter(|v| v.get("type").and_then(Value::as_str) == Some("volume"))
                .filter_map(|v| v.get("source").and_then(Value::as_str))
                .map(str::to_string),
        );
        let secrets = used.entry("secrets").or_default();
        secrets.extend(sources(service.get("secrets")));
        secrets.extend(sources(service.get("build").and_then(|b| b.get("secrets"))));
        let configs = used.entry("configs").or_default();
        configs.extend(sources(service.get("configs")));
        configs.extend(
            service
                .pointer("/credential_spec/config")
                .and_then(Value::as_str)
                .map(str::to_string),
        );
    }
    let Some(map) = project.as_object_mut() else {
        return;
    };
    for section in ["networks", "volumes", "secrets", "configs", "models"] {
        let keep = used.remove(section).unwrap_or_default();
        if let Some(resources) = map.get_mut(section).and_then(Value::as_object_mut) {
            resources.retain(|key, _| keep.contains(key));
            if resources.is_empty() {
                map.shift_remove(section);
            }
        }
    }
}

/// compose-go's `UpdateConfig` (deploy's `update_config` and `rollback_config`).
const UPDATE_CONFIG: &[&str] = &[
    "parallelism",
    "delay",
    "failure_action",
    "monitor",
    "max_failure_ratio",
    "order",
];
/// compose-go's `DeviceRequest` (`gpus` and deploy's device reservations).
const DEVICE_REQUEST: &[&str] = &["capabilities", "driver", "count", "device_ids", "options"];
/// compose-go's `FileReferenceConfig` (a service's `secrets` and `configs`).
const FILE_REFERENCE: &[&str] = &["source", "target", "uid", "gid", "mode"];
/// compose-go's `ServiceHook` (`post_start`, `pre_stop`).
const SERVICE_HOOK: &[&str] = &[
    "command",
    "user",
    "privileged",
    "working_dir",
    "environment",
];
/// compose-go's `FileObjectConfig` (top-level `secrets` and `configs`).
const FILE_OBJECT: &[&str] = &[
    "name",
    "file",
    "environment",
    "content",
    "external",
    "labels",
    "driver",
    "driver_opts",
    "template_driver",
];

/// Key orders of the mappings v2 prints from its structs (compose-go's field order); `*` is any key,
/// `#` any index. Other mappings (labels, environment...) keep their sorted keys.
const V2_KEY_ORDER: &[(&str, &[&str])] = &[
    (
        "services/*",
        &[
            "name",
            "profiles",
            "annotations",
            "attach",
            "build",
            "develop",
            "blkio_config",
            "cap_add",
            "cap_drop",
            "cgroup_parent",
            "cgroup",
            "cpu_count",
            "cpu_percent",
            "cpu_period",
            "cpu_quota",
            "cpu_rt_period",
            "cpu_rt_runtime",
            "cpus",
            "cpuset",
            "cpu_shares",
            "command",
            "configs",
            "container_name",
            "credential_spec",
            "depends_on",
            "deploy",
            "device_cgroup_rules",
            "devices",
            "dns",
            "dns_opt",
            "dns_search",
            "dockerfile",
            "domainname",
            "entrypoint",
            "provider",
            "environment",
            "env_file",
            "expose",
            "extends",
            "external_links",
            "extra_hosts",
            "group_add",
            "gpus",
            "hostname",
            "healthcheck",
            "image",
            "init",
            "ipc",
            "isolation",
            "labels",
            "label_file",
            "links",
            "logging",
            "log_driver",
            "log_opt",
            "mem_limit",
            "mem_reservation",
            "memswap_limit",
            "mem_swappiness",
            "mac_address",
            "models",
            "net",
            "network_mode",
            "networks",
            "oom_kill_disable",
            "oom_score_adj",
            "pid",
            "pids_limit",
            "platform",
            "ports",
            "privileged",
            "pull_policy",
            "read_only",
            "restart",
            "runtime",
            "scale",
            "secrets",
            "security_opt",
            "shm_size",
            "stdin_open",
            "stop_grace_period",
            "stop_signal",
            "storage_opt",
            "sysctls",
            "tmpfs",
            "tty",
            "ulimits",
            "use_api_socket",
            "user",
            "userns_mode",
            "uts",
            "volume_driver",
            "volumes",
            "volumes_from",
            "working_dir",
            "post_start",
            "pre_stop",
        ],
    ),
    ("services/*/provider", &["type", "options"]),
    (
        "services/*/build",
        &[
            "context",
            "dockerfile",
            "dockerfile_inline",
            "entitlements",
            "args",
            "provenance",
            "sbom",
            "ssh",
            "labels",
            "cache_from",
            "cache_to",
            "no_cache",
            "additional_contexts",
            "pull",
            "extra_hosts",
            "isolation",
            "network",
            "target",
            "secrets",
            "shm_size",
            "tags",
            "ulimits",
            "platforms",
            "privileged",
        ],
    ),
    (
        "services/*/blkio_config",
        &[
            "weight",
            "weight_device",
            "device_read_bps",
            "device_read_iops",
            "device_write_bps",
            "device_write_iops",
        ],
    ),
    ("services/*/blkio_config/*/#", &["path", "weight", "rate"]),
    ("services/*/devices/#", &["source", "target", "permissions"]),
    ("services/*/logging", &["driver", "options"]),
    (
        "services/*/deploy",
        &[
            "mode",
            "replicas",
            "labels",
            "update_config",
            "rollback_config",
            "resources",
            "restart_policy",
            "placement",
            "endpoint_mode",
        ],
    ),
    ("services/*/deploy/update_config", UPDATE_CONFIG),
    ("services/*/deploy/rollback_config", UPDATE_CONFIG),
    ("services/*/deploy/resources", &["limits", "reservations"]),
    (
        "services/*/deploy/resources/*",
        &["cpus", "memory", "pids", "devices", "generic_resources"],
    ),
    ("services/*/deploy/resources/*/devices/#", DEVICE_REQUEST),
    ("services/*/gpus/#", DEVICE_REQUEST),
    (
        "services/*/deploy/restart_policy",
        &["condition", "delay", "max_attempts", "window"],
    ),
    (
        "services/*/deploy/placement",
        &["constraints", "preferences", "max_replicas_per_node"],
    ),
    (
        "services/*/networks/*",
        &[
            "aliases",
            "driver_opts",
            "gw_priority",
            "interface_name",
            "ipv4_address",
            "ipv6_address",
            "link_local_ips",
            "mac_address",
            "priority",
        ],
    ),
    (
        "services/*/ports/#",
        &[
            "name",
            "mode",
            "host_ip",
            "target",
            "published",
            "protocol",
            "app_protocol",
        ],
    ),
    (
        "services/*/volumes/#",
        &[
            "type",
            "source",
            "target",
            "read_only",
            "consistency",
            "bind",
            "volume",
            "tmpfs",
            "image",
        ],
    ),
    (
        "services/*/volumes/#/bind",
        &["selinux", "propagation", "create_host_path", "recursive"],
    ),
    (
        "services/*/volumes/#/volume",
        &["labels", "nocopy", "subpath"],
    ),
    ("services/*/volumes/#/tmpfs", &["size", "mode"]),
    ("services/*/secrets/#", FILE_REFERENCE),
    ("services/*/configs/#", FILE_REFERENCE),
    ("services/*/ulimits/*", &["soft", "hard"]),
    (
        "services/*/depends_on/*",
        &["condition", "restart", "required"],
    ),
    (
        "services/*/healthcheck",
        &[
            "test",
            "timeout",
            "interval",
            "retries",
            "start_period",
            "start_interval",
            "disable",
        ],
    ),
    ("services/*/post_start/#", SERVICE_HOOK),
    ("services/*/pre_stop/#", SERVICE_HOOK),
    (
        "services/*/credential_spec",
        &["config", "file", "registry"],
    ),
    ("services/*/models/*", &["endpoint_var", "model_var"]),
    ("services/*/develop", &["watch"]),
    (
        "services/*/develop/watch/#",
        &[
            "path",
            "action",
            "target",
            "exec",
            "include",
            "ignore",
            "initial_sync",
        ],
    ),
    (
        "networks/*",
        &[
            "name",
            "driver",
            "driver_opts",
            "ipam",
            "external",
            "internal",
            "attachable",
            "labels",
            "enable_ipv4",
            "enable_ipv6",
        ],
    ),
    ("networks/*/ipam", &["driver", "config"]),
    (
        "networks/*/ipam/config/#",
        &["subnet", "gateway", "ip_range", "aux_addresses"],
    ),
    (
        "volumes/*",
        &["name", "driver", "driver_opts", "external", "labels"],
    ),
    ("secrets/*", FILE_OBJECT),
    ("configs/*", FILE_OBJECT),
    (
        "models/*",
        &["name", "model", "context_size", "runtime_flags"],
    ),
];

/// The order v2 gives the keys of the mapping at `path`, if it prints that mapping from a struct.
fn v2_order(path: &[String]) -> Option<&'static [&'static str]> {
    V2_KEY_ORDER.iter().find_map(|(pattern, order)| {
        let segments: Vec<&str> = pattern.split('/').collect();
        let matches = segments.len() == path.len()
            && segments.iter().zip(path).all(|(want, got)| match *want {
                "*" => true,
                "#" => got.parse::<usize>().is_ok(),
                literal => literal == got,
            });
        matches.then_some(*order)
    })
}

/// go-yaml's order of map keys (v2 prints every map so): characters compare as such, except that
/// a non-letter sorts before a letter (after a digit, a letter before), and runs of digits compare
/// as numbers.
fn go_key_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut digits = false;
    for i in 0..a.len().min(b.len()) {
        if a[i] == b[i] {
            digits = a[i].is_ascii_digit();
            continue;
        }
        let (a_letter, b_letter) = (a[i].is_alphabetic(), b[i].is_alphabetic());
        if a_letter && b_letter {
            return a[i].cmp(&b[i]);
        }
        if a_letter || b_letter {
            let a_first = if digits { a_letter } else { b_letter };
            return if a_first {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let number = |chars: &[char]| {
            let run: String = chars[i..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            (run.parse::<u128>().unwrap_or(0), run.len())
        };
        let ((a_number, a_len), (b_number, b_len)) = (number(&a), number(&b));
        if a_number != b_number {
            return a_number.cmp(&b_number);
        }
        if a_len != b_len {
            return a_len.cmp(&b_len);
        }
        return a[i].cmp(&b[i]);
    }
    a.len().cmp(&b.len())
}

/// Puts the keys of every struct-like mapping in v2's order: the known keys first in that order,
/// then the others as they were, then the `x-` extensions; the keys of every other mapping below
/// the top level (labels, environment, services...) in go-yaml's order.
fn order_like_v2(value: &mut Value, path: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if !path.is_empty() && v2_order(path).is_none() {
                let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
                entries.sort_by(|a, b| go_key_order(&a.0, &b.0));
                *map = entries.into_iter().collect();
            }
            if let Some(order) = v2_order(path) {
                let rank = |key: &str| match order.iter().position(|k| *k == key) {
                    Some(position) => position,
                    None if key.starts_with("x-") => order.len() + 1,
                    None => order.len(),
                };
                let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
                entries.sort_by_key(|(key, _)| rank(key));
                *map = entries.into_iter().collect();
            }
            for (key, child) in map.iter_mut() {
                path.push(key.clone());
                order_like_v2(child, path);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                path.push(index.to_string());
                order_like_v2(item, path);
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::go_key_order;

    #[test]
    fn orders_keys_as_go_yaml() {
        let mut keys = vec![
            "KAFKA_CFG_LISTENERS",
            "KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP",
            "a10",
            "a9",
            "b",
            "A",
        ];
        keys.sort_by(|a, b| go_key_order(a, b));
        assert_eq!(
            keys,
            [
                "A",
                "KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP",
                "KAFKA_CFG_LISTENERS",
                "a9",
                "a10",
                "b"
            ]
        );
    }
}
