//! Lifecycle hooks, run as docker compose runs them (`hook.go`): each `post_start` hook right after
//! its container starts, each `pre_stop` hook right before it is stopped, one after the other, as
//! an exec in the running container with the hook's `user`, `privileged`, `working_dir` and
//! `environment` (over the container's). A hook that exits non-zero fails the start or the stop
//! with docker compose's message: `SERVICE hook exited with status N: <last lines of its stderr,
//! else of its stdout>`.

use std::process::Stdio;

use anyhow::Context as _;
use runtime::container::ExecSpec;

use crate::engine::Engine;
use crate::project::model::{Hook, Project};

/// How much of a failing hook's output the error keeps (docker compose's bounds).
const TAIL_LINES: usize = 10;
const TAIL_BYTES: usize = 2048;

/// The `post_start` hooks of service `service_name` (none for a service the project lacks) in
/// container `id`, which has just started.
pub fn post_start(
    engine: &Engine,
    project: &Project,
    service_name: &str,
    id: &str,
) -> anyhow::Result<()> {
    match project.services.get(service_name) {
        Some(service) => run(engine, id, service_name, &service.post_start),
        None => Ok(()),
    }
}

/// The `pre_stop` hooks of service `service_name` in container `id`, about to be stopped: only
/// while it runs (docker compose ignores a container that is already stopped).
pub fn pre_stop(
    engine: &Engine,
    project: &Project,
    service_name: &str,
    id: &str,
) -> anyhow::Result<()> {
    let Some(service) = project.services.get(service_name) else {
        return Ok(());
    };
    if service.pre_stop.is_empty()
        || engine.containers.state(id).map_or(true, |state| {
            state.status != runtime::container::Status::Running
        })
    {
        return Ok(());
    }
    run(engine, id, service_name, &service.pre_stop)
}

/// Runs `hooks` in container `id` of service `service_name`, in order; the first failure ends it.
pub fn run(engine: &Engine, id: &str, service_name: &str, hooks: &[Hook]) -> anyhow::Result<()> {
    for hook in hooks {
        let exec = ExecSpec {
            args: hook.command.clone(),
            env: hook
                .environment
                .iter()
                .filter_map(|(key, value)| value.as_ref().map(|value| format!("{key}={value}")))
                .collect(),
            user: hook.user.clone().filter(|user| !user.is_empty()),
            cwd: hook.working_dir.clone().filter(|dir| !dir.is_empty()),
            privileged: hook.privileged,
            tty: false,
        };
        let output = engine
            .containers
            .exec_command(id, &exec)
            .with_context(|| format!("{service_name} hook"))?
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("{service_name} hook: cannot run the exec helper"))?;
        if output.status.success() {
            continue;
        }
        let code = output.status.code().unwrap_or(-1);
        let tail = match tail(&output.stderr) {
            text if text.is_empty() => tail(&output.stdout),
            text => text,
        };
        if tail.is_empty() {
            anyhow::bail!("{service_name} hook exited with status {code}");
        }
        anyhow::bail!("{service_name} hook exited with status {code}: {tail}");
    }
    Ok(())
}

/// The last lines of some output, bounded as docker compose bounds them.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(|line| line.rsplit('\r').next().unwrap_or(line))
        .filter(|line| !line.is_empty())
        .collect();
    let mut kept = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    if kept.len() > TAIL_BYTES {
        let mut cut = kept.len() - TAIL_BYTES;
        while !kept.is_char_boundary(cut) {
            cut += 1;
        }
        kept = kept[cut..].to_string();
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_lines() {
        let many: String = (0..30).map(|n| format!("line {n}\n")).collect();
        let kept = tail(many.as_bytes());
        assert!(kept.starts_with("line 20\n") && kept.ends_with("line 29"));
        assert_eq!(tail(b"50%\r100%\n"), "100%");
        assert_eq!(tail(b""), "");
    }
}
