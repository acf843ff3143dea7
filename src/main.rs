//! The `rcompose` binary: parse the command line, run the command, turn errors into exit codes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = rcompose::cli::Cli::parse();
    match rcompose::commands::run(cli) {
        Ok(code) => code,
        Err(error) => rcompose::output::report_error(&error),
    }
}
