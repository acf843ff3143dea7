//! `rcompose ps`: the project's containers as a table (docker compose's columns) or JSON.

use std::process::ExitCode;

use clap::Args;
use runtime::container::{Info, Status};
use runtime::network::proxy::Published;
use serde_json::json;

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::output;
use crate::output::table::Format;
use crate::project::model::Project;
use crate::reconcile::snapshot::ObservedContainer;

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Services to show (default: all)
    services: Vec<String>,
    /// Show all stopped containers too
    #[arg(short, long)]
    all: bool,
    /// Only display ids
    #[arg(short, long)]
    quiet: bool,
    /// Display services
    #[arg(long = "services")]
    services_only: bool,
    /// Filter by status (created, running, paused, restarting, exited, dead)
    #[arg(long)]
    status: Vec<String>,
    /// Filter by a property: `status=STATUS`, as docker compose supports
    #[arg(long, value_name = "FILTER")]
    filter: Vec<String>,
    /// Don't truncate the output
    #[arg(long)]
    no_trunc: bool,
    /// Include the containers of services the project no longer defines
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    orphans: bool,
    /// Format the output
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub fn run(global: &GlobalOptions, mut args: PsArgs) -> anyhow::Result<ExitCode> {
    for filter in &args.filter {
        match filter.split_once('=') {
            Some(("status", status)) => args.status.push(status.to_string()),
            _ => anyhow::bail!(
                "unsupported filter {filter:?}: ps filters by `status=STATUS` (created, running, paused, restarting, exited, dead)"
            ),
        }
    }
    let scope = Scope::open(global, &[])?;
    scope.check_services(&args.services)?;
    let project = &scope.loaded.project;
    // One-off (`run`) containers only with `-a`, as docker compose lists them.
    let containers: Vec<(ObservedContainer, Info)> = scope
        .containers(&args.services, args.all)?
        .into_iter()
        .filter(|(_, info)| args.all || !args.status.is_empty() || runs(info))
        .filter(|(_, info)| {
            args.status.is_empty() || args.status.iter().any(|s| s == state_name(info))
        })
        .filter(|(observed, _)| args.orphans || project.services.contains_key(&observed.service))
        .collect();
    let unsupervised: Vec<String> = containers
        .iter()
        .filter(|(_, info)| info.state.runs_unsupervised())
        .map(|(observed, _)| {
            format!(
                "{}: its monitor died; its processes run without logs, healthchecks or restarts \
                 (`up` starts it again under a new monitor, `stop` or `down` end it)",
                observed.name
            )
        })
        .collect();
    output::warnings(&unsupervised);
    if args.quiet {
        output::stdout(
            &containers
                .iter()
                .map(|(c, _)| format!("{}\n", c.id))
                .collect::<String>(),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.services_only {
        let mut services: Vec<&str> = containers.iter().map(|(c, _)| c.service.as_str()).collect();
        services.dedup();
        output::stdout(
            &services
                .iter()
                .map(|s| format!("{s}\n"))
                .collect::<String>(),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let now = runtime::time::now_unix();
    match args.format {
        Format::Json => {
            let mut text = String::new();
            for (observed, info) in &containers {
                let record = &info.record;
                let value = json!({
                    "ID": observed.id,
                    "Name": observed.name,
                    "Names": observed.name,
                    "Image": image_name(project, observed, info),
                    "Command": command(info),
                    "Project": scope.loaded.project.name,
                    "Service": observed.service,
                    "Created": runtime::time::parse_rfc3339(&record.created).unwrap_or(0),
                    "State": state_name(info),
                    "Status": status_text(info, now),
                    "Health": health(info),
                    "ExitCode": info.state.exit_code.unwrap_or(0),
                    "Publishers": publishers(&scope, info),
                    "Labels": labels_text(info),
                    "LocalVolumes": scope.engine.volumes.mounted_by(info).to_string(),
                    "Mounts": mounts(info),
                    "Networks": networks(&scope, info),
                    "RunningFor": running_for(info, now),
                    "Size": "0B",
                });
                text.push_str(&value.to_string());
                text.push('\n');
            }
            output::stdout(&text)?;
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = containers
                .iter()
                .map(|(observed, info)| {
                    vec![
                        observed.name.clone(),
                        image_name(project, observed, info),
                        format!(
                            "\"{}\"",
                            if args.no_trunc {
                                command(info)
                            } else {
                                truncate(&command(info), 20)
                            }
                        ),
                        observed.service.clone(),
                        running_for(info, now),
                        status_text(info, now),
                        ports_text(&scope, info),
                    ]
                })
                .collect();
            output::stdout(&output::table::render(
                &[
                    "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
                ],
                &rows,
            ))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The ports the container's monitor published (none when it is not running).
fn published(scope: &Scope, info: &Info) -> Vec<Published> {
    scope
        .engine
        .containers
        .published_ports(&info.record.id)
        .unwrap_or_default()
}

/// docker's PORTS column: `0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp`, then the ports the
/// service only exposes as `9000/tcp`.
fn ports_text(scope: &Scope, info: &Info) -> String {
    let published = published(scope, info);
    let mut entries: Vec<String> = published.iter().map(Published::to_string).collect();
    entries.extend(
        exposed_only(info, &published)
            .iter()
            .map(|(port, protocol)| format!("{port}/{protocol}")),
    );
    entries.join(", ")
}

/// docker compose's `Publishers` in `ps --format json` (exposed-only ports with no URL and
/// published port 0, as docker lists them).
fn publishers(scope: &Scope, info: &Info) -> serde_json::Value {
    let published = published(scope, info);
    let mut entries: Vec<serde_json::Value> = published
        .iter()
        .map(|port| {
            json!({
                "URL": port.host_ip.to_string(),
                "TargetPort": port.container_port,
                "PublishedPort": port.host_port,
                "Protocol": port.protocol.as_str(),
            })
        })
        .collect();
    entries.extend(exposed_only(info, &published).iter().map(|(port, protocol)| {
        json!({"URL": "", "TargetPort": port, "PublishedPort": 0, "Protocol": protocol})
    }));
    entries.into()
}

/// The ports a running container's service exposes (`expose:`, from its recorded config; ranges
/// one by one) that it does not publish.
fn exposed_only(info: &Info, published: &[Published]) -> Vec<(u16, String)> {
    if !info.state.status.is_active() {
        return Vec::new();
    }
    let config: serde_json::Value = info
        .record
        .spec
        .labels
        .get(crate::labels::CONFIG)
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    let mut ports = Vec::new();
    for exposed in config["expose"].as_array().into_iter().flatten() {
        let text = match exposed {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let (range, protocol) = text.split_once('/').unwrap_or((&text, "tcp"));
        let (start, end) = range.split_once('-').unwrap_or((range, range));
        let (Ok(start), Ok(end)) = (start.parse::<u16>(), end.parse::<u16>()) else {
            continue;
        };
        for port in start..=end {
            let shown = published
                .iter()
                .any(|p| p.container_port == port && p.protocol.as_str() == protocol);
            if !shown {
                ports.push((port, protocol.to_string()));
            }
        }
    }
    ports
}

/// The image as the service named it when the container was made (`image:`); for a service
/// without one, the name its build gives (`<project>-<service>`); else the image's id.
fn image_name(project: &Project, observed: &ObservedContainer, info: &Info) -> String {
    if let Some(image) = observed
        .config
        .as_ref()
        .and_then(|config| config.get("image"))
        .and_then(|image| image.as_str())
    {
        return image.to_string();
    }
    if let Some(service) = project.services.get(&observed.service) {
        return crate::reconcile::plan::image_name(project, &observed.service, service);
    }
    info.record
        .spec
        .labels
        .get("com.docker.compose.image")
        .map(|id| id.trim_start_matches("sha256:").chars().take(12).collect())
        .unwrap_or_default()
}

/// The networks the container has an endpoint on, comma-separated (docker's `Networks`).
fn networks(scope: &Scope, info: &Info) -> String {
    scope
        .engine
        .containers
        .endpoints(&info.record.id)
        .unwrap_or_default()
        .iter()
        .map(|endpoint| endpoint.network.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn command(info: &Info) -> String {
    info.record.spec.args.join(" ")
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(width - 1).collect::<String>())
    }
}

fn labels_text(info: &Info) -> String {
    info.record
        .spec
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn mounts(info: &Info) -> String {
    info.record
        .spec
        .mounts
        .iter()
        .map(|m| m.target.clone())
        .collect::<Vec<_>>()
        .join(",")
}

fn running_for(info: &Info, now: i64) -> String {
    runtime::time::parse_rfc3339(&info.record.created)
        .map(|t| output::human::ago(now - t))
        .unwrap_or_default()
}

/// `starting`, `healthy`, `unhealthy`, or empty without a healthcheck (docker's `Health` field).
fn health(info: &Info) -> &str {
    info.state
        .health
        .as_ref()
        .map(|h| h.status.as_str())
        .unwrap_or_default()
}

/// Whether the container's processes run (a monitor that died does not stop them).
fn runs(info: &Info) -> bool {
    info.state.status.is_active() || info.state.runs_unsupervised()
}

/// docker's state word; a container whose monitor died while its processes run is `running`, as it
/// is.
fn state_name(info: &Info) -> &'static str {
    if info.state.runs_unsupervised() {
        return "running";
    }
    info.state.status.as_str()
}

fn status_text(info: &Info, now: i64) -> String {
    let state = &info.state;
    let since = |time: &str| {
        runtime::time::parse_rfc3339(time)
            .map(|t| now - t)
            .unwrap_or(0)
    };
    let up = || output::human::duration(since(&state.started_at));
    match state.status {
        Status::Running => match health(info) {
            "" => format!("Up {}", up()),
            // docker's words: `(health: starting)`, `(healthy)`, `(unhealthy)`.
            "starting" => format!("Up {} (health: starting)", up()),
            health => format!("Up {} ({health})", up()),
        },
        Status::Paused => format!("Up {} (Paused)", up()),
        Status::Restarting => format!(
            "Restarting ({}) {}",
            state.exit_code.unwrap_or(0),
            output::human::ago(since(&state.finished_at))
        ),
        Status::Exited => format!(
            "Exited ({}) {}",
            state.exit_code.unwrap_or(0),
            output::human::ago(since(&state.finished_at))
        ),
        Status::Created => "Created".to_string(),
        Status::Dead if state.runs_unsupervised() => format!("Up {} (no monitor)", up()),
        Status::Dead => "Dead".to_string(),
    }
}
