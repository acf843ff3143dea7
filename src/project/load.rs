//! The only stage of the loader that touches the file system and the process environment: it finds the
//! compose files, reads them and the `.env` files, and drives the pure stages over what it read.
//!
//! Order of work (as compose-go): for each file, parse, interpolate, canonicalize and resolve
//! `extends`; merge the files; apply `include`; resolve paths and `env_file`s; then the project-wide
//! stages (name, profiles, defaults, typing, validation) run in [`super::load`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diag::{Diagnostic, Kind, Source, Span, display_path};
use super::environment::{Environment, Origin};
use super::interpolate::{self, Usage};
use super::yaml::{self, Node, Value};
use super::{canonical, extends, merge, paths};

/// The compose file names looked for, in order, in the working directory and its parents.
pub const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];
/// Override files merged automatically with a discovered default file.
pub const OVERRIDE_FILES: [&str; 4] = [
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// How deeply `include`s may nest (each level loads its project recursively).
pub const MAX_INCLUDE_DEPTH: usize = 64;

/// Everything that decides how a project loads, resolved from the command line and environment.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` files as given (`-` is standard input); empty means discover or `COMPOSE_FILE`.
    pub files: Vec<PathBuf>,
    pub project_name: Option<String>,
    pub project_directory: Option<PathBuf>,
    pub env_files: Vec<PathBuf>,
    pub profiles: Vec<String>,
    /// Services named on the command line: they are enabled whatever their profiles.
    pub services: Vec<String>,
    /// The directory relative paths on the command line are taken from.
    pub working_dir: PathBuf,
    /// The process environment.
    pub shell: BTreeMap<String, String>,
    /// Standard input, for `-f -`.
    pub stdin: Option<String>,
    /// Whether `${VAR}` templates are interpolated (`config --no-interpolate` turns it off).
    pub interpolate: bool,
}

/// A loaded, merged node tree of one (sub-)project, before typing.
pub struct Tree {
    pub root: Node,
    pub project_dir: PathBuf,
    pub environment: Environment,
    pub config_files: Vec<PathBuf>,
    pub env_files: Vec<PathBuf>,
}

/// Reads files once and remembers what it read, for `extends` and `include`.
pub struct Loader {
    pub options: LoadOptions,
    sources: HashMap<PathBuf, Arc<Source>>,
    /// Variables used in `${}` templates, as written (for `--variables` and `--environment`).
    pub usages: Vec<Usage>,
    /// Names of variables that were unset and defaulted to empty.
    pub unset: BTreeMap<String, ()>,
    pub warnings: Vec<String>,
    /// Variables set by services' `env_file`s: the file and the service (for a warning when a `${}`
    /// uses one of them, which env_file does not feed).
    pub env_file_variables: BTreeMap<String, (PathBuf, String)>,
    /// Files loaded as `extends` bases, by path and environment: a base shared by many services is
    /// parsed and resolved once.
    extends_bases: HashMap<(PathBuf, u64), Node>,
    /// Every variable of every (sub-)project's environment, the main project's first (for
    /// `config --environment`).
    pub seen_environment: Environment,
    /// Nodes written in the files parsed so far (what aliases copied not included).
    pub parsed_nodes: usize,
    /// Nodes copied from base services by `extends`: bounded next to `parsed_nodes`, as aliases are.
    pub extends_copied: usize,
    /// Required `env_file`s that could not be read, by service: an error only for the services a
    /// command loads (as docker compose v2), so another service's missing file breaks nothing else.
    pub missing_env_files: BTreeMap<String, Diagnostic>,
    /// Whether relative paths are made absolute (`config --no-path-resolution` turns it off; files
    /// are still read from where the paths lead).
    pub resolve_paths: bool,
}

impl Loader {
    pub fn new(options: LoadOptions) -> Loader {
        Loader {
            options,
            sources: HashMap::new(),
            usages: Vec::new(),
            unset: BTreeMap::new(),
            warnings: Vec::new(),
            env_file_variables: BTreeMap::new(),
            extends_bases: HashMap::new(),
            seen_environment: Environment::default(),
            parsed_nodes: 0,
            extends_copied: 0,
            missing_env_files: BTreeMap::new(),
            resolve_paths: true,
        }
    }

