//! `rcompose volume ...` (docker's volume verbs over the state root: `create`, `ls`, `inspect`, `rm`,
//! `prune`) and `rcompose volumes` (docker compose's: the project's volumes). Thin: parse flags, call
//! `runtime::volume`, format as docker does (`ls` table and `--format json` lines, `inspect` JSON).
//!
//! A volume is in use while any container, running or not, mounts it: `rm` refuses such a volume even
//! with `-f` (docker's rule; `-f` only ignores missing names), `prune` keeps it. `prune` takes only
//! anonymous volumes unless `-a`, as docker does since 23.0; with a project name (`-p`) it keeps to
//! that project's volumes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use runtime::container::Info;
use runtime::volume::{Config, Volume};
use serde_json::{Map, Value, json};

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::engine::Engine;
use crate::labels;
use crate::output;
use crate::project::model::VolumeType;

#[derive(Debug, Args)]
pub struct VolumeArgs {
    #[command(subcommand)]
    command: VolumeCommand,
}

#[derive(Debug, Subcommand)]
enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes (never one a container uses)
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused volumes (anonymous ones unless --all)
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// Volume name
    #[arg(value_name = "VOLUME")]
    name: String,
    /// Volume driver (only `local`)
    #[arg(short, long, default_value = runtime::volume::LOCAL_DRIVER)]
    driver: String,
    /// Driver options (`type=tmpfs`, `o=size=64m`, `o=bind`, `device=/path`)
    #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
    options: Vec<String>,
    /// Volume metadata
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ListFormat {
    #[default]
    Table,
    Json,
}

#[derive(Debug, Args)]
struct LsArgs {
    /// Only display volume names
    #[arg(short, long)]
    quiet: bool,
    /// Format the output: table or json (one object per line)
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
    /// Filter output (dangling=true|false, driver=NAME, label=KEY[=VALUE], name=TEXT)
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    filters: Vec<String>,
}

#[derive(Debug, Args)]
struct InspectArgs {
    /// Volumes
    #[arg(value_name = "VOLUME", required = true)]
    names: Vec<String>,
}

#[derive(Debug, Args)]
struct RmArgs {
    /// Volumes
    #[arg(value_name = "VOLUME", required = true)]
    names: Vec<String>,
    /// Do not fail on volumes that do not exist (volumes in use are still refused)
    #[arg(short, long)]
    force: bool,
}

#[derive(Debug, Args)]
struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation (rcompose never prompts; accepted for docker compatibility)
    #[arg(short, long)]
    force: bool,
    /// Only volumes that match (label=KEY[=VALUE], label!=KEY[=VALUE])
    #[arg(long = "filter", value_name = "FILTER")]
    filters: Vec<String>,
}

/// `rcompose volumes`: docker compose's listing of the project's volumes.
#[derive(Debug, Args)]
pub struct VolumesArgs {
    /// Only the volumes these services use
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,
    /// Only display volume names
    #[arg(short, long)]
    quiet: bool,
    /// Format the output: table or json (one object per line)
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
}

pub fn run(global: &GlobalOptions, args: VolumeArgs) -> anyhow::Result<ExitCode> {
    let engine = Engine::open(global)?;
    match args.command {
        VolumeCommand::Create(args) => create(&engine, args),
        VolumeCommand::Ls(args) => ls(&engine, args),
        VolumeCommand::Inspect(args) => inspect(&engine, args),
        VolumeCommand::Rm(args) => rm(&engine, args),
        VolumeCommand::Prune(args) => prune(&engine, global, args),
    }
}

/// `KEY=VALUE` pairs (a bare `KEY` has an empty value, as docker reads `--label`).
fn pairs(entries: &[String]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|entry| match entry.split_once('=') {
            Some((key, value)) => (key.to_string(), value.to_string()),
            None => (entry.clone(), String::new()),
        })
        .collect()
}

fn create(engine: &Engine, args: CreateArgs) -> anyhow::Result<ExitCode> {
    let config = Config {
        driver: Some(args.driver),
        options: pairs(&args.options),
        labels: pairs(&args.labels),
    };
    let volume = engine
        .volumes
        .create_with(&args.name, &config)
        .with_context(|| format!("cannot create volume {}", args.name))?;
    output::stdout(&format!("{}\n", volume.name))?;
    Ok(ExitCode::SUCCESS)
}

fn containers(engine: &Engine) -> anyhow::Result<Vec<Info>> {
    engine.containers.list().context("cannot list containers")
}

/// A `label=KEY[=VALUE]` filter.
fn has_label(volume: &Volume, label: &str) -> bool {
    match label.split_once('=') {
        Some((key, value)) => volume.labels.get(key).is_some_and(|v| v == value),
        None => volume.labels.contains_key(label),
    }
}

