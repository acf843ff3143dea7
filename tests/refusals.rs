//! Settings that only another engine, runtime or host could honour: refused or warned about as
//! docker compose v2 with dockerd would on this host (Linux, overlay2 on ext4, no AppArmor, no
//! SELinux, no NVIDIA devices): `platform` not the image's, `runtime`, `storage_opt`, `isolation`,
//! `use_api_socket`, `security_opt` `apparmor=`/`label=`, `gpus`, `deploy.resources.reservations.devices`.
//! Issue #16 (part B). Nothing is made when `up` refuses.
//!
//! Root-gated (see `common::can_run`).

mod common;

use common::Fixture;

fn service(extra: &str) -> String {
    format!(
        "services:\n  app:\n    image: busybox\n    stop_signal: SIGKILL\n    command: [sleep, '1000']\n{extra}"
    )
}

#[test]
fn engine_only_settings_are_refused_at_their_line() {
    if !common::can_run() {
        return;
    }
    let fx = Fixture::new("refusals", &service(""));
    for (extra, expected, line) in [
        (
            "    runtime: nvidia\n",
            "Unknown runtime specified nvidia",
            "compose.yaml:6",
        ),
        (
            "    storage_opt: {size: 1G}\n",
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option",
            "compose.yaml:6",
        ),
        (
            "    isolation: process\n",
            "Invalid isolation: \"process\" - linux only supports 'default'",
            "compose.yaml:6",
        ),
        (
            "    use_api_socket: true\n",
            "there is no Docker API socket",
            "compose.yaml:6",
        ),
    ] {
        fx.write(&service(extra));
        let error = fx.fails(&["up", "-d"]);
        assert!(error.contains(expected), "{extra}: {error}");
        assert!(error.contains(line), "{extra}: {error}");
        assert!(fx.containers().is_empty(), "{extra}: something was made");
    }
    // What dockerd accepts here is accepted.
    fx.write(&service("    runtime: runc\n    isolation: default\n"));
    fx.ok(&["up", "-d"]);
    fx.ok(&["down", "-t", "0"]);
}

#[test]
fn gpus_fail_naming_what_is_missing() {
    if !common::can_run() {
        return;
    }
    let has_nvidia = std::fs::read_dir("/dev")
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("nvidia"));
    if has_nvidia {
        eprintln!("skipped: this host has NVIDIA devices");
        return;
    }
    let fx = Fixture::new("gpus", &service("    gpus: all\n"));
    let error = fx.fails(&["up", "-d"]);
    assert!(
        error.contains("could not select device driver \"\" with capabilities: [[gpu]] (no /dev/nvidia* device on this host)"),
        "{error}"
    );
    fx.write(&service(
        "    deploy:\n      resources:\n        reservations:\n          devices:\n            - driver: nvidia\n              count: 1\n              capabilities: [gpu]\n",
    ));
    let error = fx.fails(&["up", "-d"]);
    assert!(
        error.contains("could not select device driver \"nvidia\" with capabilities: [[gpu]]"),
        "{error}"
    );
}

#[test]
fn platform_must_be_the_images_and_security_labels_warn() {
    if !common::can_run() {
        return;
    }
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let other = if arch == "arm64" { "amd64" } else { "arm64" };
    let fx = Fixture::new(
        "platform",
        &service(&format!("    platform: linux/{other}\n")),
    );
    let error = fx.fails(&["up", "-d"]);
    assert!(
        error.contains(&format!(
            "image with reference busybox was found but does not match the specified platform: wanted linux/{other}, actual: linux/{arch}"
        )),
        "{error}"
    );
    fx.write(&service(&format!(
        "    platform: linux/{arch}\n    security_opt: [\"label=disable\", \"apparmor=docker-default\"]\n"
    )));
    let output = fx.command(&["up", "-d"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    if !std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        assert!(
            stderr.contains(
                "security_opt \"label=disable\" ignored: SELinux is not enabled on this host"
            ),
            "{stderr}"
        );
    }
    if std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_err() {
        assert!(
            stderr.contains(
                "security_opt \"apparmor=docker-default\" ignored: AppArmor is not enabled on this host"
            ),
            "{stderr}"
        );
    }
    fx.ok(&["down", "-t", "0"]);
}

#[test]
fn user_namespaces_credential_specs_and_models_are_refused() {
    if !common::can_run() {
        return;
    }
    let fx = Fixture::new("refusals2", &service("    userns_mode: host\n"));
    fx.ok(&["up", "-d"]);
    fx.ok(&["down", "-t", "0"]);
    for (extra, expected) in [
        (
            "    userns_mode: \"ns:/proc/1/ns/user\"\n",
            "invalid userns mode",
        ),
        (
            "    credential_spec: {file: spec.json}\n",
            "credential_spec is only supported on Windows",
        ),
    ] {
        fx.write(&service(extra));
        let error = fx.fails(&["up", "-d"]);
        assert!(error.contains(expected), "{extra}: {error}");
        assert!(error.contains("compose.yaml:6"), "{extra}: {error}");
    }
}
