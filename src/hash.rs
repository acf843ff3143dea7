//! The configuration hash of a service: what the reconciler compares to decide whether a container must
//! be recreated (stored in the `com.docker.compose.config-hash` label).
//!
//! It is the SHA-256 of the service's canonical JSON (fields in declaration order, maps sorted), with the
//! attributes that do not change a running container left out, as docker compose does (`hash.go`):
//! `build` (the resulting image digest is compared separately), `pull_policy`, `scale`,
//! `deploy.replicas` (scaling adds or removes containers, it does not recreate them), `depends_on` and
//! `profiles`. The canonical form does not depend on how the file was written (short or long syntax,
//! key order, anchors), so reformatting a file never recreates anything.

use sha2::{Digest, Sha256};

use crate::project::model::{Content, Project, Service};

/// The attributes left out of the hash.
pub const EXCLUDED: [&str; 6] = [
    "build",
    "pull_policy",
    "scale",
    "deploy.replicas",
    "depends_on",
    "profiles",
];

/// The hex SHA-256 configuration hash of a service.
pub fn service_hash(service: &Service) -> String {
    digest(&hashed_config(service))
}

/// The hex SHA-256 of a JSON value's compact text.
pub fn digest(value: &serde_json::Value) -> String {
    let digest = Sha256::digest(value.to_string().as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The hash a service's containers carry: [`service_hash`] over [`container_config`], so that a
/// changed secret or config content recreates them (their files are copies made at create).
pub fn container_hash(project: &Project, service: &Service) -> String {
    digest(&container_config(project, service))
}

/// [`hashed_config`] with, under `contents`, the SHA-256 of each secret's and config's content
/// the service uses (never the content itself: the label is readable by anyone who can list
/// containers). Without secrets or configs it is exactly [`hashed_config`].
pub fn container_config(project: &Project, service: &Service) -> serde_json::Value {
    let mut value = hashed_config(service);
    let digests = |references: &[crate::project::model::FileReference],
                   resolved: &dyn Fn(&str) -> Option<Content>| {
        let mut digests = serde_json::Map::new();
        for reference in references {
            if let Some(content) = resolved(&reference.source) {
                let hex: String = Sha256::digest(&content.0)
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect();
                digests.insert(reference.source.clone(), serde_json::Value::String(hex));
            }
        }
        digests
    };
    let mut contents = serde_json::Map::new();
    let secrets = digests(&service.secrets, &|key| {
        project.secrets.get(key).and_then(|s| s.resolved.clone())
    });
    let configs = digests(&service.configs, &|key| {
        project.configs.get(key).and_then(|c| c.resolved.clone())
    });
    for (kind, digests) in [("secrets", secrets), ("configs", configs)] {
        if !digests.is_empty() {
            contents.insert(kind.to_string(), serde_json::Value::Object(digests));
        }
    }
    if !contents.is_empty()
        && let Some(map) = value.as_object_mut()
    {
        map.insert("contents".to_string(), serde_json::Value::Object(contents));
    }
    value
}

/// The part of a service the hash covers, as canonical JSON. Containers keep it (in a label) so that a
/// later plan can say which fields changed, not only that something did.
pub fn hashed_config(service: &Service) -> serde_json::Value {
    let mut value = serde_json::to_value(service).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        for key in EXCLUDED {
            match key.split_once('.') {
                Some((outer, inner)) => {
                    if let Some(nested) = map.get_mut(outer).and_then(|v| v.as_object_mut()) {
                        nested.remove(inner);
                    }
                    if map
                        .get(outer)
                        .and_then(|v| v.as_object())
                        .is_some_and(|m| m.is_empty())
                    {
                        map.remove(outer);
                    }
                }
                None => {
                    map.remove(key);
                }
            }
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_excluded_attributes_only() {
        let base = Service {
            image: Some("busybox".into()),
            ..Service::default()
        };
        let mut scaled = base.clone();
        scaled.scale = Some(3);
        scaled.profiles = vec!["debug".into()];
        assert_eq!(service_hash(&base), service_hash(&scaled));
        let mut changed = base.clone();
        changed.environment.insert("A".into(), Some("1".into()));
        assert_ne!(service_hash(&base), service_hash(&changed));
        assert_eq!(service_hash(&base).len(), 64);
    }
}
