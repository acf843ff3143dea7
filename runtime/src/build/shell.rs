//! Variable expansion and word splitting in Dockerfile instructions, as BuildKit's shell lexer
//! (`frontend/dockerfile/shell/lex.go`) does them, since a Dockerfile means what BuildKit makes of it:
//! `$VAR`, `${VAR}`, `${VAR:-word}` / `${VAR-word}`, `${VAR:+word}` / `${VAR+word}`,
//! `${VAR:?message}` / `${VAR?message}`, `${VAR#pattern}` / `##`, `${VAR%pattern}` / `%%` and
//! `${VAR/pattern/replacement}` / `//`; single quotes keep everything literal, double quotes keep all
//! but `$` and escapes of `"`, `$` and the escape character; the escape character is the `escape`
//! directive's (`\` or `` ` ``). It is not a shell: no command substitution, no arithmetic, no
//! globbing of file names; a `$` not followed by a name stays a `$`.
//!
//! Patterns (`#`, `%`, `/`) know `*` and `?` and escapes of them, not bracket expressions, as
//! BuildKit's. `#` and `%` take the shortest match, `##` and `%%` the longest, `/` the longest.

use std::collections::BTreeSet;

/// An error in a word, with the word (BuildKit's `failed to process "<word>": <problem>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {word:?}: {problem}")]
pub struct Error {
    pub word: String,
    pub problem: String,
}

/// How a word is processed (BuildKit's `Lex` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    /// The escape character: `\`, or `` ` `` with the `escape` directive.
    pub escape: char,
    /// Keep quote characters in the result (they are removed otherwise).
    pub raw_quotes: bool,
    /// Keep escape characters in the result.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    pub skip_quotes: bool,
    /// Leave references to unset variables as written instead of expanding them to nothing.
    pub keep_unset: bool,
}

/// The result of processing a word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The word with variables expanded and quotes removed, spaces kept.
    pub result: String,
    /// The same, split into words at unquoted white space (after expansion).
    pub words: Vec<String>,
    /// Variables that were referenced and set.
    pub matched: BTreeSet<String>,
    /// Variables that were referenced and not set.
    pub unmatched: BTreeSet<String>,
}