    /// Reads a file; `referenced_at` is where it was named, for the error.
    pub fn read(
        &mut self,
        path: &Path,
        referenced_at: Option<&Span>,
    ) -> Result<Arc<Source>, Diagnostic> {
        if path == Path::new("-") {
            let text = self.options.stdin.clone().unwrap_or_default();
            return Ok(Source::new("-", text));
        }
        if let Some(source) = self.sources.get(path) {
            return Ok(source.clone());
        }
        let text = std::fs::read_to_string(path).map_err(|error| {
            let message = format!("cannot read {}: {error}", display_path(path));
            let diagnostic = match referenced_at {
                Some(span) => Diagnostic::at(span, message),
                None => Diagnostic::new(message),
            };
            diagnostic
                .with_kind(Kind::Io)
                .with_hint("check that the file exists and is readable")
        })?;
        let source = Source::new(path, text);
        self.sources.insert(path.to_path_buf(), source.clone());
        Ok(source)
    }

    /// Every file read so far (compose files, included and extended ones, `.env` and `env_file`s),
    /// sorted: what a watcher follows to load the project again.
    pub fn read_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.sources.keys().cloned().collect();
        files.sort();
        files
    }

    /// Whether a path exists (for discovery and optional files).
    pub fn exists(path: &Path) -> bool {
        path.is_file()
    }

    /// Reads, interpolates, canonicalizes one compose file and resolves its `extends`.
    pub fn load_file(
        &mut self,
        path: &Path,
        environment: &Environment,
        extends_stack: &mut Vec<(PathBuf, String)>,
    ) -> Result<Node, Diagnostic> {
        let mut root = self.parse_file(path, environment, None)?;
        let dir = parent_dir(path, &self.options.working_dir);
        extends::resolve(self, &mut root, path, &dir, environment, extends_stack)?;
        Ok(root)
    }

    /// Reads, interpolates and canonicalizes one compose file (its `extends` left as written).
    fn parse_file(
        &mut self,
        path: &Path,
        environment: &Environment,
        referenced_at: Option<&Span>,
    ) -> Result<Node, Diagnostic> {
        let source = self.read(path, referenced_at)?;
        let (mut root, own) = yaml::parse_sized(&source)?;
        self.parsed_nodes = self.parsed_nodes.saturating_add(own);
        interpolate::collect_usages(&root, &mut self.usages);
        if self.options.interpolate {
            let lookup = |name: &str| environment.value(name);
            interpolate::interpolate_node(&mut root, &lookup, &mut self.unset)?;
        }
        // Without interpolation a short form holding `${...}` cannot be expanded: it is kept as written.
        canonical::canonicalize(&mut root, !self.options.interpolate)?;
        super::extensions::remove_unkept(&mut root);
        if root.get("version").is_some() {
            self.warnings.push(format!(
                "{}: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion",
                source.display_path()
            ));
        }
        Ok(root)
    }

    /// Reads a file that an `extends` names (parsed once per file and environment; only the services
    /// an `extends` chain needs are resolved, by the caller).
    pub fn parse_base_file(
        &mut self,
        path: &Path,
        environment: &Environment,
        referenced_at: &Span,
    ) -> Result<Node, Diagnostic> {
        let key = (path.to_path_buf(), environment.fingerprint());
        if let Some(node) = self.extends_bases.get(&key) {
            return Ok(node.clone());
        }
        let node = self.parse_file(path, environment, Some(referenced_at))?;
        self.extends_bases.insert(key, node.clone());
        Ok(node)
    }

    /// Loads a (sub-)project: its files merged, includes applied, paths made absolute and environments
    /// resolved. `include_stack` holds the files being included, to detect include cycles.
    pub fn load_tree(
        &mut self,
        files: &[PathBuf],
        project_dir: &Path,
        environment: Environment,
        env_files: Vec<PathBuf>,
        include_stack: &mut Vec<PathBuf>,
    ) -> Result<Tree, Diagnostic> {
        self.seen_environment.absorb(&environment);
        let mut merged: Option<Node> = None;
        for file in files {
            let node = self.load_file(file, &environment, &mut Vec::new())?;
            merged = Some(match merged {
                None => node,
                Some(base) => merge::merge(base, node),
            });
        }
        let mut root = merged.unwrap_or_else(|| {
            Node::map(
                &Span {
                    source: Source::new("-", ""),
                    line: 1,
                    col: 1,
                },
                vec![],
            )
        });
        merge::strip_tags(&mut root);
        let home = self.options.shell.get("HOME").map(PathBuf::from);
        if self.resolve_paths {
            paths::resolve(&mut root, project_dir, home.as_deref());
            self.resolve_environment(&mut root, &environment)?;
        } else {
            // The env and label files are still read from where their paths lead.
            let mut resolved = root.clone();
            paths::resolve(&mut resolved, project_dir, home.as_deref());
            self.resolve_environment(&mut resolved, &environment)?;
            copy_resolved_environment(&mut root, &resolved);
        }
        if let Some(include) = root.remove("include") {
            self.apply_include(&mut root, include, project_dir, &environment, include_stack)?;
        }
        Ok(Tree {
            root,
            project_dir: project_dir.to_path_buf(),
            environment,
            config_files: files.to_vec(),
            env_files,
        })
    }

    /// Folds each service's `env_file`s into its `environment` (which wins) and resolves bare names
    /// from the project environment.
    fn resolve_environment(
        &mut self,
        root: &mut Node,
        environment: &Environment,
    ) -> Result<(), Diagnostic> {
        let Some(services) = root
            .as_map_mut()
            .and_then(|m| m.get_mut("services"))
            .and_then(|e| e.node.as_map_mut())
        else {
            return Ok(());
        };
        let lookup = |name: &str| environment.value(name);
        for (service_name, entry) in services.iter_mut() {
            let service = &mut entry.node;
            let mut resolved: BTreeMap<String, (Option<String>, Span)> = BTreeMap::new();
            if let Some(Value::Seq(files)) = service.get("env_file").map(|n| &n.value) {
                for file in files.clone() {
                    let Some(path) = file.get("path").and_then(Node::as_text) else {
                        continue;
                    };
                    let path = PathBuf::from(path);
                    let required = file.get("required").and_then(Node::as_bool) != Some(false);
                    if !required && !Loader::exists(&path) {
                        continue;
                    }
                    let source = match self.read(&path, Some(&file.span)) {
                        Ok(source) => source,
                        Err(error) if error.kind == Kind::Io => {
                            self.missing_env_files
                                .entry(service_name.clone())
                                .or_insert(error);
                            continue;
                        }
                        Err(error) => return Err(error),
                    };
                    let raw = file.get("format").and_then(Node::as_text) == Some("raw");
                    let variables = if raw {
                        raw_env_file(&source.text)
                    } else {
                        parse_dotenv(&source, &lookup, "env files hold one VAR=VALUE per line")?
                    };
                    for variable in variables {
                        self.env_file_variables
                            .entry(variable.name.clone())
                            .or_insert_with(|| (path.clone(), service_name.clone()));
                        if let Some(value) = variable.value {
                            resolved.insert(variable.name, (Some(value), file.span.clone()));
                        }
                    }
                }
            }
            if let Some(Value::Map(map)) = service.get("environment").map(|n| &n.value) {
                for (name, entry) in map {
                    let value = match &entry.node.value {
                        Value::Null => environment.value(name),
                        _ => entry.node.to_text(),
                    };
                    resolved.insert(name.clone(), (value, entry.node.span.clone()));
                }
            }
            self.resolve_label_files(service, environment)?;
            resolve_build_args(service, environment);
            if !resolved.is_empty() {
                let span = service.span.clone();
                let entries = resolved
                    .into_iter()
                    .map(|(name, (value, span))| {
                        let node = match value {
                            Some(value) => Node::string(&span, value),
                            None => Node::null(&span),
                        };
                        (name, node)
                    })
                    .collect::<Vec<_>>();
                service.insert(
                    "environment",
                    Node::map(
                        &span,
                        entries
                            .iter()
                            .map(|(k, v)| (k.as_str(), v.clone()))
                            .collect(),
                    ),
                );
            }
        }
        Ok(())
    }

    /// Adds the labels of a service's `label_file`s (dotenv syntax) that `labels` does not set; a
    /// later file wins over an earlier one, as compose-go reads them.
    fn resolve_label_files(
        &mut self,
        service: &mut Node,
        environment: &Environment,
    ) -> Result<(), Diagnostic> {
        let Some(files) = service.get("label_file").and_then(Node::as_seq).cloned() else {
            return Ok(());
        };
        let lookup = |name: &str| environment.value(name);
        let mut added: indexmap::IndexMap<String, Node> = indexmap::IndexMap::new();
        for file in files {
            let Some(path) = file.as_text() else { continue };
            let source = self.read(Path::new(path), Some(&file.span))?;
            let variables = parse_dotenv(
                &source,
                &lookup,
                "label files hold one LABEL=VALUE per line",
            )?;
            for variable in variables {
                added.insert(
                    variable.name,
                    Node::string(&file.span, variable.value.unwrap_or_default()),
                );
            }
        }
        if service.get("labels").is_none_or(Node::is_null) {
            let span = service.span.clone();
            service.insert("labels", Node::map(&span, vec![]));
        }
        if let Some(labels) = service
            .as_map_mut()
            .and_then(|m| m.get_mut("labels"))
            .map(|e| &mut e.node)
        {
            for (name, value) in added {
                if labels.get(&name).is_none() {
                    labels.insert(&name, value);
                }
            }
        }
        Ok(())
    }

    /// Loads each included project and adds its resources; a resource defined differently on both
    /// sides is an error, as the Compose Specification says.
    fn apply_include(
        &mut self,
        root: &mut Node,
        include: Node,
        project_dir: &Path,
        parent_environment: &Environment,
        include_stack: &mut Vec<PathBuf>,
    ) -> Result<(), Diagnostic> {
        let Some(entries) = include.as_seq() else {
            return Ok(());
        };
        for entry in entries {
            let paths: Vec<PathBuf> = entry
                .get("path")
                .and_then(Node::as_seq)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Node::as_text)
                        .map(|p| absolute(project_dir, p))
                        .collect()
                })
                .unwrap_or_default();
            let Some(first) = paths.first().cloned() else {
                return Err(Diagnostic::at(&entry.span, "an include entry needs a `path`")
                    .with_hint("write `include: [other/compose.yaml]` or `include: [{path: other/compose.yaml}]`"));
            };
            if let Some(position) = include_stack.iter().position(|p| p == &first) {
                let cycle: Vec<String> = include_stack[position..]
                    .iter()
                    .chain([&first])
                    .map(|p| display_path(p))
                    .collect();
                return Err(Diagnostic::at(
                    &entry.span,
                    format!("include cycle: {}", cycle.join(" -> ")),
                )
                .with_hint("remove one of the includes that form the cycle"));
            }
            if include_stack.len() >= MAX_INCLUDE_DEPTH {
                return Err(Diagnostic::at(
                    &entry.span,
                    format!("includes nested more than {MAX_INCLUDE_DEPTH} levels deep"),
                )
                .with_hint(
                    "a file includes a file that includes another, and so on: flatten the includes",
                ));
            }
            let sub_dir = match entry.get("project_directory").and_then(Node::as_text) {
                Some(dir) => absolute(project_dir, dir),
                None => parent_dir(&first, project_dir),
            };
            let env_file_paths: Vec<PathBuf> = match entry.get("env_file").and_then(Node::as_seq) {
                Some(items) => items
                    .iter()
                    .filter_map(Node::as_text)
                    .map(|p| absolute(project_dir, p))
                    .collect(),
                None => vec![sub_dir.join(".env")]
                    .into_iter()
                    .filter(|p| Loader::exists(p))
                    .collect(),
            };
            // The included project sees its parent's variables; its own env files only add the ones
            // the parent does not set.
            let mut environment = parent_environment.clone();
            for path in &env_file_paths {
                let mut own = Environment::from_shell(&self.options.shell);
                self.add_env_file(
                    &mut own,
                    path,
                    &Origin::IncludeEnvFile(path.clone()),
                    Some(&entry.span),
                )?;
                let added = own
                    .iter()
                    .filter(|(_, v)| v.origin != Origin::Shell)
                    .map(|(k, v)| (k.clone(), v.value.clone()));
                environment.add_missing(added, &Origin::IncludeEnvFile(path.clone()));
            }
            for path in &paths {
                if !Loader::exists(path) {
                    return Err(Diagnostic::at(
                        &entry.span,
                        format!("included file {} not found", display_path(path)),
                    )
                    .with_kind(Kind::Io)
                    .with_hint("paths in `include` are relative to the project directory"));
                }
            }
            include_stack.push(first.clone());
            let tree =
                self.load_tree(&paths, &sub_dir, environment, env_file_paths, include_stack)?;
            include_stack.pop();
            for section in [
                "services", "networks", "volumes", "secrets", "configs", "models",
            ] {
                let Some(included) = tree.root.get(section).and_then(Node::as_map) else {
                    continue;
                };
                if root.get(section).is_none() {
                    root.insert(section, Node::map(&entry.span, vec![]));
                }
                let Some(target) = root
                    .as_map_mut()
                    .and_then(|m| m.get_mut(section))
                    .map(|e| &mut e.node)
                else {
                    continue;
                };
                if target.is_null() {
                    *target = Node::map(&entry.span, vec![]);
                }
                let Some(target) = target.as_map_mut() else {
                    continue;
                };
                for (name, included_entry) in included {
                    if let Some(existing) = target.get(name) {
                        if merge::same_value(&existing.node, &included_entry.node) {
                            continue;
                        }
                        let kind = section.trim_end_matches('s');
                        return Err(Diagnostic::at(
                            &existing.key_span,
                            format!("{kind} {name:?} is also defined by the included file {}", display_path(&first)),
                        )
                        .with_hint(format!(
                            "an included project's resources are not merged; rename one of them (the other is at {})",
                            included_entry.key_span
                        )));
                    }
                    target.insert(name.clone(), included_entry.clone());
                }
            }
        }
        Ok(())
    }

    /// Reads a `.env`-style file into an environment.
    pub fn add_env_file(
        &mut self,
        environment: &mut Environment,
        path: &Path,
        origin: &Origin,
        referenced_at: Option<&Span>,
    ) -> Result<(), Diagnostic> {
        let source = self.read(path, referenced_at)?;
        let snapshot = environment.clone();
        let lookup = |name: &str| {
            snapshot
                .get(name)
                .filter(|v| v.origin == Origin::Shell)
                .map(|v| v.value.clone())
        };
        let variables = parse_dotenv(&source, &lookup, "a .env file holds one VAR=VALUE per line")?;
        environment.add_file_variables(
            variables
                .into_iter()
                .filter_map(|v| v.value.map(|value| (v.name, value))),
            origin,
        );
        Ok(())
    }
}

