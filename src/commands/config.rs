//! `rcompose config`: the project as rcompose understands it, after every file, variable, merge and
//! default has been applied; or one of its facets (services, volumes, hashes, variables...).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use crate::cli::GlobalOptions;
use crate::graph::ServiceGraph;
use crate::output;
use crate::project::{self, Loaded};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Services to show (their profiles are enabled; their dependencies are shown too)
    services: Vec<String>,
    /// Format the output: yaml (the default) or json; `--variables` prints a table unless a format
    /// is given
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Only validate the configuration, don't print anything
    #[arg(short, long)]
    quiet: bool,
    /// Print the service names, one per line
    #[arg(long = "services")]
    services_only: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    volumes: bool,
    /// Print the network names, one per line
    #[arg(long)]
    networks: bool,
    /// Print the profile names, one per line
    #[arg(long)]
    profiles: bool,
    /// Print the image names, one per line
    #[arg(long)]
    images: bool,
    /// Print the service config hash, one per line ("*" for all services, or a comma-separated list)
    #[arg(long, value_name = "SERVICES")]
    hash: Option<String>,
    /// Print the variables the model uses and their defaults
    #[arg(long)]
    variables: bool,
    /// Print each variable's value and where it came from (shell, .env, --env-file, include, default)
    #[arg(long)]
    environment: bool,
    /// Don't interpolate environment variables (the files are shown merged, as written)
    #[arg(long)]
    no_interpolate: bool,
    /// Don't normalize the model (no default network, Dockerfile or resource names added)
    #[arg(long)]
    no_normalize: bool,
    /// Don't resolve file paths (they print as written)
    #[arg(long)]
    no_path_resolution: bool,
    /// Don't check model consistency (references, cycles...): may print an invalid project
    #[arg(long)]
    no_consistency: bool,
    /// Pin image tags to the digests they point to in their registries now
    #[arg(long)]
    resolve_image_digests: bool,
    /// Print an override file that pins each service's image to its digest
    #[arg(long, conflicts_with = "resolve_image_digests")]
    lock_image_digests: bool,
    /// Save to file (default to stdout)
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Yaml,
    Json,
}

