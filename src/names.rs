//! THE place where names are derived, so that every command agrees with docker compose on them:
//! project names, `<project>-<service>-<n>` containers, `<project>_<key>` networks and volumes.

/// Why a project name was refused.
pub const PROJECT_NAME_RULE: &str = "must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number";

/// Whether a name given explicitly (`-p`, `COMPOSE_PROJECT_NAME`, `name:`) is a valid project name.
pub fn is_valid_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Turns a directory name into a project name: lowercase, only `a-z0-9_-`, no leading `_` or `-`.
pub fn normalize_project_name(name: &str) -> String {
    let lowered: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect();
    lowered.trim_start_matches(['-', '_']).to_string()
}

/// What a valid host name is, for hints.
pub const HOST_NAME_RULE: &str = "a host name is made of letters, digits, `-` and `_`, in labels separated by `.` (at most 63 characters each, 253 in all), and starts with a letter or a digit";

/// Why `name` is not a valid host name (`hostname`, `domainname`, network aliases, `links` aliases,
/// `extra_hosts` names), or `None` when it is one: RFC 1123 labels of letters, digits and `-`, plus
/// `_` as docker allows, separated by single dots; it starts with a letter or a digit; a label has at
/// most 63 characters and the whole at most 253. These names are written into other containers'
/// /etc/hosts and DNS answers, so a line break, a space or a `/` in one must never get through.
pub fn host_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".to_string());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Some(character_problem(bad));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("it must start with a letter or a digit".to_string());
    }
    if name.split('.').any(str::is_empty) {
        return Some("it has an empty label (two dots in a row, or a dot at the end)".to_string());
    }
    if let Some(label) = name.split('.').find(|label| label.len() > 63) {
        return Some(format!("its label {label:?} is longer than 63 characters"));
    }
    if name.len() > 253 {
        return Some("it is longer than 253 characters".to_string());
    }
    None
}

/// What a valid container name is (docker's rule), for hints.
pub const CONTAINER_NAME_RULE: &str = "a container name matches [a-zA-Z0-9][a-zA-Z0-9_.-]+: letters, digits, `_`, `.` and `-`, at least two characters, starting with a letter or a digit";

/// Why `name` is not a valid `container_name`, or `None` when it is one: docker's
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, matched against the whole name (the container name is also a host
/// name of the container and a path component of the state root).
pub fn container_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".to_string());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Some(character_problem(bad));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("it must start with a letter or a digit".to_string());
    }
    if name.len() < 2 {
        return Some("it must have at least two characters".to_string());
    }
    None
}

/// Names a character a name may not hold.
fn character_problem(bad: char) -> String {
    match bad {
        '\n' | '\r' => "it contains a line break".to_string(),
        c if c.is_whitespace() => format!("it contains white space ({c:?})"),
        c if c.is_control() => format!("it contains a control character ({c:?})"),
        c => format!("it contains {c:?}"),
    }
}

/// The name of a project-scoped network, volume, secret or config that has no `name:`.
pub fn resource_name(project: &str, key: &str) -> String {
    format!("{project}_{key}")
}

/// The name of a service's container number `number` (from 1).
pub fn container_name(project: &str, service: &str, number: u32) -> String {
    format!("{project}-{service}-{number}")
}

/// The name of a one-off (`run`) container: `<project>-<service>-run-<first 12 characters of slug>`.
pub fn oneoff_container_name(project: &str, service: &str, slug: &str) -> String {
    let short: String = slug.chars().take(12).collect();
    format!("{project}-{service}-run-{short}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names() {
        assert_eq!(normalize_project_name("My App.v2"), "myappv2");
        assert_eq!(normalize_project_name("__x-Y"), "x-y");
        assert_eq!(normalize_project_name("Ünïcode"), "ncode");
        assert!(is_valid_project_name("demo_1-x"));
        assert!(!is_valid_project_name("Demo"));
        assert!(!is_valid_project_name("-demo"));
        assert!(!is_valid_project_name(""));
        assert_eq!(container_name("demo", "web", 1), "demo-web-1");
        assert_eq!(resource_name("demo", "default"), "demo_default");
        assert_eq!(
            oneoff_container_name("demo", "web", "0123456789abcdef0123"),
            "demo-web-run-0123456789ab"
        );
    }

    #[test]
    fn host_names() {
        for valid in [
            "web",
            "db-1",
            "my_service",
            "a",
            "example.internal",
            "1.2.3.4",
            "x-",
        ] {
            assert_eq!(host_name_problem(valid), None, "{valid}");
        }
        assert_eq!(host_name_problem(&"a".repeat(63)), None);
        let long = vec!["a".repeat(63); 4].join(".");
        assert_eq!(host_name_problem(&long[..253]), None);
        for (invalid, why) in [
            ("a\n6.6.6.6 victim", "line break"),
            ("a b", "white space"),
            ("a\tb", "white space"),
            ("a\u{0}b", "control character"),
            ("a/b", "'/'"),
            ("../../evil", "'/'"),
            ("ünï", "'ü'"),
            ("", "empty"),
            ("-ab", "start with"),
            ("_ab", "start with"),
            (".ab", "start with"),
            ("a..b", "empty label"),
            ("ab.", "empty label"),
        ] {
            let problem = host_name_problem(invalid).unwrap_or_default();
            assert!(problem.contains(why), "{invalid:?}: {problem}");
        }
        assert!(host_name_problem(&"a".repeat(64)).unwrap().contains("63"));
        assert!(host_name_problem(&long).unwrap().contains("253"));
    }

    #[test]
    fn container_names() {
        for valid in ["example-app", "db_1", "a.b", "0x", "web-"] {
            assert_eq!(container_name_problem(valid), None, "{valid}");
        }
        for invalid in [
            "../../evil",
            "a/b",
            "a",
            "",
            "-abc",
            "_ab",
            "a b",
            "a\nb",
            "/abc",
        ] {
            assert!(container_name_problem(invalid).is_some(), "{invalid:?}");
        }
    }
}
