//! `rcompose version`: the version of this build.

use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::output;

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Shows only the version number
    #[arg(long)]
    short: bool,
    /// Format the output
    #[arg(long, value_enum, default_value_t = VersionFormat::Pretty)]
    format: VersionFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum VersionFormat {
    Pretty,
    Json,
}

pub fn run(args: VersionArgs) -> anyhow::Result<ExitCode> {
    let version = env!("CARGO_PKG_VERSION");
    let text = if args.short {
        format!("{version}\n")
    } else {
        match args.format {
            VersionFormat::Pretty => format!("rcompose version v{version}\n"),
            VersionFormat::Json => format!(
                "{}\n",
                serde_json::json!({ "version": format!("v{version}") })
            ),
        }
    };
    output::stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}
