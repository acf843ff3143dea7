//! The project as `rcompose config` prints it: the typed model (or, without interpolation, the
//! merged tree) in docker compose v2's printed form, so that the output of both can be compared and
//! loaded again. What v2 prints differently from the model itself lives here, one rule each:
//! only the selected services and the resources they use, `env_file`/`label_file` folded away,
//! `x-` extensions put back, `extra_hosts` sorted by host, and a literal `$` written `$$`.

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
            map.insert(key.clone(), super::extensions::sort_keys(extension.clone()));
        }
    }
    if loaded.interpolated {
        escape_dollars(value);
    }
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
