//! What a build will do, with every word expanded as BuildKit's dispatcher expands it: which stages
//! the target needs (through `FROM <stage>`, `COPY --from` and `RUN --mount=from=`), what each
//! instruction says once its variables have the values they have at that point, and the environment
//! each step runs with. The scoping rules are the ones users trip on:
//!
//! - an `ARG` before the first `FROM` (a meta arg) is visible in `FROM` lines only, unless a stage
//!   declares it again (`ARG NAME` without a value then takes the meta arg's value);
//! - a stage's `ARG` is in the environment of every later `RUN` of the stage (not in the image's
//!   config), and a `--build-arg` overrides its default;
//! - `ENV a=1 b=$a` gives `b` the old `a`: all of an instruction's words are expanded before any
//!   of its values is set;
//! - the platform args (`TARGETPLATFORM`, `BUILDARCH`, ...) are meta args of every build, so `FROM`
//!   sees them, and a stage sees them after `ARG TARGETARCH`.
//!
//! `RUN`, `CMD`, `ENTRYPOINT`, `HEALTHCHECK` and `ONBUILD` are not expanded: the shell does that
//! when it runs them (or never, for the exec form).

use std::collections::{BTreeMap, BTreeSet};

use super::dockerfile::Error;
use super::instructions::{ArgDecl, CommandKind, CopyOptions, Pair, Program, Source};
use super::shell::Lexer;

/// A platform, as `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: String,
}

impl Platform {
    /// This machine's platform, named as OCI names it (`amd64`, `arm64`, ...).
    pub fn host() -> Platform {
        let (os, arch) = crate::image::archive::host_platform();
        Platform {
            os: os.into(),
            arch: arch.into(),
            variant: if arch == "arm64" {
                "v8".into()
            } else {
                String::new()
            },
        }
    }

    fn name(&self) -> String {
        if self.variant.is_empty() {
            format!("{}/{}", self.os, self.arch)
        } else {
            format!("{}/{}/{}", self.os, self.arch, self.variant)
        }
    }

    /// The predefined platform args of a build on and for this platform.
    fn args(&self) -> Vec<(String, String)> {
        let mut args = Vec::new();
        for prefix in ["BUILD", "TARGET"] {
            args.push((format!("{prefix}PLATFORM"), self.name()));
            args.push((format!("{prefix}OS"), self.os.clone()));
            args.push((format!("{prefix}ARCH"), self.arch.clone()));
            args.push((format!("{prefix}VARIANT"), self.variant.clone()));
        }
        args
    }
}

/// What a build is asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// The stage to build (`--target`); the last one when `None`.
    pub target: Option<String>,
    pub platform: Platform,
    /// The Dockerfile's escape character.
    pub escape: char,
}

/// What a base image's config brings to a stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseConfig {
    /// `KEY=VALUE` entries.
    pub env: Vec<String>,
    pub workdir: String,
    /// `ONBUILD` triggers (docker's `OnBuild`), run first in a stage on the image.
    pub on_build: Vec<String>,
}

impl BaseConfig {
    /// What a stage on `image` starts with.
    pub fn of_image(image: &crate::image::Image) -> BaseConfig {
        let config = image.config.config().clone().unwrap_or_default();
        BaseConfig {
            env: config.env().clone().unwrap_or_default(),
            workdir: config.working_dir().clone().unwrap_or_default(),
            on_build: image.docker.on_build.clone(),
        }
    }
}

/// Where a stage starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Scratch,
    /// An image reference, expanded.
    Image(String),
    /// An earlier stage, by index.
    Stage(usize),
}

/// One step of a stage: the command with its words expanded, and the environment it runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub line: usize,
    pub kind: CommandKind,
    /// The environment after the step (ENVs and ARGs, in order), which a `RUN` runs with.
    pub env: Vec<(String, String)>,
    /// The working directory after the step.
    pub workdir: String,
}

/// A stage the target needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedStage {
    /// Its index in the Dockerfile.
    pub index: usize,
    pub name: Option<String>,
    pub base: Base,
    pub platform: Option<String>,
    pub steps: Vec<Step>,
    /// The env of the image it makes: the base's and its ENVs, without its ARGs.
    pub config_env: Vec<(String, String)>,
    /// The stages it needs (base, `COPY --from`, `RUN --mount=from=`).
    pub needs: BTreeSet<usize>,
}