/// Takes each service's resolved `environment`, `labels` and build args from `resolved` (the same
/// tree with its paths made absolute) into `root`, whose paths stay as written.
fn copy_resolved_environment(root: &mut Node, resolved: &Node) {
    let Some(services) = root
        .as_map_mut()
        .and_then(|m| m.get_mut("services"))
        .and_then(|e| e.node.as_map_mut())
    else {
        return;
    };
    for (name, entry) in services.iter_mut() {
        let Some(from) = resolved.get("services").and_then(|s| s.get(name)) else {
            continue;
        };
        for key in ["environment", "labels"] {
            if let Some(value) = from.get(key) {
                entry.node.insert(key, value.clone());
            }
        }
        if let (Some(args), Some(build)) = (
            from.get("build").and_then(|b| b.get("args")),
            entry
                .node
                .as_map_mut()
                .and_then(|m| m.get_mut("build"))
                .map(|e| &mut e.node),
        ) {
            build.insert("args", args.clone());
        }
    }
}

/// A build arg without a value takes the variable's value from the project environment, and is
/// left out when that is unset (as compose-go resolves it).
fn resolve_build_args(service: &mut Node, environment: &Environment) {
    let Some(Value::Map(args)) = service
        .as_map_mut()
        .and_then(|m| m.get_mut("build"))
        .and_then(|e| e.node.as_map_mut())
        .and_then(|m| m.get_mut("args"))
        .map(|e| &mut e.node.value)
    else {
        return;
    };
    let unset: Vec<String> = args
        .iter()
        .filter(|(name, entry)| entry.node.is_null() && environment.value(name).is_none())
        .map(|(name, _)| name.clone())
        .collect();
    for name in unset {
        args.shift_remove(&name);
    }
    for (name, entry) in args.iter_mut() {
        if entry.node.is_null()
            && let Some(value) = environment.value(name)
        {
            entry.node = Node::string(&entry.node.span, value);
        }
    }
}

