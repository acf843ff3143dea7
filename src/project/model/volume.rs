//! Volumes: the project-level definitions, and the mounts of a service.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::lenient::{dict, is_false, opt_scalar, scalar};
use crate::project::units::ByteSize;

/// A project-level volume (top-level `volumes`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// The driver (`local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options (`type`, `device`, `o` for `local`).
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driver_opts: BTreeMap<String, String>,
    /// Whether the volume exists outside the project (never created or removed).
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub external: bool,
    /// Volume labels.
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// The actual volume name (`<project>_<key>` unless set or external).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One mount of a service (service-level `volumes`, long syntax).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolume {
    /// Options of a bind mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<BindOptions>,
    /// Consistency requirements (`consistent`, `cached`, `delegated`); ignored on Linux.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    /// Options of an image mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageOptions>,
    /// Whether the mount is read-only.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// The host path, volume name or image; none for tmpfs and anonymous volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The path in the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Options of a tmpfs mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsOptions>,
    /// The kind of mount.
    #[serde(rename = "type")]
    pub kind: VolumeType,
    /// Options of a volume mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeOptions>,
}

/// The kind of a service mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    /// A host path.
    Bind,
    /// A named or anonymous volume.
    #[default]
    Volume,
    /// A tmpfs.
    Tmpfs,
    /// The content of an image.
    Image,
    /// A Windows named pipe.
    Npipe,
    /// A cluster (CSI) volume.
    Cluster,
}

/// Options of a bind mount.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindOptions {
    /// Whether a missing host path is created as a directory (default true).
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "not_true"
    )]
    pub create_host_path: Option<bool>,
    /// Mount propagation (`rprivate`, `shared`, `slave`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    /// How submounts are handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive: Option<BindRecursive>,
    /// SELinux relabeling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux: Option<SeLinux>,
}

/// How a bind mount handles submounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BindRecursive {
    /// Submounts are mounted too, read-only if the mount is (the default).
    Enabled,
    /// Submounts are not mounted.
    Disabled,
    /// Submounts stay writable in a read-only mount.
    Writable,
    /// Submounts are read-only, recursively.
    Readonly,
}

/// SELinux relabeling of a bind mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SeLinux {
    /// `z`: the content is shared among containers.
    #[serde(rename = "z")]
    Shared,
    /// `Z`: the content is private to this container.
    #[serde(rename = "Z")]
    Private,
}

/// Options of a volume mount.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeOptions {
    /// Labels of the volume when it is created by this mount.
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// Whether the image's content is not copied into a new volume.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub nocopy: bool,
    /// A path inside the volume to mount instead of its root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// Options of a tmpfs mount.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TmpfsOptions {
    /// Permission bits of the tmpfs root.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub mode: Option<u32>,
    /// Size of the tmpfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<ByteSize>,
}

/// Options of an image mount.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageOptions {
    /// A path inside the image to mount instead of its root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// `create_host_path: false` is the default of the long syntax: printed only when true (as v2).
fn not_true(value: &Option<bool>) -> bool {
    *value != Some(true)
}
