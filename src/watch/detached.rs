//! A watch that outlives the command that started it: `up -d --watch` and `watch -d`. docker
//! compose refuses `up -d --watch`, so a watch there holds a terminal for as long as one works on a
//! project; here the watcher is `rcompose watch --no-up` in a session of its own, and the project
//! says where it is.
//!
//! One watcher per project and state root: its process (pid and start time, so a reused pid is never
//! taken for it) in `<root>/watchers/<project>.json`, its output in `<project>.log` beside it.
//! `watch --status` tells whether it runs and shows its last lines, `watch --stop` ends it (Ctrl-C,
//! as a terminal would), and `down` ends it first (and removes its log): a watcher left behind
//! would bring the project back at the next edit of its compose file.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use runtime::container::spec::signal_from_name;
use runtime::sys::process::{is_alive, pidfd_open, pidfd_send_signal, setsid, start_time};
use serde::{Deserialize, Serialize};

use crate::cli::GlobalOptions;

/// The line a watcher prints once it follows the files.
const READY: &str = "Watch enabled";
/// How long `start` waits for that line (the walk of a large tree, a slow disk).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `stop` waits after Ctrl-C before it kills.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A detached watcher's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Watcher {
    pub pid: i32,
    pub start_time: u64,
    pub log: PathBuf,
}

impl Watcher {
    pub fn alive(&self) -> bool {
        is_alive(self.pid, self.start_time)
    }
}

fn record_path(root: &Path, project: &str) -> PathBuf {
    root.join("watchers").join(format!("{project}.json"))
}

fn log_path(root: &Path, project: &str) -> PathBuf {
    root.join("watchers").join(format!("{project}.log"))
}

/// The project's watcher, if one runs.
pub fn running(root: &Path, project: &str) -> Option<Watcher> {
    let bytes = fs::read(record_path(root, project)).ok()?;
    let watcher: Watcher = serde_json::from_slice(&bytes).ok()?;
    watcher.alive().then_some(watcher)
}

/// Starts `rcompose watch --no-up` for `project` in a session of its own and returns once it
/// watches (or says why it could not). A watcher that already runs is kept and returned.
pub fn start(
    global: &GlobalOptions,
    root: &Path,
    project: &str,
    services: &[String],
    prune: bool,
) -> anyhow::Result<Watcher> {
    if let Some(watcher) = running(root, project) {
        return Ok(watcher);
    }
    if global.files.iter().any(|file| file == Path::new("-")) {
        bail!(
            "a detached watch reads the compose files again when they change: give them as files, not `-f -`"
        );
    }
    // Private, as everything under the state root (a watcher's lines may show the project's files).
    runtime::store::private_dir(&root.join("watchers"))?;
    let log = log_path(root, project);
    let output = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let from = output.metadata().map(|m| m.len()).unwrap_or(0);
    let mut command = Command::new(std::env::current_exe().context("cannot find rcompose itself")?);
    command
        .args(global_arguments(global, root, project))
        .arg("watch")
        .arg("--no-up")
        .arg(format!("--prune={prune}"))
        .args(services)
        .stdin(Stdio::null())
        .stdout(output.try_clone()?)
        .stderr(output);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(setsid);
    }
    let mut child = command.spawn().context("cannot start the watcher")?;
    let pid = child.id() as i32;
    let watcher = Watcher {
        pid,
        start_time: start_time(pid).context("cannot read the watcher's start time")?,
        log: log.clone(),
    };
    let record = record_path(root, project);
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&record)
        .and_then(|mut file| file.write_all(&serde_json::to_vec(&watcher)?))
        .with_context(|| format!("cannot write {}", record.display()))?;
    let started = Instant::now();
    loop {
        let text = read_from(&log, from);
        if text.contains(READY) {
            return Ok(watcher);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let _ = fs::remove_file(&record);
            bail!(
                "the watcher ended ({status}) before it watched:\n{}",
                text.trim_end()
            );
        }
        if started.elapsed() > START_TIMEOUT {
            stop(root, project)?;
            bail!(
                "the watcher did not start watching within {} s:\n{}",
                START_TIMEOUT.as_secs(),
                text.trim_end()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Ends the project's watcher (Ctrl-C, then a kill if it does not end); false if none ran.
pub fn stop(root: &Path, project: &str) -> anyhow::Result<bool> {
    let record = record_path(root, project);
    let Some(watcher) = running(root, project) else {
        let _ = fs::remove_file(&record);
        return Ok(false);
    };
    // Through a pidfd taken while the process is known to be the watcher (its start time), so a
    // reused pid is never signalled.
    let Ok(pidfd) = pidfd_open(watcher.pid) else {
        let _ = fs::remove_file(&record);
        return Ok(false);
    };
    if !watcher.alive() {
        let _ = fs::remove_file(&record);
        return Ok(false);
    }
    let signal = |name: &str| {
        let number = signal_from_name(name).expect("a known signal");
        pidfd_send_signal(std::os::fd::AsFd::as_fd(&pidfd), number)
    };
    signal("SIGINT").context("cannot stop the watcher")?;
    let asked = Instant::now();
    while watcher.alive() {
        if asked.elapsed() > STOP_TIMEOUT {
            let _ = signal("SIGKILL");
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = fs::remove_file(&record);
    Ok(true)
}

/// Ends the project's watcher and removes its log (`down`: nothing of the project stays).
pub fn remove(root: &Path, project: &str) -> anyhow::Result<()> {
    stop(root, project)?;
    let log = log_path(root, project);
    match fs::remove_file(&log) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("cannot remove {}", log.display()))
        }
        _ => Ok(()),
    }
}

/// The last `lines` lines of a watcher's log.
pub fn tail(log: &Path, lines: usize) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// What `log` holds from byte `from` on.
fn read_from(log: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = fs::File::open(log)
        && file.seek(SeekFrom::Start(from)).is_ok()
    {
        let _ = file.read_to_string(&mut text);
    }
    text
}

/// The global options that make the watcher see the same project: the same files, directory,
/// environment files and profiles, the project's name as resolved and the same state root.
fn global_arguments(global: &GlobalOptions, root: &Path, project: &str) -> Vec<String> {
    let absolute = |path: &Path| {
        std::path::absolute(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string()
    };
    let mut args = Vec::new();
    for file in &global.files {
        args.extend(["-f".to_string(), absolute(file)]);
    }
    if let Some(dir) = &global.project_directory {
        args.extend(["--project-directory".to_string(), absolute(dir)]);
    }
    for env_file in &global.env_files {
        args.extend(["--env-file".to_string(), absolute(env_file)]);
    }
    for profile in &global.profiles {
        args.extend(["--profile".to_string(), profile.clone()]);
    }
    args.extend([
        "-p".to_string(),
        project.to_string(),
        "--root".to_string(),
        absolute(root),
        "--ansi".to_string(),
        "never".to_string(),
        "--progress".to_string(),
        "plain".to_string(),
    ]);
    args
}
