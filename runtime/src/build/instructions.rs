//! Instructions with their meaning: a Dockerfile's lines (see [`super::dockerfile`]) become build
//! stages of typed commands, as BuildKit's `instructions` package makes them. Words are not
//! expanded here: expansion needs the environment of the moment a command runs (the base image's
//! `ENV`, the stage's `ARG`s and `ENV`s so far), so it happens when the build gets there (see
//! [`super::shell`]). What is checked here is what a Dockerfile can get wrong on its own: argument
//! counts, flags each instruction takes, stage names, `ONBUILD` triggers, `HEALTHCHECK` options.

use super::dockerfile::{Args, Dockerfile, Error, Heredoc, Instruction, Keyword};

/// A Dockerfile's meaning: the `ARG`s before the first `FROM` (visible only in `FROM` lines) and
/// the stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub meta_args: Vec<ArgDecl>,
    pub stages: Vec<Stage>,
}

/// A build stage: `FROM [--platform=P] base [AS name]` and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The stage's name, in lower case (stage names are matched that way).
    pub name: Option<String>,
    /// The base: an image reference, a stage name or `scratch`, not yet expanded.
    pub base: String,
    pub platform: Option<String>,
    pub line: usize,
    pub commands: Vec<Command>,
}

/// One `ARG` name with its default, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

/// A `KEY=value` of `ENV` or `LABEL`, the value as written (quotes still in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub key: String,
    pub value: String,
}

/// A command line of `RUN`, `CMD`, `ENTRYPOINT` or `HEALTHCHECK CMD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// The shell form: run through the stage's `SHELL` (default `/bin/sh -c`).
    Shell(String),
    /// The exec form.
    Exec(Vec<String>),
}

/// `COPY` and `ADD` sources: paths (globs), or heredoc contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Path(String),
    Inline {
        name: String,
        content: String,
        expand: bool,
    },
}

/// The options `COPY` and `ADD` share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyOptions {
    /// `COPY --from=stage|image|index`.
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    /// `ADD --checksum=`, `--keep-git-dir`, `--unpack`.
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    pub unpack: Option<bool>,
}

/// A healthcheck as `HEALTHCHECK` declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// `HEALTHCHECK NONE`: disable the base image's.
    None,
    /// Durations as written (Go's syntax, `30s`, `1m30s`): they become the image config's
    /// nanoseconds when the config is written.
    Check {
        command: CommandLine,
        interval: Option<String>,
        timeout: Option<String>,
        start_period: Option<String>,
        start_interval: Option<String>,
        retries: Option<u32>,
    },
}

/// A command of a stage, with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub line: usize,
    pub kind: CommandKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandKind {
    Arg(Vec<ArgDecl>),
    Env(Vec<Pair>),
    Label(Vec<Pair>),
    Run {
        command: CommandLine,
        /// `--mount=...` specifications, as written.
        mounts: Vec<String>,
        /// `--network=none|default|host`.
        network: Option<String>,
        /// `--security=insecure|sandbox`.
        security: Option<String>,
        heredocs: Vec<Heredoc>,
    },
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Shell(Vec<String>),
    Copy {
        sources: Vec<Source>,
        dest: String,
        options: CopyOptions,
    },
    Add {
        sources: Vec<Source>,
        dest: String,
        options: CopyOptions,
    },
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    StopSignal(String),
    Healthcheck(Health),
    /// The trigger instruction's text, stored in the image for builds `FROM` it.
    Onbuild(String),
    Maintainer(String),
}

