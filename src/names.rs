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
}
