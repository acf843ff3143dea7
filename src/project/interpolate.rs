//! Variable interpolation in Compose values: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?error}`, `${VAR?error}`, `${VAR:+alternate}`, `${VAR+alternate}`, nested templates in the
//! default/error/alternate word, and `$$` for a literal `$`.
//!
//! The rules follow compose-go's template package: a variable name is `[_a-zA-Z][_a-zA-Z0-9]*`; a
//! malformed `${...}` is an invalid template, while a `$` followed by anything else (`$1`, `$ `) is
//! literal; an unset variable without a default becomes the empty string with a warning. Only values
//! are interpolated, never keys.

use std::collections::BTreeMap;

use super::diag::Diagnostic;
use super::yaml::{Node, Value};

/// A parsed template: literal text and variable references.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Vec<Segment>);

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Variable {
        name: String,
        modifier: Option<(Modifier, Template)>,
    },
}

/// The operator between a variable name and its word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    /// `:-`: default when unset or empty.
    DefaultIfEmpty,
    /// `-`: default when unset.
    DefaultIfUnset,
    /// `:?`: error when unset or empty.
    RequiredNonEmpty,
    /// `?`: error when unset.
    Required,
    /// `:+`: alternate when set and non-empty.
    AlternateIfNonEmpty,
    /// `+`: alternate when set.
    AlternateIfSet,
}

/// A variable used by a template, as `config --variables` lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Usage {
    pub name: String,
    pub required: bool,
    pub default: Option<String>,
    pub alternate: Option<String>,
}

/// How deeply templates may nest in defaults, errors and alternates (`${A:-${B:-...}}`): the
/// parser, the renderer and the usage collector recurse once per level.
pub const MAX_TEMPLATE_DEPTH: usize = 32;

/// Why a template could not be rendered.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateError {
    Invalid(String),
    /// Templates nested deeper than [`MAX_TEMPLATE_DEPTH`].
    TooDeep,
    Required {
        name: String,
        message: String,
    },
}

/// Why `parse_until` stopped.
enum ParseError {
    Invalid,
    TooDeep,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateError::Invalid(template) => {
                write!(f, "invalid interpolation format {template:?}")
            }
            TemplateError::TooDeep => write!(
                f,
                "templates nested more than {MAX_TEMPLATE_DEPTH} levels deep (`${{A:-${{B:-...}}}}`)"
            ),
            TemplateError::Required { name, message } if message.is_empty() => {
                write!(f, "required variable {name} is missing a value")
            }
            TemplateError::Required { name, message } => {
                write!(f, "required variable {name} is missing a value: {message}")
            }
        }
    }
}

