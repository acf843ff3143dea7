//! How a service's image is built (the schema's `build` object).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::lenient::{dict, is_false, scalar, string_or_list};
use super::{FileReference, Ulimit};
use crate::project::units::ByteSize;

/// How to build a service's image.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// Named extra build contexts (a path, `docker-image://...`, `service:name`, ...).
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub additional_contexts: BTreeMap<String, String>,
    /// Build arguments; `None` means "the value of the same variable where compose runs".
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub args: BTreeMap<String, Option<String>>,
    /// Cache sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_from: Vec<String>,
    /// Cache destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_to: Vec<String>,
    /// The build context: a path (absolute after loading) or a URL.
    #[serde(default)]
    pub context: String,
    /// The Dockerfile, relative to the context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// The Dockerfile's content, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile_inline: Option<String>,
    /// Extra privileges (`network.host`, `security.insecure`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
    /// Extra `/etc/hosts` entries during the build, each `host=ip`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// Isolation technology (Windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    /// Image labels.
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// The network of `RUN` steps (`host`, `none`, `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Whether the build cache is ignored.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub no_cache: bool,
    /// Stages built without cache.
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub no_cache_filter: Vec<String>,
    /// Target platforms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// Whether the build runs privileged.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub privileged: bool,
    /// Provenance attestation: `true`/`false` or options such as `mode=max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<BoolOrString>,
    /// Whether base images are always pulled.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub pull: bool,
    /// SBOM attestation: `true`/`false` or generator options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<BoolOrString>,
    /// Secrets available to `RUN --mount=type=secret`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<FileReference>,
    /// Size of `/dev/shm` during the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<ByteSize>,
    /// SSH agent sockets or keys by id (`default: None` is the agent); printed as the list the
    /// Compose Specification writes (`default`, `id=path`).
    #[serde(
        default,
        deserialize_with = "dict",
        serialize_with = "ssh_list",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub ssh: BTreeMap<String, Option<String>>,
    /// Extra tags of the built image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The stage to build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Resource limits of `RUN` steps.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, Ulimit>,
}

/// A value that is either a boolean or a string of options (`provenance: mode=max`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoolOrString {
    /// `true` or `false` (also read from the strings `"true"` and `"false"`).
    Bool(bool),
    /// Anything else.
    String(String),
}

impl Serialize for BoolOrString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            BoolOrString::Bool(value) => serializer.serialize_bool(*value),
            BoolOrString::String(value) => serializer.serialize_str(value),
        }
    }
}

impl<'de> Deserialize<'de> for BoolOrString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BoolOrStringVisitor;

        impl Visitor<'_> for BoolOrStringVisitor {
            type Value = BoolOrString;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean or a string")
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<BoolOrString, E> {
                Ok(BoolOrString::Bool(value))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<BoolOrString, E> {
                Ok(match value {
                    "true" => BoolOrString::Bool(true),
                    "false" => BoolOrString::Bool(false),
                    _ => BoolOrString::String(value.to_owned()),
                })
            }
        }

        deserializer.deserialize_any(BoolOrStringVisitor)
    }
}

/// `build.ssh` as a list of `id` or `id=path` entries.
fn ssh_list<S: Serializer>(
    ssh: &BTreeMap<String, Option<String>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(ssh.iter().map(|(id, path)| match path {
        Some(path) => format!("{id}={path}"),
        None => id.clone(),
    }))
}
