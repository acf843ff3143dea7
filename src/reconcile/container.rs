//! A service's container as the runtime understands it: [`ContainerSpec`] from the service, the image's
//! config and the Compose labels, following docker's rules (image defaults first, the service's
//! settings over them).
//!
//! Pure but for bind sources (checked, or created when asked): volumes and other containers' mounts
//! come through the [`MountSources`] the caller gives, so the mapping is tested without a runtime.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use anyhow::Context as _;
use runtime::container::{
    self as rt, BindRecursive, ContainerSpec, Mount, MountKind, RestartPolicy, Seccomp,
};
use runtime::network::proxy::{PortForward, Protocol};

use crate::labels;
use crate::project::model::{
    Project, Service, ServiceVolume, Ulimit, Volume as ProjectVolume, VolumeType,
};

/// Why a service cannot become a container (yet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("service {service:?}: {message}")]
    Unsupported { service: String, message: String },
}

/// Everything about one container that is not in the project.
pub struct Instance<'a> {
    pub project: &'a Project,
    pub service_name: &'a str,
    pub service: &'a Service,
    pub number: u32,
    pub name: String,
    /// The image's spec (`ContainerSpec::from_image`).
    pub image_spec: ContainerSpec,
    /// The image's entrypoint and cmd, which docker's command rule combines with the service's.
    pub image_entrypoint: Option<Vec<String>>,
    pub image_cmd: Option<Vec<String>>,
    pub image_id: String,
    /// Project directory and compose files, for the Compose labels.
    pub working_dir: String,
    pub config_files: Vec<String>,
}

/// A named or anonymous volume that a mount asks for.
#[derive(Debug, Clone, Copy)]
pub struct VolumeRequest<'a> {
    /// The runtime name (`<project>_<key>`, the `name:` given, or the anonymous volume's).
    pub name: &'a str,
    /// The project's key and definition; `None` for an anonymous volume.
    pub declared: Option<(&'a str, &'a ProjectVolume)>,
    /// Where it is mounted in the container.
    pub target: &'a str,
    /// Whether an empty volume gets the image's content at `target` (docker's copy; `nocopy` and
    /// `subpath` turn it off).
    pub copy_image: bool,
    /// The mount's `volume.labels`: an anonymous volume is created with them (docker's rule; a
    /// declared volume has its own).
    pub labels: Option<&'a BTreeMap<String, String>>,
}

/// Where mounts come from: the runtime's volumes and existing containers. The caller gives them, so
/// the mapping stays pure and testable without a runtime.
pub trait MountSources {
    /// What a container mounts for a volume: created (not if external) and seeded as asked.
    fn volume(&self, request: &VolumeRequest<'_>) -> anyhow::Result<MountKind>;
    /// The mounts of the existing container called `name` (for `volumes_from`).
    fn container_mounts(&self, name: &str) -> anyhow::Result<Vec<Mount>>;
}

/// The container spec of one instance of a service.
pub fn spec(instance: &Instance<'_>, sources: &dyn MountSources) -> anyhow::Result<ContainerSpec> {
    let service = instance.service;
    let unsupported = |message: &str| SpecError::Unsupported {
        service: instance.service_name.to_string(),
        message: message.to_string(),
    };
    let mut spec = instance.image_spec.clone();
    let image = instance.image_spec.clone();
    spec.name = instance.name.clone();

    // Command: docker's entrypoint/command rule, over the image's.
    spec.args = rt::spec::combine_command(
        instance.image_entrypoint.as_deref(),
        instance.image_cmd.as_deref(),
        service.entrypoint.as_deref(),
        service.command.as_deref(),
    );
    if spec.args.is_empty() {
        return Err(unsupported(
            "no command: neither the image nor the service gives one (set `command:`)",
        )
        .into());
    }

    // Environment: the image's, then the service's (which wins).
    let mut environment: Vec<(String, String)> = image
        .env
        .iter()
        .map(|e| {
            e.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .unwrap_or((e.clone(), String::new()))
        })
        .collect();
    for (key, value) in &service.environment {
        let Some(value) = value else { continue };
        match environment.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.clone(),
            None => environment.push((key.clone(), value.clone())),
        }
    }
    if !environment.iter().any(|(k, _)| k == "PATH") {
        environment.insert(0, ("PATH".to_string(), rt::spec::DEFAULT_PATH.to_string()));
    }
    spec.env = environment
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();

