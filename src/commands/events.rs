//! `rcompose events`: the project's container events as they happen, until Ctrl-C, in docker
//! compose's shapes: `2026-11-29 09:00:00.123456 container start <id> (name=demo-web-1, ...)`, or
//! with `--json` one object a line (`time`, `type`, `action`, `id`, `service`, `attributes`).
//!
//! The runtime appends every event to one file under the state root (no daemon); this follows that
//! file from its end (or from `--since`), keeps the events whose Compose labels name this project
//! (and the services asked for), and drops the `com.docker.compose.*` labels from the attributes as
//! docker compose does (and rcompose's own `io.rcompose.*` ones).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use runtime::container::events::Event;
use serde_json::json;

use super::scope::Scope;
use super::time_filter;
use crate::cli::GlobalOptions;
use crate::labels;
use crate::output;

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Services (default: all)
    services: Vec<String>,
    /// Output events as a stream of json objects
    #[arg(long)]
    json: bool,
    /// Show all events created since timestamp (RFC 3339, Unix seconds, or a duration like 10m)
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this timestamp (RFC 3339, Unix seconds, or a duration like 10m)
    #[arg(long)]
    until: Option<String>,
}

pub fn run(global: &GlobalOptions, args: EventsArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    scope.check_services(&args.services)?;
    let now = runtime::time::now_unix();
    let since = args
        .since
        .as_deref()
        .map(|t| time_filter::unix_seconds(t, now, "--since"))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|t| time_filter::unix_seconds(t, now, "--until"))
        .transpose()?;
    let filter = Filter {
        project: scope.loaded.project.name.clone(),
        services: args.services.clone(),
        since,
        until,
    };
    let path = scope.engine.containers.events_path();
    runtime::sys::interrupt::catch();
    let mut follower = Follower::new(path, since.is_some());
    loop {
        for event in follower.read_new()? {
            if filter.keeps(&event) {
                output::stdout(&format_event(&event, args.json))?;
            }
        }
        if runtime::sys::interrupt::interrupted()
            || until.is_some_and(|u| runtime::time::now_unix() >= u)
        {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Which events are shown.
struct Filter {
    project: String,
    services: Vec<String>,
    since: Option<i64>,
    until: Option<i64>,
}

impl Filter {
    fn keeps(&self, event: &Event) -> bool {
        let attributes = &event.actor.attributes;
        event.kind == "container"
            && attributes.get(labels::PROJECT) == Some(&self.project)
            && (self.services.is_empty()
                || attributes
                    .get(labels::SERVICE)
                    .is_some_and(|s| self.services.contains(s)))
            && self.since.is_none_or(|since| event.time >= since)
            && self.until.is_none_or(|until| event.time <= until)
    }
}

/// An event as docker compose prints it.
fn format_event(event: &Event, as_json: bool) -> String {
    let attributes: BTreeMap<&String, &String> = event
        .actor
        .attributes
        .iter()
        .filter(|(key, _)| {
            !key.starts_with("com.docker.compose.") && !key.starts_with("io.rcompose.")
        })
        .collect();
    let seconds = event.time_nano.div_euclid(1_000_000_000);
    let nanos = event.time_nano.rem_euclid(1_000_000_000);
    let stamp = runtime::time::format_rfc3339(seconds);
    if as_json {
        // Go's RFC 3339 with nanoseconds, trailing zeros dropped.
        let fraction = format!("{nanos:09}");
        let fraction = fraction.trim_end_matches('0');
        let time = if fraction.is_empty() {
            stamp
        } else {
            format!("{}.{fraction}Z", stamp.trim_end_matches('Z'))
        };
        let service = event
            .actor
            .attributes
            .get(labels::SERVICE)
            .cloned()
            .unwrap_or_default();
        let value = json!({
            "action": event.action,
            "attributes": attributes,
            "id": event.actor.id,
            "service": service,
            "time": time,
            "type": "container",
        });
        return format!("{value}\n");
    }
    let attributes: Vec<String> = attributes
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    format!(
        "{}.{:06} container {} {} ({})\n",
        stamp.trim_end_matches('Z').replace('T', " "),
        nanos / 1000,
        event.action,
        event.actor.id,
        attributes.join(", ")
    )
}

/// The events file, read as it grows (and across its rotation to `events.jsonl.1`).
struct Follower {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl Follower {
    /// From the file's current end, or from the oldest event kept when `from_start`.
    fn new(path: PathBuf, from_start: bool) -> Follower {
        let mut follower = Follower {
            offset: std::fs::metadata(&path).map_or(0, |m| m.len()),
            path,
            partial: String::new(),
        };
        if from_start {
            follower.offset = 0;
            // The older generation first.
            let rotated = follower.rotated();
            follower.partial = std::fs::read_to_string(rotated).unwrap_or_default();
            if !follower.partial.is_empty() && !follower.partial.ends_with('\n') {
                follower.partial.push('\n');
            }
        }
        follower
    }

    fn rotated(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".1");
        name.into()
    }

    fn read_new(&mut self) -> anyhow::Result<Vec<Event>> {
        let length = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        if length < self.offset {
            // Rotated: the rest of the old file is now `.1`.
            let rotated = self.rotated();
            self.read_from(&rotated)?;
            self.offset = 0;
        }
        let path = self.path.clone();
        self.read_from(&path)?;
        let mut events = Vec::new();
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            if let Ok(event) = serde_json::from_str::<Event>(line.trim_end()) {
                events.push(event);
            }
        }
        Ok(events)
    }

    fn read_from(&mut self, path: &Path) -> anyhow::Result<()> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        file.seek(SeekFrom::Start(self.offset))
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut text = String::new();
        let read = file
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read {}", path.display()))?;
        self.offset += read as u64;
        self.partial.push_str(&text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::container::events::Actor;

    fn event() -> Event {
        Event {
            kind: "container".into(),
            action: "start".into(),
            actor: Actor {
                id: "abc".into(),
                attributes: BTreeMap::from([
                    (labels::PROJECT.to_string(), "demo".to_string()),
                    (labels::SERVICE.to_string(), "web".to_string()),
                    ("name".to_string(), "demo-web-1".to_string()),
                    ("tier".to_string(), "front".to_string()),
                    (labels::CONFIG.to_string(), "{}".to_string()),
                ]),
            },
            time: 1_795_942_800,
            time_nano: 1_795_942_800_123_456_000,
        }
    }

    #[test]
    fn lines_as_docker_compose_prints_them() {
        assert_eq!(
            format_event(&event(), false),
            "2026-11-29 09:00:00.123456 container start abc (name=demo-web-1, tier=front)\n"
        );
        let value: serde_json::Value = serde_json::from_str(&format_event(&event(), true)).unwrap();
        assert_eq!(
            value,
            json!({
                "action": "start",
                "attributes": {"name": "demo-web-1", "tier": "front"},
                "id": "abc",
                "service": "web",
                "time": "2026-11-29T09:00:00.123456Z",
                "type": "container",
            })
        );
    }

    #[test]
    fn only_the_project_and_its_named_services() {
        let filter = Filter {
            project: "demo".into(),
            services: vec!["db".into()],
            since: None,
            until: None,
        };
        assert!(!filter.keeps(&event()));
        let filter = Filter {
            services: vec![],
            ..filter
        };
        assert!(filter.keeps(&event()));
        let other = Filter {
            project: "other".into(),
            ..filter
        };
        assert!(!other.keeps(&event()));
    }
}
