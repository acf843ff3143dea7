//! The network of `RUN` steps by default, as docker's builds have: a bridge with a way out (the
//! bridge's NAT, when the caller asks for it), made for one build when its first step that runs
//! needs it (a build whose steps all come from the cache makes none) and removed when the build
//! ends. Its name says which process made it (`build-<pid>-<start time>-<n>`), so one left by a
//! killed build is removed by the next build that makes one.

use std::sync::Mutex;

use crate::network::{Error, NetworkSpec, Networks};
use crate::sys::process::{is_alive, start_time};

/// What the caller gives for bridged steps: the store's networks (with its address pools) and
/// whether the bridge gets a way out.
#[derive(Debug, Clone)]
pub struct BuildBridge {
    pub networks: Networks,
    pub masquerade: bool,
}

/// A build's bridge, made on first use and removed on drop.
#[derive(Debug)]
pub(super) struct StepBridge<'a> {
    bridge: &'a BuildBridge,
    made: Mutex<Option<String>>,
}

const PREFIX: &str = "build-";

impl<'a> StepBridge<'a> {
    pub(super) fn new(bridge: &'a BuildBridge) -> StepBridge<'a> {
        StepBridge {
            bridge,
            made: Mutex::new(None),
        }
    }

    /// The network's name, made now if it is not yet.
    pub(super) fn name(&self) -> Result<String, Error> {
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(name) = made.as_ref() {
            return Ok(name.clone());
        }
        self.remove_abandoned();
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let pid = std::process::id();
        let started = start_time(pid as i32).unwrap_or(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{PREFIX}{pid}-{started}-{n}");
        self.bridge.networks.create(&NetworkSpec {
            name: name.clone(),
            labels: [("com.rcompose.build".to_owned(), "true".to_owned())].into(),
            masquerade: self.bridge.masquerade,
            ..NetworkSpec::default()
        })?;
        *made = Some(name.clone());
        Ok(name)
    }

    /// Removes the build networks of processes that are gone.
    fn remove_abandoned(&self) {
        let Ok(networks) = self.bridge.networks.list() else {
            return;
        };
        for network in networks {
            let Some(rest) = network.name.strip_prefix(PREFIX) else {
                continue;
            };
            let mut parts = rest.split('-').map(str::parse::<u64>);
            if let (Some(Ok(pid)), Some(Ok(started))) = (parts.next(), parts.next())
                && network.labels.contains_key("com.rcompose.build")
                && !is_alive(pid as i32, started)
            {
                let _ = self.bridge.networks.remove(&network.name);
            }
        }
    }
}

impl Drop for StepBridge<'_> {
    fn drop(&mut self) {
        let made = self.made.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(name) = made.take() {
            let _ = self.bridge.networks.remove(&name);
        }
    }
}
