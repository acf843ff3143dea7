//! The embedded runtime as the CLI uses it: the image store, the containers and the volumes under one
//! state root (`--root`, `RCOMPOSE_ROOT`, default `/var/lib/rcompose`).
//!
//! Containers are started by a monitor process that must not come from a multi-threaded process, and
//! exec needs one too. That helper is `rcompose-helper`, a small binary of this package that links only
//! the runtime and is built and installed along with `rcompose` (`cargo build`, `cargo install`); it
//! is found next to this executable. An idle monitor then costs about 1.7 MiB RSS (0.3 MiB PSS)
//! instead of the 2.9 MiB (0.5 MiB PSS) of this binary re-executed (release builds). When it is
//! absent (a copied `rcompose` alone), the runtime re-executes this binary with the hidden
//! `__runtime` subcommand, which `main` dispatches before anything else runs; a helper built from
//! other runtime sources (a stale one after `cargo run`) hands over to that fallback itself.

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

/// The helper executable's name, looked up in the directory of this executable.
pub const HELPER_BINARY: &str = "rcompose-helper";

/// The runtime's helper: `rcompose-helper` next to this executable when it is there, else this
/// executable with the hidden subcommand.
pub fn helper() -> anyhow::Result<Helper> {
    let program = std::env::current_exe()
        .context("cannot find the rcompose executable (for container monitors)")?;
    let sibling = program.with_file_name(HELPER_BINARY);
    let fallback = Helper {
        program,
        args: vec![HELPER_SUBCOMMAND.to_string()],
    };
    Ok(if is_executable(&sibling) {
        Helper::standalone(sibling, &fallback)
    } else {
        fallback
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

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
        let helper = helper()?;
        let images = ImageStore::open(root)
            .with_context(|| format!("cannot open the image store under {}", root.display()))?;
        let containers = Runtime::open(root, helper)
            .with_context(|| format!("cannot open the container store under {}", root.display()))?;
        let volumes = VolumeStore::open(root)
            .with_context(|| format!("cannot open the volume store under {}", root.display()))?;
        let mut networks = Networks::open(root)
            .with_context(|| format!("cannot open the network store under {}", root.display()))?;
        if let Some(pools) = std::env::var("RCOMPOSE_ADDRESS_POOLS")
            .ok()
            .filter(|p| !p.trim().is_empty())
        {
            networks = networks.with_pools(&pools, "RCOMPOSE_ADDRESS_POOLS")?;
        }
        Ok(Engine {
            root: root.to_path_buf(),
            images,
            containers,
            volumes,
            networks,
        })
    }
}
