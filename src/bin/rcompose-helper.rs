//! `rcompose-helper`: the small single-threaded executable that runs container monitors and exec
//! (see `runtime::monitor`). It links only the runtime crate, not the CLI (clap, the Compose loader):
//! an idle container's monitor is a long-lived process, and as a re-executed CLI binary it costs
//! 2.9 MiB RSS instead of 1.7 (release builds; 4.8 against 2.7 in debug builds).
//!
//! It is built and installed with `rcompose` (`cargo build`, `cargo install`), and `rcompose` looks
//! for it next to its own executable; without it, the CLI re-executes itself with its hidden
//! `__runtime` subcommand instead (see `rcompose::engine`). A helper from another build of the runtime
//! hands over to that fallback by itself.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = runtime::monitor::standalone_main(&args);
    ExitCode::from(code.clamp(0, 255) as u8)
}
