//! Deployment settings of a service (the schema's `deployment`) and device requests (`gpus`).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Unexpected, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::lenient::{dict, opt_scalar, serialize_opt_number};
use crate::project::units::{ByteSize, Duration};

/// Deployment settings of a service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    /// How clients reach the service (`vip`, `dnsrr`; swarm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_mode: Option<String>,
    /// Service labels (not container labels).
    #[serde(
        default,
        deserialize_with = "dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// `replicated` or `global` (swarm; also `replicated-job`, `global-job`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Placement constraints (swarm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// Number of containers.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub replicas: Option<u32>,
    /// Resource limits and reservations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// When to restart containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// How to roll back a failed update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    /// How to update the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
}

/// Resource limits and reservations of a service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Upper bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// Guaranteed resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Reservations>,
}

/// Upper bounds on a container's resources.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Number of CPUs (fractional).
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        serialize_with = "serialize_opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpus: Option<f64>,
    /// Memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    /// Maximum number of processes.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub pids: Option<i64>,
}

/// Resources guaranteed to a container.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reservations {
    /// Number of CPUs (fractional).
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        serialize_with = "serialize_opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpus: Option<f64>,
    /// Devices (GPUs, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceRequest>,
    /// User-defined resources (swarm).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generic_resources: Vec<GenericResource>,
    /// Memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
}

/// A request for devices by capability (GPUs).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    /// Required capabilities (`gpu`, `compute`, `utility`); required by `deploy`, not by `gpus`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// How many devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<DeviceCount>,
    /// Specific devices, by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_ids: Vec<String>,
    /// The device driver (`nvidia`).
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

/// How many devices a [`DeviceRequest`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceCount {
    /// Every matching device (`all`, or `-1`).
    All,
    /// This many.
    Count(u64),
}

impl Serialize for DeviceCount {
    /// `all` is printed `-1`, as docker compose v2 prints it (both read back).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            DeviceCount::All => serializer.serialize_i64(-1),
            DeviceCount::Count(count) => serializer.serialize_u64(*count),
        }
    }
}

impl<'de> Deserialize<'de> for DeviceCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountVisitor;

        impl Visitor<'_> for CountVisitor {
            type Value = DeviceCount;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"all\" or a number of devices")
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<DeviceCount, E> {
                match value {
                    -1 => Ok(DeviceCount::All),
                    _ => u64::try_from(value)
                        .map(DeviceCount::Count)
                        .map_err(|_| E::invalid_value(Unexpected::Signed(value), &self)),
                }
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<DeviceCount, E> {
                Ok(DeviceCount::Count(value))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<DeviceCount, E> {
                if value.eq_ignore_ascii_case("all") {
                    return Ok(DeviceCount::All);
                }
                match value.trim().parse::<i64>() {
                    Ok(number) => self.visit_i64(number),
                    Err(_) => Err(E::invalid_value(Unexpected::Str(value), &self)),
                }
            }
        }

        deserializer.deserialize_any(CountVisitor)
    }
}

/// The GPUs of a service: `all`, or a list of device requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gpus {
    /// Every GPU (`gpus: all`).
    All,
    /// These requests.
    Devices(Vec<DeviceRequest>),
}

impl Serialize for Gpus {
    /// `all` is printed as the request it stands for, `[{count: -1}]`, as docker compose v2 prints it.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Gpus::All => [serde_json::json!({"count": -1})].serialize(serializer),
            Gpus::Devices(devices) => devices.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Gpus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct GpusVisitor;

        impl<'de> Visitor<'de> for GpusVisitor {
            type Value = Gpus;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"all\" or a list of device requests")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Gpus, E> {
                if value == "all" {
                    Ok(Gpus::All)
                } else {
                    Err(E::invalid_value(Unexpected::Str(value), &self))
                }
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Gpus, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Gpus::Devices)
            }
        }

        deserializer.deserialize_any(GpusVisitor)
    }
}

/// A user-defined resource (swarm).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericResource {
    /// A countable resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discrete_resource_spec: Option<DiscreteResourceSpec>,
}

/// A countable user-defined resource (`SSD=2`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscreteResourceSpec {
    /// The kind of resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// How many.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<i64>,
}

/// When to restart a service's containers (the deploy form of `restart`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    /// `none`, `on-failure` or `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Time between attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// Attempts before giving up.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_attempts: Option<u64>,
    /// Time to wait before deciding a restart succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
}

/// How a service is updated or rolled back.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    /// Time between batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// `continue`, `rollback` or `pause`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_action: Option<String>,
    /// Tolerated failure ratio.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        serialize_with = "serialize_opt_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_failure_ratio: Option<f64>,
    /// Time to watch each updated container for failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<Duration>,
    /// Whether the new container starts before the old one stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<UpdateOrder>,
    /// Containers updated at a time.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub parallelism: Option<u64>,
}

/// The order of stop and start during an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOrder {
    /// Stop the old container first.
    StopFirst,
    /// Start the new container first.
    StartFirst,
}

/// Where a service's containers may run (swarm).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// Node constraints (`node.role==manager`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    /// Maximum containers per node.
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_replicas_per_node: Option<u64>,
    /// Spread preferences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<PlacementPreference>,
}

/// A placement preference (swarm).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementPreference {
    /// The node label to spread over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<String>,
}
