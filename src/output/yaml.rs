//! A small YAML writer for JSON-shaped values, in the layout `docker compose config` prints: two-space
//! indents, sequences indented under their key, strings quoted only when YAML would read them as
//! something else.
//!
//! Two scalar styles: [`to_string`] double-quotes every string that needs quotes; [`to_string_go`]
//! picks the style go-yaml (docker compose v2's encoder) picks — double quotes for what a YAML 1.1 or
//! 1.2 reader would take for another type (`"1_000"`, `"12:30"`, `"on"`), a literal block for
//! multi-line text, plain when YAML allows it, single quotes otherwise — so `config` prints what v2
//! prints.

use serde_json::Value;

/// How strings are written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scalars {
    /// Plain, or double-quoted when plain would not read back as the same string.
    Quoted,
    /// As go-yaml v3 writes them.
    Go,
}

/// Renders a value as a YAML document.
pub fn to_string(value: &Value) -> String {
    render(value, Scalars::Quoted)
}

/// Renders a value as a YAML document with go-yaml's scalar styles (as docker compose v2 prints).
pub fn to_string_go(value: &Value) -> String {
    render(value, Scalars::Go)
}

fn render(value: &Value, style: Scalars) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0, style),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0, style),
        other => write_scalar(&mut out, other, 0, style),
    }
    out
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, level: usize, style: Scalars) {
    for (index, (key, value)) in map.iter().enumerate() {
        if index > 0 {
            indent(out, level);
        }
        out.push_str(&key_text(key, style));
        out.push(':');
        write_value_after_key(out, value, level, style);
    }
}

fn write_value_after_key(out: &mut String, value: &Value, level: usize, style: Scalars) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            indent(out, level + 1);
            write_map(out, map, level + 1, style);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            indent(out, level + 1);
            write_seq(out, items, level + 1, style);
        }
        other => {
            out.push(' ');
            write_scalar(out, other, level + 1, style);
        }
    }
}

fn write_seq(out: &mut String, items: &[Value], level: usize, style: Scalars) {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            indent(out, level);
        }
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => write_map(out, map, level + 1, style),
            Value::Array(inner) if !inner.is_empty() => write_seq(out, inner, level + 1, style),
            other => write_scalar(out, other, level + 1, style),
        }
    }
}

/// Writes a scalar and its line end; a literal block's lines are indented at `level`.
fn write_scalar(out: &mut String, value: &Value, level: usize, style: Scalars) {
    let text = match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if style == Scalars::Go => match go_style(s) {
            GoStyle::Literal => return write_literal(out, s, level),
            GoStyle::Plain => s.clone(),
            GoStyle::Single => format!("'{}'", s.replace('\'', "''")),
            GoStyle::Double => double_quoted(s),
        },
        Value::String(s) => quote_if_needed(s),
        Value::Object(_) => "{}".to_string(),
        Value::Array(_) => "[]".to_string(),
    };
    out.push_str(&text);
    out.push('\n');
}

fn key_text(key: &str, style: Scalars) -> String {
    match (style, go_style(key)) {
        (Scalars::Quoted, _) => quote_if_needed(key),
        (Scalars::Go, GoStyle::Plain) => key.to_string(),
        (Scalars::Go, GoStyle::Single) => format!("'{}'", key.replace('\'', "''")),
        (Scalars::Go, _) => double_quoted(key),
    }
}

/// A literal block (`|`, `|-` without a final line break, `|+` with several).
fn write_literal(out: &mut String, text: &str, level: usize) {
    let body = text.trim_end_matches('\n');
    let chomping = match text.len() - body.len() {
        0 => "-",
        1 => "",
        _ => "+",
    };
    out.push('|');
    out.push_str(chomping);
    out.push('\n');
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches('\n');
        if !content.is_empty() {
            indent(out, level);
            out.push_str(content);
        }
        out.push('\n');
    }
}

