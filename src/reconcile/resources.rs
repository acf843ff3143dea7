//! A service's resource settings as the runtime's cgroup [`Limits`], with docker compose's mapping
//! (`getDeployResources`) and dockerd's checks (`verifyContainerResources`): `cpu_shares`,
//! `cpu_quota`/`cpu_period`, the real-time pair, `cpuset`, `mem_reservation` (or
//! `deploy.resources.reservations.memory`, which wins), `memswap_limit`, `mem_swappiness`,
//! `oom_kill_disable`, `blkio_config`, `device_cgroup_rules`, `oom_score_adj`, `cgroup_parent`.
//! What the host's kernel cannot do is the runtime's to say ([`runtime::cgroup::Hierarchy::check`]).
//!
//! [`Limits`]: runtime::cgroup::Limits

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use runtime::cgroup::{DeviceValue, Throttle, ThrottleKind};
use runtime::container::ContainerSpec;

use crate::project::model::Service;

/// Sets `spec`'s resource settings beyond memory, CPUs and pids from the service; an error says
/// what is wrong with them, in dockerd's words where it has them.
pub fn apply(service: &Service, spec: &mut ContainerSpec) -> Result<(), String> {
    let limits = &mut spec.limits;
    let non_negative = |name: &str, value: i64| {
        u64::try_from(value).map_err(|_| format!("{name} {value} must not be negative"))
    };
    if let Some(shares) = service.cpu_shares.filter(|s| *s != 0) {
        limits.cpu_shares = Some(non_negative("cpu_shares", shares)?.clamp(2, 262_144));
    }
    let nano_cpus = limits.nano_cpus.is_some();
    if let Some(period) = service.cpu_period.filter(|p| *p != 0) {
        if nano_cpus {
            return Err("Conflicting options: Nano CPUs and CPU Period cannot both be set".into());
        }
        if !(1000..=1_000_000).contains(&period) {
            return Err("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)".into());
        }
        limits.cpu_period = Some(period as u64);
    }
    if let Some(quota) = service.cpu_quota.filter(|q| *q != 0) {
        if nano_cpus && quota > 0 {
            return Err("Conflicting options: Nano CPUs and CPU Quota cannot both be set".into());
        }
        if (1..1000).contains(&quota) {
            return Err("CPU cfs quota can not be less than 1ms (i.e. 1000)".into());
        }
        limits.cpu_quota = Some(quota);
    }
    if let Some(period) = service.cpu_rt_period.filter(|p| *p != 0) {
        limits.cpu_rt_period = Some(non_negative("cpu_rt_period", period)?);
    }
    if let Some(runtime) = service.cpu_rt_runtime.filter(|r| *r != 0) {
        limits.cpu_rt_runtime = Some(runtime);
    }
    if let Some(cpus) = service.cpuset.as_deref().filter(|c| !c.is_empty()) {
        limits.cpuset_cpus = Some(cpus.to_string());
    }
    let reservation = service
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.reservations.as_ref())
        .and_then(|r| r.memory)
        .or(service.mem_reservation);
    if let Some(reservation) = reservation.filter(|r| r.bytes() != 0) {
        let bytes = non_negative("mem_reservation", reservation.bytes())?;
        if limits.memory.is_some_and(|memory| memory < bytes) {
            return Err(
                "Minimum memory limit can not be less than memory reservation limit, see usage"
                    .into(),
            );
        }
        limits.memory_reservation = Some(bytes);
    }
    if let Some(swap) = service.memswap_limit.filter(|s| s.bytes() != 0) {
        let swap = swap.bytes();
        match limits.memory {
            None if swap > 0 => {
                return Err(
                    "You should always set the Memory limit when using Memoryswap limit, see usage"
                        .into(),
                );
            }
            Some(memory) if swap > 0 && (swap as u64) < memory => {
                return Err(
                    "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
                );
            }
            _ => {}
        }
        limits.memory_swap = Some(if swap < 0 { -1 } else { swap });
    }
    if let Some(swappiness) = service.mem_swappiness.filter(|s| *s != -1) {
        if !(0..=100).contains(&swappiness) {
            return Err(format!(
                "Invalid value: {swappiness}, valid memory swappiness range is 0-100"
            ));
        }
        limits.memory_swappiness = Some(swappiness as u64);
    }
    limits.oom_kill_disable = service.oom_kill_disable;
    if let Some(blkio) = &service.blkio_config {
        if let Some(weight) = blkio.weight.filter(|w| *w != 0) {
            if !(10..=1000).contains(&weight) {
                return Err("Range of blkio weight is from 10 to 1000".into());
            }
            limits.blkio_weight = Some(weight);
        }
        for device in &blkio.weight_device {
            limits
                .blkio_weight_devices
                .push(block_device(&device.path, u64::from(device.weight))?);
        }
        for (kind, entries) in [
            (ThrottleKind::ReadBps, &blkio.device_read_bps),
            (ThrottleKind::WriteBps, &blkio.device_write_bps),
            (ThrottleKind::ReadIops, &blkio.device_read_iops),
            (ThrottleKind::WriteIops, &blkio.device_write_iops),
        ] {
            for entry in entries {
                let rate = non_negative("blkio_config rate", entry.rate.bytes())?;
                limits.blkio_throttle.push(Throttle {
                    kind,
                    device: block_device(&entry.path, rate)?,
                });
            }
        }
    }
    spec.device_cgroup_rules = service.device_cgroup_rules.clone();
    if let Some(adj) = service.oom_score_adj {
        if !(-1000..=1000).contains(&adj) {
            return Err(format!(
                "Invalid value {adj}, range for oom score adj is [-1000, 1000]"
            ));
        }
        spec.oom_score_adj = Some(adj as i32);
    }
    if let Some(parent) = service.cgroup_parent.as_deref().filter(|p| !p.is_empty()) {
        spec.cgroup_parent = parent.trim_start_matches('/').to_string();
    }
    spec.devices.extend(gpu_devices(service)?);
    for option in &service.security_opt {
        if let Some(profile) = option
            .strip_prefix("apparmor=")
            .or_else(|| option.strip_prefix("apparmor:"))
            && profile != "unconfined"
            && apparmor_enabled()
        {
            return Err(format!(
                "security_opt {option:?}: AppArmor profiles are not supported by rcompose's runtime (this host enforces AppArmor, where dockerd would load the profile)"
            ));
        }
    }
    Ok(())
}

