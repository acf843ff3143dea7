//! The `rcompose` binary: parse the command line, run the command, turn errors into exit codes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The runtime re-executes this binary as a single-threaded helper (container monitors, exec):
    // dispatch it before anything else happens in this process.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(rcompose::engine::HELPER_SUBCOMMAND) {
        let code = runtime::monitor::main(&args[2..]);
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    let cli = rcompose::cli::Cli::parse();
    match rcompose::commands::run(cli) {
        Ok(code) => code,
        Err(error) => rcompose::output::report_error(&error),
    }
}
