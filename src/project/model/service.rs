//! A service and the small structures only a service has.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Unexpected, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::lenient::{
    dict, is_false, multi_dict, opt_file_mode, opt_scalar, scalar, serialize_opt_as_string,
    serialize_opt_file_mode, serialize_opt_number, string_or_list, vec_scalar,
};
use super::{Build, Deploy, Develop, Gpus, Port, ServiceNetwork, ServiceVolume};
use crate::project::units::{ByteSize, Duration};

/// One service of a project, in the canonical long syntax (the schema's `service`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// OCI annotations of the containers.
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// Whether `up` attaches to the logs (default true).
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub attach: Option<bool>,
    /// Block IO limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_config: Option<BlkioConfig>,
    /// How to build the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    /// Capabilities added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// Capabilities dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// The cgroup namespace mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<Cgroup>,
    /// The parent cgroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    /// Overrides the image's CMD; `Some(vec![])` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Configs mounted into the containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<FileReference>,
    /// A fixed container name (then the service cannot scale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// Number of usable CPUs (Windows).
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu_count: Option<i64>,
    /// Usable percentage of the CPUs (Windows).
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu_percent: Option<i64>,
    /// CFS period in microseconds.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu_period: Option<i64>,
    /// CFS quota in microseconds.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu_quota: Option<i64>,
    /// Real-time period in microseconds.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu_rt_period: Option<i64>,
    /// Real-time runtime in microseconds.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu_rt_runtime: Option<i64>,
    /// Relative CPU weight.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs (fractional).
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        serialize_with = "serialize_opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpus: Option<f64>,
    /// CPUs the containers may run on (`0-3`, `0,1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<String>,
    /// Windows credential spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_spec: Option<CredentialSpec>,
    /// Services this one depends on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, DependsOn>,
    /// Deployment settings (replicas, resources, restart policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    /// Development settings (`watch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub develop: Option<Develop>,
    /// Device cgroup rules (`c 1:3 mr`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    /// Host devices mapped into the containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
    /// DNS servers.
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub dns: Vec<String>,
    /// DNS resolver options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    /// DNS search domains.
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub dns_search: Vec<String>,
    /// The containers' domain name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    /// Overrides the image's ENTRYPOINT; `Some(vec![])` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Files of environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_file: Vec<EnvFile>,
    /// Environment variables; `None` means "the value of the same variable where compose runs".
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub environment: BTreeMap<String, Option<String>>,
    /// Ports exposed without publishing (`"80"`, `"8000-8010/udp"`).
    #[serde(
        default,
        deserialize_with = "vec_scalar",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub expose: Vec<String>,
    /// The service this one extends; consumed by the loader, so `None` after loading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<Extends>,
    /// Links to containers outside the project.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_links: Vec<String>,
    /// Extra `/etc/hosts` entries, each `host=ip`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// GPUs reserved for the containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<Gpus>,
    /// Supplementary groups (names or ids).
    #[serde(
        default,
        deserialize_with = "vec_scalar",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub group_add: Vec<String>,
    /// The health check, overriding the image's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// The containers' host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The image to run (or to tag the build with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Whether to run an init process as PID 1.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub init: Option<bool>,
    /// The IPC namespace mode (`host`, `shareable`, `service:name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    /// Isolation technology (Windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    /// Files of labels.
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub label_file: Vec<String>,
    /// Container labels.
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// Legacy links to other services (`service` or `service:alias`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// The logging driver and its options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    /// The MAC address of the containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// Memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<ByteSize>,
    /// Memory soft limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_reservation: Option<ByteSize>,
    /// Swappiness, 0 to 100.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        serialize_with = "serialize_opt_as_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub mem_swappiness: Option<i64>,
    /// Memory plus swap limit; `-1` is unlimited swap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memswap_limit: Option<ByteSize>,
    /// AI models the service uses (`None`: the defaults).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, Option<ServiceModel>>,
    /// The network mode (`host`, `none`, `service:name`, `container:id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// Networks the service joins (`None`: no per-network settings, printed `null`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Option<ServiceNetwork>>,
    /// Whether the OOM killer is disabled.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub oom_kill_disable: bool,
    /// OOM score adjustment, -1000 to 1000.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub oom_score_adj: Option<i64>,
    /// The PID namespace mode (`host`, `service:name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// Maximum number of processes; `-1` is unlimited.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub pids_limit: Option<i64>,
    /// Target platform (`linux/amd64`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Published ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// Commands run in the container after it starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_start: Vec<Hook>,
    /// Commands run before the service's containers start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_start: Vec<PreStartHook>,
    /// Commands run in the container before it stops.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_stop: Vec<Hook>,
    /// Whether the containers run privileged.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub privileged: bool,
    /// Profiles that enable the service; none means always enabled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// A provider that manages the service instead of containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// When to pull the image (`always`, `never`, `missing`, `build`, `daily`, `every_2h`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<String>,
    /// How long a pulled image stays fresh (with `pull_policy: refresh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_refresh_after: Option<String>,
    /// Whether the root filesystem is read-only.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// The restart policy (`no`, `always`, `on-failure[:N]`, `unless-stopped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// The OCI runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Number of containers.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub scale: Option<u32>,
    /// Secrets mounted into the containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<FileReference>,
    /// Security options (`no-new-privileges:true`, `seccomp=...`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    /// Size of `/dev/shm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<ByteSize>,
    /// Whether stdin stays open.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub stdin_open: bool,
    /// How long to wait after the stop signal before killing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Duration>,
    /// The stop signal (`SIGTERM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Storage driver options.
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub storage_opt: BTreeMap<String, String>,
    /// Kernel parameters.
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub sysctls: BTreeMap<String, String>,
    /// tmpfs mounts (`/run`, `/run:size=64m`).
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tmpfs: Vec<String>,
    /// Whether a TTY is allocated.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub tty: bool,
    /// Resource limits (`nofile`, `nproc`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, Ulimit>,
    /// Whether the engine's API socket is mounted.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub use_api_socket: bool,
    /// The user (`name`, `uid`, `uid:gid`).
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub user: Option<String>,
    /// The user namespace mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns_mode: Option<String>,
    /// The UTS namespace mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    /// Mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<ServiceVolume>,
    /// Mount all volumes of other services or containers (`service[:ro]`, `container:name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    /// The working directory in the containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