    if let Some(dir) = &service.working_dir {
        spec.cwd = dir.clone();
    }
    if let Some(user) = &service.user {
        spec.user = user.clone();
    }
    spec.group_add = service.group_add.clone();
    spec.hostname = service.hostname.clone().unwrap_or_default();
    spec.domainname = service.domainname.clone().unwrap_or_default();
    if !service.extra_hosts.is_empty() {
        let mut hosts =
            String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        for entry in &service.extra_hosts {
            if let Some((host, ip)) = entry.split_once('=') {
                hosts.push_str(&format!("{ip}\t{host}\n"));
            }
        }
        spec.hosts = Some(hosts);
    }
    if !service.dns.is_empty() || !service.dns_search.is_empty() || !service.dns_opt.is_empty() {
        let mut resolv = String::new();
        for server in &service.dns {
            resolv.push_str(&format!("nameserver {server}\n"));
        }
        if !service.dns_search.is_empty() {
            resolv.push_str(&format!("search {}\n", service.dns_search.join(" ")));
        }
        if !service.dns_opt.is_empty() {
            resolv.push_str(&format!("options {}\n", service.dns_opt.join(" ")));
        }
        spec.resolv_conf = Some(resolv);
    }

    // Mounts: `volumes_from`, the service's volumes (which win on the same target), `tmpfs`.
    spec.mounts = mounts(instance, sources)?;
    for entry in &service.tmpfs {
        let tmpfs = parse_tmpfs(entry).map_err(|message| unsupported(&message))?;
        spec.tmpfs_options.insert(tmpfs.target, tmpfs.options);
    }

    // Security and resources.
    spec.read_only = service.read_only;
    spec.cap_add = service.cap_add.clone();
    spec.cap_drop = service.cap_drop.clone();
    spec.privileged = service.privileged;
    for option in &service.security_opt {
        match option.replace(':', "=").as_str() {
            "no-new-privileges" | "no-new-privileges=true" => spec.no_new_privs = true,
            "seccomp=unconfined" => spec.seccomp = Seccomp::Unconfined,
            other if other.starts_with("label=") || other.starts_with("apparmor=") => {}
            other => {
                return Err(
                    unsupported(&format!("security_opt {other:?} is not supported")).into(),
                );
            }
        }
    }
    spec.sysctls = service.sysctls.clone();
    spec.ulimits = service
        .ulimits
        .iter()
        .map(|(name, limit)| {
            let (soft, hard) = match limit {
                Ulimit::Single(value) => (*value, *value),
                Ulimit::SoftHard(range) => (range.soft, range.hard),
            };
            rt::Ulimit {
                name: name.clone(),
                soft: soft.max(0) as u64,
                hard: hard.max(0) as u64,
            }
        })
        .collect();
    spec.shm_size = service
        .shm_size
        .map(|s| s.bytes().max(0) as u64)
        .unwrap_or(0);
    spec.devices = service
        .devices
        .iter()
        .map(|d| rt::Device {
            host_path: PathBuf::from(&d.source),
            container_path: d.target.clone().unwrap_or_else(|| d.source.clone()),
            permissions: d.permissions.clone().unwrap_or_else(|| "rwm".to_string()),
        })
        .collect();
    let limits = service
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.limits.as_ref());
    spec.limits.memory = limits
        .and_then(|l| l.memory)
        .or(service.mem_limit)
        .map(|m| m.bytes().max(0) as u64);
    spec.limits.nano_cpus = limits
        .and_then(|l| l.cpus)
        .or(service.cpus)
        .map(|c| (c * 1e9) as u64);
    spec.limits.pids = limits
        .and_then(|l| l.pids)
        .or(service.pids_limit)
        .filter(|p| *p > 0)
        .map(|p| p as u64);
    super::resources::apply(service, &mut spec).map_err(|message| unsupported(&message))?;

    spec.ports = port_forwards(service).map_err(|message| unsupported(&message))?;
    terminal(service, &mut spec);

    // Lifecycle.
    spec.restart = restart_policy(service).map_err(|message| unsupported(&message))?;
    if let Some(signal) = &service.stop_signal {
        spec.stop_signal = rt::spec::signal_from_name(signal)
            .ok_or_else(|| unsupported(&format!("unknown stop_signal {signal:?}")))?;
    }
    spec.stop_timeout = service
        .stop_grace_period
        .and_then(|d| d.to_std())
        .map(|d| d.as_secs());
    if service.init == Some(true) {
        let init = [
            "/usr/bin/tini-static",
            "/usr/bin/docker-init",
            "/usr/bin/tini",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
        spec.init = Some(init.ok_or_else(|| {
            unsupported("`init: true` needs tini on the host (apt install tini)")
        })?);
    }

    // Labels: the image's, the service's, then Compose's.
    spec.labels.extend(service.labels.clone());
    spec.labels.extend(compose_labels(instance));
    spec.healthcheck =
        healthcheck(service, spec.healthcheck.take()).map_err(|message| unsupported(&message))?;
    secrets_and_configs(instance, &mut spec).map_err(|message| unsupported(&message))?;
    logging(service, &mut spec).map_err(|message| unsupported(&message))?;
    Ok(spec)
}

