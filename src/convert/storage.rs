//! Mounts. A named volume is a PersistentVolumeClaim (size from the volume's
//! `io.rcompose.volume-size` label or `--volume-size`; ReadWriteMany when more than one pod mounts
//! it, which the storage class must offer). An anonymous volume is an emptyDir, as is a tmpfs (in
//! memory, with its size) and `shm_size` (at /dev/shm). A bind mount of a file becomes a ConfigMap
//! mounted at the file's place; a read-only one of a directory of at most 1 MiB of files, a
//! ConfigMap mounted there; other directories an emptyDir or the node's directory (`--bind`),
//! reported either way. `configs` and `secrets` become ConfigMaps and Secrets from the contents the
//! loader read, mounted where Compose mounts them.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, HostPathVolumeSource,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSpec,
    Secret, SecretVolumeSource, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::BindMode;
use super::container::memory_quantity;
use super::names::{data_key, dns_label};
use super::workload::{Kind, replicas};
use crate::project::model::{Content, FileReference, Service, ServiceVolume, VolumeType};
use crate::project::units::ByteSize;

/// A ConfigMap holds at most 1 MiB.
const CONFIG_MAP_LIMIT: usize = 1 << 20;

/// The pod's volumes and the container's mounts, gathered per service.
#[derive(Default)]
struct Mounts {
    volumes: BTreeMap<String, Volume>,
    mounts: Vec<VolumeMount>,
}

impl Mounts {
    fn add(&mut self, volume: Volume, mount: VolumeMount) {
        self.volumes.entry(volume.name.clone()).or_insert(volume);
        self.mounts.push(mount);
    }
}