impl Template {
    /// Parses a template. The whole input must be a valid template.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let chars: Vec<char> = text.chars().collect();
        let mut position = 0;
        parse_until(&chars, &mut position, 0).map_err(|error| match error {
            ParseError::Invalid => TemplateError::Invalid(text.to_string()),
            ParseError::TooDeep => TemplateError::TooDeep,
        })
    }

    /// Whether rendering can change the text (it has a variable or a `$$`).
    pub fn is_literal(&self, original: &str) -> bool {
        match self.0.as_slice() {
            [] => true,
            [Segment::Literal(text)] => text == original,
            _ => false,
        }
    }

    /// Renders the template. `lookup` gives a variable's value; unset variables with no default are
    /// reported through `unset` and become empty.
    pub fn render(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
        unset: &mut dyn FnMut(&str),
    ) -> Result<String, TemplateError> {
        let mut out = String::new();
        for segment in &self.0 {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Variable { name, modifier } => {
                    let value = lookup(name);
                    let Some((modifier, word)) = modifier else {
                        match value {
                            Some(value) => out.push_str(&value),
                            None => unset(name),
                        }
                        continue;
                    };
                    let is_set = value.is_some();
                    let is_non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
                    match modifier {
                        Modifier::DefaultIfEmpty if !is_non_empty => {
                            out.push_str(&word.render(lookup, unset)?)
                        }
                        Modifier::DefaultIfUnset if !is_set => {
                            out.push_str(&word.render(lookup, unset)?)
                        }
                        Modifier::RequiredNonEmpty if !is_non_empty => {
                            return Err(TemplateError::Required {
                                name: name.clone(),
                                message: word.render(lookup, unset)?,
                            });
                        }
                        Modifier::Required if !is_set => {
                            return Err(TemplateError::Required {
                                name: name.clone(),
                                message: word.render(lookup, unset)?,
                            });
                        }
                        Modifier::AlternateIfNonEmpty => {
                            if is_non_empty {
                                out.push_str(&word.render(lookup, unset)?);
                            }
                        }
                        Modifier::AlternateIfSet => {
                            if is_set {
                                out.push_str(&word.render(lookup, unset)?);
                            }
                        }
                        _ => out.push_str(value.as_deref().unwrap_or_default()),
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every variable the template refers to, nested ones included.
    pub fn usages(&self, into: &mut Vec<Usage>) {
        for segment in &self.0 {
            if let Segment::Variable { name, modifier } = segment {
                let word = modifier.as_ref().map(|(_, word)| word.to_source());
                let mut usage = Usage {
                    name: name.clone(),
                    required: false,
                    default: None,
                    alternate: None,
                };
                match modifier.as_ref().map(|(m, _)| *m) {
                    Some(Modifier::DefaultIfEmpty | Modifier::DefaultIfUnset) => {
                        usage.default = word
                    }
                    Some(Modifier::RequiredNonEmpty | Modifier::Required) => usage.required = true,
                    Some(Modifier::AlternateIfNonEmpty | Modifier::AlternateIfSet) => {
                        usage.alternate = word
                    }
                    None => {}
                }
                into.push(usage);
                if let Some((_, word)) = modifier {
                    word.usages(into);
                }
            }
        }
    }

    /// The template written back as source text.
    fn to_source(&self) -> String {
        let mut out = String::new();
        for segment in &self.0 {
            match segment {
                Segment::Literal(text) => out.push_str(&text.replace('$', "$$")),
                Segment::Variable {
                    name,
                    modifier: None,
                } => {
                    out.push_str("${");
                    out.push_str(name);
                    out.push('}');
                }
                Segment::Variable {
                    name,
                    modifier: Some((modifier, word)),
                } => {
                    let operator = match modifier {
                        Modifier::DefaultIfEmpty => ":-",
                        Modifier::DefaultIfUnset => "-",
                        Modifier::RequiredNonEmpty => ":?",
                        Modifier::Required => "?",
                        Modifier::AlternateIfNonEmpty => ":+",
                        Modifier::AlternateIfSet => "+",
                    };
                    out.push_str(&format!("${{{name}{operator}{}}}", word.to_source()));
                }
            }
        }
        out
    }
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

/// Parses segments until the end, or until an unmatched `}` when `depth` (the number of enclosing
/// `${NAME:-` words) is not 0.
fn parse_until(chars: &[char], position: &mut usize, depth: usize) -> Result<Template, ParseError> {
    if depth > MAX_TEMPLATE_DEPTH {
        return Err(ParseError::TooDeep);
    }
    let in_braces = depth > 0;
    let mut segments = Vec::new();
    let mut literal = String::new();
    while *position < chars.len() {
        let c = chars[*position];
        if in_braces && c == '}' {
            break;
        }
        if c != '$' {
            literal.push(c);
            *position += 1;
            continue;
        }
        match chars.get(*position + 1) {
            Some('$') => {
                literal.push('$');
                *position += 2;
            }
            Some('{') => {
                *position += 2;
                let start = *position;
                while *position < chars.len() && is_name_char(chars[*position]) {
                    *position += 1;
                }
                let name: String = chars[start..*position].iter().collect();
                if name.is_empty() || !is_name_start(chars[start]) {
                    return Err(ParseError::Invalid);
                }
                let modifier = match (chars.get(*position), chars.get(*position + 1)) {
                    (Some('}'), _) => None,
                    (Some(':'), Some('-')) => Some((Modifier::DefaultIfEmpty, 2)),
                    (Some(':'), Some('?')) => Some((Modifier::RequiredNonEmpty, 2)),
                    (Some(':'), Some('+')) => Some((Modifier::AlternateIfNonEmpty, 2)),
                    (Some('-'), _) => Some((Modifier::DefaultIfUnset, 1)),
                    (Some('?'), _) => Some((Modifier::Required, 1)),
                    (Some('+'), _) => Some((Modifier::AlternateIfSet, 1)),
                    _ => return Err(ParseError::Invalid),
                };
                let modifier = match modifier {
                    None => None,
                    Some((modifier, width)) => {
                        *position += width;
                        Some((modifier, parse_until(chars, position, depth + 1)?))
                    }
                };
                if chars.get(*position) != Some(&'}') {
                    return Err(ParseError::Invalid);
                }
                *position += 1;
                if !literal.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut literal)));
                }
                segments.push(Segment::Variable { name, modifier });
            }
            Some(&next) if is_name_start(next) => {
                // `$NAME`
                *position += 1;
                let start = *position;
                while *position < chars.len() && is_name_char(chars[*position]) {
                    *position += 1;
                }
                if !literal.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut literal)));
                }
                segments.push(Segment::Variable {
                    name: chars[start..*position].iter().collect(),
                    modifier: None,
                });
            }
            _ => {
                // Any other `$` (`$1`, `5 $`, a trailing `$`) is literal, as compose-go's template
                // pattern leaves it; only a malformed `${...}` is an error.
                literal.push('$');
                *position += 1;
            }
        }
    }
    if !literal.is_empty() {
        segments.push(Segment::Literal(literal));
    }
    Ok(Template(segments))
}

