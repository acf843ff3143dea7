//! The embedded runtime as the CLI uses it: the image store, the containers and the volumes under one
//! state root (`--root`, `RCOMPOSE_ROOT`, default `/var/lib/rcompose`).
//!
//! Containers are started by a monitor process that must not come from a multi-threaded process: the
//! runtime re-executes this binary with the hidden `__runtime` subcommand, which `main` dispatches
//! before anything else runs.

use std::path::{Path, PathBuf};

use anyhow::Context;
use runtime::container::{Helper, Runtime};
use runtime::image::ImageStore;
use runtime::network::Networks;
use runtime::volume::VolumeStore;

use crate::cli::GlobalOptions;

/// Where state lives when neither `--root` nor `RCOMPOSE_ROOT` says.
pub const DEFAULT_ROOT: &str = "/var/lib/rcompose";

/// The hidden subcommand that runs the runtime's helper (container monitors, exec).
pub const HELPER_SUBCOMMAND: &str = "__runtime";

/// The state root chosen by the global options.
pub fn root(global: &GlobalOptions) -> PathBuf {
    global
        .root
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT))
}

/// The runtime's stores, opened once per command.
pub struct Engine {
    pub root: PathBuf,
    pub images: ImageStore,
    pub containers: Runtime,
    pub volumes: VolumeStore,
    pub networks: Networks,
}

impl Engine {
    /// Opens the stores under the state root.
    pub fn open(global: &GlobalOptions) -> anyhow::Result<Engine> {
        let root = root(global);
        Engine::open_at(&root)
    }

    pub fn open_at(root: &Path) -> anyhow::Result<Engine> {
        let program = std::env::current_exe()
            .context("cannot find the rcompose executable (for container monitors)")?;
        let helper = Helper {
            program,
            args: vec![HELPER_SUBCOMMAND.to_string()],
        };
        let images = ImageStore::open(root)
            .with_context(|| format!("cannot open the image store under {}", root.display()))?;
        let containers = Runtime::open(root, helper)
            .with_context(|| format!("cannot open the container store under {}", root.display()))?;
        let volumes = VolumeStore::open(root)
            .with_context(|| format!("cannot open the volume store under {}", root.display()))?;
        let networks = Networks::open(root)
            .with_context(|| format!("cannot open the network store under {}", root.display()))?;
        Ok(Engine {
            root: root.to_path_buf(),
            images,
            containers,
            volumes,
            networks,
        })
    }
}