pub fn run(global: &GlobalOptions, args: ConfigArgs) -> anyhow::Result<ExitCode> {
    // `--variables` lists the templates as written, so it does not interpolate (as docker compose).
    let options = super::load_options(
        global,
        &args.services,
        !args.no_interpolate && !args.variables,
    )?;
    // Listing names needs no service's environment: a missing env_file is no error there (as v2).
    let listing =
        args.services_only || args.volumes || args.networks || args.profiles || args.images;
    let mode = project::LoadMode {
        normalize: !args.no_normalize,
        resolve_paths: !args.no_path_resolution,
        consistency: !args.no_consistency,
    };
    let mut loaded = if listing {
        project::load_for_listing(options)?
    } else {
        project::load_with(options, mode)?
    };
    output::warnings(&loaded.warnings);
    if args.resolve_image_digests || args.lock_image_digests {
        resolve_image_digests(global, &mut loaded)?;
    }
    if args.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let text = if args.lock_image_digests {
        lock_file(&loaded, args.format.unwrap_or(Format::Yaml))?
    } else {
        render(&loaded, &args)?
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => output::stdout(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Pins each service's image to the digest its tag points to in its registry now, written as
/// docker compose writes it (`docker.io/library/redis:7@sha256:…`); an image already pinned asks no
/// registry.
fn resolve_image_digests(global: &GlobalOptions, loaded: &mut Loaded) -> anyhow::Result<()> {
    let settings = runtime::registry::Settings::load(&crate::engine::root(global))?;
    for (name, service) in loaded.project.services.iter_mut() {
        let Some(image) = &service.image else {
            continue;
        };
        let reference = runtime::image::ImageRef::parse(image)
            .with_context(|| format!("service {name:?}: image {image:?}"))?;
        service.image = Some(if reference.digest().is_some() {
            reference.to_string()
        } else {
            let digest =
                runtime::registry::resolve_digest(&settings, &reference).with_context(|| {
                    format!("service {name:?}: cannot resolve the digest of {image}")
                })?;
            format!("{reference}@{digest}")
        });
    }
    Ok(())
}

/// `--lock-image-digests`: an override file with each service's pinned image, to add with `-f`.
fn lock_file(loaded: &Loaded, format: Format) -> anyhow::Result<String> {
    let services: serde_json::Map<String, Value> = loaded
        .project
        .services
        .iter()
        .filter_map(|(name, service)| {
            let image = service.image.as_ref()?;
            Some((name.clone(), serde_json::json!({ "image": image })))
        })
        .collect();
    let value = serde_json::json!({ "services": services });
    Ok(match format {
        Format::Yaml => output::yaml::to_string_go(&value),
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&value)?),
    })
}

fn lines<I: IntoIterator<Item = String>>(items: I) -> String {
    items.into_iter().map(|line| format!("{line}\n")).collect()
}

fn render(loaded: &Loaded, args: &ConfigArgs) -> anyhow::Result<String> {
    let project = &loaded.project;
    let selected = selected_services(loaded, &args.services);
    if args.services_only {
        let graph = ServiceGraph::new(project);
        return Ok(lines(
            graph
                .start_order()
                .into_iter()
                .filter(|s| selected.contains(s)),
        ));
    }
    if args.volumes || args.networks {
        // The ones the printed project keeps: those the services use (as v2 lists them).
        let mut value = serde_json::to_value(project).context("cannot serialize the project")?;
        project::printed::shape(&mut value, loaded, &selected);
        let section = if args.volumes { "volumes" } else { "networks" };
        let mut keys: Vec<String> = value
            .get(section)
            .and_then(Value::as_object)
            .map(|resources| resources.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        return Ok(lines(keys));
    }
    if args.profiles {
        return Ok(lines(loaded.all_profiles.iter().cloned()));
    }
    if args.images {
        return Ok(lines(
            project
                .services
                .iter()
                .filter(|(name, _)| selected.contains(*name))
                .map(|(name, service)| {
                    service
                        .image
                        .clone()
                        .unwrap_or_else(|| format!("{}-{name}", project.name))
                }),
        ));
    }
    if let Some(which) = &args.hash {
        let wanted: Vec<&str> = which.split(',').map(str::trim).collect();
        let mut out = String::new();
        for (name, service) in &project.services {
            if wanted.contains(&"*") || wanted.contains(&name.as_str()) {
                out.push_str(&format!(
                    "{name} {}\n",
                    crate::hash::container_hash(project, service)
                ));
            }
        }
        if let Some(name) = wanted
            .iter()
            .find(|w| **w != "*" && !project.services.contains_key(**w))
        {
            anyhow::bail!("no such service: {name}");
        }
        return Ok(out);
    }
    if args.variables {
        return Ok(variables(loaded, args.format));
    }
    if args.environment {
        return Ok(environment(loaded, args.format.unwrap_or(Format::Yaml)));
    }
    let mut value = if loaded.interpolated {
        serde_json::to_value(project).context("cannot serialize the project")?
    } else {
        // Without interpolation values may hold `${...}` and cannot be typed: the normalized tree is
        // shown with the model's key order (top-level sections in order, keys sorted below).
        in_model_order(project::typed::to_json(&loaded.tree))
    };
    project::printed::shape(&mut value, loaded, &selected);
    Ok(match args.format.unwrap_or(Format::Yaml) {
        Format::Yaml => output::yaml::to_string_go(&value),
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&value)?),
    })
}

/// Orders an untyped project like the typed one prints: `name`, `services`, `networks`, `volumes`,
/// `secrets`, `configs`, `models`, and every mapping below sorted by key.
fn in_model_order(value: Value) -> Value {
    fn sorted(value: Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
            other => other,
        }
    }
    let Value::Object(mut map) = value else {
        return value;
    };
    let mut out = serde_json::Map::new();
    for key in [
        "name", "services", "networks", "volumes", "secrets", "configs", "models",
    ] {
        if let Some(section) = map.remove(key) {
            out.insert(key.to_string(), sorted(section));
        }
    }
    for (key, rest) in map {
        out.insert(key, sorted(rest));
    }
    Value::Object(out)
}

