//! Container logs on the terminal: `web-1  | line` with the prefix padded to the widest name and
//! coloured per service (the colour follows the service name, so it is stable across runs).

use std::io::{self, Write};

/// The colours docker compose cycles through.
const COLORS: [&str; 6] = ["36", "33", "32", "35", "34", "31"];

/// Formats log lines for a set of containers.
pub struct LogPrinter {
    width: usize,
    prefix: bool,
    color: bool,
    timestamps: bool,
}

impl LogPrinter {
    pub fn new<'a>(
        names: impl IntoIterator<Item = &'a str>,
        prefix: bool,
        color: bool,
        timestamps: bool,
    ) -> LogPrinter {
        let width = names
            .into_iter()
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(0);
        LogPrinter {
            width,
            prefix,
            color: color && super::colors_enabled(),
            timestamps,
        }
    }

    /// Writes one line of `name`'s (service `service`) output.
    pub fn line(&self, name: &str, service: &str, time: &str, text: &str) {
        let mut out = String::new();
        if self.prefix {
            // docker compose pads one column past the widest name: `web-1  | `.
            let padded = format!("{name:<width$} | ", width = self.width + 1);
            if self.color {
                let color = COLORS[service
                    .bytes()
                    .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
                    % COLORS.len()];
                out.push_str(&format!("\x1b[{color}m{padded}\x1b[0m"));
            } else {
                out.push_str(&padded);
            }
        }
        if self.timestamps {
            out.push_str(time);
            out.push(' ');
        }
        out.push_str(text.strip_suffix('\n').unwrap_or(text));
        out.push('\n');
        let mut stdout = io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
}
