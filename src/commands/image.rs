//! `rcompose image ...`: the image store verbs with docker's names, flags and output shapes (`image ls`
//! table and `--format json` lines, `image inspect` JSON). Thin: parse flags, call `runtime::image`,
//! format the result.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use runtime::image::{ArchiveFormat, Change, Image, ImageRef, ImageStore};
use serde_json::{Value, json};

use crate::cli::GlobalOptions;
use crate::output;

#[derive(Debug, Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Load images from a tar archive (docker-archive or OCI archive) or STDIN
    Load(LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// List images
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove", visible_alias = "rmi")]
    Rm(RmArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove dangling images and unreferenced content
    Prune(PruneArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
}

#[derive(Debug, Args)]
struct PullArgs {
    /// The image (`redis:7`, `registry.example/team/app@sha256:...`)
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    name: String,
    /// Print only the image name
    #[arg(short = 'q', long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct PushArgs {
    /// The image, named for the registry to push to
    #[arg(value_name = "NAME[:TAG]")]
    name: String,
    /// Print nothing but errors
    #[arg(short = 'q', long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// Root filesystem tarball (plain, gzip or zstd), or `-` for STDIN
    #[arg(value_name = "FILE")]
    source: String,
    /// Name of the new image
    reference: Option<String>,
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, WORKDIR, USER)
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    changes: Vec<String>,
    /// Set a commit message for the imported image
    #[arg(short = 'm', long)]
    message: Option<String>,
}

#[derive(Debug, Args)]
struct LoadArgs {
    /// Read from a tar archive file instead of STDIN (`-` is STDIN)
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SaveFormat {
    DockerArchive,
    OciArchive,
}

#[derive(Debug, Args)]
struct SaveArgs {
    /// Write to a file instead of STDOUT
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Archive format
    #[arg(long, value_enum, default_value_t = SaveFormat::DockerArchive)]
    format: SaveFormat,
    /// Images to save (names or ids)
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
struct LsArgs {
    /// Only images whose name matches (`busybox`, `busybox:1.*`, `*/app`)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    repository: Option<String>,
    /// Only show image ids
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Filter output (`reference=PATTERN`, `label=KEY[=VALUE]`, `dangling=true|false`)
    #[arg(long = "filter", value_name = "FILTER")]
    filters: Vec<String>,
    /// Format output
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
}

#[derive(Debug, Args)]
struct InspectArgs {
    /// Images (names or ids)
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

#[derive(Debug, Args)]
struct RmArgs {
    /// Remove the image even if several names refer to it
    #[arg(short, long)]
    force: bool,
    /// Images (names or ids)
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

#[derive(Debug, Args)]
struct TagArgs {
    /// Existing image (name or id)
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    source: String,
    /// New name
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    target: String,
}

#[derive(Debug, Args)]
struct PruneArgs {
    /// Do not prompt for confirmation (rcompose never prompts; accepted for docker compatibility)
    #[arg(short, long)]
    force: bool,
}

#[derive(Debug, Args)]
struct HistoryArgs {
    /// Image (name or id)
    #[arg(value_name = "IMAGE")]
    image: String,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image ids
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Format output
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
}

/// Runs an `image` subcommand.
pub fn run(global: &GlobalOptions, args: ImageArgs) -> anyhow::Result<ExitCode> {
    let root = crate::engine::root(global);
    let store = ImageStore::open(&root)
        .with_context(|| format!("cannot open the image store under {}", root.display()))?;
    match args.command {
        ImageCommand::Import(args) => import(&store, args),
        ImageCommand::Load(args) => load(&store, args),
        ImageCommand::Save(args) => save(&store, args),
        ImageCommand::Ls(args) => ls(&store, args),
        ImageCommand::Inspect(args) => inspect(&store, args),
        ImageCommand::Rm(args) => rm(&root, &store, args),
        ImageCommand::Tag(args) => tag(&store, args),
        ImageCommand::Prune(args) => prune(&root, &store, args),
        ImageCommand::History(args) => history(&store, args),
        ImageCommand::Pull(args) => super::pull::image_pull(&store, &root, &args.name, args.quiet),
        ImageCommand::Push(args) => super::push::image_push(&store, &root, &args.name, args.quiet),
    }
}

/// Opens a file, or STDIN for `-`; refuses an interactive terminal, which would hang.
fn open_input(path: &str) -> anyhow::Result<Box<dyn Read>> {
    if path == "-" {
        if io::stdin().is_terminal() {
            bail!(
                "requested to read from STDIN, but STDIN is a terminal; pipe an archive in or give a file"
            );
        }
        return Ok(Box::new(io::stdin().lock()));
    }
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {path}"))?;
    Ok(Box::new(file))
}

fn import(store: &ImageStore, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let name = args.reference.as_deref().map(ImageRef::parse).transpose()?;
    let changes = args
        .changes
        .iter()
        .map(|change| Change::parse(change))
        .collect::<Result<Vec<_>, _>>()?;
    let input = open_input(&args.source)?;
    let loaded = store
        .import(
            input,
            name.as_ref(),
            &changes,
            args.message.as_deref().unwrap_or(&args.source),
        )
        .with_context(|| format!("cannot import {}", args.source))?;
    output::stdout(&format!("{}\n", loaded.id))?;
    Ok(ExitCode::SUCCESS)
}

fn load(store: &ImageStore, args: LoadArgs) -> anyhow::Result<ExitCode> {
    let path = args.input.unwrap_or_else(|| "-".to_owned());
    let input = open_input(&path)?;
    let loaded = store
        .load(input)
        .with_context(|| format!("cannot load {}", if path == "-" { "STDIN" } else { &path }))?;
    let mut text = String::new();
    let mut notes = Vec::new();
    for image in &loaded {
        for (name, old) in &image.replaced {
            notes.push(format!(
                "the image {} already existed; the old one ({}) lost that name",
                name.familiar(),
                old.short()
            ));
        }
        for name in &image.names {
            text.push_str(&format!("Loaded image: {}\n", name.familiar()));
        }
        if image.names.is_empty() {
            text.push_str(&format!("Loaded image ID: {}\n", image.id));
        }
        notes.extend(image.note.clone());
    }
    output::warnings(&notes);
    if !args.quiet {
        output::stdout(&text)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn save(store: &ImageStore, args: SaveArgs) -> anyhow::Result<ExitCode> {
    let format = match args.format {
        SaveFormat::DockerArchive => ArchiveFormat::Docker,
        SaveFormat::OciArchive => ArchiveFormat::Oci,
    };
    match &args.output {
        Some(path) => store
            .save_to_file(&args.images, format, path)
            .with_context(|| {
                format!(
                    "cannot save {} to {}",
                    args.images.join(", "),
                    path.display()
                )
            })?,
        None => {
            if io::stdout().is_terminal() {
                bail!("refusing to write an archive to a terminal; use -o FILE or redirect STDOUT");
            }
            store
                .save(&args.images, format, io::stdout().lock())
                .with_context(|| format!("cannot save {}", args.images.join(", ")))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One `image ls` row: an image under one of its names (or none).
struct Row<'a> {
    image: &'a Image,
    name: Option<&'a ImageRef>,
}

fn ls(store: &ImageStore, args: LsArgs) -> anyhow::Result<ExitCode> {
    let mut patterns = Vec::new();
    let mut dangling = None;
    let mut labels: Vec<(String, Option<String>)> = Vec::new();
    patterns.extend(args.repository.clone());
    for filter in &args.filters {
        match filter.split_once('=') {
            Some(("reference", pattern)) => patterns.push(pattern.to_owned()),
            Some(("label", label)) => labels.push(match label.split_once('=') {
                Some((key, value)) => (key.to_owned(), Some(value.to_owned())),
                None => (label.to_owned(), None),
            }),
            Some(("dangling", value)) => {
                dangling = Some(match value {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    other => bail!("invalid filter dangling={other}: use true or false"),
                })
            }
            _ => bail!(
                "invalid filter {filter:?}: supported filters are reference=PATTERN, label=KEY[=VALUE] and dangling=true|false"
            ),
        }
    }
    let mut images = store.images()?;
    images.sort_by(|a, b| {
        b.created_unix()
            .cmp(&a.created_unix())
            .then(a.id.cmp(&b.id))
    });
    let mut rows = Vec::new();
    for image in &images {
        if !labels
            .iter()
            .all(|(key, value)| has_label(image, key, value.as_deref()))
        {
            continue;
        }
        if image.names.is_empty() {
            if patterns.is_empty() && dangling != Some(false) {
                rows.push(Row { image, name: None });
            }
            continue;
        }
        if dangling == Some(true) {
            continue;
        }
        for name in &image.names {
            // A repo digest gets its own row only for a repository the image has no tag in.
            if name.digest().is_some()
                && image
                    .names
                    .iter()
                    .any(|other| other.tag().is_some() && other.repository() == name.repository())
            {
                continue;
            }
            if patterns
                .iter()
                .all(|pattern| reference_matches(pattern, name))
            {
                rows.push(Row {
                    image,
                    name: Some(name),
                });
            }
        }
    }
    let id = |image: &Image| {
        if args.no_trunc {
            image.id.to_string()
        } else {
            image.id.short().to_owned()
        }
    };
    let now = runtime::time::now_unix();
    let text = if args.quiet {
        let mut seen = std::collections::BTreeSet::new();
        rows.iter()
            .filter(|row| seen.insert(&row.image.id))
            .map(|row| id(row.image) + "\n")
            .collect()
    } else if args.format == ListFormat::Json {
        rows.iter()
            .map(|row| {
                let (repository, tag) = split_name(row.name);
                let created = row.image.created_unix();
                let line = json!({
                    "Containers": "N/A",
                    "CreatedAt": created.map(docker_time).unwrap_or_default(),
                    "CreatedSince": created.map(|c| output::human::ago(now - c)).unwrap_or_else(|| "N/A".to_owned()),
                    "Digest": row.image.manifest_digest.to_string(),
                    "ID": id(row.image),
                    "Repository": repository,
                    "SharedSize": "N/A",
                    "Size": output::human::size(row.image.size()),
                    "Tag": tag,
                    "UniqueSize": "N/A",
                    "VirtualSize": output::human::size(row.image.size()),
                });
                format!("{line}\n")
            })
            .collect()
    } else {
        let mut headers = vec!["REPOSITORY", "TAG"];
        if args.digests {
            headers.push("DIGEST");
        }
        headers.extend(["IMAGE ID", "CREATED", "SIZE"]);
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|row| {
                let (repository, tag) = split_name(row.name);
                let mut cells = vec![repository, tag];
                if args.digests {
                    cells.push(row.image.manifest_digest.to_string());
                }
                cells.push(id(row.image));
                cells.push(
                    row.image
                        .created_unix()
                        .map(|c| output::human::ago(now - c))
                        .unwrap_or_else(|| "N/A".to_owned()),
                );
                cells.push(output::human::size(row.image.size()));
                cells
            })
            .collect();
        output::table::render(&headers, &table)
    };
    output::stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Whether the image config has label `key` (with `value`, if given).
fn has_label(image: &Image, key: &str, value: Option<&str>) -> bool {
    let labels = image
        .config
        .config()
        .as_ref()
        .and_then(|config| config.labels().as_ref());
    labels
        .and_then(|labels| labels.get(key))
        .is_some_and(|found| value.is_none_or(|value| found == value))
}

/// docker's `RepoDigests`: those a pull recorded (the digest the registry serves the image under,
/// an index's when the tag names one), else each name's repository with the manifest digest.
fn repo_digests(image: &Image) -> std::collections::BTreeSet<String> {
    let recorded: std::collections::BTreeSet<String> = image
        .names
        .iter()
        .filter(|name| name.digest().is_some())
        .map(ImageRef::familiar)
        .collect();
    if !recorded.is_empty() {
        return recorded;
    }
    image
        .names
        .iter()
        .map(|name| format!("{}@{}", name.familiar_repository(), image.manifest_digest))
        .collect()
}

/// A name's repository and tag as docker lists them (`<none>` for what is missing).
pub(crate) fn split_name(name: Option<&ImageRef>) -> (String, String) {
    match name {
        Some(name) => (
            name.familiar_repository(),
            name.tag().unwrap_or("<none>").to_owned(),
        ),
        None => ("<none>".to_owned(), "<none>".to_owned()),
    }
}

/// docker's reference filter: a glob over the familiar name, with or without the tag.
fn reference_matches(pattern: &str, name: &ImageRef) -> bool {
    let repository = name.familiar_repository();
    let with_tag = name.familiar();
    glob(pattern.as_bytes(), repository.as_bytes()) || glob(pattern.as_bytes(), with_tag.as_bytes())
}

/// `*` (not crossing `/`) and `?` wildcards, as Go's path.Match.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], text)
                || (text.first().is_some_and(|&c| c != b'/') && glob(pattern, &text[1..]))
        }
        (Some(b'?'), Some(&c)) if c != b'/' => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob(&pattern[1..], &text[1..]),
        _ => false,
    }
}

fn inspect(store: &ImageStore, args: InspectArgs) -> anyhow::Result<ExitCode> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for query in &args.images {
        match store.image(query) {
            Ok(image) => found.push(inspect_json(&image)),
            Err(runtime::image::Error::NotFound(name)) => missing.push(name),
            Err(error) => return Err(error.into()),
        }
    }
    let mut text = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut text, formatter);
    serde::Serialize::serialize(&Value::Array(found), &mut serializer)?;
    text.push(b'\n');
    output::stdout(&String::from_utf8_lossy(&text))?;
    if !missing.is_empty() {
        bail!("no such image: {}", missing.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// docker's `image inspect` shape for one image.
fn inspect_json(image: &Image) -> Value {
    let mut value = inspect_fields(image);
    if let Some(config) = value["Config"].as_object_mut() {
        if let Some(check) = &image.docker.healthcheck {
            config.insert("Healthcheck".into(), json!(check));
        }
        if !image.docker.shell.is_empty() {
            config.insert("Shell".into(), json!(image.docker.shell));
        }
    }
    value
}

fn inspect_fields(image: &Image) -> Value {
    let config = image.config.config().clone().unwrap_or_default();
    let as_map = |keys: &Option<Vec<String>>| {
        keys.as_ref().map(|keys| {
            keys.iter()
                .map(|key| (key.clone(), json!({})))
                .collect::<BTreeMap<_, _>>()
        })
    };
    let labels = config
        .labels()
        .as_ref()
        .map(|labels| labels.iter().collect::<BTreeMap<_, _>>());
    let comment = image
        .config
        .history()
        .as_ref()
        .and_then(|history| history.last())
        .and_then(|entry| entry.comment().clone())
        .unwrap_or_default();
    json!({
        "Id": image.id.to_string(),
        "RepoTags": image.names.iter().filter(|name| name.tag().is_some()).map(ImageRef::familiar).collect::<Vec<_>>(),
        "RepoDigests": repo_digests(image),
        "Parent": "",
        "Comment": comment,
        "Created": image.config.created().clone().unwrap_or_default(),
        "Author": image.config.author().clone().unwrap_or_default(),
        "Config": {
            "User": config.user().clone().unwrap_or_default(),
            "ExposedPorts": as_map(config.exposed_ports()),
            "Env": config.env(),
            "Cmd": config.cmd(),
            "Volumes": as_map(config.volumes()),
            "WorkingDir": config.working_dir().clone().unwrap_or_default(),
            "Entrypoint": config.entrypoint(),
            "Labels": labels,
            "StopSignal": config.stop_signal(),
            // docker leaves out a missing healthcheck and shell, and shows no triggers as null.
            "OnBuild": (!image.docker.on_build.is_empty()).then_some(&image.docker.on_build),
        },
        "Architecture": image.config.architecture().to_string(),
        "Os": image.config.os().to_string(),
        "Size": image.size(),
        "RootFS": {
            "Type": "layers",
            "Layers": image.layers.iter().map(|layer| layer.diff_id.to_string()).collect::<Vec<_>>(),
        },
    })
}

/// The ids of the images whose layers containers are built on, with one container name each.
fn images_in_use(
    root: &std::path::Path,
    store: &ImageStore,
) -> anyhow::Result<Vec<(runtime::image::Digest, String)>> {
    let engine = crate::engine::Engine::open_at(root)?;
    let containers = engine.containers.list().context("cannot list containers")?;
    let mut used = Vec::new();
    for image in store.images()? {
        let Some(dirs) = image.layer_dirs() else {
            continue;
        };
        if let Some(info) = containers
            .iter()
            .find(|info| match &info.record.spec.rootfs {
                runtime::container::Rootfs::Layers(layers) => layers == &dirs,
                runtime::container::Rootfs::Dir(_) => false,
            })
        {
            let name = if info.record.spec.name.is_empty() {
                info.record.id.clone()
            } else {
                info.record.spec.name.clone()
            };
            used.push((image.id.clone(), name));
        }
    }
    Ok(used)
}

fn rm(root: &std::path::Path, store: &ImageStore, args: RmArgs) -> anyhow::Result<ExitCode> {
    let mut text = String::new();
    let mut errors = Vec::new();
    let in_use = images_in_use(root, store)?;
    for query in &args.images {
        if let Ok(image) = store.image(query)
            && let Some((_, container)) = in_use.iter().find(|(id, _)| *id == image.id)
        {
            errors.push(format!(
                "conflict: unable to remove image {query}: container {container} is using it (remove the container first, e.g. with `rcompose down`)"
            ));
            continue;
        }
        match store.remove(query, args.force) {
            Ok(removal) => {
                for name in &removal.untagged {
                    text.push_str(&format!("Untagged: {}\n", name.familiar()));
                }
                if let Some(id) = &removal.deleted {
                    text.push_str(&format!("Deleted: {id}\n"));
                }
            }
            Err(error) => errors.push(error.to_string()),
        }
    }
    output::stdout(&text)?;
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(ExitCode::SUCCESS)
}

fn tag(store: &ImageStore, args: TagArgs) -> anyhow::Result<ExitCode> {
    let target = ImageRef::parse(&args.target)?;
    store
        .tag(&args.source, &target)
        .with_context(|| format!("cannot tag {} as {}", args.source, args.target))?;
    Ok(ExitCode::SUCCESS)
}

fn prune(root: &std::path::Path, store: &ImageStore, _args: PruneArgs) -> anyhow::Result<ExitCode> {
    // Images under containers stay, even when no name points at them any more.
    let keep: Vec<runtime::image::Digest> = images_in_use(root, store)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let report = store.prune_except(&keep)?;
    let mut text = String::new();
    if !report.deleted_images.is_empty() {
        text.push_str("Deleted Images:\n");
        for id in &report.deleted_images {
            text.push_str(&format!("deleted: {id}\n"));
        }
        text.push('\n');
    }
    text.push_str(&format!(
        "Total reclaimed space: {}\n",
        output::human::size(report.reclaimed_bytes)
    ));
    output::stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn history(store: &ImageStore, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let image = store.image(&args.image)?;
    let now = runtime::time::now_unix();
    // History entries in order, with the layer size of those that made a layer.
    let mut layer_sizes = image
        .layers
        .iter()
        .map(|layer| layer.unpacked.as_ref().map_or(layer.blob_size, |l| l.size));
    let mut entries: Vec<(Option<String>, String, u64, String)> = match image.config.history() {
        Some(history) if !history.is_empty() => history
            .iter()
            .map(|entry| {
                let size = if entry.empty_layer().unwrap_or(false) {
                    0
                } else {
                    layer_sizes.next().unwrap_or(0)
                };
                (
                    entry.created().clone(),
                    entry.created_by().clone().unwrap_or_default(),
                    size,
                    entry.comment().clone().unwrap_or_default(),
                )
            })
            .collect(),
        _ => layer_sizes
            .map(|size| {
                (
                    image.config.created().clone(),
                    String::new(),
                    size,
                    String::new(),
                )
            })
            .collect(),
    };
    entries.reverse();
    let id = if args.no_trunc {
        image.id.to_string()
    } else {
        image.id.short().to_owned()
    };
    let image_column = |index: usize| {
        if index == 0 {
            id.clone()
        } else {
            "<missing>".to_owned()
        }
    };
    let created = |when: &Option<String>| {
        when.as_deref()
            .and_then(runtime::time::parse_rfc3339)
            .map(|c| output::human::ago(now - c))
            .unwrap_or_else(|| "N/A".to_owned())
    };
    let text = if args.quiet {
        entries
            .iter()
            .enumerate()
            .map(|(index, _)| image_column(index) + "\n")
            .collect()
    } else if args.format == ListFormat::Json {
        entries
            .iter()
            .enumerate()
            .map(|(index, (when, by, size, comment))| {
                let line = json!({
                    "Comment": comment,
                    "CreatedAt": when.clone().unwrap_or_default(),
                    "CreatedBy": by,
                    "CreatedSince": created(when),
                    "ID": image_column(index),
                    "Size": output::human::size(*size),
                });
                format!("{line}\n")
            })
            .collect()
    } else {
        let rows: Vec<Vec<String>> = entries
            .iter()
            .enumerate()
            .map(|(index, (when, by, size, comment))| {
                let by = if args.no_trunc || by.chars().count() <= 45 {
                    by.clone()
                } else {
                    by.chars().take(44).collect::<String>() + "…"
                };
                vec![
                    image_column(index),
                    created(when),
                    by,
                    output::human::size(*size),
                    comment.clone(),
                ]
            })
            .collect();
        output::table::render(
            &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
            &rows,
        )
    };
    output::stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// docker's `CreatedAt` format: `2024-05-01 12:00:00 +0000 UTC`.
fn docker_time(unix: i64) -> String {
    runtime::time::format_rfc3339(unix)
        .replace('T', " ")
        .replace('Z', " +0000 UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_path_match() {
        assert!(glob(b"busy*", b"busybox"));
        assert!(glob(b"*/app", b"user/app"));
        assert!(!glob(b"*", b"user/app"));
        assert!(glob(b"busybox:1.?", b"busybox:1.3"));
        assert!(!glob(b"busybox", b"busybox:latest"));
    }

    /// An image as the store would hand it out, from a config document.
    fn image_with_config(config: serde_json::Value) -> Image {
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let id = runtime::image::Digest::of(&config_bytes);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": id.to_string(), "size": config_bytes.len()},
            "layers": [],
        });
        let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
        Image {
            id,
            manifest_digest: runtime::image::Digest::of(&manifest_bytes),
            manifest: serde_json::from_slice(&manifest_bytes).unwrap(),
            config: serde_json::from_slice(&config_bytes).unwrap(),
            names: vec![ImageRef::parse("example.com/app:1").unwrap()],
            layers: Vec::new(),
            docker: runtime::image::docker_config::read(&config_bytes),
        }
    }

    #[test]
    fn inspect_has_dockers_shape() {
        let image = image_with_config(json!({
            "architecture": "arm64",
            "os": "linux",
            "created": "2024-01-02T03:04:05Z",
            "config": {
                "ExposedPorts": {"80/tcp": {}, "443/tcp": {}},
                "Volumes": {"/data": {}},
                "Labels": {"b": "2", "a": "1"},
                "User": "app",
            },
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [{"created_by": "x", "comment": "made"}],
        }));
        let value = inspect_json(&image);
        assert_eq!(value["RepoTags"], json!(["example.com/app:1"]));
        assert_eq!(
            value["RepoDigests"],
            json!([format!("example.com/app@{}", image.manifest_digest)])
        );
        assert_eq!(
            value["Config"]["ExposedPorts"],
            json!({"443/tcp": {}, "80/tcp": {}})
        );
        assert_eq!(value["Config"]["Volumes"], json!({"/data": {}}));
        assert_eq!(value["Config"]["Labels"], json!({"a": "1", "b": "2"}));
        assert_eq!(value["Config"]["Cmd"], Value::Null);
        assert_eq!(
            (value["Architecture"].as_str(), value["Comment"].as_str()),
            (Some("arm64"), Some("made"))
        );
        assert!(has_label(&image, "a", None) && has_label(&image, "a", Some("1")));
        assert!(!has_label(&image, "a", Some("2")) && !has_label(&image, "c", None));
    }

    #[test]
    fn shows_docker_timestamps() {
        assert_eq!(docker_time(1_700_000_000), "2023-11-14 22:13:20 +0000 UTC");
    }
}
