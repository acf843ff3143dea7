//! The labels that carry Compose meaning on runtime objects: THE list of `com.docker.compose.*` keys
//! (the same keys and values docker compose writes, so tools that know Compose understand ours), plus
//! rcompose's own. Nothing else in the code spells a label key.

/// The project a container, network or volume belongs to.
pub const PROJECT: &str = "com.docker.compose.project";
/// The service a container runs.
pub const SERVICE: &str = "com.docker.compose.service";
/// The replica number of a container within its service (from 1).
pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
/// The service's configuration hash (see `hash.rs`) when the container was created.
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
/// `True` for `run` containers, `False` otherwise.
pub const ONEOFF: &str = "com.docker.compose.oneoff";
/// The random id of a `run` container (its name ends with the first 12 characters).
pub const SLUG: &str = "com.docker.compose.slug";
/// The project directory.
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
/// The compose files, comma-separated.
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
/// The environment files, comma-separated.
pub const ENVIRONMENT_FILE: &str = "com.docker.compose.project.environment_file";
/// The image the container was created from (its id).
pub const IMAGE: &str = "com.docker.compose.image";
/// The service's dependencies, `svc:condition:restart` comma-separated.
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
/// The version of the tool that created the object.
pub const VERSION: &str = "com.docker.compose.version";
/// The Compose key of a network.
pub const NETWORK: &str = "com.docker.compose.network";
/// The Compose key of a volume.
pub const VOLUME: &str = "com.docker.compose.volume";
/// Marks an anonymous volume (docker's engine label; `volume prune` removes only these without `-a`).
pub const ANONYMOUS_VOLUME: &str = "com.docker.volume.anonymous";
/// The configuration hash of a network or volume.
pub const RESOURCE_HASH: &str = "io.rcompose.config-hash";
/// The hashed service configuration as JSON, for field-level "why recreate" answers.
pub const CONFIG: &str = "io.rcompose.config";

/// `convert kubernetes`: the recommended labels of the objects it makes (the service; the project;
/// the tool).
pub const KUBERNETES_NAME: &str = "app.kubernetes.io/name";
pub const KUBERNETES_PART_OF: &str = "app.kubernetes.io/part-of";
pub const KUBERNETES_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// `convert kubernetes`: a pod's membership of a Compose network is this prefix plus the network's
/// key (value `true`); the network's NetworkPolicy selects by it.
pub const KUBERNETES_NETWORK_PREFIX: &str = "network.rcompose.io/";
/// `convert kubernetes`: a volume label giving its claim's size (`10Gi`).
pub const KUBERNETES_VOLUME_SIZE: &str = "io.rcompose.volume-size";

/// The labels of a project network or volume: its own, docker compose's (`project`, `kind_label`
/// (`NETWORK` or `VOLUME`) = `key`, `version`), and rcompose's hash of its definition (which lets `up`
/// say when the definition changed).
pub fn resource(
    own: &std::collections::BTreeMap<String, String>,
    project: &str,
    kind_label: &str,
    key: &str,
    definition: &impl serde::Serialize,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let mut labels = own.clone();
    labels.insert(PROJECT.to_string(), project.to_string());
    labels.insert(kind_label.to_string(), key.to_string());
    labels.insert(VERSION.to_string(), env!("CARGO_PKG_VERSION").to_string());
    labels.insert(
        RESOURCE_HASH.to_string(),
        crate::hash::digest(&serde_json::to_value(definition)?),
    );
    Ok(labels)
}

/// `True`/`False` as docker compose writes booleans in labels.
pub fn boolean(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}
