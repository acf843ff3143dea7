//! Short syntax to long syntax, on each file's node tree before files are merged.
//!
//! Merging needs one shape per attribute (ports merge on `{host_ip, target, published, protocol}`,
//! volumes on `target`, `environment` list and map forms mix), so, as compose-go does, every file is
//! put in canonical form first. Malformed short forms (bad port or volume strings) are reported here,
//! where the position is still the user's text.

use super::diag::{Diagnostic, Span};
use super::yaml::{Node, Typed, Value};

type Result<T> = std::result::Result<T, Diagnostic>;

thread_local! {
    /// Set while canonicalizing an uninterpolated file: a value holding `${...}` that cannot be put in
    /// long form is kept as written instead of being an error.
    static LENIENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Canonicalizes a whole compose file in place. `lenient` is for files that were not interpolated.
pub fn canonicalize(file: &mut Node, lenient: bool) -> Result<()> {
    LENIENT.with(|flag| flag.set(lenient));
    let result = canonicalize_file(file);
    LENIENT.with(|flag| flag.set(false));
    result
}

fn holds_template(node: &Node) -> bool {
    match &node.value {
        Value::Scalar(scalar) => scalar.text.contains('$'),
        Value::Seq(items) => items.iter().any(holds_template),
        Value::Map(map) => map.values().any(|entry| holds_template(&entry.node)),
        Value::Null => false,
    }
}

fn canonicalize_file(file: &mut Node) -> Result<()> {
    if !file.is_null() && file.as_map().is_none() {
        return Err(Diagnostic::at(
            &file.span,
            format!(
                "a compose file must be a mapping, not a {}",
                file.kind_name()
            ),
        )
        .with_hint("start the file with top-level keys such as `services:`"));
    }
    if let Some(include) = file.remove("include") {
        file.insert("include", canonical_include(include)?);
    }
    for section in ["networks", "volumes", "secrets", "configs"] {
        if let Some(map) = file.get(section).and_then(Node::as_map).cloned() {
            let mut section_node = file
                .remove(section)
                .unwrap_or_else(|| Node::null(&file.span));
            for (name, entry) in map {
                let mut resource = entry.node;
                if resource.is_null() {
                    resource = Node::map(&resource.span, Vec::new());
                }
                canonical_resource(&mut resource)?;
                section_node.insert(&name, resource);
            }
            file.insert(section, section_node);
        }
    }
    if let Some(services) = file.as_map_mut().and_then(|map| map.get_mut("services")) {
        let services = &mut services.node;
        if services.is_null() {
            return Ok(());
        }
        let Value::Map(map) = &mut services.value else {
            return Err(expected(services, "a mapping of service names to services"));
        };
        for entry in map.values_mut() {
            let service = &mut entry.node;
            if service.is_null() {
                *service = Node::map(&service.span, Vec::new());
            }
            canonical_service(service)?;
        }
    }
    Ok(())
}

fn expected(node: &Node, what: &str) -> Diagnostic {
    let diagnostic = Diagnostic::at(
        &node.span,
        format!("expected {what}, found a {}", node.kind_name()),
    );
    let hint = match (&node.value, what.contains("list")) {
        (Value::Scalar(scalar), true) => {
            format!("write a list, one item per line:\n    - {}", scalar.text)
        }
        (Value::Map(_), true) if !what.contains("mapping") => {
            "write a list (`- item` lines), not a mapping".to_string()
        }
        (Value::Seq(_), false) if what.contains("mapping") => {
            "write a mapping (`key: value` lines), not a list".to_string()
        }
        _ => "see the Compose Specification for the forms this attribute accepts".to_string(),
    };
    diagnostic.with_hint(hint)
}

/// Applies `transform` to the value of `key` when present (and not null).
fn transform(
    node: &mut Node,
    key: &str,
    transform: impl FnOnce(Node) -> Result<Node>,
) -> Result<()> {
    let Some(map) = node.as_map_mut() else {
        return Ok(());
    };
    let Some(entry) = map.get_mut(key) else {
        return Ok(());
    };
    if entry.node.is_null() {
        return Ok(());
    }
    let tag = entry.node.tag;
    let value = std::mem::replace(&mut entry.node, Node::null(&entry.key_span));
    let original = LENIENT
        .with(|flag| flag.get())
        .then(|| value.clone())
        .filter(holds_template);
    let mut canonical = match (transform(value), original) {
        (Ok(canonical), _) => canonical,
        (Err(_), Some(original)) => original,
        (Err(error), None) => return Err(error),
    };
    canonical.tag = canonical.tag.or(tag);
    entry.node = canonical;
    Ok(())
}

fn canonical_include(include: Node) -> Result<Node> {
    let items = match &include.value {
        Value::Seq(items) => items.clone(),
        Value::Scalar(_) => vec![include.clone()],
        _ => return Err(expected(&include, "a list of files to include")),
    };
    let mut out = Vec::new();
    for item in items {
        match &item.value {
            Value::Scalar(_) => out.push(Node::map(
                &item.span,
                vec![("path", Node::seq(&item.span, vec![item.clone()]))],
            )),
            Value::Map(_) => {
                let mut item = item.clone();
                transform(&mut item, "path", |path| Ok(string_list(path)))?;
                transform(&mut item, "env_file", |path| Ok(string_list(path)))?;
                out.push(item);
            }
            _ => return Err(expected(&item, "a file path or a mapping with `path`")),
        }
    }
    Ok(Node::seq(&include.span, out))
}

/// Top-level networks, volumes, secrets and configs: legacy `external: {name: x}` becomes
/// `external: true` plus `name: x`; label and option lists become maps.
fn canonical_resource(resource: &mut Node) -> Result<()> {
    if resource.as_map().is_none() {
        return Err(expected(resource, "a mapping"));
    }
    if let Some(external) = resource.get("external").cloned()
        && let Some(name) = external.get("name")
    {
        let name = name.clone();
        resource.insert("external", Node::boolean(&external.span, true));
        if resource.get("name").is_none() {
            resource.insert("name", name);
        }
    }
    transform(resource, "labels", key_value_map)?;
    transform(resource, "driver_opts", key_value_map)?;
    Ok(())
}

fn canonical_service(service: &mut Node) -> Result<()> {
    if service.as_map().is_none() {
        return Err(expected(service, "a service definition (a mapping)"));
    }
    transform(service, "build", canonical_build)?;
    transform(service, "extends", |node| match &node.value {
        Value::Scalar(_) => Ok(Node::map(&node.span, vec![("service", node.clone())])),
        _ => Ok(node),
    })?;
    transform(service, "command", shell_command)?;
    transform(service, "entrypoint", shell_command)?;
    transform(service, "depends_on", canonical_depends_on)?;
    transform(service, "env_file", canonical_env_file)?;
    transform(service, "label_file", |node| Ok(string_list(node)))?;
    transform(service, "environment", nullable_key_value_map)?;
    for key in ["labels", "annotations", "sysctls", "storage_opt"] {
        transform(service, key, key_value_map)?;
    }
    for key in ["dns", "dns_search", "tmpfs", "dns_opt"] {
        transform(service, key, |node| Ok(string_list(node)))?;
    }
    transform(service, "expose", |node| {
        Ok(scalars_to_strings(string_list(node)))
    })?;
    transform(service, "extra_hosts", canonical_extra_hosts)?;
    transform(service, "networks", canonical_service_networks)?;
    transform(service, "ports", canonical_ports)?;
    transform(service, "volumes", canonical_volumes)?;
    transform(service, "secrets", canonical_file_references)?;
    transform(service, "configs", canonical_file_references)?;
    transform(service, "devices", canonical_devices)?;
    transform(service, "healthcheck", canonical_healthcheck)?;
    transform(service, "logging", |mut node| {
        transform(&mut node, "options", nullable_key_value_map)?;
        Ok(node)
    })?;
    transform(service, "deploy", |mut node| {
        transform(&mut node, "labels", key_value_map)?;
        Ok(node)
    })?;
    transform(service, "models", |node| match &node.value {
        Value::Seq(items) => {
            let entries = items
                .iter()
                .map(|item| (item.to_text().unwrap_or_default(), Node::null(&item.span)))
                .collect::<Vec<_>>();
            Ok(Node::map(
                &node.span,
                entries
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.clone()))
                    .collect(),
            ))
        }
        _ => Ok(node),
    })?;
    for hook in ["post_start", "pre_stop", "pre_start"] {
        transform(service, hook, |mut node| {
            if let Value::Seq(items) = &mut node.value {
                for item in items {
                    transform(item, "command", shell_command)?;
                    transform(item, "environment", nullable_key_value_map)?;
                }
            }
            Ok(node)
        })?;
    }
    transform(service, "develop", |mut node| {
        if let Some(Value::Seq(rules)) = node
            .as_map_mut()
            .and_then(|m| m.get_mut("watch"))
            .map(|e| &mut e.node.value)
        {
            for rule in rules {
                transform(rule, "ignore", |node| Ok(string_list(node)))?;
                transform(rule, "include", |node| Ok(string_list(node)))?;
                transform(rule, "exec", |mut exec| {
                    transform(&mut exec, "command", shell_command)?;
                    transform(&mut exec, "environment", nullable_key_value_map)?;
                    Ok(exec)
                })?;
            }
        }
        Ok(node)
    })?;
    Ok(())
}

