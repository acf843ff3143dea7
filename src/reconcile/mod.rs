//! Desired state against observed state: `observe` reads, `plan` decides, `apply` executes.
//!
//! Invariants: the planner is pure (it takes a [`snapshot::Snapshot`] and the project, and returns a
//! [`plan::Plan`] whose every action carries its reason); only `apply` will mutate the runtime, and it
//! makes no decisions of its own. The plan's `Display` is both `up --dry-run`'s output and the text the
//! planner's tests compare.

pub mod apply;
pub mod container;
pub mod diff;
pub mod networks;
pub mod observe;
pub mod plan;
pub mod snapshot;
pub mod volumes;

#[cfg(test)]
mod tests;