/// The commands of `ONBUILD` triggers (each an instruction as `ONBUILD` recorded it), run first in a
/// stage built on an image or stage that has them; every command carries the `FROM` line `line`.
pub fn triggers(texts: &[String], line: usize, escape: char) -> Result<Vec<Command>, Error> {
    let mut commands = Vec::new();
    for text in texts {
        let fail = |message: String| Error {
            line,
            end_line: line,
            message: format!("ONBUILD trigger {text:?} of the base: {message}"),
            hint: None,
        };
        let parsed = super::dockerfile::parse(text).map_err(|e| fail(e.message))?;
        for instruction in &parsed.instructions {
            if matches!(
                instruction.keyword,
                Keyword::From | Keyword::Onbuild | Keyword::Maintainer
            ) {
                return Err(fail(format!(
                    "{} isn't allowed as an ONBUILD trigger",
                    instruction.keyword
                )));
            }
            commands.push(Command {
                line,
                kind: command(instruction, escape).map_err(fail)?,
            });
        }
    }
    Ok(commands)
}

/// Turns a parsed Dockerfile into stages.
pub fn program(dockerfile: &Dockerfile) -> Result<Program, Error> {
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for instruction in &dockerfile.instructions {
        let at = |message: String| Error {
            line: instruction.line,
            end_line: instruction.end_line,
            message,
            hint: None,
        };
        if instruction.keyword == Keyword::From {
            stages.push(stage(instruction).map_err(at)?);
            continue;
        }
        let kind = command(instruction, dockerfile.escape).map_err(at)?;
        match (stages.last_mut(), kind) {
            (Some(stage), kind) => stage.commands.push(Command {
                line: instruction.line,
                kind,
            }),
            (None, CommandKind::Arg(args)) => meta_args.extend(args),
            (None, _) => {
                return Err(Error {
                    hint: Some(
                        "a Dockerfile starts with FROM (only ARG may come before it)".into(),
                    ),
                    ..at(format!("{} comes before any FROM", instruction.keyword))
                });
            }
        }
    }
    if stages.is_empty() {
        let line = dockerfile.instructions.last().map_or(1, |i| i.end_line);
        return Err(Error {
            line,
            end_line: line,
            message: "no build stage in the Dockerfile".into(),
            hint: Some("add a FROM instruction".into()),
        });
    }
    Ok(Program { meta_args, stages })
}

fn text(instruction: &Instruction) -> &str {
    match &instruction.args {
        Args::Text(text) => text,
        Args::Json(_) => "",
    }
}

/// The arguments as whitespace-separated words, or the JSON array's items.
fn list(instruction: &Instruction) -> Vec<String> {
    match &instruction.args {
        Args::Text(text) => text.split_whitespace().map(str::to_owned).collect(),
        Args::Json(items) => items.clone(),
    }
}

fn command_line(instruction: &Instruction) -> CommandLine {
    match &instruction.args {
        Args::Text(text) => CommandLine::Shell(text.clone()),
        Args::Json(items) => CommandLine::Exec(items.clone()),
    }
}

fn stage(instruction: &Instruction) -> Result<Stage, String> {
    let mut flags = Flags::parse(instruction, &[("platform", FlagKind::Value)])?;
    let words = list(instruction);
    let name = match words.as_slice() {
        [_] => None,
        [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
            let name = name.to_ascii_lowercase();
            let mut chars = name.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid {
                return Err(format!(
                    "invalid name for build stage: {:?}, name can't start with a number or contain symbols",
                    words[2]
                ));
            }
            Some(name)
        }
        _ => return Err("FROM requires either one or three arguments".into()),
    };
    Ok(Stage {
        name,
        base: words[0].clone(),
        platform: flags.value("platform"),
        line: instruction.line,
        commands: Vec::new(),
    })
}