/// `logging`: the monitor's log rotation (json-file and local `max-size`, `max-file`, `compress`)
/// or no log at all (`none`). `up` refused anything else at its line (`project::refuse`).
fn logging(service: &Service, spec: &mut ContainerSpec) -> Result<(), String> {
    let settings = crate::project::refuse::log_settings(service.logging.as_ref())
        .map_err(|(_, message)| message)?;
    spec.log_none = settings.none;
    spec.log_max_size = settings.max_size;
    spec.log_max_files = settings.max_files;
    spec.log_compress = settings.compress;
    Ok(())
}

/// The service's `secrets` and `configs` as the container's files: a copy of the content (inline,
/// from a variable, or a regular file's, as the loader read it), owned by `uid:gid` (default
/// 0:0) with `mode` (default 0444), bound read-only at the target before the process starts. A
/// secret's target defaults to `/run/secrets/<name>` (a relative one is below it), a config's to
/// `/<name>`. A `file:` that is a directory is bound read-only as it is, as docker compose binds
/// every `file:` (which also ignores `uid`, `gid` and `mode` there, with a warning; here they
/// apply to files). A service volume at the same target wins, as with docker compose.
fn secrets_and_configs(instance: &Instance<'_>, spec: &mut ContainerSpec) -> Result<(), String> {
    use crate::project::model::Content;
    let project = instance.project;
    let service = instance.service;
    struct Source<'a> {
        kind: &'static str,
        name: &'a str,
        external: bool,
        unsupported_driver: Option<&'static str>,
        environment: Option<&'a String>,
        file: Option<&'a String>,
        resolved: Option<&'a Content>,
    }
    let mut references = Vec::new();
    for reference in &service.secrets {
        let secret = project
            .secrets
            .get(&reference.source)
            .ok_or_else(|| format!("secret {:?} is not defined", reference.source))?;
        let target = match reference.target.as_deref() {
            None | Some("") => format!("/run/secrets/{}", reference.source),
            Some(target) if target.starts_with('/') => target.to_string(),
            Some(target) => format!("/run/secrets/{target}"),
        };
        let source = Source {
            kind: "secret",
            name: secret.name.as_deref().unwrap_or(&reference.source),
            external: secret.external,
            unsupported_driver: if secret.driver.is_some() {
                Some("secrets.*.driver")
            } else if secret.template_driver.is_some() {
                Some("secrets.*.template_driver")
            } else {
                None
            },
            environment: secret.environment.as_ref(),
            file: secret.file.as_ref(),
            resolved: secret.resolved.as_ref(),
        };
        references.push((reference, target, source));
    }
    for reference in &service.configs {
        let config = project
            .configs
            .get(&reference.source)
            .ok_or_else(|| format!("config {:?} is not defined", reference.source))?;
        let target = match reference.target.as_deref() {
            None | Some("") => format!("/{}", reference.source),
            Some(target) if target.starts_with('/') => target.to_string(),
            Some(target) => format!("/{target}"),
        };
        let source = Source {
            kind: "config",
            name: config.name.as_deref().unwrap_or(&reference.source),
            external: config.external,
            unsupported_driver: config
                .template_driver
                .is_some()
                .then_some("configs.*.template_driver"),
            environment: config.environment.as_ref(),
            file: config.file.as_ref(),
            resolved: config.resolved.as_ref(),
        };
        references.push((reference, target, source));
    }
    let id = |what: &str, value: Option<&String>| -> Result<u32, String> {
        match value.map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => Ok(0),
            Some(text) => text
                .parse()
                .map_err(|_| format!("{what} {text:?} is not a number")),
        }
    };
    for (reference, target, source) in references {
        let Source { kind, name, .. } = source;
        if source.external {
            return Err(format!("unsupported external {kind} {name}"));
        }
        if let Some(key) = source.unsupported_driver {
            return Err(format!("Docker Compose does not support {key}"));
        }
        if spec.mounts.iter().any(|m| m.target == target) {
            continue;
        }
        let owner = (
            id("uid", reference.uid.as_ref())?,
            id("gid", reference.gid.as_ref())?,
        );
        if let Some(content) = source.resolved {
            spec.files.push(rt::spec::FileMount {
                target,
                content: content.0.clone(),
                uid: owner.0,
                gid: owner.1,
                mode: reference.mode.unwrap_or(0o444),
            });
            continue;
        }
        if let Some(variable) = source.environment {
            return Err(format!(
                "environment variable {variable:?} required by {kind} {name:?} is not set"
            ));
        }
        let Some(file) = source.file else {
            return Err(format!(
                "{kind} {name:?} has no content: give it `file:`, `environment:` or `content:`"
            ));
        };
        match std::fs::metadata(file) {
            Err(_) => return Err(format!("{kind} {name:?}: file {file} does not exist")),
            Ok(metadata) if metadata.is_dir() => {
                if reference.uid.is_some() || reference.gid.is_some() || reference.mode.is_some() {
                    return Err(format!(
                        "{kind} {name:?}: uid, gid and mode apply to files; {file} is a directory"
                    ));
                }
                spec.mounts.push(Mount {
                    target,
                    kind: MountKind::Bind {
                        source: PathBuf::from(file),
                    },
                    read_only: true,
                    recursive: BindRecursive::default(),
                    subpath: None,
                });
            }
            Ok(_) => return Err(format!("{kind} {name:?}: cannot read {file}")),
        }
    }
    Ok(())
}

