//! Defaults and derived names, on the merged tree: the `default` network for services that name none,
//! `<project>_<key>` names for networks, volumes, secrets and configs, the default Dockerfile name, and
//! the dependencies that `links`, `volumes_from` and `service:` namespaces imply.

use super::diag::{Diagnostic, Span};
use super::yaml::{Node, Value};
use crate::names;

/// Applies the defaults for project `project`; without `defaults` (`config --no-normalize`) only the
/// checks, secrets' targets and implied dependencies, not the default network, `Dockerfile` and
/// resource names.
pub fn apply(root: &mut Node, project: &str, defaults: bool) -> Result<(), Diagnostic> {
    let mut uses_default_network = false;
    if let Some(services) = root
        .as_map_mut()
        .and_then(|m| m.get_mut("services"))
        .and_then(|e| e.node.as_map_mut())
    {
        for entry in services.values_mut() {
            let service = &mut entry.node;
            let span = service.span.clone();
            let has_networks = service.get("networks").is_some_and(|n| !n.is_null());
            if let (Some(mode), true) = (service.get("network_mode"), has_networks) {
                return Err(Diagnostic::at(
                    &mode.span,
                    "`network_mode` and `networks` cannot be combined",
                )
                .with_hint("remove `networks`, or remove `network_mode` to use networks"));
            }
            // A `provider:` service is run by a plugin, not as a container: it joins no network.
            if defaults
                && !has_networks
                && service.get("network_mode").is_none()
                && service.get("provider").is_none()
            {
                service.insert(
                    "networks",
                    Node::map(&span, vec![("default", Node::null(&span))]),
                );
            }
            if service
                .get("networks")
                .and_then(|n| n.get("default"))
                .is_some()
            {
                uses_default_network = true;
            }
            if let Some(build) = service
                .as_map_mut()
                .and_then(|m| m.get_mut("build"))
                .map(|e| &mut e.node)
                && defaults
                && build.get("dockerfile").is_none()
                && build.get("dockerfile_inline").is_none()
            {
                build.insert("dockerfile", Node::string(&span, "Dockerfile"));
            }
            default_secret_targets(service);
            add_implicit_dependencies(service);
            if let Some(policy) = service
                .get("pull_policy")
                .filter(|p| p.as_text() == Some("if_not_present"))
            {
                let span = policy.span.clone();
                service.insert("pull_policy", Node::string(&span, "missing"));
            }
        }
    }
    if !defaults {
        return Ok(());
    }
    if uses_default_network {
        let span = root.span.clone();
        if root.get("networks").is_none_or(Node::is_null) {
            root.insert("networks", Node::map(&span, vec![]));
        }
        if let Some(networks) = root
            .as_map_mut()
            .and_then(|m| m.get_mut("networks"))
            .map(|e| &mut e.node)
            && networks.get("default").is_none()
        {
            networks.insert("default", Node::map(&span, vec![]));
        }
    }
    for section in ["networks", "volumes", "secrets", "configs"] {
        let Some(resources) = root
            .as_map_mut()
            .and_then(|m| m.get_mut(section))
            .map(|e| &mut e.node)
        else {
            continue;
        };
        let Value::Map(map) = &mut resources.value else {
            continue;
        };
        for (key, entry) in map.iter_mut() {
            let resource = &mut entry.node;
            if resource.get("name").is_some() {
                continue;
            }
            let external = resource.get("external").and_then(Node::as_bool) == Some(true);
            let name = if external {
                key.clone()
            } else {
                names::resource_name(project, key)
            };
            let span = resource.span.clone();
            resource.insert("name", Node::string(&span, name));
        }
    }
    Ok(())
}

/// A secret without `target` is mounted at `/run/secrets/<source>`: the default is written into the
/// model, as compose-go writes it (a relative target stays as written; the runtime puts it under
/// `/run/secrets`).
fn default_secret_targets(service: &mut Node) {
    let Some(Value::Seq(secrets)) = service
        .as_map_mut()
        .and_then(|m| m.get_mut("secrets"))
        .map(|e| &mut e.node.value)
    else {
        return;
    };
    for secret in secrets {
        if secret.get("target").is_some() {
            continue;
        }
        if let Some(source) = secret.get("source").and_then(Node::as_text) {
            let target = format!("/run/secrets/{source}");
            let span = secret.span.clone();
            secret.insert("target", Node::string(&span, target));
        }
    }
}

/// `links`, `volumes_from` and `service:` namespaces (`network_mode`, `ipc`, `pid`, `uts`, `cgroup`)
/// need the other service: each becomes a `depends_on` entry unless one is declared, as compose-go
/// does (with `restart: true` for links and namespaces, which break when their target restarts).
fn add_implicit_dependencies(service: &mut Node) {
    let span = service.span.clone();
    // (service, restart, where it is named)
    let mut implied: Vec<(String, bool, Span)> = Vec::new();
    if let Some(links) = service.get("links").and_then(Node::as_seq) {
        for link in links {
            if let Some(text) = link.as_text() {
                implied.push((
                    text.split(':').next().unwrap_or(text).to_string(),
                    true,
                    link.span.clone(),
                ));
            }
        }
    }
    for key in ["network_mode", "ipc", "pid", "uts", "cgroup"] {
        if let Some(mode) = service.get(key)
            && let Some(target) = mode
                .as_text()
                .and_then(|mode| mode.strip_prefix("service:"))
        {
            implied.push((target.to_string(), true, mode.span.clone()));
        }
    }
    if let Some(sources) = service.get("volumes_from").and_then(Node::as_seq) {
        for source in sources {
            let Some(text) = source.as_text().filter(|s| !s.starts_with("container:")) else {
                continue;
            };
            let name = text.strip_prefix("service:").unwrap_or(text);
            implied.push((
                name.split(':').next().unwrap_or(name).to_string(),
                false,
                source.span.clone(),
            ));
        }
    }
    if implied.is_empty() {
        return;
    }
    if service.get("depends_on").is_none_or(Node::is_null) {
        service.insert("depends_on", Node::map(&span, vec![]));
    }
    let Some(depends_on) = service
        .as_map_mut()
        .and_then(|m| m.get_mut("depends_on"))
        .map(|e| &mut e.node)
    else {
        return;
    };
    for (name, restart, span) in implied {
        if depends_on.get(&name).is_some() {
            continue;
        }
        let mut entries = vec![
            ("condition", Node::string(&span, "service_started")),
            ("required", Node::boolean(&span, true)),
        ];
        if restart {
            entries.push(("restart", Node::boolean(&span, true)));
        }
        depends_on.insert(&name, Node::map(&span, entries));
    }
}