fn canonical_build(node: Node) -> Result<Node> {
    let mut build = match &node.value {
        Value::Scalar(_) => Node::map(&node.span, vec![("context", node.clone())]),
        Value::Map(_) => node,
        _ => return Err(expected(&node, "a build context path or a build mapping")),
    };
    transform(&mut build, "args", nullable_key_value_map)?;
    transform(&mut build, "labels", key_value_map)?;
    transform(&mut build, "additional_contexts", key_value_map)?;
    transform(&mut build, "extra_hosts", canonical_extra_hosts)?;
    transform(&mut build, "secrets", canonical_file_references)?;
    for key in [
        "cache_from",
        "cache_to",
        "tags",
        "platforms",
        "ssh",
        "entitlements",
    ] {
        transform(&mut build, key, |node| Ok(string_list(node)))?;
    }
    Ok(build)
}

/// A string or a list: a list of strings.
fn string_list(node: Node) -> Node {
    match &node.value {
        Value::Scalar(_) => Node::seq(&node.span.clone(), vec![node]),
        _ => node,
    }
}

/// Turns number and boolean scalars into strings (for attributes the model types as strings).
fn scalars_to_strings(mut node: Node) -> Node {
    match &mut node.value {
        Value::Scalar(scalar) => scalar.quoted = true,
        Value::Seq(items) => {
            for item in items {
                if let Value::Scalar(scalar) = &mut item.value {
                    scalar.quoted = true;
                }
            }
        }
        _ => {}
    }
    node
}