/// `tty` and `stdin_open`: the container's process gets a pseudo-terminal, or a stdin that stays
/// open, and the monitor keeps an attach socket for `attach` (as docker's `-t` and `-i`). `run`
/// overrides both from its own flags.
fn terminal(service: &Service, spec: &mut ContainerSpec) {
    spec.tty = service.tty;
    spec.open_stdin = service.stdin_open;
}

/// The host ports a service publishes, by docker's rules, from the long form the loader gives (target
/// ranges are already one entry per port): no host IP is `0.0.0.0`; no published port is an
/// ephemeral one; a published range with one target takes the range's first free port (a range per
/// target was split pairwise by the loader). `network_mode: host` publishes nothing (the container
/// uses the host's ports itself), as docker discards the ports there. `expose` is metadata only.
pub fn port_forwards(service: &Service) -> Result<Vec<PortForward>, String> {
    if service.network_mode.as_deref() == Some("host") {
        return Ok(Vec::new());
    }
    let mut forwards = Vec::new();
    for port in &service.ports {
        let protocol = match port.protocol.as_deref().unwrap_or("tcp") {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            other => {
                return Err(format!(
                    "ports: protocol {other:?} is not supported (tcp, udp)"
                ));
            }
        };
        let host_ip: IpAddr = match port.host_ip.as_deref().filter(|ip| !ip.is_empty()) {
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Some(text) => text
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| format!("ports: host_ip {text:?} is not an IP address"))?,
        };
        let number = |text: &str| {
            text.trim()
                .parse::<u16>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("ports: published {text:?} is not a port number (1-65535)"))
        };
        let (host_port, host_port_end) = match port.published.as_deref().map(str::trim) {
            None | Some("") | Some("0") => (0, 0),
            Some(text) => match text.split_once('-') {
                Some((start, end)) => {
                    let (start, end) = (number(start)?, number(end)?);
                    if end < start {
                        return Err(format!("ports: the range {text:?} ends before it starts"));
                    }
                    (start, if end > start { end } else { 0 })
                }
                None => (number(text)?, 0),
            },
        };
        if port.target == 0 {
            return Err("ports: target 0 is not a port number (1-65535)".into());
        }
        forwards.push(PortForward {
            host_ip,
            host_port,
            host_port_end,
            protocol,
            container_port: port.target,
        });
    }
    Ok(forwards)
}

