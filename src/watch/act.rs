//! Carrying out a service's [`Work`]: sync, rebuild, restart, exec. The containers are looked up
//! for each batch, so a container that restarted or was recreated keeps receiving files.
//!
//! A sync goes through the runtime's copy helper (`cp-sync`): one tar stream per container and
//! rule, written here from the host files (regular files read whole, so a file written meanwhile
//! cannot make the archive inconsistent), with whiteout entries for removed paths and the owner of
//! the container's main process, as docker compose's `tar` run in the container would leave them.
//! The image needs neither `tar` nor `rm`.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use runtime::container::{ExecSpec, Info, Status};

use super::plan::Sync;
use super::rules::Rules;
use crate::commands::scope::Scope;
use crate::reconcile::apply::{ApplyOptions, stop_timeout};
use crate::reconcile::snapshot::ObservedContainer;

/// The containers of a service that run now (a paused one takes files too).
pub fn running(scope: &Scope, service: &str) -> anyhow::Result<Vec<(ObservedContainer, Info)>> {
    Ok(scope
        .containers(&[service.to_string()], false)?
        .into_iter()
        .filter(|(_, info)| takes_files(info))
        .collect())
}

fn takes_files(info: &Info) -> bool {
    matches!(info.state.status, Status::Running | Status::Paused)
}

/// Where a sync went: the containers that took the files, and those between two runs of their
/// restart policy, which take them once they run again.
pub struct Synced {
    pub into: Vec<String>,
    pub restarting: Vec<ObservedContainer>,
}

/// Applies the syncs to every running container of `service`, at once.
pub fn sync(scope: &Scope, service: &str, syncs: &[Sync]) -> anyhow::Result<Synced> {
    let (live, others): (Vec<_>, Vec<_>) = scope
        .containers(&[service.to_string()], false)?
        .into_iter()
        .partition(|(_, info)| takes_files(info));
    let results: Vec<anyhow::Result<()>> = std::thread::scope(|threads| {
        let handles: Vec<_> = live
            .iter()
            .map(|(observed, info)| threads.spawn(move || sync_into(scope, observed, info, syncs)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| bail!("a sync thread panicked")))
            .collect()
    });
    results.into_iter().collect::<anyhow::Result<()>>()?;
    Ok(Synced {
        into: live.into_iter().map(|(c, _)| c.name).collect(),
        restarting: others
            .into_iter()
            .filter(|(_, info)| info.state.status == Status::Restarting)
            .map(|(c, _)| c)
            .collect(),
    })
}

/// What became of a container that was restarting when files changed.
pub enum Later {
    /// It runs again and took the files.
    Synced,
    /// Still between two runs.
    Waiting,
    /// Stopped or removed: nothing to sync into.
    Gone,
}

/// Syncs into `container` (of `service`), which was restarting, if it runs now.
pub fn sync_later(
    scope: &Scope,
    service: &str,
    container: &ObservedContainer,
    syncs: &[Sync],
) -> anyhow::Result<Later> {
    let found = scope
        .containers(&[service.to_string()], false)?
        .into_iter()
        .find(|(observed, _)| observed.id == container.id);
    match found {
        Some((observed, info)) if takes_files(&info) => {
            sync_into(scope, &observed, &info, syncs)?;
            Ok(Later::Synced)
        }
        Some((_, info)) if info.state.status == Status::Restarting => Ok(Later::Waiting),
        _ => Ok(Later::Gone),
    }
}

fn sync_into(
    scope: &Scope,
    container: &ObservedContainer,
    info: &Info,
    syncs: &[Sync],
) -> anyhow::Result<()> {
    let owner = owner(info.state.pid);
    for sync in syncs {
        sync_one(scope, container, sync, owner)?;
    }
    Ok(())
}