/// `command`/`entrypoint` given as a string is split like a shell would (without running a shell).
fn shell_command(node: Node) -> Result<Node> {
    match &node.value {
        Value::Scalar(scalar) => {
            let words = shell_words::split(&scalar.text).map_err(|error| {
                Diagnostic::at(
                    &node.span,
                    format!("cannot split command {:?}: {error}", scalar.text),
                )
                .with_hint("close the quote, or write the command as a list of arguments")
            })?;
            Ok(Node::seq(
                &node.span,
                words
                    .into_iter()
                    .map(|word| Node::string(&node.span, word))
                    .collect(),
            ))
        }
        Value::Seq(_) => Ok(scalars_to_strings(node)),
        _ => Err(expected(&node, "a command string or a list of arguments")),
    }
}

/// `KEY=VALUE` lists or maps to a map of strings (`environment`, `labels`, ...). Values keep being
/// nullable here: a bare `KEY` is resolved from the environment during normalization.
fn nullable_key_value_map(node: Node) -> Result<Node> {
    key_value_map_with(node, true)
}

fn key_value_map(node: Node) -> Result<Node> {
    key_value_map_with(node, false)
}

fn key_value_map_with(node: Node, nullable: bool) -> Result<Node> {
    let mut out = Node::map(&node.span, Vec::new());
    match node.value {
        Value::Seq(items) => {
            for item in items {
                let Some(text) = item.to_text() else {
                    return Err(expected(&item, "a `KEY=VALUE` string"));
                };
                match text.split_once('=') {
                    Some((key, value)) => out.insert(key, Node::string(&item.span, value)),
                    None if nullable => out.insert(&text, Node::null(&item.span)),
                    None => out.insert(&text, Node::string(&item.span, "")),
                }
            }
        }
        Value::Map(map) => {
            for (key, entry) in map {
                let value = match &entry.node.value {
                    Value::Null if nullable => Node::null(&entry.node.span),
                    Value::Null => Node::string(&entry.node.span, ""),
                    Value::Scalar(scalar) => {
                        let mut node = Node::string(&entry.node.span, scalar.text.clone());
                        if let Typed::Float(float) = scalar.typed() {
                            node = Node::string(&entry.node.span, float.to_string());
                        }
                        node
                    }
                    _ => return Err(expected(&entry.node, "a string value")),
                };
                let mut value = value;
                value.tag = entry.node.tag;
                out.as_map_mut().expect("built as a map").insert(
                    key,
                    super::yaml::Entry {
                        key_span: entry.key_span,
                        node: value,
                    },
                );
            }
        }
        Value::Scalar(_) | Value::Null => {
            return Err(expected(
                &node,
                "a mapping or a list of `KEY=VALUE` strings",
            ));
        }
    }
    Ok(out)
}

