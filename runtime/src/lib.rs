//! The embedded container runtime of rcompose.
//!
//! It deals in images, containers, networks and volumes with labels, like an engine, and knows nothing
//! of Compose: Compose meaning lives in labels that the CLI crate sets and reads.
//!
//! State lives under one root directory (the CLI's `--root`, default `/var/lib/rcompose`); each area
//! owns a subdirectory. So far: [`image::ImageStore`] under `<root>/image`, an OCI image layout with
//! content-addressed blobs and shared, unpacked layers; [`container::Runtime`] under
//! `<root>/containers`, real Linux containers (namespaces, an overlayfs root, [`cgroup`]s) each held
//! by a small [`monitor`] process that outlives the caller.

pub mod build;
pub mod cgroup;
pub mod container;
pub mod image;
pub mod monitor;
pub mod network;
pub mod path;
pub mod registry;
pub mod store;
pub mod sys;
pub mod time;
pub mod volume;