fn command(instruction: &Instruction, escape: char) -> Result<CommandKind, String> {
    let keyword = instruction.keyword;
    let no_flags = || Flags::parse(instruction, &[]).map(drop);
    Ok(match keyword {
        Keyword::From => unreachable!("FROM starts a stage"),
        Keyword::Arg => {
            no_flags()?;
            let words = quoted_words(text(instruction), escape);
            if words.is_empty() {
                return Err(at_least_one(keyword));
            }
            let mut args = Vec::new();
            for word in words {
                let (name, default) = match word.split_once('=') {
                    Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                    None => (word, None),
                };
                if name.is_empty() {
                    return Err("ARG names can not be blank".into());
                }
                args.push(ArgDecl { name, default });
            }
            CommandKind::Arg(args)
        }
        Keyword::Env | Keyword::Label => {
            no_flags()?;
            let pairs = pairs(text(instruction), keyword, escape)?;
            if keyword == Keyword::Env {
                CommandKind::Env(pairs)
            } else {
                CommandKind::Label(pairs)
            }
        }
        Keyword::Run => {
            let mut flags = Flags::parse(
                instruction,
                &[
                    ("mount", FlagKind::List),
                    ("network", FlagKind::Value),
                    ("security", FlagKind::Value),
                ],
            )?;
            if matches!(&instruction.args, Args::Text(t) if t.is_empty())
                && instruction.heredocs.is_empty()
            {
                return Err(at_least_one(keyword));
            }
            CommandKind::Run {
                command: command_line(instruction),
                mounts: flags.list("mount"),
                network: flags.value("network"),
                security: flags.value("security"),
                heredocs: instruction.heredocs.clone(),
            }
        }
        Keyword::Cmd => {
            no_flags()?;
            CommandKind::Cmd(command_line(instruction))
        }
        Keyword::Entrypoint => {
            no_flags()?;
            CommandKind::Entrypoint(command_line(instruction))
        }
        Keyword::Shell => {
            no_flags()?;
            match &instruction.args {
                Args::Json(items) if !items.is_empty() => CommandKind::Shell(items.clone()),
                Args::Json(_) => return Err(at_least_one(keyword)),
                Args::Text(_) => {
                    return Err("SHELL requires the arguments to be in JSON form".into());
                }
            }
        }
        Keyword::Copy | Keyword::Add => {
            let mut spec = vec![
                ("chown", FlagKind::Value),
                ("chmod", FlagKind::Value),
                ("link", FlagKind::Bool),
                ("exclude", FlagKind::List),
            ];
            if keyword == Keyword::Copy {
                spec.extend([("from", FlagKind::Value), ("parents", FlagKind::Bool)]);
            } else {
                spec.extend([
                    ("checksum", FlagKind::Value),
                    ("keep-git-dir", FlagKind::Bool),
                    ("unpack", FlagKind::Bool),
                ]);
            }
            let mut flags = Flags::parse(instruction, &spec)?;
            let words = list(instruction);
            let Some((dest, sources)) = words.split_last().filter(|(_, s)| !s.is_empty()) else {
                return Err(format!(
                    "{keyword} requires at least two arguments, but only one was provided. Destination could not be determined"
                ));
            };
            if heredoc_name(dest).is_some() {
                return Err(format!(
                    "{keyword} cannot accept a heredoc as a destination"
                ));
            }
            let sources = sources
                .iter()
                .map(|source| match heredoc_name(source) {
                    Some(name) => {
                        let heredoc = instruction.heredocs.iter().find(|h| h.name == name);
                        Source::Inline {
                            name: name.clone(),
                            content: heredoc.map(Heredoc::text).unwrap_or_default(),
                            expand: heredoc.is_none_or(|h| h.expand),
                        }
                    }
                    None => Source::Path(source.clone()),
                })
                .collect();
            let options = CopyOptions {
                from: flags.value("from"),
                chown: flags.value("chown"),
                chmod: flags.value("chmod"),
                link: flags.boolean("link").unwrap_or(false),
                parents: flags.boolean("parents").unwrap_or(false),
                exclude: flags.list("exclude"),
                checksum: flags.value("checksum"),
                keep_git_dir: flags.boolean("keep-git-dir").unwrap_or(false),
                unpack: flags.boolean("unpack"),
            };
            if keyword == Keyword::Copy {
                CommandKind::Copy {
                    sources,
                    dest: dest.clone(),
                    options,
                }
            } else {
                CommandKind::Add {
                    sources,
                    dest: dest.clone(),
                    options,
                }
            }
        }
        Keyword::Workdir | Keyword::User | Keyword::Stopsignal | Keyword::Maintainer => {
            no_flags()?;
            // The whole rest is the one argument, blanks included, as BuildKit reads it.
            let value = text(instruction).to_owned();
            if value.is_empty() {
                return Err(format!("{keyword} requires exactly one argument"));
            }
            match keyword {
                Keyword::Workdir => CommandKind::Workdir(value),
                Keyword::User => CommandKind::User(value),
                Keyword::Stopsignal => CommandKind::StopSignal(value),
                _ => CommandKind::Maintainer(value),
            }
        }
        Keyword::Expose => {
            no_flags()?;
            let mut ports = list(instruction);
            if ports.is_empty() {
                return Err(at_least_one(keyword));
            }
            ports.sort();
            CommandKind::Expose(ports)
        }
        Keyword::Volume => {
            no_flags()?;
            let volumes: Vec<String> = list(instruction)
                .iter()
                .map(|v| v.trim().to_owned())
                .collect();
            if volumes.is_empty() {
                return Err(at_least_one(keyword));
            }
            if volumes.iter().any(String::is_empty) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            CommandKind::Volume(volumes)
        }
        Keyword::Healthcheck => CommandKind::Healthcheck(health(instruction)?),
        Keyword::Onbuild => {
            no_flags()?;
            let body = text(instruction).trim();
            let trigger = body.split_whitespace().next().unwrap_or("");
            match Keyword::parse(trigger) {
                None if trigger.is_empty() => return Err(at_least_one(keyword)),
                Some(Keyword::Onbuild) => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into());
                }
                Some(inner @ (Keyword::From | Keyword::Maintainer)) => {
                    return Err(format!("{inner} isn't allowed as an ONBUILD trigger"));
                }
                _ => {}
            }
            let mut expression = body.to_owned();
            for heredoc in &instruction.heredocs {
                expression.push('\n');
                expression.push_str(&heredoc.content);
                expression.push_str(&heredoc.name);
            }
            CommandKind::Onbuild(expression)
        }
    })
}

