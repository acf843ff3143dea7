//! Semantic checks on the typed project: every reference resolves (services, networks, volumes,
//! secrets, configs), no dependency cycle, no duplicate container name. All problems are reported
//! together, each at the position of the reference in the user's file.

use std::collections::BTreeMap;

use super::diag::{Diagnostic, Span, did_you_mean};
use super::model::{Project, VolumeType};
use super::typed::walk;
use super::yaml::Node;
use crate::graph::ServiceGraph;

/// Checks the project; `root` is the tree it was typed from (for positions).
pub fn check(project: &Project, root: &Node) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let at = |path: &[&str]| -> Span {
        let segments: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        let (node, key_span) = walk(root, &segments);
        key_span
            .filter(|_| node.is_null() || path.len() > 1)
            .unwrap_or_else(|| node.span.clone())
    };
    let service_names: Vec<&str> = project.services.keys().map(String::as_str).collect();
    let unknown = |what: &str, name: &str, span: Span, known: &[&str], how: &str| {
        let diagnostic = Diagnostic::at(&span, format!("{what} {name:?}"));
        match did_you_mean(name, known.iter().copied()) {
            Some(suggestion) => diagnostic.with_hint(format!("did you mean {suggestion:?}?")),
            None => diagnostic.with_hint(how.to_string()),
        }
    };
    let networks: Vec<&str> = project.networks.keys().map(String::as_str).collect();
    let volumes: Vec<&str> = project.volumes.keys().map(String::as_str).collect();
    let secrets: Vec<&str> = project.secrets.keys().map(String::as_str).collect();
    let configs: Vec<&str> = project.configs.keys().map(String::as_str).collect();
    let mut container_names: BTreeMap<&str, &str> = BTreeMap::new();

    for (name, service) in &project.services {
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            || name.is_empty()
        {
            problems.push(
                Diagnostic::at(
                    &at(&["services", name]),
                    format!("invalid service name {name:?}"),
                )
                .with_hint("service names may contain only letters, digits, `.`, `_` and `-`"),
            );
        }
        if let Some(policy) = &service.restart
            && runtime::container::spec::RestartPolicy::parse(policy).is_none()
        {
            problems.push(
                Diagnostic::at(
                    &at(&["services", name, "restart"]),
                    format!("invalid restart policy {policy:?} in service {name:?}"),
                )
                .with_hint("use no, always, on-failure, on-failure:N or unless-stopped"),
            );
        }
        if let Some(signal) = &service.stop_signal
            && runtime::container::spec::signal_from_name(signal).is_none()
        {
            problems.push(
                Diagnostic::at(
                    &at(&["services", name, "stop_signal"]),
                    format!("unknown stop_signal {signal:?} in service {name:?}"),
                )
                .with_hint("use a signal name such as SIGTERM, SIGINT or SIGQUIT, or its number"),
            );
        }
        if service.image.is_none() && service.build.is_none() && service.provider.is_none() {
            problems.push(
                Diagnostic::at(
                    &at(&["services", name]),
                    format!("service {name:?} has neither an image nor a build context specified"),
                )
                .with_hint("add `image: NAME` or `build: PATH`"),
            );
        }
        let implied = crate::graph::implicit_and_explicit_dependencies(service);
        let named_elsewhere = |dependency: &str| {
            implied.contains(dependency)
                && (service
                    .links
                    .iter()
                    .any(|l| l.split(':').next() == Some(dependency))
                    || service
                        .network_mode
                        .as_deref()
                        .and_then(|m| m.strip_prefix("service:"))
                        == Some(dependency)
                    || service.volumes_from.iter().any(|v| {
                        v.strip_prefix("service:").unwrap_or(v).split(':').next()
                            == Some(dependency)
                    }))
        };
        for dependency in service.depends_on.keys() {
            if !project.services.contains_key(dependency) && !named_elsewhere(dependency) {
                let span = at(&["services", name, "depends_on", dependency]);
                problems.push(unknown(
                    &format!("service {name:?} depends on undefined service"),
                    dependency,
                    span,
                    &service_names,
                    "define that service, or remove it from `depends_on`",
                ));
            }
        }
        for link in &service.links {
            let target = link.split(':').next().unwrap_or(link);
            if !project.services.contains_key(target) {
                problems.push(unknown(
                    &format!("service {name:?} links to undefined service"),
                    target,
                    at(&["services", name, "links"]),
                    &service_names,
                    "`links` names services of this project",
                ));
            }
        }
        for (index, source) in service.volumes_from.iter().enumerate() {
            if source.starts_with("container:") {
                continue;
            }
            let target = source
                .strip_prefix("service:")
                .unwrap_or(source)
                .split(':')
                .next()
                .unwrap_or(source);
            if !project.services.contains_key(target) {
                let index = index.to_string();
                problems.push(unknown(
                    &format!("service {name:?} mounts the volumes of undefined service"),
                    target,
                    at(&["services", name, "volumes_from", &index]),
                    &service_names,
                    "`volumes_from` names a service of this project, or `container:NAME`",
                ));
            }
        }
        if let Some(mode) = &service.network_mode
            && let Some(target) = mode.strip_prefix("service:")
            && !project.services.contains_key(target)
        {
            problems.push(unknown(
                &format!("service {name:?} uses the network namespace of undefined service"),
                target,
                at(&["services", name, "network_mode"]),
                &service_names,
                "`network_mode: service:NAME` names a service of this project",
            ));
        }
        for network in service.networks.keys() {
            if !project.networks.contains_key(network) {
                problems.push(unknown(
                    &format!("service {name:?} refers to undefined network"),
                    network,
                    at(&["services", name, "networks", network]),
                    &networks,
                    "declare it under the top-level `networks:`",
                ));
            }
        }
        for (index, volume) in service.volumes.iter().enumerate() {
            if volume.kind != VolumeType::Volume {
                continue;
            }
            let Some(source) = volume.source.as_deref().filter(|s| !s.is_empty()) else {
                continue;
            };
            if !project.volumes.contains_key(source) {
                let index = index.to_string();
                problems.push(unknown(
                    &format!("service {name:?} refers to undefined volume"),
                    source,
                    at(&["services", name, "volumes", &index]),
                    &volumes,
                    "declare it under the top-level `volumes:`, or write a path starting with `./` or `/` for a bind mount",
                ));
            }
        }
        for (kind, references, known, key) in [
            ("secret", &service.secrets, &secrets, "secrets"),
            ("config", &service.configs, &configs, "configs"),
        ] {
            for (index, reference) in references.iter().enumerate() {
                if !known.contains(&reference.source.as_str()) {
                    let index = index.to_string();
                    problems.push(unknown(
                        &format!("service {name:?} refers to undefined {kind}"),
                        &reference.source,
                        at(&["services", name, key, &index]),
                        known,
                        &format!("declare it under the top-level `{key}:`"),
                    ));
                }
            }
        }
        if let Some(container_name) = &service.container_name {
            if let Some(other) = container_names.insert(container_name, name) {
                problems.push(
                    Diagnostic::at(&at(&["services", name, "container_name"]), format!("services {other:?} and {name:?} both use the container name {container_name:?}"))
                        .with_hint("container names must be unique; remove `container_name` from one of them"),
                );
            }
            let replicas = service
                .deploy
                .as_ref()
                .and_then(|d| d.replicas)
                .map(u64::from)
                .or(service.scale.map(u64::from));
            if replicas.is_some_and(|r| r > 1) {
                problems.push(
                    Diagnostic::at(&at(&["services", name, "container_name"]), format!("service {name:?} sets `container_name` but asks for several replicas"))
                        .with_hint("a fixed container name allows only one container; remove `container_name` or the replicas"),
                );
            }
        }
        if let (Some(scale), Some(replicas)) = (
            service.scale,
            service.deploy.as_ref().and_then(|d| d.replicas),
        ) && u64::from(scale) != u64::from(replicas)
        {
            problems.push(
                Diagnostic::at(
                    &at(&["services", name, "scale"]),
                    format!(
                        "service {name:?} sets `scale: {scale}` and `deploy.replicas: {replicas}`"
                    ),
                )
                .with_hint("set only one of them, or give both the same value"),
            );
        }
    }
    if problems.is_empty()
        && let Some(cycle) = ServiceGraph::new(project).cycle()
    {
        let first = &cycle[0];
        let next = &cycle[1];
        problems.push(
            Diagnostic::at(&at(&["services", first, "depends_on", next]), format!("dependency cycle: {}", cycle.join(" -> ")))
                .with_hint("services cannot depend on each other in a circle; remove one of these dependencies"),
        );
    }
    problems
}