/// Interpolates every scalar value of a node tree in place (keys are left alone). Warnings for unset
/// variables are collected once per name.
pub fn interpolate_node(
    node: &mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut BTreeMap<String, ()>,
) -> Result<(), Diagnostic> {
    match &mut node.value {
        Value::Null => Ok(()),
        Value::Scalar(scalar) => {
            if !scalar.text.contains('$') {
                return Ok(());
            }
            let template = Template::parse(&scalar.text).map_err(|error| {
                let hint = match error {
                    TemplateError::TooDeep => "a default, error or alternate word rarely needs more than one nested `${...}`; simplify this value",
                    _ => "write `$$` for a literal `$`, and `${NAME}` or `${NAME:-default}` for a variable",
                };
                Diagnostic::at(&node.span, error.to_string()).with_hint(hint)
            })?;
            let rendered = template
                .render(lookup, &mut |name| {
                    warnings.insert(name.to_string(), ());
                })
                .map_err(|error| match &error {
                    TemplateError::Required { name, .. } => Diagnostic::at(&node.span, error.to_string())
                        .with_hint(format!("set {name} in the shell environment or in the project's .env file")),
                    TemplateError::Invalid(_) | TemplateError::TooDeep => Diagnostic::at(&node.span, error.to_string())
                        .with_hint("write `${NAME}` or `${NAME:-default}` for a variable, `$$` for a literal `$`"),
                })?;
            scalar.text = rendered;
            Ok(())
        }
        Value::Seq(items) => items
            .iter_mut()
            .try_for_each(|item| interpolate_node(item, lookup, warnings)),
        Value::Map(map) => map
            .values_mut()
            .try_for_each(|entry| interpolate_node(&mut entry.node, lookup, warnings)),
    }
}

