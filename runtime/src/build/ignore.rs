//! The `.dockerignore` matcher: which files of the build context the builder leaves out.
//!
//! A context means what Docker makes of it, so these are Docker's rules exactly, ported from the code
//! that applies them: reading the file is `ignorefile.ReadAll` (moby/patternmatcher), matching is
//! `patternmatcher` as BuildKit's context walk (tonistiigi/fsutil `filter.go`) drives it.
//!
//! - The file: one pattern a line; a line starting with `#` is a comment (only in the first column);
//!   lines are trimmed and blank ones skipped; a leading `!` makes an *exception* (it re-includes
//!   what it matches); a pattern is cleaned like Go's `filepath.Clean` (`a/./b/../c/` is `a/c`) and
//!   a leading `/` dropped, since every pattern is anchored at the context root anyway; a UTF-8 BOM
//!   at the start is skipped.
//! - A pattern: Go's `filepath.Match` syntax (`*` and `?` stop at `/`, `[a-z]` / `[^a-z]` classes,
//!   `\` escapes) plus `**`, any number of directories including none (`**/*.go`, `a/**/b`, `**`).
//!   A pattern matches a path or any of its parent directories, so naming a directory excludes all
//!   below it, and `dir/` is `dir` (a file called `dir` is excluded too).
//! - The last pattern that matches a path decides: an exception after a pattern re-includes, a
//!   pattern after an exception excludes again.
//! - The walk skips an excluded directory unless an exception may match below it (`docs` with
//!   `!docs/README.md` still sends `docs/README.md`); see [`Ignore::may_include_below`].
//!
//! No crate implements this. Gitignore crates differ in the essentials: in git a pattern without a
//! slash matches at any depth (here `*.md` is the root only), a trailing `/` means directories
//! only, and nothing below an excluded directory can be re-included. Glob crates (globset) let `*`
//! cross `/` by default, know `{a,b}` (a literal here), and have neither the parent-directory rule
//! nor last-match-wins.
//!
//! patternmatcher turns a pattern into a Go regular expression, which leaks: `^` outside brackets is
//! an anchor there, and `\d`, `[?]` or a reversed range `[z-a]` mean something else or fail only
//! when the walk first uses the pattern. [`Ignore::parse`] keeps the anchor's effect and rejects the
//! rest up front (see [`Problem`]); everything else, quirks included (`**x` matches `ax`), is Docker's.

use std::iter;
use std::path::{Path, PathBuf};

/// The name of the ignore file at the context root.
pub const DOCKERIGNORE: &str = ".dockerignore";

/// A line of an ignore file that is not a valid pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: pattern {pattern:?}: {problem}")]
pub struct Error {
    /// 1-based, counting comments and blank lines.
    pub line: usize,
    /// The line as written, trimmed.
    pub pattern: String,
    pub problem: Problem,
}

/// What is wrong with a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("illegal exclusion pattern \"!\": an exception needs a pattern")]
    LoneBang,
    #[error("syntax error in pattern: `\\` at the end escapes nothing")]
    TrailingEscape,
    #[error("syntax error in pattern: `[` without a closing `]`")]
    UnclosedClass,
    #[error(
        "syntax error in pattern: a character class needs a character before `]` and on each side \
         of `-` (escape `]` and `-` with `\\`)"
    )]
    BadClass,
    #[error("character class range {0}-{1} is reversed (Docker's matcher rejects it)")]
    ReversedRange(char, char),
    #[error(
        "`\\{0}`: Docker reads an escaped letter, digit or non-ASCII character as a regular \
         expression escape; write the character without `\\`"
    )]
    RegexEscape(char),
    #[error("`{0}` inside `[...]`: Docker's matcher misreads it; write `\\{0}` instead")]
    WildcardInClass(char),
    #[error("`[:` inside `[...]`: Docker's matcher reads a POSIX class there; escape the `[`")]
    PosixClass,
}

/// The patterns of an ignore file, ready to match paths of the context. The default excludes nothing.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
    /// Some exception has a wildcard before a trailing `/*` or `/**`, so it may match below any
    /// directory; else the walk tells from the exceptions' text (fsutil's
    /// `onlyPrefixExcludeExceptions`, negated).
    wildcard_exceptions: bool,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// As cleaned, without the `!`.
    text: String,
    /// A `!` pattern: what it matches is sent after all.
    exception: bool,
    kind: Kind,
    /// For [`Kind::Regex`].
    tokens: Vec<Token>,
}

