//! The Compose merge rules, on canonical node trees: several `-f` files, `extends`, and multi-document
//! YAML all merge through [`merge`].
//!
//! Mappings merge key by key, the later file winning; sequences are appended; a few attributes have
//! their own rules (from the Compose Specification's 13-merge.md and compose-go's `override` package):
//! `command`, `entrypoint` and `healthcheck.test` are replaced; `ports` are unique on
//! `{host_ip, target, published, protocol}`, `volumes` and `devices` on `target`, `secrets` and
//! `configs` on their target path, `env_file` on `path`; lists of plain values such as `dns`, `cap_add`
//! or `profiles` are de-duplicated; `logging` options are replaced when the driver changes. The tag
//! `!reset` removes the base value, `!override` replaces it without merging.

use super::diag::Diagnostic;
use super::yaml::{Node, Tag, Value};

/// How a sequence at a given path merges.
enum SequenceRule {
    /// The later value replaces the earlier.
    Replace,
    /// Appended, then entries with the same key keep the later one (in the earlier one's place).
    UniqueBy(fn(&Node) -> String),
    /// Appended, then exact duplicates removed.
    Dedupe,
    /// Appended.
    Append,
}

/// Merges `over` onto `base` with the Compose rules. `path` is where the two nodes sit in the file
/// (e.g. `["services", "web"]`), which decides the rules for sequences.
pub fn merge_at(base: Node, over: Node, path: &mut Vec<String>) -> Node {
    match over.tag {
        Some(Tag::Reset) => return over,
        Some(Tag::Override) => {
            let mut over = over;
            over.tag = None;
            return over;
        }
        None => {}
    }
    match (base.value, over.value) {
        (Value::Map(mut base_map), Value::Map(over_map)) => {
            if is_logging(path)
                && let (Some(base_driver), Some(over_driver)) =
                    (base_map.get("driver"), over_map.get("driver"))
                && base_driver.node.as_text() != over_driver.node.as_text()
            {
                return Node {
                    value: Value::Map(over_map),
                    span: over.span,
                    tag: None,
                };
            }
            for (key, over_entry) in over_map {
                match base_map.get_mut(&key) {
                    Some(base_entry) => {
                        let base_node = std::mem::replace(
                            &mut base_entry.node,
                            Node::null(&over_entry.key_span),
                        );
                        path.push(key);
                        base_entry.node = merge_at(base_node, over_entry.node, path);
                        base_entry.key_span = over_entry.key_span;
                        path.pop();
                    }
                    None => {
                        base_map.insert(key, over_entry);
                    }
                }
            }
            Node {
                value: Value::Map(base_map),
                span: base.span,
                tag: None,
            }
        }
        (Value::Seq(base_items), Value::Seq(over_items)) => {
            let items = match sequence_rule(path) {
                SequenceRule::Replace => over_items,
                SequenceRule::Append => base_items.into_iter().chain(over_items).collect(),
                SequenceRule::Dedupe => {
                    let mut items: Vec<Node> = Vec::new();
                    for item in base_items.into_iter().chain(over_items) {
                        if !items.iter().any(|existing| same_value(existing, &item)) {
                            items.push(item);
                        }
                    }
                    items
                }
                SequenceRule::UniqueBy(key_of) => {
                    let mut items: Vec<Node> = Vec::new();
                    for item in base_items.into_iter().chain(over_items) {
                        let key = key_of(&item);
                        match items.iter().position(|existing| key_of(existing) == key) {
                            Some(index) => items[index] = item,
                            None => items.push(item),
                        }
                    }
                    items
                }
            };
            Node {
                value: Value::Seq(items),
                span: over.span,
                tag: None,
            }
        }
        (_, value) => Node {
            value,
            span: over.span,
            tag: None,
        },
    }
}

/// Merges whole compose files (or documents of one file).
pub fn merge(base: Node, over: Node) -> Node {
    merge_at(base, over, &mut Vec::new())
}

/// Documents of one YAML file merge like several files.
pub fn merge_documents(base: Node, over: Node) -> Result<Node, Diagnostic> {
    Ok(merge(base, over))
}

/// Removes values still tagged `!reset` (a reset with nothing to reset) and forgets `!override` tags.
pub fn strip_tags(node: &mut Node) {
    node.tag = None;
    match &mut node.value {
        Value::Map(map) => {
            map.retain(|_, entry| entry.node.tag != Some(Tag::Reset));
            map.values_mut()
                .for_each(|entry| strip_tags(&mut entry.node));
        }
        Value::Seq(items) => {
            items.retain(|item| item.tag != Some(Tag::Reset));
            items.iter_mut().for_each(strip_tags);
        }
        _ => {}
    }
}

fn is_logging(path: &[String]) -> bool {
    matches!(path, [services, _, logging] if services == "services" && logging == "logging")
}

