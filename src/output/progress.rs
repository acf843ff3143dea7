//! Progress of long work, per resource, in the mode `--progress` picks (docker compose's names):
//!
//! - `tty`: a live view on standard error, one line per resource with a spinner and its elapsed time
//!   while it works, redrawn in place (ten times a second) until the command ends;
//! - `plain`: one line when a step starts and one when it ends, aligned like docker compose's
//!   (` ✔ Container demo-web-1  Started  0.4s`);
//! - `json`: one JSON object per event (`{"id":"Container demo-web-1","status":"Started",...}`);
//! - `quiet`: nothing;
//! - `auto` (default): `tty` when standard error is a terminal and colours are on, else `plain`.
//!
//! Standard error, so stdout stays for results. Steps run in parallel threads, so a [`Progress`] is
//! shared by reference and locks its state.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use clap::ValueEnum;

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    Auto,
    Tty,
    Plain,
    Json,
    Quiet,
}

static MODE: AtomicU8 = AtomicU8::new(0);

/// Applies `--progress` (after `--ansi`, which `auto` follows).
pub fn configure(mode: ProgressMode) {
    let resolved = match mode {
        ProgressMode::Auto if io::stderr().is_terminal() && super::colors_enabled() => {
            ProgressMode::Tty
        }
        ProgressMode::Auto => ProgressMode::Plain,
        other => other,
    };
    MODE.store(resolved as u8, Ordering::Relaxed);
}

/// The mode in effect (`auto` resolved to `tty` or `plain`).
pub fn mode() -> ProgressMode {
    match MODE.load(Ordering::Relaxed) {
        x if x == ProgressMode::Tty as u8 => ProgressMode::Tty,
        x if x == ProgressMode::Json as u8 => ProgressMode::Json,
        x if x == ProgressMode::Quiet as u8 => ProgressMode::Quiet,
        _ => ProgressMode::Plain,
    }
}

/// One resource in the live view.
struct Entry {
    resource: String,
    status: String,
    started: Instant,
    /// Set when the step ended: the time it took.
    elapsed: Option<Duration>,
}

#[derive(Default)]
struct View {
    entries: Vec<Entry>,
    /// Lines the last redraw wrote (the cursor goes back up that many).
    drawn: usize,
    frame: usize,
    stopped: bool,
}

/// Progress for a set of resources.
pub struct Progress {
    width: usize,
    mode: ProgressMode,
    view: Arc<(Mutex<View>, Condvar)>,
    ticker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

impl Progress {
    /// `names` are the resources that may appear (for alignment); `quiet` prints nothing.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>, quiet: bool) -> Progress {
        let width = names
            .into_iter()
            .map(|n| n.chars().count() + "Container ".len())
            .max()
            .unwrap_or(0);
        Progress {
            width,
            mode: if quiet { ProgressMode::Quiet } else { mode() },
            view: Arc::default(),
            ticker: Mutex::new(None),
        }
    }

    /// A step began.
    pub fn start(&self, kind: &str, name: &str, status: &str) {
        let resource = format!("{kind} {name}");
        match self.mode {
            ProgressMode::Quiet | ProgressMode::Auto => {}
            ProgressMode::Plain => self.line(&format!(
                " {} {resource:<width$}  {status}",
                super::paint("·", "2"),
                width = self.width
            )),
            ProgressMode::Json => self.json(&resource, status, None),
            ProgressMode::Tty => {
                {
                    let (view, _) = &*self.view;
                    let mut view = view.lock().expect("progress lock");
                    match view.entries.iter_mut().find(|e| e.resource == resource) {
                        Some(entry) => {
                            entry.status = status.to_string();
                            // A new status of a running step (bytes so far) keeps its start.
                            if entry.elapsed.is_some() {
                                entry.started = Instant::now();
                            }
                            entry.elapsed = None;
                        }
                        None => view.entries.push(Entry {
                            resource,
                            status: status.to_string(),
                            started: Instant::now(),
                            elapsed: None,
                        }),
                    }
                    redraw(&mut view, self.width);
                }
                self.ensure_ticker();
            }
        }
    }

    /// A step ended.
    pub fn done(&self, kind: &str, name: &str, status: &str, elapsed: Duration) {
        let resource = format!("{kind} {name}");
        match self.mode {
            ProgressMode::Quiet | ProgressMode::Auto => {}
            ProgressMode::Plain => self.line(&format!(
                " {} {resource:<width$}  {status:<9} {:>5.1}s",
                done_mark(status),
                elapsed.as_secs_f64(),
                width = self.width
            )),
            ProgressMode::Json => self.json(&resource, status, Some(elapsed)),
            ProgressMode::Tty => {
                let (view, _) = &*self.view;
                let mut view = view.lock().expect("progress lock");
                match view.entries.iter_mut().find(|e| e.resource == resource) {
                    Some(entry) => {
                        entry.status = status.to_string();
                        entry.elapsed = Some(elapsed);
                    }
                    None => view.entries.push(Entry {
                        resource,
                        status: status.to_string(),
                        started: Instant::now(),
                        elapsed: Some(elapsed),
                    }),
                }
                redraw(&mut view, self.width);
            }
        }
    }

