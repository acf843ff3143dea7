//! The only module that writes to the terminal: command results on stdout, diagnostics on stderr.
//! A closed pipe (`rcompose config | head`) is not an error.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::AnsiMode;
use crate::project::diag::Diagnostics;

/// Whether stderr gets colours; decided once from `--ansi` by [`configure`].
static COLOR: AtomicBool = AtomicBool::new(false);

/// Applies `--ansi`: `always`, `never`, or colours only when standard error is a terminal (and
/// `NO_COLOR` is not set).
pub fn configure(ansi: AnsiMode) {
    let color = match ansi {
        AnsiMode::Always => true,
        AnsiMode::Never => false,
        AnsiMode::Auto => io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    COLOR.store(color, Ordering::Relaxed);
}

/// Whether colours are on (`--ansi`).
pub fn colors_enabled() -> bool {
    COLOR.load(Ordering::Relaxed)
}

/// Wraps `text` in an SGR sequence when colours are on.
pub(crate) fn paint(text: &str, sgr: &str) -> String {
    if COLOR.load(Ordering::Relaxed) {
        format!("\x1b[{sgr}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Colours a rendered diagnostic: `error:` red, `hint:` cyan, the caret line red.
fn paint_diagnostics(text: &str) -> String {
    if !COLOR.load(Ordering::Relaxed) {
        return text.to_string();
    }
    let mut out = String::new();
    for line in text.lines() {
        let painted = if let Some(rest) = line.strip_prefix("error:") {
            format!("{}{rest}", paint("error:", "1;31"))
        } else if let Some(rest) = line.strip_prefix("  hint:") {
            format!("  {}{rest}", paint("hint:", "1;36"))
        } else if line.trim_end().ends_with('^') && line.trim_start().starts_with('|') {
            let (gutter, caret) = line.split_at(line.rfind('^').unwrap_or(0));
            format!("{gutter}{}", paint(caret, "1;31"))
        } else {
            line.to_string()
        };
        out.push_str(&painted);
        out.push('\n');
    }
    out
}

/// Exit code for an invalid project (parse, interpolation, merge or validation errors), as docker compose.
pub const EXIT_INVALID_PROJECT: u8 = 15;
/// Exit code when no compose file was found, as docker compose.
pub const EXIT_NO_CONFIG: u8 = 14;

/// Writes a command's result to standard output.
pub fn stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes a line of progress to standard error (stdout stays for what scripts read).
pub fn stderr_line(text: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// Writes warnings (one line each, prefixed) to standard error.
pub fn warnings(warnings: &[String]) {
    let mut err = io::stderr().lock();
    for warning in warnings {
        let _ = writeln!(err, "{} {warning}", paint("WARN[0000]", "33"));
    }
}

/// Renders an error chain on stderr and picks the exit code.
pub fn report_error(error: &anyhow::Error) -> ExitCode {
    let mut err = io::stderr().lock();
    if let Some(diagnostics) = error.downcast_ref::<Diagnostics>() {
        let _ = write!(err, "{}", paint_diagnostics(&diagnostics.to_string()));
        return ExitCode::from(diagnostics.exit_code());
    }
    let _ = writeln!(err, "{} {error}", paint("error:", "1;31"));
    for cause in error.chain().skip(1) {
        let _ = writeln!(err, "  caused by: {cause}");
    }
    ExitCode::FAILURE
}

pub mod human;
pub mod logs;
pub mod progress;
pub mod stream;
pub mod table;
pub mod yaml;

/// A status line for the user on standard error (`Attaching to ...`, `web-1 exited with code 0`).
pub fn status(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}
