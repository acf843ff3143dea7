//! Dockerfiles, read line by line as BuildKit's parser reads them (`frontend/dockerfile/parser`),
//! into instructions with their flags, arguments, heredocs and line numbers. What an instruction's
//! arguments mean (stages, `ENV` pairs, `COPY` sources) is the next stage's business; this one gets
//! the lines right, since that is where Dockerfiles differ from what they look like:
//!
//! - parser directives (`# syntax=`, `# escape=`, `# check=`) count only at the very top, each once;
//!   the `escape` directive makes `` ` `` the escape and line-continuation character;
//! - a line ending in the escape character continues on the next; comment lines inside a
//!   continuation are dropped, and so are empty ones (with BuildKit's warning);
//! - `RUN`, `COPY` and `ADD` (also under `ONBUILD`) in shell form read heredocs (`<<EOF`, `<<-EOF`
//!   which strips leading tabs, `<<"EOF"` whose content is not expanded, `3<<EOF`), up to the line
//!   that is the delimiter alone;
//! - `CMD`, `ENTRYPOINT`, `RUN`, `SHELL`, `ADD`, `COPY` and `VOLUME` take a JSON array of strings
//!   (exec form) when the arguments parse as one, the shell form otherwise;
//! - a UTF-8 byte-order mark at the start is skipped; keywords are case-insensitive.
//!
//! Errors carry the line (and the last line of a continued instruction) and, for a keyword that
//! does not exist, the nearest one (`unknown instruction: FORM (did you mean FROM?)`).

use std::fmt;

use super::shell::Lexer;

/// The instructions a Dockerfile may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
}

impl Keyword {
    const ALL: [Keyword; 18] = [
        Keyword::Add,
        Keyword::Arg,
        Keyword::Cmd,
        Keyword::Copy,
        Keyword::Entrypoint,
        Keyword::Env,
        Keyword::Expose,
        Keyword::From,
        Keyword::Healthcheck,
        Keyword::Label,
        Keyword::Maintainer,
        Keyword::Onbuild,
        Keyword::Run,
        Keyword::Shell,
        Keyword::Stopsignal,
        Keyword::User,
        Keyword::Volume,
        Keyword::Workdir,
    ];

    /// The keyword as Dockerfiles write it (upper case).
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Add => "ADD",
            Keyword::Arg => "ARG",
            Keyword::Cmd => "CMD",
            Keyword::Copy => "COPY",
            Keyword::Entrypoint => "ENTRYPOINT",
            Keyword::Env => "ENV",
            Keyword::Expose => "EXPOSE",
            Keyword::From => "FROM",
            Keyword::Healthcheck => "HEALTHCHECK",
            Keyword::Label => "LABEL",
            Keyword::Maintainer => "MAINTAINER",
            Keyword::Onbuild => "ONBUILD",
            Keyword::Run => "RUN",
            Keyword::Shell => "SHELL",
            Keyword::Stopsignal => "STOPSIGNAL",
            Keyword::User => "USER",
            Keyword::Volume => "VOLUME",
            Keyword::Workdir => "WORKDIR",
        }
    }

    /// The keyword for `word`, in any case.
    pub fn parse(word: &str) -> Option<Keyword> {
        Keyword::ALL
            .into_iter()
            .find(|keyword| keyword.as_str().eq_ignore_ascii_case(word))
    }

    /// Whether the arguments may be a JSON array (exec form).
    fn takes_json(self) -> bool {
        matches!(
            self,
            Keyword::Cmd
                | Keyword::Entrypoint
                | Keyword::Run
                | Keyword::Shell
                | Keyword::Add
                | Keyword::Copy
                | Keyword::Volume
        )
    }

    /// Whether the shell form reads heredocs.
    fn takes_heredocs(self) -> bool {
        matches!(self, Keyword::Add | Keyword::Copy | Keyword::Run)
    }
}

impl fmt::Display for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An instruction's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// The text after the keyword and flags, continuation lines joined, not yet expanded.
    Text(String),
    /// The exec form: a JSON array of strings.
    Json(Vec<String>),
}

/// A heredoc read after an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter, quotes removed.
    pub name: String,
    /// The descriptor it feeds (`3<<EOF`; 0 when not given).
    pub fd: u32,
    /// Whether variables in the content are expanded (the delimiter was not quoted).
    pub expand: bool,
    /// `<<-`: leading tabs are removed from every line (see [`Heredoc::text`]).
    pub chomp: bool,
    /// The lines between the instruction and the delimiter, line endings kept.
    pub content: String,
}

