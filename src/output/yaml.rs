//! A small YAML writer for JSON-shaped values, in the layout `docker compose config` prints: two-space
//! indents, sequences indented under their key, strings quoted only when YAML would read them as
//! something else.

use serde_json::Value;

/// Renders a value as a YAML document.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, level: usize) {
    for (index, (key, value)) in map.iter().enumerate() {
        if index > 0 {
            indent(out, level);
        }
        out.push_str(&quote_if_needed(key));
        out.push(':');
        write_value_after_key(out, value, level);
    }
}

fn write_value_after_key(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            indent(out, level + 1);
            write_map(out, map, level + 1);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            indent(out, level + 1);
            write_seq(out, items, level + 1);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, items: &[Value], level: usize) {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            indent(out, level);
        }
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => write_map(out, map, level + 1),
            Value::Array(inner) if !inner.is_empty() => write_seq(out, inner, level + 1),
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote_if_needed(s),
        Value::Object(_) => "{}".to_string(),
        Value::Array(_) => "[]".to_string(),
    }
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
        ];
        let value = serde_json::Value::Array(
            strings
                .iter()
                .map(|s| serde_json::Value::String(s.to_string()))
                .collect(),
        );
        let text = to_string(&value);
        let node = yaml::parse(&Source::new("t.yaml", text.clone())).unwrap();
        assert_eq!(typed::to_json(&node), value, "{text}");
    }
}