/// Resolves `program` for `options`: the stages the target needs, dependencies first, the target
/// last. `base_config` gives the config of a base image by its (expanded) reference.
pub fn resolve(
    program: &Program,
    options: &Options,
    base_config: &dyn Fn(&str) -> Result<BaseConfig, String>,
) -> Result<Vec<ResolvedStage>, Error> {
    let lexer = Lexer::new(options.escape);
    let at = |line: usize, message: String| Error {
        line,
        end_line: line,
        message,
        hint: None,
    };
    // Meta args: the platform's, then the Dockerfile's, each default expanded with those before it.
    let mut global: Vec<(String, String)> = options.platform.args();
    for decl in &program.meta_args {
        let value = match (options.build_args.get(&decl.name), &decl.default) {
            (Some(value), _) => Some(value.clone()),
            (None, Some(default)) => Some(
                lexer
                    .word(default, &lookup(&global))
                    .map_err(|e| at(program.stages[0].line, e.to_string()))?,
            ),
            (None, None) => None,
        };
        if let Some(value) = value {
            set(&mut global, &decl.name, value);
        }
    }
    let names: BTreeMap<&str, usize> = program
        .stages
        .iter()
        .enumerate()
        .filter_map(|(index, stage)| Some((stage.name.as_deref()?, index)))
        .collect();
    let stage_ref = |word: &str| -> Option<usize> {
        names
            .get(word.to_ascii_lowercase().as_str())
            .copied()
            .or_else(|| {
                word.parse::<usize>()
                    .ok()
                    .filter(|i| *i < program.stages.len())
            })
    };
    // Each stage's base and the stages it needs.
    let mut bases = Vec::new();
    let mut needs: Vec<BTreeSet<usize>> = Vec::new();
    for (index, stage) in program.stages.iter().enumerate() {
        let base = lexer
            .word(&stage.base, &lookup(&global))
            .map_err(|e| at(stage.line, e.to_string()))?;
        let base = match names.get(base.to_ascii_lowercase().as_str()) {
            Some(&earlier) if earlier < index => Base::Stage(earlier),
            _ if base == "scratch" => Base::Scratch,
            _ => Base::Image(base),
        };
        let mut set: BTreeSet<usize> = BTreeSet::new();
        if let Base::Stage(earlier) = base {
            set.insert(earlier);
        }
        for command in &stage.commands {
            let from = match &command.kind {
                CommandKind::Copy { options, .. } => options.from.iter().cloned().collect(),
                CommandKind::Run { mounts, .. } => mounts
                    .iter()
                    .filter_map(|m| mount_from(m))
                    .collect::<Vec<String>>(),
                _ => Vec::new(),
            };
            for word in from {
                let word = lexer.word(&word, &lookup(&global)).unwrap_or(word);
                if let Some(other) = stage_ref(&word) {
                    if other == index {
                        return Err(at(command.line, format!("stage {word:?} refers to itself")));
                    }
                    set.insert(other);
                }
            }
        }
        bases.push(base);
        needs.push(set);
    }
    let target = match &options.target {
        None => program.stages.len() - 1,
        Some(name) => names
            .get(name.to_ascii_lowercase().as_str())
            .copied()
            .ok_or_else(|| Error {
                hint: Some(format!(
                    "the Dockerfile's stages are: {}",
                    names.keys().copied().collect::<Vec<_>>().join(", ")
                )),
                ..at(
                    program.stages[0].line,
                    format!("target stage {name:?} could not be found"),
                )
            })?,
    };
    let order = dependency_order(target, &needs).map_err(|stage| {
        at(
            program.stages[stage].line,
            "circular dependency between stages".into(),
        )
    })?;
    let mut done: BTreeMap<usize, ResolvedStage> = BTreeMap::new();
    for index in order {
        let stage = &program.stages[index];
        let mut triggers: Vec<String> = Vec::new();
        let (mut env, mut config_env, mut workdir) = match &bases[index] {
            Base::Stage(parent) => {
                triggers = program.stages[*parent]
                    .commands
                    .iter()
                    .filter_map(|c| match &c.kind {
                        CommandKind::Onbuild(text) => Some(text.clone()),
                        _ => None,
                    })
                    .collect();
                let parent = &done[parent];
                let last = parent.steps.last();
                (
                    last.map_or_else(|| parent.config_env.clone(), |s| s.env.clone()),
                    parent.config_env.clone(),
                    last.map_or_else(|| "/".to_owned(), |s| s.workdir.clone()),
                )
            }
            Base::Scratch => (Vec::new(), Vec::new(), "/".to_owned()),
            Base::Image(reference) => {
                let config = base_config(reference).map_err(|e| at(stage.line, e))?;
                triggers = config.on_build.clone();
                let env: Vec<(String, String)> = config
                    .env
                    .iter()
                    .map(|e| {
                        let (k, v) = e.split_once('=').unwrap_or((e, ""));
                        (k.to_owned(), v.to_owned())
                    })
                    .collect();
                let workdir = if config.workdir.is_empty() {
                    "/".to_owned()
                } else {
                    config.workdir
                };
                (env.clone(), env, workdir)
            }
        };
        let triggered = super::instructions::triggers(&triggers, stage.line, options.escape)?;
        let mut steps = Vec::new();
        for command in triggered.iter().chain(&stage.commands) {
            let fail = |e: super::shell::Error| at(command.line, e.to_string());
            let word = |text: &str, env: &[(String, String)]| lexer.word(text, &lookup(env));
            let kind = match &command.kind {
                CommandKind::Arg(decls) => {
                    let mut resolved = Vec::new();
                    for decl in decls {
                        let value = match (options.build_args.get(&decl.name), &decl.default) {
                            (Some(value), _) => Some(value.clone()),
                            (None, Some(default)) => Some(word(default, &env).map_err(fail)?),
                            (None, None) => global
                                .iter()
                                .find(|(k, _)| *k == decl.name)
                                .map(|(_, v)| v.clone()),
                        };
                        if let Some(value) = &value {
                            set(&mut env, &decl.name, value.clone());
                        }
                        resolved.push(ArgDecl {
                            name: decl.name.clone(),
                            default: value,
                        });
                    }
                    CommandKind::Arg(resolved)
                }
                CommandKind::Env(pairs) => {
                    let expanded = expand_pairs(pairs, &env, &word).map_err(fail)?;
                    for pair in &expanded {
                        set(&mut env, &pair.key, pair.value.clone());
                        set(&mut config_env, &pair.key, pair.value.clone());
                    }
                    CommandKind::Env(expanded)
                }
                CommandKind::Label(pairs) => {
                    CommandKind::Label(expand_pairs(pairs, &env, &word).map_err(fail)?)
                }
                CommandKind::Workdir(dir) => {
                    let dir = word(dir, &env).map_err(fail)?;
                    workdir = join_workdir(&workdir, &dir);
                    CommandKind::Workdir(workdir.clone())
                }
                CommandKind::User(user) => CommandKind::User(word(user, &env).map_err(fail)?),
                CommandKind::StopSignal(signal) => {
                    CommandKind::StopSignal(word(signal, &env).map_err(fail)?)
                }
                CommandKind::Expose(ports) => {
                    CommandKind::Expose(words_each(ports, &env, &lexer).map_err(fail)?)
                }
                CommandKind::Volume(volumes) => {
                    CommandKind::Volume(words_each(volumes, &env, &lexer).map_err(fail)?)
                }
                CommandKind::Copy {
                    sources,
                    dest,
                    options: copy,
                } => CommandKind::Copy {
                    sources: expand_sources(sources, &env, &word).map_err(fail)?,
                    dest: word(dest, &env).map_err(fail)?,
                    options: expand_options(copy, &env, &word).map_err(fail)?,
                },
                CommandKind::Add {
                    sources,
                    dest,
                    options: copy,
                } => CommandKind::Add {
                    sources: expand_sources(sources, &env, &word).map_err(fail)?,
                    dest: word(dest, &env).map_err(fail)?,
                    options: expand_options(copy, &env, &word).map_err(fail)?,
                },
                CommandKind::Run {
                    command,
                    mounts,
                    network,
                    security,
                    heredocs,
                } => CommandKind::Run {
                    command: command.clone(),
                    mounts: mounts
                        .iter()
                        .map(|m| word(m, &env))
                        .collect::<Result<_, _>>()
                        .map_err(fail)?,
                    network: network
                        .as_ref()
                        .map(|n| word(n, &env))
                        .transpose()
                        .map_err(fail)?,
                    security: security.clone(),
                    heredocs: heredocs.clone(),
                },
                other => other.clone(),
            };
            steps.push(Step {
                line: command.line,
                kind,
                env: env.clone(),
                workdir: workdir.clone(),
            });
        }
        done.insert(
            index,
            ResolvedStage {
                index,
                name: stage.name.clone(),
                base: bases[index].clone(),
                platform: stage.platform.clone(),
                steps,
                config_env,
                needs: needs[index].clone(),
            },
        );
    }
    let mut stages: Vec<ResolvedStage> = Vec::new();
    for index in dependency_order(target, &needs).unwrap_or_default() {
        if let Some(stage) = done.remove(&index) {
            stages.push(stage);
        }
    }
    Ok(stages)
}