fn sync_one(
    scope: &Scope,
    container: &ObservedContainer,
    sync: &Sync,
    owner: (u64, u64),
) -> anyhow::Result<()> {
    let mut child = scope
        .engine
        .containers
        .copy_sync_command(&container.id, &sync.dir)
        .with_context(|| format!("cannot sync into {}", container.name))?
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot sync into {}", container.name))?;
    let stdin = child.stdin.take().expect("piped");
    let written = archive(stdin, sync, owner);
    let output = child
        .wait_with_output()
        .with_context(|| format!("cannot sync into {}", container.name))?;
    if !output.status.success() {
        bail!(
            "cannot sync into {}:{}: {}",
            container.name,
            sync.dir,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    written.with_context(|| format!("cannot sync into {}", container.name))
}

/// Writes the sync's tar: removals first (whiteouts), then the copies.
fn archive(out: impl Write, sync: &Sync, owner: (u64, u64)) -> std::io::Result<()> {
    let mut builder = tar::Builder::new(out);
    for name in &sync.removals {
        let path = Path::new(name);
        let Some(file) = path.file_name() else {
            continue;
        };
        let whiteout = path.with_file_name(format!("{}{}", WHITEOUT, file.to_string_lossy()));
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(0);
        header.set_mode(0o600);
        builder.append_data(&mut header, whiteout, std::io::empty())?;
    }
    for (host, name) in &sync.copies {
        if Path::new(name)
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(WHITEOUT))
        {
            continue; // a host file named like a whiteout cannot be sent
        }
        let Ok(metadata) = fs::symlink_metadata(host) else {
            continue; // gone since: its removal comes with the next batch
        };
        let mut header = tar::Header::new_gnu();
        header.set_metadata(&metadata);
        header.set_uid(owner.0);
        header.set_gid(owner.1);
        let kind = metadata.file_type();
        if kind.is_file() {
            let Ok(data) = fs::read(host) else {
                continue;
            };
            header.set_size(data.len() as u64);
            builder.append_data(&mut header, name, data.as_slice())?;
        } else if kind.is_dir() {
            header.set_size(0);
            builder.append_data(&mut header, name, std::io::empty())?;
        } else if kind.is_symlink() {
            let target = fs::read_link(host)?;
            header.set_size(0);
            builder.append_link(&mut header, name, target)?;
        }
    }
    builder.into_inner()?.flush()
}

const WHITEOUT: &str = ".wh.";

/// The real user and group of a container's main process (root when unknown).
fn owner(pid: i32) -> (u64, u64) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |key: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|id| id.parse().ok())
            .unwrap_or(0)
    };
    (field("Uid:"), field("Gid:"))
}

/// Restarts the containers of `services` (stop within the grace period, then start).
pub fn restart(scope: &Scope, services: &[String]) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for (observed, _) in scope.containers(services, false)? {
        let timeout = stop_timeout(
            &ApplyOptions::default(),
            scope.loaded.project.services.get(&observed.service),
        );
        let runtime = &scope.engine.containers;
        runtime
            .stop(&observed.id, Some(timeout))
            .with_context(|| format!("cannot stop {}", observed.name))?;
        runtime
            .start(&observed.id)
            .with_context(|| format!("cannot start {}", observed.name))?;
        names.push(observed.name);
    }
    Ok(names)
}

/// Runs the `exec` of rule `rule` in every running container of its service; returns each
/// container's name and exit code. The command's output goes to ours.
pub fn exec(scope: &Scope, rules: &Rules, rule: usize) -> anyhow::Result<Vec<(String, i32)>> {
    let rule = &rules.rules[rule];
    let Some(hook) = &rule.exec else {
        return Ok(Vec::new());
    };
    let env = hook
        .environment
        .iter()
        .map(|(key, value)| match value {
            Some(value) => format!("{key}={value}"),
            None => format!("{key}={}", std::env::var(key).unwrap_or_default()),
        })
        .collect();
    let spec = ExecSpec {
        args: hook.command.clone(),
        env,
        user: hook.user.clone(),
        cwd: hook.working_dir.clone(),
        privileged: hook.privileged,
        tty: false,
    };
    let mut codes = Vec::new();
    for (observed, _) in running(scope, &rule.service)? {
        let status = scope
            .engine
            .containers
            .exec_command(&observed.id, &spec)
            .with_context(|| format!("cannot exec in {}", observed.name))?
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("cannot exec in {}", observed.name))?;
        codes.push((observed.name, status.code().unwrap_or(-1)));
    }
    Ok(codes)
}

/// Rebuilds `service`'s image through the build cache and recreates its containers (named volumes
/// stay), then restarts the dependents that ask for it (`depends_on.<service>.restart: true`).
/// With `prune`, the image the containers ran before goes if nothing else uses or names it.
pub fn rebuild(scope: &Scope, service: &str, prune: bool) -> anyhow::Result<()> {
    let before: Vec<String> = scope
        .containers(&[service.to_string()], false)?
        .into_iter()
        .filter_map(|(observed, _)| observed.image_id)
        .collect();
    crate::commands::up::up_detached(scope, &[service.to_string()], true, true)?;
    let dependents: Vec<String> = scope
        .loaded
        .project
        .services
        .iter()
        .filter(|(_, s)| s.depends_on.get(service).is_some_and(|d| d.restart))
        .map(|(name, _)| name.clone())
        .collect();
    if !dependents.is_empty() {
        restart(scope, &dependents)?;
    }
    if prune {
        let used: Vec<String> = scope
            .engine
            .containers
            .list()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|info| info.record.spec.labels.get(crate::labels::IMAGE).cloned())
            .collect();
        for id in before {
            let dangling = scope
                .engine
                .images
                .image(&id)
                .is_ok_and(|image| image.names.is_empty());
            if dangling && !used.contains(&id) {
                let _ = scope.engine.images.remove(&id, false);
            }
        }
    }
    Ok(())
}

/// A duration for a line: milliseconds under a second.
pub fn took(elapsed: Duration) -> String {
    if elapsed < Duration::from_secs(1) {
        format!("{} ms", elapsed.as_millis())
    } else {
        format!("{:.2} s", elapsed.as_secs_f64())
    }
}