fn at_least_one(keyword: Keyword) -> String {
    format!("{keyword} requires at least one argument")
}

/// The name of a heredoc source or destination word (`<<EOF`, `<<-EOF`, `<<"EOF"`).
fn heredoc_name(word: &str) -> Option<String> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix("<<")?;
    let rest = rest.strip_prefix('-').unwrap_or(rest).trim_start();
    let name = rest.trim_matches(['"', '\'']);
    (!name.is_empty() && !name.contains('<')).then(|| name.to_owned())
}

fn health(instruction: &Instruction) -> Result<Health, String> {
    let words = list(instruction);
    let Some(kind) = words.first() else {
        return Err(at_least_one(Keyword::Healthcheck));
    };
    if kind.eq_ignore_ascii_case("NONE") {
        if words.len() > 1 {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        Flags::parse(instruction, &[])?;
        return Ok(Health::None);
    }
    let mut flags = Flags::parse(
        instruction,
        &[
            ("interval", FlagKind::Value),
            ("timeout", FlagKind::Value),
            ("start-period", FlagKind::Value),
            ("start-interval", FlagKind::Value),
            ("retries", FlagKind::Value),
        ],
    )?;
    if !kind.eq_ignore_ascii_case("CMD") {
        return Err(format!("Unknown type {kind:?} in HEALTHCHECK (try CMD)"));
    }
    // The command after `CMD`: JSON when it parses as a JSON array of strings.
    let rest = text(instruction).trim_start()[kind.len()..].trim();
    let command = match serde_json::from_str::<Vec<String>>(rest) {
        Ok(items) if rest.starts_with('[') => CommandLine::Exec(items),
        _ => CommandLine::Shell(rest.to_owned()),
    };
    if matches!(&command, CommandLine::Shell(s) if s.is_empty())
        || matches!(&command, CommandLine::Exec(v) if v.is_empty())
    {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let retries = match flags.value("retries") {
        None => None,
        Some(value) => Some(
            value
                .parse::<u32>()
                .map_err(|_| format!("--retries must be a whole number, not {value:?}"))?,
        ),
    };
    Ok(Health::Check {
        command,
        interval: flags.value("interval"),
        timeout: flags.value("timeout"),
        start_period: flags.value("start-period"),
        start_interval: flags.value("start-interval"),
        retries,
    })
}

/// Splits `ENV`/`LABEL` arguments into pairs (BuildKit's `parseNameVal`): `KEY=value ...`, or the
/// legacy `KEY value with spaces` (one pair, everything after the first blank its value).
fn pairs(text: &str, keyword: Keyword, escape: char) -> Result<Vec<Pair>, String> {
    let words = quoted_words(text, escape);
    let Some(first) = words.first() else {
        return Err(at_least_one(keyword));
    };
    if !first.contains('=') {
        let Some((key, value)) = text.split_once([' ', '\t']) else {
            return Err(format!("{keyword} must have two arguments"));
        };
        return Ok(vec![Pair {
            key: key.to_owned(),
            value: value.trim_start().to_owned(),
        }]);
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err(format!("{keyword} names can not be blank")),
            Some((key, value)) => Ok(Pair {
                key: key.to_owned(),
                value: value.to_owned(),
            }),
            None => Err(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            )),
        })
        .collect()
}