fn ls(engine: &Engine, args: LsArgs) -> anyhow::Result<ExitCode> {
    let all = containers(engine)?;
    let mut volumes = Vec::new();
    'volumes: for volume in engine.volumes.list()? {
        for filter in &args.filters {
            let keep = match filter.split_once('=') {
                Some(("dangling", value)) => {
                    let dangling = match value {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        other => bail!("invalid filter dangling={other}: use true or false"),
                    };
                    engine.volumes.users(&volume, &all).is_empty() == dangling
                }
                Some(("driver", driver)) => volume.driver == driver,
                Some(("label", label)) => has_label(&volume, label),
                Some(("name", text)) => volume.name.contains(text),
                _ => bail!(
                    "invalid filter {filter:?}: supported filters are dangling=true|false, driver=NAME, label=KEY[=VALUE] and name=TEXT"
                ),
            };
            if !keep {
                continue 'volumes;
            }
        }
        volumes.push(volume);
    }
    output::stdout(&listing(&volumes, args.quiet, args.format))?;
    Ok(ExitCode::SUCCESS)
}

/// Names (`-q`), JSON lines in the shape of `docker volume ls --format json`, or docker's table.
fn listing(volumes: &[Volume], quiet: bool, format: ListFormat) -> String {
    if quiet {
        return volumes.iter().map(|v| format!("{}\n", v.name)).collect();
    }
    match format {
        ListFormat::Json => volumes
            .iter()
            .map(|volume| {
                let labels: Vec<String> = volume
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let line = json!({
                    "Availability": "N/A",
                    "Driver": volume.driver,
                    "Group": "N/A",
                    "Labels": labels.join(","),
                    "Links": "N/A",
                    "Mountpoint": volume.mountpoint.display().to_string(),
                    "Name": volume.name,
                    "Scope": "local",
                    "Size": "N/A",
                    "Status": "N/A",
                });
                format!("{line}\n")
            })
            .collect(),
        ListFormat::Table => {
            // docker's tabwriter: columns at least 10 wide, 3 spaces after the longest cell.
            let width = volumes
                .iter()
                .map(|v| v.driver.len() + 3)
                .chain([10])
                .max()
                .unwrap_or(10);
            std::iter::once(("DRIVER", "VOLUME NAME"))
                .chain(volumes.iter().map(|v| (v.driver.as_str(), v.name.as_str())))
                .map(|(driver, name)| format!("{driver:<width$}{name}\n"))
                .collect()
        }
    }
}

/// `docker volume inspect`'s object for a volume.
fn inspect_value(volume: &Volume) -> Value {
    let map_or_null = |map: &BTreeMap<String, String>| {
        if map.is_empty() {
            Value::Null
        } else {
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect::<Map<String, Value>>(),
            )
        }
    };
    json!({
        "CreatedAt": volume.created,
        "Driver": volume.driver,
        "Labels": map_or_null(&volume.labels),
        "Mountpoint": volume.mountpoint.display().to_string(),
        "Name": volume.name,
        "Options": map_or_null(&volume.options),
        "Scope": "local",
    })
}

fn inspect(engine: &Engine, args: InspectArgs) -> anyhow::Result<ExitCode> {
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        match engine.volumes.get(name) {
            Ok(volume) => values.push(inspect_value(&volume)),
            Err(error) => errors.push(error.to_string()),
        }
    }
    // docker prints what it found, then fails for what it did not.
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut text = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut text, formatter);
    serde::Serialize::serialize(&values, &mut serializer)?;
    text.push(b'\n');
    output::stdout(&String::from_utf8_lossy(&text))?;
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(ExitCode::SUCCESS)
}

fn rm(engine: &Engine, args: RmArgs) -> anyhow::Result<ExitCode> {
    let all = containers(engine)?;
    let mut removed = String::new();
    let mut errors = Vec::new();
    for name in &args.names {
        match engine.volumes.remove_unused(name, &all) {
            Ok(()) => removed.push_str(&format!("{name}\n")),
            Err(runtime::volume::Error::NotFound(_)) if args.force => {}
            Err(error @ runtime::volume::Error::InUse { .. }) => errors.push(format!(
                "{error} (remove the container(s) first, e.g. with `rcompose down`)"
            )),
            Err(error) => errors.push(error.to_string()),
        }
    }
    output::stdout(&removed)?;
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(ExitCode::SUCCESS)
}

/// Bytes under `path` (files counted once per inode), for "reclaimed space".
fn disk_usage(path: &Path, seen: &mut BTreeSet<(u64, u64)>) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if metadata.is_dir() {
        return std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| disk_usage(&entry.path(), seen))
            .sum();
    }
    if seen.insert((metadata.dev(), metadata.ino())) {
        metadata.len()
    } else {
        0
    }
}