/// docker's restart policy from `restart:` or `deploy.restart_policy` (which wins), mapped as
/// docker compose maps them (`none`/`no`, `on-failure`, `unless-stopped`, `any`/`always`; no
/// condition is no restart) and checked as dockerd checks them (a retry count only with
/// `on-failure`).
fn restart_policy(service: &Service) -> Result<RestartPolicy, String> {
    let (name, attempts) = match service
        .deploy
        .as_ref()
        .and_then(|d| d.restart_policy.as_ref())
    {
        Some(policy) => (
            policy.condition.clone().unwrap_or_default(),
            policy.max_attempts.unwrap_or(0),
        ),
        None => {
            let restart = service.restart.clone().unwrap_or_default();
            match restart.split_once(':') {
                Some((name, count)) => (name.to_string(), count.parse().unwrap_or(0)),
                None => (restart, 0),
            }
        }
    };
    let policy = match name.as_str() {
        "" | "no" | "none" => RestartPolicy::No,
        "on-failure" => RestartPolicy::OnFailure {
            max_retries: attempts.min(u64::from(u32::MAX)) as u32,
        },
        "unless-stopped" => RestartPolicy::UnlessStopped,
        "any" | "always" => RestartPolicy::Always,
        other => {
            return Err(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            ));
        }
    };
    if attempts > 0 && !matches!(policy, RestartPolicy::OnFailure { .. }) {
        return Err(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'".into(),
        );
    }
    Ok(policy)
}