#[derive(Debug, PartialEq, Eq)]
enum GoStyle {
    Plain,
    Single,
    Double,
    Literal,
}

/// The style go-yaml v3 gives a string.
fn go_style(text: &str) -> GoStyle {
    if text.is_empty() || go_reads_as_other_type(text) {
        return GoStyle::Double;
    }
    let special = text
        .chars()
        .any(|c| (c.is_control() && c != '\n') || c == '\u{feff}' || c == '\u{85}');
    if text.contains('\n') {
        let space_before_break = text.contains(" \n") || text.ends_with(' ');
        let leading = text.starts_with([' ', '\n']);
        return if special || space_before_break || leading {
            GoStyle::Double
        } else {
            GoStyle::Literal
        };
    }
    if special {
        return GoStyle::Double;
    }
    if plain_allowed(text) {
        GoStyle::Plain
    } else {
        GoStyle::Single
    }
}

/// Whether go-yaml writes the string plain in block context.
fn plain_allowed(text: &str) -> bool {
    if text.starts_with(' ') || text.ends_with(' ') {
        return false;
    }
    let mut chars = text.chars().peekable();
    let first = chars.next().unwrap_or(' ');
    let second_is_blank = chars.peek().is_none_or(|c| *c == ' ');
    if "#,[]{}&*!|>'\"%@`".contains(first) {
        return false;
    }
    if "?:-".contains(first) && second_is_blank {
        return false;
    }
    !(text.contains(": ") || text.ends_with(':') || text.contains(" #"))
}

