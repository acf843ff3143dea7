//! The only module that writes to the terminal: command results on stdout, diagnostics on stderr.
//! A closed pipe (`rcompose config | head`) is not an error.

use std::io::{self, Write};
use std::process::ExitCode;

use crate::project::diag::Diagnostics;

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

/// Writes warnings (one line each, prefixed) to standard error.
pub fn warnings(warnings: &[String]) {
    let mut err = io::stderr().lock();
    for warning in warnings {
        let _ = writeln!(err, "WARN[0000] {warning}");
    }
}

/// Renders an error chain on stderr and picks the exit code.
pub fn report_error(error: &anyhow::Error) -> ExitCode {
    let mut err = io::stderr().lock();
    if let Some(diagnostics) = error.downcast_ref::<Diagnostics>() {
        let _ = write!(err, "{diagnostics}");
        return ExitCode::from(diagnostics.exit_code());
    }
    let _ = writeln!(err, "error: {error}");
    for cause in error.chain().skip(1) {
        let _ = writeln!(err, "  caused by: {cause}");
    }
    ExitCode::FAILURE
}

pub mod table;
pub mod yaml;