/// The rule for a sequence at `path`. Paths are matched below `services.<name>` (or
/// `services.<name>.build`, `services.<name>.healthcheck`).
fn sequence_rule(path: &[String]) -> SequenceRule {
    let in_service: Vec<&str> = match path {
        [services, _, rest @ ..] if services == "services" => {
            rest.iter().map(String::as_str).collect()
        }
        _ => return SequenceRule::Append,
    };
    match in_service.as_slice() {
        ["command"] | ["entrypoint"] | ["healthcheck", "test"] => SequenceRule::Replace,
        ["post_start" | "pre_stop" | "pre_start", _, "command"] => SequenceRule::Replace,
        ["develop", "watch", _, "exec", "command"] => SequenceRule::Replace,
        ["ports"] => SequenceRule::UniqueBy(port_key),
        ["volumes"] | ["devices"] => SequenceRule::UniqueBy(target_key),
        ["secrets"] | ["configs"] | ["build", "secrets"] => {
            SequenceRule::UniqueBy(file_reference_key)
        }
        ["env_file"] | ["label_file"] => SequenceRule::UniqueBy(path_key),
        ["dns"]
        | ["dns_search"]
        | ["dns_opt"]
        | ["cap_add"]
        | ["cap_drop"]
        | ["profiles"]
        | ["tmpfs"]
        | ["links"]
        | ["external_links"]
        | ["expose"]
        | ["security_opt"]
        | ["group_add"]
        | ["extra_hosts"]
        | ["volumes_from"]
        | ["device_cgroup_rules"]
        | ["networks", _, "aliases"]
        | ["build", "cache_from"]
        | ["build", "cache_to"]
        | ["build", "tags"]
        | ["build", "platforms"]
        | ["build", "extra_hosts"]
        | ["build", "ssh"] => SequenceRule::Dedupe,
        _ => SequenceRule::Append,
    }
}

fn text_of(node: &Node, key: &str) -> String {
    node.get(key)
        .and_then(Node::as_text)
        .unwrap_or_default()
        .to_string()
}

fn port_key(node: &Node) -> String {
    format!(
        "{}:{}:{}/{}",
        text_of(node, "host_ip"),
        text_of(node, "published"),
        text_of(node, "target"),
        text_of(node, "protocol")
    )
}

fn target_key(node: &Node) -> String {
    text_of(node, "target")
}

fn path_key(node: &Node) -> String {
    node.as_text()
        .map(str::to_string)
        .unwrap_or_else(|| text_of(node, "path"))
}

fn file_reference_key(node: &Node) -> String {
    match node.get("target").and_then(Node::as_text) {
        Some(target) => target.to_string(),
        None => format!("/run/secrets/{}", text_of(node, "source")),
    }
}

/// Structural equality of two nodes, ignoring positions.
pub fn same_value(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Null, Value::Null) => true,
        (Value::Scalar(x), Value::Scalar(y)) => x.text == y.text,
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(&v.node, &w.node)))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{canonical, diag::Source, yaml};

    fn load(text: &str) -> Node {
        let mut node = yaml::parse(&Source::new("c.yaml", text)).unwrap();
        canonical::canonicalize(&mut node, false).unwrap();
        node
    }

    fn merged(base: &str, over: &str) -> Node {
        let mut node = merge(load(base), load(over));
        strip_tags(&mut node);
        node
    }

    fn texts(node: Option<&Node>) -> Vec<String> {
        node.and_then(Node::as_seq)
            .map(|items| items.iter().filter_map(Node::to_text).collect())
            .unwrap_or_default()
    }

    #[test]
    fn replaces_commands_and_merges_maps() {
        let node = merged(
            "services:\n  web:\n    command: a b\n    environment: [A=1, B=2]\n",
            "services:\n  web:\n    command: [c]\n    environment:\n      B: 3\n",
        );
        let web = node.get("services").unwrap().get("web").unwrap();
        assert_eq!(texts(web.get("command")), ["c"]);
        let env = web.get("environment").unwrap();
        assert_eq!(env.get("A").unwrap().as_text(), Some("1"));
        assert_eq!(env.get("B").unwrap().as_text(), Some("3"));
    }

    #[test]
    fn ports_and_volumes_are_unique_by_key() {
        let node = merged(
            "services:\n  web:\n    ports: ['8080:80', '443']\n    volumes: ['./a:/data', 'x:/x']\n    dns: [1.1.1.1]\n",
            "services:\n  web:\n    ports: ['8080:80', '9090:90']\n    volumes: ['./b:/data']\n    dns: [1.1.1.1, 8.8.8.8]\n",
        );
        let web = node.get("services").unwrap().get("web").unwrap();
        assert_eq!(web.get("ports").unwrap().as_seq().unwrap().len(), 3);
        let volumes = web.get("volumes").unwrap().as_seq().unwrap();
        assert_eq!(volumes.len(), 2);
        assert_eq!(volumes[0].get("source").unwrap().as_text(), Some("./b"));
        assert_eq!(texts(web.get("dns")), ["1.1.1.1", "8.8.8.8"]);
    }

    #[test]
    fn reset_and_override_tags() {
        let node = merged(
            "services:\n  web:\n    ports: ['80']\n    environment: {A: 1, B: 2}\n",
            "services:\n  web:\n    ports: !reset []\n    environment: !override {C: 3}\n",
        );
        let web = node.get("services").unwrap().get("web").unwrap();
        assert!(web.get("ports").is_none());
        let env = web.get("environment").unwrap().as_map().unwrap();
        assert_eq!(env.keys().collect::<Vec<_>>(), ["C"]);
    }
}
