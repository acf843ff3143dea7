//! The merged node tree to the typed [`Project`]: the model's own types decide what is valid (unknown
//! keys are rejected), and serde's errors are turned into diagnostics at the offending key, with a
//! "did you mean" when a key looks like a typo of a known one.

use serde_json::{Map as JsonMap, Number, Value as Json};

use super::diag::{Diagnostic, Span, did_you_mean};
use super::model::Project;
use super::yaml::{Node, Typed, Value};

/// Converts a node tree to JSON values, typing plain scalars as YAML 1.2 does.
pub fn to_json(node: &Node) -> Json {
    match &node.value {
        Value::Null => Json::Null,
        Value::Scalar(scalar) => match scalar.typed() {
            Typed::Bool(value) => Json::Bool(value),
            Typed::Int(value) => Json::Number(value.into()),
            Typed::Float(value) => Number::from_f64(value)
                .map(Json::Number)
                .unwrap_or_else(|| Json::String(scalar.text.clone())),
            Typed::Str => Json::String(scalar.text.clone()),
        },
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(map) => Json::Object(
            map.iter()
                .map(|(key, entry)| (key.clone(), to_json(&entry.node)))
                .collect(),
        ),
    }
}

/// Deserializes the project; `root` must already hold `name` and no `x-`, `version` or `include` keys.
pub fn to_project(root: &Node) -> Result<Project, Diagnostic> {
    let json = to_json(root);
    serde_path_to_error::deserialize::<_, Project>(json).map_err(|error| {
        let segments: Vec<String> = error
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                _ => None,
            })
            .collect();
        diagnose(root, &segments, &error.inner().to_string())
    })
}

