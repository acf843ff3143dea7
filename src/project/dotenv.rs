//! The one parser for `.env` files and `env_file:` files, with compose-go's dotenv rules.
//!
//! `KEY=VALUE` (or `KEY: VALUE`), an optional `export ` prefix, `#` comments (inline only after a
//! space in an unquoted value: `" #"`), single quotes taken literally, double quotes with `\n \r \t \\ \"`
//! escapes, both kinds of quotes spanning lines, `${VAR}` interpolation in unquoted and double-quoted
//! values, a bare `KEY` taking its value from the environment, and a UTF-8 BOM.

use super::interpolate::Template;

/// One variable defined by a dotenv file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    /// `None` for a bare `KEY` line whose variable is not set in the environment.
    pub value: Option<String>,
    /// The 1-based line where the definition starts.
    pub line: u32,
}

/// A syntax error in a dotenv file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: u32,
    pub message: String,
}

/// Parses dotenv text. `lookup` resolves variables for interpolation and bare keys; variables defined
/// earlier in the same file are seen by later lines when `lookup` does not know them.
pub fn parse(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Variable>, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let chars: Vec<char> = text.chars().collect();
    let mut variables: Vec<Variable> = Vec::new();
    let mut position = 0;
    let mut line = 1u32;
    while position < chars.len() {
        // Skip blank space and comment lines.
        let c = chars[position];
        if c == '\n' {
            line += 1;
            position += 1;
            continue;
        }
        if c.is_whitespace() {
            position += 1;
            continue;
        }
        if c == '#' {
            while position < chars.len() && chars[position] != '\n' {
                position += 1;
            }
            continue;
        }
        let start_line = line;
        // The key, with an optional `export ` prefix.
        let mut key = read_key(&chars, &mut position);
        if key == "export" && position < chars.len() && matches!(chars[position], ' ' | '\t') {
            skip_inline_space(&chars, &mut position);
            key = read_key(&chars, &mut position);
        }
        if key.is_empty() {
            return Err(Error {
                line,
                message: format!(
                    "unexpected character {:?}: expected a variable name",
                    chars[position]
                ),
            });
        }
        if let Some(bad) = key
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']')))
        {
            return Err(Error {
                line,
                message: format!("invalid character {bad:?} in variable name {key:?}"),
            });
        }
        skip_inline_space(&chars, &mut position);
        let separator = chars.get(position).copied();
        let lookup_known = |name: &str| {
            lookup(name).or_else(|| {
                variables
                    .iter()
                    .rev()
                    .find(|v| v.name == name)
                    .and_then(|v| v.value.clone())
            })
        };
        let value = match separator {
            None | Some('\n') | Some('#') => {
                // A bare key: take the value from the environment.
                while position < chars.len() && chars[position] != '\n' {
                    position += 1;
                }
                lookup(&key)
            }
            Some('=') | Some(':') => {
                position += 1;
                skip_inline_space(&chars, &mut position);
                Some(read_value(&chars, &mut position, &mut line, &lookup_known)?)
            }
            Some(other) => {
                return Err(Error {
                    line,
                    message: format!(
                        "unexpected character {other:?} after variable name {key:?}: expected `=`"
                    ),
                });
            }
        };
        variables.push(Variable {
            name: key,
            value,
            line: start_line,
        });
    }
    Ok(variables)
}

fn read_key(chars: &[char], position: &mut usize) -> String {
    let start = *position;
    while *position < chars.len()
        && !matches!(chars[*position], '=' | ':' | ' ' | '\t' | '\n' | '\r' | '#')
    {
        *position += 1;
    }
    chars[start..*position].iter().collect()
}

fn skip_inline_space(chars: &[char], position: &mut usize) {
    while *position < chars.len() && matches!(chars[*position], ' ' | '\t' | '\r') {
        *position += 1;
    }
}

