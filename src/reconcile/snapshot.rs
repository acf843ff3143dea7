//! What exists, as plain data: the planner's view of the runtime, taken once before deciding (so the
//! decision needs no further reads and can be tested with a snapshot written in code).

use std::collections::BTreeMap;

/// The state of one observed container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Created,
    Running,
    Paused,
    Restarting,
    /// Ended on its own, with this code.
    Exited(i32),
    /// Ended by a stop asked of it (`stop`, Ctrl-C of an attached `up`), with this code.
    Stopped(i32),
    Dead,
}

/// A container of the project, decoded from its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub service: String,
    pub number: u32,
    pub oneoff: bool,
    pub state: State,
    /// The config hash it was created with.
    pub config_hash: String,
    /// The hashed configuration it was created with, when recorded (for field-level reasons).
    pub config: Option<serde_json::Value>,
    /// The id of the image it was created from.
    pub image_id: Option<String>,
}

/// A network or volume of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedResource {
    /// The runtime name (`<project>_<key>` or the `name:` given).
    pub name: String,
    /// Its configuration hash when it was created (`None` for resources made by other tools).
    pub config_hash: Option<String>,
}

/// Everything the planner needs to know about the runtime.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub containers: Vec<ObservedContainer>,
    /// By runtime name.
    pub networks: BTreeMap<String, ObservedResource>,
    /// By runtime name.
    pub volumes: BTreeMap<String, ObservedResource>,
    /// Image id by image reference, for the images present.
    pub images: BTreeMap<String, String>,
}