/// Parses a dotenv-syntax file; a syntax error points at its line with `hint`.
fn parse_dotenv(
    source: &Arc<Source>,
    lookup: &dyn Fn(&str) -> Option<String>,
    hint: &str,
) -> Result<Vec<super::dotenv::Variable>, Diagnostic> {
    super::dotenv::parse(&source.text, lookup).map_err(|error| {
        let span = Span {
            source: source.clone(),
            line: error.line,
            col: 1,
        };
        Diagnostic::at(&span, error.message).with_hint(hint)
    })
}

/// `format: raw` env files: `KEY=VALUE` lines taken literally.
fn raw_env_file(text: &str) -> Vec<super::dotenv::Variable> {
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let (name, value) = line.split_once('=')?;
            Some(super::dotenv::Variable {
                name: name.to_string(),
                value: Some(value.to_string()),
                line: index as u32 + 1,
            })
        })
        .collect()
}

/// `path` made absolute against `base` (lexically; `..` segments are resolved).
pub fn absolute(base: &Path, path: &str) -> PathBuf {
    let joined = if Path::new(path).is_absolute() {
        PathBuf::from(path)
    } else {
        base.join(path)
    };
    clean(&joined)
}

/// Removes `.` and resolves `..` lexically, as Go's `filepath.Clean`.
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

