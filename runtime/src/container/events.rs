//! Container events (`create`, `start`, `die`, `oom`, `kill`, `stop`, `pause`, `unpause`,
//! `health_status: healthy`, `destroy`), appended by the library and by the monitors to one file,
//! `<root>/events.jsonl`, in docker's event shape (`Type`, `Action`, `Actor.ID`,
//! `Actor.Attributes` with the container's name and labels, `time`, `timeNano`), so `events` can
//! show them, follow them, and filter by label, with no daemon.
//!
//! Each event is one `write` of one line to a file opened with `O_APPEND`, so writers in different
//! processes never interleave within a line. At 4 MiB the file moves to `events.jsonl.1` (one older
//! generation is kept).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::state::Record;

const MAX_SIZE: u64 = 4 << 20;

/// Who an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// One event, as `docker events --format json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

/// The events file under a state root.
pub fn path(root: &Path) -> PathBuf {
    root.join("events.jsonl")
}

/// Appends an event about a container; failures are ignored (events are informational).
pub fn emit(root: &Path, record: &Record, action: &str, extra: &[(&str, String)]) {
    let mut attributes = record.spec.labels.clone();
    attributes.insert("name".into(), record.spec.name.clone());
    for (key, value) in extra {
        attributes.insert((*key).to_owned(), value.clone());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let event = Event {
        kind: "container".into(),
        action: action.into(),
        actor: Actor {
            id: record.id.clone(),
            attributes,
        },
        time: now.as_secs() as i64,
        time_nano: now.as_nanos() as i64,
    };
    let _ = append(root, &event);
}

fn append(root: &Path, event: &Event) -> io::Result<()> {
    let file = path(root);
    if fs::metadata(&file).is_ok_and(|m| m.len() > MAX_SIZE) {
        let _ = fs::rename(&file, root.join("events.jsonl.1"));
    }
    let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
    line.push(b'\n');
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)?
        .write_all(&line)
}

/// Every event kept, oldest first.
pub fn read(root: &Path) -> io::Result<Vec<Event>> {
    let mut events = Vec::new();
    for file in [root.join("events.jsonl.1"), path(root)] {
        let file = match fs::File::open(&file) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        for line in BufReader::new(file).lines() {
            if let Ok(event) = serde_json::from_str(&line?) {
                events.push(event);
            }
        }
    }
    Ok(events)
}
