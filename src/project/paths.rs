//! Relative paths made absolute: build contexts, bind mount sources, `env_file`s, watch paths, secret
//! and config files are relative to the project directory of the file that names them (an included
//! project's own directory, or an extended file's directory), and `~` is the user's home.

use std::path::Path;

use super::load::absolute;
use super::yaml::{Node, Value};

/// Resolves every relative path of a merged compose tree against `base`.
pub fn resolve(root: &mut Node, base: &Path, home: Option<&Path>) {
    if let Some(services) = root
        .as_map_mut()
        .and_then(|m| m.get_mut("services"))
        .and_then(|e| e.node.as_map_mut())
    {
        for entry in services.values_mut() {
            resolve_service(&mut entry.node, base, home);
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(resources) = root
            .as_map_mut()
            .and_then(|m| m.get_mut(section))
            .and_then(|e| e.node.as_map_mut())
        {
            for entry in resources.values_mut() {
                rewrite(&mut entry.node, "file", |p| {
                    Some(resolve_path(p, base, home))
                });
            }
        }
    }
    if let Some(volumes) = root
        .as_map_mut()
        .and_then(|m| m.get_mut("volumes"))
        .and_then(|e| e.node.as_map_mut())
    {
        for entry in volumes.values_mut() {
            resolve_bind_device(&mut entry.node, base, home);
        }
    }
}

/// A `local` volume that binds a host directory (`driver_opts: {o: bind, device: ./data}`): its
/// device is a path like a bind mount's source, as compose-go resolves it (only for `driver: local`
/// and `o: bind` exactly).
fn resolve_bind_device(volume: &mut Node, base: &Path, home: Option<&Path>) {
    if volume.get("driver").and_then(Node::as_text) != Some("local") {
        return;
    }
    let Some(options) = volume
        .as_map_mut()
        .and_then(|m| m.get_mut("driver_opts"))
        .map(|e| &mut e.node)
    else {
        return;
    };
    if options.get("o").and_then(Node::as_text) == Some("bind") {
        rewrite(options, "device", |p| Some(resolve_path(p, base, home)));
    }
}

/// Resolves the relative paths of one service.
pub fn resolve_service(service: &mut Node, base: &Path, home: Option<&Path>) {
    if let Some(build) = service
        .as_map_mut()
        .and_then(|m| m.get_mut("build"))
        .map(|e| &mut e.node)
    {
        // A build without `context` builds the directory of the file's project (set here, where that
        // directory is known: an included project's own directory).
        if build.as_map().is_some() && build.get("context").is_none() {
            let span = build.span.clone();
            build.insert("context", Node::string(&span, base.display().to_string()));
        }
        rewrite(build, "context", |p| {
            (!is_remote_context(p)).then(|| resolve_path(p, base, home))
        });
        if let Some(contexts) = build
            .as_map_mut()
            .and_then(|m| m.get_mut("additional_contexts"))
            .and_then(|e| e.node.as_map_mut())
        {
            for entry in contexts.values_mut() {
                if let Some(text) = entry.node.as_text()
                    && !is_remote_context(text)
                    && !text.contains("://")
                    && !text.starts_with("service:")
                {
                    entry.node = Node::string(&entry.node.span, resolve_path(text, base, home));
                }
            }
        }
    }
    for key in ["env_file", "label_file"] {
        if let Some(Value::Seq(items)) = service
            .as_map_mut()
            .and_then(|m| m.get_mut(key))
            .map(|e| &mut e.node.value)
        {
            for item in items {
                if item.as_text().is_some() {
                    let path = resolve_path(item.as_text().unwrap_or_default(), base, home);
                    *item = Node::string(&item.span, path);
                } else {
                    rewrite(item, "path", |p| Some(resolve_path(p, base, home)));
                }
            }
        }
    }
    if let Some(Value::Seq(volumes)) = service
        .as_map_mut()
        .and_then(|m| m.get_mut("volumes"))
        .map(|e| &mut e.node.value)
    {
        for volume in volumes {
            // An absolute source is kept as written (a trailing `/` included), as compose-go keeps it.
            if volume.get("type").and_then(Node::as_text) == Some("bind") {
                rewrite(volume, "source", |p| {
                    (!p.starts_with('/')).then(|| resolve_path(p, base, home))
                });
            }
        }
    }
    if let Some(Value::Seq(rules)) = service
        .as_map_mut()
        .and_then(|m| m.get_mut("develop"))
        .and_then(|e| e.node.as_map_mut())
        .and_then(|m| m.get_mut("watch"))
        .map(|e| &mut e.node.value)
    {
        for rule in rules {
            rewrite(rule, "path", |p| Some(resolve_path(p, base, home)));
        }
    }
}

/// Replaces a string value of a mapping with `f(value)` when `f` gives one.
fn rewrite(node: &mut Node, key: &str, f: impl FnOnce(&str) -> Option<String>) {
    if let Some(entry) = node.as_map_mut().and_then(|m| m.get_mut(key))
        && let Some(text) = entry.node.as_text()
        && let Some(new) = f(text)
    {
        entry.node = Node::string(&entry.node.span, new);
    }
}

/// A path relative to `base`, with `~` expanded to the home directory.
pub fn resolve_path(path: &str, base: &Path, home: Option<&Path>) -> String {
    let expanded = match (path.strip_prefix('~'), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{}{rest}", home.display())
        }
        _ => path.to_string(),
    };
    absolute(base, &expanded).display().to_string()
}

/// Build contexts that are not local directories (git and URL contexts) stay as written.
fn is_remote_context(context: &str) -> bool {
    context.contains("://") || context.starts_with("git@") || context.starts_with("github.com/")
}