/// patternmatcher's match types: it compares plain strings when the pattern allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// No wildcard: the path is the pattern.
    Exact,
    /// A plain pattern ending in `**`: the path starts with the rest.
    Prefix,
    /// `**` then no wildcard: the path ends with the rest (so `**x` matches `ax`), or is it without
    /// its leading `/`.
    Suffix,
    /// Anything else: the tokens, a regular expression in patternmatcher.
    Regex,
}

/// A piece of a compiled pattern, as patternmatcher's regular expression has it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `^` outside brackets: left unescaped, Go's start-of-text anchor.
    Start,
    /// `?`: `[^/]`.
    One,
    /// `*`: `[^/]*`.
    Star,
    /// `**` or `**/` before more pattern: `(.*/)?`.
    Dirs,
    /// `**` at the end: `.*`.
    Rest,
    Class(Class),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl Ignore {
    /// Reads the text of an ignore file (`ignorefile.ReadAll` then `patternmatcher.New`).
    pub fn parse(text: &str) -> Result<Ignore, Error> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let Some(read) = read_line(line) else {
                continue;
            };
            let pattern = Pattern::new(&read).map_err(|problem| Error {
                line: index + 1,
                pattern: line.trim().to_owned(),
                problem,
            })?;
            patterns.extend(pattern);
        }
        Ok(Ignore::from_patterns(patterns))
    }

    fn from_patterns(patterns: Vec<Pattern>) -> Ignore {
        let wildcard =
            |p: &Pattern| without_trailing_glob(&p.text).contains(['*', '[', ']', '?', '^', '\\']);
        let wildcard_exceptions = patterns.iter().any(|p| p.exception && wildcard(p));
        Ignore {
            patterns,
            wildcard_exceptions,
        }
    }

    /// No patterns: nothing is excluded.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether the context leaves `path` out: a path relative to the context root, `/`-separated
    /// (cleaned here; the root itself is never excluded).
    ///
    /// The answer is the walk's: each parent directory is matched first and its results carried
    /// down (patternmatcher's `MatchesUsingParentResults`), and a path under a directory the walk
    /// skips (excluded, and [`may_include_below`](Self::may_include_below) false) is excluded.
    /// Whether the path is a directory does not matter. An excluded directory may still have
    /// children that are sent; the builder then sends the directory too, as BuildKit does.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = normalize(path);
        if path.is_empty() || self.patterns.is_empty() {
            return false;
        }
        let ends = path.match_indices('/').map(|(i, _)| i);
        let mut parent: Option<Vec<bool>> = None;
        for end in ends.chain(iter::once(path.len())) {
            let prefix = &path[..end];
            let (excluded, matches) = self.match_step(prefix, parent.as_deref());
            if end == path.len() {
                return excluded;
            }
            if excluded && !self.may_include_below(prefix) {
                return true;
            }
            parent = Some(matches);
        }
        false
    }

    /// Whether an exception may match something below `dir`: when `dir` is excluded, the walk
    /// must still descend into it if so, and may skip it otherwise. It is BuildKit's test: true if
    /// some exception has a wildcard (not counting a trailing `/*` or `/**`), else if one names a
    /// path at or below `dir` (`!docs/README.md` for `docs`). The context root is always walked.
    pub fn may_include_below(&self, dir: &str) -> bool {
        let dir = normalize(dir);
        if dir.is_empty() || self.wildcard_exceptions {
            return true;
        }
        let dir = format!("{dir}/");
        self.patterns
            .iter()
            .filter(|p| p.exception)
            .any(|p| format!("{}/", without_trailing_glob(&p.text)).starts_with(&dir))
    }

    /// Matches one path given its parent directory's results (none for a name at the root): whether
    /// it is excluded, and which patterns matched it, for its children. A pattern that matched the
    /// parent matches the child; otherwise patterns are tried in order, each only if it could change
    /// the answer so far (an exception only once excluded, a pattern only while not).
    fn match_step(&self, path: &str, parent: Option<&[bool]>) -> (bool, Vec<bool>) {
        let mut excluded = false;
        let mut matches = vec![false; self.patterns.len()];
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut hit = parent.is_some_and(|p| p[i]);
            if !hit {
                if pattern.exception != excluded {
                    continue;
                }
                hit = pattern.matches(path);
            }
            matches[i] = hit;
            if hit {
                excluded = !pattern.exception;
            }
        }
        (excluded, matches)
    }
}