/// The cgroup namespace mode of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cgroup {
    /// The host's cgroup namespace.
    Host,
    /// A private cgroup namespace.
    Private,
}

/// Block IO limits of a service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlkioConfig {
    /// Read rate limits in bytes per second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<BlkioLimit>,
    /// Read rate limits in operations per second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<BlkioLimit>,
    /// Write rate limits in bytes per second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<BlkioLimit>,
    /// Write rate limits in operations per second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<BlkioLimit>,
    /// Relative weight, 10 to 1000.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub weight: Option<u16>,
    /// Relative weights per device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<BlkioWeight>,
}

/// A rate limit on one block device (bytes or operations per second; sizes like `1mb` allowed).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlkioLimit {
    /// The device path.
    pub path: String,
    /// The rate.
    pub rate: ByteSize,
}

/// A relative weight for one block device.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlkioWeight {
    /// The device path.
    pub path: String,
    /// The weight, 10 to 1000.
    #[serde(deserialize_with = "scalar")]
    pub weight: u16,
}

/// A Windows credential spec.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialSpec {
    /// A config holding the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// A file holding the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// A registry value holding the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
}

/// A dependency on another service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DependsOn {
    /// What the dependency must reach before this service starts.
    pub condition: Condition,
    /// Whether a missing or disabled dependency is an error (otherwise only a warning).
    #[serde(deserialize_with = "scalar")]
    pub required: bool,
    /// Whether this service restarts when the dependency is updated.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub restart: bool,
}

/// The state a dependency must reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Its containers have started.
    #[default]
    ServiceStarted,
    /// Its containers are healthy.
    ServiceHealthy,
    /// Its containers have exited with status 0.
    ServiceCompletedSuccessfully,
}

/// A host device mapped into the containers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// cgroup permissions (`rwm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
    /// The host path.
    pub source: String,
    /// The path in the container (default: the host path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A file of environment variables.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvFile {
    /// The file format (`raw` takes values literally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The file path.
    pub path: String,
    /// Whether a missing file is an error.
    #[serde(deserialize_with = "scalar")]
    pub required: bool,
}

/// The service a service extends.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extends {
    /// The file that defines it (default: the same file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Its name.
    pub service: String,
}