/// `gpus` and `deploy.resources.reservations.devices`: dockerd selects a device driver for each
/// request (only NVIDIA's exists); where no `/dev/nvidia*` device exists it fails, naming the
/// request, and so does this. Where they exist, GPU requests get every one of them (device nodes
/// and cgroup rules; the driver's libraries are the image's to bring).
fn gpu_devices(service: &Service) -> Result<Vec<runtime::container::Device>, String> {
    use crate::project::model::Gpus;
    let mut requests: Vec<(String, Vec<String>)> = Vec::new();
    match &service.gpus {
        None => {}
        Some(Gpus::All) => requests.push((String::new(), vec!["gpu".into()])),
        Some(Gpus::Devices(devices)) => {
            for device in devices {
                let mut capabilities = device.capabilities.clone();
                capabilities.push("gpu".into());
                requests.push((device.driver.clone().unwrap_or_default(), capabilities));
            }
        }
    }
    let reserved = service
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.reservations.as_ref())
        .map(|r| r.devices.as_slice())
        .unwrap_or_default();
    for device in reserved {
        requests.push((
            device.driver.clone().unwrap_or_default(),
            device.capabilities.clone(),
        ));
    }
    let Some((driver, capabilities)) = requests.first() else {
        return Ok(Vec::new());
    };
    let nvidia: Vec<std::path::PathBuf> = std::fs::read_dir("/dev")
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("nvidia"))
                .filter(|e| e.file_type().is_ok_and(|t| t.is_char_device()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    let usable = |driver: &str, capabilities: &[String]| {
        matches!(driver, "" | "nvidia") && capabilities.iter().any(|c| c == "gpu")
    };
    let refused = |driver: &str, capabilities: &[String], why: &str| {
        format!(
            "could not select device driver {driver:?} with capabilities: [[{}]] ({why})",
            capabilities.join(" ")
        )
    };
    if nvidia.is_empty() {
        return Err(refused(
            driver,
            capabilities,
            "no /dev/nvidia* device on this host",
        ));
    }
    if let Some((driver, capabilities)) = requests.iter().find(|(d, c)| !usable(d, c)) {
        return Err(refused(
            driver,
            capabilities,
            "only NVIDIA GPUs can be given",
        ));
    }
    Ok(nvidia
        .into_iter()
        .map(|path| runtime::container::Device {
            container_path: path.display().to_string(),
            host_path: path,
            permissions: "rwm".into(),
        })
        .collect())
}

/// Whether this host enforces AppArmor (dockerd applies profiles only then, and ignores
/// `apparmor=` otherwise).
fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|text| text.trim() == "Y")
}