fn canonical_depends_on(node: Node) -> Result<Node> {
    let mut out = Node::map(&node.span, Vec::new());
    let defaults = |span: &Span| {
        Node::map(
            span,
            vec![
                ("condition", Node::string(span, "service_started")),
                ("required", Node::boolean(span, true)),
            ],
        )
    };
    match node.value {
        Value::Seq(items) => {
            for item in items {
                let Some(name) = item.to_text() else {
                    return Err(expected(&item, "a service name"));
                };
                out.insert(&name, defaults(&item.span));
            }
        }
        Value::Map(map) => {
            for (name, entry) in map {
                let mut condition = entry.node;
                if condition.is_null() {
                    condition = defaults(&condition.span);
                }
                if condition.as_map().is_none() {
                    return Err(expected(&condition, "a mapping with `condition`"));
                }
                if condition.get("condition").is_none() {
                    condition.insert(
                        "condition",
                        Node::string(&condition.span, "service_started"),
                    );
                }
                if condition.get("required").is_none() {
                    condition.insert("required", Node::boolean(&condition.span, true));
                }
                out.insert(&name, condition);
            }
        }
        _ => return Err(expected(&node, "a list of service names or a mapping")),
    }
    Ok(out)
}

fn canonical_env_file(node: Node) -> Result<Node> {
    let items = match string_list(node.clone()).value {
        Value::Seq(items) => items,
        _ => {
            return Err(expected(
                &node,
                "a file path, a list, or a list of `{path, required}`",
            ));
        }
    };
    let mut out = Vec::new();
    for item in items {
        let entry = match &item.value {
            Value::Scalar(_) => Node::map(
                &item.span,
                vec![
                    ("path", item.clone()),
                    ("required", Node::boolean(&item.span, true)),
                ],
            ),
            Value::Map(_) => {
                let mut item = item.clone();
                if item.get("required").is_none() {
                    item.insert("required", Node::boolean(&item.span, true));
                }
                item
            }
            _ => return Err(expected(&item, "a file path or a mapping with `path`")),
        };
        out.push(entry);
    }
    Ok(Node::seq(&node.span, out))
}

/// `extra_hosts` as a list of `host=ip` (or legacy `host:ip`) strings or a map, to `host=ip` strings.
fn canonical_extra_hosts(node: Node) -> Result<Node> {
    let mut out = Vec::new();
    match &node.value {
        Value::Seq(items) => {
            for item in items {
                let Some(text) = item.to_text() else {
                    return Err(expected(item, "a `host=ip` string"));
                };
                let entry = match text.split_once('=') {
                    Some((host, ip)) => extra_host(host, ip),
                    None => match text.split_once(':') {
                        Some((host, ip)) => extra_host(host, ip),
                        None => {
                            return Err(Diagnostic::at(
                                &item.span,
                                format!("invalid extra host {text:?}"),
                            )
                            .with_hint(
                                "write `hostname=ip`, for example `somehost=162.242.195.82`",
                            ));
                        }
                    },
                };
                out.push(Node::string(&item.span, entry));
            }
        }
        Value::Map(map) => {
            for (host, entry) in map {
                let ips: Vec<&Node> = match &entry.node.value {
                    Value::Seq(items) => items.iter().collect(),
                    _ => vec![&entry.node],
                };
                for ip in ips {
                    let text = ip.to_text().unwrap_or_default();
                    out.push(Node::string(&ip.span, extra_host(host, &text)));
                }
            }
        }
        _ => return Err(expected(&node, "a list of `host=ip` strings or a mapping")),
    }
    Ok(Node::seq(&node.span, out))
}