/// Collects the variables used anywhere in a node tree (for `config --variables` and `--environment`).
pub fn collect_usages(node: &Node, into: &mut Vec<Usage>) {
    match &node.value {
        Value::Null => {}
        Value::Scalar(scalar) => {
            if scalar.text.contains('$')
                && let Ok(template) = Template::parse(&scalar.text)
            {
                template.usages(into);
            }
        }
        Value::Seq(items) => items.iter().for_each(|item| collect_usages(item, into)),
        Value::Map(map) => map
            .values()
            .for_each(|entry| collect_usages(&entry.node, into)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, vars: &[(&str, &str)]) -> Result<String, TemplateError> {
        let lookup = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        Template::parse(template)?.render(&lookup, &mut |_| {})
    }

    #[test]
    fn renders_every_form() {
        let vars = [("SET", "value"), ("EMPTY", ""), ("B", "bee")];
        let cases = [
            ("$SET", "value"),
            ("${SET}", "value"),
            ("x${SET}y", "xvaluey"),
            ("${UNSET:-default}", "default"),
            ("${EMPTY:-default}", "default"),
            ("${EMPTY-default}", ""),
            ("${UNSET-default}", "default"),
            ("${SET:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${EMPTY+alt}", "alt"),
            ("${UNSET+alt}", ""),
            ("${UNSET:-${B}}", "bee"),
            ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
            ("${UNSET:-a-b:c}", "a-b:c"),
            ("$$SET", "$SET"),
            ("$${SET}", "${SET}"),
            ("cost: $$5", "cost: $5"),
            ("$UNSET", ""),
            ("${SET}_suffix", "value_suffix"),
            ("$SET.txt", "value.txt"),
        ];
        for (template, expected) in cases {
            assert_eq!(
                render(template, &vars).as_deref(),
                Ok(expected),
                "{template}"
            );
        }
    }

    #[test]
    fn required_variables_fail_with_the_message() {
        let vars = [("EMPTY", ""), ("WHY", "because")];
        assert_eq!(
            render("${UNSET:?must be set}", &vars)
                .unwrap_err()
                .to_string(),
            "required variable UNSET is missing a value: must be set"
        );
        assert!(render("${EMPTY:?x}", &vars).is_err());
        assert_eq!(render("${EMPTY?x}", &vars).as_deref(), Ok(""));
        assert_eq!(
            render("${UNSET?$WHY}", &vars).unwrap_err().to_string(),
            "required variable UNSET is missing a value: because"
        );
    }

    #[test]
    fn invalid_templates_are_errors() {
        for template in ["${", "${}", "${9}", "${a b}", "${A:-x", "${A x}"] {
            assert!(
                matches!(Template::parse(template), Err(TemplateError::Invalid(_))),
                "{template}"
            );
        }
        for (template, literal) in [
            ("$", "$"),
            ("$1", "$1"),
            ("echo $ x", "echo $ x"),
            ("end$", "end$"),
        ] {
            assert_eq!(render(template, &[]).as_deref(), Ok(literal), "{template}");
        }
    }

    #[test]
    fn limits_nested_templates() {
        let nested = |levels: usize| format!("{}x{}", "${A:-".repeat(levels), "}".repeat(levels));
        assert_eq!(render(&nested(MAX_TEMPLATE_DEPTH), &[]).as_deref(), Ok("x"));
        assert_eq!(
            Template::parse(&nested(MAX_TEMPLATE_DEPTH + 1)),
            Err(TemplateError::TooDeep)
        );
        // Far deeper: an error, not a stack overflow.
        assert_eq!(
            Template::parse(&nested(1_000_000)),
            Err(TemplateError::TooDeep)
        );
    }

    #[test]
    fn lists_usages_with_defaults() {
        let mut usages = Vec::new();
        Template::parse("${A:-x} ${B:?err} ${C:+alt} $D ${E:-${F}}")
            .unwrap()
            .usages(&mut usages);
        let names: Vec<_> = usages
            .iter()
            .map(|u| (u.name.as_str(), u.required, u.default.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                ("A", false, Some("x")),
                ("B", true, None),
                ("C", false, None),
                ("D", false, None),
                ("E", false, Some("${F}")),
                ("F", false, None)
            ]
        );
    }
}
