//! `rcompose ls`: the projects on this machine (under this state root), found from their containers'
//! Compose labels, with docker compose's columns and status summary (`running(2), exited(1)`).
//! Needs no compose file.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde_json::json;

use crate::cli::GlobalOptions;
use crate::engine::Engine;
use crate::labels;
use crate::output;
use crate::output::table::Format;

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Show all projects, including those whose containers are all stopped
    #[arg(short, long)]
    all: bool,
    /// Only display project names
    #[arg(short, long)]
    quiet: bool,
    /// Filter output based on conditions provided (`name=<project>`)
    #[arg(long, value_name = "FILTER")]
    filter: Vec<String>,
    /// Format the output
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// One project as `ls` shows it.
#[derive(Debug, Default)]
struct Project {
    /// Container count by status, in docker's words.
    statuses: BTreeMap<&'static str, usize>,
    config_files: String,
}

impl Project {
    fn running(&self) -> bool {
        self.statuses.contains_key("running") || self.statuses.contains_key("restarting")
    }

    /// `running(2), exited(1)`: docker compose's summary.
    fn status(&self) -> String {
        self.statuses
            .iter()
            .map(|(status, count)| format!("{status}({count})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub fn run(global: &GlobalOptions, args: LsArgs) -> anyhow::Result<ExitCode> {
    let mut names = Vec::new();
    for filter in &args.filter {
        match filter.split_once('=') {
            Some(("name", name)) => names.push(name.to_string()),
            _ => anyhow::bail!("invalid filter {filter:?}: only `name=<project>` is supported"),
        }
    }
    let engine = Engine::open(global)?;
    let mut projects: BTreeMap<String, Project> = BTreeMap::new();
    for info in engine.containers.list().context("cannot list containers")? {
        let labels = &info.record.spec.labels;
        let Some(name) = labels.get(labels::PROJECT) else {
            continue;
        };
        let project = projects.entry(name.clone()).or_default();
        *project
            .statuses
            .entry(info.state.status.as_str())
            .or_default() += 1;
        if project.config_files.is_empty()
            && let Some(files) = labels.get(labels::CONFIG_FILES)
        {
            project.config_files = files.clone();
        }
    }
    projects.retain(|name, project| {
        (args.all || project.running()) && (names.is_empty() || names.contains(name))
    });
    if args.quiet {
        output::stdout(
            &projects
                .keys()
                .map(|name| format!("{name}\n"))
                .collect::<String>(),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    match args.format {
        Format::Json => {
            let list: Vec<_> = projects
                .iter()
                .map(|(name, project)| {
                    json!({
                        "Name": name,
                        "Status": project.status(),
                        "ConfigFiles": project.config_files,
                    })
                })
                .collect();
            output::stdout(&format!("{}\n", serde_json::Value::Array(list)))?;
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = projects
                .iter()
                .map(|(name, project)| {
                    vec![name.clone(), project.status(), project.config_files.clone()]
                })
                .collect();
            output::stdout(&output::table::render(
                &["NAME", "STATUS", "CONFIG FILES"],
                &rows,
            ))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