/// One `host=ip` entry; an address in brackets (`[::1]`) loses them, as compose-go does.
fn extra_host(host: &str, ip: &str) -> String {
    let ip = match ip.strip_prefix('[').and_then(|ip| ip.strip_suffix(']')) {
        Some(inner) if !inner.is_empty() => inner,
        _ => ip,
    };
    format!("{host}={ip}")
}

fn canonical_service_networks(node: Node) -> Result<Node> {
    match &node.value {
        Value::Seq(items) => {
            let mut out = Node::map(&node.span, Vec::new());
            for item in items {
                let Some(name) = item.to_text() else {
                    return Err(expected(item, "a network name"));
                };
                out.insert(&name, Node::null(&item.span));
            }
            Ok(out)
        }
        Value::Map(_) => {
            let mut node = node;
            if let Some(map) = node.as_map_mut() {
                for entry in map.values_mut() {
                    transform(&mut entry.node, "aliases", |n| Ok(string_list(n)))?;
                    transform(&mut entry.node, "driver_opts", key_value_map)?;
                }
            }
            Ok(node)
        }
        _ => Err(expected(&node, "a list of network names or a mapping")),
    }
}

fn canonical_file_references(node: Node) -> Result<Node> {
    let Value::Seq(items) = &node.value else {
        return Err(expected(&node, "a list"));
    };
    let mut out = Vec::new();
    for item in items {
        out.push(match &item.value {
            Value::Scalar(_) => Node::map(&item.span, vec![("source", item.clone())]),
            Value::Map(_) => {
                let mut item = item.clone();
                for key in ["uid", "gid"] {
                    transform(&mut item, key, |n| Ok(scalars_to_strings(n)))?;
                }
                item
            }
            _ => return Err(expected(item, "a name or a mapping with `source`")),
        });
    }
    Ok(Node::seq(&node.span, out))
}

fn canonical_devices(node: Node) -> Result<Node> {
    let Value::Seq(items) = &node.value else {
        return Err(expected(&node, "a list of devices"));
    };
    let mut out = Vec::new();
    for item in items {
        out.push(match &item.value {
            Value::Scalar(scalar) => {
                let parts: Vec<&str> = scalar.text.split(':').collect();
                let (source, target, permissions) = match parts.as_slice() {
                    [source] => (*source, *source, None),
                    [source, target] => (*source, *target, None),
                    [source, target, permissions] => (*source, *target, Some(*permissions)),
                    _ => {
                        return Err(Diagnostic::at(
                            &item.span,
                            format!("invalid device {:?}", scalar.text),
                        )
                        .with_hint("write `/dev/host[:/dev/container[:rwm]]`"));
                    }
                };
                // Without permissions a device is `rwm`, as compose-go writes it.
                Node::map(
                    &item.span,
                    vec![
                        ("source", Node::string(&item.span, source)),
                        ("target", Node::string(&item.span, target)),
                        (
                            "permissions",
                            Node::string(&item.span, permissions.unwrap_or("rwm")),
                        ),
                    ],
                )
            }
            Value::Map(_) => item.clone(),
            _ => return Err(expected(item, "a device string or mapping")),
        });
    }
    Ok(Node::seq(&node.span, out))
}

