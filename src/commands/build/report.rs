//! What builds print, in the mode `--progress` picks, shared by the builds running at once:
//!
//! - `plain` (and `auto` off a terminal): a line per step as it ends, prefixed with the build's
//!   service, its stage when it has several, and its step count in the stage as docker counts
//!   (`[api build 3/4] RUN make 1.2s`, `... CACHED`; `FROM` is step 1), `RUN` output as
//!   `api  | line`, and `✔ Image NAME Built 4.2s` per name at the end;
//! - `tty` (and `auto` on a terminal): the live view of `output::progress`, a line per image with
//!   the step it is on; `RUN` output is left out (a failed step's last lines are in its error);
//! - `json`: the live view's events as JSON lines;
//! - `quiet`, or `build -q`: nothing.

use std::time::Duration;

use crate::output;
use crate::output::progress::{Progress, ProgressMode};

/// The progress of the builds of one command.
pub struct Report {
    mode: ProgressMode,
    live: Option<Progress>,
}

/// How much of a step's text the live view shows (its lines must not wrap).
const LIVE_TEXT: usize = 48;

impl Report {
    /// A report for builds of the images `images` (for alignment); `quiet` prints nothing.
    pub fn new<'a>(images: impl IntoIterator<Item = &'a str>, quiet: bool) -> Report {
        let mode = if quiet {
            ProgressMode::Quiet
        } else {
            output::progress::mode()
        };
        let live = matches!(mode, ProgressMode::Tty | ProgressMode::Json)
            .then(|| Progress::new(images, false));
        Report { mode, live }
    }

    /// A build of `image` (the build of service `label`) begins.
    pub fn started(&self, _label: &str, image: &str) {
        if let Some(live) = &self.live {
            live.start("Image", image, "Building");
        }
    }

    /// Step `number` of `total` begins.
    pub fn step_started(&self, _label: &str, image: &str, number: usize, total: usize, text: &str) {
        if let Some(live) = &self.live {
            let text = if self.mode == ProgressMode::Tty {
                shorten(text, LIVE_TEXT)
            } else {
                text.to_owned()
            };
            live.start("Image", image, &format!("[{number}/{total}] {text}"));
        }
    }

    /// A stage begins on its base (`FROM ...`, step 1 of `total`).
    pub fn stage_from(&self, label: &str, total: usize, text: &str) {
        if self.mode == ProgressMode::Plain {
            output::stderr_line(&format!("[{label} 1/{total}] {text}"));
        }
    }

    /// A line a `RUN` step printed.
    pub fn output(&self, label: &str, line: &str) {
        if self.mode == ProgressMode::Plain {
            output::stderr_line(&format!("{label}  | {line}"));
        }
    }

    /// Step `number` of `total` ended.
    #[allow(clippy::too_many_arguments)]
    pub fn step_done(
        &self,
        label: &str,
        image: &str,
        number: usize,
        total: usize,
        text: &str,
        cached: bool,
        elapsed: Duration,
    ) {
        let outcome = if cached {
            "CACHED".to_owned()
        } else {
            format!("{:.1}s", elapsed.as_secs_f64())
        };
        match self.mode {
            ProgressMode::Plain => {
                output::stderr_line(&format!("[{label} {number}/{total}] {text} {outcome}"))
            }
            ProgressMode::Json => {
                if let Some(live) = &self.live {
                    live.start(
                        "Image",
                        image,
                        &format!("[{number}/{total}] {text} {outcome}"),
                    );
                }
            }
            _ => {}
        }
    }

    /// The build of `image` failed (its error is reported by the caller).
    pub fn failed(&self, image: &str, elapsed: Duration) {
        if let Some(live) = &self.live {
            live.done("Image", image, "Error", elapsed);
        }
    }

    /// The build is stored under `names`.
    pub fn built(&self, names: &[&str], elapsed: Duration) {
        match (&self.live, self.mode) {
            (_, ProgressMode::Plain) => {
                for name in names {
                    output::stderr_line(&format!(
                        "✔ Image {name} Built {:.1}s",
                        elapsed.as_secs_f64()
                    ));
                }
            }
            (Some(live), _) => {
                for name in names {
                    live.done("Image", name, "Built", elapsed);
                }
            }
            _ => {}
        }
    }
}

/// `text` cut to `width` characters, with `...` when cut.
fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    format!(
        "{}...",
        text.chars()
            .take(width.saturating_sub(3))
            .collect::<String>()
    )
}
