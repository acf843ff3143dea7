//! From the YAML files a user writes to one typed, normalized [`model::Project`].
//!
//! The pipeline, in order (each stage is its own module):
//! - `discover`: which files, which project directory, which `.env`, which name;
//! - `load`: the stage that reads files and drives the per-file stages below;
//! - `yaml`: YAML text to a tree of nodes that keep their source position (anchors, `<<` merge keys,
//!   `!reset`/`!override` tags resolved here);
//! - `interpolate`: `${VAR:-default}` and friends in values, never keys (`dotenv` parses `.env`);
//! - `canonical`: short syntax to long syntax, per file, before merging (as compose-go does);
//! - `extends`, `merge`, `include` (in `load`), `paths`: the Compose merge rules and path resolution;
//! - `profiles`: disabled services drop out;
//! - `normalize`: defaults and derived names;
//! - `extensions`: `x-` fields below the top level, kept beside the typed model for output;
//! - `typed`: the node tree to the typed model, unknown keys rejected with a "did you mean";
//! - `validate`: semantic checks (references, cycles, duplicates).
//!
//! Every error is a [`diag::Diagnostic`] that names its file, line and column and says what to do.
//! Only `discover` and `load` touch the file system or the environment; the other stages are pure.

pub mod canonical;
pub mod diag;
pub mod discover;
pub mod dotenv;
pub mod environment;
pub mod extends;
pub mod extensions;
pub mod interpolate;
pub mod load;
pub mod merge;
pub mod model;
pub mod normalize;
pub mod paths;
pub mod printed;
pub mod profiles;
pub mod refuse;
pub mod typed;
pub mod units;
pub mod validate;
pub mod yaml;

use std::collections::BTreeSet;
use std::path::PathBuf;

use diag::Diagnostics;
use environment::Environment;
use interpolate::Usage;
pub use load::LoadOptions;
use load::Loader;
use model::Project;
use yaml::Node;

/// A loaded project and what was learned loading it.
#[derive(Debug)]
pub struct Loaded {
    pub project: Project,
    /// Top-level `x-` extension fields, kept for output.
    pub extensions: serde_json::Map<String, serde_json::Value>,
    /// `x-` extension fields below the top level (services, builds, resources...), kept for output.
    pub nested_extensions: Vec<extensions::Extension>,
    /// The merged tree the project was typed from (positions for later diagnostics).
    pub tree: Node,
    pub warnings: Vec<String>,
    pub environment: Environment,
    /// Every `${}` variable use, in file order.
    pub usages: Vec<Usage>,
    pub config_files: Vec<PathBuf>,
    pub env_files: Vec<PathBuf>,
    /// Every file the loader read: the compose files, included and extended files, `.env` files and
    /// services' `env_file`s.
    pub read_files: Vec<PathBuf>,
    pub working_dir: PathBuf,
    /// Every profile named by a service (before filtering).
    pub all_profiles: BTreeSet<String>,
    /// The services the files define that the active profiles leave out.
    pub disabled_services: BTreeSet<String>,
    /// Whether variables were interpolated; without, only `tree` is meaningful (`config --no-interpolate`).
    pub interpolated: bool,
    /// Enabled services whose required `env_file` could not be read, with the error.
    pub missing_env_files: std::collections::BTreeMap<String, diag::Diagnostic>,
}

/// Loads, merges, normalizes and validates a project.
///
/// `${COMPOSE_PROJECT_NAME}` is the project's name, as compose-go sets it: when the files use it and
/// its value (from the shell or `.env`) is not the name the project gets (from `-p`, a top-level
/// `name:` or the directory), the project is loaded again with it set.
///
/// A service's `env_file` that cannot be read is an error only for the services the command loads:
/// the ones named (and what they depend on), or all enabled services when none is named.
pub fn load(options: LoadOptions) -> Result<Loaded, Diagnostics> {
    load_with(options, LoadMode::default())
}

/// What `config --no-normalize`, `--no-path-resolution` and `--no-consistency` leave out of a load
/// (all `true`, the default, for every other command).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadMode {
    /// Defaults and derived names: the default network, `Dockerfile`, `<project>_<key>` names.
    pub normalize: bool,
    /// Relative paths made absolute against the project directory (and `~` expanded).
    pub resolve_paths: bool,
    /// Semantic checks (references, cycles, duplicates...): without, problems are not errors.
    pub consistency: bool,
}

impl Default for LoadMode {
    fn default() -> LoadMode {
        LoadMode {
            normalize: true,
            resolve_paths: true,
            consistency: true,
        }
    }
}

/// [`load`] with some stages left out.
pub fn load_with(options: LoadOptions, mode: LoadMode) -> Result<Loaded, Diagnostics> {
    let named = options.services.clone();
    let loaded = load_unchecked(options, mode)?;
    let needed: BTreeSet<String> = if named.is_empty() {
        loaded.project.services.keys().cloned().collect()
    } else {
        crate::graph::ServiceGraph::new(&loaded.project).with_dependencies(&named)
    };
    let missing: Vec<diag::Diagnostic> = loaded
        .missing_env_files
        .iter()
        .filter(|(service, _)| needed.contains(*service))
        .map(|(_, problem)| problem.clone())
        .collect();
    if !missing.is_empty() {
        return Err(Diagnostics(missing));
    }
    Ok(loaded)
}

/// [`load`] for commands that only list names (`config --services`, `--volumes`...): a missing
/// `env_file` is no error (docker compose v2 does not read them for these); the services whose
/// files are missing are in [`Loaded::missing_env_files`].
pub fn load_for_listing(options: LoadOptions) -> Result<Loaded, Diagnostics> {
    load_unchecked(options, LoadMode::default())
}