    /// A part of a step moved bytes, or ended: a layer (`id`, its short digest) of image `parent`
    /// being pulled, with `current` of `total` bytes; `done` when it ended (`Pull complete`,
    /// `Already exists`). As JSON, docker compose's fields for it: `parent_id`, `current`, `total`,
    /// `percent`.
    pub fn layer(
        &self,
        id: &str,
        parent: &str,
        status: &str,
        bytes: Option<(u64, u64)>,
        done: bool,
    ) {
        if self.mode == ProgressMode::Json {
            let mut value = serde_json::json!({
                "id": format!("Layer {id}"),
                "parent_id": format!("Image {parent}"),
                "status": status,
                "done": done,
            });
            if let Some((current, total)) = bytes {
                value["current"] = serde_json::json!(current);
                value["total"] = serde_json::json!(total);
                if let Some(percent) = (current.min(total) * 100).checked_div(total) {
                    value["percent"] = serde_json::json!(percent);
                }
            }
            self.line(&value.to_string());
            return;
        }
        let status = match bytes {
            Some((current, total)) if !done => format!(
                "{status} {}/{}",
                super::human::size(current),
                super::human::size(total)
            ),
            _ => status.to_owned(),
        };
        if done {
            self.done("Layer", id, &status, Duration::ZERO);
        } else {
            self.start("Layer", id, &status);
        }
    }

    /// A step that moves bytes made progress: `current` of `total` bytes at `rate` bytes a second
    /// (an image being pulled, all its layers together). As JSON, with docker compose's `current`,
    /// `total` and `percent`, and `rate`.
    pub fn transfer(
        &self,
        kind: &str,
        name: &str,
        status: &str,
        current: u64,
        total: u64,
        rate: u64,
    ) {
        if self.mode == ProgressMode::Json {
            let mut value = serde_json::json!({
                "id": format!("{kind} {name}"),
                "status": status,
                "current": current,
                "total": total,
                "rate": rate,
                "done": false,
            });
            if let Some(percent) = (current.min(total) * 100).checked_div(total) {
                value["percent"] = serde_json::json!(percent);
            }
            self.line(&value.to_string());
            return;
        }
        self.start(
            kind,
            name,
            &format!(
                "{status} {}/{} ({}/s)",
                super::human::size(current),
                super::human::size(total),
                super::human::size(rate)
            ),
        );
    }

    fn line(&self, text: &str) {
        let _ = writeln!(io::stderr().lock(), "{}", text.trim_end());
    }

    fn json(&self, resource: &str, status: &str, elapsed: Option<Duration>) {
        let mut value = serde_json::json!({
            "id": resource,
            "status": status,
            "done": elapsed.is_some(),
        });
        if let Some(elapsed) = elapsed {
            value["elapsed"] = serde_json::json!(elapsed.as_secs_f64());
        }
        self.line(&value.to_string());
    }

    /// Starts the thread that redraws while steps are running (spinner and times move).
    fn ensure_ticker(&self) {
        let mut ticker = self.ticker.lock().expect("progress lock");
        if ticker.is_some() {
            return;
        }
        let shared = Arc::clone(&self.view);
        let width = self.width;
        *ticker = Some(std::thread::spawn(move || {
            let (lock, wake) = &*shared;
            let mut view = lock.lock().expect("progress lock");
            loop {
                let (next, _) = wake
                    .wait_timeout(view, Duration::from_millis(100))
                    .expect("progress lock");
                view = next;
                if view.stopped {
                    return;
                }
                if view.entries.iter().any(|e| e.elapsed.is_none()) {
                    view.frame += 1;
                    redraw(&mut view, width);
                }
            }
        }));
    }
}

/// The mark of an ended step: a green tick, or docker compose's red cross for `Error`.
fn done_mark(status: &str) -> String {
    if status == "Error" {
        super::paint("✘", "31")
    } else {
        super::paint("✔", "32")
    }
}

/// Rewrites the live view in place: cursor up over the last drawing, then every line again.
fn redraw(view: &mut View, width: usize) {
    let mut text = String::new();
    if view.drawn > 0 {
        text.push_str(&format!("\x1b[{}A", view.drawn));
    }
    let spinner = SPINNER[view.frame % SPINNER.len()];
    for entry in &view.entries {
        let (mark, elapsed) = match entry.elapsed {
            Some(elapsed) => (done_mark(&entry.status), elapsed),
            None => (super::paint(spinner, "34"), entry.started.elapsed()),
        };
        text.push_str(&format!(
            "\x1b[2K {mark} {:<width$}  {:<9} {:>5.1}s\n",
            entry.resource,
            entry.status,
            elapsed.as_secs_f64(),
        ));
    }
    view.drawn = view.entries.len();
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

impl Drop for Progress {
    fn drop(&mut self) {
        let (lock, wake) = &*self.view;
        if let Ok(mut view) = lock.lock() {
            view.stopped = true;
        }
        wake.notify_all();
        if let Some(ticker) = self.ticker.lock().ok().and_then(|mut t| t.take()) {
            let _ = ticker.join();
        }
    }
}