/// Warnings for the YAML 1.1 booleans (`yes`, `off`...) the project was read with, as docker compose
/// v2 warns: each scalar of `root` that is one and is a boolean in the typed `project`.
pub fn yaml11_bool_warnings(root: &Node, project: &Project) -> Vec<String> {
    fn walk(node: &Node, typed: &Json, out: &mut Vec<String>) {
        match (&node.value, typed) {
            (Value::Map(map), Json::Object(fields)) => {
                for (key, entry) in map {
                    match fields.get(key) {
                        Some(field) => walk(&entry.node, field, out),
                        // A false boolean is not printed: the field is absent from the model.
                        None => walk(&entry.node, &Json::Bool(false), out),
                    }
                }
            }
            (Value::Seq(items), Json::Array(values)) => {
                for (item, value) in items.iter().zip(values) {
                    walk(item, value, out);
                }
            }
            (Value::Scalar(scalar), Json::Bool(value))
                if super::model::yaml11_bool(&scalar.text) == Some(*value) =>
            {
                out.push(format!(
                    "{}: {:?} for boolean is not supported by YAML 1.2, please use `{value}`",
                    node.span, scalar.text
                ));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(typed) = serde_json::to_value(project) {
        walk(root, &typed, &mut out);
    }
    out
}

/// Builds the diagnostic for a serde error at `segments`.
fn diagnose(root: &Node, segments: &[String], message: &str) -> Diagnostic {
    if let Some(unknown) = between(message, "unknown field `", "`") {
        // The path may or may not end with the unknown key itself.
        let parent = match segments.split_last() {
            Some((last, parent)) if last == unknown => parent,
            _ => segments,
        };
        let (node, _) = walk(root, parent);
        let place = describe(parent);
        let span = node
            .as_map()
            .and_then(|m| m.get(unknown))
            .map(|e| e.key_span.clone())
            .unwrap_or_else(|| node.span.clone());
        let expected = expected_keys(message);
        let diagnostic = Diagnostic::at(&span, format!("unknown key {unknown:?}{place}"));
        return match did_you_mean(unknown, expected.iter().copied()) {
            Some(suggestion) => diagnostic.with_hint(format!("did you mean {suggestion:?}?")),
            None if unknown.starts_with('x') => {
                diagnostic.with_hint("extension keys start with `x-`")
            }
            None => diagnostic.with_hint(format!(
                "the keys allowed here are: {}",
                expected.join(", ")
            )),
        };
    }
    let (node, key_span) = walk(root, segments);
    let place = describe(segments);
    if let Some(missing) = between(message, "missing field `", "`") {
        return Diagnostic::at(&node.span, format!("missing key {missing:?}{place}"))
            .with_hint(format!("add `{missing}:` here"));
    }
    let span = if node.is_null() {
        key_span.unwrap_or_else(|| node.span.clone())
    } else {
        node.span.clone()
    };
    let friendly = message
        .replace("invalid type: ", "wrong type: ")
        .replace("map", "mapping")
        .replace("sequence", "list");
    let value = match node.as_scalar() {
        Some(scalar) => format!(" (found {:?})", scalar.text),
        None => String::new(),
    };
    let hint = match node.as_scalar().map(|s| s.typed()) {
        Some(Typed::Str) if friendly.contains("expected a boolean") => {
            "write true or false without quotes".to_string()
        }
        _ => "see the Compose Specification for the allowed forms of this attribute".to_string(),
    };
    Diagnostic::at(
        &span,
        format!("{}{place}{value}", friendly.trim_end_matches('.')),
    )
    .with_hint(hint)
}

/// The keys serde lists after "expected" (`a`, "`a` or `b`", "one of `a`, `b`, `c`").
fn expected_keys(message: &str) -> Vec<&str> {
    let Some((_, list)) = message.split_once("expected ") else {
        return Vec::new();
    };
    list.trim_start_matches("one of ")
        .split(", ")
        .flat_map(|part| part.split(" or "))
        .map(|key| key.trim().trim_matches('`'))
        .filter(|key| !key.is_empty())
        .collect()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

/// Follows map keys and sequence indexes down the tree as far as they go.
pub fn walk<'a>(root: &'a Node, segments: &[String]) -> (&'a Node, Option<Span>) {
    let mut node = root;
    let mut key_span = None;
    for segment in segments {
        let next = match &node.value {
            Value::Map(map) => map.get(segment).map(|entry| {
                key_span = Some(entry.key_span.clone());
                &entry.node
            }),
            Value::Seq(items) => {
                key_span = None;
                segment
                    .parse::<usize>()
                    .ok()
                    .and_then(|index| items.get(index))
            }
            _ => None,
        };
        match next {
            Some(next) => node = next,
            None => break,
        }
    }
    (node, key_span)
}

/// " in service \"web\" (ports[0])" style context for messages.
fn describe(segments: &[String]) -> String {
    let mut out = String::new();
    let rest = match segments {
        [section, name, rest @ ..]
            if matches!(
                section.as_str(),
                "services" | "networks" | "volumes" | "secrets" | "configs" | "models"
            ) =>
        {
            out.push_str(&format!(" in {} {name:?}", section.trim_end_matches('s')));
            rest
        }
        other => other,
    };
    if !rest.is_empty() {
        let mut path = String::new();
        for segment in rest {
            if segment.parse::<usize>().is_ok() {
                path.push_str(&format!("[{segment}]"));
            } else {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(segment);
            }
        }
        out.push_str(&format!(" at `{path}`"));
    }
    out
}

/// Splits the top-level `x-` extension keys off the tree, keeping them for output.
pub fn take_extensions(root: &mut Node) -> JsonMap<String, Json> {
    let Some(map) = root.as_map_mut() else {
        return JsonMap::new();
    };
    let keys: Vec<String> = map
        .keys()
        .filter(|k| k.starts_with("x-"))
        .cloned()
        .collect();
    keys.into_iter()
        .filter_map(|key| {
            map.shift_remove(&key)
                .map(|entry| (key, to_json(&entry.node)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_serde_key_lists() {
        assert_eq!(
            super::expected_keys("unknown field `x`, expected `hard` or `soft`"),
            ["hard", "soft"]
        );
        assert_eq!(
            super::expected_keys("unknown field `x`, expected `subpath`"),
            ["subpath"]
        );
        assert_eq!(
            super::expected_keys("unknown field `x`, expected one of `a`, `b`, `c`"),
            ["a", "b", "c"]
        );
        assert!(super::expected_keys("unknown field `x`, there are no fields").is_empty());
    }
}