fn load_unchecked(options: LoadOptions, mode: LoadMode) -> Result<Loaded, Diagnostics> {
    match load_once(options.clone(), mode)? {
        Once::Loaded(loaded) => Ok(*loaded),
        Once::Named(name) => {
            let mut options = options;
            options.shell.insert(PROJECT_NAME_VARIABLE.to_owned(), name);
            match load_once(options, mode)? {
                Once::Loaded(loaded) => Ok(*loaded),
                Once::Named(name) => Err(Diagnostics(vec![diag::Diagnostic::new(format!(
                    "the project name {name:?} depends on ${{{PROJECT_NAME_VARIABLE}}} itself"
                ))])),
            }
        }
    }
}

/// The variable that holds the project's name during interpolation.
const PROJECT_NAME_VARIABLE: &str = "COMPOSE_PROJECT_NAME";

/// One pass of [`load`]: the project, or the name it gets when the files use
/// `${COMPOSE_PROJECT_NAME}` with another value (the pass to make with it set).
enum Once {
    Loaded(Box<Loaded>),
    Named(String),
}

fn load_once(options: LoadOptions, mode: LoadMode) -> Result<Once, Diagnostics> {
    let mut loader = Loader::new(options);
    loader.resolve_paths = mode.resolve_paths;
    let inputs = discover::inputs(&mut loader)?;
    let active_profiles: Vec<String> = if loader.options.profiles.is_empty() {
        inputs
            .environment
            .value("COMPOSE_PROFILES")
            .map(|list| {
                list.split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        loader.options.profiles.clone()
    };
    let tree = loader.load_tree(
        &inputs.files,
        &inputs.project_dir,
        inputs.environment,
        inputs.env_files,
        &mut Vec::new(),
    )?;
    let mut root = tree.root;
    // A project whose files hold nothing at all (empty, or comments only) is refused, as compose-go
    // refuses it; one empty file among others is fine.
    if root.is_null() || root.as_map().is_some_and(|map| map.is_empty()) {
        let files: Vec<String> = tree
            .config_files
            .iter()
            .map(|f| diag::display_path(f))
            .collect();
        return Err(Diagnostics(vec![
            diag::Diagnostic::new(format!("empty compose file ({})", files.join(", ")))
                .with_hint("add a `services:` section (a file with only comments is empty)"),
        ]));
    }
    let declared_name = root
        .get("name")
        .and_then(|n| n.as_text().map(|text| (text.to_string(), n.span.clone())));
    let name = discover::project_name(
        loader.options.project_name.as_deref(),
        &tree.environment,
        declared_name.as_ref().map(|(n, s)| (n.as_str(), s)),
        &tree.project_dir,
    )?;
    if loader
        .usages
        .iter()
        .any(|u| u.name == PROJECT_NAME_VARIABLE)
        && tree.environment.value(PROJECT_NAME_VARIABLE).as_deref() != Some(name.as_str())
    {
        return Ok(Once::Named(name));
    }
    root.remove("version");
    for unset in loader.unset.keys() {
        loader.warnings.push(format!(
            "The {unset:?} variable is not set. Defaulting to a blank string."
        ));
        // The most common `.env` confusion: a variable set only in a service's `env_file`, which feeds
        // the container's environment, not interpolation.
        if let Some((path, service)) = loader.env_file_variables.get(unset) {
            loader.warnings.push(format!(
                "{unset:?} is set only in {} (env_file of service {service:?}): env_file sets the container's environment, not ${{}} interpolation; set it in .env or the shell",
                diag::display_path(path)
            ));
        }
    }
    let all_profiles = profiles::all_profiles(&root);
    let extensions = typed::take_extensions(&mut root);
    root.insert("name", Node::string(&root.span.clone(), name.clone()));
    let named = loader.options.services.clone();
    let disabled_services =
        profiles::apply(&mut root, &active_profiles, &named, &mut loader.warnings)?;
    normalize::apply(&mut root, &name, mode.normalize)?;
    let nested_extensions = extensions::take_nested(&mut root);
    let interpolated = loader.options.interpolate;
    // Without interpolation values may hold `${...}`: the tree cannot be typed or validated.
    let project = if interpolated {
        let mut project = typed::to_project(&root)?;
        loader
            .warnings
            .extend(typed::yaml11_bool_warnings(&root, &project));
        let problems = validate::check(&project, &root, &named);
        if !problems.is_empty() && mode.consistency {
            return Err(Diagnostics(problems));
        }
        load::read_contents(&mut project, &loader.seen_environment);
        project
    } else {
        Project {
            name,
            ..Project::default()
        }
    };
    let read_files = loader.read_files();
    let enabled: BTreeSet<String> = root
        .get("services")
        .and_then(Node::as_map)
        .map(|services| services.keys().cloned().collect())
        .unwrap_or_default();
    let missing_env_files = std::mem::take(&mut loader.missing_env_files)
        .into_iter()
        .filter(|(service, _)| enabled.contains(service))
        .collect();
    Ok(Once::Loaded(Box::new(Loaded {
        project,
        extensions,
        nested_extensions,
        tree: root,
        warnings: loader.warnings,
        environment: loader.seen_environment,
        usages: loader.usages,
        config_files: tree.config_files,
        env_files: tree.env_files,
        read_files,
        working_dir: tree.project_dir,
        all_profiles,
        disabled_services,
        interpolated,
        missing_env_files,
    })))
}
