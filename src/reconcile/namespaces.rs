//! A service's `pid`, `ipc`, `uts` and `cgroup` as the runtime's namespace modes, docker's way:
//! `host`, a namespace of the container's own (`private`, `shareable` for IPC), or another
//! container's (`service:NAME` is that service's first container, `container:NAME` a container by
//! name), resolved to the other container's id when this one is made.

use anyhow::{Context as _, bail};
use runtime::container::{ContainerSpec, NamespaceMode};

use crate::project::model::{Cgroup, Project, Service};

/// Sets `spec`'s pid, IPC, UTS and cgroup namespaces from the service; `find` gives a container's id
/// by name.
pub fn apply(
    project: &Project,
    service_name: &str,
    service: &Service,
    find: &dyn Fn(&str) -> anyhow::Result<String>,
    spec: &mut ContainerSpec,
) -> anyhow::Result<()> {
    let shared = |key: &str, mode: &str| -> anyhow::Result<Option<NamespaceMode>> {
        let (kind, other) = match mode.split_once(':') {
            Some(("service", other)) => ("service", other),
            Some(("container", other)) => ("container", other),
            _ => return Ok(None),
        };
        let name = if kind == "service" {
            let target = project.services.get(other).with_context(|| {
                format!("service {service_name:?}: {key}: {mode:?} names no service of the project")
            })?;
            super::plan::container_name(project, other, target, 1)
        } else {
            other.to_string()
        };
        let id = find(&name).with_context(|| {
            format!("service {service_name:?} shares the {key} namespace of {kind} {other:?}, whose container {name} does not exist")
        })?;
        Ok(Some(NamespaceMode::Container(id)))
    };
    if let Some(mode) = service.pid.as_deref() {
        spec.pid = match mode {
            "" => NamespaceMode::Private,
            "host" => NamespaceMode::Host,
            _ => shared("pid", mode)?.with_context(|| {
                format!("service {service_name:?}: invalid pid mode {mode:?} (host, service:NAME or container:NAME)")
            })?,
        };
    }
    if let Some(mode) = service.ipc.as_deref() {
        spec.ipc = match mode {
            "" | "private" => NamespaceMode::Private,
            "shareable" => NamespaceMode::Shareable,
            "host" => NamespaceMode::Host,
            "none" => bail!(
                "service {service_name:?}: ipc \"none\" (no /dev/shm) is not supported; use private"
            ),
            _ => shared("ipc", mode)?.with_context(|| {
                format!("service {service_name:?}: invalid ipc mode {mode:?} (host, private, shareable, service:NAME or container:NAME)")
            })?,
        };
    }
    if let Some(mode) = service.uts.as_deref() {
        spec.uts = match mode {
            "" => NamespaceMode::Private,
            "host" => NamespaceMode::Host,
            _ => bail!("service {service_name:?}: invalid uts mode {mode:?} (host)"),
        };
        if spec.uts == NamespaceMode::Host && service.hostname.is_some() {
            bail!("service {service_name:?}: conflicting options: hostname and uts: host");
        }
    }
    spec.cgroupns_private = service.cgroup == Some(Cgroup::Private);
    propagation(service, spec);
    spec.annotations = service.annotations.clone();
    Ok(())
}

/// The binds' `bind.propagation` (`private`, `rprivate`, `slave`, `rslave`; the shared kinds are
/// refused with the mount); a bind without one is `rprivate`, docker's default.
fn propagation(service: &Service, spec: &mut ContainerSpec) {
    use runtime::container::Propagation;
    for volume in &service.volumes {
        let (Some(target), Some(bind)) = (&volume.target, &volume.bind) else {
            continue;
        };
        let propagation = match bind.propagation.as_deref() {
            Some("private") => Propagation::Private,
            Some("slave") => Propagation::Slave,
            Some("rslave") => Propagation::RSlave,
            _ => continue,
        };
        spec.propagation.insert(target.clone(), propagation);
    }
}
