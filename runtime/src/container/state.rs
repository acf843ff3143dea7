//! A container on disk: `<root>/containers/<id>/`.
//!
//! ```text
//! config.json     the Record: id, name, spec, cgroup directories (written once at create, before
//!                 any kernel object exists, so the next command can find and clean them)
//! state.json      the State the monitor keeps: status, pids with start times, exit code, OOM flag
//! upper/ work/    the overlay's writable layer and work directory
//! rootfs/         the mount point of the root (mounted only inside the container's mount namespace)
//! hostname hosts resolv.conf   bind-mounted onto the container's /etc files
//! files/N         the spec's `files` (secrets, configs), bound read-only at their targets
//! container.log   stdout and stderr, one JSON object per line (docker's json-file format)
//! monitor.log     the monitor's own diagnostics
//! stopping        present while a stop is requested (the monitor then does not restart)
//! incomplete      present while the container is being created or removed: a command killed then
//!                 leaves it, and `Runtime::recover` finishes the removal
//! ```
//!
//! Lifecycle commands serialise on an flock of the directory itself (no lock file to create).
//!
//! Both JSON files are replaced by rename but not fsync'd: a killed process leaves the old or the new
//! file, never half of one; a power loss ends the processes they describe anyway; and two fsyncs cost
//! more than the rest of a container start on a slow disk.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::spec::ContainerSpec;
use crate::cgroup::Cgroup;
use crate::store::{IoError, ctx};

/// What `config.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// RFC 3339 creation time.
    pub created: String,
    pub spec: ContainerSpec,
    /// The resolved hostname.
    pub hostname: String,
    /// The container's cgroup directories, recorded before they are made.
    pub cgroup: Cgroup,
}

/// The lifecycle status, docker's words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Restarting,
    Paused,
    Exited,
    /// The monitor died and left the container in an unknown state (docker's "dead").
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Restarting => "restarting",
            Self::Paused => "paused",
            Self::Exited => "exited",
            Self::Dead => "dead",
        }
    }

    /// Whether the container has (or is about to have) processes.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Running | Self::Restarting | Self::Paused)
    }
}

/// What `state.json` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub status: Status,
    /// Host pid of the container's init (0 when none) and its start time (clock ticks since boot).
    pub pid: i32,
    pub pid_start: u64,
    pub monitor_pid: i32,
    pub monitor_start: u64,
    /// RFC 3339 times with nanoseconds.
    pub started_at: String,
    pub finished_at: String,
    pub exit_code: Option<i32>,
    /// The last exit followed a stop asked of the runtime (`stop`, a kill with the stop signal or
    /// SIGKILL), not the process's own end: a finished one-shot and a stopped service look alike
    /// by their exit code alone.
    pub stopped: bool,
    pub oom_killed: bool,
    pub restart_count: u32,
    /// The last start error, if a (re)start failed.
    pub error: String,
    /// Healthcheck results (absent without a healthcheck).
    pub health: Option<Health>,
    /// Whether the monitor takes SIGUSR1 as a request for a probe now (a monitor from an older
    /// build would die of it).
    pub probes_on_request: bool,
}

/// docker's `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: u32,
    /// The last five probes.
    pub log: Vec<HealthResult>,
}

/// One probe.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    /// -1 when the probe could not run or timed out.
    pub exit_code: i32,
    pub output: String,
}

/// The paths of one container's directory.
#[derive(Debug, Clone)]
pub struct Paths {
    pub dir: PathBuf,
}

impl Paths {
    pub fn new(root: &Path, id: &str) -> Self {
        Self {
            dir: root.join("containers").join(id),
        }
    }
    /// The state root the container directory is in.
    pub fn root(&self) -> &Path {
        self.dir
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("/"))
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("container.log")
    }
    pub fn monitor_log(&self) -> PathBuf {
        self.dir.join("monitor.log")
    }
    pub fn stopping(&self) -> PathBuf {
        self.dir.join("stopping")
    }
    pub fn incomplete(&self) -> PathBuf {
        self.dir.join("incomplete")
    }
    /// Takes the container's lock (an exclusive flock on its directory), released on drop.
    pub fn lock(&self) -> Result<fs::File, IoError> {
        let dir = fs::File::open(&self.dir).map_err(ctx("open", &self.dir))?;
        dir.lock().map_err(ctx("lock", &self.dir))?;
        Ok(dir)
    }
    pub fn etc_file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    /// The spec's `files` (secrets, configs), by index.
    pub fn files(&self) -> PathBuf {
        self.dir.join("files")
    }
    pub fn file(&self, index: usize) -> PathBuf {
        self.files().join(index.to_string())
    }
}

/// Reads a JSON file.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, IoError> {
    let bytes = fs::read(path).map_err(ctx("read", path))?;
    serde_json::from_slice(&bytes).map_err(|error| {
        IoError::new(
            "parse",
            path,
            io::Error::new(io::ErrorKind::InvalidData, error),
        )
    })
}

/// Replaces a file by rename, without fsync (see the module docs).
pub(crate) use crate::store::atomic::write_volatile;

impl State {
    /// Whether the container's init runs on although its monitor died ([`Status::Dead`]): its
    /// processes run without log relay, healthchecks or restart policy until it is stopped or
    /// started again.
    pub fn runs_unsupervised(&self) -> bool {
        self.status == Status::Dead
            && self.pid > 0
            && crate::sys::process::is_alive(self.pid, self.pid_start)
    }

    pub(crate) fn read(paths: &Paths) -> Result<Self, IoError> {
        match read_json(&paths.state()) {
            Err(error) if error.source.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            other => other,
        }
    }

    pub(crate) fn write(&self, paths: &Paths) -> Result<(), IoError> {
        let bytes = serde_json::to_vec_pretty(self).expect("state serialises");
        write_volatile(&paths.state(), &bytes)
    }
}

/// Now as RFC 3339 with nanoseconds (docker's `StartedAt` shape).
pub fn now_rfc3339_nanos() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = crate::time::format_rfc3339(now.as_secs() as i64);
    format!(
        "{}.{:09}Z",
        seconds.trim_end_matches('Z'),
        now.subsec_nanos()
    )
}