impl super::Converter<'_> {
    pub(super) fn storage(
        &mut self,
        name: &str,
        service: &Service,
        pod: &mut PodSpec,
        container: &mut Container,
    ) -> anyhow::Result<()> {
        let mut mounts = Mounts::default();
        for (index, volume) in service.volumes.iter().enumerate() {
            self.mount(name, index, volume, &mut mounts)?;
        }
        for (index, entry) in service.tmpfs.iter().enumerate() {
            let (path, options) = entry.split_once(':').unwrap_or((entry.as_str(), ""));
            let size = options
                .split(',')
                .find_map(|o| o.strip_prefix("size="))
                .and_then(|s| s.parse::<ByteSize>().ok());
            mounts.add(
                memory_volume(&format!("tmpfs-{index}"), size),
                mount(&format!("tmpfs-{index}"), path, false),
            );
        }
        if let Some(size) = service.shm_size {
            mounts.add(
                memory_volume("dshm", Some(size)),
                mount("dshm", "/dev/shm", false),
            );
        }
        for reference in &service.secrets {
            self.file_mount(name, FileKind::Secret, reference, &mut mounts)?;
        }
        for reference in &service.configs {
            self.file_mount(name, FileKind::Config, reference, &mut mounts)?;
        }
        if !service.volumes_from.is_empty() {
            // Reported by the attribute table.
        }
        if !mounts.mounts.is_empty() {
            container.volume_mounts = Some(mounts.mounts);
            pod.volumes = Some(mounts.volumes.into_values().collect());
        }
        Ok(())
    }

    fn mount(
        &mut self,
        name: &str,
        index: usize,
        volume: &ServiceVolume,
        mounts: &mut Mounts,
    ) -> anyhow::Result<()> {
        let Some(target) = volume.target.as_deref() else {
            return Ok(());
        };
        match (volume.kind, volume.source.as_deref()) {
            (VolumeType::Volume, Some(key)) => {
                let claim = self.claim_name(key);
                let pod_volume = format!("volume-{}", dns_label(key));
                mounts.add(
                    Volume {
                        name: pod_volume.clone(),
                        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                            claim_name: claim,
                            read_only: None,
                        }),
                        ..Volume::default()
                    },
                    VolumeMount {
                        sub_path: volume.volume.as_ref().and_then(|v| v.subpath.clone()),
                        ..mount(&pod_volume, target, volume.read_only)
                    },
                );
            }
            (VolumeType::Volume, None) => {
                let pod_volume = format!("anonymous-{index}");
                mounts.add(
                    Volume {
                        name: pod_volume.clone(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Volume::default()
                    },
                    mount(&pod_volume, target, volume.read_only),
                );
            }
            (VolumeType::Tmpfs, _) => {
                let tmpfs = volume.tmpfs.as_ref();
                if tmpfs.and_then(|t| t.mode).is_some() {
                    self.report.not_carried(
                        name,
                        "volumes",
                        &format!("tmpfs {target}: mode (an emptyDir's mode is the kubelet's)"),
                    );
                }
                let pod_volume = format!("tmpfs-volume-{index}");
                mounts.add(
                    memory_volume(&pod_volume, tmpfs.and_then(|t| t.size)),
                    mount(&pod_volume, target, volume.read_only),
                );
            }
            (VolumeType::Bind, Some(source)) => {
                self.bind_mount(name, index, source, target, volume.read_only, mounts)?;
            }
            (kind, source) => {
                self.report.not_carried(
                    name,
                    "volumes",
                    &format!(
                        "{} mount {} at {target}",
                        serde_json::to_value(kind)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                        source.unwrap_or("")
                    ),
                );
            }
        }
        Ok(())
    }

    /// A file becomes a ConfigMap; a directory (or a path that does not exist yet) follows `--bind`.
    fn bind_mount(
        &mut self,
        name: &str,
        index: usize,
        source: &str,
        target: &str,
        read_only: bool,
        mounts: &mut Mounts,
    ) -> anyhow::Result<()> {
        let pod_volume = format!("bind-{index}");
        if let Some(content) = self
            .facts
            .files
            .get(source)
            .filter(|c| c.len() <= CONFIG_MAP_LIMIT)
        {
            let config_map = format!("{}-{}", self.names.service(name), dns_label(target));
            let key = data_key(source.rsplit('/').next().unwrap_or(source));
            self.push(
                files_config_map(
                    self.meta(&config_map, self.selector(name)),
                    &[(key.as_str(), content.as_slice())],
                ),
                &format!("service {name} volume {source}"),
            )?;
            if !read_only {
                self.report.changed(
                    name,
                    "volumes",
                    &format!("{source} at {target} is a ConfigMap: read-only, and edits on the host need a new conversion"),
                );
            }
            mounts.add(
                Volume {
                    name: pod_volume.clone(),
                    config_map: Some(ConfigMapVolumeSource {
                        name: config_map,
                        ..ConfigMapVolumeSource::default()
                    }),
                    ..Volume::default()
                },
                VolumeMount {
                    sub_path: Some(key),
                    ..mount(&pod_volume, target, true)
                },
            );
            return Ok(());
        }
        if read_only
            && self.options.bind == BindMode::EmptyDir
            && let Some(files) = self.facts.directories.get(source)
            && files.keys().all(|file| data_key(file) == *file)
        {
            let config_map = format!("{}-{}", self.names.service(name), dns_label(target));
            let entries: Vec<(&str, &[u8])> = files
                .iter()
                .map(|(file, content)| (file.as_str(), content.as_slice()))
                .collect();
            self.push(
                files_config_map(self.meta(&config_map, self.selector(name)), &entries),
                &format!("service {name} volume {source}"),
            )?;
            self.report.changed(
                name,
                "volumes",
                &format!("{source} at {target} (a read-only directory of {} file{}) is a ConfigMap: edits on the host need a new conversion", files.len(), if files.len() == 1 { "" } else { "s" }),
            );
            mounts.add(
                Volume {
                    name: pod_volume.clone(),
                    config_map: Some(ConfigMapVolumeSource {
                        name: config_map,
                        ..ConfigMapVolumeSource::default()
                    }),
                    ..Volume::default()
                },
                mount(&pod_volume, target, true),
            );
            return Ok(());
        }
        let volume = match self.options.bind {
            BindMode::EmptyDir => {
                self.report.changed(
                    name,
                    "volumes",
                    &format!("{source} at {target} is a host directory: the pod gets an empty directory (--bind hostpath mounts the node's)"),
                );
                Volume {
                    name: pod_volume.clone(),
                    empty_dir: Some(EmptyDirVolumeSource::default()),
                    ..Volume::default()
                }
            }
            BindMode::HostPath => {
                self.report.changed(
                    name,
                    "volumes",
                    &format!("{source} at {target} is the node's directory {source}, which each node must hold"),
                );
                Volume {
                    name: pod_volume.clone(),
                    host_path: Some(HostPathVolumeSource {
                        path: source.to_string(),
                        type_: Some("DirectoryOrCreate".to_string()),
                    }),
                    ..Volume::default()
                }
            }
        };
        mounts.add(volume, mount(&pod_volume, target, read_only));
        Ok(())
    }

    /// A service's secret or config: its Secret or ConfigMap, mounted (one key, by `subPath`) where
    /// Compose mounts it, with its `mode`.
    fn file_mount(
        &mut self,
        name: &str,
        kind: FileKind,
        reference: &FileReference,
        mounts: &mut Mounts,
    ) -> anyhow::Result<()> {
        let project = self.project;
        let definition = match kind {
            FileKind::Secret => project
                .secrets
                .get(&reference.source)
                .map(|s| (s.external, s.name.as_deref(), s.resolved.as_ref())),
            FileKind::Config => project
                .configs
                .get(&reference.source)
                .map(|c| (c.external, c.name.as_deref(), c.resolved.as_ref())),
        };
        let Some((external, declared_name, content)) = definition else {
            return Ok(());
        };
        let Some(object) = self.file_object(
            name,
            kind,
            &reference.source,
            external,
            declared_name,
            content,
        )?
        else {
            return Ok(());
        };
        let target = match reference.target.as_deref() {
            Some(target) if target.starts_with('/') => target.to_string(),
            Some(target) => format!("{}{target}", kind.directory()),
            None => format!("{}{}", kind.directory(), reference.source),
        };
        self.ownership(name, kind.attribute(), reference);
        let pod_volume = format!("{}-{}", kind.volume_prefix(), dns_label(&reference.source));
        let default_mode = reference.mode.and_then(|m| i32::try_from(m).ok());
        let volume = match kind {
            FileKind::Secret => Volume {
                name: pod_volume.clone(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(object),
                    default_mode,
                    ..SecretVolumeSource::default()
                }),
                ..Volume::default()
            },
            FileKind::Config => Volume {
                name: pod_volume.clone(),
                config_map: Some(ConfigMapVolumeSource {
                    name: object,
                    default_mode,
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            },
        };
        mounts.add(
            volume,
            VolumeMount {
                sub_path: Some(data_key(&reference.source)),
                ..mount(&pod_volume, &target, true)
            },
        );
        Ok(())
    }

    /// The Secret or ConfigMap of a project secret or config, made once; its name, or `None` when
    /// its content is unknown (reported). An external one is expected to exist.
    fn file_object(
        &mut self,
        service: &str,
        kind: FileKind,
        key: &str,
        external: bool,
        declared_name: Option<&str>,
        content: Option<&Content>,
    ) -> anyhow::Result<Option<String>> {
        let attribute = kind.attribute();
        let object_kind = kind.object_kind();
        if external {
            let object = dns_label(declared_name.unwrap_or(key));
            self.report.changed(
                service,
                attribute,
                &format!(
                    "{key} is external: a {object_kind} named {object:?} must exist in the namespace"
                ),
            );
            return Ok(Some(object));
        }
        let object = dns_label(key);
        let Some(content) = content else {
            self.report.not_carried(
                service,
                attribute,
                &format!("{key}: its content is unknown (a missing file or an unset variable), so it is not mounted"),
            );
            return Ok(None);
        };
        if self.has(object_kind, &object) {
            return Ok(Some(object));
        }
        let meta = self.meta(&object, BTreeMap::new());
        let data_key = data_key(key);
        let source = format!("{attribute} {key}");
        if kind == FileKind::Secret {
            self.push(
                Secret {
                    metadata: meta,
                    data: Some(BTreeMap::from([(data_key, ByteString(content.0.clone()))])),
                    type_: Some("Opaque".to_string()),
                    ..Secret::default()
                },
                &source,
            )?;
        } else {
            self.push(
                files_config_map(meta, &[(data_key.as_str(), content.0.as_slice())]),
                &source,
            )?;
        }
        Ok(Some(object))
    }

    fn ownership(&mut self, name: &str, attribute: &str, reference: &FileReference) {
        if reference.uid.is_some() || reference.gid.is_some() {
            self.report.not_carried(
                name,
                attribute,
                &format!(
                    "{}: uid and gid (mounted files belong to root, or to the pod's fsGroup)",
                    reference.source
                ),
            );
        }
    }

    /// The claim name of volume `key`.
    fn claim_name(&self, key: &str) -> String {
        match self.project.volumes.get(key) {
            Some(volume) if volume.external => dns_label(volume.name.as_deref().unwrap_or(key)),
            _ => dns_label(key),
        }
    }

    /// One PersistentVolumeClaim per named volume a converted service mounts.
    pub(super) fn volume_claims(&mut self) -> anyhow::Result<()> {
        let mut users: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut many = BTreeSet::new();
        for (name, service) in &self.project.services {
            if service.provider.is_some() {
                continue;
            }
            for volume in &service.volumes {
                if let (VolumeType::Volume, Some(key)) = (volume.kind, volume.source.as_deref()) {
                    users.entry(key).or_default().insert(name);
                    if replicas(service) > 1 || self.workload_kind(name, service) == Kind::DaemonSet
                    {
                        many.insert(key);
                    }
                }
            }
        }
        for (key, services) in users {
            let volume = self.project.volumes.get(key).cloned().unwrap_or_default();
            let subject = format!("volume {key}");
            if volume.external {
                self.report.project_changed(
                    &subject,
                    "external",
                    &format!(
                        "a PersistentVolumeClaim named {:?} must exist in the namespace",
                        self.claim_name(key)
                    ),
                );
                continue;
            }
            if volume.driver.as_deref().is_some_and(|d| d != "local")
                || !volume.driver_opts.is_empty()
            {
                self.report.project_attribute(
                    &subject,
                    "driver, driver_opts",
                    "the cluster's storage class decides how the claim is provided",
                );
            }
            let shared = services.len() > 1 || many.contains(key);
            if shared {
                self.report.project_changed(
                    &subject,
                    "access",
                    &format!(
                        "mounted by more than one pod ({}): ReadWriteMany, which the storage class must offer",
                        services.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
            let size = volume
                .labels
                .get(crate::labels::KUBERNETES_VOLUME_SIZE)
                .cloned()
                .unwrap_or_else(|| self.options.volume_size.clone());
            let (labels, _) = self.split_labels(&subject, "labels", &volume.labels);
            let claim = self.claim_name(key);
            self.push(
                PersistentVolumeClaim {
                    metadata: self.meta(&claim, labels),
                    spec: Some(PersistentVolumeClaimSpec {
                        access_modes: Some(vec![
                            if shared {
                                "ReadWriteMany"
                            } else {
                                "ReadWriteOnce"
                            }
                            .to_string(),
                        ]),
                        resources: Some(VolumeResourceRequirements {
                            requests: Some(BTreeMap::from([(
                                "storage".to_string(),
                                Quantity(size),
                            )])),
                            limits: None,
                        }),
                        ..PersistentVolumeClaimSpec::default()
                    }),
                    status: None,
                },
                &subject,
            )?;
        }
        Ok(())
    }
}

/// A project-level file a service mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Secret,
    Config,
}

impl FileKind {
    /// The service attribute that mounts it.
    fn attribute(self) -> &'static str {
        match self {
            FileKind::Secret => "secrets",
            FileKind::Config => "configs",
        }
    }

    /// The Kubernetes kind that holds it.
    fn object_kind(self) -> &'static str {
        match self {
            FileKind::Secret => "Secret",
            FileKind::Config => "ConfigMap",
        }
    }

    /// Where Compose mounts it without a target, or with a relative one.
    fn directory(self) -> &'static str {
        match self {
            FileKind::Secret => "/run/secrets/",
            FileKind::Config => "/",
        }
    }

    fn volume_prefix(self) -> &'static str {
        match self {
            FileKind::Secret => "secret",
            FileKind::Config => "config",
        }
    }
}

fn mount(volume: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: volume.to_string(),
        mount_path: path.to_string(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

fn memory_volume(name: &str, size: Option<ByteSize>) -> Volume {
    Volume {
        name: name.to_string(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".to_string()),
            size_limit: size.filter(|s| s.bytes() > 0).map(memory_quantity),
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// A ConfigMap with a key per file: text as `data`, other bytes as `binaryData`.
fn files_config_map(
    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    files: &[(&str, &[u8])],
) -> ConfigMap {
    let mut data = BTreeMap::new();
    let mut binary_data = BTreeMap::new();
    for (key, content) in files {
        match std::str::from_utf8(content) {
            Ok(text) => {
                data.insert(key.to_string(), text.to_string());
            }
            Err(_) => {
                binary_data.insert(key.to_string(), ByteString(content.to_vec()));
            }
        }
    }
    ConfigMap {
        metadata,
        data: (!data.is_empty()).then_some(data),
        binary_data: (!binary_data.is_empty()).then_some(binary_data),
        ..ConfigMap::default()
    }
}