/// The ignore file of a build, if any: `<Dockerfile name>.dockerignore` next to the Dockerfile
/// wins over `.dockerignore` at the context root (BuildKit's Dockerfile frontend). Both paths are
/// as the caller would open them.
pub fn ignore_file(dockerfile: &Path, context_dir: &Path) -> Option<PathBuf> {
    let specific = dockerfile.file_name().map(|name| {
        let mut name = name.to_os_string();
        name.push(DOCKERIGNORE);
        dockerfile.with_file_name(name)
    });
    let root = context_dir.join(DOCKERIGNORE);
    specific.into_iter().chain([root]).find(|p| p.is_file())
}

/// One line as `ignorefile.ReadAll` keeps it: none for comments and blank lines, else the pattern
/// trimmed and cleaned, relative, with its `!`.
fn read_line(line: &str) -> Option<String> {
    if line.starts_with('#') {
        return None;
    }
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let (bang, pattern) = match line.strip_prefix('!') {
        Some(rest) => ("!", rest.trim()),
        None => ("", line),
    };
    let mut pattern = if pattern.is_empty() {
        String::new()
    } else {
        clean(pattern)
    };
    if pattern.len() > 1 && pattern.starts_with('/') {
        pattern.remove(0);
    }
    Some(format!("{bang}{pattern}"))
}

impl Pattern {
    /// A pattern as `patternmatcher.New` takes it (trimmed and cleaned again, then checked).
    fn new(pattern: &str) -> Result<Option<Pattern>, Problem> {
        let pattern = pattern.trim();
        if pattern.is_empty() {
            return Ok(None);
        }
        let pattern = clean(pattern);
        let (exception, text) = match pattern.strip_prefix('!') {
            Some("") => return Err(Problem::LoneBang),
            Some(rest) => (true, rest),
            None => (false, pattern.as_str()),
        };
        let (kind, tokens) = compile(text)?;
        Ok(Some(Pattern {
            text: text.to_owned(),
            exception,
            kind,
            tokens,
        }))
    }

    fn matches(&self, path: &str) -> bool {
        let text = self.text.as_str();
        match self.kind {
            Kind::Exact => path == text,
            Kind::Prefix => path.starts_with(&text[..text.len() - 2]),
            Kind::Suffix => {
                let suffix = &text[2..];
                path.ends_with(suffix) || suffix.strip_prefix('/') == Some(path)
            }
            Kind::Regex => matches_tokens(&self.tokens, path),
        }
    }
}

/// Checks a pattern as `filepath.Match` does and compiles it as patternmatcher does: its match
/// type and, for a regular expression, the tokens.
fn compile(pattern: &str) -> Result<(Kind, Vec<Token>), Problem> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut kind = Kind::Exact;
    let mut tokens = Vec::new();
    let mut pos = 0;
    while pos < chars.len() {
        let first = pos == 0;
        let ch = chars[pos];
        pos += 1;
        let wildcard = match ch {
            '*' if chars.get(pos) == Some(&'*') => {
                pos += 1;
                if chars.get(pos) == Some(&'/') {
                    pos += 1;
                }
                kind = double_star(first, pos == chars.len(), kind, &mut tokens);
                continue;
            }
            '*' => Token::Star,
            '?' => Token::One,
            '\\' => Token::Char(escaped(&chars, &mut pos)?),
            '[' => Token::Class(class(&chars, &mut pos)?),
            ']' => Token::Char(']'),
            '^' => {
                tokens.push(Token::Start);
                continue;
            }
            c => {
                tokens.push(Token::Char(c));
                continue;
            }
        };
        tokens.push(wildcard);
        kind = Kind::Regex;
    }
    Ok((kind, tokens))
}

/// `**` (its `/` eaten): a prefix match at the end of a plain pattern, a suffix match at the start,
/// else a token of the regular expression.
fn double_star(first: bool, at_end: bool, kind: Kind, tokens: &mut Vec<Token>) -> Kind {
    let prefix = at_end && kind == Kind::Exact;
    if !prefix {
        tokens.push(if at_end { Token::Rest } else { Token::Dirs });
    }
    match (first, prefix) {
        (true, _) => Kind::Suffix,
        (false, true) => Kind::Prefix,
        (false, false) => Kind::Regex,
    }
}