impl Heredoc {
    /// The content as it is used: leading tabs removed from each line for `<<-`.
    pub fn text(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|line| line.trim_start_matches('\t'))
            .collect()
    }
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub keyword: Keyword,
    /// `--name=value` flags before the arguments, quotes removed.
    pub flags: Vec<String>,
    pub args: Args,
    pub heredocs: Vec<Heredoc>,
    /// The comment lines right above it (a blank comment line ends a group).
    pub comments: Vec<String>,
    /// The instruction as written, continuation lines joined.
    pub original: String,
    /// Its first and last line (1-based).
    pub line: usize,
    pub end_line: usize,
}

/// A parser directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// `syntax`, `escape` or `check`, in lower case.
    pub name: String,
    pub value: String,
    pub line: usize,
}

/// Something that parses but that BuildKit warns about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub line: usize,
    pub message: String,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape and line-continuation character.
    pub escape: char,
    pub directives: Vec<Directive>,
    pub instructions: Vec<Instruction>,
    pub warnings: Vec<Warning>,
}

/// Why a Dockerfile cannot be read, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: usize,
    pub end_line: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl Error {
    fn at(line: usize, end_line: usize, message: impl Into<String>) -> Error {
        Error {
            line,
            end_line,
            message: message.into(),
            hint: None,
        }
    }

    fn with_hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Parses a Dockerfile's text.
pub fn parse(text: &str) -> Result<Dockerfile, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut parser = Parser {
        escape: '\\',
        directives: Vec::new(),
        directives_done: false,
        warnings: Vec::new(),
    };
    let mut instructions = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let raw = lines[index];
        index += 1;
        let line_number = index;
        let trimmed = trim_newline(raw).trim_start();
        if let Some(comment) = comment_text(trimmed) {
            if parser.directive(trimmed, line_number)? {
                continue;
            }
            if comment.is_empty() {
                comments.clear();
            } else {
                comments.push(comment.to_owned());
            }
            continue;
        }
        parser.directives_done = true;
        let (first, mut complete) = parser.trim_continuation(trimmed);
        if complete && first.is_empty() {
            continue;
        }
        let mut joined = first.to_owned();
        let mut empty_continuation = false;
        while !complete && index < lines.len() {
            let next = trim_newline(lines[index]);
            index += 1;
            if comment_text(next.trim_start()).is_some() {
                continue;
            }
            if next.trim().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (part, done) = parser.trim_continuation(next);
            joined.push_str(part);
            complete = done;
        }
        let end_line = index;
        if empty_continuation {
            parser.warnings.push(Warning {
                line: end_line,
                message: format!("Empty continuation line found in: {joined}"),
            });
        }
        let mut instruction =
            parser
                .instruction(&joined, line_number, end_line)
                .map_err(|error| Error {
                    line: line_number,
                    end_line,
                    ..error
                })?;
        instruction.comments = std::mem::take(&mut comments);
        if heredocs_apply(&instruction) && joined.contains("<<") {
            for mut heredoc in
                heredocs_in(&joined).map_err(|message| Error::at(line_number, end_line, message))?
            {
                let mut terminated = false;
                while index < lines.len() {
                    let line = lines[index];
                    index += 1;
                    let candidate = trim_newline(line);
                    let candidate = if heredoc.chomp {
                        candidate.trim_start_matches('\t')
                    } else {
                        candidate
                    };
                    if candidate == heredoc.name {
                        terminated = true;
                        break;
                    }
                    heredoc.content.push_str(line);
                }
                if !terminated {
                    return Err(
                        Error::at(line_number, index, "unterminated heredoc").with_hint(format!(
                            "end it with a line that holds only {:?}",
                            heredoc.name
                        )),
                    );
                }
                instruction.heredocs.push(heredoc);
            }
            instruction.end_line = index;
        }
        instructions.push(instruction);
    }
    if instructions.is_empty() {
        return Err(
            Error::at(lines.len(), lines.len(), "file with no instructions")
                .with_hint("a Dockerfile starts with FROM"),
        );
    }
    Ok(Dockerfile {
        escape: parser.escape,
        directives: parser.directives,
        instructions,
        warnings: parser.warnings,
    })
}

