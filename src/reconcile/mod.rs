//! Desired state against observed state: `observe` reads, `plan` decides, `apply` executes.
//!
//! Invariants: the planner is pure (it takes a [`snapshot::Snapshot`] and the project, and returns a
//! [`plan::Plan`] whose every action carries its reason); only `apply` will mutate the runtime, and it
//! makes no decisions of its own. The plan's `Display` is both `up --dry-run`'s output and the text the
//! planner's tests compare.

pub mod apply;
pub mod container;
pub mod diff;
pub mod hooks;
pub mod namespaces;
pub mod networks;
pub mod observe;
pub mod plan;
pub mod resources;
pub mod snapshot;
pub mod volumes;

#[cfg(test)]
mod tests;

/// A project loaded from YAML as `rcompose -p demo -f -` in /srv/demo would load it (planner and
/// mapping tests).
#[cfg(test)]
pub(crate) fn test_project(yaml: &str) -> crate::project::model::Project {
    let options = crate::project::LoadOptions {
        files: vec![std::path::PathBuf::from("-")],
        project_name: Some("demo".to_string()),
        working_dir: std::path::PathBuf::from("/srv/demo"),
        stdin: Some(yaml.to_string()),
        interpolate: true,
        ..crate::project::LoadOptions::default()
    };
    match crate::project::load(options) {
        Ok(loaded) => loaded.project,
        Err(diagnostics) => panic!("{diagnostics}"),
    }
}
