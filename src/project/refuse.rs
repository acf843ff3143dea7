//! What `up`, `create` and `run` refuse before anything is made, each at the line that asks for it:
//! attributes that `config` accepts (as docker compose's does) but that cannot take effect here.
//! docker compose refuses most of these only when it creates the container that needs them; the
//! services to run are checked first here, so a refused attribute leaves nothing half made.

use super::Loaded;
use super::diag::{Diagnostic, Diagnostics, Span};
use super::model::Service;
use super::typed::walk;

/// Checks the services `up`/`create`/`run` would make containers for (all when `services` is
/// empty).
pub fn check(loaded: &Loaded, services: &[String]) -> Result<(), Diagnostics> {
    let at = |path: &[&str]| -> Span {
        let segments: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        let (node, key_span) = walk(&loaded.tree, &segments);
        key_span.unwrap_or_else(|| node.span.clone())
    };
    let project = &loaded.project;
    let mut problems = Vec::new();
    let selected = project
        .services
        .iter()
        .filter(|(name, _)| services.is_empty() || services.contains(name));
    for (name, service) in selected {
        problems.extend(external_files(project, name, service, &at));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics(problems))
    }
}

/// `external: true` secrets and configs live in a swarm, which a single engine does not have:
/// docker compose fails with "unsupported external secret NAME".
fn external_files(
    project: &super::model::Project,
    name: &str,
    service: &Service,
    at: &dyn Fn(&[&str]) -> Span,
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    for (kind, section, references) in [
        ("secret", "secrets", &service.secrets),
        ("config", "configs", &service.configs),
    ] {
        for reference in references {
            let key = reference.source.as_str();
            let (external, resource_name) = match section {
                "secrets" => project
                    .secrets
                    .get(key)
                    .map(|s| (s.external, s.name.clone())),
                _ => project
                    .configs
                    .get(key)
                    .map(|c| (c.external, c.name.clone())),
            }
            .unwrap_or((false, None));
            if external {
                let resource_name = resource_name.unwrap_or_else(|| key.to_string());
                problems.push(
                    Diagnostic::at(
                        &at(&[section, key, "external"]),
                        format!("unsupported external {kind} {resource_name} (used by service {name:?})"),
                    )
                    .with_hint(format!(
                        "external {section} exist only in a swarm; give it `file:`, `environment:`{}",
                        if kind == "config" { " or `content:`" } else { "" }
                    )),
                );
            }
        }
    }
    problems
}