impl Lexer {
    pub fn new(escape: char) -> Lexer {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_quotes: false,
            keep_unset: false,
        }
    }

    /// Expands `word` with `env` (a lookup by name).
    pub fn process(
        &self,
        word: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Expansion, Error> {
        let mut scanner = Scanner {
            lexer: *self,
            chars: word.chars().collect(),
            position: 0,
            env,
            raw_escapes: self.raw_escapes,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        };
        let (result, words) = scanner
            .until(None, self.raw_escapes)
            .map_err(|problem| Error {
                word: word.to_owned(),
                problem,
            })?;
        Ok(Expansion {
            result,
            words,
            matched: scanner.matched,
            unmatched: scanner.unmatched,
        })
    }

    /// Expands `word` and returns it whole (BuildKit's `ProcessWord`).
    pub fn word(&self, word: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, Error> {
        Ok(self.process(word, env)?.result)
    }

    /// Expands `word` and splits it into words (BuildKit's `ProcessWords`).
    pub fn words(
        &self,
        word: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<String>, Error> {
        Ok(self.process(word, env)?.words)
    }
}

/// Words being split at white space as characters arrive.
#[derive(Default)]
struct Words {
    buffer: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.buffer.is_empty() {
                self.words.push(std::mem::take(&mut self.buffer));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.buffer.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, text: &str) {
        text.chars().for_each(|ch| self.add_char(ch));
    }

    fn add_raw_string(&mut self, text: &str) {
        self.buffer.push_str(text);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buffer.is_empty() {
            self.words.push(std::mem::take(&mut self.buffer));
        }
        self.words
    }
}

struct Scanner<'a> {
    lexer: Lexer,
    chars: Vec<char>,
    position: usize,
    env: &'a dyn Fn(&str) -> Option<String>,
    raw_escapes: bool,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.position).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.position += 1;
        }
        ch
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        let value = (self.env)(name);
        if value.is_some() {
            self.matched.insert(name.to_owned());
        } else {
            self.unmatched.insert(name.to_owned());
        }
        value
    }

    /// Processes up to `stop` (consumed) or the end; returns the text and its words.
    fn until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.until_inner(stop);
        self.raw_escapes = saved;
        result
    }

    fn until_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            let special = match ch {
                '$' => Some(self.dollar()?),
                '<' => Some(self.possible_heredoc()),
                '\'' if !self.lexer.skip_quotes => Some(self.single_quoted()?),
                '"' if !self.lexer.skip_quotes => Some(self.double_quoted()?),
                _ => None,
            };
            if let Some(text) = special {
                result.push_str(&text);
                if ch == '$' {
                    words.add_string(&text);
                } else {
                    words.add_raw_string(&text);
                }
                continue;
            }
            let mut ch = self.next().expect("peeked");
            if ch == self.lexer.escape {
                if self.raw_escapes {
                    words.add_raw_char(ch);
                    result.push(ch);
                }
                // The escape character escapes what follows; at the end it is dropped.
                match self.next() {
                    None => break,
                    Some(escaped) => ch = escaped,
                }
                words.add_raw_char(ch);
            } else {
                words.add_char(ch);
            }
            result.push(ch);
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn single_quoted(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next().expect("peeked");
        if self.lexer.raw_quotes {
            result.push(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    );
                }
                Some('\'') => {
                    if self.lexer.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(ch) => result.push(ch),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next().expect("peeked");
        if self.lexer.raw_quotes {
            result.push(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    );
                }
                Some('"') => {
                    self.next();
                    if self.lexer.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.dollar()?;
                    result.push_str(&value);
                }
                Some(_) => {
                    let mut ch = self.next().expect("peeked");
                    if ch == self.lexer.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            // An escape at the end of the word is ignored.
                            None => continue,
                            Some(next)
                                if next == '"' || next == '$' || next == self.lexer.escape =>
                            {
                                ch = self.next().expect("peeked");
                            }
                            // Other escapes stay as written.
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    /// `$NAME`, `${NAME}` and `${NAME<modifier>...}`.
    fn dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.lexer.keep_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        let Some(mut modifier) = self.next() else {
            return Err("syntax error: missing '}'".into());
        };
        let mut written = modifier.to_string();
        match modifier {
            '}' => Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.lexer.keep_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let null_is_unset = modifier == ':';
                if null_is_unset {
                    let Some(next) = self.next() else {
                        return Err("syntax error: missing '}'".into());
                    };
                    modifier = next;
                    written.push(next);
                }
                let pattern_modifier = modifier == '#' || modifier == '%';
                if null_is_unset && pattern_modifier {
                    return Err(format!("unsupported modifier ({written}) in substitution"));
                }
                let word = match self.until(Some('}'), pattern_modifier) {
                    Ok((word, _)) => word,
                    Err(_) if self.peek().is_none() => {
                        return Err("syntax error: missing '}'".into());
                    }
                    Err(error) => return Err(error),
                };
                let value = self.lookup(&name);
                if self.lexer.keep_unset && value.is_none() {
                    return Ok(format!("${{{name}{written}{word}}}"));
                }
                let unset = value.is_none() || (null_is_unset && value.as_deref() == Some(""));
                match modifier {
                    '-' => Ok(if unset {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    '+' => Ok(if unset { String::new() } else { word }),
                    '?' => {
                        let Some(value) = value else {
                            let message = if word.is_empty() {
                                "is not allowed to be unset".to_owned()
                            } else {
                                word
                            };
                            return Err(format!("{name}: {message}"));
                        };
                        if null_is_unset && value.is_empty() {
                            let message = if word.is_empty() {
                                "is not allowed to be empty".to_owned()
                            } else {
                                word
                            };
                            return Err(format!("{name}: {message}"));
                        }
                        Ok(value)
                    }
                    '#' | '%' => {
                        let (greedy, pattern) = match word.strip_prefix(modifier) {
                            Some(rest) => (true, rest.to_owned()),
                            None => (false, word),
                        };
                        let pattern = Pattern::parse(&pattern)?;
                        let value = value.unwrap_or_default();
                        Ok(if modifier == '#' {
                            pattern.trim_prefix(&value, greedy)
                        } else {
                            pattern.trim_suffix(&value, greedy)
                        })
                    }
                    _ => Err(format!("unsupported modifier ({written}) in substitution")),
                }
            }
            '/' => {
                let all = self.peek() == Some('/');
                if all {
                    self.next();
                }
                let pattern = match self.until(Some('/'), true) {
                    Ok((pattern, _)) => pattern,
                    Err(_) if self.peek().is_none() => {
                        return Err("syntax error: missing '/' in ${}".into());
                    }
                    Err(error) => return Err(error),
                };
                let replacement = match self.until(Some('}'), true) {
                    Ok((replacement, _)) => replacement,
                    Err(_) if self.peek().is_none() => {
                        return Err("syntax error: missing '}'".into());
                    }
                    Err(error) => return Err(error),
                };
                let value = self.lookup(&name);
                if self.lexer.keep_unset && value.is_none() {
                    return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                }
                let compiled = Pattern::parse(&pattern)?;
                Ok(compiled.replace(&value.unwrap_or_default(), &replacement, all))
            }
            _ => Err(format!("unsupported modifier ({written}) in substitution")),
        }
    }

    /// A name: letters, digits and `_`; or digits alone (`$1`); or one special parameter (`$@`).
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(digit) = self.peek().filter(char::is_ascii_digit) {
                    name.push(digit);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.next();
        }
        name
    }

    /// `<<` (a heredoc's start, with any white space after it) is kept as written.
    fn possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut result = String::from("<<");
        while let Some(ch) = self.peek().filter(|c| matches!(c, '\t' | '\r' | ' ')) {
            result.push(ch);
            self.next();
        }
        result
    }
}