fn read_value(
    chars: &[char],
    position: &mut usize,
    line: &mut u32,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Error> {
    let start_line = *line;
    match chars.get(*position) {
        Some(&quote @ ('\'' | '"')) => {
            *position += 1;
            let mut raw = String::new();
            loop {
                let Some(&c) = chars.get(*position) else {
                    return Err(Error {
                        line: start_line,
                        message: format!("unterminated quoted value (missing closing {quote})"),
                    });
                };
                *position += 1;
                if c == '\n' {
                    *line += 1;
                }
                if c == quote {
                    break;
                }
                if c == '\\' && quote == '"' {
                    let escaped = chars.get(*position).copied();
                    *position += 1;
                    match escaped {
                        Some('n') => raw.push('\n'),
                        Some('r') => raw.push('\r'),
                        Some('t') => raw.push('\t'),
                        Some('\\') => raw.push('\\'),
                        Some('"') => raw.push('"'),
                        Some('$') => raw.push_str("$$"),
                        Some(other) => {
                            raw.push('\\');
                            raw.push(other);
                        }
                        None => raw.push('\\'),
                    }
                    continue;
                }
                raw.push(c);
            }
            // Anything after the closing quote up to the end of line must be blank or a comment.
            skip_inline_space(chars, position);
            match chars.get(*position) {
                None | Some('\n') => {}
                Some('#') => {
                    while *position < chars.len() && chars[*position] != '\n' {
                        *position += 1;
                    }
                }
                Some(other) => {
                    return Err(Error {
                        line: *line,
                        message: format!("unexpected character {other:?} after the closing quote"),
                    });
                }
            }
            if quote == '\'' {
                Ok(raw)
            } else {
                expand(&raw, lookup, start_line)
            }
        }
        _ => {
            let mut raw = String::new();
            while let Some(&c) = chars.get(*position) {
                if c == '\n' {
                    break;
                }
                if c == '#' && raw.ends_with(' ') {
                    while *position < chars.len() && chars[*position] != '\n' {
                        *position += 1;
                    }
                    break;
                }
                raw.push(c);
                *position += 1;
            }
            expand(raw.trim(), lookup, start_line)
        }
    }
}

/// Interpolates a value; a value that is not a valid template is kept as written.
fn expand(raw: &str, lookup: &dyn Fn(&str) -> Option<String>, line: u32) -> Result<String, Error> {
    if !raw.contains('$') {
        return Ok(raw.to_string());
    }
    let Ok(template) = Template::parse(raw) else {
        return Ok(raw.to_string());
    };
    template.render(lookup, &mut |_| {}).map_err(|error| Error {
        line,
        message: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_map(text: &str) -> Vec<(String, Option<String>)> {
        let lookup = |name: &str| (name == "HOME_VAR").then(|| "from-env".to_string());
        parse(text, &lookup)
            .unwrap()
            .into_iter()
            .map(|v| (v.name, v.value))
            .collect()
    }

    fn pairs(items: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn parses_the_common_forms() {
        let text = "\u{feff}# comment\nA=1\nexport B=two words\nC = spaced \nD=\"quoted # not comment\"\nE='single $A'\nF=x # comment\nG=x#not\nH=\"line1\\nline2\"\nI=${A}-$B\nHOME_VAR\nMISSING\nJ: yaml style\n";
        assert_eq!(
            parse_map(text),
            pairs(&[
                ("A", Some("1")),
                ("B", Some("two words")),
                ("C", Some("spaced")),
                ("D", Some("quoted # not comment")),
                ("E", Some("single $A")),
                ("F", Some("x")),
                ("G", Some("x#not")),
                ("H", Some("line1\nline2")),
                ("I", Some("1-two words")),
                ("HOME_VAR", Some("from-env")),
                ("MISSING", None),
                ("J", Some("yaml style")),
            ])
        );
    }

    #[test]
    fn quoted_values_span_lines_and_keep_line_numbers() {
        let variables = parse("A=\"one\ntwo\"\nB='x\ny'\nC=3\n", &|_| None).unwrap();
        assert_eq!(variables[0].value.as_deref(), Some("one\ntwo"));
        assert_eq!(variables[1].value.as_deref(), Some("x\ny"));
        assert_eq!((variables[2].name.as_str(), variables[2].line), ("C", 5));
    }

    #[test]
    fn reports_errors_with_lines() {
        assert_eq!(parse("A=1\nB=\"open\n", &|_| None).unwrap_err().line, 2);
        assert!(parse("BAD KEY=1\n", &|_| None).is_err());
        assert!(parse("A=\"x\" trailing\n", &|_| None).is_err());
    }

    #[test]
    fn empty_values_are_empty_strings() {
        assert_eq!(
            parse_map("A=\nB=''\n"),
            pairs(&[("A", Some("")), ("B", Some(""))])
        );
    }
}
