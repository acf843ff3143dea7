//! What `up`, `create` and `run` refuse before anything is made, each at the line that asks for it:
//! attributes that `config` accepts (as docker compose's does) but that cannot take effect here.
//! docker compose refuses most of these only when it creates the container that needs them; the
//! services to run are checked first here, so a refused attribute leaves nothing half made.

use super::Loaded;
use super::diag::{Diagnostic, Diagnostics, Span};
use super::model::{Logging, Service};
use super::typed::walk;

/// Checks the services `up`/`create`/`run` would make containers for: `services` and their
/// dependencies (all when `services` is empty).
pub fn check(loaded: &Loaded, services: &[String]) -> Result<(), Diagnostics> {
    let at = |path: &[&str]| -> Span {
        let segments: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        let (node, key_span) = walk(&loaded.tree, &segments);
        key_span.unwrap_or_else(|| node.span.clone())
    };
    let project = &loaded.project;
    let mut problems = Vec::new();
    let wanted = crate::graph::ServiceGraph::new(project).with_dependencies(services);
    let selected = project
        .services
        .iter()
        .filter(|(name, _)| services.is_empty() || wanted.contains(*name));
    for (name, service) in selected {
        problems.extend(external_files(project, name, service, &at));
        problems.extend(engine_only(name, service, &at));
        if !service.pre_start.is_empty() {
            problems.push(
                Diagnostic::at(
                    &at(&["services", name, "pre_start"]),
                    format!("service {name:?}: pre_start hooks are not supported yet"),
                )
                .with_hint("run the step from the service's command, or as a service it depends on with `condition: service_completed_successfully`"),
            );
        }
        if let Some(provider) = &service.provider {
            // docker compose hands such a service to a plugin (`docker-<type>`); there are none
            // here.
            problems.push(
                Diagnostic::at(
                    &at(&["services", name, "provider"]),
                    format!(
                        "service {name:?}: providers are not supported (provider {:?})",
                        provider.kind
                    ),
                )
                .with_hint("rcompose runs containers only: give the service an `image:` or `build:` instead"),
            );
        }
        if let Err((key, message)) = log_settings(service.logging.as_ref()) {
            let mut path = vec!["services", name.as_str(), "logging"];
            path.extend(key.iter().map(String::as_str));
            problems.push(
                Diagnostic::at(&at(&path), format!("service {name:?}: {message}")).with_hint(
                    "rcompose keeps a container's log itself: json-file or local (max-size, max-file, compress), or none",
                ),
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics(problems))
    }
}

/// Settings only another engine or runtime could honour, refused as dockerd refuses them on a Linux
/// host with overlay2 on ext4 (docker's default `runc` is this runtime's counterpart), or, for
/// `use_api_socket`, because there is no Docker API here to give the container.
fn engine_only(name: &str, service: &Service, at: &dyn Fn(&[&str]) -> Span) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let mut refuse = |key: &str, message: String, hint: &str| {
        problems.push(
            Diagnostic::at(
                &at(&["services", name, key]),
                format!("service {name:?}: {message}"),
            )
            .with_hint(hint.to_string()),
        );
    };
    if let Some(runtime) = service.runtime.as_deref()
        && !matches!(runtime, "" | "runc" | "io.containerd.runc.v2")
    {
        refuse(
            "runtime",
            format!("Unknown runtime specified {runtime}"),
            "rcompose runs containers with its own runtime, docker's runc counterpart: remove `runtime:` or set it to runc",
        );
    }
    if !service.storage_opt.is_empty() {
        refuse(
            "storage_opt",
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"
                .into(),
            "a container's writable layer has no size limit here; remove `storage_opt`",
        );
    }
    if let Some(isolation) = service.isolation.as_deref()
        && !matches!(isolation, "" | "default")
    {
        refuse(
            "isolation",
            format!("Invalid isolation: {isolation:?} - linux only supports 'default'"),
            "`isolation` chooses Windows container technologies; remove it",
        );
    }
    if let Some(mode) = service.userns_mode.as_deref()
        && !matches!(mode, "" | "host")
    {
        refuse(
            "userns_mode",
            format!(
                "invalid userns mode {mode:?}: only \"host\" (user namespaces are not remapped here)"
            ),
            "containers run in the host's user namespace, as dockerd's without userns-remap; remove `userns_mode` or set it to host",
        );
    }
    if service.credential_spec.is_some() {
        refuse(
            "credential_spec",
            "credential_spec is only supported on Windows".into(),
            "remove `credential_spec`: it configures gMSA for Windows containers",
        );
    }
    if !service.models.is_empty() {
        refuse(
            "models",
            "models need Docker Model Runner, which rcompose does not have".into(),
            "run the model server as a service of its own and point the service at it",
        );
    }
    if service.use_api_socket {
        refuse(
            "use_api_socket",
            "use_api_socket: there is no Docker API socket to give the container (rcompose has no daemon)".into(),
            "bind a socket of your own with `volumes:` if the service needs one",
        );
    }
    problems
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
            let swarm_only = match section {
                "secrets" => project.secrets.get(key).and_then(|s| {
                    if s.driver.is_some() {
                        Some("driver")
                    } else {
                        s.template_driver.as_ref().map(|_| "template_driver")
                    }
                }),
                _ => project
                    .configs
                    .get(key)
                    .and_then(|c| c.template_driver.as_ref().map(|_| "template_driver")),
            };
            if let Some(field) = swarm_only {
                problems.push(
                    Diagnostic::at(
                        &at(&[section, key, field]),
                        format!(
                            "{kind} {key:?} (used by service {name:?}): `{field}` is not supported, as with docker compose"
                        ),
                    )
                    .with_hint("secret and config drivers exist only in a swarm; remove it"),
                );
            }
        }
    }
    problems
}