/// The stages `target` needs, each after the ones it needs; `Err(stage)` on a cycle.
fn dependency_order(target: usize, needs: &[BTreeSet<usize>]) -> Result<Vec<usize>, usize> {
    fn visit(
        stage: usize,
        needs: &[BTreeSet<usize>],
        state: &mut BTreeMap<usize, bool>,
        order: &mut Vec<usize>,
    ) -> Result<(), usize> {
        match state.get(&stage) {
            Some(true) => return Ok(()),
            Some(false) => return Err(stage),
            None => {}
        }
        state.insert(stage, false);
        for &other in &needs[stage] {
            visit(other, needs, state, order)?;
        }
        state.insert(stage, true);
        order.push(stage);
        Ok(())
    }
    let mut order = Vec::new();
    visit(target, needs, &mut BTreeMap::new(), &mut order)?;
    Ok(order)
}

/// The `from=` of a `RUN --mount` specification.
fn mount_from(spec: &str) -> Option<String> {
    spec.split(',')
        .find_map(|part| part.trim().strip_prefix("from="))
        .map(str::to_owned)
}

fn lookup(env: &[(String, String)]) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Sets `key` in an ordered environment (replacing in place, as an image config's env does).
fn set(env: &mut Vec<(String, String)>, key: &str, value: String) {
    match env.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value,
        None => env.push((key.to_owned(), value)),
    }
}

