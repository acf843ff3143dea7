//! Field-level differences between two configurations, for plan reasons such as
//! "environment.LOG_LEVEL, ports[0] changed": the answer to "why was my container recreated?".

use serde_json::Value;

/// The paths where `old` and `new` differ (`a.b`, `list[2]`), in key order, leaves first reached.
pub fn changed_paths(old: &Value, new: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    walk(old, new, &mut String::new(), &mut paths);
    paths
}

fn walk(old: &Value, new: &Value, path: &mut String, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let length = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => walk(x, y, path, out),
                    _ => out.push(path.clone()),
                }
                path.truncate(length);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                let length = path.len();
                path.push_str(&format!("[{index}]"));
                walk(x, y, path, out);
                path.truncate(length);
            }
        }
        (a, b) if a == b => {}
        _ => out.push(if path.is_empty() {
            "(everything)".to_string()
        } else {
            path.clone()
        }),
    }
}

/// A short list for a message: the first few paths and how many more.
pub fn summarize(paths: &[String], limit: usize) -> String {
    let shown: Vec<&str> = paths.iter().take(limit).map(String::as_str).collect();
    let mut text = shown.join(", ");
    if paths.len() > limit {
        text.push_str(&format!(" and {} more", paths.len() - limit));
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_changed_leaves() {
        let old =
            json!({"environment": {"A": "1", "B": "2"}, "ports": [{"target": 80}], "image": "x"});
        let new = json!({"environment": {"A": "1", "B": "3", "C": "4"}, "ports": [{"target": 81}], "image": "x"});
        assert_eq!(
            changed_paths(&old, &new),
            ["environment.B", "environment.C", "ports[0].target"]
        );
        assert_eq!(
            changed_paths(&json!({"ports": [1]}), &json!({"ports": [1, 2]})),
            ["ports"]
        );
        assert!(changed_paths(&old, &old).is_empty());
        assert_eq!(
            summarize(&["a".into(), "b".into(), "c".into()], 2),
            "a, b and 1 more"
        );
    }
}
