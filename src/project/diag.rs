//! Diagnostics: what went wrong, where (file, line, column) and what to do about it.
//!
//! Every stage of the loader reports problems as [`Diagnostic`]s so that the user always sees a location
//! and a hint; several problems are collected and reported together where the stage can go on.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One file of the project as it was read: its path (as shown to the user) and its text.
#[derive(Debug)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Arc<Source> {
        Arc::new(Source {
            path: path.into(),
            text: text.into(),
        })
    }

    /// The path for messages: relative to the working directory when it is below it.
    pub fn display_path(&self) -> String {
        display_path(&self.path)
    }
}

/// A path as messages show it: relative to the working directory when below it.
pub fn display_path(path: &Path) -> String {
    if let Ok(cwd) = std::env::current_dir()
        && let Ok(relative) = path.strip_prefix(&cwd)
        && !relative.as_os_str().is_empty()
    {
        return relative.display().to_string();
    }
    path.display().to_string()
}

/// A position in a source file (1-based line and column).
#[derive(Clone)]
pub struct Span {
    pub source: Arc<Source>,
    pub line: u32,
    pub col: u32,
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.source.path.display(),
            self.line,
            self.col
        )
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.source.display_path(),
            self.line,
            self.col
        )
    }
}

/// What kind of problem, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No compose file could be found.
    NoConfig,
    /// A file could not be read.
    Io,
    /// The project is invalid: syntax, types, references, interpolation.
    Invalid,
    /// The command line names something the project lacks (`no such service`): exit 1, as docker.
    Usage,
}

/// One problem found while loading a project.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub kind: Kind,
    pub span: Option<Span>,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An invalid-project error at a position.
    pub fn at(span: &Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            kind: Kind::Invalid,
            span: Some(span.clone()),
            message: message.into(),
            hint: None,
        }
    }

    /// An invalid-project error that has no single position.
    pub fn new(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            kind: Kind::Invalid,
            span: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_kind(mut self, kind: Kind) -> Diagnostic {
        self.kind = kind;
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.span {
            Some(span) => writeln!(f, "error: {span}: {}", self.message)?,
            None => writeln!(f, "error: {}", self.message)?,
        }
        if let Some(span) = &self.span
            && let Some(line) = span
                .source
                .text
                .lines()
                .nth(span.line.saturating_sub(1) as usize)
        {
            let number = span.line.to_string();
            let pad = " ".repeat(number.len());
            let (excerpt, caret_pad) = excerpt(line, span.col.saturating_sub(1) as usize);
            writeln!(f, " {pad} |")?;
            writeln!(f, " {number} | {excerpt}")?;
            writeln!(f, " {pad} | {caret_pad}^")?;
        }
        if let Some(hint) = &self.hint {
            writeln!(f, "  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Lines longer than this many characters are shown as a window around the column.
const EXCERPT_WIDTH: usize = 120;

/// The part of `line` a message shows, and the padding that puts a caret under character `col`
/// (0-based): the whole line when it is short, else `EXCERPT_WIDTH` characters around the column
/// with `...` where the line goes on (a minified or hostile file can have one very long line).
fn excerpt(line: &str, col: usize) -> (String, String) {
    let chars: Vec<char> = line.chars().collect();
    let col = col.min(chars.len());
    let (start, end) = if chars.len() <= EXCERPT_WIDTH {
        (0, chars.len())
    } else {
        let start = col
            .saturating_sub(EXCERPT_WIDTH / 2)
            .min(chars.len() - EXCERPT_WIDTH);
        (start, start + EXCERPT_WIDTH)
    };
    let mut text = String::new();
    let mut pad = String::new();
    if start > 0 {
        text.push_str("...");
        pad.push_str("   ");
    }
    text.extend(&chars[start..end]);
    if end < chars.len() {
        text.push_str("...");
    }
    pad.extend(
        chars[start..col]
            .iter()
            .map(|&c| if c == '\t' { '\t' } else { ' ' }),
    );
    (text, pad)
}

/// The problems that stopped a project from loading. Never empty.
#[derive(Debug, Clone)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The exit code for these problems, as docker compose uses them.
    pub fn exit_code(&self) -> u8 {
        match self.0.first().map(|d| d.kind) {
            Some(Kind::NoConfig) => crate::output::EXIT_NO_CONFIG,
            Some(Kind::Invalid) => crate::output::EXIT_INVALID_PROJECT,
            _ => 1,
        }
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Diagnostics {
        Diagnostics(vec![diagnostic])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for diagnostic in &self.0 {
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Suggests the candidate closest to `word`, if one is close enough to be a plausible typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            (
                edit_distance(&word_lower, &candidate.to_ascii_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, candidate)| *distance <= (candidate.len().max(word.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Damerau-Levenshtein distance (with adjacent transpositions), on chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_a_window_of_long_lines() {
        assert_eq!(excerpt("a: b", 3), ("a: b".to_string(), "   ".to_string()));
        assert_eq!(excerpt("\tx", 1), ("\tx".to_string(), "\t".to_string()));
        let line = format!("{}^{}", "a".repeat(500), "b".repeat(500));
        let (text, pad) = excerpt(&line, 500);
        assert!(text.starts_with("...a") && text.ends_with("b..."), "{text}");
        assert_eq!(text.chars().nth(pad.len()), Some('^'));
        let (text, pad) = excerpt(&line, 5);
        assert!(text.starts_with("aaaaa") && text.ends_with("..."));
        assert_eq!(pad.len(), 5);
        let (text, pad) = excerpt(&line, 1001);
        assert!(text.starts_with("...") && text.ends_with('b'));
        assert_eq!(pad.len(), EXCERPT_WIDTH + 3);
    }

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["environment", "entrypoint", "env_file", "image"];
        assert_eq!(did_you_mean("enviroment", keys), Some("environment"));
        assert_eq!(did_you_mean("imgae", keys), Some("image"));
        assert_eq!(did_you_mean("volumes", keys), None);
    }
}