fn canonical_healthcheck(mut node: Node) -> Result<Node> {
    transform(&mut node, "test", |test| match &test.value {
        Value::Scalar(scalar) => Ok(Node::seq(
            &test.span,
            vec![
                Node::string(&test.span, "CMD-SHELL"),
                Node::string(&test.span, scalar.text.clone()),
            ],
        )),
        Value::Seq(_) => Ok(scalars_to_strings(test)),
        _ => Err(expected(
            &test,
            "a command string or a list such as [\"CMD\", \"curl\", \"-f\", \"http://localhost\"]",
        )),
    })?;
    Ok(node)
}

/// Ports: `[HOST_IP:][HOST[-RANGE]:]CONTAINER[-RANGE][/PROTOCOL]` (IPv6 host IPs in brackets), or a
/// number, or the long form; all to long form with `mode: ingress` and `protocol: tcp` defaults.
fn canonical_ports(node: Node) -> Result<Node> {
    let Value::Seq(items) = &node.value else {
        return Err(expected(&node, "a list of ports"));
    };
    let mut out = Vec::new();
    for item in items {
        match &item.value {
            Value::Scalar(scalar) => {
                for port in parse_port(&scalar.text).map_err(|message| {
                    Diagnostic::at(&item.span, format!("invalid port {:?}: {message}", scalar.text)).with_hint(
                        "write [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], e.g. \"8080:80\", \"127.0.0.1:8080:80/udp\" or \"8000-8010:8000-8010\"",
                    )
                })? {
                    let span = &item.span;
                    let mut entries = vec![("mode", Node::string(span, "ingress"))];
                    if let Some(host_ip) = port.host_ip {
                        entries.push(("host_ip", Node::string(span, host_ip)));
                    }
                    entries.push(("target", Node::integer(span, i64::from(port.target))));
                    if let Some(published) = port.published {
                        entries.push(("published", Node::string(span, published)));
                    }
                    entries.push(("protocol", Node::string(span, port.protocol)));
                    out.push(Node::map(span, entries));
                }
            }
            Value::Map(_) => {
                let mut port = item.clone();
                if port.get("mode").is_none() {
                    port.insert("mode", Node::string(&item.span, "ingress"));
                }
                if port.get("protocol").is_none() {
                    port.insert("protocol", Node::string(&item.span, "tcp"));
                }
                transform(&mut port, "published", |n| Ok(scalars_to_strings(n)))?;
                if let Some(target) = port.get("target").cloned()
                    && let Some(text) = target.as_scalar().filter(|s| s.quoted).map(|s| s.text.clone())
                {
                    let number: u16 = text.parse().map_err(|_| {
                        Diagnostic::at(&target.span, format!("invalid port target {text:?}: expected a port number (1-65535)"))
                            .with_hint("write the container port as a number, e.g. `target: 80`")
                    })?;
                    port.insert("target", Node::integer(&target.span, i64::from(number)));
                }
                out.push(port);
            }
            _ => return Err(expected(item, "a port string, number or mapping")),
        }
    }
    Ok(Node::seq(&node.span, out))
}

/// One published port in long form.
#[derive(Debug, PartialEq, Eq)]
pub struct PortSpec {
    pub host_ip: Option<String>,
    pub target: u16,
    pub published: Option<String>,
    pub protocol: String,
}