/// A secret or config mounted into a service's containers (service-level `secrets`/`configs`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileReference {
    /// Group owning the file.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub gid: Option<String>,
    /// Permission bits: a number as written (`288`), or a string read as octal (`"0440"`).
    #[serde(
        default,
        deserialize_with = "opt_file_mode",
        serialize_with = "serialize_opt_file_mode",
        skip_serializing_if = "Option::is_none"
    )]
    pub mode: Option<u32>,
    /// The project-level secret or config.
    pub source: String,
    /// Where it is mounted (a secret defaults to `/run/secrets/<source>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// User owning the file.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub uid: Option<String>,
}

/// A health check.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    /// Disables the image's health check.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub disable: bool,
    /// Time between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Consecutive failures before unhealthy.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub retries: Option<u64>,
    /// Time between checks during the start period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Duration>,
    /// Time during which failures do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    /// The check: `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Time after which one check fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// A command run in a service's container on a lifecycle event (`post_start`, `pre_stop`, `exec` of
/// a watch rule).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// The command, already split into arguments.
    pub command: Vec<String>,
    /// Extra environment variables.
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub environment: BTreeMap<String, Option<String>>,
    /// Whether it runs privileged.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub privileged: bool,
    /// The user it runs as.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub user: Option<String>,
    /// Its working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

/// A command run before a service's containers start (`pre_start`), possibly in another image.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreStartHook {
    /// The command, already split into arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Extra environment variables.
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub environment: BTreeMap<String, Option<String>>,
    /// The image it runs in (default: the service's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Whether it runs once per replica rather than once per service.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub per_replica: bool,
    /// Whether it runs privileged.
    #[serde(default, deserialize_with = "scalar", skip_serializing_if = "is_false")]
    pub privileged: bool,
    /// The user it runs as.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub user: Option<String>,
    /// Its working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

/// The logging driver of a service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    /// The driver (`json-file`, `local`, `none`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub options: BTreeMap<String, String>,
}

/// A provider service: managed by a plugin instead of running containers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Options passed to the provider; a single value is a list of one.
    #[serde(
        default,
        deserialize_with = "multi_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub options: BTreeMap<String, Vec<String>>,
    /// The provider (a plugin name).
    #[serde(rename = "type")]
    pub kind: String,
}

/// How a service uses a project-level model.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceModel {
    /// The variable that receives the model's endpoint URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_var: Option<String>,
    /// The variable that receives the model's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_var: Option<String>,
}

/// A resource limit (`nofile`, `nproc`, ...): one value for both limits, or soft and hard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ulimit {
    /// One value for the soft and the hard limit (`nproc: 65535`).
    Single(i64),
    /// Separate soft and hard limits.
    SoftHard(UlimitRange),
}

impl Ulimit {
    /// The soft limit.
    pub fn soft(&self) -> i64 {
        match self {
            Ulimit::Single(value) => *value,
            Ulimit::SoftHard(range) => range.soft,
        }
    }

    /// The hard limit.
    pub fn hard(&self) -> i64 {
        match self {
            Ulimit::Single(value) => *value,
            Ulimit::SoftHard(range) => range.hard,
        }
    }
}

/// The soft and hard values of a [`Ulimit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UlimitRange {
    /// The hard limit.
    #[serde(deserialize_with = "scalar")]
    pub hard: i64,
    /// The soft limit.
    #[serde(deserialize_with = "scalar")]
    pub soft: i64,
}

impl Serialize for Ulimit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Ulimit::Single(value) => serializer.serialize_i64(*value),
            Ulimit::SoftHard(range) => range.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Ulimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UlimitVisitor;

        impl<'de> Visitor<'de> for UlimitVisitor {
            type Value = Ulimit;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a map with soft and hard")
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Ulimit, E> {
                Ok(Ulimit::Single(value))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Ulimit, E> {
                i64::try_from(value)
                    .map(Ulimit::Single)
                    .map_err(|_| E::invalid_value(Unexpected::Unsigned(value), &self))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Ulimit, E> {
                value
                    .trim()
                    .parse()
                    .map(Ulimit::Single)
                    .map_err(|_| E::invalid_value(Unexpected::Str(value), &self))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Ulimit, A::Error> {
                UlimitRange::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Ulimit::SoftHard)
            }
        }

        deserializer.deserialize_any(UlimitVisitor)
    }
}