/// The services to show: all, or those named and what they depend on.
fn selected_services(loaded: &Loaded, named: &[String]) -> std::collections::BTreeSet<String> {
    let services = loaded.tree.get("services").and_then(|s| s.as_map());
    if named.is_empty() {
        return services
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
    }
    if loaded.interpolated {
        return ServiceGraph::new(&loaded.project).with_dependencies(named);
    }
    // Without interpolation there is no typed project: the dependencies are read from the tree's
    // `depends_on` (normalization added the implicit ones there).
    let mut selected = std::collections::BTreeSet::new();
    let mut pending: Vec<String> = named.to_vec();
    while let Some(name) = pending.pop() {
        if !selected.insert(name.clone()) {
            continue;
        }
        let dependencies = services
            .and_then(|m| m.get(&name))
            .and_then(|entry| entry.node.get("depends_on"))
            .and_then(|d| d.as_map());
        pending.extend(dependencies.into_iter().flat_map(|d| d.keys().cloned()));
    }
    selected
}

/// `--variables`: each variable used in `${}`, whether it is required, its default and alternate: a
/// table, or with `--format` the mapping docker compose v2 prints (its YAML with v2's 4-space indent).
fn variables(loaded: &Loaded, format: Option<Format>) -> String {
    let mut by_name: BTreeMap<&str, (bool, Option<&str>, Option<&str>)> = BTreeMap::new();
    for usage in &loaded.usages {
        let entry = by_name.entry(&usage.name).or_insert((false, None, None));
        entry.0 |= usage.required;
        entry.1 = entry.1.or(usage.default.as_deref());
        entry.2 = entry.2.or(usage.alternate.as_deref());
    }
    match format {
        Some(Format::Json) => {
            let map: serde_json::Map<String, Value> = by_name
                .iter()
                .map(|(name, (required, default, alternate))| {
                    let value = json!({
                        "Name": name,
                        "DefaultValue": default.unwrap_or_default(),
                        "PresenceValue": alternate.unwrap_or_default(),
                        "Required": required,
                    });
                    (name.to_string(), value)
                })
                .collect();
            format!(
                "{}\n",
                serde_json::to_string_pretty(&map).unwrap_or_default()
            )
        }
        Some(Format::Yaml) => by_name
            .iter()
            .map(|(name, (required, default, alternate))| {
                let quote = output::yaml::quote_if_needed;
                format!(
                    "{}:\n    name: {}\n    defaultvalue: {}\n    presencevalue: {}\n    required: {required}\n",
                    quote(name),
                    quote(name),
                    quote(default.unwrap_or_default()),
                    quote(alternate.unwrap_or_default()),
                )
            })
            .collect(),
        None => {
            let rows: Vec<Vec<String>> = by_name
                .iter()
                .map(|(name, (required, default, alternate))| {
                    vec![
                        name.to_string(),
                        required.to_string(),
                        default.unwrap_or_default().to_string(),
                        alternate.unwrap_or_default().to_string(),
                    ]
                })
                .collect();
            output::table::render(
                &["NAME", "REQUIRED", "DEFAULT VALUE", "ALTERNATE VALUE"],
                &rows,
            )
        }
    }
}

/// `--environment`: each variable the files use, its value and where it came from.
fn environment(loaded: &Loaded, format: Format) -> String {
    let mut rows: BTreeMap<&str, (String, String)> = BTreeMap::new();
    for usage in &loaded.usages {
        let (value, source) = match loaded.environment.get(&usage.name) {
            Some(variable) => (variable.value.clone(), variable.origin.to_string()),
            None => match &usage.default {
                Some(default) => (default.clone(), "default in the compose file".to_string()),
                None if usage.required => (String::new(), "unset (required)".to_string()),
                None => (String::new(), "unset".to_string()),
            },
        };
        rows.entry(&usage.name).or_insert((value, source));
    }
    match format {
        Format::Json => {
            let items: Vec<Value> =
                rows.iter().map(|(name, (value, source))| json!({"Name": name, "Value": value, "Source": source})).collect();
            format!(
                "{}\n",
                serde_json::to_string_pretty(&items).unwrap_or_default()
            )
        }
        Format::Yaml => {
            let rows: Vec<Vec<String>> = rows
                .into_iter()
                .map(|(name, (value, source))| vec![name.to_string(), value, source])
                .collect();
            output::table::render(&["NAME", "VALUE", "SOURCE"], &rows)
        }
    }
}