struct Parser {
    escape: char,
    directives: Vec<Directive>,
    directives_done: bool,
    warnings: Vec<Warning>,
}

impl Parser {
    /// Reads a parser directive from a comment line at the top; true if it was one.
    fn directive(&mut self, trimmed: &str, line: usize) -> Result<bool, Error> {
        if self.directives_done {
            return Ok(false);
        }
        let Some((name, value)) = directive_parts(trimmed) else {
            self.directives_done = true;
            return Ok(false);
        };
        if self.directives.iter().any(|d| d.name == name) {
            return Err(Error::at(
                line,
                line,
                format!("only one {name} parser directive can be used"),
            ));
        }
        if name == "escape" {
            self.escape = match value.as_str() {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err(Error::at(
                        line,
                        line,
                        format!("invalid escape token '{other}' does not match ` or \\"),
                    ));
                }
            };
        }
        self.directives.push(Directive { name, value, line });
        Ok(true)
    }

    /// Removes a trailing line-continuation character (and the blanks after it); returns the rest
    /// and whether the instruction ends on this line. An escaped escape character (`\\`) at the end
    /// does not continue the line.
    fn trim_continuation<'a>(&self, line: &'a str) -> (&'a str, bool) {
        let content = line.trim_end_matches([' ', '\t']);
        let Some(before) = content.strip_suffix(self.escape) else {
            return (line, true);
        };
        if before.ends_with(self.escape) {
            return (line, true);
        }
        (before, false)
    }

    fn instruction(&mut self, line: &str, start: usize, end: usize) -> Result<Instruction, Error> {
        let trimmed = line.trim();
        let (word, rest) = match trimmed.find([' ', '\t', '\u{b}', '\u{c}', '\r']) {
            Some(split) => (&trimmed[..split], trimmed[split..].trim_start()),
            None => (trimmed, ""),
        };
        let keyword = Keyword::parse(word).ok_or_else(|| unknown_instruction(word, start, end))?;
        let (rest, flags) = split_flags(rest, self.escape);
        let rest = rest.trim();
        let args = if keyword.takes_json() {
            match json_array(rest) {
                JsonArgs::Strings(items) => Args::Json(items),
                JsonArgs::NotStrings => {
                    return Err(Error::at(
                        start,
                        end,
                        format!("{keyword}: a JSON array in a Dockerfile must hold only strings"),
                    )
                    .with_hint("quote every item, or use the shell form"));
                }
                JsonArgs::NotJson => Args::Text(rest.to_owned()),
            }
        } else {
            Args::Text(rest.to_owned())
        };
        Ok(Instruction {
            keyword,
            flags,
            args,
            heredocs: Vec::new(),
            comments: Vec::new(),
            original: line.to_owned(),
            line: start,
            end_line: end,
        })
    }
}

/// The text of a comment line (after `#`, trimmed), or `None` for another line.
fn comment_text(trimmed: &str) -> Option<&str> {
    trimmed.strip_prefix('#').map(str::trim)
}

