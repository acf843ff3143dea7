//! Which files make the project, where its directory is, which `.env` applies, and its name: the
//! docker compose rules, in one place.
//!
//! - Files: `-f` (repeatable, `-` for standard input), else `COMPOSE_FILE` (split on
//!   `COMPOSE_PATH_SEPARATOR`, default `:`), else the first of `compose.yaml`, `compose.yml`,
//!   `docker-compose.yml`, `docker-compose.yaml` in the working directory or its parents, plus one
//!   `compose.override.y(a)ml` beside it.
//! - Project directory: `--project-directory`, else the first file's directory, else the working dir.
//! - Environment: the shell wins over `--env-file`s (or `COMPOSE_ENV_FILES`, or `.env`: the working
//!   directory's, then the project directory's when that is another one, the first value winning).
//! - Name: `-p`, `COMPOSE_PROJECT_NAME` (both must be valid names; empty means unset), top-level
//!   `name:`, else the directory's base name (both normalized).

use std::path::{Path, PathBuf};

use super::diag::{Diagnostic, Kind, Span, display_path};
use super::environment::{Environment, Origin};
use super::load::{DEFAULT_FILES, Loader, OVERRIDE_FILES, absolute};
use crate::names;

/// The resolved inputs of a project.
pub struct Inputs {
    pub files: Vec<PathBuf>,
    pub project_dir: PathBuf,
    pub env_files: Vec<PathBuf>,
    pub environment: Environment,
}

/// Resolves files, project directory and environment.
pub fn inputs(loader: &mut Loader) -> Result<Inputs, Diagnostic> {
    let options = loader.options.clone();
    let cwd = &options.working_dir;
    let mut files: Vec<PathBuf> = options
        .files
        .iter()
        .map(|f| {
            if f == Path::new("-") {
                f.clone()
            } else {
                absolute(cwd, &f.to_string_lossy())
            }
        })
        .collect();
    let explicit_dir = options
        .project_directory
        .as_ref()
        .map(|d| absolute(cwd, &d.to_string_lossy()));
    let mut project_dir = explicit_dir
        .clone()
        .or_else(|| {
            files
                .iter()
                .find(|f| *f != Path::new("-"))
                .and_then(|f| f.parent().map(Path::to_path_buf))
        })
        .unwrap_or_else(|| cwd.clone());
    let (mut environment, mut env_files) = environment(loader, &project_dir)?;

    if files.is_empty()
        && let Some(list) = environment.value("COMPOSE_FILE").filter(|l| !l.is_empty())
    {
        let separator = environment
            .value("COMPOSE_PATH_SEPARATOR")
            .unwrap_or_else(|| ":".to_string());
        files = list
            .split(separator.as_str())
            .filter(|f| !f.is_empty())
            .map(|f| absolute(&project_dir, f))
            .collect();
        if explicit_dir.is_none()
            && let Some(parent) = files.first().and_then(|f| f.parent())
        {
            project_dir = parent.to_path_buf();
            add_project_dotenv(loader, &mut environment, &mut env_files, &project_dir)?;
        }
    }
    if files.is_empty() {
        let start = explicit_dir.clone().unwrap_or_else(|| cwd.clone());
        let (found, dir) = find_default_files(&start, &mut loader.warnings).ok_or_else(|| {
            Diagnostic::new("no configuration file provided: not found")
                .with_kind(Kind::NoConfig)
                .with_hint(format!(
                    "create compose.yaml in {} or a parent directory, or name the file with -f",
                    display_path(&start)
                ))
        })?;
        files = found;
        if explicit_dir.is_none() && dir != project_dir {
            project_dir = dir;
            add_project_dotenv(loader, &mut environment, &mut env_files, &project_dir)?;
        }
    }
    for file in &files {
        if file != Path::new("-") && !Loader::exists(file) {
            return Err(Diagnostic::new(format!(
                "cannot read {}: no such file",
                display_path(file)
            ))
            .with_kind(Kind::Io)
            .with_hint("check the path given with -f or in COMPOSE_FILE"));
        }
    }
    Ok(Inputs {
        files,
        project_dir,
        env_files,
        environment,
    })
}

/// The shell environment plus the applicable env files.
fn environment(
    loader: &mut Loader,
    project_dir: &Path,
) -> Result<(Environment, Vec<PathBuf>), Diagnostic> {
    let options = loader.options.clone();
    let mut environment = Environment::from_shell(&options.shell);
    let env_files: Vec<PathBuf> = if !options.env_files.is_empty() {
        options
            .env_files
            .iter()
            .map(|f| absolute(&options.working_dir, &f.to_string_lossy()))
            .collect()
    } else if let Some(list) = options
        .shell
        .get("COMPOSE_ENV_FILES")
        .filter(|l| !l.is_empty())
    {
        list.split(',')
            .map(|f| absolute(&options.working_dir, f.trim()))
            .collect()
    } else if options
        .shell
        .get("COMPOSE_DISABLE_ENV_FILE")
        .is_some_and(|v| v == "true" || v == "1")
    {
        Vec::new()
    } else {
        let default = project_dir.join(".env");
        if default.is_file() {
            vec![default]
        } else {
            Vec::new()
        }
    };
    for file in &env_files {
        loader.add_env_file(&mut environment, file, &Origin::EnvFile(file.clone()), None)?;
    }
    Ok((environment, env_files))
}

