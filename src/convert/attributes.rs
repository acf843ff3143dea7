//! The decision for every service attribute of the Compose schema: mapped to Kubernetes (the mapping
//! code reports any part it cannot carry), or reported with the reason it has no effect there. An
//! attribute missing from the table is still reported ("no mapping known"), never dropped; the test
//! `every_schema_attribute_has_a_decision` (tests/convert.rs) walks the schema against this table.

use crate::project::model::Service;

/// What becomes of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Carried over, to what the text says.
    Mapped(&'static str),
    /// Not carried over, because of what the text says; reported whenever a service sets it.
    Reported(&'static str),
}

use Decision::*;

const CPU_KNOBS: &str =
    "Kubernetes sets CPU through requests and limits only (cpus, deploy.resources)";
const WINDOWS: &str = "Windows containers only";

/// Each service attribute of the Compose schema, alphabetical, and its decision.
pub const ATTRIBUTES: &[(&str, Decision)] = &[
    ("annotations", Mapped("pod template annotations")),
    (
        "attach",
        Reported("the cluster keeps every container's logs (kubectl logs)"),
    ),
    (
        "blkio_config",
        Reported("Kubernetes has no block IO limits"),
    ),
    (
        "build",
        Mapped("the image name (the image must be built and pushed)"),
    ),
    ("cap_add", Mapped("securityContext.capabilities.add")),
    ("cap_drop", Mapped("securityContext.capabilities.drop")),
    (
        "cgroup",
        Reported("the cgroup namespace is the container runtime's choice"),
    ),
    (
        "cgroup_parent",
        Reported("the kubelet places pods in its own cgroups"),
    ),
    ("command", Mapped("container args")),
    ("configs", Mapped("ConfigMaps mounted at the target")),
    (
        "container_name",
        Reported("pods are named by their controller"),
    ),
    ("cpu_count", Reported(WINDOWS)),
    ("cpu_percent", Reported(WINDOWS)),
    ("cpu_period", Reported(CPU_KNOBS)),
    ("cpu_quota", Reported(CPU_KNOBS)),
    ("cpu_rt_period", Reported(CPU_KNOBS)),
    ("cpu_rt_runtime", Reported(CPU_KNOBS)),
    ("cpu_shares", Reported(CPU_KNOBS)),
    ("cpus", Mapped("resources.limits.cpu")),
    (
        "cpuset",
        Reported("CPU pinning is the kubelet's CPU manager policy"),
    ),
    ("credential_spec", Reported(WINDOWS)),
    (
        "depends_on",
        Mapped("init containers that wait for the dependency"),
    ),
    (
        "deploy",
        Mapped("replicas, resources, update strategy, global mode"),
    ),
    ("develop", Reported("watch is a local development loop")),
    (
        "device_cgroup_rules",
        Reported("host devices reach pods through device plugins"),
    ),
    (
        "devices",
        Reported("host devices reach pods through device plugins"),
    ),
    ("dns", Mapped("dnsConfig.nameservers")),
    ("dns_opt", Mapped("dnsConfig.options")),
    ("dns_search", Mapped("dnsConfig.searches")),
    (
        "domainname",
        Reported("a pod's domain comes from the cluster's DNS"),
    ),
    ("entrypoint", Mapped("container command")),
    ("env_file", Mapped("a ConfigMap read with envFrom")),
    ("environment", Mapped("container env")),
    ("expose", Mapped("Service ports")),
    ("extends", Mapped("resolved by the loader")),
    (
        "external_links",
        Reported("containers outside the project are not in the cluster"),
    ),
    ("extra_hosts", Mapped("hostAliases")),
    (
        "gpus",
        Reported("GPUs come from a device plugin's extended resource"),
    ),
    ("group_add", Mapped("securityContext.supplementalGroups")),
    (
        "healthcheck",
        Mapped("readiness, liveness and startup probes"),
    ),
    ("hostname", Mapped("pod hostname")),
    ("image", Mapped("container image")),
    (
        "init",
        Mapped("shareProcessNamespace: the pod's pause process reaps zombies as PID 1"),
    ),
    (
        "ipc",
        Reported("pods do not share IPC namespaces with the node or other pods"),
    ),
    ("isolation", Reported(WINDOWS)),
    ("label_file", Mapped("read into labels by the loader")),
    (
        "labels",
        Mapped("labels (annotations when not a valid label)"),
    ),
    ("links", Mapped("aliases as extra Services")),
    ("logging", Reported("the kubelet collects container logs")),
    (
        "mac_address",
        Reported("the cluster network assigns addresses"),
    ),
    ("mem_limit", Mapped("resources.limits.memory")),
    ("mem_reservation", Mapped("resources.requests.memory")),
    ("mem_swappiness", Reported("swap is the kubelet's setting")),
    ("memswap_limit", Reported("swap is the kubelet's setting")),
    (
        "models",
        Reported("models run by Docker Model Runner are not in the cluster"),
    ),
    (
        "network_mode",
        Mapped(
            "`none` as a NetworkPolicy that denies all traffic; `service:X` as a container in X's pods; others reported",
        ),
    ),
    (
        "networks",
        Mapped("NetworkPolicies, aliases as extra Services"),
    ),
    (
        "oom_kill_disable",
        Reported("the kubelet sets OOM behaviour by QoS class"),
    ),
    (
        "oom_score_adj",
        Reported("the kubelet sets OOM scores by QoS class"),
    ),
    (
        "pid",
        Reported("pods do not share PID namespaces with the node or other pods"),
    ),
    (
        "pids_limit",
        Reported("the PID limit of pods is the kubelet's setting"),
    ),
    (
        "platform",
        Mapped("nodeSelector kubernetes.io/os and kubernetes.io/arch"),
    ),
    (
        "ports",
        Mapped("Services (ClusterIP inside, --service-type for published ports)"),
    ),
    ("post_start", Mapped("lifecycle.postStart exec")),
    (
        "pre_start",
        Mapped("init containers after the dependency waits"),
    ),
    ("pre_stop", Mapped("lifecycle.preStop exec")),
    ("privileged", Mapped("securityContext.privileged")),
    (
        "profiles",
        Mapped("selection: only enabled services are converted"),
    ),
    (
        "provider",
        Reported("a provider service is run by a plugin, not as a pod"),
    ),
    ("pull_policy", Mapped("imagePullPolicy")),
    (
        "pull_refresh_after",
        Reported("the kubelet pulls by imagePullPolicy only"),
    ),
    (
        "read_only",
        Mapped("securityContext.readOnlyRootFilesystem"),
    ),
    (
        "restart",
        Mapped("restartPolicy (Jobs), always for other controllers"),
    ),
    (
        "runtime",
        Reported("runtimes are RuntimeClasses the cluster defines"),
    ),
    ("scale", Mapped("replicas")),
    ("secrets", Mapped("Secrets mounted at the target")),
    (
        "security_opt",
        Mapped("no-new-privileges, seccomp and apparmor unconfined; others reported"),
    ),
    (
        "shm_size",
        Mapped("a memory emptyDir at /dev/shm with its size"),
    ),
    ("stdin_open", Mapped("container stdin")),
    ("stop_grace_period", Mapped("terminationGracePeriodSeconds")),
    (
        "stop_signal",
        Reported("the kubelet stops containers with the image's STOPSIGNAL"),
    ),
    (
        "storage_opt",
        Reported("the container runtime's storage driver is the node's"),
    ),
    ("sysctls", Mapped("pod securityContext.sysctls")),
    ("tmpfs", Mapped("memory emptyDirs with their size")),
    ("tty", Mapped("container tty")),
    (
        "ulimits",
        Reported("Kubernetes leaves ulimits to the container runtime's defaults"),
    ),
    (
        "use_api_socket",
        Reported("there is no Docker API socket in the cluster"),
    ),
    (
        "user",
        Mapped("securityContext.runAsUser/runAsGroup (numeric ids)"),
    ),
    (
        "userns_mode",
        Reported("user namespaces are the cluster's setting (hostUsers)"),
    ),
    (
        "uts",
        Reported("pods do not share the node's UTS namespace"),
    ),
    (
        "volumes",
        Mapped("PersistentVolumeClaims, emptyDirs, ConfigMaps for files"),
    ),
    (
        "volumes_from",
        Reported("pods do not share volumes with other pods' containers"),
    ),
    ("working_dir", Mapped("container workingDir")),
];

/// The decision for `attribute`, if the table has one.
pub fn decision(attribute: &str) -> Option<Decision> {
    ATTRIBUTES
        .iter()
        .find(|(name, _)| *name == attribute)
        .map(|(_, decision)| *decision)
}

/// Reports each attribute `service` sets that is not carried over (by the table, or because the
/// table lacks it).
pub fn report_unmapped(name: &str, service: &Service, report: &mut super::Report) {
    let serde_json::Value::Object(set) =
        serde_json::to_value(service).expect("a service serializes")
    else {
        return;
    };
    for attribute in set.keys() {
        match decision(attribute) {
            Some(Mapped(_)) => {}
            Some(Reported(why)) => report.not_carried(name, attribute, why),
            None => report.not_carried(name, attribute, "no Kubernetes mapping known"),
        }
    }
}
