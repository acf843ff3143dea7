//! Kubernetes names. Compose allows `_`, capitals and a leading digit in service, volume and network
//! keys; object names must be DNS-1123 labels (a Service's also starts with a letter, RFC 1035). One
//! mapping for every key, collisions refused, and each changed service name reported, since other
//! services reach it by the new name.

use std::collections::BTreeMap;

use crate::project::model::Project;

/// The longest DNS label.
const MAX_LABEL: usize = 63;

/// `text` as an RFC 1035 label: lowercase, `[a-z0-9-]`, starting with a letter, ending with a letter
/// or digit, at most 63 characters. Other characters become `-`; a leading digit gets an `x`.
pub fn dns_label(text: &str) -> String {
    let mapped: String = text
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    let mut label = mapped.trim_matches('-').to_string();
    if label.is_empty() {
        label = "x".to_string();
    }
    if label.starts_with(|c: char| c.is_ascii_digit()) {
        label.insert(0, 'x');
    }
    label.truncate(MAX_LABEL);
    label.trim_end_matches('-').to_string()
}

/// `text` as a ConfigMap or Secret key (`[-._a-zA-Z0-9]+`).
pub fn data_key(text: &str) -> String {
    let key: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if key.is_empty() || key == "." || key == ".." {
        "content".to_string()
    } else {
        key
    }
}

/// Whether `key` is a qualified name, as label and annotation keys must be: an optional DNS
/// subdomain prefix and `/`, then 1-63 of `[A-Za-z0-9_.-]` starting and ending alphanumeric.
pub fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part.len() <= MAX_LABEL
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            })
    });
    prefix_ok && !name.is_empty() && is_label_value(name)
}

/// Whether `value` is a valid label value: empty, or up to 63 of `[A-Za-z0-9_.-]` starting and
/// ending alphanumeric.
pub fn is_label_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= MAX_LABEL
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// The Kubernetes name of every service, checked for collisions.
#[derive(Debug)]
pub struct Names {
    services: BTreeMap<String, String>,
}

impl Names {
    pub fn new(project: &Project) -> anyhow::Result<Names> {
        let mut services = BTreeMap::new();
        let mut taken: BTreeMap<String, &str> = BTreeMap::new();
        for name in project.services.keys() {
            let label = dns_label(name);
            if let Some(other) = taken.insert(label.clone(), name) {
                anyhow::bail!(
                    "services {other:?} and {name:?} would both be named {label:?} in Kubernetes (names are lowercase letters, digits and '-'); rename one"
                );
            }
            services.insert(name.clone(), label);
        }
        Ok(Names { services })
    }

    /// The Kubernetes name of service `name`.
    pub fn service<'a>(&'a self, name: &'a str) -> &'a str {
        self.services.get(name).map(String::as_str).unwrap_or(name)
    }

    /// Services whose names change, with their new names.
    pub fn renamed(&self) -> impl Iterator<Item = (&str, &str)> {
        self.services
            .iter()
            .filter(|(name, label)| name != label)
            .map(|(name, label)| (name.as_str(), label.as_str()))
    }
}

impl super::Converter<'_> {
    /// One report entry per service whose name changes.
    pub(super) fn names_report(&mut self) {
        let renamed: Vec<(String, String)> = self
            .names
            .renamed()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        for (name, label) in renamed {
            self.report.changed(
                &name,
                "name",
                &format!(
                    "is {label:?} in Kubernetes (DNS-1123); other services reach it by that name"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_dns_1123() {
        assert_eq!(dns_label("web"), "web");
        assert_eq!(dns_label("My_App"), "my-app");
        assert_eq!(dns_label("_x_"), "x");
        assert_eq!(dns_label("1db"), "x1db");
        assert_eq!(dns_label("a.b"), "a-b");
        assert_eq!(dns_label(&"a".repeat(70)).len(), 63);
        assert_eq!(dns_label(&format!("{}_b", "a".repeat(62))), "a".repeat(62));
    }

    #[test]
    fn label_rules() {
        assert!(is_qualified_name("com.example.description"));
        assert!(is_qualified_name("app.kubernetes.io/name"));
        assert!(!is_qualified_name("bad key"));
        assert!(!is_qualified_name("/x"));
        assert!(is_label_value(""));
        assert!(is_label_value("v1.2_3"));
        assert!(!is_label_value("has space"));
        assert!(!is_label_value("-x"));
    }

    #[test]
    fn data_keys_keep_dots() {
        assert_eq!(data_key("nginx.conf"), "nginx.conf");
        assert_eq!(data_key("my key"), "my-key");
    }
}