/// `name` and `value` of a `# name=value` line whose name is a known directive.
fn directive_parts(trimmed: &str) -> Option<(String, String)> {
    let body = trimmed.strip_prefix('#')?.trim_start();
    let (name, value) = body.split_once('=')?;
    let name = name.trim_end();
    let mut chars = name.chars();
    let valid_name = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric());
    let value = value.trim();
    let name = name.to_ascii_lowercase();
    (valid_name && !value.is_empty() && matches!(name.as_str(), "syntax" | "escape" | "check"))
        .then(|| (name, value.to_owned()))
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn unknown_instruction(word: &str, start: usize, end: usize) -> Error {
    let error = Error::at(start, end, format!("unknown instruction: {word}"));
    let upper = word.to_ascii_uppercase();
    let nearest = Keyword::ALL
        .into_iter()
        .map(|keyword| (edit_distance(&upper, keyword.as_str()), keyword))
        .min_by_key(|(distance, _)| *distance);
    match nearest {
        Some((distance, keyword)) if distance <= 2 => {
            error.with_hint(format!("did you mean {keyword}?"))
        }
        _ => error.with_hint("Dockerfile instructions are FROM, RUN, COPY, ADD, ENV, ARG, ..."),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Splits leading `--flag` words off `line` (BuildKit's `extractBuilderFlags`): quotes group, the
/// escape character escapes, a lone `--` ends the flags. Returns the rest and the flags.
fn split_flags(line: &str, escape: char) -> (&str, Vec<String>) {
    let mut flags = Vec::new();
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i].1.is_whitespace() {
            i += 1;
        }
        if i >= chars.len() {
            return ("", flags);
        }
        let starts_flag = chars[i].1 == '-' && chars.get(i + 1).is_some_and(|(_, c)| *c == '-');
        if !starts_flag {
            return (&line[chars[i].0..], flags);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut blank_ok = false;
        while i < chars.len() {
            let ch = chars[i].1;
            match quote {
                None if ch.is_whitespace() => break,
                None if ch == '\'' || ch == '"' => {
                    quote = Some(ch);
                    blank_ok = true;
                }
                Some(q) if ch == q => quote = None,
                _ if ch == escape => {
                    if let Some((_, next)) = chars.get(i + 1) {
                        word.push(*next);
                        i += 1;
                    } else if quote.is_some() {
                        quote = None;
                    }
                }
                _ => word.push(ch),
            }
            i += 1;
        }
        if word == "--" {
            let rest = chars.get(i).map_or("", |(at, _)| &line[*at..]);
            return (rest, flags);
        }
        if blank_ok || !word.is_empty() {
            flags.push(word);
        }
    }
}

enum JsonArgs {
    Strings(Vec<String>),
    NotStrings,
    NotJson,
}

fn json_array(text: &str) -> JsonArgs {
    if !text.starts_with('[') {
        return JsonArgs::NotJson;
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(text) {
        Err(_) => JsonArgs::NotJson,
        Ok(items) => items
            .into_iter()
            .map(|item| match item {
                serde_json::Value::String(text) => Some(text),
                _ => None,
            })
            .collect::<Option<Vec<String>>>()
            .map_or(JsonArgs::NotStrings, JsonArgs::Strings),
    }
}

/// Whether this instruction's shell form reads heredocs (directly or under `ONBUILD`).
fn heredocs_apply(instruction: &Instruction) -> bool {
    let Args::Text(text) = &instruction.args else {
        return false;
    };
    if instruction.keyword == Keyword::Onbuild {
        let inner = text.split_whitespace().next().and_then(Keyword::parse);
        let rest = text
            .split_once(char::is_whitespace)
            .map_or("", |(_, rest)| rest.trim_start());
        return inner.is_some_and(|k| k.takes_heredocs())
            && !matches!(json_array(rest), JsonArgs::Strings(_));
    }
    instruction.keyword.takes_heredocs()
}

/// The heredocs a line opens, in order (BuildKit's `heredocsFromLine`): the line's words, as the
/// shell lexer splits them keeping quotes and escapes, that are `[n]<<[-]WORD`.
fn heredocs_in(line: &str) -> Result<Vec<Heredoc>, String> {
    let raw = Lexer {
        raw_quotes: true,
        raw_escapes: true,
        keep_unset: true,
        ..Lexer::new('\\')
    };
    let words = raw.words(line, &|_| None).unwrap_or_default();
    let mut heredocs = Vec::new();
    for word in words {
        if let Some(heredoc) = heredoc_word(&word)? {
            heredocs.push(heredoc);
        }
    }
    Ok(heredocs)
}

/// A heredoc opener (`^(\d*)<<(-?)\s*([^<]*)$`), or `None`.
fn heredoc_word(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let rest = rest.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let fd = if digits == 0 {
        0
    } else {
        word[..digits]
            .parse()
            .map_err(|_| format!("invalid heredoc descriptor in {word}"))?
    };
    let plain = Lexer {
        keep_unset: true,
        ..Lexer::new('\\')
    };
    let quoted = Lexer {
        raw_quotes: true,
        ..plain
    };
    let words = plain.words(rest, &|_| None).map_err(|e| e.to_string())?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw_words = quoted.words(rest, &|_| None).map_err(|e| e.to_string())?;
    let quotes = |text: &str| text.matches(['\'', '"']).count();
    // Quotes that the lexer removed mean the delimiter was quoted: no expansion in the content.
    let expand = raw_words
        .first()
        .is_some_and(|raw| quotes(raw) == quotes(name));
    Ok(Some(Heredoc {
        name: name.clone(),
        fd,
        expand,
        chomp,
        content: String::new(),
    }))
}

#[cfg(test)]
mod tests;