/// The `com.docker.compose.*` labels of a container.
fn compose_labels(instance: &Instance<'_>) -> BTreeMap<String, String> {
    let service = instance.service;
    let depends_on: Vec<String> = service
        .depends_on
        .iter()
        .map(|(name, d)| {
            format!(
                "{name}:{}:{}",
                serde_json::to_value(d.condition)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                d.restart
            )
        })
        .collect();
    BTreeMap::from([
        (labels::PROJECT.to_string(), instance.project.name.clone()),
        (
            labels::SERVICE.to_string(),
            instance.service_name.to_string(),
        ),
        (
            labels::CONTAINER_NUMBER.to_string(),
            instance.number.to_string(),
        ),
        (
            labels::ONEOFF.to_string(),
            labels::boolean(false).to_string(),
        ),
        (
            labels::CONFIG_HASH.to_string(),
            crate::hash::container_hash(instance.project, service),
        ),
        (
            labels::CONFIG.to_string(),
            crate::hash::container_config(instance.project, service).to_string(),
        ),
        (labels::IMAGE.to_string(), instance.image_id.clone()),
        (
            labels::WORKING_DIR.to_string(),
            instance.working_dir.clone(),
        ),
        (
            labels::CONFIG_FILES.to_string(),
            instance.config_files.join(","),
        ),
        (labels::DEPENDS_ON.to_string(), depends_on.join(",")),
        (
            labels::VERSION.to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ])
}

fn short_hash(text: &str) -> String {
    crate::hash::digest(&serde_json::Value::String(text.to_string()))[..12].to_string()
}

/// The name of a service's anonymous volume at `target` for one container: stable across restarts of
/// that container name, so a recreated container finds its data again (docker compose carries
/// anonymous volumes over to the new container the same way).
pub fn anonymous_volume_name(container: &str, target: &str) -> String {
    format!("{container}_{}", short_hash(target))
}

/// The container's mounts, docker's way: those of `volumes_from` containers first, then the
/// service's own `volumes` (replacing any from `volumes_from` at the same target), then `tmpfs`.
fn mounts(instance: &Instance<'_>, sources: &dyn MountSources) -> anyhow::Result<Vec<Mount>> {
    let service = instance.service;
    let unsupported = |message: String| SpecError::Unsupported {
        service: instance.service_name.to_string(),
        message,
    };
    let mut mounts: Vec<Mount> = Vec::new();
    let add = |mounts: &mut Vec<Mount>, mount: Mount| {
        mounts.retain(|m| m.target != mount.target);
        mounts.push(mount);
    };
    for entry in &service.volumes_from {
        let (container, mode) = volumes_from_source(instance.project, entry)
            .map_err(|message| unsupported(format!("volumes_from {entry:?}: {message}")))?;
        let inherited = sources
            .container_mounts(&container)
            .with_context(|| format!("volumes_from {entry:?}"))?;
        // A tmpfs belongs to its container: docker shares only volumes and binds.
        for mount in inherited
            .into_iter()
            .filter(|m| matches!(m.kind, MountKind::Bind { .. }))
        {
            let read_only = match mode {
                Some(read_only) => read_only || mount.read_only,
                None => mount.read_only,
            };
            add(&mut mounts, Mount { read_only, ..mount });
        }
    }
    for volume in &service.volumes {
        let Some(target) = volume.target.clone() else {
            continue;
        };
        let (kind, subpath) = mount_kind(instance, volume, &target, sources)?;
        add(
            &mut mounts,
            Mount {
                target,
                kind,
                read_only: volume.read_only,
                recursive: bind_recursive(volume),
                subpath,
            },
        );
    }
    for entry in &service.tmpfs {
        let Tmpfs {
            target,
            size,
            mode,
            read_only,
            ..
        } = parse_tmpfs(entry).map_err(unsupported)?;
        add(
            &mut mounts,
            Mount {
                target: target.to_string(),
                kind: MountKind::Tmpfs { size, mode },
                read_only,
                recursive: BindRecursive::default(),
                subpath: None,
            },
        );
    }
    Ok(mounts)
}

/// A `tmpfs:` entry, `TARGET[:OPTIONS]`, as docker's `--tmpfs` reads it.
struct Tmpfs {
    target: String,
    size: u64,
    mode: u32,
    read_only: bool,
    options: rt::spec::TmpfsOptions,
}

/// Reads a `tmpfs:` entry: `size=` (binary units), `mode=` (octal), `uid=`, `gid=`, and the flags
/// `ro`, `rw`, `exec`, `noexec`, `suid`, `nosuid`, `dev`, `nodev` over docker's defaults
/// (`noexec,nosuid,nodev`), the last one of a pair winning.
fn parse_tmpfs(entry: &str) -> Result<Tmpfs, String> {
    let (target, options) = entry.split_once(':').unwrap_or((entry, ""));
    let mut tmpfs = Tmpfs {
        target: target.to_string(),
        size: 0,
        mode: 0,
        read_only: false,
        options: rt::spec::TmpfsOptions::default(),
    };
    let id = |value: &str| {
        value
            .parse::<u32>()
            .map_err(|_| format!("tmpfs {entry:?}: invalid id {value:?}"))
    };
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option.split_once('=') {
            Some(("size", value)) => {
                tmpfs.size = value
                    .parse::<crate::project::units::ByteSize>()
                    .map_err(|_| format!("tmpfs {entry:?}: invalid size {value:?}"))?
                    .bytes()
                    .max(0) as u64;
            }
            Some(("mode", value)) => {
                tmpfs.mode = u32::from_str_radix(value, 8)
                    .map_err(|_| format!("tmpfs {entry:?}: invalid mode {value:?} (octal)"))?;
            }
            Some(("uid", value)) => tmpfs.options.uid = Some(id(value)?),
            Some(("gid", value)) => tmpfs.options.gid = Some(id(value)?),
            None if matches!(option, "ro" | "rw") => tmpfs.read_only = option == "ro",
            None if matches!(option, "exec" | "noexec") => tmpfs.options.exec = option == "exec",
            None if matches!(option, "suid" | "nosuid") => tmpfs.options.suid = option == "suid",
            None if matches!(option, "dev" | "nodev") => tmpfs.options.dev = option == "dev",
            _ => {
                return Err(format!(
                    "tmpfs {entry:?}: option {option:?} is not supported (size, mode, uid, gid, ro, rw, exec, noexec, suid, nosuid, dev, nodev are)"
                ));
            }
        }
    }
    Ok(tmpfs)
}

/// The runtime's treatment of submounts for a Compose bind (`bind.recursive`, default `enabled`).
fn bind_recursive(volume: &ServiceVolume) -> BindRecursive {
    use crate::project::model::BindRecursive as Compose;
    match volume.bind.as_ref().and_then(|bind| bind.recursive) {
        None | Some(Compose::Enabled) => BindRecursive::Enabled,
        Some(Compose::Disabled) => BindRecursive::Disabled,
        Some(Compose::Writable) => BindRecursive::Writable,
        Some(Compose::Readonly) => BindRecursive::Readonly,
    }
}

