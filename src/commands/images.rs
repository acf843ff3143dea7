//! `rcompose images`: the images the project's containers were created from, one row per container,
//! with docker compose's columns (`CONTAINER REPOSITORY TAG PLATFORM IMAGE ID SIZE CREATED`), `-q`
//! (the image ids, each once) and `--format json`.

use std::process::ExitCode;

use clap::Args;
use runtime::image::ImageRef;
use serde_json::json;

use super::scope::Scope;
use crate::cli::GlobalOptions;
use crate::output;
use crate::output::table::Format;

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Services whose containers to list (default: all)
    services: Vec<String>,
    /// Only display image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Format the output
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// One container's image.
struct Row {
    container: String,
    repository: String,
    tag: String,
    platform: String,
    /// `sha256:...`, or empty when the image is no longer in the store.
    id: String,
    size: u64,
    created: Option<i64>,
}

pub fn run(global: &GlobalOptions, args: ImagesArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &args.services)?;
    scope.check_services(&args.services)?;
    let mut rows = Vec::new();
    for (observed, info) in scope.containers(&args.services, true)? {
        // The name the service used when the container was made, else the image's own first name.
        let used = observed
            .config
            .as_ref()
            .and_then(|config| config.get("image"))
            .and_then(|image| image.as_str())
            .and_then(|name| ImageRef::parse(name).ok());
        let image = observed
            .image_id
            .as_deref()
            .and_then(|id| scope.engine.images.image(id).ok());
        let name = used.or_else(|| {
            image.as_ref().and_then(|i| {
                let tagged = i.names.iter().find(|name| name.tag().is_some());
                tagged.or(i.names.first()).cloned()
            })
        });
        let (repository, tag) = super::image::split_name(name.as_ref());
        rows.push(Row {
            container: info.record.spec.name.clone(),
            repository,
            tag,
            platform: image.as_ref().map_or_else(String::new, |i| {
                format!("{}/{}", i.config.os(), i.config.architecture())
            }),
            id: image
                .as_ref()
                .map(|i| i.id.to_string())
                .or(observed.image_id.clone())
                .unwrap_or_default(),
            size: image.as_ref().map_or(0, |i| i.size()),
            created: image.as_ref().and_then(|i| i.created_unix()),
        });
    }
    rows.sort_by(|a, b| a.container.cmp(&b.container));
    output::stdout(&listing(
        &rows,
        args.quiet,
        args.format,
        runtime::time::now_unix(),
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn listing(rows: &[Row], quiet: bool, format: Format, now: i64) -> String {
    if quiet {
        let mut ids: Vec<&str> = Vec::new();
        for row in rows {
            let id = row.id.trim_start_matches("sha256:");
            if !id.is_empty() && !ids.contains(&id) {
                ids.push(id);
            }
        }
        return ids.iter().map(|id| format!("{id}\n")).collect();
    }
    match format {
        Format::Json => {
            let list: Vec<serde_json::Value> = rows
                .iter()
                .map(|row| {
                    let mut value = json!({
                        "ID": row.id,
                        "ContainerName": row.container,
                        "Repository": row.repository,
                        "Tag": row.tag,
                        "Platform": row.platform,
                        "Size": row.size,
                    });
                    if let Some(created) = row.created {
                        value["Created"] = json!(runtime::time::format_rfc3339(created));
                    }
                    value
                })
                .collect();
            format!("{}\n", serde_json::Value::Array(list))
        }
        Format::Table => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    vec![
                        row.container.clone(),
                        row.repository.clone(),
                        row.tag.clone(),
                        row.platform.clone(),
                        row.id
                            .trim_start_matches("sha256:")
                            .chars()
                            .take(12)
                            .collect(),
                        output::human::size(row.size),
                        row.created
                            .map_or_else(|| "N/A".to_owned(), |c| output::human::ago(now - c)),
                    ]
                })
                .collect();
            output::table::render(
                &[
                    "CONTAINER",
                    "REPOSITORY",
                    "TAG",
                    "PLATFORM",
                    "IMAGE ID",
                    "SIZE",
                    "CREATED",
                ],
                &cells,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(container: &str, id: &str) -> Row {
        Row {
            container: container.to_owned(),
            repository: "busybox".to_owned(),
            tag: "latest".to_owned(),
            platform: "linux/amd64".to_owned(),
            id: id.to_owned(),
            size: 2_150_000,
            created: Some(1000),
        }
    }

    #[test]
    fn a_table_json_and_ids_once() {
        let id = format!("sha256:{}", "ab".repeat(32));
        let rows = [row("demo-web-1", &id), row("demo-web-2", &id)];
        assert_eq!(
            listing(&rows, false, Format::Table, 1030),
            "CONTAINER    REPOSITORY   TAG      PLATFORM      IMAGE ID       SIZE     CREATED\n\
             demo-web-1   busybox      latest   linux/amd64   abababababab   2.15MB   30 seconds ago\n\
             demo-web-2   busybox      latest   linux/amd64   abababababab   2.15MB   30 seconds ago\n"
        );
        assert_eq!(
            listing(&rows, true, Format::Table, 0),
            format!("{}\n", "ab".repeat(32))
        );
        let json: serde_json::Value =
            serde_json::from_str(&listing(&rows, false, Format::Json, 0)).unwrap();
        assert_eq!(json[1]["ContainerName"], "demo-web-2");
        assert_eq!(json[0]["ID"], id);
        assert_eq!(json[0]["Size"], 2_150_000);
        assert_eq!(json[0]["Created"], "1970-01-01T00:16:40Z");
    }
}