/// The character after a `\` (at `pos`, which moves past it).
fn escaped(chars: &[char], pos: &mut usize) -> Result<char, Problem> {
    let c = *chars.get(*pos).ok_or(Problem::TrailingEscape)?;
    if c.is_ascii_alphanumeric() || !c.is_ascii() {
        return Err(Problem::RegexEscape(c));
    }
    *pos += 1;
    Ok(c)
}

/// A bracket expression from just after its `[` to just after its `]` (`filepath.Match`'s rules:
/// `^` negates, at least one character or range, `-` and `]` escaped elsewhere).
fn class(chars: &[char], pos: &mut usize) -> Result<Class, Problem> {
    let negated = chars.get(*pos) == Some(&'^');
    if negated {
        *pos += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(*pos) == Some(&']') && !ranges.is_empty() {
            *pos += 1;
            return Ok(Class { negated, ranges });
        }
        let lo = class_char(chars, pos)?;
        let mut hi = lo;
        if chars[*pos] == '-' {
            *pos += 1;
            hi = class_char(chars, pos)?;
        }
        if lo > hi {
            return Err(Problem::ReversedRange(lo, hi));
        }
        ranges.push((lo, hi));
    }
}

/// One character of a bracket expression (`getEsc`); more of the expression must follow it.
fn class_char(chars: &[char], pos: &mut usize) -> Result<char, Problem> {
    let c = match chars.get(*pos) {
        None => return Err(Problem::UnclosedClass),
        Some('-' | ']') => return Err(Problem::BadClass),
        Some(c @ ('*' | '?')) => return Err(Problem::WildcardInClass(*c)),
        Some('[') if chars.get(*pos + 1) == Some(&':') => return Err(Problem::PosixClass),
        Some('\\') => {
            *pos += 1;
            if *pos == chars.len() {
                return Err(Problem::UnclosedClass);
            }
            escaped(chars, pos)?
        }
        Some(c) => {
            *pos += 1;
            *c
        }
    };
    if *pos == chars.len() {
        return Err(Problem::UnclosedClass);
    }
    Ok(c)
}

/// Whether the whole path matches the tokens. It follows all ways through the pattern at once:
/// `reach[i]` says the tokens so far can end at character `i`.
fn matches_tokens(tokens: &[Token], path: &str) -> bool {
    let chars: Vec<char> = path.chars().collect();
    let mut reach = vec![false; chars.len() + 1];
    reach[0] = true;
    for token in tokens {
        reach = step_token(token, &chars, &reach);
    }
    reach[chars.len()]
}

fn step_token(token: &Token, chars: &[char], reach: &[bool]) -> Vec<bool> {
    let mut next = vec![false; reach.len()];
    match token {
        Token::Start => next[0] = reach[0],
        // Go's `.` stops at a newline, `[^/]` does not.
        Token::Star => repeat(chars, reach, &mut next, '/'),
        Token::Rest => repeat(chars, reach, &mut next, '\n'),
        Token::Dirs => {
            next.copy_from_slice(reach);
            let mut any = false;
            for (i, &c) in chars.iter().enumerate() {
                any |= reach[i];
                if any && c == '/' {
                    next[i + 1] = true;
                }
                any &= c != '\n';
            }
        }
        Token::Char(_) | Token::One | Token::Class(_) => {
            for (i, &c) in chars.iter().enumerate() {
                next[i + 1] = reach[i] && token.accepts(c);
            }
        }
    }
    next
}

/// Any run of characters other than `stop`.
fn repeat(chars: &[char], reach: &[bool], next: &mut [bool], stop: char) {
    let mut any = false;
    for i in 0..reach.len() {
        any |= reach[i];
        next[i] = any;
        if chars.get(i) == Some(&stop) {
            any = false;
        }
    }
}

impl Token {
    /// Whether a one-character token accepts `c`.
    fn accepts(&self, c: char) -> bool {
        match self {
            Token::Char(want) => c == *want,
            Token::One => c != '/',
            Token::Class(class) => {
                let inside = class.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
                inside != class.negated
            }
            _ => false,
        }
    }
}

