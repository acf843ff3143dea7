//! `extends`: a service built on another service, from the same file or another file.
//!
//! The base is resolved first (recursively, across files), then the extending service is merged onto it
//! with the usual merge rules. Resources the base refers to are not imported. A chain that comes back to
//! a service already being resolved is a cycle and is named in the error.

use std::path::{Path, PathBuf};

use super::diag::{Diagnostic, did_you_mean, display_path};
use super::environment::Environment;
use super::load::{Loader, absolute, parent_dir};
use super::merge;
use super::paths;
use super::yaml::{self, Node};

/// How many services an `extends` chain may go through (each link is resolved recursively).
pub const MAX_EXTENDS_DEPTH: usize = 64;

/// Below this many nodes copied from base services, `extends` may copy any amount (above it, as much
/// next to the files' own size as aliases may).
const EXTENDS_COPY_FLOOR: usize = 250_000;

/// Resolves `extends` for every service of one file (`root`, read from `path` in directory `dir`).
pub fn resolve(
    loader: &mut Loader,
    root: &mut Node,
    path: &Path,
    dir: &Path,
    environment: &Environment,
    stack: &mut Vec<(PathBuf, String)>,
) -> Result<(), Diagnostic> {
    let names: Vec<String> = match root.get("services").and_then(Node::as_map) {
        Some(services) => services
            .iter()
            .filter(|(_, e)| e.node.get("extends").is_some())
            .map(|(n, _)| n.clone())
            .collect(),
        None => return Ok(()),
    };
    for name in names {
        resolve_service(loader, root, path, dir, environment, &name, stack)?;
    }
    Ok(())
}

fn services_mut(root: &mut Node) -> Option<&mut super::yaml::Map> {
    root.as_map_mut()
        .and_then(|m| m.get_mut("services"))
        .and_then(|e| e.node.as_map_mut())
}

fn resolve_service(
    loader: &mut Loader,
    root: &mut Node,
    path: &Path,
    dir: &Path,
    environment: &Environment,
    name: &str,
    stack: &mut Vec<(PathBuf, String)>,
) -> Result<(), Diagnostic> {
    let Some(service) = root.get("services").and_then(|s| s.get(name)) else {
        return Ok(());
    };
    let Some(extends) = service.get("extends").cloned() else {
        return Ok(());
    };
    let Some(base_name) = extends.get("service").and_then(Node::to_text) else {
        return Err(Diagnostic::at(
            &extends.span,
            "`extends` needs the name of the service to extend",
        )
        .with_hint(
            "write `extends: {service: base}` or `extends: {file: common.yaml, service: base}`",
        ));
    };
    let key = (path.to_path_buf(), name.to_string());
    if let Some(position) = stack.iter().position(|k| *k == key) {
        let cycle: Vec<String> = stack[position..]
            .iter()
            .chain([&key])
            .map(|(file, service)| format!("{service} ({})", display_path(file)))
            .collect();
        return Err(Diagnostic::at(
            &extends.span,
            format!("extends cycle: {}", cycle.join(" -> ")),
        )
        .with_hint("a service cannot extend itself, directly or through other services"));
    }
    if stack.len() >= MAX_EXTENDS_DEPTH {
        return Err(Diagnostic::at(
            &extends.span,
            format!("extends chain longer than {MAX_EXTENDS_DEPTH} services"),
        )
        .with_hint(
            "a service extends a service that extends another, and so on: shorten the chain",
        ));
    }
    stack.push(key);
    let base = match extends.get("file").and_then(Node::as_text) {
        Some(file) => {
            let base_path = absolute(dir, file);
            let base_dir = parent_dir(&base_path, dir);
            let resolved = loader
                .parse_base_file(&base_path, environment, &extends.span)
                .and_then(|mut other| {
                    resolve_service(
                        loader,
                        &mut other,
                        &base_path,
                        &base_dir,
                        environment,
                        &base_name,
                        stack,
                    )?;
                    Ok(other)
                });
            let other = match resolved {
                Ok(other) => other,
                Err(error) => {
                    stack.pop();
                    return Err(error);
                }
            };
            let base = other
                .get("services")
                .and_then(|s| s.get(&base_name))
                .cloned();
            let Some(mut base) = base else {
                stack.pop();
                let names: Vec<&str> = other
                    .get("services")
                    .and_then(Node::as_map)
                    .map(|m| m.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                return Err(missing_base(&extends, &base_name, Some(&base_path), &names));
            };
            if base_dir != dir {
                let home = loader.options.shell.get("HOME").map(PathBuf::from);
                paths::resolve_service(&mut base, &base_dir, home.as_deref());
            }
            base
        }
        None => {
            if base_name == name {
                stack.pop();
                return Err(Diagnostic::at(
                    &extends.span,
                    format!("service {name:?} extends itself"),
                )
                .with_hint("name another service in `extends.service`"));
            }
            if let Err(error) =
                resolve_service(loader, root, path, dir, environment, &base_name, stack)
            {
                stack.pop();
                return Err(error);
            }
            match root
                .get("services")
                .and_then(|s| s.get(&base_name))
                .cloned()
            {
                Some(base) => base,
                None => {
                    stack.pop();
                    let names: Vec<&str> = root
                        .get("services")
                        .and_then(Node::as_map)
                        .map(|m| m.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    return Err(missing_base(&extends, &base_name, None, &names));
                }
            }
        }
    };
    stack.pop();
    // Every extending service gets a copy of its base: many services extending a huge base (built
    // with aliases, say) would multiply it as a "billion laughs" does.
    loader.extends_copied = loader.extends_copied.saturating_add(yaml::size(&base));
    if yaml::excessive_copies(
        loader.parsed_nodes,
        loader.extends_copied,
        EXTENDS_COPY_FLOOR,
    ) {
        return Err(Diagnostic::at(
            &extends.span,
            format!(
                "excessive copying: with this `extends`, base services copied {} nodes for {} nodes in the files",
                loader.extends_copied, loader.parsed_nodes
            ),
        )
        .with_hint("each `extends` copies its base service whole; extend a large base from fewer services"));
    }
    let mut base = base;
    base.remove("extends");
    let Some(services) = services_mut(root) else {
        return Ok(());
    };
    let Some(entry) = services.get_mut(name) else {
        return Ok(());
    };
    let mut service = std::mem::replace(&mut entry.node, Node::null(&extends.span));
    service.remove("extends");
    entry.node = merge::merge_at(
        base,
        service,
        &mut vec!["services".to_string(), name.to_string()],
    );
    Ok(())
}

fn missing_base(
    extends: &Node,
    base_name: &str,
    file: Option<&Path>,
    names: &[&str],
) -> Diagnostic {
    let place = file
        .map(|f| format!(" in {}", display_path(f)))
        .unwrap_or_default();
    let diagnostic = Diagnostic::at(
        &extends.span,
        format!("cannot extend service {base_name:?}: no such service{place}"),
    );
    match did_you_mean(base_name, names.iter().copied()) {
        Some(suggestion) => diagnostic.with_hint(format!("did you mean {suggestion:?}?")),
        None => diagnostic.with_hint("`extends.service` must name a service defined in that file"),
    }
}