/// Whether go-yaml (or a YAML 1.1 reader) would read the plain string as something else than a
/// string: booleans (also `on`, `yes`, `y`...), null, integers and floats (`_` separators, `0x`, `0o`,
/// `0b`), sexagesimal numbers (`12:30`) and timestamps (`2001-01-01`).
fn go_reads_as_other_type(text: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF", "true", "True", "TRUE", "false", "False", "FALSE", "~", "null", "Null", "NULL",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN", "<<",
    ];
    if WORDS.contains(&text) {
        return true;
    }
    let plain = text.replace('_', "");
    let unsigned = plain.strip_prefix(['+', '-']).unwrap_or(&plain);
    let radix = |prefix: &str, radix: u32| {
        unsigned
            .strip_prefix(prefix)
            .is_some_and(|d| !d.is_empty() && u64::from_str_radix(d, radix).is_ok())
    };
    let digits = !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit());
    if digits || radix("0x", 16) || radix("0o", 8) || radix("0b", 2) {
        return true;
    }
    if is_yaml_float(unsigned) || is_sexagesimal(unsigned) || is_timestamp(text) {
        return true;
    }
    false
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` without its sign.
fn is_yaml_float(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => {
            whole.bytes().all(|b| b.is_ascii_digit())
                && fraction.bytes().all(|b| b.is_ascii_digit())
                && (!whole.is_empty() || !fraction.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    mantissa_ok && exponent_ok
}

/// YAML 1.1 sexagesimal numbers: `[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?`.
fn is_sexagesimal(text: &str) -> bool {
    let (main, fraction) = match text.split_once('.') {
        Some((main, fraction)) => (main, Some(fraction)),
        None => (text, None),
    };
    let mut parts = main.split(':');
    let head = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && head.starts_with(|c: char| c.is_ascii_digit())
        && head.bytes().all(|b| b.is_ascii_digit())
        && rest.iter().all(|p| {
            (1..=2).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || p.as_bytes()[0] <= b'5')
        })
        && fraction.is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit()))
}

/// A YAML timestamp: `YYYY-M-D`, optionally followed by a time after `T`, `t` or a space.
fn is_timestamp(text: &str) -> bool {
    let date = text.split(['T', 't', ' ']).next().unwrap_or_default();
    let parts: Vec<&str> = date.split('-').collect();
    parts.len() == 3
        && parts[0].len() == 4
        && (1..=2).contains(&parts[1].len())
        && (1..=2).contains(&parts[2].len())
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// Quotes a string when a YAML reader would not read it back as the same string.
pub fn quote_if_needed(text: &str) -> String {
    if needs_quotes(text) {
        double_quoted(text)
    } else {
        text.to_string()
    }
}

fn needs_quotes(text: &str) -> bool {
    if text.is_empty() || text != text.trim() {
        return true;
    }
    let lower = text.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | "null"
            | "~"
            | ".inf"
            | "-.inf"
            | ".nan"
    ) {
        return true;
    }
    if crate::project::yaml::resolve_plain(text) != crate::project::yaml::Typed::Str {
        return true;
    }
    if text.parse::<f64>().is_ok() {
        return true;
    }
    let first = text.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first)
        && !(first == '-' && text.len() > 1 && !text.starts_with("- "))
    {
        return true;
    }
    if first == '-' && text.starts_with("- ") {
        return true;
    }
    text.contains(": ")
        || text.contains(" #")
        || text.ends_with(':')
        || text.chars().any(|c| c.is_control() || c == '\u{feff}')
}

fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::diag::Source;
    use crate::project::{typed, yaml};

    #[test]
    fn renders_compose_layout() {
        let value = serde_json::json!({
            "name": "demo",
            "services": {"web": {"command": ["sh", "-c", "echo hi: there"], "ports": [{"mode": "ingress", "target": 80, "published": "8080"}], "environment": {"A": null, "B": "yes", "C": ""}, "networks": {"default": null}}},
            "volumes": {}
        });
        assert_eq!(
            to_string(&value),
            "name: demo\nservices:\n  web:\n    command:\n      - sh\n      - -c\n      - \"echo hi: there\"\n    ports:\n      - mode: ingress\n        target: 80\n        published: \"8080\"\n    environment:\n      A: null\n      B: \"yes\"\n      C: \"\"\n    networks:\n      default: null\nvolumes: {}\n"
        );
    }

    #[test]
    fn picks_go_yaml_styles() {
        let value = serde_json::json!({
            "a": ["1_000", "12:30", "infinity", "NaN", "::1", "a: b", "[]", "-", "on", "2001-01-01",
                  "0x1F", ".5", "1.2.3", "it's", "x", "", "line\nbreak\n", "no break\nat end"],
            "N": "y"
        });
        assert_eq!(
            to_string_go(&value),
            "a:\n  - \"1_000\"\n  - \"12:30\"\n  - infinity\n  - NaN\n  - ::1\n  - 'a: b'\n  - '[]'\n  - '-'\n  - \"on\"\n  - \"2001-01-01\"\n  - \"0x1F\"\n  - \".5\"\n  - 1.2.3\n  - it's\n  - x\n  - \"\"\n  - |\n    line\n    break\n  - |-\n    no break\n    at end\n\"N\": \"y\"\n"
        );
    }

    #[test]
    fn round_trips_tricky_strings() {
        let strings = [
            "",
            " x",
            "true",
            "0755",
            "1.5",
            "- a",
            "-x",
            "a: b",
            "a #b",
            "#x",
            "*x",
            "{x}",
            "x:",
            "line\nbreak",
            "tab\there",
            "~",
            "null",
            "8080:80",
            "é",
            "\"q\"",
            "'s'",
            "@x",
            "%x",
            "a\\b",
            "1_000",
            "12:30",
            "::1",
            "it's",
            "on",
            "y",
            "2001-01-01",
            "a\n\nb\n\n",
            "text\n",
            "- item\nmore",
        ];
        let value = serde_json::Value::Array(
            strings
                .iter()
                .map(|s| serde_json::Value::String(s.to_string()))
                .collect(),
        );
        for text in [to_string(&value), to_string_go(&value)] {
            let node = yaml::parse(&Source::new("t.yaml", text.clone())).unwrap();
            assert_eq!(typed::to_json(&node), value, "{text}");
        }
    }
}