/// The project directory's `.env` when the project directory turned out to be another directory
/// than the one whose `.env` was read first (the working directory, whose `.env` may name the files
/// in `COMPOSE_FILE`): both apply, the first read winning, as docker compose v2 reads them. Nothing
/// when env files are named (`--env-file`, `COMPOSE_ENV_FILES`) or disabled.
fn add_project_dotenv(
    loader: &mut Loader,
    environment: &mut Environment,
    env_files: &mut Vec<PathBuf>,
    project_dir: &Path,
) -> Result<(), Diagnostic> {
    let options = loader.options.clone();
    let named = !options.env_files.is_empty()
        || options
            .shell
            .get("COMPOSE_ENV_FILES")
            .is_some_and(|l| !l.is_empty());
    let disabled = options
        .shell
        .get("COMPOSE_DISABLE_ENV_FILE")
        .is_some_and(|v| v == "true" || v == "1");
    let path = project_dir.join(".env");
    if named || disabled || !path.is_file() || env_files.contains(&path) {
        return Ok(());
    }
    let origin = Origin::EnvFile(path.clone());
    let mut own = Environment::from_shell(&options.shell);
    loader.add_env_file(&mut own, &path, &origin, None)?;
    let added: Vec<(String, String)> = own
        .iter()
        .filter(|(_, v)| v.origin != Origin::Shell)
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    environment.add_missing(added, &origin);
    env_files.push(path);
    Ok(())
}

/// Looks for a default compose file in `start` and its parents; returns it with its override file.
fn find_default_files(start: &Path, warnings: &mut Vec<String>) -> Option<(Vec<PathBuf>, PathBuf)> {
    for dir in start.ancestors() {
        let found: Vec<PathBuf> = DEFAULT_FILES
            .iter()
            .map(|name| dir.join(name))
            .filter(|p| p.is_file())
            .collect();
        let Some(main) = found.first().cloned() else {
            continue;
        };
        if found.len() > 1 {
            let names: Vec<String> = found.iter().map(|p| display_path(p)).collect();
            warnings.push(format!(
                "Found multiple config files with supported names: {}; using {}",
                names.join(", "),
                names[0]
            ));
        }
        let mut files = vec![main];
        if let Some(override_file) = OVERRIDE_FILES
            .iter()
            .map(|name| dir.join(name))
            .find(|p| p.is_file())
        {
            files.push(override_file);
        }
        return Some((files, dir.to_path_buf()));
    }
    None
}

/// The project name by docker compose's precedence; explicit names must already be valid.
pub fn project_name(
    explicit: Option<&str>,
    environment: &Environment,
    declared: Option<(&str, &Span)>,
    project_dir: &Path,
) -> Result<String, Diagnostic> {
    let invalid = |name: &str, source: &str| {
        Diagnostic::new(format!(
            "invalid project name {name:?} ({source}): {}",
            names::PROJECT_NAME_RULE
        ))
        .with_hint(format!("try {:?}", names::normalize_project_name(name)))
    };
    if let Some(name) = explicit.filter(|n| !n.is_empty()) {
        return if names::is_valid_project_name(name) {
            Ok(name.to_string())
        } else {
            Err(invalid(name, "-p"))
        };
    }
    if let Some(name) = environment
        .value("COMPOSE_PROJECT_NAME")
        .filter(|n| !n.is_empty())
    {
        return if names::is_valid_project_name(&name) {
            Ok(name)
        } else {
            Err(invalid(&name, "COMPOSE_PROJECT_NAME"))
        };
    }
    if let Some((name, span)) = declared.filter(|(n, _)| !n.is_empty()) {
        // A name written in the file is normalized silently, as compose-go does.
        let normalized = names::normalize_project_name(name);
        if normalized.is_empty() {
            let mut diagnostic = invalid(name, "top-level `name`");
            diagnostic.span = Some(span.clone());
            return Err(diagnostic);
        }
        return Ok(normalized);
    }
    let base = project_dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let name = names::normalize_project_name(&base);
    if name.is_empty() {
        return Err(Diagnostic::new(format!(
            "project name must not be empty: the directory name {base:?} has no usable characters"
        ))
        .with_hint("set a name with -p NAME, COMPOSE_PROJECT_NAME or a top-level `name:`"));
    }
    Ok(name)
}