/// What a service's `logging` asks of its container's log, by dockerd's rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogSettings {
    /// The `none` driver: no log kept.
    pub none: bool,
    /// Rotate at this many bytes (0: never).
    pub max_size: u64,
    /// Files kept in all (at least 1).
    pub max_files: u32,
    /// Gzip the rotated files.
    pub compress: bool,
}

/// The log settings of `logging` (none: docker's default, json-file without limits): `json-file`
/// and `local` (whose defaults are 20 MiB, 5 files, compressed) with `max-size` (decimal units, as
/// dockerd's `FromHumanSize`), `max-file` and `compress`, or `none`. Other drivers and options are
/// errors, with the path below `logging` of what is wrong (`driver`, `options.KEY`).
pub fn log_settings(logging: Option<&Logging>) -> Result<LogSettings, (Vec<String>, String)> {
    let Some(logging) = logging else {
        return Ok(LogSettings {
            max_files: 1,
            ..LogSettings::default()
        });
    };
    let driver = logging.driver.as_deref().unwrap_or("json-file");
    let option = |key: &str| vec!["options".to_string(), key.to_string()];
    let mut settings = match driver {
        "json-file" => LogSettings {
            max_files: 1,
            ..LogSettings::default()
        },
        "local" => LogSettings {
            none: false,
            max_size: 20 * 1024 * 1024,
            max_files: 5,
            compress: true,
        },
        "none" => {
            if let Some(key) = logging.options.keys().next() {
                return Err((
                    option(key),
                    format!("unknown log opt {key:?} for none log driver"),
                ));
            }
            return Ok(LogSettings {
                none: true,
                max_files: 1,
                ..LogSettings::default()
            });
        }
        other => {
            return Err((
                vec!["driver".to_string()],
                format!("logging driver {other:?} is not supported"),
            ));
        }
    };
    for (key, value) in &logging.options {
        match key.as_str() {
            "max-size" => {
                settings.max_size = match human_size(value) {
                    Some(size) if size > 0 => size,
                    Some(_) => {
                        return Err((option(key), "max-size must be a positive number".into()));
                    }
                    None => return Err((option(key), format!("invalid size: {value:?}"))),
                }
            }
            "max-file" => {
                settings.max_files = match value.trim().parse::<i64>() {
                    Ok(n) if n >= 1 => n.min(i64::from(u32::MAX)) as u32,
                    Ok(_) => return Err((option(key), "max-file cannot be less than 1".into())),
                    Err(_) => return Err((option(key), format!("invalid max-file {value:?}"))),
                }
            }
            "compress" => {
                settings.compress = match value.trim() {
                    "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
                    "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
                    _ => return Err((option(key), format!("invalid compress {value:?}"))),
                }
            }
            _ => {
                return Err((
                    option(key),
                    format!("unknown log opt {key:?} for {driver} log driver"),
                ));
            }
        }
    }
    if driver == "json-file"
        && settings.compress
        && (settings.max_files < 2 || settings.max_size == 0)
    {
        return Err((
            option("compress"),
            "compress cannot be true when max-file is less than 2 or max-size is not set".into(),
        ));
    }
    Ok(settings)
}

/// docker's `units.FromHumanSize`: a decimal size (`10m` is 10,000,000 bytes; `k`, `m`, `g`, `t`,
/// `p`, with an optional `i` and `b`, any case).
fn human_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: f64 = number.parse().ok()?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let factor: f64 = match unit {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "p" => 1e15,
        _ => return None,
    };
    Some((number * factor) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_settings_follow_dockerd() {
        let logging = |driver: Option<&str>, options: &[(&str, &str)]| Logging {
            driver: driver.map(str::to_string),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let json = log_settings(Some(&logging(
            None,
            &[("max-size", "10m"), ("max-file", "3"), ("compress", "true")],
        )))
        .unwrap();
        assert_eq!(
            json,
            LogSettings {
                none: false,
                max_size: 10_000_000,
                max_files: 3,
                compress: true
            }
        );
        let local = log_settings(Some(&logging(Some("local"), &[]))).unwrap();
        assert_eq!(
            (local.max_size, local.max_files, local.compress),
            (20 << 20, 5, true)
        );
        assert!(
            log_settings(Some(&logging(Some("none"), &[])))
                .unwrap()
                .none
        );
        let error = |driver: Option<&str>, options: &[(&str, &str)]| {
            log_settings(Some(&logging(driver, options))).unwrap_err()
        };
        assert_eq!(error(Some("syslog"), &[]).0, vec!["driver".to_string()]);
        assert!(error(None, &[("max-file", "0")]).1.contains("less than 1"));
        assert!(
            error(None, &[("compress", "true")])
                .1
                .contains("compress cannot")
        );
        assert!(
            error(None, &[("tag", "x")])
                .1
                .contains("unknown log opt \"tag\"")
        );
        assert_eq!(human_size("1.5KiB"), Some(1500));
        assert_eq!(human_size("20 MB"), Some(20_000_000));
        assert_eq!(human_size("ten"), None);
    }
}
