//! Project-level secrets, configs and models.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::lenient::{dict, is_false, opt_scalar, scalar};

/// A project-level secret (top-level `secrets`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// The secret driver (swarm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driver_opts: BTreeMap<String, String>,
    /// The variable whose value is the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Whether the secret exists outside the project.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub external: bool,
    /// The file whose content is the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Labels.
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// The actual secret name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The template driver (swarm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_driver: Option<String>,
    /// The content, as the loader read it.
    #[serde(skip)]
    pub resolved: Option<Content>,
}

/// A project-level config (top-level `configs`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The content, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The variable whose value is the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Whether the config exists outside the project.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub external: bool,
    /// The file whose content is the config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Labels.
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// The actual config name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The template driver (swarm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_driver: Option<String>,
    /// The content, as the loader read it.
    #[serde(skip)]
    pub resolved: Option<Content>,
}

/// A secret's or config's content as the loader read it: `content:`, the `environment:`
/// variable's value, or a regular `file:`'s bytes; `None` when there is nothing to read (an unset
/// variable, a missing file or a directory, an external one). Never serialized, never printed:
/// it may be a password.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Content(pub Vec<u8>);

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Content(<{} bytes>)", self.0.len())
    }
}

/// A project-level AI model (top-level `models`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// The context window, in tokens.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub context_size: Option<u64>,
    /// The model reference (an OCI artifact such as `ai/smollm2`).
    pub model: String,
    /// A custom name for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Flags passed to the inference engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime_flags: Vec<String>,
}