fn prune(engine: &Engine, global: &GlobalOptions, args: PruneArgs) -> anyhow::Result<ExitCode> {
    let all = containers(engine)?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0;
    let mut errors = Vec::new();
    'volumes: for volume in engine.volumes.list()? {
        if !args.all && !volume.labels.contains_key(labels::ANONYMOUS_VOLUME) {
            continue;
        }
        if let Some(project) = &global.project_name
            && volume.labels.get(labels::PROJECT) != Some(project)
        {
            continue;
        }
        for filter in &args.filters {
            let keep = if let Some(label) = filter.strip_prefix("label!=") {
                !has_label(&volume, label)
            } else if let Some(label) = filter.strip_prefix("label=") {
                has_label(&volume, label)
            } else {
                bail!(
                    "invalid filter {filter:?}: supported filters are label=KEY[=VALUE] and label!=KEY[=VALUE]"
                );
            };
            if !keep {
                continue 'volumes;
            }
        }
        if !engine.volumes.users(&volume, &all).is_empty() {
            continue;
        }
        let size = disk_usage(&volume.mountpoint, &mut BTreeSet::new());
        match engine.volumes.remove(&volume.name) {
            Ok(()) => {
                reclaimed += size;
                deleted.push(volume.name);
            }
            Err(error) => errors.push(error.to_string()),
        }
    }
    let mut text = String::new();
    if !deleted.is_empty() {
        text.push_str("Deleted Volumes:\n");
        for name in &deleted {
            text.push_str(&format!("{name}\n"));
        }
        text.push('\n');
    }
    text.push_str(&format!(
        "Total reclaimed space: {}\n",
        crate::output::human::size(reclaimed)
    ));
    output::stdout(&text)?;
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(ExitCode::SUCCESS)
}

/// `rcompose volumes`: the project's volumes (those labelled with its name, and those its compose
/// file names, external ones included), limited to what the named services mount.
pub fn volumes(global: &GlobalOptions, args: VolumesArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    scope.check_services(&args.services)?;
    let project = &scope.loaded.project;
    let declared: BTreeMap<String, &String> = project
        .volumes
        .keys()
        .map(|key| (project.volume_name(key), key))
        .collect();
    let wanted: Option<BTreeSet<&str>> = (!args.services.is_empty()).then(|| {
        args.services
            .iter()
            .filter_map(|s| project.services.get(s))
            .flat_map(|s| s.volumes.iter())
            .filter(|v| v.kind == VolumeType::Volume)
            .filter_map(|v| v.source.as_deref())
            .collect()
    });
    let volumes: Vec<Volume> = scope
        .engine
        .volumes
        .list()?
        .into_iter()
        .filter(|volume| {
            let key = declared.get(&volume.name).map(|k| k.as_str()).or_else(|| {
                (volume.labels.get(labels::PROJECT) == Some(&project.name))
                    .then(|| volume.labels.get(labels::VOLUME).map(String::as_str))
                    .flatten()
            });
            let in_project = declared.contains_key(&volume.name)
                || volume.labels.get(labels::PROJECT) == Some(&project.name);
            in_project
                && match &wanted {
                    None => true,
                    Some(keys) => key.is_some_and(|k| keys.contains(k)),
                }
        })
        .collect();
    output::stdout(&listing(&volumes, args.quiet, args.format))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn volume(name: &str, labels: &[(&str, &str)]) -> Volume {
        Volume {
            name: name.to_string(),
            created: "2026-11-29T09:00:00Z".to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            driver: "local".to_string(),
            options: BTreeMap::new(),
            mountpoint: PathBuf::from(format!("/var/lib/rcompose/volumes/{name}/_data")),
        }
    }

    #[test]
    fn listing_and_inspect_have_dockers_shapes() {
        let volumes = [
            volume("demo_data", &[("com.docker.compose.project", "demo")]),
            volume("other", &[]),
        ];
        assert_eq!(
            listing(&volumes, false, ListFormat::Table),
            "DRIVER    VOLUME NAME\nlocal     demo_data\nlocal     other\n"
        );
        assert_eq!(
            listing(&volumes, true, ListFormat::Table),
            "demo_data\nother\n"
        );
        let line: Value = serde_json::from_str(
            listing(&volumes, false, ListFormat::Json)
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(line["Labels"], "com.docker.compose.project=demo");
        assert_eq!(line["Driver"], "local");
        assert_eq!(line["Scope"], "local");
        let value = inspect_value(&volumes[1]);
        assert_eq!(value["Labels"], Value::Null);
        assert_eq!(value["Options"], Value::Null);
        assert_eq!(value["Mountpoint"], "/var/lib/rcompose/volumes/other/_data");
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "CreatedAt",
                "Driver",
                "Labels",
                "Mountpoint",
                "Name",
                "Options",
                "Scope"
            ]
        );
    }

    #[test]
    fn pairs_and_label_filters() {
        let parsed = pairs(&["a=1".into(), "b".into(), "o=size=1m".into()]);
        assert_eq!(parsed["a"], "1");
        assert_eq!(parsed["b"], "");
        assert_eq!(parsed["o"], "size=1m");
        let v = volume("x", &[("tier", "db")]);
        assert!(has_label(&v, "tier"));
        assert!(has_label(&v, "tier=db"));
        assert!(!has_label(&v, "tier=web"));
    }
}
