//! Development settings of a service (the schema's `development`): what `watch` does.

use serde::{Deserialize, Serialize};

use super::Hook;
use super::lenient::{is_false, scalar, string_or_list};

/// Development settings of a service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Develop {
    /// What to do when files change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<WatchRule>,
}

/// What to do when files under a path change.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchRule {
    /// The action.
    pub action: WatchAction,
    /// The command run after a sync (`sync+exec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<Hook>,
    /// Patterns (`.dockerignore` syntax, relative to `path`) that do not trigger the action.
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ignore: Vec<String>,
    /// Patterns that restrict which files trigger the action.
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub include: Vec<String>,
    /// Whether files are synced once when watching starts.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub initial_sync: bool,
    /// The watched host path (absolute after loading).
    pub path: String,
    /// Where files are synced to in the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// The action of a [`WatchRule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum WatchAction {
    /// Copy changed files into the container.
    #[default]
    #[serde(rename = "sync")]
    Sync,
    /// Rebuild the image and recreate the container.
    #[serde(rename = "rebuild")]
    Rebuild,
    /// Restart the container.
    #[serde(rename = "restart")]
    Restart,
    /// Sync, then restart the container.
    #[serde(rename = "sync+restart")]
    SyncRestart,
    /// Sync, then run the rule's `exec` command.
    #[serde(rename = "sync+exec")]
    SyncExec,
}
