//! `x-*` extension fields below the top level. The Compose Specification allows them in services,
//! builds, deploy and develop sections, watch rules and top-level resources, and docker compose v2
//! keeps them in its output; elsewhere (inside `labels`, `ports` entries, ...) they are dropped when a
//! file is read, as before. The typed model has no place for them: they are taken off the tree before
//! typing and put back into the printed project at the same place.

use serde_json::Value as Json;

use super::typed::to_json;
use super::yaml::{Node, Value};

/// Where extensions are kept: `*` is any key, `#` any index.
const KEPT_AT: &[&[&str]] = &[
    &["services", "*"],
    &["services", "*", "build"],
    &["services", "*", "deploy"],
    &["services", "*", "develop"],
    &["services", "*", "develop", "watch", "#"],
    &["networks", "*"],
    &["volumes", "*"],
    &["secrets", "*"],
    &["configs", "*"],
    &["models", "*"],
];

/// One extension field: the mapping it is in (keys and sequence indexes from the root), its key and
/// its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Extension {
    pub path: Vec<String>,
    pub key: String,
    pub value: Json,
}

fn kept_at(path: &[String]) -> bool {
    KEPT_AT.iter().any(|pattern| {
        pattern.len() == path.len()
            && pattern.iter().zip(path).all(|(want, got)| match *want {
                "*" => true,
                "#" => got.parse::<usize>().is_ok(),
                literal => literal == got,
            })
    })
}

/// Drops the `x-` keys of a file that are neither top-level nor at a place where they are kept.
pub fn remove_unkept(root: &mut Node) {
    fn walk(node: &mut Node, path: &mut Vec<String>) {
        match &mut node.value {
            Value::Map(map) => {
                if !path.is_empty() && !kept_at(path) {
                    map.retain(|key, _| !key.starts_with("x-"));
                }
                for (key, entry) in map.iter_mut() {
                    path.push(key.clone());
                    walk(&mut entry.node, path);
                    path.pop();
                }
            }
            Value::Seq(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    path.push(index.to_string());
                    walk(item, path);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    walk(root, &mut Vec::new());
}

/// Takes the kept extensions below the top level off the merged tree (which can then be typed).
pub fn take_nested(root: &mut Node) -> Vec<Extension> {
    fn walk(node: &mut Node, path: &mut Vec<String>, out: &mut Vec<Extension>) {
        match &mut node.value {
            Value::Map(map) => {
                if !path.is_empty() && kept_at(path) {
                    let keys: Vec<String> = map
                        .keys()
                        .filter(|k| k.starts_with("x-"))
                        .cloned()
                        .collect();
                    for key in keys {
                        if let Some(entry) = map.shift_remove(&key) {
                            out.push(Extension {
                                path: path.clone(),
                                key,
                                value: to_json(&entry.node),
                            });
                        }
                    }
                }
                for (key, entry) in map.iter_mut() {
                    path.push(key.clone());
                    walk(&mut entry.node, path, out);
                    path.pop();
                }
            }
            Value::Seq(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    path.push(index.to_string());
                    walk(item, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(root, &mut Vec::new(), &mut out);
    out
}

/// Puts extensions back into a printed project, after the other keys of their mapping and sorted
/// by key; one whose place is not printed (a service left out) is skipped. (The keys inside their
/// values are ordered with every other map by `printed`.)
pub fn restore(project: &mut Json, extensions: &[Extension]) {
    let mut sorted: Vec<&Extension> = extensions.iter().collect();
    sorted.sort_by(|a, b| (&a.path, &a.key).cmp(&(&b.path, &b.key)));
    for extension in sorted {
        let mut at = Some(&mut *project);
        for segment in &extension.path {
            at = at.and_then(|value| match value {
                Json::Object(map) => map.get_mut(segment),
                Json::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
                _ => None,
            });
        }
        if let Some(Json::Object(map)) = at {
            map.insert(extension.key.clone(), extension.value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(segments: &[&str]) -> Vec<String> {
        segments.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kept_only_at_their_places() {
        assert!(kept_at(&path(&["services", "web"])));
        assert!(kept_at(&path(&[
            "services", "web", "develop", "watch", "0"
        ])));
        assert!(!kept_at(&path(&[
            "services", "web", "develop", "watch", "x"
        ])));
        assert!(!kept_at(&path(&["services", "web", "labels"])));
        assert!(!kept_at(&path(&["services"])));
    }

    #[test]
    fn restores_at_the_path_and_skips_missing_places() {
        let mut project = serde_json::json!({"services": {"web": {"image": "a"}}});
        let extensions = vec![
            Extension {
                path: path(&["services", "web"]),
                key: "x-b".into(),
                value: serde_json::json!({"z": 1, "a": 2}),
            },
            Extension {
                path: path(&["services", "gone"]),
                key: "x-a".into(),
                value: serde_json::json!(1),
            },
        ];
        restore(&mut project, &extensions);
        assert_eq!(
            serde_json::to_string(&project).unwrap(),
            r#"{"services":{"web":{"image":"a","x-b":{"z":1,"a":2}}}}"#
        );
    }
}