/// Parses a port in short syntax; a container range expands to one entry per port.
pub fn parse_port(text: &str) -> std::result::Result<Vec<PortSpec>, String> {
    let (rest, protocol) = match text.rsplit_once('/') {
        Some((rest, protocol)) => {
            if !matches!(protocol, "tcp" | "udp" | "sctp") {
                return Err(format!(
                    "unknown protocol {protocol:?} (use tcp, udp or sctp)"
                ));
            }
            (rest, protocol.to_string())
        }
        None => (text, "tcp".to_string()),
    };
    // Split off a bracketed IPv6 host IP, or an IPv4 one when three parts are given.
    let (host_ip, rest) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, after) = after
            .split_once(']')
            .ok_or("unclosed `[` around the IPv6 address")?;
        let after = after
            .strip_prefix(':')
            .ok_or("expected `:` after the IPv6 address")?;
        ip.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("invalid IPv6 address {ip:?}"))?;
        (Some(ip.to_string()), after)
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.len() {
            1 | 2 => (None, rest),
            3 => {
                let ip = parts[0];
                if !ip.is_empty() {
                    ip.parse::<std::net::IpAddr>()
                        .map_err(|_| format!("invalid host IP {ip:?}"))?;
                }
                (
                    Some(ip.to_string()).filter(|ip| !ip.is_empty()),
                    &rest[ip.len() + 1..],
                )
            }
            count => {
                // An unbracketed IPv6 host address: everything before the last two parts, as
                // docker's port parser reads it.
                let ip_len = rest.len() - parts[count - 2].len() - parts[count - 1].len() - 2;
                let ip = &rest[..ip_len];
                ip.parse::<std::net::Ipv6Addr>()
                    .map_err(|_| format!("invalid host IP {ip:?} (IPv6 host addresses go in brackets: \"[::1]:8080:80\")"))?;
                (Some(ip.to_string()), &rest[ip_len + 1..])
            }
        }
    };
    let (published, target) = match rest.split_once(':') {
        Some((published, target)) => (Some(published).filter(|p| !p.is_empty()), target),
        None => (None, rest),
    };
    let (target_start, target_end) = parse_range(target)?;
    let published_range = published.map(parse_range).transpose()?;
    let count = target_end - target_start;
    let mut ports = Vec::new();
    for offset in 0..=count {
        let target = target_start + offset;
        let published = match published_range {
            None => None,
            Some((start, end)) if start == end => Some(start.to_string()),
            Some((start, end)) if count == 0 => Some(format!("{start}-{end}")),
            Some((start, end)) => {
                if end - start != count {
                    return Err("the host and container port ranges have different lengths".into());
                }
                Some((start + offset).to_string())
            }
        };
        ports.push(PortSpec {
            host_ip: host_ip.clone(),
            target,
            published,
            protocol: protocol.clone(),
        });
    }
    Ok(ports)
}

fn parse_range(text: &str) -> std::result::Result<(u16, u16), String> {
    let port = |p: &str| -> std::result::Result<u16, String> {
        match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("{p:?} is not a port number (1-65535)")),
            Ok(n) => Ok(n),
        }
    };
    match text.split_once('-') {
        Some((start, end)) => {
            let (start, end) = (port(start)?, port(end)?);
            if end < start {
                return Err(format!("the range {text:?} ends before it starts"));
            }
            Ok((start, end))
        }
        None => port(text).map(|p| (p, p)),
    }
}

/// Service volumes: `[SOURCE:]TARGET[:OPTIONS]` to long form.
fn canonical_volumes(node: Node) -> Result<Node> {
    let Value::Seq(items) = &node.value else {
        return Err(expected(&node, "a list of volumes"));
    };
    let mut out = Vec::new();
    for item in items {
        out.push(match &item.value {
            Value::Scalar(scalar) => parse_volume(&scalar.text, &item.span)?,
            Value::Map(_) => {
                let mut item = item.clone();
                if let Some(target) = item.get("target").and_then(Node::as_text) {
                    let span = item.span.clone();
                    let cleaned = clean_target(target);
                    item.insert("target", Node::string(&span, cleaned));
                }
                item
            }
            _ => return Err(expected(item, "a volume string or mapping")),
        });
    }
    Ok(Node::seq(&node.span, out))
}

/// A container path cleaned as compose-go cleans it (`/data/` is `/data`, `/a/./b` is `/a/b`), so that
/// volumes merge on the same target however it is spelled.
fn clean_target(target: &str) -> String {
    if target.starts_with('/') {
        super::load::clean(std::path::Path::new(target))
            .display()
            .to_string()
    } else {
        target.to_string()
    }
}