/// A shell pattern of `${VAR#...}`, `%` and `/`: `*`, `?` and literal characters (escapes with `\`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern(Vec<Token>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Any,
    One,
    Char(char),
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        let mut tokens = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(ch) = chars.next() {
            tokens.push(match ch {
                '*' => Token::Any,
                '?' => Token::One,
                '\\' => match chars.peek().copied() {
                    // `}` and `/` are escaped to be part of `${...}`; the escape is not part of
                    // the pattern.
                    Some('}' | '/') => continue,
                    Some(next @ ('*' | '?' | '\\')) => {
                        chars.next();
                        Token::Char(next)
                    }
                    Some(other) => {
                        return Err(format!(
                            "invalid pattern ({text}) in substitution: invalid escape '\\{other}'"
                        ));
                    }
                    None => {
                        return Err(format!(
                            "invalid pattern ({text}) in substitution: trailing escape"
                        ));
                    }
                },
                other => Token::Char(other),
            });
        }
        Ok(Pattern(tokens))
    }

    /// Whether the pattern matches `text` exactly.
    fn matches(&self, text: &[char]) -> bool {
        fn go(tokens: &[Token], text: &[char]) -> bool {
            match tokens.split_first() {
                None => text.is_empty(),
                Some((Token::Any, rest)) => (0..=text.len()).any(|skip| go(rest, &text[skip..])),
                Some((Token::One, rest)) => !text.is_empty() && go(rest, &text[1..]),
                Some((Token::Char(c), rest)) => text.first() == Some(c) && go(rest, &text[1..]),
            }
        }
        go(&self.0, text)
    }

    /// The lengths of `text`'s prefixes the pattern matches, shortest first.
    fn prefix_matches<'a>(&'a self, text: &'a [char]) -> impl Iterator<Item = usize> + 'a {
        (0..=text.len()).filter(move |&end| self.matches(&text[..end]))
    }

    fn trim_prefix(&self, value: &str, longest: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let end = if longest {
            self.prefix_matches(&chars).last()
        } else {
            self.prefix_matches(&chars).next()
        };
        end.map_or_else(|| value.to_owned(), |end| chars[end..].iter().collect())
    }

    fn trim_suffix(&self, value: &str, longest: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let starts = (0..=chars.len()).filter(|&start| self.matches(&chars[start..]));
        // The shortest suffix starts last, the longest first.
        let start = if longest { starts.min() } else { starts.max() };
        start.map_or_else(|| value.to_owned(), |start| chars[..start].iter().collect())
    }

    /// Replaces the first (or every) leftmost-longest match in `value`, as `${VAR/p/r}` does.
    fn replace(&self, value: &str, replacement: &str, all: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut position = 0;
        let mut last_end = None;
        while position <= chars.len() {
            let found = self
                .prefix_matches(&chars[position..])
                .last()
                // An empty match right after a match is not one (Go's regexp rule).
                .filter(|&length| length > 0 || last_end != Some(position));
            match found {
                Some(length) => {
                    last_end = Some(position + length);
                    out.push_str(replacement);
                    if length == 0 {
                        // An empty match: keep the next character and go on after it.
                        if let Some(ch) = chars.get(position) {
                            out.push(*ch);
                        }
                        position += 1;
                    } else {
                        position += length;
                    }
                    if !all {
                        out.extend(chars[position.min(chars.len())..].iter());
                        return out;
                    }
                }
                None => {
                    if let Some(ch) = chars.get(position) {
                        out.push(*ch);
                    }
                    position += 1;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
