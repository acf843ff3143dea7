//! `rcompose convert kubernetes`: loads the project as `up` does, reads the few host facts the
//! converter needs (bind-mounted files, `env_file` variable names, disabled profiles), converts
//! (`crate::convert`, pure) and writes the objects to stdout or one file each under `-o DIR`; what
//! was not carried over goes to stderr as one report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use runtime::image::{ImageRef, ImageStore};

use crate::cli::GlobalOptions;
use crate::convert::{self, BindMode, Controller, HostFacts, Options, ServiceType, render};
use crate::output;
use crate::project::model::VolumeType;
use crate::project::{self, Loaded};

#[derive(Debug, Args)]
pub struct ConvertArgs {
    #[command(subcommand)]
    target: Target,
}

/// The platforms a project converts to.
#[derive(Debug, Subcommand)]
enum Target {
    /// Kubernetes objects: workloads, Services, claims, ConfigMaps, Secrets, NetworkPolicies
    Kubernetes(KubernetesArgs),
}

#[derive(Debug, Args)]
struct KubernetesArgs {
    /// Write one file per object and a kustomization.yaml into this directory (default: stdout)
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Format the objects
    #[arg(long, value_enum, default_value_t = FormatArg::Yaml)]
    format: FormatArg,
    /// Namespace of every object
    #[arg(long, value_name = "NS")]
    namespace: Option<String>,
    /// Controller of long-running services (default: a StatefulSet for one replica with a named
    /// volume, else a Deployment)
    #[arg(long, value_enum)]
    controller: Option<ControllerArg>,
    /// How published ports leave the cluster (ClusterIP: they do not)
    #[arg(long, value_enum, default_value_t = ServiceTypeArg::LoadBalancer)]
    service_type: ServiceTypeArg,
    /// Size of a volume's claim without an io.rcompose.volume-size label
    #[arg(long, value_name = "SIZE", default_value = "1Gi")]
    volume_size: String,
    /// What a bind mount of a host directory becomes (emptydir: a ConfigMap for a read-only one
    /// of at most 1 MiB of files, else an empty directory)
    #[arg(long, value_enum, default_value_t = BindArg::Emptydir)]
    bind: BindArg,
    /// Push the images of services with `build:` (built before) to their registries first, and
    /// pin them to the pushed digests
    #[arg(long)]
    push: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Yaml,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ControllerArg {
    Deployment,
    Statefulset,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ServiceTypeArg {
    #[value(name = "ClusterIP")]
    ClusterIp,
    #[value(name = "NodePort")]
    NodePort,
    #[value(name = "LoadBalancer")]
    LoadBalancer,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BindArg {
    Emptydir,
    Hostpath,
}

pub fn run(global: &GlobalOptions, args: ConvertArgs) -> anyhow::Result<ExitCode> {
    let Target::Kubernetes(args) = args.target;
    let loaded = project::load(super::load_options(global, &[], true)?)?;
    output::warnings(&loaded.warnings);
    let options = Options {
        namespace: args.namespace.clone(),
        controller: args.controller.map(|c| match c {
            ControllerArg::Deployment => Controller::Deployment,
            ControllerArg::Statefulset => Controller::StatefulSet,
        }),
        service_type: match args.service_type {
            ServiceTypeArg::ClusterIp => ServiceType::ClusterIp,
            ServiceTypeArg::NodePort => ServiceType::NodePort,
            ServiceTypeArg::LoadBalancer => ServiceType::LoadBalancer,
        },
        volume_size: args.volume_size.clone(),
        bind: match args.bind {
            BindArg::Emptydir => BindMode::EmptyDir,
            BindArg::Hostpath => BindMode::HostPath,
        },
    };
    let mut facts = host_facts(&loaded, global)?;
    if args.push {
        push_built(&loaded, global, &mut facts)?;
    }
    let conversion = convert::convert(&loaded.project, &options, &facts)?;
    let format = match args.format {
        FormatArg::Yaml => render::Format::Yaml,
        FormatArg::Json => render::Format::Json,
    };
    match &args.output {
        Some(dir) => write_files(
            dir,
            &render::files(&conversion.objects, format, args.namespace.as_deref()),
        )?,
        None => output::stdout(&render::stream(&conversion.objects, format))?,
    }
    if !conversion.report.is_empty() {
        output::status(conversion.report.to_string().trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the files into `dir`. The files an earlier run wrote there (its `kustomization.yaml`
/// lists them) that this run does not write again are removed, so the directory holds the project
/// as it is; Secrets are readable by their owner alone.
fn write_files(dir: &Path, files: &[(String, String)]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut removed = 0;
    for old in earlier_resources(dir) {
        if !files.iter().any(|(name, _)| *name == old)
            && std::fs::remove_file(dir.join(&old)).is_ok()
        {
            removed += 1;
        }
    }
    for (name, text) in files {
        let path = dir.join(name);
        let secret = name.ends_with("-secret.yaml") || name.ends_with("-secret.json");
        let mode = if secret { 0o600 } else { 0o644 };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .and_then(|()| file.write_all(text.as_bytes()))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    output::status(&format!(
        "Wrote {} files to {}{}",
        files.len(),
        dir.display(),
        if removed > 0 {
            format!(" (removed {removed} an earlier run wrote)")
        } else {
            String::new()
        }
    ));
    Ok(())
}

/// The file names the `kustomization.yaml` in `dir` lists (plain names only: what a convert wrote).
fn earlier_resources(dir: &Path) -> Vec<String> {
    let path = dir.join("kustomization.yaml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    let source = crate::project::diag::Source::new(&path, text);
    let Ok(root) = crate::project::yaml::parse(&source) else {
        return Vec::new();
    };
    root.get("resources")
        .and_then(|resources| resources.as_seq())
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.to_text())
                .filter(|name| {
                    !name.contains('/') && name != "kustomization.yaml" && !name.starts_with('.')
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The files of `dir` when it holds only regular files, 1 MiB at most in all (what a ConfigMap
/// holds); `None` otherwise, or when it is no directory.
fn small_flat_directory(dir: &Path) -> anyhow::Result<Option<BTreeMap<String, Vec<u8>>>> {
    const LIMIT: u64 = 1 << 20;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut total = 0;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let metadata = std::fs::symlink_metadata(entry.path())
            .with_context(|| format!("cannot read {}", entry.path().display()))?;
        total += metadata.len();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Ok(None);
        };
        if !metadata.is_file() || total > LIMIT {
            return Ok(None);
        }
        found.push((name, entry.path()));
    }
    let mut files = BTreeMap::new();
    for (name, path) in found {
        let content =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        files.insert(name, content);
    }
    Ok(Some(files))
}

/// The image a service runs, as `up` names it.
fn service_image(
    project: &crate::project::model::Project,
    name: &str,
    service: &crate::project::model::Service,
) -> String {
    service
        .image
        .clone()
        .unwrap_or_else(|| format!("{}-{name}", project.name))
}

/// `--push`: pushes the image of every service with `build:` through the registry client (what
/// `rcompose push` does), and pins each to the digest the registry took.
fn push_built(
    loaded: &Loaded,
    global: &GlobalOptions,
    facts: &mut HostFacts,
) -> anyhow::Result<()> {
    let root = crate::engine::root(global);
    let store = ImageStore::open(&root)
        .with_context(|| format!("cannot open the image store under {}", root.display()))?;
    for (name, service) in &loaded.project.services {
        if service.build.is_none()
            || facts
                .pushed
                .contains(&service_image(&loaded.project, name, service))
        {
            continue;
        }
        let image = service_image(&loaded.project, name, service);
        let line = super::push::push_image(&store, &root, &image, false).with_context(|| {
            format!("--push: cannot push the image {image:?} of service {name} (build it first: rcompose build {name})")
        })?;
        if let Some(digest) = line
            .split("digest: ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
        {
            facts
                .pinned_images
                .insert(image.clone(), format!("{image}@{digest}"));
        }
        facts.pushed.insert(image);
    }
    Ok(())
}

/// The images the store knows the registry digest of (a pull recorded it), pinned to it. Reads an
/// existing store only: converting never creates one.
fn pinned_images(loaded: &Loaded, global: &GlobalOptions) -> BTreeMap<String, String> {
    let mut pinned = BTreeMap::new();
    let root = crate::engine::root(global);
    if !root.join("image").join("oci-layout").is_file() {
        return pinned;
    }
    let Ok(store) = ImageStore::open(&root) else {
        return pinned;
    };
    for (name, service) in &loaded.project.services {
        let image = service_image(&loaded.project, name, service);
        let (Ok(wanted), Ok(found)) = (ImageRef::parse(&image), store.image(&image)) else {
            continue;
        };
        if wanted.digest().is_some() {
            continue;
        }
        if let Some(digest) = found
            .names
            .iter()
            .filter(|n| n.familiar_repository() == wanted.familiar_repository())
            .find_map(|n| n.digest())
        {
            pinned.insert(image.clone(), format!("{image}@{digest}"));
        }
    }
    pinned
}

/// What the converter needs from the host: the contents of bind-mounted regular files, the names
/// each `env_file` sets, the profiles not enabled, and the digests the image store knows.
fn host_facts(loaded: &Loaded, global: &GlobalOptions) -> anyhow::Result<HostFacts> {
    let mut facts = HostFacts::default();
    for service in loaded.project.services.values() {
        for volume in &service.volumes {
            let (VolumeType::Bind, Some(source)) = (volume.kind, volume.source.as_deref()) else {
                continue;
            };
            if volume.read_only
                && let Some(files) = small_flat_directory(Path::new(source))?
            {
                facts.directories.insert(source.to_string(), files);
            }
            if std::fs::metadata(source).is_ok_and(|m| m.is_file()) {
                let content =
                    std::fs::read(source).with_context(|| format!("cannot read {source}"))?;
                facts.files.insert(source.to_string(), content);
            }
        }
        for file in &service.env_file {
            let Ok(text) = std::fs::read_to_string(&file.path) else {
                continue;
            };
            let names = if file.format.as_deref() == Some("raw") {
                text.lines()
                    .filter_map(|line| line.split_once('=').map(|(name, _)| name.to_string()))
                    .collect()
            } else {
                project::dotenv::parse(&text, &|_| None)
                    .map(|variables| variables.into_iter().map(|v| v.name).collect())
                    .unwrap_or_default()
            };
            facts.env_file_names.insert(file.path.clone(), names);
        }
    }
    let active: BTreeSet<String> = if global.profiles.is_empty() {
        loaded
            .environment
            .value("COMPOSE_PROFILES")
            .map(|list| list.split(',').map(|p| p.trim().to_string()).collect())
            .unwrap_or_default()
    } else {
        global.profiles.iter().cloned().collect()
    };
    if !active.contains("*") {
        facts.disabled_profiles = loaded
            .all_profiles
            .iter()
            .filter(|p| !active.contains(*p))
            .cloned()
            .collect();
    }
    facts.pinned_images = pinned_images(loaded, global);
    Ok(facts)
}