fn parse_volume(text: &str, span: &Span) -> Result<Node> {
    let invalid = |why: &str| {
        Diagnostic::at(span, format!("invalid volume {text:?}: {why}"))
            .with_hint("write [SOURCE:]TARGET[:ro|rw|z|Z|nocopy], e.g. \"./data:/data:ro\" or \"dbdata:/var/lib/db\"")
    };
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [target] => (None, *target, None),
        [source, target] => (Some(*source), *target, None),
        [source, target, options] => (Some(*source), *target, Some(*options)),
        _ => return Err(invalid("too many `:`-separated parts")),
    };
    if target.is_empty() {
        return Err(invalid("the container path is empty"));
    }
    if !target.starts_with('/') {
        return Err(invalid("the container path must be absolute"));
    }
    let is_bind = source.is_some_and(|s| s.starts_with(['.', '/', '~']));
    let mut entries = vec![(
        "type",
        Node::string(
            span,
            if source.is_none() || !is_bind {
                "volume"
            } else {
                "bind"
            },
        ),
    )];
    if let Some(source) = source {
        if source.is_empty() {
            return Err(invalid("the source is empty"));
        }
        entries.push(("source", Node::string(span, source)));
    }
    entries.push(("target", Node::string(span, clean_target(target))));
    let mut read_only = false;
    let mut selinux = None;
    let mut propagation = None;
    let mut nocopy = false;
    for option in options.into_iter().flat_map(|o| o.split(',')) {
        match option {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "z" | "Z" => selinux = Some(option),
            "nocopy" => nocopy = true,
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                propagation = Some(option)
            }
            other => return Err(invalid(&format!("unknown option {other:?}"))),
        }
    }
    if read_only {
        entries.push(("read_only", Node::boolean(span, true)));
    }
    if is_bind {
        let mut bind = vec![("create_host_path", Node::boolean(span, true))];
        if let Some(propagation) = propagation {
            bind.push(("propagation", Node::string(span, propagation)));
        }
        if let Some(selinux) = selinux {
            bind.push(("selinux", Node::string(span, selinux)));
        }
        entries.push(("bind", Node::map(span, bind)));
    } else {
        if propagation.is_some() {
            return Err(invalid("propagation options apply to bind mounts only"));
        }
        // `z`/`Z` on a named volume: kept as compose-go keeps it (in `bind`), for the engine to
        // relabel the volume's content.
        if let Some(selinux) = selinux {
            entries.push((
                "bind",
                Node::map(span, vec![("selinux", Node::string(span, selinux))]),
            ));
        }
        let volume = if nocopy {
            vec![("nocopy", Node::boolean(span, true))]
        } else {
            Vec::new()
        };
        entries.push(("volume", Node::map(span, volume)));
    }
    Ok(Node::map(span, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(
        host_ip: Option<&str>,
        target: u16,
        published: Option<&str>,
        protocol: &str,
    ) -> PortSpec {
        PortSpec {
            host_ip: host_ip.map(Into::into),
            target,
            published: published.map(Into::into),
            protocol: protocol.into(),
        }
    }

    #[test]
    fn parses_port_short_syntax() {
        assert_eq!(parse_port("80"), Ok(vec![port(None, 80, None, "tcp")]));
        assert_eq!(
            parse_port("8080:80"),
            Ok(vec![port(None, 80, Some("8080"), "tcp")])
        );
        assert_eq!(
            parse_port("127.0.0.1:8080:80/udp"),
            Ok(vec![port(Some("127.0.0.1"), 80, Some("8080"), "udp")])
        );
        assert_eq!(
            parse_port("127.0.0.1::80"),
            Ok(vec![port(Some("127.0.0.1"), 80, None, "tcp")])
        );
        assert_eq!(
            parse_port("[::1]:8080:80"),
            Ok(vec![port(Some("::1"), 80, Some("8080"), "tcp")])
        );
        assert_eq!(
            parse_port("::1:6002:6002"),
            Ok(vec![port(Some("::1"), 6002, Some("6002"), "tcp")])
        );
        assert_eq!(
            parse_port("9090-9091:8080-8081"),
            Ok(vec![
                port(None, 8080, Some("9090"), "tcp"),
                port(None, 8081, Some("9091"), "tcp")
            ])
        );
        assert_eq!(
            parse_port("8000-8010:80"),
            Ok(vec![port(None, 80, Some("8000-8010"), "tcp")])
        );
        assert_eq!(
            parse_port("3000-3001"),
            Ok(vec![
                port(None, 3000, None, "tcp"),
                port(None, 3001, None, "tcp")
            ])
        );
        for bad in [
            "",
            "abc",
            "0",
            "70000",
            "80/icmp",
            "1:2:3:4",
            "9000-8000",
            "1-3:1-2",
            "300.1.1.1:80:80",
            "1:2:3:4:5",
        ] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }
}