type WordFn<'a> = dyn Fn(&str, &[(String, String)]) -> Result<String, super::shell::Error> + 'a;

/// Expands keys and values of pairs, all with the environment before the instruction.
fn expand_pairs(
    pairs: &[Pair],
    env: &[(String, String)],
    word: &WordFn<'_>,
) -> Result<Vec<Pair>, super::shell::Error> {
    pairs
        .iter()
        .map(|pair| {
            Ok(Pair {
                key: word(&pair.key, env)?,
                value: word(&pair.value, env)?,
            })
        })
        .collect()
}

/// Expands each word and splits the results into words (`EXPOSE $PORTS`).
fn words_each(
    items: &[String],
    env: &[(String, String)],
    lexer: &Lexer,
) -> Result<Vec<String>, super::shell::Error> {
    let mut out = Vec::new();
    for item in items {
        out.extend(lexer.words(item, &lookup(env))?);
    }
    Ok(out)
}

fn expand_sources(
    sources: &[Source],
    env: &[(String, String)],
    word: &WordFn<'_>,
) -> Result<Vec<Source>, super::shell::Error> {
    sources
        .iter()
        .map(|source| match source {
            Source::Path(path) => Ok(Source::Path(word(path, env)?)),
            Source::Inline {
                name,
                content,
                expand,
            } => Ok(Source::Inline {
                name: name.clone(),
                content: if *expand {
                    word(content, env)?
                } else {
                    content.clone()
                },
                expand: *expand,
            }),
        })
        .collect()
}

fn expand_options(
    options: &CopyOptions,
    env: &[(String, String)],
    word: &WordFn<'_>,
) -> Result<CopyOptions, super::shell::Error> {
    let one = |value: &Option<String>| value.as_deref().map(|v| word(v, env)).transpose();
    Ok(CopyOptions {
        from: one(&options.from)?,
        chown: one(&options.chown)?,
        chmod: one(&options.chmod)?,
        exclude: options
            .exclude
            .iter()
            .map(|e| word(e, env))
            .collect::<Result<_, _>>()?,
        ..options.clone()
    })
}

/// A `WORKDIR` relative to the current one, cleaned (`a/../b` is `b`).
fn join_workdir(current: &str, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_owned()
    } else {
        format!("{current}/{dir}")
    };
    format!("/{}", crate::path::clean_relative(&joined))
}

#[cfg(test)]
mod tests;