/// Words separated by blanks outside quotes, quotes and escapes kept (BuildKit's `parseWords`):
/// `a="x y" b` is two words, `a="x y"` and `b`.
fn quoted_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut blank_ok = false;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match quote {
            None if ch.is_whitespace() => {
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
            }
            None => {
                if ch == '\'' || ch == '"' {
                    quote = Some(ch);
                    blank_ok = true;
                }
                word.push(ch);
                if ch == escape {
                    match chars.next() {
                        Some(next) => word.push(next),
                        // An escape at the very end is dropped.
                        None => {
                            word.pop();
                        }
                    }
                }
            }
            Some(q) => {
                if ch == q {
                    quote = None;
                }
                word.push(ch);
                if ch == escape && q != '\'' {
                    match chars.next() {
                        Some(next) => word.push(next),
                        None => {
                            word.pop();
                            quote = None;
                        }
                    }
                }
            }
        }
    }
    if blank_ok || !word.is_empty() {
        words.push(word);
    }
    words
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlagKind {
    Value,
    Bool,
    List,
}

/// An instruction's `--name=value` flags, checked against the names it takes (BuildKit's `BFlags`).
struct Flags {
    values: Vec<(String, Option<String>)>,
}

impl Flags {
    fn parse(instruction: &Instruction, spec: &[(&str, FlagKind)]) -> Result<Flags, String> {
        let mut values: Vec<(String, Option<String>)> = Vec::new();
        for flag in &instruction.flags {
            let body = flag.strip_prefix("--").unwrap_or(flag);
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (body, None),
            };
            let name = name.to_ascii_lowercase();
            let Some((_, kind)) = spec.iter().find(|(known, _)| *known == name) else {
                return Err(format!("unknown flag: {name}"));
            };
            match (kind, &value) {
                (FlagKind::Bool, Some(v))
                    if !matches!(v.to_ascii_lowercase().as_str(), "true" | "false") =>
                {
                    return Err(format!("expecting boolean value for flag {name}, not: {v}"));
                }
                (FlagKind::Value | FlagKind::List, None) => {
                    return Err(format!("missing a value on flag: {name}"));
                }
                (FlagKind::Value, Some(_)) if values.iter().any(|(n, _)| *n == name) => {
                    return Err(format!("duplicate flag specified: {name}"));
                }
                _ => {}
            }
            values.push((name, value));
        }
        Ok(Flags { values })
    }

    fn value(&mut self, name: &str) -> Option<String> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
    }

    fn boolean(&mut self, name: &str) -> Option<bool> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref().is_none_or(|v| v.eq_ignore_ascii_case("true")))
    }

    fn list(&mut self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, v)| v.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests;