/// fsutil's `patternWithoutTrailingGlob`: the pattern without a trailing `/**`, then `/*`.
fn without_trailing_glob(pattern: &str) -> &str {
    let pattern = pattern.strip_suffix("/**").unwrap_or(pattern);
    pattern.strip_suffix("/*").unwrap_or(pattern)
}

/// A path to match: cleaned, relative, the root empty.
fn normalize(path: &str) -> String {
    let path = clean(path);
    match path.strip_prefix('/').unwrap_or(&path) {
        "." => String::new(),
        rest => rest.to_owned(),
    }
}

/// Go's `filepath.Clean` (Unix): one `/` between names, no `.` names, `..` taking out the name
/// before it (kept at the start of a relative path, dropped at the root), no trailing `/`, `.` for
/// nothing.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut names: Vec<&str> = Vec::new();
    for name in path.split('/') {
        match name {
            "" | "." => {}
            ".." if names.last().is_some_and(|last| *last != "..") => {
                names.pop();
            }
            ".." if rooted => {}
            name => names.push(name),
        }
    }
    let joined = names.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ignore file, paths it must exclude and paths it must send.
    struct Case {
        file: &'static str,
        excluded: &'static [&'static str],
        sent: &'static [&'static str],
    }

    const CASES: &[Case] = &[
        // A plain pattern is anchored at the root: `*.md` is not `**/*.md`.
        Case {
            file: "*.md",
            excluded: &["README.md", "CHANGES.md", ".md", "notes.md/inside"],
            sent: &["docs/README.md", "a/b/c.md", "README.mdx", "md"],
        },
        Case {
            file: "**/*.md",
            excluded: &["README.md", "docs/README.md", "a/b/c/x.md", "x.md/y"],
            sent: &["README.txt", "docs/md", "docs/x.mdx"],
        },
        // An exception re-includes under an excluded directory.
        Case {
            file: "docs\n!docs/README.md",
            excluded: &["docs", "docs/other.md", "docs/sub/README.md"],
            sent: &["docs/README.md", "docs/README.md/x", "README.md", "docsx"],
        },
        Case {
            file: "docs/\n!docs/README.md",
            excluded: &["docs/a"],
            sent: &["docs/README.md"],
        },
        Case {
            file: "docs/*\n!docs/README.md",
            excluded: &["docs/a", "docs/a/b"],
            sent: &["docs", "docs/README.md"],
        },
        // The last matching pattern wins, both ways.
        Case {
            file: "*.go\n!main.go",
            excluded: &["util.go"],
            sent: &["main.go", "x.rs"],
        },
        Case {
            file: "!main.go\n*.go",
            excluded: &["main.go", "util.go"],
            sent: &["x.rs"],
        },
        Case {
            file: "*.go\n!*.go\nmain.go",
            excluded: &["main.go"],
            sent: &["util.go", "x.rs"],
        },
        Case {
            file: "**\n!src\nsrc/gen\n!src/gen/keep.rs",
            excluded: &["target", "target/x", "src/gen", "src/gen/a.rs"],
            sent: &["src", "src/main.rs", "src/gen/keep.rs"],
        },
        // A leading `/` is dropped: patterns are anchored anyway.
        Case {
            file: "/build\n/a/b",
            excluded: &["build", "build/out.o", "a/b", "a/b/c"],
            sent: &["src/build", "builds", "a", "x/a/b"],
        },
        // A trailing `/` is cleaned away: a file of that name goes too.
        Case {
            file: "tmp/",
            excluded: &["tmp", "tmp/x", "tmp/a/b"],
            sent: &["tmpfile", "src/tmp"],
        },
        // `*` and `?` stop at `/`; a match of a parent counts.
        Case {
            file: "src/*.rs\na?b\n*/tmp",
            excluded: &["src/main.rs", "src/x.rs/y", "axb", "a/tmp", "a/tmp/x"],
            sent: &["src/bin/x.rs", "a/b", "ab", "axxb", "a/b/tmp"],
        },
        // Classes: ranges, `^` negation, `!` is an ordinary member, escapes.
        Case {
            file: "file[a-c].txt\nx[^0-9]\ny[!a]\nz[\\]\\-]",
            excluded: &["filea.txt", "filec.txt", "xa", "x-", "ya", "y!", "z]", "z-"],
            sent: &["filed.txt", "file.txt", "fileab.txt", "x1", "x", "yb", "za"],
        },
        // `\` escapes the next character.
        Case {
            file: "a\\*b\n\\[x\\]\nback\\\\slash",
            excluded: &["a*b", "[x]", "back\\slash"],
            sent: &["axb", "ab", "x", "back/slash", "backslash"],
        },
        // `**` alone is everything; an exception still works.
        Case {
            file: "**",
            excluded: &["a", "a/b/c", ".dockerignore", "Dockerfile"],
            sent: &[""],
        },
        Case {
            file: "**\n!keep",
            excluded: &["other", "other/keep"],
            sent: &["keep", "keep/x"],
        },
        // `a/**/b`: no directories between, or any number.
        Case {
            file: "a/**/b",
            excluded: &["a/b", "a/x/b", "a/x/y/z/b", "a/b/c"],
            sent: &["b", "a", "a/xb", "x/a/b", "a/b2"],
        },
        Case {
            file: "**/node_modules\ndist/**",
            excluded: &[
                "node_modules",
                "a/node_modules",
                "a/b/node_modules/x",
                "dist/a",
            ],
            sent: &["node_modules_x", "a/my_node_modules", "dist"],
        },
        // Comments only in the first column; blank lines; trimming.
        Case {
            file: "# comment\n\n   \n#*.go\nfoo\n  # not a comment\n\t *.tmp \t\n! keep.tmp\r\n",
            excluded: &["foo", "# not a comment", "a.tmp"],
            sent: &["#*.go", "x.go", "comment", "keep.tmp"],
        },
        // Cleaning: `..` and `.` taken out, a pattern above the root matches nothing.
        Case {
            file: "../up\nfoo/../bar\n./baz/\n/../qux\nx//y/.",
            excluded: &["bar", "baz/x", "qux", "x/y"],
            sent: &["up", "foo", "foo/bar"],
        },
        // A BOM at the start is not part of the first pattern.
        Case {
            file: "\u{feff}*.log",
            excluded: &["x.log"],
            sent: &["x.txt"],
        },
        // Regular expression characters are literal.
        Case {
            file: "a(b)c/def\na.|)$(}+{bc\n*.b+c",
            excluded: &["a(b)c/def", "a.|)$(}+{bc", "x.b+c"],
            sent: &["abc/def", "a(b)c/xyz", "x.bbc"],
        },
    ];

    #[test]
    fn table() {
        let mut failures = Vec::new();
        let mut checks = 0;
        for case in CASES {
            let ignore = Ignore::parse(case.file).expect(case.file);
            let expected = [(true, case.excluded), (false, case.sent)];
            for (want, path) in expected
                .iter()
                .flat_map(|(w, ps)| ps.iter().map(move |p| (*w, p)))
            {
                checks += 1;
                if ignore.is_excluded(path) != want {
                    failures.push(format!(
                        "{:?}: {path:?} excluded should be {want}",
                        case.file
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(checks >= 40, "{checks} checks");
    }

    /// patternmatcher's own `TestMatches` table (one pattern each), as the walk matches.
    #[test]
    fn patternmatcher_matches() {
        let cases = [
            ("**", "file", true),
            ("**", "file/", true),
            ("**/", "file", true),
            ("**", "dir/file", true),
            ("**/", "dir/file", true),
            ("**/**", "dir/file", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/dir2/file", true),
            ("**/dir", "dir", true),
            ("**/dir", "dir/file", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/**", "dir/dir2/dir3/file", true),
            ("**file", "file", true),
            ("**file", "dir/file", true),
            ("**/file", "dir/file", true),
            ("**file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/file*txt", "dir/dir/file.txt", true),
            ("**/file*.txt*", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("**/**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/file.txt", true),
            ("a**/*.txt", "a/dir/file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a/*.txt**", "a/file.txt", true),
            ("a[b-d]e", "ae", false),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            // Go's own filepath.Match cases that patternmatcher runs too.
            ("a*", "ab/c", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("ab[^c]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a?b", "a☺b", true),
            ("a[^a]b", "a☺b", true),
            ("a???b", "a☺b", false),
            ("[a-ζ]*", "α", true),
            ("*[a-ζ]", "A", false),
            ("[x\\-]", "-", true),
            ("[\\-x]", "a", false),
            ("*x", "xxx", true),
        ];
        let failures: Vec<_> = cases
            .iter()
            .filter(|(pattern, path, want)| {
                Ignore::parse(pattern).expect(pattern).is_excluded(path) != *want
            })
            .collect();
        assert!(failures.is_empty(), "{failures:?}");
    }

    #[test]
    fn patternmatcher_multi_pattern() {
        let whl = "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl";
        let cases = [
            ("**\n!util/docker/web", "util/docker/web/foo", false),
            (
                "**\n!util/docker/web\nutil/docker/web/foo",
                "util/docker/web/foo",
                true,
            ),
            ("**\n!dist/*.whl", whl, false),
            ("!fileutils.go\n*.go", "fileutils.go", true),
            ("*.go\n!fileutils.go", "fileutils.go", false),
        ];
        for (file, path, want) in cases {
            assert_eq!(
                Ignore::parse(file).unwrap().is_excluded(path),
                want,
                "{file:?} {path:?}"
            );
        }
    }

    #[test]
    fn walk_descends_only_where_an_exception_may_match() {
        let ignore = Ignore::parse("docs\nbuild\n!docs/README.md\n!a/b/c/**").unwrap();
        assert!(ignore.may_include_below("docs"));
        assert!(!ignore.may_include_below("build"));
        assert!(ignore.may_include_below("a/b"));
        assert!(!ignore.may_include_below("a/x"));
        assert!(!ignore.may_include_below("doc"));
        assert!(ignore.may_include_below(""));
        // A wildcard in an exception: anything may match anywhere.
        let ignore = Ignore::parse("build\n!**/keep").unwrap();
        assert!(ignore.may_include_below("build"));
        assert!(!ignore.is_excluded("build/a/keep"));
        // No exceptions: an excluded directory is skipped.
        assert!(!Ignore::parse("build").unwrap().may_include_below("build"));
        assert!(!Ignore::default().may_include_below("x"));
    }

    /// fsutil strips `/**` then `/*` before looking for wildcards, so `!a/*/**` counts as a prefix
    /// `a`: the walk skips an excluded `a/b` though the exception would match `a/b/c`.
    #[test]
    fn skipped_directory_stays_excluded() {
        let ignore = Ignore::parse("a/b\n!a/*/**").unwrap();
        assert!(!ignore.may_include_below("a/b"));
        assert!(ignore.is_excluded("a/b/c"));
        assert!(!ignore.is_excluded("a/c/d"));
    }

    /// Parent results carry down: an exception of a parent that was not tried at the parent (it
    /// was not excluded yet) is not tried against the parent again.
    #[test]
    fn parent_results_carry_down() {
        let ignore = Ignore::parse("a/b\n!a").unwrap();
        assert!(ignore.is_excluded("a/b"));
        assert!(ignore.is_excluded("a/b/c"));
        assert!(!ignore.is_excluded("a"));
    }

    /// Docker's quirks that are kept: `**x` compares a suffix; `^` is literal in a plain pattern
    /// and a start anchor once the pattern has a wildcard; `.` stops at a newline, `?` does not.
    #[test]
    fn docker_quirks() {
        let check = |file: &str, path: &str, want: bool| {
            let got = Ignore::parse(file).unwrap().is_excluded(path);
            assert_eq!(got, want, "{file:?} {path:?}");
        };
        check("**file", "xfile", true);
        check("**/file", "xfile", false);
        check("a^b", "a^b", true);
        check("a^b*", "a^bc", false);
        check("^x*", "xa", true);
        check("a/**/b", "a/x\ny/b", false);
        check("a?b", "a\nb", true);
        check(".", "a", false);
        check("/", "a", false);
    }

    #[test]
    fn invalid_patterns_name_their_line() {
        let err = Ignore::parse("ok\n# comment\n\nfoo[bar\n").unwrap_err();
        assert_eq!(
            err,
            Error {
                line: 4,
                pattern: "foo[bar".to_owned(),
                problem: Problem::UnclosedClass
            }
        );
        assert_eq!(
            err.to_string(),
            "line 4: pattern \"foo[bar\": syntax error in pattern: `[` without a closing `]`"
        );
        let cases = [
            ("!", Problem::LoneBang),
            ("  !  ", Problem::LoneBang),
            ("!/", Problem::LoneBang),
            ("a\\", Problem::TrailingEscape),
            ("\\", Problem::TrailingEscape),
            ("[", Problem::UnclosedClass),
            ("[^", Problem::UnclosedClass),
            ("[^bc", Problem::UnclosedClass),
            ("a[", Problem::UnclosedClass),
            ("[a\\", Problem::UnclosedClass),
            ("[]a]", Problem::BadClass),
            ("[-]", Problem::BadClass),
            ("[x-]", Problem::BadClass),
            ("[-x]", Problem::BadClass),
            ("[a-b-c]", Problem::BadClass),
            ("[z-a]", Problem::ReversedRange('z', 'a')),
            ("[Local-Only]/", Problem::ReversedRange('l', 'O')),
            ("\\d", Problem::RegexEscape('d')),
            ("[\\w]", Problem::RegexEscape('w')),
            ("\\é", Problem::RegexEscape('é')),
            ("[*]", Problem::WildcardInClass('*')),
            ("[a?]", Problem::WildcardInClass('?')),
            ("[[:digit:]]", Problem::PosixClass),
        ];
        for (line, problem) in cases {
            let err = Ignore::parse(line).unwrap_err();
            assert_eq!((err.line, err.problem), (1, problem), "{line:?}");
        }
        // `[` alone in a class and `]` outside one are fine.
        assert!(Ignore::parse("[[]x]").unwrap().is_excluded("[x]"));
    }

    #[test]
    fn reads_lines_as_ignorefile_does() {
        let read = |line| read_line(line);
        assert_eq!(read("test1"), Some("test1".to_owned()));
        assert_eq!(read("/test2"), Some("test2".to_owned()));
        assert_eq!(read("/a/file/here"), Some("a/file/here".to_owned()));
        assert_eq!(
            read("! /inverted/abs/path"),
            Some("!inverted/abs/path".to_owned())
        );
        assert_eq!(read("!"), Some("!".to_owned()));
        assert_eq!(read("/"), Some("/".to_owned()));
        assert_eq!(read("# comment"), None);
        assert_eq!(read(" # not"), Some("# not".to_owned()));
        assert_eq!(read(" \t"), None);
        assert_eq!(read("a/../../b/./c//"), Some("../b/c".to_owned()));
    }

    #[test]
    fn cleans_as_go_does() {
        let cases = [
            ("", "."),
            ("abc", "abc"),
            ("abc/", "abc"),
            ("a//b", "a/b"),
            ("./a/./b/.", "a/b"),
            ("a/b/..", "a"),
            ("a/../..", ".."),
            ("../../a", "../../a"),
            ("/../a", "/a"),
            ("/", "/"),
            ("//", "/"),
            ("a/b/../../..", ".."),
        ];
        for (path, want) in cases {
            assert_eq!(clean(path), want, "{path:?}");
        }
    }

    #[test]
    fn compiles_to_patternmatcher_match_types() {
        let cases = [
            ("*", Kind::Regex),
            ("**", Kind::Suffix),
            ("**/**", Kind::Regex),
            ("dir/**", Kind::Prefix),
            ("**/dir", Kind::Suffix),
            ("**/dir2/*", Kind::Regex),
            ("**file", Kind::Suffix),
            ("a[b-d]e", Kind::Regex),
            ("abc.def", Kind::Exact),
            ("**/foo/bar", Kind::Suffix),
            ("a(b)c/def", Kind::Exact),
            ("a\\.b", Kind::Regex),
            ("a]b", Kind::Regex),
        ];
        for (pattern, want) in cases {
            assert_eq!(compile(pattern).unwrap().0, want, "{pattern:?}");
        }
    }

    #[test]
    fn picks_the_dockerfile_specific_ignore_file() {
        let dir = tempfile::tempdir().unwrap();
        let context = dir.path().join("ctx");
        std::fs::create_dir_all(context.join("docker")).unwrap();
        let dockerfile = context.join("docker/api.Dockerfile");
        assert_eq!(ignore_file(&dockerfile, &context), None);

        std::fs::write(context.join(".dockerignore"), "*").unwrap();
        assert_eq!(
            ignore_file(&dockerfile, &context),
            Some(context.join(".dockerignore"))
        );

        let specific = context.join("docker/api.Dockerfile.dockerignore");
        std::fs::write(&specific, "x").unwrap();
        assert_eq!(ignore_file(&dockerfile, &context), Some(specific));
        // Only the Dockerfile's own name counts.
        let other = context.join("docker/Dockerfile");
        assert_eq!(
            ignore_file(&other, &context),
            Some(context.join(".dockerignore"))
        );
    }
}
