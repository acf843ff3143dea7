//! Defaults and derived names, on the merged tree: the `default` network for services that name none,
//! `<project>_<key>` names for networks, volumes, secrets and configs, the default Dockerfile name.

use super::diag::Diagnostic;
use super::yaml::{Node, Value};
use crate::names;

/// Applies the defaults for project `project`.
pub fn apply(root: &mut Node, project: &str) -> Result<(), Diagnostic> {
    let mut uses_default_network = false;
    if let Some(services) = root.as_map_mut().and_then(|m| m.get_mut("services")).and_then(|e| e.node.as_map_mut()) {
        for entry in services.values_mut() {
            let service = &mut entry.node;
            let span = service.span.clone();
            let has_networks = service.get("networks").is_some_and(|n| !n.is_null());
            if let (Some(mode), true) = (service.get("network_mode"), has_networks) {
                return Err(Diagnostic::at(&mode.span, "`network_mode` and `networks` cannot be combined")
                    .with_hint("remove `networks`, or remove `network_mode` to use networks"));
            }
            if !has_networks && service.get("network_mode").is_none() {
                service.insert("networks", Node::map(&span, vec![("default", Node::null(&span))]));
            }
            if service.get("networks").and_then(|n| n.get("default")).is_some() {
                uses_default_network = true;
            }
            if let Some(build) = service.as_map_mut().and_then(|m| m.get_mut("build")).map(|e| &mut e.node) {
                if build.get("context").is_none() {
                    build.insert("context", Node::string(&span, "."));
                }
                if build.get("dockerfile").is_none() && build.get("dockerfile_inline").is_none() {
                    build.insert("dockerfile", Node::string(&span, "Dockerfile"));
                }
            }
            if let Some(policy) = service.get("pull_policy").filter(|p| p.as_text() == Some("if_not_present")) {
                let span = policy.span.clone();
                service.insert("pull_policy", Node::string(&span, "missing"));
            }
        }
    }
    if uses_default_network {
        let span = root.span.clone();
        if root.get("networks").is_none_or(Node::is_null) {
            root.insert("networks", Node::map(&span, vec![]));
        }
        if let Some(networks) = root.as_map_mut().and_then(|m| m.get_mut("networks")).map(|e| &mut e.node)
            && networks.get("default").is_none()
        {
            networks.insert("default", Node::map(&span, vec![]));
        }
    }
    for section in ["networks", "volumes", "secrets", "configs"] {
        let Some(resources) = root.as_map_mut().and_then(|m| m.get_mut(section)).map(|e| &mut e.node) else { continue };
        let Value::Map(map) = &mut resources.value else { continue };
        for (key, entry) in map.iter_mut() {
            let resource = &mut entry.node;
            if resource.get("name").is_some() {
                continue;
            }
            let external = resource.get("external").and_then(Node::as_text) == Some("true");
            let name = if external { key.clone() } else { names::resource_name(project, key) };
            let span = resource.span.clone();
            resource.insert("name", Node::string(&span, name));
        }
    }
    Ok(())
}
