//! The objects as text: one multi-document YAML stream (or a JSON `List`) for stdout, or one file
//! per object plus a `kustomization.yaml` that lists them, for `-o DIR`. Serialized from the typed
//! objects through serde; YAML through the project's one YAML writer (`output::yaml`).

use serde_json::{Value, json};

use super::Object;

/// The output format (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

fn text(value: &Value, format: Format) -> String {
    match format {
        Format::Yaml => crate::output::yaml::to_string(value),
        Format::Json => {
            let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
            text.push('\n');
            text
        }
    }
}

/// Every object in one stream: YAML documents separated by `---`, or a JSON `v1` `List`.
pub fn stream(objects: &[Object], format: Format) -> String {
    match format {
        Format::Yaml => objects
            .iter()
            .map(|object| format!("---\n{}", text(&object.value, format)))
            .collect(),
        Format::Json => {
            let items: Vec<Value> = objects.iter().map(|o| o.value.clone()).collect();
            text(
                &json!({"apiVersion": "v1", "kind": "List", "items": items}),
                format,
            )
        }
    }
}

/// One file per object (`<name>-<kind>.yaml`) and `kustomization.yaml`, as (file name, content).
pub fn files(objects: &[Object], format: Format, namespace: Option<&str>) -> Vec<(String, String)> {
    let extension = match format {
        Format::Yaml => "yaml",
        Format::Json => "json",
    };
    let mut files: Vec<(String, String)> = objects
        .iter()
        .map(|object| {
            (
                format!(
                    "{}-{}.{extension}",
                    object.name,
                    object.kind.to_ascii_lowercase()
                ),
                text(&object.value, format),
            )
        })
        .collect();
    let mut kustomization = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
    });
    if let Some(namespace) = namespace {
        kustomization["namespace"] = json!(namespace);
    }
    kustomization["resources"] = json!(
        files
            .iter()
            .map(|(name, _)| name.clone())
            .collect::<Vec<_>>()
    );
    files.push((
        "kustomization.yaml".to_string(),
        text(&kustomization, Format::Yaml),
    ));
    files
}