/// A `volumes_from` entry's container and mode: `service[:ro|:rw]` names the service's first
/// container (as docker compose does), `container:name[:ro|:rw]` a container by name. The mode is
/// `Some(true)` for `ro`, `Some(false)` for `rw`, `None` to keep each mount's own.
fn volumes_from_source(project: &Project, entry: &str) -> Result<(String, Option<bool>), String> {
    let (source, mode) = match entry.rsplit_once(':') {
        Some((source, "ro")) => (source, Some(true)),
        Some((source, "rw")) => (source, Some(false)),
        _ => (entry, None),
    };
    if let Some(container) = source.strip_prefix("container:") {
        return Ok((container.to_string(), mode));
    }
    let name = source.strip_prefix("service:").unwrap_or(source);
    let service = project
        .services
        .get(name)
        .ok_or_else(|| format!("no service {name:?} in the project"))?;
    Ok((super::plan::container_name(project, name, service, 1), mode))
}

/// What one service mount becomes, with the path inside a volume that `subpath` names.
fn mount_kind(
    instance: &Instance<'_>,
    volume: &ServiceVolume,
    target: &str,
    sources: &dyn MountSources,
) -> anyhow::Result<(MountKind, Option<String>)> {
    let unsupported = |message: String| SpecError::Unsupported {
        service: instance.service_name.to_string(),
        message,
    };
    let mut inside = None;
    let kind = match volume.kind {
        VolumeType::Bind => {
            let source = volume
                .source
                .clone()
                .ok_or_else(|| unsupported(format!("the bind mount at {target} needs a source")))?;
            let bind = volume.bind.clone().unwrap_or_default();
            // Long syntax binds only what exists unless told; the short syntax creates (docker's
            // legacy), which the loader records as `create_host_path: true`.
            let create = bind.create_host_path.unwrap_or(false);
            // Binds are rprivate unless `bind.propagation` says otherwise (`reconcile::namespaces`);
            // the container's root is rslave, so nothing propagates back: `shared` would need it
            // shared.
            if let Some(propagation) = bind.propagation.as_deref()
                && !matches!(propagation, "private" | "rprivate" | "slave" | "rslave")
            {
                return Err(unsupported(format!(
                    "bind propagation {propagation:?} at {target} is not supported (nothing propagates out of a container: private, rprivate, slave, rslave)"
                ))
                .into());
            }
            let path = PathBuf::from(&source);
            if std::fs::symlink_metadata(&path).is_err() {
                if !create {
                    anyhow::bail!(
                        "service {:?}: invalid mount config for type \"bind\": bind source path does not exist: {source} (create it, or set `bind: {{create_host_path: true}}`)",
                        instance.service_name
                    );
                }
                std::fs::create_dir_all(&path)
                    .with_context(|| format!("cannot create the bind source {source}"))?;
            }
            MountKind::Bind { source: path }
        }
        VolumeType::Volume => {
            let options = volume.volume.clone().unwrap_or_default();
            let (name, declared) = match &volume.source {
                Some(key) => {
                    let definition = instance.project.volumes.get(key).ok_or_else(|| {
                        unsupported(format!("volume {key:?} is not declared in `volumes`"))
                    })?;
                    (
                        instance.project.volume_name(key),
                        Some((key.as_str(), definition)),
                    )
                }
                None => (anonymous_volume_name(&instance.name, target), None),
            };
            let subpath = options.subpath.as_deref().filter(|s| !s.is_empty());
            let kind = sources.volume(&VolumeRequest {
                name: &name,
                declared,
                target,
                copy_image: !options.nocopy && subpath.is_none(),
                labels: volume.volume.as_ref().map(|v| &v.labels),
            })?;
            match (kind, subpath) {
                (kind, None) => kind,
                (MountKind::Bind { source }, Some(subpath)) => {
                    let relative = std::path::Path::new(subpath);
                    if relative.is_absolute()
                        || relative
                            .components()
                            .any(|c| !matches!(c, std::path::Component::Normal(_)))
                    {
                        return Err(unsupported(format!(
                            "volume subpath {subpath:?} must be a relative path inside the volume"
                        ))
                        .into());
                    }
                    // The volume's content is the containers': a symlink in the subpath is
                    // resolved inside the volume, by the runtime at mount time (a host path would
                    // mount the host's directory, e.g. `/`, into the container).
                    if runtime::sys::open_in_root(&source, subpath).is_err() {
                        anyhow::bail!(
                            "service {:?}: subpath {subpath:?} does not exist in volume {name}",
                            instance.service_name
                        );
                    }
                    inside = Some(subpath.to_string());
                    MountKind::Bind { source }
                }
                (MountKind::Tmpfs { .. }, Some(_)) => {
                    return Err(unsupported(format!(
                        "volume {name} is a tmpfs: it has no subpath to mount"
                    ))
                    .into());
                }
            }
        }
        VolumeType::Tmpfs => {
            let options = volume.tmpfs.as_ref();
            MountKind::Tmpfs {
                size: options
                    .and_then(|t| t.size)
                    .map(|s| s.bytes().max(0) as u64)
                    .unwrap_or(0),
                mode: options.and_then(|t| t.mode).unwrap_or(0),
            }
        }
        other => {
            return Err(unsupported(format!(
                "volumes of type {} are not supported",
                serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ))
            .into());
        }
    };
    Ok((kind, inside))
}

