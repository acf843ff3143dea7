//! Profiles: a service with `profiles` runs only when one of them is active (`--profile`,
//! `COMPOSE_PROFILES`, `*` for all), or when it is named on the command line. A dependency on a disabled
//! service is an error when required, and kept with a warning when `required: false` (an optional
//! dependency on a service that does not exist is dropped with a warning).

use std::collections::BTreeSet;

use super::diag::{Diagnostic, Kind, did_you_mean};
use super::yaml::{Node, Value};

/// Removes disabled services from `root`; `named` are the services named on the command line.
/// Returns the names of the services it removed.
pub fn apply(
    root: &mut Node,
    active: &[String],
    named: &[String],
    warnings: &mut Vec<String>,
) -> Result<BTreeSet<String>, Diagnostic> {
    let Some(services) = root
        .as_map_mut()
        .and_then(|m| m.get_mut("services"))
        .and_then(|e| e.node.as_map_mut())
    else {
        if let Some(name) = named.first() {
            return Err(Diagnostic::new(format!("no such service: {name}"))
                .with_kind(Kind::Usage)
                .with_hint("the project defines no services"));
        }
        return Ok(BTreeSet::new());
    };
    for name in named {
        if !services.contains_key(name) {
            let diagnostic =
                Diagnostic::new(format!("no such service: {name}")).with_kind(Kind::Usage);
            return Err(
                match did_you_mean(name, services.keys().map(String::as_str)) {
                    Some(suggestion) => {
                        diagnostic.with_hint(format!("did you mean {suggestion:?}?"))
                    }
                    None => diagnostic.with_hint("`rcompose config --services` lists the services"),
                },
            );
        }
    }
    let all = active.iter().any(|p| p == "*");
    let mut disabled: BTreeSet<String> = BTreeSet::new();
    let mut profiles_of = std::collections::BTreeMap::new();
    for (name, entry) in services.iter() {
        let profiles: Vec<String> = entry
            .node
            .get("profiles")
            .and_then(Node::as_seq)
            .map(|p| p.iter().filter_map(Node::to_text).collect())
            .unwrap_or_default();
        let enabled = profiles.is_empty()
            || all
            || named.contains(name)
            || profiles.iter().any(|p| active.contains(p));
        if !enabled {
            disabled.insert(name.clone());
            profiles_of.insert(name.clone(), profiles);
        }
    }
    services.retain(|name, _| !disabled.contains(name));
    let defined: BTreeSet<String> = services.keys().cloned().collect();
    for (name, entry) in services.iter_mut() {
        let Some(depends_on) = entry
            .node
            .as_map_mut()
            .and_then(|m| m.get_mut("depends_on"))
            .map(|e| &mut e.node)
        else {
            continue;
        };
        let Value::Map(dependencies) = &mut depends_on.value else {
            continue;
        };
        let mut dropped = Vec::new();
        for (dependency, condition) in dependencies.iter() {
            let optional = condition.node.get("required").and_then(Node::as_bool) == Some(false);
            if !disabled.contains(dependency) {
                // An optional dependency on a service that does not exist only warns (validation
                // reports required ones).
                if optional && !defined.contains(dependency) {
                    warnings.push(format!("service {name:?} depends on undefined service {dependency:?}: ignoring the optional dependency"));
                    dropped.push(dependency.clone());
                }
                continue;
            }
            let required = condition.node.get("required").and_then(Node::as_bool) != Some(false);
            let profiles = profiles_of.get(dependency).cloned().unwrap_or_default();
            if required {
                return Err(Diagnostic::at(
                    &condition.key_span,
                    format!("service {name:?} depends on {dependency:?}, which is disabled by its profiles {profiles:?}"),
                )
                .with_hint(format!("enable it with --profile {}, or set `required: false` on the dependency", profiles.join(" --profile "))));
            }
            // Kept in the model (as compose-go keeps it); nothing waits for a service that is not there.
            warnings.push(format!("service {name:?} depends on {dependency:?}, which is disabled by its profiles: ignoring the dependency"));
        }
        for dependency in dropped {
            dependencies.shift_remove(&dependency);
        }
    }
    Ok(disabled)
}

/// Every profile the project's services name (for `config --profiles`).
pub fn all_profiles(root: &Node) -> BTreeSet<String> {
    root.get("services")
        .and_then(Node::as_map)
        .into_iter()
        .flat_map(|services| services.values())
        .filter_map(|entry| entry.node.get("profiles").and_then(Node::as_seq))
        .flat_map(|profiles| profiles.iter().filter_map(Node::to_text))
        .collect()
}
