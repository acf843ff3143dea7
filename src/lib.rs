//! rcompose: a Compose-style multi-container orchestrator with its own embedded container runtime.
//!
//! The data flow (see ARCHITECTURE.md): compose files are loaded, interpolated, merged and normalized by
//! [`project`] into one typed [`project::model::Project`]; [`graph`] orders its services. Commands in
//! [`commands`] are thin glue, and [`output`] is the only place that writes to the terminal.

pub mod cli;
pub mod commands;
#[cfg(feature = "kubernetes")]
pub mod convert;
pub mod engine;
pub mod graph;
pub mod hash;
pub mod labels;
pub mod names;
pub mod output;
pub mod project;
pub mod reconcile;
pub mod watch;
