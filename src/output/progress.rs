//! Progress of long work, one line per finished step, aligned like docker compose's:
//! ` ✔ Container demo-web-1  Started  0.4s`. Written to standard error so stdout stays for results.

use std::io::{self, Write};
use std::time::Duration;

/// Progress lines for a set of resources.
pub struct Progress {
    width: usize,
    quiet: bool,
}

impl Progress {
    /// `names` are the resources that may appear (for alignment); `quiet` prints nothing.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>, quiet: bool) -> Progress {
        let width = names
            .into_iter()
            .map(|n| n.chars().count() + "Container ".len())
            .max()
            .unwrap_or(0);
        Progress { width, quiet }
    }

    /// A step began (shown only when it ends, to keep plain output short).
    pub fn start(&self, _kind: &str, _name: &str, _status: &str) {}

    /// A step ended.
    pub fn done(&self, kind: &str, name: &str, status: &str, elapsed: Duration) {
        if self.quiet {
            return;
        }
        let resource = format!("{kind} {name}");
        let mark = super::paint("✔", "32");
        let line = format!(
            " {mark} {resource:<width$}  {status:<9} {:.1}s",
            elapsed.as_secs_f64(),
            width = self.width
        );
        let _ = writeln!(io::stderr().lock(), "{}", line.trim_end());
    }
}