/// The directory a file is in (absolute), or `fallback` for standard input.
pub fn parent_dir(path: &Path, fallback: &Path) -> PathBuf {
    if path == Path::new("-") {
        return fallback.to_path_buf();
    }
    path.parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                fallback.to_path_buf()
            } else {
                p.to_path_buf()
            }
        })
        .unwrap_or_else(|| fallback.to_path_buf())
}

/// Reads the content of every secret and config a service uses (`content:`, the `environment:`
/// variable, a regular `file:`), for the containers' files and their config hash. What cannot be
/// read stays `None`; creating a container that needs it says why.
pub fn read_contents(project: &mut super::model::Project, environment: &Environment) {
    use super::model::Content;
    let used = |pick: fn(&super::model::Service) -> &Vec<super::model::FileReference>| {
        project
            .services
            .values()
            .flat_map(|service| pick(service).iter().map(|r| r.source.clone()))
            .collect::<std::collections::BTreeSet<String>>()
    };
    let (secrets, configs) = (used(|s| &s.secrets), used(|s| &s.configs));
    let read = |content: Option<&String>, variable: Option<&String>, file: Option<&String>| {
        if let Some(content) = content {
            return Some(Content(content.clone().into_bytes()));
        }
        if let Some(variable) = variable {
            return environment
                .value(variable)
                .map(|value| Content(value.into_bytes()));
        }
        let file = Path::new(file?);
        if !std::fs::metadata(file).ok()?.is_file() {
            return None;
        }
        std::fs::read(file).ok().map(Content)
    };
    for (key, secret) in &mut project.secrets {
        if secrets.contains(key) && !secret.external {
            secret.resolved = read(None, secret.environment.as_ref(), secret.file.as_ref());
        }
    }
    for (key, config) in &mut project.configs {
        if configs.contains(key) && !config.external {
            config.resolved = read(
                config.content.as_ref(),
                config.environment.as_ref(),
                config.file.as_ref(),
            );
        }
    }
}