/// The healthcheck the monitor runs: the service's (over the image's, whose test it inherits when
/// the service gives only timings), none when disabled or `NONE`.
fn healthcheck(
    service: &Service,
    image: Option<rt::Healthcheck>,
) -> Result<Option<rt::Healthcheck>, String> {
    let Some(check) = &service.healthcheck else {
        return Ok(image);
    };
    if check.disable || check.test.first().map(String::as_str) == Some("NONE") {
        return Ok(None);
    }
    let defaults = image.unwrap_or_default();
    let test = match check.test.split_first() {
        None => defaults.test.clone(),
        Some((kind, rest)) if kind == "CMD" => rest.to_vec(),
        Some((kind, rest)) if kind == "CMD-SHELL" => {
            vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
        }
        Some(_) => return Err("healthcheck test must start with CMD, CMD-SHELL or NONE".into()),
    };
    if test.is_empty() {
        return Ok(None);
    }
    let millis = |d: Option<crate::project::units::Duration>, default: u64| {
        d.and_then(|d| d.to_std())
            .map(|d| d.as_millis() as u64)
            .unwrap_or(default)
    };
    Ok(Some(rt::Healthcheck {
        test,
        interval_ms: millis(check.interval, defaults.interval_ms),
        timeout_ms: millis(check.timeout, defaults.timeout_ms),
        retries: check
            .retries
            .map(|r| r.clamp(1, u64::from(u32::MAX)) as u32)
            .unwrap_or(defaults.retries),
        start_period_ms: millis(check.start_period, defaults.start_period_ms),
        start_interval_ms: millis(check.start_interval, defaults.start_interval_ms),
    }))
}

#[cfg(test)]
mod mount_tests {
    use super::*;

    fn project(yaml: &str) -> Project {
        crate::reconcile::test_project(yaml)
    }

    #[test]
    fn volumes_from_names_the_first_container_or_a_container_with_a_mode() {
        let project = project(
            "services:\n  db: {image: x}\n  named: {image: x, container_name: fixed}\n  app: {image: x}\n",
        );
        let source = |entry: &str| volumes_from_source(&project, entry);
        assert_eq!(source("db"), Ok(("demo-db-1".to_string(), None)));
        assert_eq!(source("db:ro"), Ok(("demo-db-1".to_string(), Some(true))));
        assert_eq!(
            source("service:db:rw"),
            Ok(("demo-db-1".to_string(), Some(false)))
        );
        assert_eq!(source("named"), Ok(("fixed".to_string(), None)));
        assert_eq!(
            source("container:other:ro"),
            Ok(("other".to_string(), Some(true)))
        );
        assert_eq!(source("container:other"), Ok(("other".to_string(), None)));
        assert!(source("nope").unwrap_err().contains("no service \"nope\""));
    }

    #[test]
    fn anonymous_volumes_are_named_after_their_container_and_target() {
        let a = anonymous_volume_name("demo-app-1", "/data");
        assert_eq!(a, anonymous_volume_name("demo-app-1", "/data"));
        assert!(a.starts_with("demo-app-1_"));
        assert_ne!(a, anonymous_volume_name("demo-app-1", "/cache"));
        assert_ne!(a, anonymous_volume_name("demo-app-2", "/data"));
    }
}