/// Whether SELinux is enabled on this host (dockerd ignores `label=` otherwise).
fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// Warnings dockerd gives for settings Linux has no meaning for (Windows ones), which it discards.
pub fn platform_warnings(service: &Service) -> Vec<String> {
    let mut warnings = Vec::new();
    if service.cpu_percent.is_some_and(|p| p > 0) {
        warnings.push("linux does not support CPU percent. Percent discarded.".to_string());
    }
    if service.cpu_count.is_some_and(|c| c > 0) {
        warnings.push("linux does not support CPU count. Count discarded.".to_string());
    }
    if service.pull_refresh_after.is_some() {
        warnings.push(
            "pull_refresh_after is not supported: pull_policy alone decides when images are pulled"
                .to_string(),
        );
    }
    for option in &service.security_opt {
        let apparmor = option.starts_with("apparmor=") || option.starts_with("apparmor:");
        let label = option.starts_with("label=") || option.starts_with("label:");
        if apparmor && !apparmor_enabled() {
            warnings.push(format!(
                "security_opt {option:?} ignored: AppArmor is not enabled on this host (dockerd ignores it too)"
            ));
        }
        if label && !selinux_enabled() {
            warnings.push(format!(
                "security_opt {option:?} ignored: SELinux is not enabled on this host (dockerd ignores it too)"
            ));
        }
    }
    warnings
}

/// dockerd's check of a `platform:` against the image it would run: the OS and architecture (and
/// the variant when both give one) must match, docker's names for architectures (`x86_64` is
/// `amd64`, `aarch64` is `arm64`).
pub fn check_platform(
    wanted: &str,
    reference: &str,
    os: &str,
    architecture: &str,
    variant: Option<&str>,
) -> Result<(), String> {
    let normalize = |arch: &str| match arch {
        "x86_64" | "x86-64" => "amd64".to_string(),
        "aarch64" => "arm64".to_string(),
        "i386" | "i686" => "386".to_string(),
        other => other.to_string(),
    };
    let mut parts = wanted.split('/');
    let wanted_os = parts.next().unwrap_or_default();
    let wanted_arch = parts.next().map(normalize);
    let wanted_variant = parts.next();
    let mut actual = format!("{os}/{}", normalize(architecture));
    if let Some(variant) = variant.filter(|v| !v.is_empty()) {
        actual.push('/');
        actual.push_str(variant);
    }
    let matches = wanted_os == os
        && wanted_arch.is_none_or(|arch| arch == normalize(architecture))
        && match (wanted_variant, variant.filter(|v| !v.is_empty())) {
            (Some(wanted), Some(have)) => wanted == have,
            _ => true,
        };
    if matches {
        Ok(())
    } else {
        Err(format!(
            "image with reference {reference} was found but does not match the specified platform: wanted {wanted}, actual: {actual}"
        ))
    }
}

/// A block device's numbers with a value, from its path on the host.
fn block_device(path: &str, value: u64) -> Result<DeviceValue, String> {
    let metadata =
        std::fs::metadata(path).map_err(|e| format!("blkio_config: device {path}: {e}"))?;
    if !metadata.file_type().is_block_device() {
        return Err(format!("blkio_config: {path} is not a block device"));
    }
    let (major, minor) = runtime::sys::major_minor(metadata.rdev());
    Ok(DeviceValue {
        major,
        minor,
        value,
    })
}
