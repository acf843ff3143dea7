//! Semantic checks on the typed project: every reference resolves (services, networks, volumes,
//! secrets, configs), no dependency cycle, no duplicate container name; names that end up in other
//! containers' /etc/hosts and DNS answers are host names; sysctls change only the container's own
//! namespaces. All problems are reported together, each at the position of the reference in the
//! user's file.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::diag::{Diagnostic, Span, did_you_mean};
use super::model::{Project, Service, VolumeType};
use super::typed::walk;
use super::yaml::Node;
use crate::graph::ServiceGraph;
use crate::names::{
    CONTAINER_NAME_RULE, HOST_NAME_RULE, container_name_problem, host_name_problem,
};

/// Checks the project; `root` is the tree it was typed from (for positions).
///
/// `named` are the services named on the command line: `container_name` must be unique among the
/// services a command loads (those and their dependencies, or all when none is named), as v2 checks.
pub fn check(project: &Project, root: &Node, named: &[String]) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let at = |path: &[&str]| -> Span {
        let segments: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        let (node, key_span) = walk(root, &segments);
        key_span
            .filter(|_| node.is_null() || path.len() > 1)
            .unwrap_or_else(|| node.span.clone())
    };
    // Where a value is (not its key): for problems with the value itself.
    let value_at = |path: &[&str]| -> Span {
        let segments: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        walk(root, &segments).0.span.clone()
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
    let selected = (!named.is_empty())
        .then(|| crate::graph::ServiceGraph::new(project).with_dependencies(named));

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
        if let (Some(platform), Some(build)) = (&service.platform, &service.build)
            && !build.platforms.is_empty()
            && !build.platforms.contains(platform)
        {
            problems.push(
                Diagnostic::at(
                    &value_at(&["services", name, "platform"]),
                    format!("platform {platform:?} of service {name:?} is not among its build.platforms {:?}", build.platforms),
                )
                .with_hint("the image is built for build.platforms: add the platform there, or change `platform`"),
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
            // An optional dependency on a service its profiles disable stays in the model.
            let optional = service
                .depends_on
                .get(dependency)
                .is_some_and(|d| !d.required);
            if !project.services.contains_key(dependency)
                && !named_elsewhere(dependency)
                && !optional
            {
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
        check_names(name, service, &value_at, &mut problems);
        check_sysctls(project, name, service, &at, &mut problems);
        if let Some(container_name) = &service.container_name {
            // An empty name is invalid on its own (reported with the name rules), not a clash.
            let counted =
                !container_name.is_empty() && selected.as_ref().is_none_or(|s| s.contains(name));
            if counted && let Some(other) = container_names.insert(container_name, name) {
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
    check_resources(project, &at, &mut problems);
    problems
}

/// What docker compose v2 refuses in resources and a few service values: an external volume that
/// sets how to create it, a secret or config with no source, an undefined model, an empty image,
/// an `oom_score_adj` out of range, an unknown `pull_policy`, a healthcheck test that is no command.
fn check_resources(
    project: &Project,
    at: &dyn Fn(&[&str]) -> Span,
    problems: &mut Vec<Diagnostic>,
) {
    for (key, volume) in &project.volumes {
        let set = [
            ("driver", volume.driver.is_some()),
            ("driver_opts", !volume.driver_opts.is_empty()),
            ("labels", !volume.labels.is_empty()),
        ];
        for (attribute, present) in set {
            if volume.external && present {
                problems.push(
                    Diagnostic::at(&at(&["volumes", key, attribute]), format!("volume {key:?} is external and sets `{attribute}`"))
                        .with_hint("an external volume is created outside the project: remove `external` or `{attribute}`".replace("{attribute}", attribute)),
                );
            }
        }
    }
    for (key, secret) in &project.secrets {
        if !secret.external && secret.file.is_none() && secret.environment.is_none() {
            problems.push(
                Diagnostic::at(
                    &at(&["secrets", key]),
                    format!("secret {key:?} has no source"),
                )
                .with_hint(
                    "set `file:` or `environment:` (or `external: true` for one made elsewhere)",
                ),
            );
        }
    }
    for (key, config) in &project.configs {
        if !config.external
            && config.file.is_none()
            && config.environment.is_none()
            && config.content.is_none()
        {
            problems.push(
                Diagnostic::at(&at(&["configs", key]), format!("config {key:?} has no source"))
                    .with_hint("set `file:`, `environment:` or `content:` (or `external: true` for one made elsewhere)"),
            );
        }
    }
    for (name, service) in &project.services {
        if service.image.as_deref() == Some("") && service.build.is_none() {
            problems.push(
                Diagnostic::at(
                    &at(&["services", name, "image"]),
                    format!("service {name:?} has an empty image"),
                )
                .with_hint(
                    "name the image (an unset variable gives an empty one), or add `build:`",
                ),
            );
        }
        for model in service.models.keys() {
            if !project.models.contains_key(model) {
                problems.push(
                    Diagnostic::at(
                        &at(&["services", name, "models", model]),
                        format!("service {name:?} uses undefined model {model:?}"),
                    )
                    .with_hint("declare it under the top-level `models:`"),
                );
            }
        }
        if let Some(adjustment) = service.oom_score_adj
            && !(-1000..=1000).contains(&adjustment)
        {
            problems.push(
                Diagnostic::at(
                    &at(&["services", name, "oom_score_adj"]),
                    format!("oom_score_adj {adjustment} of service {name:?} is out of range"),
                )
                .with_hint("the kernel takes -1000 (never killed) to 1000 (killed first)"),
            );
        }
        if let Some(policy) = &service.pull_policy
            && !valid_pull_policy(policy)
        {
            problems.push(
                Diagnostic::at(&at(&["services", name, "pull_policy"]), format!("invalid pull_policy {policy:?} in service {name:?}"))
                    .with_hint("use always, never, missing, build, if_not_present, refresh, daily, weekly or every_<N><w|d|h|m|s>"),
            );
        }
        if let Some(test) = service.healthcheck.as_ref().and_then(|h| h.test.first())
            && !matches!(test.as_str(), "CMD" | "CMD-SHELL" | "NONE")
        {
            problems.push(
                Diagnostic::at(&at(&["services", name, "healthcheck", "test"]), format!("healthcheck test of service {name:?} starts with {test:?}"))
                    .with_hint("a test list starts with CMD, CMD-SHELL or NONE: [\"CMD\", \"curl\", \"-f\", \"http://localhost\"]"),
            );
        }
    }
}

/// docker compose v2's `pull_policy` values (`every_` with durations such as `every_12h`, `every_1d2h`).
fn valid_pull_policy(policy: &str) -> bool {
    if matches!(
        policy,
        "always"
            | "never"
            | "build"
            | "if_not_present"
            | "missing"
            | "refresh"
            | "daily"
            | "weekly"
    ) {
        return true;
    }
    let Some(mut rest) = policy.strip_prefix("every_") else {
        return false;
    };
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let unit = rest[digits..].chars().next();
        if digits == 0 || !matches!(unit, Some('w' | 'd' | 'h' | 'm' | 's')) {
            return false;
        }
        rest = &rest[digits + 1..];
    }
    true
}

/// Names that go into /etc/hosts files and DNS answers (`hostname`, `domainname`, network aliases,
/// `links` aliases, `extra_hosts`) must be host names, and `container_name` docker's container name:
/// a line break in one would add lines to the /etc/hosts of every container of a network.
fn check_names(
    name: &str,
    service: &Service,
    value_at: &dyn Fn(&[&str]) -> Span,
    problems: &mut Vec<Diagnostic>,
) {
    // `place` says more about where, after the service.
    let host_name = |what: &str, value: &str, place: &str, path: &[&str]| {
        host_name_problem(value).map(|problem| {
            Diagnostic::at(
                &value_at(path),
                format!("invalid {what} {value:?} in service {name:?}{place}: {problem}"),
            )
            .with_hint(HOST_NAME_RULE)
        })
    };
    if let Some(hostname) = &service.hostname {
        let path = ["services", name, "hostname"];
        problems.extend(host_name("hostname", hostname, "", &path));
    }
    if let Some(domainname) = &service.domainname {
        let path = ["services", name, "domainname"];
        problems.extend(host_name("domainname", domainname, "", &path));
    }
    for (network, settings) in &service.networks {
        let Some(settings) = settings else {
            continue;
        };
        let place = format!(" on network {network:?}");
        for (index, alias) in settings.aliases.iter().enumerate() {
            let index = index.to_string();
            let path = ["services", name, "networks", network, "aliases", &index];
            problems.extend(host_name("network alias", alias, &place, &path));
        }
    }
    for (index, link) in service.links.iter().enumerate() {
        if let Some((_, alias)) = link.split_once(':') {
            let index = index.to_string();
            let path = ["services", name, "links", &index];
            problems.extend(host_name("link alias", alias, "", &path));
        }
    }
    let build_hosts = service.build.iter().flat_map(|build| {
        build
            .extra_hosts
            .iter()
            .enumerate()
            .map(|(index, entry)| (vec!["build", "extra_hosts"], index, entry))
    });
    let hosts = service
        .extra_hosts
        .iter()
        .enumerate()
        .map(|(index, entry)| (vec!["extra_hosts"], index, entry));
    for (keys, index, entry) in hosts.chain(build_hosts) {
        let index = index.to_string();
        let mut path = vec!["services", name];
        path.extend(keys);
        path.push(&index);
        // Canonical entries are `host=ip`.
        let (host, ip) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
        problems.extend(host_name("extra_hosts name", host, "", &path));
        if ip != "host-gateway" && ip.parse::<IpAddr>().is_err() {
            problems.push(
                Diagnostic::at(
                    &value_at(&path),
                    format!("invalid extra_hosts address {ip:?} for {host:?} in service {name:?}"),
                )
                .with_hint("write `host=ip` with an IPv4 or IPv6 address, or `host=host-gateway`"),
            );
        }
    }
    if let Some(container_name) = &service.container_name
        && let Some(problem) = container_name_problem(container_name)
    {
        problems.push(
            Diagnostic::at(
                &value_at(&["services", name, "container_name"]),
                format!("invalid container_name {container_name:?} in service {name:?}: {problem}"),
            )
            .with_hint(CONTAINER_NAME_RULE),
        );
    }
}

/// What a sysctl belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sysctl {
    /// Not a dotted name (`/`, an empty part, white space): it could name another file of /proc/sys.
    Malformed,
    /// Not namespaced: the host's (`kernel.core_pattern`, `vm.*`).
    Host,
    /// Of the network namespace (`net.*`).
    Network,
    /// Of the IPC namespace (`kernel.shm*`, `kernel.msg*`, `kernel.sem`, `fs.mqueue.*`).
    Ipc,
}

/// The kind of a sysctl, by docker's list of the namespaced ones.
fn sysctl_kind(key: &str) -> Sysctl {
    let well_formed = key.split('.').all(|part| {
        !part.is_empty()
            && !part.contains('/')
            && !part.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    if !well_formed {
        Sysctl::Malformed
    } else if key.starts_with("net.") {
        Sysctl::Network
    } else if key.starts_with("kernel.shm")
        || key.starts_with("kernel.msg")
        || key == "kernel.sem"
        || key.starts_with("fs.mqueue.")
    {
        Sysctl::Ipc
    } else {
        Sysctl::Host
    }
}

/// Whether a service's network (or IPC) namespace is the host's: `network_mode: host` (`ipc:
/// host`), or `service:NAME` of a service that has the host's. Gives the service that has `host`
/// when it is another one. A `container:` target is checked by the runtime when the container
/// starts.
fn host_namespace<'a>(
    project: &'a Project,
    service: &'a Service,
    kind: Sysctl,
) -> Option<Option<&'a str>> {
    let mode = |service: &'a Service| match kind {
        Sysctl::Ipc => service.ipc.as_deref(),
        _ => service.network_mode.as_deref(),
    };
    let mut current = mode(service);
    let mut through = None;
    // At most one step per service: a cycle of `service:` modes ends here (and is reported as one).
    for _ in 0..=project.services.len() {
        let target = current?.strip_prefix("service:");
        match target {
            None => return (current == Some("host")).then_some(through),
            Some(target) => {
                let (target_name, target) = project.services.get_key_value(target)?;
                through = Some(target_name.as_str());
                current = mode(target);
            }
        }
    }
    None
}

/// Sysctls must be namespaced, and not of a namespace the container shares with the host: a
/// `net.*` sysctl under `network_mode: host` changes the host's network stack.
fn check_sysctls(
    project: &Project,
    name: &str,
    service: &Service,
    at: &dyn Fn(&[&str]) -> Span,
    problems: &mut Vec<Diagnostic>,
) {
    for key in service.sysctls.keys() {
        let span = at(&["services", name, "sysctls", key]);
        let kind = sysctl_kind(key);
        let problem = match kind {
            Sysctl::Malformed => Diagnostic::at(
                &span,
                format!("invalid sysctl name {key:?} in service {name:?}"),
            )
            .with_hint("name a sysctl with dots, as `net.core.somaxconn`: no `/`, white space or empty part"),
            Sysctl::Host => Diagnostic::at(
                &span,
                format!("sysctl {key:?} in service {name:?} is not namespaced: setting it would change the host"),
            )
            .with_hint("a container may set only namespaced sysctls: net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.*"),
            Sysctl::Network | Sysctl::Ipc => {
                let Some(through) = host_namespace(project, service, kind) else {
                    continue;
                };
                let (what, namespace, mode) = match kind {
                    Sysctl::Ipc => ("IPC settings", "IPC", "ipc"),
                    _ => ("network stack", "network", "network_mode"),
                };
                let hint = match through {
                    None => format!("the container shares the host's {namespace} namespace; remove {mode}: host or the sysctl"),
                    Some(other) => format!("the container shares the host's {namespace} namespace (through service {other:?}, which has {mode}: host); remove the sysctl"),
                };
                Diagnostic::at(
                    &span,
                    format!("sysctl {key:?} in service {name:?} would change the host's {what}"),
                )
                .with_hint(hint)
            }
        };
        problems.push(problem);
    }
}
